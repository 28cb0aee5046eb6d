"""Reductions and softmax: what the generic op table does not cover.

Return types and their repr, argmax/argmin, error messages, integer dtypes, gradients at ties
and at zeros (first and second order) against PyTorch, warnings, numerical stability.
"""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as F

try:
    import torch
except ImportError:  # pragma: no cover - the torch comparisons skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _np(t) -> np.ndarray:
    # force=True: torch returns some zero gradients as ZeroTensors, which need it
    return np.array(t.detach().numpy(force=True), copy=True)


def _compare(fn, *arrays, grad=True, gradgrad=True, seed=0, atol=1e-10, rtol=1e-7):
    """Run fn(m, *tensors) on tapegrad and torch in float64 and compare the output, the
    gradient for a random cotangent, and the second derivative (grad of <grad, w>)."""
    rng = np.random.default_rng(seed)
    res = {}
    for m in (tapegrad, torch):
        xs = [m.tensor(a, dtype=m.float64, requires_grad=grad) for a in arrays]
        out = fn(m, *xs)
        res[m] = [_np(out)]
        if grad:
            v = rng.standard_normal(tuple(out.shape))
            gs = m.autograd.grad(out, xs, m.tensor(v), create_graph=gradgrad, allow_unused=True)
            res[m].append([None if g is None else _np(g) for g in gs])
            if gradgrad:
                ws = [np.random.default_rng(seed + 1 + k).standard_normal(a.shape)
                      for k, a in enumerate(arrays)]
                s = None
                for g, w in zip(gs, ws):
                    if g is not None and g.requires_grad:
                        t = (g * m.tensor(w)).sum()
                        s = t if s is None else s + t
                if s is None:
                    res[m].append([np.zeros(a.shape) for a in arrays])
                else:
                    ggs = m.autograd.grad(s, xs, allow_unused=True)
                    res[m].append([np.zeros(a.shape) if g is None else _np(g)
                                   for g, a in zip(ggs, arrays)])
            rng = np.random.default_rng(seed)  # same cotangent for the second library
    ours, theirs = res[tapegrad], res[torch]
    np.testing.assert_allclose(ours[0], theirs[0], atol=atol, rtol=rtol, err_msg="value")
    if grad:
        for k, (a, b) in enumerate(zip(ours[1], theirs[1])):
            assert (a is None) == (b is None), f"grad {k}: None-ness differs"
            if a is not None:
                np.testing.assert_allclose(a, b, atol=atol, rtol=rtol, err_msg=f"grad {k}")
        if gradgrad:
            for k, (a, b) in enumerate(zip(ours[2], theirs[2])):
                np.testing.assert_allclose(a, b, atol=atol, rtol=rtol, err_msg=f"gradgrad {k}")


def _raises(fn_t, fn_torch, exc=None):
    """Both raise the same exception type with the same message (torch. -> tapegrad.)."""
    with pytest.raises(Exception) as e_torch:
        fn_torch()
    typ = exc or type(e_torch.value)
    msg = str(e_torch.value).replace("torch.", "tapegrad.")
    with pytest.raises(typ) as e_ours:
        fn_t()
    assert str(e_ours.value) == msg


# --- return types ---------------------------------------------------------------------------
def test_max_dim_return_type_and_repr():
    x = tapegrad.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    r = tapegrad.max(x, 1)
    assert type(r) is tapegrad.return_types.max
    assert isinstance(r, tuple) and len(r) == 2
    assert type(r).__module__ == "tapegrad.return_types"
    assert r.values is r[0] and r.indices is r[1]
    v, i = r
    assert i.dtype is tapegrad.int64 and not i.requires_grad and i.grad_fn is None
    assert v.grad_fn.name() == "MaxBackward0"
    assert repr(r) == (
        "tapegrad.return_types.max(\n"
        "values=tensor([3., 2.], grad_fn=<MaxBackward0>),\n"
        "indices=tensor([1, 0]))"
    )
    assert str(r) == repr(r)
    rk = x.min(1, keepdim=True)
    assert repr(rk) == (
        "tapegrad.return_types.min(\n"
        "values=tensor([[1.],\n"
        "        [0.]], grad_fn=<MinBackward0>),\n"
        "indices=tensor([[0],\n"
        "        [2]]))"
    )
    assert r.__match_args__ == ("values", "indices")
    assert tapegrad.return_types.max.n_fields == 2


@needs_torch
def test_return_type_repr_matches_torch():
    a = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    for name, kw in [("max", {}), ("min", {"keepdim": True})]:
        ours = getattr(tapegrad.tensor(a, requires_grad=True), name)(1, **kw)
        theirs = getattr(torch.tensor(a, requires_grad=True), name)(1, **kw)
        assert repr(ours) == repr(theirs).replace("torch.", "tapegrad.")


def test_return_type_construct_and_pickle():
    rt = tapegrad.return_types.max
    r = rt((tapegrad.tensor(1.0), tapegrad.tensor(0)))
    assert r.values.item() == 1.0
    with pytest.raises(TypeError, match=r"takes a 2-sequence \(3-sequence given\)"):
        rt((1, 2, 3))
    r2 = pickle.loads(pickle.dumps(tapegrad.tensor([[1.0, 2.0]]).max(1)))
    assert type(r2) is rt and r2.indices.tolist() == [1]


# --- argmax / argmin ------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("fn", [
    lambda m, x: m.argmax(x),
    lambda m, x: x.argmin(),
    lambda m, x: x.argmax(1),
    lambda m, x: x.argmin(0, keepdim=True),
    lambda m, x: x.argmax(-1, True),
    lambda m, x: x.argmax(keepdim=True),
    lambda m, x: m.argmin(x, dim=None, keepdim=True),
])
@pytest.mark.parametrize("data", [
    [[1.0, 5.0, 5.0], [7.0, 7.0, 3.0]],  # ties: the first index wins
    [[1.0, math.nan, 2.0], [math.nan, 0.0, math.nan]],  # nan counts as the extreme
    [[3, 1, 3], [-2, 8, 8]],
])
def test_argmax_argmin_match_torch(fn, data):
    ours = fn(tapegrad, tapegrad.tensor(data))
    theirs = fn(torch, torch.tensor(data))
    assert ours.dtype is tapegrad.int64
    assert ours.tolist() == theirs.tolist()
    assert tuple(ours.shape) == tuple(theirs.shape)


def test_argmax_first_of_ties_and_no_graph():
    x = tapegrad.tensor([[2.0, 9.0, 9.0], [4.0, 4.0, 4.0]], requires_grad=True)
    assert x.argmax(1).tolist() == [1, 0]
    assert x.argmin(1).tolist() == [0, 0]
    assert x.argmax().item() == 1
    r = x.argmax(0)
    assert r.grad_fn is None and not r.requires_grad
    assert tapegrad.tensor(5.0).argmax(0).item() == 0


@needs_torch
@pytest.mark.parametrize("data", [
    [[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]],
    [[1.0, math.nan, 3.0], [math.nan, 2.0, math.nan]],
])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_dim_values_and_indices_match_torch(data, name):
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            r = getattr(tapegrad.tensor(data), name)(dim, keepdim)
            t = getattr(torch.tensor(data), name)(dim, keepdim)
            np.testing.assert_array_equal(_np(r.values), _np(t.values))
            assert r.indices.tolist() == t.indices.tolist()


# --- max(a, b) and argument forms -------------------------------------------------------
def test_max_with_tensor_is_maximum():
    a = tapegrad.tensor([1.0, 5.0], requires_grad=True)
    b = tapegrad.tensor([3.0, 2.0])
    assert tapegrad.max(a, b).tolist() == [3.0, 5.0]
    assert a.max(b).grad_fn.name() == "MaximumBackward0"
    assert tapegrad.min(a, other=b).tolist() == [1.0, 2.0]
    assert a.min(b).grad_fn.name() == "MinimumBackward0"
    r = a.max(dim=0)
    assert r.values.item() == 5.0 and r.indices.item() == 1


def test_max_integer_and_bool_inputs():
    xi = tapegrad.tensor([[1, 7], [4, 2]], dtype=tapegrad.int32)
    assert xi.max().dtype is tapegrad.int32 and xi.max().item() == 7
    r = xi.max(0)
    assert r.values.dtype is tapegrad.int32 and r.values.tolist() == [4, 7]
    assert r.indices.tolist() == [1, 0]
    assert xi.amin(1).tolist() == [1, 2]
    xb = tapegrad.tensor([True, False])
    assert xb.max().item() is True and xb.min(0).indices.item() == 1


# --- error messages -------------------------------------------------------------------------
_BAD_DIM = [
    lambda m, x: x.sum(2), lambda m, x: x.mean((0, 2)), lambda m, x: x.max(2),
    lambda m, x: x.min(-3), lambda m, x: x.amax(2), lambda m, x: x.amin((1, -3)),
    lambda m, x: x.argmax(2), lambda m, x: x.argmin(-3), lambda m, x: x.std(2),
    lambda m, x: x.var((0, 2)), lambda m, x: x.norm(dim=2), lambda m, x: x.logsumexp(2),
    lambda m, x: x.prod(2), lambda m, x: x.softmax(2), lambda m, x: x.log_softmax(-3),
    lambda m, x: m.var_mean(x, 2),
]


@needs_torch
@pytest.mark.parametrize("fn", _BAD_DIM)
def test_dim_out_of_range(fn):
    a = np.ones((2, 3))
    _raises(lambda: fn(tapegrad, tapegrad.tensor(a)), lambda: fn(torch, torch.tensor(a)))


def test_dim_out_of_range_message():
    with pytest.raises(IndexError) as e:
        tapegrad.ones(2, 3).max(2)
    assert str(e.value) == (
        "Dimension out of range (expected to be in range of [-2, 1], but got 2)"
    )


_ERRORS = [
    lambda m: m.tensor([]).max(),
    lambda m: m.tensor([]).min(),
    lambda m: m.zeros(0, 3).max(0),
    lambda m: m.zeros(0, 3).min(-2),
    lambda m: m.tensor([]).amax(),
    lambda m: m.zeros(0, 3).amax(0),
    lambda m: m.zeros(0, 3).amin(-2),
    lambda m: m.zeros(0, 3).amax((0, 1)),
    lambda m: m.tensor([]).argmax(),
    lambda m: m.zeros(0, 3).argmax(0),
    lambda m: m.tensor([True, False]).argmax(),
    lambda m: m.ones(2, 3).amax((0, 0)),
    lambda m: m.ones(2, 3).sum((1, -1)),
    lambda m: m.tensor([1, 2]).mean(),
    lambda m: m.tensor([1.0, 2.0]).mean(dtype=m.int64),
    lambda m: m.tensor([1, 2]).std(),
    lambda m: m.tensor([1, 2]).var(0),
    lambda m: m.tensor([1, 2]).norm(),
    lambda m: m.tensor([1.0, 2.0]).norm(2, dtype=m.int64),
    lambda m: m.tensor([]).norm(float("inf")),
    lambda m: m.tensor([]).norm(-1),
    lambda m: m.zeros(2, 0).norm(float("inf"), dim=1),
    lambda m: m.zeros(2, 0).norm(-2.5, dim=(0, 1)),
    lambda m: m.tensor([1.0, 2.0]).norm(p="nuc"),
    lambda m: m.ones(2, 2).norm(p="abc"),
    lambda m: m.ones(2, 2, 2).norm(p="fro", dim=(0, 1, 2)),
    lambda m: m.tensor([[1, 2]]).softmax(1),
    lambda m: m.tensor([[1, 2]]).softmax(0),
    lambda m: m.tensor([[1, 2]]).log_softmax(0),
    lambda m: m.tensor([[1, 2]]).log_softmax(-1),
    lambda m: m.ones(2, 2).max(1.5),
    lambda m: m.max(m.ones(2, 2), (1,)),
    lambda m: m.max(m.ones(2, 2), 1.5),
    lambda m: m.ones(2, 2).max((1,)),
    lambda m: m.ones(2, 2).min(keepdim=True),
    lambda m: m.min(m.ones(2, 2), keepdim=True),
    lambda m: m.ones(2, 2).max(m.ones(2, 2), True),
    lambda m: m.prod(m.ones(2, 2), (0, 1)),
    lambda m: m.ones(2, 2).var(unbiased=False, correction=1),
    lambda m: m.ones(2, 2).argmax(dim=(1,)),
    lambda m: m.ones(2, 2).prod((0, 1)),
    lambda m: m.tensor([1 + 1j]).max(0),
    lambda m: m.tensor([1 + 1j]).argmax(),
]


@needs_torch
@pytest.mark.parametrize("fn", _ERRORS)
def test_error_messages_match_torch(fn):
    _raises(lambda: fn(tapegrad), lambda: fn(torch))


def test_max_empty_message():
    with pytest.raises(RuntimeError) as e:
        tapegrad.tensor([]).max()
    assert str(e.value) == (
        "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
        "reduction dim with the 'dim' argument."
    )


def test_mean_of_int_message():
    with pytest.raises(RuntimeError) as e:
        tapegrad.tensor([1, 2]).mean()
    assert str(e.value) == (
        "mean(): could not infer output dtype. Input dtype must be either a floating point or "
        "complex dtype. Got: Long"
    )


# --- dtypes and values of forward results ------------------------------------------------
_INT_CASES = [
    (lambda m, x: x.sum(), "int32"),
    (lambda m, x: x.sum(0), "int8"),
    (lambda m, x: x.sum((0, 1), keepdim=True), "uint8"),
    (lambda m, x: x.sum(), "bool"),
    (lambda m, x: x.sum(dtype=m.float32), "int64"),
    (lambda m, x: x.sum(1, dtype=m.int16), "int64"),
    (lambda m, x: x.mean(dtype=m.float64), "int32"),
    (lambda m, x: x.mean(0, dtype=m.float32), "int64"),
    (lambda m, x: x.prod(), "int32"),
    (lambda m, x: x.prod(1), "bool"),
    (lambda m, x: x.prod(0, dtype=m.int8), "int64"),
    (lambda m, x: x.prod(dtype=m.float64), "int16"),
    (lambda m, x: x.max(), "int16"),
    (lambda m, x: x.amax(1), "int32"),
    (lambda m, x: x.amin(), "uint8"),
    (lambda m, x: x.logsumexp(1), "int64"),
    (lambda m, x: x.logsumexp(0), "bool"),
    (lambda m, x: x.softmax(0, dtype=m.float64), "int64"),
    (lambda m, x: x.norm(dtype=m.float64), "float32"),
    (lambda m, x: x.float().norm(), "int64"),
]


@needs_torch
@pytest.mark.parametrize("fn, dt", _INT_CASES)
def test_integer_inputs_dtype_and_values(fn, dt):
    a = np.array([[1, 2, 0], [3, 1, 2]]).astype(dt)
    ours = fn(tapegrad, tapegrad.tensor(a))
    theirs = fn(torch, torch.tensor(a))
    assert str(ours.dtype).replace("tapegrad.", "") == str(theirs.dtype).replace("torch.", "")
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-6)


def test_sum_of_int_is_int64():
    x = tapegrad.tensor([1, 2, 3], dtype=tapegrad.int32)
    assert x.sum().dtype is tapegrad.int64 and x.sum().item() == 6
    assert tapegrad.tensor([True, True]).sum().dtype is tapegrad.int64
    assert tapegrad.tensor([2, 3]).prod().dtype is tapegrad.int64


@needs_torch
@pytest.mark.parametrize("fn", [
    lambda m, x: x.sum(()), lambda m, x: x.mean(()), lambda m, x: x.sum(None, True),
    lambda m, x: x.mean(None, True), lambda m, x: x.sum([0, -1]), lambda m, x: x.std(()),
    lambda m, x: x.var(dim=[1]), lambda m, x: x.norm(dim=()), lambda m, x: x.amax(()),
    lambda m, x: x.logsumexp((0, 1)), lambda m, x: m.std_mean(x, (1,), keepdim=True)[0],
    lambda m, x: m.var_mean(x, True)[1],
])
def test_dim_forms_match_torch(fn):
    a = np.arange(6.0).reshape(2, 3) ** 1.5
    ours = fn(tapegrad, tapegrad.tensor(a, requires_grad=True))
    theirs = fn(torch, torch.tensor(a, requires_grad=True))
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-12)
    assert ours.grad_fn.name() == theirs.grad_fn.name()


@needs_torch
@pytest.mark.parametrize("fn", [
    lambda m: m.zeros(0, 3).sum(0), lambda m: m.zeros(0, 3).mean(0),
    lambda m: m.zeros(0, 3).mean(1), lambda m: m.tensor([]).mean(), lambda m: m.tensor([]).sum(),
    lambda m: m.tensor([]).prod(), lambda m: m.zeros(0, 3).prod(0), lambda m: m.tensor([]).norm(),
    lambda m: m.zeros(2, 0).norm(dim=1), lambda m: m.tensor([]).logsumexp(0),
    lambda m: m.zeros(0, 3).max(1).values, lambda m: m.zeros(0, 3).amax(1),
    lambda m: m.zeros(0, 3).softmax(1), lambda m: m.tensor(2.0).sum(0),
    lambda m: m.tensor(2.0).softmax(-1), lambda m: m.tensor(2.0).log_softmax(0),
    lambda m: m.tensor(2.0).logsumexp(0), lambda m: m.tensor(2.0).prod(0),
    lambda m: m.tensor(-2.0).norm(), lambda m: m.tensor(2.0).max(0).values,
    lambda m: m.tensor(2.0).amax(0, keepdim=True),
])
def test_empty_and_zero_dim_match_torch(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = fn(tapegrad), fn(torch)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype).replace("tapegrad.", "") == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(_np(ours), _np(theirs))


# --- gradients at ties, zeros and other special points, against torch ------------------------
_TIES = np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 0.0, 2.0], [5.0, 5.0, 5.0, 5.0]])


@needs_torch
@pytest.mark.parametrize("fn", [
    lambda m, x: x.max(), lambda m, x: x.min(), lambda m, x: x.amax(),
    lambda m, x: x.amin(1), lambda m, x: x.amax((0, 1), keepdim=True),
    lambda m, x: x.amax(0), lambda m, x: x.max(1).values, lambda m, x: x.min(0).values,
    lambda m, x: x.max(-1, keepdim=True).values, lambda m, x: x.norm(float("inf")),
    lambda m, x: x.norm(float("inf"), dim=1), lambda m, x: x.norm(float("-inf"), dim=0),
    lambda m, x: m.max(x, x * 1.0),
])
def test_tie_gradients_match_torch(fn):
    _compare(fn, _TIES)


def test_full_max_splits_evenly_among_ties():
    x = tapegrad.tensor([[1.0, 3.0, 3.0], [3.0, 2.0, 0.0]], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(_np(x.grad), [[0, 1 / 3, 1 / 3], [1 / 3, 0, 0]])
    x.grad = None
    x.max(1).values.sum().backward()  # max(dim): all to the first index
    np.testing.assert_allclose(_np(x.grad), [[0, 1, 0], [1, 0, 0]])
    x.grad = None
    x.amax(1).sum().backward()
    np.testing.assert_allclose(_np(x.grad), [[0, 0.5, 0.5], [1, 0, 0]])


@needs_torch
def test_max_with_nan_gradient_matches_torch():
    a = np.array([1.0, math.nan, 3.0, math.nan])
    _compare(lambda m, x: x.max(), a, gradgrad=False)
    _compare(lambda m, x: x.max(0).values, a, gradgrad=False)


@needs_torch
@pytest.mark.parametrize("p", [2, 1, float("inf"), float("-inf"), 3, 1.5, 0.5, -1, 0, "fro"])
def test_norm_of_zero_vector_and_vectors_with_zeros(p):
    _compare(lambda m, x: x.norm(p), np.zeros(3), gradgrad=False)
    _compare(lambda m, x: x.norm(p), np.array([1.0, -2.0, 0.0, 2.0]), gradgrad=False)
    _compare(lambda m, x: x.norm(p, dim=1), np.array([[0.0, 0.0], [3.0, -4.0]]),
             gradgrad=False)


def test_norm_subgradient_at_zero():
    x = tapegrad.zeros(3, requires_grad=True)
    x.norm().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    x = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    x.norm(0).backward()
    assert x.grad is None  # the 0-"norm" counts: PyTorch gives no gradient at all


@needs_torch
@pytest.mark.parametrize("p", [2, 3, 1.5, "fro"])
def test_norm_double_backward_matches_torch(p):
    _compare(lambda m, x: x.norm(p, dim=1), np.array([[1.0, -2.0, 0.5], [0.3, 0.2, -4.0]]))


_PROD_ZEROS = [
    np.array([2.0, 0.0, 3.0, 4.0]),
    np.array([2.0, 0.0, 0.0, 4.0]),
    np.array([0.0, 0.0, 0.0, 4.0]),
    np.array([0.0, 0.0, 0.0, 0.0]),
    np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [1.0, 2.0, -3.0], [0.0, 0.0, 0.0]]),
]


@needs_torch
@pytest.mark.parametrize("a", _PROD_ZEROS, ids=lambda a: str(a.tolist()))
def test_prod_with_zeros_first_and_second_order_match_torch(a):
    _compare(lambda m, x: x.prod(), a)
    _compare(lambda m, x: x.prod(-1), a)
    _compare(lambda m, x: x.prod(0, keepdim=True), a)


@pytest.mark.parametrize("a", _PROD_ZEROS[:3], ids=["1-zero", "2-zeros", "3-zeros"])
def test_prod_with_zeros_hessian_is_exact(a):
    """The full Hessian of prod, H[i, k] = prod of the elements other than i and k."""
    x = tapegrad.tensor(a, requires_grad=True)
    (g,) = tapegrad.autograd.grad(x.prod(), x, create_graph=True)
    n = a.size
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1.0
        (h,) = tapegrad.autograd.grad((g * tapegrad.tensor(e)).sum(), x, retain_graph=True)
        want = [0.0 if k == i else float(np.prod(np.delete(a, [i, k]))) for k in range(n)]
        np.testing.assert_allclose(_np(h), want)
    want_g = [float(np.prod(np.delete(a, i))) for i in range(n)]
    np.testing.assert_allclose(_np(g), want_g)


def test_prod_with_two_zeros_third_order_is_exact():
    """With at most two zeros per slice the rule is a polynomial identity: third order too."""
    a = np.array([2.0, 0.0, 0.0, 4.0])
    x = tapegrad.tensor(a, requires_grad=True)
    (g,) = tapegrad.autograd.grad(x.prod(), x, create_graph=True)
    (h1,) = tapegrad.autograd.grad((g * tapegrad.tensor([0.0, 1, 0, 0])).sum(), x,
                                   create_graph=True)
    (t,) = tapegrad.autograd.grad((h1 * tapegrad.tensor([0.0, 0, 1, 0])).sum(), x)
    # d^3 prod / dx1 dx2 dxk = prod of the others: x0 * x3 for k = 0, 3 (divided out otherwise)
    np.testing.assert_allclose(_np(t), [4.0, 0.0, 0.0, 2.0])


def test_prod_zero_gradient_numeric():
    a = np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [1.0, 2.0, -3.0]])
    v = np.random.default_rng(3).standard_normal(3)
    x = tapegrad.tensor(a, requires_grad=True)
    (g,) = tapegrad.autograd.grad(x.prod(1), x, tapegrad.tensor(v))
    num = np.zeros_like(a)
    for idx in np.ndindex(a.shape):  # central differences of <v, prod(a, 1)>
        d = np.zeros_like(a)
        d[idx] = 1e-6
        num[idx] = (np.sum(np.prod(a + d, 1) * v) - np.sum(np.prod(a - d, 1) * v)) / 2e-6
    np.testing.assert_allclose(_np(g), num, atol=1e-8)


@needs_torch
@pytest.mark.parametrize("fn, a", [
    (lambda m, x: x.std(), np.array([5.0, 5.0, 5.0])),
    (lambda m, x: x.std(1), np.array([[5.0, 5.0], [1.0, 2.0]])),
    (lambda m, x: m.std_mean(x, 1)[0], np.array([[5.0, 5.0], [1.0, 2.0]])),
    (lambda m, x: x.var(0, correction=3), np.array([1.0, 2.0, 3.0])),
    (lambda m, x: x.var(0, correction=3), np.array([1.0, 2.0])),
    (lambda m, x: x.var(correction=3), np.array([1.0, 2.0])),
    (lambda m, x: x.var(correction=3), np.array([1.0, 1.0, 1.0])),
    (lambda m, x: x.std(0), np.array([1.0])),
])
def test_std_var_special_gradients_match_torch(fn, a):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _compare(fn, a, gradgrad=False)


@needs_torch
@pytest.mark.parametrize("fn, a", [
    (lambda m, x: x.logsumexp(1), np.array([[-math.inf, -math.inf], [1.0, 2.0]])),
    (lambda m, x: x.logsumexp(1), np.array([[math.inf, 1.0], [1.0, 2.0]])),
    (lambda m, x: x.logsumexp(0), np.array([1000.0, 1000.0, -1000.0])),
    (lambda m, x: x.softmax(0), np.array([-math.inf, 1.0, 2.0])),
    (lambda m, x: x.log_softmax(0), np.array([-math.inf, 1.0, 2.0])),
    (lambda m, x: x.softmax(0), np.array([-math.inf, -math.inf])),
    (lambda m, x: x.softmax(0), np.array([math.inf, 1.0])),
    (lambda m, x: x.log_softmax(-1), np.array([[1000.0, 0.0], [-1000.0, 5.0]])),
])
def test_special_values_match_torch(fn, a):
    _compare(fn, a, gradgrad=False)


@needs_torch
@pytest.mark.parametrize("fn", [
    lambda m, x: x.softmax(1), lambda m, x: x.log_softmax(0), lambda m, x: x.logsumexp(1),
    lambda m, x: x.std(0), lambda m, x: x.var(1, keepdim=True), lambda m, x: x.prod(0),
    lambda m, x: m.var_mean(x, 0)[0] * m.var_mean(x, 0)[1],
    lambda m, x: x.norm(), lambda m, x: x.max(1).values ** 2, lambda m, x: x.amax(0) ** 2,
])
def test_double_backward_matches_torch(fn):
    a = np.array([[0.3, -1.2, 2.0], [1.1, 0.4, -0.7]])
    _compare(fn, a)


# --- softmax: stability, dtype, the functional forms ---------------------------------------
def test_softmax_is_stable_for_large_inputs():
    x = tapegrad.tensor([1000.0, 0.0, -1000.0])
    assert np.allclose(_np(x.softmax(0)), [1.0, 0.0, 0.0])
    assert np.allclose(_np(x.log_softmax(0)), [0.0, -1000.0, -2000.0])
    assert math.isclose(tapegrad.logsumexp(x, 0).item(), 1000.0)
    big = tapegrad.tensor([1e4, 1e4], dtype=tapegrad.float32)
    assert math.isclose(big.logsumexp(0).item(), 1e4 + math.log(2), rel_tol=1e-6)


def test_softmax_dtype_argument():
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    s = tapegrad.softmax(x, 0, dtype=tapegrad.float64)
    assert s.dtype is tapegrad.float64
    assert s.grad_fn.name() == "SoftmaxBackward0"
    assert s.grad_fn.next_functions[0][0].name() == "ToCopyBackward0"
    s.sum().backward()
    assert x.grad.dtype is tapegrad.float32
    assert x.softmax(0, tapegrad.float64).dtype is tapegrad.float64
    xi = tapegrad.tensor([1, 2])
    assert xi.log_softmax(0, dtype=tapegrad.float32).dtype is tapegrad.float32


@needs_torch
@pytest.mark.parametrize("ndim", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
def test_functional_implicit_dim_warns_like_torch(ndim, name):
    a = np.random.default_rng(ndim).standard_normal((2, 3, 4, 5)[:ndim])
    with warnings.catch_warnings(record=True) as w_ours:
        warnings.simplefilter("always")
        ours = getattr(F, name)(tapegrad.tensor(a))
    with warnings.catch_warnings(record=True) as w_theirs:
        warnings.simplefilter("always")
        theirs = getattr(torch.nn.functional, name)(torch.tensor(a))
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-12)
    assert [str(w.message) for w in w_ours] == [str(w.message) for w in w_theirs]
    assert [w.category for w in w_ours] == [UserWarning]
    assert w_ours[0].filename == __file__  # points at the caller, as PyTorch's does
    assert str(w_ours[0].message) == (
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument."
    )


def test_functional_with_dim_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.softmax(tapegrad.ones(2, 3), dim=1)
        F.log_softmax(tapegrad.ones(2, 3), 0)
        F.softmin(tapegrad.ones(2, 3), -1, dtype=tapegrad.float64)


def test_softmin_is_softmax_of_negation():
    x = tapegrad.tensor([[1.0, 2.0, 4.0]], requires_grad=True)
    np.testing.assert_allclose(_np(F.softmin(x, 1)), _np((-x).softmax(1)))
    assert F.softmin(x, 1).grad_fn.name() == "SoftmaxBackward0"


# --- var / std details --------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("fn", [
    lambda m: m.tensor([1.0]).std(), lambda m: m.tensor([]).var(),
    lambda m: m.tensor(3.0).var(), lambda m: m.zeros(2, 3).std(1, correction=3),
    lambda m: m.var_mean(m.tensor([2.0]))[0],
])
def test_dof_warning_matches_torch(fn):
    with warnings.catch_warnings(record=True) as w_ours:
        warnings.simplefilter("always")
        ours = fn(tapegrad)
    with warnings.catch_warnings(record=True) as w_theirs:
        warnings.simplefilter("always")
        theirs = fn(torch)
    np.testing.assert_allclose(_np(ours), _np(theirs))
    assert len(w_ours) == len(w_theirs) == 1
    theirs_msg = str(w_theirs[0].message).split(" (Triggered internally")[0]
    assert str(w_ours[0].message) == theirs_msg
    assert w_ours[0].filename == __file__


@needs_torch
@pytest.mark.parametrize("fn", [
    lambda m, x: x.var(1, True, True), lambda m, x: x.std(0, False),
    lambda m, x: x.var(False), lambda m, x: m.std(x, True),
    lambda m, x: x.var(dim=1, correction=0.5), lambda m, x: x.std(correction=2, keepdim=True),
    lambda m, x: m.var_mean(x, 1, False, True)[0], lambda m, x: m.std_mean(x, correction=0)[1],
])
def test_var_std_overloads_match_torch(fn):
    _compare(fn, np.array([[1.0, 2.5, -3.0, 0.5], [4.0, -1.0, 2.0, 2.0]]))


def test_var_mean_outputs_share_one_node():
    x = tapegrad.tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True)
    v, m = tapegrad.var_mean(x, 1)
    assert v.grad_fn is m.grad_fn and v.grad_fn.name() == "VarMeanBackward0"
    assert (v.output_nr, m.output_nr) == (0, 1)
    (v.sum() + 3 * m.sum()).backward()
    # d var / dx = 2 (x - mean) / (n - 1); d mean / dx = 1 / n
    np.testing.assert_allclose(_np(x.grad), [[-1 + 1.5, 1 + 1.5], [-2 + 1.5, 2 + 1.5]])


# --- the tour -------------------------------------------------------------------------------
def test_data_norm_for_the_tour():
    x = tapegrad.tensor([3.0, 4.0], requires_grad=True)
    y = x * 2
    n = y.data.norm()
    assert n.item() == 10.0 and n.grad_fn is None
    assert bool(n < 1000)


def test_tour_runs():
    r = subprocess.run([sys.executable, "-m", "tapegrad"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "y.data.norm()" in r.stdout  # the step that needs Tensor.norm ran

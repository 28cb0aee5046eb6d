"""Scans, sorting and order statistics: what the generic op table does not cover.

Which index is returned among equal values (against PyTorch on inputs full of ties), NaN
handling, empty dims, integer dtypes, return types and their repr, error messages, gradients
at ties and zeros (first and second order), the gather / scatter-add primitives, in-place and
out= forms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad

torch = pytest.importorskip("torch")

NAN = float("nan")


def _np(t) -> np.ndarray:
    return np.array(t.detach().numpy(force=True), copy=True)


def _conv(m, v):
    if isinstance(v, np.ndarray):
        return m.tensor(v, dtype=getattr(m, v.dtype.name))
    if isinstance(v, tuple):
        return tuple(_conv(m, x) for x in v)
    if isinstance(v, list):
        return [_conv(m, x) for x in v]
    return v


def _same_result(a, b, what="") -> None:
    """tapegrad result a equals torch result b: structure, field names, dtypes, values."""
    if isinstance(b, torch.Tensor):
        assert isinstance(a, tapegrad.Tensor), f"{what}: {type(a).__name__}"
        assert tuple(a.shape) == tuple(b.shape), f"{what}: shape {tuple(a.shape)} vs {b.shape}"
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], f"{what}: dtype"
        np.testing.assert_array_equal(_np(a), _np(b), err_msg=what)
    elif isinstance(b, tuple):
        assert isinstance(a, tuple) and len(a) == len(b), what
        names = getattr(type(b), "__match_args__", None) or getattr(b, "_fields", None)
        if names:
            assert type(a).__name__ == type(b).__name__, what
            for n in names:
                _same_result(getattr(a, n), getattr(b, n), f"{what}.{n}")
        else:
            for k, (x, y) in enumerate(zip(a, b)):
                _same_result(x, y, f"{what}[{k}]")
    else:
        assert a == b, what


def _both(fn, *arrays):
    return fn(tapegrad, *_conv(tapegrad, arrays)), fn(torch, *_conv(torch, arrays))


def _check(fn, *arrays, what=""):
    a, b = _both(fn, *arrays)
    _same_result(a, b, what)


def _raises_same(fn, *arrays):
    """fn raises the same exception type and message (torch. -> tapegrad.) in both."""
    with pytest.raises(Exception) as eb:
        fn(torch, *_conv(torch, arrays))
    with pytest.raises(Exception) as ea:
        fn(tapegrad, *_conv(tapegrad, arrays))
    assert type(ea.value) is type(eb.value), (ea.value, eb.value)
    assert str(ea.value) == str(eb.value).replace("torch.", "tapegrad.")


def _ties(rng, shape, levels=4, nan=0.0, dtype=np.float64):
    x = rng.integers(0, levels, size=shape).astype(dtype)
    if nan:
        x[rng.random(shape) < nan] = np.nan
    return x


# --- which index among ties, against torch --------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int16])
def test_sort_and_argsort_ties_match_torch(seed, dtype):
    rng = np.random.default_rng(seed)
    x = _ties(rng, (5, 40), levels=1 + seed, dtype=dtype)
    for dim in (0, 1, -1):
        for desc in (False, True):
            _check(lambda m, x: m.sort(x, dim, desc), x, what=f"sort {dim} {desc}")
            _check(lambda m, x: x.sort(dim=dim, descending=desc, stable=True), x)
            _check(lambda m, x: m.argsort(x, dim, desc), x)
    _check(lambda m, x: m.msort(x), x)


@pytest.mark.parametrize("seed", range(8))
def test_topk_ties_match_torch(seed):
    rng = np.random.default_rng(seed)
    x = _ties(rng, (4, 150), levels=2 + seed, nan=0.05 if seed % 2 else 0.0)
    for k in (1, 2, 3, 7, 40, 149, 150):  # k * 64 <= n: partial_sort; else nth_element
        for largest in (True, False):
            for srt in (True, False):
                _check(lambda m, x: x.topk(k, 1, largest, srt), x,
                       what=f"k={k} largest={largest} sorted={srt}")
    _check(lambda m, x: m.topk(x, 3, 0), x)


@pytest.mark.parametrize("seed", range(6))
def test_kthvalue_ties_match_torch(seed):
    rng = np.random.default_rng(seed)
    x = _ties(rng, (3, 60), levels=1 + seed, nan=0.1 if seed % 2 else 0.0)
    for k in (1, 2, 17, 30, 59, 60):
        _check(lambda m, x: x.kthvalue(k, 1), x, what=f"k={k}")
    _check(lambda m, x: m.kthvalue(x, 2, 0, True), x)


@pytest.mark.parametrize("seed", range(6))
def test_median_nanmedian_ties_and_nans_match_torch(seed):
    rng = np.random.default_rng(seed)
    x = _ties(rng, (6, 33), levels=1 + seed, nan=0.08 if seed % 2 else 0.0)
    x[0] = np.nan  # an all-NaN row
    for dim in (0, 1):
        _check(lambda m, x: x.median(dim), x)
        _check(lambda m, x: m.nanmedian(x, dim, True), x)
    _check(lambda m, x: x.median(), x)
    _check(lambda m, x: x.nanmedian(), x)
    _check(lambda m, x: x[1:].nanmedian(), x)


def test_nanmedian_all_nan_index_matches_torch():
    for n in range(1, 70):
        _check(lambda m, x: x.nanmedian(0), np.full(n, np.nan))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [5, 16, 17, 60])
def test_mode_ties_match_torch(seed, n):
    rng = np.random.default_rng(seed)
    x = _ties(rng, (4, n), levels=2 + seed, nan=0.1 if seed % 3 == 2 else 0.0)
    _check(lambda m, x: x.mode(), x)
    _check(lambda m, x: m.mode(x, 0, True), x)
    _check(lambda m, x: x.long().mode(1), x if seed % 3 != 2 else np.nan_to_num(x))


@pytest.mark.parametrize("seed", range(4))
def test_cummax_cummin_ties_and_nans_match_torch(seed):
    rng = np.random.default_rng(seed)
    x = _ties(rng, (3, 20), levels=3, nan=0.1 if seed % 2 else 0.0)
    for dim in (0, 1):
        _check(lambda m, x: x.cummax(dim), x)
        _check(lambda m, x: m.cummin(x, dim), x)
    _check(lambda m, x: x.bool().cummax(1), x)
    _check(lambda m, x: x.to(m.uint8).cummin(0), np.nan_to_num(x))


def test_sort_nan_order():
    x = np.array([1.0, NAN, -np.inf, 3.0, NAN, np.inf, 0.0])
    r = tapegrad.tensor(x).sort()
    assert r.indices.tolist() == [2, 6, 0, 3, 5, 1, 4]
    r = tapegrad.tensor(x).sort(descending=True)
    assert r.indices.tolist() == [1, 4, 5, 3, 0, 6, 2]
    _check(lambda m, x: x.sort(), x)
    _check(lambda m, x: x.sort(descending=True), x)
    _check(lambda m, x: x.topk(3), x)
    _check(lambda m, x: x.topk(3, largest=False), x)
    _check(lambda m, x: x.kthvalue(6), x)


def test_median_with_nan_returns_nan_and_first_nan_index():
    x = tapegrad.tensor([[1.0, NAN, 3.0, NAN], [4.0, 1.0, 2.0, 3.0]])
    r = x.median(1)
    assert math.isnan(r.values[0].item()) and r.indices.tolist() == [1, 2]
    assert math.isnan(x.median().item())
    assert x.nanmedian().item() == 2.0


# --- return types and repr -----------------------------------------------------------------
@pytest.mark.parametrize("fn", [
    lambda m, x: x.sort(1), lambda m, x: x.topk(2), lambda m, x: x.kthvalue(2, 0),
    lambda m, x: x.median(1), lambda m, x: x.nanmedian(0), lambda m, x: x.mode(1),
    lambda m, x: x.cummax(1), lambda m, x: m.cummin(x, 0), lambda m, x: m.aminmax(x),
    lambda m, x: m.aminmax(x, dim=1, keepdim=True),
])
def test_return_types_and_repr_match_torch(fn):
    x = np.array([[3.0, 1.0, 2.0], [0.5, 4.0, 0.5]])
    a = fn(tapegrad, tapegrad.tensor(x, requires_grad=True))
    b = fn(torch, torch.tensor(x, requires_grad=True))
    assert type(a).__module__ == "tapegrad.return_types"
    assert type(a).__name__ == type(b).__name__
    assert repr(a) == repr(b).replace("torch.", "tapegrad.")
    assert type(a)(tuple(a)) == a and isinstance(a, tuple)
    _same_result(a, b)


def test_return_type_fields():
    r = tapegrad.tensor([3.0, 1.0]).sort()
    values, indices = r
    assert values is r.values and indices is r.indices and r[1] is r.indices
    r = tapegrad.aminmax(tapegrad.tensor([3.0, 1.0]))
    assert (r.min.item(), r.max.item()) == (1.0, 3.0)


# --- empty dims and 0-d tensors ------------------------------------------------------------
@pytest.mark.parametrize("fn", [
    lambda m, x: x.cumsum(0), lambda m, x: x.cumsum(1), lambda m, x: x.cumprod(1),
    lambda m, x: x.cummax(0), lambda m, x: x.cummin(1), lambda m, x: x.logcumsumexp(0),
    lambda m, x: x.sort(0), lambda m, x: x.sort(1), lambda m, x: x.argsort(1),
    lambda m, x: x.topk(0, 1), lambda m, x: x.topk(0), lambda m, x: x.diff(dim=0),
    lambda m, x: x.diff(), lambda m, x: x.kthvalue(1, 1), lambda m, x: x.median(1),
    lambda m, x: x.nanmedian(1), lambda m, x: x.mode(1), lambda m, x: x.any(),
    lambda m, x: x.all(0), lambda m, x: x.count_nonzero(1), lambda m, x: x.nansum(0),
    lambda m, x: x.nanmean(), lambda m, x: x.nanmean(1), lambda m, x: x.median(),
    lambda m, x: x.nanmedian(), lambda m, x: m.aminmax(x, dim=1),
])
def test_empty_dims_match_torch(fn):
    _check(fn, np.zeros((0, 3)))


@pytest.mark.parametrize("fn", [
    lambda m, x: x.cumsum(0), lambda m, x: x.cumprod(-1), lambda m, x: x.cummax(0),
    lambda m, x: x.logcumsumexp(0), lambda m, x: x.sort(), lambda m, x: x.argsort(),
    lambda m, x: x.msort(), lambda m, x: x.topk(1), lambda m, x: x.topk(0),
    lambda m, x: x.kthvalue(1), lambda m, x: x.median(), lambda m, x: x.median(0, True),
    lambda m, x: x.nanmedian(0), lambda m, x: x.mode(), lambda m, x: x.any(0),
    lambda m, x: x.all(), lambda m, x: x.count_nonzero(0), lambda m, x: x.nansum(0),
    lambda m, x: m.aminmax(x), lambda m, x: m.aminmax(x, dim=0, keepdim=True),
    lambda m, x: x.quantile(0.3), lambda m, x: x.quantile(0.3, 0, True),
])
def test_zero_dim_inputs_match_torch(fn):
    _check(fn, np.array(2.5))


@pytest.mark.parametrize("fn", [
    lambda m, x: x.kthvalue(1), lambda m, x: x.median(0), lambda m, x: x.mode(),
    lambda m, x: x.nanmedian(-1), lambda m, x: m.aminmax(x), lambda m, x: m.aminmax(x, dim=0),
    lambda m, x: x.quantile(0.5), lambda m, x: x.topk(1), lambda m, x: x.kthvalue(2, 0),
])
def test_empty_reduction_errors_match_torch(fn):
    _raises_same(fn, np.zeros((0,)))


def test_diff_of_empty_dim_returns_input():
    x = tapegrad.zeros(0, requires_grad=True)
    assert x.diff(n=3) is x


# --- integer and bool dtypes ----------------------------------------------------------------
@pytest.mark.parametrize("dt", ["int32", "int16", "uint8", "bool", "int64"])
@pytest.mark.parametrize("fn", [
    lambda m, x: x.cumsum(0), lambda m, x: x.cumprod(1), lambda m, x: m.cumsum(x, 1, dtype=m.int32),
    lambda m, x: x.cumsum(0, dtype=m.float64), lambda m, x: x.cummax(1), lambda m, x: x.cummin(0),
    lambda m, x: x.sort(1), lambda m, x: x.argsort(0, True), lambda m, x: x.mode(1),
    lambda m, x: x.any(1), lambda m, x: x.all(), lambda m, x: x.count_nonzero(),
    lambda m, x: x.nansum(), lambda m, x: x.nansum(1, dtype=m.float32), lambda m, x: x.diff(),
    lambda m, x: m.aminmax(x, dim=0), lambda m, x: x.diff(prepend=x[:, :1]),
])
def test_integer_and_bool_inputs_match_torch(fn, dt):
    x = np.array([[3, 0, 2, 2], [1, 5, 0, 1], [1, 1, 1, 4]]).astype(dt)
    _check(fn, x)


@pytest.mark.parametrize("dt", ["int32", "int64", "uint8"])
@pytest.mark.parametrize("fn", [
    lambda m, x: x.topk(2), lambda m, x: x.kthvalue(3, 0), lambda m, x: x.median(),
    lambda m, x: x.median(1), lambda m, x: x.nanmedian(0),
])
def test_integer_selection_matches_torch(fn, dt):
    x = np.array([[3, 0, 2, 2], [1, 5, 0, 1], [1, 1, 1, 4]]).astype(dt)
    _check(fn, x)


def test_float_scans_accumulate_in_double():
    x = np.full(100000, 0.1, dtype=np.float32)
    _check(lambda m, x: x.cumsum(0), x)
    _check(lambda m, x: (x + 1).cumprod(0)[:200], x)


# --- error messages -------------------------------------------------------------------------
_X = np.arange(12.0).reshape(3, 4)


@pytest.mark.parametrize("fn", [
    lambda m, x: x.cumsum(2), lambda m, x: x.cumsum(1.0), lambda m, x: m.cumsum(x, 1.0),
    lambda m, x: x.cumprod(True), lambda m, x: x.cummax(1.5), lambda m, x: m.cummax(x, 1.5),
    lambda m, x: x.long().logcumsumexp(0), lambda m, x: x.bool().logcumsumexp(0),
    lambda m, x: x.cfloat().cummax(0), lambda m, x: x[0, 0].diff(),
    lambda m, x: x.diff(n=-1), lambda m, x: x.diff(1.0), lambda m, x: x.diff(1, 1.0),
    lambda m, x: x.diff(prepend=1.0), lambda m, x: x.diff(prepend=x[0]),
    lambda m, x: x.diff(append=m.zeros(3, 1, 1)), lambda m, x: x.diff(dim=0, append=x[:, :1]),
    lambda m, x: x.sort(2), lambda m, x: x.sort(1.5), lambda m, x: m.sort(x, 1.5),
    lambda m, x: x.sort(descending=1), lambda m, x: x.cfloat().sort(),
    lambda m, x: x.cfloat().argsort(), lambda m, x: x.argsort(1.0),
    lambda m, x: x.topk(5), lambda m, x: x.topk(-1), lambda m, x: x.topk(1.5),
    lambda m, x: m.topk(x, 1, 1.0), lambda m, x: x.bool().topk(1),
    lambda m, x: x.cfloat().topk(1), lambda m, x: x.kthvalue(0), lambda m, x: x.kthvalue(5),
    lambda m, x: x.kthvalue(1.0), lambda m, x: x.bool().kthvalue(1),
    lambda m, x: x.cfloat().kthvalue(1), lambda m, x: x.median(keepdim=True),
    lambda m, x: x.nanmedian(keepdim=True), lambda m, x: x.median(1.0),
    lambda m, x: x.bool().median(), lambda m, x: x.bool().median(0),
    lambda m, x: x.cfloat().nanmedian(), lambda m, x: x.mode(1.0),
    lambda m, x: x.cfloat().mode(), lambda m, x: x.median(3), lambda m, x: x.count_nonzero(2),
    lambda m, x: x.count_nonzero((0, 0)), lambda m, x: x.any(3),
    lambda m, x: x.cfloat().nansum(), lambda m, x: x.long().nanmean(),
    lambda m, x: x.long().nanmean(dtype=m.float32), lambda m, x: m.aminmax(x, 0),
    lambda m, x: x.aminmax(0), lambda m, x: m.aminmax(x.cfloat()),
    lambda m, x: x.quantile(1.5), lambda m, x: x.quantile(-1), lambda m, x: x.quantile(NAN),
    lambda m, x: x.nanquantile(1.2345678), lambda m, x: x.quantile(m.tensor([0.5, 1.5])),
    lambda m, x: x.quantile(m.tensor([[0.5]])), lambda m, x: x.long().quantile(0.5),
    lambda m, x: x.quantile(m.tensor([0.5], dtype=m.float64)),
    lambda m, x: x.quantile(0.5, interpolation="foo"), lambda m, x: x.quantile(0.5, 2),
    lambda m, x: m.quantile(x, [0.5]), lambda m, x: m.quantile(x, 0.5, 1.0),
])
def test_error_messages_match_torch(fn):
    _raises_same(fn, _X.astype(np.float32))


# --- gradients --------------------------------------------------------------------------------
def _grads(fn, x, *, create_graph=False, seed=0):
    """(output, gradient) of <v, fn(x)> in both libraries, for a shared random v."""
    res = {}
    for m in (tapegrad, torch):
        t = m.tensor(x, dtype=m.float64, requires_grad=True)
        out = fn(m, t)
        if isinstance(out, tuple):
            out = out[0]
        v = np.random.default_rng(seed).standard_normal(tuple(out.shape))
        (g,) = m.autograd.grad(out, t, m.tensor(v), create_graph=create_graph)
        res[m] = (out, g, t)
    return res


@pytest.mark.parametrize("fn", [
    lambda m, x: x.median(), lambda m, x: x.nanmedian(), lambda m, x: x.median(1),
    lambda m, x: x.nanmedian(1), lambda m, x: x.kthvalue(3, 1), lambda m, x: x.mode(1),
    lambda m, x: x.topk(3), lambda m, x: x.sort(1), lambda m, x: x.cummax(1),
    lambda m, x: x.cummin(0), lambda m, x: m.aminmax(x).max, lambda m, x: m.aminmax(x).min,
    lambda m, x: m.aminmax(x, dim=1).max * 2 + m.aminmax(x, dim=1).min,
    lambda m, x: x.quantile(0.5, 1), lambda m, x: x.quantile(0.3, interpolation="midpoint"),
    lambda m, x: x.nanquantile(m.tensor([0.2, 0.7], dtype=m.float64), 1),
    lambda m, x: x.nansum(1), lambda m, x: x.nanmean(0), lambda m, x: x.msort(),
])
@pytest.mark.parametrize("data", [
    [[2.0, 1.0, 2.0, 3.0, 2.0], [1.0, 1.0, 5.0, 5.0, 0.0]],
    [[2.0, NAN, 2.0, 3.0, NAN], [NAN, NAN, NAN, NAN, NAN]],
])
def test_tie_and_nan_gradients_match_torch(fn, data):
    r = _grads(fn, np.array(data))
    np.testing.assert_allclose(_np(r[tapegrad][0]), _np(r[torch][0]), equal_nan=True)
    np.testing.assert_allclose(_np(r[tapegrad][1]), _np(r[torch][1]), equal_nan=True,
                               rtol=1e-12, atol=1e-12)


def test_full_median_splits_gradient_among_ties():
    x = tapegrad.tensor([3.0, 1.0, 2.0, 2.0, 5.0, 2.0], requires_grad=True)
    x.median().backward()
    np.testing.assert_allclose(_np(x.grad), [0, 0, 1 / 3, 1 / 3, 0, 1 / 3])


def test_cummax_gradient_accumulates_on_repeated_index():
    x = tapegrad.tensor([1.0, 3.0, 2.0, 0.0], requires_grad=True)
    x.cummax(0).values.sum().backward()
    assert x.grad.tolist() == [1.0, 3.0, 0.0, 0.0]


@pytest.mark.parametrize("data", [
    [0.0, 1.3, -0.7, 0.9], [1.3, 0.0, -0.7, 0.9], [1.3, -0.7, 0.9, 0.0],
    [0.0, 1.3, 0.0, 0.9], [1.1, 0.0, 0.0, 0.0], [0.5, 1.5, -2.0, 0.7],
])
def test_cumprod_with_zeros_first_and_second_order_match_torch(data):
    x = np.array([data, data[::-1]])
    r = _grads(lambda m, x: x.cumprod(1), x, create_graph=True)
    np.testing.assert_allclose(_np(r[tapegrad][1]), _np(r[torch][1]), rtol=1e-12, atol=1e-12)
    w = np.random.default_rng(1).standard_normal(x.shape)
    hh = {}
    for m, (_, g, t) in r.items():
        (hh[m],) = m.autograd.grad((g * m.tensor(w)).sum(), t)
    np.testing.assert_allclose(_np(hh[tapegrad]), _np(hh[torch]), rtol=1e-12, atol=1e-12)


def test_cumprod_zero_gradient_is_numeric():
    x = np.array([[1.2, 0.0, -0.8, 0.6, 0.0], [0.0, 0.0, 1.1, 0.9, 2.0]])
    v = np.random.default_rng(3).standard_normal(x.shape)
    t = tapegrad.tensor(x, requires_grad=True)
    (g,) = tapegrad.autograd.grad(t.cumprod(1), t, tapegrad.tensor(v))

    num = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[i] = 1e-6
        num[i] = ((np.cumprod(x + e, axis=1) - np.cumprod(x - e, axis=1)) * v).sum() / 2e-6
    np.testing.assert_allclose(_np(g), num, atol=1e-8)


def test_cumprod_third_order_is_exact_with_zeros():
    x0 = np.array([0.7, 0.0, 1.3, -0.4])
    for m in (tapegrad, torch):
        x = m.tensor(x0, requires_grad=True)
        (g,) = m.autograd.grad(x.cumprod(0).sum(), x, create_graph=True)
        (h,) = m.autograd.grad(g.sum(), x, create_graph=True)
        (t,) = m.autograd.grad(h.sum(), x)
        if m is tapegrad:
            ours = _np(t)
        else:
            np.testing.assert_allclose(ours, _np(t), atol=1e-12)


def test_logcumsumexp_gradient_with_zero_and_infinite_values():
    x = np.array([[-np.inf, 0.5, 1.0, -np.inf], [3.0, -1.0, 700.0, 2.0]])
    r = _grads(lambda m, x: x.logcumsumexp(1), x)
    np.testing.assert_allclose(_np(r[tapegrad][1]), _np(r[torch][1]), rtol=1e-10, atol=1e-12)
    for m in (tapegrad, torch):
        t = m.tensor([[0.1, 0.2, 0.3]], dtype=m.float64, requires_grad=True)
        (g,) = m.autograd.grad(t.logcumsumexp(1), t, m.tensor([[0.0, 1.0, 0.0]],
                                                                dtype=m.float64))
        if m is tapegrad:
            ours = _np(g)
        else:
            np.testing.assert_allclose(ours, _np(g), rtol=1e-12)


def test_quantile_gradient_reaches_q():
    x = np.array([0.3, -1.2, 2.5, 0.9, 1.7])
    res = {}
    for m in (tapegrad, torch):
        q = m.tensor([0.3, 0.65], dtype=m.float64, requires_grad=True)
        t = m.tensor(x, requires_grad=True)
        out = t.quantile(q)
        res[m] = [_np(g) for g in m.autograd.grad(out.sum(), (t, q))]
    for a, b in zip(res[tapegrad], res[torch]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("mode", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_modes_and_nans_match_torch(mode):
    y = np.array([[0.0, 1.0, 2.0, 3.0, 4.0], [4.0, 5.0, NAN, 6.0, 1.0],
                  [NAN, NAN, NAN, NAN, NAN]])
    q = np.array([0.0, 0.1, 0.125, 0.375, 0.5, 0.625, 0.9, 1.0])
    for fn in ("quantile", "nanquantile"):
        _check(lambda m, y, q: getattr(m, fn)(y, q, 1, interpolation=mode), y, q)
        _check(lambda m, y, q: getattr(y, fn)(q, interpolation=mode, keepdim=True), y, q)
        _check(lambda m, y: getattr(y, fn)(0.4, 0, True, interpolation=mode), y)
    _check(lambda m, y: y[:2, :4].quantile(0.37, interpolation=mode), y)


def test_nansum_nanmean_values_match_torch():
    x = np.array([[1.0, NAN], [NAN, NAN], [2.0, 3.5]])
    for fn in (lambda m, x: x.nansum(), lambda m, x: x.nansum(1), lambda m, x: x.nanmean(1),
               lambda m, x: m.nanmean(x, 0, True), lambda m, x: x.nansum(dtype=m.float64),
               lambda m, x: x.nansum((0, 1), True), lambda m, x: m.nanmean(x, keepdim=True),
               lambda m, x: x.nanmean(dtype=m.float64)):
        _check(fn, x.astype(np.float32))


def test_any_all_forms_match_torch():
    x = np.array([[0.0, 1.0, NAN], [0.0, 0.0, 0.0]], dtype=np.float32)
    for fn in (lambda m, x: x.any(()), lambda m, x: x.all(keepdim=True),
               lambda m, x: m.any(x, (0, 1), True), lambda m, x: x.to(m.uint8).any(1),
               lambda m, x: x.to(m.uint8).all(), lambda m, x: x.cfloat().any(0),
               lambda m, x: x.count_nonzero(()), lambda m, x: x.count_nonzero([1])):
        _check(fn, x)
    t = tapegrad.tensor(x, requires_grad=True)
    assert not t.any().requires_grad and t.all(1).grad_fn is None


# --- gather / scatter-add primitives ---------------------------------------------------------
def test_gather_scatter_pair_nodes_and_higher_order():
    from tapegrad.ops._gather import gather_along, scatter_add_along

    x = tapegrad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    idx = np.array([[2, 2], [0, 1]])
    g = gather_along(x, 1, idx)
    assert g.grad_fn.name() == "GatherBackward0" and g.tolist() == [[3.0, 3.0], [4.0, 5.0]]
    (gx,) = tapegrad.autograd.grad((g * g).sum(), x, create_graph=True)
    assert gx.tolist() == [[0.0, 0.0, 12.0], [8.0, 10.0, 0.0]]
    assert gx.grad_fn is not None
    (hx,) = tapegrad.autograd.grad(gx.sum(), x)
    assert hx.tolist() == [[0.0, 0.0, 4.0], [2.0, 2.0, 0.0]]
    src = tapegrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    s = scatter_add_along(x, 1, idx, src)
    assert s.grad_fn.name() == "ScatterAddBackward0"
    assert s.tolist() == [[1.0, 2.0, 6.0], [7.0, 9.0, 6.0]]
    gx, gs = tapegrad.autograd.grad(s, (x, src), tapegrad.tensor([[1.0, 2.0, 3.0],
                                                                   [4.0, 5.0, 6.0]]))
    assert gx.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert gs.tolist() == [[3.0, 3.0], [4.0, 5.0]]


def test_sort_double_backward_matches_torch():
    x = np.array([[0.3, -1.2, 2.5], [0.9, 1.7, -0.4]])
    r = _grads(lambda m, x: x.sort(1).values ** 3, x, create_graph=True)
    hh = {}
    for m, (_, g, t) in r.items():
        (hh[m],) = m.autograd.grad((g * g).sum(), t)
    np.testing.assert_allclose(_np(hh[tapegrad]), _np(hh[torch]), rtol=1e-12)


# --- grad_fn, no_grad, in-place, out= --------------------------------------------------------
def test_grad_fn_names_and_outputs():
    x = tapegrad.tensor([[3.0, 1.0], [2.0, 4.0]], requires_grad=True)
    r = tapegrad.aminmax(x, dim=0)
    assert r.min.grad_fn is r.max.grad_fn and r.max.output_nr == 1
    assert r.min.grad_fn.name() == "AminmaxBackward0"
    assert x.sort(stable=True).values.grad_fn.name() == "SortBackward1"
    assert x.sort().indices.grad_fn is None and not x.sort().indices.requires_grad
    assert x.diff(n=0).grad_fn.name() == "CopyBackwards"
    with tapegrad.no_grad():
        assert x.cumsum(0).grad_fn is None and x.topk(1).values.grad_fn is None


def test_inplace_cumsum_cumprod():
    for m in (tapegrad, torch):
        a = m.tensor([[1.0, 2.0], [3.0, 4.0]])
        b = a.cumsum_(1)
        assert b is a
        a.cumprod_(0)
        if m is tapegrad:
            ours = _np(a)
        else:
            np.testing.assert_array_equal(ours, _np(a))
    leaf = tapegrad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        leaf.cumsum_(0)


def test_out_arguments():
    x = tapegrad.tensor([[3.0, 1.0, 2.0]])
    o = tapegrad.empty(0)
    assert tapegrad.cumsum(x, 1, out=o) is o and o.tolist() == [[3.0, 4.0, 6.0]]
    v, i = tapegrad.empty(0), tapegrad.empty(0, dtype=tapegrad.int64)
    r = tapegrad.sort(x, 1, out=(v, i))
    assert r.values is v and r.indices is i and i.tolist() == [[1, 2, 0]]
    r = tapegrad.topk(x, 2, out=(v, i))
    assert v.tolist() == [[3.0, 2.0]]
    r = tapegrad.median(x, 1, out=(v, i))
    assert v.tolist() == [2.0] and i.tolist() == [2]


def test_method_and_function_messages_count_positions_as_torch():
    _raises_same(lambda m, x: x.cumsum(1.0), _X)
    _raises_same(lambda m, x: m.cumsum(x, 1.0), _X)
    _raises_same(lambda m, x: x.kthvalue(2, 1.0), _X)
    _raises_same(lambda m, x: m.kthvalue(x, 2, 1.0), _X)


def test_replays_run_only_where_ties_matter(monkeypatch):
    from tapegrad.ops import _stdalgo

    def boom(*args, **kwargs):
        raise AssertionError("replayed a slice without ties")

    for name in ("sort", "nth_element", "partial_sort", "quick_select"):
        monkeypatch.setattr(_stdalgo, name, boom)
    x = np.random.default_rng(0).permutation(20_000).reshape(20, 1000) * 1.0
    _check(lambda m, x: x.topk(5), x)
    _check(lambda m, x: x.topk(15, 0, False), x)
    _check(lambda m, x: x.topk(300, 1, False), x)
    _check(lambda m, x: x.sort(1), x)
    _check(lambda m, x: x.kthvalue(17), x)
    _check(lambda m, x: x.median(0), x)


def test_large_tied_sorts_keep_a_valid_order_beyond_the_replay_budget():
    x = np.random.default_rng(0).integers(0, 3, size=(100, 1000))
    r = tapegrad.tensor(x).sort(1)
    assert (np.diff(r.values.numpy(), axis=1) >= 0).all()
    np.testing.assert_array_equal(np.take_along_axis(x, r.indices.numpy(), 1), r.values.numpy())
    # 1-D integer sorts of 32768 values or more are radix sorts in PyTorch: stable
    y = np.random.default_rng(1).integers(0, 3, size=40000)
    _check(lambda m, y: y.sort(), y)

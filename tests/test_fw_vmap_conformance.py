"""vmap against torch.func.vmap where a program's outcome once differed: in-place ops writing
a batch into an unbatched tensor (each of PyTorch's three kinds of error, and the warning of
its per-sample fallback first), `out=` under vmap, batched tensors given for numbers (sizes,
fill values, k, alpha), empty batches of flattening rules, masked_select, normal(mean, std)
broadcasting (draws compared with torch's), physical broadcast errors, index_put /
index_fill / complex without the per-sample loop, the BatchedTensor repr, and a
torch.Size returned from the vmapped function.

PyTorch names ops in vmap's messages by their aten names (`aten::pow_.Tensor`); tapegrad by
the Python name (`Tensor.pow_`): `_norm` maps the first to the second before comparing.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import tapegrad
from _helpers import numeric_vjp, same

torch = pytest.importorskip("torch")

PERF = "There is a performance drop because we have not yet implemented the batching rule for"
RNG = np.random.default_rng(11)
X = RNG.random((3, 4)) + 0.5
X3 = RNG.random((3, 2, 4))


def _norm(msg: str) -> str:
    msg = re.sub(r"aten::(\w+)\.out;", r"tapegrad.\1.out;", msg)
    msg = re.sub(r"aten::(\w+?)(\.\w+)?(?=[.;( ])", r"Tensor.\1", msg)
    return re.sub(r"(?<!\w)torch\.", "tapegrad.", msg)


def _outcome(m, fn):
    """(exception type, message, [warning messages]) of fn(m), or ('ok', result, warnings)."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            res = fn(m)
            out = ("ok", res)
        except Exception as e:  # noqa: BLE001 - compared below
            out = (type(e).__name__, str(e).split(" (Triggered internally")[0])
    msgs = [str(x.message).split(" (Triggered internally")[0] for x in w
            if "jit.script" not in str(x.message)]
    return out + (msgs,)


def same_outcome(fn, warns: bool = True, **tol):
    """fn raises the same error with the same warnings in both (aten names mapped), or gives
    the same result and warnings (warns=False: the warnings are not compared)."""
    ours = _outcome(tapegrad, fn)
    theirs = _outcome(torch, fn)
    assert ours[0] == theirs[0], (ours, theirs)
    if warns:
        assert ours[2] == [_norm(x) for x in theirs[2]], (ours[2], theirs[2])
    if ours[0] == "ok":
        same(ours[1], theirs[1], **tol)
    else:
        assert ours[1] == _norm(theirs[1]), (ours[1], theirs[1])
    return ours


def _t(m, a):
    return m.tensor(a, dtype=m.float32)


def vm(m, f, *arrays, **kw):
    return m.func.vmap(lambda *a: f(m, *a), **kw)(*[_t(m, a) for a in arrays])


# --- in-place ops writing a batch into an unbatched `self` ---------------------------------------
INPLACE = {
    # PyTorch's rule runs them on the physical values: the broadcast fails with those shapes
    "add_": lambda m, b, a: b.add_(a), "add_alpha": lambda m, b, a: b.add_(a, alpha=2),
    "iadd": lambda m, b, a: b.__iadd__(a), "atan2_": lambda m, b, a: b.atan2_(a),
    "copysign_": lambda m, b, a: b.copysign_(a),
    # its rules say "inplace arithmetic"
    "mul_": lambda m, b, a: b.mul_(a), "sub_": lambda m, b, a: b.sub_(a),
    "div_": lambda m, b, a: b.div_(a, rounding_mode="floor"), "copy_": lambda m, b, a: b.copy_(a),
    "masked_fill_": lambda m, b, a: b.masked_fill_(a > 1, 1.0),
    "clamp_min_": lambda m, b, a: b.clamp_min_(a), "itruediv": lambda m, b, a: b.__itruediv__(a),
    # its per-sample fallback warns, then names the op
    "pow_": lambda m, b, a: b.pow_(a), "ipow": lambda m, b, a: b.__ipow__(a),
    "lerp_": lambda m, b, a: b.lerp_(a, 0.3), "clamp_": lambda m, b, a: b.clamp_(a),
    "addcmul_": lambda m, b, a: b.addcmul_(a, a), "fmod_": lambda m, b, a: b.fmod_(a),
    "eq_": lambda m, b, a: b.eq_(a), "subtract_": lambda m, b, a: b.subtract_(a),
    "masked_fill_value": lambda m, b, a: b.masked_fill_(b > 0, a[0]),
    "scatter_": lambda m, b, a: b.scatter_(0, m.tensor([0, 1, 2, 3]), a),
    "index_copy_": lambda m, b, a: b.index_copy_(0, m.tensor([0, 1, 2, 3]), a),
    # rules with their own word
    "fill_": lambda m, b, a: b.fill_(a[0]),
    "index_add_": lambda m, b, a: b.index_add_(0, m.tensor([0, 1, 2, 3]), a),
    "index_fill_": lambda m, b, a: b.index_fill_(0, m.tensor([0]), a[0]),
    "index_put_": lambda m, b, a: b.index_put_((m.tensor([0, 1]),), a[:2]),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
@pytest.mark.parametrize("shape", [(4,), (1, 4)])
def test_inplace_into_unbatched_self(name, shape):
    f = INPLACE[name]
    same_outcome(lambda m: m.func.vmap(lambda b, a: f(m, b, a), in_dims=(None, 0))(
        m.ones(shape) * 1.5, _t(m, X)))


@pytest.mark.parametrize("shape", [(3, 4), (5, 4), (2, 1), ()])
def test_add_into_unbatched_self_reports_the_physical_broadcast(shape):
    same_outcome(lambda m: vm(m, lambda m, a, b: b.add_(a), X, np.ones(shape),
                              in_dims=(0, None)))
    same_outcome(lambda m: vm(m, lambda m, a, b: b.atan2_(a), X3,
                              np.ones(shape), in_dims=(0, None)))


def _setitem(b, idx, v):
    b[idx] = v
    return b


@pytest.mark.parametrize("case", ["0d", "row", "same", "2d", "int2d", "adv", "mask", "bidx"])
def test_setitem_into_unbatched_tensor_names_the_op_as_torch(case):
    progs = {
        "0d": lambda m, a: _setitem(m.ones(4), slice(None), a[0]),  # fill_
        "row": lambda m, a: _setitem(m.ones(4), slice(None), a[:1]),  # copy_
        "same": lambda m, a: _setitem(m.ones(4), slice(None), a),
        "2d": lambda m, a: _setitem(m.ones(2, 4), slice(None), a),
        "int2d": lambda m, a: _setitem(m.ones(2, 4), 0, a),
        "adv": lambda m, a: _setitem(m.ones(4), m.tensor([0, 2]), a[:2]),  # index_put_
        "mask": lambda m, a: _setitem(m.ones(4), m.tensor([True, False, True, False]), a[:2]),
        "bidx": lambda m, a: _setitem(m.ones(4), a.argmax(), 2.0),
    }
    same_outcome(lambda m: vm(m, progs[case], X))


def test_inplace_into_batched_self_still_works():
    def prog(m, a, b):
        c = a.clone()
        c.add_(b).mul_(b).pow_(2).lerp_(b, 0.5).clamp_(b, b + 3)
        c.index_fill_(0, m.tensor([1]), b[0])
        c.index_put_((m.tensor([0, 0]),), b[:2], accumulate=True)
        return c

    # (PyTorch's per-sample loop warns for lerp_ and clamp_; tapegrad has rules)
    same_outcome(lambda m: vm(m, prog, X, X[::-1].copy()), warns=False)


def test_out_argument_under_vmap_is_an_error():
    for f in (lambda m, a: m.add(a, 1, out=a), lambda m, a: m.sin(a, out=a),
              lambda m, a: m.exp(m.ones(4), out=a)):
        same_outcome(lambda m: vm(m, f, X))


# --- batched tensors given for numbers -----------------------------------------------------------
NUMBERS = {
    "arange": lambda m, a: m.arange(a.sum()), "arange_step": lambda m, a: m.arange(0, a[0], 0.5),
    "full": lambda m, a: m.full((2,), a.sum()), "zeros": lambda m, a: m.zeros(a.argmax()),
    "ones_tuple": lambda m, a: m.ones((2, a.argmax())),
    "linspace_steps": lambda m, a: m.linspace(0, 1, a.argmax()),
    "full_like": lambda m, a: m.full_like(a, a[0]), "new_full": lambda m, a: a.new_full((2,), a[0]),
    "tensor_list": lambda m, a: m.tensor([a[0], a[1]]),
    "as_tensor_list": lambda m, a: m.as_tensor([a[0]]),
    "topk_k": lambda m, a: a.topk(a.argmax()),
    "kthvalue_k": lambda m, a: a.kthvalue(a.argmax() + 1),
    "add_alpha": lambda m, a: a.add(a, alpha=a[0]),
    "leaky_relu": lambda m, a: m.nn.functional.leaky_relu(a, a[0]),
    "threshold": lambda m, a: m.nn.functional.threshold(a, a[0], 0.0),
    "softplus": lambda m, a: m.nn.functional.softplus(a, beta=a[0]),
    "hardtanh": lambda m, a: m.nn.functional.hardtanh(a, a[0], a[1]),
    "tensor_of_batched": lambda m, a: m.tensor(a),
    # tensors where PyTorch takes tensors: these work
    "linspace_ends": lambda m, a: m.linspace(a[0], a[1], 3),
    "as_tensor": lambda m, a: m.as_tensor(a) * 2, "clamp_t": lambda m, a: a.clamp(min=a[0]),
    "lerp_t": lambda m, a: m.lerp(a, a * 2, a[0]), "pow_t": lambda m, a: a ** a[0],
}


@pytest.mark.parametrize("name", sorted(NUMBERS))
def test_batched_tensor_given_for_a_number(name):
    same_outcome(lambda m: vm(m, NUMBERS[name], X), atol=1e-6)


# --- empty batches, masked_select, reductions ----------------------------------------------------
EMPTY = {
    "max": lambda m, a: a.max(), "min": lambda m, a: a.min(), "argmax": lambda m, a: a.argmax(),
    "median": lambda m, a: a.median(), "prod": lambda m, a: a.prod(), "sum": lambda m, a: a.sum(),
    "roll": lambda m, a: a.roll(1), "repeat_interleave": lambda m, a: a.repeat_interleave(2),
    "norm": lambda m, a: a.norm(), "max_dim": lambda m, a: a.max(0).values,
    "sort": lambda m, a: a.sort().values, "mean_dim": lambda m, a: a.mean(0),
}


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_empty_batch(name):
    same_outcome(lambda m: vm(m, EMPTY[name], np.zeros((0, 3))))


def test_full_reduction_of_empty_samples_reports_the_flattened_batch():
    same_outcome(lambda m: vm(m, lambda m, a: a.max(), np.zeros((2, 0))))
    same_outcome(lambda m: vm(m, lambda m, a: a.min(), np.zeros((2, 3, 0))))


def test_masked_select():
    mask = RNG.random((4, 2)) > 0.5
    xs = RNG.random((3, 4, 2))
    for f in (lambda m, a: a.masked_select(m.tensor(mask)),
              lambda m, a: m.masked_select(a, m.tensor(mask[:, :1])),
              lambda m, a: m.masked_select(a[0, 0], m.tensor(mask)),
              lambda m, a: m.masked_select(a, a > 0.5),
              lambda m, a: m.masked_select(m.tensor(mask).float(), a > 0.5)):
        out = same_outcome(lambda m: vm(m, f, xs))
    assert out[0] == "RuntimeError"
    with warnings.catch_warnings():  # a rule, not the per-sample loop
        warnings.simplefilter("error")
        vm(tapegrad, lambda m, a: a.masked_select(m.tensor(mask)), xs)


def test_physical_broadcast_errors_as_torch_reports_them():
    same_outcome(lambda m: vm(m, lambda m, a: a + m.ones(5), X))
    same_outcome(lambda m: vm(m, lambda m, a, b: a * b, X3, X))
    same_outcome(lambda m: vm(m, lambda m, a, b: m.where(a > 0, a, b), X, X3[:, 0, :3]))
    # a sample-level error that is not a broadcast: the per-sample message
    same_outcome(lambda m: vm(m, lambda m, a: a.long().bitwise_and(1.5), X))


SHAPE_ERRORS = {
    "view": lambda m, a: a.view(3, 2), "view_infer": lambda m, a: a.view(-1, 3),
    "reshape": lambda m, a: a.reshape(5), "expand": lambda m, a: a.expand(3, 3),
    "cat": lambda m, a: m.cat([a, a[None]]), "stack": lambda m, a: m.stack([a, a[:2]]),
    "permute_range": lambda m, a: a.permute(1, 0), "permute_count": lambda m, a: a[None].permute(0),
    "matvec": lambda m, a: a @ m.ones(5), "dot": lambda m, a: m.dot(a, m.ones(5)),
    "matmat": lambda m, a: a @ m.ones(5, 2), "mm": lambda m, a: m.mm(a, a),
    "bmm": lambda m, a: m.bmm(a, a), "mv": lambda m, a: m.mv(a, a),
    "index_select": lambda m, a: a.index_select(0, m.tensor([5])),
    "index_select_neg": lambda m, a: a[None].index_select(1, m.tensor([1, -1])),
    "gather": lambda m, a: a.gather(0, m.tensor([9])),
    "noncontiguous_view": lambda m, a: a[None].expand(2, 4).t().view(-1),
}


@pytest.mark.parametrize("name", sorted(SHAPE_ERRORS))
def test_shape_errors_report_what_torch_reports(name):
    out = same_outcome(lambda m: vm(m, SHAPE_ERRORS[name], X))
    assert out[0] != "ok"


def test_batched_vector_times_unbatched_operand():
    for f in (lambda m, a: a @ m.ones(4), lambda m, a: m.dot(a, a * 0 + 2), lambda m, a: m.mv(
            m.ones(2, 4), a), lambda m, a: a @ m.ones(4, 2), lambda m, a: m.inner(a, m.ones(4))):
        same_outcome(lambda m: vm(m, f, X))


def test_views_of_moved_batch_dims():
    x3 = X3.transpose(1, 0, 2).copy()
    for f, dims in ((lambda m, a: a.view(-1), 1), (lambda m, a: a.view(-1), 2),
                    (lambda m, a: a.reshape(-1), 2), (lambda m, a: a.view(2, 4), 1),
                    (lambda m, a: a[:, 0].view(-1), 0), (lambda m, a: m.cat([a, a], 1), 2)):
        same_outcome(lambda m: vm(m, f, x3, in_dims=dims))


# --- random ops ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", range(6))
def test_normal_with_tensor_arguments_broadcasts_and_draws_as_torch(case):
    def prog(m):
        m.manual_seed(3)
        x = m.rand(3, 4)
        mean, std, dims = [(x, x[:, 0], (0, 0)), (x, m.tensor(0.5), (0, None)),
                           (x[:, 0], x, (0, 0)), (m.zeros(4), x[:, :1], (None, 0)),
                           (x, 2.0, (0, None)), (1.0, x, (None, 0))][case]
        return m.func.vmap(lambda a, s: m.normal(a, s), in_dims=dims,
                           randomness="different")(mean, std)

    same(prog(tapegrad), prog(torch))


@pytest.mark.parametrize("case", ["bernoulli_", "uniform_", "normal_", "random_"])
def test_random_fills_with_batched_arguments(case):
    progs = {
        "bernoulli_": lambda m, a: m.ones(4).bernoulli_(a),  # into an unbatched tensor
        "uniform_": lambda m, a: a.clone().uniform_(a[0], 1.0),  # numbers
        "normal_": lambda m, a: m.ones(4).normal_(a[0]),
        "random_": lambda m, a: a.clone().random_(0, a.argmax()),
    }
    for mode in ("error", "different"):
        same_outcome(lambda m: vm(m, progs[case], X * 0.5, randomness=mode))


# --- rules where the per-sample loop ran before --------------------------------------------------
def test_index_put_index_fill_complex_have_rules():
    v = RNG.random(3)
    progs = [
        lambda m, a, s: m.ones(4).index_put((m.tensor([0, 2]),), a[:2]),
        lambda m, a, s: a.index_put((m.tensor([0, 2]),), m.tensor(1.0)),
        lambda m, a, s: a.index_put((m.tensor([0, 0]),), a[:2] * 2, accumulate=True),
        lambda m, a, s: a.clone().index_put_((m.tensor([0, 2]),), a[:2] * 2),
        lambda m, a, s: a.index_put((a.argmax().reshape(1),), m.tensor(5.0)),
        lambda m, a, s: m.zeros(2, 4).index_put((m.tensor([1, 0]), m.tensor([3, 3])), a[:2],
                                                accumulate=True),
        lambda m, a, s: a.index_fill(0, m.tensor([1, 0]), s),
        lambda m, a, s: a.clone().index_fill_(0, m.tensor([3]), s),
        lambda m, a, s: (m.complex(a, s), m.complex(a, m.ones(4))),
    ]
    for prog in progs:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            vm(tapegrad, prog, X, v)
        assert not [x for x in w if PERF in str(x.message)], prog
        same_outcome(lambda m: vm(m, prog, X, v))


def test_index_put_and_index_fill_gradients_numerically():
    xs, vs, fills = X.astype(np.float64), X[:, :2] * 0.5, X[:, 0] * 2.0
    cot = RNG.standard_normal((3, 4))

    def run(arrays, grad: bool):
        x, v, s = (tapegrad.tensor(a, dtype=tapegrad.float64, requires_grad=grad)
                   for a in arrays)
        out = tapegrad.func.vmap(lambda a, b, c: a.index_put(
            (tapegrad.tensor([1, 1]),), b, accumulate=True).index_fill(
            0, tapegrad.tensor([3]), c).sin())(x, v, s)
        return out, (x, v, s)

    out, leaves = run((xs, vs, fills), True)
    grads = tapegrad.autograd.grad(out, leaves, tapegrad.tensor(cot))
    num = numeric_vjp(lambda arrs: [run(arrs, False)[0].numpy()], [xs, vs, fills], [0, 1, 2],
                      [cot], 1e-6)
    for g, n in zip(grads, num):
        np.testing.assert_allclose(g.numpy(), n, atol=1e-7, rtol=1e-6)


def test_index_put_gradients_against_torch():
    def prog(m):
        x = _t(m, X).requires_grad_()
        vals = _t(m, X[:, :2] * 0.5).requires_grad_()
        out = m.func.vmap(lambda a, b: a.index_put((m.tensor([1, 1]),), b, accumulate=True)
                          .sin())(x, vals)
        return m.autograd.grad(out.sum(), (x, vals))

    same(prog(tapegrad), prog(torch))


# --- what the user sees of a batched tensor ------------------------------------------------------
def test_batched_tensor_repr_numbers_levels_by_depth():
    def prog(m):
        seen = []
        x = m.arange(6.0).reshape(2, 3)
        m.func.vmap(m.func.vmap(lambda a: seen.append(repr(a)) or a))(x)
        m.func.vmap(lambda a: seen.append(repr(a)) or a)(x)
        return "\n".join(seen)

    assert prog(tapegrad) == prog(torch).replace("torch.", "tapegrad.")


def test_returning_a_size():
    same_outcome(lambda m: vm(m, lambda m, a: a.shape, X))
    same_outcome(lambda m: vm(m, lambda m, a: (a, a.shape), X, out_dims=(0, None)))
    same_outcome(lambda m: vm(m, lambda m, a: a.shape, X, out_dims=None))

"""Generic tests over every row of the op table (tests/op_db).

For each row, sample and dtype:
- test_forward: values, dtype and shape of every output equal torch's (`fn(torch, ...)`);
- test_grad_fn: requires_grad and grad_fn name of every output equal torch's (and row.node);
- test_grad: gradients for a random cotangent equal torch's; their dtype and shape are the input's;
- test_gradcheck: float64 central differences agree with tapegrad's own gradients (no torch);
- test_gradgrad: second order (grad of <grad, w> under create_graph=True) against torch and
  against central differences of the first-order gradient (rows with twice=True);
- test_nondifferentiable: rows with differentiable=False record no graph;
- test_no_grad: under no_grad no output requires grad, and the values are the same.
Tests that need torch skip without it; the gradient checks need only NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import (
    SampleInputs,
    assert_same_values,
    dtype_name,
    flatten,
    is_tensor,
    numeric_vjp,
    seed_of,
    to_numpy,
)
from op_db import OpInfo, gather

try:
    import torch
except ImportError:  # pragma: no cover - the torch comparisons skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

ROWS = gather()


# --- parametrisation -------------------------------------------------------------------
class Case:
    """One (row, sample, dtype) combination; `error` is set when the row's samples failed."""

    __slots__ = ("row", "sample", "dtype", "index", "error")

    def __init__(self, row, sample, dtype, index, error=None) -> None:
        self.row, self.sample, self.dtype, self.index, self.error = (
            row, sample, dtype, index, error)

    @property
    def floating(self) -> bool:
        return self.dtype.startswith(("float", "complex"))

    @property
    def representative(self) -> bool:
        """Whether this is the case the dtype-independent (float64) checks run on."""
        first = next((d for d in self.row.dtypes if d.startswith("float")), None)
        return self.dtype == first

    def inputs(self, dtype: str | None = None) -> SampleInputs:
        if self.error is not None:
            raise self.error
        d = dtype or self.dtype
        if not hasattr(np, d):
            pytest.skip(f"NumPy has no {d}")
        return SampleInputs(self.sample, d)

    def rng(self, *extra) -> np.random.Generator:
        return np.random.default_rng(
            seed_of(self.row.name, self.index, self.dtype, *extra))


def _cases() -> list[Case]:
    cases = []
    for row in ROWS:
        try:
            samples = row.samples(np.random.default_rng(seed_of(row.name)))
        except Exception as e:  # noqa: BLE001 - reported by every test of the row
            cases.append(Case(row, None, row.dtypes[0] if row.dtypes else "float64", 0, e))
            continue
        for i, s in enumerate(samples):
            for dt in row.dtypes:
                cases.append(Case(row, s, dt, i))
    return cases


CASES = _cases()


def _id(c: Case, dtype: str | None = None) -> str:
    if c.error is not None:
        return f"{c.row.name}-samples_error"
    desc = (c.sample.desc or f"s{c.index}").replace(" ", "")
    return f"{c.row.name}-{desc}-{dtype or c.dtype}"


def _params(pred, dtype: str | None = None) -> list:
    return [pytest.param(c, id=_id(c, dtype)) for c in CASES if pred(c)]


FORWARD = _params(lambda c: True)
GRAD_FN = _params(lambda c: c.row.differentiable and c.floating)
GRAD = _params(lambda c: c.row.differentiable and c.floating and not c.dtype.startswith("complex"))
# The float64 checks run once per sample, whatever dtypes the row lists (on its first floating one).
GRADCHECK = _params(lambda c: c.row.differentiable and c.representative, "float64")
GRADGRAD = _params(lambda c: c.row.differentiable and c.row.twice and c.representative,
                   "float64")
NONDIFF = _params(lambda c: not c.row.differentiable and c.floating)
NO_GRAD = _params(lambda c: c.row.differentiable and c.floating)


# --- running a row ---------------------------------------------------------------------
def _run(m, row: OpInfo, inp: SampleInputs, requires_grad: bool = True, arrays=None):
    """(flat outputs, raw output, grad leaves) of row.fn on module m."""
    args, kwargs, leaves = inp.build(m, requires_grad, arrays)
    out = row.fn(m, *args, **kwargs)
    return flatten(out), out, leaves


def _diff_outputs(flat) -> list[int]:
    """Positions of the outputs that require grad (the ones a cotangent is given for)."""
    return [i for i, o in enumerate(flat) if is_tensor(o) and o.requires_grad]


def _cotangents(rng, flat, idx) -> list[np.ndarray]:
    vs = []
    for i in idx:
        o = flat[i]
        vs.append(rng.standard_normal(tuple(o.shape)).astype(dtype_name(o.dtype)))
    return vs


def _tensors(m, arrays) -> list:
    return [m.tensor(a, dtype=getattr(m, a.dtype.name)) for a in arrays]


def _materialize(grads, leaves) -> list[np.ndarray]:
    return [np.zeros(tuple(t.shape)) if g is None else to_numpy(g) for g, t in zip(grads, leaves)]


def _node_name(fn) -> str | None:
    """A grad_fn's name without its namespace (torch::autograd::CopyBackwards -> CopyBackwards)."""
    return None if fn is None else fn.name().rsplit("::", 1)[-1]


def _compare_output(a, b, row: OpInfo, what: str) -> None:
    """Compare one tapegrad output leaf a with torch's b."""
    if isinstance(b, torch.Tensor):
        assert isinstance(a, tapegrad.Tensor), f"{what}: got {type(a).__name__}, not a Tensor"
        assert tuple(a.shape) == tuple(b.shape), f"{what}: shape {tuple(a.shape)} != " \
                                                 f"{tuple(b.shape)}"
        assert dtype_name(a.dtype) == dtype_name(b.dtype), f"{what}: dtype"
        assert_same_values(to_numpy(a), to_numpy(b), row.atol, row.rtol, what)
    elif isinstance(b, float):
        assert isinstance(a, float), f"{what}: {type(a).__name__} != float"
        assert_same_values(a, b, row.atol, row.rtol, what)
    else:
        assert type(a) is type(b) and a == b, f"{what}: {a!r} != {b!r}"


# --- meta checks on the table -------------------------------------------------------------
def test_row_names_unique():
    names = [r.name for r in ROWS]
    dup = sorted({n for n in names if names.count(n) > 1})
    assert not dup, f"duplicate op_db row names: {dup}"


def test_rows_well_formed():
    for r in ROWS:
        assert isinstance(r, OpInfo), r
        assert r.differentiable or not r.node, f"{r.name}: a node name on a non-differentiable row"
        assert r.twice or not r.differentiable or r.twice_reason, \
            f"{r.name}: twice=False needs a twice_reason"


def test_numeric_vjp_helper():
    # v^T J of f(x, y) = (x * y, sin(x)) by central differences equals the exact one.
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    v1, v2 = rng.standard_normal(3), rng.standard_normal(3)

    def f(arrays):
        a, b = arrays
        return [a * b, np.sin(a)]

    gx, gy = numeric_vjp(f, [x, y], [0, 1], [v1, v2], 1e-6)
    np.testing.assert_allclose(gx, v1 * y + v2 * np.cos(x), rtol=1e-8)
    np.testing.assert_allclose(gy, v1 * x, rtol=1e-8)
    # an output entry that does not move contributes zero, even when infinite
    g, = numeric_vjp(lambda a: [np.array([np.inf, a[0][0]])], [np.array([1.0])], [0],
                     [np.array([1.0, 2.0])], 1e-6)
    np.testing.assert_allclose(g, [2.0])


def test_sample_inputs_helper():
    from op_db import Sample

    s = Sample((np.ones((2, 2)), [np.zeros(3), np.arange(3)], 1.5, np.float64(2.0)),
               {"w": np.ones(2), "k": 3}, grad=(1, "w"))
    inp = SampleInputs(s, "float32")
    args, kwargs, leaves = inp.build(tapegrad)
    assert args[0].dtype is tapegrad.float32 and not args[0].requires_grad
    assert isinstance(args[1], list) and args[1][0].requires_grad
    assert args[1][1].dtype is tapegrad.int64 and not args[1][1].requires_grad
    assert args[2] == 1.5 and args[3].shape == () and args[3].dtype is tapegrad.float32
    assert kwargs["k"] == 3 and kwargs["w"].requires_grad
    assert [tuple(t.shape) for t in leaves] == [(3,), (2,)]
    every = SampleInputs(Sample((np.ones(2), np.arange(2))), "float64")
    assert every.grad_pos == [0]


# --- the generic tests -------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("case", FORWARD)
def test_forward(case: Case):
    inp = case.inputs()
    row = case.row
    flat_b, out_b, _ = _run(torch, row, inp, requires_grad=False)
    flat_a, out_a, _ = _run(tapegrad, row, inp, requires_grad=False)
    names = getattr(type(out_b), "__match_args__", None)
    if isinstance(out_b, tuple) and names:
        for n in names:
            assert hasattr(out_a, n), f"output has no field {n!r} (torch: {names})"
    assert len(flat_a) == len(flat_b), f"{len(flat_a)} outputs, torch has {len(flat_b)}"
    for k, (a, b) in enumerate(zip(flat_a, flat_b)):
        _compare_output(a, b, row, f"output {k}")


@pytest.mark.parametrize("case", GRAD_FN)
def test_grad_fn(case: Case):
    inp = case.inputs()
    row = case.row
    flat_a, _, leaves = _run(tapegrad, row, inp)
    check_names = not row.nondeterministic_grad_fn
    if torch is not None:
        flat_b, _, _ = _run(torch, row, inp)
        assert len(flat_a) == len(flat_b)
        for k, (a, b) in enumerate(zip(flat_a, flat_b)):
            if not isinstance(b, torch.Tensor):
                continue
            assert a.requires_grad == b.requires_grad, \
                f"output {k}: requires_grad {a.requires_grad}, torch {b.requires_grad}"
            if check_names:
                na = _node_name(a.grad_fn)
                nb = _node_name(b.grad_fn)
                assert na == nb, f"output {k}: grad_fn {na}, torch {nb}"
    if row.node and leaves and check_names:
        first = next((a for a in flat_a if isinstance(a, tapegrad.Tensor)), None)
        # (an op may return its input itself, a leaf: x.flatten() of a 1-d x)
        if first is not None and first.grad_fn is not None:
            assert _node_name(first.grad_fn) == row.node, \
                f"grad_fn {first.grad_fn.name()}, row.node {row.node}"


@needs_torch
@pytest.mark.parametrize("case", GRAD)
def test_grad(case: Case):
    inp = case.inputs()
    row = case.row
    flat_b, _, leaves_b = _run(torch, row, inp)
    idx = _diff_outputs(flat_b)
    if not idx or not leaves_b:
        pytest.skip("no differentiable output for this sample")
    flat_a, _, leaves_a = _run(tapegrad, row, inp)
    for i in idx:
        assert flat_a[i].requires_grad, f"output {i} does not require grad (torch's does)"
    vs = _cotangents(case.rng("v"), flat_b, idx)
    gb = torch.autograd.grad([flat_b[i] for i in idx], leaves_b,
                             [torch.tensor(v) for v in vs], allow_unused=True)
    ga = tapegrad.autograd.grad([flat_a[i] for i in idx], leaves_a,
                                [tapegrad.tensor(v) for v in vs], allow_unused=True)
    assert len(ga) == len(leaves_a)
    for k, (a, b, x) in enumerate(zip(ga, gb, leaves_a)):
        what = f"grad of input {k}"
        assert (a is None) == (b is None), f"{what}: {'None' if a is None else 'a tensor'}, " \
                                           f"torch gives {'None' if b is None else 'a tensor'}"
        if a is None:
            continue
        assert tuple(a.shape) == tuple(x.shape), f"{what}: shape != input's"
        assert a.dtype is x.dtype, f"{what}: dtype {a.dtype} != input's {x.dtype}"
        assert not a.requires_grad, f"{what}: requires grad without create_graph"
        assert_same_values(to_numpy(a), to_numpy(b), row.grad_atol, row.grad_rtol, what)


@pytest.mark.parametrize("case", GRADCHECK)
def test_gradcheck(case: Case):
    inp = case.inputs("float64")
    row = case.row
    flat, _, leaves = _run(tapegrad, row, inp)
    idx = _diff_outputs(flat)
    if not idx or not leaves:
        pytest.skip("no differentiable output for this sample")
    vs = _cotangents(case.rng("v"), flat, idx)
    analytic = tapegrad.autograd.grad([flat[i] for i in idx], leaves,
                                      _tensors(tapegrad, vs), allow_unused=True)
    analytic = _materialize(analytic, leaves)

    def outputs(arrays) -> list:
        f, _, _ = _run(tapegrad, row, inp, False, arrays)
        return [to_numpy(f[i]) for i in idx]

    numeric = numeric_vjp(outputs, inp.arrays, inp.grad_pos, vs, row.gradcheck_eps)
    for k, (a, n) in enumerate(zip(analytic, numeric)):
        assert_same_values(a, n, row.gradcheck_atol, row.gradcheck_rtol,
                           f"input {k}: analytic (actual) vs numeric (desired) v^T J")


def _first_order(m, row, inp, idx, vs, create_graph, arrays=None):
    """(leaves, first-order grads with None as zeros-or-None) of <v, f> for module m."""
    flat, _, leaves = _run(m, row, inp, True, arrays)
    outs = [flat[i] for i in idx]
    grads = m.autograd.grad(outs, leaves, _tensors(m, vs), create_graph=create_graph,
                            allow_unused=True)
    return leaves, grads


def _second_order(m, row, inp, idx, vs, ws):
    """Gradient of sum_k <w_k, grad_k> with respect to the inputs, None as zeros."""
    leaves, grads = _first_order(m, row, inp, idx, vs, True)
    s = None
    for g, w in zip(grads, _tensors(m, ws)):
        if g is not None and g.requires_grad:
            term = (g * w).sum()
            s = term if s is None else s + term
    if s is None:  # the gradient is constant: every second derivative is zero
        return [np.zeros(tuple(t.shape)) for t in leaves]
    gg = m.autograd.grad(s, leaves, allow_unused=True)
    for g, x in zip(gg, leaves):
        if g is not None:
            assert tuple(g.shape) == tuple(x.shape) and g.dtype == x.dtype
    return _materialize(gg, leaves)


@pytest.mark.parametrize("case", GRADGRAD)
def test_gradgrad(case: Case):
    inp = case.inputs("float64")
    row = case.row
    flat, _, leaves = _run(tapegrad, row, inp)
    idx = _diff_outputs(flat)
    if not idx or not leaves:
        pytest.skip("no differentiable output for this sample")
    rng = case.rng("vw")
    vs = _cotangents(rng, flat, idx)
    ws = [rng.standard_normal(tuple(x.shape)) for x in leaves]
    try:
        ours = _second_order(tapegrad, row, inp, idx, vs, ws)
    except (RuntimeError, NotImplementedError) as e:
        # Like PyTorch, some ops have no second derivative: then torch must say the same.
        if "not implemented" not in str(e) or torch is None:
            raise
        with pytest.raises(type(e)) as theirs:
            _second_order(torch, row, inp, idx, vs, ws)
        assert str(e) == str(theirs.value).replace("torch.", "tapegrad.")
        return

    def first(arrays) -> list:
        xs, grads = _first_order(tapegrad, row, inp, idx, vs, False, arrays)
        return _materialize(grads, xs)

    numeric = numeric_vjp(first, inp.arrays, inp.grad_pos, ws, row.gradcheck_eps)
    for k, (a, n) in enumerate(zip(ours, numeric)):
        assert_same_values(a, n, row.gradcheck_atol, row.gradcheck_rtol,
                           f"input {k}: second order analytic (actual) vs numeric (desired)")
    if torch is not None:
        try:
            theirs = _second_order(torch, row, inp, idx, vs, ws)
        except (RuntimeError, NotImplementedError) as e:
            if "not implemented" not in str(e):
                raise
            return  # torch has no second derivative here; the numeric check above stands
        for k, (a, b) in enumerate(zip(ours, theirs)):
            assert_same_values(a, b, row.grad_atol, row.grad_rtol,
                               f"input {k}: second order vs torch")


@pytest.mark.parametrize("case", NONDIFF)
def test_nondifferentiable(case: Case):
    inp = case.inputs()
    flat, _, leaves = _run(tapegrad, case.row, inp)
    assert leaves, "no input requires grad: the check is empty"
    for k, o in enumerate(flat):
        if isinstance(o, tapegrad.Tensor):
            assert not o.requires_grad and o.grad_fn is None, f"output {k} records a graph"
    if torch is not None:
        for k, o in enumerate(flatten(_run(torch, case.row, inp)[0])):
            if isinstance(o, torch.Tensor):
                assert not o.requires_grad, f"output {k}: torch's requires grad (row is wrong)"


@pytest.mark.parametrize("case", NO_GRAD)
def test_no_grad(case: Case):
    inp = case.inputs()
    row = case.row
    flat, _, _ = _run(tapegrad, row, inp)
    with tapegrad.no_grad():
        flat0, _, _ = _run(tapegrad, row, inp)
    theirs = None
    if torch is not None:
        with torch.no_grad():
            theirs, _, _ = _run(torch, row, inp)
    assert len(flat0) == len(flat)
    for k, (a, b) in enumerate(zip(flat0, flat)):
        if isinstance(b, tapegrad.Tensor):
            assert a.grad_fn is None, f"output {k} records a graph"
            if theirs is not None:
                # Views made under no_grad of a tensor requiring grad still require grad.
                assert a.requires_grad == theirs[k].requires_grad, \
                    f"output {k}: requires_grad {a.requires_grad} under no_grad, torch " \
                    f"{theirs[k].requires_grad}"
            assert a.dtype is b.dtype
            assert_same_values(to_numpy(a), to_numpy(b), 0, 0, f"output {k}")

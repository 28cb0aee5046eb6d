"""Forward-mode checks over every row of the op table (tests/op_db), in float64.

For each differentiable row and sample, inside `forward_ad.dual_level()` the grad inputs are
made dual with random tangents t, and:
- test_jvp_numeric: every output tangent equals the central difference
  (f(x + eps t) - f(x - eps t)) / (2 eps) (needs only NumPy);
- test_jvp_vjp_dot: <v, J t> from forward mode equals <J^T v, t> from reverse mode (the
  dot-product test that ties the two modes together);
- test_jvp_torch: the tangents equal torch's forward AD, where torch has a forward rule;
- test_jvp_with_grad: with the inputs also requiring grad, the tangents are the same and the
  primal outputs still record their graph (grad_fn as without forward AD).
Rows whose outputs are complex are compared through their real and imaginary parts.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.autograd.forward_ad as fwAD
from _helpers import _fill, assert_same_values, flatten, seed_of, to_numpy
from test_ops import CASES, Case

try:
    import torch
    import torch.autograd.forward_ad as tfwAD
except ImportError:  # pragma: no cover - the torch comparison skips
    torch = None

FORWARD = [pytest.param(c, id=f"{c.row.name}-{(c.sample.desc or f's{c.index}').replace(' ', '')}")
           for c in CASES if c.error is None and c.row.differentiable and c.representative]


def _tangents(case: Case, inp) -> list[np.ndarray]:
    rng = np.random.default_rng(seed_of(case.row.name, case.index, "tangent"))
    out = []
    for p in inp.grad_pos:
        a = inp.arrays[p]
        t = rng.standard_normal(a.shape)
        if a.dtype.kind == "c":
            t = t + 1j * rng.standard_normal(a.shape)
        out.append(t.astype(a.dtype))
    return out


def _call(m, fw, case: Case, inp, tangents, arrays=None, requires_grad=False):
    """Run the row on module m with the grad inputs made dual (when tangents is not None).
    Returns (flat outputs, grad leaves)."""
    arrays = inp.arrays if arrays is None else arrays
    tensors = []
    leaves = []
    pos = {p: k for k, p in enumerate(inp.grad_pos)}
    for i, a in enumerate(arrays):
        t = m.tensor(a, dtype=getattr(m, a.dtype.name), requires_grad=requires_grad and i in pos)
        if i in pos:
            leaves.append(t)
            if tangents is not None:
                tan = tangents[pos[i]]
                t = fw.make_dual(t, m.tensor(tan, dtype=getattr(m, tan.dtype.name)))
        tensors.append(t)
    args = tuple(_fill(a, tensors) for a in inp._args)
    kwargs = {k: _fill(v, tensors) for k, v in inp._kwargs.items()}
    return flatten(case.row.fn(m, *args, **kwargs)), leaves


def _diff_positions(flat) -> list[int]:
    return [i for i, o in enumerate(flat) if isinstance(o, tapegrad.Tensor)
            and (o.dtype.is_floating_point or o.dtype.is_complex)]


# Ops whose backward rule is not itself differentiable, and which have no jvp rule yet:
# forward mode refuses them with NotImplementedError (checked), rather than a wrong tangent.
NOT_YET: set = set()


def _ours(case: Case, inp, tangents, requires_grad=False):
    """(primal arrays, tangent arrays or None) of the differentiable outputs, and the outputs."""
    try:
        return _ours_raw(case, inp, tangents, requires_grad)
    except NotImplementedError as e:
        if str(e).startswith("Trying to use forward AD with"):
            # an op without a forward rule in PyTorch either: the same refusal
            if torch is not None:
                with pytest.raises(NotImplementedError) as theirs:
                    with tfwAD.dual_level():
                        _call(torch, tfwAD, case, inp, tangents, requires_grad=requires_grad)
                assert str(theirs.value) == str(e)
            pytest.skip("no forward rule, as in PyTorch")
        name = str(e).split(" for ", 1)[-1].split(" ", 1)[0]
        if "forward-mode AD is not yet supported" in str(e) and name in NOT_YET:
            pytest.skip(f"forward mode not yet supported: {name}")
        raise


def _ours_raw(case: Case, inp, tangents, requires_grad=False):
    with fwAD.dual_level():
        flat, leaves = _call(tapegrad, fwAD, case, inp, tangents, requires_grad=requires_grad)
        idx = _diff_positions(flat)
        res = []
        for i in idx:
            p, t = fwAD.unpack_dual(flat[i])
            res.append((to_numpy(p), None if t is None else to_numpy(t)))
    return idx, res, flat


def _as_real(a: np.ndarray) -> np.ndarray:
    return np.stack([a.real, a.imag]) if np.iscomplexobj(a) else a


def _inputs(case: Case):
    inp = case.inputs("float64")
    if not inp.grad_pos:
        pytest.skip("no input to differentiate")
    return inp


@pytest.mark.parametrize("case", FORWARD)
def test_jvp_numeric(case: Case):
    inp = _inputs(case)
    tangents = _tangents(case, inp)
    idx, ours, _ = _ours(case, inp, tangents)
    ref, _ = _call(tapegrad, fwAD, case, inp, None, requires_grad=True)
    keep = [k for k, i in enumerate(idx) if ref[i].requires_grad]
    idx, ours = [idx[k] for k in keep], [ours[k] for k in keep]
    if not idx:
        pytest.skip("no differentiable output")
    eps = case.row.gradcheck_eps

    def at(sign):
        arrays = [a.copy() for a in inp.arrays]
        for p, t in zip(inp.grad_pos, tangents):
            arrays[p] = arrays[p] + sign * eps * t
        flat, _ = _call(tapegrad, fwAD, case, inp, None, arrays)
        return [to_numpy(flat[i]) for i in idx]

    plus, minus = at(1), at(-1)
    for k, ((p, t), fp, fm) in enumerate(zip(ours, plus, minus)):
        moving = fp != fm
        numeric = np.where(moving, (fp - fm) / (2 * eps), 0)
        actual = np.zeros_like(p) if t is None else t
        assert actual.shape == p.shape, f"output {k}: tangent shape {actual.shape} != {p.shape}"
        assert_same_values(_as_real(actual), _as_real(numeric), case.row.gradcheck_atol * 10,
                           case.row.gradcheck_rtol * 10,
                           f"output {k}: jvp (actual) vs central difference (desired)")


@pytest.mark.parametrize("case", FORWARD)
def test_jvp_vjp_dot(case: Case):
    inp = _inputs(case)
    tangents = _tangents(case, inp)
    idx, ours, _ = _ours(case, inp, tangents)
    flat, leaves = _call(tapegrad, fwAD, case, inp, None, requires_grad=True)
    idx = [i for i in idx if flat[i].requires_grad]
    if not idx:
        pytest.skip("no differentiable output")
    rng = np.random.default_rng(seed_of(case.row.name, case.index, "cotangent"))
    vs = [rng.standard_normal(tuple(flat[i].shape)).astype(to_numpy(flat[i]).dtype)
          for i in idx]
    grads = tapegrad.autograd.grad([flat[i] for i in idx], leaves,
                                   [tapegrad.tensor(v) for v in vs], allow_unused=True)
    lhs = 0.0
    pos = _diff_positions(flat)
    for i, v in zip(idx, vs):
        t = ours[pos.index(i)][1]
        if t is not None:
            lhs += float(np.real(np.vdot(v, t)))
    rhs = 0.0
    for g, t in zip(grads, tangents):
        if g is not None:
            rhs += float(np.real(np.vdot(to_numpy(g), t)))
    assert abs(lhs - rhs) <= 1e-8 + 1e-6 * max(abs(lhs), abs(rhs)), \
        f"<v, J t> = {lhs} but <J^T v, t> = {rhs}"


@pytest.mark.parametrize("case", FORWARD)
def test_jvp_torch(case: Case):
    if torch is None:
        pytest.skip("torch is not installed")
    inp = _inputs(case)
    tangents = _tangents(case, inp)
    idx, ours, _ = _ours(case, inp, tangents)
    try:
        with tfwAD.dual_level():
            flat, _ = _call(torch, tfwAD, case, inp, tangents)
            theirs = []
            for i in idx:
                p, t = tfwAD.unpack_dual(flat[i])
                if t is not None and t._is_zerotensor():
                    t = torch.zeros_like(p)
                theirs.append(None if t is None else t.detach().numpy())
    except (RuntimeError, NotImplementedError) as e:
        if any(k in str(e) for k in ("forward AD", "forward gradient")) or \
                "not implemented" in str(e).lower():
            pytest.skip(f"torch has no forward rule: {str(e)[:80]}")
        raise
    for k, ((_, a), b) in enumerate(zip(ours, theirs)):
        a = np.zeros_like(ours[k][0]) if a is None else a
        _same_tangent(case, inp, tangents, idx, k, a, b)


def _same_tangent(case: Case, inp, tangents, idx, k, a, b) -> None:
    """Our tangent a of output k equals torch's b; or, where torch's forward rule disagrees
    with torch's own function (its central difference), a agrees with that difference (a
    known torch gap: the test then skips, saying so)."""
    b = np.zeros_like(a) if b is None else b
    try:
        assert_same_values(_as_real(a), _as_real(b), case.row.grad_atol, case.row.grad_rtol,
                           f"output {k}: tangent vs torch")
    except AssertionError:
        fd = _torch_difference(case, inp, tangents, idx)[k]
        atol, rtol = case.row.gradcheck_atol * 10, case.row.gradcheck_rtol * 10
        if np.allclose(_as_real(b), _as_real(fd), atol=atol, rtol=rtol):
            raise
        assert_same_values(_as_real(a), _as_real(fd), atol, rtol,
                           f"output {k}: tangent vs torch's central difference")
        pytest.skip(f"output {k}: torch's forward rule disagrees with its own function")


def _torch_difference(case: Case, inp, tangents, idx) -> list[np.ndarray]:
    """Central differences of torch's own function along the tangents."""
    eps = case.row.gradcheck_eps

    def at(sign):
        arrays = [a.copy() for a in inp.arrays]
        for p, t in zip(inp.grad_pos, tangents):
            arrays[p] = arrays[p] + sign * eps * t
        flat, _ = _call(torch, tfwAD, case, inp, None, arrays)
        return [flat[i].detach().numpy() for i in idx]

    plus, minus = at(1), at(-1)
    return [np.where(fp != fm, (fp - fm) / (2 * eps), 0) for fp, fm in zip(plus, minus)]


@pytest.mark.parametrize("case", FORWARD)
def test_jvp_with_grad(case: Case):
    inp = _inputs(case)
    tangents = _tangents(case, inp)
    idx, plain, _ = _ours(case, inp, tangents)
    idx2, both, flat = _ours(case, inp, tangents, requires_grad=True)
    ref, _ = _call(tapegrad, fwAD, case, inp, None, requires_grad=True)
    assert idx == idx2
    for k, ((p, a), (q, b)) in enumerate(zip(plain, both)):
        assert_same_values(q, p, 0, 1e-14, f"output {k}: primal")  # (BLAS order may differ)
        if a is None or b is None:
            assert a is None and b is None, f"output {k}: tangent only in one mode"
        else:
            assert_same_values(b, a, 1e-10, 1e-8, f"output {k}: tangent")
    for k, (o, r) in enumerate(zip(flat, ref)):
        if isinstance(r, tapegrad.Tensor) and not (r.requires_grad and r.grad_fn is None):
            # (an output that is an input itself is the dual view of it in forward mode)
            assert o.requires_grad == r.requires_grad, f"output {k}: requires_grad"
            assert type(o.grad_fn) is type(r.grad_fn), f"output {k}: grad_fn"


# --- complex128: every row whose op PyTorch runs on complex inputs --------------------------
def _complexify(case: Case):
    """The row's float64 sample with complex128 values (random imaginary parts) in every
    floating array; None when the sample has no floating array to differentiate."""
    inp = case.inputs("complex128")
    rng = np.random.default_rng(seed_of(case.row.name, case.index, "imag"))
    for p in inp.grad_pos:
        a = inp.arrays[p]
        inp.arrays[p] = (a + 0.5j * rng.standard_normal(a.shape)).astype(np.complex128)
    return inp


# Rows whose samples stop being valid inputs once complex values are put in (the op reads one
# triangle of a Hermitian matrix, or its outputs are fixed only up to a complex phase).
_NOT_COMPLEXIFIABLE = ("cholesky", "eigh", "svd", "torch_svd", "ldexp")
# PyTorch runs these on complex inputs; tapegrad does not yet (it raises NotImplementedError).
_COMPLEX_GAPS: set = set()


@pytest.mark.parametrize("case", FORWARD)
def test_jvp_complex_torch(case: Case):
    if torch is None:
        pytest.skip("torch is not installed")
    if case.row.name.startswith(_NOT_COMPLEXIFIABLE):
        pytest.skip("the sample is not a valid complex input for this op")
    if case.row.name in _COMPLEX_GAPS:
        with pytest.raises((NotImplementedError, RuntimeError)):
            _ours(case, _complexify(case), _tangents(case, _complexify(case)))
        pytest.xfail("tapegrad does not differentiate this op on complex inputs yet")
    inp = _complexify(case)
    if not inp.grad_pos:
        pytest.skip("no input to differentiate")
    tangents = _tangents(case, inp)
    try:
        with tfwAD.dual_level():
            flat, _ = _call(torch, tfwAD, case, inp, tangents)
            ref = [(i, o) for i, o in enumerate(flat) if isinstance(o, torch.Tensor)
                   and (o.dtype.is_floating_point or o.dtype.is_complex)]
            theirs = []
            for _, o in ref:
                p, t = tfwAD.unpack_dual(o)
                if t is not None and t._is_zerotensor():
                    t = torch.zeros_like(p)
                theirs.append((p.detach().numpy(), None if t is None else t.detach().numpy()))
    except Exception as e:  # noqa: BLE001 - torch does not run this op on complex inputs
        pytest.skip(f"torch: {type(e).__name__}: {str(e)[:60]}")
    try:
        idx, ours, _ = _ours(case, inp, tangents)
    except NotImplementedError as e:
        # refused as torch refuses the op itself on complex values (outside forward AD)
        if "not implemented for 'Complex" not in str(e):
            raise
        try:
            _call(torch, tfwAD, case, inp, None)
        except NotImplementedError as te:
            assert "not implemented for 'Complex" in str(te)
        else:
            pytest.xfail(f"torch runs this sample on complex values; tapegrad refuses: {e}")
        pytest.skip(f"complex inputs refused, as by torch: {e}")
    assert idx == [i for i, _ in ref], "differentiable outputs differ from torch's"
    for k, ((p, a), (q, b)) in enumerate(zip(ours, theirs)):
        assert_same_values(_as_real(p), _as_real(q), case.row.atol, case.row.rtol,
                           f"output {k}: value vs torch")
        _same_tangent(case, inp, tangents, idx, k, np.zeros_like(p) if a is None else a, b)

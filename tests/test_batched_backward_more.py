"""Batched backward passes through the remaining rules that read arrays directly: as_strided
(and the views an in-place op regenerates), einsum, embedding_bag, the linalg solvers and
decompositions (solve, lstsq, lu_solve, eig, slogdet, diagonal, addbmm), ctc_loss,
cumsum / logcumsumexp, glu, Tensor.unfold, the scatter family and gather on 0-d tensors,
affine_grid / grid_sample, channel_shuffle and scaled_dot_product_attention with grouped heads.

Each rule, handed a batch of cotangents (BatchedTensors under vmap), must run once on the
whole batch: `_batching_autograd.PER_SAMPLE` (the engine's count of per-sample fallbacks)
stays empty. Each case checks, in float64:
- the batched pass (`is_grads_batched=True`, with create_graph) gives every sample what a
  plain pass with that sample's cotangent gives;
- it gives what PyTorch's batched pass gives (PyTorch's plain passes, stacked, where its
  batched pass has no batching rule for the backward);
- its gradients are differentiable: a second pass through them (a plain one, with respect to
  the inputs and the cotangents) matches PyTorch's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad
from tapegrad.func import _batching_autograd as BA

torch = pytest.importorskip("torch")

NB = 3  # cotangents per batch


def _close(got, want, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11 * scale, err_msg=what)


def _np(t):
    return None if t is None else t.detach().numpy()


def _listed(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _grads(m, outs, ins, cs):
    """The batched gradients; for torch, its plain passes stacked where it cannot batch."""
    if m is torch:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return m.autograd.grad(outs, ins, cs, create_graph=True, allow_unused=True,
                                       is_grads_batched=True)
        except RuntimeError:
            pass
        per = [m.autograd.grad(outs, ins, [c[b] for c in cs], create_graph=True,
                               allow_unused=True) for b in range(NB)]
        return [None if p[0] is None else m.stack(list(p)) for p in zip(*per)]
    BA.PER_SAMPLE.clear()
    gs = m.autograd.grad(outs, ins, cs, create_graph=True, allow_unused=True,
                         is_grads_batched=True)
    assert BA.PER_SAMPLE == {}, f"rules run per sample: {BA.PER_SAMPLE}"
    return gs


def _passes(m, build, arrays, cots, ws, second: bool, loop: bool = False):
    """(batched gradients, second-order gradients, (inputs, outputs)) under module m; with
    loop, the batch is a stack of plain passes."""
    ins = [m.tensor(a, requires_grad=True) for a in arrays]
    outs = _listed(build(m, *ins))
    cs = [m.tensor(c, requires_grad=True) for c in cots]
    if loop:
        per = [m.autograd.grad(outs, ins, [c[b] for c in cs], create_graph=True,
                               allow_unused=True) for b in range(NB)]
        gs = [None if p[0] is None else m.stack(list(p)) for p in zip(*per)]
    else:
        gs = _grads(m, outs, ins, cs)
    terms = [(g * m.tensor(w)).sum() for g, w in zip(gs, ws) if g is not None and g.requires_grad]
    res = None
    if terms and second:
        res = m.autograd.grad(sum(terms), ins + cs, retain_graph=True, allow_unused=True)
    return gs, res, (ins, outs)


def check(build, *arrays, seed: int = 0, second: bool | str = True) -> None:
    """build(m, *tensors) -> output(s); the tensors are float64 leaves made from arrays.
    second=False: the rule has no double backward (as in PyTorch): no second pass;
    second="plain": PyTorch has none, the second pass is checked against tapegrad's own plain
    passes (one per sample, stacked)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    rng = np.random.default_rng(seed)
    probe = [tapegrad.tensor(a, requires_grad=True) for a in arrays]
    shapes = [tuple(o.shape) for o in _listed(build(tapegrad, *probe))]
    cots = [rng.standard_normal((NB,) + s) for s in shapes]
    ws = [rng.standard_normal((NB,) + a.shape) for a in arrays]

    gs, sec, (ins, outs) = _passes(tapegrad, build, arrays, cots, ws, bool(second))
    tgs, tsec, _ = _passes(torch, build, arrays, cots, ws, second is True)
    if second == "plain":
        tsec = _passes(tapegrad, build, arrays, cots, ws, True, loop=True)[1]
    for k, (g, t) in enumerate(zip(gs, tgs)):
        if t is None:
            assert g is None or not np.any(_np(g)), f"input {k}: torch has no gradient"
            continue
        assert g is not None, f"input {k}: no gradient"
        assert tuple(g.shape) == (NB,) + arrays[k].shape
        _close(_np(g), _np(t), f"input {k} against torch")
        for b in range(NB):  # each sample as a plain pass gives it
            plain = tapegrad.autograd.grad(outs, ins[k], [tapegrad.tensor(c[b]) for c in cots],
                                           retain_graph=True, allow_unused=True)[0]
            _close(_np(g)[b], _np(plain), f"input {k}, sample {b}")
    assert (sec is None) == (tsec is None)
    if sec is not None:
        for k, (s, t) in enumerate(zip(sec, tsec)):
            if t is None or s is None:
                assert (s is None or not np.any(_np(s))) and (t is None or not np.any(_np(t))), \
                    f"second order, operand {k}"
                continue
            _close(_np(s), _np(t), f"second order, operand {k}")


def _rand(*shape, seed=1):
    return np.random.default_rng(seed + len(shape) + sum(shape)).standard_normal(shape)


def _first_order(op):
    """build for check: op's input gradient from a create_graph pass (v the cotangent), so
    the batched pass runs through the backward's own node."""
    def build(m, x, v):
        return m.autograd.grad(op(m, x), x, v, create_graph=True)

    return build


def check_second(op, shape, seed: int = 0, second: bool | str = True) -> None:
    x = _rand(*shape)
    with tapegrad.no_grad():
        v = _rand(*op(tapegrad, tapegrad.tensor(x)).shape, seed=11)
    check(_first_order(op), x, v, seed=seed, second=second)


# --- as_strided and regenerated views ----------------------------------------------------------
AS_STRIDED = [
    ("window", (4, 3), lambda m, x: x.as_strided((3, 2), (2, 3), 1)),
    ("overlap", (3, 3), lambda m, x: x.as_strided((3, 3), (1, 1))),
    ("view", (2, 6), lambda m, x: x[:, 1:].as_strided((2, 2), (1, 2), 2) * x[0, :2]),
]


@pytest.mark.parametrize("case", AS_STRIDED, ids=lambda c: c[0])
def test_as_strided(case):
    _, shape, op = case
    check(op, _rand(*shape))


def test_view_regenerated_after_inplace():
    """A view of a tensor modified in place reads its new history (AsStridedBackward0)."""
    def build(m, x):
        b = x * 1
        v = b[1]
        b.mul_(x.sin())
        return v * 2

    check(build, _rand(3, 4))


def test_complex_views_regenerated_after_inplace():
    """The same for views of another dtype: the real pairs of a complex tensor, and the
    complex view of real pairs."""
    def build(m, x, y):
        c = m.complex(x, y)
        r = m.view_as_real(c)
        c.mul_(m.complex(y, x))
        t = x.unsqueeze(-1).expand(3, 2).contiguous() * 1
        z = m.view_as_complex(t)
        t.mul_(y.unsqueeze(-1))
        return r * 1, m.view_as_real(z * z)

    check(build, _rand(3), _rand(3, seed=4))


# --- einsum ----------------------------------------------------------------------------------
EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 2)]),  # ViewBackward0
    ("i,i->i", [(4,), (4,)]),  # MulBackward0
    ("ij->j", [(3, 4)]),  # SumBackward1
    ("ij->ji", [(3, 4)]),  # PermuteBackward0
    ("ii->i", [(3, 3)]),  # a diagonal
    ("ii,i->i", [(3, 3), (3,)]),  # a repeated label in an operand with others
    ("bij,bjk,k->bi", [(2, 3, 4), (2, 4, 2), (2,)]),
    ("...ij,...j->...i", [(2, 3, 4), (1, 4)]),  # broadcast ellipsis
]


@pytest.mark.parametrize("case", EINSUM, ids=lambda c: c[0])
def test_einsum(case):
    eq, shapes = case
    check(lambda m, *ops: m.einsum(eq, *ops), *[_rand(*s, seed=k) for k, s in enumerate(shapes)])


def test_einsum_second_order():
    check_second(lambda m, x: m.einsum("ij,jk,k->i", x, x.t(), x[0]), (3, 3))


# --- embedding_bag ---------------------------------------------------------------------------
_IDX7, _OFF4 = [1, 2, 4, 4, 3, 2, 0], [0, 2, 2, 5]
_IDX8 = [1, 2, 4, 4, 2, 1, 0, 0]  # every index twice (see test_gaps_nn: PyTorch's kernel
# scales the wrong rows by frequency when an index occurs once)
EMBEDDING_BAG = [
    ("sum", {}, _IDX7, _OFF4),
    ("mean", {}, _IDX7, _OFF4),
    ("max", {}, _IDX7, _OFF4),
    ("sum", dict(padding_idx=2), _IDX7, _OFF4),
    ("mean", dict(scale_grad_by_freq=True), _IDX8, _OFF4),
    ("sum", dict(include_last_offset=True), _IDX8, _OFF4 + [8]),
]


@pytest.mark.parametrize("case", EMBEDDING_BAG, ids=lambda c: f"{c[0]}-{'-'.join(c[1])}")
def test_embedding_bag(case):
    mode, kw, idx, off = case

    def build(m, w):
        return m.nn.functional.embedding_bag(m.tensor(idx), w, m.tensor(off), mode=mode, **kw)

    check(build, _rand(5, 3), second="plain")  # (PyTorch has no double backward here)


def test_embedding_bag_per_sample_weights():
    idx = np.array([[1, 2, 4], [4, 3, 1]])

    def build(m, w, psw):
        return m.nn.functional.embedding_bag(m.tensor(idx), w, per_sample_weights=psw,
                                             mode="sum")

    check(build, _rand(5, 3), _rand(2, 3), second="plain")


# --- linalg ----------------------------------------------------------------------------------
def _well(*shape, seed=1):
    """Well-conditioned square matrices."""
    n = shape[-1]
    return _rand(*shape, seed=seed) * 0.3 + 2 * np.eye(n)


SOLVE = [
    ("matrix", (3, 3), (3, 2), {}),
    ("vector", (3, 3), (3,), {}),
    ("batched-vector", (2, 3, 3), (2, 3), {}),
    ("vector-broadcast", (2, 3, 3), (3,), {}),
    ("broadcast", (2, 3, 3), (3, 2), {}),
    ("right", (3, 3), (2, 3), dict(left=False)),
    ("right-broadcast", (3, 3), (2, 4, 3), dict(left=False)),
]


@pytest.mark.parametrize("case", SOLVE, ids=lambda c: c[0])
def test_solve(case):
    _, sa, sb, kw = case
    check(lambda m, a, b: m.linalg.solve(a, b, **kw), _well(*sa), _rand(*sb, seed=3))


@pytest.mark.parametrize("driver", ["gelsy", "gelsd"])
def test_lstsq(driver):
    def build(m, a, b):
        r = m.linalg.lstsq(a, b, driver=driver)
        return (r.solution, r.residuals) if driver == "gelsd" else r.solution

    check(build, _rand(5, 3), _rand(5, 2, seed=3))


@pytest.mark.parametrize("kw", [{}, dict(adjoint=True), dict(left=False)],
                         ids=["left", "adjoint", "right"])
def test_lu_solve(kw):
    def build(m, a, b):
        lu, piv = m.linalg.lu_factor(a)
        return m.linalg.lu_solve(lu, piv, b, **kw)

    check(build, _well(2, 3, 3), _rand(3, 3, seed=3))


def test_eig():
    """Eigenvalues and (gauge-invariant) |eigenvector|^2."""
    a = np.array([[2.0, 0.5, 0.1], [0.3, 1.0, 0.2], [0.0, 0.4, -1.0]])

    def build(m, x):
        lam, vec = m.linalg.eig(x)
        return m.view_as_real(lam), (vec * vec.conj()).real

    check(build, a + 0.1 * _rand(3, 3))


def test_slogdet_and_logdet():
    def build(m, x):
        return m.linalg.slogdet(x).logabsdet, m.logdet(x @ x.mT)

    check(build, _well(2, 3, 3))


def test_diagonal():
    def build(m, x):
        return x.diagonal(1, 0, 2), m.diag(x[0]), x.diagonal(-1, -1, -2)

    check(build, _rand(3, 4, 3))


def test_addbmm():
    def build(m, c, a, b):
        return m.addbmm(c, a, b, beta=0.5, alpha=2.0)

    check(build, _rand(3, 2), _rand(4, 3, 5, seed=2), _rand(4, 5, 2, seed=3))


def test_linalg_jacobians_and_hessian():
    """jacrev of solve, hessian (jacfwd of jacrev) of logdet, jacrev of an einsum: the
    batched pass runs once (no per-sample fallback) and gives torch's results."""
    a0, b0 = _well(3, 3), _rand(3, 2, seed=3)
    results = {}
    for m in (tapegrad, torch):
        b = m.tensor(b0)
        if m is tapegrad:
            BA.PER_SAMPLE.clear()
        res = [m.func.jacrev(lambda a, m=m, b=b: m.linalg.solve(a, b))(m.tensor(a0)),
               m.func.hessian(lambda a, m=m: m.linalg.slogdet(a).logabsdet)(m.tensor(a0)),
               m.func.jacrev(lambda a, m=m: m.einsum("ij,jk->ik", a, a))(m.tensor(a0))]
        if m is tapegrad:
            assert BA.PER_SAMPLE == {}
        results[m] = res
    for k, (x, y) in enumerate(zip(results[tapegrad], results[torch])):
        _close(_np(x), _np(y), f"result {k}")


# --- ctc_loss ----------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_ctc_loss(reduction):
    """ctc_loss's gradient is not differentiable again (as in PyTorch): first order only."""
    targets = np.array([[1, 2, 2], [3, 1, 0]])

    def build(m, x):
        lp = x.log_softmax(-1)
        return m.nn.functional.ctc_loss(lp, m.tensor(targets), m.tensor([6, 5]),
                                        m.tensor([3, 2]), reduction=reduction)

    check(build, _rand(6, 2, 4), second=False)


def test_ctc_loss_unbatched():
    def build(m, x):
        return m.nn.functional.ctc_loss(x.log_softmax(-1), m.tensor([1, 2]), m.tensor(5),
                                        m.tensor(2), reduction="sum")

    check(build, _rand(5, 3), second=False)


# --- scans -------------------------------------------------------------------------------------
def test_cumsum_and_logcumsumexp():
    def build(m, x, s):
        return (x.cumsum(1), m.cumsum(s, 0), x.logcumsumexp(0), x.logcumsumexp(-1),
                s.logcumsumexp(0))

    check(build, _rand(3, 4), _rand())


def test_logcumsumexp_second_order():
    # (the last pass is a third derivative, where PyTorch's rule gives NaN at the end of the
    # scan: that one is checked against tapegrad's plain passes)
    check_second(lambda m, x: x.logcumsumexp(1), (2, 4), second="plain")


# --- glu ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_glu(dim):
    check(lambda m, x: m.nn.functional.glu(x, dim), _rand(4, 6, 2))


def test_glu_second_order():
    check_second(lambda m, x: m.nn.functional.glu(x, 1), (2, 4))


# --- Tensor.unfold -----------------------------------------------------------------------------
def test_unfold():
    def build(m, x, s):
        return x.unfold(1, 2, 1), x.unfold(0, 2, 2), s.unfold(0, 1, 1), s.unfold(0, 0, 1)

    check(build, _rand(4, 5), _rand())


def test_unfold_second_order():
    check_second(lambda m, x: x.unfold(-1, 3, 2) ** 2, (2, 7))


# --- scatter / gather --------------------------------------------------------------------------
_IDX = np.array([[0, 2], [3, 1], [2, 2]])


def test_scatter():
    def build(m, x, s):
        i = m.tensor(_IDX[:, :1])  # (no repeated position per slice: scatter is deterministic)
        return x.scatter(1, i, s[:, :1]), x.scatter(1, m.tensor(_IDX), 2.0)

    check(build, _rand(3, 4), _rand(3, 2))


@pytest.mark.parametrize("reduce", ["sum", "mean", "prod", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(reduce, include_self):
    def build(m, x, s):
        return x.scatter_reduce(1, m.tensor(_IDX), s, reduce, include_self=include_self)

    check(build, _rand(3, 4), _rand(3, 2))


def test_scatter_and_gather_0d():
    """0-d tensors act as ones of shape (1,)."""
    def build(m, x, s, v):
        i = m.tensor(0)
        return (x.scatter(0, i, s), x.scatter(0, i, 1.5), m.gather(x, 0, i), m.gather(v, 0, i),
                v.scatter(0, m.tensor([0]), s), m.gather(x, 0, m.tensor([0])))

    check(build, _rand(), _rand(seed=2), _rand(3))


def test_scatter_second_order():
    check_second(lambda m, x: x.scatter(1, m.tensor(_IDX), x[:, :2] ** 2) * x, (3, 4))


# --- affine_grid / grid_sample, channel_shuffle, attention -------------------------------------
@pytest.mark.parametrize("size", [(2, 1, 3, 4), (1, 2, 2, 3, 2)], ids=["2d", "3d"])
def test_affine_grid(size):
    nd = len(size) - 2
    theta = _rand(size[0], nd, nd + 1)
    check(lambda m, t: m.nn.functional.affine_grid(t, size, align_corners=False), theta)


def test_affine_grid_sample():
    def build(m, x, t):
        grid = m.nn.functional.affine_grid(t, (2, 2, 3, 3), align_corners=True)
        return m.nn.functional.grid_sample(x, grid, align_corners=True)

    theta = np.array([[[0.9, 0.1, 0.05], [-0.1, 0.8, 0.1]]] * 2) + 0.01 * _rand(2, 2, 3)
    check(build, _rand(2, 2, 4, 5), theta)


def test_channel_shuffle():
    check(lambda m, x: m.nn.functional.channel_shuffle(x * x, 3), _rand(2, 6, 2, 1))


def test_sdpa_grouped_heads():
    def build(m, q, k, v):
        return m.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True)

    # (PyTorch's fused CPU attention has no double backward)
    check(build, _rand(1, 4, 3, 2), _rand(1, 2, 5, 2, seed=2), _rand(1, 2, 5, 2, seed=3),
          second="plain")

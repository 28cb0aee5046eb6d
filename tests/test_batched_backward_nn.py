"""Batched backward passes through the nn rules that read arrays directly: convolutions (and
their double backward), max / average / adaptive pools, embedding, index and masked ops,
interpolation, padding and unfold / fold.

Each rule, handed a batch of cotangents (BatchedTensors under vmap), must run once on the
whole batch: `_batching_autograd.PER_SAMPLE` (the engine's count of per-sample fallbacks)
stays empty. Each case checks, in float64:
- the batched pass (`is_grads_batched=True`, with create_graph) gives every sample what a
  plain pass with that sample's cotangent gives;
- it gives what PyTorch's batched pass gives;
- its gradients are differentiable: a second pass through them (a plain one, with respect to
  the inputs and the cotangents) matches PyTorch's.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from tapegrad.func import _batching_autograd as BA

torch = pytest.importorskip("torch")

NB = 3  # cotangents per batch


def _close(got, want, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * scale, err_msg=what)


def _np(t):
    return None if t is None else t.detach().numpy()


def _listed(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _passes(m, build, arrays, cots, ws, loop: bool = False):
    """(batched gradients, second-order gradients) of build's outputs under module m; with
    loop, the batch is a stack of plain passes (for a batched pass torch cannot run)."""
    ins = [m.tensor(a, requires_grad=True) for a in arrays]
    outs = _listed(build(m, *ins))
    cs = [m.tensor(c, requires_grad=True) for c in cots]
    if m is tapegrad:
        BA.PER_SAMPLE.clear()
    if loop:
        per = [m.autograd.grad(outs, ins, [c[b] for c in cs], create_graph=True,
                               allow_unused=True) for b in range(NB)]
        gs = [None if p[0] is None else m.stack(list(p)) for p in zip(*per)]
    else:
        gs = m.autograd.grad(outs, ins, cs, create_graph=True, allow_unused=True,
                             is_grads_batched=True)
    ran_per_sample = dict(BA.PER_SAMPLE) if m is tapegrad else {}
    terms = [(g * m.tensor(w)).sum() for g, w in zip(gs, ws) if g is not None and g.requires_grad]
    second = None
    if terms:
        second = m.autograd.grad(sum(terms), ins + cs, retain_graph=True, allow_unused=True)
    return gs, second, ran_per_sample, (ins, outs)


def check(build, *arrays, seed: int = 0, ref=torch) -> None:
    """build(m, *tensors) -> output(s); the tensors are float64 leaves made from arrays.
    ref=tapegrad: the reference is a stack of tapegrad's plain passes (where torch cannot
    differentiate the case)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    rng = np.random.default_rng(seed)
    probe = [tapegrad.tensor(a, requires_grad=True) for a in arrays]
    shapes = [tuple(o.shape) for o in _listed(build(tapegrad, *probe))]
    cots = [rng.standard_normal((NB,) + s) for s in shapes]
    ws = [rng.standard_normal((NB,) + a.shape) for a in arrays]

    gs, second, ran, (ins, outs) = _passes(tapegrad, build, arrays, cots, ws)
    assert ran == {}, f"rules run per sample: {ran}"
    tgs, tsecond, _, _ = _passes(ref, build, arrays, cots, ws, ref is tapegrad)

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
    assert (second is None) == (tsecond is None)
    if second is not None:
        for k, (s, t) in enumerate(zip(second, tsecond)):
            if t is None or s is None:
                assert (s is None or not np.any(_np(s))) and (t is None or not np.any(_np(t))), \
                    f"second order, operand {k}"
                continue
            _close(_np(s), _np(t), f"second order, operand {k}")


def _rand(*shape, seed=1):
    return np.random.default_rng(seed + len(shape) + sum(shape)).standard_normal(shape)


# --- convolutions ------------------------------------------------------------------------------
CONV = [
    # (nd, x shape, weight shape, bias, kwargs, transposed)
    (2, (2, 3, 6, 6), (4, 3, 3, 3), True, {}, False),
    (2, (2, 4, 7, 6), (6, 2, 3, 2), True, dict(groups=2, stride=2, padding=1), False),
    (1, (2, 4, 9), (4, 1, 3), False, dict(groups=4, dilation=2), False),
    (3, (1, 4, 4, 4, 4), (2, 2, 2, 2, 2), True, dict(groups=2, stride=(1, 2, 1)), False),
    (2, (3, 6, 6), (4, 3, 3, 3), True, dict(padding="same"), False),  # unbatched input
    (2, (2, 4, 5, 5), (4, 3, 3, 3), True, dict(stride=2, output_padding=1), True),
    (2, (2, 4, 5, 4), (4, 3, 3, 2), True, dict(groups=2, stride=2, padding=1, dilation=2), True),
    (1, (2, 6, 5), (6, 1, 3), False, dict(groups=3, stride=3), True),
    (3, (1, 2, 3, 3, 3), (2, 2, 2, 2, 2), True, dict(stride=2), True),
]


def _conv_fn(m, nd, transposed):
    name = f"conv_transpose{nd}d" if transposed else f"conv{nd}d"
    return getattr(m.nn.functional, name)


@pytest.mark.parametrize("case", CONV, ids=lambda c: f"{c[0]}d-{c[4]}-t{int(c[5])}")
def test_convolution(case):
    nd, xs, wsh, bias, kw, transposed = case
    cout = wsh[1] * kw.get("groups", 1) if transposed else wsh[0]
    arrays = [_rand(*xs), _rand(*wsh)] + ([_rand(cout)] if bias else [])

    def build(m, x, w, b=None):
        return _conv_fn(m, nd, transposed)(x, w, b, **kw)

    check(build, *arrays)


@pytest.mark.parametrize("case", CONV[:2] + CONV[3:4] + CONV[5:8],
                         ids=lambda c: f"{c[0]}d-{c[4]}-t{int(c[5])}")
def test_convolution_double_backward(case):
    """The backward's own node (ConvolutionBackwardBackward0) on a batch: the batched pass
    runs through the gradients of a create_graph pass (input, weight and bias gradients,
    each a function of the cotangent, the input and the weight)."""
    nd, xs, wsh, bias, kw, transposed = case
    cout = wsh[1] * kw.get("groups", 1) if transposed else wsh[0]
    arrays = [_rand(*xs), _rand(*wsh)] + ([_rand(cout)] if bias else [])
    with tapegrad.no_grad():
        t = [tapegrad.tensor(a) for a in arrays]
        oshape = tuple(_conv_fn(tapegrad, nd, transposed)(*t, **kw).shape)
    arrays.append(_rand(*oshape, seed=5))

    def build(m, x, w, *rest):
        b = rest[0] if bias else None
        out = _conv_fn(m, nd, transposed)(x, w, b, **kw)
        ins = (x, w, b) if bias else (x, w)
        return m.autograd.grad(out, ins, rest[-1], create_graph=True)

    # (torch's third derivative of a transposed convolution rejects output_padding: there
    # the reference is tapegrad's plain passes, one per sample)
    check(build, *arrays, ref=tapegrad if "output_padding" in kw else torch)


def test_convolution_complex_double_backward_per_sample():
    """Complex weights: the batched pass gives each sample's plain pass."""
    rng = np.random.default_rng(3)
    x = tapegrad.tensor(rng.standard_normal((2, 2, 5, 5)) + 1j * rng.standard_normal((2, 2, 5, 5)),
                        requires_grad=True)
    w = tapegrad.tensor(rng.standard_normal((4, 1, 3, 3)) + 1j * rng.standard_normal((4, 1, 3, 3)),
                        requires_grad=True)
    out = tapegrad.nn.functional.conv2d(x, w, groups=2)
    c = rng.standard_normal((NB,) + tuple(out.shape)) + 1j * rng.standard_normal(
        (NB,) + tuple(out.shape))
    BA.PER_SAMPLE.clear()
    gs = tapegrad.autograd.grad(out, (x, w), tapegrad.tensor(c), retain_graph=True,
                                is_grads_batched=True)
    assert BA.PER_SAMPLE == {}
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    tw = torch.tensor(w.detach().numpy(), requires_grad=True)
    tout = torch.nn.functional.conv2d(tx, tw, groups=2)
    tgs = torch.autograd.grad(tout, (tx, tw), torch.tensor(c), is_grads_batched=True)
    for g, t in zip(gs, tgs):
        _close(_np(g), _np(t), "complex")


# --- pools -------------------------------------------------------------------------------------
POOLS = [
    ("max_pool1d", (2, 3, 9), dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool2d", (2, 3, 7, 6), dict(kernel_size=3, stride=1, padding=1, dilation=1)),
    ("max_pool2d", (3, 7, 7), dict(kernel_size=2, ceil_mode=True)),
    ("max_pool3d", (1, 2, 5, 4, 5), dict(kernel_size=2, stride=1, dilation=(1, 2, 1))),
    ("adaptive_max_pool1d", (2, 3, 10), dict(output_size=4)),
    ("adaptive_max_pool2d", (2, 2, 7, 5), dict(output_size=(3, 2))),
    ("adaptive_max_pool3d", (2, 4, 5, 3), dict(output_size=2)),
    ("avg_pool1d", (2, 3, 9), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("avg_pool2d", (2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool2d", (3, 6, 6), dict(kernel_size=2, divisor_override=3)),
    ("avg_pool3d", (1, 2, 5, 4, 5), dict(kernel_size=2, stride=1, padding=1)),
    ("adaptive_avg_pool1d", (2, 3, 10), dict(output_size=4)),
    ("adaptive_avg_pool2d", (2, 2, 7, 5), dict(output_size=(3, 2))),
    ("adaptive_avg_pool3d", (2, 4, 5, 3), dict(output_size=(2, 3, 2))),
]


@pytest.mark.parametrize("case", POOLS, ids=lambda c: f"{c[0]}-{len(c[1])}")
def test_pool(case):
    name, shape, kw = case

    def build(m, x):
        return getattr(m.nn.functional, name)(x, **kw)

    check(build, _rand(*shape))


@pytest.mark.parametrize("nd", [2, 3])
def test_fractional_max_pool(nd):
    shape = (2, 2, 7, 6) if nd == 2 else (1, 2, 5, 6, 5)
    samples = np.random.default_rng(4).random((shape[0], shape[1], nd))

    def build(m, x):
        fn = getattr(m.nn.functional, f"fractional_max_pool{nd}d")
        return fn(x, 2, output_size=(3,) * nd, _random_samples=m.tensor(samples))

    check(build, _rand(*shape))


# --- embedding, index and masked ops ---------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, dict(padding_idx=2), dict(scale_grad_by_freq=True)])
def test_embedding(kw):
    idx = np.array([[0, 2, 4], [2, 2, 1]])

    def build(m, w):
        return m.nn.functional.embedding(m.tensor(idx), w, **kw)

    check(build, _rand(5, 3))


def test_embedding_0d_index():
    def build(m, w):
        return m.nn.functional.embedding(m.tensor(3), w)

    check(build, _rand(5, 4))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select(dim):
    def build(m, x):
        return x.index_select(dim, m.tensor([2, 0, 2, 1]))

    check(build, _rand(3, 4, 3))


def test_index_select_0d():
    def build(m, x):
        return x.index_select(0, m.tensor([0]))

    check(build, _rand())


@pytest.mark.parametrize("alpha", [1, 2.5])
def test_index_add(alpha):
    def build(m, x, s):
        return x.index_add(1, m.tensor([3, 0, 3]), s, alpha=alpha)

    check(build, _rand(2, 4, 2), _rand(2, 3, 2))


def test_index_add_0d():
    def build(m, x, s):
        return x.index_add(0, m.tensor([0]), s)

    check(build, _rand(), _rand())


def test_index_copy_and_fill():
    def build(m, x, s, v):
        i = m.tensor([2, 0])
        return x.index_copy(0, i, s), x.index_fill(1, i, v), x.index_fill(1, i, -1.5)

    check(build, _rand(3, 3), _rand(2, 3), _rand())


def test_masked_fill():
    mask = np.array([[True, False, True], [False, False, True]])

    def build(m, x, v):
        mk = m.tensor(mask)
        # a scalar value, a 0-d tensor value, and a mask of higher rank than the input
        return x.masked_fill(mk, 0.5), x.masked_fill(mk, v), x[0].masked_fill(mk, 2.0)

    check(build, _rand(2, 3), _rand())


def test_masked_select_and_scatter():
    mask = np.array([[True, False, True], [False, True, True]])

    def build(m, x, s):
        mk = m.tensor(mask)
        # broadcasting: the mask's rank is above the input's (select) and source is longer
        return m.masked_select(x[1], mk), x.masked_scatter(mk, s)

    check(build, _rand(2, 3), _rand(7))


@pytest.mark.parametrize("accumulate", [False, True])
def test_take_and_put(accumulate):
    idx = np.array([[5, 0], [3, 5]]) if accumulate else np.array([[5, 0], [3, 1]])

    def build(m, x, s):
        i = m.tensor(idx)
        return m.take(x, i), x.put(i, s, accumulate=accumulate)

    check(build, _rand(2, 3), _rand(2, 2))


# --- interpolation, padding, unfold / fold --------------------------------------------------
INTERP = [
    ((2, 3, 5), dict(scale_factor=2, mode="nearest")),
    ((2, 3, 5), dict(size=7, mode="linear", align_corners=True)),
    ((1, 2, 4, 5), dict(size=(7, 3), mode="nearest-exact")),
    ((1, 2, 4, 5), dict(scale_factor=1.5, mode="bilinear")),
    ((1, 2, 4, 5), dict(size=(6, 7), mode="bicubic", align_corners=False)),
    ((1, 1, 3, 4, 3), dict(scale_factor=2, mode="trilinear")),
    ((1, 1, 3, 4, 3), dict(size=(4, 5, 2), mode="nearest")),
    ((1, 2, 6, 5), dict(size=(3, 2), mode="area")),
]


@pytest.mark.parametrize("case", INTERP, ids=lambda c: f"{c[1]['mode']}-{len(c[0])}")
def test_interpolate(case):
    shape, kw = case

    def build(m, x):
        return m.nn.functional.interpolate(x, **kw)

    check(build, _rand(*shape))


PADS = [
    ((2, 3, 5), (2, 1), "reflect"),
    ((2, 3, 5), (0, 3), "replicate"),
    ((1, 2, 4, 5), (1, 2, 2, 0), "reflect"),
    ((2, 4, 5), (1, 1, 2, 2), "replicate"),  # unbatched 2-d
    ((1, 1, 3, 4, 3), (1, 1, 0, 2, 2, 1), "replicate"),
    ((1, 1, 3, 4, 3), (1, 1, 2, 1, 1, 2), "reflect"),
    ((1, 2, 4, 5), (1, 2, 2, 1), "circular"),
]


@pytest.mark.parametrize("case", PADS, ids=lambda c: f"{c[2]}-{len(c[0])}")
def test_pad(case):
    shape, pad, mode = case

    def build(m, x):
        return m.nn.functional.pad(x, pad, mode=mode)

    check(build, _rand(*shape))


@pytest.mark.parametrize("shape", [(2, 2, 5, 6), (2, 5, 6)])
def test_unfold_fold(shape):
    def build(m, x):
        F = m.nn.functional  # noqa: N806
        cols = F.unfold(x, (2, 3), padding=1, stride=(2, 1))
        return cols, F.fold(cols * cols, shape[-2:], (2, 3), padding=1, stride=(2, 1))

    check(build, _rand(*shape))


# --- a small CNN -------------------------------------------------------------------------------
def _cnn(m):
    rng = np.random.default_rng(7)
    params = [m.tensor(rng.standard_normal(s) * 0.3, requires_grad=True)
              for s in ((4, 2, 3, 3), (4,), (10, 4 * 5 * 5), (10,))]

    def logits(x):
        F = m.nn.functional  # noqa: N806
        h = F.max_pool2d(F.relu(F.conv2d(x, params[0], params[1])), 2)
        return F.linear(h.flatten(1), params[2], params[3])

    x = m.tensor(rng.standard_normal((3, 2, 12, 12)), requires_grad=True)
    return params, logits, x


def test_cnn_jacobian_and_batched_grads():
    """conv2d + relu + max_pool2d + linear + cross_entropy: the Jacobian of the logits with
    respect to the input (func.jacrev), and the batched gradients of the loss and the logits
    with respect to every parameter, as torch computes them, with no per-sample fallback."""
    results = {}
    for m in (tapegrad, torch):
        params, logits, x = _cnn(m)
        if m is tapegrad:
            BA.PER_SAMPLE.clear()
        jac = m.func.jacrev(logits)(x)
        out = logits(x)
        loss = m.nn.functional.cross_entropy(out, m.tensor([1, 7, 3]))
        gl = m.autograd.grad(loss, [x] + params, m.tensor([1.0, -2.0, 0.5]),
                             retain_graph=True, is_grads_batched=True)
        cot = m.tensor(np.random.default_rng(8).standard_normal((5,) + tuple(out.shape)))
        go = m.autograd.grad(out, [x] + params, cot, is_grads_batched=True)
        if m is tapegrad:
            assert BA.PER_SAMPLE == {}
        results[m] = [jac, *gl, *go]
    for k, (a, b) in enumerate(zip(results[tapegrad], results[torch])):
        _close(_np(a), _np(b), f"result {k}")


def test_cnn_hessian():
    """Second order (jacrev of jacrev, and hessian = jacfwd of jacrev) of a smooth CNN loss
    with respect to its input: the batched pass runs through the convolution's double
    backward and the pools' backward nodes, once for the batch."""
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal(s) * 0.3 for s in ((3, 2, 3, 3), (3,), (4, 27))]
    x0 = rng.standard_normal((1, 2, 6, 6))
    results = {}
    for m in (tapegrad, torch):
        w, b, w2 = (m.tensor(a) for a in arrays)

        def loss(x, m=m, w=w, b=b, w2=w2):
            F = m.nn.functional  # noqa: N806
            h = F.conv2d(x, w, b, padding=1).tanh()
            h = F.avg_pool2d(h, 2) + F.max_pool2d(h, 2)
            return F.linear(h.flatten(1), w2).sin().sum()

        x = m.tensor(x0)
        if m is tapegrad:
            BA.PER_SAMPLE.clear()
        res = [m.func.jacrev(m.func.jacrev(loss))(x), m.func.hessian(loss)(x)]
        if m is tapegrad:
            assert BA.PER_SAMPLE == {}
        results[m] = res
    for k, (a, b) in enumerate(zip(results[tapegrad], results[torch])):
        _close(_np(a), _np(b), f"result {k}")


# --- the backward nodes' own rules on a batch (second order) ---------------------------------
def _first_order(op):
    """build for check: op's input gradient from a create_graph pass (v the cotangent), so
    the batched pass runs through the backward's own node."""
    def build(m, x, v):
        return m.autograd.grad(op(m, x), x, v, create_graph=True)

    return build


SECOND = [
    ("max_pool2d", (2, 2, 5, 6), lambda m, x: m.nn.functional.max_pool2d(x, 3, 1, 1)),
    ("adaptive_max_pool1d", (2, 7), lambda m, x: m.nn.functional.adaptive_max_pool1d(x, 3)),
    ("avg_pool3d", (1, 1, 4, 4, 5), lambda m, x: m.nn.functional.avg_pool3d(x, 2, 1, 1)),
    ("adaptive_avg_pool2d", (1, 2, 5, 7),
     lambda m, x: m.nn.functional.adaptive_avg_pool2d(x, (3, 4))),
    ("embedding", (5, 3),
     lambda m, x: m.nn.functional.embedding(m.tensor([[1, 0], [4, 1]]), x, padding_idx=0)),
    ("index_select", (4, 3), lambda m, x: x.index_select(0, m.tensor([3, 0, 3]))),
    ("index_add", (4, 3), lambda m, x: x.index_add(0, m.tensor([3, 0, 3]), x[:3] * x[1:])),
    ("index_fill", (4, 3), lambda m, x: x.index_fill(1, m.tensor([2]), 1.0) * x),
    ("masked_fill", (2, 3),
     lambda m, x: x.masked_fill(m.tensor([True, False, True]), 0.0) * x),
    ("masked_select", (2, 3),
     lambda m, x: m.masked_select(x, m.tensor([True, False, True])) ** 2),
    ("take", (2, 3), lambda m, x: m.take(x, m.tensor([[5, 0], [3, 5]])) ** 2),
    ("interpolate", (1, 2, 3, 4),
     lambda m, x: m.nn.functional.interpolate(x, scale_factor=2, mode="bilinear")),
    ("pad", (1, 2, 3, 4), lambda m, x: m.nn.functional.pad(x, (2, 1, 1, 2), mode="reflect")),
    ("unfold", (1, 2, 4, 4), lambda m, x: m.nn.functional.unfold(x, 2) ** 2),
]


@pytest.mark.parametrize("case", SECOND, ids=lambda c: c[0])
def test_second_order(case):
    _, shape, op = case
    x = _rand(*shape)
    with tapegrad.no_grad():
        v = _rand(*op(tapegrad, tapegrad.tensor(x)).shape, seed=11)
    check(_first_order(op), x, v)

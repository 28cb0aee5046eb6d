"""Convolution, pooling, padding and resizing beyond the op table (tests/op_db/conv_pool.py):

- grids over stride / padding / dilation / groups / output_padding / ceil_mode /
  count_include_pad: output shapes, values, max-pool indices and gradients against torch;
- max-pool conventions: the first maximum of a window wins, a NaN wins, an all -inf window
  keeps its first position inside the input;
- double backward: the grad_fn names and requires_grad of first-order gradients taken with
  create_graph, as torch gives them (ConvolutionBackwardBackward0, ...), and third order;
- grad_fn chains of unbatched inputs, 1-d pools and linear;
- argument errors with PyTorch's messages;
- NumPy reference loops, so the core values are checked without torch too.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import tapegrad
from _helpers import to_numpy

try:
    import torch
except ImportError:  # pragma: no cover - the torch comparisons skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
TF = tapegrad.nn.functional


def _F(m):  # noqa: N802
    return m.nn.functional


def _run(m, fn, arrays, cot_seed=0):
    """(outputs, gradients of <v, output 0> for every input) for module m, float64."""
    xs = [m.tensor(a, requires_grad=True) for a in arrays]
    out = fn(m, *xs)
    first = out[0] if isinstance(out, tuple) else out
    v = np.random.default_rng(cot_seed).standard_normal(tuple(first.shape))
    gs = m.autograd.grad(first, xs, m.tensor(v), allow_unused=True)
    return out, [None if g is None else to_numpy(g) for g in gs]


def _compare(fn, arrays, atol=1e-10):
    ta, ga = _run(tapegrad, fn, arrays)
    tb, gb = _run(torch, fn, arrays)
    outs_a = ta if isinstance(ta, tuple) else (ta,)
    outs_b = tb if isinstance(tb, tuple) else (tb,)
    for a, b in zip(outs_a, outs_b):
        assert tuple(a.shape) == tuple(b.shape)
        if b.dtype == torch.int64:
            np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
        else:
            np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=atol, rtol=1e-9)
    for a, b in zip(ga, gb):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, atol=atol, rtol=1e-9)


# --- parameter grids ---------------------------------------------------------------------------
CONV_GRID = [c for c in itertools.product((1, 2, 3), (0, 1, 2, "same"), (1, 2), (1, 2))
             if not (c[1] == "same" and c[0] != 1)]


@needs_torch
@pytest.mark.parametrize("stride,padding,dilation,groups", CONV_GRID)
def test_conv2d_grid(stride, padding, dilation, groups):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((6, 4 // groups, 3, 2))
    b = rng.standard_normal(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'same' with an even kernel warns (both libraries)
        _compare(lambda m, x, w, b: _F(m).conv2d(x, w, b, stride, padding, dilation, groups),
                 [x, w, b])


CONVT_GRID = [c for c in itertools.product((1, 2), (0, 1), (0, 1), (1, 2), (1, 2))
              if c[2] < max(c[0], c[3])]


@needs_torch
@pytest.mark.parametrize("stride,padding,output_padding,dilation,groups", CONVT_GRID)
def test_conv_transpose2d_grid(stride, padding, output_padding, dilation, groups):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 4, 3))
    w = rng.standard_normal((4, 6 // groups, 2, 3))
    b = rng.standard_normal(6)
    _compare(lambda m, x, w, b: _F(m).conv_transpose2d(x, w, b, stride, padding, output_padding,
                                                       groups, dilation), [x, w, b])


@needs_torch
@pytest.mark.parametrize("n", [1, 3])
def test_conv_nd_and_transpose_nd(n):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2) + (5,) * n)
    w = rng.standard_normal((4, 1) + (2,) * n)
    b = rng.standard_normal(4)
    conv = f"conv{n}d"
    _compare(lambda m, x, w, b: getattr(_F(m), conv)(x, w, b, 2, 1, 2, 2), [x, w, b])
    xt = rng.standard_normal((2, 4) + (3,) * n)
    convt = f"conv_transpose{n}d"
    _compare(lambda m, x, w, b: getattr(_F(m), convt)(x, w, b[:2], 2, 1, 1, 2, 1), [xt, w, b])


POOL_GRID = [c for c in itertools.product((2, 3), (None, 1, 2), (0, 1), (1, 2), (False, True))
             if c[2] <= c[0] // 2]


@needs_torch
@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", POOL_GRID)
def test_max_pool2d_grid(kernel, stride, padding, dilation, ceil_mode):
    x = np.random.default_rng(4).permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) * 0.1
    _compare(lambda m, x: _F(m).max_pool2d(x, kernel, stride, padding, dilation, ceil_mode,
                                           return_indices=True), [x])


AVG_GRID = list(itertools.product((2, 3), (None, 1, 2), (0, 1), (False, True), (True, False),
                                  (None, 5)))


@needs_torch
@pytest.mark.parametrize("kernel,stride,padding,ceil_mode,count_include_pad,divisor", AVG_GRID)
def test_avg_pool2d_grid(kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    x = np.random.default_rng(5).standard_normal((2, 3, 7, 6))
    _compare(lambda m, x: _F(m).avg_pool2d(x, kernel, stride, padding, ceil_mode,
                                           count_include_pad, divisor), [x])


@needs_torch
@pytest.mark.parametrize("osize", [(1, 1), (2, 3), (3, 6), (4, 4), (7, 6), (9, 11), (5, None)])
def test_adaptive_pool2d_grid(osize):
    x = np.random.default_rng(6).permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) * 0.1
    _compare(lambda m, x: _F(m).adaptive_avg_pool2d(x, osize), [x])
    _compare(lambda m, x: _F(m).adaptive_max_pool2d(x, osize, return_indices=True), [x])


@needs_torch
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic", "area"])
@pytest.mark.parametrize("scale", [0.3, 0.5, 0.7, 1.0, 1.3, 2.0, 2.7, 3.0])
def test_interpolate_scales(mode, scale):
    x = np.random.default_rng(7).standard_normal((1, 2, 7, 5))
    aligns = [None] if mode in ("nearest", "nearest-exact", "area") else [False, True]
    for ac in aligns:
        _compare(lambda m, x: _F(m).interpolate(x, scale_factor=scale, mode=mode,
                                                align_corners=ac), [x])
        _compare(lambda m, x: _F(m).interpolate(x, scale_factor=scale, mode=mode,
                                                align_corners=ac, recompute_scale_factor=True),
                 [x])


@needs_torch
def test_float32_values_and_grads():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    for m_fn in (lambda m, x, w: _F(m).max_pool2d(_F(m).conv2d(x, w, padding=1), 2),
                 lambda m, x, w: _F(m).conv_transpose2d(_F(m).conv2d(x, w), w, stride=2),
                 lambda m, x, w: _F(m).interpolate(_F(m).conv2d(x, w), scale_factor=1.5,
                                                   mode="bicubic")):
        ta, ga = _run(tapegrad, m_fn, [x, w])
        tb, gb = _run(torch, m_fn, [x, w])
        assert ta.dtype is tapegrad.float32
        np.testing.assert_allclose(to_numpy(ta), to_numpy(tb), atol=1e-5, rtol=1e-5)
        for a, b in zip(ga, gb):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


# --- max-pool conventions ------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("adaptive", [False, True])
def test_max_pool_ties_nan_and_inf(adaptive):
    x = np.zeros((2, 2, 6, 7))
    x[0, 0, :3, :3] = 1.0  # ties: the first in row-major order wins
    x[0, 1, 1, 1] = x[0, 1, 1, 2] = np.nan  # NaN wins (the last NaN of the window)
    x[0, 1, 4, 4] = np.nan
    x[1, 0] = -np.inf  # all -inf: the window's first position inside the input
    x[1, 1, 2:, :] = np.inf

    def fn(m, t):
        if adaptive:
            return _F(m).adaptive_max_pool2d(t, (4, 3), return_indices=True)
        return _F(m).max_pool2d(t, 3, 2, 1, ceil_mode=True, return_indices=True)

    (va, ia), (vb, ib) = fn(tapegrad, tapegrad.tensor(x)), fn(torch, torch.tensor(x))
    np.testing.assert_array_equal(to_numpy(va), to_numpy(vb))
    np.testing.assert_array_equal(to_numpy(ia), to_numpy(ib))


@needs_torch
def test_pool_integer_inputs():
    x = np.arange(-20, 16).reshape(1, 1, 6, 6) * 7 % 23 - 11
    for fn in (lambda m, t: _F(m).max_pool2d(t, 3, 2, 1, return_indices=True),
               lambda m, t: (_F(m).avg_pool2d(t, 3, 2, 1),),
               lambda m, t: (_F(m).avg_pool2d(t, 2, count_include_pad=False, ceil_mode=True),)):
        for a, b in zip(fn(tapegrad, tapegrad.tensor(x)), fn(torch, torch.tensor(x))):
            assert str(a.dtype).split(".")[1] == str(b.dtype).split(".")[1]
            np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


# --- double backward -----------------------------------------------------------------------------
SECOND = [
    ("conv2d", lambda m, x, w: _F(m).conv2d(x, w, stride=2, padding=1)),
    ("conv_transpose2d", lambda m, x, w: _F(m).conv_transpose2d(x, w.transpose(0, 1), stride=2)),
    ("max_pool2d", lambda m, x, w: _F(m).max_pool2d(x, 3, 2, 1)),
    ("max_pool3d", lambda m, x, w: _F(m).max_pool3d(x.unsqueeze(2), (1, 2, 2))),
    ("avg_pool2d", lambda m, x, w: _F(m).avg_pool2d(x, 3, 2, 1)),
    ("adaptive_avg_pool2d", lambda m, x, w: _F(m).adaptive_avg_pool2d(x, (3, 2))),
    ("adaptive_max_pool2d", lambda m, x, w: _F(m).adaptive_max_pool2d(x, (3, 2))),
    ("reflect", lambda m, x, w: _F(m).pad(x, (1, 2, 2, 1), mode="reflect")),
    ("replicate", lambda m, x, w: _F(m).pad(x, (1, 2, 2, 1), mode="replicate")),
    ("constant", lambda m, x, w: _F(m).pad(x, (1, -1, 2, 1))),
    ("bilinear", lambda m, x, w: _F(m).interpolate(x, scale_factor=2, mode="bilinear")),
    ("nearest", lambda m, x, w: _F(m).interpolate(x, size=(7, 3))),
    ("pixel_unshuffle", lambda m, x, w: _F(m).pixel_unshuffle(x[..., :4, :4], 2)),
    ("unfold", lambda m, x, w: _F(m).unfold(x, 2)),
    ("fold", lambda m, x, w: _F(m).fold(x.reshape(2, 4, 25)[..., :4], (4, 4), 2, stride=2)),
    ("linear", lambda m, x, w: _F(m).linear(x, w.reshape(6, 8)[:3, :5])),
]


def _first_grads(m, fn, x, w, square):
    xs = [m.tensor(x, requires_grad=True), m.tensor(w, requires_grad=True)]
    y = fn(m, *xs)
    s = (y * y).sum() if square else y.sum()
    return xs, m.autograd.grad(s, xs, create_graph=True, allow_unused=True)


@needs_torch
@pytest.mark.parametrize("name,fn", SECOND, ids=[s[0] for s in SECOND])
def test_double_backward_nodes_and_values(name, fn):
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((6, 4, 1, 2))
    for square in (False, True):
        (xa, wa), ga = _first_grads(tapegrad, fn, x, w, square)
        (xb, wb), gb = _first_grads(torch, fn, x, w, square)
        for a, b in zip(ga, gb):
            assert (a is None) == (b is None)
            if b is None:
                continue
            assert a.requires_grad == b.requires_grad, (square, a.requires_grad)
            na = None if a.grad_fn is None else a.grad_fn.name()
            nb = None if b.grad_fn is None else b.grad_fn.name()
            assert na == nb, (square, na, nb)
            np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-10)
        if square:  # second order, then with create_graph once more (third order)
            va = [g for g in ga if g is not None and g.requires_grad]
            vb = [g for g in gb if g is not None and g.requires_grad]
            sa = sum(((g * g).sum() for g in va), tapegrad.tensor(0.0, dtype=tapegrad.float64))
            sb = sum(((g * g).sum() for g in vb), torch.tensor(0.0, dtype=torch.float64))
            hh_a = tapegrad.autograd.grad(sa, [xa, wa], create_graph=True, allow_unused=True)
            hh_b = torch.autograd.grad(sb, [xb, wb], create_graph=True, allow_unused=True)
            ta, tb = [], []
            for a, b in zip(hh_a, hh_b):
                if b is None:
                    assert a is None or not to_numpy(a).any()
                    continue
                np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-9)
                if b.requires_grad:
                    ta.append((a * a).sum())
                    tb.append((b * b).sum())
            if tb:
                third_a = tapegrad.autograd.grad(sum(ta), [xa, wa], allow_unused=True)
                third_b = torch.autograd.grad(sum(tb), [xb, wb], allow_unused=True)
                for u, v in zip(third_a, third_b):
                    if u is not None and v is not None:
                        np.testing.assert_allclose(to_numpy(u), to_numpy(v), atol=1e-8)


# --- grad_fn chains ------------------------------------------------------------------------------
def _tree(fn):
    """The names of the graph behind fn, as nested tuples (edges to no node left out)."""
    name = fn.name().rsplit("::", 1)[-1]
    return (name, tuple(_tree(n) for n, _ in fn.next_functions if n is not None))


CHAINS = [
    ("conv1d_unbatched", lambda m, x: _F(m).conv1d(x[0][0], m.ones(3, 6, 2, dtype=x.dtype))),
    ("conv2d_unbatched", lambda m, x: _F(m).conv2d(x[0], m.ones(2, 5, 2, 2, dtype=x.dtype))),
    ("conv_same_even", lambda m, x: _F(m).conv2d(x, m.ones(1, 5, 2, 2, dtype=x.dtype),
                                                 padding="same")),
    ("max_pool1d", lambda m, x: _F(m).max_pool1d(x[0], 2)),
    ("max_pool1d_indices", lambda m, x: _F(m).max_pool1d(x[0], 2, return_indices=True)[0]),
    ("avg_pool1d", lambda m, x: _F(m).avg_pool1d(x[0], 2)),
    ("adaptive_avg_pool1d", lambda m, x: _F(m).adaptive_avg_pool1d(x[0], 3)),
    ("adaptive_avg_global", lambda m, x: _F(m).adaptive_avg_pool2d(x, 1)),
    ("adaptive_max_pool1d", lambda m, x: _F(m).adaptive_max_pool1d(x[0], 3)),
    ("lp_pool2d", lambda m, x: _F(m).lp_pool2d(x, 2, 2)),
    ("pixel_shuffle", lambda m, x: _F(m).pixel_shuffle(x[:, :4], 2)),
    ("bilinear", lambda m, x: _F(m).bilinear(x[0][0], x[0][1], m.ones(3, 6, 6, dtype=x.dtype),
                                             x[0][0][0][:3])),
] + [(f"linear_{shape}_{bias}", (lambda s, b: lambda m, x: _F(m).linear(
    x.reshape(-1)[:int(np.prod(s))].reshape(s), m.ones(4, 6, dtype=x.dtype),
    m.ones(4, dtype=x.dtype) if b else None))(shape, bias))
    for shape in [(6,), (3, 6), (2, 3, 6), (2, 2, 3, 6)] for bias in (False, True)]


@needs_torch
@pytest.mark.parametrize("name,fn", CHAINS, ids=[c[0] for c in CHAINS])
def test_grad_fn_chains(name, fn):
    x = np.random.default_rng(10).standard_normal((2, 5, 6, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = fn(tapegrad, tapegrad.tensor(x, requires_grad=True))
        b = fn(torch, torch.tensor(x, requires_grad=True))
    assert _tree(a.grad_fn) == _tree(b.grad_fn)
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-10)


@needs_torch
def test_linear_noncontiguous_input_chain():
    x = np.random.default_rng(11).standard_normal((3, 2, 6))
    w, b = np.ones((4, 6)), np.ones(4)
    outs = []
    for m in (tapegrad, torch):
        t = m.tensor(x, requires_grad=True).transpose(0, 1)
        outs.append(_F(m).linear(t, m.tensor(w), m.tensor(b, requires_grad=True)))
    assert _tree(outs[0].grad_fn) == _tree(outs[1].grad_fn)


def test_same_padding_warning():
    # (PyTorch warns once per process, so its warning is not compared here)
    x, w = tapegrad.ones(1, 1, 4, 4), tapegrad.ones(1, 1, 2, 2)
    with pytest.warns(UserWarning, match="Using padding='same' with even kernel lengths and "
                                         "odd dilation may require a zero-padded copy"):
        TF.conv2d(x, w, padding="same")


# --- errors --------------------------------------------------------------------------------------
def _t(m, *shape, dtype="float32"):
    return m.ones(*shape, dtype=getattr(m, dtype))


ERRORS = [
    ("conv_channels", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 2, 3, 3))),
    ("conv_kernel_big", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 7, 7))),
    ("conv_dims", lambda m: _F(m).conv2d(_t(m, 5, 5), _t(m, 8, 3, 3, 3))),
    ("conv1d_dims", lambda m: _F(m).conv1d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3))),
    ("conv_stride_len", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3),
                                               stride=(1, 1, 1))),
    ("conv_padding_len", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3),
                                                padding=(1, 2, 3))),
    ("conv_bias", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3), _t(m, 7))),
    ("conv_groups_div", lambda m: _F(m).conv2d(_t(m, 1, 4, 5, 5), _t(m, 6, 2, 3, 3),
                                               groups=4)),
    ("conv_groups_ch", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 1, 3, 3), groups=2)),
    ("conv_stride0", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3), stride=0)),
    ("conv_neg_pad", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3), padding=-1)),
    ("conv_dil0", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3), dilation=0)),
    ("conv_dil_neg", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3), dilation=-1)),
    ("conv_dil0_partial", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3),
                                                 dilation=(0, 1))),
    ("conv1d_dil0", lambda m: _F(m).conv1d(_t(m, 3, 5, 5), _t(m, 8, 5, 3), dilation=0)),
    ("convt_dil0", lambda m: _F(m).conv_transpose2d(_t(m, 1, 3, 5, 5), _t(m, 3, 2, 3, 3),
                                                    dilation=0)),
    ("convolution_dil0", lambda m: m.convolution(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3), None,
                                                 [1], [0], [0], False, [0], 1)),
    ("conv_weight_5d", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3, 3))),
    ("convt_outpad_len", lambda m: _F(m).conv_transpose2d(_t(m, 1, 3, 5, 5), _t(m, 3, 2, 3, 3),
                                                          output_padding=(1, 1, 1))),
    ("conv_groups_first", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3),
                                                 groups=-1, stride=0)),
    ("conv_weight_dims", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3))),
    ("conv_groups_small", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 2, 3, 3, 3),
                                                 groups=3)),
    ("convt_neg_outpad", lambda m: _F(m).conv_transpose2d(_t(m, 1, 3, 5, 5), _t(m, 3, 2, 3, 3),
                                                          output_padding=-1)),
    ("convt1d_outpad", lambda m: _F(m).conv_transpose1d(_t(m, 1, 3, 5), _t(m, 3, 2, 3),
                                                        output_padding=1)),
    ("conv_groups0", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3), groups=0)),
    ("conv_same_stride", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3), stride=2,
                                                padding="same")),
    ("conv_pad_string", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3),
                                               padding="foo")),
    ("conv_dtype", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3,
                                                                dtype="float64"))),
    ("conv_bias_dtype", lambda m: _F(m).conv2d(_t(m, 1, 3, 5, 5), _t(m, 8, 3, 3, 3),
                                               _t(m, 8, dtype="float64"))),
    ("convt_channels", lambda m: _F(m).conv_transpose2d(_t(m, 1, 3, 5, 5), _t(m, 2, 3, 3, 3))),
    ("convt_outpad", lambda m: _F(m).conv_transpose2d(_t(m, 1, 3, 5, 5), _t(m, 3, 2, 3, 3),
                                                      output_padding=1)),
    ("convt3d_outpad", lambda m: _F(m).conv_transpose3d(_t(m, 1, 3, 1, 5, 5),
                                                        _t(m, 3, 2, 1, 3, 3), output_padding=1)),
    ("convt_small", lambda m: _F(m).conv_transpose2d(_t(m, 1, 3, 5, 5), _t(m, 3, 2, 3, 3),
                                                     padding=5)),
    ("convt_bias", lambda m: _F(m).conv_transpose2d(_t(m, 1, 3, 5, 5), _t(m, 3, 2, 3, 3),
                                                    _t(m, 3))),
    ("convt_string", lambda m: _F(m).conv_transpose2d(_t(m, 1, 3, 5, 5), _t(m, 3, 2, 3, 3),
                                                      padding="same")),
    ("convolution_dims", lambda m: m.convolution(_t(m, 3, 5, 5), _t(m, 8, 3, 3, 3), None, [1],
                                                 [0], [1], False, [0], 1)),
    ("maxpool_small", lambda m: _F(m).max_pool2d(_t(m, 1, 3, 5, 5), 7)),
    ("maxpool_pad", lambda m: _F(m).max_pool2d(_t(m, 1, 3, 5, 5), 2, padding=2)),
    ("maxpool_neg_pad", lambda m: _F(m).max_pool2d(_t(m, 1, 3, 5, 5), 2, padding=-1)),
    ("maxpool_k0", lambda m: _F(m).max_pool2d(_t(m, 1, 3, 5, 5), 0)),
    ("maxpool_dil0", lambda m: _F(m).max_pool2d(_t(m, 1, 3, 5, 5), 2, dilation=0)),
    ("maxpool_dims", lambda m: _F(m).max_pool2d(_t(m, 5, 5), 2)),
    ("maxpool_klen", lambda m: _F(m).max_pool2d(_t(m, 1, 3, 5, 5), (2, 2, 2))),
    ("maxpool_slen", lambda m: _F(m).max_pool2d(_t(m, 1, 3, 5, 5), 2, stride=(1, 1, 1))),
    ("maxpool_empty", lambda m: _F(m).max_pool2d(_t(m, 1, 0, 5, 5), 2)),
    ("maxpool_pad_dilated", lambda m: _F(m).max_pool2d(_t(m, 1, 3, 9, 9), 2, padding=2,
                                                       dilation=3)),
    ("maxpool3d_small", lambda m: _F(m).max_pool3d(_t(m, 1, 3, 5, 5), 7)),
    ("maxpool1d_small", lambda m: _F(m).max_pool1d(_t(m, 3, 5, 5), 7)),
    ("maxpool1d_pad", lambda m: _F(m).max_pool1d(_t(m, 3, 5, 5), 2, padding=2)),
    ("maxpool1d_dims", lambda m: _F(m).max_pool1d(_t(m, 1, 3, 5, 5), 2)),
    ("maxpool1d_klen", lambda m: _F(m).max_pool1d(_t(m, 3, 5, 5), (2, 2))),
    ("maxpool1d_k0", lambda m: _F(m).max_pool1d(_t(m, 3, 5, 5), 0)),
    ("maxpool1d_idx_small", lambda m: _F(m).max_pool1d(_t(m, 3, 5, 5), 7, return_indices=True)),
    ("maxpool1d_idx_dims", lambda m: _F(m).max_pool1d(_t(m, 1, 3, 5, 5), 2,
                                                      return_indices=True)),
    ("avgpool_small", lambda m: _F(m).avg_pool2d(_t(m, 1, 3, 5, 5), 7)),
    ("avgpool_pad", lambda m: _F(m).avg_pool2d(_t(m, 1, 3, 5, 5), 2, padding=2)),
    ("avgpool_stride0", lambda m: _F(m).avg_pool2d(_t(m, 1, 3, 5, 5), 2, stride=0)),
    ("avgpool_dims", lambda m: _F(m).avg_pool2d(_t(m, 5, 5), 2)),
    ("avgpool_divisor", lambda m: _F(m).avg_pool2d(_t(m, 1, 3, 5, 5), 2, divisor_override=0)),
    ("avgpool_klen", lambda m: _F(m).avg_pool2d(_t(m, 1, 3, 5, 5), (2, 2, 2))),
    ("avgpool3d_small", lambda m: _F(m).avg_pool3d(_t(m, 1, 3, 5, 5), 7)),
    ("avgpool1d_small", lambda m: _F(m).avg_pool1d(_t(m, 3, 5, 5), 7)),
    ("avgpool1d_dims", lambda m: _F(m).avg_pool1d(_t(m, 1, 3, 5, 5), 2)),
    ("avgpool1d_klen", lambda m: _F(m).avg_pool1d(_t(m, 3, 5, 5), (2, 2))),
    ("adaptive_len", lambda m: _F(m).adaptive_avg_pool2d(_t(m, 1, 3, 5, 5), (2, 2, 2))),
    ("adaptive_dims", lambda m: _F(m).adaptive_avg_pool2d(_t(m, 5, 5), 2)),
    ("adaptive_max_dims", lambda m: _F(m).adaptive_max_pool2d(_t(m, 5, 5), 2)),
    ("adaptive_max_len", lambda m: _F(m).adaptive_max_pool2d(_t(m, 1, 3, 5, 5), (2, 3, 4))),
    ("adaptive_neg", lambda m: _F(m).adaptive_avg_pool2d(_t(m, 1, 3, 5, 5), -1)),
    ("adaptive_empty", lambda m: _F(m).adaptive_avg_pool2d(_t(m, 1, 3, 0, 4), 3)),
    ("adaptive1d_dims", lambda m: _F(m).adaptive_avg_pool1d(_t(m, 1, 3, 5, 5), 2)),
    ("adaptive1d_len", lambda m: _F(m).adaptive_max_pool1d(_t(m, 3, 5, 5), (2, 3))),
    ("adaptive_long", lambda m: _F(m).adaptive_max_pool2d(_t(m, 1, 3, 5, 5, dtype="int64"), 2)),
    ("pad_odd", lambda m: _F(m).pad(_t(m, 1, 3, 5, 5), (1, 2, 3))),
    ("pad_long", lambda m: _F(m).pad(_t(m, 1, 3, 5, 5), (1,) * 10)),
    ("pad_mode", lambda m: _F(m).pad(_t(m, 1, 3, 5, 5), (1, 1), mode="foo")),
    ("pad_reflect_dims", lambda m: _F(m).pad(_t(m, 1, 3, 5, 5), (1, 1), mode="reflect")),
    ("pad_reflect_big", lambda m: _F(m).pad(_t(m, 1, 3, 5, 5), (5, 5, 1, 1), mode="reflect")),
    ("pad_reflect_big_h", lambda m: _F(m).pad(_t(m, 1, 3, 5, 5), (1, 1, 5, 1), mode="reflect")),
    ("pad_reflect_big_d", lambda m: _F(m).pad(_t(m, 1, 2, 3, 4, 5), (1, 1, 1, 1, 3, 1),
                                              mode="reflect")),
    ("pad_reflect_empty", lambda m: _F(m).pad(_t(m, 3, 0), (2, 2), mode="reflect")),
    ("pad_replicate_value", lambda m: _F(m).pad(_t(m, 1, 3, 5, 5), (1, 1), mode="replicate",
                                                value=2.0)),
    ("pad_replicate_small", lambda m: _F(m).pad(_t(m, 3, 5), (-3, -3), mode="replicate")),
    ("pad_circular_wrap", lambda m: _F(m).pad(_t(m, 1, 3, 5), (6, 1), mode="circular")),
    ("pad_circular_empty", lambda m: _F(m).pad(_t(m, 1, 3, 5), (-3, -3), mode="circular")),
    ("pad_narrow", lambda m: _F(m).pad(_t(m, 1, 3, 5, 5), (-6, 1))),
    ("constant_pad_odd", lambda m: m.constant_pad_nd(_t(m, 1, 3, 5, 5), (1, 1, 1))),
    ("constant_pad_long", lambda m: m.constant_pad_nd(_t(m, 2, 2), (1,) * 6)),
    ("interp_both", lambda m: _F(m).interpolate(_t(m, 1, 3, 5, 5), size=3, scale_factor=2)),
    ("interp_none", lambda m: _F(m).interpolate(_t(m, 1, 3, 5, 5))),
    ("interp_size_len", lambda m: _F(m).interpolate(_t(m, 1, 3, 5, 5), size=(2, 3, 4))),
    ("interp_scale_len", lambda m: _F(m).interpolate(_t(m, 1, 3, 5, 5), scale_factor=(2., 3.,
                                                                                     4.))),
    ("interp_linear_4d", lambda m: _F(m).interpolate(_t(m, 1, 3, 5, 5), scale_factor=2,
                                                     mode="linear")),
    ("interp_bilinear_3d", lambda m: _F(m).interpolate(_t(m, 3, 5, 5), scale_factor=2,
                                                       mode="bilinear")),
    ("interp_mode", lambda m: _F(m).interpolate(_t(m, 1, 3, 5, 5), scale_factor=2, mode="foo")),
    ("interp_align", lambda m: _F(m).interpolate(_t(m, 1, 3, 5, 5), scale_factor=2,
                                                 align_corners=True)),
    ("interp_recompute_size", lambda m: _F(m).interpolate(_t(m, 1, 3, 5, 5), size=3,
                                                          recompute_scale_factor=True)),
    ("interp_zero", lambda m: _F(m).interpolate(_t(m, 1, 3, 5, 5), scale_factor=0.1)),
    ("interp_zero_3d", lambda m: _F(m).interpolate(_t(m, 1, 3, 3, 1, 6), scale_factor=0.5,
                                                   mode="trilinear")),
    ("interp_long", lambda m: _F(m).interpolate(_t(m, 1, 3, 5, 5, dtype="int64"),
                                                scale_factor=2)),
    ("shuffle_channels", lambda m: _F(m).pixel_shuffle(_t(m, 1, 3, 5, 5), 2)),
    ("shuffle_dims", lambda m: _F(m).pixel_shuffle(_t(m, 5, 5), 2)),
    ("unshuffle_height", lambda m: _F(m).pixel_unshuffle(_t(m, 1, 3, 5, 6), 2)),
    ("unshuffle_width", lambda m: _F(m).pixel_unshuffle(_t(m, 1, 3, 6, 5), 2)),
    ("unshuffle_dims", lambda m: _F(m).pixel_unshuffle(_t(m, 6, 6), 2)),
    ("unfold_big", lambda m: _F(m).unfold(_t(m, 1, 3, 5, 5), 7)),
    ("unfold_dims", lambda m: _F(m).unfold(_t(m, 1, 2, 3, 4, 5), 2)),
    ("fold_blocks", lambda m: _F(m).fold(_t(m, 1, 12, 5), (4, 4), 2)),
    ("fold_channels", lambda m: _F(m).fold(_t(m, 1, 11, 9), (4, 4), 2)),
    ("fold_dims", lambda m: _F(m).fold(_t(m, 4), (3, 3), 2)),
    ("linear_shapes", lambda m: _F(m).linear(_t(m, 3, 4), _t(m, 5, 6))),
    ("linear_bias", lambda m: _F(m).linear(_t(m, 3, 6), _t(m, 5, 6), _t(m, 4))),
    ("linear_bias_2d", lambda m: _F(m).linear(_t(m, 3, 6), _t(m, 5, 6), _t(m, 4, 5))),
    ("linear_dtype", lambda m: _F(m).linear(_t(m, 3, 6), _t(m, 5, 6, dtype="float64"))),
    ("linear_bias_dtype", lambda m: _F(m).linear(_t(m, 3, 6), _t(m, 5, 6),
                                                 _t(m, 5, dtype="float64"))),
    ("linear_0d", lambda m: _F(m).linear(m.ones(()), _t(m, 5, 6))),
    ("linear_1d_weight_bias", lambda m: _F(m).linear(_t(m, 3, 6), _t(m, 6), _t(m, 3))),
    ("bilinear_in2", lambda m: _F(m).bilinear(_t(m, 3, 6), _t(m, 3, 4), _t(m, 2, 6, 5))),
    ("bilinear_batch", lambda m: _F(m).bilinear(_t(m, 3, 6), _t(m, 2, 4), _t(m, 2, 6, 4))),
    ("bilinear_in1", lambda m: _F(m).bilinear(_t(m, 3, 5), _t(m, 3, 4), _t(m, 2, 6, 4))),
    ("bilinear_bias", lambda m: _F(m).bilinear(_t(m, 3, 6), _t(m, 3, 4), _t(m, 2, 6, 4),
                                               _t(m, 3))),
]


@needs_torch
@pytest.mark.parametrize("name,call", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name, call):
    with pytest.raises(Exception) as theirs:  # noqa: PT011 - compared below
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(tapegrad)
    assert str(ours.value) == str(theirs.value).replace("torch.", "tapegrad.")


# --- NumPy references (no torch needed) ----------------------------------------------------------
def _conv2d_ref(x, w, b, stride, pad, dil, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    ow = (wd + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg, i * stride:i * stride + dil * (kh - 1) + 1:dil,
                           j * stride:j * stride + dil * (kw - 1) + 1:dil]
                out[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3)) + b[oc]
    return out


@pytest.mark.parametrize("stride,pad,dil,groups", [(1, 0, 1, 1), (2, 1, 1, 2), (1, 2, 2, 1),
                                                   (3, 1, 2, 2)])
def test_conv2d_matches_loops(stride, pad, dil, groups):
    rng = np.random.default_rng(12)
    x, w, b = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((4, 4 // groups, 3, 2)), \
        rng.standard_normal(4)
    want = _conv2d_ref(x, w, b, stride, pad, dil, groups)
    got = TF.conv2d(tapegrad.tensor(x), tapegrad.tensor(w), tapegrad.tensor(b), stride, pad, dil,
                    groups)
    np.testing.assert_allclose(to_numpy(got), want, atol=1e-12)
    # the transposed convolution is the adjoint: <conv(x), y> = <x, conv_transpose(y)>
    y = rng.standard_normal(want.shape)
    # output_padding restores the rows and columns the strided windows never reach
    size = [(o - 1) * stride - 2 * pad + dil * (k - 1) + 1 for o, k in zip(want.shape[2:],
                                                                        w.shape[2:])]
    opad = tuple(s - z for s, z in zip(x.shape[2:], size))
    back = TF.conv_transpose2d(tapegrad.tensor(y), tapegrad.tensor(w), None, stride, pad,
                               output_padding=opad, groups=groups, dilation=dil)
    lhs = ((want - b[None, :, None, None]) * y).sum()
    np.testing.assert_allclose(lhs, (x * to_numpy(back)).sum(), rtol=1e-10)


def test_pools_match_loops():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 7, 6))
    mx, idx = TF.max_pool2d(tapegrad.tensor(x), 3, 2, 1, return_indices=True)
    av = TF.avg_pool2d(tapegrad.tensor(x), 3, 2, 1, count_include_pad=False)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=np.nan)
    for i in range(mx.shape[2]):
        for j in range(mx.shape[3]):
            win = xp[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3].reshape(2, 3, -1)
            np.testing.assert_allclose(to_numpy(mx)[:, :, i, j], np.nanmax(win, -1))
            np.testing.assert_allclose(to_numpy(av)[:, :, i, j], np.nanmean(win, -1))
    flat = x.reshape(2, 3, -1)
    picked = np.take_along_axis(flat, to_numpy(idx).reshape(2, 3, -1), -1)
    np.testing.assert_array_equal(picked.reshape(mx.shape), to_numpy(mx))


def test_pixel_shuffle_and_unfold_inverses():
    x = tapegrad.tensor(np.random.default_rng(14).standard_normal((2, 8, 3, 5)))
    np.testing.assert_array_equal(to_numpy(TF.pixel_unshuffle(TF.pixel_shuffle(x, 2), 2)),
                                  to_numpy(x))
    cols = TF.unfold(x, 2, stride=2, padding=(1, 0))
    assert tuple(cols.shape) == (2, 32, 4)
    back = TF.fold(cols, (3, 5), 2, stride=2, padding=(1, 0))
    # non-overlapping blocks: fold(unfold(x)) is x where blocks cover it, 0 elsewhere
    np.testing.assert_array_equal(to_numpy(back)[..., :4], to_numpy(x)[..., :4])
    np.testing.assert_array_equal(to_numpy(back)[..., 4], 0)


def test_no_graph_without_grad():
    x = tapegrad.ones(1, 2, 6, 6, requires_grad=True)
    w = tapegrad.ones(3, 2, 3, 3)
    with tapegrad.no_grad():
        ys = [TF.conv2d(x, w), TF.max_pool2d(x, 2), TF.avg_pool2d(x, 2),
              TF.interpolate(x, scale_factor=2), TF.pad(x, (1, 1), mode="constant")]
    assert all(y.grad_fn is None and not y.requires_grad for y in ys)
    y = TF.conv2d(tapegrad.ones(1, 2, 6, 6), w)
    assert y.grad_fn is None and y.is_contiguous()


@pytest.mark.parametrize("peer", ["autograd", "jax"])
def test_w7_other_peers_agree_where_installed(peer):
    pytest.importorskip(peer)
    import os
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    from benchmarks import w7_cnn

    got = w7_cnn.make(peer, w7_cnn.SMOKE_PARAMS)()
    want = w7_cnn.make("tapegrad", w7_cnn.SMOKE_PARAMS)()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("module", ["conv", "pool", "pool_avg", "pool_adaptive", "pad_resize",
                                    "interpolate", "linear"])
def test_docstring_examples(module):
    import doctest
    import importlib

    mod = importlib.import_module(f"tapegrad.ops.{module}")
    res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0


def test_public_names():
    for name in ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "linear", "bilinear", "max_pool1d", "max_pool2d",
                 "max_pool3d", "max_pool2d_with_indices", "avg_pool1d", "avg_pool2d",
                 "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
                 "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices",
                 "lp_pool1d", "lp_pool2d", "pad", "interpolate", "pixel_shuffle",
                 "pixel_unshuffle", "unfold", "fold"):
        assert callable(getattr(TF, name)), name
    for name in ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "convolution", "bilinear", "max_pool1d", "max_pool2d", "max_pool3d",
                 "max_pool1d_with_indices", "avg_pool1d", "adaptive_avg_pool1d",
                 "pixel_shuffle", "pixel_unshuffle", "constant_pad_nd"):
        assert callable(getattr(tapegrad, name)), name
        if torch is not None:
            assert hasattr(torch, name), name

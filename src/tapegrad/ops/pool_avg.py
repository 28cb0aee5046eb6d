"""Average and power-average pooling over 1, 2 or 3 spatial dims.

  avg_pool (AvgPool{nd}DBackward0)  out = window sums / divisor, a linear map A (the divisor
      is the window clipped to the padded input, or to the input with count_include_pad=False,
      or divisor_override). vjp: A^T g (AvgPool{nd}DBackwardBackward0), whose vjp is A again.
  lp_pool  (sum of x^p over the window)^(1/p), composed as PyTorch composes it.

Windows are visited by a loop over the kernel offsets only (whole-array steps); avg_pool1d is
avg_pool2d over an unsqueezed dim, as in PyTorch.
"""

from __future__ import annotations

import functools

import numpy as np

from .._tensor import Tensor
from ..autograd.graph import Node
from . import _conv_kernels as K
from ._core import batched_cotangent, is_batched_value, new_node, rebatch, save, wrap
from .pool import (
    _WORDS,
    _check_pool,
    _expand,
    _padded_to,
    _tuple,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    pool_out,
    repeat_like,
    zeros_for,
)
from .shape import squeeze, unsqueeze

__all__ = ["avg_pool1d"]
FUNCTIONAL = ["avg_pool1d", "avg_pool2d", "avg_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d"]


# --- average pooling -----------------------------------------------------------------------------
class _AvgGeometry:
    """Output size, padded extent, window slices and divisors of one average pooling,
    computed once per (input size, parameters, dtype) and cached."""

    __slots__ = ("osize", "padded", "full", "slices", "div", "valid")

    def __init__(self, size, k, s, p, ceil_mode, count_include_pad, divisor_override,
                 dtype) -> None:
        nd = len(k)
        self.osize = osize = tuple(pool_out(sz, kk, pp, st, 1, ceil_mode)
                                   for sz, kk, pp, st in zip(size, k, p, s))
        self.full = tuple(max(sz + 2 * pp, (o - 1) * st + kk)
                          for sz, pp, o, st, kk in zip(size, p, osize, s, k))
        self.padded = self.full != tuple(size)
        self.slices = [(Ellipsis,) + sl for _, sl in K.offset_slices(k, s, (1,) * nd, osize)]
        # the divisor of each output: its window clipped to the padded input (pool), or to
        # the input itself (clip), as PyTorch's kernel computes them
        pool = np.ones((), dtype=np.int64)
        clip = np.ones((), dtype=np.int64)
        for i in range(nd):
            start = np.arange(osize[i]) * s[i] - p[i]
            end = np.minimum(start + k[i], size[i] + p[i])
            shp = (-1,) + (1,) * (nd - 1 - i)
            pool = pool * (end - start).reshape(shp)
            clip = clip * (np.minimum(end, size[i]) - np.maximum(start, 0)).reshape(shp)
        if divisor_override:
            div = np.full(clip.shape, divisor_override, dtype=np.int64)
        else:
            div = pool if count_include_pad else clip
        dt = np.dtype(dtype)
        self.div = div.astype(dt) if dt.kind in "fc" else div.copy()
        self.valid = None if (clip > 0).all() else clip > 0
        self.div.flags.writeable = False  # shared through the cache


@functools.lru_cache(maxsize=256)
def _avg_geometry(size, params, dtype) -> _AvgGeometry:
    k, s, p, ceil_mode, cip, dov = params
    return _AvgGeometry(size, k, s, p, ceil_mode, cip, dov, dtype)


def _divide(total: np.ndarray, div: np.ndarray, valid) -> np.ndarray:
    if total.dtype.kind in "fc":
        out = np.divide(total, div, out=total)
    else:  # integer pooling divides as C++ does (truncating toward zero)
        q = np.abs(total) // div
        out = np.where(total < 0, -q, q).astype(total.dtype)
    if valid is not None:  # (empty windows give 0)
        out = np.where(valid, out, 0).astype(total.dtype)
    return out


class _AvgPoolNode(Node):
    __slots__ = ("p",)  # (k, s, pad, ceil_mode, count_include_pad, divisor_override)
    back = None

    def vjp(self, g):
        (x,) = self.saved_tensors()
        return _avg_pool_backward(g, x, self.p, type(self).back)


class _AvgPoolBackwardNode(Node):
    # inputs (g, x): linear in g (its vjp is the pooling again); x gets a zero gradient
    __slots__ = ("p",)
    fwd = None

    def vjp(self, gg):
        gi = _avg_pool(gg, self.p, type(self).fwd) if self._next[0][0] is not None else None
        return gi, zeros_for(self, 1)


class AvgPool2DBackwardBackward0(_AvgPoolBackwardNode):
    __slots__ = ()


class AvgPool3DBackwardBackward0(_AvgPoolBackwardNode):
    __slots__ = ()


class AvgPool2DBackward0(_AvgPoolNode):
    __slots__ = ()
    back = AvgPool2DBackwardBackward0


class AvgPool3DBackward0(_AvgPoolNode):
    __slots__ = ()
    back = AvgPool3DBackwardBackward0


AvgPool2DBackwardBackward0.fwd = AvgPool2DBackward0
AvgPool3DBackwardBackward0.fwd = AvgPool3DBackward0


def _avg_pool(x: Tensor, params, cls) -> Tensor:
    if type(x) is not Tensor:  # a batch of cotangents (double backward under vmap)
        b = batched_cotangent(x)
        if b is not None:  # pooling reads the trailing dims only: the batch is one more
            return rebatch(_avg_pool(b[0], params, cls), b[1])
    k, s, p = params[:3]
    a = x._data
    nd = len(k)
    geo = _avg_geometry(a.shape[-nd:], params, a.dtype.str)
    xp = _padded_to(a, nd, p, geo.osize, k, s, (1,) * nd, 0) if geo.padded else a
    total = xp[geo.slices[0]].copy()
    for sl in geo.slices[1:]:
        total += xp[sl]
    node = new_node(cls, (x,))
    if node is not None:
        node.p = params
        save(node, x)
    return wrap(_divide(total, geo.div, geo.valid), node)


def _avg_pool_backward(g: Tensor, x: Tensor, params, cls) -> Tensor:
    # A^T g: each output's g / divisor added back to every input position of its window
    if type(g) is not Tensor:  # a batch of cotangents under vmap: the batch as a leading dim
        b = batched_cotangent(g)
        if b is not None and not is_batched_value(x):
            return rebatch(_avg_pool_backward(b[0], repeat_like(x, b[0].shape[0]), params, cls),
                           b[1])
    k, s, p = params[:3]
    ga = g._data
    in_shape = x._data.shape
    nd = len(k)
    size = in_shape[-nd:]
    geo = _avg_geometry(size, params, ga.dtype.str)
    gd = _divide(ga.copy(), geo.div, geo.valid)
    gxp = np.zeros(tuple(in_shape[:-nd]) + geo.full, dtype=ga.dtype)
    for sl in geo.slices:
        gxp[sl] += gd
    gx = gxp
    if geo.padded:
        gx = np.ascontiguousarray(gxp[(Ellipsis,) + tuple(slice(pp, pp + sz)
                                                          for pp, sz in zip(p, size))])
    node = new_node(cls, (g, x))
    if node is not None:
        node.p = params
    return wrap(gx, node)


def _avg_pool_nd(nd: int, input: Tensor, kernel_size, stride, padding, ceil_mode,  # noqa: A002
                 count_include_pad, divisor_override) -> Tensor:
    name = f"avg_pool{nd}d"
    w = _WORDS[nd]
    k = _tuple(kernel_size, nd)
    if len(k) not in (1, nd):
        raise RuntimeError(f"{name}: kernel_size must either be a single int, or a tuple of {w} "
                           "ints")
    s = () if stride is None else _tuple(stride, nd)
    if len(s) not in (0, 1, nd):
        raise RuntimeError(f"{name}: stride must either be omitted, a single int, or a tuple of "
                           f"{w} ints")
    p = _tuple(padding, nd)
    if len(p) not in (1, nd):
        raise RuntimeError(f"{name}: padding must either be a single int, or a tuple of {w} ints")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    a = input._data
    if a.ndim < nd + 1:
        lo = -max(a.ndim, 1)
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {-lo - 1}], "
                         f"but got {-nd - 1})")
    k = _expand(k, nd)
    s = k if not s else _expand(s, nd)
    p = _expand(p, nd)
    _check_pool(name, nd, a, k, s, p, (1,) * nd, ceil_mode, True)
    cls = AvgPool2DBackward0 if nd == 2 else AvgPool3DBackward0
    return _avg_pool(input, (k, s, p, bool(ceil_mode), bool(count_include_pad),
                             divisor_override), cls)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over sliding windows of the last two dims (zero padding counted in the divisor
    unless count_include_pad=False; divisor_override replaces the divisor).

    >>> import tapegrad
    >>> tapegrad.nn.functional.avg_pool2d(tapegrad.arange(16.).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 2.5000,  4.5000],
              [10.5000, 12.5000]]]])
    """
    return _avg_pool_nd(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override)


def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over sliding windows of the last three dims.

    >>> import tapegrad
    >>> tapegrad.nn.functional.avg_pool3d(tapegrad.ones(1, 1, 2, 2, 2), 2).shape
    tapegrad.Size([1, 1, 1, 1, 1])
    """
    return _avg_pool_nd(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True) -> Tensor:
    """Mean over sliding windows of the last dim of (N, C, L) or (C, L) input.

    >>> import tapegrad
    >>> tapegrad.avg_pool1d(tapegrad.tensor([[1., 3., 2., 6.]]), 2)
    tensor([[2., 4.]])
    """
    a = input._data
    if a.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {a.ndim}-dimensional tensor for argument #1 "
            "'self' (while checking arguments for avg_pool1d)")
    args = {"kernel_size": kernel_size, "stride": stride, "padding": padding}
    vals = {}
    for name, v in args.items():
        t = () if v is None else _tuple(v, 1)
        if len(t) != 1 and not (name == "stride" and len(t) == 0):
            raise RuntimeError(
                f"avg_pool1d() argument '{name}' should contain one int (got {len(t)})")
        vals[name] = t
    k, p = vals["kernel_size"], vals["padding"]
    s = vals["stride"] or k
    x = unsqueeze(input, -2)
    out = _avg_pool_nd(2, x, (1,) + k, (1,) + s, (0,) + p, ceil_mode, count_include_pad, None)
    return squeeze(out, -2)


# --- power-average pooling (composite, as PyTorch writes it) -------------------------------------
def _lp_pool(nd: int, input, norm_type, kernel_size, stride, ceil_mode):  # noqa: A002
    from .unary import relu

    pools = {1: (max_pool1d, avg_pool1d), 2: (max_pool2d, avg_pool2d),
             3: (max_pool3d, avg_pool3d)}[nd]
    if isinstance(norm_type, (int, float)):
        if norm_type == float("inf"):
            return pools[0](input.abs(), kernel_size, stride, 0, 1, ceil_mode)
        if norm_type == -float("inf"):
            return -pools[0](-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    out = pools[1](input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    k = _expand(_tuple(kernel_size, nd), nd)
    return (out.sign() * relu(out.abs())).mul(K.nprod(k)).pow(1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None,  # noqa: A002
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling: (sum of x^p over each window)^(1/p), over the last dim.

    >>> import tapegrad
    >>> tapegrad.nn.functional.lp_pool1d(tapegrad.tensor([[3., 4.]]), 2, 2)
    tensor([[5.]])
    """
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None,  # noqa: A002
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over the last two dims (see lp_pool1d)."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size, stride=None,  # noqa: A002
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over the last three dims (see lp_pool1d)."""
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)

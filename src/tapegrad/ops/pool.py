"""Max pooling over 1, 2 or 3 spatial dims, and the helpers every pooling shares (average and
power-average pooling are in pool_avg.py, adaptive pooling in pool_adaptive.py).

Primitive pairs, closed under reverse (nd = 2 or 3; the 1-d pools are the 2-d ones over an
unsqueezed dim, as PyTorch computes them):

  max_pool (MaxPool{nd}DWithIndicesBackward0)  out = x at `indices` (the first maximum of each
      window in row-major order; a NaN wins, as PyTorch's kernel). vjp: g scattered (added)
      into zeros at indices (MaxPool{nd}DWithIndicesBackwardBackward0), whose vjp gathers at
      indices again (a gather / scatter-add pair from _gather.py).

No loop runs over pixels: windows are visited by a loop over the kernel offsets only, each
step a whole-array operation on a strided slice of the padded input.
"""

from __future__ import annotations

import functools

import numpy as np

from .._tensor import Tensor
from ..autograd.graph import Node
from . import _conv_kernels as K
from ._core import batched_cotangent, is_batched_value, new_node, rebatch, save, wrap
from ._gather import gather_along
from .shape import squeeze, unsqueeze

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices"]
FUNCTIONAL = ["max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
              "max_pool2d_with_indices", "max_pool3d_with_indices"]

_WORDS = {2: "two", 3: "three"}


def _shape(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def pool_out(size: int, k: int, p: int, s: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling_output_shape: with ceil_mode the last window must start inside the
    input or its left padding."""
    n = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    o = n // s + 1
    if ceil_mode and (o - 1) * s >= size + p:
        o -= 1
    return o


def _padded_to(a: np.ndarray, nd: int, pad, osize, k, s, d, fill) -> np.ndarray:
    """a with `pad` fill values before each spatial dim and enough after to hold every window."""
    shape = a.shape[:-nd] + tuple(
        max(sz + 2 * p, (o - 1) * st + (kk - 1) * dd + 1)
        for sz, p, o, st, kk, dd in zip(a.shape[-nd:], pad, osize, s, k, d))
    xp = np.full(shape, fill, dtype=a.dtype)
    xp[(Ellipsis,) + tuple(slice(p, p + sz) for p, sz in zip(pad, a.shape[-nd:]))] = a
    return xp


# --- max pooling ---------------------------------------------------------------------------------
def _first_valid(size, osize, s, p, d) -> np.ndarray:
    """Flat index (within a plane) of each window's first position inside the input."""
    nd = len(osize)
    plane = np.zeros(osize, dtype=np.int64)
    step = 1
    for i in reversed(range(nd)):
        o = np.arange(osize[i]) * s[i] - p[i]
        first = np.where(o < 0, o + (-o + d[i] - 1) // d[i] * d[i], o)
        plane = plane + (first * step).reshape((-1,) + (1,) * (nd - 1 - i))
        step *= size[i]
    return plane


def _offset_flat(kk, size, osize, s, p, d) -> np.ndarray:
    """Flat in-plane index read by kernel offset kk at every output position."""
    nd = len(osize)
    flat = np.zeros((), dtype=np.int64)
    step = 1
    for i in reversed(range(nd)):
        pos = np.arange(osize[i]) * s[i] - p[i] + kk[i] * d[i]
        flat = flat + (pos * step).reshape((-1,) + (1,) * (nd - 1 - i))
        step *= size[i]
    return flat


class _MaxGeometry:
    """What max pooling needs of one (input size, kernel, stride, padding, dilation, ceil_mode):
    computed once and cached."""

    __slots__ = ("osize", "padded", "slices", "delta", "base", "first")

    def __init__(self, size, k, s, p, d, ceil_mode) -> None:
        nd = len(k)
        self.osize = osize = tuple(pool_out(*t, ceil_mode) for t in zip(size, k, p, s, d))
        self.padded = any(p) or any((o - 1) * st + (kk - 1) * dd + 1 > sz + 2 * pp
                                    for o, st, kk, dd, sz, pp in zip(osize, s, k, d, size, p))
        offsets = list(K.offset_slices(k, s, d, osize))
        self.slices = [(Ellipsis,) + sl for _, sl in offsets]
        steps = [K.nprod(size[i + 1:]) for i in range(nd)]
        self.delta = np.array([sum(kk[i] * d[i] * steps[i] for i in range(nd))
                               for kk, _ in offsets], dtype=np.intp)
        self.base = _offset_flat((0,) * nd, size, osize, s, p, d)
        self.first = _first_valid(size, osize, s, p, d)
        for a in (self.delta, self.base, self.first):  # shared through the cache
            a.flags.writeable = False


@functools.lru_cache(maxsize=256)
def _max_geometry(size, k, s, p, d, ceil_mode) -> _MaxGeometry:
    return _MaxGeometry(size, k, s, p, d, ceil_mode)


def _max_pool_np(a: np.ndarray, k, s, p, d, ceil_mode: bool):
    """(values, flat indices into each input plane) of max pooling the trailing len(k) dims.

    Values: a running np.maximum over the kernel offsets (whole-array steps on strided slices).
    Indices: the first offset (row-major window order, PyTorch's choice) whose value equals the
    maximum, counted as the number of leading offsets that differ from it. A window whose
    maximum is -inf keeps its first position inside the input (PyTorch's kernel starts from
    there and only moves on a greater value); windows with a NaN take the exact scan."""
    nd = len(k)
    size = a.shape[-nd:]
    geo = _max_geometry(size, tuple(k), tuple(s), tuple(p), tuple(d), bool(ceil_mode))
    osize = geo.osize
    floating = a.dtype.kind in "fc"
    low = -np.inf if floating else (np.iinfo(a.dtype).min if a.dtype.kind in "iu" else False)
    xp = _padded_to(a, nd, p, osize, k, s, d, low) if geo.padded else a
    views = [xp[sl] for sl in geo.slices]
    best = views[0].copy()
    for v in views[1:]:
        np.maximum(best, v, out=best)
    if floating and np.isnan(best).any():
        return _max_pool_loop(xp, size, k, s, p, d, osize, low)
    # loc: how many offsets before the first one holding the maximum
    differ = views[0] != best
    loc = differ.astype(np.intp)
    for v in views[1:-1]:
        differ &= v != best
        loc += differ
    idx = np.take(geo.delta, loc)
    idx += geo.base
    if geo.padded:
        lowest = best == low
        if lowest.any():
            np.copyto(idx, np.broadcast_to(geo.first, idx.shape), where=lowest)
    return best, idx


def _max_pool_loop(xp: np.ndarray, size, k, s, p, d, osize, low):
    """The kernel's scan, one whole-array step per kernel offset: a value replaces the running
    maximum when greater, or when NaN (so the last NaN of a window wins, as in PyTorch)."""
    nd = len(k)
    lead = xp.shape[:-nd]
    best = np.full(lead + osize, low, dtype=xp.dtype)
    idx = np.broadcast_to(_first_valid(size, osize, s, p, d), lead + osize).copy()
    for kk, sl in K.offset_slices(k, s, d, osize):
        v = xp[(Ellipsis,) + sl]
        upd = (v > best) | np.isnan(v)
        np.copyto(best, v, where=upd)
        np.copyto(idx, _offset_flat(kk, size, osize, s, p, d), where=upd)
    return best, idx


def _scatter(g: np.ndarray, idx: np.ndarray, in_shape, nd: int, unique: bool) -> np.ndarray:
    """zeros(in_shape) with g added at the flat per-plane positions idx (trailing nd dims)."""
    lead = in_shape[:-nd]
    nplanes = K.nprod(lead)
    psize = K.nprod(in_shape[-nd:])
    flat = idx.reshape(nplanes, -1) + (np.arange(nplanes) * psize)[:, None]
    out = np.zeros(nplanes * psize, dtype=g.dtype)
    if unique:  # windows do not overlap: each input position receives at most one value
        out[flat.ravel()] = g.ravel()
    else:
        np.add.at(out, flat.ravel(), g.ravel())
    return out.reshape(in_shape)


def zeros_for(node: Node, i: int):
    """Zeros shaped as input i of node, or None when it needs no gradient. The backward of a
    pooling or padding op takes the forward input too (for its shape) and gives it a zero
    gradient, as PyTorch does (so autograd.grad returns zeros, not an unused input)."""
    if node._next[i][0] is None:
        return None
    from .._creation import zeros

    shape, dt = node._in_meta[i]
    return zeros(shape, dtype=dt)


class _MaxPoolNode(Node):
    __slots__ = ("idx", "nd", "unique")
    back = None

    def vjp(self, g, gi=None):
        (x,) = self.saved_tensors()
        return _max_pool_backward(g, x, self.idx, self.nd, self.unique, type(self).back)


class _MaxPoolBackwardNode(Node):
    # inputs (g, x): g scattered at idx. Its vjp gathers the incoming gradient at the same
    # positions (the indices are constants), and gives x a zero gradient
    __slots__ = ("idx", "nd")

    def vjp(self, gg):
        nd = self.nd
        shape = self._in_meta[0][0] if self._in_meta[0] is not None else self.idx.shape
        lead = len(shape) - nd
        gi = None
        if self._next[0][0] is not None:
            flat = gg.reshape(gg.shape[:lead] + (-1,))
            idx = self.idx.reshape(self.idx.shape[:lead] + (-1,))
            gi = gather_along(flat, lead, idx).reshape(shape)
        return gi, zeros_for(self, 1)


class MaxPool2DWithIndicesBackwardBackward0(_MaxPoolBackwardNode):
    __slots__ = ()


class MaxPool3DWithIndicesBackwardBackward0(_MaxPoolBackwardNode):
    __slots__ = ()


class MaxPool2DWithIndicesBackward0(_MaxPoolNode):
    __slots__ = ()
    n_outputs = 2
    back = MaxPool2DWithIndicesBackwardBackward0


class MaxPool3DWithIndicesBackward0(_MaxPoolNode):
    __slots__ = ()
    n_outputs = 2
    back = MaxPool3DWithIndicesBackwardBackward0


def repeat_like(x: Tensor, n: int) -> Tensor:
    """x repeated n times along a new leading dim (a view): the forward input of n backward
    passes folded into one (the backward ops read only its shape and give it zeros)."""
    return x.unsqueeze(0).expand((n,) + tuple(x.shape))


def _max_pool_backward(g: Tensor, x: Tensor, idx, nd, unique, cls) -> Tensor:
    if type(g) is not Tensor:  # a batch of cotangents under vmap: the batch as a leading dim
        b = batched_cotangent(g)
        if b is not None and not is_batched_value(x):
            n = b[0].shape[0]
            bidx = np.broadcast_to(idx, (n,) + idx.shape)
            return rebatch(_max_pool_backward(b[0], repeat_like(x, n), bidx, nd, unique, cls),
                           b[1])
    out = _scatter(g._data, idx, x._data.shape, nd, unique)
    node = new_node(cls, (g, x))
    if node is not None:
        node.idx, node.nd = idx, nd
    return wrap(out, node)


def _max_pool(x: Tensor, nd: int, k, s, p, d, ceil_mode: bool) -> tuple:
    vals, idx = _max_pool_np(x._data, k, s, p, d, ceil_mode)
    cls = MaxPool2DWithIndicesBackward0 if nd == 2 else MaxPool3DWithIndicesBackward0
    node = new_node(cls, (x,))
    if node is not None:
        save(node, x)
        node.idx, node.nd = idx, nd
        node.unique = all(st >= (kk - 1) * dd + 1 for st, kk, dd in zip(s, k, d))
    return wrap(vals, node), wrap(idx)


def _tuple(v, n: int) -> tuple:
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    return tuple(int(i) for i in v)


def _expand(v, n: int) -> tuple:
    return v * n if len(v) == 1 else v


def _check_pool(name: str, nd: int, a: np.ndarray, k, s, p, d, ceil_mode: bool, avg: bool):
    """PyTorch's pooling_output_shape and pool{2,3}d_shape_check; returns the output size."""
    size = a.shape[-nd:]
    osize = []
    for sz, kk, pp, st, dd in zip(size, k, p, s, d):
        if st == 0:
            raise RuntimeError("stride should not be zero")
        if pp < 0:
            raise RuntimeError(f"pad must be non-negative, but got pad: {pp}")
        if pp > ((kk - 1) * dd + 1) // 2:
            raise RuntimeError(
                "pad should be at most half of effective kernel size, but got "
                f"pad={pp}, kernel_size={kk} and dilation={dd}")
        osize.append(pool_out(sz, kk, pp, st, dd, ceil_mode))
    rk, rs, rd = k[::-1], s[::-1], d[::-1]
    hw = ("W", "H", "T")
    if any(kk <= 0 for kk in k):
        raise RuntimeError("kernel size should be greater than zero, but got " + " ".join(
            f"k{hw[i]}: {rk[i]}" for i in reversed(range(nd))))
    if any(st <= 0 for st in s):
        raise RuntimeError("stride should be greater than zero, but got " + " ".join(
            f"d{hw[i]}: {rs[i]}" for i in reversed(range(nd))))
    if any(dd <= 0 for dd in d):
        raise RuntimeError("dilation should be greater than zero, but got " + " ".join(
            f"dilation{hw[i]}: {rd[i]}" for i in reversed(range(nd))))
    ok = a.ndim in (nd + 1, nd + 2) and all(a.shape[i] != 0 for i in range(1, a.ndim)) and (
        a.ndim == nd + 2 or a.shape[0] != 0)
    if not ok:
        raise RuntimeError(
            f"Expected {nd + 1}D or {nd + 2}D (batch mode) tensor with optional 0 dim batch size "
            f"for input, but got:{_shape(a.shape)}")
    if nd == 2 and (k[1] // 2 < p[1] or k[0] // 2 < p[0]):
        raise RuntimeError(
            "pad should be smaller than or equal to half of kernel size, but got "
            f"padW = {p[1]}, padH = {p[0]}, kW = {k[1]}, kH = {k[0]}")
    if nd == 3 and avg and any(sz + 2 * pp < kk for sz, pp, kk in zip(size, p, k)):
        raise RuntimeError(
            f"input image (T: {size[0]} H: {size[1]} W: {size[2]}) smaller than kernel size "
            f"(kT: {k[0]} kH: {k[1]} kW: {k[2]})")
    if any(o < 1 for o in osize):
        planes = "x".join(str(v) for v in a.shape[-nd - 1 if nd == 2 else -nd - 2:-nd])
        ins = "x".join(str(v) for v in size)
        outs = "x".join(str(v) for v in osize)
        raise RuntimeError(f"Given input size: ({planes}x{ins}). Calculated output size: "
                           f"({planes}x{outs}). Output size is too small")
    return tuple(osize)


def _max_pool_args(nd: int, name: str, a, kernel_size, stride, padding, dilation):
    k = _tuple(kernel_size, nd)
    w = _WORDS[nd]
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
    d = _tuple(dilation, nd)
    if len(d) not in (1, nd):
        raise RuntimeError(f"{name}: dilation must be either a single int, or a tuple of {w} "
                           "ints")
    k = _expand(k, nd)
    s = k if not s else _expand(s, nd)
    if a.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"non-empty {nd + 1}D or {nd + 2}D (batch mode) tensor expected for "
                           "input")
    return k, s, _expand(p, nd), _expand(d, nd)


def _max_pool_nd(nd: int, input: Tensor, kernel_size, stride, padding, dilation,  # noqa: A002
                 ceil_mode: bool) -> tuple:
    k, s, p, d = _max_pool_args(nd, f"max_pool{nd}d", input._data, kernel_size, stride,
                                padding, dilation)
    _check_pool(f"max_pool{nd}d", nd, input._data, k, s, p, d, ceil_mode, False)
    return _max_pool(input, nd, k, s, p, d, bool(ceil_mode))


def max_pool2d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
                            ceil_mode: bool = False, return_indices: bool = True) -> tuple:
    """2-D max pooling returning (values, indices); see max_pool2d."""
    return _max_pool_nd(2, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool3d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
                            ceil_mode: bool = False, return_indices: bool = True) -> tuple:
    """3-D max pooling returning (values, indices); see max_pool3d."""
    return _max_pool_nd(3, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over sliding windows of the last two dims (stride defaults to kernel_size; padding
    counts as -inf). With return_indices, also the flat index (h * W + w) of each maximum.

    >>> import tapegrad
    >>> x = tapegrad.arange(16.).reshape(1, 1, 4, 4)
    >>> tapegrad.nn.functional.max_pool2d(x, 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    out, idx = _max_pool_nd(2, input, kernel_size, stride, padding, dilation, ceil_mode)
    return (out, idx) if return_indices else out


def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over sliding windows of the last three dims.

    >>> import tapegrad
    >>> tapegrad.nn.functional.max_pool3d(tapegrad.ones(1, 1, 4, 4, 4), 2).shape
    tapegrad.Size([1, 1, 2, 2, 2])
    """
    out, idx = _max_pool_nd(3, input, kernel_size, stride, padding, dilation, ceil_mode)
    return (out, idx) if return_indices else out


def _max_pool1d_impl(input, kernel_size, stride, padding, dilation, ceil_mode):  # noqa: A002
    a = input._data
    if a.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {a.ndim}-dimensional tensor for argument #1 "
            "'self' (while checking arguments for max_pool1d)")
    k = _tuple(kernel_size, 1)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _tuple(stride, 1)
    p, d = _tuple(padding, 1), _tuple(dilation, 1)
    x = unsqueeze(input, -2)
    _check_pool("max_pool2d", 2, x._data, (1,) + k, (1,) + s, (0,) + p, (1,) + d,
                ceil_mode, False)
    out, idx = _max_pool(x, 2, (1,) + k, (1,) + s, (0,) + p, (1,) + d, bool(ceil_mode))
    return squeeze(out, -2), wrap(idx._data.squeeze(-2))


def max_pool1d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
                            ceil_mode: bool = False, return_indices: bool = True) -> tuple:
    """1-D max pooling returning (values, indices); see max_pool1d."""
    return _max_pool1d_impl(input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over sliding windows of the last dim of (N, C, L) or (C, L) input.

    >>> import tapegrad
    >>> tapegrad.max_pool1d(tapegrad.tensor([[1., 3., 2., 5.]]), 2)
    tensor([[3., 5.]])
    """
    if return_indices:
        return _max_pool1d_impl(input, kernel_size, stride, padding, dilation, ceil_mode)
    a = input._data
    if not ((a.ndim == 2 and a.shape[0] and a.shape[1]) or
            (a.ndim == 3 and a.shape[1] and a.shape[2])):
        raise RuntimeError(
            "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size "
            f"for input, but got:{_shape(a.shape)}")
    k = _tuple(kernel_size, 1)
    if len(k) != 1:
        raise RuntimeError("max_pool1d() kernel_size must be an int, list of ints or tuple of "
                           f"ints of size 1 but got size {len(k)}")
    s = () if stride is None else _tuple(stride, 1)
    if len(s) > 1:
        raise RuntimeError("max_pool1d() stride must be None, an int, list of ints, or tuple of "
                           f"ints of size 1 but got size {len(s)}")
    p, d = _tuple(padding, 1), _tuple(dilation, 1)
    if len(p) != 1:
        raise RuntimeError("max_pool1d() padding must be an int, list of ints, or tuple of ints "
                           f"of size 1 but got size {len(p)}")
    if len(d) != 1:
        raise RuntimeError("max_pool1d() dilation must be an int, list of ints or tuple of ints "
                           f"of size 1 but got size {len(d)}")
    s = s or k
    if k[0] <= 0:
        raise RuntimeError(f"max_pool1d() kernel_size must be greater than zero, but got {k[0]}")
    if s[0] <= 0:
        raise RuntimeError(f"max_pool1d() stride must be greater than zero, but got {s[0]}")
    if p[0] < 0:
        raise RuntimeError(f"max_pool1d() padding must be non-negative, but got {p[0]}")
    if p[0] > k[0] // 2:
        raise RuntimeError("max_pool1d() padding should be at most half of kernel size, but got "
                           f"padding={p[0]} and kernel_size={k[0]}")
    if d[0] <= 0:
        raise RuntimeError(f"max_pool1d() dilation must be greater than zero, but got {d[0]}")
    ow = pool_out(a.shape[-1], k[0], p[0], s[0], d[0], ceil_mode)
    if ow <= 0:
        raise RuntimeError(f"max_pool1d() Invalid computed output size: {ow}")
    return _max_pool1d_impl(input, k, s, p, d, ceil_mode)[0]

"""Fractional max pooling (Graham, 2015) over 2 or 3 spatial dims.

Each (batch, channel) plane draws one sample u in [0, 1) per spatial dim (_random_samples, of
shape (N, C, nd); drawn with tapegrad.rand when not given, so after the same manual_seed the
samples are PyTorch's). Along a dim of input size n, output size o and pool size k, the
windows start at
    start_i = floor((i + u) a) - floor(u a),  a = (n - k) / (o - 1),  for i < o - 1,
    start_{o-1} = n - k,
computed in the input's precision as PyTorch's kernel does. Each output is the maximum of its
k-window (the first maximum in row-major order; a NaN wins, the last one).

  FractionalMaxPool{2,3}DBackward0  vjp: g scattered (added) at the indices into zeros of the
      input's shape; its own vjp gathers again (the max-pooling pair of pool.py).
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ._core import new_node, save, wrap
from .pool import _MaxPoolBackwardNode, _MaxPoolNode

__all__: list[str] = []
FUNCTIONAL = ["fractional_max_pool2d", "fractional_max_pool3d",
              "fractional_max_pool2d_with_indices", "fractional_max_pool3d_with_indices"]


class FractionalMaxPool2DBackwardBackward0(_MaxPoolBackwardNode):
    __slots__ = ()


class FractionalMaxPool3DBackwardBackward0(_MaxPoolBackwardNode):
    __slots__ = ()


class FractionalMaxPool2DBackward0(_MaxPoolNode):
    __slots__ = ()
    n_outputs = 2
    back = FractionalMaxPool2DBackwardBackward0


class FractionalMaxPool3DBackward0(_MaxPoolNode):
    __slots__ = ()
    n_outputs = 2
    back = FractionalMaxPool3DBackwardBackward0


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _intervals(u: np.ndarray, n: int, o: int, k: int) -> np.ndarray:
    """Window starts (..., o) for samples u (...), in u's floating precision."""
    starts = np.empty(u.shape + (o,), dtype=np.int64)
    if o > 1:
        dt = u.dtype.type
        alpha = dt(n - k) / dt(o - 1)
        i = np.arange(o - 1).astype(u.dtype)
        a = ((i + u[..., None]) * alpha).astype(np.int64)
        starts[..., :-1] = a - (u * alpha).astype(np.int64)[..., None]
    starts[..., -1] = n - k
    return starts


def _fractional_np(a: np.ndarray, k, osize, u: np.ndarray):
    """(values, flat in-plane indices) for a of shape (B, C, *S), samples u of (B, C, nd) whose
    column order is PyTorch's: (W, H) for 2 dims, (T, H, W) for 3."""
    nd = len(k)
    size = a.shape[2:]
    order = [1, 0] if nd == 2 else [0, 1, 2]  # sample column used by each spatial dim
    # flat in-plane offset of every window element, (B, C, *osize, window) with the window in
    # row-major order: each dim's k positions are appended as the fastest-varying ones
    flat = np.zeros(a.shape[:2] + (1,) * nd + (1,), dtype=np.int64)
    for d in range(nd):
        st = _intervals(u[..., order[d]], size[d], osize[d], k[d])  # (B, C, o_d)
        step = int(np.prod(size[d + 1:], dtype=np.int64))
        pos = (st[..., :, None] + np.arange(k[d])) * step  # (B, C, o_d, k_d)
        pos = pos.reshape(a.shape[:2] + tuple(osize[d] if e == d else 1 for e in range(nd))
                          + (k[d],))
        flat = flat[..., :, None] + pos[..., None, :]
        flat = flat.reshape(flat.shape[:-2] + (flat.shape[-2] * k[d],))
    nplane = int(np.prod(size, dtype=np.int64))
    b, c = a.shape[:2]
    planes = a.reshape(b, c, nplane)
    win = np.take_along_axis(planes, flat.reshape(b, c, -1), axis=2).reshape(flat.shape)
    if win.shape[-1] == 0:  # an empty window: -inf at the window's start, as the kernel does
        vals = np.full(flat.shape[:-1], -np.inf, dtype=a.dtype)
        return vals, np.zeros(flat.shape[:-1], dtype=np.int64)
    pick = np.argmax(win, axis=-1)  # the first maximum
    nan = np.isnan(win) if win.dtype.kind == "f" else None
    if nan is not None and nan.any():
        last_nan = win.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
        pick = np.where(nan.any(-1), last_nan, pick)
    idx = np.take_along_axis(flat, pick[..., None], axis=-1)[..., 0]
    vals = np.take_along_axis(win, pick[..., None], axis=-1)[..., 0]
    return vals, idx


def _pair_list(v, n: int) -> list:
    if isinstance(v, (int, np.integer)):
        return [int(v)] * n
    return [int(i) for i in v]


def _fractional(nd: int, input: Tensor, kernel_size, output_size, samples: Tensor):  # noqa: A002
    name = f"fractional_max_pool{nd}d"
    words = "Ints" if nd == 2 else "three Ints"
    k = _pair_list(kernel_size, nd)
    if len(k) != nd:
        raise RuntimeError(f"{name}: kernel_size must either be a single Int or tuple of {words}")
    o = _pair_list(output_size, nd)
    if len(o) != nd:
        raise RuntimeError(f"{name}: output_size must either be a single Int or tuple of {words}")
    a = input._data
    where = f"{name}()" if nd == 2 else f"{name}_out()"
    if a.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{where}: Expected {nd + 1}D or {nd + 2}D tensor, but got: "
                           f"{_shape_str(a.shape)}")
    for i in range(1, a.ndim):
        if a.shape[i] == 0:
            raise RuntimeError(
                f"{where}: Expected input to have non-zero size for non-batch dimensions, but "
                f"got{_shape_str(a.shape)} with dimension {i} being empty.")
    s = samples._data
    if samples._dtype is not input._dtype:
        raise RuntimeError("Expect _random_samples to have the same dtype as input")
    if s.ndim != 3:
        raise RuntimeError(f"Expect _random_samples to have 3 dimensions, got {s.ndim}")
    batched = a.ndim == nd + 2
    n = a.shape[0] if batched else 1
    c = a.shape[-nd - 1]
    if s.shape[0] < n:
        raise RuntimeError("Expect _random_samples.size(0) no less then input batch size.")
    if s.shape[1] != c:
        raise RuntimeError("Expect _random_samples.size(1) equals to input channel size.")
    if s.shape[2] != nd:
        raise RuntimeError(f"Expect _random_samples.size(2) equals to {nd}; got {s.shape[2]}.")
    size = a.shape[-nd:]
    words = ("height", "width") if nd == 2 else ("time", "height", "width")
    order = (0, 1) if nd == 2 else (0, 2, 1)
    for d in order:
        fits = o[d] + k[d] - 1 <= size[d] if nd == 2 else o[d] + k[d] - 1 < size[d]
        if not fits:
            raise RuntimeError(f"{where}: pool {words[d]} {k[d]} too large relative to input "
                               f"{words[d]} {size[d]}")
    if input._dtype.category != D.FLOAT:
        raise NotImplementedError(
            f'"{name}_out_frame" not implemented for \'{input._dtype._short}\'')
    x4 = a if batched else a[None]
    if x4.shape[0] == 0 or 0 in o:
        vals = np.zeros(x4.shape[:2] + tuple(o), dtype=a.dtype)
        idx = np.zeros(vals.shape, dtype=np.int64)
    else:
        vals, idx = _fractional_np(x4, k, o, s[:n])
    if not batched:
        vals, idx = vals[0], idx[0]
    cls = FractionalMaxPool2DBackward0 if nd == 2 else FractionalMaxPool3DBackward0
    node = new_node(cls, (input,))
    if node is not None:
        save(node, input)
        node.idx, node.nd, node.unique = idx, nd, False
    return wrap(np.ascontiguousarray(vals), node), wrap(idx)


def _samples(input: Tensor, nd: int, samples) -> Tensor:  # noqa: A002
    if samples is not None:
        return samples
    from .._random import rand

    n = 1 if input.dim() == nd + 1 else input.size(0)
    return rand(n, input.size(-nd - 1), nd, dtype=input.dtype)


def fractional_max_pool2d_with_indices(input: Tensor, kernel_size, output_size=None,  # noqa: A002
                                       output_ratio=None, return_indices: bool = False,
                                       _random_samples=None) -> tuple:
    """(values, indices) of fractional_max_pool2d."""
    if output_size is None and output_ratio is None:
        raise ValueError("fractional_max_pool2d requires specifying either an output_size or an "
                         "output_ratio")
    if output_size is None:
        if len(output_ratio) > 2:
            raise ValueError("fractional_max_pool2d requires output_ratio to either be a single "
                             "Int or tuple of Ints.")
        r = tuple(output_ratio)
        output_size = [int(input.size(-2) * r[0]), int(input.size(-1) * r[1])]
    samples = _samples(input, 2, _random_samples)
    return _fractional(2, input, kernel_size, output_size, samples)


def fractional_max_pool3d_with_indices(input: Tensor, kernel_size, output_size=None,  # noqa: A002
                                       output_ratio=None, return_indices: bool = False,
                                       _random_samples=None) -> tuple:
    """(values, indices) of fractional_max_pool3d."""
    if output_size is None and output_ratio is None:
        raise ValueError("fractional_max_pool3d requires specifying either an output_size or an "
                         "output_ratio")
    if output_size is None:
        r = (output_ratio,) * 3 if isinstance(output_ratio, (int, float)) else tuple(output_ratio)
        output_size = [int(input.size(-3) * r[0]), int(input.size(-2) * r[1]),
                       int(input.size(-1) * r[2])]
    samples = _samples(input, 3, _random_samples)
    return _fractional(3, input, kernel_size, output_size, samples)


def fractional_max_pool2d(input: Tensor, kernel_size, output_size=None,  # noqa: A002
                          output_ratio=None, return_indices: bool = False,
                          _random_samples=None):
    """Max over kernel_size windows placed at pseudo-random fractional strides, to give
    output_size (or input size times output_ratio) over the last two dims.

    >>> import tapegrad
    >>> x = tapegrad.arange(36.).view(1, 1, 6, 6)
    >>> tapegrad.nn.functional.fractional_max_pool2d(x, 2, output_size=3).shape
    tapegrad.Size([1, 1, 3, 3])
    """
    out, idx = fractional_max_pool2d_with_indices(input, kernel_size, output_size, output_ratio,
                                                  return_indices, _random_samples)
    return (out, idx) if return_indices else out


def fractional_max_pool3d(input: Tensor, kernel_size, output_size=None,  # noqa: A002
                          output_ratio=None, return_indices: bool = False,
                          _random_samples=None):
    """fractional_max_pool2d over the last three dims.

    >>> import tapegrad
    >>> x = tapegrad.ones(1, 1, 6, 6, 6)
    >>> tapegrad.nn.functional.fractional_max_pool3d(x, 2, output_ratio=0.5).shape
    tapegrad.Size([1, 1, 3, 3, 3])
    """
    out, idx = fractional_max_pool3d_with_indices(input, kernel_size, output_size, output_ratio,
                                                  return_indices, _random_samples)
    return (out, idx) if return_indices else out

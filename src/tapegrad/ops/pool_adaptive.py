"""Adaptive average and max pooling: the output size is given, the windows follow from it.

Along a dim of input size I and output size O, window o covers [floor(o I / O), ceil((o+1) I / O)).

  adaptive_avg_pool (AdaptiveAvgPool{nd}DBackward0)  a linear map applied dim by dim: a 0/1
      window matrix P (O x I) per dim, then division by the window volume. vjp: the transposed
      map (AdaptiveAvgPool{nd}DBackwardBackward0), whose vjp is the pooling again.
  adaptive_max_pool (AdaptiveMaxPool{nd}DBackward0)  values at `indices`, the first maximum in
      row-major window order (a NaN wins, as PyTorch's kernel); the gradient is scattered back
      at the indices, as for max_pool (the same node pair, under its own names).

An output size of all ones is a mean over the spatial dims (MeanBackward1), as in PyTorch.
The 1-d pools are the 2-d ones over an unsqueezed dim.
"""

from __future__ import annotations

import itertools

import numpy as np

from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import batched_cotangent, is_batched_value, new_node, rebatch, save, wrap
from .pool import _MaxPoolBackwardNode, _MaxPoolNode, repeat_like, zeros_for
from .shape import squeeze, unsqueeze

# (torch.adaptive_max_pool1d, which always returns (values, indices), is not exported at the top
# level: the one name serves nn.functional, whose version returns values only by default)
__all__ = ["adaptive_avg_pool1d"]
FUNCTIONAL = ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
              "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
              "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
              "adaptive_max_pool3d_with_indices"]


def _bounds(i: int, o: int):
    k = np.arange(o)
    return (k * i) // o, -((-(k + 1) * i) // o)  # floor(k I / O), ceil((k + 1) I / O)


def _window_matrix(i: int, o: int) -> np.ndarray:
    start, end = _bounds(i, o)
    j = np.arange(i)
    return ((j >= start[:, None]) & (j < end[:, None])).astype(np.float64)


def _along(a: np.ndarray, m: np.ndarray, axis: int) -> np.ndarray:
    """m (O x I) applied along axis of a."""
    if axis == a.ndim - 1:
        return a @ m.T
    return np.moveaxis(np.moveaxis(a, axis, -1) @ m.T, -1, axis)


def _volume(insize, osize, dtype) -> np.ndarray:
    vol = np.ones((), dtype=np.int64)
    nd = len(insize)
    for d, (i, o) in enumerate(zip(insize, osize)):
        start, end = _bounds(i, o)
        vol = vol * (end - start).reshape((-1,) + (1,) * (nd - 1 - d))
    return vol.astype(dtype)


class _AdaptiveAvgNode(Node):
    __slots__ = ()
    back = None

    def vjp(self, g):
        (x,) = self.saved_tensors()
        return _adaptive_avg_backward(g, x, type(self).back)


class _AdaptiveAvgBackwardNode(Node):
    # inputs (g, x): linear in g, its vjp is the pooling again; x gets a zero gradient
    __slots__ = ()
    fwd = None

    def vjp(self, gg):
        nd = self.fwd.nd
        shape = self._in_meta[0][0] if self._in_meta[0] is not None else None
        gi = None
        if shape is not None:
            gi = _adaptive_avg(gg, shape[-nd:], type(self).fwd)
        return gi, zeros_for(self, 1)


class AdaptiveAvgPool2DBackwardBackward0(_AdaptiveAvgBackwardNode):
    __slots__ = ()


class AdaptiveAvgPool3DBackwardBackward0(_AdaptiveAvgBackwardNode):
    __slots__ = ()


class AdaptiveAvgPool2DBackward0(_AdaptiveAvgNode):
    __slots__ = ()
    back = AdaptiveAvgPool2DBackwardBackward0
    nd = 2


class AdaptiveAvgPool3DBackward0(_AdaptiveAvgNode):
    __slots__ = ()
    back = AdaptiveAvgPool3DBackwardBackward0
    nd = 3


AdaptiveAvgPool2DBackwardBackward0.fwd = AdaptiveAvgPool2DBackward0
AdaptiveAvgPool3DBackwardBackward0.fwd = AdaptiveAvgPool3DBackward0


def _adaptive_avg(x: Tensor, osize, cls) -> Tensor:
    if type(x) is not Tensor:  # a batch of cotangents (double backward under vmap)
        b = batched_cotangent(x)
        if b is not None:  # pooling reads the trailing dims only: the batch is one more
            return rebatch(_adaptive_avg(b[0], osize, cls), b[1])
    a = x._data
    nd = cls.nd
    insize = a.shape[-nd:]
    out = a
    for d in range(nd):
        out = _along(out, _window_matrix(insize[d], osize[d]).astype(a.dtype), a.ndim - nd + d)
    out = np.ascontiguousarray(out / _volume(insize, osize, a.dtype))
    node = new_node(cls, (x,))
    if node is not None:
        save(node, x)
    return wrap(out, node)


def _adaptive_avg_backward(g: Tensor, x: Tensor, cls) -> Tensor:
    if type(g) is not Tensor:  # a batch of cotangents under vmap: the batch as a leading dim
        b = batched_cotangent(g)
        if b is not None and not is_batched_value(x):
            return rebatch(_adaptive_avg_backward(b[0], repeat_like(x, b[0].shape[0]), cls),
                           b[1])
    a = g._data
    nd = cls.fwd.nd
    insize = x._data.shape[-nd:]
    osize = a.shape[-nd:]
    out = a / _volume(insize, osize, a.dtype)
    for d in range(nd):
        m = _window_matrix(insize[d], osize[d]).astype(a.dtype)
        out = _along(out, m.T, a.ndim - nd + d)
    node = new_node(cls, (g, x))
    return wrap(np.ascontiguousarray(out), node)


# --- adaptive max --------------------------------------------------------------------------------
def _adaptive_max_np(a: np.ndarray, osize):
    nd = len(osize)
    insize = a.shape[-nd:]
    lead = a.shape[:-nd]
    floating = a.dtype.kind in "fc"
    best = np.full(lead + tuple(osize), -np.inf, dtype=a.dtype)
    bounds = [_bounds(i, o) for i, o in zip(insize, osize)]
    # start with each window's first position (kept when nothing beats -inf)
    idx = np.zeros(tuple(osize), dtype=np.int64)
    step = 1
    for d in reversed(range(nd)):
        idx = idx + (bounds[d][0] * step).reshape((-1,) + (1,) * (nd - 1 - d))
        step *= insize[d]
    idx = np.broadcast_to(idx, best.shape).copy()
    kmax = [int((e - s).max()) for s, e in bounds]
    for off in itertools.product(*(range(k) for k in kmax)):
        v = a
        flat = np.zeros((), dtype=np.int64)
        valid = np.ones((), dtype=bool)
        step = 1
        for d in reversed(range(nd)):
            s, e = bounds[d]
            pos = s + off[d]
            ok = pos < e
            pos = np.minimum(pos, e - 1)
            v = np.take(v, pos, axis=a.ndim - nd + d)
            shp = (-1,) + (1,) * (nd - 1 - d)
            flat = flat + (pos * step).reshape(shp)
            valid = valid & ok.reshape(shp)
            step *= insize[d]
        upd = v > best
        if floating:
            upd |= np.isnan(v)
        upd &= valid
        np.copyto(best, v, where=upd)
        np.copyto(idx, np.broadcast_to(flat, idx.shape), where=upd)
    return best, idx


class AdaptiveMaxPool2DBackwardBackward0(_MaxPoolBackwardNode):
    __slots__ = ()


class AdaptiveMaxPool3DBackwardBackward0(_MaxPoolBackwardNode):
    __slots__ = ()


class AdaptiveMaxPool2DBackward0(_MaxPoolNode):
    __slots__ = ()
    n_outputs = 2
    back = AdaptiveMaxPool2DBackwardBackward0


class AdaptiveMaxPool3DBackward0(_MaxPoolNode):
    __slots__ = ()
    n_outputs = 2
    back = AdaptiveMaxPool3DBackwardBackward0


def _adaptive_max(x: Tensor, osize, nd: int) -> tuple:
    vals, idx = _adaptive_max_np(x._data, osize)
    cls = AdaptiveMaxPool2DBackward0 if nd == 2 else AdaptiveMaxPool3DBackward0
    node = new_node(cls, (x,))
    if node is not None:
        save(node, x)
        node.idx, node.nd = idx, nd
        node.unique = all(i % o == 0 for i, o in zip(x._data.shape[-nd:], osize))
    return wrap(vals, node), wrap(idx)



# --- argument checking and the public functions ----------------------------------------------
def _shape(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _output_size(name: str, nd: int, a: np.ndarray, output_size, is_max: bool) -> tuple:
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * nd
    output_size = tuple(output_size)
    if len(output_size) != nd:
        if is_max:
            raise RuntimeError(f"{name}(): internal error: output_size.size() must be {nd}")
        raise RuntimeError(f"{name}: output_size must be {nd}")
    osize = tuple(a.shape[a.ndim - nd + i] if v is None else int(v)
                  for i, v in enumerate(output_size))
    sep = ": " if is_max else " "
    if a.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{name}(): Expected {nd + 1}D or {nd + 2}D tensor, but got{sep}{_shape(a.shape)}")
    for i in range(1, a.ndim):
        if a.shape[i] == 0:
            raise RuntimeError(
                f"{name}(): Expected input to have non-zero size for non-batch dimensions, but "
                f"input has sizes {_shape(a.shape)} with dimension {i} being empty")
    if a.ndim == nd + 1 and a.shape[0] == 0:
        raise RuntimeError(
            f"{name}(): Expected input to have non-zero size for non-batch dimensions, but "
            f"input has sizes {_shape(a.shape)} with dimension 0 being empty")
    if any(o < 0 for o in osize):
        if is_max:
            raise RuntimeError(
                "Trying to create tensor with negative dimension "
                f"{next(o for o in osize if o < 0)}: {_shape(a.shape[:-nd] + osize)}")
        raise RuntimeError(
            f"{name}: elements of output_size must be greater than or equal to 0 but received "
            "{" + ", ".join(str(o) for o in osize) + "}")
    if a.dtype.kind not in "fc":
        from .. import _dtype as D

        raise NotImplementedError(
            f'"{name}" not implemented for \'{D.from_numpy_dtype(a.dtype)._short}\'')
    return osize


def _adaptive_avg_nd(nd: int, input: Tensor, output_size) -> Tensor:  # noqa: A002
    name = f"adaptive_avg_pool{nd}d"
    osize = _output_size(name, nd, input._data, output_size, False)
    if all(o == 1 for o in osize):
        return input.mean(tuple(range(-nd, 0)), keepdim=True)
    cls = AdaptiveAvgPool2DBackward0 if nd == 2 else AdaptiveAvgPool3DBackward0
    return _adaptive_avg(input, osize, cls)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:  # noqa: A002
    """Average pooling to a given output size (H_out, W_out) (None keeps the input's size).

    >>> import tapegrad
    >>> tapegrad.nn.functional.adaptive_avg_pool2d(tapegrad.arange(9.).reshape(1, 3, 3), 2)
    tensor([[[2., 3.],
             [5., 6.]]])
    """
    return _adaptive_avg_nd(2, input, output_size)


def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:  # noqa: A002
    """Average pooling to a given output size (D_out, H_out, W_out).

    >>> import tapegrad
    >>> tapegrad.nn.functional.adaptive_avg_pool3d(tapegrad.ones(1, 2, 3, 4, 5), 2).shape
    tapegrad.Size([1, 2, 2, 2, 2])
    """
    return _adaptive_avg_nd(3, input, output_size)


def _check_1d(name: str, input: Tensor, output_size) -> tuple:  # noqa: A002
    a = input._data
    if a.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {a.ndim}-dimensional tensor for argument #1 "
            f"'self' (while checking arguments for {name})")
    o = (output_size,) if isinstance(output_size, (int, np.integer)) else tuple(output_size)
    if len(o) != 1:
        raise RuntimeError(
            f"{name}() argument 'output_size' should contain one int (got {len(o)})")
    return (1, o[0])


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:  # noqa: A002
    """Average pooling of the last dim to a given output length.

    >>> import tapegrad
    >>> tapegrad.adaptive_avg_pool1d(tapegrad.tensor([[1., 2., 3., 4.]]), 2)
    tensor([[1.5000, 3.5000]])
    """
    osize = _check_1d("adaptive_avg_pool1d", input, output_size)
    return squeeze(_adaptive_avg_nd(2, unsqueeze(input, -2), osize), -2)


def _adaptive_max_nd(nd: int, input: Tensor, output_size) -> tuple:  # noqa: A002
    osize = _output_size(f"adaptive_max_pool{nd}d", nd, input._data, output_size, True)
    return _adaptive_max(input, osize, nd)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size,  # noqa: A002
                                     return_indices: bool = False) -> tuple:
    """(values, indices) of adaptive max pooling over the last two dims."""
    return _adaptive_max_nd(2, input, output_size)


def adaptive_max_pool3d_with_indices(input: Tensor, output_size,  # noqa: A002
                                     return_indices: bool = False) -> tuple:
    """(values, indices) of adaptive max pooling over the last three dims."""
    return _adaptive_max_nd(3, input, output_size)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):  # noqa: A002
    """Max pooling to a given output size; with return_indices, also the flat index of each
    maximum in its input plane.

    >>> import tapegrad
    >>> tapegrad.nn.functional.adaptive_max_pool2d(tapegrad.arange(9.).reshape(1, 3, 3), 2)
    tensor([[[4., 5.],
             [7., 8.]]])
    """
    out, idx = _adaptive_max_nd(2, input, output_size)
    return (out, idx) if return_indices else out


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):  # noqa: A002
    """Max pooling to a given output size (D_out, H_out, W_out).

    >>> import tapegrad
    >>> tapegrad.nn.functional.adaptive_max_pool3d(tapegrad.ones(1, 2, 3, 4, 5), 2).shape
    tapegrad.Size([1, 2, 2, 2, 2])
    """
    out, idx = _adaptive_max_nd(3, input, output_size)
    return (out, idx) if return_indices else out


def adaptive_max_pool1d_with_indices(input: Tensor, output_size,  # noqa: A002
                                     return_indices: bool = False) -> tuple:
    """(values, indices) of adaptive max pooling over the last dim."""
    osize = _check_1d("adaptive_max_pool1d", input, output_size)
    out, idx = _adaptive_max_nd(2, unsqueeze(input, -2), osize)
    return squeeze(out, -2), wrap(idx._data.squeeze(-2))


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):  # noqa: A002
    """Max pooling of the last dim to a given output length.

    >>> import tapegrad
    >>> tapegrad.nn.functional.adaptive_max_pool1d(tapegrad.tensor([[1., 3., 2., 0.]]), 2)
    tensor([[3., 2.]])
    """
    out, idx = adaptive_max_pool1d_with_indices(input, output_size)
    return (out, idx) if return_indices else out

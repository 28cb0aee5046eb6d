"""max_unpool1d / 2d / 3d: the partial inverse of max pooling.

  max_unpool (MaxUnpool{2,3}DBackward0)  out = zeros of the output size with input's values
      written at `indices` (flat positions inside each (H, W) or (T, H, W) plane, as max pooling
      returns them). vjp: g read back at the same positions (a gather, whose own vjp is a
      scatter-add: gradients of every order stay inside that pair).
The 1-d form is the 2-d one over a trailing unit dim, as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import new_node, wrap
from ._gather import gather_along

__all__: list[str] = []
FUNCTIONAL = ["max_unpool1d", "max_unpool2d", "max_unpool3d"]


def _ntuple(v, n: int) -> list:
    if isinstance(v, (int, np.integer)):
        return [int(v)] * n
    return [int(i) for i in v]


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def unpool_output_size(input: Tensor, k, s, p, output_size) -> list:  # noqa: A002
    """The spatial output size: (in - 1) * stride + kernel - 2 * padding, or output_size when
    given (it may include the batch and channel sizes, and must be within a stride of that)."""
    shape = input._data.shape
    nd = len(k)
    default = [(shape[-nd + d] - 1) * s[d] + k[d] - 2 * p[d] for d in range(nd)]
    if output_size is None:
        ret = default
    else:
        if len(output_size) == nd + 2:
            output_size = output_size[2:]
        if len(output_size) != nd:
            raise ValueError(
                f"output_size should be a sequence containing {nd} or {nd + 2} elements, but it "
                f"has a length of '{len(output_size)}'")
        for d in range(nd):
            lo, hi = default[d] - s[d], default[d] + s[d]
            if not lo < output_size[d] < hi:
                raise ValueError(f'invalid output_size "{output_size}" (dim {d} must be between '
                                 f"{lo} and {hi})")
        ret = output_size
    for d in range(nd):
        if ret[d] < 0:
            raise ValueError("max_unpooling: output_size must contain non-negative spatial "
                             f"dimensions, but got output_size[{d}]={ret[d]}")
    return [int(v) for v in ret]


class _UnpoolNode(Node):
    # out[plane][idx] = x: the gradient of x is g read at idx
    __slots__ = ("idx", "nd")

    def vjp(self, g):
        shape = self._in_meta[0][0]
        lead = len(shape) - self.nd
        flat = g.reshape(tuple(g.shape[:lead]) + (-1,))
        idx = self.idx.reshape(self.idx.shape[:lead] + (-1,))
        return gather_along(flat, lead, idx).reshape(shape)


class MaxUnpool2DBackward0(_UnpoolNode):
    __slots__ = ()


class MaxUnpool3DBackward0(_UnpoolNode):
    __slots__ = ()


def _check_indices(input: Tensor, indices: Tensor, nd: int) -> None:  # noqa: A002
    if indices._dtype is not D.int64:
        extra = f" but got: {indices._dtype._short}" if nd == 2 else ""
        raise RuntimeError(f"elements in indices should be type int64{extra}")
    a, idx = input._data, indices._data
    if a.shape != idx.shape:
        raise RuntimeError(
            "Expected shape of indices to be same as that of the input tensor "
            f"({_shape_str(a.shape)}) but got indices tensor with shape: "
            f"{_shape_str(idx.shape)}")


def _unpool(input: Tensor, indices: Tensor, osize: list, nd: int) -> Tensor:  # noqa: A002
    a, idx = input._data, indices._data
    if input._dtype.category != D.FLOAT:
        raise NotImplementedError(
            f'"max_unpool{nd}d" not implemented for \'{input._dtype._short}\'')
    plane = int(np.prod(osize))
    lead = a.shape[:-nd]
    nplanes = int(np.prod(lead, dtype=np.int64))
    flat_idx = idx.reshape(nplanes, int(np.prod(a.shape[-nd:], dtype=np.int64)))
    bad = (flat_idx < 0) | (flat_idx >= plane)
    if bad.any():  # (PyTorch's parallel kernel reports one of them; here the first)
        v = int(flat_idx.reshape(-1)[np.flatnonzero(bad.reshape(-1))[0]])
        raise RuntimeError(f"Found an invalid max index: {v} (output volumes are of size "
                           f"{'x'.join(str(o) for o in osize)})")
    out = np.zeros((nplanes, plane), dtype=a.dtype)
    rows = np.arange(nplanes)[:, None]
    out[rows, flat_idx] = a.reshape(flat_idx.shape)
    cls = MaxUnpool2DBackward0 if nd == 2 else MaxUnpool3DBackward0
    node = new_node(cls, (input,))
    if node is not None:
        node.idx, node.nd = idx.astype(np.int64, copy=False), nd
    return wrap(out.reshape(lead + tuple(osize)), node)


def _check_dims(input: Tensor, nd: int) -> None:  # noqa: A002
    a = input._data
    lo, hi = nd + 1, nd + 2
    if a.ndim not in (lo, hi):
        raise RuntimeError(f"Input to max_unpooling{nd}d should be a {lo}d or {hi}d Tensor, but "
                           f"got a tensor with {a.ndim} dimensions.")
    if any(s == 0 for s in a.shape[1:]):
        raise RuntimeError(
            f"max_unpooling{nd}d_forward_out_cpu(): Expected input to have non-zero size for "
            f"non-batch dimensions, but got {_shape_str(a.shape)} with dimension 1 being empty.")


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None,  # noqa: A002
                 padding=0, output_size=None) -> Tensor:
    """Place each value of input at its max-pooling index in a zero (N, C, H, W) output.

    >>> import tapegrad
    >>> import tapegrad.nn.functional as F
    >>> v, i = F.max_pool2d(tapegrad.arange(16.).view(1, 1, 4, 4), 2, return_indices=True)
    >>> F.max_unpool2d(v, i, 2)[0, 0]
    tensor([[ 0.,  0.,  0.,  0.],
            [ 0.,  5.,  0.,  7.],
            [ 0.,  0.,  0.,  0.],
            [ 0., 13.,  0., 15.]])
    """
    k = _ntuple(kernel_size, 2)
    s = k if stride is None else _ntuple(stride, 2)
    p = _ntuple(padding, 2)
    osize = unpool_output_size(input, k, s, p, output_size)
    _check_indices(input, indices, 2)
    _check_dims(input, 2)
    return _unpool(input, indices, osize, 2)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None,  # noqa: A002
                 padding=0, output_size=None) -> Tensor:
    """max_unpool2d over a trailing unit dim: (N, C, L) or (C, L) input.

    >>> import tapegrad
    >>> import tapegrad.nn.functional as F
    >>> v, i = F.max_pool1d(tapegrad.tensor([[1., 3., 2., 0.]]), 2, return_indices=True)
    >>> F.max_unpool1d(v, i, 2)
    tensor([[0., 3., 2., 0.]])
    """
    k = _ntuple(kernel_size, 1)
    s = k if stride is None else _ntuple(stride, 1)
    p = _ntuple(padding, 1)
    osize = unpool_output_size(input, k, s, p, output_size) + [1]
    x, i = input.unsqueeze(-1), indices.unsqueeze(-1)
    _check_indices(x, i, 2)
    _check_dims(x, 2)
    return _unpool(x, i, osize, 2).squeeze(-1)


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None,  # noqa: A002
                 padding=0, output_size=None) -> Tensor:
    """Place each value of input at its max-pooling index in a zero (N, C, T, H, W) output.

    >>> import tapegrad
    >>> import tapegrad.nn.functional as F
    >>> v, i = F.max_pool3d(tapegrad.ones(1, 1, 2, 2, 2), 2, return_indices=True)
    >>> F.max_unpool3d(v, i, 2).sum()
    tensor(1.)
    """
    k = _ntuple(kernel_size, 3)
    s = k if stride is None else _ntuple(stride, 3)
    p = _ntuple(padding, 3)
    osize = unpool_output_size(input, k, s, p, output_size)
    _check_indices(input, indices, 3)
    _check_dims(input, 3)
    if not all(x > 0 for x in s):
        raise RuntimeError(f"strides should be greater than zero, but got stride: "
                           f"{_shape_str(s)}")
    return _unpool(input, indices, osize, 3)

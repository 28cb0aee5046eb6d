"""Reductions: sum and mean over all or some dimensions (more in reduction_* files)."""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap_dim
from ..autograd.graph import Node
from ._core import as_tensor_arg, new_node, wrap

__all__ = ["sum", "mean"]


def reduce_dims(dim, ndim: int) -> tuple:
    """Normalise dim (int, sequence or None) to a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (tuple, list)):
        if len(dim) == 0:
            return tuple(range(ndim))
        dims = tuple(_wrap_dim(int(d), ndim) for d in dim)
        if len(set(dims)) != len(dims):
            for d in dims:
                if dims.count(d) > 1:
                    raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        return tuple(sorted(dims))
    return (_wrap_dim(int(dim), ndim),)


def restore_dims(g: Tensor, in_shape: tuple, dims: tuple, keepdim: bool) -> Tensor:
    """Give a reduced gradient back its reduced dimensions (size 1), ready to expand."""
    if keepdim or not in_shape:
        return g
    kshape = tuple(1 if i in dims else s for i, s in enumerate(in_shape))
    return g.reshape(kshape)


class SumBackward0(Node):
    __slots__ = ()
    _saved_attrs = {"self_sym_sizes": "@shape0"}

    def vjp(self, g):
        return g.expand(self._in_meta[0][0])

    def jvp(self, t):  # sum is linear: its tangent is the sum of the tangent
        return t.sum()


class SumBackward1(Node):
    __slots__ = ("dims", "keepdim")
    _saved_attrs = {"dim": "dims", "keepdim": "keepdim", "self_sym_sizes": "@shape0"}

    def vjp(self, g):
        shape = self._in_meta[0][0]
        return restore_dims(g, shape, self.dims, self.keepdim).expand(shape)

    def jvp(self, t):
        return t.sum(self.dims, self.keepdim) if t.dim() else t


def _sum_dtype(x: Tensor, dtype):
    if dtype is not None:
        return dtype
    return D.int64 if x._dtype.category < D.FLOAT else x._dtype


def sum(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A001,A002
    """Sum of all elements, or over dim (an int or a tuple of ints).

    >>> import tapegrad
    >>> tapegrad.tensor([[1., 2.], [3., 4.]]).sum(0)
    tensor([4., 6.])
    """
    input = as_tensor_arg(input)  # noqa: A001
    dt = _sum_dtype(input, dtype)
    a = input._data
    if a.dtype != dt.np:
        a = a.astype(dt.np)
    if dim is None and not keepdim:
        r = np.asarray(a.sum(dtype=dt.np))
        return wrap(r, new_node(SumBackward0, (input,)))
    dims = reduce_dims(dim, a.ndim)
    r = np.asarray(a.sum(axis=dims, keepdims=keepdim, dtype=dt.np)) if a.ndim else a.copy()
    node = new_node(SumBackward1, (input,))
    if node is not None:
        node.dims, node.keepdim = dims, keepdim
    return wrap(r, node)


class MeanBackward0(Node):
    __slots__ = ()
    _saved_attrs = {"self_sym_numel": "@numel0", "self_sym_sizes": "@shape0"}

    def vjp(self, g):
        shape = self._in_meta[0][0]
        n = 1
        for s in shape:
            n *= s
        return g.expand(shape) / n

    def jvp(self, t):
        return t.mean()


class MeanBackward1(Node):
    __slots__ = ("dims", "keepdim")
    _saved_attrs = {"dim": "dims", "keepdim": "keepdim", "self_sym_numel": "@numel0",
                    "self_sym_sizes": "@shape0"}

    def vjp(self, g):
        shape = self._in_meta[0][0]
        n = 1
        for d in self.dims:
            n *= shape[d] if shape else 1
        return restore_dims(g, shape, self.dims, self.keepdim).expand(shape) / n

    def jvp(self, t):
        return t.mean(self.dims, self.keepdim) if t.dim() else t


def _mean_check(x: Tensor, dtype):
    dt = dtype or x._dtype
    if dt.category < D.FLOAT:
        which = "Input" if dtype is None else "Optional"
        raise RuntimeError(
            f"mean(): could not infer output dtype. {which} dtype must be either a floating point "
            f"or complex dtype. Got: {dt._short}"
        )
    return dt


def _empty_mean(a, axis, keepdim):
    """The mean of an empty tensor: nan where nothing is averaged (without NumPy's warning)."""
    n = a.size if axis is None else int(np.prod([a.shape[d] for d in axis]))
    with np.errstate(all="ignore"):
        return np.asarray(a.sum(axis=axis, keepdims=keepdim) / a.dtype.type(n))


def mean(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """Arithmetic mean of all elements, or over dim.

    >>> import tapegrad
    >>> tapegrad.tensor([[1., 2.], [3., 5.]]).mean(1)
    tensor([1.5000, 4.0000])
    """
    input = as_tensor_arg(input)  # noqa: A001
    dt = _mean_check(input, dtype)
    a = input._data
    if a.dtype != dt.np:
        a = a.astype(dt.np)
    if dim is None and not keepdim:
        r = np.asarray(a.mean(dtype=dt.np)) if a.size else _empty_mean(a, None, False)
        return wrap(r, new_node(MeanBackward0, (input,)))
    dims = reduce_dims(dim, a.ndim)
    if not a.ndim:
        r = a.copy()
    elif a.size:
        r = np.asarray(a.mean(axis=dims, keepdims=keepdim, dtype=dt.np))
    else:
        r = _empty_mean(a, dims, keepdim)
    node = new_node(MeanBackward1, (input,))
    if node is not None:
        node.dims, node.keepdim = dims, keepdim
    return wrap(r, node)


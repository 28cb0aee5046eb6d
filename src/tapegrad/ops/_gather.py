"""Gather along a dim and its reverse, scatter-add: a primitive pair closed under reverse.

    gather:       out[..., i, ...] = x[..., index[..., i, ...], ...]          (along dim)
    scatter_add:  out = base, then out[..., index[..., i, ...], ...] += src[..., i, ...]

The vjp of gather is a scatter-add of g into zeros of x's shape (repeated indices accumulate),
and the vjp of scatter-add is g for base and a gather of g for src, so gradients of any order
stay inside the pair. The value-selecting ops (sort, topk, kthvalue, median, mode, cummax,
quantile, ...) send their gradients through these. `index` is an int64 NumPy array or an
integer Tensor (a constant: it never carries a gradient); index shapes are the output's, no
larger than x's outside dim. Argument checking for the public gather / scatter_add API is the
caller's job.
"""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import batched_cotangent, new_node, rebatch, wrap

__all__: list[str] = []  # internal primitives: gather_along, scatter_add_along


def _index_array(index) -> np.ndarray:
    a = index._data if isinstance(index, Tensor) else np.asarray(index)
    return a if a.dtype == np.int64 else a.astype(np.int64)


def _gather_np(a: np.ndarray, dim: int, idx: np.ndarray) -> np.ndarray:
    if idx.size == 0:
        return np.empty(idx.shape, dtype=a.dtype)
    if a.ndim == 0 or idx.ndim == 0:  # a 0-d tensor acts as one of shape (1,), as in PyTorch
        return _gather_np(a.reshape(-1), 0, idx.reshape(-1)).reshape(idx.shape)
    if a.shape != idx.shape:
        a = a[tuple(slice(None) if d == dim else slice(0, s) for d, s in enumerate(idx.shape))]
    return np.take_along_axis(a, idx, axis=dim)


def _scatter_add_np(out: np.ndarray, dim: int, idx: np.ndarray, src: np.ndarray,
                    unique: bool) -> np.ndarray:
    """Add src at idx along dim into out (in place; out is a fresh array)."""
    if idx.size == 0:
        return out
    if out.ndim == 0 or idx.ndim == 0:  # 0-d tensors act as ones of shape (1,)
        _scatter_add_np(out.reshape(-1), 0, idx.reshape(-1), src.reshape(-1), unique)
        return out
    if src.shape != idx.shape:
        src = src[tuple(slice(0, s) for s in idx.shape)]
    if unique and out.shape == idx.shape:
        # each position along dim is hit at most once: a read-add-write is the sum
        np.put_along_axis(out, idx, np.take_along_axis(out, idx, axis=dim) + src, axis=dim)
        return out
    key = list(np.indices(idx.shape, sparse=True))
    key[dim] = idx
    np.add.at(out, tuple(key), src)
    return out


class GatherBackward0(Node):
    # d out / d x: g scattered back (added) to the positions it was gathered from
    __slots__ = ("dim", "index", "unique")

    def vjp(self, g):
        return scatter_add_along(None, self.dim, self.index, g, self._in_meta[0][0], self.unique)


class ScatterAddBackward0(Node):
    # out = base + scatter(src): d/d base = g, d/d src = gather(g) at the same positions
    __slots__ = ("dim", "index", "unique", "shape")

    def vjp(self, g):
        nb, ns = self._next
        gb = g if nb[0] is not None else None
        gs = gather_along(g, self.dim, self.index, self.unique) if ns[0] is not None else None
        return gb, gs

    def jvp(self, tb, ts):
        # linear in (base, src): t_out = t_base + scatter_add(zeros, t_src), where only the
        # part of src that the index covers is read (src may be larger than the index)
        r = None if ts is None else scatter_add_along(None, self.dim, self.index, ts,
                                                      self.shape, self.unique)
        if tb is None:
            return r
        return tb if r is None else tb + r


def gather_along(x: Tensor, dim: int, index, unique: bool = False) -> Tensor:
    """x gathered at index along dim (dim already wrapped; index int64, checked by the caller).

    `unique` says each position of x along dim is picked at most once per slice (a
    permutation or a selection without repeats): the backward scatter then needs no
    accumulation.
    """
    idx = _index_array(index)
    if type(x) is not Tensor:  # a batch of cotangents under vmap: per sample
        b = batched_cotangent(x)
        if b is not None and idx.ndim and b[0].dim() > 1:
            bidx = np.broadcast_to(idx, (b[0].shape[0],) + idx.shape)
            return rebatch(gather_along(b[0], dim + 1, bidx, unique), b[1])
        if b is not None:  # a 0-d x or index acts as one of shape (1,)
            n, i1 = b[0].shape[0], idx.reshape(-1)
            r = gather_along(b[0].reshape(n, -1), 1, np.broadcast_to(i1, (n,) + i1.shape), unique)
            return rebatch(r.reshape((n,) + idx.shape), b[1])
    r = _gather_np(x._data, dim, idx)
    node = new_node(GatherBackward0, (x,))
    if node is not None:
        node.dim, node.index, node.unique = dim, idx, unique
    return wrap(r, node)


def scatter_add_along(base, dim: int, index, src: Tensor, shape=None,
                      unique: bool = False) -> Tensor:
    """base (or zeros of `shape` when base is None) with src added at index along dim."""
    idx = _index_array(index)
    if type(src) is not Tensor and base is None:
        b = batched_cotangent(src)  # a batch of cotangents under vmap: scattered per sample
        if b is not None and idx.ndim and len(shape):
            n = b[0].shape[0]
            bidx = np.broadcast_to(idx, (n,) + idx.shape)
            return rebatch(scatter_add_along(None, dim + 1, bidx, b[0], (n,) + tuple(shape),
                                             unique), b[1])
        if b is not None:  # a 0-d x or index acts as one of shape (1,)
            n, i1 = b[0].shape[0], idx.reshape(-1)
            r = scatter_add_along(None, 1, np.broadcast_to(i1, (n,) + i1.shape),
                                  b[0].reshape(n, -1), (n,) + (tuple(shape) or (1,)), unique)
            return rebatch(r.reshape((n,) + tuple(shape)), b[1])
    s = src._data
    out = np.zeros(shape, dtype=s.dtype) if base is None else base._data.copy()
    _scatter_add_np(out, dim, idx, s if s.dtype == out.dtype else s.astype(out.dtype), unique)
    node = new_node(ScatterAddBackward0, (base, src))
    if node is not None:
        node.dim, node.index, node.unique, node.shape = dim, idx, unique, out.shape
    return wrap(out, node)


def select_backward(g: Tensor, shape: tuple, dim: int, index, keepdim: bool = True,
                    unique: bool = True) -> Tensor:
    """The gradient of a value-selecting op (out = x gathered at index along dim): g put back
    at index into zeros of x's shape. Without keepdim, g and index lack dim and get it back.
    This is PyTorch's value_selecting_reduction_backward, written as a scatter-add."""
    if not shape:
        return g
    idx = _index_array(index)
    if not keepdim:
        g = g.unsqueeze(dim)
        idx = np.expand_dims(idx, dim)
    return scatter_add_along(None, dim, idx, g, shape, unique)

"""Masked and flat-index ops: masked_fill, masked_select, masked_scatter, take, put; and the
in-place masked_fill_, masked_scatter_, put_ for tensors outside the graph.

Primitive pairs, closed under reverse (vjps use only these):
  masked_select  (MaskedSelectBackward0) <-> masked_scatter into zeros (MaskedScatterBackward0)
  masked_fill    (MaskedFillBackward0/1): d x = g with zeros where the mask holds (its own
                 adjoint); d value = the sum of g where the mask holds
  masked_scatter: d x = g zeroed where the mask holds, d source = masked_select(g) padded
                 with zeros to source's size
  take           (TakeBackward0) <-> put with accumulate (PutBackward0)
  put            (PutBackward0): d x = g (accumulate) or g with zeros put at index, d source =
                 take(g) in source's shape
Out-of-place masked ops broadcast input and mask together, as PyTorch's do.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _tp_name
from ..autograd.graph import Node
from ._core import batched_cotangent, new_node, rebatch, scalar_types, wrap
from ._index_util import broadcast_pair, fill_value, tensor_arg
from ._selectutil import method
from .index_ops import batch_pair
from .inplace import inplace_of

__all__ = ["masked_fill", "masked_select", "masked_scatter", "take", "put"]


def _bool_mask(mask: Tensor, fn: str) -> np.ndarray:
    if mask._dtype is not D.bool:
        raise RuntimeError(f"{fn} only supports boolean masks, but got mask with dtype "
                           f"{mask._dtype._cname}")
    return mask._data


# --- nodes -------------------------------------------------------------------------------
class MaskedFillBackward0(Node):
    # out = where(mask, value, x): d x = g where the mask is False, 0 where it holds
    __slots__ = ("mask",)

    def vjp(self, g):
        return _masked_fill(g, self.mask, 0)


class MaskedFillBackward1(Node):
    # as MaskedFillBackward0, with a 0-d tensor value: d value = sum of g where the mask holds
    __slots__ = ("mask",)

    def vjp(self, g):
        nx, nv = self._next
        gx = _masked_fill(g, self.mask, 0) if nx[0] is not None else None
        gv = _masked_select(g, self.mask).sum() if nv[0] is not None else None
        return gx, gv


class MaskedSelectBackward0(Node):
    # out = x[mask] (broadcast together): d x = zeros with g scattered where the mask holds
    __slots__ = ("mask",)

    def vjp(self, g):
        shape = broadcast_pair(self.mask.shape, self._in_meta[0][0])
        return _masked_scatter(g.new_zeros(shape), self.mask, g)


class MaskedScatterBackward0(Node):
    # out = x with source's leading values written where the mask holds
    __slots__ = ("mask",)

    def vjp(self, g):
        nx, ns = self._next
        gx = _masked_fill(g, self.mask, 0) if nx[0] is not None else None
        gs = None
        if ns[0] is not None:
            sshape = self._in_meta[1][0]
            gs = _masked_select(g, self.mask)
            n = 1
            for s in sshape:
                n *= s
            if n > gs.numel():  # source values past the mask's count get zero gradient
                from .join import cat

                gs = cat([gs, gs.new_zeros((n - gs.numel(),))])
            gs = gs.reshape(sshape)
        return gx, gs


class TakeBackward0(Node):
    # out = x.flatten()[index]: d x = zeros with g added at index (repeats accumulate)
    __slots__ = ("index",)

    def vjp(self, g):
        shape = self._in_meta[0][0]
        return _put(g.new_zeros(shape), self.index, g, True)


class PutBackward0(Node):
    # out = x with source put (or added) at the flat positions index
    __slots__ = ("index", "accumulate")

    def vjp(self, g):
        nx, ns = self._next
        gx = gs = None
        if nx[0] is not None:  # put overwrote x at index: no gradient reaches it there
            gx = g if self.accumulate else _put(g, self.index, g.new_zeros(self.index.shape),
                                               False)
        if ns[0] is not None:
            gs = _take(g, self.index).reshape(self._in_meta[1][0])
        return gx, gs


# --- batches of cotangents under vmap ----------------------------------------------------
# A backward pass over a batch of cotangents hands these primitives BatchedTensors; each runs
# once on the physical tensors (batch dim in front), the mask given a leading 1 for it and
# the sample and mask aligned to their broadcast shape first, and the flat positions of take
# and put offset by each sample's start.
def _aligned(p: Tensor, m: np.ndarray):
    """(p as (B, *ones, *sample shape), m as (1, *ones, *m.shape), the broadcast sample
    shape) for a physical batch p: both of one rank, so the mask broadcasts per sample."""
    shape = tuple(p.shape[1:])
    ls = broadcast_pair(m.shape, shape)
    k = len(ls)
    p = p.reshape((p.shape[0],) + (1,) * (k - len(shape)) + shape)
    return p, m.reshape((1,) * (k + 1 - m.ndim) + m.shape), ls


def _flat_offsets(idx: np.ndarray, n: int, numel: int) -> np.ndarray:
    """idx (flat positions in one sample) for each of n samples laid end to end."""
    return idx[None] + (np.arange(n, dtype=idx.dtype) * numel).reshape((n,) + (1,) * idx.ndim)


# --- internal differentiable primitives (arguments already checked) ----------------------
def _masked_fill(x: Tensor, m: np.ndarray, v, value: Tensor | None = None) -> Tensor:
    """where(m, v, x) broadcast together, in x's dtype; value is the 0-d tensor v came from."""
    if type(x) is not Tensor and value is None:  # a batch of cotangents under vmap
        b = batched_cotangent(x)
        if b is not None:
            p, mb, _ = _aligned(b[0], m)
            return rebatch(_masked_fill(p, mb, v), b[1])
    a = x._data
    shape = broadcast_pair(m.shape, a.shape)
    r = np.array(np.broadcast_to(a, shape), order="C")
    with np.errstate(all="ignore"):
        np.copyto(r, v, casting="unsafe", where=m)
    if value is None:
        node = new_node(MaskedFillBackward0, (x,))
    else:
        node = new_node(MaskedFillBackward1, (x, value))
    if node is not None:
        node.mask = m
    return wrap(r, node)


def _masked_select(x: Tensor, m: np.ndarray) -> Tensor:
    if type(x) is not Tensor:  # a batch of cotangents under vmap: (B, count) selected
        b = batched_cotangent(x)
        if b is not None:
            p, mb, ls = _aligned(b[0], m)
            n = p.shape[0]
            r = _masked_select(p, np.broadcast_to(mb, (n,) + ls))
            return rebatch(r.reshape(n, -1), b[1])
    a = x._data
    shape = broadcast_pair(m.shape, a.shape)
    r = np.broadcast_to(a, shape)[np.broadcast_to(m, shape)]
    node = new_node(MaskedSelectBackward0, (x,))
    if node is not None:
        node.mask = m
    return wrap(r, node)


def _masked_scatter(x: Tensor, m: np.ndarray, src: Tensor) -> Tensor:
    if type(x) is not Tensor or type(src) is not Tensor:  # batches of cotangents under vmap
        bp = batch_pair(x, src)
        if bp is not None:
            p, mb, ls = _aligned(bp[0], m)
            n = p.shape[0]
            count = int(np.count_nonzero(np.broadcast_to(m, ls)))
            ps = bp[1].reshape(n, -1)
            if ps.shape[1] >= count:  # each sample's leading `count` source values
                ps = ps[:, :count].reshape(-1)
                return rebatch(_masked_scatter(p, np.broadcast_to(mb, (n,) + ls), ps), bp[2])
    a = x._data
    shape = broadcast_pair(m.shape, a.shape)
    r = np.array(np.broadcast_to(a, shape), order="C")
    mb = np.broadcast_to(m, shape)
    n = int(np.count_nonzero(mb))
    if n > src._data.size:
        raise RuntimeError("Number of elements of source < number of ones in mask")
    r[mb] = src._data.reshape(-1)[:n]
    node = new_node(MaskedScatterBackward0, (x, src))
    if node is not None:
        node.mask = m
    return wrap(r, node)


def _take(x: Tensor, idx: np.ndarray) -> Tensor:
    if type(x) is not Tensor:  # a batch of cotangents under vmap: (B, *idx.shape)
        b = batched_cotangent(x)
        if b is not None:
            p = b[0]
            n = p.shape[0]
            return rebatch(_take(p, _flat_offsets(idx, n, p.numel() // n if n else 0)), b[1])
    r = x._data.reshape(-1)[idx]
    node = new_node(TakeBackward0, (x,))
    if node is not None:
        node.index = idx
    return wrap(r, node)


def _put(x: Tensor, idx: np.ndarray, src: Tensor, accumulate: bool) -> Tensor:
    if type(x) is not Tensor or type(src) is not Tensor:  # batches of cotangents under vmap
        bp = batch_pair(x, src)
        if bp is not None:  # each sample puts into its own stretch of the flat batch
            p, ps, level = bp
            n = p.shape[0]
            bidx = _flat_offsets(idx, n, p.numel() // n if n else 0)
            return rebatch(_put(p, bidx, ps, accumulate), level)
    r = x._data.copy()
    flat = r.reshape(-1)  # a view of the fresh copy
    s = src._data.reshape(-1)
    if accumulate:
        np.add.at(flat, idx.reshape(-1), s)
    else:
        flat[idx.reshape(-1)] = s
    node = new_node(PutBackward0, (x, src))
    if node is not None:
        node.index, node.accumulate = idx, accumulate
    return wrap(r, node)


# --- public API --------------------------------------------------------------------------
def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:  # noqa: A002
    """input with `value` (a number or a 0-d tensor) where mask is True (broadcast together).

    >>> import tapegrad
    >>> x = tapegrad.tensor([1., -2., 3.])
    >>> x.masked_fill(x < 0, 0.)
    tensor([1., 0., 3.])
    """
    mask = tensor_arg(mask, "masked_fill", "mask", 2)
    if not isinstance(value, (Tensor, *scalar_types)):
        t = _tp_name(value)
        bad = ("      didn't match because some of the arguments have invalid types: "
               f"(Tensor, !{t}!)\n")
        raise TypeError(
            f"masked_fill() received an invalid combination of arguments - got (Tensor, {t}), "
            f"but expected one of:\n * (Tensor mask, Tensor value)\n{bad} * (Tensor mask, Number "
            f"value)\n{bad}")
    m = _bool_mask(mask, "masked_fill_")
    broadcast_pair(m.shape, input._data.shape)  # PyTorch checks the shapes before the value
    v = fill_value(value, input._dtype, "masked_fill_", input._data.size)
    return _masked_fill(input, m, v, value if isinstance(value, Tensor) else None)


def masked_select(input: Tensor, mask: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The values of input where mask is True (broadcast together), as a 1-D tensor.

    >>> import tapegrad
    >>> x = tapegrad.tensor([[1., -2.], [-3., 4.]])
    >>> x.masked_select(x > 0)
    tensor([1., 4.])
    """
    mask = tensor_arg(mask, "masked_select", "mask", 2)
    if mask._dtype is not D.bool:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    res = _masked_select(input, mask._data)
    if out is not None:
        from .inplace import copy_out

        return copy_out(out, res)
    return res


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:  # noqa: A002
    """input with the leading values of source written, in order, where mask is True.

    >>> import tapegrad
    >>> x = tapegrad.zeros(4)
    >>> x.masked_scatter(tapegrad.tensor([True, False, True, False]), tapegrad.tensor([1., 2.]))
    tensor([1., 0., 2., 0.])
    """
    mask = tensor_arg(mask, "masked_scatter", "mask", 2)
    source = tensor_arg(source, "masked_scatter", "source", 3)
    if mask._dtype is D.uint8:
        warnings.warn("masked_scatter_ received a mask with dtype tapegrad.uint8, this behavior "
                      "is now deprecated,please use a mask with dtype tapegrad.bool instead.",
                      UserWarning, stacklevel=2)
    if mask._dtype is not D.bool:
        raise RuntimeError("masked_scatter_ only supports boolean masks, but got mask with "
                           f"dtype {mask._dtype._short}")
    if source._dtype is not input._dtype:
        raise RuntimeError("masked_scatter: expected self and source to have same dtypes but got"
                           f"{input._dtype._short} and {source._dtype._short}")
    return _masked_scatter(input, mask._data, source)


def _flat_index(index, fn: str, pos: int) -> np.ndarray:
    index = tensor_arg(index, fn.rstrip("_"), "index", pos)
    if index._dtype is not D.int64:
        raise RuntimeError(f"{fn}(): Expected a long tensor for index, but got "
                           f"{index._dtype._short}")
    return index._data


def _normalize_flat(idx: np.ndarray, n: int) -> np.ndarray:
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        v = int(idx.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
        raise IndexError(f"out of range: tried to access index {v} on a tensor of {n} elements.")
    return np.where(idx < 0, idx + n, idx) if (idx < 0).any() else idx


def take(input: Tensor, index: Tensor) -> Tensor:  # noqa: A002
    """The values of input, seen as 1-D, at index (negative indices count from the end); the
    result has index's shape.

    >>> import tapegrad
    >>> tapegrad.tensor([[1., 2.], [3., 4.]]).take(tapegrad.tensor([[0, 3], [-1, 1]]))
    tensor([[1., 4.],
            [4., 2.]])
    """
    idx = _flat_index(index, "take", 2)
    return _take(input, _normalize_flat(idx, input._data.size))


def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:  # noqa: A002
    """input with source's values put at the flat positions index (added when accumulate).

    >>> import tapegrad
    >>> tapegrad.zeros(2, 2).put(tapegrad.tensor([3, 0]), tapegrad.tensor([5., 6.]))
    tensor([[6., 0.],
            [0., 5.]])
    """
    idx = _flat_index(index, "put_", 2)
    source = tensor_arg(source, "put", "source", 3)
    if source._data.size != idx.size:
        raise IndexError(
            "put_(): Expected source and index to have the same number of elements, but got "
            f"source.numel() = {source._data.size}, index.numel() = {idx.size}")
    if source._dtype is not input._dtype:
        raise RuntimeError(
            "put_(): self and source expected to have the same dtype, but got self.dtype = "
            f"{input._dtype._short} and source.dtype = {source._dtype._short}")
    return _put(input, _normalize_flat(idx, input._data.size), source, bool(accumulate))


# --- in-place forms (tensors outside the graph) ------------------------------------------
_inplace = inplace_of


masked_fill_ = _inplace(masked_fill, "masked_fill_")
masked_scatter_ = _inplace(masked_scatter, "masked_scatter_")
put_ = _inplace(put, "put_")

METHODS = {"masked_fill": method(masked_fill), "masked_select": method(masked_select),
           "masked_scatter": method(masked_scatter), "take": method(take), "put": method(put),
           "masked_fill_": masked_fill_, "masked_scatter_": masked_scatter_, "put_": put_}

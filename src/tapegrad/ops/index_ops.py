"""Index ops along one dim with a 1-D index: index_select, index_add, index_copy, index_fill;
and the in-place index_add_, index_copy_, index_fill_ for tensors outside the graph.

Primitive pairs, closed under reverse (vjps use only these):
  index_select (IndexSelectBackward0) <-> index_add into zeros (IndexAddBackward0)
  index_add:   d x = g, d source = alpha * index_select(g)
  index_copy   (IndexCopyBackward0): d x = g with zeros at index (index_fill), d source =
               index_select(g)
  index_fill   (IndexFillBackward0/1): d x = g with zeros at index (its own adjoint);
               d value = the sum of g over the (distinct) indexed slices
A 0-d input acts as one of shape (1,), as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import batched_cotangent, is_batched_value, new_node, rebatch, scalar_types, wrap
from ._index_util import check_bounds, fill_value, shape_str, tensor_arg, wrap_dim
from ._selectutil import int_arg, method
from .inplace import copy_out, inplace_of

__all__ = ["index_select", "index_add", "index_copy", "index_fill"]


def _key(d: int, idx: np.ndarray) -> tuple:
    return (slice(None),) * d + (idx.reshape(-1),)


def _flat0(a: np.ndarray) -> np.ndarray:
    return a.reshape(1) if a.ndim == 0 else a


# --- nodes -------------------------------------------------------------------------------
class IndexSelectBackward0(Node):
    # out = x.take(index, dim): d x = zeros with g added at index (repeats accumulate)
    __slots__ = ("dim", "index")

    def vjp(self, g):
        shape = self._in_meta[0][0]
        return _index_add(g.new_zeros(shape), self.dim, self.index, g, 1)


class IndexAddBackward0(Node):
    # out = x + alpha * (source added at index): d x = g, d source = alpha * g[index]
    __slots__ = ("dim", "index", "alpha")

    def vjp(self, g):
        nx, ns = self._next
        gs = None
        if ns[0] is not None:
            gs = _index_select(g, self.dim, self.index)
            if self.alpha != 1:
                gs = gs * self.alpha
        return (g if nx[0] is not None else None), gs


class IndexCopyBackward0(Node):
    # out = x with source's slices at index: d x = g zeroed at index, d source = g[index]
    __slots__ = ("dim", "index")

    def vjp(self, g):
        nx, ns = self._next
        gx = _index_fill(g, self.dim, self.index, 0) if nx[0] is not None else None
        gs = _index_select(g, self.dim, self.index) if ns[0] is not None else None
        return gx, gs


class IndexFillBackward0(Node):
    # out = x with value at index: d x = g zeroed at index
    __slots__ = ("dim", "index")

    def vjp(self, g):
        return _index_fill(g, self.dim, self.index, 0)


class IndexFillBackward1(Node):
    # as IndexFillBackward0 with a 0-d tensor value: d value = sum of g over the slices at
    # the distinct indices (a slice filled twice takes the value once)
    __slots__ = ("dim", "index")

    def vjp(self, g):
        nx, nv = self._next
        gx = _index_fill(g, self.dim, self.index, 0) if nx[0] is not None else None
        gv = None
        if nv[0] is not None:
            gv = _index_select(g, self.dim, np.unique(self.index)).sum()
        return gx, gv


# --- batches of cotangents under vmap ----------------------------------------------------
# A backward pass over a batch of cotangents hands these primitives BatchedTensors. Each one
# then runs once on the physical tensors, the batch as a new leading dim (the indexed dim
# moves one place right; a 0-d sample is viewed as shape (1,), as the primitives treat it).
def batch_pair(x, y):
    """(physical x, physical y, level) when x or y is a batch of cotangents (the other one,
    plain, repeated over the batch as a view), else None (both plain, or batched in a way
    this cannot fold: nested or at different levels)."""
    bx, by = batched_cotangent(x), batched_cotangent(y)
    if bx is None and by is None:
        return None
    if bx is not None and by is not None:
        return (bx[0], by[0], bx[1]) if bx[1] == by[1] else None
    if bx is None:
        if is_batched_value(x):
            return None
        n = by[0].shape[0]
        return x.unsqueeze(0).expand((n,) + tuple(x.shape)), by[0], by[1]
    if is_batched_value(y):
        return None
    n = bx[0].shape[0]
    return bx[0], y.unsqueeze(0).expand((n,) + tuple(y.shape)), bx[1]


def _rows(p: Tensor) -> Tensor:
    """A physical batch of 0-d samples, (B,), as (B, 1); others as they are."""
    return p.reshape(p.shape[0], 1) if p.dim() == 1 else p


def _unrows(r: Tensor, like: Tensor) -> Tensor:
    return r.reshape(like.shape) if like.dim() == 1 else r


# --- internal differentiable primitives (arguments already checked, indices >= 0) --------
def _index_select(x: Tensor, d: int, idx: np.ndarray) -> Tensor:
    if type(x) is not Tensor:  # a batch of cotangents under vmap
        b = batched_cotangent(x)
        if b is not None:
            return rebatch(_unrows(_index_select(_rows(b[0]), d + 1, idx), b[0]), b[1])
    a = x._data
    if a.ndim == 0:
        r = a.reshape(1)[idx.reshape(-1)].reshape(())
    else:
        r = np.take(a, idx.reshape(-1), axis=d)
    node = new_node(IndexSelectBackward0, (x,))
    if node is not None:
        node.dim, node.index = d, idx
    return wrap(r, node)


def _index_add(x: Tensor, d: int, idx: np.ndarray, src: Tensor, alpha) -> Tensor:
    if type(x) is not Tensor or type(src) is not Tensor:  # batches of cotangents under vmap
        bp = batch_pair(x, src)
        if bp is not None:  # (a 0-d x goes with a 0-d source)
            px, ps, level = bp
            r = _index_add(_rows(px), d + 1, idx, _rows(ps), alpha)
            return rebatch(_unrows(r, px), level)
    r = x._data.copy()
    s = src._data
    if alpha != 1:
        s = s * alpha
    if s.dtype != r.dtype:
        s = s.astype(r.dtype)
    o = _flat0(r)
    np.add.at(o, _key(d, idx), s if s.ndim or r.ndim else s.reshape(1))
    node = new_node(IndexAddBackward0, (x, src))
    if node is not None:
        node.dim, node.index, node.alpha = d, idx, alpha
    return wrap(r, node)


def _index_fill(x: Tensor, d: int, idx: np.ndarray, v, value: Tensor | None = None) -> Tensor:
    if type(x) is not Tensor and value is None:  # a batch of cotangents under vmap
        b = batched_cotangent(x)
        if b is not None:
            return rebatch(_unrows(_index_fill(_rows(b[0]), d + 1, idx, v), b[0]), b[1])
    r = x._data.copy()
    with np.errstate(all="ignore"):
        _flat0(r)[_key(d, idx)] = v
    if value is None:
        node = new_node(IndexFillBackward0, (x,))
    else:
        node = new_node(IndexFillBackward1, (x, value))
    if node is not None:
        node.dim, node.index = d, idx
    return wrap(r, node)


def _index_copy(x: Tensor, d: int, idx: np.ndarray, src: Tensor) -> Tensor:
    r = x._data.copy()
    o = _flat0(r)
    k = _key(d, idx)
    s = src._data
    if s.ndim == 0 or r.ndim == 0:
        o[k] = s.reshape(-1)
    else:
        o[k] = s
    node = new_node(IndexCopyBackward0, (x, src))
    if node is not None:
        node.dim, node.index = d, idx
    return wrap(r, node)


# --- public API --------------------------------------------------------------------------
def index_select(input: Tensor, dim: int, index: Tensor, *,  # noqa: A002
                 out: Tensor | None = None) -> Tensor:
    """The slices of input along dim at the positions in the 1-D index (repeats allowed).

    >>> import tapegrad
    >>> x = tapegrad.tensor([[1., 2.], [3., 4.], [5., 6.]])
    >>> x.index_select(0, tapegrad.tensor([2, 0, 2]))
    tensor([[5., 6.],
            [1., 2.],
            [5., 6.]])
    """
    a = input._data
    d = wrap_dim(int_arg(dim, "index_select", "dim", 2), a.ndim)
    index = tensor_arg(index, "index_select", "index", 3)
    idx = index._data
    if idx.dtype != np.int64 and idx.dtype != np.int32:
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    if idx.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    if a.ndim == 0 and idx.size != 1:
        raise RuntimeError("index_select(): Index to scalar can have only 1 value, got "
                           f"{idx.size} value(s)")
    n = a.shape[d] if a.ndim else 1
    if idx.size and ((idx < 0).any() or (idx >= n).any()):
        raise IndexError("index out of range in self")
    res = _index_select(input, d, idx.astype(np.int64, copy=False))
    return copy_out(out, res) if out is not None else res


def _check_source(fn: str, input: Tensor, d: int, idx: np.ndarray, source: Tensor) -> None:
    """index_add's checks of index and source (PyTorch's index_func_meta_impl)."""
    if idx.ndim > 1:
        raise IndexError(
            f"{fn}_(): Index is supposed to be a vector, but got dim: {idx.ndim} with type: "
            f"{D.from_numpy_dtype(idx.dtype)._short} and size: {shape_str(idx.shape)}")
    if idx.dtype != np.int64 and idx.dtype != np.int32:
        raise RuntimeError(f"{fn}_(): Expected dtype int32/int64 for index but got: "
                           f"{D.from_numpy_dtype(idx.dtype)._short}")
    if source._dtype is not input._dtype:
        raise RuntimeError(f"{fn}_(): self ({input._dtype._short}) and source "
                           f"({source._dtype._short}) must have the same scalar type")
    s = source._data.shape
    if d != 0 and d >= len(s):
        raise RuntimeError(f"{fn}_(): Indexing dim {d} is out of bounds of the source tensor "
                           f"with dim {len(s)}")
    ns = s[d] if s else 1
    if idx.size != ns:
        raise RuntimeError(f"{fn}_(): Number of indices ({idx.size}) should be equal to "
                           f"source.size(dim): ({ns}), for dim: {d}")
    xs = input._data.shape
    if s and xs:
        same = xs[:d] + xs[d + 1:] == s[:d] + s[d + 1:]
    else:
        same = xs == s
    if not same:
        raise RuntimeError(
            "source tensor shape must match self tensor shape, excluding the specified "
            f"dimension. Got self.shape = {shape_str(xs)} source.shape = {shape_str(s)}")


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *,  # noqa: A002
              alpha=1, out: Tensor | None = None) -> Tensor:
    """input with alpha * source's slices added at index along dim (repeats accumulate).

    >>> import tapegrad
    >>> tapegrad.zeros(3).index_add(0, tapegrad.tensor([0, 0, 2]), tapegrad.tensor([1., 2., 3.]))
    tensor([3., 0., 3.])
    """
    a = input._data
    d = wrap_dim(int_arg(dim, "index_add", "dim", 2), a.ndim)
    index = tensor_arg(index, "index_add", "index", 3)
    source = tensor_arg(source, "index_add", "source", 4)
    idx = index._data
    _check_source("index_add", input, d, idx, source)
    idx = idx.astype(np.int64, copy=False)
    check_bounds(idx, a.shape[d] if a.ndim else 1, d)
    if input._dtype.category < D.FLOAT and isinstance(alpha, float):
        alpha = int(alpha)  # PyTorch converts alpha to the integer dtype
    res = _index_add(input, d, idx, source, alpha)
    return copy_out(out, res) if out is not None else res


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:  # noqa: A002
    """input with source's slices copied to the positions in index along dim (with repeated
    indices the last copy wins).

    >>> import tapegrad
    >>> tapegrad.zeros(3).index_copy(0, tapegrad.tensor([2, 0]), tapegrad.tensor([1., 2.]))
    tensor([2., 0., 1.])
    """
    a = input._data
    d = wrap_dim(int_arg(dim, "index_copy", "dim", 2), a.ndim)
    index = tensor_arg(index, "index_copy", "index", 3)
    source = tensor_arg(source, "index_copy", "source", 4)
    idx = index._data
    s = source._data.shape
    if idx.ndim >= 2:
        raise IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got {idx.ndim})")
    if not s and idx.size != 1:
        raise IndexError("index_copy_(): When source is scalar, index should have one element "
                         f"(got {idx.size})")
    if len(s) != a.ndim and s and a.ndim:
        raise IndexError(
            "index_copy_(): When source and destination are not scalars, their dimensionality "
            f"must match. Source dimensionality ({len(s)}), destination dimensionality "
            f"({a.ndim})")
    if index._dtype is not D.int64:
        raise RuntimeError("index_copy_(): Expected a long tensor for index, but got "
                           f"{index._dtype._short}")
    if source._dtype is not input._dtype:
        raise RuntimeError(
            "index_copy_(): self and source expected to have the same dtype, but got (self) "
            f"{input._dtype._short} and (source) {source._dtype._short}")
    xs_ = a.shape[:d] + a.shape[d + 1:]
    ss_ = s[:d] + s[d + 1:]
    if xs_ != ss_:
        raise RuntimeError(
            "index_copy_(): Source/destination tensor must have same slice shapes. Destination "
            f"slice shape: {' '.join(map(str, xs_))} at dimension {d} and source slice shape: "
            f"{' '.join(map(str, ss_))} at dimension 0.")
    if s and idx.size != s[d]:
        raise IndexError(f"index_copy_(): Number of indices ({idx.size}) should be equal to "
                         f"source.size(dim) ({s[d]})")
    n = a.shape[d] if a.ndim else 1
    check_bounds(idx, n, d, fmt="index_copy_(): index {v} is out of bounds for dimension {dim} "
                                "with size {size}", exc=IndexError)
    return _index_copy(input, d, idx, source)


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:  # noqa: A002
    """input with `value` (a number or a 0-d tensor) in the slices at index along dim.

    >>> import tapegrad
    >>> tapegrad.zeros(2, 3).index_fill(1, tapegrad.tensor([0, 2]), -1.)
    tensor([[-1.,  0., -1.],
            [-1.,  0., -1.]])
    """
    a = input._data
    d = wrap_dim(int_arg(dim, "index_fill", "dim", 2), a.ndim)
    index = tensor_arg(index, "index_fill", "index", 3)
    if index._dtype is not D.int64:
        raise IndexError("index_fill_(): Expected dtype int64 for index.")
    if not isinstance(value, (Tensor, *scalar_types)):
        from .._tensor import _tp_name

        raise TypeError(f"index_fill(): argument 'value' (position 4) must be Number, not "
                        f"{_tp_name(value)}")
    v = fill_value(value, input._dtype, "index_fill_", a.size)
    idx = index._data
    if idx.ndim > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    n = a.shape[d] if a.ndim else 1
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        raise IndexError(f"index {int(idx.reshape(-1)[int(np.argmax(bad.reshape(-1)))])} is out "
                         f"of bounds for dimension {d} with size {n}")
    if (idx < 0).any():
        idx = np.where(idx < 0, idx + n, idx)
    return _index_fill(input, d, idx, v, value if isinstance(value, Tensor) else None)


# --- in-place forms (tensors outside the graph) ------------------------------------------
_inplace = inplace_of


index_add_ = _inplace(index_add, "index_add_")
index_copy_ = _inplace(index_copy, "index_copy_")
index_fill_ = _inplace(index_fill, "index_fill_")

METHODS = {"index_select": method(index_select), "index_add": method(index_add),
           "index_copy": method(index_copy), "index_fill": method(index_fill),
           "index_add_": index_add_, "index_copy_": index_copy_, "index_fill_": index_fill_}

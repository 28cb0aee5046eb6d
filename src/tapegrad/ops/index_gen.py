"""Ops that compute indices or distinct values, with no derivative: nonzero, argwhere,
unique, unique_consecutive, bucketize, searchsorted, tril_indices, triu_indices.

As in PyTorch, unique's and unique_consecutive's values output still records a node when its
input requires grad (Unique2Backward0, UniqueDimBackward0, UniqueConsecutiveBackward0); that
node raises PyTorch's "the derivative for ... is not implemented." when differentiated.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make, _wrap_dim
from ..autograd.graph import Node
from ._core import new_node, scalar_types, wrap
from ._index_util import shape_str, tensor_arg
from ._selectutil import method

__all__ = ["nonzero", "argwhere", "unique", "unique_consecutive", "bucketize", "searchsorted",
           "tril_indices", "triu_indices"]


# --- nonzero / argwhere ---------------------------------------------------------------------
def nonzero(input: Tensor, *, out: Tensor | None = None, as_tuple: bool = False):  # noqa: A002
    """The indices of the non-zero elements: an (n, ndim) int64 tensor, or with as_tuple one
    1-D tensor per dim (a 0-d input counts as 1-D).

    >>> import tapegrad
    >>> tapegrad.tensor([[0., 1.], [2., 0.]]).nonzero()
    tensor([[0, 1],
            [1, 0]])
    """
    a = input._data
    if as_tuple:
        return tuple(wrap(i.astype(np.int64, copy=False)) for i in np.nonzero(
            a.reshape(1) if a.ndim == 0 else a))
    if a.ndim == 0:
        r = np.zeros((1 if a.item() else 0, 0), dtype=np.int64)
    else:
        r = np.argwhere(a).astype(np.int64, copy=False)
    res = wrap(r)
    if out is not None:
        from .inplace import copy_out

        return copy_out(out, res)
    return res


def argwhere(input: Tensor) -> Tensor:  # noqa: A002
    """The indices of the non-zero elements as an (n, ndim) int64 tensor (nonzero()).

    >>> import tapegrad
    >>> tapegrad.argwhere(tapegrad.tensor([0., 3., 4.]))
    tensor([[1],
            [2]])
    """
    return nonzero(input)


# --- unique / unique_consecutive --------------------------------------------------------------
class _NoDerivative(Node):
    __slots__ = ()
    fn = ""

    def vjp(self, g):
        raise NotImplementedError(f"the derivative for '{self.fn}' is not implemented.")


class Unique2Backward0(_NoDerivative):
    __slots__ = ()
    fn = "_unique2"


class UniqueDimBackward0(_NoDerivative):
    __slots__ = ()
    fn = "unique_dim"


class UniqueConsecutiveBackward0(_NoDerivative):
    __slots__ = ()
    fn = "unique_consecutive"


def _outputs(x: Tensor, cls, values, inverse, counts, ret_inv: bool, ret_cnt: bool):
    node = new_node(cls, (x,))
    v = _make(values, node, node is not None)
    if not (ret_inv or ret_cnt):
        return v
    res = (v,)
    if ret_inv:
        res += (wrap(inverse.astype(np.int64, copy=False)),)
    if ret_cnt:
        res += (wrap(counts.astype(np.int64, copy=False)),)
    return res


def _rows(a: np.ndarray, d: int) -> np.ndarray:
    """a with dim d first and the rest flattened: one row per slice along d."""
    m = np.moveaxis(a, d, 0)
    return m.reshape(m.shape[0], -1)


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A001,A002
           return_counts: bool = False, dim: int | None = None):
    """The distinct values (the distinct slices along dim), sorted; optionally the index of
    each element's value in them (inverse) and how often each occurs (counts). NaNs are all
    distinct, as in PyTorch.

    >>> import tapegrad
    >>> tapegrad.unique(tapegrad.tensor([3, 1, 3, 2]), return_counts=True)
    (tensor([1, 2, 3]), tensor([1, 1, 2]))
    """
    a = input._data
    _refuse_complex("unique", a, quoted_kernel=True)
    if dim is None:
        flat = a.reshape(-1)
        order = np.argsort(flat, kind="stable")
        s = flat[order]
        if s.size:
            start = np.empty(s.size, dtype=bool)
            start[0] = True
            # NaN != NaN: every NaN starts its own group, as PyTorch's sort-based unique does
            start[1:] = s[1:] != s[:-1]
        else:
            start = np.zeros(0, dtype=bool)
        values = s[start]
        group = np.cumsum(start) - 1
        inverse = np.empty(flat.size, dtype=np.int64)
        inverse[order] = group
        counts = np.diff(np.append(np.flatnonzero(start), s.size))
        return _outputs(input, Unique2Backward0, values, inverse.reshape(a.shape), counts,
                        return_inverse, return_counts)
    d = _wrap_dim(dim, a.ndim)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.size == 0:
        values, inverse, counts = a.copy(), np.zeros(a.shape[d], np.int64), np.zeros(0, np.int64)
    else:
        values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True, axis=d)
    return _outputs(input, UniqueDimBackward0, values, inverse.reshape(-1), counts,
                    return_inverse, return_counts)


def unique_consecutive(input: Tensor, return_inverse: bool = False,  # noqa: A002
                       return_counts: bool = False, dim: int | None = None):
    """The values (slices along dim) with consecutive repeats collapsed to one; optionally the
    inverse indices and the length of each run.

    >>> import tapegrad
    >>> tapegrad.unique_consecutive(tapegrad.tensor([1, 1, 2, 2, 3, 1]))
    tensor([1, 2, 3, 1])
    """
    a = input._data
    _refuse_complex("unique", a, quoted_kernel=True)
    if dim is None:
        flat = a.reshape(-1)
        change = flat[1:] != flat[:-1]
        shape = a.shape
        src = flat
    else:
        d = _wrap_dim(dim, a.ndim)
        src = a.reshape(1) if a.ndim == 0 else a
        rows = _rows(src, d)
        change = (rows[1:] != rows[:-1]).any(axis=1)
        shape = (rows.shape[0],)
    n = shape[0] if dim is not None else flat.size
    start = np.concatenate([[True], change]) if n else np.zeros(0, dtype=bool)
    first = np.flatnonzero(start)
    if dim is None:
        values = flat[first]
    else:  # picked along dim moved first, then moved back (PyTorch's strides)
        values = np.moveaxis(np.moveaxis(src, d, 0)[first], 0, d)
    inverse = (np.cumsum(start) - 1).reshape(shape)
    counts = np.diff(np.append(first, n))
    return _outputs(input, UniqueConsecutiveBackward0, values, inverse, counts,
                    return_inverse, return_counts)


def _unique_method(self, sorted=True, return_inverse=False, return_counts=False,  # noqa: A002
                   dim=None):
    return unique(self, sorted, return_inverse, return_counts, dim)


# --- bucketize / searchsorted -------------------------------------------------------------
def _refuse_complex(kernel: str, a: np.ndarray, quoted_kernel: bool = False) -> None:
    """PyTorch's refusal of an ordering kernel for complex values."""
    if a.dtype.kind == "c":
        from .. import _dtype as D

        name = kernel if quoted_kernel else kernel + "_cpu"
        raise NotImplementedError(
            f'"{name}" not implemented for \'{D.from_numpy_dtype(a.dtype)._short}\'')


def _values(x) -> tuple:
    """(array, was a scalar) of a searched input."""
    if isinstance(x, Tensor):
        return x._data, False
    if isinstance(x, scalar_types):
        return np.asarray(x), True
    raise TypeError(f"expected Tensor or Number as input, but got {type(x).__name__}")


def _search(seq: np.ndarray, v: np.ndarray, right: bool, out_int32: bool) -> Tensor:
    _refuse_complex("searchsorted_out", v if v.dtype.kind == "c" else seq)
    side = "right" if right else "left"
    dt = np.int32 if out_int32 else np.int64
    if seq.ndim == 1:
        r = np.searchsorted(seq, v, side=side)
    else:
        s2 = seq.reshape(-1, seq.shape[-1])
        v2 = v.reshape(s2.shape[0], -1)
        r = np.stack([np.searchsorted(s, w, side=side) for s, w in zip(s2, v2)]) \
            .reshape(v.shape)
    return wrap(np.asarray(r, dtype=dt))


def bucketize(input, boundaries: Tensor, *, out_int32: bool = False,  # noqa: A002
              right: bool = False, out: Tensor | None = None) -> Tensor:
    """The index of the bucket of each value given sorted 1-D boundaries:
    boundaries[i-1] < x <= boundaries[i] (right=False) or boundaries[i-1] <= x < boundaries[i].

    >>> import tapegrad
    >>> tapegrad.bucketize(tapegrad.tensor([1., 5., 9.]), tapegrad.tensor([1., 3., 5., 7.]))
    tensor([0, 2, 4])
    """
    boundaries = tensor_arg(boundaries, "bucketize", "boundaries", 2)
    b = boundaries._data
    if b.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({b.ndim})")
    v, _ = _values(input)
    res = _search(b, v, right, out_int32)
    if out is not None:
        from .inplace import copy_out

        return copy_out(out, res)
    return res


def searchsorted(sorted_sequence: Tensor, input, *, out_int32: bool = False,  # noqa: A002
                 right: bool = False, side: str | None = None, out: Tensor | None = None,
                 sorter: Tensor | None = None) -> Tensor:
    """Where each value would go in the sorted innermost dim of sorted_sequence to keep it
    sorted: the first such index (side='left'), or the last (right=True / side='right').

    >>> import tapegrad
    >>> tapegrad.searchsorted(tapegrad.tensor([1., 3., 5.]), tapegrad.tensor([3., 6.]))
    tensor([1, 3])
    """
    fn = "tapegrad.searchsorted()"
    sorted_sequence = tensor_arg(sorted_sequence, "searchsorted", "sorted_sequence", 1)
    seq = sorted_sequence._data
    v, scalar = _values(input)
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"{fn}: side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError(f"{fn}: side and right can't be set to opposites, got side of "
                               f"left while right was True")
        right = side == "right"
    if seq.ndim == 0:
        raise RuntimeError(f"{fn}: boundaries tensor should have positive dimension, but got 0 "
                           "dimension")
    if seq.ndim > 1 and (scalar or seq.shape[:-1] != v.shape[:-1] or v.ndim != seq.ndim):
        raise RuntimeError(
            f"{fn}: boundaries tensor should be 1 dimension or the first N-1 dimensions of "
            "boundaries tensor and input value tensor must match, but we got boundaries tensor "
            f"{shape_str(seq.shape)} and input value tensor {shape_str(v.shape)}")
    if sorter is not None:
        sa = sorter._data
        if sa.shape != seq.shape:
            raise RuntimeError(f"{fn}: boundary and sorter must have the same size, but got "
                               f"boundary tensor {shape_str(seq.shape)}and got sorter tensor "
                               f"{shape_str(sa.shape)}")
        if sorter._dtype is not D.int64:
            raise RuntimeError(f"{fn}: sorter must be a tensor of long dtype but got dtype "
                               f"{sorter._dtype._short}")
        if sa.size and ((sa < 0).any() or (sa >= seq.shape[-1]).any()):
            raise RuntimeError(f"{fn}: sorter index out of range")
        seq = np.take_along_axis(seq, sa, axis=-1)
    res = _search(seq, v, right, out_int32)
    if out is not None:
        from .inplace import copy_out

        return copy_out(out, res)
    return res


# --- tril_indices / triu_indices ------------------------------------------------------------
def _tri_indices(fn: str, row: int, col: int, offset: int, dtype) -> Tensor:
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")
    dt = D.int64 if dtype is None else dtype
    if dt is not D.int64 and dt is not D.int32:
        raise NotImplementedError(f"\"{fn}\" not implemented for '{dt._short}'")
    if fn == "tril_indices":
        r, c = np.tril_indices(row, offset, col)
    else:
        r, c = np.triu_indices(row, offset, col)
    return wrap(np.stack([r, c]).astype(dt.np).reshape(2, -1))


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None,
                 layout=None) -> Tensor:
    """The (row, column) indices of the lower triangle (diagonal `offset` and below) of a
    row x col matrix, as a 2 x N tensor in row-major order.

    >>> import tapegrad
    >>> tapegrad.tril_indices(3, 3)
    tensor([[0, 1, 1, 2, 2, 2],
            [0, 0, 1, 0, 1, 2]])
    """
    return _tri_indices("tril_indices", row, col, offset, dtype)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None,
                 layout=None) -> Tensor:
    """The (row, column) indices of the upper triangle (diagonal `offset` and above) of a
    row x col matrix, as a 2 x N tensor in row-major order.

    >>> import tapegrad
    >>> tapegrad.triu_indices(3, 3, 1)
    tensor([[0, 0, 1],
            [1, 2, 2]])
    """
    return _tri_indices("triu_indices", row, col, offset, dtype)


METHODS = {"nonzero": method(nonzero), "argwhere": argwhere, "unique": _unique_method,
           "unique_consecutive": unique_consecutive}

"""Sorting: sort, argsort, msort, topk.

Order conventions (PyTorch's, CPU): NaN sorts as the largest value (last ascending, first
descending), and among equal values
- sort / argsort with stable=True keep the input order (std::stable_sort);
- with stable=False (the default) they return the order libstdc++'s std::sort leaves, which
  tapegrad replays (ops/_stdalgo.py) on slices with ties: for slices of at most 16 values
  that is the input order too (an insertion sort), and 1-D integer sorts of 32768 values or
  more (ascending) are radix sorts, stable;
- topk returns, among equal values, the indices libstdc++'s std::partial_sort (k * 64 <= n) or
  std::nth_element + std::sort leave in place; tapegrad runs the same algorithms
  (ops/_stdalgo.py) on the slices where ties make a difference. NaN counts as the largest.
Gradients go back to the selected positions by scatter-add (ops/_gather.py).
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .. import return_types
from .._tensor import Tensor, _tp_name, _wrap_dim
from ..autograd.graph import Node
from . import _stdalgo
from ._core import as_tensor_arg, new_node, save, wrap
from ._gather import select_backward
from ._selectutil import contiguous, from_rows, int_arg, method, same, take_rows, to_rows

__all__ = ["sort", "argsort", "msort", "topk"]


def argsort_np(a: np.ndarray, d: int, descending: bool = False) -> np.ndarray:
    """Stable argsort along d in PyTorch's order: NaN last ascending, first descending."""
    if not descending:
        return a.argsort(axis=d, kind="stable")
    # a stable ascending sort of the reversed array, reversed: ties keep their order
    rev = (slice(None),) * d + (slice(None, None, -1),)
    r = a[rev].argsort(axis=d, kind="stable")
    return (a.shape[d] - 1) - r[rev]


def _asc(x, y) -> bool:
    # PyTorch's KeyValueCompAsc: NaN last
    a, b = x[0], y[0]
    return (a == a and b != b) or a < b


def _desc(x, y) -> bool:
    a, b = x[0], y[0]
    return (a != a and b == b) or a > b


def sort_indices(a: np.ndarray, d: int, descending: bool, stable: bool) -> np.ndarray:
    """The permutation PyTorch's CPU sort returns along d (see the module docstring)."""
    idx = argsort_np(a, d, descending)
    n = a.shape[d]
    if stable or n <= _stdalgo.THRESHOLD or a.size == 0:
        return idx
    if (a.ndim == 1 and not descending and n >= 32768 and a.dtype.kind in "iu"):
        return idx  # PyTorch's radix sort path
    rows = to_rows(a, d)
    irows = to_rows(idx, d)
    s = np.take_along_axis(rows, irows, axis=1)
    tied = np.flatnonzero(same(s[:, 1:], s[:, :-1]).any(axis=1))
    if tied.size == 0 or tied.size * n > _stdalgo.EMULATE_LIMIT:
        return idx
    comp = _desc if descending else _asc
    for r in tied:
        q = list(zip(rows[r].tolist(), range(n)))
        _stdalgo.sort(q, 0, n, comp)
        irows[r] = [j for _, j in q]
    return from_rows(irows, a.shape, d)


class SortBackward0(Node):
    # out = x[indices] along dim (a permutation): g goes back to the positions it came from
    __slots__ = ("dim",)

    def vjp(self, g):
        (idx,) = self.saved_tensors()
        return select_backward(g, self._in_meta[0][0], self.dim, idx)


class SortBackward1(SortBackward0):
    # the overload with `stable` given
    __slots__ = ()


class TopkBackward0(SortBackward0):
    __slots__ = ()


def _sort_sigs(fn: str, is_method: bool) -> str:
    t, out = ("", "") if is_method else ("Tensor input, ", ", tuple of Tensors out = None")
    o1 = out if not is_method else ""
    o2 = ", *" + out if not is_method else ""
    return (f" * ({t}*, bool stable, int dim = -1, bool descending = False{o1})\n"
            f" * ({t}int dim = -1, bool descending = False{o2})\n")


def _check_sort_args(fn, dim, descending, stable, is_method):
    bad = None
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        bad = f"({'' if is_method else 'Tensor, '}{_tp_name(dim)})"
    elif not isinstance(descending, (bool, np.bool_)):
        bad = f"(descending={_tp_name(descending)}, )"
    elif stable is not None and not isinstance(stable, (bool, np.bool_)):
        bad = f"(stable={_tp_name(stable)}, )"
    if bad is not None:
        raise TypeError(f"{fn}() received an invalid combination of arguments - got {bad}, but "
                        f"expected one of:\n{_sort_sigs(fn, is_method)}")


def _sort_impl(input, dim, descending, stable, out, is_method):
    input = as_tensor_arg(input)  # noqa: A001
    _check_sort_args("sort", dim, descending, stable, is_method)
    a = input._data
    d = _wrap_dim(int(dim), a.ndim)
    if input._dtype.category == D.COMPLEX:
        raise RuntimeError(" Sort does not support complex dtypes on CPU")
    if a.ndim == 0:
        vals, idx = a.copy(), np.zeros((), np.int64)
    else:
        idx = sort_indices(a, d, bool(descending), bool(stable)).astype(np.int64, copy=False)
        vals = np.take_along_axis(a, idx, axis=d)
    indices = wrap(idx)
    node = new_node(SortBackward0 if stable is None else SortBackward1, (input,))
    if node is not None:
        node.dim = d
        save(node, indices)
    res = return_types.sort((wrap(vals, node), indices))
    return res if out is None else _copy_pair(out, res, return_types.sort)


def _copy_pair(out, res, rtype):
    from .inplace import copy_out

    copy_out(out[0], res[0])
    copy_out(out[1], res[1])
    return rtype(tuple(out))


def sort(input, dim=-1, descending=False, *, stable=None, out=None) -> return_types.sort:  # noqa: A002
    """Values sorted along dim (ascending unless descending) and the permutation used.

    The sort is stable either way; NaN sorts as the largest value.

    >>> import tapegrad
    >>> tapegrad.tensor([3., 1., 2.]).sort(descending=True)
    tapegrad.return_types.sort(
    values=tensor([3., 2., 1.]),
    indices=tensor([0, 2, 1]))
    """
    return _sort_impl(input, dim, descending, stable, out, False)


def _sort_method(self, dim=-1, descending=False, *, stable=None):
    return _sort_impl(self, dim, descending, stable, None, True)


def _argsort_impl(input, dim, descending, stable, is_method):
    input = as_tensor_arg(input)  # noqa: A001
    _check_sort_args("argsort", dim, descending, stable, is_method)
    a = input._data
    d = _wrap_dim(int(dim), a.ndim)
    if input._dtype.category == D.COMPLEX:
        raise RuntimeError(" Sort does not support complex dtypes on CPU")
    if a.ndim == 0:
        return wrap(np.zeros((), np.int64))
    return wrap(contiguous(sort_indices(a, d, bool(descending), bool(stable))
                           .astype(np.int64, copy=False)))


def argsort(input, dim=-1, descending=False, *, stable=None) -> Tensor:  # noqa: A002
    """The indices that sort input along dim (the `indices` of sort()).

    >>> import tapegrad
    >>> tapegrad.argsort(tapegrad.tensor([3., 1., 2.]))
    tensor([1, 2, 0])
    """
    return _argsort_impl(input, dim, descending, stable, False)


def _argsort_method(self, dim=-1, descending=False, *, stable=None):
    return _argsort_impl(self, dim, descending, stable, True)


def msort(input, *, out=None) -> Tensor:  # noqa: A002
    """input sorted along its first dim: sort(input, 0).values.

    >>> import tapegrad
    >>> tapegrad.msort(tapegrad.tensor([[2., 1.], [1., 3.]]))
    tensor([[1., 1.],
            [2., 3.]])
    """
    res = sort(input, 0).values
    if out is None:
        return res
    from .inplace import copy_out

    return copy_out(out, res)


# --- topk ------------------------------------------------------------------------------------
def _before_largest(x, y) -> bool:
    # PyTorch's topk comparator for largest=True: NaN first, then greater values
    a, b = x[0], y[0]
    return (a != a and b == b) or a > b


def _before_smallest(x, y) -> bool:
    a, b = x[0], y[0]
    return (a == a and b != b) or a < b


def _topk_row(vals: list, k: int, partial: bool, sorted_: bool, comp) -> list:
    n = len(vals)
    q = list(zip(vals, range(n)))
    if partial:
        _stdalgo.partial_sort(q, 0, k, n, comp)
    else:
        _stdalgo.nth_element(q, 0, k - 1, n, comp)
        if sorted_:
            _stdalgo.sort(q, 0, k - 1, comp)
    return [j for _, j in q[:k]]


def topk_rows(rows: np.ndarray, k: int, largest: bool, sorted_: bool) -> np.ndarray:
    """Indices of the top k of each row of a 2-D array, as PyTorch's CPU topk picks them."""
    nrows, n = rows.shape
    if k == 0 or nrows == 0:
        return np.zeros((nrows, k), np.int64)
    order = argsort_np(rows, 1, largest)
    sel = order[:, :k].astype(np.int64)
    partial = k * 64 <= n
    if sorted_ or partial:
        # without equal values among the first k + 1, every algorithm gives the sorted order
        s = take_rows(rows, order[:, :min(k + 1, n)])
        need = same(s[:, 1:], s[:, :-1]).any(axis=1)
    else:  # the unsorted order is whatever nth_element leaves
        need = np.ones(nrows, dtype=bool)
    comp = _before_largest if largest else _before_smallest
    todo = np.flatnonzero(need)
    if todo.size * n > _stdalgo.EMULATE_LIMIT:  # too costly to replay: the sorted order
        todo = todo[:0]
    for r in todo:
        sel[r] = _topk_row(rows[r].tolist(), k, partial, sorted_, comp)
    return sel


def topk(input, k, dim=-1, largest=True, sorted=True, *, out=None) -> return_types.topk:  # noqa: A002
    """The k largest (or smallest) values along dim and their indices.

    >>> import tapegrad
    >>> tapegrad.tensor([1., 5., 3., 4.]).topk(2)
    tapegrad.return_types.topk(
    values=tensor([5., 4.]),
    indices=tensor([1, 3]))
    """
    input = as_tensor_arg(input)  # noqa: A001
    k = int_arg(k, "topk", "k", 2)
    dim = int_arg(dim, "topk", "dim", 3)
    a = input._data
    d = _wrap_dim(dim, a.ndim)
    if input._dtype.category == D.COMPLEX:
        raise RuntimeError(" topk does not support complex dtypes on CPU")
    if input._dtype is D.bool:
        raise RuntimeError("topk does not support bool dtypes on CPU")
    n = a.shape[d] if a.ndim else 1
    if k < 0 or k > n:
        raise RuntimeError("selected index k out of range")
    if a.ndim == 0:  # PyTorch returns the element itself for k = 0 or 1
        vals, idx = a.copy(), np.zeros((), np.int64)
    else:
        rows = to_rows(a, d)
        sel = topk_rows(rows, k, bool(largest), bool(sorted))
        idx = from_rows(sel, a.shape, d)
        vals = from_rows(take_rows(rows, sel), a.shape, d)
    indices = wrap(contiguous(idx))
    node = new_node(TopkBackward0, (input,))
    if node is not None:
        node.dim = d
        save(node, indices)
    res = return_types.topk((wrap(contiguous(vals), node), indices))
    return res if out is None else _copy_pair(out, res, return_types.topk)


METHODS = {"sort": _sort_method, "argsort": _argsort_method, "msort": method(msort),
           "topk": method(topk)}

"""Order statistics: kthvalue, median, nanmedian, mode.

Which index is returned among equal values (PyTorch's CPU kernels, reproduced):
- median(dim) / nanmedian(dim): std::nth_element with ties broken by index, i.e. the element
  at rank (n - 1) // 2 of a stable sort (for nanmedian, of the non-NaN values). median(dim)
  returns the first NaN of a slice holding one; an all-NaN slice of nanmedian gives whatever
  nth_element leaves first (replayed by ops/_stdalgo.py).
- kthvalue: PyTorch's quick_select_template, replayed on slices where the k-th value is tied.
- mode: the most frequent value, the smallest on frequency ties; its index is the last of its
  run after std::sort (not stable), replayed; for slices of at most 16 values without NaN
  std::sort is an insertion sort, so that is the last occurrence.
Gradients: median() / nanmedian() over all elements split g evenly among the elements equal to
the result (NaNs when it is NaN); the dim forms send g to the returned index (scatter-add).
"""

from __future__ import annotations

import functools

import numpy as np

from .. import _dtype as D
from .. import return_types
from .._tensor import _wrap_dim
from ..autograd.graph import Node
from . import _stdalgo
from ._core import as_tensor_arg, new_node, save, save_out, wrap
from ._gather import select_backward
from ._selectutil import int_arg, method, not_implemented, same, take_rows, to_rows

__all__ = ["kthvalue", "median", "nanmedian", "mode"]


class _SelectDimNode(Node):
    # out = x[..., indices, ...] along dim: g goes back to the returned index
    __slots__ = ("dim", "keepdim")

    def vjp(self, g):
        (idx,) = self.saved_tensors()
        return select_backward(g, self._in_meta[0][0], self.dim, idx, self.keepdim)


class KthvalueBackward0(_SelectDimNode):
    __slots__ = ()


class MedianBackward1(_SelectDimNode):
    __slots__ = ()


class NanmedianBackward1(_SelectDimNode):
    __slots__ = ()


class ModeBackward0(_SelectDimNode):
    __slots__ = ()


class MedianBackward0(Node):
    # d median(x) / dx = mask / count(mask), mask = (x == out), or isnan(x) when out is NaN
    __slots__ = ()

    def vjp(self, g):
        out, x = self.saved_tensors()
        mask = (x == out) | (x.isnan() & out.isnan())
        return mask * (g / mask.sum())


class NanmedianBackward0(MedianBackward0):
    __slots__ = ()


def _finish(name, input, d, keepdim, sel, node_cls, rtype, rows=None):
    """Values and indices from the selected index of each row (sel: (rows,) int64)."""
    a = input._data
    if a.ndim == 0:
        vals, idx = a.copy(), np.zeros((), np.int64)
    else:
        if rows is None:
            rows = to_rows(a, d)
        oshape = tuple(1 if i == d else s for i, s in enumerate(a.shape)) if keepdim else \
            tuple(s for i, s in enumerate(a.shape) if i != d)
        idx = sel.reshape(oshape)
        vals = take_rows(rows, sel).reshape(oshape)
    indices = wrap(idx)
    node = new_node(node_cls, (input,))
    if node is not None:
        node.dim, node.keepdim = d, bool(keepdim)
        save(node, indices)
    return rtype((wrap(vals, node), indices))


def _rows(a: np.ndarray, d: int):
    """(rows, n) of a along d; a 0-d tensor is one row of one."""
    if a.ndim == 0:
        return a.reshape(1, 1), 1
    return to_rows(a, d), a.shape[d]


def _copy_out(res, out, rtype):
    if out is None:
        return res
    from .inplace import copy_out

    copy_out(out[0], res[0])
    copy_out(out[1], res[1])
    return rtype(tuple(out))


# --- kthvalue --------------------------------------------------------------------------------
def _gt_or_nan(x, y) -> bool:
    a, b = x[0], y[0]
    return (a != a and b == b) or a > b


def kthvalue(input, k, dim=-1, keepdim=False, *, out=None) -> return_types.kthvalue:  # noqa: A002
    """The k-th smallest value along dim (NaN counts as the largest) and its index.

    >>> import tapegrad
    >>> tapegrad.tensor([3., 1., 2.]).kthvalue(2)
    tapegrad.return_types.kthvalue(
    values=tensor(2.),
    indices=tensor(2))
    """
    input = as_tensor_arg(input)  # noqa: A001
    k = int_arg(k, "kthvalue", "k", 2)
    dim = int_arg(dim, "kthvalue", "dim", 3)
    a = input._data
    if input._dtype.category == D.COMPLEX or input._dtype is D.bool:
        raise not_implemented("kthvalue_cpu", input)
    d = _wrap_dim(dim, a.ndim)
    rows, n = _rows(a, d)
    if n == 0:
        raise IndexError(f"kthvalue(): Expected reduction dim {d} to have non-zero size.")
    if k < 1 or k > n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    order = rows.argsort(axis=1, kind="stable")
    sel = order[:, k - 1].astype(np.int64)
    lo = max(k - 2, 0)
    s = take_rows(rows, order[:, lo:k + 1])
    p = k - 1 - lo
    tied = np.zeros(rows.shape[0], dtype=bool)
    if p > 0:
        tied |= same(s[:, p - 1], s[:, p])
    if p + 1 < s.shape[1]:
        tied |= same(s[:, p + 1], s[:, p])
    todo = np.flatnonzero(tied)
    if todo.size * n > _stdalgo.EMULATE_LIMIT:  # too costly to replay: the stable rank
        todo = todo[:0]
    for r in todo:  # the index among equal values is quick_select's
        q = list(zip(rows[r].tolist(), range(n)))
        _stdalgo.quick_select(q, k - 1, _gt_or_nan)
        sel[r] = q[k - 1][1]
    res = _finish("kthvalue", input, d, keepdim, sel, KthvalueBackward0, return_types.kthvalue,
                  rows)
    return _copy_out(res, out, return_types.kthvalue)


# --- median / nanmedian ----------------------------------------------------------------------
@functools.lru_cache(maxsize=256)
def _all_equivalent_nth(n: int) -> int:
    """Where std::nth_element(first, first, last) leaves item 0 when no two items compare."""
    q = list(range(n))
    _stdalgo.nth_element(q, 0, 0, n, lambda x, y: False)
    return q[0]


def _median_all(name, input, ignore_nan, node_cls):
    a = input._data
    if input._dtype.category == D.COMPLEX or input._dtype is D.bool:
        raise not_implemented("median_cpu", input)
    flat = a.reshape(-1)
    if a.dtype.kind == "f":
        nan = np.isnan(flat)
        if nan.any():
            flat = flat[~nan] if ignore_nan else flat[:0]
    if flat.size == 0:  # empty, a NaN for median, or all NaN for nanmedian
        r = np.array(np.nan if a.dtype.kind == "f" else np.iinfo(a.dtype).min, dtype=a.dtype)
    else:
        m = (flat.size - 1) // 2
        r = np.asarray(np.partition(flat, m)[m])
    node = new_node(node_cls, (input,))
    res = wrap(r, node)
    if node is not None:
        save_out(node, res, input)
    return res


def _median_dim(name, input, dim, keepdim, ignore_nan, node_cls, rtype):
    a = input._data
    dim = int_arg(dim, name, "dim", 2)
    if input._dtype.category == D.COMPLEX or input._dtype is D.bool:
        raise not_implemented("median_out", input)
    d = _wrap_dim(dim, a.ndim)
    rows, n = _rows(a, d)
    if n == 0:
        raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size.")
    nrows = rows.shape[0]
    order = rows.argsort(axis=1, kind="stable")  # NaN last
    ar = np.arange(nrows)
    nan = np.isnan(rows) if rows.dtype.kind == "f" else np.zeros(rows.shape, bool)
    cnt = nan.sum(axis=1)
    if not ignore_nan:
        sel = order[ar, (n - 1) // 2].astype(np.int64)
        has = cnt > 0
        sel[has] = np.argmax(nan[has], axis=1)  # the first NaN
    else:
        m = n - cnt
        sel = order[ar, np.maximum(m - 1, 0) // 2].astype(np.int64)
        if (m == 0).any():
            sel[m == 0] = _all_equivalent_nth(n)
    return _finish(name, input, d, keepdim, sel, node_cls, rtype, rows)


def _median(name, input, dim, keepdim, out, ignore_nan):
    input = as_tensor_arg(input)  # noqa: A001
    if dim is None:
        if keepdim is not None:
            raise TypeError(f'{name}() missing 1 required positional arguments: "dim"')
        res = _median_all(name, input, ignore_nan,
                          NanmedianBackward0 if ignore_nan else MedianBackward0)
        if out is None:
            return res
        from .inplace import copy_out

        return copy_out(out, res)
    rtype = return_types.nanmedian if ignore_nan else return_types.median
    res = _median_dim(name, input, dim, bool(keepdim), ignore_nan,
                      NanmedianBackward1 if ignore_nan else MedianBackward1, rtype)
    return _copy_out(res, out, rtype)


def median(input, dim=None, keepdim=None, *, out=None):  # noqa: A002
    """The lower median of all values (NaN if any is NaN); with dim, (values, indices) along
    dim. Over all values the gradient is shared by the elements equal to the median.

    >>> import tapegrad
    >>> tapegrad.tensor([4., 1., 3., 2.]).median()
    tensor(2.)
    >>> tapegrad.tensor([[4., 1., 3.], [2., 6., 5.]]).median(1).indices
    tensor([2, 2])
    """
    return _median(input=input, name="median", dim=dim, keepdim=keepdim, out=out,
                   ignore_nan=False)


def nanmedian(input, dim=None, keepdim=None, *, out=None):  # noqa: A002
    """median ignoring NaNs (NaN only where every value is NaN).

    >>> import tapegrad
    >>> tapegrad.tensor([1., float('nan'), 3., 2.]).nanmedian()
    tensor(2.)
    """
    return _median(input=input, name="nanmedian", dim=dim, keepdim=keepdim, out=out,
                   ignore_nan=True)


# --- mode ------------------------------------------------------------------------------------
def _less(x, y) -> bool:
    return x[0] < y[0]


def _mode_row(vals: list) -> int:
    """PyTorch's mode loop on one slice: std::sort the (value, index) pairs by value, then the
    first run of maximal length wins, represented by its last pair."""
    n = len(vals)
    e = list(zip(vals, range(n)))
    try:
        _stdalgo.sort(e, 0, n, _less)
    except _stdalgo.OutOfRange:  # undefined behaviour in C++ (NaNs): keep a stable order
        e.sort(key=lambda p: (p[0] != p[0], p[0] if p[0] == p[0] else 0))
    best, best_freq, freq = 0, 0, 0
    for i in range(n):
        freq += 1
        if i == n - 1 or e[i][0] != e[i + 1][0]:
            if freq > best_freq:
                best, best_freq = e[i][1], freq
            freq = 0
    return best


def _mode_small(rows: np.ndarray) -> np.ndarray:
    """_mode_row for rows of at most 16 values without NaN (a stable sort), vectorized."""
    nrows, n = rows.shape
    order = np.argsort(rows, axis=1, kind="stable")
    s = np.take_along_axis(rows, order, axis=1)
    end = np.ones((nrows, n), dtype=bool)
    end[:, :-1] = s[:, 1:] != s[:, :-1]
    pos = np.arange(n)
    last_end = np.maximum.accumulate(np.where(end, pos, -1), axis=1)
    prev = np.concatenate([np.full((nrows, 1), -1), last_end[:, :-1]], axis=1)
    freq = np.where(end, pos - prev, 0)
    return order[np.arange(nrows), np.argmax(freq, axis=1)].astype(np.int64)


def mode(input, dim=-1, keepdim=False, *, out=None) -> return_types.mode:  # noqa: A002
    """The most frequent value along dim (the smallest on ties) and an index of it.

    >>> import tapegrad
    >>> tapegrad.tensor([1., 2., 2., 3., 1., 2.]).mode()
    tapegrad.return_types.mode(
    values=tensor(2.),
    indices=tensor(5))
    """
    input = as_tensor_arg(input)  # noqa: A001
    dim = int_arg(dim, "mode", "dim", 2)
    a = input._data
    if input._dtype.category == D.COMPLEX:
        raise not_implemented("mode_cpu", input)
    d = _wrap_dim(dim, a.ndim)
    rows, n = _rows(a, d)
    if n == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size.")
    sel = np.zeros(rows.shape[0], np.int64)
    if rows.shape[0]:
        slow = np.isnan(rows).any(axis=1) if rows.dtype.kind == "f" else \
            np.zeros(rows.shape[0], bool)
        if n > _stdalgo.THRESHOLD:
            slow[:] = True
        if slow.sum() * n > _stdalgo.EMULATE_LIMIT:  # too costly to replay: stable order
            slow[:] = False
        fast = ~slow
        if fast.any():
            sel[fast] = _mode_small(rows[fast])
        for r in np.flatnonzero(slow):
            sel[r] = _mode_row(rows[r].tolist())
    res = _finish("mode", input, d, keepdim, sel, ModeBackward0, return_types.mode, rows)
    return _copy_out(res, out, return_types.mode)


METHODS = {"kthvalue": method(kthvalue), "median": method(median),
           "nanmedian": method(nanmedian), "mode": method(mode)}

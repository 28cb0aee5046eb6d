"""Step-by-step replicas of the selection and sorting algorithms PyTorch's CPU kernels run:
libstdc++'s std::sort, std::nth_element and std::partial_sort (introsort / introselect / heap
select, as in GCC's bits/stl_algo.h and bits/stl_heap.h), and PyTorch's own
quick_select_template (aten/src/ATen/native/Sorting.cpp).

Which index topk, kthvalue, mode and an all-NaN nanmedian return among equal values is not
specified by PyTorch, but on CPU it is deterministic: it is whatever these algorithms leave in
place. tapegrad reproduces it by running the same steps on a list of (value, index) pairs.
They run only on the slices whose answer depends on them (slices with ties); everything else is
vectorized NumPy.

Comparators take two items and answer "strictly before". The C++ code relies on sentinels in
its unguarded loops; with a comparator that is not a strict weak ordering (`<` on NaNs, as
mode uses) that is undefined behaviour, and here it raises OutOfRange instead.
"""

from __future__ import annotations

__all__ = ["EMULATE_LIMIT", "THRESHOLD", "OutOfRange", "sort", "nth_element", "partial_sort",
           "quick_select"]

THRESHOLD = 16  # libstdc++'s _S_threshold
# Replays cost about 5 us per element; an op replays at most this many elements (over all its
# slices) and beyond it keeps the stable order, an equally valid answer PyTorch does not fix.
EMULATE_LIMIT = 1 << 16


class OutOfRange(Exception):
    """An unguarded loop ran off the range (undefined behaviour in the C++ original)."""


def _lg(n: int) -> int:
    return n.bit_length() - 1


# --- heaps (bits/stl_heap.h) ------------------------------------------------------------------
def _push_heap(a, first, hole, top, value, comp):
    parent = (hole - 1) // 2
    while hole > top and comp(a[first + parent], value):
        a[first + hole] = a[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    a[first + hole] = value


def _adjust_heap(a, first, hole, length, value, comp):
    top = hole
    second = hole
    while second < (length - 1) // 2:
        second = 2 * (second + 1)
        if comp(a[first + second], a[first + second - 1]):
            second -= 1
        a[first + hole] = a[first + second]
        hole = second
    if (length & 1) == 0 and second == (length - 2) // 2:
        second = 2 * (second + 1)
        a[first + hole] = a[first + second - 1]
        hole = second - 1
    _push_heap(a, first, hole, top, value, comp)


def _make_heap(a, first, last, comp):
    length = last - first
    if length < 2:
        return
    parent = (length - 2) // 2
    while True:
        _adjust_heap(a, first, parent, length, a[first + parent], comp)
        if parent == 0:
            return
        parent -= 1


def _pop_heap(a, first, last, result, comp):
    value = a[result]
    a[result] = a[first]
    _adjust_heap(a, first, 0, last - first, value, comp)


def _heap_select(a, first, middle, last, comp):
    _make_heap(a, first, middle, comp)
    for i in range(middle, last):
        if comp(a[i], a[first]):
            _pop_heap(a, first, middle, i, comp)


def _sort_heap(a, first, last, comp):
    while last - first > 1:
        last -= 1
        _pop_heap(a, first, last, last, comp)


def partial_sort(a: list, first: int, middle: int, last: int, comp) -> None:
    """std::partial_sort: the smallest middle - first items, sorted, in [first, middle)."""
    _heap_select(a, first, middle, last, comp)
    _sort_heap(a, first, middle, comp)


# --- partitioning and insertion sort (bits/stl_algo.h) ----------------------------------------
def _move_median_to_first(a, result, x, y, z, comp):
    if comp(a[x], a[y]):
        if comp(a[y], a[z]):
            m = y
        elif comp(a[x], a[z]):
            m = z
        else:
            m = x
    elif comp(a[x], a[z]):
        m = x
    elif comp(a[y], a[z]):
        m = z
    else:
        m = y
    a[result], a[m] = a[m], a[result]


def _unguarded_partition(a, first, last, pivot, comp):
    lo, hi = first, last
    p = a[pivot]
    while True:
        while comp(a[first], p):
            first += 1
            if first >= hi:
                raise OutOfRange
        last -= 1
        while comp(p, a[last]):
            last -= 1
            if last < lo:
                raise OutOfRange
        if not first < last:
            return first
        a[first], a[last] = a[last], a[first]
        first += 1


def _unguarded_partition_pivot(a, first, last, comp):
    mid = first + (last - first) // 2
    _move_median_to_first(a, first, first + 1, mid, last - 1, comp)
    return _unguarded_partition(a, first + 1, last, first, comp)


def _unguarded_linear_insert(a, last, comp, lo):
    val = a[last]
    nxt = last - 1
    while comp(val, a[nxt]):
        a[last] = a[nxt]
        last = nxt
        nxt -= 1
        if nxt < lo:
            raise OutOfRange
    a[last] = val


def _insertion_sort(a, first, last, comp):
    if first == last:
        return
    for i in range(first + 1, last):
        if comp(a[i], a[first]):
            val = a[i]
            a[first + 1:i + 1] = a[first:i]
            a[first] = val
        else:
            _unguarded_linear_insert(a, i, comp, first)


def _final_insertion_sort(a, first, last, comp):
    if last - first > THRESHOLD:
        _insertion_sort(a, first, first + THRESHOLD, comp)
        for i in range(first + THRESHOLD, last):
            _unguarded_linear_insert(a, i, comp, first)
    else:
        _insertion_sort(a, first, last, comp)


def _introsort_loop(a, first, last, depth, comp):
    while last - first > THRESHOLD:
        if depth == 0:
            partial_sort(a, first, last, last, comp)
            return
        depth -= 1
        cut = _unguarded_partition_pivot(a, first, last, comp)
        _introsort_loop(a, cut, last, depth, comp)
        last = cut


def sort(a: list, first: int, last: int, comp) -> None:
    """std::sort (introsort, then a final insertion sort): not stable."""
    if first != last:
        _introsort_loop(a, first, last, _lg(last - first) * 2, comp)
        _final_insertion_sort(a, first, last, comp)


def nth_element(a: list, first: int, nth: int, last: int, comp) -> None:
    """std::nth_element (introselect): a[nth] is the item a full sort would put there."""
    if first == last or nth == last:
        return
    depth = _lg(last - first) * 2
    while last - first > 3:
        if depth == 0:
            _heap_select(a, first, nth + 1, last, comp)
            a[first], a[nth] = a[nth], a[first]
            return
        depth -= 1
        cut = _unguarded_partition_pivot(a, first, last, comp)
        if cut <= nth:
            first = cut
        else:
            last = cut
    _insertion_sort(a, first, last, comp)


# --- PyTorch's quick_select_template (kthvalue) -----------------------------------------------
def quick_select(a: list, k: int, gt) -> None:
    """Move the k-th smallest item (gt: "greater, or NaN") to a[k], Numerical Recipes style,
    with median-of-three pivots, exactly as PyTorch's kthvalue kernel does."""
    lo, hi = 0, len(a) - 1
    while True:
        if hi <= lo:
            return
        if hi == lo + 1:
            if gt(a[lo], a[hi]):
                a[lo], a[hi] = a[hi], a[lo]
            return
        p = (lo + hi) >> 1
        a[p], a[lo + 1] = a[lo + 1], a[p]
        if gt(a[lo + 1], a[hi]):
            a[lo + 1], a[hi] = a[hi], a[lo + 1]
        if gt(a[lo], a[hi]):
            a[lo], a[hi] = a[hi], a[lo]
        if gt(a[lo + 1], a[lo]):
            a[lo + 1], a[lo] = a[lo], a[lo + 1]
        i, j = lo + 1, hi
        piv = a[lo]
        while True:
            i += 1
            while gt(piv, a[i]):
                i += 1
            j -= 1
            while gt(a[j], piv):
                j -= 1
            if j < i:
                break
            a[i], a[j] = a[j], a[i]
        a[lo], a[j] = a[j], a[lo]
        if j <= k:
            lo = i
        if j >= k:
            hi = j - 1

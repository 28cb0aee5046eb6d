"""Recording in-place ops in the graph: history rebasing, CopySlices and view regeneration.

An in-place op `t.op_(...)` on a tensor that is part of a graph is recorded as its out-of-place
form applied to a copy of t's old value, whose result is then written into t's storage:

    t_new = op(t_old, ...)      t's grad_fn becomes op's node (MulBackward0, ...)

Working on a copy of the old value keeps every value the op's rule saved intact, whatever the
op (PyTorch saves `original_self` for the same reason).

When t is a view of a base b (they share storage), the change is a change of b too:

    b_new = b_old with the region R (t's elements) replaced by  r = op(gather_R(b_old), ...)

recorded as  p = gather_R(b_old)  (AsStridedBackward0),  r = op(p, ...),
b_new = CopySlices(b_old, r).  With g the gradient of b_new, CopySlices passes
    to b_old:  g with R zeroed           (those elements of b_old were overwritten)
    to r:      g gathered at R
and b_old's gradient through p adds back the part that flows through op. Every view of b
(t included) then reads b_new: its grad_fn is regenerated as a gather from b_new
(AsStridedBackward0), as PyTorch does.

A region is a set of flat (C-order) positions in the base, found from the views' memory
addresses, so any strided view (slices with steps, transposes, diagonals, ...) and any index
of `b[idx] = v` works the same way. All rules are tapegrad ops, so double backward works.
"""

from __future__ import annotations

import weakref
from contextlib import nullcontext as _nullcontext

import numpy as np

from .._tensor import Tensor, _make
from ..autograd import grad_mode
from ..autograd.engine import edge_of
from ..autograd.graph import Node, SavedTensor, VersionCounter
from . import _core

_state = grad_mode.state

__all__: list[str] = []


# --- where a view's elements lie in its base -------------------------------------------------
def _addresses(a: np.ndarray) -> np.ndarray:
    """The byte address of every element of a (shape of a)."""
    start = a.__array_interface__["data"][0]
    out = np.full(a.shape, start, dtype=np.int64)
    for k, (n, s) in enumerate(zip(a.shape, a.strides)):
        if n > 1 and s:
            shape = [1] * a.ndim
            shape[k] = n
            out += (np.arange(n, dtype=np.int64) * s).reshape(shape)
    return out


REAL_OF_COMPLEX, COMPLEX_OF_REAL = 1, 2


def pairs_kind(root: np.ndarray, view: np.ndarray) -> int:
    """0 for a view of root's own dtype; REAL_OF_COMPLEX for a real view (view_as_real, .real,
    .imag) of complex storage, whose positions index root's real pairs (shape root.shape +
    (2,)); COMPLEX_OF_REAL for view_as_complex of real storage, whose positions have a last
    axis of 2 (each element's real and imaginary part in root)."""
    if view.itemsize == root.itemsize:
        return 0
    if root.dtype.kind == "c" and view.dtype.kind == "f" and 2 * view.itemsize == root.itemsize:
        return REAL_OF_COMPLEX
    if root.dtype.kind == "f" and view.dtype.kind == "c" and view.itemsize == 2 * root.itemsize:
        return COMPLEX_OF_REAL
    raise NotImplementedError(
        "in-place changes of a view with another dtype than its base (view(dtype)) are not yet "
        "supported in a graph"
    )


def _pairs(a: np.ndarray) -> np.ndarray:
    return a[..., None].view(np.dtype(f"f{a.itemsize // 2}"))


def _complex_of(a: np.ndarray) -> np.ndarray:
    return a.view(np.dtype(f"c{a.itemsize * 2}"))[..., 0]


def view_positions(root: np.ndarray, view: np.ndarray) -> np.ndarray:
    """For each element of view, the flat C-order index of the same memory in root (see
    pairs_kind for views of another dtype)."""
    kind = pairs_kind(root, view)
    if kind == REAL_OF_COMPLEX:
        root = _pairs(root)
    elif kind == COMPLEX_OF_REAL:
        view = _pairs(view)
    isz = root.itemsize
    r0 = root.__array_interface__["data"][0]
    if root.flags.c_contiguous:
        return (_addresses(view) - r0) // isz
    raddr = _addresses(root).reshape(-1)
    order = np.argsort(raddr, kind="stable")
    loc = np.searchsorted(raddr[order], _addresses(view).reshape(-1))
    return order[loc].reshape(view.shape)


def root_of(t: Tensor) -> Tensor:
    return t._base if t._base is not None else t


def positions_in_root(t: Tensor) -> np.ndarray:
    """Flat positions of t's elements in its root base (t itself when it is not a view)."""
    b = t._base
    if b is None:
        return np.arange(t._data.size, dtype=np.int64).reshape(t._data.shape)
    return view_positions(b._data, t._data)


# --- the nodes -------------------------------------------------------------------------------
class AsStridedBackward0(Node):
    """out = base's elements at flat positions pos (a view re-read from its base; see
    pairs_kind for views of another dtype, where a complex tensor's gradient is the complex
    view of its real pairs' gradient, PyTorch's convention).

    vjp: scatter-add g back to those positions of a zero tensor of base's shape."""

    __slots__ = ("pos", "base_shape", "pairs")

    def vjp(self, g):
        if type(g) is not Tensor:  # a batch of cotangents (vmap): one more leading dim
            b = _core.batched_cotangent(g)
            if b is not None:
                return _core.rebatch(self._grad(b[0], (b[0].shape[0],)), b[1])
        return self._grad(g, ())

    def _grad(self, g, lead: tuple):
        from .. import ops
        from .._creation import zeros
        from .index_ops import _index_add

        shape, dt = self._in_meta[0]
        n = int(np.prod(shape, dtype=np.int64))
        idx = self.pos.reshape(-1)
        k = len(lead)
        if self.pairs == REAL_OF_COMPLEX:
            z = zeros(lead + (2 * n,), dtype=g.dtype)
            return ops.view_as_complex(
                _index_add(z, k, idx, g.reshape(lead + (-1,)), 1).reshape(
                    lead + tuple(shape) + (2,)))
        if self.pairs == COMPLEX_OF_REAL:
            g = ops.complex_views.as_pairs(g)
        z = zeros(lead + (n,), dtype=g.dtype)
        return _index_add(z, k, idx, g.reshape(lead + (-1,)), 1).reshape(lead + tuple(shape))


class CopySlices(Node):
    """base_new = base_old with the elements at pos replaced by r (see the module notes).

    For a view of another dtype (pairs, see pairs_kind) the gradients pass through the real
    pairs: under PyTorch's convention a complex tensor's gradient is the complex view of its
    pairs' gradient."""

    __slots__ = ("pos", "pairs")

    def vjp(self, g):
        from .. import ops

        idx = _make(self.pos.reshape(-1))
        kind = self.pairs
        if kind == REAL_OF_COMPLEX:
            g = ops.complex_views.as_pairs(g)
        g_base = None
        if self._next[0][0] is not None:
            shape = g.shape
            g_base = g.reshape(-1).index_fill(0, idx, 0).reshape(shape)
            if kind == REAL_OF_COMPLEX:
                g_base = ops.view_as_complex(g_base)
        g_r = None
        if self._next[1][0] is not None:
            g_r = ops.take(g, _make(self.pos))
            if kind == COMPLEX_OF_REAL:
                g_r = ops.view_as_complex(g_r)
        return g_base, g_r


def gather_node(base: Tensor, pos: np.ndarray, pairs: int = 0):
    """An AsStridedBackward0 node reading positions pos of base (pairs: see pairs_kind; None
    if base has no edge)."""
    edge = edge_of(base)
    if edge[0] is None:
        return None
    node = AsStridedBackward0()
    node._next = (edge,)
    node._in_meta = ((base._data.shape, base._dtype),)
    node.pos = pos
    node.base_shape = base._data.shape
    node.pairs = pairs
    return node


# --- the registry of a storage's live views ------------------------------------------------
def register_view(root: Tensor, view: Tensor) -> None:
    """Remember view (weakly) so that a recorded in-place change of the storage can rebase
    its history. Called for every view of root."""
    vc = root._vc
    refs = vc.views
    if refs is None:
        vc.views = [weakref.ref(view)]
        return
    refs.append(weakref.ref(view))
    if len(refs) >= 64 and len(refs) & (len(refs) - 1) == 0:
        # prune dead references when the list reaches a power of two
        vc.views = [r for r in refs if r() is not None]


def _live_views(root: Tensor):
    vc = root._vc
    if vc is None or vc.views is None:
        return []
    out = []
    keep = []
    for r in vc.views:
        v = r()
        if v is not None:
            keep.append(r)
            if v._base is root:
                out.append(v)
    vc.views = keep
    return out


def _set_history(t: Tensor, node, output_nr: int = 0) -> None:
    """t now reads node's output: hooks registered before stay with the old node, retain_grad
    follows t (autograd/hooks.py)."""
    old = t._grad_fn
    t._grad_fn = node
    t._output_nr = output_nr if node is not None else 0
    t._requires_grad = node is not None or (t._requires_grad and old is None)
    if t._extra is not None:
        from ..autograd.hooks import on_new_grad_fn

        on_new_grad_fn(t, old)


def _regenerate_views(root: Tensor, skip=None) -> None:
    """Every live view of root reads root's new history: grad_fn AsStridedBackward0."""
    for v in _live_views(root):
        if v is skip or (v._extra and v._extra.get("no_grad_view")):
            continue
        _set_history(v, gather_node(root, view_positions(root._data, v._data),
                                    pairs_kind(root._data, v._data)))


# --- recording ---------------------------------------------------------------------------------
def _repoint_saved_output(node, r: Tensor, target: Tensor) -> None:
    """A rule that saved its own output r now finds it in target (which the op overwrote), so
    that later in-place changes of target are detected as PyTorch detects them."""
    saved = node._saved if node is not None else ()
    if not saved or not isinstance(saved, tuple):
        return
    vc = target._vc
    for s in saved:
        if type(s) is SavedTensor and s.tensor is None and s.data is r._data:
            s.data = target._data
            s.vc = vc
            s.version = vc.value


def _copy_of(t: Tensor) -> Tensor:
    """A tensor holding t's current values, with t's place in the graph."""
    c = _make(t._data.copy(), t._grad_fn, t._requires_grad)
    c._output_nr = t._output_nr
    if t._grad_fn is None and t._requires_grad:  # (leaves are refused before this point)
        c._accum = t._accum
    if _core.fw_on:
        _snapshot_tangent(t, c)
    return c


def _snapshot_tangent(t: Tensor, c: Tensor) -> None:
    """Under forward AD: c (t's old values, which the in-place op's rule may save) gets a copy
    of t's tangent, which is about to be overwritten in place with the op's result tangent."""
    from ..autograd import forward_ad

    tan = forward_ad.tangent_of(t)
    if tan is not None:
        forward_ad._set_tangent(c, tan.clone())


def _write(target: np.ndarray, values: np.ndarray) -> None:
    with np.errstate(all="ignore"):
        np.copyto(target, values, casting="unsafe")


def _bump(t: Tensor) -> VersionCounter:
    t._bump_version()
    return t._vc


def record(t: Tensor, compute, check=None) -> Tensor:
    """Apply the in-place op t = compute(t) in the graph (see the module notes).

    compute(x) returns the out-of-place result for a tensor x standing for t's old value;
    check(r), if given, validates the result (shape, dtype) before anything is written."""
    b = t._base
    if b is None:
        src = _copy_of(t)
        r = compute(src)
        if check is not None:
            check(r)
        _write(t._data, r._data)
        _bump(t)
        node = r._grad_fn
        _set_history(t, node, r._output_nr)
        _repoint_saved_output(node, r, t)
        _regenerate_views(t)
        return t
    pos = view_positions(b._data, t._data)
    pairs = pairs_kind(b._data, t._data)
    r = _record_region(b, pos, compute, check, lambda vals: _write(t._data, vals), t, pairs)
    _repoint_saved_output(r._grad_fn, r, t)
    _set_history(t, gather_node(b, pos, pairs))
    return t


def record_region(t: Tensor, key, compute, check=None) -> Tensor:
    """t[key] = compute(t[key]) in the graph, for an index key whose elements are not a view
    (advanced indexing mixed with basic indexing): CopySlices on t's root."""
    root = root_of(t)
    pairs = pairs_kind(root._data, t._data) if t._base is not None else 0
    from ._index_util import ints_first

    if pairs == COMPLEX_OF_REAL:  # (index the view's dims; each element's parts are adjacent)
        view, k = ints_first(positions_in_root(t)[..., 0], key)
        pos = view[k]
        pos = pos[..., None] + np.arange(2, dtype=pos.dtype)
    else:
        view, k = ints_first(positions_in_root(t), key)
        pos = view[k]
    target = _pairs(root._data) if pairs == REAL_OF_COMPLEX else root._data

    def write(vals):
        with np.errstate(all="ignore"):
            flat = target.reshape(-1) if target.flags.c_contiguous else None
            if pairs == COMPLEX_OF_REAL:
                vals = _pairs(np.ascontiguousarray(vals))
            if flat is not None:
                flat[pos.reshape(-1)] = np.broadcast_to(vals, pos.shape).reshape(-1)
            else:
                target.flat[pos.reshape(-1)] = np.broadcast_to(vals, pos.shape).reshape(-1)

    _record_region(root, pos, compute, check, write, None, pairs)
    return t


def _record_region(b: Tensor, pos: np.ndarray, compute, check, write, skip=None,
                   pairs: int = 0) -> Tensor:
    """b_new = CopySlices(b_old, compute(gather_pos(b_old))); returns the computed r (pairs:
    see pairs_kind)."""
    from .. import ops

    src = _make(_pairs(b._data)) if pairs == REAL_OF_COMPLEX else b
    with grad_mode.no_grad():
        old = ops.take(src, _make(pos)) if pos.size else _make(
            np.empty(pos.shape, src._data.dtype))
    g = gather_node(b, pos, pairs)
    vals = _complex_of(np.ascontiguousarray(old._data)) if pairs == COMPLEX_OF_REAL \
        else old._data
    p = _make(vals, g, g is not None)
    if _core.fw_on and not pairs:  # p: the old values of the region, with their tangent
        from ..autograd import forward_ad

        tb = forward_ad.tangent_of(b)
        if tb is not None:
            with grad_mode.no_grad() if not tb._requires_grad else _nullcontext():
                forward_ad._set_tangent(p, ops.take(tb, _make(pos)))
    r = compute(p)
    if check is not None:
        check(r)
    write(r._data)
    _bump(b)
    cs = CopySlices()
    cs.pos = pos
    cs.pairs = pairs
    cs._next = (edge_of(b), edge_of(r) if r._requires_grad else (None, 0))
    cs._in_meta = ((b._data.shape, b._dtype),
                   (r._data.shape, r._dtype) if r._requires_grad else None)
    _set_history(b, cs)
    _regenerate_views(b, skip)
    return r


def rebase_view(t: Tensor, node, output_nr: int) -> None:
    """t, a view, was changed in place by an op whose node already has t's old history as an
    input (a custom Function with ctx.mark_dirty): its base becomes CopySlices(base_old, t_new)
    and every view of the base, t included, re-reads the base."""
    b = t._base
    pos = view_positions(b._data, t._data)
    pairs = pairs_kind(b._data, t._data)
    cs = CopySlices()
    cs.pos = pos
    cs.pairs = pairs
    cs._next = (edge_of(b), (node, output_nr))
    cs._in_meta = ((b._data.shape, b._dtype), (t._data.shape, t._dtype))
    _set_history(b, cs)
    _regenerate_views(b, t)
    _set_history(t, gather_node(b, pos, pairs))

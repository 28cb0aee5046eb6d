"""Batching rules of indexing: x[idx], x[idx] = v, index_select, gather/scatter, take (the
index_add family, put, take_along_dim and the sorted lookups: `_batching_rules_index_ops`).

A basic index (ints, slices, None, ...) gets a full slice in front for the batch dim. With
index tensors, NumPy/PyTorch put the indexed dims where the first index tensor is when the
index tensors (and ints) are adjacent, else in front; the rule moves the batch dim back to 0.
Batched index tensors are joined by an arange over the batch (an advanced index of its own),
which puts the batch and the indexed dims in front; they are then moved where the logical
result has them.
"""

from __future__ import annotations

from .. import _dtype as D
from ._batching_core import vmap_error
from ._batching_dispatch import inplace_error, rule, wrap_out
from ._batching_rules_shape import physical
from ._batching_util import B, call, expand_b, is_b, is_tensor, ldim, pad, wdim

_MASK_MSG = ("vmap: We do not support batching operators that can support dynamic shape. "
             "Attempting to batch over indexing with a boolean mask.")


def _entries(idx):
    if type(idx) is not tuple:
        idx = (idx,)
    out = []
    for e in idx:
        if isinstance(e, (list,)) or type(e).__module__ == "numpy" and hasattr(e, "shape") \
                and getattr(e, "shape", ()) != ():
            from .. import tensor

            e = tensor(e)
        out.append(e)
    return out


class _Plan:
    """How a logical index maps to a physical one: `pidx`, and the permutations between the
    physical result layout and the logical one (batch first)."""

    __slots__ = ("pidx", "perm")

    def __init__(self, pidx, perm) -> None:
        self.pidx = pidx
        self.perm = perm  # physical result -> logical layout, or None (same layout)

    def to_logical(self, r):
        return r if self.perm is None else r.permute(self.perm)

    def to_physical(self, v):
        if self.perm is None:
            return v
        inv = [0] * len(self.perm)
        for i, p in enumerate(self.perm):
            inv[p] = i
        return v.permute(inv)


def _plan(entries, r: int, level):
    """A _Plan for indexing a batched tensor of logical rank r with these entries."""
    kinds = []
    consumed = 0
    has_tensor = False
    for e in entries:
        if e is None:
            kinds.append("none")
        elif e is Ellipsis:
            kinds.append("ellipsis")
        elif isinstance(e, slice):
            kinds.append("slice")
            consumed += 1
        elif is_tensor(e):
            if e.dtype is D.bool or e.dtype is D.uint8:
                if is_b(e, level):
                    raise vmap_error(_MASK_MSG)
                kinds.append("mask")
                consumed += e.dim()
            else:
                kinds.append("tensor")
                consumed += 1
            has_tensor = True
        elif isinstance(e, bool):
            return None
        elif hasattr(e, "__index__"):
            kinds.append("int")
            consumed += 1
        else:
            return None
    rest = max(r - consumed, 0)
    if not has_tensor:
        return _Plan((slice(None),) + tuple(entries), None)
    # PyTorch applies ints as selects first: they neither join nor separate index tensors
    adv = [i for i, k in enumerate(kinds) if k in ("tensor", "mask")]
    between = kinds[adv[0]:adv[-1] + 1]
    adjacent = all(k in ("tensor", "mask", "int") or (k == "ellipsis" and rest == 0)
                   for k in between)
    n_basic = sum(1 for k in kinds if k in ("slice", "none")) + rest
    pre = sum(1 for k in kinds[:adv[0]] if k in ("slice", "none"))
    if "ellipsis" in kinds[:adv[0]]:
        pre += rest
    batched = any(is_b(e, level) for e in entries)
    if not batched:
        pidx = (slice(None),) + tuple(entries)
        if adjacent:
            return _Plan(pidx, None)
        return _Plan(pidx, ("front", n_basic))
    # batched index tensors: masks become long indices, an arange joins the batch
    from .. import arange

    conv = []
    for k, e in zip(kinds, entries):
        if k == "mask":
            conv.extend(e.nonzero().unbind(1))
        else:
            conv.append(e)
    ra = max([ldim(e, level) for e in conv if is_tensor(e)] + [0])
    nb = B(level)
    bidx = arange(nb).view((nb,) + (1,) * ra)
    pidx = [bidx]
    for e in conv:
        pidx.append(pad(e._value, ldim(e, level), ra) if is_b(e, level) else e)
    if not adjacent or pre == 0:
        return _Plan(tuple(pidx), None)
    return _Plan(tuple(pidx), ("move", ra, pre))


def _front(n: int, n_basic: int) -> tuple:
    """Physical (adv..., B, basic(n_basic)...) -> (B, adv..., basic...)."""
    bpos = n - 1 - n_basic
    return (bpos,) + tuple(i for i in range(n) if i != bpos)


def _move_adv(n: int, ra: int, pre: int) -> tuple:
    """Physical (B, adv(ra)..., pre..., post...) -> (B, pre..., adv..., post...)."""
    return (0,) + tuple(range(1 + ra, 1 + ra + pre)) + tuple(range(1, 1 + ra)) + \
        tuple(range(1 + ra + pre, n))


def _index(x, idx, level):
    """(physical result in logical layout, plan) for x[idx], x batched or not."""
    entries = _entries(idx)
    p = expand_b(x, level)
    plan = _plan(entries, p.dim() - 1, level)
    if plan is None:
        return None, None
    r = p[plan.pidx]
    if plan.perm is None:
        return r, plan
    if plan.perm[0] == "front":
        plan = _Plan(plan.pidx, _front(r.dim(), plan.perm[1]))
    else:
        plan = _Plan(plan.pidx, _move_adv(r.dim(), plan.perm[1], plan.perm[2]))
    return plan.to_logical(r), plan


@rule("__getitem__")
def getitem(op, args, kwargs, level):
    x, idx = args
    r, _ = _index(x, idx, level)
    if r is None:
        return NotImplemented
    return wrap_out(r, level)


def _setitem_word(x, idx, v, level) -> str:
    """How PyTorch's error names `x[idx] = v` for an unbatched x: an advanced (tensor) index
    or a batched index goes through index_put_; otherwise the value is copied into x[idx]
    (copy_), or filled in when it is a 0-d tensor of another shape (fill_)."""
    entries = _entries(idx)
    if any(is_tensor(e) for e in entries):
        return "index_put_"
    if is_tensor(v) and ldim(v, level) == 0 and tuple(x[idx].shape) != ():
        return "fill_"
    return "inplace arithmetic"


@rule("__setitem__")
def setitem(op, args, kwargs, level):
    x, idx, v = args
    if not is_b(x, level):
        raise inplace_error(_setitem_word(x, idx, v, level))
    sel, plan = _index(x, idx, level)
    if sel is None:
        return NotImplemented
    p = x._value
    if is_tensor(v):
        shape = tuple(sel.shape)
        vp = pad(v._value, ldim(v, level), len(shape) - 1) if is_b(v, level) else v
        v = plan.to_physical(vp.expand(shape).to(p.dtype))
    p[plan.pidx] = v
    return None


@rule("index_select")
def index_select(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x, dim, index = next(iter(a.values())), a["dim"], a["index"]
    r = ldim(x, level)
    d = wdim(dim, r)
    if is_b(index, level):
        if ldim(index, level) == 0:
            index = index.reshape(1)
        return x[(slice(None),) * d + (index,)] if r else x.unsqueeze(0)[index]
    if not is_b(x, level) or r == 0:
        return NotImplemented
    if index.dim() <= 1 and index.numel() and not index.is_floating_point():
        # (PyTorch's rule indexes the physical value: its message has the physical dim)
        n = x.shape[d]
        bad = ((index < 0) | (index >= n)).reshape(-1)
        if bad.any():
            v = index.reshape(-1)[bad.int().argmax()].item()
            raise vmap_error(f"index {v} is out of bounds for dimension {d + 1} with size {n}")
    return wrap_out(x._value.index_select(d + 1, index), level)


@rule("gather")
def gather(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x, dim, index = next(iter(a.values())), a["dim"], a["index"]
    r = ldim(x, level)
    if ldim(index, level) != r:
        return NotImplemented
    d = wdim(dim, r)
    p, ip = expand_b(x, level), expand_b(index, level)
    if r == 0:
        return wrap_out(p.unsqueeze(1).gather(1, ip.unsqueeze(1)).squeeze(1), level)
    return wrap_out(physical(p.gather, d + 1, ip), level)


@rule("take")
def take(op, args, kwargs, level):
    from .. import gather, where

    x, idx = args[0], args[1] if len(args) > 1 else kwargs["index"]
    flat = idx.reshape(-1)
    flat = where(flat < 0, flat + x.numel(), flat)  # negative indices count from the end
    return gather(x.reshape(-1), 0, flat).reshape(tuple(idx.shape))


@rule("scatter", "scatter_add", "scatter_reduce", "scatter_", "scatter_add_",
      "scatter_reduce_")
def scatter(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    names = list(a)
    x = a[names[0]]
    if op.inplace and not is_b(x, level):
        from ._batching_dispatch import fallback

        return fallback(op, args, kwargs, level)  # (PyTorch's loop: it warns, then raises)
    r = ldim(x, level)
    if r == 0:
        return NotImplemented
    d = wdim(a["dim"], r)
    a[names[0]] = expand_b(x, level) if not op.inplace else x._value
    a["dim"] = d + 1
    for k in names[2:]:
        v = a[k]
        if is_tensor(v):
            if ldim(v, level) != r and k in ("index", "src"):
                return NotImplemented
            a[k] = expand_b(v, level) if (is_b(v, level) or k == "index") else \
                (v if ldim(v, level) == 0 else expand_b(v, level))
    out = call(op, ba.args, ba.kwargs)
    return x if op.inplace else wrap_out(out, level)


@rule("where")
def where(op, args, kwargs, level):
    from ._batching_rules_pointwise import pointwise

    if len(args) + len(kwargs) == 1:
        raise vmap_error(
            "vmap: We do not support batching operators that can output dynamic shape. "
            f"Attempted to vmap over {op.qualname}. Please file an issue at https://github.com/"
            "pytorch/pytorch/issues if you need this feature."
        )
    return pointwise(op, args, kwargs, level)



@rule("index_put", "index_put_")
def index_put(op, args, kwargs, level):
    """x.index_put(indices, values) on the physical batch: an arange over the batch joins the
    index tensors (all of them advanced, so the indexed positions come first: (B, *I, *rest)),
    and a batched `values` gets singleton dims after its batch dim up to that rank."""
    from .. import arange, broadcast_shapes

    ba = op.bind(args, kwargs)
    a = ba.arguments
    names = list(a)
    x, indices, values = a[names[0]], a[names[1]], a[names[2]]
    if op.inplace and not is_b(x, level):
        raise inplace_error("index_put_")
    if not isinstance(indices, (tuple, list)) or not is_tensor(values) or not indices or any(
            not is_tensor(i) or i.dtype in (D.bool, D.uint8) for i in indices):
        return NotImplemented
    r = ldim(x, level)
    if len(indices) > r:
        return NotImplemented
    ishape = broadcast_shapes(*[tuple(i.shape) for i in indices])
    n = len(ishape)
    rest = r - len(indices)
    bidx = arange(B(level)).reshape((B(level),) + (1,) * n)
    pidx = [bidx] + [pad(i._value, ldim(i, level), n) if is_b(i, level) else i
                     for i in indices]
    vp = values
    if is_b(values, level):
        vp = pad(values._value, ldim(values, level), n + rest)
    acc = a.get("accumulate", False)
    if op.inplace:
        x._value.index_put_(tuple(pidx), vp, accumulate=acc)
        return x
    return wrap_out(expand_b(x, level).index_put(tuple(pidx), vp, accumulate=acc), level)


@rule("masked_select")
def masked_select(op, args, kwargs, level):
    """x.masked_select(mask) for an unbatched mask: every sample keeps the same number of
    elements, so the batch selects at once from x padded to the mask's rank (a batched mask
    would select a different number per sample: PyTorch's error)."""
    ba = op.bind(args, kwargs)
    a = ba.arguments
    names = list(a)
    x, mask = a[names[0]], a[names[1]]
    if is_b(mask, level):
        raise vmap_error(
            "vmap: Attempted to vmap over `mask` in tapegrad.masked_select(self, mask) We "
            "cannot support this because for each batch this would return a differently shaped "
            "Tensor. Please file an issue at https://github.com/pytorch/pytorch/issues if you "
            "need this feature."
        )
    if not is_tensor(mask) or a.get("out") is not None:
        return NotImplemented
    r = max(ldim(x, level), mask.dim())
    p = pad(x._value, ldim(x, level), r)
    nb = B(level)
    out = p.masked_select(mask)
    return wrap_out(out.reshape(nb, out.shape[0] // nb if nb else 0), level)

"""Batching rules of the index ops beyond plain indexing: take_along_dim, the index_add /
index_copy / index_fill family, put, masked_scatter, and the sorted lookups (bucketize,
searchsorted).

Where the index is batched, each op is rewritten with logical ops that take batched indices
(scatter, scatter_add, gather, where), which dispatch to their own rules:
- index_add(x, d, index, src, alpha) = x.scatter_add(d, I, alpha src) and index_copy(...) =
  x.scatter(d, I, src), with I the index laid along dim d and expanded to src's shape
  (out-of-range indices make scatter raise: the per-sample loop then gives the op's error);
- index_fill(x, d, index, v) = where(hit, v, x), hit[j] marking the positions j along d that
  the index names (negative ones counted from the end, as index_fill does);
- put(x, index, src) = x.flatten().scatter(0, index, src) (scatter_add with accumulate);
- masked_scatter(x, mask, src): position j of the broadcast (x, mask) takes src.flatten()[k]
  where k = (number of True in mask before and at j) - 1, i.e. a gather by the cumulative sum.
Arguments these rules do not check (shapes, dtypes, ranges) go to the per-sample loop.
"""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor
from ._batching_dispatch import rule, wrap_out
from ._batching_util import B, call, dims_arg, expand_b, is_b, is_tensor, ldim, lshape, wdim


def _same_rank_broadcast(a: list, b: list):
    """The broadcast of two shapes of equal length, or None."""
    out = []
    for s, t in zip(a, b):
        if s != t and s != 1 and t != 1:
            return None
        out.append(t if s == 1 else s)
    return out


@rule("take_along_dim")
def take_along_dim(op, args, kwargs, level):
    """input and indices broadcast against each other except along dim, then gather."""
    from .. import gather

    ba = op.bind(args, kwargs)
    a = ba.arguments
    if a.get("out") is not None:
        return NotImplemented
    x, idx, dim = next(iter(a.values())), a["indices"], a["dim"]
    if dim is None:
        return gather(x.reshape(-1), 0, idx.reshape(-1))
    r = x.dim()
    if idx.dim() != r:
        return NotImplemented
    if r == 0:
        return gather(x, dim, idx)
    d = wdim(dim, r)
    xs, ish = list(x.shape), list(idx.shape)
    want = list(xs)
    want[d] = ish[d]
    shape = _same_rank_broadcast(want, ish)
    if shape is None:
        return NotImplemented
    xshape = list(shape)
    xshape[d] = xs[d]
    return gather(x.expand(xshape), d, idx.expand(shape))


@rule("index_add", "index_copy", "index_fill", "index_add_", "index_copy_", "index_fill_")
def index_ops(op, args, kwargs, level):
    from ._batching_dispatch import inplace_error

    ba = op.bind(args, kwargs)
    a = ba.arguments
    names = list(a)
    x, index = a[names[0]], a["index"]
    if a.get("out") is not None:
        return NotImplemented
    if op.inplace and not is_b(x, level):
        if op.name == "index_copy_":  # (PyTorch's loop: it warns, then raises)
            from ._batching_dispatch import fallback

            return fallback(op, args, kwargs, level)
        raise inplace_error(op.name)
    fill = op.name in ("index_fill", "index_fill_")
    if is_b(index, level) or (fill and is_b(a.get("value"), level)):
        if not op.inplace:
            return _batched_index(op.name, a, names, level)
        if not fill:
            return NotImplemented
        res = _batched_index("index_fill", a, names, level)
        return NotImplemented if res is NotImplemented else x.copy_(res)
    r = ldim(x, level)
    if r == 0:
        return NotImplemented
    a[names[0]] = x._value if op.inplace else expand_b(x, level)
    a["dim"] = dims_arg(a["dim"], r)[0] + 1
    for k in names[3:]:
        v = a[k]
        if is_tensor(v):
            if k == "value" or ldim(v, level) == 0:
                if is_b(v, level):
                    return NotImplemented
                continue
            a[k] = expand_b(v, level)
    out = call(op, ba.args, ba.kwargs)
    return x if op.inplace else wrap_out(out, level)


def _batched_index(name: str, a, names, level):
    """index_add / index_copy / index_fill (`name`) with a batched index (or index_fill with
    a batched value), in logical ops."""
    from .. import full, where, zeros

    x, index = a[names[0]], a["index"]
    r = x.dim()
    if r == 0 or index.dim() > 1 or index.dtype is not D.int64:
        return NotImplemented
    d = wdim(a["dim"], r)
    idx = index.reshape(-1)
    if name == "index_fill":
        value = a["value"]
        if is_tensor(value):
            if value.dim() != 0:
                return NotImplemented
            v = value.to(x.dtype)
        else:
            v = full((), value, dtype=x.dtype)
        n = x.shape[d]
        hit = zeros(n, dtype=D.bool).scatter(0, where(idx < 0, idx + n, idx), True)
        shape = [1] * r
        shape[d] = n
        return where(hit.reshape(shape), v, x)
    src = a["source"]
    expect = list(x.shape)
    expect[d] = idx.shape[0]
    if src.dim() != r or list(src.shape) != expect or src.dtype is not x.dtype:
        return NotImplemented
    view = [1] * r
    view[d] = idx.shape[0]
    spread = idx.reshape(view).expand(expect)
    if name == "index_copy":
        return x.scatter(d, spread, src)
    alpha = a.get("alpha", 1)
    return x.scatter_add(d, spread, src if alpha == 1 else src * alpha)


@rule("put")
def put(op, args, kwargs, level):
    from .. import where

    ba = op.bind(args, kwargs)
    a = ba.arguments
    names = list(a)
    x, index, src = a[names[0]], a["index"], a["source"]
    n = x.numel()
    if (n == 0 or index.dtype is not D.int64 or index.numel() != src.numel()
            or src.dtype is not x.dtype):
        return NotImplemented
    idx = index.reshape(-1)
    idx = where(idx < 0, idx + n, idx)
    flat, s = x.reshape(-1), src.reshape(-1)
    out = flat.scatter_add(0, idx, s) if a.get("accumulate") else flat.scatter(0, idx, s)
    return out.reshape(tuple(x.shape))


@rule("masked_scatter")
def masked_scatter(op, args, kwargs, level):
    from .. import broadcast_tensors, where

    ba = op.bind(args, kwargs)
    a = ba.arguments
    names = list(a)
    x, mask, src = a[names[0]], a["mask"], a["source"]
    if mask.dtype is not D.bool or src.dtype is not x.dtype or src.numel() == 0:
        return NotImplemented
    xb, mb = broadcast_tensors(x, mask)
    m = mb.reshape(-1)
    s = src.reshape(-1)
    ns = s.shape[0]
    count = m.sum()
    cp = count._value if is_b(count, level) else count
    if type(cp) is not Tensor or bool((cp > ns).any()):
        return NotImplemented  # (too few source elements: the loop gives the error)
    pos = (m.to(D.int64).cumsum(0) - 1).clamp(0, ns - 1)
    return where(m, s.gather(0, pos), xb.reshape(-1)).reshape(tuple(xb.shape))


@rule("bucketize", "searchsorted")
def sorted_lookup(op, args, kwargs, level):
    """Lookups in sorted sequences: an unbatched 1-d sequence takes the batched values as
    they are; a batched sequence (one per sample) puts the samples in front of it, with the
    values of each sample flattened behind them (an N-d sequence already pairs its leading
    dims with those of the values)."""
    from .. import searchsorted

    ba = op.bind(args, kwargs)
    a = ba.arguments
    if a.get("out") is not None:
        return NotImplemented
    names = list(a)
    bucket = op.name == "bucketize"
    seq_key, val_key = ("boundaries", names[0]) if bucket else (names[0], names[1])
    seq, vals, sorter = a[seq_key], a[val_key], a.get("sorter")
    if not is_tensor(vals):
        return NotImplemented
    if not is_b(seq, level) and seq.dim() == 1 and is_b(vals, level) and not (
            sorter is not None and is_b(sorter, level)):
        a[val_key] = vals._value
        return wrap_out(call(op, ba.args, ba.kwargs), level)
    rs = seq.dim()
    if rs == 0 or (bucket and rs != 1):
        return NotImplemented
    kw = {"out_int32": a["out_int32"], "right": a["right"]}
    if not bucket:
        kw["side"] = a["side"]
        if sorter is not None:
            kw["sorter"] = expand_b(sorter, level)
    nb = B(level)
    sp, vp = expand_b(seq, level), expand_b(vals, level)
    if rs == 1:
        k = 1
        for s in lshape(vals, level):
            k *= s
        out = searchsorted(sp, vp.reshape(nb, k), **kw).reshape(tuple(vp.shape))
    else:
        if lshape(seq, level)[:-1] != lshape(vals, level)[:-1]:
            return NotImplemented
        out = searchsorted(sp, vp, **kw)
    return wrap_out(out, level)

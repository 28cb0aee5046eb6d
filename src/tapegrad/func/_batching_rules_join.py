"""Batching rules of joins and splits: cat/stack (and hstack & co.), split/chunk/unbind,
atleast_nd and broadcast_tensors.

Operands of cat/stack that are not batched are expanded to the batch (a view) first; the
logical dim d is physical dim d + 1, as for the other shape ops (`_batching_rules_shape`).
"""

from __future__ import annotations

from ._batching_dispatch import rule, wrap_out
from ._batching_rules_shape import _Fallback, _self, _w, physical
from ._batching_util import B, call, expand_b, is_b, ldim, wdim


@rule("split", "chunk", "tensor_split", "unbind", "split_with_sizes")
@_w
def splits(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    names = list(a)
    p, r = _self(args, level)
    if any(is_b(a[k], level) for k in names[1:]):
        raise _Fallback
    a[names[0]] = p
    a["dim"] = wdim(a["dim"], r) + 1
    return wrap_out(tuple(call(op, ba.args, ba.kwargs)), level)


@rule("hsplit", "vsplit", "dsplit")
@_w
def hvdsplit(op, args, kwargs, level):
    from .. import tensor_split

    p, r = _self(args, level)
    rest = args[1:] if len(args) > 1 else (kwargs["indices_or_sections"],)
    sec = rest[0] if len(rest) == 1 else tuple(rest)  # an int: sections; a list: indices
    need = {"hsplit": 1, "vsplit": 2, "dsplit": 3}[op.name]
    if r < need:
        raise ValueError("too few dims")
    d = {"hsplit": 1 if r > 1 else 0, "vsplit": 0, "dsplit": 2}[op.name]
    if isinstance(sec, int) and p.shape[d + 1] % sec:
        raise ValueError("not divisible")
    return tensor_split(args[0], sec, d)


def _atleast(x, n: int, level):
    if not is_b(x, level):
        from .. import atleast_1d, atleast_2d, atleast_3d

        return (atleast_1d, atleast_2d, atleast_3d)[n - 1](x)
    p, r = x._value, x._value.dim() - 1
    if r >= n:
        return x
    shape = tuple(p.shape)[1:]
    if n == 1 or r == 0:
        new = (1,) * n
    elif n == 2:
        new = (1,) + shape
    else:  # 3-d from 1-d: (1, n, 1); from 2-d: (m, n, 1)
        new = (1,) + shape + (1,) if r == 1 else shape + (1,)
    return wrap_out(p.reshape((B(level),) + new), level)


@rule("atleast_1d", "atleast_2d", "atleast_3d")
def atleast(op, args, kwargs, level):
    n = int(op.name[-2])
    items = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    res = [_atleast(x, n, level) for x in items]
    if len(args) == 1 and not isinstance(args[0], (list, tuple)):
        return res[0]
    return tuple(res)


@rule("cat", "concat", "concatenate")
def cat(op, args, kwargs, level):
    a = op.bind(args, kwargs).arguments
    tensors = list(a["tensors"])
    dim = a["dim"] if a.get("axis") is None else a["axis"]
    ref = next((x for x in tensors if not (ldim(x, level) == 1 and x.shape[0] == 0)),
               tensors[0])
    r = ldim(ref, level)
    d = wdim(dim, r)
    items = [expand_b(x, level) for x in tensors
             if not (ldim(x, level) == 1 and x.shape[0] == 0 and r != 1)]
    from .. import cat as cat_

    return wrap_out(physical(cat_, items, d + 1), level)


@rule("stack")
def stack(op, args, kwargs, level):
    a = op.bind(args, kwargs).arguments
    tensors = list(a["tensors"])
    if not tensors:
        return NotImplemented
    r = ldim(tensors[0], level)
    d = wdim(a["dim"], r + 1)
    from .. import stack as stack_

    return wrap_out(physical(stack_, [expand_b(x, level) for x in tensors], d + 1), level)


@rule("hstack", "vstack", "row_stack", "dstack", "column_stack")
def hvstack(op, args, kwargs, level):
    from .. import atleast_1d, atleast_2d, atleast_3d, cat

    tensors = list(args[0] if args else kwargs["tensors"])
    name = op.name
    if name == "hstack":
        ts = atleast_1d(*tensors)
        ts = ts if isinstance(ts, tuple) else (ts,)
        return cat(ts, 0 if ts[0].dim() == 1 else 1)
    if name in ("vstack", "row_stack"):
        ts = atleast_2d(*tensors)
        return cat(ts if isinstance(ts, tuple) else (ts,), 0)
    if name == "dstack":
        ts = atleast_3d(*tensors)
        return cat(ts if isinstance(ts, tuple) else (ts,), 2)
    cols = [x.reshape(x.numel(), 1) if x.dim() <= 1 else x for x in tensors]
    return cat(cols, 1)


@rule("broadcast_tensors")
def broadcast_tensors(op, args, kwargs, level):
    import numpy as np

    tensors = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    shape = tuple(np.broadcast_shapes(*[tuple(x.shape) for x in tensors]))
    return tuple(x.expand(shape) for x in tensors)

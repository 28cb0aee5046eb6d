"""Batching rules of ops that are compositions of other ops but read their arguments' NumPy
arrays for shapes (so running them on batched tensors fails): kron, tensordot, meshgrid,
bilinear, linalg.vander / tensorinv / tensorsolve, pdist, renorm.

Each rule does what the op does, step by step, in logical ops (which dispatch to their own
rules), so a batch of samples gives the values, and the gradients, of one sample at a time:
- kron(a, b): a viewed as (a0, 1, a1, 1, ...) times b viewed as (1, b0, 1, b1, ...), viewed
  as (a0 b0, a1 b1, ...) (ranks padded with leading 1s);
- tensordot: contracted dims of size 1 summed away first, then permute, reshape, mm;
- meshgrid: tensor i viewed with its length at dim i and expanded ('xy' swaps the first two);
- bilinear(x1, x2, W, b)[..., o] = sum_ij x1[..., i] W[o, i, j] x2[..., j] + b[o];
- linalg.vander(x) = [1, x, x^2, ...] as a cumulative product along a new last dim;
- tensorinv / tensorsolve: reshape to a matrix, inv / solve, reshape back;
- pdist(x, p) = ||x[i] - x[j]||_p over the pairs i < j in row order;
- renorm(x, p, dim, m) = x * (m / (norm + 1e-7) where norm > m, else 1), norm the p-norm of
  each slice along dim.
Invalid arguments give NotImplemented (the per-sample loop then gives the op's error).
"""

from __future__ import annotations

import math

from .. import _dtype as D
from ._batching_dispatch import _user_stacklevel, rule


def _args(op, args, kwargs):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    if a.get("out") is not None:
        return None
    return a


@rule("kron")
def kron(op, args, kwargs, level):
    a = _args(op, args, kwargs)
    if a is None:
        return NotImplemented
    x, y = a["input"], a["other"]
    sa, sb = tuple(x.shape), tuple(y.shape)
    n = max(len(sa), len(sb))
    pa, pb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    ra, rb, rr = [], [], []
    for s, t in zip(pa, pb):
        ra += [s, 1]
        rb += [1, t]
        rr.append(s * t)
    return (x.reshape(ra) * y.reshape(rb)).reshape(rr)


def _dim_lists(dims, na: int, nb: int):
    if isinstance(dims, int) and not isinstance(dims, bool):
        if dims < 0 or dims > na or dims > nb:
            return None
        return list(range(na - dims, na)), list(range(dims))
    if not isinstance(dims, (list, tuple)) or len(dims) != 2:
        return None
    d1, d2 = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(d1) != len(d2) or not all(isinstance(d, int) for d in d1 + d2):
        return None
    if any(not -n <= d < n for ds, n in ((d1, na), (d2, nb)) for d in ds):
        return None
    return [d % na for d in d1], [d % nb for d in d2]


@rule("tensordot")
def tensordot(op, args, kwargs, level):
    from .. import mm

    a = _args(op, args, kwargs)
    if a is None:
        return NotImplemented
    x, y = a["a"], a["b"]
    if x.dtype is not y.dtype:
        return NotImplemented
    na, nb = x.dim(), y.dim()
    lists = _dim_lists(a["dims"], na, nb)
    if lists is None:
        return NotImplemented
    d1, d2 = lists
    if len(set(d1)) != len(d1) or len(set(d2)) != len(d2):
        return NotImplemented
    sx, sy = tuple(x.shape), tuple(y.shape)
    t1, t2, csize = x, y, 1
    for i, j in zip(d1, d2):
        s1, s2 = sx[i], sy[j]
        if s2 == 1:
            t1 = t1.sum(i, keepdim=True)
        elif s1 == 1:
            t2 = t2.sum(j, keepdim=True)
        elif s1 != s2:
            return NotImplemented
        else:
            csize *= s1
    free1 = [i for i in range(na) if i not in d1]
    free2 = [j for j in range(nb) if j not in d2]
    size1 = math.prod(sx[i] for i in free1)
    size2 = math.prod(sy[j] for j in free2)
    out = mm(t1.permute(free1 + d1).reshape(size1, csize),
             t2.permute(d2 + free2).reshape(csize, size2))
    return out.reshape([sx[i] for i in free1] + [sy[j] for j in free2])


_MESHGRID_WARNING = ("tapegrad.meshgrid: in an upcoming release, it will be required to pass "
                     "the indexing argument.")


@rule("meshgrid")
def meshgrid(op, args, kwargs, level):
    from .._tensor import Tensor

    tensors = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    indexing = kwargs.get("indexing")
    if set(kwargs) - {"indexing"} or not tensors or indexing not in (None, "ij", "xy"):
        return NotImplemented
    if any(not isinstance(t, Tensor) or t.dim() > 1 or t.dtype is not tensors[0].dtype
           for t in tensors):
        return NotImplemented
    if indexing is None:
        from ..ops._index_util import warn_once

        warn_once(_MESHGRID_WARNING, stacklevel=_user_stacklevel() + 1)
        indexing = "ij"
    ts = list(tensors)
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.numel() for t in ts)
    k = len(ts)
    grids = [t.reshape((1,) * i + (-1,) + (1,) * (k - i - 1)).expand(shape)
             for i, t in enumerate(ts)]
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


@rule("bilinear", "F.bilinear")
def bilinear(op, args, kwargs, level):
    from .. import einsum

    a = _args(op, args, kwargs)
    if a is None:
        return NotImplemented
    x1, x2, w, b = a["input1"], a["input2"], a["weight"], a.get("bias")
    s1, s2, sw = tuple(x1.shape), tuple(x2.shape), tuple(w.shape)
    if (len(s1) != len(s2) or not s1 or s1[:-1] != s2[:-1] or len(sw) != 3
            or s1[-1] != sw[1] or s2[-1] != sw[2]
            or (b is not None and tuple(b.shape) != sw[:1])):
        return NotImplemented
    out = einsum("...i,oij,...j->...o", x1, w, x2)
    return out if b is None else out + b


@rule("linalg.vander")
def linalg_vander(op, args, kwargs, level):
    from .. import cat, ones

    a = _args(op, args, kwargs)
    x, n = a["x"], a["N"]
    if x.dtype is D.bool:
        return NotImplemented
    if x.dim() == 0:  # one point
        x = x.unsqueeze(0)
    n = x.shape[-1] if n is None else int(n)
    if n <= 1:
        return NotImplemented
    powers = x.unsqueeze(-1).expand(tuple(x.shape) + (n - 1,)).cumprod(-1)
    return cat([ones(tuple(x.shape) + (1,), dtype=powers.dtype), powers], -1)


@rule("linalg.tensorinv")
def tensorinv(op, args, kwargs, level):
    from ..linalg import inv

    a = _args(op, args, kwargs)
    if a is None:
        return NotImplemented
    x, ind = a["A"], a["ind"]
    shape = tuple(x.shape)
    if ind <= 0 or math.prod(shape[:ind]) != math.prod(shape[ind:]):
        return NotImplemented
    n = math.prod(shape[:ind])
    # (the inverse of the transpose, transposed: the layout PyTorch's column-major LAPACK
    # result has, so the values match it bit for bit)
    return inv(x.reshape(n, n).mT).mT.reshape(shape[ind:] + shape[:ind])


@rule("linalg.tensorsolve")
def tensorsolve(op, args, kwargs, level):
    from ..linalg import solve

    a = _args(op, args, kwargs)
    if a is None:
        return NotImplemented
    x, y, dims = a["A"], a["B"], a.get("dims")
    if dims is not None:
        nd = x.dim()
        moved = [d % nd for d in dims]
        x = x.permute([d for d in range(nd) if d not in moved] + moved)
    shape = tuple(x.shape)
    k = y.dim()
    rest = shape[k:]
    if math.prod(rest) != math.prod(shape[:k]):
        return NotImplemented
    return solve(x.reshape(y.numel(), math.prod(rest)), y.flatten()).reshape(rest)


@rule("pdist", "F.pdist")
def pdist(op, args, kwargs, level):
    from .. import triu_indices
    from ..linalg import vector_norm

    a = _args(op, args, kwargs)
    x, p = a["input"], float(a["p"])
    if x.dim() != 2 or x.dtype.category != D.FLOAT or p < 0 or x.shape[0] < 2:
        return NotImplemented
    i, j = triu_indices(x.shape[0], x.shape[0], 1)
    return vector_norm(x[i] - x[j], p, -1)


@rule("renorm")
def renorm(op, args, kwargs, level):
    from .. import where
    from ..linalg import vector_norm

    a = _args(op, args, kwargs)
    if a is None:
        return NotImplemented
    x, p, dim, m = a["input"], float(a["p"]), a["dim"], float(a["maxnorm"])
    r = x.dim()
    if not (p > 0 and m >= 0 and r >= 2) or x.dtype not in (D.float32, D.float64):
        return NotImplemented
    d = dim % r if -r <= dim < r else None
    if d is None:
        return NotImplemented
    norm = vector_norm(x, p, [i for i in range(r) if i != d], True)
    return x * where(norm > m, m / (norm + 1e-7), 1.0).to(x.dtype)

"""Batching rules of products and linear algebra: matmul and its family (mm, bmm, mv, dot,
outer, addmm, ...), einsum, linear, and the linalg ops that already take batches of matrices.

matmul on logical operands a (rank ra) and b (rank rb): a 1-d operand becomes a matrix (a row
for a, a column for b) whose extra dim is squeezed from the result; batched operands of lower
rank get singleton dims after the batch dim so the leading (batch-of-matrices) dims broadcast
as the logical ones do. One matmul then computes every sample.
"""

from __future__ import annotations

import string

from ._batching_core import vmap_error
from ._batching_dispatch import rule, wrap_out
from ._batching_rules_shape import physical
from ._batching_util import is_b, is_tensor, ldim, lshape, pad, phys


def _matmul(a, b, level):
    from .. import matmul

    ra, rb = ldim(a, level), ldim(b, level)
    if ra == 0 or rb == 0:
        raise ValueError("matmul: both arguments need at least 1 dim")
    ab, bb = is_b(a, level), is_b(b, level)
    ap, bp = phys(a, level), phys(b, level)
    if ab and not bb and ra == 1 and rb <= 2:
        # (B, k) @ (k, m) or (k,): one plain product, as PyTorch's rule makes it (so its
        # shape errors name the physical shapes as PyTorch's do)
        from .. import mv

        return wrap_out(physical(matmul if rb == 2 else mv, ap, bp), level)
    if ab and bb and rb == 2 and (ra == 1 or (ra == 2 and ap.shape[1] == 1)):
        # a vector (or one row) per sample times a matrix per sample (a linear layer with
        # per-sample weights): as einsum, whose backward forms the per-sample outer products
        # g x^T by broadcasting (a matmul with a contracted dim of 1 is slow in NumPy)
        from .. import einsum

        return wrap_out(einsum("bk,bkm->bm" if ra == 1 else "bnk,bkm->bnm", ap, bp), level)
    ra2, rb2 = max(ra, 2), max(rb, 2)
    if ra == 1:
        ap = ap.unsqueeze(-2)
    if rb == 1:
        bp = bp.unsqueeze(-1)
    rank = max(ra2, rb2)
    if ab:
        ap = pad(ap, ra2, rank)
    if bb:
        bp = pad(bp, rb2, rank)
    if ap.shape[-1] == 1 and ap.dtype == bp.dtype and bp.shape[-2] == 1:
        # a contracted dim of 1: the product is the broadcast outer product (NumPy's matmul
        # takes a slow non-BLAS loop for it, as in the per-sample x^T g of a linear layer)
        out = ap * bp
    else:
        out = matmul(ap, bp)
    if ra == 1:
        out = out.squeeze(-2)
    if rb == 1:
        out = out.squeeze(-1)
    return wrap_out(out, level)


def _two(op, args, kwargs):
    ba = op.bind(args, kwargs)
    vals = list(ba.arguments.values())
    return vals[0], vals[1]


@rule("matmul", "linalg.matmul")
def matmul(op, args, kwargs, level):
    a, b = _two(op, args, kwargs)
    return _matmul(a, b, level)


@rule("rmatmul")
def rmatmul(op, args, kwargs, level):
    return _matmul(args[1], args[0], level)


_RANKS = {"mm": (2, 2), "bmm": (3, 3), "mv": (2, 1), "dot": (1, 1), "vdot": (1, 1)}


@rule(*_RANKS)
def fixed_rank_products(op, args, kwargs, level):
    a, b = _two(op, args, kwargs)
    want = _RANKS[op.name]
    have = (ldim(a, level), ldim(b, level))
    if have != want and op.name in ("mm", "bmm", "mv"):  # (PyTorch's rule checks the ranks)
        raise vmap_error(
            f"Shape mismatch: Got incorrect dims for {op.name}(a, b). a has dim {have[0]}and b "
            f"has dim {have[1]}but expected them to have dim {want[0]} and dim {want[1]}")
    if have != want or a.dtype is not b.dtype:
        raise ValueError("per-sample checks give the error")
    if op.name == "bmm" and lshape(a, level)[0] != lshape(b, level)[0]:
        raise ValueError("bmm: batch sizes differ")
    if op.name == "vdot":
        a = a.conj()
    return _matmul(a, b, level)


@rule("outer", "ger")
def outer(op, args, kwargs, level):
    a, b = _two(op, args, kwargs)
    if ldim(a, level) != 1 or ldim(b, level) != 1:
        raise ValueError("outer: 1-d arguments")
    return a.unsqueeze(1) * b.unsqueeze(0)


@rule("inner")
def inner(op, args, kwargs, level):
    a, b = _two(op, args, kwargs)
    if ldim(a, level) == 0 or ldim(b, level) == 0:
        return a * b
    if ldim(a, level) == 1 and ldim(b, level) == 1:
        return _matmul(a, b, level)
    # a (..., k) and b (..., k): every row of a against every row of b
    k = a.shape[-1]
    out = _matmul(a.reshape(-1, k), b.reshape(-1, k).t(), level)
    return out.reshape(tuple(a.shape[:-1]) + tuple(b.shape[:-1]))


@rule("dist")
def dist(op, args, kwargs, level):
    from ..linalg import vector_norm

    ba = op.bind(args, kwargs)
    vals = list(ba.arguments.values())
    return vector_norm(vals[0] - vals[1], vals[2])


def _addx(op, args, kwargs, level, prod):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    vals = list(a.values())
    inp, m1, m2 = vals[0], vals[1], vals[2]
    beta, alpha = a.get("beta", 1), a.get("alpha", 1)
    out = prod(m1, m2)
    if alpha != 1:
        out = out * alpha
    if beta == 0:  # the input is ignored (its nan and inf too), as in PyTorch
        return out
    return out + (inp if beta == 1 else inp * beta)


@rule("addmm", "addmv", "addr", "baddbmm", "addbmm")
def addx(op, args, kwargs, level):
    from .. import bmm, mm, mv, outer

    prod = {"addmm": mm, "addmv": mv, "addr": outer, "baddbmm": bmm,
            "addbmm": lambda x, y: bmm(x, y).sum(0)}[op.name]
    return _addx(op, args, kwargs, level, prod)


def _sublist_form(args):
    """einsum(op0, sub0, op1, sub1, ..., [out]) as (equation, op0, op1, ...), or () where the
    arguments are not of that form. Subscript k is letter k of A-Z a-z (the order PyTorch
    gives labels); without an output list, the output is the ellipsis (if any) and then the
    labels used once, in increasing order."""
    ops, subs = list(args[0::2]), list(args[1::2])
    out = None
    if len(args) % 2:  # an output sublist last
        out = ops.pop()
    if not ops or len(ops) != len(subs) or not all(
            isinstance(s, (list, tuple)) for s in subs + ([out] if out is not None else [])):
        return ()
    letters = string.ascii_uppercase + string.ascii_lowercase

    def text(sub):
        parts = []
        for s in sub:
            if s is Ellipsis:
                parts.append("...")
            elif isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 52:
                parts.append(letters[s])
            else:
                raise ValueError("einsum: a subscript outside [0, 52)")
        return "".join(parts)

    try:
        ins = [text(s) for s in subs]
        if out is None:
            used = [s for sub in subs for s in sub if s is not Ellipsis]
            ell = any(s is Ellipsis for sub in subs for s in sub)
            out = ([Ellipsis] if ell else []) + sorted(s for s in set(used)
                                                       if used.count(s) == 1)
        rhs = text(out)
    except ValueError:
        return ()
    return (",".join(ins) + "->" + rhs, *ops)


@rule("einsum")
def einsum(op, args, kwargs, level):
    from .. import einsum as einsum_

    if args and not isinstance(args[0], str) and not kwargs:
        args = _sublist_form(args)
    if not args or not isinstance(args[0], str):
        return NotImplemented
    eq = args[0].replace(" ", "")
    ops = list(args[1]) if len(args) == 2 and isinstance(args[1], (list, tuple)) else \
        list(args[1:])
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(ops):
        raise ValueError("einsum: operand count")
    if not arrow:
        letters = [c for c in lhs if c.isalpha()]
        rhs = ("..." if "..." in lhs else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1))
    free = [c for c in string.ascii_letters if c not in eq]
    z = free[0]
    new_ins, phys_ops = [], []
    for sub, x in zip(ins, ops):
        if is_b(x, level):
            new_ins.append(z + sub)
            phys_ops.append(x._value)
        else:
            new_ins.append(sub)
            phys_ops.append(x)
    new_eq = ",".join(new_ins) + "->" + z + rhs
    return wrap_out(einsum_(new_eq, *phys_ops), level)


@rule("F.linear", "linear")
def linear(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    x, w, b = ba.arguments["input"], ba.arguments["weight"], ba.arguments.get("bias")
    if is_b(x, level) and not is_b(w, level) and not (b is not None and is_b(b, level)):
        from ..nn.functional import linear as linear_

        return wrap_out(linear_(x._value, w, b), level)
    out = _matmul(x, w.t() if ldim(w, level) == 2 else w, level)
    return out if b is None else out + b


# linalg ops on (batches of) matrices: the batch dim is one more leading dim
_MATRIX_OPS = (
    "det logdet slogdet inverse matrix_exp matrix_power cholesky cholesky_inverse svd qr "
    "pinverse linalg.inv linalg.inv_ex linalg.det linalg.slogdet linalg.cholesky "
    "linalg.cholesky_ex linalg.eigh linalg.eigvalsh linalg.eig linalg.eigvals linalg.svd "
    "linalg.svdvals linalg.qr linalg.pinv linalg.matrix_exp linalg.matrix_power "
    "linalg.lu_factor linalg.lu_factor_ex linalg.lu linalg.matrix_rank linalg.cond "
    "linalg.ldl_factor linalg.ldl_factor_ex geqrf"
).split()


@rule(*_MATRIX_OPS)
def matrix_op(op, args, kwargs, level):
    x = args[0] if args else next(iter(kwargs.values()))
    rest = list(args[1:]) + list(kwargs.values())[0 if args else 1:]
    if not is_b(x, level) or any(is_b(v, level) for v in rest if is_tensor(v)):
        return NotImplemented
    if ldim(x, level) < 2:
        raise ValueError("a matrix op needs 2 dims")
    new_args = (x._value,) + tuple(args[1:]) if args else ()
    new_kwargs = dict(kwargs)
    if not args:
        first = next(iter(kwargs))
        new_kwargs[first] = x._value
    from ._batching_util import call

    return wrap_out(call(op, new_args, new_kwargs), level)


def _align_matrices(items, level):
    """Physical values of these logical batches of matrices, padded to a common rank."""
    rank = max(ldim(x, level) for x in items)
    return [pad(x._value, ldim(x, level), rank) if is_b(x, level) else x for x in items]


@rule("linalg.solve_triangular", "cholesky_solve")
def triangular_like(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    names = list(a)
    x, y = a[names[0]], a[names[1]]
    if ldim(x, level) < 2 or ldim(y, level) < 2:
        return NotImplemented
    a[names[0]], a[names[1]] = _align_matrices([x, y], level)
    from ._batching_util import call

    return wrap_out(call(op, ba.args, ba.kwargs), level)


@rule("linalg.multi_dot")
def multi_dot(op, args, kwargs, level):
    from .. import matmul as matmul_

    tensors = list(args[0] if args else kwargs["tensors"])
    if len(tensors) < 2:
        return NotImplemented
    out = tensors[0]
    for t_ in tensors[1:]:
        out = matmul_(out, t_)
    return out


@rule("linalg.vecdot")
def vecdot(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x, y = a["x"], a["y"]
    return (x.conj() * y).sum(a.get("dim", -1))


@rule("linalg.cross", "cross")
def cross(op, args, kwargs, level):
    from ._batching_util import call, wdim

    ba = op.bind(args, kwargs)
    a = ba.arguments
    names = list(a)
    x, y = a[names[0]], a[names[1]]
    dim = a.get("dim")
    if dim is None:
        return NotImplemented
    rank = max(ldim(x, level), ldim(y, level))
    d = wdim(dim, rank)
    xs = [pad(v._value, ldim(v, level), rank) if is_b(v, level) else v for v in (x, y)]
    a[names[0]], a[names[1]] = xs
    a["dim"] = d + 1
    return wrap_out(call(op, ba.args, ba.kwargs), level)


@rule("cdist")
def cdist(op, args, kwargs, level):
    from ._batching_util import call

    ba = op.bind(args, kwargs)
    a = ba.arguments
    x1, x2 = a["x1"], a["x2"]
    if ldim(x1, level) < 2 or ldim(x2, level) < 2:
        return NotImplemented
    a["x1"], a["x2"] = _align_matrices([x1, x2], level)
    return wrap_out(call(op, ba.args, ba.kwargs), level)

"""Batching rules of the linalg ops that take several (batches of) matrices and vectors:
linalg.solve / solve_ex, linalg.lu_solve and torch.lu_solve, triangular_solve, lstsq,
householder_product / orgqr, ormqr, lu_unpack.

Each argument has a core rank (2 for a matrix, 1 for pivots or tau) and leading batch dims.
Every tensor argument is expanded to the vmap batch (a view where it is not batched) and
gets singleton dims after it up to the largest number of leading dims among the arguments,
so the ops' own broadcasting of leading dims pairs them as in one sample. A right-hand side
that one sample reads as a vector is made a one-column matrix (one row for left=False) first,
since the ranks that decide it change once the batch dim is there. Ops that do not broadcast
leading dims need them equal. Results that a sample returns empty (lstsq's residuals with
some drivers, lu_unpack's unrequested parts) come back as (batch, 0).
"""

from __future__ import annotations

from ._batching_dispatch import rule, wrap_out
from ._batching_util import B, call, expand_b, is_tensor, ldim, lshape, pad


def _per_sample(o, level):
    if not is_tensor(o):
        return o
    nb = B(level)
    if o.dim() == 0 or o.shape[0] != nb:
        if o.numel() != 0:
            raise ValueError("a result without the batch dim")
        return o.new_zeros((nb,) + tuple(o.shape))
    return o


def _wrap_all(out, level):
    if isinstance(out, tuple):
        items = [_per_sample(o, level) for o in out]
        t = type(out)
        out = t(items) if hasattr(t, "n_fields") else (
            t(*items) if hasattr(t, "_fields") else tuple(items))
        return wrap_out(out, level)
    return wrap_out(_per_sample(out, level), level)


def _aligned_call(op, ba, level, cores: dict, broadcast: bool = True):
    """op on the physical values of the tensor arguments named in cores (name -> core rank),
    aligned as the module docstring says; NotImplemented where they cannot be."""
    a = ba.arguments
    if a.get("out") is not None:
        return NotImplemented
    names = [k for k in cores if is_tensor(a.get(k))]
    leads = {k: ldim(a[k], level) - cores[k] for k in names}
    if any(v < 0 for v in leads.values()):
        return NotImplemented
    if not broadcast and len({lshape(a[k], level)[:leads[k]] for k in names}) > 1:
        return NotImplemented
    top = max(leads.values())
    for k in names:
        r = ldim(a[k], level)
        a[k] = pad(expand_b(a[k], level), r, r + top - leads[k])
    return _wrap_all(call(op, ba.args, ba.kwargs), level)


def _is_vector_rhs(x, y, level) -> bool:
    """PyTorch's rule: B is a vector (or a batch of them) when it is 1-d, or when its shape
    is A's without the last dim."""
    rb = ldim(y, level)
    return rb == 1 or (rb == ldim(x, level) - 1 and lshape(y, level) == lshape(x, level)[:-1])


def _unvector(out, axis: int):
    if isinstance(out, tuple):
        first = out[0].squeeze(axis)
        t = type(out)
        items = [first] + list(out[1:])
        return t(items) if hasattr(t, "n_fields") else (
            t(*items) if hasattr(t, "_fields") else tuple(items))
    return out.squeeze(axis)


@rule("linalg.solve", "linalg.solve_ex")
def solve(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x, y = a["A"], a["B"]
    if ldim(x, level) < 2 or ldim(y, level) < 1:
        return NotImplemented
    vec = _is_vector_rhs(x, y, level)
    axis = -1 if a.get("left", True) else -2
    if vec:
        a["B"] = y.unsqueeze(axis)
    out = _aligned_call(op, ba, level, {"A": 2, "B": 2})
    return _unvector(out, axis) if vec and out is not NotImplemented else out


@rule("linalg.lstsq")
def lstsq(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x, y = a["A"], a["B"]
    if ldim(x, level) < 2 or ldim(y, level) < 1:
        return NotImplemented
    vec = ldim(y, level) == ldim(x, level) - 1  # (as the op reads one sample)
    if vec:
        a["B"] = y.unsqueeze(-1)
    out = _aligned_call(op, ba, level, {"A": 2, "B": 2})
    return _unvector(out, -1) if vec and out is not NotImplemented else out


_CORES = {  # key: (core ranks of the leading tensor parameters, broadcasts leading dims)
    "linalg.lu_solve": ((2, 1, 2), True),  # (LU, pivots, B)
    "lu_solve": ((2, 2, 1), True),  # (b, LU_data, LU_pivots)
    "triangular_solve": ((2, 2), True),  # (b, A)
    "linalg.householder_product": ((2, 1), False),  # (A, tau)
    "orgqr": ((2, 1), False),  # (input, tau)
    "ormqr": ((2, 1, 2), False),  # (input, tau, other)
    "lu_unpack": ((2, 1), False),  # (LU_data, LU_pivots)
}


@rule(*_CORES)
def matrices(op, args, kwargs, level):
    key = "linalg." + op.name if op.qualname.startswith("tapegrad.linalg.") else op.name
    if key not in _CORES:
        return NotImplemented
    ranks, broadcast = _CORES[key]
    ba = op.bind(args, kwargs)
    return _aligned_call(op, ba, level, dict(zip(ba.arguments, ranks)), broadcast)

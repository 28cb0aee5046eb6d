"""Batching rules of ops along dims: reductions, scans, sorts and softmax-like ops.

A logical dim d (wrapped against the logical rank, with PyTorch's error) is physical dim
d + 1. dim=None means every logical dim: ops that take a tuple of dims get (1, ..., rank);
the others (argmax, prod, median, ...) run on the physical value flattened to (B, -1) along
dim 1. A logically 0-d input (physically (B,)) gets a trailing singleton dim to work on, which
is squeezed from the results.
"""

from __future__ import annotations

import warnings

from ._batching_core import vmap_error
from ._batching_dispatch import _user_stacklevel, rule, wrap_out
from ._batching_util import B, call, dims_arg, is_b, is_tensor

_ALL = ("sum", "mean", "nansum", "nanmean", "amax", "amin", "logsumexp", "special.logsumexp",
        "std", "var", "std_mean", "var_mean")
_FLAT = ("prod", "all", "any", "count_nonzero", "argmax", "argmin", "median", "nanmedian",
         "aminmax", "linalg.vector_norm")
_NEEDS_DIM = ("cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "softmax", "log_softmax",
              "special.softmax", "special.log_softmax", "F.normalize", "normalize", "F.glu",
              "glu", "mode", "kthvalue", "topk", "sort", "argsort", "diff",
              "linalg.matrix_norm", "softmin", "cumsum_", "cumprod_")
_VALUES_ONLY = ("median", "nanmedian")


def _batched_elsewhere(a: dict, names, level) -> bool:
    for k in names[1:]:
        v = a[k]
        if is_b(v, level):
            return True
        if isinstance(v, (list, tuple)) and any(is_b(x, level) for x in v):
            return True
    return False


def flat_batch(p, nb: int | None = None):
    """The physical value as (B, numel of a sample) (reshape(B, -1) cannot size an empty
    batch); nb: B where p's leading dims hold B times a sample's elements."""
    if nb is None:
        n = 1
        for s in p.shape[1:]:
            n *= s
        return p.reshape(p.shape[0], n)
    total = 1
    for s in p.shape:
        total *= s
    return p.reshape(nb, total // nb if nb else 0)


def _post(out, fn):
    if isinstance(out, tuple):
        items = [_post(o, fn) for o in out]
        t = type(out)
        if hasattr(t, "n_fields"):
            return t(items)
        return t(*items) if hasattr(t, "_fields") else tuple(items)
    if is_tensor(out):
        return fn(out)
    return out


def along_dims(op, args, kwargs, level, mode: str, param: str = "dim"):
    """The generic rule (mode: 'all', 'flat' or 'need', for what dim=None means)."""
    ba = op.bind(args, kwargs)
    a = ba.arguments
    names = list(a)
    x = a[names[0]]
    if op.name in ("topk", "kthvalue"):
        from ._batching_rules_scalars import numbers_error

        numbers_error(a.get("k"))
    if not is_b(x, level) or _batched_elsewhere(a, names, level):
        return NotImplemented
    p = x._value
    r = p.dim() - 1
    dim = a.get(param)
    if op.name in ("std", "var", "std_mean", "var_mean") and type(dim) is bool:
        a["unbiased"], dim = dim, None
    empty = isinstance(dim, (tuple, list)) and len(dim) == 0
    post = None
    if dim is None or (empty and mode == "all"):
        if mode == "all":
            if r == 0:
                p, new, post = p.unsqueeze(1), (1,), "squeeze"
            else:
                new = tuple(range(1, r + 1))
        elif mode == "flat":
            p, new, post = flat_batch(p), 1, "flat"
        else:
            new = dim
    else:
        ds = dims_arg(dim, r)
        if r == 0:
            p, ds, post = p.unsqueeze(1), [1] * len(ds), "squeeze"
        else:
            ds = [d + 1 for d in ds]
        new = type(dim)(ds) if isinstance(dim, (tuple, list)) else ds[0]
    a[names[0]] = p
    a[param] = new
    out = call(op, ba.args, ba.kwargs)
    if post == "flat" and op.name in _VALUES_ONLY:
        out = out[0]
    if post == "squeeze":
        out = _post(out, lambda t: t.squeeze(1) if t.dim() == 2 else t)
    elif post == "flat" and a.get("keepdim"):
        shape = (B(level),) + (1,) * r
        out = _post(out, lambda t: t.reshape(shape))
    return wrap_out(out, level)


def _mode_rule(mode):
    def rule_fn(op, args, kwargs, level):
        return along_dims(op, args, kwargs, level, mode)

    return rule_fn


rule(*_ALL)(_mode_rule("all"))
rule(*_FLAT)(_mode_rule("flat"))
rule(*_NEEDS_DIM)(_mode_rule("need"))


@rule("max", "min")
def max_min(op, args, kwargs, level):
    from .. import amax, amin, maximum, minimum

    ba = op.bind(args, kwargs)
    a = ba.arguments
    x = next(iter(a.values()))
    dim, other = a.get("dim"), a.get("other")
    if is_tensor(dim):
        other, dim = dim, None
    if other is not None:
        return (maximum if op.name == "max" else minimum)(x, other)
    if dim is None:
        if not is_b(x, level):
            return NotImplemented
        flat = flat_batch(x._value)
        if flat.shape[1] == 0 and flat.shape[0]:  # (PyTorch reduces the flattened batch)
            raise vmap_error(f"{op.name}(): Expected reduction dim 1 to have non-zero size.",
                             IndexError)
        return wrap_out((amax if op.name == "max" else amin)(flat, 1), level)
    return along_dims(op, args, kwargs, level, "need")


@rule("msort")
def msort(op, args, kwargs, level):
    from .. import sort

    return sort(args[0], 0).values


@rule("norm")
def norm(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x = next(iter(a.values()))
    if a.get("dim") is None and is_b(x, level) and a.get("p") == "nuc":
        if x.dim() != 2:
            return NotImplemented
        a["dim"] = (0, 1)
        return along_dims(op, ba.args, ba.kwargs, level, "need")
    return along_dims(op, args, kwargs, level, "flat")


@rule("linalg.norm")
def linalg_norm(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x = next(iter(a.values()))
    if a.get("dim") is None and a.get("ord") is not None:
        if x.dim() == 1:
            a["dim"] = 0
        elif x.dim() == 2:
            a["dim"] = (0, 1)
        else:
            return NotImplemented
        return along_dims(op, ba.args, ba.kwargs, level, "need")
    return along_dims(op, args, kwargs, level, "flat")


@rule("quantile", "nanquantile")
def quantile(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    q = ba.arguments.get("q")
    if is_tensor(q) and (is_b(q, level) or q.dim() > 1):
        return NotImplemented
    out = along_dims(op, args, kwargs, level, "flat")
    if is_tensor(q) and q.dim() == 1 and out is not NotImplemented:
        # the q dim comes first in the result: (Q, B, ...) physically; the batch goes first
        return wrap_out(out._value.movedim(1, 0), level)
    return out


def _implicit_softmax_dim(name: str, ndim: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        UserWarning,
        stacklevel=_user_stacklevel(),
    )
    return 0 if ndim in (0, 1, 3) else 1


@rule("F.softmax", "F.log_softmax", "F.softmin", "Tensor.softmax", "Tensor.log_softmax")
def f_softmax(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    if a.get("dim") is None:
        x = next(iter(a.values()))
        a["dim"] = _implicit_softmax_dim(op.name, x.dim())
    return along_dims(op, ba.args, ba.kwargs, level, "need")


_DYNAMIC = ("nonzero", "argwhere", "unique", "unique_consecutive")


@rule(*_DYNAMIC)
def dynamic_shape(op, args, kwargs, level):
    raise vmap_error(
        "vmap: We do not support batching operators that can output dynamic shape. Attempted "
        f"to vmap over {op.qualname}. Please file an issue at https://github.com/pytorch/"
        "pytorch/issues if you need this feature."
    )

"""Batching rules of shape ops: views and reshapes, permutes and transposes, squeeze and
unsqueeze, expand and repeat, flips and rolls, narrow/select, splits, cat and stack, diagonals.

Logical dim d is physical dim d + 1; shapes given by the user get the batch size prepended.
Operands of cat/stack that are not batched are expanded to the batch (a view) first.
Invalid arguments make a rule raise; the dispatcher then reports the per-sample error.
"""

from __future__ import annotations

from .._tensor import Tensor
from ._batching_dispatch import rule, wrap_out
from ._batching_rules_reduce import flat_batch
from ._batching_util import B, call, dims_arg, is_b, is_tensor, pad, wdim


def _sizes(rest: tuple, kwargs: dict, key: str):
    """A shape given as varargs, one sequence, or a keyword."""
    if key in kwargs:
        return tuple(kwargs[key])
    if len(rest) == 1 and isinstance(rest[0], (tuple, list)):
        return tuple(rest[0])
    return tuple(rest)


def _self(args, level):
    x = args[0]
    if not is_b(x, level):
        raise _Fallback
    return x._value, x._value.dim() - 1


class _Fallback(Exception):
    """Raised by a rule to hand the call to the per-sample loop (never reaches users)."""


def _w(fn):
    """Turn _Fallback into NotImplemented (the per-sample loop)."""

    def wrapped(op, args, kwargs, level):
        try:
            return fn(op, args, kwargs, level)
        except _Fallback:
            return NotImplemented

    wrapped.__name__ = fn.__name__
    return wrapped


def physical(fn, *args):
    """fn(*args) on physical values where PyTorch's rule makes the same call: its shape
    errors are final, with the physical shapes in the message as PyTorch reports them (not
    retried per sample for the logical message)."""
    try:
        return fn(*args)
    except (RuntimeError, IndexError) as e:
        e._tapegrad_vmap = True
        raise


def _view_result(op, args, out, level: int):
    """A view op's physical result: the new value of the batched tensor itself for the in-place
    form (t_, squeeze_, ...), else a new batched tensor."""
    if op.inplace:
        args[0]._value = out
        return args[0]
    return wrap_out(out, level)


@rule("view", "reshape")
@_w
def view(op, args, kwargs, level):
    p, _ = _self(args, level)
    from .. import dtype

    rest = args[1:]
    if len(rest) == 1 and isinstance(rest[0], dtype) or "dtype" in kwargs:
        return wrap_out(getattr(p, op.name)(*rest, **kwargs), level)
    shape = _sizes(rest, kwargs, "shape")
    return wrap_out(physical(getattr(p, op.name), (B(level),) + shape), level)


@rule("view_as", "reshape_as")
@_w
def view_as(op, args, kwargs, level):
    p, _ = _self(args, level)
    shape = tuple(args[1].shape)
    return wrap_out((p.view if op.name == "view_as" else p.reshape)((B(level),) + shape), level)


@rule("ravel")
@_w
def ravel(op, args, kwargs, level):
    p, _ = _self(args, level)
    return wrap_out(flat_batch(p), level)


@rule("flatten")
@_w
def flatten(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    p, r = _self(args, level)
    s, e = ba.arguments["start_dim"], ba.arguments["end_dim"]
    if r == 0:
        wdim(s, 0), wdim(e, 0)
        return wrap_out(p.reshape(B(level), 1), level)
    s, e = wdim(s, r), wdim(e, r)
    return wrap_out(p.flatten(s + 1, e + 1), level)


@rule("unflatten")
@_w
def unflatten(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    p, r = _self(args, level)
    d = wdim(ba.arguments["dim"], r)
    return wrap_out(p.unflatten(d + 1, ba.arguments["sizes"]), level)


@rule("permute")
@_w
def permute(op, args, kwargs, level):
    p, r = _self(args, level)
    dims = physical(dims_arg, _sizes(args[1:], kwargs, "dims"), r)  # (each dim first)
    return wrap_out(physical(p.permute, (0,) + tuple(d + 1 for d in dims)), level)


@rule("transpose", "swapaxes", "swapdims", "transpose_", "swapaxes_", "swapdims_")
@_w
def transpose(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    p, r = _self(args, level)
    a, b = list(ba.arguments.values())[1:3]
    a, b = wdim(a, r), wdim(b, r)
    if r == 0:
        out = p.view(p.shape)
    else:
        out = p.transpose(a + 1, b + 1)
    return _view_result(op, args, out, level)


@rule("t", "t_")
@_w
def t(op, args, kwargs, level):
    p, r = _self(args, level)
    if r > 2:
        raise ValueError("t() expects a tensor with <= 2 dimensions")
    out = p.transpose(1, 2) if r == 2 else p.view(p.shape)
    return _view_result(op, args, out, level)


def _like_one_sample(x, level):
    """An empty tensor with one sample's shape and dtype (to let the original op emit its
    warnings and shape errors)."""
    from .. import zeros

    return zeros(tuple(x.shape), dtype=x.dtype)


@rule("Tensor.T", "Tensor.mT", "Tensor.H", "Tensor.mH", "adjoint")
@_w
def transposes(op, args, kwargs, level):
    p, r = _self(args, level)
    op.orig(_like_one_sample(args[0], level))  # PyTorch's warnings and errors, per sample
    name = op.name
    if r == 0:
        out = p if name in ("T", "mT") else p.conj()
    elif name == "T":
        out = p.permute((0,) + tuple(range(r, 0, -1)))
    else:
        out = p.transpose(-2, -1)
    if name in ("H", "mH", "adjoint") and r > 0:
        out = out.conj()
    return wrap_out(out, level)


@rule("squeeze", "squeeze_")
@_w
def squeeze(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    p, r = _self(args, level)
    dim = ba.arguments.get("dim")
    shape = tuple(p.shape)[1:]
    if dim is None:
        ds = [d for d in range(r) if shape[d] == 1]
    else:
        ds = [d for d in dims_arg(dim, r) if r > 0 and shape[d] == 1]
    out = p.squeeze(tuple(d + 1 for d in ds)) if ds else p.view(p.shape)
    return _view_result(op, args, out, level)


@rule("unsqueeze", "unsqueeze_")
@_w
def unsqueeze(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    p, r = _self(args, level)
    d = wdim(ba.arguments["dim"], r + 1)
    out = p.unsqueeze(d + 1)
    return _view_result(op, args, out, level)


def _expand(x, sizes, level):
    p, r = x._value, x._value.dim() - 1
    if len(sizes) < r:
        raise ValueError("expand: fewer sizes than dims")
    p = pad(p, r, len(sizes))
    return wrap_out(physical(p.expand, (B(level),) + tuple(sizes)), level)


@rule("expand")
@_w
def expand(op, args, kwargs, level):
    _self(args, level)
    return _expand(args[0], _sizes(args[1:], kwargs, "size"), level)


@rule("expand_as")
@_w
def expand_as(op, args, kwargs, level):
    x, other = args[0], args[1]
    if not is_b(x, level):  # unbatched x to a batched other's logical shape: a plain expand
        return x.expand(tuple(other.shape))
    return _expand(x, tuple(other.shape), level)


@rule("broadcast_to")
@_w
def broadcast_to(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    _self(args, level)
    return _expand(args[0], tuple(list(ba.arguments.values())[1]), level)


@rule("Tensor.repeat", "repeat")
@_w
def repeat(op, args, kwargs, level):
    p, r = _self(args, level)
    sizes = _sizes(args[1:], kwargs, "repeats")
    if len(sizes) < r:
        raise ValueError("repeat: fewer sizes than dims")
    return wrap_out(pad(p, r, len(sizes)).repeat((1,) + sizes), level)


@rule("tile")
@_w
def tile(op, args, kwargs, level):
    p, r = _self(args, level)
    reps = _sizes(args[1:], kwargs, "dims")
    reps = (1,) * (r - len(reps)) + tuple(reps)
    return wrap_out(pad(p, r, len(reps)).repeat((1,) + reps), level)


@rule("flip")
@_w
def flip(op, args, kwargs, level):
    p, r = _self(args, level)
    dims = _sizes(args[1:], kwargs, "dims")
    return wrap_out(p.flip(tuple(d + 1 for d in dims_arg(dims, r))), level)


@rule("fliplr", "flipud")
@_w
def fliplr(op, args, kwargs, level):
    p, r = _self(args, level)
    need = 2 if op.name == "fliplr" else 1
    if r < need:
        raise ValueError("too few dims")
    return wrap_out(p.flip(need), level)


@rule("roll")
@_w
def roll(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    p, r = _self(args, level)
    shifts, dims = ba.arguments["shifts"], ba.arguments["dims"]
    if dims is None:
        flat = flat_batch(p)
        s = shifts[0] if isinstance(shifts, (tuple, list)) and len(shifts) == 1 else shifts
        return wrap_out(flat.roll(s, 1).view(p.shape), level)
    ds = [d + 1 for d in dims_arg(dims, r)]
    return wrap_out(p.roll(shifts, ds if isinstance(dims, (tuple, list)) else ds[0]), level)


@rule("rot90")
@_w
def rot90(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    p, r = _self(args, level)
    dims = ba.arguments["dims"]
    if len(dims) != 2:
        raise ValueError("rot90 needs two dims")
    ds = [d + 1 for d in dims_arg(dims, r)]
    return wrap_out(p.rot90(ba.arguments["k"], ds), level)


@rule("narrow", "select")
@_w
def narrow_select(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    p, r = _self(args, level)
    vals = list(a.values())[1:]
    if any(is_b(v, level) for v in vals):
        raise _Fallback
    if r == 0:
        raise ValueError("no dims")
    d = wdim(vals[0], r)
    return wrap_out(getattr(p, op.name)(d + 1, *vals[1:]), level)


@rule("Tensor.unfold")
@_w
def unfold(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    p, r = _self(args, level)
    a = list(ba.arguments.values())
    d = wdim(a[1], r)
    return wrap_out(p.unfold(d + 1 if r else 1, a[2], a[3]) if r else
                    p.unsqueeze(1).unfold(1, a[2], a[3]).squeeze(1), level)


@rule("movedim", "moveaxis")
@_w
def movedim(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    p, r = _self(args, level)
    src, dst = list(ba.arguments.values())[1:3]
    s = [d + 1 for d in dims_arg(src, r)]
    t_ = [d + 1 for d in dims_arg(dst, r)]
    if len(s) != len(t_):
        raise ValueError("movedim: lengths differ")
    if r == 0:
        return wrap_out(p.view(p.shape), level)
    return wrap_out(p.movedim(tuple(s), tuple(t_)), level)


@rule("diagonal", "linalg.diagonal")
@_w
def diagonal(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    p, r = _self(args, level)
    names = list(a)
    d1, d2 = wdim(a[names[2]], r), wdim(a[names[3]], r)
    return wrap_out(p.diagonal(a[names[1]], d1 + 1, d2 + 1), level)


@rule("diag_embed")
@_w
def diag_embed(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    p, r = _self(args, level)
    d1, d2 = wdim(a["dim1"], r + 1), wdim(a["dim2"], r + 1)
    return wrap_out(p.diag_embed(a["offset"], d1 + 1, d2 + 1), level)


@rule("diag")
@_w
def diag(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    p, r = _self(args, level)
    k = ba.arguments["diagonal"]
    if r == 1:
        return wrap_out(p.diag_embed(k, 1, 2), level)
    if r == 2:
        return wrap_out(p.diagonal(k, 1, 2), level)
    raise ValueError("diag: 1-d or 2-d")


@rule("diagflat")
@_w
def diagflat(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    p, _ = _self(args, level)
    return wrap_out(flat_batch(p).diag_embed(ba.arguments["offset"], 1, 2), level)


@rule("tril", "triu", "tril_", "triu_")
@_w
def tril(op, args, kwargs, level):
    p, r = _self(args, level)
    if r < 2:
        raise ValueError("tril: needs 2 dims")
    out = getattr(p, op.name)(*args[1:], **kwargs)
    if op.inplace:
        return args[0]
    return wrap_out(out, level)


@rule("trace")
@_w
def trace(op, args, kwargs, level):
    p, r = _self(args, level)
    if r != 2:
        raise ValueError("trace: needs 2 dims")
    return wrap_out(p.diagonal(0, 1, 2).sum(-1), level)


@rule("sum_to_size")
@_w
def sum_to_size(op, args, kwargs, level):
    p, r = _self(args, level)
    size = _sizes(args[1:], kwargs, "size")
    if len(size) > r:
        raise ValueError("sum_to_size: too many dims")
    target = (B(level),) + (1,) * (r - len(size)) + tuple(size)
    return wrap_out(p.sum_to_size(target).reshape((B(level),) + tuple(size)), level)


@rule("repeat_interleave")
@_w
def repeat_interleave(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    p, r = _self(args, level)
    reps, dim = a["repeats"], a["dim"]
    if is_b(reps, level):  # the same repeats in every sample: those (else the loop)
        rp = reps._value
        if type(rp) is not Tensor or rp.shape[0] == 0 or not bool((rp == rp[:1]).all()):
            raise _Fallback
        reps = rp[0]
        a["repeats"] = reps
    if reps is None:
        raise _Fallback
    if dim is None:
        p, d = flat_batch(p), 1
    else:
        d = wdim(dim, r) + 1 if r else 1
        p = p if r else p.unsqueeze(1)
    a[list(a)[0]], a["dim"] = p, d
    return wrap_out(call(op, ba.args, ba.kwargs), level)


@rule("as_strided")
@_w
def as_strided(op, args, kwargs, level):
    """Strides and offset of one sample, for samples stored one after the other."""
    ba = op.bind(args, kwargs)
    a = ba.arguments
    p, _ = _self(args, level)
    p = p.contiguous()
    n = 1
    for s_ in p.shape[1:]:
        n *= s_
    a[list(a)[0]] = p
    a["size"] = (B(level),) + tuple(a["size"])
    a["stride"] = (n,) + tuple(a["stride"])
    return wrap_out(call(op, ba.args, ba.kwargs), level)


@rule("Tensor.contiguous", "contiguous")
def contiguous(op, args, kwargs, level):
    x = args[0]
    if not is_tensor(x) or not is_b(x, level):
        return NotImplemented
    return wrap_out(x._value.contiguous(), level)

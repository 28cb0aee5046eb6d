"""Batching rules of nn.functional: convolutions, pools and other (N, C, *spatial) ops, norms,
embedding, distances and the losses.

(N, C, *spatial) ops fold the vmap batch into N: a logical (N, C, ...) input is physically
(B, N, C, ...) and runs as (B*N, C, ...); a logical (C, ...) input runs with B as N. A batched
convolution weight (one filter bank per sample) runs as one grouped convolution: the samples
go to the channel dim, (N, B*C, ...), with weight (B*O, C/g, ...) and B*g groups.
Losses are computed per sample: the element-wise loss (reduction='none') on the aligned
physical values, then each sample's own sum or mean (for nll/cross_entropy: sum over the
sample's weight[target] of the non-ignored targets).
"""

from __future__ import annotations

import warnings

from ._batching_core import STATE, vmap_error
from ._batching_dispatch import _user_stacklevel, rule, wrap_out
from ._batching_util import B, call, expand_b, is_b, is_tensor, ldim, lshape, pad, wdim

_SPATIAL = {
    "max_pool1d": 1, "max_pool2d": 2, "max_pool3d": 3, "max_pool1d_with_indices": 1,
    "max_pool2d_with_indices": 2, "max_pool3d_with_indices": 3, "avg_pool1d": 1,
    "avg_pool2d": 2, "avg_pool3d": 3, "lp_pool1d": 1, "lp_pool2d": 2, "lp_pool3d": 3,
    "adaptive_avg_pool1d": 1, "adaptive_avg_pool2d": 2, "adaptive_avg_pool3d": 3,
    "adaptive_max_pool1d": 1, "adaptive_max_pool2d": 2, "adaptive_max_pool3d": 3,
    "adaptive_max_pool1d_with_indices": 1, "adaptive_max_pool2d_with_indices": 2,
    "adaptive_max_pool3d_with_indices": 3, "conv1d": 1, "conv2d": 2, "conv3d": 3,
    "conv_transpose1d": 1, "conv_transpose2d": 2, "conv_transpose3d": 3, "unfold": 2,
    "fold": 1, "pixel_shuffle": 2, "pixel_unshuffle": 2,
}


def _fold(x, k: int, level):
    """(physical input with the batch folded into N, function unfolding a result)."""
    p = x._value
    r = p.dim() - 1
    if r == k + 1:
        return p, lambda o: o
    if r != k + 2:
        raise ValueError("unexpected input rank")
    nb, n = p.shape[0], p.shape[1]
    pf = p.reshape((nb * n,) + tuple(p.shape[2:]))
    return pf, lambda o: o.reshape((nb, n) + tuple(o.shape[1:]))


def _map(out, fn):
    if isinstance(out, tuple):
        items = [_map(o, fn) for o in out]
        t = type(out)
        return t(items) if hasattr(t, "n_fields") else (
            t(*items) if hasattr(t, "_fields") else tuple(items))
    return fn(out) if is_tensor(out) else out


def _others_batched(a: dict, names, level) -> bool:
    return any(is_b(a[k], level) for k in names[1:])


def _spatial_key(name: str) -> str:
    return name[2:] if name.startswith("F.") else name


def folded(op, args, kwargs, level, k=None):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    names = list(a)
    x = a[names[0]]
    if not is_b(x, level) or _others_batched(a, names, level):
        return NotImplemented
    if k is None:
        k = _SPATIAL[op.name]
    pf, unfold = _fold(x, k, level)
    a[names[0]] = pf
    return wrap_out(_map(call(op, ba.args, ba.kwargs), unfold), level)


rule(*[f"F.{n}" for n in _SPATIAL if not n.startswith("conv")], *[
    n for n in _SPATIAL if not n.startswith("conv") and n not in ("unfold", "fold")])(folded)


@rule("F.interpolate", "F.upsample", "F.upsample_nearest", "F.upsample_bilinear",
      "F.local_response_norm", "F.channel_shuffle", "channel_shuffle")
def interpolate(op, args, kwargs, level):
    x = args[0] if args else next(iter(kwargs.values()))
    if not is_b(x, level) or ldim(x, level) < 3:
        return NotImplemented
    return folded(op, args, kwargs, level, ldim(x, level) - 2)


@rule("F.pad", "pad", "constant_pad_nd")
def pad_rule(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    names = list(a)
    x, widths = a[names[0]], a[names[1]]
    if not is_b(x, level):
        return NotImplemented
    k = len(widths) // 2
    r = ldim(x, level)
    if k > r:
        raise ValueError("pad: too many padded dims")
    if a.get("mode", "constant") == "constant":
        a[names[0]] = x._value
        return wrap_out(call(op, ba.args, ba.kwargs), level)
    return folded(op, args, kwargs, level, k)


def _conv_batched_weight(op, a, level, k):
    from .. import nn

    conv = getattr(nn.functional, f"conv{k}d")
    x, w, b = a["input"], a["weight"], a["bias"]
    nb = B(level)
    p = expand_b(x, level)
    has_n = p.dim() - 1 == k + 2
    if not has_n:
        p = p.unsqueeze(1)
    n, c = p.shape[1], p.shape[2]
    p = p.movedim(0, 1).reshape((n, nb * c) + tuple(p.shape[3:]))
    wp = expand_b(w, level)
    o = wp.shape[1]
    wp = wp.reshape((nb * o,) + tuple(wp.shape[2:]))
    bp = None if b is None else expand_b(b, level).reshape(nb * o)
    out = conv(p, wp, bp, a["stride"], a["padding"], a["dilation"], a["groups"] * nb)
    out = out.reshape((n, nb, o) + tuple(out.shape[2:])).movedim(1, 0)
    return wrap_out(out if has_n else out.squeeze(1), level)


@rule("F.conv1d", "F.conv2d", "F.conv3d", "conv1d", "conv2d", "conv3d",
      "F.conv_transpose1d", "F.conv_transpose2d", "F.conv_transpose3d", "conv_transpose1d",
      "conv_transpose2d", "conv_transpose3d")
def conv(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    k = _SPATIAL[op.name]
    w, b = a["weight"], a["bias"]
    if not is_b(w, level) and not (b is not None and is_b(b, level)):
        return folded(op, args, kwargs, level, k)
    if op.name.startswith("conv_transpose") or ldim(a["input"], level) not in (k + 1, k + 2):
        return NotImplemented
    return _conv_batched_weight(op, a, level, k)


@rule("F.layer_norm", "layer_norm", "F.rms_norm", "rms_norm")
def layer_norm(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x, w, b = a["input"], a.get("weight"), a.get("bias")
    if not ((w is not None and is_b(w, level)) or (b is not None and is_b(b, level))):
        a["input"] = x._value
        return wrap_out(call(op, ba.args, ba.kwargs), level)
    # a batched affine: normalize (batched or not), then scale and shift element-wise
    a["weight"] = None
    if "bias" in a:
        a["bias"] = None
    out = call(op, ba.args, ba.kwargs)
    if w is not None:
        out = out * w
    return out if b is None else out + b


def _channel_view(t, r: int):
    """A per-channel (C,) tensor shaped to broadcast over a logical (N, C, *) input."""
    return t.reshape((t.shape[0],) + (1,) * (r - 2))


@rule("F.group_norm", "group_norm")
def group_norm(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x, w, b = a["input"], a["weight"], a["bias"]
    if not is_b(x, level) or ldim(x, level) < 2:
        return NotImplemented
    if (w is not None and is_b(w, level)) or (b is not None and is_b(b, level)):
        a["weight"], a["bias"] = None, None
        out = call(op, ba.args, ba.kwargs)
        r = ldim(x, level)
        if w is not None:
            out = out * _channel_view(w, r)
        return out if b is None else out + _channel_view(b, r)
    pf, unfold = _fold(x, ldim(x, level) - 2, level)
    a["input"] = pf
    return wrap_out(unfold(call(op, ba.args, ba.kwargs)), level)


_BN_MSG = (
    "Batch norm got a batched tensor as input while the running_mean or running_var, which "
    "will be updated in place, were not batched.\nIf you are using a module and do not need "
    "eval mode, please set `track_running_stats` to be False.If you are using a prebuilt module "
    "and do not need eval mode, please see the functorch website for resources on how to patch "
    "your module to work with vmap"
)


@rule("F.batch_norm", "batch_norm", "F.instance_norm", "instance_norm")
def batch_norm(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x = a["input"]
    if not is_b(x, level) or ldim(x, level) < 2:
        return NotImplemented
    stats = [a.get("running_mean"), a.get("running_var")]
    if any(s is not None and is_b(s, level) for s in stats):
        return NotImplemented
    w, b = a.get("weight"), a.get("bias")
    affine_b = (w is not None and is_b(w, level)) or (b is not None and is_b(b, level))
    r = ldim(x, level)
    if "instance" in op.name:
        if affine_b or (any(s is not None for s in stats) and a.get("use_input_stats")):
            return NotImplemented
        pf, unfold = _fold(x, r - 2, level)
        a["input"] = pf
        return wrap_out(unfold(call(op, ba.args, ba.kwargs)), level)
    training = a.get("training")
    if not training:
        if affine_b or any(s is None for s in stats):
            return NotImplemented
        pf, unfold = _fold(x, r - 2, level)
        a["input"] = pf
        return wrap_out(unfold(call(op, ba.args, ba.kwargs)), level)
    if any(s is not None for s in stats):
        raise vmap_error(_BN_MSG)
    # per-sample statistics: the samples become channels, (N, B*C, *)
    nb = B(level)
    p = x._value.movedim(0, 1)
    n, c = p.shape[0], p.shape[2]
    p = p.reshape((n, nb * c) + tuple(p.shape[3:]))
    wp = None if w is None else expand_b(w, level).reshape(nb * c)
    bp = None if b is None else expand_b(b, level).reshape(nb * c)
    a["input"], a["weight"], a["bias"] = p, wp, bp
    out = call(op, ba.args, ba.kwargs)
    out = out.reshape((n, nb, c) + tuple(out.shape[2:])).movedim(1, 0)
    return wrap_out(out, level)


@rule("F.embedding")
def embedding(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    idx, w = a["input"], a["weight"]
    if a.get("max_norm") is not None:
        return NotImplemented
    if not is_b(w, level):
        a["input"] = idx._value
        return wrap_out(call(op, ba.args, ba.kwargs), level)
    if a.get("padding_idx") is not None or ldim(w, level) != 2:
        return NotImplemented
    return w[idx]


@rule("F.cosine_similarity", "cosine_similarity")
def cosine_similarity(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x1, x2 = a["x1"], a["x2"]
    rank = max(ldim(x1, level), ldim(x2, level))
    d = wdim(a["dim"], rank)
    for k, v in (("x1", x1), ("x2", x2)):
        a[k] = pad(v._value, ldim(v, level), rank) if is_b(v, level) else v
    a["dim"] = d + 1 if rank else 1
    if rank == 0:
        return NotImplemented
    return wrap_out(call(op, ba.args, ba.kwargs), level)


@rule("F.pairwise_distance", "pairwise_distance")
def pairwise_distance(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x1, x2 = a["x1"], a["x2"]
    rank = max(ldim(x1, level), ldim(x2, level))
    if rank == 0:
        return NotImplemented
    for k, v in (("x1", x1), ("x2", x2)):
        a[k] = pad(v._value, ldim(v, level), rank) if is_b(v, level) else v
    return wrap_out(call(op, ba.args, ba.kwargs), level)


@rule("F.prelu", "prelu")
def prelu(op, args, kwargs, level):
    from .. import where

    ba = op.bind(args, kwargs)
    x, w = ba.arguments["input"], ba.arguments["weight"]
    r = ldim(x, level)
    if w.numel() == 1 and not is_b(w, level):
        a = ba.arguments
        a["input"] = x._value
        return wrap_out(call(op, ba.args, ba.kwargs), level)
    ch = 1 if r >= 2 else 0
    wv = w.reshape((w.shape[0],) + (1,) * (r - ch - 1)) if w.numel() > 1 else w.reshape(())
    return where(x > 0, x, wv * x)


@rule("F.scaled_dot_product_attention")
def sdpa(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    if a.get("dropout_p", 0.0) > 0:
        if STATE.by_level[level].randomness == "error":
            from ._batching_rules_random import ERROR_MSG

            raise vmap_error(ERROR_MSG)
        return NotImplemented
    if a.get("enable_gqa"):
        return NotImplemented
    names = ("query", "key", "value", "attn_mask")
    items = [a[k] for k in names if a.get(k) is not None]
    rank = max(ldim(v, level) for v in items)
    for k in names:
        v = a.get(k)
        if v is not None and is_b(v, level):
            a[k] = pad(v._value, ldim(v, level), rank)
    return wrap_out(call(op, ba.args, ba.kwargs), level)


# --- losses --------------------------------------------------------------------------------
_ELEMENTWISE_LOSSES = {
    # name: the tensor arguments
    "mse_loss": ("input", "target", "weight"), "l1_loss": ("input", "target", "weight"),
    "smooth_l1_loss": ("input", "target"), "huber_loss": ("input", "target", "weight"),
    "soft_margin_loss": ("input", "target"),
    "binary_cross_entropy": ("input", "target", "weight"),
    "binary_cross_entropy_with_logits": ("input", "target", "weight", "pos_weight"),
    "kl_div": ("input", "target"), "poisson_nll_loss": ("input", "target"),
    "hinge_embedding_loss": ("input", "target"),
    "margin_ranking_loss": ("input1", "input2", "target"),
}
_WARN_ON_BROADCAST = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")


def _reduce_per_sample(out, reduction: str, level, n0=None):
    r = out.dim() - 1
    if reduction == "none":
        return wrap_out(out, level)
    if r == 0:
        s = out
    elif reduction == "mean":
        return wrap_out(out.mean(tuple(range(1, r + 1))), level)
    else:
        s = out.sum(tuple(range(1, r + 1)))
    if reduction == "batchmean" and n0 is not None:
        s = s / n0
    return wrap_out(s, level)


@rule(*[f"F.{n}" for n in _ELEMENTWISE_LOSSES], *list(_ELEMENTWISE_LOSSES))
def elementwise_loss(op, args, kwargs, level):
    from .. import broadcast_tensors

    ba = op.bind(args, kwargs)
    a = ba.arguments
    if a.get("size_average") is not None or a.get("reduce") is not None:
        return NotImplemented
    name = op.name
    reduction = a.get("reduction", "mean")
    if reduction not in ("none", "mean", "sum", "batchmean") or (
            name == "kl_div" and reduction == "mean") or (
            reduction == "mean" and name in ("mse_loss", "l1_loss", "huber_loss")
            and a.get("weight") is not None):  # (a weighted mean: the per-sample loop)
        return NotImplemented
    keys = [k for k in _ELEMENTWISE_LOSSES[name] if a.get(k) is not None]
    first = a[keys[0]]
    main = [k for k in keys if k in ("input", "target", "input1", "input2")]
    shapes = {lshape(a[k], level) for k in main}
    if len(shapes) > 1:
        if name not in _WARN_ON_BROADCAST:
            raise ValueError("per-sample shape checks give the error")
        warnings.warn(
            f"Using a target size ({a['target'].size()}) that is different to the input size "
            f"({a['input'].size()}). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size.",
            UserWarning, stacklevel=_user_stacklevel())
        exp = broadcast_tensors(*[a[k] for k in main])
        for k, v in zip(main, exp):
            a[k] = v
    rank = max(ldim(a[k], level) for k in keys)
    for k in keys:
        v = a[k]
        a[k] = pad(v._value, ldim(v, level), rank) if is_b(v, level) else expand_b(v, level) \
            if k in main else v
    a["reduction"] = "none"
    out = call(op, ba.args, ba.kwargs)
    n0 = lshape(first, level)[0] if reduction == "batchmean" and ldim(first, level) else None
    return _reduce_per_sample(out, reduction, level, n0)


@rule("F.nll_loss", "F.cross_entropy", "nll_loss", "cross_entropy")
def nll_loss(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    if a.get("size_average") is not None or a.get("reduce") is not None or \
            a.get("label_smoothing", 0.0) != 0.0:
        return NotImplemented
    x, t, w = a["input"], a["target"], a.get("weight")
    if w is not None and is_b(w, level):
        return NotImplemented
    reduction = a.get("reduction", "mean")
    if reduction not in ("none", "sum", "mean"):
        return NotImplemented
    nb = B(level)
    rx = ldim(x, level)
    probs = t.is_floating_point()
    if rx == 0 or (probs and lshape(t, level) != lshape(x, level)) or (
            not probs and ldim(t, level) != max(rx - 1, 0)):
        raise ValueError("per-sample shape checks give the error")
    p, tp = expand_b(x, level), expand_b(t, level)
    if rx >= 2:
        p = p.reshape((nb * p.shape[1],) + tuple(p.shape[2:]))
        tp = tp.reshape((nb * tp.shape[1],) + tuple(tp.shape[2:]))
    a["input"], a["target"], a["reduction"] = p, tp, "none"
    out = call(op, ba.args, ba.kwargs)
    out = out.reshape((nb, -1)) if rx >= 2 else out.reshape(nb, 1)
    if reduction == "none":
        return wrap_out(out.reshape((nb,) + tuple(lshape(t, level)))
                        if not probs else out.reshape((nb,) + lshape(x, level)[:1] +
                                                      lshape(x, level)[2:]), level)
    if reduction == "sum" or (probs and reduction == "mean"):
        return wrap_out(out.sum(1) if reduction == "sum" else out.mean(1), level)
    # mean over the targets that count, each weighted by weight[target]
    from .. import where

    ii = a.get("ignore_index", -100)
    tf = tp.reshape(nb, -1)
    keep = tf != ii
    den = keep.to(out.dtype) if w is None else \
        where(keep, w[where(keep, tf, 0)], 0).to(out.dtype)
    return wrap_out(out.sum(1) / den.sum(1), level)

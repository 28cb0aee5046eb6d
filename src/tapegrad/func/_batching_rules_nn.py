"""Batching rules of nn.functional: convolutions, pools and other (N, C, *spatial) ops, norms,
embedding, distances (the losses: `_batching_rules_loss`).

(N, C, *spatial) ops fold the vmap batch into N: a logical (N, C, ...) input is physically
(B, N, C, ...) and runs as (B*N, C, ...); a logical (C, ...) input runs with B as N. A batched
convolution weight (one filter bank per sample) runs as one grouped convolution: the samples
go to the channel dim, (N, B*C, ...), with weight (B*O, C/g, ...) and B*g groups.
"""

from __future__ import annotations

from .._tensor import Tensor
from ._batching_core import STATE, vmap_error
from ._batching_dispatch import rule, wrap_out
from ._batching_util import B, call, expand_b, is_b, is_tensor, ldim, pad, wdim

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


def _conv_batched_weight(op, a, level, k, transposed: bool = False):
    from .. import nn

    x, w, b = a["input"], a["weight"], a["bias"]
    nb = B(level)
    p = expand_b(x, level)
    has_n = p.dim() - 1 == k + 2
    if not has_n:
        p = p.unsqueeze(1)
    n, c = p.shape[1], p.shape[2]
    p = p.movedim(0, 1).reshape((n, nb * c) + tuple(p.shape[3:]))
    wp = expand_b(w, level)
    groups = a["groups"]
    # a regular filter bank is (O, C/g, ...), a transposed one (C, O/g, ...): either way the
    # samples' banks stacked along dim 0 serve B*g groups, sample by sample
    o = wp.shape[2] * groups if transposed else wp.shape[1]
    wp = wp.reshape((nb * wp.shape[1],) + tuple(wp.shape[2:]))
    bp = None if b is None else expand_b(b, level).reshape(nb * o)
    if transposed:
        fn = getattr(nn.functional, f"conv_transpose{k}d")
        out = fn(p, wp, bp, a["stride"], a["padding"], a["output_padding"], groups * nb,
                 a["dilation"])
    else:
        fn = getattr(nn.functional, f"conv{k}d")
        out = fn(p, wp, bp, a["stride"], a["padding"], a["dilation"], groups * nb)
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
    if ldim(a["input"], level) not in (k + 1, k + 2) or ldim(w, level) != k + 2:
        return NotImplemented
    return _conv_batched_weight(op, a, level, k, op.name.startswith("conv_transpose"))


@rule("convolution")
def convolution(op, args, kwargs, level):
    """ATen's convolution: the nn.functional convolution it stands for (which dispatches)."""
    from .. import nn

    ba = op.bind(args, kwargs)
    a = ba.arguments
    x, w = a["input"], a["weight"]
    k = w.dim() - 2
    if k not in (1, 2, 3) or x.dim() != k + 2:
        return NotImplemented
    f = nn.functional
    if a["transposed"]:
        return getattr(f, f"conv_transpose{k}d")(x, w, a["bias"], a["stride"], a["padding"],
                                                 a["output_padding"], a["groups"],
                                                 a["dilation"])
    return getattr(f, f"conv{k}d")(x, w, a["bias"], a["stride"], a["padding"], a["dilation"],
                                   a["groups"])


@rule("conv_tbc")
def conv_tbc(op, args, kwargs, level):
    """conv_tbc(x (T, N, C), w (K, C, O), b, pad) = conv1d of (N, C, T) by w as (O, C, K)."""
    from ..nn.functional import conv1d

    ba = op.bind(args, kwargs)
    a = ba.arguments
    x, w, b = a["input"], a["weight"], a["bias"]
    if x.dim() != 3 or w.dim() != 3 or b.dim() != 1:
        return NotImplemented
    return conv1d(x.permute(1, 2, 0), w.permute(2, 1, 0), b, padding=a["pad"]).permute(2, 0, 1)


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


def _norm_eval(x, mean, var, w, b, eps):
    """(x - mean) / sqrt(var + eps) * w + b per channel (dim 1), as batch_norm's evaluation
    mode computes it; None where the statistics would get gradients (the op gives none)."""
    r = x.dim()
    c = x.shape[1]
    if mean.requires_grad or var.requires_grad or not x.is_floating_point() or any(
            t is not None and (t.dim() != 1 or t.shape[0] != c) for t in (mean, var, w, b)):
        return None
    view = (c,) + (1,) * (r - 2)
    out = (x - mean.reshape(view)) * (1.0 / (var.reshape(view) + eps).sqrt())
    if w is not None:
        out = out * w.reshape(view)
    return out if b is None else out + b.reshape(view)


@rule("F.batch_norm", "batch_norm", "F.instance_norm", "instance_norm")
def batch_norm(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x = a["input"]
    r = ldim(x, level)
    if r < 2:
        return NotImplemented
    stats = [a.get("running_mean"), a.get("running_var")]
    stats_b = any(s is not None and is_b(s, level) for s in stats)
    w, b = a.get("weight"), a.get("bias")
    affine_b = (w is not None and is_b(w, level)) or (b is not None and is_b(b, level))
    instance = "instance" in op.name
    batch_stats = a.get("use_input_stats") if instance else a.get("training")
    if not batch_stats:  # the running statistics normalize
        if any(s is None for s in stats):
            return NotImplemented
        if not is_b(x, level) or stats_b or affine_b:
            out = _norm_eval(x, stats[0], stats[1], w, b, a["eps"])
            return NotImplemented if out is None else out
        pf, unfold = _fold(x, r - 2, level)
        a["input"] = pf
        return wrap_out(unfold(call(op, ba.args, ba.kwargs)), level)
    if instance:
        if any(s is not None for s in stats):
            return NotImplemented
        if affine_b:  # normalize, then the per-sample scale and shift
            a["weight"], a["bias"] = None, None
            out = call(op, ba.args, ba.kwargs)
            out = out if w is None else out * _channel_view(w, r)
            return out if b is None else out + _channel_view(b, r)
        if not is_b(x, level):
            return NotImplemented
        pf, unfold = _fold(x, r - 2, level)
        a["input"] = pf
        return wrap_out(unfold(call(op, ba.args, ba.kwargs)), level)
    nb = B(level)
    if any(s is not None and not is_b(s, level) for s in stats):
        raise vmap_error(_BN_MSG)
    # per-sample statistics: the samples become channels, (N, B*C, *); batched running
    # statistics are updated in place through (B*C,) views of their physical values
    flat_stats = []
    for s in stats:
        if s is None:
            flat_stats.append(None)
            continue
        sp = s._value
        if type(sp) is not Tensor or not sp.is_contiguous() or sp.dim() != 2:
            return NotImplemented
        flat_stats.append(sp.view(-1))
    p = expand_b(x, level).movedim(0, 1)
    n, c = p.shape[0], p.shape[2]
    p = p.reshape((n, nb * c) + tuple(p.shape[3:]))
    wp = None if w is None else expand_b(w, level).reshape(nb * c)
    bp = None if b is None else expand_b(b, level).reshape(nb * c)
    a["input"], a["weight"], a["bias"] = p, wp, bp
    a["running_mean"], a["running_var"] = flat_stats
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
    if a.get("padding_idx") is not None or a.get("scale_grad_by_freq") or a.get("sparse") \
            or ldim(w, level) != 2:
        return NotImplemented  # (those change the gradient of the rows: the loop)
    return w[idx]


@rule("embedding")
def embedding_aten(op, args, kwargs, level):
    """ATen's embedding(weight, indices, padding_idx=-1, ...)."""
    ba = op.bind(args, kwargs)
    a = ba.arguments
    w, idx = a["weight"], a["indices"]
    if not is_b(w, level):
        a["indices"] = idx._value
        return wrap_out(call(op, ba.args, ba.kwargs), level)
    if a["padding_idx"] != -1 or a["scale_grad_by_freq"] or a["sparse"] or ldim(w, level) != 2:
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
    if a.get("enable_gqa"):  # key and value heads repeated to the query's, then as usual
        q, k = a["query"], a["key"]
        if q.dim() < 3 or k.dim() < 3 or k.shape[-3] == 0 or q.shape[-3] % k.shape[-3]:
            return NotImplemented
        rep = q.shape[-3] // k.shape[-3]
        a["key"] = k.repeat_interleave(rep, dim=-3)
        a["value"] = a["value"].repeat_interleave(rep, dim=-3)
        a["enable_gqa"] = False
    names = ("query", "key", "value", "attn_mask")
    items = [a[k] for k in names if a.get(k) is not None]
    rank = max(ldim(v, level) for v in items)
    for k in names:
        v = a.get(k)
        if v is not None and is_b(v, level):
            a[k] = pad(v._value, ldim(v, level), rank)
    return wrap_out(call(op, ba.args, ba.kwargs), level)

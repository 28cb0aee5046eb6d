"""Batching rules of the losses.

Most are computed per sample on the physical values: the element-wise loss (reduction='none')
on the aligned values, then each sample's own sum or mean (for nll/cross_entropy with class
weights: the sum over the sample's weight[target] of the non-ignored targets); the losses over
rows (multi_margin_loss, multilabel_margin_loss) fold the batch into the rows first.
Per-sample class weights, label smoothing and gaussian_nll_loss are written in logical ops
(which dispatch to their own rules), step by step as the ops compute one sample:
- nll_loss(logp, t, w)[n] = -w[t[n]] logp[n, t[n]] (0 where t[n] = ignore_index); its mean
  divides the sum by the sum of w[t[n]] over the targets that count;
- cross_entropy with label smoothing ls over C classes: (1 - ls) nll(log_softmax(x), t) +
  (ls / C) smooth, smooth[n] = -sum_c w[c] logp[n, c] (0 at ignored targets), reduced as nll;
  with class probabilities: -sum_c w[c] logp[n, c] t'[n, c], t' = t (1 - ls) + ls / C;
- gaussian_nll_loss = 0.5 (log v + (x - y)^2 / v), v = var clamped below at eps with the
  clamp outside autograd (the gradient reaches var as if unclamped).
"""

from __future__ import annotations

import math
import warnings

from .._tensor import Tensor
from ._batching_dispatch import _user_stacklevel, rule, wrap_out
from ._batching_rules_reduce import flat_batch
from ._batching_util import B, call, expand_b, is_b, ldim, lshape, pad

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
    by_int = type(reduction) is int  # ATen's form: 0 none, 1 mean, 2 sum
    if by_int:
        reduction = {0: "none", 1: "mean", 2: "sum"}.get(reduction)
    if reduction not in ("none", "mean", "sum", "batchmean") or (
            name == "kl_div" and reduction == "mean"):
        return NotImplemented
    weight = a.get("weight")
    weighted_mean = (reduction == "mean" and name in ("mse_loss", "l1_loss", "huber_loss")
                     and weight is not None)
    if weighted_mean and lshape(weight, level) != lshape(a["input"], level):
        raise ValueError("per-sample shape checks give the error")
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
    a["reduction"] = 0 if by_int else "none"
    out = call(op, ba.args, ba.kwargs)
    if weighted_mean and name != "huber_loss":  # sum(w loss) / sum(w), per sample
        return _reduce_per_sample(out, "sum", level) / weight.sum()
    n0 = lshape(first, level)[0] if reduction == "batchmean" and ldim(first, level) else None
    return _reduce_per_sample(out, reduction, level, n0)


@rule("F.nll_loss", "F.cross_entropy", "nll_loss", "cross_entropy")
def nll_loss(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    if a.get("size_average") is not None or a.get("reduce") is not None:
        return NotImplemented
    x, t, w = a["input"], a["target"], a.get("weight")
    reduction = a.get("reduction", "mean")
    if reduction not in ("none", "sum", "mean"):
        return NotImplemented
    if (w is not None and is_b(w, level)) or a.get("label_smoothing", 0.0) != 0.0:
        if _grad_wanted(w) and tuple(x.shape) != tuple(t.shape):
            return NotImplemented  # (nll refuses it: the per-sample loop gives the error)
        ii = a.get("ignore_index", -100)
        if op.name == "nll_loss":
            return _nll(x, t, w, reduction, ii)
        return _cross_entropy(x, t, w, reduction, ii, a.get("label_smoothing", 0.0))
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
    out = flat_batch(out, nb) if rx >= 2 else out.reshape(nb, 1)
    if reduction == "none":
        return wrap_out(out.reshape((nb,) + tuple(lshape(t, level)))
                        if not probs else out.reshape((nb,) + lshape(x, level)[:1] +
                                                      lshape(x, level)[2:]), level)
    if reduction == "sum" or (probs and reduction == "mean"):
        return wrap_out(out.sum(1) if reduction == "sum" else out.mean(1), level)
    # mean over the targets that count, each weighted by weight[target]
    from .. import where

    ii = a.get("ignore_index", -100)
    tf = flat_batch(tp, nb)
    keep = tf != ii
    den = keep.to(out.dtype) if w is None else \
        where(keep, w[where(keep, tf, 0)], 0).to(out.dtype)
    return wrap_out(out.sum(1) / den.sum(1), level)


# --- per-sample weights and label smoothing, in logical ops ------------------------------------
def _grad_wanted(w) -> bool:
    """Whether w would get a gradient (the ops refuse one for their class weights; written in
    other ops, the rules would give one)."""
    from ..autograd.grad_mode import is_grad_enabled

    return w is not None and w.requires_grad and is_grad_enabled()


def _nll(logp, t, w, reduction: str, ii: int):
    from .. import where

    rx = logp.dim()
    if rx == 0 or t.is_floating_point():
        raise ValueError("per-sample checks give the error")
    cdim = 0 if rx == 1 else 1
    if tuple(t.shape) != (() if rx == 1 else (logp.shape[0],) + tuple(logp.shape[2:])):
        raise ValueError("per-sample checks give the error")
    if w is not None and (w.dim() != 1 or w.shape[0] != logp.shape[cdim]):
        raise ValueError("per-sample checks give the error")
    keep = t != ii
    tt = where(keep, t, 0)
    picked = logp.gather(cdim, tt.unsqueeze(cdim)).squeeze(cdim)
    wt = keep.to(logp.dtype) if w is None else where(keep, w[tt], 0).to(logp.dtype)
    loss = where(keep, -(picked * wt), 0.0)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / wt.sum()


def _class_view(w, ndim: int, cdim: int):
    shape = [1] * ndim
    shape[cdim] = w.shape[0]
    return w.reshape(shape)


def _cross_entropy(x, t, w, reduction: str, ii: int, ls: float):
    from .. import where
    from ..nn.functional import log_softmax

    rx = x.dim()
    if rx == 0 or ls > 1.0:
        raise ValueError("per-sample checks give the error")
    cdim = 0 if rx == 1 else 1
    c = x.shape[cdim]
    if tuple(x.shape) == tuple(t.shape):  # class probabilities
        if not t.is_floating_point() or ii >= 0 or x.numel() == 0 or (
                w is not None and (w.dim() != 1 or w.shape[0] != c)):
            raise ValueError("per-sample checks give the error")
        logp = log_softmax(x, cdim)
        if ls > 0.0:
            t = t * (1 - ls) + ls / c
        prod = logp * t
        if w is not None:
            prod = prod * (_class_view(w, rx, cdim) if rx > 1 else w)
        if reduction == "mean":
            return -prod.sum() / (x.numel() // c)
        return -prod.sum() if reduction == "sum" else -prod.sum(cdim)
    logp = log_softmax(x, cdim)
    nll = _nll(logp, t, w, reduction, ii)
    if ls <= 0.0:
        return nll
    ignore = t == ii
    smooth = -(logp * _class_view(w, rx, cdim)).sum(cdim) if w is not None else \
        -logp.sum(cdim)
    smooth = where(ignore, 0.0, smooth)
    if reduction == "mean":
        den = where(ignore, 0, w[where(ignore, 0, t)]).sum() if w is not None else \
            (~ignore).sum()
        ret = smooth.sum() / den
    else:
        ret = smooth.sum() if reduction == "sum" else smooth
    return (1 - ls) * nll + ret * (ls / c)


@rule("F.gaussian_nll_loss")
def gaussian_nll_loss(op, args, kwargs, level):
    from .. import ones
    from ..autograd.grad_mode import no_grad

    ba = op.bind(args, kwargs)
    a = ba.arguments
    x, y, var, eps, reduction = a["input"], a["target"], a["var"], a["eps"], a["reduction"]
    if reduction not in ("none", "mean", "sum"):
        return NotImplemented
    if isinstance(var, float):
        if var < 0:
            return NotImplemented
        var = ones(tuple(x.shape), dtype=x.dtype) * var
    else:
        vp = var._value if is_b(var, level) else var
        if type(vp) is not Tensor or bool((vp < 0).any()):
            return NotImplemented  # (the per-sample loop gives the error)
    ish, vsh = tuple(x.shape), tuple(var.shape)
    if vsh != ish:
        if ish[:-1] == vsh:
            var = var.unsqueeze(-1)
        elif not (len(ish) == len(vsh) and sum(v for i, v in zip(ish, vsh) if i != v) == 1):
            return NotImplemented
    var = var.clone()
    with no_grad():
        var.clamp_(min=eps)
    loss = (var.log() + (x - y) ** 2 / var) * 0.5
    if a["full"]:
        loss = loss + 0.5 * math.log(2 * math.pi)
    if reduction == "none":
        return loss
    return loss.mean() if reduction == "mean" else loss.sum()


# --- losses over rows: the batch folded into the rows --------------------------------------------
@rule("F.multi_margin_loss", "multi_margin_loss", "F.multilabel_margin_loss",
      "multilabel_margin_loss")
def row_losses(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    if a.get("size_average") is not None or a.get("reduce") is not None:
        return NotImplemented
    reduction = a["reduction"]
    x, t, w = a["input"], a["target"], a.get("weight")
    rx = x.dim()
    if reduction not in ("none", "mean", "sum") or rx not in (1, 2):
        return NotImplemented
    nb = B(level)
    xp, tp = expand_b(x, level), expand_b(t, level)
    if rx == 2:
        xp = xp.reshape((nb * xp.shape[1],) + tuple(xp.shape[2:]))
        tp = tp.reshape((nb * tp.shape[1],) + tuple(tp.shape[2:]))
    w_later = w is not None and is_b(w, level)
    if w_later and _grad_wanted(w):  # (the op does not differentiate it: the loop)
        return NotImplemented
    a["input"], a["target"], a["reduction"] = xp, tp, "none"
    if w_later:
        a["weight"] = None
    out = call(op, ba.args, ba.kwargs)
    out = wrap_out(flat_batch(out, nb) if rx == 2 else out.reshape((nb,)), level)
    if w_later:  # each row's loss times weight[target] (as the op weighs it)
        if w.dim() != 1:
            raise ValueError("per-sample checks give the error")
        out = out * w[t]
    if reduction == "none":
        return out
    return out.mean() if reduction == "mean" else out.sum()


@rule("F.ctc_loss", "ctc_loss")
def ctc_loss(op, args, kwargs, level):
    """Padded targets: the batch folded into N (log_probs (T, B*N, C), targets (B*N, S), the
    lengths repeated or flattened); the per-sequence losses are then reduced per sample ('mean'
    divides each by its target length, at least 1, before averaging)."""
    from .. import tensor

    ba = op.bind(args, kwargs)
    a = ba.arguments
    lp, tg = a["log_probs"], a["targets"]
    il, tl, reduction = a["input_lengths"], a["target_lengths"], a["reduction"]
    by_int = type(reduction) is int
    if by_int:
        reduction = {0: "none", 1: "mean", 2: "sum"}.get(reduction)
    unbatched = lp.dim() == 2
    if reduction is None or lp.dim() not in (2, 3) or tg.dim() not in (1, 2) or (
            unbatched and tg.dim() != 1):
        return NotImplemented
    n = 1 if unbatched else lp.shape[1]
    nb = B(level)
    if not unbatched and tg.dim() == 1:
        tg = _padded_targets(tg, tl, n, level)
        if tg is None:
            return NotImplemented

    def lengths(v):
        if hasattr(v, "dim"):
            if v.dim() > 1:
                raise ValueError("per-sample checks give the error")
            return expand_b(v, level).reshape(nb * n)
        return list(v) * nb if isinstance(v, (list, tuple)) else [v] * nb

    p = expand_b(lp, level).movedim(0, 1)
    a["log_probs"] = p.reshape((p.shape[0], nb * n, p.shape[-1]))
    tp = expand_b(tg, level)
    a["targets"] = tp.reshape(nb * n, tp.shape[-1])
    a["input_lengths"], a["target_lengths"] = lengths(il), lengths(tl)
    a["reduction"] = 0 if by_int else "none"
    out = wrap_out(call(op, ba.args, ba.kwargs).reshape((nb,) if unbatched else (nb, n)), level)
    if reduction == "none":
        return out
    if reduction == "sum":
        return out.sum()
    tl_t = tl if hasattr(tl, "dim") else tensor(list(tl) if isinstance(tl, (list, tuple))
                                                else [tl])
    return (out / tl_t.clamp(min=1).to(out.dtype)).mean()


def _padded_targets(tg, tl, n: int, level):
    """Concatenated targets (sum of the target lengths) as padded ones (N, max length): row i
    holds tg[start_i : start_i + tl[i]] (start_i the sum of the lengths before it), then
    entries the op does not read. None where the lengths cannot be read or do not add up."""
    from .. import arange, tensor

    tl_t = tl if hasattr(tl, "dim") else tensor(list(tl) if isinstance(tl, (list, tuple))
                                                else [tl])
    lp = tl_t._value if is_b(tl_t, level) else tl_t
    if type(lp) is not Tensor or tl_t.dim() != 1 or tl_t.shape[0] != n or lp.numel() == 0:
        return None
    m = tg.shape[0]
    if not bool((lp.sum(-1) == m).all()) or m == 0:
        return None
    width = max(int(lp.max()), 1)
    starts = tl_t.cumsum(0) - tl_t
    idx = (starts.unsqueeze(1) + arange(width)).clamp(max=m - 1)
    return tg[idx]

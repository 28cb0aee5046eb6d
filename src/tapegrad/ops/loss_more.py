"""Losses of torch.nn.functional composed of other ops as PyTorch composes them: kl_div,
poisson_nll_loss, gaussian_nll_loss, margin_ranking_loss, hinge_embedding_loss,
multilabel_soft_margin_loss, cosine_embedding_loss, triplet_margin_loss (their grad_fn chains are
PyTorch's); and the multi-class margin losses multi_margin_loss and multilabel_margin_loss,
primitives as in PyTorch (MultiMarginLossBackward0, MultilabelMarginLossBackward0) whose vjps are
written in tapegrad ops. Each `*_enum` function is ATen's op with a reduction enum (the torch.*
spelling, see ops/nn_aten.py).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.graph import Node
from ._core import new_node, save, wrap
from ._gather import gather_along
from .activation import logsigmoid
from .binary import where
from .loss import (
    MEAN,
    NONE,
    SUM,
    apply_reduction,
    get_reduction,
    legacy_reduction,
    no_grad_arg,
    reduction_enum,
)
from .nn_misc import pairwise_distance

__all__: list[str] = []

FUNCTIONAL = [
    "kl_div", "poisson_nll_loss", "gaussian_nll_loss", "margin_ranking_loss",
    "hinge_embedding_loss", "multilabel_soft_margin_loss", "cosine_embedding_loss",
    "triplet_margin_loss", "multi_margin_loss", "multilabel_margin_loss",
]


# --- composites -------------------------------------------------------------------------------
def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence of target from exp(input): target (log target - input)
    elementwise; 'batchmean' divides the sum by the batch size.

    >>> import tapegrad
    >>> x = tapegrad.tensor([[0.5, 0.5]]).log()
    >>> tapegrad.nn.functional.kl_div(x, tapegrad.tensor([[0.5, 0.5]]), reduction='batchmean')
    tensor(0.)
    """
    if size_average is not None or reduce is not None:
        r = reduction_enum(legacy_reduction(size_average, reduce))
    else:
        if reduction == "mean":
            warnings.warn(
                "reduction: 'mean' divides the total loss by both the batch size and the support "
                "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
                "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
                "major release.", stacklevel=2)
        r = SUM if reduction == "batchmean" else reduction_enum(reduction)
    out = kl_div_enum(input, target, r, log_target)
    if reduction == "batchmean" and input.dim() != 0:
        out = out / input.size(0)
    return out


def kl_div_enum(input: Tensor, target: Tensor, r: int, log_target: bool) -> Tensor:  # noqa: A002
    """ATen's kl_div with a reduction enum."""
    if input._dtype.category == D.COMPLEX or target._dtype.category == D.COMPLEX:
        raise RuntimeError("kl_div: Complex inputs not supported.")
    if input._dtype.category < D.FLOAT or target._dtype.category < D.FLOAT:
        raise RuntimeError("kl_div: Integral inputs not supported.")
    if log_target:
        out = target.exp() * (target - input)
    else:
        out = target.xlogy(target) - target * input
    return apply_reduction(out, r)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True,  # noqa: A002
                     full: bool = False, size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """Negative log likelihood of target under Poisson(exp(input)) (or Poisson(input) when
    log_input is False); full adds Stirling's term for targets above 1.

    >>> import tapegrad
    >>> tapegrad.nn.functional.poisson_nll_loss(tapegrad.zeros(2), tapegrad.ones(2))
    tensor(1.)
    """
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not a valid value for reduction")
    return poisson_nll_enum(input, target, log_input, full, eps, reduction_enum(reduction))


def poisson_nll_enum(input, target, log_input, full, eps, r) -> Tensor:  # noqa: A002
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        stirling = target * target.log() - target + (target * (2 * math.pi)).log() * 0.5
        loss = loss + where(target <= 1, 0.0, stirling)
    return apply_reduction(loss, r)


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False,  # noqa: A002
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Negative log likelihood of target under N(input, var): 0.5 (log var + (input -
    target)^2 / var), var clamped below at eps (without cutting its gradient, as PyTorch).

    >>> import tapegrad
    >>> tapegrad.nn.functional.gaussian_nll_loss(tapegrad.zeros(2), tapegrad.ones(2), 1.0)
    tensor(0.5000)
    """
    from ..autograd.grad_mode import no_grad

    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = input.new_ones(input.shape) * var
    elif bool(np.any(var._data < 0)):
        raise ValueError("var has negative entry/entries")
    if var._data.shape != input._data.shape:
        ish, vsh = input._data.shape, var._data.shape
        if ish[:-1] == vsh:
            var = var.unsqueeze(-1)
        elif not (len(ish) == len(vsh) and sum(v for i, v in zip(ish, vsh) if i != v) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    var = var.clone()
    with no_grad():
        var.clamp_(min=eps)
    loss = (var.log() + (input - target) ** 2 / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return apply_reduction(loss, reduction_enum(reduction))


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -target (input1 - input2) + margin) reduced.

    >>> import tapegrad
    >>> tapegrad.nn.functional.margin_ranking_loss(tapegrad.tensor([1.]), tapegrad.tensor([2.]),
    ...                                            tapegrad.tensor([1.]))
    tensor(1.)
    """
    r = get_reduction(size_average, reduce, reduction)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} ")
    return margin_ranking_enum(input1, input2, target, margin, r)


def margin_ranking_enum(input1, input2, target, margin, r) -> Tensor:
    return apply_reduction(((-target) * (input1 - input2) + margin).clamp_min(0), r)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,  # noqa: A002
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """input where target is 1, max(0, margin - input) where target is -1, reduced.

    >>> import tapegrad
    >>> tapegrad.nn.functional.hinge_embedding_loss(tapegrad.tensor([0.3, 2.]),
    ...                                             tapegrad.tensor([-1., 1.]))
    tensor(1.3500)
    """
    return hinge_embedding_enum(input, target, margin,
                                get_reduction(size_average, reduce, reduction))


def hinge_embedding_enum(input, target, margin, r) -> Tensor:  # noqa: A002
    zeros = input.new_zeros(input.shape)
    margin_clamp = (margin - input).clamp_min(0)
    out = where(target != 1, margin_clamp, zeros) + where(target != -1, input, zeros)
    return apply_reduction(out, r)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor,  # noqa: A002
                                weight: Tensor | None = None, size_average=None, reduce=None,
                                reduction: str = "mean") -> Tensor:
    """Mean over classes of the binary logistic losses of each class, reduced over the batch.

    >>> import tapegrad
    >>> tapegrad.nn.functional.multilabel_soft_margin_loss(tapegrad.zeros(1, 2),
    ...                                                    tapegrad.ones(1, 2))
    tensor(0.6931)
    """
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.dim() - 1
    loss = loss.sum(dim=class_dim) / input.size(class_dim)
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(reduction + " is not valid")


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(input1, input2) where target is 1, max(0, cos - margin) where it is -1.

    >>> import tapegrad
    >>> a = tapegrad.tensor([[1., 0.]])
    >>> tapegrad.nn.functional.cosine_embedding_loss(a, a, tapegrad.tensor([1.]))
    tensor(0.)
    """
    return cosine_embedding_enum(input1, input2, target, margin,
                                 get_reduction(size_average, reduce, reduction))


def cosine_embedding_enum(input1, input2, target, margin, r) -> Tensor:
    td = target.dim()
    if td not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if td == 1 and not (input1.dim() == 2 and input2.dim() == 2):
        raise RuntimeError(
            "1D target tensor expects 2D input tensors, but found inputs with sizes "
            f"{_dims(input1)} and {_dims(input2)}.")
    if td == 0 and not (input1.dim() == 1 and input2.dim() == 1):
        raise RuntimeError(
            "0D target tensor expects 1D input tensors, but found inputs with sizes "
            f"{_dims(input1)} and {_dims(input2)}.")
    eps = 1e-12
    prod_sum = (input1 * input2).sum(td)
    mag1 = (input1 * input1).sum(td) + eps
    mag2 = (input2 * input2).sum(td) + eps
    cos = prod_sum / (mag1 * mag2).sqrt()
    zeros = cos.new_zeros(cos.shape)
    out = where(target == 1, 1 - cos, zeros) + where(target == -1, (cos - margin).clamp_min(0),
                                                     zeros)
    return apply_reduction(out, r)


def _dims(t: Tensor) -> str:
    return "[" + ", ".join(str(s) for s in t._data.shape) + "]"


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """max(d(a, p) - d(a, n) + margin, 0) with d the pairwise p-norm distance; swap uses
    min(d(a, n), d(p, n)).

    >>> import tapegrad
    >>> a = tapegrad.zeros(1, 2)
    >>> tapegrad.nn.functional.triplet_margin_loss(a, a, a + 3.)
    tensor(0.)
    """
    r = get_reduction(size_average, reduce, reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    return triplet_margin_enum(anchor, positive, negative, margin, p, eps, swap, r)


def triplet_margin_enum(anchor, positive, negative, margin, p, eps, swap, r) -> Tensor:
    ad, pd, nd = anchor.dim(), positive.dim(), negative.dim()
    if not (ad == pd and pd == nd):
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {ad}D, positive {pd}D, and negative {nd}D inputs")
    dist_pos = pairwise_distance(anchor, positive, p, eps)
    dist_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dist_neg = dist_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return apply_reduction((margin + dist_pos - dist_neg).clamp_min(0), r)


# --- multi-class margin losses ---------------------------------------------------------------
def _frames(input: Tensor) -> tuple:  # noqa: A002
    """(nframe, dim) of a 0-d, 1-d or 2-d margin-loss input, with PyTorch's message else."""
    nd, shape = input.dim(), input._data.shape
    if not ((nd == 2 and shape[1] != 0) or (nd == 1 and shape[0] != 0) or nd == 0):
        raise RuntimeError("Expected non-empty vector or matrix with optional 0-dim batch size, "
                           f"but got: {_dims(input)}")
    if nd <= 1:
        return 1, (1 if nd == 0 else shape[0])
    return shape[0], shape[1]


def _long_target(target: Tensor) -> None:
    if target._dtype is not D.int64:
        raise RuntimeError(f"expected scalar type Long but found {target._dtype._short}")


def _reduce_frames(loss: np.ndarray, r: int, out_shape: tuple, dt) -> np.ndarray:
    if r == NONE:
        return loss.reshape(out_shape).astype(dt, copy=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = loss.sum() if r == SUM else (loss.mean() if loss.size else np.nan)
    return np.asarray(v, dtype=dt)


def _frame_grad(g: Tensor, r: int, nframe: int) -> Tensor:
    """The incoming gradient as one value per frame, shaped (nframe, 1)."""
    if r == NONE:
        return g.reshape(nframe, 1)
    return g / nframe if r == MEAN else g


class MultiMarginLossBackward0(Node):
    # loss_i = sum_{j != y_i} w[y_i] max(0, margin - x[i, y_i] + x[i, j])^p / C: with
    # z = margin - x_y + x_j, h_j = w_y (p == 1 ? 1 : 2 z) / C where z > 0 (j != y), else 0,
    # dx_j = g h_j and dx_y = -g sum_j h_j (the kink z == 0 takes the zero side)
    __slots__ = ("p", "margin", "index", "wy", "reduction")

    def vjp(self, g):
        (x,) = self.saved_tensors()
        n = self.index.shape[0]
        c = x._data.size // n
        x2 = x.reshape(n, c)
        onehot = _make(np.arange(c)[None, :] == self.index)
        xy = gather_along(x2, 1, self.index)
        z = x2 - xy + self.margin
        active = (z > 0) & ~onehot
        coef = where(active, 1.0 if self.p == 1 else z * 2.0, 0.0) * _make(
            self.wy.astype(x._data.dtype, copy=False) / c)
        h = coef * _frame_grad(g, self.reduction, n)
        return (h - where(onehot, h.sum(1, keepdim=True), 0.0)).reshape(x.shape)


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,  # noqa: A002
                      weight: Tensor | None = None, size_average=None, reduce=None,
                      reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss: sum over classes j != target of max(0, margin - x[target] +
    x[j])^p (times weight[target]), over the number of classes (MultiMarginLossBackward0).

    >>> import tapegrad
    >>> tapegrad.nn.functional.multi_margin_loss(tapegrad.tensor([[0.1, 0.2, 0.4, 0.8]]),
    ...                                          tapegrad.tensor([3]))
    tensor(0.3250)
    """
    r = get_reduction(size_average, reduce, reduction)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    no_grad_arg("multi_margin_loss", "weight", weight)
    nframe, c = _frames(input)
    if target.dim() > 1 or target._data.size != nframe:
        raise RuntimeError(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of "
            f"input samples (batch size). Expected target size [{nframe}], but got "
            f"{_dims(target)}. Input has shape {_dims(input)}.")
    if weight is not None and weight._data.size != c:
        raise RuntimeError(f"inconsistent weight size, expected {c} but got {_dims(weight)}")
    _long_target(target)
    t = target._data.reshape(nframe, 1)
    if t.size and (t.min() < 0 or t.max() >= c):
        raise RuntimeError("target out of range")
    x = input._data.reshape(nframe, c)
    z = margin - np.take_along_axis(x, t, 1) + x
    h = np.where((z > 0) & (np.arange(c)[None, :] != t), z if p == 1 else z * z, 0)
    wy = np.ones((nframe, 1)) if weight is None else weight._data[t]
    loss = (h * wy).sum(1) / c
    out = _reduce_frames(loss, r, target._data.shape, x.dtype)
    node = new_node(MultiMarginLossBackward0, (input,))
    if node is not None:
        node.p, node.margin, node.index, node.wy, node.reduction = p, margin, t, wy, r
        save(node, input)
    return wrap(out, node)


class MultilabelMarginLossBackward0(Node):
    # loss_n = sum_{k in targets} sum_{j not a target} max(0, 1 - x[k] + x[j]) / C (a target
    # listed twice counts twice): with A[k, j] = count(k) * [j not a target] * [z > 0] / C,
    # dx_j = g sum_k A[k, j] and dx_k = -g sum_j A[k, j] (piecewise linear: zero second
    # derivative)
    __slots__ = ("counts", "others", "reduction")

    def vjp(self, g):
        (x,) = self.saved_tensors()
        n, c = self.counts.shape
        x2 = x.reshape(n, c)
        z = 1.0 - x2.unsqueeze(2) + x2.unsqueeze(1)
        w = _make((self.counts[:, :, None] * self.others[:, None, :] / c).astype(
            x._data.dtype, copy=False))
        gf = _frame_grad(g, self.reduction, n)
        a = where(z > 0, w, 0.0) * (gf.unsqueeze(2) if gf.dim() else gf)
        return (a.sum(1) - a.sum(2)).reshape(x.shape)


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None,  # noqa: A002
                           reduce=None, reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss: the targets are the leading class indices of each row of
    target, up to the first -1 (MultilabelMarginLossBackward0).

    >>> import tapegrad
    >>> tapegrad.nn.functional.multilabel_margin_loss(tapegrad.tensor([[0.1, 0.2, 0.4, 0.8]]),
    ...                                               tapegrad.tensor([[3, 0, -1, 1]]))
    tensor(0.8500)
    """
    r = get_reduction(size_average, reduce, reduction)
    nframe, c = _frames(input)
    td, ts = target.dim(), target._data.shape
    if (input.dim() <= 1 and not (td <= 1 and target._data.size == c)) or (
            input.dim() == 2 and ts != (nframe, c)):
        raise RuntimeError(f"inconsistent target size: {_dims(target)} for input of size: "
                           f"{_dims(input)}")
    _long_target(target)
    t = target._data.reshape(nframe, c)
    valid = np.cumprod(t >= 0, axis=1).astype(bool)
    if np.any(valid & (t >= c)):
        raise RuntimeError("argument #2 'target' is out of range")
    counts = (valid[:, :, None] & (t[:, :, None] == np.arange(c))).sum(1).astype(np.float64)
    others = (counts == 0).astype(np.float64)
    x = input._data.reshape(nframe, c)
    z = np.maximum(1.0 - x[:, :, None] + x[:, None, :], 0)
    loss = (z * counts[:, :, None] * others[:, None, :]).sum((1, 2)) / c
    out = _reduce_frames(loss, r, () if input.dim() <= 1 else (nframe,), x.dtype)
    node = new_node(MultilabelMarginLossBackward0, (input,))
    if node is not None:
        node.counts, node.others, node.reduction = counts, others, r
        save(node, input)
    return wrap(out, node)

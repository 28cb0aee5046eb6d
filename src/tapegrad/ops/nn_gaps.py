"""Smaller torch.nn.functional ops: channel_shuffle (and native_channel_shuffle), pdist,
gumbel_softmax, triplet_margin_with_distance_loss, conv_tbc and linear_cross_entropy.

  channel_shuffle (ChannelShuffleBackward0)  a permutation of the channels: with C = g * k,
      out channel (j * g + i) is input channel (i * k + j). vjp: the inverse permutation, which
      is the shuffle with k groups (itself a primitive, so every order works).
  pdist (PdistBackward0)  d_k = ||x_i - x_j||_p over the pairs i < j in row-major order.
      vjp: with diff = x_i - x_j, t = d||diff||_p / d diff times g_k (the p-norm rule, 0 where
      the distance is 0), added to row i and subtracted from row j (index_add, differentiable).
  conv_tbc (ConvTbcBackward0)  out[t] = bias + sum_k x_pad[t + k] @ W[k] over (time, batch,
      channels) input; its node differentiates that sum written in tapegrad ops.
  gumbel_softmax, triplet_margin_with_distance_loss, linear_cross_entropy  composites, as
      PyTorch writes them.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import batched_cotangent, new_node, rebatch, save, save_out, wrap
from ._recompute import RecomputeNode
from .linalg_dist import pnorm_diff_grad

__all__ = ["channel_shuffle", "native_channel_shuffle", "pdist", "conv_tbc"]
FUNCTIONAL = ["channel_shuffle", "native_channel_shuffle", "pdist", "gumbel_softmax",
              "triplet_margin_with_distance_loss", "conv_tbc", "linear_cross_entropy"]


# --- channel_shuffle -------------------------------------------------------------------------
def _shuffle_np(a: np.ndarray, groups: int) -> np.ndarray:
    n, c = a.shape[0], a.shape[1]
    r = a.reshape((n, groups, c // groups) + a.shape[2:])
    return np.ascontiguousarray(np.swapaxes(r, 1, 2)).reshape(a.shape)


def _shuffle_checks(input: Tensor, groups: int) -> None:  # noqa: A002
    if input.dim() <= 2:
        raise RuntimeError("channel_shuffle expects input with > 2 dims, but got input with "
                           f"sizes [{', '.join(str(s) for s in input._data.shape)}]")
    if groups <= 0:
        raise RuntimeError("Number of groups to divide channels in must be positive. Value of "
                           f"groups:{groups}")
    c = input._data.shape[1]
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels "
                           f"and {groups} groups.")


class ChannelShuffleBackward0(Node):
    __slots__ = ("groups",)

    def vjp(self, g):
        return _shuffle(g, g.shape[1] // self.groups)


def _shuffle(x: Tensor, groups: int) -> Tensor:
    if type(x) is not Tensor:  # a batch of cotangents (vmap): folded into the samples' dim
        b = batched_cotangent(x)
        if b is not None:
            p = b[0]
            r = _shuffle(p.reshape((-1,) + tuple(p.shape[2:])), groups).reshape(p.shape)
            return rebatch(r, b[1])
    node = new_node(ChannelShuffleBackward0, (x,))
    if node is not None:
        node.groups = groups
    return wrap(_shuffle_np(x._data, groups), node)


def channel_shuffle(input: Tensor, groups: int) -> Tensor:  # noqa: A002
    """Split the C channels of (N, C, *) input into `groups` groups and interleave them.

    >>> import tapegrad
    >>> tapegrad.nn.functional.channel_shuffle(tapegrad.arange(4.).view(1, 4, 1), 2).flatten()
    tensor([0., 2., 1., 3.])
    """
    _shuffle_checks(input, groups)
    return _shuffle(input, int(groups))


# PyTorch records native_channel_shuffle under a node literally named NotImplemented, whose
# backward refuses to run.
def _native_vjp(self, g):
    raise RuntimeError("derivative for aten::native_channel_shuffle is not implemented")


_NativeShuffleNode = type("NotImplemented", (Node,), {"__slots__": (), "vjp": _native_vjp})


def native_channel_shuffle(input: Tensor, groups: int) -> Tensor:  # noqa: A002
    """channel_shuffle's kernel itself: the same values, with no derivative."""
    _shuffle_checks(input, groups)
    return wrap(_shuffle_np(input._data, int(groups)), new_node(_NativeShuffleNode, (input,)))


# --- pdist ---------------------------------------------------------------------------------
def _pairs(n: int) -> tuple:
    i, j = np.triu_indices(n, 1)
    return i.astype(np.int64), j.astype(np.int64)


def _pdist_np(a: np.ndarray, p: float) -> np.ndarray:
    i, j = _pairs(a.shape[0])
    diff = np.abs(a[i] - a[j])
    if p == 0:
        return (diff != 0).sum(-1).astype(a.dtype)
    if p == 1:
        return diff.sum(-1)
    if p == 2:
        return np.sqrt((diff * diff).sum(-1))
    if math.isinf(p):
        return diff.max(-1, initial=0)
    return (diff ** p).sum(-1) ** (1.0 / p)


class PdistBackward0(Node):
    __slots__ = ("p",)

    def vjp(self, g):
        out, x = self.saved_tensors()
        p = self.p
        if p == 0 or out._data.size == 0:
            return x.new_zeros(x.shape)
        i, j = _pairs(x._data.shape[0])
        it, jt = wrap(i), wrap(j)
        diff = x.index_select(0, it) - x.index_select(0, jt)  # (pairs, c)
        gd = g.unsqueeze(-1)
        dist = out.unsqueeze(-1)
        t = pnorm_diff_grad(diff, dist, gd, p)
        return x.new_zeros(x.shape).index_add(0, it, t).index_add(0, jt, -t)


def pdist(input: Tensor, p: float = 2) -> Tensor:  # noqa: A002
    """The p-norm distances between every pair of rows i < j of a 2-D input, as a 1-D tensor
    of n (n - 1) / 2 values (the upper triangle of cdist(input, input), row by row).

    >>> import tapegrad
    >>> tapegrad.pdist(tapegrad.tensor([[0., 0.], [3., 4.], [0., 1.]]))
    tensor([5.0000, 1.0000, 4.2426])
    """
    if input.dim() != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.dim()}D")
    if input._dtype.category != D.FLOAT:
        raise RuntimeError("pdist only supports floating-point dtypes")
    p = float(p)
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    a = input._data
    with np.errstate(all="ignore"):
        r = np.asarray(_pdist_np(a, p), dtype=a.dtype).reshape(-1)
    node = new_node(PdistBackward0, (input,))
    res = wrap(np.ascontiguousarray(r), node)
    if node is not None:
        node.p = p
        save_out(node, res, input)
    return res


# --- gumbel_softmax ------------------------------------------------------------------------
def _exponential(like: Tensor) -> Tensor:
    """Standard exponential samples of like's shape and dtype, drawn as PyTorch draws the
    Gumbel noise: exponential_() of a new contiguous tensor (row-major order, whatever like's
    layout)."""
    from .._creation import empty

    return empty(like.shape, dtype=like.dtype).exponential_()


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Tensor:
    """softmax((logits + G) / tau) with G ~ Gumbel(0, 1) drawn from tapegrad's generator; with
    hard, the one-hot of its argmax whose gradient is the soft sample's (straight-through).

    >>> import tapegrad
    >>> y = tapegrad.nn.functional.gumbel_softmax(tapegrad.zeros(2, 3), hard=True)
    >>> y.sum(-1)
    tensor([1., 1.])
    """
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    gumbels = -_exponential(logits).log()
    y_soft = ((logits + gumbels) / tau).softmax(dim)
    if not hard:
        return y_soft
    from .._creation import zeros_like

    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = zeros_like(logits).scatter_(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


# --- triplet_margin_with_distance_loss -----------------------------------------------------
def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function=None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> Tensor:
    """max(d(a, p) - d(a, n) + margin, 0) for any distance d (pairwise_distance by default);
    swap uses min(d(a, n), d(p, n)).

    >>> import tapegrad
    >>> a = tapegrad.zeros(1, 2)
    >>> tapegrad.nn.functional.triplet_margin_with_distance_loss(a, a, a + 3.)
    tensor(0.)
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    ad, pd, nd = anchor.ndim, positive.ndim, negative.ndim
    if not (ad == pd and pd == nd):
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {ad}D, positive {pd}D, and negative {nd}D inputs")
    if distance_function is None:
        from .nn_misc import pairwise_distance as distance_function
    dist_pos = distance_function(anchor, positive)
    dist_neg = distance_function(anchor, negative)
    if swap:
        dist_neg = dist_neg.minimum(distance_function(positive, negative))
    loss = (margin + dist_pos - dist_neg).clamp_min(0)
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    return loss


# --- conv_tbc ------------------------------------------------------------------------------
class ConvTbcBackward0(RecomputeNode):
    __slots__ = ("pad",)

    def composite(self, x, w, b):
        return _tbc(x, w, b, self.pad)


def _tbc(x, w, b, pad: int):
    """sum_k x_pad[k : k + T_out] @ w[k] + b, in tapegrad ops (x_pad: x with pad zero steps
    before and after in time; a negative pad trims instead)."""
    from .join import cat

    if pad > 0:
        z = x.new_zeros((pad,) + tuple(x.shape[1:]))
        x = cat([z, x, z], 0)
    elif pad < 0:
        x = x[-pad:x.shape[0] + pad]
    k = w.shape[0]
    t_out = x.shape[0] - k + 1
    out = b
    for i in range(k):
        out = out + x[i:i + t_out].matmul(w[i])
    return out


def conv_tbc(input: Tensor, weight: Tensor, bias: Tensor, pad: int = 0) -> Tensor:  # noqa: A002
    """A 1-d convolution over (time, batch, in_channels) input with a (kernel_width,
    in_channels, out_channels) weight, pad zero steps on each side of the time axis.

    >>> import tapegrad
    >>> x = tapegrad.ones(4, 1, 2)
    >>> tapegrad.conv_tbc(x, tapegrad.ones(3, 2, 1), tapegrad.zeros(1)).flatten()
    tensor([6., 6.])
    """
    if input.dim() != 3:
        raise RuntimeError("Input must have 3 dims: time, batch, in_channel")
    if weight.dim() != 3:
        raise RuntimeError("Weight tensor must have 3 dims: kernel_width, in_channels, "
                           "out_channels.")
    if bias.dim() != 1:
        raise RuntimeError("Bias must be 1-D")
    x, w, b = input._data, weight._data, bias._data
    if x.shape[2] != w.shape[1]:
        raise RuntimeError("Input dim 2 (input channels) is not == dim 1 in the weight tensor")
    if w.shape[2] != b.shape[0]:
        raise RuntimeError("Bias size must equal dim 2 in the weight tensor (output channels).")
    pad = int(pad)
    t_out = x.shape[0] + 2 * pad - w.shape[0] + 1
    if t_out < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {t_out}: "
                           f"[{t_out}, {x.shape[1]}, {w.shape[2]}]")
    if input._dtype is not weight._dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got "
                           f"{input._dtype._short} and {weight._dtype._short}")
    if pad > 0:
        z = np.zeros((pad,) + x.shape[1:], dtype=x.dtype)
        xp = np.concatenate([z, x, z], 0)
    else:
        xp = x[-pad:x.shape[0] + pad]
    out = np.broadcast_to(b, (t_out, x.shape[1], w.shape[2])).copy()
    for i in range(w.shape[0]):
        out += xp[i:i + t_out] @ w[i]
    node = new_node(ConvTbcBackward0, (input, weight, bias))
    if node is not None:
        node.pad = pad
        save(node, input, weight, bias)
    return wrap(np.ascontiguousarray(out, dtype=x.dtype), node)


# --- linear_cross_entropy ------------------------------------------------------------------
def linear_cross_entropy(input: Tensor, linear_weight: Tensor, target: Tensor, *,  # noqa: A002
                         linear_bias: Tensor | None = None, weight: Tensor | None = None,
                         reduction: str = "mean", ignore_index: int | None = None,
                         label_smoothing: float = 0.0, options=None) -> Tensor:
    """cross_entropy(linear(input, linear_weight, linear_bias), target, ...): PyTorch's
    reference path (`options`, PyTorch's memory-saving chunked path, is accepted and computes
    the same values this way).

    >>> import tapegrad
    >>> x = tapegrad.zeros(2, 3)
    >>> tapegrad.nn.functional.linear_cross_entropy(x, tapegrad.ones(4, 3), tapegrad.tensor([0, 1]))
    tensor(1.3863)
    """
    from .linear import linear
    from .loss_nll import cross_entropy

    if input.dim() < 1 or input.dim() > 2:
        raise RuntimeError(f"expected input with dimensionality 1 or 2, got {input.dim()}")
    if linear_weight.dim() < 2:
        raise RuntimeError("expected linear_weight with dimensionality at least 2, got "
                           f"{linear_weight.dim()}")
    batches = tuple(input.shape[:-1])
    feat = input.shape[-1]
    if feat != linear_weight.shape[-1]:
        raise RuntimeError(
            "expected equal input and linear_weight last dimensions (in_features), got "
            f"{input.shape[-1]} and {linear_weight.shape[-1]}, respectively")
    classes = linear_weight.shape[0]
    out_features = tuple(linear_weight.shape[1:-1])
    if linear_bias is not None and tuple(linear_bias.shape) != (classes, *out_features):
        raise RuntimeError(f"expected linear_bias shape {(classes, *out_features)}, got "
                           f"{tuple(linear_bias.shape)}")
    if out_features and not batches:
        raise RuntimeError(
            f"K-dimensional loss defined by linear_weight shape {tuple(linear_weight.shape)} "
            f"requires batched input, (N, {feat}), got unbatched input with shape "
            f"{tuple(input.shape)}")
    logits_shape = (*batches, classes, *out_features)
    if tuple(target.shape) == logits_shape and ignore_index is not None:
        raise RuntimeError("ignore_index cannot be specified when target contains probabilities")
    ignore_index = -100 if ignore_index is None else ignore_index
    if out_features:
        n = int(np.prod(out_features, dtype=np.int64)) * classes
        linear_weight = linear_weight.reshape(n, feat)
        if linear_bias is not None:
            linear_bias = linear_bias.reshape(n)
    logits = linear(input, linear_weight, linear_bias).reshape(logits_shape)
    return cross_entropy(logits, target, weight=weight, reduction=reduction,
                         ignore_index=ignore_index, label_smoothing=label_smoothing)

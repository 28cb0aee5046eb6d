"""The torch.* spellings of nn ops whose ATen signatures differ from torch.nn.functional's:
positional `train` flags, reductions as the enum (0 none, 1 mean, 2 sum; PyTorch's Python
bindings default it to 0, 'none'), weight-first embedding, batch_norm's (weight, bias,
running_mean, running_var) order. Each is a thin entry
point over the implementation in its family module; no math here.
"""

from __future__ import annotations

from .._tensor import Tensor
from .inplace import check_inplace
from .loss import NONE, _bce_logits
from .loss_ctc import ctc_loss_enum
from .loss_more import (
    cosine_embedding_enum,
    hinge_embedding_enum,
    kl_div_enum,
    margin_ranking_enum,
    poisson_nll_enum,
    triplet_margin_enum,
)
from .nn_misc import dropout_impl, dropout_inplace, embedding_aten, embedding_renorm_np
from .normalization import batch_norm_aten, instance_norm_aten

__all__ = [
    "dropout", "dropout_", "feature_dropout", "feature_dropout_", "alpha_dropout",
    "alpha_dropout_", "feature_alpha_dropout", "feature_alpha_dropout_", "batch_norm",
    "instance_norm", "embedding", "embedding_renorm_", "kl_div",
    "binary_cross_entropy_with_logits", "poisson_nll_loss", "margin_ranking_loss",
    "hinge_embedding_loss", "cosine_embedding_loss", "triplet_margin_loss", "ctc_loss",
]


def dropout(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    """torch.dropout(input, p, train).

    >>> import tapegrad
    >>> tapegrad.dropout(tapegrad.ones(2), 0.5, False)
    tensor([1., 1.])
    """
    return dropout_impl(input, p, train)


def dropout_(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    """torch.dropout_: dropout written into input."""
    return dropout_inplace(input, p, train)


def feature_dropout(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    """torch.feature_dropout: whole channels (dim 1) dropped."""
    return dropout_impl(input, p, train, True)


def feature_dropout_(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    return dropout_inplace(input, p, train, True)


def alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    """torch.alpha_dropout(input, p, train)."""
    return dropout_impl(input, p, train, False, True)


def alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    return dropout_inplace(input, p, train, False, True)


def feature_alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    """torch.feature_alpha_dropout(input, p, train)."""
    return dropout_impl(input, p, train, True, True)


def feature_alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:  # noqa: A002
    return dropout_inplace(input, p, train, True, True)


def batch_norm(input: Tensor, weight, bias, running_mean, running_var,  # noqa: A002
               training: bool, momentum: float, eps: float, cudnn_enabled: bool) -> Tensor:
    """torch.batch_norm(input, weight, bias, running_mean, running_var, training, momentum,
    eps, cudnn_enabled).

    >>> import tapegrad
    >>> tapegrad.batch_norm(tapegrad.tensor([[1.], [3.]]), None, None, None, None, True, 0.1,
    ...                     1e-5, False)
    tensor([[-1.0000],
            [ 1.0000]])
    """
    return batch_norm_aten(input, weight, bias, running_mean, running_var, training, momentum,
                           eps)


def instance_norm(input: Tensor, weight, bias, running_mean, running_var,  # noqa: A002
                  use_input_stats: bool, momentum: float, eps: float,
                  cudnn_enabled: bool) -> Tensor:
    """torch.instance_norm, arguments in ATen's order."""
    return instance_norm_aten(input, weight, bias, running_mean, running_var, use_input_stats,
                              momentum, eps)


def embedding(weight: Tensor, indices: Tensor, padding_idx: int = -1,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """torch.embedding(weight, indices, ...): the weight comes first.

    >>> import tapegrad
    >>> tapegrad.embedding(tapegrad.tensor([[0., 1.], [2., 3.]]), tapegrad.tensor([1]))
    tensor([[2., 3.]])
    """
    return embedding_aten(weight, indices, padding_idx, scale_grad_by_freq, sparse)


def embedding_renorm_(input: Tensor, indices: Tensor, max_norm: float,  # noqa: A002
                      norm_type: float) -> Tensor:
    """Rescale, in place, the rows of input at indices whose norm exceeds max_norm."""
    check_inplace(input)
    embedding_renorm_np(input._data, indices, max_norm, norm_type)
    input._bump_version()
    return input


def kl_div(input: Tensor, target: Tensor, reduction: int = NONE, *,  # noqa: A002
           log_target: bool = False) -> Tensor:
    """torch.kl_div(input, target, reduction=0, log_target=False) (no 'batchmean')."""
    return kl_div_enum(input, target, reduction, log_target)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     weight: Tensor | None = None,
                                     pos_weight: Tensor | None = None,
                                     reduction: int = NONE) -> Tensor:
    """torch.binary_cross_entropy_with_logits with a reduction enum."""
    return _bce_logits(input, target, weight, pos_weight, reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool, full: bool,  # noqa: A002
                     eps: float, reduction: int) -> Tensor:
    """torch.poisson_nll_loss with every argument positional and a reduction enum."""
    return poisson_nll_enum(input, target, log_input, full, eps, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        reduction: int = NONE) -> Tensor:
    return margin_ranking_enum(input1, input2, target, margin, reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,  # noqa: A002
                         reduction: int = NONE) -> Tensor:
    return hinge_embedding_enum(input, target, margin, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          reduction: int = NONE) -> Tensor:
    return cosine_embedding_enum(input1, input2, target, margin, reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False,
                        reduction: int = NONE) -> Tensor:
    return triplet_margin_enum(anchor, positive, negative, margin, p, eps, swap, reduction)


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths,
             blank: int = 0, reduction: int = NONE, zero_infinity: bool = False) -> Tensor:
    """torch.ctc_loss with a reduction enum."""
    return ctc_loss_enum(log_probs, targets, input_lengths, target_lengths, blank, reduction,
                         zero_infinity)

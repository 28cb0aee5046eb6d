"""torch.nn.functional's embedding, one_hot, the dropout family, normalize, cosine_similarity
and pairwise_distance (scaled_dot_product_attention is in ops/attention.py).

embedding is a primitive (EmbeddingBackward0) whose gradient is a scatter-add of the incoming
rows into zeros of the weight's shape (embedding_dense_backward, itself differentiable: its
derivative gathers rows again, as PyTorch's embedding_dense_double_backward); the rest are
composites built as PyTorch builds them, so their grad_fn chains are PyTorch's. Dropout
draws its mask with Tensor.bernoulli_ from tapegrad's generator, which reproduces PyTorch's CPU
stream: after the same manual_seed the masks are PyTorch's.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.grad_mode import no_grad
from ..autograd.graph import Node
from ._core import batched_cotangent, new_node, rebatch, wrap
from .reduction_norm import LinalgVectorNormBackward0, vector_norm

__all__ = ["cosine_similarity", "pairwise_distance"]

FUNCTIONAL = [
    "embedding", "one_hot", "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
    "feature_alpha_dropout", "normalize", "cosine_similarity", "pairwise_distance",
]


# --- embedding ---------------------------------------------------------------------------------
class EmbeddingBackward0(Node):
    # out[i] = W[idx[i]]: dW = rows of g added at idx (repeats accumulate), by
    # embedding_dense_backward below
    __slots__ = ("index", "coef", "num_weights", "padding_idx")

    def vjp(self, g):
        return embedding_dense_backward(g, self.index, self.coef, self.num_weights,
                                        self.padding_idx)


class EmbeddingDenseBackwardBackward0(Node):
    # dW = scatter-add of g * coef at idx is linear in g; its derivative is taken as PyTorch
    # takes it: the rows of gg at idx, zero where idx is padding_idx (the frequency scaling of
    # scale_grad_by_freq is left out, as in PyTorch's embedding_dense_double_backward)
    __slots__ = ("index", "padding_idx")

    def vjp(self, gg):
        shape = self._in_meta[0][0]
        if type(gg) is not Tensor:  # a batch of B cotangents under vmap: (W, D) -> (W, B * D)
            b = batched_cotangent(gg)
            if b is not None:
                n, w, d = b[0].shape
                rows = self._rows(b[0].permute(1, 0, 2).reshape(w, n * d))
                rows = rows.reshape(-1, n, d).permute(1, 0, 2).reshape((n,) + tuple(shape))
                return rebatch(rows, b[1])
        return self._rows(gg).reshape(shape)

    def _rows(self, gg):
        rows = embedding_aten(gg, _make(self.index), self.padding_idx)
        if self.padding_idx >= 0:
            keep = (self.index != self.padding_idx)[:, None].astype(rows._data.dtype)
            rows = rows * _make(keep)
        return rows


def embedding_dense_backward(g: Tensor, index: np.ndarray, coef, num_weights: int,
                             padding_idx: int) -> Tensor:
    """zeros(num_weights, D) with row g[k] * coef[k] added at index[k] (g's rows flattened)."""
    if type(g) is not Tensor:  # a batch of B cotangents under vmap: one pass for the batch
        b = batched_cotangent(g)
        if b is not None:
            # rows are scattered whole, so the B samples can ride along as columns: g as
            # (M, B * D) (row k holding every sample's row k), the result (W, B * D) unfolded
            p = b[0]
            n, d = p.shape[0], p.shape[-1]
            cols = p.reshape(n, -1, d).permute(1, 0, 2).reshape(-1, n * d)
            r = embedding_dense_backward(cols, index, coef, num_weights, padding_idx)
            return rebatch(r.reshape(num_weights, n, d).permute(1, 0, 2), b[1])
    ga = g._data
    d = ga.shape[-1]
    src = ga.reshape(-1, d)
    if coef is not None:
        src = src * coef.astype(ga.dtype, copy=False)
    out = np.zeros((num_weights, d), dtype=ga.dtype)
    np.add.at(out, index, src)
    node = new_node(EmbeddingDenseBackwardBackward0, (g,))
    if node is not None:
        node.index, node.padding_idx = index, padding_idx
    return wrap(out, node)


def _check_indices(indices: Tensor, fn: str) -> None:
    if indices._dtype is not D.int64 and indices._dtype is not D.int32:
        raise RuntimeError(
            f"Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: Long, Int; but got tapegrad.{indices._dtype._legacy} instead (while checking"
            f" arguments for {fn})")


def embedding_aten(weight: Tensor, indices: Tensor, padding_idx: int = -1,
                   scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """ATen's embedding(weight, indices, ...): the rows of weight at indices."""
    if weight.dim() != 2:
        raise RuntimeError("'weight' must be 2-D")
    _check_indices(indices, "embedding")
    idx = indices._data.reshape(-1).astype(np.int64, copy=False)
    n = weight._data.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError("index out of range in self")
    out = weight._data[idx].reshape(indices._data.shape + weight._data.shape[1:])
    node = new_node(EmbeddingBackward0, (weight,))
    if node is not None:
        coef = None
        if padding_idx >= 0 or scale_grad_by_freq:
            coef = np.ones(idx.size)
            if scale_grad_by_freq:
                coef = 1.0 / np.bincount(idx, minlength=n)[idx]
            if padding_idx >= 0:
                coef = np.where(idx == padding_idx, 0.0, coef)
            coef = coef[:, None]
        node.index, node.coef, node.num_weights, node.padding_idx = idx, coef, n, padding_idx
    return wrap(out, node)


def embedding_renorm_np(w: np.ndarray, indices: Tensor, max_norm: float, norm_type: float):
    """Rescale (in place) the rows of w at indices whose norm exceeds max_norm to max_norm."""
    rows = np.unique(indices._data.reshape(-1))
    sub = np.abs(w[rows])
    p = float(norm_type)
    if p == math.inf:
        norms = sub.max(axis=1)
    elif p == 0:
        norms = (sub != 0).sum(axis=1).astype(w.dtype)
    else:
        norms = (sub ** p).sum(axis=1) ** (1.0 / p)
    big = norms > max_norm
    scale = max_norm / (norms[big] + 1e-7)
    w[rows[big]] *= scale[:, None].astype(w.dtype)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,  # noqa: A002
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up the rows of weight at the integer indices of input (EmbeddingBackward0); the
    row padding_idx gets no gradient; max_norm renormalises the looked-up rows of weight in
    place first (without recording it), as PyTorch does. The gradient is dense (sparse=True
    is accepted and gives a dense gradient).

    >>> import tapegrad
    >>> w = tapegrad.tensor([[0., 1.], [2., 3.]])
    >>> tapegrad.nn.functional.embedding(tapegrad.tensor([1, 1]), w)
    tensor([[2., 3.],
            [2., 3.]])
    """
    if padding_idx is not None:
        if padding_idx > 0:
            if padding_idx >= weight.size(0):
                raise AssertionError("Padding_idx must be within num_embeddings")
        elif padding_idx < 0:
            if padding_idx < -weight.size(0):
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = weight.size(0) + padding_idx
    else:
        padding_idx = -1
    if max_norm is not None:
        _check_indices(input, "embedding_renorm_")
        embedding_renorm_np(weight._data, input, max_norm, norm_type)
        weight._bump_version()
    return embedding_aten(weight, input, padding_idx, scale_grad_by_freq, sparse)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding of an int64 tensor of class indices (a new last dim).

    >>> import tapegrad
    >>> tapegrad.nn.functional.one_hot(tapegrad.tensor([0, 2]))
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    if tensor._dtype is not D.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    a = tensor._data
    if a.size == 0:
        if num_classes == -1:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        return wrap(np.zeros(a.shape + (num_classes,), dtype=np.int64))
    if a.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        num_classes = int(a.max()) + 1
    elif a.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return wrap((a[..., None] == np.arange(num_classes)).astype(np.int64))


# --- dropout -------------------------------------------------------------------------------------
_SELU_ALPHA = 1.7580993408473766  # alpha * lambda of SELU: the value alpha dropout drops to


def dropout_impl(input: Tensor, p: float, train: bool, feature: bool = False,  # noqa: A002
                 alpha: bool = False) -> Tensor:
    """ATen's _dropout_impl: input * mask / (1 - p) with mask ~ Bernoulli(1 - p) (one draw per
    channel for feature dropout); alpha dropout maps dropped values to SELU's saturation and
    rescales to keep mean and variance. Returns input itself when nothing is dropped."""
    if p < 0 or p > 1:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {p}")
    if feature and input.dim() < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    if p == 0 or not train or input._data.size == 0:
        return input
    if input._dtype.category < D.FLOAT:
        raise RuntimeError(f"result type Float can't be cast to the desired output type "
                           f"{input._dtype._short}")
    if p == 1:
        return input * _make(np.zeros((), dtype=input._data.dtype))
    if input._dtype.category == D.COMPLEX:  # ATen's Bernoulli kernel has no complex version
        raise NotImplementedError(
            f"\"bernoulli_scalar_cpu_\" not implemented for '{input._dtype._short}'")
    shape = input._data.shape
    if feature:
        shape = shape[:2] + (1,) * (len(shape) - 2)
    npd = input._data.dtype.type
    # ATen draws the noise into empty_like(input), which keeps input's memory layout (see
    # _creation.like_layout): bernoulli_ then fills it in that memory order
    if feature:
        noise = _make(np.empty(shape, dtype=npd)).bernoulli_(1 - p)._data
    else:
        from .._creation import like_layout

        noise = _make(like_layout(input, input._dtype)).bernoulli_(1 - p)._data
    if alpha:
        a = 1.0 / math.sqrt((_SELU_ALPHA * _SELU_ALPHA * p + 1) * (1 - p))
        b = _make((noise - 1) * npd(_SELU_ALPHA * a) + npd(_SELU_ALPHA * a * p))
        return input * _make(noise * npd(a)) + b
    return input * _make(noise / npd(1 - p))


def dropout_inplace(input: Tensor, p: float, train: bool, feature: bool = False,  # noqa: A002
                    alpha: bool = False) -> Tensor:
    """The in-place form: allowed where PyTorch allows in-place ops (see ops/inplace.py)."""
    from .inplace import apply_inplace

    if 0 <= p <= 1 and (p == 0 or not train or input._data.size == 0):
        return input  # nothing is written: allowed on any tensor, as in PyTorch
    return apply_inplace(input, dropout_impl, (p, train, feature, alpha))


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
            inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p) while training
    (MulBackward0: the gradient is mask / (1 - p)); the input itself otherwise.

    >>> import tapegrad
    >>> x = tapegrad.ones(4)
    >>> tapegrad.nn.functional.dropout(x, 0.5, training=False) is x
    True
    """
    _check_p(p)
    return (dropout_inplace if inplace else dropout_impl)(input, p, training)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,  # noqa: A002
                  inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: dropped values become SELU's negative saturation, and an
    affine map keeps zero mean and unit variance.

    >>> import tapegrad
    >>> tapegrad.nn.functional.alpha_dropout(tapegrad.ones(2), 0.5)
    tensor([1., 1.])
    """
    _check_p(p)
    return (dropout_inplace if inplace else dropout_impl)(input, p, training, False, True)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,  # noqa: A002
                          inplace: bool = False) -> Tensor:
    """alpha_dropout of whole channels (dim 1).

    >>> import tapegrad
    >>> tapegrad.nn.functional.feature_alpha_dropout(tapegrad.ones(1, 2), 0.5)
    tensor([[1., 1.]])
    """
    _check_p(p)
    return (dropout_inplace if inplace else dropout_impl)(input, p, training, True, True)


def _feature(input, p, training, inplace, batched):  # noqa: A002
    if not batched:
        input = input.unsqueeze_(0) if inplace else input.unsqueeze(0)  # noqa: A001
    r = (dropout_inplace if inplace else dropout_impl)(input, p, training, True)
    if not batched:
        r = r.squeeze_(0) if inplace else r.squeeze(0)
    return r


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) inputs with probability p.

    >>> import tapegrad
    >>> tapegrad.nn.functional.dropout1d(tapegrad.ones(2, 3), 0.5, training=False).shape
    tapegrad.Size([2, 3])
    """
    _check_p(p)
    d = input.dim()
    if d not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {d}D input. Note that dropout1d "
            "exists to provide channel-wise dropout on inputs with 1 spatial dimension, a channel "
            "dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    return _feature(input, p, training, inplace, d == 3)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero whole channels (dim 1) of (N, C, H, W) inputs with probability p.

    >>> import tapegrad
    >>> tapegrad.nn.functional.dropout2d(tapegrad.ones(1, 2, 2, 2), 0.5, training=False).shape
    tapegrad.Size([1, 2, 2, 2])
    """
    _check_p(p)
    d = input.dim()
    if d not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {d}-D input to dropout2d, which is deprecated and will result "
            "in an error in a future release. To retain the behavior and silence this warning, "
            "please use dropout instead. Note that dropout2d exists to provide channel-wise "
            "dropout on inputs with 2 spatial dimensions, a channel dimension, and an optional "
            "batch dimension (i.e. 3D or 4D inputs).", stacklevel=2)
    if d == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2)
    return (dropout_inplace if inplace else dropout_impl)(input, p, training, True)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs with probability p.

    >>> import tapegrad
    >>> tapegrad.nn.functional.dropout3d(tapegrad.ones(2, 1, 1, 1), training=False).shape
    tapegrad.Size([2, 1, 1, 1])
    """
    _check_p(p)
    d = input.dim()
    if d not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {d}-D input to dropout3d, which is deprecated and will result "
            "in an error in a future release. To retain the behavior and silence this warning, "
            "please use dropout instead. Note that dropout3d exists to provide channel-wise "
            "dropout on inputs with 3 spatial dimensions, a channel dimension, and an optional "
            "batch dimension (i.e. 4D or 5D inputs).", stacklevel=2)
    return _feature(input, p, training, inplace, d == 5)


# --- norms and distances --------------------------------------------------------------------------
def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,  # noqa: A002
              out: Tensor | None = None) -> Tensor:
    """input / max(||input||_p over dim, eps).

    >>> import tapegrad
    >>> tapegrad.nn.functional.normalize(tapegrad.tensor([[3., 4.]]))
    tensor([[0.6000, 0.8000]])
    """
    denom = input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)
    if out is None:
        return input / denom
    return input.div(denom, out=out)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) over dim, after broadcasting. The
    norms are clamped in place without recording it, so the gradient flows through them as if
    unclamped (PyTorch's formula).

    >>> import tapegrad
    >>> tapegrad.nn.functional.cosine_similarity(tapegrad.tensor([[1., 0.]]),
    ...                                          tapegrad.tensor([[1., 1.]]))
    tensor([0.7071])
    """
    from ._core import promote
    from .loss import broadcast_shape

    dt = promote(x1, x2)
    if dt.category != D.FLOAT:
        raise RuntimeError("expected common dtype to be floating point, yet common dtype is "
                           f"{dt._short}")
    if x1._dtype.category < D.FLOAT:
        x1 = x1.to(dt)
    if x2._dtype.category < D.FLOAT:
        x2 = x2.to(dt)
    shape = broadcast_shape(x1._data.shape, x2._data.shape)
    if x1._data.shape != shape:
        x1 = x1.expand(shape)
    if x2._data.shape != shape:
        x2 = x2.expand(shape)
    n1 = vector_norm(x1, 2, dim, True).clone()
    n2 = vector_norm(x2, 2, dim, True).clone()
    with no_grad():
        n1.clamp_min_(eps)
        n2.clamp_min_(eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


class NormBackward1(LinalgVectorNormBackward0):
    """The node of ATen's norm(x, p, dim, keepdim): vector_norm's rule under its own name."""

    __slots__ = ()


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dim (NormBackward1).

    >>> import tapegrad
    >>> tapegrad.nn.functional.pairwise_distance(tapegrad.tensor([[3., 4.]]),
    ...                                          tapegrad.zeros(1, 2), eps=0.0)
    tensor([5.])
    """
    from .loss import broadcast_shape

    broadcast_shape(x1._data.shape, x2._data.shape)  # PyTorch's message when they do not
    last = max(x1.dim(), x2.dim()) - 1
    out = vector_norm(x1 - x2 + eps, p, last, keepdim)
    if type(out._grad_fn) is LinalgVectorNormBackward0:
        out._grad_fn.__class__ = NormBackward1
    return out

"""nll_loss and cross_entropy, as PyTorch computes them.

nll_loss is a primitive over 1-d (C), 2-d (N, C) and 4-d (N, C, H, W) inputs (NllLossBackward0,
NllLoss2DBackward0); other K-d inputs (N, C, d1, ...) are viewed as 4-d and back, as in ATen's
nll_loss_nd. Its gradient is the incoming gradient times -weight[target] (over the total weight
for 'mean'), scattered into zeros at the target class along the class dim (ops/_gather.py's
scatter-add, whose reverse is a gather: the rule differentiates again; it does not depend on
the input, so the second derivative with respect to it is zero).

cross_entropy with class-index targets is nll_loss over log_softmax (LogSoftmaxBackward0 under
NllLossBackward0); with label smoothing it mixes in the smoothed term as ATen does, and with
class-probability targets (target shaped as input) it is -(log_softmax * target).sum(...).
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.graph import Node, SavedTensor
from . import _core
from ._core import _state, new_node, wrap
from ._gather import scatter_add_along
from .binary import where
from .loss import MEAN, NONE, SUM, get_reduction, no_grad_arg
from .softmax import log_softmax

__all__: list[str] = []

FUNCTIONAL = ["nll_loss", "cross_entropy"]


class NllLossBackward0(Node):
    # out = sum_i coef_i x[i, t_i] with coef = -w[t] (/ total weight for 'mean'; 0 where
    # t == ignore_index): dx = g * coef put at t along the class dim, zeros elsewhere
    __slots__ = ("index", "coef", "dim")

    def vjp(self, g):
        self.saved_tensors()  # (as PyTorch, which keeps them: their versions are checked)
        coef = self.coef.astype(g._dtype.np, copy=False)
        shape = self._in_meta[0][0]
        idx = self.index
        ga = g._data if type(g) is Tensor else None  # (None: a batch of cotangents, vmap)
        if (
            ga is not None and not _state.enabled and not _core.fw_on and len(shape) == 2
            and self.dim == 1 and ga.dtype.kind == "f" and idx.shape == (shape[0], 1)
        ):  # no graph to record: the same scatter-add into zeros, one target per row
            out = np.zeros(shape, dtype=ga.dtype)
            out[np.arange(shape[0]), idx[:, 0]] += ga * coef
            return _make(out, None, False)
        src = (g * _make(coef)).unsqueeze(self.dim)
        return scatter_add_along(None, self.dim, self.index, src, shape, unique=True)


class NllLoss2DBackward0(NllLossBackward0):
    __slots__ = ()


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _nll(input: Tensor, target: Tensor, weight, r: int, ignore_index: int,  # noqa: A002
         node_cls) -> Tensor:
    """The nll_loss / nll_loss2d kernel: class dim 1 (dim 0 for a 1-d input with a 0-d
    target); target shaped as input without the class dim."""
    if target._dtype is not D.int64 and target._dtype is not D.uint8:
        raise RuntimeError("expected target dtype to be Long or Byte, but got "
                           f"{target._dtype._short}")
    x = input._data
    if weight is not None and weight._dtype is not input._dtype:
        raise RuntimeError(f"expected scalar type {input._dtype._short} but found "
                           f"{weight._dtype._short}")
    cdim = 0 if x.ndim == 1 else 1
    c = x.shape[cdim]
    t = target._data.astype(np.int64, copy=False)
    keep = t != ignore_index
    all_kept = bool(keep.all())
    if not all_kept or (t.size and (t.min() < 0 or t.max() >= c)):
        bad = keep & ((t < 0) | (t >= c))
        if bad.any():
            raise IndexError(f"Target {int(t[bad].reshape(-1)[0])} is out of bounds.")
    ts = t.copy() if all_kept else np.where(keep, t, 0)  # (the node keeps it)
    idx = ts.reshape(ts.shape[:cdim] + (1,) + ts.shape[cdim:])  # (expand_dims at cdim)
    if x.ndim == 2:  # (one class per row: the same values take_along_axis picks)
        picked = x[np.arange(x.shape[0]), ts]
    else:
        picked = np.take_along_axis(x, idx, axis=cdim).squeeze(cdim) if x.ndim else x
    plain = weight is None and all_kept  # every weight 1: -w * picked is -picked exactly
    if plain:
        w = None
        loss = np.negative(picked)
    else:
        w = keep.astype(x.dtype) if weight is None else np.where(
            keep, weight._data[ts], 0).astype(x.dtype)
        loss = -w * picked
    total = None
    if r == NONE:
        out = loss
    else:
        out = np.asarray(loss.sum(), dtype=x.dtype)
        if r == MEAN:
            # (a sum of ones is their count, exactly, below 2**24)
            total = x.dtype.type(t.size) if plain and t.size < 1 << 24 else w.sum()
            if total:
                out = np.asarray(out / total, dtype=x.dtype)
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    out = np.asarray(out / total, dtype=x.dtype)
    node = new_node(node_cls, (input,))
    if node is not None:
        if plain:
            v = x.dtype.type(-1) / total if r == MEAN and total else -1  # (no entry if 0)
            coef = np.full(t.shape, v, x.dtype)
        else:
            coef = -w
            if r == MEAN:
                with np.errstate(invalid="ignore", divide="ignore"):
                    coef = np.where(keep, coef / total, 0)
        node.index, node.coef, node.dim = idx, coef, cdim
        node._saved = (SavedTensor(input), SavedTensor(target))
    return wrap(out, node)


def nll_loss_nd(input: Tensor, target: Tensor, weight, r: int,  # noqa: A002
                ignore_index: int) -> Tensor:
    """ATen's nll_loss_nd: the 1-d, 2-d, 4-d kernels, other K-d inputs through views."""
    nd = input.dim()
    if nd < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {nd})")
    if nd == 1 and target.dim() == 1:
        if target._data.shape[0] != 1:
            raise ValueError("For 1D input, 1D target must have size 1, but got target size: "
                             f"{target._data.shape[0]}")
        target = target.reshape(())
    if nd != 1 and (target.dim() == 0 or input._data.shape[0] != target._data.shape[0]):
        tb = target._data.shape[0] if target.dim() else 1
        raise ValueError(f"Expected input batch_size ({input._data.shape[0]}) to match target "
                         f"batch_size ({tb}).")
    c = input._data.shape[0 if nd == 1 else 1]
    no_grad_arg("nll_loss_forward" if nd <= 2 else "nll_loss2d_forward", "weight", weight)
    if nd <= 2 or nd == 4:
        _check_nll(input, target, weight, c)
        return _nll(input, target, weight, r, ignore_index,
                    NllLoss2DBackward0 if nd == 4 else NllLossBackward0)
    n = input._data.shape[0]
    out_size = (n,) + input._data.shape[2:]
    if target._data.shape[1:] != input._data.shape[2:]:
        raise RuntimeError(f"Expected target size {_shape_str(out_size)}, got "
                           f"{_shape_str(target._data.shape)}")
    if input._data.size > 0:
        x4 = input.contiguous().view(n, c, 1, -1)
    else:
        x4 = input.contiguous().view(n, c, 0, 0)
    t3 = target.contiguous().view(n, 1, -1) if target._data.size > 0 else target.view(n, 0, 0)
    _check_nll(x4, t3, weight, c)
    out = _nll(x4, t3, weight, r, ignore_index, NllLoss2DBackward0)
    return out.view(out_size) if r == NONE else out


def _check_nll(input: Tensor, target: Tensor, weight, c: int) -> None:  # noqa: A002
    """The shape checks of ATen's nll_loss_forward / nll_loss2d_forward."""
    if input.dim() == 4:
        if target.dim() != 3:
            raise RuntimeError("only batches of spatial targets supported (3D tensors) but got "
                               f"targets of dimension: {target.dim()}")
        if weight is not None and weight._data.size != c:
            raise RuntimeError("weight tensor should be defined either for all or no classes")
        xs, ts = input._data.shape, target._data.shape
        if (xs[0], xs[2], xs[3]) != ts:
            raise RuntimeError(f"size mismatch (got input: {_shape_str(xs)} , target: "
                               f"{_shape_str(ts)}")
        return
    if target.dim() > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if weight is not None and (weight.dim() != 1 or weight._data.size != c):
        raise RuntimeError(
            f"weight tensor should be defined either for all {c} classes or no classes but got "
            f"weight tensor of shape: {_shape_str(weight._data.shape)}")


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
             size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean") -> Tensor:
    """Negative log likelihood of the target classes: -input[i, target[i]] (times the class
    weight), ignoring targets equal to ignore_index; 'mean' divides by the total weight.

    >>> import tapegrad
    >>> x = tapegrad.tensor([[-1., -2.], [-3., -4.]])
    >>> tapegrad.nn.functional.nll_loss(x, tapegrad.tensor([0, 1]))
    tensor(2.5000)
    """
    r = get_reduction(size_average, reduce, reduction)
    return nll_loss_nd(input, target, weight, r, ignore_index)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy of softmax(input) over dim 1 (dim 0 for a 1-d input) against class
    indices (nll_loss of log_softmax) or class probabilities (target shaped as input), with
    optional class weights, ignore_index and label smoothing.

    >>> import tapegrad
    >>> tapegrad.nn.functional.cross_entropy(tapegrad.zeros(2, 4), tapegrad.tensor([0, 3]))
    tensor(1.3863)
    """
    r = get_reduction(size_average, reduce, reduction)
    if input._data.shape == target._data.shape:
        if target._dtype.category != D.FLOAT:
            raise RuntimeError("Expected floating point type for target with class "
                               f"probabilities, got {target._dtype._short}")
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        return _ce_probs(input, target, weight, r, label_smoothing)
    cdim = 0 if input.dim() == 1 else 1
    if label_smoothing > 0.0:
        _check_smoothing(label_smoothing)
        return _ce_smoothed(input, target, weight, r, ignore_index, label_smoothing, cdim)
    return nll_loss_nd(log_softmax(input, cdim), target, weight, r, ignore_index)


def _check_smoothing(ls: float) -> None:
    if ls > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {ls:g}")


def _weight_view(weight: Tensor, ndim: int, cdim: int) -> Tensor:
    shape = [1] * ndim
    shape[cdim] = weight._data.shape[0]
    return weight.view(*shape)


def _ce_smoothed(input, target, weight, r, ignore_index, ls, cdim) -> Tensor:  # noqa: A002
    """ATen's cross_entropy_loss_label_smoothing."""
    logp = log_softmax(input, cdim)
    nll = nll_loss_nd(logp, target, weight, r, ignore_index)
    c = input._data.shape[cdim]
    ignore = target._data == ignore_index
    if weight is not None:
        smooth = -(logp * _weight_view(weight, logp.dim(), cdim)).sum(cdim)
    else:
        smooth = -logp.sum(cdim)
    smooth = where(_make(np.broadcast_to(ignore, smooth._data.shape)), 0.0, smooth)
    if r == MEAN:
        if weight is not None:
            t = target._data[~ignore].reshape(-1)
            ret = smooth.sum() / _make(np.asarray(weight._data[t].sum()))
        else:
            ret = smooth.sum() / int((~ignore).sum())
    elif r == SUM:
        ret = smooth.sum()
    else:
        ret = smooth
    return (1 - ls) * nll + ret * (ls / c)


class DivBackward1(Node):
    """x / c for a Python number c (ATen's div.Scalar)."""

    __slots__ = ("other",)

    def vjp(self, g):
        return g / self.other


def _div_scalar(x: Tensor, c) -> Tensor:
    node = new_node(DivBackward1, (x,))
    if node is not None:
        node.other = c
    return wrap(np.asarray(x._data / c, dtype=x._data.dtype), node)


def _ce_probs(input, target, weight, r, ls) -> Tensor:  # noqa: A002
    """ATen's cross_entropy_loss_prob_target."""
    cdim = 0 if input.dim() == 1 else 1
    c = input._data.shape[cdim]
    if weight is not None and (weight.dim() != 1 or weight._data.size != c):
        raise RuntimeError(
            f"cross_entropy: weight tensor should be defined either for all {c} classes or no "
            f"classes but got weight tensor of shape: {_shape_str(weight._data.shape)}")
    logp = log_softmax(input, cdim)
    if ls > 0.0:
        _check_smoothing(ls)
        target = target * (1 - ls) + ls / c
    prod = logp * target
    if weight is not None:
        prod = prod * (_weight_view(weight, logp.dim(), cdim) if logp.dim() > 1 else weight)
    if r == MEAN:
        if input._data.size == 0:
            return -prod.sum() * float("nan")
        return _div_scalar(-prod.sum(), input._data.size // c)
    if r == SUM:
        return -prod.sum()
    return -prod.sum(cdim)

"""Losses of torch.nn.functional: regression, margin, binary-classification and embedding
losses, with PyTorch's reductions ('none' | 'mean' | 'sum') and the legacy size_average / reduce
flags (mapped to a reduction with PyTorch's deprecation warning).

Where PyTorch has a kernel of its own (mse_loss, smooth_l1_loss, huber_loss, soft_margin_loss,
binary_cross_entropy, binary_cross_entropy_with_logits) the loss is one primitive here, named as
PyTorch names its node: the elementwise loss and its reduction are one NumPy pass, and the vjp is
written in tapegrad ops, so second derivatives follow; l1_loss is a composite, as in PyTorch.
The other losses: ops/loss_more.py (kl_div, poisson / gaussian nll, the margin and embedding
losses), ops/loss_nll.py (nll_loss, cross_entropy), ops/loss_ctc.py (ctc_loss); the torch.*
spellings with ATen's signatures are in ops/nn_aten.py. The reduction helpers here serve all.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.graph import FREED, Node
from . import _core
from ._complex_util import log1p_c, refuse_complex_autograd
from ._core import _state, new_node, promote, save, wrap
from .activation import logsigmoid
from .binary import where

__all__: list[str] = []  # torch.<name> spellings (ATen signatures) are in ops/nn_aten.py

FUNCTIONAL = [
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "soft_margin_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits",
]

NONE, MEAN, SUM = 0, 1, 2  # PyTorch's Reduction enum


# --- reductions ------------------------------------------------------------------------------
def reduction_enum(reduction) -> int:
    """PyTorch's _Reduction.get_enum: the enum of a reduction string."""
    if reduction == "mean":
        return MEAN
    if reduction == "sum":
        return SUM
    if reduction == "none":
        return NONE
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' "
                      "instead.", stacklevel=4)
        return MEAN
    raise ValueError(f"{reduction} is not a valid value for reduction")


def legacy_reduction(size_average, reduce) -> str:
    """PyTorch's _Reduction.legacy_get_string, with its deprecation warning."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}'"
                  " instead.", stacklevel=4)
    return ret


def get_reduction(size_average, reduce, reduction) -> int:
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    return reduction_enum(reduction)


def apply_reduction(loss: Tensor, r: int) -> Tensor:
    return loss.mean() if r == MEAN else loss.sum() if r == SUM else loss


_add_reduce = np.add.reduce


def _reduce_np(a: np.ndarray, r: int) -> np.ndarray:
    if r == MEAN:
        n = a.size
        if n and a.dtype.itemsize >= 4:  # float32 / float64: PyTorch's sum, then / numel
            # (a division in the dtype itself, one rounding, as PyTorch's sum().div_(numel))
            return np.asarray(_add_reduce(a, None) / n, dtype=a.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(a.mean() if n else np.nan, dtype=a.dtype)
    if r == SUM:
        return np.asarray(_add_reduce(a, None), dtype=a.dtype)
    return a


def no_grad_arg(fn: str, arg: str, t) -> None:
    """PyTorch refuses, at the call, an argument its op does not differentiate."""
    if isinstance(t, Tensor) and t._requires_grad and _state.enabled:
        raise RuntimeError(f"The function '{fn}' is not differentiable with respect to argument "
                           f"'{arg}'. This input cannot have requires_grad True.")


def broadcast_shape(*shapes) -> tuple:
    """The broadcast shape, or PyTorch's message when the shapes do not broadcast."""
    acc = tuple(shapes[0])
    for sh in shapes[1:]:
        n = max(len(acc), len(sh))
        pa, pb = (1,) * (n - len(acc)) + acc, (1,) * (n - len(sh)) + tuple(sh)
        for i in range(n - 1, -1, -1):
            if pa[i] != pb[i] and pa[i] != 1 and pb[i] != 1:
                raise RuntimeError(f"The size of tensor a ({pa[i]}) must match the size of tensor "
                                   f"b ({pb[i]}) at non-singleton dimension {i}")
        acc = tuple(b if a == 1 else a for a, b in zip(pa, pb))
    return acc


def _warn_target_size(input: Tensor, target: Tensor) -> None:  # noqa: A002
    if input._data.shape != target._data.shape:
        warnings.warn(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.", stacklevel=3)


def _weighted(loss: Tensor, input: Tensor, weight, r_name, plain_mean=False) -> Tensor:  # noqa: A002
    """PyTorch's Python-level weighted mse / l1 / huber: 'mean' divides by the weights' sum
    (huber: by the number of elements)."""
    if weight._data.shape != input._data.shape:
        raise ValueError("Weights and input must have the same size.")
    w = loss * weight
    if r_name == "none":
        return w
    if r_name == "sum":
        return w.sum()
    if r_name == "mean":
        return w.mean() if plain_mean else w.sum() / weight.sum()
    raise ValueError(f"Invalid reduction mode: {r_name}. Expected one of 'none', 'mean', 'sum'.")


# --- elementwise-loss primitives ---------------------------------------------------------------
class _PairLoss(Node):
    """loss(x, y) reduced; vjp: g * dloss/dx (divided by numel for 'mean'), -that for y.
    Subclasses give `slope(x, y, param)` = dloss/dx in tapegrad ops."""

    __slots__ = ("reduction", "param", "numel")

    @staticmethod
    def slope(x, y, param):  # pragma: no cover - every subclass sets it
        raise NotImplementedError

    def vjp(self, g):
        x, y = self.saved_tensors()
        if self.reduction == MEAN:
            g = g / self.numel
        gx = g * self.slope(x, y, self.param)
        return (gx if self._next[0][0] is not None else None,
                -gx if self._next[1][0] is not None else None)


class MseLossBackward0(_PairLoss):
    # PyTorch's kernel: gx = norm * (x - y) * g, norm = 2 / numel for 'mean' and 2 otherwise,
    # rounded to the dtype first; gy = -gx (norm * (y - x) * g, the same up to the sign)
    __slots__ = ()

    @staticmethod
    def slope(x, y, param):
        return (x - y) * 2.0

    def vjp(self, g):
        saved = self._saved
        if saved is FREED:
            self.saved_tensors()  # raises PyTorch's message
        x, y = saved[0].unpack(self), saved[1].unpack(self)  # (saved_tensors(), unrolled)
        norm = 2.0 / self.numel if self.reduction == MEAN else 2.0
        need_x, need_y = self._next[0][0] is not None, self._next[1][0] is not None
        xa, ya = x._data, y._data
        ga = g._data if type(g) is Tensor else None  # (None: a batch of cotangents, vmap)
        dt = xa.dtype
        if (
            ga is not None and ga.dtype == dt
            and not _state.enabled and not _core.fw_on and ya.dtype == dt
            and dt.kind == "f" and dt.itemsize >= 4
        ):  # no graph to record: the same arithmetic in NumPy, in one buffer
            d = xa - ya
            np.multiply(d, norm, out=d)  # (a Python float: rounded to the dtype, as ATen's)
            if ga.shape == d.shape or not ga.ndim:
                np.multiply(d, ga, out=d)
            else:
                d = d * ga
            gx = _core._make(d, None, False)
            return (gx if need_x else None,
                    _core._make(np.negative(d), None, False) if need_y else None)
        gx = (x - y) * norm * g
        return gx if need_x else None, -gx if need_y else None


class SmoothL1LossBackward0(_PairLoss):
    # d/dd = d / beta inside |d| < beta, sign(d) outside (both +-1 at |d| == beta)
    __slots__ = ()

    @staticmethod
    def slope(x, y, beta):
        d = x - y
        return where(d.abs() < beta, d / beta, d.sign())


class HuberLossBackward0(_PairLoss):
    # d/dd = d inside |d| <= delta, delta * sign(d) outside
    __slots__ = ()

    @staticmethod
    def slope(x, y, delta):
        d = x - y
        return where(d.abs() <= delta, d, d.sign() * delta)


def _smooth_l1_np(d, beta):
    ad = np.abs(d)
    return np.where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta)


def _huber_np(d, delta):
    ad = np.abs(d)
    return np.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))


def _pair_loss(node_cls, kernel, input, target, r, np_fn, param, dt=None):  # noqa: A002
    """The primitive loss np_fn(input - target, param) reduced by r, in dtype dt (default: the
    promoted dtype), recorded as node_cls."""
    if dt is None:
        dt = input._dtype if input._dtype is target._dtype else promote(input, target)
    if dt.category != D.FLOAT:
        raise NotImplementedError(f'"{kernel}" not implemented for \'{dt._short}\'')
    xa, ya = input._data, target._data
    shape = xa.shape if xa.shape == ya.shape else broadcast_shape(xa.shape, ya.shape)
    npd = dt.np
    d = (xa.astype(npd, copy=False) - ya.astype(npd, copy=False))
    out = _reduce_np(np.asarray(np_fn(d, param), dtype=npd), r)
    node = new_node(node_cls, (input, target))
    if node is not None:
        node.reduction, node.param, node.numel = r, param, max(math.prod(shape), 1)
        save(node, input, target)
    return wrap(out, node)


def _square(d, _):
    # d is the fresh difference array (a NumPy scalar for 0-d operands)
    return np.multiply(d, d, out=d) if type(d) is np.ndarray else d * d


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error (MseLossBackward0).

    >>> import tapegrad
    >>> tapegrad.nn.functional.mse_loss(tapegrad.tensor([1., 2.]), tapegrad.tensor([0., 0.]))
    tensor(2.5000)
    """
    _warn_target_size(input, target)
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    if weight is not None:
        shape = broadcast_shape(input._data.shape, target._data.shape)
        return _weighted((input.expand(shape) - target.expand(shape)).pow(2), input, weight,
                         reduction)
    return _pair_loss(MseLossBackward0, "mse_cpu", input, target, reduction_enum(reduction),
                      _square, None)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean absolute error: |input - target| reduced (a composite, as in PyTorch).

    >>> import tapegrad
    >>> tapegrad.nn.functional.l1_loss(tapegrad.tensor([1., -3.]), tapegrad.tensor([0., 0.]))
    tensor(2.)
    """
    _warn_target_size(input, target)
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    shape = broadcast_shape(input._data.shape, target._data.shape)
    if input._data.shape != shape:
        input = input.expand(shape)  # noqa: A001
    if target._data.shape != shape:
        target = target.expand(shape)
    if weight is not None:
        return _weighted((input - target).abs(), input, weight, reduction)
    r = reduction_enum(reduction)
    if r != NONE and input._dtype.category < D.FLOAT and target._dtype.category < D.FLOAT:
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {promote(input, target)._short}")
    return apply_reduction((input - target).abs(), r)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (SmoothL1LossBackward0);
    beta == 0 is l1_loss.

    >>> import tapegrad
    >>> tapegrad.nn.functional.smooth_l1_loss(tapegrad.tensor([0.5, 3.]), tapegrad.zeros(2))
    tensor(1.3125)
    """
    _warn_target_size(input, target)
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    if beta == 0.0:
        return l1_loss(input, target, reduction=reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    return _pair_loss(SmoothL1LossBackward0, "smooth_l1_cpu", input, target,
                      reduction_enum(reduction), _smooth_l1_np, float(beta))


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0, weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere (HuberLossBackward0). The
    result has input's dtype, as PyTorch's.

    >>> import tapegrad
    >>> tapegrad.nn.functional.huber_loss(tapegrad.tensor([0.5, 3.]), tapegrad.zeros(2))
    tensor(1.3125)
    """
    _warn_target_size(input, target)
    if weight is None:
        r = reduction_enum(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    dt = input._dtype if input._dtype.category >= D.FLOAT else promote(input, target)
    if weight is not None:
        loss = _pair_loss(HuberLossBackward0, "huber_cpu", input, target, NONE, _huber_np,
                          float(delta), dt)
        return _weighted(loss, input, weight, reduction, True)
    return _pair_loss(HuberLossBackward0, "huber_cpu", input, target, r, _huber_np,
                      float(delta), dt)


class SoftMarginLossBackward0(Node):
    # loss = log(1 + exp(-y x)); d/dx = -y exp(-y x) / (1 + exp(-y x)) = -y sigmoid(-y x);
    # holomorphic in a complex x, whose gradient is then g conj(d/dx)
    __slots__ = ("reduction", "numel")

    def vjp(self, g):
        x, y = self.saved_tensors()
        if self.reduction == MEAN:
            g = g / self.numel
        if x._dtype.is_complex:
            return (-y * (-y * x).sigmoid()).conj() * g, None
        return -y * (-y * x).sigmoid() * g, None

    jvp_complex = True  # (the jvp below holds for real and complex x alike)

    def jvp(self, tx, ty):
        # d loss = tx (-y sigmoid(-y x)), reduced as the loss; the target takes no tangent, as
        # its gradient is none
        x, y = self.saved_tensors()
        r = -y * (-y * x).sigmoid()
        r = r * tx if tx is not None else r.new_zeros(r.shape)
        if self.reduction == NONE:
            return r
        r = r.sum()
        return r / self.numel if self.reduction == MEAN else r


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-target * input)) reduced (SoftMarginLossBackward0); result in input's dtype.

    >>> import tapegrad
    >>> tapegrad.nn.functional.soft_margin_loss(tapegrad.tensor([0.]), tapegrad.tensor([1.]))
    tensor(0.6931)
    """
    r = get_reduction(size_average, reduce, reduction)
    no_grad_arg("soft_margin_loss", "target", target)
    shape = broadcast_shape(input._data.shape, target._data.shape)
    dt = input._dtype
    if dt.category != D.FLOAT or target._dtype.category == D.COMPLEX:
        _soft_margin_types(input, target)
    x = input._data
    y = target._data.astype(dt.np, copy=False)
    with np.errstate(over="ignore"):
        if dt.category == D.COMPLEX:
            out = _reduce_np(log1p_c(np.exp(-y * x)), r)
        else:
            out = _reduce_np(np.log1p(np.exp(-y * x)).astype(dt.np, copy=False), r)
    if dt.category == D.COMPLEX:
        refuse_complex_autograd("soft_margin_loss", input)
    node = new_node(SoftMarginLossBackward0, (input, target))
    if node is not None:
        node.reduction, node.numel = r, max(math.prod(shape), 1)
        save(node, input, target)
    return wrap(out, node)


def _soft_margin_types(input: Tensor, target: Tensor) -> None:  # noqa: A002
    """PyTorch's errors for input / target dtypes soft_margin_loss cannot take: its kernel
    writes -input * target, then exp, into a tensor of input's dtype, so the promoted type (the
    default float dtype where exp leaves integers) must cast to input's; a complex input takes
    any target."""
    dt = input._dtype
    if dt.category == D.COMPLEX:
        return
    if dt is D.bool:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If "
                           "you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    rt = promote(input, target)
    if rt.category < D.FLOAT:
        rt = D.get_default_dtype()
    if not D.can_cast(rt, dt):
        raise RuntimeError(f"result type {rt._short} can't be cast to the desired output type "
                           f"{dt._short}")


# --- binary cross entropy ----------------------------------------------------------------------
class BinaryCrossEntropyBackward0(Node):
    # loss = -w (t log x + (1 - t) log(1 - x)) with both logs clamped at -100 (PyTorch);
    # d/dx = w (x - t) / max(x (1 - x), eps), d/dt = -w logit(x) (PyTorch's target backward),
    # eps = 1e-12 rounded to float32 as PyTorch's EPSILON
    __slots__ = ("reduction", "numel")

    def vjp(self, g):
        x, t, w = self.saved_tensors()
        if self.reduction == MEAN:
            g = g / self.numel
        if w is not None:
            g = g * w
        gx = gt = None
        if self._next[0][0] is not None:
            gx = g * (x - t) / ((1.0 - x) * x).clamp_min(_BCE_EPS)
        if self._next[1][0] is not None:
            gt = -g * x.logit()
        return gx, gt


_BCE_EPS = float(np.float32(1e-12))


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """-(t log x + (1 - t) log(1 - x)) for probabilities x, logs clamped at -100
    (BinaryCrossEntropyBackward0).

    >>> import tapegrad
    >>> tapegrad.nn.functional.binary_cross_entropy(tapegrad.tensor([0.5]), tapegrad.ones(1))
    tensor(0.6931)
    """
    r = get_reduction(size_average, reduce, reduction)
    if target._data.shape != input._data.shape:
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}) is deprecated. Please ensure they have the same size.")
    shape = input._data.shape
    if weight is not None:
        bshape = _broadcast_to_target(weight, shape)
        no_grad_arg("binary_cross_entropy", "weight", weight)
        if bshape != tuple(weight.shape):
            weight = weight.expand(bshape)
    dt = input._dtype
    if dt.category != D.FLOAT:
        raise NotImplementedError(f'"binary_cross_entropy" not implemented for \'{dt._short}\'')
    for t in (target, weight):
        if t is not None and t._dtype is not dt:
            raise RuntimeError(f"Found dtype {t._dtype._cname.capitalize()} but expected "
                               f"{dt._cname.capitalize()}")
    x, t = input._data, target._data
    if np.any((x < 0) | (x > 1)):
        raise RuntimeError("all elements of input should be between 0 and 1")
    if np.any((t < 0) | (t > 1)):
        raise RuntimeError("all elements of target should be between 0 and 1")
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = (t - 1) * np.maximum(np.log1p(-x), -100.0) - t * np.maximum(np.log(x), -100.0)
    if weight is not None:
        loss = loss * weight._data
    out = _reduce_np(np.asarray(loss, dtype=dt.np), r)
    node = new_node(BinaryCrossEntropyBackward0, (input, target))
    if node is not None:
        node.reduction, node.numel = r, max(x.size, 1)
        save(node, input, target, weight)
    return wrap(out, node)


def _broadcast_to_target(weight: Tensor, shape: tuple) -> tuple:
    """torch.broadcast_shapes(target.size(), weight.size()), with its message."""
    ws = weight._data.shape
    n = max(len(ws), len(shape))
    pw, pt = (1,) * (n - len(ws)) + ws, (1,) * (n - len(shape)) + tuple(shape)
    for i in range(n - 1, -1, -1):
        if pw[i] != pt[i] and pw[i] != 1 and pt[i] != 1:
            raise RuntimeError(
                f"Attempting to broadcast a dimension of length {pw[i]} at {i - n}! Mismatching "
                f"argument at index 1 had {weight.size()}; but expected shape should be "
                f"broadcastable to [{', '.join(str(s) for s in shape)}]")
    return tuple(max(a, b) for a, b in zip(pw, pt))


class BinaryCrossEntropyWithLogitsBackward0(Node):
    # loss = (1 - t) x - (1 + (pw - 1) t) logsigmoid(x), times w
    # d/dx = ((pw t + 1 - t) sigmoid(x) - pw t) w (pw = 1: sigmoid(x) - t)
    # d/dt = (logsigmoid(-x) - pw logsigmoid(x)) w (pw = 1: -x)
    __slots__ = ("reduction", "numel")

    def vjp(self, g):
        x, t, w, pw = self.saved_tensors()
        if self.reduction == MEAN:
            g = g / self.numel
        if w is not None:
            g = g * w
        gx = gt = None
        if self._next[0][0] is not None:
            if pw is None:
                gx = g * (x.sigmoid() - t)
            else:
                pt = pw * t
                gx = g * ((pt + 1.0 - t) * x.sigmoid() - pt)
        if self._next[1][0] is not None:
            if pw is None:
                gt = -x * g
            else:
                gt = g * (logsigmoid(-x) - logsigmoid(x) * pw)
        return gx, gt


def _logsigmoid_np(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross entropy of sigmoid(input), computed stably from the logits, with optional
    per-element weight and positive-class weight (BinaryCrossEntropyWithLogitsBackward0).

    >>> import tapegrad
    >>> tapegrad.nn.functional.binary_cross_entropy_with_logits(tapegrad.zeros(1), tapegrad.ones(1))
    tensor(0.6931)
    """
    r = get_reduction(size_average, reduce, reduction)
    if target._data.shape != input._data.shape:
        raise ValueError(f"Target size ({target.size()}) must be the same as input size "
                         f"({input.size()})")
    return _bce_logits(input, target, weight, pos_weight, r)


def _bce_logits(input, target, weight, pos_weight, r) -> Tensor:  # noqa: A002
    if input._dtype.category != D.FLOAT:
        raise NotImplementedError(f'"log_sigmoid_cpu" not implemented for '
                                  f"'{input._dtype._short}'")
    no_grad_arg("binary_cross_entropy_with_logits", "weight", weight)
    no_grad_arg("binary_cross_entropy_with_logits", "pos_weight", pos_weight)
    # the loss is computed into (1 - target): its dtype is the result's (PyTorch's in-place ops)
    dt = target._dtype
    if dt.category != D.FLOAT:
        raise RuntimeError(f"result type {D.get_default_dtype()._short} can't be cast to the "
                           f"desired output type {dt._short}")
    x, t = input._data, target._data
    shapes = [o._data.shape for o in (pos_weight, target, input, weight) if o is not None]
    shape = broadcast_shape(*shapes)
    ls = _logsigmoid_np(x)
    if pos_weight is not None:
        ls = ls * ((pos_weight._data - 1) * t + 1)
    loss = (1 - t) * x - ls
    if weight is not None:
        loss = loss * weight._data
    out = _reduce_np(np.asarray(loss, dtype=dt.np), r)
    node = new_node(BinaryCrossEntropyWithLogitsBackward0, (input, target))
    if node is not None:
        node.reduction, node.numel = r, max(math.prod(shape), 1)
        save(node, input, target, weight, pos_weight)
    return wrap(out, node)

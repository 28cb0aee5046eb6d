"""The piecewise-linear activations: hardtanh, relu6, leaky_relu, rrelu, threshold,
hardsigmoid, hardswish, softshrink, hardshrink, prelu. Exported through ops/activation.py.

Their gradients at the kinks follow PyTorch's kernels exactly (each rule states its
convention); a nan input takes the branch its comparisons send it to, as in PyTorch. Their
second derivatives are zero (except hardswish's, 1/3 inside (-3, 3)).
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.graph import Node
from ._activation_base import act_node, compute, derivative_op, float_input, record, scalar
from ._activation_base import inplace as _inplace
from ._core import as_tensor_arg, new_node, save, wrap

__all__: list[str] = []  # exported by ops/activation.py


# --- hardtanh, relu6 -------------------------------------------------------------------------
# f = clamp(x, min_val, max_val); f' = 1 strictly inside (min_val, max_val), 0 at and beyond
# the edges (relu6'(0) = relu6'(6) = 0); nan passes the gradient through.
def _hardtanh_np(a, lo, hi):
    return np.minimum(np.maximum(a, lo), hi)


def _hardtanh_d_np(g, x, lo, hi):
    return np.where((x <= lo) | (x >= hi), 0.0, g)


hardtanh_backward = derivative_op("HardtanhBackwardBackward0", _hardtanh_d_np)
HardtanhBackward0 = act_node("HardtanhBackward0", hardtanh_backward, ("min_val", "max_val"))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,  # noqa: A002
             inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]; integer inputs keep their dtype.

    >>> import tapegrad
    >>> tapegrad.nn.functional.hardtanh(tapegrad.tensor([-2., 0.5, 2.]))
    tensor([-1.0000,  0.5000,  1.0000])
    """
    min_val, max_val = scalar(min_val), scalar(max_val)
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if inplace:
        return _inplace(hardtanh, input, min_val, max_val)
    x = as_tensor_arg(input)
    cat = x._dtype.category
    if cat == D.BOOL:
        raise RuntimeError("Bool inputs not supported for hardtanh")
    if cat == D.INT:  # the bounds are converted to the integer type (truncated), as PyTorch
        a = x._data
        if a.dtype == np.uint8 and min_val < 0:
            raise RuntimeError("cannot do hardtanh on an unsigned type with negative limits")
        info = np.iinfo(a.dtype)
        lo = min(max(int(min_val), info.min), info.max)
        hi = min(max(int(max_val), info.min), info.max)
        return _make(_hardtanh_np(a, lo, hi).astype(a.dtype))
    if cat == D.COMPLEX:
        raise NotImplementedError("clamp is not supported for complex types")
    x = float_input(x, "hardtanh_cpu")
    params = (min_val, max_val)
    return record(x, compute(_hardtanh_np, x._data, *params), HardtanhBackward0, params)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002
    """In-place hardtanh."""
    return hardtanh(input, min_val, max_val, True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """min(max(x, 0), 6): hardtanh(x, 0, 6), recorded as HardtanhBackward0 like PyTorch.

    >>> import tapegrad
    >>> tapegrad.nn.functional.relu6(tapegrad.tensor([-1., 3., 9.]))
    tensor([0., 3., 6.])
    """
    return hardtanh(input, 0.0, 6.0, inplace)


# --- leaky_relu, rrelu -----------------------------------------------------------------------
# f = x for x > 0, slope x otherwise; f' = 1 for x > 0 and slope at x <= 0 (leaky_relu'(0) =
# slope) and at nan.
def _leaky_np(a, slope):
    return np.where(a > 0, a, a * slope)


def _leaky_d_np(g, x, slope):
    return np.where(x > 0, g, g * slope)


leaky_relu_backward = derivative_op("LeakyReluBackwardBackward0", _leaky_d_np)
LeakyReluBackward0 = act_node("LeakyReluBackward0", leaky_relu_backward, ("negative_slope",))


def leaky_relu(input: Tensor, negative_slope: float = 0.01,  # noqa: A002
               inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise.

    >>> import tapegrad
    >>> tapegrad.nn.functional.leaky_relu(tapegrad.tensor([-1., 2.]), 0.1)
    tensor([-0.1000,  2.0000])
    """
    if inplace:
        return _inplace(leaky_relu, input, negative_slope)
    x = float_input(input, "leaky_relu_cpu")
    slope = scalar(negative_slope)
    return record(x, compute(_leaky_np, x._data, slope), LeakyReluBackward0, (slope,))


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """In-place leaky_relu."""
    return _inplace(leaky_relu, input, negative_slope)


# rrelu: in evaluation mode leaky_relu with slope (lower + upper) / 2; in training mode each
# x <= 0 is multiplied by its own slope drawn from U(lower, upper) (the "noise", 1 for x > 0),
# and the gradient is g * noise. The slopes are PyTorch's: one double uniform per x <= 0, in
# order, from the same generator stream (tapegrad's Generator reproduces PyTorch's).
def _rrelu_d_np(g, x, lower, upper, training, noise):
    if training:
        return g * noise._data
    return _leaky_d_np(g, x, (lower + upper) / 2)


rrelu_with_noise_backward = derivative_op("RreluWithNoiseBackwardBackward0", _rrelu_d_np)
RreluWithNoiseBackward0 = act_node("RreluWithNoiseBackward0", rrelu_with_noise_backward,
                                   ("lower", "upper", "training", "noise"))


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,  # noqa: A002
          training: bool = False, inplace: bool = False, *, generator=None) -> Tensor:
    """Randomized leaky ReLU; with training=False, leaky_relu(x, (lower + upper) / 2).

    >>> import tapegrad
    >>> tapegrad.rrelu(tapegrad.tensor([-1., 2.]), 0.1, 0.3)
    tensor([-0.2000,  2.0000])
    """
    lower, upper = scalar(lower), scalar(upper)
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    if inplace:
        return rrelu_(input, lower, upper, training, generator=generator)
    if not training:
        x = float_input(input, "leaky_relu_cpu")
        params = (lower, upper, False, None)
        r = compute(_leaky_np, x._data, (lower + upper) / 2)
        return record(x, r, RreluWithNoiseBackward0, params)
    x = float_input(input, "rrelu_with_noise_out_cpu")
    a = x._data
    if a.dtype == np.float16:  # PyTorch's CPU kernel has no Half version
        raise NotImplementedError("\"rrelu_with_noise_out_cpu\" not implemented for 'Half'")
    noise = _rrelu_noise(a, lower, upper, generator)
    params = (lower, upper, True, _make(noise))
    out = a * noise
    return record(x, out, RreluWithNoiseBackward0, params)


def _rrelu_noise(a, lower, upper, generator):
    from .._random import _gen

    neg = (a <= 0).ravel()
    u = _gen(generator)._uniform(int(neg.sum()), D.float64)
    # PyTorch's kernel first converts the bounds to the math type (float for float32), then
    # computes x (to - from) + from in double, unfused
    lo, hi = float(a.dtype.type(lower)), float(a.dtype.type(upper))
    slopes = u * (hi - lo) + lo
    noise = np.ones(a.size, a.dtype)
    noise[neg] = slopes  # rounded to the input's type
    return noise.reshape(a.shape)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,  # noqa: A002
           training: bool = False, *, generator=None) -> Tensor:
    """In-place rrelu."""

    def fn(x, lo, hi, tr):
        return rrelu(x, lo, hi, tr, generator=generator)

    return _inplace(fn, input, lower, upper, training)


# --- threshold -------------------------------------------------------------------------------
# f = value where x <= threshold, else x; f' = 0 where x <= threshold (at the threshold too),
# else 1 (nan included). Integer inputs compare against the threshold converted to their type.
def _threshold_d_np(g, x, th):
    return np.where(x <= th, 0.0, g)


threshold_backward = derivative_op("ThresholdBackwardBackward0", _threshold_d_np)
ThresholdBackward0 = act_node("ThresholdBackward0", threshold_backward, ("threshold",))


def threshold(input: Tensor, threshold: float, value: float,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """value where x <= threshold, x elsewhere.

    >>> import tapegrad
    >>> tapegrad.threshold(tapegrad.tensor([0.5, 1., 2.]), 1., -1.)
    tensor([-1., -1.,  2.])
    """
    if inplace:
        return _inplace(_threshold_fn, input, threshold, value)
    return _threshold_fn(input, threshold, value)


def _threshold_fn(input, th, value):  # noqa: A002
    x = as_tensor_arg(input)
    th, value = scalar(th), scalar(value)
    a = x._data
    cat = x._dtype.category
    if cat == D.BOOL or cat == D.COMPLEX:
        raise NotImplementedError(f"\"threshold_cpu\" not implemented for '{x._dtype._short}'")
    if cat == D.INT:
        return _make(np.where(a <= int(th), int(value), a).astype(a.dtype))
    # comparisons and selection only: computed in the input's own dtype (float16 included)
    r = np.where(a <= th, value, a).astype(a.dtype)
    return record(x, r, ThresholdBackward0, (th,))


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:  # noqa: A002
    """In-place threshold."""
    return _inplace(_threshold_fn, input, threshold, value)


# --- hardsigmoid, hardswish ------------------------------------------------------------------
# hardsigmoid = min(max(x + 3, 0), 6) / 6; f' = 1/6 strictly inside (-3, 3), else 0 (nan: 0).
# PyTorch's kernel multiplies by the float constant 1.0f / 6 whatever the dtype, so a double
# gradient is 0.1666666716337204 rather than 1/6; so is ours.
_ONE_SIXTH_F = float(np.float32(1.0) / np.float32(6.0))


def _hardsigmoid_np(a):
    return np.minimum(np.maximum(a + 3.0, 0.0), 6.0) / 6.0


def _hardsigmoid_d_np(g, x):
    return np.where((x > -3.0) & (x < 3.0), g * _ONE_SIXTH_F, 0.0)


# PyTorch gives hardsigmoid_backward no derivative (its double backward raises); the exact
# second derivative is zero, which is what ours returns.
hardsigmoid_backward = derivative_op("HardsigmoidBackwardBackward0", _hardsigmoid_d_np)
HardsigmoidBackward0 = act_node("HardsigmoidBackward0", hardsigmoid_backward)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """Piecewise-linear sigmoid: min(max(x + 3, 0), 6) / 6.

    >>> import tapegrad
    >>> tapegrad.nn.functional.hardsigmoid(tapegrad.tensor([-4., 0., 4.]))
    tensor([0.0000, 0.5000, 1.0000])
    """
    if inplace:
        return _inplace(hardsigmoid, input)
    x = float_input(input, "hardsigmoid_cpu")
    return record(x, compute(_hardsigmoid_np, x._data), HardsigmoidBackward0, ())


# hardswish = x min(max(x + 3, 0), 6) / 6; f' = 0 for x <= -3, x / 3 + 1/2 for -3 < x < 3,
# 1 for x >= 3 (and for nan); f'' = 1/3 strictly inside (-3, 3), else 0.
def _hardswish_np(a):
    return a * np.minimum(np.maximum(a + 3.0, 0.0), 6.0) / 6.0


def _hardswish_d_np(g, x):
    return np.where(x <= -3.0, 0.0, np.where(x < 3.0, g * (x / 3.0 + 0.5), g))


def _hardswish_second(x):
    return ((x > -3.0) & (x < 3.0)).to(x.dtype) * (1.0 / 3.0)


hardswish_backward = derivative_op("HardswishBackwardBackward0", _hardswish_d_np,
                                   _hardswish_second)
HardswishBackward0 = act_node("HardswishBackward0", hardswish_backward)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * hardsigmoid(x).

    >>> import tapegrad
    >>> tapegrad.nn.functional.hardswish(tapegrad.tensor([-4., 1., 4.]))
    tensor([-0.0000, 0.6667, 4.0000])
    """
    if inplace:
        return _inplace(hardswish, input)
    x = float_input(input, "hardswish_cpu")
    return record(x, compute(_hardswish_np, x._data), HardswishBackward0, ())


# --- softshrink, hardshrink ------------------------------------------------------------------
# softshrink = x - lambd for x > lambd, x + lambd for x < -lambd, else 0 (x * 0: signed zero
# and nan kept); hardshrink = x outside [-lambd, lambd], else 0. Both: f' = 0 on the closed
# interval [-lambd, lambd] (the edges included), 1 outside it and at nan.
def _softshrink_np(a, lambd):
    return np.where(a > lambd, a - lambd, np.where(a < -lambd, a + lambd, a * 0.0))


def _shrink_d_np(g, x, lambd):
    return np.where((x >= -lambd) & (x <= lambd), 0.0, g)


softshrink_backward = derivative_op("SoftshrinkBackwardBackward0", _shrink_d_np)
SoftshrinkBackward0 = act_node("SoftshrinkBackward0", softshrink_backward, ("lambd",))


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """Soft shrinkage: moves x towards 0 by lambd, zero inside [-lambd, lambd].

    >>> import tapegrad
    >>> tapegrad.nn.functional.softshrink(tapegrad.tensor([-1., 0.2, 1.]))
    tensor([-0.5000,  0.0000,  0.5000])
    """
    x = float_input(input, "softshrink_check")
    lambd = scalar(lambd)
    top = float(np.finfo(x._data.dtype).max)
    if not 0 <= lambd <= top:
        raise RuntimeError(
            f"lambda must be in range [0, {top:g}] for input dtype {x._dtype._short}, but "
            f"found {lambd:g}"
        )
    return record(x, compute(_softshrink_np, x._data, lambd), SoftshrinkBackward0, (lambd,))


def _hardshrink_np(a, lambd):
    return np.where((a >= -lambd) & (a <= lambd), 0.0, a)


hardshrink_backward = derivative_op("HardshrinkBackwardBackward0", _shrink_d_np)
HardshrinkBackward0 = act_node("HardshrinkBackward0", hardshrink_backward, ("lambd",))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """Hard shrinkage: x outside [-lambd, lambd], zero inside.

    >>> import tapegrad
    >>> tapegrad.hardshrink(tapegrad.tensor([-1., 0.2, 1.]))
    tensor([-1.,  0.,  1.])
    """
    x = float_input(input, "hardshrink_cpu")
    lambd = scalar(lambd)
    return record(x, compute(_hardshrink_np, x._data, lambd), HardshrinkBackward0, (lambd,))


# --- prelu -----------------------------------------------------------------------------------
# f = x for x > 0, w x otherwise, w one weight or one per channel (dim 1). Like leaky_relu,
# f'(0) = w. dx = g (x > 0) + g w (x <= 0); dw = sum of g x over x <= 0 and over all dims but
# the channel one. Written in tapegrad ops, so its double backward follows.
class PreluKernelBackward0(Node):
    __slots__ = ("view",)  # the shape w takes to broadcast against x

    def vjp(self, g):
        from .binary import where

        x, w = self.saved_tensors()
        nx, nw = self._next
        pos = x > 0
        grad_x = grad_w = None
        if nx[0] is not None:
            grad_x = where(pos, g, g * w.reshape(self.view))
        if nw[0] is not None:
            gw = where(pos, 0.0, g * x)
            dims = tuple(i for i in range(x.dim()) if not (i == 1 and w.numel() > 1))
            if dims:
                gw = gw.sum(dims)
            grad_w = gw.reshape(w.shape)
        return grad_x, grad_w


def prelu(input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002
    """x for x > 0, weight * x otherwise; weight has one value or one per channel (dim 1).

    >>> import tapegrad
    >>> tapegrad.prelu(tapegrad.tensor([-1., 2.]), tapegrad.tensor([0.25]))
    tensor([-0.2500,  2.0000])
    """
    if not isinstance(weight, Tensor):
        raise TypeError(
            f"prelu(): argument 'weight' (position 2) must be Tensor, not {type(weight).__name__}"
        )
    x = as_tensor_arg(input)
    if x._dtype is not weight._dtype:
        raise RuntimeError(
            f"prelu: Type promoting not supported. Got {x._dtype._short} and "
            f"{weight._dtype._short}"
        )
    a, wa = x._data, weight._data
    if wa.size != 1:
        if a.ndim == 0:
            raise RuntimeError("Not allow zero-dim input tensor.")
        if wa.ndim > 1:
            raise RuntimeError(
                f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {wa.ndim}"
            )
        channels = a.shape[1] if a.ndim >= 2 else 1
        if wa.size != channels:
            raise RuntimeError(
                "Mismatch of parameter numbers and input channel size. Found parameter numbers "
                f"= {wa.size} and channel size = {channels}."
            )
        view = (1, wa.size) + (1,) * (a.ndim - 2)
    else:
        view = ()
    float_input(x, "prelu_cpu")
    r = compute(lambda arr: np.where(arr > 0, arr, arr * wa.reshape(view)), a)
    node = new_node(PreluKernelBackward0, (x, weight))
    res = wrap(r, node)
    if node is not None:
        node.view = view
        save(node, x, weight)
    return res


# --- relu_ -----------------------------------------------------------------------------------
def relu_(input: Tensor) -> Tensor:  # noqa: A002
    """In-place relu (relu'(0) = 0)."""
    from .inplace import INPLACE

    return INPLACE["relu_"](input)

"""Activation functions, as torch.nn.functional has them, with PyTorch's node names.

The smooth ones live here (gelu, silu, mish, softplus, elu / selu / celu, logsigmoid, glu and
the composites softsign, tanhshrink, softmin); the piecewise-linear ones (hardtanh, relu6,
leaky_relu, rrelu, threshold, hardsigmoid, hardswish, softshrink, hardshrink, prelu) in
ops/_activation_linear.py. Each elementwise one is a primitive with a fused derivative op; see
ops/_activation_base.py for the pattern. Formulas and their boundary conventions follow
PyTorch's CPU kernels, noted at each.

`__all__` holds the names PyTorch also has at top level (torch.selu, torch.celu, ...);
`FUNCTIONAL` lists every name torch.nn.functional takes from here.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .._tensor import Tensor, _make, _wrap_dim
from ..autograd.graph import Node, SavedTensor
from ._activation_base import (
    act_node,
    complex_act_node,
    compute,
    derivative_op,
    float_input,
    record,
    scalar,
)
from ._activation_base import inplace as _inplace
from ._activation_linear import (  # noqa: F401 - re-exported (FUNCTIONAL)
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    hardtanh_,
    leaky_relu,
    leaky_relu_,
    prelu,
    relu6,
    relu_,
    rrelu,
    rrelu_,
    softshrink,
    threshold,
    threshold_,
)
from ._complex_util import refuse_complex_autograd
from ._core import as_tensor_arg, batched_cotangent, new_node, node2, rebatch, save, wrap
from ._erf import erf_np
from .binary import where
from .join import cat

__all__ = [
    "selu", "selu_", "celu", "celu_", "threshold", "threshold_", "rrelu", "rrelu_", "hardshrink",
    "prelu", "relu_",
]

FUNCTIONAL = [
    "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "selu_", "celu", "celu_", "gelu",
    "silu", "mish", "softplus", "softsign", "hardtanh", "hardtanh_", "hardsigmoid", "hardswish",
    "logsigmoid", "threshold", "threshold_", "glu", "softmin", "tanhshrink", "softshrink",
    "hardshrink", "prelu", "rrelu", "rrelu_", "relu_",
]

METHODS = {"hardshrink": hardshrink, "prelu": prelu}

_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715


# --- gelu --------------------------------------------------------------------------------
# 'none':  f = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2, phi = Phi' = e^(-x^2/2) / sqrt(2 pi)
#          f' = Phi + x phi,  f'' = phi (2 - x^2)
# 'tanh':  f = x (1 + tanh u) / 2, u = k (x + c x^3), k = sqrt(2/pi), c = 0.044715
#          f' = (1 + t) / 2 + x (1 - t^2) u' / 2 with t = tanh u, u' = k (1 + 3 c x^2)
#          f'' = (1 - t^2) (u' - x t u'^2 + 3 k c x^2)
def _gelu_np(a, approximate):
    if approximate == "none":
        return a * 0.5 * (1.0 + erf_np(a * _SQRT1_2))
    inner = _SQRT_2_OVER_PI * (a + _KAPPA * (a * a * a))
    return 0.5 * a * (1.0 + np.tanh(inner))


def _gelu_d_np(g, x, approximate):
    if approximate == "none":
        cdf = 0.5 * (1.0 + erf_np(x * _SQRT1_2))
        pdf = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
        return g * (cdf + x * pdf)
    x2 = x * x
    t = np.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x2 * x))
    right = 0.5 * x * (1.0 - t * t) * (_SQRT_2_OVER_PI * (1.0 + 3.0 * _KAPPA * x2))
    return g * (0.5 * (1.0 + t) + right)


def _gelu_second(x, approximate):
    x2 = x * x
    if approximate == "none":
        return (x2 * -0.5).exp() * _INV_SQRT_2PI * (2.0 - x2)
    t = ((x + x2 * x * _KAPPA) * _SQRT_2_OVER_PI).tanh()
    up = (x2 * (3.0 * _KAPPA) + 1.0) * _SQRT_2_OVER_PI
    return (1.0 - t * t) * (up - x * t * up * up + x2 * (3.0 * _KAPPA * _SQRT_2_OVER_PI))


gelu_backward = derivative_op("GeluBackwardBackward0", _gelu_d_np, _gelu_second)
GeluBackward0 = act_node("GeluBackward0", gelu_backward, ("approximate",))


def gelu(input: Tensor, *, approximate: str = "none") -> Tensor:  # noqa: A002
    """Gaussian error linear unit x * Phi(x), or its tanh approximation.

    >>> import tapegrad
    >>> tapegrad.nn.functional.gelu(tapegrad.tensor([-1., 0., 1.]))
    tensor([-0.1587,  0.0000,  0.8413])
    """
    x = float_input(input, "GeluKernelImpl")
    if type(approximate) is not str:
        raise TypeError(
            f"gelu(): argument 'approximate' must be str, not {type(approximate).__name__}"
        )
    if approximate != "none" and approximate != "tanh":
        raise RuntimeError("approximate argument must be either none or tanh.")
    return record(x, compute(_gelu_np, x._data, approximate), GeluBackward0, (approximate,))


# --- silu, mish ----------------------------------------------------------------------------
# silu: f = x s, s = sigmoid(x); f' = s (1 + x (1 - s)); f'' = s (1 - s) (2 + x (1 - 2 s))
def _silu_np(a):
    return a / (1.0 + np.exp(-a))


def _silu_d_np(g, x):
    s = 1.0 / (1.0 + np.exp(-x))
    return g * s * (1.0 + x * (1.0 - s))


def _silu_second(x):
    s = x.sigmoid()
    return s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s))


silu_backward = derivative_op("SiluBackwardBackward0", _silu_d_np, _silu_second)
SiluBackward0 = act_node("SiluBackward0", silu_backward)
# complex x: the same formulas (holomorphic), vjp g conj(f'(x)), jvp t f'(x)
_SiluBackward0C = complex_act_node(SiluBackward0)


def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * sigmoid(x) (swish). On complex values PyTorch computes it, and its forward-mode
    derivative, but refuses to record it for backward (the in-place form is recorded).

    >>> import tapegrad
    >>> tapegrad.nn.functional.silu(tapegrad.tensor([-1., 0., 1.]))
    tensor([-0.2689,  0.0000,  0.7311])
    """
    if inplace:
        return _inplace(_silu_any, input)
    try:
        x = float_input(input, "silu_cpu")
    except NotImplementedError:  # (a complex input lands here: no dtype test on real ones)
        if not (isinstance(input, Tensor) and input._dtype.is_complex):
            raise
        refuse_complex_autograd("silu", input)
        return _silu_complex(input)
    return record(x, compute(_silu_np, x._data), SiluBackward0, ())


def _silu_complex(x: Tensor) -> Tensor:
    return record(x, _silu_np(x._data), _SiluBackward0C, ())


def _silu_any(x: Tensor) -> Tensor:
    """silu without the complex refusal: what silu_ records."""
    if isinstance(x, Tensor) and x._dtype.is_complex:
        return _silu_complex(x)
    return silu(x)


# mish: f = x t, t = tanh(softplus(x)), s = sigmoid(x) = softplus'(x), t' = (1 - t^2) s
#       f' = t + x s (1 - t^2);  f'' = (1 - t^2) s (2 + x (1 - s - 2 t s))
def _mish_np(a):
    return a * np.tanh(np.log1p(np.exp(a)))


def _mish_d_np(g, x):
    s = 1.0 / (1.0 + np.exp(-x))
    t = np.tanh(np.log1p(np.exp(x)))
    return g * (t + x * s * (1.0 - t * t))


def _mish_second(x):
    s = x.sigmoid()
    t = softplus(x).tanh()
    return (1.0 - t * t) * s * (2.0 + x * (1.0 - s - 2.0 * t * s))


mish_backward = derivative_op("MishBackwardBackward0", _mish_d_np, _mish_second)
MishBackward0 = act_node("MishBackward0", mish_backward)


def mish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * tanh(softplus(x)).

    >>> import tapegrad
    >>> tapegrad.nn.functional.mish(tapegrad.tensor([-1., 0., 1.]))
    tensor([-0.3034,  0.0000,  0.8651])
    """
    if inplace:
        return _inplace(mish, input)
    x = float_input(input, "mish_cpu")
    return record(x, compute(_mish_np, x._data), MishBackward0, ())


# --- softplus ------------------------------------------------------------------------------
# f = log(1 + e^(beta x)) / beta, and f = x where beta x > threshold (PyTorch's linear
# regime, in which f' = 1 exactly). f' = z / (z + 1) with z = e^(beta x);
# f'' = beta s (1 - s) with s = sigmoid(beta x) where beta x < threshold, else 0 (PyTorch's
# softplus_double_backward: at beta x == threshold f' is the curve's but f'' is 0).
def _softplus_np(a, beta, threshold):
    bx = a * beta
    with np.errstate(over="ignore"):
        soft = np.log1p(np.exp(bx)) / beta
    return np.where(bx > threshold, a, soft)


def _softplus_d_np(g, x, beta, threshold):
    bx = x * beta
    z = np.exp(bx)
    return np.where(bx > threshold, g, g * z / (z + 1.0))


def _softplus_second(x, beta, threshold):
    bx = x * beta
    s = bx.sigmoid()
    return where(bx < threshold, s * (1.0 - s) * beta, 0.0)


softplus_backward = derivative_op("SoftplusBackwardBackward0", _softplus_d_np, _softplus_second)
SoftplusBackward0 = act_node("SoftplusBackward0", softplus_backward, ("beta", "threshold"))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """log(1 + exp(beta * x)) / beta, linear (x) where beta * x > threshold.

    >>> import tapegrad
    >>> tapegrad.nn.functional.softplus(tapegrad.tensor([-1., 0., 30.]))
    tensor([ 0.3133,  0.6931, 30.0000])
    """
    x = float_input(input, "softplus_cpu")
    beta, threshold = scalar(beta), scalar(threshold)
    params = (beta, threshold)
    return record(x, compute(_softplus_np, x._data, *params), SoftplusBackward0, params)


# --- elu, selu, celu -----------------------------------------------------------------------
# PyTorch's elu(x; alpha, scale, input_scale): x <= 0 ? alpha scale (e^(input_scale x) - 1)
# : scale x. f' at x <= 0 is alpha scale input_scale e^(input_scale x), so f'(0) takes the
# exponential branch (1 for elu with alpha = 1); nan takes the linear branch.
# f'' = alpha scale input_scale^2 e^(input_scale x) for x < 0, else 0: at 0 PyTorch's double
# backward takes the linear branch (while its first derivative took the exponential one).
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _elu_np(a, alpha, scale, input_scale):
    return np.where(a <= 0, np.expm1(a * input_scale) * (alpha * scale), a * scale)


def _elu_d_np(g, x, alpha, scale, input_scale):
    neg = g * (input_scale * alpha * scale) * np.exp(x * input_scale)
    return np.where(x <= 0, neg, g * scale)


def _elu_second(x, alpha, scale, input_scale):
    curve = (x * input_scale).exp() * (alpha * scale * input_scale * input_scale)
    return where(x < 0, curve, 0.0)


elu_backward = derivative_op("EluBackwardBackward0", _elu_d_np, _elu_second)
EluBackward0 = act_node("EluBackward0", elu_backward, ("alpha", "scale", "input_scale"))
CeluBackward0 = act_node("CeluBackward0", elu_backward, ("alpha", "scale", "input_scale"))


def _elu(x, alpha, scale, input_scale, node_cls):
    x = float_input(x, "elu_cpu")
    params = (alpha, scale, input_scale)
    return record(x, compute(_elu_np, x._data, *params), node_cls, params)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """x for x > 0, alpha * (exp(x) - 1) otherwise.

    >>> import tapegrad
    >>> tapegrad.nn.functional.elu(tapegrad.tensor([-1., 0., 1.]))
    tensor([-0.6321,  0.0000,  1.0000])
    """
    if inplace:
        return _inplace(elu, input, alpha)
    return _elu(input, scalar(alpha), 1.0, 1.0, EluBackward0)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """In-place elu."""
    return _inplace(elu, input, alpha)


def selu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """scale * elu(x, alpha) with the self-normalising constants (EluBackward0, as PyTorch).

    >>> import tapegrad
    >>> tapegrad.selu(tapegrad.tensor([-1., 1.]))
    tensor([-1.1113,  1.0507])
    """
    if inplace:
        return _inplace(selu, input)
    return _elu(input, _SELU_ALPHA, _SELU_SCALE, 1.0, EluBackward0)


def selu_(input: Tensor) -> Tensor:  # noqa: A002
    """In-place selu."""
    return _inplace(selu, input)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).

    >>> import tapegrad
    >>> tapegrad.celu(tapegrad.tensor([-1., 1.]), alpha=2.)
    tensor([-0.7869,  1.0000])
    """
    if inplace:
        return _inplace(celu, input, alpha)
    alpha = scalar(alpha)
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _elu(input, alpha, 1.0, 1.0 / alpha, CeluBackward0)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """In-place celu."""
    return _inplace(celu, input, alpha)


# --- logsigmoid ----------------------------------------------------------------------------
# f = log sigmoid(x) = min(x, 0) - log1p(e^-|x|): no overflow for any x.
# f' = 1 - sigmoid(x) = 1 / (1 + z) for x < 0, z / (1 + z) for x >= 0, z = e^-|x|.
# f'' = -sigmoid(x) (1 - sigmoid(x))
def _logsigmoid_np(a):
    return np.minimum(a, 0.0) - np.log1p(np.exp(-np.abs(a)))


def _logsigmoid_d_np(g, x):
    z = np.exp(-np.abs(x))
    return g * np.where(x < 0, 1.0 / (1.0 + z), z / (1.0 + z))


def _logsigmoid_second(x):
    s = x.sigmoid()
    return s * (s - 1.0)


log_sigmoid_backward = derivative_op("LogSigmoidBackwardBackward0", _logsigmoid_d_np,
                                     _logsigmoid_second)
LogSigmoidBackward0 = act_node("LogSigmoidBackward0", log_sigmoid_backward)


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """log(sigmoid(x)), computed without overflow.

    >>> import tapegrad
    >>> tapegrad.nn.functional.logsigmoid(tapegrad.tensor([-1000., 0.]))
    tensor([-1.0000e+03, -6.9315e-01])
    """
    x = float_input(input, "log_sigmoid_cpu")
    return record(x, compute(_logsigmoid_np, x._data), LogSigmoidBackward0, ())


# --- composites ------------------------------------------------------------------------------
def softsign(input: Tensor) -> Tensor:  # noqa: A002
    """x / (1 + |x|), a composite as in PyTorch (DivBackward0).

    >>> import tapegrad
    >>> tapegrad.nn.functional.softsign(tapegrad.tensor([-1., 3.]))
    tensor([-0.5000,  0.7500])
    """
    x = as_tensor_arg(input)
    if x._data.dtype == np.bool_:
        raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool'")
    return x / (x.abs() + 1)


def tanhshrink(input: Tensor) -> Tensor:  # noqa: A002
    """x - tanh(x), a composite as in PyTorch (SubBackward0).

    >>> import tapegrad
    >>> tapegrad.nn.functional.tanhshrink(tapegrad.tensor([0., 1.]))
    tensor([0.0000, 0.2384])
    """
    x = as_tensor_arg(input)
    if x._data.dtype == np.bool_:
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    return x - x.tanh()


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
            dtype=None) -> Tensor:
    """softmax(-x) along dim; dtype casts -x first (SoftmaxBackward0 over NegBackward0).

    >>> import tapegrad
    >>> tapegrad.nn.functional.softmin(tapegrad.tensor([1., 2.]), dim=0)
    tensor([0.7311, 0.2689])
    """
    from .softmax import softmax

    x = as_tensor_arg(input)
    if dim is None:
        warnings.warn(
            "Implicit dimension choice for softmin has been deprecated. Change the call to "
            "include dim=X as an argument.",
            UserWarning,
            stacklevel=_stacklevel - 1,  # warn() is called here, one frame less deep
        )
        dim = 0 if x._data.ndim in (0, 1, 3) else 1
    return softmax(-x, dim, dtype)


# --- glu -----------------------------------------------------------------------------------
# glu(x) = a * s, (a, b) the halves of x along dim, s = sigmoid(b).
# Its fused backward: ga = g s, gb = g a s (1 - s), concatenated along dim. That op is linear
# in g; with (ua, ub) the halves of the incoming gg, its vjp is
#   d/dg = ua s + ub a s (1 - s),  d/da = ub g s (1 - s),
#   d/db = ua g s (1 - s) + ub g a s (1 - s) (1 - 2 s).
def _halves(a, axis):
    n = a.shape[axis] // 2
    return np.split(a, [n], axis=axis)


def _glu_d_np(g, x, dim):
    a, b = _halves(x, dim)
    s = 1.0 / (1.0 + np.exp(-b))
    return np.concatenate([g * s, g * a * s * (1.0 - s)], axis=dim)


class GluBackwardBackward0(Node):
    __slots__ = ("dim",)

    def vjp(self, gg):
        g, x = self.saved_tensors()
        ng, nx = self._next
        d = self.dim
        a, b = x.chunk(2, d)
        ua, ub = gg.chunk(2, d)
        s = b.sigmoid()
        ds = s * (1.0 - s)
        grad_g = grad_x = None
        if ng[0] is not None:
            grad_g = ua * s + ub * a * ds
        if nx[0] is not None:
            grad_a = ub * g * ds
            grad_b = (ua + ub * a * (1.0 - 2.0 * s)) * g * ds
            grad_x = cat([grad_a, grad_b], d)
        return grad_g, grad_x


def glu_backward(g: Tensor, x: Tensor, dim: int) -> Tensor:
    """The fused glu backward (g s, g a s (1 - s)) as a primitive (GluBackwardBackward0)."""
    if type(g) is not Tensor:  # a batch of cotangents (vmap): x broadcasts over it, with dim
        b = batched_cotangent(g)  # counted from the end
        if b is not None:
            return rebatch(glu_backward(b[0], x, dim - x.dim() if dim >= 0 else dim), b[1])
    xa, ga = x._data, g._data
    dt = xa.dtype
    if dt == np.float16:
        xa, ga = xa.astype(np.float32), ga.astype(np.float32)
    r = np.asarray(_glu_d_np(ga, xa, dim)).astype(dt, copy=False)
    node = node2(GluBackwardBackward0, g, x)
    if node is None:
        return _make(r, None, False)
    node.dim = dim
    node._saved = (SavedTensor(g), SavedTensor(x))
    return _make(r, node, True)


class GluBackward0(Node):
    __slots__ = ("dim",)
    _saved_names, _saved_attrs = ("self",), {"dim": "dim"}

    def vjp(self, g):
        (x,) = self.saved_tensors()
        return glu_backward(g, x, self.dim)


def _glu_np(a, d):
    first, second = _halves(a, d)
    return first * (1.0 / (1.0 + np.exp(-second)))


def glu(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """Gated linear unit: a * sigmoid(b) for the halves (a, b) of input along dim.

    >>> import tapegrad
    >>> tapegrad.nn.functional.glu(tapegrad.tensor([1., 2., 0., 0.]))
    tensor([0.5000, 1.0000])
    """
    x = as_tensor_arg(input)
    a = x._data
    if a.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = _wrap_dim(dim, a.ndim)
    if a.shape[d] % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {d} is size {a.shape[d]}"
        )
    x = float_input(x, "glu_cpu")
    node = new_node(GluBackward0, (x,))
    res = wrap(compute(_glu_np, a, d), node)
    if node is not None:
        node.dim = d
        save(node, x)
    return res

"""More elementwise functions of one tensor: inverse trigonometric and hyperbolic functions,
base-2/10 logarithms and powers, rounding, sinc, logit, nan_to_num and sign tests.

Each differentiable op states its local derivative once through `declare_unary` (see unary.py);
the rounding ops (floor, ceil, round, trunc) are piecewise constant and, as in PyTorch, have a
node whose gradient is zero everywhere.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.graph import Node
from ._core import as_tensor_arg, new_node, save
from .binary import pow as _pow
from .binary import where
from .inplace import _inplace_unary, copy_out
from .unary import UNARY, _zeros, declare_unary
from .unary import abs as _abs
from .unary import neg as _neg

__all__ = [
    "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "arcsin", "arccos",
    "arctan", "arcsinh", "arccosh", "arctanh", "log2", "log10", "exp2", "deg2rad", "rad2deg",
    "sinc", "floor", "ceil", "trunc", "fix", "frac", "round", "square", "positive", "negative",
    "absolute", "signbit", "isneginf", "isposinf", "nan_to_num", "logit",
]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_DEG2RAD = math.pi / 180.0
_RAD2DEG = 180.0 / math.pi
_SINC2_0 = -math.pi ** 2 / 3  # sinc''(0)


def _short(a: np.ndarray) -> str:
    return D._FROM_NP[a.dtype]._short


def _not_implemented(kernel: str, a: np.ndarray):
    raise NotImplementedError(f"\"{kernel}\" not implemented for '{_short(a)}'")


# --- trigonometric and hyperbolic --------------------------------------------------------
# asin' = 1/sqrt(1 - x^2), acos' = -asin', atan' = 1/(1 + x^2), sinh' = cosh, cosh' = sinh,
# asinh' = 1/sqrt(x^2 + 1), acosh' = 1/sqrt(x^2 - 1), atanh' = 1/(1 - x^2)
asin = declare_unary("asin", np.arcsin, "AsinBackward0",
                     lambda g, x, out: g * (1 - x * x).rsqrt(), "x")
acos = declare_unary("acos", np.arccos, "AcosBackward0",
                     lambda g, x, out: -(g * (1 - x * x).rsqrt()), "x")
atan = declare_unary("atan", np.arctan, "AtanBackward0",
                     lambda g, x, out: g / (x * x + 1), "x")
sinh = declare_unary("sinh", np.sinh, "SinhBackward0", lambda g, x, out: g * x.cosh(), "x")
cosh = declare_unary("cosh", np.cosh, "CoshBackward0", lambda g, x, out: g * x.sinh(), "x")
asinh = declare_unary("asinh", np.arcsinh, "AsinhBackward0",
                      lambda g, x, out: g * (x * x + 1).rsqrt(), "x")
# (complex z: the principal branch's derivative is 1/(sqrt(z - 1) sqrt(z + 1)), which is not
# 1/sqrt(z^2 - 1) off the real line)
acosh = declare_unary("acosh", np.arccosh, "AcoshBackward0",
                      lambda g, x, out: g * ((x - 1).rsqrt() * (x + 1).rsqrt()
                                             if x._dtype.is_complex else (x * x - 1).rsqrt()),
                      "x")
atanh = declare_unary("atanh", np.arctanh, "AtanhBackward0",
                      lambda g, x, out: g / (1 - x * x), "x")
arcsin, arccos, arctan = asin, acos, atan
arcsinh, arccosh, arctanh = asinh, acosh, atanh


# --- logarithms, powers, angles ----------------------------------------------------------
def _exp2_np(a):
    return np.exp2(a)


def _no_complex(name):
    def check(a):
        if a.dtype.kind == "c":
            raise RuntimeError(f"{name} is not supported for complex tensors.")

    return check


_check_deg2rad, _check_rad2deg = _no_complex("deg2rad"), _no_complex("rad2deg")


def _opmath(a):
    """float16 values as float32: PyTorch computes half-precision math in float32."""
    return a.astype(np.float32) if a.dtype == np.float16 else a


def _deg2rad_np(a):
    _check_deg2rad(a)
    return (_opmath(a) * _DEG2RAD).astype(a.dtype, copy=False)


def _rad2deg_np(a):
    _check_rad2deg(a)
    return (_opmath(a) * _RAD2DEG).astype(a.dtype, copy=False)


def _sinc_np(a):
    # sin(pi x) / (pi x), and 1 at x == 0
    b = _opmath(a)
    y = b * math.pi
    with np.errstate(all="ignore"):
        r = np.sin(y) / y
    return np.where(b == 0, 1, r).astype(a.dtype, copy=False)


def _sinc_lin(g, x, out):
    # sinc'(x) = (pi x cos(pi x) - sin(pi x)) / (pi x^2), and 0 at x == 0 (its limit). There x
    # is replaced by 1 before dividing, so that no 0/0 reaches higher derivatives, and the
    # derivative by -pi^2/3 x, which is 0 at 0 with the slope sinc''(0) = -pi^2/3 (PyTorch's
    # second derivative at 0 is nan).
    zero = x == 0
    xs = where(zero, 1.0, x)
    px = xs * math.pi
    d = (px * px.cos() - px.sin()) / (xs * px)
    return g * where(zero, x * _SINC2_0 + 0.0, d)  # (+ 0.0: the zero is +0, as PyTorch's)


log2 = declare_unary("log2", np.log2, "Log2Backward0", lambda g, x, out: g / (x * _LN2), "x")
log10 = declare_unary("log10", np.log10, "Log10Backward0",
                      lambda g, x, out: g / (x * _LN10), "x")
exp2 = declare_unary("exp2", _exp2_np, "Exp2Backward0",
                     lambda g, x, out: g * (out * _LN2), "out")
deg2rad = declare_unary("deg2rad", _deg2rad_np, "Deg2RadBackward0",
                        lambda g, x, out: g * _DEG2RAD, "none")
rad2deg = declare_unary("rad2deg", _rad2deg_np, "Rad2DegBackward0",
                        lambda g, x, out: g * _RAD2DEG, "none")
sinc = declare_unary("sinc", _sinc_np, "SincBackward0", _sinc_lin, "x")


# --- rounding ------------------------------------------------------------------------------
def _rounding(np_fn, name, vml=True):
    """Forward of floor/ceil/trunc/round: integers are returned unchanged, bool refused."""
    kernel = f"{name}_vml_cpu" if vml else f"{name}_cpu"

    def f(a):
        k = a.dtype.kind
        if k == "f":
            return np_fn(a)
        if k == "c":
            if name == "round":
                _not_implemented(kernel, a)
            raise NotImplementedError(f"{name} is not supported for complex inputs")
        if k == "b":
            _not_implemented(kernel, a)
        return a.copy()

    f.__name__ = f"_{name}_np"
    return f


def _frac_np(a):
    if a.dtype.kind != "f":
        _not_implemented("frac_cpu", a)
    return a - np.trunc(a)


# floor, ceil, trunc and round are piecewise constant: PyTorch gives them zero gradients.
floor = declare_unary("floor", _rounding(np.floor, "floor"), "FloorBackward0", _zeros, "none",
                      True)
ceil = declare_unary("ceil", _rounding(np.ceil, "ceil"), "CeilBackward0", _zeros, "none", True)
trunc = declare_unary("trunc", _rounding(np.trunc, "trunc"), "TruncBackward0", _zeros, "none",
                      True)
fix = trunc
# frac(x) = x - trunc(x): derivative 1
frac = declare_unary("frac", _frac_np, "FracBackward0", lambda g, x, out: g, "none", True)
# round() without decimals (RoundBackward0); the public `round` below adds decimals=.
_round0 = declare_unary("round", _rounding(np.rint, "round"), "RoundBackward0", _zeros, "none",
                        True)
del UNARY["round"]  # the public round is the wrapper below


class RoundBackward1(Node):
    # round(x, decimals) is piecewise constant: zero gradient
    __slots__ = ()

    def vjp(self, g):
        return g.new_zeros(g.shape)


def _round_decimals_np(a: np.ndarray, decimals: int) -> np.ndarray:
    # PyTorch: nearbyint(x * 10^d) / 10^d, or nearbyint(x / 10^-d) * 10^-d for d < 0, with the
    # power of ten in the tensor's dtype (half to even)
    k = a.dtype.kind
    if k != "f":
        _not_implemented("round_vml_cpu" if decimals == 0 else "round_cpu", a)
    p = a.dtype.type(10.0 ** abs(decimals))
    if decimals >= 0:
        return np.rint(a * p) / p
    return np.rint(a / p) * p


def round(input: Tensor, *, decimals: int | None = None,  # noqa: A001,A002
          out: Tensor | None = None) -> Tensor:
    """Round to the nearest integer (halves to even), or to `decimals` decimal places.

    >>> import tapegrad
    >>> tapegrad.round(tapegrad.tensor([0.5, 1.5, 2.567]))
    tensor([0., 2., 3.])
    >>> tapegrad.round(tapegrad.tensor([2.567]), decimals=2)
    tensor([2.5700])
    """
    if decimals is None:
        return _round0(input, out=out)
    if not isinstance(input, Tensor):
        input = as_tensor_arg(input)  # noqa: A001
    r = _round_decimals_np(input._data, decimals)
    node = new_node(RoundBackward1, (input,))
    res = _make(r, node, node is not None)
    return res if out is None else copy_out(out, res)


def square(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """input * input, as pow(input, 2) (PowBackward0); bool becomes int64 first.

    >>> import tapegrad
    >>> tapegrad.square(tapegrad.tensor([-2.0, 3.0]))
    tensor([4., 9.])
    """
    if not isinstance(input, Tensor):
        input = as_tensor_arg(input)  # noqa: A001
    if input._dtype is D.bool:
        input = _make(input._data.astype(np.int64))  # noqa: A001
    return _pow(input, 2, out=out)


# --- sign tests and aliases ----------------------------------------------------------------
def positive(input: Tensor) -> Tensor:  # noqa: A002
    """input itself (the unary `+`); refused for bool tensors.

    >>> import tapegrad
    >>> x = tapegrad.tensor([1.0, -2.0])
    >>> tapegrad.positive(x) is x
    True
    """
    if input._dtype is D.bool:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


negative = _neg
absolute = _abs


def signbit(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Whether the sign bit is set (True for -0.0 and negative values); a bool tensor.

    >>> import tapegrad
    >>> tapegrad.signbit(tapegrad.tensor([-1.0, -0.0, 0.0, 2.0]))
    tensor([ True,  True, False, False])
    """
    a = input._data
    k = a.dtype.kind
    if k == "f":
        r = np.signbit(a)
    elif k == "c":
        raise NotImplementedError("signbit is not implemented for complex tensors.")
    else:
        r = np.less(a, 0)
    res = _make(np.asarray(r))
    return res if out is None else copy_out(out, res)


def _inf_test(np_fn, name):
    def op(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
        a = input._data
        k = a.dtype.kind
        if k == "c":
            raise RuntimeError(f"{name} does not support complex inputs.")
        r = np.asarray(np_fn(a)) if k == "f" else np.zeros(a.shape, dtype=np.bool_)
        res = _make(r)
        return res if out is None else copy_out(out, res)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name}: a bool tensor (always False for integer tensors)."
    return op


isneginf = _inf_test(np.isneginf, "isneginf")
isposinf = _inf_test(np.isposinf, "isposinf")


# --- nan_to_num ------------------------------------------------------------------------------
class NanToNumBackward0(Node):
    # identity where x is finite, zero where it was replaced
    __slots__ = ()
    _saved_names = ("self",)

    def vjp(self, g):
        (x,) = self.saved_tensors()
        return g * x.isfinite()


def _float_arg(v, name):
    if v is not None and not isinstance(v, (int, float, np.floating, np.integer)) \
            or isinstance(v, bool):
        raise TypeError(f"nan_to_num(): argument '{name}' must be float, not "
                        f"{type(v).__name__}")


def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None,  # noqa: A002
               neginf: float | None = None, *, out: Tensor | None = None) -> Tensor:
    """Replace nan, +inf and -inf by `nan`, `posinf` and `neginf` (by default 0 and the
    largest and lowest finite values of the dtype).

    >>> import tapegrad
    >>> tapegrad.nan_to_num(tapegrad.tensor([float('nan'), float('inf'), 1.0]), posinf=9.0)
    tensor([0., 9., 1.])
    """
    if nan is None:
        nan = 0.0
    _float_arg(nan, "nan")
    _float_arg(posinf, "posinf")
    _float_arg(neginf, "neginf")
    a = input._data
    if a.dtype.kind in "fc":
        r = np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)
    else:
        r = a.copy()
    node = new_node(NanToNumBackward0, (input,))
    if node is None:
        res = _make(r, None, False)
    else:
        save(node, input)
        res = _make(r, node, True)
    return res if out is None else copy_out(out, res)


# --- logit ---------------------------------------------------------------------------------------
class LogitBackward0(Node):
    # logit'(x) = 1 / (x (1 - x)). With eps, x was clamped to [eps, 1 - eps]: the gradient is
    # zero outside (bounds included in the inside, as PyTorch). Without eps it is nan outside
    # [0, 1], as PyTorch's.
    __slots__ = ("eps",)
    _saved_names, _saved_attrs = ("self",), {"eps": "eps"}

    def vjp(self, g):
        (x,) = self.saved_tensors()
        d = g / (x * (1 - x))
        eps = self.eps
        if eps is None:
            return where((x < 0) | (x > 1), math.nan, d)
        return where((x < eps) | (x > 1 - eps), 0.0, d)


def logit(input: Tensor, eps: float | None = None, *,  # noqa: A002
          out: Tensor | None = None) -> Tensor:
    """log(x / (1 - x)), with x first clamped to [eps, 1 - eps] when eps is given.

    >>> import tapegrad
    >>> tapegrad.logit(tapegrad.tensor([0.5, 0.0]), eps=0.25)
    tensor([ 0.0000, -1.0986])
    """
    if not isinstance(input, Tensor):
        input = as_tensor_arg(input)  # noqa: A001
    a = input._data
    k = a.dtype.kind
    if k == "c":
        _not_implemented("logit_cpu", a)
    if k != "f":
        a = a.astype(D._defaults.float.np)
    if eps is not None:
        # PyTorch's clamp: x < lo ? lo : (x > hi ? hi : x) (nan stays nan; lo > hi allowed)
        lo, hi = eps, 1 - eps
        a = np.where(a < lo, lo, np.where(a > hi, hi, a)).astype(a.dtype, copy=False)
    with np.errstate(all="ignore"):
        r = np.log(a / (1 - a))
    node = new_node(LogitBackward0, (input,))
    if node is None:
        res = _make(r, None, False)
    else:
        node.eps = eps
        save(node, input)
        res = _make(r, node, True)
    return res if out is None else copy_out(out, res)


# --- Tensor methods ---------------------------------------------------------------------------
_ALIASES = {"arcsin": asin, "arccos": acos, "arctan": atan, "arcsinh": asinh, "arccosh": acosh,
            "arctanh": atanh, "fix": fix}
METHODS = dict(_ALIASES)
METHODS.update({"round": round, "square": square, "positive": positive, "signbit": signbit,
                "isneginf": isneginf, "isposinf": isposinf, "nan_to_num": nan_to_num,
                "logit": logit, "absolute": absolute, "negative": negative})
_INPLACE = ["asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "arcsin",
            "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "log2", "log10", "exp2",
            "deg2rad", "rad2deg", "sinc", "floor", "ceil", "trunc", "fix", "frac", "round",
            "square", "nan_to_num", "logit"]
METHODS.update({n + "_": _inplace_unary(n) for n in _INPLACE})

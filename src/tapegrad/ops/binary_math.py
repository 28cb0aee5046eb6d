"""More elementwise functions of two operands: atan2, hypot, fmod, logaddexp(2), xlogy,
copysign, heaviside and float_power (lerp, addcmul and addcdiv are in ternary_math.py).

Gradients are returned at the broadcast shape; the engine sums them back to each input's shape.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.graph import Node, SavedTensor
from ._core import binary_operands, node2
from ._math_args import (
    _NT,
    _TN,
    _TT,
    _check_shapes,
    _conj,
    _float_operands,
    _invalid,
    _is_number,
    _need_tensor,
    _not_implemented,
    _out,
    _result,
)
from .binary import _check_int_zero, _nondiff, where
from .binary import pow as _pow
from .inplace import _inplace_binary, apply_inplace

__all__ = ["atan2", "arctan2", "hypot", "fmod", "logaddexp", "logaddexp2", "xlogy", "copysign",
           "heaviside", "float_power"]

_FLOAT, _COMPLEX = D.FLOAT, D.COMPLEX


# --- atan2 / hypot -----------------------------------------------------------------------------
class Atan2Backward0(Node):
    # d/dx atan2(x, y) = y / (x^2 + y^2), d/dy = -x / (x^2 + y^2); both taken as 0 at the
    # origin (PyTorch: the reciprocal of x^2 + y^2 is replaced by 0 there)
    __slots__ = ()

    def vjp(self, g):
        x, y = self.saved_tensors()
        r = x * x + y * y
        recip = where(r == 0, 0.0, r.reciprocal())
        nx, ny = self._next
        gx = g * y * recip if nx[0] is not None else None
        gy = g * -x * recip if ny[0] is not None else None
        return gx, gy


def atan2(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The angle of the point (other, input): arctan(input / other) in the right quadrant.

    >>> import tapegrad
    >>> tapegrad.atan2(tapegrad.tensor([1.0, -1.0]), tapegrad.tensor([-1.0, -1.0]))
    tensor([ 2.3562, -2.3562])
    """
    _need_tensor("atan2", input, other)
    _check_shapes(input, other)
    xa, ya, dt = _float_operands(input, other)
    if dt.category == _COMPLEX:
        _not_implemented("atan2_cpu", dt)
    return _out(_result(np.arctan2(xa, ya), dt, Atan2Backward0, input, other, input, other), out)


arctan2 = atan2


class HypotBackward0(Node):
    # d/dx sqrt(x^2 + y^2) = x / out, d/dy = y / out
    __slots__ = ()

    def vjp(self, g):
        out, x, y = self.saved_tensors()
        nx, ny = self._next
        gx = g * x / out if nx[0] is not None else None
        gy = g * y / out if ny[0] is not None else None
        return gx, gy


def hypot(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """sqrt(input^2 + other^2) without intermediate overflow.

    >>> import tapegrad
    >>> tapegrad.hypot(tapegrad.tensor([3.0]), tapegrad.tensor([4.0]))
    tensor([5.])
    """
    _need_tensor("hypot", input, other)
    _check_shapes(input, other)
    xa, ya, dt = binary_operands(input, other)
    if dt.category != _FLOAT:
        _not_implemented("hypot_cpu", dt)
    r = np.asarray(np.hypot(xa, ya)).astype(dt.np, copy=False)
    node = node2(HypotBackward0, input, other)
    if node is None:
        return _out(_make(r, None, False), out)
    res = _make(r, node, True)
    node._saved = (SavedTensor(res, True), SavedTensor(input), SavedTensor(other))
    return _out(res, out)


# --- fmod ----------------------------------------------------------------------------------------
class FmodBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return g, None


class FmodBackward1(Node):
    # fmod(x, y) = x - trunc(x / y) y: d/dx = 1, d/dy = -trunc(x / y) (trunc: zero gradient)
    __slots__ = ()

    def vjp(self, g):
        x, y = self.saved_tensors()
        gy = -g * (x / y).trunc() if self._next[1][0] is not None else None
        return g, gy


def fmod(input: Tensor, other, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """C-style remainder: the result has the sign of the dividend (input).

    >>> import tapegrad
    >>> tapegrad.fmod(tapegrad.tensor([-3.0, 3.0]), 2)
    tensor([-1.,  1.])
    """
    if not isinstance(input, Tensor) or not (isinstance(other, Tensor) or _is_number(other)):
        raise _invalid("fmod", (input, other), (_TT, _TN))
    _check_shapes(input, other)
    xa, ya, dt = binary_operands(input, other)
    if dt.category == _COMPLEX:
        _not_implemented("fmod_cpu", dt)
    if dt.category < _FLOAT:
        _check_int_zero(ya)
    r = np.fmod(xa, ya)
    if isinstance(other, Tensor):
        return _out(_result(r, dt, FmodBackward1, input, other, input, other), out)
    return _out(_result(r, dt, FmodBackward0, input, other), out)


# --- logaddexp / logaddexp2 --------------------------------------------------------------------
class LogaddexpBackward0(Node):
    # d/dx log(e^x + e^y) = 1 / (1 + e^(y - x)), and symmetrically for y
    __slots__ = ()

    def vjp(self, g):
        x, y = self.saved_tensors()
        nx, ny = self._next
        gx = g / _conj((y - x).exp() + 1) if nx[0] is not None else None
        gy = g / _conj((x - y).exp() + 1) if ny[0] is not None else None
        return gx, gy


class Logaddexp2Backward0(Node):
    # d/dx log2(2^x + 2^y) = 1 / (1 + 2^(y - x)), and symmetrically for y
    __slots__ = ()

    def vjp(self, g):
        x, y = self.saved_tensors()
        nx, ny = self._next
        gx = g / (_pow(2.0, y - x) + 1) if nx[0] is not None else None
        gy = g / (_pow(2.0, x - y) + 1) if ny[0] is not None else None
        return gx, gy


def _logaddexp_complex(a, b):
    # m + log(1 + e^(n - m)) with m the operand of larger real part
    with np.errstate(all="ignore"):
        big = a.real >= b.real
        m = np.where(big, a, b)
        n = np.where(big, b, a)
        r = m + np.log1p(np.exp(n - m))
        return np.where(np.isinf(m.real) & (a == b), a, r)


def _logaddexp(name, np_fn, node_cls, input, other, out):
    _need_tensor(name, input, other)
    _check_shapes(input, other)
    xa, ya, dt = binary_operands(input, other)
    if dt.category < _FLOAT or (dt.category == _COMPLEX and node_cls is Logaddexp2Backward0):
        _not_implemented(f"{name}_cpu", dt)
    r = np_fn(xa, ya) if dt.category == _FLOAT else _logaddexp_complex(xa, ya)
    return _out(_result(r, dt, node_cls, input, other, input, other), out)


def logaddexp(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """log(exp(input) + exp(other)), computed without overflow.

    >>> import tapegrad
    >>> tapegrad.logaddexp(tapegrad.tensor([0.0, 1000.0]), tapegrad.tensor([0.0, 1000.0]))
    tensor([6.9315e-01, 1.0007e+03])
    """
    return _logaddexp("logaddexp", np.logaddexp, LogaddexpBackward0, input, other, out)


def logaddexp2(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """log2(2**input + 2**other), computed without overflow.

    >>> import tapegrad
    >>> tapegrad.logaddexp2(tapegrad.tensor([1.0]), tapegrad.tensor([1.0]))
    tensor([2.])
    """
    return _logaddexp("logaddexp2", np.logaddexp2, Logaddexp2Backward0, input, other, out)


# --- xlogy -------------------------------------------------------------------------------------
class XlogyBackward0(Node):
    # d/dx x log y = log y, taken as 0 where x == 0 and y <= 0 (PyTorch); d/dy = x / y
    __slots__ = ()

    def vjp(self, g):
        x, y = self.saved_tensors()
        nx, ny = self._next
        gx = where((x == 0) & (y <= 0), 0.0, xlogy(g, y)) if nx[0] is not None else None
        gy = g * x / y if ny[0] is not None else None
        return gx, gy


class XlogyBackward1(Node):
    # x a number: d/dy = x / y
    __slots__ = ()

    def vjp(self, g):
        x, y = self.saved_tensors()
        return None, g * x / y


class XlogyBackward2(Node):
    # y a number: d/dx = log y, taken as 0 where x == 0 when y <= 0 (PyTorch)
    __slots__ = ()

    def vjp(self, g):
        x, y = self.saved_tensors()
        gx = xlogy(g, y)
        return (gx if y > 0 else where(x == 0, 0.0, gx)), None


def _xlogy_np(a, b):
    # x log y, defined as 0 where x == 0 (unless y is nan)
    with np.errstate(all="ignore"):
        r = np.multiply(a, np.log(b))
    return np.where(np.isnan(b), np.nan, np.where(a == 0, 0, r))


def xlogy(input, other, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """input * log(other), with 0 where input == 0 (even where log(other) is infinite).

    >>> import tapegrad
    >>> tapegrad.xlogy(tapegrad.tensor([0.0, 2.0]), tapegrad.tensor([0.0, 1.0]))
    tensor([0., 0.])
    """
    xt, yt = isinstance(input, Tensor), isinstance(other, Tensor)
    if not ((xt or _is_number(input)) and (yt or _is_number(other)) and (xt or yt)):
        raise _invalid("xlogy", (input, other), (_TT, _NT, _TN))
    if xt and yt:
        _check_shapes(input, other)
    xa, ya, dt = _float_operands(input, other)
    if dt.category == _COMPLEX:
        _not_implemented("xlogy_cpu", dt)
    r = _xlogy_np(xa, ya)
    cls = XlogyBackward0 if xt and yt else XlogyBackward2 if xt else XlogyBackward1
    return _out(_result(r, dt, cls, input, other, input, other), out)


# --- copysign / heaviside ----------------------------------------------------------------------
class CopysignBackward0(Node):
    # |x| with y's sign: d/dx = out / x (+-1), taken as 0 at x == 0; d/dy = 0 (a zero tensor)
    __slots__ = ()

    def vjp(self, g):
        out, x, y = self.saved_tensors()
        nx, ny = self._next
        gx = g * where(x == 0, 0.0, out / x) if nx[0] is not None else None
        gy = y.new_zeros(y.shape) if ny[0] is not None else None
        return gx, gy


class CopysignBackward1(Node):
    __slots__ = ()

    def vjp(self, g):
        out, x = self.saved_tensors()
        return g * where(x == 0, 0.0, out / x), None


def copysign(input: Tensor, other, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The magnitude of input with the sign of other (-0.0 counts as negative).

    >>> import tapegrad
    >>> tapegrad.copysign(tapegrad.tensor([1.0, -2.0]), -0.0)
    tensor([-1., -2.])
    """
    yt = isinstance(other, Tensor)
    if not isinstance(input, Tensor) or not (yt or _is_number(other)):
        raise _invalid("copysign", (input, other), (_TT, _TN))
    _check_shapes(input, other)
    xa, ya, dt = _float_operands(input, other)
    if dt.category == _COMPLEX:
        _not_implemented("copysign_cpu", dt)
    r = np.asarray(np.copysign(xa, ya)).astype(dt.np, copy=False)
    node = node2(CopysignBackward0 if yt else CopysignBackward1, input, other)
    if node is None:
        return _out(_make(r, None, False), out)
    res = _make(r, node, True)
    saved = (SavedTensor(res, True), SavedTensor(input))
    node._saved = saved + (SavedTensor(other),) if yt else saved
    return _out(res, out)


def heaviside(input: Tensor, values: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The Heaviside step: 0 where input < 0, values where input == 0, 1 where input > 0
    (0 at nan). Not differentiable: backward raises, as in PyTorch.

    >>> import tapegrad
    >>> tapegrad.heaviside(tapegrad.tensor([-1.0, 0.0, 2.0]), tapegrad.tensor(0.5))
    tensor([0.0000, 0.5000, 1.0000])
    """
    _need_tensor("heaviside", input, values, "values")
    _check_shapes(input, values)
    if input._dtype.category == _COMPLEX or values._dtype.category == _COMPLEX:
        raise RuntimeError("heaviside is not yet implemented for complex tensors.")
    if input._dtype is not values._dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    a, v = input._data, values._data
    r = np.asarray(np.where(a == 0, v, a > 0)).astype(a.dtype, copy=False)
    return _out(_nondiff("heaviside", r, input, values), out)


# --- float_power ---------------------------------------------------------------------------------
_FP_SIGS = ("Tensor input, Tensor exponent, *, Tensor out = None",
            "Number self, Tensor exponent, *, Tensor out = None",
            "Tensor input, Number exponent, *, Tensor out = None")


def _float_power_dtype(input, exponent) -> D.dtype:
    for v in (input, exponent):
        if isinstance(v, Tensor):
            if v._dtype.category == _COMPLEX:
                return D.complex128
        elif isinstance(v, (complex, np.complexfloating)):
            return D.complex128
    return D.float64


def float_power(input, exponent, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """input ** exponent computed in double precision (float64, or complex128 when either
    operand is complex).

    >>> import tapegrad
    >>> tapegrad.float_power(tapegrad.tensor([2, 3]), 2)
    tensor([4., 9.], dtype=tapegrad.float64)
    """
    xt, et = isinstance(input, Tensor), isinstance(exponent, Tensor)
    if not ((xt or _is_number(input)) and (et or _is_number(exponent)) and (xt or et)):
        raise _invalid("float_power", (input, exponent), _FP_SIGS)
    if xt and et:
        _check_shapes(input, exponent)
    dt = _float_power_dtype(input, exponent)
    if out is not None and out._dtype is not dt:
        raise RuntimeError(f"the output given to float_power has dtype {out._dtype._short} but "
                           f"the operation's result requires dtype {dt._short}")
    conv = complex if dt is D.complex128 else float
    x = input.to(dt) if xt else conv(input)
    e = exponent.to(dt) if et else conv(exponent)
    return _pow(x, e, out=out)


# --- in-place forms ----------------------------------------------------------------------------
def _float_power_(self: Tensor, exponent) -> Tensor:
    """In-place float_power: self must already be float64 (or complex128)."""
    dt = _float_power_dtype(self, exponent)
    if self._dtype is not dt:
        raise RuntimeError(f"the base given to float_power_ has dtype {self._dtype._short} but "
                           f"the operation's result requires dtype {dt._short}")
    return apply_inplace(self, float_power, (exponent,))


METHODS = {n: globals()[n] for n in __all__}
METHODS.update({n + "_": _inplace_binary(n) for n in ("atan2", "arctan2", "hypot", "fmod",
                                                         "xlogy", "copysign", "heaviside")})
METHODS["float_power_"] = _float_power_

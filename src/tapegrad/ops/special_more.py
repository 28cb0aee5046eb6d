"""More special functions: i0 (tapegrad.i0, Tensor.i0) and the functions only tapegrad.special
has: i0e, i1, i1e, erfcx, ndtr, ndtri, log_ndtr, entr, xlog1py and zeta.

Values come from SciPy when it can be imported (as ops/special.py does), otherwise from the
float64 NumPy code in _special_numpy.py; zeta and log_ndtr always from the latter (PyTorch's
algorithms). Results are computed in float64 and cast to the input's floating dtype (integers
become the default dtype).

Derivatives (each again made of these ops, so any order works):
  i0' = i1                      i0e' = i1e - sgn(x) i0e
  i1' = i0 - i1 / x             i1e' = i0e - i1e (sgn(x) + 1 / x)   (both 1/2 for |x| <= eps)
  erfcx' = 2 x erfcx - 2/sqrt(pi)         ndtri' = sqrt(2 pi) exp(ndtri^2 / 2)
  log_ndtr' = exp(-x^2/2 - log_ndtr) / sqrt(2 pi)                  entr' = -(1 + log x)
  xlog1py: d/dx = log1p(y) (0 where x == 0 and y <= -1), d/dy = x / (1 + y)
  zeta(x, q): d/dq = -x zeta(x + 1, q); d/dx is not implemented (PyTorch neither)
ndtr(x) = (1 + erf(x / sqrt 2)) / 2 is composed as PyTorch composes it (its nodes included).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.graph import Node
from . import _special_numpy as SN
from ._core import as_tensor_arg, new_node
from ._math_args import (
    _NT,
    _TN,
    _TT,
    _check_shapes,
    _float_operands,
    _invalid,
    _is_number,
    _not_implemented,
    _out,
    _result,
)
from .binary import where
from .inplace import _inplace_unary
from .special import _scipy, erf
from .unary import UNARY, declare_unary

# i0 is exported through UNARY, the special-only functions through tapegrad.special
__all__ = ["i0_"]

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _real(kernel: str, half: bool = True):
    """Wrap a float64 array function: refuse complex (and float16 when not half), compute in
    float64, cast back to the input's dtype."""

    def deco(fn):
        def f(a):
            if a.dtype.kind == "c" or (not half and a.dtype == np.float16):
                _not_implemented(kernel, D._FROM_NP[a.dtype])
            with np.errstate(all="ignore"):
                r = np.asarray(fn(a.astype(np.float64)))
            return r.astype(a.dtype)

        f.__name__ = fn.__name__
        return f

    return deco


@_real("i0_vml_cpu")
def _i0_np(a):
    s = _scipy()
    return s.i0(a) if s else SN.bessel_i(0, a)


@_real("i0e_cpu")
def _i0e_np(a):
    s = _scipy()
    return s.i0e(a) if s else SN.bessel_ie(0, a)


@_real("i1_cpu")
def _i1_np(a):
    s = _scipy()
    return s.i1(a) if s else SN.bessel_i(1, a)


@_real("i1e_cpu")
def _i1e_np(a):
    s = _scipy()
    return s.i1e(a) if s else SN.bessel_ie(1, a)


@_real("erfcx_cpu", half=False)
def _erfcx_np(a):
    s = _scipy()
    return s.erfcx(a) if s else SN.erfcx(a)


@_real("ndtri_cpu", half=False)
def _ndtri_np(a):
    s = _scipy()
    return s.ndtri(a) if s else SN.ndtri(a)


@_real("log_ndtr_cpu", half=False)
def _log_ndtr_np(a):
    return SN.log_ndtr(a)


@_real("entr_cpu")
def _entr_np(a):
    # -x log x for x > 0, 0 at 0, -inf for x < 0, nan at nan
    with np.errstate(all="ignore"):
        r = -a * np.log(np.where(a > 0, a, 1.0))
    return np.where(a > 0, r, np.where(a == 0, 0.0, np.where(a < 0, -np.inf, np.nan)))


def _tiny_safe(x):
    """(|x| > eps, x with the tiny values replaced by eps) for x's dtype."""
    eps = float(np.finfo(x._data.dtype).eps) if x._data.dtype.kind == "f" else 2.0 ** -52
    big = x.abs() > eps
    return big, where(big, x, eps)


def _i1_lin(g, x, out):
    big, xs = _tiny_safe(x)
    return g * where(big, i0(xs) - out / xs, 0.5)


def _i1e_lin(g, x, out):
    big, xs = _tiny_safe(x)
    return g * where(big, special_i0e(xs) - out * (xs.sgn() + xs.reciprocal()), 0.5)


i0 = declare_unary("i0", _i0_np, "I0Backward0", lambda g, x, out: g * special_i1(x), "x")
special_i0e = declare_unary("special_i0e", _i0e_np, "SpecialI0EBackward0",
                            lambda g, x, out: g * (special_i1e(x) - x.sgn() * out), "both")
special_i1 = declare_unary("special_i1", _i1_np, "SpecialI1Backward0", _i1_lin, "both")
special_i1e = declare_unary("special_i1e", _i1e_np, "SpecialI1EBackward0", _i1e_lin, "both")
special_erfcx = declare_unary(
    "special_erfcx", _erfcx_np, "SpecialErfcxBackward0",
    lambda g, x, out: (2.0 * x * out - _TWO_OVER_SQRT_PI) * g, "both")
special_ndtri = declare_unary(
    "special_ndtri", _ndtri_np, "SpecialNdtriBackward0",
    lambda g, x, out: g * _SQRT_2PI * (out.square() / 2).exp(), "out")
special_log_ndtr = declare_unary(
    "special_log_ndtr", _log_ndtr_np, "SpecialLogNdtrBackward0",
    lambda g, x, out: g / _SQRT_2PI * (-(out + x.pow(2) / 2)).exp(), "both")
special_entr = declare_unary("special_entr", _entr_np, "SpecialEntrBackward0",
                             lambda g, x, out: g * (-(1 + x.log())), "x")
for _name in ("special_i0e", "special_i1", "special_i1e", "special_erfcx", "special_ndtri",
              "special_log_ndtr", "special_entr"):
    del UNARY[_name]  # only tapegrad.special has them (its own module binds them)


# --- ndtr: (1 + erf(x / sqrt 2)) / 2, with PyTorch's nodes --------------------------------------
class MulBackward1(Node):
    # x * c for a number c
    __slots__ = ("other",)

    def vjp(self, g):
        return g * self.other


class AddBackward1(Node):
    # x + c for a number c
    __slots__ = ()

    def vjp(self, g):
        return g


def _scalar_op(x: Tensor, c: float, cls) -> Tensor:
    a = x._data
    r = a * a.dtype.type(c) if cls is MulBackward1 else a + a.dtype.type(c)
    node = new_node(cls, (x,))
    if node is None:
        return _make(np.asarray(r))
    if cls is MulBackward1:
        node.other = c
    return _make(np.asarray(r), node, True)


def special_ndtr(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The standard normal distribution function, (1 + erf(x / sqrt 2)) / 2.

    >>> import tapegrad
    >>> tapegrad.special.ndtr(tapegrad.tensor([0.0, 1.0]))
    tensor([0.5000, 0.8413])
    """
    x = as_tensor_arg(input)
    if x._dtype.category < D.FLOAT:
        x = _make(x._data.astype(D._defaults.float.np))
    if x._dtype.category == D.COMPLEX:
        _not_implemented("erf_vml_cpu", x._dtype)
    e = erf(_scalar_op(x, 1.0 / math.sqrt(2.0), MulBackward1))
    return _out(_scalar_op(_scalar_op(e, 1.0, AddBackward1), 0.5, MulBackward1), out)


# --- xlog1py -------------------------------------------------------------------------------------
class SpecialXlog1PyBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        x, y = self.saved_tensors()
        nx, ny = self._next
        gx = where((x == 0) & (y <= -1), 0.0, special_xlog1py(g, y)) \
            if nx[0] is not None else None
        gy = g * x / (y + 1) if ny[0] is not None else None
        return gx, gy


class SpecialXlog1PyBackward1(Node):
    # x a number: d/dy = x / (1 + y)
    __slots__ = ()

    def vjp(self, g):
        x, y = self.saved_tensors()
        return None, g * x / (y + 1)


class SpecialXlog1PyBackward2(Node):
    # y a number: d/dx = log1p(y), 0 where x == 0 when y <= -1
    __slots__ = ()

    def vjp(self, g):
        x, y = self.saved_tensors()
        gx = special_xlog1py(g, y)
        return (gx if y > -1 else where(x == 0, 0.0, gx)), None


def _xlog1py_np(a, b):
    with np.errstate(all="ignore"):
        r = np.multiply(a, np.log1p(b))
    return np.where(np.isnan(b), np.nan, np.where(a == 0, 0, r))


def special_xlog1py(input, other, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """input * log1p(other), with 0 where input == 0 (unless other is nan).

    >>> import tapegrad
    >>> tapegrad.special.xlog1py(tapegrad.tensor([0.0, 2.0]), tapegrad.tensor([-1.0, 0.0]))
    tensor([0., 0.])
    """
    xt, yt = isinstance(input, Tensor), isinstance(other, Tensor)
    if not ((xt or _is_number(input)) and (yt or _is_number(other)) and (xt or yt)):
        raise _invalid("special_xlog1py", (input, other), (_TT, _NT, _TN))
    if xt and yt:
        _check_shapes(input, other)
    xa, ya, dt = _float_operands(input, other)
    if dt.category == D.COMPLEX:
        _not_implemented("xlog1py_cpu", dt)
    r = _xlog1py_np(xa, ya)
    cls = (SpecialXlog1PyBackward0 if xt and yt else
           SpecialXlog1PyBackward2 if xt else SpecialXlog1PyBackward1)
    return _out(_result(r, dt, cls, input, other, input, other), out)


# --- zeta ----------------------------------------------------------------------------------------
_ZETA_X_MSG = "the derivative for 'zeta' is not implemented."


class SpecialZetaBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        x, q = self.saved_tensors()
        if self._next[0][0] is not None:
            raise NotImplementedError(_ZETA_X_MSG)
        return None, g * -x * special_zeta(x + 1, q)


class SpecialZetaBackward1(Node):
    # x a number
    __slots__ = ()

    def vjp(self, g):
        x, q = self.saved_tensors()
        return None, g * -x * special_zeta(x + 1, q)


class SpecialZetaBackward2(Node):
    # q a number: only x could need a gradient
    __slots__ = ()

    def vjp(self, g):
        raise NotImplementedError(_ZETA_X_MSG)


def special_zeta(input, other, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The Hurwitz zeta function sum_k (k + other)^-input.

    >>> import tapegrad
    >>> tapegrad.special.zeta(tapegrad.tensor([2.0]), tapegrad.tensor([1.0]))
    tensor([1.6449])
    """
    xt, yt = isinstance(input, Tensor), isinstance(other, Tensor)
    if not ((xt or _is_number(input)) and (yt or _is_number(other)) and (xt or yt)):
        raise _invalid("special_zeta", (input, other), (_TT, _NT, _TN))
    if xt and yt:
        _check_shapes(input, other)
    xa, ya, dt = _float_operands(input, other)
    if dt.category == D.COMPLEX:
        _not_implemented("zeta_cpu", dt)
    r = SN.zeta(xa, ya)
    cls = (SpecialZetaBackward0 if xt and yt else
           SpecialZetaBackward2 if xt else SpecialZetaBackward1)
    if cls is SpecialZetaBackward2:  # nothing to save: its rule only raises
        return _out(_result(r, dt, cls, input, other), out)
    return _out(_result(r, dt, cls, input, other, input, other), out)


i0_ = _inplace_unary("i0")
METHODS = {"i0_": i0_}

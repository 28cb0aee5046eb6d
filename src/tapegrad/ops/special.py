"""Special functions: erf, erfc, erfinv, lgamma, digamma and polygamma.

NumPy has none of them. SciPy's `scipy.special` computes them when it can be imported (it is
optional, never required, and imported on first use); otherwise a pure-NumPy fallback accurate
to float64 does: erf/erfc/lgamma through Python's `math` module, erfinv by Newton steps on erf
from a rational first guess, and the polygamma family by the recurrence
psi^(n)(x) = psi^(n)(x + 1) - (-1)^(n+1) n! / x^(n+1), an asymptotic series for large x, and the
reflection formula for negative x. Values at poles and infinities follow PyTorch.

Derivatives: erf' = 2/sqrt(pi) exp(-x^2), erfc' = -erf', erfinv' = sqrt(pi)/2 exp(erfinv(x)^2),
lgamma' = digamma, digamma' = polygamma(1, .), polygamma(n, .)' = polygamma(n + 1, .): every rule
is again one of these ops, so derivatives of any order work.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make, _tp_name
from ..autograd.graph import Node
from ._core import as_tensor_arg, new_node, save
from ._erf import erf_fallback
from .inplace import _inplace_unary, apply_inplace, copy_out
from .unary import declare_unary

__all__ = ["erf", "erfc", "erfinv", "lgamma", "digamma", "polygamma"]

_scipy_special = None  # scipy.special once looked for; False when SciPy cannot be imported


def _scipy():
    """scipy.special, or False without SciPy (looked for once, on first use)."""
    global _scipy_special
    s = _scipy_special
    if s is None:
        try:
            import scipy.special as s
        except ImportError:  # pragma: no cover - depends on the environment
            s = False
        _scipy_special = s
    return s


_SQRT_PI = math.sqrt(math.pi)
_TWO_OVER_SQRT_PI = 2.0 / _SQRT_PI


def _not_implemented(kernel: str, a: np.ndarray):
    raise NotImplementedError(
        f"\"{kernel}\" not implemented for '{D._FROM_NP[a.dtype]._short}'")


def _real(kernel: str):
    """Wrap an array function of float64 values: refuse complex, compute, cast back."""

    def deco(fn):
        def f(a):
            if a.dtype.kind == "c":
                _not_implemented(kernel, a)
            r = fn(a)
            return r if r.dtype == a.dtype else r.astype(a.dtype)

        f.__name__ = fn.__name__
        return f

    return deco


# --- pure-NumPy fallbacks (float64) ------------------------------------------------------
_math_erfc = np.frompyfunc(math.erfc, 1, 1)


def _lgamma_scalar(v: float) -> float:
    if v <= 0 and (v == -math.inf or v == math.floor(v)):  # poles at 0, -1, ... and -inf:
        return math.inf  # +inf, as PyTorch
    return math.lgamma(v)


_math_lgamma = np.frompyfunc(_lgamma_scalar, 1, 1)


def _np_erf(a):
    return erf_fallback(a)  # shared with gelu (ops/_erf.py)


def _np_erfc(a):
    return np.asarray(_math_erfc(a.astype(np.float64)), dtype=np.float64)  # (0-d: a scalar)


def _np_lgamma(a):
    return np.asarray(_math_lgamma(a.astype(np.float64)), dtype=np.float64)  # (0-d: a scalar)


def _np_erfinv(a):
    # First guess: the rational approximation PyTorch (and Cephes) use, good to ~1e-7; then
    # Newton steps x -= (erf(x) - y) / erf'(x). For |y| > 0.5 the residual is taken as
    # (1 - y) - erfc(x) (both exact-ish there), which keeps full relative accuracy near +-1.
    y = np.asarray(a, dtype=np.float64)
    ya = np.abs(y)
    with np.errstate(all="ignore"):
        z = y * y
        num = ((-0.140543331 * z + 0.914624893) * z - 1.645349621) * z + 0.886226899
        den = (((0.012229801 * z - 0.329097515) * z + 1.442710462) * z - 2.118377725) * z + 1.0
        x_mid = y * num / den
        w = np.sqrt(-np.log((1.0 - ya) / 2.0))
        num = ((1.641345311 * w + 3.429567803) * w - 1.624906493) * w - 1.970840454
        den = (1.637067800 * w + 3.543889200) * w + 1.0
        x_tail = np.copysign(num, y) / den
        x = np.where(ya <= 0.7, x_mid, x_tail)
        inner = np.isfinite(x)
        x = np.where(inner, x, 0.0)
        tail = ya > 0.5
        s = np.sign(y)
        for _ in range(3):
            xa = np.abs(x)
            resid = np.where(tail, s * ((1.0 - ya) - _np_erfc(xa)), _np_erf(x) - y)
            x = x - resid / (_TWO_OVER_SQRT_PI * np.exp(-x * x))
        x = np.where(inner, x, np.nan)
    x = np.where(ya == 1.0, np.copysign(np.inf, y), x)
    return np.where(ya > 1.0, np.nan, x)


def _cot_pi(x):
    """cot(pi x), accurate near the poles (integers) and the zeros (half-integers)."""
    r = x - np.round(x)  # cot(pi x) has period 1; |r| <= 1/2
    ra = np.abs(r)
    # near the zeros, cot(pi r) = tan(pi (1/2 - |r|)) sign(r), with 1/2 - |r| exact
    return np.where(ra > 0.25, np.copysign(np.tan(math.pi * (0.5 - ra)), r),
                    1.0 / np.tan(math.pi * r))


def _cot_derivative(n: int, x):
    """d^n/dx^n cot(pi x): with c = cot(pi x), dc/dx = -pi (1 + c^2), so each derivative maps
    a polynomial P(c) to -pi (1 + c^2) P'(c)."""
    p = np.polynomial.Polynomial([0.0, 1.0])
    one_c2 = np.polynomial.Polynomial([1.0, 0.0, 1.0])
    for _ in range(n):
        p = -math.pi * one_c2 * p.deriv()
    return p(_cot_pi(x))


def _np_digamma_pos(x):
    """psi(x) for x > 0: psi(x) = psi(x + 1) - 1/x moves x to >= 10, then the asymptotic
    series psi(x) ~ log x - 1/(2x) - sum_k B_2k / (2k x^2k) (PyTorch's coefficients)."""
    v = x
    res = np.zeros_like(v)
    for _ in range(10):
        small = v < 10
        if not small.any():
            break
        res = res - np.where(small, 1.0 / np.where(small, v, 1.0), 0.0)
        v = np.where(small, v + 1.0, v)
    z = 1.0 / (v * v)
    poly = 0.0
    for c in (8.33333333333333333333E-2, -2.10927960927960927961E-2,
              7.57575757575757575758E-3, -4.16666666666666666667E-3,
              3.96825396825396825397E-3, -8.33333333333333333333E-3,
              8.33333333333333333333E-2):
        poly = poly * z + c
    y = np.where(v < 1e17, z * poly, 0.0)
    return res + np.log(v) - 0.5 / v - y


# Bernoulli numbers B_2, B_4, ..., B_20 for the asymptotic series of polygamma.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510,
              43867 / 798, -174611 / 330)


def _np_polygamma_pos(n: int, x):
    """psi^(n)(x) for x > 0: psi^(n)(x) = psi^(n)(x + 1) + (-1)^(n+1) n! / x^(n+1) moves x
    to >= 20 + n, then the asymptotic series
    psi^(n)(x) ~ (-1)^(n+1) [(n-1)!/x^n + n!/(2 x^(n+1)) + sum_k B_2k (2k+n-1)!/((2k)! x^(2k+n))]
    """
    if n == 0:
        return _np_digamma_pos(x)
    x0 = 20.0 + n
    sgn = 1.0 if n % 2 else -1.0
    nfact = math.factorial(n)
    res = np.zeros_like(x)
    v = x
    while True:
        small = v < x0
        if not small.any():
            break
        vs = np.where(small, v, 1.0)
        res = res + np.where(small, vs ** -(n + 1), 0.0)
        v = np.where(small, v + 1.0, v)
    res = res * nfact
    inv = 1.0 / v
    series = math.factorial(n - 1) * inv ** n + nfact / 2 * inv ** (n + 1)
    for k, b in enumerate(_BERNOULLI, start=1):
        coef = b * math.factorial(2 * k + n - 1) / math.factorial(2 * k)
        series = series + coef * inv ** (2 * k + n)
    return sgn * (res + series)


def _scipy_polygamma_pos(n: int, x):
    # psi^(n)(x) = (-1)^(n+1) n! zeta(n + 1, x): what scipy.special.polygamma computes, without
    # its Python-level overhead
    s = _scipy()
    if n == 0:
        return s.psi(x)
    return (math.factorial(n) if n % 2 else -math.factorial(n)) * s.zeta(n + 1, x)


def _polygamma_any(n: int, a, pos_fn) -> np.ndarray:
    """psi^(n) on the whole real line (float64), from pos_fn(n, x) for x >= 0.

    For x < 0 the reflection formula psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi d^n/dx^n cot(pi x)
    is used: it keeps full accuracy near the poles and at the zeros, and its cost does not grow
    with -x (series stepped up from x, as SciPy's and PyTorch's, do). Poles and infinities
    follow PyTorch.
    """
    x = np.asarray(a, dtype=np.float64)
    if x.size and x.min() > 0 and x.max() < math.inf:  # the common case: nothing special
        return pos_fn(n, x)
    with np.errstate(all="ignore"):
        neg = x < 0
        if neg.any():
            v = pos_fn(n, np.where(neg, 1.0 - x, x))
            out = np.where(neg, (-1.0) ** n * v - math.pi * _cot_derivative(n, x), v)
        else:
            out = pos_fn(n, x)
    if n == 0:
        out = np.where(x == 0, np.copysign(np.inf, -x), out)  # psi(+0) = -inf, psi(-0) = +inf
        return np.where(neg & (x == np.floor(x)), np.nan, out)  # negative integers and -inf
    pole = (x <= 0) & (x == np.floor(x))
    out = np.where(pole, np.inf if n % 2 else -np.inf, out)  # +inf for odd n, -inf for even
    if n == 1:
        return np.where(np.isneginf(x), np.nan, out)  # PyTorch: sin(pi x) is nan there
    return np.where(np.isposinf(x), np.nan, out)  # PyTorch's zeta-based value at +inf


def _np_digamma(a):
    return _polygamma_any(0, a, _np_polygamma_pos)


def _np_polygamma(n: int, a):
    return _polygamma_any(n, a, _np_polygamma_pos)


# --- dispatch: SciPy when available ---------------------------------------------------------
@_real("erf_vml_cpu")
def _erf_np(a):
    s = _scipy()
    return s.erf(a) if s else _np_erf(a)


@_real("erfc_vml_cpu")
def _erfc_np(a):
    s = _scipy()
    return s.erfc(a) if s else _np_erfc(a)


@_real("erfinv_vml_cpu")
def _erfinv_np(a):
    s = _scipy()
    if not s:
        return _np_erfinv(a)
    return np.where(a == 0, a, s.erfinv(a))  # erfinv(-0) = -0, as PyTorch


@_real("lgamma_vml_cpu")
def _lgamma_np(a):
    s = _scipy()
    if not s:
        return _np_lgamma(a)
    r = s.gammaln(a)
    return np.where(np.isneginf(a), np.inf, r)  # PyTorch: lgamma(-inf) = +inf


def _polygamma_np(n: int, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "c":
        _not_implemented({0: "digamma", 1: "trigamma"}.get(n, "polygamma"), a)
    r = _polygamma_any(n, a, _scipy_polygamma_pos if _scipy() else _np_polygamma_pos)
    return r if r.dtype == a.dtype else r.astype(a.dtype)


@_real("digamma")
def _digamma_np(a):
    return _polygamma_np(0, a)


# --- the ops ---------------------------------------------------------------------------------
def _erf_lin(g, x, out):
    return g * ((-x * x).exp() * _TWO_OVER_SQRT_PI)


def _erfc_lin(g, x, out):
    return g * ((-x * x).exp() * -_TWO_OVER_SQRT_PI)


def _erfinv_lin(g, x, out):
    # erfinv'(x) = sqrt(pi)/2 exp(erfinv(x)^2), with erfinv(x) the saved output
    return g * ((out * out).exp() * (0.5 * _SQRT_PI))


erf = declare_unary("erf", _erf_np, "ErfBackward0", _erf_lin, "x")
erfc = declare_unary("erfc", _erfc_np, "ErfcBackward0", _erfc_lin, "x")
erfinv = declare_unary("erfinv", _erfinv_np, "ErfinvBackward0", _erfinv_lin, "out")
lgamma = declare_unary("lgamma", _lgamma_np, "LgammaBackward0",
                       lambda g, x, out: g * x.digamma(), "x")
digamma = declare_unary("digamma", _digamma_np, "DigammaBackward0",
                        lambda g, x, out: g * polygamma(1, x), "x")


class PolygammaBackward0(Node):
    # d/dx psi^(n)(x) = psi^(n+1)(x)
    __slots__ = ("n",)

    def vjp(self, g):
        (x,) = self.saved_tensors()
        return g * polygamma(self.n + 1, x)


def polygamma(n: int, input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The n-th derivative of the digamma function, elementwise (n >= 0).

    >>> import tapegrad
    >>> tapegrad.polygamma(1, tapegrad.tensor([1.0]))
    tensor([1.6449])
    """
    if type(n) is not int:
        if isinstance(n, (bool, float, str)) or not hasattr(n, "__index__"):
            raise TypeError(
                f"polygamma(): argument 'n' (position 1) must be int, not {_tp_name(n)}")
        n = n.__index__()
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    if not isinstance(input, Tensor):
        input = as_tensor_arg(input)  # noqa: A001
    a = input._data
    if input._dtype.category < D.FLOAT:
        a = a.astype(D._defaults.float.np)
    r = _polygamma_np(n, a)
    node = new_node(PolygammaBackward0, (input,))
    if node is None:
        res = _make(r, None, False)
    else:
        node.n = n
        save(node, input)
        res = _make(r, node, True)
    return res if out is None else copy_out(out, res)


def _polygamma_method(self: Tensor, n: int) -> Tensor:
    """self.polygamma(n): polygamma(n, self)."""
    return polygamma(n, self)


def _polygamma_(self: Tensor, n: int) -> Tensor:
    """In-place polygamma: self = polygamma(n, self)."""
    return apply_inplace(self, lambda x: polygamma(n, x))


METHODS = {"polygamma": _polygamma_method, "polygamma_": _polygamma_}
METHODS.update({n + "_": _inplace_unary(n) for n in ("erf", "erfc", "erfinv", "lgamma", "digamma")})

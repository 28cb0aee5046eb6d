"""erf on NumPy arrays (NumPy has none), for the exact GELU.

With SciPy installed (an optional extra, looked for once, on first use) `scipy.special.erf`
does it. Without, small arrays go element by element through `math.erf` (the C library's erf,
as PyTorch uses) and larger ones through a vectorised evaluation in NumPy that agrees with it
to 2 ulp:
- |x| < 0.5: the Maclaurin series erf(x) = 2/sqrt(pi) sum_n (-1)^n x^(2n+1) / (n! (2n+1)),
  evaluated as x * q(x^2), so tiny inputs keep full relative accuracy;
- 0.5 <= |x| < 6: the Taylor polynomial of erf at the centre c of each interval of width 0.5,
  in t = |x| - c (|t| <= 1/4). Its coefficients are f^(k)(c) / k! with
  erf^(k)(c) = 2/sqrt(pi) (-1)^(k-1) H_(k-1)(c) e^(-c^2) (H the physicists' Hermite
  polynomials), computed once, exactly (fractions) and in 40-digit decimals;
- |x| >= 6: erf(x) rounds to +-1 in double precision.
Float32 inputs use fewer Taylor terms (their truncation error is still below 1e-9).
The result is computed in float64 and cast to the input's dtype.
"""

from __future__ import annotations

import decimal
import math
from fractions import Fraction

import numpy as np

__all__ = ["erf_np"]

_SMALL = 64  # up to this many elements the per-element libm loop is faster
_WIDTH = Fraction(1, 2)  # intervals [0.5 + k/2, 1 + k/2), k = 0 .. 10
_N_INTERVALS = 11
_DEGREE = {8: 17, 4: 10, 2: 10}  # Taylor degree by itemsize of the result dtype
_PI = decimal.Decimal("3.14159265358979323846264338327950288419716939937510582097494")


def _series_coefficients(terms: int = 14) -> np.ndarray:
    # coefficients of q(s), erf(x) = x q(x^2), highest power first (np.polyval's order)
    c = [2.0 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1))
         for n in range(terms)]
    return np.array(c[::-1])


def _taylor(c: Fraction, degree: int) -> list[float]:
    """f^(k)(c) / k! for k = 0 .. degree, f = erf, to double precision."""
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        cd = decimal.Decimal(c.numerator) / c.denominator
        two_over_sqrt_pi = 2 / _PI.sqrt()
        e = (-cd * cd).exp()
        # erf(c) = 2/sqrt(pi) e^(-c^2) sum_n 2^n c^(2n+1) / (1 * 3 * ... * (2n+1)): no cancellation
        term, total, n = cd, cd, 0
        while term > total * decimal.Decimal(10) ** -38:
            n += 1
            term = term * 2 * cd * cd / (2 * n + 1)
            total += term
        out = [float(two_over_sqrt_pi * e * total)]
        h_prev, h = Fraction(0), Fraction(1)  # H_(-1) (unused), H_0
        for k in range(1, degree + 1):
            # erf^(k)(c) = 2/sqrt(pi) (-1)^(k-1) H_(k-1)(c) e^(-c^2); then divide by k!
            hk = decimal.Decimal(h.numerator) / h.denominator
            out.append(float(two_over_sqrt_pi * e * hk * (-1) ** (k - 1) / math.factorial(k)))
            h_prev, h = h, 2 * c * h - 2 * (k - 1) * h_prev  # H_k = 2c H_(k-1) - 2(k-1) H_(k-2)
    return out


_Q = _series_coefficients()
_CENTERS = np.array([float(Fraction(3, 4) + k * _WIDTH) for k in range(_N_INTERVALS)])
_TABLES: dict = {}  # degree -> coefficient rows (one contiguous row per power)
_erf_scalar = math.erf
_scipy_special = None  # scipy.special once looked for; False when SciPy cannot be imported


def _scipy():
    global _scipy_special
    sp = _scipy_special
    if sp is None:
        try:
            import scipy.special as sp
        except ImportError:  # pragma: no cover - depends on the environment
            sp = False
        _scipy_special = sp
    return sp


def _table(degree: int) -> np.ndarray:
    t = _TABLES.get(degree)
    if t is None:
        rows = [_taylor(Fraction(3, 4) + k * _WIDTH, degree) for k in range(_N_INTERVALS)]
        t = _TABLES[degree] = np.ascontiguousarray(np.array(rows).T)
    return t


def _erf_vectorised(x: np.ndarray, degree: int = 17) -> np.ndarray:
    # in-place arithmetic throughout: fresh temporaries cost more than the flops here
    coef = _table(degree)
    ax = np.abs(x)
    # the interval of each element (fmax/fmin send nan to interval 0; its result stays nan)
    k = np.subtract(ax, 0.5)
    k *= 2.0
    k = np.fmin(np.fmax(k, 0.0, out=k), _N_INTERVALS - 1.0, out=k).astype(np.intp)
    t = _CENTERS.take(k)
    np.subtract(ax, t, out=t)
    y = coef[degree].take(k)
    buf = np.empty_like(y)
    for j in range(degree - 1, -1, -1):
        y *= t
        y += coef[j].take(k, out=buf)
    small = np.multiply(x, x, out=t)  # t is no longer needed
    q = np.full_like(small, _Q[0])
    for c in _Q[1:]:
        q *= small
        q += c
    q *= ax
    np.copyto(y, q, where=ax < 0.5)
    y[ax >= 6.0] = 1.0
    return np.copysign(y, x, out=y)  # erf is odd; erf(-0) = -0, nan stays nan


def erf_np(a: np.ndarray) -> np.ndarray:
    """erf(a) elementwise, in a's (floating) dtype.

    >>> import numpy as np
    >>> round(float(erf_np(np.array(1.0))), 12)
    0.84270079295
    """
    sp = _scipy()
    if sp:
        return np.asarray(sp.erf(a)).astype(a.dtype, copy=False)
    return erf_fallback(a, _DEGREE.get(a.dtype.itemsize, 17)).astype(a.dtype, copy=False)


def erf_fallback(a: np.ndarray, degree: int = 17) -> np.ndarray:
    """erf without SciPy, in float64: math.erf per element for small arrays, else the
    vectorised series (within 2 ulp of the C library's erf)."""
    x = np.asarray(a, dtype=np.float64)
    if x.size <= _SMALL:
        r = np.fromiter(map(_erf_scalar, x.ravel().tolist()), np.float64, x.size)
        return r.reshape(x.shape)
    return _erf_vectorised(x, degree)

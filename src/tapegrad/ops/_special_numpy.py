"""Float64 evaluations in NumPy of the special functions NumPy lacks (internal, no autograd):
modified Bessel functions I0/I1 (plain and exponentially scaled), erfcx, log_ndtr, ndtri and
the Hurwitz zeta function. The Bessel functions and ndtri serve when SciPy cannot be imported;
zeta and log_ndtr are always computed here, as PyTorch computes them.

- I_nu(x), nu = 0, 1, |x| < 20: the power series (x/2)^nu sum_k (x^2/4)^k / (k! (k+nu)!)
  (all terms positive: no cancellation); |x| >= 20: the asymptotic expansion
  e^|x| / sqrt(2 pi |x|) sum_k (-1)^k a_k / |x|^k, a_k = prod_{j<=k} (4 nu^2 - (2j-1)^2) / (8 j),
  whose 40th term is below 1e-18 there. Values at +-inf are PyTorch's (nan unscaled).
- erfcx(x) = exp(x^2) erfc(x): directly below 10, with x^2 split exactly into a double and its
  rounding error so that exp(x^2) keeps full precision; from 10 on, the asymptotic series
  1/(x sqrt(pi)) sum_k (-1)^k (2k-1)!! / (2x^2)^k.
- log_ndtr(x) = log(erfcx(-x/sqrt 2) / 2) - x^2/2 for x < -1, log1p(-erfc(x/sqrt 2)/2) otherwise.
- ndtri(p): Newton steps on log Phi(x) = log p (log Phi is concave, the steps converge from a
  rational first guess), on the lower half; ndtri(p) = -ndtri(1 - p) above 1/2.
- zeta(x, q): the Euler-Maclaurin summation PyTorch (after Cephes) uses, step by step: terms
  (q + k)^-x are added until one is below 2^-53 of the sum or q + k > 9 after 9 terms, then the
  tail integral, half the last term and up to 12 Bernoulli corrections B_2j / (2j)! ...
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

__all__ = ["bessel_i", "bessel_ie", "erfcx", "log_ndtr", "ndtri", "zeta"]

_SERIES_MAX = 20.0
_SERIES_TERMS = 64
_ASYM_TERMS = 40
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _erfc_np(x: np.ndarray) -> np.ndarray:
    return np.asarray(_erfc(x), dtype=np.float64).reshape(np.shape(x))


def _series(nu: int, ax: np.ndarray) -> np.ndarray:
    q = ax * ax / 4.0
    term = np.ones_like(ax) / math.factorial(nu)
    total = term.copy()
    for k in range(1, _SERIES_TERMS):
        term = term * q / (k * (k + nu))
        total = total + term
    return total * (ax / 2.0) ** nu


def _asym(nu: int, ax: np.ndarray) -> np.ndarray:
    """sum_k (-1)^k a_k / ax^k (the factor e^ax / sqrt(2 pi ax) left out)."""
    mu = 4.0 * nu * nu
    term = np.ones_like(ax)
    total = term.copy()
    for k in range(1, _ASYM_TERMS):
        term = term * -(mu - (2 * k - 1) ** 2) / (8.0 * k * ax)
        total = total + term
    return total


def _bessel(nu: int, x, scaled: bool) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    ax = np.abs(x)
    fin = np.isfinite(ax)
    small = ax < _SERIES_MAX
    with np.errstate(all="ignore"):
        s_ax = np.where(small, ax, 1.0)
        l_ax = np.where(small | ~fin, _SERIES_MAX, ax)
        ser = _series(nu, s_ax)
        if scaled:
            ser = ser * np.exp(-s_ax)
            big = _asym(nu, l_ax) / np.sqrt(2.0 * math.pi * l_ax)
        else:
            big = np.exp(l_ax) * _asym(nu, l_ax) / np.sqrt(2.0 * math.pi * l_ax)
        r = np.where(small, ser, big)
    # at +-inf: the scaled functions are 0 (I1e keeps the sign), the plain ones nan (PyTorch)
    r = np.where(fin, r, 0.0 if scaled else np.nan)
    if nu == 1:
        r = np.copysign(r, x) if scaled else np.where(x < 0, -r, r)
    return np.where(np.isnan(x), np.nan, r)


def bessel_i(nu: int, x) -> np.ndarray:
    """I_nu(x) for nu = 0, 1."""
    return _bessel(nu, x, False)


def bessel_ie(nu: int, x) -> np.ndarray:
    """exp(-|x|) I_nu(x) for nu = 0, 1."""
    return _bessel(nu, x, True)


def erfcx(x) -> np.ndarray:
    """exp(x^2) erfc(x)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        # x^2 = hi + lo exactly (Dekker's product), exp(x^2) = exp(hi) (1 + lo)
        c = 134217729.0 * x  # 2^27 + 1 splits x into two halves
        xh = c - (c - x)
        xl = x - xh
        hi = x * x
        lo = ((xh * xh - hi) + 2.0 * xh * xl) + xl * xl
        direct = np.exp(hi) * (1.0 + lo) * _erfc_np(np.where(x < 10.0, x, 0.0))
        z = np.where(x >= 10.0, x, 10.0)
        inv = 1.0 / (2.0 * z * z)
        term = np.ones_like(z)
        total = term.copy()
        for k in range(1, 30):
            term = term * -(2 * k - 1) * inv
            total = total + term
        asym = total / (z * math.sqrt(math.pi))
    r = np.where(x >= 10.0, asym, direct)
    r = np.where(np.isposinf(x), 0.0, r)
    return np.where(np.isneginf(x), np.inf, r)


def log_ndtr(x) -> np.ndarray:
    """log of the standard normal distribution function."""
    x = np.asarray(x, dtype=np.float64)
    t = x * (1.0 / math.sqrt(2.0))
    with np.errstate(all="ignore"):
        low = np.log(erfcx(-t) / 2.0) - t * t
        high = np.log1p(-_erfc_np(t) / 2.0)
    return np.where(x < -1.0, low, high)


def _ndtri_lower(p: np.ndarray) -> np.ndarray:
    """ndtri on (0, 1/2]."""
    with np.errstate(all="ignore"):
        lp = np.log(p)
        # first guess: -sqrt(-2 log p) corrected for the Gaussian tail's prefactor
        s = np.sqrt(-2.0 * lp)
        x = -(s - (np.log(s * s) + math.log(2.0 * math.pi)) / (2.0 * s))
        x = np.where(p > 0.2, (p - 0.5) * math.sqrt(2.0 * math.pi), x)
        for _ in range(40):
            # log Phi(x) - log p, divided by its slope phi(x) / Phi(x) = 2 / (sqrt(2 pi)
            # erfcx(-x / sqrt 2))
            step = (log_ndtr(x) - lp) * math.sqrt(2.0 * math.pi) * erfcx(
                -x / math.sqrt(2.0)) / 2.0
            x = x - step
            if not np.any(np.abs(step) > 1e-15 * np.maximum(np.abs(x), 1e-300)):
                break
    return x


def ndtri(p) -> np.ndarray:
    """The inverse of the standard normal distribution function."""
    p = np.asarray(p, dtype=np.float64)
    upper = p > 0.5
    q = np.where(upper, 1.0 - p, p)
    inside = (q > 0) & (q <= 0.5)
    x = _ndtri_lower(np.where(inside, q, 0.25))
    x = np.where(upper, -x, x)
    x = np.where(p == 0, -np.inf, np.where(p == 1, np.inf, x))
    return np.where((p >= 0) & (p <= 1), x, np.nan)


# (2j)! / B_2j for j = 1 .. 12 (the Euler-Maclaurin coefficients)
_B2J = [Fraction(1, 6), Fraction(-1, 30), Fraction(1, 42), Fraction(-1, 30), Fraction(5, 66),
        Fraction(-691, 2730), Fraction(7, 6), Fraction(-3617, 510), Fraction(43867, 798),
        Fraction(-174611, 330), Fraction(854513, 138), Fraction(-236364091, 2730)]
_EM = [float(math.factorial(2 * j) / b) for j, b in enumerate(_B2J, start=1)]
_MACHEP = 1.11022302462515654042e-16


def zeta(x, q) -> np.ndarray:
    """The Hurwitz zeta function sum_k (k + q)^-x, with PyTorch's values where undefined:
    inf at x == 1 and at q a non-positive integer, nan for x < 1 or for q < 0 with x not an
    integer."""
    x, q = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(q, np.float64))
    shape = x.shape
    x, q = x.reshape(-1).copy(), q.reshape(-1).copy()
    out = np.full(x.shape, np.nan)
    with np.errstate(all="ignore"):
        inf = (x == 1) | ((x >= 1) & (q <= 0) & (q == np.floor(q)))
        nan = (x < 1) | ((q <= 0) & ~inf & (x != np.floor(x)))
        out[inf] = np.inf
        idx = np.flatnonzero(~inf & ~nan)
        xs, qs = x[idx], q[idx]
        s = np.power(qs, -xs)
        a = qs.copy()
        b = np.zeros_like(s)
        i = 0
        live = np.arange(idx.size)  # positions (into idx) still summing
        while live.size:
            go = (i < 9) | (a[live] <= 9.0)
            done_loop = live[~go]  # left the loop without converging: Euler-Maclaurin next
            live = live[go]
            if done_loop.size:
                _tail(done_loop, xs, s, a, b)
            if not live.size:
                break
            a[live] += 1.0
            b[live] = np.power(a[live], -xs[live])
            s[live] += b[live]
            sl, bl = s[live], b[live]
            conv = (-_MACHEP * sl < bl) & (bl < _MACHEP * sl)
            live = live[~conv]
            i += 1
        out[idx] = s
    return out.reshape(shape)


def _tail(sel, xs, s, a, b) -> None:
    """The Euler-Maclaurin tail for the positions sel (written into s)."""
    x = xs[sel]
    w = a[sel]
    bb = b[sel]
    ss = s[sel] + bb * w / (x - 1.0)
    ss = ss - 0.5 * bb
    aa = np.ones_like(x)
    k = 0.0
    live = np.ones(x.shape, bool)
    for coef in _EM:
        aa = np.where(live, aa * (x + k), aa)
        bb = np.where(live, bb / w, bb)
        t = aa * bb / coef
        ss = np.where(live, ss + t, ss)
        live = live & ~(np.abs(t / ss) < _MACHEP)
        k += 1.0
        aa = np.where(live, aa * (x + k), aa)
        bb = np.where(live, bb / w, bb)
        k += 1.0
    s[sel] = ss

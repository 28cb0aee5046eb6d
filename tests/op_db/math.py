"""Rows for the elementwise math ops (ops/unary_math.py, ops/binary_math.py, ops/special.py).

Domains keep samples away from poles, branch cuts and the jumps of the rounding ops, where
central differences mean nothing.
"""

from __future__ import annotations

import numpy as np

from . import SHAPES, OpInfo, Sample, away_from, binary_samples, randn, unary_samples

_INTS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
_HALVES = tuple(v + 0.5 for v in (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0))


def _avoid(points, lo, hi, margin=0.05):
    def make(rng):
        return [Sample((away_from(rng, s, points, margin, lo, hi),), desc=str(s)) for s in SHAPES]

    return make


def _gamma_domain(rng):
    """Positive values, and negative ones away from the poles at 0, -1, -2, ..."""
    out = [Sample((randn(rng, s, 0.2, 4.0),), desc=str(s)) for s in SHAPES]
    out.append(Sample((away_from(rng, (3, 4), (-3.0, -2.0, -1.0, 0.0), 0.2, -2.8, -0.2),),
                      desc="negative"))
    return out


def _atan2_samples(rng):
    # keep input away from 0 so that no pair sits on the branch cut (input == 0, other < 0)
    out = []
    for sx, sy in (((), ()), ((3, 4), (3, 4)), ((3, 4), (4,)), ((1, 4), (3, 1))):
        out.append(Sample((away_from(rng, sx, (0.0,), 0.2), randn(rng, sy)), desc=f"{sx}x{sy}"))
    return out


def _ternary(lo=None, hi=None, zlo=None, zhi=None):
    def make(rng):
        out = []
        for sa, sb, sc in (((), (), ()), ((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), (3, 1)),
                           ((4,), (3, 4), ())):
            out.append(Sample((randn(rng, sa), randn(rng, sb, lo, hi), randn(rng, sc, zlo, zhi)),
                              desc=f"{sa}x{sb}x{sc}"))
        return out

    return make


def _lerp_tensor(rng):
    out = []
    for sa, sb, sw in (((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), (3, 1)), ((), (4,), ())):
        out.append(Sample((randn(rng, sa), randn(rng, sb), randn(rng, sw, -0.5, 1.5)),
                          desc=f"{sa}x{sb}x{sw}"))
    return out


def _nan_to_num_samples(rng, infinities=True):
    # (with the default posinf/neginf, the largest finite values would overflow the sums that
    # the numeric gradient check takes: those defaults are tested in test_math_ops.py)
    x = randn(rng, (3, 4))
    x[0, 0] = np.nan
    if infinities:
        x[1, 1], x[2, 2] = np.inf, -np.inf
    return [Sample((randn(rng, (3, 4)),), desc="finite"), Sample((x,), desc="special")]


def _unit(lo=0.05, hi=0.95):
    return unary_samples(lo, hi)


ROWS = [
    # trigonometric and hyperbolic
    OpInfo("asin", lambda m, x: m.asin(x), unary_samples(-0.9, 0.9), "AsinBackward0"),
    OpInfo("acos", lambda m, x: m.acos(x), unary_samples(-0.9, 0.9), "AcosBackward0"),
    OpInfo("atan", lambda m, x: m.atan(x), unary_samples(), "AtanBackward0"),
    OpInfo("sinh", lambda m, x: m.sinh(x), unary_samples(), "SinhBackward0"),
    OpInfo("cosh", lambda m, x: m.cosh(x), unary_samples(), "CoshBackward0"),
    OpInfo("asinh", lambda m, x: m.asinh(x), unary_samples(), "AsinhBackward0"),
    OpInfo("acosh", lambda m, x: m.acosh(x), unary_samples(1.2, 3.0), "AcoshBackward0"),
    OpInfo("atanh", lambda m, x: m.atanh(x), unary_samples(-0.9, 0.9), "AtanhBackward0"),
    OpInfo("arcsin_method", lambda m, x: x.arcsin(), unary_samples(-0.9, 0.9), "AsinBackward0"),
    OpInfo("arctanh", lambda m, x: m.arctanh(x), unary_samples(-0.9, 0.9), "AtanhBackward0"),
    # logarithms, powers, angles
    OpInfo("log2", lambda m, x: m.log2(x), unary_samples(0.2, 3.0), "Log2Backward0"),
    OpInfo("log10", lambda m, x: x.log10(), unary_samples(0.2, 3.0), "Log10Backward0"),
    OpInfo("exp2", lambda m, x: m.exp2(x), unary_samples(), "Exp2Backward0"),
    OpInfo("deg2rad", lambda m, x: m.deg2rad(x * 90), unary_samples(), "Deg2RadBackward0"),
    OpInfo("rad2deg", lambda m, x: x.rad2deg(), unary_samples(), "Rad2DegBackward0"),
    OpInfo("sinc", lambda m, x: m.sinc(x), unary_samples(-3.0, 3.0), "SincBackward0"),
    OpInfo("square", lambda m, x: m.square(x), unary_samples(), "PowBackward0"),
    # rounding: zero gradients (samples avoid the jumps)
    OpInfo("floor", lambda m, x: m.floor(x), _avoid(_INTS, -3.0, 3.0), "FloorBackward0"),
    OpInfo("ceil", lambda m, x: x.ceil(), _avoid(_INTS, -3.0, 3.0), "CeilBackward0"),
    OpInfo("trunc", lambda m, x: m.trunc(x), _avoid(_INTS, -3.0, 3.0), "TruncBackward0"),
    OpInfo("fix", lambda m, x: x.fix(), _avoid(_INTS, -3.0, 3.0), "TruncBackward0"),
    OpInfo("frac", lambda m, x: m.frac(x), _avoid(_INTS, -3.0, 3.0), "FracBackward0"),
    OpInfo("round", lambda m, x: m.round(x), _avoid(_HALVES, -3.0, 3.0), "RoundBackward0"),
    OpInfo("round_decimals", lambda m, x: m.round(x * 10, decimals=1),
           _avoid(_HALVES, -3.0, 3.0), "RoundBackward1"),
    OpInfo("round_decimals_neg", lambda m, x: x.round(decimals=-1), unary_samples(),
           "RoundBackward1"),
    # special functions
    OpInfo("erf", lambda m, x: m.erf(x), unary_samples(), "ErfBackward0"),
    OpInfo("erfc", lambda m, x: x.erfc(), unary_samples(), "ErfcBackward0"),
    OpInfo("erfinv", lambda m, x: m.erfinv(x), unary_samples(-0.95, 0.95), "ErfinvBackward0"),
    OpInfo("lgamma", lambda m, x: m.lgamma(x), _gamma_domain, "LgammaBackward0"),
    OpInfo("digamma", lambda m, x: m.digamma(x), _gamma_domain, "DigammaBackward0"),
    OpInfo("polygamma0", lambda m, x: m.polygamma(0, x), _gamma_domain, "PolygammaBackward0"),
    OpInfo("polygamma1", lambda m, x: m.polygamma(1, x), _gamma_domain, "PolygammaBackward0"),
    OpInfo("polygamma2_method", lambda m, x: x.polygamma(2), _gamma_domain,
           "PolygammaBackward0"),
    OpInfo("polygamma3", lambda m, x: m.polygamma(3, x), _gamma_domain, "PolygammaBackward0"),
    # logit, nan_to_num, positive and aliases
    OpInfo("logit", lambda m, x: m.logit(x), _unit(), "LogitBackward0"),
    OpInfo("logit_eps", lambda m, x: x.logit(eps=0.2), _avoid((0.2, 0.8), 0.0, 1.0, 0.02),
           "LogitBackward0"),
    OpInfo("nan_to_num", lambda m, x: m.nan_to_num(x, nan=1.5, posinf=9.0, neginf=-8.0),
           _nan_to_num_samples, "NanToNumBackward0"),
    OpInfo("nan_to_num_default", lambda m, x: x.nan_to_num(),
           lambda rng: _nan_to_num_samples(rng, False), "NanToNumBackward0"),
    OpInfo("positive", lambda m, x: m.positive(x) * 2, unary_samples(), "MulBackward0"),
    OpInfo("negative", lambda m, x: m.negative(x), unary_samples(), "NegBackward0"),
    OpInfo("absolute", lambda m, x: x.absolute(), unary_samples(avoid=(0.0,)), "AbsBackward0"),
    # two or three operands
    OpInfo("atan2", lambda m, x, y: m.atan2(x, y), _atan2_samples, "Atan2Backward0"),
    OpInfo("arctan2", lambda m, x, y: x.arctan2(y), _atan2_samples, "Atan2Backward0"),
    OpInfo("hypot", lambda m, x, y: m.hypot(x, y), binary_samples(), "HypotBackward0"),
    OpInfo("fmod_scalar", lambda m, x: m.fmod(x, 1.5), _avoid((-3.0, -1.5, 0.0, 1.5, 3.0),
                                                               -3.0, 3.0), "FmodBackward0"),
    OpInfo("fmod", lambda m, x, y: m.fmod(x, y), binary_samples(-3.0, 3.0, 0.7, 2.0),
           "FmodBackward1"),
    OpInfo("remainder_tensor", lambda m, x, y: m.remainder(x, y),
           binary_samples(-3.0, 3.0, 0.7, 2.0), "RemainderBackward1"),
    OpInfo("lerp_scalar_low", lambda m, x, y: m.lerp(x, y, 0.3), binary_samples(),
           "LerpBackward0"),
    OpInfo("lerp_scalar_high", lambda m, x, y: x.lerp(y, 0.75), binary_samples(),
           "LerpBackward0"),
    OpInfo("lerp_tensor", lambda m, x, y, w: m.lerp(x, y, w), _lerp_tensor, "LerpBackward1"),
    OpInfo("addcmul", lambda m, x, a, b: m.addcmul(x, a, b, value=0.5), _ternary(),
           "AddcmulBackward0"),
    OpInfo("addcmul_default", lambda m, x, a, b: x.addcmul(a, b), _ternary(),
           "AddcmulBackward0"),
    OpInfo("addcdiv", lambda m, x, a, b: m.addcdiv(x, a, b, value=-2), _ternary(zlo=0.5, zhi=2.0),
           "AddcdivBackward0"),
    OpInfo("logaddexp", lambda m, x, y: m.logaddexp(x, y), binary_samples(), "LogaddexpBackward0"),
    OpInfo("logaddexp2", lambda m, x, y: x.logaddexp2(y), binary_samples(),
           "Logaddexp2Backward0"),
    OpInfo("xlogy", lambda m, x, y: m.xlogy(x, y), binary_samples(ylo=0.2, yhi=3.0),
           "XlogyBackward0"),
    OpInfo("xlogy_scalar_other", lambda m, x: m.xlogy(x, 2.5), unary_samples(),
           "XlogyBackward2"),
    OpInfo("xlogy_scalar_self", lambda m, y: m.xlogy(-1.5, y), unary_samples(0.2, 3.0),
           "XlogyBackward1"),
    OpInfo("copysign", lambda m, x, y: m.copysign(x, y),
           lambda rng: [Sample((away_from(rng, sx), away_from(rng, sy)), desc=f"{sx}x{sy}")
                        for sx, sy in (((3, 4), (3, 4)), ((3, 4), (4,)), ((), (3, 1)))],
           "CopysignBackward0"),
    OpInfo("copysign_scalar", lambda m, x: x.copysign(-1.0), unary_samples(avoid=(0.0,)),
           "CopysignBackward1"),
    OpInfo("float_power", lambda m, x, y: m.float_power(x, y), binary_samples(0.2, 3.0),
           "PowBackward1"),
    OpInfo("float_power_scalar", lambda m, x: x.float_power(3), unary_samples(), "PowBackward0"),
    OpInfo("float_power_scalar_base", lambda m, y: m.float_power(2.5, y), unary_samples(),
           "PowBackward2"),
]

"""Rows for the math gap fillers: ops/math_more.py (ldexp, mvlgamma, renorm, fmax/fmin, angle),
ops/products_more.py (inner, dist, diagflat), ops/special_more.py (i0 and tapegrad.special's
own functions) and the views of ops/strided.py (unfold, as_strided).

Samples keep away from the kinks where central differences mean nothing: zeros for i0e/i1e
(|x| inside), ties for fmax/fmin, slices whose norm is close to renorm's maxnorm. Complex
gradients (angle, conj_physical), errors, in-place details and the random samplers are tested
in tests/test_gaps_math.py.
"""

from __future__ import annotations

import numpy as np

from . import SHAPES, OpInfo, Sample, away_from, binary_samples, randn, unary_samples

_I = np.array


def _each(*variants):
    """variants: (desc, fn(rng) -> args tuple[, grad positions])."""
    def make(rng):
        out = []
        for v in variants:
            desc, f = v[0], v[1]
            grad = v[2] if len(v) > 2 else None
            out.append(Sample(f(rng), grad=grad, desc=desc))
        return out

    return make


def _away0(rng, shape, lo=-3.0, hi=3.0):
    return away_from(rng, shape, (0.0,), 0.2, lo, hi)


def _distinct_pairs(rng):
    """(x, y) pairs over broadcast shapes whose values differ by at least 0.1 (no ties)."""
    out = []
    for sx, sy in (((), ()), ((3, 4), (3, 4)), ((3, 4), (4,)), ((1, 4), (3, 1))):
        while True:
            x, y = randn(rng, sx), randn(rng, sy)
            if np.all(np.abs(np.subtract(x, y)) >= 0.1):
                break
        out.append(Sample((x, y), desc=f"{sx}x{sy}"))
    return out


def _renorm_samples(rng):
    # rows of four normals have 2-norms near 2: maxnorm 1.5 splits them, and samples with a
    # norm within 0.05 of it are redrawn
    out = []
    for shape, p, dim in (((3, 4), 2, 0), ((3, 4), 1, 1), ((2, 3, 4), 3, -1),
                          ((3, 4), float("inf"), 0), ((2, 5), 1.5, 1)):
        while True:
            x = randn(rng, shape)
            axes = tuple(i for i in range(len(shape)) if i != dim % len(shape))
            n = np.sum(np.abs(x) ** p, axis=axes) ** (1 / p) if p != float("inf") else \
                np.max(np.abs(x), axis=axes)
            if np.all(np.abs(n - 1.5) > 0.05) and np.any(n > 1.5) and np.any(n < 1.5) or \
                    p == float("inf") and np.all(np.abs(n - 1.5) > 0.05):
                break
        out.append(Sample((x, p, dim, 1.5), grad=(0,), desc=f"p{p}-dim{dim}"))
    return out


def _mvl(p):
    lo = (p - 1) / 2 + 0.3
    return unary_samples(lo, lo + 3.0)


def _dist_samples(p):
    def make(rng):
        out = []
        for sx, sy in (((4,), (4,)), ((3, 4), (4,)), ((), ()), ((2, 1), (1, 3))):
            x = randn(rng, sx)
            y = randn(rng, sy)
            d = np.broadcast_to(x, np.broadcast_shapes(np.shape(x), np.shape(y))) - y
            if np.any(np.abs(d) < 0.05):  # keep |x - y| away from the kink at 0
                y = y - 0.2
            out.append(Sample((x, y, p), grad=(0, 1), desc=f"{sx}x{sy}"))
        return out

    return make


def _max_norm_ties_free(rng, shape):
    """Values with distinct magnitudes (dist's inf / -inf norms have no ties)."""
    n = int(np.prod(shape)) if shape else 1
    v = (rng.permutation(n) + 1.0) * 0.3 * rng.choice([-1.0, 1.0], n)
    return v.reshape(shape)


def _dist_inf(p):
    def make(rng):
        out = []
        for sx in ((4,), (3, 4), ()):
            x = _max_norm_ties_free(rng, sx)
            out.append(Sample((x, np.zeros(sx) + 0.01, p), grad=(0, 1), desc=str(sx)))
        return out

    return make


def _xlog1py_samples(rng):
    return binary_samples(ylo=-0.5, yhi=2.0)(rng)


def _zeta_samples(rng):
    out = []
    for sx, sq in (((), ()), ((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 1))):
        out.append(Sample((randn(rng, sx, 2.0, 4.0), randn(rng, sq, 0.5, 3.0)), grad=(1,),
                          desc=f"{sx}x{sq}"))
    return out


def _inner_samples(*pairs):
    def make(rng):
        return [Sample((randn(rng, a), randn(rng, b)), desc=f"{a}x{b}") for a, b in pairs]

    return make


# (non-negative integer exponents: for negative ones PyTorch's gradient is computed as the
# integer power 2 ** e, which is 0; tapegrad gives 2.0 ** e, see test_gaps_math.py)
_LDEXP = _each(
    ("int-exp", lambda rng: (randn(rng, (3, 4)), rng.integers(0, 4, (3, 4)))),
    ("int-exp-broadcast", lambda rng: (randn(rng, (3, 4)), rng.integers(0, 4, (4,)))),
    ("0d", lambda rng: (randn(rng, ()), _I(2))),
    ("float-exp", lambda rng: (randn(rng, (3, 4)), randn(rng, (3, 4), -2.0, 2.0))),
)
_LDEXP_BROADCAST = _each(
    ("float-exp-broadcast", lambda rng: (randn(rng, (4,)), randn(rng, (3, 1), -2.0, 2.0))),
)

_UNFOLD = _each(
    ("1d", lambda rng: (randn(rng, (7,)), 0, 3, 2)),
    ("overlap", lambda rng: (randn(rng, (3, 6)), 1, 3, 1)),
    ("dim0", lambda rng: (randn(rng, (5, 2)), 0, 2, 3)),
    ("3d-neg", lambda rng: (randn(rng, (2, 3, 4)), -2, 2, 1)),
    ("0d", lambda rng: (randn(rng, ()), 0, 1, 1)),
)

_AS_STRIDED = _each(
    ("transpose", lambda rng: (randn(rng, (6,)), (2, 3), (1, 2), 0)),
    ("overlap", lambda rng: (randn(rng, (6,)), (3, 3), (1, 1), 0)),
    ("offset", lambda rng: (randn(rng, (3, 4)), (2, 2), (4, 1), 5)),
    ("repeat", lambda rng: (randn(rng, (4,)), (3, 2), (0, 2), 1)),
    ("subset", lambda rng: (randn(rng, (8,)), (2,), (3,), 1)),
)

_DIAGFLAT = _each(
    ("1d", lambda rng: (randn(rng, (3,)), 0)),
    ("2d-offset", lambda rng: (randn(rng, (2, 2)), 1)),
    ("0d", lambda rng: (randn(rng, ()), -1)),
)

ROWS = [
    # ldexp, mvlgamma, renorm, fmax / fmin, angle
    OpInfo("ldexp", lambda m, x, e: m.ldexp(x, e), _LDEXP, "LdexpBackward0"),
    OpInfo("ldexp_broadcast", lambda m, x, e: m.ldexp(x, e), _LDEXP_BROADCAST,
           "LdexpBackward0"),
    OpInfo("ldexp_method", lambda m, x, e: x.ldexp(e), _LDEXP, "LdexpBackward0"),
    OpInfo("ldexp_inplace", lambda m, x, e: (x * 1).ldexp_(e), _LDEXP, "LdexpBackward0"),
    OpInfo("mvlgamma1", lambda m, x: m.mvlgamma(x, 1), _mvl(1), "MvlgammaBackward0"),
    OpInfo("mvlgamma3", lambda m, x: x.mvlgamma(3), _mvl(3), "MvlgammaBackward0"),
    OpInfo("mvlgamma_inplace", lambda m, x: (x * 1).mvlgamma_(2), _mvl(2), "MvlgammaBackward0"),
    OpInfo("special_multigammaln", lambda m, x: m.special.multigammaln(x, 2), _mvl(2),
           "MvlgammaBackward0"),
    OpInfo("renorm", lambda m, x, p, d, mx: m.renorm(x, p, d, mx), _renorm_samples,
           "RenormBackward0"),
    OpInfo("renorm_inplace", lambda m, x, p, d, mx: (x * 1).renorm_(p, d, mx), _renorm_samples,
           "RenormBackward0"),
    OpInfo("fmax", lambda m, x, y: m.fmax(x, y), _distinct_pairs, "FmaxBackward0"),
    OpInfo("fmin", lambda m, x, y: x.fmin(y), _distinct_pairs, "FminBackward0"),
    OpInfo("angle_real", lambda m, x: m.angle(x), unary_samples(avoid=(0.0,)),
           "AngleBackward0"),
    OpInfo("conj_physical_real", lambda m, x: m.conj_physical(x * 2), unary_samples(),
           "MulBackward0"),
    # inner, dist, diagflat
    OpInfo("inner", lambda m, x, y: m.inner(x, y),
           _inner_samples(((4,), (4,)), ((3, 4), (4,)), ((2, 3, 4), (5, 4))), "ViewBackward0"),
    OpInfo("inner_0d", lambda m, x, y: x.inner(y), _inner_samples(((), (3, 4)), ((3,), ())),
           "MulBackward0"),
    OpInfo("dist2", lambda m, x, y, p: m.dist(x, y, p), _dist_samples(2), "DistBackward0"),
    OpInfo("dist1", lambda m, x, y, p: m.dist(x, y, p), _dist_samples(1), "DistBackward0"),
    OpInfo("dist3_method", lambda m, x, y, p: x.dist(y, p), _dist_samples(3), "DistBackward0"),
    OpInfo("dist_half", lambda m, x, y, p: m.dist(x, y, p), _dist_samples(0.5),
           "DistBackward0"),
    OpInfo("dist_inf", lambda m, x, y, p: m.dist(x, y, p), _dist_inf(float("inf")),
           "DistBackward0"),
    OpInfo("dist_neginf", lambda m, x, y, p: m.dist(x, y, p), _dist_inf(-float("inf")),
           "DistBackward0"),
    OpInfo("diagflat", lambda m, x, k: m.diagflat(x, k), _DIAGFLAT, "DiagEmbedBackward0"),
    # special functions
    OpInfo("i0", lambda m, x: m.i0(x), unary_samples(-4.0, 4.0), "I0Backward0"),
    OpInfo("i0_method", lambda m, x: x.i0(), unary_samples(-4.0, 4.0), "I0Backward0"),
    OpInfo("i0_inplace", lambda m, x: (x * 1).i0_(), unary_samples(-4.0, 4.0), "I0Backward0"),
    OpInfo("special_i0", lambda m, x: m.special.i0(x), unary_samples(-4.0, 4.0),
           "I0Backward0"),
    OpInfo("special_i0e", lambda m, x: m.special.i0e(x),
           lambda rng: [Sample((_away0(rng, s),), desc=str(s)) for s in SHAPES],
           "SpecialI0EBackward0"),
    OpInfo("special_i1", lambda m, x: m.special.i1(x), unary_samples(-4.0, 4.0),
           "SpecialI1Backward0"),
    OpInfo("special_i1e", lambda m, x: m.special.i1e(x),
           lambda rng: [Sample((_away0(rng, s),), desc=str(s)) for s in SHAPES],
           "SpecialI1EBackward0"),
    OpInfo("special_erfcx", lambda m, x: m.special.erfcx(x), unary_samples(-2.0, 3.0),
           "SpecialErfcxBackward0"),
    OpInfo("special_ndtr", lambda m, x: m.special.ndtr(x), unary_samples(), "MulBackward1"),
    OpInfo("special_ndtri", lambda m, x: m.special.ndtri(x), unary_samples(0.05, 0.95),
           "SpecialNdtriBackward0"),
    OpInfo("special_log_ndtr", lambda m, x: m.special.log_ndtr(x), unary_samples(-4.0, 3.0),
           "SpecialLogNdtrBackward0"),
    OpInfo("special_entr", lambda m, x: m.special.entr(x), unary_samples(0.2, 3.0),
           "SpecialEntrBackward0"),
    OpInfo("special_xlog1py", lambda m, x, y: m.special.xlog1py(x, y), _xlog1py_samples,
           "SpecialXlog1PyBackward0"),
    OpInfo("special_xlog1py_scalar_self", lambda m, y: m.special.xlog1py(1.5, y),
           unary_samples(-0.5, 2.0), "SpecialXlog1PyBackward1"),
    OpInfo("special_xlog1py_scalar_other", lambda m, x: m.special.xlog1py(x, 0.5),
           unary_samples(), "SpecialXlog1PyBackward2"),
    OpInfo("special_zeta", lambda m, x, q: m.special.zeta(x, q), _zeta_samples,
           "SpecialZetaBackward0"),
    OpInfo("special_zeta_scalar_self", lambda m, q: m.special.zeta(2.5, q),
           unary_samples(0.5, 3.0), "SpecialZetaBackward1"),
    OpInfo("special_expit", lambda m, x: m.special.expit(x), unary_samples(),
           "SigmoidBackward0"),
    OpInfo("special_gammaln", lambda m, x: m.special.gammaln(x), unary_samples(0.3, 4.0),
           "LgammaBackward0"),
    OpInfo("special_psi", lambda m, x: m.special.psi(x), unary_samples(0.3, 4.0),
           "DigammaBackward0"),
    OpInfo("special_round", lambda m, x: m.special.round(x), unary_samples(), "RoundBackward1"),
    OpInfo("special_logsumexp", lambda m, x: m.special.logsumexp(x, -1),
           lambda rng: [Sample((randn(rng, s),), desc=str(s)) for s in SHAPES[1:]],
           "LogsumexpBackward0"),
    OpInfo("special_softmax", lambda m, x: m.special.softmax(x, 0),
           lambda rng: [Sample((randn(rng, s),), desc=str(s)) for s in SHAPES[1:]],
           "SoftmaxBackward0"),
    OpInfo("special_log_softmax", lambda m, x: m.special.log_softmax(x, -1),
           lambda rng: [Sample((randn(rng, s),), desc=str(s)) for s in SHAPES[1:]],
           "LogSoftmaxBackward0"),
    # views by geometry
    OpInfo("unfold", lambda m, x, d, size, step: x.unfold(d, size, step), _UNFOLD,
           "UnfoldBackward0"),
    OpInfo("as_strided", lambda m, x, size, stride, k: m.as_strided(x, size, stride, k),
           _AS_STRIDED, "AsStridedBackward0"),
    OpInfo("as_strided_method", lambda m, x, size, stride, k: (x * 1).as_strided(size, stride, k),
           _AS_STRIDED, "AsStridedBackward0"),
]

"""Rows for the reductions (sum, mean, max/min, amax/amin, argmax/argmin, var/std, norm,
logsumexp, prod) and softmax / log_softmax.

Values are random (no ties) so central differences apply; ties, integer inputs and error
messages are tested in tests/test_reductions.py.
"""

from __future__ import annotations

import numpy as np

from . import OpInfo, Sample, away_from, randn

# (desc, shape, args after x, kwargs): dim variants shared by sum, mean, amax, logsumexp, ...
_DIMS = [
    ("3x4-dim1", (3, 4), (1,), {}),
    ("3x4-dim-1-keep", (3, 4), (-1,), {"keepdim": True}),
    ("2x3x4-dim-2", (2, 3, 4), (-2,), {}),
    ("2x3x4-tuple02", (2, 3, 4), ((0, 2),), {}),
    ("2x3x4-tuple-1-3-keep", (2, 3, 4), ((-1, -3),), {"keepdim": True}),
    ("2x3x4-list1", (2, 3, 4), ([1],), {}),
    ("4-dim0", (4,), (0,), {}),
    ("0d-dim0", (), (0,), {}),
    ("0d-dim-1-keep", (), (-1,), {"keepdim": True}),
]

# the single-int dims only (max(dim), prod(dim), softmax, ...)
_INT_DIMS = [d for d in _DIMS if isinstance(d[2][0], int)]


def _full(shapes=((), (5,), (3, 4), (2, 3, 4)), gen=None):
    def make(rng):
        return [Sample((np.asarray((gen or randn)(rng, s)),), desc=str(s)) for s in shapes]

    return make


def _dims(variants=_DIMS, gen=None, extra=None):
    """Samples x, *args, **kwargs for each dim variant (extra kwargs merged in)."""

    def make(rng):
        out = []
        for desc, shape, args, kwargs in variants:
            kw = dict(kwargs, **(extra or {}))
            x = np.asarray((gen or randn)(rng, shape))
            out.append(Sample((x,) + args, kw, grad=(0,), desc=desc))
        return out

    return make


def _distinct(rng, shape):
    """Values spaced at least 0.05 apart (no near-ties for max/min/amax)."""
    n = int(np.prod(shape)) if shape else 1
    v = (rng.permutation(n) - n / 2) * 0.1 + rng.uniform(-0.02, 0.02, n)
    return v.reshape(shape)


def _nonzero(rng, shape):
    return away_from(rng, shape, (0.0,), margin=0.2)


def _positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def _zeros_rows(rng):
    """prod inputs with zeros: rows holding one, two and three zeros, and a full vector each."""
    x = rng.uniform(0.5, 1.5, size=(4, 5)) * rng.choice([-1.0, 1.0], size=(4, 5))
    x[1, 2] = 0.0
    x[2, [0, 3]] = 0.0
    x[3, [1, 2, 4]] = 0.0
    out = [Sample((x, 1), grad=(0,), desc="rows-0-1-2-3-zeros")]
    out.append(Sample((x.T.copy(), 0, True), grad=(0,), desc="cols-keep"))
    for k in (1, 2, 3):
        v = rng.uniform(0.5, 1.5, size=(6,))
        v[rng.choice(6, size=k, replace=False)] = 0.0
        out.append(Sample((v,), grad=(0,), desc=f"vec-{k}-zeros"))
    out.append(Sample((np.zeros(()),), grad=(0,), desc="0d-zero"))
    return out


def _softmax_samples(rng):
    out = []
    for desc, shape, args, kwargs in _INT_DIMS:
        if kwargs:
            continue
        out.append(Sample((np.asarray(randn(rng, shape) * 3),) + args, desc=desc))
    out.append(Sample((randn(rng, (2, 3)) * 3 + 500.0, 1), desc="large-values"))
    out.append(Sample((randn(rng, (2, 3, 4)), 0), desc="2x3x4-dim0"))
    return out


def _bin_minmax(rng):
    return [Sample((_distinct(rng, (3, 4)), _distinct(rng, (3, 4)) + 0.025), desc="3x4"),
            Sample((_distinct(rng, (3, 4)), _distinct(rng, (4,)) + 0.025), desc="bcast")]


ROWS = [
    # --- sum / mean -------------------------------------------------------------------
    OpInfo("sum", lambda m, x: x.sum(), _full(), "SumBackward0"),
    OpInfo("sum_dim", lambda m, x, *a, **k: m.sum(x, *a, **k), _dims(), "SumBackward1"),
    OpInfo("sum_empty_tuple", lambda m, x: x.sum(()), _full(((3, 4),)), "SumBackward1"),
    OpInfo("sum_dtype", lambda m, x: x.sum(1, dtype=m.float64), _full(((3, 4),)),
           "SumBackward1"),
    OpInfo("sum_none_keepdim", lambda m, x: x.sum(None, True), _full(((3, 4),)),
           "SumBackward1"),
    OpInfo("mean", lambda m, x: x.mean(), _full(), "MeanBackward0"),
    OpInfo("mean_dim", lambda m, x, *a, **k: m.mean(x, *a, **k), _dims(), "MeanBackward1"),
    OpInfo("mean_dtype", lambda m, x: x.mean((0, 1), dtype=m.float64), _full(((3, 4),)),
           "MeanBackward1"),
    # --- max / min / amax / amin / argmax / argmin --------------------------------------
    OpInfo("max", lambda m, x: x.max(), _full(gen=_distinct), "MaxBackward1"),
    OpInfo("min", lambda m, x: m.min(x), _full(gen=_distinct), "MinBackward1"),
    OpInfo("max_dim", lambda m, x, *a, **k: m.max(x, *a, **k), _dims(_INT_DIMS, _distinct),
           "MaxBackward0"),
    OpInfo("min_dim", lambda m, x, *a, **k: x.min(*a, **k), _dims(_INT_DIMS, _distinct),
           "MinBackward0"),
    OpInfo("max_dim_kw", lambda m, x: x.max(dim=1, keepdim=True).values,
           _full(((3, 4),), _distinct), "MaxBackward0"),
    OpInfo("max_binary", lambda m, x, y: m.max(x, y), _bin_minmax, "MaximumBackward0"),
    OpInfo("min_binary", lambda m, x, y: x.min(y), _bin_minmax, "MinimumBackward0"),
    OpInfo("amax", lambda m, x: m.amax(x), _full(gen=_distinct), "AmaxBackward0"),
    OpInfo("amax_dim", lambda m, x, *a, **k: m.amax(x, *a, **k), _dims(gen=_distinct),
           "AmaxBackward0"),
    OpInfo("amin_dim", lambda m, x, *a, **k: x.amin(*a, **k), _dims(gen=_distinct),
           "AminBackward0"),
    OpInfo("argmax", lambda m, x: x.argmax(), _full(gen=_distinct), differentiable=False),
    OpInfo("argmax_dim", lambda m, x, *a, **k: m.argmax(x, *a, **k),
           _dims(_INT_DIMS, _distinct), differentiable=False),
    OpInfo("argmin_dim", lambda m, x, *a, **k: x.argmin(*a, **k),
           _dims(_INT_DIMS, _distinct), differentiable=False),
    # --- var / std / var_mean / std_mean ------------------------------------------------
    OpInfo("var", lambda m, x: x.var(), _full(((5,), (3, 4), (2, 3, 4))), "VarBackward0"),
    OpInfo("std", lambda m, x: m.std(x), _full(((5,), (3, 4), (2, 3, 4))), "StdBackward0"),
    OpInfo("var_dim", lambda m, x, *a, **k: m.var(x, *a, **k),
           _dims([d for d in _DIMS if d[1]]), "VarBackward0"),
    OpInfo("std_dim", lambda m, x, *a, **k: x.std(*a, **k),
           _dims([d for d in _DIMS if d[1]]), "StdBackward0"),
    OpInfo("var_unbiased_false", lambda m, x: x.var(1, False, True), _full(((3, 4),)),
           "VarBackward0"),
    OpInfo("std_bool_overload", lambda m, x: x.std(False), _full(((3, 4),)), "StdBackward0"),
    OpInfo("var_correction", lambda m, x: x.var(dim=(0, 2), correction=2),
           _full(((3, 2, 4),)), "VarBackward0"),
    OpInfo("std_correction0", lambda m, x: m.std(x, correction=0), _full(((3, 4),)),
           "StdBackward0"),
    OpInfo("var_mean", lambda m, x: m.var_mean(x, 1), _full(((3, 4),)), "VarMeanBackward0"),
    OpInfo("std_mean", lambda m, x: m.std_mean(x, (0, 1), keepdim=True), _full(((3, 4),)),
           "StdMeanBackward0"),
    OpInfo("var_mean_full", lambda m, x: m.var_mean(x, correction=0), _full(((3, 4),)),
           "VarMeanBackward0"),
    OpInfo("std_mean_only_mean_used", lambda m, x: m.std_mean(x, 0)[1] * 2, _full(((3, 4),)),
           "MulBackward0"),
    # --- norm ---------------------------------------------------------------------------
    OpInfo("norm", lambda m, x: x.norm(), _full(), "LinalgVectorNormBackward0"),
    OpInfo("norm_fro_dim", lambda m, x: m.norm(x, "fro", dim=(0, 1)),
           _full(((3, 4), (2, 3, 4))), "LinalgVectorNormBackward0"),
    OpInfo("norm_dim", lambda m, x, *a, **k: x.norm(2, *a, **k),
           _dims([d for d in _DIMS if d[1]]), "LinalgVectorNormBackward0"),
    OpInfo("norm_p1", lambda m, x: x.norm(1), _full(gen=_nonzero), "LinalgVectorNormBackward0"),
    OpInfo("norm_p1_dim", lambda m, x: x.norm(p=1, dim=1, keepdim=True),
           _full(((3, 4),), _nonzero), "LinalgVectorNormBackward0"),
    OpInfo("norm_inf", lambda m, x: x.norm(float("inf")), _full(gen=_distinct),
           "LinalgVectorNormBackward0"),
    OpInfo("norm_inf_dim", lambda m, x: x.norm(float("inf"), dim=0),
           _full(((3, 4),), _distinct), "LinalgVectorNormBackward0"),
    OpInfo("norm_neginf", lambda m, x: x.norm(float("-inf"), dim=1),
           _full(((3, 4),), _distinct), "LinalgVectorNormBackward0"),
    OpInfo("norm_p0", lambda m, x: x.norm(0, dim=1), _full(((3, 4),), _nonzero),
           "LinalgVectorNormBackward0"),
    OpInfo("norm_p3", lambda m, x: x.norm(3), _full(gen=_nonzero), "LinalgVectorNormBackward0"),
    OpInfo("norm_p1_5", lambda m, x: x.norm(1.5, dim=-1), _full(((3, 4),), _nonzero),
           "LinalgVectorNormBackward0"),
    OpInfo("norm_p0_5", lambda m, x: m.norm(x, 0.5), _full(((5,), (3, 4)), _nonzero),
           "LinalgVectorNormBackward0"),
    OpInfo("norm_p_neg1", lambda m, x: x.norm(-1, dim=0), _full(((3, 4),), _nonzero),
           "LinalgVectorNormBackward0"),
    OpInfo("norm_dtype", lambda m, x: x.norm(dtype=m.float64), _full(((3, 4),)),
           "LinalgVectorNormBackward0"),
    # --- logsumexp ----------------------------------------------------------------------
    OpInfo("logsumexp", lambda m, x, *a, **k: m.logsumexp(x, *a, **k), _dims(),
           "LogsumexpBackward0"),
    OpInfo("logsumexp_large", lambda m, x: x.logsumexp(1),
           lambda rng: [Sample((randn(rng, (3, 4)) + 1000.0,), desc="+1000"),
                        Sample((randn(rng, (3, 4)) - 1000.0,), desc="-1000")],
           "LogsumexpBackward0", atol=1e-3),
    # --- prod ---------------------------------------------------------------------------
    OpInfo("prod", lambda m, x: x.prod(), _full(gen=_nonzero), "ProdBackward0"),
    OpInfo("prod_dim", lambda m, x, *a, **k: m.prod(x, *a, **k), _dims(_INT_DIMS, _nonzero),
           "ProdBackward1"),
    OpInfo("prod_zeros_full", lambda m, x, *a: x.prod(),
           lambda rng: [s for s in _zeros_rows(rng)], "ProdBackward0"),
    OpInfo("prod_zeros_dim", lambda m, x, *a: x.prod(*a),
           lambda rng: [s for s in _zeros_rows(rng) if len(s.args) > 1], "ProdBackward1"),
    OpInfo("prod_dtype", lambda m, x: x.prod(1, dtype=m.float64), _full(((3, 4),), _nonzero),
           "ProdBackward1"),
    # --- softmax / log_softmax ------------------------------------------------------------
    OpInfo("softmax", lambda m, x, d: m.softmax(x, d), _softmax_samples, "SoftmaxBackward0",
           atol=1e-6),
    OpInfo("log_softmax", lambda m, x, d: x.log_softmax(d), _softmax_samples,
           "LogSoftmaxBackward0", atol=1e-4),
    OpInfo("softmax_method", lambda m, x: x.softmax(dim=-1), _full(((3, 4),)),
           "SoftmaxBackward0"),
    OpInfo("softmax_dtype", lambda m, x: x.softmax(0, dtype=m.float64), _full(((3, 4),)),
           "SoftmaxBackward0"),
    OpInfo("F_softmax", lambda m, x: m.nn.functional.softmax(x, dim=1), _full(((3, 4),)),
           "SoftmaxBackward0"),
    OpInfo("F_log_softmax", lambda m, x: m.nn.functional.log_softmax(x, 0, dtype=m.float64),
           _full(((3, 4),)), "LogSoftmaxBackward0"),
    OpInfo("F_softmin", lambda m, x: m.nn.functional.softmin(x, -1), _full(((2, 3, 4),)),
           "SoftmaxBackward0"),
]

"""Rows for the scans (cumsum, cumprod, cummax, cummin, logcumsumexp, diff), sorting (sort,
argsort, msort, topk), order statistics (kthvalue, median, nanmedian, mode, quantile,
nanquantile) and the other reductions of ops/reduction_more.py (any, all, count_nonzero,
nansum, nanmean, aminmax).

Float samples hold distinct values spaced apart (no ties, so central differences apply);
rows that list an integer dtype also run their forward on those values truncated to integers,
which are full of ties: that compares tapegrad's choice of index among equal values with
PyTorch's. Ties, NaNs, empty dims and error messages are tested in tests/test_scan_sort.py.
"""

from __future__ import annotations

import numpy as np

from . import OpInfo, Sample, away_from, randn

_F = ("float32", "float64")
_FI = ("float32", "float64", "int64")


def _distinct(rng, shape, scale=0.15):
    """Values spaced at least ~0.1 apart, spread over a few units (ties once truncated)."""
    n = int(np.prod(shape)) if shape else 1
    v = (rng.permutation(n) - n / 2) * scale + rng.uniform(-0.03, 0.03, n)
    return np.asarray(v.reshape(shape) * 2.0)


# (desc, shape, args after x, kwargs)
_SCAN_DIMS = [
    ("0d-dim0", (), (0,), {}),
    ("5-dim0", (5,), (0,), {}),
    ("3x4-dim1", (3, 4), (1,), {}),
    ("3x4-dim0", (3, 4), (0,), {}),
    ("2x3x4-dim-2", (2, 3, 4), (-2,), {}),
]


def _dims(variants, gen=_distinct, extra=None):
    def make(rng):
        out = []
        for desc, shape, args, kwargs in variants:
            kw = dict(kwargs, **(extra or {}))
            out.append(Sample((np.asarray(gen(rng, shape)),) + args, kw, grad=(0,), desc=desc))
        return out

    return make


def _full(shapes=((), (5,), (3, 4), (2, 3, 4)), gen=_distinct):
    def make(rng):
        return [Sample((np.asarray(gen(rng, s)),), desc=str(s)) for s in shapes]

    return make


def _nonzero(rng, shape):
    return away_from(rng, shape, (0.0,), margin=0.25, lo=-1.5, hi=1.5)


def _cumprod_zeros(rng):
    """cumprod inputs with zeros: one zero, two zeros, a zero first and last, per row."""
    x = rng.uniform(0.5, 1.5, size=(4, 5)) * rng.choice([-1.0, 1.0], size=(4, 5))
    x[0, 2] = 0.0
    x[1, [1, 3]] = 0.0
    x[2, 0] = 0.0
    x[3, 4] = 0.0
    return [Sample((x, 1), grad=(0,), desc="rows-with-zeros"),
            Sample((x.T.copy(), 0), grad=(0,), desc="cols-with-zeros"),
            Sample((np.array([0.0, 1.3, -0.7, 0.9]), 0), grad=(0,), desc="vec-first-zero")]


def _nan_rows(rng, shape=(3, 5)):
    """Distinct values with NaNs: one row clean, one with a NaN, one with two."""
    x = _distinct(rng, shape)
    x[1, 3] = np.nan
    x[2, [0, 2]] = np.nan
    return x


def _diff_samples(rng):
    return [
        Sample((_distinct(rng, (5,)),), desc="5"),
        Sample((_distinct(rng, (3, 4)), 2), desc="3x4-n2"),
        Sample((_distinct(rng, (3, 4)), 1, 0), desc="3x4-dim0"),
        Sample((_distinct(rng, (3, 4)), 9), desc="n-past-size"),
        Sample((_distinct(rng, (3, 4)), 0), desc="n0"),
        Sample((_distinct(rng, (3, 4)),), {"prepend": _distinct(rng, (3, 2)),
                                          "append": _distinct(rng, (3, 1))},
               desc="prepend-append"),
        Sample((_distinct(rng, (2, 3, 4)), 2, 1), {"append": _distinct(rng, (2, 2, 4))},
               desc="2x3x4-dim1-append"),
    ]


def _sort_samples(rng):
    return [
        Sample((_distinct(rng, ()),), desc="0d"),
        Sample((_distinct(rng, (7,)),), desc="7"),
        Sample((_distinct(rng, (3, 5)), 0), desc="3x5-dim0"),
        Sample((_distinct(rng, (3, 5)), -1, True), desc="3x5-desc"),
        Sample((_distinct(rng, (2, 3, 4)),), {"dim": 1, "descending": True}, desc="2x3x4-kw"),
        Sample((_distinct(rng, (2, 20)),), desc="2x20"),
    ]


def _stable_samples(rng):
    return [Sample((_distinct(rng, (2, 3, 4)),), {"dim": 1, "descending": True, "stable": True},
                   desc="2x3x4-desc"),
            Sample((_distinct(rng, (3, 20)),), {"stable": False}, desc="3x20-unstable")]


def _topk_samples(rng):
    return [
        Sample((_distinct(rng, (7,)), 3), desc="7-k3"),
        Sample((_distinct(rng, (3, 6)), 2, 0), desc="3x6-dim0"),
        Sample((_distinct(rng, (3, 6)), 4), {"largest": False}, desc="smallest"),
        Sample((_distinct(rng, (2, 3, 5)), 5, -1), desc="k-all"),
        Sample((_distinct(rng, (2, 70)), 1), desc="partial-sort-path"),
        Sample((_distinct(rng, (4, 5)), 0), desc="k0"),
        Sample((_distinct(rng, ()), 1), desc="0d"),
    ]


def _kth_samples(rng):
    return [
        Sample((_distinct(rng, (7,)), 3), desc="7-k3"),
        Sample((_distinct(rng, (3, 6)), 1, 0), desc="3x6-k1-dim0"),
        Sample((_distinct(rng, (3, 6)), 6, 1, True), desc="k-last-keepdim"),
        Sample((_distinct(rng, (2, 3, 5)), 2), {"dim": -2}, desc="2x3x5"),
        Sample((_distinct(rng, ()), 1), desc="0d"),
    ]


def _median_dims(rng):
    return [
        Sample((_distinct(rng, (7,)), 0), desc="7"),
        Sample((_distinct(rng, (4, 6)), 1), desc="even-count"),
        Sample((_distinct(rng, (4, 5)), 0, True), desc="dim0-keepdim"),
        Sample((_distinct(rng, (2, 3, 4)),), {"dim": -1}, desc="2x3x4"),
        Sample((_distinct(rng, ()), 0), desc="0d"),
    ]


def _quantile_samples(rng):
    out = []
    for desc, shape, q, dim, keep in [
        ("scalar-q-all", (3, 4), 0.3, None, False),
        ("scalar-q-dim1", (3, 5), 0.77, 1, False),
        ("scalar-q-dim0-keep", (4, 3), 0.45, 0, True),
        ("vec-q-dim1", (3, 6), np.array([0.1, 0.5, 0.93]), 1, False),
        ("vec-q-all-keep", (2, 3, 4), np.array([0.27, 0.81]), None, True),
        ("vec-q-dim1-3d", (2, 5, 3), np.array([0.62]), 1, True),
        ("q0-q1", (6,), np.array([0.0, 1.0]), 0, False),
        ("0d-input", (), 0.4, None, False),
    ]:
        out.append(Sample((_distinct(rng, shape), q, dim, keep), grad=(0,), desc=desc))
    return out


def _quantile_q_grad(rng):
    return [Sample((_distinct(rng, (3, 6)), np.array([0.13, 0.58])), {"dim": 1},
                   desc="grad-to-q")]


def _logical_samples(rng):
    x = np.round(rng.uniform(-1.2, 1.2, size=(3, 4)))
    x[2] = 0.0
    x[:, 1] = 1.0
    return [
        Sample((x,), desc="full"),
        Sample((x, 1), desc="dim1"),
        Sample((x, 0, True), desc="dim0-keepdim"),
        Sample((x, (0, 1)), desc="tuple"),
        Sample((x,), {"dim": -1}, desc="kw"),
        Sample((np.zeros(()),), desc="0d"),
    ]


ROWS = [
    # --- scans ----------------------------------------------------------------------------
    OpInfo("cumsum", lambda m, x, *a, **k: m.cumsum(x, *a, **k), _dims(_SCAN_DIMS),
           "CumsumBackward0", dtypes=_FI),
    OpInfo("cumsum_method_dtype", lambda m, x: x.cumsum(1, dtype=m.float64),
           _full(((3, 4),)), "CumsumBackward0"),
    OpInfo("cumprod", lambda m, x, *a, **k: x.cumprod(*a, **k), _dims(_SCAN_DIMS, _nonzero),
           "CumprodBackward0", dtypes=_FI),
    OpInfo("cumprod_zeros", lambda m, x, d: m.cumprod(x, d), _cumprod_zeros,
           "CumprodBackward0"),
    OpInfo("cumprod_dtype", lambda m, x: m.cumprod(x, 0, dtype=m.float64),
           _full(((4, 3),), _nonzero), "CumprodBackward0"),
    OpInfo("cummax", lambda m, x, *a, **k: m.cummax(x, *a, **k), _dims(_SCAN_DIMS),
           "CummaxBackward0", dtypes=_FI, multi_output=True),
    OpInfo("cummin", lambda m, x, *a, **k: x.cummin(*a, **k), _dims(_SCAN_DIMS),
           "CumminBackward0", dtypes=_FI, multi_output=True),
    OpInfo("cummax_values", lambda m, x: x.cummax(dim=1).values * 2, _full(((3, 6),)),
           "MulBackward0"),
    OpInfo("logcumsumexp", lambda m, x, *a, **k: m.logcumsumexp(x, *a, **k),
           _dims(_SCAN_DIMS, randn), "LogcumsumexpBackward0"),
    OpInfo("logcumsumexp_large", lambda m, x: x.logcumsumexp(1),
           lambda rng: [Sample((randn(rng, (3, 4)) * 3 + 500.0,), desc="+500"),
                        Sample((randn(rng, (3, 4)) * 3 - 500.0,), desc="-500")],
           "LogcumsumexpBackward0", atol=1e-3),
    OpInfo("diff", lambda m, x, *a, **k: m.diff(x, *a, **k), _diff_samples, dtypes=_FI),
    # --- sorting --------------------------------------------------------------------------
    OpInfo("sort", lambda m, x, *a, **k: m.sort(x, *a, **k), _sort_samples, "SortBackward0",
           dtypes=_FI, multi_output=True),
    OpInfo("sort_stable", lambda m, x, **k: m.sort(x, **k), _stable_samples, "SortBackward1",
           dtypes=_FI, multi_output=True),
    OpInfo("sort_method", lambda m, x: x.sort(0, True).values, _full(((4, 3),)),
           "SortBackward0", dtypes=_FI),
    OpInfo("argsort", lambda m, x, *a, **k: m.argsort(x, *a, **k), _sort_samples,
           differentiable=False, dtypes=_FI),
    OpInfo("msort", lambda m, x: m.msort(x), _full(((5,), (4, 3))), "SortBackward0",
           dtypes=_FI),
    OpInfo("topk", lambda m, x, *a, **k: m.topk(x, *a, **k), _topk_samples, "TopkBackward0",
           dtypes=_FI, multi_output=True),
    OpInfo("topk_unsorted", lambda m, x, k: x.topk(k, sorted=False),
           lambda rng: [Sample((_distinct(rng, (3, 9)), 4), desc="3x9-k4"),
                        Sample((_distinct(rng, (40,)), 7), desc="40-k7")],
           "TopkBackward0", dtypes=_FI, multi_output=True),
    # --- order statistics ------------------------------------------------------------------
    OpInfo("kthvalue", lambda m, x, *a, **k: m.kthvalue(x, *a, **k), _kth_samples,
           "KthvalueBackward0", dtypes=_FI, multi_output=True),
    OpInfo("median", lambda m, x: m.median(x), _full(), "MedianBackward0", dtypes=_FI),
    OpInfo("median_even", lambda m, x: x.median(), _full(((4,), (2, 3))), "MedianBackward0"),
    OpInfo("median_dim", lambda m, x, *a, **k: m.median(x, *a, **k), _median_dims,
           "MedianBackward1", dtypes=_FI, multi_output=True),
    OpInfo("nanmedian", lambda m, x: x.nanmedian(), _full(((3, 5),), _nan_rows),
           "NanmedianBackward0"),
    OpInfo("nanmedian_dim", lambda m, x, *a: m.nanmedian(x, *a),
           lambda rng: [Sample((_nan_rows(rng), 1), desc="rows-with-nans"),
                        Sample((_distinct(rng, (4, 3)), 0), desc="no-nans")],
           "NanmedianBackward1", multi_output=True),
    OpInfo("mode", lambda m, x, *a, **k: m.mode(x, *a, **k), _median_dims, "ModeBackward0",
           dtypes=_FI, multi_output=True),
    OpInfo("quantile", lambda m, x, q, *a: m.quantile(x, q, *a), _quantile_samples,
           "SqueezeBackward4"),
    OpInfo("quantile_q_grad", lambda m, x, q, **k: x.quantile(q, **k), _quantile_q_grad,
           "SqueezeBackward4"),
]

for _mode in ("lower", "higher", "midpoint", "nearest"):
    ROWS.append(OpInfo(
        f"quantile_{_mode}",
        lambda m, x, q, *a, _mode=_mode: x.quantile(q, *a, interpolation=_mode),
        _quantile_samples, "SqueezeBackward4"))

ROWS += [
    OpInfo("nanquantile", lambda m, x, q, *a: m.nanquantile(x, q, *a),
           lambda rng: [Sample((_nan_rows(rng), 0.35, 1), grad=(0,), desc="rows-with-nans"),
                        Sample((_nan_rows(rng), 0.6), grad=(0,), desc="all")],
           "SqueezeBackward4"),
    # --- any / all / count_nonzero / nansum / nanmean / aminmax ----------------------------
    OpInfo("any", lambda m, x, *a, **k: m.any(x, *a, **k), _logical_samples,
           differentiable=False, dtypes=_FI),
    OpInfo("all", lambda m, x, *a, **k: x.all(*a, **k), _logical_samples,
           differentiable=False, dtypes=_FI),
    OpInfo("count_nonzero", lambda m, x, *a, **k: m.count_nonzero(x, *a),
           lambda rng: [s for s in _logical_samples(rng) if "keepdim" not in s.desc],
           differentiable=False, dtypes=_FI),
    OpInfo("nansum", lambda m, x, *a, **k: m.nansum(x, *a, **k),
           lambda rng: [Sample((_nan_rows(rng),), desc="all"),
                        Sample((_nan_rows(rng), 1), desc="dim1"),
                        Sample((_nan_rows(rng), (0, 1), True), desc="tuple-keepdim"),
                        Sample((_distinct(rng, (2, 3)),), {"dtype": None}, desc="no-nans")],
           "NansumBackward0"),
    OpInfo("nansum_int", lambda m, x: m.nansum(x, 0), _full(((3, 4),)), "NansumBackward0",
           dtypes=_FI),
    OpInfo("nanmean", lambda m, x, *a, **k: x.nanmean(*a, **k),
           lambda rng: [Sample((_nan_rows(rng),), desc="all"),
                        Sample((_nan_rows(rng), 1), desc="dim1"),
                        Sample((_nan_rows(rng), 0, True), desc="dim0-keepdim")],
           "DivBackward0"),
    OpInfo("aminmax", lambda m, x, **k: m.aminmax(x, **k),
           lambda rng: [Sample((_distinct(rng, (3, 4)),), desc="all"),
                        Sample((_distinct(rng, (3, 4)),), {"dim": 1}, desc="dim1"),
                        Sample((_distinct(rng, (2, 3, 4)),), {"dim": 0, "keepdim": True},
                               desc="dim0-keepdim"),
                        Sample((_distinct(rng, ()),), desc="0d")],
           "AminmaxBackward0", dtypes=_FI, multi_output=True),
    OpInfo("aminmax_max_only", lambda m, x: m.aminmax(x, dim=-1).max * 3,
           _full(((3, 4),)), "MulBackward0"),
]

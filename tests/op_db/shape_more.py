"""Rows for gather / scatter (ops/gather_scatter.py), the index ops (ops/index_ops.py), the
masked and flat-index ops (ops/masked_ops.py), more shape ops (ops/shape_more.py) and the
index-computing ops without derivative (ops/index_gen.py).

Index arguments are NumPy int64 / bool arrays (tensors in both libraries). Where PyTorch's
gradient is right only for distinct indices (scatter, index_copy, put without accumulate)
the samples use distinct indices; the accumulating ops (scatter_add, index_add, index_select,
take, gather, put with accumulate, scatter_reduce) also get repeated ones. Float samples of
amax / amin hold distinct values (no ties, so central differences apply). Errors, in-place
forms, unique and the rest are tested in tests/test_shape_more.py.
"""

from __future__ import annotations

import numpy as np

from . import OpInfo, Sample, randn

_I = np.array


def _distinct(rng, shape):
    n = int(np.prod(shape)) if shape else 1
    v = (rng.permutation(n) - n / 2) * 0.3 + rng.uniform(-0.05, 0.05, n)
    return np.asarray(v.reshape(shape))


def _samples(*variants):
    """variants: (desc, fn(rng) -> args tuple[, kwargs]); float arrays require grad."""
    def make(rng):
        out = []
        for desc, f in variants:
            r = f(rng)
            kwargs_form = len(r) == 2 and isinstance(r[0], tuple) and isinstance(r[1], dict)
            args, kw = r if kwargs_form else (r, {})
            out.append(Sample(args, kw, desc=desc))
        return out

    return make


def _x(shape, *args):
    return lambda rng: (randn(rng, shape),) + args


# --- gather / scatter ---------------------------------------------------------------------
_GATHER = _samples(
    ("dim1-repeats", _x((3, 4), 1, _I([[0, 0], [3, 1], [2, 2]]))),
    ("dim0-smaller", _x((3, 4), 0, _I([[2, 0, 1, 2], [0, 0, 2, 1]]))),
    ("dim-1-3d", _x((2, 3, 4), -1, _I([[[3], [0], [1]], [[2], [2], [0]]]))),
    ("0d-x", _x((), 0, _I([0, 0]))),
    ("0d-index", _x((4,), 0, _I(2))),
)

# distinct positions along dim within each slice: PyTorch's scatter gradient assumes them
_SCATTER_IDX = _I([[2, 0, 1, 2], [0, 2, 2, 1]])
_DUP_IDX = _I([[2, 0, 1, 2], [2, 0, 1, 0], [0, 0, 1, 2]])

_SCATTER = _samples(
    ("dim0", lambda rng: (randn(rng, (3, 4)), 0, _SCATTER_IDX, randn(rng, (2, 4)))),
    ("dim1-smaller", lambda rng: (randn(rng, (3, 5)), 1, _I([[4, 0], [1, 3]]),
                                  randn(rng, (2, 2)))),
    ("0d", lambda rng: (randn(rng, ()), 0, _I(0), randn(rng, ()))),
)

_SCATTER_ADD = _samples(
    ("dim0-dups", lambda rng: (randn(rng, (3, 4)), 0, _DUP_IDX, randn(rng, (3, 4)))),
    ("dim1", lambda rng: (randn(rng, (2, 5)), 1, _I([[4, 4, 0], [1, 3, 1]]),
                          randn(rng, (2, 3)))),
)


def _reduce_samples(reduce):
    gen = _distinct if reduce in ("amax", "amin") else randn
    return _samples(
        ("dups", lambda rng: ((gen(rng, (3, 4)), 0, _DUP_IDX, gen(rng, (3, 4)), reduce),
                              {})),
        ("dups-exclude-self", lambda rng: ((gen(rng, (3, 4)), 0, _DUP_IDX, gen(rng, (3, 4)),
                                            reduce), {"include_self": False})),
        ("dim1", lambda rng: ((gen(rng, (2, 5)), 1, _I([[4, 4, 0], [1, 3, 1]]),
                               gen(rng, (2, 3)), reduce), {})),
    )


_GS_ROWS = [
    OpInfo("gather", lambda m, x, d, i: m.gather(x, d, i), _GATHER, "GatherBackward0"),
    OpInfo("gather_method", lambda m, x, d, i: x.gather(d, i),
           _samples(("dim1", _x((3, 4), 1, _I([[0, 0], [3, 1], [2, 2]])))), "GatherBackward0"),
    OpInfo("scatter_src", lambda m, x, d, i, s: m.scatter(x, d, i, s), _SCATTER,
           "ScatterBackward0"),
    OpInfo("scatter_src_kw", lambda m, x, d, i, s: x.scatter(d, i, src=s),
           _samples(("dim0", lambda rng: (randn(rng, (3, 4)), 0, _SCATTER_IDX,
                                          randn(rng, (2, 4))))), "ScatterBackward0"),
    OpInfo("scatter_value", lambda m, x, d, i, v: x.scatter(d, i, v), _samples(
        ("dim0-dups", _x((3, 4), 0, _DUP_IDX, 2.5)),
        ("dim1", _x((3, 4), 1, _I([[1], [0], [3]]), -1.0))), "ScatterBackward1"),
    OpInfo("scatter_value_kw", lambda m, x, d, i: m.scatter(x, d, i, value=0.5),
           _samples(("dim0", _x((3, 4), 0, _SCATTER_IDX))), "ScatterBackward1"),
    OpInfo("scatter_add", lambda m, x, d, i, s: m.scatter_add(x, d, i, s), _SCATTER_ADD,
           "ScatterAddBackward0"),
    OpInfo("scatter_add_src_only", lambda m, x, d, i, s: m.scatter_add(x, d, i, s),
           lambda rng: [Sample((randn(rng, (3, 4)), 0, _DUP_IDX, randn(rng, (3, 4))),
                               grad=(3,))], "ScatterAddBackward0"),
    OpInfo("scatter_src_only", lambda m, x, d, i, s: m.scatter(x, d, i, s),
           lambda rng: [Sample((randn(rng, (3, 4)), 0, _SCATTER_IDX, randn(rng, (2, 4))),
                               grad=(3,))], "ScatterBackward0"),
    OpInfo("take_along_dim", lambda m, x, i, *d: m.take_along_dim(x, i, *d), _samples(
        ("dim1", _x((3, 4), _I([[0, 3], [1, 1], [2, 0]]), 1)),
        ("broadcast", _x((3, 4), _I([[0, 3, 3]]), 1)),
        ("broadcast-x", _x((3, 1), _I([[0, 0], [0, 0], [0, 0]]), 0)),
        ("flat", _x((3, 4), _I([[0, 11], [5, 5]])))), "GatherBackward0"),
]
for _r in ("sum", "prod", "mean", "amax", "amin"):
    _GS_ROWS.append(OpInfo(f"scatter_reduce_{_r}",
                           lambda m, x, d, i, s, r, **kw: x.scatter_reduce(d, i, s, r, **kw),
                           _reduce_samples(_r), "ScatterReduceBackward0"))

# --- index ops ------------------------------------------------------------------------------
_INDEX_ROWS = [
    OpInfo("index_select", lambda m, x, d, i: m.index_select(x, d, i), _samples(
        ("dim0-dups", _x((3, 4), 0, _I([2, 0, 2, 2]))),
        ("dim-1", _x((2, 3, 4), -1, _I([3, 1]))),
        ("0d-index", _x((3, 4), 1, _I(2))),
        ("0d-x", _x((), 0, _I([0])))), "IndexSelectBackward0"),
    OpInfo("index_add", lambda m, x, d, i, s, **kw: x.index_add(d, i, s, **kw), _samples(
        ("dim0-dups", lambda rng: (randn(rng, (3, 4)), 0, _I([2, 0, 2]), randn(rng, (3, 4)))),
        ("dim1-alpha", lambda rng: ((randn(rng, (3, 4)), 1, _I([3, 3]), randn(rng, (3, 2))),
                                    {"alpha": 2.5})),
        ("0d", lambda rng: (randn(rng, ()), 0, _I([0]), randn(rng, ())))),
        "IndexAddBackward0"),
    OpInfo("index_copy", lambda m, x, d, i, s: m.index_copy(x, d, i, s), _samples(
        ("dim0", lambda rng: (randn(rng, (4, 3)), 0, _I([3, 0]), randn(rng, (2, 3)))),
        ("dim1", lambda rng: (randn(rng, (2, 5)), -1, _I([1, 4, 0]), randn(rng, (2, 3))))),
        "IndexCopyBackward0"),
    OpInfo("index_fill", lambda m, x, d, i, v: x.index_fill(d, i, v), _samples(
        ("dim0-dups", _x((3, 4), 0, _I([2, 0, 2]), 1.5)),
        ("dim1-neg", _x((3, 4), 1, _I([-1]), -2.0))), "IndexFillBackward0"),
    OpInfo("index_fill_tensor", lambda m, x, d, i, v: x.index_fill(d, i, v), _samples(
        ("dim0-dups", lambda rng: (randn(rng, (3, 4)), 0, _I([2, 0, 2]), np.float64(0.5))),
        ("dim1", lambda rng: (randn(rng, (3, 4)), 1, _I([3, 1]), np.float64(-1.0)))),
        "IndexFillBackward1"),
]

# --- masked / flat-index ops ----------------------------------------------------------------
_MASK = _I([[True, False, True, False], [False, False, True, True], [True, True, False, False]])

_MASKED_ROWS = [
    OpInfo("masked_fill", lambda m, x, k, v: x.masked_fill(k, v), _samples(
        ("same-shape", _x((3, 4), _MASK, 2.0)),
        ("mask-broadcast", _x((3, 4), _I([True, False, False, True]), -1.0)),
        ("self-broadcast", _x((4,), _MASK, 0.0))), "MaskedFillBackward0"),
    OpInfo("masked_fill_tensor", lambda m, x, k, v: m.masked_fill(x, k, v), _samples(
        ("same-shape", lambda rng: (randn(rng, (3, 4)), _MASK, np.float64(1.5))),
        ("self-broadcast", lambda rng: (randn(rng, (4,)), _MASK, np.float64(-0.5)))),
        "MaskedFillBackward1"),
    OpInfo("masked_select", lambda m, x, k: m.masked_select(x, k), _samples(
        ("same-shape", _x((3, 4), _MASK)),
        ("mask-broadcast", _x((3, 4), _I([True, False, False, True]))),
        ("self-broadcast", _x((4,), _MASK))), "MaskedSelectBackward0"),
    OpInfo("masked_scatter", lambda m, x, k, s: x.masked_scatter(k, s), _samples(
        ("exact", lambda rng: (randn(rng, (3, 4)), _MASK, randn(rng, (6,)))),
        ("larger-source", lambda rng: (randn(rng, (3, 4)), _MASK, randn(rng, (3, 3)))),
        ("self-broadcast", lambda rng: (randn(rng, (4,)), _MASK, randn(rng, (7,))))),
        "MaskedScatterBackward0"),
    OpInfo("take", lambda m, x, i: m.take(x, i), _samples(
        ("dups-neg", _x((3, 4), _I([[0, 11], [-1, 5], [5, 5]]))),
        ("0d", _x((), _I([0, -1]))),
        ("empty", _x((3, 4), np.zeros(0, np.int64)))), "TakeBackward0"),
    OpInfo("put", lambda m, x, i, s, *a: x.put(i, s, *a), _samples(
        ("distinct", lambda rng: (randn(rng, (3, 4)), _I([0, 11, -2]), randn(rng, (3,)))),
        ("acc-dups", lambda rng: (randn(rng, (3, 4)), _I([[1, 1], [7, 1]]), randn(rng, (4,)),
                                  True)),
        ("2d-source", lambda rng: (randn(rng, (3, 4)), _I([4, 2]), randn(rng, (1, 2)))),
    ), "PutBackward0"),
]

# --- more shape ops -------------------------------------------------------------------------
_SHAPE_ROWS = [
    OpInfo("roll", lambda m, x, s, *d: m.roll(x, s, *d), _samples(
        ("flat", _x((3, 4), 5)),
        ("dim0", _x((3, 4), -1, 0)),
        ("dims", _x((2, 3, 4), (1, 2), (0, -1))),
        ("0d", _x((), 2))), "RollBackward0"),
    OpInfo("flip", lambda m, x, d: m.flip(x, d), _samples(
        ("dim0", _x((3, 4), (0,))), ("dims", _x((2, 3, 4), (0, -1))),
        ("none", _x((3, 4), ())), ("0d", _x((), (0,)))), "FlipBackward0"),
    OpInfo("flip_method", lambda m, x: x.flip(1, 0), _samples(("3x4", _x((3, 4)))),
           "FlipBackward0"),
    OpInfo("fliplr", lambda m, x: m.fliplr(x), _samples(("3x4", _x((3, 4)))), "FlipBackward0"),
    OpInfo("flipud", lambda m, x: x.flipud(), _samples(("4", _x((4,)))), "FlipBackward0"),
    OpInfo("rot90", lambda m, x, *a: m.rot90(x, *a), _samples(
        ("k1", _x((3, 4))), ("k2", _x((3, 4), 2)), ("k3", _x((3, 4), 3)),
        ("k-1-dims", _x((2, 3, 4), -1, (2, 0))), ("k0", _x((3, 4), 4))), "Rot90Backward0"),
    OpInfo("repeat", lambda m, x, *r: x.repeat(*r), _samples(
        ("2x1", _x((3, 4), 2, 1)), ("lead", _x((3,), (2, 1, 3))), ("zero", _x((2, 3), 0, 2)),
        ("0d", _x((), 3)), ("ones", _x((2, 3), 1, 1))), "RepeatBackward0"),
    OpInfo("tile", lambda m, x, r: m.tile(x, r), _samples(
        ("short", _x((2, 3), (2,))), ("long", _x((3,), (2, 2)))), "RepeatBackward0"),
    OpInfo("repeat_interleave_int", lambda m, x, *a, **kw: m.repeat_interleave(x, *a, **kw),
           _samples(("flat", _x((2, 3), 2)),
                    ("dim0", lambda rng: ((randn(rng, (2, 3)), 3), {"dim": 0})),
                    ("dim-1", lambda rng: ((randn(rng, (2, 3)), 2), {"dim": -1,
                                                                    "output_size": 6})),
                    ("0d", _x((), 3))), "ViewBackward0"),
    OpInfo("repeat_interleave_tensor", lambda m, x, r, **kw: x.repeat_interleave(r, **kw),
           _samples(("dim0", lambda rng: ((randn(rng, (3, 2)), _I([1, 0, 3])), {"dim": 0})),
                    ("flat", lambda rng: ((randn(rng, (2, 2)), _I([2, 1, 1, 0])), {})),
                    ("one", lambda rng: ((randn(rng, (2, 3)), _I([2])), {"dim": 1})),
                    ("0d", lambda rng: ((randn(rng, (3,)), _I(2)), {"dim": 0}))),
           "IndexSelectBackward0"),
    OpInfo("hsplit", lambda m, x, s: m.hsplit(x, s), _samples(
        ("sections", _x((3, 4), 2)), ("indices", _x((3, 4), [1, 3])), ("1d", _x((4,), 2))),
        "SliceBackward0", multi_output=True),
    OpInfo("vsplit", lambda m, x, s: x.vsplit(s), _samples(("sections", _x((4, 3), 2))),
           "SliceBackward0", multi_output=True),
    OpInfo("dsplit", lambda m, x, s: m.dsplit(x, s), _samples(("indices", _x((1, 2, 4), [1]))),
           "SliceBackward0", multi_output=True),
    OpInfo("meshgrid", lambda m, a, b, ix: m.meshgrid(a, b, indexing=ix), _samples(
        ("ij", lambda rng: (randn(rng, (3,)), randn(rng, (2,)), "ij")),
        ("xy", lambda rng: (randn(rng, (3,)), randn(rng, (2,)), "xy")),
        ("0d", lambda rng: (randn(rng, ()), randn(rng, (2,)), "xy"))),
        "ExpandBackward0", multi_output=True),
    OpInfo("meshgrid_list3", lambda m, a, b, c: m.meshgrid([a, b, c], indexing="xy"),
           _samples(("3", lambda rng: (randn(rng, (2,)), randn(rng, (3,)), randn(rng, (4,))))),
           "ExpandBackward0", multi_output=True),
    OpInfo("atleast_1d", lambda m, x: m.atleast_1d(x), _samples(("0d", _x(()))),
           "ViewBackward0"),
    OpInfo("atleast_2d", lambda m, x: m.atleast_2d(x), _samples(("1d", _x((3,)))),
           "UnsqueezeBackward0"),
    OpInfo("atleast_3d", lambda m, x: m.atleast_3d(x), _samples(("2d", _x((2, 3)))),
           "UnsqueezeBackward0"),
    OpInfo("atleast_seq", lambda m, a, b, c: m.atleast_2d(a, b, c), _samples(
        ("mixed", lambda rng: (randn(rng, ()), randn(rng, (3,)), randn(rng, (2, 3))))),
        multi_output=True),
    OpInfo("broadcast_tensors", lambda m, a, b: m.broadcast_tensors(a, b), _samples(
        ("3x1-4", lambda rng: (randn(rng, (3, 1)), randn(rng, (4,)))),
        ("same", lambda rng: (randn(rng, (2, 3)), randn(rng, (3,))))),
        multi_output=True),
]

# --- no derivative --------------------------------------------------------------------------
_NONDIFF_ROWS = [
    OpInfo("nonzero", lambda m, x: m.nonzero(x > 0), _samples(
        ("2d", _x((3, 4))), ("0d", _x(()))), differentiable=False),
    OpInfo("nonzero_as_tuple", lambda m, x: (x > 0).nonzero(as_tuple=True), _samples(
        ("2d", _x((3, 4))), ("0d", _x(()))), differentiable=False, multi_output=True),
    OpInfo("argwhere", lambda m, x: m.argwhere(x), _samples(("1d", _x((5,)))),
           differentiable=False),
    OpInfo("bucketize", lambda m, x, b, **kw: m.bucketize(x, b, **kw), _samples(
        ("left", lambda rng: (randn(rng, (3, 4)), np.array([-1.0, 0.0, 0.5]))),
        ("right-int32", lambda rng: ((randn(rng, (5,)), np.array([-0.5, 0.0, 1.0])),
                                     {"right": True, "out_int32": True}))),
        differentiable=False),
    OpInfo("searchsorted", lambda m, s, x, **kw: m.searchsorted(s, x, **kw), _samples(
        ("1d", lambda rng: (np.sort(randn(rng, (5,))), randn(rng, (2, 3)))),
        ("nd-right", lambda rng: ((np.sort(randn(rng, (2, 5)), axis=-1), randn(rng, (2, 3))),
                                  {"side": "right"}))), differentiable=False),
]

ROWS = _GS_ROWS + _INDEX_ROWS + _MASKED_ROWS + _SHAPE_ROWS + _NONDIFF_ROWS

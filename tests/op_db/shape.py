"""Rows for the shape ops (views and reshapes), indexing (x[...], select, narrow) and joining /
splitting (cat, stack, split, chunk, unbind, ...).

Index samples keep their index as plain Python values (ints, slices, None, lists) or as NumPy
integer / bool arrays, which the harness turns into integer / bool tensors. Error messages,
view semantics and the warnings are tested in tests/test_indexing.py and
tests/test_shape_ops.py.
"""

from __future__ import annotations

import numpy as np

from . import OpInfo, Sample, randn

_E = Ellipsis
_S = slice


def _one(shape, *args, desc="", **kwargs):
    """A sample factory of one random array of `shape` followed by args."""
    return lambda rng: [Sample((randn(rng, shape),) + args, kwargs, desc=desc or str(shape))]


def _many(*variants):
    """Samples (x, *args) for variants (desc, shape, args)."""
    def make(rng):
        return [Sample((randn(rng, shape),) + tuple(args), desc=desc)
                for desc, shape, args in variants]

    return make


def _idx(*variants):
    """getitem samples: (desc, shape, index); an index is passed through as a Python value."""
    def make(rng):
        return [Sample((randn(rng, shape), index), grad=(0,), desc=desc)
                for desc, shape, index in variants]

    return make


def _seq(*variants):
    """Samples whose first argument is a list of arrays: (desc, shapes, args)."""
    def make(rng):
        return [Sample(([randn(rng, s) for s in shapes],) + tuple(args), desc=desc)
                for desc, shapes, args in variants]

    return make


_I = np.array  # integer / bool index arrays become tensors in both libraries

_BASIC = [
    ("int", (3, 4, 5), 1),
    ("neg-int", (3, 4, 5), -1),
    ("slice", (3, 4, 5), _S(1, None)),
    ("slice-step", (5, 4), _S(None, None, 2)),
    ("slice-full", (3, 4), _S(None)),
    ("slice-empty", (3, 4), _S(2, 1)),
    ("none", (3, 4), None),
    ("ellipsis", (3, 4), _E),
    ("empty-tuple", (3, 4), ()),
    ("int-slice", (3, 4, 5), (0, _S(1, None))),
    ("colon-int", (3, 4, 5), (_S(None), 0)),
    ("ellipsis-int", (3, 4, 5), (_E, 0)),
    ("int-none", (3, 4, 5), (0, None)),
    ("none-int", (3, 4, 5), (None, 0)),
    ("all-ints", (3, 4, 5), (1, 2, 3)),
    ("all-full", (3, 4), (_S(None), _S(0, 100))),
    ("neg-start", (3, 4), (_S(-3, None), _S(None))),
    ("int-slice-none", (3, 4, 5), (0, _S(1, None), None)),
    ("none-ellipsis-none", (3, 4), (None, _E, None)),
    ("slices-steps", (6, 7), (_S(1, 5, 2), _S(None, None, 3))),
    ("0d-none", (), None),
    ("0d-ellipsis", (), _E),
]

_ADVANCED = [
    ("list", (3, 4, 5), [0, 2]),
    ("list-repeated", (3, 4), [0, 0, 2, 0]),
    ("array", (3, 4, 5), _I([2, 0, 2])),
    ("array-2d", (3, 4), _I([[0, 1], [2, 0]])),
    ("neg-array", (3, 4), _I([-1, -3])),
    ("mask", (3, 4), _I([True, False, True])),
    ("mask-2d", (3, 4, 2), _I([[True, False, True, True]] * 2 + [[False] * 4])),
    ("mask-list", (3, 4), [True, False, True]),
    ("empty-list", (3, 4), []),
    ("two-arrays", (3, 4, 5), (_I([0, 2, 2]), _I([1, 1, 3]))),
    ("broadcast-arrays", (3, 4, 5), (_I([[0], [2]]), _I([1, 1, 3]))),
    ("colon-array", (3, 4, 5), (_S(None), [3, 0, 3])),
    ("separated", (3, 4, 5), ([0, 1, 1], _S(None), [4, 4, 0])),
    ("int-colon-list", (3, 4, 5), (0, _S(None), [0, 1])),
    ("slice-array", (3, 4, 5), (_S(1, None), _I([0, 0, 3]))),
    ("array-none-array", (3, 4, 5), ([0, 1], None, [0, 1])),
    ("true", (3, 4), True),
    ("false", (3, 4), False),
    ("true-int", (3, 4), (True, 0)),
    ("mask-after-slice", (3, 4, 5), (_S(1, None), _I([[True, False, True, False, True]] * 4))),
    ("ellipsis-array", (3, 4, 5), (_E, [4, 0, 4])),
    ("0d-true", (), True),
]

_SHAPE_ROWS = [
    OpInfo("reshape", lambda m, x, s: x.reshape(s), _many(
        ("2x3x4->6x4", (2, 3, 4), ((6, 4),)), ("infer", (2, 3, 4), ((-1,),)),
        ("0d->1", (), ((1,),)), ("same", (3, 4), ((3, 4),))), "ViewBackward0"),
    OpInfo("reshape_noncontig_alias", lambda m, x: x.transpose(0, 1).reshape(3, 2, 2, 2),
           _one((2, 3, 4)), "ReshapeAliasBackward0"),
    OpInfo("reshape_noncontig_copy", lambda m, x: x.transpose(0, 1).reshape(-1),
           _one((2, 3, 4)), "UnsafeViewBackward0"),
    OpInfo("view", lambda m, x: x.view(4, -1), _one((2, 3, 4)), "ViewBackward0"),
    OpInfo("view_noncontig", lambda m, x: x.transpose(0, 1).view(3, 2, 2, 2),
           _one((2, 3, 4)), "ViewBackward0"),
    OpInfo("view_as", lambda m, x, y: x.view_as(y),
           lambda rng: [Sample((randn(rng, (2, 6)), randn(rng, (3, 4))), grad=(0,))],
           "ViewBackward0"),
    OpInfo("expand", lambda m, x: x.expand(2, 3, 4), _many(
        ("3x1", (3, 1), ()), ("4", (4,), ()), ("0d", (), ())), "ExpandBackward0"),
    OpInfo("expand_minus1", lambda m, x: x.expand(5, -1, -1), _one((3, 1)), "ExpandBackward0"),
    OpInfo("broadcast_to", lambda m, x: m.broadcast_to(x, (2, 3, 4)), _one((3, 1)),
           "ExpandBackward0"),
    OpInfo("permute", lambda m, x: x.permute(2, 0, 1), _one((2, 3, 4)), "PermuteBackward0"),
    OpInfo("permute_neg", lambda m, x: m.permute(x, (-1, 0, 1)), _one((2, 3, 4)),
           "PermuteBackward0"),
    OpInfo("transpose", lambda m, x: x.transpose(0, -1), _one((2, 3, 4)), "TransposeBackward0"),
    OpInfo("swapaxes", lambda m, x: m.swapaxes(x, 0, 1), _one((2, 3)), "TransposeBackward0"),
    OpInfo("t_method", lambda m, x: x.t(), _many(("2d", (2, 3), ()), ("1d", (3,), ())),
           "TBackward0"),
    OpInfo("T_property", lambda m, x: x.T, _one((2, 3)), "PermuteBackward0"),
    OpInfo("mT_property", lambda m, x: x.mT, _many(("2d", (2, 3), ()), ("3d", (4, 2, 3), ())),
           "TransposeBackward0"),
    OpInfo("mH_property", lambda m, x: x.mH, _one((4, 2, 3)), "TransposeBackward0"),
    OpInfo("unsqueeze", lambda m, x, d: x.unsqueeze(d), _many(
        ("0", (3, 4), (0,)), ("-1", (3, 4), (-1,)), ("0d", (), (0,))), "UnsqueezeBackward0"),
    OpInfo("squeeze", lambda m, x: x.squeeze(), _many(("1x3x1", (1, 3, 1), ()),
                                                      ("0d", (), ())), "SqueezeBackward0"),
    OpInfo("squeeze_dim", lambda m, x, d: x.squeeze(d), _many(
        ("size1", (1, 3, 1), (-1,)), ("not1", (2, 3), (1,))), "SqueezeBackward1"),
    OpInfo("squeeze_dims", lambda m, x: x.squeeze((0, 2)), _one((1, 3, 1)), "SqueezeBackward2"),
    OpInfo("flatten", lambda m, x, *a: x.flatten(*a), _many(
        ("all", (2, 3, 4), ()), ("from1", (2, 3, 4), (1,)), ("0to1", (2, 3, 4), (0, 1)),
        ("0d", (), ())), "ViewBackward0"),
    OpInfo("flatten_noncontig", lambda m, x: x.transpose(0, 1).flatten(), _one((2, 3, 4)),
           "UnsafeViewBackward0"),
    OpInfo("unflatten", lambda m, x, d, s: x.unflatten(d, s), _many(
        ("split", (2, 12), (1, (3, 4))), ("infer", (2, 12, 1), (-2, (-1, 2)))),
           "ViewBackward0"),
    OpInfo("movedim", lambda m, x, s, d: m.movedim(x, s, d), _many(
        ("int", (2, 3, 4), (0, -1)), ("tuple", (2, 3, 4), ((0, 1), (2, 0)))),
           "PermuteBackward0"),
    OpInfo("ravel", lambda m, x: x.ravel(), _one((2, 3)), "ViewBackward0"),
    OpInfo("ravel_noncontig", lambda m, x: x.t().ravel(), _one((2, 3)), "ViewBackward0"),
]

_INDEX_ROWS = [
    OpInfo("getitem_basic", lambda m, x, i: x[i], _idx(*_BASIC)),
    OpInfo("getitem_advanced", lambda m, x, i: x[i], _idx(*_ADVANCED), "IndexBackward0"),
    OpInfo("getitem_chain", lambda m, x: x[0][1:][None], _one((3, 4)), "UnsqueezeBackward0"),
    OpInfo("getitem_of_view", lambda m, x: x.t()[[0, 0, 2]], _one((3, 4)), "IndexBackward0"),
    OpInfo("select", lambda m, x, d, i: m.select(x, d, i), _many(
        ("dim1", (3, 4), (1, 2)), ("neg", (3, 4, 2), (-1, -1))), "SelectBackward0"),
    OpInfo("narrow", lambda m, x, d, s, n: x.narrow(d, s, n), _many(
        ("dim1", (3, 5), (1, 1, 3)), ("neg-start", (4, 2), (0, -2, 2))), "SliceBackward0"),
]

_JOIN_ROWS = [
    OpInfo("cat", lambda m, xs, *a: m.cat(xs, *a), _seq(
        ("dim0", [(2, 3), (4, 3)], ()), ("dim1", [(2, 3), (2, 1), (2, 2)], (1,)),
        ("neg", [(2, 3, 2), (2, 3, 1)], (-1,)), ("one", [(3,)], ()),
        ("legacy-empty", [(0,), (2, 3)], ())), "CatBackward0"),
    OpInfo("cat_mixed_dtype", lambda m, x, y: m.cat([x, y.double()]),
           lambda rng: [Sample((randn(rng, (2, 3)), randn(rng, (1, 3))))],
           "CatBackward0", dtypes=("float32",)),
    OpInfo("stack", lambda m, xs, *a: m.stack(xs, *a), _seq(
        ("dim0", [(2, 3), (2, 3)], ()), ("dim-1", [(2, 3)] * 3, (-1,)),
        ("0d", [(), ()], ())), "StackBackward0"),
    OpInfo("hstack", lambda m, xs: m.hstack(xs), _seq(
        ("2d", [(2, 3), (2, 1)], ()), ("1d", [(3,), (2,)], ())), "CatBackward0"),
    OpInfo("vstack", lambda m, xs: m.vstack(xs), _seq(
        ("2d", [(2, 3), (1, 3)], ()), ("1d", [(3,), (3,)], ())), "CatBackward0"),
    OpInfo("dstack", lambda m, xs: m.dstack(xs), _seq(("1d", [(3,), (3,)], ())),
           "CatBackward0"),
    OpInfo("column_stack", lambda m, xs: m.column_stack(xs), _seq(
        ("mixed", [(3,), (3, 2)], ())), "CatBackward0"),
    OpInfo("split", lambda m, x, *a: m.split(x, *a), _many(
        ("even", (4, 3), (2,)), ("ragged", (5, 3), (2,)), ("dim1", (2, 5), (3, 1)),
        ("one", (2, 3), (5,))), "SplitBackward0", multi_output=True),
    OpInfo("split_sizes", lambda m, x, s, *a: x.split(s, *a), _many(
        ("dim0", (5, 2), ([1, 4],)), ("zero", (5, 2), ([0, 3, 2],)),
        ("dim-1", (2, 5), ((3, 2), -1))), "SplitWithSizesBackward0", multi_output=True),
    OpInfo("split_unused", lambda m, x: x.split(2)[1], _one((6, 2)), "SplitBackward0"),
    OpInfo("chunk", lambda m, x, *a: x.chunk(*a), _many(
        ("3", (7, 2), (3,)), ("dim1", (2, 6), (4, 1))), "SplitBackward0", multi_output=True),
    OpInfo("unbind", lambda m, x, *a: x.unbind(*a), _many(
        ("dim0", (3, 2), ()), ("dim-1", (2, 3), (-1,))), "UnbindBackward0", multi_output=True),
    OpInfo("unbind_unused", lambda m, x: x.unbind(1)[2], _one((2, 4)), "UnbindBackward0"),
    OpInfo("tensor_split", lambda m, x, s: x.tensor_split(s), _many(
        ("sections", (7,), (3,)), ("indices", (7, 2), ([1, 5],))), "SliceBackward0",
           multi_output=True),
]

ROWS = _SHAPE_ROWS + _INDEX_ROWS + _JOIN_ROWS

"""Rows for the matrix products: matmul / `@` over every dispatch case PyTorch has (dot, mv, mm,
1-D @ 2-D, folded batches, broadcast bmm), mm, bmm, mv, dot, vdot, outer.

Each matmul sample is checked against torch's grad_fn name (the harness compares it), which
is the outermost node of PyTorch's composition (UnsafeViewBackward0, CloneBackward0, ...).
Error messages and integer products are tested in tests/test_shape_ops.py.
"""

from __future__ import annotations

from . import OpInfo, Sample, randn

# (desc, shape of input, shape of other)
_MATMUL = [
    ("1@1", (3,), (3,)),
    ("2@2", (2, 3), (3, 4)),
    ("1@2", (3,), (3, 4)),
    ("2@1", (2, 3), (3,)),
    ("3@2", (5, 2, 3), (3, 4)),
    ("3@1", (5, 2, 3), (3,)),
    ("2@3", (2, 3), (5, 3, 4)),
    ("1@3", (3,), (5, 3, 4)),
    ("3@3", (5, 2, 3), (5, 3, 4)),
    ("1x@3", (1, 2, 3), (5, 3, 4)),
    ("3@1x", (5, 2, 3), (1, 3, 4)),
    ("4@3-broadcast", (2, 1, 2, 3), (5, 3, 4)),
    ("4@4", (2, 5, 2, 3), (2, 5, 3, 4)),
    ("4@1", (2, 2, 2, 3), (3,)),
    ("empty-batch", (0, 2, 3), (3, 4)),
]


def _pairs(variants, grad=None):
    def make(rng):
        return [Sample((randn(rng, a), randn(rng, b)), grad=grad, desc=d)
                for d, a, b in variants]

    return make


ROWS = [
    OpInfo("matmul", lambda m, x, y: x @ y, _pairs(_MATMUL)),
    OpInfo("matmul_lhs_grad", lambda m, x, y: m.matmul(x, y), _pairs(_MATMUL, grad=(0,))),
    OpInfo("matmul_rhs_grad", lambda m, x, y: m.matmul(x, y), _pairs(_MATMUL, grad=(1,))),
    OpInfo("matmul_noncontig", lambda m, x, y: x.transpose(0, 1) @ y,
           _pairs([("3@2", (2, 5, 3), (3, 4))], grad=(0,)), "UnsafeViewBackward0"),
    OpInfo("mm", lambda m, x, y: m.mm(x, y), _pairs([("2x3@3x4", (2, 3), (3, 4)),
                                                    ("empty", (2, 0), (0, 3))]),
           "MmBackward0"),
    OpInfo("mm_transposed", lambda m, x, y: x.t().mm(y.t()),
           _pairs([("t", (3, 2), (4, 3))]), "MmBackward0"),
    OpInfo("bmm", lambda m, x, y: m.bmm(x, y), _pairs([("5x2x3@5x3x4", (5, 2, 3), (5, 3, 4))]),
           "BmmBackward0"),
    OpInfo("mv", lambda m, x, y: m.mv(x, y), _pairs([("2x3@3", (2, 3), (3,))]), "MvBackward0"),
    OpInfo("dot", lambda m, x, y: m.dot(x, y), _pairs([("3", (3,), (3,)), ("0", (0,), (0,))]),
           "DotBackward0"),
    OpInfo("vdot", lambda m, x, y: m.vdot(x, y), _pairs([("3", (3,), (3,))]), "VdotBackward0"),
    OpInfo("outer", lambda m, x, y: m.outer(x, y), _pairs([("3x4", (3,), (4,))]),
           "MulBackward0"),
    OpInfo("ger", lambda m, x, y: m.ger(x, y), _pairs([("3x4", (3,), (4,))]), "MulBackward0"),
    OpInfo("matmul_linear_layer", lambda m, x, w, b: x @ w.t() + b,
           lambda rng: [Sample((randn(rng, (4, 5, 3)), randn(rng, (2, 3)), randn(rng, (2,))))],
           "AddBackward0"),
]

"""The op table: one OpInfo row per op, consumed by the generic tests in test_ops.py.

A row's `fn(m, *args, **kwargs)` is written once for both libraries: `m` is the module
(`tapegrad` or `torch`), so `lambda m, x, y: m.mul(x, y)` or `lambda m, x: x.sum(0)`.
Samples hold NumPy arrays (the harness turns float arrays into tensors of the library under
test, requiring grad when `grad` is set) and plain Python values (passed as they are).

Each family keeps its rows in its own file (op_db/unary.py, op_db/binary.py, ...) as a list
named ROWS; this module gathers them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Sample:
    args: tuple
    kwargs: dict = field(default_factory=dict)
    # which arrays should require grad: ints index args (every float array inside, nested
    # lists/tuples included), strings name kwargs; default (None): every float array
    grad: tuple | None = None
    desc: str = ""


@dataclass
class OpInfo:
    name: str
    fn: Callable[..., Any]
    samples: Callable[[np.random.Generator], list]  # rng -> list[Sample]
    node: str | None = None  # expected grad_fn name of the output (checked against torch too)
    differentiable: bool = True
    twice: bool = True  # second derivatives supported and checked
    twice_reason: str = ""  # why not, when twice is False
    dtypes: tuple = ("float32", "float64")
    atol: float = 1e-5
    rtol: float = 1e-4
    grad_atol: float = 1e-5
    grad_rtol: float = 1e-4
    gradcheck_eps: float = 1e-6
    # output is a tuple/list of tensors or a namedtuple: which outputs to compare/differentiate
    multi_output: bool = False
    nondeterministic_grad_fn: bool = False  # skip grad_fn name comparison
    # float64 central-difference check of tapegrad's own gradients, first and second order:
    # |analytic - numeric| <= atol + rtol * |numeric| (tighter than torch.autograd.gradcheck's
    # 1e-5 / 1e-3, which let a 0.1% error in a derivative pass)
    gradcheck_atol: float = 1e-6
    gradcheck_rtol: float = 1e-5


def gather() -> list[OpInfo]:
    rows: list[OpInfo] = []
    pkg = importlib.import_module(__name__)
    for mod in pkgutil.iter_modules(pkg.__path__):
        m = importlib.import_module(f"{__name__}.{mod.name}")
        rows.extend(getattr(m, "ROWS", []))
    return rows


# --- sample helpers ---------------------------------------------------------------------
SHAPES = [(), (4,), (3, 4), (2, 3, 4)]
BROADCAST_PAIRS = [((), ()), ((4,), (4,)), ((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 4), ()),
                   ((1, 4), (3, 1)), ((3, 1), (3, 4)), ((4,), (3, 4)), ((), (3, 4))]


def randn(rng, shape, lo=None, hi=None):
    """Float64 values for samples: normal, or uniform in [lo, hi] when a domain is given."""
    if lo is not None:
        return rng.uniform(lo, hi, size=shape)
    return rng.standard_normal(shape)


def away_from(rng, shape, points=(0.0,), margin=0.1, lo=-2.0, hi=2.0):
    """Uniform values kept at least `margin` away from each point (kinks, poles, ties)."""
    x = rng.uniform(lo, hi, size=shape)
    for p in points:
        close = np.abs(x - p) < margin
        x = np.where(close, p + np.sign(x - p + 1e-12) * margin * 2, x)
    return x


def unary_samples(lo=None, hi=None, avoid=None):
    def make(rng):
        out = []
        for s in SHAPES:
            x = away_from(rng, s, avoid) if avoid else randn(rng, s, lo, hi)
            out.append(Sample((x,), desc=str(s)))
        return out

    return make


def binary_samples(lo=None, hi=None, ylo=None, yhi=None, scalar=None, avoid_y=None):
    def make(rng):
        out = []
        for sx, sy in BROADCAST_PAIRS:
            x = randn(rng, sx, lo, hi)
            y = away_from(rng, sy, avoid_y) if avoid_y else randn(rng, sy, ylo, yhi)
            out.append(Sample((x, y), desc=f"{sx}x{sy}"))
        if scalar is not None:
            out.append(Sample((randn(rng, (3, 4), lo, hi), scalar), desc="tensor-scalar"))
        return out

    return make

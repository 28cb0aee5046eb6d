"""Shared helpers of the elementwise math tests (test_math_ops.py, test_math_special.py):
running one call on tapegrad and torch and comparing values, dtypes and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad

try:
    import torch
except ImportError:  # pragma: no cover - the torch comparisons skip
    torch = None

try:
    import scipy.special as scipy_special
except ImportError:  # pragma: no cover
    scipy_special = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
needs_scipy = pytest.mark.skipif(scipy_special is None, reason="scipy is not installed")


def _np(t) -> np.ndarray:
    return np.array(t.detach().numpy(), copy=True)


def _outcome(m, fn):
    """('ok', result) or ('err', exception type name, message with torch. -> tapegrad.)."""
    try:
        return ("ok", fn(m))
    except Exception as e:  # noqa: BLE001 - the exception itself is what is compared
        return ("err", type(e).__name__, str(e).replace("torch.", "tapegrad."))


# The least relative tolerance by result dtype: two correct float32 kernels differ by an ulp.
_RTOL_FLOOR = {"float16": 1e-3, "float32": 1e-6, "complex64": 1e-6}


def _same(fn, rtol=1e-6, atol=0.0, zero_sign=True):
    """Run fn(m) on both libraries: the same error, or the same dtype, shape and values
    (rtol is raised to an ulp-sized floor for float32 and float16 results)."""
    a, b = _outcome(tapegrad, fn), _outcome(torch, fn)
    if b[0] == "err" or a[0] == "err":
        assert a == b
        return a
    ra, rb = a[1], b[1]
    if isinstance(rb, torch.Tensor):
        assert str(ra.dtype).split(".")[-1] == str(rb.dtype).split(".")[-1]
        assert tuple(ra.shape) == tuple(rb.shape)
        va, vb = _np(ra), _np(rb)
        if va.dtype.kind in "fc":
            rtol = max(rtol, _RTOL_FLOOR.get(va.dtype.name, 0.0))
            np.testing.assert_allclose(va, vb, rtol=rtol, atol=atol, equal_nan=True)
            if zero_sign:  # signs of zeros agree too
                zero = vb.real == 0
                assert np.array_equal(np.signbit(va.real[zero]), np.signbit(vb.real[zero]))
        else:
            np.testing.assert_array_equal(va, vb)
    else:
        assert ra == rb
    return a


SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1.5, -1.5, 3.0, -3.0, 1e-30, -1e-30,
           1e-8, 1e30, -1e30, 1e300, -1e300, math.inf, -math.inf, math.nan, 0.9999999,
           -0.9999999, 100.5, -100.5, 20.0, -20.0, 89.0, 710.0, -710.0, 0.25, 0.75]

UNARY = ["asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "arcsin", "arccos",
         "arctan", "arcsinh", "arccosh", "arctanh", "log2", "log10", "exp2", "deg2rad",
         "rad2deg", "sinc", "floor", "ceil", "trunc", "fix", "frac", "round", "square",
         "positive", "negative", "absolute", "signbit", "isneginf", "isposinf", "nan_to_num",
         "logit", "erf", "erfc", "erfinv", "lgamma", "digamma"]
SPECIAL_FNS = ["erf", "erfc", "erfinv", "lgamma", "digamma"]


def _grid(dtype: str) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.array(SPECIAL, dtype=dtype)


# PyTorch's trigamma stops its asymptotic series early: it is accurate to ~5e-10 (relative)
_TRIGAMMA_RTOL = 1e-8


INPUTS = {
    "int64": lambda m: m.tensor([1, -2, 3, 0]),
    "int32": lambda m: m.tensor([1, -2, 3, 0], dtype=m.int32),
    "uint8": lambda m: m.tensor([1, 2, 0], dtype=m.uint8),
    "bool": lambda m: m.tensor([True, False]),
    "complex64": lambda m: m.tensor([1 + 1j, -0.5 + 0.25j]),
    "float16": lambda m: m.tensor([0.5, -0.25, 2.0], dtype=m.float16),
}


def _grads(m, fn, arrays, create_graph=False):
    xs = [m.tensor(a, requires_grad=True) for a in arrays]
    out = fn(m, *xs)
    gs = m.autograd.grad(out.sum(), xs, allow_unused=True, create_graph=create_graph)
    return xs, gs

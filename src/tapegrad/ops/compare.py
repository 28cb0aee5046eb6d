"""Comparisons and logical ops: boolean results, never differentiable."""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ._core import as_tensor_arg, binary_operands, check_broadcast

_COMPLEX = D.COMPLEX

__all__ = ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
           "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
           "isnan", "isinf", "isfinite", "equal", "allclose", "isclose", "greater", "greater_equal",
           "less", "less_equal", "not_equal"]


def _cmp(np_fn, ordered: str = ""):
    """ordered: the kernel name of an ordering comparison, which complex numbers refuse."""

    def op(input, other, *, out=None):  # noqa: A002
        xa, ya, dt = binary_operands(input, other)
        if ordered and dt.category == _COMPLEX:
            raise NotImplementedError(f'"{ordered}_cpu" not implemented for \'{dt._short}\'')
        try:
            r = np.asarray(np_fn(xa, ya))
        except ValueError:
            check_broadcast(input, other)
            raise
        res = _make(r)
        if out is not None:
            from .inplace import copy_out

            return copy_out(out, res)
        return res

    op.__name__ = np_fn.__name__
    op.__doc__ = f"Elementwise {np_fn.__name__} with broadcasting; a bool tensor, no gradient."
    return op


eq = _cmp(np.equal)
ne = _cmp(np.not_equal)
lt = _cmp(np.less, "lt")
le = _cmp(np.less_equal, "le")
gt = _cmp(np.greater, "gt")
ge = _cmp(np.greater_equal, "ge")
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne
logical_and = _cmp(np.logical_and)
logical_or = _cmp(np.logical_or)
logical_xor = _cmp(np.logical_xor)


def _bitwise(np_fn, name):
    def op(input, other):  # noqa: A002
        xa, ya, dt = binary_operands(input, other)
        if dt.category > 1:
            raise NotImplementedError(f'"{name}_cpu" not implemented for \'{dt._short}\'')
        try:
            r = np_fn(xa, ya)
        except ValueError:
            check_broadcast(input, other)
            raise
        return _make(np.asarray(r).astype(dt.np, copy=False))

    op.__name__ = name
    return op


bitwise_and = _bitwise(np.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(np.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(np.bitwise_xor, "bitwise_xor")


def logical_not(input):  # noqa: A002
    return _make(np.logical_not(as_tensor_arg(input)._data))


def bitwise_not(input):  # noqa: A002
    a = input._data
    if a.dtype.kind == "f" or a.dtype.kind == "c":
        raise RuntimeError(f"\"bitwise_not_cpu\" not implemented for '{input._dtype._short}'")
    return _make(np.invert(a))


def isnan(input):  # noqa: A002
    return _make(np.isnan(input._data))


def isinf(input):  # noqa: A002
    return _make(np.asarray(np.isinf(input._data)))


def isfinite(input):  # noqa: A002
    return _make(np.asarray(np.isfinite(input._data)))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):  # noqa: A002
    return _make(np.asarray(np.isclose(input._data, other._data, rtol, atol, equal_nan)))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:  # noqa: A002
    return bool(np.allclose(input._data, other._data, rtol, atol, equal_nan))


def equal(input, other) -> bool:  # noqa: A002
    """True when both tensors have the same shape and values."""
    if not isinstance(other, Tensor):
        raise TypeError("equal(): argument 'other' must be Tensor")
    return input._data.shape == other._data.shape and bool(np.all(input._data == other._data))

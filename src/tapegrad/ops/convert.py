"""dtype conversions and copies: to / type conversions (ToCopyBackward0), clone, contiguous."""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.graph import Node
from ._core import new_node, wrap

__all__ = ["to", "clone", "contiguous", "conj", "type_as", "real", "imag", "new_zeros", "new_ones",
           "new_full", "new_empty", "new_tensor"]


class ToCopyBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        dt = self._in_meta[0][1]
        if g._dtype.category == D.COMPLEX and dt.category != D.COMPLEX:
            g = g.real
        return g.to(dt)


def _parse_to(args, kwargs):
    """Pick the dtype out of to()'s many call forms: to(dtype), to(device), to(tensor), ..."""
    from .._device import device as device_cls

    dtype = kwargs.get("dtype")
    for a in args:
        if isinstance(a, D.dtype):
            dtype = a
        elif isinstance(a, Tensor):
            dtype = a._dtype
        elif isinstance(a, (str, device_cls)):
            device_cls(a)
        elif a is None:
            continue
        else:
            raise TypeError(f"to() received an invalid combination of arguments: {a!r}")
    if "device" in kwargs and kwargs["device"] is not None:
        device_cls(kwargs["device"])
    return dtype


def to(input: Tensor, *args, **kwargs) -> Tensor:  # noqa: A002
    """Convert to another dtype (device arguments other than 'cpu' raise).

    Returns input itself when nothing changes and copy is False, as PyTorch does.
    """
    dtype = _parse_to(args, kwargs)
    copy = kwargs.get("copy", False)
    if dtype is None or dtype is input._dtype:
        return clone(input) if copy else input
    a = input._data
    if a.dtype.kind == "c" and dtype.category != D.COMPLEX:
        import warnings

        warnings.warn(
            "Casting complex values to real discards the imaginary part", UserWarning, stacklevel=2
        )
        a = a.real
    r = a.astype(dtype.np)
    node = new_node(ToCopyBackward0, (input,)) if dtype.category >= D.FLOAT else None
    return wrap(r, node)


def type_as(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    return to(input, other._dtype)


def _converter(dt):
    def conv(self, memory_format=None):
        return to(self, dt)

    conv.__name__ = dt.name
    return conv


float_ = _converter(D.float32)
double = _converter(D.float64)
half = _converter(D.float16)
long = _converter(D.int64)
int_ = _converter(D.int32)
short = _converter(D.int16)
char = _converter(D.int8)
byte = _converter(D.uint8)
bool_ = _converter(D.bool)
cfloat = _converter(D.complex64)
cdouble = _converter(D.complex128)


class CloneBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return g


def clone(input: Tensor, *, memory_format=None) -> Tensor:  # noqa: A002
    """A copy with its own storage, recorded in the graph (CloneBackward0)."""
    return wrap(input._data.copy(), new_node(CloneBackward0, (input,)))


def contiguous(input: Tensor, memory_format=None) -> Tensor:  # noqa: A002
    """input itself when C-contiguous, else a contiguous copy (CloneBackward0)."""
    if input._data.flags.c_contiguous:
        return input
    return wrap(np.ascontiguousarray(input._data), new_node(CloneBackward0, (input,)))


class ConjBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return g.conj()


def conj(input: Tensor) -> Tensor:  # noqa: A002
    """Complex conjugate; real tensors are returned as they are."""
    if input._dtype.category != D.COMPLEX:
        return input
    return wrap(np.conj(input._data), new_node(ConjBackward0, (input,)))


class RealBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return g.to(self._in_meta[0][1])


class ImagBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        # d imag(z) pulls back to g * i under PyTorch's convention
        return g.to(self._in_meta[0][1]) * 1j


def real(input: Tensor) -> Tensor:  # noqa: A002
    if input._dtype.category != D.COMPLEX:
        return input
    return wrap(np.ascontiguousarray(input._data.real), new_node(RealBackward0, (input,)))


def imag(input: Tensor) -> Tensor:  # noqa: A002
    if input._dtype.category != D.COMPLEX:
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    return wrap(np.ascontiguousarray(input._data.imag), new_node(ImagBackward0, (input,)))


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
    from .shape import _sizes

    dt = dtype or self._dtype
    t = _make(np.zeros(_sizes(size), dtype=dt.np))
    return t.requires_grad_(requires_grad) if requires_grad else t


def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
    from .shape import _sizes

    dt = dtype or self._dtype
    t = _make(np.ones(_sizes(size), dtype=dt.np))
    return t.requires_grad_(requires_grad) if requires_grad else t


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    dt = dtype or self._dtype
    t = _make(np.full(tuple(size), fill_value, dtype=dt.np))
    return t.requires_grad_(requires_grad) if requires_grad else t


def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
    return new_zeros(self, *size, dtype=dtype, requires_grad=requires_grad)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    from .._creation import tensor

    if isinstance(data, Tensor):
        data = data._data
    dt = dtype or (self._dtype if not isinstance(data, np.ndarray) else None)
    return tensor(data, dtype=dt, requires_grad=requires_grad)

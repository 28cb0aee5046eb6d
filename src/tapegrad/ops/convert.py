"""dtype conversions and copies: to / type conversions (ToCopyBackward0), clone, contiguous."""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.graph import Node
from ._core import new_node, wrap, wrap_view

__all__ = ["to", "clone", "contiguous", "conj", "type_as", "real", "imag", "new_zeros", "new_ones",
           "new_full", "new_empty", "new_tensor"]


class ToCopyBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        dt = self._in_meta[0][1]
        if g._dtype.category == D.COMPLEX and dt.category != D.COMPLEX:
            g = g.real
        return g.to(dt)


_TO_SIGNATURES = (
    " * (tapegrad.device device = None, tapegrad.dtype dtype = None, bool non_blocking = False, "
    "bool copy = False, *, tapegrad.memory_format memory_format = None)\n"
    " * (tapegrad.dtype dtype, bool non_blocking = False, bool copy = False, *, "
    "tapegrad.memory_format memory_format = None)\n"
    " * (Tensor tensor, bool non_blocking = False, bool copy = False, *, "
    "tapegrad.memory_format memory_format = None)\n"
)
_TO_KWARGS = frozenset(("device", "dtype", "non_blocking", "copy", "memory_format"))


def _bad_to(args, kwargs):
    from .._tensor import _tp_name

    parts = ["tapegrad.dtype" if isinstance(a, D.dtype) else _tp_name(a) for a in args]
    parts += [f"{k}={_tp_name(v)}" for k, v in kwargs.items()]
    got = ", ".join(parts) + (", " if kwargs and not args else "")
    return TypeError(
        f"to() received an invalid combination of arguments - got ({got}), but expected one "
        f"of:\n{_TO_SIGNATURES}"
    )


def _parse_to(args, kwargs):
    """(dtype, copy) from to()'s call forms: to(dtype), to(device[, dtype]), to(tensor), with
    non_blocking/copy positionally after them; a device other than the CPU raises."""
    from .._device import check_device
    from .._device import device as device_cls

    for k in kwargs:
        if k not in _TO_KWARGS:
            raise _bad_to(args, kwargs)
    dtype = kwargs.get("dtype")
    dev = kwargs.get("device")
    rest = list(args)
    if rest:
        a = rest[0]
        if isinstance(a, D.dtype):
            if dtype is not None:
                raise _bad_to(args, kwargs)
            dtype = rest.pop(0)
        elif isinstance(a, Tensor):
            dtype = rest.pop(0)._dtype
        elif a is None or isinstance(a, (str, device_cls, int)) and not isinstance(a, bool):
            dev = rest.pop(0)
            if rest and (isinstance(rest[0], D.dtype) or rest[0] is None):
                if dtype is not None and rest[0] is not None:
                    raise _bad_to(args, kwargs)
                dtype = rest.pop(0) or dtype
    flags = [kwargs.get("non_blocking", False), kwargs.get("copy", False)]
    if len(rest) > 2 or not all(isinstance(f, bool) for f in rest):
        raise _bad_to(args, kwargs)
    for i, f in enumerate(rest):
        flags[i] = f
    if dev is not None:
        check_device(dev)
    return dtype, bool(flags[1])


_warned_complex_cast = False


def _warn_complex_cast() -> None:
    # PyTorch warns about this once per process
    global _warned_complex_cast
    import warnings

    _warned_complex_cast = True
    warnings.warn(
        "Casting complex values to real discards the imaginary part", UserWarning, stacklevel=4
    )


def to(input: Tensor, *args, **kwargs) -> Tensor:  # noqa: A002
    """Convert to another dtype (ToCopyBackward0 in the graph for floating/complex results);
    device arguments other than the CPU raise.

    Returns input itself when nothing changes and copy is False, as PyTorch does.

    >>> import tapegrad
    >>> x = tapegrad.ones(2, requires_grad=True)
    >>> x.to(tapegrad.float64)
    tensor([1., 1.], dtype=tapegrad.float64, grad_fn=<ToCopyBackward0>)
    """
    if len(args) == 1 and not kwargs and type(args[0]) is D.dtype:  # the common, fast form
        dtype, copy = args[0], False
    else:
        dtype, copy = _parse_to(args, kwargs)
    if dtype is None:
        dtype = input._dtype
    if dtype is input._dtype and not copy:
        return input
    a = input._data
    if a.dtype.kind == "c" and dtype.category != D.COMPLEX:
        if not _warned_complex_cast:
            _warn_complex_cast()
        a = a.real
    with np.errstate(all="ignore"):
        r = a.astype(dtype.np)  # always a copy
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


class AliasBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return g


def alias(input: Tensor) -> Tensor:  # noqa: A002
    """A new tensor object viewing all of input (what `Tensor(t)` returns)."""
    return wrap_view(input._data, input, new_node(AliasBackward0, (input,)))


class CloneBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return g


def clone(input: Tensor, *, memory_format=None) -> Tensor:  # noqa: A002
    """A copy with its own storage, recorded in the graph (CloneBackward0); laid out in memory
    as input is (empty_like's layout, which later in-place random fills walk), unless
    memory_format is contiguous_format."""
    a = input._data
    if a.flags.c_contiguous or getattr(memory_format, "name", None) == "contiguous_format":
        arr = a.copy()
    else:
        from .._creation import like_layout

        arr = like_layout(input, input._dtype)
        np.copyto(arr, a)
    return wrap(arr, new_node(CloneBackward0, (input,)))


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
    """Complex conjugate (marked, see is_conj); real tensors are returned as they are."""
    if input._dtype.category != D.COMPLEX:
        return input
    from .complex_views import mark_conj

    return mark_conj(wrap(np.conj(input._data), new_node(ConjBackward0, (input,))))


def real(input: Tensor) -> Tensor:  # noqa: A002
    """The real part: a view (view_as_real(input)[..., 0]); real tensors are returned as is."""
    if input._dtype.category != D.COMPLEX:
        return input
    from .complex_views import real_part

    return real_part(input, 0)


def imag(input: Tensor) -> Tensor:  # noqa: A002
    """The imaginary part of a complex tensor: a view (view_as_real(input)[..., 1])."""
    if input._dtype.category != D.COMPLEX:
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    from .complex_views import real_part

    return real_part(input, 1)


def _set_part(k: int):
    def setter(self, value) -> None:
        (real(self) if k == 0 else imag(self)).copy_(
            value if isinstance(value, Tensor) else _make(np.asarray(value)))

    return setter


set_real, set_imag = _set_part(0), _set_part(1)


def _new(self, np_fill, fn, size, kw, dtype, requires_grad):
    from .._creation import _finish, parse_size

    if "device" in kw:
        from .._device import check_device

        check_device(kw.pop("device"))
    for k in ("layout", "pin_memory"):
        kw.pop(k, None)
    shape = parse_size(fn, size, kw.pop("size", None))
    if kw:
        raise TypeError(f"{fn}() got an unexpected keyword argument '{next(iter(kw))}'")
    dt = dtype or self._dtype
    return _finish(np_fill(shape, dt.np), requires_grad)


def new_zeros(self, *size, dtype=None, requires_grad: bool = False, **kw) -> Tensor:
    """Zeros of the given size, with this tensor's dtype unless given.

    >>> import tapegrad
    >>> tapegrad.ones(2, dtype=tapegrad.int64).new_zeros(3)
    tensor([0, 0, 0])
    """
    return _new(self, np.zeros, "new_zeros", size, kw, dtype, requires_grad)


def new_ones(self, *size, dtype=None, requires_grad: bool = False, **kw) -> Tensor:
    """Ones of the given size, with this tensor's dtype unless given."""
    return _new(self, np.ones, "new_ones", size, kw, dtype, requires_grad)


def new_empty(self, *size, dtype=None, requires_grad: bool = False, **kw) -> Tensor:
    """An uninitialised tensor (zeros here) of the given size and this tensor's dtype."""
    return _new(self, np.zeros, "new_empty", size, kw, dtype, requires_grad)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False,
             layout=None, pin_memory: bool = False) -> Tensor:
    """fill_value everywhere, in the given size and this tensor's dtype unless given."""
    from .._creation import _finish, _number, parse_size
    from .._device import check_device
    from .._tensor import _tp_name

    check_device(device)
    if not isinstance(size, (tuple, list)):
        raise TypeError(
            "new_full(): argument 'size' (position 1) must be tuple of ints, not "
            f"{_tp_name(size)}"
        )
    shape = parse_size("new_full", (size,))
    dt = dtype or self._dtype
    v = _number(fill_value, "new_full", "fill_value", 2)
    with np.errstate(all="ignore"):
        arr = np.full(shape, D.checked_scalar(v, dt), dt.np)
    return _finish(arr, requires_grad)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad: bool = False,
               layout=None, pin_memory: bool = False) -> Tensor:
    """A copy of data as a new leaf tensor, in this tensor's dtype unless given.

    >>> import tapegrad
    >>> tapegrad.ones(1, dtype=tapegrad.float64).new_tensor([1, 2])
    tensor([1., 2.], dtype=tapegrad.float64)
    """
    from .._creation import _finish
    from .._device import check_device
    from .._tensor_new import data_to_array

    check_device(device)
    arr = data_to_array(data, dtype or self._dtype, "tensor.new_tensor")
    return _finish(arr, requires_grad)


def new(self, *args, **kwargs) -> Tensor:
    """The legacy constructor with this tensor's dtype: `t.new(2, 3)`, `t.new([1, 2])`."""
    from .._tensor_new import legacy_new

    src = legacy_new(self._dtype, args, kwargs, check_type=True)
    return src if isinstance(src, Tensor) else _make(src)


METHODS = {"new": new}

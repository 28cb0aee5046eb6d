"""Turning Python data into tensor storage, as PyTorch's tensor_new.cpp does.

`data_to_array` serves `tapegrad.tensor`, `Tensor.new_tensor` and the legacy constructors
(`Tensor([1, 2])`, `tapegrad.FloatTensor(2, 3)`, `t.new(...)`), which all follow PyTorch's
three steps:

1. the shape, read by following the first element of each nested sequence (tensors count as
   scalars, NumPy arrays as sequences);
2. the dtype, when not given: each leaf's own (Python float -> default dtype, int -> int64,
   bool -> bool, complex -> default complex, a tensor or NumPy scalar -> its dtype), combined
   with `promote_types`;
3. the values, each leaf converted to the dtype with PyTorch's checks (integers that do not
   fit raise "value cannot be converted to type uint8 without overflow", complex into real
   raises "must be real number, not complex", ...), and every nested sequence checked to have
   the length the shape says.

Lists of Python numbers take a fast path through NumPy; anything else is converted leaf by
leaf. NumPy arrays given directly keep their dtype and are cast without checks.
"""

from __future__ import annotations

import operator
import warnings

import numpy as np

from . import _dtype as D
from ._size import Size
from ._tensor import Tensor, _tp_name

__all__ = [
    "FloatTensor", "DoubleTensor", "HalfTensor", "ByteTensor", "CharTensor", "ShortTensor",
    "IntTensor", "LongTensor", "BoolTensor", "ComplexFloatTensor", "ComplexDoubleTensor",
]

_MAX_DIMS = 64
_PY_SCALARS = frozenset((float, int, bool, complex))
_COPY_WARNING = (
    "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
    "sourceTensor.detach().clone().requires_grad_(True), rather than {}(sourceTensor)."
)


# --- NumPy dtypes ---------------------------------------------------------------------------
def numpy_dtype(npd) -> D.dtype:
    """The tapegrad dtype of a NumPy array's dtype, with PyTorch's messages for the others."""
    d = D._FROM_NP.get(npd)
    if d is not None:
        return d
    npd = np.dtype(npd)
    if not npd.isnative:
        raise ValueError(
            "given numpy array has byte order different from the native byte order. "
            "Conversion between byte orders is currently not supported."
        )
    d = D._FROM_NP.get(npd)
    if d is None:
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{npd.type.__name__}. The only supported "
            "types are: float64, float32, float16, complex64, complex128, int64, int32, int16, "
            "int8, uint8, and bool."
        )
    return d


# --- 1. shape -------------------------------------------------------------------------------
def _is_sequence(obj) -> bool:
    """PySequence_Check as PyTorch meets it: lists, tuples, arrays, strings, ranges, ...
    but not tensors (which are scalars here) nor dicts."""
    t = type(obj)
    if t is list or t is tuple:
        return True
    if isinstance(obj, (Tensor, dict)) or t in _PY_SCALARS:
        return False
    return hasattr(t, "__getitem__") and hasattr(t, "__len__")


def compute_sizes(data) -> list:
    sizes = []
    seq = data
    while _is_sequence(seq):
        n = len(seq)
        sizes.append(n)
        if len(sizes) > _MAX_DIMS:
            raise ValueError(f"too many dimensions '{_tp_name(seq)}'")
        if n == 0:
            break
        seq = seq[0]
    return sizes


# --- 2. dtype -------------------------------------------------------------------------------
def _scalar_type(obj) -> D.dtype:
    t = type(obj)
    if t is float:
        return D._defaults.float
    if t is int:
        return D.int64
    if t is bool:
        return D.bool
    if t is complex:
        return D._defaults.complex
    if isinstance(obj, Tensor):
        return obj._dtype
    if isinstance(obj, (str, bytes)):
        raise TypeError(f"new(): invalid data type '{_tp_name(obj)}'")
    if isinstance(obj, np.ndarray):
        return numpy_dtype(obj.dtype)
    if isinstance(obj, np.generic):
        return numpy_dtype(obj.dtype)
    if isinstance(obj, float):
        return D._defaults.float
    if isinstance(obj, bool):
        return D.bool
    if isinstance(obj, int):
        return D.int64
    if isinstance(obj, complex):
        return D._defaults.complex
    if _is_sequence(obj):
        if len(obj) == 0:
            return D._defaults.float
        ts = set(map(type, obj)) if type(obj) in (list, tuple) else None
        if ts is not None and ts <= _PY_SCALARS:
            return _py_scalars_type(ts)
        out = None
        for item in obj:
            if item is obj:
                raise TypeError("new(): self-referential lists are incompatible")
            d = _scalar_type(item)
            out = d if out is None else D._promote(out, d)
            if out is D.complex128:
                return out
        return out
    raise RuntimeError(f"Could not infer dtype of {_tp_name(obj)}")


def _py_scalars_type(types) -> D.dtype:
    if complex in types:
        return D._defaults.complex
    if float in types:
        return D._defaults.float
    if int in types:
        return D.int64
    return D.bool


# --- 3. values ------------------------------------------------------------------------------
def _unpack_long(obj) -> int:
    v = operator.index(obj)  # TypeError "'list' object cannot be interpreted as an integer"
    if not -(1 << 63) <= v < (1 << 63):
        raise ValueError("Overflow when unpacking long long")
    return v


def _unpack_double(obj) -> float:
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, complex) or (isinstance(obj, np.generic) and np.iscomplexobj(obj)):
        raise TypeError("must be real number, not complex")
    try:
        return float(obj)
    except TypeError:
        raise TypeError(f"must be real number, not {_tp_name(obj)}") from None


def _checked_int(obj, dt: D.dtype):
    """An integer leaf for an integer dtype, refusing values that do not fit (PyTorch's
    checked_convert: unsigned types accept -max..max, negatives wrapping around)."""
    info = np.iinfo(dt.np)
    if isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, float):
        v = float(obj)
        if v != v or v < info.min or v > info.max:  # nan and inf included
            raise RuntimeError(f"value cannot be converted to type {dt.name} without overflow")
        return int(v)
    v = _unpack_long(obj)
    lo = -info.max if info.min == 0 else info.min
    if v < lo or v > info.max:
        raise RuntimeError(f"value cannot be converted to type {dt.name} without overflow")
    return v % (info.max + 1) if v < 0 and info.min == 0 else v


def _as_bool(obj) -> bool:
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, complex)):
        return obj != 0
    if isinstance(obj, np.generic) and obj.dtype.kind in "fc":
        return bool(obj != 0)
    v = operator.index(obj)
    return v != 0


def store_scalar(obj, dt: D.dtype):
    """One leaf as a Python value of dtype dt, with PyTorch's conversion checks."""
    c = dt.category
    if c == D.FLOAT:
        v = _unpack_double(obj)
        if dt is D.float16:  # c10::Half converts a double through float
            with np.errstate(over="ignore"):
                return np.float32(v)
        return v
    if c == D.INT:
        return _checked_int(obj, dt)
    if c == D.COMPLEX:
        return complex(obj)
    return _as_bool(obj)


def _store(obj, dim: int, sizes: list, dt: D.dtype, out: list) -> None:
    if dim == len(sizes):
        out.append(store_scalar(obj, dt))
        return
    if type(obj) is list or type(obj) is tuple:
        seq = obj
    else:
        try:
            seq = list(obj)
        except TypeError:
            raise TypeError("not a sequence") from None
    n = sizes[dim]
    if len(seq) != n:
        raise ValueError(f"expected sequence of length {n} at dim {dim} (got {len(seq)})")
    for item in seq:
        _store(item, dim + 1, sizes, dt, out)


def _leaf_types(obj, dim: int, sizes: list, types: set) -> bool:
    """Check the nesting of lists down to the leaves (raising PyTorch's messages), gather the
    leaves' types into `types`, and say whether every leaf is a Python number (then NumPy can
    convert the whole at once)."""
    if type(obj) is not list and type(obj) is not tuple:
        return False
    n = sizes[dim]
    if len(obj) != n:
        raise ValueError(f"expected sequence of length {n} at dim {dim} (got {len(obj)})")
    if dim == len(sizes) - 1:
        ts = set(map(type, obj))
        types |= ts
        return ts <= _PY_SCALARS
    for item in obj:
        if not _leaf_types(item, dim + 1, sizes, types):
            return False
    return True


def _numpy_is_exact(types: set, dt: D.dtype) -> bool:
    """Whether NumPy converts Python numbers of these types to dt as PyTorch does (refusing
    what PyTorch refuses, by raising): real values into floating types, ints and bools into
    integer types (NumPy raises OverflowError where a check is needed), real values to bool."""
    c = dt.category
    if c == D.COMPLEX:
        return True
    if complex in types:
        return False
    if c == D.INT:
        return float not in types
    return True


def _from_numpy_array(a: np.ndarray, dtype: D.dtype | None) -> np.ndarray:
    d = numpy_dtype(a.dtype)
    if dtype is None or dtype is d:
        return np.array(a, dtype=d.np, copy=True)
    if a.dtype.kind == "c" and dtype.category != D.COMPLEX:
        a = a.real
    with np.errstate(all="ignore"):
        return a.astype(dtype.np)


def data_to_array(data, dtype: D.dtype | None, fn: str = "tensor") -> np.ndarray:
    """A new array holding data's values: dtype inferred (dtype=None) or converted to."""
    if isinstance(data, Tensor):
        warnings.warn(_COPY_WARNING.format(fn), UserWarning, stacklevel=3)
        a = data._data
        if dtype is None or dtype is data._dtype:
            return a.copy()
        return _from_numpy_array(a, dtype)
    if isinstance(data, np.ndarray):
        return _from_numpy_array(data, dtype)
    if isinstance(data, (str, bytes)):
        raise TypeError(f"new(): invalid data type '{_tp_name(data)}'")
    sizes = compute_sizes(data)
    if isinstance(data, list) and data and isinstance(data[0], np.ndarray):
        warnings.warn(
            "Creating a tensor from a list of numpy.ndarrays is extremely slow. Please consider "
            "converting the list to a single numpy.ndarray with numpy.array() before converting "
            "to a tensor.",
            UserWarning,
            stacklevel=3,
        )
    dt = _scalar_type(data) if dtype is None else dtype
    shape = tuple(sizes)
    if 0 in shape:
        return np.zeros(shape, dt.np)
    types: set = set()
    if sizes and _leaf_types(data, 0, sizes, types) and (
        dtype is None or _numpy_is_exact(types, dt)
    ):
        try:
            with np.errstate(all="ignore"):
                if dt is D.float16:  # through float, as c10::Half converts a double
                    return np.array(data, dtype=np.float32).astype(np.float16)
                return np.array(data, dtype=dt.np)
        except (OverflowError, TypeError, ValueError):
            pass  # the exact path below raises PyTorch's message
    out: list = []
    _store(data, 0, sizes, dt, out)
    with np.errstate(all="ignore"):
        return np.array(out, dtype=dt.np).reshape(shape)


# --- the legacy constructors: Tensor(...), FloatTensor(...), t.new(...) ---------------------
_SIGNATURES = (
    " * (*, tapegrad.device device = None)\n"
    " * (tapegrad.Storage storage)\n"
    " * (Tensor other)\n"
    " * (tuple of ints size, *, tapegrad.device device = None)\n"
    " * (object data, *, tapegrad.device device = None)\n"
)


def _options(d: D.dtype) -> str:
    return (
        f"TensorOptions(dtype={d._cname}, device=cpu, layout=Strided, requires_grad=false "
        "(default), pinned_memory=false (default), memory_format=(nullopt))"
    )


def legacy_new(dt: D.dtype, args: tuple, kwargs: dict, check_type: bool = False):
    """The array (or, for Tensor(t), the tensor to alias) a legacy constructor makes."""
    from ._device import device as device_cls

    for k, v in kwargs.items():
        if k != "device":
            got = ", ".join([_arg_name(a) for a in args] + [f"{k}={_arg_name(v)}"])
            raise TypeError(
                f"new() received an invalid combination of arguments - got ({got}), but "
                f"expected one of:\n{_SIGNATURES}"
            )
        if v is not None:
            dev = device_cls(v)
            if dev.type != "cpu":
                raise RuntimeError(
                    f"legacy constructor expects device type: cpu but device type: {dev.type} "
                    "was passed"
                )
    if not args:
        return np.zeros((0,), dt.np)
    a0 = args[0]
    if len(args) == 1:
        if isinstance(a0, Tensor):
            if check_type and a0._dtype is not dt:
                raise TypeError(f"expected {_options(dt)} (got {_options(a0._dtype)})")
            from .ops.convert import alias

            return alias(a0)
        if isinstance(a0, Size):
            return np.zeros(_legacy_sizes(a0), dt.np)
        if isinstance(a0, (int, np.integer)) and not isinstance(a0, (bool, np.bool_)):
            return np.zeros(_legacy_sizes(args), dt.np)
        if not _is_sequence(a0):
            raise TypeError(f"new(): data must be a sequence (got {_tp_name(a0)})")
        return data_to_array(a0, dt)
    if any(isinstance(a, (Tensor, tuple, list)) and not _int_like(a) for a in args):
        got = ", ".join(_arg_name(a) for a in args)
        raise TypeError(
            f"new() received an invalid combination of arguments - got ({got}), but expected "
            f"one of:\n{_SIGNATURES}"
        )
    return np.zeros(_legacy_sizes(args), dt.np)


def _int_like(a) -> bool:
    return isinstance(a, Tensor) and a._data.size == 1 and a._dtype.category == D.INT


def _arg_name(a) -> str:
    if isinstance(a, D.dtype):
        return "tapegrad.dtype"
    return "Tensor" if isinstance(a, Tensor) else _tp_name(a)


def _legacy_sizes(sizes) -> tuple:
    out = []
    for i, s in enumerate(sizes):
        try:
            if isinstance(s, (bool, np.bool_)):
                raise TypeError
            v = operator.index(s)
        except TypeError:
            raise TypeError(
                f"new(): argument 'size' failed to unpack the object at pos {i + 1} with error "
                f"\"type must be tuple of ints,but got {_tp_name(s)}\""
            ) from None
        out.append(v)
    for v in out:
        if v < 0:
            raise RuntimeError(
                f"Trying to create tensor with negative dimension {v}: "
                f"[{', '.join(str(x) for x in out)}]"
            )
    return tuple(out)


class tensortype(type):
    """The metaclass of tapegrad.FloatTensor and friends: calling one builds a tensor of its
    dtype with the legacy constructor; isinstance(t, FloatTensor) tests t's dtype."""

    def __call__(cls, *args, **kwargs):
        from ._tensor import _make

        src = legacy_new(cls.dtype, args, kwargs, check_type=True)
        return src if isinstance(src, Tensor) else _make(src)

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj._dtype is cls.dtype

    def __repr__(cls) -> str:
        return f"<class 'tapegrad.{cls.__name__}'>"

    @property
    def is_cuda(cls) -> bool:
        return False

    @property
    def is_sparse(cls) -> bool:
        return False


def _legacy_type(name: str, dt: D.dtype):
    return tensortype(name, (), {"dtype": dt, "__module__": "tapegrad",
                                        "__doc__": f"Legacy constructor of {dt!r} tensors."})


FloatTensor = _legacy_type("FloatTensor", D.float32)
DoubleTensor = _legacy_type("DoubleTensor", D.float64)
HalfTensor = _legacy_type("HalfTensor", D.float16)
ByteTensor = _legacy_type("ByteTensor", D.uint8)
CharTensor = _legacy_type("CharTensor", D.int8)
ShortTensor = _legacy_type("ShortTensor", D.int16)
IntTensor = _legacy_type("IntTensor", D.int32)
LongTensor = _legacy_type("LongTensor", D.int64)
BoolTensor = _legacy_type("BoolTensor", D.bool)
ComplexFloatTensor = _legacy_type("ComplexFloatTensor", D.complex64)
ComplexDoubleTensor = _legacy_type("ComplexDoubleTensor", D.complex128)

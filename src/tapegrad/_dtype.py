"""dtype objects, the default dtype, and PyTorch's type-promotion rules."""

from __future__ import annotations

import numpy as np

__all__ = [
    "dtype", "float16", "float32", "float64", "complex64", "complex128", "int8", "int16",
    "int32", "int64", "uint8", "bool", "half", "float", "double", "long", "int", "short",
    "cfloat", "cdouble", "get_default_dtype", "set_default_dtype", "promote_types",
    "result_type", "can_cast", "finfo", "iinfo",
]

_builtin_bool = bool

# Categories order the kinds of numbers: a higher category wins in promotion.
BOOL, INT, FLOAT, COMPLEX = 0, 1, 2, 3


class dtype:
    """A tensor element type; `tapegrad.float32` and friends are its only instances."""

    __slots__ = ("name", "np", "category", "itemsize", "is_signed", "_legacy", "_short")

    def __init__(self, name: str, np_dtype, category: int, legacy: str, short: str):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.category = category
        self.itemsize = self.np.itemsize
        self.is_signed = name not in ("uint8", "bool")
        self._legacy = legacy  # "FloatTensor": the legacy type name used in messages
        self._short = short  # "Float": the C++ scalar type name used in messages

    @property
    def is_floating_point(self) -> _builtin_bool:
        return self.category == FLOAT

    @property
    def is_complex(self) -> _builtin_bool:
        return self.category == COMPLEX

    def to_real(self) -> dtype:
        return _COMPLEX_TO_REAL.get(self, self)

    def to_complex(self) -> dtype:
        return _REAL_TO_COMPLEX.get(self, self)

    def __repr__(self) -> str:
        return "tapegrad." + self.name

    def __reduce__(self):
        return (_dtype_by_name, (self.name,))


def _dtype_by_name(name: str) -> dtype:
    return _BY_NAME[name]


bool = dtype("bool", np.bool_, BOOL, "BoolTensor", "Bool")  # noqa: A001
uint8 = dtype("uint8", np.uint8, INT, "ByteTensor", "Byte")
int8 = dtype("int8", np.int8, INT, "CharTensor", "Char")
int16 = dtype("int16", np.int16, INT, "ShortTensor", "Short")
int32 = dtype("int32", np.int32, INT, "IntTensor", "Int")
int64 = dtype("int64", np.int64, INT, "LongTensor", "Long")
float16 = dtype("float16", np.float16, FLOAT, "HalfTensor", "Half")
float32 = dtype("float32", np.float32, FLOAT, "FloatTensor", "Float")
float64 = dtype("float64", np.float64, FLOAT, "DoubleTensor", "Double")
complex64 = dtype("complex64", np.complex64, COMPLEX, "ComplexFloatTensor", "ComplexFloat")
complex128 = dtype("complex128", np.complex128, COMPLEX, "ComplexDoubleTensor", "ComplexDouble")

half = float16
float = float32  # noqa: A001
double = float64
short = int16
int = int32  # noqa: A001
long = int64
cfloat = complex64
cdouble = complex128

ALL = (bool, uint8, int8, int16, int32, int64, float16, float32, float64, complex64, complex128)
_BY_NAME = {d.name: d for d in ALL}
_FROM_NP = {d.np: d for d in ALL}
_COMPLEX_TO_REAL = {complex64: float32, complex128: float64}
_REAL_TO_COMPLEX = {float16: complex64, float32: complex64, float64: complex128}


def from_numpy_dtype(npd) -> dtype:
    """The tapegrad dtype of a NumPy dtype; TypeError for the ones PyTorch lacks."""
    d = _FROM_NP.get(npd)
    if d is None:
        d = _FROM_NP.get(np.dtype(npd))
        if d is None:
            raise TypeError(
                f"can't convert np.ndarray of type numpy.{np.dtype(npd).name}. The only supported "
                "types are: float64, float32, float16, complex64, complex128, int64, int32, int16, "
                "int8, uint8, and bool."
            )
    return d


class _Defaults:
    __slots__ = ("float", "complex")


_defaults = _Defaults()
_defaults.float = float32
_defaults.complex = complex64


def get_default_dtype() -> dtype:
    """The dtype of Python floats turned into tensors (float32 unless changed).

    >>> import tapegrad
    >>> tapegrad.get_default_dtype()
    tapegrad.float32
    """
    return _defaults.float


def set_default_dtype(d: dtype) -> None:
    """Set the default floating dtype (float32 or float64; float16 as PyTorch allows)."""
    if not isinstance(d, dtype) or d.category != FLOAT:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _defaults.float = d
    _defaults.complex = _REAL_TO_COMPLEX[d]


def default_complex() -> dtype:
    return _defaults.complex


def promote_types(a: dtype, b: dtype) -> dtype:
    """The smallest dtype both a and b convert to without losing their kind (PyTorch's table).

    >>> import tapegrad
    >>> tapegrad.promote_types(tapegrad.int64, tapegrad.float16)
    tapegrad.float16
    """
    if a is b:
        return a
    ca, cb = a.category, b.category
    if ca == cb:
        return _FROM_NP[np.promote_types(a.np, b.np)]
    if ca < cb:
        a, b, ca, cb = b, a, cb, ca
    # a has the higher category.
    if ca == COMPLEX and cb == FLOAT:
        # complex64 with float64 gives complex128: the value type is promoted too.
        return _REAL_TO_COMPLEX[promote_types(a.to_real(), b)]
    return a


def _combine(higher, lower):
    """Merge the result of a higher-priority operand group with a lower one (PyTorch's rule)."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    hc, lc = higher.category, lower.category
    if hc == COMPLEX:
        return higher
    if lc == COMPLEX:
        return _REAL_TO_COMPLEX[higher] if hc == FLOAT else lower
    if hc == FLOAT:
        return higher
    if hc == BOOL or lc == FLOAT:
        return promote_types(higher, lower)
    return higher


def scalar_dtype(v) -> dtype:
    """The dtype a Python scalar takes when it joins a tensor operation as a 'wrapped number'."""
    t = type(v)
    if t is _builtin_bool or t is np.bool_:
        return bool
    if t is builtins_int or isinstance(v, (builtins_int, np.integer)):
        return int64
    if isinstance(v, (builtins_float, np.floating)):
        return _defaults.float
    if isinstance(v, (complex, np.complexfloating)):
        return _defaults.complex
    raise TypeError(f"unsupported scalar type {t.__name__}")


import builtins as _builtins  # noqa: E402

builtins_int = _builtins.int
builtins_float = _builtins.float


def result_type_of(dim_dtypes, zero_dtypes, scalar_dtypes) -> dtype:
    """PyTorch's three-tier promotion: dimensioned tensors, 0-d tensors, then Python scalars."""
    dim = zero = wrapped = None
    for d in dim_dtypes:
        dim = d if dim is None else promote_types(dim, d)
    for d in zero_dtypes:
        zero = d if zero is None else promote_types(zero, d)
    for d in scalar_dtypes:
        wrapped = d if wrapped is None else promote_types(wrapped, d)
    return _combine(dim, _combine(zero, wrapped))


def result_type(a, b) -> dtype:
    """The dtype PyTorch gives to an arithmetic operation on a and b (tensors or scalars)."""
    from ._tensor import Tensor

    dims, zeros, scalars = [], [], []
    for v in (a, b):
        if isinstance(v, Tensor):
            (dims if v.ndim else zeros).append(v.dtype)
        else:
            scalars.append(scalar_dtype(v))
    return result_type_of(dims, zeros, scalars)


def can_cast(from_: dtype, to: dtype) -> _builtin_bool:
    """Whether PyTorch allows casting from_ to `to` in an in-place operation (no kind lowering)."""
    if from_.category > to.category:
        return False
    return True


class finfo:
    """Machine limits of a floating dtype (PyTorch's torch.finfo)."""

    def __init__(self, type: dtype | None = None):  # noqa: A002
        d = get_default_dtype() if type is None else type
        fi = np.finfo(d.np)
        self.dtype = d.name
        self.bits = fi.bits
        self.eps = builtins_float(fi.eps)
        self.max = builtins_float(fi.max)
        self.min = builtins_float(fi.min)
        self.tiny = builtins_float(fi.tiny)
        self.smallest_normal = self.tiny
        self.resolution = builtins_float(fi.resolution)


class iinfo:
    """Machine limits of an integer dtype (PyTorch's torch.iinfo)."""

    def __init__(self, type: dtype):  # noqa: A002
        ii = np.iinfo(type.np)
        self.dtype = type.name
        self.bits = ii.bits
        self.max = builtins_int(ii.max)
        self.min = builtins_int(ii.min)

"""dtype objects, the default dtype, and PyTorch's type-promotion rules."""

from __future__ import annotations

import math

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

    __slots__ = ("name", "np", "category", "itemsize", "is_signed", "abbr", "_legacy", "_short",
                 "_cname")

    def __new__(cls, *args, **kwargs):
        if _SEALED:
            raise TypeError("cannot create 'tapegrad.dtype' instances")
        return object.__new__(cls)

    def __init__(self, name: str, np_dtype, category: int, legacy: str, short: str, abbr: str,
                 cname: str):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.category = category
        self.itemsize = self.np.itemsize
        self.is_signed = name not in ("uint8", "bool")
        self.abbr = abbr  # "f32": PyTorch's short name
        self._legacy = legacy  # "FloatTensor": the legacy type name used in messages
        self._short = short  # "Float": the C++ scalar type name used in messages
        self._cname = cname  # "float": the C++ type name some messages print

    @property
    def is_floating_point(self) -> _builtin_bool:
        return self.category == FLOAT

    @property
    def is_complex(self) -> _builtin_bool:
        return self.category == COMPLEX

    def to_real(self) -> dtype:
        """The real dtype of a complex one (float32 for complex64); others are returned as is."""
        return _COMPLEX_TO_REAL.get(self, self)

    def to_complex(self) -> dtype:
        """The complex dtype with this floating dtype's precision (complex64 for float32)."""
        if self.category == COMPLEX:
            return self
        d = _REAL_TO_COMPLEX.get(self)
        if d is None or self is float16:
            # PyTorch answers complex32 for float16, a dtype tapegrad does not have
            raise RuntimeError(f"Unknown Complex ScalarType for {self._short}")
        return d

    def __repr__(self) -> str:
        return "tapegrad." + self.name

    def __reduce__(self):
        return (_dtype_by_name, (self.name,))

    def _no_order(self, other, op: str):
        raise TypeError(
            f"'{op}' not supported between instances of 'tapegrad.dtype' and "
            f"'{'tapegrad.dtype' if isinstance(other, dtype) else type(other).__name__}'"
        )

    def __lt__(self, other):
        self._no_order(other, "<")

    def __le__(self, other):
        self._no_order(other, "<=")

    def __gt__(self, other):
        self._no_order(other, ">")

    def __ge__(self, other):
        self._no_order(other, ">=")

    __hash__ = object.__hash__


dtype.__module__ = "tapegrad"


def _dtype_by_name(name: str) -> dtype:
    return _BY_NAME[name]


_SEALED = False
bool = dtype("bool", np.bool_, BOOL, "BoolTensor", "Bool", "b8", "bool")  # noqa: A001
uint8 = dtype("uint8", np.uint8, INT, "ByteTensor", "Byte", "u8", "unsigned char")
int8 = dtype("int8", np.int8, INT, "CharTensor", "Char", "i8", "signed char")
int16 = dtype("int16", np.int16, INT, "ShortTensor", "Short", "i16", "short int")
int32 = dtype("int32", np.int32, INT, "IntTensor", "Int", "i32", "int")
int64 = dtype("int64", np.int64, INT, "LongTensor", "Long", "i64", "long int")
float16 = dtype("float16", np.float16, FLOAT, "HalfTensor", "Half", "f16", "c10::Half")
float32 = dtype("float32", np.float32, FLOAT, "FloatTensor", "Float", "f32", "float")
float64 = dtype("float64", np.float64, FLOAT, "DoubleTensor", "Double", "f64", "double")
complex64 = dtype("complex64", np.complex64, COMPLEX, "ComplexFloatTensor", "ComplexFloat", "c64",
                  "c10::complex<float>")
complex128 = dtype("complex128", np.complex128, COMPLEX, "ComplexDoubleTensor", "ComplexDouble",
                   "c128", "c10::complex<double>")
_SEALED = True

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
    """Set the default floating dtype: the dtype of Python floats made into tensors, of
    factory functions without dtype=, and of integer true division (float32 at start).
    Complex values then default to the complex dtype of the same precision.

    >>> import tapegrad
    >>> tapegrad.set_default_dtype(tapegrad.float64)
    >>> tapegrad.tensor([1.5]).dtype
    tapegrad.float64
    >>> tapegrad.set_default_dtype(tapegrad.float32)
    """
    if not isinstance(d, dtype):
        raise TypeError(
            "invalid dtype object: only floating-point types are supported as the default type"
        )
    if d.category != FLOAT:
        raise TypeError("only floating-point types are supported as the default type")
    _defaults.float = d
    # PyTorch pairs float16 with complex32, which tapegrad lacks: complex64 stands in.
    _defaults.complex = _REAL_TO_COMPLEX[d]


def default_complex() -> dtype:
    return _defaults.complex


def promote_types(type1: dtype, type2: dtype) -> dtype:
    """The smallest dtype both a and b convert to without losing their kind (PyTorch's table).

    >>> import tapegrad
    >>> tapegrad.promote_types(tapegrad.int64, tapegrad.float16)
    tapegrad.float16
    """
    a, b = type1, type2
    if a is b:
        return a
    for i, d in enumerate((a, b)):
        if not isinstance(d, dtype):
            raise TypeError(
                f"promote_types(): argument 'type{i + 1}' (position {i + 1}) must be "
                f"tapegrad.dtype, not {type(d).__name__}"
            )
    return _promote(a, b)


def _promote(a: dtype, b: dtype) -> dtype:
    if a is b:
        return a
    ca, cb = a.category, b.category
    if ca == cb:
        return _FROM_NP[np.promote_types(a.np, b.np)]  # same kind: NumPy's table agrees
    if ca < cb:
        a, b, ca, cb = b, a, cb, ca
    # a has the higher category.
    if ca == COMPLEX and cb == FLOAT:
        # complex64 with float64 gives complex128: the value type is promoted too.
        return _REAL_TO_COMPLEX[_promote(a.to_real(), b)]
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
        return _promote(higher, lower)
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

# The C++ type names PyTorch's Scalar conversions print in their overflow message.
_SCALAR_CNAMES = {
    "uint8": "uint8_t", "int8": "int8_t", "int16": "int16_t", "int32": "int", "int64": "int64_t",
    "float16": "double", "float32": "float", "float64": "double", "complex64":
    "c10::complex<float>", "complex128": "c10::complex<double>", "bool": "bool",
}
_F32_MAX = 3.4028234663852886e38


def checked_scalar(v, d: dtype, numel: builtins_int = 2):
    """A Python number as a value of dtype d, refusing what PyTorch's Scalar conversion
    refuses: "value cannot be converted to type uint8_t without overflow" for out-of-range
    integers and floats, nan into integers, non-zero imaginary parts into real types, finite
    doubles beyond float32's range. Unsigned types take -max..max, negatives wrapping.
    float16 is checked (as c10::Half) only when filling more than one element: PyTorch fills
    a single element through double.

    >>> import tapegrad
    >>> tapegrad._dtype.checked_scalar(-1, tapegrad.uint8)
    255
    """
    if isinstance(v, (np.generic,)):
        v = v.item()
    c = d.category
    if c == BOOL:
        return _builtin_bool(v != 0)
    t = type(v)
    if t is not _builtin_bool and isinstance(v, builtins_int):
        if not -(1 << 63) <= v < (1 << 64):
            raise OverflowError("int too big to convert")
    elif isinstance(v, complex) and c != COMPLEX:
        if v.imag != 0:
            raise RuntimeError(_overflow_msg(d, numel))
        v = v.real
    if c == COMPLEX:
        z = complex(v)
        if d is complex64 and any(math.isfinite(x) and abs(x) > _F32_MAX for x in (z.real,
                                                                                     z.imag)):
            raise RuntimeError(_overflow_msg(d))
        return z
    if c == FLOAT:
        f = builtins_float(v)
        lim = _F32_MAX if d is float32 else 65504.0 if d is float16 and numel > 1 else None
        if lim is not None and math.isfinite(f) and abs(f) > lim:
            raise RuntimeError(_overflow_msg(d, numel))
        if d is float16:  # c10::Half converts a double through float
            with np.errstate(over="ignore"):
                return np.float32(f)
        return f
    # integer types
    info = np.iinfo(d.np)
    if isinstance(v, builtins_float):
        if v != v or v < info.min or v > info.max:
            raise RuntimeError(_overflow_msg(d))
        return builtins_int(v)
    v = builtins_int(v)
    lo = -info.max if info.min == 0 else info.min
    if v < lo or v > info.max:
        raise RuntimeError(_overflow_msg(d))
    return v % (info.max + 1) if v < 0 and info.min == 0 else v


def _overflow_msg(d: dtype, numel: builtins_int = 2) -> str:
    name = "c10::Half" if d is float16 and numel > 1 else _SCALAR_CNAMES[d.name]
    return f"value cannot be converted to type {name} without overflow"


def result_type_of(dim_dtypes, zero_dtypes, scalar_dtypes) -> dtype:
    """PyTorch's three-tier promotion: dimensioned tensors, 0-d tensors, then Python scalars."""
    dim = zero = wrapped = None
    for d in dim_dtypes:
        dim = d if dim is None else _promote(dim, d)
    for d in zero_dtypes:
        zero = d if zero is None else _promote(zero, d)
    for d in scalar_dtypes:
        wrapped = d if wrapped is None else _promote(wrapped, d)
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


def _g(v) -> str:
    """A number as C++ streams print it by default (6 significant digits, like %g)."""
    return f"{v:g}"


class finfo:
    """Machine limits of a floating dtype (PyTorch's torch.finfo); complex dtypes give the
    limits of their real part.

    >>> import tapegrad
    >>> tapegrad.finfo(tapegrad.float32).eps
    1.1920928955078125e-07
    """

    __slots__ = ("dtype", "bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution")

    def __init__(self, type: dtype | None = None) -> None:  # noqa: A002
        d = get_default_dtype() if type is None else type
        if not isinstance(d, dtype):
            raise TypeError(
                "finfo(): argument 'type' (position 1) must be tapegrad.dtype, not "
                f"{d.__class__.__name__}"
            )
        if d.category < FLOAT:
            raise TypeError(
                "tapegrad.finfo() requires a floating point input type. Use tapegrad.iinfo to "
                "handle 'tapegrad.finfo'"
            )
        d = d.to_real()
        fi = np.finfo(d.np)
        self.dtype = d.name
        self.bits = fi.bits
        self.eps = builtins_float(fi.eps)
        self.max = builtins_float(fi.max)
        self.min = builtins_float(fi.min)
        self.tiny = builtins_float(fi.smallest_normal)
        self.smallest_normal = self.tiny
        # 10 ** -digits10, as PyTorch computes it (1e-06 for float32, not NumPy's float32 value)
        self.resolution = 10.0 ** -fi.precision

    def __eq__(self, other) -> _builtin_bool:
        return isinstance(other, finfo) and other.dtype == self.dtype

    def __hash__(self) -> builtins_int:
        return hash(("finfo", self.dtype))

    def __repr__(self) -> str:
        return (
            f"finfo(resolution={_g(self.resolution)}, min={_g(self.min)}, max={_g(self.max)}, "
            f"eps={_g(self.eps)}, smallest_normal={_g(self.smallest_normal)}, "
            f"tiny={_g(self.tiny)}, dtype={self.dtype})"
        )


class iinfo:
    """Machine limits of an integer dtype (PyTorch's torch.iinfo).

    >>> import tapegrad
    >>> tapegrad.iinfo(tapegrad.uint8).max
    255
    """

    __slots__ = ("dtype", "bits", "max", "min")

    def __init__(self, type: dtype) -> None:  # noqa: A002
        if not isinstance(type, dtype):
            raise TypeError(
                "iinfo(): argument 'type' (position 1) must be tapegrad.dtype, not "
                f"{type.__class__.__name__}"
            )
        if type is bool:
            raise TypeError("tapegrad.bool is not supported by tapegrad.iinfo")
        if type.category != INT:
            raise TypeError(
                "tapegrad.iinfo() requires an integer input type. Use tapegrad.finfo to handle "
                "'tapegrad.iinfo'"
            )
        ii = np.iinfo(type.np)
        self.dtype = type.name
        self.bits = ii.bits
        self.max = builtins_int(ii.max)
        self.min = builtins_int(ii.min)

    def __eq__(self, other) -> _builtin_bool:
        return isinstance(other, iinfo) and other.dtype == self.dtype

    def __hash__(self) -> builtins_int:
        return hash(("iinfo", self.dtype))

    def __repr__(self) -> str:
        return f"iinfo(min={_g(self.min)}, max={_g(self.max)}, dtype={self.dtype})"


finfo.__module__ = iinfo.__module__ = "tapegrad"

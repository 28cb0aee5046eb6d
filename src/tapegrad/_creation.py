"""Tensor creation: tensor, as_tensor, asarray, from_numpy, zeros, ones, full, empty, eye and
the *_like forms. Turning Python data into values lives in _tensor_new.py, the range
factories (arange, linspace, ...) in _creation_range.py, random creation in _random.py."""

from __future__ import annotations

import builtins
import operator

import numpy as np

from . import _dtype as D
from ._creation_range import arange, linspace, logspace, range  # noqa: A004
from ._device import check_device, contiguous_format, preserve_format
from ._tensor import Tensor, _make, _tp_name
from ._tensor_new import *  # noqa: F403  (the legacy FloatTensor, LongTensor, ... types)
from ._tensor_new import __all__ as _legacy_types
from ._tensor_new import data_to_array, numpy_dtype

__all__ = [
    "tensor", "as_tensor", "asarray", "from_numpy", "zeros", "ones", "full", "empty", "eye",
    "arange", "range", "linspace", "logspace", "zeros_like", "ones_like", "full_like",
    "empty_like", "scalar_tensor", "contiguous_format", "preserve_format", *_legacy_types,
]

_REQ_GRAD_MSG = "Only Tensors of floating point and complex dtype can require gradients"


def _finish(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = _make(arr, None, False)
    if requires_grad:
        if t._dtype.category < D.FLOAT:
            raise RuntimeError(_REQ_GRAD_MSG)
        t._requires_grad = True
    return t


def _out(res: Tensor, out, fn: str = "") -> Tensor:
    """Write a factory's result into out= (resized, and cast to out's dtype), as PyTorch."""
    if out is None:
        return res
    if out._requires_grad:
        raise RuntimeError(
            f"{'aten::' + fn + '(): ' if fn else ''}functions with out=... arguments don't "
            "support automatic differentiation, but one of the arguments requires grad."
        )
    a = res._data
    if out._data.shape != a.shape:
        out._data = np.empty(a.shape, out._data.dtype)
    with np.errstate(all="ignore"):
        np.copyto(out._data, a, casting="unsafe")
    out._bump_version()
    return out


def _check_dtype(dtype, fn: str) -> None:
    if dtype is not None and not isinstance(dtype, D.dtype):
        raise TypeError(
            f"{fn}(): argument 'dtype' must be tapegrad.dtype, not {_tp_name(dtype)}"
        )


def parse_size(fn: str, size: tuple, size_kw=None) -> tuple:
    """The shape passed to a factory as ints, a tuple/list/Size, or size=, with PyTorch's
    messages for what is not a shape."""
    if size_kw is not None:
        if size:
            raise TypeError(f"{fn}() got multiple values for argument 'size'")
        size = (size_kw,)
    if not size:
        raise TypeError(f'{fn}() missing 1 required positional arguments: "size"')
    if len(size) > 1 and any(isinstance(s, (tuple, list)) for s in size):
        raise TypeError(f"{fn}() takes 1 positional argument but {len(size)} were given")
    if len(size) == 1:
        s0 = size[0]
        if isinstance(s0, (tuple, list)):
            size = s0
            items = True
        else:
            items = False
    else:
        items = True
    out = []
    for i, s in enumerate(size):
        if type(s) is int:
            out.append(s)
            continue
        bad = isinstance(s, (bool, np.bool_, float, str, complex)) or s is None
        if not bad:
            try:
                out.append(operator.index(s))
                continue
            except TypeError:
                bad = True
        if items:
            raise TypeError(
                f"{fn}(): argument 'size' failed to unpack the object at pos {i + 1} with "
                f"error \"type must be tuple of ints,but got {_tp_name(s)}\""
            )
        if len(size) > 1:
            raise TypeError(f"{fn}() takes 1 positional argument but {len(size)} were given")
        raise TypeError(
            f"{fn}(): argument 'size' (position 1) must be tuple of ints, not {_tp_name(s)}"
        )
    for s in out:
        if s < 0:
            if fn == "zeros":
                raise RuntimeError("zeros: Dimension size must be non-negative.")
            raise RuntimeError(
                f"Trying to create tensor with negative dimension {s}: "
                f"[{', '.join(str(v) for v in out)}]"
            )
    return tuple(out)


# --- from data ------------------------------------------------------------------------------
def tensor(data, *, dtype=None, device=None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of data (nested sequences of numbers, NumPy arrays or
    scalars, tensors), its dtype inferred as PyTorch infers it unless given.

    >>> import tapegrad
    >>> tapegrad.tensor([[1, 2], [3, 4]])
    tensor([[1, 2],
            [3, 4]])
    >>> tapegrad.tensor([1, 2.5]).dtype
    tapegrad.float32
    """
    _check_dtype(dtype, "tensor")
    check_device(device)
    return _finish(data_to_array(data, dtype, "tapegrad.tensor"), requires_grad)


def scalar_tensor(s, *, dtype=None, layout=None, device=None, requires_grad: bool = False,
                  pin_memory: bool = False) -> Tensor:
    """A 0-d tensor holding the number s (in the default float dtype unless given)."""
    if isinstance(s, Tensor):
        s = s.item()
    if not isinstance(s, (int, float, complex, np.number, np.bool_)):
        raise TypeError(
            f"scalar_tensor(): argument 's' (position 1) must be Number, not {_tp_name(s)}"
        )
    dt = D._defaults.float if dtype is None else dtype
    return _finish(np.array(D.checked_scalar(s, dt), dt.np), requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like tensor(), but shares memory with a tensor or NumPy array when no conversion is
    needed (then it returns the tensor itself, or a tensor over the array).

    >>> import numpy as np, tapegrad
    >>> a = np.ones(2)
    >>> t = tapegrad.as_tensor(a)
    >>> a[0] = 5
    >>> t
    tensor([5., 1.], dtype=tapegrad.float64)
    """
    _check_dtype(dtype, "as_tensor")
    check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None or dtype is data._dtype else data.to(dtype)
    if isinstance(data, np.ndarray):
        d = numpy_dtype(data.dtype)
        if dtype is None or dtype is d:
            return _make(data)
        return _make(data_to_array(data, dtype))
    return _make(data_to_array(data, dtype))


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad: bool = False) -> Tensor:
    """obj as a tensor, sharing memory when it can (copy=None), always (copy=False: raising
    when a conversion is needed) or never (copy=True).

    >>> import tapegrad
    >>> tapegrad.asarray([1, 2])
    tensor([1, 2])
    """
    _check_dtype(dtype, "asarray")
    check_device(device)
    if isinstance(obj, Tensor) or isinstance(obj, np.ndarray):
        src = obj._dtype if isinstance(obj, Tensor) else numpy_dtype(obj.dtype)
        if copy is False and dtype is not None and dtype is not src:
            raise ValueError(
                f"can't alias tensor with dtype '{src._short}' into dtype '{dtype._short}'."
            )
    t = as_tensor(obj, dtype=dtype)
    if copy:
        if t is obj or (isinstance(obj, np.ndarray) and t._data is obj):
            t = _make(t._data.copy())
    if requires_grad:
        if t._dtype.category < D.FLOAT:
            raise RuntimeError(_REQ_GRAD_MSG)
        if t is obj:
            t = t.detach()
        t._requires_grad = True
    return t


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array (changes to one show in the other).

    >>> import numpy as np, tapegrad
    >>> tapegrad.from_numpy(np.arange(3))
    tensor([0, 1, 2])
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {_tp_name(ndarray)})")
    numpy_dtype(ndarray.dtype)
    return _make(ndarray)


# --- filled ---------------------------------------------------------------------------------
def _dt(dtype, out=None) -> D.dtype:
    if dtype is not None:
        return dtype
    if out is not None:
        return out._dtype
    return D._defaults.float


def zeros(*size, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False,
          pin_memory: bool = False, **kw) -> Tensor:
    """A tensor of zeros of the given size.

    >>> import tapegrad
    >>> tapegrad.zeros(2, 3).shape
    tapegrad.Size([2, 3])
    """
    check_device(device)
    shape = parse_size("zeros", size, kw.pop("size", None))
    return _out(_finish(np.zeros(shape, _dt(dtype, out).np), requires_grad), out, "zeros")


def ones(*size, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False,
         pin_memory: bool = False, **kw) -> Tensor:
    """A tensor of ones of the given size.

    >>> import tapegrad
    >>> tapegrad.ones(2)
    tensor([1., 1.])
    """
    check_device(device)
    shape = parse_size("ones", size, kw.pop("size", None))
    return _out(_finish(np.ones(shape, _dt(dtype, out).np), requires_grad), out, "ones")


def empty(*size, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False,
          pin_memory: bool = False, memory_format=None, **kw) -> Tensor:
    """An uninitialised tensor of the given size (tapegrad fills it with zeros)."""
    check_device(device)
    shape = parse_size("empty", size, kw.pop("size", None))
    return _out(_finish(np.zeros(shape, _dt(dtype, out).np), requires_grad), out, "empty")


def fill_value_dtype(fill_value) -> D.dtype:
    """The dtype full() infers from its fill value: bool, int64, or the default float or
    complex dtype."""
    if isinstance(fill_value, Tensor):
        return fill_value._dtype
    return D.scalar_dtype(fill_value)


def _number(v, fn: str, arg: str, pos: int):
    if isinstance(v, Tensor):
        if v._data.ndim:
            raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be Number, not Tensor")
        return v._data.item()
    if not isinstance(v, (int, float, complex, np.number, np.bool_)):
        raise TypeError(
            f"{fn}(): argument '{arg}' (position {pos}) must be Number, not {_tp_name(v)}"
        )
    return v


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None,
         requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A tensor of the given size filled with fill_value; its dtype is inferred from the value
    (bool, int64, default float or complex) unless given.

    >>> import tapegrad
    >>> tapegrad.full((2,), 3)
    tensor([3, 3])
    """
    check_device(device)
    if not isinstance(size, (tuple, list)):
        raise TypeError(
            f"full(): argument 'size' (position 1) must be tuple of ints, not {_tp_name(size)}"
        )
    shape = parse_size("full", (size,))
    v = _number(fill_value, "full", "fill_value", 2)
    dt = dtype or (out._dtype if out is not None else fill_value_dtype(v))
    with np.errstate(all="ignore"):
        arr = np.full(shape, D.checked_scalar(v, dt, _numel(shape)), dt.np)
    return _out(_finish(arr, requires_grad), out, "full")


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def eye(n: int, m: int | None = None, *, out=None, dtype=None, layout=None, device=None,
        requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """The n x m identity matrix (m defaults to n).

    >>> import tapegrad
    >>> tapegrad.eye(2)
    tensor([[1., 0.],
            [0., 1.]])
    """
    check_device(device)
    n = _int_arg(n, "eye", "n", 1)
    if n < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {n}")
    if m is None:
        m = n
    m = _int_arg(m, "eye", "m", 2)
    if m < 0:
        raise RuntimeError(f"m must be greater or equal to 0, got {m}")
    return _out(_finish(np.eye(n, m, dtype=_dt(dtype, out).np), requires_grad), out, "eye")


def _int_arg(v, fn: str, arg: str, pos: int) -> int:
    if isinstance(v, (bool, float, str)) or v is None:
        raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be int, not "
                        f"{_tp_name(v)}")
    return operator.index(v)


# --- *_like ---------------------------------------------------------------------------------
def _like_input(input, fn: str) -> Tensor:  # noqa: A002
    if not isinstance(input, Tensor):
        raise TypeError(
            f"{fn}(): argument 'input' (position 1) must be Tensor, not {_tp_name(input)}"
        )
    return input


def memory_order(a: np.ndarray) -> list[int] | None:
    """a's dims from outermost to innermost in the order ATen walks memory (None when that is
    plain row-major order).

    This is the insertion sort of TensorIterator's reorder_dimensions (and of
    infer_dense_strides, which empty_like uses for strided inputs that are not dense): start
    from the innermost dim, move a dim inwards past one of larger stride; equal strides put
    the smaller size inwards; a 0 stride compares as undecided. NumPy strides can be
    negative (PyTorch's never are): their size decides."""
    nd = a.ndim
    if nd < 2 or a.flags.c_contiguous:
        return None
    st = [abs(s) for s in a.strides]
    shape = a.shape

    def cmp(d0: int, d1: int) -> int:  # 1: d0 belongs inside d1; -1: outside; 0: undecided
        s0, s1 = st[d0], st[d1]
        if s0 == 0 or s1 == 0:
            return 0
        if s0 != s1:
            return -1 if s0 < s1 else 1
        return 1 if shape[d0] > shape[d1] else 0

    perm = list(builtins.range(nd - 1, -1, -1))  # innermost first
    for i in builtins.range(1, nd):
        cur = i
        for j in builtins.range(i - 1, -1, -1):
            c = cmp(perm[j], perm[cur])
            if c > 0:
                perm[j], perm[cur] = perm[cur], perm[j]
                cur = j
            elif c < 0:
                break
    order = perm[::-1]
    return None if order == list(builtins.range(nd)) else order


def in_memory_order(flat: np.ndarray, shape: tuple, order: list[int] | None) -> np.ndarray:
    """An array of `shape` whose elements, walked in `order` (outermost dim first), are `flat`
    (and whose own memory layout follows that order)."""
    if order is None:
        return flat.reshape(shape)
    mem = flat.reshape(tuple(shape[d] for d in order))
    return mem.transpose(np.argsort(order))


def read_in_memory_order(a: np.ndarray, order: list[int] | None) -> np.ndarray:
    """a's elements as a flat array, walked in `order` (the inverse of in_memory_order)."""
    return (a if order is None else a.transpose(order)).reshape(-1)


def like_layout(x: Tensor, dt: D.dtype, flat: np.ndarray | None = None) -> np.ndarray:
    """An array with x's shape laid out as PyTorch's empty_like (preserve_format) lays it
    out: in x's memory order (for dense x its strides; otherwise infer_dense_strides' dense
    strides in the same dim order), holding `flat` in that order (zeros when None)."""
    a = x._data
    order = None if a.size == 0 else memory_order(a)
    if flat is None:
        flat = np.zeros(a.size, dt.np)
    return in_memory_order(flat.astype(dt.np, copy=False), a.shape, order)


def zeros_like(input: Tensor, *, dtype=None, layout=None, device=None,  # noqa: A002
               requires_grad: bool = False, memory_format=None) -> Tensor:
    """Zeros with input's shape and (unless given) dtype."""
    x = _like_input(input, "zeros_like")
    return _finish(like_layout(x, dtype or x._dtype), requires_grad)


def ones_like(input: Tensor, *, dtype=None, layout=None, device=None,  # noqa: A002
              requires_grad: bool = False, memory_format=None) -> Tensor:
    """Ones with input's shape and (unless given) dtype."""
    x = _like_input(input, "ones_like")
    out = like_layout(x, dtype or x._dtype)
    out[...] = 1
    return _finish(out, requires_grad)


def empty_like(input: Tensor, *, dtype=None, layout=None, device=None,  # noqa: A002
               requires_grad: bool = False, memory_format=None) -> Tensor:
    """An uninitialised tensor (zeros here) with input's shape and dtype."""
    x = _like_input(input, "empty_like")
    return _finish(like_layout(x, dtype or x._dtype), requires_grad)


def full_like(input: Tensor, fill_value, *, dtype=None, layout=None, device=None,  # noqa: A002
              requires_grad: bool = False, memory_format=None) -> Tensor:
    """fill_value everywhere, with input's shape and (unless given) dtype."""
    x = _like_input(input, "full_like")
    dt = dtype or x._dtype
    v = _number(fill_value, "full_like", "fill_value", 2)
    arr = like_layout(x, dt)
    with np.errstate(all="ignore"):
        arr[...] = D.checked_scalar(v, dt, x._data.size)
    return _finish(arr, requires_grad)

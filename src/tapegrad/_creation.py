"""Tensor creation: tensor, as_tensor, from_numpy, zeros, ones, full, arange, ... and the
*_like forms. Random creation lives in _random.py."""

from __future__ import annotations

import warnings

import numpy as np

from . import _dtype as D
from ._device import check_device
from ._tensor import Tensor, _make

__all__ = [
    "tensor", "as_tensor", "asarray", "from_numpy", "zeros", "ones", "full", "empty", "eye",
    "arange", "range", "linspace", "logspace", "zeros_like", "ones_like", "full_like",
    "empty_like", "scalar_tensor",
]

_REQ_GRAD_MSG = "Only Tensors of floating point and complex dtype can require gradients"


def _finish(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = _make(arr, None, False)
    if requires_grad:
        if t._dtype.category < D.FLOAT:
            raise RuntimeError(_REQ_GRAD_MSG)
        t._requires_grad = True
    return t


def _sizes(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = s.item()
        if not isinstance(s, (int, np.integer)):
            raise TypeError(
                f"expected a sequence of integers or a single integer, got '{s!r}'"
            )
        if s < 0:
            raise RuntimeError(
                f"Trying to create tensor with negative dimension {s}: "
                f"[{', '.join(str(v) for v in size)}]"
            )
        out.append(int(s))
    return tuple(out)


def _flatten_tensors(data):
    """Replace tensors nested in lists by their values (PyTorch accepts lists of 0-d tensors)."""
    if isinstance(data, Tensor):
        return data._data.tolist() if data._data.ndim else data._data.item()
    if isinstance(data, (list, tuple)):
        return [_flatten_tensors(d) for d in data]
    return data


def _infer(data) -> np.ndarray:
    """The array and dtype PyTorch infers for nested Python data."""
    if isinstance(data, np.ndarray):
        if data.dtype not in D._FROM_NP:
            D.from_numpy_dtype(data.dtype)
        return data.copy()
    if isinstance(data, (np.generic,)):
        a = np.asarray(data)
        return a if a.dtype in D._FROM_NP else a.astype(np.float64)
    if isinstance(data, (list, tuple)):
        _check_ragged(data)
        data = _flatten_tensors(data)
    try:
        a = np.array(data)
    except (ValueError, OverflowError) as e:
        raise TypeError(f"could not convert data to a tensor: {e}") from None
    k = a.dtype.kind
    if k == "f":
        return a.astype(D._defaults.float.np)
    if k == "c":
        return a.astype(D._defaults.complex.np)
    if k == "b":
        return a
    if k in "iu":
        if a.dtype == np.uint64:
            raise RuntimeError("Overflow when unpacking long long")
        return a.astype(np.int64)
    if k == "O" or k == "U" or k == "S":
        if a.size == 0 and a.dtype.kind == "O":
            return np.zeros(a.shape, D._defaults.float.np)
        raise TypeError(f"new(): invalid data type '{type(data).__name__}'")
    return a


def _check_ragged(data, dim: int = 0) -> None:
    if not isinstance(data, (list, tuple)) or not data:
        return
    first = data[0]
    if isinstance(first, (list, tuple)):
        n = len(first)
        for d in data:
            if not isinstance(d, (list, tuple)):
                raise TypeError(f"not a sequence at dim {dim + 1}")
            if len(d) != n:
                raise ValueError(
                    f"expected sequence of length {n} at dim {dim + 1} (got {len(d)})"
                )
        for d in data:
            _check_ragged(d, dim + 1)


def tensor(data, *, dtype=None, device=None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of data (nested lists, scalars, arrays, tensors).

    >>> import tapegrad
    >>> tapegrad.tensor([[1, 2], [3, 4]])
    tensor([[1, 2],
            [3, 4]])
    """
    check_device(device)
    if isinstance(data, Tensor):
        warnings.warn(
            "To copy construct from a tensor, it is recommended to use sourceTensor.detach()."
            "clone() or sourceTensor.detach().clone().requires_grad_(True), rather than "
            "torch.tensor(sourceTensor).",
            UserWarning,
            stacklevel=2,
        )
        arr = data._data.copy()
    else:
        arr = _infer(data)
    if dtype is not None and arr.dtype != dtype.np:
        if arr.dtype.kind == "c" and dtype.category != D.COMPLEX:
            arr = arr.real
        arr = arr.astype(dtype.np)
    return _finish(arr, requires_grad)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return tensor(s, dtype=dtype or D._defaults.float, requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like tensor(), but shares memory with a NumPy array or tensor when it can."""
    check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None or dtype is data._dtype else data.to(dtype)
    if isinstance(data, np.ndarray) and data.dtype in D._FROM_NP:
        if dtype is None or dtype.np == data.dtype:
            return _make(data)
        return _make(data.astype(dtype.np))
    return tensor(data, dtype=dtype)


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False) -> Tensor:
    t = as_tensor(obj, dtype=dtype)
    if copy:
        t = _make(t._data.copy())
    if requires_grad:
        t.requires_grad_(True)
    return t


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array (changes to one show in the other)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    D.from_numpy_dtype(ndarray.dtype)
    if not ndarray.dtype.isnative:
        raise ValueError("given numpy array has byte order different from the native byte order. "
                         "Conversion between byte orders is currently not supported.")
    return _make(ndarray)


def _dt(dtype) -> D.dtype:
    return D._defaults.float if dtype is None else dtype


def zeros(*size, out=None, dtype=None, layout=None, device=None,
          requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of the given size."""
    check_device(device)
    return _finish(np.zeros(_sizes(size), _dt(dtype).np), requires_grad)


def ones(*size, out=None, dtype=None, layout=None, device=None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ones of the given size."""
    check_device(device)
    return _finish(np.ones(_sizes(size), _dt(dtype).np), requires_grad)


def empty(*size, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False,
          pin_memory=False, memory_format=None) -> Tensor:
    """An uninitialised tensor (tapegrad fills it with zeros)."""
    check_device(device)
    return _finish(np.zeros(_sizes(size), _dt(dtype).np), requires_grad)


def _fill_dtype(fill_value):
    if isinstance(fill_value, Tensor):
        return fill_value._dtype
    return D.scalar_dtype(fill_value)


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of the given size filled with fill_value (dtype inferred from it)."""
    check_device(device)
    dt = dtype or _fill_dtype(fill_value)
    v = fill_value._data if isinstance(fill_value, Tensor) else fill_value
    return _finish(np.full(_sizes((size,)), v, dt.np), requires_grad)


def _like(t: Tensor, dtype):
    return dtype or t._dtype


def zeros_like(input: Tensor, *, dtype=None, layout=None, device=None,  # noqa: A002
               requires_grad: bool = False, memory_format=None) -> Tensor:
    return _finish(np.zeros(input._data.shape, _like(input, dtype).np), requires_grad)


def ones_like(input: Tensor, *, dtype=None, layout=None, device=None,  # noqa: A002
              requires_grad: bool = False, memory_format=None) -> Tensor:
    return _finish(np.ones(input._data.shape, _like(input, dtype).np), requires_grad)


def empty_like(input: Tensor, *, dtype=None, layout=None, device=None,  # noqa: A002
               requires_grad: bool = False, memory_format=None) -> Tensor:
    return zeros_like(input, dtype=dtype, requires_grad=requires_grad)


def full_like(input: Tensor, fill_value, *, dtype=None, layout=None, device=None,  # noqa: A002
              requires_grad: bool = False, memory_format=None) -> Tensor:
    return _finish(np.full(input._data.shape, fill_value, _like(input, dtype).np), requires_grad)


def eye(n: int, m: int | None = None, *, out=None, dtype=None, layout=None, device=None,
        requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix."""
    if n < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {n}")
    return _finish(np.eye(n, n if m is None else m, dtype=_dt(dtype).np), requires_grad)


def _num(v):
    return v.item() if isinstance(v, Tensor) else v


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Values from start (inclusive) to end (exclusive) spaced by step.

    >>> import tapegrad
    >>> tapegrad.arange(5)
    tensor([0, 1, 2, 3, 4])
    """
    start, end, step = _num(start), _num(end), _num(step)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        is_float = any(isinstance(v, (float, np.floating)) for v in (start, end, step))
        dtype = D._defaults.float if is_float else D.int64
    n = int(np.ceil((end - start) / step))
    arr = (start + np.arange(n, dtype=np.float64 if dtype.category >= D.FLOAT else np.int64)
           * step)
    return _finish(np.asarray(arr).astype(dtype.np), requires_grad)


def range(start=0, end=None, step=1, *, dtype=None, device=None,  # noqa: A001
          requires_grad: bool = False) -> Tensor:
    """Deprecated: values from start to end inclusive."""
    warnings.warn(
        "torch.range is deprecated and will be removed in a future release because its behavior "
        "is inconsistent with Python's range builtin. Instead, use torch.arange, which produces "
        "values in [start, end).", UserWarning, stacklevel=2)
    n = int(np.floor((end - start) / step)) + 1
    arr = start + np.arange(n, dtype=np.float64) * step
    return _finish(arr.astype(_dt(dtype).np), requires_grad)


def linspace(start, end, steps: int, *, out=None, dtype=None, layout=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """steps values evenly spaced from start to end inclusive."""
    if steps < 0:
        raise RuntimeError("linspace(): number of steps must be non-negative")
    dt = _dt(dtype)
    start, end = _num(start), _num(end)
    if dt.category < D.FLOAT:
        arr = np.linspace(start, end, steps, dtype=np.float64)
        arr = np.trunc(arr).astype(dt.np)
    else:
        # PyTorch fills the first half from start and the second half from end, symmetric.
        arr = np.empty(steps, dtype=np.float64)
        if steps == 1:
            arr[0] = start
        elif steps > 1:
            step = (end - start) / (steps - 1)
            half = steps // 2
            i = np.arange(steps)
            arr = np.where(i < half, start + step * i, end - step * (steps - 1 - i))
        arr = arr.astype(dt.np)
    return _finish(arr, requires_grad)


def logspace(start, end, steps: int, base: float = 10.0, *, out=None, dtype=None, layout=None,
             device=None, requires_grad: bool = False) -> Tensor:
    """steps values evenly spaced on a log scale from base**start to base**end."""
    dt = _dt(dtype)
    exps = linspace(start, end, steps, dtype=D.float64)._data
    arr = np.power(base, exps).astype(dt.np)
    return _finish(arr, requires_grad)

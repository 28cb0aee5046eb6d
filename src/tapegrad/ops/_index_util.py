"""Argument checks shared by the gather / scatter / index / masked families: index tensors,
dims, broadcasting and bounds, with PyTorch's messages. Internal: not an op family."""

from __future__ import annotations

import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _tp_name

__all__: list[str] = []

_INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.int32))


def shape_str(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def tensor_arg(v, fn: str, arg: str, pos: int) -> Tensor:
    """v itself when a Tensor, else PyTorch's TypeError for the argument."""
    if isinstance(v, Tensor):
        return v
    raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be Tensor, not {_tp_name(v)}")


def index_array(index: Tensor, msg: str, int32: bool = True) -> np.ndarray:
    """The int64 array of an index tensor; `msg` is raised (RuntimeError) for other dtypes
    (int32 is accepted when `int32`)."""
    a = index._data
    if a.dtype == np.int64:
        return a
    if int32 and a.dtype == np.int32:
        return a.astype(np.int64)
    raise RuntimeError(msg)


def size1(shape: tuple, d: int) -> int:
    """shape[d], a 0-d tensor counting as one of shape (1,) (PyTorch's ensure_nonempty_size)."""
    return shape[d] if shape else 1


def wrap_dim(dim, ndim: int) -> int:
    """A dim of a tensor with ndim dims (0-d tensors take dim 0 and -1), PyTorch's message."""
    from .._tensor import _wrap_dim

    return _wrap_dim(int(dim), ndim)


def check_bounds(idx: np.ndarray, size: int, dim: int, neg: bool = False, fmt: str = "",
                 exc=RuntimeError) -> None:
    """Raise PyTorch's message for the first index (in element order) outside [0, size)
    (outside [-size, size) when `neg`)."""
    lo = -size if neg else 0
    bad = (idx < lo) | (idx >= size)
    if bad.any():
        v = int(idx.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
        raise exc((fmt or "index {v} is out of bounds for dimension {dim} with size "
                   "{size}").format(v=v, dim=dim, size=size))


def broadcast_pair(a: tuple, b: tuple) -> tuple:
    """The broadcast of shapes a and b, with PyTorch's infer_size message."""
    if a == b:
        return a
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + tuple(a)
    pb = (1,) * (n - len(b)) + tuple(b)
    for k in range(n - 1, -1, -1):
        da, db = pa[k], pb[k]
        if da != db and da != 1 and db != 1:
            raise RuntimeError(
                f"The size of tensor a ({da}) must match the size of tensor b ({db}) at "
                f"non-singleton dimension {k}"
            )
    return tuple(db if da == 1 else da for da, db in zip(pa, pb))


def fill_value(value, dt: D.dtype, fn: str, numel: int = 2):
    """A fill value (a number or a 0-d tensor) as a Python number of dtype dt."""
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(
                f"{fn} only supports a 0-dimensional value tensor, but got tensor with "
                f"{value._data.ndim} dimension(s)."
            )
        value = value._data.item()
        if isinstance(value, complex) and dt.category != D.COMPLEX:
            value = value.real
    return D.checked_scalar(value, dt, numel)


def scatter_key(idx: np.ndarray, dim: int) -> tuple:
    """The NumPy advanced-index key hitting, for each element of idx, position idx along dim
    and the element's own position in the other dims."""
    key = list(np.indices(idx.shape, sparse=True))
    key[dim] = idx
    return tuple(key)


def crop(a: np.ndarray, shape: tuple) -> np.ndarray:
    """The leading corner of a of the given shape (src larger than index is allowed)."""
    if a.shape == shape:
        return a
    return a[tuple(slice(0, s) for s in shape)]


_WARNED: set = set()


def warn_once(msg: str, stacklevel: int = 3) -> None:
    """A UserWarning given once per process (PyTorch's TORCH_WARN_ONCE)."""
    if msg in _WARNED:
        return
    _WARNED.add(msg)
    warnings.warn(msg, UserWarning, stacklevel=stacklevel)


def ints_first(a: np.ndarray, key):
    """(view, rest): a NumPy key split so that view[rest] lays out its result as PyTorch's
    a[key] does. PyTorch applies integer indices first (as selects), so in x[1, :, idx] the
    index dim stays where idx is; NumPy counts the integer as an advanced index and, the
    advanced indices being separated by a slice, moves their dims to the front."""
    items = key if isinstance(key, tuple) else (key,)
    ints = [type(i) is int or isinstance(i, np.integer) for i in items]
    if any(ints) and not all(ints) and any(
            isinstance(i, np.ndarray) and i.ndim for i in items) and not any(
            i is Ellipsis or i is None for i in items):
        view = a[tuple(i if k else slice(None) for i, k in zip(items, ints))]
        return view, tuple(i for i, k in zip(items, ints) if not k)
    return a, key

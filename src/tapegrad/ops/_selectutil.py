"""Small helpers shared by the scan, sort and selection families: PyTorch's argument-type
messages, Tensor-method wrappers that report argument positions as methods do, and viewing a
dim of an array as the rows of a 2-D array."""

from __future__ import annotations

import functools
import re

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _tp_name

__all__: list[str] = []

_int_types = (int, np.integer)
_POS = re.compile(r"\(position (\d+)\)")


def int_arg(v, fn: str, arg: str, pos: int | None = None) -> int:
    """v as an int, or PyTorch's TypeError for a non-int argument (bools and floats refused)."""
    if isinstance(v, _int_types) and not isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, Tensor) and v._dtype.category == D.INT and v._data.ndim == 0:
        return int(v._data)
    where = f" (position {pos})" if pos is not None else ""
    raise TypeError(f"{fn}(): argument '{arg}'{where} must be int, not {_tp_name(v)}")


def method(fn):
    """fn as a Tensor method: the same call, with argument positions in TypeErrors counted
    without self, as PyTorch's method messages count them."""

    @functools.wraps(fn)
    def m(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except TypeError as e:
            msg = str(e)
            if "(position " not in msg or msg.startswith(("expected", "tapegrad")):
                raise
            fixed = _POS.sub(lambda mo: f"(position {int(mo.group(1)) - 1})", msg)
            raise TypeError(fixed) from None

    return m


def not_implemented(kernel: str, x: Tensor) -> NotImplementedError:
    return NotImplementedError(f'"{kernel}" not implemented for \'{x._dtype._short}\'')


def to_rows(a: np.ndarray, d: int) -> np.ndarray:
    """a with dim d moved last and the other dims flattened: shape (rows, a.shape[d]).

    Rows come in the C order of the other dims, so a per-row result reshapes straight to the
    reduced shape."""
    n = a.shape[d]
    nd = a.ndim
    if d != nd - 1:
        a = a.transpose(tuple(i for i in range(nd) if i != d) + (d,))
    rest = 1
    for s in a.shape[:-1]:
        rest *= s
    return a.reshape(rest, n)


def from_rows(r: np.ndarray, shape: tuple, d: int) -> np.ndarray:
    """The inverse of to_rows for a result whose dim d has r.shape[1] entries."""
    nd = len(shape)
    moved = r.reshape(tuple(s for i, s in enumerate(shape) if i != d) + (r.shape[1],))
    if d == nd - 1:
        return moved
    return moved.transpose(tuple(range(d)) + (nd - 1,) + tuple(range(d, nd - 1)))


def take_rows(rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """rows[i, idx[i, j]] for a 2-D array of rows and a 2-D (or 1-D: one per row) index."""
    ar = np.arange(rows.shape[0])
    return rows[ar[:, None] if idx.ndim == 2 else ar, idx]


def contiguous(a: np.ndarray) -> np.ndarray:
    """a in C order (a copy only when it is not); 0-d arrays stay 0-d."""
    return a if a.flags.c_contiguous else a.copy()


def same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a == b elementwise, NaN counting as equal to NaN (equivalence under NaN-aware orders)."""
    eq = a == b
    if a.dtype.kind in "fc":
        eq |= np.isnan(a) & np.isnan(b)
    return eq

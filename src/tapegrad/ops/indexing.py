"""Indexing: x[...] with ints, slices, None, Ellipsis, integer tensors and boolean masks."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor

__all__: list[str] = []


def normalize_index(index, x: Tensor):
    """Turn an index that may hold tensors into one NumPy understands."""
    if isinstance(index, tuple):
        return tuple(_one(i) for i in index)
    return _one(index)


def _one(i):
    if isinstance(i, Tensor):
        return i._data
    if isinstance(i, list):
        return np.asarray([e._data if isinstance(e, Tensor) else e for e in i])
    return i

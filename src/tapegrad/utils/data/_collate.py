"""Turning a list of samples into a batch (`default_collate`) and NumPy data into tensors
(`default_convert`), following the rules of `torch.utils.data.default_collate`.

>>> import tapegrad
>>> from tapegrad.utils.data import default_collate
>>> default_collate([(tapegrad.tensor([1.0, 2.0]), 0), (tapegrad.tensor([3.0, 4.0]), 1)])
[tensor([[1., 2.],
        [3., 4.]]), tensor([0, 1])]
"""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Callable

import numpy as np

from ... import _dtype as D
from ..._creation import as_tensor, tensor
from ..._tensor import Tensor

__all__ = ["default_collate", "default_convert", "collate", "default_collate_fn_map"]

# NumPy dtype strings of byte strings, unicode, and objects: such arrays are left alone
np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, "
    "dicts or lists; found {}"
)


def _rebuild_mapping(elem, values: dict):
    """A mapping like `elem` (same type and extra attributes where possible) with `values`."""
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(values)
            return clone
        return type(elem)(values)
    except TypeError:  # the type cannot be copied / updated / built from a dict
        return values


def _rebuild_sequence(elem, values: list):
    """A sequence like `elem` holding `values`, or a plain list when that is impossible."""
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, v in enumerate(values):
                clone[i] = v
            return clone
        return type(elem)(values)
    except TypeError:  # e.g. range
        return values


def default_convert(data):
    """NumPy arrays and scalars (not strings/objects) become tensors, inside dicts, lists and
    namedtuples too; tuples become lists; everything else is returned unchanged."""
    tp = type(data)
    if isinstance(data, Tensor):
        return data
    if tp.__module__ == "numpy" and tp.__name__ not in ("str_", "string_"):
        if tp.__name__ == "ndarray" and np_str_obj_array_pattern.search(data.dtype.str):
            return data
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {k: default_convert(data[k]) for k in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return tp(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data


def collate(batch, *, collate_fn_map: dict | None = None):
    """Collate `batch` (a list of samples of one structure): the handler for the type of the
    first sample in `collate_fn_map` (exact type first, then isinstance in map order), else
    mappings key by key, namedtuples and sequences position by position."""
    elem = batch[0]
    tp = type(elem)
    if collate_fn_map is not None:
        if tp in collate_fn_map:
            return collate_fn_map[tp](batch, collate_fn_map=collate_fn_map)
        for key, fn in collate_fn_map.items():
            if isinstance(elem, key):
                return fn(batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(
            elem, {k: collate([d[k] for d in batch], collate_fn_map=collate_fn_map)
                   for k in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return tp(*(collate(list(s), collate_fn_map=collate_fn_map) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [collate(list(s), collate_fn_map=collate_fn_map) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return columns  # tuples collate to lists, as in PyTorch
        return _rebuild_sequence(elem, columns)
    raise TypeError(default_collate_err_msg_format.format(tp))


def collate_tensor_fn(batch, *, collate_fn_map: dict | None = None) -> Tensor:
    from ...ops.join import stack

    return stack(batch, 0)


def collate_numpy_array_fn(batch, *, collate_fn_map: dict | None = None):
    elem = batch[0]
    if np_str_obj_array_pattern.search(elem.dtype.str) is not None:
        raise TypeError(default_collate_err_msg_format.format(elem.dtype))
    return collate([as_tensor(b) for b in batch], collate_fn_map=collate_fn_map)


def collate_numpy_scalar_fn(batch, *, collate_fn_map: dict | None = None) -> Tensor:
    return as_tensor(batch)


def collate_float_fn(batch, *, collate_fn_map: dict | None = None) -> Tensor:
    return tensor(batch, dtype=D.float64)


def collate_int_fn(batch, *, collate_fn_map: dict | None = None) -> Tensor:
    return tensor(batch)


def collate_str_fn(batch, *, collate_fn_map: dict | None = None):
    return batch


default_collate_fn_map: dict[type | tuple[type, ...], Callable] = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def default_collate(batch):
    """Stack tensors, NumPy arrays and numbers of the samples along a new first dimension,
    recursing into dicts, namedtuples, tuples and lists (tuples become lists)."""
    return collate(batch, collate_fn_map=default_collate_fn_map)

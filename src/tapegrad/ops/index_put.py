"""index_put: x with x[indices] = values (or += with accumulate), differentiable in both.

    d/dx = g with the written positions zeroed (g itself when accumulating)
    d/dvalues = g[indices]   (summed back to values' shape by the engine)
"""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor, _tp_name
from ._inplace_nodes import index_put_op
from .inplace import inplace_of

__all__ = ["index_put"]


def index_put(input: Tensor, indices, values: Tensor, accumulate: bool = False) -> Tensor:  # noqa: A002
    """input with values written (or added, with accumulate) at the positions indices select.

    >>> import tapegrad
    >>> tapegrad.zeros(3).index_put((tapegrad.tensor([0, 2]),), tapegrad.tensor([1., 2.]))
    tensor([1., 0., 2.])
    """
    if not isinstance(values, Tensor):
        raise TypeError(
            f"index_put(): argument 'values' (position 2) must be Tensor, not {_tp_name(values)}")
    idx = tuple(indices)
    for k, i in enumerate(idx):
        if not isinstance(i, Tensor):
            raise TypeError(
                f"expected Tensor as element {k} in argument 0, but got {_tp_name(i)}")
    if values._dtype is not input._dtype:
        raise RuntimeError(
            "Index put requires the source and destination dtypes match, got "
            f"{input._dtype._legacy[:-6]} for the destination and {values._dtype._legacy[:-6]} for "
            "the source.")
    key = tuple(i._data for i in idx)
    for d, k in enumerate(key):
        if k.dtype != np.bool_ and k.size:
            n = input._data.shape[d]
            bad = (k < -n) | (k >= n)
            if bad.any():
                v = int(k.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
                raise IndexError(f"index {v} is out of bounds for dimension {d} with size {n}")
    return index_put_op(input, key, idx, values, bool(accumulate))


METHODS = {"index_put": index_put, "index_put_": inplace_of(index_put, "index_put_")}

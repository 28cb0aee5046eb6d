"""The out-of-place forms of the in-place writers (zero_, fill_, copy_, the random fills,
x[idx] = v), used when such a write is recorded in the graph (see _inplace_record.py).

    zero_:   out = 0              d/dx = 0                       ZeroBackward0
    fill_:   out = v              d/dx = 0, d/dv = sum(g)        FillBackward2 (number v),
                                                                 FillBackward3 (tensor v)
    copy_:   out = src            d/dx = 0, d/dsrc = g (summed to src's shape, cast to its dtype)
    random:  out = samples        d/dx = 0                       NormalBackward0, ...
    index_put: out = x; out[key] = v   d/dx = g with key zeroed, d/dv = g[key]
"""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor, _make
from ..autograd.graph import Node
from ._core import new_node, wrap

__all__: list[str] = []


class _ZeroForSelf(Node):
    """A rule whose output does not depend on input 0 (the overwritten tensor)."""

    __slots__ = ()

    def vjp(self, g):
        return (g.new_zeros(self._in_meta[0][0]) if self._in_meta[0] is not None else None,)


class ZeroBackward0(_ZeroForSelf):
    __slots__ = ()


class FillBackward2(_ZeroForSelf):
    __slots__ = ()


class FillBackward3(Node):
    __slots__ = ()

    def vjp(self, g):
        gx = g.new_zeros(self._in_meta[0][0]) if self._in_meta[0] is not None else None
        gv = g.sum() if self._in_meta[1] is not None else None
        return gx, gv


class CopyBackwards(Node):
    __slots__ = ()

    def vjp(self, g):
        gx = g.new_zeros(self._in_meta[0][0]) if self._in_meta[0] is not None else None
        return gx, (g if self._in_meta[1] is not None else None)


_CONST_NODES: dict[str, type] = {}


def const_node_class(name: str) -> type:
    """A zero-gradient node class named `name` (NormalBackward0, UniformBackward0, ...)."""
    cls = _CONST_NODES.get(name)
    if cls is None:
        cls = _CONST_NODES[name] = type(name, (_ZeroForSelf,), {"__slots__": ()})
    return cls


def renamed(node, name: str):
    """node, re-labelled as the class `name` (PyTorch names some in-place forms apart:
    t_ is TBackward1 where t is TBackward0). The subclass adds no state."""
    if node is None or type(node).__name__ == name:
        return node
    cls = _RENAMED.get((type(node), name))
    if cls is None:
        cls = _RENAMED[(type(node), name)] = type(name, (type(node),), {"__slots__": ()})
    node.__class__ = cls
    return node


_RENAMED: dict = {}


def zero_op(x: Tensor) -> Tensor:
    return wrap(np.zeros_like(x._data), new_node(ZeroBackward0, (x,)))


def fill_op(x: Tensor, value) -> Tensor:
    """x's shape filled with value: FillBackward3 for a tensor value, FillBackward2 else."""
    if isinstance(value, Tensor):
        arr = np.full(x._data.shape, value._data, dtype=x._data.dtype)
        return wrap(arr, new_node(FillBackward3, (x, value)))
    with np.errstate(all="ignore"):
        arr = np.full(x._data.shape, value, dtype=x._data.dtype)
    return wrap(arr, new_node(FillBackward2, (x,)))


def copy_op(x: Tensor, src: Tensor) -> Tensor:
    sa = src._data
    if sa.dtype.kind == "c" and x._data.dtype.kind != "c":
        sa = sa.real
    with np.errstate(all="ignore"):
        arr = np.broadcast_to(sa, x._data.shape).astype(x._data.dtype)
    return wrap(arr, new_node(CopyBackwards, (x, src)))


def const_op(x: Tensor, arr: np.ndarray, name: str) -> Tensor:
    return wrap(np.asarray(arr, dtype=x._data.dtype).reshape(x._data.shape),
                new_node(const_node_class(name), (x,)))


class IndexPutBackward0(Node):
    """out = x with out[key] = v (or += v when accumulate)."""

    __slots__ = ("key", "index", "accumulate", "vshape")

    def vjp(self, g):
        gx = gv = None
        if self._in_meta[0] is not None:
            gx = g if self.accumulate else index_put_op(g, self.key, self.index, 0.0, False)
        if self._in_meta[1] is not None:
            gv = g[self.index]
            lead = len(self.vshape) - gv.ndim
            if lead > 0:  # the value had leading size-1 dims that broadcasting dropped
                gv = gv.reshape((1,) * lead + tuple(gv.shape))
        return gx, gv


def index_put_op(x: Tensor, key, index, value, accumulate: bool) -> Tensor:
    """x with x[key] = value (NumPy key, and the same index as the user gave it, for the
    rule's gather)."""
    out = x._data.copy()
    v = value._data if isinstance(value, Tensor) else value
    if isinstance(v, np.ndarray):
        tgt = out[key]
        if v.ndim > tgt.ndim:
            v = v.reshape(v.shape[v.ndim - tgt.ndim:])
    with np.errstate(all="ignore"):
        if accumulate:
            np.add.at(out, key, v)
        else:
            out[key] = v
    vt = value if isinstance(value, Tensor) else None
    node = new_node(IndexPutBackward0, (x, vt))
    if node is not None:
        node.key, node.index, node.accumulate = key, index, accumulate
        node.vshape = tuple(vt._data.shape) if vt is not None else ()
    return wrap(out, node)


def as_value_tensor(value, like: Tensor) -> Tensor:
    """A setitem value as a tensor of like's dtype (numbers become 0-d tensors)."""
    if isinstance(value, Tensor):
        return value
    return _make(np.asarray(value, dtype=like._data.dtype))

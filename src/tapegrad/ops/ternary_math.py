"""Elementwise functions of three operands: lerp, addcmul and addcdiv.

Gradients are returned at the broadcast shape; the engine sums them back to each input's shape.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make, _tp_name
from ..autograd.graph import Node
from ._core import new_node, node2, promote, save
from ._math_args import _check_shapes, _conj, _invalid, _is_number, _not_implemented, _out
from .inplace import apply_inplace

__all__ = ["lerp", "addcmul", "addcdiv"]

_FLOAT, _COMPLEX = D.FLOAT, D.COMPLEX


# --- lerp --------------------------------------------------------------------------------------
class LerpBackward0(Node):
    # x + w (end - x) with a number w: d/dx = 1 - w, d/dend = w
    __slots__ = ("weight",)

    def vjp(self, g):
        w = _conj(self.weight)
        nx, ne = self._next
        return (g * (1 - w) if nx[0] is not None else None,
                g * w if ne[0] is not None else None)


class LerpBackward1(Node):
    # with a tensor w, also d/dw = end - x
    __slots__ = ()

    def vjp(self, g):
        x, end, w = self.saved_tensors()
        nx, ne, nw = self._next
        wc = _conj(w)
        gx = g * (1 - wc) if nx[0] is not None else None
        ge = g * wc if ne[0] is not None else None
        gw = g * _conj(end - x) if nw[0] is not None else None
        return gx, ge, gw


_LERP_SIGS = ("Tensor input, Tensor end, Tensor weight, *, Tensor out = None",
              "Tensor input, Tensor end, Number weight, *, Tensor out = None")


def _lerp_np(a, b, w):
    # PyTorch's formula, exact at both ends: w < 0.5 ? a + w (b - a) : b - (b - a) (1 - w)
    d = b - a
    if isinstance(w, np.ndarray):
        return np.where(np.abs(w) < 0.5, a + w * d, b - d * (1 - w))
    return a + w * d if abs(w) < 0.5 else b - d * (1 - w)


def lerp(input: Tensor, end: Tensor, weight, *,  # noqa: A002
         out: Tensor | None = None) -> Tensor:
    """Linear interpolation input + weight * (end - input); weight a number or a tensor.

    >>> import tapegrad
    >>> tapegrad.lerp(tapegrad.tensor([0.0, 1.0]), tapegrad.tensor([10.0, 11.0]), 0.5)
    tensor([5., 6.])
    """
    w_tensor = isinstance(weight, Tensor)
    if not (isinstance(input, Tensor) and isinstance(end, Tensor)
            and (w_tensor or _is_number(weight))):
        raise _invalid("lerp", (input, end, weight), _LERP_SIGS)
    dt = input._dtype
    if end._dtype is not dt:
        raise RuntimeError(f"expected dtype {dt._cname} for `end` but got dtype "
                           f"{end._dtype._cname}")
    if w_tensor and weight._dtype is not dt and weight._data.ndim:
        raise RuntimeError(f"expected dtype {dt._cname} for `weight` but got dtype "
                           f"{weight._dtype._cname}")
    if dt.category < _FLOAT:
        _not_implemented("lerp_kernel_tensor" if w_tensor else "lerp_kernel_scalar", dt)
    _check_shapes(input, end, weight)
    if w_tensor:
        wa = weight._data.astype(dt.np, copy=False)
    else:
        if isinstance(weight, complex) and dt.category != _COMPLEX:
            raise RuntimeError(f"value cannot be converted to type {dt._cname} without overflow")
        wa = weight
    r = np.asarray(_lerp_np(input._data, end._data, wa)).astype(dt.np, copy=False)
    if w_tensor:
        node = new_node(LerpBackward1, (input, end, weight))
        if node is not None:
            save(node, input, end, weight)
    else:
        node = node2(LerpBackward0, input, end)
        if node is not None:
            node.weight = weight
    return _out(_make(r, node, node is not None), out)


# --- addcmul / addcdiv ---------------------------------------------------------------------------
class AddcmulBackward0(Node):
    # x + v t1 t2: d/dx = 1, d/dt1 = v t2, d/dt2 = v t1
    __slots__ = ("value",)

    def vjp(self, g):
        t1, t2 = self.saved_tensors()
        _, n1, n2 = self._next
        v = self.value
        g1 = g * _conj(t2 * v) if n1[0] is not None else None
        g2 = g * _conj(t1 * v) if n2[0] is not None else None
        return g, g1, g2


class AddcdivBackward0(Node):
    # x + v t1 / t2: d/dx = 1, d/dt1 = v / t2, d/dt2 = -v t1 / t2^2
    __slots__ = ("value",)

    def vjp(self, g):
        t1, t2 = self.saved_tensors()
        _, n1, n2 = self._next
        v = self.value
        g1 = g * _conj(v / t2) if n1[0] is not None else None
        g2 = -g * _conj(v * t1 / (t2 * t2)) if n2[0] is not None else None
        return g, g1, g2


def _addc_args(fn: str, input, t1, t2, value):
    for name, pos, t in (("input", 1, input), ("tensor1", 2, t1), ("tensor2", 3, t2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fn}(): argument '{name}' (position {pos}) must be Tensor, not "
                            f"{_tp_name(t)}")
    if not _is_number(value):
        raise TypeError(f"{fn}(): argument 'value' must be Number, not {_tp_name(value)}")
    _check_shapes(input, t1, t2)
    dt = promote(input, t1, t2)
    if isinstance(value, (complex, np.complexfloating)) and dt.category != _COMPLEX:
        raise RuntimeError(f"value cannot be converted to type {dt._cname} without overflow")
    if dt.category < _FLOAT and isinstance(value, (float, np.floating)):
        value = int(value)  # PyTorch converts the value to the integer dtype
    npd = dt.np
    return [t._data.astype(npd, copy=False) for t in (input, t1, t2)], dt, value


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1,  # noqa: A002
            out: Tensor | None = None) -> Tensor:
    """input + value * tensor1 * tensor2, with broadcasting.

    >>> import tapegrad
    >>> tapegrad.addcmul(tapegrad.ones(2), tapegrad.tensor([2.0, 3.0]), tapegrad.tensor(4.0),
    ...                  value=0.5)
    tensor([5., 7.])
    """
    (a, b, c), dt, value = _addc_args("addcmul", input, tensor1, tensor2, value)
    r = np.asarray(a + value * b * c).astype(dt.np, copy=False)
    node = new_node(AddcmulBackward0, (input, tensor1, tensor2))
    if node is not None:
        node.value = value
        save(node, tensor1, tensor2)
    return _out(_make(r, node, node is not None), out)


_ADDCDIV_INT_MSG = (
    "Integer division with addcdiv is no longer supported, and in a future  release addcdiv will "
    "perform a true division of tensor1 and tensor2. The historic addcdiv behavior can be "
    "implemented as (input + value * tapegrad.trunc(tensor1 / tensor2)).to(input.dtype) for "
    "integer inputs and as (input + value * tensor1 / tensor2) for float inputs. The future "
    "addcdiv behavior is just the latter implementation: (input + value * tensor1 / tensor2), "
    "for all dtypes."
)


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1,  # noqa: A002
            out: Tensor | None = None) -> Tensor:
    """input + value * tensor1 / tensor2, with broadcasting (true division only).

    >>> import tapegrad
    >>> tapegrad.addcdiv(tapegrad.ones(2), tapegrad.tensor([2.0, 3.0]), tapegrad.tensor(4.0),
    ...                  value=2)
    tensor([2.0000, 2.5000])
    """
    if isinstance(tensor1, Tensor) and isinstance(tensor2, Tensor) \
            and tensor1._dtype.category < _FLOAT and tensor2._dtype.category < _FLOAT:
        raise RuntimeError(_ADDCDIV_INT_MSG)
    (a, b, c), dt, value = _addc_args("addcdiv", input, tensor1, tensor2, value)
    r = np.asarray(a + value * b / c).astype(dt.np, copy=False)
    node = new_node(AddcdivBackward0, (input, tensor1, tensor2))
    if node is not None:
        node.value = value
        save(node, tensor1, tensor2)
    return _out(_make(r, node, node is not None), out)


# --- in-place forms ----------------------------------------------------------------------------
def _inplace3(name):
    fn = {"lerp": lerp, "addcmul": addcmul, "addcdiv": addcdiv}[name]

    def op(self: Tensor, a, b, **kwargs) -> Tensor:
        return apply_inplace(self, fn, (a, b), kwargs)

    op.__name__ = name + "_"
    op.__doc__ = f"In-place {name}."
    return op


METHODS = {n: globals()[n] for n in __all__}
METHODS.update({n + "_": _inplace3(n) for n in __all__})

"""The machinery the activation functions share (ops/activation.py, ops/_activation_linear.py).

An elementwise activation f(x; params) is one primitive whose node (named as PyTorch names it,
e.g. GeluBackward0) keeps x and the params. Its vjp is a single fused derivative op
`h(g, x; params) = g * f'(x)`, computed by one NumPy expression, as PyTorch's gelu_backward,
elu_backward, ... are ops of their own. h is itself a primitive (node `<Name>BackwardBackward0`)
whose vjp is written in tapegrad ops:
- h is linear in g, so d/dg <gg, h> = h(gg, x): the same fused op;
- d/dx <gg, h> = gg * g * f''(x), with f'' given in tapegrad ops (zero for the piecewise-linear
  activations, as in PyTorch, whose double backward there returns zeros);
so second and higher derivatives work, and a first-order backward costs one op per node.

Float16 inputs are computed in float32 and rounded back, as PyTorch's CPU kernels do.

Complex inputs (silu) take twins of these nodes, built by `complex_act_node`, so the real
paths carry no dtype test. For a holomorphic f the conjugate-Wirtinger vjp is
h(g, x) = g conj(f'(x)), computed as conj(np_fn(conj(g), x)); the jvp is t f'(x).
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.engine import edge_of
from ..autograd.graph import Node, SavedTensor
from . import _core
from ._core import _state, as_tensor_arg, batched_cotangent, is_batched_value, node2, rebatch
from ._inplace_nodes import renamed
from .inplace import apply_inplace

__all__: list[str] = []

_FLOAT = D.FLOAT
_HALF = np.dtype(np.float16)


class ActNode(Node):
    """Backward of an elementwise activation: vjp(g) = <fused derivative op>(g, x, *params).

    PyTorch's `_saved_self` and `_saved_<param>` attributes are answered from the saved input
    and the params (names in `param_names`).
    """

    __slots__ = ("params",)
    param_names: tuple = ()
    _saved_names = ("self",)

    @staticmethod
    def derivative(g, x, *params):  # pragma: no cover - every declaration sets it
        raise NotImplementedError

    def vjp(self, g):
        (x,) = self.saved_tensors()
        return self.derivative(g, x, *self.params)

    def jvp(self, t):
        # an elementwise f has a diagonal Jacobian: J t = t * f'(x), the same fused op
        (x,) = self.saved_tensors()
        return self.derivative(t, x, *self.params)

    def __getattr__(self, name: str):
        if name == "_saved_self":
            return self.saved_tensors()[0]
        names = type(self).param_names
        if name.startswith("_saved_") and name[7:] in names:
            return self.params[names.index(name[7:])]
        return Node.__getattr__(self, name)


class DerivNode(Node):
    """Backward of a fused derivative op h(g, x; params) = g * f'(x) (see the module doc)."""

    __slots__ = ("params",)

    @staticmethod
    def op(g, x, *params):  # pragma: no cover - set by derivative_op
        raise NotImplementedError

    second = None  # f''(x, *params) in tapegrad ops; None where f is piecewise linear

    def vjp(self, gg):
        g, x = self.saved_tensors()
        ng, nx = self._next
        params = self.params
        grad_g = self.op(gg, x, *params) if ng[0] is not None else None
        grad_x = None
        if nx[0] is not None:
            second = self.second
            if second is None:
                grad_x = x.new_zeros(x.shape)
            else:
                grad_x = gg * g * second(x, *params)
        return grad_g, grad_x

    def jvp(self, tg, tx):
        # h(g, x) = g f'(x): dh = tg f'(x) + tx g f''(x)
        g, x = self.saved_tensors()
        r = self.op(tg, x, *self.params) if tg is not None else None
        if tx is not None and self.second is not None:
            r2 = tx * g * self.second(x, *self.params)
            r = r2 if r is None else r + r2
        return r if r is not None else x.new_zeros(x.shape)


class ComplexDerivNode(DerivNode):
    """Backward of h(g, x) = g conj(f'(x)) on complex values. h is linear in g with the
    coefficient c = conj(f'(x)), so d/dg <gg, h> = gg conj(c) = gg f'(x); and h depends on x
    only through conj(f'(x)), anti-holomorphic, so d/dx <gg, h> = conj(gg) g conj(f''(x))."""

    __slots__ = ()
    jvp_complex = True

    def vjp(self, gg):
        g, x = self.saved_tensors()
        ng, nx = self._next
        params = self.params
        grad_g = self.op(gg.conj(), x, *params).conj() if ng[0] is not None else None
        grad_x = None
        if nx[0] is not None:
            second = self.second
            if second is None:
                grad_x = x.new_zeros(x.shape)
            else:
                grad_x = (gg * g.conj() * second(x, *params)).conj()
        return grad_g, grad_x

    def jvp(self, tg, tx):
        # dh = tg conj(f'(x)) + g conj(f''(x) tx)
        g, x = self.saved_tensors()
        r = self.op(tg, x, *self.params) if tg is not None else None
        if tx is not None and self.second is not None:
            r2 = g * (tx * self.second(x, *self.params)).conj()
            r = r2 if r is None else r + r2
        return r if r is not None else x.new_zeros(x.shape)


def derivative_op(node_name: str, np_fn, second=None):
    """The fused op h(g, x, *params) = np_fn(g, x, *params) on arrays, with node node_name."""
    attrs = {"__slots__": (), "second": staticmethod(second) if second is not None else None}
    node_cls = type(node_name, (DerivNode,), attrs)

    def op(g: Tensor, x: Tensor, *params) -> Tensor:
        if type(g) is not Tensor:  # a batch of cotangents under vmap: x broadcasts over it
            b = batched_cotangent(g)
            if b is not None and not is_batched_value(x):
                return rebatch(op(b[0], x, *params), b[1])
        xa = x._data
        ga = g._data
        dt = xa.dtype
        if dt == _HALF:
            r = np_fn(ga.astype(np.float32), xa.astype(np.float32), *params)
        else:
            r = np_fn(ga, xa, *params)
        if type(r) is not np.ndarray or r.dtype != dt:
            r = np.asarray(r).astype(dt)
        node = node2(node_cls, g, x)
        if node is None:
            return _make(r, None, False)
        node.params = params
        node._saved = (SavedTensor(g), SavedTensor(x))
        return _make(r, node, True)

    op.__name__ = op.__qualname__ = node_name
    node_cls.op = staticmethod(op)
    op.node_class = node_cls
    op.np_fn = np_fn
    return op


def complex_derivative_op(op):
    """The complex twin of the fused op `op` (made by derivative_op): h(g, x) = g conj(f'(x)),
    recorded under the same node name."""
    real_cls = op.node_class
    second = real_cls.second
    node_cls = type(real_cls.__name__, (ComplexDerivNode,), {
        "__slots__": (), "second": staticmethod(second) if second is not None else None})
    np_fn = op.np_fn

    def op_c(g: Tensor, x: Tensor, *params) -> Tensor:
        xa = x._data
        r = np.conj(np_fn(np.conj(g._data), xa, *params))
        if r.dtype != xa.dtype:
            r = r.astype(xa.dtype)
        node = node2(node_cls, g, x)
        if node is None:
            return _make(r, None, False)
        node.params = params
        node._saved = (SavedTensor(g), SavedTensor(x))
        return _make(r, node, True)

    op_c.__name__ = op_c.__qualname__ = real_cls.__name__
    node_cls.op = staticmethod(op_c)
    op_c.node_class = node_cls
    return op_c


def act_node(node_name: str, derivative, param_names: tuple = ()) -> type:
    """The node class of an activation whose vjp is the fused op `derivative`."""
    return type(node_name, (ActNode,), {"__slots__": (), "derivative": staticmethod(derivative),
                                        "param_names": param_names})


class ComplexActNode(ActNode):
    """ActNode on complex values: vjp(g) = g conj(f'(x)) (its `derivative` is the complex
    twin), jvp(t) = t f'(x) = conj(derivative(conj(t), x))."""

    __slots__ = ()
    jvp_complex = True

    def jvp(self, t):
        (x,) = self.saved_tensors()
        return self.derivative(t.conj(), x, *self.params).conj()


def complex_act_node(real_cls: type) -> type:
    """The complex twin of an activation node class made by act_node (same name)."""
    op_c = complex_derivative_op(real_cls.derivative)
    return type(real_cls.__name__, (ComplexActNode,), {
        "__slots__": (), "derivative": staticmethod(op_c), "param_names": real_cls.param_names})


def float_input(x, kernel: str) -> Tensor:
    """x as a tensor of floating dtype, else PyTorch's kernel message for its dtype."""
    if not isinstance(x, Tensor):
        x = as_tensor_arg(x)
    if x._dtype.category != _FLOAT:
        raise NotImplementedError(f'"{kernel}" not implemented for \'{x._dtype._short}\'')
    return x


def compute(np_fn, a: np.ndarray, *params) -> np.ndarray:
    """np_fn(a, *params) in a's dtype (float16 computed in float32)."""
    dt = a.dtype
    r = np_fn(a.astype(np.float32) if dt == _HALF else a, *params)
    if type(r) is not np.ndarray or r.dtype != dt:
        r = np.asarray(r).astype(dt)
    return r


def record(x: Tensor, r: np.ndarray, node_cls: type, params: tuple) -> Tensor:
    """The result tensor around r, recorded as node_cls(x; params) when x requires grad."""
    if _state.enabled and x._requires_grad:
        node = node_cls()
        node._next = (edge_of(x),)
        node._in_meta = ((x._data.shape, x._dtype),)
        node.params = params
        node._saved = (SavedTensor(x),)
        if _core.fw_on:
            _core._fw(node_cls, (x,), node)
        return _make(r, node, True)
    if _core.fw_on:  # a forward-AD level is open: x may carry a tangent
        node = _core.new_node(node_cls, (x,))
        if node is not None:
            node.params = params
            node._saved = (SavedTensor(x),)
            return _make(r, node, False)
    return _make(r, None, False)


def scalar(v):
    """A Python number from a number or a one-element tensor (PyTorch's Scalar arguments)."""
    if isinstance(v, Tensor):
        return v.item()
    return v


def inplace(fn, x: Tensor, *args) -> Tensor:
    """fn(x, *args) written into x: allowed for tensors outside the graph (see ops/inplace.py)."""
    if not isinstance(x, Tensor):
        x = as_tensor_arg(x)
    out = apply_inplace(x, fn, args)
    if _state.enabled and x._grad_fn is not None:
        name = _INPLACE_NODE_NAMES.get(type(x._grad_fn).__name__)
        if name is not None:
            renamed(x._grad_fn, name)
    return out


# The nodes PyTorch records for the in-place forms, where their names differ.
_INPLACE_NODE_NAMES = {n + "Backward0": n + "Backward1" for n in (
    "LeakyRelu", "Elu", "Celu", "Threshold", "RreluWithNoise")}

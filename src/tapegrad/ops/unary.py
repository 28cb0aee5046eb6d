"""Elementwise functions of one tensor.

Each is declared once by its NumPy forward and its local linear map `lin(g, x, out)`, the
product of g with f'(x) written in tapegrad ops. The vjp is `lin(g)` for real inputs (and
`conj(lin(conj(g)))` for complex, PyTorch's conjugate-Wirtinger convention); the jvp is `lin(t)`.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.engine import edge_of
from ..autograd.graph import FREED, Node, SavedTensor
from . import _core
from ._core import _state, as_tensor_arg, batched_cotangent, is_batched_value, node2, rebatch

__all__: list[str] = []  # the ops themselves are exported through UNARY

UNARY: dict = {}  # public name -> op function, for binding and for the op table


class UnaryNode(Node):
    """Backward of an elementwise op: g times the derivative, which `lin` declares."""

    __slots__ = ()
    saves = "x"  # "x": the input is saved; "out": the output; "both"

    @staticmethod
    def lin(g, x, out):  # pragma: no cover - overridden by each declaration
        raise NotImplementedError

    def _operands(self):
        saved = self._saved
        if saved is FREED:
            self.saved_tensors()  # raises PyTorch's message
        if not saved:  # saves == "none"
            return None, None
        v = saved[0].unpack(self)
        if self.saves == "x":
            return v, None
        if self.saves == "out":
            return None, v
        return v, saved[1].unpack(self)

    def vjp(self, g):
        x, out = self._operands()
        if g._dtype.category == D.COMPLEX:
            return self.lin(g.conj(), x, out).conj()
        return self.lin(g, x, out)

    def jvp(self, t):
        x, out = self._operands()
        return self.lin(t, x, out)


_SAVED_NAMES = {"x": ("self",), "out": ("result",), "both": ("self", "result"), "none": ()}


def declare_unary(name, np_fn, node_name, lin, saves="x", keeps_int=False, bool_out=False):
    """Declare an elementwise op: its forward `np_fn` and derivative map `lin(g, x, out)`.

    keeps_int: integer inputs keep their dtype (abs, neg); otherwise they are promoted to the
    default float dtype first, as PyTorch does for exp, sin and the like.
    """
    node_cls = type(node_name, (UnaryNode,), {"__slots__": (), "lin": staticmethod(lin),
                                             "saves": saves, "_saved_names": _SAVED_NAMES[saves]})
    default = D._defaults
    FLOAT = D.FLOAT  # noqa: N806

    def op(x, *, out=None):
        if not isinstance(x, Tensor):
            x = as_tensor_arg(x)
        a = x._data
        if not keeps_int and x._dtype.category < FLOAT:
            a = a.astype(default.float.np)
        r = np_fn(a)
        if type(r) is not np.ndarray:
            r = np.asarray(r)
        if _state.enabled and x._requires_grad and lin is not None:
            node = node_cls()
            node._next = (edge_of(x),)
            node._in_meta = _core.in_meta(_core.meta_of(x))  # a.shape is x's shape
            if _core.fw_on:
                _core._fw(node_cls, (x,), node)
            res = _make(r, node, True)
            if saves == "x":
                node._saved = (SavedTensor(x),)
            elif saves == "out":
                node._saved = (SavedTensor(res, True),)
            elif saves == "both":
                node._saved = (SavedTensor(x), SavedTensor(res, True))
            else:
                node._saved = ()
        elif _core.fw_on and lin is not None:
            res = _fw_unary(node_cls, x, a, r, saves)
        else:
            res = _make(r, None, False)
        if out is not None:
            from .inplace import copy_out

            return copy_out(out, res)
        return res

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} (backward node {node_name})."
    op.node_class = node_cls
    UNARY[name] = op
    return op


def _fw_unary(node_cls, x, a, r, saves):
    """The result of an elementwise op that records no backward graph while a forward-AD
    level is open: it gets a forward-only node when x carries a tangent."""
    node = _core.new_node(node_cls, (x,))
    res = _make(r, node, node is not None)
    if node is not None:
        saved = []
        if saves in ("x", "both"):
            saved.append(SavedTensor(x))
        if saves in ("out", "both"):
            saved.append(SavedTensor(res, True))
        node._saved = tuple(saved)
    return res


def _zeros(g, x, out):
    return g.new_zeros(g.shape)


def _relu_np(a):
    if a.dtype.kind == "c":
        raise NotImplementedError("clamp is not supported for complex types")
    return np.maximum(a, 0, dtype=a.dtype) if a.dtype != np.bool_ else a.copy()


def _sign_np(a):
    if a.dtype.kind == "c":
        raise NotImplementedError("Unlike NumPy, tapegrad.sign is not intended to support "
                                  "complex numbers. Please use tapegrad.sgn instead.")
    return np.sign(a) if a.dtype != np.bool_ else a.copy()


def _sgn_np(a):
    if np.iscomplexobj(a):
        m = np.abs(a)
        return np.where(m == 0, 0, a / np.where(m == 0, 1, m)).astype(a.dtype)
    return np.sign(a) if a.dtype != np.bool_ else a.copy()


def _sgn_lin(v, x, out):
    # sgn is piecewise constant on the reals (zero derivative). For complex z, sgn z = z / |z|
    # is not holomorphic: its derivative along v is P v = (v - sgn Re(conj(sgn) v)) / |z|
    # (0 at z = 0, where PyTorch masks it). P is its own adjoint for the real inner product
    # Re(conj(a) b), so the gradient of a real loss is P g: the vjp applies P to g directly
    # (no conjugate wrapping), and the jvp is P t.
    if x._dtype.category != D.COMPLEX:
        return v.new_zeros(v.shape)
    a = x.abs()
    return ((v - out * (out.conj() * v).real) / a).masked_fill(a == 0, 0)


def _rsqrt_np(a):
    return 1.0 / np.sqrt(a)


def _sigmoid_np(a):
    # 1 / (1 + e^-a), computed without overflow for large |a|.
    return (1.0 / (1.0 + np.exp(-a))).astype(a.dtype, copy=False)


def _neg_np(a):
    if a.dtype == np.bool_:
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
            "invert a mask, use the `~` or `logical_not()` operator instead."
        )
    return np.negative(a)


def _abs_np(a):
    if a.dtype == np.bool_:
        raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool'")
    return np.abs(a)


# --- fused backward primitives ----------------------------------------------------------
# A rule like tanh's, g * (1 - out^2), would cost three ops per backward step; PyTorch gives
# these their own differentiable ops (tanh_backward, ...), and so do we: one NumPy expression
# forward, and a vjp in tapegrad ops so that higher derivatives still work.


class TanhBackwardBackward0(Node):
    # f(g, y) = g (1 - y^2): df/dg = 1 - y^2, df/dy = -2 g y (conjugated for complex values,
    # PyTorch's convention; conj is free on real tensors)
    __slots__ = ()

    def vjp(self, gg):
        g, y = self.saved_tensors()
        return tanh_backward(gg, y.conj()), -2 * gg * (g * y).conj()


class SigmoidBackwardBackward0(Node):
    # f(g, y) = g y (1 - y): df/dg = y (1 - y), df/dy = g (1 - 2 y) (conjugated for complex)
    __slots__ = ()

    def vjp(self, gg):
        g, y = self.saved_tensors()
        return sigmoid_backward(gg, y.conj()), gg * (g * (1 - 2 * y)).conj()


class ThresholdBackwardBackward0(Node):
    # f(g, y) = g where y > 0 else 0: linear in g with a constant mask, zero in y
    __slots__ = ()

    def vjp(self, gg):
        (y,) = self.saved_tensors()
        return threshold_backward(gg, y), None


def _fused(node_cls, np_fn, saves_g: bool):
    def op(g, y):
        if type(g) is not Tensor:  # a batch of cotangents under vmap: y broadcasts over it
            b = batched_cotangent(g)
            if b is not None and not is_batched_value(y):
                return rebatch(op(b[0], y), b[1])
        r = np_fn(g._data, y._data)
        if r.dtype != g._data.dtype:
            r = r.astype(g._data.dtype)
        node = node2(node_cls, g, y)
        if node is None:
            return _make(r, None, False)
        node._saved = (SavedTensor(g), SavedTensor(y)) if saves_g else (SavedTensor(y),)
        return _make(r, node, True)

    return op


tanh_backward = _fused(TanhBackwardBackward0, lambda g, y: g * (1 - y * y), True)
sigmoid_backward = _fused(SigmoidBackwardBackward0, lambda g, y: g * (y * (1 - y)), True)
def _threshold_backward_np(g, y):
    """g where y > 0, else 0 (also where g is inf or nan, as PyTorch)."""
    if g.size < 4096:
        return np.where(y > 0, g, 0)
    # np.where with an unpredictable mask is ~15x slower than a multiply on large arrays;
    # multiply, then repair the nan that inf * 0 or nan * 0 left where the mask is off.
    m = y > 0
    r = np.multiply(g, m)
    if not np.isfinite(r.sum()):
        r[~m] = 0
    return r


threshold_backward = _fused(ThresholdBackwardBackward0, _threshold_backward_np, False)


# name, forward, node, lin(g, x, out), what is saved
neg = declare_unary("neg", _neg_np, "NegBackward0", lambda g, x, out: -g, "none", True)
abs = declare_unary("abs", _abs_np, "AbsBackward0",  # noqa: A001
                    lambda g, x, out: g * x.sgn(), "x", True)
# sign and sgn are piecewise constant: their gradient is zero everywhere.
sign = declare_unary("sign", _sign_np, "SignBackward0", _zeros, "none", True)
sgn = declare_unary("sgn", _sgn_np, "SgnBackward0", _sgn_lin, "both", True)
sgn.node_class.vjp = lambda self, g: _sgn_lin(g, *self._operands())
exp = declare_unary("exp", np.exp, "ExpBackward0", lambda g, x, out: g * out, "out")
log = declare_unary("log", np.log, "LogBackward0", lambda g, x, out: g / x, "x")
log1p = declare_unary("log1p", np.log1p, "Log1PBackward0", lambda g, x, out: g / (x + 1), "x")
expm1 = declare_unary("expm1", np.expm1, "Expm1Backward0", lambda g, x, out: g * (out + 1), "out")
sqrt = declare_unary("sqrt", np.sqrt, "SqrtBackward0", lambda g, x, out: g / (out * 2), "out")
# d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 out^3
rsqrt = declare_unary("rsqrt", _rsqrt_np, "RsqrtBackward0",
                      lambda g, x, out: g * out.pow(3) * -0.5, "out")
sin = declare_unary("sin", np.sin, "SinBackward0", lambda g, x, out: g * x.cos(), "x")
cos = declare_unary("cos", np.cos, "CosBackward0", lambda g, x, out: -(g * x.sin()), "x")
# tan' = 1 + tan^2, tanh' = 1 - tanh^2, sigmoid' = s (1 - s): all in terms of the output.
tan = declare_unary("tan", np.tan, "TanBackward0", lambda g, x, out: g * (out * out + 1), "out")
tanh = declare_unary("tanh", np.tanh, "TanhBackward0", lambda g, x, out: tanh_backward(g, out),
                     "out")
sigmoid = declare_unary("sigmoid", _sigmoid_np, "SigmoidBackward0",
                        lambda g, x, out: sigmoid_backward(g, out), "out")
# relu'(0) = 0: the mask is taken on the output, strictly positive.
relu = declare_unary("relu", _relu_np, "ReluBackward0",
                     lambda g, x, out: threshold_backward(g, out), "out", True)
reciprocal = declare_unary("reciprocal", np.reciprocal, "ReciprocalBackward0",
                           lambda g, x, out: -(g * (out * out)), "out")

"""Elementwise arithmetic of two operands, with broadcasting and PyTorch's type promotion.

Gradients are returned at the broadcast shape; the engine sums them back to each input's shape.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd import grad_mode
from ..autograd.graph import FREED, Node, SavedTensor
from . import _core
from ._core import binary_operands, check_broadcast, new_node, node2, save, wrap

_ndarray = np.ndarray
_state = grad_mode.state
_INT, _FLOAT = D.INT, D.FLOAT
_np_add, _np_sub = np.add, np.subtract
_bool = D.bool

__all__ = [
    "add", "sub", "subtract", "multiply", "divide", "clip", "rsub", "mul", "div", "true_divide",
    "floor_divide", "remainder", "pow",
    "maximum", "minimum", "where", "clamp", "clamp_min", "clamp_max", "rtruediv", "rpow",
    "rfloordiv", "rremainder",
]


def _binary(np_fn, node_cls, x, y, saved_x=True, saved_y=True):
    """Run np_fn on promoted operands; record node_cls over (x, y) when needed."""
    if isinstance(x, Tensor):  # the fast cases of binary_operands, inline
        dt = x._dtype
        ty = type(y)
        if (ty is float and dt.category >= _FLOAT) or (ty is int and dt.category >= _INT):
            xa, ya = x._data, y
        elif isinstance(y, Tensor) and y._dtype is dt:
            xa, ya = x._data, y._data
        else:
            xa, ya, dt = binary_operands(x, y)
    else:
        xa, ya, dt = binary_operands(x, y)
    try:
        r = np_fn(xa, ya)
    except ValueError:
        check_broadcast(x, y)
        raise
    if type(r) is not _ndarray:
        r = np.asarray(r)
    npd = dt.np
    if r.dtype is not npd and r.dtype != npd:
        r = r.astype(npd)
    if not _state.enabled and not _core.fw_on:  # node2 would record nothing
        return _make(r, None, False)
    node = node2(node_cls, x, y)
    if node is None:
        return _make(r, None, False)
    if saved_x is None:  # (mul) each operand is kept only for the other's gradient (PyTorch)
        saved_x, saved_y = node._next[1][0] is not None, node._next[0][0] is not None
    node._saved = (SavedTensor(x) if saved_x and isinstance(x, Tensor) else x if saved_x else None,
                   SavedTensor(y) if saved_y and isinstance(y, Tensor) else y if saved_y else None)
    return _make(r, node, True)


def _conj(t):
    if isinstance(t, Tensor):
        return t.conj() if t._dtype.category == D.COMPLEX else t
    # a Python (or NumPy) complex scalar factor is conjugated too
    return t.conjugate() if isinstance(t, (complex, np.complexfloating)) else t


def _refuse_complex(dt, kernel: str) -> None:
    """PyTorch's refusal of a rounding or ordering kernel for complex numbers."""
    if dt.category == D.COMPLEX:
        raise NotImplementedError(f'"{kernel}_cpu" not implemented for \'{dt._short}\'')


def _refuse_complex_clamp(*operands) -> None:
    for t in operands:
        if isinstance(t, Tensor) and t._dtype.category == D.COMPLEX:
            raise NotImplementedError("clamp is not supported for complex types")


# --- add / sub ----------------------------------------------------------------------------
class AddBackward0(Node):
    __slots__ = ("alpha",)
    _saved_attrs = {"alpha": "alpha"}

    def vjp(self, g):
        gy = g if self.alpha == 1 else g * _conj(self.alpha)
        return g, gy

    def jvp(self, tx, ty):
        if ty is None:
            return tx
        ty = ty if self.alpha == 1 else ty * self.alpha
        return ty if tx is None else tx + ty


class SubBackward0(Node):
    __slots__ = ("alpha",)
    _saved_attrs = {"alpha": "alpha"}

    def vjp(self, g):
        return g, (-g if self.alpha == 1 else g * -_conj(self.alpha))

    def jvp(self, tx, ty):
        if ty is None:
            return tx
        ty = -ty if self.alpha == 1 else ty * -self.alpha
        return ty if tx is None else tx + ty


class RsubBackward1(Node):
    """y - alpha * x with y a scalar: d/dx = -alpha."""

    __slots__ = ("alpha",)
    _saved_attrs = {"alpha": "alpha"}

    def vjp(self, g):
        return (-g if self.alpha == 1 else g * -_conj(self.alpha)), None

    def jvp(self, tx, ty):
        return -tx if self.alpha == 1 else tx * -self.alpha


def _add_like(x, y, alpha, node_cls, sign):
    if isinstance(x, Tensor):  # the fast cases of binary_operands, inline
        dt = x._dtype
        ty = type(y)
        if (ty is float and dt.category >= _FLOAT) or (ty is int and dt.category >= _INT):
            xa, ya = x._data, y
        elif isinstance(y, Tensor) and y._dtype is dt:
            xa, ya = x._data, y._data
        else:
            xa, ya, dt = binary_operands(x, y)
    else:
        xa, ya, dt = binary_operands(x, y)
    if alpha != 1 or type(alpha) is not int:
        if dt.category < D.FLOAT and isinstance(alpha, (float, complex)):
            raise RuntimeError(
                "For integral input tensors, argument alpha must not be a floating point number."
            )
        if dt.category < D.COMPLEX and isinstance(alpha, complex):
            raise RuntimeError(
                "For non-complex input tensors, argument alpha must not be a complex number.")
        if isinstance(alpha, (bool, np.bool_)) and dt is not D.bool:
            raise RuntimeError("Boolean alpha only supported for Boolean results.")
        if alpha != 1:
            ya = ya * alpha
    if dt is D.bool and sign < 0:
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` "
            "or `logical_xor()` operator instead."
        )
    try:
        r = _np_add(xa, ya) if sign > 0 else _np_sub(xa, ya)
    except ValueError:
        check_broadcast(x, y)
        raise
    if type(r) is not _ndarray:
        r = np.asarray(r)
    npd = dt.np
    if r.dtype is not npd and r.dtype != npd:
        r = r.astype(npd)
    if not _state.enabled and not _core.fw_on:  # node2 would record nothing
        return _make(r, None, False)
    node = node2(node_cls, x, y)
    if node is None:
        return _make(r, None, False)
    node.alpha = alpha
    return _make(r, node, True)


def add(input, other, *, alpha=1, out=None):  # noqa: A002
    """input + alpha * other, elementwise with broadcasting.

    >>> import tapegrad
    >>> tapegrad.add(tapegrad.tensor([1., 2.]), 1.5)
    tensor([2.5000, 3.5000])
    """
    return _maybe_out(_add_like(input, other, alpha, AddBackward0, 1), out)


def _add(x, y):
    """x + y for the + operator: add without the keyword handling."""
    return _add_like(x, y, 1, AddBackward0, 1)


def _sub(x, y):
    return _add_like(x, y, 1, SubBackward0, -1)


def sub(input, other, *, alpha=1, out=None):  # noqa: A002
    """input - alpha * other, elementwise with broadcasting."""
    return _maybe_out(_add_like(input, other, alpha, SubBackward0, -1), out)


subtract = sub


def rsub(input, other, *, alpha=1):  # noqa: A002
    """other - alpha * input (the reflected subtraction `other - input`)."""
    if isinstance(other, Tensor):
        return sub(other, input, alpha=alpha)
    xa, ya, dt = binary_operands(input, other)
    r = np.asarray(np.subtract(ya, xa * alpha if alpha != 1 else xa))
    if r.dtype != dt.np:
        r = r.astype(dt.np)
    node = new_node(RsubBackward1, (input, other))
    if node is None:
        return _make(r, None, False)
    node.alpha = alpha
    return _make(r, node, True)


# --- mul / div ----------------------------------------------------------------------------
class MulBackward0(Node):
    # d(x y) = y dx + x dy; conjugated factors for complex inputs (PyTorch's convention)
    __slots__ = ()
    _saved_names, _saved_if = ("self", "other"), (1, 0)  # each kept for the other's gradient

    def vjp(self, g):
        saved = self._saved
        if saved is FREED:
            self.saved_tensors()  # raises PyTorch's message
        sx, sy = saved
        nx, ny = self._next
        gx = gy = None
        if nx[0] is not None:
            y = sy.unpack(self) if type(sy) is SavedTensor else sy
            gx = _mul(g, y if type(y) is float else _conj(y))
        if ny[0] is not None:
            x = sx.unpack(self) if type(sx) is SavedTensor else sx
            gy = _mul(g, x if type(x) is float else _conj(x))
        return gx, gy

    def jvp(self, tx, ty):
        # d(x y) = tx y + x ty (each operand is saved when the other carries a tangent)
        sx, sy = self.saved_tensors()
        r = None if tx is None else _mul(tx, sy)
        if ty is not None:
            r2 = _mul(sx, ty)
            r = r2 if r is None else r + r2
        return r


def mul(input, other, *, out=None):  # noqa: A002
    """Elementwise product with broadcasting."""
    return _maybe_out(_binary(np.multiply, MulBackward0, input, other, None), out)


multiply = mul


def _mul(x, y):
    return _binary(np.multiply, MulBackward0, x, y, None)


class DivBackward0(Node):
    # d(x/y)/dx = 1/y, d(x/y)/dy = -x/y^2
    __slots__ = ()
    _saved_names, _saved_if = ("self", "other"), (1, None)

    def vjp(self, g):
        x, y = self.saved_tensors()
        nx, ny = self._next
        yc = _conj(y)
        gx = g / yc if nx[0] is not None else None
        gy = -g * _conj(x) / (yc * yc) if ny[0] is not None else None
        return gx, gy

    def jvp(self, tx, ty):
        # d(x / y) = tx / y - x ty / y^2
        x, y = self.saved_tensors()
        r = None if tx is None else tx / y
        if ty is not None:
            r2 = -x * ty / (y * y)
            r = r2 if r is None else r + r2
        return r


class DivBackward2(Node):
    """Rounded division (floor or trunc): piecewise constant, so zero gradients (as PyTorch)."""

    __slots__ = ()

    def vjp(self, g):
        nx, ny = self._next
        return (g.new_zeros(g.shape) if nx[0] is not None else None,
                g.new_zeros(g.shape) if ny[0] is not None else None)


def div(input, other, *, rounding_mode=None, out=None):  # noqa: A002
    """Elementwise division: true division, or rounded with rounding_mode 'trunc' / 'floor'."""
    if rounding_mode is None:
        xa, ya, dt = binary_operands(input, other)
        if dt.category < D.FLOAT:  # int / int divides in the default float dtype
            dt = D._defaults.float
            xa = xa.astype(dt.np) if isinstance(xa, np.ndarray) else float(xa)
            ya = ya.astype(dt.np) if isinstance(ya, np.ndarray) else float(ya)
        try:
            r = np.asarray(np.true_divide(xa, ya))
        except ValueError:
            check_broadcast(input, other)
            raise
        if r.dtype != dt.np:
            r = r.astype(dt.np)
        node = node2(DivBackward0, input, other)  # (new_node's node, for two operands)
        if node is None:
            return _make(r, None, False) if out is None else _maybe_out(_make(r), out)
        # input is needed only for other's gradient (kept then only, as PyTorch does)
        save(node, input if node._next[1][0] is not None else None, other)
        return _maybe_out(_make(r, node, True), out)
    if rounding_mode == "floor":
        q = floor_divide(input, other)
    elif rounding_mode == "trunc":
        xa, ya, dt = binary_operands(input, other)
        _refuse_complex(dt, "div_trunc")
        if dt.category < D.FLOAT:
            _check_int_zero(ya)
            # exact integer truncation, avoiding float rounding for big ints
            q = np.asarray(np.sign(xa) * np.sign(ya) * (np.abs(xa) // np.abs(ya))).astype(dt.np)
        else:
            q = np.asarray(np.trunc(np.true_divide(xa, ya))).astype(dt.np, copy=False)
        q = _make(q)
    else:
        raise RuntimeError(
        "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
        f"'{rounding_mode}'"
    )
    node = new_node(DivBackward2, (input, other)) if q._dtype.category >= D.FLOAT else None
    return _maybe_out(wrap(q._data, node), out)


true_divide = divide = div


def rtruediv(input, other):  # noqa: A002
    """other / input with other a scalar: computed as reciprocal(input) * other (as PyTorch)."""
    if isinstance(other, Tensor):
        return div(other, input)
    if isinstance(other, np.ndarray):
        return div(_make(other), input)
    return mul(input.reciprocal(), other)


class NotImplementedBackward(Node):
    """Stands for ops PyTorch does not differentiate; running it raises PyTorch's message."""

    __slots__ = ("op_name",)

    def name(self) -> str:
        return "tapegrad::autograd::NotImplemented"

    def vjp(self, g):
        raise RuntimeError(f"derivative for aten::{self.op_name} is not implemented")


NotImplementedBackward.__name__ = NotImplementedBackward.__qualname__ = "NotImplemented"


def _nondiff(op_name, r, *inputs):
    node = new_node(NotImplementedBackward, inputs)
    if node is None:
        return _make(r, None, False)
    node.op_name = op_name
    return _make(r, node, True)


def _check_int_zero(ya):
    if np.any(np.asarray(ya) == 0):
        raise RuntimeError("ZeroDivisionError")


def floor_divide(input, other, *, out=None):  # noqa: A002
    """Elementwise floor(input / other); integer inputs give integer results."""
    xa, ya, dt = binary_operands(input, other)
    _refuse_complex(dt, "div_floor")
    if dt.category < D.FLOAT:
        _check_int_zero(ya)
    r = np.asarray(np.floor_divide(xa, ya))
    if r.dtype != dt.np:
        r = r.astype(dt.np)
    return _maybe_out(_nondiff("floor_divide", r, input, other), out)


def rfloordiv(input, other):  # noqa: A002
    xa, ya, dt = binary_operands(other, input)
    _refuse_complex(dt, "div_floor")
    if dt.category < D.FLOAT:
        _check_int_zero(ya)
    r = np.asarray(np.floor_divide(xa, ya)).astype(dt.np, copy=False)
    return _nondiff("floor_divide", r, other, input)


class RemainderBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return g, None


class RemainderBackward1(Node):
    # x - floor(x / y) * y: d/dx = 1, d/dy = -floor(x / y) (floor: zero gradient, so this
    # stays differentiable, as PyTorch's div(rounding_mode="floor") is)
    __slots__ = ()
    _saved_names = ("self", "other")

    def vjp(self, g):
        x, y = self.saved_tensors()
        return g, -g * (x / y).floor()


def remainder(input, other, *, out=None):  # noqa: A002
    """Python-style modulus: the result has the sign of the divisor."""
    xa, ya, dt = binary_operands(input, other)
    _refuse_complex(dt, "remainder")
    if dt.category < D.FLOAT:
        _check_int_zero(ya)
    r = np.asarray(np.remainder(xa, ya))
    if r.dtype != dt.np:
        r = r.astype(dt.np)
    if isinstance(other, Tensor):
        node = new_node(RemainderBackward1, (input, other))
        if node is not None:
            save(node, input, other)
    else:
        node = new_node(RemainderBackward0, (input, other))
    return _maybe_out(wrap(r, node), out)


def rremainder(input, other):  # noqa: A002
    xa, ya, dt = binary_operands(other, input)
    _refuse_complex(dt, "remainder")
    r = np.asarray(np.remainder(xa, ya)).astype(dt.np, copy=False)
    return _nondiff("remainder", r, other, input)


# --- pow ----------------------------------------------------------------------------------
class PowBackward0(Node):
    # d/dx x^e = e x^(e-1); e == 0 gives zero (not 0 * x^-1, which is nan at x == 0)
    __slots__ = ()
    _saved_names, _saved_attrs = ("self",), {"exponent": 1}

    def vjp(self, g):
        x, e = self.saved_tensors()
        if e == 0:
            return g.new_zeros(g.shape), None
        return g * _conj(x.pow(e - 1) * e), None

    def jvp(self, tx, te):
        x, e = self.saved_tensors()
        return tx.new_zeros(tx.shape) if e == 0 else tx * (x.pow(e - 1) * e)


class PowBackward1(Node):
    # d/dx = y x^(y-1); d/dy = x^y log x, taken as 0 where x == 0 and y >= 0
    __slots__ = ()
    _saved_names = ("self", "exponent")

    def vjp(self, g):
        x, y = self.saved_tensors()
        nx, ny = self._next
        gx = gy = None
        if nx[0] is not None:
            gx = where(y == 0, 0.0, g * _conj(y * x.pow(y - 1)))
        if ny[0] is not None:
            out = x.pow(y)
            gy = where((x == 0) & (y.real >= 0 if y.is_complex() else y >= 0), 0.0,
                       g * _conj(out * x.log()))
        return gx, gy


class PowBackward2(Node):
    # d/dy base^y = base^y log(base)
    __slots__ = ()
    _saved_names, _saved_attrs = (None, "exponent"), {"self": 0}

    def vjp(self, g):
        base, y = self.saved_tensors()
        out = pow(base, y)
        if base == 0:
            return None, where(y >= 0, 0.0, g * _conj(out * np.log(base)))
        lb = np.log(complex(base)) if isinstance(base, complex) or base < 0 else np.log(base)
        return None, g * _conj(out * float(lb) if not isinstance(lb, complex) else out * lb)


def _pow_np(a, b):
    if isinstance(a, np.ndarray) and a.dtype.kind in "iub":
        bb = np.asarray(b)
        if bb.dtype.kind in "iu" and np.any(bb < 0):
            raise RuntimeError("Integers to negative integer powers are not allowed.")
    return np.power(a, b)


def pow(input, exponent, *, out=None):  # noqa: A001,A002
    """input ** exponent elementwise; either side may be a scalar."""
    if not isinstance(input, Tensor):
        return _maybe_out(rpow(exponent, input), out)
    if isinstance(exponent, Tensor):
        return _maybe_out(_binary(_pow_np, PowBackward1, input, exponent), out)
    if isinstance(exponent, np.ndarray):
        return pow(input, _make(exponent), out=out)
    return _maybe_out(_binary(_pow_np, PowBackward0, input, exponent), out)


def rpow(input, other):  # noqa: A002
    """other ** input with other a scalar (PyTorch's PowBackward2)."""
    if isinstance(other, Tensor):
        return pow(other, input)
    if isinstance(other, np.ndarray):
        return pow(_make(other), input)
    return _binary(_pow_np, PowBackward2, other, input)


# --- maximum / minimum / where / clamp ------------------------------------------------------
class MaximumBackward0(Node):
    # ties share the gradient equally (PyTorch: half to each side)
    __slots__ = ()
    _saved_names = ("self", "other")
    pick = staticmethod(lambda x, y: x > y)

    def vjp(self, g):
        x, y = self.saved_tensors()
        win = self.pick(x, y)
        tie = x == y
        wx = where(tie, 0.5, where(win, 1.0, 0.0))
        gx = g * wx
        gy = g - gx
        return gx, gy


class MinimumBackward0(MaximumBackward0):
    __slots__ = ()
    pick = staticmethod(lambda x, y: x < y)


def maximum(input, other, *, out=None):  # noqa: A002
    """Elementwise maximum of two tensors (nan propagates)."""
    if not isinstance(other, Tensor):
        raise TypeError(
            f"maximum(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}"
        )
    if input._dtype.category == D.COMPLEX or other._dtype.category == D.COMPLEX:
        raise RuntimeError("maximum not implemented for complex tensors.")
    return _maybe_out(_binary(np.maximum, MaximumBackward0, input, other), out)


def minimum(input, other, *, out=None):  # noqa: A002
    """Elementwise minimum of two tensors (nan propagates)."""
    if not isinstance(other, Tensor):
        raise TypeError(
            f"minimum(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}"
        )
    if input._dtype.category == D.COMPLEX or other._dtype.category == D.COMPLEX:
        raise RuntimeError("minimum not implemented for complex tensors.")
    return _maybe_out(_binary(np.minimum, MinimumBackward0, input, other), out)


max_elementwise = maximum


class WhereBackward0(Node):
    __slots__ = ("cond",)
    _saved_attrs = {"condition": "cond"}

    def vjp(self, g):
        c = self.cond
        _, nx, ny = self._next
        gx = where(c, g, 0.0) if nx[0] is not None else None
        gy = where(c, 0.0, g) if ny[0] is not None else None
        return None, gx, gy


def where(condition, input=None, other=None, *, out=None):  # noqa: A002
    """Pick input where condition holds, other elsewhere; with one argument, nonzero()."""
    if input is None and other is None:
        return condition.nonzero(as_tuple=True)
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {D.from_numpy_dtype(cond.dtype).name.capitalize()}")
    xa, ya, dt = binary_operands(input, other)
    try:
        r = np.asarray(np.where(cond, xa, ya))
    except ValueError:
        check_broadcast(condition, input, other)
        raise
    if r.dtype != dt.np:
        r = r.astype(dt.np)
    node = new_node(WhereBackward0, (None, input, other))
    if node is None:
        return _maybe_out(_make(r, None, False), out)
    node.cond = condition if isinstance(condition, Tensor) else _make(cond)
    return _maybe_out(_make(r, node, True), out)


class ClampBackward1(Node):
    # gradient passes where min <= x <= max (bounds included), zero elsewhere
    __slots__ = ("lo", "hi")
    _saved_names, _saved_attrs = ("self",), {"min": "lo", "max": "hi"}

    def vjp(self, g):
        (x,) = self.saved_tensors()
        m = None
        if self.lo is not None:
            m = x >= self.lo
        if self.hi is not None:
            mh = x <= self.hi
            m = mh if m is None else m & mh
        return g * m


class ClampBackward0(Node):
    __slots__ = ()
    _saved_names = ("self", "min", "max")

    def vjp(self, g):
        x, lo, hi = self.saved_tensors()
        m = None
        gl = gh = None
        if lo is not None:
            m = x >= lo
            gl = where(m, 0.0, g)
        if hi is not None:
            mh = x <= hi
            gh = where(mh, 0.0, g)
            if gl is not None:
                gh = where(m, gh, 0.0)
            m = mh if m is None else m & mh
        return g * m, gl, gh


class ClampMinBackward0(ClampBackward1):
    __slots__ = ()
    _saved_attrs = {"min": "lo"}


class ClampMaxBackward0(ClampBackward1):
    __slots__ = ()
    _saved_attrs = {"max": "hi"}


def clamp(input, min=None, max=None, *, out=None):  # noqa: A001,A002
    """Limit values to [min, max]; either bound may be None."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None"
                           .replace("torch.", "tapegrad."))
    _refuse_complex_clamp(input, min, max)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        r = input
        with_no = __import__("tapegrad").no_grad
        with with_no():
            if min is not None:
                r = maximum(r, min if isinstance(min, Tensor) else _make(np.asarray(min)))
            if max is not None:
                r = minimum(r, max if isinstance(max, Tensor) else _make(np.asarray(max)))
        node = new_node(ClampBackward0, (input, min, max))
        if node is None:
            return _maybe_out(r, out)
        save(node, input, min, max)
        return _maybe_out(_make(r._data, node, True), out)
    a = input._data
    dt = input._dtype
    for b in (min, max):
        if b is not None:
            dt = D._combine(dt, D.scalar_dtype(b))
    if dt is not input._dtype:
        a = a.astype(dt.np)
    r = a
    if min is not None:
        r = np.maximum(r, min)
    if max is not None:
        r = np.minimum(r, max)
    r = np.asarray(r)
    if r is a:
        r = a.copy()
    if r.dtype != dt.np:
        r = r.astype(dt.np)
    # nan inputs stay nan (np.maximum already propagates them)
    cls = ClampBackward1
    node = new_node(cls, (input,))
    if node is None:
        return _maybe_out(_make(r, None, False), out)
    node.lo, node.hi = min, max
    save(node, input)
    return _maybe_out(_make(r, node, True), out)


clip = clamp


class ClampMinBackward1(Node):
    # max(x, m): the gradient goes to x where x >= m, else to m
    __slots__ = ()
    _saved_names = ("self", "min")

    def vjp(self, g):
        x, m = self.saved_tensors()
        keep = self.keep(x, m)
        nx, nm = self._next
        return (where(keep, g, 0.0) if nx[0] is not None else None,
                where(keep, 0.0, g) if nm[0] is not None else None)

    @staticmethod
    def keep(x, m):
        return x >= m


class ClampMaxBackward1(ClampMinBackward1):
    __slots__ = ()
    _saved_names = ("self", "max")

    @staticmethod
    def keep(x, m):
        return x <= m


def _clamp_bound_tensor(input, bound, np_fn, node_cls):
    xa, ba, dt = binary_operands(input, bound)
    try:
        r = np.asarray(np_fn(xa, ba))
    except ValueError:
        check_broadcast(input, bound)
        raise
    node = node2(node_cls, input, bound)
    if node is not None:
        save(node, input, bound)
    return wrap(r.astype(dt.np, copy=False), node)


def clamp_min(input, min):  # noqa: A002
    """max(input, min) elementwise; min may be a number or a tensor."""
    _refuse_complex_clamp(input, min)
    if isinstance(min, Tensor):
        return _clamp_bound_tensor(input, min, np.maximum, ClampMinBackward1)
    r = np.asarray(np.maximum(input._data, min))
    node = new_node(ClampMinBackward0, (input,))
    if node is None:
        return _make(r.astype(input._data.dtype, copy=False))
    node.lo, node.hi = min, None
    save(node, input)
    return _make(r.astype(input._data.dtype, copy=False), node, True)


def clamp_max(input, max):  # noqa: A002
    """min(input, max) elementwise; max may be a number or a tensor."""
    _refuse_complex_clamp(input, max)
    if isinstance(max, Tensor):
        return _clamp_bound_tensor(input, max, np.minimum, ClampMaxBackward1)
    r = np.asarray(np.minimum(input._data, max))
    node = new_node(ClampMaxBackward0, (input,))
    if node is None:
        return _make(r.astype(input._data.dtype, copy=False))
    node.lo, node.hi = None, max
    save(node, input)
    return _make(r.astype(input._data.dtype, copy=False), node, True)


def _where_method(self, condition, other):
    """Tensor.where(condition, other): self where condition holds, other elsewhere."""
    return where(condition, self, other)


METHODS = {"where": _where_method}


def _maybe_out(res, out):
    if out is None:
        return res
    from .inplace import copy_out

    return copy_out(out, res)

"""In-place ops on tensors outside the graph: the updates every training loop makes.

`x.add_(y)`, `x += y`, `x[idx] = v`, `x.zero_()`, ... write into x's storage and bump the
version counter it shares with its views, which saved-tensor checks read (a tensor saved for
backward and then changed in place makes backward raise PyTorch's "modified by an inplace
operation" error). They are allowed where PyTorch allows them without recording anything:
on tensors that do not require grad, under no_grad (the optimizer update
`with no_grad(): w -= lr * w.grad`), on `.grad`, `.data` and `.detach()` tensors.

A leaf that requires grad, or a view of one, refuses in-place changes with PyTorch's message.
An in-place op on a tensor that is part of a recorded graph, or writing a value that requires
grad, is recorded: the tensor's history is rebased onto the op's node, and a change made
through a view rebases its base's history (CopySlices); see _inplace_record.py.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd import forward_ad as _fwad
from ..autograd import grad_mode
from ..autograd.grad_mode import no_grad
from . import _core
from ._inplace_nodes import const_op, copy_op, fill_op, index_put_op, renamed, zero_op
from ._inplace_record import _set_history as set_history
from ._inplace_record import record, record_region

_state = grad_mode.state

__all__: list[str] = []  # internal helpers only; the ops are bound through METHODS

_LEAF_MSG = "a leaf Variable that requires grad is being used in an in-place operation."
_VIEW_LEAF_MSG = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)
_NO_GRAD_VIEW_MSG = (
    "A view was created in no_grad mode and is being modified inplace with grad mode enabled. "
    "Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify "
    "your code by moving both the view and the inplace either both inside the no_grad block (if "
    "you don't want the inplace to be tracked) or both outside (if you want the inplace to be "
    "tracked)."
)
_INFERENCE_MSG = (
    "Inplace update to inference tensor outside InferenceMode is not allowed.You can make a "
    "clone to get a normal tensor before doing inplace update.See "
    "https://github.com/pytorch/rfcs/pull/17 for more details."
)


_MULTI_VIEW_MSG = (
    "Output {nr} of {name} is a view and is being modified inplace. This view is the output of "
    "a function that returns multiple views. Such functions do not allow the output views to be "
    "modified inplace. You should replace the inplace operation by an out-of-place one."
)


def check_inplace(t: Tensor, *others) -> bool:
    """Refuse in-place ops PyTorch refuses; return whether the change must be recorded in the
    graph (grad mode on, and t or one of the other operands requires grad)."""
    ex = t._extra
    if ex and ex.get("inference") and not _state.inference:
        raise RuntimeError(_INFERENCE_MSG)
    if _core.fw_on:
        _fwad.flush()  # tangents not computed yet may need t's current values
    if not _state.enabled:
        return False
    if not t._requires_grad:
        for o in others:
            if isinstance(o, Tensor) and o._requires_grad:
                break
        else:
            return False
    b = t._base
    if ex:
        if ex.get("no_grad_view"):
            raise RuntimeError(_NO_GRAD_VIEW_MSG)
        mv = ex.get("multi_view")
        if mv:
            raise RuntimeError(_MULTI_VIEW_MSG.format(nr=t._output_nr, name=mv))
        ve = ex.get("view_error")  # views returned by a custom Function (autograd/function.py)
        if ve:
            raise RuntimeError(ve)
    if t._requires_grad and t._grad_fn is None:
        raise RuntimeError(_LEAF_MSG)
    if b is not None and b._grad_fn is None and b._requires_grad:
        raise RuntimeError(_VIEW_LEAF_MSG)
    return True


def check_result(t: Tensor, r: Tensor, cname: bool = False) -> None:
    """Whether r can be written into t (shape broadcasts into t's, dtype castable)."""
    if r._data.shape != t._data.shape:
        _check_broadcast_into(t._data.shape, r._data.shape)
    if r._dtype is not t._dtype and not D.can_cast(r._dtype, t._dtype):
        raise _cannot_cast(r._dtype, t._dtype, cname)
    _check_writeable(t._data)


def apply_inplace(t: Tensor, fn, args=(), kwargs=None, cname: bool = False) -> Tensor:
    """t = fn(t, *args, **kwargs), written into t's storage; recorded in the graph when
    check_inplace says so."""
    kwargs = kwargs or {}
    if _core.fw_on and not _fwad._suspended and _fwad.has_dual(t, args, kwargs):
        # forward AD: the tangent follows
        return _fwad.inplace(t, lambda: _apply_inplace(t, fn, args, kwargs, cname),
                             lambda: fn(t, *args, **kwargs))
    return _apply_inplace(t, fn, args, kwargs, cname)


def _apply_inplace(t: Tensor, fn, args, kwargs, cname: bool) -> Tensor:
    if not check_inplace(t, *args, *kwargs.values()):
        with no_grad():
            r = fn(t, *args, **kwargs)
        if r is t:
            return t
        return write_result(t, r, cname)
    return record(t, lambda x: fn(x, *args, **kwargs), lambda r: check_result(t, r, cname))


def _check_overlap(t: Tensor, o) -> None:
    """PyTorch refuses an operand that partly overlaps the written tensor's memory (the very
    same memory, as in y.mul_(y), is fine)."""
    if not isinstance(o, Tensor) or o is t:
        return
    a, b = t._data, o._data
    if (t._base if t._base is not None else t) is not (o._base if o._base is not None else o):
        if a.base is None and b.base is None:
            return
        if not np.may_share_memory(a, b):
            return
    if (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides and a.shape == b.shape):
        return
    if b.size and a.size and np.shares_memory(a, b, max_work=10**6):
        raise RuntimeError(
            "unsupported operation: some elements of the input tensor and the written-to tensor "
            "refer to a single memory location. Please clone() the tensor before performing the "
            "operation."
        )


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _check_broadcast_into(out_shape, other_shape) -> None:
    """PyTorch's messages when other cannot broadcast into an in-place op's output."""
    a, b = tuple(out_shape), tuple(other_shape)
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    for i in range(n - 1, -1, -1):
        if pa[i] != pb[i] and pa[i] != 1 and pb[i] != 1:
            raise RuntimeError(
                f"The size of tensor a ({pa[i]}) must match the size of tensor b ({pb[i]}) at "
                f"non-singleton dimension {i}"
            )
    full = tuple(max(x, y) for x, y in zip(pa, pb))
    if full != a:
        raise RuntimeError(
            f"output with shape {_shape_str(a)} doesn't match the broadcast shape "
            f"{_shape_str(full)}"
        )


def _cannot_cast(src: D.dtype, dst: D.dtype, cname: bool = False) -> RuntimeError:
    name = dst._cname if cname else dst._short
    return RuntimeError(
        f"result type {src._short} can't be cast to the desired output type {name}"
    )


def _check_writeable(a: np.ndarray) -> None:
    if not a.flags.writeable:
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )


def write_result(t: Tensor, r: Tensor, cname: bool = False) -> Tensor:
    """Store r's values into t's storage (broadcast to t's shape, castable dtype) and bump
    t's version."""
    a = t._data
    ra = r._data
    check_result(t, r, cname)
    with np.errstate(all="ignore"):
        np.copyto(a, ra, casting="unsafe")
    t._bump_version()
    return t


def write_array(t: Tensor, arr: np.ndarray, node_name: str | None = None) -> Tensor:
    """Store an array (already of a castable dtype and t's shape) into t and bump its version.
    In a graph, the write is recorded as a node named node_name with zero gradient."""
    if node_name is not None and check_inplace(t):
        return record(t, lambda x: const_op(x, arr, node_name))
    _check_writeable(t._data)
    with np.errstate(all="ignore"):
        np.copyto(t._data, arr, casting="unsafe")
    t._bump_version()
    return t


def copy_out(out: Tensor, res: Tensor) -> Tensor:
    """Implement an op's out= argument: out takes res's shape (resized) and values."""
    check_inplace(out, res)
    if out._requires_grad or res._requires_grad:
        raise RuntimeError(
            "functions with out=... arguments don't support automatic differentiation, but one "
            "of the arguments requires grad."
        )
    if out._data.shape != res._data.shape:
        out._data = np.empty(res._data.shape, dtype=out._data.dtype)
    return write_result(out, res)


_FAST_UFUNC = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}


def _fast_update(t: Tensor, ufunc, other, kwargs) -> bool:
    """t = ufunc(t, other * alpha) written straight into t's storage when nothing can differ
    from the general path: no graph is recorded (no_grad, no forward-AD level), t is a plain
    writeable floating tensor, and other is a Python number or a tensor of t's dtype and shape.
    The arithmetic is the out-of-place op's own (same NumPy calls, same order), so the values
    are identical; whether it ran is returned."""
    if _state.enabled or _core.fw_on or t._extra is not None:
        return False
    dt = t._dtype
    if dt.category < D.FLOAT:
        return False
    if isinstance(other, Tensor):
        if other._dtype is not dt or other._data.shape != t._data.shape:
            return False
        y = other._data
    elif type(other) is float or type(other) is int:
        y = other
    else:
        return False
    if kwargs:
        alpha = kwargs.get("alpha", 1)
        if len(kwargs) != 1 or (type(alpha) is not float and type(alpha) is not int) or (
            ufunc is not np.add and ufunc is not np.subtract
        ):
            return False
        if alpha != 1:
            y = y * alpha
    a = t._data
    if not a.flags.writeable:
        return False
    ufunc(a, y, out=a)
    t._bump_version()
    return True


def _inplace_binary(op_name):
    cname_msg = op_name.startswith("clamp")
    fast = _FAST_UFUNC.get(op_name)

    def op(self, other, *args, **kwargs):
        if isinstance(other, Tensor) and other._data.shape != self._data.shape:
            _check_broadcast_into(self._data.shape, other._data.shape)
        _check_overlap(self, other)
        if fast is not None and not args and _fast_update(self, fast, other, kwargs):
            return self
        from .. import ops

        return apply_inplace(self, getattr(ops, op_name), (other, *args), kwargs, cname_msg)

    op.__name__ = op_name + "_"
    op.__qualname__ = "Tensor." + op.__name__
    op.__doc__ = f"In-place {op_name}: self = {op_name}(self, other)."
    return op


def _inplace_unary(op_name):
    cname_msg = op_name.startswith("clamp") or op_name.startswith("clip")

    def op(self, *args, **kwargs):
        from .. import ops

        return apply_inplace(self, getattr(ops, op_name), args, kwargs, cname_msg)

    op.__name__ = op_name + "_"
    op.__qualname__ = "Tensor." + op.__name__
    op.__doc__ = f"In-place {op_name}."
    return op


INPLACE_BINARY = ["add", "sub", "mul", "div", "pow", "remainder", "floor_divide", "clamp_min",
                  "clamp_max", "bitwise_and", "bitwise_or", "bitwise_xor", "logical_and",
                  "logical_or", "logical_xor", "eq", "ne", "lt", "le", "gt", "ge", "greater",
                  "greater_equal", "less", "less_equal", "not_equal"]
INPLACE_UNARY = ["neg", "abs", "sign", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin",
                 "cos", "tan", "tanh", "sigmoid", "relu", "reciprocal", "clamp", "sgn",
                 "logical_not", "bitwise_not"]
INPLACE = {n + "_": _inplace_binary(n) for n in INPLACE_BINARY}
INPLACE.update({n + "_": _inplace_unary(n) for n in INPLACE_UNARY})
INPLACE["subtract_"] = INPLACE["sub_"]
INPLACE["multiply_"] = INPLACE["mul_"]
INPLACE["divide_"] = INPLACE["true_divide_"] = INPLACE["div_"]
INPLACE["clip_"] = INPLACE["clamp_"]
INPLACE["negative_"] = INPLACE["neg_"]


def _refusing_complex(op):
    def abs_(self, *args, **kwargs):
        if self._dtype.category == D.COMPLEX:  # |z| is real: it cannot be stored back in z
            raise RuntimeError("In-place abs is not supported for complex tensors.")
        return op(self, *args, **kwargs)

    abs_.__name__, abs_.__qualname__, abs_.__doc__ = op.__name__, op.__qualname__, op.__doc__
    return abs_


INPLACE["abs_"] = _refusing_complex(INPLACE["abs_"])
INPLACE["absolute_"] = INPLACE["abs_"]


def zero_(self: Tensor) -> Tensor:
    """Fill with zeros in place.

    >>> import tapegrad
    >>> tapegrad.ones(2).zero_()
    tensor([0., 0.])
    """
    if _core.fw_on and not _fwad._suspended and _fwad.has_dual(self):
        return _fwad.inplace(self, lambda: zero_(self), lambda: None)
    if check_inplace(self):
        return record(self, zero_op, lambda r: _check_writeable(self._data))
    _check_writeable(self._data)
    self._data[...] = 0
    self._bump_version()
    return self


def _fill_value(value, dt: D.dtype, fn: str, numel: int = 2):
    """A fill value as a Python number of dtype dt (PyTorch's checked Scalar conversion)."""
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(
                f"{fn} only supports 0-dimension value tensor but got tensor with "
                f"{value._data.ndim} dimensions."
            )
        v = value._data.item()
        if isinstance(v, complex) and dt.category != D.COMPLEX:
            v = v.real
        return v
    if not isinstance(value, (bool, int, float, complex, np.number, np.bool_)):
        from .._tensor import _tp_name

        bad = f"      didn't match because some of the arguments have invalid types: " \
              f"(!{_tp_name(value)}!)\n"
        raise TypeError(
            f"{fn}() received an invalid combination of arguments - got ({_tp_name(value)}), but "
            f"expected one of:\n * (Tensor value)\n{bad} * (Number value)\n{bad}"
        )
    return D.checked_scalar(value, dt, numel)


def fill_(self: Tensor, value) -> Tensor:
    """Fill with one value in place (a number, or a 0-d tensor).

    >>> import tapegrad
    >>> tapegrad.zeros(2).fill_(3)
    tensor([3., 3.])
    """
    if _core.fw_on and not _fwad._suspended and _fwad.has_dual(self, value):
        return _fwad.inplace(self, lambda: fill_(self, value), lambda: _fwad.value_as(self, value))
    rec = check_inplace(self, value)
    v = _fill_value(value, self._dtype, "fill_", self._data.size)
    if rec:
        fv = value if isinstance(value, Tensor) else v
        return record(self, lambda x: fill_op(x, fv), lambda r: _check_writeable(self._data))
    _check_writeable(self._data)
    with np.errstate(all="ignore"):
        self._data[...] = v
    self._bump_version()
    return self


def copy_(self: Tensor, src, non_blocking: bool = False) -> Tensor:
    """Copy src's values (broadcast, cast to self's dtype) into self."""
    if _core.fw_on and not _fwad._suspended and _fwad.has_dual(self, src):
        return _fwad.inplace(self, lambda: copy_(self, src, non_blocking),
                             lambda: _fwad.value_as(self, src))
    rec = check_inplace(self, src)
    if isinstance(src, Tensor):
        sa = src._data
    elif isinstance(src, (bool, int, float, complex, np.number)):
        sa = np.asarray(src)
    else:
        from .._tensor import _tp_name

        raise TypeError(
            f"copy_(): argument 'other' (position 1) must be Tensor, not {_tp_name(src)}"
        )
    if sa.shape != self._data.shape:
        _check_broadcast_into(self._data.shape, sa.shape)
    if sa.dtype.kind == "c" and self._data.dtype.kind != "c":
        warnings.warn(
            "Casting complex values to real discards the imaginary part", UserWarning, stacklevel=2
        )
        sa = sa.real
    if rec:
        st = src if isinstance(src, Tensor) else _make(np.asarray(sa))
        return record(self, lambda x: copy_op(x, st), lambda r: _check_writeable(self._data))
    _check_writeable(self._data)
    with np.errstate(all="ignore"):
        np.copyto(self._data, sa, casting="unsafe")
    self._bump_version()
    return self


# --- x[index] = value -----------------------------------------------------------------------
def _makes_view(index) -> bool:
    """Whether PyTorch indexes with a view op before writing (ints, None, bools, partial
    slices): then an in-place change of a leaf is reported as a change of a view of it."""
    items = index if isinstance(index, tuple) else (index,)
    for i in items:
        if isinstance(i, (bool, int, np.integer)) or i is None:
            return True
        if isinstance(i, slice) and i != slice(None):
            return True
    return False


def _expand_to(target: tuple, src: tuple, tname: str) -> None:
    """PyTorch's expand() checks of a setitem value (leading 1s of the value are dropped)."""
    while len(src) > len(target) and src and src[0] == 1:
        src = src[1:]
    if len(src) > len(target):
        raise RuntimeError(
            f"expand({tname}{{{_shape_str(src)}}}, size={_shape_str(target)}): the number of "
            f"sizes provided ({len(target)}) must be greater or equal to the number of "
            f"dimensions in the tensor ({len(src)})"
        )
    off = len(target) - len(src)
    for i, s in enumerate(src):
        t = target[off + i]
        if s != t and s != 1:
            raise RuntimeError(
                f"The expanded size of the tensor ({t}) must match the existing size ({s}) at "
                f"non-singleton dimension {off + i}.  Target sizes: {_shape_str(target)}.  "
                f"Tensor sizes: {_shape_str(src)}"
            )


def setitem(self: Tensor, index, value) -> None:
    """self[index] = value, for tensors outside the graph (PyTorch's checks and messages)."""
    from .indexing import normalize_index

    if _core.fw_on and not _fwad._suspended and _fwad.has_dual(self, value):
        return _fwad.setitem(self, index, value, lambda: setitem(self, index, value))
    if _state.enabled and self._requires_grad and self._grad_fn is None and self._base is None:
        raise RuntimeError(_VIEW_LEAF_MSG if _makes_view(index) else _LEAF_MSG)
    rec = check_inplace(self, value)
    tname = "tapegrad." + self._dtype._legacy
    if not isinstance(value, (Tensor, bool, int, float, complex, np.number, np.bool_)):
        from .._tensor import _tp_name

        raise TypeError(f"can't assign a {_tp_name(value)} to a {tname}")
    with no_grad():
        target = Tensor.__getitem__(self, index)  # PyTorch's index checks and messages
    if isinstance(value, Tensor):
        v = value._data
    else:
        v = D.checked_scalar(value, self._dtype, target._data.size)
    if isinstance(v, np.ndarray):
        _expand_to(tuple(target._data.shape), v.shape, tname)
        if v.dtype.kind == "c" and self._data.dtype.kind != "c":
            warnings.warn("Casting complex values to real discards the imaginary part",
                          UserWarning, stacklevel=2)
            v = v.real
        v = v.reshape(v.shape[max(v.ndim - target._data.ndim, 0):]) if v.ndim > \
            target._data.ndim else v
    _check_writeable(self._data)
    if rec:
        _setitem_recorded(self, index, value, v)
        return
    ta = target._data
    with np.errstate(all="ignore"):
        if ta.size and np.shares_memory(ta, self._data) and ta.base is not None:
            np.copyto(ta, v, casting="unsafe")  # a view: write through it
        else:
            _assign(self._data, normalize_index(index, self), v)
    self._bump_version()


def _assign(a: np.ndarray, key, v) -> None:
    """a[key] = v with PyTorch's layout of the indexed result (see ints_first)."""
    from ._index_util import ints_first

    view, key = ints_first(a, key)
    view[key] = v


def _setitem_recorded(self: Tensor, index, value, v) -> None:
    """self[index] = value in the graph, as PyTorch records it: a fill or copy of the view
    self[index] (CopySlices on the base), the op on self itself when the index selects
    everything (FillBackward3 / CopyBackwards), or index_put (IndexPutBackward0)."""
    from .indexing import normalize_index

    key = normalize_index(index, self)
    items = key if isinstance(key, tuple) else (key,)
    adv = any(isinstance(i, np.ndarray) and (i.ndim or i.dtype == np.bool_) for i in items)
    full = all(i is Ellipsis or (isinstance(i, slice) and i == slice(None)) for i in items
               if not (isinstance(i, np.ndarray) and (i.ndim or i.dtype == np.bool_)))
    if isinstance(value, Tensor) and value._data.ndim:
        src = value if value._data.shape == v.shape else value.reshape(v.shape)

        def put(x):
            return copy_op(x, src)
    else:
        fv = value if isinstance(value, Tensor) else _make(np.asarray(v, self._data.dtype))

        def put(x):
            return fill_op(x, fv)

    if not adv:
        record(self if full else Tensor.__getitem__(self, index), put)
    elif full:
        record(self, lambda x: index_put_op(x, key, index, value, False))
    else:
        record_region(self, key, put)


# --- in-place shape changes -----------------------------------------------------------------
def _inplace_view(op_name):
    def op(self, *args):
        rec = check_inplace(self)
        from .. import ops

        tan = None
        if _core.fw_on and not _fwad._suspended:
            _fwad.flush()
            tan = _fwad.tangent_of(self)  # (takes the same view below)
        if rec:
            alias = _make(self._data, self._grad_fn, self._requires_grad)
            alias._output_nr = self._output_nr
            r = getattr(ops, op_name)(alias, *args)
            set_history(self, r._grad_fn, r._output_nr)
            if op_name == "squeeze":
                renamed(self._grad_fn, "SqueezeBackward3" if not args else "SqueezeBackward4"
                        if not isinstance(args[0], (tuple, list)) else "SqueezeBackward5")
        else:
            with no_grad():
                r = getattr(ops, op_name)(self, *args)
        self._data = r._data
        self._bump_version()
        if tan is not None:
            _fwad._suspended += 1
            try:
                _fwad._set_tangent(self, getattr(ops, op_name)(tan, *args))
            finally:
                _fwad._suspended -= 1
        return self

    op.__name__ = op_name + "_"
    op.__qualname__ = "Tensor." + op.__name__
    op.__doc__ = f"In-place {op_name} (changes this tensor's shape, not its values)."
    return op


def _random_methods() -> dict:
    from .. import _random

    return _random.METHODS


INPLACE.update({"zero_": zero_, "fill_": fill_, "copy_": copy_, "__setitem__": setitem})
INPLACE.update({n + "_": _inplace_view(n) for n in ("t", "transpose", "squeeze", "unsqueeze",
                                                   "swapaxes", "swapdims")})
INPLACE.update(_random_methods())
METHODS = INPLACE


# In-place forms whose node PyTorch names apart from the out-of-place one.
INPLACE_NODE_NAMES = {
    "acosh_": "AcoshBackward1", "arccosh_": "AcoshBackward1", "asinh_": "AsinhBackward1",
    "arcsinh_": "AsinhBackward1", "atanh_": "AtanhBackward1", "arctanh_": "AtanhBackward1",
    "polygamma_": "PolygammaBackward1", "float_power_": "PowBackward0",
    "t_": "TBackward1", "transpose_": "TransposeBackward1", "swapdims_": "TransposeBackward1",
    "swapaxes_": "TransposeBackward1", "unsqueeze_": "UnsqueezeBackward1",
}


def renaming(method, node_name: str):
    """method, with the node it records re-labelled node_name."""

    def op(self: Tensor, *args, **kwargs) -> Tensor:
        out = method(self, *args, **kwargs)
        if _state.enabled and self._grad_fn is not None:
            renamed(self._grad_fn, node_name)
        return out

    op.__name__ = method.__name__
    op.__qualname__ = getattr(method, "__qualname__", op.__name__)
    op.__doc__ = method.__doc__
    return op


def inplace_of(fn, name: str):
    """The in-place method `name` for tensors outside the graph: self = fn(self, ...)."""

    def op(self: Tensor, *args, **kwargs) -> Tensor:
        return apply_inplace(self, fn, args, kwargs)

    op.__name__ = name
    op.__qualname__ = "Tensor." + name
    op.__doc__ = f"In-place {name[:-1]}."
    return op

"""In-place ops on tensors outside the graph: the updates every training loop makes.

`x.add_(y)`, `x += y`, `x[idx] = v`, `x.zero_()`, ... write into x's storage and bump the
version counter it shares with its views, which saved-tensor checks read (a tensor saved for
backward and then changed in place makes backward raise PyTorch's "modified by an inplace
operation" error). They are allowed where PyTorch allows them without recording anything:
on tensors that do not require grad, under no_grad (the optimizer update
`with no_grad(): w -= lr * w.grad`), on `.grad`, `.data` and `.detach()` tensors.

A leaf that requires grad, or a view of one, refuses in-place changes with PyTorch's message.
A differentiable in-place op (on a tensor that is part of a recorded graph, or writing a value
that requires grad) is not built yet: it raises NotImplementedError rather than give a wrong
gradient.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd import grad_mode
from ..autograd.grad_mode import no_grad

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


def check_inplace(t: Tensor, *others) -> None:
    """Refuse in-place ops PyTorch refuses, and those that would need to be recorded."""
    if t._extra and t._extra.get("inference") and not _state.inference:
        raise RuntimeError(_INFERENCE_MSG)
    if not _state.enabled:
        return
    b = t._base
    if b is not None and b._requires_grad and t._grad_fn is None:
        # a view made under no_grad of a tensor that requires grad
        raise RuntimeError(_NO_GRAD_VIEW_MSG)
    if t._requires_grad:
        if t._grad_fn is None:
            raise RuntimeError(_LEAF_MSG)
        if b is not None and b._grad_fn is None and b._requires_grad:
            raise RuntimeError(_VIEW_LEAF_MSG)
        _not_yet()
    for o in others:
        if isinstance(o, Tensor) and o._requires_grad:
            _not_yet()


def _not_yet():
    raise NotImplementedError(
        "tapegrad does not yet differentiate in-place operations on tensors that are part of "
        "a graph (this one would be recorded by PyTorch); it is not yet supported. Use the "
        "out-of-place form (y = y * 2 instead of y.mul_(2)), or make the change under "
        "tapegrad.no_grad() if it should not be recorded."
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


def write_result(t: Tensor, r: Tensor) -> Tensor:
    """Store r's values into t's storage (broadcast to t's shape, castable dtype) and bump
    t's version."""
    a = t._data
    ra = r._data
    if ra.shape != a.shape:
        _check_broadcast_into(a.shape, ra.shape)
    if r._dtype is not t._dtype and not D.can_cast(r._dtype, t._dtype):
        raise _cannot_cast(r._dtype, t._dtype)
    _check_writeable(a)
    with np.errstate(all="ignore"):
        np.copyto(a, ra, casting="unsafe")
    t._bump_version()
    return t


def write_array(t: Tensor, arr: np.ndarray) -> Tensor:
    """Store an array (already of a castable dtype and t's shape) into t and bump its version."""
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


def _inplace_binary(op_name):
    cname_msg = op_name.startswith("clamp")

    def op(self, other, *args, **kwargs):
        check_inplace(self, other)
        if isinstance(other, Tensor) and other._data.shape != self._data.shape:
            _check_broadcast_into(self._data.shape, other._data.shape)
        from .. import ops

        with no_grad():
            r = getattr(ops, op_name)(self, other, *args, **kwargs)
        if r._dtype is not self._dtype and not D.can_cast(r._dtype, self._dtype):
            raise _cannot_cast(r._dtype, self._dtype, cname_msg)
        return write_result(self, r)

    op.__name__ = op_name + "_"
    op.__qualname__ = "Tensor." + op.__name__
    op.__doc__ = f"In-place {op_name}: self = {op_name}(self, other)."
    return op


def _inplace_unary(op_name):
    cname_msg = op_name.startswith("clamp") or op_name.startswith("clip")

    def op(self, *args, **kwargs):
        check_inplace(self, *args, *kwargs.values())
        from .. import ops

        with no_grad():
            r = getattr(ops, op_name)(self, *args, **kwargs)
        if r._dtype is not self._dtype and not D.can_cast(r._dtype, self._dtype):
            raise _cannot_cast(r._dtype, self._dtype, cname_msg)
        return write_result(self, r)

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
INPLACE["absolute_"] = INPLACE["abs_"]


def zero_(self: Tensor) -> Tensor:
    """Fill with zeros in place.

    >>> import tapegrad
    >>> tapegrad.ones(2).zero_()
    tensor([0., 0.])
    """
    check_inplace(self)
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
    check_inplace(self, value)
    v = _fill_value(value, self._dtype, "fill_", self._data.size)
    _check_writeable(self._data)
    with np.errstate(all="ignore"):
        self._data[...] = v
    self._bump_version()
    return self


def copy_(self: Tensor, src, non_blocking: bool = False) -> Tensor:
    """Copy src's values (broadcast, cast to self's dtype) into self."""
    check_inplace(self, src)
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

    if _state.enabled and self._requires_grad and self._grad_fn is None and self._base is None:
        raise RuntimeError(_VIEW_LEAF_MSG if _makes_view(index) else _LEAF_MSG)
    check_inplace(self, value)
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
    ta = target._data
    with np.errstate(all="ignore"):
        if ta.size and np.shares_memory(ta, self._data) and ta.base is not None:
            np.copyto(ta, v, casting="unsafe")  # a view: write through it
        else:
            self._data[normalize_index(index, self)] = v
    self._bump_version()


# --- in-place shape changes -----------------------------------------------------------------
def _inplace_view(op_name):
    def op(self, *args):
        check_inplace(self)
        from .. import ops

        with no_grad():
            r = getattr(ops, op_name)(self, *args)
        self._data = r._data
        self._bump_version()
        return self

    op.__name__ = op_name + "_"
    op.__qualname__ = "Tensor." + op.__name__
    op.__doc__ = f"In-place {op_name} (changes this tensor's shape, not its values)."
    return op


def _random_methods() -> dict:
    from .. import _random

    return _random.METHODS


INPLACE.update({"zero_": zero_, "fill_": fill_, "copy_": copy_, "__setitem__": setitem})
INPLACE.update({n + "_": _inplace_view(n) for n in ("t", "transpose", "squeeze", "unsqueeze")})
INPLACE.update(_random_methods())
METHODS = INPLACE


def inplace_of(fn, name: str):
    """The in-place method `name` for tensors outside the graph: self = fn(self, ...)."""

    def op(self: Tensor, *args, **kwargs) -> Tensor:
        check_inplace(self, *args, *kwargs.values())
        with no_grad():
            r = fn(self, *args, **kwargs)
        return write_result(self, r)

    op.__name__ = name
    op.__qualname__ = "Tensor." + name
    op.__doc__ = f"In-place {name[:-1]} (tensors outside the graph)."
    return op

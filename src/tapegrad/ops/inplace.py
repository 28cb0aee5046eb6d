"""In-place ops on tensors outside the graph: the updates every training loop makes.

A differentiable in-place op (on a tensor that is part of a recorded graph) is not built yet:
it raises a clear error rather than give a wrong gradient. Every in-place op bumps the
version counter that saved-tensor checks read.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd import grad_mode
from ..autograd.grad_mode import no_grad

_state = grad_mode.state

__all__: list[str] = []  # internal helpers only; the ops are bound through METHODS


def check_inplace(t: Tensor, *others) -> None:
    """Refuse in-place ops that would need to be recorded in the graph."""
    if not _state.enabled:
        return
    if t._requires_grad:
        if t._grad_fn is None:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        b = t._base
        if b is not None and b._grad_fn is None and b._requires_grad:
            raise RuntimeError(
                "a view of a leaf Variable that requires grad is being used in an in-place "
                "operation."
            )
        _not_yet()
    for o in others:
        if isinstance(o, Tensor) and o._requires_grad:
            _not_yet()


def _not_yet():
    raise NotImplementedError(
        "tapegrad does not yet differentiate in-place operations on tensors that are part of "
        "a graph; use the out-of-place form (y = y * 2 instead of y.mul_(2))"
    )


def write_result(t: Tensor, r: Tensor) -> Tensor:
    """Store r's values into t's storage (same shape, castable dtype) and bump t's version."""
    a = t._data
    ra = r._data
    if ra.shape != a.shape:
        try:
            ra = np.broadcast_to(ra, a.shape)
        except ValueError:
            raise RuntimeError(
                f"output with shape [{', '.join(str(s) for s in a.shape)}] doesn't match the "
                f"broadcast shape [{', '.join(str(s) for s in r.shape)}]"
            ) from None
    if r._dtype is not t._dtype and not D.can_cast(r._dtype, t._dtype):
        raise RuntimeError(
            f"result type {r._dtype._short} can't be cast to the desired output type "
            f"{t._dtype._short}"
        )
    if not a.flags.writeable:
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )
    np.copyto(a, ra, casting="unsafe")
    t._bump_version()
    return t


def copy_out(out: Tensor, res: Tensor) -> Tensor:
    """Implement an op's out= argument: resize-free copy into out."""
    check_inplace(out, res)
    if out._data.shape != res._data.shape:
        out._data = np.empty(res._data.shape, dtype=out._data.dtype)
    return write_result(out, res)


def _inplace_binary(op_name):
    def op(self, other, *args, **kwargs):
        check_inplace(self, other)
        from .. import ops

        with no_grad():
            r = getattr(ops, op_name)(self, other, *args, **kwargs)
        return write_result(self, r)

    op.__name__ = op_name + "_"
    op.__doc__ = f"In-place {op_name}: self = {op_name}(self, other)."
    return op


def _inplace_unary(op_name):
    def op(self, *args, **kwargs):
        check_inplace(self)
        from .. import ops

        with no_grad():
            r = getattr(ops, op_name)(self, *args, **kwargs)
        return write_result(self, r)

    op.__name__ = op_name + "_"
    op.__doc__ = f"In-place {op_name}."
    return op


INPLACE_BINARY = ["add", "sub", "mul", "div", "pow", "remainder", "floor_divide", "maximum",
                  "minimum", "clamp_min", "clamp_max", "bitwise_and", "bitwise_or",
                  "bitwise_xor", "logical_and", "logical_or", "logical_xor"]
INPLACE_UNARY = ["neg", "abs", "sign", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin",
                 "cos", "tan", "tanh", "sigmoid", "relu", "reciprocal", "clamp", "sgn"]
INPLACE = {n + "_": _inplace_binary(n) for n in INPLACE_BINARY}
INPLACE.update({n + "_": _inplace_unary(n) for n in INPLACE_UNARY})
INPLACE["subtract_"] = INPLACE["sub_"]
INPLACE["multiply_"] = INPLACE["mul_"]
INPLACE["divide_"] = INPLACE["true_divide_"] = INPLACE["div_"]
INPLACE["clip_"] = INPLACE["clamp_"]
INPLACE["negative_"] = INPLACE["neg_"]
INPLACE["absolute_"] = INPLACE["abs_"]


def zero_(self: Tensor) -> Tensor:
    """Fill with zeros in place."""
    check_inplace(self)
    self._data[...] = 0
    self._bump_version()
    return self


def fill_(self: Tensor, value) -> Tensor:
    """Fill with one value in place."""
    check_inplace(self, value)
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(
                "fill_ only supports 0-dimension value tensor but got tensor with "
                f"{value._data.ndim} dimensions."
            )
        value = value._data
    self._data[...] = value
    self._bump_version()
    return self


def copy_(self: Tensor, src, non_blocking: bool = False) -> Tensor:
    """Copy src's values (broadcast, cast to self's dtype) into self."""
    check_inplace(self, src)
    sa = src._data if isinstance(src, Tensor) else np.asarray(src)
    try:
        b = np.broadcast_to(sa, self._data.shape)
    except ValueError:
        raise RuntimeError(
            f"The size of tensor a ({self._data.shape[-1] if self._data.ndim else 1}) must match "
            f"the size of tensor b ({sa.shape[-1] if sa.ndim else 1}) at non-singleton dimension "
            f"{max(self._data.ndim - 1, 0)}"
        ) from None
    if sa.dtype.kind == "c" and self._data.dtype.kind != "c":
        b = b.real
    np.copyto(self._data, b, casting="unsafe")
    self._bump_version()
    return self


def setitem(self: Tensor, index, value) -> None:
    """self[index] = value, for tensors outside the graph."""
    from .indexing import normalize_index

    check_inplace(self, value)
    v = value._data if isinstance(value, Tensor) else value
    if isinstance(v, np.ndarray) and v.dtype.kind == "c" and self._data.dtype.kind != "c":
        v = v.real
    self._data[normalize_index(index, self)] = v
    self._bump_version()


INPLACE.update({"zero_": zero_, "fill_": fill_, "copy_": copy_, "__setitem__": setitem})
METHODS = INPLACE

"""softmax and log_softmax along one dim, as primitives (SoftmaxBackward0, LogSoftmaxBackward0).

Both shift by the maximum along dim before exponentiating, so large inputs do not overflow.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap_dim
from ..autograd.graph import Node
from ._core import as_tensor_arg, new_node, save_out, wrap

__all__ = ["softmax", "log_softmax"]


class SoftmaxBackward0(Node):
    # y = softmax(x): dx = y * (g - sum(g * y))
    __slots__ = ("dim",)
    _saved_names, _saved_attrs = ("result",), {"dim": "dim"}

    def vjp(self, g):
        (out,) = self.saved_tensors()
        return out * (g - (g * out).sum(self.dim, keepdim=True))


class LogSoftmaxBackward0(Node):
    # y = log_softmax(x): dx = g - exp(y) * sum(g)
    __slots__ = ("dim",)
    _saved_names, _saved_attrs = ("result",), {"dim": "dim"}

    def vjp(self, g):
        (out,) = self.saved_tensors()
        return g - out.exp() * g.sum(self.dim, keepdim=True)


def _prepare(name, input, dim, dtype):
    input = as_tensor_arg(input)  # noqa: A001
    if dtype is not None and dtype is not input._dtype:
        input = input.to(dtype)  # noqa: A001 - recorded as ToCopyBackward0, as PyTorch does
    a = input._data
    d = _wrap_dim(dim, a.ndim)
    if input._dtype.category != D.FLOAT:
        kernel = "lastdim_kernel_impl" if d == a.ndim - 1 or a.ndim == 0 else "kernel_impl"
        raise NotImplementedError(
            f'"{name}_{kernel}" not implemented for \'{input._dtype._short}\''
        )
    return input, a, (d if a.ndim else None), d


def _shifted(a, axis):
    """a - max(a) along axis (nan for rows whose max is infinite, as in PyTorch)."""
    m = np.max(a, axis=axis, keepdims=True, initial=-np.inf) if a.size else 0
    return a - m


def softmax(input, dim: int, dtype=None) -> Tensor:  # noqa: A002
    """exp(x) / sum(exp(x)) along dim; dtype casts the input first.

    >>> import tapegrad
    >>> tapegrad.softmax(tapegrad.tensor([1., 2., 3.]), 0)
    tensor([0.0900, 0.2447, 0.6652])
    """
    input, a, axis, d = _prepare("softmax", input, dim, dtype)  # noqa: A001
    with np.errstate(all="ignore"):
        e = np.exp(_shifted(a, axis))
        r = e / e.sum(axis=axis, keepdims=True)
    node = new_node(SoftmaxBackward0, (input,))
    res = wrap(np.asarray(r, dtype=a.dtype), node)
    if node is not None:
        node.dim = d
        save_out(node, res)
    return res


def log_softmax(input, dim: int, dtype=None) -> Tensor:  # noqa: A002
    """x - log(sum(exp(x))) along dim, computed stably; dtype casts the input first.

    >>> import tapegrad
    >>> tapegrad.log_softmax(tapegrad.tensor([0., 1000.]), 0)
    tensor([-1000.,     0.])
    """
    input, a, axis, d = _prepare("log_softmax", input, dim, dtype)  # noqa: A001
    with np.errstate(all="ignore"):
        s = _shifted(a, axis)
        r = s - np.log(np.exp(s).sum(axis=axis, keepdims=True))
    node = new_node(LogSoftmaxBackward0, (input,))
    res = wrap(np.asarray(r, dtype=a.dtype), node)
    if node is not None:
        node.dim = d
        save_out(node, res)
    return res


METHODS = {"softmax": softmax, "log_softmax": log_softmax}

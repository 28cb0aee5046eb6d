"""Diagonals and triangles: diagonal (a view), diag_embed, diag, trace, tril, triu.

Reverse pairs (each rule is the other op on the gradient, so any order of derivative works):
  diagonal(x, k, d1, d2)          -> g placed on that diagonal of zeros (diagonal_backward)
  diagonal_backward(g, shape, ..) -> diagonal(gg, k, d1, d2)
  diag_embed(x, k, d1, d2)        -> diagonal(g, k, d1, d2)
  tril(x, k) / triu(x, k)         -> tril(g, k) / triu(g, k)
  trace(x)                        -> g * eye(n, m)
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap_dim
from ..autograd.graph import Node
from ._core import batched_cotangent, new_node, rebatch, wrap, wrap_view
from .matmul import _no_bool

__all__ = ["diagonal", "diag_embed", "diag", "trace", "tril", "triu"]

def _diag_view(a: np.ndarray, offset: int, d1: int, d2: int) -> np.ndarray:
    """The (offset, d1, d2) diagonal of a as a view, moved to the last dim (writeable when a
    is: NumPy marks its diagonals read-only only as a precaution)."""
    v = np.diagonal(a, offset, d1, d2)
    if a.flags.writeable:
        v.flags.writeable = True
    return v


def _diag_dims(ndim: int, dim1: int, dim2: int) -> tuple:
    d1, d2 = _wrap_dim(dim1, ndim), _wrap_dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return d1, d2


# --- diagonal ----------------------------------------------------------------------------
class DiagonalBackward0(Node):
    __slots__ = ("offset", "d1", "d2")

    def vjp(self, g):
        return diagonal_backward(g, self._in_meta[0][0], self.offset, self.d1, self.d2)


class DiagonalBackward0_copy(DiagonalBackward0):
    """torch.diag of a matrix: a copy of the diagonal (PyTorch's diagonal_copy)."""

    __slots__ = ()


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:  # noqa: A002
    """A view of the diagonal with respect to dim1 and dim2, appended as the last dim.

    >>> import tapegrad
    >>> tapegrad.arange(9.).reshape(3, 3).diagonal(1)
    tensor([1., 5.])
    """
    a = input._data
    d1, d2 = _diag_dims(a.ndim, dim1, dim2)
    offset = int(offset)
    node = new_node(DiagonalBackward0, (input,))
    if node is not None:
        node.offset, node.d1, node.d2 = offset, d1, d2
    return wrap_view(_diag_view(a, offset, d1, d2), input, node)


class DiagonalBackwardBackward0(Node):
    __slots__ = ("offset", "d1", "d2")

    def vjp(self, g):
        return diagonal(g, self.offset, self.d1, self.d2)


def diagonal_backward(g: Tensor, shape: tuple, offset: int, d1: int, d2: int) -> Tensor:
    """Zeros of `shape` with g written on the (offset, d1, d2) diagonal (diagonal's reverse)."""
    if type(g) is not Tensor:  # a batch of cotangents (vmap): one more leading dim
        b = batched_cotangent(g)
        if b is not None:
            return rebatch(diagonal_backward(b[0], (b[0].shape[0],) + tuple(shape), offset,
                                             d1 + 1, d2 + 1), b[1])
    out = np.zeros(shape, dtype=g._data.dtype)
    _diag_view(out, offset, d1, d2)[...] = g._data
    node = new_node(DiagonalBackwardBackward0, (g,))
    if node is not None:
        node.offset, node.d1, node.d2 = offset, d1, d2
    return wrap(out, node)


# --- diag_embed / diag -------------------------------------------------------------------
class DiagEmbedBackward0(Node):
    __slots__ = ("offset", "d1", "d2")

    def vjp(self, g):
        return diagonal(g, self.offset, self.d1, self.d2)


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: A002
    """Matrices (in dims dim1, dim2) whose offset-diagonal is input's last dimension.

    >>> import tapegrad
    >>> tapegrad.diag_embed(tapegrad.tensor([1., 2.]))
    tensor([[1., 0.],
            [0., 2.]])
    """
    a = input._data
    nd = a.ndim + 1
    d1, d2 = _diag_dims(nd, dim1, dim2)
    offset = int(offset)
    n = a.shape[-1] + abs(offset)
    rest = iter(a.shape[:-1])
    shape = tuple(n if i in (d1, d2) else next(rest) for i in range(nd))
    out = np.zeros(shape, dtype=a.dtype)
    _diag_view(out, offset, d1, d2)[...] = a
    node = new_node(DiagEmbedBackward0, (input,))
    if node is not None:
        node.offset, node.d1, node.d2 = offset, d1, d2
    return wrap(out, node)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002
    """A square matrix with the 1-D input on its diagonal-th diagonal, or a copy of the
    diagonal-th diagonal of a matrix.

    >>> import tapegrad
    >>> tapegrad.diag(tapegrad.tensor([[1., 2.], [3., 4.]]))
    tensor([1., 4.])
    """
    a = input._data
    if a.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if a.ndim != 2:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {a.ndim}D")
    k = int(diagonal)
    node = new_node(DiagonalBackward0_copy, (input,))
    if node is not None:
        node.offset, node.d1, node.d2 = k, 0, 1
    return wrap(np.array(_diag_view(a, k, 0, 1)), node)


# --- trace -------------------------------------------------------------------------------
class TraceBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        from .._creation import eye

        n, m = self._in_meta[0][0]
        return g * eye(n, m, dtype=g.dtype)


def trace(input: Tensor) -> Tensor:  # noqa: A002
    """Sum of the main diagonal of a matrix (integers sum to int64, as sum does).

    >>> import tapegrad
    >>> tapegrad.trace(tapegrad.tensor([[1., 2.], [3., 4.]]))
    tensor(5.)
    """
    a = input._data
    if a.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {a.ndim}")
    _no_bool(a, "trace")
    dt = input._dtype
    if dt.category < D.FLOAT:
        return wrap(np.asarray(np.trace(a, dtype=np.int64)))
    return wrap(np.asarray(np.trace(a), dtype=a.dtype), new_node(TraceBackward0, (input,)))


# --- tril / triu -------------------------------------------------------------------------
class TrilBackward0(Node):
    __slots__ = ("k",)

    def vjp(self, g):
        return tril(g, self.k)


class TriuBackward0(Node):
    __slots__ = ("k",)

    def vjp(self, g):
        return triu(g, self.k)


def _tri(input: Tensor, k, name: str, np_fn, cls) -> Tensor:
    a = input._data
    if a.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
    k = int(k)
    node = new_node(cls, (input,))
    if node is not None:
        node.k = k
    return wrap(np_fn(a, k), node)


def tril(input: Tensor, diagonal: int = 0, *, out=None) -> Tensor:  # noqa: A002
    """The lower triangle (on and below the diagonal-th diagonal) of the last two dims.

    >>> import tapegrad
    >>> tapegrad.tril(tapegrad.ones(2, 2))
    tensor([[1., 0.],
            [1., 1.]])
    """
    res = _tri(input, diagonal, "tril", np.tril, TrilBackward0)
    return res if out is None else _out(out, res)


def triu(input: Tensor, diagonal: int = 0, *, out=None) -> Tensor:  # noqa: A002
    """The upper triangle (on and above the diagonal-th diagonal) of the last two dims.

    >>> import tapegrad
    >>> tapegrad.triu(tapegrad.ones(2, 2))
    tensor([[1., 1.],
            [0., 1.]])
    """
    res = _tri(input, diagonal, "triu", np.triu, TriuBackward0)
    return res if out is None else _out(out, res)


def _out(out, res):
    from .inplace import copy_out

    return copy_out(out, res)


def _inplace(fn):
    def op(self: Tensor, diagonal: int = 0) -> Tensor:
        from .inplace import apply_inplace

        return apply_inplace(self, fn, (diagonal,))

    op.__name__ = op.__qualname__ = fn.__name__ + "_"
    op.__doc__ = f"In-place {fn.__name__}."
    return op


METHODS = {
    "diagonal": diagonal, "diag_embed": diag_embed, "diag": diag, "trace": trace,
    "tril": tril, "triu": triu, "tril_": _inplace(tril), "triu_": _inplace(triu),
}

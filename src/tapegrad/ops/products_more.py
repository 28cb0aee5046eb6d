"""inner, dist and diagflat, composed as PyTorch composes them (so their nodes match) except
dist, a primitive with its own rule:

  dist(x, y, p) = ||x - y||_p over all elements (x, y broadcast together)
  d/dx = the p-norm's gradient at x - y (its subgradient conventions), d/dy = minus that
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make, _tp_name
from ..autograd.graph import Node
from ._core import binary_operands, node2, save_out
from ._math_args import _check_shapes, _need_tensor

__all__ = ["inner", "dist", "diagflat"]


def _shape_str(s) -> str:
    return "[" + ", ".join(str(v) for v in s) + "]"


def inner(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Sum of products over the last dimension of both (a product when either is 0-d).

    >>> import tapegrad
    >>> tapegrad.inner(tapegrad.tensor([1., 2.]), tapegrad.tensor([3., 4.]))
    tensor(11.)
    """
    from .linalg_basic import tensordot

    _need_tensor("inner", input, other)
    if input._data.ndim == 0 or other._data.ndim == 0:
        res = input * other
    else:
        sa, sb = input._data.shape, other._data.shape
        if sa[-1] != sb[-1]:
            raise RuntimeError("inner() the last dimension must match on both input tensors but "
                               f"got shapes {_shape_str(sa)} and {_shape_str(sb)}")
        res = tensordot(input, other, dims=([-1], [-1]))
    if out is not None:
        from .inplace import copy_out

        return copy_out(out, res)
    return res


class DistBackward0(Node):
    __slots__ = ("p",)

    def vjp(self, g):
        from .math_more import _norm_vjp
        from .reduction import reduce_dims

        out, x, y = self.saved_tensors()
        d = x - y
        dims = reduce_dims(None, d.ndim)
        gd = _norm_vjp(g.reshape((1,) * d.ndim), d, out.reshape((1,) * d.ndim), self.p, dims)
        if gd is None:  # p == 0: the count of non-zeros has no gradient
            gd = d.new_zeros(tuple(d.shape))
        nx, ny = self._next
        return (gd if nx[0] is not None else None), (-gd if ny[0] is not None else None)


def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:  # noqa: A002
    """The p-norm of input - other (broadcast together).

    >>> import tapegrad
    >>> tapegrad.dist(tapegrad.tensor([1., 2.]), tapegrad.tensor([4., 6.]))
    tensor(5.)
    """
    from .reduction_norm import _vector_norm_np

    _need_tensor("dist", input, other)
    _check_shapes(input, other)
    xa, ya, dt = binary_operands(input, other)
    if dt.category < D.FLOAT:
        raise RuntimeError("norm(): input dtype should be either floating point or complex. Got "
                           f"{dt._short} instead.")
    if isinstance(p, Tensor):
        p = p.item()
    if isinstance(p, (bool, str)) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"dist(): argument 'p' (position 3) must be Number, not {_tp_name(p)}")
    p = float(p)
    diff = np.asarray(np.subtract(xa, ya, dtype=dt.np))
    with np.errstate(all="ignore"):
        r = np.asarray(_vector_norm_np(diff, p, None, False)).astype(
            diff.real.dtype if diff.dtype.kind == "c" else diff.dtype)
    node = node2(DistBackward0, input, other)
    if node is None:
        return _make(r)
    res = _make(r, node, True)
    node.p = p
    save_out(node, res, input, other)
    return res


def diagflat(input: Tensor, offset: int = 0) -> Tensor:  # noqa: A002
    """A matrix with the flattened input on its offset-th diagonal.

    >>> import tapegrad
    >>> tapegrad.diagflat(tapegrad.tensor([[1., 2.]]))
    tensor([[1., 0.],
            [0., 2.]])
    """
    from .linalg_diag import diag_embed

    if isinstance(offset, (bool, float, np.bool_)) or not isinstance(offset, (int, np.integer)):
        raise TypeError(f"diagflat(): argument 'offset' (position 2) must be int, not "
                        f"{_tp_name(offset)}")
    return diag_embed(input.contiguous().view(-1), int(offset), 0, 1)


METHODS = {"inner": inner, "dist": dist, "diagflat": diagflat}

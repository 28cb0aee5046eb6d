"""Vector norms: `norm` (Tensor.norm, tapegrad.norm) over the primitive `vector_norm`
(torch.linalg.vector_norm, node LinalgVectorNormBackward0) for any order p."""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import as_tensor_arg, new_node, save_out, wrap
from .binary import where
from .reduction import reduce_dims, restore_dims

__all__ = ["norm"]

_int_types = (int, np.integer)
_INF = math.inf


def _axis(a, dims):
    """NumPy axis for reducing `dims` of a (None for a 0-dim array)."""
    return dims if a.ndim else None


def _ord_str(p) -> str:
    if not math.isinf(p) and p == int(p):
        return str(int(p))
    return str(p)


class LinalgVectorNormBackward0(Node):
    """Gradient of ||x||_p over dims, with PyTorch's subgradients at zero:
    p=2: x / norm (0 where norm == 0); p=1: sgn(x); p=inf: sgn(x) on the elements equal to the
    norm, ties sharing; p=0: no gradient; 0<p<1: 0 at x == 0; other p: 0 where norm == 0."""

    __slots__ = ("ord", "dims", "keepdim")

    def vjp(self, g):
        out, x = self.saved_tensors()
        p = self.ord
        if p == 0:
            return None
        shape = self._in_meta[0][0]
        g = restore_dims(g, shape, self.dims, self.keepdim)
        norm = restore_dims(out, shape, self.dims, self.keepdim)
        if p == 1:
            return x.sgn() * g
        if p == 2:
            return g * where(norm == 0, 0.0, x / norm)
        if math.isinf(p):
            xa = x.abs()
            mask = (xa == norm) | xa.isnan()
            cnt = mask.sum(self.dims, keepdim=True) if shape else mask
            return x.sgn() * ((g / cnt) * mask)
        if p < 1:
            scaled = x.sgn() * where(x == 0, 0.0, x.abs().pow(p - 1))
            return scaled * g * norm.pow(1 - p)
        scale = where(norm == 0, 0.0, g / norm.pow(p - 1))
        if p < 2:
            return x.sgn() * x.abs().pow(p - 1) * scale
        return x * x.abs().pow(p - 2) * scale


def _vector_norm_np(a, p, axis, keepdim):
    ab = np.abs(a)
    if p == 2:
        return np.sqrt((ab * ab).sum(axis=axis, keepdims=keepdim))
    if p == 1:
        return ab.sum(axis=axis, keepdims=keepdim)
    if p == _INF:
        return ab.max(axis=axis, keepdims=keepdim, initial=0)
    if p == -_INF:
        return ab.min(axis=axis, keepdims=keepdim, initial=_INF)
    if p == 0:
        return (ab != 0).sum(axis=axis, keepdims=keepdim).astype(ab.dtype)
    return (ab ** p).sum(axis=axis, keepdims=keepdim) ** (1.0 / p)


def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """The p-norm of x over dim (all elements by default), as torch.linalg.vector_norm.

    >>> import tapegrad
    >>> tapegrad.ops.reduction_norm.vector_norm(tapegrad.tensor([3., -4.]))
    tensor(5.)
    """
    x = as_tensor_arg(x)
    if x._dtype.category < D.FLOAT:
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {x._dtype._short}")
    a = x._data
    if dtype is not None:
        if dtype.category < D.FLOAT:
            raise RuntimeError("linalg.vector_norm: dtype should be floating point or complex, "
                               f"but got {dtype._short}")
        a = a.astype(dtype.np)
    p = float(ord)
    if isinstance(dim, _int_types):
        dim = (dim,)
    dims = reduce_dims(dim, a.ndim)
    if a.size == 0 and (p < 0 or p == _INF):
        if not dim:
            raise RuntimeError(f"linalg.vector_norm cannot compute the {_ord_str(p)} norm on an "
                               "empty tensor because the operation does not have an identity")
        for d in dims:
            if a.shape[d] == 0:
                raise RuntimeError(
                    f"linalg.vector_norm cannot compute the {_ord_str(p)} norm on the dimension "
                    f"{d}because this dimension is empty and the operation does not have an "
                    "identity")
    with np.errstate(all="ignore"):
        r = np.asarray(_vector_norm_np(a, p, _axis(a, dims), keepdim))
    if r.dtype != a.dtype and not np.iscomplexobj(a):
        r = r.astype(a.dtype)
    node = new_node(LinalgVectorNormBackward0, (x,))
    res = wrap(r, node)
    if node is not None:
        node.ord, node.dims, node.keepdim = p, dims, keepdim
        save_out(node, res, x)
    return res


def norm(input, p="fro", dim=None, keepdim: bool = False, out=None, dtype=None) -> Tensor:  # noqa: A002
    """The norm of input: Frobenius / 2-norm by default, or any vector p-norm over dim.

    >>> import tapegrad
    >>> tapegrad.tensor([[3., 0.], [0., -4.]]).norm()
    tensor(5.)
    """
    input = as_tensor_arg(input)  # noqa: A001
    if isinstance(p, str):
        if p == "fro" and (dim is None or isinstance(dim, _int_types) or len(dim) <= 2):
            res = vector_norm(input, 2, dim, keepdim, dtype=dtype)
        else:
            res = _matrix_norm(input, p, dim, keepdim, dtype)
    else:
        res = vector_norm(input, 2.0 if p is None else p, dim, keepdim, dtype=dtype)
    if out is not None:
        from .inplace import copy_out

        return copy_out(out, res)
    return res


def _matrix_norm(input, p, dim, keepdim, dtype):
    dims = tuple(range(input.ndim)) if dim is None else tuple(dim)
    if input.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 "
                           "dimensions.")
    if len(dims) != 2:
        raise RuntimeError("linalg.matrix_norm: dim must be a 2-tuple. Got "
                           + " ".join(str(d) for d in dims))
    if p not in ("fro", "nuc"):
        raise RuntimeError(f"linalg.matrix_norm: Order {p} not supported.")
    import tapegrad

    linalg = getattr(tapegrad, "linalg", None)
    if linalg is None or not hasattr(linalg, "matrix_norm"):
        raise NotImplementedError("tapegrad: the nuclear norm needs tapegrad.linalg.matrix_norm")
    return linalg.matrix_norm(input, p, dims, keepdim, dtype=dtype)


METHODS = {"norm": norm}

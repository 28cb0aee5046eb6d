"""Products built on matrix multiplication: addmm, addmv, addr, addbmm, baddbmm (primitives),
tensordot, kron, matrix_power, chain_matmul (composed as PyTorch composes them, so their grad_fn
names are PyTorch's). cross and cdist are in linalg_dist.py.

Rules (alpha, beta scalars; conjugates are no-ops on real tensors):
  addmm   out = beta C + alpha A B       gC = beta g   gA = alpha g B^H     gB = alpha A^H g
  addmv   out = beta c + alpha A v       gc = beta g   gA = alpha g v^H     gv = alpha A^H g
  addr    out = beta C + alpha u v^T     gC = beta g   gu = alpha g conj(v) gv = alpha g^T conj(u)
  baddbmm out = beta C + alpha A_b B_b   as addmm, batch by batch
  addbmm  out = beta C + alpha sum_b A_b B_b: g is shared by every batch
(the engine sums gradients of a broadcast input back to its shape)
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap_dim
from ..autograd.graph import Node
from ._core import as_tensor_arg, new_node, save, wrap
from ._linalg_util import check_square
from .matmul import _conj, _dims, _h, _no_bool, _unsafe_view, bmm, matmul, mm, mv
from .shape import expand

__all__ = ["addmm", "addmv", "addr", "addbmm", "baddbmm", "tensordot", "kron", "matrix_power",
           "chain_matmul"]

_COMPLEX = D.COMPLEX


def _scale(t: Tensor, s) -> Tensor:
    return t if s == 1 else t * _conj_scalar(s)


def _conj_scalar(s):
    return s.conjugate() if isinstance(s, complex) else s


def _broadcast_input(c: Tensor, shape: tuple) -> np.ndarray:
    a = c._data
    if a.shape == shape:
        return a
    try:
        return np.broadcast_to(a, shape)
    except ValueError:
        from ..autograd.grad_mode import no_grad

        with no_grad():
            expand(c, shape)  # raises PyTorch's message
        raise


def _combine(c: Tensor, prod: np.ndarray, beta, alpha) -> np.ndarray:
    """beta * c + alpha * prod, ignoring c (even its nan) when beta == 0."""
    if alpha != 1:
        prod = prod * alpha
    if beta == 0:
        return np.asarray(prod, dtype=prod.dtype)
    ca = _broadcast_input(c, prod.shape)
    r = prod + (ca if beta == 1 else ca * beta)
    return np.asarray(r, dtype=prod.dtype)


def _check_int_scalars(dt, beta, alpha) -> None:
    if dt.category < D.FLOAT and (isinstance(alpha, float) or isinstance(beta, float)):
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating "
                           "point number.")


class _AddProdNode(Node):
    __slots__ = ("beta", "alpha")


# --- addmm / baddbmm ---------------------------------------------------------------------
class AddmmBackward0(_AddProdNode):
    __slots__ = ()

    def vjp(self, g):
        a, b = self.saved_tensors()
        nc, na, nb = self._next
        gc = _scale(g, self.beta) if nc[0] is not None else None
        ga = _scale(mm(g, _h(b)), self.alpha) if na[0] is not None else None
        gb = _scale(mm(_h(a), g), self.alpha) if nb[0] is not None else None
        return gc, ga, gb


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:  # noqa: A002
    """beta * input + alpha * (mat1 @ mat2), input broadcast to the product's shape.

    >>> import tapegrad
    >>> tapegrad.addmm(tapegrad.ones(2), tapegrad.ones(2, 3), tapegrad.ones(3, 2))
    tensor([[4., 4.],
            [4., 4.]])
    """
    input = as_tensor_arg(input)  # noqa: A001
    a, b = mat1._data, mat2._data
    if a.ndim != 2:
        raise RuntimeError(f"mat1 must be a matrix, got {a.ndim}-D tensor")
    if b.ndim != 2:
        raise RuntimeError(f"mat2 must be a matrix, got {b.ndim}-D tensor")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({_dims(a.shape)} and "
                           f"{_dims(b.shape)})")
    if mat1._dtype is not mat2._dtype:
        raise RuntimeError("mat1 and mat2 must have the same dtype, but got "
                           f"{mat1._dtype._short} and {mat2._dtype._short}")
    if input._dtype is not mat2._dtype:
        raise RuntimeError("self and mat2 must have the same dtype, but got "
                           f"{input._dtype._short} and {mat2._dtype._short}")
    _no_bool(a, "addmm_impl_cpu_")
    _check_int_scalars(input._dtype, beta, alpha)
    r = _combine(input, a @ b, beta, alpha)
    node = new_node(AddmmBackward0, (input, mat1, mat2))
    if node is not None:
        node.beta, node.alpha = beta, alpha
        save(node, mat1, mat2)
    return _maybe_out(wrap(r, node), out)


class BaddbmmBackward0(_AddProdNode):
    __slots__ = ()

    def vjp(self, g):
        a, b = self.saved_tensors()
        nc, na, nb = self._next
        gc = _scale(g, self.beta) if nc[0] is not None else None
        ga = _scale(bmm(g, _h(b)), self.alpha) if na[0] is not None else None
        gb = _scale(bmm(_h(a), g), self.alpha) if nb[0] is not None else None
        return gc, ga, gb


class AddbmmBackward0(_AddProdNode):
    __slots__ = ()

    def vjp(self, g):
        a, b = self.saved_tensors()
        nc, na, nb = self._next
        gc = _scale(g, self.beta) if nc[0] is not None else None
        ge = None
        if na[0] is not None or nb[0] is not None:
            ge = expand(g.unsqueeze(0), (a._data.shape[0],) + tuple(g.shape))
        ga = _scale(bmm(ge, _h(b)), self.alpha) if na[0] is not None else None
        gb = _scale(bmm(_h(a), ge), self.alpha) if nb[0] is not None else None
        return gc, ga, gb


def _check_bmm(a: np.ndarray, b: np.ndarray) -> None:
    if a.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if b.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError("batch1 and batch2 must have same number of batches, got "
                           f"{a.shape[0]} and {b.shape[0]}")
    if a.shape[2] != b.shape[1]:
        raise RuntimeError(f"Incompatible matrix sizes for bmm ({a.shape[1]}x{a.shape[2]} and "
                           f"{b.shape[1]}x{b.shape[2]})")


def _bmm_dtypes(input, b1, b2) -> None:
    for t in (b1, b2):
        if t._dtype is not input._dtype:
            raise RuntimeError(
                f"expected scalar type {input._dtype._short} but found {t._dtype._short}")


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1,  # noqa: A002
            out=None) -> Tensor:
    """beta * input + alpha * bmm(batch1, batch2).

    >>> import tapegrad
    >>> tapegrad.baddbmm(tapegrad.zeros(1), tapegrad.ones(2, 1, 3), tapegrad.ones(2, 3, 1))
    tensor([[[3.]],
    <BLANKLINE>
            [[3.]]])
    """
    input = as_tensor_arg(input)  # noqa: A001
    a, b = batch1._data, batch2._data
    _check_bmm(a, b)
    _bmm_dtypes(input, batch1, batch2)
    _no_bool(a, "baddbmm")
    _check_int_scalars(input._dtype, beta, alpha)
    r = _combine(input, np.matmul(a, b), beta, alpha)
    node = new_node(BaddbmmBackward0, (input, batch1, batch2))
    if node is not None:
        node.beta, node.alpha = beta, alpha
        save(node, batch1, batch2)
    return _maybe_out(wrap(r, node), out)


def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1,  # noqa: A002
           out=None) -> Tensor:
    """beta * input + alpha * sum over the batch of batch1[i] @ batch2[i].

    >>> import tapegrad
    >>> tapegrad.addbmm(tapegrad.zeros(1), tapegrad.ones(2, 1, 3), tapegrad.ones(2, 3, 1))
    tensor([[6.]])
    """
    input = as_tensor_arg(input)  # noqa: A001
    a, b = batch1._data, batch2._data
    _check_bmm(a, b)
    _bmm_dtypes(input, batch1, batch2)
    _no_bool(a, "addbmm")
    _check_int_scalars(input._dtype, beta, alpha)
    prod = np.matmul(a, b).sum(0) if a.shape[0] else np.zeros(
        (a.shape[1], b.shape[2]), dtype=a.dtype)
    r = _combine(input, np.asarray(prod, dtype=a.dtype), beta, alpha)
    node = new_node(AddbmmBackward0, (input, batch1, batch2))
    if node is not None:
        node.beta, node.alpha = beta, alpha
        save(node, batch1, batch2)
    return _maybe_out(wrap(r, node), out)


# --- addmv / addr ------------------------------------------------------------------------
class AddmvBackward0(_AddProdNode):
    __slots__ = ()

    def vjp(self, g):
        a, v = self.saved_tensors()
        nc, na, nv = self._next
        gc = _scale(g, self.beta) if nc[0] is not None else None
        ga = _scale(g.unsqueeze(1) * _conj(v), self.alpha) if na[0] is not None else None
        gv = _scale(mv(_h(a), g), self.alpha) if nv[0] is not None else None
        return gc, ga, gv


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:  # noqa: A002
    """beta * input + alpha * (mat @ vec).

    >>> import tapegrad
    >>> tapegrad.addmv(tapegrad.ones(2), tapegrad.ones(2, 3), tapegrad.ones(3))
    tensor([4., 4.])
    """
    input = as_tensor_arg(input)  # noqa: A001
    a, v = mat._data, vec._data
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input._data.ndim}, "
                           f"{a.ndim}, {v.ndim}")
    c = input._data
    if a.shape[1] != v.shape[0] or c.ndim > 1 or (c.ndim == 1 and c.shape[0] not in
                                                  (1, a.shape[0])):
        raise RuntimeError(
            f"size mismatch, got input ({_dims(c.shape)}), mat ({_dims(a.shape)}), "
            f"vec ({v.shape[0]})")
    for t in (mat, vec):
        if t._dtype is not input._dtype:
            raise RuntimeError(
                f"expected scalar type {input._dtype._short} but found {t._dtype._short}")
    _no_bool(a, "addmv_impl_cpu")
    _check_int_scalars(input._dtype, beta, alpha)
    r = _combine(input, a @ v, beta, alpha)
    node = new_node(AddmvBackward0, (input, mat, vec))
    if node is not None:
        node.beta, node.alpha = beta, alpha
        save(node, mat, vec)
    return _maybe_out(wrap(r, node), out)


class AddrBackward0(_AddProdNode):
    __slots__ = ()

    def vjp(self, g):
        u, v = self.saved_tensors()
        nc, nu, nv = self._next
        gc = _scale(g, self.beta) if nc[0] is not None else None
        gu = _scale(mv(g, _conj(v)), self.alpha) if nu[0] is not None else None
        gv = _scale(mv(g.t(), _conj(u)), self.alpha) if nv[0] is not None else None
        return gc, gu, gv


def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:  # noqa: A002
    """beta * input + alpha * outer(vec1, vec2).

    >>> import tapegrad
    >>> tapegrad.addr(tapegrad.zeros(2, 2), tapegrad.tensor([1., 2.]), tapegrad.ones(2))
    tensor([[1., 1.],
            [2., 2.]])
    """
    input = as_tensor_arg(input)  # noqa: A001
    u, v = vec1._data, vec2._data
    if u.ndim != 1:
        raise RuntimeError(f"addr: Expected 1-D argument vec1, but got {u.ndim}-D")
    if v.ndim != 1:
        raise RuntimeError(f"addr: Expected 1-D argument vec2, but got {v.ndim}-D")
    for t in (vec1, vec2):
        if t._dtype is not input._dtype:
            raise RuntimeError(
                f"expected scalar type {input._dtype._short} but found {t._dtype._short}")
    if input._dtype is D.bool:
        prod = np.logical_and.outer(u, v)
        r = prod if beta == 0 else (prod & bool(alpha)) | (_broadcast_input(input, prod.shape)
                                                          & bool(beta))
        return _maybe_out(wrap(np.asarray(r)), out)
    _check_int_scalars(input._dtype, beta, alpha)
    r = _combine(input, np.multiply.outer(u, v), beta, alpha)
    node = new_node(AddrBackward0, (input, vec1, vec2))
    if node is not None:
        node.beta, node.alpha = beta, alpha
        save(node, vec1, vec2)
    return _maybe_out(wrap(r, node), out)


def _maybe_out(res: Tensor, out):
    if out is None:
        return res
    from .inplace import copy_out

    return copy_out(out, res)


# --- tensordot / kron --------------------------------------------------------------------
def _dims_lists(a: Tensor, b: Tensor, dims) -> tuple:
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, (int, np.integer)):
        k = int(dims)
        if k < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={k}")
        if k > a._data.ndim or k > b._data.ndim:
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={k}")
        return list(range(-k, 0)), list(range(k))
    d1, d2 = dims
    d1 = [d1] if isinstance(d1, (int, np.integer)) else list(d1)
    d2 = [d2] if isinstance(d2, (int, np.integer)) else list(d2)
    return [int(d) for d in d1], [int(d) for d in d2]


def tensordot(a: Tensor, b: Tensor, dims=2, out=None) -> Tensor:
    """Contract the last `dims` dims of a with the first of b, or the dims listed in
    dims = (dims_a, dims_b); computed as permute, reshape, mm, reshape (as PyTorch).

    >>> import tapegrad
    >>> tapegrad.tensordot(tapegrad.ones(2, 3), tapegrad.ones(3, 4), dims=1).shape
    tapegrad.Size([2, 4])
    """
    dims1, dims2 = _dims_lists(a, b, dims)
    if len(dims1) != len(dims2):
        raise RuntimeError("both dimension lists should have same length")
    if a._dtype is not b._dtype:
        raise RuntimeError("both inputs should have same dtype")
    na, nb = a._data.ndim, b._data.ndim
    orig1, orig2 = dims1, dims2
    dims1 = [_wrap_dim(d, na) for d in dims1]
    dims2 = [_wrap_dim(d, nb) for d in dims2]
    t1, t2 = a, b
    csize = 1
    for d1, d2, o1, o2 in zip(dims1, dims2, orig1, orig2):
        s1, s2 = a._data.shape[d1], b._data.shape[d2]
        if s2 == 1:
            t1 = t1.sum(d1, keepdim=True)
        elif s1 == 1:
            t2 = t2.sum(d2, keepdim=True)
        elif s1 != s2:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {s1} in "
                               f"dim {o1} and second has size {s2} in dim {o2}")
        else:
            csize *= s1
    free1 = [i for i in range(na) if i not in dims1]
    free2 = [i for i in range(nb) if i not in dims2]
    size1 = math.prod(t1._data.shape[i] for i in free1)
    size2 = math.prod(t2._data.shape[i] for i in free2)
    rsizes = [t1._data.shape[i] for i in free1] + [t2._data.shape[i] for i in free2]
    t1 = t1.permute(free1 + dims1).reshape(size1, csize)
    t2 = t2.permute(dims2 + free2).reshape(csize, size2)
    return _maybe_out(mm(t1, t2).reshape(rsizes), out)


def kron(input: Tensor, other: Tensor, *, out=None) -> Tensor:  # noqa: A002
    """Kronecker product: blocks input[i, j] * other (leading dims padded with 1).

    >>> import tapegrad
    >>> tapegrad.kron(tapegrad.tensor([1., 2.]), tapegrad.tensor([1., 10.]))
    tensor([ 1., 10.,  2., 20.])
    """
    sa, sb = input._data.shape, other._data.shape
    n = max(len(sa), len(sb))
    pa, pb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    ra, rb, rr = [], [], []
    for x, y in zip(pa, pb):
        ra += [x, 1]
        rb += [1, y]
        rr.append(x * y)
    r = _unsafe_view(_unsafe_view(input, tuple(ra)) * _unsafe_view(other, tuple(rb)), tuple(rr))
    return _maybe_out(r, out)


# --- matrix_power / chain_matmul ---------------------------------------------------------
class CopyBackwards(Node):
    """The copy_ of the identity into a clone of A (matrix_power with n = 0): no gradient
    reaches A through it, only zeros."""

    __slots__ = ()

    def name(self) -> str:
        return "tapegrad::autograd::CopyBackwards"

    def vjp(self, g):
        from .._creation import zeros

        return zeros(self._in_meta[0][0], dtype=g.dtype)


def matrix_power(input: Tensor, n: int) -> Tensor:  # noqa: A002
    """input @ input @ ... (n factors) for a square matrix or batch; n = 0 gives the identity,
    n < 0 powers of the inverse. Computed by repeated squaring, as PyTorch.

    >>> import tapegrad
    >>> tapegrad.matrix_power(tapegrad.tensor([[1., 1.], [0., 1.]]), 3)
    tensor([[1., 3.],
            [0., 1.]])
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError("linalg_matrix_power(): argument 'n' (position 2) must be int, not "
                        f"{type(n).__name__}")
    check_square("linalg.matrix_power", input)
    n = int(n)
    if n == 0:
        a = input._data
        r = np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape).copy()
        return wrap(r, new_node(CopyBackwards, (input,)))
    if n == 1:
        return input.clone()
    from .linalg_decomp import inv

    if n == -1:
        return inv(input)
    a = inv(input) if n < 0 else input
    n = abs(n)
    if n == 2:
        return matmul(a, a)
    if n == 3:
        return matmul(matmul(a, a), a)
    z = result = None
    while n > 0:
        bit = n % 2
        n //= 2
        z = a if z is None else matmul(z, z)
        if bit:
            result = z if result is None else matmul(result, z)
    return result


def chain_matmul(*matrices, out=None) -> Tensor:
    """Deprecated: the product of the matrices, as linalg.multi_dot (one matrix: a copy)."""
    warnings.warn(
        "tapegrad.chain_matmul is deprecated and will be removed in a future PyTorch release. "
        "Use tapegrad.linalg.multi_dot instead, which accepts a list of two or more tensors "
        "rather than multiple parameters.", UserWarning, stacklevel=2)
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    if len(matrices) == 1:
        return _maybe_out(matrices[0].clone(), out)
    from .linalg_misc import multi_dot

    return _maybe_out(multi_dot(matrices), out)


def _inplace(fn):
    def op(self: Tensor, *args, **kwargs) -> Tensor:
        from .inplace import apply_inplace

        return apply_inplace(self, fn, args, kwargs)

    op.__name__ = op.__qualname__ = fn.__name__ + "_"
    op.__doc__ = f"In-place {fn.__name__}."
    return op


METHODS = {
    "addmm": addmm, "addmv": addmv, "addr": addr, "addbmm": addbmm, "baddbmm": baddbmm,
    "addmm_": _inplace(addmm), "addmv_": _inplace(addmv), "addr_": _inplace(addr),
    "addbmm_": _inplace(addbmm), "baddbmm_": _inplace(baddbmm),
    "kron": kron, "matrix_power": matrix_power,
}

"""Determinants, inverses and linear solves: linalg.det, slogdet, logdet, linalg.inv / inv_ex
(torch.inverse), linalg.solve / solve_ex, linalg.solve_triangular. Batched over leading dims.

Rules (A^H the conjugate transpose; every rule is written in tapegrad ops, through solve / inv
whose own rules exist, so second derivatives work):
  det        d = det(A)       gA = (g conj(d)) A^{-H}; when some
             det is exactly 0, the cofactor matrix from the SVD A = U S V^H:
             gA = g conj(det U det V^H) U diag(prod_{j != i} s_j) V^H
  slogdet    (sign, log|det|) gA = g_log A^{-H} (the sign is locally constant for real A; for
             complex A its gradient adds i Im(g_sign conj(sign)) to g_log)
  inv        X = A^{-1}       gA = -X^H g X^H
  solve      X = A^{-1} B     gB = A^{-H} g,  gA = -gB X^H   (left=False: X = B A^{-1},
                              gB = g A^{-H},  gA = -X^H gB)
  solve_triangular            the same with triangular solves, gA kept on A's triangle
"""

# ruff: noqa: N803, N806  (PyTorch's argument names: A, B)
from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .. import return_types as rt
from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import batched_cotangent, new_node, rebatch, save_out, wrap
from ._linalg_util import (
    LinAlgError,
    batch_str,
    broadcast_batch,
    check_float,
    check_matrix,
    check_square,
    first_failure,
    lu_info,
    square_float,
    tensor_arg,
)
from .binary import where
from .linalg_diag import diag_embed, tril, triu
from .matmul import _conj, _h, matmul

__all__ = ["det", "slogdet", "logdet", "inverse"]

_COMPLEX = D.COMPLEX


def _eye_diag(d: Tensor, n: int) -> Tensor:
    """Matrices d[..., None, None] * I of size n (d a batch of scalars)."""
    return diag_embed(d.unsqueeze(-1).expand(tuple(d.shape) + (n,)))


# --- det -----------------------------------------------------------------------------------
class LinalgDetBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        det_, x = self.saved_tensors()
        if bool((det_ == 0).any()):
            return _cofactor_svd(x, g)
        return _h(inv(x)) * (g * _conj(det_)).unsqueeze(-1).unsqueeze(-1)


def _cofactor_svd(x: Tensor, g: Tensor) -> Tensor:
    from .linalg_spectral import linalg_svd

    u, s, vh = linalg_svd(x, full_matrices=False)
    alpha = _conj(det(u) * det(vh))
    n = s._data.shape[-1]
    from .._creation import eye

    m = where(eye(n, dtype=D.bool), 1.0, s.unsqueeze(-2).expand(tuple(s._data.shape) + (n,)))
    prods = m.prod(-1)  # prod_{j != i} s_j
    w = prods * (alpha * g).unsqueeze(-1)
    return matmul(u * w.unsqueeze(-2), vh)


def det(A: Tensor, *, out=None) -> Tensor:
    """Determinant of a square matrix or of each matrix of a batch.

    >>> import tapegrad
    >>> tapegrad.linalg.det(tapegrad.tensor([[2., 1.], [0., 3.]]))
    tensor(6.)
    """
    A = square_float("linalg.det", A)
    a = A._data
    r = np.asarray(np.linalg.det(a) if a.shape[-1] else np.ones(a.shape[:-2]), dtype=a.dtype)
    node = new_node(LinalgDetBackward0, (A,))
    res = wrap(r, node)
    if node is not None:
        save_out(node, res, A)
    return _out(res, out)


# --- slogdet / logdet ----------------------------------------------------------------------
class LinalgSlogdetBackward0(Node):
    __slots__ = ()
    n_outputs = 2

    def vjp(self, gsign, glog):
        sign, x = self.saved_tensors()
        g = glog
        if x._dtype.category == _COMPLEX and gsign is not None:
            from .convert import imag

            extra = imag(gsign * sign.conj()) * 1j
            g = extra if g is None else g + extra
        if g is None:
            return None
        if g._dtype is not x._dtype:
            g = g.to(x.dtype)
        return solve(_h(x), _eye_diag(g, x._data.shape[-1]))


def _slogdet(name: str, A, kind) -> tuple:
    A = square_float(name, A)
    a = A._data
    if a.shape[-1]:
        sign, logabs = np.linalg.slogdet(a)
    else:
        sign, logabs = np.ones(a.shape[:-2], a.dtype), np.zeros(a.shape[:-2])
    rdt = a.real.dtype if np.iscomplexobj(a) else a.dtype
    node = new_node(LinalgSlogdetBackward0, (A,))
    s = wrap(np.asarray(sign, dtype=a.dtype), node)
    la = wrap(np.asarray(logabs, dtype=rdt), node)
    if node is not None:
        la._output_nr = 1
        save_out(node, s, A)
    return kind((s, la))


def slogdet(A: Tensor) -> tuple:
    """(sign, log|det|) of a square matrix or batch: a stable way to the determinant.

    >>> import tapegrad
    >>> tapegrad.slogdet(tapegrad.tensor([[2., 0.], [0., -3.]])).logabsdet
    tensor(1.7918)
    """
    return _slogdet("linalg.slogdet", A, rt.slogdet)


def linalg_slogdet(A: Tensor, *, out=None) -> tuple:
    """torch.linalg.slogdet: (sign, logabsdet) as tapegrad.return_types.linalg_slogdet."""
    return _out_tuple(_slogdet("linalg.slogdet", A, rt.linalg_slogdet), out)


def logdet(input: Tensor) -> Tensor:  # noqa: A002
    """log(det(input)): nan for a negative determinant, -inf for a singular matrix.

    >>> import tapegrad
    >>> tapegrad.logdet(tapegrad.tensor([[2., 0.], [0., 3.]]))
    tensor(1.7918)
    """
    sign, logabs = _slogdet("linalg.slogdet", input, rt.linalg_slogdet)
    if sign._dtype.category == _COMPLEX:
        return sign.log() + logabs
    return where(sign == -1, float("nan"), logabs)


# --- inv -----------------------------------------------------------------------------------
class LinalgInvExBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        xh = _h(self.saved_tensors()[0])
        return -matmul(xh, matmul(g, xh))


def _inv_np(a: np.ndarray) -> tuple:
    infos = np.zeros(a.shape[:-2], dtype=np.int32)
    if a.size == 0:
        return np.empty_like(a), infos
    try:
        return np.linalg.inv(a), infos
    except np.linalg.LinAlgError:
        pass
    flat = a.reshape((-1,) + a.shape[-2:])
    out = np.full(flat.shape, np.nan, dtype=a.dtype)
    fi = infos.reshape(-1)
    for i in range(flat.shape[0]):
        try:
            out[i] = np.linalg.inv(flat[i])
        except np.linalg.LinAlgError:
            fi[i] = lu_info(flat[i]) or flat.shape[-1]
    return out.reshape(a.shape), infos


def _inv_ex(A, check_errors: bool, name: str = "linalg.inv_ex") -> tuple:
    A = tensor_arg(A)
    check_square(name, A)
    check_float(name, A)
    a = A._data
    r, infos = _inv_np(a)
    if check_errors:
        k, info = first_failure(infos)
        if info:
            raise LinAlgError(
                f"{name}: {batch_str(a, k)}The diagonal element {info} is zero, the inversion "
                "could not be completed because the input matrix is singular.")
    node = new_node(LinalgInvExBackward0, (A,))
    res = wrap(r, node)
    if node is not None:
        save_out(node, res)
    return rt.linalg_inv_ex((res, wrap(infos)))


def inv_ex(A: Tensor, *, check_errors: bool = False, out=None) -> tuple:
    """(inverse, info): info[k] > 0 says matrix k is singular (its inverse is then nan)."""
    return _out_tuple(_inv_ex(A, check_errors), out)


def inv(A: Tensor, *, out=None) -> Tensor:
    """Inverse of a square matrix or of each matrix of a batch.

    >>> import tapegrad
    >>> tapegrad.linalg.inv(tapegrad.tensor([[2., 0.], [0., 4.]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]])
    """
    return _out(_inv_ex(A, True, "linalg.inv")[0], out)


def inverse(input: Tensor, *, out=None) -> Tensor:  # noqa: A002
    """torch.inverse: linalg.inv."""
    return inv(input, out=out)


# --- solve ---------------------------------------------------------------------------------
class LinalgSolveExBackward0(Node):
    __slots__ = ("left", "vector")

    def vjp(self, g):
        x, a = self.saved_tensors()
        na, nb = self._next
        gb = _solve(_h(a), g, self.left, self.vector)[0]
        ga = None
        if na[0] is not None:
            if self.vector:
                ga = -(gb.unsqueeze(-1) * _conj(x).unsqueeze(-2)) if self.left else \
                    -(_conj(x).unsqueeze(-1) * gb.unsqueeze(-2))
            else:
                ga = -matmul(gb, _h(x)) if self.left else -matmul(_h(x), gb)
        return ga, (gb if nb[0] is not None else None)


def _solve_np(a: np.ndarray, b: np.ndarray) -> tuple:
    """X with a X = b (batches broadcast already), and getrf's info per matrix."""
    infos = np.zeros(a.shape[:-2], dtype=np.int32)
    if a.size == 0 or b.size == 0:
        return np.zeros(b.shape, dtype=b.dtype), infos
    try:
        return np.linalg.solve(a, b), infos
    except np.linalg.LinAlgError:
        pass
    fa = a.reshape((-1,) + a.shape[-2:])
    fb = b.reshape((-1,) + b.shape[-2:])
    out = np.full(fb.shape, np.nan, dtype=b.dtype)
    fi = infos.reshape(-1)
    for i in range(fa.shape[0]):
        try:
            out[i] = np.linalg.solve(fa[i], fb[i])
        except np.linalg.LinAlgError:
            fi[i] = lu_info(fa[i]) or fa.shape[-1]
    return out.reshape(b.shape), infos


def _solve(A: Tensor, B: Tensor, left: bool, vector: bool) -> tuple:
    """The solve primitive: (X, infos) with A X = B (left) or X A = B, B a batch of vectors
    when `vector`; batches broadcast."""
    if type(B) is not Tensor and type(A) is Tensor:  # a batch of right-hand sides (vmap)
        bc = batched_cotangent(B)
        if bc is not None:
            # the batch goes in front of B's own batch dims, padded to the result's batch
            pb = bc[0]
            own = tuple(pb.shape[1:])
            k = 1 if vector else 2
            nb = max(len(own) - k, A.dim() - 2)
            pb = pb.reshape((pb.shape[0],) + (1,) * (nb - len(own) + k) + own)
            res, infos, ab = _solve(A, pb, left, vector)
            return rebatch(res, bc[1]), infos, ab
    a, b = A._data, B._data
    bm = b[..., None] if vector else b
    if not left:  # X A = B  <=>  A^T X^T = B^T
        a = np.swapaxes(a, -1, -2)
        bm = np.swapaxes(bm, -1, -2) if not vector else bm
    batch = broadcast_batch(bm.shape[:-2], a.shape[:-2])
    ab = np.broadcast_to(a, batch + a.shape[-2:])
    bb = np.broadcast_to(bm, batch + bm.shape[-2:])
    x, infos = _solve_np(ab, bb)
    if vector:
        x = x[..., 0]
    elif not left:
        x = np.swapaxes(x, -1, -2)
    x = np.ascontiguousarray(x, dtype=np.result_type(a, b))
    node = new_node(LinalgSolveExBackward0, (A, B))
    res = wrap(x, node)
    if node is not None:
        node.left, node.vector = left, vector
        save_out(node, res, A)
    return res, infos, ab


def _solve_checks(name: str, A: Tensor, B: Tensor, left: bool) -> bool:
    check_square(name, A)
    check_float(name, A)
    if A._dtype is not B._dtype:
        raise RuntimeError(
            f"{name}: Expected A and B to have the same dtype, but found A of type "
            f"{A._dtype._short} and B of type {B._dtype._short} instead")
    a, b = A._data, B._data
    if b.ndim < 1:
        raise RuntimeError(f"{name}: The input tensor B must have at least 2 dimensions.")
    vector = b.ndim == 1 or (a.ndim - 1 == b.ndim and b.shape == a.shape[:-1])
    n = a.shape[-1]
    bshape = (b.shape[-1], 1) if vector else b.shape[-2:]
    rows = bshape[0] if left else bshape[1]
    if rows != n:
        eq = "AX = B" if left else "XA = B"
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation {eq} "
                           f"({n}x{n} and {bshape[0]}x{bshape[1]})")
    return vector


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False,
             out=None) -> tuple:
    """(result, info) of linalg.solve; info[k] > 0 marks a singular matrix k."""
    A, B = tensor_arg(A), tensor_arg(B)
    vector = _solve_checks("linalg.solve", A, B, left)
    res, infos, ab = _solve(A, B, left, vector)
    if check_errors:
        k, info = first_failure(infos)
        if info:
            raise LinAlgError(f"tapegrad.linalg.solve: {batch_str(ab, k)}The solver failed "
                              "because the input matrix is singular.")
    return _out_tuple(rt.linalg_solve_ex((res, wrap(infos))), out)


def solve(A: Tensor, B: Tensor, *, left: bool = True, out=None) -> Tensor:
    """The solution X of A X = B (or X A = B with left=False); B may be a (batch of) vector(s).

    >>> import tapegrad
    >>> tapegrad.linalg.solve(tapegrad.tensor([[2., 0.], [0., 4.]]), tapegrad.tensor([2., 2.]))
    tensor([1.0000, 0.5000])
    """
    return _out(solve_ex(A, B, left=left, check_errors=True)[0], out)


# --- solve_triangular ----------------------------------------------------------------------
class LinalgSolveTriangularBackward0(Node):
    __slots__ = ("upper", "left", "unit")

    def vjp(self, g):
        x, a = self.saved_tensors()
        na, nb = self._next
        gb = solve_triangular(_h(a), g, upper=not self.upper, left=self.left,
                              unitriangular=self.unit)
        ga = None
        if na[0] is not None:
            ga = -matmul(gb, _h(x)) if self.left else -matmul(_h(x), gb)
            k = 1 if self.unit else 0
            ga = triu(ga, k) if self.upper else tril(ga, -k)
        return ga, (gb if nb[0] is not None else None)


def _tri_solve_np(t: np.ndarray, b: np.ndarray, upper: bool) -> np.ndarray:
    """Substitution for T X = B with T triangular (a zero pivot gives inf / nan, as LAPACK)."""
    n = t.shape[-1]
    x = np.zeros(np.broadcast_shapes(t.shape[:-2], b.shape[:-2]) + b.shape[-2:],
                 dtype=np.result_type(t, b))
    rows = range(n - 1, -1, -1) if upper else range(n)
    for i in rows:
        acc = b[..., i, :] - np.einsum("...j,...jk->...k", t[..., i, :], x)
        x[..., i, :] = acc / t[..., i, i, None]
    return x


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True,
                     unitriangular: bool = False, out=None) -> Tensor:
    """Solve A X = B (or X A = B) for a triangular A, reading only its upper or lower
    triangle (and taking its diagonal as ones when unitriangular).

    >>> import tapegrad
    >>> A = tapegrad.tensor([[2., 1.], [0., 4.]])
    >>> tapegrad.linalg.solve_triangular(A, tapegrad.tensor([[3.], [4.]]), upper=True)
    tensor([[1.],
            [1.]])
    """
    name = "linalg.solve_triangular"
    A, B = tensor_arg(A), tensor_arg(B)
    check_matrix(name, B, "B")
    check_square(name, A)
    check_float(name, A)
    if A._dtype is not B._dtype:
        raise RuntimeError(f"{name}: Expected A and B to have the same dtype, but found A of "
                           f"type {A._dtype._short} and B of type {B._dtype._short} instead")
    a, b = A._data, B._data
    n = a.shape[-1]
    if (b.shape[-2] if left else b.shape[-1]) != n:
        eq = "AX = B" if left else "XA = B"
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation {eq} "
                           f"({n}x{n} and {b.shape[-2]}x{b.shape[-1]})")
    t = np.triu(a) if upper else np.tril(a)
    if unitriangular:
        t = t.copy()
        np.einsum("...ii->...i", t)[...] = 1
    if not left:  # X A = B <=> A^T X^T = B^T
        t, b, up = np.swapaxes(t, -1, -2), np.swapaxes(b, -1, -2), not upper
    else:
        up = upper
    with np.errstate(all="ignore"):
        x = _tri_solve_np(t, b, up)
    if not left:
        x = np.swapaxes(x, -1, -2)
    node = new_node(LinalgSolveTriangularBackward0, (A, B))
    res = wrap(np.ascontiguousarray(x), node)
    if node is not None:
        node.upper, node.left, node.unit = upper, left, unitriangular
        save_out(node, res, A)
    return _out(res, out)


def _out(res: Tensor, out):
    if out is None:
        return res
    from .inplace import copy_out

    return copy_out(out, res)


def _out_tuple(res: tuple, out):
    """out= for the ops returning a named tuple: each result copied into its out tensor."""
    if out is None:
        return res
    from .inplace import copy_out

    return type(res)(tuple(copy_out(o, r) for o, r in zip(out, res)))


METHODS = {"det": det, "slogdet": slogdet, "logdet": logdet, "inverse": inverse}

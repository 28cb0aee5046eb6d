"""LU factorization with partial pivoting and what uses it: linalg.lu_factor / lu_factor_ex /
lu / lu_solve and torch.lu_unpack, batched over leading dims (the deprecated torch.lu /
torch.lu_solve and torch.triangular_solve are in linalg_legacy.py).

A = P L U (A m x n, k = min(m, n); L m x k unit lower, U k x n upper). Pivots are LAPACK's:
1-based row swaps applied in order, the pivot the first entry of largest magnitude in its
column (|re| + |im| for complex, as LAPACK's i?amax).

Rules (written with tapegrad's triangular solves, so every order works; gL is taken strictly
lower, gU upper):
  lu (m <= n)  P^T gA = L^{-H} ([M U1^{-H}, 0] + gU),  M = tril(L^H gL - gU U^H, -1), U1 = U[:, :m]
  lu (m > n)   P^T gA = ([L1^{-H} N; 0] + gL) U^{-H},  N = triu(gU U^H - L^H gL),  L1 = L[:n]
  lu_factor    the same with gL, gU read off the packed gradient of LU
  lu_unpack    gLU = tril(gL, -1) + triu(gU), each padded to LU's shape
  lu_solve     gB = A^{-H} g (a solve with the same factors); the gradient of the matrix
               A = P L U (-gB X^H, or its left / adjoint variants) taken to the factors:
               gLU = tril(P^T gA U^H, -1) + triu(L^H P^T gA)
"""

# ruff: noqa: N803, N806  (PyTorch's argument names: A, B, LU)
from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .. import return_types as rt
from .._tensor import Tensor
from ..autograd.graph import Node, SavedTensor
from ._core import batched_cotangent, new_node, rebatch, save_out, wrap
from ._linalg_util import batch_str, broadcast_batch, first_failure, tensor_arg
from .linalg_decomp import _out, _out_tuple, _tri_solve_np, solve_triangular
from .linalg_diag import tril, triu
from .matmul import _h, matmul

__all__ = ["lu_unpack"]  # torch.lu, lu_solve, triangular_solve: ops/linalg_legacy.py


def _size(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


# --- the factorization in NumPy ---------------------------------------------------------------
def _getrf(a: np.ndarray) -> tuple:
    """(LU packed, pivots (..., k) int32 1-based, info (...) int32) of a batch of matrices."""
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = a.shape[:-2]
    lu = np.array(a, copy=True).reshape((-1, m, n))
    nb = lu.shape[0]
    piv = np.zeros((nb, k), dtype=np.int32)
    info = np.zeros(nb, dtype=np.int32)
    rows = np.arange(nb)
    cplx = np.iscomplexobj(lu)
    for j in range(k):
        col = lu[:, j:, j]
        mag = np.abs(col.real) + np.abs(col.imag) if cplx else np.abs(col)
        p = j + np.argmax(mag, axis=1)
        piv[:, j] = p + 1
        swap = p != j
        if swap.any():
            r = rows[swap]
            top = lu[r, j].copy()
            lu[r, j] = lu[r, p[swap]]
            lu[r, p[swap]] = top
        pivot = lu[:, j, j]
        zero = pivot == 0
        info[(info == 0) & zero] = j + 1
        if j + 1 < m:
            safe = np.where(zero, 1, pivot)
            lu[:, j + 1:, j] = np.where(zero[:, None], lu[:, j + 1:, j],
                                        lu[:, j + 1:, j] / safe[:, None])
            if j + 1 < n:
                lu[:, j + 1:, j + 1:] -= lu[:, j + 1:, j, None] * lu[:, None, j, j + 1:]
    return lu.reshape(a.shape), piv.reshape(batch + (k,)), info.reshape(batch)


def _perm_matrix(piv: np.ndarray, m: int, dtype) -> np.ndarray:
    """P (..., m, m) of the row swaps in pivots (1-based): A = P L U."""
    batch = piv.shape[:-1]
    flat = piv.reshape(-1, piv.shape[-1]).astype(np.int64) - 1
    nb = flat.shape[0]
    perm = np.tile(np.arange(m), (nb, 1))
    rows = np.arange(nb)
    for i in range(flat.shape[1]):
        j = flat[:, i]
        a, b = perm[rows, i].copy(), perm[rows, j].copy()
        perm[rows, i], perm[rows, j] = b, a
    P = np.zeros((nb, m, m), dtype=dtype)
    P[rows[:, None], perm, np.arange(m)[None, :]] = 1
    return P.reshape(batch + (m, m))


def _unpack_np(lu: np.ndarray) -> tuple:
    m, n = lu.shape[-2:]
    k = min(m, n)
    L = np.tril(lu[..., :, :k], -1) + np.eye(m, k, dtype=lu.dtype)
    U = np.triu(lu[..., :k, :])
    return L, U


# --- unpacking in tapegrad ops (for the rules) ----------------------------------------------
def _unpack(LU: Tensor) -> tuple:
    from .._creation import eye

    m, n = LU._data.shape[-2:]
    k = min(m, n)
    L = tril(LU[..., :, :k], -1) + eye(m, k, dtype=LU.dtype)
    U = triu(LU[..., :k, :])
    return L, U


def lu_backward(gL, gU, L: Tensor, U: Tensor, P) -> Tensor:
    """The gradient of A = P L U from those of L and U (either may be None)."""
    m, k = L._data.shape[-2:]
    n = U._data.shape[-1]
    if gL is not None:
        gL = tril(gL, -1)
    if gU is not None:
        gU = triu(gU)
    if m <= n:
        M = None
        if gL is not None:
            M = matmul(_h(L), gL)
        if gU is not None:
            t = matmul(gU, _h(U))
            M = -t if M is None else M - t
        U1 = U[..., :, :m]
        A = solve_triangular(_h(U1), tril(M, -1), upper=False, left=False)
        if n > m:
            from .join import cat

            A = cat([A, A.new_zeros(A.shape[:-1] + (n - m,))], -1)
        if gU is not None:
            A = A + gU
        A = solve_triangular(_h(L), A, upper=True, unitriangular=True)
    else:
        N = None
        if gU is not None:
            N = matmul(gU, _h(U))
        if gL is not None:
            t = matmul(_h(L), gL)
            N = -t if N is None else N - t
        L1 = L[..., :n, :]
        A = solve_triangular(_h(L1), triu(N), upper=True, unitriangular=True)
        from .join import cat

        A = cat([A, A.new_zeros(A.shape[:-2] + (m - n, n))], -2)
        if gL is not None:
            A = A + gL
        A = solve_triangular(_h(U), A, upper=False, left=False)
    return matmul(wrap(P), A)


# --- lu_factor / lu_factor_ex / lu ---------------------------------------------------------
class LinalgLuFactorExBackward0(Node):
    __slots__ = ("P",)

    def vjp(self, g):
        (LU,) = self.saved_tensors()
        L, U = _unpack(LU)
        k = min(LU._data.shape[-2:])
        return lu_backward(g[..., :, :k], g[..., :k, :], L, U, self.P)


class LinalgLuBackward0(Node):
    __slots__ = ("P",)
    n_outputs = 3

    def vjp(self, gP, gL, gU):
        L, U = self.saved_tensors()
        return lu_backward(gL, gU, L, U, self.P)


def _lu_input(name: str, A, pivot: bool, dims_name: str | None = None) -> Tensor:
    A = tensor_arg(A)
    a = A._data
    if a.ndim < 2:
        raise RuntimeError(f"{dims_name or name}: Expected tensor with 2 or more dimensions. "
                           f"Got size: {_size(a.shape)} instead")
    if not pivot:
        raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the CPU")
    if A._dtype.category < D.FLOAT:
        raise NotImplementedError(f'"lu_cpu" not implemented for \'{A._dtype._short}\'')
    return A


def _lu_factor_ex(A: Tensor, check_errors: bool, name: str) -> tuple:
    a = A._data
    lu, piv, info = _getrf(a)
    if check_errors:
        k, i = first_failure(info)
        if i:  # (a plain RuntimeError in PyTorch, not its LinAlgError)
            raise RuntimeError(
                f"tapegrad.{name}: {batch_str(a, k)}U[{i},{i}] is zero and using it on lu_solve "
                "would result in a division by zero. If you still want to perform the "
                "factorization, consider calling linalg.lu(A, pivot) or linalg.lu_factor_ex(A, "
                "pivot)")
    node = new_node(LinalgLuFactorExBackward0, (A,))
    res = wrap(lu, node)
    if node is not None:
        node.P = _perm_matrix(piv, a.shape[-2], a.dtype)
        save_out(node, res)
    return res, wrap(piv), wrap(info)


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False,
                 out=None) -> tuple:
    """(LU, pivots, info) of A = P L U; info[k] = i > 0 when U[i, i] (1-based) is exactly 0."""
    A = _lu_input("linalg.lu_factor_ex", A, pivot, "tapegrad.lu_factor")
    return _out_tuple(rt.linalg_lu_factor_ex(_lu_factor_ex(A, check_errors,
                                                           "linalg.lu_factor_ex")), out)


def lu_factor(A: Tensor, *, pivot: bool = True, out=None) -> tuple:
    """The compact LU factorization (LU, pivots) of A = P L U, for lu_solve and lu_unpack.

    >>> import tapegrad
    >>> LU, piv = tapegrad.linalg.lu_factor(tapegrad.tensor([[1., 2.], [3., 4.]]))
    >>> piv
    tensor([2, 2], dtype=tapegrad.int32)
    """
    A = _lu_input("linalg.lu_factor", A, pivot, "tapegrad.lu_factor")
    LU, piv, _ = _lu_factor_ex(A, True, "linalg.lu_factor")
    return _out_tuple(rt.linalg_lu_factor((LU, piv)), out)


def linalg_lu(A: Tensor, *, pivot: bool = True, out=None) -> tuple:
    """(P, L, U) with A = P L U: P a permutation, L unit lower, U upper trapezoidal.

    >>> import tapegrad
    >>> P, L, U = tapegrad.linalg.lu(tapegrad.tensor([[1., 2.], [3., 4.]]))
    >>> U
    tensor([[3.0000, 4.0000],
            [0.0000, 0.6667]])
    """
    A = _lu_input("linalg.lu", A, pivot)
    a = A._data
    lu_, piv, _ = _getrf(a)
    L, U = _unpack_np(lu_)
    P = _perm_matrix(piv, a.shape[-2], a.dtype)
    node = new_node(LinalgLuBackward0, (A,))
    Lt, Ut = wrap(np.ascontiguousarray(L), node), wrap(np.ascontiguousarray(U), node)
    if node is not None:
        Lt._output_nr, Ut._output_nr = 1, 2
        node.P = P
        node._saved = (SavedTensor(Lt, True), SavedTensor(Ut, True))
    return _out_tuple(rt.linalg_lu((wrap(P), Lt, Ut)), out)


# --- lu_unpack -----------------------------------------------------------------------------
class LuUnpackBackward0(Node):
    __slots__ = ()
    n_outputs = 3

    def vjp(self, gP, gL, gU):
        m, n = self._in_meta[0][0][-2:]
        k = min(m, n)
        g = None
        if gL is not None:
            g = tril(gL, -1)
            if n > k:
                from .join import cat

                g = cat([g, g.new_zeros(g.shape[:-1] + (n - k,))], -1)
        if gU is not None:
            u = triu(gU)
            if m > k:
                from .join import cat

                u = cat([u, u.new_zeros(u.shape[:-2] + (m - k, n))], -2)
            g = u if g is None else g + u
        return g


def lu_unpack(LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True,
              unpack_pivots: bool = True, *, out=None) -> tuple:
    """(P, L, U) from the compact form of lu_factor; an empty tensor for a part not unpacked.

    >>> import tapegrad
    >>> A = tapegrad.tensor([[1., 2.], [3., 4.]])
    >>> P, L, U = tapegrad.lu_unpack(*tapegrad.linalg.lu_factor(A))
    >>> tapegrad.allclose(P @ L @ U, A)
    True
    """
    lu_ = LU_data._data
    if lu_.ndim < 2:
        raise RuntimeError("tapegrad.lu_unpack: Expected tensor with 2 or more dimensions. Got "
                           f"size: {_size(lu_.shape)} instead")
    m, n = lu_.shape[-2:]
    k = min(m, n)
    if unpack_pivots:
        if LU_pivots._dtype is not D.int32:
            raise RuntimeError(
                "tapegrad.lu_unpack: LU_pivots is expected to be a contiguous tensor of "
                "tapegrad.int32 dtype.\nNote: this function is intended to be used with the "
                "output produced by tapegrad.linalg.lu_factor")
        pv = LU_pivots._data
        if pv.size and (pv.min() < 1 or pv.max() > m):
            raise RuntimeError("pivots passed to lu_unpack must be between 1 and LU.size(-2) "
                               "inclusive.Did you properly pass the result of lu_factor?")
        P = wrap(_perm_matrix(np.broadcast_to(pv, lu_.shape[:-2] + pv.shape[-1:])
                              if pv.shape[:-1] != lu_.shape[:-2] else pv, m, lu_.dtype))
    else:
        P = wrap(np.zeros(0, dtype=lu_.dtype))
    if unpack_data:
        L, U = _unpack_np(lu_)
        node = new_node(LuUnpackBackward0, (LU_data,))
        Lt, Ut = wrap(np.ascontiguousarray(L), node), wrap(np.ascontiguousarray(U), node)
        if node is not None:
            Lt._output_nr, Ut._output_nr = 1, 2
    else:
        Lt, Ut = wrap(np.zeros(0, dtype=lu_.dtype)), wrap(np.zeros(0, dtype=lu_.dtype))
    del k
    return _out_tuple(rt.lu_unpack((P, Lt, Ut)), out)


# --- lu_solve ------------------------------------------------------------------------------
class LinalgLuSolveBackward0(Node):
    __slots__ = ("pivots", "left", "adjoint")

    def vjp(self, g):
        X, LU = self.saved_tensors()
        nlu, nb = self._next
        piv = wrap(self.pivots)
        gB = _lu_solve(LU, piv, g, self.left, not self.adjoint)
        gLU = None
        if nlu[0] is not None:
            if self.left:
                gA = -matmul(X, _h(gB)) if self.adjoint else -matmul(gB, _h(X))
            else:
                gA = -matmul(_h(gB), X) if self.adjoint else -matmul(_h(X), gB)
            L, U = _unpack(LU)
            PtgA = matmul(wrap(np.swapaxes(_perm_matrix(self.pivots, LU._data.shape[-1],
                                                        LU._data.dtype), -1, -2)), gA)
            gLU = tril(matmul(PtgA, _h(U)), -1) + triu(matmul(_h(L), PtgA))
        return gLU, (gB if nb[0] is not None else None)


def _lu_solve_np(lu: np.ndarray, piv: np.ndarray, b: np.ndarray, left: bool,
                 adjoint: bool) -> np.ndarray:
    """X with A X = B (left) or X A = B, A = P L U (or A^H with adjoint); batches broadcast."""
    n = lu.shape[-1]
    L, U = _unpack_np(lu)
    P = _perm_matrix(piv, n, lu.dtype)
    ones = np.eye(n, dtype=lu.dtype)
    Lu = np.where(ones.astype(bool), ones, L)
    if not left:  # X A = B <=> A^H X^H = B^H, adjoint flips
        xh = _lu_solve_np(lu, piv, np.conj(np.swapaxes(b, -1, -2)), True, not adjoint)
        return np.conj(np.swapaxes(xh, -1, -2))
    with np.errstate(all="ignore"):
        if not adjoint:  # X = U^{-1} L^{-1} P^T B
            y = np.matmul(np.conj(np.swapaxes(P, -1, -2)), b)
            y = _tri_solve_np(Lu, y, False)
            return _tri_solve_np(U, y, True)
        # A^H = U^H L^H P^T: X = P L^{-H} U^{-H} B
        y = _tri_solve_np(np.conj(np.swapaxes(U, -1, -2)), b, False)
        y = _tri_solve_np(np.conj(np.swapaxes(Lu, -1, -2)), y, True)
        return np.matmul(P, y)


def _lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, left: bool, adjoint: bool) -> Tensor:
    if type(B) is not Tensor and type(LU) is Tensor:  # a batch of right-hand sides (vmap)
        bc = batched_cotangent(B)
        if bc is not None:  # the batch in front of B's batch dims, padded to the result's
            pb = bc[0]
            own = tuple(pb.shape[1:])
            pad = max(0, LU.dim() - len(own))
            pb = pb.reshape((pb.shape[0],) + (1,) * pad + own)
            return rebatch(_lu_solve(LU, pivots, pb, left, adjoint), bc[1])
    lu_, piv, b = LU._data, pivots._data, B._data
    batch = broadcast_batch(lu_.shape[:-2], b.shape[:-2])
    lub = np.broadcast_to(lu_, batch + lu_.shape[-2:])
    pvb = np.broadcast_to(piv, batch + piv.shape[-1:])
    bb = np.broadcast_to(b, batch + b.shape[-2:])
    x = _lu_solve_np(lub, pvb, bb, left, adjoint)
    node = new_node(LinalgLuSolveBackward0, (LU, B))
    res = wrap(np.ascontiguousarray(x, dtype=b.dtype), node)
    if node is not None:
        node.pivots, node.left, node.adjoint = np.ascontiguousarray(piv), left, adjoint
        save_out(node, res, LU)
    return res


def linalg_lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True,
                    adjoint: bool = False, out=None) -> Tensor:
    """The solution X of A X = B (X A = B with left=False; A^H with adjoint) from lu_factor's
    (LU, pivots) of A.

    >>> import tapegrad
    >>> A = tapegrad.tensor([[2., 0.], [0., 4.]])
    >>> LU, piv = tapegrad.linalg.lu_factor(A)
    >>> tapegrad.linalg.lu_solve(LU, piv, tapegrad.tensor([[2.], [2.]]))
    tensor([[1.0000],
            [0.5000]])
    """
    name = "linalg.lu_solve"
    LU, B = tensor_arg(LU), tensor_arg(B)
    lu_, b = LU._data, B._data
    if b.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor B must have at least 2 dimensions.")
    if lu_.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if lu_.shape[-1] != lu_.shape[-2]:
        raise RuntimeError(f"tapegrad.{name}: A must be batches of square matrices, but they are "
                           f"{lu_.shape[-2]} by {lu_.shape[-1]} matrices")
    n = lu_.shape[-1]
    rows = b.shape[-2] if left else b.shape[-1]
    if rows != n:
        eq = "AX = B" if left else "XA = B"
        raise RuntimeError(f"{name}: Incompatible shapes of A and B for the equation {eq} "
                           f"({n}x{n} and {b.shape[-2]}x{b.shape[-1]})")
    if LU._dtype is not B._dtype:
        raise RuntimeError(f"{name}: Expected LU and B to have the same dtype, but found LU of "
                           f"type {LU._dtype._short} and B of type {B._dtype._short} instead")
    if pivots._dtype is not D.int32:
        raise RuntimeError(f"{name}: pivots should be a Tensor of scalar type tapegrad.int32")
    pv = pivots._data
    if pv.ndim == 0 or pv.shape[-1] != n:
        raise RuntimeError(f"{name}: Number of pivots per batch should be same as the dimension "
                           "of the matrix")
    if pv.shape[:-1] != lu_.shape[:-2]:
        raise RuntimeError(f"{name}: Expected LU.shape[:-1] and pivots.shape to be the same, but "
                           f"got pivots with shape {_size(pv.shape)} instead")
    return _out(_lu_solve(LU, pivots, B, bool(left), bool(adjoint)), out)

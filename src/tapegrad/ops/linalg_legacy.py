"""Deprecated and removed torch-level linear algebra: torch.lu, torch.lu_solve and
torch.triangular_solve (working, with PyTorch's once-per-process deprecation warnings), and
torch.eig, symeig, matrix_rank, lstsq and solve, which PyTorch removed and which raise its
messages.

  triangular_solve (TriangularSolveBackward0)  X = op(A)^{-1} b on A's upper or lower triangle,
      op(A) = A or A^T; outputs (X, a copy of A): gb = op(A)^{-H} gX (another triangular solve),
      gA = -gb X^H (or -X gb^H when transposed) kept on the triangle, plus the copy's gradient.
"""

# ruff: noqa: N803, N806  (PyTorch's argument names: A, LU_data, X, M)
from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .. import return_types as rt
from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import new_node, save_out, wrap
from ._index_util import warn_once
from ._linalg_util import broadcast_batch, tensor_arg
from .linalg_decomp import _out_tuple, _tri_solve_np
from .linalg_diag import tril, triu
from .linalg_lu import _lu_factor_ex, _lu_input, linalg_lu_solve
from .matmul import _h, matmul

__all__ = ["lu", "lu_solve", "triangular_solve", "eig", "symeig", "matrix_rank", "lstsq",
           "solve"]


# --- deprecated spellings (warned once per process, as PyTorch's TORCH_WARN_ONCE) ---------
_LU_DEPRECATED = (
    "tapegrad.lu is deprecated in favor of tapegrad.linalg.lu_factor / tapegrad.linalg."
    "lu_factor_ex and will be removed in a future PyTorch release.\nLU, pivots = tapegrad.lu(A, "
    "compute_pivots)\nshould be replaced with\nLU, pivots = tapegrad.linalg.lu_factor(A, "
    "compute_pivots)\nand\nLU, pivots, info = tapegrad.lu(A, compute_pivots, get_infos=True)\n"
    "should be replaced with\nLU, pivots, info = tapegrad.linalg.lu_factor_ex(A, "
    "compute_pivots)")
_LU_SOLVE_DEPRECATED = (
    "tapegrad.lu_solve is deprecated in favor of tapegrad.linalg.lu_solveand will be removed in "
    "a future PyTorch release.\nNote that tapegrad.linalg.lu_solve has its arguments reversed.\n"
    "X = tapegrad.lu_solve(B, LU, pivots)\nshould be replaced with\nX = tapegrad.linalg.lu_solve("
    "LU, pivots, B)")
_TRI_DEPRECATED = (
    "tapegrad.triangular_solve is deprecated in favor of tapegrad.linalg.solve_triangularand will "
    "be removed in a future PyTorch release.\ntapegrad.linalg.solve_triangular has its arguments "
    "reversed and does not return a copy of one of the inputs.\nX = tapegrad.triangular_solve(B, "
    "A).solution\nshould be replaced with\nX = tapegrad.linalg.solve_triangular(A, B).")


def lu(A: Tensor, pivot: bool = True, get_infos: bool = False, out=None):
    """Deprecated torch.lu: (LU, pivots), or (LU, pivots, infos) with get_infos."""
    A = tensor_arg(A)
    warn_once(_LU_DEPRECATED)
    A = _lu_input("linalg.lu_factor_ex", A, pivot, "tapegrad.lu_factor")
    LU, piv, info = _lu_factor_ex(A, False, "linalg.lu_factor_ex")
    res = rt._lu_with_info((LU, piv, info)) if get_infos else (LU, piv)
    return _out_tuple(res, out) if out is not None else res


def lu_solve(b: Tensor, LU_data: Tensor, LU_pivots: Tensor, *, out=None) -> Tensor:
    """Deprecated torch.lu_solve(b, LU, pivots): linalg.lu_solve(LU, pivots, b)."""
    warn_once(_LU_SOLVE_DEPRECATED)
    return linalg_lu_solve(LU_data, LU_pivots, b, out=out)


class TriangularSolveBackward0(Node):
    __slots__ = ("upper", "transpose", "unit")
    n_outputs = 2

    def vjp(self, gX, gM):
        X, A = self.saved_tensors()
        nb, na = self._next
        gb = gA = None
        if gX is not None:
            gb = triangular_solve(gX, A.conj(), self.upper, not self.transpose, self.unit,
                                  _warn=False)[0]
            if na[0] is not None:
                # the gradient for op(A) is -gb X^H; with op(A) = A^T (a plain transpose, also
                # for complex A) that is, for A, its transpose -conj(X) gb^T
                gA = -matmul(X.conj(), gb.mT) if self.transpose else -matmul(gb, _h(X))
                k = 1 if self.unit else 0
                gA = triu(gA, k) if self.upper else tril(gA, -k)
        if gM is not None and na[0] is not None:
            gA = gM if gA is None else gA + gM
        return (gb if nb[0] is not None else None), gA


def triangular_solve(b: Tensor, A: Tensor, upper: bool = True, transpose: bool = False,
                     unitriangular: bool = False, *, out=None, _warn: bool = True) -> tuple:
    """Deprecated torch.triangular_solve: (solution of op(A) X = b, a copy of A), op(A) = A or
    A^T, A read on its upper or lower triangle.

    >>> import tapegrad
    >>> A = tapegrad.tensor([[2., 1.], [0., 4.]])
    >>> tapegrad.triangular_solve(tapegrad.tensor([[3.], [4.]]), A).solution
    tensor([[1.],
            [1.]])
    """
    if _warn:
        warn_once(_TRI_DEPRECATED)
    b, A = tensor_arg(b), tensor_arg(A)
    bb, a = b._data, A._data
    if bb.ndim < 2:
        raise RuntimeError("tapegrad.triangular_solve: Expected b to have at least 2 dimensions, "
                           f"but it has {bb.ndim} dimensions instead")
    if a.ndim < 2:
        raise RuntimeError("tapegrad.triangular_solve: Expected A to have at least 2 dimensions, "
                           f"but it has {a.ndim} dimensions instead")
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"A must be batches of square matrices, but they are {a.shape[-2]} by "
                           f"{a.shape[-1]} matrices")
    if a.shape[-1] != bb.shape[-2]:
        raise RuntimeError(
            f"Incompatible matrix sizes for triangular_solve: each A matrix is {a.shape[-2]} by "
            f"{a.shape[-1]} but each b matrix is {bb.shape[-2]} by {bb.shape[-1]}")
    if b._dtype is not A._dtype:
        raise RuntimeError(f"Expected b and A to have the same dtype, but found b of type "
                           f"{b._dtype._short} and A of type {A._dtype._short} instead.")
    if A._dtype.category < D.FLOAT:
        raise NotImplementedError(
            f'"triangular_solve_cpu" not implemented for \'{A._dtype._short}\'')
    batch = broadcast_batch(bb.shape[:-2], a.shape[:-2])
    ab = np.broadcast_to(a, batch + a.shape[-2:])
    t = np.triu(ab) if upper else np.tril(ab)
    if unitriangular:
        t = t.copy()
        np.einsum("...ii->...i", t)[...] = 1
    up = upper
    if transpose:
        t, up = np.swapaxes(t, -1, -2), not upper
    with np.errstate(all="ignore"):
        x = _tri_solve_np(t, np.broadcast_to(bb, batch + bb.shape[-2:]), up)
    node = new_node(TriangularSolveBackward0, (b, A))
    X = wrap(np.ascontiguousarray(x, dtype=bb.dtype), node)
    M = wrap(np.array(ab), node)
    if node is not None:
        M._output_nr = 1
        node.upper, node.transpose, node.unit = upper, transpose, unitriangular
        save_out(node, X, A)
    res = rt.triangular_solve((X, M))
    return _out_tuple(res, out)


# --- functions PyTorch removed -------------------------------------------------------------
_REMOVED = "This function was deprecated since version 1.9 and is now removed."
_EIG_MSG = (
    f"{_REMOVED} `tapegrad.linalg.eig` returns complex tensors of dtype `cfloat` or `cdouble` "
    "rather than real tensors mimicking complex tensors.\n\nL, _ = tapegrad.eig(A) should be "
    "replaced with:\nL_complex = tapegrad.linalg.eigvals(A)\n\nand\n\nL, V = tapegrad.eig(A, "
    "eigenvectors=True) should be replaced with:\nL_complex, V_complex = tapegrad.linalg.eig(A)")
_SYMEIG_MSG = (
    f"{_REMOVED} The default behavior has changed from using the upper triangular portion of the "
    "matrix by default to using the lower triangular portion.\n\nL, _ = tapegrad.symeig(A, "
    "upper=upper) should be replaced with:\nL = tapegrad.linalg.eigvalsh(A, UPLO='U' if upper "
    "else 'L')\n\nand\n\nL, V = tapegrad.symeig(A, eigenvectors=True) should be replaced "
    "with:\nL, V = tapegrad.linalg.eigh(A, UPLO='U' if upper else 'L')")
_RANK_MSG = (
    f"{_REMOVED}\nPlease use the `tapegrad.linalg.matrix_rank` function instead. The parameter "
    "'symmetric' was renamed in `tapegrad.linalg.matrix_rank()` to 'hermitian'.")
_LSTSQ_MSG = (
    f"{_REMOVED} `tapegrad.lstsq` is deprecated in favor of `tapegrad.linalg.lstsq`.\n"
    "`tapegrad.linalg.lstsq` has reversed arguments and does not return the QR decomposition in "
    "the returned tuple (although it returns other information about the problem).\n\nTo get "
    "the QR decomposition consider using `tapegrad.linalg.qr`.\n\nThe returned solution in "
    "`tapegrad.lstsq` stored the residuals of the solution in the last m - n columns of the "
    "returned value whenever m > n. In tapegrad.linalg.lstsq, the residuals are in the field "
    "'residuals' of the returned named tuple.\n\nThe unpacking of the solution, as in\nX, _ = "
    "tapegrad.lstsq(B, A).solution[:A.size(1)]\nshould be replaced with:\nX = "
    "tapegrad.linalg.lstsq(A, B).solution")
_SOLVE_MSG = (
    f"{_REMOVED} `tapegrad.solve` is deprecated in favor of `tapegrad.linalg.solve`. "
    "`tapegrad.linalg.solve` has its arguments reversed and does not return the LU "
    "factorization.\n\nTo get the LU factorization see `tapegrad.lu`, which can be used with "
    "`tapegrad.lu_solve` or `tapegrad.lu_unpack`.\nX = tapegrad.solve(B, A).solution should be "
    "replaced with:\nX = tapegrad.linalg.solve(A, B)")


def eig(self: Tensor, eigenvectors: bool = False, *, e=None, v=None):
    """Removed from PyTorch: use tapegrad.linalg.eig / eigvals."""
    raise RuntimeError(_EIG_MSG)


def symeig(input: Tensor, eigenvectors: bool = False, upper: bool = True, *,  # noqa: A002
           out=None):
    """Removed from PyTorch: use tapegrad.linalg.eigh / eigvalsh."""
    raise RuntimeError(_SYMEIG_MSG)


def matrix_rank(input: Tensor, tol=None, symmetric: bool = False, *, out=None):  # noqa: A002
    """Removed from PyTorch: use tapegrad.linalg.matrix_rank."""
    raise RuntimeError(_RANK_MSG)


def lstsq(input: Tensor, A: Tensor, *, out=None):  # noqa: A002
    """Removed from PyTorch: use tapegrad.linalg.lstsq."""
    raise RuntimeError(_LSTSQ_MSG)


def solve(input: Tensor, A: Tensor, *, out=None):  # noqa: A002
    """Removed from PyTorch: use tapegrad.linalg.solve."""
    raise RuntimeError(_SOLVE_MSG)


def _method_lu(self, pivot: bool = True, get_infos: bool = False):
    return lu(self, pivot, get_infos)


def _method_lu_solve(self, LU_data, LU_pivots):
    return lu_solve(self, LU_data, LU_pivots)


def _method_triangular_solve(self, A, upper: bool = True, transpose: bool = False,
                             unitriangular: bool = False):
    return triangular_solve(self, A, upper, transpose, unitriangular)


METHODS = {"lu": _method_lu, "lu_solve": _method_lu_solve,
           "triangular_solve": _method_triangular_solve, "eig": eig, "symeig": symeig,
           "lstsq": lstsq, "solve": solve}

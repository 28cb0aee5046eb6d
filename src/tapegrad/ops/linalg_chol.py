"""Cholesky factorization and what it solves: linalg.cholesky / cholesky_ex (torch.cholesky,
deprecated), cholesky_solve, cholesky_inverse. Batched over leading dims.

Rules (A = L L^H, L lower; upper=True works on U = L^H; every rule in tapegrad ops):
  cholesky  (Murray 2016, arXiv:1602.07527) with P = tril(L^H gL) and S = (P + tril(P, -1)^H)/2
            (Hermitian, its diagonal halved): gA = L^{-H} S L^{-1}, Hermitian.
  cholesky_solve    X = (L L^H)^{-1} B:  gB = (L L^H)^{-1} g; with C = gB X^H + X gB^H,
                    gL = -C L (lower) or -L C (upper)
  cholesky_inverse  X = (L L^H)^{-1}:    with C = X (g + g^H) X,  gL = -C L or -L C
"""

# ruff: noqa: N803, N806  (PyTorch's argument names: A, B, L)
from __future__ import annotations

import warnings

import numpy as np

from .. import return_types as rt
from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import new_node, save_out, wrap
from ._linalg_util import (
    LinAlgError,
    batch_str,
    broadcast_batch,
    check_float,
    check_matrix,
    check_square,
    first_failure,
    potrf,
    tensor_arg,
)
from .linalg_decomp import _out, _out_tuple, _tri_solve_np, solve_triangular
from .linalg_diag import tril
from .matmul import _h, matmul

__all__ = ["cholesky", "cholesky_solve", "cholesky_inverse"]


# --- cholesky ------------------------------------------------------------------------------
class LinalgCholeskyExBackward0(Node):
    __slots__ = ("upper",)

    def vjp(self, g):
        L = self.saved_tensors()[0]
        if self.upper:
            L, g = _h(L), _h(g)
        p = tril(matmul(_h(L), g))
        s = (p + _h(tril(p, -1))) * 0.5
        ga = solve_triangular(_h(L), s, upper=True, left=True)
        return solve_triangular(L, ga, upper=False, left=False)


class CholeskyBackward0(LinalgCholeskyExBackward0):
    __slots__ = ()


def _chol_np(a: np.ndarray, upper: bool) -> tuple:
    """(factor, infos); with upper the factor reads A's upper triangle and is U = L^H."""
    src = np.swapaxes(a, -1, -2).conj() if upper else a
    infos = np.zeros(a.shape[:-2], dtype=np.int32)
    if a.size == 0:
        return np.zeros_like(a), infos
    try:
        lo = np.linalg.cholesky(src)
    except np.linalg.LinAlgError:
        flat = src.reshape((-1,) + a.shape[-2:])
        lo = np.empty_like(flat)
        fi = infos.reshape(-1)
        for i in range(flat.shape[0]):
            lo[i], fi[i] = potrf(flat[i])
        lo = lo.reshape(a.shape)
    if upper:
        lo = np.ascontiguousarray(np.swapaxes(lo, -1, -2).conj())
    return lo, infos


def _cholesky(A, upper: bool, check: bool, name: str, cls) -> tuple:
    A = tensor_arg(A)
    check_square(name, A)
    check_float(name, A)
    a = A._data
    r, infos = _chol_np(a, upper)
    if check:
        k, info = first_failure(infos)
        if info:
            raise LinAlgError(
                f"{name}: {batch_str(a, k)}The factorization could not be completed because the "
                f"input is not positive-definite (the leading minor of order {info} is not "
                "positive-definite).")
    node = new_node(cls, (A,))
    res = wrap(r, node)
    if node is not None:
        node.upper = upper
        save_out(node, res)
    return res, infos


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False,
                out=None) -> tuple:
    """(L, info): info[k] = j > 0 when the leading minor of order j of matrix k is not
    positive-definite (L then holds LAPACK's partial factor)."""
    L, infos = _cholesky(A, upper, check_errors, "linalg.cholesky", LinalgCholeskyExBackward0)
    return _out_tuple(rt.linalg_cholesky_ex((L, wrap(infos))), out)


def linalg_cholesky(A: Tensor, *, upper: bool = False, out=None) -> Tensor:
    """The Cholesky factor L (A = L L^H) of a Hermitian positive-definite matrix or batch,
    reading A's lower triangle (upper=True: U = L^H from the upper triangle).

    >>> import tapegrad
    >>> tapegrad.linalg.cholesky(tapegrad.tensor([[4., 2.], [2., 5.]]))
    tensor([[2., 0.],
            [1., 2.]])
    """
    L = _cholesky(A, upper, True, "linalg.cholesky", LinalgCholeskyExBackward0)[0]
    return _out(L, out)


_CHOLESKY_DEPRECATED = (
    "tapegrad.cholesky is deprecated in favor of tapegrad.linalg.cholesky and will be removed in "
    "a future PyTorch release.\nL = tapegrad.cholesky(A)\nshould be replaced with\n"
    "L = tapegrad.linalg.cholesky(A)\nand\nU = tapegrad.cholesky(A, upper=True)\n"
    "should be replaced with\nU = tapegrad.linalg.cholesky(A).mH\nThis transform will produce "
    "equivalent results for all valid (symmetric positive definite) inputs."
)


def cholesky(input: Tensor, upper: bool = False, *, out=None) -> Tensor:  # noqa: A002
    """Deprecated torch.cholesky: linalg.cholesky (node CholeskyBackward0)."""
    warnings.warn(_CHOLESKY_DEPRECATED, UserWarning, stacklevel=2)
    return _out(_cholesky(input, upper, True, "cholesky", CholeskyBackward0)[0], out)


# --- cholesky_solve / cholesky_inverse -----------------------------------------------------
def _chol_solve_np(b: np.ndarray, f: np.ndarray, upper: bool) -> np.ndarray:
    """(L L^H)^{-1} b from the factor (L, or U = L^H with upper)."""
    lo = np.swapaxes(f, -1, -2).conj() if upper else f
    with np.errstate(all="ignore"):
        y = _tri_solve_np(lo, b, False)
        return _tri_solve_np(np.swapaxes(lo, -1, -2).conj(), y, True)


class CholeskySolveBackward0(Node):
    __slots__ = ("upper",)

    def vjp(self, g):
        x, L = self.saved_tensors()
        nb, nl = self._next
        gb = cholesky_solve(g, L, self.upper)
        gl = None
        if nl[0] is not None:
            c = matmul(gb, _h(x))
            c = c + _h(c)
            gl = -matmul(L, c) if self.upper else -matmul(c, L)
        return (gb if nb[0] is not None else None), gl


def cholesky_solve(input: Tensor, input2: Tensor, upper: bool = False, *, out=None) -> Tensor:  # noqa: A002
    """Solve A X = B given A's Cholesky factor input2 (L, or U with upper) and B = input.

    >>> import tapegrad
    >>> L = tapegrad.tensor([[2., 0.], [1., 2.]])
    >>> tapegrad.cholesky_solve(tapegrad.tensor([[4.], [2.]]), L)
    tensor([[1.],
            [0.]])
    """
    B, L = tensor_arg(input), tensor_arg(input2)
    b, f = B._data, L._data
    if b.ndim < 2:
        raise RuntimeError(
            f"b should have at least 2 dimensions, but has {b.ndim} dimensions instead")
    if f.ndim < 2:
        raise RuntimeError(
            f"u should have at least 2 dimensions, but has {f.ndim} dimensions instead")
    if B._dtype is not L._dtype:
        raise RuntimeError(f"Expected b and A to have the same dtype, but found b of type "
                           f"{B._dtype._short} and A of type {L._dtype._short} instead.")
    if f.shape[-1] != f.shape[-2] or b.shape[-2] != f.shape[-1]:
        raise RuntimeError(
            f"Incompatible matrix sizes for cholesky_solve: each A matrix is {f.shape[-2]} by "
            f"{f.shape[-1]} but each b matrix is {b.shape[-2]} by {b.shape[-1]}")
    check_float("cholesky_solve", L)
    batch = broadcast_batch(b.shape[:-2], f.shape[:-2])
    x = _chol_solve_np(np.broadcast_to(b, batch + b.shape[-2:]),
                       np.broadcast_to(f, batch + f.shape[-2:]), upper)
    node = new_node(CholeskySolveBackward0, (B, L))
    res = wrap(np.ascontiguousarray(x, dtype=b.dtype), node)
    if node is not None:
        node.upper = upper
        save_out(node, res, L)
    return _out(res, out)


class CholeskyInverseBackward0(Node):
    __slots__ = ("upper",)

    def vjp(self, g):
        x, L = self.saved_tensors()
        c = matmul(x, matmul(g + _h(g), x))
        return -matmul(L, c) if self.upper else -matmul(c, L)


def cholesky_inverse(input: Tensor, upper: bool = False, *, out=None) -> Tensor:  # noqa: A002
    """The inverse of A = L L^H (or U^H U) from its Cholesky factor.

    >>> import tapegrad
    >>> tapegrad.cholesky_inverse(tapegrad.tensor([[2., 0.], [0., 1.]]))
    tensor([[0.2500, 0.0000],
            [0.0000, 1.0000]])
    """
    L = tensor_arg(input)
    check_matrix("cholesky_inverse", L)
    check_square("cholesky_inverse", L)
    check_float("cholesky_inverse", L)
    f = L._data
    eye = np.broadcast_to(np.eye(f.shape[-1], dtype=f.dtype), f.shape)
    x = _chol_solve_np(eye, f, upper)
    node = new_node(CholeskyInverseBackward0, (L,))
    res = wrap(np.ascontiguousarray(x, dtype=f.dtype), node)
    if node is not None:
        node.upper = upper
        save_out(node, res, L)
    return _out(res, out)


METHODS = {"cholesky": cholesky, "cholesky_solve": cholesky_solve,
           "cholesky_inverse": cholesky_inverse}

"""Orthogonal and spectral decompositions: linalg.qr (torch.qr), linalg.eigh / eigvalsh,
linalg.svd / svdvals (torch.svd). Batched. (pinv and lstsq are in linalg_lstsq.py.)

Rules (A^H the conjugate transpose, S = diag(s); every rule in tapegrad ops):
  qr, m >= n   M = gR R^H - Q^H gQ; with X = triu(M) + triu(M)^H (real diagonal counted once),
               gA = (gQ + Q X) R^{-H}.  m < n: A = [A1 | A2], R = [R1 | R2] with R2 = Q^H A2:
               gA2 = Q gR2 and A1 = Q R1 is the square case with gQ + A2 gR2^H.
  eigh         A = V diag(l) V^H:  gA = V (diag(gl) + skew(V^H gV)/2 / E) V^H,
               E_ij = l_j - l_i (1 on the diagonal)
  svd          A = U S V^H (Giles, and PyTorch's svd_backward): with E_ij = s_j^2 - s_i^2,
               J = skew(U^H gU), K = skew(V^H gV):
               gA = U [(J S + S K) / E + diag(gs)] V^H, plus (I - U U^H) gU S^{-1} V^H for m > n
               and U S^{-1} gV^H (I - V V^H) for m < n. Losses that depend on the singular
               vectors' signs (phases) have no gradient, as in PyTorch.
"""

# ruff: noqa: N803, N806  (PyTorch's argument names: A, B)
from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .. import return_types as rt
from .._tensor import Tensor
from ..autograd import grad_mode
from ..autograd.graph import Node, SavedTensor
from . import _core
from ._core import new_node, wrap
from ._linalg_util import (
    check_float,
    check_matrix,
    check_square,
    real_dtype,
    tensor_arg,
)
from .join import cat
from .linalg_decomp import _out, _out_tuple, solve_triangular
from .linalg_diag import diag_embed, diagonal, triu
from .matmul import _h, matmul

__all__ = ["qr", "svd"]

_COMPLEX = D.COMPLEX


def _real(t: Tensor) -> Tensor:
    if t._dtype.category == _COMPLEX:
        from .convert import real

        return real(t)
    return t


def _save_outputs(node, *outs) -> None:
    node._saved = tuple(SavedTensor(o, True) for o in outs)


def _wrap_outputs(node, *arrays) -> tuple:
    outs = []
    for i, a in enumerate(arrays):
        t = wrap(a, node)
        if node is not None:
            t._output_nr = i
        outs.append(t)
    return tuple(outs)


def _needs_grad(A: Tensor) -> bool:
    # (while a forward-AD level is open, new_node decides: A may carry a tangent)
    return (A._requires_grad and grad_mode.state.enabled) or _core.fw_on


# --- qr ------------------------------------------------------------------------------------
def _qr_square_grad(gQ, gR, Q, R) -> Tensor:
    """gA for A = Q R with m >= n."""
    if gQ is not None:
        m = matmul(gR, _h(R)) - matmul(_h(Q), gQ) if gR is not None else -matmul(_h(Q), gQ)
    else:
        m = matmul(gR, _h(R))
    x = triu(m)
    x = x + _h(x)
    x = x - diag_embed(_real(diagonal(x, 0, -2, -1)) * 0.5)
    ga = matmul(Q, x)
    if gQ is not None:
        ga = ga + gQ
    return solve_triangular(_h(R), ga, upper=False, left=False)


class LinalgQrBackward0(Node):
    __slots__ = ("mode",)
    n_outputs = 2

    def vjp(self, gQ, gR):
        if self.mode == "r":
            raise RuntimeError(
                "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                "Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
                "through linalg.qr.")
        Q, R = self.saved_tensors()
        m, n = Q._data.shape[-2], R._data.shape[-1]
        if self.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' "
                               "and nrows > ncols.")
        if m >= n:
            return _qr_square_grad(gQ, gR, Q, R)
        R1, R2 = R[..., :m], R[..., m:]
        gR1 = gR2 = None
        if gR is not None:
            gR1, gR2 = gR[..., :m], gR[..., m:]
            extra = matmul(matmul(Q, R2), _h(gR2))
            gQ = extra if gQ is None else gQ + extra
        ga1 = _qr_square_grad(gQ, gR1, Q, R1)
        if gR is None:
            from .._creation import zeros

            ga2 = zeros(tuple(R2._data.shape[:-2]) + (m, n - m), dtype=ga1.dtype)
        else:
            ga2 = matmul(Q, gR2)
        return cat([ga1, ga2], -1)


def _qr(A, mode: str, kind) -> tuple:
    A = tensor_arg(A)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           "'reduced' (default), 'r', or 'complete'")
    check_matrix("linalg.qr", A)
    check_float("linalg.qr", A)
    a = A._data
    m, n = a.shape[-2:]
    if a.size == 0:
        k = m if mode == "complete" else min(m, n)
        q = np.broadcast_to(np.eye(m, k, dtype=a.dtype), a.shape[:-2] + (m, k)).copy()
        r = np.zeros(a.shape[:-2] + (k, n), dtype=a.dtype)
    else:
        q, r = np.linalg.qr(a, mode="complete" if mode == "complete" else "reduced")
    if mode == "r":
        q = np.empty((0,), dtype=a.dtype)
    node = new_node(LinalgQrBackward0, (A,))
    Q, R = _wrap_outputs(node, np.ascontiguousarray(q), np.ascontiguousarray(r))
    if node is not None:
        node.mode = mode
        _save_outputs(node, Q, R)
    return kind((Q, R))


def linalg_qr(A: Tensor, mode: str = "reduced", *, out=None) -> tuple:
    """QR decomposition A = Q R (Q with orthonormal columns, R upper triangular), as
    tapegrad.return_types.linalg_qr(Q, R); mode 'reduced', 'complete' or 'r' (R only).

    >>> import tapegrad
    >>> Q, R = tapegrad.linalg.qr(tapegrad.tensor([[3., 1.], [4., 2.]]))
    >>> R
    tensor([[-5.0000, -2.2000],
            [ 0.0000,  0.4000]])
    """
    return _out_tuple(_qr(A, mode, rt.linalg_qr), out)


def qr(input: Tensor, some: bool = True, *, out=None) -> tuple:  # noqa: A002
    """torch.qr: linalg.qr with mode 'reduced' (some=True) or 'complete'."""
    return _out_tuple(_qr(input, "reduced" if some else "complete", rt.qr), out)


# --- eigh ----------------------------------------------------------------------------------
class LinalgEighBackward0(Node):
    __slots__ = ()
    n_outputs = 2

    def vjp(self, gL, gV):
        L, V = self.saved_tensors()
        Vh = _h(V)
        if gV is None:
            return matmul(V * gL.unsqueeze(-2), Vh)
        x = matmul(Vh, gV)
        x = (x - _h(x)) * 0.5
        from .._creation import eye

        n = L._data.shape[-1]
        e = L.unsqueeze(-2) - L.unsqueeze(-1) + eye(n, dtype=L.dtype)
        ga = x / e
        if gL is not None:
            ga = ga + diag_embed(gL.to(ga.dtype))
        return matmul(V, matmul(ga, Vh))


def _check_uplo(UPLO: str) -> None:
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")


def _eigh_checks(name: str, A) -> Tensor:
    A = tensor_arg(A)
    check_square(name, A)
    if A._dtype.category < D.FLOAT:
        raise NotImplementedError(f"\"linalg_eigh_cpu\" not implemented for '{A._dtype._short}'")
    check_float(name, A)
    return A


def _eigh(A: Tensor, UPLO: str) -> tuple:
    a = A._data
    if a.size == 0:
        return (np.zeros(a.shape[:-1], dtype=real_dtype(a)), np.zeros_like(a))
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    return np.ascontiguousarray(w), np.ascontiguousarray(v)


def eigh(A: Tensor, UPLO: str = "L", *, out=None) -> tuple:
    """Eigenvalues (ascending) and orthonormal eigenvectors of a Hermitian matrix or batch,
    reading its lower (UPLO='L') or upper triangle.

    >>> import tapegrad
    >>> tapegrad.linalg.eigh(tapegrad.tensor([[2., 0.], [0., 1.]])).eigenvalues
    tensor([1., 2.])
    """
    _check_uplo(UPLO)
    A = _eigh_checks("linalg.eigh", A)
    w, v = _eigh(A, UPLO)
    node = new_node(LinalgEighBackward0, (A,))
    L, V = _wrap_outputs(node, w, v)
    if node is not None:
        _save_outputs(node, L, V)
    return _out_tuple(rt.linalg_eigh((L, V)), out)


def eigvalsh(A: Tensor, UPLO: str = "L", *, out=None) -> Tensor:
    """The eigenvalues (ascending) of a Hermitian matrix or batch.

    >>> import tapegrad
    >>> tapegrad.linalg.eigvalsh(tapegrad.tensor([[2., 1.], [1., 2.]]))
    tensor([1., 3.])
    """
    _check_uplo(UPLO)
    A = _eigh_checks("linalg.eigh", A)
    a = A._data
    w = np.linalg.eigvalsh(a, UPLO=UPLO) if a.size else np.zeros(a.shape[:-1], real_dtype(a))
    w = np.ascontiguousarray(w)
    node = new_node(LinalgEighBackward0, (A,)) if _needs_grad(A) else None
    if node is None:
        return _out(wrap(w), out)
    # the gradient needs the eigenvectors: one eigh node, as PyTorch (the values are the
    # values-only routine's, so they do not depend on whether a graph is recorded)
    L, V = _wrap_outputs(node, w, _eigh(A, UPLO)[1])
    _save_outputs(node, L, V)
    return _out(L, out)


# --- svd -----------------------------------------------------------------------------------
def _skew(x: Tensor) -> Tensor:
    return x - _h(x)


def _svd_grad(gU, gS, gVh, U, S, Vh) -> Tensor:
    m, n = U._data.shape[-2], Vh._data.shape[-1]
    if gU is None and gVh is None:
        return matmul(U, gS.unsqueeze(-1) * Vh) if m >= n else matmul(U * gS.unsqueeze(-2), Vh)
    from .._creation import eye

    k = S._data.shape[-1]
    s2 = S * S
    e = s2.unsqueeze(-2) - s2.unsqueeze(-1) + eye(k, dtype=S.dtype)
    J = _skew(matmul(_h(U), gU)) if gU is not None else None
    K = _skew(matmul(Vh, _h(gVh))) if gVh is not None else None
    if J is not None and K is not None:
        ga = (J * S.unsqueeze(-2) + S.unsqueeze(-1) * K) / e
    elif J is not None:
        ga = (J / e) * S.unsqueeze(-2)
    else:
        ga = S.unsqueeze(-1) * (K / e)
    if gS is not None:
        ga = ga + diag_embed(gS.to(ga.dtype))
    if U._dtype.category == _COMPLEX and J is not None:
        ga = ga + diag_embed(diagonal(J, 0, -2, -1) / (S * 2))
    if m > n and gU is not None:
        ga = matmul(U, ga)
        gus = gU / S.unsqueeze(-2)
        ga = ga + gus - matmul(U, matmul(_h(U), gus))
        return matmul(ga, Vh)
    if m < n and gVh is not None:
        ga = matmul(ga, Vh)
        sgv = gVh / S.unsqueeze(-1)
        ga = ga + sgv - matmul(matmul(sgv, _h(Vh)), Vh)
        return matmul(U, ga)
    return matmul(U, matmul(ga, Vh))


class LinalgSvdBackward0(Node):
    __slots__ = ("full",)
    n_outputs = 3

    def vjp(self, gU, gS, gVh):
        U, S, Vh = self.saved_tensors()
        if self.full:
            k = S._data.shape[-1]
            U, Vh = U[..., :k], Vh[..., :k, :]
            gU = gU[..., :k] if gU is not None else None
            gVh = gVh[..., :k, :] if gVh is not None else None
        return _svd_grad(gU, gS, gVh, U, S, Vh)


def _svd_checks(A) -> Tensor:
    A = tensor_arg(A)
    check_matrix("linalg.svd", A)
    check_float("linalg.svd", A)
    return A


def _svd_np(a: np.ndarray, full: bool) -> tuple:
    m, n = a.shape[-2:]
    if a.size == 0:
        k = min(m, n)
        cu, cv = (m, n) if full else (k, k)
        u = np.broadcast_to(np.eye(m, cu, dtype=a.dtype), a.shape[:-2] + (m, cu)).copy()
        vh = np.broadcast_to(np.eye(cv, n, dtype=a.dtype), a.shape[:-2] + (cv, n)).copy()
        return u, np.zeros(a.shape[:-2] + (k,), real_dtype(a)), vh
    u, s, vh = np.linalg.svd(a, full_matrices=full)
    return np.ascontiguousarray(u), np.ascontiguousarray(s), np.ascontiguousarray(vh)


def _svd_node(A: Tensor, full: bool, s_values=None) -> tuple:
    u, s, vh = _svd_np(A._data, full)
    if s_values is not None:
        s = s_values
    node = new_node(LinalgSvdBackward0, (A,))
    outs = _wrap_outputs(node, u, s, vh)
    if node is not None:
        node.full = full
        _save_outputs(node, *outs)
    return outs


def linalg_svd(A: Tensor, full_matrices: bool = True, *, driver=None, out=None) -> tuple:
    """Singular value decomposition A = U diag(S) Vh (S descending), as
    tapegrad.return_types.linalg_svd(U, S, Vh).

    >>> import tapegrad
    >>> tapegrad.linalg.svd(tapegrad.tensor([[3., 0.], [0., -4.]])).S
    tensor([4., 3.])
    """
    A = _svd_checks(A)
    return _out_tuple(rt.linalg_svd(_svd_node(A, full_matrices)), out)


def svdvals(A: Tensor, *, driver=None, out=None) -> Tensor:
    """The singular values, descending.

    >>> import tapegrad
    >>> tapegrad.linalg.svdvals(tapegrad.tensor([[3., 0.], [0., -4.]]))
    tensor([4., 3.])
    """
    A = _svd_checks(A)
    a = A._data
    if a.size == 0:
        s = _svd_np(a, False)[1]
    else:
        s = np.ascontiguousarray(np.linalg.svd(a, compute_uv=False))
    if not _needs_grad(A):
        return _out(wrap(s), out)
    # the gradient needs U and Vh: one svd node, as PyTorch (S from the values-only routine,
    # so the values do not depend on whether a graph is recorded)
    return _out(_svd_node(A, False, s)[1], out)


def svd(input: Tensor, some: bool = True, compute_uv: bool = True, *, out=None) -> tuple:  # noqa: A002
    """torch.svd: (U, S, V) with V = Vh^H; compute_uv=False gives zero-filled U and V.

    >>> import tapegrad
    >>> tapegrad.svd(tapegrad.tensor([[3., 0.], [0., -4.]])).S
    tensor([4., 3.])
    """
    A = _svd_checks(input)
    if not compute_uv:
        m, n = A._data.shape[-2:]
        s = svdvals(A)
        batch = A._data.shape[:-2]
        zu = wrap(np.zeros(batch + (m, m), dtype=A._data.dtype))
        zv = wrap(np.zeros(batch + (n, n), dtype=A._data.dtype))
        return _out_tuple(rt.svd((zu, s, zv)), out)
    U, S, Vh = _svd_node(A, not some)
    return _out_tuple(rt.svd((U, S, _h(Vh))), out)


METHODS = {"qr": qr, "svd": svd}

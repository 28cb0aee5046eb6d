"""The general (non-symmetric) eigendecomposition: linalg.eig and linalg.eigvals, batched.

A = V diag(L) V^{-1}, L and V complex (complex64 for float32 input, complex128 for float64),
each eigenvector of unit norm with its largest component real (LAPACK's geev; the sign of that
component, like any phase e^{i phi}, is not determined: float32 results may differ from
PyTorch's by such a phase, so compare phase-invariant quantities of V).

Rule (LinalgEigBackward0; E_ij = conj(L_j) - conj(L_i), 1 on the diagonal):
    W  = V^H gV - V^H V diag(Re diag(V^H gV))      (gauge-fixing: V's columns keep norm 1)
    gA = V^{-H} (diag(gL) + W / E) V^H
and for a real A the real part (the engine keeps it). A loss that depends on the phase of the
eigenvectors (Im diag(V^H gV) != 0) is ill-defined and refused, as in PyTorch. Written in
tapegrad ops (matmul, solve, ...), so it can be differentiated again.
"""

# ruff: noqa: N803, N806  (PyTorch's argument names: A)
from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .. import return_types as rt
from .._tensor import Tensor
from ..autograd.graph import Node, SavedTensor
from ._core import batched_cotangent, new_node, rebatch, wrap
from ._linalg_util import check_matrix, tensor_arg
from .linalg_decomp import _out, _out_tuple, solve
from .linalg_diag import diag_embed, diagonal
from .matmul import _h, matmul

__all__: list[str] = []

_COMPLEX_OF = {np.dtype(np.float32): np.complex64, np.dtype(np.float64): np.complex128,
               np.dtype(np.complex64): np.complex64, np.dtype(np.complex128): np.complex128}
_GAUGE_MSG = (
    "linalg_eig_backward: The eigenvectors in the complex case are specified up to "
    "multiplication by e^{i phi}. The specified loss function depends on this quantity, so it "
    "is ill-defined.")


class LinalgEigBackward0(Node):
    __slots__ = ()
    n_outputs = 2

    def vjp(self, gL, gV):
        L, V = self.saved_tensors()
        return eig_backward(gL, gV, L, V)

    jvp_complex = True  # the jvp below is written for complex values

    def jvp(self, tA):
        # With M = V^-1 tA V: tL = diag(M), tV = V (M / (L_j - L_i)) off the diagonal, then
        # the part along each v that would change its (unit) norm removed:
        # tV -= V Re(diag(V^H tV))
        L, V = self.saved_tensors()
        n = L._data.shape[-1]
        M = solve(V, matmul(tA.to(V.dtype), V))
        eye = np.eye(n, dtype=bool)
        E = L.unsqueeze(-2) - L.unsqueeze(-1)
        inner = (M / _fill_diag(E, eye)).masked_fill(wrap(eye), 0)
        tV = matmul(V, inner)
        tV = tV - V * diagonal(matmul(_h(V), tV), 0, -2, -1).real.unsqueeze(-2)
        return diagonal(M, 0, -2, -1), tV


def eig_backward(gL, gV, L: Tensor, V: Tensor) -> Tensor:
    """The gradient of A from those of its eigenvalues L and unit eigenvectors V."""
    if type(gL) is not Tensor or type(gV) is not Tensor:  # a batch of cotangents (vmap)?
        bl, bv = batched_cotangent(gL), batched_cotangent(gV)
        levels = {b[1] for b in (bl, bv) if b is not None}
        if len(levels) == 1:  # the rule broadcasts over a leading batch dim as it stands
            r = eig_backward(gL if bl is None else bl[0], gV if bv is None else bv[0], L, V)
            return rebatch(r, levels.pop())
    n = L._data.shape[-1]
    Vh = _h(V)
    inner = None
    if gV is not None:
        if gV._dtype is not V._dtype:
            gV = gV.to(V.dtype)
        VhgV = matmul(Vh, gV)
        d = diagonal(VhgV, 0, -2, -1)
        im = d._data.imag
        if not np.allclose(im, 0, rtol=1e-2, atol=1e-2):
            raise RuntimeError(_GAUGE_MSG)
        W = VhgV - matmul(Vh, V * d.real.unsqueeze(-2))
        Lc = L.conj()
        E = Lc.unsqueeze(-2) - Lc.unsqueeze(-1)
        inner = W / _fill_diag(E, np.eye(n, dtype=bool))
    if gL is not None:
        if gL._dtype is not L._dtype:
            gL = gL.to(L.dtype)
        dg = diag_embed(gL)
        inner = dg if inner is None else inner + dg
    if inner is None:
        return None
    return solve(Vh, matmul(inner, Vh))


def _fill_diag(E: Tensor, eye: np.ndarray) -> Tensor:
    """E with ones on its diagonal (a constant there, so no gradient flows through it)."""
    from .binary import where

    return where(wrap(np.broadcast_to(eye, E._data.shape).copy()), 1.0, E)


def _eig_np(a: np.ndarray) -> tuple:
    cdt = _COMPLEX_OF[a.dtype]
    if a.shape[-1] == 0:
        return (np.zeros(a.shape[:-1], dtype=cdt), np.zeros(a.shape, dtype=cdt))
    w, v = np.linalg.eig(a)
    return w.astype(cdt), v.astype(cdt)


def _checks(name: str, A) -> Tensor:
    A = tensor_arg(A)
    check_matrix(name, A)
    s = A._data.shape
    if s[-1] != s[-2]:
        raise RuntimeError(f"{name}: A must be batches of square matrices, but they are {s[-2]} by "
                           f"{s[-1]} matrices")
    if A._dtype.category < D.FLOAT:
        raise RuntimeError(f"Unknown Complex ScalarType for {A._dtype._short}")
    if A._data.dtype == np.float16 or A._dtype._short == "BFloat16":
        raise RuntimeError(f"{name}: Low precision dtypes not supported. Got {A._dtype._short}")
    return A


def _eig(A: Tensor) -> tuple:
    a = A._data
    L, V = _eig_np(a)
    node = new_node(LinalgEigBackward0, (A,))
    Lt, Vt = wrap(L, node), wrap(np.ascontiguousarray(V), node)
    if node is not None:
        Vt._output_nr = 1
        node._saved = (SavedTensor(Lt, True), SavedTensor(Vt, True))
    return Lt, Vt


def eig(A: Tensor, *, out=None) -> tuple:
    """(eigenvalues, eigenvectors) of a square matrix (or batch): complex, A V = V diag(L).

    >>> import tapegrad
    >>> tapegrad.linalg.eig(tapegrad.tensor([[2., 0.], [0., 3.]])).eigenvalues
    tensor([2.+0.j, 3.+0.j])
    """
    A = _checks("linalg.eig", A)
    if not np.isfinite(A._data).all():
        raise RuntimeError("tapegrad.linalg.eig: input tensor should not contain infs or NaNs.")
    return _out_tuple(rt.linalg_eig(_eig(A)), out)


def eigvals(A: Tensor, *, out=None) -> Tensor:
    """The (complex) eigenvalues of a square matrix or batch, as linalg.eig's.

    >>> import tapegrad
    >>> tapegrad.linalg.eigvals(tapegrad.tensor([[0., -1.], [1., 0.]]))
    tensor([0.+1.j, 0.-1.j])
    """
    A = _checks("linalg.eigvals", A)
    a = A._data
    if not np.isfinite(a).all():
        bad = ~np.isfinite(a).all(axis=(-1, -2))
        good = np.where(bad[..., None, None], 0, a)
        L, _ = _eig_np(good)
        L[bad] = complex(np.nan, np.nan)
        return _out(wrap(L), out)
    return _out(_eig(A)[0], out)


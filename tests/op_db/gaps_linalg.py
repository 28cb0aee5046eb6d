"""Rows for the torch.linalg functions of ops/linalg_lu.py, linalg_eig.py and linalg_gaps.py:
lu_factor(_ex), lu, lu_unpack, lu_solve (and torch.lu, torch.lu_solve, torch.triangular_solve),
eig / eigvals, cond, tensorinv, tensorsolve, vander, householder_product (orgqr), ormqr and
linalg.matmul.

Matrices are well conditioned and their pivots well separated (the LU's row choice does not
change under the finite-difference step). Eigenvectors are unique only up to a phase e^{i phi}
(and PyTorch refuses losses that depend on it), so eig rows differentiate phase-invariant
quantities: v_ij conj(v_ij) (= |v_ij|^2) and ratios of entries of one eigenvector. cond's
1 / inf / fro norms and torch.vander have no working backward in PyTorch (they modify a saved
tensor in place): tests/test_gaps_linalg.py checks that both libraries refuse the same way.
"""

# ruff: noqa: N803  (PyTorch's argument names: A, B, C)
from __future__ import annotations

import warnings

import numpy as np

import tapegrad.linalg  # noqa: F401  (makes tapegrad.linalg available as m.linalg)

from . import OpInfo, Sample, randn
from .linalg_more import F32, well


def S(*args, grad=None, desc="", **kwargs):
    return Sample(args, kwargs, grad=grad, desc=desc)


def samples(*makers):
    return lambda rng: [mk(rng) for mk in makers]


def _quiet(fn):
    """fn with the deprecation warnings of torch.lu / lu_solve / triangular_solve silenced."""
    def run(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)

    return run


def _lu_solve(m, A, B, left=True, adjoint=False):
    LU, piv = m.linalg.lu_factor(A)
    return m.linalg.lu_solve(LU, piv, B, left=left, adjoint=adjoint)


def _eig_inv(m, A):
    L, V = m.linalg.eig(A)
    return L, V * V.conj(), V[..., 0, :] / V[..., 1, :]


def _hh_inputs(rng, shape, k):
    a = randn(rng, shape)
    tau = rng.uniform(0.5, 1.5, shape[:-2] + (k,))
    return a, tau


def _eig_matrix(rng, shape, real_spectrum):
    """Matrices with well separated eigenvalues (real, or in complex pairs)."""
    *batch, n, _ = shape
    out = np.empty(shape)
    for idx in np.ndindex(*batch):
        q = well(rng, (n, n))
        if real_spectrum:
            d = np.diag(np.linspace(1.0, 3.0, n) * rng.choice([-1, 1], n))
        else:
            d = np.diag(np.linspace(1.0, 3.0, n))
            d[0, 1], d[1, 0] = 1.5, -1.5  # a rotation block: a complex pair 1 +- 1.5i
        out[idx] = q @ d @ np.linalg.inv(q)
    return out


ROWS = [
    # --- LU ------------------------------------------------------------------------------
    OpInfo("linalg_lu_factor", lambda m, A: m.linalg.lu_factor(A),
           samples(lambda r: S(well(r, (3, 3))), lambda r: S(well(r, (2, 4, 4)), desc="batch")),
           "LinalgLuFactorExBackward0", multi_output=True, **F32),
    OpInfo("linalg_lu_factor_ex", lambda m, A: m.linalg.lu_factor_ex(A),
           samples(lambda r: S(well(r, (4, 2)), desc="tall"),
                   lambda r: S(well(r, (2, 4)), desc="wide"),
                   lambda r: S(well(r, (3, 3)), desc="square")),
           "LinalgLuFactorExBackward0", multi_output=True, **F32),
    OpInfo("linalg_lu", lambda m, A: m.linalg.lu(A),
           samples(lambda r: S(well(r, (3, 3)), desc="square"),
                   lambda r: S(well(r, (5, 3)), desc="tall"),
                   lambda r: S(well(r, (2, 3, 5)), desc="wide_batch")),
           "LinalgLuBackward0", multi_output=True, **F32),
    OpInfo("linalg_lu_L_only", lambda m, A: m.linalg.lu(A).L,
           samples(lambda r: S(well(r, (4, 3)), desc="tall"),
                   lambda r: S(well(r, (3, 4)), desc="wide")), "LinalgLuBackward0", **F32),
    OpInfo("linalg_lu_U_only", lambda m, A: m.linalg.lu(A).U,
           samples(lambda r: S(well(r, (4, 3)), desc="tall"),
                   lambda r: S(well(r, (3, 4)), desc="wide")), "LinalgLuBackward0", **F32),
    OpInfo("lu_unpack", lambda m, A: m.lu_unpack(*m.linalg.lu_factor_ex(A)[:2]),
           samples(lambda r: S(well(r, (3, 3)), desc="square"),
                   lambda r: S(well(r, (4, 2)), desc="tall"),
                   lambda r: S(well(r, (2, 2, 4)), desc="wide_batch")),
           "LuUnpackBackward0", multi_output=True, **F32),
    OpInfo("linalg_lu_solve", lambda m, A, B, left, adj: _lu_solve(m, A, B, left, adj),
           samples(*[(lambda left, adj: (lambda r: S(
               well(r, (3, 3)), randn(r, (3, 2) if left else (2, 3)), left, adj,
               desc=f"{'left' if left else 'right'}{'_adj' if adj else ''}")))(left, adj)
               for left in (True, False) for adj in (False, True)],
               lambda r: S(well(r, (2, 3, 3)), randn(r, (4, 1, 3, 2)), True, False,
                           desc="bcast")),
           "LinalgLuSolveBackward0", **F32),
    OpInfo("torch_lu", _quiet(lambda m, A: m.lu(A, get_infos=True)),
           samples(lambda r: S(well(r, (3, 3)))), "LinalgLuFactorExBackward0",
           multi_output=True, **F32),
    OpInfo("torch_lu_solve", _quiet(lambda m, A, B: m.lu_solve(B, *m.linalg.lu_factor(A))),
           samples(lambda r: S(well(r, (3, 3)), randn(r, (3, 2)))), "LinalgLuSolveBackward0",
           **F32),
    OpInfo("triangular_solve", _quiet(lambda m, b, A, up, tr, un: m.triangular_solve(
        b, A, up, tr, un)),
        samples(*[(lambda up, tr, un: (lambda r: S(
            randn(r, (3, 2)), randn(r, (3, 3)) * 0.3 + 2 * np.eye(3), up, tr, un,
            desc=f"{'U' if up else 'L'}{'t' if tr else ''}{'1' if un else ''}")))(up, tr, un)
            for up in (True, False) for tr in (False, True) for un in (False, True)],
            lambda r: S(randn(r, (2, 3, 1)), randn(r, (3, 3)) + 3 * np.eye(3), True, False,
                        False, desc="bcast")),
        "TriangularSolveBackward0", multi_output=True, **F32),
    # --- eig -----------------------------------------------------------------------------
    OpInfo("linalg_eig", _eig_inv,
           samples(lambda r: S(_eig_matrix(r, (3, 3), True), desc="real_spectrum"),
                   lambda r: S(_eig_matrix(r, (3, 3), False), desc="complex_pair"),
                   lambda r: S(_eig_matrix(r, (2, 4, 4), False), desc="batch")),
           multi_output=True, **F32),
    OpInfo("linalg_eigvals", lambda m, A: m.linalg.eigvals(A),
           samples(lambda r: S(_eig_matrix(r, (3, 3), True), desc="real_spectrum"),
                   lambda r: S(_eig_matrix(r, (2, 3, 3), False), desc="complex_batch")),
           "LinalgEigBackward0", **F32),
    # --- cond / tensorinv / tensorsolve / vander / matmul ----------------------------------
    OpInfo("linalg_cond", lambda m, A, p: m.linalg.cond(A, p),
           samples(lambda r: S(well(r, (3, 3)), None, desc="default"),
                   lambda r: S(well(r, (2, 3, 4)), 2, desc="2_rect_batch"),
                   lambda r: S(well(r, (4, 3)), -2, desc="-2"),
                   lambda r: S(well(r, (3, 3)), "nuc", desc="nuc")), **F32),
    OpInfo("linalg_tensorinv", lambda m, A, ind: m.linalg.tensorinv(A, ind=ind),
           samples(lambda r: S(well(r, (6, 6)).reshape(6, 2, 3), 1, desc="ind1"),
                   lambda r: S(well(r, (6, 6)).reshape(2, 3, 6), 2, desc="ind2"),
                   lambda r: S(well(r, (4, 4)).reshape(2, 2, 2, 2), 2, desc="4d")),
           "ReshapeAliasBackward0", **F32),
    OpInfo("linalg_tensorsolve", lambda m, A, B, dims=None: m.linalg.tensorsolve(A, B, dims),
           samples(lambda r: S(well(r, (6, 6)).reshape(2, 3, 6), randn(r, (2, 3)), desc="2d"),
                   lambda r: S(well(r, (6, 6)).reshape(6, 2, 3), randn(r, (2, 3)), (0,),
                               desc="dims")), "ViewBackward0", **F32),
    OpInfo("linalg_vander", lambda m, x, **kw: m.linalg.vander(x, **kw),
           samples(lambda r: S(randn(r, (4,)), desc="1d"),
                   lambda r: S(randn(r, (2, 3)), N=5, desc="batch_N5"),
                   lambda r: S(randn(r, (3,)), N=2, desc="N2")), "CatBackward0"),
    OpInfo("linalg_matmul", lambda m, a, b: m.linalg.matmul(a, b),
           samples(lambda r: S(randn(r, (2, 3)), randn(r, (3, 4))),
                   lambda r: S(randn(r, (2, 1, 2, 3)), randn(r, (3,)), desc="mv_batch"))),
    # --- Householder products ------------------------------------------------------------
    OpInfo("linalg_householder_product", lambda m, A, tau: m.linalg.householder_product(A, tau),
           samples(lambda r: S(*_hh_inputs(r, (4, 3), 2), desc="k2"),
                   lambda r: S(*_hh_inputs(r, (3, 3), 3), desc="square"),
                   lambda r: S(*_hh_inputs(r, (2, 5, 3), 3), desc="batch")),
           "LinalgHouseholderProductBackward0", **F32),
    OpInfo("orgqr", lambda m, A, tau: m.orgqr(A, tau),
           samples(lambda r: S(*_hh_inputs(r, (4, 2), 2))),
           "LinalgHouseholderProductBackward0", **F32),
    OpInfo("ormqr", lambda m, A, tau, C, left, tr: m.ormqr(A, tau, C, left, tr),
           samples(*[(lambda left, tr: (lambda r: S(
               *_hh_inputs(r, (4, 3), 3), randn(r, (4, 2) if left else (2, 4)), left, tr,
               desc=f"{'left' if left else 'right'}{'_T' if tr else ''}")))(left, tr)
               for left in (True, False) for tr in (False, True)]),
           "OrmqrBackward0", **F32),
]

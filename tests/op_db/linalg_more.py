"""Rows for the linear algebra beyond matmul: einsum, tensordot, the add-product ops, diagonals
and triangles, kron, cdist, matrix_power, cross, and torch.linalg's decompositions.

Inputs are well conditioned (separated singular values and eigenvalues, SPD where needed) so
float64 central differences are accurate. Factorizations whose outputs are unique only up to
signs (eigh's eigenvectors, svd's singular vectors) are checked through sign-invariant
functions of them (squares of the vectors' entries, reconstructions), as PyTorch's own tests
do; Cholesky and eigh inputs are symmetrized inside the function, so that the perturbation of
every entry is seen by the factorization. Float32 rows of iterative or ill-scaled algorithms
compare with torch at float32 precision (atol/rtol 1e-4).
"""

from __future__ import annotations

import numpy as np

import tapegrad.linalg  # noqa: F401  (makes tapegrad.linalg available as m.linalg)

from . import OpInfo, Sample, randn

F32 = {"atol": 1e-4, "rtol": 1e-4, "grad_atol": 1e-4, "grad_rtol": 1e-4}


def _orth(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def well(rng, shape, lo=1.0, hi=3.0):
    """Matrices U diag(s) V^T with singular values spread over [lo, hi] (well separated)."""
    *batch, m, n = shape
    k = min(m, n)
    out = np.empty(shape)
    for idx in np.ndindex(*batch):
        s = np.linspace(hi, lo, k) * rng.uniform(0.95, 1.05, k) if k else np.zeros(0)
        u, v = _orth(rng, m)[:, :k], _orth(rng, n)[:, :k]
        out[idx] = (u * s) @ v.T
    return out


def spd(rng, shape, lo=1.0, hi=4.0):
    """Symmetric positive-definite matrices with eigenvalues spread over [lo, hi]."""
    *batch, n, _ = shape
    out = np.empty(shape)
    for idx in np.ndindex(*batch):
        q = _orth(rng, n)
        out[idx] = (q * np.linspace(lo, hi, n)) @ q.T
    return out


def samples(*makers):
    """A sample maker from functions rng -> Sample."""
    return lambda rng: [mk(rng) for mk in makers]


def S(*args, grad=None, desc="", **kwargs):
    return Sample(args, kwargs, grad=grad, desc=desc)


def _sym(x):
    return (x + x.mT) / 2


def _eigh_inv(m, x):
    L, V = m.linalg.eigh(_sym(x))
    return L, V * V


def _svd_inv(m, x, full=False):
    U, s, Vh = m.linalg.svd(x, full_matrices=full)
    k = s.shape[-1]
    U, Vh = U[..., :k], Vh[..., :k, :]
    return s, U * U, Vh * Vh, (U * s.unsqueeze(-2)) @ Vh


def _svd_uv_only(m, x):
    U, _, Vh = m.linalg.svd(x, full_matrices=False)
    return U * U, Vh * Vh


def _tsvd(m, x):
    U, s, V = m.svd(x)
    return s, U * U, V * V


_EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]), ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]), ("ij->ji", [(2, 3)]), ("ij->", [(2, 3)]), ("i,i", [(3,), (3,)]),
    ("...ij,...jk", [(5, 2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("i,j->ij", [(3,), (4,)]), ("ij,j->i", [(2, 3), (3,)]), ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("iij->ji", [(3, 3, 2)]),
    ("ij,jk->ik", [(2, 1), (3, 4)]), ("...ii->...i", [(4, 2, 2)]), ("bn,anm,bm->ba",
                                                                    [(2, 3), (4, 3, 5), (2, 5)]),
    ("ik,jk", [(2, 3), (4, 3)]), ("iij,jk->ik", [(3, 3, 2), (2, 4)]), ("...ij->ij", [(4, 2, 3)]),
    ("i,ij->ij", [(1,), (2, 3)]), ("aB,Bc->ca", [(2, 3), (3, 2)]),
]


def _einsum_samples(rng):
    return [Sample((eq,) + tuple(randn(rng, s) for s in shapes), desc=eq.replace("->", "_to_")
                   .replace(",", "_").replace("...", "E"))
            for eq, shapes in _EINSUM]


def _mat(shape, maker=None):
    return lambda rng: (maker or randn)(rng, shape)


ROWS = [
    # --- einsum / tensordot ----------------------------------------------------------------
    OpInfo("einsum", lambda m, eq, *ops: m.einsum(eq, *ops), _einsum_samples),
    OpInfo("einsum_list", lambda m, a, b: m.einsum("ij,jk->ik", [a, b]),
           samples(lambda r: S(randn(r, (2, 3)), randn(r, (3, 4)))), "ViewBackward0"),
    OpInfo("einsum_sublist", lambda m, a, b: m.einsum(a, [0, 1], b, [1, 2], [0, 2]),
           samples(lambda r: S(randn(r, (2, 3)), randn(r, (3, 4)))), "ViewBackward0"),
    OpInfo("tensordot", lambda m, a, b, d: m.tensordot(a, b, dims=d),
           samples(lambda r: S(randn(r, (2, 3, 4)), randn(r, (3, 4, 5)), 2, desc="2"),
                   lambda r: S(randn(r, (2, 3)), randn(r, (3, 4)), 1, desc="1"),
                   lambda r: S(randn(r, (2, 3)), randn(r, (4,)), 0, desc="0"),
                   lambda r: S(randn(r, (3, 2)), randn(r, (2, 3)), ([1, 0], [0, 1]),
                               desc="lists"),
                   lambda r: S(randn(r, (2, 1)), randn(r, (3, 4)), ([1], [0]), desc="bcast"))),
    # --- add-products ----------------------------------------------------------------------
    OpInfo("addmm", lambda m, c, a, b: m.addmm(c, a, b),
           samples(lambda r: S(randn(r, (2, 4)), randn(r, (2, 3)), randn(r, (3, 4))),
                   lambda r: S(randn(r, (4,)), randn(r, (2, 3)), randn(r, (3, 4)), desc="bc")),
           "AddmmBackward0"),
    OpInfo("addmm_scaled", lambda m, c, a, b: m.addmm(c, a, b, beta=0.5, alpha=-2.0),
           samples(lambda r: S(randn(r, (2, 4)), randn(r, (2, 3)), randn(r, (3, 4)))),
           "AddmmBackward0"),
    OpInfo("addmm_beta0", lambda m, c, a, b: c.addmm(a, b, beta=0),
           samples(lambda r: S(randn(r, (1, 4)), randn(r, (2, 3)), randn(r, (3, 4)))),
           "AddmmBackward0"),
    OpInfo("addmv", lambda m, c, a, v: m.addmv(c, a, v, beta=2.0, alpha=0.5),
           samples(lambda r: S(randn(r, (2,)), randn(r, (2, 3)), randn(r, (3,))),
                   lambda r: S(randn(r, ()), randn(r, (2, 3)), randn(r, (3,)), desc="0d")),
           "AddmvBackward0"),
    OpInfo("addr", lambda m, c, u, v: m.addr(c, u, v, beta=0.5, alpha=3.0),
           samples(lambda r: S(randn(r, (2, 3)), randn(r, (2,)), randn(r, (3,))),
                   lambda r: S(randn(r, (3,)), randn(r, (2,)), randn(r, (3,)), desc="bc")),
           "AddrBackward0"),
    OpInfo("baddbmm", lambda m, c, a, b: m.baddbmm(c, a, b, alpha=1.5),
           samples(lambda r: S(randn(r, (5, 2, 4)), randn(r, (5, 2, 3)), randn(r, (5, 3, 4))),
                   lambda r: S(randn(r, (4,)), randn(r, (5, 2, 3)), randn(r, (5, 3, 4)),
                               desc="bc")),
           "BaddbmmBackward0"),
    OpInfo("addbmm", lambda m, c, a, b: m.addbmm(c, a, b, beta=0.5),
           samples(lambda r: S(randn(r, (2, 4)), randn(r, (5, 2, 3)), randn(r, (5, 3, 4)))),
           "AddbmmBackward0"),
    # --- diagonals, triangles, trace, kron -------------------------------------------------
    OpInfo("diagonal", lambda m, x, o, d1, d2: m.diagonal(x, o, d1, d2),
           samples(lambda r: S(randn(r, (3, 4)), 0, 0, 1, desc="main"),
                   lambda r: S(randn(r, (3, 4)), 1, 0, 1, desc="above"),
                   lambda r: S(randn(r, (3, 4)), -2, 0, 1, desc="below"),
                   lambda r: S(randn(r, (2, 3, 4)), 1, -1, 0, desc="dims"),
                   lambda r: S(randn(r, (3, 4)), 5, 0, 1, desc="empty")),
           "DiagonalBackward0"),
    OpInfo("linalg_diagonal", lambda m, x: m.linalg.diagonal(x, offset=1),
           samples(lambda r: S(randn(r, (2, 3, 3)))), "DiagonalBackward0"),
    OpInfo("diag_embed", lambda m, x, o, d1, d2: m.diag_embed(x, o, d1, d2),
           samples(lambda r: S(randn(r, (2, 3)), 0, -2, -1, desc="main"),
                   lambda r: S(randn(r, (2, 3)), -1, 0, 2, desc="dims")),
           "DiagEmbedBackward0"),
    OpInfo("diag_vector", lambda m, x, k: m.diag(x, k),
           samples(lambda r: S(randn(r, (3,)), 0, desc="0"),
                   lambda r: S(randn(r, (3,)), -2, desc="-2")), "DiagEmbedBackward0"),
    OpInfo("diag_matrix", lambda m, x, k: x.diag(k),
           samples(lambda r: S(randn(r, (3, 4)), 0, desc="0"),
                   lambda r: S(randn(r, (3, 4)), 1, desc="1")), "DiagonalBackward0_copy"),
    OpInfo("trace", lambda m, x: m.trace(x),
           samples(lambda r: S(randn(r, (3, 3))), lambda r: S(randn(r, (2, 4)), desc="rect")),
           "TraceBackward0"),
    OpInfo("tril", lambda m, x, k: m.tril(x, k),
           samples(lambda r: S(randn(r, (3, 4)), 0, desc="0"),
                   lambda r: S(randn(r, (2, 3, 4)), -1, desc="batch")), "TrilBackward0"),
    OpInfo("triu", lambda m, x, k: x.triu(k),
           samples(lambda r: S(randn(r, (3, 4)), 1, desc="1"),
                   lambda r: S(randn(r, (2, 3, 4)), 0, desc="batch")), "TriuBackward0"),
    OpInfo("kron", lambda m, a, b: m.kron(a, b),
           samples(lambda r: S(randn(r, (2, 3)), randn(r, (3, 2))),
                   lambda r: S(randn(r, (2,)), randn(r, (2, 3)), desc="1x2")),
           "UnsafeViewBackward0"),
    # --- cdist / cross / matrix_power ------------------------------------------------------
    OpInfo("cdist", lambda m, a, b, p: m.cdist(a, b, p=p),
           samples(lambda r: S(randn(r, (3, 4)), randn(r, (5, 4)), 2.0, desc="p2"),
                   lambda r: S(randn(r, (3, 4)), randn(r, (5, 4)), 1.0, desc="p1"),
                   lambda r: S(randn(r, (3, 4)), randn(r, (5, 4)), 3.0, desc="p3"),
                   lambda r: S(randn(r, (3, 4)), randn(r, (5, 4)), 1.5, desc="p1.5"),
                   lambda r: S(randn(r, (3, 4)), randn(r, (5, 4)), float("inf"), desc="inf"),
                   lambda r: S(randn(r, (2, 1, 3, 4)), randn(r, (3, 5, 4)), 2.0, desc="bc"),
                   lambda r: S(randn(r, (3, 4)), randn(r, (5, 4)), 0.0, desc="p0")),
           "CdistBackward0"),
    OpInfo("cdist_mm", lambda m, a, b: m.cdist(a, b),
           samples(lambda r: S(randn(r, (30, 3)), randn(r, (4, 3)))), "ViewBackward0"),
    OpInfo("linalg_cross", lambda m, a, b: m.linalg.cross(a, b),
           samples(lambda r: S(randn(r, (4, 3)), randn(r, (4, 3))),
                   lambda r: S(randn(r, (2, 1, 3)), randn(r, (1, 5, 3)),
                               desc="bc")), "LinalgCrossBackward0"),
    OpInfo("cross_dim", lambda m, a, b: m.cross(a, b, dim=0),
           samples(lambda r: S(randn(r, (3, 4)), randn(r, (3, 4)))), "LinalgCrossBackward0"),
    OpInfo("matrix_power", lambda m, x, n: m.linalg.matrix_power(x, n),
           samples(*[(lambda k: (lambda r: S(well(r, (3, 3)), k, desc=str(k))))(k)
                     for k in (0, 1, 2, 3, 5, -1, -2)],
                   lambda r: S(well(r, (2, 3, 3)), 4, desc="batch4"))),
    # --- determinants, inverses, solves ----------------------------------------------------
    OpInfo("det", lambda m, x: m.linalg.det(x),
           samples(lambda r: S(well(r, (3, 3))), lambda r: S(well(r, (2, 2, 2)), desc="batch"),
                   lambda r: S(randn(r, (1, 1)), desc="1x1")),
           "LinalgDetBackward0", **F32),
    OpInfo("torch_det", lambda m, x: x.det(), samples(lambda r: S(well(r, (3, 3)))),
           "LinalgDetBackward0", **F32),
    OpInfo("slogdet", lambda m, x: m.linalg.slogdet(x),
           samples(lambda r: S(well(r, (3, 3))), lambda r: S(well(r, (2, 3, 3)), desc="batch")),
           "LinalgSlogdetBackward0", multi_output=True, **F32),
    OpInfo("torch_slogdet", lambda m, x: m.slogdet(x), samples(lambda r: S(well(r, (3, 3)))),
           "LinalgSlogdetBackward0", multi_output=True, **F32),
    OpInfo("logdet", lambda m, x: m.logdet(_sym(x)), samples(lambda r: S(spd(r, (3, 3)))),
           "WhereBackward0", **F32),
    OpInfo("inv", lambda m, x: m.linalg.inv(x),
           samples(lambda r: S(well(r, (3, 3))), lambda r: S(well(r, (2, 3, 3)), desc="batch")),
           "LinalgInvExBackward0", **F32),
    OpInfo("inverse", lambda m, x: x.inverse(), samples(lambda r: S(well(r, (3, 3)))),
           "LinalgInvExBackward0", **F32),
    OpInfo("inv_ex", lambda m, x: m.linalg.inv_ex(x), samples(lambda r: S(well(r, (3, 3)))),
           "LinalgInvExBackward0", multi_output=True, **F32),
    OpInfo("solve", lambda m, a, b: m.linalg.solve(a, b),
           samples(lambda r: S(well(r, (3, 3)), randn(r, (3, 2)), desc="matrix"),
                   lambda r: S(well(r, (3, 3)), randn(r, (3,)), desc="vector"),
                   lambda r: S(well(r, (2, 3, 3)), randn(r, (2, 3)), desc="batch_vector"),
                   lambda r: S(well(r, (3, 3)), randn(r, (4, 3, 2)), desc="bcast_A"),
                   lambda r: S(well(r, (2, 1, 3, 3)), randn(r, (5, 3, 1)), desc="bcast_both")),
           "LinalgSolveExBackward0", **F32),
    OpInfo("solve_right", lambda m, a, b: m.linalg.solve(a, b, left=False),
           samples(lambda r: S(well(r, (3, 3)), randn(r, (2, 3)), desc="matrix"),
                   lambda r: S(well(r, (2, 3, 3)), randn(r, (4, 1, 5, 3)), desc="batch")),
           "LinalgSolveExBackward0", **F32),
    OpInfo("solve_ex", lambda m, a, b: m.linalg.solve_ex(a, b),
           samples(lambda r: S(well(r, (3, 3)), randn(r, (3, 2)))),
           "LinalgSolveExBackward0", multi_output=True, **F32),
    OpInfo("solve_triangular", lambda m, a, b, up, left, unit: m.linalg.solve_triangular(
        a, b, upper=up, left=left, unitriangular=unit),
        samples(*[(lambda up, left, unit: (lambda r: S(
            randn(r, (3, 3)) * 0.3 + 2 * np.eye(3), randn(r, (3, 2) if left else (2, 3)), up,
            left, unit, desc=f"{'U' if up else 'L'}{'l' if left else 'r'}{'1' if unit else ''}"
        )))(up, left, unit) for up in (True, False) for left in (True, False)
            for unit in (False, True)]),
        "LinalgSolveTriangularBackward0", **F32),
    # --- cholesky --------------------------------------------------------------------------
    OpInfo("cholesky", lambda m, x: m.linalg.cholesky(_sym(x)),
           samples(lambda r: S(spd(r, (3, 3))), lambda r: S(spd(r, (2, 4, 4)), desc="batch")),
           "LinalgCholeskyExBackward0", **F32),
    OpInfo("cholesky_upper", lambda m, x: m.linalg.cholesky(_sym(x), upper=True),
           samples(lambda r: S(spd(r, (3, 3)))), "LinalgCholeskyExBackward0", **F32),
    OpInfo("cholesky_ex", lambda m, x: m.linalg.cholesky_ex(_sym(x)),
           samples(lambda r: S(spd(r, (3, 3)))), "LinalgCholeskyExBackward0",
           multi_output=True, **F32),
    OpInfo("cholesky_solve", lambda m, b, x, up: m.cholesky_solve(
        b, m.linalg.cholesky(_sym(x), upper=up), up),
        samples(lambda r: S(randn(r, (3, 2)), spd(r, (3, 3)), False, desc="lower"),
                lambda r: S(randn(r, (2, 3, 2)), spd(r, (3, 3)), True, desc="upper_bc")),
        "CholeskySolveBackward0", **F32),
    OpInfo("cholesky_inverse", lambda m, x, up: m.cholesky_inverse(
        m.linalg.cholesky(_sym(x), upper=up), up),
        samples(lambda r: S(spd(r, (3, 3)), False, desc="lower"),
                lambda r: S(spd(r, (3, 3)), True, desc="upper")),
        "CholeskyInverseBackward0", **F32),
    # --- qr / eigh / svd -------------------------------------------------------------------
    OpInfo("qr", lambda m, x, mode: m.linalg.qr(x, mode=mode),
           samples(lambda r: S(well(r, (4, 3)), "reduced", desc="tall"),
                   lambda r: S(well(r, (3, 3)), "reduced", desc="square"),
                   lambda r: S(well(r, (3, 5)), "reduced", desc="wide"),
                   lambda r: S(well(r, (3, 5)), "complete", desc="wide_complete"),
                   lambda r: S(well(r, (2, 4, 2)), "reduced", desc="batch")),
           "LinalgQrBackward0", multi_output=True, **F32),
    OpInfo("qr_R_only_grad", lambda m, x: m.linalg.qr(x).R,
           samples(lambda r: S(well(r, (4, 3)), desc="tall"),
                   lambda r: S(well(r, (3, 5)), desc="wide")), "LinalgQrBackward0", **F32),
    OpInfo("qr_Q_only_grad", lambda m, x: m.linalg.qr(x).Q,
           samples(lambda r: S(well(r, (4, 3)), desc="tall"),
                   lambda r: S(well(r, (3, 5)), desc="wide")), "LinalgQrBackward0", **F32),
    OpInfo("torch_qr", lambda m, x: m.qr(x), samples(lambda r: S(well(r, (4, 3)))),
           "LinalgQrBackward0", multi_output=True, **F32),
    OpInfo("eigh", _eigh_inv,
           samples(lambda r: S(spd(r, (3, 3), -2.0, 3.0)),
                   lambda r: S(spd(r, (2, 4, 4), 1.0, 5.0), desc="batch")),
           "LinalgEighBackward0", multi_output=True, **F32),
    OpInfo("eigh_upper_vectors", lambda m, x: m.linalg.eigh(_sym(x), UPLO="U")[1].pow(2),
           samples(lambda r: S(spd(r, (3, 3), -2.0, 3.0))), "PowBackward0", **F32),
    OpInfo("eigvalsh", lambda m, x: m.linalg.eigvalsh(_sym(x)),
           samples(lambda r: S(spd(r, (3, 3), -2.0, 3.0))), "LinalgEighBackward0", **F32),
    OpInfo("svd", _svd_inv,
           samples(lambda r: S(well(r, (4, 3)), desc="tall"),
                   lambda r: S(well(r, (3, 4)), desc="wide"),
                   lambda r: S(well(r, (3, 3)), desc="square"),
                   lambda r: S(well(r, (2, 3, 2)), desc="batch")),
           "LinalgSvdBackward0", multi_output=True, **F32),
    OpInfo("svd_full", lambda m, x: _svd_inv(m, x, True),
           samples(lambda r: S(well(r, (4, 3)), desc="tall"),
                   lambda r: S(well(r, (3, 4)), desc="wide")),
           "LinalgSvdBackward0", multi_output=True, **F32),
    OpInfo("svd_vectors_only", _svd_uv_only,
           samples(lambda r: S(well(r, (4, 3)), desc="tall"),
                   lambda r: S(well(r, (3, 4)), desc="wide")),
           "MulBackward0", multi_output=True, **F32),
    OpInfo("svd_U_only", lambda m, x: m.linalg.svd(x, full_matrices=False).U.pow(2),
           samples(lambda r: S(well(r, (4, 3)), desc="tall"),
                   lambda r: S(well(r, (3, 4)), desc="wide")), "PowBackward0", **F32),
    OpInfo("svd_Vh_only", lambda m, x: m.linalg.svd(x, full_matrices=False).Vh.pow(2),
           samples(lambda r: S(well(r, (4, 3)), desc="tall"),
                   lambda r: S(well(r, (3, 4)), desc="wide")), "PowBackward0", **F32),
    OpInfo("svdvals", lambda m, x: m.linalg.svdvals(x),
           samples(lambda r: S(well(r, (4, 3)), desc="tall"),
                   lambda r: S(well(r, (2, 3, 4)), desc="wide_batch")),
           "LinalgSvdBackward0", **F32),
    OpInfo("torch_svd", _tsvd, samples(lambda r: S(well(r, (4, 3)))), "LinalgSvdBackward0",
           multi_output=True, **F32),
    # --- pinv / lstsq / matrix_exp ---------------------------------------------------------
    OpInfo("pinv", lambda m, x: m.linalg.pinv(x),
           samples(lambda r: S(well(r, (4, 3)), desc="tall"),
                   lambda r: S(well(r, (3, 4)), desc="wide"),
                   lambda r: S(well(r, (2, 3, 3)), desc="batch")),
           "LinalgPinvBackward0", **F32),
    OpInfo("pinv_hermitian", lambda m, x: m.linalg.pinv(_sym(x), hermitian=True),
           samples(lambda r: S(spd(r, (3, 3)))), "LinalgPinvBackward0", **F32),
    OpInfo("pinverse", lambda m, x: m.pinverse(x), samples(lambda r: S(well(r, (4, 3)))),
           "LinalgPinvBackward0", **F32),
    OpInfo("lstsq", lambda m, a, b, drv: m.linalg.lstsq(a, b, driver=drv),
           samples(lambda r: S(well(r, (5, 3)), randn(r, (5, 2)), None, desc="gelsy"),
                   lambda r: S(well(r, (5, 3)), randn(r, (5, 2)), "gelsd", desc="gelsd"),
                   lambda r: S(well(r, (5, 3)), randn(r, (5,)), "gelss", desc="vector"),
                   lambda r: S(well(r, (2, 5, 3)), randn(r, (2, 5, 1)), "gelsd",
                               desc="batch"),
                   lambda r: S(well(r, (3, 3)), randn(r, (3, 2)), "gels", desc="gels")),
           "LinalgLstsqBackward0", multi_output=True, **F32),
    OpInfo("matrix_exp", lambda m, x: m.linalg.matrix_exp(x),
           samples(lambda r: S(randn(r, (3, 3))),
                   lambda r: S(randn(r, (2, 2, 2)) * 3, desc="scaled_batch")),
           "LinalgMatrixExpBackward0", **F32),
    OpInfo("torch_matrix_exp", lambda m, x: x.matrix_exp(), samples(lambda r: S(randn(r, (2, 2)))),
           "LinalgMatrixExpBackward0", **F32),
    # --- multi_dot / vecdot / norms --------------------------------------------------------
    OpInfo("multi_dot", lambda m, *ts: m.linalg.multi_dot(list(ts)),
           samples(lambda r: S(randn(r, (2, 3)), randn(r, (3, 4)), desc="2"),
                   lambda r: S(randn(r, (3,)), randn(r, (3, 4)), randn(r, (4,)), desc="vmv"),
                   lambda r: S(randn(r, (5, 2)), randn(r, (2, 6)), randn(r, (6, 3)), desc="3"),
                   lambda r: S(randn(r, (2, 6)), randn(r, (6, 2)), randn(r, (2, 5)), desc="3b"),
                   lambda r: S(randn(r, (2, 3)), randn(r, (3, 4)), randn(r, (4, 1)),
                               randn(r, (1, 5)), desc="4")),
           "ViewBackward0"),
    OpInfo("vecdot", lambda m, x, y: m.linalg.vecdot(x, y, dim=-1),
           samples(lambda r: S(randn(r, (2, 3)), randn(r, (4, 1, 3))),
                   lambda r: S(randn(r, (3,)), randn(r, (3,)), desc="1d"))),
    OpInfo("matrix_norm", lambda m, x, o, k: m.linalg.matrix_norm(x, o, keepdim=k),
           samples(*[(lambda o, k: (lambda r: S(well(r, (2, 3, 4)), o, k,
                                                desc=f"{o}{'_keep' if k else ''}")))(o, k)
                     for o in ("fro", "nuc", 2, -2, 1, -1, float("inf"), float("-inf"))
                     for k in (False, True)]), **F32),
    OpInfo("matrix_norm_dims", lambda m, x: m.linalg.matrix_norm(x, 1, dim=(2, 0)),
           samples(lambda r: S(randn(r, (3, 2, 4)))), "AmaxBackward0"),
    OpInfo("linalg_norm", lambda m, x, o, d: m.linalg.norm(x, o, d),
           samples(lambda r: S(randn(r, (3, 4)), None, None, desc="default"),
                   lambda r: S(randn(r, (3, 4)), "fro", None, desc="fro"),
                   lambda r: S(well(r, (3, 4)), "nuc", None, desc="nuc"),
                   lambda r: S(randn(r, (3, 4)), float("inf"), None, desc="inf_matrix"),
                   lambda r: S(randn(r, (4,)), 3, None, desc="vector3"),
                   lambda r: S(randn(r, (2, 3, 4)), None, 1, desc="dim1"),
                   lambda r: S(well(r, (2, 3, 4)), 2, (1, 2), desc="spectral_dims")), **F32),
    OpInfo("linalg_vector_norm", lambda m, x: m.linalg.vector_norm(x, 3, dim=-1),
           samples(lambda r: S(randn(r, (3, 4)))), "LinalgVectorNormBackward0"),
    OpInfo("norm_nuc", lambda m, x: m.norm(x, "nuc"), samples(lambda r: S(well(r, (3, 4)))),
           "SumBackward1", **F32),
]

"""Error messages of the linear-algebra ops, compared with torch's (torch. -> tapegrad.)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad
import tapegrad.linalg  # noqa: F401
from _helpers import error

torch = pytest.importorskip("torch")

D = "float64"
_RNG = np.random.default_rng(1234)
A3 = _RNG.standard_normal((3, 3)) + 3 * np.eye(3)
SPD3 = A3 @ A3.T + np.eye(3)
SING = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 1.0, 1.0]])
NPD = np.array([[4.0, 2.0, 0.0], [2.0, 5.0, 3.0], [0.0, 3.0, 1.0]])


def t(m, a, grad=False, dtype=D):
    return m.tensor(np.asarray(a), dtype=getattr(m, dtype), requires_grad=grad)


def same_error(fn) -> str:
    """fn(m) raises the same exception message for tapegrad and torch (torch. -> tapegrad.),
    and an exception of the same kind (LinAlgError is a RuntimeError in both)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = error(lambda: fn(tapegrad))
        theirs = error(lambda: fn(torch))
    assert theirs[0] != "no error", f"torch raised nothing: {theirs[1]}"
    kind = {"_LinAlgError": "LinAlgError"}.get(theirs[0], theirs[0])
    assert ours[0] == kind, f"{ours} vs {theirs}"
    assert ours[1] == theirs[1].replace("torch.", "tapegrad."), f"\n{ours[1]}\n{theirs[1]}"
    return ours[1]


# --- error messages ------------------------------------------------------------------------
ERRORS = {
    "inv_singular": lambda m: m.linalg.inv(t(m, SING)),
    "inv_singular_2x2": lambda m: m.linalg.inv(t(m, [[1.0, 2.0], [2.0, 4.0]])),
    "inv_zeros": lambda m: m.linalg.inv(t(m, np.zeros((3, 3)))),
    "inv_batch": lambda m: m.linalg.inv(t(m, np.stack([np.eye(3), SING]))),
    "inverse_singular": lambda m: m.inverse(t(m, SING)),
    "inv_int": lambda m: m.linalg.inv(m.ones(3, 3, dtype=m.long)),
    "inv_half": lambda m: m.linalg.inv(m.ones(3, 3, dtype=m.float16)),
    "inv_nonsquare": lambda m: m.linalg.inv(m.ones(2, 3)),
    "inv_1d": lambda m: m.linalg.inv(m.ones(3)),
    "det_nonsquare": lambda m: m.linalg.det(m.ones(2, 3)),
    "det_int": lambda m: m.linalg.det(m.ones(3, 3, dtype=m.long)),
    "slogdet_1d": lambda m: m.linalg.slogdet(m.ones(3)),
    "solve_singular": lambda m: m.linalg.solve(t(m, SING), t(m, np.ones(3))),
    "solve_singular_batch": lambda m: m.linalg.solve(t(m, np.stack([np.eye(3), SING])),
                                                     t(m, np.ones((2, 3, 1)))),
    "solve_shape_vector": lambda m: m.linalg.solve(t(m, np.eye(3)), t(m, np.ones(4))),
    "solve_shape_matrix": lambda m: m.linalg.solve(t(m, np.eye(3)), t(m, np.ones((4, 2)))),
    "solve_right_vector": lambda m: m.linalg.solve(t(m, np.eye(3)), t(m, np.ones(3)),
                                                   left=False),
    "solve_dtype": lambda m: m.linalg.solve(t(m, np.eye(3)), m.ones(3)),
    "solve_int": lambda m: m.linalg.solve(m.ones(3, 3, dtype=m.long), m.ones(3, dtype=m.long)),
    "solve_0d": lambda m: m.linalg.solve(t(m, np.eye(3)), t(m, 1.0)),
    "solve_batch": lambda m: m.linalg.solve(t(m, np.ones((2, 3, 3))), t(m, np.ones((5, 3, 1)))),
    "solve_triangular_1d": lambda m: m.linalg.solve_triangular(t(m, np.eye(2)), t(m, np.ones(2)),
                                                               upper=True),
    "cholesky_npd": lambda m: m.linalg.cholesky(t(m, NPD)),
    "cholesky_npd_2": lambda m: m.linalg.cholesky(t(m, [[1.0, 2.0], [2.0, 1.0]])),
    "cholesky_npd_batch": lambda m: m.linalg.cholesky(t(m, np.stack([np.eye(3), NPD]))),
    "cholesky_upper_reads_upper": lambda m: m.linalg.cholesky(t(m, [[4.0, 100.0], [2.0, 5.0]]),
                                                              upper=True),
    "cholesky_deprecated_npd": lambda m: m.cholesky(t(m, NPD)),
    "cholesky_int": lambda m: m.linalg.cholesky(m.ones(3, 3, dtype=m.long)),
    "qr_mode": lambda m: m.linalg.qr(m.ones(2, 3), mode="foo"),
    "qr_1d": lambda m: m.linalg.qr(m.ones(3)),
    "eigh_uplo": lambda m: m.linalg.eigh(m.eye(3), UPLO="X"),
    "eigh_nonsquare": lambda m: m.linalg.eigh(m.ones(2, 3)),
    "eigh_int": lambda m: m.linalg.eigh(m.ones(3, 3, dtype=m.long)),
    "svd_1d": lambda m: m.linalg.svd(m.ones(3)),
    "svdvals_int": lambda m: m.linalg.svdvals(m.ones(3, 3, dtype=m.long)),
    "pinv_1d": lambda m: m.linalg.pinv(t(m, np.ones(3))),
    "pinv_int": lambda m: m.linalg.pinv(m.ones(3, 3, dtype=m.long)),
    "lstsq_shape": lambda m: m.linalg.lstsq(t(m, np.ones((3, 2))), t(m, np.ones(4))),
    "lstsq_shape_matrix": lambda m: m.linalg.lstsq(t(m, np.ones((3, 2))), t(m, np.ones((4, 1)))),
    "lstsq_1d": lambda m: m.linalg.lstsq(t(m, np.ones(3)), t(m, np.ones(3))),
    "lstsq_driver": lambda m: m.linalg.lstsq(t(m, np.ones((3, 2))), t(m, np.ones((3, 1))),
                                             driver="foo"),
    "lstsq_dtype": lambda m: m.linalg.lstsq(t(m, np.ones((3, 2))), m.ones(3, 1)),
    "lstsq_int": lambda m: m.linalg.lstsq(m.ones(3, 2, dtype=m.long), m.ones(3, 1, dtype=m.long)),
    "matrix_exp_nonsquare": lambda m: m.linalg.matrix_exp(m.ones(2, 3)),
    "matrix_exp_int": lambda m: m.linalg.matrix_exp(m.ones(2, 2, dtype=m.long)),
    "matrix_exp_1d": lambda m: m.linalg.matrix_exp(m.ones(3)),
    "multi_dot_one": lambda m: m.linalg.multi_dot([m.ones(2, 2)]),
    "multi_dot_3d_first": lambda m: m.linalg.multi_dot([m.ones(2, 2, 2), m.ones(2, 2)]),
    "multi_dot_3d_last": lambda m: m.linalg.multi_dot([m.ones(2, 2), m.ones(2, 2, 2)]),
    "multi_dot_shapes": lambda m: m.linalg.multi_dot([m.ones(2, 3), m.ones(2, 2)]),
    "multi_dot_dtype": lambda m: m.linalg.multi_dot([t(m, np.ones((2, 2))), m.ones(2, 2)]),
    "multi_dot_middle_1d": lambda m: m.linalg.multi_dot([m.ones(2, 2), m.ones(2), m.ones(2)]),
    "matrix_power_nonsquare": lambda m: m.linalg.matrix_power(m.ones(2, 3), 2),
    "matrix_power_1d": lambda m: m.linalg.matrix_power(m.ones(3), 2),
    "matrix_power_float_n": lambda m: m.linalg.matrix_power(m.ones(3, 3), 2.0),
    "matrix_power_int_negative": lambda m: m.matrix_power(m.ones(2, 2, dtype=m.long), -1),
    "cross_length": lambda m: m.linalg.cross(m.ones(2, 2), m.ones(2, 2)),
    "cross_ndim": lambda m: m.linalg.cross(m.ones(2, 3), m.ones(3)),
    "cross_dtype": lambda m: m.linalg.cross(m.ones(3), t(m, np.ones(3))),
    "cross_no_dim_of_3": lambda m: m.cross(m.ones(2, 4), m.ones(2, 4)),
    "vecdot_dtype": lambda m: m.linalg.vecdot(m.ones(3, 4), t(m, np.ones(4))),
    "matrix_norm_order": lambda m: m.linalg.matrix_norm(m.ones(3, 3), 3),
    "matrix_norm_str": lambda m: m.linalg.matrix_norm(m.ones(3, 3), "foo"),
    "matrix_norm_1d": lambda m: m.linalg.matrix_norm(m.ones(3)),
    "matrix_norm_dims": lambda m: m.linalg.matrix_norm(m.ones(3, 3), dim=(0, 0)),
    "matrix_norm_3dims": lambda m: m.linalg.matrix_norm(m.ones(3, 3, 3), dim=(0, 1, 2)),
    "matrix_norm_int": lambda m: m.linalg.matrix_norm(m.ones(3, 3, dtype=m.long)),
    "norm_3d_ord": lambda m: m.linalg.norm(m.ones(3, 3, 3), "fro"),
    "norm_dims": lambda m: m.linalg.norm(m.ones(3, 3, 3), dim=(0, 1, 2)),
    "norm_fro_vector": lambda m: m.linalg.norm(m.ones(3), "fro"),
    "diag_3d": lambda m: m.diag(m.ones(2, 2, 2)),
    "diag_0d": lambda m: m.diag(m.tensor(1.0)),
    "trace_3d": lambda m: m.trace(m.ones(2, 2, 2)),
    "trace_bool": lambda m: m.trace(m.ones(2, 2, dtype=m.bool)),
    "diagonal_same_dims": lambda m: m.diagonal(m.ones(2, 2), 0, 0, 0),
    "diagonal_dim_range": lambda m: m.diagonal(m.ones(3, 3), 0, 0, 2),
    "diagonal_1d": lambda m: m.diagonal(m.ones(3)),
    "diag_embed_same_dims": lambda m: m.diag_embed(m.ones(2, 2), 0, 0, 0),
    "diag_embed_dim_range": lambda m: m.diag_embed(m.ones(3, 3), 0, 0, 3),
    "tril_1d": lambda m: m.tril(m.ones(3)),
    "triu_1d": lambda m: m.triu(m.ones(3)),
    "cdist_1d": lambda m: m.cdist(m.ones(3), m.ones(4, 3)),
    "cdist_columns": lambda m: m.cdist(m.ones(2, 3), m.ones(4, 2)),
    "cdist_p": lambda m: m.cdist(m.ones(2, 3), m.ones(2, 3), p=-1),
    "cdist_int": lambda m: m.cdist(m.ones(2, 3, dtype=m.long), m.ones(2, 3, dtype=m.long)),
    "cdist_dtype": lambda m: m.cdist(m.ones(2, 3), t(m, np.ones((2, 3)))),
    "cdist_mode": lambda m: m.cdist(m.ones(2, 3), m.ones(2, 3), compute_mode="foo"),
    "cdist_batch": lambda m: m.cdist(m.ones(4, 2, 3), m.ones(5, 2, 3)),
    "addmm_shapes": lambda m: m.addmm(m.ones(3), m.ones(2, 3), m.ones(4, 3)),
    "addmm_broadcast": lambda m: m.addmm(m.ones(5), m.ones(2, 3), m.ones(3, 4)),
    "addmm_1d": lambda m: m.addmm(m.ones(2, 2), m.ones(3), m.ones(3, 2)),
    "addmm_dtypes": lambda m: m.addmm(m.ones(2, 2), t(m, np.ones((2, 3))), m.ones(3, 2)),
    "addmm_input_dtype": lambda m: m.addmm(m.ones(2, 2), t(m, np.ones((2, 3))),
                                           t(m, np.ones((3, 2)))),
    "addmv_sizes": lambda m: m.addmv(m.ones(4), m.ones(3, 2), m.ones(2)),
    "addr_2d": lambda m: m.addr(m.ones(3, 3), m.ones(3, 1), m.ones(3)),
    "addr_broadcast": lambda m: m.addr(m.ones(4), m.ones(3), m.ones(3)),
    "addbmm_sizes": lambda m: m.addbmm(m.ones(2, 4), m.ones(5, 2, 3), m.ones(5, 4, 4)),
    "addbmm_batches": lambda m: m.addbmm(m.ones(2, 4), m.ones(5, 2, 3), m.ones(4, 3, 4)),
    "baddbmm_broadcast": lambda m: m.baddbmm(m.ones(3, 2, 4), m.ones(5, 2, 3), m.ones(5, 3, 4)),
    "tensordot_negative": lambda m: m.tensordot(m.ones(2, 3), m.ones(3, 4), dims=-1),
    "tensordot_big": lambda m: m.tensordot(m.ones(2, 3), m.ones(3, 4), dims=3),
    "tensordot_lengths": lambda m: m.tensordot(m.ones(2, 3), m.ones(3, 2), dims=[[1, 0], [0]]),
    "tensordot_sizes": lambda m: m.tensordot(m.ones(2, 3), m.ones(4, 3), dims=1),
    "tensordot_dtype": lambda m: m.tensordot(m.ones(2, 3), t(m, np.ones((3, 4))), dims=1),
    "chain_matmul_empty": lambda m: m.chain_matmul(),
    "einsum_no_operand": lambda m: m.einsum("ij"),
    "einsum_fewer": lambda m: m.einsum("ij,jk", m.ones(2, 3)),
    "einsum_more": lambda m: m.einsum("ij", m.ones(2, 3), m.ones(2)),
    "einsum_ndims": lambda m: m.einsum("ijk", m.ones(2, 3)),
    "einsum_ell_ndims": lambda m: m.einsum("...ijk", m.ones(2, 3)),
    "einsum_sizes": lambda m: m.einsum("ij,jk", m.ones(2, 3), m.ones(4, 2)),
    "einsum_dtype": lambda m: m.einsum("ij,jk", m.ones(2, 3), t(m, np.ones((3, 2)))),
    "einsum_subscript": lambda m: m.einsum("i1", m.ones(2, 3)),
    "einsum_arrow": lambda m: m.einsum("ij-ji", m.ones(2, 3)),
    "einsum_output_subscript": lambda m: m.einsum("ij->j1", m.ones(2, 3)),
    "einsum_output_repeated": lambda m: m.einsum("ij->ii", m.ones(2, 3)),
    "einsum_output_unknown": lambda m: m.einsum("ij->k", m.ones(2, 3)),
    "einsum_repeated_sizes": lambda m: m.einsum("ii", m.ones(2, 3)),
    "einsum_dot": lambda m: m.einsum("i.j", m.ones(2, 3)),
    "einsum_two_ellipses": lambda m: m.einsum("......", m.ones(2, 3)),
    "einsum_two_output_ellipses": lambda m: m.einsum("...->......", m.ones(2, 3)),
    "einsum_output_dot": lambda m: m.einsum("...->.", m.ones(2, 3)),
    "einsum_ellipsis_broadcast": lambda m: m.einsum("...i,...i", m.ones(2, 3), m.ones(4, 3)),
    "einsum_sublist_range": lambda m: m.einsum(m.ones(2, 3), [0, 60]),
    "einsum_not_tensor": lambda m: m.einsum("i", [1, 2]),
    "cholesky_solve_1d": lambda m: m.cholesky_solve(t(m, np.ones(3)), t(m, np.eye(3))),
    "cholesky_solve_shapes": lambda m: m.cholesky_solve(t(m, np.ones((4, 2))), t(m, np.eye(3))),
    "cholesky_solve_dtype": lambda m: m.cholesky_solve(m.ones(3, 2), t(m, np.eye(3))),
    "cholesky_inverse_1d": lambda m: m.cholesky_inverse(t(m, np.ones(3))),
    "matrix_rank_int": lambda m: m.linalg.matrix_rank(m.ones(3, 3, dtype=m.long)),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_error_messages(name):
    same_error(ERRORS[name])

"""tapegrad.linalg: torch.linalg's functions, with PyTorch's names, signatures, return types,
error messages and gradients (batched over leading dimensions).

>>> import tapegrad
>>> A = tapegrad.tensor([[4., 2.], [0., 3.]], requires_grad=True)
>>> tapegrad.linalg.det(A)
tensor(12., grad_fn=<LinalgDetBackward0>)
"""

from __future__ import annotations

from ..ops._linalg_util import LinAlgError
from ..ops.linalg_dist import linalg_cross as cross
from ..ops.linalg_basic import matrix_power
from ..ops.linalg_chol import cholesky_ex
from ..ops.linalg_chol import linalg_cholesky as cholesky
from ..ops.linalg_decomp import det, inv, inv_ex, solve, solve_ex, solve_triangular
from ..ops.linalg_decomp import linalg_slogdet as slogdet
from ..ops.linalg_misc import matrix_exp, matrix_norm, matrix_rank, multi_dot, norm, vecdot
from ..ops.linalg_lstsq import lstsq, pinv
from ..ops.linalg_spectral import eigh, eigvalsh, svdvals
from ..ops.linalg_spectral import linalg_qr as qr
from ..ops.linalg_spectral import linalg_svd as svd
from ..ops.reduction_norm import vector_norm
from ..ops.linalg_eig import eig, eigvals
from ..ops.linalg_gaps import cond, householder_product, matmul, tensorinv, tensorsolve
from ..ops.linalg_gaps import linalg_vander as vander
from ..ops.linalg_lu import linalg_lu as lu
from ..ops.linalg_lu import linalg_lu_solve as lu_solve
from ..ops.linalg_lu import lu_factor, lu_factor_ex
from ..ops.linalg_ldl import ldl_factor, ldl_factor_ex, ldl_solve

__all__ = [
    "LinAlgError", "cholesky", "cholesky_ex", "cross", "det", "diagonal", "eigh", "eigvalsh",
    "inv", "inv_ex", "lstsq", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank",
    "multi_dot", "norm", "pinv", "qr", "slogdet", "solve", "solve_ex", "solve_triangular", "svd",
    "svdvals", "vecdot", "vector_norm",
    "cond", "eig", "eigvals", "householder_product", "lu", "lu_factor", "lu_factor_ex",
    "lu_solve", "matmul", "tensorinv", "tensorsolve", "vander", "ldl_factor", "ldl_factor_ex",
    "ldl_solve",
]


def diagonal(A, *, offset: int = 0, dim1: int = -2, dim2: int = -1):  # noqa: N803
    """torch.linalg.diagonal: A.diagonal(offset, dim1, dim2), over the last two dims by default.

    >>> import tapegrad
    >>> tapegrad.linalg.diagonal(tapegrad.eye(2).expand(3, 2, 2)).shape
    tapegrad.Size([3, 2])
    """
    from ..ops.linalg_diag import diagonal as _diagonal

    return _diagonal(A, offset, dim1, dim2)

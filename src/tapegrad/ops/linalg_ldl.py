"""linalg.ldl_factor / ldl_factor_ex / ldl_solve: the Bunch-Kaufman LDL^T factorization of a
symmetric (possibly indefinite) matrix, as LAPACK's unblocked ?sytf2 / ?sytrs with the lower
triangle (real, and complex symmetric; the complex Hermitian variant is not yet supported).

P A P^T = L D L^T with L unit lower and D block diagonal with 1x1 and 2x2 blocks. At column k,
with c the largest off-diagonal magnitude in the column (at row r) and alpha = (1 + sqrt 17) / 8:
|a_kk| >= alpha c gives a 1x1 pivot; else, with s the largest off-diagonal magnitude in row /
column r, |a_kk| >= alpha c (c / s) still gives a 1x1 pivot at k, |a_rr| >= alpha s a 1x1 pivot
after swapping k and r, and otherwise a 2x2 pivot on rows k, k+1 (after swapping k+1 and r).
Pivots are 1-based; a 2x2 block stores -r in both of its entries. The compact LD holds L below
the diagonal and D on it (and on the first subdiagonal for 2x2 blocks). PyTorch defines no
derivative for these (its nodes are named NotImplemented and refuse), and neither does this.
"""

# ruff: noqa: N803, N806  (PyTorch's argument names: LD, B)
from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .. import return_types as rt
from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import new_node, wrap
from ._linalg_util import broadcast_batch, first_failure, tensor_arg
from .linalg_decomp import _out, _out_tuple

__all__: list[str] = []

_ALPHA = (1.0 + np.sqrt(17.0)) / 8.0
_ASSERT = ('false INTERNAL ASSERT FAILED at "/__w/pytorch/pytorch/aten/src/ATen/native/'
           'BatchLinearAlgebra.cpp":1642, please report a bug to PyTorch. ')


def _refuse(name: str):
    def vjp(self, *grads):
        raise RuntimeError(f"derivative for aten::{name} is not implemented")

    return type("NotImplemented", (Node,), {"__slots__": (), "vjp": vjp})


_FactorNode = _refuse("linalg_ldl_factor_ex")
_SolveNode = _refuse("linalg_ldl_solve")


def _mag(v):
    """LAPACK's magnitude for pivoting: |x| for reals, |re| + |im| for complex."""
    return np.abs(v.real) + np.abs(v.imag) if np.iscomplexobj(v) else np.abs(v)


def _sytf2(a: np.ndarray) -> tuple:
    """(LD, pivots, info) of one matrix (lower triangle read)."""
    a = np.tril(np.array(a, copy=True))
    n = a.shape[0]
    piv = np.zeros(n, dtype=np.int32)
    info = 0
    k = 0
    while k < n:
        kstep = 1
        absakk = _mag(a[k, k])
        if k < n - 1:
            col = _mag(a[k + 1:, k])
            imax = k + 1 + int(np.argmax(col))
            colmax = col[imax - k - 1]
        else:
            imax, colmax = k, 0.0
        if max(absakk, colmax) == 0 or np.isnan(absakk):
            if info == 0:
                info = k + 1
            kp = k
        else:
            if absakk >= _ALPHA * colmax:
                kp = k
            else:
                rowmax = _mag(a[imax, k:imax]).max()
                if imax < n - 1:
                    rowmax = max(rowmax, _mag(a[imax + 1:, imax]).max())
                if absakk >= _ALPHA * colmax * (colmax / rowmax):
                    kp = k
                elif _mag(a[imax, imax]) >= _ALPHA * rowmax:
                    kp = imax
                else:
                    kp = imax
                    kstep = 2
            kk = k + kstep - 1
            if kp != kk:  # swap rows and columns kk and kp of the trailing lower triangle
                if kp < n - 1:
                    t = a[kp + 1:, kk].copy()
                    a[kp + 1:, kk] = a[kp + 1:, kp]
                    a[kp + 1:, kp] = t
                t = a[kk + 1:kp, kk].copy()
                a[kk + 1:kp, kk] = a[kp, kk + 1:kp]
                a[kp, kk + 1:kp] = t
                a[kk, kk], a[kp, kp] = a[kp, kp], a[kk, kk]
                if kstep == 2:
                    a[k + 1, k], a[kp, k] = a[kp, k], a[k + 1, k]
            if kstep == 1:
                if k < n - 1:
                    d11 = 1 / a[k, k]
                    x = a[k + 1:, k].copy()
                    a[k + 1:, k + 1:] -= np.tril(d11 * np.outer(x, x))
                    a[k + 1:, k] = x * d11
            elif k < n - 2:
                d21 = a[k + 1, k]
                d11 = a[k + 1, k + 1] / d21
                d22 = a[k, k] / d21
                t = 1 / (d11 * d22 - 1)
                d21 = t / d21
                ck, ck1 = a[k + 2:, k].copy(), a[k + 2:, k + 1].copy()
                wk = d21 * (d11 * ck - ck1)
                wkp1 = d21 * (d22 * ck1 - ck)
                a[k + 2:, k + 2:] -= np.tril(np.outer(ck, wk) + np.outer(ck1, wkp1))
                a[k + 2:, k] = wk
                a[k + 2:, k + 1] = wkp1
        if kstep == 1:
            piv[k] = kp + 1
        else:
            piv[k] = piv[k + 1] = -(kp + 1)
        k += kstep
    return a, piv, info


def _sytrs(a: np.ndarray, piv: np.ndarray, b: np.ndarray) -> np.ndarray:
    """X with A X = B from one matrix's (LD, pivots)."""
    n = a.shape[0]
    b = np.array(b, copy=True)
    k = 0
    while k < n:  # L D Y = P B
        if piv[k] > 0:
            kp = piv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            b[k + 1:] -= np.outer(a[k + 1:, k], b[k])
            b[k] = b[k] / a[k, k]
            k += 1
        else:
            kp = -piv[k] - 1
            if kp != k + 1:
                b[[k + 1, kp]] = b[[kp, k + 1]]
            b[k + 2:] -= np.outer(a[k + 2:, k], b[k]) + np.outer(a[k + 2:, k + 1], b[k + 1])
            akm1k = a[k + 1, k]
            akm1 = a[k, k] / akm1k
            ak = a[k + 1, k + 1] / akm1k
            denom = akm1 * ak - 1
            bkm1 = b[k] / akm1k
            bk = b[k + 1] / akm1k
            b[k] = (ak * bkm1 - bk) / denom
            b[k + 1] = (akm1 * bk - bkm1) / denom
            k += 2
    k = n - 1
    while k >= 0:  # L^T P^T X = Y
        if piv[k] > 0:
            b[k] -= a[k + 1:, k] @ b[k + 1:]
            kp = piv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            k -= 1
        else:
            b[k] -= a[k + 1:, k] @ b[k + 1:]
            b[k - 1] -= a[k + 1:, k - 1] @ b[k + 1:]
            kp = -piv[k] - 1
            if kp != k:
                b[[k, kp]] = b[[kp, k]]
            k -= 2
    return b


def _checks(name: str, A: Tensor, hermitian: bool) -> None:
    a = A._data
    if a.ndim < 2:
        raise RuntimeError(f"tapegrad.{name}: The input tensor A must have at least 2 dimensions.")
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"tapegrad.{name}: A must be batches of square matrices, but they are "
                           f"{a.shape[-2]} by {a.shape[-1]} matrices")
    if A._dtype.category < D.FLOAT:
        raise RuntimeError(f"tapegrad.{name}: Expected a floating point or complex tensor as "
                           f"input. Got {A._dtype._short}")
    if hermitian and np.iscomplexobj(a):
        raise NotImplementedError(f"tapegrad.{name}: hermitian=True for complex input is not yet "
                                  "supported (use hermitian=False for complex symmetric input)")


def _factor(A: Tensor, hermitian: bool, check_errors: bool, name: str) -> tuple:
    _checks("linalg.ldl_factor_ex", A, hermitian)
    a = A._data
    n = a.shape[-1]
    flat = a.reshape((-1, n, n))
    ld = np.empty_like(flat)
    piv = np.zeros(flat.shape[:2], dtype=np.int32)
    info = np.zeros(flat.shape[0], dtype=np.int32)
    for i in range(flat.shape[0]):
        ld[i], piv[i], info[i] = _sytf2(flat[i])
    infos = info.reshape(a.shape[:-2])
    if check_errors:
        i = first_failure(infos)[1]
        if i:
            raise RuntimeError(f"{_ASSERT}tapegrad.{name}: Unknown error code: {i}.")
    node = new_node(_FactorNode, (A,))
    return (wrap(ld.reshape(a.shape), node), wrap(piv.reshape(a.shape[:-1])), wrap(infos))


def ldl_factor_ex(A: Tensor, *, hermitian: bool = False, check_errors: bool = False,
                  out=None) -> tuple:
    """(LD, pivots, info) of the LDL^T factorization; info[k] = i > 0 when D's i-th diagonal
    entry (1-based) is exactly 0."""
    A = tensor_arg(A)
    return _out_tuple(rt.linalg_ldl_factor_ex(_factor(A, hermitian, check_errors,
                                                      "linalg.ldl_factor_ex")), out)


def ldl_factor(A: Tensor, *, hermitian: bool = False, out=None) -> tuple:
    """The compact LDL^T factorization (LD, pivots) of a symmetric matrix, for ldl_solve.

    >>> import tapegrad
    >>> tapegrad.linalg.ldl_factor(tapegrad.tensor([[4., 2.], [2., 3.]])).LD
    tensor([[4.0000, 0.0000],
            [0.5000, 2.0000]])
    """
    A = tensor_arg(A)
    LD, piv, _ = _factor(A, hermitian, True, "linalg.ldl_factor")
    return _out_tuple(rt.linalg_ldl_factor((LD, piv)), out)


def ldl_solve(LD: Tensor, pivots: Tensor, B: Tensor, *, hermitian: bool = False,
              out=None) -> Tensor:
    """The solution X of A X = B from ldl_factor's (LD, pivots) of A.

    >>> import tapegrad
    >>> A = tapegrad.tensor([[4., 2.], [2., 3.]])
    >>> tapegrad.linalg.ldl_solve(*tapegrad.linalg.ldl_factor(A), A @ tapegrad.ones(2, 1))
    tensor([[1.],
            [1.]])
    """
    name = "linalg.ldl_solve"
    LD, pivots, B = tensor_arg(LD), tensor_arg(pivots), tensor_arg(B)
    ld, pv, b = LD._data, pivots._data, B._data
    if B._dtype is not LD._dtype:
        raise RuntimeError(f"Expected b and A to have the same dtype, but found b of type "
                           f"{B._dtype._short} and A of type {LD._dtype._short} instead.")
    if ld.ndim < 2:
        raise RuntimeError(f"tapegrad.{name}: The input tensor LD must have at least 2 "
                           "dimensions.")
    if b.ndim < 2:
        raise RuntimeError(f"tapegrad.{name}: The input tensor B must have at least 2 "
                           "dimensions.")
    if ld.shape[-1] != ld.shape[-2]:
        raise RuntimeError(f"tapegrad.{name}: LD must be batches of square matrices, but they "
                           f"are {ld.shape[-2]} by {ld.shape[-1]} matrices")
    if pv.shape != ld.shape[:-1]:
        raise RuntimeError(f"tapegrad.{name}: Expected LD.shape[:-1] and pivots.shape to be the "
                           f"same, but got pivots with shape "
                           f"[{', '.join(str(s) for s in pv.shape)}] instead")
    if pivots._dtype is not D.int32:
        raise RuntimeError(f"tapegrad.{name}: Expected pivots to be integers. Got "
                           f"{pivots._dtype._short}")
    if hermitian and np.iscomplexobj(ld):
        raise NotImplementedError(f"tapegrad.{name}: hermitian=True for complex input is not "
                                  "yet supported")
    n = ld.shape[-1]
    if b.shape[-2] != n:
        raise RuntimeError(f"tapegrad.{name}: Incompatible shapes of A and B for the equation "
                           f"AX = B ({n}x{n} and {b.shape[-2]}x{b.shape[-1]})")
    batch = broadcast_batch(ld.shape[:-2], b.shape[:-2])
    ldb = np.broadcast_to(ld, batch + ld.shape[-2:]).reshape((-1, n, n))
    pvb = np.broadcast_to(pv, batch + pv.shape[-1:]).reshape((-1, n))
    bb = np.broadcast_to(b, batch + b.shape[-2:]).reshape((-1,) + b.shape[-2:])
    x = np.empty(bb.shape, dtype=np.result_type(ld, b))
    with np.errstate(all="ignore"):
        for i in range(bb.shape[0]):
            x[i] = _sytrs(ldb[i], pvb[i], bb[i])
    node = new_node(_SolveNode, (LD, B))
    return _out(wrap(x.reshape(batch + b.shape[-2:]), node), out)

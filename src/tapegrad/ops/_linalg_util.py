"""Shared internals of the linear-algebra families: argument checks with PyTorch's messages,
LinAlgError, and the small LAPACK-like routines that locate a failure the way LAPACK reports
it (the first zero pivot of an LU factorization, the first leading minor that is not
positive-definite), for the error messages and the `info` outputs of the *_ex functions."""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ._core import as_tensor_arg

__all__: list[str] = []  # internal helpers


class LinAlgError(RuntimeError):
    """Raised when a linear-algebra function fails numerically (a singular matrix, a matrix
    that is not positive-definite), as torch.linalg.LinAlgError: a RuntimeError."""


LinAlgError.__module__ = "tapegrad.linalg"

_HALF = (np.dtype(np.float16),)


def tensor_arg(x) -> Tensor:
    return as_tensor_arg(x)


def check_float(name: str, t: Tensor, what: str = "input") -> None:
    """A floating or complex dtype of at least single precision."""
    dt = t._dtype
    if dt.category < D.FLOAT:
        raise RuntimeError(
            f"{name}: Expected a floating point or complex tensor as {what}. Got {dt._short}")
    if t._data.dtype in _HALF or dt._short == "BFloat16":
        raise RuntimeError(f"{name}: Low precision dtypes not supported. Got {dt._short}")


def check_matrix(name: str, t: Tensor, arg: str = "A") -> None:
    if t._data.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor {arg} must have at least 2 dimensions.")


def check_square(name: str, t: Tensor, arg: str = "A") -> None:
    check_matrix(name, t, arg)
    s = t._data.shape
    if s[-1] != s[-2]:
        raise RuntimeError(
            f"{name}: {arg} must be batches of square matrices, but they are {s[-2]} by "
            f"{s[-1]} matrices")


def square_float(name: str, t, arg: str = "A") -> Tensor:
    """The checks nearly every decomposition makes, in PyTorch's order."""
    t = as_tensor_arg(t)
    check_square(name, t, arg)
    check_float(name, t)
    return t


def batch_str(a: np.ndarray, k: int) -> str:
    """'(Batch element k): ' for a batch of matrices, '' for a single matrix."""
    return f"(Batch element {k}): " if a.ndim > 2 else ""


def broadcast_batch(s1: tuple, s2: tuple) -> tuple:
    """The broadcast of two batch shapes, with PyTorch's message when they do not broadcast."""
    n = max(len(s1), len(s2))
    p1 = (1,) * (n - len(s1)) + tuple(s1)
    p2 = (1,) * (n - len(s2)) + tuple(s2)
    out = []
    for i in range(n - 1, -1, -1):
        a, b = p1[i], p2[i]
        if a != b and a != 1 and b != 1:
            raise RuntimeError(
                f"The size of tensor a ({a}) must match the size of tensor b ({b}) at "
                f"non-singleton dimension {i}")
    for a, b in zip(p1, p2):
        out.append(b if a == 1 else a)
    return tuple(out)


# --- LAPACK-like failure locators -----------------------------------------------------------
def lu_info(a: np.ndarray) -> int:
    """getrf's info for one square matrix: the 1-based index of the first exactly zero pivot
    of the LU factorization with partial pivoting (the first largest |entry| as pivot), or 0."""
    u = np.array(a, dtype=np.complex128 if np.iscomplexobj(a) else np.float64)
    n = u.shape[0]
    info = 0
    for j in range(n):
        col = np.abs(u[j:, j])
        p = j + int(np.argmax(col)) if col.size else j
        if u[p, j] == 0:
            if info == 0:
                info = j + 1
            continue
        if p != j:
            u[[j, p]] = u[[p, j]]
        u[j + 1:, j] /= u[j, j]
        u[j + 1:, j + 1:] -= np.outer(u[j + 1:, j], u[j, j + 1:])
    return info


def potrf(a: np.ndarray) -> tuple:
    """(L, info) of LAPACK's recursive Cholesky (potrf2, lower) of one matrix: on failure L
    holds the partial factor and, at the failing position, the non-positive pivot, as LAPACK
    leaves it (PyTorch's cholesky_ex returns that)."""
    w = np.tril(np.array(a, copy=True))
    info = _potrf2(w)
    return np.tril(w), info


def _potrf2(w: np.ndarray) -> int:
    n = w.shape[0]
    if n == 0:
        return 0
    if n == 1:
        v = w[0, 0]
        re = v.real if np.iscomplexobj(w) else v
        if not re > 0:  # also catches nan
            return 1
        w[0, 0] = np.sqrt(re)
        return 0
    n1 = n // 2
    info = _potrf2(w[:n1, :n1])
    if info:
        return info
    l11 = w[:n1, :n1]
    # A21 <- A21 L11^{-H}
    w[n1:, :n1] = np.linalg.solve(l11.conj(), w[n1:, :n1].T).T
    a21 = w[n1:, :n1]
    w[n1:, n1:] -= np.tril(a21 @ a21.conj().T)
    info = _potrf2(w[n1:, n1:])
    return info + n1 if info else 0


def first_failure(infos: np.ndarray) -> tuple:
    """(flat batch index, info) of the first failing matrix, or (-1, 0)."""
    flat = infos.reshape(-1)
    nz = np.flatnonzero(flat)
    if nz.size == 0:
        return -1, 0
    k = int(nz[0])
    return k, int(flat[k])


def batched(fn, a: np.ndarray, out_dtype=np.int32) -> np.ndarray:
    """fn applied to every matrix of a batch: an array of the batch shape."""
    batch = a.shape[:-2]
    res = np.zeros(batch, dtype=out_dtype)
    flat = a.reshape((-1,) + a.shape[-2:])
    rf = res.reshape(-1)
    for i in range(flat.shape[0]):
        rf[i] = fn(flat[i])
    return res


def eps_of(a: np.ndarray) -> float:
    return float(np.finfo(a.dtype).eps)


def real_dtype(a: np.ndarray):
    return a.real.dtype if np.iscomplexobj(a) else a.dtype

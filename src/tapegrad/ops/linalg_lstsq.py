"""The pseudo-inverse and least squares: linalg.pinv (torch.pinverse) and linalg.lstsq.

Rules (A^H the conjugate transpose; in tapegrad ops):
  pinv         the derivative of the Moore-Penrose inverse (Golub & Pereyra), see _pinv_grad
  lstsq        X = pinv(A) B: through pinv; the residuals |A X - B|^2 add 2 (A X - B) X^H
               to gA and -2 (A X - B) to gB.
"""

# ruff: noqa: N803, N806  (PyTorch's argument names: A, B)
from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .. import return_types as rt
from .._tensor import Tensor
from ..autograd.graph import Node, SavedTensor
from ._core import new_node, save_out, wrap
from ._linalg_util import check_square, eps_of, real_dtype, tensor_arg
from .linalg_decomp import _out
from .linalg_spectral import _wrap_outputs
from .matmul import _h, matmul

__all__ = ["pinverse"]

_COMPLEX = D.COMPLEX


# --- pinv ----------------------------------------------------------------------------------
def _pinv_grad(g: Tensor, P: Tensor, A: Tensor) -> Tensor:
    """gA for P = pinv(A) (PyTorch's pinv_backward, arranged for the smaller products)."""
    m, n = A._data.shape[-2:]
    Ph, gh = _h(P), _h(g)
    if m <= n:
        K = matmul(gh, P)
        KPh = matmul(K, Ph)
        return (-_h(matmul(P, K)) + KPh - matmul(matmul(A, P), KPh)
                + matmul(matmul(Ph, P), gh - matmul(K, A)))
    K = matmul(P, gh)
    PhK = matmul(Ph, K)
    return (-_h(matmul(K, P)) + matmul(matmul(gh - matmul(A, K), P), Ph) + PhK
            - matmul(matmul(PhK, P), A))


class LinalgPinvBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        P, A = self.saved_tensors()
        return _pinv_grad(g, P, A)


def _tol(v, a: np.ndarray):
    if v is None:
        return None
    arr = v._data if isinstance(v, Tensor) else np.asarray(v, dtype=np.float64)
    return arr[..., None] if arr.ndim else arr  # one value per matrix, broadcast over s


def _pinv_np(a: np.ndarray, atol, rtol, hermitian: bool) -> np.ndarray:
    m, n = a.shape[-2:]
    if a.size == 0:
        return np.zeros(a.shape[:-2] + (n, m), dtype=a.dtype)
    if rtol is None:
        rtol = eps_of(a) * max(m, n) if atol is None or not np.any(atol > 0) else 0.0
    atol = 0.0 if atol is None else atol
    if hermitian:
        w, v = np.linalg.eigh(a)
        s = np.abs(w)
        thr = np.maximum(atol, rtol * s.max(-1, keepdims=True))
        sinv = np.where(s > thr, 1 / np.where(w == 0, 1, w), 0)
        return (v * sinv[..., None, :]) @ np.swapaxes(v, -1, -2).conj()
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    thr = np.maximum(atol, rtol * s[..., :1])
    sinv = np.where(s > thr, 1 / np.where(s == 0, 1, s), 0).astype(s.dtype)
    return (np.swapaxes(vh, -1, -2).conj() * sinv[..., None, :]) @ np.swapaxes(u, -1, -2).conj()


def pinv(A: Tensor, rcond=None, hermitian: bool = False, *, atol=None, rtol=None,
         out=None) -> Tensor:
    """Moore-Penrose pseudo-inverse via the SVD (eigh when hermitian), dropping singular
    values at most max(atol, rtol * largest) (default rtol: eps * max(m, n)).

    >>> import tapegrad
    >>> tapegrad.linalg.pinv(tapegrad.tensor([[2., 0.], [0., 0.]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.0000]])
    """
    A = tensor_arg(A)
    a = A._data
    if a.ndim < 2 or A._dtype.category < D.FLOAT:
        raise RuntimeError(
            f"linalg.pinv({A._dtype._short}{{[{', '.join(str(s) for s in a.shape)}]}}): expected "
            "a tensor with 2 or more dimensions of float, double, cfloat or cdouble types")
    if rcond is not None:
        rtol = rcond
    if hermitian:
        check_square("linalg.pinv", A)
    with np.errstate(all="ignore"):
        p = _pinv_np(a, _tol(atol, a), _tol(rtol, a), hermitian)
    node = new_node(LinalgPinvBackward0, (A,))
    res = wrap(np.ascontiguousarray(p, dtype=a.dtype), node)
    if node is not None:
        save_out(node, res, A)
    return _out(res, out)


def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:  # noqa: A002
    """torch.pinverse: linalg.pinv with rtol=rcond."""
    return pinv(input, rtol=rcond)


# --- lstsq ---------------------------------------------------------------------------------
class LinalgLstsqBackward0(Node):
    __slots__ = ("vector",)
    n_outputs = 2

    def vjp(self, gX, gres):
        X, A, B = self.saved_tensors()
        na, nb = self._next
        vec = self.vector
        Bm = B.unsqueeze(-1) if vec else B
        Xm = X.unsqueeze(-1) if vec else X
        ga = gb = None
        if gX is not None:
            gXm = gX.unsqueeze(-1) if vec else gX
            P = pinv(A)
            if na[0] is not None:
                ga = _pinv_grad(matmul(gXm, _h(Bm)), P, A)
            if nb[0] is not None:
                gb = matmul(_h(P), gXm)
        if gres is not None and gres.numel():
            r = matmul(A, Xm) - Bm
            gl = gres.unsqueeze(-2)
            if na[0] is not None:
                t = matmul(gl * r, _h(Xm)) * 2
                ga = t if ga is None else ga + t
            if nb[0] is not None:
                t = gl * r * -2
                gb = t if gb is None else gb + t
        if gb is not None and vec:
            gb = gb.squeeze(-1)
        return ga, gb


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A: Tensor, B: Tensor, rcond=None, *, driver=None) -> tuple:
    """Least-squares solution of A X = B, as tapegrad.return_types.linalg_lstsq(solution,
    residuals, rank, singular_values) with PyTorch's CPU conventions: the default driver
    'gelsy' returns no residuals and no singular values; 'gelsd' / 'gelss' return both
    (residuals only when m > n and every matrix has full rank); 'gels' no rank.

    >>> import tapegrad
    >>> A = tapegrad.tensor([[1., 0.], [0., 1.], [0., 0.]])
    >>> tapegrad.linalg.lstsq(A, tapegrad.tensor([[1.], [2.], [3.]])).solution
    tensor([[1.],
            [2.]])
    """
    A, B = tensor_arg(A), tensor_arg(B)
    name = "tapegrad.linalg.lstsq"
    a, b = A._data, B._data
    if a.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    if b.ndim < 1:
        raise RuntimeError(f"{name}: other must have at least 1 dimension.")
    if A._dtype.category != D.FLOAT and A._dtype.category != _COMPLEX:
        raise RuntimeError("This function doesn't handle types other than float and double")
    if A._dtype is not B._dtype:
        raise RuntimeError(f"{name}: Expected input and other to have the same dtype, but got "
                           f"input's dtype {A._dtype._short} and other's dtype "
                           f"{B._dtype._short}")
    vec = b.ndim == a.ndim - 1
    if (b.shape[-1] if vec else b.shape[-2]) != a.shape[-2]:
        raise RuntimeError(
            f"{name}: input.size(-2) should match other.size({-1 if vec else -2})")
    driver = "gelsy" if driver is None else driver
    if driver not in _DRIVERS:
        raise RuntimeError(f"{name}: parameter `driver` should be one of "
                           "(gels, gelsy, gelsd, gelss)")
    m, n = a.shape[-2:]
    bm = b[..., None] if vec else b
    batch = np.broadcast_shapes(a.shape[:-2], bm.shape[:-2])
    ab = np.broadcast_to(a, batch + (m, n))
    bb = np.broadcast_to(bm, batch + bm.shape[-2:])
    rc = eps_of(a) * max(m, n) if rcond is None else float(rcond)
    if a.size == 0:
        s = np.zeros(batch + (min(m, n),), real_dtype(a))
        x = np.zeros(batch + (n, bm.shape[-1]), dtype=a.dtype)
    else:
        u, s, vh = np.linalg.svd(ab, full_matrices=False)
        keep = s > rc * s[..., :1]
        sinv = np.where(keep, 1 / np.where(s == 0, 1, s), 0)
        uhb = np.swapaxes(u, -1, -2).conj() @ bb
        x = np.swapaxes(vh, -1, -2).conj() @ (uhb * sinv[..., :, None])
    rank = (s > rc * s[..., :1]).sum(-1) if s.shape[-1] else np.zeros(batch, np.int64)
    rdt = real_dtype(a)
    empty = np.zeros((0,), dtype=rdt)
    res = empty
    if driver != "gelsy" and m > n and (driver == "gels" or np.all(rank == n)):
        r = ab @ x - bb
        res = np.asarray((np.abs(r) ** 2).sum(-2), dtype=rdt)
    if vec:
        x = x[..., 0]
    node = new_node(LinalgLstsqBackward0, (A, B))
    X, R = _wrap_outputs(node, np.ascontiguousarray(x, dtype=a.dtype), res)
    if node is not None:
        node.vector = vec
        node._saved = (SavedTensor(X, True), SavedTensor(A), SavedTensor(B))
    rank_t = wrap(np.zeros((0,), np.int64) if driver == "gels" else np.asarray(rank, np.int64))
    sv = np.asarray(s, dtype=rdt) if driver in ("gelsd", "gelss") else empty
    return rt.linalg_lstsq((X, R, rank_t, wrap(sv)))


METHODS = {"pinverse": pinverse}

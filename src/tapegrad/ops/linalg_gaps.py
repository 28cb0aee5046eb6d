"""The rest of torch.linalg: cond, tensorinv, tensorsolve, vander (and torch.vander), matmul,
householder_product (torch.orgqr), torch.geqrf and torch.ormqr (the functions PyTorch removed
are in linalg_legacy.py).

cond, tensorinv, tensorsolve and vander are composites built as PyTorch builds them, so their
grad_fn chains are PyTorch's. Householder products: the reflector H_i = I - tau_i v_i v_i^H,
v_i = (0, ..., 0, 1, A[i+1:, i]); Q = H_1 ... H_k. Their nodes (LinalgHouseholderProductBackward0,
OrmqrBackward0) differentiate the same product written in tapegrad ops (ops/_recompute.py).
geqrf has no derivative (as in PyTorch).
"""

# ruff: noqa: N803, N806  (PyTorch's argument names: A, B)
from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from .. import return_types as rt
from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import new_node, save, wrap
from ._linalg_util import LinAlgError, broadcast_batch, first_failure, tensor_arg
from ._recompute import RecomputeNode
from .linalg_decomp import _inv_ex, _out, _out_tuple
from .linalg_decomp import solve as _linalg_solve

__all__ = ["vander", "geqrf", "orgqr", "ormqr"]


# --- cond ----------------------------------------------------------------------------------
def _ord_name(p) -> str:
    if isinstance(p, str):
        return p
    if isinstance(p, float):
        if math.isinf(p):
            return "inf" if p > 0 else "-inf"
        return f"{p:.6f}"
    return str(p)


def cond(A: Tensor, p=None, *, out=None) -> Tensor:
    """The condition number of a matrix (or batch) in the norm p: the ratio of the extreme
    singular values for p in (None, 2, -2), else norm(A, p) * norm(A^{-1}, p).

    >>> import tapegrad
    >>> tapegrad.linalg.cond(tapegrad.tensor([[1., 0.], [0., 4.]]))
    tensor(4.)
    """
    from .linalg_misc import matrix_norm
    from .linalg_spectral import svdvals

    A = tensor_arg(A)
    a = A._data
    if a.ndim < 2:
        raise RuntimeError("linalg.cond: The input tensor must have at least 2 dimensions.")
    valid = (None, "fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)
    if isinstance(p, str):
        ok = p in ("fro", "nuc")
    else:
        ok = p is None or p in valid
    if not ok:
        shown = int(p) if isinstance(p, float) and p == int(p) else p
        raise RuntimeError(f"linalg.cond got an invalid norm type: {shown}")
    spectral = p is None or (not isinstance(p, str) and abs(p) == 2)
    if not spectral and a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"linalg.cond(ord={_ord_name(p)}): A must be batches of square "
                           f"matrices, but they are {a.shape[-2]} by {a.shape[-1]} matrices")
    rdt = D.from_numpy_dtype(a.real.dtype if np.iscomplexobj(a) else a.dtype) \
        if A._dtype.category >= D.FLOAT else D._defaults.float
    if a.size == 0:
        return _out(wrap(np.zeros(a.shape[:-2], dtype=rdt.np)), out)
    if spectral:
        s = svdvals(A)
        first, last = s.narrow(-1, 0, 1), s.narrow(-1, -1, 1)
        r = first / last if p is None or p > 0 else last / first
        return _out(r.squeeze(-1), out)
    if p == "nuc":
        s = svdvals(A)
        return _out(s.sum(-1) * s.reciprocal().sum(-1), out)
    inverse, info = _inv_ex(A, False, "linalg.inv")
    bad = wrap((info._data > 0)[..., None, None])
    inverse.masked_fill_(bad, math.inf)  # in place, as PyTorch (whose backward then refuses)
    res = matrix_norm(A, p) * matrix_norm(inverse, p)
    return _out(res.nan_to_num_(math.inf, math.inf, -math.inf), out)


# --- tensorinv / tensorsolve ---------------------------------------------------------------
def tensorinv(A: Tensor, ind: int = 2, *, out=None) -> Tensor:
    """The inverse of A read as a linear map from its last dims (from ind on) to its first:
    tensordot(tensorinv(A, ind), A, ind) is the identity.

    >>> import tapegrad
    >>> A = tapegrad.eye(4).reshape(4, 2, 2) * 2
    >>> tapegrad.linalg.tensorinv(A, ind=1).shape
    tapegrad.Size([2, 2, 4])
    """
    A = tensor_arg(A)
    if ind <= 0:
        raise RuntimeError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    shape = tuple(A._data.shape)
    p_start = int(np.prod(shape[:ind], dtype=np.int64))
    p_end = int(np.prod(shape[ind:], dtype=np.int64))
    if p_start != p_end:
        raise RuntimeError("Expected self to satisfy the requirement prod(self.shape[ind:]) == "
                           f"prod(self.shape[:ind]), but got {p_end} != {p_start}")
    # PyTorch's inverse comes out column-major, so its final reshape is an alias of it
    inverse, info = _inv_ex(A.reshape(p_start, p_end).mT, False, "linalg.inv")
    if first_failure(info._data)[1]:
        raise LinAlgError(f"inv: The diagonal element {first_failure(info._data)[1]} is zero, "
                          "the inversion could not be completed because the input matrix is "
                          "singular.")
    return _out(inverse.mT.reshape(shape[ind:] + shape[:ind]), out)


def tensorsolve(A: Tensor, B: Tensor, dims=None, *, out=None) -> Tensor:
    """The X with tensordot(A, X, X.ndim) = B (dims of A listed in dims are moved last first).

    >>> import tapegrad
    >>> A = tapegrad.eye(6).reshape(6, 2, 3)
    >>> tapegrad.linalg.tensorsolve(A, tapegrad.ones(6)).shape
    tapegrad.Size([2, 3])
    """
    A, B = tensor_arg(A), tensor_arg(B)
    if dims is not None:
        nd = A.dim()
        dl = [d % nd for d in dims]
        order = [d for d in range(nd) if d not in dl] + dl
        A = A.permute(order)
    shape = tuple(A._data.shape)
    bn = B.dim()
    res_shape = shape[bn:]
    res_prod = int(np.prod(res_shape, dtype=np.int64))
    b_prod = int(np.prod(B._data.shape, dtype=np.int64))
    lead = int(np.prod(shape[:bn], dtype=np.int64))
    if res_prod != lead:
        raise RuntimeError("Expected self to satisfy the requirement prod(self.shape[other.ndim:]) "
                           f"== prod(self.shape[:other.ndim]), but got {res_prod} != {lead}")
    X = _linalg_solve(A.reshape(b_prod, res_prod), B.flatten())
    return _out(X.reshape(res_shape), out)


# --- vander --------------------------------------------------------------------------------
def linalg_vander(x: Tensor, *, N: int | None = None) -> Tensor:
    """The Vandermonde matrix of x (batched): columns x^0, x^1, ..., x^(N-1).

    >>> import tapegrad
    >>> tapegrad.linalg.vander(tapegrad.tensor([1., 2., 3.]))
    tensor([[1., 1., 1.],
            [1., 2., 4.],
            [1., 3., 9.]])
    """
    x = tensor_arg(x)
    if x._dtype is D.bool:
        raise RuntimeError("linalg.vander supports floating point, complex, and integer tensors, "
                           "but got Bool")
    if x.dim() == 0:  # a 0-d x counts as one point
        x = x.unsqueeze(0)
    n = x._data.shape[-1] if N is None else int(N)
    if n <= 1:
        raise RuntimeError("N must be greater than 1.")
    xs = x.unsqueeze(-1)
    shape = tuple(x._data.shape) + (n - 1,)
    res = xs.expand(shape).cumprod(-1)
    ones = res.new_ones(tuple(x._data.shape) + (1,))
    from .join import cat

    return cat([ones, res], -1)


def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """torch.vander: columns x^(N-1), ..., x^0 (increasing powers with increasing=True).

    >>> import tapegrad
    >>> tapegrad.vander(tapegrad.tensor([1, 2, 3]), N=3)
    tensor([[1, 1, 1],
            [4, 2, 1],
            [9, 3, 1]])
    """
    x = tensor_arg(x)
    if x.dim() != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x._data.shape[0] if N is None else int(N)
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    from .._creation import empty

    dt = D.int64 if x._dtype.category < D.FLOAT else x._dtype
    res = empty(x._data.shape[0], n, dtype=dt)
    if n > 0:
        res[:, 0] = 1
    if n > 1:
        res[:, 1:] = x.unsqueeze(1)
        res[:, 1:] = res[:, 1:].cumprod(1)
    return res if increasing else res.flip(1)


# --- Householder products ------------------------------------------------------------------
def _reflector(A, i: int):
    """v_i as a tapegrad tensor (..., m): zeros, a one at i, then A[i+1:, i]."""
    from .join import cat

    col = A[..., i + 1:, i]
    lead = A.new_zeros(tuple(A.shape[:-2]) + (i,))
    one = A.new_ones(tuple(A.shape[:-2]) + (1,))
    return cat([lead, one, col], -1)


def _apply_reflectors(A, tau, X, left: bool, adjoint: bool):
    """Q X, Q^H X, X Q or X Q^H with Q = H_1 ... H_k, in tapegrad ops."""
    k = tau.shape[-1]
    # Q X = H_1 (H_2 (... H_k X)); Q^H X = H_k^H (... H_1^H X); X Q = ((X H_1) H_2) ...
    forward = (left and adjoint) or (not left and not adjoint)
    order = range(k) if forward else range(k - 1, -1, -1)
    for i in order:
        v = _reflector(A, i)
        t = tau[..., i]
        if adjoint:
            t = t.conj()
        t = t.unsqueeze(-1).unsqueeze(-1)
        if left:
            X = X - t * (v.unsqueeze(-1) * (v.conj().unsqueeze(-1) * X).sum(-2, keepdim=True))
        else:
            X = X - t * ((X * v.unsqueeze(-2)).sum(-1, keepdim=True) * v.conj().unsqueeze(-2))
    return X


def _apply_np(a: np.ndarray, tau: np.ndarray, x: np.ndarray, left: bool,
              adjoint: bool) -> np.ndarray:
    k = tau.shape[-1]
    m = a.shape[-2]
    forward = (left and adjoint) or (not left and not adjoint)
    order = range(k) if forward else range(k - 1, -1, -1)
    x = np.array(x, copy=True)
    for i in order:
        v = np.zeros(a.shape[:-2] + (m,), dtype=a.dtype)
        v[..., i] = 1
        v[..., i + 1:] = a[..., i + 1:, i]
        t = tau[..., i]
        if adjoint:
            t = np.conj(t)
        t = t[..., None, None]
        if left:
            x = x - t * (v[..., :, None] * (np.conj(v)[..., :, None] * x).sum(-2, keepdims=True))
        else:
            x = x - t * ((x * v[..., None, :]).sum(-1, keepdims=True) * np.conj(v)[..., None, :])
    return x


def _eye_like(a: np.ndarray, n: int) -> np.ndarray:
    m = a.shape[-2]
    return np.broadcast_to(np.eye(m, n, dtype=a.dtype), a.shape[:-2] + (m, n)).copy()


class LinalgHouseholderProductBackward0(RecomputeNode):
    __slots__ = ()

    def composite(self, A, tau):
        from .._creation import eye

        m, n = A.shape[-2:]
        X = eye(m, n, dtype=A.dtype).expand(tuple(A.shape[:-2]) + (m, n))
        return _apply_reflectors(A, tau, X, True, False)


def householder_product(A: Tensor, tau: Tensor, *, out=None) -> Tensor:
    """The first n columns of H_1 ... H_k, the product of the Householder reflectors stored
    in the columns of A (m x n, m >= n) with scales tau (as geqrf returns them).

    >>> import tapegrad
    >>> a, tau = tapegrad.geqrf(tapegrad.tensor([[3., 1.], [4., 2.]]))
    >>> tapegrad.linalg.householder_product(a, tau).abs()
    tensor([[0.6000, 0.8000],
            [0.8000, 0.6000]])
    """
    name = "tapegrad.linalg.householder_product"
    A, tau = tensor_arg(A), tensor_arg(tau)
    a, t = A._data, tau._data
    if a.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    if t.ndim == 0:
        raise IndexError("Dimension specified as -1 but tensor has no dimensions")
    if a.shape[-2] < a.shape[-1]:
        raise RuntimeError(f"{name}: input.shape[-2] must be greater than or equal to "
                           "input.shape[-1]")
    if a.shape[-1] < t.shape[-1]:
        raise RuntimeError(f"{name}: input.shape[-1] must be greater than or equal to "
                           "tau.shape[-1]")
    if t.ndim != a.ndim - 1:
        raise RuntimeError(f"{name}: Expected tau to have one dimension less than input, but got "
                           f"tau.ndim equal to {t.ndim} and input.ndim is equal to {a.ndim}")
    if t.shape[:-1] != a.shape[:-2]:
        raise RuntimeError(f"{name}: Expected batch dimensions of tau to be equal to "
                           f"input.shape[:-2], but got [{', '.join(str(s) for s in t.shape[:-1])}]")
    if tau._dtype is not A._dtype:
        raise RuntimeError(f"{name}: tau dtype {tau._dtype._short} does not match input dtype "
                           f"{A._dtype._short}")
    if A._dtype.category < D.FLOAT:
        raise NotImplementedError(f'"orgqr_cpu" not implemented for \'{A._dtype._short}\'')
    q = _apply_np(a, t, _eye_like(a, a.shape[-1]), True, False)
    node = new_node(LinalgHouseholderProductBackward0, (A, tau))
    if node is not None:
        save(node, A, tau)
    return _out(wrap(np.ascontiguousarray(q, dtype=a.dtype), node), out)


def orgqr(input: Tensor, tau: Tensor) -> Tensor:  # noqa: A002
    """torch.orgqr: linalg.householder_product."""
    return householder_product(input, tau)


class OrmqrBackward0(RecomputeNode):
    __slots__ = ("left", "transpose")

    def composite(self, A, tau, C):
        return _apply_reflectors(A, tau, C, self.left, self.transpose)


def ormqr(input: Tensor, tau: Tensor, other: Tensor, left: bool = True,  # noqa: A002
          transpose: bool = False, *, out=None) -> Tensor:
    """Multiply other by Q = H_1 ... H_k (the full m x m product of geqrf's reflectors): Q C,
    Q^H C (transpose), or C Q, C Q^H with left=False.

    >>> import tapegrad
    >>> a, tau = tapegrad.geqrf(tapegrad.tensor([[3., 1.], [4., 2.]]))
    >>> tapegrad.ormqr(a, tau, tapegrad.eye(2)).abs()
    tensor([[0.6000, 0.8000],
            [0.8000, 0.6000]])
    """
    name = "tapegrad.ormqr"
    A, tau, C = tensor_arg(input), tensor_arg(tau), tensor_arg(other)
    a, t, c = A._data, tau._data, C._data
    if a.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    if c.ndim < 2:
        raise RuntimeError(f"{name}: other must have at least 2 dimensions.")
    side = -2 if left else -1
    if c.shape[side] != a.shape[-2]:
        raise RuntimeError(f"{name}: other.shape[{side}] must be equal to input.shape[-2]")
    if t.ndim == 0 or t.shape[-1] != min(c.shape[side], a.shape[-1]):
        raise RuntimeError(f"{name}: tau.shape[-1] must be equal to min(other.shape[{side}], "
                           "input.shape[-1])")
    if t.ndim != a.ndim - 1:
        raise RuntimeError(f"{name}: Expected tau to have one dimension less than input, but got "
                           f"tau.ndim equal to {t.ndim} and input.ndim is equal to {a.ndim}")
    if c.ndim != a.ndim:
        raise RuntimeError(f"{name}: Expected other to have the same number of dimensions as "
                           f"input, but got other.ndim equal to {c.ndim} and input.ndim is equal "
                           f"to {a.ndim}")
    if t.shape[:-1] != a.shape[:-2] or c.shape[:-2] != a.shape[:-2]:
        broadcast_batch(a.shape[:-2], c.shape[:-2])
        raise RuntimeError(f"{name}: Expected batch dimensions of tau to be equal to "
                           f"input.shape[:-2], but got [{', '.join(str(s) for s in t.shape[:-1])}]")
    for what, tt in (("tau", tau), ("other", C)):
        if tt._dtype is not A._dtype:
            raise RuntimeError(f"{name}: Expected input and {what} to have the same dtype, but "
                               f"input has dtype {A._dtype._short} and {what} has dtype "
                               f"{tt._dtype._short}")
    if A._dtype.category < D.FLOAT:
        raise NotImplementedError(f'"ormqr_cpu" not implemented for \'{A._dtype._short}\'')
    r = _apply_np(a, t, c, bool(left), bool(transpose))
    node = new_node(OrmqrBackward0, (A, tau, C))
    if node is not None:
        node.left, node.transpose = bool(left), bool(transpose)
        save(node, A, tau, C)
    return _out(wrap(np.ascontiguousarray(r, dtype=c.dtype), node), out)


# --- geqrf ---------------------------------------------------------------------------------
class GeqrfBackward0(Node):
    __slots__ = ()
    n_outputs = 2

    def vjp(self, ga, gtau):
        raise NotImplementedError("the derivative for 'geqrf' is not implemented.")


def _geqrf_np(a: np.ndarray) -> tuple:
    """LAPACK's geqr2: reflectors below the diagonal, R on and above it, and the scales."""
    m, n = a.shape[-2:]
    k = min(m, n)
    r = np.array(a, copy=True).reshape((-1, m, n))
    taus = np.zeros((r.shape[0], k), dtype=a.dtype)
    cplx = np.iscomplexobj(r)
    for j in range(k):
        alpha = r[:, j, j].copy()
        x = r[:, j + 1:, j]
        xnorm = np.sqrt((np.abs(x) ** 2).sum(-1))
        ar = alpha.real
        ai = alpha.imag if cplx else np.zeros_like(ar)
        trivial = (xnorm == 0) & (ai == 0)
        beta = -np.copysign(np.sqrt(ar * ar + ai * ai + xnorm * xnorm), ar)
        safe = np.where(trivial, 1, beta)
        if cplx:
            tau = ((safe - ar) / safe) - 1j * (ai / safe)
        else:
            tau = (safe - ar) / safe
        scale = np.where(trivial, 0, 1 / np.where(trivial, 1, alpha - safe))
        v = x * scale[:, None]
        tau = np.where(trivial, 0, tau)
        r[:, j + 1:, j] = np.where(trivial[:, None], x, v)
        r[:, j, j] = np.where(trivial, alpha, beta)
        taus[:, j] = tau
        if j + 1 < n:
            vv = np.concatenate([np.ones((r.shape[0], 1), dtype=r.dtype), r[:, j + 1:, j]], 1)
            sub = r[:, j:, j + 1:]
            # H^H sub = sub - conj(tau) v (v^H sub)
            w = (np.conj(vv)[:, :, None] * sub).sum(1, keepdims=True)
            r[:, j:, j + 1:] = sub - np.conj(tau)[:, None, None] * vv[:, :, None] * w
    return r.reshape(a.shape), taus.reshape(a.shape[:-2] + (k,))


def geqrf(input: Tensor, *, out=None) -> tuple:  # noqa: A002
    """LAPACK's QR in compact form: (a, tau) with R on and above a's diagonal and the
    Householder vectors below it (see householder_product and ormqr).

    >>> import tapegrad
    >>> tapegrad.geqrf(tapegrad.tensor([[3., 1.], [4., 2.]])).a[0]
    tensor([-5.0000, -2.2000])
    """
    A = tensor_arg(input)
    a = A._data
    if a.ndim < 2:
        raise RuntimeError("tapegrad.geqrf: input must have at least 2 dimensions.")
    if A._dtype.category < D.FLOAT:
        raise NotImplementedError(f'"geqrf_cpu" not implemented for \'{A._dtype._short}\'')
    r, taus = _geqrf_np(a)
    node = new_node(GeqrfBackward0, (A,))
    rt_ = wrap(np.ascontiguousarray(r, dtype=a.dtype), node)
    tt = wrap(np.ascontiguousarray(taus, dtype=a.dtype), node)
    if node is not None:
        tt._output_nr = 1
    return _out_tuple(rt.geqrf((rt_, tt)), out)


# --- linalg.matmul -------------------------------------------------------------------------
def matmul(input: Tensor, other: Tensor, *, out=None) -> Tensor:  # noqa: A002
    """torch.linalg.matmul: tapegrad.matmul."""
    from .matmul import matmul as _matmul

    return _out(_matmul(input, other), out)


METHODS = {
    "geqrf": lambda self: geqrf(self),
    "orgqr": lambda self, input2: orgqr(self, input2),
    "ormqr": lambda self, input2, input3, left=True, transpose=False: ormqr(
        self, input2, input3, left, transpose),
}

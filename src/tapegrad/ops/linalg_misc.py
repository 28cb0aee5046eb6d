"""linalg.matrix_exp (primitive), and compositions: linalg.multi_dot, vecdot, matrix_norm,
linalg.norm, matrix_rank.

matrix_exp rule (Najfeld & Havel 1995; PyTorch's linalg_matrix_exp_differential): the gradient
is the upper-right block of exp([[A^H, g], [0, A^H]]), itself a matrix_exp, so every order of
derivative works. The forward is scaling and squaring with the degree-13 Pade approximant
(Higham 2005), computed in double precision.
"""

# ruff: noqa: N803, N806  (PyTorch's argument names: A)
from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap_dim
from ..autograd.graph import Node
from ._core import new_node, wrap
from ._linalg_util import check_float, check_matrix, check_square, eps_of, tensor_arg
from .join import cat
from .linalg_decomp import _out
from .matmul import _h, mm
from .reduction_norm import vector_norm

__all__ = ["matrix_exp"]

_COMPLEX = D.COMPLEX
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def _expm_np(a: np.ndarray) -> np.ndarray:
    """exp of each matrix of a batch: scaling and squaring with Pade(13)."""
    wide = np.complex128 if np.iscomplexobj(a) else np.float64
    x = np.asarray(a, dtype=wide)
    n = x.shape[-1]
    if x.size == 0:
        return np.zeros(a.shape, dtype=a.dtype)
    norm1 = np.abs(x).sum(-2).max(-1)  # 1-norm of each matrix
    with np.errstate(divide="ignore"):
        s = np.where(norm1 > _THETA13, np.ceil(np.log2(norm1 / _THETA13)), 0).astype(np.int64)
    s = np.where(np.isfinite(norm1), s, 0)
    x = x / (2.0 ** s)[..., None, None]
    b = _PADE13
    eye = np.eye(n, dtype=wide)
    x2 = x @ x
    x4 = x2 @ x2
    x6 = x4 @ x2
    u = x @ (x6 @ (b[13] * x6 + b[11] * x4 + b[9] * x2) + b[7] * x6 + b[5] * x4 + b[3] * x2
             + b[1] * eye)
    v = x6 @ (b[12] * x6 + b[10] * x4 + b[8] * x2) + b[6] * x6 + b[4] * x4 + b[2] * x2 \
        + b[0] * eye
    r = np.linalg.solve(v - u, v + u)
    for i in range(int(s.max()) if s.size else 0):
        sq = r @ r
        r = np.where((s > i)[..., None, None], sq, r)
    return np.asarray(r, dtype=a.dtype)


class LinalgMatrixExpBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        (x,) = self.saved_tensors()
        n = x._data.shape[-1]
        xh = _h(x)
        from .._creation import zeros

        z = zeros(tuple(x._data.shape), dtype=g.dtype)
        big = cat([cat([xh, g], -1), cat([z, xh], -1)], -2)
        return matrix_exp(big)[..., :n, n:]


def matrix_exp(A: Tensor) -> Tensor:
    """The matrix exponential of a square matrix or of each matrix of a batch.

    >>> import tapegrad
    >>> tapegrad.linalg.matrix_exp(tapegrad.zeros(2, 2))
    tensor([[1., 0.],
            [0., 1.]])
    """
    A = tensor_arg(A)
    check_square("linalg.matrix_exp", A)
    check_float("linalg.matrix_exp", A)
    node = new_node(LinalgMatrixExpBackward0, (A,))
    res = wrap(_expm_np(A._data), node)
    if node is not None:
        from ._core import save

        save(node, A)
    return res


# --- multi_dot -----------------------------------------------------------------------------
def _chain_order(dims: list) -> list:
    """The optimal parenthesization of a matrix chain (dynamic programming): split[i][j]."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def _chain(ts: list, split: list, i: int, j: int) -> Tensor:
    if i == j:
        return ts[i]
    k = split[i][j]
    return mm(_chain(ts, split, i, k), _chain(ts, split, k + 1, j))


def multi_dot(tensors, *, out=None) -> Tensor:
    """The product of a chain of matrices in the cheapest order; the first may be a row
    vector and the last a column vector (1-D).

    >>> import tapegrad
    >>> tapegrad.linalg.multi_dot([tapegrad.ones(2), tapegrad.ones(2, 3), tapegrad.ones(3)])
    tensor(6.)
    """
    ts = list(tensors)
    n = len(ts)
    if n < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {n}")
    d0, dl = ts[0]._data.ndim, ts[-1]._data.ndim
    if d0 not in (1, 2):
        raise RuntimeError(f"multi_dot(): the first tensor must be 1D or 2D but got {d0}D")
    if dl not in (1, 2):
        raise RuntimeError(f"multi_dot(): the last tensor must be 1D or 2D but got {dl}D")
    for i in range(1, n - 1):
        if ts[i]._data.ndim != 2:
            raise RuntimeError(
                f"multi_dot(): tensor {i} must be 2D but got {ts[i]._data.ndim}D")
    dt = ts[0]._dtype
    for i, t in enumerate(ts[1:], 1):
        if t._dtype is not dt:
            raise RuntimeError(
                f"multi_dot(): all tensors must have be the same dtype but tensor 0 is "
                f"{dt._cname} and tensor {i} {t._dtype._cname}")
    out_shape = []
    if d0 == 2:
        out_shape.append(ts[0]._data.shape[0])
    else:
        ts[0] = ts[0].unsqueeze(0)
    if dl == 2:
        out_shape.append(ts[-1]._data.shape[1])
    else:
        ts[-1] = ts[-1].unsqueeze(-1)
    for i in range(n - 1):
        a, b = ts[i]._data.shape, ts[i + 1]._data.shape
        if a[1] != b[0]:
            sa = list(a) if (i > 0 or d0 == 2) else [a[1]]
            sb = list(b) if (i + 1 < n - 1 or dl == 2) else [b[0]]
            raise RuntimeError(f"multi_dot(): tensors {i} and {i + 1} with shapes {sa} and {sb} "
                               "cannot be multiplied")
    if n == 2:
        r = mm(ts[0], ts[1])
    elif n == 3:
        a, b = ts[0]._data.shape
        c, d = ts[2]._data.shape
        if (a * c) * (b + d) > (b * d) * (a + c):
            r = mm(ts[0], mm(ts[1], ts[2]))
        else:
            r = mm(mm(ts[0], ts[1]), ts[2])
    else:
        dims = [t._data.shape[0] for t in ts] + [ts[-1]._data.shape[1]]
        r = _chain(ts, _chain_order(dims), 0, n - 1)
    return _out(r.view(tuple(out_shape)), out)


# --- vecdot / norms / rank -----------------------------------------------------------------
def vecdot(x: Tensor, y: Tensor, *, dim: int = -1, out=None) -> Tensor:
    """sum(conj(x) * y) over dim, broadcasting the other dims.

    >>> import tapegrad
    >>> tapegrad.linalg.vecdot(tapegrad.tensor([1., 2.]), tapegrad.tensor([3., 4.]))
    tensor(11.)
    """
    check_float("linalg.vecdot", x)
    if x._dtype is not y._dtype:
        raise RuntimeError("linalg.vecdot: Expected x and y to have the same dtype, but found x "
                           f"of type {x._dtype._short} and y of type {y._dtype._short} instead")
    if x._data.ndim == 1 and y._data.ndim == 1:
        from .matmul import vdot

        _wrap_dim(dim, 1)
        return _out(vdot(x, y), out)
    xc = x.conj() if x._dtype.category == _COMPLEX else x
    return _out((xc * y).sum(dim), out)


_MATRIX_ORDS = ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)


def _ord_str(o) -> str:
    if isinstance(o, str):
        return o
    if math.isinf(o):
        return "inf" if o > 0 else "-inf"
    return str(int(o)) if float(o).is_integer() else str(o)


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None,
                out=None) -> Tensor:
    """A matrix norm over the two dims in dim: 'fro', 'nuc' (sum of singular values), 2 / -2
    (largest / smallest singular value), 1 / -1 (max / min column sum of |A|), inf / -inf
    (rows).

    >>> import tapegrad
    >>> tapegrad.linalg.matrix_norm(tapegrad.tensor([[1., -2.], [3., 4.]]), 1)
    tensor(6.)
    """
    name = "linalg.matrix_norm"
    A = tensor_arg(A)
    check_matrix(name, A)
    check_float(name, A)
    dims = tuple(dim)
    if len(dims) != 2:
        raise RuntimeError(f"{name}: dim must be a 2-tuple. Got " + " ".join(str(d) for d in dims))
    nd = A._data.ndim
    d0, d1 = _wrap_dim(dims[0], nd), _wrap_dim(dims[1], nd)
    if d0 == d1:
        raise RuntimeError(f"{name}: dims must be different. Got ({dims[0]}, {dims[1]})")
    if isinstance(ord, str):
        if ord not in ("fro", "nuc"):
            raise RuntimeError(f"{name}: Order {ord} not supported.")
    elif ord not in _MATRIX_ORDS:
        raise RuntimeError(f"{name}: Order {_ord_str(ord)} not supported.")
    if dtype is not None:
        A = A.to(dtype)
    if ord == "fro":
        return _out(vector_norm(A, 2, (d0, d1), keepdim), out)
    if ord == "nuc" or abs(ord) == 2:
        perm = [i for i in range(nd) if i not in (d0, d1)] + [d0, d1]
        from .linalg_spectral import svdvals

        s = svdvals(A.permute(perm))
        r = s.sum(-1) if ord == "nuc" else (s.amax(-1) if ord > 0 else s.amin(-1))
        if keepdim:
            inv = [0] * nd
            for i, p in enumerate(perm):
                inv[p] = i
            r = r.unsqueeze(-1).unsqueeze(-1).permute(inv)
        return _out(r, out)
    if math.isinf(ord):
        d0, d1 = d1, d0
    if not keepdim and d0 < d1:
        d1 -= 1
    s = vector_norm(A, 1, d0, keepdim)
    return _out(s.amax(d1, keepdim) if ord > 0 else s.amin(d1, keepdim), out)


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None,
         out=None) -> Tensor:
    """A vector or matrix norm (torch.linalg.norm): a matrix norm when ord is given and dim
    has two dims (or is None for a 2-D A), a vector norm otherwise (2-norm by default).

    >>> import tapegrad
    >>> tapegrad.linalg.norm(tapegrad.tensor([[3., 0.], [0., 4.]]))
    tensor(5.)
    """
    A = tensor_arg(A)
    if isinstance(dim, (int, np.integer)):
        dim = (int(dim),)
    nd = A._data.ndim
    if dim is not None:
        dim = tuple(dim)
        if len(dim) not in (1, 2):
            raise RuntimeError("linalg.norm: If dim is specified, it must be of length 1 or 2. "
                               f"Got {list(dim)}")
    elif ord is not None and nd not in (1, 2):
        raise RuntimeError("linalg.norm: If dim is not specified but ord is, the input must be "
                           f"1D or 2D. Got {nd}D.")
    if isinstance(ord, str):
        return matrix_norm(A, ord, dim if dim is not None else (0, 1), keepdim, dtype=dtype,
                           out=out)
    if ord is not None and ((dim is not None and len(dim) == 2) or (dim is None and nd == 2)):
        return matrix_norm(A, ord, dim if dim is not None else (0, 1), keepdim, dtype=dtype,
                           out=out)
    return _out(vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype), out)


def matrix_rank(A: Tensor, tol=None, hermitian: bool = False, *, atol=None, rtol=None,
                out=None) -> Tensor:
    """The number of singular values above max(atol, rtol * largest) (default rtol:
    eps * max(m, n)); an int64 tensor, not differentiable.

    >>> import tapegrad
    >>> tapegrad.linalg.matrix_rank(tapegrad.tensor([[1., 2.], [2., 4.]]))
    tensor(1)
    """
    A = tensor_arg(A)
    check_matrix("linalg.matrix_rank", A)
    if A._dtype.category < D.FLOAT:
        raise RuntimeError("This function doesn't handle types other than float and double")
    a = A._data
    m, n = a.shape[-2:]
    if tol is not None:
        atol, rtol = tol, 0.0
    if a.size == 0:
        return _out(wrap(np.zeros(a.shape[:-2], np.int64)), out)
    s = np.abs(np.linalg.eigvalsh(a)) if hermitian else np.linalg.svd(a, compute_uv=False)
    smax = s.max(-1, keepdims=True)
    at = 0.0 if atol is None else np.asarray(atol._data if isinstance(atol, Tensor) else atol)
    if rtol is None:
        rtol = eps_of(a) * max(m, n) if atol is None or not np.any(at > 0) else 0.0
    rt_ = np.asarray(rtol._data if isinstance(rtol, Tensor) else rtol)
    at = at[..., None] if np.ndim(at) else at
    rt_ = rt_[..., None] if np.ndim(rt_) else rt_
    thr = np.maximum(at, rt_ * smax)
    return _out(wrap(np.asarray((s > thr).sum(-1), dtype=np.int64)), out)


METHODS = {"matrix_exp": matrix_exp}

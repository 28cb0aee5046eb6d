"""Cross products and pairwise distances: cross / linalg.cross and cdist (primitives).

Rules (conjugates are no-ops on real tensors):
  cross   out = x × y                    gx = conj(y) × g     gy = g × conj(x)
  cdist   out_ij = ||x1_i - x2_j||_p     gx1_i = sum_j g_ij d_ij, gx2_j = -sum_i g_ij d_ij,
          d_ij = sign(diff) |diff|^(p-1) / out_ij^(p-1) (diff = x1_i - x2_j), 0 where out_ij = 0;
          p = 1: sign(diff); p = inf: sign(diff) on the coordinates equal to the max (each tie
          gets the whole gradient, as PyTorch); p = 0: no gradient.
(the engine sums gradients of a broadcast input back to its shape)
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap_dim
from ..autograd.graph import Node
from ._core import new_node, save, save_out, wrap
from ._linalg_util import broadcast_batch
from .binary import where
from .linalg_basic import _maybe_out
from .matmul import _conj, matmul

__all__ = ["cross", "cdist"]


# --- cross -------------------------------------------------------------------------------
class LinalgCrossBackward0(Node):
    __slots__ = ("dim",)

    def vjp(self, g):
        x, y = self.saved_tensors()
        nx, ny = self._next
        gx = linalg_cross(_conj(y), g, dim=self.dim) if nx[0] is not None else None
        gy = linalg_cross(g, _conj(x), dim=self.dim) if ny[0] is not None else None
        return gx, gy


def _cross_np(a: np.ndarray, b: np.ndarray, d: int) -> np.ndarray:
    a0, a1, a2 = (np.take(a, i, axis=d) for i in range(3))
    b0, b1, b2 = (np.take(b, i, axis=d) for i in range(3))
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=d)


def linalg_cross(input: Tensor, other: Tensor, *, dim: int = -1, out=None) -> Tensor:  # noqa: A002
    """Cross product of 3-vectors along dim (inputs broadcast), as torch.linalg.cross.

    >>> import tapegrad
    >>> tapegrad.linalg.cross(tapegrad.tensor([1., 0., 0.]), tapegrad.tensor([0., 1., 0.]))
    tensor([0., 0., 1.])
    """
    a, b = input._data, other._data
    if a.ndim != b.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    d = _wrap_dim(dim, a.ndim)
    if a.shape[d] != 3 or b.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                           f"{a.shape[d]} and {b.shape[d]}")
    if input._dtype is not other._dtype:
        raise RuntimeError(
            f"expected scalar type {input._dtype._short} but found {other._dtype._short}")
    broadcast_batch(a.shape, b.shape)
    node = new_node(LinalgCrossBackward0, (input, other))
    if node is not None:
        node.dim = d
        save(node, input, other)
    return _maybe_out(wrap(np.asarray(_cross_np(a, b, d), dtype=a.dtype), node), out)


def cross(input: Tensor, other: Tensor, dim: int | None = None, *, out=None) -> Tensor:  # noqa: A002
    """Cross product along dim; without dim, the first dim of size 3 (deprecated, warns).

    >>> import tapegrad
    >>> tapegrad.cross(tapegrad.tensor([1., 0., 0.]), tapegrad.tensor([0., 1., 0.]), dim=0)
    tensor([0., 0., 1.])
    """
    if dim is None:
        warnings.warn(
            "Using tapegrad.cross without specifying the dim arg is deprecated.\nPlease either "
            "pass the dim explicitly or simply use tapegrad.linalg.cross.\nThe default value of "
            "dim will change to agree with that of linalg.cross in a future release.",
            UserWarning, stacklevel=2)
        dim = next((i for i, s in enumerate(input._data.shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    return linalg_cross(input, other, dim=dim, out=out)


# --- cdist -------------------------------------------------------------------------------
_MODES = {None: 0, "use_mm_for_euclid_dist_if_necessary": 0, "use_mm_for_euclid_dist": 1,
          "donot_use_mm_for_euclid_dist": 2}


class CdistBackward0(Node):
    __slots__ = ("p",)

    def vjp(self, g):
        out, x1, x2 = self.saved_tensors()
        nx1, nx2 = self._next
        p = self.p
        if p == 0:
            from .._creation import zeros

            return (zeros(x1._data.shape, dtype=g.dtype) if nx1[0] is not None else None,
                    zeros(x2._data.shape, dtype=g.dtype) if nx2[0] is not None else None)
        diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (..., r1, r2, c)
        gd = g.unsqueeze(-1)
        dist = out.unsqueeze(-1)
        t = pnorm_diff_grad(diff, dist, gd, p)
        gx1 = t.sum(-2) if nx1[0] is not None else None
        gx2 = -t.sum(-3) if nx2[0] is not None else None
        return gx1, gx2


class EuclideanDistBackward0(Node):
    """dist = sqrt(|x1|^2 + |x2|^2 - 2 x1.x2) (the matrix-product form): with r = g / dist
    (0 where dist == 0), gx1 = x1 * rowsum(r) - r x2, gx2 = x2 * colsum(r) - r^T x1."""

    __slots__ = ()

    def vjp(self, g):
        out, x1, x2 = self.saved_tensors()
        nx1, nx2 = self._next
        r = where(out == 0, 0.0, g / out)
        gx1 = x1 * r.sum(-1, keepdim=True) - matmul(r, x2) if nx1[0] is not None else None
        gx2 = x2 * r.sum(-2).unsqueeze(-1) - matmul(r.mT, x1) if nx2[0] is not None else None
        return gx1, gx2


def _cdist_np(a: np.ndarray, b: np.ndarray, p: float) -> np.ndarray:
    diff = np.abs(a[..., :, None, :] - b[..., None, :, :])
    if p == 0:
        return (diff != 0).sum(-1).astype(a.dtype)
    if p == 1:
        return diff.sum(-1)
    if p == 2:
        return np.sqrt((diff * diff).sum(-1))
    if math.isinf(p):
        return diff.max(-1, initial=0)
    return (diff ** p).sum(-1) ** (1.0 / p)


def _euclid_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    an = (a * a).sum(-1, keepdims=True)
    bn = (b * b).sum(-1, keepdims=True)
    x1 = np.concatenate([a * -2, an, np.ones_like(an)], -1)
    x2 = np.concatenate([b, np.ones_like(bn), bn], -1)
    r = np.matmul(x1, np.swapaxes(x2, -1, -2))
    return np.sqrt(np.maximum(r, 0))


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str | None = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """p-norm distances between the rows of x1 and those of x2 (batched, broadcast batches).

    >>> import tapegrad
    >>> tapegrad.cdist(tapegrad.tensor([[0., 0.]]), tapegrad.tensor([[3., 4.], [1., 0.]]))
    tensor([[5., 1.]])
    """
    a, b = x1._data, x2._data
    if a.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {a.ndim}D")
    if b.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X2 got: {b.ndim}D")
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {a.shape[-1]} "
                           f"X2: {b.shape[-1]}")
    for name, t in (("X1", x1), ("X2", x2)):
        if t._dtype.category != D.FLOAT:
            raise RuntimeError(
                f"cdist only supports floating-point dtypes, {name} got: {t._dtype._short}")
    if x1._dtype is not x2._dtype:
        raise RuntimeError(f"expected scalar type {x1._dtype._short} but found "
                           f"{x2._dtype._short}")
    p = float(p)
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if compute_mode not in _MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    mode = _MODES[compute_mode]
    batch = broadcast_batch(a.shape[:-2], b.shape[:-2])
    r1, r2 = a.shape[-2], b.shape[-2]
    if p == 2 and a.size and b.size and (mode == 1 or (mode == 0 and (r1 > 25 or r2 > 25))):
        r = np.asarray(_euclid_np(a, b), dtype=a.dtype)
        node = new_node(EuclideanDistBackward0, (x1, x2))
        res = wrap(r, node)
        if node is not None:
            save_out(node, res, x1, x2)
        return res.view(batch + (r1, r2))
    with np.errstate(all="ignore"):
        r = np.asarray(_cdist_np(a, b, p), dtype=a.dtype)
    r = np.broadcast_to(r, batch + (r1, r2))
    node = new_node(CdistBackward0, (x1, x2))
    res = wrap(np.ascontiguousarray(r), node)
    if node is not None:
        node.p = p
        save_out(node, res, x1, x2)
    return res


METHODS = {"cross": cross}


def pnorm_diff_grad(diff, dist, gd, p: float):
    """gd * d||diff||_p / d diff, with dist = ||diff||_p (the rule shared by cdist and pdist):
    sign(d)|d|^(p-1) / dist^(p-1), with 0 where dist is 0 (and, for p < 1, where d is 0);
    for p = inf, sign(d) on the entries that reach the maximum."""
    if p == 1:
        return diff.sign() * gd
    if p == 2:
        return diff * where(dist == 0, 0.0, gd / dist)
    if math.isinf(p):
        return diff.sign() * (diff.abs() == dist) * gd
    scale = where(dist == 0, 0.0, gd / dist.pow(p - 1))
    if p < 2:
        pw = diff.abs().pow(p - 1)
        if p < 1:
            pw = where(diff == 0, 0.0, pw)
        return diff.sign() * pw * scale
    return diff * diff.abs().pow(p - 2) * scale

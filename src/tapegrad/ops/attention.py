"""scaled_dot_product_attention, choosing between PyTorch's two CPU paths as PyTorch does.

    out = softmax(q k^T * scale + mask) v          (rows that are all -inf give zeros)

- The fused path (4-d query / key / value of one batch and head layout, no dropout, value head
  size equal to the query's, a mask that needs no gradient): one primitive, node
  ScaledDotProductFlashAttentionForCpuBackward0, the forward in NumPy. Its rule, with P the
  attention weights recomputed from q and k in tapegrad ops (so it differentiates again):
      dv = P^T g,   dP = g v^T,   dS = P (dP - sum(dP P)),   dq = dS k scale,   dk = dS^T q scale
- Otherwise PyTorch's math path, composed of matmul / safe softmax / dropout: query and key are
  each scaled by sqrt(scale) before the product, so the grad_fn chain is PyTorch's.
A bool mask marks the positions that take part (False becomes -inf); a float mask is added.
With enable_gqa, key and value heads are repeated to the query's head count.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.graph import Node
from ._core import new_node, save, save_out, wrap
from .nn_misc import dropout_impl

__all__: list[str] = []

FUNCTIONAL = ["scaled_dot_product_attention"]


class SafeSoftmaxBackward0(Node):
    # softmax's rule, dx = y * (g - sum(g * y)), with y = 0 on the rows that were all -inf
    __slots__ = ()

    def vjp(self, g):
        (out,) = self.saved_tensors()
        return out * (g - (g * out).sum(-1, keepdim=True))


def _softmax_np(a: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        m = a.max(axis=-1, keepdims=True) if a.size else a
        e = np.exp(a - m)
        r = e / e.sum(axis=-1, keepdims=True)
    dead = np.all(a == -np.inf, axis=-1, keepdims=True)
    return np.where(dead, 0.0, r).astype(a.dtype, copy=False) if dead.any() else r


def safe_softmax(x: Tensor) -> Tensor:
    """ATen's _safe_softmax over the last dim: rows that are all -inf give zeros, not nan."""
    node = new_node(SafeSoftmaxBackward0, (x,))
    res = wrap(_softmax_np(x._data), node)
    if node is not None:
        save_out(node, res)
    return res


def _check(q: Tensor, k: Tensor, v: Tensor, mask) -> None:
    if q.dim() < 2 or k.dim() < 2 or v.dim() < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim:"
            f" {q.dim()} key.dim: {k.dim()} and value.dim: {v.dim()} instead.")
    if not (q._dtype is k._dtype and k._dtype is v._dtype):
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{q._dtype._cname} key.dtype: {k._dtype._cname} and value.dtype: "
            f"{v._dtype._cname} instead.")
    if mask is not None and mask._dtype not in (D.bool, D.float32, q._dtype):
        raise RuntimeError(
            "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
            f"attn_mask.dtype: {mask._dtype._cname} and  query.dtype: {q._dtype._cname} instead.")
    if q._dtype.category != D.FLOAT:
        raise RuntimeError(f"expected scalar type Float but found {q._dtype._short}")


def _repeat_heads(t: Tensor, rep: int) -> Tensor:
    """t.repeat_interleave(rep, dim=-3): each head repeated rep times in place."""
    if rep == 1:
        return t
    s = t._data.shape
    return t.unsqueeze(-3).expand(*s[:-3], s[-3], rep, *s[-2:]).reshape(
        *s[:-3], s[-3] * rep, *s[-2:])


def _fold_heads(t: Tensor, rep: int) -> Tensor:
    """The reverse of _repeat_heads for gradients: sum each group of rep heads."""
    if rep == 1:
        return t
    s = tuple(t.shape)  # (t may be a batch of cotangents under vmap)
    return t.reshape(*s[:-3], s[-3] // rep, rep, *s[-2:]).sum(-3)


class ScaledDotProductFlashAttentionForCpuBackward0(Node):
    __slots__ = ("scale", "mask", "rep_k", "rep_v")

    def vjp(self, g):
        q, k, v = self.saved_tensors()
        nq, nk, nv = (e[0] is not None for e in self._next)
        kk, vv = _repeat_heads(k, self.rep_k), _repeat_heads(v, self.rep_v)
        s = q.matmul(kk.transpose(-2, -1)) * self.scale
        if self.mask is not None:
            s = s + self.mask
        p = safe_softmax(s)
        dq = dk = dv = None
        if nv:
            dv = _fold_heads(p.transpose(-2, -1).matmul(g), self.rep_v)
        if nq or nk:
            dp = g.matmul(vv.transpose(-2, -1))
            ds = p * (dp - (dp * p).sum(-1, keepdim=True)) * self.scale
            if nq:
                dq = ds.matmul(kk)
            if nk:
                dk = _fold_heads(ds.transpose(-2, -1).matmul(q), self.rep_k)
        return dq, dk, dv


def _fused(q: Tensor, k: Tensor, v: Tensor, mask, scale: float, rep_k: int,
           rep_v: int) -> Tensor:
    ka, va = k._data, v._data
    if rep_k > 1:
        ka = np.repeat(ka, rep_k, axis=-3)
    if rep_v > 1:
        va = np.repeat(va, rep_v, axis=-3)
    s = np.matmul(q._data, np.swapaxes(ka, -1, -2)) * q._data.dtype.type(scale)
    if mask is not None:
        s = s + mask._data
    out = np.matmul(_softmax_np(s.astype(q._data.dtype, copy=False)), va)
    node = new_node(ScaledDotProductFlashAttentionForCpuBackward0, (q, k, v))
    if node is not None:
        node.scale, node.mask, node.rep_k, node.rep_v = scale, mask, rep_k, rep_v
        save(node, q, k, v)
    return wrap(out.astype(q._data.dtype, copy=False), node)


def _use_fused(q: Tensor, k: Tensor, v: Tensor, mask, dropout_p: float, gqa: bool) -> bool:
    """PyTorch's CPU choice of the flash kernel (sdp_utils_cpp's use_flash_attention_cpp)."""
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4 or dropout_p > 0.0:
        return False
    qs, ks, vs = q._data.shape, k._data.shape, v._data.shape
    if not (qs[0] == ks[0] == vs[0]) or not (qs[-1] == ks[-1] == vs[-1]):
        return False
    if not (qs[1] == ks[1] == vs[1] or (gqa and ks[1] == vs[1])):
        return False
    if qs[2] == 0 or ks[2] == 0:
        return False
    return mask is None or not mask._requires_grad


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask=None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale=None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(query key^T * scale + mask) value; scale defaults to 1 / sqrt(E); a bool mask
    marks the positions that attend, a float mask is added; rows with no position left give
    zeros; dropout_p drops attention weights (tapegrad's generator, PyTorch's stream).

    >>> import tapegrad
    >>> q = tapegrad.ones(1, 2, 3)
    >>> tapegrad.nn.functional.scaled_dot_product_attention(q, q, q)
    tensor([[[1., 1., 1.],
             [1., 1., 1.]]])
    """
    _check(query, key, value, attn_mask)
    neg = scale is not None and scale < 0
    s = 1.0 / math.sqrt(query._data.shape[-1]) if scale is None else abs(scale)
    fused = _use_fused(query, key, value, attn_mask, dropout_p, enable_gqa)
    if attn_mask is not None and attn_mask._dtype is D.bool:
        attn_mask = _make(np.where(attn_mask._data, 0.0, -np.inf).astype(query._data.dtype))
    if is_causal:
        if attn_mask is not None and not fused:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                               "set when is_causal=True")
        L, S = query._data.shape[-2], key._data.shape[-2]  # noqa: N806
        causal = _make(np.where(np.tril(np.ones((L, S), dtype=bool)), 0.0, -np.inf).astype(
            query._data.dtype))
        # the fused kernel applies an explicit mask and the causal one together
        attn_mask = causal if attn_mask is None else attn_mask + causal
    rep_k = rep_v = 1
    if enable_gqa:
        hq, hk, hv = (t._data.shape[-3] for t in (query, key, value))
        if hq % hk or hq % hv:
            raise RuntimeError("Number of heads in key and value must divide the number of "
                               "heads in ")
        rep_k, rep_v = hq // hk, hq // hv
    if fused:
        return _fused(query, key, value, attn_mask, -s if neg else s, rep_k, rep_v)
    sf = math.sqrt(s)
    q = query * (-sf if neg else sf)
    key, value = _repeat_heads(key, rep_k), _repeat_heads(value, rep_v)
    attn = q.matmul(key.transpose(-2, -1) * sf)
    if attn_mask is not None:
        attn = attn + attn_mask
    attn = safe_softmax(attn)
    if dropout_p > 0.0:
        attn = dropout_impl(attn, dropout_p, True)
    return attn.matmul(value)

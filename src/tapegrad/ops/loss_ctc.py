"""ctc_loss: Connectionist Temporal Classification (Graves et al., 2006), as PyTorch computes it.

The forward is the alpha recursion in log space, vectorised over the batch and the extended
label sequence l' (the target with blanks around and between its labels, length 2S + 1):

    alpha[0, 0] = lp[0, blank],  alpha[0, 1] = lp[0, l'_1]
    alpha[t, s] = lp[t, l'_s] + logsumexp(alpha[t-1, s], alpha[t-1, s-1], alpha[t-1, s-2])
                  (the s-2 term only where l'_s is a label different from l'_{s-2})
    nll = -logsumexp(alpha[T-1, 2S], alpha[T-1, 2S-1])

one loop over time. The gradient (CtcLossBackward0) runs the mirror beta recursion and combines
them as PyTorch's ctc_loss_backward does (eq. 16 of the paper):

    grad[t, c] = exp(lp[t, c]) - exp(logsumexp_{s: l'_s = c}(alpha + beta)[t, s] + nll - lp[t, c])

which is the gradient with respect to the logits of a log_softmax whose output lp is (the
exp(lp) term, summing to one over c, vanishes through log_softmax's backward): the same
convention as PyTorch, so gradients match PyTorch's. Rows past an input's length get zero,
and with zero_infinity an infinite (impossible) loss gets zero loss and zero gradient. Like
PyTorch's, this gradient is not differentiable again: its node raises PyTorch's message.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.graph import Node
from ._core import batched_cotangent, new_node, rebatch, save_out, wrap
from .binary import _nondiff, where
from .loss import MEAN, SUM, reduction_enum

__all__: list[str] = []

FUNCTIONAL = ["ctc_loss"]

_NEG_INF = -np.inf
_CHECKING = " (while checking arguments for ctc_loss_allocate_outputs)"


def _lse3(a, b, c):
    """Elementwise logsumexp of three arrays (any of them may be -inf)."""
    m = np.maximum(np.maximum(a, b), c)
    ms = np.where(np.isneginf(m), 0.0, m)
    with np.errstate(divide="ignore"):
        return ms + np.log(np.exp(a - ms) + np.exp(b - ms) + np.exp(c - ms))


def _shift(a, k):
    """a shifted right by k along the last axis, -inf filled."""
    out = np.full_like(a, _NEG_INF)
    out[..., k:] = a[..., : a.shape[-1] - k]
    return out


def _unshift(a, k):
    """a shifted left by k along the last axis, -inf filled."""
    out = np.full_like(a, _NEG_INF)
    out[..., : a.shape[-1] - k] = a[..., k:]
    return out


class _Ctc:
    """The extended labels of a batch and the per-position facts the recursions need."""

    def __init__(self, lp, tgt, il, tl, blank):
        n, smax = tgt.shape
        L = 2 * smax + 1  # noqa: N806
        ext = np.full((n, L), blank, dtype=np.int64)
        ext[:, 1::2] = tgt
        s = np.arange(L)
        self.valid = s[None, :] < (2 * tl + 1)[:, None]
        skip = np.zeros((n, L), dtype=bool)
        if L > 2:
            skip[:, 2:] = (s[None, 2:] % 2 == 1) & (ext[:, 2:] != ext[:, :-2])
        self.skip, self.ext, self.il, self.tl = skip, ext, il, tl
        # lp at the extended labels: (N, T, L)
        lpn = np.transpose(lp, (1, 0, 2))
        self.lpn = lpn
        self.emit = np.take_along_axis(lpn, np.broadcast_to(ext[:, None, :], (n, lp.shape[0], L)),
                                       axis=2)

    def alpha(self):
        emit, valid, skip = self.emit, self.valid, self.skip
        n, t_max, L = emit.shape  # noqa: N806
        la = np.full((n, t_max, L), _NEG_INF, dtype=emit.dtype)
        if t_max == 0:
            return la
        first = np.full((n, L), _NEG_INF, dtype=emit.dtype)
        first[:, 0] = emit[:, 0, 0]
        if L > 1:
            first[:, 1] = np.where(self.tl > 0, emit[:, 0, 1], _NEG_INF)
        la[:, 0] = first
        for t in range(1, t_max):
            a = la[:, t - 1]
            a2 = np.where(skip, _shift(a, 2), _NEG_INF)
            la[:, t] = np.where(valid, _lse3(a, _shift(a, 1), a2) + emit[:, t], _NEG_INF)
        return la

    def nll(self, la):
        n = la.shape[0]
        rows = np.arange(n)
        t_last = np.maximum(self.il - 1, 0)
        end = la[rows, t_last, 2 * self.tl]
        prev = np.where(self.tl > 0, la[rows, t_last, np.maximum(2 * self.tl - 1, 0)], _NEG_INF)
        res = -_lse3(end, prev, np.full_like(end, _NEG_INF))
        # an empty input: probability one for an empty target, zero otherwise
        return np.where(self.il == 0, np.where(self.tl == 0, 0.0, np.inf), res)

    def beta(self):
        emit, valid, skip = self.emit, self.valid, self.skip
        n, t_max, L = emit.shape  # noqa: N806
        rows = np.arange(n)
        lb = np.full((n, t_max, L), _NEG_INF, dtype=emit.dtype)
        init = np.full((n, L), _NEG_INF, dtype=emit.dtype)
        t_last = np.maximum(self.il - 1, 0)
        init[rows, 2 * self.tl] = emit[rows, t_last, 2 * self.tl]
        has = self.tl > 0
        init[rows[has], 2 * self.tl[has] - 1] = emit[rows[has], t_last[has], 2 * self.tl[has] - 1]
        skip_next = _unshift(skip.astype(np.int8), 2).astype(bool) if L > 2 else skip
        b = np.full((n, L), _NEG_INF, dtype=emit.dtype)
        for t in range(t_max - 1, -1, -1):
            b2 = np.where(skip_next, _unshift(b, 2), _NEG_INF)
            rec = np.where(valid, _lse3(b, _unshift(b, 1), b2) + emit[:, t], _NEG_INF)
            here = (t == self.il - 1)[:, None]
            past = (t > self.il - 1)[:, None]
            b = np.where(here, init, np.where(past, _NEG_INF, rec))
            lb[:, t] = b
        return lb

    def grad(self, la, nll, zero_infinity):
        """PyTorch's gradient of each nll with respect to lp (see the module doc), (N, T, C)."""
        lb = self.beta()
        n, t_max, L = la.shape  # noqa: N806
        c = self.lpn.shape[2]
        with np.errstate(invalid="ignore", over="ignore"):
            occ = np.exp(la + lb + nll[:, None, None] - self.emit)
        onehot = (self.ext[:, :, None] == np.arange(c)).astype(occ.dtype)
        grad = np.exp(self.lpn) - np.matmul(occ, onehot)
        live = np.arange(t_max)[None, :] < self.il[:, None]
        grad = np.where(live[:, :, None], grad, 0.0)
        if zero_infinity:
            grad = np.where(np.isinf(nll)[:, None, None], 0.0, grad)
        return grad


class CtcLossBackward0(Node):
    __slots__ = ("ctc", "log_alpha", "zero_infinity")
    no_forward_ad = "_ctc_loss"  # no forward-mode rule (PyTorch has none either)

    def vjp(self, g):
        out, lp = self.saved_tensors()
        grad = self.ctc.grad(self.log_alpha, out._data, self.zero_infinity)  # (N, T, C)
        if type(g) is not Tensor:  # a batch of cotangents (vmap), (batch, N): one product
            b = batched_cotangent(g)
            if b is not None:
                p = b[0]
                grad = np.transpose(grad * p._data[:, :, None, None], (0, 2, 1, 3))
                grad = np.ascontiguousarray(grad, dtype=lp._data.dtype)
                return rebatch(_nondiff("_ctc_loss_backward", grad, p, lp), b[1])
        grad = np.transpose(grad * g._data[:, None, None], (1, 0, 2)).astype(lp._data.dtype)
        return _nondiff("_ctc_loss_backward", np.ascontiguousarray(grad), g, lp)


def _lengths(v, name: str, n: int) -> np.ndarray:
    if isinstance(v, Tensor):
        if v._dtype.category != D.INT:
            raise RuntimeError(f"{name} must be integral")
        a = v._data.reshape(-1).astype(np.int64)
    else:
        a = np.asarray(v, dtype=np.int64).reshape(-1)
    if a.size != n:
        raise RuntimeError(f"{name} must be of size batch_size")
    return a


def ctc_loss_enum(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths,
                  blank: int = 0, reduction: int = MEAN, zero_infinity: bool = False) -> Tensor:
    """ATen's ctc_loss with a reduction enum (torch.ctc_loss)."""
    batched = log_probs.dim() == 3
    lp_t = log_probs if batched else log_probs.unsqueeze(1)
    if lp_t.dim() != 3:
        raise RuntimeError(f"Expected 3-dimensional tensor, but got {lp_t.dim()}-dimensional "
                           f"tensor for argument #1 'log_probs'{_CHECKING}")
    tg = targets if batched or targets.dim() != 1 else targets.unsqueeze(0)
    if lp_t._dtype.category != D.FLOAT:
        raise NotImplementedError(f'"ctc_loss_cpu" not implemented for '
                                  f"'{lp_t._dtype._short}'")
    t_max, n, c = lp_t._data.shape
    il = _lengths(input_lengths, "input_lengths", n)
    tl = _lengths(target_lengths, "target_lengths", n)
    if not 0 <= blank < c:
        raise RuntimeError("blank must be in label range")
    for name, a, top in (("input_lengths", il, t_max), ("target_lengths", tl, None)):
        if a.size and a.min() < 0:
            raise RuntimeError(f"Expected {name} to have value at least 0, but got value "
                               f"{int(a.min())}{_CHECKING}")
        if top is not None and a.size and a.max() > top:
            raise RuntimeError(f"Expected {name} to have value at most {top}, but got value "
                               f"{int(a.max())}{_CHECKING}")
    ta = tg._data.astype(np.int64)
    smax = int(tl.max()) if tl.size else 0
    if ta.ndim == 1:  # concatenated targets
        if ta.shape[0] != tl.sum():
            raise RuntimeError(f"Expected tensor to have size {int(tl.sum())} at dimension 0, "
                               f"but got size {ta.shape[0]} for argument #2 'targets'{_CHECKING}")
        padded = np.zeros((n, smax), dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(tl)[:-1]])
        for i in range(n):
            padded[i, : tl[i]] = ta[starts[i]: starts[i] + tl[i]]
    else:
        if ta.shape[1] < smax:
            raise RuntimeError(f"Expected tensor to have size at least {smax} at dimension 1, "
                               f"but got size {ta.shape[1]} for argument #2 'targets'{_CHECKING}")
        padded = ta[:, :smax]
    ctc = _Ctc(lp_t._data, np.clip(padded, 0, c - 1), il, tl, blank)
    la = ctc.alpha()
    nll = ctc.nll(la).astype(lp_t._data.dtype)
    node = new_node(CtcLossBackward0, (lp_t,))
    res = wrap(nll, node)
    if node is not None:
        node.ctc, node.log_alpha, node.zero_infinity = ctc, la, zero_infinity
        save_out(node, res, lp_t)
    if zero_infinity:
        res = where(_make(np.isinf(nll)), _make(np.zeros((), nll.dtype)), res)
    if reduction == MEAN:
        return (res / _make(np.maximum(tl, 1).astype(nll.dtype))).mean()
    if reduction == SUM:
        return res.sum()
    return res if batched else res.squeeze(0)


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """The CTC loss of log-probabilities (T, N, C) (or (T, C)) against targets padded (N, S)
    or concatenated (sum(target_lengths)); 'mean' divides each loss by its target length
    before averaging over the batch.

    >>> import tapegrad
    >>> lp = tapegrad.zeros(2, 1, 2).log_softmax(2)
    >>> tapegrad.nn.functional.ctc_loss(lp, tapegrad.tensor([[1]]), [2], [1], reduction='sum')
    tensor(0.2877)
    """
    return ctc_loss_enum(log_probs, targets, input_lengths, target_lengths, blank,
                         reduction_enum(reduction), zero_infinity)


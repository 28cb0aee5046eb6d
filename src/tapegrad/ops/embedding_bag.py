"""embedding_bag: sums, means or maxima of bags of embedding rows, without building the
intermediate (len(indices), D) lookup.

Bag b holds the indices input[offsets[b]:offsets[b+1]] (the last bag runs to the end of the
input; with include_last_offset, offsets has one entry more than there are bags). Entries equal
to padding_idx are skipped (they count neither in a mean nor in a max).

  embedding_bag (EmbeddingBagBackward0; inputs weight and per_sample_weights)
      sum:   out_b = sum_i w_i W[idx_i]   (w_i the per-sample weight, else 1)
      mean:  out_b = sum_i W[idx_i] / max(n_b, 1), n_b the non-padding count
      max:   out_b[d] = W[m_bd, d], m_bd the first row reaching the maximum (a NaN met first
             stays, as PyTorch's kernel compares with `>`)
  vjp: dW = rows of g (times w_i, 1 / n_b, or 1 / freq(idx_i) with scale_grad_by_freq) added at
  idx_i; d w_i = <g_b, W[idx_i]>; max: g_bd added at (m_bd, d). These are written with
  index_select / index_add, so second derivatives work (PyTorch has none through
  per_sample_weights).
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.grad_mode import no_grad
from ..autograd.graph import Node
from ._core import batched_cotangent, new_node, rebatch, save, wrap

__all__: list[str] = []  # torch.embedding_bag (ATen signature) is in nn_aten_gaps.py
FUNCTIONAL = ["embedding_bag"]

_MODES = {"sum": 0, "mean": 1, "max": 2}
_FLOATS = "Half, BFloat16, Float, Double"


class EmbeddingBagBackward0(Node):
    # idx / bag: row and bag of each kept (non-padding, in-bag) entry; keep: their positions
    # among all entries; coef: constant row factors (1 / n_b, 1 / freq); maxidx: for max mode,
    # (bags with an entry, flat row * D + d targets of their maxima)
    __slots__ = ("idx", "bag", "keep", "mode", "num", "coef", "maxidx")

    def vjp(self, g):
        if type(g) is not Tensor:  # a batch of cotangents (vmap): one more leading dim
            b = batched_cotangent(g)
            if b is not None:
                return tuple(None if r is None else rebatch(r, b[1])
                             for r in self._grads(b[0], 1))
        return self._grads(g, 0)

    def _grads(self, g, k: int):
        """(weight grad, per_sample_weights grad) for g with k leading batch dims."""
        weight, psw = self.saved_tensors()
        nw, npsw = self._next
        lead = g._data.shape[:k]
        d = g._data.shape[-1]
        gw = gp = None
        if self.mode == 2:
            if nw[0] is not None:
                live, flat = self.maxidx
                src = g.index_select(k, wrap(live)).reshape(lead + (-1,))
                gw = g.new_zeros(lead + (self.num * d,)).index_add(k, wrap(flat), src)
                gw = gw.reshape(lead + (self.num, d))
            return gw, None
        idx, keep = wrap(self.idx), wrap(self.keep)
        rows = g.index_select(k, wrap(self.bag))  # (kept entries, D): each entry's bag gradient
        if nw[0] is not None:
            src = rows if self.coef is None else rows * wrap(self.coef.astype(g._data.dtype))
            if psw is not None:
                src = src * psw.index_select(0, keep).unsqueeze(-1)
            gw = g.new_zeros(lead + (self.num, d)).index_add(k, idx, src)
        if psw is not None and npsw[0] is not None:
            gp = (weight.index_select(0, idx) * rows).sum(-1)
            gp = gp.new_zeros(lead + psw._data.shape).index_add(k, keep, gp)
        return gw, gp


def _bag_max(w: np.ndarray, kidx: np.ndarray, kbag: np.ndarray, counts: np.ndarray,
             out: np.ndarray, maxidx: np.ndarray) -> None:
    """Fill out / maxidx with each bag's maximum as PyTorch's kernel scans it: the bag's first
    entry, then any later entry that is greater (`>`: ties keep the earlier row, a later NaN is
    never taken, a NaN met first stays)."""
    live = np.flatnonzero(counts)
    if live.size == 0:
        return
    rows = w[kidx]  # (kept entries, D), grouped by bag in order
    starts = np.concatenate([[0], np.cumsum(counts[live])[:-1]])
    filled = np.where(np.isnan(rows), -np.inf, rows) if rows.dtype.kind == "f" else rows
    best = np.maximum.reduceat(filled, starts, axis=0)  # (live bags, D)
    pos = np.arange(rows.shape[0])[:, None]
    hit = np.where(filled == best[np.repeat(np.arange(live.size), counts[live])], pos,
                   rows.shape[0])
    first = np.minimum.reduceat(hit, starts, axis=0)  # first entry reaching the maximum
    vals = rows[first, np.arange(rows.shape[1])]
    first_nan = np.isnan(rows[starts]) if rows.dtype.kind == "f" else np.zeros_like(vals, bool)
    vals = np.where(first_nan, rows[starts], vals)
    first = np.where(first_nan, starts[:, None], first)
    out[live] = vals
    maxidx[live] = kidx[first]


def _index_type_error(t: Tensor, arg: str) -> RuntimeError:
    return RuntimeError(
        f"Expected tensor for argument #1 '{arg}' to have one of the following scalar types: "
        f"Long, Int; but got tapegrad.{t._dtype._legacy} instead (while checking arguments for "
        "embedding_bag)")


def _bags(offsets: np.ndarray, n: int, include_last: bool) -> tuple:
    """(number of bags, bag of each of the n entries (-1: in no bag))."""
    nb = len(offsets) - 1 if include_last else len(offsets)
    bag = np.full(n, -1, dtype=np.int64)
    starts = offsets[:nb]
    ends = offsets[1:nb + 1] if include_last else np.append(offsets[1:nb], n)
    for b in range(nb):
        bag[starts[b]:ends[b]] = b
    return nb, bag


def _check(weight: Tensor, indices: Tensor, offsets: Tensor, mode: int, psw, include_last):
    if indices._dtype not in (D.int64, D.int32):
        raise _index_type_error(indices, "indices")
    if offsets._dtype not in (D.int64, D.int32):
        raise _index_type_error(offsets, "indices")
    if weight._dtype.category != D.FLOAT:
        raise RuntimeError(
            f"Expected tensor for argument #1 'weight' to have one of the following scalar "
            f"types: {_FLOATS}; but got tapegrad.{weight._dtype._legacy} instead (while checking "
            "arguments for embedding_bag)")
    if indices.dim() not in (1, 2):
        raise RuntimeError("input has to be a 1D or 2D Tensor, but got Tensor of dimension "
                           f"{indices.dim()}")
    if indices.dim() == 1 and offsets.dim() != 1:
        raise RuntimeError("offsets has to be a 1D Tensor, but got Tensor of dimension "
                           f"{offsets.dim()}")
    if weight.dim() != 2:
        raise RuntimeError(f"weight has to be a 2D Tensor, but got Tensor of dimension "
                           f"{weight.dim()}")
    if mode not in (0, 1, 2):
        raise RuntimeError("`mode` must be sum, mean, or max.")
    off = offsets._data.reshape(-1).astype(np.int64)
    n = indices._data.shape[0]
    both32 = indices._dtype is D.int32 and offsets._dtype is D.int32  # else both become int64
    if off.size:
        if off[0] != 0:
            raise RuntimeError(
                "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start "
                f"from position 0. However, got {int(off[0])}\n"
                f"[ tapegrad.{'IntTensor' if both32 else 'LongTensor'}{{}} ]")
        if off[-1] > n:
            raise RuntimeError(f"offsets[-1] can not be greater than input's length {n} but got "
                               f"offsets[-1] of {int(off[-1])}")
        if include_last and off.size > 1 and off[-1] < off[-2]:
            raise RuntimeError(
                "Your input appears to be incorrect: the last offset value should be the size of "
                "the indices tensor, but it seems not to be the case.")
        drops = np.flatnonzero(np.diff(off) < 0)
        if drops.size:
            # PyTorch reads out of bounds here (its result or error varies with the machine);
            # tapegrad names the first offset that goes backwards.
            i = int(drops[0]) + 1
            raise RuntimeError(
                f"embedding_bag: offsets must be non-decreasing, but offsets[{i}] = "
                f"{int(off[i])} is less than offsets[{i - 1}] = {int(off[i - 1])}")
    if psw is not None:
        if mode != 0:
            raise RuntimeError("embedding_bag: per_sample_weights only supported with "
                               "mode='sum'")
        if psw._dtype is not weight._dtype:
            raise RuntimeError(
                "Expected tensor for argument #1 'weight' to have the same type as tensor for "
                f"argument #1 'per_sample_weights'; but type tapegrad.{weight._dtype._legacy} "
                f"does not equal tapegrad.{psw._dtype._legacy} (while checking arguments for "
                "embedding_bag)")
    return off


def embedding_bag_aten(weight: Tensor, indices: Tensor, offsets: Tensor,
                  scale_grad_by_freq: bool = False, mode: int = 0, sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> tuple:
    """ATen's embedding_bag: (output, offset2bag, bag_size, max_indices); mode 0 sum, 1 mean,
    2 max. The functional form is tapegrad.nn.functional.embedding_bag."""
    psw = per_sample_weights
    num = weight._data.shape[0]
    pad = -1
    if padding_idx is not None:
        pad = int(padding_idx)
        if not -num <= pad < num:
            raise RuntimeError(f"padding_idx must be within the number of embeddings, -{num} "
                               f"through {num - 1}, but got {pad}")
        if pad < 0:
            pad += num
    off = _check(weight, indices, offsets, mode, psw, include_last_offset)
    itype = D.int32 if (indices._dtype is D.int32 and offsets._dtype is D.int32) else D.int64
    inp = indices._data.reshape(-1).astype(np.int64)
    bad = np.flatnonzero((inp < 0) | (inp >= num))
    if bad.size:
        i = int(bad[0])
        raise RuntimeError(f"Index {i} of input takes value {int(inp[i])} which is not in the "
                           f"valid range [0, {num})")
    w = weight._data
    dim = w.shape[1]
    nb, bag = _bags(off, inp.size, include_last_offset)
    keep = (bag >= 0) & (inp != pad)
    kidx, kbag = inp[keep], bag[keep]
    counts = np.bincount(kbag, minlength=nb)[:nb] if nb else np.zeros(0, dtype=np.int64)
    out = np.zeros((nb, dim), dtype=w.dtype)
    maxidx = np.zeros((nb, dim), dtype=np.int64)
    coef = None
    if mode == 2:
        _bag_max(w, kidx, kbag, counts, out, maxidx)
    else:
        rows = w[kidx]
        if psw is not None:
            rows = rows * psw._data[keep][:, None]
        np.add.at(out, kbag, rows)
        if mode == 1:
            out /= np.maximum(counts, 1)[:, None].astype(w.dtype)
            coef = (1.0 / np.maximum(counts, 1))[kbag][:, None]
        if scale_grad_by_freq:
            freq = np.bincount(inp, minlength=num)[kidx]
            c = (1.0 / freq)[:, None]
            coef = c if coef is None else coef * c
    inputs = (weight, psw)
    node = new_node(EmbeddingBagBackward0, inputs)
    if node is not None:
        save(node, weight, psw)
        node.idx, node.bag, node.keep, node.mode, node.num = kidx, kbag, np.flatnonzero(keep), \
            mode, num
        node.coef = coef
        if mode == 2:
            live = np.flatnonzero(counts > 0)
            node.maxidx = (live, (maxidx[live] * dim + np.arange(dim)).reshape(-1))
    res = wrap(out, node)
    fast = mode == 0 and pad < 0 and w.dtype != np.float64
    o2b = np.zeros(0, dtype=np.int64) if fast else _offset2bag(off, inp.size, include_last_offset)
    # sum mode reports zeros, one per offset; mean and max the non-padding count of each bag
    bag_size = np.zeros(len(off), dtype=np.int64) if mode == 0 else counts.astype(np.int64)
    maxi = maxidx if mode == 2 else bag_size.copy()
    it = itype.np
    return (res, wrap(o2b.astype(it)), wrap(bag_size.astype(it)), wrap(maxi.astype(it)))


def _offset2bag(off: np.ndarray, n: int, include_last: bool) -> np.ndarray:
    """The bag of every entry, as PyTorch's offset2bag: a count of the offsets at or before it
    (minus one), so entries after the last listed offset belong to the last bag."""
    starts = off[:-1] if include_last and off.size else off
    marks = np.zeros(n + 1, dtype=np.int64)
    np.add.at(marks, starts, 1)
    o2b = np.cumsum(marks)[:n] - 1
    return np.maximum(o2b, 0)


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None,  # noqa: A002
                  max_norm: float | None = None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Sums, means or maxima of bags of rows of weight: bag b gathers the rows at
    input[offsets[b]:offsets[b+1]] (or each row of a 2-D input is a bag). The gradient is
    dense (sparse=True is accepted and gives a dense gradient).

    >>> import tapegrad
    >>> w = tapegrad.tensor([[1., 1.], [2., 0.], [0., 4.]])
    >>> tapegrad.nn.functional.embedding_bag(tapegrad.tensor([0, 1, 2]), w,
    ...                                      tapegrad.tensor([0, 1]), mode="sum")
    tensor([[1., 1.],
            [2., 4.]])
    """
    if weight._dtype is D.int64 and input._dtype.category >= D.FLOAT:
        warnings.warn(
            "Argument order of nn.functional.embedding_bag was changed. Usage "
            "`embedding_bag(weight, input, ...)` is deprecated, and should now be "
            "`embedding_bag(input, weight, ...)`.", stacklevel=2)
        weight, input = input, weight  # noqa: A001
    psw = per_sample_weights
    if psw is not None and tuple(input.shape) != tuple(psw.shape):
        raise ValueError(
            f"embedding_bag: If per_sample_weights ({psw.shape}) is not None, then it must have "
            f"the same shape as the input ({input.shape})")
    if weight.dim() != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension "
                         f"{weight.dim()}")
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError(
                "if input is 2D, then offsets has to be None, as input is treated is a "
                "mini-batch of fixed length sequences. However, found offsets of type "
                f"{type(offsets)}")
        from .._creation_range import arange

        offsets = arange(0, input.numel(), input.size(1), dtype=input.dtype)
        include_last_offset = False
        input = input.reshape(-1)  # noqa: A001
        if psw is not None:
            psw = psw.reshape(-1)
    elif input.dim() == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.dim() != 1:
            raise ValueError("offsets has to be a 1D Tensor")
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{input.dim()}")
    if mode not in _MODES:
        raise ValueError("mode has to be one of sum, mean or max")
    if mode == "max":
        if scale_grad_by_freq:
            raise ValueError("max mode does not support scaling the gradient by the frequency")
        if sparse:
            raise ValueError("max mode does not support sparse weights")
    if max_norm is not None:
        from .nn_misc import _check_indices, embedding_renorm_np

        _check_indices(input, "embedding_renorm_")
        with no_grad():
            embedding_renorm_np(weight._data, input, max_norm, norm_type)
        weight._bump_version()
    if psw is not None and mode != "sum":
        raise NotImplementedError(
            "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
            f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
            "GitHub.")
    return embedding_bag_aten(weight, input, offsets, scale_grad_by_freq, _MODES[mode], sparse,
                              psw, include_last_offset, padding_idx)[0]

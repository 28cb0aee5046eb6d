"""Padding and packing of variable-length sequences for the recurrent layers.

A PackedSequence holds the time steps of a batch of sequences sorted by decreasing length,
one after another: `data` has the batch_sizes[0] first elements, then the batch_sizes[1]
second elements, and so on. Packing and unpacking are gathers, so gradients flow through.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from ... import _dtype as D
from ..._tensor import Tensor, _make

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence",
           "pad_sequence", "unpad_sequence", "pack_sequence", "unpack_sequence"]


class PackedSequence_(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(PackedSequence_):
    """(data, batch_sizes, sorted_indices, unsorted_indices) of a packed batch; build it with
    pack_padded_sequence or pack_sequence.

    >>> import tapegrad
    >>> from tapegrad.nn.utils.rnn import pack_sequence
    >>> pack_sequence([tapegrad.tensor([1., 2.]), tapegrad.tensor([3.])]).batch_sizes
    tensor([2, 1])
    """

    def __new__(cls, data: Tensor, batch_sizes: Tensor | None = None,
                sorted_indices: Tensor | None = None, unsorted_indices: Tensor | None = None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise AssertionError("Expected data to be a list or tuple of length 2")
            data, batch_sizes = data[0], data[1]
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def cpu(self, *args: Any, **kwargs: Any) -> PackedSequence:
        return self

    def pin_memory(self) -> PackedSequence:
        return self

    def double(self) -> PackedSequence:
        return self.to(dtype=D.float64)

    def float(self) -> PackedSequence:
        return self.to(dtype=D.float32)

    def half(self) -> PackedSequence:
        return self.to(dtype=D.float16)

    def long(self) -> PackedSequence:
        return self.to(dtype=D.int64)

    def int(self) -> PackedSequence:
        return self.to(dtype=D.int32)

    def short(self) -> PackedSequence:
        return self.to(dtype=D.int16)

    def char(self) -> PackedSequence:
        return self.to(dtype=D.int8)

    def byte(self) -> PackedSequence:
        return self.to(dtype=D.uint8)

    @property
    def is_cuda(self) -> bool:
        return False

    def is_pinned(self) -> bool:
        return False


PackedSequence.__module__ = "tapegrad.nn.utils.rnn"


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The permutation q with q[p[i]] = i (None stays None)."""
    if permutation is None:
        return None
    p = permutation._data
    out = np.empty_like(p)
    out[p] = np.arange(p.size, dtype=p.dtype)
    return _make(out)


def _lengths_array(lengths) -> np.ndarray:
    if isinstance(lengths, Tensor):
        lengths = lengths.to(dtype=D.int64)
        return lengths._data
    return np.asarray(lengths, dtype=np.int64)


def _batch_sizes(lengths: np.ndarray) -> np.ndarray:
    """batch_sizes[t] = how many lengths exceed t (lengths sorted decreasingly)."""
    steps = np.arange(int(lengths[0]))
    return (lengths[None, :] > steps[:, None]).sum(1).astype(np.int64)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,  # noqa: A002
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded (T, B, *) (or (B, T, *) with batch_first) batch of sequences of the given
    lengths; with enforce_sorted=False the batch is sorted by decreasing length first."""
    x = input
    lens = _lengths_array(lengths)
    if lens.ndim != 1:
        raise RuntimeError("'lengths' argument should be a 1D CPU int64 tensor, but got "
                           f"{lens.ndim}D cpu Long tensor")
    sorted_indices = None
    if not enforce_sorted:
        order = np.argsort(-lens, kind="stable")
        lens = lens[order]
        sorted_indices = _make(order.astype(np.int64))
        x = x.index_select(0 if batch_first else 1, sorted_indices)
    if batch_first:
        x = x.transpose(0, 1)
    if x.numel() == 0:
        raise RuntimeError("Cannot pack empty tensors.")
    T, B = x.shape[0], x.shape[1]  # noqa: N806
    if lens.size != B:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got "
                           f"{lens.size} (batch_size={B})")
    if lens[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element "
                           "in 'lengths' that is <= 0")
    if np.any(lens[1:] > lens[:-1]):
        raise RuntimeError(
            "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
            "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
            "to sidestep this requirement if you do not need ONNX exportability.")
    if lens[0] > T:
        raise RuntimeError(f"Expected sequence length to be at most {T}, but got {lens[0]}")
    sizes = _batch_sizes(lens)
    # row t * B + b of the flattened (T * B, *) input, for every (t, b) still running
    rows = np.concatenate([t * B + np.arange(bs) for t, bs in enumerate(sizes)])
    data = x.reshape(T * B, *x.shape[2:])[_make(rows)]
    return PackedSequence(data, _make(sizes), sorted_indices, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None
                        ) -> tuple[Tensor, Tensor]:
    """The inverse of pack_padded_sequence: (padded batch, lengths) in the original order."""
    sizes = sequence.batch_sizes._data.astype(np.int64)
    max_len = sizes.size
    if total_length is not None:
        if total_length < max_len:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in "
                f"input, but got total_length={total_length} and max sequence length being "
                f"{max_len}")
        max_len = total_length
    data = sequence.data
    B = int(sizes[0])  # noqa: N806
    n = data.shape[0]
    # position in data of element (t, b), or n (a padding row appended to data)
    idx = np.full((max_len, B), n, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    for t, (off, bs) in enumerate(zip(offsets, sizes)):
        idx[t, :bs] = off + np.arange(bs)
    lengths = (idx[: sizes.size] < n).sum(0).astype(np.int64)
    from ...ops.join import cat

    pad_row = _make(np.full((1, *data.shape[1:]), padding_value, dtype=data._data.dtype))
    src = cat([data, pad_row], 0)
    if batch_first:
        idx = idx.T
    out = src[_make(idx.reshape(-1))].reshape(*idx.shape, *data.shape[1:])
    lens = _make(lengths)
    if sequence.unsorted_indices is not None:
        out = out.index_select(0 if batch_first else 1, sequence.unsorted_indices)
        lens = lens[sequence.unsorted_indices]
    return out, lens


def _check_trailing(dst: tuple, src: tuple) -> None:
    """The broadcast check of copying src into dst, with PyTorch's message."""
    for k in range(1, len(src) + 1):
        a, b = dst[-k] if k <= len(dst) else 1, src[-k]
        if b != a and b != 1:
            raise RuntimeError(f"The size of tensor a ({a}) must match the size of tensor b "
                               f"({b}) at non-singleton dimension {len(dst) - k}")


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of different lengths into (T_max, N, *) (or (N, T_max, *)), filling the
    gaps with padding_value on the right (or the left).

    >>> import tapegrad
    >>> from tapegrad.nn.utils.rnn import pad_sequence
    >>> pad_sequence([tapegrad.tensor([1., 2.]), tapegrad.tensor([3.])], batch_first=True)
    tensor([[1., 2.],
            [3., 0.]])
    """
    from ...ops.join import cat, stack

    if not isinstance(sequences, Iterable):
        raise RuntimeError("pad_sequence: Expected iterable for input sequences, but got arg of "
                           f"type: {type(sequences)}")
    seqs = tuple(sequences)
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError("Expected padding_side to be one of left or right, but got "
                           f"{padding_side}.")
    max_len = max(s.shape[0] for s in seqs)
    trailing = tuple(seqs[0].shape[1:])
    dtype = seqs[0].dtype
    rows = []
    for s in seqs:
        _check_trailing((s.shape[0], *trailing), tuple(s.shape))
        s = s.to(dtype)
        if tuple(s.shape[1:]) != trailing:
            s = s.expand(s.shape[0], *trailing)
        gap = max_len - s.shape[0]
        if gap:
            fill = _make(np.full((gap, *trailing), padding_value, dtype=s._data.dtype))
            s = cat([s, fill] if padding_side == "right" else [fill, s], 0)
        rows.append(s)
    return stack(rows, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths: Tensor,
                   batch_first: bool = False) -> list[Tensor]:
    """The sequences of a padded batch, cut to their lengths (a list of tensors). Like
    PyTorch, with batch_first=False the input is transposed in place."""
    from ..._creation import arange

    if not batch_first:
        padded_sequences.transpose_(0, 1)
    idx = arange(padded_sequences.shape[1])
    return [seq[idx < length] for seq, length in zip(padded_sequences, lengths)]


def pack_sequence(sequences: list[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """pack_padded_sequence(pad_sequence(sequences), lengths)."""
    lengths = _make(np.array([v.size(0) for v in sequences], dtype=np.int64))
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences held by a PackedSequence, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)

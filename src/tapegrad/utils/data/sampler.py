"""Samplers: iterables of dataset indices (or of lists of indices, for BatchSampler).

The random ones draw exactly what PyTorch's draw (randperm / randint / multinomial from the
same Mersenne Twister stream), so with the same seed they give the same order.

>>> import tapegrad
>>> from tapegrad.utils.data import BatchSampler, SequentialSampler
>>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
[[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Generic, TypeVar

import numpy as np

from ... import _dtype as D
from ..._creation import as_tensor
from ..._random import Generator, _gen, randint, randperm
from ..._tensor import Tensor

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]

T_co = TypeVar("T_co", covariant=True)


def _draw_seed(generator: Generator | None) -> int:
    """One draw of `empty((), dtype=int64).random_(generator=g)`: a 64-bit word mod 2**63."""
    return int(_gen(generator)._random64(1)[0]) % (1 << 63)


class Sampler(Generic[T_co]):
    """Base class of samplers: subclasses define `__iter__` (and `__len__` when they can)."""

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError


class SequentialSampler(Sampler[int]):
    """0, 1, ..., len(data_source) - 1."""

    data_source: Sized

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """A random permutation of the indices (several, cut to `num_samples`), or with
    `replacement=True` `num_samples` independent uniform indices.

    Without a generator each pass seeds a fresh Generator from one draw of the default one.
    """

    data_source: Sized
    replacement: bool

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator=None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError("replacement should be a boolean value, but got "
                            f"replacement={self.replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError("num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        """num_samples as given, else the current length of the data source."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        gen = self.generator
        if gen is None:
            gen = Generator().manual_seed(_draw_seed(None))
        total = self.num_samples
        if self.replacement:
            # drawn in chunks of 32, as PyTorch does (the chunking fixes the stream's order)
            for _ in range(total // 32):
                yield from randint(0, n, (32,), dtype=D.int64, generator=gen).tolist()
            yield from randint(0, n, (total % 32,), dtype=D.int64,
                               generator=gen).tolist()
        else:
            for _ in range(total // n):
                yield from randperm(n, generator=gen).tolist()
            yield from randperm(n, generator=gen).tolist()[:total % n]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given indices in a random order."""

    indices: Sequence[int]

    def __init__(self, indices: Sequence[int], generator=None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        for i in randperm(len(self.indices), generator=self.generator).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


def _check_distribution(w: np.ndarray) -> None:
    if w.size and not w.min() >= 0:  # NaN fails this test too (PyTorch reports it the same)
        raise RuntimeError("invalid multinomial distribution (encountering probability entry < 0)")
    if w.size and not np.isfinite(w.max()):
        raise RuntimeError(
            "invalid multinomial distribution (encountering probability entry = infinity or NaN)")


def _multinomial_with_replacement(w: np.ndarray, n: int, gen: Generator) -> list[int]:
    """PyTorch's CPU sampler: u ~ U[0, 1) in double per sample, index = the first category
    whose normalised running total is >= u (a binary search over the cumulative sums)."""
    cum = np.cumsum(w)  # left-to-right running sums, as PyTorch accumulates them
    total = float(cum[-1]) if cum.size else 0.0
    if not total > 0:
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    cum = cum / total
    u = gen._uniform(n, D.float64)
    return np.searchsorted(cum, u, side="left").tolist()


class WeightedRandomSampler(Sampler[int]):
    """`num_samples` indices drawn with probabilities proportional to `weights`.

    Only replacement=True with num_samples > 1 is supported (the case that reproduces
    PyTorch's stream without an exponential sampler); the others raise NotImplementedError.
    """

    weights: Tensor
    num_samples: int
    replacement: bool

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator=None) -> None:
        if (not isinstance(num_samples, int) or isinstance(num_samples, bool)
                or num_samples <= 0):
            raise ValueError("num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement}")
        w = as_tensor(weights, dtype=D.float64)
        if w.dim() != 1:
            raise ValueError("weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        self.weights = w
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        w = np.asarray(self.weights._data, dtype=np.float64)
        _check_distribution(w)
        if not self.replacement and self.num_samples > w.size:
            raise RuntimeError(
                "cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        if not self.replacement or self.num_samples == 1:
            raise NotImplementedError(
                "WeightedRandomSampler with replacement=False or num_samples=1 is not yet "
                "supported in tapegrad")
        yield from _multinomial_with_replacement(w, self.num_samples, _gen(self.generator))

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list[int]]):
    """Groups the indices of `sampler` into lists of `batch_size` (the last one shorter unless
    `drop_last`)."""

    def __init__(self, sampler: Sampler[int] | Iterable[int], batch_size: int,
                 drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError("batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(
                f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        it = iter(self.sampler)
        while True:
            batch = list(itertools.islice(it, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

"""tapegrad.utils.data datasets, samplers and collation, compared with torch.utils.data."""

from __future__ import annotations

import collections
import importlib

import numpy as np
import pytest

import tapegrad
import tapegrad.utils.data as tdata
from _helpers import both, same, warnings_of
from _helpers import same_error as _same_error


def same_error(fn) -> None:
    """_helpers.same_error, skipping the test when torch is not installed."""
    pytest.importorskip("torch")
    _same_error(fn)


def D(m):
    """The utils.data module of m (tapegrad or torch)."""
    return importlib.import_module(m.__name__ + ".utils.data")


Point = collections.namedtuple("Point", "x y")


class Squares:
    """A plain map-style dataset (not a Dataset subclass) of 7 samples."""

    def __getitem__(self, i):
        return i * i

    def __len__(self):
        return 7


def test_public_names():
    torch = pytest.importorskip("torch")
    ours = set(tdata.__all__)
    theirs = {n for n in torch.utils.data.__all__ if "DataPipe" not in n and n[0] != "_"}
    missing = theirs - ours - {"DataChunk", "DistributedSampler", "argument_validation",
                               "functional_datapipe", "guaranteed_datapipes_determinism",
                               "non_deterministic", "runtime_validation",
                               "runtime_validation_disabled"}
    assert not missing


# --- datasets ----------------------------------------------------------------------------
def test_tensor_dataset():
    def prog(m):
        ds = D(m).TensorDataset(m.arange(12.0).reshape(4, 3), m.tensor([3, 1, 4, 1]))
        return len(ds), ds[2], ds[1:3], ds[[0, 3]]

    both(prog)


def test_tensor_dataset_size_mismatch():
    same_error(lambda m: D(m).TensorDataset(m.zeros(3), m.zeros(4)))
    same_error(lambda m: len(D(m).TensorDataset()))


def test_dataset_base_errors_and_add():
    same_error(lambda m: D(m).Dataset()[0])
    same_error(lambda m: len(D(m).Dataset()))

    def prog(m):
        a = D(m).TensorDataset(m.arange(3))
        b = D(m).TensorDataset(m.arange(10, 12))
        c = a + b
        return type(c).__name__, len(c), [c[i][0] for i in range(5)], c[-1], c.cumulative_sizes

    both(prog)


def test_concat_dataset_errors():
    same_error(lambda m: D(m).ConcatDataset([]))
    same_error(lambda m: D(m).ConcatDataset([range(3)])[-4])

    class Stream(tdata.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    with pytest.raises(AssertionError, match="^ConcatDataset does not support IterableDataset$"):
        tdata.ConcatDataset([Stream()])
    assert warnings_of(lambda: tdata.ConcatDataset([range(2)]).cummulative_sizes) == [
        "`cummulative_sizes` attribute is renamed to `cumulative_sizes`"]


def test_iterable_and_chain_dataset():
    class Stream(tdata.IterableDataset):
        def __init__(self, lo, hi):
            self.lo, self.hi = lo, hi

        def __iter__(self):
            return iter(range(self.lo, self.hi))

        def __len__(self):
            return self.hi - self.lo

    chain = Stream(0, 3) + Stream(10, 12)
    assert type(chain) is tdata.ChainDataset
    assert list(chain) == [0, 1, 2, 10, 11]
    assert len(chain) == 5
    with pytest.raises(AssertionError, match="^ChainDataset only supports IterableDataset$"):
        list(tdata.ChainDataset([Squares()]))


def test_stack_dataset():
    def prog(m):
        a = D(m).TensorDataset(m.arange(4))
        t = D(m).StackDataset(a, list("abcd"))
        d = D(m).StackDataset(x=a, y=list("abcd"))
        return len(t), t[1], d[2], t.__getitems__([0, 3]), d.__getitems__([1])

    both(prog)
    same_error(lambda m: D(m).StackDataset())
    same_error(lambda m: D(m).StackDataset([1], y=[2]))
    same_error(lambda m: D(m).StackDataset([1, 2], [3]))


def test_subset():
    def prog(m):
        base = D(m).TensorDataset(m.arange(10) * 10)
        s = D(m).Subset(base, [4, 1, 7])
        return len(s), s[0], s[-1], s.__getitems__([2, 0]), s[[0, 1]]

    both(prog)

    class Bad(tdata.Subset):
        def __getitem__(self, idx):
            return 0

    torch = pytest.importorskip("torch")

    class TorchBad(torch.utils.data.Subset):
        def __getitem__(self, idx):
            return 0

    with pytest.raises(NotImplementedError) as ours:
        Bad(range(3), [0])
    with pytest.raises(NotImplementedError) as theirs:
        TorchBad(range(3), [0])
    assert str(ours.value) == str(theirs.value).replace("TorchBad", "Bad")


@pytest.mark.parametrize("lengths", [[3, 7], [0.3, 0.7], [0.5, 0.25, 0.25], [0.33, 0.33, 0.34],
                                     [10], [1.0]])
@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_random_split_matches_torch(lengths, seed):
    def prog(m):
        parts = D(m).random_split(range(10), lengths, generator=m.Generator().manual_seed(seed))
        return [list(p.indices) for p in parts], [len(p) for p in parts]

    both(prog)


def test_random_split_default_generator():
    def prog(m):
        m.manual_seed(3)
        parts = D(m).random_split(list(range(20)), [5, 15])
        return [list(p) for p in parts], m.rand(2)  # the default stream moved the same way

    both(prog)


def test_random_split_errors_and_warning():
    same_error(lambda m: D(m).random_split(range(10), [3, 3]))
    same_error(lambda m: D(m).random_split(range(10), [1.5, -0.5]))
    torch = pytest.importorskip("torch")
    w = warnings_of(lambda: tdata.random_split(range(2), [0.5, 0.5, 0.0]))
    assert w == warnings_of(lambda: torch.utils.data.random_split(range(2), [0.5, 0.5, 0.0]))
    assert w == ["Length of split at index 2 is 0. This might result in an empty dataset."]


# --- samplers ----------------------------------------------------------------------------
def test_sequential_and_batch_sampler():
    def prog(m):
        seq = D(m).SequentialSampler(range(7))
        keep = D(m).BatchSampler(seq, 3, False)
        drop = D(m).BatchSampler(seq, 3, True)
        return list(seq), len(seq), list(keep), len(keep), list(drop), len(drop)

    both(prog)


@pytest.mark.parametrize("kwargs", [dict(batch_size=0, drop_last=False),
                                    dict(batch_size=True, drop_last=False),
                                    dict(batch_size=2.0, drop_last=False),
                                    dict(batch_size=2, drop_last=1)])
def test_batch_sampler_errors(kwargs):
    same_error(lambda m: D(m).BatchSampler(range(3), **kwargs))


@pytest.mark.parametrize("kwargs", [{}, dict(num_samples=4), dict(num_samples=23),
                                    dict(replacement=True), dict(replacement=True, num_samples=70),
                                    dict(replacement=True, num_samples=64)])
def test_random_sampler_matches_torch(kwargs):
    def prog(m):
        g = m.Generator().manual_seed(42)
        s = D(m).RandomSampler(range(10), generator=g, **kwargs)
        return list(s), list(s), len(s)

    both(prog)


def test_random_sampler_without_generator_uses_default_stream():
    def prog(m):
        m.manual_seed(9)
        s = D(m).RandomSampler(range(6))
        return list(s), list(s), m.randint(0, 100, (3,))

    both(prog)


def test_random_sampler_errors():
    same_error(lambda m: D(m).RandomSampler(range(3), replacement=1))
    same_error(lambda m: D(m).RandomSampler(range(3), num_samples=0))
    same_error(lambda m: D(m).RandomSampler(range(0)))
    same_error(lambda m: D(m).RandomSampler(range(3), num_samples=2.0))


def test_subset_random_sampler():
    def prog(m):
        s = D(m).SubsetRandomSampler([10, 20, 30, 40, 50], generator=m.Generator().manual_seed(5))
        return list(s), list(s), len(s)

    both(prog)


@pytest.mark.parametrize("seed", range(5))
def test_weighted_random_sampler(seed):
    rs = np.random.RandomState(seed)
    weights = (rs.rand(12) * (rs.rand(12) > 0.3)).tolist()

    def prog(m):
        s = D(m).WeightedRandomSampler(weights, 40, generator=m.Generator().manual_seed(seed))
        return list(s), list(s), len(s), s.weights

    both(prog)


def test_weighted_random_sampler_errors():
    same_error(lambda m: D(m).WeightedRandomSampler([1.0], 0))
    same_error(lambda m: D(m).WeightedRandomSampler([1.0], True))
    same_error(lambda m: D(m).WeightedRandomSampler([1.0], 2, replacement=0))
    same_error(lambda m: D(m).WeightedRandomSampler([[1.0]], 2))
    for w in ([1.0, -1.0], [0.0, 0.0], [1.0, float("inf")], [1.0, float("nan")], []):
        same_error(lambda m, w=w: list(D(m).WeightedRandomSampler(w, 3)))
    same_error(lambda m: list(D(m).WeightedRandomSampler([1.0, 2.0], 3, replacement=False)))
    with pytest.raises(NotImplementedError, match="not yet supported"):
        list(tdata.WeightedRandomSampler([1.0, 2.0], 2, replacement=False))
    with pytest.raises(NotImplementedError, match="not yet supported"):
        list(tdata.WeightedRandomSampler([1.0, 2.0], 1))


def test_sampler_base():
    with pytest.raises(NotImplementedError):
        iter(tdata.Sampler())
    with pytest.raises(TypeError):
        len(tdata.Sampler())


# --- collation ---------------------------------------------------------------------------
def _collate_cases(m):
    return [
        [m.tensor([1.0, 2.0]), m.tensor([3.0, 4.0])],
        [1, 2, 3],
        [1.5, 2.5],
        [True, False],
        ["a", "b"],
        [b"x", b"y"],
        [np.float32(1), np.float32(2)],
        [np.int16(1), np.int16(5)],
        [np.bool_(True), np.bool_(False)],
        [np.arange(3, dtype=np.int32), np.arange(3, 6, dtype=np.int32)],
        [np.ones((2, 2)), np.zeros((2, 2))],
        [(m.tensor(1), 2), (m.tensor(3), 4)],
        [[1, 2.0], [3, 4.0]],
        [{"a": 1, "b": {"c": m.ones(2)}}, {"a": 2, "b": {"c": m.zeros(2)}}],
        [collections.OrderedDict(z=1, a=2.0), collections.OrderedDict(z=3, a=4.0)],
        [Point(1, m.tensor([1.0])), Point(2, m.tensor([2.0]))],
    ]


def test_default_collate_matches_torch():
    def prog(m):
        out = [D(m).default_collate(b) for b in _collate_cases(m)]
        return out, [type(o).__name__ for o in out]

    both(prog)


def test_default_convert_matches_torch():
    def prog(m):
        cases = [np.arange(3), np.float64(2.5), (np.ones(2), 3), [np.int8(1), "s"],
                 {"k": np.zeros(1)}, Point(np.ones(1), 2), m.ones(1), 7, "text",
                 np.array(["a", "b"]), np.str_("s")]
        out = [D(m).default_convert(c) for c in cases]
        kinds = [type(o).__name__ for o in out]
        return [o.tolist() if isinstance(o, np.ndarray) else o for o in out], kinds

    both(prog)


def test_default_collate_errors():
    same_error(lambda m: D(m).default_collate([object(), object()]))
    same_error(lambda m: D(m).default_collate([[1, 2], [3]]))
    same_error(lambda m: D(m).default_collate([np.array(["a"]), np.array(["b"])]))
    same_error(lambda m: D(m).default_collate([m.ones(2), m.ones(3)]))


def test_collate_keeps_grad_and_mapping_type():
    x = tapegrad.ones(2, requires_grad=True)
    out = tdata.default_collate([x * 2, x * 3])
    out.sum().backward()
    same(x.grad, tapegrad.full((2,), 5.0))
    assert type(tdata.default_collate([collections.OrderedDict(a=1)])) is collections.OrderedDict

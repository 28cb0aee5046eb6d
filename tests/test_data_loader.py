"""tapegrad.utils.data.DataLoader compared with torch.utils.data.DataLoader."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import tapegrad
import tapegrad.utils.data as tdata
from _helpers import both, warnings_of
from _helpers import same_error as _same_error


def same_error(fn) -> None:
    """_helpers.same_error, skipping the test when torch is not installed."""
    pytest.importorskip("torch")
    _same_error(fn)


def D(m):
    return importlib.import_module(m.__name__ + ".utils.data")


def _ds(m, n=11):
    return D(m).TensorDataset(m.arange(n * 2.0).reshape(n, 2), m.arange(n) % 3)


def _epochs(loader, k=2):
    return [list(loader) for _ in range(k)]


@pytest.mark.parametrize("kwargs", [{}, dict(batch_size=4), dict(batch_size=4, drop_last=True),
                                    dict(batch_size=11), dict(batch_size=20),
                                    dict(batch_size=20, drop_last=True), dict(batch_size=None)])
def test_sequential_batches(kwargs):
    def prog(m):
        dl = D(m).DataLoader(_ds(m), **kwargs)
        return _epochs(dl), len(dl), dl.batch_size, dl.drop_last

    both(prog)


@pytest.mark.parametrize("seed", [0, 3, 2024])
@pytest.mark.parametrize("batch_size", [1, 3, 5])
def test_shuffle_with_generator_matches_torch(seed, batch_size):
    def prog(m):
        g = m.Generator().manual_seed(seed)
        dl = D(m).DataLoader(_ds(m), batch_size=batch_size, shuffle=True, generator=g)
        return _epochs(dl, 3), g.initial_seed(), m.randperm(5, generator=g)

    both(prog)


def test_shuffle_with_default_generator_matches_torch():
    def prog(m):
        m.manual_seed(17)
        dl = D(m).DataLoader(_ds(m), batch_size=4, shuffle=True, drop_last=True)
        return _epochs(dl), m.rand(3)

    both(prog)


def test_each_iterator_draws_a_base_seed():
    # even an unshuffled pass moves the generator once (the worker base seed), as in torch
    def prog(m):
        g = m.Generator().manual_seed(1)
        list(D(m).DataLoader(range(4), generator=g))
        m.manual_seed(2)
        iter(D(m).DataLoader(range(4)))
        return m.rand(2), m.rand(2, generator=g)

    both(prog)


def test_custom_sampler_batch_sampler_and_collate():
    def prog(m):
        ds = _ds(m)
        a = list(D(m).DataLoader(ds, sampler=[5, 1, 9, 0], batch_size=3))
        b = list(D(m).DataLoader(ds, batch_sampler=[[0, 1], [10], [4, 2, 3]]))
        c = list(D(m).DataLoader(ds, batch_size=4, collate_fn=lambda batch: len(batch)))
        rs = D(m).RandomSampler(ds, replacement=True, num_samples=7,
                                generator=m.Generator().manual_seed(4))
        d = list(D(m).DataLoader(ds, sampler=rs, batch_size=2))
        e = list(D(m).DataLoader(ds, batch_size=None, sampler=[3, 0]))
        return a, b, c, d, e, len(D(m).DataLoader(ds, batch_sampler=[[0], [1, 2]]))

    both(prog)


def test_plain_sequence_and_dict_samples():
    def prog(m):
        data = [{"x": np.full(2, i, np.float32), "y": i, "name": str(i)} for i in range(5)]
        return list(D(m).DataLoader(data, batch_size=2)), list(D(m).DataLoader(range(5)))

    both(prog)


def test_getitems_is_used_for_batches():
    calls = []

    class Batched(tdata.Dataset):
        def __getitem__(self, i):
            raise AssertionError("per-item access")

        def __getitems__(self, idx):
            calls.append(list(idx))
            return [tapegrad.tensor(i) for i in idx]

        def __len__(self):
            return 5

    out = list(tdata.DataLoader(Batched(), batch_size=2))
    assert calls == [[0, 1], [2, 3], [4]]
    assert [o.tolist() for o in out] == [[0, 1], [2, 3], [4]]


def _stream(m, n):
    class Stream(D(m).IterableDataset):
        def __iter__(self):
            return iter(m.arange(float(n)).reshape(n, 1))

        def __len__(self):
            return 4  # deliberately shorter than the stream

        def __repr__(self):
            return "Stream"

    return Stream()


@pytest.mark.parametrize("kwargs", [{}, dict(batch_size=3), dict(batch_size=3, drop_last=True),
                                    dict(batch_size=None)])
def test_iterable_dataset(kwargs):
    def prog(m):
        dl = D(m).DataLoader(_stream(m, 7), **kwargs)
        n = len(dl)
        return list(dl), n

    both(prog)


def test_iterable_dataset_length_warning():
    torch = pytest.importorskip("torch")

    def run(m):
        dl = D(m).DataLoader(_stream(m, 6), batch_size=None)
        len(dl)
        list(dl)

    assert warnings_of(lambda: run(tapegrad)) == warnings_of(lambda: run(torch))
    assert len(warnings_of(lambda: run(tapegrad))) == 2


def _sampler(m):
    return D(m).SequentialSampler(range(3))


@pytest.mark.parametrize("make", [
    lambda m: D(m).DataLoader(range(3), num_workers=-1),
    lambda m: D(m).DataLoader(range(3), timeout=-1),
    lambda m: D(m).DataLoader(range(3), prefetch_factor=2),
    lambda m: D(m).DataLoader(range(3), num_workers=1, prefetch_factor=-1),
    lambda m: D(m).DataLoader(range(3), persistent_workers=True),
    lambda m: D(m).DataLoader(range(3), multiprocessing_context="spawn"),
    lambda m: D(m).DataLoader(range(3), num_workers=1, multiprocessing_context="nope"),
    lambda m: D(m).DataLoader(range(3), num_workers=1, multiprocessing_context=3),
    lambda m: D(m).DataLoader(range(3), sampler=_sampler(m), shuffle=True),
    lambda m: D(m).DataLoader(range(3), batch_sampler=[[0]], batch_size=2),
    lambda m: D(m).DataLoader(range(3), batch_sampler=[[0]], shuffle=True),
    lambda m: D(m).DataLoader(range(3), batch_sampler=[[0]], sampler=[0]),
    lambda m: D(m).DataLoader(range(3), batch_sampler=[[0]], drop_last=True),
    lambda m: D(m).DataLoader(range(3), batch_size=None, drop_last=True),
    lambda m: D(m).DataLoader(range(3), batch_size=0),
    lambda m: D(m).DataLoader(_stream(m, 3), shuffle=True),
    lambda m: D(m).DataLoader(_stream(m, 3), sampler=[0]),
    lambda m: D(m).DataLoader(_stream(m, 3), batch_sampler=[[0]]),
    lambda m: iter(D(m).DataLoader(range(3), timeout=1)),
])
def test_option_errors(make):
    same_error(make)


@pytest.mark.parametrize("attr", ["batch_size", "batch_sampler", "sampler", "drop_last",
                                  "dataset", "persistent_workers"])
def test_attributes_frozen_after_init(attr):
    def set_it(m):
        setattr(D(m).DataLoader(range(3)), attr, None)

    same_error(set_it)


def test_other_attributes_can_change():
    dl = tdata.DataLoader(range(4), batch_size=2)
    dl.collate_fn = lambda b: sum(b)
    assert list(dl) == [1, 5]


def test_pin_memory_warns_like_torch():
    torch = pytest.importorskip("torch")

    def run(m):
        list(D(m).DataLoader(range(2), pin_memory=True))

    assert warnings_of(lambda: run(tapegrad)) == warnings_of(lambda: run(torch))


def test_num_workers_runs_in_process_with_warning():
    w = warnings_of(lambda: tdata.DataLoader(range(3), num_workers=2))
    assert w == ["tapegrad's DataLoader does not start worker processes yet: num_workers=2 loads "
                 "the batches in the main process (worker_init_fn is not called)."]

    def prog(m):
        g = m.Generator().manual_seed(8)
        kw = {"num_workers": 2} if m is tapegrad else {}
        dl = D(m).DataLoader(_ds(m), batch_size=3, shuffle=True, generator=g, **kw)
        return _epochs(dl)

    both(prog)
    dl = tdata.DataLoader(range(5), batch_size=2, num_workers=1, persistent_workers=True)
    first = iter(dl)
    assert [b.tolist() for b in first] == [[0, 1], [2, 3], [4]]
    assert iter(dl) is first and [b.tolist() for b in dl] == [[0, 1], [2, 3], [4]]


def test_iterator_len_and_worker_info():
    it = iter(tdata.DataLoader(range(7), batch_size=3))
    assert len(it) == 3 and iter(it) is it
    assert tdata.get_worker_info() is None

"""gather / scatter, index, masked, flat-index and more shape ops against PyTorch: what the op
table (tests/op_db/shape_more.py) does not express: error messages, warnings, repeated
indices, integer dtypes, in-place forms, ops without derivative (unique, nonzero, searchsorted,
...), gradients at zeros and ties, and the double-backward error of scatter_reduce("prod").
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg
from _helpers import to_numpy

try:
    import torch
except ImportError:  # pragma: no cover - the torch comparisons skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _env(m):
    rng = np.random.default_rng(5)

    def r(*shape, dtype=None, grad=True):
        return m.tensor(rng.standard_normal(shape), dtype=dtype or m.float32,
                        requires_grad=grad)

    def i(v, dtype=None):
        return m.tensor(v, dtype=dtype or m.long)

    def b(v):
        return m.tensor(v, dtype=m.bool)

    def n(v, dtype=None):
        return m.tensor(v, dtype=dtype or m.long)

    return {"m": m, "r": r, "i": i, "b": b, "n": n, "np": np, "f64": m.float64,
            "i32": m.int32, "u8": m.uint8}


def _run(m, expr):
    env = _env(m)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            y = eval(expr, env)  # noqa: S307 - fixed test expressions
        except Exception as e:  # noqa: BLE001 - compared with torch's
            return e, []
    return y, [str(x.message).split(" (Triggered internally")[0] for x in w]


ERRORS = r"""
r(3,4).gather(1, i([[0,1]], i32).float())
r(3,4).gather(1, i([[0,4]]))
r(3,4).gather(1, i([[0,-1]]))
r(3,4).gather(1, i([0,1]))
r(3,4).gather(1, m.zeros(4,2,dtype=m.long))
r(3,4).gather(2, i([[0]]))
m.gather(r(3,4), 1, [[0]])
r(3,4).gather(1, [[0]])
r(3,4).scatter(0, i([[0]]).float(), 1.0)
r(3,4).scatter(0, i([[3]]), 1.0)
r(3,4).scatter(0, i([[-1]]), 1.0)
r(3,4).scatter(0, m.zeros(2,2,dtype=m.long), r(1,1))
r(3,4).scatter(0, m.zeros(2,5,dtype=m.long), r(5,5))
r(3,4).scatter(0, m.zeros(2,5,dtype=m.long), 1.0)
r(3,4).scatter(0, m.zeros(2,2,dtype=m.long), r(2,2,dtype=f64))
r(3,4).scatter(0, m.zeros(2,dtype=m.long), r(2,2))
r(3,4).scatter(0, m.zeros(2,2,dtype=m.long), r(2,2,2))
r(3,4).scatter(0, m.zeros(2,2,dtype=m.long), r(2,2), reduce='max')
r(3,4).scatter(0, m.zeros(2,2,dtype=m.long), 1.0, reduce='mean')
r(3,4).scatter_add(0, i([[5]]), r(2,2))
m.scatter(r(3,4), 0, i([[1]]))
r(3,4).scatter_add(0, m.zeros(2,2,dtype=m.long), r(1,2))
r(3,4).scatter_add(0, m.zeros(2,2,dtype=m.long), r(2,2,dtype=f64))
r(3,4).scatter_add(0, m.zeros(2,2,dtype=m.long), r(2))
r(3,4).scatter_add(0, m.zeros(2,2), r(2,2))
r(3,4).scatter_reduce(0, m.zeros(2,2,dtype=m.long), r(2,2), 'foo')
r(3,4).scatter_reduce(0, m.zeros(2,2,dtype=m.long), r(2,2,dtype=f64), 'sum')
r(3,4).scatter_reduce(0, i([[3]]), r(2,2), 'amax')
r(3,4).index_select(0, i([0,1], m.int16))
r(3,4).index_select(0, i([[0,1]]))
r(3,4).index_select(0, i([0,3]))
r(3,4).index_select(0, i([0,-1]))
r(3,4).index_select(2, i([0]))
m.tensor(2.).index_select(0, i([0,0]))
r(3,4).index_add(0, i([0,1]).float(), r(2,4))
r(3,4).index_add(0, i([0,1]), r(3,4))
r(3,4).index_add(0, i([0,1]), r(2,5))
r(3,4).index_add(0, i([0,1]), r(2,4,dtype=f64))
r(3,4).index_add(0, i([0,3]), r(2,4))
r(3,4).index_add(0, i([0,-1]), r(2,4))
r(3,4).index_add(0, i([[0,1]]), r(2,4))
r(3).index_add(0, i([1]), m.tensor(5.))
r(3,4).index_add(0, i([1], m.int16), r(1,4))
r(3,4).index_copy(0, i([0,1], i32), r(2,4))
r(3,4).index_copy(0, i([0,1]), r(3,4))
r(3,4).index_copy(0, i([0,1]), r(2,5))
r(2,3,4).index_copy(1, i([0]), r(2,1,5))
r(2,3,4).index_copy(1, i([0]), r(1,5))
r(3,4).index_copy(0, i([0,1]), r(2,4,dtype=f64))
r(3,4).index_copy(0, i([0,3]), r(2,4))
r(3,4).index_copy(0, i([[0]]), r(1,4))
r(3,4).index_fill(0, i([0,1], i32), 1.)
r(3,4).index_fill(0, i([0,3]), 1.)
r(3,4).index_fill(0, i([0,-4]), 1.)
r(3,4).index_fill(0, i([0,1]), m.tensor([1.]))
r(3,4).index_fill(0, i([[0,1]]), 1.)
r(3,4).masked_fill(m.ones(3,4,dtype=u8), 1.)
r(3,4).masked_fill(m.ones(3,4,dtype=m.long), 1.)
r(3,4).masked_fill(b([True,False,True]), m.tensor([1.]))
r(3,4).masked_fill(m.ones(2,4,dtype=m.bool), 1.)
r(3,4).masked_fill(m.ones(3,4,dtype=m.bool), 1+2j)
r(3,4).masked_fill(m.ones(3,4,dtype=m.bool), 'a')
r(3,4).masked_select(m.ones(3,4,dtype=u8))
r(3,4).masked_select(m.ones(2,4,dtype=m.bool))
r(3,4).masked_scatter(m.ones(3,4,dtype=m.bool), r(5))
r(3,4).masked_scatter(m.ones(3,4,dtype=m.bool), r(12,dtype=f64))
r(3,4).masked_scatter(m.ones(2,4,dtype=m.bool), r(12))
r(3,4).masked_scatter(m.ones(3,4,dtype=u8), r(12))
r(3,4).take(i([0,1], i32))
r(3,4).take(i([0,12]))
r(3,4).take(i([0,-13]))
r(3,4).put(i([0,12]), r(2))
r(3,4).put(i([0,1]), r(3))
r(3,4).put(i([0,1]), r(2,dtype=f64))
r(3,4).put(i([0,1], i32), r(2))
m.take_along_dim(r(3,4), i([[0]], i32), 1)
m.take_along_dim(r(3,4), i([0]), 1)
m.take_along_dim(r(3,4), i([[0,1]]).float(), 1)
m.take_along_dim(r(3,4), i([[0],[1]]), 1)
m.take_along_dim(r(3,4), i([[0, 12]]))
m.take_along_dim(r(3,4).t(), i([0]))
r(3,4).roll((1,2), (0,))
r(3,4).roll((1,2))
r(3,4).roll(1, 2)
m.tensor(1.).roll(1, 0)
r(3,4).flip(0, 0)
r(3,4).flip(0, -2)
r(3,4).flip(2)
r(3).fliplr()
m.tensor(1.).flipud()
r(3).rot90()
r(3,4).rot90(1, [0])
r(3,4).rot90(1, [0, 0])
r(3,4).rot90(1, [0, -2])
r(3,4).rot90(1, [0, 2])
r(3,4).repeat(2)
r(3,4).repeat(-1, 2)
r(3,4).repeat()
r(3,4).tile((-1,2))
r(3,4).repeat_interleave(-1)
r(3,4).repeat_interleave(n([1,-1,1]), dim=0)
r(3,4).repeat_interleave(n([1,1]), dim=0)
r(3,4).repeat_interleave(n([[1,1]]), dim=0)
r(3,4).repeat_interleave(m.tensor([1.,1.,1.]), dim=0)
m.repeat_interleave(n([[1,2,3]]))
m.repeat_interleave(m.tensor([1.,2.]))
r(3,4).repeat_interleave(n([1,2,0]), dim=0, output_size=4)
r(3,4).repeat_interleave(2, dim=0, output_size=4)
m.hsplit(m.tensor(1.), 1)
m.hsplit(r(3,4), 3)
m.hsplit(r(3,4), 0)
m.vsplit(r(4), 2)
m.vsplit(r(3,4), 2)
m.dsplit(r(3,4), 2)
m.dsplit(r(1,2,3), 2)
m.meshgrid(r(3), r(2), indexing='foo')
m.meshgrid(r(2), r(2,dtype=f64), indexing='ij')
m.meshgrid(indexing='ij')
m.broadcast_shapes((2,3),(3,3))
m.broadcast_shapes((2,-1))
m.broadcast_tensors(r(2,3), r(3,3))
m.unique(r(3,4), dim=2)
m.unique_consecutive(r(3,4), dim=3)
m.bucketize(r(3,4), r(3,4))
m.searchsorted(r(3,4), r(2,2))
m.searchsorted(m.arange(3.), r(2), right=True, side='left')
m.searchsorted(m.arange(3.), r(2), side='foo')
m.searchsorted(m.tensor(1.), r(2))
m.searchsorted(m.arange(3.), r(2), sorter=i([0,1]))
m.searchsorted(m.arange(3.), r(2), sorter=i([0,1,2], i32))
m.searchsorted(m.arange(3.), r(2), sorter=i([0,1,3]))
m.tril_indices(-1, 3)
m.triu_indices(3, -3)
m.tril_indices(3, 3, dtype=m.float32)
m.triu_indices(3, 3, dtype=m.int16)
m.atleast_1d(1.)
""".strip().splitlines()


@needs_torch
@pytest.mark.parametrize("expr", ERRORS)
def test_errors_like_torch(expr):
    a, _ = _run(tg, expr)
    b, _ = _run(torch, expr)
    assert isinstance(b, Exception), "torch raised nothing: fix the case"
    assert isinstance(a, Exception), f"no error, got {a!r}"
    assert type(a) is type(b)
    expected = str(b).split("\nException raised from")[0].replace("torch.", "tapegrad.")
    assert str(a) == expected


def _same(a, b, where):
    """a (tapegrad) equals b (torch): tensors with values, dtype, requires_grad, grad_fn
    name and strides; tuples and Sizes element by element."""
    if isinstance(b, torch.Tensor):
        assert isinstance(a, tg.Tensor), f"{where}: {a!r}"
        assert tuple(a.shape) == tuple(b.shape), f"{where}: shape {tuple(a.shape)}"
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], f"{where}: dtype"
        assert a.requires_grad == b.requires_grad, f"{where}: requires_grad"
        na = None if a.grad_fn is None else a.grad_fn.name().rsplit("::", 1)[-1]
        nb = None if b.grad_fn is None else b.grad_fn.name().rsplit("::", 1)[-1]
        assert na == nb, f"{where}: grad_fn {na}, torch {nb}"
        if a.numel():  # strides of dims of size 1 (or of empty tensors) carry no meaning
            sa = [st for st, n in zip(a.stride(), a.shape) if n > 1]
            sb = [st for st, n in zip(b.stride(), b.shape) if n > 1]
            assert sa == sb, f"{where}: strides {a.stride()} != {b.stride()}"
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-6, atol=1e-6,
                                   equal_nan=True, err_msg=where)
    elif isinstance(b, (tuple, list)):
        assert isinstance(a, (tuple, list)) and len(a) == len(b), f"{where}: {a!r}"
        for k, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{k}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


_ONCE = ("tapegrad.meshgrid: in an upcoming release", "The reduce argument of tapegrad.scatter")

RESULTS = r"""
m.tensor(1.).gather(0, i([0,0]))
r(3).gather(0, i(1))
r(3,4).gather(1, m.zeros(0,2,dtype=m.long))
r(3,4).gather(1, m.zeros(5,0,dtype=m.long))
r(3,4).gather(1, i([[0,1]], i32))
n([[1,2],[3,4]]).gather(1, i([[1,1],[0,1]]))
r(3,4).scatter(0, i([[0,0,0,0],[0,2,0,0]]), r(2,4))
r(3,4).scatter(0, i([[2,0],[2,1]]), r(5,5))
r(3,4).scatter(0, m.zeros(4,2,dtype=m.long), 1.0)
r(3,4).scatter(0, m.zeros(0,dtype=m.long), r(2,2,2))
r(3,4).scatter(0, i([[1]]), value=m.tensor(1.))
m.tensor(1.).scatter(0, i(0), 5.)
m.tensor(1.).scatter(0, i([0]), m.tensor([5.]))
n([1,2,3]).scatter(0, i([0]), 2.5)
r(3,4).scatter(0, i([[0,0],[0,2]]), r(2,2), reduce='add')
r(3,4).scatter(0, i([[0,0],[0,2]]), r(2,2), reduce='multiply')
r(3,4).scatter(0, i([[0,0],[0,2]]), 2.0, reduce='multiply')
n([[1,2],[3,4]]).scatter_add(0, i([[0,0],[0,0]]), n([[5,6],[7,8]]))
r(3,4).scatter_add(0, i([[2,0],[2,1]]), r(5,5))
n([10,20,30]).scatter_reduce(0, i([0,0,1]), n([1,2,4]), 'mean')
n([10,20,30]).scatter_reduce(0, i([0,0,1]), n([-1,-2,-4]), 'mean', include_self=False)
n([1,2,3]).scatter_reduce(0, i([0,0]), n([5,6]), 'amin', include_self=False)
n([1,2,3]).scatter_reduce(0, i([0,0,2]), n([5,6,0]), 'prod', include_self=False)
m.tensor([1.,2,3]).scatter_reduce(0, i([0,0]), m.tensor([5.,6]), 'amax', include_self=False)
m.tensor([1.,2,3]).scatter_reduce(0, i([0,0]), m.tensor([float('nan'),6]), 'amax')
m.tensor([1.,2,3]).scatter_reduce(0, i([0,0]), m.tensor([-2.,4]), 'mean', include_self=False)
r(3,4).index_select(0, i(1))
m.tensor(2.).index_select(0, i([0]))
r(3,4).index_select(1, i([3,3,0], i32))
n([[1,2],[3,4]]).index_select(0, i([1,1]))
r(3).index_add(0, i([0,0,2]), r(3), alpha=2)
n([1,2,3]).index_add(0, i([0,0]), n([5,6]), alpha=2)
n([1,2,3]).index_add(0, i([0,0]), n([5,6]), alpha=2.5)
r(3,4).index_add(0, i(1), r(1,4))
r(3,4).index_add(1, i([3,3], i32), r(3,2))
m.zeros(4).index_copy(0, i([1,1,2]), m.tensor([1.,2.,3.]))
m.zeros(3).index_copy(0, i([1]), m.tensor(5.))
r(3,4).index_copy(0, i(1), r(1,4))
r(3,4).index_fill(0, i(1), 1.)
m.tensor(1.).index_fill(0, i([0]), 3.)
r(3,4).index_fill(0, i([0,-1]), m.tensor(7, dtype=m.long))
n([1,2,3]).index_fill(0, i([0]), 2.5)
n([1,2,3]).masked_fill(b([True,False,True]), 2.7)
m.zeros(3).masked_fill(b([True,False,True]), True)
m.zeros(3, dtype=m.long).masked_fill(b([True,False,True]), m.tensor(2.5))
r(4).masked_fill(m.ones(3,4,dtype=m.bool), 1.)
r(4).masked_select(m.ones(3,4,dtype=m.bool))
r(3,4).masked_select(b([True,False,True,False]))
r(4).masked_scatter(m.ones(3,4,dtype=m.bool), r(12))
r(3,4).masked_scatter(r(3,4,grad=False) > 0, r(4,4))
m.tensor(3.).take(i([0,0]))
r(3,4).take(i([[0,1],[-1,-12]]))
r(3,4).put(i([[0,1]]), r(2,1))
m.zeros(5).put(i([1,1,-1]), m.tensor([1.,2.,3.]))
m.zeros(5).put(i([1,1,-1]), m.tensor([1.,2.,3.]), accumulate=True)
m.take_along_dim(r(3,4), i([[0],[3],[1]]), 1)
m.take_along_dim(n([[5,6,7],[8,9,10]]), i([[2],[0]]), 1)
r(3,4).take_along_dim(i([[0, 11]]))
r(3,4).roll(1)
r(3,4).roll((1,-1), (0,1))
m.zeros(0,3).roll(1, 0)
m.tensor(1.).roll(1)
n([[1,2],[3,4]]).flip(0)
r(3,4).flip(())
r(3,4).flip(dims=(0,1))
m.tensor(1.).flip(0)
r(3,4).rot90()
r(3,4).rot90(2)
r(3,4).rot90(3)
r(3,4).rot90(-1)
r(3,4).rot90(0)
r(2,3,4).rot90(1, (2,0))
n([[1,2],[3,4]]).rot90()
r(3,4).repeat(0, 2)
r(3,4).repeat(2,1,1)
r(3,4).repeat((2,2))
n([1,2]).repeat(2)
r(3,4).tile((2,))
r(3,4).tile(())
r(3,4).tile(2, 1)
r(3,4).repeat_interleave(2)
r(3,4).repeat_interleave(2, dim=0)
r(3,4).repeat_interleave(n([1,2,0]), dim=0)
r(3,4).repeat_interleave(n([1,2,0], i32), dim=0)
r(3,4).repeat_interleave(n([2]), dim=0)
r(3,4).repeat_interleave(n(2), dim=1)
m.tensor(1.).repeat_interleave(3)
m.repeat_interleave(n([1,2,3]))
m.repeat_interleave(n([1,2], i32))
m.repeat_interleave(n([], m.long))
n([1,2]).repeat_interleave(2)
m.hsplit(r(4), 2)
m.hsplit(r(3,4), [1, 3])
r(3,4).hsplit(1, 3)
m.vsplit(r(4,2), [1])
m.dsplit(r(1,2,4), 2)
m.meshgrid(n([1,2,3]), n([4,5]))
m.meshgrid([r(2), r(3)], indexing='xy')
m.meshgrid(m.tensor(1.), r(3), indexing='xy')
m.meshgrid(r(3), indexing='xy')
m.meshgrid(r(2), r(3), r(4), indexing='xy')
m.atleast_1d(m.tensor(1.), r(2))
m.atleast_1d([m.tensor(1.), r(2)])
m.atleast_2d(r(2,3))
m.atleast_3d(r(3))
m.atleast_3d(m.tensor(1.))
m.atleast_1d()
m.broadcast_tensors(r(3,1), r(4), r(2,1,1))
m.broadcast_tensors(r(3))
m.broadcast_shapes((2,), (3, 1), (1, 1, 1))
m.broadcast_shapes(3, (2, 1))
m.broadcast_shapes()
m.broadcast_shapes((0,), (1,))
m.nonzero(b([[True,False],[True,True]]))
m.nonzero(n([0,1,2]), as_tuple=True)
m.tensor(5.).nonzero(as_tuple=True)
m.tensor(0.).nonzero()
m.tensor(5.).nonzero()
m.argwhere(m.tensor(1.))
m.argwhere(m.tensor([[0., float('nan')], [1., 0.]]))
m.nonzero(m.zeros(2,0))
m.unique(n([3,1,2,3,1,5,2]), return_inverse=True, return_counts=True)
m.unique(n([3,1,2,3,1,5,2]), sorted=False)
m.unique(m.tensor([1.,float('nan'),float('nan'),1.]), return_counts=True)
m.unique(m.tensor(3.), return_inverse=True, return_counts=True)
m.unique(b([True,False,True]))
m.unique(n([[1,2],[1,2],[0,5]]), dim=0, return_inverse=True, return_counts=True)
m.unique(n([[1,2],[1,2],[0,5]]), dim=1, return_inverse=True, return_counts=True)
m.unique(m.tensor([[1.,2.],[-1.,3.],[1.,2.]]), dim=0, return_inverse=True)
m.unique(m.zeros(0,3), dim=0, return_inverse=True, return_counts=True)
m.unique(m.zeros(0), return_inverse=True, return_counts=True)
n([3,1,3]).unique(return_counts=True)
m.unique_consecutive(n([3,1,1,3,3,5,2]), return_inverse=True, return_counts=True)
m.unique_consecutive(m.tensor([1.,float('nan'),float('nan'),1.]), return_counts=True)
m.unique_consecutive(m.tensor(3.), return_inverse=True, return_counts=True)
m.unique_consecutive(n([[1,2],[1,2],[0,5],[1,2]]), dim=0, return_inverse=True, return_counts=True)
m.unique_consecutive(n([[1,1,2],[3,3,4]]), dim=1, return_counts=True)
m.unique_consecutive(m.zeros(0), return_inverse=True, return_counts=True)
m.bucketize(3, n([1,2,5]))
m.bucketize(m.tensor([1.,2.,5.]), n([1,2,5]), right=True)
m.bucketize(m.tensor([[0.5, 3.]]), m.tensor([1.,2.,5.]), out_int32=True)
m.searchsorted(n([[1,3,5],[2,4,6]]), n([[3],[3]]), side='right')
m.searchsorted(n([5,1,3]), n([3]), sorter=i([1,2,0]))
m.searchsorted(m.arange(3.), 1.5)
m.searchsorted(m.arange(3.), m.zeros(2), right=False, side='right')
m.searchsorted(m.arange(3.), n([0,1,2]), out_int32=True)
m.tril_indices(3, 4, -1)
m.tril_indices(3, 3)
m.tril_indices(0, 3)
m.tril_indices(4, 3, 1, dtype=i32)
m.triu_indices(3, 4, 1)
m.triu_indices(3, 2, -5)
m.triu_indices(2, 5, -1, dtype=m.int32)
""".strip().splitlines()


@needs_torch
@pytest.mark.parametrize("expr", RESULTS)
def test_results_like_torch(expr):
    a, wa = _run(tg, expr)
    b, wb = _run(torch, expr)
    assert not isinstance(b, Exception), f"torch raised {b!r}: fix the case"
    assert not isinstance(a, Exception), f"raised {type(a).__name__}: {a}"
    _same(a, b, expr)
    # PyTorch gives some warnings once per process: those are tested on their own below
    wa = [w for w in wa if not w.startswith(_ONCE)]
    wb = [w.replace("torch.", "tapegrad.") for w in wb]
    assert wa == [w for w in wb if not w.startswith(_ONCE)]


# --- gradients that the op table does not express ----------------------------------------
GRADS = r"""
lambda x, s: x.scatter_reduce(0, i([0,0,1,2]), s, 'prod')
lambda x, s: x.scatter_reduce(0, i([0,0,1,2]), s, 'prod', include_self=False)
lambda x, s: x.scatter_reduce(0, i([0,0,1,1]), s, 'amax')
lambda x, s: x.scatter_reduce(0, i([0,0,1,1]), s, 'amin', include_self=False)
lambda x, s: x.scatter_reduce(0, i([0,0,2,2]), s, 'mean', include_self=False)
lambda x, s: x.scatter(0, i([0,0,1,1]), s)
lambda x, s: x.index_copy(0, i([0,0,1,1]), s)
lambda x, s: x.put(i([0,0,1,1]), s)
lambda x, s: x.index_fill(0, i([2,2,0]), s.sum())
lambda x, s: x.masked_fill(x > 0, s[0])
lambda x, s: m.take_along_dim(x, i([2,2,0]))
lambda x, s: x.index_add(0, i([1,1,1,1]), s, alpha=-1.5)
"""


def _grad_values():
    # values with ties (x[0] == s[0] == s[1] for amax) and zeros (for prod)
    return np.array([2.0, 0.0, 3.0]), np.array([2.0, 2.0, 0.0, -1.5])


@needs_torch
@pytest.mark.parametrize("expr", GRADS.strip().splitlines())
def test_grads_like_torch(expr):
    xv, sv = _grad_values()
    out = []
    for m in (tg, torch):
        env = _env(m)
        f = eval(expr, env)  # noqa: S307 - fixed test expressions
        x = m.tensor(xv, requires_grad=True)
        s = m.tensor(sv, requires_grad=True)
        y = f(x, s)
        w = m.tensor(np.linspace(-1.0, 2.0, y.numel()).reshape(tuple(y.shape)))
        gx, gs = m.autograd.grad((y * w).sum(), (x, s), allow_unused=True)
        out.append([None if g is None else to_numpy(g) for g in (gx, gs)])
    for a, b in zip(*out):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@needs_torch
def test_scatter_reduce_prod_double_backward_with_two_zeros():
    def run(m):
        x = m.tensor([2.0, 3.0], requires_grad=True)
        s = m.tensor([0.0, 0.0, 4.0], requires_grad=True)
        y = x.scatter_reduce(0, m.tensor([0, 0, 1]), s, "prod")
        gx, gs = m.autograd.grad(y.sum(), (x, s), create_graph=True)
        with pytest.raises(RuntimeError) as e:
            m.autograd.grad(gs.sum(), s)
        return to_numpy(gx), to_numpy(gs), str(e.value)

    a, b = run(tg), run(torch)
    np.testing.assert_allclose(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])
    assert a[2] == b[2]


@needs_torch
def test_src_larger_than_index_backward_error():
    # PyTorch's rule returns an index-shaped gradient for a larger src, which its engine refuses
    for expr in ("x.scatter(0, idx, s)", "x.scatter_add(0, idx, s)",
                 "x.scatter_reduce(0, idx, s, 'sum')"):
        msgs = []
        for m in (tg, torch):
            x = m.zeros(3, 4, requires_grad=True)
            s = m.ones(5, 5, requires_grad=True)
            idx = m.tensor([[0, 1], [2, 0]])
            y = eval(expr, {"x": x, "s": s, "idx": idx})  # noqa: S307
            with pytest.raises(RuntimeError) as e:
                y.sum().backward()
            msgs.append(str(e.value))
        assert msgs[0] == msgs[1]


@needs_torch
def test_unique_has_no_derivative():
    for expr in ("m.unique(x)", "m.unique(x, dim=0)", "x.unique(return_counts=True)[0]",
                 "m.unique_consecutive(x)", "m.unique_consecutive(x, dim=1)"):
        res = []
        for m in (tg, torch):
            x = m.tensor([[1.0, 2.0], [1.0, 2.0]], requires_grad=True)
            y = eval(expr, {"m": m, "x": x})  # noqa: S307
            with pytest.raises(NotImplementedError) as e:
                y.sum().backward()
            res.append((y.requires_grad, y.grad_fn.name(), str(e.value)))
        assert res[0] == res[1]
    inv = tg.unique(tg.tensor([1.0, 1.0], requires_grad=True), return_inverse=True)[1]
    assert not inv.requires_grad


# --- in-place forms -------------------------------------------------------------------------
INPLACE = r"""
x.scatter_(0, i([[2,0,1,2]]), r(1,4,grad=False))
x.scatter_(1, i([[0],[3],[3]]), 5.0)
x.scatter_(0, i([[0,0,0,0]]), r(1,4,grad=False), reduce='add')
x.scatter_add_(0, i([[2,2,2,2],[0,0,0,0]]), r(2,4,grad=False))
x.scatter_reduce_(0, i([[2,2,2,2],[2,0,0,0]]), r(2,4,grad=False), 'amax', include_self=False)
x.index_add_(1, i([3,3]), r(3,2,grad=False), alpha=2)
x.index_copy_(0, i([2,0]), r(2,4,grad=False))
x.index_fill_(1, i([0,-1]), -3.0)
x.masked_fill_(b([True,False,False,True]), 9.0)
x.masked_fill_(x > 0, m.tensor(0.5))
x.masked_scatter_(x > 0, r(12,grad=False))
x.put_(i([0,11,5]), r(3,grad=False))
x.put_(i([1,1]), r(2,grad=False), accumulate=True)
x.masked_fill_(m.ones(2,3,4,dtype=m.bool), 1.0)
x.index_fill_(0, i([0]), r(1,grad=False))
x.scatter_(0, i([[0]]), 1.0, reduce='max')
""".strip().splitlines()


@needs_torch
@pytest.mark.parametrize("expr", INPLACE)
def test_inplace_like_torch(expr):
    res = []
    for m in (tg, torch):
        env = _env(m)
        x = env["r"](3, 4, grad=False)
        env["x"] = x
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                y = eval(expr, env)  # noqa: S307 - fixed test expressions
            except Exception as e:  # noqa: BLE001 - compared with torch's
                res.append((type(e).__name__, str(e).replace("torch.", "tapegrad."), None, 0))
                continue
        assert y is x
        res.append(("ok", to_numpy(x), [str(i.message).split(" (Triggered")[0] for i in w],
                    x._version))
    a, b = res
    assert a[0] == b[0]
    if a[0] == "ok":
        np.testing.assert_allclose(a[1], b[1], rtol=1e-6)
        wb = [s.replace("torch.", "tapegrad.") for s in b[2]]
        assert [w for w in a[2] if not w.startswith(_ONCE)] == \
            [w for w in wb if not w.startswith(_ONCE)]
        assert a[3] == b[3] == 1
    else:
        assert a[1] == b[1]


@pytest.mark.parametrize("name, args", [
    ("scatter_", (0, tg.tensor([[0]]), 1.0)),
    ("scatter_add_", (0, tg.tensor([[0]]), tg.ones(1, 1))),
    ("scatter_reduce_", (0, tg.tensor([[0]]), tg.ones(1, 1), "sum")),
    ("index_add_", (0, tg.tensor([0]), tg.ones(1, 4))),
    ("index_copy_", (0, tg.tensor([0]), tg.ones(1, 4))),
    ("index_fill_", (0, tg.tensor([0]), 1.0)),
    ("masked_fill_", (tg.ones(3, 4, dtype=tg.bool), 1.0)),
    ("masked_scatter_", (tg.ones(3, 4, dtype=tg.bool), tg.ones(12))),
    ("put_", (tg.tensor([0]), tg.ones(1))),
])
def test_inplace_on_graph_tensors(name, args):
    leaf = tg.zeros(3, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        getattr(leaf, name)(*args)
    y = leaf * 2
    getattr(y, name)(*args)  # recorded: its node is the op's own (tests/test_inplace_graph.py)
    assert y.grad_fn is not None and y.grad_fn.next_functions[0][0] is not None
    # a value that requires grad is recorded too
    if name in ("masked_fill_", "index_fill_"):
        v = tg.tensor(1.0, requires_grad=True)
        z = getattr(tg.zeros(3, 4), name)(*args[:-1], v)
        (g,) = tg.autograd.grad(z.sum(), v)
        assert float(g) == float(args[0].sum() if name == "masked_fill_" else 4)
    # under no_grad the change is allowed and bumps the version shared with views
    with tg.no_grad():
        view = leaf[0]
        getattr(leaf, name)(*args)
    assert leaf._version == 1 and view._version == 1
    assert float(leaf[0, 0]) != 0.0


def test_inplace_invalidates_saved_tensor():
    x = tg.ones(3, requires_grad=True)
    base = tg.zeros(3)
    y = x * base  # saves base
    base.index_fill_(0, tg.tensor([1]), 2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# --- checks that need no torch --------------------------------------------------------------
def test_duplicates_accumulate():
    x = tg.zeros(3, requires_grad=True)
    y = x.index_select(0, tg.tensor([1, 1, 1, 0]))
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 3.0, 0.0]
    x.grad = None
    x.take(tg.tensor([2, -1, 2])).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 3.0]
    x.grad = None
    x.gather(0, tg.tensor([0, 0, 2])).sum().backward()
    assert x.grad.tolist() == [2.0, 0.0, 1.0]
    src = tg.ones(3, requires_grad=True)
    out = tg.zeros(2).index_add(0, tg.tensor([1, 1, 0]), src * 2)
    assert out.tolist() == [2.0, 4.0]
    assert tg.zeros(2).scatter_add(0, tg.tensor([1, 1, 1]), tg.ones(3)).tolist() == [0.0, 3.0]


def test_last_write_wins():
    v = tg.tensor([1.0, 2.0, 3.0])
    assert tg.zeros(2).scatter(0, tg.tensor([1, 1, 0]), v).tolist() == [3.0, 2.0]
    assert tg.zeros(2).index_copy(0, tg.tensor([1, 1, 0]), v).tolist() == [3.0, 2.0]
    assert tg.zeros(2).put(tg.tensor([1, 1, 0]), v).tolist() == [3.0, 2.0]


def test_second_derivatives_through_pairs():
    # d/dx sum((gather(x)^2)) = scatter_add(2 gather(x)); its derivative is again a gather
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x.gather(0, tg.tensor([2, 2, 0])) ** 2).sum()
    (g,) = tg.autograd.grad(y, x, create_graph=True)
    assert g.tolist() == [2.0, 0.0, 12.0]
    (gg,) = tg.autograd.grad((g * tg.tensor([1.0, 1.0, 1.0])).sum(), x)
    assert gg.tolist() == [2.0, 0.0, 4.0]
    # masked_select <-> masked_scatter
    z = (x.masked_select(tg.tensor([True, False, True])) ** 3).sum()
    (g,) = tg.autograd.grad(z, x, create_graph=True)
    (gg,) = tg.autograd.grad(g.sum(), x)
    assert gg.tolist() == [6.0, 0.0, 18.0]


def _warnings_of(fn) -> list:
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return [str(x.message) for x in w]


def test_warnings_once_per_process(monkeypatch):
    # as PyTorch's TORCH_WARN_ONCE: the first call warns, later ones do not
    from tapegrad.ops import _index_util

    monkeypatch.setattr(_index_util, "_WARNED", set())
    for fn, text in ((lambda: tg.meshgrid(tg.arange(3), tg.arange(2)),
                      "required to pass the indexing argument"),
                     (lambda: tg.zeros(2).scatter(0, tg.tensor([0]), tg.ones(1), reduce="add"),
                      "Use tapegrad.scatter_reduce instead")):
        first = _warnings_of(fn)
        assert len(first) == 1 and text in first[0]
        assert _warnings_of(fn) == []
    a, b = tg.meshgrid(tg.arange(3), tg.arange(2))
    assert a.shape == (3, 2) and b.shape == (3, 2)


def test_scatter_reduce_argument_has_no_derivative():
    x = tg.zeros(2, requires_grad=True)
    y = x.scatter(0, tg.tensor([0]), 2.0, reduce="multiply")
    assert y.grad_fn.name() == "tapegrad::autograd::NotImplemented"  # torch::autograd:: in torch
    with pytest.raises(RuntimeError, match="derivative for aten::scatter is not implemented"):
        y.sum().backward()


def test_no_graph_under_no_grad():
    x = tg.ones(3, 4, requires_grad=True)
    with tg.no_grad():
        for y in (x.gather(0, tg.tensor([[0]])), x.roll(1), x.flip(0), x.repeat(2, 1),
                  x.masked_fill(x > 0, 0.0), x.index_select(0, tg.tensor([1])),
                  x.scatter_reduce(0, tg.tensor([[0]]), x, "amax"), x.take(tg.tensor([0]))):
            assert y.grad_fn is None and not y.requires_grad

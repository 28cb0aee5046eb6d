"""The engine's graph, compared with PyTorch where it can be: grad modes (nesting, decorators,
threads), next_functions and AccumulateGrad, the order nodes run in, deep graphs (no recursion,
freed by reference counting), and backward in several threads.
"""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import tapegrad
from _helpers import both, leaf
from tapegrad.autograd import engine

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


# --- grad modes ------------------------------------------------------------------------------
def test_grad_mode_nesting():
    def prog(m):
        x = leaf(m, [1.0])
        res = []
        with m.no_grad():
            res.append((x * 2).requires_grad)
            with m.enable_grad():
                res.append((x * 2).requires_grad)
                with m.set_grad_enabled(False):
                    res.append((x * 2).requires_grad)
                res.append(m.is_grad_enabled())
            res.append(m.is_grad_enabled())
        res.append((x * 2).requires_grad)
        return res

    assert both(prog) == [False, True, False, True, False, True]


def test_grad_mode_decorators():
    def prog(m):
        x = leaf(m, [1.0])

        @m.no_grad()
        def f():
            return (x * 2).requires_grad

        @m.enable_grad()
        def g():
            return (x * 2).requires_grad

        with m.no_grad():
            inner = g()
        return f(), inner, m.is_grad_enabled()

    assert both(prog) == (False, True, True)


def test_set_grad_enabled_as_function():
    def prog(m):
        x = leaf(m, [1.0])
        m.set_grad_enabled(False)
        try:
            off = ((x * 2).requires_grad, m.is_grad_enabled())
        finally:
            m.set_grad_enabled(True)
        return off, m.is_grad_enabled()

    both(prog)


def test_grad_mode_restored_after_exception():
    x = leaf(tapegrad, [1.0])
    with pytest.raises(ZeroDivisionError):
        with tapegrad.no_grad():
            _ = 1 / 0
    assert tapegrad.is_grad_enabled() and (x * 2).requires_grad


def test_grad_mode_is_thread_local():
    x = leaf(tapegrad, [1.0])
    seen = {}
    ready, done = threading.Event(), threading.Event()

    def worker():
        seen["start"] = tapegrad.is_grad_enabled()  # a new thread starts with grad enabled
        with tapegrad.no_grad():
            ready.set()
            done.wait(5)
            seen["inside"] = (x * 2).requires_grad

    with tapegrad.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        assert ready.wait(5)
        assert not (x * 2).requires_grad
    # The worker is still inside its no_grad: this thread must not see it.
    assert tapegrad.is_grad_enabled() and (x * 2).requires_grad
    done.set()
    t.join(5)
    assert seen == {"start": True, "inside": False}


def test_backward_restores_grad_mode():
    x = leaf(tapegrad, [1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    assert tapegrad.is_grad_enabled()
    with pytest.raises(RuntimeError, match="a second time"):
        y.backward()  # raises from inside the walk
    assert tapegrad.is_grad_enabled()
    with tapegrad.no_grad():
        z = (x * x).sum()
    with tapegrad.enable_grad():
        (x * x).sum().backward(create_graph=False)
    assert z.grad_fn is None and tapegrad.is_grad_enabled()


def test_backward_inside_no_grad():
    # Grads are computed even in no_grad (the mode only affects recording of new ops).
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        y = (x * x).sum()
        with m.no_grad():
            y.backward()
            inside = m.is_grad_enabled()
        return x.grad, inside

    both(prog)


# --- graph structure ---------------------------------------------------------------------------
def _structure(fn, depth=6):
    """(name, [(child structure, output index), ...]) of a grad_fn, names without namespace."""
    if fn is None:
        return None
    name = fn.name().split("::")[-1]
    if depth == 0:
        return name
    return (name, [(_structure(n, depth - 1), nr) for n, nr in fn.next_functions])


def test_next_functions_structure():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        w = leaf(m, [3.0, 4.0])
        y = ((x * 2).exp() + w * x).sum()
        return _structure(y.grad_fn), y.grad_fn.next_functions[0][1]

    res = both(prog)
    assert res[0][0] == "SumBackward0"
    assert res[0][1][0][0][0] == "AddBackward0"


def test_accumulate_grad_identity_and_name():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        y = x * 2
        acc = y.grad_fn.next_functions[0][0]
        z = x * 3
        return (acc.variable is x, y.grad_fn.next_functions[1],
                z.grad_fn.next_functions[0][0] is acc, x.grad_fn, y.grad_fn.name(),
                acc.name().split("::", 1)[1])

    res = both(prog)
    assert res[0] and res[2]
    x = leaf(tapegrad, [1.0])
    assert (x * 2).grad_fn.next_functions[0][0].name() == "tapegrad::autograd::AccumulateGrad"


def test_grad_fn_metadata_of_leaves_and_results():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        y = x * 2
        return x.is_leaf, y.is_leaf, y.requires_grad, m.ones(2).is_leaf, (y.sum() * 1).is_leaf

    both(prog)


# --- execution order -----------------------------------------------------------------------
def _program_for_order(m):
    x = leaf(m, [1.0, 2.0])
    a = x.exp()
    b = x.sin()
    c = a * b
    d = c + a
    e = d.tanh()
    return (e * b).sum()


def _walk(fn, seen, out):
    if fn is None or fn in seen:
        return
    seen.add(fn)
    out.append(fn)
    for n, _ in fn.next_functions:
        _walk(n, seen, out)


def _tapegrad_order(y, monkeypatch):
    nodes = []
    _walk(y.grad_fn, set(), nodes)
    order = []
    for cls in {type(n) for n in nodes}:
        if cls.__name__ == "AccumulateGrad":
            continue
        orig = cls.vjp

        def vjp(self, *grads, orig=orig):
            order.append(self.name())
            return orig(self, *grads)

        monkeypatch.setattr(cls, "vjp", vjp)
    acc = engine._accumulate_into_leaf

    def accumulate(t, g, create_graph, *steal):
        order.append("AccumulateGrad")
        return acc(t, g, create_graph, *steal)

    monkeypatch.setattr(engine, "_accumulate_into_leaf", accumulate)
    y.backward()
    monkeypatch.undo()
    return order


@needs_torch
def test_execution_order_matches_torch(monkeypatch):
    y = _program_for_order(torch)
    nodes = []
    _walk(y.grad_fn, set(), nodes)
    expected = []
    for n in nodes:
        n.register_prehook(lambda g, n=n: expected.append(n.name().split("::")[-1]))
    y.backward()
    ours = _tapegrad_order(_program_for_order(tapegrad), monkeypatch)
    assert ours == expected
    # and it is the same on every run
    assert _tapegrad_order(_program_for_order(tapegrad), monkeypatch) == ours


# --- deep graphs and freeing -----------------------------------------------------------------
def test_deep_chain_backward_and_freeing():
    n = 100_000
    gc_was = gc.isenabled()
    gc.disable()
    try:
        x = tapegrad.tensor(1.0, dtype=tapegrad.float64, requires_grad=True)
        y = x
        for _ in range(n):
            y = y * 1.0001 + 0.5
        first = weakref.ref(y.grad_fn)
        deep = y.grad_fn
        for _ in range(1000):
            deep = deep.next_functions[0][0]
        deep_ref = weakref.ref(deep)
        del deep
        y.backward()
        np.testing.assert_allclose(x.grad.item(), 1.0001 ** n, rtol=1e-9)
        del y
        # No reference cycles: plain reference counting frees the whole graph.
        assert first() is None and deep_ref() is None
        assert x._accum is None or x._accum() is None
    finally:
        if gc_was:
            gc.enable()


def test_deep_chain_second_order():
    n = 5000

    def first(v, create_graph=False):
        x = tapegrad.tensor(v, dtype=tapegrad.float64, requires_grad=True)
        y = x
        for _ in range(n):
            y = y.sin() * 1.5
        return x, tapegrad.autograd.grad(y, x, create_graph=create_graph)[0]

    x, g = first(0.3, create_graph=True)
    assert g.requires_grad
    gg, = tapegrad.autograd.grad(g, x)
    eps = 1e-6
    numeric = (first(0.3 + eps)[1].item() - first(0.3 - eps)[1].item()) / (2 * eps)
    np.testing.assert_allclose(gg.item(), numeric, rtol=1e-4, atol=1e-6)


def test_graph_freed_after_backward_without_output_reference():
    gc_was = gc.isenabled()
    gc.disable()
    try:
        x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
        y = (x.exp() * x).sum()
        ref = weakref.ref(y.grad_fn)
        y.backward()
        del y
        assert ref() is None
    finally:
        if gc_was:
            gc.enable()


@needs_torch
def test_deep_chain_matches_torch():
    def prog(m):
        x = leaf(m, 1.0)
        y = x
        for _ in range(2000):
            y = y * 1.0001 + 0.0
        y.backward()
        return y, x.grad

    both(prog, rtol=1e-6)


def test_backward_in_several_threads():
    # Each thread walks its own graph; the engine keeps no global state between calls.
    errors = []

    def work(seed):
        try:
            rng = np.random.default_rng(seed)
            for _ in range(20):
                v = rng.standard_normal(5)
                x = tapegrad.tensor(v, requires_grad=True)
                y = (x.exp() * x + x * 3).sum()
                g, = tapegrad.autograd.grad(y, x, create_graph=seed % 2 == 0)
                np.testing.assert_allclose(g.detach().numpy(), np.exp(v) * (1 + v) + 3,
                                           rtol=1e-6)
                assert tapegrad.is_grad_enabled()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors

"""Memory: a graph, its saved tensors and its hooks are freed by reference counting alone (with
the cyclic garbage collector off) as soon as the last output is dropped, and freeing a very
deep graph does not recurse.

tapegrad's own structures make no reference cycles: a node refers to the nodes of its inputs
and to saved tensors (an output it saved is kept as its array, not as the tensor); tensor hooks
are kept in dicts that neither the node nor the handle refer back from; retain_grad and
multi-grad hooks hold tensors and nodes weakly. A hook whose closure refers to its own tensor
is a cycle the user made: the cyclic collector frees it.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import weakref

import pytest

import tapegrad

_BEFORE: set = set()


def _no_cycles() -> bool:
    """Whether the cyclic collector finds nothing to free among the objects made since the
    test began (the types it would free are in the assertion message otherwise). Garbage that
    earlier tests of the same worker release late is not this test's."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = [type(o).__name__ for o in gc.garbage if id(o) not in _BEFORE]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert found == [], found
    return True


@pytest.fixture
def no_gc():
    """Run the test with the cyclic garbage collector off (only reference counting frees)."""
    gc.collect()
    _BEFORE.clear()
    _BEFORE.update(id(o) for o in gc.get_objects())
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _graph(with_hooks: bool, log: list):
    """A small graph with saved inputs, saved outputs and several nodes; returns the output
    and weak references to every intermediate tensor and node."""
    x = tapegrad.tensor([0.5, 1.0, 2.0], dtype=tapegrad.float64, requires_grad=True)
    w = tapegrad.tensor([1.5, -1.0, 0.25], dtype=tapegrad.float64, requires_grad=True)
    a = x * w  # saves x and w
    b = a.exp()  # saves its output
    c = b.sin() * a  # saves b, and the product saves both inputs
    out = c.sum()
    if with_hooks:
        a.register_hook(lambda g: log.append("a"))
        b.retain_grad()
        c.register_hook(lambda g: g * 2)
        x.register_hook(lambda g: log.append("x"))
        x.register_post_accumulate_grad_hook(lambda t: log.append("post_acc"))
        c.grad_fn.register_prehook(lambda go: log.append("pre"))
        c.grad_fn.register_hook(lambda gi, go: log.append("post"))
        c.grad_fn.next_functions[1][0].register_hook(lambda gi, go: None)
        acc = a.grad_fn.next_functions[0][0]
        acc.register_prehook(lambda go: None)
        acc.register_hook(lambda gi, go: None)
        tapegrad.autograd.graph.register_multi_grad_hook((x, a, c), lambda gs: log.append("all"))
        tapegrad.autograd.graph.register_multi_grad_hook(
            (a, b), lambda g: log.append("any"), mode="any")
    refs = [weakref.ref(t) for t in (a, b, c)]
    nodes = []
    stack = [out.grad_fn]
    while stack:
        n = stack.pop()
        if n is not None and all(r() is not n for r in nodes):
            nodes.append(weakref.ref(n))
            stack.extend(m for m, _ in n.next_functions)
    return (x, w), out, refs, nodes


def _alive(refs) -> list:
    return [r() for r in refs if r() is not None]


@pytest.mark.parametrize("with_hooks", [False, True])
@pytest.mark.parametrize("run", ["none", "backward", "retain_graph", "grad"])
def test_graph_freed_when_output_dropped(no_gc, with_hooks, run):
    log: list = []
    (x, w), out, refs, nodes = _graph(with_hooks, log)
    assert len(nodes) == 7  # Sum, Mul (c), Sin, Exp, Mul (a) and the two AccumulateGrad
    if run == "backward":
        out.backward()
    elif run == "retain_graph":
        out.backward(retain_graph=True)
    elif run == "grad":
        tapegrad.autograd.grad(out, [a_ for a_ in (refs[0](), refs[1]())])
    if with_hooks and run != "none":
        assert "pre" in log and "all" in log and log.count("any") == 1
    if run in ("none", "retain_graph"):
        assert len(_alive(refs)) == 2  # the graph keeps the a and b it saved for backward
    else:
        assert _alive(refs) == []  # backward released the saved tensors as it went
    assert len(_alive(nodes)) == 7
    del out
    assert _alive(refs) == []
    assert _alive(nodes) == []
    # the leaves survive, and no longer refer to any node
    assert x._accum is None or x._accum() is None
    assert w._accum is None or w._accum() is None
    assert _no_cycles()  # nothing was left for the cyclic collector


def test_handles_and_leaf_hooks_keep_no_graph_alive(no_gc):
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    handles = [x.register_hook(lambda g: g), x.register_post_accumulate_grad_hook(print)]
    y = x * 2
    handles += [y.register_hook(lambda g: g), y.grad_fn.register_hook(lambda gi, go: None),
                y.grad_fn.register_prehook(lambda go: None)]
    y.retain_grad()
    node = weakref.ref(y.grad_fn)
    acc = weakref.ref(y.grad_fn.next_functions[0][0])
    ty = weakref.ref(y)
    del y
    assert node() is None and acc() is None and ty() is None
    for h in handles:
        h.remove()  # a no-op once its dict is gone
    # the leaf's hooks are still there for the next graph
    log = []
    x.register_hook(lambda g: log.append(1))
    (x * 3).sum().backward()
    assert log == [1]


def test_retained_grad_keeps_no_cycle(no_gc):
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.retain_grad()
    (y * 3).sum().backward()
    grad = weakref.ref(y.grad)
    node = weakref.ref(y.grad_fn)
    ty = weakref.ref(y)
    del y
    assert ty() is None and node() is None and grad() is None


def test_user_cycle_through_hook_is_collectable():
    # a hook that refers to its own tensor is the user's cycle: reference counting cannot free
    # it, the cyclic collector can
    gc.collect()
    _BEFORE.clear()
    _BEFORE.update(id(o) for o in gc.get_objects())
    was = gc.isenabled()
    gc.disable()
    try:
        def scale_by(t):
            return lambda g: g * t.detach()

        x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.register_hook(scale_by(y))  # y -> grad_fn -> hooks -> closure -> y
        ty, node = weakref.ref(y), weakref.ref(y.grad_fn)
        del y
        assert ty() is not None and node() is not None
        gc.collect()
        assert ty() is None and node() is None
    finally:
        if was:
            gc.enable()


_DEEP = """
import gc, sys, threading, weakref
import tapegrad

sys.setrecursionlimit(200)  # a recursive free in Python code would fail here
threading.stack_size(256 * 1024)  # ...and one in C would overflow this small stack
gc.disable()
n = 100_000
result = []

def build_and_free():
    x = tapegrad.tensor(1.0, dtype=tapegrad.float64, requires_grad=True)
    y = x
    for i in range(n):
        y = (y * 1.0001).sin() if i % 2 else y.exp() * 0.5
        if HOOKS and i % 1000 == 0:
            y.register_hook(lambda g: g)
            y.grad_fn.register_prehook(lambda go: None)
            y.retain_grad()
    last = weakref.ref(y.grad_fn)
    first = y.grad_fn
    for _ in range(n):
        first = first.next_functions[0][0]
    first = weakref.ref(first)
    del y
    result.append((last() is None, first() is None, x._accum is None or x._accum() is None))

t = threading.Thread(target=build_and_free)
t.start()
t.join()
print(result)
"""


@pytest.mark.parametrize("hooks", [False, True])
def test_freeing_deep_graph_does_not_recurse(hooks):
    # 100,000 chained ops (200,000 nodes) never run backward: every node still holds its
    # saved tensors. Dropping the output frees them all on a 256 KiB thread stack.
    code = textwrap.dedent(_DEEP).replace("HOOKS", str(hooks))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[(True, True, True)]"

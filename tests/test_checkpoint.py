"""Activation checkpointing (tapegrad.utils.checkpoint), compared with PyTorch and with the same
computation run without checkpointing."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

import numpy as np
import pytest

import tapegrad
from _helpers import both, leaf, numeric_vjp, same_error, to_numpy, warnings_of

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RNG = np.random.default_rng(7)
W1 = RNG.standard_normal((4, 6)) * 0.5
W2 = RNG.standard_normal((6, 6)) * 0.5
W3 = RNG.standard_normal((6, 3)) * 0.5
XS = RNG.standard_normal((5, 4))


def _ckpt(m):
    return importlib.import_module(m.__name__ + ".utils.checkpoint")


def _params(m):
    return [m.tensor(w, requires_grad=True) for w in (W1, W2, W3)]


def _block(m, w1, w2, p_drop=0.0):
    def f(h):
        h = (h @ w1).tanh()
        if p_drop:
            h = m.nn.functional.dropout(h, p_drop, training=True)
        return (h @ w2).relu() * h.sigmoid()
    return f


def _mlp_grads(m, mode, p_drop=0.0, seed=3):
    """Gradients of a 3-layer net whose first two layers run as one block, checkpointed or
    not (mode None, or the use_reentrant value)."""
    m.manual_seed(seed)
    w1, w2, w3 = ws = _params(m)
    x = m.tensor(XS, requires_grad=True)
    f = _block(m, w1, w2, p_drop)
    h = f(x) if mode is None else _ckpt(m).checkpoint(f, x, use_reentrant=mode)
    loss = ((h @ w3).sin() ** 2).sum()
    loss.backward()
    return [loss, x.grad] + [w.grad for w in ws]


@pytest.mark.parametrize("reentrant", [False, True])
def test_gradients_equal_plain_and_torch(reentrant):
    plain = _mlp_grads(tapegrad, None)
    got = both(lambda m: _mlp_grads(m, reentrant), atol=1e-10, rtol=1e-9)
    for a, b in zip(got, plain):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_gradients_numeric():
    def f_np(arrays):
        x, w1, w2 = arrays
        h = np.tanh(x @ w1)
        return [np.maximum(h @ w2, 0) / (1 + np.exp(-h))]

    x = tapegrad.tensor(XS, requires_grad=True)
    w1, w2, _ = _params(tapegrad)
    out = _ckpt(tapegrad).checkpoint(_block(tapegrad, w1, w2), x, use_reentrant=False)
    v = np.cos(np.arange(out.numel()).reshape(out.shape))
    out.backward(tapegrad.tensor(v))
    num = numeric_vjp(f_np, [XS, W1, W2], [0, 1, 2], [v], 1e-6)
    for t, n in zip((x, w1, w2), num):
        np.testing.assert_allclose(to_numpy(t.grad), n, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("reentrant", [False, True])
def test_dropout_inside_checkpoint(reentrant):
    # the recomputation restores the RNG state: the same mask, the same gradients
    plain = _mlp_grads(tapegrad, None, p_drop=0.5)
    got = both(lambda m: _mlp_grads(m, reentrant, p_drop=0.5), atol=1e-10, rtol=1e-9)
    for a, b in zip(got, plain):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


@pytest.mark.parametrize("reentrant", [False, True])
def test_rng_state_after_backward(reentrant):
    # the recomputation leaves the RNG where the caller had it; without preserve_rng_state
    # the recomputation draws a new mask (and moves the RNG on), as in PyTorch
    def prog(m, preserve):
        m.manual_seed(0)
        x = leaf(m, [[0.5, 1.0, -1.0, 2.0]], "float64")
        f = lambda t: m.nn.functional.dropout(t.exp(), 0.5, training=True).sum()  # noqa: E731
        y = _ckpt(m).checkpoint(f, x, use_reentrant=reentrant, preserve_rng_state=preserve)
        y.backward()
        return y, x.grad, m.rand(3)

    both(lambda m: prog(m, True))
    both(lambda m: prog(m, False))


def test_function_runs_once_more_and_stops_early():
    def prog(m, early):
        steps = []

        def f(t):
            steps.append("start")
            a = t.sin()
            steps.append("sin")
            b = a.exp()
            steps.append("exp")
            c = b * 2
            steps.append("end")
            return c

        x = leaf(m, [0.5, 1.5], "float64")
        with _ckpt(m).set_checkpoint_early_stop(early):
            y = _ckpt(m).checkpoint(f, x, use_reentrant=False)
        y.sum().backward()
        return steps, x.grad

    steps, _ = both(lambda m: prog(m, True))
    assert steps == ["start", "sin", "exp", "end", "start", "sin"]  # stops inside exp
    steps, _ = both(lambda m: prog(m, False))
    assert steps[4:] == ["start", "sin", "exp", "end"]


def test_saved_tensors_are_not_kept():
    x = tapegrad.tensor([0.5, 1.5], requires_grad=True)
    y = _ckpt(tapegrad).checkpoint(lambda t: t.sin().exp(), x, use_reentrant=False)
    kept = y.grad_fn._raw_saved_result.data
    assert not isinstance(kept, tapegrad.Tensor)  # a holder in place of the values
    assert getattr(kept, "value", None) is None


def test_retain_graph_and_autograd_grad():
    def prog(m):
        x = leaf(m, [0.5, 1.5, -0.25], "float64")
        y = _ckpt(m).checkpoint(lambda t: (t.sin() * t).exp().sum(), x, use_reentrant=False)
        (g1,) = m.autograd.grad(y, x, retain_graph=True)
        y.backward(retain_graph=True)
        y.backward()
        return g1, x.grad

    both(prog)


def test_double_backward_through_checkpoint():
    def prog(m):
        x = leaf(m, [0.5, 1.5, -0.25], "float64")
        y = _ckpt(m).checkpoint(lambda t: (t.sin() * t).sum(), x, use_reentrant=False)
        (g,) = m.autograd.grad(y, x, create_graph=True)
        (gg,) = m.autograd.grad(g.sum(), x)
        return g, gg

    both(prog)


def test_kwargs_and_non_tensor_arguments():
    def prog(m):
        x = leaf(m, [0.5, 1.5], "float64")
        w = leaf(m, [2.0, -1.0], "float64")
        y = _ckpt(m).checkpoint(lambda t, k, scale=1.0: (t * k).tanh() * scale, x, 3,
                                use_reentrant=False, scale=w)
        y.sum().backward()
        return y, x.grad, w.grad

    both(prog)

    def reentrant_kwargs(m):
        x = leaf(m, [0.5])
        _ckpt(m).checkpoint(lambda t, scale: t * scale, x, use_reentrant=True, scale=2.0)

    same_error(reentrant_kwargs)

    def reentrant_context(m):
        x = leaf(m, [0.5])
        c = _ckpt(m)
        c.checkpoint(lambda t: t, x, use_reentrant=True, context_fn=lambda: (
            contextlib.nullcontext(), contextlib.nullcontext()))

    same_error(reentrant_context)


def test_under_no_grad():
    def prog(m):
        x = leaf(m, [0.5, 1.5])
        with m.no_grad():
            a = _ckpt(m).checkpoint(lambda t: t.exp(), x, use_reentrant=False)
            b = _ckpt(m).checkpoint(lambda t: t.exp(), x, use_reentrant=True)
        return a, b

    both(prog)


def test_use_reentrant_warning():
    def prog(m):
        x = leaf(m, [0.5, 1.5])
        return warnings_of(lambda: _ckpt(m).checkpoint(lambda t: t.exp(), x))

    msgs = both(prog)
    assert any("use_reentrant parameter should be passed explicitly" in s for s in msgs)

    def seq(m):
        x = leaf(m, [0.5, 1.5])
        fns = [lambda t: t.exp(), lambda t: t.sin()]
        return warnings_of(lambda: _ckpt(m).checkpoint_sequential(fns, 2, x))

    assert both(seq)

    def explicit(m):
        x = leaf(m, [0.5, 1.5])
        return warnings_of(lambda: _ckpt(m).checkpoint(lambda t: t.exp(), x, use_reentrant=False))

    assert both(explicit) == []


def test_reentrant_details():
    def prog(m):
        x = leaf(m, [0.5, 1.5], "float64")
        c = m.tensor([2.0, 3.0], dtype=m.float64)

        def f(a, k, b):
            return a * k + b, (a * b).sum(), 5, (a * 2).long()

        out = _ckpt(m).checkpoint(f, x, 3, c, use_reentrant=True)
        fn = out[0].grad_fn
        info = (fn.name(), len(fn.next_functions), fn.next_functions[1], out[1].grad_fn is fn,
                out[2], out[3].requires_grad, type(out).__name__)
        (out[0].sum() * out[1]).backward()
        return info, x.grad

    both(prog)

    def no_input_grad(m):
        x = m.tensor([0.5, 1.5])
        w = []
        y = None

        def run():
            nonlocal y
            y = _ckpt(m).checkpoint(lambda t: t.exp(), x, use_reentrant=True)

        w = warnings_of(run)
        return w, y

    both(no_input_grad)

    def second_backward(m):
        x = leaf(m, [0.5, 1.5])
        y = _ckpt(m).checkpoint(lambda t: t.exp(), x, use_reentrant=True).sum()
        y.backward()
        y.backward()

    same_error(second_backward)


def test_nested_checkpoints():
    def prog(m):
        w1, w2, w3 = _params(m)
        x = m.tensor(XS, requires_grad=True)
        c = _ckpt(m)

        def inner(h):
            return (h @ w2).tanh()

        def outer(h):
            h = (h @ w1).sin()
            return c.checkpoint(inner, h, use_reentrant=False) * 2

        y = (c.checkpoint(outer, x, use_reentrant=False) @ w3).sum()
        y.backward()
        return x.grad, w1.grad, w2.grad, w3.grad

    got = both(prog, atol=1e-10, rtol=1e-9)

    def plain(m):
        w1, w2, w3 = _params(m)
        x = m.tensor(XS, requires_grad=True)
        (((x @ w1).sin() @ w2).tanh() * 2 @ w3).sum().backward()
        return x.grad, w1.grad, w2.grad, w3.grad

    for a, b in zip(got, plain(tapegrad)):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-12, atol=1e-14)


def test_context_fn():
    def prog(m):
        log = []

        @contextlib.contextmanager
        def ctx(tag):
            log.append("enter " + tag)
            yield
            log.append("exit " + tag)

        x = leaf(m, [0.5, 1.5])
        y = _ckpt(m).checkpoint(lambda t: t.exp().sin(), x, use_reentrant=False,
                                context_fn=lambda: (ctx("forward"), ctx("recompute")))
        y.sum().backward()
        return log, x.grad

    both(prog)


def test_determinism_check_errors():
    def shape_changes(m):
        calls = []

        def f(t):
            calls.append(1)
            return (t[: 3 - len(calls)] * 1.5).exp().sum()

        x = leaf(m, [0.5, 1.5, 2.5])
        _ckpt(m).checkpoint(f, x, use_reentrant=False).backward()

    same_error(shape_changes)

    def fewer_saved(m):
        calls = []

        def f(t):
            calls.append(1)
            return t.exp().sum() if len(calls) == 1 else t.sum()

        x = leaf(m, [0.5, 1.5])
        _ckpt(m).checkpoint(f, x, use_reentrant=False).backward()

    same_error(fewer_saved)

    def check_off(m):
        calls = []

        def f(t):
            calls.append(1)
            return (t[: 3 - len(calls)] * 1.5).exp().sum() * 0 + t.sum()

        x = leaf(m, [0.5, 1.5, 2.5])
        y = _ckpt(m).checkpoint(f, x, use_reentrant=False, determinism_check="none")
        y.backward()
        return x.grad

    both(check_off)

    def bad_mode(m):
        _ckpt(m).checkpoint(lambda t: t, leaf(m, [1.0]), use_reentrant=False,
                            determinism_check="strict")

    same_error(bad_mode)


def test_debug_is_not_supported():
    x = tapegrad.tensor([1.0], requires_grad=True)
    with pytest.raises(NotImplementedError, match="not yet supported"):
        _ckpt(tapegrad).checkpoint(lambda t: t * 2, x, use_reentrant=False, debug=True)


@pytest.mark.parametrize("reentrant", [False, True])
@pytest.mark.parametrize("segments", [1, 2, 3])
def test_checkpoint_sequential(reentrant, segments):
    def prog(m):
        m.manual_seed(5)
        w1, w2, w3 = ws = _params(m)
        x = m.tensor(XS, requires_grad=True)
        fns = [lambda h: (h @ w1).tanh(), lambda h: m.nn.functional.dropout(h, 0.3, True),
               lambda h: (h @ w2).sin(), lambda h: h * 2, lambda h: h @ w3]
        y = _ckpt(m).checkpoint_sequential(fns, segments, x, use_reentrant=reentrant)
        y.pow(2).sum().backward()
        return [y, x.grad] + [w.grad for w in ws]

    both(prog, atol=1e-10, rtol=1e-9)


def test_checkpoint_sequential_module():
    torch = pytest.importorskip("torch")
    if not hasattr(tapegrad.nn, "Sequential"):
        pytest.skip("tapegrad.nn.Sequential is not available")

    def prog(m):
        m.manual_seed(1)
        net = m.nn.Sequential(m.nn.Linear(4, 8), m.nn.Tanh(), m.nn.Linear(8, 8), m.nn.ReLU(),
                              m.nn.Linear(8, 2)).double()
        x = m.tensor(XS, requires_grad=True)
        y = _ckpt(m).checkpoint_sequential(net, 2, x, use_reentrant=False)
        y.sum().backward()
        return [x.grad] + [p.grad for p in net.parameters()]

    del torch
    both(prog, atol=1e-10, rtol=1e-9)

    def bad_kwargs(m):
        _ckpt(m).checkpoint_sequential([len], 1, leaf(m, [1.0]), use_reentrant=False, foo=1)

    same_error(bad_kwargs)


def test_memory_benchmark_smoke(capsys):
    if _ROOT not in sys.path:
        sys.path.insert(0, _ROOT)
    from benchmarks import checkpoint_memory

    res = checkpoint_memory.main(["--depth", "8", "--width", "16", "--batch", "512"])
    out = capsys.readouterr().out
    assert "ratio" in out
    r = res["tapegrad"]
    assert r["same_gradients"] and r["same_loss"]
    assert r["checkpoint"] < r["plain"]  # the point of checkpointing: less memory held


def test_input_modified_in_place_before_backward():
    def fn(m):
        a = m.tensor([1.0, 2.0], requires_grad=True)
        x = a * 1
        y = _ckpt(m).checkpoint(lambda t: t.sin().exp(), x, use_reentrant=False)
        with m.no_grad():
            x.mul_(2)
        y.sum().backward()

    same_error(fn)


def test_exports():
    from tapegrad.autograd.graph import (  # noqa: F401
        disable_saved_tensors_hooks,
        save_on_cpu,
        saved_tensors_hooks,
    )
    from tapegrad.utils.checkpoint import checkpoint, checkpoint_sequential  # noqa: F401

    assert tapegrad.utils.checkpoint.checkpoint is checkpoint


@pytest.mark.parametrize("reentrant", [False, True])
def test_input_without_grad_parameters_with_grad(reentrant):
    # non-reentrant records the graph as usual (the weights get gradients); reentrant sees
    # no input requiring grad: it warns and its output is outside the graph
    def prog(m):
        w1, w2, _ = _params(m)
        x = m.tensor(XS)
        msgs = []

        def run():
            msgs.append(_ckpt(m).checkpoint(_block(m, w1, w2), x, use_reentrant=reentrant))

        w = warnings_of(run)
        y = msgs[0]
        if y.requires_grad:
            y.sum().backward()
        return w, y.requires_grad, w1.grad, w2.grad

    both(prog, atol=1e-10, rtol=1e-9)

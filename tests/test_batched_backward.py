"""One backward pass for a batch of cotangents: is_grads_batched, vmap over autograd.grad and
over a vjp_fn, and the Jacobians built on them (jacrev, jacfwd, hessian, vectorize=True).

The engine runs each rule once on the BatchedTensor cotangents (engine.batched_vjp); only a
rule that cannot take them runs per sample (recorded in `_batching_autograd.PER_SAMPLE`).
The op-table sweep is tests/test_ops_batched_grad.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad
from _helpers import both, same_error
from tapegrad.func import _batching_autograd as BA


def _model(m):
    m.manual_seed(0)
    x = m.randn(5, 6, dtype=m.float64, requires_grad=True)
    w1 = m.randn(6, 8, dtype=m.float64, requires_grad=True)
    b1 = m.randn(8, dtype=m.float64, requires_grad=True)
    w2 = m.randn(8, 3, dtype=m.float64, requires_grad=True)
    return x, w1, b1, w2


def _net(m, x, w1, b1, w2):
    F = m.nn.functional  # noqa: N806
    h = F.linear(x, w1.t(), b1)
    h = F.layer_norm(F.relu(h) + h.tanh() * h.sigmoid(), (8,))
    h = F.gelu(h)[:, 1:] @ w2[1:]
    h = h.reshape(-1).view(5, 3).permute(1, 0)[..., [0, 2, 4]]
    out = F.log_softmax(h, 1).exp() + F.softmax(h, 0)
    return out.mean(0) * 2 + h.sum(1)


def test_is_grads_batched_matches_torch():
    def prog(m):
        params = _model(m)
        y = _net(m, *params)
        g = m.randn(7, *y.shape, dtype=m.float64)
        return m.autograd.grad(y, params, g, is_grads_batched=True)

    both(prog)


def test_core_rules_run_once_on_the_batch():
    """Linear layers, activations, norms, softmax, views and indexing: no per-sample loop."""
    BA.PER_SAMPLE.clear()
    params = _model(tapegrad)
    y = _net(tapegrad, *params)
    g = tapegrad.randn(4, *y.shape, dtype=tapegrad.float64)
    batched = tapegrad.autograd.grad(y, params, g, retain_graph=True, is_grads_batched=True)
    assert BA.PER_SAMPLE == {}
    for k in range(4):
        plain = tapegrad.autograd.grad(y, params, g[k], retain_graph=True)
        for a, b in zip(batched, plain):
            np.testing.assert_allclose(a[k].numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


def test_losses_run_once_on_the_batch():
    BA.PER_SAMPLE.clear()
    F = tapegrad.nn.functional  # noqa: N806
    tapegrad.manual_seed(1)
    x = tapegrad.randn(6, 4, dtype=tapegrad.float64, requires_grad=True)
    t = tapegrad.tensor([0, 3, 1, 1, 2, 0])
    losses = tapegrad.stack([F.cross_entropy(x, t), F.mse_loss(x, x.detach() * 2),
                             F.nll_loss(F.log_softmax(x, 1), t, reduction="sum")])
    (g,) = tapegrad.autograd.grad(losses, x, tapegrad.eye(3, dtype=tapegrad.float64),
                                  retain_graph=True, is_grads_batched=True)
    assert BA.PER_SAMPLE == {}
    for k in range(3):
        (plain,) = tapegrad.autograd.grad(losses[k], x, retain_graph=True)
        np.testing.assert_allclose(g[k].numpy(), plain.numpy(), rtol=1e-12, atol=1e-14)


def test_rule_without_batching_runs_per_sample():
    """A built-in rule that reads arrays directly cannot take a batch: that node alone runs
    once per sample, and the results are the per-sample ones."""
    from tapegrad.autograd.graph import Node
    from tapegrad.ops._core import new_node, wrap

    class ArrayScaleBackward0(Node):
        def vjp(self, g):
            return tapegrad.tensor(g._data * 3)  # (a NumPy fast path: no batch possible)

    def scale(x):
        return wrap(x._data * 3, new_node(ArrayScaleBackward0, (x,)))

    BA.PER_SAMPLE.clear()
    x = tapegrad.randn(4, dtype=tapegrad.float64, requires_grad=True)
    y = scale(x.sin()).cos()
    g = tapegrad.randn(5, 4, dtype=tapegrad.float64)
    (got,) = tapegrad.autograd.grad(y, x, g, retain_graph=True, is_grads_batched=True)
    assert BA.PER_SAMPLE == {"ArrayScaleBackward0": 1}
    want = tapegrad.stack([tapegrad.autograd.grad(y, x, gk, retain_graph=True)[0] for gk in g])
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-13)


def test_is_grads_batched_create_graph():
    def prog(m):
        params = _model(m)
        y = _net(m, *params)
        g = m.randn(3, *y.shape, dtype=m.float64, requires_grad=True)
        gs = m.autograd.grad(y, params, g, create_graph=True, is_grads_batched=True)
        total = sum((q ** 2).sum() for q in gs)
        return gs, m.autograd.grad(total, (params[1], g))

    both(prog)


def test_is_grads_batched_frees_the_graph():
    """One pass: without retain_graph the graph is freed, as in PyTorch."""
    def prog(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp() * 2
        m.autograd.grad(y, x, m.ones(3, 2), is_grads_batched=True)
        m.autograd.grad(y, x, m.ones(3, 2), is_grads_batched=True)

    same_error(prog)


def test_is_grads_batched_unused_inputs():
    def prog(m):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        z = m.tensor([0.5], requires_grad=True)
        y1, y2 = x.sin(), x * 2
        g = m.autograd.grad((y1, y2), (x, z), (m.ones(4, 3), m.randn(4, 3)), allow_unused=True,
                            is_grads_batched=True, retain_graph=True)
        h = m.autograd.grad((y1, y2), (x, z), (m.ones(4, 3), m.randn(4, 3)),
                            materialize_grads=True, is_grads_batched=True)
        return g, h

    both(prog)


@pytest.mark.parametrize("scalar", [True, False])
def test_is_grads_batched_none_grad_output(scalar):
    """A None grad_output is made as for a plain pass (ones for a scalar), and then has no
    batch dim to map over: PyTorch's errors."""
    def prog(m):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y2 = (x * 2).sum() if scalar else x * 2
        m.autograd.grad((x.sin(), y2), x, (m.ones(4, 3), None), is_grads_batched=True)

    same_error(prog)


def test_vmap_of_vjp_fn_made_outside_vmap():
    def prog(m):
        from importlib import import_module

        func = import_module(m.__name__ + ".func")
        params = _model(m)
        out, fn = func.vjp(lambda *p: _net(m, *p), *params)
        cot = m.randn(6, *out.shape, dtype=m.float64)
        return func.vmap(fn)(cot)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one pass: no per-sample performance warning
        both(prog)


@pytest.mark.parametrize("chunk_size", [None, 1, 4])
def test_jacobians(chunk_size):
    def prog(m):
        from importlib import import_module

        func = import_module(m.__name__ + ".func")
        params = _model(m)
        x = params[0].detach()

        def f(x, w1):
            return _net(m, x, w1, params[2].detach(), params[3].detach())

        jr = func.jacrev(f, argnums=(0, 1), chunk_size=chunk_size)(x, params[1].detach())
        jf = func.jacfwd(f)(x, params[1].detach())
        h = func.hessian(lambda v: (v.sin() ** 2).sum() * v.prod())(x[0])
        return jr, jf, h

    both(prog)


def test_autograd_functional_vectorize():
    def prog(m):
        AF = m.autograd.functional  # noqa: N806
        params = _model(m)
        unused = m.ones(2, dtype=m.float64)

        def f(x, w1, u):
            return _net(m, x, w1, params[2].detach(), params[3].detach())

        inputs = (params[0].detach(), params[1].detach(), unused)
        j = AF.jacobian(f, inputs, vectorize=True)
        h = AF.hessian(lambda v: (v.exp() * v.sum()).sum(), inputs[0][0], vectorize=True)
        hc = AF.hessian(lambda v: (v.exp() * v.sum()).sum(), inputs[0][0], vectorize=True,
                        create_graph=True)
        return j, h, hc

    both(prog)


def test_hooks_see_and_return_batched_gradients():
    """Tensor hooks, node pre-hooks and node post-hooks run once on the batch of gradients
    (their results are checked and summed like any gradient)."""
    def prog(m):
        x = m.tensor([0.1, 0.5, -0.3], requires_grad=True)
        h = x * 2
        h.register_hook(lambda g: g * 10)
        a = m.autograd.grad(h.exp(), x, m.eye(3), is_grads_batched=True)[0]
        y = x.exp()
        y.grad_fn.register_hook(lambda gi, go: (gi[0] * 2,))
        b = m.autograd.grad(y, x, m.eye(3), is_grads_batched=True)[0]
        y = x.exp()
        y.grad_fn.register_prehook(lambda go: (go[0] * 3,))
        c = m.autograd.grad(y, x, m.eye(3), is_grads_batched=True)[0]
        return a, b, c

    both(prog)


def test_grad_of_an_output_batched_by_vmap():
    """autograd.grad inside vmap on a batched output: no graph at that level (PyTorch's error;
    per-sample gradients are what func.grad is for)."""
    def prog(m):
        w = m.randn(3, requires_grad=True)
        m.func.vmap(lambda t: m.autograd.grad((t * w).sum(), w))(m.randn(4, 3))

    same_error(prog)


def test_custom_function_backward_runs_once_on_the_batch():
    """A custom Function's backward is the user's code: it runs once, on the batch; what
    cannot batch (.item()) fails there, as in PyTorch, instead of running it again per
    sample."""
    calls = []

    class F(tapegrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            calls.append(1)
            return g * g.sum().item()

    x = tapegrad.tensor([0.1, 0.5, -0.3], requires_grad=True)
    with pytest.raises(RuntimeError, match="calling .item"):
        tapegrad.autograd.grad(F.apply(x), x, tapegrad.eye(3), is_grads_batched=True)
    assert calls == [1]


def test_anomaly_mode_checks_batched_gradients_for_nan():
    x = tapegrad.tensor([1.0, -1.0], requires_grad=True)
    y = x.sqrt()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tapegrad.autograd.detect_anomaly():
            ok = tapegrad.autograd.grad(x.sin(), x, tapegrad.eye(2), is_grads_batched=True)[0]
            assert np.allclose(ok.numpy(), np.diag(np.cos([1.0, -1.0])))
            with pytest.raises(RuntimeError, match="returned nan values"):
                tapegrad.autograd.grad(y, x, tapegrad.eye(2), is_grads_batched=True)


def test_transforms_of_public_ops_fetched_before_vmap():
    """grad(tapegrad.sum) and vjp(tapegrad.sin, ...) inside vmap call the ops through vmap's
    dispatchers, though the function objects were fetched before vmap ran."""
    def prog(m):
        x = m.tensor([[1.0, 2.0], [3.0, 4.0]])
        g = m.func.vmap(m.func.grad(m.sum))(x)
        v = m.func.vmap(lambda t: m.func.vjp(m.sin, t)[1](m.ones(2))[0])(x)
        return g, v

    both(prog)


def test_jacfwd_refuses_random_ops_without_drawing():
    """jacfwd's default randomness='error': a random op raises PyTorch's vmap error before it
    draws (the stream, Box-Muller spare included, is where it was)."""
    def prog(m):
        m.manual_seed(0)
        m.randn(1)  # leaves a spare normal behind
        x = m.randn(3)
        for f in (lambda v: v * m.rand(3), lambda v: v * m.randn(1)):
            try:
                m.func.jacfwd(f)(x)
            except RuntimeError as e:
                assert "randomness error mode" in str(e)
        return m.randn(4)

    both(prog)


def test_vmap_over_a_transformer_layer_with_its_default_activation():
    """TransformerEncoderLayer keeps F.relu (fetched at construction) as its activation:
    under vmap it still goes through the dispatcher."""
    def prog(m):
        m.manual_seed(0)
        layer = m.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        x = m.randn(3, 4, 8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (torch's attention kernel has no rule)
            return m.func.vmap(lambda t: layer(t.unsqueeze(0)).squeeze(0))(x)

    both(prog)

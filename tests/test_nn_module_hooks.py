"""Module hooks (forward pre/post, full backward, backward pre, global hooks), compared with
PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import both, same_error, warnings_of

torch = pytest.importorskip("torch")


def _lin(m, seed=0, *shape):
    m.manual_seed(seed)
    return m.nn.Linear(*(shape or (3, 2)))


def test_forward_pre_and_post_hooks():
    def prog(m):
        lin = _lin(m)
        log = []

        def pre(mod, args):
            log.append(("pre", type(mod).__name__, len(args)))
            return (args[0] * 2,)

        def pre_single(mod, args):  # a non-tuple result becomes a 1-tuple
            return args[0] + 1

        def post(mod, args, out):
            log.append(("post", tuple(out.shape)))
            return out * 10

        h1 = lin.register_forward_pre_hook(pre)
        lin.register_forward_pre_hook(pre_single)
        lin.register_forward_hook(post)
        x = m.ones(1, 3)
        y1 = lin(x)
        h1.remove()
        y2 = lin(x)
        return y1, y2, log

    both(prog)


def test_hook_kwargs_prepend_and_context_manager():
    def prog(m):
        class K(m.nn.Module):
            def forward(self, x, scale=1.0):
                return x * scale

        mod = K()
        order = []

        def pre_kw(mod, args, kwargs):
            order.append("pre_kw")
            return args, {"scale": kwargs.get("scale", 1.0) * 3}

        def post_kw(mod, args, kwargs, out):
            order.append(("post_kw", kwargs["scale"]))
            return out + 1

        mod.register_forward_pre_hook(pre_kw, with_kwargs=True)
        mod.register_forward_pre_hook(lambda mo, a: order.append("first"), prepend=True)
        mod.register_forward_hook(post_kw, with_kwargs=True)
        mod.register_forward_hook(lambda mo, a, o: order.append("post_first"), prepend=True)
        out = mod(m.ones(2), scale=2.0)
        with mod.register_forward_hook(lambda mo, a, o: o * 0):
            zero = mod(m.ones(2))
        after = mod(m.ones(2))
        return out, zero, after, order

    both(prog)


def test_pre_hook_bad_return():
    def prog(m):
        lin = _lin(m)
        lin.register_forward_pre_hook(lambda mod, a, k: 5, with_kwargs=True)
        lin(m.ones(1, 3))

    same_error(prog)


def test_always_call_hook_on_error():
    def prog(m):
        class Boom(m.nn.Module):
            def forward(self, x):
                raise ValueError("boom")

        b = Boom()
        seen = []
        b.register_forward_hook(lambda mod, a, out: seen.append(out), always_call=True)
        b.register_forward_hook(lambda mod, a, out: seen.append("never"))
        try:
            b(m.ones(1))
        except ValueError as e:
            seen.append(str(e))
        return seen

    both(prog)


def test_full_backward_hook_grads():
    def prog(m):
        lin = _lin(m, 3)
        rec = []

        def hook(mod, gin, gout):
            rec.append(("hook", gin, gout))

        def pre(mod, gout):
            rec.append(("pre", gout))

        lin.register_full_backward_hook(hook)
        lin.register_full_backward_pre_hook(pre)
        x = m.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], requires_grad=True)
        y = lin(x)
        (y * m.tensor([1.0, -2.0])).sum().backward()
        return rec, x.grad, y.grad_fn.name()

    both(prog)


def test_full_backward_hook_replaces_grads():
    def prog(m):
        lin = _lin(m, 4)
        lin.register_full_backward_pre_hook(lambda mod, gout: (gout[0] * 3,))
        lin.register_full_backward_hook(lambda mod, gin, gout: (gin[0] + 1,))
        x = m.ones(2, 3, requires_grad=True)
        lin(x).sum().backward()
        return x.grad, lin.weight.grad, lin.bias.grad

    both(prog)


def test_full_backward_hook_multiple_inputs_outputs():
    def prog(m):
        class Two(m.nn.Module):
            def forward(self, a, k, b):
                return a * b * k, a + b

        mod = Two()
        rec = []
        mod.register_full_backward_hook(lambda mo, gin, gout: rec.append((gin, gout)))
        a = m.tensor([1.0, 2.0], requires_grad=True)
        b = m.tensor([3.0, 4.0])
        p, q = mod(a, 2.0, b)
        (p.sum() + 2 * q.sum()).backward()
        return rec, a.grad

    both(prog)


def test_full_backward_hook_no_input_grad():
    def prog(m):
        lin = _lin(m, 5)
        rec = []
        lin.register_full_backward_hook(lambda mo, gin, gout: rec.append((gin, gout)))
        lin(m.ones(1, 3)).sum().backward()
        return rec

    both(prog)
    msgs = warnings_of(lambda: prog(tapegrad))
    tmsgs = warnings_of(lambda: prog(torch))
    assert msgs == tmsgs


def test_full_backward_hook_wrong_count():
    def prog(m):
        lin = _lin(m)
        lin.register_full_backward_hook(lambda mo, gin, gout: (gin[0], gin[0]))
        lin(m.ones(1, 3, requires_grad=True)).sum().backward()

    same_error(prog)

    def prog_pre(m):
        lin = _lin(m)
        lin.register_full_backward_pre_hook(lambda mo, gout: ())
        lin(m.ones(1, 3, requires_grad=True)).sum().backward()

    same_error(prog_pre)


def test_mixing_backward_hook_kinds():
    def prog(m):
        lin = _lin(m)
        lin.register_full_backward_hook(lambda *a: None)
        lin.register_backward_hook(lambda *a: None)

    same_error(prog)

    def prog2(m):
        lin = _lin(m)
        lin.register_backward_hook(lambda *a: None)
        lin.register_full_backward_hook(lambda *a: None)

    same_error(prog2)


def test_old_backward_hook_sees_last_node():
    def prog(m):
        class Sq(m.nn.Module):
            def forward(self, x):
                return x * x

        mod = Sq()
        rec = []
        mod.register_backward_hook(lambda mo, gin, gout: rec.append((gin, gout)))
        x = m.tensor([1.0, 3.0], requires_grad=True)
        mod(x).sum().backward()
        return rec, x.grad

    both(prog)


def test_global_hooks():
    mods = {}

    def prog(m):
        rec = []
        mm = m.nn.modules.module
        h1 = mm.register_module_forward_pre_hook(lambda mod, a: rec.append("gpre"))
        h2 = mm.register_module_forward_hook(lambda mod, a, o: rec.append("gpost"))
        h3 = mm.register_module_full_backward_hook(
            lambda mod, gin, gout: rec.append(("gbw", type(mod).__name__)))
        try:
            lin = _lin(m)
            lin.register_forward_pre_hook(lambda mod, a: rec.append("pre"))
            x = m.ones(1, 3, requires_grad=True)
            lin(x).sum().backward()
        finally:
            h1.remove()
            h2.remove()
            h3.remove()
        lin(x)
        mods[m.__name__] = rec
        return rec

    both(prog)


def test_registration_hooks():
    def prog(m):
        mm = m.nn.modules.module
        rec = []
        hs = [
            mm.register_module_parameter_registration_hook(
                lambda mod, n, p: rec.append(("p", n))),
            mm.register_module_buffer_registration_hook(lambda mod, n, b: rec.append(("b", n))),
            mm.register_module_module_registration_hook(lambda mod, n, c: rec.append(("m", n))),
        ]
        try:
            m.nn.Sequential(m.nn.BatchNorm1d(2))
        finally:
            for h in hs:
                h.remove()
        m.nn.Linear(1, 1)
        return rec

    both(prog)


def test_hooks_leave_plain_call_fast_and_handles_are_independent():
    lin = tapegrad.nn.Linear(2, 2)
    h = lin.register_forward_hook(lambda *a: None)
    h2 = lin.register_forward_hook(lambda *a: None)
    assert h.id != h2.id and len(lin._forward_hooks) == 2
    h.remove()
    h.remove()  # removing twice is harmless
    assert list(lin._forward_hooks) == [h2.id]
    h2.remove()
    assert not lin._forward_hooks


def test_backward_hook_numbers_against_numeric():
    """grad_input seen by a full backward hook is the gradient of the loss w.r.t. the input."""
    lin = tapegrad.nn.Linear(3, 2).double()
    seen = {}
    lin.register_full_backward_hook(lambda mo, gin, gout: seen.update(gin=gin, gout=gout))
    xa = np.array([[0.3, -1.2, 2.0]])
    x = tapegrad.tensor(xa, requires_grad=True)
    lin(x).pow(2).sum().backward()
    w = lin.weight.detach().numpy()
    b = lin.bias.detach().numpy()
    y = xa @ w.T + b
    np.testing.assert_allclose(seen["gout"][0].numpy(), 2 * y, rtol=1e-12)
    np.testing.assert_allclose(seen["gin"][0].numpy(), (2 * y) @ w, rtol=1e-12)

"""Autograd hooks compared with PyTorch: tensor hooks, retain_grad, post-accumulate-grad hooks,
Node pre/post hooks, multi-grad hooks, their order, their use in autograd.grad and under
create_graph, and the checks on what they return. Each program is written once as `prog(m)` and
run with m = tapegrad and m = torch; the logs the hooks write must agree.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad
from _helpers import both, leaf, numeric_vjp, same_error, warnings_of


def L(v):
    """A gradient (or tuple of them) as something `same` compares: detached copies."""
    if v is None:
        return None
    if isinstance(v, (tuple, list)):
        return [L(a) for a in v]
    return v.detach().clone()


def backward_error(m, fn):
    """A program that runs fn(m) and returns the error backward raises."""
    try:
        fn(m)
    except Exception as e:  # noqa: BLE001 - compared with torch's
        return type(e).__name__, str(e).replace("torch.", "tapegrad.")
    return "no error"


# --- registering: errors, handles, retains_grad ----------------------------------------------
def test_register_errors():
    same_error(lambda m: m.tensor([1.0, 2.0]).register_hook(lambda g: g))
    same_error(lambda m: m.tensor([1.0, 2.0]).retain_grad())
    same_error(lambda m: m.tensor([1.0]).register_post_accumulate_grad_hook(lambda t: None))
    same_error(lambda m: (leaf(m, [1.0]) * 2).register_post_accumulate_grad_hook(lambda t: t))


def test_retains_grad_property():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        c = m.tensor([1.0])
        y = x * 2
        before = (x.retains_grad, y.retains_grad, c.retains_grad)
        x.retain_grad()  # a no-op on a leaf
        y.retain_grad()
        y.retain_grad()  # twice is once
        (y * 3).sum().backward()
        return before, x.retains_grad, y.retains_grad, y.grad, x.grad

    both(prog)


def test_nonleaf_grad_warning_follows_retains_grad():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        y, z = x * 2, x * 3
        y.retain_grad()
        return warnings_of(lambda: y.grad), len(warnings_of(lambda: z.grad))

    both(prog)


def test_handles():
    from tapegrad.utils.hooks import RemovableHandle

    def prog(m):
        x = leaf(m, [1.0, 2.0])
        h1 = x.register_hook(lambda g: g * 2)
        h2 = x.register_hook(lambda g: g * 3)
        ids = (h2.id - h1.id, type(h1).__name__, sorted(x._backward_hooks) == [h1.id, h2.id])
        h1.remove()
        h1.remove()  # removing twice is harmless
        (x * 1).sum().backward()
        first = L(x.grad)
        with x.register_hook(lambda g: g * 100):
            pass  # leaving the block removes it
        x.grad = None
        (x * 1).sum().backward()
        return ids, first, x.grad

    both(prog)
    x = leaf(tapegrad, [1.0])
    h = x.register_hook(lambda g: g)
    assert isinstance(h, RemovableHandle)
    assert isinstance((x * 2).grad_fn.register_hook(lambda gi, go: None), RemovableHandle)


def test_handle_state_roundtrip():
    from collections import OrderedDict

    def prog(m, handle_cls):
        d, extra = OrderedDict(), OrderedDict()
        h = handle_cls(d, extra_dict=[extra])
        d[h.id] = extra[h.id] = "hook"
        h2 = handle_cls.__new__(handle_cls)
        h2.__setstate__(h.__getstate__())
        h2.remove()
        dead = handle_cls.__new__(handle_cls)
        dead.__setstate__((None, 10**9))
        dead.remove()
        return len(d), len(extra), h2.id == h.id, handle_cls.next_id > 10**9

    torch = pytest.importorskip("torch")
    from tapegrad.utils.hooks import RemovableHandle

    assert prog(tapegrad, RemovableHandle) == prog(torch, torch.utils.hooks.RemovableHandle)


# --- order ------------------------------------------------------------------------------------
def _order_program(m):
    log = []
    x = leaf(m, [1.0, 2.0])
    y = x * 2
    y.register_hook(lambda g: log.append(("h1", L(g))) or g * 10)
    y.retain_grad()  # runs after every tensor hook, even those registered later
    y.register_hook(lambda g: log.append(("h2", L(g))) or g + 1)
    y.grad_fn.register_prehook(lambda go: log.append(("pre", L(go))))
    y.grad_fn.register_hook(lambda gi, go: log.append(("post", L(gi), L(go))))
    x.register_hook(lambda g: log.append(("leaf", L(g))))
    acc = y.grad_fn.next_functions[0][0]
    acc.register_prehook(lambda go: log.append(("accpre", L(go))))
    acc.register_hook(lambda gi, go: log.append(("accpost", L(gi), L(go))))
    x.register_post_accumulate_grad_hook(lambda t: log.append(("postacc", L(t.grad))))
    x.register_hook(lambda g: log.append(("leaf2", L(g))))
    return log, x, y


def test_hook_order_in_backward():
    def prog(m):
        log, x, y = _order_program(m)
        (y * 3).sum().backward()
        return log, y.grad, x.grad

    both(prog)


def test_hooks_in_autograd_grad_wrt_leaf():
    # leaf hooks run (and change the returned gradient); node pre-hooks and post-accumulate
    # hooks of the AccumulateGrad do not; retain_grad still fills y.grad
    def prog(m):
        log, x, y = _order_program(m)
        res = m.autograd.grad((y * 3).sum(), x)
        return log, res, y.grad, x.grad

    both(prog)


def test_hooks_in_autograd_grad_wrt_nonleaf():
    # y's node is only captured: its tensor hooks and retain_grad run, nothing else
    def prog(m):
        log, x, y = _order_program(m)
        res = m.autograd.grad((y * 3).sum(), y)
        return log, res, y.grad, x.grad

    both(prog)


def test_captured_and_needed_node_returns_gradient_before_hooks():
    # when y's node must also run (x is an input too) the captured value is the one before
    # y's tensor hooks, as in PyTorch
    def prog(m):
        log = []
        x = leaf(m, [1.0, 2.0])
        y = x * 2
        y.register_hook(lambda g: log.append(L(g)) or g * 10)
        res = m.autograd.grad((y * 3).sum(), [y, x])
        return res, log

    both(prog)


def test_hooks_of_tensors_sharing_a_node():
    def prog(m):
        log = []
        x = leaf(m, [1.0, 2.0, 3.0])
        a, b, c = x.unbind()
        c.register_hook(lambda g: log.append(("c", L(g))) or g * 2)
        a.register_hook(lambda g: log.append(("a", L(g))) or g * 5)
        b.register_hook(lambda g: log.append(("b", L(g))))  # gets None: no gradient reaches b
        b.retain_grad()
        a.grad_fn.register_prehook(lambda go: log.append(("pre", L(go))))
        (a * 3 + c * 7).backward()
        return log, x.grad, b.grad

    both(prog)


def test_hooks_called_with_none():
    # a pre-hook that drops the gradient: later hooks still run, with None
    def prog(m):
        log = []
        x = leaf(m, [1.0, 2.0])
        y = x * 2
        y.grad_fn.register_prehook(lambda go: (None,))
        y.grad_fn.register_hook(lambda gi, go: log.append(("post", L(gi), L(go))))
        x.register_hook(lambda g: log.append(("leaf", L(g))))
        acc = y.grad_fn.next_functions[0][0]
        acc.register_prehook(lambda go: log.append(("accpre", L(go))))
        acc.register_hook(lambda gi, go: log.append(("accpost", L(gi), L(go))))
        x.register_post_accumulate_grad_hook(lambda t: log.append(("postacc", L(t.grad))))
        y.sum().backward()
        return log, x.grad

    both(prog)


def test_post_hooks_see_gradients_as_inputs_get_them():
    # broadcasting is undone and dtypes cast before post hooks run; None where no grad needed
    def prog(m):
        log = []
        a = leaf(m, [1.0, 2.0, 3.0])
        b = leaf(m, [[1.0], [2.0]], dtype="float64")
        c = m.tensor([[2.0, 3.0, 4.0]])
        y = a * b * c
        y.grad_fn.register_hook(lambda gi, go: log.append(L(gi)))
        y.grad_fn.next_functions[0][0].register_hook(lambda gi, go: log.append(L(gi)))
        y.sum().backward()
        return log, a.grad, b.grad

    both(prog)


def test_multiple_backward_calls_run_hooks_each_time():
    def prog(m):
        log = []
        x = leaf(m, [1.0, 2.0])
        y = x * x
        y.register_hook(lambda g: log.append(L(g)))
        x.register_hook(lambda g: log.append(L(g)))
        y.sum().backward(retain_graph=True)
        (y * 2).sum().backward()
        return log, x.grad

    both(prog)


def test_leaf_hooks_outlive_its_accumulate_grad():
    # the graph (and the leaf's AccumulateGrad with it) is dropped; the hook stays on the leaf
    def prog(m):
        log = []
        x = leaf(m, [1.0, 2.0])
        x.register_hook(lambda g: log.append(L(g)) or g * 2)
        y = x * 3
        del y
        (x * 5).sum().backward()
        return log, x.grad

    both(prog)


def test_backward_inputs_runs_hooks():
    def prog(m):
        log = []
        x = leaf(m, [1.0, 2.0])
        w = leaf(m, [3.0, 4.0])
        y = x * w
        x.register_hook(lambda g: log.append(("x", L(g))) or g * 2)
        w.register_hook(lambda g: log.append(("w", L(g))))
        y.register_hook(lambda g: log.append(("y", L(g))))
        y.sum().backward(inputs=[x])
        z = x * w
        z.sum().backward(inputs=[z])  # a non-leaf input: retains its grad
        return log, x.grad, w.grad, z.retains_grad, z.grad

    both(prog)


def test_hooks_on_roots():
    def prog(m):
        log = []
        x = leaf(m, [1.0, 2.0])
        x.register_hook(lambda g: log.append(("x", L(g))) or g * 2)
        x.backward(m.tensor([3.0, 4.0]))  # a leaf as the root
        y = x * 2
        y.register_hook(lambda g: log.append(("y", L(g))) or g + 1)
        y.backward(m.tensor([5.0, 6.0]))
        return log, x.grad

    both(prog)


def test_hook_removing_itself_and_nested_backward():
    # a hook removed while backward runs still runs in that pass (hooks are read when the
    # node starts); a backward pass started inside a hook runs on its own
    def prog(m):
        log = []
        x = leaf(m, [1.0, 2.0])
        w = leaf(m, [3.0, 4.0])
        y = x * 2
        handle = []

        def once(g):
            handle[0].remove()
            log.append(("once", L(g)))

        def nested(g):
            with m.enable_grad():
                (gw,) = m.autograd.grad((w * w).sum(), w)
            log.append(("nested", L(gw)))

        handle.append(y.register_hook(once))
        y.register_hook(nested)
        m.autograd.graph.register_multi_grad_hook((x, y), lambda gs: log.append(("all", L(gs))))
        y.sum().backward(retain_graph=True)
        y.sum().backward()
        return log, x.grad

    both(prog)


def test_hooks_on_custom_function_node():
    def prog(m):
        log = []

        class Square(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        x = leaf(m, [1.0, 2.0])
        y = Square.apply(x)
        y.register_hook(lambda g: log.append(("t", L(g))) or g * 3)
        y.grad_fn.register_prehook(lambda go: log.append(("pre", L(go))))
        y.grad_fn.register_hook(lambda gi, go: log.append(("post", L(gi), L(go))))
        y.retain_grad()
        y.sum().backward()
        return log, x.grad, y.grad

    both(prog)


# --- what hooks return --------------------------------------------------------------------------
def _named(g):
    return 5


class _Callable:
    def __call__(self, g):
        return g.double()


@pytest.mark.parametrize(
    "kind,hook",
    [
        ("tensor", lambda g: 5),
        ("tensor", _named),
        ("leaf", lambda g: 5),
        ("tensor", lambda g: g.double()),
        ("leaf", lambda g: g.double()),
        ("tensor", lambda g: g[:1]),
        ("tensor", lambda g: g.int()),
        ("tensor", lambda g: g * 1j),
        ("tensor", lambda g: g.bool()),
        ("tensor", lambda g: (g,)),
        ("tensor", lambda g: np.ones(2)),
        ("tensor", _Callable()),
        ("pre", lambda go: 5),
        ("pre", lambda go: [go[0]]),
        ("pre", lambda go: (go[0], go[0])),
        ("pre", lambda go: (5,)),
        ("pre", lambda go: (go[0].double(),)),
        ("pre", lambda go: (go[0][:1],)),
        ("post", lambda gi, go: 5),
        ("post", lambda gi, go: [gi[0], None]),
        ("post", lambda gi, go: (gi[0],)),
        ("post", lambda gi, go: (gi[0], gi[0])),
        ("post", lambda gi, go: (gi[0].double(), None)),
        ("postacc", lambda t: 5),
        ("postacc", lambda t: t.double()),
    ],
)
def test_hook_result_errors(kind, hook):
    def fn(m):
        x = leaf(m, [1.0, 2.0])
        y = x * 2
        if kind == "tensor":
            y.register_hook(hook)
        elif kind == "leaf":
            x.register_hook(hook)
        elif kind == "pre":
            y.grad_fn.register_prehook(hook)
        elif kind == "post":
            y.grad_fn.register_hook(hook)
        else:
            x.register_post_accumulate_grad_hook(hook)
        y.sum().backward()

    same_error(fn)


def test_replace_none_gradient_error():
    def fn(m):
        x = leaf(m, [1.0, 2.0])
        a, b = x.unbind()
        b.register_hook(lambda g: 5)
        (a * 1).backward()

    same_error(fn)


def test_accepted_results():
    # None, the argument itself, a tuple with None in it, a tensor that requires grad
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        y = x * 2
        y.register_hook(lambda g: g)
        y.register_hook(lambda g: g.requires_grad_())
        y.grad_fn.register_hook(lambda gi, go: (gi[0] * 3, None))
        y.grad_fn.register_prehook(lambda go: go)
        x.register_post_accumulate_grad_hook(lambda t: t)
        y.sum().backward()
        return x.grad

    both(prog)


# --- gradients through hooks ----------------------------------------------------------------
def test_hook_scaled_gradient_matches_numeric():
    # a hook g -> 3 g on y = sin(x) * w: x.grad is 3 times the true gradient
    xs = np.array([0.3, -1.2, 2.0])
    ws = np.array([1.5, 0.5, -2.0])
    x = tapegrad.tensor(xs, requires_grad=True)
    w = tapegrad.tensor(ws)
    y = x.sin() * w
    y.register_hook(lambda g: g * 3)
    (y * y).sum().backward()
    num = numeric_vjp(lambda a: [(np.sin(a[0]) * ws) ** 2], [xs], [0], [np.ones(())], 1e-6)[0]
    np.testing.assert_allclose(x.grad.numpy(), 3 * num, rtol=1e-6, atol=1e-8)

    def prog(m):
        x = m.tensor(xs, requires_grad=True)
        y = x.sin() * m.tensor(ws)
        y.register_hook(lambda g: g * 3)
        (y * y).sum().backward()
        return x.grad

    both(prog)


def test_hooks_under_create_graph():
    def prog(m):
        log = []
        x = leaf(m, [1.0, 2.0], dtype="float64")
        y = x * x
        y.retain_grad()
        # the hook makes the gradient depend on x: second derivatives see it
        y.register_hook(lambda g: log.append((g.requires_grad, m.is_grad_enabled())) or g * x)
        x.register_hook(lambda g: log.append((g.requires_grad, L(g))))
        y.sum().backward(create_graph=True)
        yg = y.grad
        (gg,) = m.autograd.grad(x.grad.sum(), x)
        return log, yg, yg.grad_fn.name(), x.grad.detach(), gg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # backward(create_graph=True) warns once per process
        both(prog)


def test_hook_second_order_matches_numeric():
    # d/dx of sum(grad) where the hook makes grad = g * x at y = x * x: grad_x = 2 x * x,
    # so the second gradient is 4 x
    xs = np.array([0.5, -1.5, 2.0])
    x = tapegrad.tensor(xs, requires_grad=True)
    y = x * x
    y.register_hook(lambda g: g * x)
    (gx,) = tapegrad.autograd.grad(y.sum(), x, create_graph=True)
    (ggx,) = tapegrad.autograd.grad(gx.sum(), x)
    num = numeric_vjp(lambda a: [2 * a[0] * a[0]], [xs], [0], [np.ones(3)], 1e-6)[0]
    np.testing.assert_allclose(ggx.numpy(), num, rtol=1e-6)


def test_grad_mode_inside_hooks():
    def prog(m):
        log = []
        x = leaf(m, [1.0, 2.0])
        y = x * x
        y.register_hook(lambda g: log.append(m.is_grad_enabled()))
        x.register_post_accumulate_grad_hook(lambda t: log.append(m.is_grad_enabled()))
        y.sum().backward(retain_graph=True)
        y.sum().backward(create_graph=True)
        return log

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # backward(create_graph=True) warns once per process
        both(prog)


def test_retain_grad_accumulates_under_create_graph():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        y = x * x
        y.retain_grad()
        y.sum().backward(create_graph=True)
        first = y.grad
        (y * y).sum().backward(create_graph=True)
        return first, first.grad_fn is None, y.grad, y.grad.grad_fn.name()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # backward(create_graph=True) warns once per process
        both(prog)


def test_retain_grad_on_root():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        y = x * 2
        y.retain_grad()
        y.backward(m.tensor([3.0, 4.0]))
        return y.grad

    both(prog)


# --- post-accumulate-grad hooks --------------------------------------------------------------
def test_post_accumulate_grad_hook_sgd():
    def prog(m):
        v = m.tensor([0.0, 0.0, 0.0], requires_grad=True)
        lr = 0.01
        h = v.register_post_accumulate_grad_hook(lambda p: p.add_(p.grad, alpha=-lr))
        v.backward(m.tensor([1.0, 2.0, 3.0]))
        first = v.detach().clone()
        h.remove()
        v.backward(m.tensor([1.0, 2.0, 3.0]))
        return first, v, v.grad

    both(prog)


def test_post_accumulate_grad_hook_not_in_autograd_grad():
    def prog(m):
        log = []
        x = leaf(m, [1.0, 2.0])
        x.register_post_accumulate_grad_hook(lambda t: log.append(L(t.grad)))
        m.autograd.grad((x * 2).sum(), x)
        (x * 2).sum().backward()
        return log

    both(prog)


# --- multi-grad hooks -------------------------------------------------------------------------
def test_multi_grad_hook_all():
    def prog(m):
        log = []
        a = leaf(m, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        b = leaf(m, [[0.5, 0.5, 0.5], [2.0, 2.0, 2.0]])
        c = a * b
        d = a * b

        def fn(grads):
            log.append((type(grads).__name__, [g is not None for g in grads]))

        h = m.autograd.graph.register_multi_grad_hook((a, b, c, d), fn)
        c.sum().backward(retain_graph=True)
        c.sum().backward(inputs=(a,), retain_graph=True)
        m.autograd.grad(c.sum(), [c], retain_graph=True)
        h.remove()
        c.sum().backward(retain_graph=True)
        return log, type(h).__name__, len(h.handles)

    both(prog)


def test_multi_grad_hook_all_passes_gradients_and_order():
    def prog(m):
        log = []
        x = leaf(m, [1.0, 2.0])
        y = x * 2
        z = y * 3
        m.autograd.graph.register_multi_grad_hook((x, y), lambda gs: log.append(("multi", L(gs))))
        y.register_hook(lambda g: log.append("y"))
        x.register_hook(lambda g: log.append("x"))
        z.sum().backward()
        return log

    both(prog)


def test_multi_grad_hook_errors():
    same_error(lambda m: m.autograd.graph.register_multi_grad_hook(
        (leaf(m, [1.0]),), print, mode="x"))
    same_error(lambda m: m.autograd.graph.register_multi_grad_hook((m.ones(2),), print))

    def leaf_in_grad(m):
        a = leaf(m, [1.0, 2.0])
        m.autograd.graph.register_multi_grad_hook((a,), print)
        m.autograd.grad((a * 2).sum(), [a])

    same_error(leaf_in_grad)


def test_multi_grad_hook_any():
    def prog(m):
        log = []
        a = leaf(m, [1.0, 2.0])
        b = leaf(m, [3.0, 4.0])
        c, d = a * b, a + b
        e = m.ones(2)  # does not require grad: skipped
        h = m.autograd.graph.register_multi_grad_hook(
            (a, b, c, d, e), lambda g: log.append(L(g)), mode="any")
        (c + d).sum().backward(retain_graph=True)
        (c * 2 + d).sum().backward(retain_graph=True)
        n = len(h.handles)
        h.remove()
        (c + d).sum().backward()
        return log, n

    both(prog)


# --- in-place ops after registering -----------------------------------------------------------
def _inplace_program(m, rebase=False):
    # hooks registered before y.mul_(3) stay with the old grad_fn; retain_grad moves to the new
    log = []
    x = leaf(m, [1.0, 2.0])
    y = x * 1
    y.register_hook(lambda g: log.append(("before", L(g))))
    y.retain_grad()
    old = y.grad_fn
    y.mul_(3)
    if rebase:  # what the in-place op itself is to call
        from tapegrad.autograd.hooks import on_new_grad_fn

        on_new_grad_fn(y, old)
    fresh = y._backward_hooks is None
    y.register_hook(lambda g: log.append(("after", L(g))))
    (y * 5).sum().backward()
    return log, fresh, y.retains_grad, y.grad, x.grad


def test_on_new_grad_fn_moves_retain_grad():
    torch = pytest.importorskip("torch")
    from _helpers import same

    same(_inplace_program(tapegrad, rebase=True), _inplace_program(torch))


def test_hooks_and_inplace_op():
    both(_inplace_program)


def test_backward_hooks_attribute():
    def prog(m):
        x = leaf(m, [1.0])
        before = x._backward_hooks
        h = x.register_hook(lambda g: g)
        after = type(x._backward_hooks).__name__, list(x._backward_hooks) == [h.id]
        return before, after

    both(prog)


def test_hook_name_and_type_strings():
    from tapegrad.autograd.hooks import _hook_name, _type_str

    assert _hook_name(_named) == "_named"
    assert _hook_name(_Callable()) == "<unknown>"
    assert _type_str(tapegrad.float32) == "tapegrad.FloatTensor"
    assert _type_str(tapegrad.bool) == "CPUBoolType"
    assert _type_str(tapegrad.complex128) == "CPUComplexDoubleType"

"""The backward engine, compared with PyTorch: small programs are written once as `prog(m)`
and run with m = tapegrad and m = torch; their values, gradients and error messages must agree.
Grad modes, graph structure, execution order and deep graphs are in test_engine_graph.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad
from _helpers import both, error, leaf
from tapegrad.autograd import engine

FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)
NONLEAF_GRAD_MSG = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad field "
    "to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you "
    "access the non-leaf Tensor by mistake, make sure you access the leaf Tensor instead. See "
    "github.com/pytorch/pytorch/pull/30531 for more information."
)

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


# --- graphs: diamonds, reuse, multiple roots --------------------------------------------------
def test_diamond():
    def prog(m):
        x = leaf(m, [0.5, -1.0, 2.0])
        a = x * 2
        b = x.exp()
        y = (a * b + a.sin()).sum()
        y.backward()
        return y, x.grad

    both(prog)


def test_diamond_nonleaf_shared():
    # z is used by three consumers; its node must wait for all of them.
    def prog(m):
        x = leaf(m, [[0.5, -1.0], [2.0, 0.25]], "float64")
        z = x.tanh()
        y = (z * z + z.exp() - 3 * z).sum()
        g, = m.autograd.grad(y, x)
        return y, g

    both(prog)


def test_reuse_many_times():
    def prog(m):
        x = leaf(m, [0.1, 0.2, 0.3], "float64")
        y = x
        for i in range(50):
            y = y * 0.5 + x * (i / 10.0)
        y.sum().backward()
        return y, x.grad

    both(prog)


def test_same_tensor_both_operands():
    def prog(m):
        x = leaf(m, [1.0, -2.0, 3.0])
        (x * x).sum().backward()
        g1 = x.grad.clone()
        (x + x).sum().backward()
        return g1, x.grad

    both(prog)


def test_multiple_roots():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        y1 = (x * x).sum()
        y2 = x * 3
        m.autograd.backward([y1, y2], [m.tensor(2.0), m.tensor([1.0, -1.0])])
        return x.grad

    both(prog)


def test_root_listed_twice():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        y = (x * x).sum()
        m.autograd.backward([y, y])
        return x.grad

    both(prog)


def test_root_depends_on_other_root():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        a = x * 3
        b = (a * a).sum()
        return m.autograd.grad([a, b], x, [m.ones(2), m.tensor(1.0)])

    both(prog)


def test_backward_on_leaf_itself():
    def prog(m):
        x = leaf(m, [1.0, 2.0, 3.0])
        x.backward(m.tensor([2.0, 2.0, 2.0]))
        return x.grad

    both(prog)


# --- accumulation and retain_graph -------------------------------------------------------------
def test_grad_accumulates_across_backward_calls():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        (x * x).sum().backward()
        g = x.grad
        (x * 3).sum().backward()
        return x.grad, x.grad is g  # accumulated in place: the same tensor object

    both(prog)


def test_grad_none_then_reaccumulate():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        (x * 2).sum().backward()
        x.grad = None
        (x * 5).sum().backward()
        return x.grad

    both(prog)


def test_retain_graph_then_second_backward():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        first = x.grad.clone()
        y.backward()
        third = error(lambda: y.backward())
        return first, x.grad, third

    res = both(prog)
    assert res[2] == ("RuntimeError", FREED_MSG)


def test_second_backward_without_retain_graph_raises():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        y = (x * x).sum()
        y.backward()
        return error(lambda: y.backward())

    assert both(prog) == ("RuntimeError", FREED_MSG)


def test_second_backward_through_node_that_saves_nothing():
    # AddBackward0 saves nothing, so going through it again works; MulBackward0 saves 3.
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        y = x + 2
        y.sum().backward()
        y.sum().backward()
        add_grad = x.grad.clone()
        z = x * 3
        z.sum().backward()
        return add_grad, error(lambda: z.sum().backward())

    assert both(prog)[1] == ("RuntimeError", FREED_MSG)


def test_grad_frees_graph_too():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        y = (x * x).sum()
        m.autograd.grad(y, x)
        return error(lambda: m.autograd.grad(y, x))

    assert both(prog) == ("RuntimeError", FREED_MSG)


# --- errors at the roots ---------------------------------------------------------------------
def test_nonscalar_backward_needs_gradient():
    def prog(m):
        x = leaf(m, [1.0, 2.0, 3.0])
        return error(lambda: (x * 2).backward())

    assert both(prog) == ("RuntimeError", "grad can be implicitly created only for scalar outputs")


def test_backward_on_tensor_without_grad():
    def prog(m):
        return (error(lambda: m.ones(3).sum().backward()),
                error(lambda: m.autograd.backward([leaf(m, [1.0]).sum(), m.ones(1)])))

    res = both(prog)
    assert res[0] == ("RuntimeError",
                      "element 0 of tensors does not require grad and does not have a grad_fn")


def test_backward_under_no_grad_result():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        with m.no_grad():
            y = (x * 2).sum()
        return y.requires_grad, y.grad_fn, error(lambda: y.backward())

    both(prog)


def test_gradient_shape_mismatch():
    def prog(m):
        x = leaf(m, [1.0, 2.0, 3.0])
        return (error(lambda: (x * 2).backward(m.ones(4))),
                error(lambda: (x * 2).sum().backward(m.ones(3))),
                error(lambda: m.autograd.grad(x * 2, x, m.ones(2, 3))))

    res = both(prog)
    assert res[0] == ("RuntimeError", "Mismatch in shape: grad_output[0] has a shape of "
                      "tapegrad.Size([4]) and output[0] has a shape of tapegrad.Size([3]).")


def test_count_mismatch_tensors_and_gradients():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        o1, o2 = (x * 2).sum(), (x * 3).sum()
        return (error(lambda: m.autograd.grad([o1, o2], x, grad_outputs=[m.tensor(1.0)])),
                error(lambda: m.autograd.backward([o1, o2], [m.tensor(1.0)])))

    res = both(prog)
    assert res[0] == ("RuntimeError", "got 2 tensors and 1 gradients")


def test_gradient_of_wrong_kind():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        return (error(lambda: m.autograd.grad((x * 2).sum(), x, grad_outputs=[3.0])),
                error(lambda: (x * 2).backward(m.ones(2, dtype=m.complex64))),
                error(lambda: m.autograd.grad((x * 2).sum(), [x, 3])))

    both(prog)


def test_gradient_with_other_dtype():
    # A float64 (or int64) gradient for a float32 output: no error, x.grad stays float32.
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        (x * 2).backward(m.tensor([1.0, 3.0], dtype=m.float64))
        g32 = x.grad
        x64 = leaf(m, [1.0, 2.0], "float64")
        (x64 * 2).backward(m.tensor([1.0, 3.0], dtype=m.float32))
        x.grad = None
        (x * 2).backward(m.tensor([1, 2]))
        gi = x.grad
        ga, = m.autograd.grad(x * 2, x, m.ones(2, dtype=m.float64))
        return g32, x64.grad, gi, ga

    res = both(prog)
    assert res[0].dtype is tapegrad.float32 and res[1].dtype is tapegrad.float64


# --- autograd.grad -------------------------------------------------------------------------
def test_grad_allow_unused():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        u = leaf(m, [3.0])
        out = (x * x).sum()
        return (m.autograd.grad(out, [x, u], allow_unused=True, retain_graph=True),
                error(lambda: m.autograd.grad(out, [x, u], retain_graph=True)),
                m.autograd.grad(out, [x, u], materialize_grads=True, retain_graph=True),
                error(lambda: m.autograd.grad(out, [x, u], allow_unused=False,
                                              materialize_grads=True)))

    res = both(prog)
    assert res[0][1] is None
    assert res[1] == ("RuntimeError", "The differentiated Tensor at index 1 appears to not have "
                      "been used in the graph. Set allow_unused=True if this is the desired "
                      "behavior.")


def test_grad_input_checks():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        out = (x * x).sum()
        return (error(lambda: m.autograd.grad(out, m.ones(3))),
                error(lambda: m.autograd.grad(out, [])),
                error(lambda: m.autograd.grad([], [x])))

    res = both(prog)
    assert res[0] == ("RuntimeError", "One of the differentiated Tensors does not require grad")


def test_grad_does_not_touch_dot_grad():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        g = m.autograd.grad((x * x).sum(), x)
        return g, x.grad

    res = both(prog)
    assert res[1] is None


def test_grad_inputs_dict_and_repeated():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        w = leaf(m, [3.0, -1.0])
        out = (x * w).sum()
        d = m.autograd.grad(out, {"x": x, "w": w}, retain_graph=True)
        return d, m.autograd.grad(out, (x, x))

    both(prog)


def test_grad_wrt_non_leaf():
    def prog(m):
        x = leaf(m, [1.0, 2.0, 3.0])
        h = x.exp()
        out = (h * h).sum()
        gh, gx = m.autograd.grad(out, [h, x], retain_graph=True)
        gh2, = m.autograd.grad(out, h)
        return gh, gx, gh2

    both(prog)


def test_grad_wrt_non_leaf_does_not_run_its_node():
    # The graph below b was freed by a first backward; autograd.grad stops at b.
    def prog(m):
        a = leaf(m, [1.0, 2.0, 3.0])
        b = a * a
        b.sum().backward()
        c = b * 2
        return m.autograd.grad(c.sum(), b)

    both(prog)


def test_grad_wrt_root():
    def prog(m):
        x = leaf(m, [1.0, 2.0, 3.0])
        a = x * 2
        return m.autograd.grad(a, [a, x], m.tensor([5.0, 5.0, 5.0]))

    both(prog)


def test_grad_result_requires_no_grad_without_create_graph():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        g, = m.autograd.grad((x * x).sum(), x)
        c, = m.autograd.grad(x.sum(), x, create_graph=True)  # a constant: no graph
        return g, c, c.grad_fn is None

    both(prog)


# --- backward(inputs=...) ---------------------------------------------------------------------
def test_backward_inputs_leaf():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        w = leaf(m, [3.0, 4.0])
        (x * w).sum().backward(inputs=[x])
        gx, gw = x.grad, w.grad
        (x * w).sum().backward(inputs=w)
        return gx, gw, x.grad, w.grad

    res = both(prog)
    assert res[1] is None


def test_backward_inputs_non_leaf():
    def prog(m):
        x = leaf(m, [1.0, 2.0, 3.0])
        y = x * 2
        z = (y * y).sum()
        z.backward(inputs=[y])
        return y.grad, x.grad

    res = both(prog)
    assert res[1] is None


def test_backward_inputs_non_leaf_retains_grad():
    # PyTorch calls retain_grad() on each input of backward(inputs=...): later backward calls
    # keep filling a non-leaf input's .grad
    def prog(m):
        x = leaf(m, [1.0, 2.0, 3.0])
        y = x * 2
        (y * 3).sum().backward(inputs=[y], retain_graph=True)
        (y * 3).sum().backward()
        return y.retains_grad, y.grad, x.grad

    both(prog)


def test_backward_inputs_errors():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        out = (x * x).sum()
        return (error(lambda: out.backward(inputs=[])),
                error(lambda: out.backward(inputs=[m.ones(2)])),
                error(lambda: out.backward(inputs=[x, 3])))

    res = both(prog)
    assert res[0] == ("RuntimeError", "`inputs` argument to `backward()` cannot be empty.")


def test_backward_inputs_not_in_graph():
    def prog(m):
        x = leaf(m, [1.0, 2.0])
        u = leaf(m, [1.0])
        (x * 2).sum().backward(inputs=[u])
        return u.grad, x.grad

    both(prog)


# --- higher order ----------------------------------------------------------------------------
def test_create_graph_third_derivative():
    def prog(m):
        x = leaf(m, [0.5, -1.0, 2.0], "float64")
        y = (x ** 3).sum()
        g1, = m.autograd.grad(y, x, create_graph=True)  # 3x^2
        g2, = m.autograd.grad(g1.sum(), x, create_graph=True)  # 6x
        g3, = m.autograd.grad(g2.sum(), x, create_graph=True)  # 6
        return g1, g2, g3

    g1, g2, g3 = both(prog)
    np.testing.assert_allclose(g2.detach().numpy(), [3.0, -6.0, 12.0])
    np.testing.assert_allclose(g3.detach().numpy(), [6.0, 6.0, 6.0])


def test_backward_create_graph_makes_differentiable_grad():
    def prog(m):
        x = leaf(m, [0.5, 2.0], "float64")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (x.sin() * x).sum().backward(create_graph=True)
        g = x.grad
        gg, = m.autograd.grad(g.sum(), x)
        return g, gg

    both(prog)


def test_create_graph_warning_once_per_process():
    """backward(create_graph=True) warns the first time only, in both libraries (fresh
    processes, since the first warning of the test session may already be spent)."""
    import subprocess
    import sys

    code = (
        "import warnings, {m} as m\n"
        "x = m.ones(2, requires_grad=True)\n"
        "n = []\n"
        "for _ in range(2):\n"
        "    with warnings.catch_warnings(record=True) as w:\n"
        "        warnings.simplefilter('always')\n"
        "        (x * x).sum().backward(create_graph=True)\n"
        "    n.append([str(i.message) for i in w])\n"
        "print(repr(n))\n"
    )
    outs = [subprocess.run([sys.executable, "-c", code.format(m=m)], capture_output=True,
                           text=True, check=True).stdout for m in ("tapegrad", "torch")]
    import re

    theirs = re.sub(r" \(Triggered internally at [^)]*\)", "", outs[1])
    assert outs[0] == theirs.replace("torch.", "tapegrad.")
    assert "Using backward() with create_graph=True" in outs[0]


def test_mixed_partials():
    def prog(m):
        x = leaf(m, [0.3, -0.7], "float64")
        w = leaf(m, [1.5, 0.25], "float64")
        y = (x.exp() * w * w + x * w).sum()
        gx, = m.autograd.grad(y, x, create_graph=True)
        gxw, gxx = m.autograd.grad(gx.sum(), [w, x])
        return gx, gxw, gxx

    both(prog)


# --- non-leaf .grad ------------------------------------------------------------------------
def test_non_leaf_grad_warns():
    x = leaf(tapegrad, [1.0, 2.0])
    y = x * 2
    with pytest.warns(UserWarning) as rec:
        assert y.grad is None
    assert [str(w.message) for w in rec] == [NONLEAF_GRAD_MSG]
    if torch is not None:
        tx = leaf(torch, [1.0, 2.0])
        with pytest.warns(UserWarning) as trec:
            (tx * 2).grad  # noqa: B018
        assert str(trec[0].message).startswith(NONLEAF_GRAD_MSG)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.grad is None  # leaves don't warn


# --- what the engine checks and must not do -------------------------------------------------
def test_create_graph_grad_does_not_alias_grad_output():
    # x.grad must not be the caller's gradient tensor: a later accumulation would change it.
    def prog(m):
        x = leaf(m, [1.0, 1.0, 1.0])
        v = m.tensor([1.0, 2.0, 3.0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (x + 1).backward(v, create_graph=True)
        alias = x.grad is v
        (x * 2).sum().backward()
        return alias, v, x.grad

    both(prog)


def test_leaf_backward_does_not_alias_gradient():
    def prog(m):
        x = leaf(m, [1.0, 1.0, 1.0])
        w = m.tensor([1.0, 2.0, 3.0])
        x.backward(w)
        alias = x.grad is w
        x.backward(w)
        return alias, w, x.grad

    both(prog)


def _custom(x, node_cls, out_arr):
    """A result of x recorded with a hand-made node (the engine's view of any op)."""
    from tapegrad._tensor import _make

    node = node_cls()
    node._next = (engine.edge_of(x),)
    node._in_meta = ((x._data.shape, x._dtype),)
    return _make(out_arr, node, True)


def test_rule_returning_wrong_number_of_gradients():
    class BadBackward(tapegrad.autograd.Node):
        __slots__ = ()

        def vjp(self, g):
            return g, g

    x = leaf(tapegrad, [1.0, 2.0, 3.0])
    y = _custom(x, BadBackward, np.ones(3, dtype=np.float32))
    with pytest.raises(RuntimeError) as e:
        y.sum().backward()
    assert str(e.value) == ("function BadBackward returned an incorrect number of gradients "
                            "(expected 1, got 2)")


@pytest.mark.parametrize("shape", [(4,), (3, 1), (1, 3, 2)])
def test_rule_returning_gradient_of_wrong_shape(shape):
    class BadShapeBackward(tapegrad.autograd.Node):
        __slots__ = ()

        def vjp(self, g):
            return tapegrad.ones(*shape)

    x = leaf(tapegrad, [1.0, 2.0, 3.0])
    y = _custom(x, BadShapeBackward, np.ones(3, dtype=np.float32))
    with pytest.raises(RuntimeError) as e:
        y.sum().backward()
    got = ", ".join(str(s) for s in shape)
    assert str(e.value) == (f"Function BadShapeBackward returned an invalid gradient at index 0 "
                            f"- got [{got}] but expected shape compatible with [3]")


def test_rule_gradient_broadcast_and_dtype_undone_by_engine():
    # A rule may return its gradient at the broadcast shape and in another dtype: the engine
    # sums it back to the input's shape and casts it to the input's dtype.
    class WideBackward(tapegrad.autograd.Node):
        __slots__ = ()

        def vjp(self, g):
            return tapegrad.ones(2, 3, dtype=tapegrad.float64)

    x = leaf(tapegrad, [1.0, 2.0, 3.0])
    y = _custom(x, WideBackward, np.ones(3, dtype=np.float32))
    y.sum().backward()
    assert x.grad.dtype is tapegrad.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])

"""Custom autograd.Function: the same small programs run with tapegrad and PyTorch, and
float64 central-difference checks of the gradients that flow through user backwards."""

from __future__ import annotations

import collections
import re

import numpy as np
import pytest

import tapegrad
from _helpers import both, error, numeric_vjp, same_error, warnings_of


def _addr_free(s: str) -> str:
    return re.sub(r"0x[0-9a-f]+", "0x?", s)


def _name(node) -> str:
    """A node's name() without the library prefix ('torch::autograd::AccumulateGrad')."""
    return node.name().rsplit("::", 1)[-1]


def same_error_raw(fn) -> None:
    """Like same_error, for messages holding a URL (compared as they are, untranslated)."""
    torch = pytest.importorskip("torch")
    ours, theirs = error(lambda: fn(tapegrad)), error(lambda: fn(torch))
    assert ours[0] != "no error", theirs
    assert ours == theirs


# --- functions used by several tests (built for one module m) -------------------------
def scale_fn(m):
    class MyFn(m.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.k = k
            ctx.save_for_backward(x)
            return x * k

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * ctx.k, None

    return MyFn


def cube_mul_fn(m):
    """f(x, y, c) = c * x**3 * y: backward written in tensor ops, so it is differentiable."""

    class CubeMul(m.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, c):
            ctx.c = c
            ctx.save_for_backward(x, y)
            return c * x ** 3 * y

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            return g * ctx.c * 3 * x ** 2 * y, g * ctx.c * x ** 3, None

    return CubeMul


def two_out_fn(m):
    """(x * y, sin(x)) with a non-tensor output between them."""

    class TwoOut(m.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return x * y, "tag", x.sin()

        @staticmethod
        def backward(ctx, ga, gnone, gb):
            x, y = ctx.saved_tensors
            return ga * y + gb * x.cos(), ga * x

    return TwoOut


def exp_fn(m):
    class Exp(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            out = x.exp()
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, g):
            (out,) = ctx.saved_tensors
            return g * out

    return Exp


# --- basics ------------------------------------------------------------------------------
def test_forward_backward_with_ctx():
    def prog(m):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = scale_fn(m).apply(x, 3)
        fn = y.grad_fn
        info = (str(y), fn.name(), fn.k, fn.needs_input_grad, len(fn.next_functions),
                _name(fn.next_functions[0][0]), fn.saved_tensors[0] is x, y.output_nr)
        y.sum().backward()
        return info, x.grad

    both(prog)


def test_grad_fn_is_the_ctx_and_its_repr():
    def prog(m):
        seen = []

        class Keep(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                seen.append(ctx)
                ctx.note = "kept"
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

        x = m.tensor([1.0], requires_grad=True)
        y = Keep.apply(x)
        fn = y.grad_fn
        return (fn is seen[0], fn.note, _addr_free(repr(fn)), type(fn).__name__,
                isinstance(fn, m.autograd.function.FunctionCtx),
                isinstance(fn, m.autograd.graph.Node) if hasattr(m.autograd, "graph") else True,
                fn.metadata, Keep._backward_cls.__name__)

    both(prog)


def test_setup_context_style_with_defaults():
    def prog(m):
        log = []

        class Scale(m.autograd.Function):
            @staticmethod
            def forward(x, k=2.0):
                log.append(("forward", m.is_grad_enabled()))
                return x * k

            @staticmethod
            def setup_context(ctx, inputs, output):
                log.append(("setup", m.is_grad_enabled(), len(inputs), inputs[1],
                            output.requires_grad, output.grad_fn is None))
                ctx.k = inputs[1]
                ctx.save_for_backward(inputs[0], output)

            @staticmethod
            def backward(ctx, g):
                x, out = ctx.saved_tensors
                log.append(("saved output", out.grad_fn is ctx, out.requires_grad))
                return g * ctx.k, None

        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = Scale.apply(x)
        y.sum().backward()
        z = Scale.apply(x, k=3.0)
        return log, str(y), str(z), x.grad

    both(prog)


def test_apply_keyword_arguments_are_inputs():
    def prog(m):
        class AddK(m.autograd.Function):
            @staticmethod
            def forward(ctx, x, y=None):
                ctx.nig = ctx.needs_input_grad
                return x * 2 + y

            @staticmethod
            def backward(ctx, g):
                return g * 2, g

        x = m.tensor([1.0, 2.0], requires_grad=True)
        w = m.tensor([5.0, 7.0], requires_grad=True)
        r = AddK.apply(x, y=w)
        r.sum().backward()
        return r.grad_fn.nig, len(r.grad_fn.next_functions), x.grad, w.grad

    both(prog)


def test_grad_modes_inside_forward_and_backward():
    def prog(m):
        log = []

        class F(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                log.append(("fwd", m.is_grad_enabled()))
                return x * 2

            @staticmethod
            def backward(ctx, g):
                log.append(("bwd", m.is_grad_enabled(), g.requires_grad))
                return g * 2

        x = m.tensor([1.0, 2.0], requires_grad=True)
        F.apply(x).sum().backward()
        m.autograd.grad(F.apply(x).sum(), x, create_graph=True)
        return log

    both(prog)


def test_needs_input_grad_and_no_graph_cases():
    def prog(m):
        seen = []

        class F(m.autograd.Function):
            @staticmethod
            def forward(ctx, x, y, k):
                seen.append((ctx.needs_input_grad, ctx.saved_tensors))
                ctx.save_for_backward(x)
                return x * y * k

            @staticmethod
            def backward(ctx, g):
                return g, g, None

        x = m.tensor([1.0, 2.0], requires_grad=True)
        c = m.tensor([3.0, 4.0])
        a = F.apply(x, c, 2)
        with m.no_grad():
            b = F.apply(x, c, 2)
        d = F.apply(c, c, 2)
        return seen, a, b, b.grad_fn is None, d, d.grad_fn is None

    both(prog)


# --- numeric gradients (float64) ----------------------------------------------------------
def _vjp_check(make_fn, arrays, n_out_pos, extra_args=(), seed=0):
    """Analytic vjp through the custom Function vs central differences, in float64, and the
    same analytic vjp computed by torch when installed."""
    rng = np.random.default_rng(seed)

    def run(m, arrs, want_grad):
        ts = [m.tensor(a, dtype=m.float64, requires_grad=want_grad) for a in arrs]
        outs = make_fn(m).apply(*ts, *extra_args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        return ts, [outs[i] for i in n_out_pos]

    _, outs = run(tapegrad, arrays, False)
    cots = [rng.standard_normal(o.shape) for o in outs]

    def f(arrs):
        return [o.numpy() for o in run(tapegrad, arrs, False)[1]]

    ts, outs = run(tapegrad, arrays, True)
    grads = tapegrad.autograd.grad(
        outs, ts, [tapegrad.tensor(v, dtype=tapegrad.float64) for v in cots])
    num = numeric_vjp(f, arrays, range(len(arrays)), cots, 1e-6)
    for g, n in zip(grads, num):
        np.testing.assert_allclose(g.numpy(), n, rtol=1e-6, atol=1e-8)
    torch = pytest.importorskip("torch")
    tts, touts = run(torch, arrays, True)
    tgrads = torch.autograd.grad(touts, tts, [torch.tensor(v) for v in cots])
    for g, t in zip(grads, tgrads):
        np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-12, atol=1e-12)


def test_gradients_numerically_single_output():
    rng = np.random.default_rng(1)
    _vjp_check(cube_mul_fn, [rng.standard_normal((2, 3)), rng.standard_normal((2, 3))], [0],
               extra_args=(1.5,))


def test_gradients_numerically_multiple_outputs():
    rng = np.random.default_rng(2)
    _vjp_check(two_out_fn, [rng.standard_normal(4), rng.standard_normal(4)], [0, 2])


def test_double_backward_through_function():
    rng = np.random.default_rng(3)
    xa, ya = rng.standard_normal(3), rng.standard_normal(3)

    def first_grads(m, xs, ys, create):
        x = m.tensor(xs, dtype=m.float64, requires_grad=True)
        y = m.tensor(ys, dtype=m.float64, requires_grad=True)
        out = cube_mul_fn(m).apply(x, y, 2.0)
        gx, gy = m.autograd.grad(out.sum(), (x, y), create_graph=create)
        return x, y, gx, gy

    # numeric second derivative: central differences of the (first) gradient function
    def f(arrs):
        _, _, gx, gy = first_grads(tapegrad, arrs[0], arrs[1], False)
        return [gx.numpy(), gy.numpy()]

    v = [rng.standard_normal(3), rng.standard_normal(3)]
    num = numeric_vjp(f, [xa, ya], [0, 1], v, 1e-6)
    x, y, gx, gy = first_grads(tapegrad, xa, ya, True)
    assert gx.requires_grad and gy.requires_grad
    ggx, ggy = tapegrad.autograd.grad(
        (gx, gy), (x, y), [tapegrad.tensor(a, dtype=tapegrad.float64) for a in v])
    np.testing.assert_allclose(ggx.numpy(), num[0], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ggy.numpy(), num[1], rtol=1e-6, atol=1e-8)

    def prog(m):
        x, y, gx, gy = first_grads(m, xa, ya, True)
        return (gx, gy) + tuple(m.autograd.grad((gx * gy).sum(), (x, y)))

    both(prog, atol=1e-12, rtol=1e-12)


# --- saved tensors --------------------------------------------------------------------------
def test_saved_input_modified_in_place():
    def saved_nonleaf(m):
        class SaveIn(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * 2

        x = m.tensor([1.0, 2.0], requires_grad=True)
        h = x * 1
        z = SaveIn.apply(h)
        with m.no_grad():
            h.mul_(2)
        z.sum().backward()

    def saved_leaf(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        z = scale_fn(m).apply(x, 2)
        x.detach().mul_(2)
        return z.grad_fn.saved_tensors

    same_error(saved_nonleaf)
    same_error(saved_leaf)


def test_saved_output_modified_in_place():
    def prog(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = exp_fn(m).apply(x)
        with m.no_grad():
            y.mul_(2)
        y.sum().backward()

    same_error(prog)


def test_saved_tensors_freed_after_backward():
    def with_saved(m):
        y = exp_fn(m).apply(m.tensor([1.0, 2.0], requires_grad=True))
        y.sum().backward()
        return y.grad_fn.saved_tensors

    def nothing_saved(m):
        class NoSave(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

        y = NoSave.apply(m.tensor([1.0], requires_grad=True))
        y.sum().backward()
        return y.grad_fn.saved_tensors

    def twice(m):
        y = exp_fn(m).apply(m.tensor([1.0, 2.0], requires_grad=True))
        y.sum().backward()
        y.sum().backward()

    same_error(with_saved)
    same_error(nothing_saved)
    same_error(twice)

    def retained(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = exp_fn(m).apply(x)
        y.sum().backward(retain_graph=True)
        n_saved = len(y.grad_fn.saved_tensors)
        y.sum().backward()
        return x.grad, n_saved

    both(retained)


def test_save_none_and_non_tensors():
    def prog(m):
        got = []

        class SaveNone(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(None, x)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                got.append(ctx.saved_tensors)
                return g

        class Bad(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x, 3)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

        x = m.tensor([1.0, 2.0], requires_grad=True)
        SaveNone.apply(x).sum().backward()
        with m.no_grad():
            quiet = Bad.apply(x)  # nothing is saved without a graph: no error
        return got, quiet, Bad.apply(m.ones(2))

    both(prog)

    def bad(m):
        class Bad(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x, 3)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

        Bad.apply(m.tensor([1.0], requires_grad=True))

    same_error(bad)


def test_clear_saved_tensors_on_access():
    def prog(m):
        class Once(m.autograd.Function):
            clear_saved_tensors_on_access = True

            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                ctx.got = [ctx.saved_tensors for _ in range(2)]  # the second one raises
                return g

        Once.apply(m.tensor([1.0], requires_grad=True)).sum().backward()

    same_error(prog)


# --- several outputs, materialized gradients ---------------------------------------------
def _materialize_prog(mat):
    def prog(m):
        log = []

        class Multi(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(mat)
                return x * 2, "hello", None, (x * 3).double(), m.arange(3)

            @staticmethod
            def backward(ctx, *gs):
                log.append([None if g is None else g for g in gs])
                g0, _, _, g3, _ = gs
                r = 0
                if g0 is not None:
                    r = r + g0 * 2
                if g3 is not None:
                    r = r + g3 * 3
                return r

        x = m.tensor([1.0, 2.0], requires_grad=True)
        outs = Multi.apply(x)
        info = ([type(o).__name__ for o in outs], [getattr(o, "output_nr", None) for o in outs],
                outs[3].requires_grad, outs[4].requires_grad, outs[3].grad_fn is outs[0].grad_fn)
        outs[0].sum().backward(retain_graph=True)
        g_first = x.grad.clone()
        outs[3].sum().backward()
        return info, log, g_first, x.grad

    return prog


def test_materialized_grads_default():
    both(_materialize_prog(True))


def test_materialize_grads_false():
    both(_materialize_prog(False))


def test_function_runs_when_no_gradient_reaches_it():
    def prog(m):
        log = []

        class F(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                log.append(g)
                return g * 2

        class Drop(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 3

            @staticmethod
            def backward(ctx, g):
                return None

        x = m.tensor([1.0, 2.0], requires_grad=True)
        Drop.apply(F.apply(x)).sum().backward()
        first = x.grad
        x.grad = None
        Drop.apply(x * 5).sum().backward()
        return log, first, x.grad

    both(prog)


def test_mark_non_differentiable():
    def prog(m):
        log = []

        class Sort(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                s, i = x.sort()
                y = x * 2
                ctx.mark_non_differentiable(i, y)
                return s, i, y

            @staticmethod
            def backward(ctx, gs, gi, gy):
                log.append((gs, gi, gy))
                return gs

        class Pass(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_non_differentiable(x)
                return x

            @staticmethod
            def backward(ctx, g):
                return g

        x = m.tensor([3.0, 1.0, 2.0], requires_grad=True)
        s, i, y = Sort.apply(x)
        s.sum().backward()
        p = Pass.apply(x)
        return (s, i, y, y.grad_fn is None, log, x.grad, p, p is x,
                p._base is None, p.data_ptr() == x.data_ptr())

    both(prog)


def test_non_tensor_and_odd_outputs():
    def prog(m):
        def make(ret):
            class F(m.autograd.Function):
                @staticmethod
                def forward(ctx, x):
                    return ret(x)

                @staticmethod
                def backward(ctx, *gs):
                    return gs[0]

            return F

        x = m.tensor([1.0, 2.0], requires_grad=True)
        nt = collections.namedtuple("NT", "a b")
        lst = make(lambda x: [x * 2, x * 3]).apply(x)
        nested = make(lambda x: (x * 2, (x * 3,))).apply(x)
        named = make(lambda x: nt(x * 2, x * 3)).apply(x)
        return (lst, make(lambda x: 3).apply(x), make(lambda x: None).apply(x), nested,
                type(named).__name__, named, make(lambda x: x.sum() > 0).apply(x),
                make(lambda x: (x * 1j)).apply(x))

    both(prog)


def test_list_argument_is_not_an_input():
    def prog(m):
        class F(m.autograd.Function):
            @staticmethod
            def forward(ctx, xs):
                ctx.nig = ctx.needs_input_grad
                return xs[0] * 2

            @staticmethod
            def backward(ctx, g):
                return None

        x = m.tensor([1.0, 2.0], requires_grad=True)
        return F.apply([x, x])

    both(prog)


# --- inputs returned as they are -------------------------------------------------------------
def test_inputs_returned_as_is_become_aliases():
    def prog(m):
        class Id(m.autograd.Function):
            @staticmethod
            def forward(ctx, x, y):
                return x, y

            @staticmethod
            def backward(ctx, g1, g2):
                return g1 * 2, g2

        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = m.tensor([3.0, 4.0])
        a, b = Id.apply(x, y)
        info = (a is x, b is y, a._base is x, b._base is y, a.is_leaf, b.requires_grad,
                str(a), str(b), a.grad_fn is b.grad_fn, b.output_nr,
                a.data_ptr() == x.data_ptr())
        a.sum().backward()
        with m.no_grad():
            c, d = Id.apply(x, y)
            y.add_(1)  # the aliases share y's version counter
        return info, b._version, x.grad, c is x, d is y, c.requires_grad, c._base is x, str(d)

    both(prog)


def test_input_returned_as_is_and_saved():
    def ctx_style(m):
        seen = []

        class C(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x

            @staticmethod
            def backward(ctx, g):
                (i,) = ctx.saved_tensors
                seen.append((i is x, i.grad_fn is None))
                return g

        x = m.tensor([1.0, 2.0], requires_grad=True)
        C.apply(x).sum().backward()
        return seen, x.grad

    both(ctx_style)

    def setup_style(m):
        class S(m.autograd.Function):
            @staticmethod
            def forward(x):
                return x

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(output)

            @staticmethod
            def backward(ctx, g):
                return g

        S.apply(m.tensor([1.0, 2.0], requires_grad=True))

    same_error(setup_style)


def test_view_outputs_carry_pytorchs_inplace_message():
    """In-place changes of a view a Function returned are refused by PyTorch; tapegrad keeps
    the message on the output (`_extra['view_error']`) for the in-place machinery."""
    torch = pytest.importorskip("torch")

    def outs(m):
        class Id(m.autograd.Function):
            @staticmethod
            def forward(ctx, x, y):
                return x, y

            @staticmethod
            def backward(ctx, g1, g2):
                return g1, g2

        class V(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x[:1]

            @staticmethod
            def backward(ctx, g):
                return m.cat([g, m.zeros(1)])

        x = m.tensor([1.0, 2.0], requires_grad=True)
        a, b = Id.apply(x, m.tensor([3.0, 4.0]))
        return [a, b, V.apply(x.clone())]

    for ours, theirs in zip(outs(tapegrad), outs(torch)):
        with pytest.raises(RuntimeError) as e:
            theirs.mul_(2)
        assert ours._extra["view_error"] == str(e.value)


# --- mark_dirty ------------------------------------------------------------------------------
def dirty_fn(m, save=False):
    class Double(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            if save:
                ctx.save_for_backward(x)
            return x

        @staticmethod
        def backward(ctx, g):
            if save:
                (x,) = ctx.saved_tensors
                ctx.saved_grad_fn = x.grad_fn is ctx
            return g * 2

    return Double


def test_mark_dirty_rebases_history():
    def prog(m):
        a = m.tensor([1.0, 2.0], requires_grad=True)
        b = a.clone()
        r = dirty_fn(m).apply(b)
        info = (r is b, str(b), b._version, b.grad_fn.name(), b.output_nr,
                b.grad_fn.next_functions[0][0].name())
        r.sum().backward()
        b2 = a.clone()
        r2 = dirty_fn(m, save=True).apply(b2)
        (r2 * r2).sum().backward()
        return info, a.grad, r2.grad_fn.saved_grad_fn

    both(prog)


def test_mark_dirty_invalidates_earlier_saves():
    def prog(m):
        a = m.tensor([1.0, 2.0], requires_grad=True)
        b = a.clone()
        c = b * b
        dirty_fn(m).apply(b)
        c.sum().backward()

    same_error(prog)


def test_mark_dirty_without_graph():
    def prog(m):
        a = m.tensor([1.0, 2.0], requires_grad=True)
        t = m.tensor([1.0, 2.0])
        r = dirty_fn(m).apply(t)
        b = a.clone()
        with m.no_grad():
            s = dirty_fn(m).apply(b)
        return (r is t, r, t._version, s is b, s.requires_grad, s.grad_fn is None,
                str(b), b._version)

    both(prog)


def test_mark_dirty_errors_and_warning():
    def leaf(m):
        dirty_fn(m).apply(m.tensor([1.0, 2.0], requires_grad=True))

    def not_returned(m):
        class D2(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                ctx.mark_dirty(x)
                return x * 1

            @staticmethod
            def backward(ctx, g):
                return g

        D2.apply(m.tensor([1.0], requires_grad=True).clone())

    def bad_arg(m):
        class D(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_dirty(x, 3)
                ctx.mark_non_differentiable(3)
                return x

            @staticmethod
            def backward(ctx, g):
                return g

        D.apply(m.tensor([1.0]).clone())

    def bad_non_diff(m):
        class N(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_non_differentiable(x, 3)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

        N.apply(m.tensor([1.0]))

    def view_multi(m):
        class D(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                ctx.mark_dirty(x)
                return x, x * 2

            @staticmethod
            def backward(ctx, g, h):
                return g

        D.apply(m.tensor([1.0, 2.0], requires_grad=True).clone()[:1])

    for prog in (leaf, not_returned, bad_arg, bad_non_diff):
        same_error(prog)
    same_error_raw(view_multi)

    def not_input(m):
        class D3(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                y = x * 1
                ctx.mark_dirty(y)
                return y

            @staticmethod
            def backward(ctx, g):
                return g

        out = []
        msgs = warnings_of(lambda: out.append(D3.apply(m.tensor([1.0], requires_grad=True))))
        cpp_suffix = r" \(Triggered internally at .*\)$"
        return [re.sub(cpp_suffix, "", w) for w in msgs if "mark_dirty" in w], str(out[0])

    both(not_input)


def test_mark_dirty_with_hooks_and_retain_grad():
    def prog(m):
        a = m.tensor([1.0, 2.0], requires_grad=True)
        b = a * 1
        b.retain_grad()
        log = []
        b.register_hook(lambda g: log.append(("before", g)))
        dirty_fn(m).apply(b)
        b.register_hook(lambda g: log.append(("after", g)))
        (b * 3).sum().backward()
        return b.grad, a.grad, log

    both(prog)


def test_node_and_tensor_hooks_on_function_nodes():
    def prog(m):
        class F(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, g1, g2):
                return g1 * 2 + g2 * 3

        x = m.tensor([1.0, 2.0], requires_grad=True)
        p, q = F.apply(x)
        log = []
        p.grad_fn.register_prehook(lambda go: log.append(("pre", go)))
        p.grad_fn.register_hook(lambda gi, go: log.append(("post", gi, go)))
        p.register_hook(lambda g: log.append(("tensor", g)))
        p.sum().backward()
        return log, x.grad

    both(prog)


def test_mark_dirty_on_view():
    """The base of a dirty view is rebased through CopySlices, as in torch."""

    def prog(m):
        x = m.tensor([1.0, 2.0, 3.0], dtype=m.float64, requires_grad=True)
        a = x.clone()
        w = a[1:]
        out = dirty_fn(m).apply(a[:2])
        (a * m.tensor([1.0, 10.0, 100.0], dtype=m.float64)).sum().backward()
        return (out.detach(), a.detach(), type(a.grad_fn).__name__, type(out.grad_fn).__name__,
                type(w.grad_fn).__name__, x.grad)

    both(prog)
    same_error(lambda m: dirty_fn(m).apply(m.tensor([1.0, 2.0], requires_grad=True)[:1]))


# --- what backward returns ------------------------------------------------------------------
def _ret_fn(m, n_args, ret, tensor_pos=(0,)):
    """A Function over n_args arguments (tensors at tensor_pos) whose backward returns
    ret(g, m)."""

    class Bad(m.autograd.Function):
        @staticmethod
        def forward(ctx, *args):
            return args[tensor_pos[-1]] * 2

        @staticmethod
        def backward(ctx, g):
            return ret(g, m)

    return Bad


@pytest.mark.parametrize("case", [
    "too_few", "extra_not_none", "grad_for_int", "grad_for_int_first", "int_for_tensor",
    "bad_shape", "ndarray_for_tensor",
])
def test_backward_return_errors(case):
    specs = {
        "too_few": (3, lambda g, m: g, (0, 1)),
        "extra_not_none": (2, lambda g, m: (g, None, g), (0,)),
        "grad_for_int": (2, lambda g, m: (g, g), (0,)),
        "grad_for_int_first": (2, lambda g, m: (3, g), (1,)),
        "int_for_tensor": (2, lambda g, m: (3, None), (0,)),
        "bad_shape": (3, lambda g, m: (None, None, m.ones(4)), (1, 2)),
        "ndarray_for_tensor": (1, lambda g, m: np.ones(2), (0,)),
    }
    n, ret, pos = specs[case]

    def prog(m):
        args = [2] * n
        for p in pos:
            args[p] = m.tensor([1.0, 2.0], requires_grad=True)
        _ret_fn(m, n, ret, pos).apply(*args).sum().backward()

    same_error(prog)


def test_backward_returns_accepted():
    def prog(m):
        res = []
        y = m.tensor([3.0, 4.0])
        cases = [
            (2, lambda g, m: (g, None, None), (0,)),  # extra trailing Nones are dropped
            (2, lambda g, m: (m.ones(5), g), (0, 1)),  # input 0 needs no grad: ignored
            (1, lambda g, m: m.ones(3, 2), (0,)),  # broadcast gradient summed back
            (1, lambda g, m: g.double(), (0,)),  # cast to the input's dtype
            (1, lambda g, m: None, (0,)),  # no gradient at all
            (1, lambda g, m: [g], (0,)),  # a list is one (bad) value: see errors
        ]
        for n, ret, pos in cases[:-1]:
            x = m.tensor([1.0, 2.0], requires_grad=True)
            args = [2] * n
            for p in pos:
                args[p] = x
            if len(pos) == 2:
                args[pos[0]] = y
            _ret_fn(m, n, ret, pos).apply(*args).sum().backward()
            res.append(x.grad)
        return res

    both(prog)

    def as_list(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        _ret_fn(m, 1, lambda g, m: [g]).apply(x).sum().backward()

    same_error(as_list)


def test_missing_or_duplicate_backward():
    def none(m):
        class NoBack(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

        NoBack.apply(m.tensor([1.0], requires_grad=True)).sum().backward()

    def dup(m):
        class Both(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

            @staticmethod
            def vjp(ctx, g):
                return g

        Both.apply(m.tensor([1.0], requires_grad=True)).sum().backward()

    def no_forward(m):
        class NoFwd(m.autograd.Function):
            @staticmethod
            def backward(ctx, g):
                return g

        NoFwd.apply(m.tensor([1.0], requires_grad=True))

    for prog in (none, dup, no_forward):
        same_error(prog)

    def vjp_only(m):
        class V(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def vjp(ctx, g):
                return g * 3

        x = m.tensor([1.0, 2.0], requires_grad=True)
        V.apply(x).sum().backward()
        return x.grad

    both(vjp_only)


def test_static_methods_of_the_base_class():
    for call in (
        lambda m: m.autograd.Function.forward(None, m.ones(1)),
        lambda m: m.autograd.Function.backward(None, m.ones(1)),
        lambda m: m.autograd.Function.vjp(None, m.ones(1)),
        lambda m: m.autograd.Function.jvp(None, m.ones(1)),
        lambda m: m.autograd.Function.setup_context(None, (), None),
        lambda m: m.autograd.Function.vmap(None, (), m.ones(1)),
    ):
        same_error(call)

    def names(m):
        F = m.autograd.Function
        return (F.vjp is F.backward, scale_fn(m).vjp is F.backward, F.generate_vmap_rule,
                F.clear_saved_tensors_on_access, F.boxed_grads_call,
                m.autograd.function.Function is F)

    both(names)


def test_instantiating_a_function():
    def prog(m):
        fn_cls = scale_fn(m)
        got = []
        msgs = warnings_of(lambda: got.append(fn_cls()))
        return [re.sub(r"<class '[^']*'>", "<class>", w) for w in msgs]

    both(prog)

    def call(m):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inst = scale_fn(m)()
        inst(m.ones(1), 2)

    same_error_raw(call)


def test_grad_fn_apply_calls_backward():
    def prog(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = scale_fn(m).apply(x, 3)
        return y.grad_fn.apply(m.ones(2))

    both(prog)


def test_boxed_grads_call():
    def prog(m):
        log = []

        class Boxed(m.autograd.Function):
            boxed_grads_call = True

            @staticmethod
            def forward(ctx, x):
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, grads):
                log.append((type(grads).__name__, len(grads)))
                return grads[0] * 2 + grads[1] * 3

        x = m.tensor([1.0, 2.0], requires_grad=True)
        a, b = Boxed.apply(x)
        (a + b).sum().backward()
        return log, x.grad

    both(prog)


# --- once_differentiable ------------------------------------------------------------------
def once_fn(m):
    class Cube(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @m.autograd.function.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            ctx.mode = m.is_grad_enabled()
            return 3 * x ** 2 * g

    return Cube


def test_once_differentiable():
    def prog(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        v = m.ones(2, requires_grad=True)
        y = once_fn(m).apply(x)
        gx, = m.autograd.grad(y, x, v, create_graph=True)
        info = (str(gx), _name(gx.grad_fn), len(gx.grad_fn.next_functions), gx.is_leaf,
                y.grad_fn.mode, _addr_free(repr(gx.grad_fn)))
        y2 = once_fn(m).apply(x)
        const, = m.autograd.grad(y2, x, m.ones(2), create_graph=True)
        return info, const, once_fn(m).backward.__name__

    both(prog)

    def twice(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        v = m.ones(2, requires_grad=True)
        gx, = m.autograd.grad(once_fn(m).apply(x), x, v, create_graph=True)
        gx.sum().backward()

    def unused(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        v = m.ones(2, requires_grad=True)
        gx, = m.autograd.grad(once_fn(m).apply(x), x, v, create_graph=True)
        m.autograd.grad(gx.sum(), x)

    same_error(twice)
    same_error(unused)


def test_once_differentiable_with_none_gradient():
    def prog(m):
        class Two(m.autograd.Function):
            @staticmethod
            def forward(ctx, x, y):
                return x * y

            @staticmethod
            @m.autograd.function.once_differentiable
            def backward(ctx, g):
                return g * 2, None

        x = m.tensor([1.0, 2.0], requires_grad=True)
        v = m.ones(2, requires_grad=True)
        gx, = m.autograd.grad(Two.apply(x, m.ones(2)), x, v, create_graph=True)
        return gx, [None if n is None else _name(n) for n, _ in gx.grad_fn.next_functions]

    both(prog)


def test_with_gradcheck_anomaly_nesting_and_inference():
    def prog(m):
        class Sq(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        class Nan(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * float("nan")

        class Outer(m.autograd.Function):  # uses Sq in forward (not recorded) and backward
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return Sq.apply(x) * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 3 * Sq.apply(x) * g

        x = m.tensor([1.0, 2.0], requires_grad=True, dtype=m.float64)
        checks = (m.autograd.gradcheck(Sq.apply, (x,)), m.autograd.gradgradcheck(Sq.apply, (x,)),
                  m.autograd.gradcheck(Outer.apply, (x,)))
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with m.autograd.detect_anomaly():
                nan_err = error(lambda: Nan.apply(x).sum().backward())
        y = Outer.apply(x)
        g, = m.autograd.grad(y.sum(), x, create_graph=True)
        gg = m.autograd.grad(g.sum(), x)
        s = Sq.apply(x)
        s.retain_grad()
        (s * 3).sum().backward()
        with m.inference_mode():
            z = Sq.apply(x)
        return checks, nan_err, str(y), g, gg, s.grad, x.grad, z, z.is_inference()

    both(prog)


# --- ctx helpers ----------------------------------------------------------------------------
def test_ctx_deprecated_and_checked_helpers():
    def save_fwd(m):
        class Sv(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_forward(3)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

        Sv.apply(m.ones(1))

    same_error(save_fwd)

    def deprecated(m):
        class Ms(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_shared_storage((x, x))
                ctx.save_for_backward(x)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

        out = []
        x = m.tensor([1.0], requires_grad=True)
        w1 = warnings_of(lambda: out.append(Ms.apply(x)))
        w2 = warnings_of(lambda: out.append(out[0].grad_fn.saved_variables))
        fn = out[0].grad_fn
        return w1, w2, out[1][0] is x, fn.to_save, fn.dirty_tensors, fn.non_differentiable

    both(deprecated)


def test_exports():
    from tapegrad.autograd import Function
    from tapegrad.autograd.function import FunctionCtx, once_differentiable

    assert Function is tapegrad.autograd.Function
    assert issubclass(Function, FunctionCtx)
    assert callable(once_differentiable)
    assert "Function" in tapegrad.autograd.__all__

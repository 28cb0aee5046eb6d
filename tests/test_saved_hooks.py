"""Saved-tensor hooks (autograd.graph.saved_tensors_hooks, save_on_cpu,
disable_saved_tensors_hooks) and the grad_fn._saved_<name> / _raw_saved_<name> attributes,
compared with PyTorch."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tapegrad
from _helpers import both, error, leaf, numeric_vjp, same_error, to_numpy
from tapegrad.autograd import graph as tg_graph

X = [0.5, -1.25, 2.0]
Y = [1.5, 0.75, -0.5]


def _desc(m, t):
    """What a hook sees of a tensor: shape, grad_fn name, requires_grad, values."""
    fn = t.grad_fn
    return (tuple(t.shape), fn.name() if fn is not None else None, t.requires_grad,
            to_numpy(t).round(5).tolist())


def _logging_hooks(m, log, tag=""):
    def pack(t):
        log.append(("pack" + tag, _desc(m, t)))
        return t.detach()

    def unpack(p):
        log.append(("unpack" + tag, _desc(m, p)))
        return p

    return m.autograd.graph.saved_tensors_hooks(pack, unpack)


# --- saved_tensors_hooks ---------------------------------------------------------------------
def test_pack_at_save_time_unpack_at_backward():
    def prog(m):
        a, b = leaf(m, X), leaf(m, Y)
        log = []
        with _logging_hooks(m, log):
            y = (a * b).exp().sin()
        packed = sorted(log, key=str)  # (the order within one op may differ)
        log.clear()
        y.sum().backward()
        return packed, sorted(log, key=str), a.grad, b.grad

    packed, unpacked, _, _ = both(prog)
    assert len(packed) == 4 and len(unpacked) == 4  # self, other, exp's result, sin's self


def test_hooks_cover_outputs_and_inputs_of_every_op():
    def prog(m):
        x = leaf(m, [X], "float64")
        w = leaf(m, [[0.5, 1.0], [-1.0, 2.0], [0.25, 0.5]], "float64")
        log = []
        with _logging_hooks(m, log):
            h = (x @ w).tanh()
            out = m.nn.functional.softmax(h, 1).log().sum()
        names = sorted(str(d[1]) for _, d in log)
        out.backward()
        return names, x.grad, w.grad

    names, _, _ = both(prog)
    assert "TanhBackward0" in names and "SoftmaxBackward0" in names


def test_unpack_result_is_used_by_backward():
    # pack doubles the saved values: the gradients change accordingly
    def prog(m):
        a, b = leaf(m, X), leaf(m, Y)
        with m.autograd.graph.saved_tensors_hooks(lambda t: t.detach() * 2, lambda p: p):
            y = a * b
        y.sum().backward()
        return a.grad, b.grad

    ga, gb = both(prog)
    np.testing.assert_allclose(to_numpy(ga), 2 * np.array(Y, np.float32))


def test_nesting_innermost_wins_then_outer_again():
    def prog(m):
        x = leaf(m, X)
        log = []
        with _logging_hooks(m, log, "A"):
            a = x.exp()
            with _logging_hooks(m, log, "B"):
                b = a.sin()
            c = b.cos()
        tags = [k for k, _ in log]
        log.clear()
        c.sum().backward()
        return tags, [k for k, _ in log], x.grad

    tags, unpacked, _ = both(prog)
    assert tags == ["packA", "packB", "packA"]
    assert unpacked == ["unpackA", "unpackB", "unpackA"]
    assert tg_graph._hooks_open == 0


def test_no_pack_without_graph():
    def prog(m):
        x = leaf(m, X)
        log = []
        with _logging_hooks(m, log):
            with m.no_grad():
                x.exp()
            x.detach().exp()
            m.tensor(X).sin()
        return log

    assert both(prog) == []


def test_pack_only_what_backward_needs():
    # mul keeps each operand only for the other's gradient, div keeps self only for other's
    def prog(m):
        a, c = leaf(m, X), m.tensor(Y)
        counts = []
        for f in (lambda: a * 2, lambda: a * c, lambda: c * a, lambda: a / 2, lambda: a / c,
                  lambda: c / a, lambda: a * a):
            log = []
            with _logging_hooks(m, log):
                f()
            counts.append(sorted((d for _, d in log), key=str))
        return counts

    both(prog)


def test_grad_mode_inside_hooks():
    def prog(m):
        x = leaf(m, X)
        seen = []

        def pack(t):
            seen.append(("pack", m.is_grad_enabled()))
            return t

        def unpack(p):
            seen.append(("unpack", m.is_grad_enabled()))
            return p

        with m.autograd.graph.saved_tensors_hooks(pack, unpack):
            y = x.exp().sum()
            (g,) = m.autograd.grad(y, x, create_graph=True)
        y2 = x.sin().sum()
        with m.autograd.graph.saved_tensors_hooks(pack, unpack):
            y2 = x.sin().sum()
        y2.backward()
        return seen, g

    both(prog)


def test_pack_hook_records_no_graph():
    # the pack hook runs without grad mode: ops inside it save nothing (no recursion)
    def prog(m):
        x = leaf(m, X)
        calls = []

        def pack(t):
            calls.append(1)
            return t * 1

        with m.autograd.graph.saved_tensors_hooks(pack, lambda p: p):
            y = x.exp()
        return len(calls), y.grad_fn._saved_result.requires_grad

    assert both(prog) == (1, True)


def test_unpack_called_once_per_use_with_retain_graph():
    def prog(m):
        x = leaf(m, X)
        log = []
        with _logging_hooks(m, log):
            y = x.exp().sum()
        y.backward(retain_graph=True)
        y.backward()
        return [k for k, _ in log], x.grad

    kinds, _ = both(prog)
    assert kinds == ["pack", "unpack", "unpack"]


def test_unpack_must_return_a_tensor():
    class Foo:
        pass

    for bad in (5, None, Foo()):
        def fn(m, bad=bad):
            x = leaf(m, X)
            with m.autograd.graph.saved_tensors_hooks(lambda t: t.detach(), lambda p: bad):
                y = x.exp()
            y.sum().backward()

        same_error(fn)

    def attr(m):
        x = leaf(m, X)
        with m.autograd.graph.saved_tensors_hooks(lambda t: t.detach(), lambda p: 5):
            y = x.exp()
        return y.grad_fn._saved_result

    same_error(attr)


def test_unpack_with_other_shape_or_dtype():
    def wrong_shape(m):
        a, b = leaf(m, X), leaf(m, Y)
        with m.autograd.graph.saved_tensors_hooks(lambda t: t.detach(), lambda p: m.ones(2)):
            y = a * b
        y.sum().backward()

    same_error(wrong_shape)

    def wrong_dtype(m):
        a, b = leaf(m, X), leaf(m, Y)
        with m.autograd.graph.saved_tensors_hooks(
                lambda t: t.detach(), lambda p: p.to(m.float64) * 3):
            y = a * b
        s = y.grad_fn._saved_self
        y.sum().backward()
        return s, a.grad, b.grad  # the leaves' gradients keep their dtype

    both(wrong_dtype)


def test_pack_hook_modifying_input_in_place():
    def fn(m):
        x = leaf(m, X)
        with m.autograd.graph.saved_tensors_hooks(lambda t: t.detach().mul_(1), lambda p: p):
            x.exp()

    same_error(fn)


def test_pack_hook_exception_propagates_and_stack_is_restored():
    def fn(m):
        x = leaf(m, X)

        def pack(t):
            raise ValueError("boom")

        with m.autograd.graph.saved_tensors_hooks(pack, lambda p: p):
            x.exp()

    same_error(fn)
    assert tg_graph.hook_stack.pairs == () and tg_graph._hooks_open == 0
    x = tapegrad.tensor(X, requires_grad=True)
    assert x.exp().grad_fn._saved_result is not None  # the plain path works again


def test_no_version_check_under_hooks():
    # PyTorch checks versions only for tensors saved without hooks
    def prog(m):
        x = leaf(m, X) * 1
        b = leaf(m, Y)
        with m.autograd.graph.saved_tensors_hooks(lambda t: t, lambda p: p):
            y = x * b
        with m.no_grad():
            x.mul_(2)
        y.sum().backward()
        return b.grad

    both(prog)


def test_unpacked_tensor_takes_the_saved_tensors_place():
    def prog(m):
        x = leaf(m, X)
        c = x.clone()
        with m.autograd.graph.saved_tensors_hooks(lambda t: t.detach(), lambda p: p):
            w = c.sin()
            v = x.sin()
            e = x.exp()
        s_c = w.grad_fn._saved_self
        s_x = v.grad_fn._saved_self
        r = e.grad_fn._saved_result
        return (s_c.grad_fn.name(), s_c.requires_grad, s_x is x, s_x.is_leaf, s_x.requires_grad,
                s_x.grad_fn, r is e, r.grad_fn is e.grad_fn, r._version)

    both(prog)


def test_double_backward_through_hooks():
    def prog(m):
        x = leaf(m, X, "float64")
        with m.autograd.graph.saved_tensors_hooks(lambda t: t.detach(), lambda p: p):
            y = (x.sin() * x).sum()
            (g,) = m.autograd.grad(y, x, create_graph=True)
        (gg,) = m.autograd.grad(g.sum(), x)
        return g, gg

    g, gg = both(prog)
    # d/dx sum(d/dx (x sin x)) = 2 cos x - x sin x
    x = np.array(X)
    num = numeric_vjp(lambda a: [np.cos(a[0]) * a[0] + np.sin(a[0])], [x], [0], [np.ones(3)],
                      1e-6)[0]
    np.testing.assert_allclose(to_numpy(gg), num, rtol=1e-6, atol=1e-8)


def test_hooks_are_per_thread():
    def prog(m):
        x = leaf(m, X)
        log = []
        with _logging_hooks(m, log):
            th = threading.Thread(target=lambda: x.exp())
            th.start()
            th.join()
        return log

    assert both(prog) == []


def test_hook_state_after_use():
    with tapegrad.autograd.graph.saved_tensors_hooks(lambda t: t, lambda p: p):
        assert tg_graph._hooks_open == 1
    assert tg_graph._hooks_open == 0 and tg_graph.hook_stack.pairs == ()


# --- disable_saved_tensors_hooks -------------------------------------------------------------
def test_disable_refuses_hooks_with_the_message():
    def fn(m):
        with m.autograd.graph.disable_saved_tensors_hooks("no hooks here"):
            with m.autograd.graph.saved_tensors_hooks(lambda t: t, lambda p: p):
                pass

    same_error(fn)

    def on_cpu(m):
        with m.autograd.graph.disable_saved_tensors_hooks("no hooks here"):
            with m.autograd.graph.save_on_cpu():
                pass

    same_error(on_cpu)


def test_disable_nested_restores_previous_message():
    def prog(m):
        g = m.autograd.graph
        out = []
        with g.disable_saved_tensors_hooks("outer"):
            with g.disable_saved_tensors_hooks("inner"):
                out.append(error(lambda: g.saved_tensors_hooks(len, len).__enter__()))
            out.append(error(lambda: g.saved_tensors_hooks(len, len).__enter__()))
            x = leaf(m, X)
            out.append(x.exp().grad_fn._saved_result)  # saving itself still works
        with g.saved_tensors_hooks(lambda t: t, lambda p: p):  # enabled again
            out.append(x.sin().grad_fn._saved_self)
        return out

    both(prog)


def test_disable_while_hooks_active_raises():
    def fn(m):
        with m.autograd.graph.saved_tensors_hooks(lambda t: t, lambda p: p):
            with m.autograd.graph.disable_saved_tensors_hooks("disabled now"):
                pass

    same_error(fn)
    with tapegrad.autograd.graph.saved_tensors_hooks(len, len):  # the failed block left no state
        pass


# --- save_on_cpu -----------------------------------------------------------------------------
@pytest.mark.parametrize("pin", [False, True])
def test_save_on_cpu(pin):
    def prog(m):
        x = leaf(m, X, "float64")
        w = leaf(m, Y, "float64")
        with m.autograd.graph.save_on_cpu(pin_memory=pin):
            y = (x * w).exp()
        data = y.grad_fn._raw_saved_result.data
        kept = (str(data[0]), data[1], data[1] is y)
        y.sum().backward()
        return kept, x.grad, w.grad

    both(prog)


def test_save_on_cpu_signature():
    import inspect

    torch = pytest.importorskip("torch")
    ours = inspect.signature(tapegrad.autograd.graph.save_on_cpu).parameters
    theirs = inspect.signature(torch.autograd.graph.save_on_cpu).parameters
    assert [(p.name, p.default) for p in ours.values()] == [
        (p.name, p.default) for p in theirs.values()]
    assert issubclass(tapegrad.autograd.graph.save_on_cpu,
                      tapegrad.autograd.graph.saved_tensors_hooks)


# --- grad_fn._saved_<name> -------------------------------------------------------------------
def _named(m, v, refs, out):
    """A tensor attribute described by what it is: one of refs, the output, or its values."""
    if isinstance(v, (m.Tensor,)):
        for k, r in refs.items():
            if v is r:
                return k
        if v.grad_fn is not None and v.grad_fn is out.grad_fn:
            return ("out", to_numpy(v).round(6).tolist())
        vals = to_numpy(v)
        return (str(v.dtype), (vals if vals.dtype == bool else vals.round(6)).tolist(),
                v.requires_grad)
    if isinstance(v, tuple):
        return tuple(v)
    return v


def _saved_ops(m):
    F = m.nn.functional
    x = leaf(m, [[0.5, 0.25, 0.75, 0.1], [0.3, 0.9, 0.6, 0.2], [0.4, 0.8, 0.15, 0.35]],
             "float64")
    y = leaf(m, [[0.2, 0.6, 0.3, 0.7], [0.5, 0.1, 0.45, 0.65], [0.55, 0.25, 0.85, 0.05]],
             "float64")
    w = leaf(m, [[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6], [0.7, 0.8]], "float64")
    v = leaf(m, [0.5, -0.5, 0.25, 1.0], "float64")
    refs = {"x": x, "y": y, "w": w, "v": v}
    ops = {
        "add": lambda: m.add(x, y, alpha=2), "sub": lambda: m.sub(x, y, alpha=3),
        "rsub": lambda: 2 - x, "mul": lambda: x * y, "mul_int": lambda: x * 2,
        "mul_float": lambda: x * 2.5, "div": lambda: x / y, "div_scalar": lambda: x / 2,
        "pow": lambda: x ** 2, "pow_float": lambda: x ** 2.5, "pow_t": lambda: x ** y,
        "rpow": lambda: 2 ** x,
        "maximum": lambda: m.maximum(x, y), "minimum": lambda: m.minimum(x, y),
        "clamp": lambda: x.clamp(0.2, 0.6), "clamp_min": lambda: x.clamp_min(0.3),
        "clamp_max": lambda: x.clamp_max(0.3), "clamp_t": lambda: x.clamp(y * 0.5, y + 0.2),
        "remainder": lambda: x % y, "where": lambda: m.where(x > 0.5, x, y),
        "mm": lambda: x.mm(w), "mm_t": lambda: x.t().mm(x), "bmm": lambda: m.bmm(x[None], w[None]),
        "mv": lambda: x.mv(v), "dot": lambda: v.dot(v * 2),
        "sum": lambda: x.sum(), "sum_dim": lambda: x.sum(1, keepdim=True),
        "sum_dims": lambda: x.sum((0, 1)), "mean": lambda: x.mean(), "mean_dim": lambda: x.mean(1),
        "softmax": lambda: x.softmax(1), "log_softmax": lambda: x.log_softmax(0),
        "glu": lambda: F.glu(x, 1), "logit": lambda: x.logit(1e-3),
        "gelu": lambda: F.gelu(x, approximate="tanh"), "elu": lambda: F.elu(x, 0.5),
        "leaky_relu": lambda: F.leaky_relu(x, 0.2), "softplus": lambda: F.softplus(x, 2, 10),
        "silu": lambda: F.silu(x), "hardtanh": lambda: F.hardtanh(x, -0.5, 0.5),
    }
    for u in ("neg abs exp log log1p expm1 sqrt rsqrt sin cos tan tanh sigmoid relu reciprocal "
              "asin acos atan sinh cosh asinh atanh log2 log10 exp2 erf erfc lgamma digamma "
              "sinc floor sign").split():
        ops[u] = lambda u=u: getattr(m, u)(x)
    return refs, ops


# names PyTorch exposes that tapegrad's nodes do not keep (they recompute or never save them)
_NOT_KEPT = {"pow_t": {"_saved_result"}, "rpow": {"_saved_result"}}


def test_saved_attributes_match_torch():
    torch = pytest.importorskip("torch")
    t_refs, t_ops = _saved_ops(torch)
    g_refs, g_ops = _saved_ops(tapegrad)
    for key in t_ops:
        t_out, g_out = t_ops[key](), g_ops[key]()
        t_fn, g_fn = t_out.grad_fn, g_out.grad_fn
        assert g_fn.name() == t_fn.name(), key
        names = [n for n in dir(t_fn) if n.startswith("_saved_")]
        for n in names:
            if n in _NOT_KEPT.get(key, ()):
                continue
            want = _named(torch, getattr(t_fn, n), t_refs, t_out)
            got = _named(tapegrad, getattr(g_fn, n), g_refs, g_out)
            if isinstance(want, tuple) and want and isinstance(want[0], str):
                want = (want[0].replace("torch.", "tapegrad."),) + want[1:]
            assert got == want, (key, n, got, want)


def test_saved_self_is_the_input_and_result_rebuilt():
    def prog(m):
        a, b = leaf(m, X), leaf(m, Y)
        p = a * b
        e = a.exp()
        r = e.grad_fn._saved_result
        return (p.grad_fn._saved_self is a, p.grad_fn._saved_other is b, r is e,
                r.grad_fn is e.grad_fn, r.requires_grad)

    assert both(prog) == (True, True, False, True, True)


def test_saved_only_when_needed():
    # PyTorch keeps mul's self only for other's gradient (and the reverse)
    def prog(m):
        a, c = leaf(m, X), m.tensor(Y)
        return ((a * c).grad_fn._saved_self, (a * c).grad_fn._saved_other is c,
                (c * a).grad_fn._saved_other, (a / c).grad_fn._saved_self,
                (c / a).grad_fn._saved_self is c)

    both(prog)


def test_saved_after_backward():
    def freed_tensor(m):
        x = leaf(m, X)
        y = x.exp()
        y.sum().backward()
        return y.grad_fn._saved_result

    same_error(freed_tensor)

    def freed_input(m):
        a, b = leaf(m, X), leaf(m, Y)
        y = a * b
        y.sum().backward()
        return y.grad_fn._saved_self

    same_error(freed_input)

    def kept_args(m):
        x = leaf(m, [[1.0, 2.0], [3.0, 4.0]])
        s, mn, ad = x.sum(1, keepdim=True), x.mean(), m.add(x, x, alpha=2)
        (s.sum() + mn + ad.sum()).backward()
        return (s.grad_fn._saved_dim, s.grad_fn._saved_keepdim, s.grad_fn._saved_self_sym_sizes,
                mn.grad_fn._saved_self_sym_numel, ad.grad_fn._saved_alpha)

    both(kept_args)

    def retained(m):
        x = leaf(m, X)
        y = x.exp()
        y.sum().backward(retain_graph=True)
        return y.grad_fn._saved_result

    both(retained)


def test_unknown_saved_attribute():
    for name in ("_saved_foo", "_raw_saved_foo", "foo", "_raw_saved_alpha"):
        def fn(m, name=name):
            x = leaf(m, X)
            return getattr(m.add(x, x), name)

        same_error(fn)


def test_activation_raw_saved_self():
    def prog(m):
        x = leaf(m, X)
        y = m.nn.functional.gelu(x)
        raw = y.grad_fn._raw_saved_self
        return raw.data is x, raw.unpack() is x, raw.unpack_hook, y.grad_fn._saved_approximate

    both(prog)


# --- grad_fn._raw_saved_<name> ---------------------------------------------------------------
def test_raw_saved_reading():
    def prog(m):
        a, b = leaf(m, X), leaf(m, Y)
        y = a * b
        e = a.exp()
        raw = y.grad_fn._raw_saved_self
        rr = e.grad_fn._raw_saved_result
        p = a * 2  # (kept alive: PyTorch's raw records die with their node)
        got = [raw.data is a, raw.unpack() is a, raw.unpack_hook, rr.data,
               rr.data.requires_grad, p.grad_fn._raw_saved_other.data,
               p.grad_fn._raw_saved_self.data, p.grad_fn._raw_saved_self.unpack()]
        (y.sum() + e.sum()).backward()
        got += [raw.data, raw.unpack_hook]
        return got

    both(prog)

    def output_unpack(m):
        x = leaf(m, X)
        e = x.exp()
        return e.grad_fn._raw_saved_result.unpack()

    same_error(output_unpack)

    def freed_unpack(m):
        a, b = leaf(m, X), leaf(m, Y)
        y = a * b
        raw = y.grad_fn._raw_saved_self
        y.sum().backward()
        return raw.unpack()

    same_error(freed_unpack)


def test_raw_register_hooks():
    def prog(m):
        a, b = leaf(m, X), leaf(m, Y)
        y = a * b
        raw = y.grad_fn._raw_saved_self
        log = []
        raw.register_hooks(lambda t: (log.append("p"), t.detach() * 10)[1],
                           lambda p: (log.append("u"), p)[1])
        packed_now = list(log)
        seen = [raw.data, raw.unpack_hook is not None, y.grad_fn._saved_self]
        y.sum().backward()
        return packed_now, log, seen, b.grad

    packed_now, log, _, _ = both(prog)
    assert packed_now == ["p"] and log == ["p", "u", "u"]

    def output(m):
        x = leaf(m, X)
        e = x.exp()
        seen = []
        e.grad_fn._raw_saved_result.register_hooks(
            lambda t: (seen.append((t.grad_fn, t.requires_grad)), t.detach())[1], lambda p: p)
        r = e.grad_fn._saved_result
        e.sum().backward()
        return seen, r.grad_fn is e.grad_fn, x.grad

    both(output)

    def twice(m):
        a, b = leaf(m, X), leaf(m, Y)
        p = a * b
        raw = p.grad_fn._raw_saved_self
        raw.register_hooks(lambda t: t, lambda p: p)
        raw.register_hooks(lambda t: t, lambda p: p)

    same_error(twice)

    def under_hooks(m):
        a, b = leaf(m, X), leaf(m, Y)
        with m.autograd.graph.saved_tensors_hooks(lambda t: t, lambda p: p):
            y = a * b
        y.grad_fn._raw_saved_self.register_hooks(lambda t: t, lambda p: p)

    same_error(under_hooks)

    def after_free(m):
        a, b = leaf(m, X), leaf(m, Y)
        y = a * b
        raw = y.grad_fn._raw_saved_self
        y.sum().backward()
        raw.register_hooks(lambda t: t, lambda p: p)

    same_error(after_free)

    def on_none(m):
        a = leaf(m, X)
        p = a * 2
        p.grad_fn._raw_saved_self.register_hooks(lambda t: t, lambda p: p)

    same_error(on_none)


def test_raw_register_hooks_on_a_wrapped_number():
    def prog(m):
        a = leaf(m, X)
        y = a * 3
        y.grad_fn._raw_saved_other.register_hooks(lambda t: t.detach() * 2, lambda p: p)
        v = y.grad_fn._saved_other
        y.sum().backward()
        return v, a.grad

    both(prog)


def test_raw_register_hooks_needs_callables():
    a, b = leaf(tapegrad, X), leaf(tapegrad, Y)
    raw = (a * b).grad_fn._raw_saved_self
    with pytest.raises(TypeError, match="incompatible function arguments"):
        raw.register_hooks(1, 2)

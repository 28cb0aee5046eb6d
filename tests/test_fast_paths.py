"""The no-graph fast paths behave exactly as the general ones (checked against torch).

- in-place arithmetic under no_grad (`p.sub_(p.grad, alpha=lr)`, the SGD update) writes
  straight into the storage: same values, version bumps, errors and fallbacks;
- the engine sums broadcast gradients in NumPy, adds the gradients meeting at one input, and
  takes mm/addmm gradients directly when no graph is recorded;
- a leaf's first gradient becomes its .grad without a copy only when nothing else can reach
  that memory: the caller's grad_output, a gradient two leaves share, or one a hook kept stay
  apart from .grad.
"""

from __future__ import annotations

import numpy as np
import pytest

from _helpers import both, same_error

torch = pytest.importorskip("torch")

FLOATS = ["float16", "float32", "float64"]


def _arr(shape, seed, dtype="float32"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# --- in-place updates under no_grad ----------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_"])
@pytest.mark.parametrize("other", ["tensor", "float", "int"])
def test_inplace_update_under_no_grad(dtype, op, other):
    def prog(m):
        dt = getattr(m, dtype)
        p = m.tensor(_arr((3, 4), 0, dtype), requires_grad=True)
        o = {"tensor": m.tensor(_arr((3, 4), 1, dtype) + 2), "float": 0.375, "int": 3}[other]
        with m.no_grad():
            r = getattr(p, op)(o)
            v1 = p._version
            kw = {"alpha": 0.5} if op in ("add_", "sub_") else {}
            getattr(p, op)(o, **kw)
        return r is p, v1, p._version, p.detach().clone(), p.dtype == dt, p.requires_grad

    both(prog)


@pytest.mark.parametrize("alpha", [2, -0.25])
def test_sgd_update_of_a_trained_parameter(alpha):
    def prog(m):
        m.manual_seed(0)
        lin = m.nn.Linear(4, 3)
        x = m.tensor(_arr((5, 4), 2))
        lin(x).pow(2).sum().backward()
        with m.no_grad():
            for p in lin.parameters():
                p.sub_(p.grad, alpha=alpha)
        return [p.detach().clone() for p in lin.parameters()], [p._version for p in
                                                                 lin.parameters()]

    both(prog)


@pytest.mark.parametrize("case", ["broadcast", "other_dtype", "int_target", "int_other",
                                  "zero_dim", "view_target", "same_memory"])
def test_inplace_update_fallbacks(case):
    def prog(m):
        x = m.tensor(_arr((3, 4), 3))
        with m.no_grad():
            if case == "broadcast":
                x.add_(m.tensor(_arr((4,), 4)), alpha=2)
            elif case == "other_dtype":
                x.sub_(m.tensor(_arr((3, 4), 4, "float64")))
            elif case == "int_target":
                x = m.arange(12).reshape(3, 4)
                x.mul_(3)
                x.add_(m.ones(3, 4, dtype=m.int64), alpha=2)
            elif case == "int_other":
                x.add_(m.arange(12).reshape(3, 4))
            elif case == "zero_dim":
                x = m.tensor(1.5)
                x.div_(m.tensor(4.0))
                x.sub_(0.25, alpha=2)
            elif case == "view_target":
                x[1].mul_(m.tensor(_arr((4,), 5)))
                x.t()[0].add_(1.0)
            else:
                x.add_(x)
                x.mul_(x)
        return x.clone(), x._version

    both(prog)


@pytest.mark.parametrize("case", ["overlap", "expanded", "broadcast_into", "complex_alpha",
                                  "complex_one_alpha", "bool_alpha", "int_float_alpha",
                                  "int_complex_alpha", "leaf_grad_mode", "bool_sub"])
def test_inplace_update_errors(case):
    def fn(m):
        x = m.tensor(_arr((3, 4), 6))
        if case == "overlap":
            v = m.arange(6.0)
            with m.no_grad():
                v[1:].add_(v[:-1])
        elif case == "expanded":
            with m.no_grad():
                m.ones(4).expand(3, 4).add_(x)
        elif case == "broadcast_into":
            with m.no_grad():
                x[0].add_(m.ones(3, 4))
        elif case == "complex_alpha":
            with m.no_grad():
                x.add_(x.clone(), alpha=1j)
        elif case == "complex_one_alpha":
            m.sub(x, x, alpha=1 + 0j)
        elif case == "bool_alpha":
            with m.no_grad():
                x.add_(x.clone(), alpha=True)
        elif case == "int_float_alpha":
            with m.no_grad():
                m.arange(3).add_(m.arange(3), alpha=1.0)
        elif case == "int_complex_alpha":
            m.add(m.arange(3), 1, alpha=2j)
        elif case == "leaf_grad_mode":
            m.ones(2, requires_grad=True).sub_(m.ones(2), alpha=0.1)
        else:
            with m.no_grad():
                m.ones(2, dtype=m.bool).sub_(m.ones(2, dtype=m.bool))

    same_error(fn)


def test_inplace_update_in_inference_mode():
    def prog(m):
        x = m.ones(3)
        with m.inference_mode():
            x.add_(m.ones(3), alpha=2)
            y = m.ones(3)
            y.mul_(4.0)
        return x.clone(), x._version, y.is_inference()

    both(prog)


# --- gradients summed, added, multiplied in the engine -------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
def test_broadcast_gradients(dtype):
    def prog(m):
        dt = getattr(m, dtype)
        x = m.tensor(_arr((2, 3, 4), 7, dtype), requires_grad=True)
        b1 = m.tensor(_arr((4,), 8, dtype), requires_grad=True)
        b2 = m.tensor(_arr((3, 1), 9, dtype), requires_grad=True)
        b3 = m.tensor(_arr((1, 1, 4), 10, dtype), requires_grad=True)
        s = m.tensor(0.5, dtype=dt, requires_grad=True)
        y = ((x * b1 + b2) * b3 - s).tanh()
        y.sum().backward()
        return [t.grad for t in (x, b1, b2, b3, s)]

    both(prog, atol=1e-2 if dtype == "float16" else 1e-6, rtol=1e-2 if dtype == "float16" else 1e-5)


def test_broadcast_gradient_seen_by_hooks_and_grad_is_a_view_as_in_torch():
    def prog(m):
        seen = []
        x = m.ones(2, 3)
        b = m.zeros(3, requires_grad=True)
        b.register_hook(lambda g: seen.append((g._is_view(), g.is_contiguous())))
        (x * 2 + b).sum().backward()
        b2 = m.zeros(1, 3, requires_grad=True)
        (g,) = m.autograd.grad((x + b).sum() + (x * b2).sum(), b2)
        (g3,) = m.autograd.grad((x + b).sum(), b)
        return seen, g._is_view(), g3._is_view(), g3, b.grad, b.grad._is_view()

    both(prog)


def test_gradients_meeting_at_one_input():
    def prog(m):
        x = m.tensor(_arr((3,), 11, "float64"), requires_grad=True)
        y = x * 2
        z = y.sin() + y * y + y
        z.sum().backward()
        h = m.tensor(_arr((), 12, "float16"), requires_grad=True)
        (h * 3 + h.exp()).backward()
        return x.grad, h.grad

    both(prog, atol=1e-3)


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64"])
def test_mm_and_addmm_gradients(dtype):
    def prog(m):
        dt = getattr(m, dtype)
        a = m.tensor(_arr((5, 3), 13), dtype=dt, requires_grad=True)
        w = m.tensor(_arr((4, 3), 14), dtype=dt, requires_grad=True)
        b = m.tensor(_arr((4,), 15), dtype=dt, requires_grad=True)
        c = m.tensor(_arr((3, 2), 16), dtype=dt, requires_grad=True)
        out = m.nn.functional.linear(a, w, b)
        out2 = m.addmm(b[:2], a, c, beta=0.5, alpha=-2)
        out3 = m.mm(a, c)
        (out.abs().sum() + out2.abs().sum() + out3.abs().sum()).backward()
        return a.grad, w.grad, b.grad, c.grad

    both(prog, atol=1e-5)


def test_mm_gradient_with_a_hook_changing_its_shape_raises_mm_message():
    def fn(m):
        a = m.ones(2, 3, requires_grad=True)
        w = m.ones(3, 4, requires_grad=True)
        y = m.mm(a, w)
        y.register_hook(lambda g: m.ones(2, 5))
        y.sum().backward()

    same_error(fn)


# --- a leaf's first gradient: stolen only when nothing else reaches it ----------------------
def test_gradient_given_to_backward_is_not_shared_with_grad():
    def prog(m):
        x = m.ones(3, requires_grad=True)
        v = m.tensor([1.0, 2.0, 3.0])
        x.backward(v)
        v.mul_(10)
        first = x.grad.clone()
        x.backward(v)
        return first, x.grad, v

    both(prog)


def test_one_gradient_reaching_two_leaves_is_not_shared():
    def prog(m):
        a = m.zeros(3, requires_grad=True)
        b = m.zeros(3, requires_grad=True)
        (a + b).backward(m.tensor([1.0, 2.0, 3.0]), retain_graph=True)
        c = m.zeros(3, requires_grad=True)
        d = m.zeros(3, requires_grad=True)
        ((c + d) * 2).sum().backward()
        with m.no_grad():
            a.grad.mul_(5)
            c.grad.add_(1)
        return a.grad, b.grad, c.grad, d.grad

    both(prog)


def test_gradient_kept_by_a_hook_is_not_shared_with_grad():
    def prog(m):
        kept = []
        x = m.ones(3, requires_grad=True)
        y = x * 2
        z = y * 3
        z.register_hook(lambda g: kept.append(g))
        w = z + 0
        w.register_hook(lambda g: kept.append(g * 1))
        w.sum().backward(retain_graph=True)
        w.sum().backward()
        return kept, x.grad

    both(prog)


def test_stolen_gradients_accumulate_and_keep_their_layout():
    def prog(m):
        m.manual_seed(1)
        lin = m.nn.Linear(3, 2)
        x = m.tensor(_arr((4, 3), 17))
        for _ in range(3):
            lin(x).tanh().sum().backward()
        w, b = lin.weight.grad, lin.bias.grad
        return (w, b, w.stride(), b.stride(), w.is_contiguous(), w._version, b._version,
                w._is_view(), b._is_view())

    both(prog)


def test_stolen_gradient_is_writeable_and_separate_from_saved_values():
    def prog(m):
        x = m.tensor([0.5, 1.0, 1.5], requires_grad=True)
        y = x.exp()  # saves its output: the gradient x gets is a new tensor
        y.sum().backward(retain_graph=True)
        with m.no_grad():
            x.grad.zero_()
        y.sum().backward()
        return x.grad, y

    both(prog)

"""Complex tensors as views and pairs of reals, compared with PyTorch: the .real/.imag views
(SelectBackward0 over view_as_real, writes and in-place ops through them recorded in the
base's history), view_as_real/view_as_complex, complex/polar, the conjugate-bit queries,
gradcheck/gradgradcheck on complex functions, and the ops PyTorch refuses for complex
numbers. (Gradients of the ops themselves: test_complex_autograd.py.)"""

from __future__ import annotations

import pytest

import tapegrad
from _helpers import both, error, same_error

_TOL = dict(atol=1e-9, rtol=1e-7)  # complex128 against PyTorch


# --- .real / .imag and the other views -----------------------------------------------------------
def test_real_imag_are_select_views():
    def prog(m):
        z = m.tensor([1 + 2j, 3 - 1j], requires_grad=True)
        r, i = z.real, z.imag
        nxt = r.grad_fn.next_functions[0][0]
        return (r, i, m.real(z), m.imag(z), type(r.grad_fn).__name__,
                type(i.grad_fn).__name__, type(nxt).__name__,
                type(nxt.next_functions[0][0]).__name__, r._base is z, i._base is z,
                r.is_contiguous(), r.stride(), i.storage_offset(), r._is_view())

    both(prog)


def test_real_of_a_real_tensor_is_itself_and_imag_refuses():
    def prog(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        return x.real is x, m.real(x) is x

    both(prog)
    same_error(lambda m: m.tensor([1.0]).imag)
    same_error(lambda m: m.imag(m.tensor([1])))


def test_writes_through_real_imag_views_reach_the_base():
    def prog(m):
        z = m.tensor([1 + 2j, 3 - 1j, 0.5j])
        r, i = z.real, z.imag
        r[0] = 10
        i.mul_(2)
        z.real[2] = -1
        z.imag = m.tensor([7.0, 8.0, 9.0])
        z.real = 5
        a = z.clone()
        z.mul_(1j)  # and the views see the base's changes
        return z, r, i, a, z._version, r._version

    both(prog)


def test_inplace_through_real_is_recorded():
    def prog(m):
        z = m.tensor([1 + 2j, 3 - 1j, 0.5 + 0.5j], dtype=m.complex128, requires_grad=True)
        w = z * 1
        w.real.mul_(2)
        name1 = type(w.grad_fn).__name__
        w.imag[1] = 7
        w.real[0:2] += z.imag[1:]
        v = w.real
        v.exp_()
        wt = m.tensor([1 - 1j, 2 + 0.5j, -1j], dtype=m.complex128)
        loss = (w * wt).real.sum() + (w * w.conj()).real.sum()
        g, = m.autograd.grad(loss, z, create_graph=True)
        gg, = m.autograd.grad((g * g.conj()).real.sum(), z)
        return (w, g, gg, name1, type(w.grad_fn).__name__, type(v.grad_fn).__name__,
                w._version)

    both(prog, **_TOL)


def test_inplace_through_view_as_real_and_view_as_complex():
    def prog(m):
        z = m.tensor([[1 + 2j, 3 - 1j], [0.5 + 0.5j, 2j]], dtype=m.complex128,
                     requires_grad=True)
        w = z.clone()
        r = m.view_as_real(w)
        r[:, 0, 1] = r[:, 1, 0] * 3
        w.imag[m.tensor([1, 0]), 0] = m.tensor([1.0, 2.0], dtype=m.float64) * z.real[0]
        x0 = m.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=m.float64,
                      requires_grad=True)
        x = x0 * 1
        c = m.view_as_complex(x)
        c[1:].mul_(1 + 1j)
        c[m.tensor([0, 2])] = c[1] * 2j
        loss = (w * w).real.sum() + (x * x).sum() + (c * c).real.sum()
        gz, gx = m.autograd.grad(loss, (z, x0), create_graph=True)
        ggz, ggx = m.autograd.grad((gz * gz.conj()).real.sum() + (gx ** 3).sum(), (z, x0))
        return w, r, x, c, gz, gx, ggz, ggx, type(x.grad_fn).__name__, x._version

    both(prog, **_TOL)


def test_inplace_on_a_view_of_a_leaf_refuses():
    same_error(lambda m: m.tensor([1 + 2j], requires_grad=True).real.mul_(2))
    same_error(lambda m: setattr(m.tensor([1 + 2j], requires_grad=True), "real",
                                 m.tensor([5.0])))
    same_error(lambda m: m.tensor([1 + 2j], requires_grad=True).clone().abs_())


def test_hooks_and_retain_grad_on_real_views():
    def prog(m):
        z = m.tensor([1 + 2j, -1j], requires_grad=True)
        r, i = z.real, z.imag
        r.retain_grad()
        i.register_hook(lambda g: g * 3)
        (r ** 2 + i ** 2).sum().backward()
        return r.grad, z.grad

    both(prog)


def test_view_as_real_and_view_as_complex():
    def prog(m):
        z = m.tensor([[1 + 2j, 3 - 1j]], requires_grad=True)
        p = m.view_as_real(z)
        c = m.view_as_complex(p)
        x = m.arange(8.0).reshape(2, 2, 2)
        return (p, c, type(p.grad_fn).__name__, type(c.grad_fn).__name__, p._base is z,
                c._base is z, p.stride(), m.view_as_complex(x), m.view_as_complex(x)._base is x,
                m.view_as_real(m.tensor(1 + 2j)), m.view_as_complex(m.tensor([1.0, 2.0])))

    both(prog)


@pytest.mark.parametrize("case", [
    lambda m: m.view_as_real(m.tensor([1.0])),
    lambda m: m.view_as_real(m.tensor([1j]).conj()),
    lambda m: m.view_as_complex(m.ones(3)),
    lambda m: m.view_as_complex(m.ones(3, 2, dtype=m.int64)),
    lambda m: m.view_as_complex(m.ones(2, 3)[:, :2]),
    lambda m: m.view_as_complex(m.ones(2, 4).t()),
    lambda m: m.view_as_complex(m.ones(5)[1:].reshape(2, 2)),
    lambda m: m.complex(m.ones(2), m.ones(2, dtype=m.float64)),
    lambda m: m.complex(m.ones(2, dtype=m.int64), m.ones(2, dtype=m.int64)),
    lambda m: m.complex(m.ones(2), m.ones(3)),
    lambda m: m.polar(m.ones(2), m.ones(2, dtype=m.float64)),
])
def test_view_and_constructor_errors(case):
    same_error(case)


def test_complex_and_polar():
    def prog(m):
        r = m.tensor([0.0, 1.0, 2.5], dtype=m.float64, requires_grad=True)
        t = m.tensor([0.5, -0.7, 2.0], dtype=m.float64, requires_grad=True)
        p = m.polar(r, t)
        c = m.complex(r, t[None].expand(2, 3))
        w = m.tensor([1 + 1j, 2 - 1j, -1j], dtype=m.complex128)
        ((p * w).real.sum() + (c * c.conj()).real.sum()).backward()
        return (p, c, type(p.grad_fn).__name__, type(c.grad_fn).__name__, r.grad, t.grad,
                str(m.complex(m.ones(1), m.zeros(1)).dtype))

    both(prog)


def test_conj_bit_queries():
    def prog(m):
        z = m.tensor([1 + 2j, 3 - 1j], requires_grad=True)
        c = z.conj()
        x = m.tensor([1.0])
        return (c, c.is_conj(), z.is_conj(), c.resolve_conj().is_conj(),
                type(c.resolve_conj().grad_fn).__name__, z.resolve_conj() is z,
                x.conj() is x, x.conj().is_conj(), c.is_neg(), z.resolve_neg() is z,
                type(c.grad_fn).__name__, type(z.conj_physical().grad_fn).__name__,
                c.real, c.imag)

    both(prog)


# --- gradcheck on complex functions ---------------------------------------------------------------
def _gc_inputs(m):
    z = m.tensor([1 + 2j, -0.5 + 0.3j, 0.7 - 1.1j], dtype=m.complex128, requires_grad=True)
    x = m.tensor([0.4, -1.2, 0.9], dtype=m.float64, requires_grad=True)
    return z, x


def _bad_conj(m):
    class Bad(m.autograd.Function):  # z^2 with the conjugate missing from its backward
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return z * z

        @staticmethod
        def backward(ctx, g):
            (z,) = ctx.saved_tensors
            return g * 2 * z

    return Bad.apply


def _bad_half(m):
    class Bad(m.autograd.Function):  # |z|^2 with half its gradient
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return (z * z.conj()).real

        @staticmethod
        def backward(ctx, g):
            (z,) = ctx.saved_tensors
            return g * z

    return Bad.apply


_GC_CASES = {
    "holomorphic": lambda m, z, x: (lambda a: a.sin() * a, (z,)),
    "complex_to_real": lambda m, z, x: (lambda a: m.view_as_real(a) ** 2, (z,)),
    "real_to_complex": lambda m, z, x: (lambda b: b * (1 + 2j) + b.exp(), (x,)),
    "mixed_outputs": lambda m, z, x: (lambda a, b: (a * b, (a.conj() * b).real), (z, x)),
    "polar": lambda m, z, x: (lambda r, t: m.polar(r, t), (x.detach().abs().requires_grad_(), x)),
    "bad_conj": lambda m, z, x: (_bad_conj(m), (z,)),
    "bad_half": lambda m, z, x: (_bad_half(m), (z,)),
}


@pytest.mark.parametrize("name", sorted(_GC_CASES))
@pytest.mark.parametrize("check", ["gradcheck", "gradgradcheck"])
def test_gradcheck_slow_mode_like_torch(name, check):
    def prog(m):
        fn, ins = _GC_CASES[name](m, *_gc_inputs(m))
        m.manual_seed(0)  # gradgradcheck draws its grad_outputs from the global stream
        return error(lambda: getattr(m.autograd, check)(fn, ins))

    torch = pytest.importorskip("torch")
    ours, theirs = prog(tapegrad), prog(torch)
    # tapegrad's message is PyTorch's, then its own list of the mismatching entries
    assert (ours[0], ours[1].split("\n[tapegrad]")[0]) == (
        theirs[0], theirs[1].replace("torch.", "tapegrad.")), (ours, theirs)


@pytest.mark.parametrize("name", sorted(_GC_CASES))
def test_gradcheck_fast_mode_like_torch(name):
    def prog(m):
        fn, ins = _GC_CASES[name](m, *_gc_inputs(m))
        return error(lambda: m.autograd.gradcheck(fn, ins, fast_mode=True))

    torch = pytest.importorskip("torch")
    ours, theirs = prog(tapegrad), prog(torch)
    assert ours[0] == theirs[0]
    if ours[0] == "no error":
        assert ours == theirs
        return
    # the projections are the same numbers up to the last bits of the dot products; the rest
    # of the message (the slow-mode recomputation) is PyTorch's
    head_o, head_t = ours[1].split("\nnumerical:")[0], theirs[1].split("\nnumerical:")[0]
    assert head_o == head_t
    tail = "Below, we recompute numerical and analytical jacobians in slow mode:"
    assert ours[1].split(tail)[1].split("\n[tapegrad]")[0] == theirs[1].split(tail)[1].replace(
        "torch.", "tapegrad.")


def test_gradgradcheck_of_abs():
    z = tapegrad.tensor([1 + 2j, -0.5 + 0.3j], dtype=tapegrad.complex128, requires_grad=True)
    assert tapegrad.autograd.gradgradcheck(lambda a: a.abs() * a, (z,))


# --- what PyTorch refuses for complex numbers -----------------------------------------------------
_REFUSED = {
    "lt": lambda m, z: z < z, "le": lambda m, z: z <= 1, "gt": lambda m, z: m.gt(z, z),
    "ge": lambda m, z: z >= z,
    "clamp": lambda m, z: z.clamp(0, 1), "clamp_min": lambda m, z: z.clamp_min(0),
    "clamp_max": lambda m, z: m.clamp_max(z, 0), "clamp_tensor": lambda m, z: z.clamp(z.real),
    "clamp_": lambda m, z: z.clone().clamp_(0), "clip": lambda m, z: z.clip(max=1),
    "maximum": lambda m, z: m.maximum(z, z), "minimum": lambda m, z: m.minimum(z, z),
    "remainder": lambda m, z: z % 2, "rremainder": lambda m, z: 2 % z,
    "floor_divide": lambda m, z: z // 2, "rfloordiv": lambda m, z: 2 // z,
    "div_floor": lambda m, z: m.div(z, 2, rounding_mode="floor"),
    "div_trunc": lambda m, z: m.div(z, 2, rounding_mode="trunc"),
    "amax": lambda m, z: z.amax(), "amin": lambda m, z: z.amin(0),
    "abs_": lambda m, z: z.clone().abs_(), "hardtanh": lambda m, z: m.nn.functional.hardtanh(z),
    "relu6": lambda m, z: m.nn.functional.relu6(z), "bucketize": lambda m, z: m.bucketize(z, z),
    "searchsorted": lambda m, z: m.searchsorted(z, z), "unique": lambda m, z: m.unique(z),
    "unique_consecutive": lambda m, z: m.unique_consecutive(z),
    "bitwise_and": lambda m, z: z & z, "bitwise_float": lambda m, z: z.real | z.real,
    "nansum": lambda m, z: z.nansum(), "max": lambda m, z: z.max(), "sort": lambda m, z: z.sort(),
}


@pytest.mark.parametrize("name", sorted(_REFUSED))
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_refused_like_torch(name, dtype):
    same_error(lambda m: _REFUSED[name](m, m.tensor([1 + 2j, -0.5 + 0.25j],
                                                    dtype=getattr(m, dtype))))


@pytest.mark.parametrize("case", [lambda m, z: z.relu(), lambda m, z: z.sign(),
                                  lambda m, z: z.clone().sign_(), lambda m, z: z.clone().relu_()])
def test_relu_and_sign_refused_like_torch(case):
    same_error(lambda m: case(m, m.tensor([1 + 2j, -0.5j])))


def test_results_of_accepted_ops_are_the_same():
    def prog(m):
        z = m.tensor([1 + 2j, -0.5 + 0.25j, 0j])
        return (z == z, z != 1j, m.isclose(z, z), z.abs(), z.angle(), z.sgn(), z.sum(),
                z.prod(), z.mean(), z.square(), z.reciprocal())

    both(prog)

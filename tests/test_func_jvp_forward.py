"""func.jvp runs forward-mode AD proper (a dual level of its own), as PyTorch's does: custom
Function `jvp` rules are used, in-place code works, and it composes with grad, vmap, jvp
itself (the inner one, inside a dual level, falls back to the double-backward trick),
hessian and linearize."""

from __future__ import annotations

import pytest

from _helpers import both

torch = pytest.importorskip("torch")


def _function_with_jvp(m):
    class H(m.autograd.Function):
        @staticmethod
        def forward(x):
            return x * 2

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass

        @staticmethod
        def backward(ctx, g):
            return g * 2

        @staticmethod
        def jvp(ctx, t):
            return t * 100  # (deliberately not the derivative: shows which rule ran)

    return H


def _inplace(a):
    b = a.clone()
    b[1:] = b[1:] * b[:-1]
    return b


CASES = {
    "custom_function_jvp": lambda m, fn, x, t: fn.jvp(_function_with_jvp(m).apply, (x,), (t,)),
    "inplace_code": lambda m, fn, x, t: fn.jvp(_inplace, (x,), (t,)),
    "grad_of_jvp": lambda m, fn, x, t: fn.grad(
        lambda a: fn.jvp(lambda u: (u.sin() * u).sum(), (a,), (t,))[1])(x),
    "vmap_of_jvp": lambda m, fn, x, t: fn.vmap(
        lambda v: fn.jvp(lambda u: u.exp() @ x, (x,), (v,))[1])(m.eye(3, dtype=m.float64)),
    "jvp_of_jvp": lambda m, fn, x, t: fn.jvp(
        lambda a: fn.jvp(lambda u: (u ** 3).sum(), (a,), (t,))[1], (x,), (t,)),
    "tuple_outputs": lambda m, fn, x, t: fn.jvp(lambda a: (a.cos(), a.sum()), (x,), (t,)),
    "has_aux": lambda m, fn, x, t: fn.jvp(lambda a: (a.tanh(), a.detach() * 3), (x,), (t,),
                                        has_aux=True),
    "hessian": lambda m, fn, x, t: fn.hessian(lambda a: (a.sin() ** 2).sum())(x),
    "linearize": lambda m, fn, x, t: fn.linearize(lambda a: a.exp(), x)[1](t),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_func_jvp_as_pytorch(case):
    def prog(m):
        x = m.tensor([1.0, 2.0, 3.0], dtype=m.float64)
        t = m.tensor([1.0, -0.5, 2.0], dtype=m.float64)
        return CASES[case](m, m.func, x, t)

    both(prog)


def test_strict_jvp_of_an_independent_output():
    import tapegrad

    x = tapegrad.ones(2, dtype=tapegrad.float64)
    with pytest.raises(RuntimeError, match="independent of the inputs"):
        tapegrad.func.jvp(lambda a: tapegrad.zeros(2), (x,), (x,), strict=True)


def _old_style(m):
    class Old(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    return Old


OLD_STYLE = {
    "grad": lambda m, fn, x: fn.grad(lambda a: _old_style(m).apply(a).sum())(x),
    "vjp": lambda m, fn, x: fn.vjp(_old_style(m).apply, x),
    "jvp": lambda m, fn, x: fn.jvp(_old_style(m).apply, (x,), (x,)),
    "jacrev": lambda m, fn, x: fn.jacrev(_old_style(m).apply)(x),
    "jacfwd": lambda m, fn, x: fn.jacfwd(_old_style(m).apply)(x),
    "hessian": lambda m, fn, x: fn.hessian(lambda a: _old_style(m).apply(a).sum())(x),
}


@pytest.mark.parametrize("case", sorted(OLD_STYLE))
def test_old_style_function_under_transforms(case):
    """A Function without setup_context cannot run inside grad/vjp/jvp/jacrev/jacfwd/hessian:
    PyTorch's error, word for word (it links PyTorch's docs); outside them it works."""
    import tapegrad
    from _helpers import error

    ours = error(lambda: OLD_STYLE[case](tapegrad, tapegrad.func, tapegrad.ones(3)))
    theirs = error(lambda: OLD_STYLE[case](torch, torch.func, torch.ones(3)))
    assert ours == theirs and ours[0] == "RuntimeError"
    both(lambda m: (_old_style(m).apply(m.ones(3)),
                    m.autograd.functional.jacobian(_old_style(m).apply, m.ones(3))))

"""Forward-over-reverse through in-place ops: the gradient of a graph with in-place ops, taken
with create_graph inside a dual level, carries the tangent PyTorch gives it (H v).

The in-place op's rule saves the old value (sin_: x) or the result (exp_: out); both must
carry the tangent they had when the op ran, though the tensor's tangent is then updated in
place."""

from __future__ import annotations

import pytest

from _helpers import both, same_error

INPLACE = {
    "exp_": lambda m, y, w: y.exp_(),
    "sin_": lambda m, y, w: y.sin_(),
    "sigmoid_": lambda m, y, w: y.sigmoid_(),
    "tanh_": lambda m, y, w: y.tanh_(),
    "relu_": lambda m, y, w: y.relu_(),
    "sqrt_": lambda m, y, w: y.abs_().sqrt_(),
    "mul_dual": lambda m, y, w: y.mul_(w),
    "div_dual": lambda m, y, w: y.div_(w.exp()),
    "pow_": lambda m, y, w: y.pow_(3),
    "addcmul_": lambda m, y, w: y.addcmul_(w, y.detach().clone(), value=0.5),
    "elu_inplace": lambda m, y, w: m.nn.functional.elu(y, inplace=True),
    "silu_inplace": lambda m, y, w: m.nn.functional.silu(y, inplace=True),
    "view_exp_": lambda m, y, w: y[1:3].exp_(),
    "view_sin_": lambda m, y, w: y.view(2, 2)[:, 0].sin_(),
    "twice": lambda m, y, w: y.sin_().mul_(w).exp_(),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_forward_over_reverse_through_inplace(name):
    op = INPLACE[name]

    def prog(m):
        fw = m.autograd.forward_ad
        m.manual_seed(0)
        z = m.randn(4, dtype=m.float64, requires_grad=True)
        w = m.randn(4, dtype=m.float64, requires_grad=True)
        v = m.randn(4, dtype=m.float64)
        u = m.randn(4, dtype=m.float64)
        with fw.dual_level():
            zd = fw.make_dual(z, v)
            wd = fw.make_dual(w, u)
            y = zd * 1.5
            op(m, y, wd)
            out = (y * y.detach().cos()).sum()
            gz, gw = m.autograd.grad(out, (z, w), create_graph=True, allow_unused=True)
            res = []
            for g in (gz, gw):
                if g is None:
                    res.append(None)
                    continue
                p, t = fw.unpack_dual(g)
                res.append((p.detach(), None if t is None else t.detach()))
            return res

    both(prog)


@pytest.mark.parametrize("dual", ["src", "self", "both"])
def test_scatter_tangents_with_a_source_larger_than_the_index(dual):
    """scatter / scatter_add read only the part of src the index covers: so do their
    tangents (PyTorch's forward formulas)."""
    def prog(m):
        fw = m.autograd.forward_ad
        x = m.zeros(2, 3, dtype=m.float64)
        src = m.arange(1.0, 13.0, dtype=m.float64).view(3, 4)
        idx = m.tensor([[0], [1]])
        with fw.dual_level():
            if dual in ("src", "both"):
                src = fw.make_dual(src, m.arange(12.0, dtype=m.float64).view(3, 4) * 3)
            if dual in ("self", "both"):
                x = fw.make_dual(x, m.ones(2, 3, dtype=m.float64))
            outs = (x.scatter(1, idx, src), x.scatter_add(1, idx, src), x.scatter(1, idx, 5.0))
            return [fw.unpack_dual(o).tangent for o in outs]

    both(prog)


_API_CASES = {
    "level_not_open": lambda m, fw, x: fw.make_dual(x, x, level=5),
    "already_dual": lambda m, fw, x: fw.make_dual(fw.make_dual(x, x), x),
    "number_tangent": lambda m, fw, x: fw.make_dual(x, 3.0),
    "wider_tangent_kept": lambda m, fw, x: str(fw.unpack_dual(
        fw.make_dual(x.float(), x) * 2).tangent.dtype),
    "complex_tangent_kept": lambda m, fw, x: str(fw.unpack_dual(
        fw.make_dual(x, x.to(m.complex128))).tangent.dtype),
}


@pytest.mark.parametrize("case", sorted(_API_CASES))
def test_make_dual_checks(case):
    def prog(m):
        fw = m.autograd.forward_ad
        x = m.ones(2, dtype=m.float64)
        with fw.dual_level():
            return _API_CASES[case](m, fw, x)

    if case.endswith("_kept"):
        both(prog)
    else:
        same_error(prog)


def test_dual_level_errors_decorator_and_inference_mode():
    def no_level(m):
        m.autograd.forward_ad.exit_dual_level()

    same_error(no_level)

    def prog(m):
        fw = m.autograd.forward_ad
        x = m.ones(2, dtype=m.float64)

        @fw.dual_level()
        def f():
            return fw.unpack_dual(fw.make_dual(x, x * 3)).tangent

        with m.inference_mode():
            with fw.dual_level():
                plain = fw.unpack_dual(fw.make_dual(x, x)).tangent
        return f(), plain is None

    both(prog)


def test_inplace_view_ops_carry_the_tangent_along():
    """t_(), unsqueeze_(), squeeze_(), transpose_() on a dual change its tangent's shape the
    same way."""
    def prog(m):
        fw = m.autograd.forward_ad
        res = []
        for name, args in (("t_", ()), ("unsqueeze_", (0,)), ("squeeze_", ()),
                           ("transpose_", (0, 1)), ("swapdims_", (0, 1))):
            with fw.dual_level():
                shape = (1, 6) if name == "squeeze_" else (2, 3)
                x = m.arange(6.0, dtype=m.float64).view(shape)
                d = fw.make_dual(x.clone(), m.arange(6.0, dtype=m.float64).view(shape) + 10)
                getattr(d, name)(*args)
                res.append((fw.unpack_dual(d).tangent, fw.unpack_dual(d * 2).tangent))
        return res

    both(prog)

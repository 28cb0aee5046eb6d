"""Forward-over-reverse through in-place ops: the gradient of a graph with in-place ops, taken
with create_graph inside a dual level, carries the tangent PyTorch gives it (H v).

The in-place op's rule saves the old value (sin_: x) or the result (exp_: out); both must
carry the tangent they had when the op ran, though the tensor's tangent is then updated in
place."""

from __future__ import annotations

import pytest

from _helpers import both

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

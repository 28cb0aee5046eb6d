"""tapegrad.autograd.forward_ad against torch.autograd.forward_ad: dual tensors, their
printing and errors, tangents through views and in-place ops, custom Function jvp, and
forward-over-reverse Hessian-vector products. (Per-op tangents: test_ops_forward.py.)"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import tapegrad
from _helpers import both, same_error


def fw(m):
    return importlib.import_module(m.__name__ + ".autograd.forward_ad")


def _x(m, vals=(1.0, 2.0, 3.0), tan=(1.0, 10.0, 100.0), dtype="float64"):
    dt = getattr(m, dtype)
    return fw(m).make_dual(m.tensor(vals, dtype=dt), m.tensor(tan, dtype=dt))


def _unpack(m, t):
    p, tan = fw(m).unpack_dual(t)
    return p, tan


def test_make_dual_repr_and_unpack():
    def prog(m):
        with fw(m).dual_level():
            x = _x(m, dtype="float32")
            y = x.sin()
            r = [repr(x), repr(y), repr(x[0]), repr(x * 2)]
            r.append(type(fw(m).unpack_dual(y)).__name__)
            r.append(fw(m).unpack_dual(y)._fields)
            r.append(x.requires_grad)
            r.append(x._base is None)
        r.append(repr(x))
        r.append(fw(m).unpack_dual(x).tangent is None)
        return r

    both(prog)


def test_tangents_of_functions():
    def prog(m):
        with fw(m).dual_level():
            x = _x(m)
            w = m.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=m.float64)
            outs = [x * x + 3 * x, w @ x, m.nn.functional.softmax(x, 0), x.relu(),
                    m.cumprod(x, 0), x.max(), m.linalg.norm(x), x.view(3, 1).expand(3, 2),
                    m.stack([x, 2 * x]).T.reshape(-1), x[1:].exp(), m.where(x > 1.5, x, -x)]
            return [_unpack(m, o)[1] for o in outs]

    both(prog, atol=1e-10, rtol=1e-10)


def test_no_grad_still_propagates_tangents():
    def prog(m):
        with fw(m).dual_level():
            x = _x(m)
            with m.no_grad():
                y = x.exp() * 2
            return _unpack(m, y)[1]

    both(prog)


def test_dual_of_tensor_requiring_grad():
    def prog(m):
        p = m.tensor([1.0, 2.0], requires_grad=True)
        with fw(m).dual_level():
            x = fw(m).make_dual(p, m.tensor([0.5, 0.25]))
            y = (x * x).sum()
            return [x.grad_fn.name(), x._base is p, y.requires_grad, _unpack(m, y)[1],
                    _unpack(m, x)[0]._base is p]

    both(prog)


def test_errors():
    def no_level(m):
        return fw(m).make_dual(m.ones(2), m.ones(2))

    def nested(m):
        with fw(m).dual_level():
            with fw(m).dual_level():
                pass

    def bad_size(m):
        with fw(m).dual_level():
            return fw(m).make_dual(m.ones(2), m.ones(3))

    def int_primal(m):
        with fw(m).dual_level():
            return fw(m).make_dual(m.tensor([1, 2]), m.tensor([1, 2]))

    for f in (no_level, nested, bad_size, int_primal):
        same_error(f)
    # the failed nested entry leaves the outer level usable and closed after
    with pytest.raises(RuntimeError):
        nested(tapegrad)
    assert fw(tapegrad)._level is None


def test_exit_drops_tangents():
    with fw(tapegrad).dual_level():
        x = _x(tapegrad)
        y = x.tanh()
        assert _unpack(tapegrad, y)[1] is not None
    assert _unpack(tapegrad, y)[1] is None and _unpack(tapegrad, x)[1] is None
    assert y._extra is None or not ({"fw_grad", "fw_node"} & set(y._extra))
    assert fw(tapegrad)._info.__len__() == 0


def test_inplace_ops_update_tangents():
    def prog(m):
        with fw(m).dual_level():
            x = _x(m)
            q = x * 2
            q.add_(x)
            a = m.zeros(4, dtype=m.float64)
            a[:2] = x[1:]
            b = m.zeros(4, dtype=m.float64)
            v = b[1:3]
            v.copy_(x[:2])
            d = x.clone()
            dv = d[1:]
            d.mul_(2)
            e = x.clone()
            m.nn.functional.relu(e, inplace=True)
            e.sigmoid_()
            f = x.clone()
            f.zero_()
            g = x.clone()
            g.fill_(m.tensor(2.0, dtype=m.float64))
            return [_unpack(m, t)[1] for t in (q, a, b, v, d, dv, e, g)] + [
                _unpack(m, f)[1] is None or not _unpack(m, f)[1].any()]

    both(prog)


def test_custom_function_jvp():
    def prog(m):
        class Scale(m.autograd.Function):
            @staticmethod
            def forward(ctx, x, y, k):
                ctx.save_for_forward(x, y)
                ctx.k = k
                return x * y * k

            @staticmethod
            def jvp(ctx, tx, ty, tk):
                x, y = ctx.saved_tensors
                return (tx * y + x * ty) * ctx.k

            @staticmethod
            def backward(ctx, g):
                return None, None, None

        with fw(m).dual_level():
            x = _x(m)
            r = Scale.apply(x, m.tensor([3.0, 4.0, 5.0], dtype=m.float64), 2.0)
            return repr(r), _unpack(m, r)[1]

    both(prog)

    def missing(m):
        class Exp(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x.exp()

            @staticmethod
            def backward(ctx, g):
                return g

        with fw(m).dual_level():
            return Exp.apply(_x(m))

    same_error(missing)


def test_forward_over_reverse_hvp():
    # H v for f(w) = sum(tanh(A w)^2): the tangent of the gradient (computed in a dual level)
    def prog(m):
        rng = np.random.default_rng(0)
        A = m.tensor(rng.standard_normal((5, 4)))
        w = m.tensor(rng.standard_normal(4), requires_grad=True)
        v = m.tensor(rng.standard_normal(4))
        with fw(m).dual_level():
            wd = fw(m).make_dual(w, v)
            loss = ((A @ wd).tanh() ** 2).sum()
            (g,) = m.autograd.grad(loss, w)
            return g, _unpack(m, g)[1]

    both(prog, atol=1e-10, rtol=1e-10)


def test_reverse_over_forward():
    # d/dw of <jvp, u>: forward tangents are themselves differentiable in reverse mode
    def prog(m):
        w = m.tensor([0.5, -1.0, 2.0], dtype=m.float64, requires_grad=True)
        with fw(m).dual_level():
            wd = fw(m).make_dual(w, m.tensor([1.0, 0.0, 1.0], dtype=m.float64))
            out = (wd.sin() * wd).sum()
            tangent = _unpack(m, out)[1]
        (g,) = m.autograd.grad(tangent, w)
        return tangent.detach(), g

    both(prog, atol=1e-12, rtol=1e-12)


def test_tangent_of_a_saved_output_survives_backward():
    # the tangent of an op's output is computed before a backward pass frees what it saved
    with fw(tapegrad).dual_level():
        w = tapegrad.tensor([0.5, 1.0], requires_grad=True)
        x = fw(tapegrad).make_dual(w, tapegrad.tensor([1.0, 1.0]))
        y = x.exp()
        y.sum().backward()
        t = _unpack(tapegrad, y)[1]
    np.testing.assert_allclose(t.detach().numpy(), np.exp([0.5, 1.0]), rtol=1e-6)


@pytest.mark.parametrize("name", ["elu", "gelu", "softplus", "silu", "leaky_relu", "celu",
                                  "selu", "mish", "logsigmoid", "hardswish", "tanh", "sigmoid",
                                  "relu", "hardtanh", "softsign", "tanhshrink"])
def test_forward_over_reverse_through_activations(name):
    # the tangent of a gradient runs through each activation's derivative op (its own jvp)
    def prog(m):
        rng = np.random.default_rng(3)
        f = getattr(m.nn.functional, name)
        w = m.tensor(rng.standard_normal(6) * 2, requires_grad=True)
        v = m.tensor(rng.standard_normal(6))
        with fw(m).dual_level():
            wd = fw(m).make_dual(w, v)
            loss = (f(wd * 1.5) ** 2).sum()
            (g,) = m.autograd.grad(loss, w, create_graph=True)
            return g.detach(), _unpack(m, g)[1].detach()

    both(prog, atol=1e-10, rtol=1e-8)


def test_op_without_forward_rule_refuses_as_torch():
    def prog(m):
        lp = m.tensor(np.random.default_rng(0).standard_normal((5, 2, 4))).log_softmax(2)
        with fw(m).dual_level():
            x = fw(m).make_dual(lp, m.ones_like(lp))
            return m.nn.functional.ctc_loss(x, m.tensor([[1, 2], [1, 1]]), m.tensor([5, 5]),
                                            m.tensor([2, 2]))

    same_error(prog)
    assert fw(tapegrad)._level is None  # the level closed on the way out

"""Differentiable in-place ops and views: the same programs in tapegrad and torch give the same
values, gradients, node names and errors (CopySlices, AsStridedBackward0, rebased history)."""

from __future__ import annotations

import numpy as np
import pytest

from _helpers import both, error, same_error

torch = pytest.importorskip("torch")


def _x(m, n=4, dtype="float64"):
    return m.tensor([0.3, -0.5, 0.7, 0.2, 1.1, -0.9][:n], dtype=getattr(m, dtype),
                    requires_grad=True)


def _run(body):
    """body(m, x) builds y from a leaf x with in-place ops; returns y, y's node name, x.grad
    after backward of (y * weights).sum()."""

    def prog(m):
        x = _x(m)
        y = body(m, x)
        name = type(y.grad_fn).__name__ if y.grad_fn is not None else None
        w = m.arange(1.0, y.numel() + 1, dtype=y.dtype).reshape(y.shape)
        (y * w).sum().backward()
        return y.detach(), name, x.grad

    return prog


PROGRAMS = {
    "mul_scalar": lambda m, x: x.clone().mul_(2),
    "add_tensor": lambda m, x: x.clone().add_(x * 3),
    "add_alpha": lambda m, x: x.clone().add_(x, alpha=-2),
    "sub_": lambda m, x: (x * 2).sub_(x.exp()),
    "div_": lambda m, x: (x + 2).div_(x * x + 1),
    "pow_": lambda m, x: (x + 2).pow_(3),
    "iadd": lambda m, x: _iadd(x),
    "imul_self_view_chain": lambda m, x: _imul(x),
    "sin_": lambda m, x: x.clone().sin_(),
    "exp_": lambda m, x: x.clone().exp_(),
    "tanh_": lambda m, x: x.clone().tanh_(),
    "sigmoid_": lambda m, x: x.clone().sigmoid_(),
    "relu_": lambda m, x: x.clone().relu_(),
    "clamp_": lambda m, x: x.clone().clamp_(-0.4, 0.5),
    "abs_then_neg_": lambda m, x: x.clone().abs_().neg_(),
    "zero_": lambda m, x: (x * 2).zero_() + x,
    "fill_number": lambda m, x: (x * 2).fill_(1.5) * x,
    "fill_tensor": lambda m, x: (x * 2).fill_(x.sum()),
    "copy_": lambda m, x: m.zeros(4, dtype=m.float64).copy_(x * 3),
    "copy_broadcast": lambda m, x: m.zeros(2, 4, dtype=m.float64).copy_(x.sin()),
    "copy_from_float32": lambda m, x: m.zeros(4, dtype=m.float64).copy_((x * 2).float()),
    "setitem_int": lambda m, x: _set(x.clone(), 1, 5.0),
    "setitem_slice_value": lambda m, x: _set(x.clone(), slice(1, 3), x[:2] * 4),
    "setitem_step": lambda m, x: _set(x.clone(), slice(None, None, 2), x[1::2].exp()),
    "setitem_full_number": lambda m, x: _set(x.clone(), slice(None), 2.0),
    "setitem_ellipsis_tensor": lambda m, x: _set(x.clone(), Ellipsis, x * x),
    "setitem_list": lambda m, x: _set(x.clone(), [0, 2], x[:2] * 3),
    "setitem_mask": lambda m, x: _setmask(m, x),
    "setitem_into_zeros": lambda m, x: _set(m.zeros(4, dtype=m.float64), 2, x[0] * 7),
    "setitem_none": lambda m, x: _set(x.clone(), None, 1.0),
    "setitem_2d_mixed": lambda m, x: _set(x.clone().reshape(2, 2), (0, [1]), x[3] * 5),
    "setitem_2d_adv_rows": lambda m, x: _set(x.clone().reshape(2, 2), ([1], slice(None)),
                                             x[:2] * 2),
    "setitem_2d_col": lambda m, x: _set(x.clone().reshape(2, 2), (slice(None), 1), x[:2].sin()),
    "view_mul_": lambda m, x: _view_op(x, lambda v: v.mul_(x[:2])),
    "view_sin_": lambda m, x: _view_op(x, lambda v: v.sin_()),
    "view_exp_": lambda m, x: _view_op(x, lambda v: v.exp_()),
    "transpose_view": lambda m, x: _tview(x),
    "base_then_old_view": lambda m, x: _old_view(x),
    "view_of_view": lambda m, x: _vv(x),
    "diagonal_view": lambda m, x: _diag(x),
    "reshape_view": lambda m, x: _reshape_view(x),
    "masked_fill_": lambda m, x: x.clone().masked_fill_(x > 0.25, 0.0),
    "index_add_": lambda m, x: x.clone().index_add_(0, m.tensor([0, 0, 3]), x[:3] * 2),
    "index_fill_": lambda m, x: x.clone().index_fill_(0, m.tensor([1]), -1.0),
    "scatter_": lambda m, x: x.clone().scatter_(0, m.tensor([2, 0]), x[1:3] * 2),
    "lerp_": lambda m, x: x.clone().lerp_(x.exp(), 0.25),
    "addcmul_": lambda m, x: x.clone().addcmul_(x, x.sin(), value=0.5),
    "t_": lambda m, x: (x * 1).reshape(2, 2).t_(),
    "unsqueeze_": lambda m, x: (x * 1).unsqueeze_(0),
    "squeeze_": lambda m, x: (x * 1).reshape(1, 4).squeeze_(),
    "transpose_": lambda m, x: (x * 1).reshape(2, 2).transpose_(0, 1),
    "value_requires_grad_only": lambda m, x: _into_plain(m, x),
    "relu_functional_inplace": lambda m, x: m.nn.functional.relu(x * 2, inplace=True),
    "leaky_relu_inplace": lambda m, x: m.nn.functional.leaky_relu(x * 2, 0.1, inplace=True),
    "elu_inplace": lambda m, x: m.nn.functional.elu(x * 2, inplace=True),
    "hardtanh_inplace": lambda m, x: m.nn.functional.hardtanh(x * 2, inplace=True),
    "silu_inplace": lambda m, x: m.nn.functional.silu(x * 2, inplace=True),
    "dropout_inplace_eval": lambda m, x: m.nn.functional.dropout(x * 2, 0.5, False, True),
    "loop_assign": lambda m, x: _loop(m, x),
}


def _iadd(x):
    y = x * 1
    y += x.sin()
    y *= 2
    y -= 1
    y /= 3
    return y


def _imul(x):
    y = x * 1
    v = y[1:]
    v *= v.detach() + 1
    return y


def _set(y, idx, v):
    y[idx] = v
    return y


def _setmask(m, x):
    y = x.clone()
    y[y > 0.25] = 0.0
    return y


def _view_op(x, f):
    y = x * 1
    f(y[1:3])
    return y


def _tview(x):
    y = (x * 1).reshape(2, 2)
    v = y.t()
    v[0] *= 3
    return y


def _old_view(x):
    y = x.clone()
    v = y[1:]
    w = y[:2]
    y.mul_(2)
    return v.sum() * w


def _vv(x):
    y = x.clone().reshape(2, 2)
    v = y[1]
    w = v[1:]
    w.mul_(x[0])
    return y


def _diag(x):
    y = x.clone().reshape(2, 2)
    y.diagonal().mul_(4)
    return y


def _reshape_view(x):
    y = x.clone()
    r = y.reshape(2, 2)
    r[0, 0] = 9.0
    return r + y.sum()


def _into_plain(m, x):
    y = m.zeros(4, dtype=m.float64)
    y[0] = x[0] * 2
    v = y[1:]
    v.add_(x[1:])
    return y


def _loop(m, x):
    y = m.zeros(4, dtype=m.float64)
    for i in range(4):
        y[i] = x[i] * (i + 1) + (y[i - 1] if i else 0)
    return y


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program(name):
    both(_run(PROGRAMS[name]), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_second_order(name):
    """Gradients of the gradient flow through the recorded in-place ops too."""
    body = PROGRAMS[name]

    def prog(m):
        x = _x(m)
        y = body(m, x)
        w = m.arange(1.0, y.numel() + 1, dtype=y.dtype).reshape(y.shape)
        (g,) = m.autograd.grad(((y * w) ** 2).sum() if y.requires_grad else y.sum(), x,
                               create_graph=True, allow_unused=True)
        if g is None or not g.requires_grad:
            return None
        (gg,) = m.autograd.grad((g * g).sum(), x, allow_unused=True)
        return gg

    both(prog, atol=1e-10, rtol=1e-10)


def test_versions_and_nodes_after_view_change():
    def prog(m):
        x = _x(m)
        y = x.clone()
        v = y[1:3]
        v0 = y._version
        v.mul_(2)
        return (y._version - v0, v._version, type(y.grad_fn).__name__,
                type(v.grad_fn).__name__, type(v.grad_fn.next_functions[0][0]).__name__,
                type(y.grad_fn.next_functions[0][0]).__name__, v._base is y, v._is_view(),
                y._is_view())

    both(prog)


ERRORS = {
    "leaf": lambda m: _x(m).mul_(2),
    "view_of_leaf": lambda m: _x(m)[1:].mul_(2),
    "setitem_leaf": lambda m: _set(_x(m), 0, 1.0),
    "setitem_leaf_list": lambda m: _set(_x(m), [0], 1.0),
    "unbind": lambda m: (_x(m) * 1).unbind()[0].mul_(2),
    "split": lambda m: (_x(m) * 1).split(2)[1].mul_(2),
    "split_sizes": lambda m: (_x(m) * 1).split([1, 3])[0].mul_(2),
    "chunk": lambda m: (_x(m) * 1).chunk(2)[0].add_(1),
    "no_grad_view": lambda m: _no_grad_view(m),
    "no_grad_view_plain_base": lambda m: _no_grad_view_plain(m),
    "partial_overlap": lambda m: _overlap(m),
    "expanded": lambda m: (_x(m) * 1).expand(2, 4).mul_(2),
    "saved_self_modified": lambda m: _saved_modified(m),
    "saved_output_modified": lambda m: _saved_out_modified(m),
    "exp_then_add": lambda m: _exp_add(m),
    "mul_self": lambda m: _mul_self(m),
    "int_into_float_grad": lambda m: m.zeros(4, dtype=m.int64).add_(_x(m)),
}


def _no_grad_view(m):
    x = _x(m)
    y = x * 1
    with m.no_grad():
        v = y[1:]
    v.mul_(2)


def _no_grad_view_plain(m):
    y = m.zeros(4, dtype=m.float64)
    with m.no_grad():
        v = y[1:]
    v.mul_(_x(m)[1:])


def _overlap(m):
    y = _x(m) * 1
    y[1:].mul_(y[:3])


def _saved_modified(m):
    x = _x(m)
    y = x * 1
    z = y * y
    y.add_(1)
    z.sum().backward()


def _saved_out_modified(m):
    x = _x(m)
    y = x.exp()
    y[0] = 0.0
    y.sum().backward()


def _exp_add(m):
    y = _x(m).clone()
    y.exp_()
    y.add_(1)
    y.sum().backward()


def _mul_self(m):
    y = _x(m).clone()
    y.mul_(y)
    y.sum().backward()


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error(name):
    same_error(ERRORS[name])


def test_no_grad_updates_stay_unrecorded():
    def prog(m):
        w = _x(m)
        (w * w).sum().backward()
        with m.no_grad():
            w -= 0.1 * w.grad
            w[0] = 3.0
            w.grad.zero_()
        return w.detach(), w.grad_fn, w.is_leaf, w.grad

    both(prog)


def test_failed_inplace_leaves_state_unchanged():
    import tapegrad

    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    before = (y._version, y.grad_fn, y.detach().clone())
    assert error(lambda: y.add_(tapegrad.ones(3)))[0] == "RuntimeError"
    assert (y._version, y.grad_fn) == before[:2]
    assert np.array_equal(y.detach().numpy(), before[2].numpy())


def test_numeric_gradients_of_setitem_chain():
    """Central differences in float64 for a program mixing views and in-place writes."""
    import tapegrad
    from _helpers import numeric_vjp

    def fn(x):
        y = x * 1
        y[1:3] = y[1:3].clone() * x[0]
        v = y[::2]
        v.exp_()
        return y

    rng = np.random.default_rng(0)
    xv = rng.standard_normal(4)
    x = tapegrad.tensor(xv, requires_grad=True)
    gout = rng.standard_normal(4)
    (g,) = tapegrad.autograd.grad(fn(x), x, tapegrad.tensor(gout))
    num = numeric_vjp(lambda arrs: [fn(tapegrad.tensor(arrs[0])).numpy()], [xv], [0], [gout],
                      1e-6)
    np.testing.assert_allclose(g.numpy(), num[0], rtol=1e-6, atol=1e-8)

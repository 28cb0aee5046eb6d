"""More no-graph fast paths (issue 5, round 2), each checked against torch:

- mse_loss: forward in one NumPy pass, backward PyTorch's kernel norm * (x - y) * g (the same
  bits as torch), the double-backward path through tapegrad ops;
- linear with a 2-d input: the addmm graph built directly; the weight gradient made in the
  weight's own layout (torch's column-major rule), kept as .grad without a copy;
- the engine: plain leaves accumulated on arrival, loss.backward() seeded directly;
- nll_loss / cross_entropy: the all-targets-kept path and its scatter backward;
- convolution backward: what the input and weight gradients share is made once;
- optimizer kernels: large parameters are updated block by block with the same roundings.
"""

from __future__ import annotations

import numpy as np
import pytest

from _helpers import both, numeric_vjp, same, same_error

torch = pytest.importorskip("torch")

import tapegrad  # noqa: E402


def _arr(shape, seed, dtype="float32"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# --- mse_loss ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n", [7, 100, 1003])
def test_mse_loss_gradients_are_torchs_bits(dtype, reduction, n):
    def prog(m):
        x = m.tensor(_arr(n, 1, dtype), requires_grad=True)
        y = m.tensor(_arr(n, 2, dtype), requires_grad=True)
        out = m.nn.functional.mse_loss(x, y, reduction=reduction)
        g = m.tensor(_arr(() if reduction != "none" else n, 3, dtype))
        out.backward(g)
        return x.grad, y.grad

    both(prog, atol=0, rtol=0)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_loss_value(reduction):
    def prog(m):
        x, y = m.tensor(_arr((5, 7), 4)), m.tensor(_arr((5, 7), 5))
        return (m.nn.functional.mse_loss(x, y, reduction=reduction),
                m.nn.functional.mse_loss(x[0, 0], y[0, 0]),
                m.nn.functional.mse_loss(m.zeros(0), m.zeros(0)))

    both(prog)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_double_backward(reduction):
    def prog(m):
        x = m.tensor(_arr((3, 4), 6, "float64"), requires_grad=True)
        y = m.tensor(_arr((4,), 7, "float64"), requires_grad=True)  # broadcast target
        with np.testing.suppress_warnings() as sup:
            sup.filter(UserWarning)
            out = m.nn.functional.mse_loss(x, y.expand(3, 4), reduction=reduction)
        gx, gy = m.autograd.grad(out.sum(), (x, y), create_graph=True)
        (gx.pow(2).sum() + (gy * y).sum()).backward()
        return gx, gy, x.grad, y.grad

    both(prog, atol=1e-12, rtol=1e-12)


def test_mse_loss_gradient_numerically():
    x = tapegrad.tensor(_arr((2, 3), 8, "float64"), requires_grad=True)
    y = tapegrad.tensor(_arr((2, 3), 9, "float64"))
    tapegrad.nn.functional.mse_loss(x, y).backward()

    def fn(arrays):
        a = tapegrad.tensor(arrays[0])
        return [tapegrad.nn.functional.mse_loss(a, y).numpy()]

    want = numeric_vjp(fn, [x.detach().numpy()], [0], [np.float64(1.0)], 1e-6)
    np.testing.assert_allclose(x.grad.numpy(), want[0], atol=1e-8)


# --- linear ------------------------------------------------------------------------------------
def _next_names(out) -> list:
    return [type(f).__name__ if f is not None else None for f, _ in out.grad_fn.next_functions]


@pytest.mark.parametrize("batch", [1, 5])
def test_linear_weight_gradient_layout_and_values(batch):
    def prog(m):
        x = m.tensor(_arr((batch, 3), 10), requires_grad=True)
        w = m.tensor(_arr((4, 3), 11), requires_grad=True)
        b = m.tensor(_arr((4,), 12), requires_grad=True)
        out = m.nn.functional.linear(x, w, b)
        out.tanh().sum().backward()
        return (x.grad, w.grad, b.grad, w.grad.stride(), w.grad.is_contiguous(),
                w.grad._is_view(), out.grad_fn.name(), _next_names(out))

    both(prog)


def test_linear_weight_gradient_is_its_own_memory():
    lin = tapegrad.nn.Linear(3, 4)
    x = tapegrad.tensor(_arr((5, 3), 13))
    lin(x).sum().backward()
    g = lin.weight.grad
    assert g._data.flags.c_contiguous and g._data.flags.writeable
    assert not np.shares_memory(g._data, lin.weight._data)
    first = g.clone()
    lin(x).sum().backward()  # accumulates in place
    same(lin.weight.grad, first * 2)


def test_linear_column_major_input_gradient():
    def prog(m):
        xt = m.tensor(_arr((3, 5), 14), requires_grad=True)
        w = m.tensor(_arr((4, 3), 15), requires_grad=True)
        b = m.tensor(_arr((4,), 16), requires_grad=True)
        x = xt.t()  # (5, 3), column-major
        m.nn.functional.linear(x, w, b).pow(2).sum().backward()
        return xt.grad, w.grad, b.grad

    both(prog, atol=1e-5)


@pytest.mark.parametrize("which", ["x", "w", "b", "xw", "none"])
def test_linear_graph_for_each_input_needing_grad(which):
    def prog(m):
        x = m.tensor(_arr((2, 3), 17), requires_grad="x" in which)
        w = m.tensor(_arr((4, 3), 18), requires_grad="w" in which)
        b = m.tensor(_arr((4,), 19), requires_grad="b" in which)
        out = m.nn.functional.linear(x, w, b)
        names = None
        if out.grad_fn is not None:
            names = _next_names(out)
            out.exp().sum().backward()
        return out, out.requires_grad, names, x.grad, w.grad, b.grad

    both(prog, atol=1e-6)


def test_linear_under_no_grad_and_inference_mode():
    def prog(m):
        x = m.tensor(_arr((2, 3), 20))
        w = m.tensor(_arr((4, 3), 21), requires_grad=True)
        b = m.tensor(_arr((4,), 22), requires_grad=True)
        with m.no_grad():
            a = m.nn.functional.linear(x, w, b)
        with m.inference_mode():
            c = m.nn.functional.linear(x, w, b)
        return a, a.requires_grad, a.grad_fn, c, c.is_inference()

    both(prog)


def test_linear_second_derivative():
    def prog(m):
        x = m.tensor(_arr((3, 2), 23, "float64"), requires_grad=True)
        w = m.tensor(_arr((4, 2), 24, "float64"), requires_grad=True)
        b = m.tensor(_arr((4,), 25, "float64"), requires_grad=True)
        out = m.nn.functional.linear(x, w, b).tanh().sum()
        gx, gw = m.autograd.grad(out, (x, w), create_graph=True)
        (gx.sum() + gw.pow(2).sum()).backward()
        return gx, gw, x.grad, w.grad, b.grad, gw.stride()

    both(prog, atol=1e-12, rtol=1e-10)


def test_linear_errors_keep_their_messages():
    same_error(lambda m: m.nn.functional.linear(m.ones(2, 3), m.ones(4, 5), m.ones(4)))
    same_error(lambda m: m.nn.functional.linear(m.ones(2, 3), m.ones(4, 3), m.ones(3)))
    same_error(lambda m: m.nn.functional.linear(m.ones(2, 3), m.ones(4, 3, dtype=m.float64),
                                                m.ones(4)))


def test_linear_weight_modified_in_place_after_forward():
    def fn(m):
        x = m.ones(2, 3, requires_grad=True)
        w = m.ones(4, 3, requires_grad=True)
        out = m.nn.functional.linear(x, w, m.ones(4))
        with m.no_grad():
            w.mul_(2)
        out.sum().backward()

    same_error(fn)


# --- the engine --------------------------------------------------------------------------------
def test_leaf_hooks_and_post_accumulate_hooks_still_run():
    def prog(m):
        seen = []
        lin = m.nn.Linear(3, 2)
        with m.no_grad():
            lin.weight.copy_(m.tensor(_arr((2, 3), 26)))
            lin.bias.copy_(m.tensor(_arr((2,), 27)))
        lin.weight.register_hook(lambda g: seen.append(("w", g.clone())))
        lin.bias.register_post_accumulate_grad_hook(lambda p: seen.append(("b", p.grad.clone())))
        lin(m.tensor(_arr((4, 3), 28))).sum().backward()
        return seen, lin.weight.grad, lin.bias.grad

    both(prog)


def test_leaf_reached_twice_and_leaf_that_is_a_root():
    def prog(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()  # two edges into x: summed first
        first = x.grad.clone()
        y = m.tensor([3.0, 4.0], requires_grad=True)
        z = (y * 2).sum()
        m.autograd.backward([z, y], [m.tensor(1.0), m.tensor([10.0, 20.0])])
        return first, y.grad

    both(prog)


def test_backward_with_inputs_and_grad_still_capture():
    def prog(m):
        w = m.tensor([1.0, 2.0], requires_grad=True)
        b = m.tensor([0.5, 0.5], requires_grad=True)
        loss = ((w * 3 + b) ** 2).sum()
        loss.backward(inputs=[w], retain_graph=True)
        gw, gb = m.autograd.grad(loss, (w, b))
        return w.grad, b.grad, gw, gb

    both(prog)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_scalar_backward_seed(dtype):
    def prog(m):
        x = m.tensor(_arr((3,), 29, dtype), requires_grad=True)
        loss = (x * 2).sum()
        loss.retain_grad()
        loss.backward(retain_graph=True)
        loss.backward()  # retain_graph kept the graph for a second pass
        one = (x[:1] * 3)  # a one-element non-scalar output
        one.backward()
        return x.grad, loss.grad, str(loss.grad.dtype)

    both(prog)


def test_scalar_backward_errors():
    same_error(lambda m: m.tensor(1.0).backward())
    same_error(lambda m: (m.ones(2, requires_grad=True) * 2).backward())
    same_error(lambda m: (m.ones(1, dtype=m.complex64, requires_grad=True) * 2).sum().backward())

    def twice(m):
        loss = (m.ones(2, requires_grad=True).exp()).sum()
        loss.backward()
        loss.backward()

    same_error(twice)


# --- nll_loss / cross_entropy ------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", ["plain", "ignored", "all_ignored", "weights", "empty"])
def test_cross_entropy_paths(reduction, case):
    def prog(m):
        n = 0 if case == "empty" else 6
        x = m.tensor(_arr((n, 5), 30), requires_grad=True)
        t = [3, 0, 4, 1, 1, 2][:n]
        if case == "ignored":
            t[2] = -100
        if case == "all_ignored":
            t = [-100] * n
        y = m.tensor(t, dtype=m.int64)
        w = m.tensor(_arr((5,), 31) ** 2) if case == "weights" else None
        out = m.nn.functional.cross_entropy(x, y, weight=w, reduction=reduction)
        out.sum().backward()
        return out, x.grad

    both(prog)


def test_nll_loss_target_out_of_bounds_and_saved_target():
    same_error(lambda m: m.nn.functional.nll_loss(m.zeros(2, 3), m.tensor([0, 3])))
    same_error(lambda m: m.nn.functional.nll_loss(m.zeros(2, 3), m.tensor([-1, 0])))

    def changed_target(m):
        x = m.tensor(_arr((3, 4), 32), requires_grad=True)
        y = m.tensor([1, 2, 3])
        out = m.nn.functional.nll_loss(x, y)
        y[0] = 0  # the target is saved: its version is checked
        out.backward()

    def twice(m):
        out = m.nn.functional.nll_loss(m.zeros(2, 3, requires_grad=True), m.tensor([0, 1]))
        out.backward()
        out.backward()

    same_error(changed_target)
    same_error(twice)


# --- convolution backward ----------------------------------------------------------------------
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("groups", [1, 2])
def test_convolution_gradients_sharing_their_parts(transposed, groups):
    def prog(m):
        f = m.nn.functional
        x = m.tensor(_arr((3, 4, 6, 5), 33), requires_grad=True)
        if transposed:
            w = m.tensor(_arr((4, 6 // groups, 3, 3), 34), requires_grad=True)
            b = m.tensor(_arr((6,), 35), requires_grad=True)
            out = f.conv_transpose2d(x, w, b, padding=1, groups=groups)
        else:
            w = m.tensor(_arr((6, 4 // groups, 3, 3), 34), requires_grad=True)
            b = m.tensor(_arr((6,), 35), requires_grad=True)
            out = f.conv2d(x, w, b, padding=1, groups=groups)
        (out * m.tensor(_arr(out.shape, 36))).sum().backward()
        return out, x.grad, w.grad, b.grad

    both(prog, atol=1e-4, rtol=1e-5)


def test_convolution_results_do_not_share_the_kernels_buffers():
    f = tapegrad.nn.functional
    x = tapegrad.tensor(_arr((2, 3, 7, 6), 47), requires_grad=True)
    w = tapegrad.tensor(_arr((4, 3, 3, 3), 48), requires_grad=True)
    out = f.conv2d(x, w, padding=1)
    out.sum().backward()
    kept = [out.detach().clone(), x.grad.clone(), w.grad.clone()]
    w2 = w.detach().clone().requires_grad_()
    for seed in (49, 50):  # same shapes, other values: the kernels reuse their temporaries
        x2 = tapegrad.tensor(_arr((2, 3, 7, 6), seed), requires_grad=True)
        f.conv2d(x2, w2, padding=1).pow(2).sum().backward()
        f.conv_transpose2d(f.conv2d(x2, w2, padding=1), w2, padding=1).sum().backward()
    for a, b in zip([out, x.grad, w.grad], kept):
        np.testing.assert_array_equal(a.detach().numpy(), b.numpy())


def test_convolution_in_threads():
    import threading

    f = tapegrad.nn.functional
    w = tapegrad.tensor(_arr((4, 3, 3, 3), 51))
    xs = [tapegrad.tensor(_arr((2, 3, 9, 8), 52 + i)) for i in range(4)]
    want = [f.conv2d(x, w, padding=1).numpy() for x in xs]
    got = [None] * 4
    bad = []

    def work(i):
        for _ in range(30):
            r = f.conv2d(xs[i], w, padding=1).numpy()
            if not np.array_equal(r, want[i]):
                bad.append(i)
        got[i] = r

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


# --- optimizer kernels on large parameters ------------------------------------------------------
_BIG = 100_003  # more than one block of the kernels


def _steps(m, opt_name, kw, shape=(_BIG,)):
    p = m.tensor(_arr(shape, 37), requires_grad=True)
    opt = getattr(m.optim, opt_name)([p], **kw)
    for i in range(3):
        p.grad = m.tensor(_arr(shape, 38 + i))
        opt.step()
    return p.detach()


@pytest.mark.parametrize("kw", [{"lr": 0.01}, {"lr": 0.01, "momentum": 0.9, "dampening": 0.1},
                                {"lr": 0.02, "momentum": 0.8, "nesterov": True,
                                 "weight_decay": 0.01}])
def test_sgd_on_large_parameters_is_torchs_bits(kw):
    both(lambda m: _steps(m, "SGD", kw), atol=0, rtol=0)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RAdam", "NAdam", "Adamax", "Adadelta"])
def test_large_parameters_blockwise_equals_whole(name, monkeypatch):
    from tapegrad.optim import _kernels as K

    blockwise = _steps(tapegrad, name, {})
    monkeypatch.setattr(K, "_BLOCK", 1 << 30)  # one block: the whole-array computation
    whole = _steps(tapegrad, name, {})
    np.testing.assert_array_equal(blockwise.numpy(), whole.numpy())
    same(blockwise, _steps(torch, name, {}), atol=1e-6, rtol=1e-5)


def test_blockwise_update_of_a_non_contiguous_parameter():
    def prog(m):
        base = m.tensor(_arr((400, 300), 41))
        p = base.t().clone().requires_grad_()  # (contiguous copy) and a transposed view
        q = m.tensor(_arr((300, 400), 42)).t().requires_grad_()
        opt = m.optim.SGD([p, q], lr=0.1, momentum=0.9)
        for i in range(2):
            p.grad = m.tensor(_arr((300, 400), 43 + i))
            q.grad = m.tensor(_arr((300, 400), 45 + i)).t()
            opt.step()
        return p, q

    both(prog, atol=0, rtol=0)

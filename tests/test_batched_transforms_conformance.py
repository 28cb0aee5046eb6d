"""Batched transforms against PyTorch 2.13: autograd.grad(is_grads_batched=True) (its checks,
in PyTorch's order), torch.func.jacrev / jacfwd / hessian (the layout ops and graphs of their
results, jacfwd's `randomness`, transforms inside vmap given public ops fetched before vmap
ran), autograd.functional.jacobian / hessian with vectorize=True, and the order of gradcheck's
batched checks. Each case runs the same small program with both libraries (`both`,
`same_error`); Jacobians are also checked against float64 central differences.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import tapegrad
from _helpers import both, same_error, warnings_of

torch = pytest.importorskip("torch")


def _x(m, shape=(3,), dtype="float32", seed=0, requires_grad=False):
    values = np.random.RandomState(seed).randn(*shape)
    return m.tensor(values, dtype=getattr(m, dtype), requires_grad=requires_grad)


def _graph(r):
    """(requires_grad, grad_fn name) of each tensor in a nested result."""
    if isinstance(r, (tuple, list)):
        return tuple(_graph(t) for t in r)
    if isinstance(r, dict):
        return {k: _graph(v) for k, v in r.items()}
    return r.requires_grad, None if r.grad_fn is None else r.grad_fn.name()


def _numeric_jacobian(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x by float64 central differences: shape f(x).shape + x.shape."""
    x = np.array(x, dtype=np.float64)
    cols = []
    for k in range(x.size):
        d = np.zeros(x.size)
        d[k] = eps
        d = d.reshape(x.shape)
        cols.append((np.asarray(f(x + d)) - np.asarray(f(x - d))) / (2 * eps))
    out_shape = np.asarray(f(x)).shape
    return np.stack(cols, -1).reshape(out_shape + x.shape)


# --- autograd.grad(is_grads_batched=True): its checks, in PyTorch's order -----------------------
def test_batched_grad_none_for_an_output_without_graph_is_a_vmap_error():
    # PyTorch vmaps over the grad_outputs before the engine checks the roots
    def prog(m):
        x = _x(m, requires_grad=True)
        return m.autograd.grad([x * 2, _x(m, seed=2)], x, [m.ones(4, 3), None],
                               is_grads_batched=True)

    same_error(prog)


def test_batched_grad_0d_and_empty_grad_outputs_fail_on_their_first_sample():
    def zero_d(m):
        x = _x(m, requires_grad=True)
        return m.autograd.grad(x.sum(), x, m.tensor(1.0), is_grads_batched=True)

    def empty(m):
        x = _x(m, requires_grad=True)
        return m.autograd.grad(x * 2, x, m.ones(0, 3), is_grads_batched=True)

    def no_outputs(m):
        return m.autograd.grad([], _x(m, requires_grad=True), [], is_grads_batched=True)

    for prog in (zero_d, empty, no_outputs):
        same_error(prog)


def test_batched_grad_implicit_scalar_grad_and_size_mismatch():
    def implicit(m):  # (a scalar's implicit grad has no batch dim)
        x = _x(m, requires_grad=True)
        return m.autograd.grad([x * 2, x.sum()], x, [m.ones(2, 3), None], is_grads_batched=True)

    def sizes(m):
        x = _x(m, requires_grad=True)
        return m.autograd.grad([x * 2, x[:1]], x, [m.ones(2, 3), None], is_grads_batched=True)

    def shape(m):
        x = _x(m, (2, 3), requires_grad=True)
        return m.autograd.grad(x * 2, x, m.ones(5, 2, 4), is_grads_batched=True)

    for prog in (implicit, sizes, shape):
        same_error(prog)


def test_batched_grad_then_roots_checked_by_the_engine():
    def prog(m):
        x = _x(m, requires_grad=True)
        return m.autograd.grad([x * 2, _x(m, seed=2)], x, [m.ones(4, 3), m.ones(4, 3)],
                               is_grads_batched=True)

    same_error(prog)


def test_batched_grad_values_int_grad_outputs_and_dict_inputs():
    def prog(m):
        x = _x(m, dtype="float64", requires_grad=True)
        z = _x(m, dtype="float64", seed=3, requires_grad=True)
        y = x.sin() * z
        g = m.autograd.grad(y, {"a": x, "b": z}, m.eye(3, dtype=m.int64),
                            is_grads_batched=True)
        return g["a"], g["b"]

    ga, gb = both(prog)
    x = np.random.RandomState(0).randn(3)
    z = np.random.RandomState(3).randn(3)
    np.testing.assert_allclose(ga.numpy(), _numeric_jacobian(lambda t: np.sin(t) * z, x),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gb.numpy(), _numeric_jacobian(lambda t: np.sin(x) * t, z),
                               rtol=1e-6, atol=1e-8)


# --- torch.func.jacrev / jacfwd: layout ops and graphs ------------------------------------------
def test_jacfwd_result_is_a_view_and_shares_one_graph_per_output():
    # PyTorch pushes the basis of all primals at once: the blocks of one output are split from
    # one tensor (a block that is constant still carries the graph), then unflattened (views)
    def prog(m):
        w = _x(m, seed=5, requires_grad=True)
        j = m.func.jacfwd(lambda x, y: x * w + y, argnums=(0, 1))(_x(m), _x(m, seed=1))
        return _graph(j), j

    graphs, j = both(prog)
    assert graphs == (((True, "ViewBackward0"), (True, "ViewBackward0")))
    w = np.random.RandomState(5).randn(3)
    np.testing.assert_allclose(j[0].detach().numpy(), np.diag(w), rtol=1e-6)


def test_jacrev_shares_one_graph_per_input_across_outputs():
    def prog(m):
        w = _x(m, seed=5, requires_grad=True)
        j = m.func.jacrev(lambda x: (x * w, x + 1, x.sum()))(_x(m))
        return _graph(j), j

    both(prog)


def test_jacrev_chunks_run_across_the_outputs():
    def f(m, x):
        return x.sin(), (x ** 2).sum(), x[:2] * x[1:]

    for chunk in (None, 1, 2, 4, 100.5):
        def prog(m, chunk=chunk):
            return m.func.jacrev(functools.partial(f, m), chunk_size=chunk)(
                _x(m, (3,), "float64"))

        jac = both(prog)
        x = np.random.RandomState(0).randn(3)
        want = [_numeric_jacobian(lambda t: np.sin(t), x),
                _numeric_jacobian(lambda t: (t ** 2).sum(), x),
                _numeric_jacobian(lambda t: t[:2] * t[1:], x)]
        for got, exp in zip(jac, want):
            np.testing.assert_allclose(got.numpy(), exp, rtol=1e-6, atol=1e-8)


def test_jacrev_chunk_size_that_is_not_an_int():
    same_error(lambda m: m.func.jacrev(lambda x: x.sin(), chunk_size=2.5)(_x(m, (5,))))


def test_hessian_blocks_share_graphs():
    def prog(m):
        c = _x(m, seed=4, requires_grad=True)
        h = m.func.hessian(lambda x, y: (x * x * y.exp() * c).sum(), argnums=(0, 1))(
            _x(m), _x(m, seed=1))
        return _graph(h), h

    both(prog, atol=1e-5)


# --- jacfwd's randomness ------------------------------------------------------------------------
def test_jacfwd_refuses_random_ops_by_default_and_leaves_the_stream():
    def prog(m):
        m.manual_seed(0)
        try:
            m.func.jacfwd(lambda x: x * m.rand(3))(_x(m))
        except RuntimeError as e:
            return str(e), m.rand(2)
        return "no error", None

    both(prog)


def test_jacfwd_random_modules_and_hessian():
    def dropout_train(m):
        m.manual_seed(0)
        net = m.nn.Sequential(m.nn.Linear(3, 4), m.nn.Dropout(0.3), m.nn.Linear(4, 2))
        return m.func.jacfwd(net)(_x(m))

    def hess(m):
        return m.func.hessian(lambda x: (x * m.randn(3)).sum())(_x(m))

    same_error(dropout_train)
    same_error(hess)

    def dropout_eval(m):
        m.manual_seed(0)
        net = m.nn.Sequential(m.nn.Linear(3, 4), m.nn.Dropout(0.3), m.nn.Linear(4, 2)).eval()
        return m.func.jacfwd(net)(_x(m)), m.rand(2)

    both(dropout_eval)


def test_jacfwd_randomness_different_and_same():
    def different(m):
        m.manual_seed(0)
        j = m.func.jacfwd(
            lambda x, y: (m.nn.functional.dropout(x * y, 0.5), y.sum() * m.randn(())),
            argnums=(0, 1), randomness="different")(_x(m, (4,)), _x(m, (), seed=1))
        return j, m.rand(2)

    def aux(m):
        m.manual_seed(0)
        return m.func.jacfwd(lambda x: (x * m.rand(3), x.sum()), randomness="different",
                             has_aux=True)(_x(m))

    def same(m):
        m.manual_seed(0)
        return m.func.jacfwd(lambda x: m.nn.functional.dropout(x * 2, 0.5),
                             randomness="same")(_x(m, (5,))), m.rand(2)

    for prog in (different, aux, same):
        both(prog)


# --- transforms inside vmap, given functions fetched before vmap ran ------------------------------
class _Square(tapegrad.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class _TorchSquare(torch.autograd.Function):
    generate_vmap_rule = True
    forward = _Square.forward
    setup_context = _Square.setup_context
    backward = _Square.backward


def test_transforms_of_public_ops_inside_vmap():
    progs = [
        lambda m: m.func.vmap(m.func.jacrev(m.sin))(_x(m, (2, 3))),
        lambda m: m.func.vmap(m.func.jacfwd(m.sin))(_x(m, (2, 3))),
        lambda m: m.func.vmap(m.func.hessian(m.sum))(_x(m, (2, 3))),
        lambda m: m.func.vmap(m.func.jacrev(m.Tensor.exp))(_x(m, (2, 3))),
        lambda m: m.func.vmap(m.func.jacrev(
            functools.partial(m.nn.functional.softmax, dim=0)))(_x(m, (2, 3))),
        lambda m: m.func.vmap(m.func.jacrev(
            (_Square if m is tapegrad else _TorchSquare).apply))(_x(m, (2, 3))),
    ]
    for prog in progs:
        both(prog, atol=1e-6)


# --- autograd.functional with vectorize=True ---------------------------------------------------
def test_functional_jacobian_vectorized_empty_output():
    same_error(lambda m: m.autograd.functional.jacobian(lambda x: x[:0], _x(m),
                                                        vectorize=True))


def test_functional_jacobian_vectorized_graphs():
    def reverse(m):
        x = _x(m, requires_grad=True)
        w = _x(m, seed=3, requires_grad=True)
        j = m.autograd.functional.jacobian(lambda t, u: (t * w, u * 2), (x, _x(m, seed=1)),
                                           vectorize=True)
        return _graph(j), j

    def forward(m):
        w = _x(m, seed=3, requires_grad=True)
        j = m.autograd.functional.jacobian(lambda t, u: (t * u * w, u + 1),
                                           (_x(m), _x(m, seed=1)), vectorize=True,
                                           strategy="forward-mode")
        return _graph(j), j

    def hess(m):
        h = m.autograd.functional.hessian(lambda x, y: (x * y.exp()).sum(),
                                          (_x(m), _x(m, seed=1)), vectorize=True,
                                          outer_jacobian_strategy="forward-mode")
        return _graph(h), h

    for prog in (reverse, forward, hess):
        both(prog)


def test_functional_jacobian_vectorized_values_against_differences():
    def prog(m):
        return m.autograd.functional.jacobian(
            lambda x, y: ((x * y).exp(), x.sum() * y[:2]),
            (_x(m, (3,), "float64"), _x(m, (3,), "float64", seed=1)), vectorize=True)

    jac = both(prog)
    x, y = np.random.RandomState(0).randn(3), np.random.RandomState(1).randn(3)
    want = [[_numeric_jacobian(lambda t: np.exp(t * y), x),
             _numeric_jacobian(lambda t: np.exp(x * t), y)],
            [_numeric_jacobian(lambda t: t.sum() * y[:2], x),
             _numeric_jacobian(lambda t: x.sum() * t[:2], y)]]
    for row, wrow in zip(jac, want):
        for got, exp in zip(row, wrow):
            np.testing.assert_allclose(got.numpy(), exp, rtol=1e-6, atol=1e-8)


# --- gradcheck: the order of its checks --------------------------------------------------------
def _bad_function(m):
    """A Function whose jvp is wrong and whose backward is not scaled by a zero grad_output
    (but is right for the unit cotangents of the Jacobian check)."""

    class Bad(m.autograd.Function):
        @staticmethod
        def forward(x):
            return x * 2

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass

        @staticmethod
        def backward(ctx, g):
            return g * 2 + (g == 0).all().to(g.dtype)

        @staticmethod
        def jvp(ctx, t):
            return t * 3

    return Bad


def test_gradcheck_runs_forward_checks_before_the_grad_output_check():
    def prog(m):
        x = m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True)
        try:
            m.autograd.gradcheck(_bad_function(m).apply, (x,), check_forward_ad=True)
        except RuntimeError as e:  # (GradcheckError)
            return str(e).split("\n")[0]
        return "passed"

    assert both(prog).startswith("Jacobian computed with forward mode mismatch")


def test_gradcheck_warns_once_per_input_with_forward_ad():
    def run(m):
        x = m.tensor([0.5, -1.0], dtype=m.float32, requires_grad=True)
        return warnings_of(lambda: m.autograd.gradcheck(
            lambda t: t.sin(), (x,), check_forward_ad=True, check_batched_forward_grad=True,
            eps=1e-3, atol=1e-2, rtol=1e-2))

    assert run(tapegrad) == run(torch)


def test_vjp_fn_made_inside_vmap_applied_under_another_vmap_warns_nothing():
    # (the empirical-NTK recipe: PyTorch batches these pullbacks; tapegrad loops over them,
    # an implementation detail that must not surface as a performance warning)
    def prog(m):
        m.manual_seed(0)
        model = m.nn.Sequential(m.nn.Linear(3, 4), m.nn.Tanh(), m.nn.Linear(4, 2))
        params = {k: v.detach() for k, v in model.named_parameters()}
        x = m.randn(4, 3)

        def f(p, xi):
            return m.func.functional_call(model, p, (xi,))

        def ntk(x1, x2):
            out, vjp_fn = m.func.vjp(lambda p: f(p, x1), params)

            def column(vec):
                return m.func.jvp(lambda p: f(p, x2), (params,), vjp_fn(vec))[1]

            return m.func.vmap(column)(m.eye(out.numel()).view(out.numel(), -1))

        res = []
        warned = warnings_of(lambda: res.append(
            m.func.vmap(m.func.vmap(ntk, (None, 0)), (0, None))(x[:2], x[2:])))
        return res[0], warned

    both(prog, atol=1e-5)

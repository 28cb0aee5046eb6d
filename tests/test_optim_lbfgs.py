"""LBFGS against PyTorch: the iterates, the closure's losses and the optimizer state, with and
without the strong-Wolfe line search."""

from __future__ import annotations

import numpy as np
import pytest

from _helpers import both, same_error

torch = pytest.importorskip("torch")

import tapegrad  # noqa: E402

# float64. The dot products round differently (NumPy's BLAS vs PyTorch's MKL) and L-BFGS on
# the ill-conditioned Rosenbrock valley amplifies that: ~1e-12 after 20 iterations, ~2e-9
# after 40.
TOL = {"atol": 1e-8, "rtol": 1e-8}


def _rosenbrock(m, x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _quadratic(m, x, a):
    return 0.5 * (x @ (a @ x)) - x.sum()


def _solve(m, kw, steps, problem="rosenbrock", dtype="float64"):
    rng = np.random.default_rng(0)
    x = m.tensor(rng.standard_normal(4) * 0.5, dtype=getattr(m, dtype), requires_grad=True)
    q = rng.standard_normal((4, 4))
    a = m.tensor(q @ q.T + np.eye(4), dtype=getattr(m, dtype))
    opt = m.optim.LBFGS([x], **kw)
    losses = []

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(m, x) if problem == "rosenbrock" else _quadratic(m, x, a)
        loss.backward()
        losses.append(loss.item())
        return loss

    out = []
    for _ in range(steps):
        out.append(opt.step(closure).detach())
        out.append(x.detach().clone())
    return out, losses


@pytest.mark.parametrize("kw", [
    {},
    {"lr": 0.5, "max_iter": 5},
    {"history_size": 3, "max_iter": 8},
    {"line_search_fn": "strong_wolfe"},
    {"line_search_fn": "strong_wolfe", "history_size": 2, "max_iter": 6},
    {"tolerance_change": 1e-3, "max_iter": 50},
])
def test_rosenbrock_iterates(kw):
    out, losses = both(lambda m: _solve(m, kw, steps=3), **TOL)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("search", [None, "strong_wolfe"])
def test_quadratic_converges_like_torch(search):
    out, losses = both(lambda m: _solve(m, {"line_search_fn": search}, 2, "quadratic"), **TOL)
    assert len(losses) > 2


def test_float32_iterates():
    both(lambda m: _solve(m, {"max_iter": 4}, 2, dtype="float32"), atol=1e-5, rtol=1e-5)


def test_state_after_steps():
    def prog(m):
        x = m.tensor([0.3, -0.4, 0.2], dtype=m.float64, requires_grad=True)
        opt = m.optim.LBFGS([x], history_size=2, max_iter=4)

        def closure():
            opt.zero_grad()
            loss = _rosenbrock(m, x)
            loss.backward()
            return loss

        opt.step(closure)
        opt.step(closure)
        st = opt.state[x]
        return ({k: st[k] for k in ("func_evals", "n_iter", "d", "t", "old_dirs", "old_stps",
                                    "ro", "H_diag", "prev_flat_grad", "prev_loss")},
                list(opt.state_dict()["state"][0]), len(st["al"]))

    both(prog, **TOL)


def test_already_optimal_returns_at_once():
    def prog(m):
        x = m.tensor([1.0, 1.0], dtype=m.float64, requires_grad=True)
        opt = m.optim.LBFGS([x])
        calls = []

        def closure():
            calls.append(1)
            opt.zero_grad()
            loss = _rosenbrock(m, x)
            loss.backward()
            return loss

        loss = opt.step(closure)
        return loss, len(calls), opt.state_dict()["state"]

    both(prog)


def test_unknown_line_search():
    def fn(m):
        x = m.tensor([0.5, 2.0], dtype=m.float64, requires_grad=True)
        opt = m.optim.LBFGS([x], line_search_fn="armijo")

        def closure():
            opt.zero_grad()
            loss = _rosenbrock(m, x)
            loss.backward()
            return loss

        opt.step(closure)

    same_error(fn)


def test_parameters_without_grad_and_several_tensors():
    def prog(m):
        a = m.tensor([0.5, -0.3], dtype=m.float64, requires_grad=True)
        b = m.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=m.float64, requires_grad=True)
        unused = m.zeros(3, dtype=m.float64, requires_grad=True)
        opt = m.optim.LBFGS([a, b, unused], max_iter=6)

        def closure():
            opt.zero_grad()
            loss = ((b @ a - 1.0) ** 2).sum() + (a**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return a.detach(), b.detach(), unused.detach()

    both(prog, **TOL)


def test_closure_runs_with_grad_and_step_without():
    x = tapegrad.tensor([0.5, 2.0], dtype=tapegrad.float64, requires_grad=True)
    opt = tapegrad.optim.LBFGS([x], max_iter=2)
    modes = []

    def closure():
        modes.append(tapegrad.is_grad_enabled())
        opt.zero_grad()
        loss = _rosenbrock(tapegrad, x)
        loss.backward()
        return loss

    opt.step(closure)
    assert modes and all(modes)
    assert tapegrad.is_grad_enabled()

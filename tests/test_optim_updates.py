"""Optimizer updates step by step against PyTorch: the same parameters and the same gradients
in both libraries, several steps, parameters and optimizer state compared after every step."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from _helpers import both, same

torch = pytest.importorskip("torch")

import tapegrad  # noqa: E402

SHAPES = [(3, 4), (5,), ()]

# float64: NumPy has no fused multiply-add, PyTorch's CPU kernels do (one rounding fewer), so
# results may differ in the last bits. float32 reproduces the fused roundings exactly, but
# PyTorch's vectorized float32 sqrt is not correctly rounded (off by one ulp for ~18% of
# inputs), so values may differ by a few ulps.
TOL = {"float64": {"atol": 1e-13, "rtol": 1e-12}, "float32": {"atol": 1e-6, "rtol": 1e-6}}

CONFIGS = {
    "SGD": [
        {"lr": 0.1},
        {"lr": 0.1, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1},
        {"lr": 0.05, "momentum": 0.8, "nesterov": True, "maximize": True},
        {"lr": 0.05, "weight_decay": 0.01, "maximize": True},
        {"lr": 0.1, "momentum": 0.9, "foreach": True},  # same update in tapegrad
        {"lr": 0.1, "momentum": 0.9, "fused": True},
    ],
    "Adam": [
        {},
        {"lr": 0.01, "amsgrad": True},
        {"lr": 0.01, "weight_decay": 0.1, "maximize": True},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "amsgrad": True},
        {"lr": 0.1, "betas": (0.5, 0.6), "eps": 1e-3},
        {"lr": 0.01, "fused": True},
        {"lr": 0.01, "foreach": True},
    ],
    "AdamW": [
        {},
        {"lr": 0.1, "amsgrad": True, "weight_decay": 0.5},
        {"lr": 0.01, "maximize": True},
        {"fused": True, "amsgrad": True},
    ],
    "RMSprop": [
        {},
        {"centered": True},
        {"momentum": 0.9},
        {"centered": True, "momentum": 0.5, "weight_decay": 0.1, "maximize": True},
        {"lr": 0.1, "alpha": 0.5, "eps": 1e-4},
        {"foreach": True, "centered": True},
    ],
    "Adagrad": [
        {},
        {"lr": 0.1, "lr_decay": 0.1, "initial_accumulator_value": 0.5},
        {"weight_decay": 0.1, "maximize": True, "eps": 1e-3},
        {"fused": True},
    ],
    "Adadelta": [
        {},
        {"lr": 0.5, "rho": 0.5, "weight_decay": 0.1},
        {"maximize": True, "eps": 1e-3},
    ],
    "Adamax": [
        {},
        {"lr": 0.01, "weight_decay": 0.1, "maximize": True},
        {"betas": (0.5, 0.9)},
    ],
    "NAdam": [
        {},
        {"lr": 0.01, "momentum_decay": 0.01, "weight_decay": 0.1},
        {"decoupled_weight_decay": True, "weight_decay": 0.1, "maximize": True},
    ],
    "RAdam": [
        {},  # rho_t passes 5 after the fifth step: both branches run
        {"weight_decay": 0.1},
        {"decoupled_weight_decay": True, "weight_decay": 0.1, "maximize": True},
        {"lr": 0.1, "betas": (0.9, 0.9)},
    ],
}
CASES = [(name, i) for name, cfgs in CONFIGS.items() for i in range(len(cfgs))]


def _run(m, name: str, kw: dict, dtype: str, steps: int = 8, seed: int = 0):
    """Train the same parameters with the same gradients; some gradients are None on some
    steps (those parameters are skipped, as PyTorch does). Returns every step's parameters and
    the final state dict."""
    rng = np.random.default_rng(seed)
    dt = getattr(m, dtype)
    params = [m.tensor(rng.standard_normal(s), dtype=dt, requires_grad=True) for s in SHAPES]
    opt = getattr(m.optim, name)(params, **kw)
    history = []
    for k in range(steps):
        for i, p in enumerate(params):
            g = rng.standard_normal(p.shape)
            p.grad = None if (k + i) % 5 == 4 else m.tensor(g, dtype=dt)
        opt.step()
        history.append([p.detach().clone() for p in params])
    return history, opt.state_dict()


@pytest.mark.parametrize("name,i", CASES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_updates_match_torch(name, i, dtype):
    both(lambda m: _run(m, name, CONFIGS[name][i], dtype), **TOL[dtype])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_param_groups_with_own_hyperparameters(name):
    """Two groups, the second with its own lr (and weight decay where the optimizer has it)."""

    def prog(m):
        rng = np.random.default_rng(1)
        a = m.tensor(rng.standard_normal((2, 3)), dtype=m.float64, requires_grad=True)
        b = m.tensor(rng.standard_normal(4), dtype=m.float64, requires_grad=True)
        opt = getattr(m.optim, name)([{"params": [a]}, {"params": [b], "lr": 0.3,
                                                          "weight_decay": 0.2}], lr=0.01)
        out = []
        for _ in range(4):
            a.grad = m.tensor(rng.standard_normal((2, 3)), dtype=m.float64)
            b.grad = m.tensor(rng.standard_normal(4), dtype=m.float64)
            opt.step()
            out.append((a.detach().clone(), b.detach().clone()))
        return out, opt.state_dict()

    both(prog, **TOL["float64"])


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad", "Adamax", "NAdam",
                                  "RAdam", "Adadelta"])
@pytest.mark.parametrize("dtype", ["complex128", "complex64"])
def test_complex_parameters(name, dtype):
    """Complex parameters are updated as pairs of reals (PyTorch's view_as_real)."""
    kw = {"lr": 0.05, "momentum": 0.5} if name == "SGD" else {}

    def prog(m):
        rng = np.random.default_rng(2)
        z = rng.standard_normal((3, 2)) + 1j * rng.standard_normal((3, 2))
        p = m.tensor(z, dtype=getattr(m, dtype), requires_grad=True)
        opt = getattr(m.optim, name)([p], **kw)
        out = []
        for _ in range(4):
            g = rng.standard_normal((3, 2)) + 1j * rng.standard_normal((3, 2))
            p.grad = m.tensor(g, dtype=getattr(m, dtype))
            opt.step()
            out.append(p.detach().clone())
        return out

    tol = TOL["float64" if dtype == "complex128" else "float32"]
    both(prog, **tol)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_training_a_small_model(name):
    """Gradients from backward through a small model, the loss falling as in PyTorch."""

    def prog(m):
        rng = np.random.default_rng(3)
        x = m.tensor(rng.standard_normal((8, 3)), dtype=m.float64)
        y = m.tensor(rng.standard_normal((8, 1)), dtype=m.float64)
        w1 = m.tensor(rng.standard_normal((3, 5)) * 0.5, dtype=m.float64, requires_grad=True)
        w2 = m.tensor(rng.standard_normal((5, 1)) * 0.5, dtype=m.float64, requires_grad=True)
        opt = getattr(m.optim, name)([w1, w2], lr=0.05)
        losses = []
        for _ in range(10):
            opt.zero_grad()
            loss = ((m.tanh(x @ w1) @ w2 - y) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, w1.detach(), w2.detach()

    losses = both(prog, **TOL["float64"])[0]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", ["Adam", "SGD"])
def test_tensor_lr(name):
    def prog(m):
        p = m.tensor([1.0, -2.0, 3.0], dtype=m.float64, requires_grad=True)
        opt = getattr(m.optim, name)([p], lr=m.tensor(0.1))
        for k in range(3):
            p.grad = m.tensor([0.5, -1.0, 2.0 + k], dtype=m.float64)
            opt.step()
        return p.detach()

    both(prog, **TOL["float64"])


def test_step_state_dtype_follows_default_dtype():
    def prog(m):
        old = m.get_default_dtype()
        m.set_default_dtype(m.float64)
        try:
            p = m.tensor([1.0, 2.0], requires_grad=True)
            opt = m.optim.Adam([p])
            p.grad = m.ones(2)
            opt.step()
            return opt.state_dict()["state"][0]["step"]
        finally:
            m.set_default_dtype(old)

    assert both(prog).dtype is tapegrad.float64


def test_load_state_dict_then_continue():
    """A fresh optimizer loading (a copy of) another's state dict continues exactly as the
    original."""

    def prog(m):
        rng = np.random.default_rng(4)
        vals = rng.standard_normal((2, 3))
        grads = rng.standard_normal((6, 2, 3))
        p = m.tensor(vals, requires_grad=True)
        opt = m.optim.Adam([p], lr=0.1, amsgrad=True)
        for g in grads[:3]:
            p.grad = m.tensor(g)
            opt.step()
        q = p.detach().clone().requires_grad_()
        opt2 = m.optim.Adam([q], lr=0.5)
        opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # as after a save and load
        for g in grads[3:]:
            p.grad = m.tensor(g)
            q.grad = m.tensor(g)
            opt.step()
            opt2.step()
        return p.detach(), q.detach(), opt2.param_groups[0]["lr"], opt2.state_dict()

    p, q, lr, _ = both(prog, **TOL["float64"])
    same(p, q, atol=0, rtol=0)
    assert lr == 0.1


def test_updates_bump_the_version():
    p = tapegrad.ones(3, requires_grad=True)
    opt = tapegrad.optim.SGD([p], lr=0.1)
    v = p._version
    p.grad = tapegrad.ones(3)
    opt.step()
    assert p._version == v + 1
    y = p * p
    p.grad = tapegrad.ones(3)
    opt.step()  # changes a tensor saved by y's graph: backward must refuse
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_views_of_a_parameter_see_the_update():
    p = tapegrad.zeros(2, 2, requires_grad=True)
    row = p.detach()[0]
    opt = tapegrad.optim.SGD([p], lr=1.0)
    p.grad = tapegrad.ones(2, 2)
    opt.step()
    same(row, torch.tensor([-1.0, -1.0]))


def test_loaded_state_shares_the_given_tensors():
    """load_state_dict keeps the state dict's tensors (no copy, as PyTorch): two optimizers
    loaded from one state dict update the same moment buffers."""

    def prog(m):
        p = m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True)
        opt = m.optim.Adam([p], lr=0.1)
        p.grad = m.tensor([0.5, -0.5], dtype=m.float64)
        opt.step()
        sd = opt.state_dict()
        q = m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True)
        opt2 = m.optim.Adam([q], lr=0.1)
        opt2.load_state_dict(sd)
        shared = opt2.state[q]["exp_avg"] is opt.state[p]["exp_avg"]
        q.grad = m.tensor([1.0, 1.0], dtype=m.float64)
        opt2.step()
        return shared, opt.state[p]["exp_avg"], opt.state[p]["step"]

    assert both(prog)[0] is True

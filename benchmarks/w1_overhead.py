"""W1, op overhead: many tiny element-wise ops, forward and backward.

x is 16 float32 values requiring grad; 200 times ``y = (y * 1.0001 + 0.5).tanh()``, then
``y.sum().backward()``. The figure is the whole step's time (graph building, backward, the
gradient landing in x.grad) divided by the 600 element-wise ops (mul, add, tanh per iteration):
at this size it is almost all per-op overhead, the cost a user pays for every op of a small model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

ID = "W1"
TITLE = "op overhead"
UNIT = "µs/op"
SCALE = 1e6
DESCRIPTION = ("16 float32 elements; 200 x `y = (y * 1.0001 + 0.5).tanh()`; `y.sum().backward()`; "
               "time per element-wise op, forward + backward (total / 600)")
PARAMS = {"n": 16, "iters": 200}
SMOKE_PARAMS = {"n": 16, "iters": 5}


def units(params: dict) -> float:
    """Element-wise ops per step: mul, add and tanh per iteration."""
    return 3 * params["iters"]


def inputs(params: dict) -> np.ndarray:
    """The same x for every peer."""
    return np.linspace(-2.0, 2.0, params["n"], dtype=np.float32)


def make(peer: str, params: dict) -> Callable[[], np.ndarray]:
    x0, iters = inputs(params), params["iters"]

    if peer in ("tapegrad", "torch"):  # the same code: tapegrad's API is PyTorch's
        lib = importlib.import_module(peer)
        x = lib.tensor(x0, requires_grad=True)

        def step() -> np.ndarray:
            x.grad = None
            y = x
            for _ in range(iters):
                y = (y * 1.0001 + 0.5).tanh()
            y.sum().backward()
            return x.grad.numpy()

        return step

    if peer == "numpy":  # by hand: keep each tanh output, then the chain rule backwards

        def step_np() -> np.ndarray:
            outs, y = [], x0
            for _ in range(iters):
                y = np.tanh(y * 1.0001 + 0.5)
                outs.append(y)
            g = np.ones_like(x0)
            for y in reversed(outs):
                g = g * (1 - y * y) * 1.0001
            return g

        return step_np

    if peer == "autograd":  # HIPS autograd: differentiate a function of NumPy arrays
        import autograd
        import autograd.numpy as anp

        def f(x):
            y = x
            for _ in range(iters):
                y = anp.tanh(y * np.float32(1.0001) + np.float32(0.5))
            return anp.sum(y)

        g = autograd.grad(f)
        return lambda: np.asarray(g(x0))

    if peer == "jax":  # eager, op by op (no jit): the same per-op dispatch being measured
        import jax
        import jax.numpy as jnp

        def f(x):
            y = x
            for _ in range(iters):
                y = jnp.tanh(y * 1.0001 + 0.5)
            return jnp.sum(y)

        g = jax.grad(f)
        xj = jnp.asarray(x0)
        return lambda: np.asarray(g(xj).block_until_ready())

    raise NotImplementedError(peer)

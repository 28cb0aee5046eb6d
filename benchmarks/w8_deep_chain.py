"""W8, a deep chain: 100,000 ops on a scalar tensor, forward and backward.

x is a 0-d float32 tensor requiring grad; 25,000 times ``y = y + (y * 1.5).sin() * 1e-4`` (mul,
sin, mul, add: 100,000 ops), then ``y.backward()``. Each step's derivative is
``1 + 1.5e-4 cos(1.5 y)``, close to 1, so the gradient stays O(1) over the whole chain rather
than vanishing or blowing up, and the check is meaningful. The graph is 100,000 nodes deep: this
is the test of an engine that must not recurse, and of how much memory a node costs. The figures
are the whole step in seconds and, in the memory table, the peak rise of the resident set size.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

ID = "W8"
TITLE = "deep scalar chain"
UNIT = "s/step"
SCALE = 1.0
MEMORY = True
DESCRIPTION = ("0-d float32 x; 25,000 x `y = y + (y * 1.5).sin() * 1e-4` (100,000 ops); "
               "`y.backward()`; per step (peak memory in the table below)")
PARAMS = {"iters": 25_000, "x": 0.3}
SMOKE_PARAMS = {"iters": 50, "x": 0.3}


def units(params: dict) -> float:
    """One step."""
    return 1.0


def make(peer: str, params: dict) -> Callable[[], list[np.ndarray]]:
    x0, iters = np.float32(params["x"]), params["iters"]

    if peer in ("tapegrad", "torch"):  # the same code: tapegrad's API is PyTorch's
        lib = importlib.import_module(peer)
        x = lib.tensor(x0, requires_grad=True)

        def step() -> list[np.ndarray]:
            x.grad = None
            y = x
            for _ in range(iters):
                y = y + (y * 1.5).sin() * 1e-4
            y.backward()
            return [y.detach().numpy(), x.grad.numpy()]

        return step

    if peer == "numpy":  # the tape by hand: forward keeps each sin's input, backward walks back
        a, eps = np.float32(1.5), np.float32(1e-4)

        def step_np() -> list[np.ndarray]:
            ss = []
            y = x0
            for _ in range(iters):
                s = y * a
                ss.append(s)
                y = y + np.sin(s) * eps
            g = np.float32(1.0)
            for s in reversed(ss):
                # y_new = y + eps sin(a y): g_y = g + ((g * eps) * cos(s)) * a
                g = g + g * eps * np.cos(s) * a
            return [np.asarray(y), np.asarray(g)]

        return step_np

    raise NotImplementedError(peer)

"""W5, memory: a long element-wise chain on a big tensor, where what backward keeps is the cost.

x is 1e6 float32 values requiring grad; 20 times the five ops ``sin``, ``* 1.01``, ``+ 0.1``,
``abs``, ``exp`` (100 ops), then ``sum`` and backward. The figures are the step's time in
milliseconds and, in the memory table, how far the resident set size of a fresh process rose
during its first step.

The analytic figure (`analytic_bytes`): an op keeps for backward only what its derivative needs.
``sin`` needs its input (cos x), ``abs`` its input (sign x), ``exp`` its output; multiplying or
adding a constant needs nothing. Within a round ``e = exp(abs(sin(e_prev) * 1.01 + 0.1))`` the
arrays kept are therefore the input of ``abs`` and the output of ``exp`` (which is also what the
next ``sin`` keeps): 2 arrays of 4 MB a round, 40 arrays, 160 MB, alive together at the end of
the forward. Backward then needs the incoming and the outgoing gradient (2 more arrays) while it
frees the saved arrays one by one, so the least peak is 42 arrays, 168 MB (x itself is made
before the step and not counted).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

ID = "W5"
TITLE = "memory: 100-op chain"
UNIT = "ms/step"
SCALE = 1e3
MEMORY = True
DESCRIPTION = ("1e6 float32 elements; 20 x (sin, * 1.01, + 0.1, abs, exp) = 100 ops; sum; "
               "backward; per step (peak memory in the table below)")
PARAMS = {"n": 1_000_000, "rounds": 20}
SMOKE_PARAMS = {"n": 1000, "rounds": 2}
# The round map e -> exp(|1.01 sin e + 0.1|) stretches some orbits (|d/de| up to ~3), so after 20
# rounds a one-ulp difference between two libraries' float32 sin or exp can grow into a large
# relative difference of the gradient on some entries (gradients here reach 1e4 and cross zero):
# against a float64 evaluation, torch's and NumPy's float32 results miss rtol 1e-5 on ~10 % of
# the entries, both. So the full-size check is rtol 1e-3, atol 1e-5 on all but 0.5 % of the
# entries (a wrong derivative would miss it on most entries); the smoke sizes (2 rounds) are
# checked at the usual tolerance by the tests.
RTOL, ATOL, MAX_OUTLIERS = 1e-3, 1e-5, 0.005


def units(params: dict) -> float:
    """One step."""
    return 1.0


def analytic_bytes(params: dict) -> float:
    """The least peak: 2 saved arrays per round plus 2 gradient arrays (see the docstring)."""
    return (2 * params["rounds"] + 2) * params["n"] * 4.0


def inputs(params: dict) -> np.ndarray:
    return np.linspace(-3.0, 3.0, params["n"], dtype=np.float32)


def make(peer: str, params: dict) -> Callable[[], np.ndarray]:
    x0, rounds = inputs(params), params["rounds"]

    if peer in ("tapegrad", "torch"):  # the same code: tapegrad's API is PyTorch's
        lib = importlib.import_module(peer)
        x = lib.tensor(x0, requires_grad=True)

        def step() -> np.ndarray:
            x.grad = None
            y = x
            for _ in range(rounds):
                y = (y.sin() * 1.01 + 0.1).abs().exp()
            y.sum().backward()
            return x.grad.numpy()

        return step

    if peer == "numpy":  # keeps exactly the analytic set: abs's input and exp's output a round

        def step_np() -> np.ndarray:
            kept = []
            y = x0
            for _ in range(rounds):
                c = np.sin(y) * np.float32(1.01) + np.float32(0.1)
                e = np.exp(np.abs(c))
                kept.append((c, e))
                y = e
            y.sum()
            g = np.ones_like(x0)
            for i in range(rounds - 1, -1, -1):
                c, e = kept.pop()
                g = g * e  # exp: d e / d a = e
                g = g * np.sign(c)  # abs
                g = g * np.float32(1.01)
                prev = kept[-1][1] if i else x0
                g = g * np.cos(prev)  # sin
            return g

        return step_np

    raise NotImplementedError(peer)

"""W4, a dense chain: big matmuls, where the time is the BLAS's and overhead should vanish.

X (1024x2048) is data; W1, W2 (2048x2048) require grad; ``loss = tanh(tanh(X @ W1) @ W2).sum()``
and backward into W1 and W2. That is five (1024x2048)x(2048x2048)-sized matmuls per step (two
forward; for each layer the weight gradient, and for the second layer the gradient of its
input), 5 * 2 * 1024 * 2048 * 2048 FLOPs. The figure is the step in milliseconds; the report
also gives each peer's GFLOP/s and, measured in the same processes, the GFLOP/s of NumPy's own
matmul at these shapes: the fraction of it a peer reaches is what its overhead costs.
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable

import numpy as np

ID = "W4"
TITLE = "dense chain"
UNIT = "ms/step"
SCALE = 1e3
DESCRIPTION = ("X (1024x2048) @ W1 (2048x2048) -> tanh -> @ W2 (2048x2048) -> tanh -> sum, "
               "float32; backward into W1, W2 (5 matmuls); per step")
PARAMS = {"m": 1024, "k": 2048, "n": 2048}
SMOKE_PARAMS = {"m": 8, "k": 16, "n": 16}
# Each gradient entry is a dot product of length m = 1024 in float32, summed in a different order
# by each BLAS: its rounding error is about sqrt(m) * 2**-24 ~ 2e-6 times the sum of the terms'
# magnitudes, which for entries near zero is far above rtol * |entry|. So the absolute
# tolerance is 2e-6 times the largest entry (run.py: atol = ATOL_SCALED * max |reference|).
ATOL_SCALED = 2e-6


def units(params: dict) -> float:
    """One step."""
    return 1.0


def flops(params: dict) -> float:
    """The five matmuls of a step (element-wise work is not counted)."""
    m, k, n = params["m"], params["k"], params["n"]
    # forward X @ W1 and T1 @ W2; backward X.T @ G1, T1.T @ G2 and G2 @ W2.T
    return 2.0 * m * (2 * k * n + 3 * n * n)


def inputs(params: dict) -> dict:
    """Data and weights scaled so that the pre-activations are about standard normal."""
    rng = np.random.default_rng(4)
    m, k, n = params["m"], params["k"], params["n"]
    return {"x": rng.standard_normal((m, k), dtype=np.float32),
            "w1": rng.standard_normal((k, n), dtype=np.float32) / np.float32(np.sqrt(k)),
            "w2": rng.standard_normal((n, n), dtype=np.float32) / np.float32(np.sqrt(n))}


def probe(params: dict, reps: int = 3) -> dict:
    """GFLOP/s of NumPy's float32 matmul of X @ W1 in this process (median of `reps`)."""
    d = inputs(params)
    x, w = d["x"], d["w1"]
    x @ w  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        x @ w
        times.append(time.perf_counter() - t0)
    return {"numpy_matmul_gflops": 2.0 * x.shape[0] * x.shape[1] * w.shape[1]
            / statistics.median(times) / 1e9}


def make(peer: str, params: dict) -> Callable[[], list[np.ndarray]]:
    d = inputs(params)

    if peer in ("tapegrad", "torch"):  # the same code: tapegrad's API is PyTorch's
        lib = importlib.import_module(peer)
        x = lib.tensor(d["x"])
        w1 = lib.tensor(d["w1"], requires_grad=True)
        w2 = lib.tensor(d["w2"], requires_grad=True)

        def step() -> list[np.ndarray]:
            w1.grad = w2.grad = None
            loss = ((x @ w1).tanh() @ w2).tanh().sum()
            loss.backward()
            return [w1.grad.numpy(), w2.grad.numpy()]

        return step

    if peer == "numpy":
        x, w1, w2 = d["x"], d["w1"], d["w2"]

        def step_np() -> list[np.ndarray]:
            t1 = np.tanh(x @ w1)
            t2 = np.tanh(t1 @ w2)
            t2.sum()
            g2 = 1 - t2 * t2  # d sum / d (t1 @ w2)
            gw2 = t1.T @ g2
            g1 = (g2 @ w2.T) * (1 - t1 * t1)  # d sum / d (x @ w1)
            return [x.T @ g1, gw2]

        return step_np

    raise NotImplementedError(peer)

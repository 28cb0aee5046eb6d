"""W6, a Hessian-vector product by double backward.

``f(x) = sum(tanh(A @ x) ** 2)`` with A 1000x1000 and x, v vectors of 1000 (float32). The
gradient ``g = grad(f, x, create_graph=True)`` is itself a graph, and ``grad(g @ v, x)`` is the
Hessian times v: the second backward runs through the first one's ops. The figure is the whole
(g, Hv) computation in milliseconds; the check values are g and Hv.

By hand (the ``numpy`` peer), with ``u = A x``, ``t = tanh u``: ``df/du = 2 t (1 - t^2)`` so
``g = A^T (2 t (1 - t^2))``; ``d^2f/du^2 = (2 - 6 t^2)(1 - t^2)`` (diagonal), so
``Hv = A^T ((2 - 6 t^2)(1 - t^2) * (A v))``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

ID = "W6"
TITLE = "Hessian-vector product"
UNIT = "ms/step"
SCALE = 1e3
DESCRIPTION = ("f(x) = sum(tanh(A @ x) ** 2), A 1000x1000 float32; g = grad(f, x, "
               "create_graph=True), then grad(g @ v, x) = Hv; per (g, Hv)")
PARAMS = {"n": 1000}
SMOKE_PARAMS = {"n": 6}
# g and Hv are A^T times a vector: sums of n = 1000 float32 terms, each BLAS in its own order,
# so their rounding error scales with the terms, not with the (possibly cancelling) sum: the
# absolute tolerance is 2e-6 (~ sqrt(n) * 2**-24) times the largest entry, as in W4.
ATOL_SCALED = 2e-6


def units(params: dict) -> float:
    """One (g, Hv)."""
    return 1.0


def inputs(params: dict) -> dict:
    """A scaled so that A x is about standard normal (tanh neither flat nor linear)."""
    rng = np.random.default_rng(6)
    n = params["n"]
    return {"a": rng.standard_normal((n, n), dtype=np.float32) / np.float32(np.sqrt(n)),
            "x": rng.standard_normal(n, dtype=np.float32),
            "v": rng.standard_normal(n, dtype=np.float32)}


def make(peer: str, params: dict) -> Callable[[], list[np.ndarray]]:
    d = inputs(params)

    if peer in ("tapegrad", "torch"):  # the same code: tapegrad's API is PyTorch's
        lib = importlib.import_module(peer)
        a, v = lib.tensor(d["a"]), lib.tensor(d["v"])
        x = lib.tensor(d["x"], requires_grad=True)

        def step() -> list[np.ndarray]:
            f = ((a @ x).tanh() ** 2).sum()
            (g,) = lib.autograd.grad(f, x, create_graph=True)
            (hv,) = lib.autograd.grad(g @ v, x)
            return [g.detach().numpy(), hv.numpy()]

        return step

    if peer == "numpy":
        a, x, v = d["a"], d["x"], d["v"]

        def step_np() -> list[np.ndarray]:
            t = np.tanh(a @ x)
            s = 1 - t * t
            g = (2 * t * s) @ a  # A^T w as w @ A
            hv = ((2 - 6 * t * t) * s * (a @ v)) @ a
            return [g, hv]

        return step_np

    raise NotImplementedError(peer)

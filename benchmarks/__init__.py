"""Benchmarks: workloads run side by side in tapegrad and in the peers that are installed.

`python -m benchmarks` (from the repository root) runs every registered workload; see `run.py`.

A workload is a module in this package, listed in `WORKLOADS`, that defines:

- ``ID``, ``TITLE``, ``UNIT`` (what the reported figure is, e.g. ``"µs/op"``), ``DESCRIPTION``;
- ``PARAMS`` (the sizes of a real run) and ``SMOKE_PARAMS`` (a tiny run for the tests);
- ``units(params) -> float``: what one step's time is divided by (the number of ops for W1),
  and ``SCALE``, the factor from seconds to ``UNIT`` (1e6 for microseconds);
- ``make(peer, params) -> step``: a function that runs one step (forward and backward) in that
  peer and returns its check values (the gradient; or a list of arrays: loss, gradients,
  updated parameters; or a function building them) as NumPy arrays, so peers can be checked
  against each other; the first step of each process is the one compared. It raises
  ``NotImplementedError`` for a peer it has no version for.

Optional: ``STATEFUL = True`` (a step changes state, e.g. an SGD update, so only the first step
of a fresh process is comparable); ``RTOL`` / ``ATOL`` / ``ATOL_SCALED`` / ``MAX_OUTLIERS``
(the check's tolerance where float32 rounding through the workload needs another one than
run.py's, see `run.agreement`); ``MEMORY = True`` and ``analytic_bytes(params)`` (report the
first step's peak memory, next to the analytic figure); ``flops(params)`` (report GFLOP/s) and
``probe(params) -> dict`` (a measurement made in the worker after the timing).

The peer ``numpy`` is the same math written by hand in NumPy, forward and backward.
Adding a workload is one module and one line in `WORKLOADS`.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

# workload id -> module (in this package)
WORKLOADS: dict[str, str] = {
    "W1": "w1_overhead",
    "W2": "w2_mlp",
    "W3": "w3_small_mlp",
    "W4": "w4_dense",
    "W5": "w5_memory",
    "W6": "w6_hvp",
    "W7": "w7_cnn",
    "W8": "w8_deep_chain",
}

# Peers in the order they are reported; the first is the library under test, the second the
# reference the ratios are taken against. HIPS `autograd` and `jax` run where installed.
PEERS: tuple[str, ...] = ("tapegrad", "torch", "numpy", "autograd", "jax")
REFERENCE = "torch"


def load(workload_id: str) -> ModuleType:
    """The module of a registered workload."""
    return importlib.import_module(f"{__name__}.{WORKLOADS[workload_id]}")


def installed(peer: str) -> bool:
    """Whether a peer can be imported here (without importing it)."""
    return importlib.util.find_spec(peer) is not None


def configure(peer: str, threads: int) -> None:
    """Per-peer settings applied in the worker before anything is timed.

    The BLAS/OpenMP thread counts are pinned through the environment by the runner; PyTorch's
    intra-op pool is pinned to the same count here.
    """
    if peer == "torch":
        import torch

        torch.set_num_threads(threads)
    elif peer == "jax":
        import jax

        jax.config.update("jax_platforms", "cpu")

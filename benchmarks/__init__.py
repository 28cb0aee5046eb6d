"""Benchmarks: workloads run side by side in tapegrad and in the peers that are installed.

`python -m benchmarks` (from the repository root) runs every registered workload; see `run.py`.

A workload is a module in this package, listed in `WORKLOADS`, that defines:

- ``ID``, ``TITLE``, ``UNIT`` (what the reported figure is, e.g. ``"µs/op"``), ``DESCRIPTION``;
- ``PARAMS`` (the sizes of a real run) and ``SMOKE_PARAMS`` (a tiny run for the tests);
- ``units(params) -> float``: what one step's time is divided by (the number of ops for W1),
  and ``SCALE``, the factor from seconds to ``UNIT`` (1e6 for microseconds);
- ``make(peer, params) -> step``: a function that runs one step (forward and backward) from
  scratch in that peer and returns the gradient as a NumPy array, so peers can be checked
  against each other. It raises ``NotImplementedError`` for a peer it has no version for.

Adding W2..W8 is one module each and one line in `WORKLOADS`.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

# workload id -> module (in this package)
WORKLOADS: dict[str, str] = {
    "W1": "w1_overhead",
    "W7": "w7_cnn",
}

# Peers in the order they are reported; the first is the library under test, the second the
# reference the ratios are taken against. HIPS `autograd` and `jax` run where installed.
PEERS: tuple[str, ...] = ("tapegrad", "torch", "autograd", "jax")
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

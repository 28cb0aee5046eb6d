"""W2, an MLP training step: 784-512-512-10, batch 128, ReLU, cross-entropy, backward, SGD.

The MNIST-sized classifier every tutorial starts with: three ``Linear`` layers with ReLU between
them, ``cross_entropy`` over 10 class labels, backward into the six parameters and a written-out
SGD update ``p -= 0.01 * p.grad`` under ``no_grad`` (see `_mlp.py`). The figure is the whole
step in milliseconds; at these sizes the six matmuls dominate, with some per-op overhead.
"""

from __future__ import annotations

from benchmarks import _mlp

ID = "W2"
TITLE = "MLP step"
UNIT = "ms/step"
SCALE = 1e3
STATEFUL = True  # each step updates the parameters: the next step's numbers differ
DESCRIPTION = ("784-512-512-10 MLP (nn.Linear + ReLU), batch 128 float32, cross-entropy, "
               "backward, SGD update `p -= 0.01 * p.grad` under no_grad; per step")
PARAMS = {"sizes": [784, 512, 512, 10], "batch": 128, "activation": "relu",
          "loss": "cross_entropy", "lr": 0.01}
SMOKE_PARAMS = {"sizes": [12, 8, 8, 4], "batch": 6, "activation": "relu",
                "loss": "cross_entropy", "lr": 0.01}
inputs = _mlp.inputs
make = _mlp.make


def units(params: dict) -> float:
    """One step."""
    return 1.0

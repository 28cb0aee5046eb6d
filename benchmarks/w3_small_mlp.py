"""W3, a small MLP training step: 32-64-64-1, batch 32, tanh, MSE, backward, SGD.

A model this small is all per-op and per-module overhead (the matmuls are 32x32x64 at most):
three ``Linear`` layers with tanh between them, ``mse_loss`` against a float target, backward
and a written-out SGD update ``p -= 0.01 * p.grad`` under ``no_grad`` (see `_mlp.py`). The
figure is the whole step in microseconds.
"""

from __future__ import annotations

from benchmarks import _mlp

ID = "W3"
TITLE = "small MLP step"
UNIT = "µs/step"
SCALE = 1e6
STATEFUL = True  # each step updates the parameters: the next step's numbers differ
DESCRIPTION = ("32-64-64-1 MLP (nn.Linear + Tanh), batch 32 float32, MSE, backward, SGD update "
               "`p -= 0.01 * p.grad` under no_grad; per step")
PARAMS = {"sizes": [32, 64, 64, 1], "batch": 32, "activation": "tanh", "loss": "mse",
          "lr": 0.01}
SMOKE_PARAMS = {"sizes": [5, 7, 7, 1], "batch": 4, "activation": "tanh", "loss": "mse",
                "lr": 0.01}
inputs = _mlp.inputs
make = _mlp.make


def units(params: dict) -> float:
    """One step."""
    return 1.0

"""An MLP training step, shared by W2 (classification) and W3 (regression).

One step: clear the gradients, forward through ``Linear`` layers with an activation between
them, the loss (cross-entropy over class labels, or mean squared error), backward, and a plain
SGD update ``p -= lr * p.grad`` under ``no_grad`` (written out, so that no optimizer class is
measured). tapegrad and torch run the same ``nn.Sequential`` code; ``numpy`` is the same math by
hand. The step returns a function giving the check values (loss, gradients, updated
parameters), so that building them costs nothing in the timed steps.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np


def inputs(params: dict) -> dict:
    """The same data and initial parameters for every peer (float32), nn.Linear's init range."""
    rng = np.random.default_rng(params.get("seed", 0))
    sizes, batch = params["sizes"], params["batch"]
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        layers.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                       rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    if params["loss"] == "cross_entropy":
        y = rng.integers(0, sizes[-1], size=batch)
    else:
        y = rng.standard_normal((batch, sizes[-1])).astype(np.float32)
    return {"layers": layers, "x": x, "y": y}


def make(peer: str, params: dict) -> Callable[[], Callable[[], list[np.ndarray]]]:
    d = inputs(params)
    lr, act, loss_name = params["lr"], params["activation"], params["loss"]
    if peer in ("tapegrad", "torch"):  # the same code: tapegrad's API is PyTorch's
        lib = importlib.import_module(peer)
        nn, F = lib.nn, importlib.import_module(f"{peer}.nn.functional")
        mods = []
        for i, (w, b) in enumerate(d["layers"]):
            lin = nn.Linear(w.shape[1], w.shape[0])
            with lib.no_grad():
                lin.weight.copy_(lib.tensor(w))
                lin.bias.copy_(lib.tensor(b))
            mods.append(lin)
            if i < len(d["layers"]) - 1:
                mods.append(nn.ReLU() if act == "relu" else nn.Tanh())
        model = nn.Sequential(*mods)
        ps = list(model.parameters())
        x, y = lib.tensor(d["x"]), lib.tensor(d["y"])
        loss_fn = F.cross_entropy if loss_name == "cross_entropy" else F.mse_loss

        def step() -> Callable[[], list[np.ndarray]]:
            for p in ps:
                p.grad = None
            loss = loss_fn(model(x), y)
            loss.backward()
            with lib.no_grad():
                for p in ps:
                    p.sub_(p.grad, alpha=lr)
            return lambda: ([loss.detach().numpy()] + [p.grad.numpy() for p in ps]
                            + [p.detach().numpy() for p in ps])

        return step

    if peer == "numpy":
        layers = [(w.copy(), b.copy()) for w, b in d["layers"]]
        x, y = d["x"], d["y"]
        rows = np.arange(len(x))

        def step_np() -> Callable[[], list[np.ndarray]]:
            hs = [x]  # the input of each layer (the activation's output, for its backward)
            for w, b in layers[:-1]:
                z = hs[-1] @ w.T + b
                hs.append(np.maximum(z, 0) if act == "relu" else np.tanh(z))
            w, b = layers[-1]
            z = hs[-1] @ w.T + b
            if loss_name == "cross_entropy":
                # mean of -log_softmax(z)[i, y_i]; d/dz = (softmax(z) - onehot(y)) / batch
                m = z.max(axis=1, keepdims=True)
                e = np.exp(z - m)
                s = e.sum(axis=1, keepdims=True)
                loss = -(z - m - np.log(s))[rows, y].mean()
                g = e / s
                g[rows, y] -= 1
                g /= len(x)
            else:  # mean((z - y)**2); d/dz = 2 (z - y) / numel
                diff = z - y
                loss = (diff * diff).mean()
                g = diff * np.float32(2.0 / diff.size)
            grads = []
            for i in range(len(layers) - 1, -1, -1):
                w, b = layers[i]
                h = hs[i]
                grads.append((g.T @ h, g.sum(axis=0)))
                if i:
                    g = g @ w
                    g = g * (h > 0) if act == "relu" else g * (1 - h * h)
            grads.reverse()
            for (w, b), (gw, gb) in zip(layers, grads):
                w -= lr * gw
                b -= lr * gb
            return lambda: ([np.float32(loss)] + [a for gs in grads for a in gs]
                            + [a for wb in layers for a in wb])

        return step_np

    raise NotImplementedError(peer)

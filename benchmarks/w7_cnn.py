"""W7, a small CNN training step: convolution, pooling and a linear layer, forward and backward.

A batch of 32 float32 28x28 one-channel images; conv 1->8 (3x3, padding 1), relu, max_pool2d 2;
conv 8->16 (3x3, padding 1), relu, max_pool2d 2; flatten (16*7*7) and linear to 10 classes;
cross-entropy as the mean over the batch of minus the log_softmax entry of each label; backward
into all six parameters. The figure is the whole step in milliseconds: at these sizes the time
goes to the convolution and pooling kernels, not to per-op overhead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ID = "W7"
TITLE = "small CNN step"
UNIT = "ms/step"
SCALE = 1e3
DESCRIPTION = ("batch 32x1x28x28 float32; conv3x3 1->8, relu, max_pool 2, conv3x3 8->16, relu, "
               "max_pool 2, linear 784->10, log_softmax cross-entropy; forward + backward of all "
               "6 parameters, per step")
PARAMS = {"batch": 32, "size": 28, "c1": 8, "c2": 16, "classes": 10}
SMOKE_PARAMS = {"batch": 4, "size": 8, "c1": 2, "c2": 3, "classes": 5}


def units(params: dict) -> float:
    """One step."""
    return 1.0


def inputs(params: dict) -> dict:
    """The same data and initial parameters for every peer (float32)."""
    rng = np.random.default_rng(7)
    b, s, c1, c2, k = (params[n] for n in ("batch", "size", "c1", "c2", "classes"))
    f = c2 * (s // 4) * (s // 4)

    def init(*shape, fan_in):
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    return {
        "x": rng.standard_normal((b, 1, s, s)).astype(np.float32),
        "y": rng.integers(0, k, size=b),
        "w1": init(c1, 1, 3, 3, fan_in=9), "b1": init(c1, fan_in=9),
        "w2": init(c2, c1, 3, 3, fan_in=9 * c1), "b2": init(c2, fan_in=9 * c1),
        "w3": init(k, f, fan_in=f), "b3": init(k, fan_in=f),
    }


PARAM_NAMES = ("w1", "b1", "w2", "b2", "w3", "b3")


def make(peer: str, params: dict) -> Callable[[], np.ndarray]:
    d = inputs(params)
    b = params["batch"]

    if peer in ("tapegrad", "torch"):  # the same code: tapegrad's API is PyTorch's
        lib = importlib.import_module(peer)
        F = importlib.import_module(f"{peer}.nn.functional")
        x = lib.tensor(d["x"])
        rows, y = lib.arange(b), lib.tensor(d["y"])
        ps = [lib.tensor(d[n], requires_grad=True) for n in PARAM_NAMES]

        def step() -> np.ndarray:
            w1, b1, w2, b2, w3, b3 = ps
            for p in ps:
                p.grad = None
            h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=1)), 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=1)), 2)
            logits = F.linear(h.reshape(b, -1), w3, b3)
            loss = -F.log_softmax(logits, dim=1)[rows, y].mean()
            loss.backward()
            return np.concatenate([p.grad.numpy().ravel() for p in ps])

        return step

    if peer == "numpy":
        return _numpy_step(d, b)

    if peer == "jax":  # eager, op by op (no jit), as W1
        import jax
        import jax.numpy as jnp

        def conv(h, w, bias):
            out = jax.lax.conv_general_dilated(h, w, (1, 1), ((1, 1), (1, 1)))
            return out + bias[None, :, None, None]

        def pool(h):
            return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2),
                                         "VALID")

        def loss_fn(ps, x, y):
            w1, b1, w2, b2, w3, b3 = ps
            h = pool(jax.nn.relu(conv(x, w1, b1)))
            h = pool(jax.nn.relu(conv(h, w2, b2)))
            logits = h.reshape(b, -1) @ w3.T + b3
            return -jax.nn.log_softmax(logits, axis=1)[jnp.arange(b), y].mean()

        g = jax.grad(loss_fn)
        psj = [jnp.asarray(d[n]) for n in PARAM_NAMES]
        xj, yj = jnp.asarray(d["x"]), jnp.asarray(d["y"])

        def step_jax() -> np.ndarray:
            grads = g(psj, xj, yj)
            return np.concatenate([np.asarray(v.block_until_ready()).ravel() for v in grads])

        return step_jax

    if peer == "autograd":  # HIPS autograd: convolution as a sum over the 9 kernel offsets
        import autograd
        import autograd.numpy as anp

        def conv_a(h, w, bias):
            n, c, hh, ww = h.shape
            hp = anp.concatenate([anp.zeros((n, c, 1, ww), np.float32), h,
                                  anp.zeros((n, c, 1, ww), np.float32)], axis=2)
            hp = anp.concatenate([anp.zeros((n, c, hh + 2, 1), np.float32), hp,
                                  anp.zeros((n, c, hh + 2, 1), np.float32)], axis=3)
            out = 0.0
            for i in range(3):
                for j in range(3):
                    out = out + anp.einsum("nchw,oc->nohw", hp[:, :, i:i + hh, j:j + ww],
                                           w[:, :, i, j])
            return out + bias[None, :, None, None]

        def pool_a(h):
            n, c, hh, ww = h.shape
            return anp.max(anp.reshape(h, (n, c, hh // 2, 2, ww // 2, 2)), axis=(3, 5))

        def loss_a(ps, x, y):
            w1, b1, w2, b2, w3, b3 = ps
            h = pool_a(anp.maximum(conv_a(x, w1, b1), 0.0))
            h = pool_a(anp.maximum(conv_a(h, w2, b2), 0.0))
            logits = anp.dot(anp.reshape(h, (b, -1)), w3.T) + b3
            z = logits - anp.max(logits, axis=1, keepdims=True)
            logp = z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))
            return -anp.mean(logp[np.arange(b), y])

        ga = autograd.grad(loss_a)
        psa = [d[n] for n in PARAM_NAMES]

        def step_a() -> np.ndarray:
            grads = ga(psa, d["x"], d["y"])
            return np.concatenate([np.asarray(v, dtype=np.float32).ravel() for v in grads])

        return step_a

    raise NotImplementedError(peer)


def _conv(h: np.ndarray, w: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3x3 convolution, padding 1: the output and the 3x3 windows (for the backward)."""
    win = sliding_window_view(np.pad(h, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), axis=(2, 3))
    out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # (n, H, W, out channels)
    return out.transpose(0, 3, 1, 2) + bias[:, None, None], win


def _conv_back(g: np.ndarray, win: np.ndarray, w: np.ndarray, need_input: bool):
    """Gradients of the weight, bias and (if wanted) input of `_conv` from the output's g."""
    gw = np.tensordot(g, win, axes=([0, 2, 3], [0, 2, 3]))  # (out, in, 3, 3)
    gb = g.sum(axis=(0, 2, 3))
    if not need_input:
        return gw, gb, None
    n, _, hh, ww = g.shape
    cols = np.tensordot(g, w, axes=([1], [0]))  # (n, H, W, in, 3, 3)
    gpad = np.zeros((n, w.shape[1], hh + 2, ww + 2), np.float32)
    for i in range(3):  # each input pixel collects from the 9 windows it lies in
        for j in range(3):
            gpad[:, :, i:i + hh, j:j + ww] += cols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return gw, gb, gpad[:, :, 1:-1, 1:-1]


def _pool(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 max pooling: the output and the index of the first maximum of each window."""
    n, c, hh, ww = h.shape
    blocks = h.reshape(n, c, hh // 2, 2, ww // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    blocks = blocks.reshape(n, c, hh // 2, ww // 2, 4)
    idx = blocks.argmax(axis=-1)
    return np.take_along_axis(blocks, idx[..., None], axis=-1)[..., 0], idx


def _pool_back(g: np.ndarray, idx: np.ndarray) -> np.ndarray:
    n, c, ph, pw = g.shape
    out = np.zeros((n, c, ph, pw, 4), np.float32)
    np.put_along_axis(out, idx[..., None], g[..., None], axis=-1)
    out = out.reshape(n, c, ph, pw, 2, 2).transpose(0, 1, 2, 4, 3, 5)
    return out.reshape(n, c, 2 * ph, 2 * pw)


def _numpy_step(d: dict, b: int) -> Callable[[], np.ndarray]:
    """W7 by hand in NumPy: the windows, pool indices and activations kept for the backward."""
    x, y = d["x"], d["y"]
    rows = np.arange(b)

    def step_np() -> np.ndarray:
        w1, b1, w2, b2, w3, b3 = (d[n] for n in PARAM_NAMES)
        z1, win1 = _conv(x, w1, b1)
        r1 = np.maximum(z1, 0)
        p1, i1 = _pool(r1)
        z2, win2 = _conv(p1, w2, b2)
        r2 = np.maximum(z2, 0)
        p2, i2 = _pool(r2)
        flat = p2.reshape(b, -1)
        logits = flat @ w3.T + b3
        m = logits.max(axis=1, keepdims=True)
        e = np.exp(logits - m)
        s = e.sum(axis=1, keepdims=True)
        # loss = mean_i -log_softmax(logits)[i, y_i]; d/dlogits = (softmax - onehot) / b
        g = e / s
        g[rows, y] -= 1
        g /= b
        gw3, gb3 = g.T @ flat, g.sum(axis=0)
        g = _pool_back((g @ w3).reshape(p2.shape), i2) * (r2 > 0)
        gw2, gb2, g = _conv_back(g, win2, w2, True)
        g = _pool_back(g, i1) * (r1 > 0)
        gw1, gb1, _ = _conv_back(g, win1, w1, False)
        return np.concatenate([a.ravel() for a in (gw1, gb1, gw2, gb2, gw3, gb3)])

    return step_np

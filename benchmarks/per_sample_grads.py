"""Per-sample gradients of a small MLP with vmap(grad(loss)), tapegrad against torch.func.

Standalone: ``python benchmarks/per_sample_grads.py [--batch 64] [--inp 32] [--hidden 64]
[--out 10] [--repeats 15] [--threads 1]``. The MLP is Linear-Tanh-Linear with cross entropy;
both libraries start from the same weights (seeded NumPy) and data. Prints the median time of
`vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)` for each peer (and tapegrad's
per-sample loop of grad, for scale), the ratio to torch.func, and the largest difference
between tapegrad's and torch's per-sample gradients. No numbers are asserted.
"""

from __future__ import annotations

import argparse
import sys

try:  # run as `python benchmarks/<name>.py`, or imported from the benchmarks package
    from benchmarks import _standalone
except ImportError:  # pragma: no cover - the script's own folder is on sys.path
    import _standalone


def _args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64, help="samples per batch")
    p.add_argument("--inp", type=int, default=32, help="input features")
    p.add_argument("--hidden", type=int, default=64, help="hidden units")
    p.add_argument("--out", type=int, default=10, help="classes")
    p.add_argument("--repeats", type=int, default=15, help="timed runs per peer (median kept)")
    p.add_argument("--threads", type=int, default=1, help="BLAS / torch threads")
    return p.parse_args(argv)


def _per_sample_grads(m, arrays, x_np, y_np):
    """(function computing per-sample grads as a dict of NumPy arrays) for library m."""
    params = {k: m.tensor(v) for k, v in arrays.items()}
    x, y = m.tensor(x_np), m.tensor(y_np)

    def loss(p, xi, yi):
        h = m.nn.functional.linear(xi, p["w1"], p["b1"]).tanh()
        logits = m.nn.functional.linear(h, p["w2"], p["b2"])
        return m.nn.functional.cross_entropy(logits.unsqueeze(0), yi.unsqueeze(0))

    f = m.func.vmap(m.func.grad(loss), in_dims=(None, 0, 0))
    loop_grad = m.func.grad(loss)

    def run():
        return {k: v.numpy() for k, v in f(params, x, y).items()}

    def loop():
        gs = [loop_grad(params, x[i], y[i]) for i in range(x.shape[0])]
        return {k: m.stack([g[k] for g in gs]).numpy() for k in params}

    return run, loop


def main(argv=None) -> int:
    args = _args(argv)
    _standalone.prepare(args.threads)
    import numpy as np

    import tapegrad

    rng = np.random.default_rng(0)
    arrays = {
        "w1": (rng.standard_normal((args.hidden, args.inp)) / np.sqrt(args.inp)),
        "b1": rng.standard_normal(args.hidden) * 0.1,
        "w2": (rng.standard_normal((args.out, args.hidden)) / np.sqrt(args.hidden)),
        "b2": rng.standard_normal(args.out) * 0.1,
    }
    arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
    x_np = rng.standard_normal((args.batch, args.inp)).astype(np.float32)
    y_np = rng.integers(0, args.out, args.batch)

    peers = {}
    run, loop = _per_sample_grads(tapegrad, arrays, x_np, y_np)
    peers["tapegrad vmap(grad)"] = run
    peers["tapegrad loop of grad"] = loop
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        peers["torch.func vmap(grad)"] = _per_sample_grads(torch, arrays, x_np, y_np)[0]

    results = {name: fn() for name, fn in peers.items()}
    reference = results.get("torch.func vmap(grad)", results["tapegrad vmap(grad)"])
    times = {name: _standalone.median_seconds(fn, args.repeats) for name, fn in peers.items()}
    base = times.get("torch.func vmap(grad)")
    print(f"Per-sample gradients, MLP {args.inp}-{args.hidden}-{args.out} (tanh, cross "
          f"entropy), batch {args.batch}, float32, median of {args.repeats} runs, "
          f"{args.threads} thread(s)")
    for name, sec in times.items():
        ratio = f"  x{sec / base:.2f} vs torch.func" if base else ""
        diff = max(float(np.max(np.abs(results[name][k] - reference[k]))) for k in reference)
        print(f"  {name:24s} {sec * 1e3:9.3f} ms{ratio}  (max abs diff {diff:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

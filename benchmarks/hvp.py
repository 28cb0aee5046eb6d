"""Hessian-vector product of f(x) = sum(tanh(A @ x) ** 2), A n x n (float64, n = 300).

Standalone: ``python benchmarks/hvp.py [--n 300] [--repeats 15] [--threads 1]``. Times
tapegrad.autograd.functional.hvp against torch.autograd.functional.hvp and torch.func's
forward-over-reverse ``jvp(grad(f))`` (when torch is installed), prints the median of the
repeats for each, the ratio to torch.autograd.functional.hvp, and the largest difference
between the products. No numbers are asserted: this is a measurement, not a test.
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
    p.add_argument("--n", type=int, default=300, help="size of A (n x n) and x")
    p.add_argument("--repeats", type=int, default=15, help="timed runs per peer (median kept)")
    p.add_argument("--threads", type=int, default=1, help="BLAS / torch threads")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = _args(argv)
    _standalone.prepare(args.threads)
    import numpy as np

    import tapegrad

    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((args.n, args.n)) / np.sqrt(args.n)
    x_np = rng.standard_normal(args.n)
    v_np = rng.standard_normal(args.n)

    peers = {}
    A = tapegrad.tensor(a_np, dtype=tapegrad.float64)
    x = tapegrad.tensor(x_np, dtype=tapegrad.float64)
    v = tapegrad.tensor(v_np, dtype=tapegrad.float64)

    def tg_f(x):
        return ((A @ x).tanh() ** 2).sum()

    peers["tapegrad autograd.functional.hvp"] = (
        lambda: tapegrad.autograd.functional.hvp(tg_f, x, v)[1].numpy())
    fw_ad = tapegrad.autograd.forward_ad

    def tg_forward_over_reverse():
        # H v as the tangent of the gradient: x dual along v, then one backward pass
        xr = x.detach().requires_grad_()
        with fw_ad.dual_level():
            (g,) = tapegrad.autograd.grad(tg_f(fw_ad.make_dual(xr, v)), xr)
            return fw_ad.unpack_dual(g).tangent.numpy()

    peers["tapegrad forward-over-reverse"] = tg_forward_over_reverse

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        tA = torch.tensor(a_np, dtype=torch.float64)
        tx = torch.tensor(x_np, dtype=torch.float64)
        tv = torch.tensor(v_np, dtype=torch.float64)

        def t_f(x):
            return ((tA @ x).tanh() ** 2).sum()

        peers["torch autograd.functional.hvp"] = (
            lambda: torch.autograd.functional.hvp(t_f, tx, tv)[1].numpy())
        peers["torch.func jvp(grad(f))"] = (
            lambda: torch.func.jvp(torch.func.grad(t_f), (tx,), (tv,))[1].numpy())

    results = {name: fn() for name, fn in peers.items()}
    reference = results["tapegrad autograd.functional.hvp"]
    times = {name: _standalone.median_seconds(fn, args.repeats) for name, fn in peers.items()}
    base = times.get("torch autograd.functional.hvp")
    print(f"HVP of sum(tanh(A @ x) ** 2), n = {args.n}, float64, median of {args.repeats} "
          f"runs, {args.threads} thread(s)")
    for name, sec in times.items():
        ratio = f"  x{sec / base:.2f} vs torch hvp" if base else ""
        diff = float(np.max(np.abs(results[name] - reference))) if reference.size else 0.0
        print(f"  {name:36s} {sec * 1e3:9.3f} ms{ratio}  (max abs diff {diff:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

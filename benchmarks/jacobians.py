"""Jacobians and Hessians of a small MLP f: R^n -> R^n (float64), tapegrad against torch.func.

Standalone: ``python benchmarks/jacobians.py [--n 64] [--hidden 128] [--repeats 15]
[--threads 1]``. Times jacrev(f), jacfwd(f), hessian(sum f) and
autograd.functional.jacobian(f, vectorize=True) in both libraries (each builds the whole
Jacobian from one backward pass on a batch of basis vectors), prints the median of the
repeats, the ratio tapegrad / torch, and the largest difference between the results. No
numbers are asserted: this is a measurement, not a test.
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
    p.add_argument("--n", type=int, default=64, help="input and output size")
    p.add_argument("--hidden", type=int, default=128, help="hidden layer width")
    p.add_argument("--repeats", type=int, default=15, help="timed runs per peer (median kept)")
    p.add_argument("--threads", type=int, default=1, help="BLAS / torch threads")
    return p.parse_args(argv)


def _workloads(m, func, w1, w2, x):
    """name -> zero-argument callable returning a NumPy array, for library m."""
    W1 = m.tensor(w1, dtype=m.float64)  # noqa: N806
    W2 = m.tensor(w2, dtype=m.float64)  # noqa: N806
    xt = m.tensor(x, dtype=m.float64)

    def f(v):
        return ((v @ W1).tanh() @ W2).sin()

    def scalar(v):
        return f(v).sum()

    return {
        "jacrev": lambda: func.jacrev(f)(xt).numpy(),
        "jacfwd": lambda: func.jacfwd(f)(xt).numpy(),
        "hessian": lambda: func.hessian(scalar)(xt).numpy(),
        "functional.jacobian(vectorize)": lambda: m.autograd.functional.jacobian(
            f, xt, vectorize=True).numpy(),
    }


def main(argv=None) -> int:
    args = _args(argv)
    _standalone.prepare(args.threads)
    import numpy as np

    import tapegrad
    import tapegrad.func

    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((args.n, args.hidden)) / np.sqrt(args.n)
    w2 = rng.standard_normal((args.hidden, args.n)) / np.sqrt(args.hidden)
    x = rng.standard_normal(args.n)
    ours = _workloads(tapegrad, tapegrad.func, w1, w2, x)
    try:
        import torch
        import torch.func
    except ImportError:
        torch = None
    theirs = {}
    if torch is not None:
        torch.set_num_threads(args.threads)
        theirs = _workloads(torch, torch.func, w1, w2, x)
    print(f"MLP {args.n}-{args.hidden}-{args.n} (tanh, sin), float64, median of "
          f"{args.repeats} runs, {args.threads} thread(s)")
    for name, fn in ours.items():
        t_ours = _standalone.median_seconds(fn, args.repeats)
        line = f"  {name:32s} tapegrad {t_ours * 1e3:8.3f} ms"
        if name in theirs:
            t_theirs = _standalone.median_seconds(theirs[name], args.repeats)
            diff = float(np.max(np.abs(fn() - theirs[name]())))
            line += (f"   torch {t_theirs * 1e3:8.3f} ms   ratio {t_ours / t_theirs:5.2f}"
                     f"   (max abs diff {diff:.1e})")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

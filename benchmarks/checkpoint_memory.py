"""Peak memory of a deep MLP's forward + backward, with and without activation checkpointing.

    python benchmarks/checkpoint_memory.py [--depth 32] [--width 128] [--batch 2048]
                                           [--segments 0] [--rss] [--torch]

The model is `depth` layers `h = tanh(h @ W + b)` (float32) and a sum; without checkpointing
every layer keeps its input and output for backward (about 2 * depth activations alive at the
end of the forward), with `checkpoint_sequential(..., segments, use_reentrant=False)` only each
segment's input is kept, and one segment is recomputed at a time during backward. Memory is
measured two ways:
- tracemalloc (default): the peak of Python and NumPy allocations made during the step (NumPy
  reports its array buffers to tracemalloc), in this process;
- --rss: the peak resident set size of a fresh process running one step (includes the
  interpreter and libraries, so the ratio is closer to 1).
The weights are made before measuring and are not counted (their gradients are). The batch is
large next to the width so that activations, not weight gradients, dominate. Prints both
peaks and their ratio.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import os
import subprocess
import sys
import tracemalloc

import numpy as np


def _model(lib, depth: int, width: int, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    scale = 1.0 / math.sqrt(width)
    layers = []
    for _ in range(depth):
        w = lib.tensor(rng.standard_normal((width, width)).astype(np.float32) * scale,
                       requires_grad=True)
        b = lib.tensor(np.zeros(width, np.float32), requires_grad=True)
        layers.append((w, b))
    x = lib.tensor(rng.standard_normal((batch, width)).astype(np.float32))
    fns = [lambda h, w=w, b=b: (h @ w + b).tanh() for w, b in layers]
    return fns, x, layers


def _step(lib_name: str, fns, x, segments: int) -> float:
    lib = importlib.import_module(lib_name)
    if segments:
        ckpt = importlib.import_module(f"{lib_name}.utils.checkpoint")
        y = ckpt.checkpoint_sequential(fns, segments, x, use_reentrant=False)
    else:
        y = x
        for f in fns:
            y = f(y)
    loss = y.sum()
    loss.backward()
    del lib
    return float(loss.item())


def _default_segments(depth: int) -> int:
    return max(1, round(math.sqrt(depth)))


def measure_tracemalloc(lib_name: str, depth: int, width: int, batch: int,
                        segments: int) -> dict:
    """Peak traced bytes of one step without and with checkpointing, in this process."""
    lib = importlib.import_module(lib_name)
    res = {}
    losses = {}
    for label, segs in (("plain", 0), ("checkpoint", segments)):
        fns, x, layers = _model(lib, depth, width, batch)
        gc.collect()
        tracemalloc.start()
        try:
            losses[label] = _step(lib_name, fns, x, segs)
            res[label] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        grads = [w.grad.numpy().copy() for w, _ in layers]
        res.setdefault("grads", []).append(grads)
        del fns, x, layers
    g_plain, g_ckpt = res.pop("grads")
    res["same_gradients"] = all(np.allclose(a, b, rtol=1e-5, atol=1e-6)
                                for a, b in zip(g_plain, g_ckpt))
    res["same_loss"] = losses["plain"] == losses["checkpoint"]
    return res


def _rss_child(lib_name: str, depth: int, width: int, batch: int, segments: int) -> int:
    """Run one step in a fresh interpreter; its peak RSS in bytes."""
    code = (
        "import resource, sys, json\n"
        f"sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))!r})\n"
        "from benchmarks import checkpoint_memory as m\n"
        f"import importlib; lib = importlib.import_module({lib_name!r})\n"
        # warm up (lazy imports on a first checkpoint call are not the step's memory)
        f"wf, wx, _ = m._model(lib, 2, 4, 4); m._step({lib_name!r}, wf, wx, 1)\n"
        f"fns, x, _ = m._model(lib, {depth}, {width}, {batch})\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"m._step({lib_name!r}, fns, x, {segments})\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps([base * 1024, peak * 1024]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    base, peak = json.loads(out.strip().splitlines()[-1])
    return peak - base


def measure_rss(lib_name: str, depth: int, width: int, batch: int, segments: int) -> dict:
    """Peak RSS growth of one step (fresh process each) without and with checkpointing."""
    return {"plain": _rss_child(lib_name, depth, width, batch, 0),
            "checkpoint": _rss_child(lib_name, depth, width, batch, segments)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depth", type=int, default=32)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--segments", type=int, default=0, help="0: round(sqrt(depth))")
    p.add_argument("--rss", action="store_true", help="peak RSS of fresh processes instead")
    p.add_argument("--torch", action="store_true",
                   help="also measure PyTorch (with --rss only: tracemalloc does not see its "
                        "allocations)")
    a = p.parse_args(argv)
    segments = a.segments or _default_segments(a.depth)
    libs = ["tapegrad"] + (["torch"] if a.torch and a.rss else [])
    print(f"deep MLP: depth {a.depth}, width {a.width}, batch {a.batch}, float32; "
          f"checkpoint_sequential with {segments} segments, use_reentrant=False")
    results = {}
    for lib_name in libs:
        if a.rss:
            r = measure_rss(lib_name, a.depth, a.width, a.batch, segments)
            how = "peak RSS growth"
        else:
            r = measure_tracemalloc(lib_name, a.depth, a.width, a.batch, segments)
            how = "tracemalloc peak"
        r["ratio"] = r["checkpoint"] / r["plain"] if r["plain"] else float("nan")
        results[lib_name] = r
        extra = "" if a.rss else f", same gradients: {r['same_gradients']}"
        print(f"{lib_name:9s} {how}: without {r['plain'] / 2**20:8.2f} MiB, "
              f"with checkpoint {r['checkpoint'] / 2**20:8.2f} MiB, "
              f"ratio {r['ratio']:.3f}{extra}")
    return results


if __name__ == "__main__":
    main()

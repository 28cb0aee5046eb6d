"""One peer, one workload, timed in this (fresh) process; prints one JSON line.

Run by run.py as ``python -m benchmarks.worker W1 torch --params '{...}'``; not meant to be
run by hand, though it can be.

Besides the step times the worker reports:
- ``grad``: the check values (gradients, losses, updated parameters) of the *first* step, so
  that peers are compared at the same point even for workloads whose step changes state (an SGD
  update) and however many steps each peer ran; with ``--grad-out`` they go to a ``.npy`` file
  instead of the JSON line (large workloads have millions of them);
- ``peak_bytes``: how far the resident set size rose above its level just before that first
  step (the process has imported everything and built its inputs by then), from the kernel's
  high-water mark ``VmHWM``, reset just before the step through ``/proc/self/clear_refs``; where
  that is not available, ``ru_maxrss`` minus its value before the step (which misses a peak
  lower than an earlier one);
- ``extra``: what the workload's optional ``probe(params)`` measures after the timing (W4: the
  GFLOP/s of NumPy's own matmul in this process).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np

from benchmarks import configure, load


def flatten(out: np.ndarray | Sequence[np.ndarray] | Callable) -> np.ndarray:
    """A step's check values as one new 1-d array (a copy: the step may reuse its buffers).

    A step may return its check values, a sequence of arrays, or a function that builds them
    (so that the timed steps do not pay for it).
    """
    if callable(out):
        out = out()
    if isinstance(out, np.ndarray):
        return np.array(out, copy=True).ravel()
    return np.concatenate([np.asarray(a).ravel() for a in out])


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); whether that worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def first_step(step: Callable) -> tuple[np.ndarray, int, float]:
    """Run the first step; its check values, its peak RSS rise in bytes and its time."""
    gc.collect()
    rss0 = _status_kb("VmRSS")
    exact = rss0 is not None and _reset_peak()
    ru0 = _maxrss_bytes()
    t0 = time.perf_counter()
    out = step()
    dt = time.perf_counter() - t0
    if exact:
        peak = (_status_kb("VmHWM") - rss0) * 1024
    else:
        peak = _maxrss_bytes() - ru0
    return flatten(out), max(0, peak), dt


def measure(workload_id: str, peer: str, params: dict, *, threads: int = 2,
            target_s: float = 0.5, min_reps: int = 5, max_reps: int = 10_000) -> dict:
    """Time `reps` steps after a warm-up; the number of steps fills about `target_s`.

    A peer the workload has no version for gives ``{"peer": ..., "unsupported": why}``.
    """
    configure(peer, threads)
    mod = load(workload_id)
    try:
        step = mod.make(peer, params)
    except NotImplementedError as e:
        return {"peer": peer, "unsupported": str(e) or "no version of this workload"}
    check, peak, dt = first_step(step)
    warm = [dt]
    while len(warm) < 3 or sum(warm) < 0.05:  # warm-up: imports, caches, allocator
        t0 = time.perf_counter()
        step()
        warm.append(time.perf_counter() - t0)
    reps = int(min(max_reps, max(min_reps, target_s / statistics.median(warm[1:]))))
    times = []
    gc.collect()
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    del step
    gc.collect()
    extra = mod.probe(params) if hasattr(mod, "probe") else {}
    return {"peer": peer, "reps": reps, "median_s": statistics.median(times),
            "min_s": min(times), "first_s": dt, "peak_bytes": peak, "extra": extra,
            "grad": check}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    p.add_argument("workload")
    p.add_argument("peer")
    p.add_argument("--params", type=json.loads, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--target-s", type=float, default=0.5)
    p.add_argument("--grad-out", help="write the check values to this .npy file")
    a = p.parse_args(argv)
    res = measure(a.workload, a.peer, a.params, threads=a.threads, target_s=a.target_s)
    if "grad" in res:
        if a.grad_out:
            np.save(a.grad_out, res.pop("grad"))
        else:
            res["grad"] = [float(v) for v in res["grad"]]
    print(json.dumps(res))


if __name__ == "__main__":
    main()

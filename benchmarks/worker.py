"""One peer, one workload, timed in this (fresh) process; prints one JSON line.

Run by run.py as ``python -m benchmarks.worker W1 torch --params '{...}'``; not meant to be
run by hand, though it can be.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time

from benchmarks import configure, load


def measure(workload_id: str, peer: str, params: dict, *, threads: int = 2,
            target_s: float = 0.5, min_reps: int = 5, max_reps: int = 10_000) -> dict:
    """Time `reps` steps after a warm-up; the number of steps fills about `target_s`."""
    configure(peer, threads)
    step = load(workload_id).make(peer, params)
    warm = []
    while len(warm) < 3 or sum(warm) < 0.05:  # warm-up: imports, caches, allocator
        t0 = time.perf_counter()
        step()
        warm.append(time.perf_counter() - t0)
    reps = int(min(max_reps, max(min_reps, target_s / statistics.median(warm))))
    times = []
    gc.collect()
    for _ in range(reps):
        t0 = time.perf_counter()
        grad = step()
        times.append(time.perf_counter() - t0)
    return {"peer": peer, "reps": reps, "median_s": statistics.median(times),
            "min_s": min(times), "grad": [float(v) for v in grad.ravel()]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    p.add_argument("workload")
    p.add_argument("peer")
    p.add_argument("--params", type=json.loads, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--target-s", type=float, default=0.5)
    a = p.parse_args(argv)
    print(json.dumps(measure(a.workload, a.peer, a.params, threads=a.threads,
                             target_s=a.target_s)))


if __name__ == "__main__":
    main()

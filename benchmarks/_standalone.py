"""What the standalone benchmark scripts (hvp.py, per_sample_grads.py, jacobians.py) share:
pinning the thread counts and finding tapegrad's source, and timing a callable."""

from __future__ import annotations

import os
import statistics
import sys
import time


def prepare(threads: int) -> None:
    """Pin BLAS / OpenMP threads (before NumPy loads) and put the checkout's src/ first."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.join(root, "src"))


def median_seconds(fn, repeats: int) -> float:
    """The median wall time of fn() over `repeats` runs, after one warm-up call (imports,
    allocator, first-call caches)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)

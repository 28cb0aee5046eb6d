"""The benchmark workloads run at tiny sizes, in process: they work, and the peers agree.

No timing is asserted: timings belong to `python -m benchmarks`, not to a test.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:  # benchmarks/ is a package at the repository root, not installed
    sys.path.insert(0, _ROOT)

import benchmarks  # noqa: E402
from benchmarks import run as runner  # noqa: E402
from benchmarks.worker import measure  # noqa: E402

WORKLOAD_IDS = list(benchmarks.WORKLOADS)


def test_registry_modules_follow_the_protocol():
    for wid in WORKLOAD_IDS:
        mod = benchmarks.load(wid)
        assert mod.ID == wid
        for name in ("TITLE", "UNIT", "SCALE", "DESCRIPTION", "PARAMS", "SMOKE_PARAMS"):
            assert hasattr(mod, name), (wid, name)
        assert mod.units(mod.SMOKE_PARAMS) > 0
        with pytest.raises(NotImplementedError):
            mod.make("no-such-peer", mod.SMOKE_PARAMS)


@pytest.mark.parametrize("wid", WORKLOAD_IDS)
def test_tapegrad_step_is_repeatable(wid):
    """A step starts from scratch: running it twice gives the same gradient (no accumulation)."""
    mod = benchmarks.load(wid)
    step = mod.make("tapegrad", mod.SMOKE_PARAMS)
    g1 = step().copy()
    g2 = step()
    assert np.isfinite(g1).all()
    np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize("wid", WORKLOAD_IDS)
def test_tapegrad_agrees_with_torch(wid):
    pytest.importorskip("torch")
    mod = benchmarks.load(wid)
    got = mod.make("tapegrad", mod.SMOKE_PARAMS)()
    want = mod.make("torch", mod.SMOKE_PARAMS)()
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=runner.RTOL, atol=runner.ATOL)


def test_w1_gradient_is_the_chain_rule():
    """W1's gradient by hand: d/dx of tanh(a*y + b) repeated is prod a * (1 - out**2)."""
    mod = benchmarks.load("W1")
    params = {"n": 16, "iters": 5}
    x = mod.inputs(params).astype(np.float64)
    g, y = np.ones_like(x), x
    for _ in range(params["iters"]):
        y = np.tanh(y * 1.0001 + 0.5)
        g = g * 1.0001 * (1 - y * y)
    got = mod.make("tapegrad", params)()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, g, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("peer", ["autograd", "jax"])
def test_other_peers_agree_where_installed(peer):
    pytest.importorskip(peer)
    mod = benchmarks.load("W1")
    got = mod.make(peer, mod.SMOKE_PARAMS)()
    want = mod.make("tapegrad", mod.SMOKE_PARAMS)()
    np.testing.assert_allclose(got, want, rtol=runner.RTOL, atol=runner.ATOL)


def test_worker_measure_and_report_in_process():
    """The worker's measurement and the runner's table, without subprocesses."""
    mod = benchmarks.load("W1")
    res = measure("W1", "tapegrad", mod.SMOKE_PARAMS, target_s=0.001)
    assert res["reps"] >= 5 and res["median_s"] > 0 and len(res["grad"]) == 16
    fig = {"median": 1.0, "rounds": [1.0, 2.0]}
    report = {
        "date": "today", "machine": {"cpu": "cpu", "cores": 2, "versions": {"numpy": "2"}},
        "peers": ["tapegrad", "torch"], "skipped": {"jax": "not installed"},
        "reference": "torch", "settings": {"rounds": 2, "threads": 2},
        "workloads": [{"id": "W1", "title": mod.TITLE, "description": mod.DESCRIPTION,
                       "unit": mod.UNIT, "peers": {"tapegrad": fig, "torch": fig},
                       "ratios": {"tapegrad/torch": fig},
                       "gradients": {"tapegrad": {"agree": True}, "torch": {"agree": True}}}],
    }
    md = runner.markdown(report)
    assert "| W1 op overhead | µs/op | 1.00 (1.00–2.00) | 1.00 (1.00–2.00) | 1.00 (1.00–2.00) |" \
        in md
    assert "- skipped jax: not installed." in md


def test_worker_env_pins_threads_equally():
    env = runner.worker_env(2)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert env[var] == "2"

"""The benchmark workloads run at tiny sizes, in process: they work, and the peers agree.

No timing is asserted: timings belong to `python -m benchmarks`, not to a test.
"""

from __future__ import annotations

import os
import sys
import types

import numpy as np
import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:  # benchmarks/ is a package at the repository root, not installed
    sys.path.insert(0, _ROOT)

import benchmarks  # noqa: E402
from benchmarks import readme  # noqa: E402
from benchmarks import run as runner  # noqa: E402
from benchmarks.worker import first_step, flatten, measure  # noqa: E402

WORKLOAD_IDS = list(benchmarks.WORKLOADS)


def _first(wid: str, peer: str, params: dict | None = None) -> np.ndarray:
    mod = benchmarks.load(wid)
    return flatten(mod.make(peer, mod.SMOKE_PARAMS if params is None else params)())


def test_registry_modules_follow_the_protocol():
    assert set(WORKLOAD_IDS) == {f"W{i}" for i in range(1, 9)}
    for wid in WORKLOAD_IDS:
        mod = benchmarks.load(wid)
        assert mod.ID == wid
        for name in ("TITLE", "UNIT", "SCALE", "DESCRIPTION", "PARAMS", "SMOKE_PARAMS"):
            assert hasattr(mod, name), (wid, name)
        assert mod.units(mod.SMOKE_PARAMS) > 0
        with pytest.raises(NotImplementedError):
            mod.make("no-such-peer", mod.SMOKE_PARAMS)


@pytest.mark.parametrize("wid", WORKLOAD_IDS)
@pytest.mark.parametrize("peer", ["tapegrad", "numpy"])
def test_step_is_repeatable(wid, peer):
    """A fresh step gives the same numbers; a stateless step also gives them when run again."""
    mod = benchmarks.load(wid)
    step = mod.make(peer, mod.SMOKE_PARAMS)
    g1 = flatten(step())
    assert g1.dtype == np.float32 and np.isfinite(g1).all()
    np.testing.assert_array_equal(g1, _first(wid, peer))
    g2 = flatten(step())
    if getattr(mod, "STATEFUL", False):
        assert not np.array_equal(g1, g2)
    else:
        np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize("wid", WORKLOAD_IDS)
@pytest.mark.parametrize("peer", ["tapegrad", "numpy"])
def test_peer_agrees_with_torch(wid, peer):
    pytest.importorskip("torch")
    got, want = _first(wid, peer), _first(wid, "torch")
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


def _central(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Float64 central differences of a scalar or vector function, one column per x entry."""
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = eps
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps))
    return np.stack(cols, axis=-1)


def test_w6_hvp_is_the_hessian_times_v():
    """g and Hv of f(x) = sum(tanh(A x)^2) against float64 central differences."""
    mod = benchmarks.load("W6")
    d = {k: v.astype(np.float64) for k, v in mod.inputs(mod.SMOKE_PARAMS).items()}
    a, x, v = d["a"], d["x"], d["v"]

    def f(z):
        return np.sum(np.tanh(a @ z) ** 2)

    def grad(z):
        t = np.tanh(a @ z)
        return a.T @ (2 * t * (1 - t * t))

    n = x.size
    np.testing.assert_allclose(_central(f, x), grad(x), rtol=1e-6, atol=1e-8)
    hv = _central(grad, x) @ v
    got = _first("W6", "tapegrad")
    np.testing.assert_allclose(got[:n], grad(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[n:], hv, rtol=1e-5, atol=1e-5)


def test_w8_gradient_against_central_differences():
    mod = benchmarks.load("W8")
    p = mod.SMOKE_PARAMS

    def f(x):
        y = x
        for _ in range(p["iters"]):
            y = y + np.sin(y * 1.5) * 1e-4
        return y

    x = np.float64(np.float32(p["x"]))
    want = (f(x + 1e-6) - f(x - 1e-6)) / 2e-6
    y, g = _first("W8", "tapegrad")
    np.testing.assert_allclose([y, g], [f(x), want], rtol=1e-5)


def test_w5_gradient_against_central_differences():
    mod = benchmarks.load("W5")
    p = {"n": 7, "rounds": 2}
    x = mod.inputs(p).astype(np.float64)

    def f(z):
        for _ in range(p["rounds"]):
            z = np.exp(np.abs(np.sin(z) * 1.01 + 0.1))
        return z.sum()

    np.testing.assert_allclose(_first("W5", "tapegrad", p), _central(f, x), rtol=1e-5,
                               atol=1e-5)


def test_w5_analytic_and_w4_flops():
    w5, w4 = benchmarks.load("W5"), benchmarks.load("W4")
    # 20 rounds keep abs's input and exp's output (40 arrays), plus 2 gradients, of 4e6 bytes
    assert w5.analytic_bytes(w5.PARAMS) == 42 * 4e6
    # five (1024 x 2048) @ (2048 x 2048) matmuls at 2 FLOPs per multiply-add
    assert w4.flops(w4.PARAMS) == 5 * 2 * 1024 * 2048 * 2048
    assert w4.probe(w4.SMOKE_PARAMS, reps=1)["numpy_matmul_gflops"] > 0


@pytest.mark.parametrize("wid", ["W2", "W3"])
def test_mlp_step_updates_by_sgd(wid):
    """The check values are loss, grads, updated params; updated = initial - lr * grad."""
    mod = benchmarks.load(wid)
    p = mod.SMOKE_PARAMS
    got = _first(wid, "tapegrad")
    init = np.concatenate([a.ravel() for wb in mod.inputs(p)["layers"] for a in wb])
    k = init.size
    assert got.size == 1 + 2 * k
    grads, new = got[1:1 + k], got[1 + k:]
    np.testing.assert_allclose(new, init - p["lr"] * grads, rtol=1e-6, atol=1e-7)
    # the loss is the first value: float64 cross-entropy / MSE from the same data
    d = mod.inputs(p)
    h = d["x"].astype(np.float64)
    for i, (w, b) in enumerate(d["layers"]):
        h = h @ w.T.astype(np.float64) + b
        if i < len(d["layers"]) - 1:
            h = np.maximum(h, 0) if p["activation"] == "relu" else np.tanh(h)
    if p["loss"] == "cross_entropy":
        logp = h - np.log(np.exp(h).sum(axis=1, keepdims=True))
        loss = -logp[np.arange(len(h)), d["y"]].mean()
    else:
        loss = ((h - d["y"]) ** 2).mean()
    np.testing.assert_allclose(got[0], loss, rtol=1e-5)


@pytest.mark.parametrize("peer", ["autograd", "jax"])
def test_other_peers_agree_where_installed(peer):
    pytest.importorskip(peer)
    for wid in WORKLOAD_IDS:
        try:
            got = _first(wid, peer)
        except NotImplementedError:
            continue
        np.testing.assert_allclose(got, _first(wid, "tapegrad"), rtol=runner.RTOL,
                                   atol=runner.ATOL)


def test_first_step_sees_the_peak_memory():
    def step():
        a = np.ones(20_000_000, np.uint8)  # 20 MB touched, then freed before returning
        del a
        return np.zeros(1, np.float32)

    check, peak, dt = first_step(step)
    assert check.shape == (1,) and dt > 0
    assert 15e6 < peak < 100e6


def test_worker_measure_and_unsupported_peer():
    mod = benchmarks.load("W1")
    res = measure("W1", "tapegrad", mod.SMOKE_PARAMS, target_s=0.001)
    assert res["reps"] >= 5 and res["median_s"] > 0 and len(res["grad"]) == 16
    assert res["peak_bytes"] >= 0 and res["extra"] == {}
    res = measure("W1", "no-such-peer", mod.SMOKE_PARAMS, target_s=0.001)
    assert set(res) == {"peer", "unsupported"}


def test_agreement_tolerances():
    want = np.array([100.0, 1.0, 1e-3], np.float32)
    plain = types.SimpleNamespace()
    assert runner.agreement(plain, want.copy(), want)["agree"]
    off = want + np.float32(1e-4)
    assert not runner.agreement(plain, off, want)["agree"]
    scaled = types.SimpleNamespace(ATOL_SCALED=2e-6)  # atol 2e-4 = 2e-6 * max |want|
    assert runner.agreement(scaled, off, want)["agree"]
    one_off = want.copy()
    one_off[2] = 1.0
    assert not runner.agreement(plain, one_off, want)["agree"]
    outliers = types.SimpleNamespace(MAX_OUTLIERS=0.4)  # 1 of 3 entries may miss
    res = runner.agreement(outliers, one_off, want)
    assert res["agree"] and res["outside"] == pytest.approx(1 / 3)
    assert not runner.agreement(plain, want[:2], want)["agree"]


def _report() -> dict:
    mod = benchmarks.load("W1")
    fig = {"median": 1.0, "rounds": [1.0, 2.0], "peak_mb": 3.0}
    g = {"agree": True, "rtol": 1e-5, "atol": 1e-6}
    w1 = {"id": "W1", "title": mod.TITLE, "description": mod.DESCRIPTION, "unit": mod.UNIT,
          "peers": {"tapegrad": fig, "torch": fig}, "ratios": {"tapegrad/torch": fig},
          "gradients": {"tapegrad": g, "torch": g}, "load_avg_1min": [1.5, 2.5]}
    gfl = dict(fig, gflops=40.0, extra={"numpy_matmul_gflops": 80.0})
    w4 = {"id": "W4", "title": "dense chain", "description": "d", "unit": "ms/step",
          "peers": {"tapegrad": gfl, "torch": gfl}, "ratios": {"tapegrad/torch": fig},
          "gradients": {"tapegrad": g, "torch": g}, "memory": True, "analytic_mb": 5.0,
          "unsupported": {"numpy": "why"}}
    return {"date": "today", "machine": {"cpu": "cpu", "cores": 2, "versions": {
        "numpy": "2", "torch": "2.13.0+cpu"}, "load_avg_1min_at_start": 1.0},
        "peers": ["tapegrad", "torch"], "skipped": {"jax": "not installed"},
        "reference": "torch", "settings": {"rounds": 2, "threads": 2}, "workloads": [w1, w4]}


def test_markdown_report():
    md = runner.markdown(_report())
    assert "| W1 op overhead | µs/op | 1.00 (1.00–2.00) | 1.00 (1.00–2.00) | 1.00 (1.00–2.00) |" \
        in md
    assert "| W4 dense chain | 3.0 | 3.0 | 5.0 |" in md  # the memory table
    assert "80.0 GFLOP/s (tapegrad at 50 %, torch at 50 % of it)" in md
    assert "1-minute load average 1.50–2.50" in md
    assert "no numpy version (why)" in md
    assert "- skipped jax: not installed." in md


def test_readme_block_is_replaced_between_the_markers(tmp_path):
    block = readme.readme_block(_report())
    assert "| W1 op overhead | µs/op | 1.00 | 1.00 | 1.00 |" in block
    assert "| Workload | Unit | tapegrad | PyTorch 2.13.0 | tapegrad / PyTorch |" in block
    assert "W4 tapegrad 3, PyTorch 2.13.0 3 (analytic least 5)" in block
    path = tmp_path / "README.md"
    path.write_text(f"# t\n\n## Benchmarks\n\n{readme.START}\nold\n{readme.END}\n\n## Next\n")
    assert readme.update_readme(_report(), path)
    text = path.read_text()
    assert "old" not in text and block in text
    assert text.startswith("# t\n\n## Benchmarks\n\n")
    assert text.endswith(f"{readme.END}\n\n## Next\n")
    assert not readme.update_readme(_report(), path)  # idempotent
    path.write_text("# t\n")
    readme.update_readme(_report(), path)
    assert path.read_text() == f"# t\n\n## Speed\n\n{readme.START}\n{block}\n{readme.END}\n"


def test_runner_end_to_end_in_subprocesses():
    """W5 at the smoke size: two peers in fresh processes, check values passed through .npy."""
    out = runner.run_workload("W5", ["tapegrad", "numpy"], rounds=1, threads=1, target_s=0.001,
                              smoke=True, log=lambda *a: None)
    assert out["gradients"]["numpy"]["agree"] and out["memory"]
    assert out["peers"]["tapegrad"]["peak_mb"] >= 0 and out["analytic_mb"] > 0
    assert set(out["ratios"]) == {"numpy/tapegrad"}


def test_worker_env_pins_threads_equally():
    env = runner.worker_env(2)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert env[var] == "2"


@pytest.mark.parametrize("script", ["jacobians", "per_sample_grads", "hvp"])
def test_standalone_transform_benchmarks_run(script, capsys):
    """The issue-7 benchmark scripts run at tiny sizes and print a line per measurement (the
    torch columns when torch is installed; their results agree, which the scripts report)."""
    import importlib

    mod = importlib.import_module(f"benchmarks.{script}")
    small = {"jacobians": ["--n", "4", "--hidden", "6", "--repeats", "1"],
             "per_sample_grads": ["--batch", "3", "--inp", "4", "--hidden", "5", "--out", "3",
                                  "--repeats", "1"],
             "hvp": ["--n", "5", "--repeats", "1"]}[script]
    assert mod.main(small) == 0
    out = capsys.readouterr().out
    assert "tapegrad" in out
    diffs = [float(d.rstrip(")")) for d in
             (part.split("max abs diff ")[1].split()[0] for part in out.splitlines()
              if "max abs diff" in part)]
    assert all(d < 1e-5 for d in diffs), out

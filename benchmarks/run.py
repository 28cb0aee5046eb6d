"""The benchmark runner: `python -m benchmarks [--rounds 5] [--workloads W1 ...]`.

For each workload and each round, every installed peer runs in a fresh subprocess
(`benchmarks.worker`), one after the other, the order rotating from round to round so that no peer
always goes first. Every process gets the same thread settings (OMP / OpenBLAS / MKL / vecLib /
numexpr threads through the environment, PyTorch's intra-op pool to the same count). A round's
figure for a peer is the median step time over its repetitions, divided by the workload's units;
the reported figure is the median over rounds, and the ratio tapegrad / reference is the median
of the ratios taken within each round (the two measured minutes apart would share less noise).
Each peer's check values (gradients, losses, updated parameters of its first step) are compared
with the reference's within float32 tolerance. A peer a workload has no version for is left out
of that workload. The worker also reports the first step's peak memory (shown for workloads with
``MEMORY = True``, next to their ``analytic_bytes``), and for workloads with ``flops(params)``
the GFLOP/s, next to what their optional ``probe`` measures (W4: NumPy's own matmul).

On a shared machine, ``--max-load L`` makes each round wait (up to ``--patience`` seconds) until
the 1-minute load average is below L, so that a burst of someone else's work does not land in
the middle of a workload.

The table is printed as markdown and written, with the raw figures, to
`benchmarks/results/latest.md` and `latest.json`; with ``--readme`` the table between the
``<!-- bench:start -->`` / ``<!-- bench:end -->`` markers of README.md is rewritten too
(`python -m benchmarks.readme` does that from latest.json alone).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import PEERS, REFERENCE, WORKLOADS, installed, load

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
# float32 through a chain of ops: the peers' kernels round differently in the last bits
RTOL, ATOL = 1e-5, 1e-6


def worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({k: str(threads) for k in THREAD_VARS})
    return env


def run_worker(workload_id: str, peer: str, params: dict, *, threads: int,
               target_s: float) -> dict:
    """One peer timed in a fresh process; its check values come back as ``res["grad"]``."""
    with tempfile.TemporaryDirectory(prefix="tapegrad-bench-") as tmp:
        out = Path(tmp) / "grad.npy"
        cmd = [sys.executable, "-m", "benchmarks.worker", workload_id, peer,
               "--params", json.dumps(params), "--threads", str(threads),
               "--target-s", str(target_s), "--grad-out", str(out)]
        proc = subprocess.run(cmd, cwd=ROOT, env=worker_env(threads), capture_output=True,
                              text=True, timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"{peer} failed on {workload_id}:\n{proc.stderr}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        if "unsupported" not in res:
            res["grad"] = np.load(out)
    return res


def load_avg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def wait_quiet(max_load: float | None, patience_s: float, log=print) -> None:
    """On a shared machine: before a round, wait (up to patience_s) until the 1-minute load
    average is below max_load, so that no round runs beside someone else's burst of work."""
    if max_load is None or load_avg() is None:
        return
    waited = 0.0
    while load_avg() >= max_load and waited < patience_s:
        if not waited:
            log(f"  waiting for the 1-minute load average ({load_avg()}) to drop below "
                f"{max_load}")
        time.sleep(5.0)
        waited += 5.0


def agreement(mod, got: np.ndarray, want: np.ndarray) -> dict:
    """How a peer's check values compare with the reference's.

    The workload may set RTOL / ATOL, ATOL_SCALED: an absolute tolerance proportional to the
    reference's largest magnitude (for long float32 sums, whose error scales with their terms),
    and MAX_OUTLIERS: the fraction of entries allowed outside the tolerance (for chaotic chains,
    where float32 rounding differences between libraries grow without bound on some entries).
    """
    rtol, atol = getattr(mod, "RTOL", RTOL), getattr(mod, "ATOL", ATOL)
    if getattr(mod, "ATOL_SCALED", None) and want.size:
        atol = max(atol, float(mod.ATOL_SCALED * np.max(np.abs(want))))
    if got.shape != want.shape:
        return {"agree": False, "why": f"shape {got.shape} != {want.shape}",
                "rtol": rtol, "atol": atol}
    diff = float(np.max(np.abs(got.astype(np.float64) - want))) if got.size else 0.0
    outside = float(np.mean(~np.isclose(got, want, rtol=rtol, atol=atol))) if got.size else 0.0
    allowed = getattr(mod, "MAX_OUTLIERS", 0.0)
    return {"max_abs_diff": diff, "outside": outside, "agree": outside <= allowed,
            "rtol": rtol, "atol": atol, "max_outliers": allowed}


def run_workload(workload_id: str, peers: list[str], *, rounds: int, threads: int,
                 target_s: float, smoke: bool = False, log=print, max_load: float | None = None,
                 patience_s: float = 600.0) -> dict:
    """Run one workload over `rounds` interleaved rounds; return its figures."""
    mod = load(workload_id)
    params = mod.SMOKE_PARAMS if smoke else mod.PARAMS
    peers = list(peers)
    unsupported: dict[str, str] = {}
    per_round: dict[str, list[float]] = {p: [] for p in peers}
    raw: dict[str, list[dict]] = {p: [] for p in peers}
    grads: dict[str, np.ndarray] = {}
    loads = [load_avg()]
    for r in range(rounds):
        wait_quiet(max_load, patience_s, log)
        order = peers[r % len(peers):] + peers[:r % len(peers)]
        for peer in order:
            if peer in unsupported:
                continue
            res = run_worker(workload_id, peer, params, threads=threads, target_s=target_s)
            if "unsupported" in res:
                unsupported[peer] = res["unsupported"]
                continue
            per_round[peer].append(res["median_s"] / mod.units(params) * mod.SCALE)
            grads[peer] = res.pop("grad")
            raw[peer].append(res)
        loads.append(load_avg())
        log(f"  round {r + 1}/{rounds} (load {loads[-1]}): " + ", ".join(
            f"{p} {per_round[p][-1]:.4g} {mod.UNIT}" for p in peers if p not in unsupported))
    peers = [p for p in peers if p not in unsupported]
    out = {"id": workload_id, "title": mod.TITLE, "description": mod.DESCRIPTION,
           "unit": mod.UNIT, "params": params, "peers": {}, "ratios": {}, "gradients": {},
           "unsupported": unsupported, "load_avg_1min": [x for x in loads if x is not None]}
    flops = mod.flops(params) if hasattr(mod, "flops") else None
    for p in peers:
        fig = {"median": statistics.median(per_round[p]), "rounds": per_round[p],
               "reps": [x["reps"] for x in raw[p]],
               "first_step_s": [x["first_s"] for x in raw[p]],
               "peak_mb": statistics.median(x["peak_bytes"] for x in raw[p]) / 1e6,
               "peak_mb_rounds": [x["peak_bytes"] / 1e6 for x in raw[p]]}
        if flops is not None:
            fig["gflops"] = statistics.median(flops / x["median_s"] / 1e9 for x in raw[p])
        keys = {k for x in raw[p] for k in x["extra"]}
        fig["extra"] = {k: statistics.median(x["extra"][k] for x in raw[p] if k in x["extra"])
                        for k in sorted(keys)}
        out["peers"][p] = fig
    if hasattr(mod, "analytic_bytes"):
        out["analytic_mb"] = mod.analytic_bytes(params) / 1e6
    ref = REFERENCE if REFERENCE in peers else peers[0]
    for p in peers:
        if p != ref:
            ratios = [a / b for a, b in zip(per_round[p], per_round[ref])]
            out["ratios"][f"{p}/{ref}"] = {"median": statistics.median(ratios), "rounds": ratios}
        out["gradients"][p] = agreement(mod, grads[p], grads[ref])
    out["memory"] = bool(getattr(mod, "MEMORY", False))
    return out


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for peer in PEERS:
        if peer != "tapegrad" and installed(peer):
            try:
                from importlib.metadata import version

                versions[peer] = version(peer)
            except Exception:  # noqa: BLE001 - a version is nice to have, not needed
                versions[peer] = "?"
    spec = importlib.util.find_spec("tapegrad")
    where = str(Path(spec.origin).parent) if spec and spec.origin else None
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "versions": versions, "load_avg_1min_at_start": load_avg(), "tapegrad_path": where}


def _num(x: float) -> str:
    """A figure to about three significant digits (two decimals from 1 to 100)."""
    if x >= 100:
        return f"{x:.0f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def _cell(fig: dict) -> str:
    """A median with the range over rounds."""
    lo, hi = min(fig["rounds"]), max(fig["rounds"])
    return _num(fig["median"]) + (f" ({_num(lo)}–{_num(hi)})" if len(fig["rounds"]) > 1 else "")


def _loads(w: dict) -> str:
    loads = w.get("load_avg_1min") or []
    if not loads:
        return ""
    lo, hi = min(loads), max(loads)
    return f"; 1-minute load average {lo:.2f}" + (f"–{hi:.2f}" if hi != lo else "")


def markdown(report: dict) -> str:
    peers, ref = report["peers"], report["reference"]
    s, m = report["settings"], report["machine"]
    load_note = ""
    if m.get("load_avg_1min_at_start") is not None:
        load_note = f" (1-minute load average {m['load_avg_1min_at_start']} at start"
        load_note += (f", {m['load_avg_1min_at_end']} at end)"
                 if m.get("load_avg_1min_at_end") is not None else ")")
    lines = ["# tapegrad benchmarks", "",
             f"{report['date']}; {m['cpu']}, {m['cores']} cores{load_note}; "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + "."
             + (f" tapegrad imported from `{m['tapegrad_path']}`."
                if m.get("tapegrad_path") and Path(m["tapegrad_path"]) != ROOT / "src" / "tapegrad"
                else ""), "",
             f"{s['rounds']} round{'s' if s['rounds'] != 1 else ''}; each peer in a fresh "
             "process per round, the order rotating; "
             f"{s['threads']} threads for OpenMP / OpenBLAS / MKL and PyTorch's intra-op pool. "
             "Figures are medians over rounds of each round's median step time (range over rounds "
             "in brackets); the ratio is the median of ratios taken within a round. `numpy` is "
             "the same math written by hand in NumPy (forward and backward), the floor a NumPy "
             "autograd could reach. Lower is better.", ""]
    ratio_cols = [p for p in peers if p != ref]
    head = ["Workload", "Unit", *peers, *(f"{p} / {ref}" for p in ratio_cols)]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in report["workloads"]:
        row = [f"{w['id']} {w['title']}", w["unit"]]
        row += [_cell(w["peers"][p]) if p in w["peers"] else "—" for p in peers]
        row += [_cell(w["ratios"][f"{p}/{ref}"]) if f"{p}/{ref}" in w["ratios"]
                else "—" for p in ratio_cols]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    mem = [w for w in report["workloads"] if w.get("memory")]
    if mem:
        lines += ["Peak memory: how far the resident set size of a fresh process rose during its "
                  "first step above its level just before it (after imports and inputs), "
                  "MB = 10^6 bytes, median over rounds; \"analytic\" is what the step must hold "
                  "at its peak if every op keeps only what its backward needs.", "",
                  "| Workload | " + " | ".join(f"{p} MB" for p in peers) + " | analytic MB |",
                  "|" + "---|" * (len(peers) + 2)]
        for w in mem:
            row = [f"{w['id']} {w['title']}"]
            row += [f"{w['peers'][p]['peak_mb']:.1f}" if p in w["peers"] else "—"
                    for p in peers]
            row.append(f"{w['analytic_mb']:.1f}" if w.get("analytic_mb") is not None else "—")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    for w in report["workloads"]:
        figs = w["peers"]
        if not any("gflops" in f for f in figs.values()):
            continue
        line = (f"- {w['id']} throughput (the step's matmul FLOPs / its time): "
                + ", ".join(f"{p} {figs[p]['gflops']:.1f}" for p in peers if p in figs)
                + " GFLOP/s")
        mm = [f["extra"]["numpy_matmul_gflops"] for f in figs.values()
              if "numpy_matmul_gflops" in f.get("extra", {})]
        if mm:
            best = statistics.median(mm)
            line += (f"; NumPy's own matmul of the same shapes, measured in the same processes: "
                     f"{best:.1f} GFLOP/s (" + ", ".join(
                         f"{p} at {100 * figs[p]['gflops'] / best:.0f} %"
                         for p in peers if p in figs) + " of it)")
        lines.append(line + ".")
    for w in report["workloads"]:
        bad = [p for p, g in w["gradients"].items() if not g["agree"]]
        g0 = next(iter(w["gradients"].values()), {})
        tol = f"rtol {g0.get('rtol', RTOL):g}, atol {g0.get('atol', ATOL):.2g}"
        if g0.get("max_outliers"):
            worst = max(g.get("outside", 0.0) for g in w["gradients"].values())
            tol += (f", on all but {100 * g0['max_outliers']:g} % of the entries: "
                    f"{100 * worst:.2g} % outside")
        agree = (f"results agree with {ref} ({tol})" if not bad
                 else "RESULTS DISAGREE: " + ", ".join(bad))
        extra = "".join(f"; no {p} version ({why})"
                        for p, why in w.get("unsupported", {}).items())
        lines.append(f"- {w['id']}: {w['description']}; {agree}{extra}{_loads(w)}.")
    for p, why in report["skipped"].items():
        lines.append(f"- skipped {p}: {why}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    ap.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--target-s", type=float, default=0.5,
                    help="seconds of timed steps per peer per round")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one round, no files")
    ap.add_argument("--no-write", action="store_true", help="print only; write no results")
    ap.add_argument("--max-load", type=float, default=None,
                    help="before each round, wait until the 1-minute load average is below this")
    ap.add_argument("--patience", type=float, default=600.0,
                    help="longest wait (seconds) for --max-load before a round runs anyway")
    ap.add_argument("--readme", action="store_true",
                    help="also rewrite the table between the bench markers in README.md")
    a = ap.parse_args(argv)
    if a.smoke:
        a.rounds, a.target_s, a.no_write = 1, 0.02, True

    peers, skipped = [], {}
    for p in a.peers:
        if installed(p):
            peers.append(p)
        else:
            skipped[p] = "not installed"
            print(f"skipping {p}: not installed")
    report = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": machine(), "peers": peers, "skipped": skipped,
              "reference": REFERENCE if REFERENCE in peers else peers[0],
              "settings": {"rounds": a.rounds, "threads": a.threads, "target_s": a.target_s,
                           "max_load": a.max_load,
                           "thread_env": list(THREAD_VARS)},
              "workloads": []}
    for wid in a.workloads:
        print(f"{wid} ({load(wid).TITLE}):")
        report["workloads"].append(run_workload(wid, peers, rounds=a.rounds, threads=a.threads,
                                                target_s=a.target_s, smoke=a.smoke,
                                                max_load=a.max_load, patience_s=a.patience))
    report["machine"]["load_avg_1min_at_end"] = load_avg()
    md = markdown(report)
    print()
    print(md, end="")
    if not a.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "latest.md").write_text(md)
        (RESULTS / "latest.json").write_text(json.dumps(report, indent=1) + "\n")
        print(f"\nwrote {RESULTS / 'latest.md'} and latest.json")
        if a.readme:
            from benchmarks.readme import update_readme

            update_readme(report)
            print(f"rewrote the benchmark table in {ROOT / 'README.md'}")
    return 0 if all(g["agree"] for w in report["workloads"] for g in w["gradients"].values()) \
        else 1

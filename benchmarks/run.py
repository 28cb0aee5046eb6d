"""The benchmark runner: `python -m benchmarks [--rounds 5] [--workloads W1 ...]`.

For each workload and each round, every installed peer runs in a fresh subprocess
(`benchmarks.worker`), one after the other, the order rotating from round to round so that no peer
always goes first. Every process gets the same thread settings (OMP / OpenBLAS / MKL / vecLib /
numexpr threads through the environment, PyTorch's intra-op pool to the same count). A round's
figure for a peer is the median step time over its repetitions, divided by the workload's units;
the reported figure is the median over rounds, and the ratio tapegrad / reference is the median
of the ratios taken within each round (the two measured minutes apart would share less noise).
Each peer's gradient is checked against the reference's within float32 tolerance.

The table is printed as markdown and written, with the raw figures, to
`benchmarks/results/latest.md` and `latest.json`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
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
    """One peer timed in a fresh process."""
    cmd = [sys.executable, "-m", "benchmarks.worker", workload_id, peer,
           "--params", json.dumps(params), "--threads", str(threads),
           "--target-s", str(target_s)]
    proc = subprocess.run(cmd, cwd=ROOT, env=worker_env(threads), capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{peer} failed on {workload_id}:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_workload(workload_id: str, peers: list[str], *, rounds: int, threads: int,
                 target_s: float, smoke: bool = False, log=print) -> dict:
    """Run one workload over `rounds` interleaved rounds; return its figures."""
    mod = load(workload_id)
    params = mod.SMOKE_PARAMS if smoke else mod.PARAMS
    per_round: dict[str, list[float]] = {p: [] for p in peers}
    grads: dict[str, list[float]] = {}
    reps: dict[str, list[int]] = {p: [] for p in peers}
    for r in range(rounds):
        order = peers[r % len(peers):] + peers[:r % len(peers)]
        for peer in order:
            res = run_worker(workload_id, peer, params, threads=threads, target_s=target_s)
            per_round[peer].append(res["median_s"] / mod.units(params) * mod.SCALE)
            reps[peer].append(res["reps"])
            grads[peer] = res["grad"]
        log(f"  round {r + 1}/{rounds}: " + ", ".join(
            f"{p} {per_round[p][-1]:.2f} {mod.UNIT}" for p in peers))
    out = {"id": workload_id, "title": mod.TITLE, "description": mod.DESCRIPTION,
           "unit": mod.UNIT, "params": params, "peers": {}, "ratios": {}, "gradients": {}}
    for p in peers:
        out["peers"][p] = {"median": statistics.median(per_round[p]), "rounds": per_round[p],
                           "reps": reps[p]}
    ref = REFERENCE if REFERENCE in peers else peers[0]
    for p in peers:
        if p != ref:
            ratios = [a / b for a, b in zip(per_round[p], per_round[ref])]
            out["ratios"][f"{p}/{ref}"] = {"median": statistics.median(ratios), "rounds": ratios}
        diff = float(np.max(np.abs(np.subtract(grads[p], grads[ref])))) if grads[p] else 0.0
        ok = bool(np.allclose(grads[p], grads[ref], rtol=RTOL, atol=ATOL))
        out["gradients"][p] = {"max_abs_diff_vs_" + ref: diff, "agree": ok}
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
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "versions": versions, "load_avg_1min_at_start": load}


def _cell(fig: dict) -> str:
    """A median with the range over rounds."""
    lo, hi = min(fig["rounds"]), max(fig["rounds"])
    return f"{fig['median']:.2f}" + (f" ({lo:.2f}–{hi:.2f})" if len(fig["rounds"]) > 1 else "")


def markdown(report: dict) -> str:
    peers, ref = report["peers"], report["reference"]
    s, m = report["settings"], report["machine"]
    lines = ["# tapegrad benchmarks", "",
             f"{report['date']}; {report['machine']['cpu']}, {report['machine']['cores']} cores"
             + (f" (1-minute load average {m['load_avg_1min_at_start']} at start)"
                if m.get("load_avg_1min_at_start") is not None else "") + "; "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".", "",
             f"{s['rounds']} rounds; each peer in a fresh process per round, the order rotating; "
             f"{s['threads']} threads for OpenMP / OpenBLAS / MKL and PyTorch's intra-op pool. "
             "Figures are medians over rounds of each round's median step time (range over rounds "
             "in brackets); the ratio is the median of ratios taken within a round. "
             "Lower is better.", ""]
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
    for w in report["workloads"]:
        bad = [p for p, g in w["gradients"].items() if not g["agree"]]
        agree = (f"gradients agree with {ref} (rtol {RTOL:g}, atol {ATOL:g})" if not bad
                 else "GRADIENTS DISAGREE: " + ", ".join(bad))
        lines.append(f"- {w['id']}: {w['description']}; {agree}.")
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
                           "thread_env": list(THREAD_VARS)},
              "workloads": []}
    for wid in a.workloads:
        print(f"{wid} ({load(wid).TITLE}):")
        report["workloads"].append(run_workload(wid, peers, rounds=a.rounds, threads=a.threads,
                                                target_s=a.target_s, smoke=a.smoke))
    md = markdown(report)
    print()
    print(md, end="")
    if not a.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "latest.md").write_text(md)
        (RESULTS / "latest.json").write_text(json.dumps(report, indent=1) + "\n")
        print(f"\nwrote {RESULTS / 'latest.md'} and latest.json")
    return 0 if all(g["agree"] for w in report["workloads"] for g in w["gradients"].values()) \
        else 1

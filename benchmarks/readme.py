"""Rewrite the benchmark table in README.md from a run's report.

    python -m benchmarks.readme [benchmarks/results/latest.json]

The table goes between the lines ``<!-- bench:start -->`` and ``<!-- bench:end -->``; anything
else in README.md is left as it is. Where the markers are missing, a "Speed" section holding
them is appended. `python -m benchmarks --readme` calls this after a run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
LATEST = Path(__file__).resolve().parent / "results" / "latest.json"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
LABELS = {"tapegrad": "tapegrad", "torch": "PyTorch", "numpy": "NumPy by hand",
          "autograd": "HIPS autograd", "jax": "JAX (eager)"}


def _fig(x: float) -> str:
    if x >= 100:
        return f"{x:.0f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def readme_block(report: dict) -> str:
    """The markdown between the markers: a sentence on the run, the table, memory figures."""
    peers, ref, m = report["peers"], report["reference"], report["machine"]
    labels = {p: LABELS.get(p, p) for p in peers}
    if "torch" in peers and "torch" in m.get("versions", {}):
        labels["torch"] = "PyTorch " + m["versions"]["torch"].split("+")[0]
    loads = [x for w in report["workloads"] for x in w.get("load_avg_1min", [])]
    load = (f", 1-minute load average {min(loads):.1f}–{max(loads):.1f}" if loads else "")
    if loads and max(loads) > 0.5 * (m.get("cores") or 1):
        load += ": a busy machine, so the figures are noisy"
    lines = [f"Latest figures ({report['date']}, {m['cpu']}, {m['cores']} cores{load}; "
             f"medians of {report['settings']['rounds']} rounds, lower is better):", ""]
    others = [p for p in peers if p != ref]
    head = ["Workload", "Unit", *(labels[p] for p in peers),
            *(f"{labels[p].split()[0]} / {labels[ref].split()[0]}" for p in others[:1])]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in report["workloads"]:
        row = [f"{w['id']} {w['title']}", w["unit"]]
        row += [_fig(w["peers"][p]["median"]) if p in w["peers"] else "—" for p in peers]
        for p in others[:1]:
            r = w["ratios"].get(f"{p}/{ref}")
            row.append(_fig(r["median"]) if r else "—")
        lines.append("| " + " | ".join(row) + " |")
    mem = [w for w in report["workloads"] if w.get("memory")]
    if mem:
        lines.append("")
        lines.append("Peak memory of a step (rise of a fresh process's resident set size, MB): "
                     + "; ".join(
                         f"{w['id']} " + ", ".join(
                             f"{labels[p]} {w['peers'][p]['peak_mb']:.0f}"
                             for p in peers if p in w["peers"])
                         + (f" (analytic least {w['analytic_mb']:.0f})"
                            if w.get("analytic_mb") is not None else "")
                         for w in mem) + ".")
    lines += ["", "Ranges over rounds, throughput and the checks that the peers computed the "
              "same numbers: `benchmarks/results/latest.md`."]
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    """`text` with what lies between the markers replaced by `block` (markers added if absent)."""
    if START in text and END in text and text.index(START) < text.index(END):
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        return f"{head}{START}\n{block}\n{END}{tail}"
    return text.rstrip("\n") + f"\n\n## Speed\n\n{START}\n{block}\n{END}\n"


def update_readme(report: dict, path: Path = README) -> bool:
    """Rewrite the block in `path`; whether the file changed."""
    text = path.read_text()
    new = replace_block(text, readme_block(report))
    if new != text:
        path.write_text(new)
    return new != text


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    report = json.loads(Path(args[0] if args else LATEST).read_text())
    changed = update_readme(report)
    print(f"{'rewrote' if changed else 'unchanged:'} the benchmark table in {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

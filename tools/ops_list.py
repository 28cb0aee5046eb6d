"""Generate the README's list of supported ops from the op registry (the op families).

`python tools/ops_list.py --write` rewrites the section between the markers in README.md;
tests/test_readme_ops.py fails when the README and the registry drift apart.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

START = "<!-- ops-list:start -->"
END = "<!-- ops-list:end -->"
ROOT = pathlib.Path(__file__).resolve().parents[1]


def render() -> str:
    import tapegrad
    from tapegrad import ops

    lines = []
    total = set()
    elsewhere = {n for mod in ops.FAMILIES if not mod.__name__.endswith(".unary")
                 for n in getattr(mod, "__all__", ())}
    for mod in ops.FAMILIES:
        family = mod.__name__.rsplit(".", 1)[-1]
        top = sorted(n for n in getattr(mod, "__all__", ()) if not n.startswith("_"))
        fn = sorted(getattr(mod, "FUNCTIONAL", ()))
        meth = sorted(n for n in getattr(mod, "METHODS", {}) if not n.startswith("_"))
        if family == "unary":
            # declare_unary registers every elementwise op here; list those no family exports
            top = sorted(n for n in ops.UNARY if n not in elsewhere)
        if not (top or fn or meth):
            continue
        parts = []
        if top:
            parts.append("`tapegrad.`: " + ", ".join(top))
        if fn:
            parts.append("`nn.functional.`: " + ", ".join(fn))
        extra = [m for m in meth if m not in top]
        if extra:
            parts.append("Tensor methods: " + ", ".join(extra))
        lines.append(f"- **{family}**: " + "; ".join(parts))
        total.update(f"t.{n}" for n in top)
        total.update(f"F.{n}" for n in fn)
        total.update(f"m.{n}" for n in extra)
    linalg = sorted(n for n in dir(tapegrad.linalg) if not n.startswith("_")
                    and callable(getattr(tapegrad.linalg, n)))
    lines.append("- **linalg**: `tapegrad.linalg.`: " + ", ".join(linalg))
    total.update(f"l.{n}" for n in linalg)
    head = (f"{len(total)} public functions and methods across {len(ops.FAMILIES)} op families "
            "(generated from the op registry by `python tools/ops_list.py --write`):")
    return "\n".join([START, head, "", *lines, END])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="rewrite README.md in place")
    args = ap.parse_args()
    text = render()
    if not args.write:
        print(text)
        return 0
    readme = ROOT / "README.md"
    s = readme.read_text()
    if START in s:
        s = s[: s.index(START)] + text + s[s.index(END) + len(END):]
    else:
        s = s.rstrip("\n") + "\n\n## Supported ops\n\n" + text + "\n"
    readme.write_text(s)
    return 0


if __name__ == "__main__":
    sys.exit(main())

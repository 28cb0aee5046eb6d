"""Render the README's example picture: the autograd graph of a 2-layer MLP's loss.

`python tools/render_graph_example.py` writes docs/images/graph.svg and docs/images/graph.png
(needs the `graphviz` Python package and the Graphviz `dot` program); `--dot` also writes the
DOT text as docs/images/graph.dot.
"""

from __future__ import annotations

import argparse
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"


def example():
    """The loss of a 2-layer MLP on a small batch, and its named parameters."""
    import tapegrad as torch
    import tapegrad.nn.functional as F

    torch.manual_seed(0)
    params = {
        "fc1.weight": torch.randn(16, 4, requires_grad=True),
        "fc1.bias": torch.zeros(16, requires_grad=True),
        "fc2.weight": torch.randn(3, 16, requires_grad=True),
        "fc2.bias": torch.zeros(3, requires_grad=True),
    }
    x = torch.randn(8, 4)
    target = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    h = F.relu(F.linear(x, params["fc1.weight"], params["fc1.bias"]))
    loss = F.cross_entropy(F.linear(h, params["fc2.weight"], params["fc2.bias"]), target)
    return loss, params


def main() -> None:
    from tapegrad.viz import make_dot

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=OUT, help="output folder")
    ap.add_argument("--dot", action="store_true", help="also write the DOT text")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    loss, params = example()
    dot = make_dot(loss, params=params)
    (args.out / "graph.svg").write_bytes(dot.pipe("svg"))
    # a sharper PNG: the same picture at 150 dots per inch
    hi = type(dot)(dot.source.replace('graph [size="12,12"]', 'graph [size="12,12" dpi=150]'))
    (args.out / "graph.png").write_bytes(hi.pipe("png"))
    written = ["graph.svg", "graph.png"]
    if args.dot:
        dot.save(str(args.out / "graph.dot"))
        written.append("graph.dot")
    print("wrote", ", ".join(str(args.out / name) for name in written))


if __name__ == "__main__":
    main()

"""tapegrad.viz: DOT text of autograd graphs (no dependency) and rendering through Graphviz.

The structure of each picture is checked against the graph PyTorch builds for the same program
(node names, edges, saved-tensor shapes); rendering tests skip when Graphviz is missing.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter

import numpy as np
import pytest

import tapegrad
from tapegrad import viz

_NODE = re.compile(r'^\t(n\d+) \[label="((?:[^"\\]|\\.)*)"(?: fillcolor=(\w+))?(.*)\]$')
_EDGE = re.compile(r"^\t(n\d+) -> (n\d+)(?: \[(.*)\])?$")


def label_lines(label: str) -> list[str]:
    """The lines of a DOT label: \\n and \\l end lines, a backslash quotes the next char."""
    lines, cur, chars = [], [], iter(label)
    for c in chars:
        if c == "\\":
            c = next(chars)
            if c in "nl":
                lines.append("".join(cur))
                cur = []
                continue
        cur.append(c)
    lines.append("".join(cur))
    return [x for x in lines if x]


def parse(src: str):
    """nodes: id -> (label lines, fill colour or None); edges: list of (src, dst, attrs)."""
    assert src.startswith("digraph {\n") and src.endswith("}\n")
    nodes, edges = {}, []
    for line in src.splitlines()[1:-1]:
        m = _NODE.match(line)
        if m:
            assert m.group(1) not in nodes, line
            nodes[m.group(1)] = (label_lines(m.group(2)), m.group(3))
            continue
        m = _EDGE.match(line)
        if m:
            edges.append((m.group(1), m.group(2), m.group(3) or ""))
            continue
        assert line.startswith(("\tgraph [", "\tnode [", "\tedge [")), line
    for a, b, _ in edges:
        assert a in nodes and b in nodes
    return nodes, edges


def mlp(lib, seed: int = 0, x_grad: bool = False):
    """A 2-layer MLP loss with its named parameters, the same numbers in both libraries."""
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=x_grad)
    w1 = lib.tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    b1 = lib.zeros(5, requires_grad=True)
    w2 = lib.tensor(rng.standard_normal((1, 5)).astype(np.float32), requires_grad=True)
    h = lib.nn.functional.relu(x @ w1.T + b1)
    loss = (h @ w2.T).pow(2).mean()
    return loss, {"fc1.weight": w1, "fc1.bias": b1, "fc2.weight": w2}


def shape_str(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def torch_edges(out, params):
    """What make_dot should draw, computed from a torch graph: Counter of edges named by the
    nodes' PyTorch names (leaves as 'name (shape)'), and the number of backward nodes."""
    names = {id(t): n for n, t in params.items()}
    edges: Counter = Counter()
    seen = set()
    stack = [out.grad_fn]
    edges[(type(out.grad_fn).__name__, "OUTPUT")] += 1
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        if hasattr(fn, "variable"):
            v = fn.variable
            edges[(f"{names.get(id(v), '')} {shape_str(v.shape)}".strip(), "AccumulateGrad")] += 1
        for nxt, _ in fn.next_functions:
            if nxt is not None:
                edges[(type(nxt).__name__, type(fn).__name__)] += 1
                stack.append(nxt)
    return edges, len(seen)


def our_edges(src: str):
    nodes, edges = parse(src)
    out: Counter = Counter()

    def name(i):
        lines, color = nodes[i]
        if color is None:
            return lines[0]
        if color == "darkolivegreen1":
            return "OUTPUT"
        return " ".join(lines)

    for a, b, _ in edges:
        out[(name(a), name(b))] += 1
    return out, sum(color is None for _, color in nodes.values())


# --- DOT text (no dependency) ----------------------------------------------------------------
def test_mlp_graph_matches_torch():
    torch = pytest.importorskip("torch")
    loss, params = mlp(tapegrad)
    tloss, tparams = mlp(torch)
    want, n_want = torch_edges(tloss, tparams)
    got, n_got = our_edges(viz.to_dot(loss, params=params))
    assert got == want
    assert n_got == n_want == 11


@pytest.mark.parametrize("prog", ["diamond", "reuse", "shared_leaf", "multi", "linear_ce"])
def test_small_graphs_match_torch(prog):
    torch = pytest.importorskip("torch")

    def build(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        w = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        if prog == "diamond":
            a = x.exp()
            return (a.sin() * a.cos()).sum(), {"x": x}
        if prog == "reuse":
            return (x * x).sum(), {"x": x}
        if prog == "shared_leaf":
            return (x * w + w.tanh()).sum(), {"x": x, "w": w}
        if prog == "multi":
            return (x[:2] * w[1:]).sum() / x.norm(), {"w": w}
        F = lib.nn.functional
        b = lib.zeros(2, requires_grad=True)
        logits = F.linear(F.relu(x * w).reshape(1, 3), w[:2].reshape(2, 1).expand(2, 3), b)
        return F.cross_entropy(logits, lib.tensor([1])), {"x": x, "w": w, "b": b}

    got, n_got = our_edges(viz.to_dot(*build(tapegrad)))
    want, n_want = torch_edges(*build(torch))
    assert got == want
    assert n_got == n_want


def test_labels_colours_and_ids():
    loss, params = mlp(tapegrad)
    src = viz.to_dot(loss, params=params)
    nodes, edges = parse(src)
    # ids come from a counter in walk order: n0, n1, ... with no gaps
    assert sorted(nodes, key=lambda i: int(i[1:])) == [f"n{i}" for i in range(len(nodes))]
    by_colour: dict = {}
    for lines, colour in nodes.values():
        by_colour.setdefault(colour, []).append(lines)
    assert sorted(by_colour["lightblue"]) == [
        ["fc1.bias", "(5)"], ["fc1.weight", "(5, 3)"], ["fc2.weight", "(1, 5)"]
    ]
    assert by_colour["darkolivegreen1"] == [["()"]]
    assert Counter(lines[0] for lines in by_colour[None]) == Counter(
        {"AccumulateGrad": 3, "MmBackward0": 2, "PermuteBackward0": 2, "MeanBackward0": 1,
         "PowBackward0": 1, "ReluBackward0": 1, "AddBackward0": 1}
    )
    assert set(by_colour) == {None, "lightblue", "darkolivegreen1"}
    # the output is drawn below its grad_fn: the last edge goes into the output box
    out_id = next(i for i, (_, c) in nodes.items() if c == "darkolivegreen1")
    assert out_id == "n0" and edges[-1][1] == "n0"
    assert nodes[edges[-1][0]][0] == ["MeanBackward0"]


def test_unnamed_leaves_show_shape_and_output_names():
    a = tapegrad.ones(2, 3, requires_grad=True)
    b = tapegrad.ones(3, requires_grad=True)
    y = (a * b).sum(1)
    src = viz.to_dot({"y": y, "total": y.sum()}, params={"b": b})
    nodes, _ = parse(src)
    leaves = sorted(lines for lines, c in nodes.values() if c == "lightblue")
    assert leaves == [["(2, 3)"], ["b", "(3)"]]
    outs = [lines for lines, c in nodes.values() if c == "darkolivegreen1"]
    assert outs == [["y", "(2)"], ["total", "()"]]
    # the shared subgraph is drawn once
    names = Counter(lines[0] for lines, c in nodes.values() if c is None)
    assert names == Counter({"SumBackward1": 1, "SumBackward0": 1, "MulBackward0": 1,
                             "AccumulateGrad": 2})


def test_several_outputs_as_sequence_and_params_as_pairs():
    x = tapegrad.ones(3, requires_grad=True)
    y1, y2 = x.exp(), x.sin()
    src = viz.to_dot((y1, y2, y1), params=[("x", x)])  # y1 twice: drawn once
    nodes, edges = parse(src)
    assert sum(c == "darkolivegreen1" for _, c in nodes.values()) == 2
    assert len(edges) == len(set(edges)) == 5
    assert sum(lines[0] == "AccumulateGrad" for lines, _ in nodes.values()) == 1
    assert [lines for lines, c in nodes.values() if c == "lightblue"] == [["x", "(3)"]]


def test_deterministic_text():
    texts = [viz.to_dot(*mlp(tapegrad), show_saved=True, show_attrs=True) for _ in range(3)]
    assert texts[0] == texts[1] == texts[2]
    assert "0x" not in texts[0]  # no memory addresses anywhere


def test_output_without_graph():
    t = tapegrad.ones(2)
    nodes, edges = parse(viz.to_dot(t))
    assert list(nodes.values()) == [(["(2)"], "darkolivegreen1")] and edges == []
    w = tapegrad.ones(2, requires_grad=True)
    nodes, edges = parse(viz.to_dot(w, params={"w": w}))
    assert list(nodes.values()) == [(["w", "(2)"], "darkolivegreen1")] and edges == []


def test_view_output_draws_its_base():
    torch = pytest.importorskip("torch")
    x = tapegrad.ones(2, 3, requires_grad=True)
    y = x * 2
    z = y[0]
    ty = torch.ones(2, 3, requires_grad=True) * 2
    assert z._base is y and ty[0]._base is ty  # the picture follows ._base as torchviz does
    nodes, edges = parse(viz.to_dot(z))
    base = [i for i, (_, c) in nodes.items() if c == "darkolivegreen3"]
    out = [i for i, (_, c) in nodes.items() if c == "darkolivegreen1"]
    assert [nodes[i][0] for i in base] == [["(2, 3)"]]
    assert (base[0], out[0], "style=dotted") in edges
    mul = next(i for i, (lines, _) in nodes.items() if lines == ["MulBackward0"])
    assert (mul, base[0], "") in edges  # the base's own grad_fn is drawn too
    assert sum(lines == ["MulBackward0"] for lines, _ in nodes.values()) == 1


def test_show_saved_matches_torch_saved_tensors():
    torch = pytest.importorskip("torch")
    # x requires grad here, so that torch's first MmBackward0 keeps both operands too
    loss, params = mlp(tapegrad, x_grad=True)
    src = viz.to_dot(loss, params=params, show_saved=True)
    nodes, edges = parse(src)
    got: Counter = Counter()
    for a, b, attrs in edges:
        if nodes[a][1] == "orange":
            assert "dir=none" in attrs and "style=dashed" in attrs
            shape, dtype = nodes[a][0][-1].rsplit(" ", 1)
            assert dtype == "float32"
            got[(nodes[b][0][0], shape)] += 1
    tloss, _ = mlp(torch, x_grad=True)
    want: Counter = Counter()
    seen, stack = set(), [tloss.grad_fn]
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        for attr in dir(fn):
            if attr.startswith("_saved_") and isinstance(getattr(fn, attr), torch.Tensor):
                want[(type(fn).__name__, shape_str(getattr(fn, attr).shape))] += 1
        stack.extend(n for n, _ in fn.next_functions if n is not None)
    assert got == want
    assert not viz.to_dot(loss, params=params).count("orange")


def test_saved_names_from_node_class(monkeypatch):
    x = tapegrad.ones(2, 3, requires_grad=True, dtype=tapegrad.float64)
    w = tapegrad.ones(3, requires_grad=True, dtype=tapegrad.float64)
    y = x * w
    src = viz.to_dot(y, params={"x": x}, show_saved=True)
    nodes, edges = parse(src)
    saved = {nodes[a][0][-1]: attrs for a, b, attrs in edges if nodes[a][1] == "orange"}
    # without names: positions; a named param keeps its name in the saved box
    assert [lines for lines, c in nodes.values() if c == "orange"] == [
        ["x", "(2, 3) float64"], ["(3) float64"]
    ]
    assert 'label="self"' in saved["(2, 3) float64"]  # MulBackward0's _saved_names
    monkeypatch.setattr(type(y.grad_fn), "_saved_names", ("_saved_self", "other"), raising=False)
    nodes, edges = parse(viz.to_dot(y, show_saved=True, show_attrs=True))
    labels = sorted(re.search(r'label="(\w+)"', attrs).group(1)
                    for a, b, attrs in edges if nodes[a][1] == "orange")
    assert labels == ["other", "self"]
    mul = next(lines for lines, c in nodes.values() if lines[0] == "MulBackward0")
    assert "self : [saved tensor]" in mul and "other: [saved tensor]" in mul


def test_saved_output_is_named_result():
    x = tapegrad.ones(3, requires_grad=True)
    y = x.exp()
    nodes, edges = parse(viz.to_dot(y, show_saved=True))
    saved = [(nodes[a][0], attrs) for a, b, attrs in edges if nodes[a][1] == "orange"]
    assert saved == [(["(3) float32"], 'dir=none style=dashed label="result"')]


def test_show_attrs_lists_node_state():
    torch = pytest.importorskip("torch")
    loss, params = mlp(tapegrad)
    nodes, _ = parse(viz.to_dot(loss, params=params, show_attrs=True))
    tloss, _ = mlp(torch)
    perm = [lines for lines, _ in nodes.values() if lines[0] == "PermuteBackward0"]
    tperm = tloss.grad_fn.next_functions[0][0].next_functions[0][0].next_functions[1][0]
    assert type(tperm).__name__ == "PermuteBackward0"
    assert perm[0][2:] == [f"dims: {tperm._saved_dims}"]
    add = next(lines for lines, _ in nodes.values() if lines[0] == "AddBackward0")
    assert add[1] == "-" * len("AddBackward0") and add[2:] == ["alpha: 1"]
    pow_ = next(lines for lines, _ in nodes.values() if lines[0] == "PowBackward0")
    assert f": {tloss.grad_fn.next_functions[0][0]._saved_exponent}" in pow_[-1]
    # plain labels when show_attrs is off
    assert all(len(lines) == 1 for lines, c in parse(viz.to_dot(loss))[0].values() if c is None)


def test_max_attr_chars_truncates():
    x = tapegrad.ones(*([1] * 12), requires_grad=True)
    y = x.permute(*reversed(range(12)))
    nodes, _ = parse(viz.to_dot(y, show_attrs=True, max_attr_chars=10))
    perm = next(lines for lines, _ in nodes.values() if lines[0] == "PermuteBackward0")
    assert perm[2] == "dims: (11, 10..."
    nodes, _ = parse(viz.to_dot(y, show_attrs=True))
    perm = next(lines for lines, _ in nodes.values() if lines[0] == "PermuteBackward0")
    assert perm[2] == "dims: " + str(tuple(reversed(range(12))))


def test_after_backward_saved_tensors_are_freed():
    loss, params = mlp(tapegrad)
    loss.backward()
    nodes, _ = parse(viz.to_dot(loss, params=params, show_saved=True, show_attrs=True))
    assert not any(c == "orange" for _, c in nodes.values())
    mm = next(lines for lines, _ in nodes.values() if lines[0] == "MmBackward0")
    assert mm[-1] == "saved: [freed by backward]"


def test_long_chain_is_walked_without_recursion():
    x = tapegrad.ones(1, requires_grad=True)
    y = x
    n = 100_000
    for _ in range(n):
        y = y * 1.5
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        src = viz.to_dot(y, params={"x": x})
        short = viz.to_dot(y, max_nodes=5)
    finally:
        sys.setrecursionlimit(limit)
    assert src.count('[label="MulBackward0"]') == n
    assert 'label="x\\n(1)" fillcolor=lightblue' in src
    nodes, edges = parse(short)
    assert Counter(lines[0] for lines, c in nodes.values() if c is None) == {"MulBackward0": 5}
    more = [i for i, (lines, c) in nodes.items() if c == "white"]
    assert [nodes[i][0] for i in more] == [["... more (max_nodes=5)"]]
    assert sum(a == more[0] for a, _, _ in edges) == 1


def test_quoting_of_names():
    w = tapegrad.ones(2, requires_grad=True)
    src = viz.to_dot(w.sum(), params={'we"ird\\name': w})
    assert 'label="we\\"ird\\\\name\\n(2)"' in src
    assert parse(src)[0]["n3"] == (['we"ird\\name', "(2)"], "lightblue")


def test_bad_arguments():
    w = tapegrad.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match=r"params must map names to tensors, but 'w' is ndarray"):
        viz.to_dot(w.sum(), params={"w": np.ones(2)})
    with pytest.raises(TypeError, match="var must be a tensor"):
        viz.to_dot([w, 3])


def test_dot_object_without_graphviz(monkeypatch):
    dot = viz.make_dot(*mlp(tapegrad))
    assert isinstance(dot, viz.Dot)
    assert dot.source == viz.to_dot(*mlp(tapegrad)) == str(dot)
    assert repr(dot) == f"<tapegrad.viz.Dot with {len(parse(dot.source)[0])} nodes>"
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz now fails
    with pytest.raises(ImportError, match=r"pip install graphviz.*available without them as "
                       r"\.source"):
        dot.pipe("svg")
    with pytest.raises(ImportError, match="needs the 'graphviz' Python package"):
        dot.render("x")
    assert dot._repr_svg_() is None
    assert dot._repr_mimebundle_() == {"text/plain": dot.source}


def test_save_writes_source(tmp_path):
    dot = viz.make_dot(*mlp(tapegrad))
    path = dot.save(str(tmp_path / "g.dot"))
    assert open(path, encoding="utf-8").read() == dot.source


def test_exported():
    assert tapegrad.viz is viz
    assert viz.make_dot.__module__ == "tapegrad.viz"


# --- rendering through Graphviz ----------------------------------------------------------------
def _need_graphviz():
    pytest.importorskip("graphviz")
    if shutil.which("dot") is None:
        pytest.skip("the Graphviz 'dot' program is not installed")


def _svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)  # valid XML or this raises
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.text]


def test_render_svg_of_mlp(tmp_path):
    _need_graphviz()
    loss, params = mlp(tapegrad)
    dot = viz.make_dot(loss, params=params, show_saved=True)
    out = dot.render(str(tmp_path / "mlp"), format="svg")
    assert out.endswith("mlp.svg")
    texts = _svg_texts(open(out, encoding="utf-8").read())
    for name in ["MeanBackward0", "PowBackward0", "MmBackward0", "ReluBackward0",
                 "AddBackward0", "PermuteBackward0", "AccumulateGrad",
                 "fc1.weight", "fc1.bias", "fc2.weight", "(5, 3)", "(4, 5) float32"]:
        assert name in texts, name
    assert open(tmp_path / "mlp", encoding="utf-8").read() == dot.source
    # inline display in Jupyter
    svg = dot._repr_svg_()
    assert "MmBackward0" in _svg_texts(svg)
    bundle = dot._repr_mimebundle_()
    assert bundle["image/svg+xml"] == svg and bundle["text/plain"] == repr(dot)


def test_pipe_png_and_attrs():
    _need_graphviz()
    loss, params = mlp(tapegrad)
    png = viz.make_dot(loss, params=params, show_attrs=True, show_saved=True).pipe("png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = viz.make_dot(loss, params=params, show_attrs=True).pipe("svg").decode()
    assert "alpha: 1" in _svg_texts(svg)
    w = tapegrad.ones(2, requires_grad=True)
    svg = viz.make_dot(w.sum(), params={'we"ird\\name': w}).pipe("svg").decode()
    assert 'we"ird\\name' in _svg_texts(svg)  # quoting survives Graphviz's parser


def test_missing_dot_program(monkeypatch):
    pytest.importorskip("graphviz")
    monkeypatch.setenv("PATH", "")
    dot = viz.make_dot(*mlp(tapegrad))
    with pytest.raises(RuntimeError, match="Graphviz 'dot' program was not found"):
        dot.pipe("svg")
    assert dot._repr_mimebundle_() == {"text/plain": dot.source}


def test_example_script(tmp_path):
    _need_graphviz()
    script = pathlib.Path(__file__).resolve().parents[1] / "tools" / "render_graph_example.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--dot"], check=True,
                   capture_output=True)
    texts = _svg_texts((tmp_path / "graph.svg").read_text(encoding="utf-8"))
    for name in ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "AddmmBackward0",
                 "TBackward0", "NllLossBackward0", "LogSoftmaxBackward0", "(16, 4)"]:
        assert name in texts, name
    assert (tmp_path / "graph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert parse((tmp_path / "graph.dot").read_text(encoding="utf-8"))

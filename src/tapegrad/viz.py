"""Pictures of the autograd graph behind one or more tensors, in Graphviz's DOT language.

`make_dot(out, params=...)` takes the call signature of torchviz's `make_dot` and returns a `Dot`
whose `.source` is the DOT text, built here with no dependency. `.render()` / `.pipe()` and the
Jupyter display hooks hand that text to the optional `graphviz` package and `dot` program.

>>> import tapegrad
>>> w = tapegrad.ones(3, requires_grad=True)
>>> src = tapegrad.viz.to_dot((w * 2).sum(), params={"w": w})
>>> "SumBackward0" in src and "MulBackward0" in src and '"w' in src
True

The picture, drawn from inputs down to outputs:
- one grey box per backward node, named as PyTorch names it (MulBackward0, AccumulateGrad);
- light blue: the leaf tensor behind each AccumulateGrad, with its name from `params` (if any)
  and its shape;
- dark green: the tensors asked for (`var`), and light-green the base of an output that is a view;
- orange (with `show_saved=True`): the tensors each node saved for backward, with shape and dtype,
  joined to the node by a dashed line labelled with the saved name (`self`, `other`, `result`).

The walk over the graph is iterative (a 100,000-node chain needs no recursion) and node ids come
from a counter in walk order, so the same graph always gives the same text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ._tensor import Tensor
from .autograd.graph import FREED, Node, SavedTensor

__all__ = ["Dot", "make_dot", "to_dot"]

# Colours close to torchviz's, so pictures look familiar.
OP_COLOR = "lightgrey"
LEAF_COLOR = "lightblue"
OUTPUT_COLOR = "darkolivegreen1"
BASE_COLOR = "darkolivegreen3"
SAVED_COLOR = "orange"
MORE_COLOR = "white"

_NODE_ATTRS = (
    'shape=box style=filled fillcolor="lightgrey" fontname="monospace" fontsize=10 height=0.2'
)
_NODE_BASE_SLOTS = frozenset(Node.__slots__) | {"variable", "__weakref__"}

_GRAPHVIZ_MISSING = (
    "tapegrad.viz: rendering needs the 'graphviz' Python package and the Graphviz 'dot' program "
    "(pip install graphviz; apt-get install graphviz or brew install graphviz). The DOT text is "
    "available without them as .source"
)
_DOT_MISSING = (
    "tapegrad.viz: the Graphviz 'dot' program was not found on PATH (install Graphviz: "
    "apt-get install graphviz, brew install graphviz, or conda install graphviz)"
)


# --- small text helpers ---------------------------------------------------------------------
def _quote(text: str) -> str:
    """A DOT quoted string; a newline in text becomes a centred line break."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("\n", "\\n") + '"'


def _quote_left(lines: list[str]) -> str:
    """A DOT quoted string of left-justified lines (each ended by DOT's \\l)."""
    return '"' + "".join(
        line.replace("\\", "\\\\").replace('"', '\\"') + "\\l" for line in lines
    ) + '"'


def _shape_str(shape: tuple) -> str:
    return "(" + ", ".join(str(int(n)) for n in shape) + ")"


def _node_name(node) -> str:
    """PyTorch's name of a node (AccumulateGrad rather than tapegrad::autograd::AccumulateGrad)."""
    name = node.name() if hasattr(node, "name") else type(node).__name__
    return name.rsplit("::", 1)[-1]


class _Note(str):
    """Label text shown as it is (not repr'd) among a node's attributes."""


def _short(value, limit: int) -> str:
    """A one-line description of an attribute value, free of memory addresses."""
    if type(value) is _Note:
        text = str(value)
    elif isinstance(value, Tensor):
        text = f"[tensor {_shape_str(value._data.shape)}]"
    elif isinstance(value, np.ndarray):
        text = f"[array {_shape_str(value.shape)} {value.dtype.name}]"
    elif isinstance(value, SavedTensor):
        text = "[saved tensor]"
    elif isinstance(value, Node):
        text = f"[{_node_name(value)}]"
    elif isinstance(value, (tuple, list)) and any(
        isinstance(v, (Tensor, SavedTensor)) for v in value
    ):
        text = "[saved tensors]"
    else:
        text = repr(value)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..."
    return text


def _saved_names(node, count: int) -> list[str]:
    """Names of a node's saved entries: the class's `_saved_names` when given, else positions."""
    names = getattr(type(node), "_saved_names", None)
    out = []
    for i in range(count):
        name = None
        if names is not None and i < len(names) and names[i]:
            name = str(names[i])
            if name.startswith("_saved_"):
                name = name[7:]
        out.append(name)
    return out


def _slot_attrs(node) -> list[tuple[str, object]]:
    """The node's own non-tensor state: the slots its class adds to Node's."""
    attrs = []
    seen = set()
    for cls in type(node).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for slot in slots:
            if slot in _NODE_BASE_SLOTS or slot in seen:
                continue
            seen.add(slot)
            try:
                value = getattr(node, slot)
            except AttributeError:  # a slot never filled in
                continue
            names = getattr(type(node), "param_names", ())
            if slot == "params" and isinstance(value, tuple) and len(names) == len(value):
                attrs.extend(zip(names, value))
            else:
                attrs.append((slot, value))
    return attrs


# --- the graph walk -------------------------------------------------------------------------
class _Builder:
    """Collects DOT statements for one picture; every id comes from one counter."""

    def __init__(self, params, show_attrs, show_saved, max_attr_chars, max_nodes) -> None:
        self.names = _param_names(params)
        self.show_attrs = show_attrs
        self.show_saved = show_saved
        self.max_attr_chars = max(int(max_attr_chars), 3)
        self.max_nodes = max_nodes
        self.counter = 0
        self.lines: list[str] = []
        self.fn_ids: dict = {}  # Node -> id
        self.tensor_ids: dict = {}  # id(leaf or output tensor) -> DOT id (kept in `keep`)
        self.saved_ids: dict = {}  # id(saved tensor or saved output array) -> DOT id
        self.keep: list = []
        self.n_fns = 0
        self.more_id = None

    def new_id(self) -> str:
        self.counter += 1
        return f"n{self.counter - 1}"

    def tensor_label(self, t: Tensor, extra: str = "", dtype: bool = False) -> str:
        name = self.names.get(id(t), "")
        parts = [p for p in (extra, name) if p]
        text = " = ".join(parts)
        tail = _shape_str(t._data.shape)
        if dtype:
            tail += " " + t._dtype.name
        return f"{text}\n{tail}" if text else tail

    def add_tensor(self, t, label: str, color: str, table: dict | None = None) -> str:
        """The id of tensor t's box (made on first use) in table (leaves and outputs by
        default; saved tensors have their own table, so a saved leaf is drawn twice)."""
        table = self.tensor_ids if table is None else table
        key = id(t)
        tid = table.get(key)
        if tid is None:
            tid = table[key] = self.new_id()
            self.keep.append(t)
            self.lines.append(f"\t{tid} [label={_quote(label)} fillcolor={color}]")
        return tid

    def fn_id(self, fn, stack: list) -> str:
        """The id of fn, queueing it for expansion when first met (or the cut-off marker)."""
        fid = self.fn_ids.get(fn)
        if fid is not None:
            return fid
        if self.max_nodes is not None and self.n_fns >= self.max_nodes:
            if self.more_id is None:
                self.more_id = self.new_id()
                self.lines.append(
                    f"\t{self.more_id} [label={_quote(f'... more (max_nodes={self.max_nodes})')} "
                    f"fillcolor={MORE_COLOR} style=dashed]"
                )
            return self.more_id
        self.n_fns += 1
        fid = self.fn_ids[fn] = self.new_id()
        stack.append(fn)
        return fid

    def fn_label(self, fn) -> str:
        name = _node_name(fn)
        if not self.show_attrs:
            return _quote(name)
        attrs = _slot_attrs(fn)
        saved = fn._saved
        if saved is FREED:
            attrs.append(("saved", _Note("[freed by backward]")))
        elif saved:
            for i, (value, sname) in enumerate(zip(saved, _saved_names(fn, len(saved)))):
                if value is None:
                    continue
                attrs.append((sname or ("result" if _is_saved_output(value) else f"saved[{i}]"),
                              value))
        if not attrs:
            return _quote(name)
        width = self.max_attr_chars
        texts = [(k, _short(v, width)) for k, v in attrs]
        kw = max(len(k) for k, _ in texts)
        rows = [f"{k.ljust(kw)}: {v}" for k, v in texts]
        sep = "-" * max(len(name), *(len(r) for r in rows))
        return _quote_left([name, sep, *rows])

    def saved_nodes(self, fn, fid: str) -> None:
        saved = fn._saved
        if saved is FREED or not saved:
            return
        for i, (value, sname) in enumerate(zip(saved, _saved_names(fn, len(saved)))):
            items = value if isinstance(value, (tuple, list)) else (value,)
            for j, s in enumerate(items):
                if isinstance(s, SavedTensor):
                    t = s.tensor
                    if t is not None:
                        label = self.tensor_label(t, dtype=True)
                        sid = self.add_tensor(t, label, SAVED_COLOR, self.saved_ids)
                    else:  # the node's own output, kept as its array
                        label = f"{_shape_str(s.data.shape)} {s.data.dtype.name}"
                        sid = self.add_tensor(s.data, label, SAVED_COLOR, self.saved_ids)
                elif isinstance(s, Tensor):
                    label = self.tensor_label(s, dtype=True)
                    sid = self.add_tensor(s, label, SAVED_COLOR, self.saved_ids)
                else:
                    continue
                edge = sname or ("result" if _is_saved_output(s) else f"saved[{i}]")
                if items is value:
                    edge = f"{edge}[{j}]"
                self.lines.append(
                    f"\t{sid} -> {fid} [dir=none style=dashed label={_quote(edge)}]"
                )

    def walk(self, roots: list) -> None:
        """Emit every node reachable from roots, depth first, without recursion."""
        stack: list = []
        for fn in roots:
            self.fn_id(fn, stack)
        stack.reverse()  # the first root is expanded first
        while stack:
            fn = stack.pop()
            fid = self.fn_ids[fn]
            self.lines.append(f"\t{fid} [label={self.fn_label(fn)}]")
            variable = getattr(fn, "variable", None)
            if isinstance(variable, Tensor):
                vid = self.add_tensor(variable, self.tensor_label(variable), LEAF_COLOR)
                self.lines.append(f"\t{vid} -> {fid}")
            if self.show_saved:
                self.saved_nodes(fn, fid)
            children = []
            for nxt, _ in fn.next_functions:
                if nxt is None:
                    continue
                cid = self.fn_id(nxt, children)
                self.lines.append(f"\t{cid} -> {fid}")
            # expand children in their edge order (the stack pops the last pushed first)
            stack.extend(reversed(children))

    def add_output(self, t: Tensor, name: str, roots: list, color: str = OUTPUT_COLOR) -> str:
        label = self.tensor_label(t, extra=name)
        tid = self.add_tensor(t, label, color)
        if t._grad_fn is not None:
            roots.append((t._grad_fn, tid))
        base = t._base
        if base is not None and color == OUTPUT_COLOR:
            bid = self.add_output(base, "", roots, BASE_COLOR)
            self.lines.append(f"\t{bid} -> {tid} [style=dotted]")
        return tid


def _is_saved_output(value) -> bool:
    return isinstance(value, SavedTensor) and value.tensor is None


def _param_names(params) -> dict:
    """id(tensor) -> name, from a mapping or an iterable of (name, tensor) pairs."""
    if params is None:
        return {}
    items = params.items() if isinstance(params, Mapping) else params
    names = {}
    for name, t in items:
        if not isinstance(t, Tensor):
            raise TypeError(
                f"make_dot(): params must map names to tensors, but {name!r} is "
                f"{type(t).__name__}"
            )
        names.setdefault(id(t), str(name))
    return names


def _outputs(var) -> list[tuple[str, Tensor]]:
    if isinstance(var, Tensor):
        return [("", var)]
    if isinstance(var, Mapping):
        pairs = [(str(k), v) for k, v in var.items()]
    elif isinstance(var, Iterable):
        pairs = [("", v) for v in var]
    else:
        pairs = [("", var)]
    for _, v in pairs:
        if not isinstance(v, Tensor):
            raise TypeError(
                "make_dot(): var must be a tensor, a sequence of tensors or a dict of tensors, "
                f"got {type(v).__name__}"
            )
    return pairs


def to_dot(
    var,
    params=None,
    show_attrs: bool = False,
    show_saved: bool = False,
    max_attr_chars: int = 50,
    *,
    max_nodes: int | None = None,
) -> str:
    """The DOT text of the graph behind var (see make_dot); needs no extra package."""
    b = _Builder(params, show_attrs, show_saved, max_attr_chars, max_nodes)
    roots: list = []
    for name, t in _outputs(var):
        b.add_output(t, name, roots)
    b.walk([fn for fn, _ in roots])
    for edge in dict.fromkeys((b.fn_ids.get(fn, b.more_id), tid) for fn, tid in roots):
        b.lines.append(f"\t{edge[0]} -> {edge[1]}")
    head = [
        "digraph {",
        '\tgraph [size="12,12"]',
        f"\tnode [{_NODE_ATTRS}]",
        '\tedge [arrowsize=0.6 fontname="monospace" fontsize=9]',
    ]
    return "\n".join(head + b.lines + ["}"]) + "\n"


class Dot:
    """A rendered-on-demand graph picture: `.source` is the DOT text.

    `.render()` and `.pipe()` call Graphviz (the `graphviz` package and the `dot` program);
    in Jupyter the object shows itself as an SVG picture.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        nodes = sum(1 for line in self.source.splitlines() if "[label=" in line)
        return f"<tapegrad.viz.Dot with {nodes} nodes>"

    def save(self, filename: str) -> str:
        """Write the DOT text to filename; returns filename."""
        with open(filename, "w", encoding="utf-8") as f:
            f.write(self.source)
        return filename

    def _graphviz_source(self):
        try:
            import graphviz
        except ImportError as e:
            raise ImportError(_GRAPHVIZ_MISSING) from e
        return graphviz, graphviz.Source(self.source)

    def pipe(self, format: str = "svg", **kwargs) -> bytes:
        """The picture as bytes in format ('svg', 'png', 'pdf', ...), made by Graphviz."""
        graphviz, src = self._graphviz_source()
        try:
            return src.pipe(format=format, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise RuntimeError(_DOT_MISSING) from e

    def render(
        self,
        filename: str | None = None,
        directory: str | None = None,
        view: bool = False,
        cleanup: bool = False,
        format: str = "svg",
        **kwargs,
    ) -> str:
        """Write the DOT text to filename and the picture beside it (filename.<format>), as
        graphviz's `render` does; returns the picture's path."""
        graphviz, src = self._graphviz_source()
        try:
            return src.render(
                filename, directory=directory, view=view, cleanup=cleanup, format=format, **kwargs
            )
        except graphviz.ExecutableNotFound as e:
            raise RuntimeError(_DOT_MISSING) from e

    def _repr_svg_(self) -> str | None:
        try:
            return self.pipe("svg").decode("utf-8")
        except (ImportError, RuntimeError):
            return None

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        svg = self._repr_svg_()
        if svg is None:
            return {"text/plain": self.source}
        return {"image/svg+xml": svg, "text/plain": repr(self)}


def make_dot(
    var,
    params=None,
    show_attrs: bool = False,
    show_saved: bool = False,
    max_attr_chars: int = 50,
    *,
    max_nodes: int | None = None,
) -> Dot:
    """A picture of the autograd graph that produced var (torchviz's `make_dot` signature).

    var: a tensor, a sequence of tensors, or a dict name -> tensor (outputs, dark green).
    params: dict (or (name, tensor) pairs, e.g. `model.named_parameters()`) naming leaves.
    show_attrs: list each node's non-tensor state under its name, cut to max_attr_chars.
    show_saved: draw the tensors each node saved for backward (orange, with shape and dtype).
    max_nodes: stop expanding after this many backward nodes (None: no limit).

    >>> import tapegrad
    >>> x = tapegrad.ones(2, requires_grad=True)
    >>> make_dot(x.exp().sum(), params={"x": x})
    <tapegrad.viz.Dot with 5 nodes>
    """
    return Dot(to_dot(var, params, show_attrs, show_saved, max_attr_chars, max_nodes=max_nodes))

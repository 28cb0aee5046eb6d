"""Nested Python containers ("pytrees") flattened to their leaves and rebuilt.

The containers are tuple, list, dict, namedtuple, OrderedDict, defaultdict and deque, as in
PyTorch's pytree; everything else (tensors, numbers, None) is a leaf. A TreeSpec records the
structure; its repr and `treespec_pprint` print as PyTorch's do, because error messages of
the transforms show them.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict, deque
from typing import Any

from .._size import Size

__all__ = ["TreeSpec", "LEAF", "tree_flatten", "tree_unflatten", "treespec_pprint"]


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _kind(x):
    """(type name for the spec, node type, context, children) or None for a leaf."""
    t = type(x)
    if t is tuple:
        return "tuple", tuple, None, list(x)
    if t is list:
        return "list", list, None, list(x)
    if t is dict:
        return "dict", dict, list(x.keys()), list(x.values())
    if _is_namedtuple(x):
        return "namedtuple", "namedtuple", t, list(x)
    if t is OrderedDict:
        return "OrderedDict", OrderedDict, list(x.keys()), list(x.values())
    if t is defaultdict:
        return "defaultdict", defaultdict, [x.default_factory, list(x.keys())], list(x.values())
    if t is deque:
        return "deque", deque, x.maxlen, list(x)
    if isinstance(x, tuple) and hasattr(t, "n_fields"):  # tapegrad.return_types (structseq)
        return t.__name__, t, None, list(x)
    if t is Size:  # (a node of PyTorch's pytree too: its ints are the leaves)
        return "Size", t, None, list(x)
    return None


class TreeSpec:
    """The structure of a pytree: node type, context (keys, class) and child specs."""

    __slots__ = ("name", "type", "context", "children", "num_leaves")

    def __init__(self, name, typ, context, children: list) -> None:
        self.name = name
        self.type = typ
        self.context = context
        self.children = children
        self.num_leaves = 1 if name is None else sum(c.num_leaves for c in children)

    def is_leaf(self) -> bool:
        return self.name is None

    def __eq__(self, other) -> bool:
        if not isinstance(other, TreeSpec):
            return NotImplemented
        return (self.name == other.name and self.type == other.type
                and self.context == other.context and self.children == other.children)

    def __hash__(self):  # pragma: no cover - specs are compared, never hashed
        raise TypeError("unhashable type: 'TreeSpec'")

    def __repr__(self, indent: int = 0) -> str:
        if self.name is None:
            return "*"
        body = ""
        if self.children:
            indent += 2
            body = self.children[0].__repr__(indent)
            if len(self.children) > 1:
                body += ","
                body += ",".join("\n" + " " * indent + c.__repr__(indent)
                                 for c in self.children[1:])
        return f"TreeSpec({self.name}, {self.context}, [{body}])"


LEAF = TreeSpec(None, None, None, [])


def tree_flatten(tree: Any) -> tuple[list, TreeSpec]:
    """(leaves in order, structure)."""
    leaves: list = []

    def walk(x) -> TreeSpec:
        k = _kind(x)
        if k is None:
            leaves.append(x)
            return LEAF
        name, typ, ctx, kids = k
        return TreeSpec(name, typ, ctx, [walk(c) for c in kids])

    spec = walk(tree)
    return leaves, spec


def tree_unflatten(leaves, spec: TreeSpec) -> Any:
    """Rebuild the structure of spec with these leaves."""
    it = iter(leaves)

    def build(s: TreeSpec):
        if s.name is None:
            return next(it)
        kids = [build(c) for c in s.children]
        if s.name == "tuple" or s.name == "Size":  # (a Size comes back a tuple, as in PyTorch)
            return tuple(kids)
        if s.name == "list":
            return kids
        if s.name == "dict":
            return dict(zip(s.context, kids))
        if s.name == "namedtuple":
            return s.context(*kids)
        if s.name == "OrderedDict":
            return OrderedDict(zip(s.context, kids))
        if s.name == "defaultdict":
            return defaultdict(s.context[0], zip(s.context[1], kids))
        if s.name == "deque":
            return deque(kids, maxlen=s.context)
        return s.type(kids)  # a tapegrad.return_types structseq

    return build(spec)


def tree_map(fn, tree: Any) -> Any:
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([fn(x) for x in leaves], spec)


class _Star:
    __slots__ = ()

    def __repr__(self) -> str:
        return "*"


def treespec_pprint(spec: TreeSpec) -> str:
    """The structure drawn as the containers themselves, with * for each leaf."""
    return repr(tree_unflatten([_Star()] * spec.num_leaves, spec))

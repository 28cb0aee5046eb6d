"""One level of differentiation for the function transforms, on tapegrad's single tape.

PyTorch's torch.func gives each transform its own level of wrapped tensors. tapegrad has one
graph, so a level is emulated by which tensors count as its own:

- `lift` gives the function a new tensor object per differentiated input: a differentiable
  alias when the input already requires grad at the caller's level (so an enclosing transform,
  or ordinary autograd, still sees through this one), otherwise a fresh leaf (detach +
  requires_grad_) that belongs to this level.
- Derivatives are built with `create_graph=True` only when the function's graph reaches a
  leaf outside this level (an enclosing transform's input, a captured parameter); otherwise
  nothing outside could differentiate them.
- `lower` hands a result back to the caller: it keeps its graph only if that graph reaches
  such an outside leaf, and is detached otherwise (it is then a constant out there).

Inputs are new tensor objects, and `autograd.grad` is asked only for those objects, so a
function that also captures the same tensor is differentiated correctly (no perturbation
confusion): grad(lambda x: grad(lambda y: x * y)(x))(t) is 1.
"""

from __future__ import annotations

from ..autograd import grad as _autograd_grad
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.graph import AccumulateGrad
from ._batching_core import BatchedTensor
from ._pytree import tree_flatten, tree_unflatten

__all__ = ["Level"]


def depends_on_others(tensors, own: set) -> bool:
    """Whether the graph behind any of these tensors reaches a leaf requiring grad other than
    the leaves whose ids are in `own` (an iterative walk; each node is visited once)."""
    seen = set()
    stack = []
    for t in tensors:
        while type(t) is BatchedTensor:  # (a vjp pulled back a batch of cotangents)
            t = t._value
        if not t._requires_grad:
            continue
        if t._grad_fn is None:
            if id(t) not in own:
                return True
            continue
        stack.append(t._grad_fn)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if type(node) is AccumulateGrad:
            if id(node.variable) not in own:
                return True
            continue
        for nxt, _ in node._next:
            if nxt is not None and id(nxt) not in seen:
                stack.append(nxt)
    return False


class Level:
    """The tensors one transform call owns, and the grad mode of its caller."""

    __slots__ = ("outer", "own", "keep", "origin")

    def __init__(self) -> None:
        self.outer = is_grad_enabled()  # a transform ignores an enclosing no_grad for its
        self.own: set = set()  # own work, but its results then carry no graph out
        self.keep: list = []  # the fresh leaves, alive while their ids are in `own`
        self.origin: dict = {}  # id(lifted input) -> the caller's tensor

    def fresh(self, t):
        """A new leaf requiring grad with t's values, owned by this level."""
        leaf = t.detach().requires_grad_()
        self.own.add(id(leaf))
        self.keep.append(leaf)
        return leaf

    def lift(self, t):
        new = t.view_as(t) if self.outer and t.requires_grad else self.fresh(t)
        self.origin[id(new)] = t
        self.keep.append(new)
        return new

    def zeros(self, t):
        """A dummy cotangent u for the double-backward trick (own leaf of zeros)."""
        from .._creation import zeros_like

        u = zeros_like(t, requires_grad=True)
        self.own.add(id(u))
        self.keep.append(u)
        return u

    def reaches_outside(self, tensors) -> bool:
        """Whether derivatives of these tensors need a graph (see module docstring)."""
        return self.outer and depends_on_others(tensors, self.own)

    def lower(self, t, same_object: bool = True):
        """t for the caller; an input handed back unchanged is the caller's own tensor (as
        PyTorch unwraps it), except for forward mode (same_object=False), whose outputs
        PyTorch takes out of dual tensors: new objects."""
        from .._tensor import Tensor

        if not isinstance(t, Tensor):
            raise RuntimeError(f"Expected tensors, got unsupported type {type(t)}")
        orig = self.origin.get(id(t)) if same_object else None
        if orig is not None:
            return orig
        if t._requires_grad and self.reaches_outside((t,)):
            return t
        return t.detach()

    def lower_tree(self, tree):
        leaves, spec = tree_flatten(tree)
        return tree_unflatten([self.lower(x) for x in leaves], spec)


def grads_or_zeros(outputs, inputs, grad_outputs=None, retain_graph=None,
                   create_graph: bool = False) -> tuple:
    """autograd.grad over the outputs that have a graph; zeros for inputs nothing reaches."""
    from .._creation import zeros_like

    if grad_outputs is None:
        outs = [o for o in outputs if o.requires_grad]
        gos = None
    else:
        pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
        outs = [o for o, _ in pairs]
        gos = [g for _, g in pairs]
    if not outs:
        return tuple(zeros_like(t) for t in inputs)
    res = _autograd_grad(outs, inputs, gos, retain_graph=retain_graph,
                         create_graph=create_graph, allow_unused=True)
    return tuple(zeros_like(t) if g is None else g for g, t in zip(res, inputs))


# --- argnums ----------------------------------------------------------------------------
def _wrap_argnum(argnum, n: int) -> int:
    if not isinstance(argnum, int):
        raise RuntimeError(f"argnum must be int, got: {type(argnum)}")
    if 0 <= argnum < n:
        return argnum
    if -n <= argnum < 0:
        return argnum + n
    raise RuntimeError(f"Got argnum={argnum}, but only {n} positional inputs")


def check_argnums(argnums, n: int):
    """argnums validated and made non-negative (an int, or a tuple of unique ints)."""
    if not isinstance(argnums, (int, tuple)):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    if isinstance(argnums, int):
        return _wrap_argnum(argnums, n)
    wrapped = tuple(_wrap_argnum(a, n) for a in argnums)
    if len(wrapped) == 0:
        raise RuntimeError("argnums must be non-empty")
    if len(set(wrapped)) != len(wrapped):
        raise RuntimeError(f"argnums elements must be unique, got {wrapped}")
    return wrapped


def slice_args(args: tuple, argnums, as_tuple: bool):
    """The arguments argnums selects: args[i] for an int (or (args[i],) with as_tuple), a
    tuple of them for a tuple."""
    argnums = check_argnums(argnums, len(args))
    if isinstance(argnums, int):
        return (args[argnums],) if as_tuple else args[argnums]
    return tuple(args[i] for i in argnums)


def replace_args(args: tuple, argnums, new) -> tuple:
    """args with the selected ones replaced by new (same shape as slice_args(as_tuple=False))."""
    argnums = check_argnums(argnums, len(args))
    if isinstance(argnums, int):
        return tuple(new if i == argnums else a for i, a in enumerate(args))
    pos = {a: k for k, a in enumerate(argnums)}
    return tuple(new[pos[i]] if i in pos else a for i, a in enumerate(args))


def lift_tree(level: Level, tree):
    """Lift every leaf of a pytree of tensors (anything else is refused, as PyTorch does)."""
    from .._tensor import Tensor

    leaves, spec = tree_flatten(tree)
    out = []
    for x in leaves:
        if not isinstance(x, Tensor):
            raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
        out.append(level.lift(x))
    return tree_unflatten(out, spec), out


def check_real(api: str, tree, is_input: bool) -> None:
    from .._tensor import Tensor

    leaves, _ = tree_flatten(tree)
    for i, x in enumerate(leaves):
        if isinstance(x, Tensor) and x.is_complex():
            what = "inputs" if is_input else "outputs"
            raise RuntimeError(
                f"{api}: Expected all {what} to be real but received complex tensor at "
                f"flattened input idx: {i}"
            )


def check_outputs(flat: list, api: str) -> None:
    """f's outputs must be a non-empty pytree of tensors."""
    from .._tensor import Tensor

    if len(flat) < 1 or (len(flat) == 1 and flat[0] is None):
        raise RuntimeError(
            f"{api}: Expected f to be a function that has non-empty output (got output = "
            f"{flat})"
        )
    for o in flat:
        if not isinstance(o, Tensor):
            raise RuntimeError(
                f"{api}: expected f(*primals) to return only tensors, got unsupported type "
                f"{type(o)}"
            )

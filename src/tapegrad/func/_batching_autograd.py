"""The autograd transforms (grad, vjp, jacrev, jvp, ...) inside vmap.

tapegrad differentiates the physical values. A gradient of the batch's outputs with respect
to an input shared by all samples would be the sum over the samples, so every differentiated
input is first made batched at every active vmap level (a view repeating it): the physical
graph then keeps the samples apart, and one backward pass (with a cotangent of ones for each
sample's scalar output) gives every sample's own gradient. Physical values carry one batch dim
per active level in front, outermost first; `Batch` converts between them and the batched
tensors the function sees.
"""

from __future__ import annotations

from .._tensor import Tensor
from ._batching_core import STATE, BatchedTensor, vmap_error
from ._pytree import tree_flatten, tree_unflatten

__all__ = ["Batch"]


class Batch:
    """The vmap levels active around one transform call (none outside vmap, or with
    active=False)."""

    __slots__ = ("layers", "prefix", "n", "levels")

    def __init__(self, active: bool = True) -> None:
        ceiling = STATE.ceiling
        self.layers = [lay for lay in STATE.layers if lay.level < ceiling] if active else []
        self.prefix = tuple(lay.size for lay in self.layers)
        self.n = len(self.layers)
        self.levels = {lay.level for lay in self.layers}

    def phys(self, x):
        """x (batched at some of the levels, or plain) as a physical Tensor batched at all."""
        if not self.n:
            return x
        return _full(x, self.layers)

    def wrap(self, t):
        """A physical Tensor (batch dims in front) as the batched tensor functions see."""
        for lay in self.layers:
            t = BatchedTensor(t, lay.level)
        return t

    def lift(self, level, tree):
        """(tree of the inputs the function sees, flat list of their physical leaves): each
        leaf lifted by the transform level (see _levels.py), batched at every vmap level."""
        leaves, spec = tree_flatten(tree)
        seen, phys = [], []
        for x in leaves:
            if not isinstance(x, Tensor):
                raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
            p = level.lift(self.phys(x))
            phys.append(p)
            seen.append(self.wrap(p))
        return tree_unflatten(seen, spec), phys

    def lower(self, level, t, same_object: bool = True):
        if not self.n:
            return level.lower(t, same_object)
        if not isinstance(t, Tensor):
            raise RuntimeError(f"Expected tensors, got unsupported type {type(t)}")
        return self.wrap(level.lower(self.phys(t), same_object))

    def lower_phys(self, level, p, same_object: bool = True):
        """A physical result handed back to the caller (see Level.lower), batched again."""
        return self.wrap(level.lower(p, same_object))

    def lower_tree(self, level, tree):
        leaves, spec = tree_flatten(tree)
        return tree_unflatten([self.lower(level, x) for x in leaves], spec)

    def onehot(self, like, k: int):
        """The k-th basis tensor of a physical value's logical part, repeated over the batch."""
        shape = tuple(like.shape)[self.n:]
        e = like.new_zeros(_numel(shape))
        e[k] = 1
        e = e.view(shape)
        if self.n:
            e = e.expand(self.prefix + shape)
        return e

    def numel(self, t) -> int:
        """The logical element count of a physical value."""
        return _numel(tuple(t.shape)[self.n:])

    def newer(self, tree):
        """The newest vmap level in tree that this transform call does not batch (a vmap
        applied to the function the transform returned), or None."""
        best = None
        for x in tree_flatten(tree)[0]:
            while type(x) is BatchedTensor:
                if x._level not in self.levels and (best is None or x._level > best):
                    best = x._level
                x = x._value
        return best


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _full(x, layers):
    if not layers:
        if type(x) is BatchedTensor:
            raise RuntimeError(
                "vmap: a batched tensor of a level that is not active reached a transform"
            )
        return x
    top = layers[-1]
    if type(x) is BatchedTensor and x._level == top.level:
        return _full(x._value, layers[:-1])
    t = _full(x, layers[:-1])
    k = len(layers) - 1
    shape = tuple(t.shape)
    return t.unsqueeze(k).expand(shape[:k] + (top.size,) + shape[k:])


def loop_over(level: int, fn, tree):
    """fn(tree) for a tree holding tensors batched at a level the transform cannot batch:
    one call per sample (fn's results stacked). No warning: PyTorch batches these calls (a
    vjp_fn or jvp_fn made inside one vmap, applied under another), so its users see none."""
    from .. import stack

    size = STATE.size(level)
    leaves, spec = tree_flatten(tree)
    results = []
    for i in range(size):
        sl = [_select_level(x, level, i) for x in leaves]
        results.append(fn(tree_unflatten(sl, spec)))
    flat = [tree_flatten(r) for r in results]
    out_spec = flat[0][1]
    cols = [stack([f[0][j] for f in flat], 0) for j in range(len(flat[0][0]))]
    return tree_unflatten([BatchedTensor(c, level) for c in cols], out_spec)


def _select_level(x, level: int, i: int):
    if type(x) is not BatchedTensor:
        return x
    if x._level == level:
        return x._value.select(0, i)
    if x._level < level:
        return x
    return BatchedTensor(_select_level(x._value, level, i), x._level)


# how often each node kind ran per sample in a batched backward pass (for tests and profiling)
PER_SAMPLE: dict[str, int] = {}


def per_sample_vjp(node, grads, level: int) -> tuple:
    """node.vjp run once per sample of vmap level `level` (for a rule that cannot take batched
    cotangents), its results stacked into BatchedTensors of that level."""
    from .. import stack

    name = node.name()
    PER_SAMPLE[name] = PER_SAMPLE.get(name, 0) + 1

    n = STATE.size(level)
    per = []
    for i in range(n):
        outs = node.vjp(*[_select_level(g, level, i) for g in grads])
        per.append(outs if type(outs) is tuple else (outs,))
    if not per:
        raise vmap_error("vmap: a backward pass over an empty batch of cotangents")
    return tuple(
        None if per[0][j] is None else BatchedTensor(stack([p[j] for p in per], 0), level)
        for j in range(len(per[0]))
    )


# --- autograd.grad(..., is_grads_batched=True) ------------------------------------------------
def batched_make_grads(outputs, grads) -> list:
    """Check grad_outputs whose dim 0 is a batch of cotangents, in PyTorch's order and with its
    messages: each given grad is first indexed at 0 (so a 0-d or empty one is an IndexError),
    and a shape mismatch reports the shape of that first sample without its dim 0."""
    from .. import _dtype as D

    result = []
    from ..autograd import _make_grads

    for i, (out, g) in enumerate(zip(outputs, grads)):
        if g is None:  # made as for a plain pass (ones for a scalar output: no batch dim)
            result.extend(_make_grads([out], [None]))
            continue
        if not isinstance(g, Tensor):
            raise TypeError(
                "gradients can be either Tensors or None, but got " + type(g).__name__
            )
        if g.dim() == 0:
            raise IndexError(
                "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number"
            )
        if g.shape[0] == 0:
            raise IndexError("index 0 is out of bounds for dimension 0 with size 0")
        if tuple(g.shape[1:]) != tuple(out.shape):
            raise RuntimeError(
                "If `is_grads_batched=True`, we interpret the first dimension of each "
                "grad_output as the batch dimension. The sizes of the remaining dimensions are "
                f"expected to match the shape of corresponding output, but a mismatch was "
                f"detected: grad_output[{i}] has a shape of {_size(g.shape[2:])} and output[{i}] "
                f"has a shape of {_size(out.shape)}. If you only want some tensors in "
                "`grad_output` to be considered batched, consider using vmap."
            )
        if (out.dtype.category == D.COMPLEX) != (g.dtype.category == D.COMPLEX):
            raise RuntimeError(
                "For complex Tensors, both grad_output and output are required to have the same "
                f"dtype. Mismatch in dtype: grad_output[{i}] has a dtype of {g.dtype!r} and "
                f"output[{i}] has a dtype of {out.dtype!r}."
            )
        result.append(g if g.dtype is out.dtype else g.to(out.dtype))
    return result


def check_batch(grads) -> None:
    """The checks PyTorch's vmap over the backward pass makes of the batch, before the pass
    (and so before the engine's checks of the roots): every grad (also one made for a scalar
    output, which has no batch dim) must be a tensor with a dim 0, of one common size."""
    pre = "vmap(vjp, in_dims=0, ...)(<inputs>): "
    for g in grads:
        if g is None:  # (an output that does not require grad, given no grad)
            raise ValueError(
                pre + "Got in_dim=0 for an input but the input is of type <class 'NoneType'>. "
                "We cannot vmap over non-Tensor arguments, please use None as the respective "
                "in_dim"
            )
        if g.dim() == 0:
            raise ValueError(
                pre + "Got in_dim=0 for some input, but that input is a Tensor of "
                "dimensionality 0 so expected in_dim to satisfy 0 <= in_dim < 0."
            )
    sizes = [g.shape[0] for g in grads]
    if not sizes:
        raise IndexError("list index out of range")
    if any(s != sizes[0] for s in sizes):
        raise ValueError(
            "vmap: Expected all tensors to have the same size in the mapped dimension, got "
            f"sizes {sizes} for the mapped dimension"
        )


def _size(shape) -> str:
    return "tapegrad.Size([" + ", ".join(str(s) for s in shape) + "])"


def run_batched(run_backward, outputs, grads, retain_graph, create_graph, inputs,
                accumulate: bool = False) -> list:
    """One backward pass for a batch of cotangents (dim 0 of each grad, all checked by
    check_batch), as PyTorch does it: the pass runs under vmap, so each rule runs once on the
    whole batch (see engine.batched_vjp); the gradients come back with the batch dim in
    front."""
    from .vmap import vmap

    present: list = []  # which inputs got a gradient (the same for every sample)

    def one(*gs):
        res = run_backward(outputs, list(gs), retain_graph, create_graph, inputs=inputs,
                           accumulate=accumulate)
        present[:] = [r is not None for r in res]
        got = tuple(r for r in res if r is not None)
        return got if got else (gs[0],)  # (vmap needs an output; dropped below)

    out = iter(vmap(one)(*grads))
    return [next(out) if p else None for p in present]

"""torch.func's reverse and forward transforms: grad, grad_and_value, vjp, jvp, linearize.

They take functions of tensors that need not require grad, and compose: grad(grad(f)) is the
second derivative. See `_levels.py` for how a level is kept apart on tapegrad's single tape.
Forward mode (jvp, linearize) uses the double-backward trick until tapegrad has forward-mode
AD: for a dummy cotangent u, g(u) = J^T u is linear in u, and d/du <g(u), t> = J t.
Inside vmap they work on physical values batched at every vmap level (_batching_autograd.py),
so vmap(grad(f)) gives each sample its own gradient.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .._tensor import Tensor
from ..autograd import grad as _autograd_grad
from ..autograd.grad_mode import enable_grad, is_grad_enabled
from ._batching_autograd import Batch, loop_over
from ._batching_core import STATE
from ._levels import (
    Level,
    check_argnums,
    check_outputs,
    depends_on_others,
    grads_or_zeros,
    replace_args,
    slice_args,
)
from ._pytree import tree_flatten, tree_unflatten, treespec_pprint

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "linearize"]

JVP_STR = "jvp(f, primals, tangents)"


def _split_aux(out, api: str):
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(
            f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True"
        )
    return out


def _call(func: Callable, *args, **kwargs):
    """func(*args) as a transform calls it: inside vmap through its dispatcher (_current),
    and counted as a transform call (an autograd.Function then needs setup_context, as in
    PyTorch)."""
    from ..autograd.function import TRANSFORMS

    TRANSFORMS.depth += 1
    try:
        return _current(func)(*args, **kwargs)
    finally:
        TRANSFORMS.depth -= 1


def _current(func: Callable) -> Callable:
    """func as it must be called now: inside vmap, a public op or Function.apply fetched
    before vmap ran (grad(tapegrad.sum), jacrev(tapegrad.sin)) is called through its
    dispatcher."""
    if not STATE.layers:
        return func
    from ._batching_install import resolve

    return resolve(func)


# --- grad ---------------------------------------------------------------------------------
def _grad_and_value(func: Callable, argnums, has_aux: bool, args: tuple, kwargs: dict):
    api = "grad_and_value(f)(*args)"
    level = Level()
    batch = Batch()  # the active vmap levels (see _batching_autograd.py)
    with enable_grad():
        diff = slice_args(args, argnums, as_tuple=False)
        lifted, flat_diff = batch.lift(level, diff)
        _, spec = tree_flatten(lifted)
        args = replace_args(args, argnums, lifted)
        output = _call(func, *args, **kwargs)
        aux = None
        if has_aux:
            output, aux = _split_aux(output, api)
        if not isinstance(output, Tensor):
            raise RuntimeError(f"{api}: Expected f(*args) to return a Tensor, got {type(output)}")
        if output.dim() != 0:
            raise RuntimeError(
                f"{api}: Expected f(*args) to return a scalar Tensor, got tensor with "
                f"{output.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?"
            )
        out = batch.phys(output)
        create = level.reaches_outside((out,))
        ones = [out.new_ones(out.shape)] if batch.n else None  # one scalar per sample
        grads = grads_or_zeros((out,), flat_diff, ones, create_graph=create)
        grads = tree_unflatten([batch.wrap(level.lower(g)) for g in grads], spec)
        value = batch.wrap(level.lower(out))
        if has_aux:
            return grads, (value, batch.lower_tree(level, aux))
        return grads, value


def grad_and_value(func: Callable, argnums=0, has_aux: bool = False) -> Callable:
    """A function returning (gradient of func with respect to args[argnums], func's value).

    >>> import tapegrad
    >>> from tapegrad.func import grad_and_value
    >>> grad_and_value(lambda x: (x ** 2).sum())(tapegrad.tensor([1., 2.]))
    (tensor([2., 4.]), tensor(5.))
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return _grad_and_value(func, argnums, has_aux, args, kwargs)

    return wrapper


def grad(func: Callable, argnums=0, has_aux: bool = False) -> Callable:
    """A function returning the gradient of the scalar func with respect to args[argnums]
    (a tuple of gradients for a tuple of argnums; with has_aux, (gradient, aux)).

    >>> import tapegrad
    >>> from tapegrad.func import grad
    >>> grad(grad(lambda x: x ** 3))(tapegrad.tensor(2.))
    tensor(12.)
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        g, value = _grad_and_value(func, argnums, has_aux, args, kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


# --- vjp ----------------------------------------------------------------------------------
class _Pullback:
    """One recorded call of func at a level: pulls cotangents of its outputs back to the
    differentiated inputs."""

    __slots__ = ("level", "outs", "inputs", "outside", "batch")

    def __init__(self, level: Level, outs: list, inputs: list) -> None:
        self.level = level
        self.outs = outs
        self.inputs = inputs
        self.outside = level.reaches_outside(outs)
        self.batch = None

    def pull(self, cots: list, retain_graph: bool, create_graph: bool) -> list:
        create = create_graph and (self.outside or any(
            isinstance(c, Tensor) and c.requires_grad for c in cots))
        res = grads_or_zeros(self.outs, self.inputs, cots, retain_graph=retain_graph,
                             create_graph=create)
        own = self.level.own
        return [g if create and depends_on_others((g,), own) else g.detach() for g in res]


def _vjp(func: Callable, primals: tuple, argnums, has_aux: bool):
    """vjp, optionally differentiating only args[argnums] (what jacrev needs). Returns
    (output, vjp_fn, aux, pullback); the pullback works on physical values (its `batch`)."""
    level = Level()
    batch = Batch()
    with enable_grad():
        if argnums is None:
            lifted, flat_diff = batch.lift(level, primals)
            args = lifted
        else:
            diff = slice_args(primals, argnums, as_tuple=False)
            lifted, flat_diff = batch.lift(level, diff)
            args = replace_args(primals, argnums, lifted)
        _, diff_spec = tree_flatten(lifted)
        out = _call(func, *args)
        aux = None
        if has_aux:
            out, aux = _split_aux(out, "vjp(f, *primals)")
            aux = batch.lower_tree(level, aux)
        flat_out, out_spec = tree_flatten(out)
        check_outputs(flat_out, "vjp(f, *primals)")
        for o in flat_out:
            if not (o.is_floating_point() or o.is_complex()):
                raise RuntimeError(
                    "vjp(f, ...): All outputs of f must be floating-point or complex Tensors, "
                    f"got Tensor with dtype {o.dtype}"
                )
        flat_out = [batch.phys(o) for o in flat_out]
        results = tree_unflatten([batch.lower_phys(level, o) for o in flat_out], out_spec)
    pullback = _Pullback(level, flat_out, flat_diff)
    pullback.batch = batch

    def vjp_fn(cotangents, retain_graph: bool = True, create_graph: bool | None = None):
        if create_graph is None:
            create_graph = is_grad_enabled()
        flat_cot, cot_spec = tree_flatten(cotangents)
        if cot_spec != out_spec:
            raise RuntimeError(
                "Expected pytree structure of cotangents to be the same as pytree structure of "
                f"outputs to the function. cotangents: {treespec_pprint(cot_spec)}, primal "
                f"output: {treespec_pprint(out_spec)}"
            )
        newer = batch.newer(flat_cot)
        if newer is not None and batch.n:
            # vmap(vjp_fn) for a vjp_fn made inside another vmap: one pass per sample
            return loop_over(newer, lambda c: vjp_fn(c, retain_graph, create_graph), cotangents)
        # (vmap(vjp_fn) for a vjp_fn made outside vmap: one backward pass on the batched
        # cotangents, see engine.batched_vjp)
        flat_cot = [batch.phys(c) if isinstance(c, Tensor) else c for c in flat_cot]
        res = pullback.pull(flat_cot, retain_graph, create_graph)
        return tree_unflatten([batch.wrap(g) for g in res], diff_spec)

    return results, vjp_fn, aux, pullback


def vjp(func: Callable, *primals: Any, has_aux: bool = False):
    """(func(*primals), vjp_fn): vjp_fn(cotangents) is the vector-Jacobian product, one
    gradient per primal (a tuple). With has_aux, func returns (output, aux) and vjp returns
    (output, vjp_fn, aux).

    >>> import tapegrad
    >>> from tapegrad.func import vjp
    >>> out, fn = vjp(lambda x: x ** 2, tapegrad.tensor([1., 2.]))
    >>> fn(tapegrad.ones(2))
    (tensor([2., 4.]),)
    """
    out, vjp_fn, aux, _ = _vjp(func, primals, None, has_aux)
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


# --- forward mode by the double-backward trick ----------------------------------------------
def _check_dual(p: Tensor, t: Tensor) -> None:
    """The checks PyTorch makes when it pairs a primal with its tangent."""
    if not (p.is_floating_point() or p.is_complex()):
        raise ValueError(f"Expected primal to be floating point or complex, but got: {p.dtype}")
    if not (t.is_floating_point() or t.is_complex()):
        raise ValueError(f"Expected tangent to be floating point or complex, but got: {t.dtype}")
    if tuple(p.shape) != tuple(t.shape):
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the "
            "original Tensor, this is not supported. Tensor is of size "
            f"[{', '.join(map(str, p.shape))}] while the given forward gradient is of size "
            f"[{', '.join(map(str, t.shape))}]."
        )


class _Linearized:
    """The graph of g(u) = sum_k J_k^T u_k for the tensor outputs of one call: `push(t)`
    gives J t for tangents t of the differentiated inputs (None where an output is
    independent of them)."""

    __slots__ = ("level", "inputs", "outs", "dummies", "g", "outside")

    def __init__(self, level: Level, inputs: list, outs: list) -> None:
        self.level = level
        self.inputs = inputs
        self.outs = outs
        self.outside = level.reaches_outside([o for o in outs if isinstance(o, Tensor)])
        diff = [o for o in outs if isinstance(o, Tensor) and o.requires_grad]
        self.dummies = [level.zeros(o) for o in diff]
        if diff:
            self.g = _autograd_grad(diff, inputs, self.dummies, create_graph=True,
                                    allow_unused=True)
        else:
            self.g = (None,) * len(inputs)

    def push(self, tangents: list, batched: bool = False) -> list:
        """J t for tangents t (None: a zero tangent), one entry per output (None: zero).
        With batched, dim 0 of each tangent is a batch of them, pushed in one pass."""
        level = self.level
        pairs = [(g, t) for g, t in zip(self.g, tangents)
                 if t is not None and g is not None and g.requires_grad]
        found: dict = {}
        if pairs and self.dummies:
            create = level.outer and is_grad_enabled() and (
                self.outside or any(t.requires_grad for _, t in pairs))
            res = _autograd_grad([g for g, _ in pairs], self.dummies, [t for _, t in pairs],
                                 retain_graph=True, create_graph=create,
                                 allow_unused=True, is_grads_batched=batched)
            found = {id(u): r for u, r in zip(self.dummies, res)}
        out = []
        it = iter(self.dummies)
        for o in self.outs:
            if isinstance(o, Tensor) and o.requires_grad:
                r = found.get(id(next(it)))
                out.append(None if r is None else level.lower(r))
            else:
                out.append(None)
        return out


def _jvp(func: Callable, primals, tangents, argnums, strict: bool, has_aux: bool):
    from .._creation import zeros_like

    if not isinstance(primals, tuple):
        raise RuntimeError(
            f"{JVP_STR}: Expected primals to be a tuple. E.g. it should be valid to call "
            "f(*primals)."
        )
    diff = primals if argnums is None else slice_args(primals, argnums, as_tuple=True)
    flat_p, p_spec = tree_flatten(diff)
    flat_t, t_spec = tree_flatten(tangents)
    if p_spec != t_spec:
        raise RuntimeError(
            f"{JVP_STR}: Expected primals and tangents to have the same python structure. For "
            "example, if primals is a tuple of 3 tensors, tangents also must be. Got primals "
            f"with structure {p_spec!r} and tangents with structure {t_spec!r}"
        )
    for flat, name in ((flat_p, "primals"), (flat_t, "tangents")):
        if not flat:
            raise RuntimeError(f"{JVP_STR}: Expected {name} to contain at least one Tensor.")
        for x in flat:
            if not isinstance(x, Tensor):
                raise RuntimeError(
                    f"{JVP_STR}: Expected {name} to only contain Tensors, got {type(x)}"
                )
    from ..autograd import forward_ad

    if forward_ad._level is None:  # forward mode proper (a dual level of its own)
        for p, t in zip(flat_p, flat_t):
            _check_dual(p, t)
        with forward_ad.dual_level():
            return _jvp_dual(func, primals, flat_p, flat_t, p_spec, argnums, strict, has_aux)
    level = Level()
    batch = Batch()
    with enable_grad():
        lifted, phys_p = [], []
        for p, t in zip(flat_p, flat_t):
            _check_dual(p, t)
            q = level.lift(batch.phys(p))
            phys_p.append(q)
            lifted.append(batch.wrap(q))
        flat_out, out_spec, aux = _run_on_duals(func, primals, tree_unflatten(lifted, p_spec),
                                                argnums, has_aux, level, batch)
        lin = _Linearized(level, phys_p, flat_out)
        pushed = lin.push([batch.phys(t) for t in flat_t])
        tangents_out = []
        for o, r in zip(flat_out, pushed):
            if r is None:
                if strict:
                    raise RuntimeError(
                        "jvp(f, primals, tangents, strict=True): The output of f is independent "
                        "of the inputs. This is not allowed with strict=True."
                    )
                r = zeros_like(o)
            tangents_out.append(batch.wrap(r))
        primals_out = tree_unflatten([batch.lower_phys(level, o, False) for o in flat_out],
                                     out_spec)
        tangents_out = tree_unflatten(tangents_out, out_spec)
    if has_aux:
        return primals_out, tangents_out, aux
    return primals_out, tangents_out


def _run_on_duals(func, primals, duals, argnums, has_aux: bool, level, batch):
    """func on the primals with the differentiated ones replaced by `duals`: (its flat
    outputs as physical values, their spec, aux as the caller sees it)."""
    if argnums is None:
        args = duals
    else:
        wrapped = check_argnums(argnums, len(primals))
        args = replace_args(primals, argnums, duals[0] if isinstance(wrapped, int) else duals)
    out = _call(func, *args)
    aux = None
    if has_aux:
        out, aux = _split_aux(out, JVP_STR)
        aux = batch.lower_tree(level, aux)
    flat_out, out_spec = tree_flatten(out)
    check_outputs(flat_out, JVP_STR)
    return [batch.phys(o) for o in flat_out], out_spec, aux


def _jvp_dual(func, primals, flat_p, flat_t, p_spec, argnums, strict: bool, has_aux: bool):
    """jvp by forward-mode AD: the primals made dual with the tangents (so custom Function
    `jvp` rules and in-place code work as in PyTorch). Inside a dual level already (jvp of
    jvp) the caller uses the double-backward trick instead."""
    from .._creation import zeros_like
    from ..autograd import forward_ad

    level = Level()
    batch = Batch()
    with enable_grad():
        lifted = []
        for p, t in zip(flat_p, flat_t):
            q = level.lift(batch.phys(p))
            lifted.append(batch.wrap(forward_ad.make_dual(q, batch.phys(t))))
        flat_out, out_spec, aux = _run_on_duals(func, primals, tree_unflatten(lifted, p_spec),
                                                argnums, has_aux, level, batch)
        tangents_out = []
        primals_out = []
        for o in flat_out:
            primal, r = forward_ad.unpack_dual(o)
            if r is None:
                if strict:
                    raise RuntimeError(
                        "jvp(f, primals, tangents, strict=True): The output of f is independent "
                        "of the inputs. This is not allowed with strict=True."
                    )
                r = zeros_like(o)
            tangents_out.append(batch.wrap(level.lower(r, False)))
            primals_out.append(batch.lower_phys(level, primal, False))
    primals_out = tree_unflatten(primals_out, out_spec)
    tangents_out = tree_unflatten(tangents_out, out_spec)
    if has_aux:
        return primals_out, tangents_out, aux
    return primals_out, tangents_out


def jvp(func: Callable, primals: Any, tangents: Any, *, strict: bool = False,
        has_aux: bool = False):
    """(func(*primals), J tangents): the Jacobian-vector product (computed, until tapegrad has
    forward-mode AD, by the double-backward trick).

    >>> import tapegrad
    >>> from tapegrad.func import jvp
    >>> jvp(lambda x: x ** 2, (tapegrad.tensor([1., 2.]),), (tapegrad.ones(2),))
    (tensor([1., 4.]), tensor([2., 4.]))
    """
    return _jvp(func, primals, tangents, None, strict, has_aux)


# --- linearize ----------------------------------------------------------------------------
def linearize(func: Callable, *primals: Any):
    """(func(*primals), jvp_fn): jvp_fn(*tangents) is J tangents at primals, reusing one
    recorded graph for every call.

    >>> import tapegrad
    >>> from tapegrad.func import linearize
    >>> out, jvp_fn = linearize(lambda x: x.sin(), tapegrad.zeros(2))
    >>> jvp_fn(tapegrad.ones(2))
    tensor([1., 1.])
    """
    from .._creation import zeros_like

    output = func(*primals)
    _, out_spec = tree_flatten(output)
    flat_p, p_spec = tree_flatten(primals)
    for p in flat_p:
        if not isinstance(p, Tensor):
            raise AttributeError(f"'{type(p).__name__}' object has no attribute 'new_empty'")
    for p in flat_p:
        _check_dual(p, p)
    level = Level()
    batch = Batch()
    with enable_grad():
        lifted = [level.lift(batch.phys(p)) for p in flat_p]
        traced = func(*tree_unflatten([batch.wrap(q) for q in lifted], p_spec))
        flat_out, _ = tree_flatten(traced)
        flat_out = [batch.phys(o) if isinstance(o, Tensor) else o for o in flat_out]
        lin = _Linearized(level, lifted, flat_out)
    meta = [(p.shape, p.device, p.dtype) for p in flat_p]

    def jvp_fn(*tangents):
        flat_t, t_spec = tree_flatten(tangents)
        if t_spec != p_spec:
            raise RuntimeError(
                f"Expected the tangents {t_spec!r} to have the same argspec as the primals "
                f"{p_spec!r}"
            )
        for i, (t, (shape, device, dtype)) in enumerate(zip(flat_t, meta)):
            for what, have, want in (("shape", t.shape, shape), ("device", t.device, device),
                                     ("dtype", t.dtype, dtype)):
                if have != want:
                    raise RuntimeError(
                        f"tangent:{i} with {what} {have} in flattened pytree doesn't match the "
                        f"{what} {want} of the corresponding primal."
                    )
        newer = batch.newer(flat_t)
        if newer is not None:  # vmap(jvp_fn): one product per sample
            return loop_over(newer, lambda ts: jvp_fn(*ts), tangents)
        pushed = lin.push([batch.phys(t) for t in flat_t])
        res = []
        for o, r in zip(flat_out, pushed):
            if not isinstance(o, Tensor):
                res.append(o)
            else:
                res.append(batch.wrap(zeros_like(o) if r is None else r))
        return tree_unflatten(res, out_spec)

    return output, jvp_fn

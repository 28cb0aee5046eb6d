"""vmap: the vectorizing map of torch.func.

vmap(f)(x) computes f on every slice of x along in_dims and stacks the results along out_dims,
by running f once on BatchedTensors (see `_batching_core`): each op with a batching rule runs
once on the whole batch; others loop over the samples (with PyTorch's performance warning).
in_dims and out_dims are ints, None, or pytrees of them matching the inputs and outputs;
chunk_size splits the batch into pieces; randomness ('error', 'different', 'same') says what
random ops do inside. Nested vmap calls make nested levels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .._tensor import Tensor
from ._batching_core import BatchedTensor
from ._batching_install import enter, leave, resolve
from ._pytree import _kind, tree_flatten, tree_unflatten

__all__ = ["vmap"]

_RANDOMNESS = ("error", "different", "same")


def _get_name(func) -> str:
    if hasattr(func, "__name__"):
        return func.__name__
    if isinstance(func, functools.partial):
        return f"functools.partial({_get_name(func.func)}, ...)"
    return repr(func)


def _check_randomness(randomness: str) -> None:
    if randomness not in _RANDOMNESS:
        raise RuntimeError(
            "Only allowed values for randomness are 'error', 'different', or 'same'. "
            f"Got {randomness}"
        )


def broadcast_prefix(prefix, spec) -> list | None:
    """The leaves of `prefix` repeated over the leaves of `spec` it covers (prefix is a tree
    whose leaves stand for whole subtrees of spec); None when the structures disagree."""
    k = _kind(prefix)
    if k is None:
        return [prefix] * spec.num_leaves
    if spec.is_leaf():
        return None
    name, typ, ctx, kids = k
    if name != spec.name or typ != spec.type or len(kids) != len(spec.children):
        return None
    if name in ("dict", "OrderedDict", "defaultdict") and ctx != spec.context:
        return None
    out: list = []
    for kid, child in zip(kids, spec.children):
        r = broadcast_prefix(kid, child)
        if r is None:
            return None
        out.extend(r)
    return out


def _check_out_dims(out_dims, func) -> None:
    def bad():
        return ValueError(
            f"vmap({_get_name(func)}, ..., out_dims={out_dims}): `out_dims` must be an int, "
            "None or a python collection of ints representing where in the outputs the "
            "vmapped dimension should appear."
        )

    if isinstance(out_dims, int):
        return
    leaves, _ = tree_flatten(out_dims)
    for x in leaves:
        if not (x is None or isinstance(x, int)):
            raise bad()


def _process_inputs(in_dims, args: tuple, func):
    if not isinstance(in_dims, (int, tuple)):
        raise ValueError(
            f"vmap({_get_name(func)}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` "
            "to be int or a (potentially nested) tuple matching the structure of inputs, got: "
            f"{type(in_dims)}."
        )
    if len(args) == 0:
        raise ValueError(
            f"vmap({_get_name(func)})(<inputs>): got no inputs. Maybe you forgot to add inputs, "
            "or you are trying to vmap over a function with no inputs. The latter is "
            "unsupported."
        )
    flat_args, spec = tree_flatten(args)
    flat_dims = broadcast_prefix(in_dims, spec)
    if flat_dims is None:
        raise ValueError(
            f"vmap({_get_name(func)}, in_dims={in_dims}, ...)(<inputs>): in_dims is not "
            "compatible with the structure of `inputs`. in_dims has structure "
            f"{tree_flatten(in_dims)[1]} but inputs has structure {spec}."
        )
    for i, (arg, d) in enumerate(zip(flat_args, flat_dims)):
        if not isinstance(d, int) and d is not None:
            raise ValueError(
                f"vmap({_get_name(func)}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} "
                "for an input but in_dim must be either an integer dimension or None."
            )
        if isinstance(d, int) and not isinstance(arg, Tensor):
            raise ValueError(
                f"vmap({_get_name(func)}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} "
                f"for an input but the input is of type {type(arg)}. We cannot vmap over "
                "non-Tensor arguments, please use None as the respective in_dim"
            )
        if d is not None and (d < -arg.dim() or d >= arg.dim()):
            raise ValueError(
                f"vmap({_get_name(func)}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} "
                f"for some input, but that input is a Tensor of dimensionality {arg.dim()} so "
                f"expected in_dim to satisfy -{arg.dim()} <= in_dim < {arg.dim()}."
            )
        if d is not None and d < 0:
            flat_dims[i] = d % arg.dim()
    return _batch_size(flat_dims, flat_args), flat_dims, flat_args, spec


def _fast_inputs(in_dims, args: tuple):
    """(size, dims, args) without the pytree machinery when in_dims is an int or a tuple of
    ints and Nones, one per argument, and every mapped argument is a tensor given directly
    (the common case); None when anything is otherwise (the general path then decides, and
    raises the errors)."""
    n = len(args)
    if type(in_dims) is int:
        dims = [in_dims] * n
    elif type(in_dims) is tuple and len(in_dims) == n:
        dims = list(in_dims)
    else:
        return None
    size = -1
    new = list(args)
    for i, (a, d) in enumerate(zip(args, dims)):
        if d is None:
            if _kind(a) is not None:  # a container passes as a copy, as the general path's
                new[i] = _copy_tree(a)
            continue
        if type(d) is not int or not isinstance(a, Tensor):
            return None
        nd = a.dim()
        if d < 0:
            if d < -nd:
                return None
            dims[i] = d = d + nd
        elif d >= nd:
            return None
        s = a.shape[d]
        if size < 0:
            size = s
        elif s != size:
            return None
    if size < 0:
        return None
    return size, dims, new


def _is_leaf(x) -> bool:
    t = type(x)
    return t is Tensor or t is BatchedTensor or _kind(x) is None


def _copy_tree(tree):
    """The pytree rebuilt with the same leaves (a dict or list of leaves: a shallow copy)."""
    t = type(tree)
    if (t is dict and all(_is_leaf(v) for v in tree.values())) or (
            t is list and all(_is_leaf(v) for v in tree)):
        return t(tree)
    leaves, spec = tree_flatten(tree)
    return tree_unflatten(leaves, spec)


def _batch_size(flat_dims, flat_args) -> int:
    sizes = [a.size(d) for d, a in zip(flat_dims, flat_args) if d is not None]
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(s != sizes[0] for s in sizes):
        raise ValueError(
            "vmap: Expected all tensors to have the same size in the mapped dimension, got "
            f"sizes {sizes} for the mapped dimension"
        )
    return sizes[0]


def _unwrap_one(func, out, level: int, size: int, out_dim):
    if type(out) is BatchedTensor and out._level == level and out_dim is not None:
        v = out._value
        return v if out_dim == 0 else v.movedim(0, out_dim)
    if out_dim is None:
        if type(out) is BatchedTensor:
            name = _get_name(func)
            raise ValueError(
                f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim is None"
            )
        return out
    if not isinstance(out, Tensor):
        name = _get_name(func)
        raise ValueError(
            f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(out)}. "
            "Did you mean to set out_dims= to None for output?"
        )
    # not batched at this level: every sample is the same tensor
    u = out.unsqueeze(out_dim)
    shape = list(u.shape)
    shape[out_dim if out_dim >= 0 else out_dim + len(shape)] = size
    return u.expand(shape)


def _unwrap_outputs(outputs, out_dims, level: int, size: int, func):
    t = type(outputs)
    if type(out_dims) is int:  # the common cases without the pytree machinery
        if t is BatchedTensor or t is Tensor:
            return _unwrap_one(func, outputs, level, size, out_dims)
        if t is dict or t is tuple or t is list:
            vals = outputs.values() if t is dict else outputs
            if all(type(v) is BatchedTensor or type(v) is Tensor for v in vals):
                if t is dict:
                    return {k: _unwrap_one(func, v, level, size, out_dims)
                            for k, v in outputs.items()}
                res = [_unwrap_one(func, v, level, size, out_dims) for v in outputs]
                return res if t is list else tuple(res)
    flat, spec = tree_flatten(outputs)

    def incompatible():
        return ValueError(
            f"vmap({_get_name(func)}, ..., out_dims={out_dims})(<inputs>): out_dims is not "
            "compatible with the structure of `outputs`. out_dims has structure "
            f"{tree_flatten(out_dims)[1]} but outputs has structure {spec}."
        )

    if isinstance(outputs, Tensor):
        if isinstance(out_dims, int) or out_dims is None:
            flat_dims = [out_dims]
        elif isinstance(out_dims, tuple) and len(out_dims) == 1:
            flat_dims = list(out_dims)
        else:
            raise incompatible()
    else:
        flat_dims = broadcast_prefix(out_dims, spec)
        if flat_dims is None:
            raise incompatible()
    res = [_unwrap_one(func, o, level, size, d) for o, d in zip(flat, flat_dims)]
    return tree_unflatten(res, spec)


def _flat_vmap(func, size: int, flat_dims, flat_args, spec, out_dims, randomness, kwargs,
               cache=None):
    """Run func once on the arguments batched at a new level (spec None: flat_args are the
    arguments themselves). cache: a list keeping func's resolved callable between calls."""
    level = enter(size, randomness)
    try:
        if cache:
            call = cache[0]
        else:
            call = resolve(func)  # the dispatchers exist from the first enter on
            if cache is not None:
                cache.append(call)
        batched = [a if d is None else BatchedTensor(a if d == 0 else a.movedim(d, 0), level)
                   for a, d in zip(flat_args, flat_dims)]
        outputs = call(*(batched if spec is None else tree_unflatten(batched, spec)), **kwargs)
        return _unwrap_outputs(outputs, out_dims, level, size, func)
    finally:
        leave()


def _chunked_vmap(func, flat_dims, flat_args, spec, size, chunk_size, out_dims, randomness,
                  kwargs):
    from .. import cat, get_rng_state, set_rng_state

    bounds = list(range(chunk_size, size, chunk_size))
    pieces = [a.tensor_split(bounds, dim=d) if d is not None else [a] * (len(bounds) + 1)
              for a, d in zip(flat_args, flat_dims)]
    state = get_rng_state() if randomness == "same" else None
    results = []
    for chunk in zip(*pieces):
        n = _batch_size(flat_dims, chunk)
        if n == 0:
            continue
        if state is not None:
            set_rng_state(state)
        results.append(_flat_vmap(func, n, flat_dims, list(chunk), spec, out_dims, randomness,
                                  kwargs))
    flat_results = [tree_flatten(r)[0] for r in results]
    _, out_spec = tree_flatten(results[0])
    flat_out_dims = broadcast_prefix(out_dims, out_spec)
    joined = []
    for k, d in enumerate(flat_out_dims):
        parts = [r[k] for r in flat_results]
        joined.append(parts[0] if d is None else cat(parts, dim=d))
    return tree_unflatten(joined, out_spec)


def vmap(func: Callable, in_dims=0, out_dims=0, randomness: str = "error", *,
         chunk_size: int | None = None) -> Callable:
    """A function that maps func over dimension in_dims of its inputs, computing all samples at
    once, and returns the results stacked along out_dims.

    >>> import tapegrad
    >>> from tapegrad.func import vmap
    >>> vmap(tapegrad.dot)(tapegrad.ones(2, 3), tapegrad.ones(2, 3))
    tensor([3., 3.])
    """
    _check_randomness(randomness)
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    resolved: list = []  # func's resolved callable (the dispatchers are made once)

    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any):
        if type(out_dims) is not int:
            _check_out_dims(out_dims, func)
        fast = _fast_inputs(in_dims, args) if args else None
        if fast is not None and (chunk_size is None or chunk_size >= fast[0]):
            size, flat_dims, flat_args = fast
            spec = None
        else:
            size, flat_dims, flat_args, spec = _process_inputs(in_dims, args, func)
            if chunk_size is not None and chunk_size < size:
                return _chunked_vmap(func, flat_dims, flat_args, spec, size, chunk_size,
                                     out_dims, randomness, kwargs)
        return _flat_vmap(func, size, flat_dims, flat_args, spec, out_dims, randomness, kwargs,
                          resolved)

    return wrapped

"""jacrev, jacfwd and hessian (= jacfwd(jacrev(f))).

jacrev builds all rows of the Jacobian in one backward pass on the batch of basis cotangents
(as PyTorch's vmap(vjp); `chunk_size` splits that batch), jacfwd all columns of each input in
one pass of the batch of basis tangents (Jacobian-vector products by the double-backward
trick of `eager_transforms`); both give PyTorch's layout: out.shape + input.shape per
(output, input) pair, in the pytree structures of the outputs and of the differentiated
arguments. Inside vmap, the rows and columns are physical values batched at every vmap level
(see _batching_autograd.py), so vmap(jacrev(f)) is one Jacobian per sample.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from .._tensor import Tensor
from ..autograd import grad as _autograd_grad
from ..autograd.grad_mode import enable_grad
from ._batching_autograd import Batch
from ._levels import (
    Level,
    check_argnums,
    check_outputs,
    check_real,
    replace_args,
    slice_args,
)
from ._pytree import tree_flatten, tree_unflatten
from .eager_transforms import JVP_STR, _check_dual, _Linearized, _split_aux, _vjp

__all__ = ["jacrev", "jacfwd", "hessian"]


def stack(tensors: list, dim: int) -> Tensor:
    from .. import stack as _stack  # the public op (its home module may move)

    return _stack(tensors, dim)


def _assemble(per_output: list, out_spec, primals_spec, argnums):
    """per_output[k][j] = block of output k by primal j -> PyTorch's nesting."""
    blocks = []
    for row in per_output:
        tree = tree_unflatten(row, primals_spec)
        blocks.append(tree[0] if isinstance(argnums, int) else tree)
    return tree_unflatten(blocks, out_spec)


def jacrev(func: Callable, argnums=0, *, has_aux: bool = False, chunk_size: int | None = None,
           _preallocate_and_copy: bool = False) -> Callable:
    """A function computing the Jacobian of func with respect to args[argnums] by reverse mode.

    >>> import tapegrad
    >>> from tapegrad.func import jacrev
    >>> jacrev(lambda x: x ** 2)(tapegrad.tensor([1., 2.]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    @functools.wraps(func)
    def wrapper(*args):
        from .._creation import zeros_like

        check_real("jacrev", args, True)
        output, _, aux, pb = _vjp(func, args, argnums, has_aux)
        flat_output, out_spec = tree_flatten(output)
        check_real("jacrev", flat_output, False)
        flat_primals, primals_spec = tree_flatten(slice_args(args, argnums, as_tuple=True))
        level, inner, batch = pb.level, pb.inputs, pb.batch
        create = pb.outside
        per_output = []
        for o in pb.outs:  # the outputs as recorded (physical, with their graphs)
            n = batch.numel(o) if o.requires_grad else 0
            rows = _rows(o, n, inner, batch, create, chunk_size) if n else None
            blocks = []
            for j, p in enumerate(inner):
                shape = tuple(o.shape) + tuple(p.shape)[batch.n:]
                if rows is None:
                    blocks.append(batch.wrap(p.new_zeros(shape)))
                    continue
                r = rows[j]
                r = zeros_like(p).expand((n,) + tuple(p.shape)) if r is None else r
                # (n, *prefix, *p) -> (*prefix, n, *p) -> (*prefix, *o, *p)
                blocks.append(batch.wrap(level.lower(r.movedim(0, batch.n).reshape(shape))))
            per_output.append(blocks)
        jac = _assemble(per_output, out_spec, primals_spec, argnums)
        return (jac, aux) if has_aux else jac

    return wrapper


def _rows(o, n: int, inner: list, batch, create: bool, chunk_size) -> list:
    """Every row of d o / d inner at once: one backward pass on the batch of the n basis
    cotangents of o's logical elements (in chunks of chunk_size), as PyTorch's vmap(vjp).
    Result j: (n, *inner[j].shape) or None where no path reaches inner[j]."""
    eye = o.new_zeros((n, n))
    eye.diagonal().fill_(1)
    basis = eye.view((n,) + (1,) * batch.n + tuple(o.shape)[batch.n:]).expand(
        (n,) + tuple(o.shape))
    step = n if chunk_size is None else chunk_size
    parts = []
    for start in range(0, n, step):
        parts.append(_autograd_grad([o], inner, [basis[start:start + step]], retain_graph=True,
                                    create_graph=create, allow_unused=True,
                                    is_grads_batched=True))
    if len(parts) == 1:
        return list(parts[0])
    from .. import cat

    return [None if parts[0][j] is None else cat([q[j] for q in parts], 0)
            for j in range(len(inner))]


_RANDOMNESS = ("error", "different", "same")


def forward_blocks(level: Level, primals: list, outs: list, batch: Batch | None = None) -> list:
    """blocks[k][j] = d outs[k] / d primals[j] (shape outs[k].shape + primals[j].shape, dtype
    of outs[k]), one Jacobian-vector product per element of each primal (a column). Values
    are physical (batch.n batch dims in front); the blocks are returned as the caller sees them."""
    batch = Batch(active=False) if batch is None else batch
    lin = _Linearized(level, primals, outs)
    cols = [[None] * len(primals) for _ in outs]
    for j, p in enumerate(primals):
        n = batch.numel(p)
        if not n:
            continue
        # every column at once: one pass on the batch of the n basis tangents of p
        eye = p.new_zeros((n, n))
        eye.diagonal().fill_(1)
        tangents = [None] * len(primals)
        tangents[j] = eye.view((n,) + (1,) * batch.n + tuple(p.shape)[batch.n:]).expand(
            (n,) + tuple(p.shape))
        for k, r in enumerate(lin.push(tangents, batched=True)):
            cols[k][j] = r  # (n, *outs[k].shape), or None
    blocks = []
    for o, o_cols in zip(outs, cols):
        row = []
        for p, c in zip(primals, o_cols):
            shape = tuple(o.shape) + tuple(p.shape)[batch.n:]
            if c is None:  # (also when p has no elements)
                row.append(batch.wrap(o.new_zeros(shape)))
            else:
                row.append(batch.wrap(c.movedim(0, -1).reshape(shape)))
        blocks.append(row)
    return blocks


def jacfwd(func: Callable, argnums=0, has_aux: bool = False, *,
           randomness: str = "error") -> Callable:
    """A function computing the Jacobian of func with respect to args[argnums] a column at a
    time (Jacobian-vector products, by the double-backward trick for now).

    >>> import tapegrad
    >>> from tapegrad.func import jacfwd
    >>> jacfwd(lambda x: x ** 2)(tapegrad.tensor([1., 2.]))
    tensor([[2., 0.],
            [0., 4.]])
    """

    @functools.wraps(func)
    def wrapper(*args):
        check_real("jacfwd", args, True)
        primals = slice_args(args, argnums, as_tuple=True)
        flat_primals, primals_spec = tree_flatten(primals)
        for p in flat_primals:
            p.numel()  # (a non-tensor fails here, as in PyTorch)
        if not flat_primals:
            raise AssertionError("tensors must have at least one element")
        if randomness not in _RANDOMNESS:
            raise RuntimeError(
                "Only allowed values for randomness are 'error', 'different', or 'same'. "
                f"Got {randomness}"
            )
        level = Level()
        batch = Batch()
        with enable_grad():
            lifted = []
            for p in flat_primals:
                _check_dual(p, p)
                lifted.append(level.lift(batch.phys(p)))
            duals = tree_unflatten([batch.wrap(q) for q in lifted], primals_spec)
            wrapped = check_argnums(argnums, len(args))
            out = func(*replace_args(args, argnums,
                                     duals[0] if isinstance(wrapped, int) else duals))
            aux = None
            if has_aux:
                out, aux = _split_aux(out, JVP_STR)
                aux = batch.lower_tree(level, aux)
            flat_out, out_spec = tree_flatten(out)
            check_outputs(flat_out, JVP_STR)
            check_real("jacfwd", out, False)
            per_output = forward_blocks(level, lifted, [batch.phys(o) for o in flat_out], batch)
        jac = _assemble(per_output, out_spec, primals_spec, argnums)
        return (jac, aux) if has_aux else jac

    return wrapper


def hessian(func: Callable, argnums=0) -> Callable:
    """A function computing the Hessian of func with respect to args[argnums], as
    jacfwd(jacrev(func)) (forward over reverse).

    >>> import tapegrad
    >>> from tapegrad.func import hessian
    >>> hessian(lambda x: (x ** 3).sum())(tapegrad.tensor([1., 2.]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    return jacfwd(jacrev(func, argnums), argnums)

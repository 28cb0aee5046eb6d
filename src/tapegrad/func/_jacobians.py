"""jacrev, jacfwd and hessian (= jacfwd(jacrev(f))).

As PyTorch computes them: jacrev pulls back the standard basis of R^N (N: all outputs'
elements, in order; split between the outputs) in one backward pass on that batch of
cotangents (`chunk_size` splits the batch; 1 runs plain passes), then splits each input's
(N, *input) result by output; jacfwd pushes the standard basis of the primals' elements in one
pass of batched tangents (Jacobian-vector products by the double-backward trick of
`eager_transforms`), then splits each output's result by primal. So the blocks of one input
(jacrev) or of one output (jacfwd) are pieces of one tensor and share its graph. Layout:
out.shape + input.shape per (output, input) pair, in the pytree structures of the outputs and
of the differentiated arguments. Inside vmap, the rows and columns are physical values batched
at every vmap level (see _batching_autograd.py), so vmap(jacrev(f)) is one Jacobian per
sample. jacfwd's `randomness`: 'error' refuses draws from the default generator, 'same' holds
by construction (one call of func), 'different' runs PyTorch's vmap over the basis.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from .._random import refuse_draws
from ..autograd import grad as _autograd_grad
from ..autograd.grad_mode import enable_grad
from ._batching_autograd import Batch
from ._batching_core import vmap_error
from ._levels import (
    Level,
    check_argnums,
    check_outputs,
    check_real,
    replace_args,
    slice_args,
)
from ._pytree import tree_flatten, tree_unflatten
from .eager_transforms import (
    JVP_STR,
    _call,
    _check_dual,
    _jvp,
    _Linearized,
    _split_aux,
    _vjp,
)

__all__ = ["jacrev", "jacfwd", "hessian"]


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
        check_real("jacrev", args, True)
        output, _, aux, pb = _vjp(func, args, argnums, has_aux)
        flat_output, out_spec = tree_flatten(output)
        check_real("jacrev", flat_output, False)
        _, primals_spec = tree_flatten(slice_args(args, argnums, as_tuple=True))
        level, inner, batch, outs = pb.level, pb.inputs, pb.batch, pb.outs
        numels = [batch.numel(o) for o in outs]
        per_input = _rows(outs, numels, inner, batch, pb.outside, chunk_size)
        per_output = [[] for _ in outs]
        for p, r in zip(inner, per_input):
            # r: (N, *prefix, *p) for all N rows (every output's elements, in order), split
            # by output: (n, *prefix, *p) -> (*prefix, n, *p) -> (*prefix, *o, *p)
            r = level.lower(r)
            for k, (o, piece) in enumerate(zip(outs, r.split(numels, 0))):
                shape = tuple(o.shape) + tuple(p.shape)[batch.n:]
                piece = piece.movedim(0, batch.n).reshape(shape) if batch.n else \
                    piece.view(shape)
                per_output[k].append(batch.wrap(piece))
        jac = _assemble(per_output, out_spec, primals_spec, argnums)
        return (jac, aux) if has_aux else jac

    return wrapper


def _chunk_sizes(total: int, chunk_size) -> list:
    if chunk_size and chunk_size < total:
        sizes = [chunk_size] * (total // chunk_size)  # (a non-int chunk_size fails here)
        if total % chunk_size:
            sizes.append(total % chunk_size)
        return sizes
    return [total]


def _rows(outs: list, numels: list, inner: list, batch, create: bool, chunk_size) -> list:
    """Every row of the Jacobian of all outputs together (N = sum(numels) rows, the outputs'
    logical elements in order) by the inputs, as PyTorch's vmap(vjp_fn) over the standard
    basis of R^N split between the outputs: one backward pass on a batch of N cotangents (in
    chunks of chunk_size; chunk_size=1 runs plain passes, one per row, as PyTorch does).
    Result j: (N, *inner[j].shape); zeros where no path reaches inner[j]."""
    from .. import cat
    from .._creation import zeros_like

    total = sum(numels)
    diff = [k for k, o in enumerate(outs) if o.requires_grad]
    parts = []
    done = 0
    for size in _chunk_sizes(total, chunk_size):
        cots, offset = [], 0
        for k, (o, n) in enumerate(zip(outs, numels)):
            if k in diff:
                # rows done..done+size of the basis, restricted to o's n columns
                e = o.new_zeros((size, n))
                e.diagonal(done - offset).fill_(1)
                e = e.view((size,) + (1,) * batch.n + tuple(o.shape)[batch.n:])
                cots.append(e.expand((size,) + tuple(o.shape)))
            offset += n
        got = [None] * len(inner)
        if size == 0 or not diff:
            pass
        elif chunk_size == 1:  # plain passes (no batching), a row at a time
            got = _autograd_grad([outs[k] for k in diff], inner, [c[0] for c in cots],
                                 retain_graph=True, create_graph=create, allow_unused=True)
            got = [None if g is None else g.unsqueeze(0) for g in got]
        else:
            got = _autograd_grad([outs[k] for k in diff], inner, cots, retain_graph=True,
                                 create_graph=create, allow_unused=True, is_grads_batched=True)
        parts.append([zeros_like(p).expand((size,) + tuple(p.shape)) if g is None else g
                      for g, p in zip(got, inner)])
        done += size
    if len(parts) == 1:
        return parts[0]
    return [cat([q[j] for q in parts], 0) for j in range(len(inner))]


_RANDOMNESS = ("error", "different", "same")


def forward_blocks(level: Level, primals: list, outs: list, batch: Batch | None = None,
                   functional: bool = False) -> list:
    """blocks[k][j] = d outs[k] / d primals[j] (shape outs[k].shape + primals[j].shape, dtype
    of outs[k]), as PyTorch's vmap(jvp) over the standard basis of R^N (N: the primals'
    logical elements, in order) split between the primals: one pass on the batch of N
    tangents gives all columns of outs[k] as one tensor, then split by primal (so the blocks
    of one output share its graph). Values are physical (batch.n batch dims in front); the
    blocks are returned as the caller sees them. functional: autograd.functional's layout
    ops (split along the batch dim, permute, reshape) instead of torch.func's (unflatten)."""
    batch = Batch(active=False) if batch is None else batch
    lin = _Linearized(level, primals, outs)
    numels = [batch.numel(p) for p in primals]
    total = sum(numels)
    pushed = [None] * len(outs)
    if total:
        tangents, offset = [], 0
        for p, n in zip(primals, numels):
            e = p.new_zeros((total, n))
            e.diagonal(-offset).fill_(1)
            e = e.view((total,) + (1,) * batch.n + tuple(p.shape)[batch.n:])
            tangents.append(e.expand((total,) + tuple(p.shape)))
            offset += n
        pushed = lin.push(tangents, batched=True)  # per output: (N, *o.shape), or None
    blocks = []
    for o, c in zip(outs, pushed):
        shapes = [tuple(o.shape) + tuple(p.shape)[batch.n:] for p in primals]
        if c is None:  # (also when the primals have no elements)
            blocks.append([batch.wrap(o.new_zeros(shape)) for shape in shapes])
        elif functional:
            blocks.append([batch.wrap(piece.permute(*range(1, piece.dim()), 0).reshape(shape))
                           for piece, shape in zip(c.split(numels, 0), shapes)])
        else:  # (the last dim split into each primal's logical shape: views)
            blocks.append([batch.wrap(piece.view(shape)) for piece, shape
                           in zip(c.movedim(0, -1).split(numels, -1), shapes)])
    return blocks


def jacfwd(func: Callable, argnums=0, has_aux: bool = False, *,
           randomness: str = "error") -> Callable:
    """A function computing the Jacobian of func with respect to args[argnums] by forward
    mode (all columns in one pass; Jacobian-vector products by the double-backward trick).

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
        if randomness == "different":  # each column draws its own numbers: PyTorch's way
            return _jacfwd_by_vmap(func, args, argnums, has_aux, flat_primals, primals_spec,
                                   randomness)
        level = Level()
        batch = Batch()
        with enable_grad():
            lifted = []
            for p in flat_primals:
                _check_dual(p, p)
                lifted.append(level.lift(batch.phys(p)))
            duals = tree_unflatten([batch.wrap(q) for q in lifted], primals_spec)
            wrapped = check_argnums(argnums, len(args))
            # one call serves every column, so 'same' randomness holds by construction; in
            # 'error' mode a draw from the default generator is refused, as PyTorch refuses
            # a random op under the vmap of its columns
            call_args = replace_args(args, argnums,
                                     duals[0] if isinstance(wrapped, int) else duals)
            if randomness == "error":
                with refuse_draws(_random_op_error):
                    out = _call(func, *call_args)
            else:
                out = _call(func, *call_args)
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


def _random_op_error():
    from ._batching_rules_random import ERROR_MSG

    return vmap_error(ERROR_MSG)


def _jacfwd_by_vmap(func, args: tuple, argnums, has_aux: bool, flat_primals: list,
                    primals_spec, randomness: str = "different"):
    """jacfwd as PyTorch computes it: jvp on each basis tangent under vmap(randomness=...),
    so with 'different' every column runs func with its own random numbers. Aux outputs are
    those of the first column."""
    from .. import split
    from .vmap import vmap

    numels = [p.numel() for p in flat_primals]
    total = sum(numels)
    flat_basis, start = [], 0
    for p, n in zip(flat_primals, numels):
        b = p.new_zeros((total, n))
        b[start:start + n].diagonal().fill_(1)
        flat_basis.append(b.view((total,) + tuple(p.shape)))
        start += n

    def push_jvp(*basis):
        out = _jvp(func, args, tree_unflatten(list(basis), primals_spec), argnums,
                   False, has_aux)
        check_real("jacfwd", out[0], False)
        return (out[1], out[2]) if has_aux else out[1]

    results = vmap(push_jvp, randomness=randomness)(*flat_basis)
    aux = None
    if has_aux:
        results, aux = results
        leaves, aux_spec = tree_flatten(aux)
        aux = tree_unflatten([a[0] for a in leaves], aux_spec)
    jac_outs, spec = tree_flatten(results)
    per_output = []
    for jac_out in jac_outs:
        cols = split(jac_out.movedim(0, -1), numels, dim=-1)
        per_output.append([c.unflatten(-1, tuple(p.shape)) if p.dim() else c.squeeze(-1)
                           for p, c in zip(flat_primals, cols)])
    jac = _assemble(per_output, spec, primals_spec, argnums)
    return (jac, aux) if has_aux else jac


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

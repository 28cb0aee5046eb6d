"""Batching rules of the nn.functional ops whose tensor arguments share the leading N dim
(max_unpool with its indices, affine_grid, grid_sampler under grid_sample, fractional max
pooling with its samples): the vmap batch is folded into N for all of them, (B*N, ...), and
unfolded from the results.
"""

from __future__ import annotations

from ._batching_dispatch import rule, wrap_out
from ._batching_rules_nn import _map
from ._batching_util import B, call, expand_b


@rule("F.max_unpool1d", "F.max_unpool2d", "F.max_unpool3d", "max_unpool1d", "max_unpool2d",
      "max_unpool3d")
def max_unpool(op, args, kwargs, level):
    """The batch folded into N for the input and its indices (flat per (n, c) plane)."""
    ba = op.bind(args, kwargs)
    a = ba.arguments
    k = int(op.name[-2])
    x, idx, size = a["input"], a["indices"], a["output_size"]
    r = x.dim()
    if r not in (k + 1, k + 2) or tuple(idx.shape) != tuple(x.shape):
        return NotImplemented
    if size is not None:
        size = list(size)
        if len(size) == k + 2:
            size = size[2:]
        elif len(size) != k:
            return NotImplemented
        a["output_size"] = size
    nb = B(level)
    xp, ip = expand_b(x, level), expand_b(idx, level)
    if r == k + 2:
        xp = xp.reshape((nb * xp.shape[1],) + tuple(xp.shape[2:]))
        ip = ip.reshape((nb * ip.shape[1],) + tuple(ip.shape[2:]))
    a["input"], a["indices"] = xp, ip
    out = call(op, ba.args, ba.kwargs)
    if r == k + 2:
        out = out.reshape((nb, x.shape[0]) + tuple(out.shape[1:]))
    return wrap_out(out, level)


@rule("F.affine_grid")
def affine_grid(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    a = ba.arguments
    theta, size = a["theta"], list(a["size"])
    if theta.dim() != 3 or not size or size[0] != theta.shape[0]:
        return NotImplemented
    nb, n = B(level), theta.shape[0]
    a["theta"] = expand_b(theta, level).reshape((nb * n,) + tuple(theta.shape[1:]))
    a["size"] = [nb * n] + size[1:]
    out = call(op, ba.args, ba.kwargs)
    return wrap_out(out.reshape((nb, n) + tuple(out.shape[1:])), level)


@rule("grid_sampler")
def grid_sampler(op, args, kwargs, level):
    """ATen's grid_sampler (under F.grid_sample): input and grid share N; the batch is folded
    into it."""
    ba = op.bind(args, kwargs)
    a = ba.arguments
    x, g = a["input"], a["grid"]
    if x.dim() not in (4, 5) or g.dim() != x.dim() or x.shape[0] != g.shape[0]:
        return NotImplemented
    nb, n = B(level), x.shape[0]
    a["input"] = expand_b(x, level).reshape((nb * n,) + tuple(x.shape[1:]))
    a["grid"] = expand_b(g, level).reshape((nb * n,) + tuple(g.shape[1:]))
    out = call(op, ba.args, ba.kwargs)
    return wrap_out(out.reshape((nb, n) + tuple(out.shape[1:])), level)


@rule("F.fractional_max_pool2d_with_indices", "F.fractional_max_pool3d_with_indices",
      "fractional_max_pool2d_with_indices", "fractional_max_pool3d_with_indices")
def fractional_max_pool(op, args, kwargs, level):
    """With given _random_samples (N, C, k) (one row for an unbatched input): the batch folded
    into N for the input and its samples. (Without them the op draws: the per-sample loop.)"""
    ba = op.bind(args, kwargs)
    a = ba.arguments
    k = 2 if "2d" in op.name else 3
    x, smp = a["input"], a["_random_samples"]
    r = x.dim()
    if smp is None or r not in (k + 1, k + 2) or smp.dim() != 3:
        return NotImplemented
    n = 1 if r == k + 1 else x.shape[0]
    if smp.shape[0] != n:
        return NotImplemented
    nb = B(level)
    xp = expand_b(x, level)
    if r == k + 2:
        xp = xp.reshape((nb * n,) + tuple(xp.shape[2:]))
    a["input"] = xp
    a["_random_samples"] = expand_b(smp, level).reshape((nb * n,) + tuple(smp.shape[1:]))
    out = call(op, ba.args, ba.kwargs)
    if r == k + 2:
        out = _map(out, lambda o: o.reshape((nb, n) + tuple(o.shape[1:])))
    return wrap_out(out, level)

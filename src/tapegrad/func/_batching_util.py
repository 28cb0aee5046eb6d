"""Small helpers shared by the batching rules (physical values have the batch at dim 0)."""

from __future__ import annotations

from .._tensor import Tensor, _wrap_dim
from ._batching_core import STATE, BatchedTensor
from ._batching_dispatch import redispatch

__all__ = ["phys", "is_b", "ldim", "pad", "expand_b", "wdim", "call", "B", "BT", "is_tensor"]

BT = BatchedTensor


def is_b(x, level: int) -> bool:
    """Whether x is batched at this level."""
    return type(x) is BatchedTensor and x._level == level


def is_tensor(x) -> bool:
    return type(x) is BatchedTensor or isinstance(x, Tensor)


def phys(x, level: int):
    """The physical value of x at this level (x itself when it is not batched here)."""
    if type(x) is BatchedTensor and x._level == level:
        return x._value
    return x


def ldim(x, level: int) -> int:
    """The logical rank of a tensor at this level."""
    if type(x) is BatchedTensor and x._level == level:
        return x._value.dim() - 1
    return x.dim()


def lshape(x, level: int) -> tuple:
    if type(x) is BatchedTensor and x._level == level:
        return tuple(x._value.shape[1:])
    return tuple(x.shape)


def B(level: int) -> int:
    return STATE.size(level)


def pad(p, r: int, rank: int):
    """Physical p of logical rank r with singleton dims inserted after the batch dim up to
    logical rank `rank` (so it broadcasts against others of that rank)."""
    if r >= rank:
        return p
    shape = tuple(p.shape)
    return p.reshape(shape[:1] + (1,) * (rank - r) + shape[1:])


def expand_b(x, level: int):
    """x as a physical batch: its value if batched here, else x repeated (a view) B times."""
    if type(x) is BatchedTensor and x._level == level:
        return x._value
    shape = tuple(x.shape)
    return x.unsqueeze(0).expand((STATE.size(level),) + shape)


def wdim(d: int, n: int) -> int:
    """A logical dim wrapped into [0, n) (a 0-d tensor accepts 0 and -1), PyTorch's error."""
    if type(d) is not int:
        d = d.__index__()
    return _wrap_dim(d, n)


def call(op, args, kwargs=None):
    return redispatch(op, args, kwargs)


def dims_arg(dim, n: int) -> list:
    """A dim or a sequence of dims, each wrapped into [0, n)."""
    if isinstance(dim, (list, tuple)):
        return [wdim(d, n) for d in dim]
    return [wdim(dim, n)]

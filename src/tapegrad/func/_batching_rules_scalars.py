"""Batched tensors given where an op takes a number: PyTorch's errors.

PyTorch's argument parser reads a tensor passed for a number (a size, a fill value, `k`, an
`alpha`) with `.item()`, which vmap forbids; tapegrad's ops would instead read one sample's
value each in the per-sample loop (and then fail to stack, or succeed where PyTorch does
not). These rules raise PyTorch's error first:
- creation functions (arange, zeros, full, ...): any batched argument is a number or a size
  (linspace / logspace take tensors for start and end: only `steps` counts);
- `tensor(batched)` itself: PyTorch warns about copy construction, then its per-sample
  fallback of the in-place detach fails on a view;
- `numbers_error(...)`: the check other rules make for their number parameters.
"""

from __future__ import annotations

import warnings

from ._batching_core import ITEM_MSG, BatchedTensor, vmap_error
from ._batching_dispatch import PERF_WARNING, _user_stacklevel, rule

_CREATION = ("arange", "range", "zeros", "ones", "empty", "full", "linspace", "logspace",
             "tensor", "as_tensor")
_COPY_WARNING = (
    "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
    "sourceTensor.detach().clone().requires_grad_(True), rather than tapegrad.tensor("
    "sourceTensor)."
)
_DETACH_VIEW = (
    "Can't detach views in-place. Use detach() instead. If you are using "
    "DistributedDataParallel (DDP) for training, and gradient_as_bucket_view is set as True, "
    "gradients are views of DDP buckets, and hence detach_() cannot be called on these "
    "gradients. To fix this error, please refer to the Optimizer.zero_grad() function in "
    "torch/optim/optimizer.py as the solution."
)


def _batched(v) -> bool:
    """Whether v is a batched tensor, or a list or tuple holding one (one level deep)."""
    if type(v) is BatchedTensor:
        return True
    return type(v) in (list, tuple) and any(type(x) is BatchedTensor for x in v)


def numbers_error(*values) -> None:
    """Raise PyTorch's .item() error when any of these number arguments is batched."""
    for v in values:
        if _batched(v):
            raise vmap_error(ITEM_MSG)


@rule(*_CREATION)
def creation(op, args, kwargs, level):
    if op.name in ("linspace", "logspace"):
        ba = op.bind(args, kwargs)
        numbers_error(ba.arguments.get("steps"))
        return _spaced(op.name, ba.arguments)
    data = args[0] if args else kwargs.get("data")
    if op.name == "as_tensor" and type(data) is BatchedTensor:
        return NotImplemented  # (a tensor: returned as it is)
    if op.name == "tensor" and type(data) is BatchedTensor:
        stack = _user_stacklevel()
        warnings.warn(_COPY_WARNING, UserWarning, stacklevel=stack)
        warnings.warn(PERF_WARNING.format("Tensor.detach_"), UserWarning, stacklevel=stack)
        raise vmap_error(_DETACH_VIEW)
    raise vmap_error(ITEM_MSG)


def _spaced(name: str, a: dict):
    """linspace / logspace with batched (0-d) ends, in logical ops. As PyTorch computes it,
    the first half of the points count up from start and the rest down from end:
    x_i = start + i step for i < steps // 2, else end - (steps - 1 - i) step, with
    step = (end - start) / (steps - 1); logspace is base ** x."""
    from .. import _dtype as D
    from .. import arange, get_default_dtype, where

    start, end, steps = a["start"], a["end"], a["steps"]
    if a.get("out") is not None or type(steps) is not int or steps < 0:
        return NotImplemented
    dt = a.get("dtype") or get_default_dtype()
    if not (dt.is_floating_point or dt.is_complex) or any(
            type(v) is BatchedTensor and v.dim() != 0 for v in (start, end)):
        return NotImplemented
    s = start.to(dt) if type(start) is BatchedTensor else start
    e = end.to(dt) if type(end) is BatchedTensor else end
    i = arange(steps, dtype=dt)
    if steps == 1:
        x = s + i * 0 if type(s) is BatchedTensor else (e - e) + s + i
    else:
        step = (e - s) / (steps - 1)
        x = where(i < steps // 2, s + i * step, e - (steps - 1 - i) * step)
    if name == "logspace":
        x = a.get("base", 10.0) ** x
    return x.to(dt) if x.dtype is not dt and dt is not D.bool else x

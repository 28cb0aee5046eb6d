"""Gradient clipping: by total norm (clip_grad_norm_) or element-wise (clip_grad_value_)."""

from __future__ import annotations

import functools
import types
import warnings
from collections.abc import Iterable

import numpy as np

from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "get_total_norm",
           "clip_grads_with_norm_"]

_tensor_or_tensors = Tensor | Iterable[Tensor]


def _no_grad(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with no_grad():
            return fn(*args, **kwargs)

    return wrapper


@_no_grad
def get_total_norm(
    tensors: _tensor_or_tensors,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """The norm of the norms of the tensors (the norm of their concatenation).

    >>> import tapegrad
    >>> from tapegrad.nn.utils import get_total_norm
    >>> get_total_norm([tapegrad.tensor([3.0]), tapegrad.tensor([4.0])])
    tensor(5.)
    """
    from ... import stack, tensor
    from ...linalg import vector_norm

    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return tensor(0.0)
    norms = [vector_norm(t, norm_type) for t in tensors]
    total = vector_norm(stack(norms), norm_type)
    if error_if_nonfinite and not np.isfinite(total._data).all():
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return total


@_no_grad
def clip_grads_with_norm_(
    parameters: _tensor_or_tensors,
    max_norm: float,
    total_norm: Tensor,
    foreach: bool | None = None,
) -> None:
    """Scale the gradients by min(1, max_norm / (total_norm + 1e-6)), in place."""
    from ... import clamp

    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    max_norm = float(max_norm)
    if len(grads) == 0:
        return
    # max_norm / (total + 1e-6), divided as PyTorch divides a number by a tensor
    coef = clamp((total_norm + 1e-6).reciprocal() * max_norm, max=1.0)
    for g in grads:
        # a 0-d coefficient enters the product in the gradient's dtype
        g._data *= coef._data.astype(g._data.dtype)
        g._bump_version()


@_no_grad
def clip_grad_norm_(
    parameters: _tensor_or_tensors,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Rescale the gradients in place so that their total norm is at most max_norm; returns
    the total norm before clipping.

    >>> import tapegrad
    >>> w = tapegrad.ones(2, requires_grad=True)
    >>> w.grad = tapegrad.tensor([3.0, 4.0])
    >>> tapegrad.nn.utils.clip_grad_norm_([w], max_norm=1.0)
    tensor(5.)
    >>> w.grad
    tensor([0.6000, 0.8000])
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and len(parameters) == 0:
            warnings.warn(
                "`parameters` is an empty generator, no gradient clipping will occur.",
                stacklevel=3,
            )
    grads = [p.grad for p in parameters if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_norm(
    parameters: _tensor_or_tensors,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Deprecated spelling of clip_grad_norm_."""
    warnings.warn(
        "`tapegrad.nn.utils.clip_grad_norm` is now deprecated in favor of "
        "`tapegrad.nn.utils.clip_grad_norm_`.",
        FutureWarning,
        stacklevel=2,
    )
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


@_no_grad
def clip_grad_value_(
    parameters: _tensor_or_tensors, clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place.

    >>> import tapegrad
    >>> w = tapegrad.ones(3, requires_grad=True)
    >>> w.grad = tapegrad.tensor([-2.0, 0.5, 3.0])
    >>> tapegrad.nn.utils.clip_grad_value_([w], 1.0)
    >>> w.grad
    tensor([-1.0000,  0.5000,  1.0000])
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    clip_value = float(clip_value)
    for p in parameters:
        g = p.grad
        if g is not None:
            g.clamp_(min=-clip_value, max=clip_value)

"""Flatten parameters into one vector and write a vector back into them."""

from __future__ import annotations

from collections.abc import Iterable

from ..._tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_param_device(param: Tensor, old_param_device: int | None) -> int:
    # every tapegrad tensor lives on the CPU (device index -1 here, as in PyTorch)
    if old_param_device is None:
        return -1
    if old_param_device != -1:
        raise TypeError(
            "Found two parameters on different devices, this is currently not supported."
        )
    return old_param_device


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and concatenated into one vector (differentiable).

    >>> import tapegrad
    >>> from tapegrad.nn.utils import parameters_to_vector
    >>> parameters_to_vector([tapegrad.ones(2, 2), tapegrad.zeros(1)])
    tensor([1., 1., 1., 1., 0.])
    """
    from ... import cat

    device = None
    parts = []
    for p in parameters:
        device = _check_param_device(p, device)
        parts.append(p.view(-1))
    return cat(parts)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Make each parameter's data the next slice of vec (viewed to its shape).

    >>> import tapegrad
    >>> from tapegrad.nn.utils import vector_to_parameters
    >>> w = tapegrad.zeros(2, requires_grad=True)
    >>> vector_to_parameters(tapegrad.tensor([1.0, 2.0]), [w])
    >>> w
    tensor([1., 2.], requires_grad=True)
    """
    if not isinstance(vec, Tensor):
        from ...optim.optimizer import _typename

        raise TypeError(f"expected tapegrad.Tensor, but got: {_typename(vec)}")
    device = None
    pointer = 0
    for p in parameters:
        device = _check_param_device(p, device)
        n = p.numel()
        p.data = vec[pointer:pointer + n].view_as(p).data
        pointer += n

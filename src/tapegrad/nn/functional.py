"""tapegrad.nn.functional: activations, softmax and friends, as in torch.nn.functional."""

from __future__ import annotations

from ..ops.unary import relu as _relu

__all__ = ["relu"]


def relu(input, inplace: bool = False):  # noqa: A002
    """max(x, 0) elementwise; relu'(0) = 0."""
    if inplace:
        return input.relu_()
    return _relu(input)

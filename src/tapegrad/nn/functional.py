"""tapegrad.nn.functional: activations, softmax and friends, as in torch.nn.functional."""

from __future__ import annotations

import warnings

from ..ops.softmax import log_softmax as _log_softmax
from ..ops.softmax import softmax as _softmax
from ..ops.unary import relu as _relu
from ..ops.unary import sigmoid as _sigmoid
from ..ops.unary import tanh as _tanh

__all__ = ["relu", "softmax", "log_softmax", "sigmoid", "tanh"]

# Op families list the names torch.nn.functional has in a FUNCTIONAL list (activations,
# losses, convolutions, ...); they are re-exported here, after this module's own definitions.
def _export_families() -> None:
    from .. import ops

    g = globals()
    for mod in ops.FAMILIES:
        for name in getattr(mod, "FUNCTIONAL", ()):
            if name not in __all__:
                g[name] = getattr(mod, name)
                __all__.append(name)




def relu(input, inplace: bool = False):  # noqa: A002
    """max(x, 0) elementwise; relu'(0) = 0."""
    if inplace:
        return input.relu_()
    return _relu(input)


def sigmoid(input):  # noqa: A002
    """1 / (1 + exp(-x)) (deprecated in PyTorch in favour of tapegrad.sigmoid; kept for parity)."""
    return _sigmoid(input)


def tanh(input):  # noqa: A002
    """tanh(x) (deprecated in PyTorch in favour of tapegrad.tanh; kept for parity)."""
    return _tanh(input)


def _get_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    """PyTorch's legacy implicit dim: 0 for 0-, 1- and 3-d inputs, else 1 (with a warning)."""
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim: int | None = None, _stacklevel: int = 3, dtype=None):  # noqa: A002
    """exp(x) / sum(exp(x)) along dim (SoftmaxBackward0); dtype casts the input first.

    >>> import tapegrad
    >>> tapegrad.nn.functional.softmax(tapegrad.tensor([0., 0.]), dim=0)
    tensor([0.5000, 0.5000])
    """
    if dim is None:
        dim = _get_softmax_dim("softmax", input.dim(), _stacklevel)
    return _softmax(input, dim, dtype)


def log_softmax(input, dim: int | None = None, _stacklevel: int = 3, dtype=None):  # noqa: A002
    """log(softmax(x)) along dim, computed stably (LogSoftmaxBackward0).

    >>> import tapegrad
    >>> tapegrad.nn.functional.log_softmax(tapegrad.tensor([0., 0.]), dim=0)
    tensor([-0.6931, -0.6931])
    """
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.dim(), _stacklevel)
    return _log_softmax(input, dim, dtype)


_export_families()
del _export_families  # import-time only (vmap's swap treats globals() users conservatively)

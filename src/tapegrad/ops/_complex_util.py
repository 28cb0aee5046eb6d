"""Small helpers for ops that take complex values (silu, scatter_reduce, soft_margin_loss,
logcumsumexp).

- `refuse_complex_autograd`: PyTorch computes some ops on complex tensors but refuses to
  record them for reverse mode ("<op> does not support automatic differentiation for outputs
  with complex dtype."), raised when grad mode is on and an input requires grad.
- `log1p_c`: log(1 + z) for complex arrays, accurate near z = 0 (NumPy's complex log1p
  takes log|1 + z|, which loses the real part when |z| is small).
"""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from ..autograd import grad_mode

__all__: list[str] = []

_state = grad_mode.state


def refuse_complex_autograd(name: str, *inputs) -> None:
    """PyTorch's refusal to record `name` when it returns a complex tensor that would need a
    grad_fn (grad mode on and some input requiring grad)."""
    if not _state.enabled:
        return
    for t in inputs:
        if isinstance(t, Tensor) and t._requires_grad:
            raise RuntimeError(f"{name} does not support automatic differentiation for outputs "
                               "with complex dtype.")


def log1p_c(z: np.ndarray) -> np.ndarray:
    """log(1 + z) for a complex array, the principal branch.

    With z = a + ib: the angle is atan2(b, 1 + a), the modulus |1 + z|. For |z| < 1/2,
    log|1 + z| = log1p(r) / 2 with r = a (2 + a) + b^2 = |1 + z|^2 - 1, computed without
    forming 1 + a; r == 0 (underflow) gives a, the first-order term.
    """
    a, b = z.real, z.imag
    with np.errstate(all="ignore"):
        theta = np.arctan2(b, a + 1.0)
        small = np.abs(z) < 0.5
        r = a * (2.0 + a) + b * b
        near = np.where(r == 0, a, 0.5 * np.log1p(r))
        far = np.log(np.hypot(a + 1.0, b))
        re = np.where(small, near, far)
    out = np.empty(z.shape, dtype=z.dtype)
    out.real = re
    out.imag = theta
    return out

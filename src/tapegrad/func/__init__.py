"""tapegrad.func: composable function transforms, as torch.func.

grad, grad_and_value, vjp, jvp, jacrev, jacfwd, hessian, linearize and functional_call work
on functions of tensors that need not require grad, and nest (grad(grad(f)), jacfwd(jacrev(f))).
Forward mode is computed by the double-backward trick until tapegrad has forward-mode AD.
vmap is not supported yet (it needs batching rules).
"""

from __future__ import annotations

from ._jacobians import hessian, jacfwd, jacrev
from .eager_transforms import grad, grad_and_value, jvp, linearize, vjp
from .functional_call import functional_call, stack_module_state

__all__ = [
    "grad", "grad_and_value", "vmap", "hessian", "jacfwd", "jacrev", "jvp", "linearize",
    "vjp", "functional_call", "stack_module_state",
]


def vmap(func, in_dims=0, out_dims=0, randomness: str = "error", *, chunk_size=None):
    """Not yet supported: vectorizing map needs batching rules, which tapegrad lacks."""
    raise NotImplementedError(
        "tapegrad.func.vmap is not yet supported (batching rules come later); call the "
        "function in a loop and stack the results instead"
    )

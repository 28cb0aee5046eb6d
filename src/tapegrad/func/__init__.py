"""tapegrad.func: composable function transforms, as torch.func.

grad, grad_and_value, vjp, jvp, jacrev, jacfwd, hessian, linearize, vmap and functional_call
work on functions of tensors that need not require grad, and nest (grad(grad(f)),
jacfwd(jacrev(f)), vmap(grad(f))). Beside them: stack_module_state, functionalize,
debug_unwrap, replace_all_batch_norm_modules_ and rearrange (_extras.py, _rearrange.py).
Forward mode is computed by the double-backward trick. vmap runs batching rules (see
vmap.py); grad and friends under vmap keep samples apart.
"""

from __future__ import annotations

from ._extras import debug_unwrap, functionalize, replace_all_batch_norm_modules_
from ._jacobians import hessian, jacfwd, jacrev
from ._rearrange import rearrange
from .eager_transforms import grad, grad_and_value, jvp, linearize, vjp
from .functional_call import functional_call, stack_module_state
from .vmap import vmap

__all__ = [
    "grad", "grad_and_value", "vmap", "hessian", "jacfwd", "jacrev", "jvp", "linearize",
    "vjp", "functional_call", "stack_module_state", "functionalize", "debug_unwrap",
    "replace_all_batch_norm_modules_", "rearrange",
]

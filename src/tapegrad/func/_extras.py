"""functionalize, debug_unwrap and replace_all_batch_norm_modules_, as torch.func's.

functionalize: PyTorch traces the function and swaps each in-place op for its out-of-place
twin, copying new values into mutated inputs at the end. tapegrad has no tracing, so it keeps
what the caller can observe instead:
- each tensor input is replaced by a copy (still differentiable: the copy's grad flows back),
  so the function's mutations land on the copy; an input whose copy was mutated gets the new
  values once, after the call (`input.copy_(new)`: one version bump, and the leaf error for a
  leaf that requires grad, as in PyTorch); the same tensor passed twice is two copies;
- an output that is the copy of an unmutated input is the input itself; that of a mutated
  input is a new tensor (it does not alias the input);
- tensors saved for backward inside the call are saved as snapshots (saved-tensor hooks),
  so a later in-place op does not invalidate them: as in PyTorch, where the in-place op
  became an out-of-place one, backward works where eager mode raises;
- remove="mutations_and_views": outputs that are views come back as copies.
Differences: an output that views an unmutated input is a view of the input's copy, not of
the input (PyTorch keeps the alias with remove="mutations"); grad_fn chains go through the
copies' CloneBackward0.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .._tensor import Tensor
from ..autograd import graph as _graph
from ..autograd.saved_hooks import saved_tensors_hooks
from ._batching_core import BatchedTensor
from ._pytree import tree_flatten, tree_unflatten

__all__ = ["functionalize", "debug_unwrap", "replace_all_batch_norm_modules_"]


def _remove_error(remove) -> RuntimeError:
    return RuntimeError(
        f"functionalize(f, remove='mutations'): received invalid argument for remove={remove}. "
        "Valid options are:\n     remove='mutations': all inplace and out= operators will be "
        "removed from the program, and replaced with their out-of-place equivalents.\n     "
        "remove='mutations_and_views': In addition to the above, all aliasing operators {view} "
        "will be replaced with their non-aliasing counterparts, {view}_copy.\n"
    )


def _physical(t):
    """The plain Tensor under any vmap levels."""
    while type(t) is BatchedTensor:
        t = t._value
    return t


def _snapshot_hooks():
    """Saved-tensor hooks that keep a copy of each saved tensor's values (then passed to the
    caller's own hooks, if any); None where saved-tensor hooks are disabled."""
    stack = _graph.hook_stack
    if stack.disabled is not None:
        return None
    outer = stack.pairs[-1] if stack.pairs else None

    def pack(t):
        copy = t.detach().clone()
        return copy if outer is None else outer[0](copy)

    def unpack(packed):
        return packed if outer is None else outer[1](packed)

    return saved_tensors_hooks(pack, unpack)


def _is_view(t) -> bool:
    return _physical(t)._base is not None


def functionalize(func: Callable[..., Any], *, remove: str = "mutations") -> Callable[..., Any]:
    """func with its mutations kept away from its inputs until it returns (see the module
    docstring for what this means without tracing).

    >>> import tapegrad
    >>> from tapegrad.func import functionalize
    >>> def f(a):
    ...     b = a + 1
    ...     b.view(-1).add_(1)
    ...     return b
    >>> functionalize(f)(tapegrad.zeros(2))
    tensor([2., 2.])
    """
    if remove == "mutations":
        copy_views = False
    elif remove == "mutations_and_views":
        copy_views = True
    else:
        raise _remove_error(remove)

    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        flat, spec = tree_flatten((args, kwargs))
        pairs = []  # (caller's tensor, its copy, copy's version before the call)
        new_flat = []
        for x in flat:
            if isinstance(x, Tensor):
                w = x.clone()
                pairs.append((x, w, _physical(w)._version))
                new_flat.append(w)
            else:
                new_flat.append(x)
        f_args, f_kwargs = tree_unflatten(new_flat, spec)
        hooks = _snapshot_hooks()
        if hooks is None:
            out = func(*f_args, **f_kwargs)
        else:
            with hooks:
                out = func(*f_args, **f_kwargs)
        mutated = set()
        for x, w, v in pairs:
            if _physical(w)._version != v:
                mutated.add(id(w))
                x.copy_(w)
        unchanged = {id(w): x for x, w, _ in pairs if id(w) not in mutated}
        leaves, out_spec = tree_flatten(out)
        res = []
        for o in leaves:
            if isinstance(o, Tensor):
                back = unchanged.get(id(o))
                if back is not None:
                    o = back
                elif copy_views and _is_view(o):
                    o = o.clone()
            res.append(o)
        return tree_unflatten(res, out_spec)

    return wrapped


def _unwrap_type_error(tensor) -> TypeError:
    return TypeError(
        "is_functorch_wrapped_tensor(): incompatible function arguments. The following argument "
        "types are supported:\n    1. (arg0: tapegrad.Tensor) -> bool\n\nInvoked with: "
        f"{tensor!r}"
    )


def debug_unwrap(tensor: Tensor, *, recurse: bool = True) -> Tensor:
    """The value behind a tensor seen inside vmap: its physical tensor (batch dims first),
    through every vmap level with recurse, else one level; other tensors come back as they
    are. For debugging only: using the result in the function breaks the transform.

    >>> import tapegrad
    >>> from tapegrad.func import debug_unwrap, vmap
    >>> _ = vmap(lambda x: print(debug_unwrap(x).shape) or x)(tapegrad.zeros(3, 2))
    tapegrad.Size([3, 2])
    """
    if not isinstance(tensor, Tensor):
        raise _unwrap_type_error(tensor)
    if type(tensor) is not BatchedTensor:
        return tensor
    value = tensor._value
    while recurse and type(value) is BatchedTensor:
        value = value._value
    return value


def _drop_running_stats(module) -> None:
    from ..nn.modules.batchnorm import _BatchNorm

    if isinstance(module, _BatchNorm) and module.track_running_stats:
        module.running_mean = None
        module.running_var = None
        module.num_batches_tracked = None
        module.track_running_stats = False


def replace_all_batch_norm_modules_(root):
    """Make every batch norm module in root (root included) stop tracking running stats:
    running_mean, running_var and num_batches_tracked become None, track_running_stats
    False, so it always normalises with batch statistics (which vmap can batch). In place;
    returns root.

    >>> import tapegrad
    >>> from tapegrad.func import replace_all_batch_norm_modules_
    >>> replace_all_batch_norm_modules_(tapegrad.nn.BatchNorm1d(3)).running_mean is None
    True
    """
    _drop_running_stats(root)
    for module in root.modules():
        _drop_running_stats(module)
    return root

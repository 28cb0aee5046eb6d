"""Module hooks: registration (per module and global) and the call that runs them."""

from __future__ import annotations

import warnings
from collections.abc import Callable

from ..._tensor import Tensor
from . import _hooks as H
from ._hooks import BackwardHook, RemovableHandle

__all__ = [
    "ModuleHooksMixin", "register_module_forward_pre_hook", "register_module_forward_hook",
    "register_module_full_backward_hook", "register_module_full_backward_pre_hook",
    "register_module_buffer_registration_hook", "register_module_module_registration_hook",
    "register_module_parameter_registration_hook",
]

_MIXED_MSG = (
    "Cannot use both regular backward hooks and full backward hooks on a single Module. "
    "Please use only one of them."
)


def register_module_forward_pre_hook(hook: Callable) -> RemovableHandle:
    """A forward pre-hook run before every module's own ones."""
    handle = RemovableHandle(H._global_forward_pre_hooks)
    H._global_forward_pre_hooks[handle.id] = hook
    return handle


def register_module_forward_hook(hook: Callable, *, with_kwargs: bool = False,
                                 always_call: bool = False) -> RemovableHandle:
    """A forward hook run before every module's own ones."""
    handle = RemovableHandle(
        H._global_forward_hooks,
        extra_dict=[H._global_forward_hooks_always_called, H._global_forward_hooks_with_kwargs],
    )
    H._global_forward_hooks[handle.id] = hook
    if with_kwargs:
        H._global_forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        H._global_forward_hooks_always_called[handle.id] = True
    return handle


def register_module_full_backward_pre_hook(hook: Callable) -> RemovableHandle:
    """A backward pre-hook common to all modules."""
    handle = RemovableHandle(H._global_backward_pre_hooks)
    H._global_backward_pre_hooks[handle.id] = hook
    return handle


def register_module_full_backward_hook(hook: Callable) -> RemovableHandle:
    """A full backward hook common to all modules."""
    if H._global_is_full_backward_hook[0] is False:
        raise RuntimeError(
            "Cannot use both regular backward hooks and full backward hooks as a global Module "
            "hook. Please use only one of them."
        )
    H._global_is_full_backward_hook[0] = True
    handle = RemovableHandle(H._global_backward_hooks)
    H._global_backward_hooks[handle.id] = hook
    return handle


def _registration(d, hook) -> RemovableHandle:
    handle = RemovableHandle(d)
    d[handle.id] = hook
    return handle


def register_module_buffer_registration_hook(hook: Callable) -> RemovableHandle:
    """hook(module, name, buffer) runs on every buffer registration."""
    return _registration(H._global_buffer_registration_hooks, hook)


def register_module_module_registration_hook(hook: Callable) -> RemovableHandle:
    """hook(module, name, submodule) runs on every submodule registration."""
    return _registration(H._global_module_registration_hooks, hook)


def register_module_parameter_registration_hook(hook: Callable) -> RemovableHandle:
    """hook(module, name, param) runs on every parameter registration."""
    return _registration(H._global_parameter_registration_hooks, hook)


def _any_global_hooks() -> bool:
    return bool(
        H._global_forward_pre_hooks or H._global_forward_hooks
        or H._global_backward_pre_hooks or H._global_backward_hooks
    )


class ModuleHooksMixin:
    """The hook half of Module (kept apart to keep files small)."""

    # --- registration ----------------------------------------------------------------------
    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """hook(module, args) (or (module, args, kwargs) with_kwargs) before forward; it may
        return new args (or (args, kwargs))."""
        handle = RemovableHandle(
            self._forward_pre_hooks, extra_dict=self._forward_pre_hooks_with_kwargs
        )
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False,
                              with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """hook(module, args, output) (or (module, args, kwargs, output)) after forward; it
        may return a new output. always_call: also run when forward raises."""
        handle = RemovableHandle(
            self._forward_hooks,
            extra_dict=[self._forward_hooks_with_kwargs, self._forward_hooks_always_called],
        )
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_pre_hook(self, hook: Callable,
                                        prepend: bool = False) -> RemovableHandle:
        """hook(module, grad_output) when the gradients of the outputs are known; it may
        return a new grad_output."""
        handle = RemovableHandle(self._backward_pre_hooks)
        self._backward_pre_hooks[handle.id] = hook
        if prepend:
            self._backward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_hook(self, hook: Callable,
                                    prepend: bool = False) -> RemovableHandle:
        """hook(module, grad_input, grad_output) when the gradients of the inputs are known
        (of the outputs, if no input requires grad); it may return a new grad_input."""
        if self._is_full_backward_hook is False:
            raise RuntimeError(_MIXED_MSG)
        self.__dict__["_is_full_backward_hook"] = True
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        if prepend:
            self._backward_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_backward_hook(self, hook: Callable) -> RemovableHandle:
        """Deprecated hook on the grad_fn of the module's output: hook(module, grad_input,
        grad_output) with that node's gradients."""
        if self._is_full_backward_hook is True:
            raise RuntimeError(_MIXED_MSG)
        self.__dict__["_is_full_backward_hook"] = False
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        return handle

    def register_state_dict_pre_hook(self, hook: Callable) -> RemovableHandle:
        """hook(module, prefix, keep_vars) before state_dict collects this module."""
        handle = RemovableHandle(self._state_dict_pre_hooks)
        self._state_dict_pre_hooks[handle.id] = hook
        return handle

    def register_state_dict_post_hook(self, hook: Callable) -> RemovableHandle:
        """hook(module, state_dict, prefix, local_metadata) after state_dict; returns None."""
        hook._from_public_api = True
        handle = RemovableHandle(self._state_dict_hooks)
        self._state_dict_hooks[handle.id] = hook
        return handle

    def _register_state_dict_hook(self, hook: Callable) -> RemovableHandle:
        if getattr(hook, "_from_public_api", False):
            raise RuntimeError(
                "Cannot register the same function as the state dict post hook that was "
                "previously registered via register_state_dict_post_hook"
            )
        handle = RemovableHandle(self._state_dict_hooks)
        self._state_dict_hooks[handle.id] = hook
        return handle

    def register_load_state_dict_pre_hook(self, hook: Callable) -> RemovableHandle:
        """hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs) before this module loads its part."""
        handle = RemovableHandle(self._load_state_dict_pre_hooks)
        self._load_state_dict_pre_hooks[handle.id] = _WithModule(hook, self)
        return handle

    def register_load_state_dict_post_hook(self, hook: Callable) -> RemovableHandle:
        """hook(module, incompatible_keys) after loading; may edit the key lists in place."""
        handle = RemovableHandle(self._load_state_dict_post_hooks)
        self._load_state_dict_post_hooks[handle.id] = hook
        return handle

    def _get_backward_hooks(self):
        full, non_full = [], []
        if H._global_is_full_backward_hook[0] is True:
            full += H._global_backward_hooks.values()
        if self._is_full_backward_hook is True:
            full += self._backward_hooks.values()
        if H._global_is_full_backward_hook[0] is False:
            non_full += H._global_backward_hooks.values()
        if self._is_full_backward_hook is False:
            non_full += self._backward_hooks.values()
        return full, non_full

    # --- calling -----------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks or self._backward_hooks
                or self._backward_pre_hooks or H._global_forward_pre_hooks
                or H._global_forward_hooks or H._global_backward_pre_hooks
                or H._global_backward_hooks):  # (_any_global_hooks, inlined)
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    _call_impl = __call__

    def _call_with_hooks(self, args, kwargs):
        result = None
        called_always = set()
        try:
            full_bw, non_full_bw = [], []
            bw_pre = []
            if self._backward_pre_hooks or H._global_backward_pre_hooks:
                bw_pre = [*H._global_backward_pre_hooks.values(),
                          *self._backward_pre_hooks.values()]
            if self._backward_hooks or H._global_backward_hooks:
                full_bw, non_full_bw = self._get_backward_hooks()
            for hid, hook in (*H._global_forward_pre_hooks.items(),
                              *self._forward_pre_hooks.items()):
                if hid in self._forward_pre_hooks_with_kwargs:
                    res = hook(self, args, kwargs)
                    if res is not None:
                        if isinstance(res, tuple) and len(res) == 2:
                            args, kwargs = res
                        else:
                            raise RuntimeError(
                                "forward pre-hook must return None or a tuple of (new_args, "
                                f"new_kwargs), but got {res}."
                            )
                else:
                    res = hook(self, args)
                    if res is not None:
                        args = res if isinstance(res, tuple) else (res,)
            bw_hook = None
            if full_bw or bw_pre:
                bw_hook = BackwardHook(self, full_bw, bw_pre)
                args = bw_hook.setup_input_hook(args)
            result = self.forward(*args, **kwargs)
            for hid, hook in (*H._global_forward_hooks.items(), *self._forward_hooks.items()):
                if (hid in self._forward_hooks_always_called
                        or hid in H._global_forward_hooks_always_called):
                    called_always.add(hid)
                if (hid in self._forward_hooks_with_kwargs
                        or hid in H._global_forward_hooks_with_kwargs):
                    res = hook(self, args, kwargs, result)
                else:
                    res = hook(self, args, result)
                if res is not None:
                    result = res
            if bw_hook is not None:
                if not isinstance(result, (Tensor, tuple)):
                    warnings.warn(
                        "For backward hooks to be called, module output should be a Tensor or "
                        f"a tuple of Tensors but received {type(result)}", stacklevel=2,
                    )
                result = bw_hook.setup_output_hook(result)
            if non_full_bw:
                var = result
                while not isinstance(var, Tensor):
                    if isinstance(var, dict):
                        var = next(v for v in var.values() if isinstance(v, Tensor))
                    else:
                        var = var[0]
                fn = var.grad_fn
                if fn is not None:
                    _add_node_post_hooks(fn, self, non_full_bw)
            return result
        except Exception:
            self._run_always_called(args, kwargs, result, called_always)
            raise

    def _run_always_called(self, args, kwargs, result, called) -> None:
        for hid, hook in H._global_forward_hooks.items():
            if hid in H._global_forward_hooks_always_called and hid not in called:
                try:
                    res = hook(self, args, result)
                    if res is not None:
                        result = res
                except Exception as e:
                    warnings.warn(
                        "global module forward hook with ``always_call=True`` raised an "
                        f"exception that was silenced as another error was raised in forward: "
                        f"{str(e)}", stacklevel=2,
                    )
        for hid, hook in self._forward_hooks.items():
            if hid in self._forward_hooks_always_called and hid not in called:
                try:
                    if hid in self._forward_hooks_with_kwargs:
                        res = hook(self, args, kwargs, result)
                    else:
                        res = hook(self, args, result)
                    if res is not None:
                        result = res
                except Exception as e:
                    warnings.warn(
                        "module forward hook with ``always_call=True`` raised an exception that "
                        f"was silenced as another error was raised in forward: {str(e)}",
                        stacklevel=2,
                    )


class _WithModule:
    """A load_state_dict pre-hook called with its module as first argument."""

    def __init__(self, hook, module) -> None:
        self.hook = hook
        self.module = module

    def __call__(self, *args, **kwargs):
        return self.hook(self.module, *args, **kwargs)


def _add_node_post_hooks(node, module, hooks) -> None:
    """Old-style backward hooks: hook(module, grad_input, grad_output) on one grad_fn."""
    for hook in hooks:
        def run(outs, grads, hook=hook):
            return hook(module, outs, grads)

        node.register_hook(run)

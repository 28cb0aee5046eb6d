"""state_dict and load_state_dict for Module."""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Mapping

from ..._tensor import Tensor
from ...autograd import grad_mode
from ..parameter import Parameter

__all__ = ["state_dict", "load_from_state_dict", "load_state_dict"]

_EXTRA = "_extra_state"


def state_dict(module, args, destination, prefix, keep_vars):
    if args:
        warnings.warn(
            "Positional args are being deprecated, use kwargs instead. Refer to "
            "https://pytorch.org/docs/main/generated/torch.nn.Module.html"
            "#torch.nn.Module.state_dict for details.",
            FutureWarning, stacklevel=3,
        )
        if destination is None:
            destination = args[0]
        if len(args) > 1 and prefix == "":
            prefix = args[1]
        if len(args) > 2 and keep_vars is False:
            keep_vars = args[2]
    if destination is None:
        destination = OrderedDict()
        destination._metadata = OrderedDict()
    local_metadata = dict(version=module._version)
    if hasattr(destination, "_metadata"):
        destination._metadata[prefix[:-1]] = local_metadata
    for hook in module._state_dict_pre_hooks.values():
        hook(module, prefix, keep_vars)
    module._save_to_state_dict(destination, prefix, keep_vars)
    for name, child in module._modules.items():
        if child is not None:
            child.state_dict(destination=destination, prefix=prefix + name + ".",
                             keep_vars=keep_vars)
    for hook in module._state_dict_hooks.values():
        res = hook(module, destination, prefix, local_metadata)
        if not getattr(hook, "_from_public_api", False):
            if res is not None:
                destination = res
        elif res is not None:
            raise RuntimeError("state_dict post-hook must return None")
    return destination


def _overrides(module, name: str) -> bool:
    from .module import Module

    return getattr(type(module), name) is not getattr(Module, name)


def load_from_state_dict(module, sd, prefix, local_metadata, strict, missing_keys,
                         unexpected_keys, error_msgs) -> None:
    for hook in module._load_state_dict_pre_hooks.values():
        hook(sd, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
    local_state = {k: v for k, v in module._parameters.items() if v is not None}
    for k, v in module._buffers.items():
        if v is not None and k not in module._non_persistent_buffers_set:
            local_state[k] = v
    assign = local_metadata.get("assign_to_params_buffers", False)
    for name, param in local_state.items():
        key = prefix + name
        if key not in sd:
            if strict:
                missing_keys.append(key)
            continue
        value = sd[key]
        if not isinstance(value, Tensor):
            error_msgs.append(
                f'While copying the parameter named "{key}", expected tapegrad.Tensor or '
                f"Tensor-like object from checkpoint but received {type(value)}"
            )
            continue
        if param.dim() == 0 and value.dim() == 1 and value.shape[0] == 1:
            value = value[0]
        if value.shape != param.shape:
            error_msgs.append(
                f"size mismatch for {key}: copying a param with shape {value.shape} from "
                f"checkpoint, the shape in current model is {param.shape}."
            )
            continue
        try:
            with grad_mode.no_grad():
                if assign:
                    if isinstance(param, Parameter):
                        if not isinstance(value, Parameter):
                            value = Parameter(value, requires_grad=param.requires_grad)
                        else:
                            value.requires_grad_(param.requires_grad)
                    setattr(module, name, value)
                else:
                    param.copy_(value)
        except Exception as ex:
            error_msgs.append(
                f'While copying the parameter named "{key}", whose dimensions in the model are '
                f"{param.size()} and whose dimensions in the checkpoint are {value.size()}, "
                f"an exception occurred : {ex.args}."
            )
    extra_key = prefix + _EXTRA
    if _overrides(module, "set_extra_state"):
        if extra_key in sd:
            module.set_extra_state(sd[extra_key])
        elif strict:
            missing_keys.append(extra_key)
    elif strict and extra_key in sd:
        unexpected_keys.append(extra_key)
    if strict:
        for key in sd:
            if key.startswith(prefix) and key != extra_key:
                parts = key[len(prefix):].split(".", 1)
                if len(parts) > 1:
                    if parts[0] not in module._modules:
                        unexpected_keys.append(key)
                elif parts[0] not in local_state:
                    unexpected_keys.append(key)


def load_state_dict(module, sd, strict: bool, assign: bool):
    from .module import _IncompatibleKeys

    if not isinstance(sd, Mapping):
        raise TypeError(f"Expected state_dict to be dict-like, got {type(sd)}.")
    missing: list[str] = []
    unexpected: list[str] = []
    errors: list[str] = []
    metadata = getattr(sd, "_metadata", None)
    sd = OrderedDict(sd)
    if metadata is not None:
        sd._metadata = metadata

    def load(mod, local_sd, prefix="") -> None:
        local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
        if assign:
            local_metadata["assign_to_params_buffers"] = assign
        mod._load_from_state_dict(local_sd, prefix, local_metadata, True, missing, unexpected,
                                  errors)
        for name, child in mod._modules.items():
            if child is not None:
                child_prefix = prefix + name + "."
                child_sd = {k: v for k, v in local_sd.items() if k.startswith(child_prefix)}
                load(child, child_sd, child_prefix)
        keys = _IncompatibleKeys(missing, unexpected)
        for hook in mod._load_state_dict_post_hooks.values():
            if hook(mod, keys) is not None:
                raise AssertionError(
                    "Hooks registered with ``register_load_state_dict_post_hook`` are not "
                    "expected to return new values, if incompatible_keys need to be modified, "
                    "it should be done inplace."
                )

    load(module, sd)
    if strict:
        if unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                ", ".join(f'"{k}"' for k in unexpected)))
        if missing:
            errors.insert(0, "Missing key(s) in state_dict: {}. ".format(
                ", ".join(f'"{k}"' for k in missing)))
    if errors:
        raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
            module.__class__.__name__, "\n\t".join(errors)))
    return _IncompatibleKeys(missing, unexpected)

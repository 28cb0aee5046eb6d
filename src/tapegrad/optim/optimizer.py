"""The Optimizer base class: parameter groups, per-parameter state, state dicts and hooks.

Subclasses set `defaults` (the hyper-parameters every group falls back on) and implement
`step(closure=None)`. The first instance of each class wraps its `step` once so that the
global and per-instance step pre/post hooks run around it, as PyTorch does.
"""

from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from copy import deepcopy
from itertools import chain
from typing import Any

from .._tensor import Tensor
from . import _kernels as K
from ._common import _check_group, _float, _new_scalar, _zeros_like

__all__ = ["Optimizer", "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook"]

StateDict = dict[str, Any]


class _RequiredParameter:
    """Marks a hyper-parameter that every parameter group must give (no default)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()

_global_step_pre_hooks: OrderedDict = OrderedDict()
_global_step_post_hooks: OrderedDict = OrderedDict()


def _handle(hooks: OrderedDict, hook: Callable, prepend: bool = False):
    from ..nn.modules._hooks import RemovableHandle

    h = RemovableHandle(hooks)
    hooks[h.id] = hook
    if prepend:
        hooks.move_to_end(h.id, last=False)
    return h


def register_optimizer_step_pre_hook(hook: Callable):
    """Register `hook(optimizer, args, kwargs)` to run before every optimizer's step."""
    return _handle(_global_step_pre_hooks, hook)


def register_optimizer_step_post_hook(hook: Callable):
    """Register `hook(optimizer, args, kwargs)` to run after every optimizer's step."""
    return _handle(_global_step_post_hooks, hook)


def _typename(obj) -> str:
    """PyTorch's `torch.typename`: 'tapegrad.FloatTensor' for tensors, else module.qualname."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = obj.__class__.__module__ or ""
        qualname = obj.__class__.__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


def _with_hooks(step: Callable) -> Callable:
    """Wrap a subclass's step: run the pre hooks (which may replace args and kwargs), the step,
    then the post hooks."""

    @functools.wraps(step)
    def wrapper(*args, **kwargs):
        self = args[0]
        for pre in chain(_global_step_pre_hooks.values(), self._optimizer_step_pre_hooks.values()):
            res = pre(self, args, kwargs)
            if res is not None:
                if isinstance(res, tuple) and len(res) == 2:
                    args, kwargs = res
                else:
                    raise RuntimeError(
                        f"{step} must return None or a tuple of (new_args, new_kwargs), but got "
                        f"{res}."
                    )
        out = step(*args, **kwargs)
        for post in chain(
            self._optimizer_step_post_hooks.values(), _global_step_post_hooks.values()
        ):
            post(self, args, kwargs)
        return out

    wrapper.hooked = True
    return wrapper


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of tensors, of (name, tensor) pairs, or of dicts defining
            parameter groups (each with a "params" entry and optional hyper-parameters).
        defaults: the hyper-parameters used where a group does not set them.

    >>> import tapegrad
    >>> w = tapegrad.ones(2, requires_grad=True)
    >>> opt = tapegrad.optim.SGD([w], lr=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([0., 0.], requires_grad=True)
    """

    def _patch_step_function(self) -> None:
        # the first instance of a class wraps the step it has (own or inherited) with the
        # hook runner, as PyTorch does
        cls = self.__class__
        if not getattr(cls.step, "hooked", False):
            cls.step = _with_hooks(cls.step)

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict = OrderedDict()
        self._patch_step_function()
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                "dicts, but got " + _typename(params)
            )
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # --- pickling --------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
                     "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                     "_optimizer_load_state_dict_pre_hooks",
                     "_optimizer_load_state_dict_post_hooks"):
            if name not in self.__dict__:
                setattr(self, name, OrderedDict())
        self._patch_step_function()
        self.defaults.setdefault("differentiable", False)

    def __repr__(self) -> str:
        text = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    # --- groups ------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (a dict with "params" and optional hyper-parameters)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        tensors, names = [], []
        for p in params:
            if isinstance(p, tuple):
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are "
                    "missing"
                )
            param_group["param_names"] = names
        differentiable = self.defaults.get("differentiable", None)
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    + _typename(p)
                )
            if not differentiable and not (
                p._grad_fn is None or (p._extra and p._extra.get("retains_grad"))
            ):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization parameter "
                    f"{name}"
                )
            param_group.setdefault(name, default)
        if len(tensors) != len(set(tensors)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this "
                "will cause an error; see github.com/pytorch/pytorch/issues/40967 for more "
                "information",
                stacklevel=3,
            )
        seen: set = set()
        for group in self.param_groups:
            seen.update(group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. cannot add param "
                    f"group {which} to the optimizer"
                )
        if not seen.isdisjoint(tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # --- gradients ---------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors: to None (default) or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if set_to_none:
                    p._grad = None
                else:
                    if g._grad_fn is not None:
                        g.detach_()
                    else:
                        g._requires_grad = False
                    g._data[...] = 0
                    g._bump_version()

    def step(self, closure: Callable[[], float] | None = None):
        """Perform one optimization step (re-evaluating the loss with closure if given)."""
        raise NotImplementedError

    # --- state dicts -------------------------------------------------------------------
    def state_dict(self) -> StateDict:
        """{'state': {index: per-parameter state}, 'param_groups': [group with 'params' as
        indices]}; parameters are numbered in order of appearance across the groups."""
        for pre in self._optimizer_state_dict_pre_hooks.values():
            pre(self)
        index: dict[int, int] = {}
        start = 0
        packed_groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                index.setdefault(id(p), i)
            packed["params"] = [index[id(p)] for p in group["params"]]
            start += len(packed["params"])
            packed_groups.append(packed)
        packed_state = {
            (index[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()
        }
        sd = {"state": packed_state, "param_groups": packed_groups}
        for post in self._optimizer_state_dict_post_hooks.values():
            res = post(self, sd)
            if res is not None:
                sd = res
        return sd

    @staticmethod
    def _cast_state_value(param: Tensor, value: Tensor, fused_or_capturable: bool, key) -> Tensor:
        # 'step' keeps its dtype (float32 when fused or capturable); other floating state
        # takes a floating parameter's dtype. Tensors already right are reused, not copied.
        if key == "step":
            if fused_or_capturable:
                from .. import float32

                return value.to(dtype=float32)
            return value
        if param.is_floating_point():
            return value.to(dtype=param.dtype)
        return value

    def load_state_dict(self, state_dict: StateDict) -> None:
        """Load a state dict made by `state_dict()` (of an optimizer with matching groups)."""
        state_dict = state_dict.copy()
        for pre in self._optimizer_load_state_dict_pre_hooks.values():
            res = pre(self, state_dict)
            if res is not None:
                state_dict = res
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group"
            )
        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )
        saved_param_groups = state_dict["param_groups"]

        def special(pid) -> bool:
            for pg in saved_param_groups:
                if pid in pg["params"]:
                    return bool(pg.get("fused", False) or pg.get("capturable", False))
            return False

        def cast(param, value, pid, key=None):
            if isinstance(value, Tensor):
                return Optimizer._cast_state_value(param, value, special(pid), key)
            if isinstance(value, dict):
                return {k: cast(param, v, pid, k) for k, v in value.items()}
            if isinstance(value, Iterable) and not isinstance(value, str):
                return type(value)(cast(param, v, pid) for v in value)
            return value

        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = cast(param, v, k)
            else:
                state[k] = v

        new_groups = []
        for g, ng in zip(groups, saved_groups):
            ng["params"] = g["params"]
            if "param_names" in g and "param_names" not in ng:
                ng["param_names"] = g["param_names"]
            new_groups.append(ng)
        self.__setstate__({"state": state, "param_groups": new_groups})
        for post in self._optimizer_load_state_dict_post_hooks.values():
            post(self)

    # --- shared by the algorithms' step() ---------------------------------------------------
    _state_keys: tuple[str, ...] = ()

    def _init_state(self, p: Tensor, state: dict, group: dict) -> None:
        """Fill p's empty state: 'step' 0 and a zero tensor like p for each of _state_keys."""
        state["step"] = _new_scalar(0.0)
        for key in self._state_keys:
            state[key] = _zeros_like(p)

    def _each_param(self, group: dict, *, stateful: bool = True,
                    what: str = "params and state_steps", xla: bool = True):
        """Yield (p, pa, g, state, t) for each parameter of group that has a gradient.

        pa and g are p's data and gradient as real arrays (complex ones viewed as pairs of
        reals). g is negated when maximize; weight decay adds wd * p to g, or when decoupled
        first shrinks p <- p (1 - lr * wd). With stateful, every empty state is filled by
        _init_state before the group is checked (as PyTorch does) and each 'step' counts up
        by one before its parameter comes (t: the new count as a float); otherwise state and
        t are None. p's version is bumped after the caller's in-place update, when the loop
        asks for the next parameter.
        """
        params = [p for p in group["params"] if p._grad is not None]
        if stateful:
            states = [self.state[p] for p in params]
            for p, st in zip(params, states):
                if len(st) == 0:
                    self._init_state(p, st, group)
        else:
            states = [None] * len(params)
        _check_group(group, params, what, xla)
        maximize = group["maximize"]
        wd = _float(group["weight_decay"])
        decoupled = wd != 0 and group.get("decoupled_weight_decay", False)
        shrink = 1 - _float(group["lr"]) * wd if decoupled else None
        for p, st in zip(params, states):
            pa = p._data
            g = p._grad._data
            # complex tensors are updated through their views as pairs of reals (the kind
            # test inline: this loop is per parameter and per step)
            if pa.dtype.kind == "c":
                pa = K.real(pa)
            if g.dtype.kind == "c":
                g = K.real(g)
            if maximize:
                g = K.neg(g)
            t = None
            if st is not None:
                t_arr = st["step"]._data
                t_arr += 1
                t = float(t_arr)
            if wd != 0:
                if decoupled:
                    K.mul(pa, shrink, out=pa)
                else:
                    g = K.axpy(g, pa, wd)
            yield p, pa, g, st, t
            p._bump_version()

    def _restore_defaults(self, group_defaults: dict, scalars: tuple[str, ...] = ("step",)):
        """After unpickling an older optimizer: give each group the keys it lacks and turn
        per-parameter scalars that were saved as numbers into 0-d tensors."""
        for group in self.param_groups:
            for key, value in group_defaults.items():
                group.setdefault(key, value)
            for p in group["params"] if scalars else ():
                st = self.state.get(p, {})
                if len(st) != 0:
                    for key in scalars:
                        if not isinstance(st[key], Tensor):
                            st[key] = _new_scalar(float(st[key]))

    # --- hooks -------------------------------------------------------------------------
    def register_step_pre_hook(self, hook: Callable):
        """Run `hook(optimizer, args, kwargs)` before each step; it may return new
        (args, kwargs)."""
        return _handle(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable):
        """Run `hook(optimizer, args, kwargs)` after each step."""
        return _handle(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook: Callable, prepend: bool = False):
        """Run `hook(optimizer)` before state_dict()."""
        return _handle(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable, prepend: bool = False):
        """Run `hook(optimizer, state_dict)` after state_dict(); it may return a new dict."""
        return _handle(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable, prepend: bool = False):
        """Run `hook(optimizer, state_dict)` before load_state_dict(); it may return a new
        dict."""
        return _handle(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable, prepend: bool = False):
        """Run `hook(optimizer)` after load_state_dict()."""
        return _handle(self._optimizer_load_state_dict_post_hooks, hook, prepend)

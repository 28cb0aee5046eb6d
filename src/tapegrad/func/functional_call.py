"""functional_call: run a module with some parameters and buffers swapped for given tensors.

The module's own tensors are put back afterwards, even if the call raises. Names are dotted
paths as in `named_parameters()` ("layer1.weight"); a name the module lacks becomes a plain
attribute for the call. With tie_weights (the default), a value given for one of several tied
names (the same tensor registered twice) is used for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

from .._tensor import Tensor

__all__ = ["functional_call", "stack_module_state"]

_MISSING: Any = object()


def _module_cls():
    from ..nn.modules.module import Module

    return Module


class _Accessor:
    """Submodules by dotted path (cached) and tensor swapping on them."""

    def __init__(self, module) -> None:
        self.module = module
        self.memo: dict = {}

    def submodule(self, name: str):
        if not name:
            return self.module
        if name in self.memo:
            return self.memo[name]
        prefix, dot, attr = name.rpartition(".")
        parent = self.submodule(prefix) if dot else self.module
        try:
            sub = getattr(parent, attr)
        except AttributeError as ex:
            raise AttributeError(f"{parent._get_name()} has no attribute `{attr}`") from ex
        if not isinstance(sub, _module_cls()):
            raise TypeError(
                f"submodule `{name}`: {sub} is not an instance of tapegrad.nn.Module"
            )
        self.memo[name] = sub
        return sub

    def swap(self, name: str, value):
        """Put value (or remove the entry, for _MISSING) at name; return what was there."""
        prefix, _, attr = name.rpartition(".")
        module = self.submodule(prefix)
        if value is not _MISSING and value is not None and not isinstance(value, Tensor):
            raise TypeError(f"{value} is not an instance of tapegrad.Tensor")
        if "." in attr:  # pragma: no cover - rpartition leaves none
            raise KeyError('tensor name can\'t contain "."')
        if attr == "":
            raise KeyError('tensor name can\'t be empty string ""')
        for store in (module._parameters, module._buffers):
            if attr in store:
                orig = store[attr]
                if value is _MISSING:
                    del store[attr]
                else:
                    store[attr] = value
                return orig
        orig = getattr(module, attr) if hasattr(module, attr) else _MISSING
        if orig is not _MISSING and orig is not None and not isinstance(orig, Tensor):
            raise TypeError(f"attribute `{attr}`: {orig} is not an instance of tapegrad.Tensor")
        if value is not _MISSING:
            setattr(module, attr, value)
        elif hasattr(module, attr):
            delattr(module, attr)
        return orig

    def swap_all(self, named: dict) -> dict:
        done: dict = {}
        try:
            for name, value in named.items():
                done[name] = self.swap(name, value)
        except Exception:
            for name, orig in done.items():
                self.swap(name, orig)
            raise
        return done


def _untie(module, given: dict) -> dict:
    """given, extended to every name tied to a given name; two different values for one set
    of tied names is an error."""
    named: dict = {}
    named.update(module.named_parameters(remove_duplicate=False))
    named.update(module.named_buffers(remove_duplicate=False))
    names_of: dict = {}
    for name, t in named.items():
        names_of.setdefault(id(t), set()).add(name)
    tied = {n: s for s in names_of.values() if len(s) > 1 for n in s}
    given_tied = {n for n in given if n in tied}
    for n in given_tied:
        group = tied[n]
        if len(group & given_tied) > 1 and len({id(given[m]) for m in group if m in given}) != 1:
            raise ValueError(
                f"functional_call got multiple values for keys {sorted(group)}, which are tied. "
                "Consider using tie_weights=False"
            )
    out = dict(given)
    for n in given_tied:
        for m in tied[n]:
            out[m] = given[n]
    return out


@contextmanager
def _reparametrize(module, given: dict, tie_weights: bool, strict: bool):
    named = _untie(module, given) if tie_weights else given
    acc = _Accessor(module)
    if strict:
        valid = {n for n, _ in module.named_parameters(remove_duplicate=False)}
        valid |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
        keys = set(named)
        missing, unexpected = sorted(valid - keys), sorted(keys - valid)
        msgs = []
        if unexpected:
            msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
        if missing:
            msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if msgs:
            raise RuntimeError(
                f"Error(s) in reparametrizing for {module._get_name()}:\n\t" + "\n\t".join(msgs)
            )
    orig: dict = {}
    try:
        orig = acc.swap_all(named)
        yield
    finally:
        # put the module's tensors back; what the call left there (a buffer it reassigned)
        # goes back into the caller's dict, as PyTorch does
        now = acc.swap_all(orig)
        given.update({k: now[k] for k in given if k in now})


def functional_call(module, parameter_and_buffer_dicts, args: Any = None,
                    kwargs: dict | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """Call module(*args, **kwargs) with its parameters and buffers replaced by the tensors in
    parameter_and_buffer_dicts (one dict, or a sequence of dicts with distinct keys).

    >>> import tapegrad
    >>> from tapegrad.func import functional_call
    >>> lin = tapegrad.nn.Linear(2, 1)
    >>> w = {"weight": tapegrad.ones(1, 2), "bias": tapegrad.zeros(1)}
    >>> functional_call(lin, w, tapegrad.tensor([[1., 2.]]))
    tensor([[3.]])
    """
    if isinstance(parameter_and_buffer_dicts, dict):
        given = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, Sequence):
        dicts = parameter_and_buffer_dicts
        if not all(isinstance(d, dict) for d in dicts):
            raise ValueError(
                "Expected all elements of parameter_and_buffer_dicts to be dictionaries"
            )
        counts: dict = {}
        for d in dicts:
            for k in d:
                counts[k] = counts.get(k, 0) + 1
        repeated = [k for k, n in counts.items() if n > 1]
        if repeated:
            raise ValueError(
                f"{repeated} appeared in multiple dictionaries; behavior of functional call is "
                "ambiguous"
            )
        given = {k: v for d in dicts for k, v in d.items()}
    else:
        raise ValueError(
            "Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but "
            f"got {type(parameter_and_buffer_dicts)}"
        )
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrize(module, given, tie_weights, strict):
        return module(*args, **kwargs)


def stack_module_state(models) -> tuple[dict, dict]:
    """(params, buffers): each model's tensors of one name stacked along a new first
    dimension (for ensembling; stacked parameters are new leaves).

    >>> import tapegrad
    >>> from tapegrad.func import stack_module_state
    >>> params, _ = stack_module_state([tapegrad.nn.Linear(2, 1) for _ in range(3)])
    >>> params["weight"].shape
    tapegrad.Size([3, 1, 2])
    """
    from .. import stack

    if len(models) == 0:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or all(not m.training for m in models)):
        raise RuntimeError(
            "stack_module_state: Expected all models to have the same training/eval mode."
        )
    if not all(type(m) is type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")

    def stacked(per_model: list) -> dict:
        out = {}
        for k in per_model[0]:
            ts = [d[k] for d in per_model]
            flags = {t.requires_grad for t in ts}
            if len(flags) > 1:
                raise RuntimeError(f"Expected {k} from each model to have the same .requires_grad")
            s = stack(ts)
            out[k] = s.detach().requires_grad_() if flags == {True} else s
        return out

    return (stacked([dict(m.named_parameters()) for m in models]),
            stacked([dict(m.named_buffers()) for m in models]))

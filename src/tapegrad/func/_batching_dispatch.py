"""Routing calls with batched tensors to batching rules, and the per-sample fallback.

While a vmap call runs, the public functions (`tapegrad.<op>`, `tapegrad.nn.functional.<op>`,
`tapegrad.linalg.<op>`, `tapegrad.special.<op>`, the op aliases that `nn.modules` import) and
Tensor's methods and operators are replaced by dispatchers: a dispatcher passes plain calls
to the original function, and calls with a BatchedTensor argument to the op's batching rule.
The originals are put back when the outermost vmap returns, so nothing changes (and nothing
costs) outside vmap.

A rule gets (op, args, kwargs, level) and computes on physical values with the batch dim at
0, calling public functions and methods again (they dispatch, so nested vmap levels compose).
A rule returns NotImplemented for cases it does not cover; those and ops without a rule run
first as the op's own body on the batched values (its decomposition into other ops, see
`_batching_composite`); where that fails, and where a rule fails, they run as a loop over
the samples whose results are stacked, with PyTorch's performance warning.
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings

from .._tensor import Tensor
from . import _batching_composite as composite
from ._batching_core import STATE, BatchedTensor, vmap_error

__all__ = ["rule", "RULES", "Op", "redispatch", "call_method", "wrap_out", "inplace_error",
           "display_name"]

RULES: dict = {}
RANDOM: set = set()  # rule keys of random ops: their dispatchers check vmap's randomness mode


def rule(*names: str, random: bool = False):
    """Register a batching rule under these keys ("sum", "F.linear", "Tensor.view", ...)."""

    def deco(fn):
        for n in names:
            RULES[n] = fn
            if random:
                RANDOM.add(n)
        return fn

    return deco


class Op:
    """One dispatchable function: its name (the rule key without namespace), the name shown in
    warnings, the original function, and its rule (or None)."""

    __slots__ = ("name", "qualname", "orig", "rule", "inplace", "random", "_sig", "_plan")

    def __init__(self, name: str, qualname: str, orig, rule_fn, random: bool) -> None:
        self.name = name
        self.qualname = qualname
        self.orig = orig
        self.rule = rule_fn
        self.random = random
        self.inplace = (name.endswith("_") and not name.endswith("__")) or (
            name.startswith("__i") and name not in ("__invert__", "__init__"))
        self._sig = None
        self._plan = None

    def signature(self):
        if self._sig is None:
            sig = inspect.signature(self.orig)
            kinds = [p.kind for p in sig.parameters.values()]
            if self.inplace and inspect.Parameter.VAR_POSITIONAL in kinds[1:2]:
                # an in-place wrapper (self, *args, **kwargs): the out-of-place op's parameters
                out_of_place = _tensor_orig(self.name[:-1])
                if callable(out_of_place):
                    sig = inspect.signature(out_of_place)
            self._sig = sig
        return self._sig

    def bind(self, args, kwargs):
        """The call's arguments by parameter name (defaults applied)."""
        plan = self._plan
        if plan is None:
            plan = self._plan = _bind_plan(self.signature())
        if plan:  # parameters by name or position only, no *args/**kwargs: bound directly
            arguments = _bind_fast(plan, args, kwargs)
            if arguments is not None:
                return inspect.BoundArguments(self._sig, arguments)
        ba = self.signature().bind(*args, **kwargs)
        ba.apply_defaults()
        return ba


_EMPTY = inspect.Parameter.empty
_MISSING = object()
_SIMPLE = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _bind_fast(plan, args, kwargs):
    """The arguments by name in signature order with defaults applied (as inspect's bind and
    apply_defaults give them), or None where inspect must bind them (and raise its error)."""
    names, npos, defaults = plan
    if len(args) > npos:
        return None
    given = dict(zip(names, args))
    if kwargs:
        for k, v in kwargs.items():
            if k in given or k not in defaults:
                return None
            given[k] = v
    arguments = {}
    for name in names:
        v = given.get(name, _MISSING)
        if v is _MISSING:
            v = defaults[name]
            if v is _EMPTY:
                return None
        arguments[name] = v
    return arguments


def _bind_plan(sig):
    """(names in order, how many may come by position, {name: default or _EMPTY}) for a
    signature of plain and keyword-only parameters; () for any other (inspect binds those)."""
    params = list(sig.parameters.values())
    if any(p.kind not in _SIMPLE for p in params):
        return ()
    npos = sum(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)
    if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params[:npos]):
        return ()
    return tuple(p.name for p in params), npos, {p.name: p.default for p in params}


# --- scanning arguments -------------------------------------------------------------------
def _level_of(args, kwargs) -> int:
    """The highest vmap level among the BatchedTensors in args/kwargs (one list deep), or 0."""
    lv = 0
    for a in args:
        t = type(a)
        if t is BatchedTensor:
            if a._level > lv:
                lv = a._level
        elif t is list or t is tuple:
            for b in a:
                if type(b) is BatchedTensor and b._level > lv:
                    lv = b._level
    if kwargs:
        for a in kwargs.values():
            t = type(a)
            if t is BatchedTensor:
                if a._level > lv:
                    lv = a._level
            elif t is list or t is tuple:
                for b in a:
                    if type(b) is BatchedTensor and b._level > lv:
                        lv = b._level
    return lv


def redispatch(op: Op, args, kwargs=None):
    """Call op: by its rule when a BatchedTensor is among the arguments, else the original."""
    kwargs = kwargs or {}
    if _level_of(args, kwargs):
        return batched_call(op, args, kwargs)
    if op.random and STATE.layers:
        return random_call(op, args, kwargs)
    return op.orig(*args, **kwargs)


# --- results --------------------------------------------------------------------------------
def wrap_out(out, level: int):
    """Every tensor in out (tuples, lists and named tuples followed) batched at level."""
    t = type(out)
    if t is Tensor or t is BatchedTensor:
        return BatchedTensor(out, level)
    if isinstance(out, Tensor):  # a subclass (Parameter)
        return BatchedTensor(out, level)
    if isinstance(out, tuple):
        items = [wrap_out(o, level) for o in out]
        if hasattr(t, "n_fields"):  # tapegrad.return_types
            return t(items)
        if hasattr(t, "_fields"):
            return t(*items)
        return tuple(items)
    if t is list:
        return [wrap_out(o, level) for o in out]
    return out


PERF_WARNING = (
    "There is a performance drop because we have not yet implemented the batching rule for "
    "{}. Please file us an issue on GitHub so that we can prioritize its implementation."
)


def batched_call(op: Op, args, kwargs):
    if kwargs and kwargs.get("out") is not None:
        raise out_error(op)
    level = _level_of(args, kwargs)
    size = STATE.size(level)
    saved = STATE.ceiling
    STATE.ceiling = level
    try:
        if op.random:
            composite.check_draw()
            layer = STATE.by_level[level]
            return op.rule(op, args, kwargs, level, layer)
        if op.rule is not None:
            try:
                out = op.rule(op, args, kwargs, level)
            except Exception as e:
                if getattr(e, "_tapegrad_vmap", False) or size == 0:
                    raise
                # a logical error shows on the first sample (raised from there, with the
                # per-sample message); otherwise the loop computes what the rule could not
                return fallback(op, args, kwargs, level, quiet_first=True)
            if out is not NotImplemented:
                return out
        # no rule for this call: the op's own body on the batched values, else the loop
        return composite.run(op, args, kwargs, level, saved, fallback)
    finally:
        STATE.ceiling = saved


def random_call(op: Op, args, kwargs):
    """A random op called with no batched argument while vmap is active: the innermost level
    below the running rule (if any) decides by its randomness mode."""
    composite.check_draw()
    ceiling = STATE.ceiling
    layer = None
    for lay in reversed(STATE.layers):
        if lay.level < ceiling:
            layer = lay
            break
    if layer is None:
        return op.orig(*args, **kwargs)
    saved = STATE.ceiling
    STATE.ceiling = layer.level
    try:
        if layer.level == STATE.looping:  # one sample of a per-sample loop at this level
            if layer.randomness == "error":
                from ._batching_rules_random import ERROR_MSG

                raise vmap_error(ERROR_MSG)
            return random_call(op, args, kwargs)  # ('same': the loop replays the generator)
        return op.rule(op, args, kwargs, layer.level, layer)
    finally:
        STATE.ceiling = saved


# --- the fallback: a loop over the samples -------------------------------------------------
def _select(x, level: int, i: int):
    if type(x) is BatchedTensor and x._level == level:
        return x._value.select(0, i)
    if type(x) in (list, tuple):
        return type(x)(_select(v, level, i) for v in x)
    return x


def inplace_error(name: str = "inplace arithmetic", level: int | None = None):
    """PyTorch's error for an in-place op whose `self` is not batched at a level where another
    argument is; `name`: the op as PyTorch's message names it (its batching rule's word, or
    the op itself where the per-sample fallback reports it, which also gives the `level`)."""
    where = "in a vmap" if level is None else f"at level {_depth(level)}"
    return vmap_error(
        f"vmap: {name}(self, *extra_args) is not possible because there exists a "
        "Tensor `other` in extra_args that has more elements than `self`. This happened due to "
        f"`other` being vmapped over but `self` not being vmapped over {where}. Please try to "
        f"use out-of-place operators instead of {name}. If said operator is being "
        "called inside the PyTorch framework, please file a bug report instead."
    )


def _depth(level: int) -> int:
    """A vmap level as PyTorch numbers it: by nesting depth (1 for the outermost)."""
    return next((i + 1 for i, lay in enumerate(STATE.layers) if lay.level == level), level)


def out_error(op: Op):
    """PyTorch's error for an op given `out=` under vmap (no rule writes into an out tensor)."""
    return vmap_error(
        f"Batching rule not implemented for {display_name(op)}.out; the fallback path doesn't "
        "work on out= or view ops."
    )


def display_name(op: Op) -> str:
    """The op as vmap's messages name it: `Tensor.pow_` for `x **= y` (PyTorch names the aten
    op, whichever Python spelling called it)."""
    q = op.qualname
    if q.startswith("Tensor.__") and not op.name.startswith("__"):
        return "Tensor." + op.name
    return q


def fallback(op: Op, args, kwargs, level: int, quiet_first: bool = False):
    """Run op once per sample and stack the results along a new dim 0 (batched at level)."""
    from ._pytree import tree_flatten, tree_unflatten

    size = STATE.size(level)
    msg = PERF_WARNING.format(display_name(op))
    if op.inplace and args and not (type(args[0]) is BatchedTensor and args[0]._level == level):
        # (PyTorch's fallback warns, then finds it cannot write the batch into `self`)
        warnings.warn(msg, UserWarning, stacklevel=_user_stacklevel())
        raise inplace_error(display_name(op), level)
    if not quiet_first:
        warnings.warn(msg, UserWarning, stacklevel=_user_stacklevel())
    flat, spec = tree_flatten((args, kwargs))
    pos = [i for i, x in enumerate(flat) if type(x) is BatchedTensor and x._level == level]
    if size == 0:
        return _empty_batch(op, flat, spec, pos, level)
    results = []
    same = STATE.by_level[level].randomness == "same"
    if same:  # every sample draws what the first one draws
        from .. import get_rng_state, set_rng_state

        rng = get_rng_state()
    saved = STATE.ceiling, STATE.looping
    STATE.ceiling, STATE.looping = level + 0.5, level
    try:
        for i in range(size):
            f2 = list(flat)
            for p in pos:
                f2[p] = flat[p]._value.select(0, i)
            a2, k2 = tree_unflatten(f2, spec)
            if same:
                set_rng_state(rng)
            results.append(redispatch(op, a2, k2))
            if quiet_first and i == 0:
                warnings.warn(msg, UserWarning, stacklevel=_user_stacklevel())
    finally:
        STATE.ceiling, STATE.looping = saved
    if op.inplace:
        return args[0]
    return stack_results(results, level, op)


_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _user_stacklevel() -> int:
    """The stacklevel of the first frame outside tapegrad (where the user called the op)."""
    f = sys._getframe(1)
    level = 1
    while f is not None and f.f_code.co_filename.startswith(_PKG):
        f = f.f_back
        level += 1
    return level


def _empty_batch(op, flat, spec, pos, level):
    """A batch of 0 samples: run one sample of zeros for the result shapes, keep none of it."""
    from ._pytree import tree_unflatten

    f2 = list(flat)
    for p in pos:
        v = flat[p]._value
        f2[p] = v.new_zeros(tuple(v.shape[1:]))
    a2, k2 = tree_unflatten(f2, spec)
    one = redispatch(op, a2, k2)

    def empty(r):
        if isinstance(r, Tensor):
            return BatchedTensor(r.unsqueeze(0)[:0], level)
        if isinstance(r, tuple):
            return type(r)(empty(x) for x in r) if not hasattr(type(r), "_fields") else \
                type(r)(*[empty(x) for x in r])
        return r

    return empty(one)


def stack_results(results: list, level: int, op: Op):
    from .. import stack

    first = results[0]
    if isinstance(first, Tensor):
        return BatchedTensor(stack(results, 0), level)
    if isinstance(first, tuple):
        parts = [stack_results([r[k] for r in results], level, op) for k in range(len(first))]
        t = type(first)
        if hasattr(t, "n_fields"):
            return t(parts)
        if hasattr(t, "_fields"):
            return t(*parts)
        return tuple(parts)
    if isinstance(first, list):
        return [stack_results([r[k] for r in results], level, op) for k in range(len(first))]
    if all(r == first for r in results[1:]):
        return first
    raise vmap_error(
        f"vmap: {op.qualname} returned a non-tensor value that differs between samples; "
        "vmap can only batch tensor results"
    )


# --- Tensor methods on batched tensors --------------------------------------------------------
_TENSOR_ORIG: dict = {}  # Tensor's own class attributes before any swap
_METHOD_OPS: dict = {}


def _tensor_orig(name: str):
    if name in _TENSOR_ORIG:
        return _TENSOR_ORIG[name]
    return getattr(Tensor, name, None)


def method_op(name: str) -> Op | None:
    op = _METHOD_OPS.get(name)
    if op is None:
        orig = _tensor_orig(name)
        if orig is None:
            return None
        if isinstance(orig, property):
            orig = orig.fget
        key = _rule_key(name, "Tensor")
        op = Op(_base_name(name), f"Tensor.{name}", orig, RULES.get(key) if key else None,
                key in RANDOM)
        _METHOD_OPS[name] = op
    return op


def call_method(name: str, self, args, kwargs):
    op = method_op(name)
    if op is None:
        raise AttributeError(f"'Tensor' object has no attribute '{name}'")
    return batched_call(op, (self,) + tuple(args), kwargs)


def tensor_attribute(bt, name: str):
    """bt.<name> for a Tensor method or property not defined on BatchedTensor itself."""
    if name.startswith("_"):
        raise AttributeError(
            f"'BatchedTensor' object has no attribute '{name}': a tapegrad function got a "
            "batched tensor without going through vmap's dispatch (it was probably imported "
            "by name before vmap ran); call it as tapegrad.<name>, tapegrad.nn.functional.<name> "
            "or a Tensor method inside vmap"
        )
    orig = _tensor_orig(name)
    if orig is None:
        raise AttributeError(f"'Tensor' object has no attribute '{name}'")
    if isinstance(orig, property):
        key = _rule_key(name, "Tensor")
        if key is None:
            raise vmap_error(
                f"vmap: the Tensor attribute '{name}' is not supported on batched tensors"
            )
        return call_method(name, bt, (), {})

    def bound(*args, **kwargs):
        return call_method(name, bt, args, kwargs)

    bound.__name__ = name
    return bound


# --- rule lookup ------------------------------------------------------------------------------
_DUNDER_NAMES = {
    "__add__": "add", "__radd__": "add", "__sub__": "sub", "__rsub__": "rsub",
    "__mul__": "mul", "__rmul__": "mul", "__truediv__": "div", "__rtruediv__": "rdiv",
    "__floordiv__": "floor_divide", "__rfloordiv__": "rfloor_divide", "__mod__": "remainder",
    "__rmod__": "rremainder", "__pow__": "pow", "__rpow__": "rpow", "__matmul__": "matmul",
    "__rmatmul__": "rmatmul", "__neg__": "neg", "__pos__": "positive", "__abs__": "abs",
    "__invert__": "bitwise_not", "__eq__": "eq", "__ne__": "ne", "__lt__": "lt", "__le__": "le",
    "__gt__": "gt", "__ge__": "ge", "__and__": "bitwise_and", "__rand__": "bitwise_and",
    "__or__": "bitwise_or", "__ror__": "bitwise_or", "__xor__": "bitwise_xor",
    "__rxor__": "bitwise_xor", "__iadd__": "add_", "__isub__": "sub_", "__imul__": "mul_",
    "__itruediv__": "div_", "__ifloordiv__": "floor_divide_", "__imod__": "remainder_",
    "__ipow__": "pow_", "__iand__": "bitwise_and_", "__ior__": "bitwise_or_",
    "__ixor__": "bitwise_xor_", "__getitem__": "__getitem__", "__setitem__": "__setitem__",
}


def _base_name(name: str) -> str:
    return _DUNDER_NAMES.get(name, name)


def _rule_key(name: str, ns: str) -> str | None:
    base = _base_name(name)
    for key in (f"{ns}.{name}", f"{ns}.{base}", name, base) if ns else (name, base):
        if key in RULES:
            if ns in ("linalg", "special") and "." not in key:
                return None  # those namespaces only use their own keys (or identity, below)
            return key
    return None

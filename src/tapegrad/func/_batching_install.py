"""Installing the dispatchers while vmap runs (see `_batching_dispatch`).

At the first vmap call every public function gets a dispatcher (aliases share one): the
attributes of tapegrad, tapegrad.nn.functional, tapegrad.linalg and tapegrad.special, the
module globals of tapegrad.ops.* and tapegrad.nn.* that name the same functions (layers and op
families that imported them directly, class-level `staticmethod(F.op)` of layers too), and
Tensor's methods and operators (except those that take no tensor but self: a plain tensor's
method never sees a batched argument then). They are swapped in when the first thread enters
vmap and back when the last one leaves (a count under a lock; each thread's vmap levels are its
own, see `_batching_core.STATE`): meanwhile a thread outside vmap goes through the dispatchers
with plain tensors, which pass its calls to the originals, random ones included.
"""

from __future__ import annotations

import functools
import gc
import importlib
import pkgutil
import sys
import threading
import types
import warnings

from .._tensor import Tensor
from ._batching_core import STATE, BatchedTensor
from ._batching_dispatch import (
    _TENSOR_ORIG,
    RANDOM,
    RULES,
    Op,
    _base_name,
    _level_of,
    _rule_key,
    batched_call,
    method_op,
    random_call,
)

__all__ = ["enter", "leave", "resolve"]


# --- installing the dispatchers -------------------------------------------------------------
_KEEP = frozenset({
    # no tensor computation, or already fine with batched tensors (they call its methods)
    "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state", "save", "load",
    "set_default_dtype", "get_default_dtype", "set_printoptions", "is_grad_enabled",
    "set_grad_enabled", "is_tensor", "numel", "is_floating_point", "is_complex",
    "promote_types", "can_cast", "is_inference_mode_enabled", "is_anomaly_enabled",
    "set_anomaly_enabled", "is_anomaly_check_nan_enabled", "set_default_tensor_type",
    "use_deterministic_algorithms", "are_deterministic_algorithms_enabled", "get_num_threads",
    "set_num_threads", "compile", "is_storage", "typename",
})
_TENSOR_KEEP = frozenset({"__init__", "__new__", "__hash__", "__repr__", "__format__",
                          "__deepcopy__", "__reduce_ex__", "__len__", "__iter__", "__bool__",
                          "__array__", "__array_wrap__", "__contains__", "__float__",
                          "__int__", "__index__", "__complex__"})

_SWAPS: list = []  # (owner, attribute, original, dispatcher)
_BUILT = False


def _make_dispatcher(op: Op):
    orig = op.orig

    if op.random:
        def dispatcher(*args, **kwargs):
            if _level_of(args, kwargs):
                return batched_call(op, args, kwargs)
            return random_call(op, args, kwargs)
    else:
        def dispatcher(*args, **kwargs):
            for a in args:
                t = type(a)
                if t is BatchedTensor or ((t is list or t is tuple) and _level_of(a, None)):
                    return batched_call(op, args, kwargs)
            if kwargs and _level_of((), kwargs):
                return batched_call(op, args, kwargs)
            return orig(*args, **kwargs)

    dispatcher.__name__ = getattr(orig, "__name__", op.name)
    dispatcher.__qualname__ = getattr(orig, "__qualname__", op.name)
    dispatcher.__doc__ = getattr(orig, "__doc__", None)
    dispatcher.__wrapped__ = orig
    return dispatcher


def _self_only_methods() -> set:
    """Tensor methods that take no tensor but self: a plain tensor's method then never sees a
    batched argument, so it needs no dispatcher (fewer class attributes to swap per call)."""
    from ..ops.unary import UNARY
    from ._batching_rules_pointwise import _UNARY_MORE
    from ._batching_rules_reduce import _ALL, _FLAT, _NEEDS_DIM

    names = set(UNARY) | (set(_UNARY_MORE) - {"to", "zeros_like", "ones_like", "empty_like",
                                               "full_like"})
    names |= {n for n in _ALL + _FLAT + _NEEDS_DIM if "." not in n} - {"quantile",
                                                                       "nanquantile", "diff"}
    names |= {n + "_" for n in names}
    names |= {
        "view", "reshape", "permute", "transpose", "t", "flatten", "unflatten", "squeeze",
        "unsqueeze", "expand", "repeat", "flip", "roll", "narrow", "movedim", "moveaxis",
        "split", "chunk", "unbind", "tensor_split", "hsplit", "vsplit", "dsplit", "diagonal",
        "diag_embed", "diag", "tril", "triu", "trace", "tile", "ravel", "swapaxes", "swapdims",
        "sum_to_size", "fliplr", "flipud", "rot90", "argmax", "argmin", "sort",
        "argsort", "topk", "kthvalue", "median", "mode", "msort", "size", "dim", "numel",
        "nelement", "stride", "element_size", "is_contiguous", "is_floating_point",
        "is_complex", "is_signed", "data_ptr", "storage_offset", "get_device", "retain_grad",
        "register_hook", "register_post_accumulate_grad_hook", "detach", "detach_", "item",
        "tolist", "numpy", "zero_",
    }
    return names


def _load_rules() -> None:
    from . import __name__ as pkg
    from . import __path__ as path

    for info in pkgutil.iter_modules(path):
        if info.name.startswith("_batching_rules"):
            importlib.import_module(f"{pkg}.{info.name}")


def _build() -> None:
    """Make every dispatcher once (at the first vmap call)."""
    global _BUILT
    import tapegrad
    from tapegrad import linalg, special
    from tapegrad.nn import functional as F

    _load_rules()
    for name, value in vars(Tensor).items():
        _TENSOR_ORIG[name] = value
    by_func: dict = {}  # id(original function) -> its dispatcher (aliases share one)
    spaces = (("", tapegrad, "tapegrad."), ("F", F, "tapegrad.nn.functional."),
              ("linalg", linalg, "tapegrad.linalg."), ("special", special, "tapegrad.special."))
    for ns, mod, prefix in spaces:
        for name, fn in list(vars(mod).items()):
            if (not isinstance(fn, types.FunctionType) or name.startswith("_")
                    or name in _KEEP or fn.__module__.startswith("tapegrad.func")):
                continue
            disp = by_func.get(id(fn))
            if disp is None or ns == "F":
                key = _rule_key(name, ns)
                if key is None and id(fn) in by_func:
                    disp = by_func[id(fn)]
                else:
                    op = Op(_base_name(name), prefix + name, fn,
                            RULES.get(key) if key else None, key in RANDOM)
                    disp = _make_dispatcher(op)
                    by_func.setdefault(id(fn), disp)
            _SWAPS.append((mod, name, fn, disp))
    self_only = _self_only_methods()
    for name, fn in _TENSOR_ORIG.items():
        if not isinstance(fn, types.FunctionType) or name in _TENSOR_KEEP:
            continue
        disp = _make_dispatcher(method_op(name))
        by_func.setdefault(id(fn), disp)
        if name not in self_only:
            _SWAPS.append((Tensor, name, fn, disp))
    # modules that imported op functions directly (nn layers, op families calling each
    # other): their module globals dispatch too
    from tapegrad.nn import modules

    for info in pkgutil.iter_modules(modules.__path__):
        importlib.import_module(f"{modules.__name__}.{info.name}")
    mods = [m for n, m in list(sys.modules.items()) if m is not None and n.startswith(
        ("tapegrad.ops.", "tapegrad.nn.", "tapegrad.linalg.")) and m not in (F, linalg)]
    for mod in mods:
        for name, fn in list(vars(mod).items()):
            if isinstance(fn, types.FunctionType) and id(fn) in by_func:
                _SWAPS.append((mod, name, fn, by_func[id(fn)]))
            elif isinstance(fn, type) and fn.__module__ == mod.__name__:
                # layers keeping an op as a class attribute: `_fn = staticmethod(F.max_pool2d)`
                for attr, v in list(vars(fn).items()):
                    if isinstance(v, staticmethod) and id(v.__func__) in by_func:
                        _SWAPS.append((fn, attr, v, staticmethod(by_func[id(v.__func__)])))
    from ..autograd.function import Function

    orig_apply = Function.__dict__["apply"]
    _ORIG_APPLY[0] = orig_apply.__func__
    _SWAPS.append((Function, "apply", orig_apply, _function_apply(orig_apply)))
    DISPATCHERS.update(by_func)
    _BUILT = True


DISPATCHERS: dict = {}  # id(original function) -> its dispatcher


def resolve(func):
    """The function vmap should call for func: a public op given by its original function
    object (vmap(tapegrad.dot), vmap(Tensor.sum), a partial of one, a plain tensor's bound
    method) is called through its dispatcher, so that its batching rule runs."""
    disp = DISPATCHERS.get(id(func))
    if disp is not None:
        return disp
    if isinstance(func, functools.partial):
        inner = resolve(func.func)
        if inner is not func.func:
            return functools.partial(inner, *func.args, **func.keywords)
    if isinstance(func, types.MethodType) and id(func.__func__) in DISPATCHERS:
        return functools.partial(DISPATCHERS[id(func.__func__)], func.__self__)
    if isinstance(func, types.MethodType) and isinstance(func.__self__, type) and \
            func.__func__ is _ORIG_APPLY[0]:  # MyFunction.apply, fetched before vmap ran
        return func.__self__.apply
    return func


_ORIG_APPLY: list = [None]


# --- swapping them in and out ------------------------------------------------------------------
# The swap is precomputed once (at the first vmap call) and touches as little as it can, since
# every attribute it writes costs a (mostly cache-missing) write in and another one out:
# - A module's attributes are read either as globals by the functions defined in it (through
#   its __dict__) or as attributes (`tapegrad.add`, `from .binary import add`, getattr). Its
#   __dict__ takes the dispatchers of the names its own functions may read as globals (the
#   co_names of their code), and its __class__ becomes a module subclass whose
#   __getattribute__ answers every dispatched name with its dispatcher: one assignment in
#   place of hundreds of dict writes (e.g. `tapegrad` itself: ~400 names, 6 functions using
#   it as globals). A module whose functions may read their globals dynamically (globals(),
#   vars(), eval, ...) takes every dispatcher in its __dict__.
# - A class's attributes (Tensor's ~300 methods and operators above all) go through the dict
#   behind its mappingproxy, then one ordinary setattr per class: setattr is what tells CPython
#   that the class changed (its attribute caches and its subclasses' start over). Dunders are
#   swapped that way only between plain functions, so the C-level slots (which look the
#   method up in the class on every call) stay valid.
# The plan is checked once by swapping in and out and reading every attribute back; where any
# of this does not hold (not CPython), every attribute is written the plain way (setattr).
_UPDATES: list = []  # (dict.update bound to a namespace, (dispatchers, originals))
_SETATTRS: list = []  # (class or module, name, (dispatcher, original))
_LOCK = threading.RLock()  # re-entrant: a vmap started while the lock is held cannot hang
_ACTIVE = [0]  # threads inside vmap; the dispatchers are in while it is non-zero
_DYNAMIC = frozenset({"globals", "vars", "eval", "exec", "__dict__", "f_globals", "_getframe"})
_MIN_INTERCEPT = 4  # fewer names than this left to intercept: the dict takes them all


def _global_reads(dicts: list) -> dict:
    """id(namespace) -> the names the functions using it as their globals may read as globals
    (the co_names of their code and nested code: LOAD_GLOBAL takes its names from there), or
    None where they may read it dynamically."""
    reads: dict = {id(d): set() for d in dicts}
    for f in gc.get_referrers(*dicts):
        if type(f) is not types.FunctionType or id(f.__globals__) not in reads:
            continue
        names = reads[id(f.__globals__)]
        if names is None:
            continue
        codes = [f.__code__]
        for c in codes:
            names.update(c.co_names)
            codes.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        if not _DYNAMIC.isdisjoint(names):
            reads[id(f.__globals__)] = None
    return reads


def _namespace_class(base: type, disp: dict) -> type:
    """A subclass of the module's class whose attribute reads give the dispatchers."""
    get = disp.get
    base_get = base.__getattribute__

    def getattribute(self, name):
        f = get(name)
        return base_get(self, name) if f is None else f

    return type(base.__name__, (base,), {"__getattribute__": getattribute,
                                         "__module__": __name__})


def _class_dict(cls):
    """The writable dict behind cls.__dict__, or None where it cannot be had safely."""
    proxy = cls.__dict__
    found = [r for r in gc.get_referents(proxy) if type(r) is dict]
    if len(found) != 1 or found[0].keys() != proxy.keys():
        return None
    return found[0]


def _plan(raw: bool = True) -> None:
    """Group the swaps of `_SWAPS` into the lists `_swap` walks (with the shortcuts above
    where `raw`, else every attribute written), then check the plan by swapping in and out."""
    _UPDATES.clear()
    _SETATTRS.clear()
    by_owner: dict = {}
    for owner, name, orig, disp in _SWAPS:
        entry = by_owner.setdefault(id(owner), (owner, {}, {}))
        entry[1][name], entry[2][name] = disp, orig
    modules = [vars(o) for o, _, _ in by_owner.values() if isinstance(o, types.ModuleType)]
    reads = _global_reads(modules) if raw else {}
    for owner, disp, orig in by_owner.values():
        if isinstance(owner, types.ModuleType):
            used = reads.get(id(vars(owner)))
            inner = [n for n in disp if n in used] if used is not None else list(disp)
            if len(disp) - len(inner) < _MIN_INTERCEPT:
                inner = list(disp)
            if inner:
                _UPDATES.append((vars(owner).update, ({n: disp[n] for n in inner},
                                                      {n: orig[n] for n in inner})))
            if len(inner) < len(disp):
                base = type(owner)
                _SETATTRS.append((owner, "__class__", (_namespace_class(base, disp), base)))
            continue
        d = _class_dict(owner) if raw else None
        if d is None:
            _SETATTRS.extend((owner, n, (disp[n], orig[n])) for n in disp)
            continue
        # a dunder goes raw only between plain functions (its C slot then stays valid)
        slow = [n for n in disp if n.startswith("__") and not (
            type(disp[n]) is types.FunctionType and type(orig[n]) is types.FunctionType)]
        # one more attribute through setattr (it refreshes the class's caches), the rest
        # raw; a name that is no slot keeps that setattr cheap
        rest = [n for n in disp if n not in slow]
        if not slow:
            last = next((n for n in rest if not n.startswith("__")), rest[0])
            rest.remove(last)
            slow.append(last)
        if rest:
            _UPDATES.append((d.update, ({n: disp[n] for n in rest},
                                        {n: orig[n] for n in rest})))
        _SETATTRS.extend((owner, n, (disp[n], orig[n])) for n in slow)
    ok = True
    for which in (0, 1):
        _swap(which)
        for owner, name, orig, disp in _SWAPS:
            ok = ok and _reads_back(owner, name, (disp, orig)[which])
    if not ok and raw:
        _plan(raw=False)


def _reads_back(owner, name: str, want) -> bool:
    """Whether owner.name is want, for a class also through its (refreshed) attribute caches
    and those of the subclasses that inherit it."""
    if isinstance(owner, types.ModuleType):
        return getattr(owner, name) is want
    if vars(owner).get(name) is not want:
        return False
    if not isinstance(owner, type) or not isinstance(want, types.FunctionType):
        return True
    todo = [owner]
    for c in todo:
        if c is owner or name not in vars(c):
            if getattr(c, name) is not want:
                return False
            todo.extend(c.__subclasses__())
    return True


def _swap(which: int) -> None:
    """Put the dispatchers in (which=0) or the originals back (which=1)."""
    for update, values in _UPDATES:
        update(values[which])
    for owner, name, values in _SETATTRS:
        setattr(owner, name, values[which])


def enter(size: int, randomness: str) -> int:
    """Open a vmap level in this thread; the first thread to enter installs the dispatchers."""
    if not STATE.layers:
        with _LOCK:
            if not _BUILT:
                _build()
                _plan()
            if not _ACTIVE[0]:
                _swap(0)
            _ACTIVE[0] += 1
    return STATE.push(size, randomness)


def leave() -> None:
    """Close this thread's innermost level; the last thread to leave puts the originals back."""
    st = STATE
    st.pop()
    if not st.layers:
        with _LOCK:
            _ACTIVE[0] -= 1
            if not _ACTIVE[0]:
                _swap(1)


# --- custom autograd.Function under vmap ------------------------------------------------------
class VmapInfo:
    """What an autograd.Function's vmap staticmethod is told about the vmap level."""

    __slots__ = ("batch_size", "randomness")

    def __init__(self, batch_size: int, randomness: str) -> None:
        self.batch_size = batch_size
        self.randomness = randomness

    def __repr__(self) -> str:
        return f"VmapInfo(batch_size={self.batch_size}, randomness='{self.randomness}')"


def _function_apply(orig_apply):
    """Function.apply while vmap runs: batched arguments go to the Function's own vmap
    staticmethod (given physical values with in_dims 0 or None; its (output, out_dims) come
    back batched), or, with generate_vmap_rule=True, to one apply per sample."""
    from ..autograd.function import Function
    from ._batching_core import vmap_error
    from ._batching_dispatch import fallback, wrap_out
    from ._pytree import tree_flatten, tree_unflatten

    def apply(cls, *args, **kwargs):
        level = _level_of(args, kwargs)
        if not level:
            return orig_apply.__func__(cls, *args, **kwargs)
        if cls.setup_context is Function.setup_context:
            raise vmap_error(
                "In order to use an autograd.Function with functorch transforms (vmap, grad, "
                "jvp, jacrev, ...), it must override the setup_context staticmethod. For more "
                "details, please see https://pytorch.org/docs/main/notes/extending.func.html"
            )
        if cls.vmap is not Function.vmap:
            layer = STATE.by_level[level]
            in_dims = tuple(0 if type(a) is BatchedTensor and a._level == level else None
                            for a in args)
            plain = [a._value if d == 0 else a for a, d in zip(args, in_dims)]
            out, out_dims = cls.vmap(VmapInfo(layer.size, layer.randomness), in_dims, *plain,
                                     **kwargs)
            flat, spec = tree_flatten(out)
            dims = [out_dims] * len(flat) if not isinstance(out_dims, tuple) else list(
                out_dims)
            res = [o if d is None else wrap_out(o if d == 0 else o.movedim(d, 0), level)
                   for o, d in zip(flat, dims)]
            return tree_unflatten(res, spec)
        if cls.generate_vmap_rule:
            op = Op("apply", f"{cls.__name__}.apply", functools.partial(
                orig_apply.__func__, cls), None, False)
            with warnings.catch_warnings():  # a generated rule: no performance warning
                warnings.simplefilter("ignore")
                return fallback(op, args, kwargs, level)
        raise vmap_error(
            f"You tried to vmap over {cls.__name__}, but it does not have vmap support. Please "
            "override and implement the vmap staticmethod or set generate_vmap_rule=True. For "
            "more details, please see https://pytorch.org/docs/main/notes/extending.func.html"
        )

    return classmethod(apply)

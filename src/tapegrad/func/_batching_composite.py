"""Ops without a batching rule run as their own decomposition before any per-sample loop.

Most public functions of tapegrad are written in terms of other public functions (losses,
tensordot, meshgrid, ...). While vmap runs those inner calls dispatch like any other, so
calling the original function itself on the BatchedTensors computes the batched result with
the inner ops' rules, as PyTorch's vmap does with CompositeImplicitAutograd ops. A function
that needs the values themselves fails loudly on a BatchedTensor (reading `._data` raises
AttributeError, `.item()` or `bool()` a vmap error, NumPy conversion an error), and then the
call runs as the per-sample loop after all, as it did without this step.

Safety of an attempt that fails halfway:
- only ops that do not write into their arguments are tried: no in-place ops (a trailing
  `_`), no `out=`, no random ops, and not the functions that update running statistics or
  renormalise an embedding table in place when given those arguments;
- an attempt may not draw random numbers: a random op called during it ends it (an
  exception that `except Exception` in the op's body does not catch), so the generator is
  left as it was and the per-sample loop draws as it did before this step existed;
- as a check, the version counters of the argument tensors must not have moved (an op that
  changed an input before failing cannot be re-run per sample: that is an error);
- warnings the attempt emits are held back in this thread (a hook on `warnings._showwarnmsg`
  that only the threads with an attempt running use): replayed in order when it succeeds;
  when it fails, the performance warnings of inner loops are dropped, and the others are
  shown beside the loop's own unless the loop showed the same message (so one the loop's
  warning filter now skips as already shown is shown once, from the attempt).
A failure is remembered per op and argument pattern (types, with the values of scalars and
strings), so a failing decomposition is not tried on every call; success is not cached (each
call tries, so a pattern that works never depends on an earlier call).
"""

from __future__ import annotations

import threading
import warnings

from .._tensor import Tensor
from ._batching_core import STATE, BatchedTensor, vmap_error

__all__ = ["run", "check_draw"]

_PERF_PREFIX = "There is a performance drop because we have not yet implemented"
_NEVER = frozenset({
    # methods with effects beyond their result, and item assignment
    "backward", "register_hook", "register_post_accumulate_grad_hook", "retain_grad",
    "__setitem__", "__delitem__", "__setstate__",
})
# parameters that make an op write into an argument when given (running statistics updated
# by batch_norm / instance_norm, the table renormalised by embedding / embedding_bag), or when
# true (inplace=True of the activations)
_MUTATING_PARAMS = ("running_mean", "running_var", "max_norm", "inplace")
_MUTATES: dict = {}  # op -> names of its parameters in _MUTATING_PARAMS (computed once)

_FAILS: dict = {}  # (op, argument pattern) -> True: its decomposition failed on such a call
_MAX_FAILS = 4096
_SCALARS = (int, float, bool, str, complex, type(None))
_B, _T = "<batched>", "<tensor>"


def _kind(a):
    t = type(a)
    if t is BatchedTensor:
        return _B
    if t in _SCALARS:
        return (t, a)
    if t is list or t is tuple:
        return (t, tuple(_kind(b) for b in a))
    if isinstance(a, Tensor):
        return _T
    return t


def _key(op, args, kwargs):
    if kwargs:
        return op, tuple(_kind(a) for a in args), tuple((k, _kind(v)) for k, v in
                                                        kwargs.items())
    return op, tuple(_kind(a) for a in args)


def _mutates(op, args, kwargs) -> bool:
    names = _MUTATES.get(op)
    if names is None:
        try:
            params = op.signature().parameters
        except (TypeError, ValueError):
            params = {}
        names = _MUTATES[op] = tuple(n for n in _MUTATING_PARAMS if n in params)
    if not names:
        return False
    try:
        bound = op.bind(args, kwargs).arguments
    except TypeError:
        return True  # the loop gives the error
    return any(bound.get(n) is not None and bound.get(n) is not False for n in names)


def _eligible(op, args, kwargs) -> bool:
    if op.inplace or op.random or op.name in _NEVER or op.name.startswith("register_"):
        return False
    if kwargs and kwargs.get("out") is not None:
        return False
    return not _mutates(op, args, kwargs)


# --- the version check ------------------------------------------------------------------------
def _tensors(args, kwargs) -> list:
    out = []

    def add(a):
        while type(a) is BatchedTensor:
            a = a._value
        if isinstance(a, Tensor):
            out.append(a)

    for a in (*args, *(kwargs.values() if kwargs else ())):
        if type(a) is list or type(a) is tuple:
            for b in a:
                add(b)
        else:
            add(a)
    return out


def _versions(ts: list) -> list:
    return [0 if t._vc is None else t._vc.value for t in ts]


# --- no random draws during an attempt ------------------------------------------------------------
_TLS = threading.local()  # .frames: this thread's lists of held warnings (innermost last);
# .attempts: how many attempts are running in this thread


class _Draw(BaseException):
    """A random op was called during an attempt (not an Exception: the op's body cannot catch
    it by accident)."""


def check_draw() -> None:
    """Called by the dispatcher before any random op runs under vmap."""
    if getattr(_TLS, "attempts", 0):
        raise _Draw


# --- holding back warnings ----------------------------------------------------------------------
_HOOK_LOCK = threading.Lock()
_HOOK_USERS = [0]
_ORIG_SHOW: list = [None]


def _hook(msg) -> None:
    frames = getattr(_TLS, "frames", None)
    if frames:
        frames[-1].append(msg)
        return
    _ORIG_SHOW[0](msg)


def _hold() -> list:
    """Start holding back this thread's warnings; the list they go to."""
    with _HOOK_LOCK:
        if not _HOOK_USERS[0]:
            _ORIG_SHOW[0] = warnings._showwarnmsg
            warnings._showwarnmsg = _hook
        _HOOK_USERS[0] += 1
    frames = getattr(_TLS, "frames", None)
    if frames is None:
        frames = _TLS.frames = []
    held: list = []
    frames.append(held)
    return held


def _release() -> None:
    """Stop holding (the innermost list of this thread)."""
    _TLS.frames.pop()
    with _HOOK_LOCK:
        _HOOK_USERS[0] -= 1
        if not _HOOK_USERS[0]:
            if warnings._showwarnmsg is _hook:  # (_ORIG_SHOW stays: a hook call in flight
                warnings._showwarnmsg = _ORIG_SHOW[0]  # in another thread still reads it)


def _show(msgs) -> None:
    """Show warnings already let through by the filters (to an enclosing hold, if any)."""
    for m in msgs:
        warnings._showwarnmsg(m)


def _ident(m) -> tuple:
    # (not the location: where a warning points, by its stacklevel, differs between the
    # attempt and the loop when it points into vmap's own frames)
    return str(m.message), m.category


# --- running an op as its decomposition ---------------------------------------------------------
_FAILED = object()


def run(op, args, kwargs, level: int, ceiling, loop):
    """op on batched arguments computed by its own body where that works, else by
    `loop(op, args, kwargs, level)` (the per-sample loop). `ceiling`: STATE.ceiling of the
    caller (the body runs as code at the caller's place: its random calls with no batched
    argument belong to this level too)."""
    if not _eligible(op, args, kwargs):
        return loop(op, args, kwargs, level)
    try:
        key = _key(op, args, kwargs)
        known_bad = key in _FAILS
    except TypeError:  # an unhashable argument
        key, known_bad = None, False
    if known_bad:
        return loop(op, args, kwargs, level)
    ts = _tensors(args, kwargs)
    before = _versions(ts)
    held = _hold()
    saved = STATE.ceiling
    STATE.ceiling = ceiling
    _TLS.attempts = getattr(_TLS, "attempts", 0) + 1
    try:
        out = op.orig(*args, **kwargs)
    except (Exception, _Draw):  # noqa: BLE001 - any failure: the loop computes it (or the error)
        out = _FAILED
    finally:
        _TLS.attempts -= 1
        STATE.ceiling = saved
        _release()
    if out is not _FAILED:
        _show(held)
        return out
    if key is not None:
        if len(_FAILS) >= _MAX_FAILS:
            _FAILS.clear()
        _FAILS[key] = True
    if _versions(ts) != before:
        raise vmap_error(
            f"vmap: {op.qualname} changed one of its arguments in place before it failed on "
            "batched tensors, so it cannot be run again per sample; call it outside vmap or "
            "on unbatched arguments"
        )
    early = [m for m in held if not str(m.message).startswith(_PERF_PREFIX)]
    if not early:
        return loop(op, args, kwargs, level)
    later = _hold()
    try:
        return loop(op, args, kwargs, level)
    finally:
        _release()
        shown = {_ident(m) for m in later}
        _show(later + [m for m in early if _ident(m) not in shown])

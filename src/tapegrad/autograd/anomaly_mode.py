"""Anomaly mode: find the forward operation behind a failing backward, and NaN gradients.

While anomaly mode is on (one process-wide switch, as PyTorch's):
- every node records the traceback of the forward call that created it, and the node whose
  backward was running if it was created during a backward pass (its "parent"), in
  `node.metadata` under PyTorch's keys `traceback_` and `parent_`;
- when a node's backward raises, a UserWarning names the node and shows those tracebacks, and
  the error propagates unchanged;
- with check_nan, a node whose backward returns NaN raises RuntimeError;
- (tapegrad's addition) each in-place change records where it happened, and the "modified by
  an inplace operation" error lists the changes made after the tensor was saved.

Nothing here costs anything while the mode is off: the hooks in Node.__init__,
Tensor._bump_version and the engine test one module-level flag.

>>> import tapegrad
>>> with tapegrad.autograd.set_detect_anomaly(True):
...     tapegrad.is_anomaly_enabled()
True
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
import warnings

__all__ = ["detect_anomaly", "set_detect_anomaly"]

_enabled = False
_check_nan = True

# the node whose backward this thread is running (parent of nodes created meanwhile)
_local = threading.local()

# frames inside the tapegrad package are left out of recorded tracebacks: what the user wants to
# see is the line of their own code that ran the operation
_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

_MAX_INPLACE_RECORDS = 32  # per version counter: the most recent in-place changes are kept

ANOMALY_HINT = (
    "Hint: the backtrace further above shows the operation that failed to compute its "
    "gradient. The variable in question was changed in there or anywhere later. Good luck!"
)


# --- the switch -------------------------------------------------------------------------------
def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """Turn anomaly mode on or off for the whole process (PyTorch's torch.set_anomaly_enabled).

    >>> import tapegrad
    >>> tapegrad.set_anomaly_enabled(False)
    >>> tapegrad.is_anomaly_enabled()
    False
    """
    global _enabled, _check_nan
    from .. import _tensor
    from . import graph

    _enabled = bool(enabled)
    _check_nan = bool(check_nan)
    graph._ANOMALY = _enabled
    _tensor._ANOMALY = _enabled


def is_anomaly_enabled() -> bool:
    """Whether anomaly mode is on.

    >>> import tapegrad
    >>> tapegrad.is_anomaly_enabled()
    False
    """
    return _enabled


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly mode checks backward results for NaN (its check_nan setting)."""
    return _check_nan


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """Context manager that turns anomaly mode on inside its block.

    Warns, when made, that the mode slows the program down. As PyTorch's, it is not a
    decorator.

    >>> import tapegrad, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     with tapegrad.autograd.detect_anomaly():
    ...         tapegrad.is_anomaly_enabled()
    True
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.prev = _enabled
        self.check_nan = check_nan
        self.prev_check_nan = _check_nan
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should "
            "only be enabled for debugging.",
            UserWarning,
            stacklevel=2,
        )

    def __enter__(self) -> None:
        set_anomaly_enabled(True, self.check_nan)

    def __exit__(self, *args: object) -> None:
        set_anomaly_enabled(self.prev, self.prev_check_nan)


class set_detect_anomaly:  # noqa: N801 - PyTorch's name
    """Set anomaly mode on or off at once; as a context manager, restore it on exit.

    >>> import tapegrad
    >>> with tapegrad.autograd.set_detect_anomaly(True, check_nan=False):
    ...     tapegrad.is_anomaly_check_nan_enabled()
    False
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = _enabled
        self.prev_check_nan = _check_nan
        set_anomaly_enabled(mode, check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *args: object) -> None:
        set_anomaly_enabled(self.prev, self.prev_check_nan)


# --- recording (called only while the mode is on) -----------------------------------------------
def _user_stack() -> list:
    """The current call stack without tapegrad's own frames, as PyTorch formats it."""
    frames = [f for f in traceback.extract_stack() if not f.filename.startswith(_PKG_DIR)]
    return traceback.format_list(frames)


def record_forward(node) -> None:
    """Store the forward traceback (and the parent node, during a backward) in node.metadata."""
    hooks = node._hooks
    if hooks is None:
        hooks = node._hooks = {}
    meta = hooks.get("metadata")
    if meta is None:
        meta = hooks["metadata"] = {}
    meta["traceback_"] = _user_stack()
    parent = getattr(_local, "node", None)
    if parent is not None:
        meta["parent_"] = parent


def record_inplace(vc) -> None:
    """Remember where the in-place change that took vc to its current version happened."""
    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_PKG_DIR):
        f = f.f_back
    where = "".join(traceback.format_list(traceback.extract_stack(f, limit=1))) if f else ""
    log = getattr(vc, "log", None)
    if log is None:
        log = vc.log = []
    log.append((vc.value, where))
    if len(log) > _MAX_INPLACE_RECORDS:
        del log[0]


def inplace_sites(saved) -> str:
    """tapegrad's addition to the "modified by an inplace operation" message: where the saved
    tensor was changed after it was saved (empty when nothing was recorded)."""
    t = saved.tensor
    vc = saved.vc if t is None else t._vc
    log = getattr(vc, "log", None) if vc is not None else None
    hits = [(v, w) for v, w in (log or ()) if v > saved.version]
    if not hits:
        if not _enabled:
            return ""
        return (
            "\n[tapegrad] No in-place change of this tensor was recorded: anomaly mode records "
            "where in-place changes happen only while it is on, so enable it before they run."
        )
    lines = ["\n[tapegrad] In-place changes of this tensor after it was saved (recorded in "
             "anomaly mode):"]
    for v, where in hits:
        lines.append(f"  to version {v}:")
        lines.append(where.rstrip("\n"))
    return "\n".join(lines)


# --- the engine's checks (called only while the mode is on) -------------------------------------
def set_current_node(node) -> None:
    _local.node = node


def current_node():
    return getattr(_local, "node", None)


def check_nan(node, outs, nexts) -> None:
    """PyTorch's check_nan: the first gradient (for an input that takes one) holding a NaN."""
    for i, g in enumerate(outs):
        if g is None or nexts[i][0] is None:
            continue
        while not hasattr(type(g), "_data"):  # a batch of gradients (vmap): its values
            g = g._value
        a = g._data
        if a.dtype.kind in "fc" and a.size and (a != a).any():
            raise RuntimeError(
                f"Function '{node.name()}' returned nan values in its {i}th output."
            )


def _warn(msg: str) -> None:
    # point the warning at the first frame outside tapegrad (the user's backward() call)
    f = sys._getframe(1)
    level = 1
    while f is not None and f.f_code.co_filename.startswith(_PKG_DIR):
        f = f.f_back
        level += 1
    warnings.warn(msg, UserWarning, stacklevel=level)


def _node_stack_warning(node, is_parent: bool) -> str:
    meta = node._hooks.get("metadata") if isinstance(node._hooks, dict) else None
    stack = meta.get("traceback_") if meta else None
    name = node.name()
    if stack is None:
        return (
            f"Error detected in {name}. No forward pass information available. Enable detect "
            "anomaly during forward pass for more information."
        )
    text = "".join(stack)
    if is_parent:
        return (
            f"\n\nPrevious calculation was induced by {name}. Traceback of forward call that "
            f"induced the previous calculation:\n{text}"
        )
    return f"Error detected in {name}. Traceback of forward call that caused the error:\n{text}"


def report_error(node) -> None:
    """Warn where the failing node (and each node whose backward created it) came from."""
    _warn(_node_stack_warning(node, False))
    seen = {id(node)}
    meta = node._hooks.get("metadata") if isinstance(node._hooks, dict) else None
    parent = meta.get("parent_") if meta else None
    while parent is not None and id(parent) not in seen:
        seen.add(id(parent))
        _warn(_node_stack_warning(parent, True))
        meta = parent._hooks.get("metadata") if isinstance(parent._hooks, dict) else None
        parent = meta.get("parent_") if meta else None


# --- tapegrad's explanation of "does not require grad" ------------------------------------------
def no_grad_cause(t) -> str:
    """Why tensor t (a root of backward without a graph) likely has no grad_fn."""
    from . import grad_mode

    dt = t._dtype
    if t._extra and t._extra.get("inference"):
        return (
            "[tapegrad] This tensor was created inside tapegrad.inference_mode(): tensors made "
            "there never record a graph. Compute it outside inference_mode (or use no_grad() "
            "only where no gradient is needed)."
        )
    if not (dt.is_floating_point or dt.is_complex):
        return (
            f"[tapegrad] This tensor has dtype {dt!r}: integer and boolean results (argmax, "
            "argmin, comparisons, integer division, ...) have no gradient. Differentiate a "
            "floating-point quantity instead."
        )
    if not grad_mode.state.enabled:
        return (
            "[tapegrad] Grad mode is disabled here (inside tapegrad.no_grad() or "
            "set_grad_enabled(False)), so operations run here record no graph: compute the "
            "tensor, and call backward, with grad mode enabled."
        )
    return (
        "[tapegrad] Likely causes: this tensor, or one it was computed from, was created under "
        "tapegrad.no_grad() or tapegrad.inference_mode(); came from .detach() or .data; or "
        "came from an operation without a gradient (argmax/argmin, comparisons, integer "
        "results, or a number taken out with .item()/.tolist() and made into a tensor again). "
        "Or none of the tensors it was computed from has requires_grad=True: create the inputs "
        "to differentiate with requires_grad=True (or call .requires_grad_() on them)."
    )


def add_no_grad_note(err: BaseException, t) -> BaseException:
    """Attach no_grad_cause(t) to err as an exception note (shown under the message in
    tracebacks; str(err) stays PyTorch's exact text). Python 3.10 has no notes: nothing added."""
    add = getattr(err, "add_note", None)
    if add is not None:
        add(no_grad_cause(t))
    return err

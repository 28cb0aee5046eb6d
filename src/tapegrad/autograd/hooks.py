"""Autograd hooks: user functions the engine calls with gradients during a backward pass.

Where each kind is kept (no structure here points back at what owns it, so hooks add no
reference cycles of their own; a hook that closes over its tensor is the user's cycle):
- a non-leaf tensor's hooks: an OrderedDict in `t._extra["hooks"]`, also listed on the grad_fn
  it had when the first one was registered (`grad_fn._pre_hooks.tensor`, with its output_nr).
  An in-place op that gives the tensor a new grad_fn leaves them on the old one (they see the
  gradient of the value before the change, as in PyTorch); later ones go to the new grad_fn.
- a leaf's hooks: only in `t._extra["hooks"]`. A leaf holds its AccumulateGrad weakly (it is
  remade when needed), so the engine reads them from `node.variable` when the node runs.
- retain_grad(): a weak reference to the tensor in `grad_fn._pre_hooks.retain[output_nr]`.
- Node.register_prehook: `node._pre_hooks.pre`; Node.register_hook: `node._hooks["post"]`.
- post-accumulate-grad hooks: `t._extra["post_acc_hooks"]`.

Order at one node (PyTorch's): tensor hooks (registration order, each seeing the previous
one's result) -> retain_grad (sees the result of all of them) -> node pre-hooks -> backward
function -> node post hooks. At a leaf's AccumulateGrad: tensor hooks -> pre-hooks ->
accumulation into .grad -> post-accumulate-grad hooks -> post hooks. In autograd.grad, a node
that is only captured (not run) still runs its tensor hooks and retain_grad, and the gradient
returned is their result. Hooks run whether or not a gradient arrived (they get None then).
"""

from __future__ import annotations

import functools
import itertools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence

from .graph import AccumulateGrad

__all__ = ["register_multi_grad_hook"]

_NO_GRAD_MSG = "cannot register a hook on a tensor that doesn't require gradient"
_RETAIN_MSG = "can't retain_grad on Tensor that has requires_grad=False"
_NONLEAF_POST_ACC_MSG = "post accumulate grad hooks cannot be registered on non-leaf tensors"


class PreHooks:
    """What `node._pre_hooks` holds: the hooks run on a node's incoming gradients."""

    __slots__ = ("tensor", "retain", "pre")

    def __init__(self) -> None:
        self.tensor: list = []  # (output_nr, OrderedDict of tensor hooks), registration order
        self.retain: dict = {}  # output_nr -> weak reference to the tensor retaining its grad
        self.pre = None  # OrderedDict of Node.register_prehook hooks, or None


def _pre_of(node) -> PreHooks:
    h = node._pre_hooks
    if h is None:
        h = node._pre_hooks = PreHooks()
    return h


def _extra_of(t) -> dict:
    e = t._extra
    if e is None:
        e = t._extra = {}
    return e


def _new_handle(d):
    from ..utils.hooks import RemovableHandle

    return RemovableHandle(d)


def _add(d: OrderedDict, hook):
    h = _new_handle(d)
    d[h.id] = hook
    return h


# --- registration ----------------------------------------------------------------------------
def register_tensor_hook(t, hook):
    """Tensor.register_hook: hook(grad) -> Tensor or None, run each time t's gradient is
    computed; a returned tensor replaces the gradient."""
    if not t._requires_grad:
        raise RuntimeError(_NO_GRAD_MSG)
    e = _extra_of(t)
    fn = t._grad_fn
    d = e.get("hooks")
    if d is None or e.get("hooks_fn") is not fn:
        # first hook, or the tensor got a new grad_fn (in-place op): a fresh dict for it
        d = OrderedDict()
        e["hooks"] = d
        e["hooks_fn"] = fn
        if fn is not None:
            _pre_of(fn).tensor.append((t._output_nr, d))
    return _add(d, hook)


def tensor_hooks(t):
    """The OrderedDict of t's hooks for its current grad_fn (PyTorch's `_backward_hooks`)."""
    e = t._extra
    if not e or e.get("hooks_fn", False) is not t._grad_fn:
        return None
    return e.get("hooks")


def retain_grad(t) -> None:
    """Tensor.retain_grad: fill a non-leaf's .grad during backward (a no-op on leaves)."""
    if not t._requires_grad:
        raise RuntimeError(_RETAIN_MSG)
    fn = t._grad_fn
    if fn is None:
        return
    e = _extra_of(t)
    if e.get("retains_grad"):
        return
    _pre_of(fn).retain[t._output_nr] = weakref.ref(t)
    e["retains_grad"] = True


def retains_grad(t) -> bool:
    e = t._extra
    return t._grad_fn is not None and bool(e) and bool(e.get("retains_grad"))


def on_new_grad_fn(t, old_fn) -> None:
    """Call after an in-place op replaced t's grad_fn (old_fn before): later hooks go to the
    new grad_fn, hooks already registered stay on old_fn, and retain_grad moves to the new
    one (so .grad is the gradient of the changed value), as PyTorch does."""
    e = t._extra
    if not e:
        return
    if "hooks" in e:
        del e["hooks"]
        del e["hooks_fn"]
    if e.get("retains_grad") and old_fn is not None and old_fn._pre_hooks is not None:
        retain = old_fn._pre_hooks.retain
        for nr, ref in list(retain.items()):
            if ref() is t:
                del retain[nr]
        if t._grad_fn is not None:
            _pre_of(t._grad_fn).retain[t._output_nr] = weakref.ref(t)


def register_post_accumulate_grad_hook(t, hook):
    """hook(t) runs after the gradient was accumulated into leaf t's .grad."""
    if not t._requires_grad:
        raise RuntimeError(_NO_GRAD_MSG)
    if t._grad_fn is not None:
        raise RuntimeError(_NONLEAF_POST_ACC_MSG)
    e = _extra_of(t)
    d = e.get("post_acc_hooks")
    if d is None:
        d = e["post_acc_hooks"] = OrderedDict()
    return _add(d, hook)


def register_node_hook(node, fn):
    """Node.register_hook: fn(grad_inputs, grad_outputs) after the node ran."""
    h = node._hooks
    if h is None:
        h = node._hooks = {}
    d = h.get("post")
    if d is None:
        d = h["post"] = OrderedDict()
    return _add(d, fn)


def register_node_prehook(node, fn):
    """Node.register_prehook: fn(grad_outputs) before the node runs."""
    h = _pre_of(node)
    if h.pre is None:
        h.pre = OrderedDict()
    return _add(h.pre, fn)


# --- checks on what hooks return (PyTorch's messages) ---------------------------------------
_LEGACY_STR = {"Byte", "Char", "Short", "Int", "Long", "Half", "Float", "Double"}


def _type_str(dt) -> str:
    """The tensor type name PyTorch prints in hook messages: 'tapegrad.FloatTensor', or
    'CPUBoolType' for the dtypes without a legacy tensor type."""
    name = dt._legacy[: -len("Tensor")]
    return f"tapegrad.{dt._legacy}" if name in _LEGACY_STR else f"CPU{name}Type"


def _hook_name(hook) -> str:
    name = getattr(hook, "__name__", None)
    return name if isinstance(name, str) else "<unknown>"


def _check_single(orig, res, hook):
    """res, a hook's replacement for the gradient orig, checked as PyTorch checks it."""
    from .._tensor import Tensor
    from .._tensor_convert import _tp_name

    if orig is None:
        raise RuntimeError("can't replace a None gradient with a non-None value")
    if not isinstance(res, Tensor):
        raise TypeError(f"expected Variable, but hook returned '{_tp_name(res)}'")
    if res._dtype is not orig._dtype:
        raise RuntimeError(
            f"hook '{_hook_name(hook)}' has changed the type of value (was "
            f"{_type_str(orig._dtype)} got {_type_str(res._dtype)})"
        )
    if tuple(res.shape) != tuple(orig.shape):  # (logical shapes: batched under vmap too)
        raise RuntimeError(f"hook '{_hook_name(hook)}' has changed the size of value")
    return res


def _check_tuple(orig: tuple, res, hook) -> tuple:
    from .._tensor_convert import _tp_name

    if not isinstance(res, tuple):
        raise TypeError(f"expected tuple, but hook returned '{_tp_name(res)}'")
    if len(res) != len(orig):
        raise RuntimeError(
            f"hook '{_hook_name(hook)}' has returned an incorrect number of values (got "
            f"{len(res)}, but expected {len(orig)})"
        )
    for o, r in zip(orig, res):
        if r is not None:
            _check_single(o, r, hook)
    return tuple(res)


def _call_tensor_hooks(d, g):
    for hook in tuple(d.values()):
        res = hook(g)
        if res is not None and res is not g:
            g = _check_single(g, res, hook)
    return g


def _call_tuple_hooks(d, first: tuple, *rest) -> tuple:
    """Call hook(first, *rest) for each hook; a returned tuple replaces `first`."""
    for hook in tuple(d.values()):
        res = hook(first, *rest)
        if res is not None and res is not first:
            first = _check_tuple(first, res, hook)
    return first


def _retain(t, g) -> None:
    # .grad = g the first time (a copy: g may be reused downstream), then .grad + g; under
    # create_graph the copy and the sum are recorded, as in PyTorch.
    if t is None or g is None:
        return
    old = t._grad
    t._grad = g.clone() if old is None else old + g


def _leaf_hooks(t):
    e = t._extra
    if not e or e.get("hooks_fn", False) is not None:
        return None
    return e.get("hooks")


# --- what the engine calls --------------------------------------------------------------------
def run_pre_hooks(node, grads, tensor_only: bool = False) -> list:
    """Tensor hooks, retain_grad and (unless tensor_only) node pre-hooks of a non-leaf node."""
    h = node._pre_hooks
    grads = list(grads)
    for nr, d in h.tensor:
        if d:
            grads[nr] = _call_tensor_hooks(d, grads[nr])
    if h.retain:
        for nr, ref in list(h.retain.items()):
            _retain(ref(), grads[nr])
    if not tensor_only and h.pre:
        grads = list(_call_tuple_hooks(h.pre, tuple(grads)))
    return grads


def run_capture_hooks(node, grads):
    """The hooks autograd.grad runs on a node it only captures a gradient from."""
    if type(node) is AccumulateGrad:
        d = _leaf_hooks(node.variable)
        return [_call_tensor_hooks(d, grads[0])] if d else grads
    if node._pre_hooks is None:
        return grads
    return run_pre_hooks(node, grads, tensor_only=True)


def run_accumulate_grad(node, grads, create_graph: bool) -> None:
    """A leaf's AccumulateGrad with its hooks: tensor hooks, pre-hooks, accumulation,
    post-accumulate-grad hooks, post hooks."""
    from . import engine

    var = node.variable
    g = grads[0]
    d = _leaf_hooks(var)
    if d:
        g = _call_tensor_hooks(d, g)
    h = node._pre_hooks
    if h is not None and h.pre:
        g = _call_tuple_hooks(h.pre, (g,))[0]
    if g is not None:
        engine._accumulate_into_leaf(var, g, create_graph)
    e = var._extra
    post_acc = e.get("post_acc_hooks") if e else None
    if post_acc:
        for hook in tuple(post_acc.values()):
            res = hook(var)
            if res is not None and res is not var:
                _check_single(var, res, hook)
    post = node._hooks.get("post") if node._hooks else None
    if post:
        _call_tuple_hooks(post, (), (g,))


def run_post_hooks(node, outs, grads) -> tuple:
    """Node post hooks: fn(grad_inputs, grad_outputs). They see the gradients as the inputs
    receive them (broadcasting undone, dtype cast, None where an input needs none)."""
    post = node._hooks.get("post")
    if not post:
        return outs
    from . import engine
    from .engine import _cast, _fit_batched, _sum_to

    fixed = []
    for i, ((nxt, _), g) in enumerate(zip(node._next, outs)):
        if g is not None:
            if nxt is None:
                g = None
            elif engine._BT is not None and type(g) is engine._BT:  # a batch of gradients
                shape, dt = node._in_meta[i]
                g = _fit_batched(g, shape, dt, node, i)
            else:
                shape, dt = node._in_meta[i]
                if g._data.shape != shape:
                    g = _sum_to(g, shape, node, i)
                if g._dtype is not dt:
                    g = _cast(g, dt)
        fixed.append(g)
    return _call_tuple_hooks(post, tuple(fixed), tuple(grads))


# --- the backward pass now running (for multi-grad hooks) ------------------------------------
class GraphTask:
    """One running backward pass: the nodes it reached and those it will execute."""

    __slots__ = ("id", "nodes", "wake", "accumulate", "__weakref__")

    def __init__(self, nodes, wake, accumulate: bool) -> None:
        self.id = next(_task_ids)
        self.nodes = nodes  # every node reached from the roots
        self.wake = wake  # the nodes that run or capture (None: all of them)
        self.accumulate = accumulate  # backward (True) or autograd.grad (False)


class _Tasks(threading.local):
    def __init__(self) -> None:
        self.stack: list = []


_tasks = _Tasks()
_task_ids = itertools.count()


def enter_task(nodes, wake, accumulate: bool) -> GraphTask:
    task = GraphTask(nodes, wake, accumulate)
    _tasks.stack.append(task)
    return task


def exit_task(task: GraphTask) -> None:
    stack = _tasks.stack
    if stack and stack[-1] is task:
        stack.pop()
    elif task in stack:
        stack.remove(task)


def current_task():
    stack = _tasks.stack
    return stack[-1] if stack else None


def will_engine_execute_node(node) -> bool:
    """Whether the backward pass now running will run (or capture at) this node."""
    task = current_task()
    if task is None:
        raise RuntimeError(
            "_get_should_execute_nodes should only be called during the backward pass"
        )
    if node is None or node not in task.nodes:
        return False
    if task.wake is None:
        return True
    if node not in task.wake:
        return False
    if type(node) is AccumulateGrad and not task.accumulate:
        raise RuntimeError(
            "A leaf node was passed to _will_engine_execute_node but we are currently running "
            "autograd.grad(). This is currently not supported."
        )
    return True


def _node_getter(t) -> Callable:
    """A function giving the node through which t's gradient flows, held weakly."""
    if t.requires_grad and t.grad_fn is None:
        ref = weakref.ref(t)

        def leaf_node():
            leaf = ref()
            acc = leaf._accum if leaf is not None else None
            return acc() if acc is not None else None

        return leaf_node
    if t.grad_fn is None:
        raise AssertionError("Expected gradient function to be set")
    return weakref.ref(t.grad_fn)


def register_multi_grad_hook(
    tensors: Sequence, fn: Callable, *, mode: str = "all"
):
    """Call fn once per backward pass with the gradients of several tensors.

    mode="all": fn(grads) after the gradient of every tensor this pass computes is known
    (a list, None for the tensors it does not reach); mode="any": fn(grad) with the first one.
    Returns a handle whose remove() removes it.

    >>> import tapegrad
    >>> a = tapegrad.ones(2, requires_grad=True)
    >>> b = tapegrad.ones(2, requires_grad=True)
    >>> h = tapegrad.autograd.graph.register_multi_grad_hook(
    ...     (a, b), lambda gs: print([g is not None for g in gs]))
    >>> (a * 2).sum().backward()
    [True, False]
    """
    from ..utils.hooks import _MultiHandle

    modes = ("all", "any")
    if mode not in modes:
        raise ValueError(f"Expects mode to be one of {modes} but got {mode}")
    if mode == "all":
        getters = [_node_getter(t) for t in tensors]
        n = len(getters)
        # per running pass: [hooks called so far, hooks expected, gradients]
        progress: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

        def inner(idx: int) -> Callable:
            def inner_hook(grad) -> None:
                task = current_task()
                if task is None:
                    raise AssertionError("expected this hook to be called inside a backward call")
                st = progress.get(task)
                if st is None:
                    expected = sum(will_engine_execute_node(get()) for get in getters)
                    st = progress[task] = [0, expected, [None] * n]
                st[2][idx] = grad
                st[0] += 1
                if st[0] == st[1]:
                    del progress[task]
                    fn(st[2])

            return inner_hook

        handles = tuple(t.register_hook(inner(i)) for i, t in enumerate(tensors))
    else:
        ran: weakref.WeakSet = weakref.WeakSet()  # passes in which fn already ran

        @functools.wraps(fn)
        def wrapped_fn(grad) -> None:
            task = current_task()
            if task is None:
                raise AssertionError("expected this hook to be called inside a backward call")
            if task in ran:
                return
            ran.add(task)
            fn(grad)

        handles = tuple(t.register_hook(wrapped_fn) for t in tensors if t.requires_grad)
    return _MultiHandle(handles)

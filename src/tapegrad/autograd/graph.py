"""Graph nodes (a tensor's grad_fn), AccumulateGrad for leaves, and saved-tensor records.

A Node is both the backward function of one op and its context: it holds the edges to the
nodes of the op's inputs (`next_functions`), the tensors the op saved, and any non-tensor
arguments its derivative needs. `vjp(*grads)` maps the gradients of the op's outputs to one
gradient per input (None where an input needs none); it is written in tapegrad ops so the
same code serves first and higher derivatives.
"""

from __future__ import annotations

import itertools
import threading
import weakref

__all__ = [
    "Node", "AccumulateGrad", "SavedTensor", "saved_tensors_hooks", "save_on_cpu",
    "disable_saved_tensors_hooks", "register_multi_grad_hook",
]

_seq_counter = itertools.count()
_ANOMALY = False  # anomaly mode (set by anomaly_mode): nodes then record their forward traceback

_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)


class _Freed:
    """Marks a node whose saved tensors were released after a backward pass."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return True


FREED = _Freed()


class VersionCounter:
    """Counts in-place modifications of a storage; shared by a tensor and its views."""

    __slots__ = ("value", "views", "log")  # log: in-place change sites (anomaly mode only)

    def __init__(self) -> None:
        self.value = 0
        self.views = None  # weak references to the storage's views (ops/_inplace_record.py)


_INFERENCE_SAVE_MSG = (
    "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
    "inference mode in computation tracked by autograd. To work around this, you can make a "
    "clone to get a normal tensor and use it in autograd, or use `tapegrad.no_grad()` instead "
    "of `tapegrad.inference_mode()`."
)


# --- saved-tensor hooks (autograd.graph.saved_tensors_hooks, see saved_hooks.py) ----------
class _HookStack(threading.local):
    """This thread's saved-tensor hooks: the (pack, unpack) pairs pushed, innermost last, and
    the message that refuses new ones while `disable_saved_tensors_hooks` is active."""

    pairs: tuple = ()
    disabled: str | None = None


hook_stack = _HookStack()
# How many pairs are pushed across all threads: saving a tensor reads this one global and
# looks at the thread-local stack only while it is non-zero.
_hooks_open = 0

_PACK_INPLACE_MSG = (
    "A saved tensor pack hook is modifying its input in place. Tensors provided as input to pack "
    "hook cannot be modified by in-place operations as this can lead to unexpected side-effects. "
    "Please open an issue if you need to perform in-place operations on the input to a pack hook."
)


_make = None  # tapegrad._tensor._make (bound on first use: that module imports this one)


def _bind_make():
    global _make
    from .._tensor import _make as make

    _make = make
    return make


class SavedTensor:
    """A tensor saved for backward, with the version it had when saved.

    An input is kept as the tensor itself (so `grad_fn._saved_self is x`). An output of the
    node itself is kept as its array and rebuilt on unpack with the node as grad_fn, so no
    Node -> Tensor -> Node reference cycle is created.

    While saved-tensor hooks are active, the tensor goes through the pack hook instead and
    only what it returns is kept (`hooked` = (packed, unpack hook, grad_fn, accumulator
    weakref, is_output), with `tensor` and `data` None); unpack calls the unpack hook and gives
    its values the saved tensor's place in the graph. Versions are not checked then (PyTorch).
    """

    __slots__ = ("tensor", "version", "data", "vc", "output_nr", "requires_grad", "hooked")

    def __init__(self, t, is_output: bool = False) -> None:
        if _hooks_open:
            pairs = hook_stack.pairs
            if pairs:
                self._pack(t, is_output, pairs[-1])
                return
        vc = t._vc
        if is_output:
            if vc is None:
                vc = t._vc = VersionCounter()
            self.tensor = None
            self.vc = vc
            self.version = vc.value
            self.data = t._data
            self.output_nr = t._output_nr
            self.requires_grad = t._requires_grad
        else:
            if t._extra is not None and t._extra.get("inference"):
                raise RuntimeError(_INFERENCE_SAVE_MSG)
            self.tensor = t
            self.version = 0 if vc is None else vc.value

    def _pack(self, t, is_output: bool, pair) -> None:
        if not is_output and t._extra is not None and t._extra.get("inference"):
            raise RuntimeError(_INFERENCE_SAVE_MSG)
        self.vc = None
        self.version = 0
        self.output_nr = t._output_nr
        self.requires_grad = t._requires_grad
        self.set_hooks(t, is_output, pair[0], pair[1])

    def set_hooks(self, t, is_output: bool, pack, unpack) -> None:
        """Replace what is kept by pack(t) (run without recording a graph, as PyTorch does)."""
        grad_fn = accum = None
        if not is_output:
            self.output_nr = t._output_nr
            self.requires_grad = t._requires_grad
            grad_fn = t._grad_fn
            if grad_fn is None and t._requires_grad:
                accum = weakref.ref(t._accumulator())
        vc = t._vc
        before = 0 if vc is None else vc.value
        from . import grad_mode

        state = grad_mode.state
        prev = state.enabled
        state.enabled = False
        try:
            packed = pack(t)
        finally:
            state.enabled = prev
        vc = t._vc
        if (0 if vc is None else vc.value) != before:
            raise RuntimeError(_PACK_INPLACE_MSG)
        self.tensor = None
        self.data = None
        self.hooked = (packed, unpack, grad_fn, accum, is_output)

    def current_version(self) -> int:
        if self.tensor is None:
            return self.vc.value
        vc = self.tensor._vc
        return 0 if vc is None else vc.value

    def unpack(self, node):
        t = self.tensor
        if t is not None:
            vc = t._vc
            if vc is not None and vc.value != self.version:
                from .engine import modified_message

                raise RuntimeError(modified_message(self, node))
            return t
        data = self.data
        if data is None:
            return self._unpack_hooked(node)
        if self.vc.value != self.version:
            from .engine import modified_message

            raise RuntimeError(modified_message(self, node))
        make = _make if _make is not None else _bind_make()
        out = make(data, node if self.requires_grad else None, self.requires_grad)
        out._output_nr = self.output_nr
        out._vc = self.vc
        return out

    def _unpack_hooked(self, node):
        from .._tensor import Tensor, _make

        packed, unpack, grad_fn, accum, is_output = self.hooked
        r = unpack(packed)
        if not isinstance(r, Tensor):
            raise TypeError(
                "Output of saved tensor unpack_hook expected to be a Tensor but got result of "
                f"type {type(r).__name__}"
            )
        rg = self.requires_grad
        fn = (node if rg else None) if is_output else grad_fn
        out = _make(r._data, fn, rg)
        out._output_nr = self.output_nr
        if accum is not None:
            out._accum = accum  # a saved leaf: gradients reach the original's AccumulateGrad
        return out


class Node:
    """Base of every backward node; subclasses are named as PyTorch names them (MulBackward0)."""

    __slots__ = ("_next", "_seq", "_saved", "_in_meta", "_hooks", "_pre_hooks", "__weakref__")
    n_outputs = 1  # how many outputs the forward op had (gradient slots this node takes)

    def __init__(self) -> None:
        self._seq = next(_seq_counter)
        self._next = ()
        self._saved = ()
        self._in_meta = ()
        self._hooks = None
        self._pre_hooks = None
        if _ANOMALY:
            from .anomaly_mode import record_forward

            record_forward(self)

    # --- public API, as PyTorch's grad_fn objects ---------------------------------------
    @property
    def next_functions(self) -> tuple:
        return self._next

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"

    @property
    def metadata(self) -> dict:
        if self._hooks is None:
            self._hooks = {}
        return self._hooks.setdefault("metadata", {})

    def _sequence_nr(self) -> int:
        return self._seq

    @property
    def needs_input_grad(self) -> tuple:
        return tuple(n is not None for n, _ in self._next)

    def saved_tensors(self) -> tuple:
        """Unpack the saved tensors, checking they were not freed or modified in place."""
        saved = self._saved
        if saved is FREED:
            raise RuntimeError(_FREED_MSG)
        return tuple(s.unpack(self) if type(s) is SavedTensor else s for s in saved)

    def register_hook(self, fn):
        """Call fn(grad_inputs, grad_outputs) after this node ran; a tuple it returns replaces
        grad_inputs. Returns a handle whose remove() removes the hook."""
        from .hooks import register_node_hook

        return register_node_hook(self, fn)

    def register_prehook(self, fn):
        """Call fn(grad_outputs) before this node runs; a tuple it returns replaces them."""
        from .hooks import register_node_prehook

        return register_node_prehook(self, fn)

    def _release(self) -> None:
        # (run_backward does the same inline: a subclass must not override this)
        if self._saved:
            self._saved = FREED

    def vjp(self, *grads):  # pragma: no cover - every op overrides it
        raise NotImplementedError(f"{self.name()} has no backward rule")

    def __call__(self, *grads):
        """Apply the backward function to output gradients (PyTorch's `grad_fn(...)`)."""
        res = self.vjp(*grads)
        return res if isinstance(res, tuple) else (res,)

    def __getattr__(self, name: str):
        # only reached when normal lookup fails: PyTorch's grad_fn._saved_<name> and
        # _raw_saved_<name>, answered from the class's _saved_names (autograd/saved_hooks.py)
        if name.startswith(("_saved_", "_raw_saved_")):
            return saved_attribute(self, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")


class AccumulateGrad(Node):
    """The node that ends every path at a leaf: adds the incoming gradient to `variable.grad`."""

    __slots__ = ("variable",)

    def __init__(self, variable) -> None:
        Node.__init__(self)
        self._seq = (1 << 62) + self._seq  # runs as soon as it is ready, before any op node
        self.variable = variable

    def name(self) -> str:
        return "tapegrad::autograd::AccumulateGrad"


def register_multi_grad_hook(tensors, fn, *, mode: str = "all"):
    """Call fn once per backward pass with the gradients of several tensors (see
    autograd/hooks.py): mode "all" gives every gradient, "any" the first one."""
    from .hooks import register_multi_grad_hook as impl

    return impl(tensors, fn, mode=mode)


from .saved_hooks import (  # noqa: E402  (saved_hooks builds on the classes above)
    disable_saved_tensors_hooks,
    save_on_cpu,
    saved_attribute,
    saved_tensors_hooks,
)

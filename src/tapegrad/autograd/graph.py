"""Graph nodes (a tensor's grad_fn), AccumulateGrad for leaves, and saved-tensor records.

A Node is both the backward function of one op and its context: it holds the edges to the
nodes of the op's inputs (`next_functions`), the tensors the op saved, and any non-tensor
arguments its derivative needs. `vjp(*grads)` maps the gradients of the op's outputs to one
gradient per input (None where an input needs none); it is written in tapegrad ops so the
same code serves first and higher derivatives.
"""

from __future__ import annotations

import itertools

__all__ = ["Node", "AccumulateGrad", "SavedTensor"]

_seq_counter = itertools.count()

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

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


_INFERENCE_SAVE_MSG = (
    "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
    "inference mode in computation tracked by autograd. To work around this, you can make a "
    "clone to get a normal tensor and use it in autograd, or use `tapegrad.no_grad()` instead "
    "of `tapegrad.inference_mode()`."
)


class SavedTensor:
    """A tensor saved for backward, with the version it had when saved.

    An input is kept as the tensor itself (so `grad_fn._saved_self is x`). An output of the
    node itself is kept as its array and rebuilt on unpack with the node as grad_fn, so no
    Node -> Tensor -> Node reference cycle is created.
    """

    __slots__ = ("tensor", "version", "data", "vc", "output_nr", "requires_grad")

    def __init__(self, t, is_output: bool = False) -> None:
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
        if self.vc.value != self.version:
            from .engine import modified_message

            raise RuntimeError(modified_message(self, node))
        from .._tensor import _make

        out = _make(self.data, node if self.requires_grad else None, self.requires_grad)
        out._output_nr = self.output_nr
        out._vc = self.vc
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

    def _release(self) -> None:
        if self._saved:
            self._saved = FREED

    def vjp(self, *grads):  # pragma: no cover - every op overrides it
        raise NotImplementedError(f"{self.name()} has no backward rule")

    def __call__(self, *grads):
        """Apply the backward function to output gradients (PyTorch's `grad_fn(...)`)."""
        res = self.vjp(*grads)
        return res if isinstance(res, tuple) else (res,)


class AccumulateGrad(Node):
    """The node that ends every path at a leaf: adds the incoming gradient to `variable.grad`."""

    __slots__ = ("variable",)

    def __init__(self, variable) -> None:
        Node.__init__(self)
        self._seq = (1 << 62) + self._seq  # runs as soon as it is ready, before any op node
        self.variable = variable

    def name(self) -> str:
        return "tapegrad::autograd::AccumulateGrad"

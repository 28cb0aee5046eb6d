"""Hooks on saved tensors, and PyTorch's `grad_fn._saved_<name>` attributes.

`saved_tensors_hooks(pack, unpack)` makes every tensor an op saves for backward go through
`pack` (its result is kept instead of the tensor) and come back through `unpack` when the
backward pass (or `grad_fn._saved_<name>`) needs it. The pairs form a per-thread stack: only
the innermost applies. The work itself is in `SavedTensor` (graph.py); saving a tensor costs
one global read while no pair is pushed in any thread.

Node classes name their saved entries with two class attributes read here:
- `_saved_names`: PyTorch's names for the entries of `node._saved`, in order (None skips
  one). Their values are tensors: a Python number saved in place of a tensor is shown as the
  0-dim tensor PyTorch wraps it in. `_saved_if` (optional, parallel to it) gives, for an
  entry PyTorch saves only when some input needs a gradient, that input's index.
- `_saved_attrs`: name -> where a non-tensor argument is kept: a slot name (str), an index
  into `node._saved` (int), "@shape<k>" / "@numel<k>" for input k's size, or "@strides<k>"
  for the strides of saved entry k.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Generator
from typing import Any

from . import graph as _graph
from .graph import _FREED_MSG, FREED, SavedTensor, hook_stack

__all__ = [
    "saved_tensors_hooks", "save_on_cpu", "disable_saved_tensors_hooks", "RawSavedTensor",
    "saved_attribute",
]

_lock = threading.Lock()


def _count_open(delta: int) -> None:
    with _lock:
        _graph._hooks_open += delta


class saved_tensors_hooks:  # noqa: N801 - PyTorch's name
    """Context manager under which saved tensors are packed by `pack_hook` and restored by
    `unpack_hook` (innermost pair wins when nested).

    >>> import tapegrad
    >>> x = tapegrad.ones(2, requires_grad=True)
    >>> with tapegrad.autograd.graph.saved_tensors_hooks(lambda t: t * 2, lambda p: p):
    ...     y = x.exp()
    >>> y.grad_fn._saved_result
    tensor([5.4366, 5.4366], grad_fn=<ExpBackward0>)
    """

    def __init__(self, pack_hook: Callable[[Any], Any], unpack_hook: Callable[[Any], Any]) -> None:
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self) -> None:
        st = hook_stack
        if st.disabled is not None:
            raise RuntimeError(st.disabled)
        st.pairs = st.pairs + ((self.pack_hook, self.unpack_hook),)
        _count_open(1)

    def __exit__(self, *args: object) -> None:
        st = hook_stack
        if st.pairs:
            st.pairs = st.pairs[:-1]
            _count_open(-1)


class save_on_cpu(saved_tensors_hooks):  # noqa: N801 - PyTorch's name
    """Saved tensors are kept on the CPU and moved back to their device for backward.

    Every tapegrad tensor lives on the CPU, so this keeps the tensor itself, as PyTorch does
    for CPU tensors; with pin_memory=True it keeps a copy (PyTorch copies into a fresh
    tensor then, pinned where the device allows it).
    """

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        def pack_to_cpu(tensor):
            if not pin_memory:
                return (tensor.device, tensor.cpu())
            from .._creation import empty

            packed = empty(tensor.size(), dtype=tensor.dtype)
            packed.copy_(tensor)
            return (tensor.device, packed)

        def unpack_from_cpu(packed):
            device, tensor = packed
            return tensor.to(device, non_blocking=pin_memory)

        super().__init__(pack_to_cpu, unpack_from_cpu)


@contextlib.contextmanager
def disable_saved_tensors_hooks(error_message: str) -> Generator[None, None, None]:
    """Refuse saved-tensor hooks inside the block: entering `saved_tensors_hooks` (or entering
    this block while some are active) raises RuntimeError(error_message)."""
    st = hook_stack
    prev = st.disabled
    try:
        st.disabled = error_message
        if st.pairs:
            raise RuntimeError(error_message)
        yield
    finally:
        st.disabled = prev


# --- grad_fn._saved_<name> -----------------------------------------------------------------
_DETACHED_MSG = (
    "Trying to use a saved tensor that has been detached in-place, i.e. with .detach_().This is "
    "not supported, please use out-of-place `.detach()` instead"
)


def _no_attr(node, name: str) -> AttributeError:
    return AttributeError(f"'{type(node).__name__}' object has no attribute '{name}'")


def _wrapped_number(v):
    """The 0-dim tensor PyTorch makes of a Python number passed where a tensor goes."""
    from .. import _dtype as D
    from .._creation import tensor

    if isinstance(v, bool):
        dt = D.bool
    elif isinstance(v, int):
        dt = D.int64
    elif isinstance(v, complex):
        dt = D.complex128
    else:
        dt = D.float64
    return tensor(v, dtype=dt)


def _is_output(s: SavedTensor) -> bool:
    if s.tensor is not None:
        return False
    return s.hooked[4] if s.data is None else True


def _is_hooked(s) -> bool:
    return type(s) is SavedTensor and s.tensor is None and s.data is None


class RawSavedTensor:
    """What `grad_fn._raw_saved_<name>` returns (PyTorch's `torch._C._autograd.SavedTensor`):
    the saved entry itself, to read (`data`, `unpack()`) or to give hooks afterwards
    (`register_hooks(pack, unpack)`). It reads the node's entry on each use, so it sees it
    freed once a backward pass has run."""

    __slots__ = ("_node", "_index", "_absent")

    def __init__(self, node, index: int, absent: bool = False) -> None:
        self._node = node
        self._index = index
        self._absent = absent  # an entry PyTorch would not have saved (see _saved_if)

    def _entry(self):
        saved = self._node._saved
        if saved is FREED:
            return FREED
        if self._absent or self._index >= len(saved):
            return None
        return saved[self._index]

    @property
    def data(self):
        """The kept value: the tensor (without its graph for an output), or what the pack hook
        returned; None once freed."""
        s = self._entry()
        if s is FREED or s is None:
            return None
        if type(s) is not SavedTensor:
            return _wrapped_number(s) if isinstance(s, (int, float, complex)) else s
        if s.tensor is not None:
            return s.tensor
        if s.data is None:
            return s.hooked[0]
        return _output_values(s)

    @property
    def unpack_hook(self):
        s = self._entry()
        return s.hooked[1] if _is_hooked(s) else None

    def unpack(self):
        s = self._entry()
        if s is FREED:
            raise RuntimeError(_FREED_MSG)
        if type(s) is not SavedTensor:
            return self.data
        if _is_output(s):
            raise RuntimeError(_DETACHED_MSG)
        return s.unpack(self._node)

    def register_hooks(self, pack_hook: Callable, unpack_hook: Callable) -> None:
        """Pack the saved value now with pack_hook; unpack_hook restores it when needed."""
        if not callable(pack_hook) or not callable(unpack_hook):
            raise TypeError(
                "register_hooks(): incompatible function arguments. The following argument types "
                "are supported:\n    1. (self: tapegrad._C._autograd.SavedTensor, arg0: "
                "collections.abc.Callable, arg1: collections.abc.Callable) -> None\n\nInvoked "
                f"with: {self!r}, {pack_hook!r}, {unpack_hook!r}"
            )
        s = self._entry()
        if s is FREED:
            raise RuntimeError(
                "Calling register_hooks on a saved tensor after it has been freed. Saved "
                "intermediate values of the graph are freed when you call .backward() or "
                "autograd.grad(). Specify retain_graph=True if you need to backward through the "
                "graph a second time or if you need to access saved variables after calling "
                "backward."
            )
        if s is None:
            raise RuntimeError("Calling register_hooks on a saved tensor with value None is "
                               "forbidden")
        if type(s) is not SavedTensor:  # a number kept in a tensor's place: keep it as one
            node = self._node
            rec = SavedTensor.__new__(SavedTensor)
            rec.vc, rec.version = None, 0
            rec.set_hooks(_wrapped_number(s), False, pack_hook, unpack_hook)
            saved = list(node._saved)
            saved[self._index] = rec
            node._saved = tuple(saved)
            return
        if _is_hooked(s):
            raise RuntimeError(
                "Calling register_hooks on a saved tensor whose hooks have already been set. "
                "Hint: only one pair of hooks is allowed at a time."
            )
        if s.tensor is not None:
            s.set_hooks(s.tensor, False, pack_hook, unpack_hook)
        else:
            s.set_hooks(_output_values(s), True, pack_hook, unpack_hook)


def _output_values(s: SavedTensor):
    """A saved output's values as a tensor outside the graph (sharing its version counter)."""
    from .._tensor import _make

    t = _make(s.data, None, False)
    t._vc = s.vc
    return t


def _input_shape(node, k: int, name: str):
    meta = node._in_meta[k] if k < len(node._in_meta) else None
    if meta is not None:
        return tuple(meta[0])
    saved = node._saved
    if saved is FREED:
        raise RuntimeError(_FREED_MSG)
    s = saved[k] if k < len(saved) else None
    if type(s) is SavedTensor:
        return tuple(s.unpack(node).shape)
    raise _no_attr(node, name)


def saved_attribute(node, name: str):
    """The value of `node.<name>` for name `_saved_<x>` or `_raw_saved_<x>` (see module doc)."""
    cls = type(node)
    raw = name.startswith("_raw_saved_")
    key = name[11:] if raw else name[7:]
    names = getattr(cls, "_saved_names", ())
    if key in names:
        i = names.index(key)
        cond = getattr(cls, "_saved_if", None)
        # PyTorch saves some entries only when a given input needs a gradient
        absent = cond is not None and cond[i] is not None and node._next[cond[i]][0] is None
        if raw:
            return RawSavedTensor(node, i, absent)
        saved = node._saved
        if saved is FREED:
            raise RuntimeError(_FREED_MSG)
        if absent:
            return None
        s = saved[i] if i < len(saved) else None
        if type(s) is SavedTensor:
            return s.unpack(node)
        if isinstance(s, (list, tuple)):
            return [x.unpack(node) if type(x) is SavedTensor else x for x in s]
        if isinstance(s, (int, float, complex)):
            return _wrapped_number(s)
        return s
    attrs = getattr(cls, "_saved_attrs", None)
    if raw or not attrs or key not in attrs:
        raise _no_attr(node, name)
    src = attrs[key]
    if type(src) is int:
        saved = node._saved
        if saved is FREED:
            raise RuntimeError(_FREED_MSG)
        return saved[src]
    if src.startswith("@shape"):
        return _input_shape(node, int(src[6:]), name)
    if src.startswith("@strides"):
        saved = node._saved
        if saved is FREED:
            raise RuntimeError(_FREED_MSG)
        return tuple(saved[int(src[8:])].unpack(node).stride())
    if src.startswith("@numel"):
        n = 1
        for d in _input_shape(node, int(src[6:]), name):
            n *= d
        return n
    return getattr(node, src)

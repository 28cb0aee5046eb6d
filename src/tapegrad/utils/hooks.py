"""Handles returned by hook registrations (PyTorch's torch.utils.hooks).

A handle remembers the dict its hook was stored in (through a weak reference, so a handle
never keeps a graph alive; the dict must therefore accept weak references, e.g. an
OrderedDict) and the key it was stored under; `remove()` deletes that entry.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any

__all__ = ["RemovableHandle", "unserializable_hook"]


class RemovableHandle:
    """Removes one hook from the dict (and optional extra dicts) it was registered in.

    >>> import tapegrad
    >>> v = tapegrad.tensor([0., 0., 0.], requires_grad=True)
    >>> h = v.register_hook(lambda grad: grad * 2)
    >>> v.backward(tapegrad.tensor([1., 2., 3.]))
    >>> v.grad
    tensor([2., 4., 6.])
    >>> h.remove()
    """

    id: int
    next_id: int = 0  # every handle gets a new key, unique in the process

    def __init__(self, hooks_dict: Any, *, extra_dict: Any = None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        self.extra_dict_ref: tuple = ()
        if isinstance(extra_dict, dict):
            self.extra_dict_ref = (weakref.ref(extra_dict),)
        elif isinstance(extra_dict, list):
            self.extra_dict_ref = tuple(weakref.ref(d) for d in extra_dict)

    def remove(self) -> None:
        """Delete the hook (a no-op when it is already gone)."""
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            d = ref()
            if d is not None:
                d.pop(self.id, None)

    def __getstate__(self):
        return (self.hooks_dict_ref(), self.id, tuple(r() for r in self.extra_dict_ref))

    def __setstate__(self, state) -> None:
        hooks = state[0]
        # a handle whose dict no longer exists gets a reference that is already dead
        self.hooks_dict_ref = weakref.ref(hooks if hooks is not None else OrderedDict())
        self.id = state[1]
        RemovableHandle.next_id = max(RemovableHandle.next_id, self.id + 1)
        extra = state[2] if len(state) > 2 and state[2] is not None else ()
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extra if d is not None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, type: Any, value: Any, tb: Any) -> None:
        self.remove()


class _MultiHandle(RemovableHandle):
    """One handle for the several hooks register_multi_grad_hook installs."""

    handles: tuple

    def __init__(self, handles: tuple) -> None:
        self.handles = handles

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def __getstate__(self):
        return self.handles

    def __setstate__(self, state) -> None:
        self.handles = state


def unserializable_hook(f):
    """Mark f as a hook that is not meant to be serialized; returns f."""
    f.__torch_unserializable__ = True
    return f

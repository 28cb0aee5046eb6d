"""tapegrad.Size: the tuple subclass that tensor shapes are reported as."""

from __future__ import annotations


class Size(tuple):
    """A tensor's shape; a tuple of ints that prints as `tapegrad.Size([2, 3])`.

    >>> import tapegrad
    >>> tapegrad.ones(2, 3).shape
    tapegrad.Size([2, 3])
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "tapegrad.Size([" + ", ".join(str(s) for s in self) + "])"

    __str__ = __repr__

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, key):
        r = tuple.__getitem__(self, key)
        return Size(r) if isinstance(key, slice) else r

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(self, other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(other, self))

"""tapegrad.Size: the tuple subclass that tensor shapes are reported as."""

from __future__ import annotations

import operator

_tuple_new = tuple.__new__


class Size(tuple):
    """A tensor's shape; a tuple of ints that prints as `tapegrad.Size([2, 3])`.

    >>> import tapegrad
    >>> tapegrad.ones(2, 3).shape
    tapegrad.Size([2, 3])
    >>> tapegrad.Size([2, 3])[1:]
    tapegrad.Size([3])
    """

    __slots__ = ()

    def __new__(cls, sizes=()):
        if type(sizes) is Size:
            return sizes
        items = []
        for i, s in enumerate(sizes):
            if type(s) is not int:
                try:
                    # ints, bools, NumPy integers and one-element integer tensors
                    s = operator.index(s)
                except TypeError:
                    raise TypeError(
                        "tapegrad.Size() takes an iterable of 'int' (item "
                        f"{i} is '{type(s).__name__}')"
                    ) from None
            items.append(s)
        return _tuple_new(cls, items)

    def __repr__(self) -> str:
        return "tapegrad.Size([" + ", ".join(str(s) for s in self) + "])"

    __str__ = __repr__

    def __reduce__(self):
        return (Size, (tuple(self),))

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds."""
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, key):
        r = tuple.__getitem__(self, key)
        return _tuple_new(Size, r) if isinstance(key, slice) else r

    def __add__(self, other):
        if not isinstance(other, tuple):
            raise TypeError(
                f"can only concatenate tuple (not {type(other).__name__}) to tapegrad.Size"
            )
        return _tuple_new(Size, tuple.__add__(self, other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return _tuple_new(Size, tuple.__add__(other, self))

    def __mul__(self, n):
        r = tuple.__mul__(self, n)
        return NotImplemented if r is NotImplemented else _tuple_new(Size, r)

    __rmul__ = __mul__


Size.__module__ = "tapegrad"


def make_size(shape) -> Size:
    """A Size from a tuple of Python ints, without validation (the `.shape` hot path)."""
    return _tuple_new(Size, shape)

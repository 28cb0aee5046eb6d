"""Devices and layouts: tapegrad computes on the CPU only; these objects exist for API parity."""

from __future__ import annotations


class device:
    """A compute device; only 'cpu' exists in tapegrad.

    >>> import tapegrad
    >>> tapegrad.device("cpu")
    device(type='cpu')
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str = "cpu", index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index  # noqa: A001
        name, _, idx = str(type).partition(":")
        if name != "cpu":
            raise RuntimeError(
                f"tapegrad runs on the CPU only; device '{type}' is not available"
            )
        self.type = name
        self.index = int(idx) if idx else index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and other.type == self.type

    def __hash__(self) -> int:
        return hash(self.type)


cpu = device("cpu")


class layout:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return "tapegrad." + self.name


strided = layout("strided")


def check_device(d) -> None:
    """Accept None, 'cpu' or a cpu device; anything else raises."""
    if d is not None and not (isinstance(d, device)):
        device(d)

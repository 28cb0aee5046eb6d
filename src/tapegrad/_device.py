"""Devices, layouts and memory formats: tapegrad computes on the CPU only; these objects exist
so that code written for PyTorch (`device="cpu"`, `.to(device)`, `torch.device("cuda")` checks)
runs unchanged."""

from __future__ import annotations

_TYPES = (
    "cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga",
    "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone",
)


class device:
    """A compute device, as PyTorch describes one; tensors can only live on the CPU.

    >>> import tapegrad
    >>> tapegrad.device("cpu")
    device(type='cpu')
    >>> tapegrad.device("cuda", 1)
    device(type='cuda', index=1)
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str | device = "cpu", index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, int) and not isinstance(type, bool):
            raise RuntimeError("Cannot access accelerator device when none is available.")
        if not isinstance(type, str):
            name = _type_name(type)
            raise TypeError(
                f"device() received an invalid combination of arguments - got ({name}), but "
                "expected one of:\n * (tapegrad.device device)\n      didn't match because some "
                f"of the arguments have invalid types: (!{name}!)\n * (str type, int index = -1)\n"
            )
        name, colon, idx = type.partition(":")
        if name not in _TYPES:
            raise RuntimeError(
                f"Expected one of {', '.join(_TYPES)} device type at start of device string: "
                f"{type}"
            )
        if colon:
            if not idx.isdigit() or (len(idx) > 1 and idx[0] == "0"):
                raise RuntimeError(f"Invalid device string: '{type}'")
            if index is not None:
                raise RuntimeError(
                    "type (string) must not include an index because index was passed "
                    f"explicitly: {type}"
                )
            index = int(idx)
        if index is not None and index < 0:
            raise RuntimeError("Device index must not be negative")
        self.type = name
        self.index = index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        return isinstance(other, device) and other.type == self.type and other.index == self.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (self.type, self.index))

    def __enter__(self) -> device:
        check_device(self)
        return self

    def __exit__(self, *exc) -> None:
        return None


device.__module__ = "tapegrad"


def _type_name(v) -> str:
    t = type(v)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


cpu = device("cpu")


class layout:
    """A tensor storage layout; tapegrad has only tapegrad.strided."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return "tapegrad." + self.name

    def __reduce__(self):
        return self.name


class memory_format:
    """A memory layout request (contiguous_format, preserve_format); tapegrad accepts them and
    keeps its arrays C-contiguous."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return "tapegrad." + self.name

    def __reduce__(self):
        return self.name


layout.__module__ = memory_format.__module__ = "tapegrad"
strided = layout("strided")
contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")


def check_device(d) -> None:
    """Accept None, 'cpu' or a cpu device; CUDA raises PyTorch's message, others say that
    tapegrad runs on the CPU only."""
    if d is None or d is cpu:
        return
    dev = d if isinstance(d, device) else device(d)
    if dev.type == "cpu":
        return
    if dev.type == "cuda":
        raise AssertionError("Torch not compiled with CUDA enabled")
    raise RuntimeError(f"tapegrad runs on the CPU only; device '{dev}' is not available")

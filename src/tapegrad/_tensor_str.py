"""Tensor printing, following PyTorch's formatter character for character.

Three float modes as in PyTorch: *int* (all finite non-zero values are whole numbers: ``1.``),
*fixed* (``precision`` decimals) and *scientific* (chosen when max/min of the finite non-zero
magnitudes exceeds 1000, the max exceeds 1e8 or the min is below 1e-4). Widths are taken over the
elements that are shown (the edges, when a tensor of more than ``threshold`` elements is
summarized with ``...``); rows wrap at ``linewidth``; suffixes (``dtype=``, ``grad_fn=``, ...)
go on a new line when the last line would get too long.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ._dtype import bool as _bool
from ._dtype import complex64, complex128, float64, get_default_dtype, int64

__all__ = ["get_printoptions", "printoptions", "set_printoptions", "tensor_repr"]


class _PrintOptions:
    __slots__ = ("edgeitems", "linewidth", "precision", "sci_mode", "threshold")

    def __init__(self) -> None:
        self.precision: int = 4
        self.threshold: float = 1000
        self.edgeitems: int = 3
        self.linewidth: int = 80
        self.sci_mode: bool | None = None


PRINT_OPTS = _PrintOptions()

_PROFILES = {
    "default": (4, 1000, 3, 80),
    "short": (2, 1000, 2, 80),
    "full": (4, math.inf, 3, 80),
}


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Set printing options (PyTorch semantics; ``sci_mode`` is always set, None meaning auto).

    >>> import tapegrad
    >>> tapegrad.set_printoptions(precision=2)
    >>> tapegrad.tensor([1.12345])
    tensor([1.12])
    >>> tapegrad.set_printoptions(profile="default")
    """
    o = PRINT_OPTS
    if profile is not None and profile in _PROFILES:
        o.precision, o.threshold, o.edgeitems, o.linewidth = _PROFILES[profile]
    if precision is not None:
        o.precision = precision
    if threshold is not None:
        o.threshold = threshold
    if edgeitems is not None:
        o.edgeitems = edgeitems
    if linewidth is not None:
        o.linewidth = linewidth
    o.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """The current options as a dict that can be passed back to `set_printoptions`.

    >>> import tapegrad
    >>> tapegrad.get_printoptions()["precision"]
    4
    """
    o = PRINT_OPTS
    return {
        "precision": o.precision,
        "threshold": o.threshold,
        "edgeitems": o.edgeitems,
        "linewidth": o.linewidth,
        "sci_mode": o.sci_mode,
    }


@contextlib.contextmanager
def printoptions(**kwargs: Any) -> Iterator[None]:
    """Context manager that sets print options and restores the old ones on exit."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


# --------------------------------------------------------------------------------------------
# Element formatters: each is (width, format function) built from the values that are shown.

_Fmt = Callable[[Any], str]


def _int_formatter(v: np.ndarray) -> tuple[int, _Fmt]:
    """Integers and bools: ``str(value)`` right-aligned to the widest one."""
    width = 1
    if v.size:
        width = max(width, len(str(v.min().item())), len(str(v.max().item())))

    def fmt(x: Any) -> str:
        return str(x).rjust(width)

    return width, fmt


def _float_formatter(v: np.ndarray) -> tuple[int, _Fmt]:
    """Floats: pick int / fixed / scientific mode and the width from finite non-zero values."""
    p = PRINT_OPTS.precision
    nz = v[np.isfinite(v) & (v != 0)]
    int_mode, sci_mode, width = True, False, 1
    if nz.size:
        int_mode = bool((nz == np.ceil(nz)).all())
        absd = np.abs(nz).astype(np.float64)
        lo, hi = float(absd.min()), float(absd.max())
        if PRINT_OPTS.sci_mode is None:
            sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
        else:
            sci_mode = PRINT_OPTS.sci_mode
        # The printed length is monotone in |x| for each sign (rounding is monotone, and the
        # exponent only gains a digit at the extremes), so the extremes of each sign suffice.
        cands = []
        for part in (nz[nz > 0], nz[nz < 0]):
            if part.size:
                cands += [float(part.min()), float(part.max())]
        if sci_mode:
            spec = f".{p}e"
            width = max(len(format(x, spec)) for x in cands)
        elif int_mode:
            width = max(len(format(x, ".0f")) + 1 for x in cands)
        else:
            spec = f".{p}f"
            width = max(len(format(x, spec)) for x in cands)
        width = max(width, 1)

    if sci_mode:
        spec = f"{width}.{p}e"

        def fmt(x: Any) -> str:
            return format(x, spec)

    elif int_mode:

        def fmt(x: Any) -> str:
            s = format(x, ".0f")
            if x - x == 0:  # finite: a trailing '.' marks a floating tensor
                s += "."
            return s.rjust(width)

    else:
        spec = f".{p}f"

        def fmt(x: Any) -> str:
            return format(x, spec).rjust(width)

    return width, fmt


def _formatter(v: np.ndarray) -> tuple[int, _Fmt]:
    if v.dtype.kind == "f":
        return _float_formatter(v)
    return _int_formatter(v)


def _complex_formatter(real: tuple[int, _Fmt], imag: tuple[int, _Fmt]) -> tuple[int, _Fmt]:
    """Real and imaginary parts formatted separately: ``1.+2.j``, ``0.-1.j``."""
    fr, fi = real[1], imag[1]

    def fmt(x: Any) -> str:
        r = fr(x.real)
        i = (fi(x.imag) + "j").lstrip()
        if i[0] == "+" or i[0] == "-":
            return r + i
        return r + "+" + i

    # Element length on a line: real width + imag width + 'j' (the +2 for ', ' comes later).
    return real[0] + imag[0] + 1, fmt


# --------------------------------------------------------------------------------------------
# Layout


def _summarized(a: np.ndarray) -> np.ndarray:
    """The elements that a summarized print shows (edge items along every axis)."""
    e = PRINT_OPTS.edgeitems
    if a.ndim == 0:
        return a
    if not e:
        # 1-d: PyTorch keeps every value (a[-0:] is all of it); only '...' is printed anyway.
        return a if a.ndim == 1 else a[(slice(0, 0),) * a.ndim]
    for axis, n in enumerate(a.shape):
        if n > 2 * e:
            idx = np.r_[0:e, n - e : n]
            a = np.take(a, idx, axis=axis)
    return a


def _vector_str(a: np.ndarray, indent: int, summarize: bool, width: int, fmt: _Fmt) -> str:
    o = PRINT_OPTS
    e = o.edgeitems
    if summarize and not e:
        data = ["..."]
    elif summarize and a.shape[0] > 2 * e:
        data = [fmt(x) for x in a[:e].tolist()]
        data.append(" ...")
        data += [fmt(x) for x in a[-e:].tolist()]
    else:
        data = [fmt(x) for x in a.tolist()]
    per_line = max(1, math.floor((o.linewidth - indent) / (width + 2)))
    if len(data) <= per_line:
        return "[" + ", ".join(data) + "]"
    lines = [", ".join(data[i : i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nd_str(a: np.ndarray, indent: int, summarize: bool, width: int, fmt: _Fmt) -> str:
    dim = a.ndim
    if dim == 0:
        return fmt(a.item())
    if dim == 1:
        return _vector_str(a, indent, summarize, width, fmt)
    n = a.shape[0]
    e = PRINT_OPTS.edgeitems
    if summarize and n > 2 * e:
        slices = [_nd_str(a[i], indent + 1, summarize, width, fmt) for i in range(e)]
        slices.append("...")
        slices += [_nd_str(a[i], indent + 1, summarize, width, fmt) for i in range(n - e, n)]
    else:
        slices = [_nd_str(a[i], indent + 1, summarize, width, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (dim - 1) + " " * (indent + 1)).join(slices) + "]"


def _tensor_str(a: np.ndarray, indent: int) -> str:
    """The bracketed contents of a non-empty array, as PyTorch lays them out."""
    if a.size == 0:
        return "[]"
    summarize = a.size > PRINT_OPTS.threshold
    shown = _summarized(a) if summarize else a
    if a.dtype.kind == "c":
        width, fmt = _complex_formatter(_formatter(shown.real), _formatter(shown.imag))
    else:
        width, fmt = _formatter(shown)
    return _nd_str(a, indent, summarize, width, fmt)


def _torch_len(s: str) -> int:
    """Length of s as PyTorch would print it: 'tapegrad.' counts as 'torch.'."""
    return len(s) - 3 * s.count("tapegrad.") if "tapegrad." in s else len(s)


def _add_suffixes(tensor_str: str, suffixes: list[str], indent: int) -> str:
    """Append ``, suffix`` items, moving one to a new line when the line would pass linewidth."""
    parts = [tensor_str]
    # PyTorch's measure of the last line (it counts two more characters than the line has).
    last_nl = tensor_str.rfind("\n")
    last_line_len = _torch_len(tensor_str[last_nl + 1 :]) + 2
    linewidth = PRINT_OPTS.linewidth
    for suffix in suffixes:
        n = _torch_len(suffix)
        if last_line_len + n + 2 > linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + n
        else:
            parts.append(", " + suffix)
            last_line_len += n + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(t: Any, *, tensor_contents: str | None = None) -> str:
    """PyTorch's ``repr`` of a tensor, with ``tapegrad`` in place of ``torch``.

    >>> import tapegrad
    >>> tapegrad.tensor([1.0, 2.0], dtype=tapegrad.float64)
    tensor([1., 2.], dtype=tapegrad.float64)
    """
    prefix = "tensor("
    indent = 7
    data: np.ndarray = np.asarray(t._data)
    dtype = t.dtype
    suffixes = []
    default = get_default_dtype()
    if data.size == 0:
        # Explicit shape unless (0,), as NumPy does; an empty tensor shows any non-default dtype.
        if data.ndim != 1:
            suffixes.append("size=" + str(tuple(data.shape)))
        if dtype != default:
            suffixes.append("dtype=" + repr(dtype))
        tensor_str = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append("size=" + str(tuple(data.shape)))
        default_complex = complex128 if default == float64 else complex64
        if dtype != default and dtype != default_complex and dtype != int64 and dtype != _bool:
            suffixes.append("dtype=" + repr(dtype))
        tensor_str = "" if tensor_contents is not None else _tensor_str(data, indent)
    if tensor_contents is not None:
        tensor_str = tensor_contents

    grad_fn = getattr(t, "grad_fn", None)
    if grad_fn is not None:
        name = grad_fn.name() if hasattr(grad_fn, "name") else type(grad_fn).__name__
        name = name.rsplit("::", 1)[-1]  # 'torch::autograd::AccumulateGrad' style names
        suffixes.append(f"grad_fn=<{name}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")

    tangent = getattr(t, "_fw_tangent", None)
    if tangent is not None:
        # PyTorch formats the tangent with f"{tangent}": a 0-d one prints as its Python scalar.
        td = np.asarray(tangent._data)
        suffixes.append("tangent=" + (str(td.item()) if td.ndim == 0 else tensor_repr(tangent)))

    return _add_suffixes(prefix + tensor_str, suffixes, indent)

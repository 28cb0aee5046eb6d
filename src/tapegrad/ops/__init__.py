"""The op registry: every op family module in this package is imported here, its public
functions (its `__all__`) become `tapegrad.<name>`, and its `METHODS` dict (method name ->
function) is bound onto Tensor. A new family file needs no edit here."""

from __future__ import annotations

import importlib
import pkgutil

from .._tensor import Tensor
from . import binary, compare, convert, inplace
from .unary import UNARY

FAMILIES = []
__all__: list[str] = []


def _load_families() -> None:
    g = globals()
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        FAMILIES.append(mod)
        for name in getattr(mod, "__all__", ()):
            g[name] = getattr(mod, name)
            __all__.append(name)


_load_families()
globals().update(UNARY)
__all__ += list(UNARY)

# Tensor methods that are the function of the same name.
_SAME_NAME = [
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
    "remainder", "pow", "maximum", "minimum", "clamp", "clip", "clamp_min", "clamp_max",
    "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal",
    "not_equal", "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and",
    "bitwise_or", "bitwise_xor", "bitwise_not", "isnan", "isinf", "isfinite", "isclose",
    "allclose", "equal", "to", "clone", "contiguous", "conj", "type_as", "sum", "mean",
    "reshape", "view", "expand", "permute", "transpose", "t", "unsqueeze", "squeeze",
    "sum_to_size", "expand_as", "broadcast_to", "view_as", "reshape_as", "swapaxes", "swapdims",
    "new_zeros", "new_ones", "new_full", "new_empty", "new_tensor",
]


def _bind() -> None:
    g = globals()
    for name in _SAME_NAME:
        setattr(Tensor, name, g[name])
    for name, fn in UNARY.items():
        setattr(Tensor, name, fn)
    for mod in FAMILIES:
        for name, fn in getattr(mod, "METHODS", {}).items():
            setattr(Tensor, name, fn)
    T = Tensor  # noqa: N806
    T.float, T.double, T.half = convert.float_, convert.double, convert.half
    T.long, T.int, T.short, T.char = convert.long, convert.int_, convert.short, convert.char
    T.byte, T.bool, T.cfloat, T.cdouble = convert.byte, convert.bool_, convert.cfloat, \
        convert.cdouble
    T.real = property(convert.real, convert.set_real)
    T.imag = property(convert.imag, convert.set_imag)
    T.absolute = T.abs
    T.negative = T.neg
    T.__add__ = T.__radd__ = binary._add
    T.__sub__ = binary._sub
    T.__rsub__ = binary.rsub
    T.__mul__ = T.__rmul__ = binary._mul
    T.__truediv__ = binary.div
    T.__rtruediv__ = binary.rtruediv
    T.__floordiv__ = binary.floor_divide
    T.__rfloordiv__ = binary.rfloordiv
    T.__mod__ = binary.remainder
    T.__rmod__ = binary.rremainder
    T.__pow__ = binary.pow
    T.__rpow__ = binary.rpow
    T.__neg__ = UNARY["neg"]
    T.__abs__ = UNARY["abs"]
    T.__pos__ = lambda self: self
    T.__eq__ = compare.eq
    T.__ne__ = compare.ne
    T.__lt__ = compare.lt
    T.__le__ = compare.le
    T.__gt__ = compare.gt
    T.__ge__ = compare.ge
    T.__and__ = T.__rand__ = compare.bitwise_and
    T.__or__ = T.__ror__ = compare.bitwise_or
    T.__xor__ = T.__rxor__ = compare.bitwise_xor
    T.__invert__ = compare.bitwise_not
    T.__hash__ = lambda self: id(self)
    for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor"):
        name = {"truediv": "div_", "floordiv": "floor_divide_", "mod": "remainder_",
                "and": "bitwise_and_", "or": "bitwise_or_", "xor": "bitwise_xor_"}.get(
            op, op + "_")
        setattr(T, f"__i{op}__", inplace.INPLACE[name])
    for name, node_name in inplace.INPLACE_NODE_NAMES.items():
        if callable(getattr(T, name, None)):
            setattr(T, name, inplace.renaming(getattr(T, name), node_name))


_bind()

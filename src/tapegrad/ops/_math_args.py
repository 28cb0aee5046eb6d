"""Argument handling shared by the elementwise math families (binary_math, ternary_math):
PyTorch's messages for wrong argument types, non-broadcastable shapes and unsupported dtypes.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make, _tp_name
from ._core import binary_operands, node2, save, scalar_types
from ._core import check_broadcast as _check_shapes  # noqa: F401
from .inplace import copy_out

_FLOAT, _COMPLEX = D.FLOAT, D.COMPLEX


def _conj(t):
    """The complex conjugate of a complex tensor or number; anything else as it is."""
    if isinstance(t, Tensor):
        return t.conj() if t._dtype.category == _COMPLEX else t
    return t.conjugate() if isinstance(t, complex) else t


def _out(res: Tensor, out: Tensor | None) -> Tensor:
    return res if out is None else copy_out(out, res)


def _not_implemented(kernel: str, dt: D.dtype):
    raise NotImplementedError(f"\"{kernel}\" not implemented for '{dt._short}'")


def _need_tensor(fn: str, x, y, yname: str = "other") -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument 'input' (position 1) must be Tensor, not {_tp_name(x)}")
    if not isinstance(y, Tensor):
        raise TypeError(
            f"{fn}(): argument '{yname}' (position 2) must be Tensor, not {_tp_name(y)}")


def _arg_name(v) -> str:
    return "Tensor" if isinstance(v, Tensor) else type(v).__name__


def _invalid(fn: str, args, signatures) -> TypeError:
    """PyTorch's message for arguments matching none of an op's overloads."""
    got = ", ".join(_arg_name(a) for a in args)
    lines = "".join(f" * ({s})\n" for s in signatures)
    return TypeError(f"{fn}() received an invalid combination of arguments - got ({got}), but "
                     f"expected one of:\n{lines}")


_TT = "Tensor input, Tensor other, *, Tensor out = None"
_TN = "Tensor input, Number other, *, Tensor out = None"
_NT = "Number self, Tensor other, *, Tensor out = None"


def _is_number(v) -> bool:
    return isinstance(v, scalar_types) and not isinstance(v, (np.ndarray, str))


def _float_operands(x, y):
    """binary_operands with integer results promoted to the default float dtype."""
    xa, ya, dt = binary_operands(x, y)
    if dt.category < _FLOAT:
        dt = D._defaults.float
        xa = xa.astype(dt.np) if isinstance(xa, np.ndarray) else float(xa)
        ya = ya.astype(dt.np) if isinstance(ya, np.ndarray) else float(ya)
    return xa, ya, dt


def _result(r, dt: D.dtype, node_cls, x, y, *saved) -> Tensor:
    """Wrap r (cast to dt); record node_cls over (x, y) saving `saved` when needed."""
    r = np.asarray(r)
    if r.dtype != dt.np:
        r = r.astype(dt.np)
    node = node2(node_cls, x, y)
    if node is None:
        return _make(r, None, False)
    save(node, *saved)
    return _make(r, node, True)

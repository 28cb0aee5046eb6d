"""Element-wise update kernels on NumPy arrays, rounding as PyTorch's CPU kernels round.

PyTorch computes `add(x, y, alpha)`, `addcmul` and `lerp` with a fused multiply-add (one
rounding) on CPUs that have one, and converts Python scalars to the "op math" type first
(float32 for float32 and float16 tensors, float64 for float64). For float32 and narrower
arrays we reproduce the fused result exactly: the product of two float32 values is exact in
float64, so computing in float64 and rounding once back gives fma's answer (up to a double
rounding that practically never happens). For float64 arrays NumPy has no fused multiply-add:
the two-rounding result differs from PyTorch's by at most one unit in the last place.

Every function writes its result into `out` (which may be one of the inputs) or returns a new
array when `out` is None. Inputs are real arrays: complex parameters are updated through
`real(a)`, their view as pairs of reals (PyTorch's `view_as_real`).

Speed: the float64 intermediate of a fused float32 update is made block by block (`_blocks`),
in a reused buffer of `_BLOCK` elements that stays in cache, and the last float64 operation
writes its float32 result straight into `out` (NumPy casts once, as `_store` would): per element
only the float32 operands and the result cross memory, as in PyTorch's kernel. The values are
exactly those of the whole-array computation (the same operations, element by element).
"""

from __future__ import annotations

import threading

import numpy as np

_F64 = np.float64
_F32 = np.float32
_BLOCK = 1 << 15  # elements per block: a 256 KiB float64 buffer
_local = threading.local()


def _scratch(n: int) -> np.ndarray:
    """This thread's float64 buffer of at least n elements (n <= _BLOCK), reused."""
    buf = getattr(_local, "buf", None)
    if buf is None or buf.size < n:
        buf = _local.buf = np.empty(n, dtype=_F64)
    return buf[:n]


def _blocks(out: np.ndarray, *ins: np.ndarray):
    """(out block, input blocks) pairs: flat pieces of _BLOCK elements of arrays of one shape,
    all C-contiguous, each input either out's own memory or apart from it; otherwise the
    whole arrays as one block (then a temporary the size of the arrays is used)."""
    n = out.size
    if n > _BLOCK and out.flags.c_contiguous and all(
        a.shape == out.shape and a.flags.c_contiguous
        and (a is out or not np.may_share_memory(a, out)) for a in ins
    ):
        fo = out.reshape(-1)
        fi = [a.reshape(-1) for a in ins]
        for i in range(0, n, _BLOCK):
            j = min(i + _BLOCK, n)
            yield fo[i:j], [a[i:j] for a in fi]
    else:
        yield out, list(ins)


def _tmp(like: np.ndarray) -> np.ndarray:
    """A float64 temporary for a block shaped as `like`."""
    if like.size <= _BLOCK:
        return _scratch(like.size).reshape(like.shape)
    return np.empty(like.shape, dtype=_F64)


def _out(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    return np.empty(x.shape, dtype=x.dtype) if out is None else out


def _wide(a: np.ndarray) -> bool:
    """Whether a is float64 (computed natively) rather than float32/float16 (via float64)."""
    return a.dtype.itemsize >= 8


def scalar(a: np.ndarray, value: float):
    """value as PyTorch passes a Python scalar to a kernel on a's dtype (its op-math type)."""
    return _F64(value) if _wide(a) else _F32(value)


def _store(res: np.ndarray, like: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    if out is None:
        return res.astype(like.dtype)
    np.copyto(out, res, casting="unsafe")
    return out


def _f64(a: np.ndarray) -> np.ndarray:
    """A float64 copy of a, always an array (0-d included)."""
    return np.array(a, dtype=_F64)


def _f32(a: np.ndarray) -> np.ndarray:
    return np.array(a, dtype=_F32)


def new(a: np.ndarray) -> np.ndarray:
    """A writable copy of a (an array even when 0-d: NumPy's ufuncs return scalars then)."""
    return np.array(a, copy=True)


def neg(a: np.ndarray) -> np.ndarray:
    """-a as a new array."""
    return np.negative(a, out=np.empty(a.shape, a.dtype))


def sqrt(a: np.ndarray) -> np.ndarray:
    """sqrt(a) as a new array."""
    return np.sqrt(a, out=np.empty(a.shape, a.dtype))


def mul(x: np.ndarray, value: float, out: np.ndarray | None = None) -> np.ndarray:
    """x * value."""
    s = scalar(x, value)
    if _wide(x) or x.dtype == _F32:  # (in float32 itself: one rounding, as PyTorch's)
        return np.multiply(x, s, out=new(x) if out is None else out)
    r = _f32(x)
    r *= s
    return _store(r, x, out)


def axpy(x: np.ndarray, y: np.ndarray, alpha: float, out: np.ndarray | None = None):
    """x + alpha * y (PyTorch's `x.add(y, alpha=alpha)`), fused."""
    a = scalar(x, alpha)
    if _wide(x):
        t = np.multiply(y, a, out=np.empty(y.shape, y.dtype))
        return np.add(x, t, out=out if out is not None else t)
    if y.shape != x.shape:
        y = np.broadcast_to(y, x.shape)
    a = _F64(a)
    res = _out(x, out)
    for ob, (xb, yb) in _blocks(res, x, y):
        t = np.multiply(yb, a, out=_tmp(ob))  # exact: a product of two float32 values
        np.add(t, xb, out=ob, casting="unsafe")  # one rounding to the dtype
    return res


def addcmul(x, y, z, value: float, out: np.ndarray | None = None) -> np.ndarray:
    """x + (value * y) * z (PyTorch's `addcmul`): value*y rounded, then fused with z and x."""
    v = scalar(x, value)
    if _wide(x):
        t = np.multiply(y, v, out=np.empty(y.shape, y.dtype))
        t *= z
        return np.add(x, t, out=out if out is not None else t)
    if y.shape != x.shape or z.shape != x.shape:
        y, z = np.broadcast_to(y, x.shape), np.broadcast_to(z, x.shape)
    res = _out(x, out)
    for ob, (xb, yb, zb) in _blocks(res, x, y, z):
        t = _tmp(ob)
        np.multiply(yb, v, out=t, dtype=_F32, casting="unsafe")  # value * y, rounded in float32
        np.multiply(t, zb, out=t)  # exact (two float32 values)
        np.add(t, xb, out=ob, casting="unsafe")
    return res


def addcdiv(x, y, z, value: float, out: np.ndarray | None = None) -> np.ndarray:
    """x + (value * y) / z (PyTorch's `addcdiv`; not fused)."""
    v = scalar(x, value)
    if _wide(x):
        t = np.multiply(y, v, out=np.empty(y.shape, y.dtype))
        t /= z
        return np.add(x, t, out=out if out is not None else t)
    t = _f32(y)
    t *= v
    t /= z
    t += x
    return _store(t, x, out)


def lerp(x, y, weight: float, out: np.ndarray | None = None) -> np.ndarray:
    """x + w (y - x) for |w| < 0.5, else y - (y - x)(1 - w), fused (PyTorch's `lerp`)."""
    w = scalar(x, weight)
    if _wide(x):
        d = np.subtract(y, x, out=np.empty(x.shape, x.dtype))
        if abs(w) < 0.5:
            d *= w
            return np.add(x, d, out=out if out is not None else d)
        d *= 1 - w
        return np.subtract(y, d, out=out if out is not None else d)
    if y.shape != x.shape:
        y = np.broadcast_to(y, x.shape)
    small = abs(w) < 0.5
    f = _F64(w) if small else -_F64(_F32(1) - w)
    res = _out(x, out)
    for ob, (xb, yb) in _blocks(res, x, y):
        t = _tmp(ob)
        np.subtract(yb, xb, out=t, dtype=_F32, casting="unsafe")  # y - x, rounded in float32
        t *= f  # exact (two float32 values)
        np.add(t, xb if small else yb, out=ob, casting="unsafe")
    return res


def add_scalar(x: np.ndarray, value: float, out: np.ndarray | None = None) -> np.ndarray:
    """x + value."""
    return np.add(x, scalar(x, value).astype(x.dtype), out=new(x) if out is None else out)


def real(a: np.ndarray) -> np.ndarray:
    """a itself, or for a complex array its view as real pairs (PyTorch's view_as_real)."""
    if a.dtype.kind != "c":
        return a
    return a[..., None].view(a.real.dtype)


def copy_as(g: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """A new array shaped and typed as ref (complex or real) holding g's values, where g is
    ref-like or the real view of a ref-like array."""
    if ref.dtype.kind != "c":
        return np.array(g, dtype=ref.dtype, copy=True)
    out = np.empty_like(ref)
    real(out)[...] = g
    return out

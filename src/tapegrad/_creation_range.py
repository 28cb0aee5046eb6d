"""arange, range, linspace and logspace with PyTorch's exact values.

PyTorch's CPU kernels are reproduced operation by operation, so the results are bit-identical
and not merely close: `arange(0, 1, 0.1)` must print the same digits. What they do:

- arange works in the "accumulate type" of the result (double for float32/float64, float for
  float16, int64 for integers) as `start + step * i`, contracted to a fused multiply-add by the
  compiler, and writes blocks of 2 x lanes values (AVX2: 4 doubles, 8 floats, 16 halves) as
  `base + k * step` from a block base computed the same way. The length is
  `ceil((end - start) / step)` in double (integer arithmetic for int64 results).
- linspace fills the first half as `start + step * i` and the second half as
  `end - step * (steps - 1 - i)`, in the result dtype (in double for integer results).
- logspace is `base ** (start + step * i)` (second half from the end likewise), in double
  (float for integer results).

Outputs longer than PyTorch's parallel grain (32768) are split across threads by PyTorch, and
their block pattern then depends on the thread count: beyond that length values may differ
from PyTorch's in the last bit.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from . import _dtype as D
from ._tensor import Tensor

__all__ = ["arange", "range", "linspace", "logspace"]

# --- exact arithmetic helpers ----------------------------------------------------------------
def _two_prod(a, b):
    """p, e with p + e == a * b exactly (Dekker's product, no FMA instruction needed)."""
    p = a * b
    t = 134217729.0 * a
    ah = t - (t - a)
    al = a - ah
    t = 134217729.0 * b
    bh = t - (t - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def _fma(a, b, c):
    """a * b + c rounded once (as the fused multiply-add PyTorch's compiled kernels use)."""
    with np.errstate(all="ignore"):
        p, e = _two_prod(np.asarray(a, np.float64), np.asarray(b, np.float64))
        s = p + c
        bb = s - p
        t = (p - (s - bb)) + (c - bb)
        r = s + (t + e)
    # inf/nan inputs make the error terms nan: fall back to the plain expression there
    plain = p + c
    # non-finite inputs make the error terms nan; zeros take the sign of the plain sum
    return np.where(np.isfinite(r) & (r != 0), r, plain)


_pow = np.frompyfunc(math.pow, 2, 1)


def _num(v):
    if isinstance(v, Tensor):
        return v.item()
    if isinstance(v, (np.integer, np.bool_)):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _c_double(v) -> str:
    """A double as C++ streams print it (6 significant digits)."""
    return f"{v:g}"


# --- arange ---------------------------------------------------------------------------------
def _arange_values(start, step, n: int, dt: D.dtype) -> np.ndarray:
    idx = np.arange(n, dtype=np.int64)
    if dt.category == D.INT:
        with np.errstate(over="ignore"):
            return (np.int64(start) + np.int64(step) * idx).astype(dt.np)
    if dt is D.float16:
        acc = np.float32
        lanes = 16
    else:
        acc = np.float64
        lanes = 4 if dt is D.float64 else 8
    s = float(acc(start))
    st = float(acc(step))
    # the value of each element in the scalar loop: fma(step, i, start) in the acc type
    vals = _fma(st, idx.astype(np.float64), s)
    block = 2 * lanes
    nvec = (n // block) * block
    if nvec:
        i = np.arange(nvec)
        base = vals[i - i % lanes].astype(dt.np).astype(np.float64)
        k = (i % lanes).astype(np.float64)
        vals[:nvec] = _fma(k, st, base)
    if acc is np.float32:
        vals = vals.astype(np.float32)
    with np.errstate(over="ignore"):
        return vals.astype(dt.np)


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Values from start (inclusive) to end (exclusive) spaced by step, as PyTorch computes
    them (bit for bit).

    >>> import tapegrad
    >>> tapegrad.arange(5)
    tensor([0, 1, 2, 3, 4])
    >>> tapegrad.arange(0, 1, 0.25)
    tensor([0.0000, 0.2500, 0.5000, 0.7500])
    """
    from ._creation import _finish, _out

    if end is None:
        start, end = 0, start
    start, end, step = _num(start), _num(end), _num(step)
    for v in (start, end, step):
        if isinstance(v, complex):
            raise RuntimeError("value cannot be converted to type double without overflow")
    if dtype is None:
        is_float = any(isinstance(v, float) for v in (start, end, step))
        dtype = D._defaults.float if is_float else D.int64
    if dtype is D.bool or dtype.category == D.COMPLEX:
        raise NotImplementedError(f"\"arange_cpu\" not implemented for '{dtype._short}'")
    dstart, dend, dstep = float(start), float(end), float(step)
    if not (dstep > 0 or dstep < 0):
        raise RuntimeError("step must be nonzero")
    if not (math.isfinite(dstart) and math.isfinite(dend)):
        raise RuntimeError(f"unsupported range: {_c_double(dstart)} -> {_c_double(dend)}")
    if not ((dstep > 0 and dend >= dstart) or (dstep < 0 and dend <= dstart)):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if dtype.category == D.INT:
        xs, xe, xst = int(start), int(end), int(step)  # the int64 accumulate type truncates
        if dtype is D.int64:
            if xst == 0:
                raise ValueError("step must be nonzero")
            sgn = (xst > 0) - (xst < 0)
            num = xe - xs + xst - sgn
            size_d = float(abs(num) // abs(xst) * (1 if (num >= 0) == (xst > 0) else -1))
        else:
            size_d = math.ceil((dend - dstart) / dstep)
        vstart, vstep = xs, xst
    else:
        size_d = math.ceil((dend - dstart) / dstep)
        vstart, vstep = dstart, dstep
    if not (0 <= size_d <= 9.223372036854775807e18):
        raise RuntimeError("invalid size, possible overflow?")
    arr = _arange_values(vstart, vstep, int(size_d), dtype)
    if out is not None and 0 < out._data.size != arr.size:
        warnings.warn(
            f"The number of elements in the out tensor of shape [{', '.join(map(str, out.shape))}]"
            f" is {out._data.size} which does not match the computed number of elements "
            f"{arr.size}. Note that this may occur as a result of rounding error. The out "
            f"tensor will be resized to a tensor of shape ({arr.size},).",
            UserWarning, stacklevel=2,
        )
    return _out(_finish(arr, requires_grad), out, "arange")


def range(start=0, end=None, step=1, *, out=None, dtype=None, layout=None,  # noqa: A001
          device=None, requires_grad: bool = False) -> Tensor:
    """Deprecated: values from start to end inclusive (in the default float dtype)."""
    from ._creation import _finish, _out

    warnings.warn(
        "torch.range is deprecated and will be removed in a future release because its behavior "
        "is inconsistent with Python's range builtin. Instead, use torch.arange, which produces "
        "values in [start, end).".replace("torch.", "tapegrad."),
        UserWarning,
        stacklevel=2,
    )
    if end is None:
        start, end = 0, start
    start, end, step = _num(start), _num(end), _num(step)
    dt = D._defaults.float if dtype is None else dtype
    if dt.category == D.INT:
        xs, xe, xst = int(start), int(end), int(step)
    else:
        xs, xe, xst = float(start), float(end), float(step)
    if not (xst > 0 or xst < 0):
        raise RuntimeError("step must be nonzero")
    if not ((xst > 0 and xe >= xs) or (xst < 0 and xe <= xs)):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    n = int((xe - xs) / xst + 1)
    if dt.category == D.INT:
        arr = (np.int64(xs) + np.arange(n, dtype=np.int64) * np.int64(xst)).astype(dt.np)
    else:
        acc = np.float32 if dt is D.float16 else np.float64
        arr = (acc(xs) + np.arange(n).astype(acc) * acc(xst)).astype(dt.np)
    return _out(_finish(arr, requires_grad), out)


# --- linspace / logspace ----------------------------------------------------------------------
def _space_dtype(dtype, start, end) -> D.dtype:
    if dtype is not None:
        return dtype
    if isinstance(start, complex) or isinstance(end, complex):
        return D._defaults.complex
    return D._defaults.float


def _check_steps(steps) -> int:
    if isinstance(steps, Tensor):
        steps = steps.item()
    if isinstance(steps, (bool, float)) or not isinstance(steps, (int, np.integer)):
        raise TypeError(
            f"linspace(): argument 'steps' (position 3) must be int, not {type(steps).__name__}"
        )
    steps = int(steps)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    return steps


def _halves(steps: int):
    """Indices i, the mask of the first half, and the counts from the end (steps - 1 - i)."""
    i = np.arange(steps, dtype=np.int64)
    return i, i < steps // 2, steps - 1 - i


def _linspace_values(start, end, steps: int, dt: D.dtype) -> np.ndarray:
    i, first, back = _halves(steps)
    c = dt.category
    if c == D.INT:
        s, e = D.checked_scalar(start, dt), D.checked_scalar(end, dt)
        step = (float(e) - float(s)) / (steps - 1)
        lo = _fma(step, i.astype(np.float64), float(s))
        hi = _fma(-step, back.astype(np.float64), float(e))
        v = np.where(first, lo, hi)
        with np.errstate(invalid="ignore"):
            return np.trunc(v).astype(np.int64).astype(dt.np)
    if dt is D.float16:
        h = np.float16
        s, e = h(D.checked_scalar(start, dt)), h(D.checked_scalar(end, dt))
        with np.errstate(over="ignore"):
            step = h(h(e - s) / h(steps - 1))
            lo = s + step * i.astype(h)
            hi = e - step * back.astype(h)
        return np.where(first, lo, hi).astype(h)
    npd = dt.np
    s = npd.type(D.checked_scalar(start, dt))
    e = npd.type(D.checked_scalar(end, dt))
    with np.errstate(all="ignore"):
        step = npd.type((e - s) / npd.type(steps - 1))
        if c == D.COMPLEX:
            lo = s + step * i.astype(npd)
            hi = e - step * back.astype(npd)
        else:
            fs, fe, fst = float(s), float(e), float(step)
            lo = _fma(fst, i.astype(np.float64), fs)
            hi = _fma(-fst, back.astype(np.float64), fe)
    return np.where(first, lo, hi).astype(npd)


def linspace(start, end, steps: int, *, out=None, dtype=None, layout=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """steps values evenly spaced from start to end inclusive (PyTorch's values exactly).

    >>> import tapegrad
    >>> tapegrad.linspace(0, 1, 5)
    tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
    """
    from ._creation import _finish, _out

    start, end = _num(start), _num(end)
    steps = _check_steps(steps)
    dt = _space_dtype(dtype, start, end)
    if dt is D.bool:
        raise NotImplementedError("\"linspace_cpu\" not implemented for 'Bool'")
    if steps == 0:
        arr = np.zeros((0,), dt.np)
    elif steps == 1:
        arr = np.full((1,), D.checked_scalar(start, dt), dt.np)
    else:
        arr = _linspace_values(start, end, steps, dt)
    return _out(_finish(arr, requires_grad), out)


def logspace(start, end, steps: int, base: float = 10.0, *, out=None, dtype=None, layout=None,
             device=None, requires_grad: bool = False) -> Tensor:
    """steps values from base ** start to base ** end, evenly spaced in the exponent.

    >>> import tapegrad
    >>> tapegrad.logspace(0, 2, 3)
    tensor([  1.,  10., 100.])
    """
    from ._creation import _finish, _out

    start, end, base = _num(start), _num(end), _num(base)
    steps = _check_steps(steps)
    dt = _space_dtype(dtype, start, end)
    if dt is D.bool:
        raise NotImplementedError("\"logspace_cpu\" not implemented for 'Bool'")
    if steps == 0:
        arr = np.zeros((0,), dt.np)
    elif steps == 1:
        if isinstance(start, complex):
            v = complex(base) ** start
        else:
            try:
                v = math.pow(float(base), float(start))
            except OverflowError:
                v = math.inf
        with np.errstate(all="ignore"):
            arr = np.full((1,), v).astype(dt.np)
    else:
        arr = _logspace_values(start, end, steps, base, dt)
    return _out(_finish(arr, requires_grad), out)


def _logspace_values(start, end, steps: int, base, dt: D.dtype) -> np.ndarray:
    i, first, back = _halves(steps)
    c = dt.category
    with np.errstate(all="ignore"):
        if c == D.INT:
            # integer results: float base, float step, powf, truncation
            s, e = D.checked_scalar(start, dt), D.checked_scalar(end, dt)
            f = np.float32
            step = f(f(e - s) / f(steps - 1))
            lo = f(s) + step * i.astype(f)
            hi = f(e) - step * back.astype(f)
            v = np.power(f(base), np.where(first, lo, hi))
            return np.trunc(v).astype(np.int64).astype(dt.np)
        npd = dt.np
        s = npd.type(D.checked_scalar(start, dt))
        e = npd.type(D.checked_scalar(end, dt))
        if c == D.COMPLEX:
            step = complex(e - s) / (steps - 1)
            lo = complex(s) + step * i
            hi = complex(e) - step * back
            return np.power(complex(base), np.where(first, lo, hi)).astype(npd)
        # plain double arithmetic here: this kernel is built without fused multiply-adds
        step = float(npd.type(e - s)) / (steps - 1)
        lo = float(s) + step * i.astype(np.float64)
        hi = float(e) - step * back.astype(np.float64)
        # the C library's pow (as PyTorch calls it), not NumPy's vectorised one; a double
        # becomes a half through float, as c10::Half converts it
        v = _pow(float(base), np.where(first, lo, hi)).astype(np.float64)
        return (v.astype(np.float32) if dt is D.float16 else v).astype(npd)

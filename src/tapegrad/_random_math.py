"""The arithmetic of PyTorch's CPU random kernels, reproduced step by step in NumPy so that a
seeded tapegrad program draws exactly the numbers the same PyTorch program draws.

PyTorch's CPU generator is a 32-bit Mersenne Twister (mt19937, seeded with init_genrand on the
low 32 bits of the seed); NumPy's MT19937 bit generator is the same engine, so the raw 32-bit
words agree. On top of them:

- uniform floats keep the low 24 bits of one word (float32; float16 rounds that float), or the
  low 53
  bits of two words joined high-first (float64), scaled by 2**-bits;
- normal samples of 16 or more values are made 16 at a time by the Box-Muller transform over
  16 uniforms (a partial last block is redrawn over the last 16 positions). For float32 PyTorch
  runs AVX2 code whose log, sin and cos are the polynomial approximations of avx_mathfun.h,
  with the compiler fusing multiply-adds; `log256`/`sincos256` below repeat them operation by
  operation. For float64 the C library's log/sin/cos are used, which Python's math module
  calls too;
- fewer than 16 normal values come one at a time from a double Box-Muller pair, the second
  value of the pair being kept in the generator for the next draw.
"""

from __future__ import annotations

import math

import numpy as np

from . import _dtype as D

_f32 = np.float32
_f64 = np.float64


def _fma32(a, b, c):
    """float32 a * b + c with one rounding (the FMA the AVX2 build uses); the float32 product is
    exact in double, so only the final sum is rounded (to double, then to float)."""
    return (np.asarray(a, _f64) * np.asarray(b, _f64) + np.asarray(c, _f64)).astype(_f32)


_LOG_P = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
          1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
          3.3333331174e-1]


def log256(x: np.ndarray) -> np.ndarray:
    """avx_mathfun's log256_ps (cephes logf), float32, with fused multiply-adds."""
    x = x.astype(_f32)
    invalid = x <= 0
    x = np.maximum(x, np.array([0x00800000], np.int32).view(_f32)[0])
    bits = x.view(np.int32)
    e = ((bits >> 23) - 0x7F).astype(_f32) + _f32(1)
    x = ((bits & ~0x7F800000) | np.array([0.5], _f32).view(np.int32)[0]).view(_f32)
    mask = x < _f32(0.707106781186547524)
    tmp = np.where(mask, x, _f32(0))
    x = x - _f32(1)
    e = e - np.where(mask, _f32(1), _f32(0))
    x = x + tmp
    z = x * x
    y = np.full_like(x, _f32(_LOG_P[0]))
    for c in _LOG_P[1:]:
        y = _fma32(y, x, _f32(c))
    y = y * x
    y = _fma32(y, z, e * _f32(-2.12194440e-4))
    y = _fma32(z, _f32(-0.5), y)
    x = x + y
    x = _fma32(e, _f32(0.693359375), x)
    return np.where(invalid, _f32(np.nan), x)


def sincos256(x: np.ndarray):
    """avx_mathfun's sincos256_ps (cephes sinf/cosf), float32, with fused multiply-adds."""
    x = x.astype(_f32)
    sign_sin = np.signbit(x)
    x = np.abs(x)
    j = (x * _f32(1.27323954473516)).astype(np.int32)
    j = (j + 1) & ~1
    y = j.astype(_f32)
    swap_sin = (j & 4) != 0
    poly_mask = (j & 2) == 0
    x = _fma32(y, _f32(-0.78515625), x)
    x = _fma32(y, _f32(-2.4187564849853515625e-4), x)
    x = _fma32(y, _f32(-3.77489497744594108e-8), x)
    sign_cos = (~(j - 2) & 4) != 0
    sign_sin = sign_sin ^ swap_sin
    z = x * x
    yc = _fma32(np.full_like(x, _f32(2.443315711809948e-5)), z, _f32(-1.388731625493765e-3))
    yc = _fma32(yc, z, _f32(4.166664568298827e-2))
    yc = yc * z
    yc = _fma32(yc, z, -(z * _f32(0.5)))
    yc = yc + _f32(1)
    ys = _fma32(np.full_like(x, _f32(-1.9515295891e-4)), z, _f32(8.3321608736e-3))
    ys = _fma32(ys, z, _f32(-1.6666654611e-1))
    ys = ys * z
    ys = _fma32(ys, x, x)
    sin_part = np.where(poly_mask, ys, _f32(0))
    cos_part = np.where(poly_mask, _f32(0), yc)
    s = cos_part + sin_part
    c = (yc - cos_part) + (ys - sin_part)
    return np.where(sign_sin, -s, s), np.where(sign_cos, -c, c)


def normal_fill_f32(u: np.ndarray, mean: float, std: float) -> np.ndarray:
    """PyTorch's normal_fill_AVX2 over uniforms u (whose length is a multiple of 16)."""
    blocks = u.reshape(-1, 16)
    u1 = _f32(1) - blocks[:, :8]
    u2 = blocks[:, 8:]
    radius = np.sqrt(_f32(-2) * log256(u1)).astype(_f32)
    theta = _f32(2.0 * math.pi) * u2
    s, c = sincos256(theta)
    out = np.empty_like(blocks)
    out[:, :8] = _fma32(radius * c, _f32(std), _f32(mean))
    out[:, 8:] = _fma32(radius * s, _f32(std), _f32(mean))
    return out.reshape(-1)


_log = np.frompyfunc(math.log, 1, 1)
_sin = np.frompyfunc(math.sin, 1, 1)
_cos = np.frompyfunc(math.cos, 1, 1)


def normal_fill_f64(u: np.ndarray, mean: float, std: float) -> np.ndarray:
    """PyTorch's generic normal_fill<double> (C library log/sin/cos, as Python's math)."""
    from ._creation_range import _fma

    blocks = u.reshape(-1, 16)
    u1 = 1.0 - blocks[:, :8]
    u2 = blocks[:, 8:]
    radius = np.sqrt(-2.0 * _log(u1).astype(_f64))
    theta = _f64(2.0 * math.pi) * u2
    out = np.empty_like(blocks)
    out[:, :8] = _fma(radius * _cos(theta).astype(_f64), std, mean)
    out[:, 8:] = _fma(radius * _sin(theta).astype(_f64), std, mean)
    return out.reshape(-1)


def to_dtype(v: np.ndarray, dt: D.dtype) -> np.ndarray:
    """double results as dtype dt (to half through float, as c10::Half converts a double)."""
    if dt is D.float16:
        return v.astype(_f32).astype(np.float16)
    return v.astype(dt.np)


def uniform_values(gen, n: int, dt: D.dtype, lo: float, hi: float) -> np.ndarray:
    """n samples of uniform_(lo, hi) of dtype dt: u * (hi - lo) + lo (one rounding) over the
    uniforms u of dt's precision (float16: float32 ones, the result rounded to half), with
    bounds and difference in that precision; a result that rounds to hi is replaced by lo,
    keeping the interval half-open. Complex: 2n samples of the real dtype, as (re, im) pairs."""
    if dt.category == D.COMPLEX:
        real = D.float32 if dt is D.complex64 else D.float64
        return uniform_values(gen, 2 * n, real, lo, hi).view(dt.np)
    if dt is D.float64:
        from ._creation_range import _fma

        v = _fma(gen._uniform(n, dt), hi - lo, lo)
        top, low = hi, lo
    else:
        lo32, hi32 = _f32(lo), _f32(hi)
        v = _fma32(gen._uniform(n, D.float32), _f32(hi32 - lo32), lo32).astype(dt.np)
        top, low = dt.np.type(hi), dt.np.type(lo)
    v[v == top] = low
    return v


def normal_values(gen, n: int, dt: D.dtype, mean: float = 0.0,
                  std: float = 1.0) -> np.ndarray:
    """n normal samples of dtype dt as PyTorch's normal_ kernel draws them."""
    if dt.category == D.COMPLEX:
        real = D.float32 if dt is D.complex64 else D.float64
        v = normal_values(gen, 2 * n, real, mean, std / math.sqrt(2))
        return v.view(dt.np)
    if n >= 16 and dt is D.float16:
        # float16: float32 math rounded to half; uniforms are drawn for the whole blocks only,
        # then 16 more for a partial last block, which overwrites the last 16 positions
        head = n - n % 16
        out = normal_fill_f32(gen._uniform(head, D.float32), mean, std)
        if n % 16:
            tail = normal_fill_f32(gen._uniform(16, D.float32), mean, std)
            out = np.concatenate([out[: n - 16], tail])
        return out.astype(np.float16)
    if n >= 16:
        # all n uniforms first; full blocks of 16 transformed; a partial last block is redrawn
        # (16 new uniforms) over the last 16 positions
        fill = normal_fill_f32 if dt is D.float32 else normal_fill_f64
        head = n - n % 16
        u = gen._uniform(n, dt)
        out = np.empty(n, dt.np)
        out[:head] = fill(u[:head], mean, std).astype(dt.np)
        if n % 16:
            out[n - 16:] = fill(gen._uniform(16, dt), mean, std).astype(dt.np)
        return out
    return to_dtype(_normal_scalar(gen, n, mean, std), dt)


def _normal_scalar(gen, n: int, mean: float, std: float) -> np.ndarray:
    """One sample at a time: a double Box-Muller pair, the spare kept in the generator."""
    from ._creation_range import _fma

    out = np.empty(n, np.float64)
    for i in range(n):
        spare = gen._next_double
        if spare is not None:
            gen._raw(0)  # (a draw all the same: refused where draws are, see refuse_draws)
            gen._next_double = None
            out[i] = _fma(spare, std, mean)
            continue
        u1, u2 = gen._uniform(2, D.float64)
        r = math.sqrt(-2.0 * math.log1p(-u2))
        theta = 2.0 * math.pi * u1
        gen._next_double = r * math.sin(theta)
        out[i] = _fma(r * math.cos(theta), std, mean)
    return out


_INT_CNAMES = {"uint8": "unsigned char", "int8": "signed char", "int16": "short", "int32": "int",
               "int64": "long", "float16": "c10::Half", "float32": "float", "float64": "double",
               "bool": "bool"}


def random_from_to(gen, n: int, low: int, high: int, dt: D.dtype) -> np.ndarray:
    """PyTorch's random_(from, to): (word % range) + from, 64-bit words for wide ranges."""
    if low >= high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    if dt.category == D.COMPLEX:
        raise NotImplementedError(f"\"random_from_to\" not implemented for '{dt._short}'")
    if dt is D.bool:
        lo_ok, hi_ok = 0, 1
    elif dt.category == D.INT:
        info = np.iinfo(dt.np)
        lo_ok, hi_ok = int(info.min), int(info.max)
    else:
        digits = np.finfo(dt.np).nmant + 1
        lo_ok, hi_ok = -(1 << digits), 1 << digits
    cname = _INT_CNAMES[dt.name]
    if not lo_ok <= low <= hi_ok:
        raise RuntimeError(f"from is out of bounds for {cname}")
    if not lo_ok <= high - 1 <= hi_ok:
        raise RuntimeError(f"to - 1 is out of bounds for {cname}")
    rng = high - low
    wide = rng >= (1 << 28) and dt in (D.int64, D.int32, D.float64, D.float32)  # as ATen
    words = gen._random64(n) if wide else gen._raw(n)
    # (word % range) + from in uint64 arithmetic (wrapping), read as int64
    vals = (words % np.uint64(rng)) + np.uint64(low % (1 << 64))
    return vals.view(np.int64).astype(dt.np)


# --- layout and argument checks shared by the fills -------------------------------------------
def placed(a: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """flat (values drawn one after another) as an array of a's shape, in a's memory order
    (the order ATen's TensorIterator walks a tensor; see _creation.memory_order)."""
    from ._creation import in_memory_order, memory_order

    return in_memory_order(flat, a.shape, None if a.size == 0 else memory_order(a))


def normal_fill(gen, a: np.ndarray, dt: D.dtype, mean: float, std: float) -> np.ndarray:
    """normal_ of a tensor whose array is a: the 16-at-a-time kernel for a contiguous tensor
    of 16 or more elements, otherwise one double sample at a time in memory order (complex:
    over the real view, std / sqrt(2) per part, re and im adjacent)."""
    n = a.size
    if a.flags.c_contiguous and n >= (8 if dt.category == D.COMPLEX else 16):
        return normal_values(gen, n, dt, mean, std).reshape(a.shape)
    if dt.category == D.COMPLEX:
        real = D.float32 if dt is D.complex64 else D.float64
        z = to_dtype(_normal_scalar(gen, 2 * n, mean, std / math.sqrt(2)), real)
        return placed(a, z.view(dt.np))
    return placed(a, to_dtype(_normal_scalar(gen, n, mean, std), dt))


_TYPE_NAMES = {"float16": "Half", "float32": "Float", "float64": "Double"}


def check_uniform_bounds(dt: D.dtype, lo: float, hi: float) -> None:
    """PyTorch's checks of uniform_'s bounds for the real dtype dt (nan fails them)."""
    info = np.finfo(dt.np)
    low, high = float(info.min), float(info.max)
    for v, name in ((lo, "from"), (hi, "to")):
        if not low <= v <= high:
            raise RuntimeError(f"{name} is out of bounds for {dt._cname}")
    if not lo <= hi:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={lo:g} > to={hi:g}")
    if not hi - lo <= high:
        raise RuntimeError(
            f"uniform_ expects to-from <= std::numeric_limits<{_TYPE_NAMES[dt.name]}>::max(), "
            f"but found to={hi:g} and from={lo:g} which result in to-from to exceed the limit")


def check_probs(prob: np.ndarray) -> None:
    """Bernoulli probabilities must lie in [0, 1] (nan fails)."""
    with np.errstate(invalid="ignore"):
        ok = bool(np.all((prob >= 0) & (prob <= 1)))
    if not ok:
        raise RuntimeError(
            "Expected p_in >= 0 && p_in <= 1 to be true, but got false.  (Could this error "
            "message be improved?  If so, please report an enhancement request to PyTorch.)"
        )


def check_expand(p, shape: tuple) -> None:
    """expand(p, shape)'s checks for a tensor p (no leading dims are dropped)."""
    from .ops.inplace import _shape_str

    src = p._data.shape
    if len(src) > len(shape):
        raise RuntimeError(
            f"expand(tapegrad.{p._dtype._legacy}{{{_shape_str(src)}}}, size={_shape_str(shape)}"
            f"): the number of sizes provided ({len(shape)}) must be greater or equal to the "
            f"number of dimensions in the tensor ({len(src)})")
    off = len(shape) - len(src)
    for i, s in enumerate(src):
        t = shape[off + i]
        if s != t and s != 1:
            raise RuntimeError(
                f"The expanded size of the tensor ({t}) must match the existing size ({s}) at "
                f"non-singleton dimension {off + i}.  Target sizes: {_shape_str(shape)}.  "
                f"Tensor sizes: {_shape_str(src)}")

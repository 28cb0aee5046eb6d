"""More random samplers that reproduce PyTorch's CPU streams: the in-place fills
exponential_, cauchy_, log_normal_ and geometric_, random_ over a dtype's full range, and
multinomial.

Each fill draws exactly the numbers PyTorch 2.13's serial CPU kernels draw from the same
Mersenne Twister state (see _random.py / _random_math.py), and writes them in the tensor's
memory order, as PyTorch's kernels do:

- exponential_(l):  u double uniform (53 bits)   x = (-1 / l) * log1p(-u)
- cauchy_(m, s):    u double uniform             x = m + s * tan(pi * (u - 1/2))
- log_normal_(m, s): z a double normal sample (the one-at-a-time Box-Muller pair whose spare
                    the generator keeps, as normal() of fewer than 16 values)   x = exp(m + s z)
- geometric_(p):    u double uniform             x = ceil(log(u) / log1p(-p))
- random_():        a 32-bit word w (64-bit for int64 and float64)   x = w mod (max + 1), where
                    max is the dtype's largest value (2**digits for floating types; bool: w & 1)

All of them compute in double with the C library's log/log1p/tan/exp (Python's `math` calls
the same functions; NumPy's own versions can differ in the last bit) and cast the result to
the tensor's dtype (to float16 through float32, as c10::Half converts).

multinomial without replacement (or drawing one sample) is PyTorch's Gumbel-max trick:
q ~ Exp(1) filled as exponential_ does, then the indices of the num_samples largest p / q
(topk, whose ties tapegrad resolves as PyTorch's CPU kernel does). With replacement, each row's
cumulative sums are formed in the input's dtype (float32 for float16), divided by the total, the
last set to 1, and each sample is the first index whose cumulative value is >= a double uniform.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _dtype as D
from .._random import _gen
from .._random import random_ as _random_from_to_method
from .._random_math import _normal_scalar
from .._tensor import Tensor, _make, _tp_name
from .inplace import check_inplace, copy_out, write_array

__all__ = ["multinomial"]

_log1p = np.frompyfunc(math.log1p, 1, 1)
_log = np.frompyfunc(math.log, 1, 1)
_tan = np.frompyfunc(math.tan, 1, 1)
_exp = np.frompyfunc(math.exp, 1, 1)
_NOARG = object()


def _libm(fn, a: np.ndarray) -> np.ndarray:
    """fn (a libm function lifted by frompyfunc) over a float64 array, as float64."""
    return np.asarray(fn(a), dtype=np.float64).reshape(a.shape)


def _cast(v: np.ndarray, dt: D.dtype) -> np.ndarray:
    """double results as dtype dt: to half through float, to integers through int64 (the C
    conversion's wrap-around)."""
    if dt is D.float16:
        return v.astype(np.float32).astype(np.float16)
    if dt.category == D.INT:
        with np.errstate(invalid="ignore"):
            return v.astype(np.int64).astype(dt.np)
    return v.astype(dt.np)


def _fill(self: Tensor, flat: np.ndarray, node_name: str) -> Tensor:
    """Write values drawn in order into self's memory order, recorded as node_name."""
    from .._creation import like_layout

    return write_array(self, like_layout(self, self._dtype, flat), node_name)


def _number(v, fn: str, arg: str, pos: int) -> float:
    if isinstance(v, Tensor) and v._data.ndim == 0:
        v = v.item()
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                              np.floating)):
        raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be float, not "
                        f"{_tp_name(v)}")
    return float(v)


def _fmt(v: float) -> str:
    return f"{v:g}"  # C++'s default stream formatting of a double


def _continuous(dt: D.dtype, name: str, cname: bool = False) -> None:
    if dt.category != D.FLOAT:
        kind = dt._cname if cname else dt._short
        raise RuntimeError(f"{name} distribution is a continuous probability distribution. "
                           f"dtype must be a floating point but you specified {kind}")


def _uniform64(self: Tensor, generator) -> np.ndarray:
    return _gen(generator)._uniform(self._data.size, D.float64)


# --- the in-place samplers -----------------------------------------------------------------------
def exponential_(self: Tensor, lambd: float = 1.0, *, generator=None) -> Tensor:
    """Fill with samples of the exponential distribution of rate lambd (PyTorch's values).

    >>> import tapegrad
    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.empty(3).exponential_()
    tensor([3.5083, 1.2304, 0.6150])
    """
    check_inplace(self)
    lam = _number(lambd, "exponential_", "lambd", 1)
    if not lam > 0.0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={_fmt(lam)}")
    _continuous(self._dtype, "Exponential")
    u = _uniform64(self, generator)
    v = (-1.0 / lam) * _libm(_log1p, -u)
    return _fill(self, _cast(v, self._dtype), "ExponentialBackward0")


def cauchy_(self: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor:
    """Fill with samples of the Cauchy distribution (PyTorch's values).

    >>> import tapegrad
    >>> tapegrad.empty(2).cauchy_(sigma=0.5).shape
    tapegrad.Size([2])
    """
    check_inplace(self)
    m = _number(median, "cauchy_", "median", 1)
    s = _number(sigma, "cauchy_", "sigma", 2)
    if not s > 0.0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={_fmt(s)}")
    _continuous(self._dtype, "Cauchy", cname=True)
    u = _uniform64(self, generator)
    v = m + s * _libm(_tan, math.pi * (u - 0.5))
    return _fill(self, _cast(v, self._dtype), "CauchyBackward0")


def log_normal_(self: Tensor, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor:
    """Fill with exp(N(mean, std**2)) samples (PyTorch's values).

    >>> import tapegrad
    >>> bool((tapegrad.empty(4).log_normal_() > 0).all())
    True
    """
    check_inplace(self)
    m = _number(mean, "log_normal_", "mean", 1)
    s = _number(std, "log_normal_", "std", 2)
    if not s > 0.0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={_fmt(s)}")
    dt = self._dtype
    if dt.category != D.FLOAT:
        raise NotImplementedError(f"\"log_normal_cpu\" not implemented for '{dt._short}'")
    z = _normal_scalar(_gen(generator), self._data.size, m, s)
    return _fill(self, _cast(_libm(_exp, z), dt), "LogNormalBackward0")


def geometric_(self: Tensor, p: float = _NOARG, *, generator=None) -> Tensor:
    """Fill with the number of Bernoulli(p) trials up to the first success (PyTorch's values);
    integer tensors too.

    >>> import tapegrad
    >>> bool((tapegrad.empty(4).geometric_(0.5) >= 1).all())
    True
    """
    if p is _NOARG:
        raise TypeError('geometric_() missing 1 required positional arguments: "p"')
    check_inplace(self)
    q = _number(p, "geometric_", "p", 1)
    if not 0 < q < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={_fmt(q)}")
    dt = self._dtype
    if dt is D.bool or dt.category == D.COMPLEX:
        raise NotImplementedError(f"\"geometric_cpu\" not implemented for '{dt._short}'")
    u = _uniform64(self, generator)
    with np.errstate(all="ignore"):
        v = np.ceil(_libm(_log, u) / math.log1p(-q))
    return _fill(self, _cast(v, dt), "GeometricBackward0")


def _full_range_max(dt: D.dtype) -> int:
    """The largest value random_() draws for dtype dt."""
    if dt is D.bool:
        return 1
    if dt.category == D.INT:
        return int(np.iinfo(dt.np).max)
    return 1 << (np.finfo(dt.np).nmant + 1)  # every integer up to 2**digits is exact


def _update_from(low: int, dt: D.dtype) -> int:
    """A `from` the floating dtype cannot hold is moved up past it: when from + 1 rounds below
    from, the step of the dtype at that magnitude is added to the rounded value (PyTorch's
    update_from)."""
    rounded = int(dt.np.type(low + 1))
    if rounded < low:
        n = abs(low + 1).bit_length() - 1
        low = rounded + (1 << (n - (np.finfo(dt.np).nmant + 1) + 1))
    return low


def _draw_from(gen, n: int, low: int, dt: D.dtype) -> np.ndarray:
    """random_(low, None): integers in [low, max] (PyTorch's random_from_to with to = max)."""
    hi = _full_range_max(dt)
    if dt.category == D.FLOAT:
        low = _update_from(low, dt)
        if low >= hi:
            raise RuntimeError(
                "random_ expects 'from' casted to dtype to be less than or equal to 'to_inc' "
                f"casted to dtype, but got from={low} > to_inc={hi}")
        if not -hi <= low:
            d = hi.bit_length() - 1
            warnings.warn(
                f"from is out of bounds [-(2^{d}), 2^{d}]. Due to precision limitations "
                f"{dt._cname} can support discrete uniform distribution only within this range. "
                "This warning will become an error in version 1.7 release, please fix the code "
                "in advance", UserWarning, stacklevel=3)
    else:
        lo_ok = 0 if dt is D.bool else int(np.iinfo(dt.np).min)
        if not lo_ok <= low <= hi:
            raise RuntimeError(f"from is out of bounds for {dt._cname}")
    span = hi - low + 1
    if span >= 1 << 64:  # int64 from its minimum: every 64-bit pattern
        return gen._random64(n).view(np.int64)
    # PyTorch 2.13 draws 64-bit words once the range reaches 2**28 (seen for int32, int64 and
    # float64; the narrower dtypes never get there)
    words = gen._random64(n) if span >= 1 << 28 else gen._raw(n)
    vals = (words % np.uint64(span)) + np.uint64(low % (1 << 64))
    return vals.view(np.int64).astype(dt.np)


def random_(self: Tensor, from_=_NOARG, to=_NOARG, *, generator=None) -> Tensor:
    """Fill with random integers: random_() over [0, max] (max the dtype's largest value, or
    2**digits for floating types), random_(to) over [0, to), random_(from, to) over
    [from, to), random_(from, None) over [from, max]; PyTorch's values.

    >>> import tapegrad
    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.empty(2, dtype=tapegrad.uint8).random_()
    tensor([172,  47], dtype=tapegrad.uint8)
    """
    if to is not _NOARG and to is not None:
        if from_ is _NOARG:  # random_(to=...)
            return _random_from_to_method(self, to, generator=generator)
        return _random_from_to_method(self, from_, to, generator=generator)
    if from_ is not _NOARG and to is _NOARG:  # random_(to)
        if from_ is None:
            raise TypeError(
                "random_() received an invalid combination of arguments - got (NoneType), but "
                "expected one of:\n * (*, tapegrad.Generator generator = None)\n * (int from, "
                "int to, *, tapegrad.Generator generator = None)\n * (int to, *, "
                "tapegrad.Generator generator = None)\n")
        return _random_from_to_method(self, from_, generator=generator)
    check_inplace(self)
    dt = self._dtype
    if dt.category == D.COMPLEX:
        raise NotImplementedError(f"\"random_kernel_cpu\" not implemented for '{dt._short}'")
    gen = _gen(generator)
    n = self._data.size
    if from_ is not _NOARG:  # random_(from, None)
        if isinstance(from_, (bool, float)) or not isinstance(from_, (int, np.integer)):
            raise TypeError(f"random_(): argument 'from' (position 1) must be int, not "
                            f"{_tp_name(from_)}")
        return _fill(self, _draw_from(gen, n, int(from_), dt), "RandomBackward0")
    if dt is D.bool:
        v = (gen._raw(n) & np.uint64(1)).astype(np.bool_)
    else:
        wide = dt is D.int64 or dt is D.float64
        words = gen._random64(n) if wide else gen._raw(n)
        v = (words % np.uint64(_full_range_max(dt) + 1)).astype(dt.np)
    return _fill(self, v, "RandomBackward2")


# --- multinomial ---------------------------------------------------------------------------------
def _check_multinomial(x: Tensor, n: int, replacement: bool) -> None:
    a = x._data
    if not 1 <= a.ndim <= 2:
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if x._dtype.category != D.FLOAT:
        raise RuntimeError(
            f"multinomial only supports floating-point dtypes for input, got: {x._dtype._short}")
    if n <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and n > a.shape[-1]:
        raise RuntimeError(
            "cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if a.shape[-1] > 1 << 24:
        raise RuntimeError("number of categories cannot exceed 2^24")


def _gumbel_max(x: Tensor, n: int, gen) -> np.ndarray:
    """Indices of the n largest p / q, q ~ Exp(1) (drawn in x's memory order)."""
    from .._creation import like_layout

    a = x._data
    with np.errstate(invalid="ignore"):
        ok = bool(np.all(a < np.inf) and np.all(a >= 0))  # (nan fails both)
    if not ok:
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if np.any(a.sum(axis=-1, dtype=a.dtype) == 0):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    u = gen._uniform(a.size, D.float64)
    q = like_layout(x, x._dtype, _cast(-1.0 * _libm(_log1p, -u), x._dtype))
    with np.errstate(all="ignore"):
        r = _make(np.asarray(a / q))
    if n == 1:
        return r.argmax(-1, keepdim=True)._data
    return r.topk(n)[1]._data


def _with_replacement(x: Tensor, n: int, gen) -> np.ndarray:
    a = x._data
    rows = a.reshape(int(np.prod(a.shape[:-1])), a.shape[-1])
    acc = np.float32 if a.dtype == np.float16 else a.dtype.type
    out = np.empty((rows.shape[0], n), np.int64)
    for i, row in enumerate(rows):
        bad = ~(row >= 0)
        inf = ~np.isfinite(row)
        if bad.any() or inf.any():
            first_bad = np.argmax(bad) if bad.any() else row.size
            first_inf = np.argmax(inf) if inf.any() else row.size
            if first_bad <= first_inf:  # each entry is checked for < 0 before finiteness
                raise RuntimeError(
                    "invalid multinomial distribution (encountering probability entry < 0)")
            raise RuntimeError("invalid multinomial distribution (encountering probability "
                               "entry = infinity or NaN)")
        cum = np.cumsum(row.astype(acc), dtype=acc)  # sequential sums, as the kernel's loop
        total = cum[-1] if cum.size else acc(0)
        if not total > 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        cum = (cum / total).astype(acc)
        cum[-1] = 1
        u = gen._uniform(n, D.float64)
        # binary search: the first slot whose cumulative probability is >= u
        out[i] = np.searchsorted(cum.astype(np.float64), u, side="left")
    return out.reshape(a.shape[:-1] + (n,))


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,  # noqa: A002
                generator=None, out: Tensor | None = None) -> Tensor:
    """Sample category indices from the rows of input (non-negative weights, not necessarily
    normalised); PyTorch's samples for the same seed.

    >>> import tapegrad
    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.multinomial(tapegrad.tensor([0.1, 0.0, 0.9]), 4, replacement=True)
    tensor([2, 2, 2, 2])
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial(): argument 'input' (position 1) must be Tensor, not "
                        f"{_tp_name(input)}")
    if isinstance(num_samples, (bool, float)) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(f"multinomial(): argument 'num_samples' (position 2) must be int, not "
                        f"{_tp_name(num_samples)}")
    if not isinstance(replacement, (bool, np.bool_)):
        raise TypeError(f"multinomial(): argument 'replacement' (position 3) must be bool, not "
                        f"{_tp_name(replacement)}")
    n = int(num_samples)
    _check_multinomial(input, n, bool(replacement))
    if out is not None and out._dtype is not D.int64:
        raise RuntimeError(f"multinomial expects Long tensor out, got: {out._dtype._short}")
    a = input._data
    shape = a.shape[:-1] + (n,)
    gen = _gen(generator)
    if int(np.prod(shape)) == 0:
        res = np.empty(shape, np.int64)
    elif not replacement or n == 1:
        res = _gumbel_max(input, n, gen)
    else:
        res = _with_replacement(input, n, gen)
    r = _make(np.ascontiguousarray(res, dtype=np.int64))
    return r if out is None else copy_out(out, r)


def _multinomial_method(self: Tensor, num_samples: int, replacement: bool = False, *,
                        generator=None) -> Tensor:
    """self.multinomial(num_samples, replacement): multinomial(self, ...)."""
    return multinomial(self, num_samples, replacement, generator=generator)


# random_ here replaces the one _random.py binds: this module is loaded after ops/inplace.py
# (families load in name order), and it handles random_() and random_(from, None) before
# passing random_(to) and random_(from, to) on to that one.
METHODS = {"exponential_": exponential_, "cauchy_": cauchy_, "log_normal_": log_normal_,
           "geometric_": geometric_, "random_": random_, "multinomial": _multinomial_method}

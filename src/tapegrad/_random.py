"""Random tensors from Generator objects that reproduce PyTorch's CPU streams.

A Generator is PyTorch's CPU generator: the same Mersenne Twister, seeded the same way, with
the same state layout (`get_state()` is PyTorch's 5056-byte state), so after
`tapegrad.manual_seed(s)` the functions here draw the numbers `torch.manual_seed(s)` gives
(see _random_math.py for how each distribution turns raw words into values).

>>> import tapegrad
>>> _ = tapegrad.manual_seed(0)
>>> tapegrad.rand(3)
tensor([0.4963, 0.7682, 0.0885])
"""

from __future__ import annotations

import secrets
import threading

import numpy as np

from . import _dtype as D
from . import _random_math as RM
from ._creation import (
    _finish,
    _like_input,
    _out,
    like_layout,
    memory_order,
    parse_size,
    read_in_memory_order,
)
from ._device import check_device
from ._tensor import Tensor, _make, _tp_name

__all__ = ["Generator", "manual_seed", "seed", "initial_seed", "default_generator", "rand",
           "randn", "randint", "randperm", "normal", "rand_like", "randn_like", "randint_like",
           "bernoulli", "get_rng_state", "set_rng_state"]

_DEFAULT_SEED = 67280421310721
_STATE_SIZE = 5056
_N = 624
_M32 = np.uint64(0xFFFFFFFF)


class Generator:
    """A source of random numbers (PyTorch's CPU Mersenne Twister); pass one as generator= to
    draw from it instead of the default generator.

    >>> import tapegrad
    >>> g = tapegrad.Generator().manual_seed(0)
    >>> tapegrad.randint(0, 10, (5,), generator=g)
    tensor([4, 9, 3, 0, 3])
    """

    __slots__ = ("_seed", "_bg", "_fresh", "_next_double", "_next_float")

    def __init__(self, device="cpu") -> None:
        check_device(device)
        self._reseed(_DEFAULT_SEED)

    def _reseed(self, seed: int) -> None:
        self._seed = seed
        bg = np.random.MT19937()
        bg._legacy_seeding(seed & 0xFFFFFFFF)  # init_genrand on the low 32 bits, as PyTorch
        self._bg = bg
        self._fresh = True  # no word drawn since seeding (PyTorch's next_ = 0, left_ = 1)
        self._next_double = None  # the spare value of the last double Box-Muller pair
        self._next_float = None

    @property
    def device(self):
        from ._device import cpu

        return cpu

    def manual_seed(self, seed: int) -> Generator:
        """Seed this generator (any integer in [-2**63, 2**64), taken modulo 2**64)."""
        if isinstance(seed, Tensor):
            seed = seed.item()
        if not isinstance(seed, (int, np.integer)):
            raise RuntimeError(f"manual_seed expected a long, but got {_tp_name(seed)}")
        seed = int(seed)
        if not -(1 << 63) <= seed < (1 << 64):
            raise ValueError("Overflow when unpacking long long")
        self._reseed(seed % (1 << 64))
        return self

    def seed(self) -> int:
        """Seed from the operating system's entropy; returns the seed."""
        s = secrets.randbits(64)
        self._reseed(s)
        return s

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with."""
        return self._seed

    def get_state(self) -> Tensor:
        """PyTorch's CPUGeneratorImplState as 5056 bytes (a uint8 tensor)."""
        st = self._bg.state["state"]
        key, pos = st["key"], int(st["pos"])
        if pos >= _N:
            left, nxt = 1, (0 if self._fresh else _N)
        else:
            left, nxt = _N + 1 - pos, pos
        buf = np.zeros(_STATE_SIZE, np.uint8)
        buf[0:8] = np.array([self._seed], np.uint64).view(np.uint8)
        buf[8:16] = np.array([left, 1], np.int32).view(np.uint8)
        buf[16:24] = np.array([nxt], np.uint64).view(np.uint8)
        buf[24:5016] = key.astype(np.uint64).view(np.uint8)
        if self._next_double is not None:
            buf[5024:5032] = np.array([self._next_double], np.float64).view(np.uint8)
            buf[5040:5044] = np.array([1], np.int32).view(np.uint8)
        if self._next_float is not None:
            buf[5048:5052] = np.array([self._next_float], np.float32).view(np.uint8)
            buf[5052] = 1
        return _make(buf)

    def set_state(self, new_state: Tensor) -> Generator:
        """Restore a state made by get_state() (here or in PyTorch)."""
        if not isinstance(new_state, Tensor) or new_state._dtype is not D.uint8:
            raise TypeError("RNG state must be a tapegrad.ByteTensor")
        raw = np.ascontiguousarray(new_state._data).reshape(-1)
        if raw.size != _STATE_SIZE:
            raise RuntimeError(
                f"Expected a CPUGeneratorImplState of size {_STATE_SIZE} but found the input "
                f"RNG state size to be {raw.size}"
            )
        seed = int(raw[0:8].view(np.uint64)[0])
        left, _seeded = (int(v) for v in raw[8:16].view(np.int32))
        nxt = int(raw[16:24].view(np.uint64)[0])
        if not 1 <= left <= _N or nxt > _N:
            raise RuntimeError("The provided state is not valid")
        key = (raw[24:5016].view(np.uint64) & _M32).astype(np.uint32)
        bg = np.random.MT19937()
        bg.state = {"bit_generator": "MT19937",
                    "state": {"key": key, "pos": _N if left == 1 else nxt}}
        self._seed, self._bg = seed, bg
        self._fresh = left == 1 and nxt == 0
        valid = int(raw[5040:5044].view(np.int32)[0])
        self._next_double = float(raw[5024:5032].view(np.float64)[0]) if valid else None
        self._next_float = float(raw[5048:5052].view(np.float32)[0]) if raw[5052] else None
        return self

    # --- raw words and uniforms ----------------------------------------------------------
    def _raw(self, n: int) -> np.ndarray:
        if GUARD.refuse is not None:  # draws are refused here (see refuse_draws)
            raise GUARD.refuse()
        self._fresh = False
        return self._bg.random_raw(n)

    def _random64(self, n: int) -> np.ndarray:
        r = self._raw(2 * n)
        return (r[0::2] << np.uint64(32)) | r[1::2]

    def _uniform(self, n: int, dt: D.dtype) -> np.ndarray:
        """n uniforms in [0, 1) as PyTorch's uniform_real_distribution<dt> draws them."""
        if dt is D.float64 or dt is D.complex128:
            r = self._random64(n) & np.uint64((1 << 53) - 1)
            return r.astype(np.float64) * 2.0 ** -53
        if dt is D.float16:  # 24 bits too (Half has no digits trait): a float rounded to half
            return ((self._raw(n) & np.uint64(0xFFFFFF)).astype(np.float64) * 2.0 ** -24).astype(
                np.float32).astype(np.float16)
        return ((self._raw(n) & np.uint64(0xFFFFFF)).astype(np.float64) * 2.0 ** -24).astype(
            np.float32)


class _Guard(threading.local):
    """Per thread: while `refuse` is set (an exception factory), every draw from any
    generator raises it before touching the generator's state."""

    refuse = None


GUARD = _Guard()


class refuse_draws:  # noqa: N801 - a context manager
    """Refuse random draws in this thread (as PyTorch's vmap in randomness='error' mode
    refuses a random op before it draws): `make_error()` is raised at the first draw."""

    def __init__(self, make_error) -> None:
        self.make_error = make_error

    def __enter__(self) -> None:
        self.prev = GUARD.refuse
        GUARD.refuse = self.make_error

    def __exit__(self, *exc) -> None:
        GUARD.refuse = self.prev


Generator.__module__ = "tapegrad"
default_generator = Generator()


def manual_seed(seed) -> Generator:
    """Seed the default generator (and return it); later draws repeat PyTorch's.

    >>> import tapegrad
    >>> tapegrad.manual_seed(42).initial_seed()
    42
    """
    return default_generator.manual_seed(int(seed) if not isinstance(seed, Tensor) else seed)


def seed() -> int:
    """Seed the default generator non-deterministically; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed of the default generator."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The default generator's state (PyTorch's 5056-byte layout)."""
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    """Restore the default generator's state."""
    default_generator.set_state(new_state)


def _gen(generator) -> Generator:
    if generator is None:
        return default_generator
    if not isinstance(generator, Generator):
        raise TypeError(
            f"expected a tapegrad.Generator as generator=, got {_tp_name(generator)}"
        )
    return generator


# --- distributions (their arithmetic is in _random_math.py) ---------------------------------
normal_values = RM.normal_values
random_from_to = RM.random_from_to
uniform_values = RM.uniform_values


def _float_dtype(dtype, kernel: str) -> D.dtype:
    dt = D._defaults.float if dtype is None else dtype
    if dt.category < D.FLOAT:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{dt._short}'")
    return dt


def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None,
         requires_grad: bool = False, pin_memory: bool = False, **kw) -> Tensor:
    """Uniform samples from [0, 1), PyTorch's values for the same seed.

    >>> import tapegrad
    >>> tapegrad.rand(2, 3).shape
    tapegrad.Size([2, 3])
    """
    check_device(device)
    shape = parse_size("rand", size, kw.pop("size", None))
    dt = _float_dtype(dtype or (out._dtype if out is not None else None), "check_uniform_bounds")
    n = int(np.prod(shape, dtype=np.int64))
    arr = uniform_values(_gen(generator), n, dt, 0.0, 1.0)
    return _out(_finish(arr.reshape(shape), requires_grad), out)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None,
          requires_grad: bool = False, pin_memory: bool = False, **kw) -> Tensor:
    """Standard normal samples (complex: variance 1/2 per part), PyTorch's values.

    >>> import tapegrad
    >>> _ = tapegrad.manual_seed(0)
    >>> tapegrad.randn(2)
    tensor([ 1.5410, -0.2934])
    """
    check_device(device)
    shape = parse_size("randn", size, kw.pop("size", None))
    dt = _float_dtype(dtype or (out._dtype if out is not None else None), "normal_kernel_cpu")
    n = int(np.prod(shape, dtype=np.int64))
    arr = normal_values(_gen(generator), n, dt)
    return _out(_finish(arr.reshape(shape), requires_grad), out)


def randint(low, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None,
            device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high): randint(high, size) or
    randint(low, high, size); int64 unless dtype is given.

    >>> import tapegrad
    >>> tapegrad.randint(3, 10, (2, 2)).shape
    tapegrad.Size([2, 2])
    """
    check_device(device)
    if size is None:
        low, high, size = 0, low, high
        if size is None:
            raise TypeError('randint() missing 1 required positional arguments: "size"')
    elif high is None:
        low, high = 0, low
    if not isinstance(size, (tuple, list)):
        raise TypeError(
            f"randint(): argument 'size' (position 2) must be tuple of ints, not {_tp_name(size)}"
        )
    for v in (low, high):
        if isinstance(v, (float, bool)) or not isinstance(v, (int, np.integer, Tensor)):
            raise TypeError(
                f"randint(): argument 'high' must be int, not {_tp_name(v)}"
            )
    low, high = int(low), int(high)
    for v in (low, high):
        if not -(1 << 63) <= v < (1 << 63):
            raise ValueError("Overflow when unpacking long long")
    shape = parse_size("randint", (size,))
    dt = dtype or (out._dtype if out is not None else D.int64)
    n = int(np.prod(shape, dtype=np.int64))
    arr = random_from_to(_gen(generator), n, low, high, dt).reshape(shape)
    return _out(_finish(arr, requires_grad), out)


def randperm(n: int, *, generator=None, out=None, dtype=None, layout=None, device=None,
             requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A random permutation of 0 .. n-1 (PyTorch's shuffle, so the same for the same seed).

    >>> import tapegrad
    >>> sorted(tapegrad.randperm(4).tolist())
    [0, 1, 2, 3]
    """
    check_device(device)
    n = operator_index(n, "randperm", "n")
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    dt = dtype or (out._dtype if out is not None else D.int64)
    if dt is D.bool or dt.category == D.COMPLEX:
        raise NotImplementedError(f"\"randperm\" not implemented for '{dt._short}'")
    perm = list(range(n))
    if n > 1:
        words = _gen(generator)._raw(n - 1)
        z = (words % np.arange(n, 1, -1, dtype=np.uint64)).tolist()
        for i, zi in enumerate(z):  # swap r[i] with r[i + z_i], in order (PyTorch's loop)
            j = i + zi
            perm[i], perm[j] = perm[j], perm[i]
    arr = np.array(perm, np.int64).astype(dt.np)
    return _out(_finish(arr, requires_grad), out)


def operator_index(v, fn: str, arg: str) -> int:
    if isinstance(v, Tensor):
        v = v.item()
    if isinstance(v, (bool, float)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{fn}(): argument '{arg}' (position 1) must be int, not {_tp_name(v)}")
    return int(v)


# --- normal and bernoulli (with their zero-gradient nodes) -----------------------------------
def _zero_node(name: str):
    from .autograd.graph import Node

    def vjp(self, g):
        z = g.new_zeros(g.shape)
        return tuple(z if m is not None else None for m in self._in_meta)

    return type(name, (Node,), {"__slots__": (), "vjp": vjp})


NormalBackward1 = _zero_node("NormalBackward1")
NormalBackward2 = _zero_node("NormalBackward2")
NormalBackward3 = _zero_node("NormalBackward3")
BernoulliBackward0 = _zero_node("BernoulliBackward0")


def _record(arr: np.ndarray, cls, inputs) -> Tensor:
    from .ops._core import new_node, wrap

    return wrap(arr, new_node(cls, inputs))


def _check_std_tensor(std: Tensor) -> None:
    if not np.all(std._data >= 0):
        raise RuntimeError("normal expects all elements of std >= 0.0")


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None,
           device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Normal samples with the given mean and std (numbers, or tensors broadcast together;
    the gradient reaching mean and std is zero, as in PyTorch).

    >>> import tapegrad
    >>> tapegrad.normal(2.0, 3.0, size=(2,)).shape
    tapegrad.Size([2])
    """
    check_device(device)
    gen = _gen(generator)
    mt, st = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not mt and not st:
        if size is None:
            raise TypeError(
                "normal() received an invalid combination of arguments - got (float, float), "
                "but expected one of:\n * (Tensor mean, Tensor std, *, tapegrad.Generator "
                "generator = None, Tensor out = None)\n * (float mean, float std, tuple of ints "
                "size, *, tapegrad.Generator generator = None, Tensor out = None, tapegrad.dtype "
                "dtype = None, ...)\n"
            )
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
        shape = parse_size("normal", (size,))
        dt = _float_dtype(dtype or (out._dtype if out is not None else None),
                          "normal_kernel_cpu")
        n = int(np.prod(shape, dtype=np.int64))
        arr = normal_values(gen, n, dt, float(mean), float(std)).reshape(shape)
        return _out(_finish(arr, requires_grad), out)
    if mt and st:
        _check_std_tensor(std)
        shape = np.broadcast_shapes(mean._data.shape, std._data.shape)
        dt = _float_dtype(mean._dtype, "normal_kernel_cpu")
        z = normal_values(gen, int(np.prod(shape, dtype=np.int64)), dt).reshape(shape)
        # PyTorch: a contiguous out, out.normal_(0, 1).mul_(std).add_(mean)
        arr = np.ascontiguousarray((z * std._data + mean._data).astype(dt.np))
        res = _record(arr, NormalBackward3, (mean, std))
    elif mt:
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
        dt = _float_dtype(mean._dtype, "normal_kernel_cpu")
        shape = mean._data.shape
        z = normal_values(gen, int(np.prod(shape, dtype=np.int64)), dt, 0.0, float(std))
        arr = np.ascontiguousarray((z.reshape(shape) + mean._data).astype(dt.np))
        res = _record(arr, NormalBackward1, (mean,))
    else:
        _check_std_tensor(std)
        dt = _float_dtype(std._dtype, "normal_kernel_cpu")
        shape = std._data.shape
        z = normal_values(gen, int(np.prod(shape, dtype=np.int64)), dt).reshape(shape)
        arr = np.ascontiguousarray((z * std._data + dt.np.type(mean)).astype(dt.np))
        res = _record(arr, NormalBackward2, (std,))
    return res if out is None else _out(res, out)


def bernoulli(input: Tensor, p=None, *, generator=None, out=None) -> Tensor:  # noqa: A002
    """0/1 draws: each element is 1 with probability input (or with probability p), in
    input's dtype; PyTorch's values for the same seed.

    >>> import tapegrad
    >>> tapegrad.bernoulli(tapegrad.ones(3)).tolist()
    [1.0, 1.0, 1.0]
    """
    gen = _gen(generator)
    x = input
    n = x._data.size
    if p is None:
        if x._dtype.category != D.FLOAT:
            raise NotImplementedError(
                f"\"bernoulli_tensor_cpu_p_\" not implemented for '{x._dtype._short}'"
            )
        prob = x._data.reshape(-1)
        RM.check_probs(prob)
        u = gen._uniform(n, D.float64 if x._dtype is D.float64 else D.float32)
        draws = u < prob.astype(u.dtype)
        arr = draws.reshape(x._data.shape).astype(x._data.dtype)
        return _out(_record(arr, BernoulliBackward0, (x,)), out)
    p = float(p)
    if not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p:g}")
    draws = gen._uniform(n, D.float64) < p
    arr = draws.reshape(x._data.shape).astype(x._data.dtype)
    return _out(_record(arr, BernoulliBackward0, (x,)), out)


# --- *_like ---------------------------------------------------------------------------------
# PyTorch makes empty_like(input) (input's memory layout, see _creation.like_layout) and fills
# it in place, so the values follow that layout's memory order.
def _like_dtype(input: Tensor, dtype, fn: str, kernel: str) -> D.dtype:  # noqa: A002
    return _float_dtype(dtype or _like_input(input, fn)._dtype, kernel)


def rand_like(input: Tensor, *, dtype=None, generator=None, layout=None, device=None,  # noqa: A002
              requires_grad: bool = False, memory_format=None) -> Tensor:
    """Uniform samples with input's shape and (unless given) dtype."""
    check_device(device)
    dt = _like_dtype(input, dtype, "rand_like", "check_uniform_bounds")
    v = uniform_values(_gen(generator), input._data.size, dt, 0.0, 1.0)
    return _finish(like_layout(input, dt, v), requires_grad)


def randn_like(input: Tensor, *, dtype=None, generator=None, layout=None, device=None,  # noqa: A002
               requires_grad: bool = False, memory_format=None) -> Tensor:
    """Standard normal samples with input's shape and (unless given) dtype."""
    check_device(device)
    dt = _like_dtype(input, dtype, "randn_like", "normal_kernel_cpu")
    arr = like_layout(input, dt)
    arr[...] = RM.normal_fill(_gen(generator), arr, dt, 0.0, 1.0)
    return _finish(arr, requires_grad)


def randint_like(input: Tensor, low=0, high=None, *, dtype=None, generator=None,  # noqa: A002
                 layout=None, device=None, requires_grad: bool = False,
                 memory_format=None) -> Tensor:
    """Integers from [low, high) with input's shape and (unless given) dtype."""
    if high is None:
        low, high = 0, low
    r = randint(low, high, (input._data.size,), generator=generator,
                dtype=dtype or input._dtype, device=device)
    return _finish(like_layout(input, r._dtype, r._data), requires_grad)


# --- in-place samplers bound as Tensor methods (through ops/inplace.py) ----------------------
# ATen's fills walk the tensor with TensorIterator: in memory order (see
# _creation.memory_order), one draw per element (RM.placed).
def uniform_(self: Tensor, from_: float = 0.0, to: float = 1.0, *, generator=None) -> Tensor:
    """Fill with uniform samples from [from_, to) (PyTorch's values)."""
    from .ops.inplace import check_inplace, write_array

    check_inplace(self)
    dt = _float_dtype(self._dtype, "check_uniform_bounds")
    lo, hi = float(from_), float(to)
    if dt.category == D.COMPLEX:
        if self._data.size == 0:
            return self
        RM.check_uniform_bounds(D.float32 if dt is D.complex64 else D.float64, lo, hi)
    else:
        RM.check_uniform_bounds(dt, lo, hi)
    v = uniform_values(_gen(generator), self._data.size, dt, lo, hi)
    return write_array(self, RM.placed(self._data, v), "UniformBackward0")


def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """Fill with normal samples (PyTorch's values)."""
    from .ops.inplace import check_inplace, write_array

    check_inplace(self)
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
    dt = _float_dtype(self._dtype, "normal_kernel_cpu")
    v = RM.normal_fill(_gen(generator), self._data, dt, float(mean), float(std))
    return write_array(self, v, "NormalBackward0")


def bernoulli_(self: Tensor, p=0.5, *, generator=None) -> Tensor:
    """Fill with 0/1 draws that are 1 with probability p (a number or a tensor)."""
    from .ops.inplace import check_inplace, write_array

    check_inplace(self)
    a = self._data
    if isinstance(p, Tensor):
        # p is broadcast to self and read alongside it, in self's memory order
        RM.check_expand(p, a.shape)
        order = None if a.size == 0 else memory_order(a)
        prob = read_in_memory_order(np.broadcast_to(p._data, a.shape), order)
        RM.check_probs(prob)
        u = _gen(generator)._uniform(prob.size, D.float64 if p._dtype is D.float64
                                     else D.float32)
        draws = u < prob.astype(u.dtype)
    else:
        p = float(p)
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p:g}")
        draws = _gen(generator)._uniform(a.size, D.float64) < p
    return write_array(self, RM.placed(a, draws), "BernoulliBackward2")


def random_(self: Tensor, from_=0, to=None, *, generator=None) -> Tensor:
    """Fill with integers from [from_, to) (to=None: one argument is `to`)."""
    from .ops.inplace import check_inplace, write_array

    check_inplace(self)
    name = "RandomBackward0" if to is not None else "RandomBackward1"
    if to is None:
        from_, to = 0, from_
    v = random_from_to(_gen(generator), self._data.size, int(from_), int(to), self._dtype)
    return write_array(self, RM.placed(self._data, v), name)


METHODS = {"uniform_": uniform_, "normal_": normal_, "bernoulli_": bernoulli_,
           "random_": random_, "bernoulli": bernoulli}

"""Random tensors driven by Generator objects (NumPy's PCG64 underneath).

The streams differ from PyTorch's (which uses its own Mersenne Twister kernels); seeding makes
them reproducible within tapegrad.
"""

from __future__ import annotations

import numpy as np

from . import _dtype as D
from ._creation import _finish, _sizes
from ._tensor import Tensor

__all__ = ["Generator", "manual_seed", "seed", "initial_seed", "default_generator", "rand",
           "randn", "randint", "randperm", "normal", "rand_like", "randn_like", "randint_like",
           "bernoulli", "get_rng_state", "set_rng_state"]

_DEFAULT_SEED = 67280421310721


class Generator:
    """A source of random numbers; pass one as generator= to make a draw reproducible.

    >>> import tapegrad
    >>> g = tapegrad.Generator().manual_seed(0)
    >>> tapegrad.rand(2, generator=g).shape
    tapegrad.Size([2])
    """

    def __init__(self, device="cpu") -> None:
        self._seed = _DEFAULT_SEED
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        self.device = device

    def manual_seed(self, seed: int) -> Generator:
        seed = int(seed)
        self._seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed & ((1 << 64) - 1)))
        return self

    def seed(self) -> int:
        s = int(np.random.SeedSequence().entropy) & ((1 << 63) - 1)
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        from ._tensor import _make

        state = self._rng.bit_generator.state
        st = state["state"]
        words = [st["state"], st["inc"], state["has_uint32"], state["uinteger"]]
        raw = b"".join(int(w).to_bytes(16, "little") for w in words)
        return _make(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state: Tensor) -> Generator:
        raw = bytes(new_state._data.astype(np.uint8).tobytes())
        words = [int.from_bytes(raw[i:i + 16], "little") for i in (0, 16, 32, 48)]
        bg = np.random.PCG64()
        bg.state = {"bit_generator": "PCG64", "state": {"state": words[0], "inc": words[1]},
                    "has_uint32": words[2], "uinteger": words[3]}
        self._rng = np.random.Generator(bg)
        return self


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator; returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    default_generator.set_state(new_state)


def _rng(generator) -> np.random.Generator:
    return (generator or default_generator)._rng


def _float_dt(dtype, name: str) -> D.dtype:
    dt = dtype or D._defaults.float
    if dt.category < D.FLOAT:
        raise RuntimeError(f'"{name}" not implemented for \'{dt._short}\'')
    return dt


def _draw(dt, fn, shape):
    if dt.category == D.COMPLEX:
        # a standard complex normal has variance 1 split equally between parts
        r = fn(shape) + 1j * fn(shape)
        return (r / (np.sqrt(2) if fn.__name__ == "standard_normal" else 1)).astype(dt.np)
    return fn(shape).astype(dt.np)


def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None,
         requires_grad: bool = False, pin_memory=False) -> Tensor:
    """Uniform samples from [0, 1)."""
    dt = _float_dt(dtype, "check_uniform_bounds")
    return _finish(_draw(dt, _rng(generator).random, _sizes(size)), requires_grad)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None,
          requires_grad: bool = False, pin_memory=False) -> Tensor:
    """Samples from the standard normal distribution."""
    dt = _float_dt(dtype, "normal_kernel_cpu")
    return _finish(_draw(dt, _rng(generator).standard_normal, _sizes(size)), requires_grad)


def randint(low, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None,
            device=None, requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high)."""
    if size is None:
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    dt = dtype or D.int64
    arr = _rng(generator).integers(low, high, size=_sizes((size,)))
    return _finish(arr.astype(dt.np), requires_grad)


def randperm(n: int, *, generator=None, out=None, dtype=None, layout=None, device=None,
             requires_grad: bool = False, pin_memory=False) -> Tensor:
    """A random permutation of 0 .. n-1."""
    dt = dtype or D.int64
    return _finish(_rng(generator).permutation(n).astype(dt.np), requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None,
           device=None, requires_grad: bool = False) -> Tensor:
    """Normal samples with the given mean and std (scalars or tensors, broadcast)."""
    from ._tensor import _make

    m = mean._data if isinstance(mean, Tensor) else mean
    s = std._data if isinstance(std, Tensor) else std
    if np.any(np.asarray(s) < 0):
        raise RuntimeError(f"normal expects std >= 0.0, but found std {np.min(s)}")
    if size is not None:
        shape = _sizes((size,))
    else:
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
    dt = dtype or (mean._dtype if isinstance(mean, Tensor) else
                   std._dtype if isinstance(std, Tensor) else D._defaults.float)
    z = _rng(generator).standard_normal(shape)
    r = _make(np.asarray(m + s * z).astype(dt.np))
    if requires_grad:
        r.requires_grad_(True)
    return r


def rand_like(input: Tensor, *, dtype=None, generator=None, layout=None, device=None,  # noqa: A002
              requires_grad: bool = False, memory_format=None) -> Tensor:
    return rand(input.shape, generator=generator, dtype=dtype or input._dtype,
                requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype=None, generator=None, layout=None, device=None,  # noqa: A002
               requires_grad: bool = False, memory_format=None) -> Tensor:
    return randn(input.shape, generator=generator, dtype=dtype or input._dtype,
                 requires_grad=requires_grad)


def randint_like(input: Tensor, low=0, high=None, *, dtype=None, generator=None,  # noqa: A002
                 layout=None, device=None, requires_grad: bool = False,
                 memory_format=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, generator=generator, dtype=dtype or input._dtype,
                   requires_grad=requires_grad)


def bernoulli(input: Tensor, p=None, *, generator=None, out=None) -> Tensor:  # noqa: A002
    """Draw 0/1 with probability input (elementwise) or p."""
    from ._tensor import _make

    prob = input._data if p is None else np.full(input._data.shape, p)
    r = (_rng(generator).random(input._data.shape) < prob).astype(input._data.dtype)
    return _make(r)

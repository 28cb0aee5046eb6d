"""Tensor creation and random numbers compared with PyTorch.

- tensor(): dtype inference from nested data (Python numbers, NumPy arrays and scalars, 0-d
  tensors), conversion checks and messages, the copy-construct warning;
- as_tensor / asarray / from_numpy memory sharing;
- zeros / ones / full / empty / eye / *_like: sizes given every way, fill dtype inference,
  messages;
- arange / linspace / logspace: values bit-identical to PyTorch's over a random sweep;
- random: after the same seed, tapegrad draws PyTorch's numbers bit for bit (rand, randn,
  randint, randperm, normal, bernoulli, the in-place samplers); Generator objects and their
  PyTorch-compatible state.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import tapegrad

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _norm(s: str) -> str:
    s = s.replace("torch.", "tapegrad.")
    s = re.sub(r" \(Triggered internally at [^)]*\.\)", "", s)
    return re.sub(r"0x[0-9a-f]+", "0x", s)


# Warnings PyTorch gives once per process (TORCH_WARN_ONCE), so only to the first test that
# triggers them; tapegrad warns every time (Python shows each once per call site).
_ONCE = ("Creating a tensor from a list of numpy.ndarrays is extremely slow",
         "Converting a tensor with requires_grad=True to a scalar")


def outcome(src: str, m):
    env = {"m": m, "np": np}
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        try:
            r = eval(src, env)
            out = ("ok", _norm(repr(r)), type(r).__name__)
        except Exception as e:  # noqa: BLE001
            out = ("err", type(e).__name__, _norm(str(e)))
    return out, [_norm(str(w.message)) for w in ws if not str(w.message).startswith(_ONCE)]


def same(src: str) -> None:
    a, b = outcome(src, tapegrad), outcome(src, torch)
    assert a == b, f"{src}\n tapegrad: {a}\n torch:    {b}"


def bits_equal(a, b) -> bool:
    """Same dtype, shape and bits (so -0.0 != 0.0 and nan == nan)."""
    x, y = a.numpy(), b.numpy()
    return x.dtype == y.dtype and x.shape == y.shape and np.array_equal(
        np.ascontiguousarray(x).view(np.uint8), np.ascontiguousarray(y).view(np.uint8))


def _lines(block: str) -> list:
    return [s for s in block.strip().splitlines() if s.strip()]


# --- tensor() ---------------------------------------------------------------------------------
TENSOR = """
m.tensor([1, 2.5])
m.tensor([True, 2])
m.tensor([True, False])
m.tensor([1, 2j])
m.tensor([1, 2.5, 1j])
m.tensor([True, 1j])
m.tensor([[1, 2], [3, 4.5]])
m.tensor([])
m.tensor([[]])
m.tensor([[], []])
m.tensor([[]], dtype=m.int64)
m.tensor([[], [1]])
m.tensor([[1], []])
m.tensor(3)
m.tensor(3.5)
m.tensor(True)
m.tensor(1j)
m.tensor((1, 2))
m.tensor(([1, 2], (3, 4)))
m.tensor(range(3))
m.tensor(range(0))
m.tensor([range(2), range(2)])
m.tensor(m.Size([2, 3]))
m.tensor([float("nan"), float("inf")])
m.tensor(np.float32(2.5))
m.tensor(np.float64(2.5))
m.tensor(np.float16(1.5))
m.tensor(np.int32(2))
m.tensor(np.bool_(True))
m.tensor(np.complex64(1j))
m.tensor(np.array([1, 2], dtype=np.int32))
m.tensor(np.array([1, 2], dtype=np.float64))
m.tensor(np.array([True]))
m.tensor(np.array(5))
m.tensor(np.ones((2, 0)))
m.tensor(np.ones(3)[::2])
m.tensor(np.array([1, 2], dtype=">i4"))
m.tensor(np.array([1.5]), dtype=m.int32)
m.tensor(np.array([300]), dtype=m.uint8)
m.tensor(np.float64(2.5), dtype=m.float16)
m.tensor([np.float64(1.5), np.float64(2)])
m.tensor([np.int32(1), 2])
m.tensor([np.float32(1.5)])
m.tensor([np.float32(1.5), 2.5])
m.tensor([np.float32(1.5), np.float64(2.5)])
m.tensor([np.float16(1.5), 2])
m.tensor([np.int8(1), np.uint8(2)])
m.tensor([np.int8(1), True])
m.tensor([np.complex64(1j), 2.5])
m.tensor([np.array(1.5), 2])
m.tensor([np.array([1., 2]), np.array([3., 4])])
m.tensor([np.array([1.5, 2])])
m.tensor([1, np.array([2, 3])])
m.tensor([np.array([2, 3]), 1])
m.tensor([m.tensor(1.), m.tensor(2.)])
m.tensor([m.tensor(1), m.tensor(2)])
m.tensor([m.tensor(1, dtype=m.float64), 2])
m.tensor([m.tensor(1.5), 2])
m.tensor([m.tensor(True), 2.5])
m.tensor([m.tensor(1, dtype=m.int8), m.tensor(2, dtype=m.uint8)])
m.tensor([m.tensor([1., 2.]), m.tensor([3., 4.])])
m.tensor([m.tensor([1.]), m.tensor([2.])])
m.tensor([m.tensor([1]), m.tensor([2])])
m.tensor([[m.tensor(1.)], [m.tensor(2.)]])
m.tensor([m.tensor([1,2]), [3,4]])
m.tensor([m.ones(2), m.ones(3)])
m.tensor([m.tensor(1.5), m.ones(2)])
m.tensor([m.tensor(300)], dtype=m.uint8)
m.tensor([m.tensor(1.5)], dtype=m.int64)
m.tensor([m.ones(2, requires_grad=True)])
m.tensor(m.tensor([1., 2.]))
m.tensor(m.tensor([1., 2.], requires_grad=True))
m.tensor(m.tensor([1., 2.], requires_grad=True), requires_grad=True)
m.tensor(m.tensor([1, 2]), dtype=m.float64)
m.tensor(m.tensor(300), dtype=m.uint8)
m.tensor([[1, 2], [3]])
m.tensor([[1, 2], 3])
m.tensor([1, [2, 3]])
m.tensor([[1], [2, 3]])
m.tensor([[[1, 2]], [[3]]])
m.tensor([1, [2, 3]], dtype=m.float32)
m.tensor([1.5, [2, 3]])
m.tensor([[1, 2], "ab"])
m.tensor([["a", "b"]])
m.tensor("abc")
m.tensor(["a"])
m.tensor([b"a"])
m.tensor(b"a")
m.tensor([1, "a"])
m.tensor([1.5, "a"])
m.tensor(None)
m.tensor([None])
m.tensor([1, None])
m.tensor({1: 2})
m.tensor({1, 2})
m.tensor(2**63)
m.tensor([2**63])
m.tensor(2**63 - 1)
m.tensor(-2**63)
m.tensor(2**64)
m.tensor([2**70], dtype=m.float32)
m.tensor([2**63], dtype=m.float64)
m.tensor([2**63], dtype=m.uint8)
m.tensor(1e40, dtype=m.float64)
m.tensor([1e40, 1], dtype=m.float64)
m.tensor([1.5, 2.5], dtype=m.int64)
m.tensor([-1.5, 2.5], dtype=m.int64)
m.tensor([1.5], dtype=m.uint8)
m.tensor([-1.5], dtype=m.uint8)
m.tensor([-1], dtype=m.uint8)
m.tensor([-255], dtype=m.uint8)
m.tensor([-256], dtype=m.uint8)
m.tensor([255], dtype=m.uint8)
m.tensor([256], dtype=m.uint8)
m.tensor([300], dtype=m.uint8)
m.tensor([300.0], dtype=m.uint8)
m.tensor([128], dtype=m.int8)
m.tensor([-129], dtype=m.int8)
m.tensor([1000], dtype=m.int8)
m.tensor([200.0], dtype=m.int8)
m.tensor([2**40], dtype=m.int32)
m.tensor([1e20], dtype=m.int64)
m.tensor([9.3e18], dtype=m.int64)
m.tensor([float("nan")], dtype=m.int64)
m.tensor([float("inf")], dtype=m.int32)
m.tensor(300, dtype=m.uint8)
m.tensor(2**31, dtype=m.int32)
m.tensor(-1, dtype=m.uint8)
m.tensor(np.int64(300), dtype=m.uint8)
m.tensor([np.int64(300)], dtype=m.uint8)
m.tensor([np.float64(1e20)], dtype=m.int64)
m.tensor([True], dtype=m.float32)
m.tensor([1.5], dtype=m.bool)
m.tensor([0.0, 2], dtype=m.bool)
m.tensor([2], dtype=m.bool)
m.tensor([0.5], dtype=m.bool)
m.tensor([float("nan")], dtype=m.bool)
m.tensor([1j], dtype=m.bool)
m.tensor([1+2j], dtype=m.float32)
m.tensor([1+0j], dtype=m.float32)
m.tensor([1+2j], dtype=m.int64)
m.tensor([2**40], dtype=m.float16)
m.tensor([70000.0], dtype=m.float16)
m.tensor([1.00048828125, 1.0004882812500002], dtype=m.float16)
m.tensor([1e40], dtype=m.float32)
m.tensor(3.5, dtype=m.complex64)
m.tensor([[1, 2]], dtype=m.complex128)
m.tensor([1, 2], dtype=m.float16)
m.tensor([1, 2], requires_grad=True)
m.tensor([1., 2], requires_grad=True)
m.tensor([1+1j], requires_grad=True)
m.tensor([True], requires_grad=True)
m.tensor([1.], dtype=m.int64, requires_grad=True)
m.tensor([1.], "cpu")
m.tensor([1.], dtype="float32")
m.tensor([1.], dtype=np.float32)
m.tensor([1, 2], pin_memory=False)
m.tensor([1, 2], device=None)
m.tensor(data=[1, 2])
"""


@needs_torch
@pytest.mark.parametrize("src", _lines(TENSOR))
def test_tensor_like_torch(src):
    same(src)


def test_tensor_inference_without_torch():
    t = tapegrad
    assert t.tensor([1, 2]).dtype is t.int64
    assert t.tensor([1, 2.5]).dtype is t.float32
    assert t.tensor([True, False]).dtype is t.bool
    assert t.tensor([1, 2j]).dtype is t.complex64
    assert t.tensor(np.array([1, 2], dtype=np.int16)).dtype is t.int16
    assert t.tensor([np.float64(1.5)]).dtype is t.float64
    assert t.tensor([t.tensor(1, dtype=t.float64), 2]).dtype is t.float64
    with pytest.raises(ValueError, match=r"expected sequence of length 2 at dim 1 \(got 1\)"):
        t.tensor([[1, 2], [3]])
    with pytest.warns(UserWarning, match="To copy construct from a tensor, it is recommended to "
                                         "use sourceTensor.detach\\(\\).clone\\(\\)"):
        t.tensor(t.ones(2))


def test_unsupported_numpy_dtypes():
    msg = ("can't convert np.ndarray of type numpy.{}. The only supported types are: float64, "
           "float32, float16, complex64, complex128, int64, int32, int16, int8, uint8, and bool.")
    for arr, name in ((np.array(["a"]), "str_"), (np.array([1], dtype=object), "object_"),
                      (np.array([1], dtype=np.uint16), "uint16")):
        for f in (tapegrad.tensor, tapegrad.from_numpy, tapegrad.as_tensor):
            with pytest.raises(TypeError, match=re.escape(msg.format(name))):
                f(arr)


def test_list_of_arrays_warns():
    with pytest.warns(UserWarning, match="Creating a tensor from a list of numpy.ndarrays is "
                                         "extremely slow"):
        t = tapegrad.tensor([np.array([1.0, 2.0]), np.array([3.0, 4.0])])
    assert t.dtype is tapegrad.float64 and t.shape == (2, 2)


def test_tensor_copies_numpy_and_tensor_data():
    a = np.ones(3)
    t = tapegrad.tensor(a)
    a[0] = 5
    assert t.tolist() == [1.0, 1.0, 1.0]
    src = tapegrad.ones(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = tapegrad.tensor(src)
    src.add_(1)
    assert c.tolist() == [1.0, 1.0]


# --- as_tensor / asarray / from_numpy -----------------------------------------------------------
SHARING = """
(lambda a: (m.as_tensor(a).add_(1), a))(np.ones(2))
(lambda a: (m.as_tensor(a, dtype=m.float64).add_(1), a))(np.ones(2))
(lambda a: (m.as_tensor(a, dtype=m.float32).add_(1), a))(np.ones(2))
(lambda a: m.as_tensor(a) is a)(m.ones(2))
(lambda a: m.as_tensor(a, dtype=m.float64) is a)(m.ones(2))
(lambda a: m.as_tensor(a, dtype=m.float32) is a)(m.ones(2))
m.as_tensor([1, 2])
m.as_tensor([1, 2], dtype=m.float64)
m.as_tensor(3.5)
m.as_tensor(m.ones(2, requires_grad=True), dtype=m.float64)
m.as_tensor(np.float64(2))
(lambda a: (m.asarray(a).add_(1), a))(np.ones(2))
(lambda a: (m.asarray(a, copy=True).add_(1), a))(np.ones(2))
(lambda a: m.asarray(a) is a)(m.ones(2))
(lambda a: m.asarray(a, copy=True) is a)(m.ones(2))
(lambda a: m.asarray(a, dtype=m.float64) is a)(m.ones(2))
m.asarray(np.ones(2), dtype=m.float32, copy=False)
m.asarray([1, 2])
m.asarray([1., 2], requires_grad=True)
m.asarray([1, 2], requires_grad=True)
m.asarray(m.ones(2), requires_grad=True)
m.asarray(3)
m.asarray(np.float32(3))
(lambda a: (m.from_numpy(a).add_(1), a))(np.ones(2))
m.from_numpy([1, 2])
m.from_numpy(np.array([1], dtype=">f4"))
m.from_numpy(np.ones((3, 2))[:, 0]).stride()
m.from_numpy(np.array(2.5))
m.from_numpy(np.ones(2)).requires_grad
m.scalar_tensor(3)
m.scalar_tensor(3, dtype=m.int64)
m.scalar_tensor(True)
m.scalar_tensor(1j)
m.scalar_tensor(m.tensor(2))
m.scalar_tensor([1])
"""


@needs_torch
@pytest.mark.parametrize("src", _lines(SHARING))
def test_sharing_constructors_like_torch(src):
    same(src)


def test_from_numpy_shares_memory_both_ways():
    a = np.zeros(3, dtype=np.float32)
    t = tapegrad.from_numpy(a)
    a[0] = 1
    t[1] = 2
    assert t.tolist() == [1.0, 2.0, 0.0] and a.tolist() == [1.0, 2.0, 0.0]


# --- filled factories -------------------------------------------------------------------------
FACTORIES = """
m.zeros(2, 3)
m.zeros((2, 3))
m.zeros([2, 3])
m.zeros(m.Size([2, 3]))
m.zeros(())
m.zeros([])
m.zeros(0)
m.zeros(size=(2, 3))
m.zeros(np.int64(2))
m.zeros(m.tensor(2))
m.zeros()
m.zeros(-1)
m.zeros(2, -3)
m.zeros(2.5)
m.zeros((2, 2.5))
m.zeros("a")
m.zeros(m.tensor([2, 3]))
m.zeros((2,), (3,))
m.zeros(True)
m.zeros(2, dtype=m.int64, requires_grad=True)
m.zeros(2, dtype=m.bool)
m.zeros(2, requires_grad=True)
m.ones(2, dtype=m.complex64)
m.ones(2, 3, dtype=m.int8)
m.ones(-1)
m.ones(2.5)
m.ones(2, out=m.zeros(3))
m.zeros(2, 2, out=m.zeros(4, dtype=m.int64))
m.ones(2, out=m.zeros(2, requires_grad=True))
m.empty(2, 3).shape
m.empty((2, 3), dtype=m.int64).dtype
m.empty(2, requires_grad=True).requires_grad
m.empty(-1)
m.full((2,), 3)
m.full((2,), 3.5)
m.full((2,), True)
m.full((2,), 1j)
m.full((2,), 3, dtype=m.float64)
m.full([2, 2], 1.5)
m.full(2, 1.5)
m.full((2,), m.tensor(2.5))
m.full((2,), m.tensor([2.5]))
m.full((2,), np.float64(2.5))
m.full((2,), np.int32(2))
m.full((2,), 3.7, dtype=m.int64)
m.full((2,), 300, dtype=m.uint8)
m.full((2,), -1, dtype=m.uint8)
m.full((2,), float("nan"), dtype=m.int64)
m.full((2,), 1j, dtype=m.float32)
m.full((2,), 1e40, dtype=m.float32)
m.full((2,), 1e40, dtype=m.float16)
m.full((2,), 1e40, dtype=m.complex64)
m.full((2,), 2**70)
m.full((2,), 3, requires_grad=True)
m.full((2,), 3., requires_grad=True)
m.full((), 2.)
m.full((2,), "a")
m.full((2,), None)
m.full(m.Size([2]), 1)
m.eye(3)
m.eye(2, 3)
m.eye(3, 2, dtype=m.int64)
m.eye(0)
m.eye(-1)
m.eye(2, -1)
m.eye(2.5)
m.eye(3, requires_grad=True)
m.eye(2, dtype=m.bool)
m.eye(m.tensor(2))
m.eye(3, out=m.zeros(1))
m.zeros_like(m.ones(2), dtype=m.int64, requires_grad=True)
m.zeros_like(m.ones(2, requires_grad=True)).requires_grad
m.zeros_like(m.ones(2, 3).t()).stride()
m.ones_like(m.ones(2, dtype=m.int8))
m.ones_like([1, 2])
m.empty_like(m.ones(2), dtype=m.float64).dtype
m.full_like(m.ones(2), 3)
m.full_like(m.ones(2, dtype=m.int64), 2.7)
m.full_like(m.ones(2, dtype=m.uint8), 300)
m.full_like(m.ones(2), 1j)
"""


@needs_torch
@pytest.mark.parametrize("src", _lines(FACTORIES))
def test_factories_like_torch(src):
    same(src)


def test_full_infers_dtype_from_fill_value():
    t = tapegrad
    assert t.full((2,), 3).dtype is t.int64
    assert t.full((2,), True).dtype is t.bool
    assert t.full((2,), 1.5).dtype is t.float32
    assert t.full((2,), 1j).dtype is t.complex64
    with pytest.raises(RuntimeError, match="^Only Tensors of floating point and complex dtype "
                                           "can require gradients$"):
        t.zeros(3, dtype=t.int64, requires_grad=True)


# --- ranges -------------------------------------------------------------------------------------
RANGES = """
m.arange(5)
m.arange(5.5)
m.arange(0, 1, 0.1)
m.arange(0, 1, 0.1, dtype=m.float64)
m.arange(1, 0, -0.1)
m.arange(0, 10, 3)
m.arange(0.5, 10, 1)
m.arange(10, dtype=m.float16)
m.arange(0.0, 3.0, 0.3, dtype=m.int32)
m.arange(0.0, 3.0, 0.3, dtype=m.int64)
m.arange(0.5, 3.7, 1.7, dtype=m.int64)
m.arange(0.5, 3.7, 1.7, dtype=m.int32)
m.arange(-2.5, 2.5, 1.5, dtype=m.uint8)
m.arange(0, 10, 2.5, dtype=m.int8)
m.arange(m.tensor(3.))
m.arange(m.tensor(3))
m.arange(1+2j)
m.arange(0, 5, dtype=m.bool)
m.arange(0, 5, dtype=m.complex64)
m.arange(0, float("inf"))
m.arange(0, 10, -1)
m.arange(0, 10, 0)
m.arange(10, dtype=m.uint8, requires_grad=True)
m.arange(0., 1, 0.5, requires_grad=True)
m.arange(5, out=m.zeros(1))
m.range(0, 3)
m.range(0, 1, 0.3)
m.linspace(0, 1, 5)
m.linspace(0, 10, 4)
m.linspace(-1, 1, 7)
m.linspace(3, -2, 8)
m.linspace(0, 1, 1)
m.linspace(0, 1, 0)
m.linspace(-1, 1, 7, dtype=m.uint8)
m.linspace(-3.3, 7.7, 33, dtype=m.int64)
m.linspace(-3.3, 7.7, 33, dtype=m.uint8)
m.linspace(0, 10, 4, dtype=m.float16)
m.linspace(0, 1j, 3)
m.linspace(0, 1, 3, dtype=m.complex128)
m.linspace(0, 1, 3, dtype=m.bool)
m.linspace(0, 1, -1)
m.linspace(m.tensor(0.), m.tensor(1.), 3)
m.linspace(0, 1, 3, requires_grad=True)
m.logspace(0, 1, 5)
m.logspace(0, 1, 1)
m.logspace(0, 1, 3, base=2)
m.logspace(0, 3, 4, dtype=m.int64)
m.logspace(0.1, 0.7, 13, dtype=m.int64)
m.logspace(-1, 1, 7, dtype=m.float64)
m.logspace(3, -2, 8, dtype=m.float16)
"""


@needs_torch
@pytest.mark.parametrize("src", _lines(RANGES))
def test_ranges_like_torch(src):
    same(src)


def test_arange_lengths_and_values_without_torch():
    t = tapegrad
    a = t.arange(0, 1, 0.1)
    assert a.shape == (10,) and a.dtype is t.float32
    assert a.numpy().view(np.uint32)[3] == np.float32(0.30000001192092896).view(np.uint32)
    assert t.arange(0, 1, 0.1, dtype=t.float64).tolist()[3] == 0.30000000000000004
    assert t.arange(1, 2, 0.1, dtype=t.float64).tolist()[6] == 1.5999999999999999
    assert t.arange(10, 0, -3).tolist() == [10, 7, 4, 1]
    assert t.linspace(0, 10, 4).tolist()[2] == np.float32(6.666667)


@needs_torch
def test_ranges_bit_identical_sweep():
    """arange / linspace / logspace over random bounds, steps, lengths and dtypes."""
    rng = np.random.default_rng(7)
    dts = ["float32", "float64", "float16", "int64", "int32", "uint8", "int16"]
    bad = []
    for it in range(600):
        s = float(np.round(rng.uniform(-20, 20), rng.integers(0, 4)))
        e = float(np.round(rng.uniform(-20, 20), rng.integers(0, 4)))
        st = float(np.round(rng.uniform(0.01, 3), rng.integers(1, 4))) * (1 if e >= s else -1)
        n = int(rng.integers(0, 300))
        d = dts[it % len(dts)]
        cases = [
            ("arange", lambda m: m.arange(s, e, st)),
            ("arange dtype", lambda m: m.arange(s, e, st, dtype=getattr(m, d))),
            ("linspace", lambda m: m.linspace(s, e, n, dtype=getattr(m, d))),
        ]
        if d.startswith("float"):
            cases.append(("logspace", lambda m: m.logspace(s / 5, e / 5, n, dtype=getattr(m, d))))
        for name, f in cases:
            try:
                b = f(torch)
            except Exception as ex:  # noqa: BLE001
                with pytest.raises(type(ex)):
                    f(tapegrad)
                continue
            a = f(tapegrad)
            if not bits_equal(a, b):
                bad.append((name, d, s, e, st, n))
    assert not bad, bad[:5]


# --- random ---------------------------------------------------------------------------------------
def _draws(m):
    """A program drawing from every sampler; returns the tensors drawn."""
    out = []
    m.manual_seed(123)
    out += [m.rand(5), m.rand(3, dtype=m.float64), m.rand(4, dtype=m.float16)]
    out += [m.randn(3), m.randn(1), m.randn(2, dtype=m.float64)]
    out += [m.randn(17), m.randn(40, dtype=m.float64), m.randn(33, dtype=m.float16)]
    out += [m.randn(100, 7), m.randn(5, dtype=m.complex64), m.randn(9, dtype=m.complex128)]
    out += [m.rand(3, dtype=m.complex64), m.randn(16, dtype=m.float16), m.randn(15)]
    out += [m.randint(0, 10, (6,)), m.randint(-5, 2 ** 40, (4,)),
            m.randint(3, (2, 2), dtype=m.int32), m.randint(0, 2, (5,), dtype=m.bool),
            m.randint(0, 7, (3,), dtype=m.float32)]
    out += [m.randperm(10), m.randperm(1), m.randperm(0), m.randperm(37, dtype=m.float32)]
    out += [m.normal(2.0, 3.0, size=(5,)), m.normal(2.0, 3.0, size=(20,)),
            m.normal(m.ones(3) * 2, 0.5), m.normal(1.0, m.ones(4) * 2),
            m.normal(m.zeros(2, 3), m.ones(3)), m.normal(m.zeros(20, dtype=m.float64), 2.0)]
    out += [m.bernoulli(m.full((7,), 0.3)), m.bernoulli(m.full((7,), 0.3, dtype=m.float64)),
            m.bernoulli(m.ones(5), 0.4), m.zeros(6).bernoulli_(0.5),
            m.zeros(4).bernoulli_(m.full((4,), 0.5))]
    out += [m.empty(5).uniform_(-2, 3), m.empty(5, dtype=m.float64).uniform_(-2, 3),
            m.empty(20).normal_(1.5, 0.5), m.empty(3).normal_(1.5, 0.5),
            m.empty(4, dtype=m.int64).random_(0, 10), m.empty(3).random_(5)]
    g = m.Generator().manual_seed(7)
    out += [m.rand(3, generator=g), m.randn(20, generator=g), m.rand(2)]
    out += [m.rand_like(m.ones(2, dtype=m.float64)), m.randn_like(m.ones(3)),
            m.randint_like(m.ones(3), 4), m.randint_like(m.ones(3), 2, 4)]
    return out


@needs_torch
def test_random_streams_bit_identical_to_torch():
    a, b = _draws(tapegrad), _draws(torch)
    assert len(a) == len(b)
    bad = [i for i, (x, y) in enumerate(zip(a, b)) if not bits_equal(x, y)]
    assert not bad, [(i, a[i], b[i]) for i in bad[:3]]
    assert np.array_equal(tapegrad.get_rng_state().numpy(), torch.get_rng_state().numpy())


@needs_torch
@pytest.mark.parametrize("seed", [0, 1, 2 ** 32 + 5, -1, 2 ** 63])
def test_seeds_like_torch(seed):
    tapegrad.manual_seed(seed)
    torch.manual_seed(seed)
    assert tapegrad.initial_seed() == torch.initial_seed()
    assert bits_equal(tapegrad.randn(64), torch.randn(64))
    assert np.array_equal(tapegrad.get_rng_state().numpy(), torch.get_rng_state().numpy())


@needs_torch
def test_state_exchanges_with_torch():
    torch.manual_seed(3)
    torch.randn(3)  # leaves a spare normal sample in the state
    tapegrad.set_rng_state(tapegrad.tensor(torch.get_rng_state().numpy()))
    assert bits_equal(tapegrad.randn(1), torch.randn(1))
    assert bits_equal(tapegrad.rand(700), torch.rand(700))
    torch.set_rng_state(torch.from_numpy(tapegrad.get_rng_state().numpy().copy()))
    assert bits_equal(tapegrad.randint(0, 100, (9,)), torch.randint(0, 100, (9,)))


def test_manual_seed_reproducibility_without_torch():
    tapegrad.manual_seed(0)
    a = tapegrad.rand(3)
    assert a.tolist() == [np.float32(0.4962566).item(), np.float32(0.7682218).item(),
                          np.float32(0.08847743).item()]
    tapegrad.manual_seed(0)
    assert tapegrad.rand(3).tolist() == a.tolist()
    tapegrad.manual_seed(0)
    assert tapegrad.randn(2).tolist() == [np.float32(1.5409961).item(),
                                          np.float32(-0.2934289).item()]


def test_generator_api():
    g = tapegrad.Generator()
    assert g.initial_seed() == 67280421310721
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    assert repr(g.device) == "device(type='cpu')"
    st = g.get_state()
    assert st.dtype is tapegrad.uint8 and st.shape == (5056,)
    x = tapegrad.rand(4, generator=g)
    g.set_state(st)
    assert tapegrad.rand(4, generator=g).tolist() == x.tolist()
    assert tapegrad.Generator().manual_seed(-1).initial_seed() == 2 ** 64 - 1
    s = g.seed()
    assert g.initial_seed() == s
    tapegrad.manual_seed(1)
    before = tapegrad.get_rng_state()
    tapegrad.rand(2, generator=tapegrad.Generator().manual_seed(9))
    assert np.array_equal(tapegrad.get_rng_state().numpy(), before.numpy())  # untouched


def test_generator_errors():
    g = tapegrad.Generator()
    with pytest.raises(RuntimeError, match="manual_seed expected a long, but got float"):
        g.manual_seed(1.5)
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        g.manual_seed(2 ** 64)
    with pytest.raises(TypeError, match="RNG state must be a tapegrad.ByteTensor"):
        g.set_state(tapegrad.zeros(5056))
    with pytest.raises(RuntimeError, match="Expected a CPUGeneratorImplState of size 5056 but "
                                           "found the input RNG state size to be 3"):
        g.set_state(tapegrad.zeros(3, dtype=tapegrad.uint8))
    with pytest.raises(TypeError, match="expected a tapegrad.Generator"):
        tapegrad.rand(2, generator=3)


RANDOM_API = """
m.rand(2, dtype=m.int64)
m.randn(2, dtype=m.int64)
m.rand(2, dtype=m.bool)
m.rand(2, dtype=m.complex64).dtype
m.randn(2, dtype=m.complex64).dtype
m.rand(()).shape
m.rand(0).shape
m.rand((2,3)).shape
m.rand(2, 3).shape
m.rand(-1)
m.rand(2.5)
m.randn(2, dtype=m.float16).dtype
m.rand(2, requires_grad=True).requires_grad
m.randint(5, (3,)).dtype
m.randint(2, 5, (3,)).shape
m.randint(5, 3)
m.randint(5, (3,), dtype=m.float32).dtype
m.randint(5, 2, (3,))
m.randint(5, (3,), dtype=m.bool)
m.randint(3, (2,), requires_grad=True)
m.randint(0, 300, (2,), dtype=m.uint8)
m.randint(-1, 3, (2,), dtype=m.uint8)
m.randint(0, 3, (2,), dtype=m.bool)
m.randint(-200, 3, (2,), dtype=m.int8)
m.randint(0, 2**40, (2,), dtype=m.int32)
m.randint(0, 2**40, (2,), dtype=m.float16)
m.randint(0, 2**63, (1,))
m.randint(low=0, high=3, size=(2,)).shape
m.randint(3, size=(2,)).shape
m.randperm(5).dtype
m.randperm(5, dtype=m.float32).dtype
m.randperm(-1)
m.randperm(0)
m.randperm(3, dtype=m.bool)
m.randperm(3, requires_grad=True)
m.normal(0., 1., (2, 3)).shape
m.normal(m.zeros(3), 1.).shape
m.normal(0., m.ones(3)).shape
m.normal(m.zeros(3), m.ones(2,3)).shape
m.normal(0., -1., (2,))
m.normal(m.zeros(2), -1.)
m.normal(m.zeros(2), -m.ones(2))
m.normal(0, 1, (2,)).dtype
m.normal(m.zeros(2, dtype=m.float64), 1.).dtype
m.normal(m.zeros(2, dtype=m.int64), 1.)
m.normal(m.zeros(2, dtype=m.float64), m.ones(2)).dtype
m.normal(m.zeros(2), m.ones(2, dtype=m.float64)).dtype
m.normal(2., 3., size=(2,), requires_grad=True).requires_grad
m.normal(m.zeros(2, requires_grad=True), 1.).grad_fn.name()
m.normal(0., m.ones(2, requires_grad=True)).grad_fn.name()
m.normal(m.zeros(2, requires_grad=True), m.ones(2, requires_grad=True)).grad_fn.name()
m.bernoulli(m.full((3,), 0.5)).dtype
m.bernoulli(m.full((3,), 1.5))
m.bernoulli(m.ones(3, dtype=m.int64))
m.bernoulli(m.ones(3, requires_grad=True)).grad_fn.name()
m.bernoulli(m.ones(2,dtype=m.float64)).dtype
m.rand_like(m.ones(2, dtype=m.float64)).dtype
m.rand_like(m.ones(2, dtype=m.int64))
m.randn_like(m.ones(2, dtype=m.int64))
m.randn_like(m.ones(2), dtype=m.float64).dtype
m.randint_like(m.ones(2, dtype=m.int32), 5).dtype
m.randint_like(m.ones(2), 3, 5).shape
m.rand_like(m.ones(3, requires_grad=True)).requires_grad
"""


@needs_torch
@pytest.mark.parametrize("src", _lines(RANDOM_API))
def test_random_api_like_torch(src):
    same(src)


@needs_torch
def test_random_gradients_are_zero_like_torch():
    for m in (tapegrad, torch):
        mean = m.zeros(3, requires_grad=True)
        std = m.ones(3, requires_grad=True)
        m.normal(mean, std).sum().backward()
        assert mean.grad.tolist() == [0.0] * 3 and std.grad.tolist() == [0.0] * 3
        p = m.full((3,), 0.5, requires_grad=True)
        m.bernoulli(p).sum().backward()
        assert p.grad.tolist() == [0.0] * 3


def test_random_ranges_without_torch():
    tapegrad.manual_seed(11)
    r = tapegrad.rand(1000)
    assert 0 <= r.min().item() and r.max().item() < 1
    i = tapegrad.randint(-5, 3, (1000,))
    assert i.min().item() == -5 and i.max().item() == 2
    assert sorted(tapegrad.randperm(50).tolist()) == list(range(50))
    n = tapegrad.randn(10000, dtype=tapegrad.float64)
    assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1) < 0.05
    b = tapegrad.bernoulli(tapegrad.full((10000,), 0.25))
    assert abs(b.mean().item() - 0.25) < 0.02


def test_randint_wide_ranges_match_torch():
    """From a range of 2**28 on, ATen draws 64-bit words (int32 included): same numbers."""
    torch = pytest.importorskip("torch")
    import tapegrad

    for hi in [2**28 - 1, 2**28, 2**28 + 5, 2**31 - 1, 2**32 + 7, 2**40]:
        for name in ["int32", "int64", "float64"]:
            res = []
            for m in (tapegrad, torch):
                m.manual_seed(1)
                try:
                    res.append(m.randint(0, hi, (5,), dtype=getattr(m, name)).tolist())
                except RuntimeError as e:
                    res.append(str(e).split(" for ")[0])
            assert res[0] == res[1], (hi, name, res)

"""Tensor printing compared character for character with PyTorch's repr (torch -> tapegrad)."""

from __future__ import annotations

import math
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

try:
    import tapegrad
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import tapegrad

from tapegrad import _dtype
from tapegrad._tensor_str import get_printoptions, set_printoptions, tensor_repr

HAS_TENSOR = hasattr(tapegrad, "from_numpy")

DTYPES = [
    "bool", "uint8", "int8", "int16", "int32", "int64",
    "float16", "float32", "float64", "complex64", "complex128",
]
SHAPES = [
    (), (0,), (0, 3), (1,), (5,), (2, 3), (2, 3, 4), (2, 1, 2, 2), (1001,), (50, 50), (3, 400),
]
KINDS = [
    "small_int", "unit", "large", "tiny", "mixed", "special", "intfloat", "huge_int", "zeros",
    "nonfinite",
]


# ------------------------------------------------------------------------------------------
# Building the same tensor on both sides


class StandIn:
    """The attributes tensor_repr reads, for tests of suffixes a real tensor cannot carry yet."""

    def __init__(self, data, requires_grad=False, grad_fn=None, tangent=None):
        self._data = data
        self.dtype = _dtype.from_numpy_dtype(data.dtype)
        self.requires_grad = requires_grad
        self.grad_fn = grad_fn
        self.is_leaf = grad_fn is None
        self._fw_tangent = tangent


class FakeNode:
    def __init__(self, name):
        self._name = name

    def name(self):
        return self._name


def ours(a):
    """A tapegrad tensor holding a (a real one once tapegrad.from_numpy exists)."""
    return tapegrad.from_numpy(a.copy()) if HAS_TENSOR else StandIn(a.copy())


def expected(t) -> str:
    return repr(t).replace("torch.", "tapegrad.")


def check(a):
    want = expected(torch.from_numpy(a.copy()))
    got = tensor_repr(ours(a))
    assert got == want, f"\n--- torch\n{want}\n--- tapegrad\n{got}"


def _raw(kind, n, rng):
    """n values of a kind, as float64 or int64."""
    if kind == "small_int":
        return rng.integers(-5, 10, n)
    if kind == "unit":
        return rng.random(n)
    if kind == "large":
        return rng.random(n) * 1e9
    if kind == "tiny":
        return rng.random(n) * 1e-6
    if kind == "mixed":
        return rng.standard_normal(n) * 10.0 ** rng.integers(-2, 3, n)
    if kind == "special":
        x = rng.standard_normal(n)
        x[rng.random(n) < 0.3] = np.nan
        x[rng.random(n) < 0.2] = np.inf
        x[rng.random(n) < 0.2] = -np.inf
        x[rng.random(n) < 0.2] = -0.0
        return x
    if kind == "intfloat":
        x = rng.integers(-100, 100, n).astype(np.float64)
        x[rng.random(n) < 0.2] = -0.0
        return x
    if kind == "huge_int":
        ii = np.iinfo(np.int64)
        x = rng.integers(ii.min, ii.max, n)
        x[: min(n, 2)] = [ii.min, ii.max][: min(n, 2)]
        return x
    if kind == "zeros":
        return np.zeros(n)
    if kind == "nonfinite":
        return rng.choice(np.array([np.nan, np.inf, -np.inf]), n)
    raise ValueError(kind)


def make(kind, dtype, shape, seed=0):
    """A NumPy array of the given dtype name and shape filled with values of a kind."""
    rng = np.random.default_rng(zlib.crc32(f"{kind}{dtype}{shape}{seed}".encode()))
    n = math.prod(shape)
    npd = np.dtype(dtype)
    with np.errstate(all="ignore"):
        x = _raw(kind, n, rng)
        if npd.kind == "c":
            x = x + 1j * _raw(kind, n, rng)
        elif npd.kind == "b":
            x = (np.nan_to_num(x) > 0.3) if x.dtype.kind == "f" else (x % 2 == 0)
        elif npd.kind in "iu" and x.dtype.kind == "f":
            ii = np.iinfo(npd)
            x = np.clip(np.round(np.nan_to_num(x)), ii.min, ii.max)
        return x.astype(npd).reshape(shape)


@pytest.fixture(autouse=True)
def _restore():
    """Every test leaves print options and default dtypes as it found them."""
    t_opts = torch._tensor_str.get_printoptions()
    o_opts = get_printoptions()
    t_dd, o_dd = torch.get_default_dtype(), _dtype.get_default_dtype()
    yield
    torch.set_printoptions(**t_opts)
    set_printoptions(**o_opts)
    torch.set_default_dtype(t_dd)
    _dtype.set_default_dtype(o_dd)


def both_printoptions(**kw):
    torch.set_printoptions(**kw)
    set_printoptions(**kw)


# ------------------------------------------------------------------------------------------
# The grid


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_grid(shape, dtype, kind):
    check(make(kind, dtype, shape))


OPTIONS = [
    {"precision": 2},
    {"precision": 0},
    {"precision": 8},
    {"sci_mode": True},
    {"sci_mode": False},
    {"linewidth": 40},
    {"linewidth": 200},
    {"threshold": 10},
    {"edgeitems": 2},
    {"threshold": 10, "edgeitems": 1},
    {"edgeitems": 0},
    {"profile": "full"},
    {"profile": "short"},
    {"profile": "short", "precision": 6, "sci_mode": True},
]


@pytest.mark.parametrize("kind", ["mixed", "special", "intfloat", "large"])
@pytest.mark.parametrize("dtype", ["bool", "int64", "float16", "float32", "float64", "complex128"])
@pytest.mark.parametrize(
    "shape", [(), (0, 3), (5,), (2, 3, 4), (1001,), (50, 50), (3, 400)], ids=str
)
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_printoptions_grid(opts, shape, dtype, kind):
    both_printoptions(**opts)
    check(make(kind, dtype, shape))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "complex64", "complex128",
                                   "int64", "bool"])
@pytest.mark.parametrize("shape", [(), (0,), (0, 3), (4,), (2, 3)], ids=str)
def test_default_dtype_float64(shape, dtype):
    torch.set_default_dtype(torch.float64)
    _dtype.set_default_dtype(_dtype.float64)
    check(make("mixed", dtype, shape))


# ------------------------------------------------------------------------------------------
# Edge values of the mode choice, rounding and widths

EDGE_VALUES = [
    [1.0, 1000.0], [1.0, 1001.0], [1e8], [100000001.0], [1e-4], [9.9999e-5], [0.00011],
    [9.99995], [0.99995], [-9.99996, 1.0], [99999.5], [0.5, 1.5, 2.5], [-0.0], [0.0, -0.0],
    [1e-300, 1.0], [1e300], [-1e-300, 5e-324], [1e20, 1.0], [123456789.0], [1e-5, -1e5],
    [np.nan], [np.inf, -np.inf], [np.nan, 1.5], [-np.inf, 2.0], [3.0, np.nan, -0.0],
    [1.0, 2.0, 3.0], [-1.0, 10.0, -100.0], [0.1, 0.2, 0.3], [65504.0, -65504.0],
    [6e-8, 1.0], [1234.5678] * 8, [-1234.5678] * 30, [1.0] * 100,
]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("values", EDGE_VALUES, ids=str)
def test_edge_values(values, dtype):
    with np.errstate(all="ignore"):
        a = np.array(values, dtype=np.float64)
        if np.dtype(dtype).kind == "c":
            a = a + 1j * a[::-1]
        a = a.astype(dtype)
    check(a)
    if a.size:
        check(a[:1].reshape(()))


@pytest.mark.parametrize("values", [
    [1 + 2j, -1j], [0j], [complex(0.0, -0.0)], [complex(-0.0, -0.0)], [complex(np.nan, np.inf)],
    [complex(np.inf, -np.nan)], [complex(1e-6, 1e6)], [complex(1.5, -2.25), 3.0],
    [complex(-1, 1)] * 20, [complex(0.1, -1e10)],
], ids=str)
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_complex_values(values, dtype):
    a = np.array(values, dtype=dtype)
    check(a)
    check(a.reshape(1, -1))
    check(a[:1].reshape(()))


@pytest.mark.parametrize("shape", [(2, 0, 3), (3, 0), (0, 0), (1, 0, 1), (0, 1001)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_shapes(shape, dtype):
    check(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("shape", [(10, 10, 12), (2, 3, 4, 50), (1, 1, 1001), (1001, 1),
                                   (7, 7, 7, 7), (1, 2000)], ids=str)
@pytest.mark.parametrize("dtype", ["int8", "float32", "complex64"])
def test_summarized_nd(shape, dtype):
    check(make("mixed", dtype, shape))


@pytest.mark.parametrize("n", [1, 10, 13, 14, 15, 16, 17, 20, 25, 40])
@pytest.mark.parametrize("dtype", ["int64", "int16", "float32", "float64", "complex128"])
def test_row_wrapping(n, dtype):
    check(make("large", dtype, (n,)))
    check(make("large", dtype, (2, n)))


# ------------------------------------------------------------------------------------------
# Suffixes: requires_grad, grad_fn, tangent, dtype wrapping


def _suffix_cases():
    for dtype in ["float16", "float32", "float64", "complex64", "complex128"]:
        for shape in [(), (0,), (0, 3), (3,), (2, 3), (13,), (14,), (30,), (1001,)]:
            for kind in ["mixed", "intfloat", "large"]:
                yield dtype, shape, kind


@pytest.mark.parametrize(("dtype", "shape", "kind"), list(_suffix_cases()), ids=str)
def test_requires_grad_and_grad_fn(dtype, shape, kind):
    a = make(kind, dtype, shape)
    leaf = torch.from_numpy(a.copy()).requires_grad_()
    got = tensor_repr(StandIn(a, requires_grad=True))
    assert got == expected(leaf)
    if HAS_TENSOR:
        mine = tapegrad.from_numpy(a.copy()).requires_grad_()
        assert tensor_repr(mine) == expected(leaf)
    for out in (leaf * 2, leaf.sum(), leaf.reshape(-1)[:2], leaf.abs()):
        data = out.detach().numpy()
        node = None if out.grad_fn is None else FakeNode(type(out.grad_fn).__name__)
        got = tensor_repr(StandIn(data, True, node))
        assert got == expected(out)


def test_grad_fn_without_name_method():
    class MulBackward0:
        pass

    out = torch.tensor([1.0, 2.0], requires_grad=True) * 2
    assert tensor_repr(StandIn(out.detach().numpy(), True, MulBackward0())) == expected(out)


class AVeryLongFunctionNameToWrap(torch.autograd.Function):
    """Its node is named 'AVeryLongFunctionNameToWrapBackward'."""

    @staticmethod
    def forward(ctx, x):
        return x * 1

    @staticmethod
    def backward(ctx, g):
        return g


@pytest.mark.parametrize("linewidth", [80, 40, 120, 20])
@pytest.mark.parametrize("width", [60, 62, 64, 66, 68, 70, 72, 74, 76, 78])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "complex64"])
def test_suffix_wrapping(width, dtype, linewidth):
    """Rows ending near the line width, so that the suffixes go to a new line or not."""
    both_printoptions(linewidth=linewidth)
    n = (width - 9) // 6
    a = (np.arange(1, n + 1) * 1000 + (np.arange(n) % 2)).astype(dtype)
    t = torch.from_numpy(a.copy())
    outs = [t]
    if a.dtype.kind in "fc":
        leaf = torch.from_numpy(a.copy()).requires_grad_()
        outs += [leaf, leaf * 1, AVeryLongFunctionNameToWrap.apply(leaf)]
    for out in outs:
        node = None if out.grad_fn is None else FakeNode(type(out.grad_fn).__name__)
        assert tensor_repr(StandIn(a, out.requires_grad, node)) == expected(out)


@pytest.mark.parametrize("shape", [(), (3,), (3, 4), (2, 2, 2), (12,), (1001,)], ids=str)
@pytest.mark.parametrize(("pdt", "tdt"), [("float32", "float32"), ("float64", "float64"),
                                          ("complex64", "complex64"), ("float16", "float16")])
@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's forward_ad imports jit.script
def test_tangent(shape, pdt, tdt, requires_grad):
    import torch.autograd.forward_ad as fwAD  # noqa: N812

    p, tg = make("mixed", pdt, shape, 1), make("unit", tdt, shape, 2)
    tp = torch.from_numpy(p.copy()).requires_grad_(requires_grad)
    with fwAD.dual_level():
        dual = fwAD.make_dual(tp, torch.from_numpy(tg.copy()))
        want = expected(dual)
        # make_dual of a primal that requires grad is a view with a grad_fn (ViewBackward0).
        node = None if dual.grad_fn is None else FakeNode(type(dual.grad_fn).__name__)
    got = tensor_repr(StandIn(p, requires_grad, node, tangent=StandIn(tg)))
    assert got == want


@pytest.mark.parametrize("contents", ["[...]", "[1, 2]\n  x"])
@pytest.mark.parametrize("dtype", ["float64", "int32", "float32"])
def test_tensor_contents(contents, dtype):
    a = np.arange(3, dtype=dtype)
    want = torch._tensor_str._str(torch.from_numpy(a), tensor_contents=contents)
    got = tensor_repr(StandIn(a), tensor_contents=contents)
    assert got == want.replace("torch.", "tapegrad.")


# ------------------------------------------------------------------------------------------
# set_printoptions / get_printoptions


@pytest.mark.parametrize("calls", [
    [{}],
    [{"precision": 2}, {"threshold": 5}],
    [{"profile": "full"}],
    [{"profile": "short"}, {"profile": "default"}],
    [{"profile": "short", "edgeitems": 5}],
    [{"sci_mode": True}, {"precision": 3}],
    [{"profile": "nonsense", "linewidth": 100}],
], ids=str)
def test_get_printoptions(calls):
    for kw in calls:
        both_printoptions(**kw)
        assert get_printoptions() == torch._tensor_str.get_printoptions()
    set_printoptions(**get_printoptions())
    assert get_printoptions() == torch._tensor_str.get_printoptions()


def test_printoptions_restored_by_fixture():
    assert get_printoptions() == {
        "precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None,
    }


def test_printoptions_context_manager():
    from tapegrad._tensor_str import printoptions

    with printoptions(precision=1):
        assert get_printoptions()["precision"] == 1
    assert get_printoptions()["precision"] == 4


# ------------------------------------------------------------------------------------------
# Real tapegrad tensors


@pytest.mark.skipif(not HAS_TENSOR, reason="tapegrad.from_numpy does not exist yet")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (1001,)], ids=str)
def test_tensor_repr_and_str(shape, dtype):
    a = make("mixed", dtype, shape)
    t = tapegrad.from_numpy(a.copy())
    want = expected(torch.from_numpy(a.copy()))
    assert repr(t) == want
    assert str(t) == want


@pytest.mark.skipif(not HAS_TENSOR, reason="tapegrad.from_numpy does not exist yet")
def test_real_grad_fn():
    x = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    tx = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert repr(x) == expected(tx)
    assert repr(x * 2) == expected(tx * 2)
    assert repr((x * 2).sum()) == expected((tx * 2).sum())

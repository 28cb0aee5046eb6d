"""The Tensor API compared with PyTorch: shape and Size, metadata, conversions to Python and
NumPy, requires_grad / grad / data / detach, dtype conversions (and their gradients), new_*,
devices, the legacy constructors and types, copying and pickling, identity semantics.

Most checks are one expression written once for both libraries (`m` is tapegrad or torch):
its repr (or its exception type and message) and its warnings must agree, with "torch."
reading "tapegrad." and PyTorch's "(Triggered internally at ...)" suffix dropped.
"""

from __future__ import annotations

import copy
import operator
import pickle
import re
import threading
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
    s = s.replace("torch.", "tapegrad.").replace("'torch'", "'tapegrad'")
    s = re.sub(r" \(Triggered internally at [^)]*\.\)", "", s)
    return re.sub(r"0x[0-9a-f]+", "0x", s)


# Warnings one library gives and the other does not, for reasons outside the API: PyTorch's
# __array_wrap__ signature is old for NumPy 2; PyTorch warns about converting a tensor that
# requires grad to a scalar once per process (tapegrad warns per call, deduplicated by Python).
# Dropping imaginary parts in to() is also warned once per process, by both libraries; which
# test sees it first depends on test order, so it is left out of the comparison too.
_IGNORED_WARNINGS = ("__array_wrap__ must accept context",
                     "Converting a tensor with requires_grad=True to a scalar",
                     "Casting complex values to real discards the imaginary part")


def outcome(src: str, m):
    """What evaluating src with m = tapegrad or torch gives: the result's repr and type name
    (or the exception's type and message), and the warnings raised."""
    env = {"m": m, "np": np, "operator": operator, "copy": copy, "pickle": pickle,
           "X": m.ones(2, requires_grad=True)}
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        try:
            r = eval(src, env)
            out = ("ok", _norm(repr(r)), type(r).__name__)
        except Exception as e:  # noqa: BLE001
            out = ("err", type(e).__name__, _norm(str(e)))
    return out, [_norm(str(w.message)) for w in ws
                 if not str(w.message).startswith(_IGNORED_WARNINGS)]


def same(src: str) -> None:
    a, b = outcome(src, tapegrad), outcome(src, torch)
    assert a == b, f"{src}\n tapegrad: {a}\n torch:    {b}"


# --- Size and metadata -------------------------------------------------------------------------
SIZE = """
m.ones(2,3).shape
m.ones(2,3).shape[0]
m.ones(2,3).shape[1:]
m.ones(2,3).shape[::-1]
m.ones(2,3).shape[-1]
m.ones(2,3).shape.numel()
m.Size([]).numel()
m.ones(2,3).shape + (4,)
(4,) + m.ones(2,3).shape
m.Size([2, 3]) + [4]
m.Size([2, 3]) * 2
2 * m.Size([2, 3])
m.Size([2, 3]) * 0
m.Size([2,3])
m.Size((2,3))
m.Size()
m.Size([2, 3]) == (2, 3)
m.Size([np.int64(2), 3])
m.Size([m.tensor(2), 3])
m.Size([m.tensor(2.), 3])
m.Size([2.5])
m.Size([True])
m.Size([[2]])
m.Size(x for x in [1, 2])
str(m.ones(2,3).shape)
type(m.ones(2, 3).shape[0:1])
type(m.Size([2, 3]) + (1,))
hash(m.Size([2, 3])) == hash((2, 3))
pickle.loads(pickle.dumps(m.Size([2, 3])))
m.ones(2,3).size()
m.ones(2,3).size(1)
m.ones(2,3).size(-1)
m.ones(2,3).size(dim=1)
m.ones(2,3).size(2)
m.ones(2,3).size(-3)
m.ones(2,3).size(1.5)
m.ones(2,3).size("a")
m.ones(2,3).size(m.tensor(1))
m.ones(2,3).size(np.int64(1))
m.ones(()).size(0)
m.ones(()).size(-1)
m.ones(2,3).dim()
m.ones(2,3).ndim
m.ones(2,3).ndimension()
m.ones(2,3).numel()
m.ones(2,3).nelement()
m.ones(2,3).element_size()
m.ones(2,3,dtype=m.float64).element_size()
m.ones(2,3,dtype=m.bool).itemsize
m.ones(2,3,dtype=m.complex128).nbytes
m.ones(2, 3).stride()
m.ones(2, 3).stride(0)
m.ones(2, 3).stride(-1)
m.ones(2, 3).stride(dim=1)
m.ones(2, 3).stride(2)
m.ones(()).stride()
m.ones(()).stride(0)
m.ones(0, 3).stride()
m.ones(2, 3).t().stride()
m.ones(2, 3).t().is_contiguous()
m.ones(2, 3).t().contiguous().is_contiguous()
m.ones(2, 3).expand(4, 2, 3).stride()
m.ones(2, 3).is_contiguous()
m.ones(2).device
str(m.ones(2).device)
m.ones(2).is_cuda
m.ones(2).is_cpu
m.ones(2).get_device()
m.ones(2).layout
m.ones(2).is_sparse
m.ones(2).is_floating_point()
m.ones(2, dtype=m.int8).is_signed()
m.ones(2, dtype=m.uint8).is_signed()
m.ones(2, dtype=m.complex64).is_complex()
"""


@needs_torch
@pytest.mark.parametrize("src", [s for s in SIZE.strip().splitlines()])
def test_size_and_metadata_like_torch(src):
    same(src)


def test_size_without_torch():
    s = tapegrad.ones(2, 3).shape
    assert repr(s) == "tapegrad.Size([2, 3])" and isinstance(s, tuple)
    assert isinstance(s[1:], tapegrad.Size) and s.numel() == 6
    assert tapegrad.Size.__module__ == "tapegrad" and tapegrad.Tensor.__module__ == "tapegrad"


# --- conversions ------------------------------------------------------------------------------
CONVERSIONS = """
m.tensor(3.5).item()
m.tensor([3.5]).item()
m.tensor([[3]]).item()
m.tensor([1,2]).item()
m.tensor([]).item()
m.tensor(True).item()
m.tensor(1+2j).item()
m.ones(1, requires_grad=True).item()
m.tensor([1.5,2]).tolist()
m.tensor(1.5).tolist()
m.tensor([[1,2]]).tolist()
m.tensor([True]).tolist()
m.tensor([1+1j]).tolist()
m.tensor([1.,2],requires_grad=True).numpy()
m.tensor([1.,2],requires_grad=True).detach().numpy()
m.tensor([1.,2]).numpy()
m.tensor([1.,2],requires_grad=True).numpy(force=True)
np.asarray(m.tensor([1.,2]))
np.asarray(m.tensor([1.,2], requires_grad=True))
np.asarray(m.tensor([1.,2]), dtype=np.float64)
np.sin(m.tensor([0., 1.]))
np.isnan(m.tensor([0., 1.]))
np.add(m.ones(2), 1)
len(m.ones(3,2))
len(m.tensor(1.))
iter(m.tensor(1.))
bool(m.tensor([1.]))
bool(m.tensor([]))
bool(m.tensor([1.,2]))
bool(m.tensor(0.))
bool(m.tensor(1j))
float(m.tensor([1., 2]))
float(m.tensor([]))
float(m.tensor([[2.5]]))
float(m.tensor(2., requires_grad=True))
float(m.tensor(1+2j))
float(m.tensor(1+0j))
float(m.tensor(True))
float(m.tensor(1e40, dtype=m.float64))
int(m.tensor([2.7]))
int(m.tensor(-2.7))
int(m.tensor([1,2]))
int(m.tensor(1+2j))
int(m.tensor(2+0j))
int(m.ones(1, requires_grad=True))
int(m.tensor(float("nan")))
complex(m.tensor(1.5))
complex(m.tensor([1,2]))
complex(m.ones(1, requires_grad=True))
[1,2,3][m.tensor(1)]
[1,2,3][m.tensor([1])]
[1,2,3][m.tensor(1.)]
[1,2,3][m.tensor([1,2])]
[1,2,3][m.tensor(True)]
range(10)[m.tensor(2)]
operator.index(m.tensor(2, dtype=m.int8))
f"{m.tensor(3.14159):.2f}"
f"{m.tensor(3):d}"
f"{m.tensor([3.14159]):.2f}"
f"{m.tensor([1.,2])}"
f"{m.tensor(3.5)}"
f"{m.tensor(3.14159, requires_grad=True):.2f}"
"{}".format(m.tensor(2.))
format(m.tensor([2.]), "")
1.0 in m.ones(2)
3 in m.ones(2)
m.tensor(1.) in m.ones(2)
"a" in m.ones(2)
"""


@needs_torch
@pytest.mark.parametrize("src", [s for s in CONVERSIONS.strip().splitlines()])
def test_conversions_like_torch(src):
    same(src)


def test_numpy_shares_memory():
    t = tapegrad.zeros(3)
    a = t.numpy()
    a[0] = 5
    assert t.tolist() == [5.0, 0.0, 0.0]
    b = np.asarray(t)
    b[1] = 7
    assert t[1].item() == 7.0
    assert np.array(t, copy=True) is not a


def test_scalar_conversion_of_tensor_requiring_grad_warns():
    x = tapegrad.ones(1, requires_grad=True)
    for conv in (float, complex):
        with pytest.warns(UserWarning, match="Converting a tensor with requires_grad=True to a "
                                             "scalar may lead to unexpected behavior.\nConsider "
                                             "using tensor.detach\\(\\) first."):
            conv(x)


def test_iteration_gives_rows():
    rows = list(tapegrad.tensor([[1, 2], [3, 4]]))
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(tapegrad.tensor(1.0))


# --- autograd state ---------------------------------------------------------------------------
AUTOGRAD_STATE = """
setattr(m.tensor([1,2]), "requires_grad", True)
setattr(m.tensor([1.,2]), "requires_grad", True)
setattr(m.tensor([1,2]), "requires_grad", False)
m.tensor([1,2]).requires_grad_()
m.tensor([1+1j]).requires_grad_()
m.tensor([1,2]).requires_grad_(False)
m.ones(2).requires_grad_(requires_grad=False)
(m.ones(2, requires_grad=True) * 2).requires_grad_(False)
(m.ones(2, requires_grad=True) * 2).requires_grad_(True)
(m.ones(2) * 2).requires_grad_(True).is_leaf
setattr(m.ones(2, requires_grad=True) * 2, "requires_grad", False)
setattr(m.ones(2, requires_grad=True) * 2, "requires_grad", True)
setattr(m.ones(2), "requires_grad", "yes")
setattr(m.ones(2), "requires_grad", None)
setattr(m.ones(2), "requires_grad", 1)
setattr(m.ones(2), "requires_grad", np.bool_(True))
setattr(m.ones(2, requires_grad=True), "requires_grad", m.tensor(True))
m.ones(2).requires_grad_("yes")
m.ones(2).requires_grad_(None)
m.ones(2).requires_grad_(1)
m.ones(2).requires_grad_(np.bool_(True))
setattr(m.ones(2), "grad", m.ones(3))
setattr(m.ones(2,3), "grad", m.ones(3,2))
setattr(m.ones(2,3), "grad", m.ones(6))
setattr(m.ones(2), "grad", m.ones(2, dtype=m.float64))
setattr(m.ones(2), "grad", m.ones(2, dtype=m.int64))
setattr(m.ones(2), "grad", m.ones(2, dtype=m.int32))
setattr(m.ones(2), "grad", m.ones(2, dtype=m.int16))
setattr(m.ones(2), "grad", m.ones(2, dtype=m.int8))
setattr(m.ones(2), "grad", m.ones(2, dtype=m.uint8))
setattr(m.ones(2), "grad", m.ones(2, dtype=m.bool))
setattr(m.ones(2), "grad", m.ones(2, dtype=m.float16))
setattr(m.ones(2), "grad", m.ones(2, dtype=m.complex64))
setattr(m.ones(2), "grad", m.ones(2, dtype=m.complex128))
setattr(m.ones(2, dtype=m.float64), "grad", m.ones(2))
setattr(m.ones(2, dtype=m.int64), "grad", m.ones(2, dtype=m.int64))
setattr(m.ones(2), "grad", 3)
setattr(m.ones(2), "grad", np.ones(2))
setattr(m.ones(2), "grad", m.Size([2]))
setattr(m.ones(2), "grad", [1.0, 2.0])
setattr(m.ones(2), "grad", None)
m.ones(2).is_leaf
(m.ones(2, requires_grad=True)*2).is_leaf
(m.ones(2)*2).is_leaf
m.ones(2).grad_fn
(m.ones(2, requires_grad=True)*2).grad_fn.name()
(m.ones(2, requires_grad=True)*2).grad
m.ones(2, requires_grad=True).grad
m.ones(2, requires_grad=True).data
(m.ones(2, requires_grad=True)*2).data
(m.ones(2, requires_grad=True)*2).data.requires_grad
m.ones(2, requires_grad=True).detach().requires_grad
m.ones(2, requires_grad=True).detach().is_leaf
(m.ones(2, requires_grad=True)*2).detach().grad_fn
(m.ones(2, requires_grad=True)*2).detach_()
m.ones(2, requires_grad=True).detach_()
m.ones(2, requires_grad=True).view(2).detach_()
(lambda t: (t.detach_(), t.requires_grad, t.is_leaf, t.grad_fn))(m.ones(2, requires_grad=True)*2)
(lambda t: t.detach_() is t)(m.ones(2))
(lambda t: (setattr(t, "data", m.zeros(3)), t.shape, t.grad_fn.name()))(m.ones(2) * 2 + X)
(lambda t: (setattr(t, "data", m.zeros(2, dtype=m.float64)), t.dtype, t.requires_grad))(X)
(lambda t: (setattr(t, "data", m.zeros(2, dtype=m.int64)), t.dtype))(m.ones(2))
(lambda t: setattr(t, "data", m.zeros(2, dtype=m.int64)))(m.ones(2, requires_grad=True))
(lambda t: setattr(t, "data", 3))(m.ones(2))
(lambda t: (t.data, t.data is t.data))(m.ones(2))
m.ones(2, requires_grad=True).clone()
m.ones(2).clone()
m.ones(2, 3, requires_grad=True).t().contiguous()
m.ones(2, requires_grad=True).contiguous()
"""


@needs_torch
@pytest.mark.parametrize("src", [s for s in AUTOGRAD_STATE.strip().splitlines()])
def test_autograd_state_like_torch(src):
    same(src)


def test_requires_grad_messages_without_torch():
    with pytest.raises(RuntimeError, match="^only Tensors of floating point and complex dtype "
                                           "can require gradients$"):
        tapegrad.tensor([1, 2]).requires_grad = True
    with pytest.raises(RuntimeError, match="^only Tensors of floating point dtype can require "
                                           "gradients$"):
        tapegrad.tensor([1, 2]).requires_grad_()
    y = tapegrad.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf "
                                           "variables. If you want to use a computed variable"):
        y.requires_grad_(False)


def test_data_and_detach_sharing_and_versions():
    x = tapegrad.ones(3, requires_grad=True)
    d = x.data
    with tapegrad.no_grad():
        d.add_(1)
    assert x.tolist() == [2.0, 2.0, 2.0]
    assert (d._version, x._version) == (1, 0)  # .data does not share the version counter
    det = x.detach()
    det.add_(1)
    assert (det._version, x._version) == (1, 1)  # detach() does
    assert x.tolist() == [3.0, 3.0, 3.0]


def test_detach_in_place_of_a_view_refused():
    x = tapegrad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="Can't detach views in-place. Use detach\\(\\) "
                                           "instead."):
        x.view(2).detach_()


# --- dtype conversions --------------------------------------------------------------------------
TO = """
m.ones(2).to(m.float64)
m.ones(2).to(m.float32)
m.ones(2, requires_grad=True).to(m.float64)
m.ones(2, requires_grad=True).to(m.float32, copy=True)
m.ones(2, requires_grad=True).to(m.int64)
m.ones(2, requires_grad=True).to(m.int64).requires_grad
m.ones(2, requires_grad=True).to(m.complex64)
m.ones(2, requires_grad=True, dtype=m.complex64).to(m.float32)
m.ones(2, requires_grad=True).to(m.float16)
m.ones(2, requires_grad=True).to(m.bool)
m.ones(2, requires_grad=True).double()
m.ones(2, requires_grad=True).half()
m.ones(2, requires_grad=True).long()
m.ones(2, requires_grad=True).int()
m.ones(2, requires_grad=True).short()
m.ones(2, requires_grad=True).char()
m.ones(2, requires_grad=True).byte()
m.ones(2, requires_grad=True).bool()
m.ones(2, requires_grad=True).float()
m.ones(2, requires_grad=True).cfloat()
m.ones(2, requires_grad=True).cdouble()
m.ones(2).to("cpu")
m.ones(2).to("cpu", m.float64)
m.ones(2).to("cpu", dtype=m.float64)
m.ones(2).to(device="cpu", dtype=m.float64)
m.ones(2).to(dtype=m.float64, device="cpu", copy=False)
m.ones(2).to(m.ones(2, dtype=m.float64))
m.ones(2).to(m.ones(1, dtype=m.int64), non_blocking=True)
m.ones(2).to(m.float64, non_blocking=True)
m.ones(2).to(m.float64, copy=True, non_blocking=False)
m.ones(2).to(dtype=m.float64, copy=True)
m.ones(2).to(m.device("cpu"))
m.ones(2).to(m.ones(2).device)
m.ones(2).to(memory_format=m.contiguous_format)
m.ones(2).to()
m.ones(2).to(m.float64, m.float32)
m.ones(2).to(foo=1)
m.ones(2).to("cuda")
m.ones(2).to(3)
m.tensor(1e300, dtype=m.float64).float()
m.tensor(float("nan")).long()
(lambda t: t.to(m.float32) is t)(m.ones(2))
(lambda t: t.to(m.float32, copy=True) is t)(m.ones(2))
(lambda t: t.to("cpu") is t)(m.ones(2))
(lambda t: t.float() is t)(m.ones(2))
(lambda t: t.double() is t)(m.ones(2, dtype=m.float64))
(lambda t: t.cpu() is t)(m.ones(2))
(lambda t: t.contiguous() is t)(m.ones(2))
(lambda t: t.type(m.float32) is t)(m.ones(2))
m.ones(2).type()
m.ones(2, dtype=m.int64).type()
m.ones(2, dtype=m.complex64).type()
m.ones(2).type(m.float64)
m.ones(2).type(dtype=m.float64)
m.ones(2).type("torch.DoubleTensor")
m.ones(2).type("torch.FooTensor")
m.ones(2).type("float64")
m.ones(2).type(m.DoubleTensor)
m.ones(2).type(m.LongTensor)
m.ones(2, requires_grad=True).type(m.float64)
m.ones(2).type_as(m.ones(2, dtype=m.int32))
m.ones(2).cuda()
"""


@needs_torch
@pytest.mark.parametrize("src", [s for s in TO.strip().splitlines()])
def test_to_and_type_like_torch(src):
    same(src)


@needs_torch
@pytest.mark.parametrize("chain", [
    ("double", "float"), ("float", "double"), ("half", "float"), ("double", "half", "double"),
    ("cdouble", "double"),
])
def test_dtype_round_trip_gradients_like_torch(chain):
    """float32 -> float64 -> back: ToCopyBackward0 nodes, and each gradient in its input's
    dtype."""
    def prog(m):
        x = m.tensor([0.5, -1.5, 2.0], requires_grad=True)
        y = x
        names = []
        for c in chain:
            y = getattr(y, c)()
            names.append(y.grad_fn.name() if y.grad_fn is not None else None)
        out = (y.real if y.is_complex() else y) * m.tensor([1.0, 2.0, 3.0], dtype=y.real.dtype
                                                           if y.is_complex() else y.dtype)
        out.sum().backward()
        return names, x.grad.dtype, x.grad.tolist()
    a, b = prog(tapegrad), prog(torch)
    assert a[0] == b[0]
    assert str(a[1]) == str(b[1]).replace("torch", "tapegrad")
    np.testing.assert_allclose(a[2], b[2], rtol=1e-3)


def test_to_gradient_float64_numeric():
    x = tapegrad.tensor([0.3, -1.2], dtype=tapegrad.float64, requires_grad=True)
    (x.float().double() ** 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy(), rtol=1e-6)
    assert x.grad.dtype is tapegrad.float64


# --- new_* --------------------------------------------------------------------------------------
NEW = """
m.ones(2).new_zeros(3)
m.ones(2).new_zeros((3, 2))
m.ones(2).new_zeros([3, 2])
m.ones(2).new_zeros(m.Size([2, 1]))
m.ones(2).new_zeros(size=(2,))
m.ones(2, dtype=m.int32).new_ones(3)
m.ones(2).new_ones(2, 3).shape
m.ones(2).new_ones((2, 3)).shape
m.ones(2).new_ones()
m.ones(2).new_full((2,), 3)
m.ones(2).new_full([2], 3)
m.ones(2).new_full(2, 3)
m.ones(2, dtype=m.int64).new_full((2,), 3.7)
m.ones(2).new_full((2,), True)
m.ones(2).new_full((2,), m.tensor(2.))
m.ones(2, dtype=m.uint8).new_full((2,), 300)
m.ones(2).new_tensor([1, 2])
m.ones(2, dtype=m.float64).new_tensor([1, 2])
m.ones(2, dtype=m.float64).new_tensor(np.array([1, 2]))
m.ones(2, dtype=m.float64).new_tensor(m.tensor([1, 2]))
m.ones(2, dtype=m.int64).new_tensor([1.5, 2.7])
m.ones(2, dtype=m.int64).new_tensor([True])
m.ones(2).new_tensor([1+1j])
m.ones(2).new_tensor(3)
m.ones(2).new_tensor(3.5, dtype=m.float64)
m.ones(2).new_tensor([1, 2], requires_grad=True)
m.ones(2).new_tensor([1, 2], dtype=m.int64, requires_grad=True)
m.ones(2, requires_grad=True).new_tensor([1.])
m.ones(2).new_empty(2).shape
m.ones(2).new_empty((2, 3)).shape
m.ones(2).new_empty(2, 3, dtype=m.int64).dtype
m.ones(2).new_zeros(3, requires_grad=True)
m.ones(2, requires_grad=True).new_ones(3)
m.ones(2).new_zeros(3, dtype=m.int64, requires_grad=True)
m.ones(2).new_zeros(-1)
m.ones(2).new_zeros(2.5)
m.ones(2).new_zeros("a")
m.ones(2).new(2, 3).shape
m.ones(2, dtype=m.int64).new([1.5])
m.ones(2).new()
"""


@needs_torch
@pytest.mark.parametrize("src", [s for s in NEW.strip().splitlines()])
def test_new_methods_like_torch(src):
    same(src)


# --- devices --------------------------------------------------------------------------------------
DEVICES = """
m.device("cpu")
m.device("cuda")
m.device("cuda:1")
m.device("cpu", 0)
m.device("cpu:0")
m.device("cuda", 1)
m.device("meta")
m.device("foo")
m.device("CPU")
m.device("cpu:x")
m.device("cpu", -1)
m.device("cuda:1", 2)
m.device(0)
m.device(1.5)
m.device(m.device("cpu"))
m.device("cpu") == "cpu"
m.device("cpu:0") == m.device("cpu")
m.device("cpu") == m.device("cpu")
hash(m.device("cpu")) == hash(m.device("cpu"))
str(m.device("cpu:0"))
m.device("cpu").index
m.device("cuda:2").type
pickle.loads(pickle.dumps(m.device("cpu")))
m.ones(2, device="cuda")
m.ones(2, device="cpu:0").device
m.ones(2, device=m.device("cpu"))
m.zeros(2, device="foo")
m.tensor([1.], device="cuda")
m.strided
m.contiguous_format
m.preserve_format
"""


@needs_torch
@pytest.mark.parametrize("src", [s for s in DEVICES.strip().splitlines()])
def test_devices_like_torch(src):
    same(src)


# --- the legacy constructors and types ------------------------------------------------------------
LEGACY = """
m.Tensor(2, 3).shape
m.Tensor([1, 2])
m.Tensor((2, 3))
m.Tensor(m.Size([2, 3])).shape
m.Tensor(m.Size([0]))
m.Tensor()
m.Tensor([])
m.Tensor([[1, 2]])
m.Tensor((1, 2.5))
m.Tensor(np.array([1, 2]))
m.Tensor(np.array(2.5))
m.Tensor(m.tensor([1, 2]))
m.Tensor(m.tensor(3))
m.Tensor(m.ones(2, requires_grad=True))
m.Tensor([m.tensor(1.), m.tensor(2.)])
m.Tensor(np.array([1, 2], dtype=np.int64)).dtype
m.Tensor(range(3))
m.Tensor(2.5)
m.Tensor(True)
m.Tensor(None)
m.Tensor(np.float64(2.5))
m.Tensor("ab")
m.Tensor([True])
m.Tensor(0)
m.Tensor(-1)
m.Tensor(2, 3.5)
m.Tensor(np.int64(2), 3).shape
m.Tensor(m.tensor(3), 2).shape
m.Tensor([1+2j])
m.Tensor([[1], [2, 3]])
m.Tensor([300])
m.Tensor(2, 3, device="cpu").shape
m.Tensor(2, 3, device="cuda")
m.Tensor(device="cpu")
m.Tensor([1,2]).dtype
m.FloatTensor([1, 2])
m.DoubleTensor(2, 3).shape
m.LongTensor([1.5])
m.LongTensor([2**63])
m.ByteTensor([1, 2])
m.ByteTensor([300])
m.ByteTensor([-1])
m.CharTensor([1])
m.ShortTensor([1])
m.IntTensor([1])
m.HalfTensor([1])
m.BoolTensor([2, 0.5])
m.FloatTensor([1+1j])
m.FloatTensor()
m.FloatTensor(m.tensor([1., 2]))
m.FloatTensor(m.ones(2, dtype=m.float64))
m.LongTensor(m.ones(2))
m.DoubleTensor(m.ones(2, dtype=m.float64))
m.LongTensor(np.array([1.7]))
m.FloatTensor
m.FloatTensor.dtype
m.LongTensor.dtype
m.FloatTensor.is_cuda
m.FloatTensor.__name__
m.FloatTensor.__module__
isinstance(m.ones(2), m.FloatTensor)
isinstance(m.ones(2), m.DoubleTensor)
isinstance(m.ones(2, dtype=m.int64), m.LongTensor)
isinstance(m.ones(2), m.HalfTensor)
isinstance(3, m.FloatTensor)
isinstance(m.FloatTensor([1.]), m.Tensor)
repr(type(m.FloatTensor([1.])))
issubclass(m.FloatTensor, m.Tensor)
"""


@needs_torch
@pytest.mark.parametrize("src", [s for s in LEGACY.strip().splitlines()])
def test_legacy_constructors_like_torch(src):
    same(src)


def test_legacy_tensor_alias_shares_storage():
    x = tapegrad.tensor([1.0, 2.0])
    y = tapegrad.Tensor(x)
    assert y is not x
    y.add_(1)
    assert x.tolist() == [2.0, 3.0] and x._version == 1
    z = tapegrad.Tensor(2, 3)
    assert z.shape == (2, 3) and z.dtype is tapegrad.float32


# --- copies, pickling, identity -------------------------------------------------------------------
def _copies(m):
    out = []
    a = m.ones(2, requires_grad=True)
    a.grad = m.full((2,), 3.)
    b = copy.deepcopy(a)
    out.append((b.requires_grad, b.is_leaf, b.grad.tolist(), b is a, b.grad is a.grad))
    out.append(copy.deepcopy(m.ones(2) * 2).tolist())
    try:
        copy.deepcopy(a * 2)
    except RuntimeError as e:
        out.append(_norm(str(e)))
    base = m.ones(4)
    pair = copy.deepcopy([base, base.view(2, 2)])
    pair[0].add_(1)
    out.append(pair[1].tolist())  # views stay views of one another
    out.append(base.tolist())  # the original is untouched
    s = pickle.loads(pickle.dumps(a))
    out.append((s.tolist(), s.requires_grad, s.grad))
    s = pickle.loads(pickle.dumps(m.ones(2, dtype=m.int64)))
    out.append((s.tolist(), str(s.dtype).split(".")[-1]))
    cc = copy.copy(a)
    out.append((cc is a, cc.requires_grad))
    return out


@needs_torch
def test_deepcopy_and_pickle_like_torch():
    assert _copies(tapegrad) == _copies(torch)


def test_tensors_hash_by_identity():
    a, b = tapegrad.ones(2), tapegrad.ones(2)
    d = {a: 1, b: 2}
    assert d[a] == 1 and d[b] == 2 and len({a, b}) == 2
    assert hash(a) == id(a)
    assert (a == b).tolist() == [True, True]  # == compares values, elementwise


# --- NumPy operands -------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("src", [
    "m.ones(3) * np.ones(3)",
    "m.ones(3) + np.ones(3)",
    "m.tensor([1,2,3]) + np.ones(3)",
    "m.ones(3) - np.ones(3)",
    "m.tensor(1.) + np.ones(2)",
    "m.tensor([1,2]) + np.array(2.5)",
    "np.ones(3) / m.ones(3)",
    "m.ones(2) * np.ones((2, 1))",
    "np.float64(2.0) * m.ones(3)",
    "m.ones(3) * np.float64(2.0)",
    "np.int64(2) * m.ones(3)",
    "m.tensor([1,2]) * np.float64(2.5)",
])
def test_numpy_operands_give_torch_dtype(src):
    """tensor (op) ndarray gives a tensor of PyTorch's result dtype."""
    a = eval(src, {"m": tapegrad, "np": np})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PyTorch's old __array_wrap__
        b = eval(src, {"m": torch, "np": np})
    assert isinstance(a, tapegrad.Tensor)
    assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]
    np.testing.assert_allclose(a.numpy(), b.numpy())


def test_ndarray_on_the_left_defers_to_tensor():
    """__array_priority__: NumPy hands `ndarray (op) tensor` to the tensor, which returns a
    tensor (PyTorch raises TypeError for most of these operators; tapegrad computes them)."""
    for r in (np.ones(3) * tapegrad.ones(3), np.ones(3) + tapegrad.ones(3),
              np.ones(3) - tapegrad.ones(3), np.ones(3) / tapegrad.ones(3)):
        assert isinstance(r, tapegrad.Tensor) and r.dtype is tapegrad.float64
    assert tapegrad.Tensor.__array_priority__ == 1000


def test_size_is_fast_and_shared_by_threads():
    x = tapegrad.ones(2, 3)
    sizes = []
    th = threading.Thread(target=lambda: sizes.append(x.shape))
    th.start()
    th.join()
    assert sizes == [tapegrad.Size([2, 3])]


def test_complex_to_real_cast_warns_once_per_process():
    from tapegrad.ops import convert

    convert._warned_complex_cast = False
    z = tapegrad.ones(2, dtype=tapegrad.complex64)
    with pytest.warns(UserWarning, match="^Casting complex values to real discards the "
                                         "imaginary part$"):
        r = z.to(tapegrad.float32)
    assert r.dtype is tapegrad.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z.to(tapegrad.float32)  # the second time: silent, as PyTorch

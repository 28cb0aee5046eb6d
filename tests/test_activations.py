"""Activation functions beyond the op table (tests/op_db/activation.py): values and gradients
exactly at the kinks, nan and infinities, double backward node names and zeros, in-place use,
integer / bool / float16 inputs, argument errors, rrelu's training mode, the erf behind gelu,
and the public names. Each comparison is with torch.nn.functional where torch is installed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tapegrad
from _helpers import dtype_name, to_numpy
from tapegrad.ops import _erf, activation

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # pragma: no cover - the torch comparisons skip
    torch = TF = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

INF, NAN = math.inf, math.nan


def _f(m, name):
    """torch.nn.functional's function, or tapegrad's activation op of that name."""
    return getattr(activation, name) if m is tapegrad else getattr(m.nn.functional, name)


def _tensor(m, values, dtype, requires_grad=False):
    return m.tensor(values, dtype=getattr(m, dtype), requires_grad=requires_grad)


def _close(a, b, dtype, what):
    tol = dict(rtol=1e-6, atol=1e-7) if dtype != "float64" else dict(rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a, b, equal_nan=True, err_msg=what, **tol)


# --- values and gradients at the kinks --------------------------------------------------------
# (name, call(m, x), values, compare the gradient at nan). Every kink of each function is
# among the values. PyTorch's own gradient at nan differs between its vectorised and scalar
# loops for the clamp- and mask-based ones (float32 against float64 here), so it is not compared
# there.
KINKS = [
    ("relu6", lambda m, x: _f(m, "relu6")(x), [-1.0, 0.0, 3.0, 6.0, 7.0, NAN, INF, -INF], False),
    ("hardtanh", lambda m, x: _f(m, "hardtanh")(x, -0.5, 0.5),
     [-1.0, -0.5, 0.0, 0.5, 1.0, NAN, INF, -INF], False),
    ("leaky_relu", lambda m, x: _f(m, "leaky_relu")(x, 0.2), [-1.0, 0.0, 1.0, NAN, INF, -INF],
     True),
    ("leaky_relu_negative", lambda m, x: _f(m, "leaky_relu")(x, -0.2), [-1.0, 0.0, 1.0], True),
    ("rrelu_eval", lambda m, x: _f(m, "rrelu")(x, 0.1, 0.3), [-1.0, 0.0, 1.0, NAN, -INF], True),
    ("elu", lambda m, x: _f(m, "elu")(x), [-1.0, 0.0, 1.0, NAN, INF, -INF, -1e-20], True),
    ("elu_negative_alpha", lambda m, x: _f(m, "elu")(x, -1.0), [-1.0, 0.0, 1.0], True),
    ("selu", lambda m, x: _f(m, "selu")(x), [-1.0, 0.0, 1.0, NAN, INF, -INF], True),
    ("celu", lambda m, x: _f(m, "celu")(x, 2.0), [-1.0, 0.0, 1.0, NAN, INF, -INF], True),
    ("gelu", lambda m, x: _f(m, "gelu")(x),
     [-1000.0, -10.0, -1.0, 0.0, 1e-30, 1.0, 10.0, 1000.0, NAN], True),
    ("gelu_tanh", lambda m, x: _f(m, "gelu")(x, approximate="tanh"),
     [-1000.0, -10.0, -1.0, 0.0, 1.0, 10.0, 1000.0, NAN, INF, -INF], True),
    ("silu", lambda m, x: _f(m, "silu")(x), [-1000.0, -1.0, 0.0, 1.0, 1000.0, NAN, INF, -INF],
     True),
    ("mish", lambda m, x: _f(m, "mish")(x), [-1000.0, -1.0, 0.0, 1.0, 1000.0, NAN, INF, -INF],
     True),
    ("softplus", lambda m, x: _f(m, "softplus")(x),
     [-1000.0, -1.0, 0.0, 19.9, 20.0, 20.1, 1000.0, NAN, INF, -INF], True),
    ("softplus_beta_threshold", lambda m, x: _f(m, "softplus")(x, 2.0, 3.0),
     [-100.0, -1.0, 1.49, 1.5, 1.51, 2.0, 100.0], True),
    ("softsign", lambda m, x: _f(m, "softsign")(x), [-1.0, 0.0, 1.0, NAN, INF, -INF], True),
    ("hardsigmoid", lambda m, x: _f(m, "hardsigmoid")(x),
     [-4.0, -3.0, 0.0, 3.0, 4.0, NAN, INF, -INF], True),
    ("hardswish", lambda m, x: _f(m, "hardswish")(x),
     [-4.0, -3.0, 0.0, 3.0, 4.0, NAN, INF, -INF], True),
    ("logsigmoid", lambda m, x: _f(m, "logsigmoid")(x),
     [-1000.0, -1.0, 0.0, 1.0, 1000.0, NAN, INF, -INF], True),
    ("threshold", lambda m, x: _f(m, "threshold")(x, 0.5, -2.0),
     [0.0, 0.5, 1.0, NAN, INF, -INF], True),
    ("tanhshrink", lambda m, x: _f(m, "tanhshrink")(x), [-1.0, 0.0, 1.0, NAN, INF, -INF], True),
    ("softshrink", lambda m, x: _f(m, "softshrink")(x),
     [-1.0, -0.5, 0.0, 0.5, 1.0, NAN, INF, -INF], False),
    ("hardshrink", lambda m, x: _f(m, "hardshrink")(x),
     [-1.0, -0.5, 0.0, 0.5, 1.0, NAN, INF, -INF], False),
    ("prelu", lambda m, x: _f(m, "prelu")(x, _tensor(m, [0.25], dtype_name(x.dtype))),
     [-1.0, 0.0, 1.0, NAN, INF, -INF], True),
]


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,call,values,nan_grad", KINKS, ids=[k[0] for k in KINKS])
def test_values_and_gradients_at_kinks(name, call, values, nan_grad, dtype):
    xa = _tensor(tapegrad, values, dtype, True)
    xb = _tensor(torch, values, dtype, True)
    ya, yb = call(tapegrad, xa), call(torch, xb)
    assert ya.grad_fn.name() == yb.grad_fn.name()
    _close(to_numpy(ya), to_numpy(yb), dtype, f"{name} values")
    (ga,) = tapegrad.autograd.grad(ya.sum(), xa)
    (gb,) = torch.autograd.grad(yb.sum(), xb)
    ga, gb = to_numpy(ga), to_numpy(gb)
    keep = np.ones(len(values), bool) if nan_grad else ~np.isnan(np.array(values))
    _close(ga[keep], gb[keep], dtype, f"{name} gradients")


@needs_torch
def test_gelu_at_infinity_in_float64():
    # float64 only: PyTorch's float32 kernel answers nan for gelu(inf); the limit is inf
    x = [INF, -INF]
    ya = _f(tapegrad, "gelu")(_tensor(tapegrad, x, "float64"))
    yb = _f(torch, "gelu")(_tensor(torch, x, "float64"))
    np.testing.assert_array_equal(to_numpy(ya), to_numpy(yb))


def test_hardsigmoid_gradient_uses_pytorchs_float_one_sixth():
    x = tapegrad.tensor([0.0], dtype=tapegrad.float64, requires_grad=True)
    (g,) = tapegrad.autograd.grad(activation.hardsigmoid(x).sum(), x)
    assert g.item() == 0.1666666716337204  # float(1.0f / 6), what PyTorch returns


# --- second derivatives -----------------------------------------------------------------------
SECOND = [
    ("gelu", lambda m, x: _f(m, "gelu")(x)),
    ("gelu_tanh", lambda m, x: _f(m, "gelu")(x, approximate="tanh")),
    ("softplus", lambda m, x: _f(m, "softplus")(x, 2.0, 3.0)),
    ("elu", lambda m, x: _f(m, "elu")(x, 0.5)),
    ("selu", lambda m, x: _f(m, "selu")(x)),
    ("celu", lambda m, x: _f(m, "celu")(x, 2.0)),
    ("leaky_relu", lambda m, x: _f(m, "leaky_relu")(x, 0.2)),
    ("hardtanh", lambda m, x: _f(m, "hardtanh")(x)),
    ("relu6", lambda m, x: _f(m, "relu6")(x)),
    ("hardswish", lambda m, x: _f(m, "hardswish")(x)),
    ("logsigmoid", lambda m, x: _f(m, "logsigmoid")(x)),
    ("threshold", lambda m, x: _f(m, "threshold")(x, 0.5, 2.0)),
    ("softshrink", lambda m, x: _f(m, "softshrink")(x)),
    ("hardshrink", lambda m, x: _f(m, "hardshrink")(x)),
    ("rrelu_eval", lambda m, x: _f(m, "rrelu")(x)),
    ("glu", lambda m, x: _f(m, "glu")(x)),
    ("silu", lambda m, x: _f(m, "silu")(x)),
    ("mish", lambda m, x: _f(m, "mish")(x)),
]
# the kinks of all of them, and ordinary points
_POINTS = [-3.5, -3.0, -1.0, -0.5, -0.2, 0.0, 0.3, 0.5, 1.0, 1.5, 2.0, 3.0, 6.0, 7.0]
# PyTorch's silu and mish backward are composites (the first-order gradient's grad_fn is
# MulBackward0); tapegrad's are one fused op each (SiluBackwardBackward0, ...).
_FUSED_HERE_ONLY = {"silu", "mish"}


@needs_torch
@pytest.mark.parametrize("name,call", SECOND, ids=[s[0] for s in SECOND])
def test_second_derivatives_and_their_nodes(name, call):
    v = np.linspace(-1.0, 1.0, len(_POINTS))
    w = np.cos(np.arange(len(_POINTS)))
    res = []
    for m in (tapegrad, torch):
        x = _tensor(m, _POINTS, "float64", True)
        y = call(m, x)
        (g,) = m.autograd.grad(y, x, _tensor(m, v[: y.shape[0]], "float64"), create_graph=True)
        (gg,) = m.autograd.grad(g, x, _tensor(m, w, "float64"))
        res.append((g.grad_fn.name(), to_numpy(g), to_numpy(gg)))
    (na, ga, gga), (nb, gb, ggb) = res
    if name not in _FUSED_HERE_ONLY:
        assert na == nb
    _close(ga, gb, "float64", "first derivative")
    np.testing.assert_allclose(gga, ggb, rtol=1e-10, atol=1e-12, err_msg="second derivative")


@pytest.mark.parametrize("name", ["hardtanh", "leaky_relu", "threshold", "hardsigmoid"])
def test_piecewise_linear_double_backward_gives_zeros(name):
    calls = {"threshold": lambda x: activation.threshold(x, 0.1, 2.0)}
    fn = calls.get(name, getattr(activation, name))
    x = tapegrad.tensor([-4.0, -0.5, 0.05, 0.5, 2.0], dtype=tapegrad.float64, requires_grad=True)
    v = tapegrad.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=tapegrad.float64, requires_grad=True)
    (g,) = tapegrad.autograd.grad(fn(x), x, v, create_graph=True)
    gx, gv = tapegrad.autograd.grad(g.sum(), [x, v])
    assert gx is not None and np.array_equal(to_numpy(gx), np.zeros(5))  # a tensor, as torch
    # g is linear in v: d/dv sum(g) = f'(x)
    np.testing.assert_allclose(to_numpy(gv), to_numpy(g) / to_numpy(v))


# --- in-place ---------------------------------------------------------------------------------
INPLACE = [
    ("relu6", lambda m, x: _f(m, "relu6")(x, inplace=True)),
    ("hardtanh", lambda m, x: _f(m, "hardtanh")(x, -0.5, 0.5, inplace=True)),
    ("leaky_relu", lambda m, x: _f(m, "leaky_relu")(x, 0.2, inplace=True)),
    ("elu", lambda m, x: _f(m, "elu")(x, 0.5, inplace=True)),
    ("selu", lambda m, x: _f(m, "selu")(x, inplace=True)),
    ("celu", lambda m, x: _f(m, "celu")(x, 2.0, inplace=True)),
    ("silu", lambda m, x: _f(m, "silu")(x, inplace=True)),
    ("mish", lambda m, x: _f(m, "mish")(x, inplace=True)),
    ("hardsigmoid", lambda m, x: _f(m, "hardsigmoid")(x, inplace=True)),
    ("hardswish", lambda m, x: _f(m, "hardswish")(x, inplace=True)),
    ("threshold", lambda m, x: _f(m, "threshold")(x, 0.1, 2.0, inplace=True)),
    ("rrelu", lambda m, x: _f(m, "rrelu")(x, 0.1, 0.3, inplace=True)),
    ("elu_", lambda m, x: _f(m, "elu_")(x, 0.5)),
    ("leaky_relu_", lambda m, x: _f(m, "leaky_relu_")(x, 0.2)),
    ("hardtanh_", lambda m, x: _f(m, "hardtanh_")(x, -0.5, 0.5)),
    ("threshold_", lambda m, x: _f(m, "threshold_")(x, 0.1, 2.0)),
    ("celu_", lambda m, x: _f(m, "celu_")(x, 2.0)),
    ("selu_", lambda m, x: _f(m, "selu_")(x)),
    ("rrelu_", lambda m, x: _f(m, "rrelu_")(x, 0.1, 0.3)),
    ("relu_", lambda m, x: _f(m, "relu_")(x)),
    ("torch.selu_", lambda m, x: m.selu_(x)),
    ("torch.celu_", lambda m, x: m.celu_(x, 2.0)),
    ("torch.threshold_", lambda m, x: m.threshold_(x, 0.1, 2.0)),
    ("torch.rrelu_", lambda m, x: m.rrelu_(x)),
    ("torch.relu_", lambda m, x: m.relu_(x)),
]
_IN = [-2.0, -0.5, 0.0, 0.05, 0.5, 3.0]


@needs_torch
@pytest.mark.parametrize("name,call", INPLACE, ids=[c[0] for c in INPLACE])
def test_inplace_writes_into_the_input(name, call):
    for dtype in ("float32", "float64"):
        xa, xb = _tensor(tapegrad, _IN, dtype), _tensor(torch, _IN, dtype)
        ya, yb = call(tapegrad, xa), call(torch, xb)
        assert ya is xa and yb is xb
        assert xa._version == xb._version == 1
        _close(to_numpy(xa), to_numpy(xb), dtype, name)


@needs_torch
@pytest.mark.parametrize("name,call", INPLACE, ids=[c[0] for c in INPLACE])
def test_inplace_on_a_leaf_that_requires_grad(name, call):
    msgs = []
    for m in (tapegrad, torch):
        x = _tensor(m, _IN, "float32", True)
        with pytest.raises(RuntimeError) as e:
            call(m, x)
        msgs.append(str(e.value))
        with m.no_grad():  # allowed outside grad mode, in both
            assert call(m, x) is x and x.requires_grad
    assert msgs[0] == msgs[1]


@needs_torch
@pytest.mark.parametrize("name,call", INPLACE, ids=[c[0] for c in INPLACE])
def test_inplace_on_a_graph_tensor_is_recorded(name, call):
    # PyTorch records these (EluBackward1, ...): same node, values and gradients
    out = []
    for m in (tapegrad, torch):
        x = _tensor(m, _IN, "float64", True)
        y = x * 1.0
        call(m, y)
        w = m.arange(1.0, y.numel() + 1, dtype=m.float64).reshape(y.shape)
        (g,) = m.autograd.grad((y * w).sum(), x)
        out.append((type(y.grad_fn).__name__, to_numpy(y.detach()), to_numpy(g)))
    assert out[0][0] == out[1][0]
    _close(out[0][1], out[1][1], "float64", name)
    _close(out[0][2], out[1][2], "float64", name + " grad")


@needs_torch
def test_inplace_through_a_view_and_on_integers():
    ba, bb = tapegrad.tensor([-1.0, -2.0, 3.0]), torch.tensor([-1.0, -2.0, 3.0])
    _f(tapegrad, "elu")(ba[1:], inplace=True)
    _f(torch, "elu")(bb[1:], inplace=True)
    _close(to_numpy(ba), to_numpy(bb), "float32", "base of the view")
    for call in (lambda m, x: _f(m, "relu6")(x, inplace=True),
                 lambda m, x: _f(m, "hardtanh")(x, -1.5, 1.5, inplace=True),
                 lambda m, x: _f(m, "threshold")(x, 2, 0, inplace=True)):
        xa, xb = tapegrad.tensor([-1, 3, 9]), torch.tensor([-1, 3, 9])
        assert call(tapegrad, xa) is xa
        call(torch, xb)
        assert xa.dtype == tapegrad.int64 and to_numpy(xa).tolist() == xb.tolist()


# --- dtypes -----------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("call", [
    lambda m, x: _f(m, "relu6")(x),
    lambda m, x: _f(m, "hardtanh")(x, -0.5, 0.5),
    lambda m, x: _f(m, "hardtanh")(x, -1.5, 1.5),
    lambda m, x: _f(m, "threshold")(x, -0.5, 7),
    lambda m, x: _f(m, "threshold")(x, 0.5, 5.5),
    lambda m, x: m.threshold(x, 1, 7),
    lambda m, x: _f(m, "softsign")(x),
    lambda m, x: _f(m, "tanhshrink")(x),
], ids=["relu6", "hardtanh_half", "hardtanh", "threshold_neg", "threshold", "torch.threshold",
        "softsign", "tanhshrink"])
def test_integer_inputs(call):
    xa, xb = tapegrad.tensor([-2, -1, 0, 1, 2, 9]), torch.tensor([-2, -1, 0, 1, 2, 9])
    ya, yb = call(tapegrad, xa), call(torch, xb)
    assert dtype_name(ya.dtype) == dtype_name(yb.dtype)
    np.testing.assert_allclose(to_numpy(ya), yb.numpy(), rtol=1e-6)


@needs_torch
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32"])
def test_small_integer_dtypes(dtype):
    v = [0, 1, 2, 9, 100]
    for call in (lambda m, x: _f(m, "relu6")(x), lambda m, x: _f(m, "hardtanh")(x, 0.5, 2.5),
                 lambda m, x: _f(m, "threshold")(x, 1, 7)):
        ya, yb = call(tapegrad, _tensor(tapegrad, v, dtype)), call(torch, _tensor(torch, v, dtype))
        assert dtype_name(ya.dtype) == dtype_name(yb.dtype) == dtype
        assert to_numpy(ya).tolist() == yb.tolist()


HALF = ["relu6", "hardtanh", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish",
        "softplus", "softsign", "hardsigmoid", "hardswish", "logsigmoid", "tanhshrink",
        "softshrink", "hardshrink", "rrelu", "glu"]


@needs_torch
@pytest.mark.parametrize("name", HALF)
def test_float16(name):
    v = np.linspace(-4.0, 4.0, 10)
    res = []
    for m in (tapegrad, torch):
        x = _tensor(m, v, "float16", True)
        y = _f(m, name)(x)
        (g,) = m.autograd.grad(y.sum(), x)
        assert dtype_name(y.dtype) == dtype_name(g.dtype) == "float16"
        res.append((to_numpy(y).astype(np.float64), to_numpy(g).astype(np.float64)))
    for a, b in zip(res[0], res[1]):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-3)


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_on_large_tensors(dtype, approximate):
    # more than _erf._SMALL elements: the vectorised erf, rather than math.erf per element
    v = np.random.default_rng(0).uniform(-8.0, 8.0, 5000)
    res = []
    for m in (tapegrad, torch):
        x = _tensor(m, v, dtype, True)
        y = _f(m, "gelu")(x, approximate=approximate)
        (g,) = m.autograd.grad(y.sum(), x)
        res.append((to_numpy(y), to_numpy(g)))
    # PyTorch computes 1 + erf(x / sqrt 2) (or 1 + tanh) in the input's precision, as we do:
    # in the left tail both lose digits to cancellation, in different ways, so the comparison
    # there is absolute, at that precision's rounding of values of size |x| <= 8
    atol = 2e-6 if dtype == "float32" else 1e-14
    for a, b in zip(res[0], res[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6 if dtype == "float32" else 1e-12, atol=atol)


@pytest.mark.parametrize("scipy", [True, False], ids=["as_installed", "numpy_only"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_erf_accuracy(dtype, scipy, monkeypatch):
    if not scipy:  # the NumPy-only evaluation, as without SciPy
        monkeypatch.setattr(_erf, "_scipy_special", False)
    x = np.concatenate([np.linspace(-7.0, 7.0, 100001), np.geomspace(1e-300, 1.0, 500),
                        -np.geomspace(1e-300, 1.0, 500), [0.0, 0.5, 6.0]]).astype(dtype)
    ref = np.array([math.erf(v) for v in x.astype(np.float64)]).astype(dtype)
    for part in (x, x[:_erf._SMALL]):  # vectorised, and per element
        got = _erf.erf_np(part)
        want = ref[: part.size]
        assert got.dtype == x.dtype
        ulps = np.abs(got.astype(np.float64) - want) / np.spacing(np.abs(want).clip(1e-300))
        # ours is within 2 ulp of libm in double; SciPy's erf differs from libm's by up to 3
        assert ulps.max() <= (1.0 if dtype == "float32" else 2.0 if not scipy else 3.0)
    for n in (1, 20):
        specials = _erf.erf_np(np.array([INF, -INF, NAN, -0.0] * n, dtype=dtype))
        assert specials[0] == 1.0 and specials[1] == -1.0 and np.isnan(specials[2])
        assert specials[3] == 0.0 and np.signbit(specials[3])


# --- errors -----------------------------------------------------------------------------------
def _int(m):
    return m.tensor([-1, 0, 2, 3])


def _bool(m):
    return m.tensor([True, False])


ERRORS = {
    "leaky_relu_int": lambda m: _f(m, "leaky_relu")(_int(m)),
    "elu_int": lambda m: _f(m, "elu")(_int(m)),
    "selu_bool": lambda m: _f(m, "selu")(_bool(m)),
    "celu_int": lambda m: _f(m, "celu")(_int(m)),
    "gelu_int": lambda m: _f(m, "gelu")(_int(m)),
    "gelu_complex": lambda m: _f(m, "gelu")(m.tensor([1j])),
    "silu_int": lambda m: _f(m, "silu")(_int(m)),
    "mish_int": lambda m: _f(m, "mish")(_int(m)),
    "softplus_int": lambda m: _f(m, "softplus")(_int(m)),
    "hardsigmoid_int": lambda m: _f(m, "hardsigmoid")(_int(m)),
    "hardswish_bool": lambda m: _f(m, "hardswish")(_bool(m)),
    "logsigmoid_int": lambda m: _f(m, "logsigmoid")(_int(m)),
    "softshrink_int": lambda m: _f(m, "softshrink")(_int(m)),
    "hardshrink_int": lambda m: _f(m, "hardshrink")(_int(m)),
    "rrelu_int": lambda m: _f(m, "rrelu")(_int(m)),
    "rrelu_training_int": lambda m: _f(m, "rrelu")(_int(m), training=True),
    "rrelu_training_half": lambda m: _f(m, "rrelu")(m.ones(2, dtype=m.float16), training=True),
    "glu_int": lambda m: _f(m, "glu")(_int(m)),
    "glu_bool": lambda m: _f(m, "glu")(_bool(m)),
    "prelu_int": lambda m: _f(m, "prelu")(_int(m), m.tensor([1])),
    "softmin_int": lambda m: _f(m, "softmin")(_int(m), 0),
    "relu6_bool": lambda m: _f(m, "relu6")(_bool(m)),
    "hardtanh_bool": lambda m: _f(m, "hardtanh")(_bool(m)),
    "threshold_bool": lambda m: _f(m, "threshold")(_bool(m), 0, 1),
    "softsign_bool": lambda m: _f(m, "softsign")(_bool(m)),
    "tanhshrink_bool": lambda m: _f(m, "tanhshrink")(_bool(m)),
    "gelu_approximate": lambda m: _f(m, "gelu")(m.ones(2), approximate="foo"),
    "gelu_approximate_none": lambda m: _f(m, "gelu")(m.ones(2), approximate=None),
    "gelu_positional": lambda m: _f(m, "gelu")(m.ones(2), "tanh"),
    "glu_scalar": lambda m: _f(m, "glu")(m.tensor(1.0)),
    "glu_odd": lambda m: _f(m, "glu")(m.ones(5)),
    "glu_odd_dim": lambda m: _f(m, "glu")(m.ones(4, 3), 1),
    "glu_dim_range": lambda m: _f(m, "glu")(m.ones(4, 6), 2),
    "glu_dim_range_neg": lambda m: _f(m, "glu")(m.ones(4, 6), -3),
    "softshrink_lambd": lambda m: _f(m, "softshrink")(m.ones(2), -1.0),
    "softshrink_lambd_double": lambda m: _f(m, "softshrink")(m.ones(2, dtype=m.float64), -0.25),
    "softshrink_lambd_half": lambda m: _f(m, "softshrink")(m.ones(2, dtype=m.float16), -1e-10),
    "hardtanh_bounds": lambda m: _f(m, "hardtanh")(m.ones(2), 1.0, -1.0),
    "hardtanh_bounds_bool": lambda m: _f(m, "hardtanh")(_bool(m), 2.0, 1.0),
    "hardtanh_uint8_negative": lambda m: _f(m, "hardtanh")(m.tensor([1], dtype=m.uint8)),
    "rrelu_bounds": lambda m: _f(m, "rrelu")(m.ones(2), 0.5, 0.1),
    "rrelu_bounds_training": lambda m: _f(m, "rrelu")(m.ones(2), 0.5, 0.1, training=True),
    "celu_alpha_zero": lambda m: _f(m, "celu")(m.ones(2), 0.0),
    "prelu_weight_float": lambda m: _f(m, "prelu")(m.ones(2, 3), 0.5),
    "prelu_dtypes": lambda m: _f(m, "prelu")(m.ones(2, 3), m.ones(3, dtype=m.float64)),
    "prelu_dtypes_int": lambda m: _f(m, "prelu")(_int(m), m.ones(1)),
    "prelu_weight_2d": lambda m: _f(m, "prelu")(m.ones(2, 3), m.ones(1, 3)),
    "prelu_channels": lambda m: _f(m, "prelu")(m.ones(2, 3), m.ones(2)),
    "prelu_channels_1d": lambda m: _f(m, "prelu")(m.ones(3), m.ones(3)),
    "prelu_zero_dim": lambda m: _f(m, "prelu")(m.tensor(2.0), m.ones(3)),
    "prelu_zero_dim_2d_weight": lambda m: _f(m, "prelu")(m.tensor(2.0), m.ones(2, 2)),
}


@needs_torch
@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_match_pytorch(name):
    call = ERRORS[name]
    with pytest.raises(Exception) as eb:
        call(torch)
    with pytest.raises(Exception) as ea:
        call(tapegrad)
    assert type(ea.value) is type(eb.value), f"{type(ea.value).__name__}: {ea.value}"
    assert str(ea.value) == str(eb.value).replace("torch.", "tapegrad.")


# --- rrelu in training mode -------------------------------------------------------------------
def test_rrelu_training_draws_slopes_and_differentiates_through_them():
    x = tapegrad.tensor(np.linspace(-2.0, 2.0, 41), dtype=tapegrad.float64, requires_grad=True)
    gen = tapegrad.Generator().manual_seed(3)
    y = activation.rrelu(x, 0.1, 0.3, training=True, generator=gen)
    assert y.grad_fn.name() == "RreluWithNoiseBackward0"
    xv, yv = to_numpy(x), to_numpy(y)
    neg = xv < 0
    slopes = yv[neg] / xv[neg]
    assert ((slopes >= 0.1) & (slopes <= 0.3)).all() and len(set(slopes.round(12))) > 5
    assert np.array_equal(yv[xv >= 0], xv[xv >= 0])
    (g,) = tapegrad.autograd.grad(y.sum(), x, create_graph=True)
    noise = to_numpy(y.grad_fn._saved_noise)
    np.testing.assert_allclose(to_numpy(g)[neg], slopes)
    assert np.array_equal(to_numpy(g)[xv > 0], np.ones((xv > 0).sum()))
    assert np.array_equal(to_numpy(g), noise)
    assert g.grad_fn.name() == "RreluWithNoiseBackwardBackward0"
    (gg,) = tapegrad.autograd.grad(g.sum(), x)
    assert np.array_equal(to_numpy(gg), np.zeros(41))
    again = activation.rrelu(x, 0.1, 0.3, True, generator=tapegrad.Generator().manual_seed(3))
    assert np.array_equal(to_numpy(again), yv)  # the generator makes the draw reproducible


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rrelu_training_draws_pytorchs_slopes(dtype):
    v = np.random.default_rng(2).uniform(-2.0, 2.0, 50)
    v[::7] = 0.0  # x <= 0 draws a slope at 0 too
    res = []
    for m in (tapegrad, torch):
        m.manual_seed(7)
        x = _tensor(m, v, dtype, True)
        y = _f(m, "rrelu")(x, 0.1, 0.4, training=True)
        noise = to_numpy(y.grad_fn._saved_noise)
        (g,) = m.autograd.grad(y.sum(), x)
        after = m.rand(3, dtype=m.float64)  # the stream continues from the same place
        res.append([to_numpy(y), to_numpy(g), noise, to_numpy(after)])
    for a, b in zip(res[0], res[1]):
        np.testing.assert_array_equal(a, b)


# --- softmin's implicit dim -------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 3, 4), (2, 2, 2, 2)])
def test_softmin_implicit_dim(shape):
    v = np.random.default_rng(1).standard_normal(shape)
    res = []
    for m in (tapegrad, torch):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            y = _f(m, "softmin")(_tensor(m, v, "float32"))
        res.append((to_numpy(y), [str(x.message) for x in w]))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-6)
    assert res[0][1] == res[1][1]


# --- node attributes and names ----------------------------------------------------------------
SAVED = {
    "leaky_relu": lambda m, x: _f(m, "leaky_relu")(x, 0.2),
    "elu": lambda m, x: _f(m, "elu")(x, 0.5),
    "selu": lambda m, x: _f(m, "selu")(x),
    "celu": lambda m, x: _f(m, "celu")(x, 2.0),
    "gelu": lambda m, x: _f(m, "gelu")(x, approximate="tanh"),
    "softplus": lambda m, x: _f(m, "softplus")(x, 2.0, 3.0),
    "relu6": lambda m, x: _f(m, "relu6")(x),
    "hardtanh": lambda m, x: _f(m, "hardtanh")(x, -0.5, 2.0),
    "threshold": lambda m, x: _f(m, "threshold")(x, 0.1, 2.0),
    "softshrink": lambda m, x: _f(m, "softshrink")(x, 0.3),
    "hardshrink": lambda m, x: _f(m, "hardshrink")(x, 0.3),
    "silu": lambda m, x: _f(m, "silu")(x),
    "hardswish": lambda m, x: _f(m, "hardswish")(x),
}


@needs_torch
@pytest.mark.parametrize("name", list(SAVED))
def test_saved_attributes(name):
    xa, xb = tapegrad.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    na, nb = SAVED[name](tapegrad, xa).grad_fn, SAVED[name](torch, xb).grad_fn
    attrs = [a for a in dir(nb) if a.startswith("_saved_")]
    assert attrs
    for a in attrs:
        vb = getattr(nb, a)
        if isinstance(vb, torch.Tensor):
            assert getattr(na, a) is xa
        else:
            assert getattr(na, a) == vb, a
    with pytest.raises(AttributeError):
        na._saved_nothing  # noqa: B018


@needs_torch
def test_public_names():
    for name in activation.__all__:
        assert hasattr(torch, name), f"torch.{name} does not exist"
        assert getattr(tapegrad, name) is getattr(activation, name)
    for name in activation.FUNCTIONAL:
        assert hasattr(TF, name), f"torch.nn.functional.{name} does not exist"
        assert callable(getattr(activation, name))
    for name in activation.METHODS:
        assert hasattr(torch.Tensor, name)
        assert getattr(tapegrad.Tensor, name) is activation.METHODS[name]


def test_nn_functional_exports_the_activations():
    import tapegrad.nn.functional as F

    missing = [n for n in activation.FUNCTIONAL
               if getattr(F, n, None) is not getattr(activation, n)]
    assert not missing, f"tapegrad.nn.functional lacks (or has other) {missing}"


def test_no_graph_without_grad():
    x = tapegrad.tensor([-1.0, 0.5, 2.0, 3.0], requires_grad=True)
    for name in ("gelu", "elu", "hardtanh", "softplus", "glu", "rrelu"):
        fn = getattr(activation, name)
        assert fn(x.detach()).grad_fn is None
        with tapegrad.no_grad():
            y = fn(x)
        assert y.grad_fn is None and not y.requires_grad

"""Elementwise math ops (ops/unary_math.py, binary_math.py, ternary_math.py) beyond the op
table: special points (0, -0, +-inf, nan, domain edges), integer and bool inputs, aliases,
in-place forms, out=, error messages, and gradients at special points. The special functions
(ops/special.py) are tested in test_math_special.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad
from _math_helpers import (
    _TRIGAMMA_RTOL,
    INPUTS,
    SPECIAL,
    SPECIAL_FNS,
    UNARY,
    _grads,
    _grid,
    _np,
    _same,
    needs_torch,
    torch,
)


# --- values at special points --------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", [n for n in UNARY if n not in SPECIAL_FNS])
def test_unary_special_points(name, dtype):
    a = _grid(dtype)
    if name in ("sinh", "cosh"):
        # near overflow PyTorch's answer depends on the tensor's length (its vectorised loop
        # overflows where the scalar one does not): sinh(710) is finite, as NumPy computes it
        a = a[np.abs(a) < (700 if dtype == "float64" else 88)]
    _same(lambda m: getattr(m, name)(m.tensor(a)), rtol=1e-12)


# Points where PyTorch's float64 kernels lose digits (checked against mpmath in
# test_special_accuracy instead): digamma and trigamma near a negative pole reduce x to
# modf(x), whose pi * r then sits near -pi; its zeta for even n cancels at -100.5.


@needs_torch
@pytest.mark.parametrize("decimals", [-3, -1, 0, 1, 2, 4])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_decimals(decimals, dtype):
    rng = np.random.default_rng(3)
    a = (rng.standard_normal(2000) * 10.0 ** rng.uniform(-3, 5, 2000)).astype(dtype)
    a = np.concatenate([a, _grid(dtype), np.array([0.125, 2.5, -2.5, 0.05], dtype=dtype)])
    _same(lambda m: m.round(m.tensor(a), decimals=decimals), rtol=0)
    _same(lambda m: m.tensor(a).round(decimals=decimals), rtol=0)


@needs_torch
@pytest.mark.parametrize("eps", [None, 0.0, 0.1, 0.6])
def test_logit_values(eps):
    a = np.array(SPECIAL + [0.05, 0.95, 0.1, 0.9])
    _same(lambda m: m.logit(m.tensor(a), eps), rtol=1e-12)
    _same(lambda m: m.tensor(a).logit(eps=eps), rtol=1e-12)


@needs_torch
@pytest.mark.parametrize("kw", [{}, {"nan": 2.0}, {"posinf": 1.0, "neginf": -1.0}, {"nan": None},
                                {"posinf": 5}])
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_nan_to_num_values(kw, dtype):
    a = _grid(dtype)
    _same(lambda m: m.nan_to_num(m.tensor(a), **kw), rtol=0)


@needs_torch
def test_nan_to_num_complex_and_ints():
    c = np.array([complex(math.nan, math.inf), complex(-math.inf, 1.0), 1 + 2j])
    _same(lambda m: m.nan_to_num(m.tensor(c), posinf=3.0), rtol=0)
    _same(lambda m: m.tensor([1, -2, 3]).nan_to_num(nan=1.0))
    _same(lambda m: m.tensor([True, False]).nan_to_num())
    _same(lambda m: m.nan_to_num(m.ones(2), nan="a"))


def test_nan_to_num_default_bounds():
    x = tapegrad.tensor([math.inf, -math.inf, math.nan])
    assert _np(x.nan_to_num()).tolist() == [np.finfo(np.float32).max, np.finfo(np.float32).min,
                                              0.0]


# --- integer, bool and complex inputs ----------------------------------------------------------


# --- integer, bool and complex inputs ----------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("kind", list(INPUTS))
@pytest.mark.parametrize("name", UNARY)
def test_unary_dtypes(name, kind):
    make = INPUTS[kind]
    rtol = 2e-3 if kind == "float16" else 1e-5
    _same(lambda m: getattr(m, name)(make(m)), rtol=rtol, atol=1e-6)


@needs_torch
@pytest.mark.parametrize("name", ["sinc", "exp2", "log2", "log10", "asin", "acos", "atan", "sinh",
                                  "cosh", "asinh", "acosh", "atanh", "square", "positive"])
def test_unary_complex_values(name):
    a = np.array([0.3 + 0.4j, -1.5 + 0.2j, 2.0 - 1.0j, 0j])
    _same(lambda m: getattr(m, name)(m.tensor(a)), rtol=1e-12)


@needs_torch
@pytest.mark.parametrize("name", ["sinh", "asin", "exp2", "log2", "sinc", "atan"])
def test_unary_complex_grad(name):
    a = np.array([0.3 + 0.4j, -1.5 + 0.2j, 2.0 - 1.0j])
    g = np.array([1.0 - 0.5j, 0.25 + 2j, -1j])
    res = []
    for m in (tapegrad, torch):
        x = m.tensor(a, requires_grad=True)
        (gx,) = m.autograd.grad(getattr(m, name)(x), x, m.tensor(g))
        res.append(_np(gx))
    np.testing.assert_allclose(res[0], res[1], rtol=1e-12)


# --- aliases, methods, in-place forms, out= ------------------------------------------------------
ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh",
           "arccosh": "acosh", "arctanh": "atanh", "arctan2": "atan2", "fix": "trunc",
           "negative": "neg", "absolute": "abs"}


@pytest.mark.parametrize("alias", list(ALIASES))
def test_aliases(alias):
    target = ALIASES[alias]
    assert getattr(tapegrad, alias) is getattr(tapegrad, target)
    x = tapegrad.tensor([0.25, -0.5], requires_grad=True)
    args = (x,) if alias != "arctan2" else (x, x + 1)
    a = getattr(tapegrad, alias)(*args)
    b = getattr(tapegrad, target)(*args)
    assert a.grad_fn.name() == b.grad_fn.name()
    assert np.array_equal(_np(a), _np(b), equal_nan=True)
    m = getattr(x, alias)(*args[1:])
    assert np.array_equal(_np(m), _np(b), equal_nan=True)


def test_positive():
    x = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    assert tapegrad.positive(x) is x
    assert x.positive() is x
    with pytest.raises(RuntimeError, match=r"^The `\+` operator, on a bool tensor is not "
                                           r"supported\.$"):
        tapegrad.positive(tapegrad.tensor([True]))


INPLACE_UNARY = [n for n in UNARY if n not in ("positive", "signbit", "isneginf", "isposinf")]


@pytest.mark.parametrize("name", INPLACE_UNARY)
def test_inplace_unary(name):
    x = tapegrad.tensor([0.25, -0.5, 0.75, 1.5], dtype=tapegrad.float64)
    y = x.clone()
    v = y._version
    r = getattr(y, name + "_")()
    assert r is y
    assert y._version == v + 1
    np.testing.assert_array_equal(_np(y), _np(getattr(tapegrad, name)(x)))


@needs_torch
@pytest.mark.parametrize("name", ["asin", "erf", "log2", "sinc", "logit", "frac", "floor",
                                  "square", "round", "lgamma"])
def test_inplace_unary_errors(name):
    _same(lambda m: getattr(m.tensor([1, 2]), name + "_")())
    _same(lambda m: getattr(m.ones(2, requires_grad=True), name + "_")())


@needs_torch
def test_inplace_with_arguments():
    a = np.array([0.25, -0.5, 0.75, 1.5])
    b = np.array([1.5, 2.0, -0.5, 0.3])
    cases = [
        lambda m: m.tensor(a).round_(decimals=1),
        lambda m: m.tensor(a).nan_to_num_(nan=1.0),
        lambda m: m.tensor(a).logit_(0.3),
        lambda m: m.tensor(a).polygamma_(2),
        lambda m: m.tensor(a).atan2_(m.tensor(b)),
        lambda m: m.tensor(a).arctan2_(m.tensor(b)),
        lambda m: m.tensor(a).hypot_(m.tensor(b)),
        lambda m: m.tensor(a).fmod_(m.tensor(b)),
        lambda m: m.tensor(a).fmod_(0.2),
        lambda m: m.tensor(a).xlogy_(m.tensor(b).abs()),
        lambda m: m.tensor(a).xlogy_(2.0),
        lambda m: m.tensor(a).copysign_(m.tensor(b)),
        lambda m: m.tensor(a).copysign_(-1.0),
        lambda m: m.tensor(a).heaviside_(m.tensor(b)),
        lambda m: m.tensor(a).lerp_(m.tensor(b), 0.3),
        lambda m: m.tensor(a).lerp_(m.tensor(b), m.tensor(a)),
        lambda m: m.tensor(a).addcmul_(m.tensor(a), m.tensor(b), value=2),
        lambda m: m.tensor(a).addcdiv_(m.tensor(a), m.tensor(b), value=-1),
        lambda m: m.tensor(a).float_power_(2),
        lambda m: m.tensor(a).float_power_(m.tensor(b)),
        lambda m: m.tensor(a, dtype=m.float32).float_power_(2),
        lambda m: m.tensor([1, 2]).float_power_(2),
        lambda m: m.tensor([1, 2]).atan2_(m.tensor([1, 2])),
        lambda m: m.tensor([1.0, 2.0]).addcmul_(m.ones(3), m.ones(3)),
        lambda m: m.tensor(a).square_(),
        lambda m: m.tensor([2, 3]).square_(),
    ]
    for fn in cases:
        _same(fn, rtol=1e-12)


def test_inplace_leaf_requiring_grad():
    x = tapegrad.ones(2, requires_grad=True)
    msg = "a leaf Variable that requires grad is being used in an in-place operation."
    x64 = tapegrad.ones(2, dtype=tapegrad.float64, requires_grad=True)
    for call in (lambda: x.asin_(), lambda: x.lerp_(x, 0.5), lambda: x.polygamma_(1),
                 lambda: x.round_(decimals=1), lambda: x.addcmul_(x, x),
                 lambda: x64.float_power_(2)):
        with pytest.raises(RuntimeError, match=msg):
            call()


@pytest.mark.parametrize("call", [
    lambda m, o: m.asin(m.tensor([0.5]), out=o),
    lambda m, o: m.round(m.tensor([0.56]), decimals=1, out=o),
    lambda m, o: m.polygamma(1, m.tensor([0.5]), out=o),
    lambda m, o: m.logit(m.tensor([0.5]), out=o),
    lambda m, o: m.atan2(m.tensor([0.5]), m.tensor([2.0]), out=o),
    lambda m, o: m.lerp(m.tensor([0.5]), m.tensor([2.0]), 0.5, out=o),
    lambda m, o: m.xlogy(m.tensor([0.5]), 2.0, out=o),
    lambda m, o: m.float_power(m.tensor([0.5]), 2, out=o.double()),
])
def test_out(call):
    o = tapegrad.zeros(1)
    r = call(tapegrad, o)
    if r is not o:  # float_power: the out= tensor passed was o.double()
        o = r
    assert o._version == 1
    if torch is not None:
        ot = torch.zeros(1)
        rt = call(torch, ot)
        np.testing.assert_allclose(_np(o), _np(rt), rtol=1e-6)


@needs_torch
def test_out_dtype_errors():
    _same(lambda m: m.float_power(m.tensor([0.5]), 2, out=m.zeros(1)))
    _same(lambda m: m.float_power(m.tensor([0.5]), m.tensor([1j]),
                                  out=m.zeros(1, dtype=m.float64)))


# --- two and three operands: dtypes and errors ----------------------------------------------------
F = np.array([0.5, -1.0, 2.0, 0.0])
G = np.array([1.5, 2.0, -0.5, -0.0])

BINARY_CALLS = {
    "atan2_int": lambda m: m.atan2(m.tensor([1, -2, 0]), m.tensor([2, 2, -1])),
    "atan2_mixed": lambda m: m.atan2(m.tensor(F, dtype=m.float32), m.tensor(G)),
    "atan2_zero_signs": lambda m: m.atan2(m.tensor([0.0, -0.0, 0.0, -0.0]),
                                          m.tensor([0.0, 0.0, -0.0, -0.0])),
    "atan2_scalar": lambda m: m.atan2(m.tensor(F), 2),
    "atan2_first_scalar": lambda m: m.atan2(2.0, m.tensor(F)),
    "atan2_complex": lambda m: m.atan2(m.tensor([1j]), m.tensor([1.0])),
    "hypot": lambda m: m.hypot(m.tensor(F), m.tensor(G)),
    "hypot_inf_nan": lambda m: m.hypot(m.tensor([math.inf, math.nan]), m.tensor([math.nan, 1.0])),
    "hypot_int": lambda m: m.hypot(m.tensor([3]), m.tensor([4])),
    "hypot_scalar": lambda m: m.hypot(m.tensor(F), 2.0),
    "fmod": lambda m: m.fmod(m.tensor(F), m.tensor(G)),
    "fmod_int": lambda m: m.fmod(m.tensor([5, -5, 7]), m.tensor([3, 3, -2])),
    "fmod_int_zero": lambda m: m.fmod(m.tensor([5]), 0),
    "fmod_int_float_scalar": lambda m: m.fmod(m.tensor([5, -5]), 2.5),
    "fmod_float_zero": lambda m: m.fmod(m.tensor([5.0, -5.0]), 0.0),
    "fmod_first_scalar": lambda m: m.fmod(2.0, m.tensor(F)),
    "fmod_str": lambda m: m.fmod(m.tensor(F), "a"),
    "fmod_complex": lambda m: m.fmod(m.tensor([1j]), 2),
    "lerp_mixed": lambda m: m.lerp(m.tensor(F, dtype=m.float32), m.tensor(G), 0.5),
    "lerp_weight_dtype": lambda m: m.lerp(m.tensor(F), m.tensor(G), m.tensor([0.5, 1, 2, 3],
                                                                             dtype=m.float32)),
    "lerp_weight_0d_other_dtype": lambda m: m.lerp(m.tensor(F), m.tensor(G),
                                                   m.tensor(0.25, dtype=m.float32)),
    "lerp_weight_int_tensor": lambda m: m.lerp(m.tensor(F), m.tensor(G), m.tensor([1, 2, 3, 4])),
    "lerp_int": lambda m: m.lerp(m.tensor([1, 2]), m.tensor([3, 4]), 0.5),
    "lerp_int_tensor_weight": lambda m: m.lerp(m.tensor([1, 2]), m.tensor([3, 4]),
                                               m.tensor([1, 2])),
    "lerp_bool": lambda m: m.lerp(m.tensor([True]), m.tensor([False]), 0.5),
    "lerp_complex_weight": lambda m: m.lerp(m.tensor(F), m.tensor(G), 1j),
    "lerp_bad_weight": lambda m: m.lerp(m.tensor(F), m.tensor(G), "a"),
    "lerp_first_scalar": lambda m: m.lerp(2.0, m.tensor(G), 0.5),
    "lerp_shape": lambda m: m.lerp(m.tensor(F), m.ones(3), 0.5),
    "lerp_ends": lambda m: m.lerp(m.tensor([1e-8, 3.0]), m.tensor([1e8, -7.0]), 1.0),
    "lerp_ends_tensor": lambda m: m.lerp(m.tensor([1e-8, 3.0]), m.tensor([1e8, -7.0]),
                                         m.tensor([1.0, 0.0])),
    "lerp_weight_int": lambda m: m.lerp(m.tensor(F), m.tensor(G), 2),
    "addcmul_int": lambda m: m.addcmul(m.tensor([1, -2]), m.tensor([2, 2]), m.tensor([3, -1])),
    "addcmul_int_value": lambda m: m.addcmul(m.tensor([1, -2]), m.tensor([2, 2]),
                                             m.tensor([3, -1]), value=2.5),
    "addcmul_mixed": lambda m: m.addcmul(m.tensor([1, -2]), m.tensor(F[:2]), m.tensor(G[:2],
                                                                             dtype=m.float32)),
    "addcmul_scalar_tensor1": lambda m: m.addcmul(m.tensor(F), 2.0, m.tensor(F)),
    "addcmul_bad_value": lambda m: m.addcmul(m.tensor(F), m.tensor(F), m.tensor(F), value="a"),
    "addcmul_complex_value": lambda m: m.addcmul(m.tensor(F), m.tensor(F), m.tensor(F), value=1j),
    "addcmul_shape": lambda m: m.addcmul(m.tensor(F), m.ones(3), m.ones(3)),
    "addcdiv": lambda m: m.addcdiv(m.tensor(F), m.tensor(G), m.tensor([2.0, 3.0, 4.0, 5.0]),
                                   value=0.5),
    "addcdiv_int": lambda m: m.addcdiv(m.tensor([1, 2]), m.tensor([1, 2]), m.tensor([2, 2])),
    "addcdiv_float_input": lambda m: m.addcdiv(m.tensor(F[:2]), m.tensor([1, 2]),
                                               m.tensor([2, 2])),
    "addcdiv_int_input": lambda m: m.addcdiv(m.tensor([1, 2]), m.tensor(F[:2]),
                                             m.tensor([2, 2])),
    "addcdiv_zero": lambda m: m.addcdiv(m.tensor(F), m.tensor(F), m.zeros(4)),
    "logaddexp": lambda m: m.logaddexp(m.tensor([0.0, 1000.0, -1000.0, math.inf, -math.inf,
                                                 math.inf, math.nan]),
                                       m.tensor([0.0, 1000.0, -1001.0, math.inf, -math.inf,
                                                 -math.inf, 1.0])),
    "logaddexp2": lambda m: m.logaddexp2(m.tensor([0.0, 1000.0, -1000.0, math.inf, -math.inf]),
                                         m.tensor([0.0, 1000.0, -1001.0, math.inf, -math.inf])),
    "logaddexp_int": lambda m: m.logaddexp(m.tensor([1]), m.tensor([2])),
    "logaddexp2_bool": lambda m: m.logaddexp2(m.tensor([True]), m.tensor([True])),
    "logaddexp_scalar": lambda m: m.logaddexp(m.tensor(F), 1.0),
    "logaddexp_complex": lambda m: m.logaddexp(m.tensor([1 + 1j, -2 + 0.5j]),
                                               m.tensor([0.5 - 1j, 3 + 0j])),
    "logaddexp2_complex": lambda m: m.logaddexp2(m.tensor([1 + 1j]), m.tensor([0.5 - 1j])),
    "xlogy": lambda m: m.xlogy(m.tensor([0.0, 0.0, 0.0, 2.0, -1.0, math.nan, 0.0]),
                               m.tensor([0.0, -1.0, math.nan, 0.0, 2.0, 1.0, math.inf])),
    "xlogy_int": lambda m: m.xlogy(m.tensor([1, 0, 3]), m.tensor([2, 0, -1])),
    "xlogy_scalar_self": lambda m: m.xlogy(0.0, m.tensor([0.0, math.nan, 2.0])),
    "xlogy_scalar_other": lambda m: m.xlogy(m.tensor([0.0, 1.0, 2]), 0),
    "xlogy_scalars": lambda m: m.xlogy(2.0, 3.0),
    "xlogy_str": lambda m: m.xlogy(m.tensor(F), "a"),
    "xlogy_complex": lambda m: m.xlogy(m.tensor([1j]), 2.0),
    "copysign": lambda m: m.copysign(m.tensor(F), m.tensor(G)),
    "copysign_int": lambda m: m.copysign(m.tensor([1, -2, 3]), m.tensor([-1, 2, 0])),
    "copysign_int_scalar": lambda m: m.copysign(m.tensor([1, -2, 3]), -0.0),
    "copysign_first_scalar": lambda m: m.copysign(2.0, m.tensor(F)),
    "copysign_complex": lambda m: m.copysign(m.tensor([1j]), m.tensor([1.0])),
    "heaviside": lambda m: m.heaviside(m.tensor([-1.0, 0.0, -0.0, 2.0, math.nan, -math.inf]),
                                       m.tensor(0.5, dtype=m.float64)),
    "heaviside_int": lambda m: m.heaviside(m.tensor([-2, 0, 3]), m.tensor([7, 8, 9])),
    "heaviside_bool": lambda m: m.heaviside(m.tensor([True, False]), m.tensor([False, True])),
    "heaviside_dtypes": lambda m: m.heaviside(m.tensor(F), m.tensor(G, dtype=m.float32)),
    "heaviside_complex": lambda m: m.heaviside(m.tensor([1j]), m.tensor([1j])),
    "heaviside_scalar": lambda m: m.heaviside(m.tensor(F), 0.5),
    "float_power": lambda m: m.float_power(m.tensor(F, dtype=m.float32), m.tensor([2, 3, 1, 0])),
    "float_power_ints": lambda m: m.float_power(m.tensor([2, 3]), m.tensor([-1, 2])),
    "float_power_scalar_base": lambda m: m.float_power(2, m.tensor([1, -2])),
    "float_power_complex": lambda m: m.float_power(m.tensor(F), 0.5j),
    "float_power_complex_tensor": lambda m: m.float_power(m.tensor([1 + 1j]), 2),
    "float_power_scalars": lambda m: m.float_power(2.0, 3.0),
    "float_power_str": lambda m: m.float_power(m.tensor(F), "a"),
    "polygamma_negative_n": lambda m: m.polygamma(-1, m.tensor(F)),
    "polygamma_float_n": lambda m: m.polygamma(1.5, m.tensor(F)),
    "polygamma_bool_n": lambda m: m.polygamma(True, m.tensor(F)),
    "polygamma_method_negative_n": lambda m: m.tensor(F).polygamma(-2),
    "round_int_decimals": lambda m: m.tensor([1, 2]).round(decimals=1),
    "round_int_decimals0": lambda m: m.tensor([1, 2]).round(decimals=0),
    "round_bool": lambda m: m.tensor([True]).round(),
    "sign_complex": lambda m: m.signbit(m.tensor([1j])),
}


@needs_torch
@pytest.mark.parametrize("name", list(BINARY_CALLS))
def test_binary_values_dtypes_errors(name):
    _same(BINARY_CALLS[name], rtol=1e-12)


@needs_torch
def test_heaviside_backward_is_not_implemented():
    x = tapegrad.tensor([1.0, -1.0], requires_grad=True)
    y = tapegrad.heaviside(x, tapegrad.tensor(0.5))
    assert y.requires_grad
    with pytest.raises(RuntimeError, match=r"^derivative for aten::heaviside is not implemented$"):
        y.sum().backward()


# --- gradients at special points -------------------------------------------------------------
GRAD_CASES = {
    "xlogy": (lambda m, x, y: m.xlogy(x, y),
              [[0.0, 0.0, 0.0, 0.0, 2.0, 2.0, -1.0, math.nan], [0.0, -1.0, 2.0, math.nan, 0.0,
                                                                -1.0, 2.0, 2.0]]),
    "xlogy_scalar_other_0": (lambda m, x: m.xlogy(x, 0.0), [[0.0, 1.0, -2.0]]),
    "xlogy_scalar_other_neg": (lambda m, x: m.xlogy(x, -1.0), [[0.0, 1.0, -2.0]]),
    "xlogy_scalar_self": (lambda m, y: m.xlogy(0.0, y), [[0.0, -1.0, 2.0, math.nan]]),
    "copysign": (lambda m, x, y: m.copysign(x, y),
                 [[0.0, -0.0, 1.0, -2.0], [-1.0, 1.0, -0.0, 2.0]]),
    "copysign_scalar": (lambda m, x: m.copysign(x, -1.0), [[0.0, -0.0, 1.0, -2.0]]),
    "nan_to_num": (lambda m, x: m.nan_to_num(x), [[math.nan, math.inf, -math.inf, 1.0]]),
    "logit": (lambda m, x: m.logit(x), [[-0.5, 0.0, 0.05, 0.5, 0.95, 1.0, 1.5]]),
    "logit_eps": (lambda m, x: m.logit(x, 0.05), [[-0.5, 0.0, 0.05, 0.5, 0.95, 1.0, 1.5]]),
    "sinc": (lambda m, x: m.sinc(x), [[0.0, -0.0, 1.0, 0.5, -2.5, 1e-8]]),
    "erfinv": (lambda m, x: m.erfinv(x), [[0.0, 0.5, -0.999, 1.0, -1.0, 1.5]]),
    "lgamma": (lambda m, x: m.lgamma(x), [[-2.5, -0.5, 0.5, 1.0, 2.0, 10.0]]),
    "digamma": (lambda m, x: m.digamma(x), [[-2.5, -0.5, 0.5, 1.0, 2.0, 10.0]]),
    "acosh_edge": (lambda m, x: m.acosh(x), [[1.0, 2.0]]),
    "asin_edge": (lambda m, x: m.asin(x), [[1.0, -1.0, 0.0]]),
    "atanh_edge": (lambda m, x: m.atanh(x), [[1.0, -1.0, 0.0]]),
    "rounding": (lambda m, x: m.floor(x) + m.ceil(x) + m.round(x) + m.trunc(x) + m.frac(x)
                 + m.round(x, decimals=2), [[0.5, 1.0, -1.5, 2.3]]),
    "hypot_zero": (lambda m, x, y: m.hypot(x, y), [[0.0, 3.0], [0.0, 4.0]]),
    "atan2_zero": (lambda m, x, y: m.atan2(x, y), [[0.0, 1.0], [0.0, 0.0]]),
    "logaddexp_inf": (lambda m, x, y: m.logaddexp(x, y), [[math.inf, -math.inf, 1000.0],
                                                          [math.inf, 0.0, -1000.0]]),
    "fmod": (lambda m, x, y: m.fmod(x, y), [[5.5, -5.5, 3.0], [2.0, 2.0, -2.0]]),
    "lerp_tensor": (lambda m, x, y, w: m.lerp(x, y, w), [[1.0, 2.0], [3.0, -1.0], [0.25, 0.75]]),
    "float_power_zero": (lambda m, x, y: m.float_power(x, y), [[0.0, 0.0, 2.0], [2.0, 0.0, 0.5]]),
}


# cases whose derivative is trigamma (see _TRIGAMMA_RTOL)
_USES_TRIGAMMA = ("digamma", "lgamma")


@needs_torch
@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_grad_special_points(name):
    fn, arrays = GRAD_CASES[name]
    arrays = [np.array(a) for a in arrays]
    _, ga = _grads(tapegrad, fn, arrays)
    _, gb = _grads(torch, fn, arrays)
    rtol = _TRIGAMMA_RTOL if name == "digamma" else 1e-12
    for a, b in zip(ga, gb):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, equal_nan=True)
            zero = _np(b) == 0
            assert np.array_equal(np.signbit(_np(a)[zero]), np.signbit(_np(b)[zero]))


@needs_torch
@pytest.mark.parametrize("name", ["logit", "logit_eps", "xlogy", "copysign", "lerp_tensor",
                                  "lgamma", "digamma", "erfinv", "fmod"])
def test_second_derivative_special_points(name):
    fn, arrays = GRAD_CASES[name]
    arrays = [np.array(a) for a in arrays]
    res = []
    for m in (tapegrad, torch):
        xs, gs = _grads(m, fn, arrays, create_graph=True)
        s = sum((g * g).sum() for g in gs if g is not None and g.requires_grad)
        if not isinstance(s, (int, float)):
            gg = m.autograd.grad(s, xs, allow_unused=True)
            res.append([None if g is None else _np(g) for g in gg])
        else:
            res.append(None)
    if res[0] is None or res[1] is None:
        assert res[0] == res[1] or all(v is None for v in res[1]) or all(v is None for v in res[0])
        return
    rtol = _TRIGAMMA_RTOL if name in _USES_TRIGAMMA else 1e-10
    for a, b in zip(*res):
        if a is None or b is None:
            assert a is None or np.all(a == 0) or b is None
            continue
        np.testing.assert_allclose(a, b, rtol=rtol, equal_nan=True)


def test_sinc_derivatives_at_zero():
    # sinc'(0) = 0 and sinc''(0) = -pi^2/3 (PyTorch's second derivative at 0 is nan)
    x = tapegrad.tensor([0.0], dtype=tapegrad.float64, requires_grad=True)
    (g,) = tapegrad.autograd.grad(x.sinc().sum(), x, create_graph=True)
    assert _np(g).tolist() == [0.0]
    (gg,) = tapegrad.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(_np(gg), [-math.pi ** 2 / 3], rtol=1e-15)


def test_float_power_grad_dtype():
    x = tapegrad.tensor([1.5, 2.0], requires_grad=True)
    y = tapegrad.float_power(x, 2)
    assert y.dtype == tapegrad.float64
    (g,) = tapegrad.autograd.grad(y.sum(), x)
    assert g.dtype == tapegrad.float32
    assert _np(g).tolist() == [3.0, 4.0]


def test_grad_fn_names():
    x = tapegrad.tensor([0.3], requires_grad=True)
    names = {
        "FloorBackward0": x.floor(), "RoundBackward0": x.round(),
        "RoundBackward1": x.round(decimals=0), "TruncBackward0": x.fix(),
        "PowBackward0": x.square(), "PolygammaBackward0": x.polygamma(0),
        "FmodBackward0": x.fmod(2), "FmodBackward1": x.fmod(x), "LerpBackward0": x.lerp(x, 2),
        "LerpBackward1": x.lerp(x, x), "XlogyBackward1": tapegrad.xlogy(2, x),
        "XlogyBackward2": x.xlogy(2), "CopysignBackward1": x.copysign(2),
        "NanToNumBackward0": x.nan_to_num(), "LogitBackward0": x.logit(0.1),
    }
    for name, t in names.items():
        assert t.grad_fn.name() == name
    for t in (x.signbit(), x.isneginf(), x.isposinf()):
        assert t.grad_fn is None and not t.requires_grad and t.dtype == tapegrad.bool


def test_no_graph_without_grad():
    x = tapegrad.tensor([0.3, 0.6])
    for t in (x.asin(), x.erfinv(), x.polygamma(2), x.logit(0.1), x.nan_to_num(),
              tapegrad.lerp(x, x, x), tapegrad.addcmul(x, x, x), tapegrad.xlogy(x, x),
              tapegrad.hypot(x, x), x.round(decimals=1)):
        assert t.grad_fn is None and not t.requires_grad
    xg = tapegrad.tensor([0.3, 0.6], requires_grad=True)
    with tapegrad.no_grad():
        for t in (xg.asin(), xg.polygamma(1), tapegrad.atan2(xg, xg), xg.copysign(xg)):
            assert t.grad_fn is None and not t.requires_grad

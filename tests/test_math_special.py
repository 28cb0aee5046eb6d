"""The special functions (ops/special.py): erf, erfc, erfinv, lgamma, digamma, polygamma.

Values at special points and on random grids against torch, poles and infinities, derivative
chains, and the pure-NumPy fallback used without SciPy (against SciPy, mpmath and known values;
and in a subprocess where SciPy cannot be imported).
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import tapegrad
from _math_helpers import (
    _TRIGAMMA_RTOL,
    INPUTS,
    SPECIAL,
    SPECIAL_FNS,
    _grid,
    _np,
    _same,
    needs_scipy,
    needs_torch,
    scipy_special,
    torch,
)
from tapegrad.ops import special


@pytest.fixture(params=["scipy", "numpy"])
def backend(request, monkeypatch):
    """Run a test with the special functions computed by SciPy, then by the NumPy fallback."""
    if request.param == "scipy":
        if scipy_special is None:
            pytest.skip("scipy is not installed")
        monkeypatch.setattr(special, "_scipy_special", scipy_special)
    else:
        monkeypatch.setattr(special, "_scipy_special", False)
    return request.param


# --- values at special points --------------------------------------------------------------
_TORCH_INACCURATE = {"digamma": (-0.9999999,), "polygamma0": (-0.9999999,),
                     "polygamma1": (-0.9999999,), "polygamma2": (-100.5,),
                     "polygamma4": (-100.5,)}


def _grid_for(name: str, dtype: str) -> np.ndarray:
    a = _grid(dtype)
    for v in _TORCH_INACCURATE.get(name, ()):
        a = a[a != a.dtype.type(v)]
    return a


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", SPECIAL_FNS)
def test_special_functions_special_points(name, dtype, backend):
    a = _grid_for(name, dtype) if dtype == "float64" else _grid(dtype)
    # PyTorch's own float32 kernels are accurate to a few ulp; lgamma's values near its zeros
    # at 1 and 2 are compared absolutely
    _same(lambda m: getattr(m, name)(m.tensor(a)), rtol=1e-5 if dtype == "float32" else 1e-10,
          atol=1e-15)


def _polygamma_grid(n: int, dtype: str) -> np.ndarray:
    a = _grid_for(f"polygamma{n}", dtype)
    if n == 1:
        # PyTorch's trigamma is not infinite at the poles -1, -2, ... (sin(pi x) rounds to a
        # tiny nonzero value there): tapegrad answers +inf, checked in test_polygamma_poles
        a = a[~((a < 0) & (a == np.floor(a)) & np.isfinite(a))]
        if dtype == "float32":  # and PyTorch's float32 trigamma loses digits near a pole
            a = a[a != np.float32(-0.9999999)]
    return a


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4])
def test_polygamma_special_points(n, dtype, backend):
    a = _polygamma_grid(n, dtype)
    rtol = 1e-5 if dtype == "float32" else _TRIGAMMA_RTOL if n == 1 else 1e-10
    # (underflowed values of even orders are -0.0 in exact arithmetic, not always in either)
    _same(lambda m: m.polygamma(n, m.tensor(a)), rtol=rtol, atol=1e-300, zero_sign=False)


def test_polygamma_poles(backend):
    x = tapegrad.tensor([0.0, -1.0, -2.0, -20.0, -1e30], dtype=tapegrad.float64)
    for n in (1, 3):
        assert np.all(_np(tapegrad.polygamma(n, x)) == np.inf)
    for n in (2, 4):
        assert np.all(_np(tapegrad.polygamma(n, x)) == -np.inf)
    assert np.all(np.isnan(_np(tapegrad.digamma(x[1:]))))
    assert _np(tapegrad.digamma(tapegrad.tensor([0.0, -0.0]))).tolist() == [-math.inf, math.inf]
    assert np.all(_np(tapegrad.lgamma(x)) == np.inf)
    assert _np(tapegrad.lgamma(tapegrad.tensor([-math.inf]))).tolist() == [math.inf]


def test_polygamma_far_negative_is_fast(backend):
    # a series stepped from x up to 9 would take ~1e10 steps here (SciPy's and PyTorch's do)
    x = tapegrad.tensor([-1e10 + 0.5, -1e6 + 0.3], dtype=tapegrad.float64)
    r = _np(tapegrad.polygamma(2, x))
    # psi''(x) = psi''(1 - x) - pi d2/dx2 cot(pi x), with cot(pi x) = 0 at half-integers
    np.testing.assert_allclose(r[0], -1e-20, rtol=1e-9)
    np.testing.assert_allclose(r[1], -68.83754367872578, rtol=1e-9)


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", SPECIAL_FNS + ["polygamma1", "polygamma3"])
def test_special_functions_random(name, dtype, backend):
    rng = np.random.default_rng(7)
    lo, hi = (-0.999, 0.999) if name == "erfinv" else (-30.0, 30.0)
    a = rng.uniform(lo, hi, 500).astype(dtype)
    if name.startswith("polygamma"):
        n = int(name[-1])
        fn = lambda m: m.polygamma(n, m.tensor(a))  # noqa: E731
    else:
        fn = lambda m: getattr(m, name)(m.tensor(a))  # noqa: E731
    # relative to the values' scale: both are accurate to a few ulp of the terms they sum
    ra, rb = _np(fn(tapegrad)), _np(fn(torch))
    assert ra.dtype == rb.dtype
    if name == "polygamma1" and dtype == "float32":
        # PyTorch's float32 trigamma runs in float32 arithmetic (~1e-4 off near the poles):
        # the reference is its float64 value at the same inputs, rounded to float32
        rb = torch.polygamma(1, torch.tensor(a.astype(np.float64))).numpy().astype(np.float32)
    scale = np.maximum(np.abs(rb), 1.0)
    if dtype == "float32":
        tol = 2e-5
    else:
        tol = _TRIGAMMA_RTOL if name == "polygamma1" else 1e-10
    assert np.all(np.abs(ra - rb) <= tol * scale)


@needs_torch
@pytest.mark.parametrize("kind", list(INPUTS))
@pytest.mark.parametrize("n", [0, 1, 2])
def test_polygamma_dtypes(n, kind):
    make = INPUTS[kind]
    if kind in ("int64", "int32", "uint8", "bool"):  # skip the poles at 0, -2 (see above)
        def make(m, _k=kind):  # noqa: F811
            return INPUTS[_k](m)[:1]
    _same(lambda m: m.polygamma(n, make(m)), rtol=2e-3 if kind == "float16" else 1e-5)


# --- derivatives -------------------------------------------------------------------------------
def test_special_derivative_chain(backend):
    # lgamma' = digamma, lgamma'' = polygamma(1), lgamma''' = polygamma(2)
    x = tapegrad.tensor([0.7, 3.5, -1.5], dtype=tapegrad.float64, requires_grad=True)
    (g1,) = tapegrad.autograd.grad(x.lgamma().sum(), x, create_graph=True)
    (g2,) = tapegrad.autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = tapegrad.autograd.grad(g2.sum(), x)
    xd = x.detach()
    np.testing.assert_allclose(_np(g1), _np(xd.digamma()), rtol=1e-14)
    np.testing.assert_allclose(_np(g2), _np(tapegrad.polygamma(1, xd)), rtol=1e-14)
    np.testing.assert_allclose(_np(g3), _np(tapegrad.polygamma(2, xd)), rtol=1e-14)
    # erfinv(erf(x)) = x, so its derivative is 1
    y = tapegrad.tensor([-2.0, 0.3, 1.7], dtype=tapegrad.float64, requires_grad=True)
    (gy,) = tapegrad.autograd.grad(y.erf().erfinv().sum(), y)
    np.testing.assert_allclose(_np(gy), np.ones(3), rtol=1e-9)


@pytest.mark.parametrize("name,lo,hi", [("erf", -3, 3), ("erfc", -3, 3), ("erfinv", -0.9, 0.9),
                                        ("lgamma", 0.3, 5), ("digamma", 0.3, 5)])
def test_special_gradcheck(name, lo, hi, backend):
    a = np.random.default_rng(5).uniform(lo, hi, 8)
    x = tapegrad.tensor(a, requires_grad=True)
    (g,) = tapegrad.autograd.grad(getattr(tapegrad, name)(x).sum(), x)
    eps = 1e-6
    f = getattr(tapegrad, name)
    num = (_np(f(tapegrad.tensor(a + eps))) - _np(f(tapegrad.tensor(a - eps)))) / (2 * eps)
    np.testing.assert_allclose(_np(g), num, rtol=1e-7, atol=1e-8)


# --- the NumPy fallback of the special functions ------------------------------------------------
def _fallback_grid() -> np.ndarray:
    rng = np.random.default_rng(11)
    return np.concatenate([rng.uniform(-10, 30, 4000), 10.0 ** rng.uniform(-10, 10, 500),
                           -(10.0 ** rng.uniform(-10, 3, 500)), np.arange(-50, 0) + 0.5,
                           np.array(SPECIAL)])


def _close(a, b, rtol):
    """a equals b to rtol relative, nan and infinities in the same places."""
    assert np.array_equal(np.isnan(a), np.isnan(b))
    inf = np.isinf(b)
    assert np.array_equal(a[inf], b[inf])
    m = np.isfinite(b)
    np.testing.assert_allclose(a[m], b[m], rtol=rtol, atol=0)


@needs_scipy
def test_fallback_erf_erfc():
    x = _fallback_grid()
    x = np.concatenate([x, np.linspace(-6, 6, 1001)])
    _close(special._np_erf(x), scipy_special.erf(x), 1e-15)
    # SciPy's (Cephes') erfc is accurate to ~1e-14 relative up to x = 10 and worse beyond,
    # libm's (the fallback) to ~4e-16: test_erfc_accuracy holds the fallback to 1e-15 against
    # mpmath out to x = 25
    x = x[x < 10]
    _close(special._np_erfc(x), scipy_special.erfc(x), 2e-14)


def test_erfc_accuracy(monkeypatch):
    # the fallback (libm's erfc) to 1e-15 relative, far into the tail
    mpmath = pytest.importorskip("mpmath")
    monkeypatch.setattr(special, "_scipy_special", False)
    x = np.linspace(-6, 25, 621)
    want = np.array([float(mpmath.erfc(mpmath.mpf(v))) for v in x])
    got = _np(tapegrad.erfc(tapegrad.tensor(x, dtype=tapegrad.float64)))
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


@needs_scipy
def test_fallback_erfinv():
    rng = np.random.default_rng(12)
    y = np.concatenate([rng.uniform(-1, 1, 5000), 1 - 10.0 ** -rng.uniform(1, 16, 500),
                        -1 + 10.0 ** -rng.uniform(1, 16, 500), rng.standard_normal(50) * 1e-9,
                        [0.0, -0.0, 1.0, -1.0, 1.5, -2.0, math.nan, math.inf, -math.inf]])
    _close(special._np_erfinv(y), scipy_special.erfinv(y), 2e-15)


@needs_scipy
def test_fallback_lgamma():
    x = _fallback_grid()
    ref = np.where(np.isneginf(x), np.inf, scipy_special.gammaln(x))
    # away from the zeros of lgamma (1, 2 and the negative ones) relative error is meaningful
    scale = np.maximum(np.abs(ref), 1.0)
    r = special._np_lgamma(x)
    assert np.array_equal(np.isnan(r), np.isnan(ref))
    m = np.isfinite(ref)
    assert np.all(np.abs(r[m] - ref[m]) <= 1e-13 * scale[m])
    assert np.array_equal(r[~m & ~np.isnan(ref)], ref[~m & ~np.isnan(ref)])


@needs_scipy
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 7])
def test_fallback_polygamma(n):
    # against tapegrad's SciPy path: SciPy's psi / polygamma on x >= 0, the same reflection
    # formula below 0 (SciPy's own values there lose digits near the poles and at the zeros,
    # and take time growing with -x; test_special_accuracy checks both paths against mpmath)
    x = _fallback_grid()
    ref = special._polygamma_any(n, x, special._scipy_polygamma_pos)
    r = special._np_polygamma(n, x)
    assert np.array_equal(np.isnan(r), np.isnan(ref))
    inf = np.isinf(ref)
    assert np.array_equal(r[inf], ref[inf])
    m = np.isfinite(ref) & np.isfinite(x)
    # relative to the size of the terms: psi^(n) has zeros on the negative axis (and psi one
    # near 1.46), where only absolute accuracy means anything
    scale = np.maximum(np.abs(ref[m]), math.factorial(n) * np.minimum(
        1.0, np.abs(x[m] - np.round(x[m])) ** -(n + 1)) * 1e-3)
    assert np.all(np.abs(r[m] - ref[m]) <= 1e-12 * scale)
    # psi(+inf) = +inf, psi'(+inf) = 0, and PyTorch's nan for higher orders
    want = {0: np.inf, 1: 0.0}.get(n, np.nan)
    np.testing.assert_array_equal(special._np_polygamma(n, np.array([np.inf])), [want])


_ACCURACY_POINTS = [-0.9999999, -1.0000001, -2.5, -100.5, -1e6 + 0.3, -12345.678, -0.5, 1e-8,
                    0.25, 1.4616321449683622, 7.5, 123.25, 1e5 + 0.5]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4])
def test_special_accuracy(n, backend):
    # digamma and polygamma against mpmath (50 digits) where SciPy or PyTorch lose digits:
    # near the negative poles, at negative half-integers and far along the negative axis
    mpmath = pytest.importorskip("mpmath")
    x = np.array(_ACCURACY_POINTS)
    with mpmath.workdps(50):
        want = np.array([float(mpmath.polygamma(n, mpmath.mpf(v))) for v in x])
    got = _np(tapegrad.polygamma(n, tapegrad.tensor(x, dtype=tapegrad.float64)))
    # near the zeros of psi^(n) on the negative axis, absolute accuracy relative to the terms
    terms = math.factorial(max(n, 1)) * np.abs(x - np.round(x)) ** -(n + 1)
    tol = 1e-13 * np.maximum(np.abs(want), np.minimum(terms, 1.0))
    bad = np.abs(got - want) > tol
    assert not bad.any(), (x[bad], got[bad], want[bad])


def test_fallback_known_values(backend):
    f64 = tapegrad.float64
    cases = [
        (tapegrad.erf(tapegrad.tensor([0.5], dtype=f64)), 0.5204998778130465),
        (tapegrad.erfc(tapegrad.tensor([3.0], dtype=f64)), 2.209049699858544e-05),
        (tapegrad.erfinv(tapegrad.tensor([0.5], dtype=f64)), 0.4769362762044699),
        # (1 - 1e-12 as a double; mpmath's erfinv of it)
        (tapegrad.erfinv(tapegrad.tensor([1 - 1e-12], dtype=f64)), 5.042031898572696),
        (tapegrad.lgamma(tapegrad.tensor([0.5], dtype=f64)), 0.5723649429247001),
        (tapegrad.lgamma(tapegrad.tensor([-2.5], dtype=f64)), -0.05624371649767405),
        (tapegrad.digamma(tapegrad.tensor([1.0], dtype=f64)), -0.5772156649015329),
        (tapegrad.digamma(tapegrad.tensor([-0.5], dtype=f64)), 0.03648997397857652),
        (tapegrad.polygamma(1, tapegrad.tensor([1.0], dtype=f64)), math.pi ** 2 / 6),
        (tapegrad.polygamma(2, tapegrad.tensor([1.0], dtype=f64)), -2.4041138063191885),
        (tapegrad.polygamma(3, tapegrad.tensor([0.5], dtype=f64)), math.pi ** 4),
    ]
    for t, want in cases:
        np.testing.assert_allclose(_np(t), [want], rtol=1e-13)


def test_zero_dim_and_empty(backend):
    for shape in ((), (0,), (2, 0)):
        x = tapegrad.full(shape, 0.5, dtype=tapegrad.float64, requires_grad=True)
        for f in (tapegrad.erf, tapegrad.erfc, tapegrad.erfinv, tapegrad.lgamma, tapegrad.digamma,
                  lambda t: tapegrad.polygamma(2, t)):
            y = f(x)
            assert tuple(y.shape) == shape and y.dtype == tapegrad.float64
            (g,) = tapegrad.autograd.grad(y.sum(), x)
            assert tuple(g.shape) == shape
    np.testing.assert_allclose(_np(tapegrad.lgamma(tapegrad.tensor(0.5, dtype=tapegrad.float64))),
                               0.5723649429247001, rtol=1e-15)


def test_float32_results_stay_float32(backend):
    x = tapegrad.tensor([0.25, 0.5])
    for t in (x.erf(), x.erfc(), x.erfinv(), x.lgamma(), x.digamma(), x.polygamma(2)):
        assert t.dtype == tapegrad.float32
    h = tapegrad.tensor([0.25, 0.5], dtype=tapegrad.float16)
    assert h.erf().dtype == tapegrad.float16 and h.polygamma(1).dtype == tapegrad.float16


def test_works_without_scipy():
    # SciPy is optional: with it unimportable, tapegrad imports and the special functions
    # still compute (through the NumPy fallback)
    code = (
        "import sys, math\n"
        "sys.modules['scipy'] = None\n"
        "sys.modules['scipy.special'] = None\n"
        "import tapegrad\n"
        "from tapegrad.ops import special\n"
        "x = tapegrad.tensor([0.5, -1.5], dtype=tapegrad.float64, requires_grad=True)\n"
        "y = x.erf() + x.lgamma() + x.digamma() + x.polygamma(1) + (x / 4).erfinv()\n"
        "y.sum().backward()\n"
        "assert special._scipy_special is False\n"
        "assert abs(x.erf()[0].item() - math.erf(0.5)) < 1e-16\n"
        "assert abs(x.lgamma()[1].item() - math.lgamma(-1.5)) < 1e-15\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"

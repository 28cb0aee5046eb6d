"""isin, bincount, histc, cartesian_prod, block_diag, trapezoid/trapz, cumulative_trapezoid,
cov, corrcoef and combinations against PyTorch: values, dtypes, errors and gradients."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import both, same, same_error, warnings_of

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)
A34 = RNG.standard_normal((3, 4)).tolist()
V5 = RNG.standard_normal(5).tolist()
X5 = np.cumsum(RNG.uniform(0.1, 1.0, 5)).tolist()


# --- isin -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [
    lambda m: m.isin(m.tensor([1, 2, 3]), m.tensor([2.0, 5.0])),
    lambda m: m.isin(m.tensor([[1, 2], [3, 4]]), m.tensor([4, 1])),
    lambda m: m.isin(m.tensor([1, 2, 3]), 2),
    lambda m: m.isin(2, m.tensor([1, 2, 3])),
    lambda m: m.isin(m.tensor([1.5, 2.0, 3.0]), m.tensor([1, 2]), invert=True),
    lambda m: m.isin(m.tensor([1, 2, 3]), m.tensor([3, 2]), assume_unique=True),
    lambda m: m.isin(m.tensor([float("nan"), 1.0]), m.tensor([float("nan"), 1.0])),
    lambda m: m.isin(m.tensor([1.25], dtype=m.float32), m.tensor([1.25], dtype=m.float64)),
])
def test_isin_values(case):
    both(case)


@pytest.mark.parametrize("case", [
    lambda m: m.isin(m.tensor([1, 2, 3]), m.tensor([1 + 0j])),
    lambda m: m.isin(m.tensor([1, 2, 3]), m.tensor([True])),
    lambda m: m.isin(m.tensor([True]), m.tensor([1, 2])),
])
def test_isin_errors(case):
    same_error(case)


# --- bincount -----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [
    lambda m: m.bincount(m.tensor([1, 3, 3, 0])),
    lambda m: m.bincount(m.tensor([1, 3, 3, 0]), minlength=6),
    lambda m: m.bincount(m.tensor([1, 3, 3, 0]), m.tensor([1.0, 2.0, 3.0, 4.5])),
    lambda m: m.bincount(m.tensor([1, 3, 3, 0]), m.tensor([1, 2, 3, 4])),
    lambda m: m.bincount(m.tensor([1, 3, 3, 0]), m.tensor([1, 2, 3, 4], dtype=m.float16)),
    lambda m: m.bincount(m.tensor([1, 3, 3, 0]), m.tensor([1, 2, 3, 4], dtype=m.float64)),
    lambda m: m.bincount(m.tensor([1, 2], dtype=m.uint8), m.tensor([True, False])),
    lambda m: m.bincount(m.tensor([], dtype=m.int64)),
    lambda m: m.tensor([0, 0, 2], dtype=m.int32).bincount(),
])
def test_bincount_values(case):
    both(case)


@pytest.mark.parametrize("case", [
    lambda m: m.bincount(m.tensor([1, 2]), minlength=-1),
    lambda m: m.bincount(m.tensor([-1, 2])),
    lambda m: m.bincount(m.tensor([1.0, 2.0])),
    lambda m: m.bincount(m.tensor([[1, 2]])),
    lambda m: m.bincount(m.tensor([1, 2, 3]), m.tensor([1.0, 2.0])),
    lambda m: m.bincount(m.tensor([True, False])),
])
def test_bincount_errors(case):
    same_error(case)


# --- histc --------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [
    lambda m: m.histc(m.tensor([1.0, 2.0, 1.0]), bins=4, min=0, max=3),
    lambda m: m.histc(m.tensor([2.0, 2.0]), bins=4),
    lambda m: m.histc(m.tensor([], dtype=m.float64), bins=4),
    lambda m: m.histc(m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True), bins=4),
    lambda m: m.tensor([1.0, 2.0, -3.0, 7.0]).histc(3, 0, 5),
    lambda m: m.histc(m.tensor(A34), bins=7),
    lambda m: m.histc(m.tensor(A34, dtype=m.float64), bins=10, min=-1, max=1),
    lambda m: m.histc(m.tensor(np.linspace(0, 1, 101).tolist()), bins=10),
])
def test_histc_values(case):
    both(case)


@pytest.mark.parametrize("case", [
    lambda m: m.histc(m.tensor([1, 2, 3])),
    lambda m: m.histc(m.tensor([1.0, 2.0]), bins=0),
    lambda m: m.histc(m.tensor([1.0, 2.0]), bins=4, min=3, max=0),
    lambda m: m.histc(m.tensor([1.0, float("inf")]), bins=4),
])
def test_histc_errors(case):
    same_error(case)


# --- cartesian_prod / combinations ----------------------------------------------------------------
@pytest.mark.parametrize("case", [
    lambda m: m.cartesian_prod(m.tensor([1, 2]), m.tensor([3, 4, 5])),
    lambda m: m.cartesian_prod(m.tensor([1, 2])),
    lambda m: m.cartesian_prod(m.tensor([1.0, 2.0]), m.tensor([3.0]), m.tensor([4.0, 5.0])),
    lambda m: m.combinations(m.tensor([1, 2, 3, 4])),
    lambda m: m.combinations(m.tensor([1, 2, 3]), r=0),
    lambda m: m.combinations(m.tensor([1, 2, 3]), r=1),
    lambda m: m.combinations(m.tensor([1, 2, 3]), r=3),
    lambda m: m.combinations(m.tensor([1, 2, 3]), r=4),
    lambda m: m.combinations(m.tensor([1, 2, 3]), 2, True),
    lambda m: m.combinations(m.tensor([1.0, 2.0, 3.0]), r=3, with_replacement=True),
    lambda m: m.combinations(m.tensor([]), 2),
])
def test_products_values(case):
    both(case)


@pytest.mark.parametrize("case", [
    lambda m: m.cartesian_prod(m.tensor([1, 2]), m.tensor([3.0])),
    lambda m: m.cartesian_prod(),
    lambda m: m.cartesian_prod(m.ones(2, 2)),
    lambda m: m.cartesian_prod(m.tensor([1, 2]), m.ones(2, 2)),
    lambda m: m.combinations(m.tensor([1, 2, 3]), r=-1),
    lambda m: m.combinations(m.ones(2, 2)),
    lambda m: m.combinations(m.tensor([1, 2]), r=2.0),
    lambda m: m.cartesian_prod(m.ones(2), [1]),
    lambda m: m.block_diag(m.ones(2), 3),
    lambda m: m.histc(m.tensor([1.0, 2.0]), bins=2.5),
    lambda m: m.bincount(m.tensor([1, 2]), minlength=2.5),
])
def test_products_errors(case):
    same_error(case)


# --- block_diag ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [
    lambda m: m.block_diag(),
    lambda m: m.block_diag(m.tensor(2), m.tensor([1, 2]), m.ones(2, 2, dtype=m.float64)),
    lambda m: m.block_diag(m.ones(0, 2), m.ones(2, 0)),
    lambda m: m.block_diag(m.tensor([[1, 2], [3, 4]]), m.tensor([[5]])),
    lambda m: m.block_diag(m.tensor([1 + 2j]), m.tensor([[1.0], [2.0]])),
])
def test_block_diag_values(case):
    both(case)


def test_block_diag_error():
    same_error(lambda m: m.block_diag(m.ones(2), m.ones(2, 2, 2)))


# --- trapezoid / cumulative_trapezoid ------------------------------------------------------------
@pytest.mark.parametrize("case", [
    lambda m: m.trapezoid(m.tensor([1, 2, 3])),
    lambda m: m.trapezoid(m.tensor([1, 2, 3]), dx=2),
    lambda m: m.trapezoid(m.tensor(A34), dx=0.5, dim=0),
    lambda m: m.trapezoid(m.tensor([1, 2, 3]), m.tensor([1, 2, 4])),
    lambda m: m.trapezoid(m.tensor(A34), m.tensor(X5[:4])),
    lambda m: m.trapezoid(m.tensor(A34), m.tensor(X5[:3]), dim=0),
    lambda m: m.trapezoid(m.tensor(A34), m.tensor(A34)),
    lambda m: m.trapezoid(m.tensor(A34), m.tensor([[0.0, 1.0, 3.0, 4.0]])),
    lambda m: m.trapezoid(m.ones(0)),
    lambda m: m.trapezoid(m.ones(2, 0), m.ones(0)),
    lambda m: m.trapz(m.tensor([1, 2, 3]), dx=2),
    lambda m: m.trapezoid(m.tensor([1.0, 2.0, 4.0]), dx=m.tensor(2.5)),
    lambda m: m.trapezoid(m.tensor([1, 2, 3], dtype=m.float64), dx=2),
    lambda m: m.trapezoid(m.tensor([1, 2, 3]), m.tensor([1.0, 2.0, 4.0], dtype=m.float64)),
    lambda m: m.cumulative_trapezoid(m.tensor([1, 2, 3]), dx=2),
    lambda m: m.trapz(m.tensor(A34), m.tensor(X5[:4])),
    lambda m: m.cumulative_trapezoid(m.tensor([1, 2, 3])),
    lambda m: m.cumulative_trapezoid(m.tensor(A34), dx=0.25, dim=0),
    lambda m: m.cumulative_trapezoid(m.tensor([1, 2, 3]), m.tensor([1, 2, 4])),
    lambda m: m.cumulative_trapezoid(m.tensor(A34), m.tensor(A34)),
    lambda m: m.cumulative_trapezoid(m.ones(0)),
    lambda m: m.cumulative_trapezoid(m.ones(2, 0), m.ones(0)),
    lambda m: m.cumulative_trapezoid(m.ones(2, 1), dim=1),
])
def test_trapezoid_values(case):
    both(case)


@pytest.mark.parametrize("case", [
    lambda m: m.trapezoid(m.ones(3), m.ones(2)),
    lambda m: m.trapezoid(m.ones(2, 3), m.ones(3, 3)),
    lambda m: m.trapezoid(m.tensor([True, False])),
    lambda m: m.trapezoid(m.ones(3), m.tensor([True, False, True])),
    lambda m: m.trapezoid(m.ones(3), dim=2),
    lambda m: m.cumulative_trapezoid(m.ones(3), m.ones(2)),
    lambda m: m.trapezoid(m.ones(3), dx=1j),
    lambda m: m.cumulative_trapezoid(m.ones(3), dx=1j),
    lambda m: m.trapz(m.ones(3), dx=1j),
    lambda m: m.trapezoid(m.ones(3), m.ones(3), dx=1.0),
    lambda m: m.trapz(m.ones(3), m.ones(3), dx=1.0),
    lambda m: m.trapezoid(m.ones(3), 2.0),
    lambda m: m.cumulative_trapezoid(m.ones(3), 2.0, dim=0),
])
def test_trapezoid_errors(case):
    same_error(case)


# --- cov / corrcoef -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", [
    lambda m: m.cov(m.tensor([[1, 2, 4], [3, 1, 0]])),
    lambda m: m.cov(m.tensor(A34)),
    lambda m: m.cov(m.tensor(V5)),
    lambda m: m.cov(m.tensor(A34), correction=0),
    lambda m: m.cov(m.tensor(A34), correction=2),
    lambda m: m.cov(m.tensor(A34), fweights=m.tensor([1, 2, 0, 3])),
    lambda m: m.cov(m.tensor(A34), aweights=m.tensor([0.5, 2.0, 1.0, 0.25])),
    lambda m: m.cov(m.tensor(A34), fweights=m.tensor([1, 2, 1, 3]),
                    aweights=m.tensor([0.5, 2.0, 1.0, 0.25], dtype=m.float64)),
    lambda m: m.tensor(A34, dtype=m.float64).cov(correction=0),
    lambda m: m.cov(m.tensor([[1 + 2j, 3 - 1j, 0.5j], [2.0, 1j, -1.0]])),
    lambda m: m.cov(m.tensor([[1, 2, 4], [3, 1, 0]], dtype=m.int32),
                    fweights=m.tensor([1, 2, 3])),
    lambda m: m.cov(m.tensor([[1, 2, 4], [3, 1, 0]]),
                    aweights=m.tensor([1.0, 2.0, 3.0], dtype=m.float64)),
    lambda m: m.cov(m.ones(2, 0)),
    lambda m: m.corrcoef(m.tensor([[1, 2, 4], [3, 1, 0]])),
    lambda m: m.corrcoef(m.tensor(A34)),
    lambda m: m.corrcoef(m.tensor(V5)),
    lambda m: m.tensor(A34, dtype=m.float64).corrcoef(),
    lambda m: m.corrcoef(m.tensor([[1 + 2j, 3 - 1j, 0.5j], [2.0, 1j, -1.0]])),
])
def test_cov_values(case):
    both(case)


def test_cov_degrees_of_freedom_warning():
    ours = warnings_of(lambda: tapegrad.cov(tapegrad.ones(2, 1)))
    theirs = warnings_of(lambda: torch.cov(torch.ones(2, 1)))
    assert ours == [w.split(" (Triggered internally")[0] for w in theirs]
    both(lambda m: m.cov(m.tensor([[1.0], [2.0]]), correction=1))


@pytest.mark.parametrize("case", [
    lambda m: m.cov(m.ones(2, 2, 2)),
    lambda m: m.cov(m.tensor([True])),
    lambda m: m.cov(m.ones(2, 3), fweights=m.ones(3)),
    lambda m: m.cov(m.ones(2, 3), aweights=m.ones(3, dtype=m.long)),
    lambda m: m.cov(m.ones(2, 3), fweights=m.tensor([1, -1, 2])),
    lambda m: m.cov(m.ones(2, 3), aweights=m.tensor([1.0, -1.0, 2.0])),
    lambda m: m.cov(m.ones(2, 3), fweights=m.tensor([0, 0, 0])),
    lambda m: m.cov(m.ones(2, 3), fweights=m.tensor([1, 2])),
    lambda m: m.cov(m.ones(2, 3), aweights=m.ones(1, 3)),
    lambda m: m.cov(m.ones(2, 3), fweights=m.ones(1, 3, dtype=m.long)),
    lambda m: m.corrcoef(m.ones(2, 2, 2)),
])
def test_cov_errors(case):
    same_error(case)


# --- gradients ----------------------------------------------------------------------------------
GRAD_CASES = {
    "cartesian_prod": (lambda m, a, b: m.cartesian_prod(a[0], b[:, 1]), "StackBackward0"),
    "combinations": (lambda m, a, b: m.combinations(a[1], 3), "StackBackward0"),
    "combinations_rep": (lambda m, a, b: m.combinations(b[:, 0], with_replacement=True),
                         "StackBackward0"),
    "block_diag": (lambda m, a, b: m.block_diag(a, b[0], b[1, 1]), "BlockDiagBackward0"),
    "trapezoid_dx": (lambda m, a, b: m.trapezoid(a, dx=0.5), "MulBackward1"),
    "trapezoid": (lambda m, a, b: m.trapezoid(a), "MulBackward1"),
    "trapz": (lambda m, a, b: m.trapz(a, dx=2.0, dim=0), "MulBackward1"),
    "trapezoid_x": (lambda m, a, b: m.trapezoid(a, b[1].exp().cumsum(0), dim=0), "DivBackward1"),
    "cumtrapz_dx": (lambda m, a, b: m.cumulative_trapezoid(a, dx=1.5), "CumsumBackward0"),
    "cumtrapz_x": (lambda m, a, b: m.cumulative_trapezoid(a, b[:, 0].exp().cumsum(0)),
                   "DivBackward1"),
    "cov": (lambda m, a, b: m.cov(a), "SqueezeBackward0"),
    "cov_w": (lambda m, a, b: m.cov(a, fweights=m.tensor([1, 2, 1, 3]),
                                    aweights=m.tensor([0.5, 2.0, 1.0, 0.25], dtype=m.float64)),
              "SqueezeBackward0"),
    "cov_1d": (lambda m, a, b: a[0].cov(), "SqueezeBackward0"),
    "corrcoef": (lambda m, a, b: m.corrcoef(a), "ClampBackward1"),
    "corrcoef_1d": (lambda m, a, b: a[1].corrcoef(), "DivBackward0"),
}


@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_gradients_match_torch(name):
    fn, node = GRAD_CASES[name]
    b_vals = RNG.standard_normal((4, 3)).tolist()

    def prog(m):
        a = m.tensor(A34, dtype=m.float64, requires_grad=True)
        b = m.tensor(b_vals, dtype=m.float64, requires_grad=True)
        out = fn(m, a, b)
        w = m.tensor(np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape)).tolist(),
                     dtype=m.float64)
        ga, gb = m.autograd.grad((out * w).sum(), (a, b), allow_unused=True)
        return out, type(out.grad_fn).__name__, ga, gb

    ours = both(prog)
    assert ours[1] == node
    a = tapegrad.tensor(A34, dtype=tapegrad.float64, requires_grad=True)
    b = tapegrad.tensor(b_vals, dtype=tapegrad.float64, requires_grad=True)
    assert tapegrad.autograd.gradcheck(lambda a, b: fn(tapegrad, a, b), (a, b))
    assert tapegrad.autograd.gradgradcheck(lambda a, b: fn(tapegrad, a, b), (a, b))


def test_forward_ad_block_diag_and_trapezoid():
    import tapegrad.autograd.forward_ad as fwad

    a = tapegrad.tensor(A34, dtype=tapegrad.float64)
    t = tapegrad.tensor(RNG.standard_normal((3, 4)).tolist(), dtype=tapegrad.float64)
    ta, tt = torch.tensor(A34, dtype=torch.float64), torch.tensor(t.tolist(), dtype=torch.float64)
    for f in (lambda m, x: m.block_diag(x, x[0]), lambda m, x: m.trapezoid(x, dx=0.3),
              lambda m, x: m.cov(x)):
        with fwad.dual_level():
            ours = fwad.unpack_dual(f(tapegrad, fwad.make_dual(a, t))).tangent
        with torch.autograd.forward_ad.dual_level():
            theirs = torch.autograd.forward_ad.unpack_dual(
                f(torch, torch.autograd.forward_ad.make_dual(ta, tt))).tangent
        same(ours, theirs)


def test_methods_bound():
    for name in ("bincount", "histc", "cov", "corrcoef"):
        assert hasattr(tapegrad.Tensor, name)
    for name in ("isin", "cartesian_prod", "block_diag", "trapezoid", "trapz",
                 "cumulative_trapezoid", "combinations"):
        assert hasattr(tapegrad.Tensor, name) == hasattr(torch.Tensor, name)

"""LU (lu_factor, lu, lu_solve, lu_unpack, torch.lu, triangular_solve), eig / eigvals, cond,
tensorinv / tensorsolve, vander, Householder products, geqrf and the removed torch-level
functions: what the op table (tests/op_db/gaps_linalg.py) does not cover: error messages,
warnings, return types, singular and empty inputs, complex inputs and the backward passes
PyTorch refuses."""

# ruff: noqa: N803, N806  (PyTorch's argument names: A, B, LU)
from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad
import tapegrad.linalg  # noqa: F401
from _helpers import both, error

torch = pytest.importorskip("torch")

_R = np.random.default_rng(0)
_A = _R.standard_normal((3, 3))
_AB = _R.standard_normal((2, 3, 3))
_B = _R.standard_normal((3, 2))
_C = _R.standard_normal((3, 3)) + 1j * _R.standard_normal((3, 3))
_SING = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 1.0, 1.0]])
_W24 = _R.standard_normal((2, 4))
_T42 = _R.standard_normal((4, 2))
_T43 = _R.standard_normal((4, 3))
_B234 = _R.standard_normal((2, 3, 4))


def _t(m, a, dtype=None, rg=False):
    t = m.tensor(a)
    if dtype is not None:
        t = t.to(getattr(m, dtype))
    return t.requires_grad_(rg) if rg else t


def same_error(fn) -> None:
    """fn(m) raises the same message in both libraries ('tapegrad.' for 'torch.'), and an
    exception of the same kind (PyTorch's _LinAlgError is tapegrad.linalg.LinAlgError)."""
    ours = error(lambda: fn(tapegrad))
    theirs = error(lambda: fn(torch))
    kind = {"_LinAlgError": "LinAlgError"}.get(theirs[0], theirs[0])
    assert ours == (kind, theirs[1].replace("torch.", "tapegrad.")), (ours, theirs)


def _quiet(fn):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


# --- LU ------------------------------------------------------------------------------------
def test_lu_return_types_and_reprs():
    both(lambda m: repr(m.linalg.lu_factor(_t(m, _A, "float32"))))
    both(lambda m: repr(m.linalg.lu_factor_ex(_t(m, _AB))))
    both(lambda m: repr(m.linalg.lu(_t(m, _W24, "float32"))))
    both(lambda m: repr(m.lu_unpack(*m.linalg.lu_factor(_t(m, _A)))))
    both(lambda m: repr(_quiet(lambda: m.lu(_t(m, _SING, "float32"), get_infos=True))))
    both(lambda m: _quiet(lambda: m.lu(_t(m, _SING, "float32"))))
    both(lambda m: type(_quiet(lambda: m.lu(_t(m, _A)))).__name__)
    both(lambda m: repr(_quiet(lambda: m.triangular_solve(_t(m, _B), _t(m, _A)))))


def test_lu_singular_and_complex():
    # LAPACK's info: the first exactly zero pivot; zero columns keep their pivot row
    both(lambda m: m.linalg.lu_factor_ex(m.zeros(2, 3, 3)))
    both(lambda m: m.linalg.lu(_t(m, _SING)))
    both(lambda m: m.linalg.lu_factor_ex(_t(m, np.array([[0.0, 1.0], [0.0, 2.0]]))))
    both(lambda m: m.linalg.lu_factor(_t(m, _C)))
    both(lambda m: m.linalg.lu(_t(m, _C[:2])))

    def solve(m):
        LU, piv = m.linalg.lu_factor(_t(m, _C))
        B = _t(m, _C[:, :2] * 2)
        return (m.linalg.lu_solve(LU, piv, B), m.linalg.lu_solve(LU, piv, B, adjoint=True),
                m.linalg.lu_solve(LU, piv, B.mT, left=False))

    both(solve)


def test_lu_complex_gradients():
    def prog(m):
        A = _t(m, _C, rg=True)
        P, L, U = m.linalg.lu(A)
        loss = (L * L.conj()).sum().real + (U * U).sum().real
        return m.autograd.grad(loss, A)

    both(prog, atol=1e-8)


def test_lu_methods():
    def prog(m):
        A = _t(m, _A)
        return (_quiet(lambda: A.lu(get_infos=True)),
                _quiet(lambda: _t(m, _B).lu_solve(*m.linalg.lu_factor(A))),
                _quiet(lambda: _t(m, _B).triangular_solve(A, False, True, True)))

    both(prog)


_WARN_PROG = """
import sys, warnings
m = __import__(sys.argv[1])
A, B = m.eye(3) * 2, m.ones(3, 2)
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    m.lu(A), m.lu(A)
    m.lu_solve(B, *m.linalg.lu_factor(A)), B.lu_solve(*m.linalg.lu_factor(A))
    m.triangular_solve(B, A), B.triangular_solve(A)
print(repr([str(x.message).split(" (Triggered internally at")[0] for x in w]))
"""


def test_lu_deprecation_warnings_once_per_process():
    # PyTorch warns once per process (TORCH_WARN_ONCE): each check runs in a fresh one
    import subprocess
    import sys

    def run(name):
        res = subprocess.run([sys.executable, "-c", _WARN_PROG, name], capture_output=True,
                             text=True, check=True)
        return res.stdout.strip()

    ours, theirs = run("tapegrad"), run("torch")
    assert ours == theirs.replace("torch.", "tapegrad.")
    assert ours.count("deprecated") == 3


def test_lu_unpack_partial():
    both(lambda m: m.lu_unpack(*m.linalg.lu_factor(_t(m, _A)), unpack_data=False))
    both(lambda m: m.lu_unpack(*m.linalg.lu_factor(_t(m, _A)), unpack_pivots=False))
    both(lambda m: m.lu_unpack(*m.linalg.lu_factor_ex(_t(m, _T42))[:2]))
    both(lambda m: m.lu_unpack(_t(m, _A), m.tensor([3, 3, 3], dtype=m.int32)))


def _lu(m, a=_A):
    return m.linalg.lu_factor(_t(m, a, "float32"))


_LU_ERRORS = [
    lambda m: m.linalg.lu_factor(_t(m, _SING, "float32")),
    lambda m: m.linalg.lu_factor(m.zeros(2, 3, 3)),
    lambda m: m.linalg.lu_factor_ex(m.zeros(2, 3, 3), check_errors=True),
    lambda m: m.linalg.lu_factor(m.eye(3), pivot=False),
    lambda m: m.linalg.lu(m.eye(3), pivot=False),
    lambda m: m.linalg.lu_factor(m.eye(3, dtype=m.int64)),
    lambda m: m.linalg.lu(m.eye(3, dtype=m.int64)),
    lambda m: m.linalg.lu_factor(m.ones(3)),
    lambda m: m.linalg.lu(m.ones(3)),
    lambda m: m.linalg.lu_factor(m.ones(2, 3)),
    lambda m: m.linalg.lu_solve(*_lu(m), m.ones(3)),
    lambda m: m.linalg.lu_solve(*_lu(m), m.ones(4, 2)),
    lambda m: m.linalg.lu_solve(*_lu(m), m.ones(2, 4), left=False),
    lambda m: m.linalg.lu_solve(_lu(m)[0], _lu(m)[1].long(), m.ones(3, 2)),
    lambda m: m.linalg.lu_solve(_lu(m)[0], _lu(m)[1][:2], m.ones(3, 2)),
    lambda m: m.linalg.lu_solve(_lu(m)[0][:2], _lu(m)[1], m.ones(3, 2)),
    lambda m: m.linalg.lu_solve(*_lu(m), m.ones(3, 2, dtype=m.float64)),
    lambda m: m.linalg.lu_solve(_lu(m)[0].expand(2, 3, 3), _lu(m)[1], m.ones(2, 3, 2)),
    lambda m: m.lu_unpack(_lu(m)[0], _lu(m)[1].long()),
    lambda m: m.lu_unpack(_lu(m)[0][0], _lu(m)[1]),
    lambda m: m.lu_unpack(_lu(m)[0], m.tensor([4, 3, 3], dtype=m.int32)),
    lambda m: m.lu_unpack(_lu(m)[0], m.tensor([0, 3, 3], dtype=m.int32)),
    lambda m: _quiet(lambda: m.lu(m.eye(3), pivot=False)),
    lambda m: _quiet(lambda: m.triangular_solve(m.ones(3), m.eye(3))),
    lambda m: _quiet(lambda: m.triangular_solve(m.ones(4, 2), m.eye(3))),
    lambda m: _quiet(lambda: m.triangular_solve(m.ones(3, 2), m.ones(3, 4))),
    lambda m: _quiet(lambda: m.triangular_solve(m.ones(3, 2, dtype=m.float64), m.eye(3))),
    lambda m: _quiet(lambda: m.triangular_solve(m.ones(3, 2, dtype=m.int32),
                                                m.eye(3, dtype=m.int32))),
]


@pytest.mark.parametrize("k", range(len(_LU_ERRORS)))
def test_lu_errors(k):
    same_error(_LU_ERRORS[k])


# --- eig -----------------------------------------------------------------------------------
def test_eig_values_types_and_edge_cases():
    both(lambda m: m.linalg.eigvals(_t(m, _A)))
    both(lambda m: m.linalg.eigvals(_t(m, _AB, "float32")), atol=1e-5)
    both(lambda m: m.linalg.eigvals(_t(m, _C)))
    both(lambda m: m.linalg.eig(m.zeros(2, 0, 0)))
    both(lambda m: m.linalg.eigvals(m.zeros(0, 0)))
    both(lambda m: m.linalg.eigvals(_t(m, np.array([[1.0, math.inf], [0.0, 1.0]]))))
    both(lambda m: type(m.linalg.eig(_t(m, _A))).__name__)

    # eigenvectors (float64) as PyTorch's; in general only up to a phase per column
    def vectors(m):
        L, V = m.linalg.eig(_t(m, _A))
        return V * V.conj(), (V * L.unsqueeze(-2)) @ m.linalg.inv(V)

    both(vectors)


def test_eig_complex_input_gradients():
    def prog(m):
        A = _t(m, _C, rg=True)
        L, V = m.linalg.eig(A)
        loss = (L * L).sum().real + (V[0] / V[1]).abs().sum()
        return m.autograd.grad(loss, A)

    both(prog, atol=1e-8)


def test_eig_phase_dependent_loss_is_refused():
    def prog(m):
        A = _t(m, _C, rg=True)
        V = m.linalg.eig(A)[1]
        try:
            m.autograd.grad(V.sum().real, A)
        except RuntimeError as e:
            return str(e)
        return None

    assert both(prog) is not None


_EIG_ERRORS = [
    lambda m: m.linalg.eig(m.ones(2, 3)),
    lambda m: m.linalg.eig(m.ones(3)),
    lambda m: m.linalg.eig(m.ones(2, 2, dtype=m.int64)),
    lambda m: m.linalg.eig(m.tensor([[1.0, math.nan], [0.0, 1.0]])),
    lambda m: m.linalg.eigvals(m.ones(2, 3)),
]


@pytest.mark.parametrize("k", range(len(_EIG_ERRORS)))
def test_eig_errors(k):
    same_error(_EIG_ERRORS[k])


# --- cond / tensorinv / tensorsolve / vander -----------------------------------------------
@pytest.mark.parametrize("p", [None, "fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf, 1.0])
def test_cond_values(p):
    both(lambda m: m.linalg.cond(_t(m, _AB, "float32"), p), atol=1e-5, rtol=1e-4)
    both(lambda m: m.linalg.cond(_t(m, _C), p))


def test_cond_singular_and_empty():
    both(lambda m: m.linalg.cond(m.zeros(2, 2)))
    both(lambda m: m.linalg.cond(m.zeros(2, 2), "fro"))
    both(lambda m: m.linalg.cond(m.zeros(2, 2), 1))
    both(lambda m: m.linalg.cond(m.zeros(2, 2), -2))
    both(lambda m: m.linalg.cond(m.zeros(0, 0)))
    both(lambda m: m.linalg.cond(m.zeros(2, 0, 0), "fro"))
    both(lambda m: m.linalg.cond(m.zeros(3, 0), 2))


@pytest.mark.parametrize("p", ["fro", 1, -math.inf])
def test_cond_norm_backward_refused_as_in_pytorch(p):
    # PyTorch fills the inverse's singular entries in place after saving it: its backward
    # then refuses (a version-counter error); tapegrad does the same
    def prog(m):
        A = _t(m, _A, rg=True)
        out = m.linalg.cond(A, p)
        try:
            out.backward()
        except RuntimeError as e:
            return out.grad_fn.name(), str(e)
        return None

    assert both(prog) is not None


_COND_ERRORS = [
    lambda m: m.linalg.cond(m.ones(3, 4), "fro"),
    lambda m: m.linalg.cond(m.ones(3, 4), 1),
    lambda m: m.linalg.cond(m.ones(3, 4), 1.0),
    lambda m: m.linalg.cond(m.ones(3, 4), math.inf),
    lambda m: m.linalg.cond(m.ones(3, 4), 3),
    lambda m: m.linalg.cond(m.ones(3, 3), 2.5),
    lambda m: m.linalg.cond(m.ones(3, 3), "foo"),
    lambda m: m.linalg.cond(m.ones(3)),
    lambda m: m.linalg.cond(m.ones(3, 0), "fro"),
    lambda m: m.linalg.cond(m.eye(3, dtype=m.int64)),
    lambda m: m.linalg.cond(m.eye(3, dtype=m.int64), "fro"),
    lambda m: m.linalg.tensorinv(m.ones(4, 6, 8, 3), ind=-1),
    lambda m: m.linalg.tensorinv(m.zeros(2, 2, 2, 2), ind=2),
    lambda m: m.linalg.tensorinv(m.ones(2, 3), ind=1),
    lambda m: m.linalg.tensorinv(m.ones(2, 2, dtype=m.int32), ind=1),
    lambda m: m.linalg.tensorsolve(m.ones(6, 4, 2, 3), m.ones(6, 4)),
    lambda m: m.linalg.tensorsolve(m.zeros(6, 6), m.ones(6)),
    lambda m: m.linalg.tensorsolve(m.ones(6, 6), m.ones(6, dtype=m.float64)),
    lambda m: m.linalg.vander(m.tensor([1.0, 2.0]), N=1),
    lambda m: m.linalg.vander(m.tensor(2.0)),
    lambda m: m.linalg.vander(m.tensor([True, False])),
    lambda m: m.vander(m.ones(2, 3)),
    lambda m: m.vander(m.ones(3), -1),
]


@pytest.mark.parametrize("k", range(len(_COND_ERRORS)))
def test_cond_tensorinv_vander_errors(k):
    same_error(_COND_ERRORS[k])


def test_vander_values():
    both(lambda m: m.linalg.vander(m.tensor([1, 2, 3], dtype=m.int32), N=4))
    both(lambda m: m.linalg.vander(m.tensor([1, 2], dtype=m.uint8)))
    both(lambda m: m.linalg.vander(m.tensor(2.0), N=3))
    both(lambda m: m.linalg.vander(m.tensor([], dtype=m.float64), N=3))
    both(lambda m: m.vander(m.tensor([1, 2, 3])))
    both(lambda m: m.vander(m.tensor([True, False]), 3))
    both(lambda m: m.vander(m.tensor([0.5, 2.0], dtype=m.float64), 4, increasing=True))
    both(lambda m: m.vander(m.tensor([], dtype=m.float64)))
    both(lambda m: m.vander(m.tensor([1.0, 2.0]), N=0))


def test_vander_backward_refused_as_in_pytorch():
    # torch.vander writes a cumulative product into a view it saved: its backward refuses
    def prog(m):
        x = m.tensor([0.5, -1.2, 2.0], dtype=m.float64, requires_grad=True)
        out = m.vander(x)
        try:
            m.autograd.grad(out.sum(), x)
        except RuntimeError as e:
            return out.grad_fn.name().rsplit("::", 1)[-1], str(e)
        return None

    assert both(prog) is not None


# --- Householder products / geqrf ----------------------------------------------------------
def test_geqrf_values():
    both(lambda m: repr(m.geqrf(_t(m, _T43, "float32"))), atol=1e-5)
    both(lambda m: m.geqrf(_t(m, _B234)))
    both(lambda m: m.geqrf(_t(m, _C)))
    both(lambda m: _t(m, _A).geqrf())

    # Q R = A with Q from the reflectors
    def qr(m):
        a, tau = m.geqrf(_t(m, _A))
        return m.linalg.householder_product(a, tau) @ a.triu(), _t(m, _A).orgqr(tau).shape

    both(qr)


def test_geqrf_has_no_derivative():
    def prog(m):
        A = _t(m, _A, rg=True)
        a, tau = m.geqrf(A)
        try:
            m.autograd.grad(a.sum(), A)
        except NotImplementedError as e:
            return a.grad_fn.name(), str(e)
        return None

    assert both(prog) is not None


def test_ormqr_method_and_complex():
    def prog(m):
        a, tau = m.geqrf(_t(m, _C))
        c = _t(m, _C[:, :2])
        return a.ormqr(tau, c), a.ormqr(tau, c.mT, left=False, transpose=True)

    both(prog)


def _hh(m, a_shape=(4, 3), k=2):
    return m.ones(*a_shape, dtype=m.float64), m.ones(*a_shape[:-2], k, dtype=m.float64)


_HH_ERRORS = [
    lambda m: m.linalg.householder_product(*_hh(m, (4, 3), 4)),
    lambda m: m.linalg.householder_product(m.ones(3, 4), m.ones(2)),
    lambda m: m.linalg.householder_product(m.ones(4), m.ones(2)),
    lambda m: m.linalg.householder_product(m.ones(4, 3, dtype=m.float64), m.ones(2)),
    lambda m: m.linalg.householder_product(m.ones(4, 3), m.tensor(1.0)),
    lambda m: m.linalg.householder_product(m.ones(2, 4, 3), m.ones(2)),
    lambda m: m.linalg.householder_product(m.ones(2, 4, 3), m.ones(3, 2)),
    lambda m: m.linalg.householder_product(m.ones(4, 3, dtype=m.int32),
                                           m.ones(2, dtype=m.int32)),
    lambda m: m.geqrf(m.ones(3)),
    lambda m: m.geqrf(m.ones(3, 3, dtype=m.int32)),
    lambda m: m.ormqr(m.ones(4, 3), m.ones(2), m.ones(4, 2)),
    lambda m: m.ormqr(m.ones(4, 3), m.ones(3), m.ones(3, 2)),
    lambda m: m.ormqr(m.ones(4, 3), m.ones(3), m.ones(2, 4)),
    lambda m: m.ormqr(m.ones(4, 3), m.ones(3), m.ones(2, 3), left=False),
    lambda m: m.ormqr(m.ones(4, 3), m.ones(4), m.ones(4, 2)),
    lambda m: m.ormqr(m.ones(4), m.ones(3), m.ones(4, 2)),
    lambda m: m.ormqr(m.ones(4, 3), m.ones(3), m.ones(4)),
]


@pytest.mark.parametrize("k", range(len(_HH_ERRORS)))
def test_householder_errors(k):
    same_error(_HH_ERRORS[k])


# --- removed functions / names -------------------------------------------------------------
_REMOVED = [
    lambda m: m.eig(m.eye(2)),
    lambda m: m.symeig(m.eye(2)),
    lambda m: m.matrix_rank(m.eye(2)),
    lambda m: m.lstsq(m.eye(2), m.eye(2)),
    lambda m: m.solve(m.eye(2), m.eye(2)),
    lambda m: m.eye(2).eig(),
    lambda m: m.eye(2).symeig(),
    lambda m: m.eye(2).lstsq(m.eye(2)),
    lambda m: m.eye(2).solve(m.eye(2)),
]


@pytest.mark.parametrize("k", range(len(_REMOVED)))
def test_removed_functions(k):
    same_error(_REMOVED[k])


def test_linalg_names():
    names = [n for n in dir(torch.linalg) if not n.startswith("_") and n != "common_notes"]
    missing = sorted(n for n in names if not hasattr(tapegrad.linalg, n))
    assert missing == [], missing
    both(lambda m: m.linalg.matmul(m.ones(2, 3), m.ones(3)))


# --- LDL -----------------------------------------------------------------------------------
def _sym_cases():
    rng = np.random.default_rng(7)
    out = []
    for n in (1, 2, 3, 5, 6):
        a = rng.standard_normal((n, n))
        out.append(a + a.T)  # indefinite: 1x1 and 2x2 pivots, with and without swaps
        b = a + a.T
        np.fill_diagonal(b, 0.01 * rng.standard_normal(n))
        out.append(b)
    c = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
    out.append(c + c.T)  # complex symmetric
    out.append(np.array([[0.0, 1.0], [1.0, 0.0]]))
    out.append(np.array([[1.0, 2.0], [2.0, 1.0]]))
    return out


_SYM = _sym_cases()


@pytest.mark.parametrize("k", range(len(_SYM)))
def test_ldl_factor_and_solve(k):
    a = _SYM[k]
    rhs = np.random.default_rng(k).standard_normal((a.shape[0], 2)).astype(a.dtype)

    def prog(m):
        LD, piv, info = m.linalg.ldl_factor_ex(m.tensor(a))
        return LD, piv, info, m.linalg.ldl_solve(LD, piv, m.tensor(rhs))

    both(prog, atol=1e-8)


def test_ldl_batches_types_and_singular():
    both(lambda m: repr(m.linalg.ldl_factor(m.tensor(np.stack(_SYM[4:6]), dtype=m.float32))),
         atol=1e-5)
    both(lambda m: m.linalg.ldl_factor_ex(m.zeros(2, 3, 3)))

    def refused(m):
        A = m.tensor(_SYM[8], requires_grad=True)
        LD, piv = m.linalg.ldl_factor(A)
        B = m.ones(6, 1, dtype=m.float64, requires_grad=True)
        X = m.linalg.ldl_solve(LD, piv, B)
        msgs = []
        for t in (LD, X):
            try:
                t.sum().backward()
            except RuntimeError as e:
                msgs.append(str(e))
        return LD.grad_fn.name().rsplit("::", 1)[-1], X.grad_fn.name().rsplit("::", 1)[-1], msgs

    assert len(both(refused)[2]) == 2


_LDL_ERRORS = [
    lambda m: m.linalg.ldl_factor(m.zeros(3, 3)),
    lambda m: m.linalg.ldl_factor_ex(m.zeros(2, 3, 3), check_errors=True),
    lambda m: m.linalg.ldl_factor(m.ones(2, 3)),
    lambda m: m.linalg.ldl_factor(m.ones(3)),
    lambda m: m.linalg.ldl_factor(m.ones(3, 3, dtype=m.int64)),
    lambda m: m.linalg.ldl_solve(*m.linalg.ldl_factor(m.eye(4, dtype=m.float64)), m.ones(4, 2)),
    lambda m: m.linalg.ldl_solve(m.linalg.ldl_factor(m.eye(4, dtype=m.float64))[0],
                                 m.linalg.ldl_factor(m.eye(4, dtype=m.float64))[1][:3],
                                 m.ones(4, 2, dtype=m.float64)),
]


@pytest.mark.parametrize("k", range(len(_LDL_ERRORS)))
def test_ldl_errors(k):
    same_error(_LDL_ERRORS[k])


def test_ldl_hermitian_complex_not_yet_supported():
    a = tapegrad.tensor([[1.0, 2j], [-2j, 1.0]])
    with pytest.raises(NotImplementedError, match="not yet supported"):
        tapegrad.linalg.ldl_factor(a, hermitian=True)


@pytest.mark.parametrize("module", ["linalg_lu", "linalg_eig", "linalg_gaps", "linalg_ldl",
                                    "linalg_legacy"])
def test_docstring_examples(module):
    import doctest
    import importlib

    mod = importlib.import_module(f"tapegrad.ops.{module}")
    res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0

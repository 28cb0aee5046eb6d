"""tapegrad.linalg and the linear-algebra ops beyond what the op table covers (error messages
are in test_linalg_errors.py): LinAlgError and the *_ex info outputs, singular and
non-positive-definite inputs, return types, modes that are not differentiable, deprecation
warnings, views and in-place variants, complex gradients, and the least-squares / rank
conventions. Values are compared with torch.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tapegrad
import tapegrad.linalg
from _helpers import both, same, to_numpy
from test_linalg_errors import A3, NPD, SING, SPD3, same_error, t

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(1234)


def test_linalg_error_class():
    assert issubclass(tapegrad.linalg.LinAlgError, RuntimeError)
    with pytest.raises(tapegrad.linalg.LinAlgError):
        tapegrad.linalg.inv(t(tapegrad, SING))
    with pytest.raises(RuntimeError):
        tapegrad.linalg.cholesky(t(tapegrad, NPD))


# --- the *_ex functions: info and partial results ------------------------------------------
def test_inv_ex_info():
    def prog(m):
        r = m.linalg.inv_ex(t(m, np.stack([np.eye(3), SING, A3])))
        return r.info, r.inverse[0], r.inverse[2]

    both(prog)
    r = tapegrad.linalg.inv_ex(t(tapegrad, SING))
    assert r.info.item() == 3 and r.info.dtype is tapegrad.int32
    assert not np.isfinite(r.inverse.numpy()).all()


def test_solve_ex_info():
    both(lambda m: m.linalg.solve_ex(t(m, np.stack([SING, A3])), t(m, np.ones((2, 3)))).info)
    both(lambda m: m.linalg.solve_ex(t(m, A3), t(m, np.ones(3))))


def test_cholesky_ex_info_and_partial_factor():
    both(lambda m: m.linalg.cholesky_ex(t(m, [[1.0, 2.0], [2.0, 1.0]])))
    both(lambda m: m.linalg.cholesky_ex(t(m, NPD)))
    both(lambda m: m.linalg.cholesky_ex(t(m, np.stack([SPD3, NPD]))).info)
    with pytest.raises(tapegrad.linalg.LinAlgError, match="Batch element 1"):
        tapegrad.linalg.cholesky_ex(t(tapegrad, np.stack([SPD3, NPD])), check_errors=True)


# --- singular inputs -----------------------------------------------------------------------
def test_det_of_singular_matrix_gradient():
    """At a singular matrix the gradient is the cofactor matrix, from the SVD. (PyTorch gives
    it only when differentiating with create_graph=True; its first-order shortcut returns
    det * A^{-H} = 0 there, which is not the derivative: checked here by central differences.)
    """
    def prog(m):
        x = t(m, SING, grad=True)
        d = m.linalg.det(x)
        return d, m.autograd.grad(d, x, create_graph=True)[0].detach()

    _, g = both(prog, atol=1e-9)
    eps = 1e-6
    num = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            e = np.zeros((3, 3))
            e[i, j] = eps
            num[i, j] = (np.linalg.det(SING + e) - np.linalg.det(SING - e)) / (2 * eps)
    np.testing.assert_allclose(to_numpy(g), num, atol=1e-8)
    x = t(tapegrad, SING, grad=True)
    g1, = tapegrad.autograd.grad(tapegrad.linalg.det(x), x)
    np.testing.assert_allclose(to_numpy(g1), num, atol=1e-8)

    def batch(m):
        x = t(m, np.stack([SING, A3, np.zeros((3, 3))]), grad=True)
        d = m.linalg.det(x)
        return d, m.autograd.grad(d.sum(), x, create_graph=True)[0].detach()

    both(batch, atol=1e-9)


def test_det_singular_double_backward():
    def prog(m):
        x = t(m, np.array([[1.0, 2.0], [3.0, 6.0]]), grad=True)
        g, = m.autograd.grad(m.linalg.det(x), x, create_graph=True)
        return m.autograd.grad((g * g).sum(), x)[0]

    both(prog, atol=1e-9)


def test_slogdet_and_logdet_of_singular_and_negative():
    both(lambda m: m.linalg.slogdet(t(m, SING)))
    both(lambda m: m.logdet(t(m, [[0.0, 1.0], [1.0, 0.0]])))  # negative determinant: nan
    both(lambda m: m.logdet(t(m, SING)))


# --- return types --------------------------------------------------------------------------
RETURNS = {
    "linalg_slogdet": lambda m, a: m.linalg.slogdet(a),
    "slogdet": lambda m, a: m.slogdet(a),
    "linalg_inv_ex": lambda m, a: m.linalg.inv_ex(a),
    "linalg_solve_ex": lambda m, a: m.linalg.solve_ex(a, a),
    "linalg_cholesky_ex": lambda m, a: m.linalg.cholesky_ex(a),
    "linalg_qr": lambda m, a: m.linalg.qr(a),
    "qr": lambda m, a: m.qr(a),
    "linalg_eigh": lambda m, a: m.linalg.eigh(a),
    "linalg_svd": lambda m, a: m.linalg.svd(a),
    "svd": lambda m, a: m.svd(a),
    "linalg_lstsq": lambda m, a: m.linalg.lstsq(a, a),
}


@pytest.mark.parametrize("name", list(RETURNS))
def test_return_types(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = RETURNS[name](tapegrad, t(tapegrad, SPD3))
        theirs = RETURNS[name](torch, t(torch, SPD3))
    assert type(ours).__name__ == type(theirs).__name__ == name
    assert type(ours) is getattr(tapegrad.return_types, name)
    assert type(ours).__match_args__ == type(theirs).__match_args__
    assert repr(ours).startswith(f"tapegrad.return_types.{name}(\n")


def test_torch_svd_without_uv():
    def prog(m):
        x = t(m, A3, grad=True)
        U, s, V = m.svd(x, compute_uv=False)
        return U, s, V, m.autograd.grad(s.sum(), x)[0]

    both(prog)
    both(lambda m: m.svd(t(m, RNG.standard_normal((4, 2))), compute_uv=False)[0].shape)


def test_qr_mode_r_and_complete_not_differentiable():
    def r_only(m):
        x = t(m, A3, grad=True)
        q, r = m.linalg.qr(x, mode="r")
        assert q.shape == (0,) and q.requires_grad
        return r

    both(r_only)
    same_error(lambda m: m.linalg.qr(t(m, A3, grad=True), mode="r").R.sum().backward())
    same_error(lambda m: m.linalg.qr(t(m, RNG.standard_normal((4, 3)), grad=True),
                                     mode="complete").R.sum().backward())
    # a wide matrix's complete QR is its reduced QR: differentiable
    wide = RNG.standard_normal((3, 4))

    def complete(m):
        x = t(m, wide, grad=True)
        q, r = m.linalg.qr(x, mode="complete")
        return q, r, m.autograd.grad(r.sum() + q.sum(), x)[0]

    both(complete)


def test_eigvalsh_and_svdvals_values_do_not_depend_on_grad_mode():
    x = t(tapegrad, SPD3, grad=True)
    with_graph = tapegrad.linalg.eigvalsh(x)
    with tapegrad.no_grad():
        without = tapegrad.linalg.eigvalsh(x)
    assert with_graph.grad_fn.name() == "LinalgEighBackward0" and without.grad_fn is None
    np.testing.assert_array_equal(with_graph.detach().numpy(), without.numpy())
    s = tapegrad.linalg.svdvals(x)
    with tapegrad.no_grad():
        s0 = tapegrad.linalg.svdvals(x)
    np.testing.assert_array_equal(s.detach().numpy(), s0.numpy())


def test_eigh_gradient_of_unsymmetric_input_matches_torch():
    """eigh reads one triangle; its gradient is PyTorch's (symmetric) one either way."""
    a = RNG.standard_normal((3, 3))

    def prog(m, uplo):
        x = t(m, a, grad=True)
        L, V = m.linalg.eigh(x, UPLO=uplo)
        return L, V.abs(), m.autograd.grad((L * L).sum() + (V ** 4).sum(), x)[0]

    both(lambda m: prog(m, "L"))
    both(lambda m: prog(m, "U"))


# --- warnings ------------------------------------------------------------------------------
_DEPRECATED = {
    "cholesky": "m.cholesky(m.eye(2))",
    "chain_matmul": "m.chain_matmul(m.eye(2), m.eye(2))",
    "cross": "m.cross(m.ones(3, 2), m.ones(3, 2))",
}


def _torch_warnings() -> dict:
    """torch's deprecation messages, each from a fresh process (torch warns only once)."""
    import subprocess
    import sys

    code = (
        "import json, warnings, torch as m\n"
        "out = {}\n"
        f"for name, call in {_DEPRECATED!r}.items():\n"
        "    with warnings.catch_warnings(record=True) as w:\n"
        "        warnings.simplefilter('always')\n"
        "        eval(call)\n"
        "    out[name] = str(w[0].message).split(' (Triggered internally')[0]\n"
        "print(json.dumps(out))\n"
    )
    import json

    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(res.stdout)


def test_deprecation_warnings():
    theirs = _torch_warnings()
    for name, call in _DEPRECATED.items():
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            eval(call, {"m": tapegrad})
        assert w and w[0].category is UserWarning, name
        assert str(w[0].message) == theirs[name].replace("torch.", "tapegrad."), name


def test_deprecated_forms_values():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both(lambda m: m.cholesky(t(m, SPD3, grad=True)))
        both(lambda m: m.cholesky(t(m, SPD3, grad=True), upper=True))
        both(lambda m: m.chain_matmul(t(m, A3, grad=True)))
        both(lambda m: m.chain_matmul(t(m, A3), t(m, SPD3, grad=True), t(m, A3)))
        both(lambda m: m.cross(t(m, A3, grad=True), t(m, SPD3)))
        both(lambda m: m.cross(t(m, np.ones((2, 3))), t(m, np.ones((2, 3)))))


# --- views and in-place variants -----------------------------------------------------------
def test_diagonal_is_a_writeable_view():
    def prog(m):
        x = m.zeros(3, 4)
        d = x.diagonal(1)
        d.add_(1.0)
        return x, d._version == x._version == 1

    both(prog)


def test_einsum_single_operand_permutation_is_a_view():
    def prog(m):
        x = m.zeros(2, 3)
        y = m.einsum("ij->ji", x)
        y.add_(1.0)
        return x

    both(prog)


@pytest.mark.parametrize("name", ["tril_", "triu_", "addmm_", "addmv_", "addr_", "baddbmm_",
                                  "addbmm_"])
def test_inplace_variants(name):
    args = {
        "tril_": lambda m: ((m.ones(3, 4),), (1,)),
        "triu_": lambda m: ((m.ones(2, 3, 4),), (-1,)),
        "addmm_": lambda m: ((m.ones(2, 4),), (t(m, np.ones((2, 3)), dtype="float32"),
                                               m.arange(12.0).reshape(3, 4))),
        "addmv_": lambda m: ((m.ones(2),), (m.ones(2, 3), m.arange(3.0))),
        "addr_": lambda m: ((m.ones(2, 3),), (m.arange(2.0), m.arange(3.0))),
        "baddbmm_": lambda m: ((m.ones(2, 2, 4),), (m.ones(2, 2, 3), m.ones(2, 3, 4))),
        "addbmm_": lambda m: ((m.ones(2, 4),), (m.ones(5, 2, 3), m.ones(5, 3, 4))),
    }

    def prog(m):
        (x,), rest = args[name](m)
        r = getattr(x, name)(*rest)
        return r is x, x, x._version

    both(prog)
    same_error(lambda m: m.ones(3, 3, requires_grad=True).tril_())


def test_out_arguments():
    def qr_out(m):
        q, r = m.zeros(1), m.zeros(1)
        res = m.linalg.qr(m.tensor([[3.0, 1.0], [4.0, 2.0]]), out=(q, r))
        return res, res.Q is q, res.R is r  # (torch's type is then linalg_qr_out)

    both(qr_out)
    both(lambda m: m.linalg.inv_ex(t(m, A3), out=(t(m, np.zeros(1)), m.zeros(1, dtype=m.int32))))
    both(lambda m: m.tril(m.ones(3, 3), out=m.zeros(1)))
    both(lambda m: m.linalg.inv(t(m, A3), out=t(m, np.zeros((3, 3)))))
    both(lambda m: m.addmm(m.ones(2, 2), m.ones(2, 3), m.ones(3, 2), out=m.zeros(2, 2)))


# --- matrix_power, multi_dot, einsum details ---------------------------------------------
def test_matrix_power_zero_gives_zero_gradient():
    def prog(m):
        x = t(m, A3, grad=True)
        y = m.linalg.matrix_power(x, 0)
        y.sum().backward()
        return y, x.grad

    both(prog)
    both(lambda m: m.matrix_power(m.tensor([[1, 1], [0, 1]]), 5))  # integers


def test_einsum_integer_and_complex():
    both(lambda m: m.einsum("ij,jk->ik", m.arange(6).reshape(2, 3), m.arange(6).reshape(3, 2)))

    ca = _c((2, 3))

    def prog(m):
        a = m.tensor(ca, requires_grad=True)
        b = m.tensor(np.arange(6.0).reshape(3, 2) - 2j, requires_grad=True)
        out = m.einsum("ij,jk->ik", a, b)
        return out, m.autograd.grad(out.abs().sum(), [a, b])

    both(prog)


def test_einsum_spaces_and_implicit_order():
    both(lambda m: m.einsum(" i j -> j i ", m.arange(6.0).reshape(2, 3)))
    both(lambda m: m.einsum("ba", m.arange(6.0).reshape(2, 3)))
    both(lambda m: m.einsum("aB", m.arange(6.0).reshape(2, 3)))
    both(lambda m: m.einsum("ij->...j", m.arange(6.0).reshape(2, 3)))
    both(lambda m: m.einsum(",->", m.tensor(2.0), m.tensor(3.0)))


def test_multi_dot_vectors_and_order():
    both(lambda m: m.linalg.multi_dot([m.arange(2.0), m.arange(2.0)]))
    for shapes in [((10, 2), (2, 10), (10, 3)), ((2, 10), (10, 2), (2, 10)),
                   ((3, 4), (4, 5), (5, 6), (6, 2), (2, 7))]:
        mats = [RNG.standard_normal(s) for s in shapes]
        both(lambda m: m.linalg.multi_dot([t(m, a) for a in mats]))


# --- lstsq and rank ------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_lstsq_rank_deficient_and_drivers(seed):
    rng = np.random.default_rng(seed)  # the test's own stream: its inputs do not depend on
    a = rng.standard_normal((5, 3))    # which tests of the module ran before it
    a[:, 2] = a[:, 0]
    b = rng.standard_normal((5, 2))
    for driver in ("gelsd", "gelss"):
        def prog(m):
            r = m.linalg.lstsq(t(m, a), t(m, b), driver=driver)
            return r.solution, r.residuals, r.rank, r.singular_values

        both(prog, atol=1e-9)
    # the default driver (gelsy) on a rank-deficient matrix: PyTorch's own answer varies from
    # call to call (two different solutions in 300 calls of torch 2.13 here), so tapegrad's
    # is checked against the minimum-norm least-squares solution that gelsd gives
    ours = tapegrad.linalg.lstsq(t(tapegrad, a), t(tapegrad, b))
    ref = torch.linalg.lstsq(t(torch, a), t(torch, b), driver="gelsd")
    np.testing.assert_allclose(ours.solution.numpy(), ref.solution.numpy(), atol=1e-9)
    both(lambda m: m.linalg.lstsq(t(m, a), t(m, b), rcond=0.5, driver="gelsd").rank)
    full = rng.standard_normal((5, 3))
    both(lambda m: m.linalg.lstsq(t(m, full), t(m, b), driver="gels"))
    both(lambda m: m.linalg.lstsq(t(m, full), t(m, b[:, 0]), driver="gelsd"))


def test_lstsq_residual_gradient():
    a, b = RNG.standard_normal((6, 3)), RNG.standard_normal((6, 2))

    def prog(m):
        x, y = t(m, a, grad=True), t(m, b, grad=True)
        r = m.linalg.lstsq(x, y, driver="gelsd")
        return m.autograd.grad(r.residuals.sum() + r.solution.sum(), [x, y])

    both(prog, atol=1e-9)


def test_matrix_rank():
    low = RNG.standard_normal((4, 2)) @ RNG.standard_normal((2, 5))
    both(lambda m: m.linalg.matrix_rank(t(m, low)))
    both(lambda m: m.linalg.matrix_rank(t(m, np.stack([low, np.eye(4, 5)]))))
    both(lambda m: m.linalg.matrix_rank(t(m, SPD3), hermitian=True))
    both(lambda m: m.linalg.matrix_rank(t(m, SPD3), atol=5.0, rtol=0.0))
    both(lambda m: m.linalg.matrix_rank(t(m, SPD3), tol=5.0))


def test_pinv_tolerances():
    a = RNG.standard_normal((4, 3))
    both(lambda m: m.linalg.pinv(t(m, a), atol=1.0))
    both(lambda m: m.linalg.pinv(t(m, a), rtol=0.5))
    both(lambda m: m.linalg.pinv(t(m, np.stack([a, 2 * a])), atol=t(m, [0.5, 3.0])))
    both(lambda m: m.linalg.pinv(t(m, a), 0.5))
    both(lambda m: m.pinverse(t(m, a), rcond=0.5))


# --- shapes: empty and batched -------------------------------------------------------------
def test_empty_matrices():
    both(lambda m: m.linalg.det(t(m, np.ones((0, 3, 3)))))
    both(lambda m: m.linalg.det(t(m, np.ones((0, 0)))))
    both(lambda m: m.linalg.inv(t(m, np.ones((0, 0)))))
    both(lambda m: m.linalg.svd(t(m, np.ones((0, 3)))))
    both(lambda m: m.linalg.qr(t(m, np.ones((0, 3)))))
    both(lambda m: m.linalg.matrix_exp(t(m, np.ones((2, 0, 0)))))
    both(lambda m: m.cdist(t(m, np.ones((0, 3))), t(m, np.ones((2, 3)))))
    both(lambda m: m.cdist(t(m, np.ones((2, 0))), t(m, np.ones((2, 0))), p=math.inf))


def test_float32_stays_float32():
    x = tapegrad.tensor(SPD3, dtype=tapegrad.float32, requires_grad=True)
    outs = [tapegrad.linalg.det(x), tapegrad.linalg.inv(x), tapegrad.linalg.cholesky(x),
            tapegrad.linalg.eigvalsh(x), tapegrad.linalg.svdvals(x), tapegrad.linalg.pinv(x),
            tapegrad.linalg.matrix_exp(x * 0.1), tapegrad.linalg.solve(x, x),
            tapegrad.einsum("ii", x)]
    for o in outs:
        assert o.dtype is tapegrad.float32
        g, = tapegrad.autograd.grad(o.sum(), x)
        assert g.dtype is tapegrad.float32


# --- complex gradients ---------------------------------------------------------------------
def _c(shape):
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


CA = _c((3, 3)) + 3 * np.eye(3)
CB = _c((3, 2))
CH = CA @ CA.conj().T + np.eye(3)
COMPLEX = {
    "det": lambda m, a, b, h: m.linalg.det(a),
    "inv": lambda m, a, b, h: m.linalg.inv(a),
    "solve": lambda m, a, b, h: m.linalg.solve(a, b),
    "slogdet": lambda m, a, b, h: m.linalg.slogdet(a).sign * m.linalg.slogdet(a).logabsdet,
    "logdet": lambda m, a, b, h: m.logdet(a),
    "cholesky": lambda m, a, b, h: m.linalg.cholesky((h + h.mH) / 2),
    "qr": lambda m, a, b, h: m.linalg.qr(a).R,
    "eigvalsh": lambda m, a, b, h: m.linalg.eigvalsh((h + h.mH) / 2),
    "svdvals": lambda m, a, b, h: m.linalg.svdvals(a),
    "pinv": lambda m, a, b, h: m.linalg.pinv(a),
    "matrix_exp": lambda m, a, b, h: m.linalg.matrix_exp(a * 0.3),
    "addmm": lambda m, a, b, h: m.addmm(b, a, b, alpha=2.0),
    "cross": lambda m, a, b, h: m.linalg.cross(a, h),
    "einsum": lambda m, a, b, h: m.einsum("ij,jk->ki", a, b),
    "kron": lambda m, a, b, h: m.kron(a, b),
    "trace": lambda m, a, b, h: m.trace(a),
    "vecdot": lambda m, a, b, h: m.linalg.vecdot(a, h),
}


@pytest.mark.parametrize("name", list(COMPLEX))
def test_complex_values_and_gradients(name):
    def prog(m):
        xs = [m.tensor(x, requires_grad=True) for x in (CA, CB, CH)]
        out = COMPLEX[name](m, *xs)
        k = np.arange(out.numel()).reshape(tuple(out.shape))
        w = m.tensor(np.cos(k) + 1j * np.sin(2 * k) if out.is_complex() else np.cos(k))
        return out, m.autograd.grad(out, xs, w, allow_unused=True)

    both(prog, atol=1e-9)


def test_linalg_namespace():
    names = ["LinAlgError", "cholesky", "cholesky_ex", "cross", "det", "diagonal", "eigh",
             "eigvalsh", "inv", "inv_ex", "lstsq", "matrix_exp", "matrix_norm", "matrix_power",
             "matrix_rank", "multi_dot", "norm", "pinv", "qr", "slogdet", "solve", "solve_ex",
             "solve_triangular", "svd", "svdvals", "vecdot", "vector_norm"]
    for n in names:
        assert hasattr(tapegrad.linalg, n) and hasattr(torch.linalg, n), n
    assert tapegrad.linalg.vector_norm is tapegrad.ops.reduction_norm.vector_norm
    for n in ["einsum", "tensordot", "addmm", "addmv", "addbmm", "baddbmm", "addr",
              "matrix_power", "cross", "diag", "diag_embed", "diagonal", "trace", "tril", "triu",
              "kron", "cdist", "chain_matmul", "det", "slogdet", "logdet", "inverse", "cholesky",
              "cholesky_solve", "cholesky_inverse", "qr", "svd", "pinverse", "matrix_exp"]:
        assert callable(getattr(tapegrad, n)), n
    same(tapegrad.linalg.diagonal(tapegrad.ones(2, 3, 3), offset=1).shape,
         torch.linalg.diagonal(torch.ones(2, 3, 3), offset=1).shape)


def test_values_match_torch_float32_batch():
    a = RNG.standard_normal((4, 3, 3)) + 3 * np.eye(3)
    both(lambda m: (m.linalg.inv(t(m, a, dtype="float32")),
                    m.linalg.det(t(m, a, dtype="float32"))), atol=1e-5, rtol=1e-4)


def test_numeric_helpers_are_consistent():
    # the well-conditioned sample makers of the op table give what they promise
    from op_db.linalg_more import spd, well

    rng = np.random.default_rng(0)
    s = np.linalg.svd(well(rng, (2, 4, 3)), compute_uv=False)
    assert (s > 0.9).all() and (s < 3.2).all() and (np.diff(s, axis=-1) < -0.5).all()
    e = np.linalg.eigvalsh(spd(rng, (3, 3)))
    np.testing.assert_allclose(e, [1.0, 2.5, 4.0], atol=1e-12)
    assert to_numpy(tapegrad.tensor(e)).dtype == np.float64

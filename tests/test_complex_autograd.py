"""Complex autograd, compared with PyTorch: the convention (z.grad = dL/dRe z + i dL/dIm z for
a real loss L) and the values, first and second derivatives of the ops that take complex
tensors, also checked against float64 central differences (complex128 inputs perturbed in
their real and imaginary parts). Views, gradcheck and refusals: test_complex_views.py."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import both, numeric_vjp, same_error

_RNG = np.random.default_rng(7)


def _c(*shape):
    return _RNG.standard_normal(shape) + 1j * _RNG.standard_normal(shape)


_Z, _Z2 = _c(3), _c(3)
_M, _M2 = _c(3, 3), _c(3, 3)
_B = _c(2, 3, 3)
_X = np.array([0.4, -1.3, 0.8])
_MW = _M + 3 * np.eye(3)  # well conditioned

_TOL = {"complex128": dict(atol=1e-9, rtol=1e-7), "complex64": dict(atol=1e-4, rtol=1e-3)}


# --- the convention ------------------------------------------------------------------------------
def test_convention_worked_example():
    # |z|^2 = x^2 + y^2: dL/dx + i dL/dy = 2x + 2iy = 2 + 4i at z = 1 + 2i
    def prog(m):
        z = m.tensor(1 + 2j, requires_grad=True)
        (z.abs() ** 2).backward()
        return z.grad

    g = both(prog)
    assert complex(g.item()) == 2 + 4j


def test_convention_holds_for_a_product_and_conj():
    # L = Re(w z) + |z|^2 with z = x + iy, w = a + ib: Re(w z) = a x - b y
    # dL/dx + i dL/dy = (a + 2x) + i (2y - b) = conj(w) + 2 z
    def prog(m):
        z = m.tensor([1 + 2j, -0.5 + 0.25j], dtype=m.complex128, requires_grad=True)
        w = m.tensor([0.3 - 1j, 2 + 1j], dtype=m.complex128)
        ((w * z).real.sum() + (z * z.conj()).real.sum()).backward()
        return z.grad

    g = both(prog)
    np.testing.assert_allclose(g.numpy(), np.conj([0.3 - 1j, 2 + 1j]) + 2 * np.array(
        [1 + 2j, -0.5 + 0.25j]))


def test_backward_of_a_complex_output_needs_a_gradient():
    same_error(lambda m: (m.tensor([1 + 2j], requires_grad=True) * 2).sum().backward())
    same_error(lambda m: (m.tensor(1 + 2j, requires_grad=True) * 2).backward())
    same_error(lambda m: m.autograd.grad((m.tensor([1j], requires_grad=True) * 2).sum(),
                                         m.tensor([1j], requires_grad=True)))


def test_backward_with_a_complex_grad_output():
    # for a holomorphic f and grad_output 1, PyTorch's convention gives conj(f'(z))
    def prog(m):
        z = m.tensor([1 + 2j, 0.5j], dtype=m.complex128, requires_grad=True)
        (z * z).sum().backward(m.tensor(1 + 0j, dtype=m.complex128))
        return z.grad

    g = both(prog)
    np.testing.assert_allclose(g.numpy(), np.conj(2 * np.array([1 + 2j, 0.5j])))


def test_real_inputs_through_complex_ops_get_real_gradients():
    def prog(m):
        x = m.tensor([[1.0, 2.0]], dtype=m.float64, requires_grad=True)
        y = m.tensor([0.5, -1.0], requires_grad=True)
        a = m.tensor([[1j, 2.0], [3.0, 4j]], dtype=m.complex128)
        loss = ((x.to(m.complex128) @ a) * (y * (1 + 2j))).abs().sum()
        loss.backward()
        return x.grad, y.grad

    both(prog)


def test_doc_examples_print_what_the_doc_says():
    """The python blocks of docs/complex_autograd.md run (in one namespace) and each
    `print(...)  # expected` line prints the expected text."""
    import contextlib
    import io
    import pathlib
    import re

    doc = pathlib.Path(__file__).resolve().parents[1] / "docs" / "complex_autograd.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    assert len(blocks) == 3
    ns: dict = {}
    for block in blocks:
        expected = [m.group(1) for m in re.finditer(r"^\s*print\(.*\)\s+# (.*)$", block, re.M)]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(doc), "exec"), ns)  # noqa: S102 - the doc's own examples
        assert out.getvalue().splitlines() == expected


# --- values, gradients and second derivatives against PyTorch ------------------------------------
def _weights(m, shape, dt, k):
    n = int(np.prod(shape))
    w = np.cos(np.arange(n) + k) + (1j * np.sin(0.7 * np.arange(n) + k) if dt.is_complex else 0)
    return m.tensor(w.reshape(shape), dtype=dt)


def _derivatives(m, fn, arrays, dtype: str):
    """fn's outputs, the gradients of a real loss of them, and the gradient of a real function
    of those gradients (create_graph). The losses avoid abs():
    L = sum Re(w o) + |o|^2 v, L2 = sum Re(v g) + |g|^2 u."""
    cdt = getattr(m, dtype)
    rdt = m.float64 if dtype == "complex128" else m.float32
    ins = [m.tensor(a, dtype=cdt if np.iscomplexobj(a) else rdt, requires_grad=True)
           for a in arrays]
    outs = fn(m, *ins)
    outs = outs if isinstance(outs, tuple) else (outs,)
    loss = 0
    for k, o in enumerate(outs):
        if not o.requires_grad:
            continue
        w = _weights(m, tuple(o.shape), o.dtype, k)
        v = _weights(m, tuple(o.shape), rdt, k + 1)
        loss = loss + ((o * w).real.sum() if o.dtype.is_complex else (o * w).sum())
        loss = loss + ((o * o.conj()).real * v).sum()
    gs = m.autograd.grad(loss, ins, create_graph=True, materialize_grads=True)
    loss2 = 0
    for k, g in enumerate(gs):
        v = _weights(m, tuple(g.shape), g.dtype, k + 2)
        u = _weights(m, tuple(g.shape), rdt, k + 3)
        loss2 = loss2 + (g * v).real.sum() + ((g * g.conj()).real * u).sum()
    ggs = m.autograd.grad(loss2, ins, materialize_grads=True) if loss2.requires_grad else None
    return outs, gs, ggs


_OPS = {
    # views and parts
    "real": (lambda m, a: a.real * 1, [_Z]),
    "imag": (lambda m, a: a.imag * 1, [_Z]),
    "torch.real/imag": (lambda m, a: m.real(a) * m.imag(a), [_Z]),
    "conj": (lambda m, a: a.conj() * a.sin(), [_Z]),
    "conj_physical": (lambda m, a: a.conj_physical() * a, [_Z]),
    "resolve_conj": (lambda m, a: a.conj().resolve_conj() * a, [_Z]),
    "angle": (lambda m, a: a.angle(), [_Z]),
    "view_as_real": (lambda m, a: m.view_as_real(a) ** 2, [_M]),
    "view_as_complex": (lambda m, a: m.view_as_complex(m.view_as_real(a) * 2) ** 2, [_M]),
    "polar": (lambda m, r, t: m.polar(r, t), [np.abs(_X) + 0.5, _X]),
    "complex": (lambda m, r, t: m.complex(r, t * r), [_X, _X[::-1].copy()]),
    # elementwise
    "neg": (lambda m, a: -a * a, [_Z]),
    "exp": (lambda m, a: a.exp(), [_Z]),
    "log": (lambda m, a: a.log(), [_Z]),
    "sqrt": (lambda m, a: a.sqrt(), [_Z]),
    "rsqrt": (lambda m, a: a.rsqrt(), [_Z]),
    "sin": (lambda m, a: a.sin(), [_Z]),
    "cos": (lambda m, a: a.cos(), [_Z]),
    "tan": (lambda m, a: a.tan(), [_Z]),
    "sinh_cosh": (lambda m, a: a.sinh() * a.cosh(), [_Z]),
    "asin_acos_atan": (lambda m, a: a.asin() + a.acos() * a.atan(), [_Z]),
    "asinh_atanh": (lambda m, a: a.asinh() * a.atanh(), [_Z]),
    "acosh": (lambda m, a: a.acosh(), [_Z]),
    "log2_log10_log1p": (lambda m, a: a.log2() + a.log10() * a.log1p(), [_Z]),
    "expm1_exp2": (lambda m, a: a.expm1() * m.exp2(a), [_Z]),
    "reciprocal": (lambda m, a: a.reciprocal(), [_Z]),
    "square": (lambda m, a: a.square(), [_Z]),
    "sinc": (lambda m, a: m.sinc(a), [_Z]),
    "pow_scalar": (lambda m, a: a ** 2.5, [_Z]),
    "pow_complex_scalar": (lambda m, a: a ** (1 + 0.5j), [_Z]),
    "rpow": (lambda m, a: (1 - 0.5j) ** a, [_Z]),
    "pow_tensor": (lambda m, a, b: a ** b, [_Z, _Z2]),
    "mul_div": (lambda m, a, b: a * b / (b + 3), [_Z, _Z2]),
    "complex_scalars": (lambda m, a: (a * (1 - 2j) + (2 + 1j)) / (0.5 - 1j) - (1 + 1j) / a,
                        [_Z]),
    "add_sub_alpha": (lambda m, a, b: m.add(a, b, alpha=2 - 1j) - m.sub(b, a, alpha=1j),
                      [_Z, _Z2]),
    "mixed_real": (lambda m, a, x: a * x + x / a + a.real * a, [_Z, _X]),
    "addcmul_addcdiv": (lambda m, a, b: m.addcmul(a, a, b, value=0.5)
                        + m.addcdiv(a, b, a.exp(), value=2), [_Z, _Z2]),
    "lerp": (lambda m, a, b: m.lerp(a, b, 0.3) * m.lerp(a, b, a.sin()), [_Z, _Z2]),
    "where": (lambda m, a, b: m.where(a.real > 0, a * a, b), [_Z, _Z2]),
    "masked_fill": (lambda m, a: (a * a).masked_fill(a.real > 0, 1j), [_Z]),
    "to": (lambda m, a: a.to(m.complex128) * a, [_Z]),
    "real_to_complex": (lambda m, x: x.to(m.complex128) * (1 + 2j), [_X]),
    # reductions and scans
    "sum_mean": (lambda m, a: a.sum(1) * a.mean(0), [_M]),
    "prod": (lambda m, a: a.prod() + a.prod(1).sum(), [_M]),
    "cumsum_cumprod": (lambda m, a: a.cumsum(1) * a.cumprod(0), [_M]),
    "var_std": (lambda m, a: a.var(1) * a.std(0), [_M]),
    "norm": (lambda m, a: a.norm() + m.linalg.vector_norm(a, 3), [_M]),
    "logsumexp": (lambda m, a: m.logsumexp(a, 0), [_M]),
    "diff": (lambda m, a: m.diff(a), [_Z]),
    # shapes and indexing
    "reshape_transpose": (lambda m, a: a.reshape(9).reshape(3, 3).t() * a, [_M]),
    "permute_flatten": (lambda m, a: a.permute(1, 0).flatten() ** 2, [_M]),
    "cat_stack": (lambda m, a, b: m.cat([a, b], 1) * m.stack([a, b], 2).reshape(3, 6), [_M, _M2]),
    "split_unbind": (lambda m, a: a.split(1, 0)[1] * a.unbind(1)[2], [_M]),
    "index": (lambda m, a: a[[0, 2], 1:] * a[a.real > 0].sum(), [_M]),
    "gather_scatter": (lambda m, a: a.gather(1, m.tensor([[2, 0], [1, 1], [0, 2]]))
                       * m.zeros(3, 2, dtype=a.dtype).scatter_add(
                           0, m.tensor([[0, 1], [1, 1], [2, 0]]), a[:, :2]), [_M]),
    "index_select_take": (lambda m, a: a.index_select(0, m.tensor([1, 1])) * a.take(
        m.tensor([4, 0, 8])), [_M]),
    "flip_roll_repeat": (lambda m, a: a.flip(0).roll(1) * a.repeat(1, 1), [_M]),
    "pad_expand": (lambda m, a: m.nn.functional.pad(a, (1, 1)) * a[:, :1].expand(3, 5), [_M]),
    "tril_diag": (lambda m, a: a.tril() + m.diag_embed(a.diagonal()), [_M]),
    "setitem": (lambda m, a, b: (lambda c: (c.__setitem__(slice(0, 2), b[1:] * 2), c * c)[1])(
        a.clone()), [_Z, _Z2]),
    "index_put": (lambda m, a, b: a.index_put((m.tensor([0, 2]),), b[:2] * b[1:]), [_Z, _Z2]),
    # products and linear algebra
    "matmul_mm_bmm": (lambda m, a, b: (a @ b) @ m.mm(b, a) + m.bmm(a[None], b[None])[0],
                      [_M, _M2]),
    "bmm_batched": (lambda m, a: m.bmm(a, a.mH) + a @ a[0], [_B]),
    "mv_dot_vdot": (lambda m, a, b: m.mv(a, b) * m.dot(b, b.exp()) + m.vdot(b, b.sin()),
                    [_M, _Z]),
    "outer_inner_kron": (lambda m, a, b: m.outer(a, b) + m.inner(a, b) + m.kron(a, b)[:3],
                         [_Z, _Z2]),
    "einsum": (lambda m, a, b: m.einsum("ij,jk->ik", a, b) + m.einsum("ii->", a), [_M, _M2]),
    "einsum_batched": (lambda m, a: m.einsum("bij,bjk->bik", a, a), [_B]),
    "addmm_baddbmm": (lambda m, a, b: m.addmm(a, a, b, beta=0.5 + 1j, alpha=2 - 1j)
                      + m.baddbmm(a[None], a[None], b[None], alpha=1j)[0], [_M, _M2]),
    "linear": (lambda m, a, b: m.nn.functional.linear(a, b, a[0]), [_M, _M2]),
    "adjoint_mH_mT": (lambda m, a: a.mH @ a.mT + a.adjoint() * a.H, [_M]),
    "trace_tensordot": (lambda m, a, b: a.trace() * m.tensordot(a, b, dims=1), [_M, _M2]),
    "det": (lambda m, a: m.linalg.det(a) * a.det(), [_MW]),
    "slogdet": (lambda m, a: m.linalg.slogdet(a), [_MW]),
    "inv": (lambda m, a: m.linalg.inv(a), [_MW]),
    "solve": (lambda m, a, b: m.linalg.solve(a, b), [_MW, _M2]),
    "solve_triangular": (lambda m, a, b: m.linalg.solve_triangular(
        a.triu() + 3 * m.eye(3), b, upper=True), [_M, _M2]),
    "lstsq_pinv": (lambda m, a, b: m.linalg.lstsq(a, b).solution + m.linalg.pinv(a), [_MW, _M2]),
    "cholesky": (lambda m, a: m.linalg.cholesky(a @ a.mH + m.eye(3)), [_M]),
    "qr": (lambda m, a: m.linalg.qr(a), [_M]),
    "svdvals_eigvalsh": (lambda m, a: m.linalg.svdvals(a) * m.linalg.eigvalsh(a + a.mH), [_M]),
    "svd": (lambda m, a: (lambda u, s, vh: u @ m.diag(s).to(a.dtype) @ vh)(*m.linalg.svd(a)),
            [_M]),
    "eigh": (lambda m, a: (lambda w, v: (w, v @ v.mH * (v * v.conj()).real))(
        *m.linalg.eigh(a + a.mH)), [_M]),
    "matrix_exp_power": (lambda m, a: m.linalg.matrix_exp(a * 0.3)
                         + m.linalg.matrix_power(a, 3) * m.linalg.matrix_power(a, -2).sum(),
                         [_MW]),
    "matrix_norms": (lambda m, a: m.linalg.matrix_norm(a) + m.linalg.matrix_norm(a, "nuc")
                     + m.linalg.matrix_norm(a, 2), [_M]),
    "cross": (lambda m, a, b: m.linalg.cross(a, b), [_Z, _Z2]),
    "conv1d": (lambda m, a, b, c: m.nn.functional.conv1d(
        a.reshape(1, 1, 9), b.reshape(1, 1, 9)[..., :3], c[:1], padding=1, stride=2),
        [_M, _M2, _Z]),
    "conv2d": (lambda m, a, b: m.nn.functional.conv2d(
        a.reshape(1, 1, 3, 3), b.reshape(1, 1, 3, 3)[..., :2, :2], padding=1), [_M, _M2]),
    "conv_transpose1d": (lambda m, a, b: m.nn.functional.conv_transpose1d(
        a.reshape(1, 3, 3), b.reshape(3, 1, 3)[..., :2], stride=2), [_M, _M2]),
}
# complex64 differs from PyTorch in the last float32 bits; checked on the ops whose second
# derivative is not dominated by rounding
_OPS64 = ["real", "imag", "conj", "angle", "view_as_real", "polar", "complex", "exp", "log",
          "sqrt", "sin", "acosh", "complex_scalars", "mixed_real", "prod", "logsumexp",
          "cat_stack", "index", "matmul_mm_bmm", "einsum", "det", "inv", "conv1d"]


@pytest.mark.parametrize("name", sorted(_OPS))
def test_op_against_torch_complex128(name):
    fn, arrays = _OPS[name]
    both(lambda m: _derivatives(m, fn, arrays, "complex128"), **_TOL["complex128"])


@pytest.mark.parametrize("name", _OPS64)
def test_op_against_torch_complex64(name):
    fn, arrays = _OPS[name]
    both(lambda m: _derivatives(m, fn, arrays, "complex64"), **_TOL["complex64"])


# abs() and sgn() need the ops/unary.py fix for their second (and sgn's first) derivative
_ABS_OPS = {
    "abs": (lambda m, a: a.abs(), [_Z]),
    "abs_cubed": (lambda m, a: a.abs() ** 3, [_Z]),
    "sgn": (lambda m, a: a.sgn(), [_Z]),
    "abs_times_w": (lambda m, a, b: a.abs() * b, [_Z, _Z2]),
    "tanh": (lambda m, a: a.tanh(), [_Z]),
    "sigmoid": (lambda m, a: a.sigmoid(), [_Z]),
}


@pytest.mark.parametrize("name", sorted(_ABS_OPS))
def test_abs_sgn_tanh_sigmoid_against_torch(name):
    fn, arrays = _ABS_OPS[name]
    both(lambda m: _derivatives(m, fn, arrays, "complex128"), **_TOL["complex128"])


def test_abs_first_derivative_against_torch():
    # the first derivative of |z| is sgn(z) (0 at z = 0); only its derivative needs the fix
    def prog(m):
        z = m.tensor([1 + 2j, 0j, -3 + 0.5j], dtype=m.complex128, requires_grad=True)
        (z.abs() ** 3 + z.abs()).sum().backward()
        return z.grad

    both(prog, **_TOL["complex128"])


def test_abs_double_backward_is_not_zero():
    # L = 2 |z| has the gradient g = 2 sgn(z); L2 = Re(g) = 2x / r, whose gradient is
    # d/dx + i d/dy = (2 y / r^3) (y - i x): 0.7155 - 0.3578i at z = 1 + 2i (was 0)
    z = tapegrad.tensor([1 + 2j], dtype=tapegrad.complex128, requires_grad=True)
    g, = tapegrad.autograd.grad((z.abs() * 2).sum(), z, create_graph=True)
    gg, = tapegrad.autograd.grad(g.real.sum(), z)
    r3 = 5 ** 1.5
    np.testing.assert_allclose(gg.numpy(), [4 / r3 * (2 - 1j)])


# --- central differences (float64 / complex128) ------------------------------------------------
def _numeric_grad(loss, z: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dL/dx + i dL/dy at z by central differences, loss taking a complex128 array."""
    pairs = np.stack([z.real, z.imag], -1)

    def fn(arrs):
        p = arrs[0]
        return [np.asarray(loss(p[..., 0] + 1j * p[..., 1]))]

    (g,) = numeric_vjp(fn, [pairs], [0], [np.ones(())], eps)
    return g[..., 0] + 1j * g[..., 1]


def _loss_of(fn):
    def loss(za):
        z = tapegrad.tensor(za, dtype=tapegrad.complex128)
        o = fn(tapegrad, z)
        w = _weights(tapegrad, tuple(o.shape), o.dtype, 0)
        return float((o * w).real.sum() if o.dtype.is_complex else (o * w).sum())

    return loss


def _grad_of(fn, create_graph=False):
    def grad(za):
        z = tapegrad.tensor(za, dtype=tapegrad.complex128, requires_grad=True)
        o = fn(tapegrad, z)
        w = _weights(tapegrad, tuple(o.shape), o.dtype, 0)
        loss = (o * w).real.sum() if o.dtype.is_complex else (o * w).sum()
        (g,) = tapegrad.autograd.grad(loss, z, create_graph=create_graph)
        return z, g

    return grad


def _second_loss(g):
    v = _weights(tapegrad, tuple(g.shape), g.dtype, 5)
    return (g * v).real.sum() + (g * g.conj()).real.sum()


_NUMERIC = {
    "real_imag": lambda m, z: z.real * z.imag ** 2,
    "view_as_real": lambda m, z: m.view_as_real(z).exp(),
    "view_as_complex": lambda m, z: m.view_as_complex(m.view_as_real(z).flip(-1).contiguous())
    ** 2,
    "polar_complex": lambda m, z: m.polar(z.real ** 2 + 1, z.imag) * m.complex(z.imag, z.real),
    "angle": lambda m, z: z.angle() * z.real,
    "conj": lambda m, z: z.conj() * z.exp(),
    "complex_scalar_mul": lambda m, z: z * (1 - 2j) + (0.5 + 1j) / z,
    "acosh": lambda m, z: z.acosh(),
    "prod": lambda m, z: z.prod() * z,
    "logsumexp": lambda m, z: m.logsumexp(z, 0),
    "conv1d": lambda m, z: m.nn.functional.conv1d(z.reshape(1, 1, 3), z.reshape(1, 1, 3)[..., :2],
                                                  padding=1),
    "inplace_real": lambda m, z: (lambda w: (w.real.mul_(z.imag), w.imag.exp_(), w * w)[2])(
        z * 1),
    "inplace_view_as_complex": lambda m, z: (lambda p: (
        m.view_as_complex(p)[1:].mul_(z[:2]), p.sin())[1])(m.view_as_real(z).clone()),
}


@pytest.mark.parametrize("name", sorted(_NUMERIC))
def test_gradients_against_central_differences(name):
    fn = _NUMERIC[name]
    z0 = np.array([0.7 + 0.4j, -0.3 + 1.1j, 1.5 - 0.6j])
    _, g = _grad_of(fn)(z0)
    np.testing.assert_allclose(g.numpy(), _numeric_grad(_loss_of(fn), z0), atol=1e-6,
                               rtol=1e-6)
    # the second derivative: the gradient of a real function of the first gradient
    grad = _grad_of(fn, create_graph=True)
    z, g = grad(z0)
    (gg,) = tapegrad.autograd.grad(_second_loss(g), z)
    num = _numeric_grad(lambda za: float(_second_loss(grad(za)[1]).detach()), z0)
    np.testing.assert_allclose(gg.numpy(), num, atol=1e-5, rtol=1e-5)


def test_abs_sgn_second_derivative_against_central_differences():
    z0 = np.array([0.7 + 0.4j, -0.3 + 1.1j])
    grad = _grad_of(lambda m, z: z.abs() ** 3 * z.sgn(), create_graph=True)
    z, g = grad(z0)
    (gg,) = tapegrad.autograd.grad(_second_loss(g), z)
    num = _numeric_grad(lambda za: float(_second_loss(grad(za)[1]).detach()), z0)
    np.testing.assert_allclose(gg.numpy(), num, atol=1e-5, rtol=1e-5)

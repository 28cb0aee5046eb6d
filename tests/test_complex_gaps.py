"""Complex values through silu (and the activations sharing its machinery), rms_norm,
logcumsumexp, scatter_reduce and soft_margin_loss, compared with PyTorch: values (complex128
and complex64), gradients and second derivatives (complex128), forward-mode tangents, and
PyTorch's refusals and messages. Gradients are also checked against central differences in
the conjugate-Wirtinger convention (z.grad = dL/dRe z + i dL/dIm z for a real loss L).

PyTorch computes silu, scatter_reduce and soft_margin_loss on complex tensors but refuses to
record them for backward; tapegrad refuses likewise. Where PyTorch's own rules are wrong on
complex values (the forward-mode rules of silu, scatter_reduce prod and soft_margin_loss, and
of logcumsumexp far from 0; the backward of the in-place silu_ and scatter_reduce_, which
omit the conjugate), tapegrad follows the math, and these tests compare with central
differences of PyTorch's function instead of its rule.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import tapegrad
import tapegrad.autograd.forward_ad as fwAD
from _helpers import both, numeric_vjp, same_error, warnings_of

torch = pytest.importorskip("torch")

_RNG = np.random.default_rng(11)
_TOL = {"complex128": dict(atol=1e-10, rtol=1e-8), "complex64": dict(atol=1e-5, rtol=1e-4)}


def _c(*shape) -> np.ndarray:
    return _RNG.standard_normal(shape) + 1j * _RNG.standard_normal(shape)


def F(m):
    return m.nn.functional


def _fwad(m):
    return tapegrad.autograd.forward_ad if m is tapegrad else torch.autograd.forward_ad


_Z = _c(3, 4)
_Z2 = _c(3, 4)
_W4 = _c(4)
_IDX = np.array([[0, 1, 0, 3], [1, 1, 0, 2], [3, 3, 3, 0]])
_SIGN = np.sign(_RNG.standard_normal((3, 4)))


# --- helpers -----------------------------------------------------------------------------
def _weights(m, shape, dt, k):
    n = int(np.prod(shape))
    w = np.cos(np.arange(n) + k) + (1j * np.sin(0.7 * np.arange(n) + k) if dt.is_complex else 0)
    return m.tensor(w.reshape(shape), dtype=dt)


def _real_loss(m, outs, k0=0):
    """sum Re(w o) + |o|^2 v over the outputs: a real loss that reaches every output."""
    loss = 0
    for k, o in enumerate(outs):
        rdt = m.float64 if o.dtype in (m.float64, m.complex128) else m.float32
        w = _weights(m, tuple(o.shape), o.dtype, k + k0)
        v = _weights(m, tuple(o.shape), rdt, k + k0 + 1)
        loss = loss + ((o * w).real.sum() if o.dtype.is_complex else (o * w).sum())
        loss = loss + ((o * o.conj()).real * v).sum()
    return loss


def _derivatives(m, fn, arrays, dtype="complex128"):
    """fn's outputs, the gradients of a real loss of them, and the gradients of a real loss
    of those gradients (create_graph)."""
    ins = [m.tensor(a, dtype=getattr(m, dtype) if np.iscomplexobj(a) else m.float64,
                    requires_grad=True) for a in arrays]
    outs = fn(m, *ins)
    outs = outs if isinstance(outs, tuple) else (outs,)
    gs = m.autograd.grad(_real_loss(m, outs), ins, create_graph=True)
    ggs = m.autograd.grad(_real_loss(m, gs, 5), ins)
    return outs, gs, ggs


def _numeric_grad(loss, z: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dL/dRe z + i dL/dIm z at z by central differences (loss takes a complex128 array)."""
    pairs = np.stack([z.real, z.imag], -1)

    def fn(arrs):
        p = arrs[0]
        return [np.asarray(loss(p[..., 0] + 1j * p[..., 1]))]

    (g,) = numeric_vjp(fn, [pairs], [0], [np.ones(())], eps)
    return g[..., 0] + 1j * g[..., 1]


def _check_against_differences(fn, arrays, pos=0):
    """tapegrad's gradient and second derivative (of real losses) with respect to
    arrays[pos], against central differences."""
    def grad(za, create_graph=False):
        ins = [tapegrad.tensor(a, requires_grad=(i == pos)) for i, a in enumerate(arrays)]
        ins[pos] = tapegrad.tensor(za, requires_grad=True)
        out = fn(tapegrad, *ins)
        (g,) = tapegrad.autograd.grad(_real_loss(tapegrad, (out,)), ins[pos],
                                      create_graph=create_graph)
        return ins[pos], g

    def loss(za):
        ins = [tapegrad.tensor(a) for a in arrays]
        ins[pos] = tapegrad.tensor(za)
        return float(_real_loss(tapegrad, (fn(tapegrad, *ins),)))

    z0 = arrays[pos]
    _, g = grad(z0)
    np.testing.assert_allclose(g.numpy(), _numeric_grad(loss, z0), atol=1e-6, rtol=1e-6)
    z, g = grad(z0, True)
    (gg,) = tapegrad.autograd.grad(_real_loss(tapegrad, (g,), 5), z)
    num = _numeric_grad(lambda za: float(_real_loss(tapegrad, (grad(za, True)[1],), 5)), z0)
    np.testing.assert_allclose(gg.numpy(), num, atol=1e-5, rtol=1e-5)


def _tangent(m, fn, arrays, tangents):
    """fn's output tangent (NumPy) with arrays made dual with tangents (None: not dual)."""
    fw = _fwad(m)
    with fw.dual_level():
        ins = [m.tensor(a) if t is None else fw.make_dual(m.tensor(a), m.tensor(t))
               for a, t in zip(arrays, tangents)]
        t = fw.unpack_dual(fn(m, *ins)).tangent
        return None if t is None else t.detach().numpy()


def _torch_difference(fn, arrays, tangents, eps=1e-6):
    """Central difference of torch's own function along the tangents."""
    def at(s):
        return fn(torch, *[torch.tensor(a if t is None else a + s * eps * t)
                           for a, t in zip(arrays, tangents)]).numpy()

    return (at(1) - at(-1)) / (2 * eps)


def _check_tangent(fn, arrays, tangents, torch_rule_right: bool | None):
    """Our tangent equals the central difference of torch's function, and torch's tangent
    where its rule is right (else, unless None, torch's rule must disagree with its own
    function)."""
    ours = _tangent(tapegrad, fn, arrays, tangents)
    fd = _torch_difference(fn, arrays, tangents)
    np.testing.assert_allclose(ours, fd, atol=1e-7, rtol=1e-6)
    if torch_rule_right is None:
        return
    theirs = _tangent(torch, fn, arrays, tangents)
    if torch_rule_right:
        np.testing.assert_allclose(ours, theirs, atol=1e-10, rtol=1e-8)
    else:  # a known PyTorch gap: its rule is not its function's derivative
        assert theirs is None or not np.allclose(theirs, fd, atol=1e-6, rtol=1e-5)


# --- silu -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["complex128", "complex64"])
def test_silu_values(dtype):
    def prog(m):
        x = m.tensor(_Z * 3, dtype=getattr(m, dtype))
        y = x.clone()
        F(m).silu(y, inplace=True)
        return F(m).silu(x), m.nn.SiLU()(x), y

    both(prog, **_TOL[dtype])


def test_silu_refuses_reverse_mode_on_complex_values_as_pytorch():
    same_error(lambda m: F(m).silu(m.tensor(_Z, requires_grad=True)))
    same_error(lambda m: m.nn.SiLU()(m.tensor(_Z, dtype=m.complex64, requires_grad=True)))

    def no_grad(m):
        with m.no_grad():
            return F(m).silu(m.tensor(_Z, requires_grad=True))

    both(no_grad)


def test_silu_inplace_is_recorded_and_its_gradient_follows_the_math():
    def prog(m):
        z = m.tensor(_Z, requires_grad=True)
        y = z * 1
        F(m).silu(y, inplace=True)
        return type(y.grad_fn).__name__, y

    both(prog)

    def inplace_silu(m, z):
        y = z * 1
        F(m).silu(y, inplace=True)
        return y

    # (PyTorch's silu_ backward is g f'(x), without the conjugate: not compared)
    _check_against_differences(inplace_silu, [_Z[0]])
    z = tapegrad.tensor(_Z[:2], requires_grad=True)
    assert tapegrad.autograd.gradcheck(lambda t: inplace_silu(tapegrad, t), (z,))
    assert tapegrad.autograd.gradgradcheck(lambda t: inplace_silu(tapegrad, t), (z,))


def test_silu_complex_nodes_when_recorded(monkeypatch):
    """The complex nodes behind silu (also reached by silu_), with PyTorch's refusal lifted:
    gradient and second derivative, and forward mode over the backward (the derivative op's
    own jvp), against central differences."""
    import tapegrad.ops.activation as act

    monkeypatch.setattr(act, "refuse_complex_autograd", lambda *a: None)
    _check_against_differences(lambda m, z: F(m).silu(z), [_Z[1]])
    t = _c(4)

    def grad_at(za, tan=None):
        z = tapegrad.tensor(za, requires_grad=True)
        y = F(tapegrad).silu(z if tan is None else fwAD.make_dual(z, tapegrad.tensor(tan)))
        (g,) = tapegrad.autograd.grad(_real_loss(tapegrad, (y,)), z, create_graph=True)
        return g

    with fwAD.dual_level():
        ours = fwAD.unpack_dual(grad_at(_Z[1], t)).tangent.detach().numpy()
    eps = 1e-6
    fd = (grad_at(_Z[1] + eps * t).detach().numpy()
          - grad_at(_Z[1] - eps * t).detach().numpy()) / (2 * eps)
    np.testing.assert_allclose(ours, fd, atol=1e-7, rtol=1e-6)


def test_silu_forward_mode_follows_the_math():
    # PyTorch's tangent is t conj(f'(x)); the derivative of its function is t f'(x)
    _check_tangent(lambda m, x: F(m).silu(x), [_Z], [_Z2], torch_rule_right=False)
    _check_tangent(lambda m, x: F(m).silu(x.clone(), inplace=True), [_Z], [_Z2], None)


# the other activations PyTorch runs on complex values, through autograd
_COMPLEX_ACTS = {
    "sigmoid": lambda m, z: z.sigmoid(),
    "tanh": lambda m, z: m.tanh(z),
    "tanhshrink": lambda m, z: F(m).tanhshrink(z),
    "softsign": lambda m, z: F(m).softsign(z),
}


@pytest.mark.parametrize("name", sorted(_COMPLEX_ACTS))
def test_complex_activations_against_torch(name):
    fn = _COMPLEX_ACTS[name]
    both(lambda m: _derivatives(m, fn, [_Z]), **_TOL["complex128"])
    both(lambda m: fn(m, m.tensor(_Z, dtype=m.complex64)), **_TOL["complex64"])


_REFUSED_ACTS = {
    "mish": lambda m, z: F(m).mish(z), "gelu": lambda m, z: F(m).gelu(z),
    "gelu_tanh": lambda m, z: F(m).gelu(z, approximate="tanh"),
    "elu": lambda m, z: F(m).elu(z), "selu": lambda m, z: F(m).selu(z),
    "celu": lambda m, z: F(m).celu(z), "softplus": lambda m, z: F(m).softplus(z),
    "logsigmoid": lambda m, z: F(m).logsigmoid(z), "hardtanh": lambda m, z: F(m).hardtanh(z),
    "relu6": lambda m, z: F(m).relu6(z), "leaky_relu": lambda m, z: F(m).leaky_relu(z),
    "hardsigmoid": lambda m, z: F(m).hardsigmoid(z),
    "hardswish": lambda m, z: F(m).hardswish(z), "softshrink": lambda m, z: F(m).softshrink(z),
    "hardshrink": lambda m, z: F(m).hardshrink(z), "relu": lambda m, z: F(m).relu(z),
    "glu": lambda m, z: F(m).glu(z), "threshold": lambda m, z: F(m).threshold(z, 0.1, 0.2),
    "rrelu": lambda m, z: F(m).rrelu(z), "mish_": lambda m, z: F(m).mish(z, inplace=True),
    "elu_": lambda m, z: F(m).elu_(z),
}


@pytest.mark.parametrize("name", sorted(_REFUSED_ACTS))
def test_activations_refusing_complex_values_as_pytorch(name):
    same_error(lambda m: _REFUSED_ACTS[name](m, m.tensor(_Z)))


# --- rms_norm --------------------------------------------------------------------------------
_RMS = {
    "plain": lambda m, x: F(m).rms_norm(x, (4,)),
    "eps": lambda m, x: F(m).rms_norm(x, (3, 4), eps=0.1),
    "weight": lambda m, x, w: F(m).rms_norm(x, (4,), w),
    "weight_eps": lambda m, x, w: F(m).rms_norm(x, (4,), w, eps=1e-3),
}


@pytest.mark.parametrize("name", sorted(_RMS))
@pytest.mark.parametrize("dtype", ["complex128", "complex64"])
def test_rms_norm_values(name, dtype):
    fn = _RMS[name]
    arrays = [_Z * 1e-3, _W4] if "weight" in name else [_Z * 1e-3]  # (small: eps matters)
    both(lambda m: fn(m, *[m.tensor(a, dtype=getattr(m, dtype)) for a in arrays]),
         **_TOL[dtype])
    both(lambda m: fn(m, *[m.tensor(a * 1e3, dtype=getattr(m, dtype)) for a in arrays]),
         **_TOL[dtype])


@pytest.mark.parametrize("name", sorted(_RMS))
def test_rms_norm_derivatives(name):
    fn = _RMS[name]
    arrays = [_Z, _W4] if "weight" in name else [_Z]
    both(lambda m: _derivatives(m, fn, arrays), **_TOL["complex128"])
    for pos in range(len(arrays)):
        _check_against_differences(fn, arrays, pos)
    tangents = [_Z2, _c(4)][:len(arrays)]
    _check_tangent(fn, arrays, tangents, torch_rule_right=True)


def test_rms_norm_with_a_real_weight_on_complex_input():
    both(lambda m: _derivatives(m, _RMS["weight"], [_Z, _W4.real.copy()]), **_TOL["complex128"])


_DTS = ["complex128", "complex64", "float64", "float32"]


@pytest.mark.parametrize("xdt", _DTS)
@pytest.mark.parametrize("wdt", _DTS)
def test_rms_norm_mixed_dtypes(xdt, wdt):
    """The result takes the input's dtype (a complex weight on a real input loses its
    imaginary part, with PyTorch's warning about that cast)."""
    def prog(m):
        x = m.tensor(_Z if xdt.startswith("complex") else _Z.real, dtype=getattr(m, xdt),
                     requires_grad=True)
        w = m.tensor(_W4 if wdt.startswith("complex") else _W4.real, dtype=getattr(m, wdt),
                     requires_grad=True)
        y = F(m).rms_norm(x, (4,), w)
        gs = m.autograd.grad(_real_loss(m, (y,)), (x, w))
        return type(y.grad_fn).__name__, y, gs

    tol = _TOL["complex64"] if "64" in xdt + wdt or "32" in xdt + wdt else _TOL["complex128"]
    with np.errstate(all="ignore"):
        both(prog, **tol)


_WARN_PROG = """
import json, warnings, {m}
res = []
for xdt, wdt in (("float32", "float64"), ("float64", "complex64"), ("complex128", "float32")):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        {m}.nn.functional.rms_norm({m}.ones(2, 3, dtype={m}.__dict__[xdt]), (3,),
                                   {m}.ones(3, dtype={m}.__dict__[wdt]))
    res.append([str(x.message).split(" (Triggered")[0] for x in w])
print(json.dumps(res))
"""


def test_rms_norm_warns_once_about_a_weight_of_another_dtype():
    """PyTorch warns once per process, for a real input only; then a complex weight's cast."""
    def run(m):
        out = subprocess.run([sys.executable, "-c", _WARN_PROG.format(m=m)], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out)

    ours, theirs = run("tapegrad"), run("torch")
    assert ours == theirs
    assert "Mismatch dtype" in ours[0][0]


def test_rms_norm_warning_in_this_process(monkeypatch):
    import tapegrad.ops.normalization as norm

    monkeypatch.setattr(norm, "_rms_mismatch_warned", False)
    x = tapegrad.ones(2, 3, dtype=tapegrad.float64)
    first = warnings_of(lambda: F(tapegrad).rms_norm(x, (3,), tapegrad.ones(3)))
    again = warnings_of(lambda: F(tapegrad).rms_norm(x, (3,), tapegrad.ones(3)))
    assert first == ["Mismatch dtype between input and weight: input dtype = double, weight "
                     "dtype = float, Cannot dispatch to fused implementation."]
    assert again == []


# --- logcumsumexp ----------------------------------------------------------------------------
_LCSE = {
    "dim1": lambda m, x: m.logcumsumexp(x, 1),
    "dim0": lambda m, x: x.logcumsumexp(0),
    "dim-1_3d": lambda m, x: m.logcumsumexp(x.reshape(3, 2, 2), -1),
    "0d": lambda m, x: x[1, 2].logcumsumexp(0),
}


@pytest.mark.parametrize("name", sorted(_LCSE))
@pytest.mark.parametrize("dtype", ["complex128", "complex64"])
def test_logcumsumexp_values(name, dtype):
    fn = _LCSE[name]
    for a in (_Z, _Z * 4 + 3j, _Z * 3 - 500):  # (imaginary parts past pi; far from 0)
        both(lambda m: fn(m, m.tensor(a, dtype=getattr(m, dtype))), **_TOL[dtype])


def test_logcumsumexp_infinities_and_nans_as_pytorch():
    inf, nan = np.inf, np.nan
    rows = np.array([[1 + 1j, complex(-inf, 2), complex(-inf, 0), complex(inf, 1), 2 + 0j,
                      complex(inf, -1), complex(nan, 0), 1j],
                     [complex(-inf, 2), complex(-inf, 1), 3 - 1j, complex(inf, 2),
                      complex(inf, 1), 1j, 2j, 3j]])

    def prog(m):
        out = m.logcumsumexp(m.tensor(rows), 1)
        return m.view_as_real(out).isnan(), m.nan_to_num(out, nan=7.0)

    both(prog, atol=0, rtol=1e-15)


@pytest.mark.parametrize("name", sorted(_LCSE))
def test_logcumsumexp_derivatives(name):
    fn = _LCSE[name]
    both(lambda m: _derivatives(m, fn, [_Z]), **_TOL["complex128"])
    _check_against_differences(fn, [_Z])
    _check_tangent(fn, [_Z], [_Z2], torch_rule_right=True)


def test_logcumsumexp_second_derivative_where_the_cotangent_is_zero():
    """A loss reading only some outputs: the first gradient as PyTorch's; the second is the
    central difference of the first (PyTorch's is NaN on those rows: log's derivative at 0)."""
    def first(m, za, create_graph=False):
        x = m.tensor(za, requires_grad=True)
        y = m.logcumsumexp(x, 1)
        (g,) = m.autograd.grad(y[:, 1].real.sum() + y[0, 3].imag, x, create_graph=create_graph)
        return x, g

    both(lambda m: first(m, _Z[:2])[1])

    def second_loss(g):
        return (g * g.conj()).real.sum()

    x, g = first(tapegrad, _Z[:2], True)
    (gg,) = tapegrad.autograd.grad(second_loss(g), x)
    num = _numeric_grad(lambda za: float(second_loss(first(tapegrad, za)[1])), _Z[:2])
    np.testing.assert_allclose(gg.numpy(), num, atol=1e-6, rtol=1e-6)


def test_logcumsumexp_tangent_far_from_zero():
    # PyTorch's forward rule underflows to ~1e-205 here; its function's derivative does not
    _check_tangent(_LCSE["dim1"], [_Z * 3 - 500], [_Z2], torch_rule_right=False)


def test_logcumsumexp_out_and_refusals():
    def prog(m):
        out = m.empty(3, 4, dtype=m.complex128)
        r = m.logcumsumexp(m.tensor(_Z), 1, out=out)
        return r is out, out

    both(prog)
    same_error(lambda m: m.logcumsumexp(m.tensor(_Z, requires_grad=True), 1,
                                        out=m.empty(3, 4, dtype=m.complex128)))
    # (the out= refusal comes before the dtype's)
    same_error(lambda m: m.logcumsumexp(m.ones(3, dtype=m.int64), 0,
                                        out=m.empty(3, requires_grad=True)))


# --- scatter_reduce ----------------------------------------------------------------------------
def _sr(reduce, include_self=True):
    def fn(m, x, s):
        return x.scatter_reduce(1, m.tensor(_IDX), s, reduce, include_self=include_self)

    return fn


def _sr_inplace(reduce, include_self=True):
    def fn(m, x, s):
        y = x * 1
        y.scatter_reduce_(1, m.tensor(_IDX), s, reduce, include_self=include_self)
        return y

    return fn


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dtype", ["complex128", "complex64"])
def test_scatter_reduce_values(reduce, include_self, dtype):
    def prog(m):
        x, s = (m.tensor(a, dtype=getattr(m, dtype)) for a in (_Z, _Z2))
        y = x.clone()
        y.scatter_reduce_(1, m.tensor(_IDX), s, reduce, include_self=include_self)
        return _sr(reduce, include_self)(m, x, s), y, m.scatter_reduce(
            x, 1, m.tensor(_IDX), s, reduce, include_self=include_self)

    both(prog, **_TOL[dtype])


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_refusals_as_pytorch(reduce):
    idx = [[0, 1], [1, 1]]
    same_error(lambda m: m.tensor(_Z[:2, :2], requires_grad=True).scatter_reduce(
        1, m.tensor(idx), m.tensor(_Z2[:2, :2]), reduce))
    same_error(lambda m: m.tensor(_Z[:2, :2]).scatter_reduce(
        1, m.tensor(idx), m.tensor(_Z2[:2, :2], requires_grad=True), reduce,
        include_self=False))
    same_error(lambda m: m.scatter_reduce(
        m.tensor(_Z[:2, :2], requires_grad=True), 1, m.tensor(idx), m.tensor(_Z2[:2, :2]),
        reduce, out=m.empty(2, 2, dtype=m.complex128)))
    if reduce in ("amax", "amin"):  # no complex kernel: refused even without grad
        same_error(lambda m: m.tensor(_Z).scatter_reduce(1, m.tensor(_IDX), m.tensor(_Z2),
                                                         reduce, include_self=False))
        same_error(lambda m: m.tensor(_Z).scatter_reduce_(1, m.tensor(_IDX), m.tensor(_Z2),
                                                          reduce))
        # an empty index runs no kernel
        both(lambda m: m.tensor(_Z).scatter_reduce(1, m.tensor(_IDX[:, :0]), m.tensor(_Z2),
                                                   reduce))


def test_scatter_reduce_out_message_names_the_op():
    same_error(lambda m: m.scatter_reduce(m.randn(2, 2, requires_grad=True), 1,
                                          m.tensor([[0, 1], [1, 1]]), m.randn(2, 2), "sum",
                                          out=m.empty(2, 2)))


def _with_zeros():
    x, s = _Z.copy(), _Z2.copy()
    x[0, 1] = 0          # a zero of self
    s[1, 0] = 0          # the only zero reaching its position
    s[2, 0] = s[2, 1] = 0  # (two zeros reaching position (2, 3))
    return x, s


@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_prod_inplace_gradients_follow_the_math(include_self):
    """scatter_reduce_ records complex values (PyTorch's backward there omits the
    conjugate: not compared); d self and d src against central differences, zeros included."""
    fn = _sr_inplace("prod", include_self)
    both(lambda m: type(fn(m, m.tensor(_Z, requires_grad=True), m.tensor(_Z2)).grad_fn).__name__)
    _check_against_differences(fn, [_Z, _Z2], 0)
    _check_against_differences(fn, [_Z, _Z2], 1)
    x, s = _with_zeros()
    s[2, 1] = 1  # one zero per position: second derivatives exist
    _check_against_differences(fn, [x, s], 0)
    _check_against_differences(fn, [x, s], 1)
    xs = [tapegrad.tensor(a[:2], requires_grad=True) for a in (_Z, _Z2)]
    idx = tapegrad.tensor(_IDX[:2])

    def small(x, s):
        y = x * 1
        return y.scatter_reduce_(1, idx, s, "prod", include_self=include_self)

    assert tapegrad.autograd.gradcheck(small, xs)
    assert tapegrad.autograd.gradgradcheck(small, xs)


def test_scatter_reduce_prod_two_zeros_first_derivative():
    x, s = _with_zeros()
    fn = _sr_inplace("prod")
    xt, st = tapegrad.tensor(x, requires_grad=True), tapegrad.tensor(s, requires_grad=True)
    gx, gs = tapegrad.autograd.grad(_real_loss(tapegrad, (fn(tapegrad, xt, st),)), (xt, st))

    def loss_x(za):
        return float(_real_loss(tapegrad, (fn(tapegrad, tapegrad.tensor(za),
                                              tapegrad.tensor(s)),)))

    np.testing.assert_allclose(gx.numpy(), _numeric_grad(loss_x, x), atol=1e-6, rtol=1e-6)
    # at the two zeros the product is flat in each alone: a zero gradient, as the real rule
    np.testing.assert_allclose(gs.numpy()[2, :2], 0, atol=0)


@pytest.mark.parametrize("reduce", ["prod", "sum", "mean"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_forward_mode(reduce, include_self):
    # PyTorch gives no tangent for prod; sum and mean it has right
    _check_tangent(_sr(reduce, include_self), [_Z, _Z2], [_c(3, 4), _c(3, 4)],
                   torch_rule_right=reduce != "prod")
    _check_tangent(_sr(reduce, include_self), [_Z, _Z2], [None, _c(3, 4)],
                   torch_rule_right=reduce != "prod")
    _check_tangent(_sr_inplace(reduce, include_self), [_Z, _Z2], [_c(3, 4), _c(3, 4)], None)


# --- soft_margin_loss ------------------------------------------------------------------------
_TARGETS = {
    "sign": lambda m: m.tensor(_SIGN),
    "complex": lambda m: m.tensor(_Z2),
    "int": lambda m: m.tensor(_SIGN.astype(np.int64)),
    "bool": lambda m: m.tensor(_SIGN > 0),
    "row": lambda m: m.tensor(_SIGN[0]),
}


@pytest.mark.parametrize("target", sorted(_TARGETS))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", ["complex128", "complex64"])
def test_soft_margin_loss_values(target, reduction, dtype):
    def prog(m):
        x = m.tensor(_Z * 2, dtype=getattr(m, dtype))
        return F(m).soft_margin_loss(x, _TARGETS[target](m), reduction=reduction)

    both(prog, **_TOL[dtype])


def test_soft_margin_loss_far_from_zero():
    # exp(-y x) tiny: log1p must keep its real part
    both(lambda m: F(m).soft_margin_loss(m.tensor(_Z + 30), m.tensor(np.ones((3, 4))),
                                         reduction="none"), atol=0, rtol=1e-12)


def test_soft_margin_loss_refusals_as_pytorch():
    y = _SIGN
    same_error(lambda m: F(m).soft_margin_loss(m.tensor(_Z, requires_grad=True), m.tensor(y)))
    same_error(lambda m: m.nn.SoftMarginLoss()(m.tensor(_Z, requires_grad=True), m.tensor(y)))
    same_error(lambda m: F(m).soft_margin_loss(m.tensor(_Z, requires_grad=True),
                                               m.tensor(_Z2, requires_grad=True)))


@pytest.mark.parametrize("pair", [
    ("float32", "complex64"), ("float64", "complex64"), ("float32", "complex128"),
    ("int64", "complex128"), ("int64", "float64"), ("int64", "int64"), ("int32", "float16"),
    ("bool", "float64"), ("float16", "complex64"), ("int64", "float32")])
def test_soft_margin_loss_dtype_errors_as_pytorch(pair):
    a, b = pair
    same_error(lambda m: F(m).soft_margin_loss(m.ones(2, dtype=getattr(m, a)),
                                               m.ones(2, dtype=getattr(m, b))))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target", ["sign", "complex", "row"])
def test_soft_margin_loss_forward_mode_follows_the_math(reduction, target):
    y = {"sign": _SIGN, "complex": _Z2, "row": _SIGN[0]}[target]

    def fn(m, x, t):
        return F(m).soft_margin_loss(x, t, reduction=reduction)

    # PyTorch's tangent is not its function's derivative on complex values
    _check_tangent(fn, [_Z, y], [_c(3, 4), None], torch_rule_right=False)


def test_soft_margin_loss_forward_mode_on_real_values_as_pytorch():
    def fn(m, x, t):
        return F(m).soft_margin_loss(x, t, reduction="sum")

    _check_tangent(fn, [_Z.real.copy(), _SIGN], [_Z2.real.copy(), None], torch_rule_right=True)


def test_soft_margin_loss_bool_target_in_forward_mode_as_pytorch():
    def prog(m):
        fw = _fwad(m)
        with fw.dual_level():
            x = fw.make_dual(m.tensor(_Z), m.tensor(_Z2))
            return fw.unpack_dual(F(m).soft_margin_loss(x, m.tensor(_SIGN > 0))).tangent

    same_error(prog)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_soft_margin_loss_backward_rule_when_recorded(monkeypatch, reduction):
    """The complex backward rule, with PyTorch's refusal lifted, against central
    differences (a real and a complex target)."""
    import tapegrad.ops.loss as loss_mod

    monkeypatch.setattr(loss_mod, "refuse_complex_autograd", lambda *a: None)
    for y in (_SIGN, _Z2):
        _check_against_differences(
            lambda m, x, t: F(m).soft_margin_loss(x, t, reduction=reduction), [_Z, y], 0)


@pytest.mark.parametrize("fn", ["dropout", "alpha_dropout", "feature_alpha_dropout",
                                "dropout1d", "dropout2d", "dropout3d"])
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_dropout_refuses_complex(fn, dtype):
    """Dropout draws a Bernoulli mask, which has no complex kernel: PyTorch's error (p = 0 and
    p = 1 need no draw and work)."""
    pytest.importorskip("torch")

    def prog(m):
        shape = (2, 3, 4, 4) if fn == "dropout3d" else (2, 3, 4)
        x = m.ones(shape, dtype=getattr(m, dtype))
        F = m.nn.functional  # noqa: N806
        kept = (getattr(F, fn)(x, 0.0, training=True), getattr(F, fn)(x, 1.0, training=True))
        return kept, getattr(F, fn)(x, 0.5, training=True)

    same_error(prog)

"""Shape, join/split and matrix-product ops against PyTorch: what the op table
(tests/op_db/shape.py, tests/op_db/linalg.py) does not express: error messages, warnings,
views versus copies, grad_fn chains, integer products, unused outputs of multi-output ops.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg

try:
    import torch
except ImportError:  # pragma: no cover - the torch comparisons skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _env(m):
    rng = np.random.default_rng(3)

    def r(*shape, dtype=None):
        return m.tensor(rng.standard_normal(shape), dtype=dtype or m.float32, requires_grad=True)

    return {"m": m, "r": r, "np": np, "f64": m.float64, "e": m.tensor([])}


def _run(m, expr):
    env = _env(m)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            y = eval(expr, env)  # noqa: S307 - fixed test expressions
        except Exception as e:  # noqa: BLE001 - compared with torch's
            return e, []
    return y, [str(i.message).split(" (Triggered internally")[0] for i in w]


def _chain(y, acc):
    out = []
    f = y.grad_fn
    while f is not None and f.name() != acc:
        out.append(f.name())
        f = f.next_functions[0][0]
    return out


ERRORS = r"""
r(2,3).view(5,5)
r(2,3).view(-1,-1)
r(2,3).view(-2,3)
r(2,0).reshape(-1,0)
r(2,3).reshape(2,-1,0)
r(2,3).transpose(0,1).view(-1)
r(2,3).permute(0)
r(2,3).permute(0,0)
r(2,3).permute()
r(2,3).expand(3,3)
r(2,3).expand(3)
r(2,3).expand(-1,2,3)
r(1,3,1).squeeze((0,0))
r(2,3).unsqueeze(3)
r(2,3,4).t()
r(2,3).flatten(1,0)
r(2,3).flatten(0,5)
r(2,3).unflatten(1, (2,2))
r(2,3).unflatten(1, ())
r(2,3).unflatten(1, (2,-1))
r(2,3).unflatten(1, (-1,-1))
m.tensor(1.).unflatten(0, (1,))
r(2,3).movedim((0,0),(1,0))
r(2,3).movedim((0,1),(1,1))
r(2,3).movedim((0,1),(1,))
r(3).mT
r(3).mH
r(2,3,4).H
r(3).H
r(3).adjoint()
m.cat([r(2,3), r(4,3)], 1)
m.cat([])
m.cat([r(2,3), r(3)])
m.cat([r(2,3), r(2,3)], 2)
m.cat([m.tensor(1.), m.tensor(2.)])
m.cat([r(2), m.tensor(1.)])
m.cat([r(2,3), m.empty(0,4)])
m.cat([r(2,3), 1])
m.cat(r(2,3))
m.cat([r(2,3,4), r(2,5,4), r(2,3,5)], 1)
m.cat([e, r(2,3)], 2)
m.stack([r(2,3), r(4,3)])
m.stack([])
m.stack([r(2,3), r(2,3)], 3)
m.stack([r(2), 1])
r(4).split(-1)
r(4).split(0)
r(4).split([1,2])
r(4).split([-1,5])
m.tensor(1.).split(1)
r(4).chunk(0)
m.tensor(1.).chunk(2)
m.tensor(1.).unbind()
r(2).unbind(1)
r(4).split_with_sizes([1,1])
m.mm(r(2,3), r(4,5))
m.mm(r(3), r(3,4))
m.mm(r(2,3), r(3))
m.mm(r(2,3), r(3,4,dtype=f64))
m.mm(r(2,3), r(4,5,dtype=f64))
m.ones(2,3,dtype=m.long) @ r(3,4)
m.ones(2,3,dtype=m.int32) @ m.ones(3,2,dtype=m.long)
m.ones(2,3,dtype=m.bool) @ m.ones(3,2,dtype=m.bool)
m.ones(2,3,dtype=m.cfloat) @ m.ones(3,2)
m.bmm(r(2,2,3), r(2,4,4))
m.bmm(r(2,3), r(3,4))
m.bmm(r(2,2,3), r(3,4))
m.bmm(r(2,2,3), r(3,3,4))
m.bmm(r(2,2,3), r(2,3,4,dtype=f64))
m.bmm(m.ones(2,2,3,dtype=m.bool), m.ones(2,3,2,dtype=m.bool))
m.mv(r(2,3), r(4))
m.mv(r(3), r(3))
m.mv(r(2,3), r(3,1))
m.mv(r(2,3,dtype=f64), r(3))
m.mv(m.ones(2,3,dtype=m.bool), m.ones(3,dtype=m.bool))
m.dot(r(3), r(4))
m.dot(r(2,3), r(3))
m.dot(r(3), r(3,dtype=f64))
m.dot(m.tensor(1.), m.tensor(1.))
m.dot(m.ones(3,dtype=m.bool), m.ones(3,dtype=m.bool))
m.vdot(r(3), r(4))
m.outer(r(3,1), r(4))
m.outer(r(3), r(2,2))
m.tensor(1.) @ r(3)
r(3) @ r(4)
r(3) @ r(4,5)
r(2,3) @ r(4)
r(5,2,3) @ r(5,4,4)
r(5,2,3) @ r(4,3,4)
r(5,2,3) @ r(5,3)
r(2,2,3) @ r(3,dtype=f64)
r(3) @ r(2,3,2,dtype=f64)
r(2,2) @ [[1.,2.],[3.,4.]]
m.matmul(r(2,2), np.ones((2,2)))
""".strip().splitlines()


@needs_torch
@pytest.mark.parametrize("expr", ERRORS)
def test_errors_like_torch(expr):
    a, _ = _run(tg, expr)
    b, _ = _run(torch, expr)
    assert isinstance(b, Exception), "torch raised nothing: fix the case"
    assert isinstance(a, Exception), f"no error, got {a!r}"
    assert type(a) is type(b)
    # PyTorch appends a C++ backtrace to some messages: compare up to it
    expected = str(b).split("\nException raised from")[0].replace("torch.", "tapegrad.")
    assert str(a) == expected


RESULTS = r"""
r(2,3,4).reshape(6,4)
r(2,3,4).transpose(0,1).reshape(3,2,4)
r(2,3,4).transpose(0,1).reshape(-1)
r(2,3,4).view(2,3,4)
r(5).reshape(5)
r(2,3,4).flatten()
r(5).flatten()
m.tensor(1., requires_grad=True).flatten()
r(2,3,4).flatten(1,1)
r(2,3,4).transpose(0,1).flatten()
r(2,3,4).unflatten(1, (3,1))
r(2,3,4).transpose(0,1).unflatten(0, (3,1))
r(2,3,4).movedim(0,2)
r(2,3,4).movedim(0,0)
m.moveaxis(r(2,3,4), 0, -1)
r(1,3,1).squeeze()
r(1,3,1).squeeze(0)
r(1,3,1).squeeze((0,2))
r(1,3,1).squeeze(1)
m.tensor(1., requires_grad=True).squeeze(-1)
r(2,3).T
r(2,3,4).T
r(5).T
m.tensor(1., requires_grad=True).T
r(2,3,4).mT
m.tensor(1., requires_grad=True).mT
m.tensor(1., requires_grad=True).mH
m.tensor(1., requires_grad=True).H
r(2,3).H
r(2,3,4).mH
r(2,3,4).adjoint()
r(5).t()
m.tensor(1., requires_grad=True).t()
m.tensor(1., requires_grad=True).transpose(0,-1)
r(2,3,4).permute(0,1,2)
r(2,3,4).ravel()
r(2,3,4).transpose(0,1).ravel()
r(2,3).expand(2,2,3)
r(3,1).expand_as(r(2,3,4))
m.cat([r(2,3), e])
m.cat([e, e])
m.cat([e, r(2,3), e])
m.cat([r(2,3), e], 1)
m.cat([m.tensor([],dtype=f64), r(2)])
m.cat([m.tensor([],dtype=m.long), r(2)])
m.cat([r(2,3), m.empty(0,3)])
m.cat([m.ones(2,3,dtype=m.long), m.ones(2,3,dtype=m.long)])
m.cat([r(2,3)>0, r(2,3)])
m.stack([r(2,3), r(2,3,dtype=f64)])
m.stack([m.ones(2,dtype=m.bool), m.ones(2)])
m.hstack([m.tensor(1.,requires_grad=True), m.tensor(2.)])
m.vstack([m.tensor(1.,requires_grad=True), m.tensor(2.)])
m.randn(0,3).chunk(3)
m.randn(0,3).split(0)
r(4).split([0,4])
r(7).tensor_split([1,5])
r(2,3).unbind(-1)
m.ones(2,3,dtype=m.long) @ m.ones(3,2,dtype=m.long)
m.arange(3) @ m.arange(3)
m.ones(2,2,3,dtype=m.long) @ m.ones(3,dtype=m.long)
m.ones(2,3,dtype=m.int32) @ m.ones(3,dtype=m.int32)
m.ones(2,3,dtype=m.half) @ m.ones(3,2,dtype=m.half)
m.ones(2,3,dtype=m.uint8) @ m.ones(3,2,dtype=m.uint8)
m.outer(m.arange(3), r(2))
m.outer(r(3), r(2,dtype=f64))
r(2,0) @ r(0,3)
r(0) @ r(0)
r(2,3,0) @ r(0,2)
m.vdot(m.ones(2,dtype=m.cfloat)*1j, m.ones(2,dtype=m.cfloat))
m.matmul(r(2,3).t(), r(2,4))
""".strip().splitlines()


@needs_torch
@pytest.mark.parametrize("expr", RESULTS)
def test_results_like_torch(expr):
    a, wa = _run(tg, expr)
    b, wb = _run(torch, expr)
    assert not isinstance(b, Exception), b
    assert not isinstance(a, Exception), f"{type(a).__name__}: {a}"
    if ".T" not in expr:  # PyTorch warns about x.T once per process (tested below)
        assert [s.replace("torch.", "tapegrad.") for s in wb] == wa
    outs_a = list(a) if isinstance(a, tuple) else [a]
    outs_b = list(b) if isinstance(b, tuple) else [b]
    assert len(outs_a) == len(outs_b)
    for ya, yb in zip(outs_a, outs_b):
        assert tuple(ya.shape) == tuple(yb.shape)
        assert str(ya.dtype).split(".")[-1] == str(yb.dtype).split(".")[-1]
        np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=1e-6)
        assert _chain(ya, "tapegrad::autograd::AccumulateGrad") == \
            _chain(yb, "torch::autograd::AccumulateGrad")
        assert (ya._base is not None) == (yb._base is not None), "view vs copy"
        assert ya.requires_grad == yb.requires_grad
        assert ya.output_nr == yb.output_nr


_T_WARNING = (
    "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated "
    "and it will throw an error in a future release. Consider `x.mT` to transpose batches of "
    "matrices or `x.permute(*tapegrad.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of "
    "a tensor."
)


@pytest.mark.parametrize("shape,message", [
    ((5,), _T_WARNING), ((2, 3, 4), _T_WARNING),
    ((), "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases."),
    ((2, 3), None),
])
def test_T_warnings(shape, message):  # noqa: N802
    x = tg.zeros(shape)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        y = x.T
    assert [str(i.message) for i in w] == ([message] if message else [])
    assert tuple(y.shape) == tuple(reversed(shape))


# --- matmul: the whole composition, chain by chain ----------------------------------------
MATMUL_SHAPES = [
    ((3,), (3,)), ((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((5, 2, 3), (3, 4)),
    ((5, 2, 3), (3,)), ((2, 3), (5, 3, 4)), ((3,), (5, 3, 4)), ((1, 2, 3), (5, 3, 4)),
    ((5, 2, 3), (1, 3, 4)), ((1, 1, 2, 3), (5, 3, 4)), ((1, 2, 3), (1, 3, 4)),
    ((2, 1, 2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)), ((1, 2, 3), (3, 4)), ((3,), (1, 3, 4)),
    ((2, 3), (1, 3, 4)), ((4, 5, 2, 3), (5, 3, 4)), ((4, 1, 2, 3), (1, 5, 3, 4)),
    ((0, 2, 3), (3, 4)), ((6, 5, 2, 3), (3,)), ((3,), (6, 5, 3, 2)),
]


@needs_torch
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
@pytest.mark.parametrize("ga,gb", [(True, False), (False, True), (True, True), (False, False)])
def test_matmul_chain_like_torch(sa, sb, ga, gb):
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal(sa), rng.standard_normal(sb)
    res = []
    for m in (tg, torch):
        a = m.tensor(A, requires_grad=ga)
        b = m.tensor(B, requires_grad=gb)
        y = a @ b
        grads = None
        if y.requires_grad:
            gy = np.random.default_rng(5).standard_normal(tuple(y.shape))
            grads = m.autograd.grad(y, [t for t in (a, b) if t.requires_grad], m.tensor(gy))
            grads = [g.numpy() for g in grads]
        res.append((tuple(y.shape), _chain(y, f"{m.__name__}::autograd::AccumulateGrad"),
                    y.detach().numpy(), grads))
    (sa_, ca, va, gra), (sb_, cb, vb, grb) = res
    assert sa_ == sb_
    assert ca == cb
    np.testing.assert_allclose(va, vb, rtol=1e-12, atol=1e-12)
    if grb is not None:
        for x, z in zip(gra, grb):
            np.testing.assert_allclose(x, z, rtol=1e-12, atol=1e-12)


def test_matmul_numpy_semantics():
    rng = np.random.default_rng(6)
    for sa, sb in MATMUL_SHAPES:
        A, B = rng.standard_normal(sa), rng.standard_normal(sb)
        np.testing.assert_allclose((tg.tensor(A) @ tg.tensor(B)).numpy(), A @ B, rtol=1e-12)


def test_matmul_operator_with_non_tensors():
    x = tg.ones(2, 2)
    with pytest.raises(TypeError, match="unsupported operand"):
        x @ [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(TypeError, match="must be Tensor, not numpy.ndarray"):
        tg.matmul(x, np.eye(2))


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_products_gradients_numeric(dtype):
    """mm / bmm / mv / dot / vdot: analytic vs central differences (real part of the loss)."""
    rng = np.random.default_rng(7)

    def arr(*s):
        a = rng.standard_normal(s)
        if dtype == "complex128":
            a = a + 1j * rng.standard_normal(s)
        return a

    cases = [(tg.mm, arr(2, 3), arr(3, 4)), (tg.bmm, arr(2, 2, 3), arr(2, 3, 2)),
             (tg.mv, arr(2, 3), arr(3)), (tg.dot, arr(3), arr(3)), (tg.vdot, arr(3), arr(3))]
    for fn, A, B in cases:
        xa = tg.tensor(A, requires_grad=True)
        xb = tg.tensor(B, requires_grad=True)
        v = arr(*fn(xa, xb).shape)
        loss = (fn(xa, xb) * tg.tensor(np.conj(v))).sum().real
        ga, gb = tg.autograd.grad(loss, [xa, xb])
        for g, X, which in ((ga, A, 0), (gb, B, 1)):
            num = np.zeros(X.shape, dtype=X.dtype)
            eps = 1e-6
            for i in np.ndindex(X.shape):
                for step in ((1.0,) if dtype == "float64" else (1.0, 1j)):
                    Xp, Xm = X.copy(), X.copy()
                    Xp[i] += eps * step
                    Xm[i] -= eps * step
                    args_p = (tg.tensor(Xp), tg.tensor(B)) if which == 0 else \
                        (tg.tensor(A), tg.tensor(Xp))
                    args_m = (tg.tensor(Xm), tg.tensor(B)) if which == 0 else \
                        (tg.tensor(A), tg.tensor(Xm))
                    fp = (fn(*args_p).numpy() * np.conj(v)).sum().real
                    fm = (fn(*args_m).numpy() * np.conj(v)).sum().real
                    num[i] += (fp - fm) / (2 * eps) * step
            # PyTorch's convention: the gradient of a real loss is conj of d/dz, i.e. dL/dRe +
            # i dL/dIm
            np.testing.assert_allclose(g.numpy(), num, rtol=1e-6, atol=1e-6,
                                       err_msg=f"{fn.__name__} input {which}")


# --- views and multi-output nodes ----------------------------------------------------------
def test_views_share_storage_and_version():
    x = tg.arange(12.0)
    for y in (x.view(3, 4), x.reshape(3, 4), x.unflatten(0, (3, 4)), x.narrow(0, 2, 3),
              x.split(5)[1], x.reshape(3, 4).unbind(1)[2], x.reshape(3, 4).t(),
              x.reshape(3, 4).movedim(0, 1), x.reshape(2, 6).flatten()):
        assert y._base is x
        before = y._version
        x.add_(0)
        assert y._version == before + 1
    c = x.reshape(3, 4).t().reshape(-1)  # needs a copy
    assert c._base is None


def test_split_unused_outputs_get_zero_gradients():
    x = tg.arange(6.0, requires_grad=True)
    a, b, c = x.split(2)
    (b * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 3, 3, 0, 0])
    x = tg.arange(6.0, requires_grad=True)
    rows = x.reshape(2, 3).unbind(1)
    (rows[0] + 2 * rows[2]).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 2, 1, 0, 2])
    assert rows[2].output_nr == 2 and rows[0].grad_fn is rows[2].grad_fn
    assert rows[0].grad_fn.n_outputs == 3


def test_split_double_backward():
    x = tg.tensor(np.random.default_rng(8).standard_normal(5), requires_grad=True)
    a, b = x.split([2, 3])
    y = (a ** 3).sum() + (b ** 2).sum()
    (g,) = tg.autograd.grad(y, x, create_graph=True)
    (gg,) = tg.autograd.grad(g.sum(), x)
    xv = x.detach().numpy()
    np.testing.assert_allclose(gg.numpy(), np.r_[6 * xv[:2], [2.0, 2.0, 2.0]], rtol=1e-12)


def test_cat_gradient_dtypes():
    a = tg.ones(2, requires_grad=True)
    b = tg.ones(1, dtype=tg.float64, requires_grad=True)
    y = tg.cat([a, b])
    assert y.dtype is tg.float64
    (y * tg.tensor([1.0, 2.0, 3.0], dtype=tg.float64)).sum().backward()
    assert a.grad.dtype is tg.float32 and b.grad.dtype is tg.float64
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(b.grad.numpy(), [3.0])


def test_integer_products_have_no_grad():
    a = tg.arange(6).reshape(2, 3)
    y = a @ a.t()
    assert y.dtype is tg.int64 and y.grad_fn is None
    assert y.tolist() == [[5, 14], [14, 50]]

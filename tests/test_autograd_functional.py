"""tapegrad.autograd.functional (vjp, jvp, jacobian, hessian, hvp, vhp) against
torch.autograd.functional and float64 central differences: values, tuple conventions,
create_graph, strict mode and the argument checks with PyTorch's messages."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tapegrad
from _helpers import both, same, same_error

RNG = np.random.default_rng(7)
X3 = RNG.standard_normal(3)
Y3 = RNG.standard_normal(3)
X23 = RNG.standard_normal((2, 3))
Y32 = RNG.standard_normal((3, 2))
A23 = RNG.standard_normal((2, 3))
V2 = RNG.standard_normal(2)
V3 = RNG.standard_normal(3)
V3B = RNG.standard_normal(3)
V23 = RNG.standard_normal((2, 3))


def t(m, a, rg=False):
    return m.tensor(a, dtype=m.float64, requires_grad=rg)


# name -> (function of (m, *inputs), input arrays, cotangent arrays for the outputs)
# the function's output is a tensor, or a tuple of tensors for tuple-output cases
CASES = {
    "elementwise": (lambda m, x: x.sin() * x.exp() + x ** 3, (X3,), (V3,)),
    "matmul": (lambda m, x: (t(m, A23) @ x).tanh(), (X3,), (V2,)),
    "reduction": (lambda m, x: (x ** 2).sum(1) + x.mean() * x.prod(1), (X23,), (V2,)),
    "two_inputs": (lambda m, x, y: (x.unsqueeze(1) * y.exp()).sum(0), (X3, Y32), (V2,)),
    "two_outputs": (lambda m, x: (x.sin(), (x ** 2).sum()), (X3,), (V3, np.array(0.7))),
    "tuples": (lambda m, x, y: (x * y, x.sum() * y.exp()), (X3, Y3), (V3, V3B)),
    "matrix_in": (lambda m, x: x @ x.t(), (X23,), (np.ones((2, 2)),)),
}

# scalar functions for Hessians (inputs as above)
SCALAR = {
    "elementwise": (lambda m, x: (x.tanh() ** 2).sum() + (x ** 3).sum() * x.prod(), (X3,)),
    "matmul": (lambda m, x: ((t(m, A23) @ x).tanh() ** 2).sum(), (X3,)),
    "two_inputs": (lambda m, x, y: (x.exp() * y.sin()).sum() + (x * y).sum() ** 2, (X3, Y3)),
    "matrix_in": (lambda m, x: (x @ x.t()).sum() ** 2 / 10 + (x ** 4).mean(), (X23,)),
}


def _fn(m, f):
    return lambda *a: f(m, *a)


def _inputs(m, arrays, rg=False):
    return tuple(t(m, a, rg) for a in arrays)


def _pack(items):
    return items[0] if len(items) == 1 else items


def _is_tuple_out(name):
    return name in ("two_outputs", "tuples")


def _v_out(m, name):
    _, _, vs = CASES[name]
    return tuple(t(m, v) for v in vs) if _is_tuple_out(name) else t(m, vs[0])


# --- values against PyTorch ------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_vjp_matches_torch(name):
    f, xs, _ = CASES[name]
    both(lambda m: m.autograd.functional.vjp(_fn(m, f), _pack(_inputs(m, xs)), _v_out(m, name)))


@pytest.mark.parametrize("name", list(CASES))
def test_jvp_matches_torch(name):
    f, xs, _ = CASES[name]
    vs = [RNG.standard_normal(np.shape(x)) for x in xs]
    both(lambda m: m.autograd.functional.jvp(
        _fn(m, f), _pack(_inputs(m, xs)), _pack(_inputs(m, vs))))


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("mode", ["plain", "vectorize", "forward"])
def test_jacobian_matches_torch(name, mode):
    f, xs, _ = CASES[name]
    kw = {"plain": {}, "vectorize": {"vectorize": True},
          "forward": {"vectorize": True, "strategy": "forward-mode"}}[mode]
    both(lambda m: m.autograd.functional.jacobian(_fn(m, f), _pack(_inputs(m, xs)), **kw))


@pytest.mark.parametrize("name", list(SCALAR))
@pytest.mark.parametrize("mode", ["plain", "vectorize", "forward"])
def test_hessian_matches_torch(name, mode):
    f, xs = SCALAR[name]
    kw = {"plain": {}, "vectorize": {"vectorize": True},
          "forward": {"vectorize": True, "outer_jacobian_strategy": "forward-mode"}}[mode]
    both(lambda m: m.autograd.functional.hessian(_fn(m, f), _pack(_inputs(m, xs)), **kw))


@pytest.mark.parametrize("name", list(SCALAR))
@pytest.mark.parametrize("fn", ["hvp", "vhp"])
def test_hvp_vhp_match_torch(name, fn):
    f, xs = SCALAR[name]
    vs = [RNG.standard_normal(np.shape(x)) for x in xs]
    both(lambda m: getattr(m.autograd.functional, fn)(
        _fn(m, f), _pack(_inputs(m, xs)), _pack(_inputs(m, vs))))


def test_single_element_defaults_for_v():
    F = "vjp jvp hvp vhp".split()
    both(lambda m: [getattr(m.autograd.functional, fn)(lambda x: (x ** 3).sum(),
                                                      t(m, [0.3])) for fn in F])
    both(lambda m: m.autograd.functional.vjp(lambda x: (x ** 2).sum(), t(m, X3)))


# --- central differences (NumPy only) --------------------------------------------------------
def _call(f, arrays):
    with tapegrad.no_grad():
        out = f(tapegrad, *[t(tapegrad, a) for a in arrays])
    outs = out if isinstance(out, tuple) else (out,)
    return [o.numpy() for o in outs]


def numeric_jacobian(f, arrays, eps=1e-6):
    """J[i][j] = d out_i / d in_j by central differences, shaped out_i.shape + in_j.shape."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    outs = _call(f, arrays)
    jac = [[np.zeros(o.shape + a.shape) for a in arrays] for o in outs]
    for j, a in enumerate(arrays):
        for idx in np.ndindex(a.shape):
            plus = [x.copy() for x in arrays]
            minus = [x.copy() for x in arrays]
            plus[j][idx] += eps
            minus[j][idx] -= eps
            for i, (p, q) in enumerate(zip(_call(f, plus), _call(f, minus))):
                jac[i][j][(...,) + idx] = (p - q) / (2 * eps)
    return jac


def numeric_hessian(f, arrays, eps=1e-4):
    """H[i][j] by central second differences of the scalar f."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]

    def val(xs):
        return float(_call(f, xs)[0])

    hess = [[np.zeros(a.shape + b.shape) for b in arrays] for a in arrays]
    for i, a in enumerate(arrays):
        for ia in np.ndindex(a.shape):
            for j, b in enumerate(arrays):
                for ib in np.ndindex(b.shape):
                    total = 0.0
                    for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                        xs = [x.copy() for x in arrays]
                        xs[i][ia] += si * eps
                        xs[j][ib] += sj * eps
                        total += si * sj * val(xs)
                    hess[i][j][ia + ib] = total / (4 * eps * eps)
    return hess


def _nested(res, n_out, n_in):
    """A jacobian result as a list of lists, whatever the tuple nesting."""
    if n_out == 1:
        res = (res,)
    return [list(r) if n_in > 1 else [r] for r in res]


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_jacobian_matches_central_differences(name, strategy):
    f, xs, _ = CASES[name]
    num = numeric_jacobian(f, xs)
    res = tapegrad.autograd.functional.jacobian(
        _fn(tapegrad, f), _pack(_inputs(tapegrad, xs)), vectorize=True, strategy=strategy)
    got = _nested(res, len(num), len(xs))
    for i, row in enumerate(num):
        for j, block in enumerate(row):
            np.testing.assert_allclose(got[i][j].numpy(), block, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(SCALAR))
def test_hessian_and_products_match_central_differences(name):
    f, xs = SCALAR[name]
    num = numeric_hessian(f, xs)
    F = tapegrad.autograd.functional
    got = _nested(F.hessian(_fn(tapegrad, f), _pack(_inputs(tapegrad, xs))), len(xs), len(xs))
    for i in range(len(xs)):
        for j in range(len(xs)):
            np.testing.assert_allclose(got[i][j].numpy(), num[i][j], rtol=1e-5, atol=1e-5)
    vs = [RNG.standard_normal(np.shape(x)) for x in xs]
    for fn in (F.hvp, F.vhp):
        _, prod = fn(_fn(tapegrad, f), _pack(_inputs(tapegrad, xs)), _pack(_inputs(tapegrad, vs)))
        prod = prod if len(xs) > 1 else (prod,)
        for i in range(len(xs)):
            expect = sum(np.tensordot(num[i][j], vs[j], axes=vs[j].ndim) for j in range(len(xs)))
            np.testing.assert_allclose(prod[i].numpy(), expect, rtol=1e-5, atol=1e-5)


# --- create_graph and grad mode -----------------------------------------------------------
@pytest.mark.parametrize("fn", ["vjp", "jvp", "hvp", "vhp"])
@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("rg", [False, True])
def test_products_create_graph(fn, create_graph, rg):
    def prog(m):
        x = t(m, X3, rg)
        v = t(m, V3)
        f = (lambda x: (x.sin() * x).sum() * x) if fn in ("vjp", "jvp") else (
            lambda x: (x.sin() * x ** 2).sum())
        out, res = getattr(m.autograd.functional, fn)(f, x, v, create_graph=create_graph)
        extra = ()
        if create_graph and rg:  # the results are differentiable with respect to x
            extra = m.autograd.grad(res.sum() + out.sum(), x)
        return out, res, extra

    both(prog)


@pytest.mark.parametrize("create_graph", [False, True])
def test_jacobian_and_hessian_create_graph(create_graph):
    def prog(m):
        x = t(m, X3, True)
        F = m.autograd.functional
        j = F.jacobian(lambda x: x.sin() * x.sum(), x, create_graph=create_graph)
        h = F.hessian(lambda x: (x.sin() * x ** 2).sum(), x, create_graph=create_graph)
        extra = m.autograd.grad((j.sum(), h.sum()), x) if create_graph else ()
        return j, h, extra

    both(prog)


def test_create_graph_without_input_grad_and_v_requiring_grad():
    def prog(m):
        F = m.autograd.functional
        x = t(m, X3)
        v = t(m, V3, True)
        out, r = F.vjp(lambda x: x.exp() * 2, x, v, create_graph=True)
        g = m.autograd.grad(r.sum(), v)  # the product is linear in v
        _, r2 = F.vjp(lambda x: x.exp() * 2, x, v)  # v detached without create_graph
        return out, r, g, r2

    both(prog)


def test_under_no_grad():
    def prog(m):
        F = m.autograd.functional
        x = t(m, X3, True)
        with m.no_grad():
            a = F.vjp(lambda x: x ** 2, x, t(m, V3))
            b = F.vjp(lambda x: x ** 2, x, t(m, V3), create_graph=True)
            c = F.hessian(lambda x: (x ** 3).sum(), x)
            d = F.jacobian(lambda x: x ** 2, x, vectorize=True, strategy="forward-mode")
        return a, b, c, d

    both(prog)


def test_forward_mode_keeps_the_outer_graph():
    def prog(m):
        F = m.autograd.functional
        w = t(m, Y3, True)
        jw = F.jacobian(lambda x: x ** 2 * w, t(m, X3), vectorize=True, strategy="forward-mode")
        jadd = F.jacobian(lambda x: x ** 2 + w, t(m, X3), vectorize=True,
                          strategy="forward-mode")
        jx = F.jacobian(lambda x: x ** 2, t(m, X3, True), vectorize=True,
                        strategy="forward-mode")
        hf = F.hessian(lambda x: (x ** 3).sum(), t(m, X3), vectorize=True,
                       outer_jacobian_strategy="forward-mode")
        hq = F.hessian(lambda x: (x ** 2).sum(), t(m, X3), vectorize=True,
                       outer_jacobian_strategy="forward-mode")
        return jw, jadd, jx, m.autograd.grad(jw.sum(), w), hf, hq

    both(prog)


def test_function_capturing_its_input_sees_a_constant():
    def prog(m):
        x = t(m, X3, True)
        F = m.autograd.functional
        return (F.vjp(lambda inp: inp * x, x, t(m, V3)),
                F.jacobian(lambda inp: inp * x, x),
                F.jacobian(lambda inp: inp * x, x, create_graph=True))

    both(prog)


def test_outputs_independent_of_inputs_give_zeros():
    def prog(m):
        F = m.autograd.functional
        x, y = t(m, X3), t(m, Y3)
        return (F.vjp(lambda x, y: x * 2, (x, y), t(m, V3)),
                F.jvp(lambda x, y: (x * 2, m.ones(2, dtype=m.float64)), (x, y), (x, y)),
                F.jacobian(lambda x, y: (x * 2, m.ones(2, dtype=m.float64)), (x, y)),
                F.hessian(lambda x, y: (x ** 3).sum(), (x, y)),
                F.hvp(lambda x, y: (x ** 3).sum(), (x, y), (x, y)),
                F.vhp(lambda x, y: (x ** 3).sum(), (x, y), (x, y)))

    both(prog)


def test_dtypes_of_jacobians():
    def prog(m):
        F = m.autograd.functional
        x = t(m, X3)
        return (F.jacobian(lambda x: x.float() * 2, x),
                F.jacobian(lambda x: x.float() * 2, x, vectorize=True, strategy="forward-mode"),
                F.jacobian(lambda x: m.ones(2), x, vectorize=True, strategy="forward-mode"))

    both(prog)


# --- strict mode -------------------------------------------------------------------------
def _err(fn):
    pytest.importorskip("torch")
    same_error(fn)


def _w(m):
    return t(m, Y3, True)


STRICT = {
    "vjp_no_grad_output": lambda m: m.autograd.functional.vjp(
        lambda x: m.ones(3), t(m, X3), t(m, V3), strict=True),
    "vjp_unused_input": lambda m: m.autograd.functional.vjp(
        lambda x, y: x * 2, (t(m, X3), t(m, Y3)), t(m, V3), strict=True),
    "vjp_create_graph_linear": lambda m: m.autograd.functional.vjp(
        lambda x: x * 2, t(m, X3), t(m, V3), strict=True, create_graph=True),
    "jvp_unused_input": lambda m: m.autograd.functional.jvp(
        lambda x, y: x * 2, (t(m, X3), t(m, Y3)), (t(m, V3), t(m, V3)), strict=True),
    "jvp_back_trick": lambda m: m.autograd.functional.jvp(
        lambda x: (x * 2, _w(m) * 1), t(m, X3), t(m, V3), strict=True),
    "jvp_create_graph_linear": lambda m: m.autograd.functional.jvp(
        lambda x: x * 2, t(m, X3), t(m, V3), strict=True, create_graph=True),
    "jacobian_unused_input": lambda m: m.autograd.functional.jacobian(
        lambda x, y: x * 2, (t(m, X3), t(m, Y3)), strict=True),
    "jacobian_no_grad_output": lambda m: m.autograd.functional.jacobian(
        lambda x: m.ones(3), t(m, X3), strict=True),
    "jacobian_create_graph_linear": lambda m: m.autograd.functional.jacobian(
        lambda x: x * 2, t(m, X3), strict=True, create_graph=True),
    "hessian_linear": lambda m: m.autograd.functional.hessian(
        lambda x: x.sum(), t(m, X3), strict=True),
    "hessian_constant": lambda m: m.autograd.functional.hessian(
        lambda x: m.ones((), dtype=m.float64), t(m, X3), strict=True),
    "vhp_linear": lambda m: m.autograd.functional.vhp(
        lambda x: x.sum(), t(m, X3), t(m, V3), strict=True),
    "vhp_captured": lambda m: m.autograd.functional.vhp(
        lambda x: (x * _w(m)).sum(), t(m, X3), t(m, V3), strict=True),
    "hvp_linear": lambda m: m.autograd.functional.hvp(
        lambda x: x.sum(), t(m, X3), t(m, V3), strict=True),
    "hvp_captured": lambda m: m.autograd.functional.hvp(
        lambda x: (x * _w(m)).sum(), t(m, X3), t(m, V3), strict=True),
}


@pytest.mark.parametrize("name", list(STRICT))
def test_strict_mode_errors(name):
    _err(STRICT[name])


def test_strict_mode_passes_when_everything_depends():
    both(lambda m: (
        m.autograd.functional.hessian(lambda x: (x ** 2).sum(), t(m, X3), strict=True,
                                      create_graph=True),
        m.autograd.functional.vhp(lambda x: (x ** 2).sum(), t(m, X3), t(m, V3), strict=True,
                                  create_graph=True),
        m.autograd.functional.hvp(lambda x: (x ** 2).sum(), t(m, X3), t(m, V3), strict=True,
                                  create_graph=True),
        m.autograd.functional.vjp(lambda x: x ** 2, t(m, X3), t(m, V3), strict=True),
        m.autograd.functional.jacobian(lambda x: x ** 2, t(m, X3), strict=True,
                                       create_graph=True),
        m.autograd.functional.hessian(lambda x: (x ** 3).sum(), t(m, X3), strict=True),
        m.autograd.functional.hvp(lambda x: (x ** 3).sum(), t(m, X3), t(m, V3), strict=True),
    ))


# --- argument checks ----------------------------------------------------------------------
CHECKS = {
    "vjp_v_none_vector_output": lambda m: m.autograd.functional.vjp(lambda x: x * 2, t(m, X3)),
    "jvp_v_none_vector_input": lambda m: m.autograd.functional.jvp(lambda x: x * 2, t(m, X3)),
    "hvp_v_none_vector_input": lambda m: m.autograd.functional.hvp(
        lambda x: x.sum(), t(m, X3)),
    "vhp_v_none_tuple_input": lambda m: m.autograd.functional.vhp(
        lambda x, y: x.sum(), (t(m, [1.0]), t(m, [2.0]))),
    "v_wrong_size": lambda m: m.autograd.functional.vjp(lambda x: x * 2, t(m, X3), t(m, V2)),
    "v_tuple_for_single": lambda m: m.autograd.functional.vjp(
        lambda x: x * 2, t(m, X3), (t(m, V3), t(m, V3))),
    "v_tuple_wrong_length": lambda m: m.autograd.functional.jvp(
        lambda x, y: x * y, (t(m, X3), t(m, Y3)), (t(m, V3),)),
    "v_entry_wrong_size": lambda m: m.autograd.functional.hvp(
        lambda x, y: (x * y).sum(), (t(m, X3), t(m, Y3)), (t(m, V3), t(m, V2))),
    "v_not_tensor": lambda m: m.autograd.functional.vjp(lambda x: x * 2, t(m, X3), [1.0]),
    "input_not_tensor": lambda m: m.autograd.functional.jacobian(
        lambda x, y: x * y, (t(m, X3), 2)),
    "input_list": lambda m: m.autograd.functional.vjp(lambda x: x, [t(m, X3)], t(m, X3)),
    "output_list": lambda m: m.autograd.functional.jacobian(lambda x: [x, x], t(m, X3)),
    "output_number": lambda m: m.autograd.functional.vjp(lambda x: (x, 3), t(m, X3)),
    "forward_output_list": lambda m: m.autograd.functional.jacobian(
        lambda x: [x, x], t(m, X3), vectorize=True, strategy="forward-mode"),
    "hessian_tuple_output": lambda m: m.autograd.functional.hessian(
        lambda x: (x.sum(), x.sum()), t(m, X3)),
    "hessian_vector_output": lambda m: m.autograd.functional.hessian(lambda x: x * 2, t(m, X3)),
    "hvp_tuple_output": lambda m: m.autograd.functional.hvp(
        lambda x: (x.sum(),), t(m, X3), t(m, V3)),
    "vhp_vector_output": lambda m: m.autograd.functional.vhp(
        lambda x: x * 2, t(m, X3), t(m, V3)),
    "bad_strategy": lambda m: m.autograd.functional.jacobian(
        lambda x: x, t(m, X3), strategy="sideways"),
    "bad_outer_strategy": lambda m: m.autograd.functional.hessian(
        lambda x: x.sum(), t(m, X3), outer_jacobian_strategy="sideways"),
    "forward_create_graph": lambda m: m.autograd.functional.jacobian(
        lambda x: x, t(m, X3), create_graph=True, strategy="forward-mode"),
    "forward_not_vectorized": lambda m: m.autograd.functional.jacobian(
        lambda x: x, t(m, X3), strategy="forward-mode"),
    "forward_strict": lambda m: m.autograd.functional.jacobian(
        lambda x: x, t(m, X3), strict=True, vectorize=True, strategy="forward-mode"),
    "hessian_forward_not_vectorized": lambda m: m.autograd.functional.hessian(
        lambda x: x.sum(), t(m, X3), outer_jacobian_strategy="forward-mode"),
    "vectorize_strict": lambda m: m.autograd.functional.jacobian(
        lambda x: x * 2, t(m, X3), strict=True, vectorize=True),
    "empty_output": lambda m: m.autograd.functional.jacobian(lambda x: x[:0], t(m, X3)),
    "empty_input": lambda m: m.autograd.functional.jacobian(lambda x: x * 2, t(m, [])),
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_argument_errors(name):
    _err(CHECKS[name])


def test_empty_input_forward_mode_gives_empty_jacobian():
    both(lambda m: m.autograd.functional.jacobian(
        lambda x: x * 2, t(m, []), vectorize=True, strategy="forward-mode"))


def test_signatures_match_torch():
    torch = pytest.importorskip("torch")
    import inspect

    for name in torch.autograd.functional.__all__:
        ours = inspect.signature(getattr(tapegrad.autograd.functional, name))
        theirs = inspect.signature(getattr(torch.autograd.functional, name))
        assert [(p.name, p.default) for p in ours.parameters.values()] == [
            (p.name, p.default) for p in theirs.parameters.values()], name
    same(sorted(tapegrad.autograd.functional.__all__), sorted(torch.autograd.functional.__all__))


# --- the benchmark script runs ------------------------------------------------------------
def test_hvp_benchmark_smoke(capsys):
    import importlib.util

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(
        "_hvp_bench", os.path.join(root, "benchmarks", "hvp.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--n", "6", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "tapegrad autograd.functional.hvp" in out and "max abs diff" in out

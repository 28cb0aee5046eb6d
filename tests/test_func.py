"""tapegrad.func (grad, grad_and_value, vjp, jvp, jacrev, jacfwd, hessian, linearize,
functional_call, stack_module_state) against torch.func: values, pytree structures, nesting,
which results stay attached to the caller's graph, errors with PyTorch's messages; Jacobians
and Hessians also against float64 central differences."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import tapegrad
from _helpers import both, same_error

RNG = np.random.default_rng(11)
X3 = RNG.standard_normal(3)
Y3 = RNG.standard_normal(3)
X23 = RNG.standard_normal((2, 3))
Y32 = RNG.standard_normal((3, 2))
A23 = RNG.standard_normal((2, 3))
V2 = RNG.standard_normal(2)
V3 = RNG.standard_normal(3)
V3B = RNG.standard_normal(3)


def t(m, a, rg=False):
    return m.tensor(a, dtype=m.float64, requires_grad=rg)


def _err(fn):
    pytest.importorskip("torch")
    same_error(fn)


# name -> (function of (m, *args), input arrays); outputs: tensors or pytrees of tensors
CASES = {
    "elementwise": (lambda m, x: x.sin() * x.exp() + x ** 3, (X3,)),
    "matmul": (lambda m, x: (t(m, A23) @ x).tanh(), (X3,)),
    "reduction": (lambda m, x: (x ** 2).sum(1) + x.mean() * x.prod(1), (X23,)),
    "two_inputs": (lambda m, x, y: (x.unsqueeze(1) * y.exp()).sum(0), (X3, Y32)),
    "two_outputs": (lambda m, x: (x.sin(), (x ** 2).sum()), (X3,)),
    "tuples": (lambda m, x, y: (x * y, x.sum() * y.exp()), (X3, Y3)),
    "dict_out": (lambda m, x, y: {"p": x * y, "q": [x.cos()]}, (X3, Y3)),
    "matrix_in": (lambda m, x: x @ x.t(), (X23,)),
}

SCALAR = {
    "elementwise": (lambda m, x: (x.tanh() ** 2).sum() + (x ** 3).sum() * x.prod(), (X3,)),
    "matmul": (lambda m, x: ((t(m, A23) @ x).tanh() ** 2).sum(), (X3,)),
    "two_inputs": (lambda m, x, y: (x.exp() * y.sin()).sum() + (x * y).sum() ** 2, (X3, Y3)),
    "matrix_in": (lambda m, x: (x @ x.t()).sum() ** 2 / 10 + (x ** 4).mean(), (X23,)),
}


def _fn(m, f):
    return lambda *a: f(m, *a)


def _args(m, arrays, rg=False):
    return tuple(t(m, a, rg) for a in arrays)


def _argnums(n, negative=True):
    return [0] if n == 1 else [0, 1, (0, 1), (1, 0)] + ([-1, (-2, 1)] if negative else [])


# --- grad and grad_and_value ------------------------------------------------------------------
@pytest.mark.parametrize("name", list(SCALAR))
def test_grad_matches_torch(name):
    f, xs = SCALAR[name]
    for argnums in _argnums(len(xs)):
        both(lambda m: m.func.grad(_fn(m, f), argnums=argnums)(*_args(m, xs)))
        both(lambda m: m.func.grad_and_value(_fn(m, f), argnums=argnums)(*_args(m, xs)))


def test_grad_has_aux_kwargs_and_pytrees():
    def prog(m):
        F = m.func
        x, y = t(m, X3), t(m, Y3)
        aux = F.grad(lambda x: ((x ** 2).sum(), {"a": x * 2, "b": (x.sum(),)}), has_aux=True)(x)
        gv = F.grad_and_value(lambda x: ((x ** 3).sum(), x.cos()), has_aux=True)(x)
        kw = F.grad(lambda x, scale=1.0: (x ** 2).sum() * scale)(x, scale=3.0)
        d = F.grad(lambda d: (d["a"] * d["b"].exp()).sum())({"a": x, "b": y})
        lst = F.grad(lambda p, c: (p[0] * p[1]).sum() * c, argnums=0)([x, y], 2.0)
        nt = collections.namedtuple("NT", "u w")
        nts = F.grad(lambda p: (p.u * p.w).sum())(nt(x, y))
        return aux, gv, kw, d, lst, tuple(nts), type(nts).__name__

    both(prog)


def test_grad_of_constant_and_unused_inputs_is_zero():
    both(lambda m: (
        m.func.grad(lambda x: m.ones((), dtype=m.float64))(t(m, X3)),
        m.func.grad(lambda x, y: (y ** 2).sum(), argnums=(0, 1))(t(m, X3), t(m, Y3)),
        m.func.grad(lambda x: x[0] * 0 + 1.0)(t(m, X3)),
    ))


GRAD_ERRORS = {
    "vector_output": lambda m: m.func.grad(lambda x: x ** 2)(t(m, X3)),
    "one_element_vector": lambda m: m.func.grad(lambda x: x ** 2)(t(m, [1.0])),
    "not_a_tensor": lambda m: m.func.grad(lambda x: 3.0)(t(m, X3)),
    "aux_not_pair": lambda m: m.func.grad(lambda x: (x.sum(), 1, 2), has_aux=True)(t(m, X3)),
    "aux_missing": lambda m: m.func.grad(lambda x: x.sum(), has_aux=True)(t(m, X3)),
    "aux_not_tensors": lambda m: m.func.grad(lambda x: (x.sum(), 3), has_aux=True)(t(m, X3)),
    "aux_none": lambda m: m.func.grad(lambda x: (x.sum(), None), has_aux=True)(t(m, X3)),
    "argnum_too_big": lambda m: m.func.grad(lambda x: x.sum(), argnums=1)(t(m, X3)),
    "argnum_too_negative": lambda m: m.func.grad(lambda x: x.sum(), argnums=-2)(t(m, X3)),
    "argnums_repeated": lambda m: m.func.grad(lambda x, y: x.sum(), argnums=(0, -2))(
        t(m, X3), t(m, Y3)),
    "argnums_empty": lambda m: m.func.grad(lambda x: x.sum(), argnums=())(t(m, X3)),
    "argnums_list": lambda m: m.func.grad(lambda x: x.sum(), argnums=[0])(t(m, X3)),
    "argnums_float": lambda m: m.func.grad(lambda x: x.sum(), argnums=0.5)(t(m, X3)),
    "argnums_tuple_float": lambda m: m.func.grad(lambda x: x.sum(), argnums=(0.5,))(t(m, X3)),
    "number_argument": lambda m: m.func.grad(lambda x, y: x.sum())(3.0, t(m, X3)),
    "integer_tensor": lambda m: m.func.grad(lambda x: x.sum())(m.ones(3, dtype=m.long)),
    "complex_output": lambda m: m.func.grad(lambda x: x.sum())(m.ones(3, dtype=m.complex64)),
}


@pytest.mark.parametrize("name", list(GRAD_ERRORS))
def test_grad_errors(name):
    _err(GRAD_ERRORS[name])


# --- which results stay attached to the caller's graph -----------------------------------
def test_results_attach_to_the_caller_graph_only_through_outside_tensors():
    def prog(m):
        F = m.func
        x = t(m, X3)
        xr = t(m, X3, True)
        w = t(m, Y3, True)
        g_xr = F.grad(lambda x: (x ** 3).sum())(xr)  # attached to xr
        g_w = F.grad(lambda x: (w * x ** 2).sum())(x)  # attached to w
        g_add = F.grad(lambda x: (x * x).sum() + w.sum())(x)  # constant: nothing outside
        back = m.autograd.grad((g_xr.sum(), g_w.sum()), (xr, w))
        with m.no_grad():
            g_ng = F.grad(lambda x: (x ** 3).sum())(xr)  # the transform ignores no_grad inside
        j = F.jacrev(lambda x: x ** 2 * w)(x)
        jf = F.jacfwd(lambda x: x ** 2 * w)(x)
        h = F.hessian(lambda x: (x ** 3).sum())(xr)
        cap = F.grad(lambda y: (xr * y).sum())(xr)  # the captured xr is attached, y is not
        return g_xr, g_w, g_add, back, g_ng, j, jf, h, m.autograd.grad(h.sum(), xr), cap


def test_no_grad_inside_is_obeyed_and_outside_is_not():
    def prog(m):
        F = m.func

        def f(x):
            with m.no_grad():
                c = x ** 2
            return (x - c).sum()

        x = t(m, X3)
        inside = F.grad(f)(x)
        with m.no_grad():
            outside = F.grad(lambda x: (x ** 3).sum())(x), F.grad(f)(x)
            nested = F.grad(F.grad(lambda s: s ** 3))(t(m, 0.5))
        return inside, outside, nested

    both(prog)


def test_inputs_handed_back_are_the_callers_tensors():
    def prog(m):
        F = m.func
        x, xr = t(m, X3), t(m, X3, True)
        v = t(m, V3)
        o1, fn = F.vjp(lambda x: x, x)
        o2, _ = F.vjp(lambda x: x, xr)
        o3, _ = F.jvp(lambda x: (x, x * 2), (xr,), (v,))
        o4 = F.grad_and_value(lambda x: (x.sum(), x), has_aux=True)(x)[1][1]
        return (o1 is x, o2 is xr, o3[0] is xr, o4 is x, fn(v), o2, o3,
                F.jacrev(lambda x: x)(x), F.jvp(lambda x: x, (x,), (v,)))

    both(prog)

    both(prog)


def test_vjp_fn_attachment_create_graph_and_retain_graph():
    def prog(m):
        F = m.func
        x, xr = t(m, X3), t(m, X3, True)
        v, vr = t(m, V3), t(m, V3, True)
        out, fn = F.vjp(lambda x: x ** 2, x)
        outr, fnr = F.vjp(lambda x: x ** 2, xr)
        res = [fn(v), fn(vr), fnr(v), fnr(v, create_graph=False), outr]
        with m.no_grad():
            res.append(fn(vr))
        res.append(m.autograd.grad(fnr(v)[0].sum(), xr))
        return res

    both(prog)


# --- nesting --------------------------------------------------------------------------------
def test_nested_transforms():
    def prog(m):
        F = m.func
        s = t(m, 0.7)
        x = t(m, X3)

        def cube(x):
            return (x ** 3).sum()

        def f(x):
            return (x.sin() * x ** 2).sum()

        return (
            F.grad(F.grad(lambda x: x ** 3))(s),
            F.grad(F.grad(F.grad(lambda x: x.sin() * x ** 4)))(s),
            F.jacrev(F.jacrev(lambda x: x ** 3 * x.sum()))(x),
            F.jacfwd(F.jacrev(f))(x),
            F.jacrev(F.jacfwd(f))(x),
            F.jacrev(F.grad(f))(x),
            F.jvp(F.grad(f), (x,), (t(m, V3),)),
            F.vjp(F.grad(f), x)[1](t(m, V3)),
            F.grad(lambda x: F.grad(cube)(x).sum())(x),
            F.hessian(lambda x: F.grad(f)(x).sum())(x),
            F.grad(lambda x: F.jvp(f, (x,), (t(m, V3),))[1])(x),
        )

    both(prog)


def test_no_perturbation_confusion():
    def prog(m):
        F = m.func
        s = t(m, 2.0)
        # d/dx [ d/dy (x * y) at y = x ] = d/dx x = 1
        a = F.grad(lambda x: F.grad(lambda y: x * y)(x))(s)
        # d/dx [ x * d/dy (x + y) ] = 1
        b = F.grad(lambda x: x * F.grad(lambda y: x + y)(x))(s)
        c = F.grad(lambda x: F.grad(lambda y: (x * y) ** 2)(x))(s)
        return a, b, c

    both(prog)


# --- vjp --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_vjp_matches_torch(name):
    f, xs = CASES[name]

    def prog(m):
        out, fn = m.func.vjp(_fn(m, f), *_args(m, xs))
        return out, fn(_cotangents(m, out))

    both(prog)


def _cotangents(m, out):
    """A cotangent pytree shaped as out (values from a fixed stream)."""
    if isinstance(out, dict):
        return {k: _cotangents(m, v) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return type(out)(_cotangents(m, v) for v in out)
    n = int(np.prod(out.shape)) if len(out.shape) else 1
    vals = np.cos(np.arange(n) + 0.5).reshape(tuple(out.shape))
    return t(m, vals)


def test_vjp_has_aux_dtype_and_argument_kinds():
    def prog(m):
        F = m.func
        x = t(m, X3)
        out, fn, aux = F.vjp(lambda x: (x ** 2, {"s": x.sum()}), x, has_aux=True)
        return (out, fn(t(m, V3)), aux,
                F.vjp(lambda x: x ** 2, x)[1](m.ones(3)),  # float32 cotangent is cast
                F.vjp(lambda x, y: x * y, x, x)[1](t(m, V3)),
                F.vjp(lambda: x)[1](x),
                F.vjp(lambda d: d["a"] * 2, {"a": x})[1](x))

    both(prog)


VJP_ERRORS = {
    "cot_tuple_for_tensor": lambda m: m.func.vjp(lambda x: x ** 2, t(m, X3))[1]((t(m, X3),)),
    "cot_short_tuple": lambda m: m.func.vjp(lambda x: (x, x.sum()), t(m, X3))[1]((t(m, X3),)),
    "cot_list_for_dict": lambda m: m.func.vjp(lambda x: {"a": x}, t(m, X3))[1]([t(m, X3)]),
    "cot_tuple_for_list": lambda m: m.func.vjp(lambda x: [x, x], t(m, X3))[1](
        (t(m, X3), t(m, X3))),
    "cot_wrong_shape": lambda m: m.func.vjp(lambda x: x ** 2, t(m, X3))[1](t(m, V2)),
    "aux_missing": lambda m: m.func.vjp(lambda x: x ** 2, t(m, X3), has_aux=True),
    "aux_not_tensor": lambda m: m.func.vjp(lambda x: (x.sum(), 3), t(m, X3), has_aux=True),
    "none_output": lambda m: m.func.vjp(lambda x: None, t(m, X3)),
    "number_output": lambda m: m.func.vjp(lambda x: 3, t(m, X3)),
    "mixed_output": lambda m: m.func.vjp(lambda x: (x, 3), t(m, X3)),
    "empty_output": lambda m: m.func.vjp(lambda x: (), t(m, X3)),
    "int_output": lambda m: m.func.vjp(lambda x: x.long(), t(m, X3)),
    "number_primal": lambda m: m.func.vjp(lambda x, y: x * y, t(m, X3), 2.0),
    "freed_graph": lambda m: (lambda fn: (fn(t(m, V3), retain_graph=False), fn(t(m, V3))))(
        m.func.vjp(lambda x: x ** 2, t(m, X3, True))[1]),
}


@pytest.mark.parametrize("name", list(VJP_ERRORS))
def test_vjp_errors(name):
    _err(VJP_ERRORS[name])


# --- jvp --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_jvp_matches_torch(name):
    f, xs = CASES[name]
    ts = [np.cos(np.arange(np.size(x)) + 1.0).reshape(np.shape(x)) for x in xs]
    both(lambda m: m.func.jvp(_fn(m, f), _args(m, xs), _args(m, ts)))


def test_jvp_attachment_dtypes_aux_and_strict():
    def prog(m):
        F = m.func
        x, xr, v, vr = t(m, X3), t(m, X3, True), t(m, V3), t(m, V3, True)
        return (
            F.jvp(lambda x: x ** 2, (xr,), (v,)),
            F.jvp(lambda x: x ** 2, (x,), (vr,)),
            F.jvp(lambda x: x ** 2, (x,), (m.ones(3),)),  # float32 tangent
            F.jvp(lambda x: x.float() ** 2, (x,), (v,)),
            F.jvp(lambda x: x.long(), (x,), (v,)),  # integer output: zero tangent
            F.jvp(lambda x: m.ones(3), (x,), (v,)),
            F.jvp(lambda x: (x, x.sum()), (x,), (v,), has_aux=True),
            F.jvp(lambda x, y: (x * y, y), (x, t(m, Y3)), (v, v), strict=True),
        )

    both(prog)


JVP_ERRORS = {
    "primals_not_tuple": lambda m: m.func.jvp(lambda x: x, t(m, X3), t(m, X3)),
    "tangents_not_tuple": lambda m: m.func.jvp(lambda x: x, (t(m, X3),), t(m, X3)),
    "tangents_list": lambda m: m.func.jvp(lambda x: x, (t(m, X3),), [t(m, X3)]),
    "tangent_wrong_shape": lambda m: m.func.jvp(lambda x: x, (t(m, X3),), (t(m, V2),)),
    "tangent_wrong_rank": lambda m: m.func.jvp(lambda x: x, (t(m, X3),), (t(m, X23.T),)),
    "no_primals": lambda m: m.func.jvp(lambda: 1, (), ()),
    "number_primal": lambda m: m.func.jvp(lambda x: x, (3.0,), (1.0,)),
    "int_primal": lambda m: m.func.jvp(lambda x: x, (m.ones(3, dtype=m.long),),
                                       (m.ones(3, dtype=m.long),)),
    "int_tangent": lambda m: m.func.jvp(lambda x: x, (t(m, X3),), (m.ones(3, dtype=m.long),)),
    "aux_missing": lambda m: m.func.jvp(lambda x: x, (t(m, X3),), (t(m, X3),), has_aux=True),
    "number_output": lambda m: m.func.jvp(lambda x: 3, (t(m, X3),), (t(m, X3),)),
    "none_output": lambda m: m.func.jvp(lambda x: None, (t(m, X3),), (t(m, X3),)),
    "strict_independent": lambda m: m.func.jvp(lambda x: m.ones(3), (t(m, X3),), (t(m, X3),),
                                               strict=True),
}


@pytest.mark.parametrize("name", list(JVP_ERRORS))
def test_jvp_errors(name):
    _err(JVP_ERRORS[name])


# --- Jacobians and Hessians -----------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
def test_jacobians_match_torch(name, jac):
    f, xs = CASES[name]
    # (PyTorch's jacfwd ignores the inputs picked by negative argnums: see the test below)
    for argnums in _argnums(len(xs), negative=jac == "jacrev"):
        both(lambda m: getattr(m.func, jac)(_fn(m, f), argnums=argnums)(*_args(m, xs)))


@pytest.mark.parametrize("name", list(SCALAR))
def test_hessian_matches_torch(name):
    f, xs = SCALAR[name]
    for argnums in _argnums(len(xs), negative=False):
        both(lambda m: m.func.hessian(_fn(m, f), argnums=argnums)(*_args(m, xs)))


def test_negative_argnums_forward_mode():
    """PyTorch 2.13's jacfwd (so hessian) returns zeros for inputs picked by a negative
    argnum (it compares positions with the unwrapped number); tapegrad differentiates them,
    as jacrev does in both libraries."""
    F = tapegrad.func
    x, y = _args(tapegrad, (X3, Y3))
    f = _fn(tapegrad, CASES["tuples"][0])
    s = _fn(tapegrad, SCALAR["two_inputs"][0])
    both(lambda m: m.func.jacrev(_fn(m, CASES["tuples"][0]), argnums=-1)(*_args(m, (X3, Y3))))
    pairs = [(F.jacfwd(f, argnums=-1)(x, y), F.jacfwd(f, argnums=1)(x, y)),
             (F.jacfwd(f, argnums=-1)(x, y), F.jacrev(f, argnums=-1)(x, y)),
             (F.hessian(s, argnums=(-2, 1))(x, y), F.hessian(s, argnums=(0, 1))(x, y))]
    for a, b in pairs:
        for p, q in zip(tapegrad.func._pytree.tree_flatten(a)[0],
                        tapegrad.func._pytree.tree_flatten(b)[0]):
            np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_jacobian_options_and_dtypes():
    def prog(m):
        F = m.func
        x = t(m, X3)
        return (
            F.jacrev(lambda x: x ** 2, chunk_size=1)(x),
            F.jacrev(lambda x: x ** 2, chunk_size=2)(x),
            F.jacrev(lambda x: (x ** 2, x), has_aux=True)(x),
            F.jacfwd(lambda x: (x ** 2, {"k": x}), has_aux=True)(x),
            F.jacfwd(lambda x: x ** 2, randomness="same")(x),
            F.jacrev(lambda x: x.float())(x), F.jacfwd(lambda x: x.float())(x),
            F.jacrev(lambda x: m.ones(2))(x), F.jacfwd(lambda x: m.ones(2))(x),
            F.jacfwd(lambda x: x.long())(x),
            F.jacrev(lambda x: x * 2)(t(m, 2.0)), F.jacfwd(lambda x: x * 2)(t(m, 2.0)),
            F.jacrev(lambda x: x * 2)(t(m, [])), F.jacfwd(lambda x: x * 2)(t(m, [])),
            F.jacrev(lambda x: x.sum() * m.ones(0, dtype=m.float64))(x),
            F.jacrev(lambda d: d["a"] * 2)({"a": x}),
            F.jacfwd(lambda p: p[0] * p[1])([x, t(m, Y3)]),
        )

    both(prog)


JAC_ERRORS = {
    "chunk_size_zero": lambda m: m.func.jacrev(lambda x: x, chunk_size=0),
    "chunk_size_negative": lambda m: m.func.jacrev(lambda x: x, chunk_size=-1),
    "jacrev_complex_input": lambda m: m.func.jacrev(lambda x: x * 2)(m.ones(3, dtype=m.cfloat)),
    "jacrev_complex_output": lambda m: m.func.jacrev(lambda x: x * 1j)(t(m, X3)),
    "jacfwd_complex_input": lambda m: m.func.jacfwd(lambda x: x * 2)(m.ones(3, dtype=m.cfloat)),
    "jacfwd_complex_output": lambda m: m.func.jacfwd(lambda x: x * 1j)(t(m, X3)),
    "jacrev_aux_missing": lambda m: m.func.jacrev(lambda x: x, has_aux=True)(t(m, X3)),
    "jacfwd_aux_missing": lambda m: m.func.jacfwd(lambda x: x, has_aux=True)(t(m, X3)),
    "jacfwd_randomness": lambda m: m.func.jacfwd(lambda x: x, randomness="bad")(t(m, X3)),
    "jacrev_int_output": lambda m: m.func.jacrev(lambda x: x.long())(t(m, X3)),
    "jacrev_number_output": lambda m: m.func.jacrev(lambda x: 3)(t(m, X3)),
    "jacfwd_number_output": lambda m: m.func.jacfwd(lambda x: 3)(t(m, X3)),
    "jacrev_number_input": lambda m: m.func.jacrev(lambda x: x)(3.0),
    "jacrev_int_input": lambda m: m.func.jacrev(lambda x: x)(m.ones(3, dtype=m.long)),
    "jacfwd_int_input": lambda m: m.func.jacfwd(lambda x: x)(m.ones(3, dtype=m.long)),
    "jacfwd_argnum": lambda m: m.func.jacfwd(lambda x: x, argnums=2)(t(m, X3)),
    "hessian_argnums": lambda m: m.func.hessian(lambda x: x.sum(), argnums=(0, 0))(t(m, X3)),
}


@pytest.mark.parametrize("name", list(JAC_ERRORS))
def test_jacobian_errors(name):
    _err(JAC_ERRORS[name])


# central differences (NumPy only)
def _flat_call(f, arrays):
    with tapegrad.no_grad():
        out = f(tapegrad, *[t(tapegrad, a) for a in arrays])
    leaves, _ = tapegrad.func._pytree.tree_flatten(out)
    return [o.numpy() for o in leaves]


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
def test_jacobians_match_central_differences(name, jac):
    f, xs = CASES[name]
    eps = 1e-6
    got = getattr(tapegrad.func, jac)(_fn(tapegrad, f), argnums=tuple(range(len(xs))))(
        *_args(tapegrad, xs))
    blocks, _ = tapegrad.func._pytree.tree_flatten(got)  # output-major, then input
    arrays = [np.array(a, dtype=np.float64) for a in xs]
    n_out = len(_flat_call(f, arrays))
    assert len(blocks) == n_out * len(xs)
    for j, a in enumerate(arrays):
        for idx in np.ndindex(a.shape):
            plus = [x.copy() for x in arrays]
            minus = [x.copy() for x in arrays]
            plus[j][idx] += eps
            minus[j][idx] -= eps
            for i, (p, q) in enumerate(zip(_flat_call(f, plus), _flat_call(f, minus))):
                np.testing.assert_allclose(blocks[i * len(xs) + j].numpy()[(...,) + idx],
                                           (p - q) / (2 * eps), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(SCALAR))
def test_hessian_matches_central_differences(name):
    f, xs = SCALAR[name]
    eps = 1e-4
    arrays = [np.array(a, dtype=np.float64) for a in xs]
    got = tapegrad.func.hessian(_fn(tapegrad, f), argnums=tuple(range(len(xs))))(
        *_args(tapegrad, xs))

    def val(ys):
        return float(_flat_call(f, ys)[0])

    for i, a in enumerate(arrays):
        for ia in np.ndindex(a.shape):
            for j, b in enumerate(arrays):
                for ib in np.ndindex(b.shape):
                    total = 0.0
                    for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                        ys = [x.copy() for x in arrays]
                        ys[i][ia] += si * eps
                        ys[j][ib] += sj * eps
                        total += si * sj * val(ys)
                    np.testing.assert_allclose(got[i][j].numpy()[ia + ib],
                                               total / (4 * eps * eps), rtol=1e-5, atol=1e-5)


# --- linearize ------------------------------------------------------------------------------
def test_linearize_matches_torch():
    def prog(m):
        F = m.func
        x, xr, v, vr = t(m, X3), t(m, X3, True), t(m, V3), t(m, V3, True)
        out, fn = F.linearize(lambda x: x.sin() * x, x)
        outr, fnr = F.linearize(lambda x: x ** 2, xr)
        out2, fn2 = F.linearize(lambda x, y: {"a": x * y, "b": [x.sum(), m.ones(2)]}, x,
                                t(m, Y3))
        return (out, fn(v), fn(v * 2), outr, fnr(v), fnr(vr), out2, fn2(v, v),
                fn2(t(m, Y3), v))

    both(prog, atol=1e-6)


LINEARIZE_ERRORS = {
    "shape": lambda m: m.func.linearize(lambda x: x.sin(), t(m, X3))[1](t(m, V2)),
    "dtype": lambda m: m.func.linearize(lambda x: x.sin(), t(m, X3))[1](m.ones(3)),
    "int_dtype": lambda m: m.func.linearize(lambda x: x.sin(), t(m, X3))[1](
        m.ones(3, dtype=m.long)),
    "too_many": lambda m: m.func.linearize(lambda x: x.sin(), t(m, X3))[1](t(m, V3), t(m, V3)),
    "nested": lambda m: m.func.linearize(lambda x: x.sin(), t(m, X3))[1]((t(m, V3),)),
    "number_primal": lambda m: m.func.linearize(lambda x: x * 2, 3.0),
    "int_primal": lambda m: m.func.linearize(lambda x: x * 2, m.ones(3, dtype=m.long)),
}


@pytest.mark.parametrize("name", list(LINEARIZE_ERRORS))
def test_linearize_errors(name):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.fx's tracing warns; tapegrad does not trace
        _err(LINEARIZE_ERRORS[name])


# --- pytree structures in messages -----------------------------------------------------------
def test_treespec_reprs_match_torch():
    torch = pytest.importorskip("torch")
    from torch.utils import _pytree as tp

    from tapegrad.func import _pytree as ours

    nt = collections.namedtuple("NT", ["a", "b"])
    trees = [1, (1,), (1, 2), [1, (2, 3)], {"a": 1, "b": [2, 3]}, (1, {"x": (2,)}), (), [],
             {}, None, (None, 1), nt(1, 2), collections.OrderedDict(a=1),
             (1, [2, {"k": 3}]), collections.deque([1, 2], maxlen=3)]
    for tree in trees:
        leaves, spec = ours.tree_flatten(tree)
        t_leaves, t_spec = tp.tree_flatten(tree)
        assert leaves == t_leaves
        assert repr(spec) == repr(t_spec), tree
        assert ours.treespec_pprint(spec) == tp.treespec_pprint(t_spec)
        rebuilt = ours.tree_unflatten(leaves, spec)
        assert rebuilt == tree and type(rebuilt) is type(tree)
    del torch


# --- functional_call and stack_module_state ------------------------------------------------
class _Tied:
    """Builds the same small modules in both libraries."""

    @staticmethod
    def make(m):
        class Tied(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.a = m.nn.Linear(2, 2, bias=False)
                self.b = m.nn.Linear(2, 2, bias=False)
                self.b.weight = self.a.weight
                self.register_buffer("buf", m.zeros(2))

            def forward(self, x):
                return self.a(x) + self.b(x) + self.buf

        m.manual_seed(0)
        return Tied()


def _linear(m):
    m.manual_seed(0)
    return m.nn.Linear(3, 2)


def test_functional_call_matches_torch():
    def prog(m):
        F = m.func
        lin = _linear(m)
        x = m.randn(4, 3)
        p = {k: m.ones_like(v) for k, v in lin.named_parameters()}
        tied = _Tied.make(m)
        xx = m.ones(1, 2)
        eye = m.eye(2)
        res = [
            F.functional_call(lin, p, x), F.functional_call(lin, p, (x,)),
            F.functional_call(lin, p, args=(), kwargs={"input": x}),
            F.functional_call(lin, {"weight": m.ones(2, 3)}, x),
            F.functional_call(lin, [{"weight": m.ones(2, 3)}, {"bias": m.zeros(2)}], x),
            F.functional_call(lin, {"weight": m.ones(2, 3), "foo": m.ones(1)}, x),
            hasattr(lin, "foo"), lin.weight, type(lin.weight).__name__,
            F.functional_call(tied, {"a.weight": m.eye(2)}, xx),
            F.functional_call(tied, {"a.weight": m.eye(2)}, xx, tie_weights=False),
            F.functional_call(tied, {"a.weight": m.eye(2), "b.weight": m.zeros(2, 2)}, xx,
                              tie_weights=False),
            F.functional_call(tied, {"a.weight": eye, "b.weight": eye}, xx),  # same object
            F.functional_call(tied, {"buf": m.ones(2)}, xx), tied.buf,
            F.functional_call(lin, dict(lin.named_parameters()), x, strict=True),
        ]
        return res

    both(prog)


def test_functional_call_under_grad_and_state_write_back():
    def prog(m):
        F = m.func
        lin = _linear(m)
        x = m.randn(4, 3)
        params = {k: v.detach() for k, v in lin.named_parameters()}
        g = F.grad(lambda p, x: F.functional_call(lin, p, x).pow(2).sum())(params, x)
        attached = F.grad(lambda p, x: F.functional_call(lin, p, x).pow(2).sum())(
            dict(lin.named_parameters()), x)  # parameters require grad: results attached
        back = m.autograd.grad(attached["weight"].sum(), lin.weight)
        jac = F.jacrev(lambda p: F.functional_call(lin, p, x).sum(0))(params)

        class Count(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("cnt", m.zeros(1))
                self.register_buffer("st", m.zeros(1))

            def forward(self, x):
                self.cnt.add_(1)
                self.st = self.st + 1
                return x

        c = Count()
        d = {"cnt": m.zeros(1), "st": m.zeros(1)}
        F.functional_call(c, d, m.ones(1))
        return g, attached, back, jac, d, c.cnt, c.st

    both(prog)


def test_functional_call_restores_after_an_exception():
    def prog(m):
        class Boom(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = m.nn.Parameter(m.ones(1))

            def forward(self, x):
                raise ValueError("boom")

        b = Boom()
        try:
            m.func.functional_call(b, {"w": m.zeros(1)}, 1)
        except ValueError as e:
            return str(e), b.w, type(b.w).__name__

    both(prog)


FCALL_ERRORS = {
    "strict_missing": lambda m: m.func.functional_call(
        _linear(m), {"weight": m.ones(2, 3)}, m.ones(1, 3), strict=True),
    "strict_both": lambda m: m.func.functional_call(
        _linear(m), {"weight": m.ones(2, 3), "foo": m.ones(1), "bar": m.ones(1)},
        m.ones(1, 3), strict=True),
    "strict_tied": lambda m: m.func.functional_call(
        _Tied.make(m), {"buf": m.ones(2)}, m.ones(1, 2), strict=True),
    "repeated_keys": lambda m: m.func.functional_call(
        _linear(m), ({"weight": m.ones(2, 3)}, {"weight": m.zeros(2, 3)}), m.ones(1, 3)),
    "not_all_dicts": lambda m: m.func.functional_call(
        _linear(m), ({"weight": m.ones(2, 3)}, 3), m.ones(1, 3)),
    "not_a_dict": lambda m: m.func.functional_call(_linear(m), 3, m.ones(1, 3)),
    "value_not_tensor": lambda m: m.func.functional_call(_linear(m), {"weight": 3}, m.ones(1, 3)),
    "no_submodule": lambda m: m.func.functional_call(
        _linear(m), {"nope.weight": m.ones(1)}, m.ones(1, 3)),
    "empty_name": lambda m: m.func.functional_call(_linear(m), {"": m.ones(1)}, m.ones(1, 3)),
    "tied_conflict": lambda m: m.func.functional_call(
        _Tied.make(m), {"a.weight": m.eye(2), "b.weight": m.zeros(2, 2)}, m.ones(1, 2)),
}


@pytest.mark.parametrize("name", list(FCALL_ERRORS))
def test_functional_call_errors(name):
    _err(FCALL_ERRORS[name])


def test_stack_module_state_matches_torch():
    def prog(m):
        m.manual_seed(0)
        models = [m.nn.Linear(3, 2) for _ in range(3)]
        params, buffers = m.func.stack_module_state(models)
        return params, buffers, [p.is_leaf for p in params.values()]

    both(prog)
    _err(lambda m: m.func.stack_module_state([]))
    _err(lambda m: m.func.stack_module_state([m.nn.Linear(1, 1), m.nn.Linear(1, 1).eval()]))
    _err(lambda m: m.func.stack_module_state([m.nn.Linear(1, 1), m.nn.ReLU()]))


# --- API surface ----------------------------------------------------------------------------
def test_wrappers_keep_the_function_name_and_signatures_match_torch():
    torch = pytest.importorskip("torch")
    import inspect

    def my_fn(x):
        return x.sum()

    for name in ("grad", "grad_and_value", "jacrev", "jacfwd"):
        assert getattr(tapegrad.func, name)(my_fn).__name__ == "my_fn"
    for name in ("grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian",
                 "linearize", "functional_call", "vmap", "stack_module_state"):
        ours = inspect.signature(getattr(tapegrad.func, name))
        theirs = inspect.signature(getattr(torch.func, name))
        assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
            (p.name, p.kind, p.default) for p in theirs.parameters.values()], name

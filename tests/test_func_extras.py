"""functionalize, debug_unwrap, replace_all_batch_norm_modules_ and rearrange (tapegrad.func),
each compared with torch.func: values, gradients, vmap, and errors (type and message)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad
from _helpers import error, numeric_vjp, same, same_error, warnings_of

torch = pytest.importorskip("torch")


def fn(m, name):
    return getattr(m.func, name)


# --- rearrange: values, dtypes and errors over many patterns ----------------------------------
S = (2, 3, 4)
PATTERNS = [
    # plain permutations, merges and splits
    "a b c -> c b a", "a b c -> a (b c)", "a b c -> (a b c)", "a b c -> a c b",
    "a b c -> b (c a)", "a b (c) -> c (b a)", "a b c->c b a", "  a   b c ->c b a  ",
    "a b c -> (a) (b) (c)", "a b (c) -> c b a", "a b c -> (a  b) c", "a(b)c -> a b c",
    "α β γ -> γ β α",
    # unit axes: new on the right, summed away on the left (whatever their size)
    "a b c -> 1 a b c 1", "a b c -> a () b c", "a b c -> a (b 1) c", "1 b c -> b c",
    "a b (c 1) -> c b a", "a b (1 c) -> c b a", "a b c -> c b a 1 1", "a b c -> 1 a 1 b c ()",
    "a b c -> a b c 01", "a b c -> a b c (1 1)", "a b c -> a b c (1)", "1 b c -> (b c) 1",
    "a 1 c -> (c a) 1", "1 1 1 -> ", "1 1 1 -> 1 1 1", "1 b c -> c 1 b", "a b c -> c 1 (b a)",
    # PyTorch's AssertionError: a left unit axis with more output dims than axes
    "1 b c -> () b ()", "1 b c -> (b c) () ()", "1 1 1 -> 1",
    # ellipsis
    "... c -> c ...", "a ... -> ... a", "... -> ...", "a b c ... -> a b c ...",
    "a ... -> a (...)", "a ... -> (a ...)", "a ... -> (... a)", "a b c ... -> (a b) c ...",
    "a b c ... -> (a b) c (...)", "a 1 ... -> a ...", "1 ... -> ...", "... c -> (...) c",
    "... -> (...)", "a ... -> ... a ()",
    # bad patterns
    "a b c -> a b", "a b c d -> a b c d", "a b -> a b", "a b c -> a b c d", "a a c -> a c",
    "a b c -> a a b c", "a b c d ... -> a b c d ...", "a (...) -> a ...", "a b c -> a b c ...",
    "a ... -> a b", "a b c -> a 2 b c", "a b c", "a b c -> a -> b", "a b. c -> a b c",
    "a b c -> a (b (c))", "a b c) -> a b c", "a (b c -> a b c", "a b c -> a (b c",
    "a b c -> a b c)", "a b _c -> a b _c", "a b c_ -> a b c_", "a b 2c -> a b 2c",
    "a b c! -> a b c!", "a b ... ... -> a b", "a b .... -> a b ....", "a b c -> a b 0",
    "a b c -> (a 0) b c", "a b ( ) c -> c b a", "a b c… -> a b c…", "a b c... -> a b c...",
    "...a -> a...", "a b c² -> a b c²", "a\tb c -> a b c", "a b c ->\na b c",
    "a b c -> a b c ->", "-> a b c", "a b c) -> (a b c", "((a b)) c -> a b c",
    "a b c -> a b c (1 a)", "٣ b c -> b c", "a b c -> () () ()", "a … -> ... a",
    # the ellipsis typed as one character stands for no dims
    "a b c … -> … a b c", "a … -> … a", "… a b -> b a …", "a b … -> (b a) …", "a 1 … -> a",
    "1 b … -> () b …",
]
CASES = [(S, p, {}) for p in PATTERNS] + [
    (S, "a (b1 b2) c -> a b1 b2 c", {"b1": 3}), (S, "a (b1 b2) c -> a b1 b2 c", {"b1": 2}),
    (S, "a (b1 b2) c -> a b1 b2 c", {"b1": 3, "b2": 2}), (S, "a (b1 b2) c -> a b1 b2 c", {}),
    (S, "(a b) c d -> a b c d", {}), (S, "a b c -> a b c", {"d": 3}),
    (S, "a b c -> a b c", {"a": 2}), (S, "a b c -> a b c", {"a": 3}),
    (S, "a b c -> a b c", {"a": True}), (S, "a b c -> a b c", {"\u2026": 1}),
    (S, "a (b c) -> a b c", {"b": 3}), (S, "a (b1 b2) c -> a b1 b2 c", {"b1": 0}),
    (S, "a (b1 b2) c -> a b1 b2 c", {"b1": -1}), (S, "a b c -> a b c", {"a": -1}),
    (S, "a b c -> c b a", {"a": "2"}), (S, "a b c -> a b c", {"a": 2.5}),
    (S, "a b c -> a b c", {"a": None}), (S, "a b c -> a b c", {"a": [2]}),
    (S, "a b c -> a b c", {"a": -2}), (S, "(a b) c d -> a b c d", {"a": -1, "b": 2}),
    (S, "(a b) c d -> a b c d", {"a": -2}), ((6, 3, 4), "(a b) c d -> a b c d", {"a": 5}),
    ((6, 3, 4), "(a b) c d -> a b c d", {"a": 2}), ((6, 3, 4), "(a b) c d -> b c (d a)", {"b": 3}),
    ((6, 3, 4), "(a b) c d -> a b c d", {"a": -2}),
    ((6, 3, 4), "(a b) c d -> a b c d", {"a": -2, "b": -3}),
    ((0, 3, 4), "(a b) c d -> a b c d", {"a": -2}),
    ((24,), "(a b c) -> a b c", {"a": 2, "b": 3}), ((24,), "(a b c) -> c b a", {"a": 2}),
    ((0, 3), "(a b) c -> a b c", {"a": 0}), ((0, 3), "(a b) c -> a b c", {"b": 2}),
    ((6, 6), "(a b) (c d) -> a b c d", {"a": 2, "c": 4}),
    ((6, 6), "(a b) (c d) -> (c b) (a d)", {"a": 2, "c": 3}),
    ((6, 6, 2), "(a b) ... -> a b ...", {"a": 2}), ((6, 6, 2), "(a b) ... -> a b ...", {"a": 4}),
    ((6, 6, 2), "... (a b) -> a b ...", {"a": 4}),
    ((6, 6, 2), "... (a b) c -> a b c ...", {"c": 4}),
    ((6, 6, 2), "a ... (b c) -> a b c ...", {"c": 4}), ((6, 1, 2), "a 1 (b c) -> a b c", {"c": 4}),
    ((6, 1, 2, 5), "a ... (b c) -> a b c ...", {"c": 4}),
    ((6, 1, 2, 5), "a ... (b c) -> a b c ...", {"b": 4}),
    ((2,), "a -> a", {"a": 3}), ((2,), "(a) -> a", {"a": 3}), ((2,), "a -> (a 1)", {"a": 3}),
    ((1,), "(a b) -> a b", {"a": 1}), ((2, 3), "... -> ... 1", {}), ((2,), "... -> ...", {}),
    ((2, 3, 4), "(a b) c ... -> a b c ...", {"a": 1}), ((2,), "a ... -> a ...", {"a": 3}),
    ((2, 3), "... a -> a ...", {"a": 4}), ((2, 3), "... (a b) -> a b ...", {"a": 4}),
    ((6,), "... (a b) -> a b ...", {"a": 4}), ((6, 2), "(a b) ... -> a b ...", {"a": 3}),
    ((6, 2), "(a b) ... -> (b ...) a", {"a": 3}),
    ((2, 3, 4, 1), "a b c … -> c a b …", {}), ((2, 3, 4, 1), "a b c … -> (c …) a b", {}),
    ((2, 3, 4, 1), "a b c (…) -> c a b …", {}), ((2, 3, 4, 1), "… … b c -> c", {}),
    ((2,), "… -> …", {}), ((2,), "… -> ", {}), ((2,), "(…) -> …", {}), ((), "… -> …", {}),
    ((6, 2), "(a b) … -> b a …", {"a": 2}), ((3, 2), "1 … -> …", {}),
    ((), "->", {}), ((), "... -> ...", {}), ((), "-> 1", {}), ((), "-> ()", {}),
    ((), "a -> a", {}), ((1,), "1 -> ", {}), ((3,), "1 -> 1", {}), ((3,), "1 -> ()", {}),
    ((3, 2), "1 b -> (b 1)", {}), ((3, 2), "1 b -> () b", {}),
    ((2, 3, 4, 5), "b c h w -> b (c h w)", {}),
    ((4, 6, 8, 3), "b (h h1) (w w1) c -> b h w (c h1 w1)", {"h1": 2, "w1": 2}),
    ((4, 6, 8, 3), "b (h1 h) (w1 w) c -> (b h1 w1) h w c", {"h1": 2, "w1": 2}),
    ([(2, 3), (2, 3)], "n a b -> a (n b)", {}), ([(), ()], "n -> n 1", {}),
    ([], "n -> n", {}), (((2, 3), (2, 3)), "n a b -> (b n) a", {}),
]


def _rearranged(m, shape, pattern, kw, dtype="float32"):
    """("ok", shape, dtype, values) of rearrange on arange tensors, or (error type, message)
    with "torch." written "tapegrad."."""
    def make(s):
        return m.arange(int(np.prod(s))).to(getattr(m, dtype)).reshape(s)

    if isinstance(shape, list):
        x = [make(s) for s in shape]
    elif isinstance(shape, tuple) and shape and isinstance(shape[0], tuple):
        x = tuple(make(s) for s in shape)
    else:
        x = make(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            y = fn(m, "rearrange")(x, pattern, **kw)
        except Exception as e:  # noqa: BLE001 - the type is part of the result
            return type(e).__name__, str(e).replace("torch.", "tapegrad.")
    return "ok", tuple(y.shape), str(y.dtype).split(".")[-1], y.flatten().tolist()


@pytest.mark.parametrize("shape,pattern,kw", CASES, ids=[f"{c[1]!r}{c[2]}" for c in CASES])
def test_rearrange_matches_torch(shape, pattern, kw):
    assert _rearranged(tapegrad, shape, pattern, kw) == _rearranged(torch, shape, pattern, kw)


@pytest.mark.parametrize("dtype", ["int32", "bool", "int64", "float64"])
@pytest.mark.parametrize("pattern", ["1 b c -> b c", "a 1 c -> c a", "a b c -> c a b"])
def test_rearrange_dtypes(dtype, pattern):
    # a left unit axis is summed: integer and bool tensors come back as int64, as in PyTorch
    assert _rearranged(tapegrad, (1, 3, 1), pattern, {}, dtype) == \
        _rearranged(torch, (1, 3, 1), pattern, {}, dtype)


def test_rearrange_other_argument_errors():
    same_error(lambda m: fn(m, "rearrange")(m.ones(2), 3))  # pattern not a str
    same_error(lambda m: fn(m, "rearrange")(m.ones(2), ["a -> a"]))  # unhashable
    same_error(lambda m: fn(m, "rearrange")(m.ones(2), b"a -> a"))
    same_error(lambda m: fn(m, "rearrange")(3, "a -> a"))
    same_error(lambda m: fn(m, "rearrange")(np.ones(3), "a -> a"))


def test_rearrange_views_and_identity():
    def prog(m):
        x = m.arange(24.).reshape(2, 3, 4)
        x1 = x[:1]
        res = []
        for t, p, kw in [(x, "a b c -> a b c", {}), (x, "a b c -> c b a", {}),
                         (x, "a b c -> (a b) c", {}), (x, "a b c -> c (b a)", {}),
                         (x1, "(a b) c d -> a b c d", {"a": 1}), (x, "a b c -> a 1 b c", {}),
                         (x1, "1 b c -> b c", {}), (x, "... -> ...", {}),
                         (x, "a ... -> (...) a", {})]:
            y = fn(m, "rearrange")(t, p, **kw)
            res.append((p, y is t, y._base is x, y.is_contiguous(), tuple(y.stride())))
        s = m.tensor(3.)
        res.append(fn(m, "rearrange")(s, "->") is s)
        res.append(fn(m, "rearrange")(s, "-> 1") is s)
        return res

    assert prog(tapegrad) == prog(torch)


def test_rearrange_warnings_and_cache():
    # discouraged names warn when the pattern is first parsed (PyTorch caches parsed patterns)
    for p in ["a lambda c -> c lambda a", "axis b c -> c (b axis)"]:
        ours = warnings_of(lambda p=p: fn(tapegrad, "rearrange")(tapegrad.ones(2, 3, 4), p))
        theirs = warnings_of(lambda p=p: fn(torch, "rearrange")(torch.ones(2, 3, 4), p))
        assert ours == theirs and ours
        assert warnings_of(lambda p=p: fn(tapegrad, "rearrange")(tapegrad.ones(2, 3, 4), p)) == []

    # the cache key compares lengths by ==: 2.0 after 2 hits the cached pattern, not the check
    def prog(m):
        x = m.ones(4, 3)
        r = fn(m, "rearrange")
        first = error(lambda: r(x, "(p q) r -> p q r", p=2.0))
        r(x, "(p q) r -> p q r", p=2)
        return first, tuple(r(x, "(p q) r -> p q r", p=2.0).shape)

    assert prog(tapegrad) == prog(torch)


# --- rearrange: gradients and vmap ------------------------------------------------------------
GRAD_CASES = [
    ((2, 6, 4), "a (b c) d -> (d a) c b", {"b": 2}), ((2, 3, 4), "a b c -> c (b a)", {}),
    ((2, 1, 4), "a 1 c -> c a", {}), ((2, 3, 4), "a ... -> ... 1 a", {}),
    ((3, 2, 4), "1 b c -> (b c) 1", {}), ((6, 4), "(h w) c -> c h w", {"w": 3}),
]


@pytest.mark.parametrize("shape,pattern,kw", GRAD_CASES)
def test_rearrange_gradients(shape, pattern, kw):
    xv = np.random.default_rng(0).standard_normal(shape)

    def grads(m):
        r = fn(m, "rearrange")
        x = m.tensor(xv, requires_grad=True)
        y = r(x, pattern, **kw)
        w = m.tensor(np.random.default_rng(1).standard_normal(tuple(y.shape)))
        (g,) = m.autograd.grad((y * y * w).sum(), x, create_graph=True)
        (gg,) = m.autograd.grad(g.sum(), x)  # second order through the same ops
        (gw,) = m.autograd.grad((r(x, pattern, **kw) * w).sum(), x)
        return y.detach(), g.detach(), gg, gw, w

    ours, theirs = grads(tapegrad), grads(torch)
    same(ours[:4], theirs[:4], atol=1e-12, rtol=1e-12)

    def f(arrs):  # the same w^T rearrange(x), by central differences
        return [fn(tapegrad, "rearrange")(tapegrad.tensor(arrs[0]), pattern, **kw).numpy()]

    (num,) = numeric_vjp(f, [xv], [0], [ours[4].numpy()], 1e-6)
    np.testing.assert_allclose(ours[3].numpy(), num, atol=1e-8)


VMAP_CASES = [
    ((5, 2, 6, 4), "a (b c) d -> (d a) c b", {"b": 2}, 0),
    ((2, 5, 6, 4), "a (b c) d -> (d a) c b", {"b": 2}, 1),
    ((5, 2, 1, 4), "a 1 d -> d a", {}, 2), ((3, 5, 4), "1 d -> d", {}, 1),
    ((5, 2, 3, 4), "... c -> c (...)", {}, 0), ((5, 2, 3), "a b -> b 1 a ()", {}, 0),
]


@pytest.mark.parametrize("shape,pattern,kw,in_dim", VMAP_CASES)
def test_rearrange_under_vmap(shape, pattern, kw, in_dim):
    xv = np.random.default_rng(2).standard_normal(shape)

    def prog(m):
        r, vmap, grad = fn(m, "rearrange"), fn(m, "vmap"), fn(m, "grad")
        x = m.tensor(xv)
        y = vmap(lambda t: r(t, pattern, **kw), in_dims=in_dim)(x)
        g = vmap(grad(lambda t: r(t, pattern, **kw).pow(3).sum()), in_dims=in_dim)(x)
        return y, g

    ours, theirs = prog(tapegrad), prog(torch)
    same(ours, theirs, atol=1e-12, rtol=1e-12)


def test_rearrange_nested_vmap_and_list_input():
    xv = np.random.default_rng(3).standard_normal((3, 4, 2, 6))

    def prog(m):
        r, vmap = fn(m, "rearrange"), fn(m, "vmap")
        x = m.tensor(xv)
        nested = vmap(vmap(lambda t: r(t, "a (b c) -> c (a b)", c=3)))(x)
        stacked = vmap(vmap(lambda t: r([t, t * 2, t * 3], "n a b -> a (b n)")))(x)
        tupled = vmap(lambda t: r((t, -t), "n a b c -> (a n) c b"), in_dims=1)(x)
        return nested, stacked, tupled

    same(prog(tapegrad), prog(torch), atol=1e-12, rtol=1e-12)


# --- functionalize ------------------------------------------------------------------------
def test_functionalize_remove_argument():
    same_error(lambda m: fn(m, "functionalize")(lambda a: a, remove="views"))
    same_error(lambda m: fn(m, "functionalize")(lambda a: a, remove=None))
    same_error(lambda m: fn(m, "functionalize")(lambda a: a, "mutations"))

    def f(a):
        return a * 2

    for m in (tapegrad, torch):
        g = fn(m, "functionalize")(f, remove="mutations_and_views")
        assert g.__name__ == "f" and g.__wrapped__ is f


def _f_add_(a):
    a.add_(1)
    return a


def test_functionalize_input_mutation():
    def prog(m):
        F = fn(m, "functionalize")
        res = []
        x = m.arange(4.)
        v = x._version
        out = F(_f_add_)(x)
        res += [out, x.clone(), out is x, x._version - v]
        out.mul_(10)  # the output is a new tensor: the input does not see this
        res.append(x.clone())

        def twice(a):
            a.add_(1)
            a.add_(1)
            return a.sum()

        x = m.arange(3.)
        v = x._version
        res += [F(twice)(x), x, x._version - v]  # one copy into the input

        def through_view(a):
            a.view(2, 2)[0].mul_(3)
            return a.sum()

        x = m.arange(4.)
        res += [F(through_view)(x), x]

        def no_return(a):
            a[1:].zero_()

        x = m.arange(4.) + 1
        res += [F(no_return)(x), x]

        def kw(a, *, b):
            b.add_(a)

        x = m.zeros(2)
        res += [F(kw)(m.ones(2), b=x), x]

        def tree(d):
            d["k"][0].add_(1)
            return d["k"][0], 3, "s"

        x = m.zeros(2)
        res += [F(tree)({"k": [x]}), x]

        def two(a, b):  # one tensor passed twice: two separate inputs, copied back in order
            a.add_(1)
            b.add_(2)
            return a + b

        x = m.zeros(2)
        res += [F(two)(x, x), x]

        base = m.arange(6.)
        F(lambda a: a.add_(100))(base[2:])
        res.append(base)

        x = m.arange(3)
        F(lambda a: a.add_(1))(x)
        res.append(x)

        x = m.arange(4.)
        res.append(F(lambda a: a)(x) is x)
        res.append(F(lambda a: a, remove="mutations_and_views")(x) is x)
        out = F(lambda a: a.mul_(2).view(2, 2))(x)
        res += [out, out._base is x, x]
        return res

    same(prog(tapegrad), prog(torch))


def test_functionalize_intermediate_mutation_and_views():
    def prog(m):
        F = fn(m, "functionalize")

        def f(a):
            b = a + 1
            c = b.view(-1)
            c.add_(1)
            return b, c

        x = m.arange(4.)
        o1, o2 = F(f)(x)
        p1, p2 = F(f, remove="mutations_and_views")(x)
        return o1, o2, p1, p2, p2._base is None, x

    same(prog(tapegrad), prog(torch))


def test_functionalize_autograd():
    def prog(m):
        F = fn(m, "functionalize")
        res = []
        x = m.arange(4., requires_grad=True)
        res.append(error(lambda: F(_f_add_)(x)))  # a leaf that requires grad
        y = x * 1
        o = F(_f_add_)(y)
        res += [o, type(o.grad_fn).__name__, type(y.grad_fn).__name__, y._version]
        (g,) = m.autograd.grad(o.sum() + (y * y).sum(), x)
        res.append(g)

        def saved_then_mutated(a):  # sin saves b, then b changes: fine here, not eagerly
            b = a * 1
            c = b.sin()
            b.mul_(2)
            return c.sum() + b.sum()

        x = m.tensor([1., 2., 3.], dtype=m.float64, requires_grad=True)
        res.append(m.autograd.grad(F(saved_then_mutated)(x), x))
        res.append(error(lambda: m.autograd.grad(saved_then_mutated(x), x)))
        return res

    ours, theirs = prog(tapegrad), prog(torch)
    same(ours, theirs)


def test_functionalize_composes_with_transforms():
    def prog(m):
        F, grad, vmap, jacrev = (fn(m, n) for n in ("functionalize", "grad", "vmap", "jacrev"))

        def f5(a):
            b = a.clone()
            b.mul_(a)
            return b.sum()

        def g(a):
            a.mul_(2)
            return (a * a).sum()

        t = m.arange(4., dtype=m.float64)
        res = [grad(F(f5))(t), F(grad(f5))(t), jacrev(F(lambda a: a.clone().mul_(a)))(t[:3])]
        res.append(error(lambda: grad(F(g))(m.arange(3.))))
        xx = m.ones(3, 2)
        res += [vmap(F(_f_add_))(xx), xx]

        def q(a):
            vmap(lambda r: r.add_(1))(a)
            return a

        x = m.zeros(3, 2)
        res += [F(q)(x), x]
        x = m.zeros(3, 2)
        res += [F(vmap(_f_add_))(x), x]
        res.append(vmap(grad(F(f5)))(m.arange(6., dtype=m.float64).reshape(2, 3)))
        return res

    same(prog(tapegrad), prog(torch), atol=1e-12, rtol=1e-12)


# --- debug_unwrap -------------------------------------------------------------------------
def test_debug_unwrap():
    same_error(lambda m: fn(m, "debug_unwrap")(3))
    same_error(lambda m: fn(m, "debug_unwrap")("a"))
    same_error(lambda m: fn(m, "debug_unwrap")(None, recurse=False))

    def prog(m):
        U, vmap = fn(m, "debug_unwrap"), fn(m, "vmap")
        seen = []
        x = m.zeros(3)
        seen += [U(x) is x, U(x, recurse=False) is x]

        def f(r):
            seen.extend([tuple(U(r).shape), tuple(U(r, recurse=False).shape), U(r) is r])
            return r

        vmap(f)(m.arange(24.).reshape(2, 3, 4))

        def outer(r):
            def inner(s):
                seen.extend([tuple(U(s).shape), tuple(U(s, recurse=False).shape),
                             tuple(U(U(s, recurse=False), recurse=False).shape),
                             m.equal(U(s), m.arange(24.).reshape(2, 3, 4))])
                return s

            return vmap(inner)(r)

        vmap(outer)(m.arange(24.).reshape(2, 3, 4))
        return seen

    assert prog(tapegrad) == prog(torch)


# --- replace_all_batch_norm_modules_ ------------------------------------------------------
def _model(m):
    nn = m.nn
    m.manual_seed(0)
    return nn.Sequential(
        nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(),
        nn.Sequential(nn.BatchNorm1d(4, affine=False),
                      nn.InstanceNorm1d(4, track_running_stats=True)),
        nn.Linear(4, 2)).double()


def test_replace_all_batch_norm_modules_state():
    def prog(m):
        model = _model(m)
        r = fn(m, "replace_all_batch_norm_modules_")
        res = [r(model) is model, repr(model), list(model.state_dict().keys()),
               [n for n, _ in model.named_buffers()]]
        bn = model[1]
        res += [bn.running_mean, bn.running_var, bn.num_batches_tracked,
                bn.track_running_stats, dict(bn._buffers)]
        res += [model[3][1].running_mean, model[3][1].track_running_stats]
        bn2 = m.nn.BatchNorm2d(3, track_running_stats=False)
        res += [r(bn2) is bn2, dict(bn2._buffers), repr(r(m.nn.BatchNorm3d(2)))]
        return res

    same(prog(tapegrad), prog(torch))
    same_error(lambda m: fn(m, "replace_all_batch_norm_modules_")(3))


def test_replace_all_batch_norm_modules_then_vmap():
    xv = np.random.default_rng(4).standard_normal((5, 6, 3))

    def prog(m):
        F = m.func
        model = F.replace_all_batch_norm_modules_(_model(m))
        model[3][1] = m.nn.Identity()
        x = m.tensor(xv)
        out = F.vmap(model)(x)  # training mode: batch statistics per sample
        model.eval()
        out_eval = F.vmap(model)(x)  # no running stats: batch statistics still
        model.train()
        params = {k: v.detach() for k, v in model.named_parameters()}

        def loss(p, xb):
            return F.functional_call(model, p, (xb,)).pow(2).sum()

        g = F.vmap(F.grad(loss), in_dims=(None, 0))(params, x)
        return out.detach(), out_eval.detach(), g

    same(prog(tapegrad), prog(torch), atol=1e-10, rtol=1e-8)


def test_functionalize_higher_order_and_saved_tensor_hooks():
    def st(a):  # b is saved by sin, then mutated: fine under functionalize
        b = a * 1
        c = b.sin()
        b.mul_(2)
        return c.sum() + (b * b).sum()

    def vec(a):
        b = a.exp()
        b.mul_(a)
        return b

    def prog(m):
        F = m.func
        t = m.tensor([0.5, 1.0, 1.5], dtype=m.float64)
        res = [F.grad(F.functionalize(st))(t), F.hessian(F.functionalize(st))(t),
               F.jacfwd(F.functionalize(vec))(t),
               F.jvp(F.functionalize(vec), (t,), (m.ones_like(t),)),
               F.vmap(F.grad(F.functionalize(st)))(t.reshape(3, 1).expand(3, 2).contiguous()),
               error(lambda: F.grad(st)(t))]
        packed = []  # the caller's own saved-tensor hooks still see the saved tensors

        def pack(x):
            packed.append(1)
            return x

        x = t.clone().requires_grad_()
        with m.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
            out = F.functionalize(st)(x)
        res += [m.autograd.grad(out, x), len(packed) > 0]
        return res

    same(prog(tapegrad), prog(torch), atol=1e-12, rtol=1e-12)


def test_func_namespace_matches_torch():
    public = {n for n in dir(torch.func) if not n.startswith("_")}
    assert public <= set(dir(tapegrad.func))
    assert public <= set(tapegrad.func.__all__)

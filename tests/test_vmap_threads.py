"""vmap and threads: the vmap state is per thread and the dispatchers are installed while any
thread is inside vmap (reference-counted under a lock), put back when the last one leaves.

Interleavings are forced with threading.Barrier / Event (each with a timeout, so a broken
schedule fails instead of hanging): two threads inside vmap at once (flat, nested, vmap(grad))
get what each gets alone and what torch.func gets; one thread leaving while another is still
inside keeps the other batched; plain tapegrad code (ops, autograd, random draws) in a thread
outside vmap is untouched by another thread's vmap and its randomness mode; a batched tensor
handed to another thread is refused there; afterwards every swapped attribute is the original.
"""

from __future__ import annotations

import inspect
import platform
import sys
import threading
import types

import numpy as np
import pytest

import tapegrad
from _helpers import same

torch = pytest.importorskip("torch")

WAIT = 20.0  # seconds any thread waits for another before the test fails
RNG = np.random.default_rng(11)
XA = RNG.standard_normal((4, 3))
XB = RNG.standard_normal((2, 5, 6))
W = RNG.standard_normal((6, 3))
P = {"w": RNG.standard_normal((3, 5)), "b": RNG.standard_normal(3)}
XS = RNG.standard_normal((7, 5))
YS = RNG.integers(0, 3, 7)


@pytest.fixture(autouse=True)
def _frequent_thread_switches():
    """Threads hand over the interpreter every 10 µs (not 5 ms): between the forced meeting
    points their ops interleave finely too."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def _install():
    from tapegrad.func import _batching_install

    tapegrad.func.vmap(lambda x: x)(tapegrad.ones(2))  # the dispatchers exist from here on
    return _batching_install


def _t(m, a):
    return m.tensor(a, dtype=m.float64) if np.asarray(a).dtype.kind == "f" else m.tensor(a)


def run_threads(*targets):
    """Run each target in its own thread; return their results (re-raising the first error)."""
    results = [None] * len(targets)
    errors: list = []

    def runner(k, fn):
        try:
            results[k] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            errors.append(e)

    threads = [threading.Thread(target=runner, args=(k, fn)) for k, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 3)
        assert not t.is_alive(), "a thread did not finish"
    if errors:
        raise errors[0]
    return results


def _no_sync() -> None:
    return None


# --- the programs (each calls sync() between its ops: with a barrier shared by two threads,
# their ops interleave step by step) ------------------------------------------------------
def prog_flat(m, sync=_no_sync):
    def f(x):
        y = x.sin() * 2.0
        sync()
        y = y + x.sum()
        sync()
        return m.tanh(y).mul(x)

    return m.func.vmap(f)(_t(m, XA))


def prog_nested(m, sync=_no_sync):
    w = _t(m, W)

    def f(y):
        z = y @ w
        sync()
        z = z + y.mean()
        sync()
        return m.nn.functional.relu(z) - z.sum(0)

    return m.func.vmap(m.func.vmap(f), in_dims=1, out_dims=1)(_t(m, XB))


def prog_grad(m, sync=_no_sync):
    params = {k: _t(m, v) for k, v in P.items()}

    def loss(p, x, y):
        h = m.nn.functional.linear(x, p["w"], p["b"])
        sync()
        h = h.tanh()
        sync()
        return m.nn.functional.cross_entropy(h.unsqueeze(0), y.unsqueeze(0))

    return m.func.vmap(m.func.grad(loss), in_dims=(None, 0, 0))(params, _t(m, XS), _t(m, YS))


PROGS = {"flat": prog_flat, "nested": prog_nested, "grad": prog_grad}


@pytest.fixture(scope="module")
def alone():
    """Each program's result run alone in this thread, checked against torch.func."""
    res = {}
    for name, prog in PROGS.items():
        res[name] = prog(tapegrad)
        same(res[name], prog(torch), name, atol=1e-10, rtol=1e-10)
    return res


def _all_original(inst) -> None:
    for owner, name, orig, _ in inst._SWAPS:
        assert vars(owner)[name] is orig, f"{owner!r}.{name} was not put back"
        if isinstance(owner, types.ModuleType):
            assert type(owner) is types.ModuleType, f"{owner!r} keeps a swapped class"
            assert getattr(owner, name) is orig, f"{owner!r}.{name} was not put back"
        elif isinstance(orig, types.FunctionType):
            assert getattr(owner, name) is orig, f"{owner!r}.{name} (cached) was not put back"
    assert inst._ACTIVE[0] == 0


def _all_installed(inst) -> None:
    for owner, name, _, disp in inst._SWAPS:
        got = getattr(owner, name) if isinstance(owner, types.ModuleType) else vars(owner)[name]
        assert got is disp, f"{owner!r}.{name} is not the dispatcher"


# --- two threads inside vmap at once ---------------------------------------------------------
@pytest.mark.parametrize("pair", [("flat", "nested"), ("grad", "nested"), ("grad", "flat"),
                                  ("grad", "grad")])
def test_two_threads_inside_vmap(alone, pair):
    inst = _install()
    barrier = threading.Barrier(2, timeout=WAIT)
    a, b = pair
    ra, rb = run_threads(lambda: PROGS[a](tapegrad, barrier.wait),
                         lambda: PROGS[b](tapegrad, barrier.wait))
    same(ra, alone[a], a, atol=0, rtol=0)
    same(rb, alone[b], b, atol=0, rtol=0)
    _all_original(inst)


def test_many_threads_many_calls(alone):
    inst = _install()
    start = threading.Barrier(4, timeout=WAIT)

    def worker(name):
        def run():
            start.wait()
            return [PROGS[name](tapegrad) for _ in range(5)]
        return run

    names = ["flat", "nested", "grad", "flat"]
    for name, results in zip(names, run_threads(*[worker(n) for n in names])):
        for r in results:
            same(r, alone[name], name, atol=0, rtol=0)
    _all_original(inst)


# --- leaving in either order -----------------------------------------------------------------
@pytest.mark.parametrize("first_out", ["outer_thread", "inner_thread"])
def test_one_thread_leaves_while_another_is_inside(first_out):
    """A enters vmap, then B; one of them leaves; the other must still compute batched
    results (the dispatchers stay in); when both are out the originals are back."""
    inst = _install()
    add0, linear0, tensor_add0 = tapegrad.add, tapegrad.nn.functional.linear, tapegrad.Tensor.add
    a_in, b_in, first_left = (threading.Event() for _ in range(3))
    x = _t(tapegrad, XA)
    w = _t(tapegrad, W[:3])

    def body(m, xs, wait_for, signal, must_wait_first_left):
        signal.set()
        assert wait_for.wait(WAIT)
        if must_wait_first_left:  # the other thread has left vmap by now
            assert first_left.wait(WAIT)
            _all_installed(inst)
        y = m.add(xs, 1.0) * xs.sum()
        return m.nn.functional.linear(y, w) + xs.add(2.0)

    def expected(xs):
        y = (xs + 1.0) * xs.sum(1, keepdim=True)
        return y @ w.t() + xs + 2.0

    a_first = first_out == "outer_thread"

    def thread_a():
        out = tapegrad.func.vmap(lambda xs: body(tapegrad, xs, b_in, a_in, not a_first))(x)
        if a_first:
            first_left.set()
        return out

    def thread_b():
        assert a_in.wait(WAIT)
        out = tapegrad.func.vmap(lambda xs: body(tapegrad, xs, a_in, b_in, a_first))(x * 3)
        if not a_first:
            first_left.set()
        return out

    ra, rb = run_threads(thread_a, thread_b)
    np.testing.assert_allclose(ra.numpy(), expected(x).numpy(), rtol=1e-12)
    np.testing.assert_allclose(rb.numpy(), expected(x * 3).numpy(), rtol=1e-12)
    assert tapegrad.add is add0 and tapegrad.nn.functional.linear is linear0
    assert tapegrad.Tensor.add is tensor_add0
    _all_original(inst)


def test_error_inside_vmap_in_one_thread(alone):
    """A thread whose vmapped function raises still leaves its level: the other thread keeps
    its dispatchers until it leaves, then everything is original again."""
    inst = _install()
    barrier = threading.Barrier(2, timeout=WAIT)

    def failing():
        def f(x):
            barrier.wait()  # both inside
            barrier.wait()  # the other thread has made progress
            return x.sum().item()  # vmap refuses .item()

        with pytest.raises(RuntimeError, match=r"calling \.item\(\)"):
            tapegrad.func.vmap(f)(_t(tapegrad, XA))

    def other():
        return prog_nested(tapegrad, barrier.wait)

    _, rb = run_threads(failing, other)
    same(rb, alone["nested"], "nested", atol=0, rtol=0)
    _all_original(inst)


# --- plain code in a thread outside vmap -----------------------------------------------------
def _plain_program(m):
    a = m.tensor([0.5, -1.0, 2.0], dtype=m.float64, requires_grad=True)
    b = m.tensor([1.5, 0.25, -3.0], dtype=m.float64)
    lin = m.nn.Linear(3, 2).double()
    with m.no_grad():
        lin.weight.copy_(m.tensor([[0.1, 0.2, 0.3], [-0.4, 0.5, -0.6]], dtype=m.float64))
        lin.bias.fill_(0.25)
    y = (a + b) * a.mul(b) + m.tanh(a) @ b
    z = lin(y.unsqueeze(0)).sum() + m.nn.functional.softplus(y).sum()
    z.backward()
    g = m.Generator().manual_seed(5)
    r = m.randn(4, generator=g) + m.rand(2, 2, generator=g).sum()
    return y.detach(), z.detach(), a.grad, lin.weight.grad, lin.bias.grad, r


def test_plain_ops_in_another_thread_while_vmap_runs():
    inst = _install()
    add0 = tapegrad.add
    expected = _plain_program(tapegrad)
    same(expected, _plain_program(torch), "plain", atol=1e-12, rtol=1e-12)
    inside, done = threading.Event(), threading.Event()

    def vmapping():
        def f(x):
            inside.set()
            assert done.wait(WAIT)
            return x * 2

        return tapegrad.func.vmap(f)(_t(tapegrad, XA))

    def plain():
        assert inside.wait(WAIT)
        try:
            assert tapegrad.add is not add0  # the dispatchers are in: the plain path is tested
            from tapegrad.func._batching_core import STATE

            assert STATE.layers == [] and STATE.by_level == {}  # this thread is outside vmap
            return [_plain_program(tapegrad) for _ in range(3)]
        finally:
            done.set()

    ra, results = run_threads(vmapping, plain)
    np.testing.assert_array_equal(ra.numpy(), XA * 2)
    for r in results:
        same(r, expected, "plain", atol=0, rtol=0)
    _all_original(inst)


@pytest.mark.parametrize("randomness", ["error", "different", "same"])
def test_random_ops_in_another_thread_ignore_vmap_randomness(randomness):
    """A random op in a thread outside vmap draws as usual whatever the mode of another
    thread's vmap; the vmap thread itself still follows its mode."""
    inst = _install()
    inside, drawn = threading.Event(), threading.Event()
    x = _t(tapegrad, XA)

    def vmapping():
        def f(r):
            # draw before the other thread does (they share the default generator), except
            # in 'error' mode, which must still refuse the draw after the other thread's
            out = None if randomness == "error" else r * tapegrad.rand(3)
            inside.set()
            assert drawn.wait(WAIT)
            return r * tapegrad.rand(3) if out is None else out

        tapegrad.manual_seed(123)
        vm = tapegrad.func.vmap(f, randomness=randomness)
        if randomness == "error":
            with pytest.raises(RuntimeError, match="randomness error mode"):
                vm(x)
            return None
        return vm(x)

    def plain():
        assert inside.wait(WAIT)
        try:
            g = tapegrad.Generator().manual_seed(9)
            return tapegrad.randn(5, generator=g), tapegrad.rand(2, 3).shape
        finally:
            drawn.set()

    ra, (draws, shape) = run_threads(vmapping, plain)
    g = tapegrad.Generator().manual_seed(9)
    np.testing.assert_array_equal(draws.numpy(), tapegrad.randn(5, generator=g).numpy())
    assert tuple(shape) == (2, 3)
    if randomness != "error":  # the vmap thread's draws are what it draws alone
        tapegrad.manual_seed(123)
        alone = tapegrad.func.vmap(lambda r: r * tapegrad.rand(3), randomness=randomness)(x)
        np.testing.assert_array_equal(ra.numpy(), alone.numpy())
    _all_original(inst)


# --- levels belong to one thread ---------------------------------------------------------------
def test_batched_tensor_handed_to_another_thread_is_refused():
    _install()
    handed: list = []
    ready, done = threading.Event(), threading.Event()

    def vmapping():
        def f(x):
            handed.append(x)
            ready.set()
            assert done.wait(WAIT)
            return x + 1

        return tapegrad.func.vmap(f)(_t(tapegrad, XA))

    def other():
        assert ready.wait(WAIT)
        try:
            with pytest.raises(RuntimeError, match="escaped the vmap call"):
                tapegrad.sin(handed[0])
        finally:
            done.set()

    ra, _ = run_threads(vmapping, other)
    np.testing.assert_array_equal(ra.numpy(), XA + 1)


def test_levels_are_unique_across_threads():
    _install()
    levels: list = []
    barrier = threading.Barrier(2, timeout=WAIT)

    def run():
        def f(x):
            levels.append(x._level)
            barrier.wait()
            return x

        return tapegrad.func.vmap(f)(_t(tapegrad, XA))

    run_threads(run, run)
    assert len(set(levels)) == 2


# --- the swap itself -------------------------------------------------------------------------
def test_swap_reaches_subclass_and_plain_self_methods():
    """Inside vmap a plain tensor's (and a Parameter's) method and operator with a batched
    argument batch; outside, every class attribute (through the class caches) is original."""
    inst = _install()

    def prog(m):
        p = m.nn.Parameter(_t(m, W[0, :3]))
        z = _t(m, W[1, :3])
        return m.func.vmap(lambda x: (z.add(x), z + x, p * x, p.sub(x), z[None] @ x))(
            _t(m, XA))

    same(prog(tapegrad), prog(torch), "methods", atol=1e-12, rtol=1e-12)
    _all_original(inst)
    param = tapegrad.nn.Parameter
    assert param.add is inst._TENSOR_ORIG["add"] and param.__mul__ is inst._TENSOR_ORIG["__mul__"]


def test_swap_with_setattr_only(alone):
    """The plan that sets every class attribute with setattr (used where the dict behind a
    class's mappingproxy cannot be reached) swaps the same attributes."""
    inst = _install()
    with inst._LOCK:
        inst._plan(raw=False)
    try:
        assert {(o, n) for o, n, _ in inst._SETATTRS} == {
            (o, n) for o, n, *_ in inst._SWAPS if isinstance(o, type)}
        barrier = threading.Barrier(2, timeout=WAIT)
        ra, rb = run_threads(lambda: prog_grad(tapegrad, barrier.wait),
                             lambda: prog_flat(tapegrad, barrier.wait))
        same(ra, alone["grad"], "grad", atol=0, rtol=0)
        same(rb, alone["flat"], "flat", atol=0, rtol=0)
        _all_original(inst)
    finally:
        with inst._LOCK:
            inst._plan()
    _all_original(inst)


def test_module_attribute_routes_inside_vmap():
    """Inside vmap the public functions are reached as module attributes (the namespaces'
    swapped class), through `from ... import` at call time, getattr, and the globals of the
    modules that imported them (nn layers); afterwards the namespaces are plain modules."""
    inst = _install()

    def ours(x):
        from tapegrad import add
        from tapegrad.nn.functional import softplus

        name = "linear"
        lin = getattr(tapegrad.nn.functional, name)
        return add(softplus(x), lin(x, w_ours)) + layer_ours(x) + tapegrad.special.expit(x)

    def theirs(x):
        from torch import add
        from torch.nn.functional import softplus

        name = "linear"
        lin = getattr(torch.nn.functional, name)
        return add(softplus(x), lin(x, w_theirs)) + layer_theirs(x) + torch.special.expit(x)

    w_ours, w_theirs = _t(tapegrad, W[:3]), _t(torch, W[:3])
    layer_ours, layer_theirs = tapegrad.nn.Linear(3, 3).double(), torch.nn.Linear(3, 3).double()
    with torch.no_grad():
        layer_theirs.weight.copy_(torch.tensor(layer_ours.weight.detach().numpy()))
        layer_theirs.bias.copy_(torch.tensor(layer_ours.bias.detach().numpy()))
    got = tapegrad.func.vmap(ours)(_t(tapegrad, XA))
    same(got, torch.func.vmap(theirs)(_t(torch, XA)), "routes", atol=1e-12, rtol=1e-12)
    _all_original(inst)
    assert type(tapegrad) is types.ModuleType and type(tapegrad.nn.functional) is types.ModuleType


@pytest.mark.skipif(platform.python_implementation() != "CPython", reason="CPython shortcuts")
def test_plan_takes_the_shortcuts():
    """On CPython the checked plan keeps its shortcuts: the public namespaces swap their
    class (not hundreds of dict entries) and Tensor's ~300 attributes go through its dict
    with one setattr."""
    inst = _install()
    classes = {id(o) for o, n, _ in inst._SETATTRS if n == "__class__"}
    for mod in (tapegrad, tapegrad.nn.functional, tapegrad.linalg, tapegrad.special):
        assert id(mod) in classes, mod.__name__
    assert sum(o is tapegrad.Tensor for o, _, _ in inst._SETATTRS) == 1
    n_tensor = sum(o is tapegrad.Tensor for o, *_ in inst._SWAPS)
    assert any(len(v[0]) == n_tensor - 1 and u.__self__ is not vars(tapegrad)
               for u, v in inst._UPDATES)


# --- vmap's per-call fast path (flat in_dims, tensors given directly) keeps the general path's
# results: unmapped containers are copies, out_dims apply to dict/list/tuple outputs ---------
def test_fast_path_copies_unmapped_containers_as_torch_does():
    def prog(m):
        d, lst, tup = {"w": _t(m, W[0])}, [_t(m, W[1])], (_t(m, W[2]),)
        seen = {}

        def f(d2, l2, t2, x, s):
            seen.update(d=d2 is d, l=l2 is lst, t=t2 is tup)
            d2["new"] = 1
            l2.append(2)
            return x * s + d2["w"][:3] + l2[0][:3] - t2[0][:3]

        out = m.func.vmap(f, in_dims=(None, None, None, -1, None))(d, lst, tup, _t(m, XA.T), 2.0)
        return out, sorted(seen.items()), sorted(d), len(lst)

    same(prog(tapegrad), prog(torch), "containers", atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("out_dims", [0, 1, -1])
def test_fast_path_outputs(out_dims):
    def prog(m):
        z = _t(m, W[0, :3])

        def f(x, y):
            u = x * y.sum()
            if out_dims == 0:  # with unbatched and 0-d results too
                return {"a": u, "b": z}, [x, z * 2], (x.sum(), y)
            return {"a": u, "b": x.outer(y)}, [x, y], (u,)

        return m.func.vmap(f, in_dims=(0, 1), out_dims=out_dims)(_t(m, XA), _t(m, XB[:, :4, 0]))

    same(prog(tapegrad), prog(torch), "outputs", atol=1e-12, rtol=1e-12)


# --- the batching rules' argument binding (a direct path for plain signatures) --------------
def _bind_cases(sig):
    """Calls (args, kwargs) of sentinel objects covering how a signature can be called:
    required ones by position or by name, every positional one by position, each optional
    one by name, and wrong calls (too many, unknown, repeated, missing)."""
    params = list(sig.parameters.values())
    pos = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    req = [p for p in pos if p.default is inspect.Parameter.empty]
    kwreq = {p.name: object() for p in params
             if p.kind is p.KEYWORD_ONLY and p.default is inspect.Parameter.empty}
    first = tuple(object() for _ in req)
    cases = [(first, dict(kwreq)), (tuple(object() for _ in pos), dict(kwreq)),
             ((), {**{p.name: object() for p in req}, **kwreq}),
             (tuple(object() for _ in pos) + (object(),), dict(kwreq)),
             (first, {**kwreq, "not_a_parameter": 1}), ((), {})]
    if req:
        cases.append((first, {**kwreq, req[0].name: object()}))
    for p in params:
        if p.default is not inspect.Parameter.empty:
            cases.append((first, {**kwreq, p.name: object()}))
    return cases


def test_rule_binding_matches_inspect():
    from tapegrad.func._batching_dispatch import Op, method_op

    inst = _install()
    ops = [Op(n, n, f, None, False) for _, n, f, _ in inst._SWAPS
           if isinstance(f, types.FunctionType)]
    ops += [method_op(n) for n in ("add_", "mul_", "clamp_", "index_add_", "scatter_")]
    checked = 0
    for op in ops:
        sig = op.signature()
        for args, kwargs in _bind_cases(sig):
            try:
                want = sig.bind(*args, **kwargs)
                want.apply_defaults()
            except TypeError as e:
                with pytest.raises(TypeError) as got:
                    op.bind(args, kwargs)
                assert str(got.value) == str(e)
                continue
            got = op.bind(args, kwargs)
            assert list(got.arguments) == list(want.arguments), op.qualname
            for k, v in want.arguments.items():  # the same objects (*args, **kwargs: equal)
                g = got.arguments[k]
                assert g is v or (type(g) in (tuple, dict) and g == v), (op.qualname, k)
            assert got.args == want.args and got.kwargs == want.kwargs
            checked += 1
    assert checked > 1000

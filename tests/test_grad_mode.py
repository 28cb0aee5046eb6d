"""Grad modes: no_grad, enable_grad, set_grad_enabled, inference_mode, as context managers,
as functions and as decorators (with and without parentheses, on functions and generator
functions), nested, restored after exceptions, and thread-local; inference tensors. Every
check is written once and run with tapegrad and, when installed, PyTorch."""

from __future__ import annotations

import threading

import pytest

import tapegrad

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

LIBS = [tapegrad] + ([torch] if torch is not None else [])


@pytest.fixture(params=LIBS, ids=lambda m: m.__name__)
def m(request):
    lib = request.param
    yield lib
    lib.set_grad_enabled(True)
    assert lib.is_grad_enabled() and not lib.is_inference_mode_enabled()


def test_no_grad_and_enable_grad_nest(m):
    x = m.ones(2, requires_grad=True)
    with m.no_grad():
        assert not (x * 2).requires_grad and not m.is_grad_enabled()
        with m.enable_grad():
            assert (x * 2).requires_grad and m.is_grad_enabled()
        assert not m.is_grad_enabled()
        with m.no_grad():
            assert not m.is_grad_enabled()
        assert not m.is_grad_enabled()
    assert m.is_grad_enabled() and (x * 2).requires_grad


def test_factories_keep_requires_grad_under_no_grad(m):
    with m.no_grad():
        a = m.ones(2, requires_grad=True)
        b = m.tensor([1.0], requires_grad=True)
    assert a.requires_grad and b.requires_grad and a.is_leaf


def test_set_grad_enabled_as_function_and_context(m):
    r = m.set_grad_enabled(False)
    assert not m.is_grad_enabled() and type(r).__name__ == "set_grad_enabled"
    m.set_grad_enabled(True)
    assert m.is_grad_enabled()
    with m.set_grad_enabled(False):
        assert not m.is_grad_enabled()
    assert m.is_grad_enabled()
    with m.no_grad():
        with m.set_grad_enabled(True):
            assert m.is_grad_enabled()
        assert not m.is_grad_enabled()
    r = m.set_grad_enabled(False)
    assert repr(r).replace("torch", "tapegrad") == \
        "tapegrad.autograd.grad_mode.set_grad_enabled(mode=False)"
    m.set_grad_enabled(True)


@pytest.mark.parametrize("bad", ["x", 1, None, 0.0])
def test_set_grad_enabled_wants_a_bool(m, bad):
    with pytest.raises(TypeError, match="set_grad_enabled\\(\\): argument 'enabled' "
                                        f"\\(position 1\\) must be bool, not {type(bad).__name__}"):
        m.set_grad_enabled(bad)
    assert m.is_grad_enabled()


def test_modes_restored_after_exceptions(m):
    for make in (m.no_grad, m.enable_grad, lambda: m.set_grad_enabled(False), m.inference_mode):
        with pytest.raises(ValueError):
            with make():
                raise ValueError
        assert m.is_grad_enabled() and not m.is_inference_mode_enabled()


def test_one_no_grad_object_reused_and_nested(m):
    """One object entered twice keeps only the last previous mode: leaving both leaves grad
    mode off (PyTorch's behaviour, kept)."""
    ng = m.no_grad()
    with ng:
        with ng:
            assert not m.is_grad_enabled()
        assert not m.is_grad_enabled()
    assert not m.is_grad_enabled()
    m.set_grad_enabled(True)


def test_decorators(m):
    x = m.ones(2, requires_grad=True)

    @m.no_grad()
    def f(a):
        return a * 2

    @m.no_grad
    def f2(a):
        return a * 2

    @m.enable_grad()
    def g(a):
        return a * 2

    @m.enable_grad
    def g2(a):
        return a * 2

    @m.set_grad_enabled(False)
    def h(a):
        return a * 2

    @m.inference_mode()
    def i(a):
        return (a * 2).is_inference(), m.is_grad_enabled()

    @m.inference_mode
    def i2():
        return m.ones(1).is_inference()

    assert not f(x).requires_grad and not f2(x).requires_grad
    assert f.__name__ == "f" and f2.__name__ == "f2"
    with m.no_grad():
        assert g(x).requires_grad and g2(x).requires_grad
    assert m.is_grad_enabled()  # building the set_grad_enabled decorator did not leave it off
    assert not h(x).requires_grad and m.is_grad_enabled()
    assert i(x) == (True, False) and i2() is True
    assert m.is_grad_enabled()


def test_generator_functions_run_in_the_mode(m):
    @m.no_grad()
    def gen():
        for _ in range(2):
            got = yield m.is_grad_enabled()
            assert got == "sent"
        return "done"

    g = gen()
    states = [next(g)]
    assert m.is_grad_enabled()  # the caller runs with its own mode between steps
    states.append(g.send("sent"))
    with pytest.raises(StopIteration) as e:
        g.send("sent")
    assert states == [False, False] and e.value.value == "done"

    @m.enable_grad()
    def gen2():
        yield m.is_grad_enabled()

    with m.no_grad():
        assert list(gen2()) == [True]
        assert not m.is_grad_enabled()

    @m.no_grad()
    def gen3():
        try:
            yield 1
        except KeyError:
            yield m.is_grad_enabled()

    g = gen3()
    next(g)
    assert g.throw(KeyError) is False
    g.close()


def test_decorating_a_class_warns(m):
    with pytest.warns(FutureWarning, match="Decorating classes is deprecated"):
        @m.no_grad()
        class C:
            def __init__(self):
                self.mode = m.is_grad_enabled()

    assert C().mode is False


def test_grad_mode_is_thread_local(m):
    seen = []

    def worker():
        seen.append((m.is_grad_enabled(), m.is_inference_mode_enabled()))
        with m.no_grad():
            seen.append(m.is_grad_enabled())

    with m.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert not m.is_grad_enabled()
    with m.inference_mode():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen == [(True, False), False, (True, False), False]
    assert m.is_grad_enabled()


def test_inference_mode_marks_tensors(m):
    x = m.ones(2, requires_grad=True)
    with m.inference_mode():
        t = m.ones(2)
        assert t.is_inference() and m.is_inference_mode_enabled() and not m.is_grad_enabled()
        u = x * 2
        assert not u.requires_grad and u.is_inference()
        assert t.view(2).is_inference()
        with m.inference_mode(False):
            assert not m.is_inference_mode_enabled() and m.is_grad_enabled()
            assert not m.ones(2).is_inference()
        e = m.ones(2, requires_grad=True)
        assert e.requires_grad and e.is_leaf
    assert not m.ones(2).is_inference() and not x.is_inference()
    assert t.detach().is_inference() and not (t * 2).is_inference()
    assert not t.clone().is_inference()
    with m.no_grad():
        assert not m.ones(2).is_inference()
    (e + 1).sum().backward()  # made inside, used as a leaf outside (not saved): allowed
    assert e.grad.tolist() == [1.0, 1.0]


def test_inference_tensor_rules(m):
    with m.inference_mode():
        t = m.ones(2)
        t.add_(1)  # in-place inside inference mode is fine
    x = m.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="Inplace update to inference tensor outside "
                                           "InferenceMode is not allowed.You can make a clone"):
        t.add_(1)
    with pytest.raises(RuntimeError, match="Setting requires_grad=True on inference tensor "
                                           "outside InferenceMode is not allowed."):
        t.requires_grad_()
    with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward. "
                                           "Please do not use Tensors created in inference mode"):
        t * x
    with pytest.raises(RuntimeError, match="Inference tensors do not track version counter."):
        _ = t._version
    c = t.clone()
    c.add_(1)
    assert c._version > 0 and not c.is_inference()


def test_inference_mode_bumps_versions_of_normal_tensors(m):
    n = m.ones(2)
    with m.inference_mode():
        n.add_(1)
        assert not n.view(2).is_inference()
    assert n._version == 1


def test_views_made_under_no_grad_still_require_grad(m):
    x = m.ones(2, requires_grad=True)
    with m.no_grad():
        v = x.view(2)
        y = x * 1
    assert v.requires_grad and v.is_leaf and v.grad_fn is None
    assert not y.requires_grad

"""Gradient clipping and parameter/vector conversion against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from _helpers import both, same, same_error, warnings_of

torch = pytest.importorskip("torch")

import tapegrad  # noqa: E402

F32 = {"atol": 1e-6, "rtol": 1e-6}
F64 = {"atol": 1e-13, "rtol": 1e-12}


def _params(m, dtype="float32", scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    dt = getattr(m, dtype)
    ps = [m.tensor(rng.standard_normal(s), dtype=dt, requires_grad=True)
          for s in [(3, 4), (5,), ()]]
    for p in ps:
        p.grad = m.tensor(rng.standard_normal(p.shape) * scale, dtype=dt)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, "inf", float("-inf"), 0.5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm(norm_type, dtype, max_norm):
    def prog(m):
        ps = _params(m, dtype)
        total = m.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
        return total, [p.grad for p in ps]

    both(prog, **(F32 if dtype == "float32" else F64))


def test_clip_grad_norm_single_tensor_and_missing_grads():
    def prog(m):
        a, b, c = _params(m)
        b.grad = None
        t1 = m.nn.utils.clip_grad_norm_(a, 1.0)
        t2 = m.nn.utils.clip_grad_norm_([a, b, c], 0.1, norm_type=1.0)
        t3 = m.nn.utils.clip_grad_norm_([b], 1.0)
        return t1, t2, t3, a.grad, b.grad, c.grad

    both(prog, **F32)


def test_mixed_dtypes_total_norm():
    def prog(m):
        a = m.ones(3, requires_grad=True)
        b = m.ones(2, dtype=m.float64, requires_grad=True)
        a.grad = m.tensor([1.0, 2.0, 3.0])
        b.grad = m.tensor([1.0, 2.0], dtype=m.float64)
        total = m.nn.utils.clip_grad_norm_([a, b], 1.0)
        return total, a.grad, b.grad

    both(prog, **F32)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("norm_type", [2.0, "inf"])
def test_nonfinite_norm_error(bad, norm_type):
    def fn(m):
        p = m.ones(3, requires_grad=True)
        p.grad = m.tensor([1.0, bad, 3.0])
        m.nn.utils.clip_grad_norm_(p, 1.0, norm_type=norm_type, error_if_nonfinite=True)

    same_error(fn)


def test_nonfinite_norm_without_error_scales_anyway():
    def prog(m):
        p = m.ones(3, requires_grad=True)
        p.grad = m.tensor([1.0, float("inf"), 3.0])
        total = m.nn.utils.clip_grad_norm_(p, 1.0)
        return total, p.grad

    both(prog)


def test_empty_inputs():
    def prog(m):
        u = m.nn.utils
        return (u.clip_grad_norm_([], 1.0), warnings_of(lambda: u.clip_grad_norm_(
            (x for x in []), 1.0)), u.get_total_norm([]))

    both(prog)


def test_get_total_norm_and_clip_with_norm():
    def prog(m):
        ps = _params(m, "float64")
        grads = [p.grad for p in ps]
        total = m.nn.utils.get_total_norm(grads, norm_type=3.0)
        single = m.nn.utils.get_total_norm(grads[0])
        m.nn.utils.clip_grads_with_norm_(ps, 0.5, total)
        return total, single, [p.grad for p in ps]

    both(prog, **F64)


def test_deprecated_clip_grad_norm():
    def prog(m):
        ps = _params(m, "float64")
        msgs = warnings_of(lambda: m.nn.utils.clip_grad_norm(ps, 0.5))
        return msgs, [p.grad for p in ps]

    both(prog, **F64)


def test_clipping_is_not_recorded():
    def prog(m):
        p = m.ones(2, requires_grad=True)
        (p * p * 3).sum().backward(create_graph=True)
        total = m.nn.utils.clip_grad_norm_(p, 1.0)
        return total.requires_grad, total.grad_fn is None

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both(prog)


@pytest.mark.parametrize("clip", [0.5, 2, 0.0])
def test_clip_grad_value(clip):
    def prog(m):
        ps = _params(m, scale=2.0)
        ps[1].grad = None
        res = m.nn.utils.clip_grad_value_(ps, clip)
        single = m.nn.utils.clip_grad_value_(ps[0], clip / 2)
        return res, single, [p.grad for p in ps]

    both(prog, atol=0, rtol=0)


def test_parameters_to_vector_and_back():
    def prog(m):
        a = m.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        b = m.tensor([5.0], requires_grad=True)
        v = m.nn.utils.parameters_to_vector([a, b])
        v.sum().backward()
        m.nn.utils.vector_to_parameters(m.arange(5.0) * 10, [a, b])
        return v, a.grad, b.grad, a, b, a.is_leaf

    both(prog)


def test_vector_to_parameters_needs_a_tensor():
    same_error(lambda m: m.nn.utils.vector_to_parameters(3, [m.ones(2)]))
    same_error(lambda m: m.nn.utils.vector_to_parameters([1.0, 2.0], [m.ones(2)]))


def test_exports():
    names = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
             "clip_grads_with_norm_", "parameters_to_vector", "vector_to_parameters"]
    for n in names:
        assert callable(getattr(tapegrad.nn.utils, n)), n
    same(tapegrad.nn.utils.clip_grad.__all__[:3], torch.nn.utils.clip_grad.__all__)

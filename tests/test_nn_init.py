"""tapegrad.nn.init against torch.nn.init: same numbers after manual_seed (bit for bit where
only the random stream and float arithmetic are involved), messages, gains and fans."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import both, same_error, warnings_of

torch = pytest.importorskip("torch")


def _run(m, fn, shape=(4, 5), dtype="float32", seed=0):
    m.manual_seed(seed)
    t = m.empty(*shape, dtype=getattr(m, dtype))
    res = fn(m, t)
    return res, t


CASES = {
    "uniform_": lambda m, t: m.nn.init.uniform_(t, -0.3, 0.7),
    "uniform_default": lambda m, t: m.nn.init.uniform_(t),
    "normal_": lambda m, t: m.nn.init.normal_(t, 1.0, 0.5),
    "constant_": lambda m, t: m.nn.init.constant_(t, 0.25),
    "ones_": lambda m, t: m.nn.init.ones_(t),
    "zeros_": lambda m, t: m.nn.init.zeros_(t),
    "eye_": lambda m, t: m.nn.init.eye_(t),
    "xavier_uniform_": lambda m, t: m.nn.init.xavier_uniform_(t, gain=2.0),
    "xavier_normal_": lambda m, t: m.nn.init.xavier_normal_(t),
    "kaiming_uniform_": lambda m, t: m.nn.init.kaiming_uniform_(t),
    "kaiming_uniform_relu_out": lambda m, t: m.nn.init.kaiming_uniform_(
        t, mode="fan_out", nonlinearity="relu"),
    "kaiming_uniform_a": lambda m, t: m.nn.init.kaiming_uniform_(t, a=5 ** 0.5),
    "kaiming_normal_": lambda m, t: m.nn.init.kaiming_normal_(t, a=0.1, mode="FAN_OUT"),
    "kaiming_normal_tanh": lambda m, t: m.nn.init.kaiming_normal_(t, nonlinearity="tanh"),
    "trunc_normal_": lambda m, t: m.nn.init.trunc_normal_(t),
    "trunc_normal_narrow": lambda m, t: m.nn.init.trunc_normal_(t, mean=0.5, std=2.0,
                                                                a=0.0, b=1.0),
    "trunc_normal_offset": lambda m, t: m.nn.init.trunc_normal_(t, mean=1.0, std=0.3,
                                                                a=0.9, b=3.0),
    "sparse_": lambda m, t: m.nn.init.sparse_(t, 0.5, std=0.1),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CASES))
def test_init_bit_identical(name, dtype):
    res_g, t_g = _run(tapegrad, CASES[name], dtype=dtype)
    res_t, t_t = _run(torch, CASES[name], dtype=dtype)
    assert res_g is t_g and res_t is t_t
    a, b = t_g.numpy(), t_t.numpy()
    assert a.dtype == b.dtype
    assert np.array_equal(a, b), f"{name}: max diff {np.abs(a - b).max()}"


@pytest.mark.parametrize("shape", [(3, 4, 3), (4, 2, 3, 3), (6, 2, 3, 1, 3)])
def test_conv_shaped_inits(shape):
    for name in ("kaiming_uniform_", "xavier_normal_", "kaiming_normal_"):
        a = _run(tapegrad, CASES[name], shape=shape)[1].numpy()
        b = _run(torch, CASES[name], shape=shape)[1].numpy()
        assert np.array_equal(a, b), name

    def dirac(m):
        t = m.empty(*shape)
        return m.nn.init.dirac_(t, groups=2 if shape[0] % 2 == 0 else 1)

    both(dirac)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 2, 3)])
def test_orthogonal(shape):
    g = _run(tapegrad, lambda m, t: m.nn.init.orthogonal_(t, gain=1.5), shape=shape,
             dtype="float64")[1].numpy()
    t = _run(torch, lambda m, t: m.nn.init.orthogonal_(t, gain=1.5), shape=shape,
             dtype="float64")[1].numpy()
    # the same normal sample is decomposed; QR (LAPACK in both) agrees to rounding
    np.testing.assert_allclose(g, t, atol=1e-12, rtol=1e-10)
    flat = g.reshape(shape[0], -1)
    small = min(flat.shape)
    gram = flat @ flat.T if flat.shape[0] == small else flat.T @ flat
    np.testing.assert_allclose(gram, 1.5 ** 2 * np.eye(small), atol=1e-12)


def test_init_on_parameter_is_untracked():
    def prog(m):
        p = m.nn.Parameter(m.empty(3, 2))
        m.manual_seed(0)
        r = m.nn.init.kaiming_uniform_(p)
        return r is p, p.is_leaf, p.grad_fn is None, p.requires_grad, p._version

    both(prog)


def test_calculate_gain():
    def prog(m):
        gain = m.nn.init.calculate_gain
        return [gain(n) for n in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                                  "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh",
                                  "relu", "leaky_relu", "selu")] + [
            gain("leaky_relu", 0.2), gain("leaky_relu", 3), gain("relu", 7)]

    both(prog, atol=0, rtol=0)
    same_error(lambda m: m.nn.init.calculate_gain("swish"))
    same_error(lambda m: m.nn.init.calculate_gain("leaky_relu", True))
    same_error(lambda m: m.nn.init.calculate_gain("leaky_relu", "0.1"))


def test_fans_and_errors():
    def prog(m):
        f = m.nn.init._calculate_fan_in_and_fan_out
        return [f(m.empty(3, 4)), f(m.empty(5, 2, 3, 3)), f(m.empty(2, 3, 0))]

    both(prog)
    same_error(lambda m: m.nn.init._calculate_fan_in_and_fan_out(m.empty(3)))
    same_error(lambda m: m.nn.init.kaiming_uniform_(m.empty(3)))
    same_error(lambda m: m.nn.init.kaiming_normal_(m.empty(3, 2), mode="fan_avg"))
    same_error(lambda m: m.nn.init.xavier_uniform_(m.empty(3)))
    same_error(lambda m: m.nn.init.eye_(m.empty(3)))
    same_error(lambda m: m.nn.init.dirac_(m.empty(3, 3)))
    same_error(lambda m: m.nn.init.dirac_(m.empty(3, 3, 3), groups=2))
    same_error(lambda m: m.nn.init.orthogonal_(m.empty(3)))
    same_error(lambda m: m.nn.init.sparse_(m.empty(3), 0.1))


def test_warnings():
    for fn in (lambda m: m.nn.init.kaiming_uniform_(m.empty(0, 3)),
               lambda m: m.nn.init.kaiming_normal_(m.empty(3, 0)),
               lambda m: m.nn.init.trunc_normal_(m.empty(3), mean=5.0, a=-1.0, b=1.0),
               lambda m: m.nn.init.uniform(m.empty(2)),
               lambda m: m.nn.init.xavier_normal(m.empty(2, 2))):
        assert warnings_of(lambda f=fn: f(tapegrad)) == warnings_of(lambda f=fn: f(torch))
        assert warnings_of(lambda f=fn: f(tapegrad))


def test_deprecated_aliases_names():
    for name in ("uniform", "normal", "constant", "eye", "dirac", "xavier_uniform",
                 "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"):
        assert getattr(tapegrad.nn.init, name).__name__ == getattr(torch.nn.init, name).__name__


def test_trunc_normal_within_bounds():
    tapegrad.manual_seed(3)
    t = tapegrad.nn.init.trunc_normal_(tapegrad.empty(2000), mean=0.0, std=1.0, a=-0.5, b=0.25)
    x = t.numpy()
    assert x.min() >= -0.5 and x.max() <= 0.25

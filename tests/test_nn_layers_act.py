"""Activation modules against PyTorch: repr, outputs, gradients (float64 and float32) and
float64 central differences; in-place variants modify their input as PyTorch's do."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import both, same_error, warnings_of
from _nn_layer_helpers import Spec, check_layer

torch = pytest.importorskip("torch")

R = np.random.default_rng(7)


def rn(*shape, scale=2.0):
    # keep values away from the kinks (0, +-lambd, thresholds) so differences are smooth
    x = R.standard_normal(shape) * scale
    return np.where(np.abs(np.abs(x) - 0.5) < 0.05, x + 0.2, x)


X = rn(2, 3, 4)

SPECS = [
    Spec(lambda m: m.nn.ReLU(), [X], id="ReLU"),
    Spec(lambda m: m.nn.ReLU6(), [X * 4], id="ReLU6"),
    Spec(lambda m: m.nn.LeakyReLU(0.2), [X], id="LeakyReLU"),
    Spec(lambda m: m.nn.ELU(alpha=0.5), [X], id="ELU"),
    Spec(lambda m: m.nn.SELU(), [X], id="SELU"),
    Spec(lambda m: m.nn.CELU(1.5), [X], id="CELU"),
    Spec(lambda m: m.nn.GELU(), [X], id="GELU"),
    Spec(lambda m: m.nn.GELU("tanh"), [X], id="GELU-tanh"),
    Spec(lambda m: m.nn.SiLU(), [X], id="SiLU"),
    Spec(lambda m: m.nn.Mish(), [X], id="Mish"),
    Spec(lambda m: m.nn.Softplus(beta=2, threshold=5), [X], id="Softplus"),
    Spec(lambda m: m.nn.Softsign(), [X], id="Softsign"),
    Spec(lambda m: m.nn.Hardtanh(-0.5, 0.7), [X], id="Hardtanh"),
    Spec(lambda m: m.nn.Hardsigmoid(), [X * 2], id="Hardsigmoid"),
    Spec(lambda m: m.nn.Hardswish(), [X * 2], id="Hardswish"),
    Spec(lambda m: m.nn.LogSigmoid(), [X], id="LogSigmoid"),
    Spec(lambda m: m.nn.Threshold(0.1, 20.0), [X], id="Threshold"),
    Spec(lambda m: m.nn.GLU(), [X], id="GLU"),
    Spec(lambda m: m.nn.GLU(dim=0), [X], id="GLU-0"),
    Spec(lambda m: m.nn.Softmin(dim=1), [X], id="Softmin"),
    Spec(lambda m: m.nn.Softmax(dim=-1), [X], id="Softmax"),
    Spec(lambda m: m.nn.LogSoftmax(dim=0), [X], id="LogSoftmax"),
    Spec(lambda m: m.nn.Softmax2d(), [rn(2, 3, 2, 2)], id="Softmax2d"),
    Spec(lambda m: m.nn.Tanh(), [X], id="Tanh"),
    Spec(lambda m: m.nn.Sigmoid(), [X], id="Sigmoid"),
    Spec(lambda m: m.nn.Tanhshrink(), [X], id="Tanhshrink"),
    Spec(lambda m: m.nn.Softshrink(0.3), [X], id="Softshrink"),
    Spec(lambda m: m.nn.Hardshrink(0.3), [X], id="Hardshrink"),
    Spec(lambda m: m.nn.PReLU(), [X], id="PReLU"),
    Spec(lambda m: m.nn.PReLU(3, init=0.1), [X], id="PReLU-3"),
    Spec(lambda m: m.nn.RReLU(), [X], train=False, id="RReLU-eval"),
    Spec(lambda m: m.nn.RReLU(0.1, 0.3), [X], seed=11, id="RReLU-train"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_layer(spec, dtype):
    check_layer(spec, dtype)


INPLACE = ["ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "SiLU", "Mish", "Hardtanh",
           "Hardsigmoid", "Hardswish", "RReLU"]


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_variants(name):
    def prog(m):
        mod = getattr(m.nn, name)(inplace=True)
        mod.eval()
        x = m.tensor([-2.0, -0.3, 0.4, 3.0, 7.0])
        y = mod(x)
        return repr(mod), x, y is x

    both(prog)


def test_threshold_inplace_and_softmax_dim_warning():
    def prog(m):
        t = m.nn.Threshold(0.5, -1.0, inplace=True)
        x = m.tensor([0.2, 0.9])
        return repr(t), t(x), x

    both(prog)

    def implicit(m):
        return m.nn.Softmax()(m.ones(2, 3))

    both(implicit)
    assert warnings_of(lambda: implicit(tapegrad)) == warnings_of(lambda: implicit(torch))


def test_errors_and_deprecations():
    same_error(lambda m: m.nn.Hardtanh(1.0, 0.5))
    same_error(lambda m: m.nn.Softmax2d()(m.ones(2, 3)))

    def dep(m):
        return repr(m.nn.Hardtanh(min_value=-2.0, max_value=2.0))

    both(dep)
    assert warnings_of(lambda: dep(tapegrad)) == warnings_of(lambda: dep(torch))


def test_reprs():
    makers = [lambda m, n=n: getattr(m.nn, n)() for n in (
        "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Softplus",
        "Softsign", "Hardtanh", "Hardsigmoid", "Hardswish", "LogSigmoid", "GLU", "Softmin",
        "Softmax", "LogSoftmax", "Softmax2d", "Tanh", "Sigmoid", "Tanhshrink", "Softshrink",
        "Hardshrink", "PReLU", "RReLU")]
    makers += [
        lambda m: m.nn.Threshold(0.1, 20, inplace=True),
        lambda m: m.nn.LeakyReLU(0.2, inplace=True),
        lambda m: m.nn.ELU(0.5, True),
        lambda m: m.nn.Hardtanh(-2, 3, True),
        lambda m: m.nn.RReLU(0.2, 0.4, inplace=True),
        lambda m: m.nn.GELU(approximate="tanh"),
        lambda m: m.nn.Softshrink(1),
        lambda m: m.nn.Softmax(dim=2),
        lambda m: m.nn.PReLU(num_parameters=4),
    ]
    for mk in makers:
        assert repr(mk(tapegrad)) == repr(mk(torch)).replace("torch.", "tapegrad.")

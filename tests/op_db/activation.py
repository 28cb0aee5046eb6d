"""Rows for the activation functions (ops/activation.py, ops/_activation_linear.py).

Samples keep away from each function's kinks so central differences apply; the values and
gradients exactly at the kinks, in-place use and argument errors are tested in
tests/test_activations.py. `_f(m, name)` is torch.nn.functional's function for torch and
tapegrad's activation op for tapegrad (the same object tapegrad.nn.functional exports).
"""

from __future__ import annotations

import numpy as np

from . import OpInfo, Sample, away_from, randn

_SHAPES = [(), (5,), (3, 4), (2, 3, 4)]


def _f(m, name: str):
    if m.__name__ == "tapegrad":
        from tapegrad.ops import activation

        return getattr(activation, name)
    return getattr(m.nn.functional, name)


def _samples(lo=-3.0, hi=3.0, avoid=(), margin=0.1, kwargs=None):
    """x in [lo, hi], at least margin from each point of avoid, over the usual shapes."""

    def make(rng):
        out = []
        for s in _SHAPES:
            x = away_from(rng, s, avoid, margin, lo, hi) if avoid else randn(rng, s, lo, hi)
            out.append(Sample((np.asarray(x),), dict(kwargs or {}), desc=str(s)))
        return out

    return make


def _glu_samples(rng):
    cases = [((4,), -1), ((3, 4), -1), ((4, 6), 0), ((2, 4, 3), 1), ((2, 3, 2), -1)]
    return [Sample((randn(rng, s, -3.0, 3.0), d), grad=(0,), desc=f"{s}-dim{d}")
            for s, d in cases]


def _softmin_samples(rng):
    cases = [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -1)]
    return [Sample((randn(rng, s), d), grad=(0,), desc=f"{s}-dim{d}") for s, d in cases]


def _prelu_samples(rng):
    cases = [((3, 4), (4,)), ((3, 4), (1,)), ((2, 3, 4), (3,)), ((5,), (1,)), ((), (1,)),
             ((2, 3), ()), ((2, 3, 2, 2), (3,))]
    out = []
    for xs, ws in cases:
        x = away_from(rng, xs, (0.0,), 0.1, -2.0, 2.0)
        w = rng.uniform(0.05, 0.5, size=ws)
        out.append(Sample((np.asarray(x), np.asarray(w)), desc=f"{xs}-w{ws}"))
    return out


def _row(name, samples, node, call=None, **kw):
    fn = call or (lambda m, x, **k: _f(m, name)(x, **k))
    return OpInfo(name, fn, samples, node, **kw)


ROWS = [
    _row("relu6", _samples(-2.0, 8.0, (0.0, 6.0)), "HardtanhBackward0"),
    _row("hardtanh", _samples(-2.0, 2.0, (-1.0, 1.0)), "HardtanhBackward0"),
    _row("hardtanh_bounds", _samples(-2.0, 2.0, (-0.5, 1.5)), "HardtanhBackward0",
         lambda m, x: _f(m, "hardtanh")(x, -0.5, 1.5)),
    _row("leaky_relu", _samples(avoid=(0.0,)), "LeakyReluBackward0"),
    _row("leaky_relu_slope", _samples(avoid=(0.0,)), "LeakyReluBackward0",
         lambda m, x: _f(m, "leaky_relu")(x, 0.2)),
    _row("rrelu_eval", _samples(avoid=(0.0,)), "RreluWithNoiseBackward0",
         lambda m, x: _f(m, "rrelu")(x, 0.1, 0.3)),
    _row("rrelu_torch", _samples(avoid=(0.0,)), "RreluWithNoiseBackward0",
         lambda m, x: m.rrelu(x)),
    _row("elu", _samples(avoid=(0.0,)), "EluBackward0"),
    _row("elu_alpha", _samples(avoid=(0.0,)), "EluBackward0",
         lambda m, x: _f(m, "elu")(x, alpha=0.5)),
    _row("selu", _samples(avoid=(0.0,)), "EluBackward0"),
    _row("selu_torch", _samples(avoid=(0.0,)), "EluBackward0", lambda m, x: m.selu(x)),
    _row("celu", _samples(avoid=(0.0,)), "CeluBackward0",
         lambda m, x: _f(m, "celu")(x, 2.0)),
    _row("celu_torch", _samples(avoid=(0.0,)), "CeluBackward0", lambda m, x: m.celu(x)),
    _row("gelu", _samples(-4.0, 4.0), "GeluBackward0"),
    _row("gelu_tanh", _samples(-4.0, 4.0), "GeluBackward0",
         lambda m, x: _f(m, "gelu")(x, approximate="tanh")),
    _row("silu", _samples(-5.0, 5.0), "SiluBackward0"),
    _row("mish", _samples(-5.0, 5.0), "MishBackward0"),
    _row("softplus", _samples(-5.0, 5.0), "SoftplusBackward0"),
    # beta x > threshold is linear (x); at beta x == threshold f jumps slightly: kept away
    _row("softplus_beta_threshold", _samples(-3.0, 3.0, (1.5,)), "SoftplusBackward0",
         lambda m, x: _f(m, "softplus")(x, 2.0, 3.0)),
    _row("softsign", _samples(avoid=(0.0,)), "DivBackward0"),
    _row("hardsigmoid", _samples(-5.0, 5.0, (-3.0, 3.0)), "HardsigmoidBackward0",
         twice=False,
         twice_reason="PyTorch gives hardsigmoid_backward no derivative (its double backward "
                      "raises); tapegrad's zero second derivative is tested in "
                      "test_activations.py"),
    _row("hardswish", _samples(-5.0, 5.0, (-3.0, 3.0)), "HardswishBackward0"),
    _row("logsigmoid", _samples(-10.0, 10.0), "LogSigmoidBackward0"),
    _row("threshold", _samples(avoid=(0.5,)), "ThresholdBackward0",
         lambda m, x: _f(m, "threshold")(x, 0.5, -2.0)),
    _row("threshold_torch", _samples(avoid=(0.5,)), "ThresholdBackward0",
         lambda m, x: m.threshold(x, 0.5, 7.0)),
    _row("tanhshrink", _samples(), "SubBackward0"),
    _row("softshrink", _samples(avoid=(-0.5, 0.5)), "SoftshrinkBackward0"),
    _row("softshrink_lambd", _samples(avoid=(-1.0, 1.0)), "SoftshrinkBackward0",
         lambda m, x: _f(m, "softshrink")(x, 1.0)),
    _row("hardshrink", _samples(avoid=(-0.5, 0.5)), "HardshrinkBackward0"),
    _row("hardshrink_method", _samples(avoid=(-1.0, 1.0)), "HardshrinkBackward0",
         lambda m, x: x.hardshrink(1.0)),
    _row("hardshrink_torch", _samples(avoid=(-0.5, 0.5)), "HardshrinkBackward0",
         lambda m, x: m.hardshrink(x)),
    OpInfo("glu", lambda m, x, d: _f(m, "glu")(x, d), _glu_samples, "GluBackward0"),
    OpInfo("softmin", lambda m, x, d: _f(m, "softmin")(x, d), _softmin_samples,
           "SoftmaxBackward0"),
    OpInfo("softmin_dtype", lambda m, x, d: _f(m, "softmin")(x, d, dtype=m.float64),
           _softmin_samples, "SoftmaxBackward0"),
    OpInfo("prelu", lambda m, x, w: _f(m, "prelu")(x, w), _prelu_samples,
           "PreluKernelBackward0"),
    OpInfo("prelu_method", lambda m, x, w: x.prelu(w), _prelu_samples, "PreluKernelBackward0"),
    OpInfo("prelu_torch", lambda m, x, w: m.prelu(x, w), _prelu_samples,
           "PreluKernelBackward0"),
]

"""Small pieces of PyTorch's API that ordinary programs use: Tensor.where, in-place
comparisons and logical_not_, and nn.functional's sigmoid / tanh."""

from __future__ import annotations

import pytest

import tapegrad

PROGRAMS = [
    "m.tensor([1., -2., 3.]).where(m.tensor([True, False, True]), m.tensor(0.))",
    "m.tensor([1., -2., 3.]).where(m.tensor([True, False, True]), 5.)",
    "m.tensor([1., 2., 3.]).eq_(m.tensor([1., 0., 3.]))",
    "m.tensor([1., 2., 3.]).lt_(2)",
    "m.tensor([1, 2, 3]).ge_(2)",
    "m.tensor([1., 2., 3.]).ne_(2.)",
    "m.tensor([True, False]).logical_not_()",
    "m.tensor([1., 0.]).logical_not_()",
    "m.tensor([5, 2]).bitwise_not_()",
    "m.nn.functional.sigmoid(m.tensor([0., 1.]))",
    "m.nn.functional.tanh(m.tensor([0., 1.]))",
]


def _run(src, m):
    try:
        return repr(eval(src, {"m": m})).replace("torch.", "tapegrad.")
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}".replace("torch.", "tapegrad.")


@pytest.mark.parametrize("src", PROGRAMS)
def test_like_torch(src):
    torch = pytest.importorskip("torch")
    assert _run(src, tapegrad) == _run(src, torch)


def test_where_method_gradients():
    x = tapegrad.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x.where(x > 0, 0.0)
    assert y.grad_fn.name() == "WhereBackward0"
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 1.0]


def test_inplace_comparison_bumps_version():
    x = tapegrad.tensor([1.0, 2.0])
    v = x._version
    x.gt_(1.5)
    assert x.tolist() == [0.0, 1.0] and x._version == v + 1

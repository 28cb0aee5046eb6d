"""Operands that do not broadcast raise PyTorch's message, whatever the binary op."""

from __future__ import annotations

import pytest

import tapegrad

OPS = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / b,
    "pow": lambda m, a, b: a ** b,
    "eq": lambda m, a, b: a == b,
    "lt": lambda m, a, b: a < b,
    "maximum": lambda m, a, b: m.maximum(a, b),
    "where": lambda m, a, b: m.where(a > 0, a, b),
    "atan2": lambda m, a, b: m.atan2(a, b),
}
SHAPES = [((3,), (4,)), ((2, 3), (3, 2)), ((5, 1, 3), (2, 4))]


def _message(m, name, sa, sb):
    with pytest.raises(RuntimeError) as info:
        OPS[name](m, m.ones(*sa), m.ones(*sb))
    return str(info.value)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_message_matches_torch(name, shapes):
    torch = pytest.importorskip("torch")
    assert _message(tapegrad, name, *shapes) == _message(torch, name, *shapes)


def test_message_text():
    msg = _message(tapegrad, "add", (3,), (4,))
    assert msg == ("The size of tensor a (3) must match the size of tensor b (4) at "
                   "non-singleton dimension 0")

"""In-place ops outside the graph, compared with PyTorch: values, dtype rules and messages of
the `op_` methods, the augmented operators and `x[idx] = v`; version counters; the optimizer
update under no_grad; the refusals (leaf requiring grad, views of one, views made under
no_grad); the saved-tensor check at backward; and that in-place ops on graph tensors are
recorded."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import tapegrad

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

LEAF_MSG = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_LEAF_MSG = "a view of a leaf Variable that requires grad is being used in an in-place " \
                "operation."


def _norm(s: str) -> str:
    s = s.replace("torch.", "tapegrad.")
    s = re.sub(r" \(Triggered internally at [^)]*\.\)", "", s)
    return re.sub(r"0x[0-9a-f]+", "0x", s)


# PyTorch warns about dropping imaginary parts once per process (TORCH_WARN_ONCE), so only
# to the first test that triggers it; tapegrad warns every time (see test_complex_to_real_warns).
_ONCE = ("Casting complex values to real discards the imaginary part",)


def outcome(src: str, m):
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        try:
            r = eval(src, {"m": m, "np": np})
            out = ("ok", _norm(repr(r)), type(r).__name__)
        except Exception as e:  # noqa: BLE001
            out = ("err", type(e).__name__, _norm(str(e)))
    return out, [_norm(str(w.message)) for w in ws if not str(w.message).startswith(_ONCE)]


def same(src: str) -> None:
    a, b = outcome(src, tapegrad), outcome(src, torch)
    assert a == b, f"{src}\n tapegrad: {a}\n torch:    {b}"


INPLACE = """
m.zeros(2, dtype=m.uint8).fill_(300)
m.zeros(2, dtype=m.uint8).fill_(-1)
m.zeros(2, dtype=m.int64).fill_(1.7)
m.zeros(2).fill_(1j)
m.zeros(2).fill_(m.tensor(2.5))
m.zeros(2).fill_(m.tensor([2.5]))
m.zeros(2).fill_(m.tensor([2.5, 1]))
m.zeros(2, dtype=m.int64).fill_(m.tensor(2.7))
m.zeros(2).fill_(True)
m.zeros(2).fill_("a")
m.zeros(2).fill_(None)
m.zeros(2).fill_(1e40)
m.zeros(3, dtype=m.float16).fill_(70000.0)
m.zeros(1, dtype=m.float16).fill_(70000.0)
m.zeros(2, dtype=m.bool).fill_(5)
m.zeros(3).copy_(m.ones(4))
m.zeros(3).copy_(m.ones(2, 3))
m.zeros(2, 3).copy_(m.ones(3))
m.zeros(2, 3).copy_(m.ones(2, 1))
m.zeros(3).copy_(m.tensor([1+2j, 3, 4]))
m.zeros(3, dtype=m.int64).copy_(m.tensor([1.7, -2.7, 3]))
m.zeros(3).copy_(np.ones(3))
m.zeros(3).copy_([1, 2, 3])
m.zeros(3, dtype=m.complex64).copy_(m.tensor([1., 2, 3]))
m.zeros(2).zero_()
m.ones(2, dtype=m.int8).zero_()
m.tensor([1, 2]).add_(1.5)
m.tensor([1, 2]).mul_(2.5)
m.tensor([1, 2]).div_(2)
m.tensor([1, 2]).div_(2, rounding_mode="floor")
m.tensor([1., 2]).add_(m.tensor([1, 2]))
m.tensor([1, 2]).add_(m.tensor([1., 2]))
m.tensor([1, 2]).add_(m.tensor(1.5))
m.tensor([1, 2], dtype=m.int32).add_(m.tensor(10**10))
m.tensor([250], dtype=m.uint8).add_(10)
m.tensor([True, False]).add_(True)
m.tensor([True, False]).add_(1)
m.tensor([True, False]).mul_(m.tensor([True, True]))
m.tensor([1., 2]).add_(1j)
m.tensor([1., 2]).add_(m.tensor([1, 2]), alpha=2)
m.tensor([1, 2]).add_(m.tensor([1, 2]), alpha=2.5)
m.tensor([1., 2]).add_(m.ones(2, 2))
m.tensor([1., 2]).add_(m.ones(3))
m.ones(2, 2).add_(m.tensor([1., 2]))
m.ones(2).expand(3, 2).add_(1)
m.tensor([1., -2]).clamp_(min=0)
m.tensor([1, -2]).clamp_(min=0.5)
m.tensor([1., -2]).clamp_(0, 0.5)
m.tensor([1., -2]).clip_(max=0)
m.tensor([1., 4]).sqrt_()
m.tensor([1, 4]).sqrt_()
m.tensor([1, 4]).neg_()
m.tensor([1., 4]).pow_(2)
m.tensor([1, 4]).pow_(0.5)
m.tensor([1., 4]).exp_()
m.tensor([1., 4]).log_()
m.tensor([-1., 4]).abs_()
m.tensor([-1., 4]).sign_()
m.tensor([-1., 4]).relu_()
m.tensor([-1., 4]).sigmoid_()
m.tensor([-1., 4]).tanh_()
m.tensor([2., 4]).reciprocal_()
m.tensor([3, 5]).remainder_(2)
m.tensor([3, 5]).floor_divide_(2)
m.tensor([1., 5]).clamp_min_(2)
m.tensor([1., 5]).clamp_max_(2)
m.tensor([True]).neg_()
m.tensor([1., 2]).sub_(2, alpha=3)
m.tensor([1., 2]).subtract_(1)
m.tensor([1., 2]).multiply_(3)
m.tensor([1., 2]).true_divide_(2)
m.tensor([True, True]).logical_and_(m.tensor([True, False]))
m.tensor([3, 5]).bitwise_and_(1)
(lambda x: (x.__iadd__(1), x))(m.tensor([1, 2]))
(lambda x: (x.__iadd__(1.5), x))(m.tensor([1, 2]))
(lambda x: (x.__imul__(1.5), x))(m.tensor([1, 2]))
(lambda x: (x.__itruediv__(2), x))(m.tensor([1, 2]))
(lambda x: (x.__ifloordiv__(2), x))(m.tensor([3, 5]))
(lambda x: (x.__imod__(2), x))(m.tensor([3, 5]))
(lambda x: (x.__ipow__(2), x))(m.tensor([3, 5]))
(lambda x: (x.__iand__(m.tensor([True, False])), x))(m.tensor([True, True]))
(lambda x: (x.__ior__(1), x))(m.tensor([3, 5]))
(lambda x: (x.__ixor__(1), x))(m.tensor([3, 5]))
(lambda x: (x.__isub__(1), x))(m.tensor([3., 5]))
(lambda x: (x.__setitem__(0, 5), x))(m.tensor([1, 2]))
(lambda x: (x.__setitem__(0, 5.7), x))(m.tensor([1, 2]))
(lambda x: (x.__setitem__(0, 1+2j), x))(m.tensor([1., 2]))
(lambda x: (x.__setitem__(0, 300), x))(m.tensor([1, 2], dtype=m.uint8))
(lambda x: (x.__setitem__(0, -1), x))(m.tensor([1, 2], dtype=m.uint8))
(lambda x: (x.__setitem__(0, 70000.), x))(m.tensor([1, 2], dtype=m.float16))
(lambda x: (x.__setitem__(slice(None), m.tensor([5., 6])), x))(m.tensor([1, 2]))
(lambda x: (x.__setitem__(m.tensor([True, False]), 7), x))(m.tensor([1, 2]))
(lambda x: (x.__setitem__(m.tensor([1]), m.tensor([9])), x))(m.tensor([1, 2]))
(lambda x: (x.__setitem__(m.tensor([0, 0]), m.tensor([1., 2])), x))(m.zeros(2))
(lambda x: (x.__setitem__((0, 1), 9), x))(m.zeros(2, 2))
(lambda x: (x.__setitem__(0, m.tensor([1., 2, 3])), x))(m.zeros(2, 2))
(lambda x: (x.__setitem__(0, m.tensor([[1., 2]])), x))(m.zeros(2, 2))
(lambda x: (x.__setitem__(0, m.ones(1, 1, 2)), x))(m.zeros(2, 2))
(lambda x: (x.__setitem__(0, m.ones(2, 1, 2)), x))(m.zeros(2, 2))
(lambda x: (x.__setitem__((slice(None), 0), m.ones(3)), x))(m.zeros(2, 3))
(lambda x: (x.__setitem__(0, m.tensor(2.7)), x))(m.zeros(2, dtype=m.int64))
(lambda x: (x.__setitem__(0, m.tensor(1+2j)), x))(m.zeros(2))
(lambda x: (x.__setitem__(0, [7, 8]), x))(m.zeros(2, 2))
(lambda x: (x.__setitem__(0, np.array([7, 8])), x))(m.zeros(2, 2))
(lambda x: (x.__setitem__(Ellipsis, 3), x))(m.zeros(2))
(lambda x: (x.__setitem__(None, 3), x))(m.zeros(2))
(lambda x: (x.__setitem__(5, 3), x))(m.zeros(2))
(lambda x: (x.__setitem__(0, 3), x))(m.zeros(()))
(lambda x: (x.__setitem__(0, "a"), x))(m.zeros(2))
(lambda x: (x.__setitem__(0, None), x))(m.zeros(2))
(lambda x: (x.__setitem__(0, 2.), x._version))(m.zeros(2))
(lambda x: x.__setitem__(0, 2.))(m.zeros(2, requires_grad=True))
(lambda x: x.__setitem__(slice(None), 2.))(m.zeros(2, requires_grad=True))
(lambda x: x.__setitem__(Ellipsis, 2.))(m.zeros(2, requires_grad=True))
(lambda x: x.__setitem__(None, 2.))(m.zeros(2, requires_grad=True))
(lambda x: x.__setitem__([0], 2.))(m.zeros(2, requires_grad=True))
(lambda x: x.__setitem__(m.tensor([True, False]), 2.))(m.zeros(2, requires_grad=True))
(lambda x: x[0].add_(1))(m.zeros(2, requires_grad=True))
(lambda x: x.view(2).mul_(2))(m.zeros(2, requires_grad=True))
(lambda x: x.t().mul_(2))(m.zeros(2, 2, requires_grad=True))
(lambda x: x.unsqueeze(0).zero_())(m.zeros(2, requires_grad=True))
(lambda x: x.add_(1))(m.zeros(2, requires_grad=True))
(lambda x: x.zero_())(m.zeros(2, requires_grad=True))
(lambda x: x.fill_(1))(m.zeros(2, requires_grad=True))
(lambda x: x.copy_(m.ones(2)))(m.zeros(2, requires_grad=True))
(lambda x: x.t_())(m.zeros(2, 2, requires_grad=True))
(lambda x: x.uniform_())(m.zeros(2, requires_grad=True))
(lambda x: x.normal_())(m.zeros(2, requires_grad=True))
(lambda x: x.__iadd__(1))(m.zeros(2, requires_grad=True))
(lambda x: x.detach().add_(1))(m.zeros(2, requires_grad=True))
(lambda x: x.data.add_(1))(m.zeros(2, requires_grad=True))
(lambda x: (x.t_(), x.shape, x._version))(m.zeros(2, 3))
(lambda x: (x.transpose_(0, 1), x.shape, x.is_contiguous()))(m.zeros(2, 3))
(lambda x: (x.unsqueeze_(0), x.shape))(m.zeros(2, 3))
(lambda x: (x.squeeze_(), x.shape))(m.zeros(1, 3))
"""


@needs_torch
@pytest.mark.parametrize("src", [s for s in INPLACE.strip().splitlines()])
def test_inplace_like_torch(src):
    same(src)


def test_complex_to_real_warns():
    for f in (lambda: tapegrad.zeros(2).copy_(tapegrad.tensor([1j, 2])),
              lambda: tapegrad.zeros(2).__setitem__(0, tapegrad.tensor(1 + 2j))):
        with pytest.warns(UserWarning, match="Casting complex values to real discards the "
                                             "imaginary part"):
            f()


def test_int_tensor_plus_float_refused():
    x = tapegrad.tensor([1, 2])
    with pytest.raises(RuntimeError, match="^result type Float can't be cast to the desired "
                                           "output type Long$"):
        x += 1.5
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired "
                                           "output type long int"):
        x.clamp_(min=0.5)
    assert x.tolist() == [1, 2] and x._version == 0


# --- versions -------------------------------------------------------------------------------------
def _versions(m):
    out = []
    y = m.ones(3)
    y.add_(1)
    out.append(y._version)
    y += 1
    out.append(y._version)
    y.zero_()
    y.fill_(2)
    out.append(y._version)
    v = y.view(3)
    v.mul_(2)
    out.append((y._version, v._version, y.tolist()))
    y.copy_(m.zeros(3))
    y[0] = 1
    y[m.tensor([1])] = 2
    out.append((y._version, v._version))
    z = m.ones(2)
    w = z * 2  # an out-of-place op does not bump
    out.append((z._version, w._version))
    with m.no_grad():
        z.uniform_()
        z.normal_()
    out.append(z._version)
    x = m.ones(3, requires_grad=True)
    d = x.detach()
    d.add_(1)
    out.append((x._version, d._version))
    x.grad = m.zeros(3)
    x.grad.add_(1)
    out.append((x.grad._version, x._version))
    return out


@needs_torch
def test_version_counters_like_torch():
    assert _versions(tapegrad) == _versions(torch)


# --- updates under no_grad ------------------------------------------------------------------------
def _sgd(m):
    m.manual_seed(0)
    w = m.randn(3, 2, requires_grad=True)
    b = m.zeros(2, requires_grad=True)
    x = m.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    target = m.tensor([[1.0, 0.0], [0.0, 1.0]])
    losses = []
    for _ in range(5):
        loss = ((x @ w + b - target) ** 2).mean()
        loss.backward()
        with m.no_grad():
            w -= 0.1 * w.grad
            b.sub_(b.grad, alpha=0.1)
            w.grad.zero_()
            b.grad = None
        losses.append(loss.item())
    return losses, w.detach().numpy().copy(), w._version, w.is_leaf, w.requires_grad


@needs_torch
def test_optimizer_update_like_torch():
    a, b = _sgd(tapegrad), _sgd(torch)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)
    assert a[2:] == b[2:]


def test_optimizer_update_without_torch():
    w = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with tapegrad.no_grad():
        w -= 0.5 * w.grad
    assert w.tolist() == [0.0, 0.0] and w.is_leaf and w.requires_grad and w.grad_fn is None
    with pytest.raises(RuntimeError, match=f"^{LEAF_MSG}$"):
        w -= 1.0
    with tapegrad.no_grad():
        w[0] = 3.0
        w.data.mul_(2)
    assert w.tolist() == [6.0, 0.0]


def test_grad_is_modifiable_in_place():
    x = tapegrad.ones(2, requires_grad=True)
    (x * 3).sum().backward()
    x.grad += 1
    x.grad.mul_(2)
    x.grad[0] = 0
    assert x.grad.tolist() == [0.0, 8.0]
    x.grad.zero_()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


# --- refusals ------------------------------------------------------------------------------
def test_leaf_and_view_of_leaf_refused():
    x = tapegrad.zeros(2, 2, requires_grad=True)
    for f in (lambda: x.add_(1), lambda: x.zero_(), lambda: x.fill_(2), lambda: x.t_(),
              lambda: x.copy_(tapegrad.ones(2, 2)), lambda: x.__setitem__([0], 1.0)):
        with pytest.raises(RuntimeError, match=f"^{LEAF_MSG}$"):
            f()
    for f in (lambda: x[0].add_(1), lambda: x.view(4).mul_(2), lambda: x.t().zero_(),
              lambda: x.__setitem__(0, 1.0)):
        with pytest.raises(RuntimeError, match=f"^{re.escape(VIEW_LEAF_MSG)}$"):
            f()
    assert x.tolist() == [[0.0, 0.0], [0.0, 0.0]] and x._version == 0


def test_view_made_under_no_grad_refused_with_grad_on():
    x = tapegrad.ones(2, requires_grad=True)
    with tapegrad.no_grad():
        v = x.view(2)
        v.add_(1)  # both under no_grad: fine
    assert x.tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="^A view was created in no_grad mode and is being "
                                           "modified inplace with grad mode enabled."):
        v.add_(1)


@needs_torch
def test_differentiable_inplace_is_recorded():
    """In-place ops on graph tensors, and writes of values that require grad, are recorded
    with PyTorch's nodes and gradients (more in tests/test_inplace_graph.py)."""
    cases = [
        lambda m, x, y: y.add_(1), lambda m, x, y: y.mul_(2), lambda m, x, y: y.zero_(),
        lambda m, x, y: y.fill_(0), lambda m, x, y: y.clamp_(min=2.5),
        lambda m, x, y: y.exp_(), lambda m, x, y: y.__setitem__(0, 5.0),
        lambda m, x, y: y.copy_(m.zeros(3)), lambda m, x, y: y.__iadd__(1),
        lambda m, x, y: m.zeros(3).add_(x), lambda m, x, y: m.zeros(3).copy_(x),
        lambda m, x, y: _set0(m.zeros(3), x[0]), lambda m, x, y: y[0].add_(1),
    ]
    for f in cases:
        res = []
        for m in (tapegrad, torch):
            x = m.tensor([1.0, 2.0, 3.0], dtype=m.float64, requires_grad=True)
            y = x * 2
            out = f(m, x, y)
            out = y if out is None or not out.requires_grad else out
            (g,) = m.autograd.grad((out * m.tensor([1.0, 2.0, 3.0], dtype=m.float64)[:out.numel()]
                                    .reshape(out.shape)).sum(), x, allow_unused=True)
            res.append((type(out.grad_fn).__name__, out.tolist(),
                        None if g is None else g.tolist()))
        assert res[0] == res[1]


def _set0(t, v):
    t[0] = v
    return t


def test_expanded_tensor_refuses_writes():
    e = tapegrad.ones(2).expand(3, 2)
    with pytest.raises(RuntimeError, match="unsupported operation: more than one element of the "
                                           "written-to tensor refers to a single memory location"):
        e.add_(1)


# --- the saved-tensor check -------------------------------------------------------------------
def _saved_programs(m):
    out = []

    def run(f):
        try:
            f()
            out.append("no error")
        except RuntimeError as e:
            out.append(_norm(str(e)))

    def sigmoid_output():
        a = m.ones(3, requires_grad=True)
        b = a.sigmoid()
        with m.no_grad():
            b.mul_(2)
        b.sum().backward()

    def leaf_input():
        x = m.ones(3, requires_grad=True)
        y = x * x
        with m.no_grad():
            x.add_(1)
        y.sum().backward()

    def through_detach():
        x = m.ones(3, requires_grad=True)
        y = x * x
        x.detach().add_(1)
        y.sum().backward()

    def view_of_nonleaf():
        x = m.ones(3, 2, dtype=m.float64, requires_grad=True)
        a = x * 1
        v = a.t()
        y = v * v
        with m.no_grad():
            a.add_(1)
        y.sum().backward()

    def select_view():
        x = m.ones(2, 2, requires_grad=True)
        a = x * 1
        y = a[0] * a[0]
        with m.no_grad():
            a[1] = 5
        y.sum().backward()

    def exp_output():
        x = m.ones(3, requires_grad=True)
        a = x.exp()
        with m.no_grad():
            a.zero_()
        a.sum().backward()

    def through_data():  # silently wrong, as in PyTorch
        x = m.ones(3, requires_grad=True)
        y = x * x
        x.data.add_(1)
        y.sum().backward()
        out.append(x.grad.tolist())

    for f in (sigmoid_output, leaf_input, through_detach, view_of_nonleaf, select_view,
              exp_output, through_data):
        run(f)
    return out


@needs_torch
def test_modified_saved_tensor_message_like_torch():
    assert _saved_programs(tapegrad) == _saved_programs(torch)


def test_modified_saved_tensor_message_without_torch():
    a = tapegrad.ones(3, requires_grad=True)
    b = a.sigmoid()
    with tapegrad.no_grad():
        b.mul_(2)
    msg = ("one of the variables needed for gradient computation has been modified by an "
           "inplace operation: [tapegrad.FloatTensor [3]], which is output 0 of Sigmoid, is at "
           "version 1; expected version 0 instead. Hint: enable anomaly detection to find the "
           "operation that failed to compute its gradient, with "
           "tapegrad.autograd.set_detect_anomaly(True, check_nan=False).")
    with pytest.raises(RuntimeError, match=f"^{re.escape(msg)}$"):
        b.sum().backward()


# --- in-place samplers ---------------------------------------------------------------------------
def test_inplace_samplers():
    tapegrad.manual_seed(0)
    x = tapegrad.empty(1000).uniform_(-2, 3)
    assert -2 <= x.min().item() and x.max().item() < 3 and x._version == 1
    x.normal_(5, 0.1)
    assert abs(x.mean().item() - 5) < 0.05 and x._version == 2
    b = tapegrad.zeros(1000).bernoulli_(0.3)
    assert set(b.tolist()) <= {0.0, 1.0} and abs(b.mean().item() - 0.3) < 0.05
    r = tapegrad.empty(100, dtype=tapegrad.int64).random_(3, 7)
    assert r.min().item() >= 3 and r.max().item() <= 6
    with pytest.raises(NotImplementedError, match="\"normal_kernel_cpu\" not implemented for "
                                                  "'Long'"):
        tapegrad.zeros(2, dtype=tapegrad.int64).normal_()

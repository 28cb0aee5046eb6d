"""x[index], select and narrow against PyTorch: values, shapes, grad_fn names, views versus
copies, gradients (repeated indices accumulate), second derivatives, error messages and the
deprecation warnings. The value and gradient checks of the op table (tests/op_db/shape.py)
run in tests/test_ops.py; this file covers what the table cannot express.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg
from _helpers import both

try:
    import torch
except ImportError:  # pragma: no cover - the torch comparisons skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

_X = np.random.default_rng(0).standard_normal((3, 4, 5))

# index expressions over x of shape (3, 4, 5) (m is the module: tapegrad or torch)
CASES = r"""
x[0]
x[1:]
x[None]
x[[0,1]]
x[x>0]
x[0, 1:]
x[:, 0]
x[..., 0]
x[0][1]
x[:]
x[...]
x[()]
x[::2]
x[:, None]
x[0, None]
x[None, 0]
x[m.tensor(1)]
x[:, [0,1]]
x[0, [0,1]]
x[[0,1], :, [1,2]]
x[1:, [0,1]]
x[None, [0,1]]
x[True]
x[False]
x[[True,False,True]]
x[0:0]
x[10:]
x[:,:,:,None]
x[..., None]
x[...,...]
x[m.tensor(1), 1:]
x[m.ones(3,4,dtype=m.bool)]
x[[0,1],[0,1]]
x[(0,1)]
x[m.tensor([1,0],dtype=m.int32)]
x[None,None]
x[0,0,0]
x[1:,2:]
x[0,:,None]
x[1:2,None]
x[[0,1], None]
x[np.int64(1)]
x[np.array([0,1])]
x[:,:]
x[1:,:]
x[0,:]
x[0:3]
x[0:100]
x[[0,1],[0,1],[1,1]]
x[None,1:]
x[0,1:,None]
x[...,1:]
x[[0,1],0]
x[[0,1],1:]
x[:,[0,1],[0,1]]
x[[0,1],None,[0,1]]
x[[0,1],0,[0,1]]
x[0,:,[0,1]]
x[[0],:,0]
x[m.tensor(0),[0,1]]
x[m.tensor(0),:, m.tensor(1)]
x[True, 0]
x[0, True]
x[m.tensor(True)]
x[:, m.tensor([True,False,True,False])]
x[m.tensor([[True,False,True,False]]*3), 0]
x[[0,0,1]]
x[np.array(1)]
x[np.array([True,False,True])]
x[(1,)]
x[[1]]
x[[]]
x[m.tensor([],dtype=m.long)]
x[m.tensor([[0,1],[2,0]])]
x[:, m.tensor([[0,1],[2,0]])]
x[m.tensor([[0],[1]]), m.tensor([0,1,2])]
x[-1]
x[:, -1]
x[-3:-1]
x[-100:2]
x[2:1]
x[...,0,...]
x[[0.0,1.0]]
x[0,0,0,None]
x[...,0,0,0,...]
x[None,None,None,None,None,None,None,None,None,None]
x[0:100,1:]
x[-3:,1:]
x[::1, 1:]
x[:, [0,1], 0]
x[:, [[0,1]], [[0],[1]]]
x[[1,True]]
x[(True,)]
x[False, 0]
x[None, ..., None]
x[0,...,0]
x[0,0,0,...]
x[..., [0,1], ...]
x[1:, m.tensor([[True,False,True,False,True]]*4)]
x[0:3,:]
x[-100:, :]
x[0:3:1,:]
x[None:None:None, :]
x[0:-1,:]
x[:, 0:4]
x[False:3,:]
x[m.tensor(0):m.tensor(3), :]
x[0, 0, 0:100]
x[:, 1, ...]
x[:5:2]
x[1:3:5]
x[[0,1], ..., [0,1]]
x[None, [0], [0]]
x[None, m.ones(3,dtype=m.bool)]
x[np.array([0.,1.])]
x[np.array(True)]
x[(np.array([0,1]),)]
x[[m.tensor(0), m.tensor(1)]]
x[(m.tensor([0,1]),)]
x[[0,1],[0]]
x[[[0,1],[1,2]]]
x[[[0,1],[1,2],[0,0]]]
x[[0, slice(None)]]
x[[None]]
x[[...]]
x[range(2)]
x[[0,1,2]]
x[m.tensor(1,dtype=m.int32)]
x[m.tensor(1,dtype=m.uint8)]
x[m.tensor([1,0,1],dtype=m.uint8)]
x[m.tensor([True,False,True]), m.tensor([True,False,True,False])]
x[m.zeros(3,4,5,dtype=m.bool)]
x[..., m.tensor([True,False,True,False,True])]
x[[1.5]]
x[[-1]]
x[np.array([[0,1],[1,2]])]
x[[[0,0],[1,1]], [[0,1],[0,1]]]
x[[0,0,2], :, [1,1,1]]
x[1:, [0,0,1], 2:]
x[[[0,1]], :, [[1],[2]]]
x[m.tensor([[0,0],[1,1]]), 1:3, m.tensor([4,4])]
x[x[:,:,0]>0]
x[x[:,0,0]>0, 1]
x.select(1, -1)
x.select(-1, 2)
x.narrow(1, 1, 2)
x.narrow(-1, -2, 2)
m.select(x, 0, 0)
m.narrow(x, 0, m.tensor(1), 2)
""".strip().splitlines()

ERRORS = r"""
x[::-1]
x[::0]
x[5]
x[-4]
x[[5]]
x[0,0,0,0]
x[1.5]
x[m.tensor([1.0])]
x[m.ones(2,dtype=m.bool)]
x[-10]
x[:, 7]
x[:, [7]]
x[[-4]]
x[:,:,[9]]
x[[0,1],[9,0]]
x[m.tensor([0,1]), m.tensor([0,1,2])]
x[0.0:1]
x[m.tensor(0.0)]
x[m.tensor([[True]])]
x[None,0,0,0,0]
x[0, 9]
x[0,:,9]
x[:, m.ones(3,dtype=m.bool)]
x[:, m.ones(4,4,dtype=m.bool)]
x[m.tensor([0],dtype=m.int8)]
x[m.tensor(5)]
x[[0,1],[0,1],[9,-9]]
x[[-4,9]]
x[[0,9],[-9,0]]
x[[True]]
x[None,5]
x[None,:,9]
x[...,9]
x[..., -9]
x[0, m.ones(3,dtype=m.bool)]
x[1:, m.ones(3,4,dtype=m.bool)]
x[np.float64(1)]
x[np.bool_(True)]
x[:,:,:,:]
x[0.5:]
x[1j]
x[object()]
x.select(0, 5)
x.select(3, 0)
x.select(-1, -6)
x.narrow(0, 2, 2)
x.narrow(0, 4, 0)
x.narrow(0, 1, -1)
m.tensor(1.).select(0, 0)
m.tensor(1.)[0]
m.tensor(1.)[:]
m.tensor(1.)[(0,)]
m.tensor(1.)[m.tensor(0)]
""".strip().splitlines()


def _run(m, expr, requires_grad=True):
    x = m.tensor(_X, requires_grad=requires_grad)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            y = eval(expr, {"m": m, "x": x, "np": np})  # noqa: S307 - fixed test expressions
        except Exception as e:  # noqa: BLE001 - compared with torch's
            return x, e, [str(i.message) for i in w]
    return x, y, [str(i.message).split(" (Triggered internally")[0] for i in w]


def _same_warnings(ours, theirs):
    assert [s.replace("torch.", "tapegrad.") for s in theirs] == ours


@needs_torch
@pytest.mark.filterwarnings("ignore:indexing with dtype torch.uint8")
@pytest.mark.parametrize("expr", CASES)
def test_getitem_like_torch(expr):
    xa, ya, wa = _run(tg, expr)
    xb, yb, wb = _run(torch, expr)
    assert not isinstance(yb, Exception), yb
    assert not isinstance(ya, Exception), f"{type(ya).__name__}: {ya}"
    assert tuple(ya.shape) == tuple(yb.shape)
    assert str(ya.dtype).split(".")[-1] == str(yb.dtype).split(".")[-1]
    np.testing.assert_array_equal(ya.detach().numpy(), yb.detach().numpy())
    assert (ya.grad_fn.name() if ya.grad_fn else None) == \
        (yb.grad_fn.name() if yb.grad_fn else None)
    # a view of x exactly when torch's result is one
    assert (ya._base is not None) == (yb._base is not None)
    _same_warnings(wa, wb)
    if yb.requires_grad:
        g = np.random.default_rng(1).standard_normal(tuple(yb.shape))
        ya.backward(tg.tensor(g))
        yb.backward(torch.tensor(g))
        np.testing.assert_allclose(xa.grad.numpy(), xb.grad.numpy(), rtol=1e-12, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("expr", CASES)
def test_getitem_no_grad_like_torch(expr):
    _, ya, _ = _run(tg, expr, requires_grad=False)
    _, yb, _ = _run(torch, expr, requires_grad=False)
    assert ya.grad_fn is None and not ya.requires_grad
    np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    assert (ya._base is not None) == (yb._base is not None)


@needs_torch
@pytest.mark.parametrize("expr", ERRORS)
def test_getitem_errors_like_torch(expr):
    _, ya, wa = _run(tg, expr)
    _, yb, wb = _run(torch, expr)
    assert isinstance(yb, Exception)
    assert isinstance(ya, Exception), f"no error, got {ya!r}"
    assert type(ya) is type(yb)
    assert str(ya) == str(yb).replace("torch.", "tapegrad.")


# --- double backward -----------------------------------------------------------------------
GRADGRAD = [
    "x[0]", "x[1:, ::2]", "x[None, 0]", "x[0, 1:, None]", "x[...]", "x[[0, 0, 2]]",
    "x[M]", "x[[0, 1], :, [1, 1]]", "x[1:, [0, 0, 1]]", "x[True]", "x.narrow(2, 1, 3)",
]


def _second_order(m, expr, v, w):
    x = m.tensor(_X, requires_grad=True)
    y = eval(expr, {"m": m, "x": x, "M": _X > 0})  # noqa: S307 - fixed test expressions
    # y * y makes the first derivative depend on x, so the second one is not zero
    (g,) = m.autograd.grad((y * y).sum() + (y * m.tensor(v)).sum(), x, create_graph=True)
    (gg,) = m.autograd.grad((g * m.tensor(w)).sum(), x)
    return g.detach().numpy(), gg.numpy(), (g.grad_fn.name() if g.grad_fn else None)


@pytest.mark.parametrize("expr", GRADGRAD)
def test_getitem_double_backward(expr):
    rng = np.random.default_rng(2)
    shape = tuple(eval(expr, {"x": tg.tensor(_X), "M": _X > 0}).shape)  # noqa: S307
    v = rng.standard_normal(shape)
    w = rng.standard_normal(_X.shape)
    g, gg, _ = _second_order(tg, expr, v, w)
    # the rule written out: d/dx <w, d/dx sum(y^2 + v y)> = 2 * S^T S w for the selection S
    sel = np.zeros(_X.size)
    ids = tg.tensor(np.arange(_X.size, dtype=np.float64).reshape(_X.shape))
    y_idx = eval(expr, {"x": ids, "M": _X > 0})  # noqa: S307
    flat = y_idx.numpy().astype(np.int64).reshape(-1)
    sw = w.reshape(-1)[flat]
    np.add.at(sel, flat, 2 * sw)
    np.testing.assert_allclose(gg.reshape(-1), sel, rtol=1e-12, atol=1e-12)
    if torch is not None:
        gt, ggt, name_t = _second_order(torch, expr, v, w)
        np.testing.assert_allclose(g, gt, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gg, ggt, rtol=1e-12, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("expr,name", [
    ("x[0]", "SelectBackwardBackward0"), ("x[1:]", "SliceBackwardBackward0"),
    ("x[0, 1:]", "SelectBackwardBackward0"), ("x[[0, 0]]", "IndexPutImplBackward0"),
    ("x[x > 0]", "IndexPutImplBackward0"),
])
def test_backward_graph_names(expr, name):
    """The gradient of the cotangent, built under create_graph, is named as PyTorch names it."""
    for m in (tg, torch):
        x = m.tensor(_X, requires_grad=True)
        y = eval(expr, {"m": m, "x": x})  # noqa: S307
        v = m.ones(tuple(y.shape), dtype=m.float64, requires_grad=True)
        (g,) = m.autograd.grad(y, x, v, create_graph=True)
        assert g.grad_fn.name() == name


# --- semantics without torch -----------------------------------------------------------------
def test_repeated_indices_accumulate():
    x = tg.zeros(4, requires_grad=True)
    x[[0, 0, 3, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 0.0, 1.0])
    x = tg.zeros(2, 3, requires_grad=True)
    y = x[[1, 1], [2, 2]]
    (y * tg.tensor([2.0, 5.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0, 0], [0, 0, 7.0]])


def test_basic_index_is_a_view():
    x = tg.arange(12.0).reshape(3, 4)
    y = x[1, 1:]
    assert y._base is x._base or y._base is x
    x.add_(1)
    np.testing.assert_array_equal(y.numpy(), [6.0, 7.0, 8.0])
    assert y._version == x._version == 1
    y.mul_(10)
    np.testing.assert_array_equal(x[1].numpy(), [5.0, 60.0, 70.0, 80.0])
    z = x[0, 0]  # a 0-d view, not a copy
    x.zero_()
    assert z.item() == 0.0 and z._version == x._version


def test_advanced_index_is_a_copy():
    x = tg.arange(6.0)
    y = x[[1, 2]]
    m = x[x > 3]
    x.zero_()
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(m.numpy(), [4.0, 5.0])
    assert y._base is None and y._version == 0


def test_torch_order_of_separated_indices():
    """Advanced dims go first only if separated after the ints are applied (unlike NumPy)."""
    x = tg.tensor(_X)
    assert x[0, :, [0, 1]].shape == (4, 2)
    assert _X[0, :, [0, 1]].shape == (2, 4)  # NumPy's rule differs here
    assert x[[0, 1], :, [0, 1]].shape == (2, 4)
    assert x[:, [0, 1], [0, 1]].shape == (3, 2)


def test_index_tensor_changed_after_forward():
    """The gradient uses the indices of the forward pass."""
    x = tg.zeros(3, requires_grad=True)
    i = tg.tensor([0, 0])
    y = x[i]
    i.fill_(2)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 0.0])


def test_messages_without_torch():
    x = tg.zeros(3, 4)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 3"):
        x[5]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[::-1]
    with pytest.raises(IndexError, match=r"index 7 is out of bounds for dimension 1 with size 4"):
        x[[0, 1], [0, 7]]
    with pytest.warns(UserWarning, match="Using a non-tuple sequence"):
        x[[0, slice(None)]]


def test_getitem_int_dtype_and_bool():
    x = tg.arange(6).reshape(2, 3)
    assert x[1, [0, 2]].tolist() == [3, 5]
    assert x[x > 2].dtype is tg.int64
    b = x > 2
    assert b[0].tolist() == [False, False, False]


@pytest.mark.parametrize("key", [
    lambda m: (1, slice(None), m.tensor([0, 2])),
    lambda m: (m.tensor([0, 1]), 1, m.tensor([0, 2])),
    lambda m: (slice(None), 2, m.tensor([3, 1])),
    lambda m: (0, m.tensor([[0, 1], [2, 0]]), slice(1, 3)),
])
@pytest.mark.parametrize("record", [False, True])
def test_setitem_integer_with_tensor_index_layout(key, record):
    # PyTorch selects by the integers first: the value is laid out as x[key] is
    def prog(m):
        w = m.zeros(2, 3, 4, requires_grad=record)
        t = w * 1 if record else w.detach().clone()
        k = key(m)
        shape = t[k].shape
        v = m.arange(float(shape.numel())).reshape(shape).requires_grad_(record)
        t[k] = v * 2
        out = [t.detach()]
        if record:
            (t * m.arange(24.0).reshape(2, 3, 4)).sum().backward()
            out += [w.grad, v.grad]
        return out

    both(prog)

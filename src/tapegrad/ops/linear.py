"""linear and bilinear, composed as PyTorch composes them (so their grad_fn chains match).

  linear(x, W, b)   2-D x with bias: addmm(b, x, W^T) (AddmmBackward0); contiguous x of other
                    ranks with a 1-D bias: x viewed as 2-D, addmm, viewed back; otherwise
                    matmul(x, W^T), plus b.
  bilinear(x1, x2, W, b)  out[n, o] = sum_ij x1[n, i] W[o, i, j] x2[n, j] (+ b), through the
                    primitive _trilinear (TrilinearBackward0), inputs flattened to 2-D first.

Rules (written in tapegrad ops, so they differentiate again):
  addmm  out = beta * b + alpha * (m1 @ m2):  gb = beta * g, gm1 = alpha * g @ m2^H,
         gm2 = alpha * m1^H @ g; as PyTorch, a gradient whose matrix is column-major (linear's
         W^T) is made as the transpose of a row-major product: gm2 = (g^T @ conj(m1))^T,
         gm1 = (conj(m2) @ g^T)^T, so that W's gradient comes out in W's own layout
  trilinear  with A = (g @ W.reshape(O, I*J)).reshape(N, I, J):
         gx1 = sum_j A * x2[:, None, :],  gx2 = sum_i A * x1[:, :, None],
         gW = (g^T @ (x1[:, :, None] * x2[:, None, :]).reshape(N, I*J)).reshape(O, I, J)
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.engine import edge_of
from ..autograd.graph import FREED, Node, SavedTensor
from . import _core
from ._core import _state, in_meta, meta_of, new_node, save, wrap
from .matmul import _conj, _h, matmul, mm
from .shape import t as _t

__all__ = ["bilinear"]
FUNCTIONAL = ["linear", "bilinear"]


def _dims(shape) -> str:
    return "x".join(str(s) for s in shape)


# For 2-D float32 / float64 operands np.dot runs the very BLAS call np.matmul runs (the same
# values), with less dispatch around it.
_dot, _matmul = np.dot, np.matmul


def _col_major(a: np.ndarray) -> bool:
    """PyTorch's test for a column-major matrix: strides (1, rows) in elements."""
    st = a.strides
    return st[0] == a.itemsize and st[1] == a.shape[0] * a.itemsize


class AddmmBackward0(Node):
    __slots__ = ("alpha", "beta")

    def vjp(self, g):
        saved = self._saved
        if saved is FREED:
            self.saved_tensors()  # raises PyTorch's message
        m1, m2 = saved[0].unpack(self), saved[1].unpack(self)  # (saved_tensors(), unrolled)
        nb, n1, n2 = self._next
        a, b = self.alpha, self.beta
        gb = (g if b == 1 else g * b) if nb[0] is not None else None
        need1, need2 = n1[0] is not None, n2[0] is not None
        g1 = g2 = None
        xa, ya = m1._data, m2._data
        ga = g._data if type(g) is Tensor else None  # (None: a batch of cotangents, vmap)
        dt = g._dtype
        if ga is not None and not _state.enabled and not _core.fw_on and (
            dt.category == _FLOAT and m1._dtype is dt and m2._dtype is dt
            and ga.ndim == 2 and xa.ndim == 2
            and ya.ndim == 2 and ga.shape[0] == xa.shape[0] and ga.shape[1] == ya.shape[1]
        ):  # no graph to record: the products in NumPy directly
            p = _dot if ga.itemsize >= 4 else _matmul
            if need1:
                g1 = _make(p(ya, ga.T).T if _col_major(xa) else p(ga, ya.T), None, False)
            if need2:
                g2 = _make(p(ga.T, xa).T if _col_major(ya) else p(xa.T, ga), None, False)
        else:  # mm raises its own messages for a shape or dtype a hook changed
            if need1:
                g1 = mm(_conj(m2), g.t()).t() if _col_major(xa) else mm(g, _h(m2))
            if need2:
                g2 = mm(g.t(), _conj(m1)).t() if _col_major(ya) else mm(_h(m1), g)
        if a != 1:
            g1 = None if g1 is None else g1 * a
            g2 = None if g2 is None else g2 * a
        return gb, g1, g2


def _addmm(bias: Tensor, m1: Tensor, m2: Tensor, beta=1, alpha=1) -> Tensor:
    """beta * bias + alpha * (m1 @ m2), bias broadcast to the product's shape."""
    a, b, c = m1._data, m2._data, bias._data
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_dims(a.shape)} and {_dims(b.shape)})")
    if bias._dtype is not m2._dtype:  # ATen's addmm checks self against mat2 first
        raise RuntimeError("self and mat2 must have the same dtype, but got "
                           f"{bias._dtype._short} and {m2._dtype._short}")
    if m1._dtype is not m2._dtype:
        raise RuntimeError("mat1 and mat2 must have the same dtype, but got "
                           f"{m1._dtype._short} and {m2._dtype._short}")
    cs = c.shape
    if len(cs) != 1 or cs[0] != b.shape[1]:  # (the usual bias of out_features broadcasts)
        target = (a.shape[0], b.shape[1])
        for k in range(1, min(c.ndim, 2) + 1):  # from the last dim, as expand checks
            if cs[-k] != 1 and cs[-k] != target[-k]:
                raise RuntimeError(
                    f"The expanded size of the tensor ({target[-k]}) must match the existing "
                    f"size ({cs[-k]}) at non-singleton dimension {2 - k}.  Target sizes: "
                    f"[{', '.join(map(str, target))}].  Tensor sizes: "
                    f"[{', '.join(map(str, cs))}]")
    prod = a @ b
    if alpha != 1:
        prod = prod * alpha
    if beta == 1 and len(cs) <= 2 and prod.dtype == c.dtype:
        out = np.add(prod, c, out=prod)  # prod is a new array: the same sum, no second one
    else:
        out = prod + (c if beta == 1 else c * beta)
    node = new_node(AddmmBackward0, (bias, m1, m2))
    if node is not None:
        node.alpha, node.beta = alpha, beta
        node._saved = (SavedTensor(m1), SavedTensor(m2))  # save(node, m1, m2)
    return wrap(np.ascontiguousarray(out), node)


_FLOAT = D.FLOAT
_NO_EDGE = (None, 0)


def _linear2d(bias: Tensor, x: Tensor, w: Tensor) -> Tensor:
    """addmm(bias, x, w.t()) for a 2-D x and the usual 1-D bias of one dtype: the same arrays,
    the same graph (TBackward0 for w.t(), AddmmBackward0 saving x and w.t()), built directly."""
    a, wa, c = x._data, w._data, bias._data
    dt = w._dtype
    if (
        a.shape[1] != wa.shape[1] or x._dtype is not dt or bias._dtype is not dt
        or c.shape != (wa.shape[0],) or _core.fw_on
    ):
        return _addmm(bias, x, _t(w))  # (messages, broadcasting, forward AD)
    out = _dot(a, wa.T) if a.itemsize >= 4 and a.dtype.kind == "f" else a @ wa.T
    np.add(out, c, out=out)
    xr, wr, br = x._requires_grad, w._requires_grad, bias._requires_grad
    if not (_state.enabled and (xr or wr or br)):
        return _make(out, None, False)
    wt = _t(w)
    node = AddmmBackward0()
    node.alpha = node.beta = 1
    node._next = (edge_of(bias) if br else _NO_EDGE, edge_of(x) if xr else _NO_EDGE,
                  (wt._grad_fn, 0) if wr else _NO_EDGE)
    node._in_meta = in_meta(meta_of(bias) if br else None, meta_of(x) if xr else None,
                            meta_of(wt) if wr else None)
    node._saved = (SavedTensor(x), SavedTensor(wt))
    return _make(out, node, True)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """x @ W^T + b over the last dim of x (W is (out_features, in_features)).

    >>> import tapegrad
    >>> x, w, b = tapegrad.ones(2, 3), tapegrad.ones(4, 3), tapegrad.zeros(4)
    >>> tapegrad.nn.functional.linear(x, w, b)
    tensor([[3., 3., 3., 3.],
            [3., 3., 3., 3.]])
    """
    xd, wd = input._data.ndim, weight._data.ndim
    if xd == 0 or wd == 0:
        raise RuntimeError(
            f"both arguments to linear need to be at least 1D, but they are {xd}D and {wd}D")
    if bias is not None and xd == 2 and wd == 2:
        return _linear2d(bias, input, weight)
    wt = _t(weight)
    if bias is not None:
        contiguous = input._data.flags.c_contiguous
        fused = xd == 2 or (contiguous and (xd == 3 or bias._data.ndim == 1))
        if fused and wd != 2:
            raise RuntimeError(f"mat2 must be a matrix, got {wd}-D tensor")
        if xd == 2:
            return _addmm(bias, input, wt)
        if fused:
            shape = input._data.shape
            flat = input.reshape(int(np.prod(shape[:-1])), shape[-1])
            out = _addmm(bias, flat, wt)
            return out.view(shape[:-1] + (out._data.shape[1],))
    out = matmul(input, wt)
    return out if bias is None else out + bias


class TrilinearBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        x1, w, x2 = self.saved_tensors()
        n1, nw, n2 = self._next
        o, i, j = w._data.shape
        n = x1._data.shape[0]
        g1 = gw = g2 = None
        # (conjugated factors for complex values, PyTorch's convention)
        if n1[0] is not None or n2[0] is not None:
            a = mm(g, _conj(w).reshape(o, i * j)).reshape(n, i, j)
            if n1[0] is not None:
                g1 = (a * _conj(x2).unsqueeze(1)).sum(2)
            if n2[0] is not None:
                g2 = (a * _conj(x1).unsqueeze(2)).sum(1)
        if nw[0] is not None:
            outer = (_conj(x1).unsqueeze(2) * _conj(x2).unsqueeze(1)).reshape(n, i * j)
            gw = mm(g.t(), outer).reshape(o, i, j)
        return g1, gw, g2


def _trilinear(x1: Tensor, w: Tensor, x2: Tensor) -> Tensor:
    """out[n, o] = sum_ij x1[n, i] w[o, i, j] x2[n, j] (the one form bilinear needs)."""
    a1, aw, a2 = x1._data, w._data, x2._data
    t = np.tensordot(a1, aw, axes=([1], [1]))  # (N, O, J)
    out = np.einsum("noj,nj->no", t, a2)
    node = new_node(TrilinearBackward0, (x1, w, x2))
    if node is not None:
        save(node, x1, w, x2)
    return wrap(np.ascontiguousarray(out), node)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x1^T W x2 + b for each output feature: W is (out, in1, in2).

    >>> import tapegrad
    >>> x1, x2, w = tapegrad.ones(2, 3), tapegrad.ones(2, 4), tapegrad.ones(5, 3, 4)
    >>> tapegrad.bilinear(x1, x2, w).shape
    tapegrad.Size([2, 5])
    """
    s1, s2, sw = input1._data.shape, input2._data.shape, weight._data.shape
    if len(s1) != len(s2):
        raise RuntimeError(
            f"bilinear(): input dimensions do not match: got {len(s1)} and {len(s2)}")
    for i in range(len(s1) - 1):
        if s1[i] != s2[i]:
            raise RuntimeError(
                f"bilinear(): input batch dimensions do not match at dim {i}: got {s1[i]} and "
                f"{s2[i]}")
    if s1[-1] != sw[1]:
        raise RuntimeError(
            f"bilinear(): input1 size does not match weight size: got {s1[-1]} but expected "
            f"{sw[1]}")
    if s2[-1] != sw[2]:
        raise RuntimeError(
            f"bilinear(): input2 size does not match weight size: got {s2[-1]} but expected "
            f"{sw[2]}")
    if bias is not None and bias._data.shape[0] != sw[0]:
        raise RuntimeError(
            f"bilinear(): bias size does not match weight size: got {bias._data.shape[0]} but "
            f"expected {sw[0]}")
    out = _trilinear(input1.reshape(-1, s1[-1]), weight, input2.reshape(-1, s2[-1]))
    out = out.reshape(s1[:-1] + (sw[0],))
    return out if bias is None else out + bias

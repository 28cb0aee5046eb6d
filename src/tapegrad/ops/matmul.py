"""Matrix products: mm, bmm, mv, dot (primitives), matmul / `@` (PyTorch's dispatch over them),
outer, vdot, and the T / mT / H / mH transposes.

Rules (conjugates are no-ops on real tensors; A^H is the conjugate transpose):
  mm   out = A B        gA = g B^H            gB = A^H g
  bmm  the same, batch by batch
  mv   out = A v        gA = g outer conj(v)  gv = A^H g
  dot  out = <x, y>     gx = g conj(y)        gy = g conj(x)
  vdot out = <conj(x), y>: gx = conj(g) y,    gy = g x
matmul is composed of these and of views exactly as PyTorch composes it (aten _matmul_impl),
so its grad_fn chain, and the name of its outermost node, are PyTorch's.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd import grad_mode
from ..autograd.graph import Node
from . import _core
from ._core import new_node, save, wrap
from .shape import UnsafeViewBackward0, expand, permute, squeeze, transpose, unsqueeze

__all__ = ["matmul", "mm", "bmm", "mv", "dot", "outer", "ger", "vdot", "adjoint"]

_COMPLEX, _FLOAT = D.COMPLEX, D.FLOAT
_state = grad_mode.state


def _h(t: Tensor) -> Tensor:
    """Conjugate transpose of the last two dims."""
    t = transpose(t, -2, -1)
    return t.conj() if t._dtype.category == _COMPLEX else t


def _conj(t: Tensor) -> Tensor:
    return t.conj() if t._dtype.category == _COMPLEX else t


def _no_bool(a: np.ndarray, kernel: str) -> None:
    if a.dtype == np.bool_:
        raise NotImplementedError(f'"{kernel}" not implemented for \'Bool\'')


def _dims(shape) -> str:
    return "x".join(str(s) for s in shape)


# --- mm ----------------------------------------------------------------------------------
def mm_grads(g: Tensor, x: Tensor, y: Tensor, need_x: bool, need_y: bool) -> tuple:
    """The gradients of out = x @ y (2-D): gx = g @ y^H, gy = x^H @ g (None where not needed).

    When no graph is recorded (grad mode off, no forward-AD level) and all three are real
    floating tensors of one dtype with matching shapes, the products are taken in NumPy
    directly: the very arrays mm(g, _h(y)) and mm(_h(x), g) compute, without their dispatch.
    Anything else (complex, mixed dtypes, a shape a hook changed) goes through mm, which
    raises its own messages."""
    dt = g._dtype
    if not _state.enabled and not _core.fw_on and dt.category == _FLOAT and (
        x._dtype is dt and y._dtype is dt and type(g) is Tensor
    ):
        ga, xa, ya = g._data, x._data, y._data
        if ga.ndim == 2 and xa.ndim == 2 and ya.ndim == 2 and (
            ga.shape[0] == xa.shape[0] and ga.shape[1] == ya.shape[1]
        ):
            return (_make(ga @ ya.T, None, False) if need_x else None,
                    _make(xa.T @ ga, None, False) if need_y else None)
    return (mm(g, _h(y)) if need_x else None, mm(_h(x), g) if need_y else None)


def _product_rule(op, x, y, tx, ty):
    """op(tx, y) + op(x, ty) for a bilinear op, leaving out a missing tangent."""
    r = None if tx is None else op(tx, y)
    if ty is not None:
        r2 = op(x, ty)
        r = r2 if r is None else r + r2
    return r


class MmBackward0(Node):
    __slots__ = ()
    _saved_names = ("self", "mat2")
    _saved_attrs = {"self_sym_sizes": "@shape0", "mat2_sym_sizes": "@shape1",
                    "self_sym_strides": "@strides0", "mat2_sym_strides": "@strides1"}

    def vjp(self, g):
        x, y = self.saved_tensors()
        nx, ny = self._next
        return mm_grads(g, x, y, nx[0] is not None, ny[0] is not None)

    def jvp(self, tx, ty):
        # d(X Y) = tX Y + X tY; bmm, mv and dot follow the same product rule
        x, y = self.saved_tensors()
        return _product_rule(mm, x, y, tx, ty)


def mm(input: Tensor, mat2: Tensor) -> Tensor:  # noqa: A002
    """Matrix product of two 2-D tensors of the same dtype.

    >>> import tapegrad
    >>> tapegrad.mm(tapegrad.ones(2, 3), tapegrad.ones(3, 4)).shape
    tapegrad.Size([2, 4])
    """
    a, b = input._data, mat2._data
    if a.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if b.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_dims(a.shape)} and {_dims(b.shape)})")
    if input._dtype is not mat2._dtype:
        raise RuntimeError(
            "expected m1 and m2 to have the same dtype, but got: "
            f"{input._dtype._cname} != {mat2._dtype._cname}"
        )
    _no_bool(a, "addmm_impl_cpu_")
    node = new_node(MmBackward0, (input, mat2))
    if node is not None:
        save(node, input, mat2)
    return wrap(a @ b, node)


# --- bmm ---------------------------------------------------------------------------------
class BmmBackward0(Node):
    __slots__ = ()
    _saved_names = ("self", "mat2")

    def vjp(self, g):
        x, y = self.saved_tensors()
        nx, ny = self._next
        gx = bmm(g, _h(y)) if nx[0] is not None else None
        gy = bmm(_h(x), g) if ny[0] is not None else None
        return gx, gy

    def jvp(self, tx, ty):
        x, y = self.saved_tensors()
        return _product_rule(bmm, x, y, tx, ty)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:  # noqa: A002
    """Batched matrix product: (b, n, m) @ (b, m, p) -> (b, n, p), no broadcasting.

    >>> import tapegrad
    >>> tapegrad.bmm(tapegrad.ones(5, 2, 3), tapegrad.ones(5, 3, 4)).shape
    tapegrad.Size([5, 2, 4])
    """
    a, b = input._data, mat2._data
    if a.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if b.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if b.shape[0] != a.shape[0] or b.shape[1] != a.shape[2]:
        raise RuntimeError(
            "Expected size for first two dimensions of batch2 tensor to be: "
            f"[{a.shape[0]}, {a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}].")
    if input._dtype is not mat2._dtype:
        raise RuntimeError(
            f"expected scalar type {input._dtype._short} but found {mat2._dtype._short}")
    _no_bool(a, "bmm")
    node = new_node(BmmBackward0, (input, mat2))
    if node is not None:
        save(node, input, mat2)
    return wrap(np.matmul(a, b), node)


# --- mv ----------------------------------------------------------------------------------
class MvBackward0(Node):
    __slots__ = ()
    _saved_names = ("self", "vec")

    def vjp(self, g):
        x, v = self.saved_tensors()
        nx, nv = self._next
        gx = outer(g, _conj(v)) if nx[0] is not None else None
        gv = mv(_h(x), g) if nv[0] is not None else None
        return gx, gv

    def jvp(self, tx, tv):
        x, v = self.saved_tensors()
        return _product_rule(mv, x, v, tx, tv)


def mv(input: Tensor, vec: Tensor) -> Tensor:  # noqa: A002
    """Matrix-vector product: (n, m) @ (m,) -> (n,).

    >>> import tapegrad
    >>> tapegrad.mv(tapegrad.ones(2, 3), tapegrad.ones(3))
    tensor([3., 3.])
    """
    a, v = input._data, vec._data
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {a.ndim}, {v.ndim}")
    if a.shape[1] != v.shape[0]:
        raise RuntimeError(
            f"size mismatch, got input ({a.shape[0]}), mat ({_dims(a.shape)}), "
            f"vec ({v.shape[0]})")
    if input._dtype is not vec._dtype:
        vs, ms = vec._dtype._short, input._dtype._short
        raise RuntimeError(
            f"addmv input tensors must have the same dtype, but got {vs}, {ms}, and {vs}")
    _no_bool(a, "addmv_impl_cpu")
    node = new_node(MvBackward0, (input, vec))
    if node is not None:
        save(node, input, vec)
    return wrap(a @ v, node)


# --- dot / vdot --------------------------------------------------------------------------
def _check_vectors(x: Tensor, y: Tensor, name: str) -> None:
    a, b = x._data, y._data
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(
            f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if x._dtype is not y._dtype:
        raise RuntimeError(
            f"{name} : expected both vectors to have same dtype, but found "
            f"{x._dtype._short} and {y._dtype._short}")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] "
            f"to have the same number of elements, but got {a.shape[0]} and {b.shape[0]} "
            "elements respectively")
    _no_bool(a, name)


class DotBackward0(Node):
    __slots__ = ()
    _saved_names = ("self", "tensor")

    def vjp(self, g):
        x, y = self.saved_tensors()
        nx, ny = self._next
        gx = g * _conj(y) if nx[0] is not None else None
        gy = g * _conj(x) if ny[0] is not None else None
        return gx, gy

    def jvp(self, tx, ty):
        x, y = self.saved_tensors()
        return _product_rule(dot, x, y, tx, ty)


def dot(input: Tensor, tensor: Tensor) -> Tensor:  # noqa: A002
    """Inner product of two 1-D tensors of the same dtype and length (no conjugation).

    >>> import tapegrad
    >>> tapegrad.dot(tapegrad.tensor([1., 2.]), tapegrad.tensor([3., 4.]))
    tensor(11.)
    """
    _check_vectors(input, tensor, "dot")
    node = new_node(DotBackward0, (input, tensor))
    if node is not None:
        save(node, input, tensor)
    return wrap(np.asarray(np.dot(input._data, tensor._data)), node)


class VdotBackward0(Node):
    __slots__ = ()
    _saved_names = ("self", "other")

    def vjp(self, g):
        x, y = self.saved_tensors()
        nx, ny = self._next
        gx = _conj(g) * y if nx[0] is not None else None
        gy = g * x if ny[0] is not None else None
        return gx, gy


def vdot(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """Inner product conjugating the first argument: sum(conj(input) * other).

    >>> import tapegrad
    >>> tapegrad.vdot(tapegrad.tensor([1j, 2.]), tapegrad.tensor([1j, 1.]))
    tensor(3.+0.j)
    """
    _check_vectors(input, other, "vdot")
    node = new_node(VdotBackward0, (input, other))
    if node is not None:
        save(node, input, other)
    return wrap(np.asarray(np.vdot(input._data, other._data)), node)


# --- outer -------------------------------------------------------------------------------
def outer(input: Tensor, vec2: Tensor) -> Tensor:  # noqa: A002
    """Outer product of two 1-D tensors: input.reshape(-1, 1) * vec2 (as PyTorch computes it).

    >>> import tapegrad
    >>> tapegrad.outer(tapegrad.tensor([1., 2.]), tapegrad.tensor([1., 10.]))
    tensor([[ 1., 10.],
            [ 2., 20.]])
    """
    if input._data.ndim != 1:
        raise RuntimeError(f"outer: Expected 1-D argument self, but got {input._data.ndim}-D")
    if vec2._data.ndim != 1:
        raise RuntimeError(f"outer: Expected 1-D argument vec2, but got {vec2._data.ndim}-D")
    return input.reshape(-1, 1) * vec2


ger = outer


# --- matmul ------------------------------------------------------------------------------
def _unsafe_view(t: Tensor, shape) -> Tensor:
    return wrap(t._data.reshape(shape), new_node(UnsafeViewBackward0, (t,)))


class SqueezeBackward4(Node):
    """The in-place squeeze_(0) that ends 1-D @ 2-D in PyTorch."""

    __slots__ = ()

    def vjp(self, g):
        return unsqueeze(g, 0)


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _should_fold(x: Tensor, y: Tensor) -> bool:
    """Whether PyTorch folds the batch dims of the larger operand into mm / mv rows."""
    dx, dy = x._data.ndim, y._data.ndim
    x_larger = dx >= dy
    dim_t1, dim_t2 = (dx, dy) if x_larger else (dy, dx)
    if not (dim_t1 >= 3 and dim_t2 <= 2):
        return False
    if (y if x_larger else x)._requires_grad:
        return True  # avoids a large expanded gradient in backward (PyTorch checks this flag)
    if dx == 2:
        return False
    a = x._data if x_larger else np.swapaxes(y._data, -1, -2)
    if a.size == 0:
        return True
    st, sh = a.strides, a.shape
    return all(st[i] == st[i + 1] * sh[i + 1] for i in range(dim_t1 - 2))


def _broadcast_batch(b1: tuple, b2: tuple) -> tuple:
    n = max(len(b1), len(b2))
    b1 = (1,) * (n - len(b1)) + b1
    b2 = (1,) * (n - len(b2)) + b2
    out = []
    for i, (s1, s2) in enumerate(zip(b1, b2)):
        if s1 != s2 and s1 != 1 and s2 != 1:
            raise RuntimeError(
                f"The size of tensor a ({s1}) must match the size of tensor b ({s2}) at "
                f"non-singleton dimension {i}")
        out.append(s2 if s1 == 1 else s1)
    return tuple(out)


def _type_name(v) -> str:
    t = type(v)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


def matmul(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """Matrix product with NumPy's rules: dot for 1-D @ 1-D, mv / mm for 2-D, and batched
    (broadcast) products for more dims; 1-D operands get a dim added and removed.

    >>> import tapegrad
    >>> (tapegrad.ones(5, 2, 3) @ tapegrad.ones(3, 4)).shape
    tapegrad.Size([5, 2, 4])
    """
    if not isinstance(input, Tensor):
        raise TypeError(
            f"matmul(): argument 'input' (position 1) must be Tensor, not {_type_name(input)}")
    if not isinstance(other, Tensor):
        raise TypeError(
            f"matmul(): argument 'other' (position 2) must be Tensor, not {_type_name(other)}")
    x, y = input, other
    dx, dy = x._data.ndim, y._data.ndim
    if dx == 0 or dy == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {dx}D and {dy}D")
    if dx == 2 and dy == 2:
        return mm(x, y)
    if dx == 1 and dy == 1:
        return dot(x, y)
    if dx == 2 and dy == 1:
        return mv(x, y)
    if dx == 1 and dy == 2:
        r = mm(unsqueeze(x, 0), y)
        return wrap(r._data[0], new_node(SqueezeBackward4, (r,)))
    if _should_fold(x, y):
        transpose_ = dy > dx
        t1 = transpose(y, -2, -1) if transpose_ else x
        t2 = (x.t() if dx == 2 else x) if transpose_ else y
        sizes1 = t1._data.shape
        out_shape = sizes1[:-1]
        folded = _prod(out_shape)
        t1f = t1.reshape(folded, sizes1[-1])
        if t2._data.ndim == 2:
            out = _unsafe_view(mm(t1f, t2), out_shape + (t2._data.shape[1],))
            return transpose(out, -2, -1).contiguous() if transpose_ else out
        return _unsafe_view(mv(t1f, t2), out_shape)
    xs, ys = x._data.shape, y._data.shape
    n = xs[-2] if dx > 1 else 1
    m1 = xs[-1]
    m2 = ys[-2] if dy > 1 else ys[0]
    p = ys[-1] if dy > 1 else 1
    b1, b2 = xs[:max(dx - 2, 0)], ys[:max(dy - 2, 0)]
    if dx == 3 and dy == 3 and b1[0] != b2[0]:
        # PyTorch drops a batch dim of 1 of an operand requiring grad (then folds)
        if b1[0] == 1 and x._requires_grad:
            return matmul(squeeze(x, 0), y)
        if b2[0] == 1 and y._requires_grad:
            return matmul(x, squeeze(y, 0))
    batch = _broadcast_batch(b1, b2)
    e = _prod(batch)
    xe = expand(x, batch + (n, m1)).reshape(e, n, m1)
    if dy == 1:
        ye = unsqueeze(expand(y, batch + (m2,)).reshape(e, m2), 2)
    else:
        ye = expand(y, batch + (m2, p)).reshape(e, m2, p)
    out_shape = batch + ((n,) if dx > 1 else ()) + ((p,) if dy > 1 else ())
    r = bmm(xe, ye)
    if dy == 1:
        r = squeeze(r, -1)
    return _unsafe_view(r, out_shape)


def _matmul_op(self, other):
    if not isinstance(other, Tensor):
        return NotImplemented
    return matmul(self, other)


def _rmatmul_op(self, other):
    if not isinstance(other, Tensor):
        return NotImplemented
    return matmul(other, self)


# --- transposes --------------------------------------------------------------------------
def _T(self: Tensor) -> Tensor:  # noqa: N802
    n = self._data.ndim
    if n == 0:
        warnings.warn("Tensor.T is deprecated on 0-D tensors. This function is the identity in "
                      "these cases.", UserWarning, stacklevel=2)
    elif n != 2:
        warnings.warn(
            "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is "
            "deprecated and it will throw an error in a future release. Consider `x.mT` to "
            "transpose batches of matrices or `x.permute(*tapegrad.arange(x.ndim - 1, -1, -1))` "
            "to reverse the dimensions of a tensor.", UserWarning, stacklevel=2)
    return permute(self, tuple(range(n - 1, -1, -1)))


def _mT(self: Tensor) -> Tensor:  # noqa: N802
    n = self._data.ndim
    if n == 0:
        warnings.warn("Tensor.mT is deprecated on 0-D tensors. This function is the identity in "
                      "these cases.", UserWarning, stacklevel=2)
        return self
    if n < 2:
        raise RuntimeError(
            f"tensor.mT is only supported on matrices or batches of matrices. Got {n}-D tensor.")
    return transpose(self, -2, -1)


def _adjoint(self: Tensor, what: str, zero_d: str) -> Tensor:
    n = self._data.ndim
    if n == 0:
        warnings.warn(f"{zero_d} is deprecated on 0-D tensors. Consider using x.conj().",
                      UserWarning, stacklevel=3)
        return _conj(self)
    if n < 2:
        raise RuntimeError(
            f"{what} is only supported on matrices or batches of matrices. Got {n}-D tensor.")
    return _h(self)


def _mH(self: Tensor) -> Tensor:  # noqa: N802
    return _adjoint(self, "tensor.mH", "Tensor.mH")


def adjoint(input: Tensor) -> Tensor:  # noqa: A002
    """Conjugate transpose of the last two dims (a view for real tensors).

    >>> import tapegrad
    >>> tapegrad.zeros(5, 2, 3).adjoint().shape
    tapegrad.Size([5, 3, 2])
    """
    return _adjoint(input, "tensor.adjoint()", "adjoint()")


def _H(self: Tensor) -> Tensor:  # noqa: N802
    n = self._data.ndim
    if n == 0:
        warnings.warn("Tensor.H is deprecated on 0-D tensors. Consider using x.conj().",
                      UserWarning, stacklevel=2)
        return _conj(self)
    if n != 2:
        extra = " For batches of matrices, consider using tensor.mH" if n > 2 else ""
        raise RuntimeError(
            f"tensor.H is only supported on matrices (2-D tensors). Got {n}-D tensor.{extra}")
    return _h(self)


METHODS = {
    "matmul": matmul, "mm": mm, "bmm": bmm, "mv": mv, "dot": dot, "vdot": vdot, "outer": outer,
    "ger": ger, "adjoint": adjoint, "__matmul__": _matmul_op, "__rmatmul__": _rmatmul_op,
    "T": property(_T), "mT": property(_mT), "H": property(_H), "mH": property(_mH),
}

"""Gather and scatter along a dim: gather, scatter (src and value forms, and the deprecated
reduce= forms), scatter_add, scatter_reduce, take_along_dim; and the in-place scatter_,
scatter_add_, scatter_reduce_ for tensors outside the graph.

    gather:   out[i][j] = x[index[i][j]][j]                          (dim 0; likewise others)
    scatter:  out = x, then out[index[i][j]][j] = src[i][j]          (the last write wins)

Primitive pairs, closed under reverse (vjps use only these):
  gather        (GatherBackward0)      <-> scatter_add (ScatterAddBackward0)   ops/_gather.py
  scatter src   (ScatterBackward0):  d self = g with zeros written at index (ScatterBackward1),
                                     d src  = gather(g)
  scatter value (ScatterBackward1):  a projection, its own adjoint: d self = scatter(g, 0)
  scatter_reduce (ScatterReduceBackward0): PyTorch's scatter_reduce_backward, written with
                 scatter_reduce, gather, scatter_add, scatter and elementwise ops.
Index tensors never carry gradients. As in PyTorch, 0-d tensors act as tensors of shape (1,),
a src larger than index is cut to index's shape, and checks are skipped for an empty index.
On complex values PyTorch's scatter_reduce computes sum / prod / mean but refuses to record
them for backward (scatter_reduce_ is recorded); the rules hold there with the conjugates of
the conjugate-Wirtinger convention, used by scatter_reduce_ and by forward mode.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _tp_name
from ..autograd import grad_mode
from ..autograd.graph import Node
from ._complex_util import refuse_complex_autograd
from ._core import batched_cotangent, new_node, rebatch, save_out, wrap
from ._gather import gather_along, scatter_add_along
from ._index_util import (
    broadcast_pair,
    check_bounds,
    crop,
    fill_value,
    index_array,
    scatter_key,
    shape_str,
    size1,
    tensor_arg,
    warn_once,
    wrap_dim,
)
from ._selectutil import int_arg, method
from .binary import _nondiff, where
from .inplace import copy_out, inplace_of
from .masked_ops import masked_fill

__all__ = ["gather", "scatter", "scatter_add", "scatter_reduce", "take_along_dim"]

_state = grad_mode.state
_REDUCES = ("sum", "prod", "mean", "amax", "amin")
_SCATTER_REDUCE_WARNING = (
    "The reduce argument of tapegrad.scatter with Tensor src is deprecated and will be removed "
    "in a future PyTorch release. Use tapegrad.scatter_reduce instead for more reduction options."
)


# --- argument checks ------------------------------------------------------------------
def _index(index, fn: str, pos: int = 3) -> np.ndarray:
    index = tensor_arg(index, fn, "index", pos)
    return index_array(index, f"{fn}(): Expected dtype int32/int64 for index")


def _gather_check(shape: tuple, d: int, ishape: tuple) -> None:
    n = max(len(shape), 1)
    if n != max(len(ishape), 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for i in range(n):
        if i != d and size1(ishape, i) > size1(shape, i):
            raise RuntimeError(
                f"Size does not match at dimension {i} expected index {shape_str(ishape)} to be "
                f"no larger than self {shape_str(shape)} apart from dimension {d}"
            )


def _scatter_check(shape: tuple, d: int, ishape: tuple, sshape: tuple | None) -> None:
    """PyTorch's scatter_shape_check, in its order (a src with fewer dims than index fails
    on reading its sizes, one with more on the dims check)."""
    n = max(len(shape), 1)
    if n != max(len(ishape), 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    wrong = any(i != d and size1(ishape, i) > size1(shape, i) for i in range(n))
    if not wrong and sshape is not None:
        for i in range(n):
            s = sshape[wrap_dim(i, len(sshape))] if sshape else 1
            if size1(ishape, i) > s:
                wrong = True
                break
    if sshape is not None and max(len(sshape), 1) != max(len(ishape), 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    if wrong:
        msg = (f"Expected index {shape_str(ishape)} to be no larger than self {shape_str(shape)} "
               f"apart from dimension {d}")
        if sshape is not None:
            msg += f" and to be no larger size than src {shape_str(sshape)}"
        raise RuntimeError(msg)


def _scatter_args(fn: str, input, dim, index, src) -> tuple:
    """(wrapped dim, int64 index array) after PyTorch's checks of a scatter-like call."""
    d = wrap_dim(int_arg(dim, fn, "dim", 2), input._data.ndim)
    idx = _index(index, "scatter")
    if src is not None and src._dtype is not input._dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if idx.size:
        _scatter_check(input._data.shape, d, idx.shape, None if src is None else src._data.shape)
        check_bounds(idx, size1(input._data.shape, d), d)
    return d, idx


# --- NumPy forwards ----------------------------------------------------------------------
def _flat0(a: np.ndarray) -> np.ndarray:
    return a.reshape(1) if a.ndim == 0 else a


def _scatter_np(a: np.ndarray, d: int, idx: np.ndarray, src, ufunc=None) -> np.ndarray:
    """a copy of a with src (an array, or a scalar) written (or combined by ufunc) at idx."""
    out = a.copy()
    if idx.size == 0:
        return out
    o = _flat0(out)  # a view: writes land in out
    i = _flat0(idx)
    key = scatter_key(i, d)
    if isinstance(src, np.ndarray):
        src = crop(_flat0(src), i.shape)
    if ufunc is None:
        o[key] = src
    else:
        ufunc.at(o, key, src)
    return out


def _identity(reduce: str, dt: np.dtype):
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    if dt.kind == "f" or dt.kind == "c":
        return -np.inf if reduce == "amax" else np.inf
    if dt.kind == "b":
        return reduce != "amax"
    info = np.iinfo(dt)
    return info.min if reduce == "amax" else info.max


_UFUNCS = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum,
           "amin": np.minimum}


def _scatter_reduce_np(a, d, idx, src, reduce: str, include_self: bool) -> np.ndarray:
    out = a.copy()
    if idx.size == 0:
        return out
    o = _flat0(out)
    i = _flat0(idx)
    key = scatter_key(i, d)
    s = crop(_flat0(src), i.shape)
    if not include_self:
        o[key] = _identity(reduce, o.dtype)
    with np.errstate(all="ignore"):  # NaNs propagate through amax / amin, as in PyTorch
        _UFUNCS[reduce].at(o, key, s)
    if reduce == "mean":
        cnt = np.full(o.shape, 1 if include_self else 0, dtype=np.int64)
        np.add.at(cnt, key, 1)
        cnt[cnt == 0] = 1
        if o.dtype.kind in "fc":
            o /= cnt.astype(o.dtype)
        else:
            np.floor_divide(o, cnt, out=o, casting="unsafe")
    return out


# --- nodes -------------------------------------------------------------------------------
class ScatterBackward1(Node):
    # out = x with value at index: d x = g with zeros at index (self-adjoint projection)
    __slots__ = ("dim", "index")

    def vjp(self, g):
        return scatter_value(g, self.dim, self.index, 0)

    def jvp(self, tx):
        return scatter_value(tx, self.dim, self.index, 0)


class ScatterBackward0(Node):
    # out = x with src written at index: d x = g zeroed at index, d src = g gathered at index
    __slots__ = ("dim", "index")

    def vjp(self, g):
        nx, ns = self._next
        gx = scatter_value(g, self.dim, self.index, 0) if nx[0] is not None else None
        gs = gather_along(g, self.dim, self.index) if ns[0] is not None else None
        return gx, gs

    def jvp(self, tx, ts):
        # out = x with src written at index: t_out = t_x with t_src written at index (only
        # the part of src that the index covers is read)
        from .._creation import zeros

        (xshape, xdt), (sshape, sdt) = self._in_meta
        tx = zeros(xshape, dtype=xdt) if tx is None else tx
        ts = zeros(sshape, dtype=sdt) if ts is None else ts
        return _scatter_src(tx, self.dim, self.index, ts)


class DelayedError(Node):
    """Passes its input through; differentiating it raises (PyTorch's DelayedError)."""

    __slots__ = ("msg",)

    def vjp(self, g):
        raise RuntimeError(self.msg)


def _delayed_error(t: Tensor, msg: str) -> Tensor:
    node = new_node(DelayedError, (t,))
    if node is None:
        return t
    node.msg = msg
    return wrap(t._data, node)


class ScatterReduceBackward0(Node):
    """PyTorch's scatter_reduce_backward (torch/csrc/autograd/FunctionsManual.cpp):
      sum:  d x = g, d src = gather(g)
      mean: N = count of values reduced at each position (1 where none): d x = g / N,
            d src = gather(g / N)
      prod: d x = g * (product of the others), computed as the result of the reduction over
            x with its zeros replaced by 1, divided by that x; d src likewise, a src that is
            the only zero of its position taking the product of the others directly
      amax/amin: g shared evenly among the values (of x and src) equal to the result
    With include_self=False, x's entries at index take no part: d x is zero there."""

    __slots__ = ("dim", "index", "reduce", "include_self")

    def vjp(self, g):
        out, x, src = self.saved_tensors()
        d, idx, red, inc = self.dim, self.index, self.reduce, self.include_self
        dt = x.dtype
        if red == "sum":
            gx, gs = g, gather_along(g, d, idx)
        elif red == "mean":
            n = scatter_add_along(x.new_ones(x.shape) if inc else x.new_zeros(x.shape), d, idx,
                                  src.new_ones(src.shape))
            n = masked_fill(n, n == 0, 1)
            gx = g / n
            gs = gather_along(g, d, idx) / gather_along(n, d, idx)
        elif red == "prod" and dt.is_complex:
            gx, gs, nzeros = _prod_grads_complex(g, out, x, src, d, idx, inc)
        elif red == "prod":
            mf = masked_fill
            masked_x = mf(x, x == 0, 1)
            gx = g * _scatter_reduce(masked_x, d, idx, src, red, inc) / masked_x
            src_zero = src == 0
            nzeros = gather_along(
                scatter_add_along(None, d, idx, src_zero.to(dt), tuple(x.shape)), d, idx)
            single = src_zero & (nzeros == 1)
            masked_src_result = _scatter_reduce(x, d, idx, mf(src, single, 1), red, inc)
            gs = where(single, gather_along(g * masked_src_result, d, idx),
                       gather_along(g * out, d, idx) / mf(src, src_zero, 1))
            if _state.enabled and bool((nzeros > 1).any()):
                gs = _delayed_error(gs, "scatter_reduce(): Double backward is unsupported for "
                                        "src when >1 zeros in src are scattered to the same "
                                        "position in self")
        else:  # amax / amin
            value = gather_along(out, d, idx)
            x_is = x == out
            src_is = src == value
            n = scatter_add_along(x_is.to(dt), d, idx, src_is.to(dt))
            gd = g / n
            gx = x_is * gd
            gs = src_is * gather_along(gd, d, idx)
        if not inc:
            gx = scatter_value(gx, d, idx, 0)
        nx, ns = self._next
        return (gx if nx[0] is not None else None), (gs if ns[0] is not None else None)


def _prod_grads_complex(g, out, x, src, d, idx, inc) -> tuple:
    """(d x, d src, zero counts) of prod on complex values. The product is holomorphic in each
    factor, with derivative p the product of the other factors, so each factor's gradient is
    g conj(p) (conjugate-Wirtinger); p is found as in the real rule (zeros masked to 1), and
    the zeros of src scattered to each position are counted in the real dtype."""
    mf = masked_fill
    masked_x = mf(x, x == 0, 1)
    gx = g * (_scatter_reduce(masked_x, d, idx, src, "prod", inc) / masked_x).conj()
    src_zero = src == 0
    count = scatter_add_along(None, d, idx, src_zero.to(x.dtype.to_real()), tuple(x.shape))
    nzeros = gather_along(count, d, idx)
    single = src_zero & (nzeros == 1)
    masked_src_result = _scatter_reduce(x, d, idx, mf(src, single, 1), "prod", inc)
    gs = where(single, gather_along(g * masked_src_result.conj(), d, idx),
               gather_along(g * out.conj(), d, idx) / mf(src, src_zero, 1).conj())
    return gx, gs, nzeros


# --- internal differentiable primitives (arguments already checked) ----------------------
def scatter_value(x: Tensor, dim: int, index: np.ndarray, value) -> Tensor:
    """x with the number `value` written at index along dim (ScatterBackward1)."""
    if type(x) is not Tensor:  # a batch of cotangents (vmap): the index repeated per sample
        b = batched_cotangent(x)
        if b is not None:
            p = b[0]
            n = p.shape[0]
            i = index.reshape(1) if index.ndim == 0 else index  # 0-d tensors act as (1,)
            if p.dim() == 1:
                r = scatter_value(p.reshape(n, 1), 1, np.broadcast_to(i, (n,) + i.shape),
                                  value).reshape(n)
            else:
                r = scatter_value(p, dim + 1, np.broadcast_to(i, (n,) + i.shape), value)
            return rebatch(r, b[1])
    r = _scatter_np(x._data, dim, index, value)
    node = new_node(ScatterBackward1, (x,))
    if node is not None:
        node.dim, node.index = dim, index
    return wrap(r, node)


def _scatter_src(x: Tensor, dim: int, index: np.ndarray, src: Tensor) -> Tensor:
    r = _scatter_np(x._data, dim, index, src._data)
    node = new_node(ScatterBackward0, (x, src))
    if node is not None:
        node.dim, node.index = dim, index
    return wrap(r, node)


def _scatter_reduce(x: Tensor, dim: int, index: np.ndarray, src: Tensor, reduce: str,
                    include_self: bool) -> Tensor:
    r = _scatter_reduce_np(x._data, dim, index, src._data, reduce, include_self)
    node = new_node(ScatterReduceBackward0, (x, src))
    out = wrap(r, node)
    if node is not None:
        node.dim, node.index, node.reduce, node.include_self = dim, index, reduce, include_self
        save_out(node, out, x, src)
    return out


# --- public API --------------------------------------------------------------------------
def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False,  # noqa: A002
           out: Tensor | None = None) -> Tensor:
    """Values of input along dim at the positions in index: out[i][j] = input[index[i][j]][j]
    for dim 0 (index has input's number of dims; its shape is the result's).

    >>> import tapegrad
    >>> x = tapegrad.tensor([[1., 2.], [3., 4.]])
    >>> tapegrad.gather(x, 1, tapegrad.tensor([[0, 0], [1, 0]]))
    tensor([[1., 1.],
            [4., 3.]])
    """
    d = wrap_dim(int_arg(dim, "gather", "dim", 2), input._data.ndim)
    idx = _index(index, "gather")
    shape = input._data.shape
    if idx.size:
        _gather_check(shape, d, idx.shape)
        check_bounds(idx, size1(shape, d), d)
    res = gather_along(input, d, idx)
    return copy_out(out, res) if out is not None else res


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None,  # noqa: A002
            reduce: str | None = None, out: Tensor | None = None) -> Tensor:
    """input with src's values (or one number, `value`) written at index along dim:
    out[index[i][j]][j] = src[i][j] for dim 0. With repeated indices the last write wins.
    `reduce='add'` / `'multiply'` combine instead (deprecated; see scatter_reduce).

    >>> import tapegrad
    >>> tapegrad.zeros(3).scatter(0, tapegrad.tensor([2, 0]), tapegrad.tensor([5., 6.]))
    tensor([6., 0., 5.])
    """
    if value is None and src is not None and not isinstance(src, Tensor):
        src, value = None, src  # scatter(x, dim, index, 2.0): the value overload
    if (src is None) == (value is None):
        got = ", ".join(_tp_name(a) for a in (input, dim, index))
        got += "".join(f", {k}={_tp_name(v)}" for k, v in (("src", src), ("value", value))
                       if v is not None)
        sig = " * (Tensor input, int dim, Tensor index, {}, *, {}Tensor out = None)\n"
        raise TypeError(
            f"scatter() received an invalid combination of arguments - got ({got}), but "
            "expected one of:\n" + "".join(sig.format(a, r) for a in ("Tensor src", "Number value")
                                          for r in ("", "str reduce, ")))
    if reduce is not None and reduce not in ("add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    d, idx = _scatter_args("scatter", input, dim, index, src)
    if src is not None:
        if reduce is None:
            res = _scatter_src(input, d, idx, src)
        else:
            warn_once(_SCATTER_REDUCE_WARNING)
            res = _scatter_legacy(input, d, idx, src._data, reduce, src)
    else:
        v = fill_value(value, input._dtype, "scatter", 1)
        if reduce is None:
            res = scatter_value(input, d, idx, v)
        else:
            res = _scatter_legacy(input, d, idx, v, reduce)
    return copy_out(out, res) if out is not None else res


def _scatter_legacy(x, d, idx, s, reduce, src=None):
    """scatter(..., reduce=): no derivative in PyTorch (a NotImplemented node)."""
    r = _scatter_np(x._data, d, idx, s, np.add if reduce == "add" else np.multiply)
    return _nondiff("scatter", r, x, src)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor, *,  # noqa: A002
                out: Tensor | None = None) -> Tensor:
    """input with src's values added at index along dim (repeated indices accumulate):
    out[index[i][j]][j] += src[i][j] for dim 0.

    >>> import tapegrad
    >>> tapegrad.zeros(3).scatter_add(0, tapegrad.tensor([2, 2, 0]), tapegrad.ones(3))
    tensor([1., 0., 2.])
    """
    src = tensor_arg(src, "scatter_add", "src", 4)
    d, idx = _scatter_args("scatter_add", input, dim, index, src)
    res = scatter_add_along(input, d, idx, src)
    return copy_out(out, res) if out is not None else res


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor,  # noqa: A002
                   reduce: str, *, include_self: bool = True,
                   out: Tensor | None = None) -> Tensor:
    """input with src's values reduced into it at index along dim, by "sum", "prod", "mean",
    "amax" or "amin"; with include_self=False input's own values at those positions are left
    out of the reduction.

    >>> import tapegrad
    >>> x = tapegrad.tensor([1., 2., 3.])
    >>> x.scatter_reduce(0, tapegrad.tensor([0, 0, 2]), tapegrad.tensor([5., 7., 1.]), "amax")
    tensor([7., 2., 3.])
    """
    if out is None:
        return _scatter_reduce_checked(input, dim, index, src, reduce, include_self, True)
    if _state.enabled and any(isinstance(t, Tensor) and t._requires_grad
                              for t in (input, src, out)):
        raise RuntimeError("scatter_reduce(): functions with out=... arguments don't support "
                           "automatic differentiation, but one of the arguments requires grad.")
    return copy_out(out, _scatter_reduce_checked(input, dim, index, src, reduce, include_self,
                                                 False))


def _scatter_reduce_checked(input, dim, index, src, reduce, include_self,  # noqa: A002
                            refuse_complex: bool) -> Tensor:
    src = tensor_arg(src, "scatter_reduce", "src", 4)
    if reduce not in _REDUCES:
        raise RuntimeError("reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    d, idx = _scatter_args("scatter_reduce", input, dim, index, src)
    if input._dtype.is_complex:
        # PyTorch's CPU kernels have no amax / amin of complex values (an empty index runs no
        # kernel); the out-of-place form computes complex results but refuses to record them
        if idx.size and (reduce == "amax" or reduce == "amin"):
            raise NotImplementedError(f'"scatter_gather_tensor_cpu_reduce_{reduce}" not '
                                      f"implemented for '{input._dtype._short}'")
        if refuse_complex:
            refuse_complex_autograd("scatter_reduce", input, src)
    return _scatter_reduce(input, d, idx, src, reduce, bool(include_self))


def _scatter_reduce_recorded(input, dim, index, src, reduce, *, include_self=True):  # noqa: A002
    """scatter_reduce as scatter_reduce_ records it: complex values too (PyTorch refuses to
    record only the out-of-place form)."""
    return _scatter_reduce_checked(input, dim, index, src, reduce, include_self, False)


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None, *,  # noqa: A002
                   out: Tensor | None = None) -> Tensor:
    """Values of input at indices along dim, input and indices broadcast over the other dims
    (NumPy's take_along_axis); without dim, both are flattened first.

    >>> import tapegrad
    >>> x = tapegrad.tensor([[10., 30., 20.], [60., 40., 50.]])
    >>> tapegrad.take_along_dim(x, x.argmax(1, keepdim=True), 1)
    tensor([[30.],
            [60.]])
    """
    indices = tensor_arg(indices, "take_along_dim", "indices", 2)
    if dim is None:
        res = gather(input.view(-1), 0, indices.view(-1))
        return copy_out(out, res) if out is not None else res
    if indices._dtype is not D.int64:
        raise RuntimeError("tapegrad.take_along_dim(): dtype of indices should be Long but got "
                           f"{indices._dtype._short}")
    n, k = input._data.ndim, indices._data.ndim
    if n != k:
        raise RuntimeError(
            "tapegrad.take_along_dim(): input and indices should have the same number of "
            f"dimensions, but got {n} dimensions for input, and {k} dimensions for indices")
    d = wrap_dim(dim, n)
    xs, js = list(input._data.shape), list(indices._data.shape)
    if n:
        xs[d], js[d] = js[d], xs[d]
    ib = broadcast_pair(tuple(xs), indices._data.shape)
    xb = broadcast_pair(tuple(js), input._data.shape)
    x = input if xb == input._data.shape else input.expand(xb)
    j = indices if ib == indices._data.shape else indices.expand(ib)
    res = gather(x, d, j)
    return copy_out(out, res) if out is not None else res


# --- in-place forms (tensors outside the graph) ------------------------------------------
_inplace = inplace_of


scatter_ = _inplace(scatter, "scatter_")
scatter_add_ = _inplace(scatter_add, "scatter_add_")
scatter_reduce_ = _inplace(_scatter_reduce_recorded, "scatter_reduce_")

METHODS = {"gather": method(gather), "scatter": method(scatter),
           "scatter_add": method(scatter_add), "scatter_reduce": method(scatter_reduce),
           "take_along_dim": method(take_along_dim), "scatter_": scatter_,
           "scatter_add_": scatter_add_, "scatter_reduce_": scatter_reduce_}

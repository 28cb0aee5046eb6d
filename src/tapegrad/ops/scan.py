"""Scans along a dim: cumsum, cumprod, cummax, cummin, logcumsumexp, and diff.

Reverse pairs, closed under reverse: cumsum <-> reversed cumsum (the sum over k >= i),
logcumsumexp <-> reversed logcumsumexp, cummax / cummin -> scatter-add <-> gather
(ops/_gather.py). cumprod's rule is written in cumsum, cumprod and where, so it differentiates
again. Floating scans accumulate in double precision and round each output, as PyTorch's CPU
kernels do.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .. import return_types
from .._tensor import Tensor, _tp_name, _wrap_dim
from ..autograd import grad_mode
from ..autograd.graph import Node
from ._complex_util import log1p_c
from ._core import as_tensor_arg, batched_cotangent, new_node, rebatch, save, save_out, wrap
from ._gather import select_backward
from ._selectutil import contiguous, int_arg, method, not_implemented
from .binary import where

__all__ = ["cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "diff"]

_state = grad_mode.state
# accumulate in a wider type, as PyTorch's acc_type on CPU (float -> double)
_WIDE = {np.dtype(np.float16): np.float64, np.dtype(np.float32): np.float64,
         np.dtype(np.complex64): np.complex128}


def _scan_np(ufunc, a: np.ndarray, d: int, reverse: bool = False) -> np.ndarray:
    if a.ndim == 0:
        return a.copy()
    w = _WIDE.get(a.dtype)
    src = a if w is None else a.astype(w)
    if reverse:
        src = np.flip(src, d)
    with np.errstate(all="ignore"):  # overflow to inf / wrap-around, as PyTorch, silently
        r = ufunc.accumulate(src, axis=d, dtype=src.dtype)  # NumPy would widen small ints
        if reverse:
            r = np.flip(r, d)
        return r.astype(a.dtype) if w is not None else contiguous(r)


def _out(res: Tensor, out) -> Tensor:
    if out is None:
        return res
    from .inplace import copy_out

    return copy_out(out, res)


# --- cumsum ----------------------------------------------------------------------------------
class CumsumBackward0(Node):
    # out_k = sum_{j<=k} x_j, so grad_i = sum_{k>=i} g_k: the reversed cumsum of g (and the
    # rule of a reversed cumsum is a forward one)
    __slots__ = ("dim", "reverse")

    def vjp(self, g):
        return _cumsum(g, self.dim, not self.reverse)


def _cumsum(x: Tensor, d: int, reverse: bool) -> Tensor:
    """cumsum of a tensor along a wrapped dim, forward or reversed (sum over k >= i)."""
    if type(x) is not Tensor:  # a batch of cotangents under vmap: the dim behind the batch
        b = batched_cotangent(x)
        if b is not None:  # (a 0-d x acts as one of shape (1,))
            p = b[0]
            if p.dim() == 1:
                return rebatch(_cumsum(p.unsqueeze(1), 1, reverse).squeeze(1), b[1])
            return rebatch(_cumsum(p, d + 1, reverse), b[1])
    node = new_node(CumsumBackward0, (x,))
    if node is not None:
        node.dim, node.reverse = d, reverse
    return wrap(_scan_np(np.add, x._data, d, reverse), node)


def _acc_dtype(x: Tensor, dtype):
    if dtype is not None:
        return dtype
    return D.int64 if x._dtype.category < D.FLOAT else x._dtype


def cumsum(input, dim, *, dtype=None, out=None) -> Tensor:  # noqa: A002
    """Cumulative sum along dim; integers and bools accumulate in int64.

    >>> import tapegrad
    >>> tapegrad.tensor([1., 2., 3.]).cumsum(0)
    tensor([1., 3., 6.])
    """
    input = as_tensor_arg(input)  # noqa: A001
    a = input._data
    d = _wrap_dim(int_arg(dim, "cumsum", "dim", 2), a.ndim)
    dt = _acc_dtype(input, dtype)
    if a.dtype != dt.np:
        a = a.astype(dt.np)
    node = new_node(CumsumBackward0, (input,))
    if node is not None:
        node.dim, node.reverse = d, False
    return _out(wrap(_scan_np(np.add, a, d), node), out)


# --- cumprod ---------------------------------------------------------------------------------
class CumprodBackward0(Node):
    """grad_i = sum_{k>=i} g_k prod_{j<=k, j!=i} x_j.

    Without zeros that is revcumsum(g * out)_i / x_i. With zeros (z the first zero along dim):
    for i < z the same formula holds (x_i != 0); for i == z the products skip x_z, which is
    revcumsum(g * cumprod(x with x_z set to 1))_z; for i > z they all hold x_z = 0, so 0. When
    the rule itself is being differentiated (create_graph) with zeros present, the i > z terms
    still have non-zero derivatives, so all of grad is built as a polynomial in x instead,
    O(n^2) along dim, as PyTorch does then.
    """

    __slots__ = ("dim",)

    def vjp(self, g):
        out, x = self.saved_tensors()
        if not x._data.ndim:
            return g
        if x._dtype is not out._dtype:
            x = x.to(out._dtype)
        return _cumprod_grad(g, x, out, self.dim)


def _conj(t: Tensor, cplx: bool) -> Tensor:
    return t.conj() if cplx else t


def _cumprod_grad(g: Tensor, x: Tensor, out: Tensor, d: int) -> Tensor:
    cplx = x._dtype.category == D.COMPLEX
    zero = x == 0
    if not bool(zero.sum()):
        return _cumsum(g * _conj(out, cplx), d, True) / _conj(x, cplx)
    if _state.enabled and (x._requires_grad or g._requires_grad):
        return _cumprod_grad_poly(g, x, d, cplx)
    nz = cumsum(zero, d)
    before = nz == 0
    first = zero & (nz == 1)
    a = _cumsum(g * _conj(out, cplx), d, True) / _conj(where(before, x, 1.0), cplx)
    b = _cumsum(g * _conj(cumprod(where(first, 1.0, x), d), cplx), d, True)
    return where(before, a, where(first, b, 0.0))


def _cumprod_grad_poly(g: Tensor, x: Tensor, d: int, cplx: bool) -> Tensor:
    # P[i, k] = prod_{j<=k} (x_j, with x_i replaced by 1); grad_i = sum_{k>=i} g_k P[i, k]
    n = x._data.shape[d]
    eye = wrap(np.eye(n, dtype=bool))
    upper = wrap(np.triu(np.ones((n, n), dtype=bool)))  # [i, k]: k >= i
    p = cumprod(where(eye, 1.0, x.movedim(d, -1).unsqueeze(-2)), -1)
    terms = _conj(p, cplx) * g.movedim(d, -1).unsqueeze(-2)
    return where(upper, terms, 0.0).sum(-1).movedim(-1, d)


def cumprod(input, dim, *, dtype=None, out=None) -> Tensor:  # noqa: A002
    """Cumulative product along dim; its gradient is exact with zeros in the input.

    >>> import tapegrad
    >>> tapegrad.tensor([1., 2., 3.]).cumprod(0)
    tensor([1., 2., 6.])
    """
    input = as_tensor_arg(input)  # noqa: A001
    a = input._data
    d = _wrap_dim(int_arg(dim, "cumprod", "dim", 2), a.ndim)
    dt = _acc_dtype(input, dtype)
    if a.dtype != dt.np:
        a = a.astype(dt.np)
    node = new_node(CumprodBackward0, (input,))
    res = wrap(_scan_np(np.multiply, a, d), node)
    if node is not None:
        node.dim = d
        save_out(node, res, input)
    return _out(res, out)


def _inplace_scan(fn):
    def op(self, dim, *, dtype=None):
        from .inplace import apply_inplace

        return apply_inplace(self, fn, (dim,), {"dtype": dtype})

    op.__name__ = fn.__name__ + "_"
    op.__doc__ = f"In-place {fn.__name__} along dim."
    return op


# --- cummax / cummin -------------------------------------------------------------------------
class CummaxBackward0(Node):
    # out_k = x[idx_k]: g_k goes back to position idx_k; positions picked by several k add up
    __slots__ = ("dim",)

    def vjp(self, g):
        (idx,) = self.saved_tensors()
        return select_backward(g, self._in_meta[0][0], self.dim, idx, True, unique=False)


class CumminBackward0(CummaxBackward0):
    __slots__ = ()


def _cum_extreme(name, input, dim, ufunc, node_cls, rtype):
    input = as_tensor_arg(input)  # noqa: A001
    a = input._data
    d = _wrap_dim(int_arg(dim, name, "dim", 2), a.ndim)
    if input._dtype.category == D.COMPLEX:
        raise not_implemented(f"{name}_cpu", input)
    if a.ndim == 0 or a.size == 0:
        vals, idx = a.copy(), np.zeros(a.shape, np.int64)
    else:
        vals = ufunc.accumulate(a, axis=d)
        # PyTorch's loop: `if (isnan(x) || (!isnan(out) && x >= out)) {out = x; idx = i;}` (<=
        # for cummin). So position k keeps the index of the last j <= k with x_j == out_j
        # (ties take the latest), or of the last NaN once a NaN has been seen.
        hit = a == vals
        if a.dtype.kind == "f":
            hit |= np.isnan(a)
        pos = np.arange(a.shape[d], dtype=np.int64).reshape((-1,) + (1,) * (a.ndim - 1 - d))
        idx = np.maximum.accumulate(np.where(hit, pos, 0), axis=d)
    indices = wrap(idx)
    node = new_node(node_cls, (input,))
    if node is not None:
        node.dim = d
        save(node, indices)
    return rtype((wrap(vals, node), indices))


def cummax(input, dim) -> return_types.cummax:  # noqa: A002
    """Running maximum along dim and the index it came from (ties: the latest; NaN wins).

    >>> import tapegrad
    >>> tapegrad.tensor([1., 3., 2., 3.]).cummax(0).indices
    tensor([0, 1, 1, 3])
    """
    return _cum_extreme("cummax", input, dim, np.maximum, CummaxBackward0, return_types.cummax)


def cummin(input, dim) -> return_types.cummin:  # noqa: A002
    """Running minimum along dim and the index it came from (ties: the latest; NaN wins).

    >>> import tapegrad
    >>> tapegrad.tensor([3., 1., 2., 1.]).cummin(0).values
    tensor([3., 1., 1., 1.])
    """
    return _cum_extreme("cummin", input, dim, np.minimum, CumminBackward0, return_types.cummin)


# --- logcumsumexp ----------------------------------------------------------------------------
class LogcumsumexpBackward0(Node):
    """grad_i = sum_{k>=i} g_k exp(x_i - out_k), computed in log space as PyTorch does: split g
    by sign, exp(x_i + rlcse(log|g| - out)_i) for each part (rlcse: logcumsumexp over k >= i,
    whose own rule is a forward logcumsumexp)."""

    __slots__ = ("dim", "reverse")

    def vjp(self, g):
        out, x = self.saved_tensors()
        if not x._data.ndim:
            return g
        if type(g) is not Tensor:  # a batch of cotangents (vmap): out and x broadcast over it
            b = batched_cotangent(g)
            if b is not None:
                return rebatch(self._grad(b[0], out, x, self.dim + 1), b[1])
        return self._grad(g, out, x, self.dim)

    def _grad(self, g: Tensor, out: Tensor, x: Tensor, dim: int) -> Tensor:
        rev = not self.reverse
        low = float(np.finfo(g._data.dtype).min)  # PyTorch's stand-in for log(0)
        if x._dtype.is_complex:
            # out_k = log sum_{j<=k} exp(x_j) is holomorphic, d out_k / d x_i = exp(x_i - out_k),
            # so grad_i = sum_{k>=i} g_k conj(exp(x_i - out_k))
            #           = conj(exp(x_i + rlcse(log(conj g) - out)_i)): no split by sign needed.
            # g == 0 is masked to `low` (as the real rule does), so that the second derivative
            # there is 0 rather than the NaN of log's derivative at 0 (which PyTorch returns)
            zero = g == 0
            log_g = where(zero, low, where(zero, 1.0, g).conj().log())
            return (_logcumsumexp(log_g - out, dim, rev) + x).exp().conj()
        log_abs = where(g == 0, 1.0, g).abs().log()  # g == 0 masked: no 0 * inf later
        pos = (_logcumsumexp(where(g > 0, log_abs, low) - out, dim, rev) + x).exp()
        neg = (_logcumsumexp(where(g < 0, log_abs, low) - out, dim, rev) + x).exp()
        return pos - neg


def _logaddexp_c(x: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """log(exp(x) + exp(acc)) for complex arrays, as PyTorch's CPU kernel takes it (which fixes
    the branch of the imaginary part): with lo / hi the one of smaller / larger real part (on a
    tie lo is acc), the result is hi + log1p(exp(lo - hi)); a NaN anywhere gives nan + nanj;
    where both real parts are the same infinity, -inf gives lo and +inf log(exp(lo) + exp(hi))."""
    first = x.real < acc.real
    lo = np.where(first, x, acc)
    hi = np.where(first, acc, x)
    with np.errstate(all="ignore"):
        r = log1p_c(np.exp(lo - hi)) + hi
        same_inf = ~np.isfinite(lo.real) & (lo.real == hi.real)
        if same_inf.any():
            both = np.log(np.exp(lo) + np.exp(hi))
            r = np.where(same_inf, np.where(lo.real < 0, lo, both), r)
    nan = np.isnan(x) | np.isnan(acc)  # (complex isnan: either part)
    if nan.any():
        r = np.where(nan, complex(np.nan, np.nan), r)
    return r


def _logcumsumexp_c_np(a: np.ndarray, d: int, reverse: bool) -> np.ndarray:
    """The complex scan, one step along d at a time from acc = -inf + 0j (complex64 carried
    in complex128, as PyTorch's acc_type, each output rounded)."""
    if a.ndim == 0:
        return a.copy()
    src = np.moveaxis(a.astype(np.complex128), d, 0)
    if reverse:
        src = src[::-1]
    res = np.empty(src.shape, np.complex128)
    acc = np.full(src.shape[1:], complex(-np.inf, 0.0))
    for i in range(src.shape[0]):
        acc = _logaddexp_c(src[i], acc)
        res[i] = acc
    if reverse:
        res = res[::-1]
    return np.ascontiguousarray(np.moveaxis(res, 0, d)).astype(a.dtype, copy=False)


def _logcumsumexp(x: Tensor, d: int, reverse: bool) -> Tensor:
    if x._dtype.is_complex:
        r = _logcumsumexp_c_np(x._data, d, reverse)
    else:
        r = _scan_np(np.logaddexp, x._data, d, reverse)
    node = new_node(LogcumsumexpBackward0, (x,))
    res = wrap(r, node)
    if node is not None:
        node.dim, node.reverse = d, reverse
        save_out(node, res, x)
    return res


def logcumsumexp(input, dim, *, out=None) -> Tensor:  # noqa: A002
    """log(cumsum(exp(input))) along dim, computed stably.

    >>> import tapegrad
    >>> tapegrad.tensor([0., 0., 0.]).logcumsumexp(0)
    tensor([0.0000, 0.6931, 1.0986])
    """
    input = as_tensor_arg(input)  # noqa: A001
    d = _wrap_dim(int_arg(dim, "logcumsumexp", "dim", 2), input._data.ndim)
    if out is not None and _state.enabled and (input._requires_grad or out._requires_grad):
        raise RuntimeError("logcumsumexp(): functions with out=... arguments don't support "
                           "automatic differentiation, but one of the arguments requires grad.")
    if input._dtype.category < D.FLOAT:
        raise not_implemented("logcumsumexp_out_cpu", input)
    return _out(_logcumsumexp(input, d, False), out)


# --- diff ------------------------------------------------------------------------------------
class CopyBackwards(Node):
    __slots__ = ()

    def vjp(self, g):
        return g


def diff(input, n=1, dim=-1, prepend=None, append=None) -> Tensor:  # noqa: A002
    """The n-th forward difference along dim (input[i + 1] - input[i], n times), after
    concatenating prepend / append along dim. Bools take logical_xor.

    >>> import tapegrad
    >>> tapegrad.tensor([1., 4., 9., 16.]).diff()
    tensor([3., 5., 7.])
    """
    from .compare import logical_xor
    from .indexing import narrow
    from .join import cat

    input = as_tensor_arg(input)  # noqa: A001
    n = int_arg(n, "diff", "n", 2)
    dim = int_arg(dim, "diff", "dim", 3)
    for arg, t in (("prepend", prepend), ("append", append)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"diff(): argument '{arg}' must be Tensor, not {_tp_name(t)}")
    a = input._data
    if a.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    d = _wrap_dim(dim, a.ndim)
    parts = [t for t in (prepend, input, append) if t is not None]
    for t in parts:
        if t._data.ndim != a.ndim:
            raise RuntimeError("diff expects prepend or append to be the same dimension as input")
        for k in range(a.ndim):
            if k != d and t._data.shape[k] != a.shape[k]:
                raise RuntimeError(
                    "diff expects the shape of tensor to prepend or append to match that of "
                    "input except along the differencing dimension; input.size("
                    f"{k}) = {a.shape[k]}, but got tensor.size({k}) = {t._data.shape[k]}")
    x = cat(parts, d) if len(parts) > 1 else input
    if n == 0:  # PyTorch: zeros_like(x).copy_(x)
        return wrap(x._data.copy(), new_node(CopyBackwards, (x,)))
    length = x._data.shape[d]
    for _ in range(min(n, length)):
        length -= 1
        hi, lo = narrow(x, d, 1, length), narrow(x, d, 0, length)
        x = logical_xor(hi, lo) if x._dtype is D.bool else hi - lo
    return x


METHODS = {
    "cumsum": method(cumsum), "cumprod": method(cumprod), "cummax": method(cummax),
    "cummin": method(cummin), "logcumsumexp": method(logcumsumexp), "diff": method(diff),
    "cumsum_": method(_inplace_scan(cumsum)), "cumprod_": method(_inplace_scan(cumprod)),
}

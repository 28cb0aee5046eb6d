"""Statistical reductions: var, std, var_mean, std_mean, logsumexp, prod."""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap_dim
from ..autograd.graph import Node
from ._core import as_tensor_arg, new_node, save, save_out, wrap
from .binary import where
from .reduction import reduce_dims, restore_dims

__all__ = ["var", "std", "var_mean", "std_mean", "logsumexp", "prod"]

_int_types = (int, np.integer)
_INF = math.inf


def _numel(shape, dims) -> int:
    n = 1
    for d in dims:
        n *= shape[d] if shape else 1
    return n


def _axis(a, dims):
    """NumPy axis for reducing `dims` of a (None for a 0-dim array)."""
    return dims if a.ndim else None


# --- var / std ------------------------------------------------------------------------------
_VAR_SIGS = (
    " * (tuple of ints dim, bool unbiased = True, bool keepdim = False)\n"
    " * (tuple of ints dim = None, *, Number correction = None, bool keepdim = False)\n"
    " * (bool unbiased = True)\n"
)


def _var_args(name, dim, unbiased, correction):
    """(dims argument, correction, full) from PyTorch's three var/std overloads."""
    if isinstance(dim, bool):  # var(True): the (bool unbiased) overload
        if unbiased is not None or correction is not None:
            raise TypeError(f"{name}() received an invalid combination of arguments - got "
                            f"(bool, correction={type(correction).__name__}), but expected one "
                            f"of:\n{_VAR_SIGS}")
        unbiased, dim = dim, None
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}() received an invalid combination of arguments - got "
                        f"(correction={type(correction).__name__}, unbiased=bool, ), but "
                        f"expected one of:\n{_VAR_SIGS}")
    if correction is None:
        correction = 0 if unbiased is False else 1
    if isinstance(dim, float):
        raise TypeError(f"{name}() received an invalid combination of arguments - got (float), "
                        f"but expected one of:\n{_VAR_SIGS}")
    if isinstance(dim, _int_types):
        dim = (dim,)
    return dim, correction


def _var_forward(name, x: Tensor, dim, correction, keepdim):
    """(variance array, dims) computed in two passes; warns as PyTorch when dof <= 0."""
    if x._dtype.category < D.FLOAT:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    a = x._data
    dims = reduce_dims(dim, a.ndim)
    n = _numel(a.shape, dims)
    dof = n - correction
    if dof <= 0:
        warnings.warn(
            f"{name}(): degrees of freedom is <= 0. Correction should be strictly less than the "
            "reduction factor (input numel divided by output numel).",
            UserWarning, stacklevel=4,
        )
    axis = _axis(a, dims)
    with np.errstate(all="ignore"):
        mean = a.sum(axis=axis, keepdims=True) / n
        dev = a - mean
        sq = dev.real * dev.real + dev.imag * dev.imag if np.iscomplexobj(dev) else dev * dev
        ss = np.asarray(sq.sum(axis=axis, keepdims=keepdim))
        r = np.asarray(ss / ss.dtype.type(max(dof, 0)))
    if not keepdim and a.ndim == 0:
        r = r.reshape(())
    return r, mean, dims


def _var_grad(g, x, shape, dims, keepdim, correction, full):
    """d var / dx = 2 (x - mean) / (n - correction), g brought back to the input's rank."""
    g = restore_dims(g, shape, dims, keepdim)
    dof = _numel(shape, dims) - correction
    if full and dof <= 0:
        # PyTorch: inf where x differs from the mean, nan (inf * 0) where it equals it
        return g * where(x == x.mean(), math.nan, _INF)
    scale = 2.0 / dof if dof != 0 else _INF
    return g * (x - x.mean(dims, keepdim=True)) * scale


class VarBackward0(Node):
    __slots__ = ("dims", "keepdim", "correction", "full")

    def vjp(self, g):
        (x,) = self.saved_tensors()
        return _var_grad(g, x, self._in_meta[0][0], self.dims, self.keepdim, self.correction,
                         self.full)


class StdBackward0(VarBackward0):
    # std = sqrt(var): g_var = g / (2 std), taken as 0 where std == 0 (constant slices)
    __slots__ = ()

    def vjp(self, g):
        out, x = self.saved_tensors()
        gv = where(out == 0, 0.0, g / (out * 2))
        return _var_grad(gv, x, self._in_meta[0][0], self.dims, self.keepdim, self.correction,
                         self.full)


def _var_impl(name, input, dim, unbiased, keepdim, correction, node_cls):
    input = as_tensor_arg(input)  # noqa: A001
    full = dim is None or isinstance(dim, bool)
    dim, correction = _var_args(name, dim, unbiased, correction)
    r, _, dims = _var_forward(name, input, dim, correction, keepdim)
    if node_cls is StdBackward0:
        r = np.sqrt(r)
    node = new_node(node_cls, (input,))
    res = wrap(r, node)
    if node is not None:
        node.dims, node.keepdim, node.correction, node.full = dims, keepdim, correction, full
        if node_cls is StdBackward0:
            save_out(node, res, input)
        else:
            save(node, input)
    return res


def var(input, dim=None, unbiased=None, keepdim: bool = False, *,  # noqa: A002
        correction=None) -> Tensor:
    """Variance over dim (all elements by default), dividing by n - correction (default 1).

    >>> import tapegrad
    >>> tapegrad.tensor([1., 2., 3., 4.]).var()
    tensor(1.6667)
    """
    return _var_impl("var", input, dim, unbiased, keepdim, correction, VarBackward0)


def std(input, dim=None, unbiased=None, keepdim: bool = False, *,  # noqa: A002
        correction=None) -> Tensor:
    """Standard deviation over dim: sqrt(var); its gradient is 0 where std is 0.

    >>> import tapegrad
    >>> tapegrad.tensor([1., 2., 3., 4.]).std(correction=0)
    tensor(1.1180)
    """
    return _var_impl("std", input, dim, unbiased, keepdim, correction, StdBackward0)


class VarMeanBackward0(Node):
    """One node for both outputs (var, mean): either gradient may be missing."""

    __slots__ = ("dims", "keepdim", "correction", "full")
    n_outputs = 2

    def _gvar(self, gv, saved):
        return gv

    def vjp(self, gv, gm):
        saved = self.saved_tensors()
        x = saved[-1]
        shape = self._in_meta[0][0]
        res = None
        if gv is not None:
            gv = self._gvar(gv, saved)
            res = _var_grad(gv, x, shape, self.dims, self.keepdim, self.correction, self.full)
        if gm is not None:
            gmx = restore_dims(gm, shape, self.dims, self.keepdim).expand(shape)
            gmx = gmx / _numel(shape, self.dims)
            res = gmx if res is None else res + gmx
        return res


class StdMeanBackward0(VarMeanBackward0):
    __slots__ = ()

    def _gvar(self, g, saved):
        out = saved[0]
        return where(out == 0, 0.0, g / (out * 2))


def _var_mean_impl(name, input, dim, unbiased, keepdim, correction, node_cls):
    input = as_tensor_arg(input)  # noqa: A001
    full = dim is None or isinstance(dim, bool)
    dim, correction = _var_args(name, dim, unbiased, correction)
    r, mean, dims = _var_forward(name, input, dim, correction, keepdim)
    if node_cls is StdMeanBackward0:
        r = np.sqrt(r)
    if not keepdim:
        mean = mean.reshape(r.shape)
    node = new_node(node_cls, (input,))
    res = wrap(r, node)
    m = wrap(mean, node)
    if node is not None:
        m._output_nr = 1
        node.dims, node.keepdim, node.correction, node.full = dims, keepdim, correction, full
        if node_cls is StdMeanBackward0:
            save_out(node, res, input)
        else:
            save(node, input)
    return res, m


def var_mean(input, dim=None, unbiased=None, keepdim: bool = False, *,  # noqa: A002
             correction=None) -> tuple:
    """(var, mean) over dim in one pass, as `var` and `mean` would give them.

    >>> import tapegrad
    >>> tapegrad.var_mean(tapegrad.tensor([1., 2., 3., 4.]))
    (tensor(1.6667), tensor(2.5000))
    """
    return _var_mean_impl("var_mean", input, dim, unbiased, keepdim, correction,
                          VarMeanBackward0)


def std_mean(input, dim=None, unbiased=None, keepdim: bool = False, *,  # noqa: A002
             correction=None) -> tuple:
    """(std, mean) over dim in one pass."""
    return _var_mean_impl("std_mean", input, dim, unbiased, keepdim, correction,
                          StdMeanBackward0)


# --- logsumexp ------------------------------------------------------------------------------
class LogsumexpBackward0(Node):
    # d/dx log(sum(exp(x))) = exp(x - out)
    __slots__ = ("dims", "keepdim")

    def vjp(self, g):
        out, x = self.saved_tensors()
        shape = self._in_meta[0][0]
        g = restore_dims(g, shape, self.dims, self.keepdim)
        out = restore_dims(out, shape, self.dims, self.keepdim)
        return g * (x - out).exp().conj()  # (conjugated for complex x, PyTorch's convention)


def logsumexp(input, dim, keepdim: bool = False, *, out=None) -> Tensor:  # noqa: A002
    """log(sum(exp(input))) over dim, computed stably by shifting by the maximum.

    >>> import tapegrad
    >>> tapegrad.logsumexp(tapegrad.tensor([1000., 1000.]), 0)
    tensor(1000.6932)
    """
    input = as_tensor_arg(input)  # noqa: A001
    a = input._data
    if input._dtype.category < D.FLOAT:
        a = a.astype(D._defaults.float.np)
    if isinstance(dim, _int_types):
        dim = (dim,)
    dims = reduce_dims(dim, a.ndim)
    axis = _axis(a, dims)
    with np.errstate(all="ignore"):
        m = np.max(a, axis=axis, keepdims=True, initial=-_INF) if a.size else \
            np.zeros((1,) * a.ndim, dtype=a.dtype)
        m = np.where(np.isinf(m), 0, m).astype(a.dtype, copy=False)
        r = np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m
    if not keepdim:
        r = r.reshape(tuple(s for i, s in enumerate(r.shape) if i not in dims))
    node = new_node(LogsumexpBackward0, (input,))
    res = wrap(np.asarray(r), node)
    if node is not None:
        node.dims, node.keepdim = dims, keepdim
        save_out(node, res, input)
    if out is not None:
        from .inplace import copy_out

        return copy_out(out, res)
    return res


# --- prod -----------------------------------------------------------------------------------
def _prod_others(x: Tensor, out: Tensor, dim) -> Tensor:
    """The product of all elements but each one (along dim, or of all elements), exact with zeros.

    Without zeros it is out / x. With zeros, write x = xs * xz where xs is x with its zeros
    replaced by 1 and xz is x with its non-zeros replaced by 1. Then
    others = A * B, A = prod(xs) / xs (xs has no zeros), and B = the product of xz over the
    other elements: prod(xz) away from the zeros, and at a zero the product of the *other*
    zeros: 1 when the slice has one zero, the other zero (S - x, S the sum of the zeros' x) when
    it has two. These are polynomial identities, so derivatives of any order are exact. With
    three or more zeros B is 0 there with a zero derivative, which keeps the gradient and the
    second derivative of prod exact (higher ones are not).
    """
    z = x == 0
    if int(z.sum()) == 0:
        return out / x
    xs = where(z, 1.0, x)
    xz = where(z, x, 1.0)
    if dim is None:
        a = xs.prod() / xs
        bn = xz.prod()
        nz = z.sum()
        s = where(z, x, 0.0).sum()
    else:
        a = xs.prod(dim, keepdim=True) / xs
        bn = xz.prod(dim, keepdim=True)
        nz = z.sum(dim, keepdim=True)
        s = where(z, x, 0.0).sum(dim, keepdim=True)
    if int(nz.max()) == 1:
        bz = 1.0
    else:
        bz = where(nz == 1, 1.0, where(nz == 2, s - x, 0.0))
    return a * where(z, bz, bn)


class ProdBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        out, x = self.saved_tensors()
        if not x.ndim:
            return g
        if x._dtype is not out._dtype:
            x = x.to(out._dtype)
        return g * _prod_others(x, out, None).conj()  # (conj: a no-op for real x)


class ProdBackward1(Node):
    __slots__ = ("dim", "keepdim")

    def vjp(self, g):
        out, x = self.saved_tensors()
        if not x.ndim:
            return g
        if x._dtype is not out._dtype:
            x = x.to(out._dtype)
        if not self.keepdim:
            g = g.unsqueeze(self.dim)
            out = out.unsqueeze(self.dim)
        return g * _prod_others(x, out, self.dim).conj()


def prod(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """Product of all elements, or along one dim; integers multiply in int64.

    >>> import tapegrad
    >>> tapegrad.tensor([[1., 2.], [3., 4.]]).prod(1)
    tensor([ 2., 12.])
    """
    return _prod(input, dim, keepdim, dtype, False)


def _prod_method(self, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    return _prod(self, dim, keepdim, dtype, True)


_prod_method.__doc__ = prod.__doc__


def _prod(input, dim, keepdim, dtype, method):  # noqa: A002
    input = as_tensor_arg(input)  # noqa: A001
    if dtype is None:
        dtype = D.int64 if input._dtype.category < D.FLOAT else input._dtype
    a = input._data
    if a.dtype != dtype.np:
        a = a.astype(dtype.np)
    if dim is None:
        r = np.asarray(a.prod(dtype=a.dtype))
        node = new_node(ProdBackward0, (input,))
    else:
        if not isinstance(dim, _int_types):
            t = type(dim).__name__
            if method:
                sigs = (f"({t}), but expected one of:\n * (*, tapegrad.dtype dtype = None)\n * "
                        "(int dim, bool keepdim = False, *, tapegrad.dtype dtype = None)\n")
            else:
                sigs = (f"(Tensor, {t}), but expected one of:\n * (Tensor input, *, tapegrad.dtype "
                        "dtype = None)\n * (Tensor input, int dim, bool keepdim = False, *, "
                        "tapegrad.dtype dtype = None, Tensor out = None)\n")
            raise TypeError(f"prod() received an invalid combination of arguments - got {sigs}")
        d = _wrap_dim(dim, a.ndim)
        r = np.asarray(a.prod(axis=d, keepdims=keepdim, dtype=a.dtype)) if a.ndim else a.copy()
        node = new_node(ProdBackward1, (input,))
        if node is not None:
            node.dim, node.keepdim = d, keepdim
    res = wrap(r, node)
    if node is not None:
        save_out(node, res, input)
    return res


METHODS = {"var": var, "std": std, "logsumexp": logsumexp, "prod": _prod_method}

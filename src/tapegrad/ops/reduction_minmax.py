"""Reductions that select values: max, min, amax, amin, argmax, argmin.

Gradient conventions (PyTorch's):
- the full reductions `max()` / `min()` (MaxBackward1 / MinBackward1) and `amax` / `amin`
  (AmaxBackward0 / AminBackward0) split the gradient evenly among all elements equal to the
  result (ties share it; for max()/min() a nan result sends it to the nans);
- `max(dim)` / `min(dim)` (MaxBackward0 / MinBackward0) send it all to the one element whose
  index they return (the first occurrence of the extreme value, or of a nan).
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .. import return_types
from .._creation import arange
from .._tensor import Tensor, _wrap_dim
from ..autograd.graph import Node
from ._core import as_tensor_arg, new_node, save, save_out, wrap
from .binary import maximum, minimum
from .reduction import reduce_dims, restore_dims

__all__ = ["max", "min", "amax", "amin", "argmax", "argmin"]

_int_types = (int, np.integer)


# --- full reductions: ties share the gradient evenly ---------------------------------------
class MaxBackward1(Node):
    # d max(x) / dx = mask / count(mask), mask = (x == max(x)), or isnan(x) when max(x) is nan
    __slots__ = ()

    def vjp(self, g):
        out, x = self.saved_tensors()
        mask = (x == out) | (x.isnan() & out.isnan())
        return mask * (g / mask.sum())


class MinBackward1(MaxBackward1):
    __slots__ = ()


# --- reductions over a dim: the gradient goes to the index returned -------------------------
class MaxBackward0(Node):
    # g is scattered to `indices` along dim: built as g * (arange(n) == indices), a one-hot mask
    __slots__ = ("dim", "keepdim")

    def vjp(self, g):
        (idx,) = self.saved_tensors()
        shape = self._in_meta[0][0]
        if not shape:
            return g
        d = self.dim
        if not self.keepdim:
            g = g.unsqueeze(d)
            idx = idx.unsqueeze(d)
        pos = arange(shape[d]).reshape(tuple(-1 if i == d else 1 for i in range(len(shape))))
        return g * (pos == idx)


class MinBackward0(MaxBackward0):
    __slots__ = ()


class AmaxBackward0(Node):
    # ties share evenly: g / count(x == out) along the reduced dims, times the mask
    __slots__ = ("dims", "keepdim")

    def vjp(self, g):
        out, x = self.saved_tensors()
        shape = self._in_meta[0][0]
        mask = x == restore_dims(out, shape, self.dims, self.keepdim)
        g = restore_dims(g, shape, self.dims, self.keepdim)
        if not shape:
            return g * mask
        return (g / mask.sum(self.dims, keepdim=True)) * mask


class AminBackward0(AmaxBackward0):
    __slots__ = ()


def _type_desc(v) -> str:
    if isinstance(v, tuple):
        names = [type(e).__name__ for e in v]
        return "tuple of (" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"
    return type(v).__name__


def _bad_args(name: str, method: bool, arg=None, keepdim_only: bool = False) -> TypeError:
    """PyTorch's message for max/min called with arguments no overload takes."""
    if method:
        if keepdim_only:
            got, why = "keepdim=bool, ", "some of the keywords were incorrect: keepdim"
        else:
            got = type(arg).__name__
            why = f"some of the arguments have invalid types: (!{_type_desc(arg)}!)"
        return TypeError(
            f"{name}() received an invalid combination of arguments - got ({got}), but expected "
            f"one of:\n * ()\n      didn't match because {why}\n * (Tensor other)\n      didn't "
            f"match because {why}\n * (int dim, bool keepdim = False)\n"
        )
    got = "Tensor, keepdim=bool" if keepdim_only else f"Tensor, {type(arg).__name__}"
    return TypeError(
        f"{name}() received an invalid combination of arguments - got ({got}), but expected one "
        f"of:\n * (Tensor input, *, Tensor out = None)\n * (Tensor input, Tensor other, *, "
        f"Tensor out = None)\n * (Tensor input, int dim, bool keepdim = False, *, tuple of "
        f"Tensors out = None)\n"
    )


def _empty_full(name: str, extra: bool = True) -> str:
    msg = f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
    if extra:
        msg += " Specify the reduction dim with the 'dim' argument."
    return msg


def _extreme(name, input, dim, keepdim, other, out, method):
    pick, arg_np, full_node, dim_node, rtype = _KINDS[name]
    if other is not None or isinstance(dim, Tensor):
        if keepdim is not None:
            raise TypeError(f"{name}(): argument 'dim' (position 1) must be int, not Tensor")
        res = pick(input, other if other is not None else dim)
        return res if out is None else _copy_out(out, res)
    input = as_tensor_arg(input)  # noqa: A001
    a = input._data
    if dim is None:
        if keepdim is not None:
            raise _bad_args(name, method, keepdim_only=True)
        if input._dtype.category == D.COMPLEX:
            raise NotImplementedError(f'"{name}_all" not implemented for '
                                      f"'{input._dtype._short}'")
        if a.size == 0:
            raise RuntimeError(_empty_full(name))
        r = np.asarray(a.max() if name == "max" else a.min())
        node = new_node(full_node, (input,))
        res = wrap(r, node)
        if node is not None:
            save_out(node, res, input)
        return res if out is None else _copy_out(out, res)
    if not isinstance(dim, _int_types):
        raise _bad_args(name, method, dim)
    keepdim = bool(keepdim)
    if input._dtype.category == D.COMPLEX:
        raise RuntimeError(f"{name}(): does not support complex input")
    d = _wrap_dim(dim, a.ndim)
    if a.ndim == 0:
        vals, idx = a.copy(), np.zeros((), dtype=np.int64)
    else:
        if a.shape[d] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
        idx = arg_np(a, axis=d, keepdims=True)
        vals = np.take_along_axis(a, idx, axis=d)
        if not keepdim:
            idx = idx.squeeze(d)
            vals = vals.squeeze(d)
        idx = idx.astype(np.int64, copy=False)
    indices = wrap(idx)
    node = new_node(dim_node, (input,))
    if node is not None:
        node.dim, node.keepdim = d, keepdim
        save(node, indices)
    res = rtype((wrap(vals, node), indices))
    if out is not None:
        _copy_out(out[0], res[0])
        _copy_out(out[1], res[1])
        return rtype(tuple(out))
    return res


def _copy_out(out, res):
    from .inplace import copy_out

    return copy_out(out, res)


def max(input, dim=None, keepdim=None, *, other=None, out=None):  # noqa: A001,A002
    """The largest element; with dim, (values, indices) along dim; with a tensor, maximum.

    >>> import tapegrad
    >>> x = tapegrad.tensor([[1., 5.], [7., 2.]])
    >>> x.max()
    tensor(7.)
    >>> x.max(1).indices
    tensor([1, 0])
    """
    return _extreme("max", input, dim, keepdim, other, out, False)


def min(input, dim=None, keepdim=None, *, other=None, out=None):  # noqa: A001,A002
    """The smallest element; with dim, (values, indices) along dim; with a tensor, minimum.

    >>> import tapegrad
    >>> tapegrad.tensor([[1., 5.], [7., 2.]]).min(0)
    tapegrad.return_types.min(
    values=tensor([1., 2.]),
    indices=tensor([0, 1]))
    """
    return _extreme("min", input, dim, keepdim, other, out, False)


_KINDS = {
    "max": (maximum, np.argmax, MaxBackward1, MaxBackward0, return_types.max),
    "min": (minimum, np.argmin, MinBackward1, MinBackward0, return_types.min),
}


def _max_method(self, dim=None, keepdim=None, *, other=None, out=None):
    return _extreme("max", self, dim, keepdim, other, out, True)


def _min_method(self, dim=None, keepdim=None, *, other=None, out=None):
    return _extreme("min", self, dim, keepdim, other, out, True)


_max_method.__doc__ = max.__doc__
_min_method.__doc__ = min.__doc__


def _amax_like(name, input, dim, keepdim, np_fn, node_cls):
    input = as_tensor_arg(input)  # noqa: A001
    a = input._data
    if input._dtype.category == D.COMPLEX:
        kernel = "max_values" if name == "amax" else "min_values"
        raise NotImplementedError(f'"{kernel}_cpu" not implemented for \'{input._dtype._short}\'')
    if isinstance(dim, _int_types):
        dim = (dim,)
    dims = reduce_dims(dim, a.ndim)
    if a.size == 0:
        if not dim:
            raise RuntimeError(_empty_full(name))
        for given in dim:
            if a.shape[_wrap_dim(given, a.ndim)] == 0:
                raise IndexError(
                    f"{name}(): Expected reduction dim {given} to have non-zero size."
                )
    if a.ndim == 0:
        r = a.copy()
    else:
        r = np.asarray(np_fn(a, axis=dims, keepdims=keepdim))
    node = new_node(node_cls, (input,))
    res = wrap(r, node)
    if node is not None:
        node.dims, node.keepdim = dims, keepdim
        save_out(node, res, input)
    return res


def amax(input, dim=(), keepdim: bool = False, *, out=None) -> Tensor:  # noqa: A002
    """Maximum over dim (an int or tuple; () means all), ties sharing the gradient.

    >>> import tapegrad
    >>> tapegrad.amax(tapegrad.tensor([[1., 5.], [7., 2.]]), 1)
    tensor([5., 7.])
    """
    res = _amax_like("amax", input, dim, keepdim, np.max, AmaxBackward0)
    return res if out is None else _copy_out(out, res)


def amin(input, dim=(), keepdim: bool = False, *, out=None) -> Tensor:  # noqa: A002
    """Minimum over dim (an int or tuple; () means all), ties sharing the gradient."""
    res = _amax_like("amin", input, dim, keepdim, np.min, AminBackward0)
    return res if out is None else _copy_out(out, res)


def _arg(name, input, dim, keepdim, np_fn):
    input = as_tensor_arg(input)  # noqa: A001
    a = input._data
    if input._dtype.category == D.COMPLEX:
        raise RuntimeError(f"{name}(): does not support complex input")
    if input._dtype is D.bool:
        raise RuntimeError(f"{name}(): does not support bool input")
    if dim is None:
        if a.size == 0:
            raise IndexError(_empty_full(name, extra=False))
        r = np.asarray(np_fn(a), dtype=np.int64)
        if keepdim:
            r = r.reshape((1,) * a.ndim)
        return wrap(r)
    if not isinstance(dim, _int_types):
        raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__}")
    d = _wrap_dim(dim, a.ndim)
    if a.ndim == 0:
        return wrap(np.zeros((), dtype=np.int64))
    if a.shape[d] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    return wrap(np.asarray(np_fn(a, axis=d, keepdims=keepdim), dtype=np.int64))


def argmax(input, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A002
    """Index of the largest element (of the flattened tensor when dim is None); first on ties.

    >>> import tapegrad
    >>> tapegrad.tensor([[1., 5.], [7., 2.]]).argmax(1)
    tensor([1, 0])
    """
    return _arg("argmax", input, dim, keepdim, np.argmax)


def argmin(input, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A002
    """Index of the smallest element (of the flattened tensor when dim is None); first on ties."""
    return _arg("argmin", input, dim, keepdim, np.argmin)


METHODS = {"max": _max_method, "min": _min_method, "amax": amax, "amin": amin, "argmax": argmax,
           "argmin": argmin}

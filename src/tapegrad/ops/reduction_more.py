"""More reductions: any, all, count_nonzero (no gradients), nansum, nanmean, aminmax, and
quantile / nanquantile (composites of sort, gather and arithmetic, as PyTorch computes them).
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .. import return_types
from .._tensor import Tensor, _tp_name, _wrap_dim
from ..autograd.graph import Node, SavedTensor
from ._core import as_tensor_arg, new_node, save, wrap
from ._gather import gather_along
from ._selectutil import int_arg, method, not_implemented
from .binary import where
from .reduction import reduce_dims, restore_dims

__all__ = ["any", "all", "count_nonzero", "nansum", "nanmean", "aminmax", "quantile",
           "nanquantile"]

_int_types = (int, np.integer)


def _out(res: Tensor, out) -> Tensor:
    if out is None:
        return res
    from .inplace import copy_out

    return copy_out(out, res)


# --- any / all / count_nonzero ---------------------------------------------------------------
def _logical(np_fn, input, dim, keepdim, out):
    input = as_tensor_arg(input)  # noqa: A001
    a = input._data
    odt = np.uint8 if a.dtype == np.uint8 else np.bool_  # PyTorch keeps uint8 for uint8 input
    if isinstance(dim, (tuple, list)) and len(dim) == 0:  # no dims given: nothing reduced
        return _out(wrap((a != 0).astype(odt)), out)
    dims = reduce_dims(dim, a.ndim)
    if a.ndim == 0:
        r = np.asarray(np_fn(a))
    else:
        r = np.asarray(np_fn(a, axis=dims, keepdims=bool(keepdim)))
    return _out(wrap(r.astype(odt, copy=False)), out)


def any(input, dim=None, keepdim: bool = False, *, out=None) -> Tensor:  # noqa: A001,A002
    """Whether any element (along dim: an int or a tuple) is non-zero.

    >>> import tapegrad
    >>> tapegrad.tensor([[0., 1.], [0., 0.]]).any(1)
    tensor([ True, False])
    """
    return _logical(np.any, input, dim, keepdim, out)


def all(input, dim=None, keepdim: bool = False, *, out=None) -> Tensor:  # noqa: A001,A002
    """Whether every element (along dim: an int or a tuple) is non-zero.

    >>> import tapegrad
    >>> tapegrad.tensor([[0., 1.], [2., 3.]]).all(1)
    tensor([False,  True])
    """
    return _logical(np.all, input, dim, keepdim, out)


def count_nonzero(input, dim=None) -> Tensor:  # noqa: A002
    """The number of non-zero elements, over all dims or those in dim (int64).

    >>> import tapegrad
    >>> tapegrad.tensor([[0., 1.], [2., 3.]]).count_nonzero(0)
    tensor([1, 2])
    """
    input = as_tensor_arg(input)  # noqa: A001
    a = input._data
    dims = reduce_dims(dim, a.ndim)
    if a.ndim == 0:
        return wrap(np.asarray(int(a != 0), dtype=np.int64))
    return wrap(np.asarray(np.count_nonzero(a, axis=dims), dtype=np.int64))


# --- nansum / nanmean ------------------------------------------------------------------------
class NansumBackward0(Node):
    # d/dx nansum(x) = 1 where x is not NaN, 0 at the NaNs (PyTorch multiplies by that mask)
    __slots__ = ("dims", "keepdim")

    def vjp(self, g):
        (x,) = self.saved_tensors()
        shape = self._in_meta[0][0]
        g = restore_dims(g, shape, self.dims, self.keepdim).expand(shape)
        return g * x.isnan().logical_not()


def nansum(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """Sum treating NaNs as zero; integers and bools sum in int64.

    >>> import tapegrad
    >>> tapegrad.tensor([1., float('nan'), 2.]).nansum()
    tensor(3.)
    """
    input = as_tensor_arg(input)  # noqa: A001
    if input._dtype.category == D.COMPLEX:
        raise RuntimeError("nansum on CPU does not support complex inputs")
    dt = dtype or (D.int64 if input._dtype.category < D.FLOAT else input._dtype)
    a = input._data
    if a.dtype != dt.np:
        a = a.astype(dt.np)
    dims = reduce_dims(dim, a.ndim)
    r = np.asarray(np.nansum(a, axis=dims if a.ndim else None, keepdims=bool(keepdim),
                             dtype=dt.np))
    node = new_node(NansumBackward0, (input,))
    if node is not None:
        node.dims, node.keepdim = dims, bool(keepdim)
        save(node, input)
    return wrap(r, node)


def nanmean(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """Mean of the non-NaN elements: nansum(input) / (number of non-NaNs).

    >>> import tapegrad
    >>> tapegrad.tensor([1., float('nan'), 2.]).nanmean()
    tensor(1.5000)
    """
    input = as_tensor_arg(input)  # noqa: A001
    if input._dtype.category < D.FLOAT:
        raise RuntimeError("nanmean(): expected input to have floating point or complex dtype "
                           f"but got {input._dtype._short}")
    count = input.isnan().logical_not().sum(dim, keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / count


# --- aminmax ---------------------------------------------------------------------------------
class AminmaxBackward0(Node):
    # each output's gradient is split evenly among the elements equal to it (as amin / amax);
    # a NaN result matches nothing, so its slice gets NaN (0 / 0), as in PyTorch
    __slots__ = ("dims", "keepdim")
    n_outputs = 2

    def vjp(self, gmin, gmax):
        mn, mx, x = self.saved_tensors()
        shape = self._in_meta[0][0]
        res = None
        for g, v in ((gmin, mn), (gmax, mx)):
            if g is None:
                continue
            if not shape:
                part = g
            else:
                mask = x == restore_dims(v, shape, self.dims, self.keepdim)
                g = restore_dims(g, shape, self.dims, self.keepdim)
                part = (g / mask.sum(self.dims, keepdim=True)) * mask
            res = part if res is None else res + part
        return res


def aminmax(input, *, dim=None, keepdim: bool = False) -> return_types.aminmax:  # noqa: A002
    """(min, max) over all elements, or along dim, in one pass.

    >>> import tapegrad
    >>> tapegrad.aminmax(tapegrad.tensor([[1., 5.], [7., 2.]]), dim=1)
    tapegrad.return_types.aminmax(
    min=tensor([1., 2.]),
    max=tensor([5., 7.]))
    """
    input = as_tensor_arg(input)  # noqa: A001
    a = input._data
    if input._dtype.category == D.COMPLEX:
        raise not_implemented("aminmax_cpu", input)
    if dim is None:
        if a.size == 0:
            raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the "
                               "operation has no identity.")
        dims = tuple(range(a.ndim))
    else:
        d = _wrap_dim(int_arg(dim, "aminmax", "dim"), a.ndim)
        if a.ndim and a.shape[d] == 0:
            raise IndexError(f"aminmax: Expected reduction dim {d} to have non-zero size.")
        dims = (d,) if a.ndim else ()
    if a.ndim == 0:
        mn, mx = a.copy(), a.copy()
    else:
        mn = np.asarray(np.min(a, axis=dims, keepdims=bool(keepdim)))
        mx = np.asarray(np.max(a, axis=dims, keepdims=bool(keepdim)))
    node = new_node(AminmaxBackward0, (input,))
    tmin, tmax = wrap(mn, node), wrap(mx, node)
    if node is not None:
        tmax._output_nr = 1
        node.dims, node.keepdim = dims, bool(keepdim)
        node._saved = (SavedTensor(tmin, True), SavedTensor(tmax, True), SavedTensor(input))
    return return_types.aminmax((tmin, tmax))


def _aminmax_method(self, *args, dim=None, keepdim: bool = False) -> return_types.aminmax:
    if args:
        n = len(args)
        raise TypeError(f"aminmax() takes 0 positional arguments but {n} "
                        f"{'was' if n == 1 else 'were'} given")
    return aminmax(self, dim=dim, keepdim=keepdim)


# --- quantile / nanquantile ------------------------------------------------------------------
_MODES = ("linear", "lower", "higher", "midpoint", "nearest")


class SqueezeBackward4(Node):
    # the in-place squeeze_(dim) quantile ends with in PyTorch: its rule unsqueezes
    __slots__ = ("dim",)

    def vjp(self, g):
        return g.unsqueeze(self.dim)


def _squeeze_last(t: Tensor) -> Tensor:
    node = new_node(SqueezeBackward4, (t,))
    if node is not None:
        node.dim = t._data.ndim - 1
    return wrap(t._data.reshape(t._data.shape[:-1]), node)


def _quantile_sigs() -> str:
    tail = ('int dim = None, bool keepdim = False, *, str interpolation = "linear", '
            "Tensor out = None")
    return (f" * (Tensor input, Tensor q, {tail})\n * (Tensor input, float q, {tail})\n")


def _bad_quantile(fn, got: str) -> TypeError:
    return TypeError(f"{fn}() received an invalid combination of arguments - got ({got}), but "
                     f"expected one of:\n{_quantile_sigs()}")


def _quantile(fn, input, q, dim, keepdim, interpolation, ignore_nan, out):
    input = as_tensor_arg(input)  # noqa: A001
    a = input._data
    if isinstance(q, Tensor):
        qt = q
    elif isinstance(q, (float, _int_types, np.floating)):
        qv = float(q)
        if not 0 <= qv <= 1:
            raise RuntimeError(f"quantile() q must be in the range [0, 1] but got {qv:g}")
        qt = wrap(np.asarray(qv, dtype=a.dtype if a.dtype.kind == "f" else np.float32))
    else:
        raise _bad_quantile(fn, f"Tensor, {_tp_name(q)}")
    if dim is not None and (not isinstance(dim, _int_types) or isinstance(dim, bool)):
        raise _bad_quantile(fn, f"Tensor, {'Tensor' if isinstance(q, Tensor) else 'float'}, "
                                f"{_tp_name(dim)}")
    if not isinstance(interpolation, str):
        raise _bad_quantile(fn, f"Tensor, {'Tensor' if isinstance(q, Tensor) else 'float'}, "
                                f"interpolation={_tp_name(interpolation)}")
    if interpolation not in _MODES:
        raise RuntimeError("quantile() interpolation must be one of linear, lower, higher, "
                           f"midpoint or nearest, but got {interpolation}")
    if a.size == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    if qt._data.ndim > 1:
        raise RuntimeError("quantile() q must be a scalar or 1D tensor")
    if input._dtype not in (D.float32, D.float64):
        raise RuntimeError("quantile() input tensor must be either float or double dtype")
    if qt._dtype is not input._dtype:
        raise RuntimeError("quantile() q tensor must be same dtype as the input tensor")
    nd = a.ndim
    wd = _wrap_dim(0 if dim is None else int(dim), nd)
    qa = qt._data
    if not ((qa >= 0) & (qa <= 1)).all():
        raise RuntimeError("quantile() q values must be in the range [0, 1]")
    # output shape: q's size, then the reduced shape
    if dim is not None and nd > 0:
        red = tuple(1 if i == wd else s for i, s in enumerate(a.shape)) if keepdim else \
            tuple(s for i, s in enumerate(a.shape) if i != wd)
    else:
        red = (1,) * nd if keepdim else ()
    # sort along the reduced dim, moved last, and view as reduced shape + (n,)
    if dim is None:
        s = input.reshape(-1)
    elif wd == nd - 1:
        s = input
    else:
        s = input.unsqueeze(-1).transpose(wd, -1)
    from .sort import sort

    srt = sort(s).values
    n = srt._data.shape[-1]
    srt = srt.reshape(red + (n,))
    qv = qt.reshape(1) if qa.ndim == 0 else qt
    # ranks in [0, n): a slice with a NaN takes the last rank (its NaN) for quantile; for
    # nanquantile ranks count the non-NaN values only (rank 0, a NaN, when all are NaN)
    if ignore_nan:
        ranks = qv * (srt.isnan().logical_not().sum(-1, keepdim=True) - 1)
        ranks = where(ranks < 0, 0.0, ranks)
    else:
        ranks = where(any(srt.isnan(), -1, keepdim=True), float(n - 1), qv * (n - 1))
    r = ranks._data
    if interpolation == "lower":
        r = np.floor(r)
    elif interpolation == "higher":
        r = np.ceil(r)
    elif interpolation == "nearest":
        r = np.round(r)  # half to even, as PyTorch's round
    last = srt._data.ndim - 1
    below = r.astype(np.int64)
    res = gather_along(srt, last, below)
    if interpolation in ("linear", "midpoint"):
        above = gather_along(srt, last, np.ceil(r).astype(np.int64))
        if interpolation == "linear":
            w = ranks - wrap(below.astype(r.dtype))  # keeps q's graph: d/dq when q needs it
        else:
            w = wrap(np.full(r.shape, 0.5, dtype=r.dtype))
        diff = above - res
        # PyTorch's lerp: start + w (end - start) for w < 0.5, else end - (end - start)(1 - w)
        res = where(wrap(w._data < 0.5), res + w * diff, above - diff * (1 - w))
    if qa.ndim == 0:
        res = _squeeze_last(res)
    else:
        res = _squeeze_last(res.unsqueeze(0).transpose(0, -1))
    return _out(res, out)


def quantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear",  # noqa: A002
             out=None) -> Tensor:
    """The q-th quantiles of input (over all values, or along dim), interpolating between the
    two nearest ranks as `interpolation` says; NaN where a slice holds a NaN.

    >>> import tapegrad
    >>> tapegrad.tensor([0., 1., 2., 3.]).quantile(0.5)
    tensor(1.5000)
    """
    return _quantile("quantile", input, q, dim, keepdim, interpolation, False, out)


def nanquantile(input, q, dim=None, keepdim: bool = False, *,  # noqa: A002
                interpolation: str = "linear", out=None) -> Tensor:
    """quantile ignoring NaNs (NaN only where a slice is all NaN).

    >>> import tapegrad
    >>> tapegrad.tensor([0., float('nan'), 2.]).nanquantile(0.5)
    tensor(1.)
    """
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, True, out)


METHODS = {"any": any, "all": all, "count_nonzero": count_nonzero, "nansum": nansum,
           "nanmean": nanmean, "aminmax": _aminmax_method, "quantile": method(quantile),
           "nanquantile": method(nanquantile)}

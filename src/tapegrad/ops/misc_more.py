"""Assorted PyTorch ops: isin, bincount, histc, cartesian_prod, block_diag, trapezoid (trapz),
cumulative_trapezoid, cov, corrcoef, combinations.

The differentiable ones are compositions of tapegrad ops (so every order of derivative and
forward-mode AD follow), except block_diag, whose reverse slices each block back out of g.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make, _wrap_dim
from ..autograd.graph import Node
from ._core import new_node, promote, wrap

__all__ = [
    "isin", "bincount", "histc", "cartesian_prod", "block_diag", "trapezoid", "trapz",
    "cumulative_trapezoid", "cov", "corrcoef", "combinations",
]


def _g(v: float) -> str:
    """A number as C++ streams print it (6 significant digits)."""
    if v != v:
        return "-nan" if np.signbit(v) else "nan"
    return f"{v:g}"


# --- isin ----------------------------------------------------------------------------------
def isin(elements, test_elements, *, assume_unique: bool = False,
         invert: bool = False) -> Tensor:
    """Whether each of elements occurs in test_elements (a bool tensor shaped like elements).

    >>> import tapegrad
    >>> tapegrad.isin(tapegrad.tensor([1, 2, 3]), tapegrad.tensor([2, 5]))
    tensor([False,  True, False])
    """
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError(
            f"isin() received an invalid combination of arguments - got "
            f"({type(elements).__name__}, {type(test_elements).__name__}), but expected one of:\n"
            " * (Tensor elements, Tensor test_elements, *, bool assume_unique = False, "
            "bool invert = False, Tensor out = None)\n"
            " * (Number element, Tensor test_elements, *, bool assume_unique = False, "
            "bool invert = False, Tensor out = None)\n"
            " * (Tensor elements, Number test_element, *, bool assume_unique = False, "
            "bool invert = False, Tensor out = None)\n")
    for v in (elements, test_elements):
        dt = v._dtype if isinstance(v, Tensor) else D.scalar_dtype(v)
        if dt.category == D.COMPLEX or dt is D.bool:
            raise RuntimeError(f"Unsupported input type encountered for isin(): {dt._short}")
    dt = promote(elements, test_elements)
    a = np.asarray(elements._data if isinstance(elements, Tensor) else elements, dtype=dt.np)
    b = np.asarray(test_elements._data if isinstance(test_elements, Tensor) else test_elements,
                   dtype=dt.np)
    return _make(np.asarray(np.isin(a, b, invert=bool(invert))))


# --- bincount / histc -----------------------------------------------------------------------
def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:  # noqa: A002
    """Counts of each non-negative integer in the 1-D input (weighted sums with weights).

    >>> import tapegrad
    >>> tapegrad.bincount(tapegrad.tensor([1, 3, 3]))
    tensor([0, 1, 0, 2])
    """
    _check_int("bincount", "minlength", minlength)
    dt = input._dtype
    if dt.category != D.INT or dt is D.bool:
        raise NotImplementedError(f"\"bincount_cpu\" not implemented for '{dt._short}'")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    a = input._data
    if a.ndim != 1 or (a.size and a.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if weights is not None and (weights.dim() != 1 or weights._data.shape[0] != a.shape[0]):
        raise RuntimeError("weights should be 1-d and have the same length as input")
    n = max(int(a.max()) + 1 if a.size else 0, int(minlength))
    if weights is None:
        return _make(np.bincount(a.astype(np.int64), minlength=n).astype(np.int64))
    # float32 weights sum in float32's result type; every other weight dtype gives float64
    out_np = np.float32 if weights._dtype is D.float32 else np.float64
    out = np.zeros(n, dtype=np.float64)
    np.add.at(out, a.astype(np.int64), weights._data.astype(np.float64))
    return _make(out.astype(out_np))


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """Histogram of input in `bins` equal-width bins over [min, max] (the data's range when
    min == max); values outside the range are not counted.

    >>> import tapegrad
    >>> tapegrad.histc(tapegrad.tensor([1., 2., 1.]), bins=4, min=0, max=3)
    tensor([0., 2., 1., 0.])
    """
    _check_int("histc", "bins", bins)
    dt = input._dtype
    if dt.category != D.FLOAT:
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for '{dt._short}'")
    if bins <= 0:
        raise RuntimeError(
            f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0".replace(
                "torch.", "tapegrad."))
    lo, hi = float(min), float(max)
    if lo > hi:
        raise RuntimeError("tapegrad.histc: max must be larger than min")
    a = input._data.reshape(-1)
    if lo == hi and a.size:
        lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"tapegrad.histc: range of [{_g(lo)}, {_g(hi)}] is not finite")
    t = dt.np.type
    flo, fhi = t(lo), t(hi)
    keep = a[(a >= flo) & (a <= fhi)]
    # bin of x: floor((x - lo) * bins / (hi - lo)) in the input's precision; x == hi is last
    pos = ((keep - flo) * t(bins) / (fhi - flo)).astype(np.int64)
    pos[keep == fhi] = bins - 1
    np.clip(pos, 0, bins - 1, out=pos)
    return _make(np.bincount(pos, minlength=bins).astype(dt.np))


# --- cartesian_prod / combinations -----------------------------------------------------------
def _check_tensors(tensors) -> None:
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got "
                            f"{type(t).__name__}")


def _check_int(fn: str, name: str, v) -> None:
    if not isinstance(v, (int, np.integer)):
        raise TypeError(f"{fn}(): argument '{name}' must be int, not {type(v).__name__}")


def _check_1d(t: Tensor) -> None:
    if t.dim() != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """All tuples of one element from each 1-D tensor, as the rows of a matrix.

    >>> import tapegrad
    >>> tapegrad.cartesian_prod(tapegrad.tensor([1, 2]), tapegrad.tensor([3, 4]))
    tensor([[1, 3],
            [1, 4],
            [2, 3],
            [2, 4]])
    """
    from .join import stack
    from .shape_more import meshgrid

    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    _check_tensors(tensors)
    for t in tensors:
        _check_1d(t)
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([g.flatten() for g in grids], dim=1)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:  # noqa: A002
    """The length-r combinations of the 1-D input's elements, as rows (itertools order).

    >>> import tapegrad
    >>> tapegrad.combinations(tapegrad.tensor([1, 2, 3]))
    tensor([[1, 2],
            [1, 3],
            [2, 3]])
    """
    from .join import stack

    _check_int("combinations", "r", r)
    _check_1d(input)
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return _make(np.zeros(0, dtype=input._data.dtype))
    gen = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = np.array(list(gen(range(input.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    return stack([input[_make(np.ascontiguousarray(idx[:, k]))] for k in range(r)], dim=1)


# --- block_diag ----------------------------------------------------------------------------
class BlockDiagBackward0(Node):
    # the gradient of each block is g's slice at that block's place
    __slots__ = ("spans",)

    def vjp(self, g):
        out = []
        for (r0, c0, r, c), meta in zip(self.spans, self._in_meta):
            if meta is None:
                out.append(None)
                continue
            out.append(g[r0:r0 + r, c0:c0 + c].reshape(meta[0]))
        return tuple(out)


def block_diag(*tensors: Tensor) -> Tensor:
    """The tensors (0-, 1- or 2-D, viewed as matrices) placed corner to corner on a diagonal.

    >>> import tapegrad
    >>> tapegrad.block_diag(tapegrad.tensor([[1, 2]]), tapegrad.tensor(3))
    tensor([[1, 2, 0],
            [0, 0, 3]])
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    _check_tensors(tensors)
    mats = []
    for i, t in enumerate(tensors):
        if t.dim() > 2:
            raise RuntimeError(
                f"tapegrad.block_diag: Input tensors must have 2 or fewer dimensions. "
                f"Input {i} has {t.dim()} dimensions")
        mats.append(t._data.reshape((1, -1) if t.dim() < 2 else t._data.shape))
    dt = promote(*tensors) if tensors else D.get_default_dtype()
    rows, cols = sum(m.shape[0] for m in mats), sum(m.shape[1] for m in mats)
    out = np.zeros((rows if tensors else 1, cols), dtype=dt.np)
    spans, r0, c0 = [], 0, 0
    for m in mats:
        r, c = m.shape
        out[r0:r0 + r, c0:c0 + c] = m
        spans.append((r0, c0, r, c))
        r0, c0 = r0 + r, c0 + c
    node = new_node(BlockDiagBackward0, tensors) if tensors else None
    if node is not None:
        node.spans = spans
    return wrap(out, node)


# --- trapezoid / cumulative_trapezoid ---------------------------------------------------------
class MulBackward1(Node):
    # x * c for a number c
    __slots__ = ("other",)

    def vjp(self, g):
        return _mul_scalar(g, self.other)


class DivBackward1(Node):
    # x / c for a number c
    __slots__ = ("other",)

    def vjp(self, g):
        return _div_scalar(g, self.other)


def _scalar_result(x: Tensor, c, fn):
    dt = promote(x, c)
    return np.asarray(fn(x._data.astype(dt.np, copy=False), c), dtype=dt.np)


def _mul_scalar(x: Tensor, c) -> Tensor:
    node = new_node(MulBackward1, (x,))
    if node is not None:
        node.other = c
    return wrap(_scalar_result(x, c, np.multiply), node)


def _div_scalar(x: Tensor, c) -> Tensor:
    node = new_node(DivBackward1, (x,))
    if node is not None:
        node.other = c
    dt = promote(x, c)
    if dt.category < D.FLOAT:
        dt = D.get_default_dtype()
    return wrap(np.asarray(x._data.astype(dt.np) / c, dtype=dt.np), node)


def _x_steps(y: Tensor, x: Tensor, dim: int, name: str) -> Tensor:
    """The spacing x[i+1] - x[i] along dim, shaped to broadcast against y's pairs."""
    if x.dim() == 1:
        if x.shape[0] != y.shape[dim]:
            raise RuntimeError(f"{name}: There must be one `x` value for each sample point")
        shape = [1] * y.dim()
        shape[dim] = x.shape[0]
        x = x.view(shape)
    elif x.dim() < y.dim():
        x = x.view([1] * (y.dim() - x.dim()) + list(x.shape))
    n = x.shape[dim]
    return x.narrow(dim, min(n, 1), max(n - 1, 0)) - x.narrow(dim, 0, max(n - 1, 0))


def _pairs(y: Tensor, dim: int) -> Tensor:
    """y[..., :-1] + y[..., 1:] along dim (empty when y is)."""
    n = y.shape[dim]
    return y.narrow(dim, 0, max(n - 1, 0)) + y.narrow(dim, min(n, 1), max(n - 1, 0))


def _zeros_without(y: Tensor, dim: int) -> Tensor:
    from .._creation import zeros

    shape = [s for i, s in enumerate(y.shape) if i != dim]
    return zeros(shape, dtype=y.dtype)


_SIG_X = " * (Tensor y, Tensor x, *, int dim = -1)\n"
_SIG_DX = " * (Tensor y, *, Number dx = 1, int dim = -1)\n"


def _type_name(v) -> str:
    return "Tensor" if isinstance(v, Tensor) else type(v).__name__


def _spacing(name: str, y, x, dx, dim: int, sigs: str, real_dx: bool = False):
    """(x, dx) after PyTorch's overload checks: either a tensor x or a real number dx."""
    if isinstance(dx, Tensor) and dx.dim() == 0:
        dx = dx.item()
    ok = isinstance(y, Tensor) and (
        (isinstance(x, Tensor) and dx is None)
        or (x is None and (dx is None or isinstance(dx, (int, float, complex)))))
    if ok and real_dx and isinstance(dx, complex):
        ok = False
    if not ok:
        got = [_type_name(y)] + ([_type_name(x)] if x is not None else [])
        got += [f"dx={_type_name(dx)}"] if dx is not None else []
        got += [f"dim={_type_name(dim)}"] if dim != -1 else []
        raise TypeError(f"{name}() received an invalid combination of arguments - got "
                        f"({', '.join(got)}), but expected one of:\n{sigs}")
    if isinstance(dx, complex):
        raise RuntimeError(f"{name}: Currently, we only support dx as a real number.")
    return x, dx


def trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None,
              dim: int = -1) -> Tensor:
    """The trapezoidal rule along dim, with sample points x or a constant spacing dx.

    >>> import tapegrad
    >>> tapegrad.trapezoid(tapegrad.tensor([1., 2., 3.]))
    tensor(4.)
    """
    x, dx = _spacing("trapezoid", y, x, dx, dim, _SIG_X + _SIG_DX)
    return _trapezoid(y, x, dx, dim)


def _trapezoid(y: Tensor, x: Tensor | None, dx, dim: int) -> Tensor:
    dim = _wrap_dim(dim, y.dim())
    if x is None:
        if y.shape[dim] == 0:
            return _zeros_without(y, dim)
        if y._dtype is D.bool:
            raise RuntimeError(
                "trapezoid: received a bool input for `y`, but bool is not supported")
        # sum(y) - (y_0 + y_last) / 2, times dx
        edges = _mul_scalar(y.select(dim, 0) + y.select(dim, -1), 0.5)
        return _mul_scalar(y.sum(dim) - edges, 1 if dx is None else dx)
    if y.shape[dim] == 0:
        return _zeros_without(y, dim)
    if y._dtype is D.bool or x._dtype is D.bool:
        raise RuntimeError(
            "trapezoid: received a bool input for `x` or `y`, but bool is not supported")
    steps = _x_steps(y, x, dim, "trapezoid")
    return _div_scalar((_pairs(y, dim) * steps).sum(dim), 2.0)


def trapz(y: Tensor, x: Tensor | None = None, *, dx: float | None = None,
          dim: int = -1) -> Tensor:
    """An alias of trapezoid (its dx is a float)."""
    sigs = " * (Tensor y, *, float dx = 1, int dim = -1)\n" + _SIG_X
    x, dx = _spacing("trapz", y, x, dx, dim, sigs, real_dx=True)
    return _trapezoid(y, x, None if dx is None else float(dx), dim)


def cumulative_trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None,
                         dim: int = -1) -> Tensor:
    """The running trapezoidal integral along dim (one fewer element than y there).

    >>> import tapegrad
    >>> tapegrad.cumulative_trapezoid(tapegrad.tensor([1., 2., 3.]))
    tensor([1.5000, 4.0000])
    """
    x, dx = _spacing("cumulative_trapezoid", y, x, dx, dim, _SIG_X + _SIG_DX)
    dim = _wrap_dim(dim, y.dim())
    if x is None:
        return _mul_scalar(_pairs(y, dim), (1 if dx is None else dx) / 2.0).cumsum(dim)
    steps = _x_steps(y, x, dim, "cumulative_trapezoid")
    return _div_scalar((steps * _pairs(y, dim)).cumsum(dim), 2.0)


# --- cov / corrcoef ------------------------------------------------------------------------------
def cov(input: Tensor, *, correction: int = 1, fweights: Tensor | None = None,  # noqa: A002
        aweights: Tensor | None = None) -> Tensor:
    """Covariance of the variables in input's rows (observations in columns).

    >>> import tapegrad
    >>> tapegrad.cov(tapegrad.tensor([[0., 1., 2.], [2., 1., 0.]]))
    tensor([[ 1., -1.],
            [-1.,  1.]])
    """
    if input.dim() > 2:
        raise RuntimeError("cov(): expected input to have two or fewer dimensions but got an "
                           f"input with {input.dim()} dimensions")
    if input._dtype is D.bool:
        raise RuntimeError("cov(): bool dtype is not supported for input")
    x = input.view(1, -1) if input.dim() < 2 else input
    n = x.shape[1]
    w = None
    for name, wt in (("fweights", fweights), ("aweights", aweights)):
        if wt is None:
            continue
        if wt.dim() > 1:
            raise RuntimeError(f"cov(): expected {name} to have one or fewer dimensions but got "
                               f"{name} with {wt.dim()} dimensions")
        cat = wt._dtype.category
        if name == "fweights" and (cat != D.INT or wt._dtype is D.bool):
            raise RuntimeError("cov(): expected fweights to have integral dtype but got "
                               f"fweights with {wt._dtype._short} dtype")
        if name == "aweights" and cat != D.FLOAT:
            raise RuntimeError("cov(): expected aweights to have floating point dtype but got "
                               f"aweights with {wt._dtype._short} dtype")
        if wt.numel() != n:
            raise RuntimeError(f"cov(): expected {name} to have the same numel as there are "
                               f"observations in the input but got {wt.numel()} != {n}")
        if n and bool((wt._data < 0).any()):
            raise RuntimeError(f"cov(): {name} cannot be negative")
        w = wt if w is None else w * wt
    if w is None:
        w_sum = _make(np.asarray(n, dtype=np.int64))
    else:
        w_sum = w.sum()
        if not bool(w_sum._data != 0):
            raise RuntimeError("cov(): weights sum to zero, can't be normalized")
    avg = (x if w is None else x * w).sum(1) / w_sum
    # denominator: sum(w) - correction, or with aweights sum(w) - c * sum(w * a) / sum(w)
    if w is not None and correction != 0 and aweights is not None:
        norm = w_sum - correction * (w * aweights).sum() / w_sum
    else:
        norm = w_sum - correction
    if bool(norm._data <= 0):
        warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less "
                      "than the number of observations.", UserWarning, stacklevel=2)
        norm = norm * 0
    xc = x - avg.unsqueeze(1)
    c = xc.mm((xc if w is None else xc * w).t().conj())
    with np.errstate(divide="ignore", invalid="ignore"):  # norm 0 gives inf/nan, silently
        return c.true_divide(norm).squeeze()


def corrcoef(input: Tensor) -> Tensor:  # noqa: A002
    """Pearson correlation coefficients of the variables in input's rows.

    >>> import tapegrad
    >>> tapegrad.corrcoef(tapegrad.tensor([[0., 1., 2.], [2., 1., 0.]]))
    tensor([[ 1., -1.],
            [-1.,  1.]])
    """
    if input.dim() > 2:
        raise RuntimeError("corrcoef(): expected input to have two or fewer dimensions but got "
                           f"an input with {input.dim()} dimensions")
    c = cov(input)
    if c.dim() == 0:
        return c / c
    d = c.diagonal()
    sd = (d.real if d.is_complex() else d).sqrt()
    c = c / sd.view(-1, 1)
    c = c / sd.view(1, -1)
    if c.is_complex():
        from .complex_views import complex as _complex

        return _complex(c.real.clip(-1, 1), c.imag.clip(-1, 1))
    return c.clip(-1, 1)


METHODS = {
    "bincount": bincount, "histc": histc, "cov": cov, "corrcoef": corrcoef,
}

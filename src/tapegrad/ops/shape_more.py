"""More shape ops: roll, flip / fliplr / flipud, rot90, repeat / tile, repeat_interleave,
hsplit / vsplit / dsplit, meshgrid, atleast_1d / 2d / 3d, broadcast_tensors and
broadcast_shapes.

Each differentiable primitive here is its own reverse pair's partner:
  roll(shifts)  <->  roll(-shifts)           flip(dims) <-> flip(dims)
  rot90(k)      <->  rot90(-k)               repeat     <-> reshape + sum over the copies
The rest are compositions of existing views (expand, unsqueeze, reshape, narrow) and
index_select, as in PyTorch, so their grad_fn names are PyTorch's.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from .._size import make_size
from .._tensor import Tensor, _tp_name, _wrap_dim
from ..autograd.graph import Node
from ._core import new_node, wrap
from ._index_util import broadcast_pair, shape_str, warn_once
from .join import _atleast, tensor_split

__all__ = ["roll", "flip", "fliplr", "flipud", "rot90", "tile", "repeat_interleave", "hsplit",
           "vsplit", "dsplit", "meshgrid", "atleast_1d", "atleast_2d", "atleast_3d",
           "broadcast_tensors", "broadcast_shapes"]


def _int_tuple(v) -> tuple:
    if isinstance(v, (tuple, list)):
        return tuple(operator.index(i) for i in v)
    if isinstance(v, Tensor):
        return tuple(int(i) for i in v._data.reshape(-1))
    return (operator.index(v),)


def _varargs(args) -> tuple:
    """f(2, 3), f((2, 3)) and f([2, 3]) alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list, Tensor)):
        return _int_tuple(args[0])
    return tuple(operator.index(a) for a in args)


# --- roll ---------------------------------------------------------------------------------
class RollBackward0(Node):
    __slots__ = ("shifts", "dims")

    def vjp(self, g):
        return roll(g, tuple(-s for s in self.shifts), self.dims)


def roll(input: Tensor, shifts, dims=None) -> Tensor:  # noqa: A002
    """Shift elements cyclically along dims (without dims: over the flattened tensor).

    >>> import tapegrad
    >>> tapegrad.tensor([1., 2., 3., 4.]).roll(1)
    tensor([4., 1., 2., 3.])
    """
    a = input._data
    sh = _int_tuple(shifts)
    if dims is None:
        if len(sh) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(sh)}, dims:0")
        r = np.roll(a, sh[0])
        ds = None
    else:
        ds = _int_tuple(dims)
        if len(sh) != len(ds):
            raise RuntimeError(
                f"shifts and dimensions must align. shifts: {len(sh)}, dims:{len(ds)}")
        if a.ndim == 0:
            raise IndexError(f"Dimension specified as {ds[0]} but tensor has no dimensions")
        ds = tuple(_wrap_dim(d, a.ndim) for d in ds)
        r = np.roll(a, sh, axis=ds)
    node = new_node(RollBackward0, (input,))
    if node is not None:
        node.shifts, node.dims = sh, ds
    return wrap(r, node)


# --- flip / rot90 -------------------------------------------------------------------------
class FlipBackward0(Node):
    __slots__ = ("dims",)

    def vjp(self, g):
        return flip(g, self.dims)


def _flip(input: Tensor, dims: tuple) -> Tensor:
    n = input._data.ndim
    ds = tuple(_wrap_dim(d, n) for d in dims)
    for d in ds:
        if ds.count(d) > 1:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    a = input._data
    r = np.flip(a, ds).copy() if ds and n else a.copy()
    node = new_node(FlipBackward0, (input,))
    if node is not None:
        node.dims = ds
    return wrap(r, node)


def flip(input: Tensor, *dims, **kwargs) -> Tensor:  # noqa: A002
    """Reverse the order of elements along the given dims (a copy); `flip(x, dims)`,
    `x.flip(0, 1)` and `x.flip(dims=(0, 1))` alike.

    >>> import tapegrad
    >>> tapegrad.tensor([[1., 2.], [3., 4.]]).flip(0)
    tensor([[3., 4.],
            [1., 2.]])
    """
    if "dims" in kwargs:
        dims = (kwargs.pop("dims"),)
    if kwargs:
        raise TypeError(f"flip() got an unexpected keyword argument '{next(iter(kwargs))}'")
    return _flip(input, _varargs(dims))


def fliplr(input: Tensor) -> Tensor:  # noqa: A002
    """Reverse the columns (dim 1) of a tensor of at least 2 dims.

    >>> import tapegrad
    >>> tapegrad.tensor([[1., 2.], [3., 4.]]).fliplr()
    tensor([[2., 1.],
            [4., 3.]])
    """
    if input._data.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return _flip(input, (1,))


def flipud(input: Tensor) -> Tensor:  # noqa: A002
    """Reverse the rows (dim 0) of a tensor of at least 1 dim.

    >>> import tapegrad
    >>> tapegrad.tensor([1., 2., 3.]).flipud()
    tensor([3., 2., 1.])
    """
    if input._data.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return _flip(input, (0,))


class Rot90Backward0(Node):
    __slots__ = ("k", "dims")

    def vjp(self, g):
        return rot90(g, -self.k, self.dims)


def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:  # noqa: A002
    """Rotate by 90 degrees k times in the plane of dims, from the first towards the second.

    >>> import tapegrad
    >>> tapegrad.tensor([[1., 2.], [3., 4.]]).rot90()
    tensor([[2., 4.],
            [1., 3.]])
    """
    a = input._data
    ds = _int_tuple(dims)
    n = a.ndim
    if len(ds) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(ds)}")
    if n < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {n}")
    d0, d1 = _wrap_dim(ds[0], n), _wrap_dim(ds[1], n)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {ds[0]} and "
                           f"dim1 = {ds[1]}")
    k = operator.index(k)
    m = k % 4
    # as PyTorch: flip then transpose (k = 1, 3), so the result has the same strides
    if m == 1:
        r = np.swapaxes(np.flip(a, d1).copy(), d0, d1)
    elif m == 2:
        r = np.flip(a, (d0, d1)).copy()
    elif m == 3:
        r = np.swapaxes(np.flip(a, d0).copy(), d0, d1)
    else:
        r = a.copy()
    node = new_node(Rot90Backward0, (input,))
    if node is not None:
        node.k, node.dims = k, (d0, d1)
    return wrap(r, node)


# --- repeat / tile / repeat_interleave ----------------------------------------------------
class RepeatBackward0(Node):
    # out = the input tiled reps times: d x = g viewed as (r0, s0, r1, s1, ...) summed over
    # the copies (and over the leading dims repeat added)
    __slots__ = ("repeats",)

    def vjp(self, g):
        shape = self._in_meta[0][0]
        reps = self.repeats
        if 0 in reps:
            return g.new_zeros(shape)
        lead = len(reps) - len(shape)
        split = list(reps[:lead])
        axes = list(range(lead))
        for r, s in zip(reps[lead:], shape):
            if r != 1:
                axes.append(len(split))
                split.append(r)
            split.append(s)
        if not axes:
            return g
        return g.reshape(split).sum(tuple(axes))


def repeat(self: Tensor, *sizes) -> Tensor:
    """The tensor tiled sizes[i] times along each dim (leading sizes add new dims).

    >>> import tapegrad
    >>> tapegrad.tensor([1., 2.]).repeat(2, 2)
    tensor([[1., 2., 1., 2.],
            [1., 2., 1., 2.]])
    """
    if not sizes:
        raise TypeError('repeat() missing 1 required positional arguments: "repeats"')
    reps = _varargs(sizes)
    a = self._data
    if len(reps) < a.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    padded = (1,) * (len(reps) - a.ndim) + a.shape
    target = tuple(s * r for s, r in zip(padded, reps))
    for t in target:
        if t < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {t}: "
                               f"{shape_str(target)}")
    r = np.tile(a, reps) if reps else a.copy()
    node = new_node(RepeatBackward0, (self,))
    if node is not None:
        node.repeats = reps
    return wrap(r, node)


def tile(input: Tensor, dims) -> Tensor:  # noqa: A002
    """Tile input dims[i] times along each dim (missing leading entries of dims count as 1).

    >>> import tapegrad
    >>> tapegrad.tensor([[1., 2.]]).tile((2,))
    tensor([[1., 2., 1., 2.]])
    """
    reps = _int_tuple(dims)
    n = input._data.ndim
    if len(reps) < n:
        reps = (1,) * (n - len(reps)) + reps
    return repeat(input, reps)


def _tile_method(self: Tensor, *dims) -> Tensor:
    return tile(self, _varargs(dims))


def _repeat_indices(repeats: Tensor, output_size=None) -> Tensor:
    """torch.repeat_interleave(repeats): each position i repeated repeats[i] times."""
    r = repeats._data
    if r.ndim != 1:
        raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
    if r.dtype != np.int64 and r.dtype != np.int32:
        raise NotImplementedError(
            f"\"repeat_interleave_cpu\" not implemented for '{repeats._dtype._short}'")
    if (r < 0).any():
        raise RuntimeError("repeats can not be negative")
    out = np.repeat(np.arange(r.shape[0], dtype=r.dtype), r)
    if output_size is not None and output_size != out.shape[0]:
        raise RuntimeError("allocated size does not match required size")
    return wrap(out)


def repeat_interleave(input: Tensor, repeats=None, dim: int | None = None, *,  # noqa: A002
                      output_size: int | None = None) -> Tensor:
    """Repeat each element (each slice along dim) `repeats` times, one after the other;
    without dim, over the flattened input. repeats may be a tensor of per-element counts.
    With a tensor alone, returns each of its positions repeated by its value.

    >>> import tapegrad
    >>> tapegrad.tensor([1., 2.]).repeat_interleave(2)
    tensor([1., 1., 2., 2.])
    >>> tapegrad.repeat_interleave(tapegrad.tensor([1, 2]))
    tensor([0, 1, 1])
    """
    if repeats is None:
        return _repeat_indices(input, output_size)
    x = input if dim is not None else input.flatten()
    if isinstance(repeats, Tensor):
        d = _wrap_dim(0 if dim is None else dim, x._data.ndim)
        n = x._data.shape[d] if x._data.ndim else 1
        rk = repeats._data.ndim
        if rk == 0 or (rk == 1 and repeats._data.shape[0] == 1):
            repeats = wrap(np.broadcast_to(repeats._data.reshape(1), (n,)))
        elif rk == 1:
            if repeats._data.shape[0] != n:
                raise RuntimeError(
                    "repeats must have the same size as input along dim, but got "
                    f"repeats.size(0) = {repeats._data.shape[0]} and input.size({d}) = {n}")
        else:
            raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
        from .index_ops import index_select

        return index_select(x, d, _repeat_indices(repeats, output_size).long())
    r = operator.index(repeats)
    d = _wrap_dim(0 if dim is None else dim, input._data.ndim)
    if r < 0:
        raise RuntimeError("Repeats must be non-negative")
    shape = x._data.shape
    if output_size is not None and output_size != shape[d] * r:
        raise RuntimeError(f"repeat_interleave: Invalid output_size, expected {shape[d] * r} but "
                           f"got {output_size}")
    big = shape[:d + 1] + (r,) + shape[d + 1:]
    return x.unsqueeze(d + 1).expand(big).clone().flatten(d, d + 1)


# --- hsplit / vsplit / dsplit -------------------------------------------------------------
def _nsplit(fn: str, input: Tensor, sections, d: int, need: int) -> tuple:
    n = input._data.ndim
    if n < need:
        what = "1 dimension" if need == 1 else f"{need} dimension"
        raise RuntimeError(f"tapegrad.{fn} requires a tensor with at least {what}, but got a "
                           f"tensor with {n} dimensions!")
    if isinstance(sections, numbers.Integral) and not isinstance(sections, bool):
        size = input._data.shape[d]
        if sections == 0 or size % sections:
            raise RuntimeError(
                f"tapegrad.{fn} attempted to split along dimension {d}, but the size of the "
                f"dimension {size} is not divisible by the split_size {sections}!")
    return tensor_split(input, sections, d)


def hsplit(input: Tensor, indices_or_sections) -> tuple:  # noqa: A002
    """Split column-wise (dim 1; dim 0 for 1-D tensors) into equal parts or at indices.

    >>> import tapegrad
    >>> [t.shape for t in tapegrad.zeros(2, 4).hsplit(2)]
    [tapegrad.Size([2, 2]), tapegrad.Size([2, 2])]
    """
    d = 0 if input._data.ndim == 1 else 1
    return _nsplit("hsplit", input, indices_or_sections, d, 1)


def vsplit(input: Tensor, indices_or_sections) -> tuple:  # noqa: A002
    """Split row-wise (dim 0) a tensor of at least 2 dims.

    >>> import tapegrad
    >>> [t.shape for t in tapegrad.zeros(4, 2).vsplit([1])]
    [tapegrad.Size([1, 2]), tapegrad.Size([3, 2])]
    """
    return _nsplit("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input: Tensor, indices_or_sections) -> tuple:  # noqa: A002
    """Split depth-wise (dim 2) a tensor of at least 3 dims.

    >>> import tapegrad
    >>> [t.shape for t in tapegrad.zeros(1, 2, 4).dsplit(2)]
    [tapegrad.Size([1, 2, 2]), tapegrad.Size([1, 2, 2])]
    """
    return _nsplit("dsplit", input, indices_or_sections, 2, 3)


def _split_method(fn):
    def m(self, *indices_or_sections):
        if len(indices_or_sections) == 1:
            return fn(self, indices_or_sections[0])
        return fn(self, list(indices_or_sections))

    m.__name__ = fn.__name__
    m.__doc__ = fn.__doc__
    return m


# --- meshgrid / atleast / broadcast -------------------------------------------------------
def meshgrid(*tensors, indexing: str | None = None) -> tuple:
    """Coordinate grids of 1-D tensors: output i is tensors[i] expanded along the others
    ('ij': dims in input order; 'xy': the first two swapped, as NumPy's default).

    >>> import tapegrad
    >>> gx, gy = tapegrad.meshgrid(tapegrad.tensor([1, 2, 3]), tapegrad.tensor([4, 5]),
    ...                            indexing="ij")
    >>> gx.shape
    tapegrad.Size([3, 2])
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warn_once("tapegrad.meshgrid: in an upcoming release, it will be required to pass the "
                  "indexing argument.")
        indexing = "ij"
    if indexing not in ("xy", "ij"):
        raise RuntimeError('tapegrad.meshgrid: indexing must be one of "xy" or "ij", but '
                           f"received: {indexing}")
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"meshgrid(): expected Tensor, but got {_tp_name(t)}")
        if t._dtype is not tensors[0]._dtype:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    for t in tensors:
        if t._data.ndim > 1:
            raise RuntimeError("tapegrad.meshgrid: Expected 0D or 1D tensor in the tensor list "
                               f"but got: {t}")
    ts = list(tensors)
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t._data.size for t in ts)
    k = len(ts)
    grids = [t.view((1,) * i + (-1,) + (1,) * (k - i - 1)).expand(shape)
             for i, t in enumerate(ts)]
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def _atleast_n(n: int, tensors: tuple):
    name = f"atleast_{n}d"
    if len(tensors) == 1:
        t = tensors[0]
        if isinstance(t, Tensor):
            return _atleast(t, n)
        if not isinstance(t, (list, tuple)):
            bad = f"      didn't match because some of the arguments have invalid types: " \
                  f"(!{_tp_name(t)}!)\n"
            raise TypeError(
                f"{name}() received an invalid combination of arguments - got ({_tp_name(t)}), "
                f"but expected one of:\n * (Tensor input)\n{bad} * (tuple of Tensors tensors)\n"
                f"{bad}")
        tensors = tuple(t)
    return tuple(_atleast(t, n) for t in tensors)


def atleast_1d(*tensors):
    """Tensors with at least 1 dim (0-d ones become shape (1,)); one tensor in, one out.

    >>> import tapegrad
    >>> tapegrad.atleast_1d(tapegrad.tensor(1.))
    tensor([1.])
    """
    return _atleast_n(1, tensors)


def atleast_2d(*tensors):
    """Tensors with at least 2 dims ((n,) becomes (1, n)).

    >>> import tapegrad
    >>> tapegrad.atleast_2d(tapegrad.tensor([1., 2.])).shape
    tapegrad.Size([1, 2])
    """
    return _atleast_n(2, tensors)


def atleast_3d(*tensors):
    """Tensors with at least 3 dims ((n,) becomes (1, n, 1), (m, n) becomes (m, n, 1)).

    >>> import tapegrad
    >>> tapegrad.atleast_3d(tapegrad.zeros(2, 3)).shape
    tapegrad.Size([2, 3, 1])
    """
    return _atleast_n(3, tensors)


def broadcast_tensors(*tensors) -> tuple:
    """The tensors expanded to their common broadcast shape (those of that shape as they are).

    >>> import tapegrad
    >>> a, b = tapegrad.broadcast_tensors(tapegrad.zeros(3, 1), tapegrad.zeros(4))
    >>> a.shape, b.shape
    (tapegrad.Size([3, 4]), tapegrad.Size([3, 4]))
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    shape = None
    for t in tensors:
        shape = t._data.shape if shape is None else broadcast_pair(shape, t._data.shape)
    return tuple(t if t._data.shape == shape else t.expand(shape) for t in tensors)


def broadcast_shapes(*shapes):
    """The shape that tensors of these shapes broadcast to.

    >>> import tapegrad
    >>> tapegrad.broadcast_shapes((2,), (3, 1), (1, 1, 1))
    tapegrad.Size([1, 3, 2])
    """
    shapes = tuple((s,) if isinstance(s, numbers.Integral) else s
                   for s in shapes if s is not None)
    if not shapes:
        return make_size(())
    for s in shapes:
        if not isinstance(s, (tuple, list)):
            raise RuntimeError("Input shapes should be of type ints, a tuple of ints, or a list "
                               f"of ints, got {s}")
    common = [1] * max(len(s) for s in shapes)
    for k, s in enumerate(shapes):
        for i in range(-1, -1 - len(s), -1):
            if s[i] == common[i]:
                continue
            if common[i] == 1:
                if s[i] < 0:
                    raise ValueError("Attempting to broadcast a dimension with negative length!")
                common[i] = s[i]
            if s[i] == 1:
                continue
            if common[i] != s[i]:
                raise RuntimeError(
                    f"Attempting to broadcast a dimension of length {s[i]} at {i}! Mismatching "
                    f"argument at index {k} had {s}; but expected shape should be broadcastable "
                    f"to {common}")
    return make_size(tuple(common))


METHODS = {"roll": roll, "flip": flip, "fliplr": fliplr, "flipud": flipud, "rot90": rot90,
           "repeat": repeat, "tile": _tile_method, "repeat_interleave": repeat_interleave,
           "hsplit": _split_method(hsplit), "vsplit": _split_method(vsplit),
           "dsplit": _split_method(dsplit)}

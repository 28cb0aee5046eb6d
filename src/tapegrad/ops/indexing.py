"""Indexing: x[...] with ints, slices, None, Ellipsis, integer tensors and boolean masks, and
select / narrow.

`x[index]` follows PyTorch's algorithm (torch/csrc/autograd/python_variable_indexing.cpp):
the basic items (ints, slices, None, Python bools) are applied first, left to right, giving a
view; the tensor items (integer index arrays, masks as their nonzero() arrays, bools as [0] or
[]) then index that view once (`IndexBackward0`, a copy). This is NumPy's rule except for
where the broadcast dimensions of separated tensor indices go: PyTorch decides adjacency after
the ints have removed their dimensions (`x[0, :, [0, 1]]` has shape (4, 2) for x of shape
(3, 4, 5); NumPy gives (2, 4)).

All the basic items of one index make one node (a chain of select/slice/unsqueeze in PyTorch):
it is named as PyTorch names the last one applied, and its backward, named as the backward of
the first one applied, is the reverse pair. The primitive pairs closed under reverse:
  view x[key]            <->  zeros(shape) with g written at key   (no overlap: no sums)
  gather x[arrays]       <->  zeros(shape) with g added at arrays  (repeats accumulate)
"""

from __future__ import annotations

import operator
import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap_dim
from ..autograd.graph import Node
from ._core import batched_cotangent, new_node, rebatch, wrap, wrap_view

__all__ = ["select", "narrow"]

_ndarray = np.ndarray
_int64 = np.int64
_FAST_INDEX = (D.int64, D.bool)

_SEQ_WARNING = (
    "Using a non-tuple sequence for multidimensional indexing is deprecated and will be changed "
    "in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will be "
    "interpreted as tensor index, x[tapegrad.tensor(seq)], which will result either in an error "
    "or a different result"
)
_BAD_TENSOR = "tensors used as indices must be long, int, byte or bool tensors"
_UINT8_WARNING = (
    "indexing with dtype tapegrad.uint8 is now deprecated, please use a dtype tapegrad.bool "
    "instead."
)

# op kinds, in the order PyTorch would apply them
_SELECT, _SLICE, _UNSQUEEZE = 1, 2, 3


def normalize_index(index, x: Tensor):
    """Turn an index that may hold tensors into one NumPy understands (used by setitem)."""
    if isinstance(index, tuple):
        return tuple(_one(i) for i in index)
    return _one(index)


def _one(i):
    if isinstance(i, Tensor):
        return i._data
    if isinstance(i, list):
        return np.asarray([e._data if isinstance(e, Tensor) else e for e in i])
    return i


# --- basic indexing: one view node per index ------------------------------------------------
class _ViewIndex(Node):
    """out = x[key] for a NumPy basic key (ints, slices, None): a view.

    vjp: the gradient written into zeros of x's shape at key (basic keys never repeat an
    element, so writing is summing).
    """

    __slots__ = ("key", "bw")

    def vjp(self, g):
        return _view_index_backward(g, self._in_meta[0][0], self.key, type(self), self.bw)


class SelectBackward0(_ViewIndex):
    __slots__ = ()


class SliceBackward0(_ViewIndex):
    __slots__ = ()


class UnsqueezeBackward0(_ViewIndex):
    """x[..., None] after other items (shape.UnsqueezeBackward0 is the unsqueeze op itself)."""

    __slots__ = ()


class _ViewIndexBackward(Node):
    """out = zeros(shape) with g at key; its vjp takes gg[key] again."""

    __slots__ = ("key", "fw")

    def vjp(self, gg):
        return _view_index(gg, self.key, self.fw, type(self))


class SelectBackwardBackward0(_ViewIndexBackward):
    __slots__ = ()


class SliceBackwardBackward0(_ViewIndexBackward):
    __slots__ = ()


class SqueezeBackward1(_ViewIndexBackward):
    """Backward of an index whose first item is None (PyTorch squeezes that dim back)."""

    __slots__ = ()


class AliasBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return g


_FW = {_SELECT: SelectBackward0, _SLICE: SliceBackward0, _UNSQUEEZE: UnsqueezeBackward0}
_BW = {_SELECT: SelectBackwardBackward0, _SLICE: SliceBackwardBackward0,
       _UNSQUEEZE: SqueezeBackward1}


def _view_index(x: Tensor, key: tuple, fw, bw) -> Tensor:
    if type(x) is not Tensor:  # a batch of cotangents under vmap: the key behind its dim
        b = batched_cotangent(x)
        if b is not None:
            return rebatch(_view_index(b[0], (slice(None),) + tuple(key), fw, bw), b[1])
    node = new_node(fw, (x,))
    if node is not None:
        node.key, node.bw = key, bw
    return wrap_view(x._data[key], x, node)


def _view_index_backward(g: Tensor, shape: tuple, key: tuple, fw, bw) -> Tensor:
    if type(g) is not Tensor:  # a batch of cotangents under vmap: the key behind its dim
        b = batched_cotangent(g)
        if b is not None:
            n = b[0].shape[0]
            return rebatch(_view_index_backward(b[0], (n,) + tuple(shape),
                                                (slice(None),) + tuple(key), fw, bw), b[1])
    z = np.zeros(shape, dtype=g._data.dtype)
    z[key] = g._data
    node = new_node(bw, (g,))
    if node is not None:
        node.key, node.fw = key, fw
    return wrap(z, node)


def _alias(x: Tensor) -> Tensor:
    return wrap_view(x._data[...], x, new_node(AliasBackward0, (x,)))


# --- advanced indexing: gather and its accumulating scatter ---------------------------------
class IndexBackward0(Node):
    """out = x[key] with index arrays in key (NumPy advanced indexing: a copy).

    vjp: zeros of x's shape with g *added* at key, so repeated indices accumulate.
    """

    __slots__ = ("key", "unique")

    def vjp(self, g):
        return _index_put_acc(g, self._in_meta[0][0], self.key, self.unique)


class IndexPutImplBackward0(Node):
    """out = zeros(shape) with g added at key; vjp: gg[key] (the gather again)."""

    __slots__ = ("key", "unique")

    def vjp(self, gg):
        return _gather(gg, self.key, self.unique)


def _gather(x: Tensor, key: tuple, unique: bool) -> Tensor:
    if type(x) is not Tensor:  # a batch of cotangents under vmap: the batch as the last dim
        b = batched_cotangent(x)
        if b is not None and not any(k is Ellipsis for k in key):
            return rebatch(_gather(b[0].movedim(0, -1), key, unique).movedim(-1, 0), b[1])
    node = new_node(IndexBackward0, (x,))
    if node is not None:
        node.key, node.unique = key, unique
    return wrap(x._data[key], node)


def _index_put_acc(g: Tensor, shape: tuple, key: tuple, unique: bool) -> Tensor:
    if type(g) is not Tensor:  # a batch of cotangents under vmap
        b = batched_cotangent(g)
        if b is not None and not any(k is Ellipsis for k in key):
            # with the batch as the last dim, key indexes the leading dims as it did
            n = b[0].shape[0]
            r = _index_put_acc(b[0].movedim(0, -1), tuple(shape) + (n,), key, unique)
            return rebatch(r.movedim(-1, 0), b[1])
    z = np.zeros(shape, dtype=g._data.dtype)
    if unique:  # masks select each element at most once: plain assignment is the sum
        z[key] = g._data
    else:
        np.add.at(z, key, g._data)
    node = new_node(IndexPutImplBackward0, (g,))
    if node is not None:
        node.key, node.unique = key, unique
    return wrap(z, node)


# --- x[index] ---------------------------------------------------------------------------
def getitem(self: Tensor, index) -> Tensor:
    """x[index] with PyTorch's semantics: views for basic indices, copies for tensor indices.

    >>> import tapegrad
    >>> x = tapegrad.arange(6.).reshape(2, 3)
    >>> x[1, 1:]
    tensor([4., 5.])
    >>> x[[0, 0, 1], [2, 2, 0]]
    tensor([2., 2., 3.])
    """
    t = type(index)
    if t is int:  # fast path: x[i]
        a = self._data
        if not a.ndim:
            raise IndexError(
                "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number"
            )
        n = a.shape[0]
        if index >= n or index < -n:
            raise IndexError(f"index {index} is out of bounds for dimension 0 with size {n}")
        return _view_index(self, (index, Ellipsis), SelectBackward0, SelectBackwardBackward0)
    if t is tuple:
        items = index
    elif t is Tensor and index._data.ndim and index._dtype in _FAST_INDEX:
        # fast path: x[int64 index tensor] or x[bool mask]
        p = index._data
        if p.dtype == np.bool_ and p.ndim > self._data.ndim:
            raise IndexError(f"too many indices for tensor of dimension {self._data.ndim}")
        return _advanced(self, [(0, p)])
    elif t is slice:  # a lone slice is always applied, even when it spans the dim
        if not self._data.ndim:
            raise IndexError("slice() cannot be applied to a 0-dim tensor.")
        _check_step(index.step)
        return _view_index(self, (_int_slice(index), Ellipsis), SliceBackward0,
                           SliceBackwardBackward0)
    elif index is None:
        return _view_index(self, (None, Ellipsis), UnsqueezeBackward0, SqueezeBackward1)
    elif index is Ellipsis:
        return _alias(self)
    elif _seq_as_tuple(index):
        warnings.warn(_SEQ_WARNING, UserWarning, stacklevel=2)
        items = tuple(index)
    else:
        items = (index,)
    return _apply(self, items)


def _seq_as_tuple(index) -> bool:
    """NumPy's heuristic, as PyTorch applies it: a short list holding sequences, slices,
    tensors, None or Ellipsis is a tuple of indices."""
    if not isinstance(index, list):
        return False
    if len(index) >= 32:
        return False
    for e in index:
        if isinstance(e, (Tensor, list, tuple, slice, range, _ndarray)) \
                or e is None or e is Ellipsis:
            return True
    return False


def _check_step(step) -> None:
    if step is not None:
        s = _bound(step)
        if s == 0:
            raise ValueError("slice step cannot be zero")
        if s < 0:
            raise ValueError("step must be greater than zero")


def _int_slice(s: slice) -> slice:
    """A slice whose bounds are Python ints (tensors and NumPy integers have __index__)."""
    start, stop, step = s.start, s.stop, s.step
    if (start is None or type(start) is int) and (stop is None or type(stop) is int) \
            and (step is None or type(step) is int):
        return s
    return slice(_bound(start), _bound(stop), _bound(step))


def _bound(v):
    if v is None:
        return None
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(
            "slice indices must be integers or None or have an __index__ method") from None


def _type_name(v) -> str:
    t = type(v)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


def _classify(v):
    """(kind, payload) of one index item.

    kinds: 'int' (payload int), 'slice', 'none', 'ellipsis', 'bool' (payload bool),
    'array' (payload int64 array), 'mask' (payload bool array).
    """
    t = type(v)
    if t is int:
        return "int", v
    if t is slice:
        return "slice", v
    if v is None:
        return "none", None
    if v is Ellipsis:
        return "ellipsis", None
    if t is bool:
        return "bool", v
    if isinstance(v, Tensor):
        return _classify_array(v._data, True)
    if isinstance(v, _ndarray):
        return _classify_array(v, False)
    if isinstance(v, (list, range)):
        arr = np.asarray([e._data if isinstance(e, Tensor) else e for e in v]) if v else \
            np.zeros(0, _int64)
        if arr.dtype == np.bool_:
            return "mask", arr
        return "array", arr.astype(_int64, copy=False)
    if isinstance(v, (np.integer,)):
        return "int", int(v)
    if hasattr(v, "__index__") and not isinstance(v, (float, complex, np.generic)):
        return "int", operator.index(v)
    raise IndexError(
        "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
        f"valid indices (got {_type_name(v)})"
    )


def _classify_array(a: np.ndarray, is_tensor: bool):
    k = a.dtype.kind
    if k == "b":
        return ("bool", bool(a)) if a.ndim == 0 else ("mask", a)
    if a.dtype == np.uint8:
        if is_tensor:
            if a.ndim == 0:
                return "bool", bool(a)
            warnings.warn(_UINT8_WARNING, UserWarning, stacklevel=4)
            return "mask", a.astype(bool)
        # NumPy uint8 arrays are integer indices, as PyTorch converts them
    if k in "iu":
        if is_tensor and a.dtype not in (np.int64, np.int32):
            raise IndexError(_BAD_TENSOR)
        if a.ndim == 0:
            return "int", int(a)
        return "array", a.astype(_int64, copy=False)
    if is_tensor:
        raise IndexError(_BAD_TENSOR)
    if k == "f":  # NumPy float arrays are truncated to integers, as PyTorch does
        return ("array", a.astype(_int64)) if a.ndim else ("int", int(a))
    raise IndexError(_BAD_TENSOR)


def _apply(self: Tensor, items: tuple) -> Tensor:
    a = self._data
    shape = a.shape
    ndim = a.ndim
    parsed = [_classify(v) for v in items]
    specified = 0
    for kind, p in parsed:
        if kind == "int" or kind == "slice" or kind == "array":
            specified += 1
        elif kind == "mask":
            specified += p.ndim
    if specified > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")

    key = []  # NumPy basic key over the input dims (None inserts a dim)
    adv = []  # (result dim, index array or mask) applied after the basic key
    first = last = 0
    in_dim = out_dim = 0
    for real_dim, (kind, p) in enumerate(parsed):
        if kind == "int":
            n = shape[in_dim]
            if p >= n or p < -n:
                raise IndexError(
                    f"index {p} is out of bounds for dimension {real_dim} with size {n}")
            key.append(p)
            in_dim += 1
            op = _SELECT
        elif kind == "slice":
            _check_step(p.step)
            s = _int_slice(p)
            in_dim += 1
            out_dim += 1
            if (s.start is None or s.start == 0) and (s.step is None or s.step == 1) and \
                    (s.stop is None or s.stop >= shape[in_dim - 1]):
                key.append(slice(None))  # spans the dim: PyTorch skips it
                continue
            key.append(s)
            op = _SLICE
        elif kind == "none":
            key.append(None)
            out_dim += 1
            op = _UNSQUEEZE
        elif kind == "ellipsis":
            n = min(ndim - specified, ndim - in_dim)  # a second `...` spans what is left
            key.extend([slice(None)] * n)
            in_dim += n
            out_dim += n
            continue
        elif kind == "bool":
            key.append(None)
            adv.append((out_dim, np.zeros(1 if p else 0, _int64)))
            out_dim += 1
            op = _UNSQUEEZE
        else:  # index array or mask: the dims stay in the view, indexed afterwards
            k = p.ndim if kind == "mask" else 1
            key.extend([slice(None)] * k)
            adv.append((out_dim, p))
            in_dim += k
            out_dim += k
            continue
        if not first:
            first = op
        last = op

    x = self
    if last:
        key.append(Ellipsis)  # keeps all-int keys views (0-d arrays, not NumPy scalars)
        x = _view_index(self, tuple(key), _FW[last], _BW[first])
    elif not adv:
        return _alias(self)
    if not adv:
        return x
    return _advanced(x, adv)


def _advanced(x: Tensor, adv: list) -> Tensor:
    """Index x (after the basic items) with arrays at some dims: PyTorch's aten::index."""
    vshape = x._data.shape
    d, p = adv[-1]
    key = [slice(None)] * (d + (p.ndim if p.dtype == np.bool_ else 1))
    arrays = []
    unique = True
    for d, p in adv:
        if p.dtype == np.bool_:
            for j, s in enumerate(p.shape):
                if s != vshape[d + j]:
                    raise IndexError(
                        f"The shape of the mask {list(p.shape)} at index {j} does not match the "
                        f"shape of the indexed tensor {list(vshape)} at index {d + j}"
                    )
            nz = p.nonzero()
            for j, arr in enumerate(nz):
                key[d + j] = arr
                arrays.append((d + j, arr))
        else:
            unique = False
            key[d] = p
            arrays.append((d, p))
    if len(arrays) > 1:
        # masks alone cannot repeat an element; mixing with other indices can
        unique = unique and len(adv) == 1
        try:
            np.broadcast_shapes(*(arr.shape for _, arr in arrays))
        except ValueError:
            raise IndexError(
                "shape mismatch: indexing tensors could not be broadcast together with shapes "
                + ", ".join(str(list(arr.shape)) for _, arr in arrays)
            ) from None
    key = tuple(key)
    try:
        r = x._data[key]
    except IndexError:
        raise IndexError(_out_of_bounds(arrays, vshape)) from None
    node = new_node(IndexBackward0, (x,))
    if node is not None:
        # own copies: later in-place changes to an index tensor cannot alter the backward
        node.key = tuple(k.copy() if type(k) is _ndarray else k for k in key)
        node.unique = unique
    return wrap(r, node)


def _out_of_bounds(arrays, vshape) -> str:
    """PyTorch's message: the first bad index in element order, then in index order."""
    shapes = np.broadcast_shapes(*(arr.shape for _, arr in arrays))
    bad = []
    for d, arr in arrays:
        n = vshape[d]
        bad.append(np.broadcast_to((arr >= n) | (arr < -n), shapes).reshape(-1))
    stacked = np.stack(bad, axis=1)
    e = int(np.argmax(stacked.any(axis=1)))
    k = int(np.argmax(stacked[e]))
    d, arr = arrays[k]
    v = int(np.broadcast_to(arr, shapes).reshape(-1)[e])
    return f"index {v} is out of bounds for dimension {k} with size {vshape[d]}"


# --- select / narrow ---------------------------------------------------------------------
def select(input: Tensor, dim: int, index: int) -> Tensor:  # noqa: A002
    """The slice at `index` along `dim`, that dim removed (a view; x.select(0, i) is x[i]).

    >>> import tapegrad
    >>> tapegrad.tensor([[1., 2.], [3., 4.]]).select(1, 0)
    tensor([1., 3.])
    """
    a = input._data
    if not a.ndim:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, a.ndim)
    i = operator.index(index)
    n = a.shape[d]
    if i >= n or i < -n:
        raise IndexError(
            f"select(): index {i} out of range for tensor of size "
            f"[{', '.join(str(s) for s in a.shape)}] at dimension {d}"
        )
    key = (slice(None),) * d + (i, Ellipsis)
    return _view_index(input, key, SelectBackward0, SelectBackwardBackward0)


def narrow(input: Tensor, dim: int, start, length: int) -> Tensor:  # noqa: A002
    """The elements start .. start + length - 1 along dim (a view).

    >>> import tapegrad
    >>> tapegrad.arange(5.).narrow(0, 1, 3)
    tensor([1., 2., 3.])
    """
    a = input._data
    if not a.ndim:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, a.ndim)
    n = a.shape[d]
    start = operator.index(start)
    length = operator.index(length)
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start < -n or start > n:
        raise IndexError(
            f"start out of range (expected to be in range of [{-n}, {n}], but got {start})")
    if start < 0:
        start += n
    if start + length > n:
        raise RuntimeError(
            f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    key = (slice(None),) * d + (slice(start, start + length), Ellipsis)
    return _view_index(input, key, SliceBackward0, SliceBackwardBackward0)


METHODS = {"__getitem__": getitem, "select": select, "narrow": narrow}

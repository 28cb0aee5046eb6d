"""Views by explicit geometry and storage-level changes: Tensor.unfold (sliding windows),
as_strided / as_strided_, resize_ / resize_as_ and fill_diagonal_.

A tapegrad tensor's storage is the NumPy array at the end of its data's `.base` chain (the
array Tensor.storage_offset() measures from). as_strided reads that storage by element
strides and offset, so it is supported when the storage is one contiguous block (every tensor
tapegrad creates); unfold works on any tensor.

Gradients, with every rule written in tapegrad ops (so higher derivatives work):
  unfold(x, d, size, step)        UnfoldBackward0: the windows of g added back into zeros of
                                  x's shape (unfold_backward, whose own rule is unfold again)
  as_strided(x, size, stride, k)  AsStridedBackward0: g scatter-added into the storage slots
                                  the output reads, then each element of x takes the sum that
                                  reached its slot, divided by the number of elements of x
                                  sharing that slot (slots x does not cover are dropped)
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make, _tp_name, _wrap_dim
from ..autograd import grad_mode
from ..autograd.graph import Node
from ._core import batched_cotangent, new_node, rebatch, wrap, wrap_view
from ._inplace_nodes import renamed
from ._inplace_record import _addresses
from ._inplace_record import _set_history as set_history
from .inplace import check_inplace

__all__ = ["as_strided", "as_strided_", "resize_as_"]

_state = grad_mode.state


def _ptr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _storage(a: np.ndarray) -> np.ndarray:
    """The array at the end of a's `.base` chain (the tensor's storage)."""
    b = a
    while isinstance(b.base, np.ndarray):
        b = b.base
    return b


def _view(a: np.ndarray, shape: tuple, strides: tuple, offset: int) -> np.ndarray:
    """An array over a's storage with these element strides, starting `offset` elements
    after a's first element (its .base chain leads to the storage when that is contiguous).
    Views whose zero strides repeat an element are read-only, as PyTorch refuses writing them.
    """
    isz = a.itemsize
    if 0 in shape:  # nothing is read: an empty array of that shape
        return np.empty(shape, a.dtype)
    bstrides = tuple(s * isz for s in strides)
    st = _storage(a)
    if st.flags.c_contiguous and st.nbytes:
        start = _ptr(a) - _ptr(st) + offset * isz
        r = np.ndarray(shape, a.dtype, buffer=st, offset=start, strides=bstrides)
        if not st.flags.writeable:
            r.flags.writeable = False
    else:  # an empty storage, or a non-contiguous one (from_numpy of a transposed array)
        r = np.lib.stride_tricks.as_strided(a, shape, bstrides, writeable=False)
        if a.flags.writeable and not any(n > 1 and s == 0 for n, s in zip(shape, strides)):
            r = np.lib.stride_tricks.as_strided(a, shape, bstrides)
        if offset:
            raise NotImplementedError("tapegrad: as_strided with an offset is not yet "
                                      "supported on a tensor whose storage is not contiguous")
    if any(n > 1 and s == 0 for n, s in zip(shape, strides)):
        r.flags.writeable = False
    return r


def _elem_strides(a: np.ndarray) -> tuple:
    return tuple(s // a.itemsize for s in a.strides) if a.itemsize else (0,) * a.ndim


def _int_arg(v, fn: str, arg: str, pos: int) -> int:
    if isinstance(v, Tensor) and v._data.ndim == 0 and v._dtype.category <= D.INT:
        v = v.item()
    if isinstance(v, (bool, float, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be int, not "
                        f"{_tp_name(v)}")
    return int(v)


def _int_tuple(v, fn: str, arg: str, pos: int) -> tuple:
    if not isinstance(v, (tuple, list)):
        raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be tuple of ints, not "
                        f"{_tp_name(v)}")
    out = []
    for i, s in enumerate(v):
        if isinstance(s, (bool, float, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{fn}(): argument '{arg}' failed to unpack the object at pos "
                            f"{i + 1} with error \"type must be tuple of ints,but got "
                            f"{_tp_name(s)}\"")
        out.append(int(s))
    return tuple(out)


# --- unfold --------------------------------------------------------------------------------------
class UnfoldBackward0(Node):
    __slots__ = ("dim", "size", "step")

    def vjp(self, g):
        return unfold_backward(g, self._in_meta[0][0], self.dim, self.size, self.step)


class UnfoldBackwardBackward0(Node):
    __slots__ = ("dim", "size", "step")

    def vjp(self, g):
        return unfold(g, self.dim, self.size, self.step)


def unfold_backward(g: Tensor, shape: tuple, dim: int, size: int, step: int) -> Tensor:
    """Zeros of `shape` with each window of g (g = unfold(x, dim, size, step)'s gradient)
    added at its place along dim: the reverse of unfold."""
    if type(g) is not Tensor:  # a batch of cotangents (vmap): one more leading dim
        b = batched_cotangent(g)
        if b is not None:
            p = b[0]
            if not shape:  # a 0-d x: g holds its one window (size 1) or nothing (size 0)
                r = p.sum(1)
            else:
                r = unfold_backward(p, (p.shape[0],) + tuple(shape), dim + 1, size, step)
            return rebatch(r, b[1])
    ga = g._data
    out = np.zeros(shape, dtype=ga.dtype)
    if len(shape) == 0:
        if ga.size:
            out[...] = ga.reshape(())
    else:
        nwin = ga.shape[dim]
        moved = np.moveaxis(out, dim, -1)  # (..., n): a view of out
        gm = np.moveaxis(ga, dim, -2)  # (..., nwin, size)
        for k in range(size):  # window offset k: the elements k, k + step, ... of dim
            moved[..., k: k + step * (nwin - 1) + 1: step] += gm[..., k]
    node = new_node(UnfoldBackwardBackward0, (g,))
    if node is not None:
        node.dim, node.size, node.step = dim, size, step
    return wrap(out, node)


def unfold(self: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """A view of every window of `size` elements along `dimension`, `step` apart (the windows
    become a new last dimension).

    >>> import tapegrad
    >>> tapegrad.arange(5.).unfold(0, 2, 2)
    tensor([[0., 1.],
            [2., 3.]])
    """
    dimension = _int_arg(dimension, "unfold", "dimension", 1)
    size = _int_arg(size, "unfold", "size", 2)
    step = _int_arg(step, "unfold", "step", 3)
    a = self._data
    d = _wrap_dim(dimension, a.ndim)
    length = a.shape[d] if a.ndim else 1
    if size > length:
        raise RuntimeError(
            f"maximum size for tensor at dimension {d} is {length} but size is {size}")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    strides = _elem_strides(a)
    if a.ndim == 0:
        shape, st = (size,), (1,)
    else:
        shape = a.shape[:d] + ((length - size) // step + 1,) + a.shape[d + 1:] + (size,)
        st = strides[:d] + (strides[d] * step,) + strides[d + 1:] + (strides[d],)
    r = _view(a, shape, st, 0)
    node = new_node(UnfoldBackward0, (self,))
    if node is not None:
        node.dim, node.size, node.step = d, size, step
    return wrap_view(r, self, node)


# --- as_strided ----------------------------------------------------------------------------------
class AsStridedBackward0(Node):
    """Saved: the storage slots (compacted to 0..m-1) of the input's elements (`pin`) and of
    the output's (`pout`), and the count of input elements per slot when some share one."""

    __slots__ = ("pin", "pout", "nslots", "count")

    def vjp(self, g):
        from .._creation import zeros
        from .index_ops import _index_add
        from .masked_ops import _take

        # the module-level helpers take a batch of cotangents (vmap) directly
        slots = zeros(self.nslots, dtype=g.dtype)
        gs = _index_add(slots, 0, self.pout.reshape(-1), g.reshape(-1), 1)
        gx = _take(gs, self.pin)
        if self.count is not None:
            gx = gx / _make(self.count.astype(g.dtype.np))
        return gx


def _positions(a: np.ndarray, st: np.ndarray) -> np.ndarray:
    """The storage slot (in elements of a's size) of every element of a."""
    return (_addresses(a) - _ptr(st)) // a.itemsize


def _check_geometry(a: np.ndarray, size: tuple, stride: tuple, offset: int) -> None:
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    if any(s < 0 for s in stride):
        raise RuntimeError("as_strided: Negative strides are not supported at the moment, got "
                           f"strides: [{', '.join(map(str, stride))}]")
    if offset < 0:
        raise RuntimeError(f"Tensor: invalid storage offset {offset}")
    if any(n < 0 for n in size):
        raise RuntimeError("Storage size calculation overflowed with sizes="
                           f"[{', '.join(map(str, size))}] and strides="
                           f"[{', '.join(map(str, stride))}]")
    st = _storage(a)
    if not st.flags.c_contiguous:
        raise NotImplementedError("tapegrad: as_strided is not yet supported on a tensor whose "
                                  "storage is not one contiguous block")
    isz = a.itemsize
    if 0 in size:
        need = 0
    else:
        need = isz * (offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1)
    if need > st.nbytes:
        raise RuntimeError(
            f"setStorage: sizes [{', '.join(map(str, size))}], strides "
            f"[{', '.join(map(str, stride))}], storage offset {offset}, and itemsize {isz} "
            f"requiring a storage size of {need} are out of bounds for storage of size "
            f"{st.nbytes}")


def as_strided(input: Tensor, size, stride, storage_offset: int | None = None) -> Tensor:  # noqa: A002
    """A view of input's storage with the given sizes, element strides and storage offset
    (by default input's own offset).

    >>> import tapegrad
    >>> tapegrad.arange(6.).as_strided((2, 2), (1, 2))
    tensor([[0., 2.],
            [1., 3.]])
    """
    return _as_strided(input, size, stride, storage_offset, 2)


def _as_strided(input: Tensor, size, stride, storage_offset, pos: int) -> Tensor:  # noqa: A002
    size = _int_tuple(size, "as_strided", "size", pos)
    stride = _int_tuple(stride, "as_strided", "stride", pos + 1)
    a = input._data
    st = _storage(a)
    own = (_ptr(a) - _ptr(st)) // max(a.itemsize, 1)
    offset = own if storage_offset is None else _int_arg(
        storage_offset, "as_strided", "storage_offset", pos + 2)
    _check_geometry(a, size, stride, offset)
    r = _view(a, size, stride, offset - own)
    node = new_node(AsStridedBackward0, (input,))
    if node is not None:
        pin = _positions(a, st)
        pout = _positions(r, st) if r.size else np.zeros(size, np.int64)
        slots, inv = np.unique(np.concatenate([pin.reshape(-1), pout.reshape(-1)]),
                               return_inverse=True)
        node.nslots = slots.size
        node.pin = inv[:pin.size].reshape(pin.shape)
        node.pout = inv[pin.size:].reshape(pout.shape)
        count = np.bincount(node.pin.reshape(-1), minlength=slots.size)
        node.count = count[node.pin] if pin.size and count.max() > 1 else None
    return wrap_view(r, input, node)


def _as_strided_method(self: Tensor, size, stride, storage_offset: int | None = None) -> Tensor:
    """self.as_strided(size, stride, storage_offset): a view of self's storage."""
    return _as_strided(self, size, stride, storage_offset, 1)


def as_strided_(input: Tensor, size, stride, storage_offset: int | None = None) -> Tensor:  # noqa: A002
    """Give input itself the geometry (size, stride, storage_offset) over its storage
    (recorded as AsStridedBackward1)."""
    rec = check_inplace(input)
    if rec:
        r = _as_strided(input, size, stride, storage_offset, 1)
        set_history(input, renamed(r._grad_fn, "AsStridedBackward1"), 0)
    else:
        with grad_mode.no_grad():
            r = _as_strided(input, size, stride, storage_offset, 1)
    input._data = r._data
    input._bump_version()
    return input


# --- resize_ -------------------------------------------------------------------------------------
def _check_resizable(t: Tensor) -> None:
    if t._requires_grad:
        raise RuntimeError("cannot resize variables that require grad")


def _resize(t: Tensor, shape: tuple) -> Tensor:
    a = t._data
    if a.shape == shape:
        return t  # nothing changes: strides kept, version unchanged
    n = int(np.prod(shape, dtype=np.int64))
    st = _storage(a)
    if st.flags.c_contiguous and st.dtype == a.dtype:
        off = (_ptr(a) - _ptr(st)) // a.itemsize
        flat = st.reshape(-1)
    else:  # the elements in memory order stand for the storage
        off, flat = 0, np.ravel(a, order="K")
    if off + n <= flat.size:
        t._data = flat[off: off + n].reshape(shape)
    else:  # the storage grows; new elements are zeros (PyTorch leaves them uninitialised)
        grown = np.zeros(off + n, dtype=a.dtype)
        grown[: flat.size] = flat
        t._data = grown[off:].reshape(shape)
    t._bump_version()
    return t


def resize_(self: Tensor, *sizes, memory_format=None) -> Tensor:
    """Give self the shape `sizes` (contiguous strides), keeping its storage and offset: its
    first elements in memory keep their values; growing past the storage extends it.

    >>> import tapegrad
    >>> tapegrad.arange(6.).resize_(2, 2)
    tensor([[0., 1.],
            [2., 3.]])
    """
    from .._creation import parse_size

    _check_resizable(self)
    try:
        shape = parse_size("resize_", sizes)
    except RuntimeError:  # a negative size
        raise RuntimeError("numel: integer multiplication overflow") from None
    _check_memory_format(memory_format, len(shape))
    return _resize(self, shape)


def _check_memory_format(memory_format, ndim: int) -> None:
    if memory_format is None:
        return
    name = str(memory_format).rsplit(".", 1)[-1]
    if name in ("contiguous_format", "preserve_format"):
        return
    need = {"channels_last": 4, "channels_last_3d": 5}.get(name)
    if need is not None and ndim != need:
        raise RuntimeError(f"required rank {need} tensor to use {name} format")
    raise NotImplementedError(f"tapegrad: resize_ with memory_format={name} is not yet "
                              "supported")


def resize_as_(input: Tensor, the_template: Tensor, *, memory_format=None) -> Tensor:  # noqa: A002
    """resize_ input to the_template's shape."""
    _check_resizable(input)
    _check_memory_format(memory_format, the_template._data.ndim)
    return _resize(input, tuple(the_template._data.shape))


# --- fill_diagonal_ -------------------------------------------------------------------------------
def _fill_diagonal_args(args: tuple, kwargs: dict):
    """(fill_value, wrap, whether wrap was positional) of fill_diagonal_(fill_value, wrap=False)."""
    kw = dict(kwargs)
    names = ("fill_value", "wrap")
    for k in kw:
        if k not in names:
            raise TypeError(f"fill_diagonal_() got an unexpected keyword argument '{k}'")
    if len(args) > 2:
        raise TypeError("fill_diagonal_() takes from 1 to 2 positional arguments but "
                        f"{len(args)} were given")
    vals = dict(zip(names, args))
    for k in names[: len(args)]:
        if k in kw:
            raise TypeError(f"fill_diagonal_() got multiple values for argument '{k}'")
    vals.update(kw)
    if "fill_value" not in vals:
        raise TypeError('fill_diagonal_() missing 1 required positional arguments: "fill_value"')
    return vals["fill_value"], vals.get("wrap", False), len(args) == 2


def fill_diagonal_(self: Tensor, *args, **kwargs) -> Tensor:
    """Fill the main diagonal (all indices equal) with fill_value; with wrap, a tall matrix's
    diagonal starts again every (columns + 1) rows, as in NumPy.

    >>> import tapegrad
    >>> tapegrad.zeros(2, 3).fill_diagonal_(7)
    tensor([[7., 0., 0.],
            [0., 7., 0.]])
    """
    fill_value, wrap, wrap_pos = _fill_diagonal_args(args, kwargs)
    if not isinstance(wrap, (bool, np.bool_)):
        where = " (position 2)" if wrap_pos else ""
        raise TypeError(
            f"fill_diagonal_(): argument 'wrap'{where} must be bool, not {_tp_name(wrap)}")
    a = self._data
    if a.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    height, width = a.shape[0], a.shape[1]
    if a.ndim > 2 and any(s != height for s in a.shape[1:]):
        raise RuntimeError("all dimensions of input must be of equal length")
    strides = _elem_strides(a)
    step = sum(strides)
    off = self.storage_offset()
    n = min(height, width)
    self.as_strided((n,), (step,), off).fill_(fill_value)
    if wrap and a.ndim == 2 and height > width + 1:
        k = width + 1
        extra = (a.size + k - 1) // k - n
        self.as_strided((extra,), (step,), off + strides[0] * k).fill_(fill_value)
    return self


METHODS = {"unfold": unfold, "as_strided": _as_strided_method, "as_strided_": as_strided_,
           "resize_": resize_, "resize_as_": resize_as_, "fill_diagonal_": fill_diagonal_}

"""Joining and splitting: cat (concat, concatenate), stack, hstack / vstack / dstack /
column_stack, split (split_with_sizes), chunk, tensor_split, unbind.

Reverse pairs: cat <-> narrow (a slice view of the gradient per input); stack <-> select;
split / chunk / unbind <-> cat / stack of the output gradients, zeros standing for outputs that
got none. split, chunk and unbind return views of their input, each output a different output
of one node (`n_outputs` slots in the engine).
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap_dim
from ..autograd.graph import Node
from ._core import new_node, wrap, wrap_view

__all__ = ["cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack",
           "column_stack", "split", "split_with_sizes", "chunk", "tensor_split", "unbind"]


def _type_name(v) -> str:
    t = type(v)
    if t.__module__ == "builtins" or isinstance(v, Tensor):
        return t.__name__
    return f"{t.__module__}.{t.__name__}"


def _tensor_list(tensors, fn: str) -> list:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"{fn}(): argument 'tensors' (position 1) must be tuple of Tensors, not "
            f"{_type_name(tensors)}")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"expected Tensor as element {i} in argument 0, but got {_type_name(t)}")
    return list(tensors)


def _result_dtype(tensors) -> D.dtype:
    dt = tensors[0]._dtype
    for t in tensors[1:]:
        if t._dtype is not dt:
            dt = D.promote_types(dt, t._dtype)
    return dt


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


# --- cat ---------------------------------------------------------------------------------
class CatBackward0(Node):
    """g sliced back into each input's part along dim (skipped empty inputs get none)."""

    __slots__ = ("dim", "sizes")

    def vjp(self, g):
        out = []
        off = 0
        d = self.dim
        for n, (nxt, _) in zip(self.sizes, self._next):
            if n is None:  # a legacy empty 1-D input left out of the result
                out.append(g.new_zeros((0,)) if nxt is not None else None)
                continue
            out.append(g.narrow(d, off, n) if nxt is not None else None)
            off += n
        return tuple(out)


def cat(tensors, dim: int = 0, *, axis: int | None = None, out=None) -> Tensor:
    """Concatenate tensors along an existing dim (types promoted; 1-D empty tensors skipped).

    >>> import tapegrad
    >>> tapegrad.cat([tapegrad.zeros(2, 3), tapegrad.ones(1, 3)]).shape
    tapegrad.Size([3, 3])
    """
    tensors = _tensor_list(tensors, "cat")
    if axis is not None:
        dim = axis
    if not tensors:
        raise ValueError("tapegrad.cat(): expected a non-empty list of Tensors")
    # PyTorch's legacy rule: 1-D tensors of size 0 take no part in the shape checks
    used = [t for t in tensors if not (t._data.ndim == 1 and t._data.shape[0] == 0)]
    dt = _result_dtype(tensors)
    if not used:
        r = np.zeros(0, dt.np)
        d = 0
    else:
        ref = used[0]._data
        for i, t in enumerate(tensors):
            if t._data.ndim == 0:
                raise RuntimeError(
                    f"zero-dimensional tensor (at position {i}) cannot be concatenated")
        nd = ref.ndim
        d = _wrap_dim(dim, nd)
        for i, t in enumerate(tensors):
            a = t._data
            if a.ndim == 1 and a.shape[0] == 0:
                continue
            if a.ndim != nd:
                raise RuntimeError(
                    f"Tensors must have same number of dimensions: got {nd} and {a.ndim}")
            for k in range(nd):
                if k != d and a.shape[k] != ref.shape[k]:
                    raise RuntimeError(
                        f"Sizes of tensors must match except in dimension {d}. Expected size "
                        f"{ref.shape[k]} but got size {a.shape[k]} for tensor number {i} in the "
                        "list.")
        arrays = [t._data if t._data.dtype == dt.np else t._data.astype(dt.np) for t in used]
        r = np.concatenate(arrays, axis=d) if len(arrays) > 1 else arrays[0].copy()
    node = new_node(CatBackward0, tensors)
    if node is not None:
        node.dim = d
        node.sizes = tuple(
            None if (t._data.ndim == 1 and t._data.shape[0] == 0 and used) else
            (t._data.shape[d] if used else 0)
            for t in tensors
        )
    res = wrap(r, node)
    if out is not None:
        from .inplace import copy_out

        return copy_out(out, res)
    return res


concat = concatenate = cat


# --- stack -------------------------------------------------------------------------------
class StackBackward0(Node):
    __slots__ = ("dim",)

    def vjp(self, g):
        d = self.dim
        return tuple(g.select(d, i) if nxt is not None else None
                     for i, (nxt, _) in enumerate(self._next))


def stack(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Join equally shaped tensors along a new dim.

    >>> import tapegrad
    >>> tapegrad.stack([tapegrad.zeros(2, 3), tapegrad.ones(2, 3)], dim=1).shape
    tapegrad.Size([2, 2, 3])
    """
    tensors = _tensor_list(tensors, "stack")
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {_shape_str(shape)} at "
                f"entry 0 and {_shape_str(t._data.shape)} at entry {i}")
    d = _wrap_dim(dim, len(shape) + 1)
    dt = _result_dtype(tensors)
    arrays = [t._data if t._data.dtype == dt.np else t._data.astype(dt.np) for t in tensors]
    node = new_node(StackBackward0, tensors)
    if node is not None:
        node.dim = d
    res = wrap(np.stack(arrays, axis=d), node)
    if out is not None:
        from .inplace import copy_out

        return copy_out(out, res)
    return res


def _atleast(t: Tensor, n: int) -> Tensor:
    """PyTorch's atleast_1d / 2d / 3d on one tensor."""
    k = t._data.ndim
    if k >= n:
        return t
    if k == 0:
        return t.reshape((1,) * n)
    if n == 2 or k == 2:  # (m,) -> (1, m) for 2-D; (a, b) -> (a, b, 1) for 3-D
        t = t.unsqueeze(0) if k == 1 else t
        return t.unsqueeze(-1) if n == 3 else t
    return t.unsqueeze(0).unsqueeze(-1)  # (m,) -> (1, m, 1)


def hstack(tensors) -> Tensor:
    """Concatenate column-wise (along dim 1, or dim 0 for 1-D tensors).

    >>> import tapegrad
    >>> tapegrad.hstack([tapegrad.zeros(2, 1), tapegrad.ones(2, 2)]).shape
    tapegrad.Size([2, 3])
    """
    ts = [_atleast(t, 1) for t in _tensor_list(tensors, "hstack")]
    return cat(ts, 0 if ts and ts[0]._data.ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    """Concatenate row-wise, 1-D tensors becoming rows.

    >>> import tapegrad
    >>> tapegrad.vstack([tapegrad.zeros(3), tapegrad.ones(3)]).shape
    tapegrad.Size([2, 3])
    """
    return cat([_atleast(t, 2) for t in _tensor_list(tensors, "vstack")], 0)


def dstack(tensors) -> Tensor:
    """Concatenate depth-wise (dim 2), tensors made at least 3-D first.

    >>> import tapegrad
    >>> tapegrad.dstack([tapegrad.zeros(3), tapegrad.ones(3)]).shape
    tapegrad.Size([1, 3, 2])
    """
    return cat([_atleast(t, 3) for t in _tensor_list(tensors, "dstack")], 2)


def column_stack(tensors) -> Tensor:
    """Concatenate as columns: 0-D and 1-D tensors become (n, 1) columns.

    >>> import tapegrad
    >>> tapegrad.column_stack([tapegrad.zeros(3), tapegrad.ones(3, 2)]).shape
    tapegrad.Size([3, 3])
    """
    ts = [t.reshape(-1, 1) if t._data.ndim <= 1 else t
          for t in _tensor_list(tensors, "column_stack")]
    return cat(ts, 1)


# --- split / chunk / unbind --------------------------------------------------------------
class _SplitNode(Node):
    """Outputs are the parts of x along dim with these sizes; vjp concatenates their grads."""

    __slots__ = ("n_outputs", "dim", "sizes")
    # its outputs are views that PyTorch forbids modifying in place ("Output 0 of ... is a view
    # and is being modified inplace. This view is the output of a function that returns
    # multiple views. ...")
    multi_view = True

    def vjp(self, *grads):
        shape, _ = self._in_meta[0]
        d = self.dim
        parts = []
        for n, g in zip(self.sizes, grads):
            if g is None:
                from .._creation import zeros

                ref = next(x for x in grads if x is not None)
                g = zeros(shape[:d] + (n,) + shape[d + 1:], dtype=ref.dtype)
            parts.append(g)
        return cat(parts, d) if len(parts) > 1 else parts[0]


class SplitBackward0(_SplitNode):
    __slots__ = ()


class SplitWithSizesBackward0(_SplitNode):
    __slots__ = ()


_MULTI_VIEW_NODES = {"SplitBackward0": "Split", "SplitWithSizesBackward0": "SplitWithSizes",
                     "UnbindBackward0": "Unbind"}


def _mark_multi_view(t: Tensor, node) -> None:
    """Outputs of split/unbind refuse recorded in-place changes (see ops/inplace.py)."""
    name = _MULTI_VIEW_NODES.get(type(node).__name__)
    if name is not None:
        t._extra = {**(t._extra or {}), "multi_view": name}


def _views(x: Tensor, node, d: int, bounds) -> tuple:
    a = x._data
    lead = (slice(None),) * d
    outs = []
    for i, (s, e) in enumerate(bounds):
        t = wrap_view(a[lead + (slice(s, e),)], x, node)
        if node is not None:
            t._output_nr = i
            _mark_multi_view(t, node)
        outs.append(t)
    return tuple(outs)


def _split_sizes(x: Tensor, sizes, d: int, cls) -> tuple:
    node = new_node(cls, (x,))
    if node is not None:
        node.n_outputs, node.dim, node.sizes = len(sizes), d, tuple(sizes)
    bounds = []
    off = 0
    for n in sizes:
        bounds.append((off, off + n))
        off += n
    return _views(x, node, d, bounds)


def split_with_sizes(input: Tensor, split_sizes, dim: int = 0) -> tuple:  # noqa: A002
    """Split into parts of the given sizes along dim (views).

    >>> import tapegrad
    >>> [t.shape[0] for t in tapegrad.arange(5.).split_with_sizes([1, 4])]
    [1, 4]
    """
    a = input._data
    if a.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = _wrap_dim(dim, a.ndim)
    sizes = [int(s) for s in split_sizes]
    n = a.shape[d]
    if any(s < 0 for s in sizes):
        raise RuntimeError(
            "split_with_sizes expects split_sizes have only non-negative entries, but got "
            f"split_sizes={_shape_str(sizes)}")
    if sum(sizes) != n:
        raise RuntimeError(
            f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
            f"dimension {d}), but got split_sizes={_shape_str(sizes)}")
    return _split_sizes(input, sizes, d, SplitWithSizesBackward0)


def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Split into parts of split_size (the last may be smaller), or of the listed sizes.

    >>> import tapegrad
    >>> [t.shape[0] for t in tapegrad.arange(5.).split(2)]
    [2, 2, 1]
    """
    if isinstance(split_size_or_sections, (list, tuple)):
        return split_with_sizes(tensor, split_size_or_sections, dim)
    a = tensor._data
    if a.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    size = int(split_size_or_sections)
    d = _wrap_dim(dim, a.ndim)
    n = a.shape[d]
    if size < 0:
        raise RuntimeError(f"split expects split_size be non-negative, but got split_size={size}")
    if size == 0 and n != 0:
        raise RuntimeError(
            f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
    k = max((n + size - 1) // size, 1) if size else 1
    sizes = [size] * (k - 1) + [n - size * (k - 1)]
    return _split_sizes(tensor, sizes, d, SplitBackward0)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:  # noqa: A002
    """Split into `chunks` parts of equal size (the last may be smaller; fewer parts may result).

    >>> import tapegrad
    >>> [t.shape[0] for t in tapegrad.arange(6.).chunk(4)]
    [2, 2, 2]
    """
    a = input._data
    if a.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = _wrap_dim(dim, a.ndim)
    n = a.shape[d]
    size = (n + chunks - 1) // chunks
    if size == 0 and n == 0:
        return _split_sizes(input, [0] * chunks, d, SplitWithSizesBackward0)
    return split(input, size, d)


def tensor_split(input: Tensor, indices_or_sections, dim: int = 0) -> tuple:  # noqa: A002
    """Split into k nearly equal parts (the first n % k one longer), or at the given indices.

    >>> import tapegrad
    >>> [t.shape[0] for t in tapegrad.arange(7.).tensor_split(3)]
    [3, 2, 2]
    """
    a = input._data
    if a.ndim == 0:
        raise RuntimeError(
            "tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    d = _wrap_dim(dim, a.ndim)
    n = a.shape[d]
    if isinstance(indices_or_sections, Tensor):
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, (list, tuple)):
        cuts = [0] + [int(i) for i in indices_or_sections] + [n]
        bounds = []
        for s, e in zip(cuts[:-1], cuts[1:]):
            s = min(max(s + n if s < 0 else s, 0), n)
            e = min(max(e + n if e < 0 else e, 0), n)
            bounds.append((s, max(s, e)))
    else:
        k = int(indices_or_sections)
        if k <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {k}")
        q, rem = divmod(n, k)
        bounds = []
        off = 0
        for i in range(k):
            m = q + (1 if i < rem else 0)
            bounds.append((off, off + m))
            off += m
    return tuple(input.narrow(d, s, e - s) for s, e in bounds)


class UnbindBackward0(Node):
    __slots__ = ("n_outputs", "dim")
    multi_view = True  # see _SplitNode

    def vjp(self, *grads):
        shape, _ = self._in_meta[0]
        d = self.dim
        ref = next(x for x in grads if x is not None)
        if any(g is None for g in grads):
            from .._creation import zeros

            z = zeros(shape[:d] + shape[d + 1:], dtype=ref.dtype)
            grads = [z if g is None else g for g in grads]
        return stack(list(grads), d)


def unbind(input: Tensor, dim: int = 0) -> tuple:  # noqa: A002
    """The slices along dim, that dim removed (views).

    >>> import tapegrad
    >>> tapegrad.tensor([[1., 2.], [3., 4.]]).unbind(1)
    (tensor([1., 3.]), tensor([2., 4.]))
    """
    a = input._data
    if a.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    d = _wrap_dim(dim, a.ndim)
    n = a.shape[d]
    node = new_node(UnbindBackward0, (input,))
    if node is not None:
        node.n_outputs, node.dim = n, d
    lead = (slice(None),) * d
    outs = []
    for i in range(n):
        t = wrap_view(a[lead + (i, Ellipsis)], input, node)
        if node is not None:
            t._output_nr = i
            _mark_multi_view(t, node)
        outs.append(t)
    return tuple(outs)


def _split_method(self: Tensor, split_size, dim: int = 0) -> tuple:
    return split(self, split_size, dim)


METHODS = {"split": _split_method, "split_with_sizes": split_with_sizes, "chunk": chunk,
           "tensor_split": tensor_split, "unbind": unbind}

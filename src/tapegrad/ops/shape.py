"""Shape ops that are views of their input: reshape/view, expand, permute, transpose,
squeeze/unsqueeze, and sum_to_size (expand's reverse pair, used by the engine)."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor, _make, _wrap_dim
from ..autograd.engine import edge_of
from ..autograd.graph import Node
from . import _core
from ._core import _state, in_meta, meta_of, new_node, wrap, wrap_view

__all__ = ["reshape", "view", "expand", "permute", "transpose", "t", "unsqueeze", "squeeze",
           "sum_to_size", "infer_size", "expand_as", "broadcast_to", "view_as", "reshape_as",
           "swapaxes", "swapdims"]


def _sizes(size):
    """Accept f(2, 3), f((2, 3)) and f([2, 3]) as PyTorch does."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    return tuple(int(s) for s in size)


def infer_size(shape, numel: int) -> tuple:
    """Resolve one -1 in shape from numel, with PyTorch's messages."""
    neg = -1
    known = 1
    for i, s in enumerate(shape):
        if s == -1:
            if neg >= 0:
                raise RuntimeError("only one dimension can be inferred")
            neg = i
        elif s < 0:
            raise RuntimeError(
                f"invalid shape dimension {s} at index {i} of shape {_fmt(shape)}")
        else:
            known *= s
    if neg >= 0:
        if known == 0:
            if numel == 0:
                raise RuntimeError(
                    f"cannot reshape tensor of 0 elements into shape {_fmt(shape)} because the "
                    "unspecified dimension size -1 can be any value and is ambiguous"
                )
        elif numel % known == 0:
            return shape[:neg] + (numel // known,) + shape[neg + 1:]
    elif known == numel:
        return shape
    raise RuntimeError(f"shape '{_fmt(shape)}' is invalid for input of size {numel}")


def _fmt(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


class ViewBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return g.reshape(self._in_meta[0][0])


class UnsafeViewBackward0(ViewBackward0):
    __slots__ = ()


def view(input: Tensor, *shape) -> Tensor:  # noqa: A002
    """A tensor of another shape over the same values (must be expressible as a view)."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int)):
        return _view_dtype(input, shape[0])
    shape = infer_size(_sizes(shape), input._data.size)
    a = input._data
    try:
        r = np.reshape(a, shape, copy=False)
    except ValueError:
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        ) from None
    return wrap_view(r, input, new_node(ViewBackward0, (input,)))


def _view_dtype(input, dtype):
    raise NotImplementedError("tapegrad: Tensor.view(dtype) is not supported yet")


class ReshapeAliasBackward0(ViewBackward0):
    __slots__ = ()


def reshape(input: Tensor, *shape) -> Tensor:  # noqa: A002
    """A tensor of another shape with the same values: a view when possible, else a copy.

    As PyTorch: a contiguous input gives a view (ViewBackward0), a non-contiguous one a view
    when its strides allow (ReshapeAliasBackward0), else a contiguous copy reshaped
    (UnsafeViewBackward0 over CloneBackward0).
    """
    shape = infer_size(_sizes(shape), input._data.size)
    a = input._data
    if a.flags.c_contiguous:
        return wrap_view(a.reshape(shape), input, new_node(ViewBackward0, (input,)))
    try:
        r = np.reshape(a, shape, copy=False)
        return wrap_view(r, input, new_node(ReshapeAliasBackward0, (input,)))
    except ValueError:
        from .convert import clone

        c = clone(input)
        return wrap(c._data.reshape(shape), new_node(UnsafeViewBackward0, (c,)))


def view_as(input, other):  # noqa: A002
    return view(input, other.shape)


def reshape_as(input, other):  # noqa: A002
    return reshape(input, other.shape)


class ExpandBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return g.sum_to_size(self._in_meta[0][0])


def expand(input: Tensor, *sizes) -> Tensor:  # noqa: A002
    """Broadcast to a larger shape without copying (-1 keeps a dimension's size)."""
    sizes = _sizes(sizes)
    a = input._data
    if len(sizes) < a.ndim:
        raise RuntimeError(
            f"expand(torch.{input._dtype._legacy}{{[{', '.join(str(s) for s in a.shape)}]}}, "
            f"size=[{', '.join(str(s) for s in sizes)}]): the number of sizes provided "
            f"({len(sizes)}) must be greater or equal to the number of dimensions in the tensor "
            f"({a.ndim})".replace("torch.", "tapegrad.")
        )
    lead = len(sizes) - a.ndim
    target = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError(
                    f"The expanded size of the tensor ({s}) isn't allowed in a leading, "
                    "non-existing dimension 0"
                )
            target.append(s)
            continue
        cur = a.shape[i - lead]
        if s == -1:
            s = cur
        elif cur != s and cur != 1:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                f"non-singleton dimension {i}.  Target sizes: "
                f"[{', '.join(str(v) for v in sizes)}].  Tensor sizes: "
                f"[{', '.join(str(v) for v in a.shape)}]"
            )
        target.append(s)
    r = np.broadcast_to(a, tuple(target))
    return wrap_view(r, input, new_node(ExpandBackward0, (input,)))


def expand_as(input, other):  # noqa: A002
    return expand(input, other.shape)


def broadcast_to(input, size):  # noqa: A002
    return expand(input, size)


def sum_to_size(input: Tensor, *size) -> Tensor:  # noqa: A002
    """Sum input down to `size`, the reverse of expand (used to undo broadcasting)."""
    shape = _sizes(size)
    a = input._data
    lead = a.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and a.shape[lead + i] != 1
    )
    if not dims:
        return input
    r = input.sum(dims, keepdim=True)
    if lead:
        r = r.view(shape)
    return r


class PermuteBackward0(Node):
    __slots__ = ("dims",)

    def vjp(self, g):
        inv = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inv[d] = i
        return g.permute(inv)


def permute(input: Tensor, *dims) -> Tensor:  # noqa: A002
    """Reorder dimensions (a view).

    >>> import tapegrad
    >>> tapegrad.zeros(2, 3, 4).permute(2, 0, 1).shape
    tapegrad.Size([4, 2, 3])
    """
    if not dims:
        raise TypeError('permute() missing 1 required positional arguments: "dims"')
    dims = _sizes(dims)
    n = input._data.ndim
    if len(dims) != n:
        raise RuntimeError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {n} is not equal "
            f"to len(dims) = {len(dims)}"
        )
    dims = tuple(_wrap_dim(d, n) for d in dims)
    if len(set(dims)) != n:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    node = new_node(PermuteBackward0, (input,))
    if node is not None:
        node.dims = dims
    return wrap_view(np.transpose(input._data, dims), input, node)


class TransposeBackward0(Node):
    __slots__ = ("d0", "d1")

    def vjp(self, g):
        return g.transpose(self.d0, self.d1)


class TBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        if _state.enabled or _core.fw_on or type(g) is not Tensor:
            return g.t()
        # no graph to record: the transposed array as a plain tensor (only the engine and
        # hooks see it). When g is itself the transpose of an array, that array is the answer
        # (same memory, shape and strides): a gradient made in its parameter's layout (see
        # AddmmBackward0) then reaches AccumulateGrad as an array of its own, which it can keep
        # without a copy.
        a = g._data.T
        b = a.base
        if b is not None and type(b) is np.ndarray and b.shape == a.shape and (
            b.strides == a.strides and b.dtype == a.dtype
        ):
            a = b
        return _make(a, None, False)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:  # noqa: A002
    """Swap two dimensions (a view)."""
    n = input._data.ndim
    d0, d1 = _wrap_dim(dim0, n), _wrap_dim(dim1, n)
    node = new_node(TransposeBackward0, (input,))
    if node is not None:
        node.d0, node.d1 = d0, d1
    r = np.swapaxes(input._data, d0, d1) if n else input._data.view()
    return wrap_view(r, input, node)


swapaxes = swapdims = transpose


def t(input: Tensor) -> Tensor:  # noqa: A002
    """Transpose a tensor of at most 2 dimensions."""
    a = input._data
    n = a.ndim
    if n > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {n}D")
    if _state.enabled and input._requires_grad and not _core.fw_on:  # new_node, inlined
        node = TBackward0()
        node._next = (edge_of(input),)
        node._in_meta = in_meta(meta_of(input))
    else:
        node = new_node(TBackward0, (input,))
    return wrap_view(a.T, input, node)


class UnsqueezeBackward0(Node):
    __slots__ = ("dim",)

    def vjp(self, g):
        return g.squeeze(self.dim)


def unsqueeze(input: Tensor, dim: int) -> Tensor:  # noqa: A002
    """Insert a dimension of size 1 at dim (a view)."""
    n = input._data.ndim + 1
    d = _wrap_dim(dim, n)
    node = new_node(UnsqueezeBackward0, (input,))
    if node is not None:
        node.dim = d
    return wrap_view(np.expand_dims(input._data, d), input, node)


class SqueezeBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return g.reshape(self._in_meta[0][0])


class SqueezeBackward1(SqueezeBackward0):
    __slots__ = ()


class SqueezeBackward2(SqueezeBackward0):
    __slots__ = ()


def squeeze(input: Tensor, dim=None) -> Tensor:  # noqa: A002
    """Remove dimensions of size 1 (all, or those listed in dim that have size 1)."""
    a = input._data
    if dim is None:
        axes = tuple(i for i, s in enumerate(a.shape) if s == 1)
        cls = SqueezeBackward0
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        axes = tuple(_wrap_dim(d, a.ndim) for d in dims)
        for d in axes:
            if axes.count(d) > 1:
                raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        axes = tuple(d for d in axes if a.ndim and a.shape[d] == 1)
        cls = SqueezeBackward2 if isinstance(dim, (tuple, list)) else SqueezeBackward1
    r = np.squeeze(a, axes) if axes else a.view()
    return wrap_view(r, input, new_node(cls, (input,)))


# --- flatten / unflatten / movedim / ravel ---------------------------------------------------
def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:  # noqa: A002
    """Merge dims start_dim..end_dim into one (a reshape: a view when possible).

    As PyTorch, nothing to merge returns input itself, and a 0-d tensor becomes shape (1,).

    >>> import tapegrad
    >>> tapegrad.zeros(2, 3, 4).flatten(1).shape
    tapegrad.Size([2, 12])
    """
    a = input._data
    n = a.ndim
    s = _wrap_dim(start_dim, n)
    e = _wrap_dim(end_dim, n)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if n == 0:
        return reshape(input, (1,))
    if s == e:
        return input
    shape = a.shape
    k = 1
    for d in shape[s:e + 1]:
        k *= d
    return reshape(input, shape[:s] + (k,) + shape[e + 1:])


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:  # noqa: A002
    """Split dim into several of the given sizes (one may be -1): a view.

    >>> import tapegrad
    >>> tapegrad.zeros(2, 12).unflatten(1, (3, -1)).shape
    tapegrad.Size([2, 3, 4])
    """
    a = input._data
    if a.ndim == 0:
        raise RuntimeError("unflatten got an unexpected error:\nDimension specified as "
                           f"{dim} but tensor has no dimensions")
    d = _wrap_dim(dim, a.ndim)
    sizes = tuple(int(v) for v in sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    n = a.shape[d]
    if -1 in sizes:
        try:
            sizes = infer_size(sizes, n)
        except RuntimeError as e:
            if "can be inferred" in str(e) or "ambiguous" in str(e):
                raise RuntimeError(f"unflatten got an unexpected error:\n{e}") from None
            raise RuntimeError(
                f"unflatten: Provided sizes {_fmt(sizes)} don't multiply up to the size of dim "
                f"{dim} ({n}) in the input tensor"
            ) from None
    else:
        k = 1
        for v in sizes:
            k *= v
        if k != n:
            raise RuntimeError(
                f"unflatten: Provided sizes {_fmt(sizes)} don't multiply up to the size of dim "
                f"{dim} ({n}) in the input tensor"
            )
    r = np.reshape(a, a.shape[:d] + sizes + a.shape[d + 1:], copy=False)
    return wrap_view(r, input, new_node(ViewBackward0, (input,)))


def movedim(input: Tensor, source, destination) -> Tensor:  # noqa: A002
    """Move dims from positions source to positions destination, the rest keeping their order.

    >>> import tapegrad
    >>> tapegrad.zeros(2, 3, 4).movedim(0, -1).shape
    tapegrad.Size([3, 4, 2])
    """
    n = input._data.ndim
    src = tuple(source) if isinstance(source, (tuple, list)) else (source,)
    dst = tuple(destination) if isinstance(destination, (tuple, list)) else (destination,)
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({_fmt(src)} dims) should "
            f"contain the same number of dims as destination ({_fmt(dst)} dims)"
        )
    src = tuple(_wrap_dim(int(d), n) for d in src)
    dst = tuple(_wrap_dim(int(d), n) for d in dst)
    for what, ds in (("source", src), ("destination", dst)):
        if len(set(ds)) != len(ds):
            raise RuntimeError(f"movedim: repeated dim in `{what}` ({_fmt(ds)})")
    order = [-1] * n
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(i for i in range(n) if i not in src)
    order = [next(rest) if o == -1 else o for o in order]
    return permute(input, order) if n else permute(input, ())


moveaxis = movedim


def ravel(input: Tensor) -> Tensor:  # noqa: A002
    """The values as a 1-D tensor: contiguous() then view(-1).

    >>> import tapegrad
    >>> tapegrad.tensor([[1., 2.], [3., 4.]]).t().ravel()
    tensor([1., 3., 2., 4.])
    """
    from .convert import contiguous

    return view(contiguous(input), -1)


__all__ += ["flatten", "unflatten", "movedim", "moveaxis", "ravel"]
METHODS = {"flatten": flatten, "unflatten": unflatten, "movedim": movedim,
           "moveaxis": moveaxis, "ravel": ravel}

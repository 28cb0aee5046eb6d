"""Padding (constant, reflect, replicate, circular), pixel_shuffle / pixel_unshuffle, and
unfold / fold (im2col / col2im): each a primitive whose reverse is another in this file.

  constant_pad_nd(x, pad)      vjp: constant_pad_nd(g, -pad) (a crop; negative pads crop)
  reflect / replicate pad      out = x taken at an index array along each padded dim;
                               vjp: g scatter-added back along those dims (the *BackwardBackward0
                               node), whose vjp is the pad again
  pixel_shuffle(x, r)          vjp: pixel_unshuffle(g, r), and the other way round
  unfold (Im2ColBackward0)     vjp: fold(g), and the other way round (Col2ImBackward0)
Circular padding is slices and cat (PyTorch writes it with in-place slice copies instead).
"""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from ..autograd.graph import Node
from . import _conv_kernels as K
from ._core import batched_cotangent, is_batched_value, new_node, rebatch, save, wrap
from .pool import repeat_like, zeros_for

__all__ = ["constant_pad_nd", "pixel_shuffle", "pixel_unshuffle"]
FUNCTIONAL = ["pad", "pixel_shuffle", "pixel_unshuffle", "unfold", "fold"]


def _shape(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


# --- constant padding --------------------------------------------------------------------------
class ConstantPadNdBackward0(Node):
    # out = x padded by pad (negative entries crop): the gradient is g with the pads undone
    __slots__ = ("pad",)

    def vjp(self, g):
        return constant_pad_nd(g, [-p for p in self.pad])


def constant_pad_nd(input: Tensor, pad, value=0) -> Tensor:  # noqa: A002
    """Pad the last len(pad) // 2 dims with value: pad = (last_lo, last_hi, prev_lo, ...);
    negative pads remove elements.

    >>> import tapegrad
    >>> tapegrad.constant_pad_nd(tapegrad.ones(2), (1, 2))
    tensor([0., 1., 1., 0., 0.])
    """
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise RuntimeError(f"Length of pad must be even but instead it equals {len(pad)}")
    a = input._data
    n = a.ndim
    npad = len(pad) // 2
    if npad > n:
        raise RuntimeError(
            "Length of pad should be no more than twice the number of dimensions of the input. "
            f"Pad length is {len(pad)}while the input has {n}dimensions.")
    crop = [slice(None)] * n
    grow = [(0, 0)] * n
    for j in range(npad):
        d = n - 1 - j
        lo, hi = pad[2 * j], pad[2 * j + 1]
        size = a.shape[d]
        start = -lo if lo < 0 else 0
        if lo < 0 and size + lo < 0 or size - start + min(hi, 0) < 0:
            raise RuntimeError("narrow(): length must be non-negative.")
        crop[d] = slice(start, size + min(hi, 0))
        grow[d] = (max(lo, 0), max(hi, 0))
    r = a[tuple(crop)]
    if any(g != (0, 0) for g in grow):
        shape = tuple(s + lo + hi for s, (lo, hi) in zip(r.shape, grow))
        out = np.full(shape, value, dtype=a.dtype)
        out[tuple(slice(lo, lo + s) for s, (lo, _) in zip(r.shape, grow))] = r
    else:
        out = r.copy()
    node = new_node(ConstantPadNdBackward0, (input,))
    if node is not None:
        node.pad = tuple(pad)
    return wrap(out, node)


# --- reflect / replicate: a gather by index arrays and its scatter-add -------------------------
def _runs(idx: np.ndarray):
    """Maximal runs (out_start, out_stop, in_start, step) of idx with a step of 1, -1 or 0."""
    runs = []
    i, n = 0, len(idx)
    while i < n:
        j = i + 1
        step = int(idx[j] - idx[i]) if j < n else 1
        if step not in (-1, 0, 1):
            step = 1
        while j < n and idx[j] - idx[j - 1] == step:
            j += 1
        runs.append((i, j, int(idx[i]), step))
        i = j
    return runs


def _scatter_axis(g: np.ndarray, idx: np.ndarray, size: int, axis: int) -> np.ndarray:
    """out (size along axis) with out[idx[j]] += g[j] along axis, a few slab adds."""
    shape = list(g.shape)
    shape[axis] = size
    out = np.zeros(shape, dtype=g.dtype)
    lead = (slice(None),) * axis
    for s, e, i0, step in _runs(idx):
        src = g[lead + (slice(s, e),)]
        if step == 0:
            out[lead + (slice(i0, i0 + 1),)] += src.sum(axis, keepdims=True)
        elif step == 1:
            out[lead + (slice(i0, i0 + e - s),)] += src
        else:
            out[lead + (slice(i0 - (e - s) + 1, i0 + 1),)] += src[lead + (slice(None, None, -1),)]
    return out


class _IndexPad(Node):
    __slots__ = ("idx",)  # one index array per padded (trailing) dim
    back = None  # the class of the backward's node

    def vjp(self, g):
        (x,) = self.saved_tensors()
        return _index_pad_backward(g, x, self.idx, type(self).back)


class _IndexPadBackward(Node):
    # inputs (g, x): linear in g, its vjp is the pad again; x gets a zero gradient
    __slots__ = ("idx",)
    fwd = None

    def vjp(self, gg):
        gi = _index_pad(gg, self.idx, type(self).fwd) if self._next[0][0] is not None else None
        return gi, zeros_for(self, 1)


def _make_pad_nodes():
    out = {}
    for mode, stem in (("reflect", "ReflectionPad"), ("replicate", "ReplicationPad")):
        for nd in (1, 2, 3):
            fwd = type(f"{stem}{nd}DBackward0", (_IndexPad,), {"__slots__": ()})
            back = type(f"{stem}{nd}DBackwardBackward0", (_IndexPadBackward,), {"__slots__": ()})
            fwd.back, back.fwd = back, fwd
            fwd.__module__ = back.__module__ = __name__
            out[mode, nd] = fwd
    return out


_PAD_NODES = _make_pad_nodes()


def _index_pad(x: Tensor, idx, cls) -> Tensor:
    if type(x) is not Tensor:  # a batch of cotangents under vmap (double backward)
        b = batched_cotangent(x)
        if b is not None:  # the pad reads the trailing dims only: the batch is one more
            return rebatch(_index_pad(b[0], idx, cls), b[1])
    a = x._data
    n = a.ndim
    for j, ix in enumerate(idx):
        a = np.take(a, ix, axis=n - len(idx) + j)
    node = new_node(cls, (x,))
    if node is not None:
        node.idx = idx
        save(node, x)
    return wrap(np.ascontiguousarray(a), node)


def _index_pad_backward(g: Tensor, x: Tensor, idx, cls) -> Tensor:
    if type(g) is not Tensor:  # a batch of cotangents under vmap: the batch as a leading dim
        b = batched_cotangent(g)
        if b is not None and not is_batched_value(x):
            return rebatch(_index_pad_backward(b[0], repeat_like(x, b[0].shape[0]), idx, cls),
                           b[1])
    a = g._data
    shape = x._data.shape
    n = a.ndim
    for j, ix in enumerate(idx):
        ax = n - len(idx) + j
        a = _scatter_axis(a, ix, shape[ax], ax)
    node = new_node(cls, (g, x))
    if node is not None:
        node.idx = idx
    return wrap(a, node)


def _pad_index(mode: str, size: int, lo: int, hi: int) -> np.ndarray:
    j = np.arange(-lo, size + hi)
    if mode == "replicate":
        return np.clip(j, 0, size - 1)
    j = np.abs(j)  # reflect about 0 and about size - 1
    return np.where(j > size - 1, 2 * (size - 1) - j, j)


def _reflect_replicate(x: Tensor, pad, mode: str) -> Tensor:
    a = x._data
    n = a.ndim
    nd = len(pad) // 2
    dims = range(n - nd, n)
    nonbatch = a.shape[1:] if n == nd + 2 else a.shape
    if any(s == 0 for s in nonbatch):
        raise RuntimeError(
            f"Expected {nd + 1}D or {nd + 2}D (batch mode) tensor with possibly 0 batch size and "
            f"other non-zero dimensions for input, but got: {_shape(a.shape)}")
    idx = []
    for j, d in enumerate(dims):
        k = nd - 1 - j  # pad pairs run from the last dim
        lo, hi = pad[2 * k], pad[2 * k + 1]
        size = a.shape[d]
        if mode == "reflect" and (lo >= size or hi >= size):
            raise RuntimeError(
                f"Argument #{4 + 2 * k}: Padding size should be less than the corresponding "
                f"input dimension, but got: padding ({lo}, {hi}) at dimension {d} of input "
                f"{_shape(a.shape)}")
        if size + lo + hi < 0:
            label = "DHW"[3 - nd + j]
            raise RuntimeError(
                f"input ({label}: {size}) is too small. Calculated output {label}: "
                f"{size + lo + hi}")
        idx.append(_pad_index(mode, size, lo, hi))
    return _index_pad(x, tuple(idx), _PAD_NODES[mode, nd])


def _circular(x: Tensor, pad) -> Tensor:
    from .join import cat

    n = x._data.ndim
    nd = len(pad) // 2
    if n - nd not in (1, 2):
        raise RuntimeError(
            "Invalid padding size, expected 1 or 2 non-padded dimensions, which would be "
            f"equivalent to padding of length {(n - 1) * 2} or {(n - 2) * 2} respectively but "
            f"got {len(pad)}")
    for k in range(nd):
        d = n - 1 - k
        lo, hi = pad[2 * k], pad[2 * k + 1]
        size = x._data.shape[d]
        if lo > size or hi > size:
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if size + lo + hi < 0:
            raise RuntimeError("Negative padding value is resulting in an empty dimension")
    out = x
    for k in range(nd):  # last dim first, as PyTorch fills them
        d = n - 1 - k
        lo, hi = pad[2 * k], pad[2 * k + 1]
        size = out._data.shape[d]
        lead = (slice(None),) * d
        if lo < 0 or hi < 0:
            out = out[lead + (slice(max(-lo, 0), size - max(-hi, 0)),)]
            size = out._data.shape[d]
        parts = []
        if lo > 0:
            parts.append(out[lead + (slice(size - lo, size),)])
        parts.append(out)
        if hi > 0:
            parts.append(out[lead + (slice(0, hi),)])
        if len(parts) > 1:
            out = cat(parts, d)
    return out


_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """Pad the last len(pad) // 2 dims: pad = (last_lo, last_hi, prev_lo, prev_hi, ...).

    mode 'constant' (any number of dims, fill `value`, default 0), or 'reflect', 'replicate'
    and 'circular' (the last 1, 2 or 3 dims of a batched or unbatched input).

    >>> import tapegrad
    >>> tapegrad.nn.functional.pad(tapegrad.tensor([[1., 2., 3.]]), (2, 1), mode="reflect")
    tensor([[3., 2., 1., 2., 3., 2.]])
    """
    pad = [int(p) for p in pad]
    n = input._data.ndim
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) > 2 * n:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {n}")
    if mode == "constant":
        return constant_pad_nd(input, pad, 0 if value is None else value)
    if mode not in _MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    nd = len(pad) // 2
    if not (1 <= nd <= 3 and n in (nd + 1, nd + 2)):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {n}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    if mode == "circular":
        return _circular(input, pad)
    return _reflect_replicate(input, pad, mode)


# --- pixel_shuffle / pixel_unshuffle -----------------------------------------------------------
class PixelShuffleBackward0(Node):
    __slots__ = ("r",)

    def vjp(self, g):
        return pixel_unshuffle(g, self.r)


class PixelUnshuffleBackward0(Node):
    __slots__ = ("r",)

    def vjp(self, g):
        return pixel_shuffle(g, self.r)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:  # noqa: A002
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r): out[c, h*r + i, w*r + j] = x[c*r^2 + i*r + j,
    h, w].

    >>> import tapegrad
    >>> tapegrad.pixel_shuffle(tapegrad.arange(4.).reshape(1, 4, 1, 1), 2)[0, 0]
    tensor([[0., 1.],
            [2., 3.]])
    """
    a = input._data
    r = int(upscale_factor)
    if a.ndim < 3:
        raise RuntimeError("pixel_shuffle expects input to have at least 3 dimensions, but got "
                           f"input with {a.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    *b, c, h, w = a.shape
    if c % (r * r):
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
            f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    nb = len(b)
    t = a.reshape(*b, c // (r * r), r, r, h, w)
    perm = tuple(range(nb + 1)) + (nb + 3, nb + 1, nb + 4, nb + 2)
    out = np.ascontiguousarray(t.transpose(perm)).reshape(*b, c // (r * r), h * r, w * r)
    node = new_node(PixelShuffleBackward0, (input,))
    if node is not None:
        node.r = r
    return wrap(out, node)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:  # noqa: A002
    """The inverse of pixel_shuffle: (*, C, H * r, W * r) -> (*, C * r^2, H, W).

    >>> import tapegrad
    >>> tapegrad.pixel_unshuffle(tapegrad.arange(4.).reshape(1, 1, 2, 2), 2).flatten()
    tensor([0., 1., 2., 3.])
    """
    a = input._data
    r = int(downscale_factor)
    if a.ndim < 3:
        raise RuntimeError("pixel_unshuffle expects input to have at least 3 dimensions, but "
                           f"got input with {a.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    *b, c, h, w = a.shape
    if h % r:
        raise RuntimeError("pixel_unshuffle expects height to be divisible by downscale_factor, "
                           f"but input.size(-2)={h} is not divisible by {r}")
    if w % r:
        raise RuntimeError("pixel_unshuffle expects width to be divisible by downscale_factor, "
                           f"but input.size(-1)={w} is not divisible by {r}")
    nb = len(b)
    t = a.reshape(*b, c, h // r, r, w // r, r)
    perm = tuple(range(nb + 1)) + (nb + 2, nb + 4, nb + 1, nb + 3)
    out = np.ascontiguousarray(t.transpose(perm)).reshape(*b, c * r * r, h // r, w // r)
    node = new_node(PixelUnshuffleBackward0, (input,))
    if node is not None:
        node.r = r
    return wrap(out, node)


# --- unfold (im2col) / fold (col2im) ------------------------------------------------------------
def _pair(v) -> tuple:
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    v = tuple(int(i) for i in v)
    return v * 2 if len(v) == 1 else v


class Im2ColBackward0(Node):
    __slots__ = ("size", "p")

    def vjp(self, g):
        return _col2im(g, self.size, *self.p)


class Col2ImBackward0(Node):
    __slots__ = ("p",)

    def vjp(self, g):
        return _im2col(g, *self.p)


def _fold_batch(p: Tensor, unbatched_dims: int, fn) -> Tensor:
    """fn (an op on (N, ...) or unbatched input, images independent) on a physical batch p:
    an unbatched sample's batch is N itself; a batched one's folds into N and back."""
    if p.dim() == unbatched_dims + 1:
        return fn(p)
    n, m = p.shape[0], p.shape[1]
    r = fn(p.reshape((n * m,) + tuple(p.shape[2:])))
    return r.reshape((n, m) + tuple(r.shape[1:]))


def _im2col(x: Tensor, ksize, dilation, padding, stride) -> Tensor:
    """(N, C, H, W) -> (N, C * kh * kw, L); an unbatched (C, H, W) gives (C * kh * kw, L)."""
    if type(x) is not Tensor:  # a batch of cotangents under vmap: the batch folds into N
        b = batched_cotangent(x)
        if b is not None:
            return rebatch(_fold_batch(b[0], 3, lambda t: _im2col(t, ksize, dilation, padding,
                                                                  stride)), b[1])
    a = x._data
    unbatched = a.ndim == 3
    b = a[None] if unbatched else a
    cols, osize = K.im2col(b, ksize, stride, padding, dilation)
    n, c = b.shape[:2]
    out = cols.reshape(n, c * K.nprod(ksize), K.nprod(osize))
    node = new_node(Im2ColBackward0, (x,))
    if node is not None:
        node.size, node.p = a.shape[-2:], (ksize, dilation, padding, stride)
    return wrap(out[0] if unbatched else out, node)


def _col2im(x: Tensor, size, ksize, dilation, padding, stride) -> Tensor:
    """(N, C * kh * kw, L) -> (N, C, *size), or unbatched (C * kh * kw, L) -> (C, *size)."""
    if type(x) is not Tensor:  # a batch of cotangents under vmap: the batch folds into N
        b = batched_cotangent(x)
        if b is not None:
            return rebatch(_fold_batch(b[0], 2, lambda t: _col2im(t, size, ksize, dilation,
                                                                  padding, stride)), b[1])
    a = x._data
    unbatched = a.ndim == 2
    b = a[None] if unbatched else a
    n = b.shape[0]
    osize = tuple(K.out_size(s, k, st, p, d) for s, k, st, p, d in
                  zip(size, ksize, stride, padding, dilation))
    cols = b.reshape((n, b.shape[1] // K.nprod(ksize)) + tuple(ksize) + osize)
    out = K.col2im(cols, size, ksize, stride, padding, dilation)
    node = new_node(Col2ImBackward0, (x,))
    if node is not None:
        node.p = (ksize, dilation, padding, stride)
    return wrap(out[0] if unbatched else out, node)


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:  # noqa: A002
    """Sliding local blocks (im2col): (N, C, H, W) -> (N, C * kh * kw, L), L the number of
    block positions.

    >>> import tapegrad
    >>> tapegrad.nn.functional.unfold(tapegrad.ones(1, 2, 4, 4), 3).shape
    tapegrad.Size([1, 18, 4])
    """
    k, d, p, s = _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)
    a = input._data
    if a.ndim not in (3, 4) or 0 in a.shape[-3:]:
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero "
            f"dimensions for input, but got: {_shape(a.shape)}")
    sizes = [K.out_size(sz, kk, st, pp, dd) for sz, kk, st, pp, dd in zip(a.shape[-2:], k, s, p, d)]
    if any(v < 1 for v in sizes):
        raise RuntimeError(
            f"Given input with spatial size ({a.shape[-2]}, {a.shape[-1]}), kernel_size=({k[0]}, "
            f"{k[1]}), dilation=({d[0]}, {d[1]}), padding=({p[0]}, {p[1]}), calculated shape of "
            f"the array of sliding blocks as ({sizes[0]}, {sizes[1]}), but its components must "
            "be at least one.")
    return _im2col(input, k, d, p, s)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:  # noqa: A002
    """Sum sliding local blocks back into an image (col2im), the adjoint of unfold:
    (N, C * kh * kw, L) -> (N, C, H, W); overlapping values add up.

    >>> import tapegrad
    >>> x = tapegrad.ones(1, 4, 4)
    >>> tapegrad.nn.functional.fold(x, (3, 3), 2)[0, 0]
    tensor([[1., 2., 1.],
            [2., 4., 2.],
            [1., 2., 1.]])
    """
    size = _pair(output_size)
    k, d, p, s = _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)
    a = input._data
    if a.ndim not in (2, 3) or 0 in a.shape[-2:]:
        raise RuntimeError(
            "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and "
            f"non-zero dimensions for input, but got: {_shape(a.shape)}")
    kp = k[0] * k[1]
    c = a.shape[-2]
    if c % kp:
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of kernel_size, "
            f"but got input.size(1)={c} and kernel_size=({k[0]}, {k[1]}).")
    blocks = [K.out_size(sz, kk, st, pp, dd) for sz, kk, st, pp, dd in zip(size, k, s, p, d)]
    if blocks[0] * blocks[1] != a.shape[-1] or min(blocks) < 1:
        raise RuntimeError(
            f"Given output_size=({size[0]}, {size[1]}), kernel_size=({k[0]}, {k[1]}), "
            f"dilation=({d[0]}, {d[1]}), padding=({p[0]}, {p[1]}), stride=({s[0]}, {s[1]}), "
            "expected size of input's dimension 2 to match the calculated number of sliding "
            f"blocks {blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}, but got "
            f"input.size(2)={a.shape[-1]}.")
    return _col2im(input, size, k, d, p, s)

"""Convolutions: conv1d / conv2d / conv3d and their transposes, through two primitives.

`convolution` (node ConvolutionBackward0) and `convolution_backward` (node
ConvolutionBackwardBackward0, three outputs: the gradients for input, weight and bias) are a
pair closed under reverse. Writing corr for the cross-correlation of x with w, corr_t for its
adjoint in x (a transposed convolution) and corr_w for its adjoint in w:

  forward      out = corr(x, w) + b                    transposed:  out = corr_t(x, w) + b
  backward     gx = corr_t(g, w), gw = corr_w(g, x),   transposed:  gx = corr(g, w),
               gb = sum of g over batch and space                   gw = corr_w(x, g)

The backward is bilinear in (g, w) and (g, x), so its own vjp for (ggx, ggw, ggb) is again
made of the pair: for g, convolution(ggx, w, ggb) + convolution(x, ggw); for x, the input
gradient of a backward whose weight is ggw; for w, the weight gradient of a backward whose
input is ggx. Derivatives of any order stay inside the pair. The NumPy kernels (im2col plus
one batched matmul, col2im by a loop over kernel offsets) are in _conv_kernels.py. A batch of
cotangents (a batched backward pass under vmap) runs once, on folded shapes: _conv_batched.py.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._tensor import Tensor
from ..autograd.graph import Node
from . import _conv_batched as CB
from . import _conv_kernels as K
from ._core import batched_cotangent, is_batched_value, new_node, save, wrap
from .shape import squeeze, unsqueeze

__all__ = ["convolution", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d"]
FUNCTIONAL = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d"]


def _shape(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


# --- the primitive pair ----------------------------------------------------------------------
class ConvolutionBackward0(Node):
    # p = (stride, padding, dilation, transposed, output_padding, groups)
    __slots__ = ("p",)

    def vjp(self, g):
        x, w = self.saved_tensors()
        nx, nw, nb = self._next
        mask = (nx[0] is not None, nw[0] is not None, nb[0] is not None)
        return convolution_backward(g, x, w, self.p, mask)


class ConvolutionBackwardBackward0(Node):
    # inputs (g, x, w); x or w is only a shape when the backward did not need its values
    __slots__ = ("p",)
    n_outputs = 3

    def vjp(self, ggx, ggw, ggb):
        g, x, w = self.saved_tensors()
        p = self.p
        if not ((ggx is None or type(ggx) is Tensor) and (ggw is None or type(ggw) is Tensor)
                and (ggb is None or type(ggb) is Tensor)):
            level = CB.batch_level(ggx, ggw, ggb)  # a batch of cotangents under vmap
            if level is not None:
                return CB.batched_double(self, g, x, w, ggx, ggw, ggb, level)
        ng, nx, nw = self._next
        rg = rx = rw = None
        if ng[0] is not None:
            if ggx is not None:
                rg = _conv(ggx, w, ggb, p)
            elif ggb is not None:
                nd = g._data.ndim - 2
                rg = ggb.reshape((1, -1) + (1,) * nd).expand(g._data.shape)
            if ggw is not None:
                t = _conv(x, ggw, None, p)
                rg = t if rg is None else rg + t
        if nx[0] is not None and ggw is not None:
            rx = convolution_backward(g, x._data.shape, ggw, p, (True, False, False))[0]
        if nw[0] is not None and ggx is not None:
            rw = convolution_backward(g, ggx, w._data.shape, p, (False, True, False))[1]
        return rg, rx, rw


def _conv(x: Tensor, w: Tensor, b, p) -> Tensor:
    """The convolution primitive, arguments already checked."""
    stride, padding, dilation, transposed, output_padding, groups = p
    xa, wa = x._data, w._data
    if transposed:
        size = tuple((s - 1) * st - 2 * pd + d * (k - 1) + op + 1 for s, st, pd, d, k, op in
                     zip(xa.shape[2:], stride, padding, dilation, wa.shape[2:], output_padding))
        out = K.corr_t(xa, wa, stride, padding, dilation, groups, size)
    else:
        out = K.corr(xa, wa, stride, padding, dilation, groups)
    if b is not None:
        out += b._data.reshape((1, -1) + (1,) * (out.ndim - 2))
    node = new_node(ConvolutionBackward0, (x, w, b))
    if node is not None:
        node.p = p
        save(node, x, w)
    return wrap(out, node)


def convolution_backward(g: Tensor, x, w, p, mask) -> tuple:
    """(gx, gw, gb) of a convolution for output gradient g, None where mask is False.

    x and w are Tensors, or only their shapes where their values are not needed (x for gx,
    w for gw)."""
    if type(g) is not Tensor:  # a batch of cotangents under vmap: one pass for the batch
        b = batched_cotangent(g)
        if b is not None and not is_batched_value(x) and not is_batched_value(w):
            return CB.batched_backward(b[0], x, w, p, mask, b[1])
    stride, padding, dilation, transposed, _, groups = p
    ga = g._data
    xs = x._data.shape if isinstance(x, Tensor) else x
    ws = w._data.shape if isinstance(w, Tensor) else w
    gx = gw = gb = None
    # complex: the adjoint of a bilinear map pairs g with the conjugated other operand
    cplx = ga.dtype.kind == "c"
    # what two gradients read is made once: for a convolution the widened g (the input and
    # weight gradients read it, and the bias gradient sums it), for a transposed one g's
    # columns (the input and weight gradients)
    gwide = gcols = None
    if transposed:
        if mask[0] and mask[1]:
            gcols, _ = K.wide_parts(ga, None, ga.shape[2:], ws[2:], stride, padding, dilation)
    elif mask[0] or mask[1]:
        _, gwide = K.wide_parts(None, ga, xs[2:], ws[2:], stride, padding, dilation)
    if mask[0]:
        wa = np.conj(w._data) if cplx else w._data
        if transposed:
            gx = K.corr(ga, wa, stride, padding, dilation, groups, xs[2:], cols=gcols)
        else:
            gx = K.corr_t(ga, wa, stride, padding, dilation, groups, xs[2:], gw=gwide)
    if mask[1]:
        xa = np.conj(x._data) if cplx else x._data
        if transposed:
            gw = K.corr_w(xa, ga, stride, padding, dilation, groups, ws[2:], cols=gcols)
        else:
            gw = K.corr_w(ga, xa, stride, padding, dilation, groups, ws[2:], gw=gwide)
    if mask[2]:
        if gwide is not None:  # the same sum, over the widened copy (its junk is zeros)
            gb = gwide.sum(axis=1)
        else:
            gb = ga.sum(axis=(0,) + tuple(range(2, ga.ndim)))
    node = new_node(ConvolutionBackwardBackward0, (g, x, w))
    if node is not None:
        node.p = p
        save(node, g, x, w)
    outs = []
    for i, a in enumerate((gx, gw, gb)):
        if a is None:
            outs.append(None)
            continue
        t = wrap(a, node)
        if node is not None:
            t._output_nr = i
        outs.append(t)
    return tuple(outs)


# --- argument checking -----------------------------------------------------------------------
def _ints(v, n: int) -> tuple:
    """An int argument repeated n times (as PyTorch's bindings expand it), a sequence as is."""
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    return tuple(int(i) for i in v)


def _fit(v: tuple, k: int, name: str) -> tuple:
    """v for k spatial dims (those of the weight): one value is repeated."""
    if len(v) == 1:
        return v * k
    if len(v) != k:
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of {k} values to match the "
            f"convolution dimensions, but got {name}={_shape(v)}")
    return v


def _params(w: Tensor, stride, padding, dilation, transposed: bool, output_padding,
            groups: int) -> tuple:
    k = w._data.ndim - 2
    return (_fit(stride, k, "stride"), _fit(padding, k, "padding"),
            _fit(dilation, k, "dilation"), transposed, _fit(output_padding, k, "output_padding"),
            int(groups))


def _check(x: Tensor, w: Tensor, b, stride, padding, dilation, transposed, output_padding,
           groups: int) -> None:
    xa, wa = x._data, w._data
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(p < 0 for p in output_padding):
        raise RuntimeError("negative output_padding is not supported")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d < 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    k = xa.ndim
    ws = wa.shape
    if wa.ndim != k:
        raise RuntimeError(
            f"Expected {wa.ndim}-dimensional input for {wa.ndim}-dimensional weight {_shape(ws)}"
            f", but got {k}-dimensional input of size {_shape(xa.shape)} instead")
    if ws[0] < groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, but "
            f"got weight of size {_shape(ws)} instead")
    if ws[0] % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{_shape(ws)}] instead")
    bad_bias = b is not None and (b._data.ndim != 1 or b._data.shape[0] != (
        ws[1] * groups if transposed else ws[0]))
    if not transposed:
        if xa.shape[1] != ws[1] * groups:
            raise RuntimeError(
                f"Given groups={groups}, weight of size {_shape(ws)}, expected input"
                f"{_shape(xa.shape)} to have {ws[1] * groups} channels, but got {xa.shape[1]} "
                "channels instead")
        if bad_bias:
            raise RuntimeError(
                f"Given weight of size {_shape(ws)}, expected bias to be 1-dimensional with "
                f"{ws[0]} elements, but got bias of size {_shape(b._data.shape)} instead")
        ins = [s + 2 * p for s, p in zip(xa.shape[2:], padding)]
        ks = [d * (kk - 1) + 1 for d, kk in zip(dilation, ws[2:])]
        if any(i < kk for i, kk in zip(ins, ks)):
            raise RuntimeError(
                f"Calculated padded input size per channel: ({' x '.join(map(str, ins))}). "
                f"Kernel size: ({' x '.join(map(str, ks))}). Kernel size can't be greater than "
                "actual input size")
    else:
        if xa.shape[1] != ws[0]:
            raise RuntimeError(
                f"Given transposed=1, weight of size {_shape(ws)}, expected input"
                f"{_shape(xa.shape)} to have {ws[0]} channels, but got {xa.shape[1]} channels "
                "instead")
        if bad_bias:
            raise RuntimeError(
                f"Given transposed=1, weight of size {_shape(ws)}, expected bias to be "
                f"1-dimensional with {ws[1] * groups} elements, but got bias of size "
                f"{_shape(b._data.shape)} instead")
        if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
            op, st, dl = output_padding, stride, dilation
            if len(st) == 1:  # (PyTorch reports a 1-d transposed convolution as a 2-d one)
                op, st, dl = (0,) + op, (1,) + st, (1,) + dl
            names = ("depth", "height", "width")[3 - len(st):]
            parts = [f"output_padding_{n}: {v}" for n, v in zip(names, op)]
            parts += [f"stride_{n}: {v}" for n, v in zip(names, st)]
            parts += [f"dilation_{n}: {v}" for n, v in zip(names, dl)]
            detail = " ".join(parts)
            raise RuntimeError(
                f"output padding must be smaller than either stride or dilation, but got {detail}")
        size = [(s - 1) * st - 2 * pd + d * (kk - 1) + op + 1 for s, st, pd, d, kk, op in
                zip(xa.shape[2:], stride, padding, dilation, ws[2:], output_padding)]
        if any(s < 1 for s in size):
            raise RuntimeError(
                f"Given input size per channel: ({' x '.join(map(str, xa.shape[2:]))}). "
                f"Calculated output size per channel: ({' x '.join(map(str, size))}). Output "
                "size is too small")
    if 0 in dilation:
        if transposed and len(dilation) == 2:
            raise RuntimeError("dilation should be greater than zero, but got dilation_height: "
                               f"{dilation[0]}, dilation_width: {dilation[1]}")
        if len(dilation) == 1:
            raise RuntimeError("non-positive dilation is not supported")
        raise RuntimeError(f"dilation should be greater than zero, but got {_shape(dilation)}")
    if w._dtype is not x._dtype:
        raise RuntimeError(
            f"expected scalar type {x._dtype._short} but found {w._dtype._short}")
    if b is not None and b._dtype is not x._dtype:
        raise RuntimeError(
            f"Input type ({x._dtype._cname}) and bias type ({b._dtype._cname}) should be the same")


def convolution(input: Tensor, weight: Tensor, bias: Tensor | None, stride, padding, dilation,  # noqa: A002
                transposed: bool, output_padding, groups: int) -> Tensor:
    """PyTorch's generic convolution (batched input, lists of per-dim parameters).

    >>> import tapegrad
    >>> x, w = tapegrad.ones(1, 1, 4, 4), tapegrad.ones(1, 1, 3, 3)
    >>> tapegrad.convolution(x, w, None, [1], [0], [1], False, [0], 1).shape
    tapegrad.Size([1, 1, 2, 2])
    """
    n = weight._data.ndim - 2
    p = _params(weight, _ints(stride, n), _ints(padding, n), _ints(dilation, n),
                bool(transposed), _ints(output_padding, n), groups)
    _check(input, weight, bias, *p)
    return _conv(input, weight, bias, p)


# --- the public conv{1,2,3}d / conv_transpose{1,2,3}d -----------------------------------------
def _batched(x: Tensor, n: int, name: str) -> bool:
    """Whether x has a batch dim; an unbatched one (n + 1 dims) is accepted too."""
    nd = x._data.ndim
    if nd == n + 2:
        return True
    if nd == n + 1:
        return False
    raise RuntimeError(
        f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to {name}, but got input of "
        f"size: {_shape(x._data.shape)}")


def _same_padding(x: Tensor, w: Tensor, stride, dilation, n: int):
    """(input padded on the right where needed, symmetric padding) for padding='same'."""
    if any(s != 1 for s in stride):
        raise RuntimeError("padding='same' is not supported for strided convolutions")
    lo, hi = [], []
    for d, k in zip(dilation, w._data.shape[2:]):
        total = d * (k - 1)
        lo.append(total // 2)
        hi.append(total - total // 2)
    if lo == hi:
        return x, tuple(lo)
    warnings.warn(
        "Using padding='same' with even kernel lengths and odd dilation may require a "
        "zero-padded copy of the input be created", UserWarning, stacklevel=4)
    pad = [0] * (2 * n)
    for i in range(n):
        delta = hi[i] - lo[i]
        idx = 2 * (n - 1 - i)
        if delta > 0:
            pad[idx + 1] = delta
        else:
            pad[idx] = delta
            lo[i] = hi[i]
    from .pad_resize import constant_pad_nd

    return constant_pad_nd(x, pad, 0), tuple(lo)


def _convnd(n: int, name: str, input, weight, bias, stride, padding, dilation, groups):
    batched = _batched(input, n, name)
    x = input if batched else unsqueeze(input, 0)
    k = weight._data.ndim - 2
    stride = _fit(_ints(stride, n), k, "stride")
    if isinstance(padding, str):
        dilation = _fit(_ints(dilation, n), k, "dilation")
        if padding == "valid":
            padding = (0,) * k
        elif padding == "same":
            x, padding = _same_padding(x, weight, stride, dilation, k)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    p = _params(weight, stride, _ints(padding, n), _ints(dilation, n), False, (0,), groups)
    _check(x, weight, bias, *p)
    out = _conv(x, weight, bias, p)
    return out if batched else squeeze(out, 0)


def _conv_transposend(n: int, name: str, input, weight, bias, stride, padding, output_padding,
                      groups, dilation):
    if isinstance(padding, str):
        raise TypeError(f"{name}(): argument 'padding' must be tuple of ints, not str")
    batched = _batched(input, n, name)
    x = input if batched else unsqueeze(input, 0)
    p = _params(weight, _ints(stride, n), _ints(padding, n), _ints(dilation, n), True,
                _ints(output_padding, n), groups)
    _check(x, weight, bias, *p)
    out = _conv(x, weight, bias, p)
    return out if batched else squeeze(out, 0)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,  # noqa: A002
           dilation=1, groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) of (N, C, L) or (C, L) input with (O, C/groups, k).

    padding may be an int, a tuple, 'valid' or 'same'.

    >>> import tapegrad
    >>> tapegrad.nn.functional.conv1d(tapegrad.ones(1, 2, 5), tapegrad.ones(3, 2, 3)).shape
    tapegrad.Size([1, 3, 3])
    """
    return _convnd(1, "conv1d", input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,  # noqa: A002
           dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) of (N, C, H, W) or (C, H, W) input.

    >>> import tapegrad
    >>> x, w = tapegrad.ones(1, 1, 4, 4), tapegrad.ones(2, 1, 3, 3)
    >>> tapegrad.nn.functional.conv2d(x, w, padding=1)[0, 0]
    tensor([[4., 6., 6., 4.],
            [6., 9., 9., 6.],
            [6., 9., 9., 6.],
            [4., 6., 6., 4.]])
    """
    return _convnd(2, "conv2d", input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,  # noqa: A002
           dilation=1, groups: int = 1) -> Tensor:
    """3-D convolution (cross-correlation) of (N, C, D, H, W) or (C, D, H, W) input.

    >>> import tapegrad
    >>> tapegrad.conv3d(tapegrad.ones(1, 1, 3, 3, 3), tapegrad.ones(1, 1, 2, 2, 2)).shape
    tapegrad.Size([1, 1, 2, 2, 2])
    """
    return _convnd(3, "conv3d", input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,  # noqa: A002
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution ("deconvolution"); weight is (C_in, C_out/groups, k).

    >>> import tapegrad
    >>> tapegrad.conv_transpose1d(tapegrad.ones(1, 1, 3), tapegrad.ones(1, 1, 2), stride=2)
    tensor([[[1., 1., 1., 1., 1., 1.]]])
    """
    return _conv_transposend(1, "conv_transpose1d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,  # noqa: A002
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution; output size (S-1)*stride - 2*padding + dilation*(k-1) +
    output_padding + 1 per dim.

    >>> import tapegrad
    >>> x, w = tapegrad.ones(1, 2, 3, 3), tapegrad.ones(2, 4, 3, 3)
    >>> tapegrad.conv_transpose2d(x, w, stride=2, output_padding=1).shape
    tapegrad.Size([1, 4, 8, 8])
    """
    return _conv_transposend(2, "conv_transpose2d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,  # noqa: A002
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """3-D transposed convolution.

    >>> import tapegrad
    >>> x, w = tapegrad.ones(1, 1, 2, 2, 2), tapegrad.ones(1, 1, 2, 2, 2)
    >>> tapegrad.conv_transpose3d(x, w).shape
    tapegrad.Size([1, 1, 3, 3, 3])
    """
    return _conv_transposend(3, "conv_transpose3d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)

"""The convolution's backward pair (ops/conv.py) on a batch of cotangents under vmap.

A backward pass over a batch of B cotangents hands ConvolutionBackward0 and
ConvolutionBackwardBackward0 BatchedTensors. Both rules are bilinear, with one operand
batched and the other shared; each runs once, as the plain rule on folded shapes (every step a
tapegrad op, so the result is differentiable again):

- a per-image quantity (the input of a convolution, its output gradient) has the batch folded
  into the images: N -> B * N;
- a quantity summed over the images (a weight gradient, or a convolution with a per-sample
  weight) has the batch folded into the channels of the shared operand's side that do not
  meet each other: the output channels (a weight gradient is separable over them), or the input
  channels (an input gradient is separable over them). With groups k, channel c of group j
  only meets group j on the other side, so the fold keeps the groups: the k * C channels
  become k * B * C laid out (k, B, C), folded group j holding the B copies of group j.

The output channels are weight dim 0 of a convolution and dim 1 (within a group) of a
transposed one; the input channels the other way round.
"""

from __future__ import annotations

from .._tensor import Tensor
from ._core import batched_cotangent, rebatch

__all__: list[str] = []


def _into(t: Tensor, axis: int, k: int) -> Tensor:
    """A physical batch t (n first) as one tensor: the sample's dim `axis` (k * c long) becomes
    k * n * c long, laid out (k, n, c)."""
    n = t.shape[0]
    s = tuple(t.shape[1:])
    c = s[axis] // k
    t = t.reshape((n,) + s[:axis] + (k, c) + s[axis + 1:])
    order = tuple(range(1, axis + 2)) + (0,) + tuple(range(axis + 2, t.dim()))
    return t.permute(order).reshape(s[:axis] + (k * n * c,) + s[axis + 1:])


def _out(t: Tensor, axis: int, k: int, n: int) -> Tensor:
    """The inverse of _into: dim `axis` of t (laid out (k, n, c)) split into a batch of n in
    front, each sample's dim `axis` k * c long."""
    s = tuple(t.shape)
    c = s[axis] // (k * n)
    t = t.reshape(s[:axis] + (k, n, c) + s[axis + 1:])
    order = (axis + 1,) + tuple(range(axis + 1)) + tuple(range(axis + 2, t.dim()))
    return t.permute(order).reshape((n,) + s[:axis] + (k * c,) + s[axis + 1:])


def _shape(t) -> tuple:
    return tuple(t.shape) if isinstance(t, Tensor) else tuple(t)


def batched_backward(g: Tensor, x, w, p, mask, level: int) -> tuple:
    """(gx, gw, gb) of convolution_backward for a physical batch g, (B, N, Cout, *S), of
    output gradients; x and w are plain (Tensors, or shapes where their values are not
    needed)."""
    from .conv import convolution_backward as backward

    transposed, k = p[3], p[5]
    n = g.shape[0]
    xs, ws = _shape(x), _shape(w)
    gx = gw = gb = None
    if mask[0]:  # per image: B into N
        r = backward(_into(g, 0, 1), (n * xs[0],) + xs[1:], w, p, (True, False, False))[0]
        gx = rebatch(_out(r, 0, 1, n), level)
    if mask[1]:  # summed over the images: B into the output channels
        gf = _into(g, 1, k)
        if transposed:  # weight (Cin, Cout/k, *K)
            r = backward(gf, x, (ws[0], n * ws[1]) + ws[2:], p, (False, True, False))[1]
            gw = _out(r, 1, 1, n)
        else:  # weight (Cout, Cin/k, *K)
            r = backward(gf, x, (n * ws[0],) + ws[1:], p, (False, True, False))[1]
            gw = _out(r, 0, k, n)
        gw = rebatch(gw, level)
    if mask[2]:
        gb = rebatch(g.sum((1,) + tuple(range(3, g.dim()))), level)
    return gx, gw, gb


def batch_level(*grads):
    """The vmap level of the batched ones among grads (plain Tensors or None otherwise), or
    None where they cannot be folded (nested, or of different levels)."""
    level = None
    for t in grads:
        if t is None or type(t) is Tensor:
            continue
        b = batched_cotangent(t)
        if b is None or (level is not None and b[1] != level):
            return None
        level = b[1]
    return level


def _phys(t):
    b = batched_cotangent(t)
    return None if b is None else b[0]


def batched_double(node, g: Tensor, x, w, ggx, ggw, ggb, level: int) -> tuple:
    """ConvolutionBackwardBackward0's vjp for a batch of (ggx, ggw, ggb), each batched at
    `level`, plain, or None; g, x and w (the node's saved operands) are plain."""
    from .conv import _conv
    from .conv import convolution_backward as backward

    p = node.p
    transposed, k = p[3], p[5]
    px, pw, pb = _phys(ggx), _phys(ggw), _phys(ggb)
    n = next(t for t in (px, pw, pb) if t is not None).shape[0]
    gs = tuple(g.shape)
    ng, nx, nw = node._next
    rg = rx = rw = None
    if ng[0] is not None:
        # d g = conv(ggx, w) + ggb + conv(x, ggw); a plain term broadcasts over the batch
        terms = []
        if px is not None:  # per image: B into N
            terms.append(_out(_conv(_into(px, 0, 1), w, None, p), 0, 1, n))
        elif ggx is not None:
            terms.append(_conv(ggx, w, None, p))
        if pb is not None:
            terms.append(pb.reshape((n, 1, -1) + (1,) * (len(gs) - 2)))
        elif ggb is not None:
            terms.append(ggb.reshape((1, -1) + (1,) * (len(gs) - 2)))
        if pw is not None:  # summed over the images: B into the output channels
            wf = _into(pw, 1, 1) if transposed else _into(pw, 0, k)
            terms.append(_out(_conv(x, wf, None, p), 1, k, n))
        elif ggw is not None:
            terms.append(_conv(x, ggw, None, p))
        if terms:
            rg = terms[0]
            for t in terms[1:]:
                rg = rg + t
            rg = rebatch(rg.expand((n,) + gs), level)
    if nx[0] is not None and ggw is not None:
        xs = tuple(x.shape)
        if pw is not None:  # an input gradient is separable over the input channels
            wf = _into(pw, 0, k) if transposed else _into(pw, 1, 1)
            r = backward(g, (xs[0], n * xs[1]) + xs[2:], wf, p, (True, False, False))[0]
            rx = rebatch(_out(r, 1, k, n), level)
        else:
            rx = backward(g, xs, ggw, p, (True, False, False))[0]
            rx = rebatch(rx.expand((n,) + xs), level)
    if nw[0] is not None and ggx is not None:
        ws = tuple(w.shape)
        if px is not None:  # a weight gradient sums over the images: B into the input channels
            xf = _into(px, 1, k)
            if transposed:  # weight (Cin, Cout/k, *K)
                r = backward(g, xf, (n * ws[0],) + ws[1:], p, (False, True, False))[1]
                rw = _out(r, 0, k, n)
            else:  # weight (Cout, Cin/k, *K)
                r = backward(g, xf, (ws[0], n * ws[1]) + ws[2:], p, (False, True, False))[1]
                rw = _out(r, 1, 1, n)
        else:
            rw = backward(g, ggx, ws, p, (False, True, False))[1].expand((n,) + ws)
        rw = rebatch(rw, level)
    return rg, rx, rw

"""NumPy kernels behind convolution, unfold / fold and pooling (internal: no autograd here).

Layout is PyTorch's: x (N, C, *S), weight (O, C / groups, *K) for a convolution. Spatial
dims are any number (1, 2 or 3). Nothing loops over pixels or output positions:

- a convolution is im2col plus one batched matmul: the windows of the padded input are an
  `as_strided` view (N, C, *O, *K), copied once into columns (N, G, Cg * prod(K), prod(O)),
  multiplied by the weight as (G, Og, Cg * prod(K));
- its transpose (the gradient for the input, a transposed convolution, fold / col2im) is one
  matmul into columns, then a loop over the kernel offsets only (prod(K) iterations, each a
  whole-array strided add into the padded buffer);
- the weight gradient is a batched matmul of the output gradient with the same columns.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
from numpy.lib.stride_tricks import as_strided


def nprod(seq) -> int:
    n = 1
    for s in seq:
        n *= s
    return n


def out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    """Number of window positions along one dim: floor((S + 2p - d (k - 1) - 1) / s) + 1."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def padded(x: np.ndarray, pad, value=0) -> np.ndarray:
    """x with pad[i] values added on both sides of spatial dim i (dims 2..)."""
    if not any(pad):
        return x
    lead = x.ndim - len(pad)
    shape = x.shape[:lead] + tuple(s + 2 * p for s, p in zip(x.shape[lead:], pad))
    xp = np.full(shape, value, dtype=x.dtype) if value else np.zeros(shape, dtype=x.dtype)
    xp[(Ellipsis,) + tuple(slice(p, p + s) for s, p in zip(x.shape[lead:], pad))] = x
    return xp


def windows(xp: np.ndarray, ksize, stride, dilation, osize) -> np.ndarray:
    """Read-only view (..., *O, *K) of the windows of the trailing len(K) dims of xp."""
    nd = len(ksize)
    lead = xp.ndim - nd
    st = xp.strides
    sp = st[lead:]
    shape = xp.shape[:lead] + tuple(osize) + tuple(ksize)
    strides = st[:lead] + tuple(a * s for a, s in zip(sp, stride)) + \
        tuple(a * d for a, d in zip(sp, dilation))
    return as_strided(xp, shape, strides, writeable=False)


def offset_slices(ksize, stride, dilation, osize):
    """(kernel offset tuple, slices of the padded input it touches) for every kernel offset."""
    for kk in itertools.product(*(range(k) for k in ksize)):
        yield kk, tuple(slice(i * d, i * d + s * (o - 1) + 1, s)
                        for i, d, s, o in zip(kk, dilation, stride, osize))


def im2col(x: np.ndarray, ksize, stride, padding, dilation, osize=None) -> tuple:
    """Columns (N, C, *K, *O) (contiguous) of x (N, C, *S), and O (the first `osize`
    window positions when given, else all of them)."""
    if osize is None:
        osize = tuple(out_size(s, k, st, p, d) for s, k, st, p, d in
                      zip(x.shape[2:], ksize, stride, padding, dilation))
    xp = padded(x, padding)
    nd = len(ksize)
    win = windows(xp, ksize, stride, dilation, osize)  # (N, C, *O, *K)
    perm = (0, 1) + tuple(range(2 + nd, 2 + 2 * nd)) + tuple(range(2, 2 + nd))
    return np.ascontiguousarray(win.transpose(perm)), osize


def col2im(cols: np.ndarray, size, ksize, stride, padding, dilation) -> np.ndarray:
    """The adjoint of im2col: cols (N, C, *K, *O) summed back into (N, C, *size)."""
    nd = len(ksize)
    osize = cols.shape[2 + nd:]
    lead = cols.shape[:2]
    full = lead + tuple(s + 2 * p for s, p in zip(size, padding))
    xp = np.zeros(full, dtype=cols.dtype)
    for kk, sl in offset_slices(ksize, stride, dilation, osize):
        xp[(slice(None), slice(None)) + sl] += cols[(slice(None), slice(None)) + kk]
    if any(padding):
        xp = xp[(Ellipsis,) + tuple(slice(p, p + s) for s, p in zip(size, padding))]
        xp = np.ascontiguousarray(xp)
    return xp


class _Wide:
    """Geometry of a stride-1 convolution computed on the "wide" grid.

    With every stride 1, the window of kernel offset kk over the flattened padded input is
    one contiguous stretch starting at off(kk) = sum kk_d * d_d * step_d (step_d the padded
    row-major strides). Outputs are computed at every flat position i * step_0 + rest, for
    the O_0 valid leading positions and all padded trailing positions; the extra (junk)
    columns are cropped afterwards, or are zeros in a gradient so they add nothing. im2col
    is then prod(K) contiguous copies and col2im prod(K) contiguous adds.
    """

    __slots__ = ("sp", "osz", "lw", "offs", "total", "ksize", "kstep", "inner")

    def __init__(self, size, ksize, padding, dilation) -> None:
        self.sp = tuple(sz + 2 * p for sz, p in zip(size, padding))
        self.osz = tuple(s - d * (k - 1) for s, k, d in zip(self.sp, ksize, dilation))
        steps = [nprod(self.sp[i + 1:]) for i in range(len(self.sp))]
        self.lw = self.osz[0] * steps[0]
        self.offs = [sum(kk[i] * dilation[i] * steps[i] for i in range(len(kk)))
                     for kk in itertools.product(*(range(k) for k in ksize))]
        self.total = max(nprod(self.sp), self.offs[-1] + self.lw)
        self.ksize = tuple(ksize)
        self.kstep = tuple(d * st for d, st in zip(dilation, steps))  # elements per kernel step
        self.inner = (Ellipsis,) + tuple(slice(p, p + sz) for p, sz in zip(padding, size))

    def interior(self, padding, size) -> tuple:
        return self.inner

    def cols(self, x: np.ndarray, padding) -> np.ndarray:
        """(N, C, prod(K), lw) windows of x on the wide grid: one strided view of the padded
        flat buffer (kernel dims step by d * step, positions by 1), copied once."""
        n, c = x.shape[:2]
        buf = np.zeros((n, c, self.total), dtype=x.dtype)
        np.reshape(buf[:, :, :nprod(self.sp)], (n, c) + self.sp, copy=False)[self.inner] = x
        it = buf.itemsize
        view = np.ndarray((n, c) + self.ksize + (self.lw,), dtype=buf.dtype, buffer=buf,
                          strides=buf.strides[:2] + tuple(k * it for k in self.kstep) + (it,))
        return view.reshape(n, c, len(self.offs), self.lw)

    def widen(self, g: np.ndarray) -> np.ndarray:
        """g (N, O, *O) on the wide grid, zeros in the junk columns: (N, O, lw)."""
        n, o = g.shape[:2]
        if g.shape[3:] == self.sp[1:]:
            return g.reshape(n, o, self.lw)
        out = np.zeros((n, o, self.osz[0]) + self.sp[1:], dtype=g.dtype)
        out[(Ellipsis,) + tuple(slice(0, v) for v in g.shape[2:])] = g
        return out.reshape(n, o, self.lw)

    def narrow(self, a: np.ndarray) -> np.ndarray:
        """(N, O, lw) outputs cropped to (N, O, *O)."""
        a = a.reshape(a.shape[:2] + (self.osz[0],) + self.sp[1:])
        return np.ascontiguousarray(a[(Ellipsis,) + tuple(slice(0, v) for v in self.osz[1:])])

    def add_cols(self, cols: np.ndarray, padding, size) -> np.ndarray:
        """col2im on the wide grid: (N, C, prod(K), lw) summed into (N, C, *size)."""
        n, c = cols.shape[:2]
        buf = np.zeros((n, c, self.total), dtype=cols.dtype)
        for j, off in enumerate(self.offs):
            buf[:, :, off:off + self.lw] += cols[:, :, j]
        img = np.reshape(buf[:, :, :nprod(self.sp)], (n, c) + self.sp, copy=False)
        return np.ascontiguousarray(img[self.interior(padding, size)])


@functools.lru_cache(maxsize=256)
def _wide_geometry(size, ksize, padding, dilation) -> _Wide:
    return _Wide(size, ksize, padding, dilation)


def _wide(size, ksize, stride, padding, dilation, osize):
    """The wide geometry when it applies (all strides 1, outputs exactly the valid ones)."""
    if any(s != 1 for s in stride):
        return None
    geo = _wide_geometry(tuple(size), tuple(ksize), tuple(padding), tuple(dilation))
    return geo if tuple(osize) == geo.osz else None


def corr(x: np.ndarray, w: np.ndarray, stride, padding, dilation, groups: int,
         osize=None) -> np.ndarray:
    """Convolution (cross-correlation) forward: (N, C, *S) x (O, C/G, *K) -> (N, O, *O')."""
    n = x.shape[0]
    o, cg = w.shape[:2]
    ksize = w.shape[2:]
    kp = nprod(ksize)
    wr = w.reshape(groups, o // groups, cg * kp)
    if osize is None:
        osize = tuple(out_size(sz, k, st, p, d) for sz, k, st, p, d in
                      zip(x.shape[2:], ksize, stride, padding, dilation))
    geo = _wide(x.shape[2:], ksize, stride, padding, dilation, osize)
    if geo is not None:
        cols = geo.cols(x, padding).reshape(n, groups, cg * kp, geo.lw)
        return geo.narrow(np.matmul(wr, cols).reshape(n, o, geo.lw))
    cols, osize = im2col(x, ksize, stride, padding, dilation, osize)
    cols = cols.reshape(n, groups, cg * kp, nprod(osize))
    out = np.matmul(wr, cols)  # (N, G, Og, O')
    return out.reshape((n, o) + tuple(osize))


def corr_t(g: np.ndarray, w: np.ndarray, stride, padding, dilation, groups: int,
           size) -> np.ndarray:
    """Transposed convolution (the input gradient of corr): (N, O, *O') -> (N, C, *size)."""
    n = g.shape[0]
    o, cg = w.shape[:2]
    ksize = w.shape[2:]
    osize = g.shape[2:]
    kp = nprod(ksize)
    wt = w.reshape(groups, o // groups, cg * kp).transpose(0, 2, 1)  # (G, Cg*Kp, Og)
    geo = _wide(size, ksize, stride, padding, dilation, osize)
    if geo is not None:
        gw = geo.widen(g).reshape(n, groups, o // groups, geo.lw)
        cols = np.matmul(wt, gw).reshape(n, groups * cg, kp, geo.lw)
        return geo.add_cols(cols, padding, size)
    cols = np.matmul(wt, g.reshape(n, groups, o // groups, nprod(osize)))  # (N, G, Cg*Kp, O')
    cols = cols.reshape((n, groups * cg) + tuple(ksize) + tuple(osize))
    return col2im(cols, size, ksize, stride, padding, dilation)


def corr_w(g: np.ndarray, x: np.ndarray, stride, padding, dilation, groups: int,
           ksize) -> np.ndarray:
    """Weight gradient of corr: sum over batch and positions of g times the input windows."""
    n, o = g.shape[:2]
    c = x.shape[1]
    cg = c // groups
    kp = nprod(ksize)
    geo = _wide(x.shape[2:], ksize, stride, padding, dilation, g.shape[2:])
    if geo is not None:
        cols = geo.cols(x, padding).reshape(n, groups, cg * kp, geo.lw)
        gr = geo.widen(g).reshape(n, groups, o // groups, geo.lw)
    else:
        cols, osize = im2col(x, ksize, stride, padding, dilation, g.shape[2:])
        cols = cols.reshape(n, groups, cg * kp, nprod(osize))
        gr = g.reshape(n, groups, o // groups, nprod(osize))
    # per sample (G, Og, O') @ (G, O', Cg*Kp), summed over the batch: the columns are used in
    # place (a transposed view BLAS reads directly), not copied again
    gw = np.matmul(gr, cols.transpose(0, 1, 3, 2))
    gw = gw[0] if n == 1 else gw.sum(0)
    return gw.reshape((o, cg) + tuple(ksize))

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
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

# Temporaries of the wide-grid kernels (padded inputs, columns, products, widened gradients)
# up to this many bytes reuse one buffer per kind and thread: a fresh large array is new
# memory that the OS pages in (zeroed) on every call, which can cost more than the arithmetic.
_ARENA_MAX = 1 << 23
_arena = threading.local()


def _temp(slot: str, shape, dtype, zero: bool = False) -> np.ndarray:
    """An array for one of the temporaries of this module (never handed to callers outside
    it): `slot` names which one, so that temporaries alive at the same time never share
    memory. Small enough ones are views of this thread's buffer for the slot."""
    dtype = np.dtype(dtype)
    nbytes = nprod(shape) * dtype.itemsize
    if nbytes > _ARENA_MAX:
        return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    bufs = getattr(_arena, "bufs", None)
    if bufs is None:
        bufs = _arena.bufs = {}
    b = bufs.get(slot)
    if b is None or b.nbytes < nbytes:
        b = bufs[slot] = np.empty(nbytes, dtype=np.uint8)
    a = b[:nbytes].view(dtype).reshape(shape)
    if zero:
        a.fill(0)
    return a


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
    is then prod(K) contiguous copies and col2im prod(K) contiguous adds. Columns and
    gradients are kept channel-major, (C, N, positions), so that the whole batch is one
    matrix product (per group) rather than one small product per sample.
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

    def cols(self, x: np.ndarray) -> np.ndarray:
        """(C * prod(K), N * lw) windows of x on the wide grid, channel-major (row c*K + kk,
        column n*lw + i), so that a whole batch is one matrix product: one strided view of
        the padded flat buffer (kernel dims step by d * step, positions by 1), copied once."""
        n, c = x.shape[:2]
        buf = _temp("pad", (n, c, self.total), x.dtype, zero=True)
        np.reshape(buf[:, :, :nprod(self.sp)], (n, c) + self.sp, copy=False)[self.inner] = x
        it = buf.itemsize
        st = buf.strides
        view = np.ndarray((c,) + self.ksize + (n, self.lw), dtype=buf.dtype, buffer=buf,
                          strides=(st[1],) + tuple(k * it for k in self.kstep) + (st[0], it))
        out = _temp("cols", (c * len(self.offs), n * self.lw), x.dtype)
        np.copyto(out.reshape(view.shape), view)
        return out

    def widen(self, g: np.ndarray) -> np.ndarray:
        """g (N, O, *O) on the wide grid, channel-major, zeros in the junk columns:
        (O, N * lw)."""
        n, o = g.shape[:2]
        out = _temp("wide", (o, n, self.osz[0]) + self.sp[1:], g.dtype)
        out[(Ellipsis,) + tuple(slice(0, v) for v in g.shape[2:])] = g.swapaxes(0, 1)
        for d in range(3, g.ndim):  # zeros in the junk positions (g's leading dim is full)
            out[(slice(None),) * d + (slice(g.shape[d], None),)] = 0
        return out.reshape(o, n * self.lw)

    def narrow(self, a: np.ndarray) -> np.ndarray:
        """(O, N * lw) outputs cropped to (N, O, *O), contiguous."""
        o = a.shape[0]
        a = a.reshape((o, -1, self.osz[0]) + self.sp[1:])
        a = a[(Ellipsis,) + tuple(slice(0, v) for v in self.osz[1:])]
        return np.copy(a.swapaxes(0, 1), order="C")  # (a new array: a may be a temporary)

    def add_cols(self, cols: np.ndarray, size) -> np.ndarray:
        """col2im on the wide grid: channel-major columns (C * prod(K), N * lw) summed into
        (N, C, *size)."""
        kp = len(self.offs)
        c = cols.shape[0] // kp
        cols = cols.reshape(c, kp, -1, self.lw)
        n = cols.shape[2]
        buf = _temp("col2im", (c, n, self.total), cols.dtype, zero=True)
        for j, off in enumerate(self.offs):
            buf[:, :, off:off + self.lw] += cols[:, j]
        img = np.reshape(buf[:, :, :nprod(self.sp)], (c, n) + self.sp, copy=False)
        return np.copy(img[self.inner].swapaxes(0, 1), order="C")  # (a new array)


def _gmm(a: np.ndarray, b: np.ndarray, temp: bool = False) -> np.ndarray:
    """a @ b for stacks (G, m, k) x (G, k, n): one 2-d product when G is 1. With temp, the
    result is a temporary of this module (slot "prod")."""
    shape = (a.shape[0], a.shape[1], b.shape[2])
    dt = np.result_type(a.dtype, b.dtype)
    out = _temp("prod", shape, dt) if temp else None
    if a.shape[0] == 1 and dt.kind in "fc" and a.dtype == dt and b.dtype == dt:
        r = np.dot(a[0], b[0], out=None if out is None else out[0])
        return r[None] if out is None else out
    return np.matmul(a, b, out=out)


@functools.lru_cache(maxsize=256)
def _wide_geometry(size, ksize, padding, dilation) -> _Wide:
    return _Wide(size, ksize, padding, dilation)


def _wide(size, ksize, stride, padding, dilation, osize):
    """The wide geometry when it applies (all strides 1, outputs exactly the valid ones)."""
    if any(s != 1 for s in stride):
        return None
    geo = _wide_geometry(tuple(size), tuple(ksize), tuple(padding), tuple(dilation))
    return geo if tuple(osize) == geo.osz else None


def wide_parts(x: np.ndarray | None, g: np.ndarray | None, size, ksize, stride, padding,
               dilation) -> tuple:
    """(columns of x, widened g) on the wide grid of a convolution over inputs of spatial
    `size` whose output is g's, or (None, None) where it does not apply: a backward that
    needs them for two gradients makes them once and passes them to corr / corr_t / corr_w.
    x or g may be None (not needed)."""
    osize = g.shape[2:] if g is not None else tuple(
        out_size(sz, k, st, p, d) for sz, k, st, p, d in
        zip(size, ksize, stride, padding, dilation))
    geo = _wide(size, ksize, stride, padding, dilation, osize)
    if geo is None:
        return None, None
    return (None if x is None else geo.cols(x)), (None if g is None else geo.widen(g))


def corr(x: np.ndarray, w: np.ndarray, stride, padding, dilation, groups: int,
         osize=None, cols=None) -> np.ndarray:
    """Convolution (cross-correlation) forward: (N, C, *S) x (O, C/G, *K) -> (N, O, *O').
    `cols`: x's wide-grid columns when already made (see wide_parts)."""
    n = x.shape[0]
    o, cg = w.shape[:2]
    ksize = w.shape[2:]
    kp = nprod(ksize)
    wr = w.reshape(groups, o // groups, cg * kp)
    if osize is None:
        osize = tuple(out_size(sz, k, st, p, d) for sz, k, st, p, d in
                      zip(x.shape[2:], ksize, stride, padding, dilation))
    geo = _wide(x.shape[2:], ksize, stride, padding, dilation, osize)
    if geo is not None:  # the whole batch as one product per group
        cols = (geo.cols(x) if cols is None else cols).reshape(groups, cg * kp, n * geo.lw)
        return geo.narrow(_gmm(wr, cols, temp=True).reshape(o, n * geo.lw))
    cols, osize = im2col(x, ksize, stride, padding, dilation, osize)
    cols = cols.reshape(n, groups, cg * kp, nprod(osize))
    out = np.matmul(wr, cols)  # (N, G, Og, O')
    return out.reshape((n, o) + tuple(osize))


def corr_t(g: np.ndarray, w: np.ndarray, stride, padding, dilation, groups: int,
           size, gw=None) -> np.ndarray:
    """Transposed convolution (the input gradient of corr): (N, O, *O') -> (N, C, *size).
    `gw`: g widened when already made (see wide_parts)."""
    n = g.shape[0]
    o, cg = w.shape[:2]
    ksize = w.shape[2:]
    osize = g.shape[2:]
    kp = nprod(ksize)
    wt = w.reshape(groups, o // groups, cg * kp).transpose(0, 2, 1)  # (G, Cg*Kp, Og)
    geo = _wide(size, ksize, stride, padding, dilation, osize)
    if geo is not None:
        gw = (geo.widen(g) if gw is None else gw).reshape(groups, o // groups, n * geo.lw)
        return geo.add_cols(_gmm(wt, gw, temp=True).reshape(groups * cg * kp, n * geo.lw),
                            size)
    cols = np.matmul(wt, g.reshape(n, groups, o // groups, nprod(osize)))  # (N, G, Cg*Kp, O')
    cols = cols.reshape((n, groups * cg) + tuple(ksize) + tuple(osize))
    return col2im(cols, size, ksize, stride, padding, dilation)


def corr_w(g: np.ndarray, x: np.ndarray, stride, padding, dilation, groups: int,
           ksize, gw=None, cols=None) -> np.ndarray:
    """Weight gradient of corr: sum over batch and positions of g times the input windows.
    `gw`, `cols`: g widened and x's columns when already made (see wide_parts)."""
    n, o = g.shape[:2]
    c = x.shape[1]
    cg = c // groups
    kp = nprod(ksize)
    geo = _wide(x.shape[2:], ksize, stride, padding, dilation, g.shape[2:])
    if geo is not None:  # sum over batch and positions: one product per group
        cols = (geo.cols(x) if cols is None else cols).reshape(groups, cg * kp, n * geo.lw)
        gr = (geo.widen(g) if gw is None else gw).reshape(groups, o // groups, n * geo.lw)
        return _gmm(gr, cols.transpose(0, 2, 1)).reshape((o, cg) + tuple(ksize))
    cols, osize = im2col(x, ksize, stride, padding, dilation, g.shape[2:])
    cols = cols.reshape(n, groups, cg * kp, nprod(osize))
    gr = g.reshape(n, groups, o // groups, nprod(osize))
    # per sample (G, Og, O') @ (G, O', Cg*Kp), summed over the batch: the columns are used in
    # place (a transposed view BLAS reads directly), not copied again
    gw = np.matmul(gr, cols.transpose(0, 1, 3, 2))
    gw = gw[0] if n == 1 else gw.sum(0)
    return gw.reshape((o, cg) + tuple(ksize))

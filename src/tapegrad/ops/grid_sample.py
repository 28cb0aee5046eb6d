"""grid_sample (bilinear, nearest, bicubic; padding zeros / border / reflection) and affine_grid.

Sampling is written once as a weighted gather. With x flattened to (N, C, P) and the Q grid
points of each batch element, every mode reads T taps per point:
    out[n, c, q] = sum_t w[n, t, q] x[n, c, idx[n, t, q]]
The tap positions idx are constants (floors of the source coordinates); the weights w are
functions of the grid through the fractional parts f_d = u_d - floor(u_d) of the source
coordinates u_d, and u_d = a_d grid_d + b_d with a_d, b_d constant on each piece (the
unnormalization, and the clipping / reflection of the padding modes, are piecewise linear; a
clipped coordinate has a_d = 0). Taps outside the input get weight 0.
  bilinear: 2^nd taps, w = prod_d (f_d or 1 - f_d);   nearest: 1 tap, w = 1 (no grid gradient);
  bicubic (2-d): 16 taps, w = c_i(f_x) c_j(f_y) with Keys' cubic (A = -0.75); its taps are
  padded one by one and the grid gradient goes through f only, as in PyTorch.
  GridSampler{2,3}DBackward0 vjp:  gx = scatter-add of g w at idx;
      ggrid_d = a_d sum_t (sum_c g x[idx_t]) dw_t/df_d,
  both written in tapegrad ops on the saved x and grid, so higher derivatives follow.
  affine_grid (AffineGridGeneratorBackward0): grid = base @ theta^T with base rows (x, y, 1);
  vjp: g^T base.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import new_node, save, wrap
from ._gather import gather_along, scatter_add_along

__all__: list[str] = []  # torch.grid_sampler & co. are in nn_aten_gaps.py
FUNCTIONAL = ["grid_sample", "affine_grid", "GRID_SAMPLE_INTERPOLATION_MODES",
              "GRID_SAMPLE_PADDING_MODES"]

GRID_SAMPLE_INTERPOLATION_MODES = {"bilinear": 0, "nearest": 1, "bicubic": 2}
GRID_SAMPLE_PADDING_MODES = {"zeros": 0, "border": 1, "reflection": 2}

_A = -0.75  # the bicubic kernel's parameter, as PyTorch's


def _shape(s) -> str:
    return "[" + ", ".join(str(v) for v in s) + "]"


# --- source coordinates ----------------------------------------------------------------------
def _source(c: np.ndarray, size: int, padding: int, align: bool, pad_taps: bool = True):
    """(u, a): the source coordinate of normalized coordinates c and du/dc, per padding mode
    (0 zeros, 1 border, 2 reflection)."""
    dt = c.dtype.type
    if align:
        u = ((c + dt(1)) / dt(2)) * dt(size - 1)
        a = np.full(c.shape, dt(size - 1) / dt(2), dtype=c.dtype)
    else:
        u = ((c + dt(1)) * dt(size) - dt(1)) / dt(2)
        a = np.full(c.shape, dt(size) / dt(2), dtype=c.dtype)
    if pad_taps:
        u, m = _pad_coord(u, size, padding, align)
        a = a * m
    return u, a


def _pad_coord(u: np.ndarray, size: int, padding: int, align: bool):
    """(u', du'/du) after the padding mode: border clips to [0, size - 1]; reflection reflects
    about the borders (the pixel edges without align_corners) and then clips."""
    dt = u.dtype.type
    m = np.ones(u.shape, dtype=u.dtype)
    if padding == 2:
        lo2, hi2 = (0, 2 * (size - 1)) if align else (-1, 2 * size - 1)
        if lo2 == hi2:
            return np.zeros_like(u), np.zeros_like(u)
        mn, span = dt(lo2) / dt(2), dt(hi2 - lo2) / dt(2)
        v = u - mn
        sgn = np.where(v < 0, dt(-1), dt(1))
        v = np.abs(v)
        extra = np.fmod(v, span)
        flips = np.floor(v / span)
        even = np.fmod(flips, 2) == 0
        u = np.where(even, extra + mn, span - extra + mn)
        m = np.where(even, sgn, -sgn).astype(u.dtype)
    if padding in (1, 2):
        hi = dt(size - 1)
        clipped = (u <= 0) | (u >= hi)
        u = np.clip(u, dt(0), hi)
        m = np.where(clipped, dt(0), m)
    return u, m


# --- the weights as functions of the fractions (tapegrad ops or arrays) -----------------------
def _cubic1(t):
    return ((_A + 2) * t - (_A + 3)) * t * t + 1


def _cubic2(t):
    return ((_A * t - 5 * _A) * t + 8 * _A) * t - 4 * _A


def _dcubic1(t):
    return (3 * (_A + 2) * t - 2 * (_A + 3)) * t


def _dcubic2(t):
    return (3 * _A * t - 10 * _A) * t + 8 * _A


def _cubic_coeffs(t) -> list:
    """Keys' weights of the taps at floor - 1, floor, floor + 1, floor + 2 for fraction t."""
    return [_cubic2(t + 1), _cubic1(t), _cubic1(1 - t), _cubic2(2 - t)]


def _cubic_dcoeffs(t) -> list:
    return [_dcubic2(t + 1), _dcubic1(t), -_dcubic1(1 - t), -_dcubic2(2 - t)]


def _tap_factors(f: list, mode: int, deriv: int | None = None) -> list:
    """Per tap, the factors of its weight: one per spatial dim (taps in row-major order of
    their per-dim offsets). With deriv=d, the d-th factor is replaced by its derivative."""
    nd = len(f)
    out = []
    if mode == 0:
        for bits in np.ndindex(*(2,) * nd):
            fac = []
            for d, b in enumerate(bits):
                if deriv == d:
                    fac.append(1.0 if b else -1.0)
                else:
                    fac.append(f[d] if b else 1 - f[d])
            out.append(fac)
    else:  # bicubic
        cs = [_cubic_coeffs(fd) for fd in f]
        dcs = [_cubic_dcoeffs(fd) for fd in f]
        for offs in np.ndindex(*(4,) * nd):
            out.append([(dcs if deriv == d else cs)[d][o] for d, o in enumerate(offs)])
    return out


def _prod(factors: list):
    r = factors[0]
    for v in factors[1:]:
        r = r * v
    return r


# --- the geometry of one call ----------------------------------------------------------------
class _Taps:
    """Constants of one sampling: idx (N, T*Q) flat positions, valid (N, T, Q) 0/1, floor and
    slope/offset (a, b) of each source coordinate (N, Q) per spatial dim."""

    __slots__ = ("idx", "valid", "floor", "a", "b", "mode")

    def __init__(self, grid: np.ndarray, size: tuple, mode: int, padding: int, align: bool):
        nd = len(size)
        n = grid.shape[0]
        g = grid.reshape(n, -1, nd)
        self.mode = mode
        us, self.a, self.b, self.floor = [], [], [], []
        for d in range(nd):
            c = g[..., nd - 1 - d]  # grid's last entry is x (the last spatial dim)
            u, a = _source(c, size[d], padding, align, pad_taps=mode != 2)
            us.append(u)
            self.a.append(a)
            self.b.append(u - a * c)
        strides = [int(np.prod(size[d + 1:], dtype=np.int64)) for d in range(nd)]
        if mode == 1:  # nearest: round half to even, as nearbyint
            pos = [np.rint(u) for u in us]
            self.floor = pos
            offsets = [(0,) * nd]
        else:
            self.floor = [np.floor(u) for u in us]
            offsets = list(np.ndindex(*((2,) * nd if mode == 0 else (4,) * nd)))
        idx, valid = [], []
        for off in offsets:
            flat = np.zeros(g.shape[:2], dtype=np.int64)
            ok = np.ones(g.shape[:2], dtype=bool)
            for d in range(nd):
                p = self.floor[d] + (off[d] - 1 if mode == 2 else off[d])
                if mode == 2 and padding:  # bicubic pads each tap coordinate
                    p = _pad_coord(p, size[d], padding, align)[0]
                inside = (p >= 0) & (p <= size[d] - 1)
                ok &= inside
                flat += np.where(inside, p, 0).astype(np.int64) * strides[d]
            idx.append(np.where(ok, flat, 0))
            valid.append(ok)
        self.idx = np.stack(idx, 1).reshape(n, -1)
        self.valid = np.stack(valid, 1).astype(grid.dtype)

    def fractions(self, grid):
        """f_d (N, Q) from the grid (a tapegrad Tensor or an array): a_d grid_d + b_d - floor."""
        nd = len(self.a)
        n = grid.shape[0]
        out = []
        for d in range(nd):
            c = grid.reshape(n, -1, nd)[..., nd - 1 - d]
            out.append(c * self._const(self.a[d], grid) + self._const(self.b[d] - self.floor[d],
                                                                      grid))
        return out

    @staticmethod
    def _const(arr, like):
        return wrap(arr) if isinstance(like, Tensor) else arr

    def weights(self, grid):
        """w (N, T, Q) as a function of the grid (tapegrad ops when grid is a Tensor)."""
        if self.mode == 1:
            return self._const(self.valid, grid)
        f = self.fractions(grid)
        facs = _tap_factors(f, self.mode)
        if isinstance(grid, Tensor):
            from .join import stack

            w = stack([_prod(fc) for fc in facs], 1)
            return w * wrap(self.valid)
        return np.stack([_prod(fc) for fc in facs], 1) * self.valid

    def dweights(self, grid, d: int):
        """dw/df_d (N, T, Q) as tapegrad ops."""
        from .join import stack

        f = self.fractions(grid)
        facs = _tap_factors(f, self.mode, deriv=d)
        n, q = self.valid.shape[0], self.valid.shape[2]
        cols = []
        for fc in facs:
            v = _prod(fc)
            cols.append(v if isinstance(v, Tensor) else grid.new_full((n, q), float(v)))
        return stack(cols, 1) * wrap(self.valid)


# --- the primitive -------------------------------------------------------------------------
class _GridNode(Node):
    __slots__ = ("taps",)

    def vjp(self, g):
        x, grid = self.saved_tensors()
        nx, ngrid = self._next
        taps = self.taps
        n, c = x._data.shape[:2]
        t = taps.valid.shape[1]
        q = taps.valid.shape[2]
        gf = g.reshape(n, c, 1, q)
        idx = wrap(np.broadcast_to(taps.idx[:, None, :], (n, c, t * q)).copy())
        gx = ggrid = None
        w = taps.weights(grid) if taps.mode != 1 else wrap(taps.valid)
        if nx[0] is not None:
            src = (gf * w.unsqueeze(1)).reshape(n, c, t * q)
            gx = scatter_add_along(None, 2, idx, src, (n, c, int(np.prod(x._data.shape[2:]))))
            gx = gx.reshape(x._data.shape)
        if ngrid[0] is not None:
            nd = grid._data.shape[-1]
            if taps.mode == 1:
                ggrid = grid.new_zeros(grid._data.shape)
            else:
                xg = gather_along(x.reshape(n, c, -1), 2, idx).reshape(n, c, t, q)
                gw = (gf * xg).sum(1)  # (N, T, Q)
                cols = [None] * nd
                for d in range(nd):
                    gd = (gw * taps.dweights(grid, d)).sum(1) * wrap(taps.a[d])
                    cols[nd - 1 - d] = gd
                from .join import stack

                ggrid = stack(cols, -1).reshape(grid._data.shape)
        return gx, ggrid


class GridSampler2DBackward0(_GridNode):
    __slots__ = ()


class GridSampler3DBackward0(_GridNode):
    __slots__ = ()


def _grid_sampler(input: Tensor, grid: Tensor, mode: int, padding: int,  # noqa: A002
                  align: bool) -> Tensor:
    a, gr = input._data, grid._data
    nd = a.ndim - 2
    name = f"grid_sampler_{nd}d_cpu_kernel_impl" if nd == 2 else "grid_sampler_3d_cpu"
    if input._dtype.category != D.FLOAT:
        raise NotImplementedError(f'"{name}" not implemented for \'{input._dtype._short}\'')
    if grid._dtype is not input._dtype:
        raise RuntimeError(f"expected scalar type {input._dtype._short} but found "
                           f"{grid._dtype._short}")
    n, c = a.shape[:2]
    size = a.shape[2:]
    osize = gr.shape[1:-1]
    q = int(np.prod(osize, dtype=np.int64))
    if n == 0 or c == 0 or q == 0:
        out = np.zeros((n, c) + tuple(osize), dtype=a.dtype)
        taps = None
    else:
        taps = _Taps(gr, size, mode, padding, align)
        w = taps.weights(gr)  # (N, T, Q)
        t = w.shape[1]
        xf = a.reshape(n, c, -1)
        xg = np.take_along_axis(xf, np.broadcast_to(taps.idx[:, None, :], (n, c, t * q)), 2)
        out = (xg.reshape(n, c, t, q) * w[:, None]).sum(2).reshape((n, c) + tuple(osize))
    cls = GridSampler2DBackward0 if nd == 2 else GridSampler3DBackward0
    node = new_node(cls, (input, grid))
    if node is not None:
        if taps is None:
            taps = _Taps(gr, size, mode, padding, align) if q and n else _empty_taps(
                gr, size, mode)
        save(node, input, grid)
        node.taps = taps
    return wrap(np.ascontiguousarray(out, dtype=a.dtype), node)


def _empty_taps(gr: np.ndarray, size: tuple, mode: int) -> _Taps:
    taps = _Taps.__new__(_Taps)
    nd = len(size)
    t = 1 if mode == 1 else (2 ** nd if mode == 0 else 4 ** nd)
    n, q = gr.shape[0], int(np.prod(gr.shape[1:-1], dtype=np.int64))
    taps.mode = mode
    taps.idx = np.zeros((n, t * q), dtype=np.int64)
    taps.valid = np.zeros((n, t, q), dtype=gr.dtype)
    zero = np.zeros((n, q), dtype=gr.dtype)
    taps.a, taps.b, taps.floor = [zero] * nd, [zero] * nd, [zero] * nd
    return taps


def grid_sampler_checks(input: Tensor, grid: Tensor, mode: int) -> None:  # noqa: A002
    a, g = input._data, grid._data
    if a.ndim == 0 or g.ndim == 0 or a.shape[0] != g.shape[0]:
        raise RuntimeError("grid_sampler(): expected grid and input to have same batch size, but "
                           f"got input with sizes {_shape(a.shape)} and grid with sizes "
                           f"{_shape(g.shape)}")
    if g.shape[-1] != a.ndim - 2:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {a.ndim - 2} in last "
                           f"dimension, but got grid with sizes {_shape(g.shape)}")
    for i in range(2, a.ndim):
        if a.shape[i] == 0:
            raise RuntimeError(
                "grid_sampler(): expected input to have non-empty spatial dimensions, but input "
                f"has sizes {_shape(a.shape)} with dimension {i} being empty")
    if a.ndim not in (4, 5):
        raise RuntimeError(
            "grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, "
            f"but got input with sizes {_shape(a.shape)} and grid with sizes {_shape(g.shape)}")
    if a.ndim == 5 and mode == 2:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")


def grid_sampler_nd(nd: int, input: Tensor, grid: Tensor, mode: int, padding: int,  # noqa: A002
                    align: bool) -> Tensor:
    """ATen's grid_sampler_2d / grid_sampler_3d (checks and kernel)."""
    a, g = input._data, grid._data
    if a.ndim != nd + 2 or g.ndim != nd + 2:
        raise RuntimeError(
            f"grid_sampler(): expected {nd + 2}D input and grid with same number of "
            f"dimensions, but got input with sizes {_shape(a.shape)} and grid with sizes "
            f"{_shape(g.shape)}")
    grid_sampler_checks(input, grid, mode)
    return _grid_sampler(input, grid, mode, padding, bool(align))


def grid_sampler(input: Tensor, grid: Tensor, interpolation_mode: int,  # noqa: A002
                 padding_mode: int, align_corners: bool) -> Tensor:
    """ATen's grid_sampler: mode 0 bilinear, 1 nearest, 2 bicubic; padding 0 zeros, 1 border,
    2 reflection."""
    grid_sampler_checks(input, grid, interpolation_mode)
    return _grid_sampler(input, grid, int(interpolation_mode), int(padding_mode),
                         bool(align_corners))


_ALIGN_WARNING = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since "
    "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
    "documentation of grid_sample for details.")


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear",  # noqa: A002
                padding_mode: str = "zeros", align_corners: bool | None = None) -> Tensor:
    """Sample input (N, C, H, W) (or (N, C, D, H, W)) at the normalized coordinates of grid
    (N, H_out, W_out, 2), x before y, -1 and 1 being the input's edges (its corner pixels'
    centres with align_corners).

    >>> import tapegrad
    >>> x = tapegrad.arange(4.).view(1, 1, 2, 2)
    >>> g = tapegrad.zeros(1, 1, 1, 2)
    >>> tapegrad.nn.functional.grid_sample(x, g, align_corners=True)
    tensor([[[[1.5000]]]])
    """
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError("nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' "
                         f"or 'bicubic', but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', "
                         f"'border', or 'reflection', but got: '{padding_mode}'")
    mode_enum = GRID_SAMPLE_INTERPOLATION_MODES[mode]
    pad_enum = GRID_SAMPLE_PADDING_MODES[padding_mode]
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    return grid_sampler(input, grid, mode_enum, pad_enum, align_corners)


# --- affine_grid -----------------------------------------------------------------------------
def _lin(n: int, align: bool, dt) -> np.ndarray:
    """n points from -1 to 1 (scaled by (n - 1) / n without align_corners); 0 for n <= 1."""
    if n <= 1:
        return np.zeros(max(n, 0), dtype=dt)
    r = np.linspace(-1, 1, n).astype(dt)
    if not align:
        r = r * dt.type(n - 1) / dt.type(n)
    return r


def _base_grid(size, align: bool, dt) -> np.ndarray:
    """(prod(spatial), nd + 1) rows (x, y[, z], 1), x the fastest-varying."""
    spatial = list(size[2:])
    nd = len(spatial)
    axes = [_lin(s, align, dt) for s in spatial]
    mesh = np.meshgrid(*axes, indexing="ij")
    cols = [mesh[d].reshape(-1) for d in reversed(range(nd))]  # x (last dim) first
    cols.append(np.ones(int(np.prod(spatial)), dtype=dt))
    return np.stack(cols, -1)


class AffineGridGeneratorBackward0(Node):
    __slots__ = ("base",)

    def vjp(self, g):
        n = g.shape[0]
        base = wrap(self.base)
        nd = self.base.shape[-1] - 1
        return g.reshape(n, -1, nd).mT.matmul(base)


def affine_grid_generator(theta: Tensor, size, align_corners: bool) -> Tensor:
    """ATen's affine_grid_generator: base grid @ theta^T, shape (N, *spatial, nd)."""
    size = [int(s) for s in size]
    th = theta._data
    n = size[0]
    base = _base_grid(size, bool(align_corners), th.dtype)
    nd = len(size) - 2
    if th.shape[0] != n:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{n}, {nd + 1}] but got: [{th.shape[0]}, {th.shape[2]}].")
    out = np.matmul(base[None], np.swapaxes(th, 1, 2)).reshape([n] + size[2:] + [nd])
    node = new_node(AffineGridGeneratorBackward0, (theta,))
    if node is not None:
        node.base = base
    return wrap(np.ascontiguousarray(out, dtype=th.dtype), node)


def affine_grid(theta: Tensor, size, align_corners: bool | None = None) -> Tensor:
    """The sampling grid of a batch of affine maps theta (N, 2, 3) (or (N, 3, 4)) for an
    output of size (N, C, H, W) (or (N, C, D, H, W)), for grid_sample.

    >>> import tapegrad
    >>> eye = tapegrad.tensor([[[1., 0., 0.], [0., 1., 0.]]])
    >>> tapegrad.nn.functional.affine_grid(eye, (1, 1, 2, 2), align_corners=True)
    tensor([[[[-1., -1.],
              [ 1., -1.]],
    <BLANKLINE>
             [[-1.,  1.],
              [ 1.,  1.]]]])
    """
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if theta._dtype.category != D.FLOAT:
        raise ValueError(f"Expected theta to have floating point type, but got "
                         f"{theta.dtype}")
    shape = tuple(theta._data.shape)
    if len(size) == 4:
        if theta.dim() != 3 or shape[-2] != 2 or shape[-1] != 3:
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size "
                             f"{size}. Got {theta.shape}.")
        spatial = size[-2:]
    elif len(size) == 5:
        if theta.dim() != 3 or shape[-2] != 3 or shape[-1] != 4:
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size "
                             f"{size}. Got {theta.shape}.")
        spatial = size[-3:]
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D "
                                  f"affine transforms, respectively. Got size {size}.")
    if align_corners and min(spatial) == 1:
        warnings.warn(
            "Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
            "align_corners=True. This is not an intended use case of affine_grid. See the "
            "documentation of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    return affine_grid_generator(theta, size, align_corners)

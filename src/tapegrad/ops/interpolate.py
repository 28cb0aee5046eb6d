"""interpolate / upsample: nearest, nearest-exact, (bi/tri)linear and bicubic resizing.

Each mode is separable: along every spatial dim, output position o reads a few input
positions ("taps") idx_t[o] with weights w_t[o] (1 tap for nearest, 2 for linear, 4 for
cubic), computed as PyTorch's CPU kernels compute them (source index, clamping, the A = -0.75
cubic kernel), in the input's precision. The op is the linear map

    out = sum_t w_t * take(x, idx_t)            applied dim after dim       (Upsample*Backward0)

and its vjp the transposed map, a scatter-add of g * w_t back to idx_t
(Upsample*BackwardBackward0), whose own vjp is the resize again. Every idx_t is non-decreasing
in o, so the scatter is one np.add.reduceat per tap: no loop over pixels anywhere.
'area' mode is adaptive average pooling, as in PyTorch.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import batched_cotangent, new_node, rebatch, wrap

__all__: list[str] = []
FUNCTIONAL = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]

_A = -0.75  # PyTorch's cubic convolution constant


# --- taps per dim --------------------------------------------------------------------------------
def _scale_value(scale, isize: int, osize: int, dt):
    """compute_scales_value: 1 / scale_factor when one was given, else in / out."""
    if scale is not None and scale > 0:
        return dt(1.0 / scale)
    return dt(isize) / dt(osize)


def _nearest_taps(isize: int, osize: int, scale, exact: bool):
    o = np.arange(osize)
    if not exact and osize == isize:
        idx = o
    elif not exact and osize == 2 * isize:
        idx = o >> 1
    else:
        sc = _scale_value(scale, isize, osize, np.float32)
        src = (o.astype(np.float64) + 0.5) * sc if exact else o.astype(np.float32) * sc
        idx = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), isize - 1)
    return [(idx, None)]


def _area_scale(isize: int, osize: int, align_corners: bool, scale, dt):
    if align_corners:
        return dt(isize - 1) / dt(osize - 1) if osize > 1 else dt(0)
    return _scale_value(scale, isize, osize, dt)


def _source_index(sc, o, align_corners: bool, cubic: bool, dt):
    if align_corners:
        return sc * o
    src = sc * (o + dt(0.5)) - dt(0.5)
    return src if cubic else np.maximum(src, dt(0))


def _linear_taps(isize: int, osize: int, align_corners: bool, scale, dt):
    sc = _area_scale(isize, osize, align_corners, scale, dt)
    src = _source_index(sc, np.arange(osize, dtype=dt), align_corners, False, dt)
    i0 = np.minimum(np.floor(src).astype(np.int64), isize - 1)
    lam = np.clip(src - i0.astype(dt), 0, 1).astype(dt)
    i1 = i0 + (i0 < isize - 1)
    return [(i0, (dt(1) - lam).astype(dt)), (i1, lam)]


def _cubic_taps(isize: int, osize: int, align_corners: bool, scale, dt):
    sc = _area_scale(isize, osize, align_corners, scale, dt)
    src = _source_index(sc, np.arange(osize, dtype=dt), align_corners, True, dt)
    i0 = np.floor(src).astype(np.int64)
    t = (src - i0.astype(dt)).astype(dt)
    a = dt(_A)

    def conv1(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def conv2(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    ws = [conv2(t + 1), conv1(t), conv1(1 - t), conv2(2 - t)]
    return [(np.clip(i0 - 1 + k, 0, isize - 1), w.astype(dt)) for k, w in enumerate(ws)]


# --- the resampling primitive pair ---------------------------------------------------------------
def _apply(a: np.ndarray, taps_per_dim) -> np.ndarray:
    nd = len(taps_per_dim)
    for d, taps in enumerate(taps_per_dim):
        ax = a.ndim - nd + d
        shp = (-1,) + (1,) * (nd - 1 - d)
        out = None
        for idx, w in taps:
            v = np.take(a, idx, axis=ax)
            if w is not None:
                v *= w.reshape(shp)
            out = v if out is None else out + v
        a = out
    return np.ascontiguousarray(a)


def _sorted_scatter(v: np.ndarray, idx: np.ndarray, size: int, axis: int) -> np.ndarray:
    """zeros (size along axis) with v[..., o, ...] added at idx[o]; idx non-decreasing."""
    uniq, starts = np.unique(idx, return_index=True)
    sums = np.add.reduceat(v, starts, axis=axis)
    shape = list(v.shape)
    shape[axis] = size
    if len(uniq) == size:
        return sums
    out = np.zeros(shape, dtype=v.dtype)
    key = [slice(None)] * v.ndim
    key[axis] = uniq
    out[tuple(key)] = sums
    return out


def _apply_t(g: np.ndarray, taps_per_dim, insize) -> np.ndarray:
    nd = len(taps_per_dim)
    for d in reversed(range(nd)):
        ax = g.ndim - nd + d
        shp = (-1,) + (1,) * (nd - 1 - d)
        out = None
        for idx, w in taps_per_dim[d]:
            v = g if w is None else g * w.reshape(shp)
            s = _sorted_scatter(v, idx, insize[d], ax)
            out = s if out is None else out + s
        g = out
    return np.ascontiguousarray(g)


class _Resample(Node):
    __slots__ = ("taps",)
    back = None

    def vjp(self, g):
        shape = self._in_meta[0][0]
        return _resample_t(g, self.taps, shape[len(shape) - len(self.taps):], type(self).back)


class _ResampleT(Node):
    __slots__ = ("taps",)
    fwd = None

    def vjp(self, gg):
        return _resample(gg, self.taps, type(self).fwd)


def _resample(x: Tensor, taps, cls) -> Tensor:
    if type(x) is not Tensor:  # a batch of cotangents under vmap (double backward)
        b = batched_cotangent(x)
        if b is not None:  # the map reads the trailing dims only: the batch is one more
            return rebatch(_resample(b[0], taps, cls), b[1])
    node = new_node(cls, (x,))
    if node is not None:
        node.taps = taps
    return wrap(_apply(x._data, taps), node)


def _resample_t(g: Tensor, taps, insize, cls) -> Tensor:
    if type(g) is not Tensor:  # a batch of cotangents under vmap: one pass for the batch
        b = batched_cotangent(g)
        if b is not None:  # the map reads the trailing dims only: the batch is one more
            return rebatch(_resample_t(b[0], taps, insize, cls), b[1])
    node = new_node(cls, (g,))
    if node is not None:
        node.taps = taps
    return wrap(_apply_t(g._data, taps, insize), node)


def _make_nodes():
    out = {}
    for mode, stem in (("nearest", "UpsampleNearest"), ("nearest-exact", "UpsampleNearestExact"),
                       ("linear", "UpsampleLinear"), ("bilinear", "UpsampleBilinear"),
                       ("trilinear", "UpsampleTrilinear"), ("bicubic", "UpsampleBicubic")):
        for nd in (1, 2, 3):
            fwd = type(f"{stem}{nd}DBackward0", (_Resample,), {"__slots__": ()})
            back = type(f"{stem}{nd}DBackwardBackward0", (_ResampleT,), {"__slots__": ()})
            fwd.back, back.fwd = back, fwd
            fwd.__module__ = back.__module__ = __name__
            out[mode, nd] = fwd
    return out


_NODES = _make_nodes()
_DIMS = {"linear": 1, "bilinear": 2, "trilinear": 3, "bicubic": 2}
_KERNEL = {"nearest": "upsample_nearest", "nearest-exact": "_upsample_nearest_exact",
           "linear": "upsample_linear", "bilinear": "upsample_bilinear",
           "trilinear": "upsample_trilinear", "bicubic": "upsample_bicubic"}


def _resize(x: Tensor, mode: str, osize, scales, align_corners) -> Tensor:
    a = x._data
    nd = a.ndim - 2
    insize = a.shape[2:]
    if any(s <= 0 for s in insize) or any(o <= 0 for o in osize):
        labels = "DHW"[3 - nd:]
        raise RuntimeError(
            "Input and output sizes should be greater than 0, but got input ("
            + ", ".join(f"{c}: {s}" for c, s in zip(labels, insize)) + ") output ("
            + ", ".join(f"{c}: {s}" for c, s in zip(labels, osize)) + ")")
    if a.dtype.kind not in "fc":
        kernel = _KERNEL[mode] + f"{nd}d" + ("_channels_last" if nd == 2 else "")
        raise NotImplementedError(
            f'"{kernel}" not implemented for \'{D.from_numpy_dtype(a.dtype)._short}\'')
    dt = a.dtype.type
    taps = []
    for i, o, s in zip(insize, osize, scales):
        if mode in ("nearest", "nearest-exact"):
            taps.append(_nearest_taps(i, o, s, mode == "nearest-exact"))
        elif mode == "bicubic":
            taps.append(_cubic_taps(i, o, align_corners, s, dt))
        else:
            taps.append(_linear_taps(i, o, align_corners, s, dt))
    return _resample(x, tuple(taps), _NODES[mode, nd])


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",  # noqa: A002
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims of (N, C, *spatial) input to `size` or by `scale_factor`.

    Modes: 'nearest', 'nearest-exact', 'linear' (3-D input), 'bilinear' and 'bicubic' (4-D),
    'trilinear' (5-D) and 'area' (adaptive average pooling).

    >>> import tapegrad
    >>> x = tapegrad.tensor([[[1., 2.]]])
    >>> tapegrad.nn.functional.interpolate(x, scale_factor=2, mode="linear")
    tensor([[[1.0000, 1.2500, 1.7500, 2.0000]]])
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating "
                             "modes: linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.dim() - 2
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        scales = None
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got "
                    f"input with spatial dimensions of {spatial} and output size of {size}. "
                    "Please provide input tensor in (N, C, d1, d2, ...,dK) format and output "
                    "size in (o1, o2, ...,oK) format.")
            if not all(isinstance(v, (int, np.integer)) for v in size):
                raise TypeError(
                    "expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                    f"Tuple[int, int, int], but got size with types {[type(v) for v in size]}")
            output_size = [int(v) for v in size]
        else:
            output_size = [int(size)] * dim
    elif scale_factor is not None:
        output_size = None
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, "
                    f"but got input with spatial dimensions of {spatial} and scale_factor of "
                    f"shape {scale_factor}. Please provide input tensor in (N, C, d1, d2, "
                    "...,dK) format and scale_factor in (s1, s2, ...,sK) format.")
            scales = [float(s) for s in scale_factor]
        else:
            scales = [float(scale_factor)] * dim
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and output_size is None:
        recompute_scale_factor = True
    if recompute_scale_factor:
        output_size = [math.floor(s * f) for s, f in zip(spatial, scales)]
        scales = None
    if antialias:
        raise NotImplementedError("tapegrad: interpolate(antialias=True) is not supported")
    nd = input.dim()
    if mode == "area" and nd in (3, 4, 5):
        from . import pool_adaptive as P

        fn = {3: P.adaptive_avg_pool1d, 4: P.adaptive_avg_pool2d, 5: P.adaptive_avg_pool3d}[nd]
        return fn(input, output_size[0] if nd == 3 else output_size)
    ok = (mode in ("nearest", "nearest-exact") and nd in (3, 4, 5)) or (
        mode in _DIMS and nd == _DIMS[mode] + 2)
    if not ok:
        if mode in _DIMS and nd in (3, 4, 5):
            need = _DIMS[mode] + 2
            raise NotImplementedError(f"Got {nd}D input, but {mode} mode needs {need}D input")
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {nd}D) for the modes: "
            "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact "
            f"(got {mode})")
    if output_size is None:
        output_size = [int(math.floor(float(s) * f)) for s, f in zip(spatial, scales)]
    return _resize(input, mode, output_size, scales or [None] * dim, align_corners)


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",  # noqa: A002
             align_corners: bool | None = None) -> Tensor:
    """Deprecated alias of interpolate (PyTorch warns the same way)."""
    import warnings

    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:  # noqa: A002
    """Deprecated: interpolate(..., mode='nearest')."""
    import warnings

    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:  # noqa: A002
    """Deprecated: interpolate(..., mode='bilinear', align_corners=True)."""
    import warnings

    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)

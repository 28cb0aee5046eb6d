"""Normalization layers' functions: batch_norm, layer_norm, group_norm (primitives, with
PyTorch's nodes NativeBatchNormBackward0, NativeLayerNormBackward0, NativeGroupNormBackward0),
and instance_norm, rms_norm, local_response_norm (composites, as PyTorch composes them).

Each primitive normalizes x over a set of reduced dims R (M elements): with mean mu, biased
variance var and invstd = 1 / sqrt(var + eps), xhat = (x - mu) invstd and out = xhat w + b.
The rules, written in tapegrad ops from the saved inputs (statistics are recomputed, so the
rules differentiate again):
    db = sum(g),  dw = sum(g xhat)             (over every dim but the parameter's)
    dx = invstd (h - mean_R(h) - xhat mean_R(h xhat)),  h = g w
and for batch_norm in evaluation mode, with the running statistics as constants,
    dx = g w invstd_running.
In training, batch_norm updates running_mean / running_var in place (momentum m, the
variance unbiased: var M / (M - 1)); like PyTorch's kernel, without bumping their version
(instance_norm's copy back does bump it, as PyTorch's copy_ does).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.graph import Node
from ._core import new_node, save, wrap
from .join import cat

__all__ = ["layer_norm", "group_norm", "rms_norm"]

FUNCTIONAL = ["batch_norm", "instance_norm", "layer_norm", "group_norm", "rms_norm",
              "local_response_norm"]


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _check_params(x: Tensor, *params) -> None:
    for p in params:
        if p is not None and p._dtype is not x._dtype:
            if x._dtype is D.float64:
                raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")
            raise RuntimeError("mixed dtype (CPU): expect parameter to have scalar type of Float")


def _stats(a: np.ndarray, axes: tuple, eps: float):
    """(mean, biased var, invstd) over axes, kept as broadcastable arrays."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = a.mean(axis=axes, keepdims=True)
        d = a - mean
        var = (d * d).mean(axis=axes, keepdims=True)
        return mean, var, 1.0 / np.sqrt(var + eps)


def _normalized_grads(node, g, x, w, axes, pshape, eps):
    """(dx, dw, db) of out = xhat * w + b with the statistics of x over `axes`, in tapegrad
    ops; w is None or broadcast-shaped (pshape: the parameters' own shape)."""
    nx, nw, nb = (e[0] is not None for e in node._next)
    mean = x.mean(axes, keepdim=True)
    xc = x - mean
    invstd = ((xc * xc).mean(axes, keepdim=True) + eps).rsqrt()
    xhat = xc * invstd
    dx = dw = db = None
    if nx:
        h = g if w is None else g * w
        dx = invstd * (h - h.mean(axes, keepdim=True)
                       - xhat * (h * xhat).mean(axes, keepdim=True))
    if nw:
        dw = _sum_to_param(g * xhat, pshape)
    if nb:
        db = _sum_to_param(g, pshape)
    return dx, dw, db


def _sum_to_param(t: Tensor, pshape) -> Tensor:
    """t summed down to the parameter shape pshape (a broadcast-compatible suffix layout is
    given as the view shape used in the forward, then reshaped to pshape)."""
    vshape, real = pshape
    tshape = t.shape
    dims = tuple(i for i, s in enumerate(vshape) if s == 1 and tshape[i] != 1)
    r = t.sum(dims, keepdim=True) if dims else t
    return r.reshape(real)


# --- batch_norm ----------------------------------------------------------------------------------
class NativeBatchNormBackward0(Node):
    __slots__ = ("training", "eps", "axes", "vshape")

    def vjp(self, g):
        x, w, rm, rv = self.saved_tensors()
        c = x._data.shape[1]
        pshape = (self.vshape, (c,))
        wv = None if w is None else w.view(self.vshape)
        if self.training:
            return _normalized_grads(self, g, x, wv, self.axes, pshape, self.eps)
        nx, nw, nb = (e[0] is not None for e in self._next)
        invstd = (rv.view(self.vshape) + self.eps).rsqrt()
        dx = dw = db = None
        if nx:
            dx = g * invstd if wv is None else g * (wv * invstd)
        if nw:
            dw = _sum_to_param(g * ((x - rm.view(self.vshape)) * invstd), pshape)
        if nb:
            db = _sum_to_param(g, pshape)
        return dx, dw, db


def _check_features(name: str, c: int, t) -> None:
    if t is not None and t._data.size != c:
        raise RuntimeError(f"{name} should contain {c} elements not {t._data.size}")


def batch_norm_aten(input: Tensor, weight, bias, running_mean, running_var,  # noqa: A002
                    training: bool, momentum: float, eps: float, cudnn_enabled: bool = True
                    ) -> Tensor:
    """ATen's batch_norm (torch.batch_norm): normalize over every dim but dim 1."""
    if momentum is None:
        raise TypeError("batch_norm(): argument 'momentum' (position 7) must be float, not "
                        "NoneType")
    if input.dim() < 2:
        raise IndexError("Dimension out of range (expected to be in range of [-1, 0], but got 1)")
    c = input._data.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None:
            _check_features(name, c, t)
        elif not training:
            raise RuntimeError(f"{name} must be defined in evaluation mode")
    _check_features("weight", c, weight)
    _check_features("bias", c, bias)
    if input._dtype.category != D.FLOAT:
        raise NotImplementedError(f'"batch_norm" not implemented for \'{input._dtype._short}\'')
    _check_params(input, weight, bias, running_mean, running_var)
    x = input._data
    axes = (0,) + tuple(range(2, x.ndim))
    vshape = (1, c) + (1,) * (x.ndim - 2)
    if training:
        mean, var, invstd = _stats(x, axes, eps)
        m = x.size // max(c, 1)
        if running_mean is not None and x.size:
            _update(running_mean, mean.reshape(c), momentum)
        if running_var is not None and x.size:
            unbiased = var.reshape(c) * (m / (m - 1)) if m > 1 else var.reshape(c) * np.inf
            _update(running_var, unbiased, momentum)
    else:
        mean = running_mean._data.reshape(vshape)
        invstd = 1.0 / np.sqrt(running_var._data.reshape(vshape) + eps)
    out = _affine((x - mean) * invstd, weight, bias, vshape)
    node = new_node(NativeBatchNormBackward0, (input, weight, bias))
    if node is not None:
        node.training, node.eps, node.axes, node.vshape = training, eps, axes, vshape
        if training:
            save(node, input, weight, None, None)
        else:
            save(node, input, weight, running_mean, running_var)
    return wrap(out.astype(x.dtype, copy=False), node)


def _affine(xhat: np.ndarray, weight, bias, vshape) -> np.ndarray:
    if weight is not None:
        xhat = xhat * weight._data.reshape(vshape)
    if bias is not None:
        xhat = xhat + bias._data.reshape(vshape)
    return xhat


def _update(running: Tensor, stat: np.ndarray, momentum: float) -> None:
    """running = (1 - momentum) running + momentum stat, in place (no version bump: PyTorch's
    kernel writes the buffers directly)."""
    r = running._data
    r[...] = ((1 - momentum) * r + momentum * stat.reshape(r.shape)).astype(r.dtype, copy=False)


def _verify_batch_size(size, shown) -> None:
    prod = size[0]
    for s in size[2:]:
        prod *= s
    if prod == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{shown}")


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each channel (dim 1) over the batch and spatial dims, then scale and shift;
    in training, batch statistics are used and the running ones updated in place; otherwise
    the running statistics are used (NativeBatchNormBackward0).

    >>> import tapegrad
    >>> x = tapegrad.tensor([[1.], [3.]])
    >>> tapegrad.nn.functional.batch_norm(x, None, None, training=True)
    tensor([[-1.0000],
            [ 1.0000]])
    """
    if training:
        _verify_batch_size(input.size(), input.size())
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    return batch_norm_aten(input, weight, bias, running_mean, running_var, training, momentum,
                           eps)


def instance_norm(input: Tensor, running_mean: Tensor | None = None,  # noqa: A002
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize each channel of each sample over its spatial dims: batch_norm of the input
    viewed as one sample of N * C channels, as PyTorch computes it.

    >>> import tapegrad
    >>> tapegrad.nn.functional.instance_norm(tapegrad.tensor([[[1., 3.]]]))
    tensor([[[-1.0000,  1.0000]]])
    """
    if use_input_stats:
        size = input.size()
        prod = 1
        for s in size[2:]:
            prod *= s
        if prod == 1:
            raise ValueError("Expected more than 1 spatial element when training, got input "
                             f"size {size}")
    return instance_norm_aten(input, weight, bias, running_mean, running_var, use_input_stats,
                              momentum, eps)


def instance_norm_aten(input, weight, bias, running_mean, running_var,  # noqa: A002
                       use_input_stats, momentum, eps, cudnn_enabled=True) -> Tensor:
    """ATen's instance_norm (torch.instance_norm)."""
    if not (use_input_stats or (running_mean is not None and running_var is not None)):
        raise RuntimeError("Expected running_mean and running_var to be defined when "
                           "use_input_stats is false")
    shape = input._data.shape
    b, c = shape[0], shape[1]

    def rep(t):
        return None if t is None else t.expand(b, c).reshape(b * c)

    rm = None if running_mean is None else _make(np.tile(running_mean._data, b))
    rv = None if running_var is None else _make(np.tile(running_var._data, b))
    x = input.contiguous().view(1, b * c, *shape[2:])
    out = batch_norm_aten(x, rep(weight), rep(bias), rm, rv, use_input_stats, momentum, eps)
    for run, new in ((running_mean, rm), (running_var, rv)):
        if run is not None:
            run._data[...] = new._data.reshape(b, c).mean(0).astype(run._data.dtype)
            run._bump_version()
    return out.view(shape)


# --- layer_norm, group_norm --------------------------------------------------------------------
class NativeLayerNormBackward0(Node):
    __slots__ = ("eps", "axes")

    def vjp(self, g):
        x, w = self.saved_tensors()
        nshape = x._data.shape[x.dim() - len(self.axes):]
        pshape = ((1,) * (x.dim() - len(nshape)) + nshape, nshape)
        return _normalized_grads(self, g, x, w, self.axes, pshape, self.eps)


def _normalized_shape(normalized_shape, fn: str) -> tuple:
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        raise TypeError(f"{fn}(): argument 'normalized_shape' (position 2) must be tuple of "
                        f"ints, not int")
    return tuple(int(s) for s in normalized_shape)


def _check_norm_inputs(input, ns, weight, bias, rms: bool = False) -> None:  # noqa: A002
    if len(ns) < 1:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., "
                           "containing at least one element, but got normalized_shape = "
                           f"{_shape_str(ns)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t._data.shape != ns:
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but got "
                               f"{name} of shape {_shape_str(t._data.shape)} and normalized_shape"
                               f" = {_shape_str(ns)}")
    shape = input._data.shape
    if len(shape) < len(ns) or shape[len(shape) - len(ns):] != ns:
        inner = ", ".join(str(s) for s in ns) if rms else "".join(f", {s}" for s in ns)
        raise RuntimeError(f"Given normalized_shape={_shape_str(ns)}, expected input with shape "
                           f"[*{inner}], but got input of size{_shape_str(shape)}")


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5,
               cudnn_enable: bool = True) -> Tensor:
    """Normalize over the last len(normalized_shape) dims, then scale and shift
    (NativeLayerNormBackward0).

    >>> import tapegrad
    >>> tapegrad.nn.functional.layer_norm(tapegrad.tensor([[1., 3.]]), (2,))
    tensor([[-1.0000,  1.0000]])
    """
    ns = _normalized_shape(normalized_shape, "layer_norm")
    _check_params(input, weight, bias)
    _check_norm_inputs(input, ns, weight, bias)
    if input._dtype.category != D.FLOAT:
        raise NotImplementedError(f'"LayerNormKernelImpl" not implemented for '
                                  f"'{input._dtype._short}'")
    x = input._data
    axes = tuple(range(x.ndim - len(ns), x.ndim))
    mean, _, invstd = _stats(x, axes, eps)
    out = (x - mean) * invstd
    if weight is not None:
        out = out * weight._data
    if bias is not None:
        out = out + bias._data
    node = new_node(NativeLayerNormBackward0, (input, weight, bias))
    if node is not None:
        node.eps, node.axes = eps, axes
        save(node, input, weight)
    return wrap(out.astype(x.dtype, copy=False), node)


class NativeGroupNormBackward0(Node):
    __slots__ = ("eps", "groups")

    def vjp(self, g):
        x, w = self.saved_tensors()
        shape = x._data.shape
        n, c = shape[0], shape[1]
        vshape = (1, c) + (1,) * (len(shape) - 2)
        nx, nw, nb = (e[0] is not None for e in self._next)
        xr = x.reshape(n, self.groups, -1)
        mean = xr.mean(2, keepdim=True)
        xc = xr - mean
        invstd = ((xc * xc).mean(2, keepdim=True) + self.eps).rsqrt()
        xhat = (xc * invstd).reshape(shape)
        dx = dw = db = None
        if nx:
            h = (g if w is None else g * w.view(vshape)).reshape(n, self.groups, -1)
            xh = xhat.reshape(n, self.groups, -1)
            dx = (invstd * (h - h.mean(2, keepdim=True)
                            - xh * (h * xh).mean(2, keepdim=True))).reshape(shape)
        if nw:
            dw = _sum_to_param(g * xhat, (vshape, (c,)))
        if nb:
            db = _sum_to_param(g, (vshape, (c,)))
        return dx, dw, db


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5,
               cudnn_enabled: bool = True) -> Tensor:
    """Normalize each group of channels of each sample, then scale and shift per channel
    (NativeGroupNormBackward0).

    >>> import tapegrad
    >>> tapegrad.nn.functional.group_norm(tapegrad.tensor([[1., 3.]]), 1)
    tensor([[-1.0000,  1.0000]])
    """
    if input.dim() < 2:
        raise RuntimeError("Expected at least 2 dimensions for input tensor but received "
                           f"{input.dim()}")
    shape = input._data.shape
    size = [shape[0] * shape[1] // num_groups, num_groups] + list(shape[2:])
    _verify_batch_size(size, _shape_str(size))
    n, c = shape[0], shape[1]
    if c % num_groups:
        raise RuntimeError("Expected number of channels in input to be divisible by num_groups, "
                           f"but got input of shape {_shape_str(shape)} and num_groups="
                           f"{num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.dim() != 1 or t._data.size != c):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in "
                f"input, but got {name} of shape {_shape_str(t._data.shape)} and input of shape "
                f"{_shape_str(shape)}")
    if input._dtype.category != D.FLOAT:
        raise NotImplementedError(f'"GroupNormKernelImpl" not implemented for '
                                  f"'{input._dtype._short}'")
    _check_params(input, weight, bias)
    xr = input._data.reshape(n, num_groups, -1)
    mean, _, invstd = _stats(xr, (2,), eps)
    vshape = (1, c) + (1,) * (len(shape) - 2)
    out = _affine(((xr - mean) * invstd).reshape(shape), weight, bias, vshape)
    node = new_node(NativeGroupNormBackward0, (input, weight, bias))
    if node is not None:
        node.eps, node.groups = eps, num_groups
        save(node, input, weight)
    return wrap(out.astype(input._data.dtype, copy=False), node)


# --- composites ----------------------------------------------------------------------------------
_rms_mismatch_warned = False


def _warn_rms_mismatch(dt, wdt) -> None:
    """PyTorch's warning (once per process, whatever the dtypes) for a real input whose weight
    has another dtype."""
    global _rms_mismatch_warned
    if _rms_mismatch_warned:
        return
    _rms_mismatch_warned = True
    warnings.warn(f"Mismatch dtype between input and weight: input dtype = {dt._cname}, weight "
                  f"dtype = {wdt._cname}, Cannot dispatch to fused implementation.", UserWarning,
                  stacklevel=3)


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,  # noqa: A002
             eps: float | None = None) -> Tensor:
    """input / sqrt(mean(input^2) + eps) over the last len(normalized_shape) dims, times
    weight; eps defaults to the dtype's machine epsilon (PyTorch's composite).

    >>> import tapegrad
    >>> tapegrad.nn.functional.rms_norm(tapegrad.tensor([[3., 4.]]), (2,), eps=0.0)
    tensor([[0.8485, 1.1314]])
    """
    ns = _normalized_shape(normalized_shape, "rms_norm")
    _check_norm_inputs(input, ns, weight, None, rms=True)
    dt = input._dtype
    complex_in = dt.category == D.COMPLEX
    if weight is not None and weight._dtype is not dt and not complex_in:
        _warn_rms_mismatch(dt, weight._dtype)
    if dt.category != D.FLOAT and not complex_in:
        raise NotImplementedError(f"\"rms_norm\" not implemented for '{dt._short}'")
    if eps is None:  # the machine epsilon of the (real) computation type
        eps = float(np.finfo(np.float64 if dt is D.float64 or dt is D.complex128
                             else np.float32).eps)
    dims = tuple(range(input.dim() - len(ns), input.dim()))
    # on complex values x^2 is the complex square (not |x|^2) and rsqrt the principal root, as
    # PyTorch's composite has it
    out = input * (input.pow(2).mean(dims, keepdim=True) + eps).rsqrt()
    if weight is None:
        return out
    out = out * weight
    # the result has input's dtype (a complex weight on a real input loses its imaginary part)
    return out if out._dtype is dt else out.to(dt)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4,  # noqa: A002
                        beta: float = 0.75, k: float = 1.0) -> Tensor:
    """input / (k + alpha * mean of input^2 over a window of `size` channels)^beta, the
    window zero-padded as PyTorch's (avg-pool based) composite.

    >>> import tapegrad
    >>> tapegrad.nn.functional.local_response_norm(tapegrad.ones(1, 2, 1), 2, 1.0, 1.0, 1.0)
    tensor([[[0.6667],
             [0.5000]]])
    """
    dim = input.dim()
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality                          input "
                         f"(got {dim} dimensions)")
    if input._data.size == 0:
        return input
    sq = input * input
    c = input._data.shape[1]
    pre, post = size // 2, (size - 1) // 2
    # the window sum as a sum of shifted copies of the input zero-padded along the channels
    parts = [sq.new_zeros(sq.shape[:1] + (n,) + sq.shape[2:]) for n in (pre, post)]
    padded = cat([parts[0], sq, parts[1]], 1) if size > 1 else sq
    total = padded.narrow(1, 0, c)
    for j in range(1, size):
        total = total + padded.narrow(1, j, c)
    div = (total / size * alpha + k).pow(beta)
    return input / div


"""More elementwise math: ldexp, mvlgamma, renorm, conj_physical, fmax/fmin, angle, and the
predicates isreal, is_nonzero and is_same_size.

Rules (in tapegrad ops, so they differentiate again):
  ldexp(x, e) = x 2^e            d/dx = 2^e, d/de = x 2^e log 2 (integer e: none)
  mvlgamma(x, p) = sum_{i<p} lgamma(x - i/2) + p(p-1)/4 log(pi)
                                 d/dx = sum_{i<p} digamma(x - i/2)
  renorm(x, p, dim, m): each slice along dim whose p-norm n exceeds m is scaled by
      f = m / (n + 1e-7);  d/dx = f g - f/(n + 1e-7) dn/dx^T <x, g>  there, g elsewhere
  fmax(x, y) = the larger, ignoring a nan: g goes to x where x >= y or y is nan (ties to x),
      to y elsewhere; fmin likewise with <=
  angle(z) = atan2(im z, re z): for complex z, d/dz = g i z / |z|^2 (0 at z == 0); for real
      x (0 or pi) the gradient is zero
"""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make, _tp_name, _wrap_dim
from ..autograd.graph import Node
from ._core import binary_operands, new_node, promote, save
from ._math_args import _check_shapes, _need_tensor, _not_implemented, _out, _result
from .binary import pow as _pow
from .binary import where
from .inplace import apply_inplace, check_inplace, inplace_of, renaming
from .special import _lgamma_np

__all__ = ["ldexp", "ldexp_", "mvlgamma", "renorm", "conj_physical", "conj_physical_", "fmax",
           "fmin", "angle", "isreal", "is_nonzero", "is_same_size"]

_FLOAT, _COMPLEX = D.FLOAT, D.COMPLEX
_LN2 = math.log(2.0)


def _tensor_arg(v, fn: str, name: str, pos: int) -> None:
    if not isinstance(v, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' (position {pos}) must be Tensor, not "
                        f"{_tp_name(v)}")


def _int_arg(v, fn: str, name: str, pos: int) -> int:
    if isinstance(v, (bool, float, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{fn}(): argument '{name}' (position {pos}) must be int, not "
                        f"{_tp_name(v)}")
    return int(v)


# --- ldexp ---------------------------------------------------------------------------------------
class LdexpBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        x, e = self.saved_tensors()
        scale = _pow(2.0, e)
        nx, ne = self._next
        gx = g * scale if nx[0] is not None else None
        ge = g * x * scale * _LN2 if ne[0] is not None else None
        return gx, ge


def ldexp(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """input * 2**other: exact scaling by a power of two for integer other.

    >>> import tapegrad
    >>> tapegrad.ldexp(tapegrad.tensor([1.0, 3.0]), tapegrad.tensor([2, -1]))
    tensor([4.0000, 1.5000])
    """
    _need_tensor("ldexp", input, other)
    _check_shapes(input, other)
    dt = promote(input, other)
    if dt.category < _FLOAT:
        dt = D._defaults.float
    x = input._data.astype(dt.np)
    ed = other._dtype
    with np.errstate(all="ignore"):
        if ed.category < _FLOAT:
            if ed is D.bool:
                _not_implemented("ldexp_cpu_exp", ed)
            # integer exponents: exact ldexp, the exponent as a C int (wrapping)
            e = other._data.astype(np.int64).astype(np.int32)
            if dt.category == _COMPLEX:  # a complex product by 2^e (0 * inf parts give nan)
                r = x * np.exp2(e.astype(x.real.dtype)).astype(dt.np)
            else:
                r = np.ldexp(x, e)
        else:
            r = x * np.exp2(other._data.astype(dt.np))
    return _out(_result(r, dt, LdexpBackward0, input, other, input, other), out)


def ldexp_(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """In-place ldexp: input = input * 2**other (input must be floating)."""
    if input._dtype.category < _FLOAT:
        raise RuntimeError(f"ldexp can't be cast to the desired output type {input._dtype._short}")
    return apply_inplace(input, ldexp, (other,))


# --- mvlgamma ------------------------------------------------------------------------------------
def _mvl_shifts(p: int, dt: np.dtype) -> np.ndarray:
    """-(p-1)/2, ..., -1/2, 0: the shifts of x inside the sum."""
    return (np.arange(p, dtype=np.float64) * 0.5 - (p - 1) * 0.5).astype(dt)


class MvlgammaBackward0(Node):
    __slots__ = ("p",)

    def vjp(self, g):
        (x,) = self.saved_tensors()
        shifts = _make(_mvl_shifts(self.p, x._data.dtype))
        return g * (x.unsqueeze(-1) + shifts).digamma().sum(-1)


def mvlgamma(input: Tensor, p: int, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The log of the multivariate gamma function of dimension p, elementwise.

    >>> import tapegrad
    >>> tapegrad.mvlgamma(tapegrad.tensor([2.5]), 2)
    tensor([0.8570])
    """
    _tensor_arg(input, "mvlgamma", "input", 1)
    p = _int_arg(p, "mvlgamma", "p", 2)
    if input._dtype is D.bool:
        raise RuntimeError("The input tensor may not be a boolean tensor.")
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    a = input._data
    if input._dtype.category < _FLOAT:
        a = a.astype(D._defaults.float.np)
    if a.dtype.kind == "c":
        _not_implemented("lgamma_vml_cpu", input._dtype)
    args = a[..., None] + _mvl_shifts(p, a.dtype)
    const = p * (p - 1) * 0.25 * math.log(math.pi)
    r = (_lgamma_np(args).sum(-1, dtype=a.dtype) + a.dtype.type(const)).astype(a.dtype)
    node = new_node(MvlgammaBackward0, (input,))
    if node is None:
        return _out(_make(np.asarray(r)), out)
    node.p = p
    save(node, input)
    return _out(_make(np.asarray(r), node, True), out)


def _mvlgamma_(self: Tensor, p: int) -> Tensor:
    """In-place mvlgamma (self must be floating)."""
    if self._dtype.category < _FLOAT:
        raise RuntimeError(f"mvlgamma: result type {self._dtype._short} can't be cast to the "
                           f"desired output type {D._defaults.float._short}")
    return apply_inplace(self, mvlgamma, (p,))


# --- renorm --------------------------------------------------------------------------------------
def _norm_vjp(gn: Tensor, x: Tensor, norm: Tensor, p: float, dims: tuple) -> Tensor:
    """The gradient of ||x||_p over dims (keepdim) for the cotangent gn: vector_norm's own
    rule, run on these tensors."""
    from .reduction_norm import LinalgVectorNormBackward0

    n = LinalgVectorNormBackward0()
    n.ord, n.dims, n.keepdim = p, dims, True
    n._in_meta = ((tuple(x.shape), x._dtype),)
    n._saved = (norm, x)  # plain tensors: they stay in the graph of this rule
    return n.vjp(gn)


def _renorm_geometry(x: Tensor, p, dim, maxnorm):
    a = x._data
    p = float(p)
    if not p > 0.0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    m = float(maxnorm)
    if not m >= 0.0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {m:g}")
    if a.ndim < 2:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {a.ndim} dimensions")
    d = _wrap_dim(dim, a.ndim)
    return p, m, tuple(i for i in range(a.ndim) if i != d)


class RenormBackward0(Node):
    __slots__ = ("p", "maxnorm", "dims")

    def vjp(self, g):
        from .reduction_norm import vector_norm

        (x,) = self.saved_tensors()
        p, m, dims = self.p, self.maxnorm, self.dims
        norm = vector_norm(x, p, dims, True)
        xg = x.conj() * g
        if xg._dtype.category == _COMPLEX:
            xg = xg.real
        nb = _norm_vjp(xg.sum(dims, keepdim=True), x, norm, p, dims)
        inv = (norm + 1e-7).reciprocal()
        factor = inv * m
        return where(norm > m, factor * g - factor * inv * nb, g)


def renorm(input: Tensor, p: float, dim: int, maxnorm: float, *,  # noqa: A002
           out: Tensor | None = None) -> Tensor:
    """Rescale each slice of input along dim whose p-norm exceeds maxnorm to norm maxnorm.

    >>> import tapegrad
    >>> tapegrad.renorm(tapegrad.tensor([[1.0, 2.0], [3.0, 4.0]]), 2, 0, 3)
    tensor([[1.0000, 2.0000],
            [1.8000, 2.4000]])
    """
    from .reduction_norm import _vector_norm_np

    _tensor_arg(input, "renorm", "input", 1)
    p, m, dims = _renorm_geometry(input, p, dim, maxnorm)
    if input._dtype.category < _FLOAT:
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {input._dtype._short}")
    a = input._data
    acc = np.float32 if a.dtype == np.float16 else a.real.dtype.type
    with np.errstate(all="ignore"):
        norm = np.asarray(_vector_norm_np(a.astype(np.result_type(a.dtype, acc)), p, dims,
                                          True)).astype(acc)
        if a.dtype == np.float16:  # the norm is rounded to half, the factor computed from it
            norm = norm.astype(np.float16).astype(np.float32)
        factor = np.where(norm > m, acc(m) / (norm + acc(1e-7)), acc(1)).astype(
            a.real.dtype)
        r = (a * factor).astype(a.dtype)
    node = new_node(RenormBackward0, (input,))
    if node is None:
        return _out(_make(r), out)
    node.p, node.maxnorm, node.dims = p, m, dims
    save(node, input)
    return _out(_make(r, node, True), out)


# --- conj_physical -------------------------------------------------------------------------------
class ConjPhysicalBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return conj_physical(g)


def conj_physical(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The complex conjugate, computed into new memory (a real tensor is returned as it is).

    >>> import tapegrad
    >>> tapegrad.conj_physical(tapegrad.tensor([1 + 2j]))
    tensor([1.-2.j])
    """
    _tensor_arg(input, "conj_physical", "input", 1)
    if input._dtype.category != _COMPLEX:
        return input if out is None else _out(input, out)
    node = new_node(ConjPhysicalBackward0, (input,))
    r = np.conj(input._data)
    return _out(_make(r, node, node is not None), out)


def conj_physical_(input: Tensor) -> Tensor:  # noqa: A002
    """In-place conjugation (nothing to do for a real tensor)."""
    if input._dtype.category != _COMPLEX:
        check_inplace(input)
        return input
    return _conj_physical_inplace(input)


_conj_physical_inplace = renaming(inplace_of(conj_physical, "conj_physical_"),
                                  "ConjPhysicalBackward1")


# --- fmax / fmin ---------------------------------------------------------------------------------
def _fminmax_node(name: str, ge: bool):
    def vjp(self, g):
        x, y = self.saved_tensors()
        to_x = ((x >= y) if ge else (x <= y)) | y.isnan()
        nx, ny = self._next
        gx = where(to_x, g, 0.0) if nx[0] is not None else None
        gy = where(to_x, 0.0, g) if ny[0] is not None else None
        return gx, gy

    return type(name, (Node,), {"__slots__": (), "vjp": vjp})


FmaxBackward0 = _fminmax_node("FmaxBackward0", True)
FminBackward0 = _fminmax_node("FminBackward0", False)


def _fminmax(name, np_fn, cls, input, other, out):
    _need_tensor(name, input, other)
    _check_shapes(input, other)
    xa, ya, dt = binary_operands(input, other)
    if dt.category == _COMPLEX:
        raise RuntimeError(f"{name} not implemented for complex tensors.")
    return _out(_result(np_fn(xa, ya), dt, cls, input, other, input, other), out)


def fmax(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The elementwise maximum, ignoring nan (nan only where both are nan).

    >>> import tapegrad
    >>> tapegrad.fmax(tapegrad.tensor([1.0, float('nan')]), tapegrad.tensor([0.0, 2.0]))
    tensor([1., 2.])
    """
    return _fminmax("fmax", np.fmax, FmaxBackward0, input, other, out)


def fmin(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The elementwise minimum, ignoring nan (nan only where both are nan).

    >>> import tapegrad
    >>> tapegrad.fmin(tapegrad.tensor([1.0, float('nan')]), tapegrad.tensor([0.0, 2.0]))
    tensor([0., 2.])
    """
    return _fminmax("fmin", np.fmin, FminBackward0, input, other, out)


# --- angle ---------------------------------------------------------------------------------------
class AngleBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        (z,) = self.saved_tensors()
        if z._dtype.category != _COMPLEX:
            return g.new_zeros(tuple(z.shape))
        return where(z == 0, 0.0, g * z / z.abs().pow(2) * 1j)


def angle(input: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The argument of each element: atan2(imag, real) for complex, pi for negative reals and
    0 otherwise (nan stays nan).

    >>> import tapegrad
    >>> tapegrad.angle(tapegrad.tensor([-1.0, 2.0]))
    tensor([3.1416, 0.0000])
    """
    _tensor_arg(input, "angle", "input", 1)
    a = input._data
    if a.dtype.kind == "c":
        r = np.angle(a)
    else:
        if input._dtype.category < _FLOAT:
            a = a.astype(D._defaults.float.np)
        r = np.where(np.isnan(a), a, np.where(a < 0, a.dtype.type(math.pi), a.dtype.type(0)))
    r = np.asarray(r)
    node = new_node(AngleBackward0, (input,))
    if node is None:
        return _out(_make(r), out)
    save(node, input)
    return _out(_make(r, node, True), out)


# --- predicates -----------------------------------------------------------------------------------
def isreal(input: Tensor) -> Tensor:  # noqa: A002
    """Whether each element is real (a zero imaginary part); True everywhere for real dtypes.

    >>> import tapegrad
    >>> tapegrad.isreal(tapegrad.tensor([1 + 1j, 2 + 0j]))
    tensor([False,  True])
    """
    _tensor_arg(input, "isreal", "input", 1)
    a = input._data
    r = a.imag == 0 if a.dtype.kind == "c" else np.ones(a.shape, dtype=np.bool_)
    return _make(np.asarray(r))


def is_nonzero(input: Tensor) -> bool:  # noqa: A002
    """Whether the one element of input is not zero.

    >>> import tapegrad
    >>> tapegrad.is_nonzero(tapegrad.tensor([0.5]))
    True
    """
    _tensor_arg(input, "is_nonzero", "input", 1)
    n = input._data.size
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(input._data.reshape(-1)[0] != 0)


def is_same_size(input: Tensor, other: Tensor) -> bool:  # noqa: A002
    """Whether the two tensors have the same shape.

    >>> import tapegrad
    >>> tapegrad.is_same_size(tapegrad.ones(2, 3), tapegrad.zeros(2, 3))
    True
    """
    _tensor_arg(input, "is_same_size", "input", 1)
    _tensor_arg(other, "is_same_size", "other", 2)
    return input._data.shape == other._data.shape


def _is_same_size_method(self: Tensor, other: Tensor) -> bool:
    """self.is_same_size(other)."""
    _tensor_arg(other, "is_same_size", "other", 1)
    return self._data.shape == other._data.shape


METHODS = {n: globals()[n] for n in __all__ if not n.endswith("_") and n != "is_same_size"}
METHODS.update({
    "is_same_size": _is_same_size_method, "ldexp_": ldexp_, "mvlgamma_": _mvlgamma_,
    "renorm_": inplace_of(renorm, "renorm_"), "conj_physical_": conj_physical_,
})

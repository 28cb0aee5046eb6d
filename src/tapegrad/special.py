"""tapegrad.special: PyTorch's torch.special namespace.

The functions tapegrad has elsewhere appear here under torch.special's names (expit is
sigmoid, gammaln is lgamma, psi is digamma, multigammaln is mvlgamma, ...); the ones only this
namespace has (i0e, i1, i1e, erfcx, ndtr, ndtri, log_ndtr, entr, xlog1py, zeta) are in
ops/special_more.py. The orthogonal polynomials, the Bessel functions of the first and second
kinds, airy_ai and the incomplete gamma functions are not built yet: they raise
NotImplementedError.

>>> import tapegrad
>>> tapegrad.special.expit(tapegrad.tensor([0.0]))
tensor([0.5000])
"""

from __future__ import annotations

from . import ops as _ops
from ._tensor import Tensor
from .ops import special_more as _sm

__all__ = [
    "digamma", "entr", "erf", "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1", "gammaln",
    "i0", "i0e", "i1", "i1e", "log1p", "log_ndtr", "log_softmax", "logit", "logsumexp",
    "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round", "sinc", "softmax", "xlog1py",
    "xlogy", "zeta",
]

digamma = psi = _ops.digamma
erf = _ops.erf
erfc = _ops.erfc
erfinv = _ops.erfinv
exp2 = _ops.exp2
expit = _ops.sigmoid
expm1 = _ops.expm1
gammaln = _ops.lgamma
i0 = _ops.i0
log1p = _ops.log1p
logit = _ops.logit
polygamma = _ops.polygamma
sinc = _ops.sinc
xlogy = _ops.xlogy

entr = _sm.special_entr
erfcx = _sm.special_erfcx
i0e = _sm.special_i0e
i1 = _sm.special_i1
i1e = _sm.special_i1e
log_ndtr = _sm.special_log_ndtr
ndtr = _sm.special_ndtr
ndtri = _sm.special_ndtri
xlog1py = _sm.special_xlog1py
zeta = _sm.special_zeta


def multigammaln(input: Tensor, p: int, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The log of the multivariate gamma function (mvlgamma).

    >>> import tapegrad
    >>> tapegrad.special.multigammaln(tapegrad.tensor([2.5]), 2)
    tensor([0.8570])
    """
    from .ops.math_more import _int_arg

    _int_arg(p, "special_multigammaln", "p", 2)
    return _ops.mvlgamma(input, p, out=out)


def round(input: Tensor, *, decimals: int = 0, out: Tensor | None = None) -> Tensor:  # noqa: A001,A002
    """Round to `decimals` decimal places (halves to even); floating tensors only.

    >>> import tapegrad
    >>> tapegrad.special.round(tapegrad.tensor([0.5, 1.25]), decimals=1)
    tensor([0.5000, 1.2000])
    """
    return _ops.round(input, decimals=decimals, out=out)


def softmax(input: Tensor, dim: int, dtype=None) -> Tensor:  # noqa: A002
    """exp(x) / sum(exp(x)) along dim (computed in dtype when given)."""
    return _ops.softmax(input, dim, dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:  # noqa: A002
    """log(softmax(x)) along dim, computed stably (in dtype when given)."""
    return _ops.log_softmax(input, dim, dtype)


def logsumexp(input: Tensor, dim, keepdim: bool = False, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """log(sum(exp(x))) over dim, computed stably."""
    return _ops.logsumexp(input, dim, keepdim, out=out)


def _not_built(name: str):
    def fn(*args, **kwargs):
        raise NotImplementedError(f"tapegrad.special.{name} is not yet supported")

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Not yet supported in tapegrad (PyTorch's torch.special.{name})."
    return fn


_NOT_BUILT = [
    "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "chebyshev_polynomial_t",
    "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w", "gammainc",
    "gammaincc", "hermite_polynomial_h", "hermite_polynomial_he", "laguerre_polynomial_l",
    "legendre_polynomial_p", "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0",
    "modified_bessel_k1", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
    "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w", "spherical_bessel_j0",
]
for _name in _NOT_BUILT:
    globals()[_name] = _not_built(_name)
del _name

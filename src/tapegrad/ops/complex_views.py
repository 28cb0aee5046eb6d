"""Complex numbers as pairs of reals: view_as_real, view_as_complex, the .real/.imag views,
complex, polar, and the conjugate-bit queries (is_conj, resolve_conj, is_neg, resolve_neg).

Gradients follow PyTorch's convention: for a real loss L of a complex z the gradient is
dL/d(Re z) + i dL/d(Im z). Under that convention a complex tensor and its view as real pairs
carry the same gradient, so the rules of the two views are each other:

  view_as_real(z) = [Re z, Im z] along a new last dim    vjp: g -> view_as_complex(g)
  view_as_complex(p) = p[..., 0] + i p[..., 1]            vjp: g -> view_as_real(g)
  z.real = view_as_real(z)[..., 0], z.imag = view_as_real(z)[..., 1]   (views, SelectBackward0)
  complex(a, b) = a + i b                                 vjp: g -> (Re g, Im g)
  polar(r, t) = r e^{it}: dL = Re(conj(g) dout), dout = e^{it} dr + i out dt, so
      grad r = Re(conj(g) e^{it}) (0 where r == 0, as PyTorch), grad t = Re(conj(g) i out)

conj() in tapegrad computes new memory (NumPy has no lazy conjugate view); its result is only
marked, so that is_conj / resolve_conj / view_as_real answer as PyTorch does for it.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import check_broadcast, new_node, save_out, wrap, wrap_view

__all__ = ["view_as_real", "view_as_complex", "complex", "polar", "is_conj", "resolve_conj",
           "is_neg", "resolve_neg"]

_REAL_OF = {np.dtype(np.complex64): np.dtype(np.float32),
            np.dtype(np.complex128): np.dtype(np.float64)}
_COMPLEX_OF = {np.dtype(np.float32): np.dtype(np.complex64),
               np.dtype(np.float64): np.dtype(np.complex128)}


def _is_conj_marked(t: Tensor) -> bool:
    ex = t._extra
    return ex is not None and ex.get("conj", False)


# --- view_as_real / view_as_complex ---------------------------------------------------------
class ViewAsRealBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return view_as_complex(g.contiguous())


class ViewAsComplexBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        return as_pairs(g)


def _pairs(a: np.ndarray) -> np.ndarray:
    """The complex array a viewed as real pairs along a new last axis (shares memory)."""
    return a[..., None].view(_REAL_OF[a.dtype])


def as_pairs(t: Tensor) -> Tensor:
    """view_as_real for rules and internal use: it ignores the conjugate mark (tapegrad's
    conjugates hold their values in memory, so their pairs are right)."""
    return wrap_view(_pairs(t._data), t, new_node(ViewAsRealBackward0, (t,)))


def view_as_real(input: Tensor) -> Tensor:  # noqa: A002
    """A real view of a complex tensor, with a last dimension of size 2 holding (real, imag).

    >>> import tapegrad
    >>> tapegrad.view_as_real(tapegrad.tensor([1 + 2j]))
    tensor([[1., 2.]])
    """
    if input._dtype.category != D.COMPLEX:
        raise RuntimeError("view_as_real is only supported for complex tensors")
    if _is_conj_marked(input):
        raise RuntimeError(
            "view_as_real doesn't work on unresolved conjugated tensors.  To resolve the "
            "conjugate tensor so you can view it as real, use self.resolve_conj(); however, be "
            "warned that the resulting tensor will NOT alias the original.")
    return wrap_view(_pairs(input._data), input, new_node(ViewAsRealBackward0, (input,)))


def view_as_complex(input: Tensor) -> Tensor:  # noqa: A002
    """A complex view of a real tensor whose last dimension (of size 2, stride 1) holds
    (real, imag) pairs.

    >>> import tapegrad
    >>> tapegrad.view_as_complex(tapegrad.tensor([[1., 2.]]))
    tensor([1.+2.j])
    """
    a = input._data
    if a.dtype not in _COMPLEX_OF:
        if a.dtype == np.float16:
            raise NotImplementedError("view_as_complex of float16 tensors (complex32) is not "
                                      "yet supported")
        raise RuntimeError("view_as_complex is only supported for half, float and double "
                           f"tensors, but got a tensor of scalar type: {input._dtype._short}")
    if not a.ndim or a.shape[-1] != 2:
        raise RuntimeError("Tensor must have a last dimension of size 2")
    st = input.stride()
    if st[-1] != 1:
        raise RuntimeError("Tensor must have a last dimension with stride 1")
    if any(s % 2 for s in st[:-1]):
        raise RuntimeError("Tensor must have a stride divisible by 2 for all but last dimension")
    if input.storage_offset() % 2:
        raise RuntimeError("Tensor must have a storage_offset divisible by 2")
    r = a.view(_COMPLEX_OF[a.dtype])[..., 0]
    return wrap_view(r, input, new_node(ViewAsComplexBackward0, (input,)))


# --- .real / .imag ----------------------------------------------------------------------------
def real_part(input: Tensor, k: int) -> Tensor:  # noqa: A002
    """view_as_real(input)[..., k] (k = 0: the real part, 1: the imaginary part), as PyTorch
    builds z.real and z.imag: a view whose grad_fn is SelectBackward0."""
    from .indexing import select

    # (a conjugate's values are in memory here, so its pairs are read as they are)
    return select(as_pairs(input), -1, k)


# --- complex / polar ------------------------------------------------------------------------
class ComplexBackward0(Node):
    __slots__ = ()

    def vjp(self, g):
        nr, ni = self._next
        return (g.real if nr[0] is not None else None,
                g.imag if ni[0] is not None else None)


class PolarBackward0(Node):
    __slots__ = ()
    _saved_names = ("result",)

    def vjp(self, g):
        out, r, t = self.saved_tensors()
        nr, nt = self._next
        gc = g.conj()
        gr = gt = None
        if nr[0] is not None:
            unit = complex(t.cos(), t.sin())
            gr = (gc * unit).real.masked_fill(r == 0, 0)
        if nt[0] is not None:
            gt = (gc * out * 1j).real
        return gr, gt


def _pair_args(name: str, a: Tensor, b: Tensor) -> None:
    for v in (a, b):
        if not isinstance(v, Tensor):
            from .._tensor import _tp_name

            pos, arg = (1, "real") if v is a else (2, "imag")
            if name == "polar":
                arg = "abs" if v is a else "angle"
            raise TypeError(f"{name}(): argument '{arg}' (position {pos}) must be Tensor, not "
                            f"{_tp_name(v)}")
    ok = (np.float16, np.float32, np.float64)
    if a._data.dtype.type not in ok or b._data.dtype.type not in ok:
        raise RuntimeError("Expected both inputs to be Half, Float or Double tensors but got "
                           f"{a._dtype._short} and {b._dtype._short}")
    if a._dtype is not b._dtype:
        raise RuntimeError(f"Expected object of scalar type {a._dtype._short} but got scalar "
                           f"type {b._dtype._short} for second argument")
    if a._data.dtype == np.float16:
        raise NotImplementedError(f"{name} of float16 tensors (complex32) is not yet supported")
    check_broadcast(a, b)


def complex(real: Tensor, imag: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A001
    """real + i imag, elementwise with broadcasting (float -> complex64, double -> complex128).

    >>> import tapegrad
    >>> tapegrad.complex(tapegrad.tensor([1.]), tapegrad.tensor([2.]))
    tensor([1.+2.j])
    """
    _pair_args("complex", real, imag)
    ra, ia = np.broadcast_arrays(real._data, imag._data)
    r = np.empty(ra.shape, _COMPLEX_OF[ra.dtype])
    r.real = ra
    r.imag = ia
    res = wrap(r, new_node(ComplexBackward0, (real, imag)))
    return _maybe_out(res, out)


def polar(abs: Tensor, angle: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """abs * (cos(angle) + i sin(angle)), elementwise with broadcasting.

    >>> import tapegrad
    >>> tapegrad.polar(tapegrad.tensor([2.]), tapegrad.tensor([0.]))
    tensor([2.+0.j])
    """
    _pair_args("polar", abs, angle)
    ra, ta = np.broadcast_arrays(abs._data, angle._data)
    r = np.empty(ra.shape, _COMPLEX_OF[ra.dtype])
    r.real = ra * np.cos(ta)
    r.imag = ra * np.sin(ta)
    node = new_node(PolarBackward0, (abs, angle))
    res = wrap(r, node)
    if node is not None:
        save_out(node, res, abs, angle)
    return _maybe_out(res, out)


def _maybe_out(res: Tensor, out):
    if out is None:
        return res
    from .inplace import copy_out

    return copy_out(out, res)


# --- the conjugate and negative bits ---------------------------------------------------------
def is_conj(input: Tensor) -> bool:  # noqa: A002
    """Whether input is the (unresolved) result of conj() of a complex tensor.

    >>> import tapegrad
    >>> tapegrad.tensor([1j]).conj().is_conj()
    True
    """
    return _is_conj_marked(input)


def resolve_conj(input: Tensor) -> Tensor:  # noqa: A002
    """input itself, or for the result of conj() a copy without the conjugate bit
    (CloneBackward0, as PyTorch).

    >>> import tapegrad
    >>> tapegrad.tensor([1j]).conj().resolve_conj().is_conj()
    False
    """
    if not _is_conj_marked(input):
        return input
    from .convert import clone

    return clone(input)


def is_neg(input: Tensor) -> bool:  # noqa: A002
    """Whether input has PyTorch's negative bit: never in tapegrad (negation is computed)."""
    return False


def resolve_neg(input: Tensor) -> Tensor:  # noqa: A002
    """input itself (tapegrad has no lazy negative views)."""
    return input


def mark_conj(t: Tensor) -> Tensor:
    """Mark t as the result of conj() (see is_conj)."""
    t._extra = {**(t._extra or {}), "conj": True}
    return t


METHODS = {"is_conj": is_conj, "resolve_conj": resolve_conj, "is_neg": is_neg,
           "resolve_neg": resolve_neg}

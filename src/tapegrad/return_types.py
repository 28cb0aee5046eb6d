"""tapegrad.return_types: the named tuples some ops return, as torch.return_types.

Each type is a tuple subclass with named fields, printed as PyTorch prints its structseqs:

>>> import tapegrad
>>> tapegrad.max(tapegrad.tensor([[1., 3.], [4., 2.]]), 1)
tapegrad.return_types.max(
values=tensor([3., 4.]),
indices=tensor([1, 0]))
"""

from __future__ import annotations

from operator import itemgetter

__all__ = ["max", "min", "sort", "topk", "kthvalue", "mode", "median", "nanmedian", "cummax",
           "cummin", "aminmax", "make", "slogdet", "linalg_slogdet", "linalg_inv_ex",
           "linalg_solve_ex", "linalg_cholesky_ex", "qr", "linalg_qr", "linalg_eigh", "svd",
           "linalg_svd", "linalg_lstsq", "linalg_lu_factor", "linalg_lu_factor_ex", "linalg_lu",
           "lu_unpack", "triangular_solve", "linalg_eig", "geqrf", "linalg_ldl_factor",
           "linalg_ldl_factor_ex"]


def _repr(self) -> str:
    body = ",\n".join(f"{f}={v!r}" for f, v in zip(self._names, self))
    return f"tapegrad.return_types.{type(self).__name__}(\n{body})"


def _new(cls, sequence=()):
    seq = tuple(sequence)
    if len(seq) != cls.n_fields:
        raise TypeError(
            f"tapegrad.return_types.{cls.__name__}() takes a {cls.n_fields}-sequence "
            f"({len(seq)}-sequence given)"
        )
    return tuple.__new__(cls, seq)


def _reduce(self):
    return (type(self), (tuple(self),))


def make(name: str, fields: tuple) -> type:
    """A structseq-like tuple type `tapegrad.return_types.<name>` with these field names."""
    ns = {
        "__slots__": (),
        "__module__": __name__,
        "__qualname__": name,
        "_names": tuple(fields),
        "__match_args__": tuple(fields),
        "n_fields": len(fields),
        "n_sequence_fields": len(fields),
        "n_unnamed_fields": 0,
        "__new__": _new,
        "__repr__": _repr,
        "__str__": _repr,
        "__reduce__": _reduce,
    }
    for i, f in enumerate(fields):
        ns[f] = property(itemgetter(i))
    return type(name, (tuple,), ns)


_VI = ("values", "indices")
max = make("max", _VI)  # noqa: A001
min = make("min", _VI)  # noqa: A001
sort = make("sort", _VI)
topk = make("topk", _VI)
kthvalue = make("kthvalue", _VI)
mode = make("mode", _VI)
median = make("median", _VI)
nanmedian = make("nanmedian", _VI)
cummax = make("cummax", _VI)
cummin = make("cummin", _VI)
aminmax = make("aminmax", ("min", "max"))
# linear algebra (tapegrad.linalg)
slogdet = make("slogdet", ("sign", "logabsdet"))
linalg_slogdet = make("linalg_slogdet", ("sign", "logabsdet"))
linalg_inv_ex = make("linalg_inv_ex", ("inverse", "info"))
linalg_solve_ex = make("linalg_solve_ex", ("result", "info"))
linalg_cholesky_ex = make("linalg_cholesky_ex", ("L", "info"))
qr = make("qr", ("Q", "R"))
linalg_qr = make("linalg_qr", ("Q", "R"))
linalg_eigh = make("linalg_eigh", ("eigenvalues", "eigenvectors"))
svd = make("svd", ("U", "S", "V"))
linalg_svd = make("linalg_svd", ("U", "S", "Vh"))
linalg_lstsq = make("linalg_lstsq", ("solution", "residuals", "rank", "singular_values"))
# LU, eig, Householder and LDL families (ops/linalg_lu.py, linalg_eig.py, linalg_gaps.py)
linalg_lu_factor = make("linalg_lu_factor", ("LU", "pivots"))
linalg_lu_factor_ex = make("linalg_lu_factor_ex", ("LU", "pivots", "info"))
linalg_lu = make("linalg_lu", ("P", "L", "U"))
lu_unpack = make("lu_unpack", ("P", "L", "U"))
_lu_with_info = make("_lu_with_info", ("LU", "pivots", "info"))
triangular_solve = make("triangular_solve", ("solution", "cloned_coefficient"))
linalg_eig = make("linalg_eig", ("eigenvalues", "eigenvectors"))
geqrf = make("geqrf", ("a", "tau"))
linalg_ldl_factor = make("linalg_ldl_factor", ("LD", "pivots"))
linalg_ldl_factor_ex = make("linalg_ldl_factor_ex", ("LD", "pivots", "info"))

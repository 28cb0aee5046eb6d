"""Shared test utilities: building op inputs for both libraries, comparing results,
central-difference (numeric) gradients, and running one program with tapegrad and torch.

Nothing here imports torch at import time: callers pass the module (`tapegrad` or `torch`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "SampleInputs", "dtype_name", "flatten", "is_tensor", "to_numpy", "seed_of",
    "assert_same_values", "numeric_vjp", "same", "both", "error", "leaf",
]

def seed_of(*parts) -> int:
    """A stable seed (the same in every process, unlike hash()) for these parts."""
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def dtype_name(d) -> str:
    """'float32' for tapegrad.float32, torch.float32, np.float32 or 'float32'."""
    if isinstance(d, str):
        return d
    if isinstance(d, np.dtype) or (isinstance(d, type) and issubclass(d, np.generic)):
        return np.dtype(d).name
    return str(d).rsplit(".", 1)[-1]


def is_tensor(x) -> bool:
    """Whether x is a tapegrad or a torch tensor (by duck type: both have grad_fn and dtype)."""
    return hasattr(x, "grad_fn") and hasattr(x, "dtype") and hasattr(x, "requires_grad")


def to_numpy(t) -> np.ndarray:
    """The values of a tapegrad or torch tensor as a NumPy array (a copy, never requiring grad).

    force=True: torch's double backward can return its internal ZeroTensor, which plain
    .numpy() refuses."""
    return np.array(t.detach().numpy(force=True), copy=True)


def flatten(out) -> list:
    """The leaves of an op's result: tensors and plain values, tuples and lists expanded."""
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res.extend(flatten(o))
        return res
    return [out]


# --- building the inputs of a sample -----------------------------------------------------
class SampleInputs:
    """The arrays of one Sample, converted to a test dtype, and a way to rebuild the call.

    Float arrays (anywhere in args, nested tuples/lists included, or in kwargs; NumPy scalars
    count as 0-d arrays) become the test dtype; other arrays keep their dtype. `arrays` lists
    them in a fixed order; `grad_pos` are the positions in `arrays` that require grad: those
    inside `sample.grad` (ints index args, strings name kwargs), or every float array when
    `sample.grad` is None. Only floating or complex arrays ever require grad.
    """

    def __init__(self, sample, dtype: str) -> None:
        self.sample = sample
        self.dtype = dtype
        self.arrays: list[np.ndarray] = []
        self.grad_pos: list[int] = []
        wanted = sample.grad
        self._args = tuple(
            self._scan(a, wanted is None or k in wanted) for k, a in enumerate(sample.args)
        )
        self._kwargs = {
            key: self._scan(v, wanted is None or key in wanted)
            for key, v in sample.kwargs.items()
        }

    def _scan(self, v, want_grad: bool):
        if isinstance(v, (np.number, np.bool_)):
            v = np.asarray(v)  # a NumPy scalar (what 0-d array arithmetic gives) is a 0-d array
        if isinstance(v, np.ndarray):
            a = v.astype(self.dtype) if v.dtype.kind == "f" else v.copy()
            pos = len(self.arrays)
            self.arrays.append(np.array(a, order="C"))  # (ascontiguousarray makes 0-d 1-d)
            if want_grad and a.dtype.kind in "fc":
                self.grad_pos.append(pos)
            return _Slot(pos)
        if isinstance(v, (tuple, list)) and not hasattr(v, "_fields"):
            items = [self._scan(x, want_grad) for x in v]
            return items if isinstance(v, list) else tuple(items)
        return v

    def build(self, m, requires_grad: bool = True, arrays: Sequence[np.ndarray] | None = None):
        """(args, kwargs, grad_leaves) for module m; arrays replace self.arrays when given.

        grad_leaves are the tensors at grad_pos (in that order), requiring grad when
        requires_grad is set.
        """
        arrays = self.arrays if arrays is None else arrays
        tensors = []
        grad_set = set(self.grad_pos) if requires_grad else ()
        for i, a in enumerate(arrays):
            dt = getattr(m, a.dtype.name)
            tensors.append(m.tensor(a, dtype=dt, requires_grad=i in grad_set))
        args = tuple(_fill(a, tensors) for a in self._args)
        kwargs = {k: _fill(v, tensors) for k, v in self._kwargs.items()}
        return args, kwargs, [tensors[i] for i in self.grad_pos]


class _Slot:
    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos


def _fill(v, tensors):
    if type(v) is _Slot:
        return tensors[v.pos]
    if isinstance(v, list):
        return [_fill(x, tensors) for x in v]
    if type(v) is tuple:
        return tuple(_fill(x, tensors) for x in v)
    return v


# --- comparisons -------------------------------------------------------------------------
def assert_same_values(actual, expected, atol: float, rtol: float, what: str) -> None:
    """Compare arrays: shape exactly, then values with tolerances (NaNs must match)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if expected.dtype.kind in "fc" or actual.dtype.kind in "fc":
        np.testing.assert_allclose(
            actual.astype(np.result_type(actual.dtype, np.float64)),
            expected.astype(np.result_type(expected.dtype, np.float64)),
            atol=atol, rtol=rtol, equal_nan=True, err_msg=what,
        )
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=what)


# --- numeric differentiation -------------------------------------------------------------
def numeric_vjp(
    fn: Callable[[list], list],
    arrays: Sequence[np.ndarray],
    positions: Sequence[int],
    cotangents: Sequence[np.ndarray],
    eps: float,
) -> list[np.ndarray]:
    """Central differences of v^T f(arrays) with respect to arrays[p] for p in positions.

    fn gets the list of arrays (one element perturbed by +-eps) and returns its outputs as a
    list of arrays, one per cotangent in `cotangents`. The result is the vector-Jacobian
    product v^T J, one pair of evaluations per input element (2 * numel calls). Output entries
    that do not move (equal at +eps and -eps, infinities included) contribute exactly zero.
    """
    work = [np.array(a, dtype=a.dtype, copy=True) for a in arrays]
    vs = [np.asarray(v, dtype=np.float64) for v in cotangents]
    grads = []
    for p in positions:
        a = work[p]
        flat = a.reshape(-1)  # a view: writes reach work[p]
        g = np.zeros(a.shape, dtype=np.float64)
        gflat = g.reshape(-1)
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            fp = fn(work)
            flat[i] = orig - eps
            fm = fn(work)
            flat[i] = orig
            total = 0.0
            for a_p, a_m, v in zip(fp, fm, vs):
                a_p = np.asarray(a_p, dtype=np.float64)
                a_m = np.asarray(a_m, dtype=np.float64)
                with np.errstate(invalid="ignore"):
                    d = np.where(a_p == a_m, 0.0, a_p - a_m)
                total += float(np.sum(d * v))
            gflat[i] = total / (2.0 * eps)
        grads.append(g)
    return grads


# --- running a small program with both libraries ------------------------------------------------
def same(a, b, where: str = "result", atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Compare a tapegrad result a with torch's b: tensors (values, shape, dtype,
    requires_grad), nested tuples/lists/dicts, None, numbers, and strings (torch. -> tapegrad.)."""
    if is_tensor(b):
        assert is_tensor(a), f"{where}: {a!r} is not a tensor"
        assert tuple(a.shape) == tuple(b.shape), f"{where}: shape {tuple(a.shape)}"
        assert dtype_name(a.dtype) == dtype_name(b.dtype), f"{where}: dtype {a.dtype}"
        assert a.requires_grad == b.requires_grad, f"{where}: requires_grad {a.requires_grad}"
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=atol, rtol=rtol,
                                   err_msg=where)
    elif isinstance(b, (tuple, list)):
        assert isinstance(a, (tuple, list)) and len(a) == len(b), f"{where}: {a!r} vs {b!r}"
        for k, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{k}]", atol, rtol)
    elif isinstance(b, dict):
        assert isinstance(a, dict) and list(a) == list(b), f"{where}: keys {list(a)}"
        for k in b:
            same(a[k], b[k], f"{where}[{k!r}]", atol, rtol)
    elif isinstance(b, str):
        assert a == b.replace("torch.", "tapegrad."), f"{where}:\n{a}\n!=\n{b}"
    elif isinstance(b, float):
        assert abs(a - b) <= atol + rtol * abs(b), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def both(prog, **tol):
    """Run prog(m) with m = tapegrad and m = torch, check the results agree (see `same`), and
    return tapegrad's. Skips the calling test when torch is not installed."""
    import pytest

    torch = pytest.importorskip("torch")
    import tapegrad

    ours = prog(tapegrad)
    theirs = prog(torch)
    same(ours, theirs, **tol)
    return ours


def error(fn) -> tuple:
    """(exception type name, message) of fn(), or ('no error', repr(result))."""
    try:
        res = fn()
    except Exception as e:  # noqa: BLE001 - the type is part of the result
        return type(e).__name__, str(e)
    return "no error", repr(res)


def leaf(m, values, dtype: str = "float32"):
    """A leaf tensor of module m requiring grad."""
    return m.tensor(values, dtype=getattr(m, dtype), requires_grad=True)


def same_error(fn) -> None:
    """fn(m) raises in tapegrad exactly what it raises in torch ('tapegrad.' for 'torch.')."""
    import torch

    import tapegrad

    ours = error(lambda: fn(tapegrad))
    theirs = error(lambda: fn(torch))
    assert ours[0] != "no error", f"tapegrad raised nothing (torch: {theirs})"
    assert ours == (theirs[0], theirs[1].replace("torch.", "tapegrad.")), (ours, theirs)


def warnings_of(fn) -> list[str]:
    """The messages of the warnings fn() raises (every one, even repeats)."""
    import warnings

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return [str(x.message) for x in w]

"""The Jacobians gradcheck compares: numerical (central differences) and analytical
(autograd's vector-Jacobian products), laid out (input elements, output elements) as PyTorch
lays them out, and tapegrad's report of the entries where they differ."""

from __future__ import annotations

import numpy as np

_MAX_REPORTED = 20  # mismatching Jacobian entries listed in tapegrad's report


# --- small helpers ------------------------------------------------------------------------------
def tensor_cls():
    from .._tensor import Tensor

    return Tensor


def wrap(arr: np.ndarray):
    """An ndarray as a constant tapegrad tensor (for printing and tapegrad arithmetic)."""
    from .._tensor import _make

    return _make(np.asarray(arr))


def as_tuple(x) -> tuple:
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def is_float_or_complex(t) -> bool:
    return isinstance(t, tensor_cls()) and (t._dtype.is_floating_point or t._dtype.is_complex)


def diff_inputs(inputs) -> list:
    """(position, tensor) of every input tensor that requires grad."""
    tensor = tensor_cls()
    return [(i, t) for i, t in enumerate(inputs) if isinstance(t, tensor) and t.requires_grad]


class Perturbable:
    """The array of an input tensor, writable in place for finite differences (a private copy
    is swapped in, and the original put back, when the tensor's array is read-only). Changes
    bypass version counting, as PyTorch's use of .data does."""

    def __init__(self, t) -> None:
        self.t = t
        self.orig = None

    def __enter__(self) -> np.ndarray:
        a = self.t._data
        if not a.flags.writeable:
            self.orig = a
            self.t._data = a = a.copy()
        return a

    def __exit__(self, *args: object) -> None:
        if self.orig is not None:
            self.t._data = self.orig


def call(func, inputs) -> tuple:
    """func's outputs, copied (so later perturbations cannot change them) and detached."""
    tensor = tensor_cls()
    return tuple(
        wrap(np.array(o._data, copy=True)) if isinstance(o, tensor) else o
        for o in as_tuple(func(*inputs))
    )


def _check_same_dtype_and_shape(a, b, eps, idx=None) -> None:
    on_index = f"on index {idx} " if idx is not None else ""
    if a.shape != b.shape:
        raise AssertionError(
            f"Expected `func` to return outputs with the same shape when inputs are perturbed "
            f"{on_index}by {eps}, but got: shapes {a.shape} and {b.shape}."
        )
    if a.dtype != b.dtype:
        raise AssertionError(
            f"Expected `func` to return outputs with the same dtype when inputs are perturbed "
            f"{on_index}by {eps}, but got: dtypes {a.dtype} and {b.dtype}."
        )


def central(outa, outb, norm_v: float, eps, idx=None) -> list:
    """(b - a) / (2 norm_v) for each tensor output, flattened (tapegrad arithmetic, so the
    dtypes follow PyTorch's rules); None for outputs that are not tensors."""
    from .grad_mode import no_grad

    tensor = tensor_cls()
    res = []
    with no_grad():
        for a, b in zip(outa, outb):
            if not isinstance(a, tensor):
                res.append(None)
                continue
            _check_same_dtype_and_shape(a, b, eps, idx)
            res.append(((b - a) / (2 * norm_v)).reshape(-1))
    return res


# --- numerical Jacobians ------------------------------------------------------------------------
def conj_wirtinger(ds_dx: list, ds_dy: list) -> list:
    """ds/dx + i ds/dy for each output (None stays None): for a real output s of a complex input
    z = x + iy, the gradient PyTorch's convention gives (2 ds/d conj(z))."""
    from .grad_mode import no_grad

    with no_grad():
        return [None if a is None else a + b * 1j for a, b in zip(ds_dx, ds_dy)]


def numerical_jacobian(func, inputs, pos: int, eps: float) -> list:
    """For input `pos`, one Jacobian per output of func: an array (input numel, output numel)
    of the output's dtype (the input's for a complex input) for floating outputs, None for the
    others. A complex input's row is ds/dx + i ds/dy: its real and imaginary parts are
    perturbed in turn (the outputs are then real: gradcheck splits complex ones)."""
    inp = inputs[pos]
    cplx = inp._dtype.is_complex
    cols = []
    sample = None  # func's outputs once, for their kinds, dtypes and sizes
    with Perturbable(inp) as arr:
        n_in = arr.size
        for k in range(n_in):
            idx = np.unravel_index(k, arr.shape)
            where = tuple(int(i) for i in idx)
            col = None
            for step in ((eps, 1j * eps) if cplx else (eps,)):
                orig = arr[idx].copy()
                arr[idx] = orig - step
                outa = call(func, inputs)
                arr[idx] = orig + step
                outb = call(func, inputs)
                arr[idx] = orig
                d = central(outa, outb, eps, eps, where)
                col = d if col is None else conj_wirtinger(col, d)
                sample = outb
            cols.append(col)
    if sample is None:
        sample = call(func, inputs)
    jacs = []
    for j, o in enumerate(sample):
        if not is_float_or_complex(o):
            jacs.append(None)
            continue
        jac = np.zeros((n_in, o.numel()), dtype=inp._data.dtype if cplx else o._data.dtype)
        for k, col in enumerate(cols):
            jac[k] = col[j]._data
        jacs.append(jac)
    return jacs


def numerical_jacobians(func, inputs, eps: float) -> list:
    """[diff input][output] Jacobians (None for non-floating outputs)."""
    return [numerical_jacobian(func, inputs, pos, eps) for pos, _ in diff_inputs(inputs)]


# --- analytical Jacobians -----------------------------------------------------------------------
def _vjp_rows(output, wrt: list, grad_outputs) -> tuple:
    """Stack autograd's gradients for each grad_output as the columns of one array per input;
    also whether every gradient had its input's size and dtype."""
    from . import grad as autograd_grad

    cols = list(grad_outputs)
    jacs = [np.zeros((t.numel(), len(cols)), dtype=t._data.dtype) for t in wrt]
    sizes_ok = types_ok = True
    for j, go in enumerate(cols):
        gs = autograd_grad(output, wrt, go, retain_graph=True, allow_unused=True)
        for i, (g, t) in enumerate(zip(gs, wrt)):
            if g is None:
                continue
            if g.shape != t.shape:
                sizes_ok = False
            elif g.dtype != t.dtype:
                types_ok = False
            flat = np.asarray(g._data).reshape(-1)
            if flat.size != jacs[i].shape[0]:
                raise AssertionError(
                    f"Expected out_jacobian column to have {flat.size} elements, but got "
                    f"{jacs[i].shape[0]}"
                )
            jacs[i][:, j] = flat
    return jacs, sizes_ok, types_ok


def _basis(output):
    """The grad_outputs that pick one output element each (rows of the Jacobian)."""
    dt = output._data.dtype
    for j in range(output.numel()):
        e = np.zeros(output.shape, dtype=dt)
        e.reshape(-1)[j] = 1
        yield wrap(e)


def vjp_jacobians(inputs, output, v=None) -> tuple:
    """Per diff input, the Jacobian of output from autograd (or v^T J when v is given), twice
    (to catch a backward that is not deterministic): (first, second, sizes_ok, types_ok)."""
    diff = [t for _, t in diff_inputs(inputs)]

    def grads_outs():
        return [v.reshape(output.shape)] if v is not None else _basis(output)

    j1, sizes_ok, types_ok = _vjp_rows(output, diff, grads_outs())
    j2, _, _ = _vjp_rows(output, diff, grads_outs())
    return j1, j2, sizes_ok, types_ok


# --- complex inputs and outputs (see gradcheck's module notes) ----------------------------------
def real_dtype(dt):
    import tapegrad

    return {tapegrad.complex64: tapegrad.float32, tapegrad.complex128: tapegrad.float64}.get(
        dt, dt)


def directional(func, inputs, inp, u, eps) -> list:
    """One central difference of func's outputs along u (scaled by eps); for a complex input
    u = (ur, ui) and the result is J_x ur + i J_y ui (see gradcheck's module notes)."""
    parts = u if isinstance(u, tuple) else (u,)
    res = None
    for k, part in enumerate(parts):
        with Perturbable(inp) as arr:
            orig = arr.copy()
            delta = (part.reshape(inp.shape) * eps)._data * (1j if k else 1)
            arr[...] = orig - delta
            outa = call(func, inputs)
            arr[...] = orig + delta
            outb = call(func, inputs)
            arr[...] = orig
        d = central(outa, outb, eps, eps)
        res = d if res is None else conj_wirtinger(res, d)
    return res


def project(vj, u):
    """(v^T J) . u, or for a complex input Re(v^T J) . ur + i Im(v^T J) . ui."""
    if isinstance(u, tuple):
        return wrap(vj.real.copy()).dot(u[0]) + wrap(vj.imag.copy()).dot(u[1]) * 1j
    return wrap(vj).dot(u)


def part_of_outputs(func, part: str):
    """func with tapegrad.real or tapegrad.imag applied to its complex outputs."""
    import tapegrad

    take = tapegrad.real if part == "real" else tapegrad.imag
    tensor = tensor_cls()

    def part_fn(*args):
        return tuple(take(o) if isinstance(o, tensor) and o._dtype.is_complex else o
                     for o in as_tuple(func(*args)))

    return part_fn


# --- comparing ----------------------------------------------------------------------------------
def allclose(a: np.ndarray, n: np.ndarray, rtol: float, atol: float) -> bool:
    # |a - n| <= atol + rtol * |n| element-wise (NaN never close), after dtype promotion
    return bool(np.allclose(a, n, rtol=rtol, atol=atol, equal_nan=False))


def _index_str(flat: int, shape) -> str:
    if len(shape) == 0:
        return "[]"
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat, shape)) + "]"


def mismatch_report(a: np.ndarray, n: np.ndarray, rtol: float, atol: float, in_shape,
                     out_shape, in_idx: int, out_idx: int) -> str:
    """tapegrad's addition: which Jacobian entries differ, with both values."""
    with np.errstate(invalid="ignore", over="ignore"):
        bad = ~np.isclose(a, n, rtol=rtol, atol=atol, equal_nan=False)
    rows, cols = np.nonzero(bad)
    total = int(bad.sum())
    if total == 0:
        return ""
    lines = [
        f"\n[tapegrad] {total} of {bad.size} Jacobian entries differ "
        f"(|analytical - numerical| > atol + rtol * |numerical|, atol={atol}, rtol={rtol}):"
    ]
    for r, c in list(zip(rows, cols))[:_MAX_REPORTED]:
        lines.append(
            f"  d output {out_idx}{_index_str(c, out_shape)} / d input {in_idx}"
            f"{_index_str(r, in_shape)}: numerical {n[r, c].item()!r}, "
            f"analytical {a[r, c].item()!r}"
        )
    if total > _MAX_REPORTED:
        lines.append(f"  ... and {total - _MAX_REPORTED} more")
    return "\n".join(lines) + "\n"

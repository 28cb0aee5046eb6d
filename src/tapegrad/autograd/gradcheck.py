"""gradcheck and gradgradcheck: compare autograd's gradients with finite differences.

The numerical Jacobian of f at x takes central differences, column by column (one input element
perturbed at a time): J[k, :] = (f(x + eps e_k) - f(x - eps e_k)) / (2 eps). The analytical one
takes autograd's vector-Jacobian products, row by row: J[:, j] = grad(out, x, e_j). As in
PyTorch, both are laid out (input elements, output elements) and compared with allclose.

Fast mode (PyTorch's fast gradcheck) compares one number per (input, output) pair instead: for
random unit vectors u (per input) and v (per output), the numerical v . (J u), where J u is one
central difference along u, against the analytical (v^T J) . u, with atol scaled by
sum(u) * sum(v) (the matrix of atol entries, projected the same way).

Complex numbers, as PyTorch checks them: a complex output is checked as two real functions,
its imaginary part and then its real part. For a complex input z = x + iy the numerical row is
ds/dx + i ds/dy (the real and imaginary parts perturbed in turn), which is what autograd
returns under PyTorch's convention (2 ds/d conj(z) for real s); fast mode draws one vector for
each part, u = (ur, ui), and compares Re(v^T J) . ur + i Im(v^T J) . ui with
v . (J_x ur + i J_y ui), so that both Wirtinger derivatives are tested.

>>> import tapegrad
>>> x = tapegrad.tensor([0.5, -1.0], dtype=tapegrad.float64, requires_grad=True)
>>> tapegrad.autograd.gradcheck(lambda t: (t * t).sin(), (x,))
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from ._gradcheck_jacobians import (
    allclose,
    as_tuple,
    diff_inputs,
    directional,
    mismatch_report,
    numerical_jacobian,
    numerical_jacobians,
    part_of_outputs,
    project,
    real_dtype,
    tensor_cls,
    vjp_jacobians,
    wrap,
)

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Error raised by gradcheck and gradgradcheck."""


_FAILED_NONDET_MSG = """\n
NOTE: If your op relies on non-deterministic operations i.e., it is listed here:
https://pytorch.org/docs/stable/generated/torch.use_deterministic_algorithms.html
this failure might be expected.

If you are adding a new operator, please file an issue and then use one of the
workarounds. The workaround depends on how your test invokes gradcheck/gradgradcheck.
If the test
- manually invokes gradcheck/gradgradcheck, then call gradcheck/gradgradcheck
  with `nondet_tol=<tol>` as a keyword argument.
- is OpInfo-based (e.g., in test_ops_gradients.py), then modify the OpInfo for the test
  to have `gradcheck_nondet_tol=<tol>`.
- is a Module test (e.g., in common_nn.py), then modify the corresponding
  module_test entry to have `gradcheck_nondet_tol=<tol>`
"""

_FAST_FAIL_SLOW_OK_MSG = """
Fast gradcheck failed but element-wise differences are small. This means that the
test might've passed in slow_mode!

If you are adding a new operator, please file an issue and then use one of the
workarounds. The workaround depends on how your test invokes gradcheck/gradgradcheck:

If the test
- manually invokes gradcheck/gradgradcheck, then call gradcheck/gradgradcheck
  with `fast_mode=False` as a keyword argument.
- is OpInfo-based (e.g., in test_ops_gradients.py), then modify the OpInfo for the test
  to have `gradcheck_fast_mode=False`
- is a Module test (e.g., in common_nn.py), then modify the corresponding
  module_test entry to have `gradcheck_fast_mode=False`
""".strip()

_UNDEFINED_NOTE = (
    'Please look at "Notes about undefined output gradients" in '
    '"tools/autograd/derivatives.yaml"'
)


# --- helpers -------------------------------------------------------------------------------------
def _differentiable_outputs(x) -> tuple:
    return tuple(o for o in as_tuple(x) if o.requires_grad)


def _analytical_jacobian(inputs, output, nondet_tol: float, check_grad_dtypes: bool,
                         v=None) -> list:
    """Per diff input, the Jacobian of output from autograd (or v^T J when v is given),
    computed twice to catch a backward that is not deterministic."""
    j1, j2, sizes_ok, types_ok = vjp_jacobians(inputs, output, v)
    reentrant = all(
        a.size == 0 or not (np.abs(a - b).max() > nondet_tol) for a, b in zip(j1, j2)
    )
    if not types_ok and check_grad_dtypes:
        raise GradcheckError("Gradient has dtype mismatch")
    if not sizes_ok:
        raise GradcheckError("Analytical gradient has incorrect size")
    if not reentrant:
        raise GradcheckError(
            "Backward is not reentrant, i.e., running backward with same input and grad_output "
            "multiple times gives different values, although analytical gradient matches "
            f"numerical gradient.The tolerance for nondeterminism was {nondet_tol}."
            + _FAILED_NONDET_MSG
        )
    return j1


def _notallclose_msg(a, n, out_idx: int, in_idx: int, complex_indices=(),
                     test_imag: bool = False) -> str:
    prefix = ""
    if out_idx in complex_indices:
        part = "imaginary" if test_imag else "real"
        prefix = f"While considering the {part} part of complex outputs only, "
    return (
        f"{prefix}Jacobian mismatch for output {out_idx:d} with respect to input {in_idx:d},\n"
        f"numerical:{n}\nanalytical:{a}\n"
    )


# --- the checks ---------------------------------------------------------------------------------
def _check_inputs(inputs: tuple) -> None:
    any_grad = False
    tensor = tensor_cls()
    for idx, inp in enumerate(inputs):
        if isinstance(inp, tensor) and inp.requires_grad:
            if inp._data.dtype not in (np.float64, np.complex128):
                warnings.warn(
                    f"Input #{idx} requires gradient and is not a double precision floating "
                    "point or complex. This check will likely fail if all the inputs are not of "
                    "double precision floating point or complex. ",
                    UserWarning,
                    stacklevel=3,
                )
            a = inp._data
            if not all(st > 0 or sz <= 1 for st, sz in zip(a.strides, a.shape)):
                raise RuntimeError(
                    f"The {idx}th input has a dimension with stride 0. gradcheck only supports "
                    "inputs that are non-overlapping to be able to compute the numerical "
                    "gradients correctly. You should call .contiguous on the input before "
                    "passing it to gradcheck."
                )
            any_grad = True
    if not any_grad:
        raise ValueError(
            "gradcheck expects at least one input tensor to require gradient, but none of them "
            "have requires_grad=True."
        )


def _output_positions(func_out, outputs) -> list:
    """Where each differentiable output sits among func's outputs."""
    ids = [id(o) for o in as_tuple(func_out)]
    return [ids.index(id(o)) for o in outputs]


def _slow_check(func, func_out, inputs, outputs, eps, rtol, atol, check_grad_dtypes,
                nondet_tol, complex_indices=(), test_imag=False) -> None:
    numerical = numerical_jacobians(func, inputs, eps)
    if not outputs:
        for per_out in numerical:
            for jac in per_out:
                if jac is not None and (jac != 0).any():
                    raise GradcheckError("Numerical gradient for function expected to be zero")
        return
    positions = _output_positions(func_out, outputs)
    diff = [t for _, t in diff_inputs(inputs)]
    for i, o in enumerate(outputs):
        analytical = _analytical_jacobian(inputs, o, nondet_tol, check_grad_dtypes)
        for j, a in enumerate(analytical):
            n = numerical[j][positions[i]]
            if not allclose(a, n, rtol, atol):
                raise GradcheckError(
                    _notallclose_msg(wrap(a), wrap(n), i, j, complex_indices, test_imag)
                    + mismatch_report(a, n, rtol, atol, diff[j].shape, o.shape, j, i)
                )


def _unit_vector(n: int, dt, generator):
    import tapegrad

    vec = tapegrad.rand(n, generator=generator).to(dt)
    return vec / vec.norm()


def _fast_check(func, func_out, inputs, outputs, eps, rtol, atol, check_grad_dtypes,
                nondet_tol, complex_indices=(), test_imag=False) -> None:
    import tapegrad

    from .grad_mode import no_grad

    diff_pairs = diff_inputs(inputs)
    gen = tapegrad.Generator()  # a fresh generator: the user's random stream is left alone
    all_u = []
    for _, t in diff_pairs:  # (drawn in PyTorch's order: ur, then ui for a complex input)
        ur = _unit_vector(t.numel(), real_dtype(t.dtype), gen)
        all_u.append((ur, _unit_vector(t.numel(), real_dtype(t.dtype), gen))
                     if t.dtype.is_complex else ur)
    all_v = [_unit_vector(o.numel(), o.dtype, gen) for o in outputs]
    positions = _output_positions(func_out, outputs)

    # numerical J u for each input: one central difference along u (scaled by eps)
    numerical_ju = [directional(func, inputs, inp, u, eps)
                    for (_, inp), u in zip(diff_pairs, all_u)]
    if not outputs:
        for jus in numerical_ju:
            for ju in jus:
                if ju.numel() and float(ju.abs().max()) > nondet_tol:
                    raise GradcheckError("Numerical gradient for function expected to be zero")
    with no_grad():
        numerical = [[(v * jus[p]).sum() for v, p in zip(all_v, positions)]
                     for jus in numerical_ju]
        analytical = []
        for o, v in zip(outputs, all_v):
            vjs = _analytical_jacobian(inputs, o, nondet_tol, check_grad_dtypes, v=v)
            analytical.append([project(vj[:, 0], u) for vj, u in zip(vjs, all_u)])
        for i, u in enumerate(all_u):
            # atol projected like the Jacobians: times sum(u) sum(v), with sum(u) =
            # sum(ur) + sum(ui) for a complex input
            sum_u = sum(float(p.sum()) for p in u) if isinstance(u, tuple) else float(u.sum())
            for j, v in enumerate(all_v):
                a, n = analytical[j][i], numerical[i][j]
                tol = atol * sum_u * float(v.sum())
                if not allclose(a._data, n._data, rtol, tol):
                    raise GradcheckError(
                        _notallclose_msg(a, n, j, i, complex_indices, test_imag)
                        + _slow_mode_report(func, inputs, outputs, positions, i, j, rtol, atol,
                                            eps)
                    )


def _slow_mode_report(func, inputs, outputs, positions, in_idx, out_idx, rtol, atol, eps) -> str:
    """PyTorch's recomputation of the failing pair's Jacobians in slow mode, then tapegrad's
    list of the mismatching entries."""
    from .grad_mode import enable_grad

    pos, inp = diff_inputs(inputs)[in_idx]
    with enable_grad():  # (called from under no_grad; func may differentiate, gradgradcheck)
        n = numerical_jacobian(func, inputs, pos, eps)[positions[out_idx]]
        a = _analytical_jacobian(inputs, outputs[out_idx], math.inf, False)[in_idx]
    max_diff = (wrap(n) - wrap(a)).abs().max()
    msg = (
        "\nThe above quantities relating the numerical and analytical jacobians are computed \n"
        "in fast mode. See: https://github.com/pytorch/pytorch/issues/53876 for more "
        "background \nabout fast mode. Below, we recompute numerical and analytical jacobians "
        "in slow mode:\n\n"
        f"Numerical:\n {wrap(n)}\n"
        f"Analytical:\n{wrap(a)}\n\n"
        f"The max per-element difference (slow mode) is: {max_diff}.\n"
    )
    if allclose(a, n, rtol, atol):
        msg += _FAST_FAIL_SLOW_OK_MSG
    return msg + mismatch_report(a, n, rtol, atol, inp.shape, outputs[out_idx].shape,
                                  in_idx, out_idx)


def _check_backward_mul_by_grad_output(outputs, inputs, masked) -> None:
    """Zero grad_outputs must give zero gradients of the right dtype and size."""
    from . import grad as autograd_grad

    diff = [t for _, t in diff_inputs(inputs)]
    if not diff:
        raise GradcheckError("no Tensors requiring grad found in input")
    zeros = [wrap(np.zeros(o.shape, dtype=o._data.dtype)) for o in outputs]
    grads = autograd_grad(outputs, diff, zeros, allow_unused=True)
    for gi, di in zip(grads, diff):
        if gi is None:
            continue
        if masked:
            ok = bool(np.allclose(gi._data, 0))
        else:
            ok = bool((gi._data == 0).all())
        if not ok:
            raise GradcheckError("backward not multiplied by grad_output")
        if gi.dtype != di.dtype:
            raise GradcheckError("grad is incorrect type")
        if gi.shape != di.shape:
            raise GradcheckError("grad is incorrect size")


def _undefined_grad(o):
    """o passed through a node whose backward hands its input no gradient at all (PyTorch's
    UndefinedGrad): the nodes below then run with undefined (None) output gradients."""
    from .._tensor import _make
    from .engine import edge_of
    from .graph import Node

    class UndefinedGradBackward(Node):
        __slots__ = ()

        def vjp(self, g):
            return (None,)

    node = UndefinedGradBackward()
    node._next = (edge_of(o),)
    node._in_meta = ((o._data.shape, o._dtype),)
    return _make(o._data, node, True)


def _check_undefined_grad(func, outputs, inputs) -> None:
    from . import grad as autograd_grad

    diff = [t for _, t in diff_inputs(inputs)]
    if not diff:
        raise GradcheckError("no Tensors requiring grad found in input")
    tensor = tensor_cls()

    def warn_bc_breaking() -> None:
        warnings.warn(
            "Backwards compatibility: New undefined gradient support checking feature is "
            "enabled by default, but it may break existing callers of this function. If this is "
            'true for you, you can call this function with "check_undefined_grad=False" to '
            "disable the feature",
            UserWarning,
            stacklevel=3,
        )

    def check(outs) -> None:
        zeros = [wrap(np.zeros(o.shape, dtype=o._data.dtype)) for o in outs]
        try:
            grads = autograd_grad(outs, diff, zeros, allow_unused=True)
        except RuntimeError as e:
            warn_bc_breaking()
            raise GradcheckError(
                "Expected backward function to handle undefined output grads. " + _UNDEFINED_NOTE
            ) from e
        for gi in grads:
            if gi is not None and not bool((gi._data == 0).all()):
                warn_bc_breaking()
                raise GradcheckError(
                    "Expected all input grads to be undefined or zero when all output grads are "
                    "undefined or zero. " + _UNDEFINED_NOTE
                )

    to_check = [[_undefined_grad(o) for o in _differentiable_outputs(func(*inputs))
                 if isinstance(o, tensor)]]
    if len(to_check[0]) > 1:
        # with several outputs, each one alone may be undefined
        for k in range(len(outputs)):
            outs = _differentiable_outputs(func(*inputs))
            to_check.append([_undefined_grad(o) if i == k else o for i, o in enumerate(outs)])
    for outs in to_check:
        check(outs)


# --- the public functions -----------------------------------------------------------------------
def gradcheck(
    func: Callable,
    inputs,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
) -> bool:
    """Check autograd's gradients of func at inputs against finite differences.

    Inputs that are floating tensors with requires_grad=True are checked (use float64: other
    dtypes warn and usually fail). Complex inputs and outputs are checked as PyTorch checks
    them (see the module notes). Returns True, or raises GradcheckError (False instead with
    raise_exception=False). check_batched_grad pulls a batch of cotangents back in one
    pass (vmap) and compares with separate passes; check_batched_forward_grad does the same for
    forward mode (a batch of tangents under vmap).

    >>> import tapegrad
    >>> x = tapegrad.tensor([1.0, 2.0], dtype=tapegrad.float64, requires_grad=True)
    >>> tapegrad.autograd.gradcheck(lambda t: t.exp().sum(), x)
    True
    """
    if not (check_forward_ad or check_backward_ad):
        raise AssertionError(
            "Expected at least one of check_forward_ad or check_backward_ad to be True"
        )
    if check_batched_grad and not check_backward_ad:
        raise AssertionError(
            "Setting check_batched_grad=True requires check_backward_ad to be True"
        )
    if check_batched_forward_grad and not check_forward_ad:
        raise AssertionError(
            "Setting check_batched_forward_grad=True requires check_forward_ad to be True"
        )
    try:
        return _gradcheck(func, inputs, eps, atol, rtol, nondet_tol, check_undefined_grad,
                          check_grad_dtypes, fast_mode, masked, check_batched_grad,
                          check_forward_ad, check_backward_ad, check_batched_forward_grad)
    except GradcheckError:
        if raise_exception:
            raise
        return False


def _gradcheck(func, inputs, eps, atol, rtol, nondet_tol, check_undefined_grad,
               check_grad_dtypes, fast_mode, masked, batched: bool = False,
               forward: bool = False, backward: bool = True,
               batched_forward: bool = False) -> bool:
    """The checks in PyTorch's order: the backward Jacobians, the forward ones, the batched
    forward pass, then (with backward AD) the batched backward pass, the scaling by
    grad_output and undefined output gradients. (The order decides which failure is
    reported, and the random draws of the batched checks come in PyTorch's order.)"""
    tupled = as_tuple(inputs)
    _check_inputs(tupled)
    func_out = func(*tupled)
    outputs = _differentiable_outputs(func_out)
    check = _fast_check if fast_mode else _slow_check
    tensor = tensor_cls()
    if backward:
        if any(isinstance(o, tensor) and o._dtype.is_complex for o in as_tuple(func_out)):
            # each complex output is checked as two real functions: its imaginary part,
            # then its real part
            complex_indices = [i for i, o in enumerate(outputs) if o._dtype.is_complex]
            for part, test_imag in (("imag", True), ("real", False)):
                part_fn = part_of_outputs(func, part)
                part_out = part_fn(*tupled)
                check(part_fn, part_out, tupled, _differentiable_outputs(part_out), eps, rtol,
                      atol, check_grad_dtypes, nondet_tol, complex_indices, test_imag)
        else:
            check(func, func_out, tupled, outputs, eps, rtol, atol, check_grad_dtypes,
                  nondet_tol)
    if forward:
        _forward_checks(func, tupled, eps, rtol, atol, check_undefined_grad)
    if batched_forward:
        from ._gradcheck_batched import check_batched_forward_grad

        check_batched_forward_grad(func, tupled, GradcheckError)
    if not backward:
        return True
    if batched:
        from ._gradcheck_batched import check_batched_grad

        for i, o in enumerate(outputs):
            check_batched_grad(tupled, o, i, GradcheckError)
    _check_backward_mul_by_grad_output(outputs, tupled, masked)
    if check_undefined_grad:
        _check_undefined_grad(func, outputs, tupled)
    return True


def _forward_checks(func, inputs, eps, rtol, atol, check_undefined: bool = False) -> None:
    """Forward mode against finite differences. A complex input is checked as PyTorch checks
    it: as two real inputs, its imaginary part (z = re + i v, v varying) then its real part
    (z = u + i im), each a real function whose tangents forward mode pushes through z."""
    tupled = as_tuple(inputs)
    tensor = tensor_cls()
    cidx = [i for i, t in enumerate(tupled) if isinstance(t, tensor) and t.dtype.is_complex]
    if not cidx:
        _forward_check(func, tupled, eps, rtol, atol)
        if check_undefined:
            _undefined_forward_check(func, tupled)
        return
    parts = []
    for test_imag in (True, False):
        def part_fn(*args, _imag=test_imag):
            args = list(args)
            for i in cidx:
                orig = tupled[i]
                args[i] = orig.real + args[i] * 1j if _imag else args[i] + orig.imag * 1j
            return as_tuple(func(*args))

        part_inputs = tuple(t.imag if i in cidx and test_imag else t.real if i in cidx else t
                            for i, t in enumerate(tupled))
        _forward_check(part_fn, part_inputs, eps, rtol, atol, cidx, test_imag)
        parts.append((part_fn, part_inputs))
    if check_undefined:
        for part_fn, part_inputs in parts:
            _undefined_forward_check(part_fn, part_inputs)


def _undefined_forward_check(func, inputs) -> None:
    """A zero tangent must give the tangents that no tangent gives (PyTorch's check of rules
    that treat an undefined tangent as zero), one differentiable input at a time, the others
    carrying random tangents."""
    import tapegrad

    from . import forward_ad as fw

    pairs = diff_inputs(inputs)
    gen = tapegrad.Generator()  # (PyTorch's vectors: a fresh generator, its draws in order)
    all_u = [_unit_vector(t.numel(), real_dtype(t.dtype), gen) for _, t in pairs]
    tensor = tensor_cls()

    def outs_of(args):
        return [o for o in as_tuple(func(*args)) if isinstance(o, tensor)
                and (o.dtype.is_floating_point or o.dtype.is_complex)]

    with fw.dual_level():
        duals = list(inputs)
        for (i, t), u in zip(pairs, all_u):
            duals[i] = fw.make_dual(t.detach(), tapegrad.zeros_like(t))
            fw.unpack_dual(duals[i]).tangent.copy_(u.view_as(t))
        for i, t in pairs:
            kept = duals[i]
            duals[i] = fw.make_dual(t.detach(), tapegrad.zeros_like(t))  # a zero tangent
            outs1 = outs_of(duals)
            duals[i] = t.detach()  # no tangent at all
            outs2 = outs_of(duals)
            duals[i] = kept
            for index_o, (o1, o2) in enumerate(zip(outs1, outs2)):
                r1, r2 = fw.unpack_dual(o1).tangent, fw.unpack_dual(o2).tangent
                if r1 is not None and r2 is not None and not tapegrad.allclose(r1, r2):
                    raise GradcheckError(
                        "Mismatch in tangent values for output with index: ", index_o,
                        " when input: ", t, " has an undefined tangent value. ", " Got: ",
                        r1, " but expected: ", r2)


def _forward_check(func, inputs, eps, rtol, atol, complex_indices=(),
                   test_imag: bool = False) -> None:
    """The Jacobian built column by column with forward-mode AD (one dual evaluation per input
    element) against the numerical one (real inputs)."""
    import tapegrad

    from . import forward_ad as fwad

    tupled = as_tuple(inputs)  # (checked once, by gradcheck: PyTorch warns once per input)
    func_out = func(*tupled)
    outputs = _differentiable_outputs(func_out)
    positions = _output_positions(func_out, outputs)
    numerical = numerical_jacobians(func, tupled, eps)
    pairs = diff_inputs(tupled)
    for j, (pos, x) in enumerate(pairs):
        n_in = x.numel()
        cols = [np.zeros((n_in, o.numel()), dtype=o._data.dtype) for o in outputs]
        for k in range(n_in):
            with fwad.dual_level():
                args = list(tupled)
                for pos2, x2 in pairs:
                    t = tapegrad.zeros_like(x2)
                    if pos2 == pos:
                        t.view(-1)[k] = 1
                    args[pos2] = fwad.make_dual(x2.detach(), t)
                outs = as_tuple(func(*args))
                for i, p in enumerate(positions):
                    tan = fwad.unpack_dual(outs[p]).tangent
                    if tan is not None:
                        cols[i][k] = tan.detach()._data.reshape(-1)
        for i in range(len(outputs)):
            a, n = cols[i], numerical[j][positions[i]]
            if not allclose(a, n, rtol, atol):
                prefix = ""
                if j in complex_indices:
                    part = "imaginary" if test_imag else "real"
                    prefix = f"While considering the {part} part of complex inputs only, "
                raise GradcheckError(
                    prefix + f"Jacobian computed with forward mode mismatch for output {i:d} with "
                    f"respect to input {j:d},\nnumerical:{wrap(n)}\nanalytical:{wrap(a)}\n"
                    + mismatch_report(a, n, rtol, atol, x.shape, outputs[i].shape, j, i))


def _random_grad_output(x, noncontiguous: bool):
    """PyTorch's make_tensor(x.shape, low=-1, high=1, requires_grad=True): uniform values
    from the global generator (same stream as PyTorch's), optionally non-contiguous."""
    import tapegrad

    dt = x.dtype if (x.dtype.is_floating_point or x.dtype.is_complex) else tapegrad.float64
    shape = tuple(x.shape)
    noncontiguous = noncontiguous and math.prod(shape) > 1
    if noncontiguous:
        shape = (*shape[:-1], 2 * shape[-1])
    res = tapegrad.empty(shape, dtype=dt)
    # a complex tensor's real pairs are drawn (real, imaginary, real, ...), as PyTorch's
    (tapegrad.view_as_real(res) if dt.is_complex else res).uniform_(-1, 1)
    if noncontiguous:
        res = res[..., 1::2]
    return res.requires_grad_(True)


def gradgradcheck(
    func: Callable,
    inputs,
    grad_outputs: Sequence | None = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """Check second derivatives: gradcheck of the map (inputs, grad_outputs) -> gradients.

    Without grad_outputs, random ones are drawn (uniform in [-1, 1], from the global random
    stream, as PyTorch does).

    >>> import tapegrad
    >>> x = tapegrad.tensor([1.0, 2.0], dtype=tapegrad.float64, requires_grad=True)
    >>> tapegrad.autograd.gradgradcheck(lambda t: t.sin(), x)
    True
    """
    from . import grad as autograd_grad

    if not (check_fwd_over_rev or check_rev_over_rev):
        raise AssertionError(
            "Expected at least one of check_fwd_over_rev or check_rev_over_rev to be True"
        )
    if check_undefined_grad and not check_rev_over_rev:
        raise AssertionError(
            "Setting check_undefined_grad=True requires check_rev_over_rev to be True"
        )
    if check_batched_grad and not check_rev_over_rev:
        raise AssertionError(
            "Setting check_batched_grad=True requires check_rev_over_rev to be True"
        )
    tupled = as_tuple(inputs)
    if grad_outputs is None:
        outputs = _differentiable_outputs(func(*tupled))
        tupled_grads = tuple(_random_grad_output(x, gen_non_contig_grad_outputs)
                             for x in outputs)
    else:
        tupled_grads = as_tuple(grad_outputs)
    n_out = len(tupled_grads)
    tensor = tensor_cls()
    diff_in = {i for i, x in enumerate(tupled) if isinstance(x, tensor) and x.requires_grad}
    diff_go = {i for i, x in enumerate(tupled_grads) if x.requires_grad}

    def first_grads(*args):
        ins = tuple(x.requires_grad_() if i in diff_in else x
                    for i, x in enumerate(args[:-n_out]))
        outs = _differentiable_outputs(func(*ins))
        gos = tuple(x.requires_grad_() if i in diff_go else x
                    for i, x in enumerate(args[-n_out:]))
        wrt = tuple(x for i, x in enumerate(ins) if i in diff_in)
        res = autograd_grad(outs, wrt, gos, create_graph=True, allow_unused=True)
        return tuple(g for g in res if g is not None)

    return gradcheck(
        first_grads,
        tupled + tupled_grads,
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        nondet_tol=nondet_tol,
        check_undefined_grad=check_undefined_grad,
        check_grad_dtypes=check_grad_dtypes,
        check_batched_grad=check_batched_grad,
        fast_mode=fast_mode,
        check_forward_ad=check_fwd_over_rev,
        check_backward_ad=check_rev_over_rev,
        masked=masked,
    )


gradcheck.GradcheckError = GradcheckError  # so tapegrad.autograd.gradcheck.GradcheckError works

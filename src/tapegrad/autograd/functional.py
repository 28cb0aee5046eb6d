"""Higher-level differentiation of whole functions: vjp, jvp, jacobian, hessian, vhp, hvp.

Each takes a function of tensors and the point to differentiate at, runs the function on fresh
copies of the inputs that require grad, and differentiates with `autograd.grad`:

- vjp  v^T J           one backward pass;
- jvp  J v             the double-backward trick: g(u) = J^T u is linear in a dummy u, so
                       d/du <g(u), v> = J v (a backward pass through the backward pass);
- jacobian             one backward pass per output element (reverse mode), or one jvp per
                       input element (forward mode, by the trick above);
- vhp  v^T H           backward of the gradient; hvp  H v  the trick applied to the gradient.

Inputs and outputs follow PyTorch's conventions: a single tensor in gives a tensor out, a tuple
gives a tuple; Jacobians of tuple outputs by tuple inputs are tuples of tuples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled

if TYPE_CHECKING:
    from .._tensor import Tensor

# tapegrad.autograd imports this module while tapegrad.Tensor is still being defined, so
# Tensor and autograd.grad are looked up when first needed.


def _tensor_cls():
    from .._tensor import Tensor

    return Tensor


def _grad(*args, **kwargs):
    from . import grad

    return grad(*args, **kwargs)

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]

_MODES = ("forward-mode", "reverse-mode")


# --- conventions: tuples in, tuples out ---------------------------------------------------
def _as_tuple(value, what: str, fn: str) -> tuple[bool, tuple]:
    """(was it a tuple, the tensors as a tuple); anything but tensors is a TypeError."""
    tensor = _tensor_cls()
    is_tuple = isinstance(value, tuple)
    items = value if is_tuple else (value,)
    for i, t in enumerate(items):
        if not isinstance(t, tensor):
            where = f"value at index {i}" if is_tuple else f"given {what}"
            raise TypeError(
                f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors but "
                f"the {where} has type {type(t)}."
            )
    return is_tuple, items


def _unpack(res, keep):
    """Undo the tupling: keep is one flag, or (outer, inner) flags for nested results."""
    if isinstance(keep, tuple):
        outer, inner = keep
        if not inner:
            res = tuple(r[0] for r in res)
        return res if outer else res[0]
    return res if keep else res[0]


def _prepare(tensors: tuple, create_graph: bool, need_graph: bool) -> tuple:
    """New tensor objects for the inputs: a differentiable alias of those that require grad
    when the caller wants a graph back to them, otherwise detached copies (requiring grad when
    we differentiate with respect to them). A new object always, so the function's own
    captures of the same tensors are told apart from the inputs."""
    out = []
    for t in tensors:
        if create_graph and t.requires_grad:
            out.append(t.view_as(t))
        else:
            out.append(t.detach().requires_grad_(need_graph))
    return tuple(out)


def _finish(res, create_graph: bool):
    """Drop the history of results the caller did not ask to differentiate."""
    if isinstance(res[0], _tensor_cls()):
        return res if create_graph else tuple(t.detach() for t in res)
    return tuple(_finish(r, create_graph) for r in res)


def _check_v(v: tuple, other: tuple, other_is_tuple: bool) -> None:
    if len(v) != len(other):
        if other_is_tuple:
            raise RuntimeError(
                f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}."
            )
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (a, b) in enumerate(zip(v, other)):
        if a.size() != b.size():
            where = f"Entry {i} in " if other_is_tuple else ""
            raise RuntimeError(
                f"{where}v has invalid size: should be {b.size()} but got {a.size()}."
            )


def _strict_requires_grad(tensors, kind: str, strict: bool) -> None:
    """strict mode: every tensor of this kind must depend on the inputs."""
    if not strict:
        return
    for i, t in enumerate(tensors):
        if t is None:
            raise RuntimeError(
                f"The output of the user-provided function is independent of input {i}. This "
                "is not allowed in strict mode."
            )
        if t.requires_grad:
            continue
        if kind == "hessian":
            raise RuntimeError(
                f"The hessian of the user-provided function with respect to input {i} is "
                "independent of the input. This is not allowed in strict mode. You should "
                "ensure that your function is thrice differentiable and that the hessian "
                "depends on the inputs."
            )
        if kind == "jacobian":
            raise RuntimeError(
                "While computing the hessian, found that the jacobian of the user-provided "
                f"function with respect to input {i} is independent of the input. This is not "
                "allowed in strict mode. You should ensure that your function is twice "
                "differentiable and that the jacobian depends on the inputs (this would be "
                "violated by a linear function for example)."
            )
        if kind == "grad_inputs":
            raise RuntimeError(
                f"The gradient with respect to input {i} is independent of the inputs of the "
                "user-provided function. This is not allowed in strict mode."
            )
        raise RuntimeError(
            f"Output {i} of the user-provided function does not require gradients. The outputs "
            "must be computed in a differentiable manner from the input when running in strict "
            "mode."
        )


def _grad_of(outputs: tuple, inputs: tuple, grad_outputs=None, create_graph: bool = False,
             retain_graph=None, is_grads_batched: bool = False) -> tuple:
    """autograd.grad that skips outputs with no graph (None entries included) and gives None
    for inputs nothing reaches."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    outs, gos = [], []
    for o, g in zip(outputs, grad_outputs):
        if o is not None and o.requires_grad:
            outs.append(o)
            gos.append(g)
    if not outs:
        return (None,) * len(inputs)
    return _grad(outs, inputs, gos, retain_graph=retain_graph, create_graph=create_graph,
                 allow_unused=True, is_grads_batched=is_grads_batched)


_ZERO_MSGS = {
    "back": "The output of the user-provided function is independent of input {i}. This is not "
            "allowed in strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the "
                  "grad_outputs when using the double backward trick to compute forward mode "
                  "gradients. This is not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. "
                   "This is not allowed in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry "
                         "{i} in the grad_jacobian. This is not allowed in strict mode as it "
                         "prevents from using the double backward trick to replace forward mode "
                         "AD.",
}


def _zeros_for_none(grads: tuple, refs: tuple, strict: bool, create_graph: bool,
                    stage: str) -> tuple:
    """Replace None gradients by zeros (the mathematical value), or refuse in strict mode."""
    from .._creation import zeros_like

    res = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_ZERO_MSGS[stage].format(i=i))
            g = zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(
                f"The {what} of the user-provided function is independent of input {i}. This is "
                "not allowed in strict mode when create_graph=True."
            )
        res.append(g)
    return tuple(res)


def _v_or_default(v, ref: tuple, ref_is_tuple: bool, create_graph: bool, fn: str,
                  none_msg: str, ok_without: bool):
    if v is not None:
        _, v = _as_tuple(v, "v", fn)
        v = _prepare(v, create_graph, need_graph=False)
        _check_v(v, ref, ref_is_tuple)
        return v
    if not ok_without:
        raise RuntimeError(none_msg)
    return None


_V_NONE_INPUT = ("The vector v can only be None if the input to the user-provided function is "
                 "a single Tensor with a single element.")


# --- vjp and jvp ----------------------------------------------------------------------------
def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T J): the vector-Jacobian product at inputs.

    >>> import tapegrad
    >>> from tapegrad.autograd.functional import vjp
    >>> vjp(lambda x: x ** 2, tapegrad.tensor([1., 2.]), tapegrad.ones(2))
    (tensor([1., 4.]), tensor([2., 4.]))
    """
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        outputs_tuple, outputs = _as_tuple(
            func(*inputs), "outputs of the user-provided function", "vjp"
        )
        _strict_requires_grad(outputs, "outputs", strict)
        single = len(outputs) == 1 and outputs[0].nelement() == 1
        v = _v_or_default(
            v, outputs, outputs_tuple, create_graph, "vjp",
            "The vector v can only be None if the user-provided function returns a single "
            "Tensor with a single element.", single,
        )
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        res = _grad_of(outputs, inputs, v, create_graph=create_graph)
        res = _zeros_for_none(res, inputs, strict, create_graph, "back")
    return (_unpack(_finish(outputs, create_graph), outputs_tuple),
            _unpack(_finish(res, create_graph), inputs_tuple))


def jvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), J v): the Jacobian-vector product, by the double-backward trick.

    >>> import tapegrad
    >>> from tapegrad.autograd.functional import jvp
    >>> jvp(lambda x: x ** 2, tapegrad.tensor([1., 2.]), tapegrad.ones(2))
    (tensor([1., 4.]), tensor([2., 4.]))
    """
    from .._creation import zeros_like

    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        single = len(inputs) == 1 and inputs[0].nelement() == 1
        v = _v_or_default(v, inputs, inputs_tuple, create_graph, "jvp", _V_NONE_INPUT, single)
        outputs_tuple, outputs = _as_tuple(
            func(*inputs), "outputs of the user-provided function", "jvp"
        )
        _strict_requires_grad(outputs, "outputs", strict)
        # g(u) = J^T u is linear in u; its value does not matter, only that it is finite
        dummies = tuple(zeros_like(o, requires_grad=True) for o in outputs)
        g = _grad_of(outputs, inputs, dummies, create_graph=True)
        _strict_requires_grad(g, "grad_inputs", strict)
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        # d/du <g(u), v> = J v
        res = _grad_of(g, dummies, v, create_graph=create_graph)
        res = _zeros_for_none(res, outputs, strict, create_graph, "back_trick")
    return (_unpack(_finish(outputs, create_graph), outputs_tuple),
            _unpack(_finish(res, create_graph), outputs_tuple))


# --- Jacobians ------------------------------------------------------------------------------
def _stack_rows(rows: list, lead_shape, tail_shape) -> Tensor:
    """Stack per-element results (each of tail_shape) into lead_shape + tail_shape."""
    from .. import stack

    # (no rows: stack raises "stack expects a non-empty TensorList", as in PyTorch)
    return stack(rows, 0).view(tuple(lead_shape) + tuple(tail_shape))


def _reverse_jacobian(inputs: tuple, outputs: tuple, create_graph: bool, strict: bool) -> tuple:
    """One backward pass per output element: row k of J_i is the gradient of out_i.flat[k]."""
    from .._creation import zeros_like

    jac = []
    for i, out in enumerate(outputs):
        rows = [[] for _ in inputs]
        flat = out.reshape(-1)
        for k in range(out.nelement()):
            vj = _grad_of((flat[k],), inputs, retain_graph=True, create_graph=create_graph)
            for j, (g, inp) in enumerate(zip(vj, inputs)):
                if g is not None:
                    if strict and create_graph and not g.requires_grad:
                        raise RuntimeError(
                            f"The jacobian of the user-provided function is independent of input "
                            f"{i}. This is not allowed in strict mode when create_graph=True."
                        )
                    rows[j].append(g)
                else:
                    if strict:
                        raise RuntimeError(
                            f"Output {i} of the user-provided function is independent of input "
                            f"{j}. This is not allowed in strict mode."
                        )
                    rows[j].append(zeros_like(inp))
        jac.append(tuple(
            _stack_rows(r, out.shape, inp.shape) for r, inp in zip(rows, inputs)
        ))
    return tuple(jac)


def _vectorized_jacobian(inputs: tuple, outputs: tuple, create_graph: bool) -> tuple:
    """All rows of the Jacobian in one backward pass, as PyTorch's vectorize=True: the
    standard basis of R^N (N: all outputs' elements, in order) split between the flattened
    outputs is one batch of N cotangents (is_grads_batched); each input's (N, *input) result
    is then split by output (so the blocks of one input share its graph)."""
    from .._creation import zeros_like

    numels = [o.nelement() for o in outputs]
    total = sum(numels)
    basis, offset = [], 0
    for o, n in zip(outputs, numels):
        e = o.new_zeros((total, n))
        e.diagonal(-offset).fill_(1)
        basis.append(e)
        offset += n
    flat = tuple(o.reshape(-1) for o in outputs)
    rows = _grad_of(flat, inputs, tuple(basis), create_graph=create_graph,
                    is_grads_batched=True)
    per_input = []
    for r, inp in zip(rows, inputs):
        if r is None:
            r = zeros_like(inp).expand((total,) + tuple(inp.shape))
        per_input.append([piece.view(tuple(o.shape) + tuple(inp.shape))
                          for piece, o in zip(r.split(numels, 0), outputs)])
    return tuple(zip(*per_input))


def _jacobian_forward(func: Callable, inputs, strict: bool, vectorize: bool,
                      keep_leaf_graph: bool = False):
    """Forward-mode Jacobian, a column per input element, by tapegrad.func's machinery (the
    double-backward trick). As in PyTorch, the result stays attached to the graph of tensors
    outside that require grad (grad mode on); keep_leaf_graph (hessian) also keeps it attached
    to the inputs' copies, as PyTorch's dual inputs that hessian marks requiring grad are."""
    from ..func._jacobians import forward_blocks
    from ..func._levels import Level

    if strict:
        raise RuntimeError(
            "tapegrad.autograd.functional.jacobian: `strict=True` and "
            '`strategy="forward-mode"` are not supported together (yet). Please either set '
            '`strict=False` or `strategy="reverse-mode"`.'
        )
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    if not vectorize:
        raise NotImplementedError(
            "Computing Jacobian using forward-AD or forward-over-reverse Hessian isonly "
            "implemented for `vectorize=True`."
        )
    level = Level()
    with enable_grad():
        if keep_leaf_graph:  # copies that the level does not own: results keep their graph
            level.outer = True
            leaves = [t.detach().requires_grad_() for t in inputs]
        else:
            leaves = [level.lift(t) for t in inputs]
        outputs_tuple, outputs = _as_tuple(func(*leaves), "outputs", None)
        jac = forward_blocks(level, leaves, list(outputs), functional=True)
    return _unpack(tuple(tuple(row) for row in jac), (outputs_tuple, inputs_tuple))


def jacobian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):
    """The Jacobian of func at inputs: J[i][j] has shape outputs[i].shape + inputs[j].shape.

    vectorize=True computes all rows of each block in one backward pass on a batch of
    cotangents, as PyTorch does; strategy="forward-mode" (which, as in PyTorch, needs
    vectorize=True) builds all columns at once by the double-backward trick.

    >>> import tapegrad
    >>> from tapegrad.autograd.functional import jacobian
    >>> jacobian(lambda x: x ** 2, tapegrad.tensor([1., 2.]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    if strategy not in _MODES:
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
            'function has more outputs than inputs, "forward-mode" tends to be more performant. '
            'Otherwise, prefer to use "reverse-mode".'
        )
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError(
                "tapegrad.autograd.functional.jacobian: `create_graph=True` and "
                '`strategy="forward-mode"` are not supported together (yet). Please either '
                'set `create_graph=False` or `strategy="reverse-mode"`.'
            )
        return _jacobian_forward(func, inputs, strict, vectorize)
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        outputs_tuple, outputs = _as_tuple(
            func(*inputs), "outputs of the user-provided function", "jacobian"
        )
        _strict_requires_grad(outputs, "outputs", strict)
        if vectorize and strict:
            raise RuntimeError(
                "tapegrad.autograd.functional.jacobian: `strict=True` and `vectorized=True` are "
                "not supported together. Please either set `strict=False` or "
                "`vectorize=False`."
            )
        if vectorize:
            jac = _vectorized_jacobian(inputs, outputs, create_graph)
        else:
            jac = _reverse_jacobian(inputs, outputs, create_graph, strict)
        return _unpack(_finish(jac, create_graph), (outputs_tuple, inputs_tuple))


def hessian(func: Callable, inputs, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar function: the Jacobian of its gradient.

    >>> import tapegrad
    >>> from tapegrad.autograd.functional import hessian
    >>> hessian(lambda x: (x ** 3).sum(), tapegrad.tensor([1., 2.]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in _MODES:
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def scalar_func(*inp):
        out = func(*inp)
        out_tuple, outs = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _strict_requires_grad(outs, "outputs", strict)
        if out_tuple or not isinstance(out, _tensor_cls()):
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.nelement() != 1:
            raise RuntimeError(
                "The Tensor returned by the function given to hessian should contain a single "
                "element"
            )
        return out.squeeze()

    def gradient(*inp):
        jac = jacobian(scalar_func, inp, create_graph=True)
        _strict_requires_grad(jac, "jacobian", strict)
        return jac

    if outer_jacobian_strategy == "forward-mode" and not create_graph:
        res = _jacobian_forward(gradient, inputs, strict, vectorize, keep_leaf_graph=True)
    else:
        res = jacobian(gradient, inputs, create_graph=create_graph, strict=strict,
                       vectorize=vectorize, strategy=outer_jacobian_strategy)
    return _unpack(res, (inputs_tuple, inputs_tuple))


# --- Hessian products -----------------------------------------------------------------------
def _scalar_output(func: Callable, inputs: tuple, strict: bool, fn: str) -> tuple:
    outputs_tuple, outputs = _as_tuple(
        func(*inputs), "outputs of the user-provided function", fn
    )
    _strict_requires_grad(outputs, "outputs", strict)
    if outputs_tuple or not isinstance(outputs[0], _tensor_cls()):
        raise RuntimeError(f"The function given to {fn} should return a single Tensor")
    if outputs[0].nelement() != 1:
        raise RuntimeError(
            f"The Tensor returned by the function given to {fn} should contain a single element"
        )
    return outputs_tuple, outputs


def vhp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T H): backward through the gradient of a scalar function.

    >>> import tapegrad
    >>> from tapegrad.autograd.functional import vhp
    >>> vhp(lambda x: (x ** 3).sum(), tapegrad.tensor([1., 2.]), tapegrad.ones(2))
    (tensor(9.), tensor([ 6., 12.]))
    """
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vhp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        single = len(inputs) == 1 and inputs[0].nelement() == 1
        v = _v_or_default(v, inputs, inputs_tuple, create_graph, "vhp", _V_NONE_INPUT, single)
        outputs_tuple, outputs = _scalar_output(func, inputs, strict, "vhp")
        jac = _grad_of(outputs, inputs, create_graph=True)
        _strict_requires_grad(jac, "jacobian", strict)
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        res = _grad_of(jac, inputs, v, create_graph=create_graph)
        res = _zeros_for_none(res, inputs, strict, create_graph, "double_back")
    return (_unpack(_finish(outputs, create_graph), outputs_tuple),
            _unpack(_finish(res, create_graph), inputs_tuple))


def hvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), H v), by the double-backward trick on the gradient (for a twice
    continuously differentiable function this equals vhp, which is cheaper).

    >>> import tapegrad
    >>> from tapegrad.autograd.functional import hvp
    >>> hvp(lambda x: (x ** 3).sum(), tapegrad.tensor([1., 2.]), tapegrad.ones(2))
    (tensor(9.), tensor([ 6., 12.]))
    """
    from .._creation import zeros_like

    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hvp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        single = len(inputs) == 1 and inputs[0].nelement() == 1
        v = _v_or_default(v, inputs, inputs_tuple, create_graph, "hvp", _V_NONE_INPUT, single)
        outputs_tuple, outputs = _scalar_output(func, inputs, strict, "hvp")
        jac = _grad_of(outputs, inputs, create_graph=True)
        _strict_requires_grad(jac, "jacobian", strict)
        # h(w) = H^T w is linear in the dummy w; d/dw <h(w), v> = H v
        dummies = tuple(zeros_like(t, requires_grad=True) for t in inputs)
        double_back = _grad_of(jac, inputs, dummies, create_graph=True)
        _strict_requires_grad(jac, "hessian", strict)
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        res = _grad_of(double_back, dummies, v, create_graph=create_graph)
        res = _zeros_for_none(res, inputs, strict, create_graph, "double_back_trick")
    return (_unpack(_finish(outputs, create_graph), outputs_tuple),
            _unpack(_finish(res, create_graph), inputs_tuple))

"""tapegrad.autograd: reverse-mode differentiation of the graphs tensors record."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from .. import _dtype as D
from .anomaly_mode import detect_anomaly, set_detect_anomaly
from .engine import run_backward
from .function import Function
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import gradcheck, gradgradcheck
from .graph import Node
from . import functional  # noqa: E402,I001
from . import forward_ad  # noqa: E402,I001

__all__ = [
    "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode",
    "is_grad_enabled", "is_inference_mode_enabled", "Node", "Function",
    "detect_anomaly", "set_detect_anomaly", "gradcheck", "gradgradcheck",
]


def _as_tuple(x) -> tuple:
    from .._tensor import Tensor

    if x is None:
        return ()
    if isinstance(x, Tensor):
        return (x,)
    return tuple(x)


def _check_input(t) -> None:
    from .._tensor import Tensor

    if not isinstance(t, Tensor):
        raise RuntimeError(
            f"all inputs have to be Tensors or GradientEdges, but got {type(t).__name__}"
        )


def _size_str(shape) -> str:
    return "tapegrad.Size([" + ", ".join(str(s) for s in shape) + "])"


def _make_grads(outputs, grads, is_grads_batched: bool = False) -> list:
    """Check or create the gradients the outputs start from (ones for real scalars)."""
    if _Tensor is None:
        _bind()
    Tensor = _Tensor  # noqa: N806
    result = []
    for i, (out, g) in enumerate(zip(outputs, grads)):
        if not isinstance(out, Tensor):
            raise AssertionError("Expected output to be a tapegrad.Tensor")
        if _batched(out):  # an output made under vmap: no graph at this level (_check_roots)
            result.append(g)
            continue
        if g is None:
            if out._requires_grad:
                if out._data.size != 1:
                    raise RuntimeError("grad can be implicitly created only for scalar outputs")
                if out._dtype.category == D.COMPLEX:
                    raise RuntimeError(
                        "grad can be implicitly created only for real scalar outputs but got "
                        f"{out._dtype!r}"
                    )
                a = out._data  # ones_like(out): one element, so any layout is its layout
                g = _make(np.ones(a.shape, a.dtype), None, False)
            result.append(g)
            continue
        if not isinstance(g, Tensor):
            raise TypeError(
                "gradients can be either Tensors or None, but got " + type(g).__name__
            )
        if type(g) is _Tensor:
            gshape, gdt = g._data.shape, g._dtype
        else:  # a Tensor subclass, or a BatchedTensor (one cotangent per sample, under vmap)
            gshape, gdt = tuple(g.shape), g.dtype
        if gshape != out._data.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {_size_str(gshape)} "
                f"and output[{i}] has a shape of {_size_str(out._data.shape)}."
            )
        if (out._dtype.category == D.COMPLEX) != (gdt.category == D.COMPLEX):
            raise RuntimeError(
                f"For complex Tensors, both grad_output and output are required to have the same "
                f"dtype. Mismatch in dtype: grad_output[{i}] has a dtype of {gdt!r} and "
                f"output[{i}] has a dtype of {out._dtype!r}."
            )
        if gdt is not out._dtype:
            g = g.to(out._dtype)
        result.append(g)
    return result


def _grads_tuple(grads, n: int) -> tuple:
    from .._tensor import Tensor

    if grads is None:
        return (None,) * n
    if isinstance(grads, Tensor):
        return (grads,)
    return tuple(grads)


def _inputs_tuple(inputs, fn: str) -> tuple:
    from .._tensor import Tensor

    if isinstance(inputs, Tensor):
        return (inputs,)
    if type(inputs) is dict:
        return tuple(inputs.values())
    if isinstance(inputs, Mapping):
        raise TypeError(
            f"`inputs` argument to `{fn}()` must be a dict, not {type(inputs).__name__}. "
            "Other Mapping types are not supported."
        )
    return tuple(inputs)


def _check_roots(outputs, grads) -> None:
    """The engine's checks of the roots, in PyTorch's order."""
    if len(outputs) != len(grads):
        raise RuntimeError(f"got {len(outputs)} tensors and {len(grads)} gradients")
    for i, t in enumerate(outputs):
        if _batched(t):  # autograd.grad of an output batched by vmap: as PyTorch, no graph
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn")
        if not t._requires_grad:
            from .anomaly_mode import add_no_grad_note

            raise add_no_grad_note(RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            ), t)


_CREATE_GRAPH_WARNING = (
    "Using backward() with create_graph=True will create a reference cycle between the "
    "parameter and its gradient which can cause a memory leak. We recommend using "
    "autograd.grad when creating the graph to avoid this. If you have to use this "
    "function, make sure to reset the .grad fields of your parameters to None after use "
    "to break the cycle and avoid the leak."
)


_warned_create_graph = False
_Tensor = _make = None  # from tapegrad._tensor, bound on first use (it imports this package)


def _batched(t) -> bool:
    from . import engine

    return engine._BT is not None and type(t) is engine._BT


def _bind() -> None:
    global _Tensor, _make
    from .._tensor import Tensor, _make as make

    _Tensor, _make = Tensor, make


def backward(
    tensors,
    grad_tensors=None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    grad_variables=None,
    inputs=None,
) -> None:
    """Accumulate the gradients of `tensors` into the .grad of the graph's leaves.

    >>> import tapegrad
    >>> x = tapegrad.tensor([1., 2.], requires_grad=True)
    >>> tapegrad.autograd.backward((x * x).sum())
    >>> x.grad
    tensor([2., 4.])
    """
    if _Tensor is None:
        _bind()
    if (
        type(tensors) is _Tensor and grad_tensors is None and grad_variables is None
        and inputs is None and not create_graph
    ):  # loss.backward(): a real scalar that requires grad starts from a one of its dtype
        a = tensors._data
        if tensors._requires_grad and a.size == 1 and tensors._dtype.category == D.FLOAT:
            seed = _make(np.ones(a.shape, a.dtype), None, False)
            run_backward((tensors,), [seed], retain_graph or False, False, accumulate=True)
            return
    Tensor = _Tensor  # noqa: N806

    if grad_variables is not None:
        grad_tensors = grad_variables
    ins = None
    if inputs is not None:
        ins = _inputs_tuple(inputs, "backward")
        if len(ins) == 0:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    outputs = (tensors,) if isinstance(tensors, Tensor) else tuple(tensors)
    given = _grads_tuple(grad_tensors, len(outputs))
    grads = _make_grads(outputs, given)
    if retain_graph is None:
        retain_graph = create_graph
    _check_roots(outputs, given)
    if ins is not None:
        for t in ins:
            _check_input(t)
            # as PyTorch: a non-leaf input retains its grad (in this backward and later ones)
            t.retain_grad()
    global _warned_create_graph
    if create_graph and not _warned_create_graph:
        _warned_create_graph = True  # PyTorch warns once per process
        warnings.warn(_CREATE_GRAPH_WARNING, UserWarning, stacklevel=3)
    run_backward(outputs, grads, retain_graph, create_graph, inputs=ins, accumulate=True)


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
):
    """The gradients of outputs with respect to inputs, returned rather than accumulated.

    `inputs` may be a tensor, a sequence of tensors, or a dict of them (the result is then a
    dict with the same keys).

    >>> import tapegrad
    >>> x = tapegrad.tensor(3., requires_grad=True)
    >>> tapegrad.autograd.grad(x ** 2, x)
    (tensor(6.),)
    """
    from .._tensor import Tensor

    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, but got: "
            "allow_unused=False."
        )
    if allow_unused is None:
        allow_unused = materialize_grads
    outs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    ins = _inputs_tuple(inputs, "grad")
    if len(ins) == 0:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    if not only_inputs:
        warnings.warn(
            "only_inputs argument is deprecated and is ignored now (defaults to True). To "
            "accumulate gradient for other parts of the graph, please use "
            "tapegrad.autograd.backward.",
            FutureWarning,
            stacklevel=2,
        )
    given = _grads_tuple(grad_outputs, len(outs))
    if is_grads_batched:  # dim 0 of each grad_output is a batch of cotangents
        from ..func._batching_autograd import batched_make_grads, check_batch, run_batched

        gouts = batched_make_grads(outs, given)
        check_batch(gouts)  # (before the engine's checks of the roots, as in PyTorch)
    else:
        gouts = _make_grads(outs, given)
    if retain_graph is None:
        retain_graph = create_graph
    _check_roots(outs, given)
    for t in ins:
        _check_input(t)
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    if is_grads_batched:
        res = run_batched(run_backward, outs, gouts, retain_graph, create_graph, ins)
    else:
        res = run_backward(outs, gouts, retain_graph, create_graph, inputs=ins,
                           accumulate=False)
    result = []
    for i, (t, g) in enumerate(zip(ins, res)):
        if g is None:
            if materialize_grads:
                from .._creation import zeros_like

                g = zeros_like(t, requires_grad=create_graph)
            elif not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior."
                )
        result.append(g)
    if type(inputs) is dict:
        return dict(zip(inputs.keys(), result))
    return tuple(result)

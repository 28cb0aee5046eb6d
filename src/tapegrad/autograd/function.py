"""Custom differentiable operations: `tapegrad.autograd.Function` and its context.

A subclass states a forward (run with grad mode off) and a backward; `MyFn.apply(*args)` runs
the forward and records one graph node for the whole call. That node is an instance of the
class `MyFnBackward` made for each subclass: it is both the `ctx` the user's methods receive
(so `y.grad_fn.k` reads what forward stored in `ctx.k`) and a graph Node whose `vjp` calls the
user's backward, so custom and built-in ops run through the one engine.

Rules kept from PyTorch:
- an input returned as-is comes back as a new alias (a view sharing storage and version);
- `mark_dirty` inputs become outputs of this node (their history is rebased onto it) and
  get one more version bump; `mark_non_differentiable` outputs never require grad;
- undefined output gradients reach backward as zeros of the output's shape and dtype unless
  `ctx.set_materialize_grads(False)`; non-tensor outputs always get None;
- backward returns one gradient per forward argument (trailing extra Nones are allowed); a
  non-tensor argument must get None.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _dtype as D
from . import forward_ad as _fwad
from . import grad_mode
from .engine import edge_of
from .graph import _FREED_MSG, FREED, Node, SavedTensor

__all__ = [
    "FunctionCtx", "BackwardCFunction", "FunctionMeta", "Function", "once_differentiable",
    "InplaceFunction",
]

_state = grad_mode.state
_function_ids = itertools.count()

# Filled on first use: importing the tensor module here would be circular.
Tensor: Any = None
_tp_name: Any = None
_make: Any = None


def _load() -> None:
    global Tensor, _tp_name, _make
    from .. import _tensor, _tensor_convert

    Tensor, _make, _tp_name = _tensor.Tensor, _tensor._make, _tensor_convert._tp_name


_CLEARED_MSG = (
    "saved_tensors can only be accessed once when clear_saved_tensors_on_access=True is set on "
    "the autograd.Function. Either access saved_tensors only once, or set "
    "clear_saved_tensors_on_access=False."
)
_SAVED_AS_IS_MSG = (
    "An input that has been returned as-is as output is being saved for backward. This is not "
    "supported if you override setup_context. You should return and save a view of the input "
    "instead, e.g. with x.view_as(x) or setup ctx inside the forward function itself."
)
_DIRTY_VIEW_MULTI_MSG = (
    "If your Function modifies inplace an input that is a view of another Tensor, your Function "
    "cannot return more than one Tensor. This is not supported by the current autograd engine. "
    "You should either make sure the input is not a view (using .clone() for example) or make "
    "your Function only return one Tensor (potentially splitting it into two Functions: one "
    "doing the inplace that returns a single Tensor and a second one that does the other "
    "operations). You can ask on the forum https://discuss.pytorch.org/ if you need help to do "
    "this change."
)
# Kept on such outputs as `_extra["view_error"]`: what an in-place change of them must raise.
_VIEW_IN_FN_MSG = (
    "Output {i} of {name} is a view and is being modified inplace. This view was created inside "
    "a custom Function (or because an input was returned as-is) and the autograd logic to "
    "handle view+inplace would override the custom backward associated with the custom "
    "Function, leading to incorrect gradients. This behavior is forbidden. You can fix this by "
    "cloning the output of the custom Function."
)
_VIEW_MULTI_MSG = (
    "Output {i} of {name} is a view and is being modified inplace. This view is the output of a "
    "function that returns multiple views. Such functions do not allow the output views to be "
    "modified inplace. You should replace the inplace operation by an out-of-place one."
)


class _Saved(tuple):
    """The saved tensors of a recorded Function: truthy even when empty, so the engine frees
    (marks) it after backward and a later `ctx.saved_tensors` raises, as in PyTorch."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return True


class _Accessed:
    """Marks saved tensors already read once under clear_saved_tensors_on_access."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return True


_ACCESSED = _Accessed()


class FunctionCtx:
    """The methods a custom Function's forward/setup_context call on `ctx`."""

    def save_for_backward(self, *tensors) -> None:
        """Keep tensors (or None) for backward, where `ctx.saved_tensors` returns them after
        checking they were not modified in place since."""
        self.to_save = tensors

    def save_for_forward(self, *tensors) -> None:
        """Keep tensors for a forward-mode `jvp`."""
        for t in tensors:
            if not (t is None or _is_tensor(t)):
                raise AssertionError(
                    "save_for_forward expects all arguments to be tensors; you should save "
                    "non-tensors as attributes on ctx."
                )
        self.saved_for_forward = tensors

    def mark_dirty(self, *args) -> None:
        """Declare the inputs forward modified in place (each must also be returned)."""
        self.dirty_tensors = args

    def mark_shared_storage(self, *pairs) -> None:
        warnings.warn(
            "`mark_shared_storage` is deprecated. Tensors with shared storages are automatically "
            "tracked. Note that calls to `set_()` are not tracked",
            FutureWarning,
            stacklevel=2,
        )

    def mark_non_differentiable(self, *args) -> None:
        """Declare outputs that never require grad (backward still gets a zero for them)."""
        self.non_differentiable = args

    def set_materialize_grads(self, value: bool) -> None:
        """Whether undefined output gradients reach backward as zeros (default) or None."""
        self._materialize_grads = bool(value)


def _is_tensor(x) -> bool:
    if Tensor is None:
        _load()
    return isinstance(x, Tensor)


class BackwardCFunction(Node, FunctionCtx):
    """The node (and ctx) of one call of a custom Function; subclassed per Function as
    `<Name>Backward`. Instances have a __dict__ for the user's ctx attributes."""

    _forward_cls: Any = None
    # ctx fields PyTorch exposes; the instance's own values (set by apply) shadow these
    needs_input_grad = ()
    to_save = None
    dirty_tensors = None
    non_differentiable = None
    _materialize_grads = True
    # the engine runs this node even when no gradient reached it (backward then gets zeros),
    # as PyTorch does for custom Functions
    _call_always = True
    _is_var = ()  # per forward argument: is it a tensor
    _out_meta = ()  # per output: (shape, dtype) of a tensor output, None otherwise

    def __repr__(self) -> str:
        t = type(self)
        return f"<{t.__module__}.{t.__qualname__} object at {id(self):#x}>"

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to save_for_backward, checked against in-place changes (inside
        a forward-mode `jvp`, those given to save_for_forward)."""
        if self.__dict__.get("_in_jvp"):
            return tuple(getattr(self, "saved_for_forward", None) or ())
        saved = self._saved
        if saved is FREED:
            raise RuntimeError(_FREED_MSG)
        if saved is _ACCESSED:
            raise RuntimeError(_CLEARED_MSG)
        res = tuple(None if s is None else s.unpack(self) for s in saved)
        if type(saved) is _Saved and self._forward_cls.clear_saved_tensors_on_access:
            self._saved = _ACCESSED
        return res

    @property
    def saved_variables(self) -> tuple:
        warnings.warn(
            "'saved_variables' is deprecated; use 'saved_tensors'", DeprecationWarning,
            stacklevel=2,
        )
        return self.saved_tensors

    def _user_fn(self) -> Callable:
        cls = self._forward_cls
        bwd, vjp = cls.backward, cls.vjp
        if bwd is not Function.backward and vjp is not Function.vjp:
            raise RuntimeError(
                "Implementing both 'backward' and 'vjp' for a custom Function is not allowed. "
                "You should only implement one of them."
            )
        return vjp if vjp is not Function.vjp else bwd

    def apply(self, *grads):
        """Call the user's backward on these output gradients, as they are."""
        fn = self._user_fn()
        if self._forward_cls.boxed_grads_call:
            return fn(self, list(grads))
        return fn(self, *grads)

    def vjp(self, *grads):
        """The engine's entry: materialize undefined gradients, run backward, check what it
        returned, and give one gradient per tensor argument (the node's edges)."""
        if self._materialize_grads:
            meta = self._out_meta
            grads = tuple(
                _zeros(meta[i]) if g is None and meta[i] is not None else g
                for i, g in enumerate(grads)
            )
        return self._check_grads(self.apply(*grads))

    def _check_grads(self, res) -> tuple:
        if not isinstance(res, tuple):
            res = (res,)
        is_var = self._is_var
        n = len(is_var)
        if len(res) != n:
            if len(res) > n and all(g is None for g in res[n:]):
                res = res[:n]
            else:
                raise RuntimeError(
                    f"function {self.name()} returned an incorrect number of gradients "
                    f"(expected {n}, got {len(res)})"
                )
        out = []
        for i, (g, v) in enumerate(zip(res, is_var)):
            if v:
                if g is not None and not isinstance(g, Tensor):
                    raise RuntimeError(f"expected Variable or None (got {_tp_name(g)})")
                out.append(g)
            elif g is not None:
                raise RuntimeError(
                    f"function {self.name()} returned a gradient different than None at "
                    f"position {i + 1}, but the corresponding forward input was not a Variable"
                )
        return tuple(out)


def _zeros(meta):
    shape, dt = meta
    return _make(np.zeros(shape, dtype=dt.np), None, False)


class FunctionMeta(type):
    """Makes, for each Function subclass, its node class `<Name>Backward`."""

    def __init__(cls, name, bases, attrs) -> None:
        backward_cls = type(name + "Backward", (BackwardCFunction,), {"_forward_cls": cls})
        backward_cls._autograd_function_id = next(_function_ids)
        cls._backward_cls = backward_cls
        super().__init__(name, bases, attrs)


class Function(FunctionCtx, metaclass=FunctionMeta):
    """Base class of custom differentiable operations.

    >>> import tapegrad
    >>> class Exp(tapegrad.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         out = x.exp()
    ...         ctx.save_for_backward(out)
    ...         return out
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         out, = ctx.saved_tensors
    ...         return g * out
    >>> x = tapegrad.tensor([0., 1.], requires_grad=True)
    >>> Exp.apply(x).sum().backward()
    >>> x.grad
    tensor([1.0000, 2.7183])
    """

    generate_vmap_rule = False
    clear_saved_tensors_on_access = False
    boxed_grads_call = False

    def __init__(self, *args, **kwargs) -> None:
        warnings.warn(
            f"{self.__class__} should not be instantiated. Methods on autograd functions are "
            "all static, so you should invoke them on the class itself. Instantiating an "
            "autograd function will raise an error in a future version of PyTorch.",
            DeprecationWarning,
            stacklevel=2,
        )

    def __call__(self, *args, **kwargs):
        raise RuntimeError(
            "Legacy autograd function with non-static forward method is deprecated. Please use "
            "new-style autograd function with static forward method. (Example: "
            "https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)"
        )

    @staticmethod
    def forward(*args: Any, **kwargs: Any) -> Any:
        """`forward(ctx, *args)`, or `forward(*args)` together with `setup_context`."""
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> Any:
        """Fill ctx from the inputs and output of a forward that takes no ctx."""
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        """One gradient per forward argument from one gradient per forward output."""
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    vjp = backward

    @staticmethod
    def jvp(ctx: Any, *grad_inputs: Any) -> Any:
        """Forward-mode rule (not used by tapegrad yet)."""
        raise NotImplementedError(
            "You must implement the jvp function for custom autograd.Function to use it with "
            "forward mode AD."
        )

    @staticmethod
    def vmap(info, in_dims, *args):
        raise NotImplementedError(
            "To use autograd.Function with vmap, you must either override the vmap staticmethod "
            "or set generate_vmap_rule=True."
        )

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward on the arguments and record the call in the graph."""
        setup = cls.setup_context is not Function.setup_context
        if not setup and TRANSFORMS.depth:
            raise RuntimeError(SETUP_CONTEXT_MSG)
        if setup:
            bound = _signature(cls.forward).bind(*args, **kwargs)
            bound.apply_defaults()
            args, kwargs = bound.args, bound.kwargs
        return _apply(cls, setup, args, kwargs)


_signature = functools.lru_cache(maxsize=512)(inspect.signature)


class _Transforms(threading.local):
    """How many tapegrad.func transforms (grad, vjp, jvp, jacrev, jacfwd, hessian) are
    calling their function in this thread: a Function needs setup_context inside them."""

    depth = 0


TRANSFORMS = _Transforms()
SETUP_CONTEXT_MSG = (
    "In order to use an autograd.Function with functorch transforms (vmap, grad, jvp, jacrev, "
    "...), it must override the setup_context staticmethod. For more details, please see "
    "https://pytorch.org/docs/main/notes/extending.func.html"
)


class InplaceFunction(Function):
    """Kept for compatibility with old code; use Function."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace


def _apply(cls, setup: bool, args: tuple, kwargs: dict):
    if Tensor is None:
        _load()
    ctx = cls._backward_cls()
    inputs = args + tuple(kwargs.values()) if kwargs else args
    is_var = tuple(isinstance(a, Tensor) for a in inputs)
    needs = tuple(v and a._requires_grad for v, a in zip(is_var, inputs))
    executable = _state.enabled and any(needs)
    ctx.needs_input_grad = needs
    ctx._is_var = is_var
    if executable:
        # edges taken before forward runs: a dirty input is rebased onto ctx afterwards
        edges, meta = [], []
        for v, a in zip(is_var, inputs):
            if not v:
                continue
            if a._requires_grad:
                edges.append(edge_of(a))
                meta.append((a._data.shape, a._dtype))
            else:
                edges.append((None, 0))
                meta.append(None)
        ctx._next = tuple(edges)
        ctx._in_meta = tuple(meta)
    tangents = _fwad.tangents_of(inputs) if _fwad._level is not None else None
    prev = _state.enabled
    _state.enabled = False
    if tangents is not None:
        _fwad._suspended += 1  # forward sees plain tensors; jvp below gives the tangents
    try:
        if setup:
            output = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, output)
        else:
            output = cls.forward(ctx, *args, **kwargs)
    finally:
        _state.enabled = prev
        if tangents is not None:
            _fwad._suspended -= 1
    result = _process_outputs(ctx, inputs, output, executable, setup)
    if tangents is not None:
        _fwad.custom_jvp(cls, ctx, inputs, tangents, result)
    return result


_NONE: frozenset = frozenset()


def _process_outputs(ctx, inputs, output, executable: bool, setup: bool):
    is_tuple = isinstance(output, tuple)
    raw = tuple(output) if is_tuple else (output,)
    n = len(raw)

    non_diff = dirty_ids = _NONE
    if ctx.non_differentiable:
        non_diff = set()
        for t in ctx.non_differentiable:
            if not isinstance(t, Tensor):
                raise RuntimeError(
                    "mark_non_differentiable only accepts variable arguments, but got ")
            non_diff.add(id(t))
    if ctx.dirty_tensors:
        dirty_ids = set()
        for t in ctx.dirty_tensors:
            if not isinstance(t, Tensor):
                raise RuntimeError("mark_dirty can only accept variables, but argument ")
            dirty_ids.add(id(t))
            t._bump_version()  # PyTorch bumps a dirty tensor's version once more here
    to_save = ctx.to_save or ()
    if executable:
        for i, t in enumerate(to_save):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward can only save variables, but argument {i} is of type "
                    f"{_tp_name(t)}"
                )
    input_ids = {id(a) for a in inputs if isinstance(a, Tensor)}
    saved_ids = {id(t) for t in to_save} if setup and executable else ()
    node = ctx if executable else None

    outs = []
    meta = []
    diff_views = []
    for i, var in enumerate(raw):
        if not isinstance(var, Tensor):
            outs.append(var)
            meta.append(None)
            continue
        meta.append((var._data.shape, var._dtype))
        is_input = id(var) in input_ids
        is_modified = id(var) in dirty_ids
        diff = node is not None and id(var) not in non_diff and var._dtype.category >= D.FLOAT
        if not diff:
            if not var._requires_grad:
                if is_input and not is_modified:
                    var = _alias(var, None, 0)
            elif is_input:
                var = var.detach()
            elif var._base is None:
                var._grad_fn = None
                var._requires_grad = False
                var._output_nr = 0
        elif is_modified:
            _rebase_dirty(var, node, i, n, is_input)
        elif is_input:
            if id(var) in saved_ids:
                raise RuntimeError(_SAVED_AS_IS_MSG)
            var = _alias(var, node, i)
        else:
            var._grad_fn = node
            var._output_nr = i
            var._requires_grad = True
        if diff and not is_modified and var._base is not None:
            diff_views.append((i, var))
        outs.append(var)

    if dirty_ids:
        raw_ids = {id(v) for v in raw}
        if not dirty_ids <= raw_ids:
            raise RuntimeError(
                "Some elements marked as dirty during the forward method were not returned as "
                "output. The inputs that are modified inplace must all be outputs of the "
                "Function."
            )
    if diff_views:
        _mark_views(ctx, diff_views, sum(1 for m in meta if m is not None) > 1)

    if node is not None:
        node.n_outputs = n
        node._out_meta = tuple(meta)
        node._saved = _Saved(
            [None if t is None else SavedTensor(t, t._grad_fn is node) for t in to_save]
        )
    ctx.to_save = None
    ctx.dirty_tensors = None
    ctx.non_differentiable = None
    return tuple(outs) if is_tuple else outs[0]


def _alias(t, node, output_nr: int):
    """A new tensor viewing t's storage (shared version counter), recorded as output
    output_nr of node when node is given: PyTorch's answer to an input returned as-is."""
    from ..ops._core import wrap_view

    out = wrap_view(t._data.view(), t, node)
    out._output_nr = output_nr
    return out


def _rebase_dirty(var, node, i: int, n: int, is_input: bool) -> None:
    """Make a tensor modified in place by forward an output of node (its old history is the
    input edge node already holds)."""
    if var._grad_fn is None and var._requires_grad:
        raise RuntimeError(
            "a leaf Variable that requires grad has been used in an in-place operation."
        )
    if not is_input:
        warnings.warn(
            "ctx.mark_dirty() received a tensor that was not an input. Only input Tensors that "
            "have been mutated should be passed to ctx.mark_dirty().",
            UserWarning,
            stacklevel=4,
        )
    if var._base is not None:
        if n > 1:
            raise RuntimeError(_DIRTY_VIEW_MULTI_MSG)
        b = var._base
        if b._grad_fn is None and b._requires_grad:
            raise RuntimeError(
                "a view of a leaf Variable that requires grad is being used in an in-place "
                "operation."
            )
        from ..ops._inplace_record import rebase_view

        rebase_view(var, node, i)  # the base's history goes through CopySlices
        return
    old_fn = var._grad_fn
    var._grad = None
    var._accum = None
    var._grad_fn = node
    var._output_nr = i
    var._requires_grad = True
    if var._extra:
        # hooks registered before stay on the old node; retain_grad follows the new value
        from .hooks import on_new_grad_fn

        on_new_grad_fn(var, old_fn)


def _mark_views(ctx, views, multi: bool) -> None:
    name = type(ctx).__name__
    if name.endswith("Backward"):
        name = name[: -len("Backward")]
    msg = _VIEW_MULTI_MSG if multi else _VIEW_IN_FN_MSG
    for i, var in views:
        var._extra = {**(var._extra or {}), "view_error": msg.format(i=i, name=name)}


class Error(Node):
    """The node behind the gradients of a `@once_differentiable` backward recorded with
    create_graph=True: differentiating through it raises."""

    def name(self) -> str:
        return "tapegrad::autograd::Error"

    def vjp(self, *grads):
        raise RuntimeError(self.msg)


def once_differentiable(fn: Callable) -> Callable:
    """Decorate a backward that is not itself differentiable: it runs without recording,
    and a later attempt to differentiate its results raises."""

    @functools.wraps(fn)
    def wrapper(ctx, *args, **kwargs):
        prev = _state.enabled
        _state.enabled = False
        try:
            outputs = fn(ctx, *args, **kwargs)
        finally:
            _state.enabled = prev
        if not prev:
            return outputs
        if not any(_is_tensor(a) and a._requires_grad for a in args):
            return outputs
        outs = outputs if isinstance(outputs, tuple) else (outputs,)
        node = Error()
        node.msg = (
            "trying to differentiate twice a function that was marked with @once_differentiable"
        )
        edges, meta, res = [], [], []
        for i, o in enumerate(outs):
            if o is None:
                edges.append((None, 0))
                meta.append(None)
                res.append(None)
                continue
            leaf = _make(o._data, None, True)  # a detached stand-in requiring grad
            edges.append((leaf._accumulator(), 0))
            meta.append((o._data.shape, o._dtype))
            r = _make(o._data, node, True)
            r._output_nr = i
            res.append(r)
        node._next = tuple(edges)
        node._in_meta = tuple(meta)
        node.n_outputs = len(outs)
        return tuple(res) if isinstance(outputs, tuple) else res[0]

    return wrapper

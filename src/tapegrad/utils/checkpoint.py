"""Activation checkpointing: run part of a model without keeping the tensors its ops save for
backward, and recompute them from the part's inputs when the backward pass needs them.

Two variants, as in PyTorch:
- use_reentrant=False (recommended): the forward records its graph as usual, under
  saved-tensor hooks whose pack keeps only an empty holder per saved tensor. The first unpack
  in a backward pass reruns the function (RNG state restored, so dropout draws the same mask)
  under hooks that fill the holders in order, stopping once all are filled; each holder is
  emptied as it is unpacked, so recomputed values live only as long as they are needed.
- use_reentrant=True (PyTorch's default, with a warning, when use_reentrant is not passed):
  the forward runs without recording a graph; one node (CheckpointFunctionBackward) stands for
  it, and its backward reruns the function with grad enabled and backpropagates through that
  inner graph (a backward pass inside the backward pass).
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd import grad_mode
from ..autograd.engine import edge_of
from ..autograd.graph import Node, SavedTensor, saved_tensors_hooks

__all__ = [
    "checkpoint", "checkpoint_sequential", "CheckpointError", "CheckpointFunctionBackward",
    "set_checkpoint_early_stop", "set_checkpoint_debug_enabled", "noop_context_fn",
    "detach_variable", "check_backward_validity",
]

_DEFAULT_DETERMINISM_MODE = "default"
_enable_checkpoint_early_stop: bool | None = None
_checkpoint_debug_enabled: bool | None = None

_DEBUG_TIP = """
Tip: To see a more detailed error message, either pass `debug=True` to
`tapegrad.utils.checkpoint.checkpoint(...)` or wrap the code block
with `with tapegrad.utils.checkpoint.set_checkpoint_debug_enabled(True):` to
enable checkpoint\u2011debug mode globally.

If this error occurs under tapegrad.compile with automatic_dynamic_shapes enabled,
it may be because the recomputation selected a different compiled graph than the
forward pass (e.g., a dynamic graph instead of the original static graph).
To fix this, either:
  - Use tapegrad._dynamo.mark_dynamic() to explicitly mark varying dimensions as
    dynamic upfront, avoiding the static-to-dynamic transition.
  - Call tapegrad._C._dynamo.eval_frame._set_lru_cache(False) to disable LRU cache
    reordering, which can change which graph is checked first between forward
    and recompute.
See https://github.com/pytorch/pytorch/issues/166926 for more details and
workaround examples.
"""


class CheckpointError(RuntimeError):
    """Raised when the recomputation does not save what the original forward saved."""


def noop_context_fn():
    """The default context_fn: no context around the forward nor the recomputation."""
    return contextlib.nullcontext(), contextlib.nullcontext()


@contextlib.contextmanager
def set_checkpoint_early_stop(enable: bool):
    """Whether checkpoints made inside the block stop recomputing once every saved tensor
    they need is recomputed (the default, True)."""
    global _enable_checkpoint_early_stop
    prev = _enable_checkpoint_early_stop
    try:
        _enable_checkpoint_early_stop = enable
        yield
    finally:
        _enable_checkpoint_early_stop = prev


@contextlib.contextmanager
def set_checkpoint_debug_enabled(enabled: bool | None):
    """Turn checkpoint's debug mode on or off for the checkpoints made inside the block."""
    global _checkpoint_debug_enabled
    prev = _checkpoint_debug_enabled
    try:
        _checkpoint_debug_enabled = enabled
        yield
    finally:
        _checkpoint_debug_enabled = prev


def detach_variable(inputs: tuple) -> tuple:
    """The tensors of inputs detached, each keeping its requires_grad flag."""
    if not isinstance(inputs, tuple):
        raise RuntimeError(
            "Only tuple of tensors is supported. Got Unsupported input type: "
            f"{type(inputs).__name__}"
        )
    out = []
    for inp in inputs:
        if isinstance(inp, Tensor):
            x = inp.detach()
            x.requires_grad = inp.requires_grad
            out.append(x)
        else:
            out.append(inp)
    return tuple(out)


def check_backward_validity(inputs: Iterable[Any]) -> None:
    if not any(inp.requires_grad for inp in inputs if isinstance(inp, Tensor)):
        warnings.warn(
            "None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2
        )


def _rng_state():
    from .. import _random

    return _random.get_rng_state()


def _set_rng_state(state) -> None:
    from .. import _random

    _random.set_rng_state(state)


def checkpoint(
    function: Callable,
    *args,
    use_reentrant: bool | None = None,
    context_fn: Callable = noop_context_fn,
    determinism_check: str = _DEFAULT_DETERMINISM_MODE,
    debug: bool = False,
    early_stop: bool = True,
    **kwargs,
):
    """Run function(*args, **kwargs) without keeping its saved tensors: they are recomputed
    by running it again when backward needs them. Pass use_reentrant=False.

    >>> import tapegrad
    >>> from tapegrad.utils.checkpoint import checkpoint
    >>> x = tapegrad.tensor([1., 2.], requires_grad=True)
    >>> y = checkpoint(lambda t: t.sin().exp(), x, use_reentrant=False)
    >>> y.sum().backward()
    >>> x.grad
    tensor([ 1.2534, -1.0331])
    """
    if use_reentrant is None:
        warnings.warn(
            "tapegrad.utils.checkpoint: the use_reentrant parameter should be passed "
            "explicitly. Starting in PyTorch 2.9, calling checkpoint without use_reentrant will "
            "raise an exception. use_reentrant=False is recommended, but if you need to preserve "
            "the current default behavior, you can pass use_reentrant=True. Refer to docs for "
            "more details on the differences between the two variants.",
            stacklevel=2,
        )
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs and use_reentrant:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    if use_reentrant:
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError(
                "Passing `context_fn` or `debug` is only supported when use_reentrant=False."
            )
        return _reentrant(function, preserve, args)
    return _non_reentrant(function, preserve, context_fn, determinism_check, debug, early_stop,
                          args, kwargs)


# --- use_reentrant=False ---------------------------------------------------------------------
class _Holder:
    """Stands in the graph for one saved tensor of a checkpointed region; `value` holds its
    recomputed values between the recomputation and the unpack that takes them."""

    __slots__ = ("value", "__weakref__")

    def __init__(self) -> None:
        self.value = None


class _StopRecomputation(Exception):
    pass


def _metadata(t: Tensor) -> dict:
    return {"shape": t.shape, "dtype": t.dtype, "device": t.device}


class _Frame:
    """One checkpointed call: what is needed to run it again, and its holders in save order."""

    def __init__(self, fn, args, kwargs, rng, early_stop, metadata_fn, recompute_ctx) -> None:
        self.fn = fn
        self.kwargs = kwargs
        # tensor inputs are saved like any op's inputs (version-checked; packed by the hooks
        # of an enclosing checkpoint, which makes nested checkpoints recompute outside-in)
        self.args = [SavedTensor(a) if isinstance(a, Tensor) else a for a in args]
        self.rng = rng
        self.early_stop = early_stop
        self.metadata_fn = metadata_fn
        self.recompute_ctx = recompute_ctx
        self.holders: list = []  # weak references: a holder dies with the node that saved it
        self.metas: list = []
        self.forward_done = False

    def pack(self, t: Tensor) -> _Holder:
        h = _Holder()
        self.holders.append(weakref.ref(h))
        if self.metadata_fn is not None:
            self.metas.append(self.metadata_fn(t))
        return h

    def unpack(self, h: _Holder) -> Tensor:
        if h.value is None:
            self.recompute()
        v = h.value
        h.value = None  # recomputed values do not outlive their use, even with retain_graph
        return v

    def recompute(self) -> None:
        args = [a.unpack(None) if type(a) is SavedTensor else a for a in self.args]
        holders = self.holders
        n = len(holders)
        count = 0
        extra_ok = not self.forward_done

        def pack(t):
            nonlocal count
            i = count
            count += 1
            t = t.detach()
            if i >= n:
                if extra_ok:  # a backward pass run inside the checkpointed function itself
                    return t
                raise CheckpointError(
                    "tapegrad.utils.checkpoint: trying to save more tensors during recomputation "
                    f"than during the original forward pass.\n{_DEBUG_TIP}"
                )
            h = holders[i]()
            if h is not None:  # else its node was freed already: nothing to fill
                h.value = t
            if self.early_stop and count == n:
                raise _StopRecomputation
            return t

        outer = _rng_state() if self.rng is not None else None
        try:
            if self.rng is not None:
                _set_rng_state(self.rng)
            with saved_tensors_hooks(pack, _identity), grad_mode.enable_grad(), \
                    self.recompute_ctx:
                self.fn(*args, **self.kwargs)
        except _StopRecomputation:
            pass
        finally:
            if outer is not None:
                _set_rng_state(outer)
        if extra_ok:
            return
        self.check(count)

    def check(self, count: int) -> None:
        """PyTorch's determinism check: as many tensors saved, with the same metadata."""
        if count != len(self.holders):
            raise CheckpointError(
                "tapegrad.utils.checkpoint: A different number of tensors was saved during the "
                "original forward and recomputation.\n"
                f"Number of tensors saved during forward: {len(self.holders)}\n"
                f"Number of tensors saved during recomputation: {count}.\n{_DEBUG_TIP}"
            )
        if self.metadata_fn is None:
            return
        bad = ""
        for i, ref in enumerate(self.holders):
            h = ref()
            if h is None or h.value is None:
                continue
            got = self.metadata_fn(h.value)
            if got != self.metas[i]:
                bad += (f"tensor at position {i}:\nsaved metadata: {self.metas[i]}\n"
                        f"recomputed metadata: {got}\n")
        if bad:
            raise CheckpointError(
                "tapegrad.utils.checkpoint: Recomputed values for the following tensors have "
                f"different metadata than during the forward pass.\n{bad}.\n{_DEBUG_TIP}"
            )


def _identity(x):
    return x


def _non_reentrant(fn, preserve, context_fn, determinism_check, debug, early_stop, args, kwargs):
    if _checkpoint_debug_enabled if _checkpoint_debug_enabled is not None else debug:
        if context_fn is not noop_context_fn:
            raise ValueError("debug=True is incompatible with non-default context_fn")
        raise NotImplementedError(
            "tapegrad.utils.checkpoint: debug=True is not yet supported (it needs a log of the "
            "operators run, which tapegrad does not record)"
        )
    checks = {_DEFAULT_DETERMINISM_MODE: _metadata, "none": None}
    if determinism_check not in checks:
        raise ValueError(
            f"determinism_check should be one of {list(checks.keys())}, but got "
            f"{determinism_check}"
        )
    forward_ctx, recompute_ctx = context_fn()
    if not grad_mode.state.enabled:
        with forward_ctx:
            return fn(*args, **kwargs)
    rng = _rng_state() if preserve else None
    stop = _enable_checkpoint_early_stop
    frame = _Frame(fn, args, kwargs, rng, early_stop if stop is None else stop,
                   checks[determinism_check], recompute_ctx)
    suppressed = True
    with saved_tensors_hooks(frame.pack, frame.unpack), forward_ctx:
        ret = fn(*args, **kwargs)
        suppressed = False
    if suppressed:
        raise RuntimeError(
            "tapegrad.utils.checkpoint: the forward context provided by context_fn suppressed an "
            "exception raised during the checkpointed forward. This is not supported because "
            "checkpoint cannot return a value for a failed forward."
        )
    frame.forward_done = True
    return ret


# --- use_reentrant=True ----------------------------------------------------------------------
class CheckpointFunctionBackward(Node):
    """The one node of a reentrant checkpoint: its backward reruns the function with grad
    enabled on detached copies of the inputs and backpropagates through that graph."""

    __slots__ = ("fn", "rng", "args", "n_outputs", "out_meta")

    def name(self) -> str:
        return "CheckpointFunctionBackward"

    def __repr__(self) -> str:
        return f"<tapegrad.autograd.function.CheckpointFunctionBackward object at {id(self):#x}>"

    def vjp(self, *grads):
        saved = iter(self.saved_tensors())
        inputs = [next(saved) if a is _TENSOR else a for a in self.args]
        outer = _rng_state() if self.rng is not None else None
        try:
            if self.rng is not None:
                _set_rng_state(self.rng)
            detached = detach_variable(tuple(inputs))
            with grad_mode.enable_grad():
                outputs = self.fn(*detached)
        finally:
            if outer is not None:
                _set_rng_state(outer)
        if isinstance(outputs, Tensor):
            outputs = (outputs,)
        outs, gs = [], []
        for o, g, meta in zip(outputs, grads, self.out_meta):
            if isinstance(o, Tensor) and o.requires_grad:
                outs.append(o)
                # an output no gradient reached gets zeros (autograd.Function's default)
                gs.append(g if g is not None else _zeros(meta))
        if not outs:
            raise RuntimeError(
                "none of output has requires_grad=True, this checkpoint() is not necessary"
            )
        from ..autograd import backward

        backward(outs, gs)
        return tuple(d.grad for d in detached if isinstance(d, Tensor))


_TENSOR = object()  # marks the places of tensor arguments in CheckpointFunctionBackward.args


def _zeros(meta):
    from .._creation import zeros

    shape, dt = meta
    return zeros(shape, dtype=dt)


def _reentrant(fn, preserve: bool, args: tuple):
    check_backward_validity(args)
    rng = _rng_state() if preserve else None
    with grad_mode.no_grad():
        outputs = fn(*args)
    tensors = [a for a in args if isinstance(a, Tensor)]
    if not (grad_mode.state.enabled and any(t._requires_grad for t in tensors)):
        return outputs
    node = CheckpointFunctionBackward()
    node.fn = fn
    node.rng = rng
    node.args = [_TENSOR if isinstance(a, Tensor) else a for a in args]
    node._next = tuple(edge_of(t) if t._requires_grad else (None, 0) for t in tensors)
    node._in_meta = tuple((t._data.shape, t._dtype) if t._requires_grad else None
                          for t in tensors)
    node._saved = tuple(SavedTensor(t) for t in tensors)
    single = not isinstance(outputs, tuple)
    outs = (outputs,) if single else outputs
    node.n_outputs = len(outs)
    node.out_meta = [(o._data.shape, o._dtype) if isinstance(o, Tensor) else None for o in outs]
    wrapped = []
    for i, o in enumerate(outs):
        if isinstance(o, Tensor) and o._dtype.category >= D.FLOAT:
            r = _make(o._data, node, True)
            r._output_nr = i
            o = r
        wrapped.append(o)
    return wrapped[0] if single else tuple(wrapped)


def checkpoint_sequential(functions, segments: int, input, use_reentrant: bool | None = None,
                          **kwargs):
    """Run the sequence `functions` (a list of callables or an nn.Sequential) on `input` in
    `segments` chunks, checkpointing every chunk but the last."""
    if use_reentrant is None:
        warnings.warn(
            "tapegrad.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should "
            "be passed explicitly. In version 2.9 we will raise an exception if use_reentrant is "
            "not passed. use_reentrant=False is recommended, but if you need to preserve the "
            "current default behavior, you can pass use_reentrant=True. Refer to docs for more "
            "details on the differences between the two variants.",
            stacklevel=2,
        )
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))

    def run(start: int, end: int):
        def forward(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x

        return forward

    from .. import nn

    sequential = getattr(nn, "Sequential", None)
    if sequential is not None and isinstance(functions, sequential):
        functions = list(functions.children())
    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant,  # noqa: A001
                           preserve_rng_state=preserve)
    return run(end + 1, len(functions) - 1)(input)

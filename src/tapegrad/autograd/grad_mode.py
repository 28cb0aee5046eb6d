"""Grad modes: no_grad, enable_grad, set_grad_enabled, inference_mode (all thread-local).

Each is a context manager and a decorator (of functions and of generator functions, whose
every resumption runs under the mode), as in PyTorch. `no_grad` and `enable_grad` also work
as bare decorators (`@tapegrad.no_grad`), and `set_grad_enabled(False)` acts at once when
called as a function.
"""

from __future__ import annotations

import functools
import inspect
import threading
import warnings

__all__ = [
    "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
    "is_inference_mode_enabled",
]


class _GradState(threading.local):
    """Per-thread switches read on every op: `enabled` (record graphs) and `inference`."""

    enabled = True
    inference = False


state = _GradState()

# How many inference_mode(True) blocks are open across all threads. Tensor creation reads this
# plain global first (cheap) and only looks at the thread-local flag while it is non-zero.
_inference_lock = threading.Lock()
_inference_open = 0


def _publish_inference(delta: int) -> None:
    global _inference_open
    from .. import _tensor

    with _inference_lock:
        _inference_open += delta
        _tensor._INFERENCE_OPEN = _inference_open


def is_grad_enabled() -> bool:
    """Whether operations record a graph in this thread.

    >>> import tapegrad
    >>> tapegrad.is_grad_enabled()
    True
    """
    return state.enabled


def is_inference_mode_enabled() -> bool:
    """Whether this thread is inside an enabled inference_mode block.

    >>> import tapegrad
    >>> with tapegrad.inference_mode():
    ...     tapegrad.is_inference_mode_enabled()
    True
    """
    return state.inference


def _set_enabled(mode) -> None:
    state.enabled = bool(mode)


def _wrap_generator(ctx_factory, func):
    """Run each step of a generator under a fresh context from ctx_factory (PyTorch's rule:
    the mode holds whenever the generator runs, and not while its caller does)."""

    @functools.wraps(func)
    def generator_context(*args, **kwargs):
        gen = func(*args, **kwargs)
        try:
            with ctx_factory():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with ctx_factory():
                        gen.close()
                    raise
                except BaseException as e:
                    with ctx_factory():
                        response = gen.throw(e)
                else:
                    with ctx_factory():
                        response = gen.send(request)
        except StopIteration as e:
            return e.value

    return generator_context


class _DecoratorContextManager:
    """Base for grad-mode context managers that also work as decorators."""

    def __call__(self, orig_func):
        if inspect.isclass(orig_func):
            warnings.warn(
                "Decorating classes is deprecated and will be disabled in future versions. You "
                "should only decorate functions or methods. To preserve the current behavior of "
                "class decoration, you can directly decorate the `__init__` method and nothing "
                "else.",
                FutureWarning,
                stacklevel=2,
            )
            cls = orig_func

            def func(*args, **kwargs):
                return cls(*args, **kwargs)
        else:
            func = orig_func
        factory = self.clone
        if inspect.isgeneratorfunction(func):
            return _wrap_generator(factory, func)

        @functools.wraps(func)
        def decorate_context(*args, **kwargs):
            with factory():
                return func(*args, **kwargs)

        return decorate_context

    def __enter__(self) -> None:  # pragma: no cover - every mode overrides it
        raise NotImplementedError

    def __exit__(self, exc_type, exc_value, traceback) -> None:  # pragma: no cover
        raise NotImplementedError

    def clone(self):
        return self.__class__()


class _NoParamDecoratorContextManager(_DecoratorContextManager):
    """Also usable as a decorator without parentheses: `@no_grad` as well as `@no_grad()`."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamDecoratorContextManager):
    """Context manager and decorator under which operations record no graph.

    Factory functions given requires_grad=True still make tensors that require grad.

    >>> import tapegrad
    >>> x = tapegrad.ones(2, requires_grad=True)
    >>> with tapegrad.no_grad():
    ...     print((x * 2).requires_grad)
    False
    """

    def __init__(self) -> None:
        self.prev = False

    def __enter__(self) -> None:
        self.prev = state.enabled
        state.enabled = False

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        state.enabled = self.prev


class enable_grad(_NoParamDecoratorContextManager):
    """Context manager and decorator that turns graph recording back on (e.g. inside no_grad).

    >>> import tapegrad
    >>> with tapegrad.no_grad(), tapegrad.enable_grad():
    ...     tapegrad.is_grad_enabled()
    True
    """

    def __enter__(self) -> None:
        self.prev = state.enabled
        state.enabled = True

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        state.enabled = self.prev


class set_grad_enabled(_DecoratorContextManager):
    """Turn graph recording on or off; acts at once as a function and as a context manager.

    >>> import tapegrad
    >>> with tapegrad.set_grad_enabled(False):
    ...     tapegrad.is_grad_enabled()
    False
    """

    def __init__(self, mode: bool) -> None:
        if type(mode) is not bool:
            raise TypeError(
                "set_grad_enabled(): argument 'enabled' (position 1) must be bool, not "
                f"{type(mode).__name__}"
            )
        self.prev = state.enabled
        self.mode = mode
        state.enabled = mode

    def __call__(self, orig_func):
        state.enabled = self.prev
        return super().__call__(orig_func)

    def __enter__(self) -> None:
        state.enabled = self.mode

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        state.enabled = self.prev

    def __str__(self) -> str:
        return f"tapegrad.autograd.grad_mode.set_grad_enabled(mode={self.mode})"

    __repr__ = __str__

    def clone(self) -> set_grad_enabled:
        return self.__class__(self.mode)


class inference_mode(_DecoratorContextManager):
    """Like no_grad, and the tensors made inside are inference tensors (`is_inference()`).

    >>> import tapegrad
    >>> with tapegrad.inference_mode():
    ...     t = tapegrad.ones(2)
    >>> t.is_inference(), t.requires_grad
    (True, False)
    """

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode

    def __new__(cls, mode=True):
        if isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)

    def __enter__(self) -> None:
        self.prev = (state.enabled, state.inference)
        if self.mode:
            state.enabled = False
            state.inference = True
            _publish_inference(1)
        else:  # inference_mode(False) turns grad mode back on, as PyTorch's guard does
            state.enabled = True
            state.inference = False

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        state.enabled, state.inference = self.prev
        if self.mode:
            _publish_inference(-1)

    def clone(self) -> inference_mode:
        return self.__class__(self.mode)

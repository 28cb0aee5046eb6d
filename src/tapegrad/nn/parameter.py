"""Parameter (a tensor a Module registers as learnable) and Buffer (a tensor marked as state)."""

from __future__ import annotations

from .. import _dtype as D
from .._tensor import Tensor, _init

__all__ = ["Parameter", "Buffer", "UninitializedParameter", "is_lazy"]


def _empty_default():
    from .._creation import empty

    return empty(0)


class Parameter(Tensor):
    """A tensor that is a module parameter: assigning one to a Module attribute registers it.

    It shares its values and version counter with `data` (which it detaches), and requires
    grad unless told otherwise. Operations on a Parameter return plain tensors.

    >>> import tapegrad
    >>> tapegrad.nn.Parameter(tapegrad.ones(2))
    Parameter containing:
    tensor([1., 1.], requires_grad=True)
    """

    # no __slots__: like PyTorch's parameters, instances accept arbitrary attributes

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = _empty_default()
        if not isinstance(data, Tensor):
            raise TypeError(
                f"_make_subclass(): argument 'data' (position 2) must be Tensor, not "
                f"{type(data).__name__}"
            )
        if requires_grad and data._dtype.category < D.FLOAT:
            raise RuntimeError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        self = object.__new__(cls)
        _init(self, data._data, None, bool(requires_grad))
        if data._vc is None:
            from ..autograd.graph import VersionCounter

            data._vc = VersionCounter()
        self._vc = data._vc  # an alias of data: in-place changes of either bump both
        return self

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # all the work is done in __new__

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = type(self)(self.data.clone(), self._requires_grad)
        memo[id(self)] = out
        if self._grad is not None:
            out._grad = self._grad.__deepcopy__(memo)
        return out

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (type(self), self._data.copy(), self._requires_grad))


Parameter.__module__ = "tapegrad.nn.parameter"


def _rebuild_parameter(cls, data, requires_grad):
    from .._tensor import _make

    return cls(_make(data), requires_grad)


class _BufferMeta(type):
    """isinstance(t, Buffer) is true for tensors made by Buffer(...) (which are plain tensors)."""

    def __instancecheck__(cls, obj) -> bool:
        if type(obj) is cls:
            return True
        return isinstance(obj, Tensor) and bool(obj._extra) and "is_buffer" in obj._extra


class Buffer(metaclass=_BufferMeta):
    """Mark a tensor as a buffer: assigning it to a Module attribute registers it as one.

    `Buffer(data, persistent=False)` keeps it out of the state_dict. The result is a plain
    tensor that shares data's values.
    """

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True):
        if data is None:
            data = _empty_default()
        t = data.detach().requires_grad_(data.requires_grad)
        t._extra = {**(t._extra or {}), "is_buffer": bool(persistent)}
        return t


Buffer.__module__ = "tapegrad.nn.parameter"


def _buffer_persistent(t) -> bool:
    return bool(t._extra.get("is_buffer", True))


class UninitializedParameter(Parameter):
    """Placeholder of lazy modules (not supported by tapegrad)."""

    def __new__(cls, *args, **kwargs):
        raise NotImplementedError("tapegrad: lazy modules are not yet supported")


def is_lazy(param) -> bool:
    """Whether param is an uninitialized lazy parameter (never, in tapegrad)."""
    return isinstance(param, UninitializedParameter)

"""The state of vmap (its active levels) and BatchedTensor, the value functions see under vmap.

A BatchedTensor holds a physical value whose dim 0 is the batch dim of its level; the value is
a Tensor, or, under nested vmap, a BatchedTensor of a lower level. It shows the logical tensor
(one sample): `.shape` drops dim 0. It is not a Tensor subclass, so code that reads a Tensor's
NumPy array fails loudly on it; `isinstance(x, tapegrad.Tensor)` still holds (its `__class__`
says Tensor), so user code that checks for tensors takes the tensor path, as in PyTorch.

Its methods and operators go through `_batching_dispatch` to a batching rule (or a loop over
the samples where there is none).
"""

from __future__ import annotations

import itertools
import math
import threading

from .._size import Size
from .._tensor import Tensor, _wrap_dim

__all__ = ["BatchedTensor", "STATE", "vmap_error"]


class _Layer:
    __slots__ = ("level", "size", "randomness")

    def __init__(self, level: int, size: int, randomness: str) -> None:
        self.level = level
        self.size = size
        self.randomness = randomness


_LEVELS = itertools.count(1)  # vmap levels, unique across threads (next() is atomic)


class _State(threading.local):
    """This thread's active vmap layers (innermost last). `ceiling`: while a batching rule of
    level L runs, random calls it makes belong to the levels below L. `looping`: inside the
    per-sample loop of level L, random calls are per-sample calls (L's randomness mode still
    applies). Each thread has its own (threading.local): a thread outside vmap sees no layers,
    so the dispatchers that another thread's vmap installed pass its calls straight through."""

    ceiling = math.inf
    looping = 0  # the level whose per-sample fallback loop is running (0: none)

    def __init__(self) -> None:
        self.layers: list[_Layer] = []
        self.by_level: dict[int, _Layer] = {}

    def push(self, size: int, randomness: str) -> int:
        layer = _Layer(next(_LEVELS), size, randomness)
        self.layers.append(layer)
        self.by_level[layer.level] = layer
        return layer.level

    def pop(self) -> None:
        layer = self.layers.pop()
        del self.by_level[layer.level]

    def size(self, level: int) -> int:
        layer = self.by_level.get(level)
        if layer is None:
            raise vmap_error(
                "vmap: a BatchedTensor escaped the vmap call that made it (its level is not "
                "active in this thread); return it from the vmapped function instead of storing "
                "it or handing it to another thread"
            )
        return layer.size


STATE = _State()


def vmap_error(msg: str, cls=RuntimeError) -> Exception:
    """An error of vmap itself: batching rules never retry it as a per-sample loop."""
    e = cls(msg)
    e._tapegrad_vmap = True
    return e


ITEM_MSG = (
    "vmap: It looks like you're calling .item() on a Tensor. We don't support vmap over calling "
    ".item() on a Tensor, please try to rewrite what you're doing with other operations. If "
    "error is occurring somewhere inside PyTorch internals, please file a bug report."
)
CONTROL_FLOW_MSG = (
    "vmap: It looks like you're attempting to use a Tensor in some data-dependent control flow. "
    "We don't support that yet, please file an issue at https://github.com/pytorch/pytorch/"
    "issues ."
)
NO_STORAGE_MSG = "Cannot access data pointer of Tensor that doesn't have storage"


def _method(name: str):
    def method(self, *args, **kwargs):
        from ._batching_dispatch import call_method

        return call_method(name, self, args, kwargs)

    method.__name__ = name
    return method


class BatchedTensor:
    """One sample's view of a batch: the physical `_value` has the batch of `_level` at dim 0.

    >>> import tapegrad
    >>> from tapegrad.func import vmap
    >>> vmap(lambda x: print(x.shape) or x)(tapegrad.ones(3, 2)).shape
    tapegrad.Size([2])
    tapegrad.Size([3, 2])
    """

    __slots__ = ("_value", "_level", "__weakref__")
    __array_ufunc__ = None  # NumPy scalars defer to our reflected operators

    def __init__(self, value, level: int) -> None:
        self._value = value
        self._level = level

    @property
    def __class__(self):  # isinstance(x, Tensor) holds, as for PyTorch's batched tensors
        return Tensor

    # --- the logical view ---------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return self._value.shape[1:]

    def size(self, dim: int | None = None):
        if dim is None:
            return self._value.shape[1:]
        n = self._value.dim() - 1
        if n == 0:
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        return self._value.shape[_wrap_dim(dim, n) + 1]

    def dim(self) -> int:
        return self._value.dim() - 1

    ndimension = dim

    @property
    def ndim(self) -> int:
        return self._value.dim() - 1

    def numel(self) -> int:
        n = 1
        for s in self._value.shape[1:]:
            n *= s
        return n

    nelement = numel

    @property
    def dtype(self):
        return self._value.dtype

    @property
    def _dtype(self):  # (rules check dtypes this way before choosing a path)
        return self._value.dtype

    @property
    def device(self):
        return self._value.device

    @property
    def layout(self):
        return self._value.layout

    is_cuda = property(lambda self: False)
    is_cpu = property(lambda self: True)
    is_sparse = property(lambda self: False)
    is_quantized = property(lambda self: False)
    is_meta = property(lambda self: False)
    is_nested = property(lambda self: False)

    def get_device(self) -> int:
        return -1

    def element_size(self) -> int:
        return self._value.element_size()

    @property
    def itemsize(self) -> int:
        return self._value.element_size()

    def is_floating_point(self) -> bool:
        return self._value.is_floating_point()

    def is_complex(self) -> bool:
        return self._value.is_complex()

    def is_signed(self) -> bool:
        return self._value.is_signed()

    def stride(self, dim: int | None = None):
        st = self._value.stride()[1:]
        if dim is None:
            return st
        return st[_wrap_dim(dim, max(len(st), 1))]

    def is_contiguous(self, memory_format=None) -> bool:
        shape, st = self.shape, self.stride()
        want = 1
        for s, d in zip(reversed(shape), reversed(st)):
            if s != 1 and d != want:
                return False
            want *= s
        return True

    # --- autograd state (of the physical value) ------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._value.requires_grad

    @property
    def grad_fn(self):
        return self._value.grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._value.is_leaf

    # --- conversions that need values: errors, as in PyTorch -----------------------------
    def item(self):
        raise vmap_error(ITEM_MSG)

    __float__ = __int__ = __index__ = __complex__ = item

    def __bool__(self):
        raise vmap_error(CONTROL_FLOW_MSG)

    def tolist(self):
        raise vmap_error(NO_STORAGE_MSG)

    def numpy(self, *, force: bool = False):
        raise vmap_error(NO_STORAGE_MSG)

    def __array__(self, *args, **kwargs):
        raise vmap_error(NO_STORAGE_MSG)

    def data_ptr(self):
        raise vmap_error(NO_STORAGE_MSG)

    def __len__(self) -> int:
        if self._value.dim() == 1:
            raise TypeError("len() of a 0-d tensor")
        return self._value.shape[1]

    def __iter__(self):
        if self._value.dim() == 1:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __contains__(self, item):
        raise vmap_error(CONTROL_FLOW_MSG)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        inner = repr(self._value).replace("\n", "\n    ")
        lvl = next((i + 1 for i, lay in enumerate(STATE.layers) if lay.level == self._level),
                   self._level)  # (PyTorch numbers the levels by nesting depth)
        return f"BatchedTensor(lvl={lvl}, bdim=0, value=\n    {inner}\n)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self) if not spec else format(repr(self), spec)

    def __reduce_ex__(self, protocol):
        raise vmap_error("vmap: batched tensors cannot be pickled or copied")

    def __deepcopy__(self, memo):
        raise vmap_error("vmap: batched tensors cannot be pickled or copied")

    def __dir__(self):
        return sorted(set(dir(Tensor)) | set(object.__dir__(self)))

    # --- everything else is a Tensor method that a batching rule handles -----------------
    def __getattr__(self, name: str):
        from ._batching_dispatch import tensor_attribute

        return tensor_attribute(self, name)

    def __setattr__(self, name: str, value) -> None:
        if name in BatchedTensor.__slots__:
            object.__setattr__(self, name, value)
            return
        raise vmap_error(
            f"vmap: setting the attribute '{name}' of a batched tensor is not supported"
        )


# Operators: each goes to the batching rule of the Tensor method of the same name.
for _name, _value in list(vars(Tensor).items()):
    if (_name.startswith("__") and callable(_value) and _name not in BatchedTensor.__dict__
            and _name not in ("__init__", "__new__", "__hash__")):
        setattr(BatchedTensor, _name, _method(_name))
del _name, _value


def _prop(name: str):
    def get(self):
        from ._batching_dispatch import call_method

        return call_method(name, self, (), {})

    return property(get)


for _p in ("T", "mT", "H", "mH", "real", "imag", "data"):
    setattr(BatchedTensor, _p, _prop(_p))
del _p
BatchedTensor.unbind = _method("unbind")


def _tell_engine() -> None:
    from ..autograd import engine

    engine._BT = BatchedTensor  # the engine runs rules on batched cotangents (batched_vjp)


_tell_engine()


def is_batched(x, level: int) -> bool:
    return type(x) is BatchedTensor and x._level == level


def logical_dim(x, level: int) -> int:
    """The rank of x as the rule of `level` sees it."""
    if type(x) is BatchedTensor and x._level == level:
        return x._value.dim() - 1
    return x.dim()

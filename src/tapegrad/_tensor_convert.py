"""The conversions of a Tensor to Python and NumPy values, copies and legacy type names:
item(), tolist(), numpy(), np.asarray(t), float(t), len(t), iteration, format(), deepcopy,
pickle, type(). Tensor inherits them from TensorConversions (kept here so that _tensor.py
stays about fields and autograd state)."""

from __future__ import annotations

import warnings

import numpy as np

from . import _dtype as D

__all__ = ["TensorConversions"]

_FROM_NP = D._FROM_NP

_NUMPY_GRAD_MSG = (
    "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
)
_SCALAR_GRAD_WARNING = (
    "Converting a tensor with requires_grad=True to a scalar may lead to unexpected behavior.\n"
    "Consider using tensor.detach() first."
)
_LEGACY_NAMES = {d._legacy: d for d in D.ALL}


def _tp_name(obj) -> str:
    """The type name PyTorch's C++ messages print: 'int', 'numpy.ndarray', 'tapegrad.Size'."""
    t = type(obj)
    if isinstance(obj, TensorConversions):  # a Python class in PyTorch too: its bare name
        return t.__name__
    mod = t.__module__
    if mod == "tapegrad" or mod.startswith("tapegrad."):
        return "tapegrad." + t.__qualname__
    if mod == "builtins" or t.__flags__ & (1 << 9):  # builtins and classes defined in Python
        return t.__name__
    return f"{mod.partition('.')[0]}.{t.__name__}"



class TensorConversions:
    """Mixin of Tensor: conversions to Python numbers, NumPy arrays and copies."""

    __slots__ = ()

    # --- conversions ---------------------------------------------------------------------
    def item(self):
        """The single value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.reshape(()).item()

    def tolist(self):
        """The values as (nested lists of) Python numbers."""
        return self._data.tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The values as a NumPy array sharing memory (not allowed while requiring grad, unless
        force=True, which detaches first).

        >>> import tapegrad
        >>> tapegrad.tensor([1.0, 2.0]).numpy()
        array([1., 2.], dtype=float32)
        """
        if self._requires_grad and not force:
            raise RuntimeError(_NUMPY_GRAD_MSG)
        return self._data

    def __array__(self, dtype=None, copy=None):
        # np.asarray(t) shares memory, as t.numpy() does, and refuses tensors requiring grad.
        if self._requires_grad:
            raise RuntimeError(_NUMPY_GRAD_MSG)
        a = self._data
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # NumPy functions applied to tensors (np.sin(t)) give tensors back. Like PyTorch, a
        # boolean result comes back as uint8.
        if array.dtype == np.bool_:
            array = array.astype(np.uint8)
        if array.dtype not in _FROM_NP:
            return array
        from ._tensor import _make

        return _make(np.asarray(array))

    def __contains__(self, element) -> bool:
        if isinstance(element, TensorConversions):
            element = element._data
        elif not isinstance(element, (int, float, complex, np.number, np.bool_)):
            raise RuntimeError(
                "Tensor.__contains__ only supports Tensor or scalar, but you passed in a "
                f"{type(element)}."
            )
        return bool(np.any(self._data == element))

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            if self._data.size == 0:
                raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(()))

    def _scalar(self, kind, ctype: str):
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        if self._requires_grad and kind is not int and _grad_enabled():  # none under no_grad
            warnings.warn(_SCALAR_GRAD_WARNING, UserWarning, stacklevel=3)
        v = self._data.reshape(()).item()
        if type(v) is complex and kind is not complex:
            if v.imag != 0:
                raise RuntimeError(
                    f"value cannot be converted to type {ctype} without overflow"
                )
            v = v.real
        return kind(v)

    def __float__(self) -> float:
        return self._scalar(float, "double")

    def __int__(self) -> int:
        return self._scalar(int, "int64_t")

    def __complex__(self) -> complex:
        return self._scalar(complex, "c10::complex<double>")

    def __index__(self) -> int:
        if self._dtype.category > D.INT or self._data.size != 1:
            raise TypeError(
                "only integer tensors of a single element can be converted to an index"
            )
        return int(self._data.reshape(()))

    def __repr__(self, *, tensor_contents=None) -> str:
        from ._tensor_str import tensor_repr

        return tensor_repr(self, tensor_contents=tensor_contents)

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec) if spec else str(self)

    def __deepcopy__(self, memo):
        if self._grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                "protocol at the moment.  If you were attempting to deepcopy a module, this may "
                "be because of a tapegrad.nn.utils.weight_norm usage, see "
                "https://github.com/pytorch/pytorch/pull/103001"
            )
        if id(self) in memo:
            return memo[id(self)]
        from ._tensor import _init

        out = type(self).__new__(type(self))
        _init(out, _deepcopy_array(self._data, memo), None, self._requires_grad)
        if self._grad is not None:
            out._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, proto):
        return (_rebuild, (self._data.copy(), self._requires_grad))

    def is_inference(self) -> bool:
        """Whether this tensor was made inside inference_mode."""
        return bool(self._extra and self._extra.get("inference"))

    def cpu(self, memory_format=None) -> TensorConversions:
        """This tensor itself: tapegrad tensors always live on the CPU."""
        return self

    def cuda(self, *args, **kwargs):
        raise AssertionError("Torch not compiled with CUDA enabled")

    def type(self, dtype=None, non_blocking: bool = False, **kwargs):
        """With no argument, the legacy type name ('tapegrad.FloatTensor'); otherwise this
        tensor converted to a dtype, a legacy type, or a legacy type name.

        >>> import tapegrad
        >>> tapegrad.ones(2).type()
        'tapegrad.FloatTensor'
        """
        if dtype is None:
            return "tapegrad." + self._dtype._legacy
        if isinstance(dtype, str):
            mod, _, name = dtype.rpartition(".")
            d = _LEGACY_NAMES.get(name) if mod in ("tapegrad", "torch") else None
            if d is None:
                raise ValueError(f"invalid type: '{dtype}'")
            dtype = d
        elif not isinstance(dtype, D.dtype):
            dtype = getattr(dtype, "dtype", dtype)
            if not isinstance(dtype, D.dtype):
                raise TypeError(f"dtype must be a type, str, or dtype object, not {dtype!r}")
        return self.to(dtype)



def _deepcopy_array(a: np.ndarray, memo) -> np.ndarray:
    """A copy of a that keeps sharing memory with the other arrays of the same deepcopy that
    viewed the same storage (views stay views of one another, as in PyTorch)."""
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    c_order = root.flags.c_contiguous
    if not (c_order or root.flags.f_contiguous):
        return a.copy()
    key = ("tapegrad-storage", id(root))
    new_root = memo.get(key)
    if new_root is None:
        new_root = memo[key] = root.copy(order="C" if c_order else "F")
        memo.setdefault(id(memo), []).append(root)  # keep root alive while its id is a key
    if a is root:
        return new_root
    offset = a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return np.ndarray(a.shape, a.dtype, buffer=new_root, offset=offset, strides=a.strides)


def _rebuild(data, requires_grad):
    from ._tensor import _make

    t = _make(data, None, False)
    t._requires_grad = requires_grad
    return t



def _grad_enabled() -> bool:
    from .autograd.grad_mode import state

    return state.enabled

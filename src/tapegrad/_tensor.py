"""Tensor: an n-dimensional array that can record the operations applied to it.

This file holds the fields, the properties and the conversions. The math lives in `ops/`:
operators and methods such as `__mul__` or `exp` are bound onto Tensor from there.
"""

from __future__ import annotations

import warnings
import weakref

import numpy as np

from . import _dtype as D
from ._size import Size
from .autograd import grad_mode
from .autograd.graph import AccumulateGrad, VersionCounter

__all__ = ["Tensor"]

_FROM_NP = D._FROM_NP
_state = grad_mode.state

_NONLEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad field "
    "to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you "
    "access the non-leaf Tensor by mistake, make sure you access the leaf Tensor instead. See "
    "github.com/pytorch/pytorch/pull/30531 for more information."
)


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


class Tensor:
    """A multi-dimensional array of one dtype, optionally recording a graph for autograd.

    >>> import tapegrad
    >>> x = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * 2).sum().backward()
    >>> x.grad
    tensor([2., 2., 2.])
    """

    __slots__ = (
        "_data",  # numpy.ndarray holding the values
        "_dtype",  # tapegrad dtype of _data
        "_requires_grad",  # True for leaves asked to require grad and for recorded results
        "_grad_fn",  # Node that produced this tensor, None for leaves
        "_output_nr",  # which output of _grad_fn this tensor is
        "_grad",  # accumulated gradient (leaves, or non-leaves that retain it)
        "_vc",  # VersionCounter shared with views, made on first need
        "_base",  # the tensor this one is a view of, or None
        "_accum",  # weak reference to this leaf's AccumulateGrad node
        "_extra",  # None, or a dict of rarely used state (hooks, retains_grad, ...)
        "__weakref__",
    )

    __array_priority__ = 1000  # NumPy defers binary operators to Tensor's reflected ones

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, dtype=None, device=None) -> None:
        # Legacy constructor: Tensor(2, 3) is uninitialised (zeros here), Tensor([1, 2]) a copy.
        d = dtype or D.get_default_dtype()
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            a = args[0]
            arr = np.array(a._data if isinstance(a, Tensor) else a, dtype=d.np)
        else:
            sizes = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
            arr = np.zeros(tuple(int(s) for s in sizes), dtype=d.np)
        _init(self, arr, None, False)

    # --- identity and metadata ------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        """The shape, or the length of one dimension."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    @property
    def dtype(self) -> D.dtype:
        return self._dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    def numel(self) -> int:
        return self._data.size

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def itemsize(self) -> int:
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        return self._data.nbytes

    @property
    def device(self):
        from ._device import cpu

        return cpu

    @property
    def is_cuda(self) -> bool:
        return False

    @property
    def is_sparse(self) -> bool:
        return False

    @property
    def is_quantized(self) -> bool:
        return False

    @property
    def is_meta(self) -> bool:
        return False

    @property
    def layout(self):
        from ._device import strided

        return strided

    def is_floating_point(self) -> bool:
        return self._dtype.category == D.FLOAT

    def is_complex(self) -> bool:
        return self._dtype.category == D.COMPLEX

    def is_signed(self) -> bool:
        return self._dtype.is_signed

    def stride(self, dim: int | None = None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        if self._data.size == 0 or any(s == 0 for s in self._data.shape):
            st = _contiguous_strides(self._data.shape)
        return st if dim is None else st[_wrap_dim(dim, self._data.ndim)]

    def is_contiguous(self, memory_format=None) -> bool:
        return bool(self._data.flags.c_contiguous)

    def storage_offset(self) -> int:
        base = self._data
        while isinstance(base.base, np.ndarray):
            base = base.base
        return (self._data.__array_interface__["data"][0] - base.__array_interface__["data"][0]) \
            // max(self._data.itemsize, 1)

    def data_ptr(self) -> int:
        return self._data.__array_interface__["data"][0]

    def untyped_storage(self):
        raise NotImplementedError("tapegrad: storages are not exposed; use .numpy()")

    def __hash__(self) -> int:
        return id(self)

    # --- autograd state -----------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        flag = bool(flag)
        if self._grad_fn is not None:
            if not flag:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to "
                    "use a computed variable in a subgraph that doesn't require differentiation "
                    "use var_no_grad = var.detach()."
                )
            return
        if flag and self._dtype.category < D.FLOAT:
            raise RuntimeError(
                "only Tensors of floating point and complex dtype can require gradients"
            )
        self._requires_grad = flag

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set requires_grad in place (leaves only) and return self."""
        if requires_grad and self._dtype.category < D.FLOAT:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self.requires_grad = requires_grad
        return self

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def output_nr(self) -> int:
        return self._output_nr

    @property
    def _version(self) -> int:
        return 0 if self._vc is None else self._vc.value

    def _bump_version(self) -> None:
        vc = self._vc
        if vc is None:
            vc = self._vc = VersionCounter()
        vc.value += 1

    @property
    def grad(self):
        if (
            self._grad_fn is not None
            and self._grad is None
            and not (self._extra and self._extra.get("retains_grad"))
        ):
            warnings.warn(_NONLEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    "assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{_shape_str(value.shape)}' to a "
                    f"tensor of size '{_shape_str(self.shape)}'. Please ensure that the gradient "
                    "and the tensor are the same size"
                )
            if value._dtype is not self._dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{_c_name(value._dtype)}' to a "
                    f"tensor with grad_dtype '{self._dtype._short}'. The gradient must match the "
                    "tensor's grad_dtype (defaults to the tensor's dtype). You can set the "
                    "tensor's grad_dtype attribute with a specific dtype, or None to allow any "
                    "dtype. Set grad_dtype with caution. Diverging the dtypes of a tensor and its "
                    "gradient may break downstream systems that assume they match."
                )
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    def _accumulator(self) -> AccumulateGrad:
        """This leaf's AccumulateGrad node (made on first use, kept alive by the graph)."""
        ref = self._accum
        acc = ref() if ref is not None else None
        if acc is None:
            acc = AccumulateGrad(self)
            self._accum = weakref.ref(acc)
        return acc

    @property
    def data(self) -> Tensor:
        """A tensor sharing this one's values, outside the graph and its version tracking."""
        return _make(self._data, None, False)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(
                f"Variable data has to be a tensor, but got {type(value).__name__}"
            )
        self._data = value._data
        self._dtype = value._dtype

    def detach(self) -> Tensor:
        """A new tensor sharing the values (and version counter), with no history."""
        out = _make(self._data, None, False)
        if self._vc is None:
            self._vc = VersionCounter()
        out._vc = self._vc
        return out

    def detach_(self) -> Tensor:
        """Detach this tensor from its graph in place, making it a leaf."""
        if self._base is not None:
            raise RuntimeError(
                "Can't detach views in-place. Use detach() instead. If you are using "
                "DistributedDataParallel (DDP) for training, and gradient_as_bucket_view is set "
                "as True, gradients are views of DDP buckets, and hence detach_() cannot be "
                "called on these gradients. To fix this error, please refer to the "
                "Optimizer.zero_grad() function in torch/optim/optimizer.py as the solution."
            )
        self._grad_fn = None
        self._requires_grad = False
        self._output_nr = 0
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        """Compute the gradient of this tensor with respect to the graph's leaves.

        >>> import tapegrad
        >>> x = tapegrad.ones(2, 2, requires_grad=True)
        >>> ((x + 2) * (x + 2) * 3).mean().backward()
        >>> x.grad
        tensor([[4.5000, 4.5000],
                [4.5000, 4.5000]])
        """
        from .autograd import backward

        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    # --- conversions ---------------------------------------------------------------------
    def item(self):
        """The single value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The values as a NumPy array sharing memory (not allowed while requiring grad)."""
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return self._data

    def __array__(self, dtype=None, copy=None):
        a = self._data
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

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

    def _scalar(self, kind):
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return kind(self._data.reshape(()))

    def __float__(self) -> float:
        return self._scalar(float)

    def __int__(self) -> int:
        return self._scalar(int)

    def __complex__(self) -> complex:
        return self._scalar(complex)

    def __index__(self) -> int:
        if self._dtype.category != D.INT or self._data.size != 1:
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
                "be because of a torch.nn.utils.weight_norm usage, see "
                "https://github.com/pytorch/pytorch/pull/103001"
            )
        out = type(self).__new__(type(self))
        _init(out, self._data.copy(), None, self._requires_grad)
        if self._grad is not None:
            out._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, proto):
        return (_rebuild, (self._data.copy(), self._requires_grad))

    @property
    def is_inference(self):
        return bool(self._extra and self._extra.get("inference"))

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args, **kwargs):
        raise AssertionError("Torch not compiled with CUDA enabled")


def _rebuild(data, requires_grad):
    t = _make(data, None, False)
    t._requires_grad = requires_grad
    return t


def _c_name(d: D.dtype) -> str:
    # PyTorch names the assigned gradient's dtype by its Python-side alias in this message.
    return {"float32": "float", "float64": "double", "float16": "half", "int64": "long",
            "int32": "int", "int16": "short", "complex64": "complex<float>",
            "complex128": "complex<double>"}.get(d.name, d.name)


def _contiguous_strides(shape) -> tuple:
    st = []
    acc = 1
    for s in reversed(shape):
        st.append(acc)
        acc *= max(s, 1)
    return tuple(reversed(st))


def _wrap_dim(dim: int, ndim: int) -> int:
    """Turn a possibly negative dim into an index, with PyTorch's message when out of range."""
    n = max(ndim, 1)
    if dim < -n or dim >= n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim + n if dim < 0 else dim


def _init(t, data, grad_fn, requires_grad) -> None:
    t._data = data
    t._dtype = _FROM_NP[data.dtype]
    t._requires_grad = requires_grad
    t._grad_fn = grad_fn
    t._output_nr = 0
    t._grad = None
    t._vc = None
    t._base = None
    t._accum = None
    t._extra = None


_new = object.__new__


def _make(data: np.ndarray, grad_fn=None, requires_grad: bool = False) -> Tensor:
    """Wrap an ndarray in a Tensor without copying or checks (the hot path of every op)."""
    t = _new(Tensor)
    t._data = data
    t._dtype = _FROM_NP[data.dtype]
    t._requires_grad = requires_grad
    t._grad_fn = grad_fn
    t._output_nr = 0
    t._grad = None
    t._vc = None
    t._base = None
    t._accum = None
    t._extra = None
    return t

"""Tensor: an n-dimensional array that can record the operations applied to it.

This file holds the fields, the properties and the conversions. The math lives in `ops/`:
operators and methods such as `__mul__` or `exp` are bound onto Tensor from there.
"""

from __future__ import annotations

import warnings
import weakref

import numpy as np

from . import _dtype as D
from ._size import Size, make_size
from ._tensor_convert import TensorConversions, _tp_name
from .autograd import grad_mode
from .autograd import hooks as _hooks
from .autograd.graph import AccumulateGrad, VersionCounter

__all__ = ["Tensor"]

_FROM_NP = D._FROM_NP
_state = grad_mode.state
# Open inference_mode blocks in any thread (kept by grad_mode): while zero, making a tensor
# skips the thread-local inference check entirely.
_INFERENCE_OPEN = 0
_FW_OPEN = False  # a forward-AD level is open (autograd/forward_ad.py)
_ANOMALY = False  # anomaly mode (set by autograd.anomaly_mode): in-place changes record their site

_NONLEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad field "
    "to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you "
    "access the non-leaf Tensor by mistake, make sure you access the leaf Tensor instead. See "
    "github.com/pytorch/pytorch/pull/30531 for more information."
)


def _shape_str(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


class Tensor(TensorConversions):
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

    def __init__(self, *args, **kwargs) -> None:
        """The legacy constructor, as PyTorch's: `Tensor(2, 3)` is an uninitialised tensor of
        that size (zeros in tapegrad), `Tensor([1, 2])` a copy of the data in the default
        dtype, `Tensor(t)` an alias of tensor t, `Tensor()` an empty tensor."""
        from ._tensor_new import legacy_new

        src = legacy_new(D.get_default_dtype(), args, kwargs)
        if isinstance(src, Tensor):  # an alias of a tensor: share everything but identity
            for name in Tensor.__slots__[:-1]:
                setattr(self, name, getattr(src, name))
        else:
            _init(self, src, None, False)

    # --- identity and metadata ------------------------------------------------------
    @property
    def shape(self) -> Size:
        return make_size(self._data.shape)

    def size(self, dim: int | None = None):
        """The shape, or the length of one dimension.

        >>> import tapegrad
        >>> tapegrad.ones(2, 3).size(-1)
        3
        """
        if dim is None:
            return make_size(self._data.shape)
        return self._data.shape[_dim_arg(dim, self._data.ndim, "size")]

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
    def is_cpu(self) -> bool:
        return True

    def get_device(self) -> int:
        """-1: the index PyTorch reports for CPU tensors."""
        return -1

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
        """The step, in elements, between neighbours along each dimension."""
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        if self._data.size == 0 or any(s == 0 for s in self._data.shape):
            st = _contiguous_strides(self._data.shape)
        return st if dim is None else st[_dim_arg(dim, self._data.ndim, "stride")]

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
        if type(flag) is not bool:
            raise RuntimeError("requires_grad must be a bool")
        if self._grad_fn is not None:
            if flag:
                raise RuntimeError("you can only change requires_grad flags of leaf variables.")
            raise RuntimeError(_NONLEAF_FLAG_MSG)
        if flag and self._dtype.category < D.FLOAT:
            raise RuntimeError(
                "only Tensors of floating point and complex dtype can require gradients"
            )
        self._set_requires_grad(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set requires_grad in place (leaves only) and return self.

        >>> import tapegrad
        >>> tapegrad.zeros(2).requires_grad_()
        tensor([0., 0.], requires_grad=True)
        """
        if type(requires_grad) is not bool:
            raise TypeError(
                "requires_grad_(): argument 'requires_grad' (position 1) must be bool, not "
                f"{_tp_name(requires_grad)}"
            )
        if self._grad_fn is not None:
            if not requires_grad:
                raise RuntimeError(_NONLEAF_FLAG_MSG)
            return self
        if requires_grad and self._dtype.category < D.FLOAT:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._set_requires_grad(requires_grad)
        return self

    def _set_requires_grad(self, flag: bool) -> None:
        if flag and self._extra and self._extra.get("inference") and not _state.inference:
            raise RuntimeError(
                "Setting requires_grad=True on inference tensor outside InferenceMode is not "
                "allowed."
            )
        self._requires_grad = flag

    @property
    def grad_fn(self):
        return self._grad_fn

    def _is_view(self) -> bool:
        """Whether this tensor views another tensor's storage (then `_base` is that tensor)."""
        return self._base is not None

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def output_nr(self) -> int:
        return self._output_nr

    @property
    def _version(self) -> int:
        """How many in-place operations changed this tensor's storage (shared with views)."""
        if self._extra and self._extra.get("inference"):
            raise RuntimeError("Inference tensors do not track version counter.")
        return 0 if self._vc is None else self._vc.value

    def _bump_version(self) -> None:
        vc = self._vc
        if vc is None:
            vc = self._vc = VersionCounter()
        vc.value += 1
        if _ANOMALY:
            from .autograd.anomaly_mode import record_inplace

            record_inplace(vc)

    @property
    def _fw_tangent(self):
        """The forward-AD tangent at the open dual level, or None (for printing)."""
        if not _FW_OPEN:
            return None
        from .autograd.forward_ad import tangent_of

        return tangent_of(self)

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
                    f"{_tp_name(value)}"
                )
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{_shape_str(value.shape)}' to a "
                    f"tensor of size '{_shape_str(self.shape)}'. Please ensure that the gradient "
                    "and the tensor are the same size"
                )
            if value._dtype is not self._dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{value._dtype._cname}' to a "
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

    # --- hooks (the logic is in autograd/hooks.py) -------------------------------------------
    def register_hook(self, hook):
        """Call hook(grad) each time this tensor's gradient is computed; a tensor it returns
        replaces the gradient. Returns a handle whose remove() removes the hook.

        >>> import tapegrad
        >>> v = tapegrad.tensor([0., 0., 0.], requires_grad=True)
        >>> h = v.register_hook(lambda grad: grad * 2)
        >>> v.backward(tapegrad.tensor([1., 2., 3.]))
        >>> v.grad
        tensor([2., 4., 6.])
        """
        return _hooks.register_tensor_hook(self, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call hook(self) after backward accumulated into this leaf's .grad."""
        return _hooks.register_post_accumulate_grad_hook(self, hook)

    def retain_grad(self) -> None:
        """Fill .grad of this non-leaf tensor during backward (a no-op on a leaf)."""
        _hooks.retain_grad(self)

    @property
    def retains_grad(self) -> bool:
        return _hooks.retains_grad(self)

    @property
    def _backward_hooks(self):
        return _hooks.tensor_hooks(self)

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
        """A tensor sharing this one's values, outside the graph and its version tracking.

        Changes made through it are invisible to autograd's saved-tensor checks (as in
        PyTorch): prefer detach() or no_grad().
        """
        out = _make(self._data, None, False)
        if self._extra and self._extra.get("inference"):
            out._extra = {"inference": True}
        return out

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(
                f"Variable data has to be a tensor, but got {_tp_name(value)}"
            )
        if self._requires_grad and value._dtype.category < D.FLOAT:
            raise RuntimeError(
                "data set to a tensor that requires gradients must be floating point or complex "
                "dtype"
            )
        self._data = value._data
        self._dtype = value._dtype

    def detach(self) -> Tensor:
        """A new tensor sharing the values (and version counter), with no history.

        >>> import tapegrad
        >>> x = tapegrad.ones(2, requires_grad=True)
        >>> (x * 2).detach()
        tensor([2., 2.])
        """
        out = _make(self._data, None, False)
        if self._vc is None:
            self._vc = VersionCounter()
        out._vc = self._vc
        if self._extra and self._extra.get("inference"):
            out._extra = {"inference": True}
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

Tensor.__module__ = "tapegrad"

_NONLEAF_FLAG_MSG = (
    "you can only change requires_grad flags of leaf variables. If you want to use a computed "
    "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
)
def _dim_arg(dim, ndim: int, fn: str) -> int:
    """Check a dim argument of size()/stride() and wrap it, with PyTorch's messages."""
    if type(dim) is not int:
        if isinstance(dim, (bool, float, str)) or dim is None:
            raise TypeError(
                f"{fn}(): argument 'dim' (position 1) must be int, not {_tp_name(dim)}"
            )
        dim = dim.__index__()
    if ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    return _wrap_dim(dim, ndim)


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
    if _INFERENCE_OPEN and _state.inference:
        t._extra = {"inference": True}


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
    if _INFERENCE_OPEN and _state.inference:
        t._extra = {"inference": True}
    if _FW_OPEN and grad_fn is not None:
        from .autograd.forward_ad import note_output

        note_output(t, grad_fn)
    return t

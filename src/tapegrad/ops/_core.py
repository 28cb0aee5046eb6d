"""The op declaration helpers every op family uses.

An op is a forward computed in NumPy plus a Node subclass (named as PyTorch names it) whose
`vjp` maps output gradients to input gradients in tapegrad ops. The helpers here turn operands
into arrays with PyTorch's type promotion, and wrap results, building a Node only when grad
mode is on and some input requires grad.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd import engine as _engine
from ..autograd import grad_mode
from ..autograd.engine import edge_of
from ..autograd.graph import SavedTensor, VersionCounter
from ._inplace_record import register_view

_state = grad_mode.state
_ndarray = np.ndarray
_asarray = np.asarray
_INT, _FLOAT, _COMPLEX = D.INT, D.FLOAT, D.COMPLEX
_NO_EDGE = (None, 0)

__all__ = [
    "Tensor", "as_tensor_arg", "binary_operands", "check_broadcast", "float_operand", "new_node",
    "node2", "wrap", "wrap_view", "save", "save_out", "to_array", "scalar_types",
    "batched_cotangent", "is_batched_value", "rebatch",
]

scalar_types = (numbers.Number, np.bool_, np.number)


def batched_cotangent(g):
    """(physical tensor, level) when g is a batch of cotangents under vmap (a BatchedTensor
    whose value is a plain Tensor, the batch at dim 0), else None.

    Backward helpers that compute on arrays use it to run once on the whole batch: an
    elementwise one broadcasts its other operands over the leading batch dim."""
    bt = _engine._BT
    if bt is not None and type(g) is bt and type(g._value) is not bt:
        return g._value, g._level
    return None


def rebatch(t: Tensor, level: int):
    """A physical result (batch at dim 0) as the BatchedTensor of `level` it stands for."""
    return _engine._BT(t, level)


def is_batched_value(x) -> bool:
    bt = _engine._BT
    return bt is not None and type(x) is bt


def to_array(x, dt: D.dtype) -> np.ndarray:
    """The values of operand x (Tensor, scalar or array-like) as an array of dtype dt."""
    if isinstance(x, Tensor):
        a = x._data
        return a if a.dtype is dt.np else a.astype(dt.np)
    return np.asarray(x, dtype=dt.np)


def as_tensor_arg(x) -> Tensor:
    """Operands that are not tensors (scalars, lists, ndarrays) become constant tensors."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return _make(x if x.dtype in D._FROM_NP else x.astype(np.float64))
    from .._creation import tensor

    return tensor(x)


def _operand_dtype(v):
    """(dtype, tier) of an operand: tier 0 dimensioned tensor, 1 zero-dim, 2 Python scalar."""
    if isinstance(v, Tensor):
        return v._dtype, (0 if v._data.ndim else 1)
    if isinstance(v, np.ndarray):
        return D.from_numpy_dtype(v.dtype), (0 if v.ndim else 1)
    return D.scalar_dtype(v), 2


def promote(*operands) -> D.dtype:
    """PyTorch's result dtype for an operation on these operands."""
    tiers = ([], [], [])
    for v in operands:
        d, k = _operand_dtype(v)
        tiers[k].append(d)
    return D.result_type_of(*tiers)


def binary_operands(x, y):
    """(x array, y array-or-scalar, result dtype) for an elementwise binary op.

    Python scalars stay Python scalars: NumPy treats them as weakly typed, as PyTorch does.
    """
    if isinstance(x, Tensor):
        xd = x._dtype
        ty = type(y)
        # fast paths: a float tensor with a Python float/int, or two tensors of one dtype
        if ty is float:
            if xd.category >= _FLOAT:
                return x._data, y, xd
        elif ty is int:
            if xd.category >= _INT:
                return x._data, y, xd
        elif isinstance(y, Tensor) and y._dtype is xd:
            return x._data, y._data, xd
    return _binary_operands_slow(x, y)


def _binary_operands_slow(x, y):
    if isinstance(x, Tensor):
        xd = x._dtype
        if isinstance(y, Tensor):
            dt = promote(x, y)
        elif type(y) is float or type(y) is int or type(y) is bool:
            yd = D.scalar_dtype(y)
            if yd.category <= xd.category:
                return x._data, y, xd
            dt = D._combine(xd, yd)
            return to_array(x, dt), y, dt
        else:
            if not isinstance(y, (scalar_types, np.ndarray, list, tuple)):
                raise TypeError(f"unsupported operand type: {type(y).__name__}")
            dt = promote(x, y)
            if isinstance(y, np.ndarray) or not isinstance(y, scalar_types):
                return to_array(x, dt), to_array(y, dt), dt
            return to_array(x, dt), _scalar_as(y, dt), dt
        return to_array(x, dt), to_array(y, dt), dt
    if not isinstance(x, (scalar_types, np.ndarray, list, tuple)):
        raise TypeError(f"unsupported operand type: {type(x).__name__}")
    dt = promote(x, y)
    ya = to_array(y, dt)
    if isinstance(x, scalar_types) and not isinstance(x, np.ndarray):
        return _scalar_as(x, dt), ya, dt
    return to_array(x, dt), ya, dt


def check_broadcast(*operands) -> None:
    """Raise PyTorch's message when the tensor operands do not broadcast together (checked
    pairwise, left to right, against the shape broadcast so far)."""
    shapes = [t._data.shape for t in operands if isinstance(t, Tensor)]
    if not shapes:
        return
    first = shapes[0]
    if all(sh == first for sh in shapes):
        return
    acc = first
    for sh in shapes[1:]:
        n = max(len(acc), len(sh))
        pa = (1,) * (n - len(acc)) + tuple(acc)
        pb = (1,) * (n - len(sh)) + tuple(sh)
        for i in range(n - 1, -1, -1):
            if pa[i] != pb[i] and pa[i] != 1 and pb[i] != 1:
                raise RuntimeError(
                    f"The size of tensor a ({pa[i]}) must match the size of tensor b ({pb[i]}) "
                    f"at non-singleton dimension {i}")
        acc = tuple(max(u, v) if min(u, v) != 0 else 0 for u, v in zip(pa, pb))


def _scalar_as(v, dt):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if dt.category == _COMPLEX:
        return complex(v)
    if dt.category == _FLOAT:
        return float(v)
    return int(v)


def float_operand(x) -> np.ndarray:
    """The array of x for an op whose result is floating: integers become the default dtype."""
    a = x._data
    if x._dtype.category < _FLOAT:
        return a.astype(D._defaults.float.np)
    return a


fw_on = False  # a forward-AD level is open (autograd/forward_ad.py sets this)


def _fw(cls, inputs, node):
    return note(node, inputs, cls)


def note(node, inputs, cls):  # replaced by forward_ad.note_node when a level first opens
    return node


# (shape, dtype) records of node inputs, and the _in_meta tuples made of them, are
# shared: each distinct one is made once, so a graph holds fewer objects for the garbage
# collector to traverse (they hold only shapes and dtypes, never tensors or nodes).
_METAS: dict = {}
_IN_METAS: dict = {}


def meta_of(t):
    """t's (shape, dtype) record, one shared tuple per distinct pair."""
    key = (t._data.shape, t._dtype)
    m = _METAS.get(key)
    if m is None:
        if len(_METAS) >= 4096:
            _METAS.clear()
        m = _METAS[key] = key
    return m


def in_meta(*metas):
    """The _in_meta tuple of these records (each from meta_of, or None), shared."""
    m = _IN_METAS.get(metas)
    if m is None:
        if len(_IN_METAS) >= 4096:
            _IN_METAS.clear()
        m = _IN_METAS[metas] = metas
    return m


def new_node(cls, inputs):
    """A node of class cls over these inputs, or None when no graph is being recorded."""
    if not _state.enabled:
        return _fw(cls, inputs, None) if fw_on else None
    for t in inputs:
        if isinstance(t, Tensor) and t._requires_grad:
            break
    else:
        return _fw(cls, inputs, None) if fw_on else None
    node = cls()
    nxt = []
    meta = []
    for t in inputs:
        if isinstance(t, Tensor) and t._requires_grad:
            nxt.append(edge_of(t))
            meta.append(meta_of(t))
        else:
            nxt.append((None, 0))
            meta.append(None)
    node._next = tuple(nxt)
    node._in_meta = in_meta(*meta)
    if fw_on:
        return _fw(cls, inputs, node)
    return node


def node2(cls, x, y):
    """new_node for two operands (either may be a non-tensor), without building tuples
    when nothing is recorded: the common case of every binary op."""
    if not _state.enabled:
        return _fw(cls, (x, y), None) if fw_on else None
    xr = isinstance(x, Tensor) and x._requires_grad
    yr = isinstance(y, Tensor) and y._requires_grad
    if not (xr or yr):
        return _fw(cls, (x, y), None) if fw_on else None
    node = cls()
    if xr:
        ex = edge_of(x)
        mx = meta_of(x)
    else:
        ex, mx = _NO_EDGE, None
    if yr:
        ey = edge_of(y)
        my = meta_of(y)
    else:
        ey, my = _NO_EDGE, None
    node._next = (ex, ey)
    node._in_meta = in_meta(mx, my)
    if fw_on:
        return _fw(cls, (x, y), node)
    return node


def wrap(arr, node=None) -> Tensor:
    """A result tensor around arr, recorded as output 0 of node when node is not None."""
    if type(arr) is not _ndarray:
        arr = _asarray(arr)
    if node is None:
        return _make(arr, None, False)
    return _make(arr, node, True)


def wrap_view(arr, base: Tensor, node=None) -> Tensor:
    """A result that views base's storage: it shares base's version counter. A view made
    under no_grad of a tensor that requires grad still requires grad (as a leaf, PyTorch's
    rule), so that changing it in place later with grad mode on can be refused."""
    out = wrap(arr, node)
    if not _state.enabled:
        # remembered so that a recorded in-place change of this view can be refused
        ex = out._extra
        if ex is None:
            out._extra = {"no_grad_view": True}
        else:  # forward-AD state may be there; "inference" is decided by the base below
            ex.pop("inference", None)
            ex["no_grad_view"] = True
        if base._requires_grad and not _state.inference:
            out._requires_grad = True
    if base._extra is not None and base._extra.get("inference"):
        # a view is an inference tensor exactly when its base is one (whatever the mode)
        out._extra = {**(out._extra or {}), "inference": True}
    root = base._base if base._base is not None else base
    vc = root._vc
    if vc is None:
        vc = root._vc = VersionCounter()
    out._vc = vc
    out._base = root
    register_view(root, out)
    return out


def save(node, *tensors) -> None:
    """Save operands for backward: tensors through version-checked records, others as they are."""
    node._saved = tuple(SavedTensor(t) if isinstance(t, Tensor) else t for t in tensors)


def save_out(node, out: Tensor, *tensors) -> None:
    """Save the output (without a reference cycle) followed by other operands."""
    node._saved = (SavedTensor(out, True),) + tuple(
        SavedTensor(t) if isinstance(t, Tensor) else t for t in tensors
    )

"""Forward-mode automatic differentiation: dual tensors carrying a tangent.

Inside `dual_level()`, `make_dual(p, t)` gives a tensor whose every function f carries the
directional derivative J_f t along (its *tangent*); `unpack_dual` reads it back.

How tapegrad computes tangents. Every differentiable op already builds a Node whose `vjp`
maps output cotangents to input cotangents. While a level is open, an op with a dual input
builds that Node even when nothing requires grad (it is then kept off the backward graph),
and the output tangent is derived from the Node:

- a Node class that declares `jvp(*input_tangents)` (elementwise ops, linear ops ...) is
  asked directly; that is the fast path for the common ops;
- any other Node gets it from its vjp, which is linear in the cotangent g: for real inner
  products <g, J t> = <J^T g, t>, so J t is the gradient with respect to g of
  s(g) = <vjp(g), t>. vjp rules are written in tapegrad ops, so this gradient exists for
  every op that supports double backward. For complex values the inner product is
  Re(sum(conj(a) * b)); PyTorch's convention makes vjp the adjoint of J for exactly that
  product, so the same identity holds.

Tangents are computed lazily, when a later op, `unpack_dual`, printing, an in-place op or a
backward pass needs them, so that the Node has been completely built (its saved tensors set)
by then. Tangents of views are views of their base's tangent, and in-place ops update the
tangent in place, as PyTorch does.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any, NamedTuple

from .grad_mode import state as _grad_state
from .graph import Node

__all__ = ["dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual",
           "UnpackedDualTensor"]

_level: int | None = None  # the open level (PyTorch allows one at a time)
_suspended = 0  # > 0 while tangents are being computed: ops inside make no tangents
_info: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Node -> _Fw
_pending: list = []  # weak references to Nodes whose tangents are not computed yet
_touched: dict = {}  # id -> weak reference of the tensors holding forward-AD state
_DUAL_KEYS = ("fw_grad", "fw_node")


class _Fw:
    """The forward-mode record of one Node: its input tangents, its outputs (weakly), the
    output tangents once computed, and whether it exists for forward mode only."""

    __slots__ = ("tans", "outs", "result", "fw_only", "grad_on", "src")

    def __init__(self, tans: tuple, fw_only: bool, grad_on: bool, src) -> None:
        self.src = src  # the values of input 0 (the viewed tensor, for a view op)
        self.tans = tans
        self.outs: list = []
        self.result = None
        self.fw_only = fw_only
        self.grad_on = grad_on


def _batched(t) -> bool:
    """Whether t is a BatchedTensor (a batch of tangents under vmap, one per sample)."""
    from . import engine

    return engine._BT is not None and type(t) is engine._BT


# --- levels -------------------------------------------------------------------------------
_Tensor: Any = None  # tapegrad.Tensor, bound when a level first opens (import order)


def _set_open(on: bool) -> None:
    global _Tensor
    from .. import _tensor
    from ..ops import _core

    _Tensor = _tensor.Tensor
    _core.fw_on = on
    _core.note = note_node
    _tensor._FW_OPEN = on


def enter_dual_level() -> int:
    """Open a forward-AD level (only one may be open) and return its index."""
    global _level
    if _level is not None:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    _level = 0
    _set_open(True)
    return _level


def exit_dual_level(*, level: int | None = None) -> None:
    """Close the open level: every tangent made in it is dropped."""
    global _level
    if _level is None and level is None:
        raise RuntimeError("Dual level must be a positive number.")
    if _level is None or (level is not None and level != _level):
        raise RuntimeError(
            "Trying to exit a forward AD level that was not the last one that was created. "
            "This is not supported.")
    _level = None
    _set_open(False)
    _pending.clear()
    _info.clear()
    for r in list(_touched.values()):
        t = r()
        if t is None:
            continue
        ex = t._extra
        if ex is not None:
            for k in _DUAL_KEYS:
                ex.pop(k, None)
            if not ex:
                t._extra = None
    _touched.clear()


class dual_level(contextlib.ContextDecorator):  # noqa: N801 - PyTorch's name
    """Context manager in which dual tensors exist; their tangents vanish on exit.

    >>> import tapegrad
    >>> import tapegrad.autograd.forward_ad as fwAD
    >>> with fwAD.dual_level():
    ...     x = fwAD.make_dual(tapegrad.tensor([1.0, 2.0]), tapegrad.tensor([1.0, 0.0]))
    ...     fwAD.unpack_dual(x * x).tangent
    tensor([2., 0.])
    """

    def __enter__(self) -> int:
        return enter_dual_level()

    def __exit__(self, *exc: Any) -> None:
        exit_dual_level()


# --- dual tensors ---------------------------------------------------------------------------
class UnpackedDualTensor(NamedTuple):
    """What `unpack_dual` returns: the primal and its tangent (None without one)."""

    primal: Any
    tangent: Any


def make_dual(tensor, tangent, *, level: int | None = None):
    """A view of `tensor` that carries `tangent` as its forward gradient.

    >>> import tapegrad
    >>> import tapegrad.autograd.forward_ad as fwAD
    >>> with fwAD.dual_level():
    ...     fwAD.make_dual(tapegrad.tensor([1.0]), tapegrad.tensor([3.0]))
    tensor([1.], tangent=tensor([3.]))
    """
    if _level is None:
        raise RuntimeError(
            "Trying to create a dual Tensor for forward AD but no level exists, make sure to "
            "enter_dual_level() first.")
    for name, t in (("primal", tensor), ("tangent", tangent)):
        if not (t.is_floating_point() or t.is_complex()):
            raise ValueError(
                f"Expected {name} to be floating point or complex, but got: {t.dtype}")
    if level is not None and level != _level:
        raise RuntimeError("Invalid level given to _make_dual")
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the "
            "original Tensor, this is not supported. Tensor is of size "
            f"{list(tensor.shape)} while the given forward gradient is of size "
            f"{list(tangent.shape)}.")
    if _batched(tensor):
        raise NotImplementedError(
            "make_dual: a primal batched by vmap is not yet supported in tapegrad (a batch of "
            "tangents for a plain primal is)")
    if _inference_on():  # (PyTorch: no dual tensors in inference mode, the primal back)
        return tensor
    if tangent_of(tensor) is not None:
        raise RuntimeError(
            "Making a dual Tensor based on a Tensor that already has a forward gradient at the "
            f"same level {_level} is not supported.")
    global _suspended
    _suspended += 1
    try:
        out = tensor.view(tensor.shape)
    finally:
        _suspended -= 1
    _set_tangent(out, tangent)  # (its own dtype, as PyTorch keeps it)
    return out


def _inference_on() -> bool:
    from .grad_mode import is_inference_mode_enabled

    return is_inference_mode_enabled()


def unpack_dual(tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """(primal, tangent) of a dual tensor; the tangent is None for a plain tensor."""
    if _level is None:
        return UnpackedDualTensor(tensor, None)
    tan = tangent_of(tensor)
    if tan is None:
        return UnpackedDualTensor(tensor, None)
    global _suspended
    _suspended += 1
    try:
        primal = tensor.view(tensor.shape)
    finally:
        _suspended -= 1
    return UnpackedDualTensor(primal, tan)


# --- the machinery ops call -------------------------------------------------------------
def _set_tangent(t, tan) -> None:
    ex = t._extra
    if ex is None:
        t._extra = {"fw_grad": tan}
    else:
        ex["fw_grad"] = tan
    _touch(t)


def _touch(t) -> None:
    k = id(t)
    if k not in _touched:
        _touched[k] = weakref.ref(t, lambda _r, k=k: _touched.pop(k, None))


def tangent_of(t):
    """The tangent of t at the open level, or None."""
    ex = t._extra
    node = None
    if ex is not None:
        tan = ex.get("fw_grad", ex)
        if tan is not ex:
            return tan
        node = ex.get("fw_node")
    if node is None:
        node = t._grad_fn
        if node is None:
            return None
    info = _info.get(node)
    if info is None:
        return None
    res = info.result
    if res is None:
        res = _compute(node, info)
    nr = t._output_nr
    tan = res[nr] if nr < len(res) else None
    _set_tangent(t, tan)
    return tan


def note_node(node, inputs, make):
    """Called by the op helpers while a level is open: if an input carries a tangent, give
    the op a Node that computes the output tangent. `node` is the op's backward Node (None
    when it records nothing; `make()` then builds one that stays off the backward graph)."""
    if _suspended:
        return node
    tans = []
    found = False
    for x in inputs:
        if isinstance(x, _Tensor):
            tan = tangent_of(x)
            if tan is not None:
                found = True
            tans.append(tan)
        else:
            tans.append(None)
    if not found:
        return node
    unsupported = getattr(make, "no_forward_ad", None)
    if unsupported is not None:  # PyTorch has no forward rule for this op either
        raise NotImplementedError(
            f"Trying to use forward AD with {unsupported} that does not support it because it "
            "has not been implemented yet.\nPlease file an issue to PyTorch at "
            "https://github.com/pytorch/pytorch/issues/new?template=feature-request.yml so "
            "that we can prioritize its implementation or submit a PR adding the "
            "implementation to derivatives.yaml")
    fw_only = node is None
    if fw_only:
        node = make()
        node._next = tuple(_DUMMY_EDGE if t is not None else (None, 0) for t in tans)
    else:
        node._next = tuple(_DUMMY_EDGE if e[0] is None and t is not None else e
                           for e, t in zip(node._next, tans))
    # every tensor input's (shape, dtype): rules read them, including for inputs that need
    # no gradient in the backward graph
    node._in_meta = tuple(
        (x._data.shape, x._dtype) if isinstance(x, _Tensor) else m
        for x, m in zip(inputs, node._in_meta or (None,) * len(inputs)))
    x0 = inputs[0] if inputs else None
    src = x0._data if tans and tans[0] is not None else None
    _info[node] = _Fw(tuple(tans), fw_only, _grad_state.enabled, src)
    if len(_pending) >= 4096:  # most were computed when a later op read them: keep the rest
        _pending[:] = [r for r in _pending if _is_pending(r())]
    _pending.append(weakref.ref(node))
    return node


def _is_pending(node) -> bool:
    if node is None:
        return False
    info = _info.get(node)
    return info is not None and info.result is None


def note_output(t, node) -> None:
    """Called by `_make` while a level is open, for a tensor made with grad_fn `node`."""
    info = _info.get(node)
    if info is None:
        return
    info.outs.append(weakref.ref(t))
    if info.fw_only:
        # the Node exists for forward mode only: the tensor stays off the backward graph
        t._grad_fn = None
        t._requires_grad = False
        ex = t._extra
        if ex is None:
            t._extra = {"fw_node": node}
        else:
            ex["fw_node"] = node
        _touch(t)


def flush() -> None:
    """Compute every pending tangent now (before an in-place op or a backward pass changes
    or frees what the Nodes saved)."""
    if _suspended:
        return
    while _pending:
        node = _pending.pop()()
        if node is not None:
            info = _info.get(node)
            if info is not None and info.result is None:
                _compute(node, info)


def _outputs(info) -> list:
    """(output_nr, shape, dtype, tensor) of the Node's outputs that are still alive."""
    seen = {}
    for r in info.outs:
        t = r()
        if t is not None and t._output_nr not in seen:
            seen[t._output_nr] = t
    return [(nr, t._data.shape, t._dtype, t) for nr, t in sorted(seen.items())]


class _Memory:
    """Exposes a strided window of an array's memory to NumPy (and keeps the array alive)."""

    def __init__(self, iface: dict, owner) -> None:
        self.__array_interface__ = iface
        self.owner = owner


def _view_tangent(out, src, tan):
    """The tangent of a view `out` of an input with values `src` and tangent `tan`: the same
    window of tan's memory, so that writes through views and bases reach every tangent, as
    in PyTorch. None when tan is not laid out as src is (the op's rule is used then)."""
    import numpy as np

    from ..ops._core import wrap_view

    ta, oa = tan._data, out._data
    if (tan._requires_grad or ta.strides != src.strides or ta.shape != src.shape
            or ta.dtype != src.dtype or not np.may_share_memory(oa, src)):
        return None
    off = oa.__array_interface__["data"][0] - src.__array_interface__["data"][0]
    iface = {"shape": oa.shape, "strides": oa.strides, "typestr": oa.dtype.str, "version": 3,
             "data": (ta.__array_interface__["data"][0] + off, not ta.flags.writeable)}
    return wrap_view(np.asarray(_Memory(iface, ta)), tan)


def _compute(node, info) -> tuple:
    """The output tangents of node, from its jvp when it has one, else from its vjp."""
    global _suspended
    state = _grad_state
    prev = state.enabled
    _suspended += 1
    try:
        tans = info.tans
        if any(_batched(t) for t in tans):
            res = _compute_batched(node, info)
        else:
            res = _compute_plain(node, info)
    finally:
        _suspended -= 1
        state.enabled = prev
    info.result = res
    info.tans = info.src = None  # the input tangents are no longer needed
    return res


def _compute_batched(node, info) -> tuple:
    """The output tangents for a batch of input tangents (vmap over forward AD): the Node's
    rules run once on the BatchedTensors; a rule that cannot take them runs per sample."""
    from . import engine

    tans = info.tans
    level = max(t._level for t in tans if _batched(t))
    try:
        return _compute_plain(node, info, views_ok=False)
    except Exception:  # noqa: BLE001 (a rule that cannot batch: per sample below)
        pass
    from .. import stack
    from ..func._batching_autograd import PER_SAMPLE, _select_level
    from ..func._batching_core import STATE

    key = "jvp of " + node.name()
    PER_SAMPLE[key] = PER_SAMPLE.get(key, 0) + 1
    per = []
    for i in range(STATE.size(level)):
        info.tans = tuple(_select_level(t, level, i) for t in tans)
        per.append(_compute_plain(node, info, views_ok=False))
    info.tans = tans
    return tuple(
        None if per[0][k] is None else engine._BT(stack([p[k] for p in per], 0), level)
        for k in range(len(per[0])))


def _compute_plain(node, info, views_ok: bool = True) -> tuple:
    """The output tangents of node, from its jvp when it has one, else from its vjp (views:
    the same window of the input's tangent, when views_ok)."""
    state = _grad_state
    jvp = getattr(node, "jvp", None)
    tans = info.tans
    real = all(t is None or not t._dtype.is_complex for t in tans)
    outs = _outputs(info)
    views = None
    if views_ok and info.src is not None and outs and all(
            t._base is not None for *_, t in outs):
        views = [None] * node.n_outputs
        for nr, _, _, t in outs:
            views[nr] = _view_tangent(t, info.src, tans[0])
        if any(views[nr] is None for nr, *_ in outs):
            views = None
    if views is not None:
        res = tuple(views)
    elif jvp is not None and (getattr(node, "jvp_complex", False) or (
            real and all(not dt.is_complex for _, _, dt, _ in outs))):
        state.enabled = info.grad_on
        res = jvp(*tans)
        if type(res) is not tuple:
            res = (res,)
    else:
        res = _by_double_vjp(node, info, outs)
    return _fit(res, outs, node.n_outputs)


def _fit(res, outs, n) -> tuple:
    """One tangent per output, each of its output's shape and dtype (None for outputs that are
    not differentiable)."""
    res = list(res) + [None] * (n - len(res))
    for nr, shape, dt, _ in outs:
        tan = res[nr]
        if tan is None:
            continue
        if not (dt.is_floating_point or dt.is_complex):
            res[nr] = None
            continue
        tshape = tuple(tan.shape) if _batched(tan) else tan._data.shape
        if tshape != shape:
            tan = tan.expand(shape) if len(tshape) <= len(shape) else tan.reshape(shape)
        if tan._dtype is not dt and (tan._dtype.is_complex and not dt.is_complex):
            tan = tan.real  # (a real output's tangent is real)
        elif tan._dtype is not dt and not (tan._dtype.is_floating_point or tan._dtype.is_complex):
            tan = tan.to(dt)
        res[nr] = tan
    return tuple(res)


class _ForwardOnly(Node):
    """The edge given to an input that carries a tangent but needs no gradient: ops save (and
    rules compute) what an input with an edge needs. Gradients reaching it are dropped."""

    __slots__ = ()

    def vjp(self, *grads):
        return ()


_DUMMY_EDGE = (_ForwardOnly(), 0)


def _batched_scalar_grads(s, leaves: list, create: bool) -> list:
    """For a BatchedTensor s of one scalar per sample (over a plain physical value): the
    gradient of each sample's s with respect to the plain leaves, as BatchedTensors."""
    from .. import eye
    from . import engine
    from . import grad as autograd_grad

    phys, level = s._value, s._level
    if _batched(phys):
        raise NotImplementedError("nested vmap over forward AD")
    n = phys.shape[0]
    got = autograd_grad(phys, leaves, eye(n, dtype=phys.dtype), allow_unused=True,
                        create_graph=create, is_grads_batched=True)
    return [None if g is None else engine._BT(g, level) for g in got]


def _by_double_vjp(node, info, outs) -> tuple:
    """J t as the gradient of s(g) = <vjp(g), t> with respect to the cotangent g."""
    from .._creation import ones, zeros
    from . import grad as autograd_grad
    tans = info.tans
    leaves = {}
    gs = [None] * node.n_outputs
    for nr, shape, dt, _ in outs:
        if dt.is_floating_point or dt.is_complex:
            # vjp is linear in g, so any g serves; ones keeps rules that take log|g| or
            # divide by g (computing in log space) away from their singular point
            g = ones(shape, dtype=dt, requires_grad=True)
            gs[nr] = leaves[nr] = g
    if not leaves:
        return (None,) * node.n_outputs
    state = _grad_state
    state.enabled = True
    old_next = node._next
    node._next = tuple(
        _DUMMY_EDGE if e[0] is None and tan is not None else e for e, tan in zip(old_next, tans))
    try:
        vj = node.vjp(*gs)
    except (RuntimeError, NotImplementedError) as e:
        raise NotImplementedError(
            f"forward-mode AD is not yet supported for {node.name()} (its backward rule "
            f"cannot be differentiated here: {e})") from e
    finally:
        node._next = old_next
    if type(vj) is not tuple:
        vj = (vj,)
    s = None
    for v, tan in zip(vj, tans):
        if v is None or tan is None:
            continue
        if v._data.shape != tuple(tan.shape):
            v = v.sum_to_size(tan.shape)
        if v._dtype.is_complex or tan._dtype.is_complex:
            term = (v.conj() * tan).real.sum()
        else:
            term = (v * tan).sum()
        s = term if s is None else s + term
    res = [None] * node.n_outputs
    if s is None or not s.requires_grad:
        # a rule whose result does not depend on g through tapegrad ops is not linear in
        # tapegrad's sense: only an all-zero result (a zero derivative) can be trusted
        if any(v is not None and tan is not None and v._data.any()
               for v, tan in zip(vj, tans)):
            raise NotImplementedError(
                f"forward-mode AD is not yet supported for {node.name()} (its backward rule "
                "has no derivative of its own); reverse mode works")
        for nr, g in leaves.items():
            res[nr] = zeros(g.shape, dtype=g.dtype)
        return tuple(res)
    keys = list(leaves)
    create = info.grad_on and (not info.fw_only or any(
        t is not None and t.requires_grad for t in tans))
    try:
        if _batched(s):  # one s per sample: d s_b / d g for every b in one batched pass
            got = _batched_scalar_grads(s, [leaves[k] for k in keys], create)
        else:
            got = autograd_grad(s, [leaves[k] for k in keys], allow_unused=True,
                                create_graph=create)
    except (RuntimeError, NotImplementedError) as e:
        raise NotImplementedError(
            f"forward-mode AD is not yet supported for {node.name()} (its backward rule "
            f"cannot be differentiated here: {e})") from e
    for k, g in zip(keys, got):
        res[k] = g if g is not None else zeros(leaves[k].shape, dtype=leaves[k].dtype)
    return tuple(res)


# --- in-place ops -----------------------------------------------------------------------------
def has_dual(*values) -> bool:
    """Whether any tensor among values (nested in tuples, lists and dicts) carries a tangent."""
    from .._tensor import Tensor

    stack = list(values)
    while stack:
        v = stack.pop()
        if isinstance(v, Tensor):
            if tangent_of(v) is not None:
                return True
        elif isinstance(v, (tuple, list)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
    return False


def inplace(t, run, out_of_place):
    """An in-place op on t when a tangent is involved. Its tangent is the out-of-place op's,
    computed first from t's old value; the op itself then runs as usual, and t's tangent is
    updated in place (so the tangents of t's base and views follow, as in PyTorch)."""
    global _suspended
    flush()
    tt = tangent_of(t)
    r = out_of_place()
    rt = tangent_of(r) if r is not None else None
    flush()
    _suspended += 1
    try:
        res = run()
    finally:
        _suspended -= 1
    _store(t, tt, rt)
    _note_inplace_node(t, rt)
    return res


def _note_inplace_node(t, rt) -> None:
    """Give the Node the in-place op recorded the tangent rt of its output, so that the
    output it saved (rebuilt when a backward pass unpacks it, e.g. exp_'s result) carries the
    tangent it had then: forward-over-reverse through in-place ops."""
    from ..ops._inplace_record import CopySlices

    node, nr = t._grad_fn, t._output_nr
    if t._base is not None:  # an op on a view: the op's own node is CopySlices' input 1
        cs = t._base._grad_fn
        if type(cs) is not CopySlices:
            return
        node, nr = cs._next[1]
    if node is None or node in _info or rt is None:
        return
    info = _Fw((), False, _grad_state.enabled, None)
    res = [None] * node.n_outputs
    if nr < len(res):
        res[nr] = rt
    info.result = tuple(res)
    _info[node] = info


def setitem(t, index, value, run) -> None:
    """t[index] = value when t or value carries a tangent: the tangent gets the same write."""
    global _suspended
    from .._tensor import Tensor

    flush()
    tt = tangent_of(t)
    vt = tangent_of(value) if isinstance(value, Tensor) else None
    _suspended += 1
    try:
        run()
        if tt is None:
            tt = _new_tangent(t)
        if tt is not None:
            Tensor.__setitem__(tt, index, vt if vt is not None else 0)
    finally:
        _suspended -= 1


def _store(t, tt, rt) -> None:
    """Make rt (None for zero) the tangent of t, writing into t's old tangent tt if any."""
    global _suspended
    if tt is None:
        if rt is None:
            return
        tt = _new_tangent(t)
        if tt is None:
            _set_tangent(t, rt)
            return
    if _batched(tt) or _batched(rt):  # (a batch of tangents replaces the old one)
        _set_tangent(t, rt if rt is not None else tt.new_zeros(tt.shape))
        return
    _suspended += 1
    try:
        if tt._data.flags.writeable and not tt._requires_grad:
            from ..autograd.grad_mode import no_grad

            with no_grad():
                if rt is None:
                    tt.zero_()
                else:
                    tt.copy_(rt)
        else:
            _set_tangent(t, rt if rt is not None else tt.new_zeros(tt.shape))
    finally:
        _suspended -= 1


def _new_tangent(t):
    """A zero tangent for t: for a view, the matching part of a (new, zero) tangent of its
    base, so that the base sees what is written through the view."""
    import numpy as np

    from ..ops._core import wrap_view

    base = t._base
    if base is None:
        z = t.new_zeros(t.shape)
        _set_tangent(t, z)
        return z
    if not (t._dtype.is_floating_point or t._dtype.is_complex):
        return None
    bt = tangent_of(base)
    if bt is None:
        bt = base.new_zeros(base.shape)
        _set_tangent(base, bt)
    ba, ta = base._data, t._data
    if not (ba.flags.c_contiguous and bt._data.flags.c_contiguous and ba.dtype == bt._data.dtype):
        return None
    offset = ta.__array_interface__["data"][0] - ba.__array_interface__["data"][0]
    arr = np.ndarray(ta.shape, dtype=ta.dtype, buffer=bt._data, offset=offset,
                     strides=ta.strides)
    v = wrap_view(arr, bt)
    _set_tangent(t, v)
    return v


def value_as(t, value):
    """value (a tensor, or a number) broadcast to t's shape and dtype: what copy_ and fill_
    write, with its tangent (None for a number)."""
    from .._tensor import Tensor

    if not isinstance(value, Tensor):
        return None
    v = value.expand(t.shape)
    if v._dtype is not t._dtype:
        v = v.real.to(t._dtype) if v._dtype.is_complex and not t._dtype.is_complex else v.to(
            t._dtype)
    return v


# --- custom Functions -------------------------------------------------------------------------
def tangents_of(inputs):
    """Per input, its tangent (zeros for a tensor without one, None for a non-tensor), or
    None when no input carries a tangent."""
    if _suspended:
        return None
    from .._tensor import Tensor

    tans = [tangent_of(a) if isinstance(a, Tensor) else None for a in inputs]
    if all(t is None for t in tans):
        return None
    return [a.new_zeros(a.shape) if t is None and isinstance(a, Tensor)
            and (a._dtype.is_floating_point or a._dtype.is_complex) else t
            for a, t in zip(inputs, tans)]


def custom_jvp(cls, ctx, inputs, tangents, result) -> None:
    """Give the outputs of a custom Function call the tangents its `jvp` returns."""
    global _suspended
    from .._tensor import Tensor

    ctx._in_jvp = True
    _suspended += 1
    try:
        got = cls.jvp(ctx, *tangents)
    finally:
        _suspended -= 1
        ctx._in_jvp = False
    outs = result if isinstance(result, tuple) else (result,)
    got = got if isinstance(got, tuple) else (got,)
    if len(got) != len(outs):
        raise RuntimeError(
            f"jvp() returned an incorrect number of tangents (expected {len(outs)}, got "
            f"{len(got)})")
    for o, t in zip(outs, got):
        if isinstance(o, Tensor) and t is not None and (
                o._dtype.is_floating_point or o._dtype.is_complex):
            if tuple(t.shape) != tuple(o.shape):
                raise RuntimeError(
                    "Trying to set a forward gradient that has a different size than that of "
                    f"the original Tensor, this is not supported. Tensor is of size "
                    f"{list(o.shape)} while the given forward gradient is of size "
                    f"{list(t.shape)}.")
            _set_tangent(o, t)

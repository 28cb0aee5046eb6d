"""Hook handles, global module hooks, and the identity node behind full backward hooks."""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict

from ...autograd import grad_mode
from ...autograd.graph import Node, VersionCounter

__all__ = ["RemovableHandle", "BackwardHook"]


class RemovableHandle:
    """A handle that removes a registered hook: `handle.remove()` or leaving a `with` block."""

    next_id = 0

    def __init__(self, hooks_dict, *, extra_dict=None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        if extra_dict is None:
            extra = ()
        elif isinstance(extra_dict, (list, tuple)):
            extra = extra_dict
        else:
            extra = (extra_dict,)
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extra)

    def remove(self) -> None:
        hooks = self.hooks_dict_ref()
        if hooks is not None and self.id in hooks:
            del hooks[self.id]
        for ref in self.extra_dict_ref:
            d = ref()
            if d is not None and self.id in d:
                del d[self.id]

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


# Hooks that apply to every module (torch.nn.modules.module.register_module_*_hook).
_global_forward_pre_hooks: OrderedDict = OrderedDict()
_global_forward_hooks: OrderedDict = OrderedDict()
_global_forward_hooks_always_called: OrderedDict = OrderedDict()
_global_forward_hooks_with_kwargs: OrderedDict = OrderedDict()
_global_backward_pre_hooks: OrderedDict = OrderedDict()
_global_backward_hooks: OrderedDict = OrderedDict()
_global_is_full_backward_hook: list = [None]
_global_buffer_registration_hooks: OrderedDict = OrderedDict()
_global_module_registration_hooks: OrderedDict = OrderedDict()
_global_parameter_registration_hooks: OrderedDict = OrderedDict()


class BackwardHookFunctionBackward(Node):
    """Identity over a module's tensor inputs (or outputs): its post-hook sees their grads."""

    __slots__ = ("n_outputs", "_meta", "_callback")

    def vjp(self, *grads):
        # an output that received no gradient passes on zeros (autograd.Function's
        # materialize_grads), so hooks see zeros, not None, for such inputs
        outs = grads
        if not all(g is not None for g in grads):
            from ..._creation import zeros

            outs = tuple(
                g if g is not None else zeros(shape, dtype=dt) for g, (shape, dt) in
                zip(grads, self._meta)
            )
        cb = self._callback
        if cb is not None:
            res = cb(outs, grads)  # the module hook sees (grad_inputs, grad_outputs)
            if res is not None:
                outs = tuple(res)
        return outs


def _identity_over(tensors):
    """New tensors aliasing `tensors`, all outputs of one BackwardHookFunctionBackward node
    (tensors that do not require grad are passed through unchanged)."""
    from ..._tensor import Tensor, _make
    from ...autograd.engine import edge_of

    node = BackwardHookFunctionBackward()
    node.n_outputs = len(tensors)
    node._meta = tuple((t._data.shape, t._dtype) for t in tensors)
    node._callback = None
    nxt, meta, outs = [], [], []
    for i, t in enumerate(tensors):
        if t._requires_grad:
            nxt.append(edge_of(t))
            meta.append((t._data.shape, t._dtype))
            o = _make(t._data, node, True)
            o._output_nr = i
            if t._vc is None:
                t._vc = VersionCounter()
            o._vc = t._vc
            outs.append(o)
        else:
            nxt.append((None, 0))
            meta.append(None)
            outs.append(t)
    node._next = tuple(nxt)
    node._in_meta = tuple(meta)
    assert all(isinstance(o, Tensor) for o in outs)
    return node, outs


def _add_post_hook(node, fn) -> None:
    node._callback = fn


_NO_INPUT_GRAD_WARNING = (
    "Full backward hook is firing when gradients are computed with respect to module outputs "
    "since no inputs require gradients. See "
    "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
    "#torch.nn.Module.register_full_backward_hook for more details."
)


class BackwardHook:
    """Wires a module's full backward hooks around one call: an identity node over the inputs
    and one over the outputs. The outputs' node records grad_output (after the backward
    pre-hooks); the inputs' node then calls hook(module, grad_input, grad_output)."""

    def __init__(self, module, user_hooks, user_pre_hooks) -> None:
        self.user_hooks = user_hooks
        self.user_pre_hooks = user_pre_hooks
        self.module = module
        self.grad_outputs = None
        self.n_outputs = -1
        self.output_tensors_index = None
        self.n_inputs = -1
        self.input_tensors_index = None

    @staticmethod
    def _pack_with_none(indices, values, size) -> tuple:
        res = [None] * size
        for idx, val in zip(indices, values):
            res[idx] = val
        return tuple(res)

    def _apply_on_tensors(self, fn, args):
        from ..._tensor import Tensor

        idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        tensors = [args[i] for i in idx]
        if not (any(t._requires_grad for t in tensors) and grad_mode.state.enabled):
            return args, None
        node, new = _identity_over(tensors)
        fn(node)
        out = list(args)
        for i, v in zip(idx, new):
            out[i] = v
        return (tuple(out) if type(args) is tuple else type(args)(*out)), idx

    def setup_input_hook(self, args):
        def on_inputs(node) -> None:
            def hook(grad_input, _grad_output):
                if self.grad_outputs is None:
                    return None
                res = self._pack_with_none(self.input_tensors_index, grad_input, self.n_inputs)
                for user_hook in self.user_hooks:
                    out = user_hook(self.module, res, self.grad_outputs)
                    if out is None:
                        continue
                    if len(out) != len(res):
                        raise RuntimeError(
                            "Backward hook returned an invalid number of grad_input, "
                            f"got {len(out)}, but expected {len(res)}"
                        )
                    res = out
                self.grad_outputs = None
                return tuple(res[i] for i in self.input_tensors_index)

            _add_post_hook(node, hook)

        res, idx = self._apply_on_tensors(on_inputs, args)
        self.n_inputs = len(args)
        self.input_tensors_index = idx
        return res

    def setup_output_hook(self, args):
        def on_outputs(node) -> None:
            def hook(_grad_input, grad_output):
                self.grad_outputs = self._pack_with_none(
                    self.output_tensors_index, grad_output, self.n_outputs
                )
                expected = len(self.grad_outputs)
                for pre in self.user_pre_hooks:
                    new = pre(self.module, self.grad_outputs)
                    if new is None:
                        continue
                    if len(new) != expected:
                        raise RuntimeError(
                            "Backward pre hook returned an invalid number of grad_output, "
                            f"got {len(new)}, but expected {expected}"
                        )
                    self.grad_outputs = new
                local = self.grad_outputs
                if self.input_tensors_index is None:
                    warnings.warn(_NO_INPUT_GRAD_WARNING, stacklevel=5)
                    grad_inputs = (None,) * self.n_inputs
                    for user_hook in self.user_hooks:
                        res = user_hook(self.module, grad_inputs, self.grad_outputs)
                        if res is not None and not (
                            isinstance(res, tuple) and all(r is None for r in res)
                        ):
                            raise RuntimeError(
                                "Backward hook for Modules where no input requires gradient "
                                "should always return None or None for all gradients."
                            )
                    self.grad_outputs = None
                return tuple(local[i] for i in self.output_tensors_index)

            _add_post_hook(node, hook)

        is_tuple = isinstance(args, tuple)
        if not is_tuple:
            args = (args,)
        res, idx = self._apply_on_tensors(on_outputs, args)
        self.n_outputs = len(args)
        self.output_tensors_index = idx
        return res if is_tuple else res[0]

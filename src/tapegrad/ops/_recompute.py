"""Nodes whose rule is the derivative of a composite: the op computes its result with a NumPy
kernel, and its backward reruns the same computation written in tapegrad ops (the node's
`composite`) and differentiates that (a backward pass inside the backward pass, as a reentrant
checkpoint does). Used for ops whose derivatives are long to write by hand (Householder
products). With create_graph the recomputation hangs off aliases of the saved inputs, so the
gradients are themselves differentiable; without it, off detached copies.
"""

from __future__ import annotations

from ..autograd import grad_mode
from ..autograd.graph import Node

__all__: list[str] = []


class RecomputeNode(Node):
    """Subclasses set `composite(self, *inputs) -> Tensor` over the saved inputs (save() them
    in input order; non-tensor arguments live on the node)."""

    __slots__ = ()

    def composite(self, *inputs):
        raise NotImplementedError

    def vjp(self, *grads):
        from .. import autograd

        inputs = self.saved_tensors()
        create = grad_mode.is_grad_enabled()
        needs = [e[0] is not None for e in self._next]
        with grad_mode.enable_grad():
            xs = []
            for x, need in zip(inputs, needs):
                if x is None:
                    xs.append(None)
                elif create and (x._requires_grad or not need):
                    # an alias: never an ancestor of another input's alias
                    xs.append(x.view_as(x) if need else x)
                else:
                    xs.append(x.detach().requires_grad_(need))
            out = self.composite(*xs)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        pairs = [(o, g) for o, g in zip(outs, grads) if g is not None and o.requires_grad]
        wanted = [x for x, need in zip(xs, needs) if need]
        if not pairs or not wanted:
            return tuple(None for _ in needs)
        got = autograd.grad([o for o, _ in pairs], wanted, [g for _, g in pairs],
                            allow_unused=True, create_graph=create)
        it = iter(got)
        res = []
        for x, need in zip(xs, needs):
            if not need:
                res.append(None)
                continue
            g = next(it)
            res.append(g if g is not None else x.new_zeros(x.shape))
        return tuple(res)

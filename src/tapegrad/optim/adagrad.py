"""Adagrad: per-coordinate learning rates from the sum of squared gradients."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor, _make
from . import _kernels as K
from ._common import _check_fused, _check_hparams, _float, _new_scalar, _run_closure
from .optimizer import Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (PyTorch's update, step for step).

    t <- t + 1; clr = lr / (1 + (t - 1) lr_decay); s <- s + g^2;
    p <- p - clr g / (sqrt(s) + eps). The sums start at initial_accumulator_value and are
    made for every parameter at construction.

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.Adagrad([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_hparams(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                       initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = {
            "lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
            "maximize": maximize, "differentiable": differentiable, "fused": fused,
        }
        super().__init__(params, defaults)
        _check_fused(fused, foreach, differentiable)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, self.state[p], group)

    def _init_state(self, p: Tensor, state: dict, group: dict) -> None:
        from .. import float32

        step = _new_scalar(0.0)
        state["step"] = step.to(float32) if group["fused"] else step
        # the sums start at the defaults' initial value (as in PyTorch, not the group's)
        init = self.defaults["initial_accumulator_value"]
        state["sum"] = _make(np.full_like(p._data, complex(init, init)
                                          if p._data.dtype.kind == "c" else init))

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self._restore_defaults({
            "foreach": None, "maximize": False, "differentiable": False, "fused": None,
        }, scalars=())
        for st in self.state.values():
            if isinstance(st, dict) and "step" in st and not isinstance(st["step"], Tensor):
                st["step"] = _new_scalar(float(st["step"]))

    def share_memory(self) -> None:
        """A no-op in tapegrad (there is one process): kept for API compatibility."""

    def step(self, closure=None):
        """Perform one optimization step; returns closure's loss when a closure is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr = _float(group["lr"])
            lr_decay = group["lr_decay"]
            eps = group["eps"]
            for _p, pa, g, state, step in self._each_param(group):
                clr = lr / (1 + (step - 1) * lr_decay)
                s = K.real(state["sum"]._data)
                K.addcmul(s, g, g, 1, out=s)
                std = K.sqrt(s)
                K.add_scalar(std, eps, out=std)
                K.addcdiv(pa, g, std, -clr, out=pa)
        return loss

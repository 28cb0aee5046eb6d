"""RMSprop: gradient scaled by a running root-mean-square, optionally centered and with
momentum."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from . import _kernels as K
from ._common import _check_hparams, _float, _run_closure, _zeros_like
from .optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (PyTorch's variant, step for step).

    s <- alpha s + (1 - alpha) g^2; avg = sqrt(s) (centered: sqrt(s - a^2) with
    a <- lerp(a, g, 1 - alpha)) + eps; with momentum: b <- mu b + g / avg, p <- p - lr b;
    otherwise p <- p - lr g / avg.

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_hparams(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay,
                       alpha=alpha)
        defaults = {
            "lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
            "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
            "maximize": maximize, "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self._restore_defaults({
            "momentum": 0, "centered": False, "foreach": None, "maximize": False,
            "differentiable": False, "capturable": False,
        })

    _state_keys = ("square_avg",)

    def _init_state(self, p: Tensor, state: dict, group: dict) -> None:
        super()._init_state(p, state, group)
        if group["momentum"] > 0:
            state["momentum_buffer"] = _zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = _zeros_like(p)

    def step(self, closure=None):
        """Perform one optimization step; returns closure's loss when a closure is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            momentum = group["momentum"]
            centered = group["centered"]
            lr = _float(group["lr"])
            alpha = group["alpha"]
            eps = group["eps"]
            for _p, pa, g, state, _t in self._each_param(group):
                sq = K.real(state["square_avg"]._data)
                K.mul(sq, alpha, out=sq)
                K.addcmul(sq, g, g, 1 - alpha, out=sq)
                if centered:
                    ga = K.real(state["grad_avg"]._data)
                    K.lerp(ga, g, 1 - alpha, out=ga)
                    avg = K.addcmul(sq, ga, ga, -1)
                    np.sqrt(avg, out=avg)
                else:
                    avg = K.sqrt(sq)
                K.add_scalar(avg, eps, out=avg)
                if momentum > 0:
                    buf = K.real(state["momentum_buffer"]._data)
                    K.mul(buf, momentum, out=buf)
                    K.addcdiv(buf, g, avg, 1, out=buf)
                    K.axpy(pa, buf, -lr, out=pa)
                else:
                    K.addcdiv(pa, g, avg, -lr, out=pa)
        return loss

"""Adamax: Adam with the infinity norm in place of the second moment."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from . import _kernels as K
from ._common import _check_hparams, _float, _run_closure
from .optimizer import Optimizer

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adamax (PyTorch's update, step for step).

    m <- lerp(m, g, 1 - beta1); u <- max(beta2 u, |g| + eps);
    p <- p - lr / (1 - beta1^t) * m / u.

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.Adamax([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_hparams(lr=lr, eps=eps, betas=betas, weight_decay=weight_decay)
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self._restore_defaults({
            "foreach": None, "maximize": False, "differentiable": False, "capturable": False,
        })

    _state_keys = ("exp_avg", "exp_inf")

    def step(self, closure=None):
        """Perform one optimization step; returns closure's loss when a closure is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr = _float(group["lr"])
            eps = group["eps"]
            for _p, pa, g, state, step in self._each_param(group):
                m = K.real(state["exp_avg"]._data)
                u = K.real(state["exp_inf"]._data)
                K.lerp(m, g, 1 - beta1, out=m)
                K.mul(u, beta2, out=u)
                np.maximum(u, K.add_scalar(np.abs(g), eps), out=u)
                clr = lr / (1 - beta1**step)
                K.addcdiv(pa, m, u, -clr, out=pa)
        return loss

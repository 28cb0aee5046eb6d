"""Adamax: Adam with the infinity norm in place of the second moment."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from . import _kernels as K
from .adam import _check_betas
from .optimizer import (
    Optimizer,
    _check_group,
    _check_lr,
    _float,
    _new_scalar,
    _run_closure,
    _zeros_like,
)

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
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)
            for p in group["params"]:
                st = self.state.get(p, {})
                if len(st) != 0 and not isinstance(st["step"], Tensor):
                    st["step"] = _new_scalar(float(st["step"]))

    def step(self, closure=None):
        """Perform one optimization step; returns closure's loss when a closure is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            params = [p for p in group["params"] if p._grad is not None]
            states = []
            for p in params:
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_scalar(0.0)
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_inf"] = _zeros_like(p)
                states.append(state)
            _check_group(group, params)
            beta1, beta2 = group["betas"]
            lr = _float(group["lr"])
            eps = group["eps"]
            wd = group["weight_decay"]
            maximize = group["maximize"]
            for p, state in zip(params, states):
                pa = K.real(p._data)
                g = K.real(p._grad._data)
                if maximize:
                    g = K.neg(g)
                t_arr = state["step"]._data
                t_arr += 1
                if wd != 0:
                    g = K.axpy(g, pa, wd)
                m = K.real(state["exp_avg"]._data)
                u = K.real(state["exp_inf"]._data)
                K.lerp(m, g, 1 - beta1, out=m)
                K.mul(u, beta2, out=u)
                np.maximum(u, K.add_scalar(np.abs(g), eps), out=u)
                clr = lr / (1 - beta1 ** float(t_arr))
                K.addcdiv(pa, m, u, -clr, out=pa)
                p._bump_version()
        return loss

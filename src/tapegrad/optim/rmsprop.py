"""RMSprop: gradient scaled by a running root-mean-square, optionally centered and with
momentum."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from . import _kernels as K
from .optimizer import (
    Optimizer,
    _check_group,
    _check_lr,
    _float,
    _new_scalar,
    _run_closure,
    _zeros_like,
)

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
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {
            "lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
            "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
            "maximize": maximize, "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
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
            momentum = group["momentum"]
            centered = group["centered"]
            states = []
            for p in params:
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_scalar(0.0)
                    state["square_avg"] = _zeros_like(p)
                    if momentum > 0:
                        state["momentum_buffer"] = _zeros_like(p)
                    if centered:
                        state["grad_avg"] = _zeros_like(p)
                states.append(state)
            _check_group(group, params)
            lr = _float(group["lr"])
            alpha = group["alpha"]
            eps = group["eps"]
            wd = group["weight_decay"]
            maximize = group["maximize"]
            for p, state in zip(params, states):
                pa = K.real(p._data)
                g = K.real(p._grad._data)
                if maximize:
                    g = K.neg(g)
                state["step"]._data += 1
                if wd != 0:
                    g = K.axpy(g, pa, wd)
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
                p._bump_version()
        return loss

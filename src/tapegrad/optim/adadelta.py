"""Adadelta: step sizes from running averages of squared gradients and squared updates."""

from __future__ import annotations

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

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta (PyTorch's update, step for step).

    s <- rho s + (1 - rho) g^2; delta = sqrt(u + eps) / sqrt(s + eps) * g;
    u <- rho u + (1 - rho) delta^2; p <- p - lr delta.

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.Adadelta([w])
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9968, -1.9968], requires_grad=True)
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
            "maximize": maximize, "capturable": capturable, "foreach": foreach,
            "differentiable": differentiable,
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
                    state["square_avg"] = _zeros_like(p)
                    state["acc_delta"] = _zeros_like(p)
                states.append(state)
            _check_group(group, params, xla=False)
            lr = _float(group["lr"])
            rho = group["rho"]
            eps = group["eps"]
            wd = group["weight_decay"]
            maximize = group["maximize"]
            for p, state in zip(params, states):
                state["step"]._data += 1
                pa = K.real(p._data)
                g = K.real(p._grad._data)
                if maximize:
                    g = K.neg(g)
                if wd != 0:
                    g = K.axpy(g, pa, wd)
                sq = K.real(state["square_avg"]._data)
                acc = K.real(state["acc_delta"]._data)
                K.mul(sq, rho, out=sq)
                K.addcmul(sq, g, g, 1 - rho, out=sq)
                std = K.sqrt(K.add_scalar(sq, eps))
                delta = K.sqrt(K.add_scalar(acc, eps))
                delta /= std
                delta *= g
                K.mul(acc, rho, out=acc)
                K.addcmul(acc, delta, delta, 1 - rho, out=acc)
                K.axpy(pa, delta, -lr, out=pa)
                p._bump_version()
        return loss

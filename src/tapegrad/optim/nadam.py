"""NAdam: Adam with Nesterov momentum and a momentum-decay schedule."""

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

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """NAdam (PyTorch's update, step for step).

    mu_t = beta1 (1 - 0.5 * 0.96^(t psi)) with psi = momentum_decay; P <- P mu_t (the running
    product, kept as a scalar tensor); m, v as in Adam; d = sqrt(v / (1 - beta2^t)) + eps;
    p <- p - lr (1 - mu_t) / (1 - P) g / d - lr mu_{t+1} / (1 - P mu_{t+1}) m / d.

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.NAdam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.8944, -1.8944], requires_grad=True)
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize, "foreach": foreach, "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)
            for p in group["params"]:
                st = self.state.get(p, {})
                if len(st) != 0:
                    if not isinstance(st["step"], Tensor):
                        st["step"] = _new_scalar(float(st["step"]))
                    if not isinstance(st["mu_product"], Tensor):
                        st["mu_product"] = _new_scalar(st["mu_product"])

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
                    state["mu_product"] = _new_scalar(1.0)
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_avg_sq"] = _zeros_like(p)
                states.append(state)
            _check_group(group, params, what="params, mu_products and state_steps")
            beta1, beta2 = group["betas"]
            lr = _float(group["lr"])
            eps = group["eps"]
            wd = group["weight_decay"]
            psi = group["momentum_decay"]
            decoupled = group["decoupled_weight_decay"]
            maximize = group["maximize"]
            for p, state in zip(params, states):
                pa = K.real(p._data)
                g = K.real(p._grad._data)
                if maximize:
                    g = K.neg(g)
                t_arr = state["step"]._data
                t_arr += 1
                step = float(t_arr)
                bias2 = 1 - beta2**step
                if wd != 0:
                    if decoupled:
                        K.mul(pa, 1 - lr * wd, out=pa)
                    else:
                        g = K.axpy(g, pa, wd)
                mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * psi)))
                mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * psi)))
                prod_arr = state["mu_product"]._data
                # the running product is a scalar tensor: it rounds to its dtype each step
                np.multiply(prod_arr, K.scalar(prod_arr, mu), out=prod_arr)
                prod = float(prod_arr)
                m = K.real(state["exp_avg"]._data)
                v = K.real(state["exp_avg_sq"]._data)
                K.lerp(m, g, 1 - beta1, out=m)
                K.mul(v, beta2, out=v)
                K.addcmul(v, g, g, 1 - beta2, out=v)
                denom = K.new(v)
                denom /= K.scalar(denom, bias2)
                np.sqrt(denom, out=denom)
                K.add_scalar(denom, eps, out=denom)
                prod_next = prod * mu_next
                K.addcdiv(pa, g, denom, -lr * (1.0 - mu) / (1.0 - prod), out=pa)
                K.addcdiv(pa, m, denom, (-lr * mu_next) / (1.0 - prod_next), out=pa)
                p._bump_version()
        return loss

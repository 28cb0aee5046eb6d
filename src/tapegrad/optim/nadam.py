"""NAdam: Adam with Nesterov momentum and a momentum-decay schedule."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from . import _kernels as K
from ._common import _check_hparams, _float, _new_scalar, _run_closure, _zeros_like
from .optimizer import Optimizer

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
        _check_hparams(lr=lr, eps=eps, betas=betas, weight_decay=weight_decay,
                       momentum_decay=momentum_decay)
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize, "foreach": foreach, "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self._restore_defaults({
            "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
            "decoupled_weight_decay": False,
        }, scalars=("step", "mu_product"))

    def _init_state(self, p: Tensor, state: dict, group: dict) -> None:
        state["step"] = _new_scalar(0.0)
        state["mu_product"] = _new_scalar(1.0)
        state["exp_avg"] = _zeros_like(p)
        state["exp_avg_sq"] = _zeros_like(p)

    def step(self, closure=None):
        """Perform one optimization step; returns closure's loss when a closure is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr = _float(group["lr"])
            eps = group["eps"]
            psi = group["momentum_decay"]
            steps = self._each_param(group, what="params, mu_products and state_steps")
            for _p, pa, g, state, step in steps:
                bias2 = 1 - beta2**step
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
        return loss

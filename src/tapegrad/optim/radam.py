"""RAdam: Adam with a rectified (variance-corrected) adaptive learning rate."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from . import _kernels as K
from ._common import _check_hparams, _float, _run_closure
from .optimizer import Optimizer

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """RAdam (PyTorch's update, step for step).

    m, v as in Adam; rho_inf = 2 / (1 - beta2) - 1, rho_t = rho_inf - 2 t beta2^t /
    (1 - beta2^t). When rho_t > 5 the step is lr * m_hat * r_t * sqrt(1 - beta2^t) /
    (sqrt(v) + eps) with r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)
    (rho_inf - 2) rho_t)); otherwise plain momentum, lr * m_hat (m_hat = m / (1 - beta1^t)).

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.RAdam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.8000, -1.6000], requires_grad=True)
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_hparams(lr=lr, eps=eps, betas=betas, weight_decay=weight_decay)
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "maximize": maximize, "foreach": foreach, "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay, "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self._restore_defaults({
            "foreach": None, "maximize": False, "differentiable": False,
            "decoupled_weight_decay": False, "capturable": False,
        })

    _state_keys = ("exp_avg", "exp_avg_sq")

    def step(self, closure=None):
        """Perform one optimization step; returns closure's loss when a closure is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr = _float(group["lr"])
            eps = group["eps"]
            for _p, pa, g, state, step in self._each_param(group):
                m = K.real(state["exp_avg"]._data)
                v = K.real(state["exp_avg_sq"]._data)
                K.lerp(m, g, 1 - beta1, out=m)
                K.mul(v, beta2, out=v)
                K.addcmul(v, g, g, 1 - beta2, out=v)
                bias1 = 1 - beta1**step
                bias2 = 1 - beta2**step
                # the update is built left to right as PyTorch does: ((m / bc1) * lr) * ...
                upd = K.new(m)
                upd /= K.scalar(upd, bias1)
                upd *= K.scalar(upd, lr)
                rho_inf = 2 / (1 - beta2) - 1
                rho_t = rho_inf - 2 * step * (beta2**step) / bias2
                if rho_t > 5.0:
                    adaptive = K.sqrt(v)
                    K.add_scalar(adaptive, eps, out=adaptive)
                    # (bias2 ** 0.5) / adaptive: PyTorch divides a scalar by a tensor as
                    # reciprocal(tensor) * scalar
                    np.reciprocal(adaptive, out=adaptive)
                    adaptive *= K.scalar(adaptive, bias2**0.5)
                    upd *= adaptive
                    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                            / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                    upd *= K.scalar(upd, rect)
                K.axpy(pa, upd, -1.0, out=pa)
        return loss

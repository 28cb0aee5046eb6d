"""Adam (and, with decoupled weight decay, AdamW's update)."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from . import _kernels as K
from ._common import _check_fused, _check_hparams, _float, _run_closure, _zeros_like
from .optimizer import Optimizer

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam: moment estimates m, v of the gradient with bias correction.

    t <- t + 1; g <- grad (+ weight_decay * p, or p <- p (1 - lr * wd) when decoupled);
    m <- lerp(m, g, 1 - beta1); v <- beta2 v + (1 - beta2) g^2;
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v') / sqrt(1 - beta2^t) + eps), with v' = v, or
    its running maximum when amsgrad.

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        if isinstance(lr, Tensor):
            if foreach and not capturable:
                raise ValueError(
                    "lr as a Tensor is not supported for capturable=False and foreach=True"
                )
        _check_hparams(lr=lr, eps=eps, betas=betas, weight_decay=weight_decay)
        both_float = isinstance(betas[0], float) and isinstance(betas[1], float)
        both_tensor = isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor)
        if not (both_float or both_tensor):
            raise ValueError("betas must be either both floats or both Tensors")
        for i in (0, 1):
            if isinstance(betas[i], Tensor):
                if not capturable and foreach:
                    raise ValueError(
                        f"betas[{i}] as a Tensor is not supported for capturable=False and "
                        "foreach=True"
                    )
                if betas[i].numel() != 1:
                    raise ValueError(f"Tensor betas[{i}] must be 1-element")
        betas = tuple(b.squeeze() if isinstance(b, Tensor) and b.dim() != 0 else b
                      for b in betas)
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
            "capturable": capturable, "differentiable": differentiable, "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)
        _check_fused(fused, foreach, differentiable)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self._restore_defaults({
            "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
            "differentiable": False, "decoupled_weight_decay": False, "fused": None,
        })

    _state_keys = ("exp_avg", "exp_avg_sq")

    def _init_state(self, p: Tensor, state: dict, group: dict) -> None:
        super()._init_state(p, state, group)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = _zeros_like(p)

    def step(self, closure=None):
        """Perform one optimization step; returns closure's loss when a closure is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            amsgrad = group["amsgrad"]
            beta1, beta2 = (_float(b) for b in group["betas"])
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
                step_size = lr / bias1
                bias2_sqrt = bias2**0.5
                if amsgrad:
                    vmax = K.real(state["max_exp_avg_sq"]._data)
                    np.maximum(vmax, v, out=vmax)
                    v = vmax
                denom = K.sqrt(v)
                denom /= K.scalar(denom, bias2_sqrt)
                K.add_scalar(denom, eps, out=denom)
                K.addcdiv(pa, m, denom, -step_size, out=pa)
        return loss

"""Adam (and, with decoupled weight decay, AdamW's update)."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from . import _kernels as K
from .optimizer import (
    Optimizer,
    _check_group,
    _float,
    _new_scalar,
    _run_closure,
    _zeros_like,
)

__all__ = ["Adam"]


def _check_betas(betas) -> None:
    """PyTorch's range checks on betas (shared by the Adam family)."""
    b0, b1 = betas
    if not 0.0 <= b0 < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {b0}")
    if not 0.0 <= b1 < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {b1}")


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
            if lr.numel() != 1:
                raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
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
        if fused:
            if differentiable:
                raise RuntimeError("`fused` does not support `differentiable`")
            if foreach:
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("fused", None)
            for p in group["params"]:
                st = self.state.get(p, {})
                if len(st) != 0 and not isinstance(st["step"], Tensor):
                    st["step"] = _new_scalar(float(st["step"]))

    def _init_state(self, p: Tensor, amsgrad: bool) -> dict:
        state = self.state[p]
        if len(state) == 0:
            state["step"] = _new_scalar(0.0)
            state["exp_avg"] = _zeros_like(p)
            state["exp_avg_sq"] = _zeros_like(p)
            if amsgrad:
                state["max_exp_avg_sq"] = _zeros_like(p)
        return state

    def step(self, closure=None):
        """Perform one optimization step; returns closure's loss when a closure is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            params = [p for p in group["params"] if p._grad is not None]
            amsgrad = group["amsgrad"]
            states = [self._init_state(p, amsgrad) for p in params]
            _check_group(group, params)
            beta1, beta2 = (_float(b) for b in group["betas"])
            lr = _float(group["lr"])
            wd = group["weight_decay"]
            eps = group["eps"]
            maximize = group["maximize"]
            decoupled = group["decoupled_weight_decay"]
            for p, state in zip(params, states):
                pa = K.real(p._data)
                g = K.real(p._grad._data)
                m = K.real(state["exp_avg"]._data)
                v = K.real(state["exp_avg_sq"]._data)
                if maximize:
                    g = K.neg(g)
                t_arr = state["step"]._data
                t_arr += 1
                step = float(t_arr)
                if wd != 0:
                    if decoupled:
                        K.mul(pa, 1 - lr * wd, out=pa)
                    else:
                        g = K.axpy(g, pa, wd)
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
                p._bump_version()
        return loss

"""Stochastic gradient descent, optionally with (Nesterov) momentum."""

from __future__ import annotations

from .._tensor import Tensor, _make
from . import _kernels as K
from .optimizer import Optimizer, _check_group, _float, _run_closure

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent (PyTorch's update, step for step).

    With g = grad (+ weight_decay * p), momentum mu and dampening d:
    b <- g on the first step, else mu * b + (1 - d) * g; the step direction is b, or
    g + mu * b with nesterov; p <- p - lr * direction (p + lr * direction when maximize).

    >>> import tapegrad
    >>> w = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = tapegrad.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([ 0.8000, -1.6000], requires_grad=True)
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float | Tensor = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr, "momentum": momentum, "dampening": dampening,
            "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
            "foreach": foreach, "differentiable": differentiable, "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        if fused:
            if differentiable:
                raise RuntimeError("`fused` does not support `differentiable`")
            if foreach:
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", False)

    def step(self, closure=None):
        """Perform one optimization step; returns closure's loss when a closure is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            params = [p for p in group["params"] if p._grad is not None]
            _check_group(group, params)
            lr = _float(group["lr"])
            wd = _float(group["weight_decay"])
            momentum = group["momentum"]
            dampening = group["dampening"]
            nesterov = group["nesterov"]
            maximize = group["maximize"]
            for p in params:
                pa = K.real(p._data)
                g = K.real(p._grad._data)
                if maximize:
                    g = K.neg(g)
                if wd != 0:
                    g = K.axpy(g, pa, wd)
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        # the buffer starts as the (decayed) gradient itself
                        buf = _make(K.copy_as(g, p._grad._data))
                        state["momentum_buffer"] = buf
                        b = K.real(buf._data)
                    else:
                        b = K.real(buf._data)
                        K.mul(b, momentum, out=b)
                        K.axpy(b, g, 1 - dampening, out=b)
                        buf._bump_version()
                    g = K.axpy(g, b, momentum) if nesterov else b
                K.axpy(pa, g, -lr, out=pa)
                p._bump_version()
        return loss


"""Stochastic gradient descent, optionally with (Nesterov) momentum."""

from __future__ import annotations

from .._tensor import Tensor, _make
from . import _kernels as K
from ._common import _check_fused, _float, _run_closure
from .optimizer import Optimizer

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
        _check_fused(fused, foreach, differentiable)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self._restore_defaults({
            "nesterov": False, "maximize": False, "foreach": None, "differentiable": False,
            "fused": False,
        }, scalars=())

    def step(self, closure=None):
        """Perform one optimization step; returns closure's loss when a closure is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr = _float(group["lr"])
            momentum = group["momentum"]
            dampening = group["dampening"]
            nesterov = group["nesterov"]
            for p, pa, g, _s, _t in self._each_param(group, stateful=False):
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
        return loss


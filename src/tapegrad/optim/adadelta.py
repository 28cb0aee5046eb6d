"""Adadelta: step sizes from running averages of squared gradients and squared updates."""

from __future__ import annotations

from .._tensor import Tensor
from . import _kernels as K
from ._common import _check_hparams, _float, _run_closure
from .optimizer import Optimizer

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
        _check_hparams(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
        defaults = {
            "lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
            "maximize": maximize, "capturable": capturable, "foreach": foreach,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self._restore_defaults({
            "foreach": None, "maximize": False, "differentiable": False, "capturable": False,
        })

    _state_keys = ("square_avg", "acc_delta")

    def step(self, closure=None):
        """Perform one optimization step; returns closure's loss when a closure is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr = _float(group["lr"])
            rho = group["rho"]
            eps = group["eps"]
            for _p, pa, g, state, _t in self._each_param(group, xla=False):
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
        return loss

"""Helpers shared by the optimization algorithms: closures, hyper-parameters as numbers, scalar
and zero state tensors, and PyTorch's argument checks (with its messages)."""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.grad_mode import enable_grad


def _run_closure(closure):
    """The loss from closure (evaluated with grad enabled), or None."""
    if closure is None:
        return None
    with enable_grad():
        return closure()


def _float(x):
    """A hyper-parameter as a number. A 1-element tensor (PyTorch allows one for lr) becomes a
    NumPy scalar of its dtype, so arithmetic with it rounds as PyTorch's 0-d tensor
    arithmetic does (a float32 lr keeps lr / bias_correction in float32)."""
    return x._data.reshape(())[()] if isinstance(x, Tensor) else x


def _scalar_dtype():
    """The dtype of 'step' and similar scalar state: float64 when that is the default dtype,
    else float32."""
    return D.float64 if D.get_default_dtype() is D.float64 else D.float32


def _new_scalar(value: float) -> Tensor:
    """A 0-d state tensor ('step', NAdam's 'mu_product')."""
    return _make(np.array(value, dtype=_scalar_dtype().np))


def _zeros_like(p: Tensor) -> Tensor:
    """Zeros shaped, typed and laid out as p (PyTorch's preserve_format)."""
    return _make(np.zeros_like(p._data))


def _check_lr(lr) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def _check_betas(betas) -> None:
    """PyTorch's range checks on betas (the Adam family): each in [0, 1)."""
    b0, b1 = betas
    if not 0.0 <= b0 < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {b0}")
    if not 0.0 <= b1 < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {b1}")


# how a hyper-parameter is named in its error message, where not by its own name
_LABELS = {"eps": "epsilon"}
# upper bounds (inclusive) of hyper-parameters that have one; all others only need >= 0
_AT_MOST = {"rho": 1.0}


def _check_hparams(**values) -> None:
    """PyTorch's range checks on constructor arguments, in the order given: lr >= 0 (a Tensor
    lr must have one element), betas each in [0, 1), rho in [0, 1], anything else >= 0
    ("Invalid {name} value: {value}", eps named "epsilon"). NaN fails every check."""
    for name, v in values.items():
        if name == "lr":
            _check_lr(v)
        elif name == "betas":
            _check_betas(v)
        elif not 0.0 <= v <= _AT_MOST.get(name, float("inf")):
            raise ValueError(f"Invalid {_LABELS.get(name, name)} value: {v}")


def _check_fused(fused, foreach, differentiable) -> None:
    """fused=True refuses differentiable=True and foreach=True (PyTorch's errors)."""
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def _check_group(group: dict, params: list, what: str = "params and state_steps",
                 xla: bool = True) -> None:
    """Refuse what tapegrad's CPU optimizers cannot do: capturable=True (PyTorch's own error on
    CPU tensors) and differentiable=True (autograd through the update: not yet supported)."""
    if not params:
        return
    if group.get("differentiable", False):
        raise NotImplementedError(
            "tapegrad: differentiable=True optimizers (autograd through step()) are not yet "
            "supported"
        )
    if group.get("capturable", False):
        devices = ["cuda", "xpu", "hpu", "privateuseone"] + (["xla"] if xla else [])
        raise AssertionError(
            f"If capturable=True, {what} must be on supported devices: {devices}."
        )

"""tapegrad.optim.lr_scheduler: learning-rate schedules (PyTorch's, with the same rates).

>>> import tapegrad
>>> w = tapegrad.zeros(1, requires_grad=True)
>>> opt = tapegrad.optim.SGD([w], lr=0.1)
>>> sched = tapegrad.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
>>> opt.step()
>>> sched.step()
>>> sched.get_last_lr()
[0.05]
"""

from ._lr_base import EPOCH_DEPRECATION_WARNING, LRScheduler, _LRScheduler  # noqa: F401
from ._lr_basic import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from ._lr_combine import ChainedScheduler, ReduceLROnPlateau, SequentialLR
from ._lr_cyclic import CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR

__all__ = [
    "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
    "ExponentialLR", "SequentialLR", "CosineAnnealingLR", "ChainedScheduler",
    "ReduceLROnPlateau", "CyclicLR", "CosineAnnealingWarmRestarts", "OneCycleLR",
    "PolynomialLR", "LRScheduler",
]

# the classes print as members of this module, as PyTorch's do
for _name in __all__ + ["_LRScheduler"]:
    globals()[_name].__module__ = __name__
del _name

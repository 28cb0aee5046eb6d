"""tapegrad.optim: optimizers (SGD, Adam, AdamW, RMSprop, ...) and learning-rate schedulers.

>>> import tapegrad
>>> w = tapegrad.tensor([1.0, 2.0], requires_grad=True)
>>> opt = tapegrad.optim.SGD([w], lr=0.1)
>>> loss = (w * w).sum()
>>> loss.backward()
>>> opt.step()
>>> opt.zero_grad()
>>> w
tensor([0.8000, 1.6000], requires_grad=True)
"""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "LBFGS", "NAdam", "Optimizer",
    "RAdam", "RMSprop", "SGD", "lr_scheduler",
]

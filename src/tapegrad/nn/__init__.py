"""tapegrad.nn: neural-network building blocks (modules, parameters, init, functional)."""

from . import functional  # noqa: F401
from . import init  # noqa: F401
from . import utils  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from .parameter import Buffer, Parameter, UninitializedParameter  # noqa: F401

__all__ = [
    "Parameter", "Buffer", "UninitializedParameter", "functional", "init", "utils",
    *_modules_all,
]

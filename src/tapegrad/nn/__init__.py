"""tapegrad.nn: neural-network building blocks (modules, parameters, init, functional)."""

from . import functional  # noqa: F401
from . import init  # noqa: F401
from . import utils  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from .modules import multihead as _mha

# multi_head_attention_forward lives with MultiheadAttention (it builds on nn.functional)
for _n in ("multi_head_attention_forward", "_canonical_mask", "_none_or_dtype",
           "_mha_shape_check", "_in_projection_packed", "_in_projection"):
    setattr(functional, _n, getattr(_mha, _n))
if "multi_head_attention_forward" not in functional.__all__:
    functional.__all__.append("multi_head_attention_forward")
from .parameter import Buffer, Parameter, UninitializedParameter  # noqa: F401

__all__ = [
    "Parameter", "Buffer", "UninitializedParameter", "functional", "init", "utils",
    *_modules_all,
]

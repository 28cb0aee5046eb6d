"""tapegrad.utils: training helpers (data loading, activation checkpointing)."""

from . import data  # noqa: E402,F401
from . import hooks  # noqa: E402,F401
from . import checkpoint  # noqa: E402,F401

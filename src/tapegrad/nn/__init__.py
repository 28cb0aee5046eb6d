"""tapegrad.nn: neural-network building blocks."""

from . import functional  # noqa: F401
from . import utils  # noqa: F401

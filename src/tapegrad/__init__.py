"""tapegrad: PyTorch's autograd rebuilt in Python on NumPy.

`import tapegrad as torch` runs ordinary PyTorch autograd code:

>>> import tapegrad as torch
>>> x = torch.ones(2, 2, requires_grad=True)
>>> out = ((x + 2) * (x + 2) * 3).mean()
>>> out.backward()
>>> x.grad
tensor([[4.5000, 4.5000],
        [4.5000, 4.5000]])
"""

from __future__ import annotations

import warnings as _warnings

# NumPy's floating-point warnings (overflow in exp, log of 0, ...) come from inside tapegrad's
# ops; PyTorch returns inf/nan silently, so do we. Only warnings raised from tapegrad's own
# modules are filtered: the user's NumPy code keeps its warnings.
_warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tapegrad(\.|$)")

from . import _dtype  # noqa: E402
from ._creation import *  # noqa: E402,F403
from ._device import device  # noqa: E402
from ._dtype import (  # noqa: E402,F401
    bool,
    cdouble,
    cfloat,
    complex64,
    complex128,
    double,
    dtype,
    finfo,
    float,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    iinfo,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    promote_types,
    set_default_dtype,
    short,
    uint8,
)
from ._device import strided  # noqa: E402,F401
from ._random import *  # noqa: E402,F403
from ._size import Size  # noqa: E402
from ._tensor import Tensor  # noqa: E402
from ._tensor_str import set_printoptions  # noqa: E402
from . import ops as _ops  # noqa: E402
from .ops import *  # noqa: E402,F403
from .ops.unary import UNARY as _UNARY  # noqa: E402
from . import autograd  # noqa: E402
from .autograd import (  # noqa: E402
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .autograd.anomaly_mode import (  # noqa: E402
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_anomaly_enabled,
)
from . import nn  # noqa: E402
from . import optim  # noqa: E402
from . import linalg  # noqa: E402
from . import viz  # noqa: E402
from . import func  # noqa: E402
from .func import vmap  # noqa: E402,F401  (torch.vmap)
from . import utils  # noqa: E402
from . import special  # noqa: E402
from .serialization import load, save  # noqa: E402

globals().update(_UNARY)

__version__ = "0.1.0"


def is_tensor(obj) -> bool:
    """Whether obj is a tapegrad Tensor."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:  # noqa: A002
    return input.numel()


def result_type(tensor1, tensor2) -> dtype:
    return _ops._core.promote(tensor1, tensor2)


def can_cast(from_: dtype, to: dtype) -> bool:
    return _dtype.can_cast(from_, to)


def is_floating_point(input: Tensor) -> bool:  # noqa: A002
    return input.is_floating_point()


def is_complex(input: Tensor) -> bool:  # noqa: A002
    return input.is_complex()

"""tapegrad.nn.modules: the layer classes, one family per file."""

# ruff: noqa: F401

from .module import (
    Module,
)
from .container import (
    Container, Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict,
)
from .linear import (
    Identity, Linear, Bilinear, LazyLinear, NonDynamicallyQuantizableLinear,
)
from .conv import (
    Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d,
)
from .pooling import (
    MaxPool1d, MaxPool2d, MaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d, LPPool1d, LPPool2d, LPPool3d,
    AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d, AdaptiveAvgPool1d, AdaptiveAvgPool2d,
    AdaptiveAvgPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d, FractionalMaxPool2d,
    FractionalMaxPool3d,
)
from .batchnorm import (
    BatchNorm1d, BatchNorm2d, BatchNorm3d, SyncBatchNorm,
)
from .instancenorm import (
    InstanceNorm1d, InstanceNorm2d, InstanceNorm3d,
)
from .normalization import (
    LocalResponseNorm, LayerNorm, GroupNorm, RMSNorm,
)
from .activation import (
    Threshold, ReLU, RReLU, Hardtanh, ReLU6, Sigmoid, Hardsigmoid, Tanh, SiLU, Mish, Hardswish,
    ELU, CELU, SELU, GLU, GELU, Hardshrink, LeakyReLU, LogSigmoid, Softplus, Softshrink, PReLU,
    Softsign, Tanhshrink, Softmin, Softmax, Softmax2d, LogSoftmax,
)
from .loss import (
    L1Loss, NLLLoss, NLLLoss2d, PoissonNLLLoss, GaussianNLLLoss, KLDivLoss, MSELoss, BCELoss,
    BCEWithLogitsLoss, HingeEmbeddingLoss, MultiLabelMarginLoss, SmoothL1Loss, HuberLoss,
    SoftMarginLoss, CrossEntropyLoss, MultiLabelSoftMarginLoss, CosineEmbeddingLoss,
    MarginRankingLoss, MultiMarginLoss, TripletMarginLoss, TripletMarginWithDistanceLoss, CTCLoss,
)
from .dropout import (
    Dropout, Dropout1d, Dropout2d, Dropout3d, AlphaDropout, FeatureAlphaDropout,
)
from .sparse import (
    Embedding, EmbeddingBag,
)
from .padding import (
    CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d, ConstantPad3d,
    ReflectionPad1d, ReflectionPad2d, ReflectionPad3d, ReplicationPad1d, ReplicationPad2d,
    ReplicationPad3d, ZeroPad1d, ZeroPad2d, ZeroPad3d,
)
from .pixelshuffle import (
    PixelShuffle, PixelUnshuffle,
)
from .flatten import (
    Flatten, Unflatten,
)
from .upsampling import (
    Upsample, UpsamplingNearest2d, UpsamplingBilinear2d,
)
from .distance import (
    PairwiseDistance, CosineSimilarity,
)
from .fold import (
    Fold, Unfold,
)

__all__ = [
    "Module", "Container", "Sequential", "ModuleList", "ModuleDict", "ParameterList",
    "ParameterDict", "Identity", "Linear", "Bilinear", "LazyLinear",
    "NonDynamicallyQuantizableLinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d",
    "AvgPool2d", "AvgPool3d", "LPPool1d", "LPPool2d", "LPPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "FractionalMaxPool2d",
    "FractionalMaxPool3d", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm",
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm", "LayerNorm",
    "GroupNorm", "RMSNorm", "Threshold", "ReLU", "RReLU", "Hardtanh", "ReLU6", "Sigmoid",
    "Hardsigmoid", "Tanh", "SiLU", "Mish", "Hardswish", "ELU", "CELU", "SELU", "GLU", "GELU",
    "Hardshrink", "LeakyReLU", "LogSigmoid", "Softplus", "Softshrink", "PReLU", "Softsign",
    "Tanhshrink", "Softmin", "Softmax", "Softmax2d", "LogSoftmax", "L1Loss", "NLLLoss",
    "NLLLoss2d", "PoissonNLLLoss", "GaussianNLLLoss", "KLDivLoss", "MSELoss", "BCELoss",
    "BCEWithLogitsLoss", "HingeEmbeddingLoss", "MultiLabelMarginLoss", "SmoothL1Loss", "HuberLoss",
    "SoftMarginLoss", "CrossEntropyLoss", "MultiLabelSoftMarginLoss", "CosineEmbeddingLoss",
    "MarginRankingLoss", "MultiMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss",
    "CTCLoss", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
    "FeatureAlphaDropout", "Embedding", "EmbeddingBag", "CircularPad1d", "CircularPad2d",
    "CircularPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d",
    "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
    "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "PixelShuffle", "PixelUnshuffle",
    "Flatten", "Unflatten", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "PairwiseDistance", "CosineSimilarity", "Fold", "Unfold",
]


def _export_optional() -> None:
    """The recurrent and attention families (rnn.py, multihead.py, transformer.py) are
    written separately: export whatever __all__ they define, when the files exist."""
    import importlib
    import importlib.util

    g = globals()
    for name in ("rnn", "multihead", "transformer"):
        if importlib.util.find_spec(f"{__name__}.{name}") is None:
            continue
        mod = importlib.import_module(f".{name}", __name__)
        for n in getattr(mod, "__all__", ()):
            g[n] = getattr(mod, n)
            if n not in __all__:
                __all__.append(n)


_export_optional()

"""Linear, convolution, pooling and shape layers against PyTorch: repr, parameters, outputs
and gradients in float64 and float32, float64 central differences, default initialisation."""

from __future__ import annotations

import numpy as np
import pytest

from _nn_layer_helpers import Spec, check_init, check_layer

pytest.importorskip("torch")

R = np.random.default_rng(1234)


def rn(*shape):
    return R.standard_normal(shape)


SPECS = [
    Spec(lambda m: m.nn.Identity(3, k=1), [rn(2, 3)], id="Identity"),
    Spec(lambda m: m.nn.Linear(4, 3), [rn(2, 4)], id="Linear"),
    Spec(lambda m: m.nn.Linear(4, 3, bias=False), [rn(5, 2, 4)], id="Linear-nobias"),
    Spec(lambda m: m.nn.Linear(4, 1), [rn(4)], id="Linear-1d"),
    Spec(lambda m: m.nn.Bilinear(3, 2, 4), [rn(2, 3), rn(2, 2)], id="Bilinear"),
    Spec(lambda m: m.nn.Bilinear(3, 2, 4, bias=False), [rn(3), rn(2)], id="Bilinear-1d"),
    Spec(lambda m: m.nn.Flatten(), [rn(2, 3, 2)], id="Flatten"),
    Spec(lambda m: m.nn.Flatten(0, 1), [rn(2, 3, 2)], id="Flatten01"),
    Spec(lambda m: m.nn.Unflatten(1, (2, 3)), [rn(2, 6)], id="Unflatten"),
    Spec(lambda m: m.nn.Conv1d(2, 4, 3, padding=1), [rn(2, 2, 7)], id="Conv1d"),
    Spec(lambda m: m.nn.Conv1d(4, 2, 3, stride=2, dilation=2, groups=2, bias=False),
         [rn(1, 4, 9)], id="Conv1d-groups"),
    Spec(lambda m: m.nn.Conv1d(2, 3, 3, padding=2, padding_mode="reflect"), [rn(2, 2, 6)],
         id="Conv1d-reflect"),
    Spec(lambda m: m.nn.Conv1d(2, 3, 4, padding="same", padding_mode="circular"),
         [rn(2, 2, 6)], id="Conv1d-same-circular"),
    Spec(lambda m: m.nn.Conv1d(2, 3, 3, padding=1, padding_mode="replicate"), [rn(2, 6)],
         id="Conv1d-replicate-unbatched"),
    Spec(lambda m: m.nn.Conv2d(2, 4, 3), [rn(2, 2, 5, 4)], id="Conv2d"),
    Spec(lambda m: m.nn.Conv2d(4, 4, (3, 2), stride=(2, 1), padding=1, groups=2),
         [rn(1, 4, 6, 5)], id="Conv2d-groups"),
    Spec(lambda m: m.nn.Conv2d(2, 2, 3, padding="same", dilation=2), [rn(1, 2, 5, 5)],
         id="Conv2d-same"),
    Spec(lambda m: m.nn.Conv2d(2, 2, 2, padding="valid"), [rn(1, 2, 4, 3)], id="Conv2d-valid"),
    Spec(lambda m: m.nn.Conv2d(1, 2, 3, padding=(1, 2), padding_mode="reflect"),
         [rn(1, 1, 5, 5)], id="Conv2d-reflect"),
    Spec(lambda m: m.nn.Conv3d(2, 3, 2, stride=(1, 2, 1)), [rn(1, 2, 3, 4, 3)], id="Conv3d"),
    Spec(lambda m: m.nn.ConvTranspose1d(3, 2, 3, stride=2, output_padding=1),
         [rn(2, 3, 4)], id="ConvTranspose1d"),
    Spec(lambda m: m.nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, groups=2),
         [rn(1, 2, 3, 3)], id="ConvTranspose2d"),
    Spec(lambda m: m.nn.ConvTranspose2d(2, 2, 3, stride=2, dilation=2, bias=False),
         [rn(1, 2, 2, 3)], kwargs={"output_size": [8, 9]}, id="ConvTranspose2d-size"),
    Spec(lambda m: m.nn.ConvTranspose3d(2, 2, 2), [rn(1, 2, 2, 2, 2)], id="ConvTranspose3d"),
    Spec(lambda m: m.nn.MaxPool1d(2), [rn(2, 3, 6)], id="MaxPool1d"),
    Spec(lambda m: m.nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True), [rn(1, 2, 8)],
         id="MaxPool1d-ceil"),
    Spec(lambda m: m.nn.MaxPool2d(2), [rn(2, 2, 4, 4)], id="MaxPool2d"),
    Spec(lambda m: m.nn.MaxPool2d(3, stride=2, padding=1, dilation=1, return_indices=True),
         [rn(1, 2, 5, 6)], id="MaxPool2d-indices"),
    Spec(lambda m: m.nn.MaxPool2d((2, 3), dilation=(1, 2)), [rn(1, 1, 6, 7)],
         id="MaxPool2d-dilation"),
    Spec(lambda m: m.nn.MaxPool3d(2), [rn(1, 2, 4, 4, 2)], id="MaxPool3d"),
    Spec(lambda m: m.nn.AvgPool1d(3, stride=2, padding=1), [rn(2, 2, 7)], id="AvgPool1d"),
    Spec(lambda m: m.nn.AvgPool2d(2), [rn(2, 2, 4, 4)], id="AvgPool2d"),
    Spec(lambda m: m.nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True,
                                  count_include_pad=False), [rn(1, 2, 6, 5)],
         id="AvgPool2d-opts"),
    Spec(lambda m: m.nn.AvgPool2d(2, divisor_override=3), [rn(1, 1, 4, 4)],
         id="AvgPool2d-divisor"),
    Spec(lambda m: m.nn.AvgPool3d(2, stride=1), [rn(1, 1, 3, 3, 3)], id="AvgPool3d"),
    Spec(lambda m: m.nn.LPPool1d(2, 3, stride=2), [rn(1, 2, 7)], id="LPPool1d"),
    Spec(lambda m: m.nn.LPPool2d(3, 2), [np.abs(rn(1, 2, 4, 4)) + 0.1], id="LPPool2d"),
    Spec(lambda m: m.nn.AdaptiveAvgPool1d(3), [rn(2, 2, 7)], id="AdaptiveAvgPool1d"),
    Spec(lambda m: m.nn.AdaptiveAvgPool2d((2, 3)), [rn(1, 2, 5, 7)], id="AdaptiveAvgPool2d"),
    Spec(lambda m: m.nn.AdaptiveAvgPool2d((None, 2)), [rn(1, 2, 3, 5)],
         id="AdaptiveAvgPool2d-none"),
    Spec(lambda m: m.nn.AdaptiveAvgPool3d(2), [rn(1, 1, 3, 4, 5)], id="AdaptiveAvgPool3d"),
    Spec(lambda m: m.nn.AdaptiveMaxPool1d(3, return_indices=True), [rn(2, 2, 7)],
         id="AdaptiveMaxPool1d"),
    Spec(lambda m: m.nn.AdaptiveMaxPool2d(2), [rn(1, 2, 5, 5)], id="AdaptiveMaxPool2d"),
    Spec(lambda m: m.nn.AdaptiveMaxPool3d((1, 2, 2)), [rn(1, 1, 3, 4, 4)],
         id="AdaptiveMaxPool3d"),
    Spec(lambda m: m.nn.Fold((4, 5), (2, 2)), [rn(1, 8, 12)], id="Fold"),
    Spec(lambda m: m.nn.Unfold((2, 3), padding=1, stride=2), [rn(1, 2, 4, 5)], id="Unfold"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_layer(spec, dtype):
    check_layer(spec, dtype)


INIT = {
    "Linear": lambda m: m.nn.Linear(3, 4),
    "Linear-nobias": lambda m: m.nn.Linear(5, 2, bias=False),
    "Bilinear": lambda m: m.nn.Bilinear(3, 2, 4),
    "Conv1d": lambda m: m.nn.Conv1d(2, 4, 3),
    "Conv2d": lambda m: m.nn.Conv2d(4, 6, (3, 2), groups=2),
    "Conv3d": lambda m: m.nn.Conv3d(2, 3, 2),
    "ConvTranspose1d": lambda m: m.nn.ConvTranspose1d(3, 2, 3),
    "ConvTranspose2d": lambda m: m.nn.ConvTranspose2d(2, 4, 3, groups=2),
    "ConvTranspose3d": lambda m: m.nn.ConvTranspose3d(2, 2, 2, bias=False),
    "Sequential": lambda m: m.nn.Sequential(m.nn.Linear(2, 3), m.nn.Conv1d(1, 1, 2)),
    "Linear-float64": lambda m: m.nn.Linear(3, 2, dtype=m.float64),
}


@pytest.mark.parametrize("name", list(INIT))
def test_default_init_matches_torch(name):
    check_init(INIT[name])


def test_linear_weight_bit_identical():
    import torch

    import tapegrad

    tapegrad.manual_seed(0)
    torch.manual_seed(0)
    g = tapegrad.nn.Linear(3, 4)
    t = torch.nn.Linear(3, 4)
    assert np.array_equal(g.weight.detach().numpy(), t.weight.detach().numpy())
    assert np.array_equal(g.bias.detach().numpy(), t.bias.detach().numpy())


def _same_error_up_to_set_order(fn):
    """same_error, where the message prints a Python set of strings: its order depends on the
    process's string hashing (in torch's message too), so the items are compared sorted."""
    import re

    import torch

    import tapegrad
    from _helpers import error

    def norm(e):
        return e[0], re.sub(r"\{([^}]*)\}", lambda mt: "{" + ", ".join(
            sorted(mt.group(1).split(", "))) + "}", e[1])

    ours, theirs = norm(error(lambda: fn(tapegrad))), norm(error(lambda: fn(torch)))
    assert ours[0] != "no error"
    assert ours == (theirs[0], theirs[1].replace("torch.", "tapegrad.")), (ours, theirs)


def test_constructor_errors():
    from _helpers import same_error

    same_error(lambda m: m.nn.Conv2d(3, 4, 3, groups=2))
    same_error(lambda m: m.nn.Conv2d(4, 3, 3, groups=2))
    same_error(lambda m: m.nn.Conv2d(4, 4, 3, groups=0))
    same_error(lambda m: m.nn.Conv2d(2, 2, 3, padding="full"))
    same_error(lambda m: m.nn.Conv2d(2, 2, 3, padding="same", stride=2))
    _same_error_up_to_set_order(lambda m: m.nn.Conv1d(2, 2, 3, padding_mode="mirror"))
    same_error(lambda m: m.nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect"))
    same_error(lambda m: m.nn.Bilinear(0, 2, 2))
    same_error(lambda m: m.nn.Unflatten(1, 3))
    same_error(lambda m: m.nn.Unflatten(1, (2, 1.5)))
    same_error(lambda m: m.nn.ConvTranspose1d(2, 2, 3, stride=2)(m.ones(1, 2, 3),
                                                                   output_size=[20]))
    same_error(lambda m: m.nn.ConvTranspose1d(2, 2, 3, stride=2)(m.ones(1, 2, 3),
                                                                   output_size=[1, 2, 3, 4]))


def test_reprs():
    import torch

    import tapegrad

    makers = [
        lambda m: m.nn.Conv2d(2, 3, 3, stride=2, padding=1, dilation=2, groups=1, bias=False,
                              padding_mode="circular"),
        lambda m: m.nn.Conv1d(2, 2, 3, padding="same"),
        lambda m: m.nn.ConvTranspose2d(2, 2, 3, output_padding=1, stride=2, dilation=1),
        lambda m: m.nn.MaxPool2d((2, 1), stride=None, return_indices=True, ceil_mode=True),
        lambda m: m.nn.AvgPool2d((2, 3), stride=(1, 2)),
        lambda m: m.nn.LPPool2d(2.0, 3),
        lambda m: m.nn.AdaptiveMaxPool2d((None, 3)),
        lambda m: m.nn.Fold(4, 2, dilation=2),
        lambda m: m.nn.Unfold(3),
        lambda m: m.nn.Identity(),
    ]
    for mk in makers:
        assert repr(mk(tapegrad)) == repr(mk(torch)).replace("torch.", "tapegrad.")

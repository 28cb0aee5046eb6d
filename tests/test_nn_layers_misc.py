"""Padding, upsampling, pixel shuffle and distance modules against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import same_error
from _nn_layer_helpers import Spec, check_layer

torch = pytest.importorskip("torch")

R = np.random.default_rng(5)


def rn(*shape):
    return R.standard_normal(shape)


SPECS = [
    Spec(lambda m: m.nn.ZeroPad1d((1, 2)), [rn(2, 3, 4)], id="ZeroPad1d"),
    Spec(lambda m: m.nn.ZeroPad2d((1, 1, 2, 0)), [rn(1, 2, 3, 3)], id="ZeroPad2d"),
    Spec(lambda m: m.nn.ZeroPad2d(-1), [rn(1, 1, 4, 4)], id="ZeroPad2d-negative"),
    Spec(lambda m: m.nn.ZeroPad3d(1), [rn(1, 1, 2, 2, 2)], id="ZeroPad3d"),
    Spec(lambda m: m.nn.ConstantPad1d(2, 3.5), [rn(2, 4)], id="ConstantPad1d"),
    Spec(lambda m: m.nn.ConstantPad2d((0, 1, 2, 1), -1.0), [rn(1, 2, 2, 3)],
         id="ConstantPad2d"),
    Spec(lambda m: m.nn.ConstantPad3d((1, 0, 0, 1, 1, 0), 0.5), [rn(1, 1, 2, 2, 2)],
         id="ConstantPad3d"),
    Spec(lambda m: m.nn.ReflectionPad1d((2, 1)), [rn(2, 2, 4)], id="ReflectionPad1d"),
    Spec(lambda m: m.nn.ReflectionPad2d(1), [rn(1, 2, 3, 3)], id="ReflectionPad2d"),
    Spec(lambda m: m.nn.ReflectionPad3d(1), [rn(1, 1, 2, 3, 3)], id="ReflectionPad3d"),
    Spec(lambda m: m.nn.ReplicationPad1d((0, 3)), [rn(2, 2, 3)], id="ReplicationPad1d"),
    Spec(lambda m: m.nn.ReplicationPad2d((1, 0, 2, 1)), [rn(1, 2, 2, 3)],
         id="ReplicationPad2d"),
    Spec(lambda m: m.nn.ReplicationPad3d(1), [rn(1, 1, 2, 2, 2)], id="ReplicationPad3d"),
    Spec(lambda m: m.nn.CircularPad1d(2), [rn(1, 2, 4)], id="CircularPad1d"),
    Spec(lambda m: m.nn.CircularPad2d((1, 0, 1, 2)), [rn(1, 1, 3, 3)], id="CircularPad2d"),
    Spec(lambda m: m.nn.CircularPad3d(1), [rn(1, 1, 2, 2, 2)], id="CircularPad3d"),
    Spec(lambda m: m.nn.Upsample(scale_factor=2), [rn(1, 2, 3)], id="Upsample-nearest"),
    Spec(lambda m: m.nn.Upsample(size=(4, 5), mode="bilinear"), [rn(1, 2, 3, 3)],
         id="Upsample-bilinear"),
    Spec(lambda m: m.nn.Upsample(scale_factor=(2, 1.5), mode="bicubic", align_corners=True),
         [rn(1, 1, 3, 4)], id="Upsample-bicubic"),
    Spec(lambda m: m.nn.Upsample(scale_factor=2, mode="linear"), [rn(1, 2, 3)],
         id="Upsample-linear"),
    Spec(lambda m: m.nn.Upsample(size=(2, 3, 2), mode="trilinear"), [rn(1, 1, 2, 2, 2)],
         id="Upsample-trilinear"),
    Spec(lambda m: m.nn.UpsamplingNearest2d(scale_factor=2), [rn(1, 2, 2, 3)],
         id="UpsamplingNearest2d"),
    Spec(lambda m: m.nn.UpsamplingBilinear2d(size=(4, 4)), [rn(1, 2, 2, 3)],
         id="UpsamplingBilinear2d"),
    Spec(lambda m: m.nn.PixelShuffle(2), [rn(1, 8, 2, 3)], id="PixelShuffle"),
    Spec(lambda m: m.nn.PixelUnshuffle(2), [rn(1, 2, 4, 2)], id="PixelUnshuffle"),
    Spec(lambda m: m.nn.PairwiseDistance(), [rn(3, 4), rn(3, 4)], id="PairwiseDistance"),
    Spec(lambda m: m.nn.PairwiseDistance(p=1.5, eps=1e-3, keepdim=True), [rn(3, 4), rn(4)],
         id="PairwiseDistance-opts"),
    Spec(lambda m: m.nn.CosineSimilarity(), [rn(3, 4), rn(3, 4)], id="CosineSimilarity"),
    Spec(lambda m: m.nn.CosineSimilarity(dim=0, eps=1e-3), [rn(3, 4), rn(3, 1)],
         id="CosineSimilarity-opts"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_layer(spec, dtype):
    check_layer(spec, dtype)


def test_reprs():
    makers = [
        lambda m: m.nn.ZeroPad2d(2), lambda m: m.nn.ZeroPad1d(1), lambda m: m.nn.ZeroPad3d(1),
        lambda m: m.nn.ConstantPad2d(1, 2), lambda m: m.nn.ConstantPad3d((1, 2, 3, 4, 5, 6), 0),
        lambda m: m.nn.ReflectionPad2d((1, 2, 3, 4)), lambda m: m.nn.ReplicationPad1d(3),
        lambda m: m.nn.CircularPad2d(1), lambda m: m.nn.Upsample(size=3),
        lambda m: m.nn.Upsample(scale_factor=(2, 3), mode="bilinear"),
        lambda m: m.nn.UpsamplingBilinear2d(scale_factor=2), lambda m: m.nn.PixelShuffle(3),
        lambda m: m.nn.PixelUnshuffle(2), lambda m: m.nn.PairwiseDistance(p=1),
        lambda m: m.nn.CosineSimilarity(dim=2),
    ]
    for mk in makers:
        assert repr(mk(tapegrad)) == repr(mk(torch)).replace("torch.", "tapegrad.")


def test_circular_pad_dims():
    same_error(lambda m: m.nn.CircularPad1d(1)(m.ones(4)))
    same_error(lambda m: m.nn.CircularPad2d(1)(m.ones(2, 2)))
    same_error(lambda m: m.nn.CircularPad3d(1)(m.ones(2, 2, 2)))


def test_not_supported_raise():
    for name in ("MaxUnpool2d", "FractionalMaxPool2d", "EmbeddingBag", "LazyLinear",
                 "SyncBatchNorm"):
        with pytest.raises(NotImplementedError, match="not yet supported"):
            getattr(tapegrad.nn, name)(2, 2)

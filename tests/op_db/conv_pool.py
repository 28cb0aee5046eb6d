"""Rows for convolution, pooling, padding, resizing, pixel shuffle, unfold / fold, linear and
bilinear (ops/conv.py, ops/pool*.py, ops/pad_resize.py, ops/interpolate.py, ops/linear.py).

Shapes are small so the float64 central-difference checks (first and second order) stay quick.
Max-pooling samples use distinct random values, so no window has a near-tie and the
gradient's choice of element is stable under the finite-difference step. Grids over stride /
padding / dilation / groups / ceil_mode, the index outputs, NaN and -inf, unbatched inputs,
error messages and the double-backward node names are in tests/test_conv_pool.py.
"""

from __future__ import annotations

import numpy as np

from . import OpInfo, Sample, randn


def _F(m):  # noqa: N802
    return m.nn.functional


def _s(*arrays, desc="", grad=None, **kwargs):
    return Sample(tuple(arrays), kwargs, grad=grad, desc=desc)


def _distinct(rng, shape):
    """Values spread apart (no two within 0.01): max-pool windows have no near-ties."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.05 + rng.uniform(0, 0.01, n) - n * 0.025).reshape(shape)


# --- convolutions ------------------------------------------------------------------------
def _conv1d(rng):
    return [
        _s(randn(rng, (2, 4, 7)), randn(rng, (6, 2, 3)), randn(rng, (6,)), stride=2, padding=1,
           groups=2, desc="stride_pad_groups"),
        _s(randn(rng, (3, 6)), randn(rng, (2, 3, 2)), dilation=2, padding="same",
           desc="unbatched_same_dilated"),
        _s(randn(rng, (1, 2, 6)), randn(rng, (3, 2, 4)), None, padding="valid", desc="valid"),
    ]


def _conv2d(rng):
    return [
        _s(randn(rng, (2, 2, 5, 6)), randn(rng, (3, 2, 3, 2)), randn(rng, (3,)), stride=(2, 1),
           padding=1, dilation=(1, 2), desc="mixed"),
        _s(randn(rng, (1, 4, 4, 5)), randn(rng, (4, 2, 2, 2)), randn(rng, (4,)), groups=2,
           padding="same", desc="groups_same_even_kernel"),
        _s(randn(rng, (2, 4, 4)), randn(rng, (2, 2, 3, 3)), stride=2, desc="unbatched"),
    ]


def _conv3d(rng):
    return [_s(randn(rng, (1, 2, 3, 4, 3)), randn(rng, (2, 1, 2, 2, 2)), randn(rng, (2,)),
               padding=1, stride=(1, 2, 1), groups=2, desc="groups_pad")]


def _conv_t1d(rng):
    return [_s(randn(rng, (2, 4, 4)), randn(rng, (4, 1, 3)), randn(rng, (2,)), stride=2,
               padding=1, output_padding=1, groups=2, desc="stride_outpad_groups")]


def _conv_t2d(rng):
    return [
        _s(randn(rng, (1, 2, 3, 3)), randn(rng, (2, 3, 3, 2)), randn(rng, (3,)), stride=(2, 3),
           padding=(1, 0), output_padding=(1, 2), dilation=(1, 2), desc="mixed"),
        _s(randn(rng, (4, 2, 3)), randn(rng, (4, 1, 2, 2)), groups=2, dilation=2,
           desc="unbatched_groups"),
    ]


def _conv_t3d(rng):
    return [_s(randn(rng, (1, 2, 2, 3, 2)), randn(rng, (2, 1, 2, 2, 2)), randn(rng, (1,)),
               stride=2, output_padding=(1, 0, 1), desc="stride_outpad")]


def _linear(rng):
    w, b = randn(rng, (4, 5)), randn(rng, (4,))
    return [
        _s(randn(rng, (3, 5)), w, b, desc="2d_bias"),
        _s(randn(rng, (2, 3, 5)), w, b, desc="3d_bias"),
        _s(randn(rng, (5,)), w, b, desc="1d_bias"),
        _s(randn(rng, (2, 3, 5)), w, desc="3d_nobias"),
        _s(randn(rng, (3, 5)), w, randn(rng, (3, 4)), desc="2d_bias_matrix"),
    ]


def _bilinear(rng):
    return [
        _s(randn(rng, (3, 2)), randn(rng, (3, 4)), randn(rng, (5, 2, 4)), randn(rng, (5,)),
           desc="bias"),
        _s(randn(rng, (2, 2, 3)), randn(rng, (2, 2, 2)), randn(rng, (2, 3, 2)), desc="batched"),
    ]


# --- pooling -----------------------------------------------------------------------------
def _max_pool2d(rng):
    x = _distinct(rng, (2, 2, 6, 7))
    return [
        _s(x, kernel_size=2, desc="k2"),
        _s(x, kernel_size=3, stride=2, padding=1, ceil_mode=True, desc="overlap_pad_ceil"),
        _s(x, kernel_size=(2, 3), stride=1, dilation=(2, 1), desc="dilated"),
        _s(_distinct(rng, (2, 5, 5)), kernel_size=2, stride=1, desc="unbatched"),
    ]


def _max_pool_idx(rng):
    return [_s(_distinct(rng, (1, 2, 5, 6)), kernel_size=3, stride=2, padding=1,
               return_indices=True, desc="indices")]


def _max_pool1d(rng):
    return [
        _s(_distinct(rng, (2, 3, 9)), 3, 2, 1, desc="pad"),
        _s(_distinct(rng, (3, 7)), 2, ceil_mode=True, desc="unbatched_ceil"),
        _s(_distinct(rng, (2, 2, 8)), 3, 2, return_indices=True, desc="indices"),
    ]


def _max_pool3d(rng):
    return [_s(_distinct(rng, (1, 2, 4, 4, 5)), 2, stride=(2, 1, 2), padding=1,
               desc="pad_stride")]


def _avg_pool2d(rng):
    x = randn(rng, (2, 2, 5, 6))
    return [
        _s(x, 2, desc="k2"),
        _s(x, 3, 2, 1, ceil_mode=True, count_include_pad=False, desc="exclude_pad_ceil"),
        _s(x, (3, 2), (1, 2), (1, 1), ceil_mode=True, desc="include_pad_ceil"),
        _s(x, 2, 1, divisor_override=3, desc="divisor_override"),
        _s(randn(rng, (2, 4, 5)), 2, 1, 1, desc="unbatched"),
    ]


def _avg_pool1d(rng):
    return [_s(randn(rng, (2, 3, 7)), 3, 2, 1, desc="pad"),
            _s(randn(rng, (2, 7)), 2, ceil_mode=True, count_include_pad=False, desc="ceil")]


def _avg_pool3d(rng):
    return [_s(randn(rng, (1, 2, 3, 4, 4)), 2, 1, 1, count_include_pad=False, desc="pad")]


def _adaptive(shape, sizes, distinct=False):
    def make(rng):
        x = _distinct(rng, shape) if distinct else randn(rng, shape)
        return [_s(x, o, desc=str(o).replace(" ", "")) for o in sizes]

    return make


def _lp_pool(rng):
    return [_s(randn(rng, (2, 2, 4, 5), 0.2, 2.0), 2.0, 2, desc="p2"),
            _s(randn(rng, (2, 2, 4, 5), 0.2, 2.0), 3.0, (2, 3), 1, desc="p3_stride1")]


def _lp_pool1d(rng):
    return [_s(randn(rng, (2, 3, 6), 0.2, 2.0), 2.0, 3, 2, ceil_mode=True, desc="ceil")]


# --- padding, resizing, shuffles, unfold / fold ------------------------------------------
def _pad_samples(mode):
    def make(rng):
        x = randn(rng, (2, 2, 4, 5))
        if mode == "constant":
            return [_s(x, (1, 2), desc="last"), _s(x, (2, 1, -1, 2), value=0.5, desc="crop"),
                    _s(x, (1, 0, 0, 1, 1, 1, 0, 1), desc="4dims")]
        cases = [_s(x[0], (1, 2), mode=mode, desc="1d"),
                 _s(x, (2, 1, 3, 1), mode=mode, desc="2d"),
                 _s(randn(rng, (1, 2, 3, 3, 4)), (1, 2, 1, 0, 2, 1), mode=mode, desc="3d")]
        if mode != "reflect":
            cases.append(_s(x, (-1, 2, 1, -2), mode=mode, desc="2d_crop"))
        return cases

    return make


def _interp(mode, shape, kwargs_list):
    def make(rng):
        x = randn(rng, shape)
        return [_s(x, mode=mode, desc="_".join(f"{k}{v}" for k, v in kw.items()).replace(
            " ", ""), **kw) for kw in kwargs_list]

    return make


_SC = [{"scale_factor": 2}, {"scale_factor": 0.6}, {"size": 5}]


def _shuffle(rng):
    return [_s(randn(rng, (2, 8, 2, 3)), 2, desc="batched"), _s(randn(rng, (9, 2, 2)), 3,
                                                                 desc="unbatched")]


def _unshuffle(rng):
    return [_s(randn(rng, (2, 2, 4, 6)), 2, desc="batched"), _s(randn(rng, (1, 3, 3)), 3,
                                                                 desc="unbatched")]


def _unfold(rng):
    return [_s(randn(rng, (2, 2, 4, 5)), (2, 3), dilation=(1, 2), padding=1, stride=(2, 1),
               desc="mixed"),
            _s(randn(rng, (2, 3, 3)), 2, desc="unbatched")]


def _fold(rng):
    return [_s(randn(rng, (2, 8, 6)), (3, 4), 2, desc="batched"),
            _s(randn(rng, (12, 9)), (5, 5), (2, 3), dilation=(2, 1), padding=1, stride=2,
               desc="unbatched_mixed")]


ROWS = [
    OpInfo("nn.functional.conv1d", lambda m, *a, **k: _F(m).conv1d(*a, **k), _conv1d),
    OpInfo("nn.functional.conv2d", lambda m, *a, **k: _F(m).conv2d(*a, **k), _conv2d),
    OpInfo("nn.functional.conv3d", lambda m, *a, **k: _F(m).conv3d(*a, **k), _conv3d,
           "ConvolutionBackward0"),
    OpInfo("nn.functional.conv_transpose1d",
           lambda m, *a, **k: _F(m).conv_transpose1d(*a, **k), _conv_t1d,
           "ConvolutionBackward0"),
    OpInfo("nn.functional.conv_transpose2d",
           lambda m, *a, **k: _F(m).conv_transpose2d(*a, **k), _conv_t2d),
    OpInfo("nn.functional.conv_transpose3d",
           lambda m, *a, **k: _F(m).conv_transpose3d(*a, **k), _conv_t3d,
           "ConvolutionBackward0"),
    OpInfo("convolution", lambda m, x, w, b: m.convolution(x, w, b, [1, 2], [1], [1], False,
                                                           [0], 1),
           lambda rng: [_s(randn(rng, (1, 2, 4, 5)), randn(rng, (3, 2, 2, 2)),
                           randn(rng, (3,)))], "ConvolutionBackward0"),
    OpInfo("nn.functional.linear", lambda m, *a: _F(m).linear(*a), _linear),
    OpInfo("nn.functional.bilinear", lambda m, *a: _F(m).bilinear(*a), _bilinear),
    OpInfo("nn.functional.max_pool2d", lambda m, *a, **k: _F(m).max_pool2d(*a, **k),
           _max_pool2d, "MaxPool2DWithIndicesBackward0"),
    OpInfo("nn.functional.max_pool2d_indices", lambda m, *a, **k: _F(m).max_pool2d(*a, **k),
           _max_pool_idx, "MaxPool2DWithIndicesBackward0", multi_output=True),
    OpInfo("nn.functional.max_pool1d", lambda m, *a, **k: _F(m).max_pool1d(*a, **k),
           _max_pool1d, "SqueezeBackward1", multi_output=True),
    OpInfo("nn.functional.max_pool3d", lambda m, *a, **k: _F(m).max_pool3d(*a, **k),
           _max_pool3d, "MaxPool3DWithIndicesBackward0"),
    OpInfo("nn.functional.avg_pool2d", lambda m, *a, **k: _F(m).avg_pool2d(*a, **k),
           _avg_pool2d, "AvgPool2DBackward0"),
    OpInfo("nn.functional.avg_pool1d", lambda m, *a, **k: _F(m).avg_pool1d(*a, **k),
           _avg_pool1d, "SqueezeBackward1"),
    OpInfo("nn.functional.avg_pool3d", lambda m, *a, **k: _F(m).avg_pool3d(*a, **k),
           _avg_pool3d, "AvgPool3DBackward0"),
    OpInfo("nn.functional.adaptive_avg_pool2d",
           lambda m, *a: _F(m).adaptive_avg_pool2d(*a),
           _adaptive((2, 2, 5, 7), [(3, 4), (5, 2), 1, (None, 3)])),
    OpInfo("nn.functional.adaptive_avg_pool1d", lambda m, *a: _F(m).adaptive_avg_pool1d(*a),
           _adaptive((2, 3, 7), [3, 5]), "SqueezeBackward1"),
    OpInfo("nn.functional.adaptive_avg_pool3d", lambda m, *a: _F(m).adaptive_avg_pool3d(*a),
           _adaptive((1, 2, 3, 5, 4), [(2, 3, 3)]), "AdaptiveAvgPool3DBackward0"),
    OpInfo("nn.functional.adaptive_max_pool2d",
           lambda m, *a: _F(m).adaptive_max_pool2d(*a, return_indices=True),
           _adaptive((2, 2, 5, 7), [(3, 4), (2, 7), (None, 2)], distinct=True),
           "AdaptiveMaxPool2DBackward0", multi_output=True),
    OpInfo("nn.functional.adaptive_max_pool1d", lambda m, *a: _F(m).adaptive_max_pool1d(*a),
           _adaptive((2, 3, 7), [3, 4], distinct=True), "SqueezeBackward1"),
    OpInfo("nn.functional.adaptive_max_pool3d", lambda m, *a: _F(m).adaptive_max_pool3d(*a),
           _adaptive((1, 2, 3, 5, 4), [(2, 3, 3)], distinct=True),
           "AdaptiveMaxPool3DBackward0"),
    OpInfo("nn.functional.lp_pool2d", lambda m, *a, **k: _F(m).lp_pool2d(*a, **k), _lp_pool,
           "PowBackward0"),
    OpInfo("nn.functional.lp_pool1d", lambda m, *a, **k: _F(m).lp_pool1d(*a, **k),
           _lp_pool1d, "PowBackward0"),
    OpInfo("nn.functional.pad_constant", lambda m, *a, **k: _F(m).pad(*a, **k),
           _pad_samples("constant"), "ConstantPadNdBackward0"),
    OpInfo("nn.functional.pad_reflect", lambda m, *a, **k: _F(m).pad(*a, **k),
           _pad_samples("reflect")),
    OpInfo("nn.functional.pad_replicate", lambda m, *a, **k: _F(m).pad(*a, **k),
           _pad_samples("replicate")),
    # PyTorch fills the circular border with in-place slice copies (grad_fn CopySlices);
    # tapegrad concatenates slices (CatBackward0): the same values and gradients
    OpInfo("nn.functional.pad_circular", lambda m, *a, **k: _F(m).pad(*a, **k),
           _pad_samples("circular"), nondeterministic_grad_fn=True),
    OpInfo("constant_pad_nd", lambda m, x: m.constant_pad_nd(x, (1, -1, 2, 0), 1.5),
           lambda rng: [_s(randn(rng, (2, 3, 4)))], "ConstantPadNdBackward0"),
    OpInfo("nn.functional.interpolate_nearest",
           lambda m, *a, **k: _F(m).interpolate(*a, **k),
           _interp("nearest", (2, 2, 3, 4), _SC + [{"scale_factor": (1.5, 2.5)}]),
           "UpsampleNearest2DBackward0"),
    OpInfo("nn.functional.interpolate_nearest1d",
           lambda m, *a, **k: _F(m).interpolate(*a, **k),
           _interp("nearest", (2, 2, 4), _SC), "UpsampleNearest1DBackward0"),
    OpInfo("nn.functional.interpolate_nearest3d",
           lambda m, *a, **k: _F(m).interpolate(*a, **k),
           _interp("nearest", (1, 2, 2, 3, 2), [{"scale_factor": 2}, {"size": (3, 2, 4)}]),
           "UpsampleNearest3DBackward0"),
    OpInfo("nn.functional.interpolate_nearest_exact",
           lambda m, *a, **k: _F(m).interpolate(*a, **k),
           _interp("nearest-exact", (2, 2, 3, 4), _SC), "UpsampleNearestExact2DBackward0"),
    OpInfo("nn.functional.interpolate_linear",
           lambda m, *a, **k: _F(m).interpolate(*a, **k),
           _interp("linear", (2, 2, 4), _SC + [{"scale_factor": 1.7, "align_corners": True}]),
           "UpsampleLinear1DBackward0"),
    OpInfo("nn.functional.interpolate_bilinear",
           lambda m, *a, **k: _F(m).interpolate(*a, **k),
           _interp("bilinear", (2, 2, 3, 4), _SC + [
               {"size": (4, 7), "align_corners": True},
               {"scale_factor": 1.5, "recompute_scale_factor": True}]),
           "UpsampleBilinear2DBackward0"),
    OpInfo("nn.functional.interpolate_bicubic",
           lambda m, *a, **k: _F(m).interpolate(*a, **k),
           _interp("bicubic", (1, 2, 3, 4), _SC + [{"size": (5, 3), "align_corners": True}]),
           "UpsampleBicubic2DBackward0"),
    OpInfo("nn.functional.interpolate_trilinear",
           lambda m, *a, **k: _F(m).interpolate(*a, **k),
           _interp("trilinear", (1, 2, 2, 3, 2), [{"scale_factor": 1.5},
                                                  {"size": (3, 2, 3), "align_corners": True}]),
           "UpsampleTrilinear3DBackward0"),
    OpInfo("nn.functional.interpolate_area",
           lambda m, *a, **k: _F(m).interpolate(*a, **k),
           _interp("area", (2, 2, 5, 4), [{"size": (3, 2)}, {"scale_factor": 0.5}]),
           "AdaptiveAvgPool2DBackward0"),
    OpInfo("nn.functional.pixel_shuffle", lambda m, *a: _F(m).pixel_shuffle(*a), _shuffle,
           "PixelShuffleBackward0"),
    OpInfo("nn.functional.pixel_unshuffle", lambda m, *a: _F(m).pixel_unshuffle(*a),
           _unshuffle, "PixelUnshuffleBackward0"),
    OpInfo("nn.functional.unfold", lambda m, *a, **k: _F(m).unfold(*a, **k), _unfold,
           "Im2ColBackward0"),
    OpInfo("nn.functional.fold", lambda m, *a, **k: _F(m).fold(*a, **k), _fold,
           "Col2ImBackward0"),
]

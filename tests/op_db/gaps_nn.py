"""Rows for the torch.nn.functional ops of ops/embedding_bag.py, grid_sample.py,
pool_unpool.py, pool_fractional.py and nn_gaps.py: embedding_bag, grid_sample, affine_grid,
max_unpool1d/2d/3d, fractional_max_pool2d/3d, pdist, channel_shuffle, conv_tbc,
triplet_margin_with_distance_loss and linear_cross_entropy.

Grid points are drawn away from pixel centres and borders (|frac - 0.5| and frac itself at least
0.05 away from the kinks), so the finite-difference step never crosses a floor or a clipping
point. Pooling inputs have distinct values (no near-ties). Samplers (gumbel_softmax), the ops
whose backward PyTorch refuses (native_channel_shuffle) and the error messages are in
tests/test_gaps_nn.py.
"""

from __future__ import annotations

import numpy as np

from . import OpInfo, Sample, randn


def _F(m):  # noqa: N802
    return m.nn.functional


def _s(*arrays, desc="", grad=None, **kwargs):
    return Sample(tuple(arrays), kwargs, grad=grad, desc=desc)


def _distinct(rng, shape):
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.05 + rng.uniform(0, 0.01, n) - n * 0.025).reshape(shape)


def _grid(rng, shape, size, align):
    """Normalized coordinates whose source positions stay >= 0.1 away from integers and from
    the half-integers (nearest mode's rounding points)."""
    nd = shape[-1]
    out = np.empty(shape)
    for k in range(nd):
        s = size[nd - 1 - k]
        lo, hi = -1.2 * s, 1.2 * s + 1
        u = np.floor(rng.uniform(lo, hi, shape[:-1])) + rng.choice([0.15, 0.35, 0.65, 0.85],
                                                                     shape[:-1])
        # back to the normalized coordinate of source position u
        out[..., k] = (2 * u / (s - 1) - 1) if align else ((2 * u + 1) / s - 1)
    return out


# --- embedding_bag -------------------------------------------------------------------------
_IDX = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 7])


def _bag_samples(rng):
    w = randn(rng, (10, 3))
    off = np.array([0, 3, 3, 7])
    return [
        _s(_IDX, w, off, desc="mean"),
        _s(_IDX, w, off, mode="sum", desc="sum"),
        _s(_IDX, w, off, mode="max", desc="max"),
        _s(_IDX, w, off, mode="mean", padding_idx=4, desc="mean_pad"),
        _s(_IDX, w, off, mode="max", padding_idx=-8, desc="max_pad"),
        _s(_IDX, w, np.array([0, 3, 3, 7, 10]), mode="sum", include_last_offset=True,
           desc="sum_last_offset"),
        _s(_IDX.reshape(2, 5), w, None, mode="mean", desc="2d_mean"),
        _s(_IDX.reshape(2, 5), w, None, mode="max", desc="2d_max"),
        _s(_IDX, w, off, mode="sum", scale_grad_by_freq=False, padding_idx=2, desc="sum_pad"),
    ]


def _bag_psw_samples(rng):
    w = randn(rng, (10, 3))
    return [
        _s(_IDX, w, np.array([0, 4, 4]), per_sample_weights=randn(rng, (10,)), mode="sum",
           desc="psw"),
        _s(_IDX, w, np.array([0, 4, 4]), per_sample_weights=randn(rng, (10,)), mode="sum",
           padding_idx=4, desc="psw_pad"),
        _s(_IDX.reshape(2, 5), w, None, per_sample_weights=randn(rng, (2, 5)), mode="sum",
           desc="psw_2d"),
    ]


def _bag(m, idx, w, off, **kw):
    return _F(m).embedding_bag(idx, w, off, **kw)


# --- grid_sample / affine_grid -------------------------------------------------------------
def _grid_samples(nd: int, modes):
    def make(rng):
        out = []
        size = (3, 4) if nd == 2 else (2, 3, 4)
        for mode in modes:
            for pad in ("zeros", "border", "reflection"):
                for align in (False, True):
                    x = randn(rng, (2, 2) + size)
                    g = _grid(rng, (2, 3, 2, nd) if nd == 2 else (2, 2, 2, 2, nd), size, align)
                    out.append(_s(x, g, mode=mode, padding_mode=pad, align_corners=align,
                                  desc=f"{mode}_{pad}_{'ac' if align else 'noac'}"))
        return out

    return make


def _affine_samples(rng):
    return [
        _s(randn(rng, (2, 2, 3)), (2, 3, 4, 5), align_corners=False, desc="2d"),
        _s(randn(rng, (2, 2, 3)), (2, 1, 3, 2), align_corners=True, desc="2d_ac"),
        _s(randn(rng, (1, 3, 4)), (1, 1, 2, 3, 4), align_corners=False, desc="3d"),
        _s(randn(rng, (2, 3, 4)), (2, 1, 2, 2, 3), align_corners=True, desc="3d_ac"),
    ]


# --- max_unpool ----------------------------------------------------------------------------
def _pool_indices(rng, lead, out, k, size):
    """Flat in-plane indices of one position per (non-overlapping) k-window, as max pooling
    would return them."""
    nd = len(out)
    idx = np.zeros(lead + tuple(out), dtype=np.int64)
    step = 1
    for d in reversed(range(nd)):
        base = (np.arange(out[d]) * k).reshape((-1,) + (1,) * (nd - 1 - d))
        pos = base + rng.integers(0, k, lead + tuple(out))
        idx += pos * step
        step *= size[d]
    return idx


def _unpool_samples(nd: int):
    def make(rng):
        lead = (2, 3)
        out = (3,) * nd if nd < 3 else (2, 2, 3)
        size = tuple(2 * o for o in out)
        samples = [
            _s(randn(rng, lead + out), _pool_indices(rng, lead, out, 2, size), 2,
               desc="batched"),
            _s(randn(rng, lead[1:] + out), _pool_indices(rng, lead[1:], out, 2, size), 2,
               desc="unbatched"),
        ]
        bigger = tuple(s + 1 for s in size)
        samples.append(_s(randn(rng, lead + out), _pool_indices(rng, lead, out, 2, bigger), 2,
                          output_size=bigger, desc="output_size"))
        return samples

    return make


# --- fractional max pooling ----------------------------------------------------------------
def _fractional_samples(nd: int):
    def make(rng):
        if nd == 2:
            return [
                _s(_distinct(rng, (2, 3, 7, 8)), 2, output_size=(4, 5),
                   _random_samples=rng.uniform(0, 1, (2, 3, 2)), grad=(0,), desc="size"),
                _s(_distinct(rng, (3, 9, 9)), (3, 2), output_size=5,
                   _random_samples=rng.uniform(0, 1, (1, 3, 2)), grad=(0,), desc="unbatched"),
                _s(_distinct(rng, (1, 2, 6, 6)), 2, output_ratio=(0.5, 0.5),
                   _random_samples=rng.uniform(0, 1, (1, 2, 2)), grad=(0,), desc="ratio"),
            ]
        return [
            _s(_distinct(rng, (2, 2, 5, 6, 7)), 2, output_size=(3, 4, 4),
               _random_samples=rng.uniform(0, 1, (2, 2, 3)), grad=(0,), desc="size"),
            _s(_distinct(rng, (2, 6, 6, 6)), (1, 2, 3), output_ratio=0.5,
               _random_samples=rng.uniform(0, 1, (1, 2, 3)), grad=(0,), desc="unbatched_ratio"),
        ]

    return make


def _frac(nd):
    def fn(m, x, k, **kw):
        return getattr(_F(m), f"fractional_max_pool{nd}d")(x, k, return_indices=True, **kw)

    return fn


# --- small ones ----------------------------------------------------------------------------
def _pdist_samples(rng):
    return [_s(randn(rng, (5, 3)), p, desc=f"p{p}") for p in (2.0, 1.0, 3.0, 1.5, 0.5,
                                                               float("inf"), 0.0)] + [
        _s(randn(rng, (1, 3)), 2.0, desc="one_row")]


def _triplet_samples(rng):
    a, p, n = randn(rng, (4, 5)), randn(rng, (4, 5)), randn(rng, (4, 5))
    return [
        _s(a, p, n, desc="default"),
        _s(a, p, n, margin=2.0, swap=True, reduction="sum", desc="swap_sum"),
        _s(a, p, n, margin=0.5, reduction="none", desc="none"),
    ]


def _triplet_cos(m, a, p, n, **kw):
    def dist(x, y):
        return 1.0 - _F(m).cosine_similarity(x, y)

    return _F(m).triplet_margin_with_distance_loss(a, p, n, distance_function=dist, **kw)


def _lce_samples(rng):
    return [
        _s(randn(rng, (4, 3)), randn(rng, (5, 3)), np.array([0, 4, 2, 1]), desc="plain"),
        _s(randn(rng, (4, 3)), randn(rng, (5, 3)), np.array([0, 4, 2, 1]),
           linear_bias=randn(rng, (5,)), label_smoothing=0.1, reduction="sum", desc="bias"),
        _s(randn(rng, (3,)), randn(rng, (5, 3)), rng.uniform(0, 1, (5,)), grad=(0, 1),
           desc="probs"),
        _s(randn(rng, (2, 3)), randn(rng, (4, 2, 3)), np.array([[1, 3], [0, 2]]),
           ignore_index=3, desc="kdim"),
    ]


ROWS = [
    OpInfo("embedding_bag", lambda m, i, w, o, **kw: _bag(m, i, w, o, **kw), _bag_samples,
           "EmbeddingBagBackward0"),
    OpInfo("embedding_bag_per_sample_weights", lambda m, i, w, o, **kw: _bag(m, i, w, o, **kw),
           _bag_psw_samples, "EmbeddingBagBackward0"),
    OpInfo("embedding_bag_aten", lambda m, w, i, o: m.embedding_bag(w, i, o, False, 1),
           lambda rng: [_s(randn(rng, (10, 3)), _IDX, np.array([0, 3, 3, 7]))],
           "EmbeddingBagBackward0", multi_output=True),
    OpInfo("grid_sample_2d", lambda m, x, g, **kw: _F(m).grid_sample(x, g, **kw),
           _grid_samples(2, ("bilinear", "nearest", "bicubic")), "GridSampler2DBackward0"),
    OpInfo("grid_sample_3d", lambda m, x, g, **kw: _F(m).grid_sample(x, g, **kw),
           _grid_samples(3, ("bilinear", "nearest")), "GridSampler3DBackward0"),
    OpInfo("grid_sampler_aten", lambda m, x, g: m.grid_sampler(x, g, 0, 1, True),
           lambda rng: [_s(randn(rng, (1, 2, 3, 4)), _grid(rng, (1, 2, 2, 2), (3, 4), True))],
           "GridSampler2DBackward0"),
    OpInfo("affine_grid", lambda m, t, size, **kw: _F(m).affine_grid(t, size, **kw),
           _affine_samples, "AffineGridGeneratorBackward0"),
    OpInfo("max_unpool1d", lambda m, x, i, k, **kw: _F(m).max_unpool1d(x, i, k, **kw),
           _unpool_samples(1), "SqueezeBackward1"),
    OpInfo("max_unpool2d", lambda m, x, i, k, **kw: _F(m).max_unpool2d(x, i, k, **kw),
           _unpool_samples(2), "MaxUnpool2DBackward0"),
    OpInfo("max_unpool3d", lambda m, x, i, k, **kw: _F(m).max_unpool3d(x, i, k, **kw),
           _unpool_samples(3), "MaxUnpool3DBackward0"),
    OpInfo("fractional_max_pool2d", _frac(2), _fractional_samples(2),
           "FractionalMaxPool2DBackward0", multi_output=True),
    OpInfo("fractional_max_pool3d", _frac(3), _fractional_samples(3),
           "FractionalMaxPool3DBackward0", multi_output=True),
    OpInfo("pdist", lambda m, x, p: _F(m).pdist(x, p), _pdist_samples, "PdistBackward0"),
    OpInfo("channel_shuffle", lambda m, x, g: _F(m).channel_shuffle(x, g),
           lambda rng: [_s(randn(rng, (2, 6, 3)), 3, desc="3d"),
                        _s(randn(rng, (1, 4, 2, 2)), 2, desc="4d")], "ChannelShuffleBackward0"),
    OpInfo("conv_tbc", lambda m, x, w, b, pad: m.conv_tbc(x, w, b, pad),
           lambda rng: [_s(randn(rng, (5, 2, 3)), randn(rng, (2, 3, 4)), randn(rng, (4,)), p,
                           desc=f"pad{p}") for p in (0, 1, -1)], "ConvTbcBackward0"),
    OpInfo("triplet_margin_with_distance_loss",
           lambda m, a, p, n, **kw: _F(m).triplet_margin_with_distance_loss(a, p, n, **kw),
           _triplet_samples),
    OpInfo("triplet_margin_with_distance_loss_cosine", _triplet_cos, _triplet_samples),
    OpInfo("linear_cross_entropy",
           lambda m, x, w, t, **kw: _F(m).linear_cross_entropy(x, w, t, **kw), _lce_samples),
]

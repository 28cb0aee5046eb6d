"""embedding_bag, grid_sample / affine_grid, max_unpool, fractional max pooling, pdist,
channel_shuffle, gumbel_softmax, conv_tbc and the other nn.functional gaps: what the op table
(tests/op_db/gaps_nn.py) does not cover: error messages, warnings, the auxiliary outputs of
torch.embedding_bag, random-number reproduction and the ops whose backward PyTorch refuses."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import both, numeric_vjp, same, same_error, warnings_of

torch = pytest.importorskip("torch")

_W = np.random.default_rng(0).standard_normal((10, 3))
_IDX = [1, 2, 4, 5, 4, 3, 2, 9]


def _F(m):  # noqa: N802
    return m.nn.functional


def _w(m, dtype="float32", rg=False):
    return m.tensor(_W, dtype=getattr(m, dtype), requires_grad=rg)


# --- embedding_bag -------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [0, 1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("pad", [None, 2])
@pytest.mark.parametrize("last", [False, True])
@pytest.mark.parametrize("itype", ["int64", "int32"])
def test_embedding_bag_aten_outputs(mode, dtype, pad, last, itype):
    # output, offset2bag (empty on PyTorch's float32 sum fast path), bag_size, max_indices
    def prog(m):
        it = getattr(m, itype)
        return m.embedding_bag(_w(m, dtype), m.tensor(_IDX, dtype=it),
                               m.tensor([0, 3, 3, 8], dtype=it), False, mode, False, None,
                               last, pad)

    both(prog)


def test_embedding_bag_aten_empty_and_psw():
    both(lambda m: m.embedding_bag(_w(m, "float64"), m.tensor([0, 1, 2, 4, 3]),
                                   m.tensor([0, 3, 5]), False, 0, False,
                                   m.ones(5, dtype=m.float64), True, 1))
    both(lambda m: m.embedding_bag(_w(m, "float64"), m.tensor([], dtype=m.int64),
                                   m.tensor([0, 0]), False, 2, False, None, False, 1))


def test_embedding_bag_max_skips_padding_and_keeps_first_nan():
    # a bag made only of padding gives zeros (and index 0); a NaN met first stays
    def prog(m):
        w = m.tensor([[float("nan"), 1.0], [2.0, 2.0], [3.0, 0.0]])
        r = m.embedding_bag(w, m.tensor([0, 1, 2, 2, 1]), m.tensor([0, 2, 4]), False, 2,
                            False, None, False, 2)
        return r[0], r[3], r[2]

    both(prog)


def test_embedding_bag_grad_functional_forms():
    # 2-D input, negative padding_idx, max_norm (renormalises the weight in place first)
    def prog(m):
        w = _w(m, "float64", True)
        idx = m.tensor([[1, 2, 4, 5], [4, 3, 2, 9]])
        out = _F(m).embedding_bag(idx, w, mode="mean", padding_idx=-6)
        g, = m.autograd.grad(out.sum(), w)
        w2 = _w(m, "float64").clone()
        o2 = _F(m).embedding_bag(idx, w2, max_norm=1.0)
        return out, g, o2, w2

    both(prog)


def test_embedding_bag_scale_grad_by_freq():
    # each row's gradient is divided by how often its index occurs in the mini-batch.
    # (PyTorch's CPU kernel applies the counts to the wrong rows when an index occurs once:
    # compare with the definition rather than with it.)
    w = tapegrad.tensor(_W, requires_grad=True)
    idx = [2, 0, 3, 0, 5, 0]
    out = _F(tapegrad).embedding_bag(tapegrad.tensor(idx), w, tapegrad.tensor([0, 3]),
                                     mode="mean", scale_grad_by_freq=True)
    g, = tapegrad.autograd.grad(out.sum(), w)
    expect = np.zeros_like(_W)
    counts = np.bincount(idx, minlength=10)
    for i in idx:
        expect[i] += 1.0 / 3 / counts[i]
    np.testing.assert_allclose(g.numpy(), expect, rtol=1e-12)


def test_embedding_bag_per_sample_weights_double_backward():
    # PyTorch has no derivative of its weight gradient with respect to per_sample_weights;
    # here it exists and agrees with central differences
    rng = np.random.default_rng(1)
    psw0 = rng.standard_normal(8)

    def grad_w(arrays):
        w = tapegrad.tensor(arrays[0], requires_grad=True)
        p = tapegrad.tensor(arrays[1])
        out = _F(tapegrad).embedding_bag(tapegrad.tensor(_IDX), w, tapegrad.tensor([0, 4]),
                                         mode="sum", per_sample_weights=p)
        return [tapegrad.autograd.grad((out * out).sum(), w)[0].numpy()]

    v = rng.standard_normal(_W.shape)
    w = tapegrad.tensor(_W, requires_grad=True)
    p = tapegrad.tensor(psw0, requires_grad=True)
    out = _F(tapegrad).embedding_bag(tapegrad.tensor(_IDX), w, tapegrad.tensor([0, 4]),
                                     mode="sum", per_sample_weights=p)
    gw, = tapegrad.autograd.grad((out * out).sum(), w, create_graph=True)
    gp, = tapegrad.autograd.grad((gw * tapegrad.tensor(v)).sum(), p)
    num, = numeric_vjp(grad_w, [_W, psw0], [1], [v], 1e-6)
    np.testing.assert_allclose(gp.numpy(), num, rtol=1e-6, atol=1e-8)
    with pytest.raises(RuntimeError, match="not implemented"):
        tw = torch.tensor(_W, requires_grad=True)
        tp = torch.tensor(psw0, requires_grad=True)
        o = torch.nn.functional.embedding_bag(torch.tensor(_IDX), tw, torch.tensor([0, 4]),
                                              mode="sum", per_sample_weights=tp)
        tgw, = torch.autograd.grad((o * o).sum(), tw, create_graph=True)
        torch.autograd.grad((tgw * torch.tensor(v)).sum(), tp)


_BAG_ERRORS = [
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m), m.tensor([0, 4]), padding_idx=10),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m), m.tensor([0, 4]), padding_idx=-11),
    lambda m: _F(m).embedding_bag(m.tensor([1, 12]), _w(m), m.tensor([0])),
    lambda m: _F(m).embedding_bag(m.tensor([1, -1]), _w(m), m.tensor([0])),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m), m.tensor([1, 4])),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m), m.tensor([1, 4], dtype=m.int32)),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m), m.tensor([0, 9])),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m), m.tensor([0.0, 4.0])),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX).float(), _w(m), m.tensor([0, 4])),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m), m.tensor([0, 4]), mode="foo"),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m), m.tensor([0, 4]), mode="max",
                                  per_sample_weights=m.ones(8)),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m), m.tensor([0, 4]),
                                  per_sample_weights=m.ones(7)),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m), m.tensor([0, 4]), mode="sum",
                                  per_sample_weights=m.ones(8, dtype=m.float64)),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m), m.tensor([0, 4]), mode="max",
                                  scale_grad_by_freq=True),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m), m.tensor([0, 4]), mode="max",
                                  sparse=True),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX).view(2, 4), _w(m), m.tensor([0, 4])),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m)),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX).view(1, 2, 4), _w(m)),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m)[0], m.tensor([0, 4])),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m), m.tensor([0, 4]).view(1, 2)),
    lambda m: _F(m).embedding_bag(m.tensor(_IDX), _w(m).int(), m.tensor([0, 4])),
    lambda m: m.embedding_bag(_w(m), m.tensor(_IDX), m.tensor([0, 4]), False, 3),
    lambda m: m.embedding_bag(_w(m), m.tensor(_IDX), m.tensor([0, 4]).view(2, 1)),
]


@pytest.mark.parametrize("k", range(len(_BAG_ERRORS)))
def test_embedding_bag_errors(k):
    same_error(_BAG_ERRORS[k])


def test_embedding_bag_decreasing_offsets():
    # torch's behaviour here depends on the machine (it reads past the offsets), so tapegrad's
    # own message is checked rather than compared.
    import tapegrad

    F = tapegrad.nn.functional
    idx, w = tapegrad.tensor(_IDX), _w(tapegrad)
    v0 = w._version
    with pytest.raises(RuntimeError, match=r"offsets\[2\] = 3 is less than offsets\[1\] = 4"):
        F.embedding_bag(idx, w, tapegrad.tensor([0, 4, 3]))
    with pytest.raises(RuntimeError, match="the last offset value should be the size"):
        F.embedding_bag(idx, w, tapegrad.tensor([0, 4, 3]), include_last_offset=True)
    with pytest.raises(RuntimeError, match=r"offsets\[2\] = 2 is less than offsets\[1\] = 5"):
        F.embedding_bag(idx, w, tapegrad.tensor([0, 5, 2, 8]), include_last_offset=True)
    assert w._version == v0 and w.grad is None


def test_embedding_bag_argument_order_warning():
    def prog(m):
        msgs = warnings_of(lambda: _F(m).embedding_bag(_w(m), m.tensor(_IDX),
                                                       m.tensor([0, 4])))
        return msgs

    both(prog)


# --- grid_sample / affine_grid -------------------------------------------------------------
def _x(m, shape=(2, 3, 4, 5)):
    return m.tensor(np.random.default_rng(2).standard_normal(shape), dtype=m.float32)


def _g(m, shape=(2, 3, 4, 2)):
    return m.tensor(np.random.default_rng(3).uniform(-1.2, 1.2, shape), dtype=m.float32)


def test_grid_sample_align_corners_warning_and_enums():
    def prog(m):
        msgs = warnings_of(lambda: _F(m).grid_sample(_x(m), _g(m)))
        msgs += warnings_of(lambda: _F(m).affine_grid(m.zeros(2, 2, 3), (2, 3, 4, 5)))
        msgs += warnings_of(lambda: _F(m).affine_grid(m.zeros(1, 2, 3), (1, 1, 1, 4),
                                                      align_corners=True))
        return (msgs, dict(_F(m).GRID_SAMPLE_INTERPOLATION_MODES),
                dict(_F(m).GRID_SAMPLE_PADDING_MODES))

    both(prog)


def test_grid_sample_empty_and_aten_forms():
    both(lambda m: _F(m).grid_sample(_x(m)[:, :0], _g(m), align_corners=False))
    both(lambda m: _F(m).grid_sample(_x(m)[:0], _g(m)[:0], align_corners=True))
    both(lambda m: _F(m).grid_sample(_x(m), _g(m)[:, :0], align_corners=False))
    both(lambda m: m.grid_sampler_2d(_x(m), _g(m), 1, 2, False))
    both(lambda m: m.grid_sampler_3d(_x(m, (1, 2, 3, 4, 5)), _g(m, (1, 2, 2, 2, 3)), 0, 1, True))
    both(lambda m: m.affine_grid_generator(m.ones(2, 2, 3), [2, 1, 3, 4], False))


def test_grid_sample_grad_fns_second_order():
    # the double-backward of both inputs exists (PyTorch's GridSampler2DBackwardBackward0)
    def prog(m):
        x = _x(m).double().requires_grad_()
        g = _g(m).double().requires_grad_()
        out = _F(m).grid_sample(x, g, mode="bicubic", padding_mode="border",
                                align_corners=True)
        gx, gg = m.autograd.grad((out * out).sum(), (x, g), create_graph=True)
        return m.autograd.grad((gx * gx).sum() + (gg * gg).sum(), (x, g))

    both(prog, atol=1e-8)


_GRID_ERRORS = [
    lambda m: _F(m).grid_sample(_x(m), _g(m), mode="foo", align_corners=False),
    lambda m: _F(m).grid_sample(_x(m), _g(m), padding_mode="foo", align_corners=False),
    lambda m: _F(m).grid_sample(_x(m), _g(m)[..., :1], align_corners=False),
    lambda m: _F(m).grid_sample(_x(m), _g(m)[:1], align_corners=False),
    lambda m: _F(m).grid_sample(_x(m)[0], _g(m)[0], align_corners=False),
    lambda m: _F(m).grid_sample(_x(m)[0], _g(m), align_corners=False),
    lambda m: _F(m).grid_sample(_x(m), _g(m).double(), align_corners=False),
    lambda m: _F(m).grid_sample(_x(m).double(), _g(m), align_corners=False),
    lambda m: _F(m).grid_sample(_x(m)[:, :, :0], _g(m), align_corners=False),
    lambda m: _F(m).grid_sample(_x(m, (1, 2, 3, 4, 5)), _g(m, (1, 2, 2, 2, 3)),
                                mode="bicubic", align_corners=False),
    lambda m: _F(m).grid_sample(_x(m).int(), _g(m).int(), align_corners=False),
    lambda m: m.grid_sampler_2d(_x(m, (1, 2, 3, 4, 5)), _g(m, (1, 2, 2, 2, 3)), 0, 0, False),
    lambda m: m.grid_sampler_3d(_x(m), _g(m), 0, 0, False),
    lambda m: _F(m).affine_grid(m.zeros(2, 2, 3), (2, 3, 4), align_corners=False),
    lambda m: _F(m).affine_grid(m.zeros(2, 2, 3), (3, 3, 4, 5), align_corners=False),
    lambda m: _F(m).affine_grid(m.zeros(2, 3, 4), (2, 3, 4, 5), align_corners=False),
    lambda m: _F(m).affine_grid(m.zeros(2, 2, 3), (2, 3, 4, 5, 6), align_corners=False),
    lambda m: _F(m).affine_grid(m.zeros(2, 2, 3, dtype=m.int32), (2, 3, 4, 5),
                                align_corners=False),
    lambda m: _F(m).affine_grid(m.zeros(2, 2, 3), (2, 3, 0, 5), align_corners=False),
    lambda m: _F(m).affine_grid(m.zeros(2, 3), (2, 3, 4, 5), align_corners=False),
    lambda m: _F(m).affine_grid(m.zeros(2, 2, 3), [2, 3, 4, 5, 6, 7], align_corners=False),
]


@pytest.mark.parametrize("k", range(len(_GRID_ERRORS)))
def test_grid_sample_errors(k):
    same_error(_GRID_ERRORS[k])


# --- max_unpool ----------------------------------------------------------------------------
def _pooled(m, shape, nd=2):
    x = m.tensor(np.random.default_rng(4).standard_normal(shape))
    return getattr(_F(m), f"max_pool{nd}d")(x, 2, return_indices=True)


def test_max_unpool_values_and_sizes():
    both(lambda m: _F(m).max_unpool2d(*_pooled(m, (2, 3, 6, 8)), 2, output_size=(2, 3, 7, 8)))
    both(lambda m: _F(m).max_unpool2d(*_pooled(m, (2, 3, 6, 8)), 2, output_size=[7, 9]))
    both(lambda m: _F(m).max_unpool2d(*_pooled(m, (0, 3, 6, 8)), 2))
    both(lambda m: _F(m).max_unpool1d(*_pooled(m, (3, 8), 1), 2, output_size=[9]))
    both(lambda m: _F(m).max_unpool3d(*_pooled(m, (3, 4, 6, 6), 3), 2))


def _bad_index(m, shape, where, value):
    v, i = _pooled(m, shape)
    i = i.clone()
    i.view(-1)[where] = value
    return v, i


_UNPOOL_ERRORS = [
    lambda m: _F(m).max_unpool2d(*_pooled(m, (2, 3, 6, 8)), 2, output_size=(9, 8)),
    lambda m: _F(m).max_unpool2d(*_pooled(m, (2, 3, 6, 8)), 2, output_size=[9, 8]),
    lambda m: _F(m).max_unpool2d(*_pooled(m, (2, 3, 6, 8)), 2, output_size=(1, 7, 8)),
    lambda m: _F(m).max_unpool2d(*_pooled(m, (2, 3, 6, 8)), 2, output_size=(-1, 2)),
    lambda m: _F(m).max_unpool2d(_pooled(m, (2, 3, 6, 8))[0], _pooled(m, (2, 3, 6, 8))[1].int(),
                                 2),
    lambda m: _F(m).max_unpool2d(_pooled(m, (2, 3, 6, 8))[0], _pooled(m, (2, 3, 6, 8))[1][:1],
                                 2),
    lambda m: _F(m).max_unpool2d(*_bad_index(m, (1, 1, 4, 4), 2, 40), 2),
    lambda m: _F(m).max_unpool2d(*_bad_index(m, (1, 1, 4, 4), 1, -3), 2),
    lambda m: _F(m).max_unpool2d(*_bad_index(m, (2, 3, 4, 4), 13, 16), 2),
    lambda m: _F(m).max_unpool2d(*[t[0, 0] for t in _pooled(m, (2, 3, 6, 8))], 2),
    lambda m: _F(m).max_unpool2d(_pooled(m, (2, 3, 6, 8))[0].int(),
                                 _pooled(m, (2, 3, 6, 8))[1], 2),
    lambda m: _F(m).max_unpool2d(*[t[:, :0] for t in _pooled(m, (2, 3, 6, 8))], 2),
    lambda m: _F(m).max_unpool1d(m.ones(4), m.zeros(4, dtype=m.int64), 2),
    lambda m: _F(m).max_unpool3d(*_pooled(m, (3, 4, 6, 6), 3), 2, 0),
    lambda m: _F(m).max_unpool3d(*_pooled(m, (3, 4, 6, 6), 3), 2, -2),
    lambda m: _F(m).max_unpool3d(*_pooled(m, (3, 4, 6, 6), 3), 2, output_size=(1, 2)),
    lambda m: _F(m).max_unpool3d(*[t[0] for t in _pooled(m, (3, 4, 6, 6), 3)], 2),
    lambda m: _F(m).max_unpool3d(_pooled(m, (3, 4, 6, 6), 3)[0],
                                 _pooled(m, (3, 4, 6, 6), 3)[1].int(), 2),
    lambda m: _F(m).max_unpool3d(*[t[:, :0] for t in _pooled(m, (2, 3, 4, 6, 6), 3)], 2),
    lambda m: _F(m).max_unpool3d(_pooled(m, (3, 4, 6, 6), 3)[0].to(m.complex64),
                                 _pooled(m, (3, 4, 6, 6), 3)[1], 2),
]


@pytest.mark.parametrize("k", range(len(_UNPOOL_ERRORS)))
def test_max_unpool_errors(k):
    same_error(_UNPOOL_ERRORS[k])


# --- fractional max pooling ----------------------------------------------------------------
@pytest.mark.parametrize("nd,shape,ratio", [(2, (2, 3, 7, 8), (0.5, 0.5)),
                                            (2, (3, 7, 8), (0.6, 0.5)),
                                            (3, (2, 2, 5, 6, 7), 0.5)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fractional_max_pool_samples_follow_the_seed(nd, shape, ratio, dtype):
    # without _random_samples, the samples are tapegrad.rand's: PyTorch's after manual_seed
    def prog(m):
        m.manual_seed(7)
        x = m.tensor(np.random.default_rng(5).standard_normal(shape), dtype=getattr(m, dtype))
        return getattr(_F(m), f"fractional_max_pool{nd}d")(x, 2, output_ratio=ratio,
                                                            return_indices=True)

    both(prog)


def test_fractional_max_pool_nan_and_ties():
    a = np.array([[[[1, np.nan, 3, np.nan], [0, -1, 2, 5], [1, 1, 1, 1],
                    [-np.inf, -np.inf, -np.inf, -np.inf]]]])

    both(lambda m: _F(m).fractional_max_pool2d(m.tensor(a), 2, output_size=3,
                                               return_indices=True,
                                               _random_samples=m.tensor([[[0.3, 0.6]]],
                                                                       dtype=m.float64)))


def _frac_x(m, shape):
    return m.tensor(np.random.default_rng(6).standard_normal(shape), dtype=m.float32)


_FRAC_ERRORS = [
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (2, 3, 7, 8)), 2),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (2, 3, 7, 8)), 2, output_size=(7, 8)),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (3, 7, 8)), 2, output_size=(6, 8)),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (2, 3, 7, 8)), 2,
                                          output_ratio=(0.5, 0.5, 0.5)),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (2, 3, 7, 8)), 2, output_ratio=1.5),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (7, 8)), 2, output_size=2),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (7, 8)), 2, output_size=2,
                                          _random_samples=m.rand(1, 5, 2)),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (2, 3, 7, 8)), 2, output_size=2,
                                          _random_samples=m.rand(2, 3, 2, dtype=m.float64)),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (2, 3, 7, 8)), 2, output_size=2,
                                          _random_samples=m.rand(1, 3, 2)),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (2, 3, 7, 8)), 2, output_size=2,
                                          _random_samples=m.rand(2, 3, 3)),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (2, 3, 7, 8)), 2, output_size=2,
                                          _random_samples=m.rand(2, 2, 2)),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (2, 3, 7, 8)), 2, output_size=2,
                                          _random_samples=m.rand(2, 3)),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (2, 3, 7, 8)), (2, 3, 4), output_size=2),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (2, 3, 7, 8)), 2, output_size=(1, 2, 3)),
    lambda m: _F(m).fractional_max_pool2d(_frac_x(m, (5, 0, 7)), 2, output_size=2,
                                          _random_samples=m.rand(1, 0, 2)),
    lambda m: _F(m).fractional_max_pool3d(_frac_x(m, (2, 3, 5, 6, 7)), 2,
                                          output_size=(3, 5, 6)),
    lambda m: _F(m).fractional_max_pool3d(_frac_x(m, (2, 3, 5, 6, 7)), 2,
                                          output_size=(4, 5, 6)),
    lambda m: _F(m).fractional_max_pool3d(_frac_x(m, (2, 3, 5, 6, 7)), 2,
                                          output_size=(3, 6, 4)),
    lambda m: _F(m).fractional_max_pool3d(_frac_x(m, (2, 3, 5, 6, 7)), (2, 2),
                                          output_size=(4, 5, 6)),
    lambda m: _F(m).fractional_max_pool3d(_frac_x(m, (2, 3, 5, 6, 7)), 2,
                                          output_size=(2, 2)),
    lambda m: _F(m).fractional_max_pool3d(_frac_x(m, (2, 3, 5, 6, 7)), 2),
    lambda m: _F(m).fractional_max_pool3d(_frac_x(m, (2, 3, 5, 6, 7)), 2, output_size=2,
                                          _random_samples=m.rand(2, 3, 2)),
    lambda m: _F(m).fractional_max_pool3d(_frac_x(m, (2, 0, 5, 6, 7)), 2, output_size=2,
                                          _random_samples=m.rand(2, 0, 3)),
]


@pytest.mark.parametrize("k", range(len(_FRAC_ERRORS)))
def test_fractional_max_pool_errors(k):
    same_error(_FRAC_ERRORS[k])


# --- pdist / channel_shuffle / conv_tbc ----------------------------------------------------
def test_pdist_edge_cases():
    both(lambda m: _F(m).pdist(m.zeros(1, 3)))
    both(lambda m: _F(m).pdist(m.zeros(0, 3)))
    both(lambda m: _F(m).pdist(m.ones(3, 0)))
    # equal rows: zero distances give zero gradients
    def prog(m):
        x = m.ones(3, 2, dtype=m.float64, requires_grad=True)
        return m.autograd.grad(_F(m).pdist(x).sum(), x)[0]

    both(prog)


_SMALL_ERRORS = [
    lambda m: _F(m).pdist(m.ones(3, 2), -1),
    lambda m: _F(m).pdist(m.ones(3)),
    lambda m: _F(m).pdist(m.ones(2, 3, 4)),
    lambda m: _F(m).pdist(m.ones(3, 2, dtype=m.int64)),
    lambda m: _F(m).channel_shuffle(m.ones(2, 6, 3), 4),
    lambda m: _F(m).channel_shuffle(m.ones(2, 6, 3), 0),
    lambda m: _F(m).channel_shuffle(m.ones(2, 6, 3), -1),
    lambda m: _F(m).channel_shuffle(m.ones(3), 2),
    lambda m: _F(m).channel_shuffle(m.ones(2, 6), 2),
    lambda m: _F(m).native_channel_shuffle(m.ones(2, 6, 3), 4),
    lambda m: _F(m).native_channel_shuffle(m.ones(6), 2),
    lambda m: m.conv_tbc(m.ones(2, 3), m.ones(2, 3, 4), m.ones(4)),
    lambda m: m.conv_tbc(m.ones(5, 2, 3), m.ones(3, 4), m.ones(4)),
    lambda m: m.conv_tbc(m.ones(5, 2, 3), m.ones(2, 3, 4), m.ones(1, 4)),
    lambda m: m.conv_tbc(m.ones(5, 2, 3), m.ones(2, 2, 4), m.ones(4)),
    lambda m: m.conv_tbc(m.ones(5, 2, 3), m.ones(2, 3, 4), m.ones(3)),
    lambda m: m.conv_tbc(m.ones(5, 2, 3), m.ones(7, 3, 4), m.ones(4)),
    lambda m: m.conv_tbc(m.ones(5, 2, 3, dtype=m.float64), m.ones(2, 3, 4), m.ones(4)),
]


@pytest.mark.parametrize("k", range(len(_SMALL_ERRORS)))
def test_small_op_errors(k):
    same_error(_SMALL_ERRORS[k])


def test_channel_shuffle_values_and_native_form():
    both(lambda m: _F(m).channel_shuffle(m.arange(24).view(1, 6, 2, 2), 3))
    both(lambda m: m.channel_shuffle(m.arange(12.0).view(1, 6, 2), 2))
    both(lambda m: _F(m).channel_shuffle(m.ones(0, 6, 2), 2))

    # native_channel_shuffle records a node named NotImplemented whose backward refuses
    def prog(m):
        x = m.arange(12.0).view(1, 6, 2).requires_grad_()
        out = _F(m).native_channel_shuffle(x, 3)
        try:
            out.sum().backward()
            msg = None
        except RuntimeError as e:
            msg = str(e)
        return out.detach(), out.grad_fn.name().rsplit("::", 1)[-1], msg

    both(prog)


# --- gumbel_softmax ------------------------------------------------------------------------
def test_gumbel_softmax_properties():
    tapegrad.manual_seed(0)
    logits = tapegrad.randn(4, 5, requires_grad=True)
    soft = _F(tapegrad).gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.sum(-1).detach().numpy(), np.ones(4), rtol=1e-6)
    assert soft.grad_fn.name() == "SoftmaxBackward0"
    hard = _F(tapegrad).gumbel_softmax(logits, hard=True, dim=0)
    h = hard.detach().numpy()
    assert set(np.unique(h)) <= {0.0, 1.0} and (h.sum(0) == 1).all()
    assert hard.grad_fn.name() == "AddBackward0"
    # straight-through: the gradient is the soft sample's
    g, = tapegrad.autograd.grad((hard * tapegrad.arange(5.0)).sum(), logits)
    assert g.shape == logits.shape and np.isfinite(g.numpy()).all()
    msgs = warnings_of(lambda: _F(tapegrad).gumbel_softmax(logits, eps=1e-3))
    assert msgs == ["`eps` parameter is deprecated and has no effect."]


def test_gumbel_softmax_matches_torch_after_manual_seed():
    def prog(m):
        m.manual_seed(3)
        logits = m.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
        soft = _F(m).gumbel_softmax(logits, tau=0.7)
        hard = _F(m).gumbel_softmax(logits, hard=True)
        return soft, hard, m.autograd.grad((hard * m.arange(4.0)).sum(), logits)[0]

    both(prog)


# --- triplet_margin_with_distance_loss / linear_cross_entropy -----------------------------
_LOSS_ERRORS = [
    lambda m: _F(m).triplet_margin_with_distance_loss(m.ones(2, 3), m.ones(2, 3), m.ones(2, 3),
                                                      reduction="foo"),
    lambda m: _F(m).triplet_margin_with_distance_loss(m.ones(2, 3), m.ones(2, 3), m.ones(2, 3),
                                                      margin=0),
    lambda m: _F(m).triplet_margin_with_distance_loss(m.ones(2, 3), m.ones(3), m.ones(2, 3)),
    lambda m: _F(m).linear_cross_entropy(m.ones(2, 2, 3), m.ones(4, 3), m.tensor([0, 1])),
    lambda m: _F(m).linear_cross_entropy(m.ones(2, 3), m.ones(3), m.tensor([0, 1])),
    lambda m: _F(m).linear_cross_entropy(m.ones(2, 3), m.ones(4, 2), m.tensor([0, 1])),
    lambda m: _F(m).linear_cross_entropy(m.ones(2, 3), m.ones(4, 3), m.tensor([0, 1]),
                                         linear_bias=m.ones(3)),
    lambda m: _F(m).linear_cross_entropy(m.ones(3), m.ones(4, 2, 3), m.tensor([0, 1])),
    lambda m: _F(m).linear_cross_entropy(m.ones(2, 3), m.ones(4, 3), m.ones(2, 4),
                                         ignore_index=1),
]


@pytest.mark.parametrize("k", range(len(_LOSS_ERRORS)))
def test_loss_errors(k):
    same_error(_LOSS_ERRORS[k])


def test_functional_names_complete():
    # every public torch.nn.functional name a CPU autograd library can offer is there
    import torch.nn.functional as F  # noqa: N812

    skip = {"BroadcastingList1", "BroadcastingList2", "BroadcastingList3", "Callable", "DType",
            "Optional", "ScalingType", "SwizzleType", "TYPE_CHECKING", "Tensor",
            "assert_int_or_pair", "boolean_dispatch", "dataclasses", "handle_torch_function",
            "has_torch_function", "has_torch_function_unary", "has_torch_function_variadic",
            "importlib", "math", "np", "reproducibility_notes", "sparse_support_notes",
            "tf32_notes", "torch", "grad", "grouped_mm", "scaled_mm", "scaled_grouped_mm"}
    names = [n for n in dir(F) if not n.startswith("_") and n not in skip]
    missing = [n for n in names if not hasattr(_F(tapegrad), n)]
    assert missing == [] or set(missing) <= {"multi_head_attention_forward"}, missing
    same(list(_F(tapegrad).GRID_SAMPLE_PADDING_MODES), list(F.GRID_SAMPLE_PADDING_MODES))


@pytest.mark.parametrize("module", ["nn_gaps", "pool_unpool", "pool_fractional", "embedding_bag",
                                    "grid_sample"])
def test_docstring_examples(module):
    import doctest
    import importlib

    mod = importlib.import_module(f"tapegrad.ops.{module}")
    res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0

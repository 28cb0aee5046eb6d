"""Rows for torch.nn.functional's losses, normalizations, embedding, dropout, distances and
attention (ops/loss*.py, ops/normalization.py, ops/nn_misc.py, ops/attention.py, ops/nn_aten.py).

`_F(m)` is torch.nn.functional for torch and tapegrad.nn.functional for tapegrad. Samples keep
away from the kinks of the piecewise losses (|d| = beta, margins, ...) so central differences
apply. Rows that draw random numbers (dropout) seed the generator inside the call, so the two
libraries draw the same mask (tapegrad's generator reproduces PyTorch's stream) and every
evaluation of the numeric checks sees the same function. Behaviours whose PyTorch gradient is
not the derivative (embedding's padding_idx / scale_grad_by_freq / max_norm, the clamped norms
of cosine_similarity) are compared with PyTorch there. Errors, warnings, running statistics,
in-place forms and other behaviours are tested in tests/test_losses.py and tests/test_nn_ops.py.
"""

from __future__ import annotations

import numpy as np

from . import OpInfo, Sample, away_from, randn


def _F(m):  # noqa: N802
    return m.nn.functional


_RED = ("mean", "sum", "none")


def _pair(shape=(3, 4), points=(0.0,), margin=0.1, kwargs=None, reductions=_RED):
    """(input, target) with input - target kept away from `points`, one sample per
    reduction."""

    def make(rng):
        out = []
        for red in reductions:
            x = randn(rng, shape)
            d = away_from(rng, shape, points, margin, -2.5, 2.5)
            out.append(Sample((x, x - d), dict(kwargs or {}, reduction=red), desc=red))
        return out

    return make


def _with(extra, grad=(0, 1), reductions=_RED):
    """Samples (*arrays) from extra(rng) with each reduction."""

    def make(rng):
        out = []
        for red in reductions:
            args, kw = extra(rng)
            out.append(Sample(args, dict(kw, reduction=red), grad=grad, desc=red))
        return out

    return make


def _prob(rng, shape, lo=0.05, hi=0.95):
    return rng.uniform(lo, hi, size=shape)


def _sign(rng, shape):
    return np.where(rng.uniform(size=shape) < 0.5, -1.0, 1.0)


def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _row(name, fn, samples, node, **kw):
    return OpInfo(name, fn, samples, node, **kw)


def _seeded(call):
    """call(m, ...) after seeding m's default generator (the same mask in both libraries)."""

    def fn(m, *args, **kwargs):
        m.manual_seed(1234)
        return call(m, *args, **kwargs)

    return fn


# --- regression and binary losses ----------------------------------------------------------------
def _bce(rng):
    return (_prob(rng, (3, 4)), rng.uniform(0, 1, (3, 4))), {}


def _bce_weight(rng):
    return (_prob(rng, (3, 4)), rng.uniform(0, 1, (3, 4)), rng.uniform(0.1, 1, (4,))), {}


def _logits(rng):
    return (randn(rng, (3, 4)), rng.uniform(0, 1, (3, 4))), {}


def _logits_weights(rng):
    return (randn(rng, (3, 4)), rng.uniform(0, 1, (3, 4)), rng.uniform(0.1, 1, (3, 4)),
            rng.uniform(0.5, 3, (4,))), {}


def _soft_margin(rng):
    return (randn(rng, (3, 4)), _sign(rng, (3, 4))), {}


def _weighted(rng):
    x = randn(rng, (3, 4))
    return (x, x - away_from(rng, (3, 4), (0.0, -0.6, 0.6), 0.1), rng.uniform(0.1, 1, (3, 4))), {}


REGRESSION = [
    _row("mse_loss", lambda m, x, y, **k: _F(m).mse_loss(x, y, **k), _pair(),
         "MseLossBackward0"),
    _row("mse_loss_weight", lambda m, x, y, w, **k: _F(m).mse_loss(x, y, weight=w, **k),
         _with(_weighted, (0, 1), ("mean",)), "DivBackward0"),
    _row("l1_loss", lambda m, x, y, **k: _F(m).l1_loss(x, y, **k), _pair(reductions=("mean",)),
         "MeanBackward0"),
    _row("l1_loss_sum", lambda m, x, y, **k: _F(m).l1_loss(x, y, **k),
         _pair(reductions=("sum",)), "SumBackward0"),
    _row("l1_loss_none", lambda m, x, y, **k: _F(m).l1_loss(x, y, **k),
         _pair(reductions=("none",)), "AbsBackward0"),
    _row("l1_loss_weight", lambda m, x, y, w, **k: _F(m).l1_loss(x, y, weight=w, **k),
         _with(_weighted, (0, 1), ("sum",)), "SumBackward0"),
    _row("smooth_l1_loss", lambda m, x, y, **k: _F(m).smooth_l1_loss(x, y, **k),
         _pair(points=(-1.0, 1.0)), "SmoothL1LossBackward0"),
    _row("smooth_l1_loss_beta", lambda m, x, y, **k: _F(m).smooth_l1_loss(x, y, beta=0.6, **k),
         _pair(points=(-0.6, 0.6)), "SmoothL1LossBackward0"),
    _row("huber_loss", lambda m, x, y, **k: _F(m).huber_loss(x, y, **k),
         _pair(points=(-1.0, 1.0)), "HuberLossBackward0"),
    _row("huber_loss_delta", lambda m, x, y, **k: _F(m).huber_loss(x, y, delta=0.6, **k),
         _pair(points=(-0.6, 0.6)), "HuberLossBackward0"),
    _row("huber_loss_weight", lambda m, x, y, w, **k: _F(m).huber_loss(x, y, weight=w, delta=0.6,
                                                                       **k),
         _with(_weighted, (0, 1), ("mean",)), "MeanBackward0"),
    _row("soft_margin_loss", lambda m, x, y, **k: _F(m).soft_margin_loss(x, y, **k),
         _with(_soft_margin, (0,)), "SoftMarginLossBackward0"),
    _row("binary_cross_entropy", lambda m, x, y, **k: _F(m).binary_cross_entropy(x, y, **k),
         _with(_bce), "BinaryCrossEntropyBackward0"),
    _row("binary_cross_entropy_weight",
         lambda m, x, y, w, **k: _F(m).binary_cross_entropy(x, y, w, **k),
         _with(_bce_weight), "BinaryCrossEntropyBackward0"),
    _row("binary_cross_entropy_with_logits",
         lambda m, x, y, **k: _F(m).binary_cross_entropy_with_logits(x, y, **k),
         _with(_logits), "BinaryCrossEntropyWithLogitsBackward0"),
    _row("binary_cross_entropy_with_logits_weights",
         lambda m, x, y, w, pw, **k: _F(m).binary_cross_entropy_with_logits(
             x, y, w, pos_weight=pw, **k),
         _with(_logits_weights), "BinaryCrossEntropyWithLogitsBackward0"),
    _row("torch_binary_cross_entropy_with_logits",
         lambda m, x, y, w, pw: m.binary_cross_entropy_with_logits(x, y, w, pw, 2),
         lambda rng: [Sample(_logits_weights(rng)[0], grad=(0, 1))],
         "BinaryCrossEntropyWithLogitsBackward0"),
]


# --- composite losses -----------------------------------------------------------------------------
def _kl(rng):
    return (np.log(_softmax(randn(rng, (3, 4)), 1)), _softmax(randn(rng, (3, 4)), 1)), {}


def _kl_log(rng):
    return (np.log(_softmax(randn(rng, (3, 4)), 1)), np.log(_softmax(randn(rng, (3, 4)), 1))), {}


def _poisson(rng):
    return (randn(rng, (3, 4)), rng.uniform(0, 4, (3, 4))), {}


def _poisson_rate(rng):
    return (rng.uniform(0.2, 3, (3, 4)), rng.uniform(1.5, 4, (3, 4))), {}


def _gauss(rng):
    return (randn(rng, (3, 4)), randn(rng, (3, 4)), rng.uniform(0.2, 2, (3, 4))), {}


def _gauss_homo(rng):
    return (randn(rng, (3, 4)), randn(rng, (3, 4)), rng.uniform(0.2, 2, (3,))), {}


def _ranking(rng):
    x = randn(rng, (5,))
    return (x, x - away_from(rng, (5,), (-0.3, 0.3), 0.1), _sign(rng, (5,))), {"margin": 0.3}


def _hinge(rng):
    return (away_from(rng, (3, 4), (0.5,), 0.1), _sign(rng, (3, 4))), {"margin": 0.5}


def _multilabel_soft(rng):
    return (randn(rng, (3, 4)), (rng.uniform(size=(3, 4)) < 0.5).astype(float),
            rng.uniform(0.2, 1, (4,))), {}


def _cos_emb(rng):
    return (randn(rng, (3, 4)), randn(rng, (3, 4)), np.array([1.0, -1.0, -1.0])), {"margin": -0.9}


def _cos_emb_1d(rng):
    return (randn(rng, (4,)), randn(rng, (4,)), np.array(1.0)), {}


def _triplet(rng):
    a = randn(rng, (3, 4))
    return (a, a + 0.3 * randn(rng, (3, 4)), a + 0.5 * randn(rng, (3, 4))), {"margin": 5.0}


def _multi_margin(rng):
    return (randn(rng, (4, 5)), np.array([0, 4, 2, 2])), {"margin": 0.7}


def _multi_margin_w(rng):
    return (randn(rng, (4, 5)), np.array([0, 4, 2, 2]), rng.uniform(0.2, 1, (5,))), {}


def _multilabel_margin(rng):
    t = np.array([[3, 0, -1, 1, 2], [1, 1, 2, -1, 0], [-1, 0, 1, 2, 3], [4, 3, 2, 1, 0]])
    return (randn(rng, (4, 5)), t), {}


COMPOSITE = [
    _row("kl_div_batchmean", lambda m, x, y, **k: _F(m).kl_div(x, y, **k),
         _with(_kl, (0, 1), ("batchmean",)), "DivBackward0"),
    _row("kl_div_sum", lambda m, x, y, **k: _F(m).kl_div(x, y, **k),
         _with(_kl, (0, 1), ("sum",)), "SumBackward0"),
    _row("kl_div_none_log_target", lambda m, x, y, **k: _F(m).kl_div(x, y, log_target=True, **k),
         _with(_kl_log, (0, 1), ("none",)), "MulBackward0"),
    _row("torch_kl_div", lambda m, x, y: m.kl_div(x, y), lambda rng: [Sample(_kl(rng)[0])],
         "SubBackward0"),
    _row("torch_kl_div_mean", lambda m, x, y: m.kl_div(x, y, 1), lambda rng: [Sample(_kl(rng)[0])],
         "MeanBackward0"),
    _row("poisson_nll_loss", lambda m, x, y, **k: _F(m).poisson_nll_loss(x, y, **k),
         _with(_poisson), None),
    _row("poisson_nll_loss_full_rate",
         lambda m, x, y, **k: _F(m).poisson_nll_loss(x, y, log_input=False, full=True, **k),
         _with(_poisson_rate), None),
    _row("gaussian_nll_loss", lambda m, x, y, v, **k: _F(m).gaussian_nll_loss(x, y, v, **k),
         _with(_gauss, (0, 1, 2)), None),
    _row("gaussian_nll_loss_full_homoscedastic",
         lambda m, x, y, v, **k: _F(m).gaussian_nll_loss(x, y, v, full=True, **k),
         _with(_gauss_homo, (0, 1, 2)), None),
    _row("margin_ranking_loss", lambda m, x, y, t, **k: _F(m).margin_ranking_loss(x, y, t, **k),
         _with(_ranking), None),
    _row("hinge_embedding_loss", lambda m, x, t, **k: _F(m).hinge_embedding_loss(x, t, **k),
         _with(_hinge, (0,)), None),
    _row("multilabel_soft_margin_loss",
         lambda m, x, t, w, **k: _F(m).multilabel_soft_margin_loss(x, t, w, **k),
         _with(_multilabel_soft, (0, 1)), None),
    _row("cosine_embedding_loss",
         lambda m, x, y, t, **k: _F(m).cosine_embedding_loss(x, y, t, **k),
         _with(_cos_emb), None),
    _row("cosine_embedding_loss_1d",
         lambda m, x, y, t, **k: _F(m).cosine_embedding_loss(x, y, t, **k),
         _with(_cos_emb_1d, (0, 1), ("mean",)), "MeanBackward0"),
    _row("triplet_margin_loss", lambda m, a, p, n, **k: _F(m).triplet_margin_loss(a, p, n, **k),
         _with(_triplet, (0, 1, 2)), None),
    _row("triplet_margin_loss_swap_p1",
         lambda m, a, p, n, **k: _F(m).triplet_margin_loss(a, p, n, p=1, swap=True, **k),
         _with(_triplet, (0, 1, 2), ("mean",)), "MeanBackward0"),
    _row("torch_triplet_margin_loss",
         lambda m, a, p, n, margin: m.triplet_margin_loss(a, p, n, margin, 2, 1e-6, False, 0),
         lambda rng: [Sample(*_triplet(rng))], "ClampMinBackward0"),
    _row("multi_margin_loss", lambda m, x, t, **k: _F(m).multi_margin_loss(x, t, **k),
         _with(_multi_margin, (0,)), "MultiMarginLossBackward0"),
    _row("multi_margin_loss_p2_weight",
         lambda m, x, t, w, **k: _F(m).multi_margin_loss(x, t, 2, 0.8, w, **k),
         _with(_multi_margin_w, (0,)), "MultiMarginLossBackward0"),
    _row("multilabel_margin_loss", lambda m, x, t, **k: _F(m).multilabel_margin_loss(x, t, **k),
         _with(_multilabel_margin, (0,)), "MultilabelMarginLossBackward0"),
]


# --- class-index losses -------------------------------------------------------------------------
def _nll2(rng):
    return (randn(rng, (5, 4)), np.array([0, 3, 1, -100, 2])), {}


def _nll2_weight(rng):
    return (randn(rng, (5, 4)), np.array([0, 3, 1, 1, 2]), rng.uniform(0.2, 1, (4,))), \
        {"ignore_index": 3}


def _nll1(rng):
    return (randn(rng, (4,)), np.array(2)), {}


def _nll4(rng):
    t = rng.integers(0, 3, (2, 2, 3))
    t[0, 0, 0] = -100
    return (randn(rng, (2, 3, 2, 3)), t, rng.uniform(0.2, 1, (3,))), {}


def _nll3(rng):
    return (randn(rng, (2, 3, 4)), rng.integers(0, 3, (2, 4))), {}


def _probs(rng):
    return (randn(rng, (3, 4)), _softmax(randn(rng, (3, 4)), 1)), {}


def _probs_nd(rng):
    return (randn(rng, (2, 3, 2)), _softmax(randn(rng, (2, 3, 2)), 1), rng.uniform(0.2, 1, (3,))), \
        {"label_smoothing": 0.2}


CLASS_INDEX = [
    _row("nll_loss", lambda m, x, t, **k: _F(m).nll_loss(x, t, **k), _with(_nll2, (0,)),
         "NllLossBackward0"),
    _row("nll_loss_weight", lambda m, x, t, w, **k: _F(m).nll_loss(x, t, w, **k),
         _with(_nll2_weight, (0,)), "NllLossBackward0"),
    _row("nll_loss_1d", lambda m, x, t, **k: _F(m).nll_loss(x, t, **k), _with(_nll1, (0,)),
         "NllLossBackward0"),
    _row("nll_loss_4d", lambda m, x, t, w, **k: _F(m).nll_loss(x, t, w, **k),
         _with(_nll4, (0,)), "NllLoss2DBackward0"),
    _row("nll_loss_3d", lambda m, x, t, **k: _F(m).nll_loss(x, t, **k),
         _with(_nll3, (0,), ("mean", "sum")), "NllLoss2DBackward0"),
    _row("nll_loss_3d_none", lambda m, x, t, **k: _F(m).nll_loss(x, t, **k),
         _with(_nll3, (0,), ("none",)), "ViewBackward0"),
    _row("cross_entropy", lambda m, x, t, **k: _F(m).cross_entropy(x, t, **k),
         _with(_nll2, (0,)), "NllLossBackward0"),
    _row("cross_entropy_1d", lambda m, x, t, **k: _F(m).cross_entropy(x, t, **k),
         _with(_nll1, (0,), ("mean",)), "NllLossBackward0"),
    _row("cross_entropy_4d_weight", lambda m, x, t, w, **k: _F(m).cross_entropy(x, t, w, **k),
         _with(_nll4, (0,)), "NllLoss2DBackward0"),
    _row("cross_entropy_label_smoothing",
         lambda m, x, t, w, **k: _F(m).cross_entropy(x, t, w, label_smoothing=0.3, **k),
         _with(_nll2_weight, (0,)), "AddBackward0"),
    _row("cross_entropy_label_smoothing_4d",
         lambda m, x, t, w, **k: _F(m).cross_entropy(x, t, label_smoothing=0.1, **k),
         _with(_nll4, (0,)), "AddBackward0"),
    _row("cross_entropy_probs", lambda m, x, t, **k: _F(m).cross_entropy(x, t, **k),
         _with(_probs, (0, 1), ("mean",)), "DivBackward1"),
    _row("cross_entropy_probs_sum", lambda m, x, t, **k: _F(m).cross_entropy(x, t, **k),
         _with(_probs, (0, 1), ("sum", "none")), "NegBackward0"),
    _row("cross_entropy_probs_weight_smoothing",
         lambda m, x, t, w, **k: _F(m).cross_entropy(x, t, w, **k),
         _with(_probs_nd, (0, 1), ("mean",)), "DivBackward1"),
]


# --- ctc ------------------------------------------------------------------------------------
_CTC_TARGETS = np.array([[1, 1, 2], [3, 1, 0], [2, 3, 1]])
_CTC_IMPOSSIBLE = np.array([[1, 1, 1], [2, 2, 0], [1, 2, 3]])


def _ctc(red, targets=_CTC_TARGETS, lengths=((6, 5, 4), (3, 2, 0)), extra=None):
    def make(rng):
        return [Sample((randn(rng, (6, 3, 4)), targets, np.array(lengths[0]),
                        np.array(lengths[1])), dict(extra or {}, reduction=red), grad=(0,),
                       desc=red)]

    return make


def _ctc_call(m, x, t, il, tl, **k):
    # log_probs = log_softmax(logits): PyTorch's CTC gradient is the logits' gradient then
    return _F(m).ctc_loss(x.log_softmax(2), t, il, tl, **k)


def _ctc_unbatched(m, x, t, **k):
    return _F(m).ctc_loss(x.log_softmax(1), t, (6,), (3,), **k)


# PyTorch's CTC gradient is not differentiable again: the rows keep twice=True so that the
# generic second-order test checks tapegrad refuses it with PyTorch's own message.
CTC = [
    _row("ctc_loss", _ctc_call, _ctc("mean"), "MeanBackward0"),
    _row("ctc_loss_sum_blank", _ctc_call,
         _ctc("sum", np.array([[0, 0, 2], [3, 0, 1], [2, 3, 0]]), extra={"blank": 1}),
         "SumBackward0"),
    _row("ctc_loss_none", _ctc_call, _ctc("none"), "CtcLossBackward0"),
    _row("ctc_loss_concatenated", _ctc_call, _ctc("none", np.array([1, 1, 2, 3, 1])),
         "CtcLossBackward0"),
    _row("ctc_loss_zero_infinity", _ctc_call,
         _ctc("mean", _CTC_IMPOSSIBLE, ((3, 6, 5), (3, 2, 3)), {"zero_infinity": True}),
         "MeanBackward0"),
    _row("ctc_loss_unbatched", _ctc_unbatched,
         lambda rng: [Sample((randn(rng, (6, 4)), np.array([1, 2, 2])), {"reduction": "none"})],
         "SqueezeBackward1"),
    _row("torch_ctc_loss", lambda m, x, t, il, tl: m.ctc_loss(x.log_softmax(2), t, il, tl, 0, 2),
         lambda rng: [Sample(_ctc("sum")(rng)[0].args, grad=(0,))], "SumBackward0"),
]


# --- normalization --------------------------------------------------------------------------
def _bn(shape):
    def make(rng):
        c = shape[1]
        return [Sample((randn(rng, shape), rng.uniform(0.5, 1.5, (c,)), randn(rng, (c,))),
                       desc=str(shape))]

    return make


def _bn_eval(rng):
    return [Sample((randn(rng, (4, 3, 2)), rng.uniform(0.5, 1.5, (3,)), randn(rng, (3,)),
                    randn(rng, (3,)), rng.uniform(0.5, 2, (3,))), grad=(0, 1, 2))]


def _bn_running(rng):
    return [Sample((randn(rng, (4, 3)), np.zeros(3), np.ones(3)), grad=(0,))]


def _affine(shape, pshape):
    def make(rng):
        return [Sample((randn(rng, shape), rng.uniform(0.5, 1.5, pshape), randn(rng, pshape)),
                       desc=str(shape))]

    return make


def _plain(*shapes):
    def make(rng):
        return [Sample((randn(rng, s),), desc=str(s)) for s in shapes]

    return make


def _in_stats(rng):
    return [Sample((randn(rng, (2, 3, 4)), randn(rng, (3,)), rng.uniform(0.5, 2, (3,)),
                    rng.uniform(0.5, 1.5, (3,)), randn(rng, (3,))), grad=(0, 3, 4))]


NORMALIZATION = [
    _row("batch_norm", lambda m, x, w, b: _F(m).batch_norm(x, None, None, w, b, True),
         lambda rng: _bn((4, 3))(rng) + _bn((3, 2, 4))(rng) + _bn((2, 2, 2, 3))(rng),
         "NativeBatchNormBackward0"),
    _row("batch_norm_plain", lambda m, x: _F(m).batch_norm(x, None, None, training=True,
                                                           eps=0.1),
         _plain((5, 2), (2, 3, 2)), "NativeBatchNormBackward0"),
    _row("batch_norm_eval", lambda m, x, w, b, rm, rv: _F(m).batch_norm(x, rm, rv, w, b),
         _bn_eval, "NativeBatchNormBackward0"),
    _row("batch_norm_running", lambda m, x, rm, rv: _F(m).batch_norm(x, rm, rv, None, None,
                                                                     True, 0.3),
         _bn_running, "NativeBatchNormBackward0"),
    _row("torch_batch_norm",
         lambda m, x, w, b: m.batch_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
         _bn((4, 3)), "NativeBatchNormBackward0"),
    _row("layer_norm", lambda m, x, w, b: _F(m).layer_norm(x, w.shape, w, b),
         lambda rng: _affine((3, 4), (4,))(rng) + _affine((2, 3, 4), (3, 4))(rng)
         + _affine((5,), (5,))(rng), "NativeLayerNormBackward0"),
    _row("layer_norm_plain", lambda m, x: _F(m).layer_norm(x, (x.shape[-1],), eps=0.1),
         _plain((3, 4), (2, 2, 3)), "NativeLayerNormBackward0"),
    _row("torch_layer_norm", lambda m, x, w, b: m.layer_norm(x, [4], w, b, 1e-5, False),
         _affine((3, 4), (4,)), "NativeLayerNormBackward0"),
    _row("group_norm", lambda m, x, w, b: _F(m).group_norm(x, 2, w, b),
         lambda rng: _affine((2, 4, 3), (4,))(rng) + _affine((3, 4), (4,))(rng)
         + _affine((2, 4, 2, 2), (4,))(rng), "NativeGroupNormBackward0"),
    _row("group_norm_plain", lambda m, x: _F(m).group_norm(x, 3, eps=0.1),
         _plain((2, 3, 3)), "NativeGroupNormBackward0"),
    _row("instance_norm", lambda m, x, w, b: _F(m).instance_norm(x, weight=w, bias=b),
         _affine((2, 3, 4), (3,)), "ViewBackward0"),
    _row("instance_norm_running_stats",
         lambda m, x, rm, rv, w, b: _F(m).instance_norm(x, rm, rv, w, b, use_input_stats=False),
         _in_stats, "ViewBackward0"),
    _row("rms_norm", lambda m, x, w: _F(m).rms_norm(x, w.shape, w),
         lambda rng: [Sample((randn(rng, (3, 4)), rng.uniform(0.5, 1.5, (4,)))),
                      Sample((randn(rng, (2, 3, 4)), rng.uniform(0.5, 1.5, (3, 4))))],
         "MulBackward0"),
    _row("rms_norm_eps", lambda m, x: _F(m).rms_norm(x, (4,), eps=0.1), _plain((2, 4)),
         "MulBackward0"),
    _row("local_response_norm", lambda m, x: _F(m).local_response_norm(x, 3, 0.5, 0.75, 1.5),
         _plain((2, 4, 3), (1, 3, 2, 2), (1, 3, 2, 1, 2)), "DivBackward0"),
    _row("local_response_norm_size2", lambda m, x: _F(m).local_response_norm(x, 2, 0.3),
         _plain((2, 4, 3)), "DivBackward0"),
    _row("normalize", lambda m, x: _F(m).normalize(x), _plain((3, 4), (2, 3, 2)),
         "DivBackward0"),
    _row("normalize_p1_dim0", lambda m, x: _F(m).normalize(x, 1.0, 0),
         lambda rng: [Sample((away_from(rng, (3, 4), (0.0,)),))], "DivBackward0"),
]


# --- embedding, dropout, distances, attention ----------------------------------------------------
def _emb(rng):
    idx = np.array([[0, 2, 5], [2, 2, 1]])
    return [Sample((idx, randn(rng, (6, 3))), grad=(1,), desc="2d"),
            Sample((np.array(4), randn(rng, (6, 3))), grad=(1,), desc="0d"),
            Sample((idx.astype(np.int32), randn(rng, (6, 2))), grad=(1,), desc="int32")]


_DROP = [(4, 5), (2, 3, 4), (2, 3, 2, 2), (1, 2, 2, 2, 2)]


def _drop(*shapes):
    def make(rng):
        return [Sample((randn(rng, s),), desc=str(s)) for s in shapes]

    return make


def _pair_x(shapes):
    def make(rng):
        return [Sample((randn(rng, a), randn(rng, b)), desc=f"{a}x{b}") for a, b in shapes]

    return make


def _qkv(q, k, v, mask=None, mask_kind=None):
    def make(rng):
        args = [randn(rng, q), randn(rng, k), randn(rng, v)]
        kw = {}
        if mask_kind == "bool":
            m = rng.uniform(size=mask) < 0.7
            m[..., 0] = True
            kw["attn_mask"] = m
        elif mask_kind == "float":
            kw["attn_mask"] = randn(rng, mask)
        return [Sample(tuple(args), kw, grad=(0, 1, 2))]

    return make


def _sdpa(m, q, k, v, **kw):
    return _F(m).scaled_dot_product_attention(q, k, v, **kw)


_FUSED = "ScaledDotProductFlashAttentionForCpuBackward0"

MISC = [
    _row("embedding", lambda m, i, w: _F(m).embedding(i, w), _emb, "EmbeddingBackward0"),
    _row("torch_embedding", lambda m, i, w: m.embedding(w, i), _emb, "EmbeddingBackward0"),
    _row("dropout", _seeded(lambda m, x: _F(m).dropout(x, 0.3)), _drop(*_DROP), "MulBackward0"),
    _row("dropout_p1", _seeded(lambda m, x: _F(m).dropout(x, 1.0)), _drop((3, 2)),
         "MulBackward0"),
    _row("dropout_eval", lambda m, x: _F(m).dropout(x, 0.3, False) * 2.0, _drop((3, 2)),
         "MulBackward0"),
    _row("dropout1d", _seeded(lambda m, x: _F(m).dropout1d(x, 0.5)), _drop((3, 4, 2), (4, 3)),
         None),
    _row("dropout2d", _seeded(lambda m, x: _F(m).dropout2d(x, 0.4)), _drop((2, 4, 2, 2)),
         "MulBackward0"),
    _row("dropout3d", _seeded(lambda m, x: _F(m).dropout3d(x, 0.4)),
         _drop((2, 3, 1, 2, 2), (4, 2, 1, 2)), None),
    _row("alpha_dropout", _seeded(lambda m, x: _F(m).alpha_dropout(x, 0.3, True)),
         _drop((4, 5)), "AddBackward0"),
    _row("feature_alpha_dropout",
         _seeded(lambda m, x: _F(m).feature_alpha_dropout(x, 0.5, True)), _drop((3, 4, 2)),
         "AddBackward0"),
    _row("torch_dropout", _seeded(lambda m, x: m.dropout(x, 0.2, True)), _drop((4, 5)),
         "MulBackward0"),
    _row("torch_feature_dropout", _seeded(lambda m, x: m.feature_dropout(x, 0.5, True)),
         _drop((4, 5, 2)), "MulBackward0"),
    _row("cosine_similarity", lambda m, x, y: _F(m).cosine_similarity(x, y),
         _pair_x([((3, 4), (3, 4)), ((2, 3, 2), (2, 3, 2)), ((3, 4), (4,))]), "SumBackward1"),
    _row("cosine_similarity_dim", lambda m, x, y: m.cosine_similarity(x, y, -1),
         _pair_x([((2, 3, 2), (2, 3, 2))]), "SumBackward1"),
    _row("pairwise_distance", lambda m, x, y: _F(m).pairwise_distance(x, y),
         _pair_x([((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (4,))]), "NormBackward1"),
    _row("pairwise_distance_p1_keepdim",
         lambda m, x, y: m.pairwise_distance(x, y, 1.0, 1e-6, True),
         _pair_x([((3, 4), (3, 4))]), "NormBackward1"),
    _row("pairwise_distance_p3", lambda m, x, y: _F(m).pairwise_distance(x, y, 3.0, 0.1),
         _pair_x([((3, 4), (3, 4))]), "NormBackward1"),
    _row("sdpa_3d", _sdpa, _qkv((2, 3, 4), (2, 5, 4), (2, 5, 6)), "UnsafeViewBackward0"),
    _row("sdpa_3d_bool_mask", _sdpa, _qkv((2, 3, 4), (2, 5, 4), (2, 5, 4), (3, 5), "bool"),
         "UnsafeViewBackward0"),
    _row("sdpa_2d_causal_scale",
         lambda m, q, k, v: _sdpa(m, q, k, v, is_causal=True, scale=0.7),
         _qkv((4, 3), (4, 3), (4, 2)), "MmBackward0"),
    _row("sdpa_dropout", _seeded(lambda m, q, k, v: _sdpa(m, q, k, v, dropout_p=0.3)),
         _qkv((1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)), "UnsafeViewBackward0"),
    _row("sdpa_fused", _sdpa, _qkv((2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 4)), _FUSED),
    _row("sdpa_fused_float_mask", _sdpa,
         _qkv((1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4), (1, 2, 3, 5), "float"), _FUSED),
    _row("sdpa_fused_causal", lambda m, q, k, v: _sdpa(m, q, k, v, is_causal=True, scale=0.4),
         _qkv((1, 2, 4, 3), (1, 2, 4, 3), (1, 2, 4, 3)), _FUSED),
    _row("sdpa_fused_gqa", lambda m, q, k, v: _sdpa(m, q, k, v, enable_gqa=True),
         _qkv((1, 4, 3, 2), (1, 2, 5, 2), (1, 2, 5, 2)), _FUSED),
]

ROWS = REGRESSION + COMPOSITE + CLASS_INDEX + CTC + NORMALIZATION + MISC

"""Losses beyond the op table (tests/op_db/nn_ops.py): error messages, warnings, the legacy
size_average / reduce flags, result dtypes, arguments PyTorch refuses to differentiate, values
and gradients at the edges (bce's clamped logs, large logits, ignored targets, impossible CTC
alignments), the CTC double-backward refusal, and the torch.* spellings. Each behaviour is
compared with PyTorch where it is installed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad
from _helpers import both, error, same_error, to_numpy, warnings_of

torch = pytest.importorskip("torch")


def F(m):  # noqa: N802
    return m.nn.functional


def _t(m, values, dtype="float32", requires_grad=False):
    return m.tensor(values, dtype=getattr(m, dtype), requires_grad=requires_grad)


_same_error = same_error
_warnings = warnings_of


X34 = np.linspace(-1.5, 2.0, 12).reshape(3, 4)
P34 = np.linspace(0.1, 0.9, 12).reshape(3, 4)

ERRORS = {
    "mse_broadcast": lambda m: F(m).mse_loss(_t(m, X34), _t(m, [1.0, 2.0, 3.0])),
    "mse_int": lambda m: F(m).mse_loss(_t(m, [1, 2], "int64"), _t(m, [1, 2], "int64")),
    "mse_bad_reduction": lambda m: F(m).mse_loss(_t(m, [1.0]), _t(m, [1.0]), reduction="x"),
    "mse_weight_size": lambda m: F(m).mse_loss(_t(m, [1.0, 2]), _t(m, [1.0, 2]),
                                               weight=_t(m, [1.0])),
    "mse_weight_reduction": lambda m: F(m).mse_loss(_t(m, [1.0]), _t(m, [1.0]), reduction="x",
                                                    weight=_t(m, [1.0])),
    "smooth_l1_int": lambda m: F(m).smooth_l1_loss(_t(m, [1], "int64"), _t(m, [1], "int64")),
    "smooth_l1_beta": lambda m: F(m).smooth_l1_loss(_t(m, [1.0]), _t(m, [1.0]), beta=-1.0),
    "huber_delta": lambda m: F(m).huber_loss(_t(m, [1.0]), _t(m, [1.0]), delta=0.0),
    "huber_int": lambda m: F(m).huber_loss(_t(m, [1], "int64"), _t(m, [1], "int64")),
    "l1_int_mean": lambda m: F(m).l1_loss(_t(m, [1], "int64"), _t(m, [1], "int64")),
    "soft_margin_int": lambda m: F(m).soft_margin_loss(_t(m, [1], "int64"), _t(m, [1.0])),
    "bce_range": lambda m: F(m).binary_cross_entropy(_t(m, [1.5]), _t(m, [1.0])),
    "bce_target_range": lambda m: F(m).binary_cross_entropy(_t(m, [0.5]), _t(m, [2.0])),
    "bce_size": lambda m: F(m).binary_cross_entropy(_t(m, [[0.5]]), _t(m, [1.0])),
    "bce_dtype": lambda m: F(m).binary_cross_entropy(_t(m, [0.5]), _t(m, [1.0], "float64")),
    "bce_int": lambda m: F(m).binary_cross_entropy(_t(m, [1], "int64"), _t(m, [1], "int64")),
    "bce_weight_shape": lambda m: F(m).binary_cross_entropy(_t(m, P34), _t(m, P34),
                                                            _t(m, [1.0, 2, 3])),
    "bce_logits_size": lambda m: F(m).binary_cross_entropy_with_logits(_t(m, [[0.5]]),
                                                                       _t(m, [1.0])),
    "bce_logits_int_target": lambda m: F(m).binary_cross_entropy_with_logits(
        _t(m, [0.5]), _t(m, [1], "int64")),
    "bce_logits_int_input": lambda m: F(m).binary_cross_entropy_with_logits(
        _t(m, [1], "int64"), _t(m, [1.0])),
    "bce_logits_pos_weight": lambda m: F(m).binary_cross_entropy_with_logits(
        _t(m, X34), _t(m, P34), pos_weight=_t(m, [1.0, 2, 3])),
    "kl_int": lambda m: F(m).kl_div(_t(m, [1.0]), _t(m, [1], "int64"), reduction="sum"),
    "poisson_reduction": lambda m: F(m).poisson_nll_loss(_t(m, [1.0]), _t(m, [1.0]),
                                                         reduction="x"),
    "gaussian_negative_var": lambda m: F(m).gaussian_nll_loss(_t(m, [1.0]), _t(m, [1.0]),
                                                              _t(m, [-1.0])),
    "gaussian_negative_float": lambda m: F(m).gaussian_nll_loss(_t(m, [1.0]), _t(m, [1.0]),
                                                                -1.0),
    "gaussian_var_size": lambda m: F(m).gaussian_nll_loss(_t(m, X34), _t(m, X34),
                                                          _t(m, [1.0, 2])),
    "gaussian_reduction": lambda m: F(m).gaussian_nll_loss(_t(m, [1.0]), _t(m, [1.0]),
                                                           _t(m, [1.0]), reduction="x"),
    "margin_ranking_dims": lambda m: F(m).margin_ranking_loss(_t(m, [1.0]), _t(m, [1.0]),
                                                              _t(m, [[1.0]])),
    "cosine_embedding_target": lambda m: F(m).cosine_embedding_loss(
        _t(m, X34), _t(m, X34), _t(m, [[1.0]])),
    "cosine_embedding_1d": lambda m: F(m).cosine_embedding_loss(_t(m, [1.0]), _t(m, [1.0]),
                                                                _t(m, [1.0])),
    "cosine_embedding_0d": lambda m: F(m).cosine_embedding_loss(_t(m, X34), _t(m, X34),
                                                                _t(m, 1.0)),
    "triplet_margin": lambda m: F(m).triplet_margin_loss(_t(m, X34), _t(m, X34), _t(m, X34),
                                                         margin=0.0),
    "triplet_dims": lambda m: F(m).triplet_margin_loss(_t(m, X34), _t(m, X34), _t(m, [1.0])),
    "multilabel_soft_reduction": lambda m: F(m).multilabel_soft_margin_loss(
        _t(m, X34), _t(m, P34), reduction="x"),
    "nll_oob": lambda m: F(m).nll_loss(_t(m, X34), _t(m, [0, 2, 5], "int64")),
    "nll_negative": lambda m: F(m).nll_loss(_t(m, X34), _t(m, [0, -1, 1], "int64")),
    "nll_float_target": lambda m: F(m).nll_loss(_t(m, X34), _t(m, [0.0, 1, 2])),
    "nll_int32_target": lambda m: F(m).nll_loss(_t(m, X34), _t(m, [0, 1, 2], "int32")),
    "nll_batch": lambda m: F(m).nll_loss(_t(m, X34), _t(m, [0, 1], "int64")),
    "nll_0d": lambda m: F(m).nll_loss(_t(m, 1.0), _t(m, 0, "int64")),
    "nll_1d_target": lambda m: F(m).nll_loss(_t(m, [1.0, 2]), _t(m, [0, 1], "int64")),
    "nll_2d_target": lambda m: F(m).nll_loss(_t(m, X34), _t(m, [[0, 1, 1]], "int64")),
    "nll_weight_size": lambda m: F(m).nll_loss(_t(m, X34), _t(m, [0, 1, 2], "int64"),
                                               _t(m, [1.0, 1, 1])),
    "nll_weight_dtype": lambda m: F(m).nll_loss(_t(m, X34), _t(m, [0, 1, 2], "int64"),
                                                _t(m, [1.0, 1, 1, 1], "float64")),
    "nll_3d_target": lambda m: F(m).nll_loss(_t(m, np.zeros((2, 3, 4))),
                                             _t(m, np.zeros((2, 5)), "int64")),
    "nll_4d_target_dims": lambda m: F(m).nll_loss(_t(m, np.zeros((2, 3, 4, 5))),
                                                  _t(m, np.zeros((2, 5)), "int64")),
    "nll_4d_target_size": lambda m: F(m).nll_loss(_t(m, np.zeros((2, 3, 4, 5))),
                                                  _t(m, np.zeros((2, 4, 4)), "int64")),
    "nll_4d_weight": lambda m: F(m).nll_loss(_t(m, np.zeros((2, 3, 4, 5))),
                                             _t(m, np.zeros((2, 4, 5)), "int64"),
                                             _t(m, [1.0, 1])),
    "nll_4d_oob": lambda m: F(m).nll_loss(_t(m, np.zeros((2, 3, 4, 5))),
                                          _t(m, np.full((2, 4, 5), 7), "int64")),
    "ce_oob": lambda m: F(m).cross_entropy(_t(m, X34), _t(m, [0, 2, 5], "int64")),
    "ce_int_input": lambda m: F(m).cross_entropy(_t(m, [[1, 2]], "int64"), _t(m, [0], "int64")),
    "ce_probs_int": lambda m: F(m).cross_entropy(_t(m, X34), _t(m, np.zeros((3, 4)), "int64")),
    "ce_probs_ignore_index": lambda m: F(m).cross_entropy(_t(m, X34), _t(m, P34),
                                                          ignore_index=1),
    "ce_probs_weight": lambda m: F(m).cross_entropy(_t(m, X34), _t(m, P34),
                                                    _t(m, [1.0, 2, 3])),
    "ce_smoothing": lambda m: F(m).cross_entropy(_t(m, X34), _t(m, [0, 1, 2], "int64"),
                                                 label_smoothing=1.5),
    "ce_probs_smoothing": lambda m: F(m).cross_entropy(_t(m, X34), _t(m, P34),
                                                       label_smoothing=1.5),
    "ce_reduction": lambda m: F(m).cross_entropy(_t(m, X34), _t(m, [0, 1, 2], "int64"),
                                                 reduction="x"),
    "multi_margin_p": lambda m: F(m).multi_margin_loss(_t(m, X34), _t(m, [0, 1, 2], "int64"),
                                                       p=3),
    "multi_margin_weight_dims": lambda m: F(m).multi_margin_loss(
        _t(m, X34), _t(m, [0, 1, 2], "int64"), weight=_t(m, [[1.0]])),
    "multi_margin_weight_size": lambda m: F(m).multi_margin_loss(
        _t(m, X34), _t(m, [0, 1, 2], "int64"), weight=_t(m, [1.0])),
    "multi_margin_oob": lambda m: F(m).multi_margin_loss(_t(m, X34), _t(m, [0, 1, 4], "int64")),
    "multi_margin_target_size": lambda m: F(m).multi_margin_loss(_t(m, X34),
                                                                 _t(m, [0, 1], "int64")),
    "multi_margin_target_dtype": lambda m: F(m).multi_margin_loss(_t(m, X34),
                                                                  _t(m, [0.0, 1, 2])),
    "multi_margin_3d": lambda m: F(m).multi_margin_loss(_t(m, np.zeros((2, 2, 2))),
                                                        _t(m, [0, 1], "int64")),
    "multilabel_margin_size": lambda m: F(m).multilabel_margin_loss(_t(m, X34),
                                                                    _t(m, [0, 1], "int64")),
    "multilabel_margin_oob": lambda m: F(m).multilabel_margin_loss(
        _t(m, X34), _t(m, np.full((3, 4), 4), "int64")),
    "multilabel_margin_dtype": lambda m: F(m).multilabel_margin_loss(_t(m, X34),
                                                                     _t(m, np.zeros((3, 4)))),
}

_LP = np.log(np.full((5, 2, 4), 0.25))
_CTC_ERRORS = {
    "ctc_input_length": ((_LP, [[1, 2], [1, 1]], [6, 5], [2, 2]), {}),
    "ctc_target_length": ((_LP, [[1, 2], [1, 1]], [5, 5], [3, 2]), {}),
    "ctc_lengths_size": ((_LP, [[1, 2], [1, 1]], [5], [2, 2]), {}),
    "ctc_target_lengths_size": ((_LP, [[1, 2], [1, 1]], [5, 5], [2]), {}),
    "ctc_negative_input_length": ((_LP, [[1, 2], [1, 1]], [5, -1], [2, 2]), {}),
    "ctc_negative_target_length": ((_LP, [[1, 2], [1, 1]], [5, 5], [2, -1]), {}),
    "ctc_blank": ((_LP, [[1, 2], [1, 1]], [5, 5], [2, 2]), {"blank": 4}),
    "ctc_concatenated_size": ((_LP, [1, 2, 1], [5, 5], [2, 2]), {}),
    "ctc_4d": ((_LP[None], [[1, 2], [1, 1]], [5, 5], [2, 2]), {}),
    "ctc_reduction": ((_LP, [[1, 2], [1, 1]], [5, 5], [2, 2]), {"reduction": "x"}),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_error_messages_match_torch(name):
    _same_error(ERRORS[name])


@pytest.mark.parametrize("name", list(_CTC_ERRORS))
def test_ctc_error_messages_match_torch(name):
    (lp, tg, il, tl), kw = _CTC_ERRORS[name]

    def call(m):
        return F(m).ctc_loss(_t(m, lp), _t(m, tg, "int64"), _t(m, il, "int64"),
                             _t(m, tl, "int64"), **kw)

    _same_error(call)


def test_ctc_lengths_must_be_integral():
    _same_error(lambda m: F(m).ctc_loss(_t(m, _LP), _t(m, [[1, 2], [1, 1]], "int64"),
                                        _t(m, [5.0, 5.0]), _t(m, [2.0, 2.0])))


@pytest.mark.parametrize("fn, arg, call", [
    ("soft_margin_loss", "target", lambda m, x, w: F(m).soft_margin_loss(x, w)),
    ("binary_cross_entropy", "weight",
     lambda m, x, w: F(m).binary_cross_entropy(x.sigmoid(), x.detach().sigmoid(), w)),
    ("binary_cross_entropy_with_logits", "weight",
     lambda m, x, w: F(m).binary_cross_entropy_with_logits(x, x.detach().sigmoid(), w)),
    ("binary_cross_entropy_with_logits", "pos_weight",
     lambda m, x, w: F(m).binary_cross_entropy_with_logits(x, x.detach().sigmoid(),
                                                           pos_weight=w)),
    ("nll_loss_forward", "weight",
     lambda m, x, w: F(m).cross_entropy(x, m.tensor([0, 1, 2]), w[0])),
    ("nll_loss2d_forward", "weight",
     lambda m, x, w: F(m).nll_loss(x.reshape(1, 3, 2, 2), m.zeros(1, 2, 2, dtype=m.int64),
                                   w[0, :3])),
    ("multi_margin_loss", "weight",
     lambda m, x, w: F(m).multi_margin_loss(x, m.tensor([0, 1, 2]), weight=w[0])),
])
def test_nondifferentiable_arguments(fn, arg, call):
    # PyTorch refuses, at the call, an argument its op has no derivative for
    def prog(m):
        x = _t(m, X34, requires_grad=True)
        w = _t(m, P34, requires_grad=True)
        return call(m, x, w)

    _same_error(prog)
    msg = error(lambda: prog(tapegrad))[1]
    assert f"'{fn}'" in msg and f"'{arg}'" in msg
    with tapegrad.no_grad():  # nothing is recorded: no refusal
        assert prog(tapegrad).grad_fn is None


# --- warnings and the legacy flags ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_target_size_warning(name):
    def prog(m):
        x = _t(m, [[1.0], [2.0], [3.0]], requires_grad=True)
        msgs = _warnings(lambda: getattr(F(m), name)(x, _t(m, [0.5, 1.0, 4.0])))
        loss = getattr(F(m), name)(x, _t(m, [0.5, 1.0, 4.0]))
        return msgs, loss, m.autograd.grad(loss, x)[0]

    msgs, _, _ = both(prog)
    assert msgs == [
        "Using a target size (tapegrad.Size([3])) that is different to the input size "
        "(tapegrad.Size([3, 1])). This will likely lead to incorrect results due to "
        "broadcasting. Please ensure they have the same size."]


@pytest.mark.parametrize("size_average, reduce", [(False, None), (None, False), (True, True),
                                                   (False, False), (True, None)])
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "nll_loss", "cross_entropy", "kl_div",
                                  "soft_margin_loss", "binary_cross_entropy",
                                  "multi_margin_loss", "poisson_nll_loss"])
def test_legacy_reduction_flags(name, size_average, reduce):
    def prog(m):
        x = _t(m, P34 if name == "binary_cross_entropy" else X34, "float64", True)
        target = (_t(m, [0, 1, 3], "int64") if name in ("nll_loss", "cross_entropy",
                                                        "multi_margin_loss")
                  else _t(m, P34[::-1].copy(), "float64"))
        fn = getattr(F(m), name)
        msgs = _warnings(lambda: fn(x, target, size_average=size_average, reduce=reduce))
        loss = fn(x, target, size_average=size_average, reduce=reduce)
        return msgs, loss

    msgs, loss = both(prog, atol=1e-12, rtol=1e-10)
    assert len(msgs) == 1 and msgs[0].startswith("size_average and reduce args will be "
                                                 "deprecated, please use reduction='")


def test_reduction_warnings():
    def prog(m):
        x, y = _t(m, X34), _t(m, P34)
        return (_warnings(lambda: F(m).kl_div(x, y)),
                _warnings(lambda: F(m).kl_div(x, y, reduction="batchmean")),
                _warnings(lambda: F(m).mse_loss(x, y, reduction="elementwise_mean")),
                F(m).mse_loss(x, y, reduction="elementwise_mean"))

    kl_mean, kl_batchmean, elementwise, _ = both(prog)
    assert kl_mean[0].startswith("reduction: 'mean' divides the total loss by both the batch "
                                 "size and the support size.") and not kl_batchmean
    assert elementwise == ["reduction='elementwise_mean' is deprecated. Please use "
                           "reduction='mean' instead."]


# --- dtypes and values at the edges -----------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda m: F(m).mse_loss(_t(m, [1.0, 2]), _t(m, [1.0, 4], "float64")),
    lambda m: F(m).mse_loss(_t(m, [1, 2], "int64"), _t(m, [1.0, 4])),
    lambda m: F(m).smooth_l1_loss(_t(m, [1.0, 2]), _t(m, [1.0, 4], "float64")),
    lambda m: F(m).huber_loss(_t(m, [1.0, 2]), _t(m, [1.0, 4], "float64")),
    lambda m: F(m).huber_loss(_t(m, [1.0, 2], "float64"), _t(m, [1.0, 4])),
    lambda m: F(m).l1_loss(_t(m, [1.0, 2]), _t(m, [1.0, 4], "float64")),
    lambda m: F(m).l1_loss(_t(m, [1, 2], "int64"), _t(m, [1, 4], "int64"), reduction="none"),
    lambda m: F(m).soft_margin_loss(_t(m, [1.0, 2]), _t(m, [1.0, -1], "float64")),
    lambda m: F(m).soft_margin_loss(_t(m, [1.0, 2], "float64"), _t(m, [True, False], "bool")),
    lambda m: F(m).binary_cross_entropy_with_logits(_t(m, [1.0, 2]), _t(m, [1.0, 0], "float64")),
    lambda m: F(m).binary_cross_entropy_with_logits(_t(m, [1.0, 2], "float64"), _t(m, [1.0, 0])),
    lambda m: F(m).mse_loss(_t(m, np.zeros(0)), _t(m, np.zeros(0))),
    lambda m: F(m).l1_loss(_t(m, 2.0), _t(m, 0.5)),
    lambda m: F(m).kl_div(_t(m, 0.3), _t(m, 0.5), reduction="batchmean"),
])
def test_result_dtypes_and_shapes(call):
    both(call)


def test_bce_clamps_logs_and_gradients_at_the_edges():
    def prog(m):
        x = _t(m, [0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], "float64", True)
        t = _t(m, [1.0, 0.0, 0.0, 1.0, 1.0, 0.5], "float64", True)
        loss = F(m).binary_cross_entropy(x, t, reduction="none")
        return loss, m.autograd.grad(loss.sum(), (x, t))

    loss, _ = both(prog, atol=1e-12, rtol=1e-10)
    assert to_numpy(loss)[0] == 100.0  # log(0) clamped at -100


def test_bce_with_logits_is_stable_for_large_logits():
    def prog(m):
        x = _t(m, [-200.0, -50.0, 0.0, 50.0, 200.0], requires_grad=True)
        t = _t(m, [1.0, 0.0, 0.5, 1.0, 0.0])
        pw = _t(m, [2.0, 2.0, 2.0, 2.0, 2.0])
        loss = F(m).binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="none")
        return loss, m.autograd.grad(loss.sum(), x)

    loss, _ = both(prog)
    assert np.all(np.isfinite(to_numpy(loss)))


def test_nll_ignored_and_empty_batches():
    def prog(m):
        x = _t(m, X34, "float64", True)
        t = _t(m, [-100, -100, -100], "int64")
        mean = F(m).nll_loss(x, t)
        g = m.autograd.grad(mean, x)[0]
        return (mean, F(m).nll_loss(x, t, reduction="sum"), g,
                F(m).nll_loss(_t(m, np.zeros((0, 4))), _t(m, np.zeros(0), "int64")),
                F(m).cross_entropy(_t(m, np.zeros((0, 4))), _t(m, np.zeros((0, 4)))),
                F(m).nll_loss(x, _t(m, [0, 1, 2], "int64"), ignore_index=1))

    out = both(prog)
    assert math.isnan(out[0].item()) and out[1].item() == 0.0


def test_cross_entropy_grad_fn_chain():
    # nll over log_softmax, K-d inputs viewed as 4-d: PyTorch's node chain
    def chain(t):
        names = []
        fn = t.grad_fn
        while fn is not None:
            names.append(fn.name().rsplit("::", 1)[-1])
            nxt = [f for f, _ in fn.next_functions if f is not None and "Accumulate" not in
                   f.name()]
            fn = nxt[0] if nxt else None
        return names

    def prog(m):
        x3 = _t(m, np.ones((2, 3, 4)), requires_grad=True)
        x2 = _t(m, X34, requires_grad=True)
        return (chain(F(m).cross_entropy(x3, _t(m, np.zeros((2, 4)), "int64"))),
                chain(F(m).cross_entropy(x3, _t(m, np.zeros((2, 4)), "int64"),
                                         reduction="none")),
                chain(F(m).cross_entropy(x2, _t(m, [0, 1, 2], "int64"))),
                chain(F(m).nll_loss(x3, _t(m, np.zeros((2, 4)), "int64"))))

    assert both(prog)[0] == ["NllLoss2DBackward0", "ViewBackward0", "LogSoftmaxBackward0"]


# --- ctc ------------------------------------------------------------------------------------
def _ctc_inputs(m, dtype="float64"):
    rng = np.random.default_rng(0)
    x = _t(m, rng.standard_normal((6, 3, 4)), dtype, True)
    return x, _t(m, [[1, 1, 1], [2, 3, 0], [1, 2, 3]], "int64")


def test_ctc_impossible_alignments():
    # an alignment that cannot fit gives an infinite loss and nan gradients (inside the input
    # length, zero beyond it); zero_infinity zeroes both
    def prog(m, zero_infinity):
        x, t = _ctc_inputs(m)
        loss = F(m).ctc_loss(x.log_softmax(2), t, [4, 6, 5], [3, 2, 3], reduction="none",
                             zero_infinity=zero_infinity)
        return loss, m.autograd.grad(loss.sum(), x)[0]

    loss, g = both(lambda m: prog(m, False))
    assert math.isinf(loss[0].item()) and np.isnan(to_numpy(g)[:4, 0]).all()
    assert (to_numpy(g)[4:, 0] == 0).all()
    loss, g = both(lambda m: prog(m, True))
    assert loss[0].item() == 0 and (to_numpy(g)[:, 0] == 0).all()


def test_ctc_empty_input_and_target_lengths():
    def prog(m):
        x, t = _ctc_inputs(m)
        loss = F(m).ctc_loss(x.log_softmax(2), t, [0, 6, 0], [0, 2, 1], reduction="none")
        return loss

    loss = both(prog)
    assert loss[0].item() == 0 and math.isinf(loss[2].item())


def test_ctc_float32_and_mean_reduction():
    def prog(m):
        x, t = _ctc_inputs(m, "float32")
        loss = F(m).ctc_loss(x.log_softmax(2), t, (6, 5, 6), (3, 2, 1))
        return loss, m.autograd.grad(loss, x)[0]

    both(prog, atol=1e-5, rtol=1e-5)


def test_ctc_has_no_second_derivative():
    # as in PyTorch: the gradient records a node that refuses to differentiate
    def prog(m):
        x, t = _ctc_inputs(m)
        lp = x.log_softmax(2).detach().requires_grad_()
        g = m.autograd.grad(F(m).ctc_loss(lp, t, [6, 6, 6], [3, 2, 3]), lp, create_graph=True)[0]
        return g.grad_fn.name().rsplit("::", 1)[-1], error(lambda: m.autograd.grad(g.sum(), lp))

    name, err = both(prog)
    assert name == "NotImplemented"
    assert err == ("RuntimeError", "derivative for aten::_ctc_loss_backward is not implemented")


def test_multi_margin_second_derivative_beyond_torch():
    # PyTorch has no double backward for multi_margin_loss; tapegrad's rule is written in
    # tapegrad ops: for p=2 the second derivative is a sum of +-2 w / C terms
    x = tapegrad.tensor([[0.3, 0.1, -0.2]], dtype=tapegrad.float64, requires_grad=True)
    loss = F(tapegrad).multi_margin_loss(x, tapegrad.tensor([0]), p=2)
    g = tapegrad.autograd.grad(loss, x, create_graph=True)[0]
    h = [tapegrad.autograd.grad(g[0, j], x, retain_graph=True)[0] for j in range(3)]
    # every z = 1 - x0 + xj > 0: loss = sum_j (1 - x0 + xj)^2 / 3 over j = 1, 2
    expected = np.array([[4, -2, -2], [-2, 2, 0], [-2, 0, 2]]) / 3
    np.testing.assert_allclose(np.stack([to_numpy(r)[0] for r in h]), expected, atol=1e-12)


# --- the torch.* spellings ----------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda m: m.kl_div(_t(m, X34), _t(m, P34)),
    lambda m: m.kl_div(_t(m, X34), _t(m, P34), 2, log_target=True),
    lambda m: m.binary_cross_entropy_with_logits(_t(m, X34), _t(m, P34)),
    lambda m: m.poisson_nll_loss(_t(m, X34), _t(m, P34), True, True, 1e-8, 1),
    lambda m: m.margin_ranking_loss(_t(m, X34), _t(m, P34), _t(m, P34)),
    lambda m: m.hinge_embedding_loss(_t(m, X34), _t(m, np.sign(X34))),
    lambda m: m.cosine_embedding_loss(_t(m, X34), _t(m, P34), _t(m, [1.0, -1, 1]), 0.1, 1),
    lambda m: m.triplet_margin_loss(_t(m, X34), _t(m, P34), _t(m, -X34)),
    lambda m: m.ctc_loss(_t(m, _LP), _t(m, [[1, 2], [1, 1]], "int64"), (5, 4), (2, 1)),
    lambda m: m.ctc_loss(_t(m, _LP), _t(m, [[1, 2], [1, 1]], "int64"), _t(m, [5, 4], "int64"),
                         _t(m, [2, 1], "int64"), 0, 1),
])
def test_torch_spellings(call):
    # ATen's signatures: positional flags, the reduction as an enum defaulting to 0 ('none')
    both(call)


def test_public_names():
    import torch.nn.functional as TF

    names = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "soft_margin_loss",
             "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
             "poisson_nll_loss", "gaussian_nll_loss", "margin_ranking_loss",
             "hinge_embedding_loss", "multilabel_soft_margin_loss", "cosine_embedding_loss",
             "triplet_margin_loss", "multi_margin_loss", "multilabel_margin_loss", "nll_loss",
             "cross_entropy", "ctc_loss"]
    for n in names:
        assert hasattr(TF, n) and callable(getattr(tapegrad.nn.functional, n)), n
    for n in ["kl_div", "binary_cross_entropy_with_logits", "poisson_nll_loss",
              "margin_ranking_loss", "hinge_embedding_loss", "cosine_embedding_loss",
              "triplet_margin_loss", "ctc_loss"]:
        assert hasattr(torch, n) and callable(getattr(tapegrad, n)), n
    assert not hasattr(tapegrad, "mse_loss") and not hasattr(torch, "mse_loss")

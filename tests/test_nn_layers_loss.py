"""Loss modules against PyTorch: options, reductions, outputs and gradients (float64 and
float32), float64 central differences, reprs and the legacy size_average/reduce flags."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import both, same_error, warnings_of
from _nn_layer_helpers import Spec, check_layer

torch = pytest.importorskip("torch")

R = np.random.default_rng(31)


def rn(*shape):
    return R.standard_normal(shape)


def probs(*shape):
    return 1.0 / (1.0 + np.exp(-rn(*shape)))


def signs(*shape):
    return np.where(R.standard_normal(shape) > 0, 1.0, -1.0)


def ints(high, *shape):
    return R.integers(0, high, shape)


def log_probs(*shape):
    x = rn(*shape)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


W5 = np.abs(rn(5)) + 0.5
W4 = np.abs(rn(4))
PW4 = np.abs(rn(4)) + 0.5


def f32(m, a):
    return m.tensor(a, dtype=m.float32)

SPECS = [
    Spec(lambda m: m.nn.MSELoss(), [rn(3, 4), rn(3, 4)], id="MSELoss"),
    Spec(lambda m: m.nn.MSELoss(reduction="none"), [rn(3, 4), rn(3, 4)], id="MSELoss-none"),
    Spec(lambda m: m.nn.L1Loss(reduction="sum"), [rn(3, 4), rn(3, 4)], id="L1Loss"),
    Spec(lambda m: m.nn.CrossEntropyLoss(), [rn(4, 5), ints(5, 4)], id="CrossEntropy"),
    Spec(lambda m: m.nn.CrossEntropyLoss(weight=f32(m, W5), ignore_index=1,
                                         label_smoothing=0.1),
         [rn(6, 5), np.array([0, 1, 2, 3, 4, 1])], id="CrossEntropy-opts"),
    Spec(lambda m: m.nn.CrossEntropyLoss(reduction="none"), [rn(2, 5, 3), ints(5, 2, 3)],
         id="CrossEntropy-spatial"),
    Spec(lambda m: m.nn.CrossEntropyLoss(), [rn(3, 5), probs(3, 5)], grad=(0,),
         id="CrossEntropy-probs"),
    Spec(lambda m: m.nn.NLLLoss(), [log_probs(4, 5), ints(5, 4)], id="NLLLoss"),
    Spec(lambda m: m.nn.NLLLoss(weight=f32(m, W5), reduction="sum", ignore_index=0),
         [log_probs(6, 5), np.array([0, 1, 2, 3, 4, 0])], id="NLLLoss-opts"),
    Spec(lambda m: m.nn.BCELoss(), [probs(3, 4), probs(3, 4)], grad=(0,), id="BCELoss"),
    Spec(lambda m: m.nn.BCELoss(weight=f32(m, W4)), [probs(3, 4), probs(3, 4)],
         grad=(0,), id="BCELoss-weight"),
    Spec(lambda m: m.nn.BCEWithLogitsLoss(), [rn(3, 4), probs(3, 4)], id="BCEWithLogits"),
    Spec(lambda m: m.nn.BCEWithLogitsLoss(weight=f32(m, W4),
                                          pos_weight=f32(m, PW4),
                                          reduction="none"),
         [rn(3, 4), probs(3, 4)], id="BCEWithLogits-opts"),
    Spec(lambda m: m.nn.HuberLoss(delta=0.5), [rn(3, 4), rn(3, 4)], id="HuberLoss"),
    Spec(lambda m: m.nn.SmoothL1Loss(beta=0.5, reduction="sum"), [rn(3, 4), rn(3, 4)],
         id="SmoothL1Loss"),
    Spec(lambda m: m.nn.KLDivLoss(reduction="batchmean"), [log_probs(3, 4), probs(3, 4)],
         id="KLDivLoss"),
    Spec(lambda m: m.nn.KLDivLoss(reduction="sum", log_target=True),
         [log_probs(3, 4), log_probs(3, 4)], id="KLDivLoss-log"),
    Spec(lambda m: m.nn.CosineEmbeddingLoss(margin=0.2),
         [rn(4, 3), rn(4, 3), np.array([1, -1, 1, -1])], id="CosineEmbedding"),
    Spec(lambda m: m.nn.MarginRankingLoss(margin=0.1), [rn(5), rn(5), signs(5)], grad=(0, 1),
         id="MarginRanking"),
    Spec(lambda m: m.nn.HingeEmbeddingLoss(margin=1.5), [rn(5), signs(5)], grad=(0,),
         id="HingeEmbedding"),
    Spec(lambda m: m.nn.MultiMarginLoss(), [rn(3, 4), ints(4, 3)], id="MultiMargin"),
    Spec(lambda m: m.nn.MultiMarginLoss(p=2, margin=0.5, weight=f32(m, W4)),
         [rn(3, 4), ints(4, 3)], id="MultiMargin-opts"),
    Spec(lambda m: m.nn.MultiLabelMarginLoss(),
         [rn(2, 4), np.array([[3, 0, -1, 1], [1, 2, 3, -1]])], id="MultiLabelMargin"),
    Spec(lambda m: m.nn.MultiLabelSoftMarginLoss(weight=f32(m, W4)),
         [rn(3, 4), (rn(3, 4) > 0).astype(float)], grad=(0,), id="MultiLabelSoftMargin"),
    Spec(lambda m: m.nn.SoftMarginLoss(), [rn(5), signs(5)], grad=(0,), id="SoftMargin"),
    Spec(lambda m: m.nn.TripletMarginLoss(margin=0.5, p=1.5, swap=True),
         [rn(4, 3), rn(4, 3), rn(4, 3)], id="TripletMargin"),
    Spec(lambda m: m.nn.TripletMarginWithDistanceLoss(),
         [rn(4, 3), rn(4, 3), rn(4, 3)], id="TripletWithDistance"),
    Spec(lambda m: m.nn.TripletMarginWithDistanceLoss(
        distance_function=lambda a, b: 1.0 - m.nn.functional.cosine_similarity(a, b),
        margin=0.3, swap=True, reduction="sum"),
         [rn(4, 3), rn(4, 3), rn(4, 3)], id="TripletWithDistance-cos"),
    Spec(lambda m: m.nn.PoissonNLLLoss(), [rn(3, 4), np.abs(rn(3, 4))], grad=(0,),
         id="PoissonNLL"),
    Spec(lambda m: m.nn.PoissonNLLLoss(log_input=False, full=True),
         [np.abs(rn(3, 4)) + 0.1, np.abs(rn(3, 4)) * 3], grad=(0,), id="PoissonNLL-full"),
    Spec(lambda m: m.nn.GaussianNLLLoss(full=True),
         [rn(3, 4), rn(3, 4), np.abs(rn(3, 4)) + 0.1], id="GaussianNLL"),
    Spec(lambda m: m.nn.GaussianNLLLoss(reduction="sum"),
         [rn(3, 4), rn(3, 4), np.abs(rn(3, 1)) + 0.1], id="GaussianNLL-bcast"),
    # PyTorch's CTC gradient presumes log_probs are log-softmax outputs (it is the gradient
    # through that normalisation), so it is compared with torch only, not with differences
    Spec(lambda m: m.nn.CTCLoss(),
         [log_probs(6, 2, 4), np.array([[1, 2, 2], [3, 1, 0]]), np.array([6, 5]),
          np.array([3, 2])], numeric=False, id="CTCLoss"),
    Spec(lambda m: m.nn.CTCLoss(blank=3, reduction="sum", zero_infinity=True),
         [log_probs(5, 2, 4), np.array([[1, 2, 1], [0, 1, 2]]), np.array([5, 2]),
          np.array([3, 3])], numeric=False, id="CTCLoss-inf"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_loss(spec, dtype):
    check_layer(spec, dtype)


def test_weight_buffers_in_state_dict():
    def prog(m):
        ce = m.nn.CrossEntropyLoss(weight=m.ones(3))
        bce = m.nn.BCEWithLogitsLoss(pos_weight=m.ones(2))
        return (list(ce.state_dict()), list(bce.state_dict()),
                [n for n, _ in bce.named_buffers()], list(m.nn.MSELoss().state_dict()))

    both(prog)


@pytest.mark.parametrize("flags", [(False, None), (None, False), (True, True), (False, False)])
def test_legacy_reduction_flags(flags):
    def prog(m):
        loss = m.nn.MSELoss(size_average=flags[0], reduce=flags[1])
        nll = m.nn.NLLLoss(size_average=flags[0], reduce=flags[1])
        return loss.reduction, nll.reduction

    both(prog)
    assert warnings_of(lambda: prog(tapegrad)) == warnings_of(lambda: prog(torch))


def test_errors():
    same_error(lambda m: m.nn.HuberLoss(delta="1"))
    same_error(lambda m: m.nn.MultiMarginLoss(p=3))
    same_error(lambda m: m.nn.MultiMarginLoss(weight=m.ones(2, 2)))
    same_error(lambda m: m.nn.TripletMarginLoss(margin=0))
    same_error(lambda m: m.nn.TripletMarginWithDistanceLoss(margin=-1.0))
    same_error(lambda m: m.nn.TripletMarginWithDistanceLoss()(m.ones(2, 3), m.ones(2, 3),
                                                              m.ones(3)))
    same_error(lambda m: m.nn.TripletMarginWithDistanceLoss(reduction="avg")(
        m.ones(3), m.ones(3), m.ones(3)))


def test_nllloss2d_deprecated():
    def prog(m):
        return repr(m.nn.NLLLoss2d())

    both(prog)
    assert warnings_of(lambda: prog(tapegrad)) == warnings_of(lambda: prog(torch))


def test_reprs():
    makers = [
        lambda m: m.nn.MSELoss(), lambda m: m.nn.L1Loss(reduction="sum"),
        lambda m: m.nn.CrossEntropyLoss(weight=m.ones(2)), lambda m: m.nn.NLLLoss(),
        lambda m: m.nn.BCELoss(), lambda m: m.nn.BCEWithLogitsLoss(pos_weight=m.ones(1)),
        lambda m: m.nn.HuberLoss(), lambda m: m.nn.SmoothL1Loss(), lambda m: m.nn.KLDivLoss(),
        lambda m: m.nn.CosineEmbeddingLoss(), lambda m: m.nn.MarginRankingLoss(),
        lambda m: m.nn.HingeEmbeddingLoss(), lambda m: m.nn.MultiMarginLoss(),
        lambda m: m.nn.MultiLabelMarginLoss(), lambda m: m.nn.MultiLabelSoftMarginLoss(),
        lambda m: m.nn.SoftMarginLoss(), lambda m: m.nn.TripletMarginLoss(),
        lambda m: m.nn.TripletMarginWithDistanceLoss(), lambda m: m.nn.PoissonNLLLoss(),
        lambda m: m.nn.GaussianNLLLoss(), lambda m: m.nn.CTCLoss(),
    ]
    for mk in makers:
        assert repr(mk(tapegrad)) == repr(mk(torch)).replace("torch.", "tapegrad.")

"""Normalisation, dropout and embedding layers against PyTorch, including running
statistics, train/eval behaviour and their state after the call."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import both, same_error, warnings_of
from _nn_layer_helpers import Spec, check_init, check_layer

torch = pytest.importorskip("torch")

R = np.random.default_rng(99)


def rn(*shape):
    return R.standard_normal(shape)


def _trained(cls_args, steps=2, **kw):
    """A BatchNorm that has seen `steps` batches, then is put in eval mode."""

    def make(m):
        mod = getattr(m.nn, cls_args[0])(*cls_args[1:], **kw)
        g = np.random.default_rng(5)
        for _ in range(steps):
            mod(m.tensor(g.standard_normal((4, cls_args[1])).astype("float32")))
        return mod

    return make


SPECS = [
    Spec(lambda m: m.nn.BatchNorm1d(3), [rn(4, 3)], id="BatchNorm1d"),
    Spec(lambda m: m.nn.BatchNorm1d(3), [rn(4, 3, 5)], id="BatchNorm1d-3d"),
    Spec(lambda m: m.nn.BatchNorm1d(3, momentum=None), [rn(4, 3)], id="BatchNorm1d-cma"),
    Spec(lambda m: m.nn.BatchNorm1d(3, affine=False), [rn(5, 3)], id="BatchNorm1d-noaffine"),
    Spec(lambda m: m.nn.BatchNorm1d(3, track_running_stats=False), [rn(5, 3)],
         id="BatchNorm1d-notrack"),
    Spec(lambda m: m.nn.BatchNorm1d(3, track_running_stats=False), [rn(5, 3)], train=False,
         id="BatchNorm1d-notrack-eval"),
    Spec(lambda m: m.nn.BatchNorm1d(3, bias=False, momentum=0.3), [rn(5, 3)],
         id="BatchNorm1d-nobias"),
    Spec(_trained(("BatchNorm1d", 3)), [rn(4, 3)], train=False, id="BatchNorm1d-eval"),
    Spec(lambda m: m.nn.BatchNorm2d(3, eps=1e-3), [rn(2, 3, 3, 2)], id="BatchNorm2d"),
    Spec(lambda m: m.nn.BatchNorm3d(2), [rn(2, 2, 2, 2, 2)], id="BatchNorm3d"),
    Spec(lambda m: m.nn.LayerNorm(4), [rn(2, 3, 4)], id="LayerNorm"),
    Spec(lambda m: m.nn.LayerNorm((3, 4), elementwise_affine=False), [rn(2, 3, 4)],
         id="LayerNorm-noaffine"),
    Spec(lambda m: m.nn.LayerNorm([4], eps=1e-2, bias=False), [rn(3, 4)], id="LayerNorm-nobias"),
    Spec(lambda m: m.nn.GroupNorm(2, 4), [rn(2, 4, 3)], id="GroupNorm"),
    Spec(lambda m: m.nn.GroupNorm(1, 3, affine=False), [rn(2, 3, 2, 2)], id="GroupNorm-1"),
    Spec(lambda m: m.nn.RMSNorm(4), [rn(2, 3, 4)], id="RMSNorm"),
    Spec(lambda m: m.nn.RMSNorm((3, 4), eps=1e-3, elementwise_affine=False), [rn(2, 3, 4)],
         id="RMSNorm-opts"),
    Spec(lambda m: m.nn.InstanceNorm1d(3), [rn(2, 3, 5)], id="InstanceNorm1d"),
    Spec(lambda m: m.nn.InstanceNorm1d(3, affine=True), [rn(3, 5)], id="InstanceNorm1d-nobatch"),
    Spec(lambda m: m.nn.InstanceNorm2d(2, affine=True, track_running_stats=True),
         [rn(2, 2, 3, 3)], id="InstanceNorm2d-track"),
    Spec(lambda m: m.nn.InstanceNorm2d(2, track_running_stats=True), [rn(2, 2, 3, 3)],
         train=False, id="InstanceNorm2d-eval"),
    Spec(lambda m: m.nn.InstanceNorm3d(2), [rn(1, 2, 2, 3, 2)], id="InstanceNorm3d"),
    Spec(lambda m: m.nn.LocalResponseNorm(2), [rn(2, 4, 3)], id="LocalResponseNorm"),
    Spec(lambda m: m.nn.LocalResponseNorm(3, alpha=1e-2, beta=0.5, k=2.0), [rn(1, 5, 2, 2)],
         id="LocalResponseNorm-opts"),
    Spec(lambda m: m.nn.Dropout(0.4), [rn(4, 5)], seed=3, id="Dropout"),
    Spec(lambda m: m.nn.Dropout(0.4), [rn(4, 5)], train=False, id="Dropout-eval"),
    Spec(lambda m: m.nn.Dropout1d(0.5), [rn(2, 4, 3)], seed=4, id="Dropout1d"),
    Spec(lambda m: m.nn.Dropout2d(0.5), [rn(2, 4, 2, 2)], seed=5, id="Dropout2d"),
    Spec(lambda m: m.nn.Dropout3d(0.5), [rn(1, 4, 2, 2, 2)], seed=6, id="Dropout3d"),
    Spec(lambda m: m.nn.AlphaDropout(0.3), [rn(3, 4)], seed=7, id="AlphaDropout"),
    Spec(lambda m: m.nn.AlphaDropout(0.3), [rn(3, 4)], train=False, id="AlphaDropout-eval"),
    Spec(lambda m: m.nn.FeatureAlphaDropout(0.3), [rn(2, 4, 3)], seed=8,
         id="FeatureAlphaDropout"),
    Spec(lambda m: m.nn.Embedding(6, 3), [np.array([[0, 2, 5], [2, 2, 1]])], id="Embedding"),
    Spec(lambda m: m.nn.Embedding(6, 3, padding_idx=-2), [np.array([4, 1, 4, 0])],
         id="Embedding-padding"),
    Spec(lambda m: m.nn.Embedding(6, 3, scale_grad_by_freq=True), [np.array([1, 1, 3])],
         id="Embedding-freq"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_layer(spec, dtype):
    check_layer(spec, dtype)


INIT = {
    "BatchNorm1d": lambda m: m.nn.BatchNorm1d(3),
    "BatchNorm2d-noaffine": lambda m: m.nn.BatchNorm2d(2, affine=False),
    "LayerNorm": lambda m: m.nn.LayerNorm((2, 3)),
    "GroupNorm": lambda m: m.nn.GroupNorm(2, 4),
    "RMSNorm": lambda m: m.nn.RMSNorm(3),
    "InstanceNorm1d": lambda m: m.nn.InstanceNorm1d(3, affine=True, track_running_stats=True),
    "Embedding": lambda m: m.nn.Embedding(5, 4),
    "Embedding-padding": lambda m: m.nn.Embedding(5, 4, padding_idx=1),
    "PReLU": lambda m: m.nn.PReLU(3, init=0.1),
}


@pytest.mark.parametrize("name", list(INIT))
def test_default_init_matches_torch(name):
    check_init(INIT[name])


def test_batchnorm_running_stats_over_steps():
    def prog(m):
        m.manual_seed(0)
        out = []
        for kw in ({}, {"momentum": None}, {"momentum": 0.5}):
            bn = m.nn.BatchNorm1d(2, **kw)
            for _ in range(3):
                bn(m.randn(5, 2))
            out += [bn.running_mean, bn.running_var, bn.num_batches_tracked]
            bn.eval()
            out.append(bn(m.randn(3, 2)))
            out.append(bn.num_batches_tracked)  # not counted in eval mode
        bn.reset_running_stats()
        out += [bn.running_mean, bn.running_var, bn.num_batches_tracked]
        return out

    both(prog)


def test_batchnorm_input_checks():
    same_error(lambda m: m.nn.BatchNorm1d(2)(m.ones(2)))
    same_error(lambda m: m.nn.BatchNorm2d(2)(m.ones(2, 2, 2)))
    same_error(lambda m: m.nn.BatchNorm3d(2)(m.ones(2, 2, 2, 2)))
    same_error(lambda m: m.nn.InstanceNorm1d(2)(m.ones(2, 2, 2, 2)))
    same_error(lambda m: m.nn.InstanceNorm2d(2, affine=True)(m.ones(1, 3, 2, 2)))
    same_error(lambda m: m.nn.GroupNorm(3, 4))
    same_error(lambda m: m.nn.Dropout(1.5))
    same_error(lambda m: m.nn.Dropout2d(-0.1))
    same_error(lambda m: m.nn.Embedding(4, 2, padding_idx=4))
    same_error(lambda m: m.nn.Embedding(4, 2, padding_idx=-5))
    same_error(lambda m: m.nn.Embedding(4, 2, _weight=m.ones(3, 2)))
    same_error(lambda m: m.nn.Embedding.from_pretrained(m.ones(3)))


def test_instancenorm_feature_warning():
    def prog(m):
        return m.nn.InstanceNorm1d(3)(m.ones(2, 4, 3) * m.arange(3.0))

    both(prog)
    assert warnings_of(lambda: prog(tapegrad)) == warnings_of(lambda: prog(torch))


def test_batchnorm_old_checkpoint_keeps_counter():
    def prog(m):
        bn = m.nn.BatchNorm1d(2)
        bn.num_batches_tracked.fill_(4)
        sd = {"weight": m.ones(2), "bias": m.zeros(2), "running_mean": m.zeros(2),
              "running_var": m.ones(2)}
        res = bn.load_state_dict(sd)  # no metadata: treated as version 1
        return repr(res), bn.num_batches_tracked, bn.state_dict()._metadata[""]

    both(prog)


def test_instancenorm_rejects_running_stats_of_old_checkpoint():
    def prog(m):
        inorm = m.nn.InstanceNorm1d(2)
        inorm.load_state_dict({"running_mean": m.zeros(2), "running_var": m.ones(2)})

    same_error(prog)


def test_dropout_train_eval_and_inplace():
    def prog(m):
        d = m.nn.Dropout(0.5, inplace=True)
        x = m.ones(8)
        m.manual_seed(0)
        y = d(x)
        d.eval()
        z = d(m.ones(3))
        return repr(d), x, y is x, z

    both(prog)


def test_embedding_from_pretrained_and_max_norm():
    def prog(m):
        w = m.tensor([[1.0, 2.0], [3.0, 4.0], [0.1, 0.1]])
        e = m.nn.Embedding.from_pretrained(w)
        f = m.nn.Embedding.from_pretrained(w.clone(), freeze=False, padding_idx=0)
        out = [repr(e), e.weight.requires_grad, f.weight.requires_grad,
               e(m.tensor([2, 0])), e.weight.data_ptr() == w.data_ptr()]
        g = m.nn.Embedding(3, 2, max_norm=1.0, _weight=w.clone())
        y = g(m.tensor([0, 1]))
        out += [y, g.weight, repr(g)]
        f(m.tensor([0, 1, 0])).sum().backward()
        out.append(f.weight.grad)
        return out

    both(prog)


def test_reprs():
    makers = [
        lambda m: m.nn.BatchNorm2d(3, eps=1e-3, momentum=None, affine=False,
                                   track_running_stats=False),
        lambda m: m.nn.InstanceNorm2d(2, affine=True, track_running_stats=True),
        lambda m: m.nn.LayerNorm([2, 3], eps=1e-6, elementwise_affine=False),
        lambda m: m.nn.GroupNorm(2, 4, affine=False),
        lambda m: m.nn.RMSNorm([2], eps=1e-4),
        lambda m: m.nn.LocalResponseNorm(3, k=2),
        lambda m: m.nn.Dropout3d(0.2, inplace=True),
        lambda m: m.nn.AlphaDropout(),
        lambda m: m.nn.Embedding(4, 2, max_norm=2.0, norm_type=1.0, scale_grad_by_freq=True,
                                 sparse=True),
    ]
    for mk in makers:
        assert repr(mk(tapegrad)) == repr(mk(torch)).replace("torch.", "tapegrad.")

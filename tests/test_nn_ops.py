"""Normalization, embedding, one_hot, dropout, distances and attention beyond the op table
(tests/op_db/nn_ops.py): running statistics updated in place, embedding's padding_idx /
scale_grad_by_freq / max_norm, dropout's statistics, scaling, reproducibility and in-place
forms, cosine_similarity's clamped norms, attention's edge cases, error messages and warnings,
and the public names. Compared with PyTorch where it is installed.
"""

from __future__ import annotations

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


RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 3, 5))
X2 = RNG.standard_normal((6, 3))


# --- batch / instance norm running statistics ---------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 2, 2)])
def test_batch_norm_updates_running_stats_in_place(shape):
    x0 = np.random.default_rng(1).standard_normal(shape)

    def prog(m):
        rm, rv = _t(m, [0.5, -1.0, 2.0], "float64"), _t(m, [1.0, 2.0, 0.5], "float64")
        rm_alias = rm.view(3)
        x = _t(m, x0, "float64", True)
        out = F(m).batch_norm(x, rm, rv, training=True, momentum=0.25)
        g = m.autograd.grad(out.pow(2).sum(), x)[0]
        return out, g, rm, rv, rm_alias, rm._version, rv._version

    out = both(prog, atol=1e-12, rtol=1e-10)
    assert out[5] == 0 and out[6] == 0  # PyTorch's kernel writes them without a version bump


def test_batch_norm_eval_uses_running_stats():
    def prog(m):
        rm, rv = _t(m, [0.5, -1.0, 2.0]), _t(m, [1.0, 2.0, 0.5])
        x = _t(m, X, requires_grad=True)
        w = _t(m, [1.0, 2.0, 3.0], requires_grad=True)
        b = _t(m, [0.0, 1.0, 0.0], requires_grad=True)
        out = F(m).batch_norm(x, rm, rv, w, b, training=False, eps=1e-3)
        return out, m.autograd.grad(out.sum(), (x, w, b)), rm, rm._version

    assert both(prog)[3] == 0


def test_batch_norm_eval_saved_running_stats_are_version_checked():
    # PyTorch saves the running statistics: changing them before backward is refused
    def prog(m):
        rm, rv = _t(m, [0.5, -1.0, 2.0]), _t(m, [1.0, 2.0, 0.5])
        x = _t(m, X, requires_grad=True)
        out = F(m).batch_norm(x, rm, rv, _t(m, [1.0, 2, 3], requires_grad=True), training=False)
        rv.add_(1)
        return error(lambda: out.sum().backward())[0]

    assert both(prog) == "RuntimeError"


def test_instance_norm_updates_running_stats():
    def prog(m):
        rm, rv = _t(m, [0.5, -1.0, 2.0], "float64"), _t(m, [1.0, 2.0, 0.5], "float64")
        x = _t(m, X, "float64", True)
        out = F(m).instance_norm(x, rm, rv, momentum=0.3)
        return out, m.autograd.grad(out.pow(3).sum(), x)[0], rm, rv, rm._version

    assert both(prog, atol=1e-12, rtol=1e-10)[4] == 1


NORM_ERRORS = {
    "bn_running_mean_size": lambda m: F(m).batch_norm(_t(m, X), _t(m, [0.0] * 4), _t(m, [1.0] * 3),
                                                      training=True),
    "bn_running_var_size": lambda m: F(m).batch_norm(_t(m, X), _t(m, [0.0] * 3), _t(m, [1.0] * 4)),
    "bn_weight_size": lambda m: F(m).batch_norm(_t(m, X), None, None, _t(m, [1.0] * 4),
                                                training=True),
    "bn_bias_size": lambda m: F(m).batch_norm(_t(m, X), None, None, None, _t(m, [1.0] * 4),
                                              training=True),
    "bn_eval_no_mean": lambda m: F(m).batch_norm(_t(m, X), None, None),
    "bn_eval_no_var": lambda m: F(m).batch_norm(_t(m, X), _t(m, [0.0] * 3), None),
    "bn_one_value": lambda m: F(m).batch_norm(_t(m, [[1.0, 2.0, 3.0]]), None, None,
                                              training=True),
    "bn_1d": lambda m: F(m).batch_norm(_t(m, [1.0, 2.0, 3.0]), None, None, training=True),
    "bn_eps": lambda m: F(m).batch_norm(_t(m, X), None, None, training=True, eps=0.0),
    "bn_negative_eps": lambda m: F(m).batch_norm(_t(m, X), _t(m, [0.0] * 3), _t(m, [1.0] * 3),
                                                 eps=-1.0),
    "bn_momentum_none": lambda m: F(m).batch_norm(_t(m, X), None, None, training=True,
                                                  momentum=None),
    "bn_int": lambda m: F(m).batch_norm(_t(m, X, "int64"), None, None, training=True),
    "bn_mixed_float": lambda m: F(m).batch_norm(_t(m, X), None, None, _t(m, [1.0] * 3, "float64"),
                                                training=True),
    "bn_mixed_double": lambda m: F(m).batch_norm(_t(m, X, "float64"), None, None,
                                                 _t(m, [1.0] * 3), training=True),
    "ln_shape": lambda m: F(m).layer_norm(_t(m, X), (4,)),
    "ln_shape2": lambda m: F(m).layer_norm(_t(m, X), [4, 5]),
    "ln_weight": lambda m: F(m).layer_norm(_t(m, X), (5,), _t(m, [1.0] * 4)),
    "ln_bias": lambda m: F(m).layer_norm(_t(m, X), (5,), None, _t(m, [1.0] * 4)),
    "ln_empty_shape": lambda m: F(m).layer_norm(_t(m, X), ()),
    "ln_int_shape": lambda m: F(m).layer_norm(_t(m, X), 5),
    "ln_int": lambda m: F(m).layer_norm(_t(m, X, "int64"), (5,)),
    "ln_mixed": lambda m: F(m).layer_norm(_t(m, X), (5,), _t(m, [1.0] * 5, "float64")),
    "gn_divisible": lambda m: F(m).group_norm(_t(m, X), 2),
    "gn_weight": lambda m: F(m).group_norm(_t(m, X), 3, _t(m, [1.0] * 4)),
    "gn_1d": lambda m: F(m).group_norm(_t(m, [1.0, 2.0]), 1),
    "gn_one_per_group": lambda m: F(m).group_norm(_t(m, [[1.0, 2.0, 3.0]]), 3),
    "gn_int": lambda m: F(m).group_norm(_t(m, X, "int64"), 3),
    "in_one_spatial": lambda m: F(m).instance_norm(_t(m, X[:, :, :1])),
    "in_no_stats": lambda m: F(m).instance_norm(_t(m, X), use_input_stats=False),
    "rms_shape": lambda m: F(m).rms_norm(_t(m, X), (4, 5)),
    "rms_weight": lambda m: F(m).rms_norm(_t(m, X), (5,), _t(m, [1.0] * 4)),
    "rms_int": lambda m: F(m).rms_norm(_t(m, X, "int64"), (5,)),
    "lrn_2d": lambda m: F(m).local_response_norm(_t(m, X2), 2),
    "normalize_int": lambda m: F(m).normalize(_t(m, [[1, 2]], "int64")),
}


@pytest.mark.parametrize("name", list(NORM_ERRORS))
def test_normalization_errors_match_torch(name):
    _same_error(NORM_ERRORS[name])


@pytest.mark.parametrize("call", [
    lambda m: F(m).layer_norm(_t(m, np.zeros((0, 3))), (3,)),
    lambda m: F(m).local_response_norm(_t(m, np.zeros((0, 3, 4))), 3),
    lambda m: F(m).layer_norm(_t(m, np.full((2, 3), 5.0)), (3,)),
    lambda m: F(m).rms_norm(_t(m, np.zeros((2, 3))), (3,)),
    lambda m: m.layer_norm(_t(m, X), [5]),
    lambda m: m.group_norm(_t(m, X), 3),
    lambda m: m.instance_norm(_t(m, X), None, None, None, None, True, 0.1, 1e-5, False),
])
def test_normalization_edge_values(call):
    both(call)


# --- embedding and one_hot ------------------------------------------------------------------------
W = RNG.standard_normal((6, 3))
IDX = np.array([[0, 2, 5], [2, 2, 0]])


@pytest.mark.parametrize("kw", [{"padding_idx": 2}, {"padding_idx": -1},
                                {"scale_grad_by_freq": True},
                                {"padding_idx": 0, "scale_grad_by_freq": True}])
def test_embedding_padding_and_frequency_gradients(kw):
    # the padding row gets no gradient; frequency scaling divides by the count in the batch
    def prog(m):
        w = _t(m, W, "float64", True)
        out = F(m).embedding(_t(m, IDX, "int64"), w, **kw)
        g = m.autograd.grad((out * out).sum(), w, create_graph=True)[0]
        # (the double backward leaves the frequency scaling out, as PyTorch's does)
        return out, g, g.grad_fn.name(), m.autograd.grad(g.pow(2).sum(), w)[0]

    both(prog, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_embedding_max_norm_renormalises_rows_in_place(norm_type):
    def prog(m):
        w = _t(m, W * 3, "float64", True)
        out = F(m).embedding(_t(m, IDX, "int64"), w, max_norm=1.5, norm_type=norm_type)
        g = m.autograd.grad(out.sum(), w)[0]
        return out, g, w.detach(), w._version

    out = both(prog, atol=1e-12, rtol=1e-10)
    assert out[3] == 1


def test_embedding_renorm_top_level():
    def prog(m):
        w = _t(m, W * 3, "float64")
        r = m.embedding_renorm_(w, _t(m, [0, 1], "int64"), 1.0, 2.0)
        return r is w, w

    assert both(prog)[0] is True
    _same_error(lambda m: m.embedding_renorm_(_t(m, W, requires_grad=True), _t(m, [0], "int64"),
                                              1.0, 2.0))


EMB_ERRORS = {
    "float_indices": lambda m: F(m).embedding(_t(m, [0.0, 1.0]), _t(m, W)),
    "out_of_range": lambda m: F(m).embedding(_t(m, [0, 6], "int64"), _t(m, W)),
    "negative": lambda m: F(m).embedding(_t(m, [0, -1], "int64"), _t(m, W)),
    "padding_idx": lambda m: F(m).embedding(_t(m, [0], "int64"), _t(m, W), padding_idx=6),
    "negative_padding_idx": lambda m: F(m).embedding(_t(m, [0], "int64"), _t(m, W),
                                                     padding_idx=-7),
    "weight_1d": lambda m: F(m).embedding(_t(m, [0], "int64"), _t(m, [1.0, 2.0])),
    "one_hot_float": lambda m: F(m).one_hot(_t(m, [0.0, 1.0])),
    "one_hot_int32": lambda m: F(m).one_hot(_t(m, [0, 1], "int32")),
    "one_hot_negative": lambda m: F(m).one_hot(_t(m, [0, -1], "int64")),
    "one_hot_too_big": lambda m: F(m).one_hot(_t(m, [0, 3], "int64"), 3),
    "one_hot_empty": lambda m: F(m).one_hot(_t(m, np.zeros(0), "int64")),
    "one_hot_classes": lambda m: F(m).one_hot(_t(m, [1], "int64"), 0),
}


@pytest.mark.parametrize("name", list(EMB_ERRORS))
def test_embedding_and_one_hot_errors_match_torch(name):
    _same_error(EMB_ERRORS[name])


@pytest.mark.parametrize("call", [
    lambda m: F(m).one_hot(_t(m, [0, 3, 1], "int64")),
    lambda m: F(m).one_hot(_t(m, [[0, 3], [1, 1]], "int64"), 5),
    lambda m: F(m).one_hot(_t(m, 2, "int64")),
    lambda m: F(m).one_hot(_t(m, np.zeros((0, 2)), "int64"), 3),
])
def test_one_hot(call):
    both(call)


# --- dropout --------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_statistics_and_gradient(p):
    tapegrad.manual_seed(7)
    x = tapegrad.ones(200, 50, requires_grad=True)
    out = F(tapegrad).dropout(x, p)
    a = to_numpy(out)
    kept = a != 0
    assert abs((~kept).mean() - p) < 0.02  # the fraction dropped is p
    np.testing.assert_allclose(a[kept], 1 / (1 - p), rtol=1e-6)  # the rest scaled by 1/(1-p)
    (g,) = tapegrad.autograd.grad(out.sum(), x)
    np.testing.assert_array_equal(to_numpy(g), a)  # grad = mask * scale


def test_dropout_reproducible_and_identical_to_torch():
    def prog(m):
        m.manual_seed(3)
        a = F(m).dropout(m.ones(40), 0.5)
        b = F(m).dropout(m.ones(40), 0.5)
        m.manual_seed(3)
        return a, b, F(m).dropout(m.ones(40), 0.5)

    a, b, c = both(prog)
    assert not np.array_equal(to_numpy(a), to_numpy(b))
    np.testing.assert_array_equal(to_numpy(a), to_numpy(c))


def test_dropout_no_op_cases_return_the_input():
    x = tapegrad.ones(3, requires_grad=True)
    f = F(tapegrad)
    assert f.dropout(x, 0.5, training=False) is x
    assert f.dropout(x, 0.0) is x
    assert f.alpha_dropout(x, 0.5) is x  # training defaults to False
    assert f.feature_alpha_dropout(x[None], 0.5).shape == (1, 3)
    assert f.dropout(tapegrad.ones(0), 0.5).shape == (0,)
    assert tapegrad.dropout(x, 0.5, False) is x


def test_feature_dropout_drops_whole_channels():
    tapegrad.manual_seed(0)
    out = to_numpy(F(tapegrad).dropout2d(tapegrad.ones(8, 16, 3, 3), 0.5))
    per_channel = out.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0 < (per_channel == 0).all(-1).mean() < 1


def test_alpha_dropout_keeps_mean_and_variance():
    tapegrad.manual_seed(0)
    x = tapegrad.randn(400, 100)
    out = to_numpy(F(tapegrad).alpha_dropout(x, 0.3, training=True))
    assert abs(out.mean()) < 0.05 and abs(out.std() - 1) < 0.05
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha * alpha * 0.3 + 1) * 0.7)
    dropped = np.isclose(out, -alpha * a * 0.7)  # a dropped element: a * 0 + b, b = -alpha a (1-p)
    assert abs(dropped.mean() - 0.3) < 0.02


@pytest.mark.parametrize("name, args", [("dropout", (0.3,)), ("alpha_dropout", (0.3, True)),
                                        ("dropout2d", (0.5,)), ("dropout1d", (0.5,)),
                                        ("feature_alpha_dropout", (0.5, True))])
def test_dropout_in_place(name, args):
    def prog(m):
        m.manual_seed(5)
        x = m.tensor(X, dtype=m.float32)
        out = getattr(F(m), name)(x, *args, inplace=True)
        return out is x, x, x._version > 0

    assert both(prog)[0] is True


def test_dropout_in_place_on_a_leaf_requiring_grad_is_refused():
    _same_error(lambda m: F(m).dropout(_t(m, X, requires_grad=True), 0.5, inplace=True))
    # unless nothing is written
    x = _t(tapegrad, X, requires_grad=True)
    assert F(tapegrad).dropout(x, 0.5, training=False, inplace=True) is x
    assert F(tapegrad).dropout(x, 0.0, inplace=True) is x
    assert torch.nn.functional.dropout(_t(torch, X, requires_grad=True), 0.0, inplace=True) \
        is not None


@pytest.mark.parametrize("name", ["dropout_", "feature_dropout_", "alpha_dropout_",
                                  "feature_alpha_dropout_"])
def test_torch_in_place_dropouts(name):
    def prog(m):
        m.manual_seed(2)
        x = m.tensor(X, dtype=m.float64)
        return getattr(m, name)(x, 0.4, True) is x, x

    both(prog)


DROPOUT_ERRORS = {
    "p": lambda m: F(m).dropout(_t(m, X), 1.5),
    "p_negative": lambda m: F(m).alpha_dropout(_t(m, X), -0.1),
    "torch_p": lambda m: m.dropout(_t(m, X), 1.5, True),
    "int": lambda m: F(m).dropout(_t(m, [1, 2], "int64"), 0.5),
    "dropout1d_dims": lambda m: F(m).dropout1d(_t(m, np.zeros((2, 3, 4, 5))), 0.5),
    "feature_1d": lambda m: m.feature_dropout(_t(m, [1.0, 2.0]), 0.5, True),
    "feature_alpha_1d": lambda m: F(m).feature_alpha_dropout(_t(m, [1.0]), 0.5, True),
}


@pytest.mark.parametrize("name", list(DROPOUT_ERRORS))
def test_dropout_errors_match_torch(name):
    _same_error(DROPOUT_ERRORS[name])


@pytest.mark.parametrize("name, shape", [("dropout2d", (2, 3)), ("dropout2d", (2, 3, 4)),
                                         ("dropout3d", (2, 3, 4))])
def test_feature_dropout_warnings(name, shape):
    def prog(m):
        m.manual_seed(0)
        x = m.ones(*shape)
        return _warnings(lambda: getattr(F(m), name)(x, 0.5)), getattr(F(m), name)(x, 0.5)

    assert len(both(prog)[0]) >= 1


# --- distances ---------------------------------------------------------------------------------
@pytest.mark.parametrize("a, b, kw", [
    (np.zeros((2, 3)), X2[:2], {}),  # a zero vector: the clamped norm
    (1e-5 * X2, X2, {"eps": 1e-3}),
    (X2, X2[0], {"dim": -1}),
    (np.array([[1, 2]]), np.array([[1.0, 3.0]]), {}),
])
def test_cosine_similarity_clamped_norms(a, b, kw):
    # the norms are clamped without recording it: gradients as PyTorch's, not the derivative
    def prog(m):
        x = m.tensor(a, requires_grad=a.dtype.kind == "f")
        y = m.tensor(b, requires_grad=True)
        out = F(m).cosine_similarity(x, y, **kw)
        leaves = [t for t in (x, y) if t.requires_grad]
        return out, m.autograd.grad(out.sum(), leaves)

    both(prog, atol=1e-10, rtol=1e-7)


DIST_ERRORS = {
    "cos_int": lambda m: F(m).cosine_similarity(_t(m, [[1, 2]], "int64"), _t(m, [[1, 2]], "int64")),
    "cos_shape": lambda m: F(m).cosine_similarity(_t(m, X2), _t(m, [1.0, 2.0])),
    "cos_dim": lambda m: F(m).cosine_similarity(_t(m, X2), _t(m, X2), dim=2),
    "pd_shape": lambda m: F(m).pairwise_distance(_t(m, X2), _t(m, [1.0, 2.0])),
}


@pytest.mark.parametrize("name", list(DIST_ERRORS))
def test_distance_errors_match_torch(name):
    _same_error(DIST_ERRORS[name])


@pytest.mark.parametrize("call", [
    lambda m: F(m).pairwise_distance(_t(m, [[1, 2]], "int64"), _t(m, [[1, 3]], "int64")),
    lambda m: F(m).pairwise_distance(_t(m, 1.5), _t(m, 0.5)),
    lambda m: F(m).pairwise_distance(_t(m, X2), _t(m, X2), p=0.0),
    lambda m: F(m).pairwise_distance(_t(m, X2), _t(m, -X2), p=float("inf"), keepdim=True),
    lambda m: F(m).normalize(_t(m, X2), p=3.0, dim=0, eps=0.5),
])
def test_distance_values(call):
    both(call)


# --- attention ---------------------------------------------------------------------------------
Q = RNG.standard_normal((2, 2, 3, 4))
K = RNG.standard_normal((2, 2, 5, 4))
V = RNG.standard_normal((2, 2, 5, 4))
DEAD = np.array([[True] * 5, [False] * 5, [True, False, True, False, True]])


@pytest.mark.parametrize("shape, kw", [
    ((2, 2), {"attn_mask": DEAD}),  # fused path, a fully masked row gives zeros
    ((2,), {"attn_mask": DEAD}),  # math path, the same
    ((2, 2), {"scale": -0.5}),
    ((2,), {"scale": -0.5, "is_causal": True}),
    ((2, 2), {"attn_mask": np.where(DEAD, 0.0, -np.inf)}),
    ((2, 2), {"attn_mask": DEAD, "is_causal": True}),  # the fused kernel applies both
])
def test_attention_edge_cases(shape, kw):
    def prog(m):
        q, k, v = (m.tensor(a[(0,) * (4 - len(shape) - 2)] if len(shape) < 2 else a,
                            requires_grad=True) for a in (Q, K, V))
        kw2 = {n: m.tensor(a) if isinstance(a, np.ndarray) else a for n, a in kw.items()}
        out = F(m).scaled_dot_product_attention(q, k, v, **kw2)
        return out, m.autograd.grad(out.pow(2).sum(), (q, k, v))

    both(prog, atol=1e-10, rtol=1e-7)


def test_attention_float32_mask_with_float64_query():
    mask_values = np.random.default_rng(3).standard_normal((3, 5))

    def prog(m):
        q, k, v = (m.tensor(a, requires_grad=True) for a in (Q, K, V))
        mask = m.tensor(mask_values, dtype=m.float32)
        out = F(m).scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return out, m.autograd.grad(out.sum(), q)[0]

    both(prog, atol=1e-6, rtol=1e-6)


def test_attention_dropout_matches_torch_with_the_same_seed():
    def prog(m):
        q, k, v = (m.tensor(a[0], requires_grad=True) for a in (Q, K, V))
        m.manual_seed(9)
        out = F(m).scaled_dot_product_attention(q, k, v, dropout_p=0.5)
        return out, m.autograd.grad(out.sum(), (q, k, v))

    both(prog, atol=1e-10, rtol=1e-7)


ATTN_ERRORS = {
    "dtype": lambda m: F(m).scaled_dot_product_attention(_t(m, Q), _t(m, K, "float64"), _t(m, V)),
    "causal_and_mask": lambda m: F(m).scaled_dot_product_attention(
        _t(m, Q[0]), _t(m, K[0]), _t(m, V[0]), attn_mask=_t(m, DEAD, "bool"), is_causal=True),
    "1d": lambda m: F(m).scaled_dot_product_attention(_t(m, [1.0]), _t(m, [1.0]), _t(m, [1.0])),
    "mask_dtype": lambda m: F(m).scaled_dot_product_attention(
        _t(m, Q), _t(m, K), _t(m, V), attn_mask=_t(m, DEAD, "int64")),
    "mask_double": lambda m: F(m).scaled_dot_product_attention(
        _t(m, Q), _t(m, K), _t(m, V), attn_mask=_t(m, DEAD, "float64")),
    "gqa": lambda m: F(m).scaled_dot_product_attention(
        _t(m, np.zeros((1, 4, 3, 2))), _t(m, np.zeros((1, 3, 3, 2))),
        _t(m, np.zeros((1, 3, 3, 2))), enable_gqa=True),
    "heads_without_gqa": lambda m: F(m).scaled_dot_product_attention(
        _t(m, np.zeros((1, 4, 3, 2))), _t(m, np.zeros((1, 2, 3, 2))),
        _t(m, np.zeros((1, 2, 3, 2)))),
}


@pytest.mark.parametrize("name", list(ATTN_ERRORS))
def test_attention_errors_match_torch(name):
    _same_error(ATTN_ERRORS[name])


def test_fused_attention_second_derivative_beyond_torch():
    # PyTorch's fused CPU kernel has no double backward; tapegrad's rule is in tapegrad ops:
    # its second derivative agrees with the math path's (which PyTorch differentiates twice)
    def second(m, q, k, v, fused):
        if fused:
            out = F(m).scaled_dot_product_attention(q, k, v)
        else:  # 3-d inputs take the math path
            q3, k3, v3 = (t.reshape(-1, *t.shape[2:]) for t in (q, k, v))
            out = F(m).scaled_dot_product_attention(q3, k3, v3)
        g = m.autograd.grad(out.pow(2).sum(), (q, k, v), create_graph=True)
        return m.autograd.grad(sum((x * x).sum() for x in g), (q, k, v))

    ours = second(tapegrad, *(tapegrad.tensor(a, requires_grad=True) for a in (Q, K, V)), True)
    theirs = second(torch, *(torch.tensor(a, requires_grad=True) for a in (Q, K, V)), False)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-10, rtol=1e-7)


def test_public_names():
    import torch.nn.functional as TF

    names = ["batch_norm", "instance_norm", "layer_norm", "group_norm", "rms_norm",
             "local_response_norm", "normalize", "embedding", "one_hot", "dropout", "dropout1d",
             "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
             "cosine_similarity", "pairwise_distance", "scaled_dot_product_attention"]
    for n in names:
        assert hasattr(TF, n) and callable(getattr(tapegrad.nn.functional, n)), n
    for n in ["dropout", "dropout_", "feature_dropout", "feature_dropout_", "alpha_dropout",
              "alpha_dropout_", "feature_alpha_dropout", "feature_alpha_dropout_", "batch_norm",
              "instance_norm", "layer_norm", "group_norm", "rms_norm", "embedding",
              "embedding_renorm_", "cosine_similarity", "pairwise_distance"]:
        assert hasattr(torch, n) and callable(getattr(tapegrad, n)), n

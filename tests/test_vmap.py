"""tapegrad.func.vmap against torch.func.vmap: values, shapes and dtypes of many programs
(element-wise, reductions along dims, shape ops, indexing, products, nn layers, losses),
in_dims/out_dims/chunk_size/randomness, nested vmap, composition with grad/vjp/jacrev/jacfwd
(per-sample gradients, batched Jacobians, also against central differences), errors with
PyTorch's messages, the per-sample fallback, and autograd.grad(is_grads_batched=True).

Programs whose ops have batching rules must not fall back to the per-sample loop: the
performance warning of the fallback is checked to be absent for them.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import tapegrad
from _helpers import numeric_vjp, same, same_error

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)
X = RNG.standard_normal((4, 3, 5))  # a batch of 4 samples of shape (3, 5)
Y = RNG.standard_normal((4, 5))
Z = RNG.standard_normal((3, 5))  # unbatched operand
V = RNG.standard_normal(4)
IDX = RNG.integers(0, 5, (4, 3))
IMG = RNG.standard_normal((3, 2, 5, 6))  # samples of (C, H, W)
IMGN = RNG.standard_normal((3, 4, 2, 5, 6))  # samples of (N, C, H, W)
WT = RNG.standard_normal((3, 4, 2, 3, 3))  # per-sample conv weights
PERF = "There is a performance drop because we have not yet implemented the batching rule for"


@pytest.fixture(autouse=True)
def _float64():
    """Programs make tensors (ones, zeros, ...) in the default dtype: float64 here, for both."""
    old = (tapegrad.get_default_dtype(), torch.get_default_dtype())
    tapegrad.set_default_dtype(tapegrad.float64)
    torch.set_default_dtype(torch.float64)
    yield
    tapegrad.set_default_dtype(old[0])
    torch.set_default_dtype(old[1])


def _t(m, a):
    return m.tensor(a, dtype=m.float64) if np.asarray(a).dtype.kind == "f" else m.tensor(a)


def _vm(m, prog, arrays, **kw):
    return m.func.vmap(lambda *a: prog(m, *a), **kw)(*[_t(m, a) for a in arrays])


def check(prog, *arrays, rules: bool = True, atol: float = 1e-8, rtol: float = 1e-6, **kw):
    """vmap(prog) on these arrays: tapegrad's result equals torch.func.vmap's; with rules,
    no op fell back to the per-sample loop."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ours = _vm(tapegrad, prog, arrays, **kw)
    perf = [str(x.message) for x in w if PERF in str(x.message)]
    if rules:
        assert not perf, perf
    theirs = _vm(torch, prog, arrays, **kw)
    same(ours, theirs, atol=atol, rtol=rtol)
    return ours


def check_error(prog, *arrays, **kw):
    same_error(lambda m: _vm(m, prog, arrays, **kw))


def check_message(call):
    """call(m) raises the same as in torch (module paths torch.x -> tapegrad.x; 'functorch'
    and pytorch.org URLs are kept)."""
    msgs = []
    for m in (tapegrad, torch):
        with pytest.raises(Exception) as e:  # noqa: PT011 - compared below
            call(m)
        msgs.append((type(e.value).__name__, str(e.value)))
    theirs = re.sub(r"(?<!\w)torch\.", "tapegrad.", msgs[1][1])
    assert msgs[0] == (msgs[1][0], theirs)


def F(m):  # noqa: N802
    return m.nn.functional


# --- element-wise ----------------------------------------------------------------------------
UNARY = ["sin", "exp", "tanh", "sigmoid", "abs", "neg", "sqrt", "log1p", "relu", "floor",
         "erf", "sign", "reciprocal", "square", "frac", "atan", "expm1", "rsqrt"]


@pytest.mark.parametrize("name", UNARY)
def test_unary(name):
    check(lambda m, x: getattr(m, name)(x.abs() + 0.5) + getattr(x.abs() + 0.5, name)(), X)


def test_binary_broadcasting_and_in_dims():
    check(lambda m, x, y: (x + y, x * y, x - 2.0, 3.0 / (x.abs() + 1), x ** 2, y ** x.abs(),
                           m.maximum(x, y), m.atan2(x, y), x > y, x == x, m.hypot(x, y)), X, Y)
    check(lambda m, x, z: (x + z, z - x, m.where(x > 0, z, x)), X, Z, in_dims=(0, None))
    check(lambda m, x, y: x * y, X.transpose(1, 2, 0).copy(), Y.T.copy(), in_dims=(2, 1))
    check(lambda m, x, y: m.addcmul(x, y, y, value=0.5).lerp(y, 0.3), X, Y)
    check(lambda m, x: (m.clamp(x, -0.5, 0.5), x.clamp(min=0.1), m.clamp(x, x * 0, x * 0 + 1.0)), X)


def test_logically_0d_operands_promote_like_the_logical_program():
    f32 = RNG.standard_normal((4, 3)).astype(np.float32)
    check(lambda m, s, v: (s + v, v * s, m.where(v > 0, v, s), s + m.tensor(2.0)),
          V, f32, in_dims=(0, 0))
    check(lambda m, s: s + m.ones(3, dtype=m.float32), V)
    check(lambda m, s: (s.long() + m.ones(3), s > m.zeros(3, dtype=m.float32)), V)


def test_activations_and_conversions():
    check(lambda m, x: (F(m).relu(x), F(m).gelu(x), F(m).silu(x), F(m).softplus(x),
                        F(m).elu(x), F(m).leaky_relu(x, 0.1), F(m).hardtanh(x), F(m).mish(x),
                        F(m).logsigmoid(x), F(m).threshold(x, 0.1, 2.0), x.float(), x.long(),
                        x.to(m.float32), m.zeros_like(x), m.ones_like(x), x.clone(),
                        x.type_as(m.ones(2, dtype=m.float32)), m.nan_to_num(x / 0)), X)


def test_masked_fill_and_where():
    check(lambda m, x, v: (x.masked_fill(x < 0, 1.0), x.masked_fill(x < 0, v),
                           m.where(x > 0, x, v), m.where(x > 0, x, 0.0)), X, V)


def test_inplace_on_batched_tensors():
    def prog(m, x, y):
        a = x.clone()
        a.add_(y)
        a.mul_(2).clamp_(-1, 1)
        a[0].sub_(y)
        a += 1
        b = x.clone()
        b[:, 0] = y[:3]
        b.copy_(b * 3)
        c = m.zeros(3, 5).expand(3, 5).clone()
        return a, b, c.add_(1)

    check(prog, X, Y)


def test_inplace_into_unbatched_tensor_is_an_error():
    check_error(lambda m, x: m.zeros(5).copy_(x), Y)
    check_error(lambda m, x: m.zeros(5).mul_(x), Y)
    check_error(lambda m, x: m.zeros(5).__setitem__(0, x[0]), Y)


# --- reductions, scans, sorts, softmax ------------------------------------------------------------
def test_reductions_with_dims():
    check(lambda m, x: (x.sum(), x.sum(0), x.sum(-1, keepdim=True), x.sum((0, 1)), x.mean(1),
                        x.std(), x.var(0, correction=0), x.prod(), x.prod(1), x.amax(-1),
                        x.amin((0, 1)), x.logsumexp(1), x.norm(), x.norm(dim=0),
                        m.linalg.vector_norm(x), x.nansum(), x.abs().sqrt().nanmean(0)), X)
    check(lambda m, x: (x.argmax(), x.argmax(1), x.argmin(0, keepdim=True), x.max(), x.min(1),
                        x.max(-1, keepdim=True), x.max(x * 2), x.median(), x.median(0),
                        (x > 0).all(), (x > 0).any(1), m.count_nonzero(x > 0), x.aminmax(),
                        m.std_mean(x, 1), x.mode(0), x.kthvalue(2, 1)), X)


def test_scans_sorts_and_softmax():
    check(lambda m, x: (x.cumsum(1), x.cumprod(0), x.cummax(1), m.logcumsumexp(x, -1),
                        x.sort(0), x.sort(descending=True), x.argsort(1), x.topk(2),
                        x.topk(2, 0, largest=False), x.softmax(-1), x.log_softmax(0),
                        F(m).softmax(x, 1), F(m).log_softmax(x, dim=-1), F(m).softmin(x, 0),
                        F(m).normalize(x), F(m).glu(x[:2], 0), x.msort(), x.diff(dim=1)), X)


def test_implicit_softmax_dim_uses_the_logical_rank():
    def warns(m):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            r = _vm(m, lambda m, x: (F(m).softmax(x), F(m).log_softmax(x[0])), [X])
        return r, [str(x.message) for x in w]

    (ours, w1), (theirs, w2) = warns(tapegrad), warns(torch)
    same(ours, theirs)
    assert w1 == w2 and len(w1) == 2


def test_logically_0d_inputs_take_dim_0():
    check(lambda m, s: (s.sum(0), s.sum(-1, keepdim=True), s.softmax(0), s.cumsum(0),
                        s.argmax(0), s.max(0), s.unsqueeze(0), s.reshape(1, 1), s.mean()), V)


def test_bad_dims_give_the_logical_error():
    check_error(lambda m, x: x.sum(5), X)
    check_error(lambda m, x: x.softmax(2), X)
    check_error(lambda m, x: x.permute(0, 2), X)
    check_error(lambda m, x: x.unsqueeze(3), X)


# --- shapes -------------------------------------------------------------------------------------
def test_shape_ops():
    check(lambda m, x: (x.view(15), x.view(-1, 3), x.reshape(5, 3), x.t(), x.T, x.mT,
                        x.permute(1, 0), x.transpose(0, 1), x.unsqueeze(1), x.unsqueeze(-1),
                        x.flatten(), x.unflatten(1, (5, 1)), x.expand(2, 3, 5), x.repeat(2, 1, 2),
                        x.flip(0), x.roll(1, 1), x.roll(2), x.narrow(1, 1, 2), x.select(0, 1),
                        x.movedim(0, 1), x.squeeze(), x[None].squeeze(0), x.diagonal(),
                        x.tril(), x.triu(1), x.contiguous(), x.ravel(), x.tile(2),
                        x.view_as(m.ones(15)), x.expand_as(m.ones(2, 3, 5)), x.swapaxes(0, 1),
                        m.broadcast_to(x, (2, 3, 5)), x[:, :3].trace(), x[0].diag(),
                        x[:, :3].diag(), m.diag_embed(x), x.fliplr(), x.rot90()), X)
    check(lambda m, x: (x.squeeze(), x.squeeze(0)), RNG.standard_normal((3, 1, 4, 1)))


def test_splits_and_joins():
    check(lambda m, x, z: (x.split(2, 1), x.chunk(2, 0), x.unbind(1), m.tensor_split(x, 3, 1),
                           x.hsplit(5), m.cat([x, z], 0), m.cat([x, x], -1),
                           m.stack([x, z], 1), m.stack([z, x]), m.hstack([x, z]),
                           m.vstack([x, z]), m.dstack([x, z]), m.atleast_3d(x),
                           m.broadcast_tensors(x, z[:1])), X, Z, in_dims=(0, None))
    check(lambda m, x: m.cat([x, m.ones(2)]), Y)


# --- indexing -----------------------------------------------------------------------------------
def test_getitem():
    ii = np.array([0, 1, 1])
    check(lambda m, x: (x[0], x[:, 1:3], x[..., -1], x[None, 1], x[m.tensor(ii)],
                        x[:, m.tensor(ii)], x[m.tensor(ii), m.tensor(ii)],
                        x[m.tensor([[1, 0]]), :, None], x[1, m.tensor(ii)],
                        x[m.tensor([True, False, True])], x[:, [0, 1]]),
          X[:, :, :4].reshape(4, 3, 2, 2))


def test_getitem_with_batched_indices():
    def prog(m, x, i):
        return (x[i], x[:, i], x[i, i], x[i[0], :2], m.arange(15.0).view(5, 3)[i],
                m.ones(3, 7)[:, i], x.index_select(1, i), x.gather(1, i.unsqueeze(0).expand(3, 3)),
                m.take(x, i), m.take_along_dim(x, i.expand(3, 3), 1))

    check(prog, X, IDX[:, :3] % 3)


def test_setitem():
    def prog(m, x, v, i):
        a = x.clone()
        a[0] = v
        a[:, 1] = 5.0
        a[i[0]] = v * 2
        a[:, i[:2]] = 7.0
        return a

    check(prog, X, Y, IDX % 3)


def test_scatter_and_index_ops():
    check(lambda m, x, i: (m.zeros(3, 5).scatter(1, i, x), x.scatter_add(0, i % 3, x),
                           x.index_add(1, m.tensor([0, 2]), x[:, :2]),
                           x.index_fill(0, m.tensor([1]), -1.0)), X, np.sort(IDX, 1)[:, None]
          .repeat(3, 1) % 5)


def test_dynamic_shapes_are_errors():
    check_error(lambda m, x: x[x > 0], X)
    check_error(lambda m, x: x.clone().__setitem__(x > 0, 1.0), X)
    msg = ("vmap: We do not support batching operators that can output dynamic shape. Attempted "
           "to vmap over {}. Please file an issue at https://github.com/pytorch/pytorch/issues if "
           "you need this feature.")
    for m, name in ((tapegrad, "Tensor.nonzero"), (torch, "aten::nonzero")):
        with pytest.raises(RuntimeError) as e:
            _vm(m, lambda m, x: x.nonzero(), [X])
        assert str(e.value) == msg.format(name)


# --- products -----------------------------------------------------------------------------------
def test_matmul_family():
    check(lambda m, x, y, z: (x @ y, y @ y, x @ z.T, z @ x.T, y @ z.T, m.ones(2, 3) @ x,
                              m.matmul(x.unsqueeze(0), y), m.mm(x, z.T), m.mv(x, y),
                              m.dot(y, y), m.outer(y, y), m.bmm(x.unsqueeze(0), z.T[None]),
                              m.einsum("ij,j->i", x, y), m.einsum("ij,kj", x, z),
                              m.einsum("...j,j", x, y), m.addmm(m.ones(3), x, z.T, beta=0.5),
                              m.inner(y, y), y @ m.ones(5), m.linalg.multi_dot([x, y])),
          X, Y, Z, in_dims=(0, 0, None))


def test_linear_and_batched_weights():
    check(lambda m, x: F(m).linear(x, m.ones(2, 5), m.ones(2)), X)
    check(lambda m, w, x: (F(m).linear(x, w), F(m).linear(x[0], w, w[:, 0]), x @ w.T), X, Z,
          in_dims=(0, None))


def test_linalg_on_batches_of_matrices():
    a = RNG.standard_normal((4, 3, 3)) + 3 * np.eye(3)
    check(lambda m, a, b: (m.linalg.inv(a), m.linalg.det(a), m.linalg.slogdet(a),
                           m.linalg.solve(a, b), m.linalg.solve(a, m.ones(3, 2)),
                           m.linalg.cholesky(a @ a.mT), m.linalg.matrix_norm(a),
                           m.linalg.norm(a), m.linalg.eigvalsh(a + a.mT), m.cdist(a, a)),
          a, Y[:, :3], atol=1e-7)


# --- nn layers ----------------------------------------------------------------------------------
def _mlp(m):
    m.manual_seed(0)
    return m.nn.Sequential(m.nn.Linear(5, 8), m.nn.Tanh(), m.nn.Linear(8, 2)).double()


def _cnn(m):
    m.manual_seed(0)
    return m.nn.Sequential(m.nn.Conv2d(2, 4, 3, padding=1), m.nn.ReLU(), m.nn.MaxPool2d(2),
                           m.nn.Flatten(-3), m.nn.Linear(4 * 2 * 3, 5)).double()


def test_modules_run_under_vmap():
    mods = {m: (_mlp(m), _cnn(m), m.nn.LayerNorm(6).double(), m.nn.GroupNorm(2, 2).double(),
                m.nn.BatchNorm2d(2).double().eval(),
                m.nn.BatchNorm2d(2, track_running_stats=False).double())
            for m in (tapegrad, torch)}
    check(lambda m, x: mods[m][0](x), X)
    check(lambda m, x: mods[m][0](x), Y)
    check(lambda m, x: mods[m][1](x), IMG)
    check(lambda m, x: [mod(x) for mod in mods[m][2:]], IMGN)


def test_convolutions_and_pools():
    check(lambda m, x: (F(m).conv2d(x, m.ones(4, 2, 3, 3, dtype=m.float64), m.ones(4), padding=1),
                        F(m).max_pool2d(x, 2), F(m).avg_pool2d(x, 2, stride=1),
                        F(m).adaptive_avg_pool2d(x, 1), F(m).max_pool2d(x, 2, return_indices=True),
                        F(m).interpolate(x, scale_factor=2), F(m).pad(x, (1, 1)),
                        F(m).pad(x, (1, 1, 2, 0), mode="reflect")), IMGN)
    check(lambda m, x: (F(m).conv1d(x[0], m.ones(3, 5, 2, dtype=m.float64)),
                        F(m).max_pool2d(x, 2)), IMG)


def test_convolution_with_per_sample_weights():
    check(lambda m, w, x: F(m).conv2d(x, w, stride=2), WT, IMG)
    check(lambda m, w, x, b: F(m).conv2d(x, w, b, padding="same"), WT, IMGN, RNG.standard_normal(
        (3, 4)))
    check(lambda m, w, x: F(m).conv2d(x, w, padding=1, groups=2), WT[:, :, :1].copy(), IMG,
          in_dims=(0, None))


def test_norms_embedding_attention():
    check(lambda m, x: (F(m).layer_norm(x, (6,)), F(m).layer_norm(x, (5, 6), m.ones(5, 6) * 2),
                        F(m).group_norm(x, 2), F(m).batch_norm(x, m.zeros(2), m.ones(2)),
                        F(m).batch_norm(x, None, None, m.ones(2), m.zeros(2), training=True),
                        F(m).instance_norm(x)), IMGN)
    check(lambda m, w, x: F(m).layer_norm(x, (6,), w, w), Y[:3, :1].repeat(6, 1), IMGN[:, 0, 0])
    check(lambda m, i, w: (F(m).embedding(i, m.arange(20.0).view(5, 4)), F(m).embedding(i, w)),
          IDX, RNG.standard_normal((4, 5, 2)))
    check(lambda m, q, k: (F(m).scaled_dot_product_attention(q, k, k),
                           F(m).cosine_similarity(q, k), F(m).pairwise_distance(q, k)),
          IMGN[:, :, 0], IMGN[:, :, 1])


def test_batch_norm_with_unbatched_running_stats_is_an_error_when_training():
    check_error(lambda m, x: F(m).batch_norm(x, m.zeros(2), m.ones(2), training=True), IMGN)


def test_model_ensembling_with_stacked_state():
    def prog(m):
        m.manual_seed(0)
        models = [m.nn.Linear(5, 3).double() for _ in range(4)]
        params, buffers = m.func.stack_module_state(models)
        base = m.nn.Linear(5, 3).double()

        def call(p, b, x):
            return m.func.functional_call(base, (p, b), (x,))

        x = _t(m, Z)
        return m.func.vmap(call, in_dims=(0, 0, None))(params, buffers, x)

    same(prog(tapegrad), prog(torch))


# --- losses -------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_elementwise_losses(reduction):
    check(lambda m, x, y: (F(m).mse_loss(x, y, reduction=reduction),
                           F(m).l1_loss(x, y, reduction=reduction),
                           F(m).smooth_l1_loss(x, y, reduction=reduction, beta=0.5),
                           F(m).huber_loss(x, y, reduction=reduction, delta=0.7),
                           F(m).binary_cross_entropy(x.sigmoid(), y.sigmoid(), reduction=reduction),
                           F(m).binary_cross_entropy_with_logits(
                               x, y.sigmoid(), pos_weight=m.ones(5) * 2, reduction=reduction),
                           F(m).soft_margin_loss(x, y.sign(), reduction=reduction),
                           F(m).poisson_nll_loss(x, y.exp(), reduction=reduction),
                           F(m).kl_div(x.log_softmax(-1), y.softmax(-1), reduction=(
                               "batchmean" if reduction == "mean" else reduction))),
          X, X[::-1].copy())


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_and_nll(reduction):
    w = np.array([1.0, 2.0, 0.5, 1.5, 3.0])
    check(lambda m, x, t: (F(m).cross_entropy(x, t, reduction=reduction),
                           F(m).cross_entropy(x, t, _t(m, w), reduction=reduction),
                           F(m).cross_entropy(x, t, ignore_index=2, reduction=reduction),
                           F(m).nll_loss(x.log_softmax(1), t, reduction=reduction),
                           F(m).cross_entropy(x[0], t[0], reduction=reduction),
                           F(m).cross_entropy(x, x.softmax(1), reduction=reduction)), X, IDX)
    check(lambda m, x, t: F(m).cross_entropy(x, t, reduction=reduction), IMGN[:, :, :, 0],
          RNG.integers(0, 2, (3, 4, 6)))


def test_loss_shape_mismatch_warns_or_raises_as_per_sample():
    def warns(m):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            _vm(m, lambda m, x, y: F(m).mse_loss(x, y[0]), [X, X])
        return [str(x.message) for x in w]

    assert warns(tapegrad) == [s.replace("torch.", "tapegrad.") for s in warns(torch)]
    check_error(lambda m, x, y: F(m).binary_cross_entropy(x.sigmoid(), y[0].sigmoid()), X, X)


# --- per-sample gradients and Jacobians -----------------------------------------------------------
def _per_sample_grads(m, xs, ys):
    model = _mlp(m)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, x, y):
        out = m.func.functional_call(model, p, (x.unsqueeze(0),))
        return F(m).cross_entropy(out, y.unsqueeze(0))

    return m.func.vmap(m.func.grad(loss), in_dims=(None, 0, 0))(params, xs, ys)


def test_per_sample_gradients_of_an_mlp():
    ys = IDX[:, 0] % 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every op has a batching rule
        ours = _per_sample_grads(tapegrad, _t(tapegrad, Y), _t(tapegrad, ys))
    same(ours, _per_sample_grads(torch, _t(torch, Y), _t(torch, ys)))
    # each sample's own gradient (not the batch sum): against central differences
    model = _mlp(tapegrad)
    names = [k for k, _ in model.named_parameters()]
    arrays = [v.detach().numpy() for _, v in model.named_parameters()]
    for i in (0, 3):
        def fn(arrs, i=i):
            p = {k: tapegrad.tensor(a) for k, a in zip(names, arrs)}
            out = tapegrad.func.functional_call(model, p, (tapegrad.tensor(Y[i:i + 1]),))
            return [F(tapegrad).cross_entropy(out, tapegrad.tensor(ys[i:i + 1])).numpy()]

        num = numeric_vjp(fn, arrays, list(range(len(arrays))), [np.ones(())], 1e-6)
        for k, g in zip(names, num):
            np.testing.assert_allclose(ours[k][i].numpy(), g, atol=1e-7, rtol=1e-6)


def test_per_sample_gradients_of_a_cnn():
    def prog(m):
        net = _cnn(m)
        params = {k: v.detach() for k, v in net.named_parameters()}

        def loss(p, x, y):
            out = m.func.functional_call(net, p, (x.unsqueeze(0),))
            return F(m).cross_entropy(out, y.unsqueeze(0))

        return m.func.vmap(m.func.grad(loss), in_dims=(None, 0, 0))(
            params, _t(m, IMG), _t(m, IDX[:3, 0]))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every op has a batching rule
        ours = prog(tapegrad)
    same(ours, prog(torch))


def test_grad_vjp_jvp_under_vmap():
    a = _t(tapegrad, Z[:, :3])

    def f(m):
        return lambda x: (x.sin() * x).sum()

    check(lambda m, x: m.func.grad(f(m))(x), X)
    check(lambda m, x: m.func.grad(lambda w: (w @ x[:3]).tanh().sum())(_t(m, Z[:, :3])), X)
    check(lambda m, x, w: m.func.grad(lambda x, w: (x * w).sin().sum(), argnums=(0, 1))(x, w),
          X, Z, in_dims=(0, None))
    check(lambda m, x: m.func.grad_and_value(lambda x: ((x ** 2).sum(), x.cos()),
                                             has_aux=True)(x), X)
    check(lambda m, x, c: m.func.vjp(lambda y: y.sin() * 2, x)[1](c), X, X)
    check(lambda m, x, c: m.func.vjp(lambda y: y.sin() * 2, x)[0], X, X)
    check(lambda m, x, t: m.func.jvp(lambda y: y.sin() * y, (x,), (t,)), X, X)
    del a


def test_batched_jacobians():
    a = Z[:, :3]
    check(lambda m, x: m.func.jacrev(lambda v: (_t(m, a) @ v).sin())(x), Y[:, :3])
    check(lambda m, x: m.func.jacfwd(lambda v: (_t(m, a) @ v).sin())(x), Y[:, :3])
    check(lambda m, x: m.func.hessian(lambda v: (v.sin() ** 2).sum())(x), Y[:, :3])
    same(tapegrad.func.jacrev(tapegrad.func.vmap(lambda r: (r * 2).sin()))(_t(tapegrad, Y)),
         torch.func.jacrev(torch.func.vmap(lambda r: (r * 2).sin()))(_t(torch, Y)))
    # vmap over a vjp_fn made outside vmap: one backward pass per cotangent (a loop)
    for m in (tapegrad, torch):
        _, fn = m.func.vjp(lambda y: y.sin(), _t(m, Y[0]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = m.func.vmap(fn)(m.eye(5, dtype=m.float64))
        if m is tapegrad:
            ours = r
    same(ours, r)


def test_vmap_output_is_differentiable():
    def prog(m):
        x = _t(m, X).requires_grad_()
        w = _t(m, Y[0]).requires_grad_()
        out = m.func.vmap(lambda r: (r * w).sin().sum(0) @ w, in_dims=1)(x)
        out.sum().backward()
        return out, x.grad, w.grad

    same(prog(tapegrad), prog(torch))


def test_nested_vmap():
    check(lambda m, x: m.func.vmap(lambda r: r.sum() * r)(x), X)
    check(lambda m, x, y: m.func.vmap(lambda r: r @ y)(x), X, Y)
    check(lambda m, x, y: m.func.vmap(lambda r, s: r * s + r.sum(), in_dims=(1, None))(x, y.T),
          X, Y[:, :3].copy())
    same(tapegrad.func.vmap(tapegrad.func.vmap(tapegrad.func.vmap(lambda a: a.exp().sum())))(
        _t(tapegrad, X)), torch.func.vmap(torch.func.vmap(torch.func.vmap(
            lambda a: a.exp().sum())))(_t(torch, X)))
    check(lambda m, x, w: m.func.vmap(m.func.grad(lambda x, w: (x * w).sin().sum()),
                                      in_dims=(None, 0))(x, w), X, Y)
    check(lambda m, x: m.func.grad(lambda w: m.func.vmap(lambda r: (r * w).sin().sum())(x)
                                   .sum())(_t(m, Y[0])), X)


# --- in_dims, out_dims, chunks ------------------------------------------------------------------
def test_in_dims_and_out_dims():
    check(lambda m, x: x * 2, X, in_dims=-1)
    check(lambda m, x: x * 2, X, out_dims=2)
    check(lambda m, x: x * 2, X, out_dims=-1)
    check(lambda m, x: (x * 2, x.sum(0)), X, out_dims=(1, 0))
    check(lambda m, x: (x, m.ones(2)), X, out_dims=(0, None))
    check(lambda m, x: m.ones(2), X)
    check(lambda m, x, y: x * y, X, Y[0], in_dims=(0, None))

    def tree(m):
        fn = m.func.vmap(lambda d, t: {"a": d["p"] * t[0], "b": [d["q"], t[1]]},
                         in_dims=({"p": 0, "q": None}, (1, 0)), out_dims={"a": 1, "b": 0})
        return fn({"p": _t(m, X), "q": _t(m, Z)}, (_t(m, X.transpose(1, 0, 2)), _t(m, Y)))

    same(tree(tapegrad), tree(torch))
    check(lambda m, x: x, X, in_dims=(0,), out_dims=(0,))


def test_ops_passed_directly_to_vmap():
    import functools

    cases = [(lambda m: m.dot, 2), (lambda m: F(m).relu, 1), (lambda m: m.Tensor.sum, 1),
             (lambda m: m.Tensor.__mul__, 2), (lambda m: m.ones(5).add, 1),
             (lambda m: functools.partial(F(m).softmax, dim=-1), 1)]
    for fn, n in cases:
        same(tapegrad.func.vmap(fn(tapegrad))(*[_t(tapegrad, Y)] * n),
             torch.func.vmap(fn(torch))(*[_t(torch, Y)] * n))


def _square_fn(m, kind: str):
    class Square(m.autograd.Function):
        @staticmethod
        def forward(x):
            return x * x

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * g * x

    if kind == "generate":
        Square.generate_vmap_rule = True
    elif kind == "rule":
        def vmap_rule(info, in_dims, x):
            return Square.apply(x), in_dims[0]

        Square.vmap = staticmethod(vmap_rule)
    return Square


@pytest.mark.parametrize("kind", ["generate", "rule"])
def test_custom_autograd_function(kind):
    check(lambda m, x: _square_fn(m, kind).apply(x), X)
    sq = {m: _square_fn(m, kind) for m in (tapegrad, torch)}
    check(lambda m, x: m.func.grad(lambda v: sq[m].apply(v).sin().sum())(x), X)
    same(tapegrad.func.vmap(sq[tapegrad].apply, in_dims=1)(_t(tapegrad, X)),
         torch.func.vmap(sq[torch].apply, in_dims=1)(_t(torch, X)))


def test_custom_autograd_function_without_vmap_support_is_an_error():
    check_message(lambda m: _vm(m, lambda m, x: _square_fn(m, "none").apply(x), [X]))

    def old_style(m):
        class Twice(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * 2

        return Twice

    check_message(lambda m: _vm(m, lambda m, x: old_style(m).apply(x), [X]))


def test_kwargs_are_not_batched():
    for m in (tapegrad, torch):
        r = m.func.vmap(lambda x, s=1.0: x * s)(_t(m, X), s=_t(m, Z))
        if m is tapegrad:
            ours = r
    same(ours, r)


@pytest.mark.parametrize("chunk", [1, 3, 10])
def test_chunk_size(chunk):
    check(lambda m, x, y: (x @ y, x.sum(0)), X, Y, chunk_size=chunk)


# --- randomness -----------------------------------------------------------------------------------
def test_randomness_modes():
    x = tapegrad.ones(4, 3, 5)
    vm = tapegrad.func.vmap
    tapegrad.manual_seed(0)
    d = vm(lambda r: r * tapegrad.rand(5), randomness="different")(x)
    assert d.shape == (4, 3, 5) and not np.allclose(d[0].numpy(), d[1].numpy())
    s = vm(lambda r: r * tapegrad.rand(5), randomness="same")(x)
    assert np.allclose(s[0].numpy(), s[3].numpy())
    dr = vm(lambda r: F(tapegrad).dropout(r, 0.5), randomness="different")(x)
    assert not np.allclose(dr[0].numpy(), dr[1].numpy())
    assert set(np.unique(dr.numpy())) <= {0.0, 2.0}
    sr = vm(lambda r: F(tapegrad).dropout(r, 0.5), randomness="same")(x)
    assert np.allclose(sr[0].numpy(), sr[2].numpy())
    like = vm(lambda r: tapegrad.rand_like(r), randomness="same")(x)
    assert np.allclose(like[0].numpy(), like[1].numpy())
    b = vm(lambda r: r.clone().normal_(), randomness="different")(x)
    assert not np.allclose(b[0].numpy(), b[1].numpy())
    nb = vm(lambda r: r * tapegrad.randn(3, 5), randomness="different", chunk_size=3)(x)
    assert nb.shape == (4, 3, 5)
    same(vm(lambda r: F(tapegrad).dropout(r, 0.5, training=False))(x), x)
    nested = vm(vm(lambda r: r + tapegrad.rand(()), randomness="different"),
                randomness="different")(x)
    assert len(np.unique(nested.numpy())) == 12  # one draw per (outer, inner) sample
    chunked = vm(lambda r: r * tapegrad.rand(5), randomness="same", chunk_size=3)(x)
    assert np.allclose(chunked[0].numpy(), chunked[3].numpy())
    # the per-sample loop (an op without a rule) replays the generator for 'same'
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = tapegrad.ones(4, 6, 3)
        sd = vm(lambda r: F(tapegrad).scaled_dot_product_attention(r, r, r, dropout_p=0.5),
                randomness="same")(q)
        dd = vm(lambda r: F(tapegrad).scaled_dot_product_attention(r, r, r, dropout_p=0.5),
                randomness="different")(q)
    assert np.allclose(sd[0].numpy(), sd[3].numpy())
    assert not np.allclose(dd[0].numpy(), dd[1].numpy())


def test_randomness_errors():
    check_error(lambda m, x: x + m.rand(5), X)
    check_error(lambda m, x: m.rand_like(x), X)
    check_error(lambda m, x: F(m).dropout(x, 0.5), X)
    check_error(lambda m, x: m.bernoulli(x.sigmoid()), X, randomness="same")
    check_error(lambda m, x: F(m).scaled_dot_product_attention(x, x, x, dropout_p=0.5), X)
    check_message(lambda m: _vm(m, lambda m, x: x + m.zeros(5).normal_(), [X],
                                randomness="different"))
    same_error(lambda m: m.func.vmap(lambda x: x, randomness="foo"))


# --- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("prog", [
    lambda m, x: x.sum().item(),
    lambda m, x: x if x.sum() > 0 else -x,
    lambda m, x: float(x.sum()),
    lambda m, x: x.tolist(),
    lambda m, x: x.sum().backward(),
    lambda m, x: x.requires_grad_(),
    lambda m, x: F(m).one_hot(x.long().abs()),
])
def test_data_dependent_and_unsupported_calls_raise(prog):
    check_message(lambda m: _vm(m, prog, [X]))


@pytest.mark.parametrize("call", [
    lambda m: m.func.vmap(lambda: 1)(),
    lambda m: m.func.vmap(lambda t: t)(3),
    lambda m: m.func.vmap(lambda a, b: a + b)(m.ones(3, 2), m.ones(2, 2)),
    lambda m: m.func.vmap(lambda t: t, in_dims=[0])(m.ones(3)),
    lambda m: m.func.vmap(lambda a, b: a, in_dims=(0,))(m.ones(3), m.ones(3)),
    lambda m: m.func.vmap(lambda t: t, in_dims=2)(m.ones(3, 2)),
    lambda m: m.func.vmap(lambda t: t, in_dims=(0.5,))(m.ones(3)),
    lambda m: m.func.vmap(lambda t: t, in_dims=None)(m.ones(3)),
    lambda m: m.func.vmap(lambda t: t, in_dims=(None,))(m.ones(3)),
    lambda m: m.func.vmap(lambda t: t, out_dims=None)(m.ones(3)),
    lambda m: m.func.vmap(lambda t: 3)(m.ones(3)),
    lambda m: m.func.vmap(lambda t: (t, t), out_dims=(0, 0, 0))(m.ones(3)),
    lambda m: m.func.vmap(lambda t: t, out_dims="a")(m.ones(3)),
    lambda m: m.func.vmap(lambda t: t, out_dims=3)(m.ones(3, 2)),
    lambda m: m.func.vmap(lambda t: t, chunk_size=0),
    lambda m: m.func.vmap(lambda a: m.func.vmap(lambda b: a, out_dims=None)(m.ones(2)))(
        m.ones(3)),
])
def test_api_errors(call):
    same_error(call)


def test_outputs_with_unbatched_values_are_expanded():
    check(lambda m, x: (m.ones(2), x.new_zeros(2), x.sum() * 0 + 1), X)
    assert tapegrad.func.vmap(lambda x: 3, out_dims=None)(tapegrad.ones(3)) == 3


# --- fallback -------------------------------------------------------------------------------------
def test_ops_without_a_rule_loop_over_the_samples_with_a_warning():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ours = _vm(tapegrad, lambda m, x: m.polar(x.abs(), x), [X])
    msgs = [str(x.message) for x in w]
    assert msgs == [f"{PERF} tapegrad.polar. Please file us an issue on GitHub so that we can "
                    "prioritize its implementation."]
    same(ours, _vm(torch, lambda m, x: m.polar(x.abs(), x), [X]))
    check(lambda m, x: F(m).cross_entropy(x, x.softmax(1), label_smoothing=0.1), X, rules=False)


def test_batched_tensor_shows_the_logical_tensor():
    seen = {}

    def f(x):
        seen.update(shape=x.shape, size=x.size(1), dim=x.dim(), ndim=x.ndim, numel=x.numel(),
                    len=len(x), dtype=x.dtype, tensor=isinstance(x, tapegrad.Tensor),
                    items=[tuple(r.shape) for r in x])
        seen["repr"] = repr(x)
        return x

    tapegrad.func.vmap(f)(tapegrad.zeros(2, 3, 5))
    assert seen["shape"] == (3, 5) and seen["size"] == 5 and seen["dim"] == seen["ndim"] == 2
    assert seen["numel"] == 15 and seen["len"] == 3 and seen["tensor"]
    assert seen["items"] == [(5,)] * 3
    assert seen["repr"].startswith("BatchedTensor(lvl=")


def test_nothing_changes_outside_vmap():
    sin, add, linear = tapegrad.sin, tapegrad.Tensor.__add__, F(tapegrad).linear
    tapegrad.func.vmap(lambda x: x.sin() + 1)(tapegrad.ones(2, 2))
    with pytest.raises(RuntimeError):
        tapegrad.func.vmap(lambda x: x.item())(tapegrad.ones(2))
    assert (tapegrad.sin, tapegrad.Tensor.__add__, F(tapegrad).linear) == (sin, add, linear)


# --- autograd.grad(..., is_grads_batched=True) ---------------------------------------------------
def test_is_grads_batched():
    def prog(m):
        x = _t(m, Y[0]).requires_grad_()
        w = _t(m, Z).requires_grad_()
        out = (w @ x).sin()
        g = m.autograd.grad(out, (x, w), m.eye(3, dtype=m.float64), retain_graph=True,
                            is_grads_batched=True)
        (hx,) = m.autograd.grad((x ** 3).sum(), x, create_graph=True)
        h = m.autograd.grad(hx, x, m.eye(5, dtype=m.float64), is_grads_batched=True)
        return g, h

    same(prog(tapegrad), prog(torch))
    same_error(lambda m: m.autograd.grad((_t(m, Y[0]).requires_grad_() * 2), [m.ones(1)],
                                         m.ones(2, 3), is_grads_batched=True))
    same_error(lambda m: (lambda x: m.autograd.grad(x * 2, x, m.ones(2, 3),
                                                    is_grads_batched=True))(
        m.ones(5, requires_grad=True)))


# --- the op table under vmap ----------------------------------------------------------------------
def _arrays_of(tree) -> list:
    out: list = []

    def walk(a):
        if isinstance(a, (np.ndarray, np.generic)):
            out.append(np.asarray(a))
        elif isinstance(a, dict):
            for v in a.values():
                walk(v)
        elif isinstance(a, (list, tuple)) and not hasattr(a, "_fields"):
            for v in a:
                walk(v)

    walk(tree)
    return out


def _fill(tree, values):
    it = iter(values)

    def walk(a):
        if isinstance(a, (np.ndarray, np.generic)):
            return next(it)
        if isinstance(a, dict):
            return {k: walk(v) for k, v in a.items()}
        if isinstance(a, list):
            return [walk(v) for v in a]
        if type(a) is tuple:
            return tuple(walk(v) for v in a)
        return a

    return walk(tree)


def _leaves(o) -> list:
    if isinstance(o, (tuple, list)):
        return [y for x in o for y in _leaves(x)]
    return [o]


# rows that draw random numbers (vmap's default randomness='error' refuses them) or whose
# result has a data-dependent shape (refused by vmap, as in PyTorch)
_REFUSED = ("dropout", "nonzero", "masked_select", "argwhere", "sdpa_dropout", "unique")


def test_op_table_rows_match_a_loop_over_the_samples():
    """Every op-table row, on a batch of 3 samples (every array argument batched): vmap gives
    what the per-sample loop gives; most rows run on batching rules (no fallback)."""
    from op_db import gather as rows

    counts = {"rule": 0, "fallback": 0}
    bad = []
    for row in rows():
        groups = [row.samples(np.random.default_rng(s)) for s in (1, 2, 3)]
        for j, smp in enumerate(groups[0][:2]):
            arrs = [_arrays_of((g[j].args, g[j].kwargs)) for g in groups]
            if not arrs[0] or any(len(a) != len(arrs[0]) or any(
                    x.shape != y.shape or x.dtype != y.dtype for x, y in zip(a, arrs[0]))
                    for a in arrs):
                continue

            def call(vals, smp=smp, row=row):
                args, kw = _fill((smp.args, smp.kwargs), vals)
                return row.fn(tapegrad, *args, **kw)

            try:
                ref = [call([_t(tapegrad, a) for a in arrs[i]]) for i in range(3)]
            except Exception:  # noqa: BLE001 - rows whose samples differ in validity
                continue
            batched = [_t(tapegrad, np.stack([a[k] for a in arrs])) for k in range(len(arrs[0]))]
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                try:
                    out = tapegrad.func.vmap(lambda *v, call=call: call(list(v)))(*batched)
                except RuntimeError as e:
                    if any(r in row.name for r in _REFUSED) and "vmap" in str(e):
                        continue
                    bad.append((row.name, smp.desc, str(e)[:120]))
                    continue
            got, want = _leaves(out), [_leaves(r) for r in ref]
            for k, o in enumerate(got):
                expect = np.stack([to_np(want[i][k]) for i in range(3)])
                if tuple(o.shape) != expect.shape or not np.allclose(
                        to_np(o), expect, atol=1e-7, rtol=1e-6, equal_nan=True):
                    bad.append((row.name, smp.desc, "values"))
                    break
            perf = any(PERF in str(x.message) for x in w)
            counts["fallback" if perf else "rule"] += 1
    assert not bad, bad
    assert counts["rule"] > 80 * counts["fallback"], counts


def to_np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)

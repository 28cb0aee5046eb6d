"""vmap of ops without a batching rule through their own decomposition (the op's body run on
the batched values), and the batching rules of the ops that could not run that way.

Each program is checked three ways: tapegrad.func.vmap gives the per-sample loop's result
(the program run on one sample at a time, stacked) and torch.func.vmap's result, and no op
fell back to the loop (no performance warning). A decomposition that fails falls back with
one performance warning per call, no duplicated warnings and unchanged inputs; one that
would draw random numbers falls back without drawing them.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import tapegrad
from _helpers import same

torch = pytest.importorskip("torch")

PERF = "There is a performance drop because we have not yet implemented the batching rule for"
RNG = np.random.default_rng(11)


def _t(m, a):
    a = np.asarray(a)
    return m.tensor(a, dtype=m.float64) if a.dtype.kind == "f" else m.tensor(a)


def _leaves(o) -> list:
    if isinstance(o, (tuple, list)):
        return [y for x in o for y in _leaves(x)]
    return [o]


def _vmap(m, prog, arrays, in_dims):
    return m.func.vmap(lambda *a: prog(m, *a), in_dims=in_dims)(*[_t(m, a) for a in arrays])


def check(prog, *arrays, in_dims=0, vs_torch=True):
    """vmap(prog) over the arrays: the per-sample loop's result, torch.func.vmap's (unless
    vs_torch is False), and no performance warning."""
    dims = in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(arrays)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ours = _vmap(tapegrad, prog, arrays, dims)
    perf = [str(x.message) for x in w if PERF in str(x.message)]
    assert not perf, perf
    n = next(np.shape(a)[0] for a, d in zip(arrays, dims) if d == 0)
    loop = [prog(tapegrad, *[_t(tapegrad, a[i] if d == 0 else a) for a, d in zip(arrays, dims)])
            for i in range(n)]
    for k, o in enumerate(_leaves(ours)):
        want = np.stack([_leaves(r)[k].detach().numpy() for r in loop])
        np.testing.assert_allclose(o.detach().numpy(), want, rtol=1e-7, atol=1e-10)
    if vs_torch:
        same(ours, _vmap(torch, prog, arrays, dims), atol=1e-8, rtol=1e-6)
    return ours


def check_grad(prog, *arrays, in_dims=0, argnums=0, vs_torch=True):
    """Per-sample gradients, vmap(grad(sum of prog)): those of the per-sample loop, and
    torch's (unless vs_torch is False)."""
    dims = in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(arrays)

    def per_sample(m):
        f = m.func.grad(lambda *a: prog(m, *a).sum(), argnums=argnums)
        return m.func.vmap(f, in_dims=dims)(*[_t(m, a) for a in arrays])

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ours = per_sample(tapegrad)
    assert not [x for x in w if PERF in str(x.message)]
    f = tapegrad.func.grad(lambda *a: prog(tapegrad, *a).sum(), argnums=argnums)
    n = next(np.shape(a)[0] for a, d in zip(arrays, dims) if d == 0)
    loop = [f(*[_t(tapegrad, a[i] if d == 0 else a) for a, d in zip(arrays, dims)])
            for i in range(n)]
    for k, o in enumerate(_leaves(ours)):
        want = np.stack([_leaves(r)[k].numpy() for r in loop])
        np.testing.assert_allclose(o.numpy(), want, rtol=1e-7, atol=1e-10)
    if vs_torch:
        same(ours, per_sample(torch), atol=1e-8, rtol=1e-6)


def F(m):
    return m.nn.functional


B = 4
X = RNG.standard_normal((B, 3, 5))
X2 = RNG.standard_normal((B, 3, 5))
Y = np.where(RNG.standard_normal((B, 3)) > 0, 1.0, -1.0)


# --- composite ops: their own body on the batched values ---------------------------------------
@pytest.mark.parametrize("prog", [
    lambda m, a, b, y: F(m).cosine_embedding_loss(a, b, y, margin=0.2),
    lambda m, a, b, y: F(m).cosine_embedding_loss(a, b, y, reduction="none"),
    lambda m, a, b, y: F(m).triplet_margin_loss(a, b, a * y[:, None], swap=True),
    lambda m, a, b, y: F(m).triplet_margin_with_distance_loss(a, b, b.flip(0)),
    lambda m, a, b, y: F(m).multilabel_soft_margin_loss(a, (b > 0).double()),
    lambda m, a, b, y: F(m).kl_div(a.log_softmax(1), b.softmax(1), reduction="batchmean"),
], ids=["cosine_embedding", "cosine_embedding_none", "triplet", "triplet_distance",
        "multilabel_soft_margin", "kl_div"])
def test_composite_ops_match_the_loop_and_torch(prog):
    check(prog, X, X2, Y)


def test_composite_with_unbatched_arguments_and_gradients():
    check(lambda m, a, b, y: F(m).cosine_embedding_loss(a, b, y), X, X2[0], Y[0],
          in_dims=(0, None, None))
    check_grad(lambda m, a, b, y: F(m).cosine_embedding_loss(a, b, y), X, X2, Y)
    check_grad(lambda m, a, b: F(m).triplet_margin_loss(a, b, b * 2), X, X2, argnums=1)


def test_composite_under_nested_vmap():
    prog = lambda m, a, b: m.func.vmap(  # noqa: E731
        lambda u, v: F(m).cosine_embedding_loss(u, v, m.ones(5)))(a, b)
    check(prog, RNG.standard_normal((2, 3, 5, 4)), RNG.standard_normal((2, 3, 5, 4)))


def test_successful_composite_replays_its_warnings_once():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        tapegrad.func.vmap(lambda x: F(tapegrad).kl_div(x, x))(_t(tapegrad, X))
    msgs = [str(x.message) for x in w]
    assert len(msgs) == 1 and "reduction: 'mean' divides the total loss" in msgs[0], msgs
    assert PERF not in msgs[0]


def test_composite_is_faster_than_the_loop():
    import time

    import tapegrad.func._batching_composite as comp

    a, b, y = (_t(tapegrad, v) for v in (RNG.standard_normal((64, 8, 16)),
                                         RNG.standard_normal((64, 8, 16)),
                                         np.where(RNG.standard_normal(8) > 0, 1.0, -1.0)))
    f = tapegrad.func.vmap(lambda p, q: F(tapegrad).cosine_embedding_loss(p, q, y))

    def best():
        f(a, b)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            f(a, b)
            times.append(time.perf_counter() - t0)
        return min(times)

    fast = best()
    eligible = comp._eligible
    comp._eligible = lambda *args: False  # the loop
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slow = best()
    finally:
        comp._eligible = eligible
    assert fast * 3 < slow, (fast, slow)


# --- decompositions that fail, and what an attempt may not do ------------------------------------
def _call_op(name, fn, *args, **kwargs):
    """fn run as a dispatched op without a rule named `name` (as vmap runs ops)."""
    from tapegrad.func._batching_dispatch import Op, batched_call

    op = Op(name, f"tapegrad.{name}", fn, None, False)
    return batched_call(op, args, kwargs)


def test_failing_composite_falls_back_with_one_warning_per_call():
    x, y = _t(tapegrad, X), _t(tapegrad, X2)
    before = (x.numpy().copy(), y.numpy().copy(), x._version, y._version)
    for _ in range(2):  # the second call goes straight to the loop (the failure is cached)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            out = tapegrad.func.vmap(lambda a, b: tapegrad.polar(a.abs(), b))(x, y)
        assert [str(m.message) for m in w] == [
            f"{PERF} tapegrad.polar. Please file us an issue on GitHub so that we can "
            "prioritize its implementation."]
        same(out, torch.polar(torch.tensor(X).abs(), torch.tensor(X2)))
    assert np.array_equal(x.numpy(), before[0]) and np.array_equal(y.numpy(), before[1])
    assert (x._version, y._version) == before[2:]


def test_failed_attempt_shows_each_of_its_warnings_once():
    def op(x):
        warnings.warn("op warning", UserWarning, stacklevel=2)
        x._data  # fails on a batched tensor  # noqa: B018
        return x * 2

    def run(action):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter(action)
            tapegrad.func.vmap(lambda x: _call_op("op1", op, x))(_t(tapegrad, X))
        return [str(m.message) for m in w]

    # "always": the loop's own 4 (one per sample); "default": shown once, by the attempt
    assert run("always").count("op warning") == B
    assert run("default").count("op warning") == 1
    assert sum(PERF in m for m in run("always")) == 1


def test_inner_fallback_warnings_of_a_failed_attempt_are_dropped():
    def op(x):
        y = tapegrad.polar(x.abs(), x)  # an inner op that falls back (and warns)
        y._data  # then the attempt fails  # noqa: B018
        return y

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        tapegrad.func.vmap(lambda x: _call_op("op2", op, x))(_t(tapegrad, X))
    assert [str(m.message) for m in w] == [
        f"{PERF} tapegrad.op2. Please file us an issue on GitHub so that we can prioritize its "
        "implementation."]


def test_attempt_that_mutated_an_input_refuses_to_loop():
    acc = tapegrad.zeros(5, dtype=tapegrad.float64)

    def op(x, acc):
        acc.add_(1.0)
        x._data  # noqa: B018
        return x

    with pytest.raises(RuntimeError, match="changed one of its arguments in place"):
        tapegrad.func.vmap(lambda x: _call_op("op3", op, x, acc))(_t(tapegrad, X))


def test_inplace_and_mutating_ops_are_not_attempted():
    import tapegrad.func._batching_composite as comp
    from tapegrad.func._batching_dispatch import Op

    plain = Op("op4", "tapegrad.op4", lambda x: x, None, False)
    assert comp._eligible(plain, (1,), {})
    assert not comp._eligible(Op("op4_", "tapegrad.op4_", lambda x: x, None, False), (1,), {})
    assert not comp._eligible(plain, (1,), {"out": tapegrad.zeros(1)})
    bn = Op("batch_norm", "tapegrad.nn.functional.batch_norm", F(tapegrad).batch_norm, None,
            False)
    assert not comp._eligible(bn, (tapegrad.ones(2, 3), tapegrad.zeros(3), tapegrad.ones(3)), {})
    relu = Op("relu", "tapegrad.nn.functional.relu", F(tapegrad).relu, None, False)
    assert not comp._eligible(relu, (tapegrad.ones(2),), {"inplace": True})
    assert comp._eligible(relu, (tapegrad.ones(2),), {"inplace": False})


def test_attempt_does_not_draw_random_numbers():
    def op(x):
        return x * 2 + tapegrad.rand(())  # would draw one batch of numbers under vmap

    x = _t(tapegrad, X)
    tapegrad.manual_seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = tapegrad.func.vmap(lambda v: _call_op("op5", op, v), randomness="different")(x)
    after = tapegrad.rand(())
    tapegrad.manual_seed(3)
    want = tapegrad.stack([x[i] * 2 + tapegrad.rand(()) for i in range(B)])
    same(out, want, atol=0, rtol=0)  # the loop's draws, in the loop's order
    same(after, tapegrad.rand(()), atol=0, rtol=0)


def test_composites_in_two_threads():
    a, b, y = _t(tapegrad, X), _t(tapegrad, X2), _t(tapegrad, Y)
    want = torch.func.vmap(torch.nn.functional.cosine_embedding_loss)(
        torch.tensor(X), torch.tensor(X2), torch.tensor(Y))
    results, errors = [], []

    def work():
        try:
            for _ in range(20):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    results.append(tapegrad.func.vmap(F(tapegrad).cosine_embedding_loss)(a, b, y))
                    tapegrad.func.vmap(lambda v: tapegrad.polar(v.abs(), v))(a)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    shown = warnings._showwarnmsg
    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 40
    for r in results:
        same(r, want)
    assert warnings._showwarnmsg is shown  # the hook is gone once no attempt runs


# --- rules for ops that could not run as their decomposition -------------------------------------
I3 = np.array([[2, 0, 2], [1, 1, 0], [0, 2, 1], [2, 2, 2]])
M = RNG.standard_normal((B, 3, 4))


@pytest.mark.parametrize("prog,arrays,dims", [
    (lambda m, x, i, s: x.index_add(0, i, s, alpha=2.0), (M, I3, M), 0),
    (lambda m, x, i, s: x.index_add(1, i, s.mT), (M[0].T.copy(), I3, M), (None, 0, 0)),
    (lambda m, x, i, s: m.index_copy(x, 0, i, s[0, :2]), (M, np.array([[2, 0], [1, 0], [0, 1],
                                                                      [2, 1]]), M), (0, 0, None)),
    (lambda m, x, i: x.index_fill(1, i, -1.5), (M, I3), 0),
    (lambda m, x, i, v: x.index_fill(0, i[:1], v), (M, I3, RNG.standard_normal(B)), 0),
    (lambda m, x, i, s: x.put(i, s[0, :3]), (M, I3, M), 0),
    (lambda m, x, i, s: x.put(i, s[0, 0, :3], accumulate=True), (M, I3, M), (0, 0, None)),
    (lambda m, x, k, s: x.masked_scatter(k, s), (M, M > 0, RNG.standard_normal((B, 12))), 0),
    (lambda m, x, k, s: x.masked_scatter(k, s), (M[0, 0], M > 0, M), (None, 0, 0)),
    (lambda m, x, i: m.take_along_dim(x, i.reshape(1, 3), 1), (M, I3), 0),
    (lambda m, x, i: m.take_along_dim(x, i.reshape(3, 1), 1), (M[0], I3), (None, 0)),
    (lambda m, s, v: m.searchsorted(s, v), (np.sort(M[:, 0], -1), M), 0),
    (lambda m, s, v: m.searchsorted(s, v, side="right"), (np.sort(M, -1), M), 0),
    (lambda m, s, v: m.searchsorted(s, v, right=True), (np.sort(M, -1)[0], M), (None, 0)),
    (lambda m, v, s: m.bucketize(v, s, out_int32=True), (M, np.sort(M[:, 0], -1)), 0),
    (lambda m, x, r: x.repeat_interleave(r), (M, np.tile(np.arange(12) % 3, (B, 1))), 0),
], ids=["index_add", "index_add_x", "index_copy", "index_fill", "index_fill_tensor", "put",
        "put_acc", "masked_scatter", "masked_scatter_x", "take_along_dim", "take_along_x",
        "searchsorted", "searchsorted_nd", "searchsorted_seq", "bucketize", "repeat_interleave"])
def test_index_rules(prog, arrays, dims):
    check(prog, *arrays, in_dims=dims)


def test_index_fill_with_negative_batched_indices():
    # (torch.func.vmap mixes up the samples here: the per-sample loop is the reference)
    check(lambda m, x, i: x.index_fill(1, i - 2, -1.5), M, I3, vs_torch=False)
    check(lambda m, x, i: x.put(i - 12, x[0, :3]), M, I3, vs_torch=False)


def test_index_rule_gradients_and_errors():
    check_grad(lambda m, x, i, s: x.index_add(0, i, s), M, I3, M, argnums=(0, 2))
    check_grad(lambda m, x, k, s: x.masked_scatter(k, s), M, M > 0, M, argnums=(0, 2))
    check_grad(lambda m, x, i, s: x.put(i, s[0, :3]), M, I3, M, argnums=(0, 2))
    bad = np.array([[0, 3, 1]] * B)  # out of range for dim 0 (size 3): the op's own error,
    # as one sample gives it (torch.func.vmap reports its internal flattened sizes instead)
    for prog in (lambda m, x, i: x.index_add(0, i, x), lambda m, x, i: x.index_fill(0, i, 1.0)):
        with pytest.raises((RuntimeError, IndexError)) as ours, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _vmap(tapegrad, prog, (M[:, :, :3], bad), (0, 0))
        with pytest.raises((RuntimeError, IndexError)) as theirs:
            prog(torch, torch.tensor(M[0, :, :3]), torch.tensor(bad[0]))
        assert type(ours.value) is type(theirs.value)
        assert str(ours.value) == str(theirs.value).replace("torch.", "tapegrad.")


SQ = RNG.standard_normal((B, 3, 3)) + 3 * np.eye(3)


@pytest.mark.parametrize("prog,arrays,dims", [
    (lambda m, a, b: m.kron(a, b), (M[:, :2], M[:, 0]), 0),
    (lambda m, a, b: m.tensordot(a, b, dims=([1], [0])), (M, M[:, 0]), (0, None)),
    (lambda m, a, b: m.tensordot(a, b, dims=1), (M, M.transpose(0, 2, 1)), 0),
    (lambda m, a, b: m.meshgrid(a, b, indexing="xy"), (M[:, 0], M[:, 1, :2]), 0),
    (lambda m, a, b: m.einsum(a, [0, 1], b, [1, Ellipsis]), (M, M.transpose(0, 2, 1)), 0),
    (lambda m, a, w: F(m).bilinear(a, a[:, :2], w), (M, RNG.standard_normal((B, 5, 4, 2))), 0),
    (lambda m, x: m.linalg.vander(x, N=4), (M[:, 0],), 0),
    (lambda m, a: m.linalg.tensorinv(a.reshape(3, 3, 1), ind=1), (SQ,), 0),
    (lambda m, a, b: m.linalg.tensorsolve(a.reshape(3, 3, 1), b), (SQ, M[:, :, 0]), 0),
    (lambda m, x: F(m).pdist(x, 1.5), (M,), 0),
    (lambda m, x: m.renorm(x, 2, 0, 1.0), (M,), 0),
], ids=["kron", "tensordot", "tensordot_int", "meshgrid", "einsum_sublist", "bilinear",
        "vander", "tensorinv", "tensorsolve", "pdist", "renorm"])
def test_rules_of_shape_reading_composites(prog, arrays, dims):
    check(prog, *arrays, in_dims=dims)


def test_shape_reading_composite_gradients():
    check_grad(lambda m, a, b: m.kron(a, b), M[:, :2], M[:, 0], argnums=(0, 1))
    check_grad(lambda m, a, b: m.tensordot(a, b, dims=1), M, M.transpose(0, 2, 1))
    check_grad(lambda m, x: F(m).pdist(x), M)
    check_grad(lambda m, x: m.renorm(x, 2, 0, 1.0), M)


@pytest.mark.parametrize("prog,arrays,dims", [
    (lambda m, a, b: m.linalg.solve(a, b, left=False), (SQ, M[:, :2, :3]), 0),
    (lambda m, a, b: m.linalg.solve_ex(a, b), (SQ, M[:, :, 0]), (0, 0)),
    (lambda m, a, b: m.linalg.solve(a, b), (SQ[0], M[:, :, :3]), (None, 0)),
    (lambda m, a, b: m.linalg.lu_solve(*m.linalg.lu_factor(a), b), (SQ, M), 0),
    (lambda m, a, b: m.linalg.lu_solve(*m.linalg.lu_factor(a), b, left=False, adjoint=True),
     (SQ, M.transpose(0, 2, 1)), 0),
    (lambda m, a: m.lu_unpack(*m.linalg.lu_factor(a)), (SQ,), 0),
    (lambda m, a: m.linalg.householder_product(*m.geqrf(a)), (M.transpose(0, 2, 1),), 0),
    (lambda m, a, c: m.ormqr(*m.geqrf(a), c, True, True), (SQ, M), 0),
], ids=["solve_right", "solve_ex_vector", "solve_unbatched_A", "lu_solve",
        "lu_solve_right_adjoint", "lu_unpack", "householder_product", "ormqr"])
def test_linalg_rules(prog, arrays, dims):
    check(prog, *arrays, in_dims=dims)


def test_lstsq_with_a_vector_right_hand_side():
    # (torch.func.vmap refuses a vector B here: the per-sample loop is the reference)
    check(lambda m, a, b: m.linalg.lstsq(a, b, driver="gelsd"), M.transpose(0, 2, 1),
          M[:, 0], vs_torch=False)


def test_linalg_rule_gradients():
    check_grad(lambda m, a, b: m.linalg.solve(a, b, left=False), SQ, M[:, :2, :3],
               argnums=(0, 1))


T4 = RNG.integers(0, 4, (B, 3))
W4 = RNG.uniform(0.2, 1.0, (B, 4))
L4 = RNG.standard_normal((B, 3, 4))


@pytest.mark.parametrize("prog,arrays,dims", [
    (lambda m, x, t, w: F(m).nll_loss(x, t, w, ignore_index=1), (L4, T4, W4), 0),
    (lambda m, x, t, w: F(m).nll_loss(x, t, w, reduction="none"), (L4, T4[0], W4), (0, None, 0)),
    (lambda m, x, t, w: F(m).cross_entropy(x, t, w, label_smoothing=0.2), (L4, T4, W4), 0),
    (lambda m, x, t: F(m).cross_entropy(x, t, label_smoothing=0.1, reduction="sum"),
     (L4, T4), 0),
    (lambda m, x, t, w: F(m).cross_entropy(x, t.softmax(1), w, label_smoothing=0.3),
     (L4, L4[::-1].copy(), W4), 0),
    (lambda m, x, y, w: F(m).mse_loss(x, y, weight=w), (L4, L4[::-1].copy(), L4 ** 2), 0),
    (lambda m, x, y, w: F(m).huber_loss(x, y, weight=w), (L4, L4[::-1].copy(), L4 ** 2), 0),
    (lambda m, x, y, w: m.binary_cross_entropy_with_logits(x, y.sigmoid(), w, w, 1),
     (L4, L4[::-1].copy(), W4), 0),
    (lambda m, x, t, w: F(m).multi_margin_loss(x, t, 2, 0.7, w), (L4, T4, W4), 0),
    (lambda m, x, t: F(m).multilabel_margin_loss(x, t), (L4, np.tile([3, 0, -1, 1], (B, 3, 1))),
     0),
], ids=["nll_weight", "nll_weight_none", "ce_smoothing_weight", "ce_smoothing_sum",
        "ce_probs_weight", "mse_weight", "huber_weight", "bce_logits_aten", "multi_margin",
        "multilabel_margin"])
def test_loss_rules(prog, arrays, dims):
    check(prog, *arrays, in_dims=dims)


def test_gaussian_nll_loss_rule():
    # (torch.func.vmap refuses it: the op checks var >= 0 by a data-dependent branch)
    for full in (False, True):
        check(lambda m, x, y, v: F(m).gaussian_nll_loss(x, y, v.abs(), full=full), L4,
              L4[::-1].copy(), L4, vs_torch=False)
    check(lambda m, x, y, v: F(m).gaussian_nll_loss(x, y, v.abs(), reduction="none"), L4,
          L4[::-1].copy(), L4[:, :, 0], vs_torch=False)


def test_weights_the_ops_do_not_differentiate_are_refused():
    # nll_loss refuses a weight that requires grad: with per-sample weights too
    for m in (tapegrad, torch):
        with pytest.raises(RuntimeError, match="not differentiable with respect to argument "
                                               "'weight'"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.func.vmap(m.func.grad(lambda w, x, t: F(m).nll_loss(x, t, w)))(
                _t(m, W4), _t(m, L4), _t(m, T4))


def test_loss_rule_gradients():
    check_grad(lambda m, x, t, w: F(m).cross_entropy(x, t, w, label_smoothing=0.2), L4, T4, W4)
    check_grad(lambda m, x, t, w: F(m).cross_entropy(x, t.softmax(1), w, label_smoothing=0.2),
               L4, L4, W4, argnums=(0, 1, 2))
    check_grad(lambda m, x, y, v: F(m).gaussian_nll_loss(x, y, v.abs()), L4, L4[::-1].copy(), L4,
               argnums=(0, 2), vs_torch=False)
    check_grad(lambda m, x, t, w: F(m).multi_margin_loss(x, t, 1, 1.0, w), L4, T4, W4)


def test_ctc_loss_rule():
    lp = RNG.standard_normal((B, 6, 3, 4))
    tg = np.tile(np.array([[1, 1, 2], [3, 1, 0], [2, 3, 1]]), (B, 1, 1))
    il, tl = np.tile([6, 5, 4], (B, 1)), np.tile([3, 2, 1], (B, 1))
    for red in ("mean", "sum", "none"):
        check(lambda m, x, t, i, n, red=red: F(m).ctc_loss(x.log_softmax(2), t, i, n,
                                                           reduction=red), lp, tg, il, tl)
    check(lambda m, x, t, i, n: F(m).ctc_loss(x.log_softmax(2), t, i, n), lp,
          np.tile([1, 1, 2, 3, 1, 2], (B, 1)), il, tl)  # concatenated targets
    check_grad(lambda m, x, t: F(m).ctc_loss(x.log_softmax(2), t, (6, 5, 4), (3, 2, 1)), lp,
               tg[0], in_dims=(0, None), vs_torch=False)


IMG = RNG.standard_normal((B, 2, 3, 5, 6))  # samples of (N, C, H, W)


@pytest.mark.parametrize("prog,arrays,dims", [
    (lambda m, x, rm, rv, w: F(m).batch_norm(x, rm, rv.abs() + 0.5, w, w),
     (L4.transpose(0, 2, 1).copy(), W4[:, :3], W4[:, 1:], W4[:, :3]), 0),
    (lambda m, x, w, b: F(m).instance_norm(x, weight=w, bias=b),
     (RNG.standard_normal((2, 3, 4)), W4[:, :3], W4[:, 1:]), (None, 0, 0)),
    (lambda m, x, w: F(m).conv_transpose2d(x, w, stride=2, groups=2),
     (IMG[:, :, :2], RNG.standard_normal((B, 2, 3, 2, 2))), 0),
    (lambda m, x, w: m.convolution(x, w, None, [1, 1], [1, 0], [1, 1], False, [0, 0], 1),
     (IMG[:, :, :2], RNG.standard_normal((B, 3, 2, 3, 3))), 0),
    (lambda m, x, w, b: m.conv_tbc(x, w, b, 1), (RNG.standard_normal((B, 5, 2, 4)),
                                                  RNG.standard_normal((B, 2, 4, 3)), W4[:, :3]), 0),
    (lambda m, t: F(m).affine_grid(t, [2, 1, 3, 4], align_corners=False),
     (RNG.standard_normal((B, 2, 2, 3)),), 0),
    (lambda m, x, g: F(m).grid_sample(x, g, align_corners=True),
     (IMG[0], RNG.uniform(-1, 1, (B, 2, 4, 3, 2))), (None, 0)),
    (lambda m, x: F(m).max_unpool2d(*F(m).max_pool2d(x, 2, return_indices=True), 2), (IMG,), 0),
    (lambda m, q, k, v: F(m).scaled_dot_product_attention(q, k, v, enable_gqa=True),
     (RNG.standard_normal((B, 4, 3, 2)), RNG.standard_normal((B, 2, 5, 2)),
      RNG.standard_normal((B, 2, 5, 2))), 0),
    (lambda m, w, i: m.embedding(w, i), (RNG.standard_normal((B, 5, 2)), T4[:, :2]), 0),
], ids=["batch_norm_eval", "instance_norm_affine", "conv_transpose_weight", "convolution",
        "conv_tbc", "affine_grid", "grid_sample", "max_unpool", "sdpa_gqa", "embedding_aten"])
def test_nn_rules(prog, arrays, dims):
    check(prog, *arrays, in_dims=dims)


def test_nn_rule_gradients():
    check_grad(lambda m, x, w: F(m).conv_transpose2d(x, w, stride=2),
               IMG[:, :, :2], RNG.standard_normal((B, 2, 3, 2, 2)), argnums=(0, 1))
    check_grad(lambda m, x, g: F(m).grid_sample(x, g, align_corners=False),
               IMG, RNG.uniform(-1, 1, (B, 2, 4, 3, 2)), argnums=(0, 1))


def test_batch_norm_training_updates_batched_running_stats_per_sample():
    x = RNG.standard_normal((B, 5, 3))
    outs, stats = [], []
    for m in (tapegrad, torch):
        rm, rv = _t(m, np.zeros((B, 3))), _t(m, np.ones((B, 3)))
        outs.append(m.func.vmap(lambda v, a, b: F(m).batch_norm(v, a, b, None, None, True, 0.3))(
            _t(m, x), rm, rv))
        stats.append((rm, rv))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        same(outs[0], outs[1])
    same(stats[0], stats[1])
    assert not [x for x in w if PERF in str(x.message)]


def test_fractional_max_pool_with_given_samples():
    x = RNG.permutation(B * 2 * 3 * 7 * 8).reshape(B, 2, 3, 7, 8).astype(float)
    s = RNG.uniform(0, 1, (B, 2, 3, 2))
    check(lambda m, v, r: F(m).fractional_max_pool2d(v, 2, output_size=(4, 5),
                                                     return_indices=True, _random_samples=r),
          x, s)

"""Random fills on tensors of every memory layout reproduce PyTorch's values bit for bit.

PyTorch's CPU fills walk a tensor in memory order (TensorIterator's dim order), the *_like
samplers fill empty_like(input) (input's layout), and normal_ uses its 16-at-a-time kernel only
on contiguous tensors. Every check here runs the same program on tapegrad and torch after the
same manual_seed and compares the bytes of the results (and the generator state after them).
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import both, same_error

torch = pytest.importorskip("torch")

SEEDS = (0, 12345)


# --- layouts: each builds a tensor of module m, dtype d, and returns (tensor, base) ----------
def _plain(m, d):
    return m.zeros(4, 5, 6, dtype=d), None


def _small(m, d):
    return m.zeros(3, 4, dtype=d), None


def _transposed(m, d):
    b = m.zeros(4, 5, 6, dtype=d)
    return b.transpose(0, 2), b


def _small_t(m, d):  # fewer than 16 elements: normal_ draws one at a time
    b = m.zeros(3, 4, dtype=d)
    return b.t(), b


def _permuted(m, d):
    b = m.zeros(4, 5, 6, dtype=d)
    return b.permute(1, 2, 0), b


def _stepped(m, d):
    b = m.zeros(4, 8, 6, dtype=d)
    return b[:, ::2, 1:5], b


def _region(m, d):  # a block of a bigger tensor: only it is filled
    b = m.zeros(6, 5, 4, dtype=d)
    return b[:, 1:3], b


def _t_stepped(m, d):
    b = m.zeros(6, 8, 5, dtype=d)
    return b.transpose(0, 1)[::2, :, 1:], b


def _channels_last(m, d):
    b = m.zeros(2, 4, 5, 3, dtype=d)
    return b.permute(0, 3, 1, 2), b


def _unit_dims(m, d):
    b = m.zeros(3, 1, 7, 1, dtype=d)
    return b.permute(2, 3, 0, 1), b


def _cloned_t(m, d):  # clone keeps the transposed layout
    return m.zeros(5, 7, dtype=d).t().clone(), None


def _cloned_expand(m, d):  # an expanded tensor's clone is contiguous
    return m.zeros(1, 9, dtype=d).expand(4, 9).clone(), None


def _one(m, d):
    b = m.zeros(3, 4, dtype=d)
    return b[1:2, 2:3], b


def _empty(m, d):
    b = m.zeros(3, 4, dtype=d)
    return b[:, :0].t(), b


LAYOUTS = [_plain, _small, _transposed, _small_t, _permuted, _stepped, _region, _t_stepped,
           _channels_last, _unit_dims, _cloned_t, _cloned_expand, _one, _empty]
FLOATS = ("float32", "float64", "float16")


def _bytes(t) -> tuple:
    a = t.detach().numpy()
    return str(a.dtype), a.shape, np.ascontiguousarray(a).tobytes()


def _strides(t) -> tuple | None:
    """The strides of the dims that have any (not those of size 1 or of an empty tensor,
    which tapegrad may choose differently)."""
    if not t.numel():
        return None
    return tuple(s if n > 1 else None for s, n in zip(t.stride(), t.shape))


def _run(m, seed, layout, dn, fill):
    """Fill the layout twice (the generator state carries over), then draw more; returns
    the bytes of the tensor, its base, the strides and the next draws."""
    m.manual_seed(seed)
    x, base = layout(m, getattr(m, dn))
    fill(m, x)
    fill(m, x)
    after = m.rand(5, dtype=m.float64)
    res = [_bytes(x), _strides(x), _bytes(after)]
    if base is not None:
        res.append(_bytes(base))
    return res


def _check(fill, dtypes, layouts=LAYOUTS, seeds=SEEDS):
    for dn in dtypes:
        for layout in layouts:
            for seed in seeds:
                mine = _run(tapegrad, seed, layout, dn, fill)
                ref = _run(torch, seed, layout, dn, fill)
                assert mine == ref, (layout.__name__, dn, seed)


# --- in-place fills -----------------------------------------------------------------------
INPLACE = {
    "uniform_": (lambda m, x: x.uniform_(-2.3, 3.1), FLOATS + ("complex64", "complex128")),
    "uniform_default": (lambda m, x: x.uniform_(), FLOATS),
    "uniform_narrow": (lambda m, x: x.uniform_(1000.0, 1000.0001), FLOATS),
    "normal_": (lambda m, x: x.normal_(0.5, 2.0), FLOATS + ("complex64", "complex128")),
    "bernoulli_": (lambda m, x: x.bernoulli_(0.3), FLOATS + ("int64", "uint8", "bool")),
    "bernoulli_p_full": (lambda m, x: x.bernoulli_(m.linspace(0, 1, x.numel()).reshape(
        x.shape)), FLOATS + ("int32",)),
    "bernoulli_p_bcast": (lambda m, x: x.bernoulli_(m.linspace(0, 1, x.shape[-1],
                                                                dtype=m.float64)), FLOATS),
    "bernoulli_p_t": (lambda m, x: x.bernoulli_(m.linspace(0.1, 0.9, x.numel()).reshape(
        tuple(reversed(x.shape))).permute(*reversed(range(x.dim())))), ("float32",)),
    "exponential_": (lambda m, x: x.exponential_(1.5), FLOATS),
    "geometric_": (lambda m, x: x.geometric_(0.3), FLOATS + ("int64", "int16")),
    "log_normal_": (lambda m, x: x.log_normal_(0.2, 0.7), FLOATS),
    "cauchy_": (lambda m, x: x.cauchy_(1.0, 0.5), FLOATS),
    "random_": (lambda m, x: x.random_(), FLOATS + ("int64", "int32", "uint8", "bool")),
    "random_to": (lambda m, x: x.random_(100), FLOATS + ("int64", "int8")),
    "random_from_to": (lambda m, x: x.random_(-5, 50), FLOATS + ("int64", "int16")),
    "random_from": (lambda m, x: x.random_(3, None), ("float32", "int32")),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_fill_follows_memory_order(name):
    fill, dtypes = INPLACE[name]
    _check(fill, dtypes)


def test_normal_mixed_with_other_draws():
    # a strided normal_ of odd length leaves a spare Box-Muller value in the generator;
    # a later small normal_ uses it, as in PyTorch
    def prog(m):
        m.manual_seed(3)
        b = m.zeros(5, 7)
        b.t()[::2].normal_()
        c = m.zeros(3).normal_()
        d = m.zeros(4, 9).t().normal_(1.0, 0.5)
        return b, c, d, m.rand(2)

    both(prog, atol=0, rtol=0)


# --- out-of-place samplers ----------------------------------------------------------------
def _expanded_rows(m, d):  # stride 0 outside: empty_like makes it contiguous
    return m.zeros(1, 9, dtype=d).expand(4, 9), None


def _expanded_cols(m, d):
    return m.zeros(4, 1, dtype=d).expand(4, 9), None


def _expanded_t(m, d):  # the non-zero strides keep their (transposed) order
    return m.zeros(3, 1, 5, dtype=d).expand(3, 4, 5).transpose(0, 2), None


LIKE_LAYOUTS = LAYOUTS + [_expanded_rows, _expanded_cols, _expanded_t]


def _like_prog(fn, dn):
    def prog(m):
        res = []
        for seed in SEEDS:
            for layout in LIKE_LAYOUTS:
                m.manual_seed(seed)
                x, _ = layout(m, getattr(m, dn))
                r = fn(m, x)
                res.append((_bytes(r), _strides(r)))
            res.append(_bytes(m.rand(3)))
        return res
    return prog


def _w(x):
    """x, or (expanded x) a copy that can be written."""
    return x.clone() if 0 in x.stride() else x


LIKE = {
    "rand_like": lambda m, x: m.rand_like(x),
    "randn_like": lambda m, x: m.randn_like(x),
    "randn_like_f64": lambda m, x: m.randn_like(x, dtype=m.float64),
    "randint_like": lambda m, x: m.randint_like(x, 3, 90),
    "empty_like_uniform_": lambda m, x: m.empty_like(x).uniform_(),
    "zeros_like_normal_": lambda m, x: m.zeros_like(x).normal_(),
    "bernoulli_tensor": lambda m, x: m.bernoulli(_w(x).uniform_()),
    "bernoulli_p": lambda m, x: m.bernoulli(x, 0.4),
    "normal_mean_t": lambda m, x: m.normal(x, 2.0),
    "normal_std_t": lambda m, x: m.normal(-1.0, _w(x).exponential_()),
    "normal_both_t": lambda m, x: m.normal(_w(x).uniform_(), _w(x).exponential_()),
}


@pytest.mark.parametrize("name", list(LIKE))
@pytest.mark.parametrize("dn", FLOATS)
def test_out_of_place_samplers(name, dn):
    mine = _like_prog(LIKE[name], dn)(tapegrad)
    ref = _like_prog(LIKE[name], dn)(torch)
    for k, (a, b) in enumerate(zip(mine, ref)):
        assert a == b, (name, dn, k)


@pytest.mark.parametrize("dn", ["complex64", "complex128"])
def test_complex_like_samplers(dn):
    for name in ("rand_like", "randn_like", "empty_like_uniform_", "zeros_like_normal_"):
        mine = _like_prog(LIKE[name], dn)(tapegrad)
        ref = _like_prog(LIKE[name], dn)(torch)
        for k, (a, b) in enumerate(zip(mine, ref)):
            assert a == b, (name, dn, k)


ERRORS = [
    lambda m: m.zeros(3).uniform_(3, 1),
    lambda m: m.zeros(0).uniform_(3, 1),
    lambda m: m.zeros(2, dtype=m.complex128).uniform_(3, 1),
    lambda m: m.zeros(2, dtype=m.float16).uniform_(-7e4, 1),
    lambda m: m.zeros(2, dtype=m.float16).uniform_(-6e4, 6e4),
    lambda m: m.zeros(2, dtype=m.float64).uniform_(-1.7e308, 1.7e308),
    lambda m: m.zeros(3).uniform_(-3e38, 3e38),
    lambda m: m.zeros(3).uniform_(0, float("inf")),
    lambda m: m.zeros(2, 3).t().uniform_(float("nan"), 1),
    lambda m: m.zeros(3).bernoulli_(m.tensor([0.5, 2.0, 0.1])),
    lambda m: m.zeros(3).bernoulli_(m.tensor([0.5, float("nan"), 0.1])),
    lambda m: m.bernoulli(m.tensor([0.5, float("nan"), 0.1])),
    lambda m: m.zeros(3).bernoulli_(m.tensor([0.5, 0.1])),
    lambda m: m.zeros(3).bernoulli_(m.ones(1, 3)),
    lambda m: m.zeros(3).bernoulli_(1.5),
    lambda m: m.zeros(3, dtype=m.int64).normal_(),
    lambda m: m.randn_like(m.zeros(3, dtype=m.int64)),
    lambda m: m.rand_like(m.zeros(3, dtype=m.int64)),
    lambda m: m.rand_like(3),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_errors(k):
    same_error(ERRORS[k])


def test_rand_float16_never_reaches_one():
    # a float16 uniform that rounds up to the upper bound is moved to the lower one (0 here)
    def prog(m):
        m.manual_seed(1)
        r = m.rand(200000, dtype=m.float16)
        return r, (r == 0).sum(), r.max()

    both(prog, atol=0, rtol=0)


def test_clone_keeps_layout():
    def prog(m):
        base = m.arange(24.0).reshape(2, 3, 4)
        outs = [base.transpose(0, 2).clone(), base[:, ::2].transpose(1, 2).clone(),
                base[:1].expand(3, 3, 4).clone(),
                base.permute(2, 0, 1).clone(memory_format=m.contiguous_format),
                base.permute(2, 0, 1).clone(memory_format=m.preserve_format)]
        return [(o, o.stride(), o.is_contiguous()) for o in outs]

    both(prog, atol=0, rtol=0)


# --- dropout masks ------------------------------------------------------------------------
DROPOUT = {
    "dropout": lambda m, x: m.nn.functional.dropout(x, 0.3),
    "alpha_dropout": lambda m, x: m.nn.functional.alpha_dropout(x, 0.3, training=True),
    "dropout2d": lambda m, x: m.nn.functional.dropout2d(x.unsqueeze(0), 0.5),
    "feature_alpha_dropout": lambda m, x: m.nn.functional.feature_alpha_dropout(
        x.unsqueeze(0), 0.4, training=True),
}


@pytest.mark.parametrize("name", list(DROPOUT))
def test_dropout_masks_follow_layout(name):
    fn = DROPOUT[name]

    def prog(m):
        res = []
        for dn in ("float32", "float64"):
            for layout in LAYOUTS:
                if layout in (_one, _empty):
                    continue
                m.manual_seed(5)
                x, _ = layout(m, getattr(m, dn))
                x.uniform_(1.0, 2.0)
                res.append(_bytes(fn(m, x)))
        return res

    mine, ref = prog(tapegrad), prog(torch)
    for k, (a, b) in enumerate(zip(mine, ref)):
        assert a == b, (name, k)


# --- gumbel_softmax -------------------------------------------------------------------------
def _gumbel_prog(dn, hard):
    def prog(m):
        res = []
        for layout in (_plain, _transposed, _stepped, _channels_last, _small_t, _unit_dims):
            for dim in (-1, 0, 1):
                m.manual_seed(11)
                x, _ = layout(m, getattr(m, dn))
                x.normal_()
                x.requires_grad_()
                y = m.nn.functional.gumbel_softmax(x, tau=0.6, hard=hard, dim=dim)
                w = m.arange(float(y.shape[-1]), dtype=y.dtype)
                g, = m.autograd.grad((y * w).sum(), x)
                res += [y, g, y.argmax(dim), m.rand(2)]
        return res
    return prog


@pytest.mark.parametrize("dn", ["float32", "float64"])
def test_gumbel_softmax_layouts(dn):
    # the noise is -log(exponential_()) of a new contiguous tensor, drawn in row-major order
    # whatever the logits' layout. The chosen classes and the generator state afterwards agree
    # exactly; the soft values up to the last bit or two, where PyTorch's vectorised exp and
    # its summation order in softmax round differently (a wrong noise would be far off).
    tol = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-13, atol=1e-14)}[dn]
    for hard in (False, True):
        mine = _gumbel_prog(dn, hard)(tapegrad)
        ref = _gumbel_prog(dn, hard)(torch)
        for k, (a, b) in enumerate(zip(mine, ref)):
            if k % 4 >= 2:
                assert _bytes(a) == _bytes(b), (hard, k)
            else:
                np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **tol)


def test_empty_complex_uniform_skips_checks():
    both(lambda m: (m.zeros(0, dtype=m.complex64).uniform_(3, 1), m.zeros(0).normal_()),
         atol=0, rtol=0)

"""MultiheadAttention (and multi_head_attention_forward) against PyTorch: outputs, attention
weights, gradients of inputs, masks and every parameter, the packed / separate projection
layouts, masks of both kinds, dropout masks, reprs, initialisation and errors."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import same, same_error, warnings_of
from _nn_layer_helpers import Spec, check_init, check_layer

torch = pytest.importorskip("torch")

R = np.random.default_rng(7)


def rn(*shape):
    return R.standard_normal(shape)


def mha(*args, **kw):
    return lambda m: m.nn.MultiheadAttention(*args, **kw)


def attn(*args, mode: str = "qkv", masks: tuple = (), call=None, **kw):
    """A module calling MultiheadAttention(*args, **kw) on its inputs: query, key, value
    ("qkv"), one tensor used three times ("x", the packed self-attention path) or query and a
    shared key / value ("q_kv"), then the masks named in `masks`; call holds the other call
    arguments. Outputs that are None (no weights) are dropped."""
    call = call or {}
    n = {"qkv": 3, "x": 1, "q_kv": 2}[mode]

    def make(m):
        class Attn(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.attn = m.nn.MultiheadAttention(*args, **kw)

            def forward(self, *xs):
                t, extra = xs[:n], dict(zip(masks, xs[n:]))
                q, k, v = (t * 3) if mode == "x" else (t[0], t[1], t[1]) if mode == "q_kv" else t
                return tuple(o for o in self.attn(q, k, v, **extra, **call) if o is not None)

        return Attn()

    return make


L, S, N, E = 3, 4, 2, 4
KPM = np.array([[False, False, True, False], [False, True, True, False]])
KPM_SELF = np.array([[False, False, True], [False, True, False]])
CAUSAL = np.triu(np.ones((L, L), dtype=bool), 1)
BOOL_MASK = np.array([[False, True, False, False], [False, False, True, False],
                      [True, False, False, True]])
BOTH = ("key_padding_mask", "attn_mask")
KP = ("key_padding_mask",)
AM = ("attn_mask",)
NOW = {"need_weights": False}
QKV = [rn(L, N, E), rn(S, N, E), rn(S, N, E)]

SPECS = [
    Spec(attn(E, 2), QKV, id="cross"),
    Spec(attn(E, 2, batch_first=True), [rn(N, L, E), rn(N, S, E), rn(N, S, E)],
         id="batch_first"),
    Spec(attn(E, 1, bias=False), QKV, id="nobias"),
    Spec(attn(E, 2, kdim=3, vdim=5), [rn(L, N, E), rn(S, N, 3), rn(S, N, 5)], id="kdim-vdim"),
    Spec(attn(E, 2, kdim=3, vdim=5, bias=False, batch_first=True),
         [rn(N, L, E), rn(N, S, 3), rn(N, S, 5)], id="kdim-vdim-nobias-bf"),
    Spec(attn(E, 2, add_bias_kv=True, add_zero_attn=True, masks=BOTH), QKV + [KPM, BOOL_MASK],
         id="bias-kv-zero"),
    Spec(attn(E, 2, add_bias_kv=True, call=NOW), QKV, id="bias-kv-sdpa"),
    Spec(attn(E, 2, add_zero_attn=True, call=NOW), QKV, id="zero-attn-sdpa"),
    Spec(attn(E, 2, masks=KP), QKV + [KPM], id="kpm"),
    Spec(attn(E, 2, masks=KP, call=NOW), QKV + [KPM], id="kpm-sdpa"),
    Spec(attn(E, 2, masks=AM), QKV + [rn(L, S)], id="float-mask-grad"),
    Spec(attn(E, 2, masks=BOTH), QKV + [KPM, rn(N * 2, L, S)], id="float-3d-mask-kpm"),
    Spec(attn(E, 2, masks=AM, call=NOW), QKV + [rn(N * 2, L, S)], id="float-3d-mask-sdpa"),
    Spec(attn(E, 2, masks=AM, call=NOW), QKV + [BOOL_MASK], id="bool-mask-sdpa"),
    Spec(attn(E, 2, masks=BOTH, call=NOW), QKV + [KPM, BOOL_MASK], id="both-masks-sdpa"),
    Spec(attn(E, 2, call={"average_attn_weights": False}), QKV, id="per-head-weights"),
    Spec(attn(E, 2), [rn(L, E), rn(S, E), rn(S, E)], id="unbatched"),
    Spec(attn(E, 2, masks=BOTH), [rn(L, E), rn(S, E), rn(S, E), KPM[0], rn(2, L, S)],
         id="unbatched-masks"),
    Spec(attn(E, 2, call=NOW), [rn(L, E), rn(S, E), rn(S, E)], id="unbatched-sdpa"),
    Spec(attn(E, 2, mode="x"), [rn(L, N, E)], id="self"),
    Spec(attn(E, 2, mode="x", batch_first=True, call=NOW), [rn(N, L, E)], id="self-bf-sdpa"),
    Spec(attn(E, 2, mode="x", masks=AM, call={"need_weights": False, "is_causal": True}),
         [rn(L, N, E), CAUSAL], id="self-causal"),
    Spec(attn(E, 2, mode="x", masks=BOTH, call={"is_causal": True}),
         [rn(L, N, E), KPM_SELF, CAUSAL], id="self-causal-kpm-weights"),
    Spec(attn(E, 2, mode="q_kv"), [rn(L, N, E), rn(S, N, E)], id="kv-shared"),
    Spec(attn(E, 2, mode="q_kv", batch_first=True, call=NOW), [rn(N, L, E), rn(N, S, E)],
         id="kv-shared-bf-sdpa"),
    Spec(attn(E, 2, dropout=0.5), QKV, seed=3, id="dropout-weights"),
    Spec(attn(E, 2, dropout=0.4, call=NOW), QKV, seed=4, id="dropout-sdpa"),
    Spec(attn(E, 2, dropout=0.5), QKV, train=False, id="dropout-eval"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_mha_against_torch(spec, dtype):
    check_layer(spec, dtype)


@pytest.mark.parametrize("make", [
    mha(8, 2), mha(8, 4, bias=False), mha(6, 3, kdim=2, vdim=5), mha(4, 2, add_bias_kv=True),
    mha(4, 1, kdim=3, add_bias_kv=True, bias=False),
])
def test_init_bit_identical(make):
    check_init(make)


@pytest.mark.parametrize("args,kw", [
    ((4, 2), {}), ((4, 2), {"kdim": 3, "vdim": 5, "bias": False}),
    ((4, 2), {"add_bias_kv": True, "add_zero_attn": True, "dropout": 0.1, "batch_first": True}),
])
def test_repr_state_dict_attributes(args, kw):
    def prog(m):
        a = m.nn.MultiheadAttention(*args, **kw)
        return (repr(a), list(a.state_dict()), [n for n, _ in a.named_parameters()],
                a.embed_dim, a.kdim, a.vdim, a._qkv_same_embed_dim, a.num_heads, a.dropout,
                a.batch_first, a.head_dim, a.add_zero_attn, a.bias_k is None,
                a.in_proj_weight is None, type(a.out_proj).__name__)

    same(prog(tapegrad), prog(torch))


def test_eval_no_grad_matches_torch_fast_path():
    """In eval mode without grad torch takes its fused inference path: same numbers."""
    x, kpm = rn(N, L, E), KPM_SELF

    def prog(m):
        m.manual_seed(0)
        a = m.nn.MultiheadAttention(E, 2, batch_first=True).eval()
        t = m.tensor(x, dtype=m.float32)
        with m.no_grad():
            o1, w1 = a(t, t, t)
            o2, w2 = a(t, t, t, key_padding_mask=m.tensor(kpm), need_weights=False)
            o3, w3 = a(t, t, t, average_attn_weights=False)
        return o1, w1, o2, w2, o3, w3

    same(prog(tapegrad), prog(torch), atol=1e-6, rtol=1e-5)


def test_functional_multi_head_attention_forward_static_kv():
    from tapegrad.nn.modules.multihead import multi_head_attention_forward as ours

    q, sk, sv = rn(L, N, E), rn(N * 2, S, 2), rn(N * 2, S, 2)
    w, b, ow, ob = rn(3 * E, E), rn(3 * E), rn(E, E), rn(E)

    def prog(m, fn):
        t = [m.tensor(a, requires_grad=True) for a in (q, sk, sv, w, b, ow, ob)]
        out, wts = fn(t[0], t[0], t[0], E, 2, t[3], t[4], None, None, False, 0.0, t[5], t[6],
                      static_k=t[1], static_v=t[2])
        (out.sum() + wts.pow(2).sum()).backward()
        return out, wts, [a.grad for a in t]

    same(prog(tapegrad, ours), prog(torch, torch.nn.functional.multi_head_attention_forward))


def test_mask_type_warning():
    def prog(m):
        a = m.nn.MultiheadAttention(E, 2)
        x = m.ones(L, N, E)
        kpm = m.zeros(N, L, dtype=m.bool)
        return warnings_of(lambda: a(x, x, x, key_padding_mask=kpm, attn_mask=m.zeros(L, L)))

    assert prog(tapegrad) == prog(torch) and len(prog(tapegrad)) == 1


def _t(m, *shape, dtype=None):
    return m.ones(*shape, dtype=dtype)


@pytest.mark.parametrize("fn", [
    lambda m: m.nn.MultiheadAttention(0, 2),
    lambda m: m.nn.MultiheadAttention(4, 0),
    lambda m: m.nn.MultiheadAttention(5, 2),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 2, 4), _t(m, 4, 2, 4), _t(m, 4, 4)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 4), _t(m, 4, 2, 4), _t(m, 4, 4)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 4), _t(m, 4), _t(m, 4)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 2, 4), _t(m, 4, 2, 4), _t(m, 4, 2, 4),
                                            key_padding_mask=_t(m, 4, dtype=m.bool)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 4), _t(m, 4, 4), _t(m, 4, 4),
                                            key_padding_mask=_t(m, 2, 4, dtype=m.bool)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 2, 4), _t(m, 4, 2, 4), _t(m, 4, 2, 4),
                                            attn_mask=_t(m, 3)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 4), _t(m, 4, 4), _t(m, 4, 4),
                                            attn_mask=_t(m, 3, 3, 4)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 2, 4), _t(m, 4, 2, 4), _t(m, 4, 2, 4),
                                            attn_mask=_t(m, 3, 3)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 2, 4), _t(m, 4, 2, 4), _t(m, 4, 2, 4),
                                            attn_mask=_t(m, 3, 3, 4)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 2, 4), _t(m, 4, 2, 4), _t(m, 4, 2, 4),
                                            attn_mask=_t(m, 3, 4, dtype=m.int64)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 2, 4), _t(m, 4, 2, 4), _t(m, 4, 2, 4),
                                            key_padding_mask=_t(m, 2, 3, dtype=m.bool)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 2, 4), _t(m, 4, 2, 4), _t(m, 4, 2, 4),
                                            key_padding_mask=_t(m, 3, 4, dtype=m.bool)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 2, 4), _t(m, 4, 2, 4), _t(m, 4, 2, 4),
                                            is_causal=True),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 2, 5), _t(m, 4, 2, 5), _t(m, 4, 2, 5)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 2, 4), _t(m, 4, 2, 4), _t(m, 5, 2, 4)),
    lambda m: m.nn.MultiheadAttention(4, 2, kdim=3, vdim=3)(_t(m, 3, 2, 4), _t(m, 4, 2, 3),
                                                            _t(m, 5, 2, 3)),
    lambda m: m.nn.MultiheadAttention(4, 2, kdim=3)(_t(m, 3, 2, 4), _t(m, 4, 2, 4),
                                                    _t(m, 4, 2, 4)),
    lambda m: m.nn.MultiheadAttention(4, 2)(_t(m, 3, 2, 4, dtype=m.float64),
                                            _t(m, 4, 2, 4, dtype=m.float64),
                                            _t(m, 4, 2, 4, dtype=m.float64)),
], ids=range(21))
def test_errors(fn):
    same_error(fn)

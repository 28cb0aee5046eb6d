"""Transformer layers, stacks and the full Transformer against PyTorch: outputs, gradients of
inputs, float masks and every parameter, reprs, initialisation, dropout masks in training
mode, causal-mask detection, the nested-tensor inference path, warnings and errors."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import same, same_error, warnings_of
from _nn_layer_helpers import Spec, check_init, check_layer

torch = pytest.importorskip("torch")

R = np.random.default_rng(31)


def rn(*shape):
    return R.standard_normal(shape)


def call(build, names=("src",), **call_kw):
    """A module calling build(m) with its inputs as the keyword arguments `names`."""

    def make(m):
        class Call(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.mod = build(m)

            def forward(self, *xs):
                return self.mod(**dict(zip(names, xs)), **call_kw)

        return Call()

    return make


def enc_layer(**kw):
    base = {"d_model": 4, "nhead": 2, "dim_feedforward": 6, "dropout": 0.0}
    return lambda m: m.nn.TransformerEncoderLayer(**{**base, **kw})


def dec_layer(**kw):
    base = {"d_model": 4, "nhead": 2, "dim_feedforward": 6, "dropout": 0.0}
    return lambda m: m.nn.TransformerDecoderLayer(**{**base, **kw})


def encoder(n=2, norm=True, layer_kw=None, **kw):
    def build(m):
        layer = enc_layer(**(layer_kw or {}))(m)
        return m.nn.TransformerEncoder(layer, n, m.nn.LayerNorm(4) if norm else None,
                                       enable_nested_tensor=False, **kw)

    return build


def decoder(n=2, norm=True, layer_kw=None):
    def build(m):
        layer = dec_layer(**(layer_kw or {}))(m)
        return m.nn.TransformerDecoder(layer, n, m.nn.LayerNorm(4) if norm else None)

    return build


def transformer(**kw):
    base = {"d_model": 4, "nhead": 2, "num_encoder_layers": 1, "num_decoder_layers": 2,
            "dim_feedforward": 6, "dropout": 0.0}
    return lambda m: m.nn.Transformer(**{**base, **kw})


L, T, N, E = 3, 2, 2, 4
KPM = np.array([[False, False, True], [False, True, False]])
KPM_T = np.array([[False, True], [False, False]])
CAUSAL_BOOL = np.triu(np.ones((L, L), dtype=bool), 1)
CAUSAL = np.where(CAUSAL_BOOL, -np.inf, 0.0)

# numeric=False: gradients still compared with torch's; central differences run on the others
SPECS = [
    Spec(enc_layer(), [rn(L, N, E)], id="enc"),
    Spec(enc_layer(activation="gelu", batch_first=True), [rn(N, L, E)], id="enc-gelu-bf"),
    Spec(enc_layer(norm_first=True, bias=False, layer_norm_eps=1e-3), [rn(L, N, E)],
         id="enc-normfirst-nobias"),
    Spec(lambda m: m.nn.TransformerEncoderLayer(4, 2, 6, 0.0, m.nn.Tanh()), [rn(L, N, E)],
         id="enc-module-activation"),
    Spec(lambda m: m.nn.TransformerEncoderLayer(4, 2, 6, 0.0, m.nn.functional.silu),
         [rn(L, E)], id="enc-callable-unbatched"),
    Spec(call(enc_layer(), ("src", "src_mask", "src_key_padding_mask")),
         [rn(L, N, E), rn(L, L), KPM], id="enc-masks"),
    Spec(call(enc_layer(batch_first=True), ("src", "src_key_padding_mask")),
         [rn(N, L, E), KPM], numeric=False,
         id="enc-kpm-bf"),
    Spec(call(enc_layer(), ("src", "src_mask"), is_causal=True), [rn(L, N, E), CAUSAL_BOOL],
         id="enc-causal"),
    Spec(enc_layer(dropout=0.3), [rn(L, N, E)], seed=9, id="enc-dropout"),
    Spec(enc_layer(dropout=0.3, norm_first=True, batch_first=True), [rn(N, L, E)], seed=2,
         numeric=False,
         id="enc-dropout-normfirst"),
    Spec(enc_layer(dropout=0.3), [rn(L, N, E)], train=False, id="enc-eval"),
    Spec(encoder(), [rn(L, N, E)], id="encoder"),
    Spec(call(encoder(norm=False), ("src", "mask", "src_key_padding_mask")),
         [rn(L, N, E), CAUSAL, KPM], id="encoder-causal-detect"),
    Spec(call(encoder(layer_kw={"batch_first": True}), ("src", "mask"), is_causal=False),
         [rn(N, L, E), CAUSAL], numeric=False,
         id="encoder-causal-false"),
    Spec(call(dec_layer(), ("tgt", "memory")), [rn(T, N, E), rn(L, N, E)], id="dec"),
    Spec(call(dec_layer(norm_first=True, activation="gelu", batch_first=True),
              ("tgt", "memory", "tgt_key_padding_mask", "memory_key_padding_mask")),
         [rn(N, T, E), rn(N, L, E), KPM_T, KPM], id="dec-normfirst-kpm"),
    Spec(call(dec_layer(), ("tgt", "memory", "tgt_mask", "memory_mask"), tgt_is_causal=True),
         [rn(L, N, E), rn(T, N, E), CAUSAL_BOOL, rn(L, T)], id="dec-masks"),
    Spec(call(dec_layer(dropout=0.25), ("tgt", "memory")), [rn(T, N, E), rn(L, N, E)], seed=4,
         numeric=False,
         id="dec-dropout"),
    # the mask equals the causal mask, so it is replaced by is_causal (no gradient reaches it)
    Spec(call(decoder(), ("tgt", "memory", "tgt_mask")), [rn(L, N, E), rn(T, N, E), CAUSAL],
         grad=(0, 1), id="decoder"),
    Spec(call(decoder(norm=False, layer_kw={"bias": False}), ("tgt", "memory")),
         [rn(T, E), rn(L, E)], id="decoder-unbatched"),
    Spec(call(transformer(), ("src", "tgt")), [rn(L, N, E), rn(T, N, E)], id="transformer"),
    Spec(call(transformer(batch_first=True, norm_first=True),
              ("src", "tgt", "src_mask", "tgt_mask", "memory_mask", "src_key_padding_mask",
               "tgt_key_padding_mask", "memory_key_padding_mask")),
         [rn(N, L, E), rn(N, T, E), rn(L, L), np.triu(np.full((T, T), -np.inf), 1), rn(T, L),
          KPM, KPM_T, KPM], numeric=False,
         id="transformer-all-masks"),
    Spec(call(transformer(dropout=0.2, activation="gelu"), ("src", "tgt")),
         [rn(L, N, E), rn(T, N, E)], seed=8, numeric=False,
         id="transformer-dropout"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_against_torch(spec, dtype):
    check_layer(spec, dtype)


@pytest.mark.parametrize("make", [
    lambda m: m.nn.TransformerEncoderLayer(8, 2, 16),
    lambda m: m.nn.TransformerDecoderLayer(8, 4, 16, bias=False),
    lambda m: m.nn.TransformerEncoder(m.nn.TransformerEncoderLayer(8, 2, 16), 2,
                                      enable_nested_tensor=False),
    lambda m: m.nn.Transformer(8, 2, 2, 1, 16),
    lambda m: m.nn.Transformer(8, 2, 1, 1, 16, dtype=m.float64, bias=False),
])
def test_init_bit_identical(make):
    check_init(make)


def test_reprs_and_attributes():
    def prog(m):
        layer = m.nn.TransformerEncoderLayer(4, 2, 8, activation=m.nn.GELU())
        enc = m.nn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
        dec = m.nn.TransformerDecoderLayer(4, 2, 8, norm_first=True, activation="gelu")
        full = m.nn.Transformer(4, 2, 1, 1, 8)
        return (repr(layer), repr(enc), repr(dec), repr(full), list(full.state_dict()),
                layer.activation_relu_or_gelu,
                m.nn.TransformerEncoderLayer(4, 2, activation="relu").activation_relu_or_gelu,
                m.nn.TransformerEncoderLayer(4, 2, activation=m.tanh).activation_relu_or_gelu,
                enc.num_layers, enc.enable_nested_tensor, enc.use_nested_tensor, enc.mask_check,
                full.d_model, full.nhead, full.batch_first, dec.norm_first,
                enc.layers[0] is not enc.layers[1])

    same(prog(tapegrad), prog(torch))
    assert tapegrad.nn.TransformerDecoderLayer(4, 2).activation is tapegrad.nn.functional.relu


def test_generate_square_subsequent_mask():
    def prog(m):
        T = m.nn.Transformer
        return (T.generate_square_subsequent_mask(4), T.generate_square_subsequent_mask(1),
                T.generate_square_subsequent_mask(3, dtype=m.float64),
                m.nn.Transformer(4, 2, 1, 1, 8).generate_square_subsequent_mask(2))

    same(prog(tapegrad), prog(torch))


@pytest.mark.parametrize("layer_kw,kw", [
    ({}, {}),
    ({"batch_first": True}, {}),
    ({"batch_first": True, "norm_first": True}, {}),
    ({"batch_first": True, "bias": False}, {}),
    ({"batch_first": True, "activation": lambda x: x}, {}),
    ({"batch_first": True, "nhead": 1, "d_model": 4}, {}),
    ({"batch_first": True}, {"enable_nested_tensor": False}),
    ({}, {"enable_nested_tensor": False}),
])
def test_nested_tensor_warnings(layer_kw, kw):
    def prog(m):
        args = {"d_model": 4, "nhead": 2, "dim_feedforward": 8, **layer_kw}
        layer = m.nn.TransformerEncoderLayer(**args)
        msgs = warnings_of(lambda: m.nn.TransformerEncoder(layer, 2, **kw))
        enc = m.nn.TransformerEncoder(layer, 1, **kw) if not msgs else None
        return msgs, None if enc is None else enc.use_nested_tensor

    same(prog(tapegrad), prog(torch))


def test_encoder_warning_non_layer():
    class Custom(tapegrad.nn.Module):
        pass

    class CustomT(torch.nn.Module):
        pass

    ours = warnings_of(lambda: tapegrad.nn.TransformerEncoder(Custom(), 1))
    theirs = warnings_of(lambda: torch.nn.TransformerEncoder(CustomT(), 1))
    assert ours == theirs and len(ours) == 1


@pytest.mark.parametrize("padding", [KPM, np.array([[False, False, True], [False, True, True]]),
                                     np.zeros((N, L), dtype=bool)], ids=["holes", "left", "none"])
def test_inference_nested_path(padding):
    """eval + no_grad + padding mask: torch runs on nested tensors when the kept positions are
    left-aligned, giving zeros (before the final norm) at the padded positions."""
    x = rn(N, L, E)

    def prog(m):
        m.manual_seed(0)
        layer = m.nn.TransformerEncoderLayer(E, 2, 8, batch_first=True)
        enc = m.nn.TransformerEncoder(layer, 2).eval()
        enc_norm = m.nn.TransformerEncoder(layer, 1, m.nn.LayerNorm(E)).eval()
        t = m.tensor(x, dtype=m.float32)
        kpm = m.tensor(padding)
        with m.no_grad():
            return (enc(t, src_key_padding_mask=kpm), enc_norm(t, src_key_padding_mask=kpm),
                    enc(t, src_key_padding_mask=kpm.float() * -1e9), enc(t))

    same(prog(tapegrad), prog(torch), atol=1e-5, rtol=1e-4)


def test_mask_type_warning():
    def prog(m):
        layer = m.nn.TransformerEncoderLayer(E, 2, 8, dropout=0.0)
        x = m.ones(L, N, E)
        kpm = m.zeros(N, L, dtype=m.bool)
        return warnings_of(lambda: layer(x, m.zeros(L, L), kpm))

    assert prog(tapegrad) == prog(torch) and len(prog(tapegrad)) == 1


@pytest.mark.parametrize("fn", [
    lambda m: m.nn.TransformerEncoderLayer(4, 2, activation="tanh"),
    lambda m: m.nn.TransformerDecoderLayer(4, 2, activation="swish"),
    lambda m: m.nn.TransformerEncoderLayer(5, 2),
    lambda m: m.nn.Transformer(4, 2, 1, 1, 8)(m.ones(3, 2, 4), m.ones(2, 3, 4)),
    lambda m: m.nn.Transformer(4, 2, 1, 1, 8, batch_first=True)(m.ones(3, 2, 4),
                                                                 m.ones(2, 3, 4)),
    lambda m: m.nn.Transformer(4, 2, 1, 1, 8)(m.ones(3, 2, 4), m.ones(2, 2, 5)),
    lambda m: m.nn.Transformer(4, 2, 1, 1, 8)(m.ones(3, 2, 5), m.ones(2, 2, 4)),
    lambda m: m.nn.TransformerEncoderLayer(4, 2)(m.ones(3, 2, 4), m.ones(3, 3, dtype=m.int64)),
    lambda m: m.nn.TransformerEncoderLayer(4, 2)(m.ones(3, 2, 4), m.ones(2, 2)),
    lambda m: m.nn.TransformerEncoderLayer(4, 2)(m.ones(3, 2, 4, 1)),
], ids=range(10))
def test_errors(fn):
    same_error(fn)


def test_custom_encoder_decoder():
    def prog(m):
        m.manual_seed(0)
        enc = m.nn.Linear(4, 4)
        dec_layer = m.nn.TransformerDecoderLayer(4, 2, 8, dropout=0.0)
        dec = m.nn.TransformerDecoder(dec_layer, 1)

        class Enc(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = enc

            def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
                return self.lin(src)

        model = m.nn.Transformer(4, 2, custom_encoder=Enc(), custom_decoder=dec)
        out = model(m.ones(3, 2, 4), m.ones(2, 2, 4))
        return repr(model), out, [tuple(p.shape) for p in model.parameters()]

    same(prog(tapegrad), prog(torch))

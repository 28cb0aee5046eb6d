"""Recurrent layers (RNN, LSTM, GRU and their cells) and nn.utils.rnn against PyTorch: outputs,
final states, gradients of inputs, states and every parameter, reprs, parameter names,
initialisation after manual_seed, dropout masks between layers, packed sequences, errors."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.utils.rnn  # noqa: F401  (makes m.nn.utils.rnn reachable for both libraries)
from _helpers import same, same_error, warnings_of
from _nn_layer_helpers import Spec, build_pair, check_init, check_layer

torch = pytest.importorskip("torch")
pytest.importorskip("torch.nn.utils.rnn")

R = np.random.default_rng(2024)


def rn(*shape):
    return R.standard_normal(shape)


def with_state(cls: str, *args, **kw):
    """A module calling an LSTM-like layer with the state tuple (h, c) given as two inputs."""

    def make(m):
        class WithState(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = getattr(m.nn, cls)(*args, **kw)

            def forward(self, x, h, c):
                return self.rnn(x, (h, c))

        return WithState()

    return make


def layer(cls: str, *args, **kw):
    return lambda m: getattr(m.nn, cls)(*args, **kw)


SPECS = [
    Spec(layer("RNN", 3, 4), [rn(4, 2, 3)], id="RNN"),
    Spec(layer("RNN", 3, 4), [rn(4, 2, 3), rn(1, 2, 4)], id="RNN-h0"),
    Spec(layer("RNN", 3, 4, 2, "relu", bidirectional=True), [rn(4, 2, 3), rn(4, 2, 4)],
         id="RNN-relu-bi"),
    Spec(layer("RNN", 3, 4, bias=False, batch_first=True), [rn(2, 4, 3)], id="RNN-nobias-bf"),
    Spec(layer("RNN", 3, 4, num_layers=2), [rn(4, 3), rn(2, 4)], id="RNN-unbatched"),
    Spec(layer("RNN", 3, 4, num_layers=2, batch_first=True), [rn(4, 3)],
         id="RNN-unbatched-bf"),
    Spec(layer("LSTM", 3, 4), [rn(4, 2, 3)], id="LSTM"),
    Spec(with_state("LSTM", 3, 4, num_layers=2, bidirectional=True),
         [rn(3, 2, 3), rn(4, 2, 4), rn(4, 2, 4)], id="LSTM-2-bi-state"),
    Spec(with_state("LSTM", 3, 4, proj_size=2, num_layers=2, batch_first=True),
         [rn(2, 3, 3), rn(2, 2, 2), rn(2, 2, 4)], id="LSTM-proj"),
    Spec(layer("LSTM", 3, 4, proj_size=3, bidirectional=True, bias=False), [rn(3, 2, 3)],
         id="LSTM-proj-bi-nobias"),
    Spec(with_state("LSTM", 3, 4), [rn(3, 3), rn(1, 4), rn(1, 4)], id="LSTM-unbatched"),
    Spec(layer("GRU", 3, 4), [rn(4, 2, 3), rn(1, 2, 4)], id="GRU"),
    Spec(layer("GRU", 3, 4, num_layers=3, bidirectional=True, batch_first=True),
         [rn(2, 3, 3)], id="GRU-3-bi"),
    Spec(layer("GRU", 3, 4, bias=False), [rn(3, 3)], id="GRU-nobias-unbatched"),
    # dropout between layers, training mode: the masks come from the same stream as torch's
    Spec(layer("LSTM", 3, 4, num_layers=3, dropout=0.5, bidirectional=True), [rn(3, 2, 3)],
         seed=11, id="LSTM-dropout"),
    Spec(layer("GRU", 3, 4, num_layers=2, dropout=0.3, batch_first=True), [rn(2, 3, 3)],
         seed=5, id="GRU-dropout"),
    Spec(layer("RNN", 3, 4, num_layers=2, dropout=0.4), [rn(3, 2, 3)], seed=7,
         id="RNN-dropout"),
    Spec(layer("LSTM", 3, 4, num_layers=2, dropout=0.5), [rn(3, 2, 3)], train=False,
         id="LSTM-dropout-eval"),
    # cells
    Spec(layer("RNNCell", 3, 4), [rn(2, 3), rn(2, 4)], id="RNNCell"),
    Spec(layer("RNNCell", 3, 4, nonlinearity="relu", bias=False), [rn(2, 3)],
         id="RNNCell-relu"),
    Spec(layer("RNNCell", 3, 4), [rn(3), rn(4)], id="RNNCell-unbatched"),
    Spec(with_state("LSTMCell", 3, 4), [rn(2, 3), rn(2, 4), rn(2, 4)], id="LSTMCell"),
    Spec(layer("LSTMCell", 3, 4, bias=False), [rn(3)], id="LSTMCell-unbatched"),
    Spec(layer("GRUCell", 3, 4), [rn(2, 3), rn(2, 4)], id="GRUCell"),
    Spec(layer("GRUCell", 3, 4), [rn(3)], id="GRUCell-unbatched"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_layer_against_torch(spec, dtype):
    check_layer(spec, dtype)


INITS = [
    layer("RNN", 3, 5, num_layers=2, bidirectional=True),
    layer("RNN", 3, 5, bias=False, nonlinearity="relu"),
    layer("LSTM", 2, 6, num_layers=2, proj_size=3, bidirectional=True),
    layer("LSTM", 4, 3, bias=False),
    layer("GRU", 3, 7, num_layers=3),
    layer("GRU", 3, 7, dtype=None, bidirectional=True, batch_first=True),
    layer("RNNCell", 3, 4),
    layer("LSTMCell", 3, 4, bias=False),
    layer("GRUCell", 5, 2),
]


@pytest.mark.parametrize("make", INITS)
def test_init_bit_identical(make):
    check_init(make)


def test_init_dtype_float64():
    check_init(lambda m: m.nn.LSTM(3, 4, num_layers=2, dtype=m.float64))


REPRS = [
    ("RNN", (3, 4), {}),
    ("RNN", (3, 4, 2, "relu"), {"bias": False}),
    ("RNN", (3, 4), {"nonlinearity": "relu", "dropout": 0.25, "num_layers": 3}),
    ("LSTM", (3, 4), {"proj_size": 2, "batch_first": True, "bidirectional": True}),
    ("LSTM", (3, 4), {"dropout": 1, "num_layers": 2}),
    ("GRU", (3, 4, 2, False, True, 0.5, True), {}),
    ("RNNCell", (3, 4, False, "relu"), {}),
    ("RNNCell", (3, 4), {"nonlinearity": "foo"}),
    ("LSTMCell", (3, 4), {}),
    ("GRUCell", (3, 4), {"bias": False}),
]


@pytest.mark.parametrize("cls,args,kw", REPRS)
def test_repr_and_state_dict_keys(cls, args, kw):
    def prog(m):
        mod = getattr(m.nn, cls)(*args, **kw)
        return repr(mod), list(mod.state_dict()), [tuple(p.shape) for p in mod.parameters()]

    same(prog(tapegrad), prog(torch))


def test_attributes_and_all_weights():
    def prog(m):
        mod = m.nn.LSTM(3, 4, num_layers=2, proj_size=2, bidirectional=True)
        names = [[mod._flat_weights_names.index(n) for n in ws] for ws in mod._all_weights]
        ok = all(a is getattr(mod, n) for ws, ns in zip(mod.all_weights, mod._all_weights)
                 for a, n in zip(ws, ns))
        flat_ok = all(a is getattr(mod, n) for a, n in zip(mod._flat_weights,
                                                           mod._flat_weights_names))
        mod.flatten_parameters()
        return (mod.mode, mod.input_size, mod.hidden_size, mod.num_layers, mod.bias,
                mod.batch_first, mod.dropout, mod.bidirectional, mod.proj_size,
                mod._flat_weights_names, mod._all_weights, names, ok, flat_ok,
                type(mod.dropout).__name__)

    same(prog(tapegrad), prog(torch))
    assert isinstance(tapegrad.nn.LSTM(2, 3), tapegrad.nn.RNNBase)
    assert isinstance(tapegrad.nn.GRUCell(2, 3), tapegrad.nn.RNNCellBase)


def test_weights_follow_reassignment_and_double():
    g = tapegrad.nn.GRU(2, 3)
    new = tapegrad.nn.Parameter(tapegrad.zeros(9, 2))
    g.weight_ih_l0 = new
    assert g._flat_weights[0] is new and g.all_weights[0][0] is new
    g.double()
    assert g._flat_weights[0].dtype == tapegrad.float64
    out, h = g(tapegrad.randn(4, 1, 2, dtype=tapegrad.float64))
    assert out.dtype == tapegrad.float64 and tuple(h.shape) == (1, 1, 3)


def test_hidden_of_unbatched_and_batch_first_shapes():
    def prog(m):
        m.manual_seed(0)
        lstm = m.nn.LSTM(3, 5, num_layers=2, proj_size=2, batch_first=True, bidirectional=True)
        x = m.ones(2, 4, 3)
        out, (h, c) = lstm(x)
        out1, (h1, c1) = lstm(m.ones(4, 3))
        return out.shape, h.shape, c.shape, out1.shape, h1.shape, c1.shape, out.grad_fn is None

    same(prog(tapegrad), prog(torch))


def test_zero_batch():
    def prog(m):
        out, h = m.nn.GRU(3, 4, num_layers=2)(m.ones(5, 0, 3))
        return out, h

    same(prog(tapegrad), prog(torch))


def test_double_backward_against_torch_and_gradgradcheck():
    """Second derivatives through a GRU and an LSTM step (the rules are tapegrad ops)."""

    def prog(m):
        m.manual_seed(0)
        gru = m.nn.GRU(2, 3, num_layers=2, bidirectional=True).double()
        lstm = m.nn.LSTM(2, 3, proj_size=2).double()
        x = m.tensor(np.linspace(-1, 1, 12).reshape(3, 2, 2), requires_grad=True)
        y = gru(x)[0].pow(2).sum() + lstm(x)[1][1].sin().sum()
        (gx,) = m.autograd.grad(y, x, create_graph=True)
        (ggx,) = m.autograd.grad(gx.pow(2).sum(), x)
        return gx, ggx

    same(prog(tapegrad), prog(torch), atol=1e-10, rtol=1e-8)

    tapegrad.manual_seed(1)
    cell = tapegrad.nn.LSTMCell(2, 2).double()
    x = tapegrad.randn(2, 2, dtype=tapegrad.float64, requires_grad=True)
    h = tapegrad.randn(2, 2, dtype=tapegrad.float64, requires_grad=True)
    c = tapegrad.randn(2, 2, dtype=tapegrad.float64, requires_grad=True)
    assert tapegrad.autograd.gradgradcheck(lambda a, b, d: cell(a, (b, d)), (x, h, c))


# --- packed sequences ---------------------------------------------------------------------
def packed_layer(cls: str, lengths, *args, batch_first=False, enforce_sorted=False, **kw):
    """A module that packs its padded input, runs the layer and pads the output again."""

    def make(m):
        U = m.nn.utils.rnn

        class Packed(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = getattr(m.nn, cls)(*args, batch_first=batch_first, **kw)

            def forward(self, x, *hx):
                p = U.pack_padded_sequence(x, lengths, batch_first, enforce_sorted)
                if cls == "LSTM" and hx:
                    hx = (hx,)
                out, h = self.rnn(p, *hx)
                padded, lens = U.pad_packed_sequence(out, batch_first, -1.5)
                return padded, lens.float(), h

        return Packed()

    return make


PACKED = [
    Spec(packed_layer("RNN", [2, 4, 1], 3, 4), [rn(4, 3, 3)], id="RNN"),
    Spec(packed_layer("RNN", [4, 4, 2], 3, 4, 2, "relu", bidirectional=True, enforce_sorted=True),
         [rn(4, 3, 3), rn(4, 3, 4)], id="RNN-relu-bi-sorted"),
    Spec(packed_layer("LSTM", [3, 1, 4, 2], 3, 4, num_layers=2, bidirectional=True,
                      batch_first=True), [rn(4, 4, 3), rn(4, 4, 4), rn(4, 4, 4)],
         id="LSTM-bi-bf-state"),
    Spec(packed_layer("LSTM", [3, 1, 2], 3, 4, proj_size=2, bidirectional=True),
         [rn(3, 3, 3)], id="LSTM-proj"),
    Spec(packed_layer("GRU", [1, 3, 2], 3, 4, num_layers=3, bidirectional=True, dropout=0.5),
         [rn(3, 3, 3)], seed=3, id="GRU-dropout"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec", PACKED, ids=lambda s: s.id)
def test_packed_sequence_layers(spec, dtype):
    check_layer(spec, dtype)


def test_packed_output_structure():
    def prog(m):
        U = m.nn.utils.rnn
        m.manual_seed(0)
        lstm = m.nn.LSTM(2, 3)
        p = U.pack_sequence([m.ones(2, 2), m.ones(3, 2), m.ones(1, 2)], enforce_sorted=False)
        out, (h, c) = lstm(p)
        return (type(out).__name__, out.batch_sizes, out.sorted_indices, out.unsorted_indices,
                tuple(out.data.shape), tuple(h.shape))

    same(prog(tapegrad), prog(torch))


def test_pack_pad_utils():
    x = rn(4, 3, 2)
    raw = [rn(3, 2), rn(1, 2), rn(2, 2)]

    def prog(m):
        U = m.nn.utils.rnn
        t = m.tensor(x, requires_grad=True)
        p = U.pack_padded_sequence(t, m.tensor([2, 4, 3]), enforce_sorted=False)
        q = U.pack_padded_sequence(t.transpose(0, 1), [4, 3, 1], batch_first=True)
        padded, lens = U.pad_packed_sequence(p, batch_first=True, total_length=6)
        padded2, lens2 = U.pad_packed_sequence(q, padding_value=9.0)
        (padded * padded.detach().cos()).sum().backward()
        seqs = [m.tensor(v) for v in raw]
        ps = U.pack_sequence(seqs, enforce_sorted=False)
        back = U.unpack_sequence(ps)
        unp = U.unpad_sequence(padded.detach().clone(), lens, batch_first=True)
        return (p.data, p.batch_sizes, p.sorted_indices, p.unsorted_indices, q.data,
                q.batch_sizes, padded, lens, padded2, lens2, t.grad, ps, back, unp,
                U.invert_permutation(m.tensor([2, 0, 3, 1])), U.invert_permutation(None))

    same(prog(tapegrad), prog(torch))


def test_packed_sequence_object():
    def prog(m):
        U = m.nn.utils.rnn
        p = U.PackedSequence(m.ones(3), m.tensor([2, 1]))
        q = U.PackedSequence((m.ones(3), m.tensor([2, 1])))
        r = U.PackedSequence(m.ones(3, dtype=m.float64), m.tensor([2, 1]), m.tensor([1, 0]))
        return (repr(p), repr(q), r.unsorted_indices, str(p.double().data.dtype), p.is_cuda,
                p.to(m.float32) is p, p.long().data, isinstance(p, tuple), len(p))

    same(prog(tapegrad), prog(torch))
    same_error(lambda m: m.nn.utils.rnn.PackedSequence(m.ones(3)))


def test_pad_sequence():
    a, b, c = rn(3, 2), rn(1, 2), rn(2, 2)

    def prog(m):
        U = m.nn.utils.rnn
        ts = [m.tensor(v, requires_grad=True) for v in (a, b, c)]
        outs = [U.pad_sequence(ts), U.pad_sequence(ts, batch_first=True, padding_value=-2.0),
                U.pad_sequence(ts, padding_side="left"),
                U.pad_sequence(ts, True, 1.5, "left"),
                U.pad_sequence(m.ones(2, 3)),
                U.pad_sequence([m.ones(2), m.ones(3, dtype=m.float64)]),
                U.pad_sequence(t for t in [m.ones(2, 1), m.ones(1)])]
        sum((o * (k + 1)).sum() for k, o in enumerate(outs[:4])).backward()
        return outs, [t.grad for t in ts]

    same(prog(tapegrad), prog(torch))


@pytest.mark.parametrize("fn", [
    lambda m: m.nn.utils.rnn.pad_sequence([]),
    lambda m: m.nn.utils.rnn.pad_sequence(5),
    lambda m: m.nn.utils.rnn.pad_sequence([m.ones(2)], padding_side="top"),
    lambda m: m.nn.utils.rnn.pad_sequence([m.ones(2, 2), m.ones(3)]),
    lambda m: m.nn.utils.rnn.pad_sequence([m.ones(2, 2), m.ones(3, 3)]),
    lambda m: m.nn.utils.rnn.pack_padded_sequence(m.ones(4, 3, 2), [4, 2, 3]),
    lambda m: m.nn.utils.rnn.pack_padded_sequence(m.ones(4, 3, 2), [4, 2, 0]),
    lambda m: m.nn.utils.rnn.pack_padded_sequence(m.ones(4, 3, 2), [4, 2]),
    lambda m: m.nn.utils.rnn.pack_padded_sequence(m.ones(4, 3, 2), m.tensor([[4, 2, 1]])),
    lambda m: m.nn.utils.rnn.pack_padded_sequence(m.ones(0, 3, 2), [4, 2, 1]),
    lambda m: m.nn.utils.rnn.pad_packed_sequence(
        m.nn.utils.rnn.pack_sequence([m.ones(3), m.ones(2)]), total_length=2),
], ids=range(11))
def test_utils_errors(fn):
    same_error(fn)


# --- constructor and call errors -----------------------------------------------------------
@pytest.mark.parametrize("fn", [
    lambda m: m.nn.RNN(3, 4, nonlinearity="sigmoid"),
    lambda m: m.nn.RNN(3, 4, proj_size=2),
    lambda m: m.nn.GRU(3, 4, proj_size=2),
    lambda m: m.nn.LSTM(3, 4, proj_size=4),
    lambda m: m.nn.LSTM(3, 4, proj_size=-1),
    lambda m: m.nn.LSTM(3, 4, dropout=1.5),
    lambda m: m.nn.LSTM(3, 4, dropout=True),
    lambda m: m.nn.LSTM(3, 4, dropout="0.1"),
    lambda m: m.nn.LSTM(3, 4, bias=1),
    lambda m: m.nn.LSTM(3, 4, batch_first=None),
    lambda m: m.nn.LSTM(3.0, 4),
    lambda m: m.nn.LSTM(0, 4),
    lambda m: m.nn.LSTM(3, 4.0),
    lambda m: m.nn.LSTM(3, 0),
    lambda m: m.nn.LSTM(3, 4, num_layers=0),
    lambda m: m.nn.modules.rnn.RNNBase("FOO", 3, 4),
], ids=range(16))
def test_constructor_errors(fn):
    same_error(fn)


def test_dropout_warning():
    def prog(m):
        return warnings_of(lambda: m.nn.GRU(3, 4, dropout=0.2))

    assert prog(tapegrad) == prog(torch) and len(prog(tapegrad)) == 1
    assert warnings_of(lambda: tapegrad.nn.GRU(3, 4, num_layers=2, dropout=0.2)) == []


def _f(m, *shape, dtype=None):
    return m.ones(*shape, dtype=dtype)


@pytest.mark.parametrize("fn", [
    lambda m: m.nn.LSTM(3, 4)(_f(m, 5, 2, 3, dtype=m.float64)),
    lambda m: m.nn.LSTM(3, 4)(_f(m, 5, 2, 4)),
    lambda m: m.nn.LSTM(3, 4)(_f(m, 5, 2, 3), (_f(m, 1, 3, 4), _f(m, 1, 2, 4))),
    lambda m: m.nn.LSTM(3, 4)(_f(m, 5, 2, 3), (_f(m, 1, 2, 4), _f(m, 2, 2, 4))),
    lambda m: m.nn.LSTM(3, 4)(_f(m, 5, 2, 3), (_f(m, 1, 2, 4),)),
    lambda m: m.nn.LSTM(3, 4)(_f(m, 0, 2, 3)),
    lambda m: m.nn.LSTM(3, 4)(_f(m, 5, 3), (_f(m, 1, 1, 4), _f(m, 1, 4))),
    lambda m: m.nn.LSTM(3, 4)(_f(m, 5, 2, 3), (_f(m, 2, 4), _f(m, 1, 2, 4))),
    lambda m: m.nn.LSTM(3, 4)(_f(m, 5, 2, 3, 4)),
    lambda m: m.nn.LSTM(3, 4, proj_size=2)(_f(m, 5, 2, 3), (_f(m, 1, 2, 4), _f(m, 1, 2, 4))),
    lambda m: m.nn.GRU(3, 4)(_f(m, 5, 2, 3), _f(m, 1, 2, 4, dtype=m.float64)),
    lambda m: m.nn.GRU(3, 4)(_f(m, 5, 2, 3), _f(m, 1, 2)),
    lambda m: m.nn.GRU(3, 4)(_f(m, 5, 3), _f(m, 1, 2, 4)),
    lambda m: m.nn.GRU(3, 4)(_f(m, 5, 2, 3), _f(m, 2, 2, 4)),
    lambda m: m.nn.GRU(3, 4, batch_first=True)(_f(m, 2, 5, 3), _f(m, 1, 5, 4)),
    lambda m: m.nn.GRU(3, 4)(_f(m, 5, 2, 3, 1)),
    lambda m: m.nn.RNN(3, 4)(_f(m, 5, 2, 3, 1)),
    lambda m: m.nn.RNN(3, 4)(_f(m, 5)),
    lambda m: m.nn.RNN(3, 4)(_f(m, 5, 2, 3), _f(m, 1, 2, 4, dtype=m.float64)),
    lambda m: m.nn.RNN(3, 4)(_f(m, 5, 2, 3).int()),
    lambda m: m.nn.RNN(3, 4, bidirectional=True)(_f(m, 5, 2, 3), _f(m, 1, 2, 4)),
    lambda m: m.nn.RNNCell(3, 4)(_f(m, 2, 4)),
    lambda m: m.nn.RNNCell(3, 4)(_f(m, 2, 3), _f(m, 2, 5)),
    lambda m: m.nn.RNNCell(3, 4)(_f(m, 2, 3), _f(m, 3, 4)),
    lambda m: m.nn.RNNCell(3, 4)(_f(m, 2, 3), _f(m, 4)),
    lambda m: m.nn.RNNCell(3, 4)(_f(m, 3), _f(m, 2, 4)),
    lambda m: m.nn.RNNCell(3, 4)(_f(m, 2, 3, 1)),
    lambda m: m.nn.RNNCell(3, 4)(_f(m, 2, 3), _f(m, 2, 4, 1)),
    lambda m: m.nn.RNNCell(3, 4)(_f(m, 2, 3, dtype=m.float64)),
    lambda m: m.nn.RNNCell(3, 4)(_f(m, 2, 3), _f(m, 2, 4, dtype=m.float64)),
    lambda m: m.nn.RNNCell(3, 4, nonlinearity="foo")(_f(m, 2, 3)),
    lambda m: m.nn.LSTMCell(3, 4)(_f(m, 2, 4)),
    lambda m: m.nn.LSTMCell(3, 4)(_f(m, 2, 3), (_f(m, 2, 5), _f(m, 2, 4))),
    lambda m: m.nn.LSTMCell(3, 4)(_f(m, 2, 3), (_f(m, 2, 4), _f(m, 2, 5))),
    lambda m: m.nn.LSTMCell(3, 4)(_f(m, 2, 3), (_f(m, 2, 4), _f(m, 2, 4, 1))),
    lambda m: m.nn.LSTMCell(3, 4)(_f(m, 2, 3), (_f(m, 3, 4), _f(m, 3, 4))),
    lambda m: m.nn.GRUCell(3, 4)(_f(m, 2, 4)),
    lambda m: m.nn.GRUCell(3, 4)(_f(m, 2, 3), _f(m, 2, 5)),
    lambda m: m.nn.GRUCell(3, 4)(_f(m, 2, 3, 4)),
], ids=range(39))
def test_call_errors(fn):
    same_error(fn)


def test_pickle_and_deepcopy_roundtrip():
    import copy
    import pickle

    tapegrad.manual_seed(0)
    lstm = tapegrad.nn.LSTM(2, 3, num_layers=2)
    x = tapegrad.randn(4, 1, 2)
    for clone in (copy.deepcopy(lstm), pickle.loads(pickle.dumps(lstm))):
        assert repr(clone) == repr(lstm)
        a, b = clone(x)[0], lstm(x)[0]
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
        assert clone._flat_weights[0] is clone.weight_ih_l0


def test_state_dict_roundtrip_from_torch_trained_weights():
    """A torch LSTM's state_dict loads into tapegrad's and gives the same outputs."""
    gmod, tmod = build_pair(Spec(layer("LSTM", 3, 4, num_layers=2), []), "float32")
    x = rn(5, 2, 3).astype("float32")
    a = gmod(tapegrad.tensor(x))[0].detach().numpy()
    b = tmod(torch.tensor(x))[0].detach().numpy()
    np.testing.assert_allclose(a, b, atol=2e-6, rtol=1e-5)

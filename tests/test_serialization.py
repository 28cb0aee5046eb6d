"""tapegrad.save / tapegrad.load: round trips (compared with torch.save / torch.load), models
and optimizers, and damaged or hostile files (a clear SerializationError, never a crash)."""

from __future__ import annotations

import collections
import io
import json
import math
import os
import pickle
import struct

import numpy as np
import pytest

import tapegrad
from _helpers import both, same
from tapegrad.serialization import MAX_DEPTH, SerializationError


def roundtrip(m, obj, **load_kw):
    buf = io.BytesIO()
    m.save(obj, buf)
    buf.seek(0)
    return m.load(buf, **load_kw)


def _tensors(m):
    return {
        "f32": m.arange(6.0).reshape(2, 3),
        "f64": m.tensor([1.5, -2.25], dtype=m.float64),
        "f16": m.tensor([0.5, 65504.0, -0.0], dtype=m.float16),
        "i64": m.tensor([-(2**63), 2**63 - 1]),
        "i32": m.tensor([1, -2], dtype=m.int32),
        "i16": m.tensor([7], dtype=m.int16),
        "i8": m.tensor([-128, 127], dtype=m.int8),
        "u8": m.tensor([0, 255], dtype=m.uint8),
        "bool": m.tensor([True, False, True]),
        "c64": m.tensor([1 + 2j, -3j], dtype=m.complex64),
        "c128": m.tensor([[1 + 2j]], dtype=m.complex128),
        "scalar": m.tensor(3.5),
        "empty": m.zeros(0, 4),
        "special": m.tensor([float("inf"), float("-inf"), float("nan")]),
    }


def test_tensor_dtypes_roundtrip_like_torch():
    def prog(m):
        out = roundtrip(m, _tensors(m))
        return out, {k: str(v.dtype) for k, v in out.items()}

    both(prog)


def test_values_are_bit_exact():
    t = _tensors(tapegrad)
    out = roundtrip(tapegrad, t)
    for k in t:
        assert out[k]._data.dtype == t[k]._data.dtype
        assert out[k]._data.tobytes() == t[k]._data.tobytes(), k
        assert out[k]._data.flags.writeable
    out["f32"].add_(1)  # loaded tensors own their memory: writing one leaves the rest alone
    same(out["f64"], t["f64"])


def test_requires_grad_leaves_and_parameters_like_torch():
    def prog(m):
        x = m.ones(3, requires_grad=True)
        x.grad = m.full((3,), 2.0)
        obj = {"x": x, "y": x * 2, "v": x[1:], "plain": m.zeros(2),
               "p": m.nn.Parameter(m.ones(2)),
               "q": m.nn.Parameter(m.ones(2), requires_grad=False)}
        out = roundtrip(m, obj)
        info = {k: (v.requires_grad, v.is_leaf, v.grad_fn is None, v.grad is None,
                    type(v).__name__) for k, v in out.items()}
        return out, info

    both(prog)


def test_layouts_and_sharing_like_torch():
    def prog(m):
        base = m.arange(24.0).reshape(2, 3, 4)
        obj = {"t": base[0].t(), "perm": base.permute(2, 0, 1), "step": base[:, ::2],
               "same": [base, base]}
        out = roundtrip(m, obj)
        return (out, out["t"].stride(), out["perm"].stride(), out["same"][0] is out["same"][1],
                out["t"].is_contiguous())

    both(prog)


def test_python_values_roundtrip():
    od = collections.OrderedDict([("w", tapegrad.ones(2)), ("b", tapegrad.zeros(1))])
    od._metadata = collections.OrderedDict([("", {"version": 1})])
    obj = {
        "od": od, "int_keys": {0: "a", -5: "b", 2**70: "big"}, "tuple_key": {(1, "x"): 3},
        "float_key": {1.5: None, True: False}, "none": None, "floats": [0.1, -0.0, 1e308, 5e-324],
        "special": [math.inf, -math.inf], "complex": 1 - 2.5j, "bytes": b"\x00\xff",
        "text": "héllo \u2603 \n\"quoted\"", "nested": ((1, [2, (3,)]), []), "empty": {},
        "dtype": tapegrad.float16, "size": tapegrad.Size([2, 0]), "device": tapegrad.device("cpu"),
        "np_scalars": [np.float32(0.5), np.int64(3), np.bool_(True)],
    }
    out = roundtrip(tapegrad, obj)
    assert type(out["od"]) is collections.OrderedDict and list(out["od"]) == ["w", "b"]
    assert out["od"]._metadata == {"": {"version": 1}}
    for k in ("int_keys", "tuple_key", "float_key", "none", "floats", "special", "complex",
              "bytes", "text", "nested", "empty", "dtype", "size", "device"):
        assert out[k] == obj[k] and type(out[k]) is type(obj[k]), k
    assert math.copysign(1, out["floats"][1]) == -1
    assert out["np_scalars"] == [0.5, 3, True] and type(out["np_scalars"][1]) is int
    nan = roundtrip(tapegrad, float("nan"))
    assert math.isnan(nan)
    assert isinstance(out["size"], tapegrad.Size)


def test_paths_and_file_objects(tmp_path):
    t = tapegrad.arange(4.0)
    p = tmp_path / "t.pt"
    tapegrad.save(t, p)
    same(tapegrad.load(p), t)
    tapegrad.save({"a": t}, str(p))
    same(tapegrad.load(str(p))["a"], t)
    with open(p, "wb") as fh:  # two objects one after another in one file object
        fh.write(b"junk")
        tapegrad.save([1, t], fh)
    with open(p, "rb") as fh:
        fh.read(4)
        out = tapegrad.load(fh)
    assert out[0] == 1
    same(out[1], t)
    with pytest.raises(TypeError, match="binary mode"):
        with open(p, encoding="latin-1") as fh:
            tapegrad.load(fh)


def test_map_location_and_weights_only():
    t = tapegrad.ones(2)
    for loc in (None, "cpu", tapegrad.device("cpu"), {"cuda:0": "cpu"}):
        same(roundtrip(tapegrad, t, map_location=loc), t)
    same(roundtrip(tapegrad, t, weights_only=False), t)
    seen = []
    out = roundtrip(tapegrad, [t, t * 2], map_location=lambda s, loc: seen.append(loc) or s * 10)
    same(out[1], tapegrad.full((2,), 20.0))
    assert seen == ["cpu", "cpu"]
    with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
        roundtrip(tapegrad, t, map_location="cuda")


def test_unsupported_objects_are_refused_at_save():
    for bad in (object(), {1, 2}, [lambda: 0], {"k": np.ones(2)}, collections.Counter(a=1)):
        with pytest.raises(TypeError, match="tapegrad.save cannot save an object of type"):
            tapegrad.save(bad, io.BytesIO())
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        tapegrad.save(loop, io.BytesIO())
    deep: list = []
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than"):
        tapegrad.save(deep, io.BytesIO())
    ok: list = []
    for _ in range(MAX_DEPTH - 1):
        ok = [ok]
    assert roundtrip(tapegrad, ok) == ok


def test_model_and_optimizer_state_roundtrip():
    tapegrad.manual_seed(0)
    nn = tapegrad.nn
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = tapegrad.optim.Adam(model.parameters(), lr=0.01)
    x = tapegrad.randn(16, 4)

    def step(mod, o):
        loss = mod(x).pow(2).mean()
        o.zero_grad()
        loss.backward()
        o.step()
        return loss.item()

    step(model, opt)
    blob = io.BytesIO()
    tapegrad.save({"model": model.state_dict(), "opt": opt.state_dict()}, blob)
    blob.seek(0)
    ckpt = tapegrad.load(blob)
    model2 = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    model2.load_state_dict(ckpt["model"])
    opt2 = tapegrad.optim.Adam(model2.parameters(), lr=0.5)
    opt2.load_state_dict(ckpt["opt"])
    assert list(ckpt["opt"]["state"]) == [0, 1, 2, 3]  # int keys survive
    for _ in range(3):
        assert step(model, opt) == step(model2, opt2)
    for a, b in zip(model.parameters(), model2.parameters()):
        same(a, b, atol=0, rtol=0)


# --- damaged and hostile files -----------------------------------------------------------
def craft(header, data: bytes = b"", magic: bytes = b"TAPEGRAD", version: int = 1) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<8sIIQ", magic, version, 0, len(raw)) + raw + data


def good_header(**entry):
    e = {"dtype": "float32", "shape": [2], "offset": 0, "nbytes": 8, "requires_grad": False}
    e.update(entry)
    return {"format": "tapegrad", "version": 1, "data_size": 8, "tensors": [e],
            "object": {"tensor": 0}}


def load_bytes(b: bytes):
    return tapegrad.load(io.BytesIO(b))


def test_crafted_file_loads():
    out = load_bytes(craft(good_header(), np.array([1, 2], "<f4").tobytes()))
    same(out, tapegrad.tensor([1.0, 2.0]))


def _with(**changes):
    h = good_header()
    h.update(changes)
    return h


BAD_FILES = {
    "empty": (b"", "too short"),
    "short": (b"TAPEG", "too short"),
    "bad magic": (craft(good_header(), b"\0" * 8, magic=b"NOTMAGIC"), "bad magic"),
    "torch zip": (b"PK\x03\x04" + b"\0" * 40, "torch.save"),
    "pickle": (pickle.dumps({"a": 1}, protocol=2), "torch.save"),
    "version": (craft(good_header(), b"\0" * 8, version=99), "format version 99"),
    "header past end": (craft(good_header())[:-10], "runs past the end"),
    "truncated data": (craft(good_header(), b"\0" * 7), "truncated"),
    "trailing bytes": (craft(good_header(), b"\0" * 9), "truncated or padded"),
    "not json": (craft(b"{not json"), "not valid JSON"),
    "not utf8": (craft(b'{"\xff": 1}'), "not UTF-8"),
    "json array": (craft(b"[1, 2]"), "not a tapegrad header"),
    "deep json": (craft(b"[" * 100000 + b"]" * 100000), "header"),
    "huge int": (craft(b'{"format": "tapegrad", "x": ' + b"9" * 5000 + b"}"), "not valid JSON"),
    "unknown dtype": (craft(good_header(dtype="float128"), b"\0" * 8), "unknown dtype"),
    "dtype not str": (craft(good_header(dtype=["float32"]), b"\0" * 8), "unknown dtype"),
    "negative dim": (craft(good_header(shape=[-2]), b"\0" * 8), "invalid shape"),
    "bool dim": (craft(good_header(shape=[True]), b"\0" * 8), "invalid shape"),
    "float dim": (craft(good_header(shape=[2.0]), b"\0" * 8), "invalid shape"),
    "too many dims": (craft(good_header(shape=[1] * 65, nbytes=4), b"\0" * 8), "invalid shape"),
    "huge shape": (craft(good_header(shape=[2**40, 2**40], nbytes=8), b"\0" * 8), "do not hold"),
    "huge shape matching nbytes": (craft(good_header(shape=[2**40], nbytes=2**42), b"\0" * 8),
                                   "outside the data"),
    "nbytes mismatch": (craft(good_header(nbytes=4), b"\0" * 8), "do not hold"),
    "offset out of range": (craft(good_header(offset=4), b"\0" * 8), "outside the data"),
    "negative offset": (craft(good_header(offset=-8), b"\0" * 8), "invalid offset"),
    "bad perm": (craft(good_header(perm=[1]), b"\0" * 8), "dimension order"),
    "int requires grad": (craft(good_header(dtype="int32", requires_grad=True), b"\0" * 8),
                          "cannot require grad"),
    "requires_grad not bool": (craft(good_header(requires_grad=1), b"\0" * 8), "true or false"),
    "tensor index": (craft(_with(object={"tensor": 3}), b"\0" * 8), "reference to tensor"),
    "tensor index str": (craft(_with(object={"tensor": "0"}), b"\0" * 8), "reference to tensor"),
    "unknown tag": (craft(_with(object={"pickle": "cos\nsystem"}), b"\0" * 8), "unknown"),
    "two tags": (craft(_with(object={"list": [], "tuple": []}), b"\0" * 8), "unexpected"),
    "bare list": (craft(_with(object=[1, 2]), b"\0" * 8), "unexpected value"),
    "unhashable key": (craft(_with(object={"dict": [[{"list": []}, 1]]}), b"\0" * 8),
                       "unhashable"),
    "bad pair": (craft(_with(object={"dict": [[1, 2, 3]]}), b"\0" * 8), "pair"),
    "bad base64": (craft(_with(object={"bytes": "!!"}), b"\0" * 8), "base64"),
    "bad device": (craft(_with(object={"device": "tpu:x"}), b"\0" * 8), "device"),
    "bad dtype value": (craft(_with(object={"dtype": "float128"}), b"\0" * 8), "tagged"),
    "bad float": (craft(_with(object={"float": "1e5"}), b"\0" * 8), "tagged"),
    "no table": (craft({"format": "tapegrad", "data_size": 0, "object": 1}), "table missing"),
    "bad data_size": (craft({"format": "tapegrad", "data_size": "8", "object": 1}),
                      "data_size"),
    "no object": (craft({"format": "tapegrad", "data_size": 0, "tensors": []}), "no object"),
}


def _nest(n):
    node = 1
    for _ in range(n):
        node = {"list": [node]}
    return node


BAD_FILES["deep object"] = (craft(_with(object=_nest(MAX_DEPTH + 5)), b"\0" * 8), "nested")


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_malformed_files_give_clear_errors(name):
    data, fragment = BAD_FILES[name]
    with pytest.raises(SerializationError) as info:
        load_bytes(data)
    assert isinstance(info.value, RuntimeError)
    assert str(info.value).startswith("tapegrad.load: ")
    assert fragment in str(info.value), str(info.value)


def test_torch_file_is_refused_without_unpickling(tmp_path):
    torch = pytest.importorskip("torch")
    p = tmp_path / "torch.pt"
    torch.save({"w": torch.ones(2)}, p)
    with pytest.raises(SerializationError, match="torch.save"):
        tapegrad.load(p)


class _Evil:
    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_pickle_payload_never_runs(tmp_path):
    evil = _Evil()
    evil.path = str(tmp_path / "pwned")
    for payload in (pickle.dumps(evil), craft(pickle.dumps(evil))):
        with pytest.raises(SerializationError):
            load_bytes(payload)
    assert not os.path.exists(evil.path)


def test_random_corruption_never_crashes():
    buf = io.BytesIO()
    obj = {"a": tapegrad.arange(6.0).reshape(2, 3), "b": [1, 2.5, "x", (None, True)],
           "c": collections.OrderedDict(k=tapegrad.ones(2, dtype=tapegrad.int64))}
    tapegrad.save(obj, buf)
    good = buf.getvalue()
    rs = np.random.RandomState(0)
    outcomes = collections.Counter()
    for _ in range(400):
        data = bytearray(good)
        kind = rs.randint(3)
        if kind == 0:  # flip bytes
            for pos in rs.randint(0, len(data), rs.randint(1, 4)):
                data[pos] = rs.randint(256)
        elif kind == 1:  # truncate
            data = data[:rs.randint(0, len(data))]
        else:  # change one header character
            pos = rs.randint(24, 24 + struct.unpack_from("<Q", good, 16)[0])
            data[pos] = ord(rs.choice(list('{}[]",:0123456789-ab ')))
        try:
            load_bytes(bytes(data))
            outcomes["loaded"] += 1
        except SerializationError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 200 and sum(outcomes.values()) == 400

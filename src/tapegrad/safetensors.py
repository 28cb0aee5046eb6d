"""Read and write `.safetensors` files (Hugging Face's format) with NumPy alone; the API
mirrors `safetensors.torch` (save, save_file, load, load_file).

The format: an 8-byte little-endian header length N; N bytes of UTF-8 JSON mapping each
tensor name to {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} (offsets into
the data that follows the header), plus an optional "__metadata__" object of strings; then
the tensors' bytes, C order, little-endian, packed with no gaps. Files written here are byte
for byte what the safetensors package writes for the same tensors.

>>> import tapegrad
>>> from tapegrad import safetensors
>>> blob = safetensors.save({"w": tapegrad.ones(2)})
>>> safetensors.load(blob)
{'w': tensor([1., 1.])}
"""

from __future__ import annotations

import json
import os
import struct
import warnings

import numpy as np

from . import _dtype as D
from ._device import check_device
from ._tensor import Tensor, _make

__all__ = ["save", "save_file", "load", "load_file", "SafetensorError"]

MAX_HEADER_SIZE = 100_000_000  # the reference reader refuses larger headers

# dtype codes in the reference implementation's declaration order (the writer sorts by it)
_ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
          "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64",
          "F64", "I64", "U64"]
_RANK = {code: k for k, code in enumerate(_ORDER)}

_TO_CODE = {D.bool: "BOOL", D.uint8: "U8", D.int8: "I8", D.int16: "I16", D.float16: "F16",
            D.int32: "I32", D.float32: "F32", D.complex64: "C64", D.float64: "F64",
            D.int64: "I64"}
_FROM_CODE = {code: dt for dt, code in _TO_CODE.items()}
_BF16_BYTES = 2


class SafetensorError(ValueError):
    """A .safetensors file or buffer that cannot be read, or tensors that cannot be written."""


# --- writing -----------------------------------------------------------------------------
def _root(arr: np.ndarray):
    while isinstance(arr.base, np.ndarray):
        arr = arr.base
    return id(arr.base) if arr.base is not None else id(arr)


def _check_tensors(tensors) -> None:
    if not isinstance(tensors, dict):
        raise ValueError(
            f"Expected a dict of [str, tapegrad.Tensor] but received {type(tensors)}")
    for k, v in tensors.items():
        if not isinstance(k, str):
            raise TypeError(
                f"argument 'tensor_dict': '{type(k).__name__}' object is not an instance of 'str'")
        if not isinstance(v, Tensor):
            raise ValueError(f"Key `{k}` is invalid, expected tapegrad.Tensor but received "
                             f"{type(v)}")
    # tensors whose memory overlaps would be written twice and come back unshared
    groups: dict[int, list[str]] = {}
    for k, v in tensors.items():
        groups.setdefault(_root(v._data), []).append(k)
    failing = []
    for names in groups.values():
        for i, a in enumerate(names):
            clash = {a} | {b for b in names[i + 1:]
                           if np.shares_memory(tensors[a]._data, tensors[b]._data)}
            if len(clash) > 1 and not any(clash <= f for f in failing):
                failing.append(clash)
    if failing:
        raise RuntimeError(
            "Some tensors share memory, this will lead to duplicate memory on disk and potential "
            f"differences when loading them again: {[sorted(f) for f in failing]}. Save each "
            "tensor once (clone the others) or save only the full tensors.")
    for k, v in tensors.items():
        if not v.is_contiguous():
            raise ValueError(
                f"You are trying to save a non contiguous tensor: `{k}` which is not allowed. It "
                "either means you are trying to save tensors which are reference of each other in "
                "which case it's recommended to save only the full tensors, and reslice at load "
                "time, or simply call `.contiguous()` on your tensor to pack it before saving.")


def _check_metadata(metadata) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise TypeError(f"argument 'metadata': '{type(metadata).__name__}' object is not an "
                        "instance of 'dict'")
    for k, v in metadata.items():
        for s in (k, v):
            if not isinstance(s, str):
                raise TypeError(f"argument 'metadata': '{type(s).__name__}' object is not an "
                                "instance of 'str'")


def _serialize(tensors: dict[str, Tensor], metadata: dict[str, str] | None) -> list:
    """[header bytes, array, array, ...] in file order."""
    _check_tensors(tensors)
    _check_metadata(metadata)
    rows = []
    for name, t in tensors.items():
        code = _TO_CODE.get(t._dtype)
        if code is None:
            raise SafetensorError(
                f'Unknown dtype "{t._dtype.name}". Supported dtypes: '
                + ", ".join(dt.name for dt in _TO_CODE))
        rows.append((name, code, t._data))
    # the reference writer orders tensors by dtype (declaration order, descending), then name
    rows.sort(key=lambda r: (-_RANK[r[1]], r[0]))
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    arrays = []
    pos = 0
    for name, code, arr in rows:
        arr = arr.astype(arr.dtype.newbyteorder("<"), order="C", copy=False)
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [pos, pos + arr.nbytes]}
        pos += arr.nbytes
        arrays.append(arr)
    raw = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return [struct.pack("<Q", len(raw)) + raw] + arrays


def _chunks(parts: list):
    yield parts[0]
    for arr in parts[1:]:
        yield arr.reshape(-1).view(np.uint8).data


def save(tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """The bytes of a .safetensors file holding `tensors` (contiguous, not sharing memory)."""
    return b"".join(bytes(c) for c in _chunks(_serialize(tensors, metadata)))


def save_file(tensors: dict[str, Tensor], filename: str | os.PathLike,
              metadata: dict[str, str] | None = None) -> None:
    """Write `tensors` (and optional str -> str `metadata`) to a .safetensors file."""
    parts = _serialize(tensors, metadata)
    with open(filename, "wb") as fh:
        for c in _chunks(parts):
            fh.write(c)


# --- reading -----------------------------------------------------------------------------
def _fail(msg: str):
    raise SafetensorError(f"Error while deserializing: {msg}")


def _is_count(v) -> bool:
    return type(v) is int and v >= 0


def _parse(data) -> tuple[dict, int]:
    """Validate the header of `data`; (name -> (code, shape, begin, end), data start)."""
    if len(data) < 8:
        _fail("header too small")
    (n,) = struct.unpack_from("<Q", data)
    if n > MAX_HEADER_SIZE:
        _fail("header too large")
    if 8 + n > len(data):
        _fail("invalid header length")
    try:
        header = json.loads(bytes(data[8:8 + n]).decode("utf-8"))
    except UnicodeDecodeError as e:
        _fail(f"invalid UTF-8 in header: {e}")
    except RecursionError:
        _fail("invalid JSON in header: nested too deeply")
    except ValueError as e:
        _fail(f"invalid JSON in header: {e}")
    if not isinstance(header, dict):
        _fail("invalid JSON in header: the header is not a JSON object")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(
            isinstance(v, str) for v in meta.values())):
        _fail("invalid JSON in header: __metadata__ must map strings to strings")
    entries = {}
    for name, info in header.items():
        if not isinstance(info, dict):
            _fail(f"invalid JSON in header: tensor `{name}` is not an object")
        code, shape, offs = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(code, str) or code not in _RANK:
            _fail(f"invalid JSON in header: unknown dtype {code!r} for tensor `{name}`")
        if not isinstance(shape, list) or not all(_is_count(s) for s in shape):
            _fail(f"invalid JSON in header: invalid shape for tensor `{name}`")
        if not (isinstance(offs, list) and len(offs) == 2 and all(_is_count(o) for o in offs)):
            _fail(f"invalid JSON in header: invalid data_offsets for tensor `{name}`")
        entries[name] = (code, shape, offs[0], offs[1])
    # the tensors must tile the data exactly: sorted by start, each begins where the last ended
    size = len(data) - 8 - n
    pos = 0
    for name, (code, shape, begin, end) in sorted(entries.items(), key=lambda e: e[1][2:]):
        if begin != pos or end < begin:
            _fail(f"invalid offset for tensor `{name}`")
        nbytes = _nbytes(code, shape)
        if nbytes is not None and nbytes != end - begin:
            _fail(f"invalid shape, data type, or offset for tensor `{name}`")
        pos = end
    if pos != size:
        _fail("incomplete metadata, file not fully covered")
    return entries, 8 + n


_ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4,
             "U32": 4, "F32": 4, "C64": 8, "F64": 8, "I64": 8, "U64": 8, "F8_E5M2": 1,
             "F8_E4M3": 1, "F8_E8M0": 1, "F8_E4M3FNUZ": 1, "F8_E5M2FNUZ": 1}


def _nbytes(code: str, shape: list) -> int | None:
    """Bytes of a tensor (None for the sub-byte float formats, checked when converted)."""
    size = _ITEMSIZE.get(code)
    if size is None:
        return None
    n = size
    for s in shape:
        n *= s
    return n


def _to_tensor(name: str, code: str, shape: list, raw: np.ndarray) -> Tensor:
    if code == "BF16":
        # bfloat16 is the top half of a float32: widening is exact
        bits = raw.view("<u2").astype(np.uint32) << np.uint32(16)
        return _make(bits.view(np.float32).reshape(shape))
    dt = _FROM_CODE.get(code)
    if dt is None:
        raise SafetensorError(f"tensor `{name}` has dtype {code}, which tapegrad does not "
                              "support")
    if dt is D.bool:
        return _make(raw.reshape(shape) != 0)
    return _make(raw.view(np.dtype(dt.np).newbyteorder("<")).reshape(shape).astype(dt.np))


def load(data: bytes) -> dict[str, Tensor]:
    """The tensors in the bytes of a .safetensors file, by name (in file order).

    BF16 tensors come back as float32 (exactly; tapegrad has no bfloat16), with a warning.
    """
    entries, start = _parse(data)
    buf = np.frombuffer(data, np.uint8)
    out = {}
    widened = []
    for name, (code, shape, begin, end) in sorted(entries.items(), key=lambda e: e[1][2]):
        out[name] = _to_tensor(name, code, shape, buf[start + begin:start + end])
        if code == "BF16":
            widened.append(name)
    if widened:
        warnings.warn(f"tapegrad has no bfloat16 dtype: {len(widened)} BF16 tensor(s) were "
                      f"loaded as float32 (exact), e.g. `{widened[0]}`", stacklevel=2)
    return out


def load_file(filename: str | os.PathLike, device: str = "cpu") -> dict[str, Tensor]:
    """The tensors of a .safetensors file, by name (see `load`)."""
    check_device(device)
    with open(filename, "rb") as fh:
        data = fh.read()
    return load(data)

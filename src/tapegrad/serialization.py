"""`tapegrad.save` / `tapegrad.load`: checkpoints in a format that never runs code on load.

PyTorch pickles; a pickle can execute anything when read. tapegrad writes one file:

    bytes 0-7    magic b"TAPEGRAD"
    bytes 8-11   format version (uint32, little-endian), 12-15 zero
    bytes 16-23  header length H (uint64, little-endian)
    H bytes      UTF-8 JSON header, space-padded so that the data starts at a multiple of 64
    data         each tensor's bytes, C order, little-endian, at 64-byte aligned offsets

The header holds a table of tensors (dtype name, shape, offset, byte count, requires_grad,
Parameter or not, and the dimension order of strided layouts such as `x.t()`) and the object
tree, built only from JSON values and a closed set of tags (list, tuple, dict, OrderedDict,
tensor, float, complex, bytes, dtype, Size, device). Loading checks every field against the
file before touching data, so a damaged or hostile file raises `SerializationError` (a
RuntimeError) naming the problem.

>>> import io, tapegrad
>>> buf = io.BytesIO()
>>> tapegrad.save({"w": tapegrad.ones(2), "step": 3}, buf)
>>> _ = buf.seek(0)
>>> tapegrad.load(buf)
{'w': tensor([1., 1.]), 'step': 3}
"""

from __future__ import annotations

import base64
import collections
import json
import math
import os
import struct
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from . import _dtype as D
from ._device import check_device, device
from ._size import Size
from ._tensor import Tensor, _make

__all__ = ["save", "load", "SerializationError"]

MAGIC = b"TAPEGRAD"
VERSION = 1
_PREFIX = struct.Struct("<8sIIQ")  # magic, version, reserved, header length
_ALIGN = 64
MAX_DEPTH = 200  # nesting of containers; state dicts use about 5
_MAX_DIMS = 64  # NumPy's limit

_DTYPES = {d.name: d for d in (D.bool, D.uint8, D.int8, D.int16, D.int32, D.int64, D.float16,
                               D.float32, D.float64, D.complex64, D.complex128)}


class SerializationError(RuntimeError):
    """A file that tapegrad.load cannot read: not tapegrad's format, truncated, or invalid."""


def _parameter_class():
    try:
        from .nn.parameter import Parameter
    except ImportError:  # nn not built yet
        return None
    return Parameter


# --- writing -----------------------------------------------------------------------------
class _Writer:
    """Turns an object into (header tree, tensor table, arrays to write)."""

    def __init__(self) -> None:
        self.table: list[dict] = []
        self.arrays: list[np.ndarray] = []
        self.index: dict[int, int] = {}  # id(tensor) -> row (a tensor saved twice loads once)
        self.keep: list[Tensor] = []  # keeps ids valid while saving
        self.size = 0
        self.param_cls = _parameter_class()
        self.open: set[int] = set()  # containers being encoded (to refuse cycles)

    def tensor(self, t: Tensor) -> int:
        row = self.index.get(id(t))
        if row is not None:
            return row
        arr = t._data
        perm = None
        if not arr.flags.c_contiguous and arr.ndim > 1:
            # a permuted layout (x.t(), x.permute(...)): store it in memory order
            order = sorted(range(arr.ndim), key=lambda k: -arr.strides[k])
            if arr.transpose(order).flags.c_contiguous:
                perm, arr = order, arr.transpose(order)
        arr = arr.astype(arr.dtype.newbyteorder("<"), order="C", copy=False)  # keeps 0-d
        offset = -(-self.size // _ALIGN) * _ALIGN
        entry = {"dtype": t._dtype.name, "shape": list(arr.shape), "offset": offset,
                 "nbytes": arr.nbytes, "requires_grad": bool(t._requires_grad)}
        if perm is not None:
            entry["perm"] = perm
        if self.param_cls is not None and isinstance(t, self.param_cls):
            entry["parameter"] = True
        self.size = offset + arr.nbytes
        row = len(self.table)
        self.table.append(entry)
        self.arrays.append(arr)
        self.index[id(t)] = row
        self.keep.append(t)
        return row

    def encode(self, obj, depth: int = 0):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        tp = type(obj)
        if tp is int or (isinstance(obj, int) and not isinstance(obj, bool)):
            return int(obj)
        if isinstance(obj, float):
            return float(obj) if math.isfinite(obj) else {"float": repr(float(obj))}
        if isinstance(obj, Tensor):
            return {"tensor": self.tensor(obj)}
        if isinstance(obj, D.dtype):
            return {"dtype": obj.name}
        if isinstance(obj, device):
            return {"device": str(obj)}
        if isinstance(obj, complex):
            return {"complex": [self.encode(obj.real), self.encode(obj.imag)]}
        if isinstance(obj, bytes):
            return {"bytes": base64.b64encode(obj).decode("ascii")}
        if isinstance(obj, np.generic) and obj.dtype.kind in "biufc":
            return self.encode(obj.item(), depth)
        if isinstance(obj, Size):
            return {"size": [int(v) for v in obj]}
        if isinstance(obj, (list, tuple, dict)) and (tp in (list, tuple, dict)
                                                      or tp is collections.OrderedDict):
            return self._container(obj, depth)
        raise TypeError(
            f"tapegrad.save cannot save an object of type {tp.__module__}.{tp.__qualname__}: "
            "it saves tensors, nn.Parameters, numbers, strings, bytes, None, dtypes, Sizes, "
            "devices, and lists, tuples, dicts and OrderedDicts of these"
        )

    def _container(self, obj, depth: int):
        if depth >= MAX_DEPTH:
            raise ValueError(f"tapegrad.save: containers nested more than {MAX_DEPTH} deep")
        if id(obj) in self.open:
            raise ValueError("tapegrad.save: cannot save a container that contains itself")
        self.open.add(id(obj))
        try:
            if isinstance(obj, dict):
                items = [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                         for k, v in obj.items()]
                if type(obj) is dict:
                    return {"dict": items}
                out = {"odict": items}
                meta = getattr(obj, "_metadata", None)  # Module.state_dict() versions
                if meta is not None:
                    out["metadata"] = self.encode(meta, depth + 1)
                return out
            key = "list" if type(obj) is list else "tuple"
            return {key: [self.encode(v, depth + 1) for v in obj]}
        finally:
            self.open.discard(id(obj))


def _header_bytes(tree, table: list[dict], data_size: int) -> bytes:
    header = {"format": "tapegrad", "version": VERSION, "data_size": data_size,
              "tensors": table, "object": tree}
    raw = json.dumps(header, ensure_ascii=False, allow_nan=False,
                     separators=(",", ":")).encode("utf-8")
    pad = -(_PREFIX.size + len(raw)) % _ALIGN
    return raw + b" " * pad


def save(obj: Any, f: str | os.PathLike | IO[bytes], pickle_module=None,
         pickle_protocol: int = 2, _use_new_zipfile_serialization: bool = True,
         _disable_byteorder_record: bool = False) -> None:
    """Save `obj` (tensors, Parameters, numbers, strings and containers of them: a state dict,
    an optimizer state dict) to a path or a binary file object.

    The pickle arguments exist for PyTorch's signature and are ignored: nothing is pickled.
    """
    w = _Writer()
    tree = w.encode(obj)
    header = _header_bytes(tree, w.table, w.size)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            _write(fh, header, w)
    else:
        _write(f, header, w)


def _write(fh, header: bytes, w: _Writer) -> None:
    fh.write(_PREFIX.pack(MAGIC, VERSION, 0, len(header)))
    fh.write(header)
    pos = 0
    for entry, arr in zip(w.table, w.arrays):
        if entry["offset"] > pos:
            fh.write(b"\0" * (entry["offset"] - pos))
        fh.write(arr.reshape(-1).view(np.uint8).data)
        pos = entry["offset"] + entry["nbytes"]


# --- reading -----------------------------------------------------------------------------
def _fail(msg: str):
    raise SerializationError(f"tapegrad.load: {msg}")


def _is_int(v) -> bool:
    return type(v) is int


def _read_all(f) -> bytes:
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            return fh.read()
    if not hasattr(f, "read"):
        raise TypeError(f"tapegrad.load expected a path or a binary file object, got "
                        f"{type(f).__name__}")
    data = f.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("tapegrad.load needs a file opened in binary mode")
    return bytes(data)


def _parse_header(data: bytes) -> tuple[dict, int]:
    if data[:len(MAGIC)] != MAGIC:
        if data[:4] == b"PK\x03\x04" or data[:1] == b"\x80":  # a zip archive or a pickle
            _not_ours()
        if len(data) < _PREFIX.size:
            _fail(f"file too short ({len(data)} bytes) to be a tapegrad file")
        _fail("not a file written by tapegrad.save (bad magic bytes)")
    if len(data) < _PREFIX.size:
        _fail(f"file too short ({len(data)} bytes) to be a tapegrad file")
    _magic, version, _reserved, hlen = _PREFIX.unpack_from(data)
    if version != VERSION:
        _fail(f"unsupported format version {version} (this tapegrad reads version {VERSION})")
    if hlen > len(data) - _PREFIX.size:
        _fail(f"header length {hlen} runs past the end of the file (truncated?)")
    try:
        header = json.loads(data[_PREFIX.size:_PREFIX.size + hlen].decode("utf-8"))
    except UnicodeDecodeError as e:
        _fail(f"header is not UTF-8 ({e})")
    except RecursionError:
        _fail("header nests too deeply")
    except ValueError as e:  # JSONDecodeError and over-long integers
        _fail(f"header is not valid JSON ({e})")
    if not isinstance(header, dict) or header.get("format") != "tapegrad":
        _fail("header is not a tapegrad header")
    return header, _PREFIX.size + hlen


def _not_ours():
    _fail("this looks like a file written by torch.save (a pickle); tapegrad.load reads only "
          "files written by tapegrad.save, since unpickling can run arbitrary code. Move weights "
          "from PyTorch with safetensors (tapegrad.safetensors.load_file).")


def _check_entry(k: int, e, data_size: int) -> tuple:
    if not isinstance(e, dict):
        _fail(f"tensor {k}: entry is not an object")
    dt = _DTYPES.get(e.get("dtype")) if isinstance(e.get("dtype"), str) else None
    if dt is None:
        _fail(f"tensor {k}: unknown dtype {e.get('dtype')!r}")
    shape = e.get("shape")
    if (not isinstance(shape, list) or len(shape) > _MAX_DIMS
            or not all(_is_int(s) and s >= 0 for s in shape)):
        _fail(f"tensor {k}: invalid shape {shape!r}")
    offset, nbytes = e.get("offset"), e.get("nbytes")
    if not (_is_int(offset) and _is_int(nbytes) and offset >= 0 and nbytes >= 0):
        _fail(f"tensor {k}: invalid offset/nbytes")
    if math.prod(shape) * np.dtype(dt.np).itemsize != nbytes:  # exact: Python integers
        _fail(f"tensor {k}: {nbytes} bytes do not hold a {dt.name} tensor of shape {shape}")
    if offset + nbytes > data_size:
        _fail(f"tensor {k}: bytes [{offset}, {offset + nbytes}) lie outside the data section "
              f"of {data_size} bytes")
    perm = e.get("perm")
    if perm is not None and (not isinstance(perm, list)
                             or sorted(perm) != list(range(len(shape)))
                             or not all(_is_int(p) for p in perm)):
        _fail(f"tensor {k}: invalid dimension order {perm!r}")
    rg, param = e.get("requires_grad", False), e.get("parameter", False)
    if not isinstance(rg, bool) or not isinstance(param, bool):
        _fail(f"tensor {k}: requires_grad and parameter must be true or false")
    if rg and dt.category < D.FLOAT:
        _fail(f"tensor {k}: a {dt.name} tensor cannot require grad")
    return dt, shape, offset, nbytes, perm, rg, param


class _Reader:
    def __init__(self, data: bytes, start: int, header: dict, mapper) -> None:
        self.data, self.start, self.mapper = data, start, mapper
        size = header.get("data_size")
        if not _is_int(size) or size < 0:
            _fail("invalid data_size")
        if start + size != len(data):
            _fail(f"file holds {len(data) - start} data bytes but the header declares {size} "
                  "(truncated or padded file)")
        table = header.get("tensors")
        if not isinstance(table, list):
            _fail("tensor table missing")
        self.entries = [_check_entry(k, e, size) for k, e in enumerate(table)]
        self.loaded: dict[int, Tensor] = {}
        self.param_cls = None

    def tensor(self, k) -> Tensor:
        if not _is_int(k) or not 0 <= k < len(self.entries):
            _fail(f"reference to tensor {k!r}, but the table has {len(self.entries)}")
        t = self.loaded.get(k)
        if t is not None:
            return t
        dt, shape, offset, nbytes, perm, rg, param = self.entries[k]
        raw = np.frombuffer(self.data, np.uint8, nbytes, self.start + offset)
        if dt is D.bool:
            arr = raw.reshape(shape) != 0  # any nonzero byte is True
        else:  # a copy in native byte order, owning its memory
            arr = raw.view(np.dtype(dt.np).newbyteorder("<")).reshape(shape).astype(dt.np)
        if perm is not None:
            arr = arr.transpose(np.argsort(perm))
        if param:
            self.param_cls = self.param_cls or _parameter_class()
            if self.param_cls is None:
                _fail("the file holds an nn.Parameter but tapegrad.nn is not available")
            t = self.param_cls(_make(arr), rg)
        else:
            t = _make(arr, None, rg)
        if self.mapper is not None:
            t = self.mapper(t)
        self.loaded[k] = t
        return t

    def decode(self, node, depth: int = 0):
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if depth >= MAX_DEPTH:
            _fail(f"objects nested more than {MAX_DEPTH} deep")
        if not isinstance(node, dict) or len(node) == 0:
            _fail(f"unexpected value {str(node)[:80]}")
        for tag in ("dict", "odict"):
            if tag in node and isinstance(node[tag], list):
                return self._mapping(tag, node[tag], node, depth)
        if len(node) != 1:
            _fail(f"unexpected value {str(node)[:80]}")
        tag, val = next(iter(node.items()))
        if tag == "tensor":
            return self.tensor(val)
        if tag in ("list", "tuple") and isinstance(val, list):
            items = [self.decode(v, depth + 1) for v in val]
            return items if tag == "list" else tuple(items)
        return self._leaf(tag, val, depth)

    def _mapping(self, tag: str, items: list, node: dict, depth: int):
        out = {} if tag == "dict" else collections.OrderedDict()
        extra = set(node) - {tag, "metadata"} if tag == "odict" else set(node) - {tag}
        if extra:
            _fail(f"unexpected fields {sorted(extra)} in a mapping")
        for item in items:
            if not isinstance(item, list) or len(item) != 2:
                _fail("a mapping entry is not a [key, value] pair")
            key = self.decode(item[0], depth + 1)
            try:
                out[key] = self.decode(item[1], depth + 1)
            except TypeError:
                _fail(f"unhashable dictionary key of type {type(key).__name__}")
        if "metadata" in node:
            out._metadata = self.decode(node["metadata"], depth + 1)
        return out

    def _leaf(self, tag: str, val, depth: int):
        if tag == "float" and val in ("inf", "-inf", "nan"):
            return float(val)
        if tag == "complex" and isinstance(val, list) and len(val) == 2:
            re, im = (self.decode(v, depth + 1) for v in val)
            if isinstance(re, float) and isinstance(im, float):
                return complex(re, im)
        if tag == "bytes" and isinstance(val, str):
            try:
                return base64.b64decode(val.encode("ascii"), validate=True)
            except (ValueError, UnicodeEncodeError):
                _fail("invalid base64 bytes")
        if tag == "dtype" and isinstance(val, str) and val in _DTYPES:
            return _DTYPES[val]
        if tag == "size" and isinstance(val, list) and all(_is_int(v) and v >= 0 for v in val):
            return Size(val)
        if tag == "device" and isinstance(val, str):
            try:
                return device(val)
            except (RuntimeError, ValueError, TypeError):
                _fail(f"invalid device {val!r}")
        _fail(f"unknown or malformed value tagged {tag!r}")


def _mapper(map_location) -> Callable[[Tensor], Tensor] | None:
    """Check map_location (everything lives on the CPU) and return a per-tensor function for
    a callable one (called as fn(tensor, 'cpu'); None keeps the tensor)."""
    if map_location is None:
        return None
    if callable(map_location) and not isinstance(map_location, (str, device)):
        def apply(t: Tensor) -> Tensor:
            res = map_location(t, "cpu")
            if res is None:
                return t
            if not isinstance(res, Tensor):
                raise TypeError("map_location must return a tapegrad Tensor or None, got "
                                f"{type(res).__name__}")
            return res
        return apply
    if isinstance(map_location, dict):
        targets = map_location.values()
    else:
        targets = [map_location]
    for tgt in targets:
        check_device(tgt)
    return None


def load(f: str | os.PathLike | IO[bytes], map_location=None, pickle_module=None, *,
         weights_only: bool | None = None, mmap: bool | None = None,
         **pickle_load_args: Any) -> Any:
    """Load an object written by `tapegrad.save` from a path or a binary file object.

    Safe whatever `weights_only` says: the format has no way to run code. Tensors come back
    as leaves on the CPU with their dtype, shape, layout and requires_grad; Parameters as
    Parameters; a tensor saved several times in one object comes back as one tensor, but a
    view and its base come back as separate copies (torch.load keeps them sharing storage).
    `mmap` is accepted and ignored (the file is read into memory).
    """
    mapper = _mapper(map_location)
    data = _read_all(f)
    header, start = _parse_header(data)
    reader = _Reader(data, start, header, mapper)
    if "object" not in header:
        _fail("header has no object")
    return reader.decode(header["object"])

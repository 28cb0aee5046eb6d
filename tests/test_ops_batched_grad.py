"""Batched backward passes over every row of the op table (tests/op_db), in float64.

`autograd.grad(..., is_grads_batched=True)` runs one backward pass for a batch of cotangents:
the rules run under vmap on batched cotangents (a rule that cannot batch runs per sample). For
each differentiable row and sample:
- test_batched_grad: the batched pass gives, for every sample, exactly what a plain backward
  pass with that sample's cotangent gives;
- test_batched_grad_torch: and what PyTorch's batched pass gives;
- test_batched_grad_create_graph: with create_graph, the batched gradients are themselves
  differentiable and their gradients match the per-sample ones (what gradgradcheck's
  check_batched_grad relies on);
- test_batched_jvp: forward mode under vmap (a batch of tangents for plain primals) gives, per
  sample, the tangents of a plain forward pass.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from _helpers import _fill, flatten, seed_of, to_numpy
from test_ops_forward import FORWARD, _call, _diff_positions, _inputs

try:
    import torch
    import torch.autograd.forward_ad as tfwAD
except ImportError:  # pragma: no cover - the torch comparison skips
    torch = None

B = 3  # cotangents per batch


def _setup(case, module=tapegrad, fw=None):
    inp = _inputs(case)
    flat, leaves = _call(module, fw, case, inp, None, requires_grad=True)
    idx = [i for i in _diff_positions(flat) if flat[i].requires_grad] if module is tapegrad \
        else [i for i, o in enumerate(flat) if isinstance(o, torch.Tensor) and o.requires_grad]
    if not idx:
        pytest.skip("no differentiable output")
    return inp, flat, leaves, idx


def _cotangents(case, flat, idx) -> list[np.ndarray]:
    rng = np.random.default_rng(seed_of(case.row.name, case.index, "batched"))
    out = []
    for i in idx:
        a = to_numpy(flat[i])
        v = rng.standard_normal((B,) + a.shape)
        if a.dtype.kind == "c":
            v = v + 1j * rng.standard_normal((B,) + a.shape)
        out.append(v.astype(a.dtype))
    return out


def _close(got, want, what: str) -> None:
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10 * scale, err_msg=what)


@pytest.mark.parametrize("case", FORWARD)
def test_batched_grad(case):
    _, flat, leaves, idx = _setup(case)
    vs = _cotangents(case, flat, idx)
    outs = [flat[i] for i in idx]
    batched = tapegrad.autograd.grad(outs, leaves, [tapegrad.tensor(v) for v in vs],
                                     retain_graph=True, allow_unused=True, is_grads_batched=True)
    for k, leaf in enumerate(leaves):
        per = [tapegrad.autograd.grad(outs, leaf, [tapegrad.tensor(v[b]) for v in vs],
                                      retain_graph=True, allow_unused=True)[0]
               for b in range(B)]
        if per[0] is None:
            assert batched[k] is None, f"input {k}: a gradient where a plain pass has none"
            continue
        assert batched[k] is not None, f"input {k}: no gradient where a plain pass has one"
        assert tuple(batched[k].shape) == (B,) + tuple(leaf.shape)
        assert batched[k].dtype == leaf.dtype
        want = np.stack([to_numpy(p) for p in per])
        _close(to_numpy(batched[k]), want, f"input {k}")


@pytest.mark.parametrize("case", FORWARD)
def test_batched_grad_torch(case):
    if torch is None:
        pytest.skip("torch is not installed")
    _, flat, leaves, idx = _setup(case)
    vs = _cotangents(case, flat, idx)
    ours = tapegrad.autograd.grad([flat[i] for i in idx], leaves,
                                  [tapegrad.tensor(v) for v in vs], allow_unused=True,
                                  is_grads_batched=True)
    inp = _inputs(case)
    tflat, tleaves = _call(torch, tfwAD, case, inp, None, requires_grad=True)
    try:
        theirs = torch.autograd.grad([tflat[i] for i in idx], tleaves,
                                     [torch.tensor(v) for v in vs], allow_unused=True,
                                     is_grads_batched=True)
    except RuntimeError as e:  # torch has no batching rule for this backward
        pytest.skip(f"torch cannot batch this backward: {str(e)[:80]}")
    for k, (a, b) in enumerate(zip(ours, theirs)):
        if b is None:
            # torch gives no gradient where its graph does not reach; ours may be zeros
            assert a is None or not np.any(to_numpy(a)), f"input {k}"
            continue
        assert a is not None, f"input {k}: torch has a gradient, tapegrad none"
        want = b.detach().numpy()
        got = to_numpy(a)
        scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-8 * scale,
                                   err_msg=f"input {k}")


# create_graph over a slice of the table (each row runs a double backward per sample)
CREATE = FORWARD[::7]


@pytest.mark.parametrize("case", CREATE)
def test_batched_grad_create_graph(case):
    _, flat, leaves, idx = _setup(case)
    vs = _cotangents(case, flat, idx)
    outs = [flat[i] for i in idx]
    cots = [tapegrad.tensor(v, requires_grad=True) for v in vs]
    batched = tapegrad.autograd.grad(outs, leaves, cots, retain_graph=True, create_graph=True,
                                     allow_unused=True, is_grads_batched=True)
    pairs = [(k, g) for k, g in enumerate(batched) if g is not None and g.requires_grad]
    if not pairs:
        pytest.skip("no gradient depends on anything differentiable")
    rng = np.random.default_rng(seed_of(case.row.name, case.index, "batched-ggo"))
    ws = [rng.standard_normal(tuple(g.shape)) for _, g in pairs]
    total = sum((g * tapegrad.tensor(w)).sum() for (_, g), w in zip(pairs, ws))
    try:
        second = tapegrad.autograd.grad(total, cots, allow_unused=True)
    except RuntimeError as e:  # an op with no double backward (as in PyTorch): the same error
        if "is not implemented" not in str(e):
            raise
        cb = [tapegrad.tensor(v[0], requires_grad=True) for v in vs]
        gb = tapegrad.autograd.grad(outs, leaves, cb, retain_graph=True, create_graph=True,
                                    allow_unused=True)
        with pytest.raises(RuntimeError) as plain:
            tapegrad.autograd.grad(sum((g * 1.0).sum() for g in gb if g is not None), cb,
                                   allow_unused=True)
        assert str(plain.value) == str(e)
        pytest.skip(str(e))
    # per sample: the same functional of the plain passes
    for b in range(B):
        cb = [tapegrad.tensor(v[b], requires_grad=True) for v in vs]
        gb = tapegrad.autograd.grad(outs, leaves, cb, retain_graph=True, create_graph=True,
                                    allow_unused=True)
        terms = [(gb[k] * tapegrad.tensor(w[b])).sum() for (k, _), w in zip(pairs, ws)
                 if gb[k] is not None and gb[k].requires_grad]
        if not terms:
            continue
        sb = tapegrad.autograd.grad(sum(terms), cb, allow_unused=True)
        for j, (s, t) in enumerate(zip(second, sb)):
            if t is None:
                assert s is None or not np.any(to_numpy(s)[b]), f"cotangent {j}, sample {b}"
                continue
            _close(to_numpy(s)[b], to_numpy(t), f"cotangent {j}, sample {b}")


# --- forward mode on a batch of tangents (vmap over make_dual / unpack_dual) ----------------
def _jvp_outputs(case, inp, tangent_tensors):
    """The tangents of the row's differentiable outputs for dual inputs (tangent tensors may
    be BatchedTensors under vmap)."""
    fw = tapegrad.autograd.forward_ad
    with fw.dual_level():
        tensors = []
        pos = {p: k for k, p in enumerate(inp.grad_pos)}
        for i, a in enumerate(inp.arrays):
            t = tapegrad.tensor(a, dtype=getattr(tapegrad, a.dtype.name))
            if i in pos:
                t = fw.make_dual(t, tangent_tensors[pos[i]])
            tensors.append(t)
        args = tuple(_fill(a, tensors) for a in inp._args)
        kwargs = {k: _fill(v, tensors) for k, v in inp._kwargs.items()}
        flat = flatten(case.row.fn(tapegrad, *args, **kwargs))
        res = []
        for i in _diff_positions(flat):
            p, t = fw.unpack_dual(flat[i])
            res.append(tapegrad.zeros_like(p) if t is None else t)
        return tuple(res)


@pytest.mark.parametrize("case", FORWARD)
def test_batched_jvp(case):
    inp = _inputs(case)
    rng = np.random.default_rng(seed_of(case.row.name, case.index, "batched-jvp"))
    ts = []
    for p in inp.grad_pos:
        a = inp.arrays[p]
        v = rng.standard_normal((B,) + a.shape)
        if a.dtype.kind == "c":
            v = v + 1j * rng.standard_normal((B,) + a.shape)
        ts.append(tapegrad.tensor(v.astype(a.dtype)))
    try:
        per = [_jvp_outputs(case, inp, [t[b] for t in ts]) for b in range(B)]
    except NotImplementedError as e:
        pytest.skip(f"no forward rule: {str(e)[:60]}")
    if not per[0]:
        pytest.skip("no differentiable output")
    try:
        batched = tapegrad.func.vmap(lambda *t: _jvp_outputs(case, inp, list(t)))(*ts)
    except RuntimeError as e:
        if "called random operation while in randomness error mode" not in str(e):
            raise
        pytest.skip("a random op: vmap refuses it in its default randomness mode")
    for k, got in enumerate(batched):
        want = np.stack([to_numpy(p[k]) for p in per])
        _close(to_numpy(got), want, f"output {k}")

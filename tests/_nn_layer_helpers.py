"""A harness that runs one layer in tapegrad and in PyTorch and compares everything: repr,
parameter/buffer names and shapes, outputs, gradients of inputs and parameters, buffers after
the call; plus float64 central differences of tapegrad's input gradients.

A spec is `Spec(make, inputs, ...)` where make(m) builds the module with library m and
inputs is a list of NumPy arrays (float arrays take the test dtype; integer arrays are
indices/targets and never require grad).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from _helpers import numeric_vjp

TOL = {"float64": dict(atol=1e-10, rtol=1e-8), "float32": dict(atol=2e-5, rtol=2e-4)}


@dataclass
class Spec:
    make: object  # m -> module
    inputs: list  # NumPy arrays (or other call arguments, passed as they are)
    train: bool = True
    numeric: bool = True  # also check tapegrad's input gradients by central differences
    kwargs: dict = field(default_factory=dict)  # call keyword arguments
    seed: int | None = None  # re-seed both libraries before the call (random layers)
    grad: tuple | None = None  # indexes of inputs that require grad (default: float ones)
    id: str = ""


def _is_float(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _tensors(m, spec: Spec, dtype: str, arrays=None, requires_grad=True):
    arrays = spec.inputs if arrays is None else arrays
    grad = spec.grad if spec.grad is not None else [
        i for i, a in enumerate(spec.inputs) if _is_float(a)
    ]
    out = []
    for i, a in enumerate(arrays):
        if isinstance(a, np.ndarray):
            a = a.astype(dtype) if a.dtype.kind == "f" else a
            out.append(m.tensor(a, requires_grad=requires_grad and i in grad))
        else:
            out.append(a)
    return out, [out[i] for i in grad]


def _flat(out) -> list:
    if isinstance(out, (tuple, list)):
        return [y for x in out for y in _flat(x)]
    return [out]


def _np(t) -> np.ndarray:
    return np.array(t.detach().numpy(), copy=True)


def _cotangents(outs, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(tuple(o.shape)) if o.dtype.is_floating_point else None
            for o in outs]


def build_pair(spec: Spec, dtype: str):
    """(tapegrad module, torch module) with torch's initial state copied into tapegrad's."""
    import torch

    import tapegrad

    torch.manual_seed(0)
    tmod = spec.make(torch)
    tapegrad.manual_seed(0)
    gmod = spec.make(tapegrad)
    state = {k: tapegrad.tensor(v.detach().numpy().copy()) for k, v in
             tmod.state_dict().items()}
    gmod.load_state_dict(state)
    if dtype == "float64":
        tmod.double()
        gmod.double()
    tmod.train(spec.train)
    gmod.train(spec.train)
    return gmod, tmod


def run(m, mod, spec: Spec, dtype: str):
    """Call mod on the spec's inputs, backpropagate fixed cotangents; return the outputs,
    input grads, parameter grads and state after the call (as arrays)."""
    xs, leaves = _tensors(m, spec, dtype)
    if spec.seed is not None:
        m.manual_seed(spec.seed)
    out = mod(*xs, **spec.kwargs)
    outs = _flat(out)
    cts = _cotangents(outs)
    terms = [(o * m.tensor(c, dtype=o.dtype)).sum() for o, c in zip(outs, cts)
             if c is not None and o.requires_grad]
    if terms:
        sum(terms[1:], terms[0]).backward()
    return {
        "out": [_np(o) for o in outs],
        "out_dtype": [str(o.dtype).split(".")[-1] for o in outs],
        "in_grad": [None if x.grad is None else _np(x.grad) for x in leaves],
        "param_grad": {n: (None if p.grad is None else _np(p.grad))
                       for n, p in mod.named_parameters()},
        "state": {k: _np(v) for k, v in mod.state_dict().items()},
    }


def _compare(ours, theirs, what, tol) -> None:
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), f"{what}: keys {list(ours)} != {list(theirs)}"
        for k in theirs:
            _compare(ours[k], theirs[k], f"{what}[{k}]", tol)
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), f"{what}: {len(ours)} items != {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _compare(a, b, f"{what}[{i}]", tol)
    elif theirs is None or ours is None:
        assert ours is None and theirs is None, f"{what}: {ours} vs {theirs}"
    elif isinstance(theirs, str):
        assert ours == theirs, f"{what}: {ours} != {theirs}"
    else:
        assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != {theirs.shape}"
        assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != {theirs.dtype}"
        np.testing.assert_allclose(ours, theirs, err_msg=what, equal_nan=True, **tol)


def check_layer(spec: Spec, dtype: str) -> None:
    """Everything about one layer against PyTorch (and numerically, in float64)."""
    import torch

    import tapegrad

    gmod, tmod = build_pair(spec, dtype)
    assert repr(gmod) == repr(tmod).replace("torch.", "tapegrad."), (repr(gmod), repr(tmod))
    assert [(n, tuple(p.shape)) for n, p in gmod.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in tmod.named_parameters()]
    assert [(n, tuple(b.shape)) for n, b in gmod.named_buffers()] == [
        (n, tuple(b.shape)) for n, b in tmod.named_buffers()]
    ours = run(tapegrad, gmod, spec, dtype)
    theirs = run(torch, tmod, spec, dtype)
    _compare(ours, theirs, spec.id or "layer", TOL[dtype])
    if dtype == "float64" and spec.numeric:
        check_numeric(spec)


def check_numeric(spec: Spec) -> None:
    """tapegrad's input gradients against float64 central differences (eval-free: the module
    is rebuilt, and put in eval mode when it keeps running statistics, for each evaluation)."""
    import tapegrad

    gmod, _ = build_pair(spec, "float64")
    arrays = [a.astype("float64") if _is_float(a) else a for a in spec.inputs]
    grad = spec.grad if spec.grad is not None else [
        i for i, a in enumerate(spec.inputs) if _is_float(a)]
    snapshot = {k: v.clone() for k, v in gmod.state_dict().items()}

    def fwd(arrs):
        gmod.load_state_dict(snapshot)  # running statistics must not drift between calls
        xs, _ = _tensors(tapegrad, spec, "float64", arrs, requires_grad=False)
        if spec.seed is not None:
            tapegrad.manual_seed(spec.seed)
        with tapegrad.no_grad():
            return [_np(o) for o in _flat(gmod(*xs, **spec.kwargs))]

    gmod.load_state_dict(snapshot)
    xs, leaves = _tensors(tapegrad, spec, "float64", arrays)
    if spec.seed is not None:
        tapegrad.manual_seed(spec.seed)
    outs = _flat(gmod(*xs, **spec.kwargs))
    cts = _cotangents(outs)
    terms = [(o * tapegrad.tensor(c)).sum() for o, c in zip(outs, cts)
             if c is not None and o.requires_grad]
    if not terms:
        return
    sum(terms[1:], terms[0]).backward()
    vs = [c if c is not None else np.zeros(o.shape) for o, c in zip(outs, cts)]
    num = numeric_vjp(fwd, arrays, grad, vs, 1e-6)
    for i, (leaf, g) in enumerate(zip(leaves, num)):
        got = np.zeros(g.shape) if leaf.grad is None else _np(leaf.grad)
        np.testing.assert_allclose(got, g, atol=1e-6, rtol=1e-5,
                                   err_msg=f"{spec.id}: numeric grad of input {grad[i]}")


def check_init(make) -> None:
    """After manual_seed(0), tapegrad's freshly built module holds bit-identical parameters
    and buffers to PyTorch's."""
    import torch

    import tapegrad

    torch.manual_seed(0)
    torch_state = make(torch).state_dict()
    tapegrad.manual_seed(0)
    g = make(tapegrad).state_dict()
    assert list(g) == list(torch_state)
    for k in torch_state:
        a, b = _np(g[k]), torch_state[k].numpy()
        assert a.dtype == b.dtype and a.shape == b.shape, k
        assert np.array_equal(a, b), f"{k}: init differs"

"""The one graph walker: reverse-mode accumulation over the graph behind some outputs.

It works in three steps, never recursing, so a graph of any depth runs:
1. discover the nodes reachable from the roots and count, for each, the edges into it;
2. with `inputs`, mark the nodes that lead to one of them (others are not run);
3. run ready nodes (all incoming gradients summed) most-recent-first by sequence number.
After each node's vjp, gradients whose shape differs from the input's (broadcasting) are summed
back to it here, and cast to the input's dtype: no rule repeats that work.
"""

from __future__ import annotations

from heapq import heappop, heappush

from . import grad_mode
from .graph import AccumulateGrad, Node

__all__ = ["run_backward"]


def _size_str(shape) -> str:
    return "tapegrad.Size([" + ", ".join(str(s) for s in shape) + "])"


def modified_message(saved, node) -> str:
    """PyTorch's message for a saved tensor modified in place after it was saved."""
    t = saved.tensor
    if t is not None:
        dt, shape = t.dtype, t.shape
        creator = t._grad_fn
        out_nr = t._output_nr
    else:
        from .._dtype import from_numpy_dtype

        dt, shape = from_numpy_dtype(saved.data.dtype), saved.data.shape
        creator, out_nr = node, saved.output_nr
    what = f"[tapegrad.{dt._legacy} [{', '.join(str(s) for s in shape)}]]"
    if creator is not None:
        name = creator.name()
        if name.endswith("Backward0") or name.endswith("Backward1"):
            name = name[: -len("Backward0")]
        what += f", which is output {out_nr} of {name},"
    hint = (
        "Hint: enable anomaly detection to find the operation that failed to compute its "
        "gradient, with tapegrad.autograd.set_detect_anomaly(True, check_nan=False)."
    )
    return (
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: {what} is at version {saved.current_version()}; expected version "
        f"{saved.version} "
        f"instead. {hint}"
    )


def edge_of(t):
    """The (node, output index) through which a gradient reaches tensor t."""
    fn = t._grad_fn
    if fn is not None:
        return fn, t._output_nr
    if t._requires_grad:
        return t._accumulator(), 0
    return None, 0


def _sum_to(g, shape, node, i):
    """Undo broadcasting: sum g down to `shape`, or say which rule returned a wrong shape."""
    gshape = g._data.shape
    lead = len(gshape) - len(shape)
    ok = lead >= 0 and all(s == 1 or s == gs for s, gs in zip(shape, gshape[lead:]))
    if not ok:
        if g._data.size == _prod(shape):
            return g.reshape(shape)
        raise RuntimeError(
            f"Function {node.name()} returned an invalid gradient at index {i} - got "
            f"[{', '.join(str(s) for s in gshape)}] but expected shape compatible with "
            f"[{', '.join(str(s) for s in shape)}]"
        )
    return g.sum_to_size(shape)


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _accumulate_into_leaf(t, g, create_graph: bool) -> None:
    """AccumulateGrad: add g into t.grad (in place unless building a graph)."""
    from .._tensor import _make

    old = t._grad
    if old is None:
        if create_graph:
            t._grad = g
        else:
            t._grad = _make(g._data.copy(), None, False)
    elif create_graph or old._requires_grad:
        t._grad = old + g
    else:
        old._data += g._data
        if old._vc is not None:
            old._vc.value += 1


def run_backward(
    roots,
    root_grads,
    retain_graph: bool,
    create_graph: bool,
    inputs=None,
    allow_unused: bool = False,
    accumulate: bool = True,
):
    """Backpropagate root_grads from the root tensors.

    With accumulate=True (backward), gradients are added into the .grad of leaves (only those
    in `inputs` if given). With accumulate=False (autograd.grad), the gradients reaching
    `inputs` are returned instead, in order, None for an input no path reaches.
    """
    # Edges where the backward pass starts, with their gradients.
    start = []
    for t, g in zip(roots, root_grads):
        node, nr = edge_of(t)
        if node is None:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        start.append((node, nr, g))

    # --- 1. discover the graph, counting incoming edges -------------------------------
    deps: dict[Node, int] = {}
    seen = set()
    stack = []
    for node, _, _ in start:
        if node not in seen:
            seen.add(node)
            stack.append(node)
    while stack:
        node = stack.pop()
        for nxt, _ in node._next:
            if nxt is None:
                continue
            deps[nxt] = deps.get(nxt, 0) + 1
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)

    # --- 2. captures and the part of the graph that leads to them ----------------------
    captures = None  # (node, nr) -> index in inputs
    needed = None
    if inputs is not None:
        captures = {}
        for k, t in enumerate(inputs):
            fn = t._grad_fn
            if fn is None:
                acc = t._accum() if t._accum is not None else None
                key = (acc, 0)
            else:
                key = (fn, t._output_nr)
            captures.setdefault(key, []).append(k)
        targets = {n for n, _ in captures if n is not None and n in seen}
        needed = _leading_to(targets, [n for n, _, _ in start])

    # --- 3. run ready nodes, most recent first -------------------------------------------
    results = [None] * len(inputs) if inputs is not None else None
    buffers: dict[Node, list] = {}
    for node, nr, g in start:
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * node.n_outputs
        buf[nr] = g if buf[nr] is None else buf[nr] + g
    heap = []
    for node in buffers:
        if deps.get(node, 0) == 0:
            heappush(heap, (-node._seq, node))

    state = grad_mode.state
    prev_mode = state.enabled
    state.enabled = create_graph
    try:
        while heap:
            node = heappop(heap)[1]
            grads = buffers.pop(node)
            if captures is not None:
                for nr, g in enumerate(grads):
                    ks = captures.get((node, nr))
                    if ks is not None:
                        for k in ks:
                            results[k] = g
                if needed is not None and node not in needed:
                    continue
            if type(node) is AccumulateGrad:
                if accumulate and grads[0] is not None:
                    if node._pre_hooks is not None:
                        grads = _run_pre_hooks(node, grads)
                    _accumulate_into_leaf(node.variable, grads[0], create_graph)
                continue
            if node._pre_hooks is not None:
                grads = _run_pre_hooks(node, grads)
            if accumulate and inputs is not None:
                # backward(inputs=[non-leaf]) fills that tensor's .grad.
                for nr, g in enumerate(grads):
                    for k in captures.get((node, nr), ()):
                        if g is not None:
                            _accumulate_into_leaf(inputs[k], g, create_graph)
            nexts = node._next
            if all(g is None for g in grads):
                outs = (None,) * len(nexts)
            else:
                outs = node.vjp(*grads)
                if type(outs) is not tuple:
                    outs = (outs,)
                if node._hooks is not None:
                    outs = _run_post_hooks(node, outs, grads)
            if not retain_graph:
                node._release()
            meta = node._in_meta
            for i, (nxt, nr) in enumerate(nexts):
                if nxt is None:
                    continue
                g = outs[i]
                if g is not None:
                    shape, dt = meta[i]
                    if g._data.shape != shape:
                        g = _sum_to(g, shape, node, i)
                    if g._dtype is not dt:
                        g = g.to(dt)
                    buf = buffers.get(nxt)
                    if buf is None:
                        buf = buffers[nxt] = [None] * nxt.n_outputs
                    old = buf[nr]
                    buf[nr] = g if old is None else old + g
                elif nxt not in buffers:
                    buffers[nxt] = [None] * nxt.n_outputs
                d = deps[nxt] - 1
                deps[nxt] = d
                if d == 0 and (needed is None or nxt in needed):
                    heappush(heap, (-nxt._seq, nxt))
    finally:
        state.enabled = prev_mode
    return results


def _leading_to(targets, roots) -> set:
    """The nodes from which some target can be reached (targets included)."""
    needed = set()
    done = set()
    stack = [(n, False) for n in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            if node in targets or any(
                n in needed for n, _ in node._next if n is not None
            ):
                needed.add(node)
            continue
        if node in done:
            continue
        done.add(node)
        stack.append((node, True))
        for n, _ in node._next:
            if n is not None and n not in done:
                stack.append((n, False))
    return needed


def _run_pre_hooks(node, grads):
    grads = list(grads)
    for hook in list(node._pre_hooks.values()):
        res = hook(tuple(grads))
        if res is not None:
            grads = list(res)
    return grads


def _run_post_hooks(node, outs, grads):
    post = node._hooks.get("post") if isinstance(node._hooks, dict) else None
    if not post:
        return outs
    for hook in list(post.values()):
        res = hook(outs, tuple(grads))
        if res is not None:
            outs = tuple(res)
    return outs

"""einsum: Einstein summation over any number of operands, one primitive.

The equation is parsed as PyTorch parses it (same checks and messages: '...' broadcasting,
implicit output = ellipsis then the labels seen once, in A-Z a-z order, size-1 broadcasting of
labelled dims) and rewritten with one letter per dimension, ellipsis dims included, for
NumPy's einsum.

Rule. out = einsum(s_1, ..., s_n -> s_out). Operand k's gradient is the einsum of the output
gradient with every other operand (conjugated when complex), producing k's labels:
  g_k = einsum(s_out, s_1 .. (without k) .. s_n -> s_k),
with two additions that keep it an einsum (so the rule is closed under reverse):
- a label repeated in s_k (a diagonal, 'ii->i') gets a fresh letter in the result, tied to the
  first by an identity matrix operand: g is placed on that diagonal;
- a label summed over in operand k alone (or present elsewhere only with size 1) gets a ones
  vector operand of its size, so the result is broadcast along it.
Dims an operand broadcast from size 1 come back at full size; the engine sums them back.

PyTorch computes einsum as permutes, diagonals, sums and bmm, so its result's grad_fn is the
last of these: SumBackward1 / PermuteBackward0 for one operand (with / without a contraction)
and ViewBackward0 / MulBackward0 for several. The one einsum node here takes that name.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor
from ..autograd.graph import Node
from ._core import batched_cotangent, new_node, rebatch, save, wrap, wrap_view

__all__ = ["einsum"]

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ELLIPSIS = 52
_BLAS_WORK = 4096  # above this much work NumPy's optimized (BLAS) contraction pays off


def _sub(label: str) -> int:
    return ord(label) - 65 if label.isupper() else ord(label) - 97 + 26


class _EinsumNode(Node):
    __slots__ = ("subs", "out")

    def vjp(self, g):
        ops = self.saved_tensors()
        res = []
        for k in range(len(ops)):
            res.append(None if self._next[k][0] is None else self._grad(k, g, ops))
        return tuple(res)

    def _grad(self, k: int, g: Tensor, ops: tuple, batch: bool = False) -> Tensor:
        from .._creation import eye, ones

        if type(g) is not Tensor:  # a batch of cotangents (vmap): the batch is one more label
            b = batched_cotangent(g)
            if b is not None and all(type(t) is Tensor for t in ops):
                return rebatch(self._grad(k, b[0], ops, True), b[1])
        subs, out = self.subs, self.out
        sk = subs[k]
        shape = ops[k]._data.shape
        cplx = g._dtype.category == D.COMPLEX
        used = set("".join(subs)) | set(out)
        fresh = (c for c in _LETTERS if c not in used)
        lead = next(fresh) if batch else ""  # the batch's label, kept in the result
        terms = [lead + out]
        operands = [g]
        for j, t in enumerate(ops):
            if j != k:
                terms.append(subs[j])
                operands.append(t.conj() if cplx else t)
        have = {}  # letter -> sizes it has among the operands of the gradient einsum
        for s, t in zip(terms, operands):
            for c, n in zip(s, t._data.shape):
                have.setdefault(c, set()).add(n)
        target = [lead] if batch else []
        seen = set()
        for c, n in zip(sk, shape):
            if c in seen:  # a repeated label: a fresh letter tied to c by an identity
                f = next(fresh)
                terms.append(c + f)
                operands.append(eye(n, dtype=g.dtype))
                target.append(f)
                continue
            seen.add(c)
            target.append(c)
            if n not in have.get(c, ()):
                terms.append(c)
                operands.append(ones(n, dtype=g.dtype))
                have.setdefault(c, set()).add(n)
        return _einsum(terms, "".join(target), operands)


def _node_class(n_ops: int, contracts: bool) -> type:
    return _CLASSES[(n_ops > 1, contracts)]


def _make_class(name: str) -> type:
    cls = type(name, (_EinsumNode,), {"__slots__": (), "__module__": __name__})
    cls.__qualname__ = name
    return cls


_CLASSES = {
    (False, True): _make_class("SumBackward1"),
    (False, False): _make_class("PermuteBackward0"),
    (True, True): _make_class("ViewBackward0"),
    (True, False): _make_class("MulBackward0"),
}


def _einsum(terms: list, out: str, operands: list) -> Tensor:
    """The einsum primitive over explicit one-letter-per-dim subscripts."""
    arrays = [t._data for t in operands]
    contracts = any(c not in out for s in terms for c in s)
    eq = ",".join(terms) + "->" + out
    n = len(arrays)
    if n > 2:
        r = np.einsum(eq, *arrays, optimize="greedy")
    elif n == 2 and contracts and _work(terms, arrays) > _BLAS_WORK:
        r = np.einsum(eq, *arrays, optimize=True)
    else:
        r = np.einsum(eq, *arrays)
    if type(r) is not np.ndarray:
        r = np.asarray(r)
    if r.dtype != arrays[0].dtype:
        r = r.astype(arrays[0].dtype)
    node = new_node(_node_class(n, contracts), operands)
    if node is not None:
        node.subs, node.out = tuple(terms), out
        save(node, *operands)
    if n == 1 and not contracts and np.may_share_memory(r, arrays[0]):
        return wrap_view(r, operands[0], node)  # a permuted / diagonal view, as PyTorch's
    return wrap(r, node)


def _work(terms, arrays) -> int:
    sizes = {}
    for s, a in zip(terms, arrays):
        for c, n in zip(s, a.shape):
            sizes[c] = max(sizes.get(c, 1), n)
    w = 1
    for n in sizes.values():
        w *= n
    return w


# --- parsing -------------------------------------------------------------------------------
def _sublist_equation(args) -> tuple:
    """einsum(op0, sub0, op1, sub1, ..., [out]): the equation and the operands."""
    def letters(sub) -> str:
        s = []
        for v in sub:
            if v is Ellipsis:
                s.append("...")
            elif isinstance(v, int) and 0 <= v < 52:
                s.append(_LETTERS[v])
            else:
                raise ValueError(
                    "einsum(): subscript in subscript list is not within the valid range [0, 52)")
        return "".join(s)

    ops = list(args[0::2])
    subs = list(args[1::2])
    out = None
    if len(ops) > len(subs):  # an odd count: the last item is the output sublist
        out = ops.pop()
    eq = ",".join(letters(s) for s in subs)
    if out is not None:
        eq += "->" + letters(out)
    return eq, ops


def _parse(equation: str, ops: list) -> tuple:
    """(explicit subscripts per operand, explicit output), with PyTorch's checks."""
    n_ops = len(ops)
    arrow = equation.find("->")
    lhs = equation if arrow < 0 else equation[:arrow]
    op_labels: list[list[int]] = [[] for _ in range(n_ops)]
    ell_in = False
    cur = 0
    i = 0
    while i < len(lhs):
        c = lhs[i]
        if c == " ":
            pass
        elif c == ".":
            if ell_in:
                raise RuntimeError(f"einsum(): found '.' for operand {cur} for which an ellipsis "
                                   "was already found")
            if not (i + 2 < len(lhs) and lhs[i + 1] == "." and lhs[i + 2] == "."):
                raise RuntimeError(f"einsum(): found '.' for operand {cur} that is not part of "
                                   "any ellipsis")
            i += 2
            op_labels[cur].append(_ELLIPSIS)
            ell_in = True
        elif c == ",":
            cur += 1
            if cur >= n_ops:
                raise RuntimeError(
                    "einsum(): fewer operands were provided than specified in the equation")
            ell_in = False
        elif c.isascii() and c.isalpha():
            op_labels[cur].append(_sub(c))
        else:
            raise RuntimeError(f"einsum(): invalid subscript given at index {i} in the equation "
                               "string, subscripts must be in [a-zA-Z]")
        i += 1
    if cur != n_ops - 1:
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")

    count = [0] * 52
    ell_num_dim = 0
    for k, (t, labels) in enumerate(zip(ops, op_labels)):
        nd = t._data.ndim
        nl = len(labels)
        has_ell = _ELLIPSIS in labels
        if has_ell:
            nl -= 1
            ell_num_dim = max(ell_num_dim, nd - nl)
        for s in labels:
            if s != _ELLIPSIS:
                count[s] += 1
        if (nl > nd) if has_ell else (nl != nd):
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({nl}) "
                + ("is more than the number of dimensions (" if has_ell
                   else "does not match the number of dimensions (")
                + f"{nd}) for operand {k}" + ("" if has_ell else " and no ellipsis was given"))

    # output: subscripts (ELLIPSIS for the ellipsis dims) in order
    out_labels: list[int] = []
    ell_out = False
    if arrow < 0:
        ell_out = True
        out_labels.append(_ELLIPSIS)
        out_labels.extend(s for s in range(52) if count[s] == 1)
    else:
        rhs = equation[arrow + 2:]
        i = 0
        while i < len(rhs):
            c = rhs[i]
            if c == " ":
                pass
            elif c == ".":
                if ell_out:
                    raise RuntimeError("einsum(): found '.' for output but an ellipsis (...) was "
                                       "already found")
                if not (i + 2 < len(rhs) and rhs[i + 1] == "." and rhs[i + 2] == "."):
                    raise RuntimeError("einsum(): found '.' for output that is not part of any "
                                       "ellipsis (...)")
                i += 2
                ell_out = True
                out_labels.append(_ELLIPSIS)
            elif c.isascii() and c.isalpha():
                s = _sub(c)
                if count[s] == 0 or s in out_labels:
                    raise RuntimeError(
                        f"einsum(): output subscript {c}"
                        + (" appears more than once in the output" if s in out_labels
                           else " does not appear in the equation for any input operand"))
                out_labels.append(s)
            else:
                raise RuntimeError(f"einsum(): invalid subscript given at index {len(lhs) + 2 + i}"
                                   " in the equation string, subscripts must be in [a-zA-Z]")
            i += 1

    # sizes: labelled dims broadcast from 1; repeated labels need equal sizes
    used = {s for labels in op_labels for s in labels if s != _ELLIPSIS}
    spare = [c for k, c in enumerate(_LETTERS) if k not in used]
    if ell_num_dim > len(spare):
        raise RuntimeError("einsum(): too many dimensions for the available subscripts")
    ell_letters = spare[:ell_num_dim]
    label_size = [1] * 52
    ell_sizes = [1] * ell_num_dim
    terms = []
    for k, (t, labels) in enumerate(zip(ops, op_labels)):
        shape = t._data.shape
        term = []
        first = {}
        dim = 0
        for s in labels:
            if s == _ELLIPSIS:
                nd = len(shape) - (len(labels) - 1)
                for j in range(ell_num_dim - nd, ell_num_dim):
                    n = shape[dim]
                    if n != 1:
                        if ell_sizes[j] != 1 and ell_sizes[j] != n:
                            raise RuntimeError(
                                f"einsum(): dimension {dim} covered by ellipsis in operand {k}has "
                                f"size {n} which does not broadcast with previously seen ellipsis "
                                f"with size {ell_sizes[j]} for the respective dimension")
                        ell_sizes[j] = n
                    term.append(ell_letters[j])
                    dim += 1
                continue
            n = shape[dim]
            c = _LETTERS[s]
            if s in first:
                prev = shape[first[s]]
                if n != prev:
                    raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {k} but "
                                       f"the sizes don't match, {n} != {prev}")
            else:
                first[s] = dim
                if n != 1:
                    if label_size[s] != 1 and label_size[s] != n:
                        raise RuntimeError(
                            f"einsum(): subscript {c} has size {n} for operand {k} which does "
                            f"not broadcast with previously seen size {label_size[s]}")
                    label_size[s] = n
            term.append(c)
            dim += 1
        terms.append("".join(term))
    out = "".join("".join(ell_letters) if s == _ELLIPSIS else _LETTERS[s] for s in out_labels)
    return terms, out


def einsum(*args) -> Tensor:
    """Einstein summation: `einsum('ij,jk->ik', a, b)` is a @ b; '...' stands for broadcast
    leading dims; without '->' the output is the ellipsis then the labels seen once, sorted.
    Also `einsum(eq, [a, b])` and the sublist form `einsum(a, [0, 1], b, [1, 2], [0, 2])`.

    >>> import tapegrad
    >>> a = tapegrad.tensor([[1., 2.], [3., 4.]])
    >>> tapegrad.einsum('ii', a), tapegrad.einsum('ij->j', a)
    (tensor(5.), tensor([4., 6.]))
    """
    if len(args) < 2:
        raise ValueError("einsum(): must specify the equation string and at least one operand, "
                         "or at least one operand and its subscripts list")
    if isinstance(args[0], str):
        equation = args[0]
        ops = list(args[1:])
        if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
            ops = list(ops[0])
    else:
        equation, ops = _sublist_equation(args)
    if not ops:
        raise RuntimeError("einsum(): must provide at least one operand")
    for k, t in enumerate(ops):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {k} in argument 1, but got "
                            f"{type(t).__name__}")
    dt = ops[0]._dtype
    for t in ops[1:]:
        if t._dtype is not dt:
            raise RuntimeError(f"expected scalar type {dt._short} but found {t._dtype._short}")
    terms, out = _parse(equation, ops)
    return _einsum(terms, out, ops)

"""rearrange: einops-style reordering of a tensor's dims, as torch.func.rearrange.

A pattern "b (h w) c -> b c h w" names the input dims on the left of "->" and the output
dims on the right; parentheses group axes that share one tensor dim (split on the left,
merged on the right), "..." stands for the dims nobody names, a lone `1` or `()` is a dim of
size 1 (on the right: a new one; on the left: a dim that is summed away, whatever its size,
as PyTorch does). Sizes of split axes come from `axes_lengths` (one axis of a group may be
left out: it is inferred).

The work is three tapegrad ops: reshape to one dim per axis (a view where possible), permute
to the output order, reshape to merge groups (plus a sum for the left's `1`s), so it is
differentiable and runs under vmap. A pattern is parsed once per (ndim, pattern, lengths)
and the recipe cached, as PyTorch caches its own (errors are raised again on every call).

PyTorch runs patterns through first-class dims; the checks and messages here follow what it
does, corner cases included (see the tests): a left side that is one group of several axes
is indexed as several dims, a left `1` together with more output dims than axes raises its
AssertionError, a `…` typed as the character stands for no dims.
"""

from __future__ import annotations

import functools
import keyword
import warnings

from .._tensor import Tensor

__all__ = ["rearrange", "DimensionBindError"]

_ELL = "\u2026"  # "..." is rewritten to this one character before parsing


class DimensionBindError(Exception):
    """An axis size that does not fit the tensor (PyTorch's functorch.dim error)."""


class _Anon:
    """A numbered axis like `3` (each one distinct, even with equal numbers)."""

    __slots__ = ("value",)

    def __init__(self, text: str) -> None:
        self.value = int(text)
        if self.value < 1:
            raise ValueError(f"Anonymous axis should have positive length, not {self.value}")

    def __repr__(self) -> str:
        return f"{self.value}-axis"


def _name_problem(name: str) -> str | None:
    """Why name cannot be an axis name (None: it can; warns for discouraged names)."""
    if not name.isidentifier():
        return "not a valid python identifier"
    if name[0] == "_" or name[-1] == "_":
        return "axis name should should not start or end with underscore"
    if keyword.iskeyword(name):
        warnings.warn(f"It is discouraged to use axes names that are keywords: {name}",
                      RuntimeWarning, stacklevel=2)
    if name == "axis":
        warnings.warn("It is discouraged to use 'axis' as an axis name and will raise an "
                      "error in future", FutureWarning, stacklevel=2)
    return None


class _Side:
    """One side of a pattern. `composition` has one entry per tensor dim: a list of axes (a
    group; [] for a unit dim) or _ELL for a bare ellipsis."""

    def __init__(self, text: str) -> None:
        self.has_ellipsis = False
        self.ellipsis_grouped: bool | None = None
        self.identifiers: set = set()
        self.has_numbered = False  # axes like 2, 3 (rearrange rejects them)
        self.composition: list = []
        if "." in text:
            if "..." not in text:
                raise ValueError("Expression may contain dots only inside ellipsis (...)")
            if text.count("...") != 1 or text.count(".") != 3:
                raise ValueError("Expression may contain dots only inside ellipsis (...); only "
                                 "one ellipsis for tensor ")
            text = text.replace("...", _ELL)
            self.has_ellipsis = True
        group: list | None = None
        word: str | None = None
        for ch in text:
            if ch in "() ":
                if word is not None:
                    self._add(word, group)
                word = None
                if ch == "(":
                    if group is not None:
                        raise ValueError("Axis composition is one-level (brackets inside "
                                         "brackets not allowed)")
                    group = []
                elif ch == ")":
                    if group is None:
                        raise ValueError("Brackets are not balanced")
                    self.composition.append(group)
                    group = None
            elif ch.isalnum() or ch == "_" or ch == _ELL:
                word = ch if word is None else word + ch
            else:
                raise ValueError(f"Unknown character '{ch}'")
        if group is not None:
            raise ValueError(f"Imbalanced parentheses in expression: '{text}'")
        if word is not None:
            self._add(word, group)

    def _add(self, word: str, group: list | None) -> None:
        if word in self.identifiers:
            raise ValueError(f"Indexing expression contains duplicate dimension '{word}'")
        if word == _ELL:
            self.identifiers.add(_ELL)
            (self.composition if group is None else group).append(_ELL)
            self.ellipsis_grouped = group is not None
            return
        number = word.isdecimal()
        if number and int(word) == 1:  # a unit axis: a dim of its own, nothing in a group
            if group is None:
                self.composition.append([])
            return
        problem = _name_problem(word)
        if not number and problem is not None:
            raise ValueError(f"Invalid axis identifier: {word}\n{problem}")
        axis = _Anon(word) if number else word
        self.identifiers.add(axis)
        if number:
            self.has_numbered = True
        if group is None:
            self.composition.append([axis])
        else:
            group.append(axis)


class _Recipe:
    """How to rearrange tensors of one ndim: dims are numbered d0, d1, ... in left order."""

    __slots__ = ("n_dims", "left", "right", "anon", "lengths")

    def __init__(self, n_dims, left, right, anon, lengths) -> None:
        self.n_dims = n_dims  # 0: the tensor itself comes back
        self.left = left  # per tensor dim: tuple of dim numbers (a group) or int (a bare dim)
        self.right = right  # per output dim: tuple (merged group) or int (bare)
        self.anon = anon  # left unit dims, summed away
        self.lengths = lengths  # (dim number, given length) pairs, in the order given


def _parse(pattern: str, axes_lengths: dict) -> tuple[_Side, _Side]:
    try:
        left_text, right_text = pattern.split("->")
    except ValueError:
        raise ValueError("Pattern must contain a single '->' separator") from None
    if _ELL in axes_lengths:
        raise ValueError(f"'{_ELL}' is not an allowed axis identifier")
    left, right = _Side(left_text), _Side(right_text)
    if not left.has_ellipsis and right.has_ellipsis:
        raise ValueError(f"Ellipsis found in right side, but not left side of a pattern {pattern}")
    if left.has_ellipsis and left.ellipsis_grouped:
        raise ValueError(f"Ellipsis is parenthesis in the left side is not allowed: {pattern}")
    for length in axes_lengths.values():
        if type(length) is not int:
            raise TypeError(f"rearrange axis lengths must be integers, got: {type(length)}")
    if left.has_numbered or right.has_numbered:
        raise ValueError("rearrange only supports unnamed axes of size 1")
    difference = set.symmetric_difference(left.identifiers, right.identifiers)
    if difference:
        raise ValueError("Identifiers only on one side of rearrange expression (should be on "
                         f"both): {difference}")
    unmatched = axes_lengths.keys() - left.identifiers
    if unmatched:
        raise ValueError(f"Identifiers not found in rearrange expression: {unmatched}")
    return left, right


@functools.lru_cache(256)
def _recipe(ndim: int, pattern: str, **axes_lengths: int) -> _Recipe:
    left, right = _parse(pattern, axes_lengths)
    n_anon = sum(1 for e in left.composition if e == [])
    if left.has_ellipsis:
        n_ell = ndim - (len(left.composition) - 1)
        n_named = len(left.identifiers) - 1
        if n_anon + n_named > ndim:
            raise ValueError(
                f"Number of dimensions in pattern ({n_anon + n_named}) must be less than or "
                f"equal to the number of dimensions in the tensor ({ndim})")
    else:
        n_ell = 0  # a `…` typed as the character then stands for no dims at all
        n_named = len(left.identifiers)
        if len(left.composition) != ndim:
            raise ValueError(
                f"Number of dimensions in pattern ({len(left.composition)}) must be equal to the "
                f"number of dimensions in the tensor ({ndim})")
    n_dims = n_named + n_ell + n_anon
    if n_dims == 0:
        return _Recipe(0, (), (), (), ())
    dims_of: dict = {}
    left_dims: list = []
    anon: list = []
    k = 0
    for entry in left.composition:
        if entry == _ELL:
            dims_of[_ELL] = tuple(range(k, k + n_ell))
            left_dims.extend(range(k, k + n_ell))
            k += n_ell
        elif entry:
            group = []
            for axis in entry:
                dims_of[axis] = (k,)
                group.append(k)
                k += 1
            left_dims.append(tuple(group))
        else:
            anon.append(k)
            left_dims.append((k,))
            k += 1
    if not left_dims:  # PyTorch generates `tensor[]` here, which Python rejects
        raise SyntaxError("invalid syntax (<string>, line 3)")
    if len(left_dims) == 1 and isinstance(left_dims[0], tuple):
        # PyTorch indexes with this one group as a tuple, i.e. one bare dim per axis
        left_dims = list(left_dims[0])
    right_dims: list = []
    for entry in right.composition:
        if entry == _ELL:
            right_dims.extend(dims_of[_ELL])
        else:
            right_dims.append(tuple(d for axis in entry for d in dims_of[axis]))
    lengths = tuple((dims_of[name][0], n) for name, n in axes_lengths.items())
    return _Recipe(n_dims, tuple(left_dims), tuple(right_dims), tuple(anon), lengths)


def _dims_text(dims) -> str:
    """A tuple of dims as PyTorch prints it: (d1, d2) or (d0,)."""
    names = ", ".join(f"d{d}" for d in dims)
    return f"({names},)" if len(dims) == 1 else f"({names})"


def _bind_group(size: int, group: tuple, sizes: list) -> None:
    """Give the axes of one group the sizes whose product is `size`: at most one unknown
    (-1) axis, whose size is size // (product of the others)."""
    prod = 1
    for i, d in enumerate(group):
        if sizes[d] == -1:
            for e in group[i + 1:]:
                if sizes[e] == -1:
                    raise DimensionBindError(
                        f"cannot infer the sizes of two dimensions at once d{d} and d{e}")
                prod *= sizes[e]
            if size % prod != 0:
                shown = tuple("?" if sizes[e] == -1 else sizes[e] for e in group)
                raise DimensionBindError(
                    f"inferred dimension does not evenly fit into larger dimension: {size} vs "
                    f"{shown}")
            sizes[d] = size // prod  # (a quotient of -1 leaves it unknown, as in PyTorch)
            prod = size
            break
        prod *= sizes[d]
    if prod != size:
        raise DimensionBindError(f"Dimension sizes to do not match ({size} != {prod}) when "
                                 f"matching dimension pack {_dims_text(group)}")
    for d in reversed(group):
        if sizes[d] == -1:
            raise ValueError(f"dimension d{d} is unbound")


def _check_strided(tensor, recipe: _Recipe, sizes: list, shape) -> None:
    """The checks of the strided view PyTorch takes of the split dims (negative lengths)."""
    if all(s >= 0 for s in sizes):
        return
    try:
        strides = list(tensor.stride())
    except Exception:  # noqa: BLE001 - (a batched value): strides of a contiguous tensor
        strides, acc = [], 1
        for s in reversed(shape):
            strides.insert(0, acc)
            acc *= s
    view_sizes, view_strides = [], []
    for p, entry in enumerate(recipe.left):
        group = entry if isinstance(entry, tuple) else (entry,)
        part, acc = [], strides[p]
        for d in reversed(group):
            part.insert(0, acc)
            acc *= sizes[d]
        view_sizes.extend(sizes[d] for d in group)
        view_strides.extend(part)
    view_sizes.extend(shape[len(recipe.left):])
    view_strides.extend(strides[len(recipe.left):])
    if any(s < 0 for s in view_strides):
        raise RuntimeError("as_strided: Negative strides are not supported at the moment, got "
                           f"strides: {view_strides}")
    for i, s in enumerate(view_sizes):
        if s < 0:
            raise RuntimeError(f"invalid shape dimension {s} at index {i} of shape {view_sizes}")


def _apply(recipe: _Recipe, tensor):
    shape = tuple(tensor.shape)
    ndim = len(shape)
    if len(recipe.left) > ndim:
        raise ValueError(f"at least {len(recipe.left)} indices were supplied but the tensor "
                         f"only has {ndim} dimensions")
    sizes = [-1] * recipe.n_dims
    for d, n in recipe.lengths:
        if sizes[d] == -1:
            sizes[d] = n
    grouped = False
    for p, entry in enumerate(recipe.left):
        if isinstance(entry, tuple):
            grouped = True
            _bind_group(shape[p], entry, sizes)
        else:
            sizes[entry] = shape[p]  # a bare dim takes the tensor's size, given length or not
    if grouped:
        _check_strided(tensor, recipe, sizes, shape)
    trailing = shape[len(recipe.left):]  # dims no axis named (only after a typed `…`)
    right = recipe.right
    anon = recipe.anon
    if anon:
        n_new = len(right)
        n_flat = sum(len(e) if isinstance(e, tuple) else 1 for e in right)
        if n_new > n_flat:
            t = len(trailing)
            raise AssertionError(f"Tensor has {len(anon) + n_new + t} dimensions but "
                                 f"{len(anon) + n_flat + t} levels provided")
    # 1. one dim per axis, in left order (dim number k sits at position k)
    order = [d for e in recipe.left for d in (e if isinstance(e, tuple) else (e,))]
    split = [sizes[d] for d in order] + list(trailing)
    x = tensor.reshape(split) if tuple(split) != shape else tensor
    # 2. the left's unit axes are summed away (PyTorch sums them, whatever their size)
    if anon:
        x = x.sum(dim=anon)
    kept = [d for d in order if d not in anon]
    where = {d: i for i, d in enumerate(kept)}
    # 3. output order, then merge groups
    flat = [d for e in right for d in (e if isinstance(e, tuple) else (e,))]
    perm = [where[d] for d in flat] + list(range(len(kept), len(kept) + len(trailing)))
    if perm != list(range(len(perm))):
        x = x.permute(perm)
    elif not grouped and not anon and not any(isinstance(e, tuple) for e in right):
        return tensor  # bare dims in, the same bare dims out: PyTorch hands the tensor back
    out_shape = []
    for e in right:
        if isinstance(e, tuple):
            n = 1
            for d in e:
                n *= sizes[d]
            out_shape.append(n)
        else:
            out_shape.append(sizes[e])
    out_shape.extend(trailing)
    return x.reshape(out_shape)


def rearrange(tensor: Tensor | list[Tensor] | tuple[Tensor, ...], pattern: str,
              **axes_lengths: int) -> Tensor:
    """Reorder, split, merge, add or drop unit dims of a tensor by an einops pattern (a list
    or tuple of tensors is stacked first).

    >>> import tapegrad
    >>> from tapegrad.func import rearrange
    >>> x = tapegrad.zeros(32, 30, 40, 3)
    >>> rearrange(x, "b (h1 h) (w1 w) c -> (b h1 w1) h w c", h1=2, w1=2).shape
    tapegrad.Size([128, 15, 20, 3])
    """
    if not isinstance(tensor, Tensor):
        from .. import stack  # looked up per call: vmap swaps in its batched version

        tensor = stack(tensor)
    recipe = _recipe(tensor.ndim, pattern, **axes_lengths)
    if recipe.n_dims == 0:
        return tensor
    return _apply(recipe, tensor)

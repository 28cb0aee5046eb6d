"""Batching rules of random ops, by vmap's `randomness`:

- 'error': a random op inside vmap raises (even one on unbatched tensors: rand(3) too);
- 'different': every sample draws its own numbers: creation ops make a batch (B, *size),
  ops on tensors run on the whole (expanded) batch, dropout-like ops per sample's channels;
- 'same': every sample sees the same numbers: creation ops run once (unbatched), dropout
  uses one mask for all samples, other ops on batched tensors replay the generator state for
  each sample; ops whose numbers come from a batched tensor (bernoulli(p), ...) raise, as
  in PyTorch.
Non-random calls (dropout with training=False or p=0, rrelu in eval) are element-wise.
"""

from __future__ import annotations

from ._batching_core import vmap_error
from ._batching_dispatch import _level_of, inplace_error, rule, wrap_out
from ._batching_util import B, call, expand_b, is_b, is_tensor, ldim, pad, wdim

ERROR_MSG = (
    "vmap: called random operation while in randomness error mode. Please either use the "
    "'same' or 'different' randomness flags on vmap or perform the randomness operation out of "
    "vmap"
)
SAME_MSG = ("Vmap does not currently support same randomness with a batched tensor input. "
            "Please file an issue with functorch")
UNBATCHED_MSG = (
    "vmap: Cannot ask for different inplace randomness on an unbatched tensor. This will appear "
    "like same randomness. If this is necessary for your usage, please file an issue with "
    "functorch."
)


def _check(layer) -> None:
    if layer.randomness == "error":
        raise vmap_error(ERROR_MSG)


def _stack(results, level):
    from .. import stack

    return wrap_out(stack(results, 0), level)


# --- creation ---------------------------------------------------------------------------------
@rule("rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like",
      random=True)
def create(op, args, kwargs, level, layer):
    _check(layer)
    if op.name.endswith("_like"):
        x = args[0] if args else kwargs["input"]
        rest = tuple(args[1:])
        if layer.randomness == "different":
            return wrap_out(call(op, (expand_b(x, level),) + rest, kwargs), level)
        one = x._value.select(0, 0) if is_b(x, level) else x
        return call(op, (one,) + rest, kwargs)
    if layer.randomness == "same":
        return call(op, args, kwargs)
    nb = B(level)
    if op.name in ("rand", "randn") and "size" not in kwargs:
        size = tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) \
            else tuple(args)
        return wrap_out(call(op, (nb,) + size, kwargs), level)
    return _stack([call(op, args, kwargs) for _ in range(nb)], level)


# --- random ops on tensors ----------------------------------------------------------------------
_DROPOUT = ("dropout", "dropout_", "alpha_dropout", "alpha_dropout_", "feature_dropout",
            "feature_dropout_", "feature_alpha_dropout", "feature_alpha_dropout_", "dropout1d",
            "dropout2d", "dropout3d", "rrelu", "rrelu_")
_CHANNELS = {"dropout1d": 1, "dropout2d": 2, "dropout3d": 3}


def _is_random_call(name: str, a: dict) -> bool:
    if name in _DROPOUT:
        training = a.get("training", a.get("train", False))
        if name.startswith("rrelu"):
            return bool(training)
        return bool(training) and a.get("p", 0.5) != 0
    return True


def _replay(op, ba, level):
    """'same' randomness for ops on batched tensors: each sample from the same generator state."""
    from .. import get_rng_state, set_rng_state

    a = ba.arguments
    state = get_rng_state()
    results = []
    for i in range(B(level)):
        set_rng_state(state)
        args = {k: (v._value.select(0, i) if is_b(v, level) else v) for k, v in a.items()}
        ba.arguments.update(args)
        results.append(call(op, ba.args, ba.kwargs))
    return _stack(results, level)


def _channels_fold(x, k: int, level):
    p = x._value
    r = p.dim() - 1
    if r == k + 1:
        return p, lambda o: o
    nb = p.shape[0]
    pf = p.reshape((nb * p.shape[1],) + tuple(p.shape[2:]))
    return pf, lambda o: o.reshape((nb,) + tuple(x._value.shape[1:]))


@rule(*_DROPOUT, *[f"F.{n}" for n in _DROPOUT], "bernoulli", "Tensor.bernoulli", "poisson",
      "multinomial", "normal", "F.gumbel_softmax", random=True)
def on_tensors(op, args, kwargs, level, layer):
    from ._batching_rules_pointwise import pointwise

    ba = op.bind(args, kwargs)
    a = ba.arguments
    names = list(a)
    if op.name == "normal" and not any(is_tensor(a[k]) for k in names[:2]):
        return create(op, args, kwargs, level, layer)
    if not _is_random_call(op.name, a):
        if _level_of(args, kwargs):
            return pointwise(op, args, kwargs, level)
        return op.orig(*args, **kwargs)
    _check(layer)
    inplace = op.name.endswith("_") or bool(a.get("inplace"))
    x = a[names[0]]
    if inplace and not is_b(x, level):
        if _level_of(args, kwargs):
            raise inplace_error()
    if layer.randomness == "same":
        tensors = [a[k] for k in names if is_b(a[k], level)]
        if not tensors:
            return call(op, args, kwargs)
        if op.name in ("bernoulli", "poisson", "multinomial", "normal"):
            raise vmap_error(SAME_MSG)
        if op.name in ("dropout", "dropout_"):  # one mask (scaled by 1/(1-p)) for all
            from .. import ones

            a[names[0]] = ones(tuple(x.shape), dtype=x.dtype)
            if "inplace" in a:
                a["inplace"] = False
            mask = call(op, ba.args, ba.kwargs)
            return x.mul_(mask) if inplace else x * mask
        return _replay(op, ba, level)
    # 'different': every sample its own draws
    if op.name == "gumbel_softmax":
        a["dim"] = wdim(a["dim"], ldim(x, level)) + 1
    # normal(mean, std) broadcasts its tensors: each is aligned by logical rank
    rank = max(ldim(a[k], level) for k in names[:2] if is_tensor(a[k])) \
        if op.name == "normal" else None
    for k in names:
        v = a[k]
        if is_tensor(v) and (is_b(v, level) or k == names[0]):
            a[k] = x._value if (inplace and k == names[0]) else expand_b(v, level)
            if rank is not None:
                a[k] = pad(a[k], ldim(v, level), rank)
    unfold = None
    k = _CHANNELS.get(op.name)
    if op.name.startswith("feature") and ldim(x, level) >= 2:
        k = ldim(x, level) - 2
    if k is not None and ldim(x, level) == k + 2:
        bx = wrap_out(a[names[0]], level)
        a[names[0]], unfold = _channels_fold(bx, k, level)
    if op.name == "multinomial" and ldim(x, level) == 2:
        bx = wrap_out(a[names[0]], level)
        a[names[0]], _ = _channels_fold(bx, 0, level)
        nb = B(level)
        unfold = lambda o: o.reshape((nb, -1) + tuple(o.shape[1:]))  # noqa: E731
    out = call(op, ba.args, ba.kwargs)
    if inplace:
        return x
    if unfold is not None:
        out = unfold(out)
    return wrap_out(out, level)


# --- in-place random fills --------------------------------------------------------------------
@rule("normal_", "uniform_", "bernoulli_", "random_", "exponential_", "geometric_", "cauchy_",
      "log_normal_", random=True)
def fill_random(op, args, kwargs, level, layer):
    self = args[0]
    rest = tuple(args[1:])
    if op.name != "bernoulli_":  # (their parameters are numbers: PyTorch reads them first)
        from ._batching_rules_scalars import numbers_error

        numbers_error(*rest, *kwargs.values())
    _check(layer)
    others = [v for v in rest + tuple(kwargs.values()) if is_b(v, level)]
    if not is_b(self, level):
        if others:
            raise inplace_error("inplace bernoulli")
        if layer.randomness == "different":
            raise vmap_error(UNBATCHED_MSG)
        return call(op, args, kwargs)
    if layer.randomness == "same":
        if others:
            raise vmap_error(SAME_MSG)
        from .. import empty

        one = call(op, (empty(tuple(self.shape), dtype=self.dtype),) + rest, kwargs)
        self._value.copy_(one.expand(tuple(self._value.shape)))
        return self
    rest = tuple(expand_b(v, level) if is_b(v, level) else v for v in rest)
    call(op, (self._value,) + rest, kwargs)
    return self

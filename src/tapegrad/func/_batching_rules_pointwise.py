"""Batching rules of element-wise ops: unary math, broadcasting n-ary arithmetic and
comparisons, activations, conversions, *_like creation and their in-place forms.

One rule serves them all: operands are aligned by logical rank (a batched operand of lower
logical rank gets singleton dims after its batch dim, so it broadcasts like the logical
tensor), then the op runs once on the physical values. Type promotion follows the logical
ranks: a batched operand that is logically 0-d is physically 1-d, so it is first cast to the
dtype the logical operation gives (a 0-d tensor does not promote a dimensioned one).
"""

from __future__ import annotations

from .. import _dtype as D
from ..ops.unary import UNARY
from ._batching_core import vmap_error
from ._batching_dispatch import inplace_error, rule, wrap_out
from ._batching_util import B, call, is_b, is_tensor, ldim, pad, phys

# names whose every tensor argument broadcasts element-wise with the others
_BINARY = (
    "add sub subtract rsub mul multiply div divide true_divide rdiv rtruediv floor_divide "
    "rfloor_divide rfloordiv remainder rremainder fmod pow rpow float_power atan2 arctan2 hypot "
    "maximum minimum fmax fmin copysign nextafter ldexp xlogy logaddexp logaddexp2 heaviside "
    "eq ne lt le gt ge greater greater_equal less less_equal not_equal isclose logical_and "
    "logical_or logical_xor bitwise_and bitwise_or bitwise_xor clamp clip clamp_min clamp_max "
    "lerp addcmul addcdiv polygamma mvlgamma bitwise_left_shift bitwise_right_shift "
    "special.xlogy special.xlog1py special.zeta special.gammainc special.gammaincc complex"
).split()
_UNARY_MORE = (
    "arcsin arccos arctan arcsinh arccosh arctanh fix square positive negative absolute signbit "
    "isneginf isposinf nan_to_num logit isnan isinf isfinite logical_not bitwise_not round "
    "conj conj_physical angle isreal clone detach i0 sinc sgn resolve_conj "
    "resolve_neg zeros_like ones_like empty_like full_like float double half long int short "
    "char byte bool cfloat cdouble to relu6 leaky_relu elu selu celu gelu silu mish softplus "
    "softsign hardtanh hardsigmoid hardswish logsigmoid threshold tanhshrink softshrink "
    "hardshrink sigmoid tanh relu erf erfc erfinv lgamma digamma view_as_real "
    "view_as_complex real imag zero_ detach_ cpu"
).split()
# tapegrad.special: element-wise except these
_SPECIAL_NOT = {"softmax", "log_softmax", "logsumexp"}
# operand positions (by parameter name) that do not take part in type promotion
_NO_PROMOTE = {"where": ("condition",), "masked_fill": ("mask",)}
_PROMOTING = (set(_BINARY) | {"where"}) - {"polygamma", "mvlgamma", "complex"}


def _names() -> list:
    from .. import special

    names = list(UNARY) + _BINARY + _UNARY_MORE
    names += [n + "_" for n in names if not n.startswith("special.")]
    names += [f"special.{n}" for n, f in vars(special).items() if not n.startswith("_")
              and callable(f) and not isinstance(f, type) and n not in _SPECIAL_NOT]
    names += [f"F.{n}_" for n in ("relu", "elu", "selu", "celu", "leaky_relu", "hardtanh",
                                  "threshold")]
    return names


def _operands(args, kwargs, level):
    """[(in kwargs, key, tensor)] of the tensor operands, and their highest logical rank."""
    found = []
    rank = 0
    for i, a in enumerate(args):
        if is_tensor(a):
            found.append((False, i, a))
            rank = max(rank, ldim(a, level))
    for k, a in kwargs.items():
        if is_tensor(a):
            found.append((True, k, a))
            rank = max(rank, ldim(a, level))
    return found, rank


def _zero_dim_casts(name, args, ops, level) -> dict:
    """{(in kwargs, key): dtype} for the logically-0-d batched operands whose physical (1-d)
    form would promote differently from the logical 0-d tensor (see module doc)."""
    if name not in _PROMOTING:
        return {}
    skip = _NO_PROMOTE.get(name, ())
    items = [(kw, k, a) for kw, k, a in ops
             if not (k in skip or (name in ("where", "masked_fill") and not kw
                                   and k == (0 if name == "where" else 1)))]
    if len(items) < 2 or not any(is_b(a, level) and ldim(a, level) == 0 for _, _, a in items):
        return {}
    dims, zeros = [], []
    for _, _, a in items:
        (dims if ldim(a, level) else zeros).append(a.dtype)
    scalars = [D.scalar_dtype(a) for a in args
               if type(a) in (bool, int, float, complex)]
    want = D.result_type_of(dims, zeros, scalars)
    return {(kw, k): want for kw, k, a in items
            if is_b(a, level) and ldim(a, level) == 0 and a.dtype is not want}


# In-place ops whose `self` is not batched while another operand is: PyTorch's rules either
# run the op on the physical values (the broadcast then fails with the physical shapes),
# or name the failure "inplace arithmetic"; the other ops reach its per-sample fallback,
# which warns and then names the op.
_INPLACE_PHYSICAL = frozenset(
    "add_ atan2_ arctan2_ copysign_ bitwise_and_ bitwise_or_ bitwise_xor_ bitwise_left_shift_ "
    "bitwise_right_shift_".split())
_INPLACE_ARITH = frozenset(
    "sub_ mul_ multiply_ div_ divide_ true_divide_ clamp_min_ clamp_max_ logical_and_ "
    "logical_or_ logical_xor_ copy_ masked_fill_".split())


def _physical_error(e: Exception) -> Exception:
    """A broadcasting failure of the physical values is final (PyTorch reports the physical
    shapes too); other failures go to the per-sample loop for the logical message."""
    msg = str(e)
    if isinstance(e, RuntimeError) and (msg.startswith("The size of tensor a")
                                        or "doesn't match the broadcast shape" in msg):
        e._tapegrad_vmap = True
    return e


def _unbatched_self(op, args, kwargs, ops, level):
    """The error of an in-place op writing a batch into an unbatched `self`."""
    from ._batching_dispatch import fallback

    if op.name in _INPLACE_ARITH:
        raise inplace_error()
    if op.name not in _INPLACE_PHYSICAL:
        return fallback(op, args, kwargs, level)  # (warns, then raises)
    rank = max(ldim(a, level) for _, _, a in ops)
    new_args, new_kwargs = list(args), dict(kwargs)
    for kw, key, a in ops:
        if is_b(a, level):
            (new_kwargs if kw else new_args)[key] = pad(a._value, ldim(a, level), rank)
    try:
        call(op, tuple(new_args), new_kwargs)
    except Exception as e:  # noqa: BLE001 - the op's own error, as PyTorch gives it
        raise _physical_error(e) from None
    raise inplace_error()  # (unreachable: the batch dim never fits into `self`)


# parameters PyTorch reads as numbers (a batched tensor there is its .item() error)
_NUMBERS = {"full_like": ("fill_value",), "leaky_relu": ("negative_slope",),
            "threshold": ("threshold", "value"), "softplus": ("beta", "threshold"),
            "elu": ("alpha",), "celu": ("alpha",), "add": ("alpha",), "sub": ("alpha",),
            "add_": ("alpha",), "sub_": ("alpha",), "leaky_relu_": ("negative_slope",),
            "threshold_": ("threshold", "value"), "elu_": ("alpha",), "celu_": ("alpha",)}
_ALPHA = frozenset(("add", "sub", "add_", "sub_"))
_HARDTANH = frozenset(("hardtanh", "hardtanh_"))


def _check_numbers(op, args, kwargs) -> None:
    from ._batching_rules_scalars import numbers_error

    if op.name in _HARDTANH:  # (its min_val > max_val check is a bool())
        a = op.bind(args, kwargs).arguments
        if is_tensor(a.get("min_val")) or is_tensor(a.get("max_val")):
            from ._batching_core import CONTROL_FLOW_MSG

            raise vmap_error(CONTROL_FLOW_MSG)
        return
    names = _NUMBERS[op.name]
    a = op.bind(args, kwargs).arguments
    numbers_error(*(a.get(n) for n in names))


@rule(*_names())
def pointwise(op, args, kwargs, level):
    name = op.name
    if (name in _NUMBERS and (name not in _ALPHA or len(args) > 2 or "alpha" in kwargs)) or \
            name in _HARDTANH:
        _check_numbers(op, args, kwargs)
    ops, rank = _operands(args, kwargs, level)
    casts = {}
    if op.inplace:
        self = args[0] if args else None
        if not is_b(self, level):
            return _unbatched_self(op, args, kwargs, ops, level)
    else:
        casts = _zero_dim_casts(op.name, args, ops, level)
    new_args = list(args)
    new_kwargs = dict(kwargs)
    for kw, key, a in ops:
        if is_b(a, level):
            p = a._value
            dt = casts.get((kw, key))
            if dt is not None:
                p = p.to(dt)
            (new_kwargs if kw else new_args)[key] = pad(p, ldim(a, level), rank)
    try:
        out = call(op, tuple(new_args), new_kwargs)
    except Exception as e:  # noqa: BLE001 - re-raised (marked final when it is a broadcast)
        raise _physical_error(e) from None
    if op.inplace:
        return args[0]
    return wrap_out(out, level)


@rule("masked_fill", "masked_fill_")
def masked_fill(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    x, mask, value = (ba.arguments[k] for k in ("input", "mask", "value")) \
        if "input" in ba.arguments else (args[0], args[1], args[2])
    if is_tensor(value) and is_b(value, level):
        if op.inplace and not is_b(x, level):
            from ._batching_dispatch import fallback

            return fallback(op, args, kwargs, level)  # (PyTorch's loop: it warns, then raises)
        if value.dim() != 0:
            return NotImplemented
        if op.inplace:
            from .. import where

            return x.copy_(where(mask, value.to(x.dtype), x))
        from .. import where

        return where(mask, value.to(x.dtype), x)
    return pointwise(op, args, kwargs, level)


@rule("fill_")
def fill_(op, args, kwargs, level):
    self, value = args[0], args[1] if len(args) > 1 else kwargs["value"]
    if not is_b(self, level):
        raise inplace_error("fill_")
    if is_b(value, level):
        if value.dim() != 0:
            return NotImplemented
        self._value.copy_(pad(value._value, 0, ldim(self, level)))
        return self
    call(op, (self._value, value))
    return self


@rule("copy_")
def copy_(op, args, kwargs, level):
    return pointwise(op, args, kwargs, level)


@rule("type_as", "Tensor.type_as")
def type_as(op, args, kwargs, level):
    x, other = args[0], args[1]
    return x.to(other.dtype)


@rule("Tensor.type")
def tensor_type(op, args, kwargs, level):
    if len(args) == 1 and not kwargs:
        return call(op, (args[0]._value,))
    return pointwise(op, args, kwargs, level)


@rule("Tensor.new_zeros", "Tensor.new_ones", "Tensor.new_empty", "Tensor.new_full",
      "new_zeros", "new_ones", "new_empty", "new_full")
def new_sized(op, args, kwargs, level):
    """x.new_zeros(size): a batch of new tensors (as PyTorch's rule makes them)."""
    self = args[0]
    if op.name == "new_full":
        from ._batching_rules_scalars import numbers_error

        numbers_error(*args[2:], kwargs.get("fill_value"))
    if not is_b(self, level) or any(is_b(a, level) for a in args[1:]):
        return NotImplemented
    rest = list(args[1:])
    if "size" in kwargs:
        size = kwargs.pop("size")
    elif op.name == "new_full":
        size, rest = rest[0], rest[1:]
    elif len(rest) == 1 and isinstance(rest[0], (tuple, list)):
        size, rest = rest[0], []
    else:
        size, rest = tuple(rest), []
    size = (B(level),) + tuple(size)
    return wrap_out(call(op, (self._value, size, *rest), kwargs), level)


@rule("Tensor.new_tensor", "new_tensor")
def new_tensor(op, args, kwargs, level):
    if any(is_b(a, level) for a in args[1:]):
        return NotImplemented
    return call(op, (phys(args[0], level),) + tuple(args[1:]), kwargs)


@rule("Tensor.requires_grad_")
def requires_grad_(op, args, kwargs, level):
    raise vmap_error(
        "You are attempting to call Tensor.requires_grad_() (or perhaps using "
        "tapegrad.autograd.functional.* APIs) inside of a function being transformed by a "
        "functorch transform. This is unsupported, please attempt to use the functorch "
        "transforms (e.g. grad, vjp, jacrev, jacfwd, hessian) or call requires_grad_() outside "
        "of a function being transformed instead."
    )


@rule("Tensor.backward")
def backward(op, args, kwargs, level):
    raise vmap_error(
        "backward() called inside a functorch transform. This is not supported, please use "
        "functorch.grad or functorch.vjp instead or call backward() outside of functorch "
        "transforms."
    )


@rule("Tensor.data")
def data(op, args, kwargs, level):
    return wrap_out(args[0]._value.data, level)


@rule("F.one_hot", "one_hot")
def one_hot(op, args, kwargs, level):
    ba = op.bind(args, kwargs)
    n = ba.arguments.get("num_classes", -1)
    if n is None or n < 1:
        raise vmap_error(
            "When vmap-ing tapegrad.nn.functional.one_hot, please provide an explicit positive "
            "num_classes argument."
        )
    return pointwise(op, args, kwargs, level)

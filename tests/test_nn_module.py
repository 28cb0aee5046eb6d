"""nn.Parameter and nn.Module: registration, iteration, modes, conversions and printing,
compared with PyTorch."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import tapegrad
from _helpers import both, error, same_error, warnings_of

torch = pytest.importorskip("torch")


# --- Parameter ------------------------------------------------------------------------------
def test_parameter_repr_and_flags():
    def prog(m):
        p = m.nn.Parameter(m.ones(2))
        q = m.nn.Parameter(m.ones(2, dtype=m.float64), requires_grad=False)
        e = m.nn.Parameter()
        s = m.nn.Parameter(m.tensor(1.0))
        i = m.nn.Parameter(m.ones(2, dtype=m.long), requires_grad=False)
        return (repr(p), repr(q), repr(e), str(s), repr(i), p.requires_grad, p.is_leaf,
                p.grad_fn is None, isinstance(p, m.Tensor), type(p).__name__)

    both(prog)


def test_parameter_int_requires_grad_error():
    same_error(lambda m: m.nn.Parameter(m.ones(2, dtype=m.long)))


def test_parameter_shares_storage_and_version():
    def prog(m):
        t = m.ones(3)
        p = m.nn.Parameter(t)
        t.add_(1)
        return p.detach(), p._version, t._version

    both(prog)


def test_parameter_results_are_plain_tensors():
    def prog(m):
        p = m.nn.Parameter(m.ones(3))
        outs = [p.data, p.detach(), p * 1, p[0], p.view(3), p.clone()]
        return [type(o).__name__ for o in outs]

    both(prog)


def test_parameter_data_assignment_keeps_object():
    def prog(m):
        p = m.nn.Parameter(m.ones(3))
        ident = id(p)
        p.data = m.zeros(3)
        with m.no_grad():
            p.mul_(2)
        return type(p).__name__, id(p) == ident, repr(p)

    both(prog)


def test_parameter_attrs_deepcopy_pickle():
    p = tapegrad.nn.Parameter(tapegrad.ones(2))
    p.foo = 3
    assert p.foo == 3
    p.grad = tapegrad.full((2,), 5.0)
    q = copy.deepcopy(p)
    assert type(q) is tapegrad.nn.Parameter and q is not p and q.requires_grad
    assert np.array_equal(q.grad.numpy(), [5.0, 5.0])
    with tapegrad.no_grad():
        q.mul_(3)
    assert p.detach().numpy().tolist() == [1.0, 1.0]
    r = pickle.loads(pickle.dumps(tapegrad.nn.Parameter(tapegrad.ones(2), requires_grad=False)))
    assert type(r) is tapegrad.nn.Parameter and not r.requires_grad


def test_buffer_marker():
    def prog(m):
        class M(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.a = m.nn.Buffer(m.ones(2))
                self.b = m.nn.Buffer(m.zeros(1), persistent=False)

        mod = M()
        return (list(mod.state_dict()), [n for n, _ in mod.named_buffers()],
                type(mod.a).__name__, repr(mod.a))

    both(prog)


# --- registration through attributes ----------------------------------------------------------
class _Net:
    """A two-layer network built the same way in both libraries."""

    @staticmethod
    def make(m):
        class Net(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = m.nn.Linear(3, 4)
                self.act = m.nn.ReLU()
                self.fc2 = m.nn.Linear(4, 2, bias=False)
                self.scale = m.nn.Parameter(m.ones(2))
                self.register_buffer("steps", m.zeros(1))
                self.register_buffer("tmp", m.zeros(2), persistent=False)

            def forward(self, x):
                return self.fc2(self.act(self.fc1(x))) * self.scale

        return Net()


def test_named_members():
    def prog(m):
        net = _Net.make(m)
        return (
            [(n, tuple(p.shape)) for n, p in net.named_parameters()],
            [n for n, _ in net.named_parameters(prefix="net", recurse=False)],
            [n for n, _ in net.named_buffers()],
            [n for n, _ in net.named_children()],
            [n for n, _ in net.named_modules()],
            [type(c).__name__ for c in net.children()],
            len(list(net.parameters())), len(list(net.buffers(recurse=False))),
            list(net.state_dict().keys()),
            [tuple(v.shape) for v in net.state_dict().values()],
        )

    both(prog)


def test_duplicates_and_remove_duplicate():
    def prog(m):
        lin = m.nn.Linear(2, 2)
        seq = m.nn.Sequential(lin, m.nn.ReLU(), lin)
        return (
            [n for n, _ in seq.named_parameters()],
            [n for n, _ in seq.named_parameters(remove_duplicate=False)],
            [n for n, _ in seq.named_modules()],
            [n for n, _ in seq.named_modules(remove_duplicate=False)],
            len(list(seq.modules())), len(list(seq.children())),
            list(seq.state_dict()),
        )

    both(prog)


def test_setattr_replaces_and_deletes():
    def prog(m):
        net = _Net.make(m)
        net.fc1 = None  # a module slot set to None stays registered
        net.scale = None
        net.steps = m.ones(1) * 3  # assigning a tensor to a buffer name updates the buffer
        net.extra = m.nn.Parameter(m.zeros(1))
        del net.act
        net.plain = 5
        res = [
            [n for n, _ in net.named_parameters()], list(net._modules),
            list(net._parameters), net.steps, list(net.state_dict()), net.plain,
        ]
        del net.plain
        res.append(hasattr(net, "plain"))
        return res

    both(prog)


def test_attribute_errors():
    def mk(m):
        return m.nn.Linear(2, 2)

    same_error(lambda m: setattr(mk(m), "weight", m.ones(2, 2)))
    same_error(lambda m: setattr(mk(m), "weight", 3))
    same_error(lambda m: mk(m).nope)
    same_error(lambda m: setattr(m.nn.BatchNorm1d(2), "running_mean", [0.0, 0.0]))

    def child(m):
        s = m.nn.Sequential(m.nn.ReLU())
        setattr(s, "0", 3)

    same_error(child)

    def early(m, what):
        class Bad(m.nn.Module):
            def __init__(self):
                if what == "param":
                    self.w = m.nn.Parameter(m.ones(1))
                elif what == "module":
                    self.c = m.nn.ReLU()
                elif what == "reg_param":
                    self.register_parameter("w", None)
                else:
                    self.register_buffer("b", None)

        Bad()

    for what in ("param", "module", "reg_param", "buffer"):
        same_error(lambda m, w=what: early(m, w))


def test_register_errors():
    def mk(m):
        return m.nn.Linear(2, 2)

    same_error(lambda m: mk(m).register_parameter("a.b", None))
    same_error(lambda m: mk(m).register_parameter("", None))
    same_error(lambda m: mk(m).register_parameter(3, None))
    same_error(lambda m: mk(m).register_parameter("forward", None))
    same_error(lambda m: mk(m).register_parameter("p", m.ones(2)))
    same_error(lambda m: mk(m).register_buffer("a.b", None))
    same_error(lambda m: mk(m).register_buffer("", None))
    same_error(lambda m: mk(m).register_buffer("weight", m.ones(1)))
    same_error(lambda m: mk(m).add_module("x", 3))
    same_error(lambda m: mk(m).add_module("a.b", m.nn.ReLU()))
    same_error(lambda m: mk(m).add_module("", m.nn.ReLU()))
    same_error(lambda m: mk(m).add_module("weight", m.nn.ReLU()))
    same_error(lambda m: mk(m).add_module(1, m.nn.ReLU()))

    # buffers must be tensors: PyTorch says "torch Tensor" where we say "tapegrad Tensor"
    ours = error(lambda: mk(tapegrad).register_buffer("b", 3))
    theirs = error(lambda: mk(torch).register_buffer("b", 3))
    assert ours == (theirs[0], theirs[1].replace("torch Tensor", "tapegrad Tensor"))


def test_register_module_and_get_paths():
    def prog(m):
        net = m.nn.Module()
        net.register_module("block", m.nn.Sequential(m.nn.Linear(2, 3), m.nn.ReLU()))
        net.add_module("head", m.nn.Linear(3, 1))
        net.register_buffer("b", m.zeros(2))
        return (
            repr(net.get_submodule("block.0")), net.get_submodule("") is net,
            tuple(net.get_parameter("block.0.bias").shape), net.get_buffer("b"),
        )

    both(prog)
    for target in ("block.5", "head.weight", "nope"):
        same_error(lambda m, t=target: _paths(m).get_submodule(t))
    for target in ("head.nope", "block", "b"):
        same_error(lambda m, t=target: _paths(m).get_parameter(t))
    for target in ("head.weight", "x"):
        same_error(lambda m, t=target: _paths(m).get_buffer(t))


def _paths(m):
    net = m.nn.Module()
    net.block = m.nn.Sequential(m.nn.Linear(2, 3))
    net.head = m.nn.Linear(3, 1)
    net.register_buffer("b", m.zeros(2))
    return net


def test_set_submodule():
    def prog(m):
        net = _paths(m)
        net.set_submodule("block.0", m.nn.Tanh())
        net.set_submodule("new", m.nn.ReLU())
        return repr(net)

    both(prog)
    same_error(lambda m: _paths(m).set_submodule("", m.nn.ReLU()))
    same_error(lambda m: _paths(m).set_submodule("zz", m.nn.ReLU(), strict=True))


def test_module_init_args_and_forward_missing():
    same_error(lambda m: m.nn.Module(3))
    same_error(lambda m: m.nn.Module(a=3))
    same_error(lambda m: m.nn.Module()(m.ones(1)))


# --- modes, gradients, conversions -------------------------------------------------------------
def test_train_eval():
    def prog(m):
        net = m.nn.Sequential(m.nn.Linear(2, 2), m.nn.Sequential(m.nn.Dropout()))
        out = [net.training]
        r = net.eval()
        out += [r is net, net.training, net[1][0].training]
        net.train()
        out += [net[1][0].training]
        net.train(False)
        out += [net[1].training]
        return out

    both(prog)
    same_error(lambda m: m.nn.Linear(1, 1).train(1))


def test_zero_grad_and_requires_grad():
    def prog(m):
        m.manual_seed(0)
        lin = m.nn.Linear(3, 2)
        lin(m.ones(4, 3)).sum().backward()
        g = lin.weight.grad.clone()
        lin.zero_grad(set_to_none=False)
        z = lin.weight.grad
        lin(m.ones(4, 3)).sum().backward()
        lin.zero_grad()
        none = lin.weight.grad is None
        lin.requires_grad_(False)
        flags = [p.requires_grad for p in lin.parameters()]
        return g, z, none, flags, lin.requires_grad_() is lin

    both(prog)


def test_dtype_conversions():
    def prog(m):
        m.manual_seed(0)
        bn = m.nn.BatchNorm1d(2)
        w = bn.weight
        bn.double()
        out = [str(bn.weight.dtype), str(bn.running_mean.dtype), str(bn.num_batches_tracked.dtype),
               bn.weight is w]
        bn.float()
        out.append(str(bn.weight.dtype))
        bn.half()
        out.append(str(bn.running_var.dtype))
        bn.to(m.float64)
        out.append(str(bn.weight.dtype))
        bn.to(dtype=m.float32)
        out.append(str(bn.running_mean.dtype))
        bn.to(m.ones(1, dtype=m.float64))
        out.append(str(bn.weight.dtype))
        bn.to("cpu")
        out.append(str(bn.weight.dtype))
        return out

    both(prog)
    same_error(lambda m: m.nn.Linear(1, 1).to(m.int64))


def test_conversion_moves_grad():
    def prog(m):
        lin = m.nn.Linear(2, 1)
        lin(m.ones(1, 2)).sum().backward()
        lin.double()
        return str(lin.weight.grad.dtype), lin.bias.grad

    both(prog)


def test_apply_order():
    def prog(m):
        net = m.nn.Sequential(m.nn.Linear(1, 1), m.nn.Sequential(m.nn.ReLU()))
        seen = []
        r = net.apply(lambda mod: seen.append(type(mod).__name__))
        return seen, r is net

    both(prog)


def test_dir_and_version():
    def prog(m):
        net = _Net.make(m)
        d = dir(net)
        return (all(k in d for k in ("fc1", "scale", "steps", "forward", "training")),
                net._version, m.nn.BatchNorm1d(2)._version, d == sorted(d))

    both(prog)


# --- repr --------------------------------------------------------------------------------------
def test_repr_nested_and_extra():
    def prog(m):
        class Custom(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = m.nn.Sequential(m.nn.Conv2d(1, 2, 3), m.nn.ReLU())

            def extra_repr(self):
                return "line one\nline two"

        class Single(m.nn.Module):
            def extra_repr(self):
                return "k=1"

        net = _Net.make(m)
        net.missing = None
        return repr(net), repr(Custom()), repr(Single()), repr(m.nn.Module())

    both(prog)


# --- state dict ----------------------------------------------------------------------------
def test_state_dict_shares_and_detaches():
    def prog(m):
        lin = m.nn.Linear(2, 2)
        sd = lin.state_dict()
        kv = lin.state_dict(keep_vars=True)
        return (type(sd).__name__, sd["weight"].requires_grad, kv["weight"] is lin.weight,
                sd["weight"].data_ptr() == lin.weight.data_ptr(),
                list(lin.state_dict(prefix="p.")), dict(sd._metadata))

    both(prog)


def test_load_state_dict_roundtrip_and_result():
    def prog(m):
        m.manual_seed(1)
        a = _Net.make(m)
        b = _Net.make(m)
        res = b.load_state_dict(a.state_dict())
        same = all(np.array_equal(x.detach().numpy(), y.detach().numpy())
                   for x, y in zip(a.parameters(), b.parameters()))
        return repr(res), res.missing_keys, res.unexpected_keys, same, str(res)

    both(prog)


def test_load_state_dict_nonstrict_and_errors():
    def partial(m):
        lin = m.nn.Linear(2, 2)
        sd = {"weight": m.zeros(2, 2), "extra": m.ones(1)}
        res = lin.load_state_dict(sd, strict=False)
        return repr(res), res.missing_keys, res.unexpected_keys, lin.weight

    both(partial)

    def strict(m, sd):
        m.nn.Linear(2, 2).load_state_dict(sd(m))

    same_error(lambda m: strict(m, lambda m: {"weight": m.zeros(2, 2)}))
    same_error(lambda m: strict(m, lambda m: {"weight": m.zeros(2, 2), "bias": m.zeros(2),
                                              "x.y": m.ones(1), "z": m.ones(1)}))
    same_error(lambda m: strict(m, lambda m: {"weight": m.zeros(3, 2), "bias": m.zeros(2)}))
    same_error(lambda m: strict(m, lambda m: {"bias": m.zeros(2)}))
    same_error(lambda m: m.nn.Linear(2, 2).load_state_dict([1]))
    # a non-tensor value: PyTorch names its own class in the message
    ours = error(lambda: strict(tapegrad, lambda m: {"weight": 3, "bias": m.zeros(2)}))
    theirs = error(lambda: strict(torch, lambda m: {"weight": 3, "bias": m.zeros(2)}))
    assert ours == (theirs[0], theirs[1].replace("torch.", "tapegrad."))


def test_load_state_dict_nested_and_scalar():
    def prog(m):
        m.manual_seed(2)
        a = m.nn.Sequential(m.nn.Linear(2, 2), m.nn.BatchNorm1d(2))
        a.train()
        a(m.randn(4, 2))
        b = m.nn.Sequential(m.nn.Linear(2, 2), m.nn.BatchNorm1d(2))
        b.load_state_dict(a.state_dict())
        p = m.nn.Module()
        p.s = m.nn.Parameter(m.tensor(0.0))
        p.load_state_dict({"s": m.tensor([4.0])})  # shape (1,) fills a 0-d parameter
        return b.state_dict(), p.s

    both(prog)


def test_load_state_dict_assign():
    def prog(m):
        lin = m.nn.Linear(2, 2)
        w = m.ones(2, 2, dtype=m.float64)
        lin.load_state_dict({"weight": w, "bias": m.zeros(2)}, assign=True)
        return (type(lin.weight).__name__, str(lin.weight.dtype), lin.weight.requires_grad,
                lin.weight.data_ptr() == w.data_ptr())

    both(prog)


def test_state_dict_hooks_and_extra_state():
    def prog(m):
        class E(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.v = 1

            def get_extra_state(self):
                return {"v": self.v}

            def set_extra_state(self, s):
                self.v = s["v"]

        e = E()
        calls = []
        e.register_state_dict_pre_hook(lambda mod, prefix, kv: calls.append(("pre", prefix)))
        e.register_state_dict_post_hook(lambda mod, sd, prefix, meta: calls.append("post"))
        e.register_load_state_dict_post_hook(lambda mod, keys: calls.append(repr(keys)))
        sd = e.state_dict()
        sd["_extra_state"] = {"v": 7}
        e.load_state_dict(sd)
        return list(sd), e.v, calls

    both(prog)
    same_error(lambda m: m.nn.Linear(1, 1).load_state_dict(
        {"weight": m.ones(1, 1), "bias": m.ones(1), "_extra_state": 1}))


def test_state_dict_positional_args_warn():
    msgs = warnings_of(lambda: tapegrad.nn.Linear(1, 1).state_dict({}, "p."))
    tmsgs = warnings_of(lambda: torch.nn.Linear(1, 1).state_dict({}, "p."))
    assert msgs == tmsgs


def test_module_deepcopy_and_pickle():
    def prog(m):
        lin = m.nn.Linear(2, 3)
        net = m.nn.Sequential(lin, m.nn.BatchNorm1d(3), lin)
        c = copy.deepcopy(net)
        p = pickle.loads(pickle.dumps(net))
        return (repr(c), type(c[0].weight).__name__, c[0].weight is net[0].weight,
                c[0].weight is c[2].weight, c.state_dict(), p.state_dict(),
                type(p[0].bias).__name__, p[0].bias.requires_grad)

    both(prog)

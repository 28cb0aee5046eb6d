"""Containers (Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict) against
PyTorch: indexing, mutation, iteration, reprs and errors."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from _helpers import both, same_error

torch = pytest.importorskip("torch")


def _seq(m):
    return m.nn.Sequential(m.nn.Linear(2, 3), m.nn.ReLU(), m.nn.Linear(3, 1), m.nn.Tanh())


def test_sequential_basics():
    def prog(m):
        m.manual_seed(0)
        s = _seq(m)
        out = [repr(s), len(s), repr(s[0]), repr(s[-1]), repr(s[1:3]), type(s[1:]).__name__,
               [type(x).__name__ for x in s], repr(s[::2])]
        out.append(s(m.ones(4, 2)))
        return out

    both(prog)


def test_sequential_ordered_dict_and_names():
    def prog(m):
        s = m.nn.Sequential(OrderedDict([("conv", m.nn.Conv1d(1, 2, 3)), ("act", m.nn.ReLU())]))
        return repr(s), repr(s.conv), [n for n, _ in s.named_parameters()], repr(s[1:])

    both(prog)


def test_sequential_mutation():
    def prog(m):
        s = _seq(m)
        s.append(m.nn.Sigmoid())
        s.insert(1, m.nn.Identity())
        s.insert(-1, m.nn.GELU())
        s.extend([m.nn.ReLU6(), m.nn.SiLU()])
        s[0] = m.nn.Linear(2, 5)
        popped = s.pop(2)
        del s[0]
        del s[1:3]
        t = s + m.nn.Sequential(m.nn.ELU())
        s += m.nn.Sequential(m.nn.SELU())
        u = m.nn.Sequential(m.nn.ReLU(), m.nn.Tanh()) * 2
        w = 2 * m.nn.Sequential(m.nn.ReLU())
        v = m.nn.Sequential(m.nn.ReLU())
        v *= 3
        return (repr(s), repr(popped), repr(t), repr(u), repr(w), repr(v),
                list(s._modules), [k for k in dir(s) if k.isdigit()])

    both(prog)


def test_sequential_errors():
    same_error(lambda m: _seq(m)[4])
    same_error(lambda m: _seq(m)[-5])
    same_error(lambda m: _seq(m)["a"])
    same_error(lambda m: _seq(m).insert(9, m.nn.ReLU()))
    same_error(lambda m: _seq(m).insert(0, 3))
    same_error(lambda m: _seq(m) * 0)
    same_error(lambda m: _seq(m) * 1.5)
    same_error(lambda m: _seq(m) + m.nn.ModuleList())

    def iadd(m):
        s = _seq(m)
        s += [m.nn.ReLU()]

    same_error(iadd)


def test_module_list():
    def prog(m):
        ml = m.nn.ModuleList([m.nn.ReLU(), m.nn.ReLU(), m.nn.Linear(2, 2), m.nn.Linear(2, 2)])
        out = [repr(ml), len(ml), repr(ml[-1]), repr(ml[1:3]), type(ml[1:3]).__name__]
        ml.append(m.nn.Tanh())
        ml.extend([m.nn.Tanh(), m.nn.ReLU()])
        ml.insert(1, m.nn.Sigmoid())
        ml[0] = m.nn.GELU()
        p = ml.pop(-1)
        del ml[2]
        del ml[0:1]
        ml += [m.nn.ELU()]
        both_lists = ml + m.nn.ModuleList([m.nn.SELU()])
        out += [repr(ml), repr(p), repr(both_lists), list(ml._modules),
                [n for n, _ in ml.named_parameters()], repr(m.nn.ModuleList())]
        return out

    both(prog)


def test_module_list_errors():
    same_error(lambda m: m.nn.ModuleList([m.nn.ReLU()])[1])
    same_error(lambda m: m.nn.ModuleList([m.nn.ReLU()]).extend(3))
    same_error(lambda m: m.nn.ModuleList([3]))


def test_module_dict():
    def prog(m):
        md = m.nn.ModuleDict({"b": m.nn.ReLU(), "a": m.nn.Linear(1, 2)})
        md["c"] = m.nn.Tanh()
        md.update([("d", m.nn.GELU())])
        md.update(OrderedDict(e=m.nn.SiLU()))
        popped = md.pop("b")
        del md["d"]
        out = [repr(md), len(md), list(md), list(md.keys()), "a" in md, "b" in md,
               [type(v).__name__ for v in md.values()], [k for k, _ in md.items()],
               repr(popped), [n for n, _ in md.named_parameters()]]
        md.clear()
        out.append(repr(md))
        return out

    both(prog)
    same_error(lambda m: m.nn.ModuleDict(3))
    same_error(lambda m: m.nn.ModuleDict([("a", m.nn.ReLU(), 1)]))
    same_error(lambda m: m.nn.ModuleDict([3]))
    same_error(lambda m: m.nn.ModuleDict()["x"])


def test_parameter_list():
    def prog(m):
        pl = m.nn.ParameterList([m.nn.Parameter(m.ones(2, 3)), m.zeros(4)])
        pl.append(m.ones(1, dtype=m.float64))
        pl.extend([m.nn.Parameter(m.ones(2), requires_grad=False)])
        pl.append("text")
        out = [repr(pl), len(pl), [type(p).__name__ for p in pl],
               [n for n, _ in pl.named_parameters()], repr(pl[1:3]), repr(pl[-2])]
        pl[0] = m.ones(5)
        out.append(repr(pl[0]))
        out.append(list(pl.state_dict()))
        return out

    both(prog)
    same_error(lambda m: m.nn.ParameterList([m.ones(1)])[2])
    same_error(lambda m: m.nn.ParameterList(m.ones(2)))
    same_error(lambda m: m.nn.ParameterList()(1))


def test_parameter_dict():
    def prog(m):
        pd = m.nn.ParameterDict({"b": m.nn.Parameter(m.ones(2)), "a": m.zeros(3, 1)})
        pd["c"] = m.ones(1, dtype=m.float64)
        pd.update([("d", m.nn.Parameter(m.ones(2)))])
        pd["s"] = "str"
        out = [repr(pd), len(pd), list(pd), list(pd.keys()), "a" in pd,
               [n for n, _ in pd.named_parameters()], list(reversed(pd)),
               repr(pd.get("zz", 5)), repr(pd.setdefault("e", None))]
        q = pd.pop("d")
        k, v = pd.popitem()
        out += [repr(q), k, repr(v)]
        cp = pd.copy()
        merged = pd | m.nn.ParameterDict({"z": m.ones(1)})
        out += [repr(cp), list(merged), list(pd.fromkeys(["x", "y"]))]
        pd.clear()
        out.append(repr(pd))
        return out

    both(prog)
    same_error(lambda m: m.nn.ParameterDict({"a": m.ones(1)})[0])
    same_error(lambda m: m.nn.ParameterDict(3))
    same_error(lambda m: m.nn.ParameterDict()(1))


def test_container_forward_gradients_match():
    def prog(m):
        m.manual_seed(7)
        s = m.nn.Sequential(m.nn.Linear(3, 4), m.nn.Tanh(), m.nn.Linear(4, 2))
        x = m.randn(5, 3, requires_grad=True)
        s(x).pow(2).sum().backward()
        return x.grad, [p.grad for p in s.parameters()]

    both(prog, atol=1e-6, rtol=1e-5)

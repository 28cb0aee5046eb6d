"""The Optimizer base class against PyTorch: construction errors, parameter groups, zero_grad,
repr, state dicts, hooks, closures."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from _helpers import both, same_error, warnings_of

torch = pytest.importorskip("torch")

import tapegrad  # noqa: E402

ALL = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
       "LBFGS"]


def _required(m):
    return importlib.import_module(m.__name__ + ".optim.optimizer").required


def _p(m, *shape):
    return m.ones(*shape, requires_grad=True)


# --- construction -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_repr_and_defaults(name):
    both(lambda m: repr(getattr(m.optim, name)([_p(m, 2)])))


@pytest.mark.parametrize("name", ALL)
def test_empty_parameter_list(name):
    same_error(lambda m: getattr(m.optim, name)([]))


@pytest.mark.parametrize("name", ["SGD", "Adam", "LBFGS"])
@pytest.mark.parametrize("bad", ["tensor", "non_leaf", "int", "set_group", "dup_groups",
                                 "mixed_names", "group_not_dict"])
def test_parameter_errors(name, bad):
    def fn(m):
        p, q = _p(m, 2), _p(m, 3)
        cls = getattr(m.optim, name)
        if bad == "tensor":
            return cls(p)
        if bad == "non_leaf":
            return cls([p * 2])
        if bad == "int":
            return cls([p, 3])
        if bad == "set_group":
            return cls([{"params": {p}}])
        if bad == "dup_groups":
            return cls([{"params": [p]}, {"params": [q, p]}])
        if bad == "mixed_names":
            return cls([("a", p), q])
        return cls([p]).add_param_group([q])

    same_error(fn)


@pytest.mark.parametrize("case", [
    ("SGD", {"lr": -1.0}), ("SGD", {"momentum": -0.5}), ("SGD", {"weight_decay": -1}),
    ("SGD", {"nesterov": True}), ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    ("SGD", {"fused": True, "foreach": True}),
    ("Adam", {"lr": -0.1}), ("Adam", {"eps": -1.0}), ("Adam", {"betas": (1.0, 0.9)}),
    ("Adam", {"betas": (0.9, -0.1)}), ("Adam", {"weight_decay": -1.0}),
    ("Adam", {"betas": (0, 0.9)}), ("Adam", {"fused": True, "foreach": True}),
    ("AdamW", {"betas": (0.9, 1.5)}),
    ("RMSprop", {"alpha": -1.0}), ("RMSprop", {"momentum": -1.0}), ("RMSprop", {"eps": -1.0}),
    ("Adagrad", {"lr_decay": -1.0}), ("Adagrad", {"initial_accumulator_value": -1.0}),
    ("Adadelta", {"rho": 1.5}), ("Adadelta", {"lr": -1.0}),
    ("Adamax", {"betas": (0.9, 1.0)}), ("NAdam", {"momentum_decay": -1.0}),
    ("RAdam", {"betas": (-0.1, 0.9)}), ("RAdam", {"weight_decay": -0.1}),
])
def test_hyperparameter_errors(case):
    name, kw = case
    same_error(lambda m: getattr(m.optim, name)([_p(m, 2)], **kw))


def test_lbfgs_one_group_only():
    same_error(lambda m: m.optim.LBFGS([{"params": [_p(m, 2)]}, {"params": [_p(m, 1)]}]))


def test_tensor_lr_must_have_one_element():
    same_error(lambda m: m.optim.SGD([_p(m, 2)], lr=m.tensor([0.1, 0.2])))
    same_error(lambda m: m.optim.Adam([_p(m, 2)], lr=m.tensor(0.1), foreach=True))


def test_required_hyperparameter():
    def fn(m):
        return m.optim.Optimizer([_p(m, 2)], {"lr": _required(m)})

    same_error(fn)
    assert repr(_required(tapegrad)) == repr(_required(torch))


def test_duplicate_parameters_warn():
    ours = warnings_of(lambda: tapegrad.optim.SGD([tapegrad.ones(2, requires_grad=True)] * 2))
    p = torch.ones(2, requires_grad=True)
    theirs = warnings_of(lambda: torch.optim.SGD([p, p]))
    assert ours == theirs and len(theirs) == 1


def test_param_groups_layout():
    def prog(m):
        a, b, c = _p(m, 2), _p(m, 3), _p(m, 1)
        opt = m.optim.SGD([{"params": [a, b]}, {"params": c, "lr": 0.5}], lr=0.1, momentum=0.9)
        opt.add_param_group({"params": (x for x in [_p(m, 4)]), "momentum": 0.0})
        groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
        sizes = [[tuple(p.shape) for p in g["params"]] for g in opt.param_groups]
        return groups, sizes, opt.defaults, repr(opt)

    both(prog)


def test_named_parameters():
    def prog(m):
        a, b = _p(m, 2), _p(m, 3)
        opt = m.optim.Adam([("w", a), ("b", b)])
        a.grad, b.grad = m.ones(2), m.ones(3)
        opt.step()
        return opt.param_groups[0]["param_names"], opt.state_dict()

    both(prog)
    same_error(lambda m: m.optim.Adam([("w", _p(m, 2))]).add_param_group({"params": [_p(m, 1)]}))


# --- zero_grad ---------------------------------------------------------------------------------
@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    def prog(m):
        a, b = _p(m, 2), _p(m, 3)
        opt = m.optim.SGD([a, b], lr=0.1)
        (a.sum() * 3).backward()
        g = a.grad
        opt.zero_grad(set_to_none=set_to_none)
        return a.grad, b.grad, g

    both(prog)


def test_zero_grad_detaches_a_grad_with_history():
    def prog(m):
        a = _p(m, 2)
        opt = m.optim.SGD([a], lr=0.1)
        (a * a).sum().backward(create_graph=True)
        g = a.grad
        before = g.requires_grad
        opt.zero_grad(set_to_none=False)
        return before, a.grad, a.grad.grad_fn is None, g is a.grad

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both(prog)


# --- steps -------------------------------------------------------------------------------------
def test_step_returns_closure_loss_and_runs_it_with_grad():
    def prog(m):
        w = m.tensor([1.0, 2.0], requires_grad=True)
        opt = m.optim.Adam([w], lr=0.1)
        seen = []

        def closure():
            opt.zero_grad()
            seen.append(m.is_grad_enabled())
            loss = (w * w).sum()
            loss.backward()
            return loss

        with m.no_grad():
            loss = opt.step(closure)
        return loss, seen, w.detach(), opt.step() is None

    both(prog)


def test_parameters_without_grad_are_skipped():
    def prog(m):
        a, b = _p(m, 2), _p(m, 2)
        opt = m.optim.Adam([a, b], lr=0.1)
        a.grad = m.ones(2)
        opt.step()
        return a.detach(), b.detach(), opt.state_dict()

    both(prog)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adadelta", "Adamax", "NAdam",
                                  "RAdam"])
def test_capturable_on_cpu_fails_like_torch(name):
    def fn(m):
        p = _p(m, 2)
        p.grad = m.ones(2)
        getattr(m.optim, name)([p], capturable=True).step()

    same_error(fn)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_differentiable_is_not_yet_supported(name):
    p = tapegrad.ones(2, requires_grad=True)
    p.grad = tapegrad.ones(2)
    opt = getattr(tapegrad.optim, name)([p], differentiable=True)
    with pytest.raises(NotImplementedError, match="not yet supported"):
        opt.step()


# --- state dicts -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL[:-1])
def test_state_dict_layout(name):
    def prog(m):
        a, b, c = (m.tensor(np.arange(n, dtype=np.float32) + 1.0, requires_grad=True)
                   for n in (2, 3, 1))
        opt = getattr(m.optim, name)([{"params": [a, b]}, {"params": [c], "lr": 0.5}])
        sd0 = opt.state_dict()
        for p in (a, b, c):
            p.grad = p.detach() * 0.5
        opt.step()
        return sd0, opt.state_dict()

    both(prog)


def test_load_state_dict_errors():
    def fewer_groups(m):
        opt = m.optim.SGD([{"params": [_p(m, 2)]}, {"params": [_p(m, 1)]}])
        m.optim.SGD([_p(m, 2)]).load_state_dict(opt.state_dict())

    def other_size(m):
        opt = m.optim.SGD([_p(m, 2), _p(m, 2)])
        m.optim.SGD([_p(m, 2)]).load_state_dict(opt.state_dict())

    same_error(fewer_groups)
    same_error(other_size)


def test_load_state_dict_casts_state_to_parameter_dtype():
    def prog(m):
        a = m.ones(2, requires_grad=True)
        opt = m.optim.Adam([a])
        a.grad = m.ones(2)
        opt.step()
        sd = opt.state_dict()
        b = m.ones(2, dtype=m.float64, requires_grad=True)
        opt2 = m.optim.Adam([b])
        opt2.load_state_dict(sd)
        st = opt2.state[b]
        return st["exp_avg"], st["step"], opt2.param_groups[0]["params"][0] is b

    both(prog)


def test_state_dict_hooks():
    def prog(m):
        log = []
        opt = m.optim.SGD([_p(m, 2)], lr=0.1)
        opt.register_state_dict_pre_hook(lambda o: log.append("pre"))
        opt.register_state_dict_pre_hook(lambda o: log.append("pre0"), prepend=True)

        def post(o, sd):
            log.append("post")
            sd["extra"] = 1
            return sd

        h = opt.register_state_dict_post_hook(post)
        sd = opt.state_dict()
        h.remove()
        sd2 = opt.state_dict()
        opt.register_load_state_dict_pre_hook(lambda o, sd: log.append("lpre"))
        opt.register_load_state_dict_post_hook(lambda o: log.append("lpost"))
        opt.load_state_dict(sd2)
        return log, sorted(sd), sorted(sd2)

    both(prog)


# --- step hooks --------------------------------------------------------------------------------
def test_step_hooks_order_and_removal():
    def prog(m):
        log = []
        w = _p(m, 2)
        opt = m.optim.SGD([w], lr=0.1)
        h1 = opt.register_step_pre_hook(lambda o, a, k: log.append(("pre", len(a), dict(k))))
        h2 = opt.register_step_post_hook(lambda o, a, k: log.append(("post", len(a))))
        mod = importlib.import_module(m.__name__ + ".optim.optimizer")
        g1 = mod.register_optimizer_step_pre_hook(lambda o, a, k: log.append("gpre"))
        g2 = mod.register_optimizer_step_post_hook(lambda o, a, k: log.append("gpost"))
        w.grad = m.ones(2)
        opt.step()
        opt.step(closure=None)
        for h in (h1, h2, g1, g2):
            h.remove()
        opt.step()
        return log, w.detach()

    both(prog)


def test_pre_hook_can_replace_arguments():
    def prog(m):
        w = m.tensor([1.0, 2.0], requires_grad=True)
        opt = m.optim.SGD([w], lr=0.5)

        def closure():
            opt.zero_grad()
            loss = (w * w).sum()
            loss.backward()
            return loss

        opt.register_step_pre_hook(lambda o, a, k: ((a[0],), {"closure": closure}))
        loss = opt.step()
        return loss, w.detach()

    both(prog)


def test_pre_hook_bad_return():
    def fn(m):
        w = _p(m, 2)
        opt = m.optim.SGD([w], lr=0.5)
        opt.register_step_pre_hook(lambda o, a, k: 3)
        opt.step()

    ours = pytest.raises(RuntimeError, fn, tapegrad)
    theirs = pytest.raises(RuntimeError, fn, torch)
    # the message names the step function: compare the text around it
    assert str(ours.value).startswith("<function SGD.step at ")
    assert str(theirs.value).startswith("<function SGD.step at ")
    assert str(ours.value).split(">", 1)[1] == str(theirs.value).split(">", 1)[1]


def test_optimizer_is_exported():
    assert set(tapegrad.optim.__all__) >= {"Optimizer", "SGD", "Adam", "AdamW", "RMSprop",
                                            "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
                                            "LBFGS", "lr_scheduler"}
    assert isinstance(tapegrad.optim.AdamW([_p(tapegrad, 1)]), tapegrad.optim.Adam)


def test_custom_optimizer_subclass():
    """A user's optimizer: its own step, in-place tensor ops under no_grad, hooks around it."""

    def prog(m):
        class SignSGD(m.optim.Optimizer):
            def __init__(self, params, lr=0.1):
                super().__init__(params, {"lr": lr})

            def step(self, closure=None):
                with m.no_grad():
                    for group in self.param_groups:
                        for p in group["params"]:
                            if p.grad is not None:
                                p.add_(p.grad.sign(), alpha=-group["lr"])
                                st = self.state[p]
                                st["n"] = st.get("n", 0) + 1

        w = m.tensor([1.0, -2.0, 0.5], requires_grad=True)
        opt = SignSGD([w], lr=0.25)
        log = []
        opt.register_step_post_hook(lambda o, a, k: log.append("post"))
        for _ in range(3):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
        return w.detach(), log, opt.state_dict(), repr(opt)

    both(prog)


def test_deepcopy_optimizer():
    def prog(m):
        import copy

        w = m.tensor([1.0, 2.0], requires_grad=True)
        opt = m.optim.Adam([w], lr=0.1)
        w.grad = m.ones(2)
        opt.step()
        clone = copy.deepcopy(opt)
        return clone.state_dict(), repr(clone), clone.param_groups[0]["params"][0] is w

    both(prog)

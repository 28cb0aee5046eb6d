"""Learning-rate schedulers against PyTorch: the per-epoch rates (exactly equal), momentum
cycling, state dicts, warnings and errors."""

from __future__ import annotations

import pytest

from _helpers import both, same_error, warnings_of

torch = pytest.importorskip("torch")

import tapegrad  # noqa: E402

EXACT = {"atol": 0.0, "rtol": 0.0}


def _finite(x):
    """x with infinite floats spelled out ('inf'), so that exact comparisons can see them."""
    if isinstance(x, float) and x in (float("inf"), float("-inf")):
        return repr(x)
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_finite(v) for v in x)
    return x


def _same_warnings(prog):
    """prog(m) returns lists of warning messages: they must be equal, character for
    character (the URLs name pytorch.org in both libraries)."""
    ours, theirs = prog(tapegrad), prog(torch)
    assert ours == theirs
    return ours


def _opt(m, kind: str = "SGD"):
    """An optimizer with two groups of different learning rates."""
    groups = [{"params": [m.zeros(1, requires_grad=True)], "lr": 0.1 * (i + 1)}
              for i in range(2)]
    if kind == "SGD":
        return m.optim.SGD(groups, lr=0.1, momentum=0.9)
    if kind == "Adam":
        return m.optim.Adam(groups, lr=0.1)
    return m.optim.Adagrad(groups, lr=0.1)


def _trace(m, make, epochs: int = 30, kind: str = "SGD", metrics=None):
    """Every epoch's rates (and momentum / beta1) as the scheduler sets them, then its state
    dict."""
    opt = _opt(m, kind)
    sched = make(m, opt)
    out = [sched.get_last_lr()]
    for e in range(epochs):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[e % len(metrics)])
        mom = [g.get("momentum", g.get("betas")) for g in opt.param_groups]
        out.append((sched.get_last_lr(), [g["lr"] for g in opt.param_groups], mom))
    return out, _finite(sched.state_dict())


class Decay:
    """A callable object: its attributes go into LambdaLR's state dict."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def __call__(self, epoch: int) -> float:
        return self.rate**epoch


def _s(name, *args, **kw):
    """make(m, opt): the scheduler `name` of module m on opt."""

    def make(m, opt):
        return getattr(m.optim.lr_scheduler, name)(opt, *args, **kw)

    return make


SCHEDULES = [
    ("StepLR", (3,), {}), ("StepLR", (7,), {"gamma": 0.5}),
    ("MultiStepLR", ([5, 10, 10, 20],), {"gamma": 0.5}), ("MultiStepLR", ([3],), {}),
    ("ExponentialLR", (0.9,), {}), ("ExponentialLR", (0.5,), {}),
    ("CosineAnnealingLR", (10,), {}), ("CosineAnnealingLR", (7,), {"eta_min": 0.01}),
    ("CosineAnnealingWarmRestarts", (5,), {}),
    ("CosineAnnealingWarmRestarts", (3,), {"T_mult": 2, "eta_min": 0.001}),
    ("LambdaLR", (lambda e: 0.95**e,), {}),
    ("LambdaLR", ([lambda e: e // 3, lambda e: 1 / (e + 1)],), {}),
    ("LambdaLR", (Decay(0.8),), {}),
    ("MultiplicativeLR", (lambda e: 0.9,), {}),
    ("MultiplicativeLR", ([lambda e: 0.9, lambda e: 1.0 + 0.01 * e],), {}),
    ("LinearLR", (), {}), ("LinearLR", (), {"start_factor": 0.5, "end_factor": 0.1,
                                            "total_iters": 10}),
    ("LinearLR", (), {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 4}),
    ("ConstantLR", (), {}), ("ConstantLR", (), {"factor": 0.5, "total_iters": 8}),
    ("PolynomialLR", (), {}), ("PolynomialLR", (), {"total_iters": 20, "power": 2.0}),
    ("PolynomialLR", (), {"total_iters": 10, "power": 0.5}),
    ("OneCycleLR", ([1.0, 2.0],), {"total_steps": 30}),
    ("OneCycleLR", (0.5,), {"epochs": 3, "steps_per_epoch": 10, "anneal_strategy": "linear",
                            "three_phase": True}),
    ("CyclicLR", (0.01, 0.1), {"step_size_up": 4}),
    ("CyclicLR", ([0.01, 0.02], 0.1), {"step_size_up": 3, "step_size_down": 5,
                                       "mode": "triangular2"}),
    ("CyclicLR", (0.01, 0.1), {"step_size_up": 2, "mode": "exp_range", "gamma": 0.9}),
    ("CyclicLR", (0.01, 0.1), {"step_size_up": 3, "scale_fn": lambda x: 0.5**x,
                               "scale_mode": "iterations", "cycle_momentum": False}),
]


# every schedule with SGD (momentum cycled); the cycling ones and two others also with Adam
# (beta1 cycled)
RATE_CASES = [(k, "SGD") for k in range(len(SCHEDULES))] + [
    (k, "Adam") for k, (name, _, _) in enumerate(SCHEDULES)
    if name in ("OneCycleLR", "CyclicLR", "StepLR", "LinearLR")
]


@pytest.mark.parametrize("k,kind", RATE_CASES)
def test_rates_match_torch(k, kind):
    name, args, kw = SCHEDULES[k]
    both(lambda m: _trace(m, _s(name, *args, **kw), kind=kind), **EXACT)


PLATEAU = [
    {"patience": 2},
    {"mode": "max", "factor": 0.5, "patience": 1, "threshold_mode": "abs", "cooldown": 2,
     "min_lr": [0.01, 0.02]},
    {"factor": 0.3, "patience": 0, "threshold": 0.1, "eps": 1e-3, "min_lr": 0.005},
]


@pytest.mark.parametrize("kw", PLATEAU)
def test_reduce_on_plateau(kw):
    metrics = [1.0, 0.9, 0.95, 0.95, 0.89, 0.9, 0.91, 0.5, 0.6, 0.7]
    both(lambda m: _trace(m, _s("ReduceLROnPlateau", **kw), metrics=metrics), **EXACT)


def test_sequential():
    def make(m, opt):
        S = m.optim.lr_scheduler
        a = S.LinearLR(opt, start_factor=0.1, total_iters=5)
        b = S.ExponentialLR(opt, 0.9)
        return S.SequentialLR(opt, [a, b], milestones=[5])

    def make3(m, opt):
        S = m.optim.lr_scheduler
        a = S.ConstantLR(opt, factor=0.5, total_iters=2)
        b = S.CosineAnnealingLR(opt, T_max=6)
        c = S.StepLR(opt, 4)
        return S.SequentialLR(opt, [a, b, c], milestones=[3, 12])

    both(lambda m: _trace(m, make), **EXACT)
    both(lambda m: _trace(m, make3), **EXACT)


def test_chained():
    def make(m, opt):
        S = m.optim.lr_scheduler
        return S.ChainedScheduler([S.ConstantLR(opt, factor=0.5, total_iters=4),
                                   S.ExponentialLR(opt, 0.9)])

    def make_opt(m, opt):
        S = m.optim.lr_scheduler
        return S.ChainedScheduler([S.StepLR(opt, 3), S.MultiStepLR(opt, [4, 9])], opt)

    both(lambda m: _trace(m, make), **EXACT)
    both(lambda m: _trace(m, make_opt), **EXACT)


@pytest.mark.parametrize("name,args", [("StepLR", (3,)), ("MultiStepLR", ([2, 5, 5],)),
                                       ("ExponentialLR", (0.8,)), ("CosineAnnealingLR", (6,)),
                                       ("LinearLR", ()), ("ConstantLR", ()),
                                       ("PolynomialLR", ())])
def test_step_with_epoch_uses_closed_form(name, args):
    def prog(m):
        opt = _opt(m)
        sched = getattr(m.optim.lr_scheduler, name)(opt, *args)
        out = []
        for e in [1, 2, 5, 3, 7, 11]:
            opt.step()
            msgs = warnings_of(lambda: sched.step(e))
            out.append((sched.get_last_lr(), msgs))
        return out

    both(prog, **EXACT)


def test_warm_restarts_fractional_epochs():
    def prog(m):
        opt = _opt(m)
        sched = m.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2)
        out = []
        for e in [0.5, 1.25, 3.0, 4.5, 9.0, 10.2, 2.0]:
            opt.step()
            sched.step(e)
            out.append((sched.get_last_lr(), sched.T_cur, sched.T_i, sched.last_epoch))
        return out

    both(prog, **EXACT)
    same_error(lambda m: m.optim.lr_scheduler.CosineAnnealingWarmRestarts(_opt(m), 3).step(-1))


def test_tensor_lr_is_updated_in_place():
    def prog(m):
        p = m.zeros(1, requires_grad=True)
        lr = m.tensor(0.5, dtype=m.float64)
        opt = m.optim.SGD([p], lr=lr)
        sched = m.optim.lr_scheduler.StepLR(opt, 2, gamma=0.5)
        out = []
        for _ in range(5):
            opt.step()
            sched.step()
            out.append((sched.get_last_lr(), opt.param_groups[0]["lr"] is lr, lr.clone()))
        return out

    both(prog, **EXACT)


# --- state dicts -------------------------------------------------------------------------
@pytest.mark.parametrize("k", [0, 2, 6, 8, 12, 23, 25])
def test_load_state_dict_resumes(k):
    """A scheduler restored from another's state dict continues with the same rates."""
    name, args, kw = SCHEDULES[k]

    def prog(m):
        opt = _opt(m)
        make = _s(name, *args, **kw)
        sched = make(m, opt)
        for _ in range(7):
            opt.step()
            sched.step()
        sd = sched.state_dict()
        opt2 = _opt(m)
        opt2.load_state_dict(opt.state_dict())
        sched2 = make(m, opt2)
        sched2.load_state_dict(sd)
        rates = []
        for _ in range(7):
            opt.step()
            opt2.step()
            sched.step()
            sched2.step()
            rates.append((sched.get_last_lr(), sched2.get_last_lr()))
        return rates, sched2.state_dict()

    rates = both(prog, **EXACT)[0]
    assert all(a == b for a, b in rates)


def test_plateau_state_dict_roundtrip():
    def prog(m):
        opt = _opt(m)
        s = m.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=1)
        for v in [1.0, 0.5, 0.4]:
            s.step(v)
        sd = s.state_dict()
        s2 = m.optim.lr_scheduler.ReduceLROnPlateau(_opt(m))
        s2.load_state_dict(sd)
        return _finite(s2.state_dict()), s2.mode, s2.best

    both(prog)


# --- warnings ----------------------------------------------------------------------------
def test_scheduler_step_before_optimizer_step_warns():
    def prog(m):
        opt = _opt(m)
        sched = m.optim.lr_scheduler.StepLR(opt, 2)
        first = warnings_of(sched.step)
        opt.step()
        later = warnings_of(sched.step)
        return first, later

    first, later = _same_warnings(prog)
    assert len(first) == 1 and later == []


def test_no_warning_in_the_right_order():
    def prog(m):
        opt = _opt(m)
        msgs = warnings_of(lambda: m.optim.lr_scheduler.ExponentialLR(opt, 0.5))
        opt.step()
        return msgs + warnings_of(m.optim.lr_scheduler.ExponentialLR(opt, 0.5).step)

    assert both(prog) == []


def test_overridden_optimizer_step_warns():
    def prog(m):
        opt = _opt(m)
        sched = m.optim.lr_scheduler.StepLR(opt, 2)
        opt.step = lambda closure=None: None
        return warnings_of(sched.step)

    assert len(_same_warnings(prog)) == 1


def test_get_lr_outside_step_warns():
    def prog(m):
        opt = _opt(m)
        sched = m.optim.lr_scheduler.StepLR(opt, 2)
        return warnings_of(sched.get_lr)

    assert len(both(prog)) == 1


def test_two_schedulers_share_the_step_wrapper():
    def prog(m):
        opt = _opt(m)
        a = m.optim.lr_scheduler.StepLR(opt, 2)
        step = opt.step
        b = m.optim.lr_scheduler.ExponentialLR(opt, 0.5)
        opt.step()
        return opt.step is step, warnings_of(a.step) + warnings_of(b.step), opt._opt_called

    both(prog)


# --- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [
    lambda m, o: m.optim.lr_scheduler.StepLR("not an optimizer", 2),
    lambda m, o: m.optim.lr_scheduler.StepLR(o, 2, last_epoch=3),
    lambda m, o: m.optim.lr_scheduler.LambdaLR(o, [lambda e: 1.0]),
    lambda m, o: m.optim.lr_scheduler.MultiplicativeLR(o, 0.9),
    lambda m, o: m.optim.lr_scheduler.LinearLR(o, start_factor=0.0),
    lambda m, o: m.optim.lr_scheduler.LinearLR(o, end_factor=1.5),
    lambda m, o: m.optim.lr_scheduler.ConstantLR(o, factor=2.0),
    lambda m, o: m.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0),
    lambda m, o: m.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0),
    lambda m, o: m.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 2, eta_min="x"),
    lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, 1.0),
    lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, 1.0, total_steps=0),
    lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, 1.0, epochs=0, steps_per_epoch=2),
    lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, 1.0, total_steps=5, pct_start=1),
    lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, 1.0, total_steps=5, anneal_strategy="x"),
    lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, [1.0], total_steps=5),
    lambda m, o: m.optim.lr_scheduler.CyclicLR(o, 0.1, 1.0, mode="x"),
    lambda m, o: m.optim.lr_scheduler.ReduceLROnPlateau(o, factor=1.0),
    lambda m, o: m.optim.lr_scheduler.ReduceLROnPlateau(o, mode="x"),
    lambda m, o: m.optim.lr_scheduler.ReduceLROnPlateau(o, threshold_mode="x"),
    lambda m, o: m.optim.lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]),
    lambda m, o: m.optim.lr_scheduler.SequentialLR(o, [], []),
    lambda m, o: m.optim.lr_scheduler.SequentialLR(
        o, [m.optim.lr_scheduler.StepLR(o, 2)], [3]),
    lambda m, o: m.optim.lr_scheduler.SequentialLR(
        o, [m.optim.lr_scheduler.ReduceLROnPlateau(o)], []),
    lambda m, o: m.optim.lr_scheduler.SequentialLR(o, [3], []),
    lambda m, o: m.optim.lr_scheduler.ChainedScheduler([]),
    lambda m, o: m.optim.lr_scheduler.ChainedScheduler(
        [m.optim.lr_scheduler.StepLR(o, 2), m.optim.lr_scheduler.StepLR(_opt(m), 2)]),
])
def test_errors(case):
    same_error(lambda m: case(m, _opt(m)))


def test_cycle_momentum_needs_momentum():
    same_error(lambda m: m.optim.lr_scheduler.CyclicLR(_opt(m, "Adagrad"), 0.1, 1.0))
    same_error(lambda m: m.optim.lr_scheduler.OneCycleLR(_opt(m, "Adagrad"), 1.0,
                                                         total_steps=4))


def test_one_cycle_past_the_end():
    def fn(m):
        opt = _opt(m)
        s = m.optim.lr_scheduler.OneCycleLR(opt, 1.0, total_steps=3)
        for _ in range(4):
            opt.step()
            s.step()

    same_error(fn)


def test_exports():
    assert tapegrad.optim.lr_scheduler.__all__ == torch.optim.lr_scheduler.__all__
    assert tapegrad.optim.lr_scheduler.StepLR.__module__ == "tapegrad.optim.lr_scheduler"

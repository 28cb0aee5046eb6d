"""Anomaly mode (detect_anomaly, set_detect_anomaly, NaN checks, forward tracebacks), compared
with PyTorch; then tapegrad's additions: where in-place changes happened, and why a tensor has
no graph."""

from __future__ import annotations

import re
import sys
import warnings

import numpy as np
import pytest

import tapegrad
from _helpers import both, error, leaf, same_error
from tapegrad.autograd import anomaly_mode

_ENTER_MSG = (
    "Anomaly Detection has been enabled. This mode will increase the runtime and should only be "
    "enabled for debugging."
)
_NOTES = sys.version_info >= (3, 11)


@pytest.fixture(autouse=True)
def _restore_anomaly_mode():
    """Anomaly mode is one process-wide switch: put both libraries' back after each test."""
    torch = sys.modules.get("torch")
    saved = (tapegrad.is_anomaly_enabled(), tapegrad.is_anomaly_check_nan_enabled())
    saved_torch = (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()) if torch \
        else None
    yield
    tapegrad.set_anomaly_enabled(*saved)
    if torch is not None:
        torch.set_anomaly_enabled(*saved_torch)


def user_warnings(fn):
    """(result or error of fn(), [(category name, message)] of its UserWarnings), with PyTorch's
    C++ suffix " (Triggered internally at ...)" removed."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = error(fn)
    msgs = [(x.category.__name__, re.sub(r" \(Triggered internally at [^)]*\.\)$", "",
                                        str(x.message)))
            for x in w if issubclass(x.category, UserWarning)]
    return res, msgs


def frames_here(msg: str) -> list[str]:
    """The traceback lines in msg that point into this test file (file, line, function, code),
    from the program run with each library down (not the lines that call it)."""
    out = []
    lines = msg.split("\n")
    for i, line in enumerate(lines):
        code = lines[i + 1] if i + 1 < len(lines) else ""
        if line.startswith("  File ") and __file__ in line and "user_warnings(" not in code:
            out.append(line + "\n" + code)
    return out


def warning_summary(msg: str) -> tuple:
    """(leading newlines, first line, frames of this file) of an anomaly-mode warning."""
    body = msg.lstrip("\n")
    return msg[: len(msg) - len(body)], body.split("\n", 1)[0], frames_here(msg)


# --- switches -----------------------------------------------------------------------------------
def test_switch_functions_and_defaults():
    def prog(m):
        res = [m.is_anomaly_enabled(), m.is_anomaly_check_nan_enabled()]
        m.set_anomaly_enabled(True, False)
        res += [m.is_anomaly_enabled(), m.is_anomaly_check_nan_enabled()]
        m.set_anomaly_enabled(True)  # check_nan defaults to True again
        res += [m.is_anomaly_check_nan_enabled()]
        m.set_anomaly_enabled(False, False)
        res += [m.is_anomaly_enabled(), m.is_anomaly_check_nan_enabled()]
        m.set_anomaly_enabled(False)
        return res

    assert both(prog) == [False, True, True, False, True, False, False]


def test_set_detect_anomaly_as_function_and_context_manager():
    def prog(m):
        res = []
        s = m.autograd.set_detect_anomaly(True)  # acts at once, no warning
        res.append((m.is_anomaly_enabled(), type(s).__name__))
        m.autograd.set_detect_anomaly(False)
        res.append(m.is_anomaly_enabled())
        with m.autograd.set_detect_anomaly(True, check_nan=False):
            res.append((m.is_anomaly_enabled(), m.is_anomaly_check_nan_enabled()))
            with m.autograd.set_detect_anomaly(False):
                res.append((m.is_anomaly_enabled(), m.is_anomaly_check_nan_enabled()))
            res.append((m.is_anomaly_enabled(), m.is_anomaly_check_nan_enabled()))
        res.append((m.is_anomaly_enabled(), m.is_anomaly_check_nan_enabled()))
        return res

    res, warned = user_warnings(lambda: both(prog))
    assert warned == []
    assert res[0] == "no error"


def test_detect_anomaly_warns_when_made_and_restores():
    def prog(m):
        res = []
        d = m.autograd.detect_anomaly(check_nan=False)
        res.append(m.is_anomaly_enabled())  # made, not entered: still off
        with d:
            res.append((m.is_anomaly_enabled(), m.is_anomaly_check_nan_enabled()))
        res.append((m.is_anomaly_enabled(), m.is_anomaly_check_nan_enabled()))
        with m.autograd.detect_anomaly():
            res.append((m.is_anomaly_enabled(), m.is_anomaly_check_nan_enabled()))
        return res

    torch = pytest.importorskip("torch")
    ours = user_warnings(lambda: prog(tapegrad))
    theirs = user_warnings(lambda: prog(torch))
    assert ours == theirs
    assert ours[1] == [("UserWarning", _ENTER_MSG)] * 2
    assert ours[0][1] == repr([False, (True, False), (False, True), (True, True)])


def test_detect_anomaly_is_not_a_decorator():
    pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same_error(lambda m: m.autograd.detect_anomaly()(lambda: None))


def test_anomaly_mode_is_process_wide():
    import threading

    def prog(m):
        seen = []
        with m.autograd.set_detect_anomaly(True):
            t = threading.Thread(target=lambda: seen.append(m.is_anomaly_enabled()))
            t.start()
            t.join()
        return seen

    assert both(prog) == [True]


def test_exports():
    torch = pytest.importorskip("torch")
    for name in ("detect_anomaly", "set_detect_anomaly"):
        assert name in tapegrad.autograd.__all__
        assert (name in tapegrad.autograd.__all__) == (name in torch.autograd.__all__)
    assert tapegrad.autograd.detect_anomaly.__module__ == "tapegrad.autograd.anomaly_mode"
    assert torch.autograd.detect_anomaly.__module__ == "torch.autograd.anomaly_mode"


# --- NaN checks ---------------------------------------------------------------------------------
def _div_program(check_nan=True):
    def prog(m):
        a = m.tensor([1.0, 0.0], requires_grad=True)
        b = m.tensor([1.0, 0.0], requires_grad=True)
        with m.autograd.set_detect_anomaly(True, check_nan=check_nan):
            out = a / b
            return error(lambda: out.sum().backward()), a.grad, b.grad
    return prog


def test_nan_in_second_output_raises():
    res = both(_div_program())
    assert res[0] == ("RuntimeError", "Function 'DivBackward0' returned nan values in its 1th "
                                      "output.")
    assert res[1] is None and res[2] is None


def test_nan_in_first_output_raises():
    def prog(m):
        x = m.tensor([-1.0, 4.0], requires_grad=True)
        with m.autograd.set_detect_anomaly(True):
            y = x.sqrt()
            return error(lambda: y.sum().backward())

    assert both(prog) == ("RuntimeError",
                          "Function 'SqrtBackward0' returned nan values in its 0th output.")


def test_nan_from_root_gradient_is_reported_by_the_first_node():
    def prog(m):
        x = m.tensor([1.0], requires_grad=True)
        with m.autograd.set_detect_anomaly(True):
            y = (x * 2).sum()
            return error(lambda: y.backward(m.tensor(float("nan"))))

    assert both(prog) == ("RuntimeError",
                          "Function 'SumBackward0' returned nan values in its 0th output.")


def test_check_nan_false_lets_nan_through():
    with np.errstate(all="ignore"):
        res = both(_div_program(check_nan=False))
    assert res[0] == ("no error", "None")
    assert np.isnan(res[2].numpy()[1])


def test_nan_gradient_for_an_input_without_grad_is_not_checked():
    def prog(m):
        w = m.tensor([float("nan")], requires_grad=True)
        z = m.tensor([2.0])  # d(w*z)/dz = w is nan, but z takes no gradient
        with m.autograd.set_detect_anomaly(True):
            y = (w * z).sum()
            return error(lambda: y.backward()), w.grad

    res = both(prog)
    assert res[0] == ("no error", "None")


def test_nan_check_off_outside_anomaly_mode():
    def prog(m):
        a = m.tensor([0.0], requires_grad=True)
        (a / a).sum().backward()
        return a.grad

    with np.errstate(all="ignore"):
        both(prog)


# --- the warning naming the failing node --------------------------------------------------------
def _forward(m, a, b):
    return a / b


def test_error_warning_shows_forward_traceback():
    def prog(m):
        a = m.tensor([1.0, 0.0], requires_grad=True)
        b = m.tensor([1.0, 0.0], requires_grad=True)
        with m.autograd.set_detect_anomaly(True):
            out = _forward(m, a, b)
            return out.sum().backward()

    torch = pytest.importorskip("torch")
    with np.errstate(all="ignore"):
        ours = user_warnings(lambda: prog(tapegrad))
        theirs = user_warnings(lambda: prog(torch))
    assert ours[0] == theirs[0]
    assert len(ours[1]) == len(theirs[1]) == 1
    assert ours[1][0][0] == "UserWarning"
    msg, tmsg = ours[1][0][1], theirs[1][0][1]
    head = "Error detected in DivBackward0. Traceback of forward call that caused the error:\n"
    assert msg.startswith(head) and tmsg.startswith(head)
    frames = frames_here(msg)
    assert frames == frames_here(tmsg)
    assert frames[-1].endswith("    return a / b")
    assert frames[-2].endswith("    out = _forward(m, a, b)")
    assert "tapegrad" + "/" not in msg.replace(__file__, "")  # no frames inside tapegrad


class _Boom:
    @staticmethod
    def make(m):
        class Bad(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x.clone()

            @staticmethod
            def backward(ctx, g):
                raise ValueError("boom")

        return Bad


def test_error_in_custom_backward_warns_and_propagates():
    def prog(m):
        bad = _Boom.make(m)
        x = m.tensor([1.0, 2.0], requires_grad=True)
        with m.autograd.set_detect_anomaly(True):
            y = bad.apply(x)
            y.sum().backward()

    torch = pytest.importorskip("torch")
    ours = user_warnings(lambda: prog(tapegrad))
    theirs = user_warnings(lambda: prog(torch))
    assert ours[0] == theirs[0] == ("ValueError", "boom")
    assert [warning_summary(m) for _, m in ours[1]] == [warning_summary(m) for _, m in theirs[1]]
    assert ours[1][0][1].startswith("Error detected in BadBackward. Traceback")


def test_error_in_leaf_hook_names_accumulate_grad():
    def prog(m):
        x = m.tensor([1.0], requires_grad=True)
        with m.autograd.set_detect_anomaly(True):
            x.register_hook(lambda g: 1 / 0)
            y = x * 2
            y.sum().backward()

    torch = pytest.importorskip("torch")
    ours = user_warnings(lambda: prog(tapegrad))
    theirs = user_warnings(lambda: prog(torch))
    assert ours[0] == theirs[0] == ("ZeroDivisionError", "division by zero")
    ours_w = [warning_summary(m.replace("tapegrad::", "torch::")) for _, m in ours[1]]
    assert ours_w == [warning_summary(m) for _, m in theirs[1]]
    assert ours[1][0][1].startswith("Error detected in tapegrad::autograd::AccumulateGrad.")


def test_graph_built_outside_anomaly_mode_has_no_forward_information():
    def prog(m):
        x = m.tensor([0.0], requires_grad=True)
        y = x / x
        with m.autograd.set_detect_anomaly(True):
            r = y.sum().backward()
        return r, y.grad_fn.metadata

    torch = pytest.importorskip("torch")
    with np.errstate(all="ignore"):
        ours = user_warnings(lambda: prog(tapegrad))
        theirs = user_warnings(lambda: prog(torch))
    assert ours == theirs
    assert ours[1] == [("UserWarning", "Error detected in DivBackward0. No forward pass "
                        "information available. Enable detect anomaly during forward pass for "
                        "more information.")]


def test_parent_of_a_node_made_during_backward():
    def prog(m):
        x = m.tensor([0.0], requires_grad=True)
        with m.autograd.set_detect_anomaly(True):
            y = x.sqrt()
            g, = m.autograd.grad(y.sum(), x, create_graph=True)
            (g * 0).sum().backward()

    torch = pytest.importorskip("torch")
    with np.errstate(all="ignore"):
        ours = user_warnings(lambda: prog(tapegrad))
        theirs = user_warnings(lambda: prog(torch))
    assert ours[0] == theirs[0] == ("RuntimeError", "Function 'DivBackward0' returned nan "
                                    "values in its 1th output.")
    assert len(ours[1]) == 2
    assert [warning_summary(m) for _, m in ours[1]] == [warning_summary(m) for _, m in theirs[1]]
    assert ours[1][1][1].startswith(
        "\n\nPrevious calculation was induced by SqrtBackward0. Traceback of forward call that "
        "induced the previous calculation:\n")


def test_metadata_holds_traceback_and_parent():
    def prog(m):
        x = m.tensor([1.0], requires_grad=True)
        plain = (x * 2).grad_fn.metadata
        with m.autograd.set_detect_anomaly(True):
            y = x.exp()
            g, = m.autograd.grad(y.sum(), x, create_graph=True)
        meta = y.grad_fn.metadata
        gmeta = g.grad_fn.metadata
        return (plain, sorted(meta), frames_here("".join(meta["traceback_"])),
                sorted(gmeta), gmeta["parent_"] is y.grad_fn)

    res = both(prog)
    assert res[0] == {}
    assert res[1] == ["traceback_"]
    assert res[2][-1].endswith("    y = x.exp()")
    assert res[3] == ["parent_", "traceback_"] and res[4] is True


def test_no_warning_without_anomaly_mode():
    def prog(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = _Boom.make(m).apply(x)
        y.sum().backward()

    torch = pytest.importorskip("torch")
    assert user_warnings(lambda: prog(tapegrad)) == user_warnings(lambda: prog(torch)) == (
        ("ValueError", "boom"), [])


def test_inplace_error_with_anomaly_mode():
    def prog(m):
        a = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        with m.autograd.set_detect_anomaly(True):
            b = a.sigmoid()
            b.mul_(2)
            b.sum().backward()

    torch = pytest.importorskip("torch")
    ours = user_warnings(lambda: prog(tapegrad))
    theirs = user_warnings(lambda: prog(torch))
    expected = theirs[0][1].replace("torch.", "tapegrad.")
    assert expected.endswith("Hint: the backtrace further above shows the operation that failed "
                             "to compute its gradient. The variable in question was changed in "
                             "there or anywhere later. Good luck!")
    assert ours[0][0] == "RuntimeError"
    assert ours[0][1].startswith(expected)  # PyTorch's text, verbatim, then tapegrad's addition
    assert [warning_summary(m) for _, m in ours[1]] == [warning_summary(m) for _, m in theirs[1]]


def test_inplace_error_without_anomaly_mode_is_unchanged():
    pytest.importorskip("torch")

    def prog(m):
        a = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = a.sigmoid()
        b.mul_(2)
        b.sum().backward()

    same_error(prog)


# --- tapegrad's addition: where the in-place changes happened -----------------------------------
def _modified_error(fn) -> str:
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as e:
        fn()
    return str(e.value)


def _line_of(text: str) -> int:
    """The line number in this file of the (unique) source line that is text."""
    with open(__file__) as f:
        hits = [i + 1 for i, line in enumerate(f) if line.strip() == text]
    assert len(hits) == 1, hits
    return hits[0]


def test_inplace_sites_listed_after_pytorch_text():
    def run():
        a = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
        with tapegrad.autograd.set_detect_anomaly(True):
            b = a.sigmoid()
            b.mul_(2)  # site one
            b += 1  # site two
            b.sum().backward()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        msg = _modified_error(run)
    head, _, extra = msg.partition("Good luck!")
    assert "is at version 2; expected version 0" in head
    assert extra.startswith("\n[tapegrad] In-place changes of this tensor after it was saved")
    one, two = _line_of("b.mul_(2)  # site one"), _line_of("b += 1  # site two")
    assert f'  to version 1:\n  File "{__file__}", line {one}, in run\n' in extra
    assert "    b.mul_(2)  # site one" in extra
    assert f'  to version 2:\n  File "{__file__}", line {two}, in run\n' in extra
    assert extra.index("to version 1") < extra.index("to version 2")


def test_inplace_sites_only_after_saving_and_through_views():
    def run():
        with tapegrad.autograd.set_detect_anomaly(True):
            x = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
            base = x * 1
            base.add_(1)  # before saving: not listed
            y = base.exp()  # saves its output
            y[0].mul_(3)  # through a view: listed
            x.detach().mul_(1)  # another storage: not listed
            y.sum().backward()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        msg = _modified_error(run)
    extra = msg.partition("Good luck!")[2]
    assert "y[0].mul_(3)  # through a view: listed" in extra
    assert "before saving" not in extra and "another storage" not in extra
    assert "to version 1:" in extra and "to version 2" not in extra  # y has its own counter


def test_inplace_sites_through_detach_of_a_saved_leaf():
    def run():
        with tapegrad.autograd.set_detect_anomaly(True):
            x = tapegrad.tensor([1.0, 2.0], requires_grad=True)
            y = x * x  # saves x itself
            x.detach().zero_()  # shares x's version counter
            y.sum().backward()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        msg = _modified_error(run)
    assert "[tapegrad.FloatTensor [2]] is at version 1; expected version 0" in msg
    assert "x.detach().zero_()  # shares x's version counter" in msg.partition("Good luck!")[2]


def test_inplace_change_made_before_anomaly_mode_is_not_recorded():
    def run():
        a = tapegrad.tensor([1.0, 2.0], requires_grad=True)
        b = a.exp()
        b.mul_(2)
        with tapegrad.autograd.set_detect_anomaly(True):
            b.sum().backward()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        msg = _modified_error(run)
    assert msg.endswith("Good luck!\n[tapegrad] No in-place change of this tensor was recorded: "
                        "anomaly mode records where in-place changes happen only while it is "
                        "on, so enable it before they run.")


def test_inplace_records_cost_nothing_when_off():
    a = tapegrad.tensor([1.0, 2.0])
    a.mul_(2)
    assert not hasattr(a._vc, "log")
    with tapegrad.autograd.set_detect_anomaly(True):
        a.mul_(2)
    assert [v for v, _ in a._vc.log] == [2]


def test_inplace_records_are_bounded():
    a = tapegrad.tensor([1.0])
    with tapegrad.autograd.set_detect_anomaly(True):
        for _ in range(100):
            a.add_(1)
    assert [v for v, _ in a._vc.log] == list(range(69, 101))


def test_nodes_record_nothing_when_off():
    x = tapegrad.tensor([1.0], requires_grad=True)
    assert (x * 2).grad_fn._hooks is None


# --- tapegrad's addition: why a tensor has no graph ---------------------------------------------
_NO_GRAD_MSG = "element 0 of tensors does not require grad and does not have a grad_fn"


def _no_graph_error(fn):
    with pytest.raises(RuntimeError) as e:
        fn()
    return e.value


def test_no_grad_message_stays_pytorchs():
    pytest.importorskip("torch")
    same_error(lambda m: m.ones(3).sum().backward())
    same_error(lambda m: m.autograd.grad(m.ones(3).sum(), [leaf(m, [1.0])]))


@pytest.mark.skipif(not _NOTES, reason="exception notes need Python 3.11")
@pytest.mark.parametrize("case, expected", [
    ("plain", "[tapegrad] Likely causes: this tensor, or one it was computed from, was created "
              "under tapegrad.no_grad() or tapegrad.inference_mode(); came from .detach() or "
              ".data;"),
    ("no_grad", "[tapegrad] Grad mode is disabled here (inside tapegrad.no_grad() or "
                "set_grad_enabled(False))"),
    ("inference", "[tapegrad] This tensor was created inside tapegrad.inference_mode()"),
    ("argmax", "[tapegrad] This tensor has dtype tapegrad.int64: integer and boolean results "
               "(argmax, argmin, comparisons"),
    ("compare", "[tapegrad] This tensor has dtype tapegrad.bool:"),
])
def test_no_grad_cause_note(case, expected):
    x = tapegrad.tensor([1.0, 2.0], requires_grad=True)

    def run():
        if case == "plain":
            x.detach().sum().backward()
        elif case == "no_grad":
            with tapegrad.no_grad():
                (x * 2).sum().backward()
        elif case == "inference":
            with tapegrad.inference_mode():
                y = (x * 2).sum()
            y.backward()
        elif case == "argmax":
            x.argmax().backward()
        else:
            (x > 1).any().backward()

    e = _no_graph_error(run)
    assert str(e) == _NO_GRAD_MSG
    assert len(e.__notes__) == 1 and e.__notes__[0].startswith(expected)


@pytest.mark.skipif(not _NOTES, reason="exception notes need Python 3.11")
def test_no_grad_note_names_the_element_and_reaches_autograd_grad():
    x = tapegrad.tensor([1.0], requires_grad=True)
    e = _no_graph_error(lambda: tapegrad.autograd.grad([x.sum(), x.detach().sum()], [x]))
    assert str(e) == "element 1 of tensors does not require grad and does not have a grad_fn"
    assert e.__notes__[0].startswith("[tapegrad] Likely causes")


@pytest.mark.skipif(not _NOTES, reason="exception notes need Python 3.11")
def test_engine_root_without_graph_gets_the_note():
    from tapegrad.autograd.engine import run_backward

    t = tapegrad.ones(2, dtype=tapegrad.int64)
    e = _no_graph_error(lambda: run_backward([t], [tapegrad.ones(2)], False, False))
    assert str(e) == _NO_GRAD_MSG
    assert e.__notes__[0].startswith("[tapegrad] This tensor has dtype tapegrad.int64")


def test_no_grad_cause_without_notes():
    t = tapegrad.ones(2)
    assert anomaly_mode.no_grad_cause(t).startswith("[tapegrad] Likely causes")

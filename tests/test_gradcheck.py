"""gradcheck and gradgradcheck, compared with PyTorch (results, errors, messages, warnings,
random streams), then tapegrad's report of the mismatching Jacobian entries."""

from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
import pytest

import tapegrad
from _helpers import both, error, same_error
from tapegrad.autograd.gradcheck import GradcheckError

_REPORT = "\n[tapegrad] "


def _y(m, requires_grad=True):
    return m.tensor([0.5, -1.5, 2.0], dtype=m.float64, requires_grad=requires_grad)


def _x(m):
    return m.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=m.float64, requires_grad=True)


def split_report(res):
    """(type, PyTorch's part of the message), tapegrad's report: ours is theirs + report."""
    kind, msg = res
    head, sep, tail = msg.partition(_REPORT)
    return (kind, head), sep + tail


def both_with_report(prog):
    """Run prog with both libraries; tapegrad's error must be PyTorch's, then a report."""
    torch = pytest.importorskip("torch")
    ours = prog(tapegrad)
    theirs = prog(torch)
    head, report = split_report(ours)
    assert head == (theirs[0], theirs[1].replace("torch.", "tapegrad.")), (ours, theirs)
    assert report.startswith(_REPORT)
    return ours[1], report


# --- API ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gradcheck", "gradgradcheck"])
def test_signature_matches_pytorch(name):
    torch = pytest.importorskip("torch")

    def params(f):
        return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]

    assert params(getattr(tapegrad.autograd, name)) == params(getattr(torch.autograd, name))


def test_error_class_and_exports():
    torch = pytest.importorskip("torch")
    from torch.autograd.gradcheck import GradcheckError as TorchError

    assert issubclass(GradcheckError, RuntimeError)
    assert GradcheckError.__module__ == "tapegrad.autograd.gradcheck"
    assert TorchError.__module__ == "torch.autograd.gradcheck"
    assert GradcheckError.__qualname__ == TorchError.__qualname__
    assert tapegrad.autograd.gradcheck.GradcheckError is GradcheckError
    for name in ("gradcheck", "gradgradcheck"):
        assert name in tapegrad.autograd.__all__ and name in torch.autograd.__all__


# --- passing checks -----------------------------------------------------------------------------
@pytest.mark.parametrize("fast_mode", [False, True])
def test_passes_on_correct_gradients(fast_mode):
    def prog(m):
        gc = m.autograd.gradcheck
        x, y = _x(m), _y(m)
        c = m.tensor([1.0, 2.0, 3.0], dtype=m.float64)
        return [
            gc(lambda a, b: (a * b).sin(), (x, y), fast_mode=fast_mode),
            gc(lambda a: a.exp().sum(), y, fast_mode=fast_mode),
            gc(lambda a: a.exp().sum(), [y], fast_mode=fast_mode),
            gc(lambda a, b, k: (a * k + b.tanh(), a.sum()), (y, c, 3), fast_mode=fast_mode),
            gc(lambda a, b: a * 2, (y, x), fast_mode=fast_mode),  # b unused: zero gradient
            gc(lambda a: a.argmax(), y, fast_mode=fast_mode),  # no differentiable output
            gc(lambda a: (a.exp(), a.argmax()), y, fast_mode=fast_mode),
            gc(lambda a: a.detach() * 0, y, fast_mode=fast_mode),
            gc(lambda a: a.exp(), m.tensor(1.5, dtype=m.float64, requires_grad=True),
               fast_mode=fast_mode),
            gc(lambda a: a.t().matmul(a), x, fast_mode=fast_mode),
        ]

    assert both(prog) == [True] * 10


def test_non_differentiable_output_before_a_differentiable_one():
    # PyTorch 2.13 pairs numerical Jacobians with outputs by position among all outputs and
    # fails here with an IndexError; tapegrad pairs them by the outputs they belong to
    y = _y(tapegrad)
    assert tapegrad.autograd.gradcheck(lambda a: (a.argmax(), a.exp()), y)
    with pytest.raises(GradcheckError, match="output 0 with respect to input 0"):
        tapegrad.autograd.gradcheck(lambda a: (a.argmax(), _detached_square(a)), y)


def test_passes_on_empty_tensors():
    def prog(m):
        y = _y(m)
        return [m.autograd.gradcheck(lambda a: a.exp()[:0], (y,)),
                m.autograd.gradcheck(lambda a: a.exp(), (y[:0].detach().requires_grad_(),))]

    assert both(prog) == [True, True]


def test_fast_mode_leaves_the_global_random_stream_alone():
    def prog(m):
        m.manual_seed(5)
        m.autograd.gradcheck(lambda a: a.exp(), _y(m), fast_mode=True)
        return m.rand(3)

    both(prog, atol=0, rtol=0)


def test_inputs_unchanged_after_check():
    y = _y(tapegrad)
    before = y.detach().clone()
    tapegrad.autograd.gradcheck(lambda a: a.exp(), y)
    tapegrad.autograd.gradcheck(lambda a: a.exp(), y, fast_mode=True)
    assert np.array_equal(y.detach().numpy(), before.numpy())
    assert y._version == 0


def test_read_only_input_array():
    arr = np.array([0.5, 1.5])
    arr.flags.writeable = False
    y = tapegrad.from_numpy(arr).requires_grad_() if hasattr(tapegrad, "from_numpy") else None
    if y is None or y._data.flags.writeable:
        pytest.skip("no read-only tensor to test with")
    assert tapegrad.autograd.gradcheck(lambda a: a.sin(), y)
    assert tapegrad.autograd.gradcheck(lambda a: a.sin(), y, fast_mode=True)
    assert y._data is not None and not y._data.flags.writeable


# --- failing checks -----------------------------------------------------------------------------
def _detached_square(a):
    return a * a.detach()  # analytical d/da = a, numerical 2a


def test_jacobian_mismatch_message():
    msg, report = both_with_report(
        lambda m: error(lambda: m.autograd.gradcheck(_detached_square, (_y(m),))))
    assert msg.startswith("Jacobian mismatch for output 0 with respect to input 0,\nnumerical:")


def test_mismatch_names_output_and_input_indexes():
    def prog(m):
        return error(lambda: m.autograd.gradcheck(
            lambda a, b: (a, (a * b.detach()).sum()), (_x(m), _y(m))))

    msg, _ = both_with_report(prog)
    assert msg.startswith("Jacobian mismatch for output 1 with respect to input 1,")


def test_raise_exception_false_returns_false():
    def prog(m):
        return [m.autograd.gradcheck(_detached_square, _y(m), raise_exception=False),
                m.autograd.gradcheck(_detached_square, _y(m), raise_exception=False,
                                     fast_mode=True),
                m.autograd.gradgradcheck(lambda a: _detached_square(a) * a, _y(m),
                                         raise_exception=False)]

    assert both(prog) == [False, False, False]


def test_gradcheck_error_raised():
    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        tapegrad.autograd.gradcheck(_detached_square, _y(tapegrad))


_FLOAT = r"(-?\d+\.\d+(?:e-?\d+)?)"


def test_fast_mode_mismatch_message():
    torch = pytest.importorskip("torch")
    ours = error(lambda: tapegrad.autograd.gradcheck(_detached_square, _y(tapegrad),
                                                     fast_mode=True))
    theirs = error(lambda: torch.autograd.gradcheck(_detached_square, _y(torch),
                                                    fast_mode=True))
    (kind, head), report = split_report(ours)
    assert kind == theirs[0] == "GradcheckError"
    theirs_msg = theirs[1].replace("torch.", "tapegrad.")
    # the projected numbers come from the same random vectors; the last bits of a dot product
    # may differ between BLAS libraries, so they are compared as numbers
    pat = (r"^Jacobian mismatch for output 0 with respect to input 0,\nnumerical:" + _FLOAT
           + r"\nanalytical:" + _FLOAT + r"\n")
    mo, mt = re.match(pat, head), re.match(pat, theirs_msg)
    assert mo and mt
    np.testing.assert_allclose([float(v) for v in mo.groups()],
                               [float(v) for v in mt.groups()], rtol=1e-12)
    assert head[mo.end():] == theirs_msg[mt.end():]  # PyTorch's slow-mode recomputation
    assert "Below, we recompute numerical and analytical jacobians in slow mode" in head
    assert report.startswith(_REPORT + "3 of 9 Jacobian entries differ")


def test_fast_mode_hint_when_slow_mode_would_pass():
    # each entry is within atol + rtol |J| (rtol * 1000 = 1 > 0.9), but J has mixed signs, so
    # the projection v . J u cancels and its tolerance rtol |v . J u| is smaller than the error
    def prog(m):
        s = m.tensor([1000.0, -1000.0, 1000.0], dtype=m.float64)

        class Off(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * s

            @staticmethod
            def backward(ctx, g):
                return g * (s + 0.9)

        return [error(lambda: m.autograd.gradcheck(Off.apply, _y(m), fast_mode=True)),
                m.autograd.gradcheck(Off.apply, _y(m))]

    torch = pytest.importorskip("torch")
    ours, theirs = prog(tapegrad), prog(torch)
    assert ours[1] is theirs[1] is True  # slow mode passes
    (kind, head), report = split_report(ours[0])
    assert kind == theirs[0][0] == "GradcheckError"
    tail = "The max per-element difference (slow mode) is: "
    assert head.split(tail)[1] == theirs[0][1].split(tail)[1]  # the value and the hint
    assert ("Fast gradcheck failed but element-wise differences are small. This means that "
            "the\ntest might've passed in slow_mode!") in head
    assert "with `fast_mode=False` as a keyword argument." in head
    assert report == ""  # no entry differs in slow mode: nothing to list


def test_float32_input_warns():
    torch = pytest.importorskip("torch")

    def run(m):
        y32 = m.tensor([0.5, -1.5, 2.0], requires_grad=True)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            m.autograd.gradcheck(lambda a, b: b * 2, (m.ones(1, dtype=m.float64), y32),
                                 raise_exception=False)
        return [(x.category.__name__, str(x.message)) for x in w
                if issubclass(x.category, UserWarning)]

    ours, theirs = run(tapegrad), run(torch)
    assert ours == theirs == [(
        "UserWarning",
        "Input #1 requires gradient and is not a double precision floating point or complex. "
        "This check will likely fail if all the inputs are not of double precision floating "
        "point or complex. ")]


def test_no_input_requires_grad():
    pytest.importorskip("torch")
    same_error(lambda m: m.autograd.gradcheck(lambda a: a.exp(), (_y(m, False), 3)))


def test_stride_zero_input():
    pytest.importorskip("torch")
    same_error(lambda m: m.autograd.gradcheck(
        lambda a: a.exp(), (_y(m, False), _y(m, False)[:1].expand(3).requires_grad_())))


@pytest.mark.parametrize("fast_mode", [False, True])
def test_nonzero_numerical_gradient_without_differentiable_output(fast_mode):
    pytest.importorskip("torch")
    same_error(lambda m: m.autograd.gradcheck(lambda a: a.detach(), _y(m), fast_mode=fast_mode))


def test_flag_assertions():
    pytest.importorskip("torch")
    same_error(lambda m: m.autograd.gradcheck(lambda a: a, _y(m), check_backward_ad=False))
    same_error(lambda m: m.autograd.gradcheck(lambda a: a, _y(m), check_batched_grad=True,
                                              check_backward_ad=False, check_forward_ad=True))
    same_error(lambda m: m.autograd.gradcheck(lambda a: a, _y(m),
                                              check_batched_forward_grad=True))
    same_error(lambda m: m.autograd.gradgradcheck(lambda a: a, _y(m), check_rev_over_rev=False))
    same_error(lambda m: m.autograd.gradgradcheck(lambda a: a, _y(m), check_rev_over_rev=False,
                                                  check_fwd_over_rev=True))
    same_error(lambda m: m.autograd.gradgradcheck(lambda a: a, _y(m), check_rev_over_rev=False,
                                                  check_fwd_over_rev=True,
                                                  check_undefined_grad=False,
                                                  check_batched_grad=True))


@pytest.mark.parametrize("fast_mode", [False, True])
def test_check_forward_ad(fast_mode):
    pytest.importorskip("torch")

    def prog(m):
        x = m.tensor([[0.5, -1.2, 2.0], [0.3, 0.7, -0.4]], dtype=m.float64, requires_grad=True)
        w = m.tensor([1.5, -0.5, 0.25], dtype=m.float64, requires_grad=True)
        fns = [lambda a, b: (a * b).exp().sum(1), lambda a, b: (a @ b.sin(), a.tanh()),
               lambda a, b: m.nn.functional.softmax(a + b, 1)]
        return [m.autograd.gradcheck(f, (x, w), check_forward_ad=True, fast_mode=fast_mode)
                for f in fns] + [
            m.autograd.gradcheck(fns[0], (x, w), check_forward_ad=True,
                                 check_backward_ad=False, fast_mode=fast_mode),
            m.autograd.gradgradcheck(fns[1], (x, w), check_fwd_over_rev=True,
                                     fast_mode=fast_mode)]

    assert both(prog) == [True] * 5


def test_check_forward_ad_catches_a_wrong_jvp():
    torch = pytest.importorskip("torch")

    def run(m):
        class Cube(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_forward(x)
                return x ** 3

            @staticmethod
            def jvp(ctx, t):
                (x,) = ctx.saved_tensors
                return 2 * x * x * t  # wrong: 3 x^2 t

            @staticmethod
            def backward(ctx, g):
                return g

        x = m.tensor([0.5, 2.0], dtype=m.float64, requires_grad=True)
        with pytest.raises(Exception) as e:
            m.autograd.gradcheck(Cube.apply, x, check_forward_ad=True,
                                 check_backward_ad=False)
        return type(e.value).__name__, str(e.value)

    ours, theirs = run(tapegrad), run(torch)
    assert ours[0] == theirs[0] == "GradcheckError"
    # the same message (tapegrad then lists the mismatching entries)
    assert ours[1].startswith(theirs[1].replace("torch.", "tapegrad."))


def _jvp_function(m, jvp_rule):
    class F(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

        @staticmethod
        def jvp(ctx, t):
            return jvp_rule(t)

    return F


@pytest.mark.parametrize("bad_call", [0, 3, 4, 5, 6])
def test_check_batched_forward_grad(bad_call):
    """Forward mode on a batch of tangents: the jvp runs twice per column check, once for the
    zero-tangent check, twice per sample and once on the batch (call 6). A jvp that answers
    wrongly on call 4 or 5 (a per-sample one) or 6 (the batch) fails, with PyTorch's message
    and values; call 3 (a zero tangent) cannot tell."""
    pytest.importorskip("torch")

    def prog(m):
        calls = [0]

        def rule(t):
            calls[0] += 1
            return t * (3 if calls[0] == bad_call else 2)

        x = m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True)
        m.manual_seed(0)
        ok = m.autograd.gradcheck(_jvp_function(m, rule).apply, x, check_forward_ad=True,
                                  check_batched_forward_grad=True)
        return ok, calls[0]

    same_error(prog) if bad_call in (4, 5, 6) else both(prog)


def test_check_batched_forward_grad_model():
    pytest.importorskip("torch")

    def prog(m):
        m.manual_seed(0)
        x = m.randn(3, 4, dtype=m.float64, requires_grad=True)
        w = m.randn(4, 2, dtype=m.float64, requires_grad=True)
        return m.autograd.gradcheck(lambda x, w: (x @ w).tanh().log_softmax(1), (x, w),
                                    check_forward_ad=True, check_batched_forward_grad=True)

    both(prog)


@pytest.mark.parametrize("undefined", [True, False])
def test_undefined_forward_tangent_check_runs(undefined):
    """With check_undefined_grad, forward mode is also run with a zero tangent per input (the
    others random): the jvp runs as often as in PyTorch, and a correct rule passes."""
    pytest.importorskip("torch")

    def prog(m):
        calls = [0]

        def rule(t):
            calls[0] += 1
            return t * 2

        x = m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True)
        y = m.tensor([0.5, -1.0], dtype=m.float64, requires_grad=True)
        F = _jvp_function(m, rule)  # noqa: N806
        ok = m.autograd.gradcheck(lambda a, b: F.apply(a) * b, (x, y), check_forward_ad=True,
                                  check_backward_ad=False, check_undefined_grad=undefined)
        return ok, calls[0]

    both(prog)


# --- check_batched_grad ------------------------------------------------------------------------
_BATCHED_FUNCS = {
    "mlp": lambda m, x, w: (x @ w).tanh().log_softmax(1),
    "broadcast": lambda m, x, w: (x.unsqueeze(-1) * w.sum(1)).sin().sum(0),
    "indexing": lambda m, x, w: x[:, [0, 2, 2]].cumsum(1) + w[1:, 0].exp().sum(),
    "two_outputs": lambda m, x, w: (x.sort(1)[0], m.nn.functional.softplus(w @ w.t())),
    "complex": lambda m, x, w: m.view_as_real(m.complex(x, x.flip(0)).exp()),
}


@pytest.mark.parametrize("name", sorted(_BATCHED_FUNCS))
def test_check_batched_grad(name):
    pytest.importorskip("torch")
    fn = _BATCHED_FUNCS[name]

    def prog(m):
        m.manual_seed(0)
        x = m.randn(3, 4, dtype=m.float64, requires_grad=True)
        w = m.randn(4, 2, dtype=m.float64, requires_grad=True)
        return (m.autograd.gradcheck(lambda a, b: fn(m, a, b), (x, w), check_batched_grad=True),
                m.autograd.gradgradcheck(lambda a, b: fn(m, a, b), (x, w),
                                         check_batched_grad=True))

    both(prog)


def test_check_batched_grad_mismatch():
    """A backward that answers differently for the batch of cotangents than for each one
    (its 7th call, the batched pull in both libraries) fails with PyTorch's message."""
    pytest.importorskip("torch")

    def prog(m):
        calls = [0]

        class F(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                calls[0] += 1
                return g * (3 if calls[0] == 7 else 2)

        x = m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True)
        m.manual_seed(0)
        m.autograd.gradcheck(F.apply, x, check_batched_grad=True)

    same_error(prog)


# (complex inputs and outputs: tests/test_complex_autograd.py)


# --- checks of the backward function itself (custom Functions) ------------------------------------
def _function(m, forward, backward, materialize=True):
    class F(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(materialize)
            return forward(x)

        @staticmethod
        def backward(ctx, *g):
            return backward(m, *g)

    return F.apply


def test_backward_ignoring_grad_output():
    def prog(m):
        f = _function(m, lambda x: x * 2, lambda m, g: m.ones_like(g) * 2)
        return error(lambda: m.autograd.gradcheck(f, _y(m)))

    msg, report = both_with_report(prog)  # the Jacobian check fails first (off-diagonal twos)
    assert "6 of 9" in report

    def prog2(m):  # right Jacobian, but not scaled by grad_output when that is zero
        def bwd(m, g):
            return g * 2 if bool((g != 0).any()) else m.ones_like(g)

        return error(lambda: m.autograd.gradcheck(_function(m, lambda x: x * 2, bwd), _y(m)))

    assert both(prog2) == ("GradcheckError", "backward not multiplied by grad_output")


def test_backward_not_reentrant():
    def prog(m):
        calls = [0]

        def bwd(m, g):
            calls[0] += 1
            return g * 2 * (1 + 1e-3 * calls[0])

        f = _function(m, lambda x: x * 2, bwd)
        return error(lambda: m.autograd.gradcheck(f, _y(m)))

    torch = pytest.importorskip("torch")
    ours = prog(tapegrad)
    assert ours == prog(torch)  # verbatim: the message names PyTorch's documentation page
    assert ours[1].startswith("Backward is not reentrant, i.e., running backward with same "
                              "input and grad_output multiple times gives different values")


def test_nondet_tol_lets_small_differences_pass_reentrancy():
    def prog(m):
        calls = [0]

        def bwd(m, g):
            calls[0] += 1
            return g * 2 * (1 + 1e-3 * calls[0])

        f = _function(m, lambda x: x * 2, bwd)
        return error(lambda: m.autograd.gradcheck(f, _y(m), nondet_tol=1.0))

    both_with_report(prog)  # now the Jacobian comparison is what fails


def test_undefined_output_gradients():
    def prog(m):
        def bwd(m, g):
            return m.ones(3, dtype=m.float64) if g is None else g * 2

        f = _function(m, lambda x: x * 2, bwd, materialize=False)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            res = error(lambda: m.autograd.gradcheck(f, _y(m)))
            res2 = m.autograd.gradcheck(f, _y(m), check_undefined_grad=False)
        return res, res2, [str(x.message) for x in w if issubclass(x.category, UserWarning)]

    res = both(prog)
    assert res[0] == ("GradcheckError", 'Expected all input grads to be undefined or zero when '
                      'all output grads are undefined or zero. Please look at "Notes about '
                      'undefined output gradients" in "tools/autograd/derivatives.yaml"')
    assert res[1] is True
    assert res[2] == ['Backwards compatibility: New undefined gradient support checking feature '
                      'is enabled by default, but it may break existing callers of this '
                      'function. If this is true for you, you can call this function with '
                      '"check_undefined_grad=False" to disable the feature']


def test_undefined_output_gradient_that_backward_cannot_handle():
    def prog(m):
        class Two(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(False)
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, g1, g2):
                if g1 is None or g2 is None:
                    raise RuntimeError("undefined!")
                return g1 * 2 + g2 * 3

        return error(lambda: m.autograd.gradcheck(Two.apply, _y(m)))

    assert both(prog) == ("RuntimeError", "undefined!")


# --- gradgradcheck ------------------------------------------------------------------------------
def test_gradgradcheck_passes():
    def prog(m):
        m.manual_seed(0)
        x, y = _x(m), _y(m)
        ggc = m.autograd.gradgradcheck
        return [ggc(lambda a: a.sin() * a, y),
                ggc(lambda a, b: (a * b).tanh(), (x, y)),
                ggc(lambda a: a.exp(), x, m.ones(2, 3, dtype=m.float64)),
                ggc(lambda a: a.exp(), x, gen_non_contig_grad_outputs=True),
                ggc(lambda a: a.pow(3).sum(), y, fast_mode=True),
                m.rand(2)]

    res = both(prog, atol=0, rtol=0)  # the random grad_outputs come from the same stream
    assert res[:5] == [True] * 5


@pytest.mark.parametrize("noncontig", [False, True])
def test_gradgradcheck_mismatch_message(noncontig):
    def prog(m):
        m.manual_seed(3)
        return error(lambda: m.autograd.gradgradcheck(
            lambda a: _detached_square(a) * a, _y(m), gen_non_contig_grad_outputs=noncontig))

    msg, report = both_with_report(prog)
    assert msg.startswith("Jacobian mismatch for output 0 with respect to input 0,")


def test_gradgradcheck_without_differentiable_first_gradient():
    pytest.importorskip("torch")
    same_error(lambda m: m.autograd.gradgradcheck(lambda a: a.t() * a.detach(), _x(m).t(),
                                                  m.ones(2, 3, dtype=m.float64)))


# --- tapegrad's report of the mismatching entries -------------------------------------------------
def test_report_lists_mismatching_entries_with_indices_and_values():
    x = tapegrad.tensor([[1.0, -2.0], [3.0, 0.0]], dtype=tapegrad.float64, requires_grad=True)
    msg = error(lambda: tapegrad.autograd.gradcheck(_detached_square, x))[1]
    report = msg.partition(_REPORT)[2]
    lines = report.rstrip("\n").split("\n")
    # d out[i,j] / d x[i,j]: numerical 2 x, analytical x; entries where x == 0 agree
    assert lines[0] == ("3 of 16 Jacobian entries differ (|analytical - numerical| > atol + rtol "
                        "* |numerical|, atol=1e-05, rtol=0.001):")
    pat = re.compile(r"  d output 0\[(\d), (\d)\] / d input 0\[(\d), (\d)\]: numerical "
                     + _FLOAT + ", analytical " + _FLOAT + "$")
    seen = []
    for line in lines[1:]:
        mo = pat.match(line)
        assert mo, line
        oi, oj, ii, ij = (int(v) for v in mo.groups()[:4])
        assert (oi, oj) == (ii, ij)
        xv = float(x[ii, ij])
        assert float(mo.group(5)) == pytest.approx(2 * xv, rel=1e-6)
        assert float(mo.group(6)) == xv
        seen.append((ii, ij))
    assert seen == [(0, 0), (0, 1), (1, 0)]


def test_report_is_capped():
    y = tapegrad.arange(1.0, 31.0, dtype=tapegrad.float64).requires_grad_()
    msg = error(lambda: tapegrad.autograd.gradcheck(_detached_square, y))[1]
    report = msg.partition(_REPORT)[2].rstrip("\n").split("\n")
    assert report[0].startswith("30 of 900 Jacobian entries differ")
    assert len(report) == 1 + 20 + 1 and report[-1] == "  ... and 10 more"


def test_report_in_fast_mode_uses_slow_jacobians():
    x = tapegrad.tensor([[1.0, -2.0], [3.0, 0.0]], dtype=tapegrad.float64, requires_grad=True)
    msg = error(lambda: tapegrad.autograd.gradcheck(_detached_square, x, fast_mode=True))[1]
    assert "\nThe max per-element difference (slow mode) is: " in msg
    assert msg.partition(_REPORT)[2].startswith("3 of 16 Jacobian entries differ")
    assert "d output 0[1, 0] / d input 0[1, 0]: numerical " in msg

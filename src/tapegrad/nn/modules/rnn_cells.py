"""One time step of the Elman, LSTM and GRU recurrences, and the single-step cell layers.

The step functions take the input projection already computed (the sequence layers compute it
for every time step with one matmul): `gi = x W_ih^T + b_ih + b_hh` for Elman and LSTM steps
(`fold_bias`), `gi = x W_ih^T + b_ih` for GRU steps, whose b_hn sits inside the reset product.
`wt = W_hh^T`. Everything is written in tapegrad ops, so gradients of any order follow.

    Elman:  h' = act(gi + h W_hh^T + b_hh)
    LSTM:   i, f, g, o = chunks of (gi + h W_hh^T + b_hh)
            c' = sigmoid(f) c + sigmoid(i) tanh(g);   h' = sigmoid(o) tanh(c')   [(h' W_hr^T)]
    GRU:    r, z = sigmoid(gi_rz + h W_hrz^T + b_hrz)
            n = tanh(gi_n + r (h W_hn^T + b_hn));     h' = n + z (h - n)
"""

from __future__ import annotations

import math

from ..._creation import empty, zeros
from ..._tensor import Tensor
from ...ops.linalg_basic import addmm
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def tanh_step(gi: Tensor, state: tuple, wt: Tensor, b_hh, w_hr) -> tuple:
    return (addmm(gi, state[0], wt).tanh(),)


def relu_step(gi: Tensor, state: tuple, wt: Tensor, b_hh, w_hr) -> tuple:
    return (addmm(gi, state[0], wt).relu(),)


def lstm_step(gi: Tensor, state: tuple, wt: Tensor, b_hh, w_hr) -> tuple:
    h, c = state
    i, f, g, o = addmm(gi, h, wt).chunk(4, 1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    if w_hr is not None:
        h = h.matmul(w_hr.t())
    return h, c


def gru_step(gi: Tensor, state: tuple, wt: Tensor, b_hh, w_hr) -> tuple:
    (h,) = state
    gh = h.matmul(wt) if b_hh is None else addmm(b_hh, h, wt)
    ir, iz, in_ = gi.chunk(3, 1)
    hr, hz, hn = gh.chunk(3, 1)
    r = (ir + hr).sigmoid()
    z = (iz + hz).sigmoid()
    n = (in_ + r * hn).tanh()
    return (n + z * (h - n),)


STEPS = {"RNN_TANH": tanh_step, "RNN_RELU": relu_step, "LSTM": lstm_step, "GRU": gru_step}


def input_projection(x: Tensor, w_ih: Tensor, b_ih, b_hh, step) -> Tensor:
    """x W_ih^T + b_ih, plus b_hh for the steps that add it outside any product."""
    gi = F.linear(x, w_ih, b_ih)
    if b_hh is not None and step is not gru_step:
        gi = gi + b_hh
    return gi


class RNNCellBase(Module):
    """The parameters shared by the cells: weight_ih (k*hidden, input), weight_hh
    (k*hidden, hidden) and the two biases, all drawn from U(-1/sqrt(hidden), 1/sqrt(hidden))."""

    __constants__ = ["input_size", "hidden_size", "bias"]

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        kw = {"device": device, "dtype": dtype}
        self.weight_ih = Parameter(empty((num_chunks * hidden_size, input_size), **kw))
        self.weight_hh = Parameter(empty((num_chunks * hidden_size, hidden_size), **kw))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, **kw))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    # --- shared forward plumbing ---------------------------------------------------------
    def _check_dims(self, input: Tensor, hx, name: str, pair: bool) -> None:  # noqa: A002
        if input.dim() not in (1, 2):
            raise ValueError(
                f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if hx is None:
            return
        if pair:
            for idx, value in enumerate(hx):
                if value.dim() not in (1, 2):
                    raise ValueError(f"{name}: Expected hx[{idx}] to be 1D or 2D, got "
                                     f"{value.dim()}D instead")
        elif hx.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")

    def _check_sizes(self, input: Tensor, hs: tuple) -> None:  # noqa: A002
        n_in = self.weight_ih.shape[1]
        if input.shape[1] != n_in:
            raise RuntimeError(
                f"input has inconsistent input_size: got {input.shape[1]} expected {n_in}")
        n_hid = self.weight_hh.shape[1]
        for idx, h in enumerate(hs):
            if h.shape[0] != input.shape[0]:
                raise RuntimeError(f"Input batch size {input.shape[0]} doesn't match "
                                   f"hidden{idx} batch size {h.shape[0]}")
            if h.shape[1] != n_hid:
                raise RuntimeError(f"hidden{idx} has inconsistent hidden_size: got "
                                   f"{h.shape[1]}, expected {n_hid}")

    def _cell(self, step, input: Tensor, hs: tuple) -> tuple:  # noqa: A002
        self._check_sizes(input, hs)
        gi = input_projection(input, self.weight_ih, self.bias_ih, self.bias_hh, step)
        return step(gi, hs, self.weight_hh.t(), self.bias_hh, None)


def _prepare(input: Tensor, hs):  # noqa: A002
    """Add the batch dimension to unbatched (1-D) input and its states."""
    if input.dim() == 1:
        return input.unsqueeze(0), None if hs is None else tuple(h.unsqueeze(0) for h in hs)
    return input, hs


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    >>> import tapegrad
    >>> tapegrad.nn.RNNCell(3, 4, nonlinearity="relu")
    RNNCell(3, 4, nonlinearity=relu)
    """

    __constants__ = ["input_size", "hidden_size", "bias", "nonlinearity"]

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        self._check_dims(input, hx, "RNNCell", False)
        batched = input.dim() == 2
        x, hs = _prepare(input, None if hx is None else (hx,))
        if hs is None:
            hs = (zeros(x.shape[0], self.hidden_size, dtype=x.dtype),)
        if self.nonlinearity == "tanh":
            step = tanh_step
        elif self.nonlinearity == "relu":
            step = relu_step
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        (h,) = self._cell(step, x, hs)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: returns (h', c') (gate order i, f, g, o).

    >>> import tapegrad
    >>> tapegrad.nn.LSTMCell(3, 4)
    LSTMCell(3, 4)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None  # noqa: A002
                ) -> tuple[Tensor, Tensor]:
        self._check_dims(input, hx, "LSTMCell", True)
        batched = input.dim() == 2
        x, hs = _prepare(input, None if hx is None else (hx[0], hx[1]))
        if hs is None:
            z = zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
            hs = (z, z)
        h, c = self._cell(lstm_step, x, hs)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step (gate order r, z, n; r multiplies h W_hn^T + b_hn).

    >>> import tapegrad
    >>> tapegrad.nn.GRUCell(3, 4, bias=False)
    GRUCell(3, 4, bias=False)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        self._check_dims(input, hx, "GRUCell", False)
        batched = input.dim() == 2
        x, hs = _prepare(input, None if hx is None else (hx,))
        if hs is None:
            hs = (zeros(x.shape[0], self.hidden_size, dtype=x.dtype),)
        (h,) = self._cell(gru_step, x, hs)
        return h if batched else h.squeeze(0)

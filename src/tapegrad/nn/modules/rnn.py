"""Multi-layer recurrent layers: RNN (tanh / relu), LSTM (optionally projected) and GRU.

Each layer and direction runs its recurrence step by step (rnn_cells.py); the input projection
of a whole sequence is one matmul. Between layers the output goes through dropout (training
only), drawn from tapegrad's generator in PyTorch's order, so masks match torch's after the same
manual_seed. Padded (T, B, *) / (B, T, *) input, unbatched (T, *) input and PackedSequence
input are supported.
"""

from __future__ import annotations

import math
import numbers
import warnings

from ..._creation import empty, zeros
from ..._tensor import Tensor
from ...ops.join import cat, stack
from ...ops.nn_misc import dropout_impl
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module
from .rnn_cells import (
    STEPS,
    GRUCell,
    LSTMCell,
    RNNCell,
    RNNCellBase,
    input_projection,
)

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


class RNNBase(Module):
    """The parameters and the forward of RNN, LSTM and GRU; `mode` is one of "RNN_TANH",
    "RNN_RELU", "LSTM", "GRU". Parameters weight_ih_l{k}[_reverse], weight_hh_l{k},
    bias_ih_l{k}, bias_hh_l{k} (and weight_hr_l{k} with proj_size), all drawn from
    U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) in that order."""

    __constants__ = ["mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first",
                     "dropout", "bidirectional", "proj_size"]
    __jit_unused_properties__ = ["all_weights"]

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}", stacklevel=2)
        for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                                  ("input_size", input_size, int)):
            if not isinstance(value, kind):
                raise TypeError(f"{name} should be of type {kind.__name__}, got: "
                                f"{type(value).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise TypeError(
                f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        kw = {"device": device, "dtype": dtype}
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_in = input_size if layer == 0 else real_hidden * num_directions
                suffix = "_reverse" if direction == 1 else ""
                params = [("weight_ih", (gate_size, layer_in)),
                          ("weight_hh", (gate_size, real_hidden))]
                if bias:
                    params += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size > 0:
                    params.append(("weight_hr", (proj_size, hidden_size)))
                names = []
                for stem, shape in params:
                    name = f"{stem}_l{layer}{suffix}"
                    setattr(self, name, Parameter(empty(shape, **kw)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, n, None) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters of each layer and direction, as lists in flat-weights order."""
        return [[getattr(self, w) for w in ws] for ws in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op: there is no fused (cuDNN) weight buffer to compact on the CPU."""

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # --- argument checks (PyTorch's messages) ---------------------------------------------
    def check_input(self, input: Tensor, batch_sizes) -> None:  # noqa: A002
        w = self._flat_weights[0]
        if input.dtype != w.dtype:
            raise ValueError(
                f"RNN input dtype ({input.dtype}) does not match weight dtype ({w.dtype}). "
                f"Convert input: input.to({w.dtype}), or convert model: model.to({input.dtype})")
        expected = 2 if batch_sizes is not None else 3
        if input.dim() != expected:
            raise RuntimeError(f"input must have {expected} dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError("input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.size(-1)}")

    def get_expected_hidden_size(self, input: Tensor, batch_sizes) -> tuple[int, int, int]:  # noqa: A002
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.size(0) if self.batch_first else input.size(1)
        num_directions = 2 if self.bidirectional else 1
        size = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * num_directions, mini_batch, size)

    def check_hidden_size(self, hx: Tensor, expected_hidden_size: tuple[int, int, int],
                          msg: str = "Expected hidden size {}, got {}") -> None:
        if hx.size() != expected_hidden_size:
            raise RuntimeError(msg.format(expected_hidden_size, list(hx.size())))

    def check_forward_args(self, input: Tensor, hidden: Tensor, batch_sizes) -> None:  # noqa: A002
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden, self.get_expected_hidden_size(input, batch_sizes))

    def permute_hidden(self, hx: Tensor, permutation):
        if permutation is None:
            return hx
        return hx.index_select(1, permutation)

    # --- the computation --------------------------------------------------------------------
    def _run(self, x: Tensor, states: tuple, batch_sizes) -> tuple[Tensor, tuple]:
        """x: time-major (T, B, *) input, or packed data (N, *) with batch_sizes (a list);
        states: (h0,) or (h0, c0), each (layers * directions, B, *). Returns the last layer's
        output (same layout as x) and the final states, stacked like states."""
        step = STEPS[self.mode]
        num_directions = 2 if self.bidirectional else 1
        init_states = [s.unbind(0) for s in states]
        weights = self.all_weights
        run = _run_padded if batch_sizes is None else _run_packed
        finals: list[list[Tensor]] = [[] for _ in states]
        for layer in range(self.num_layers):
            outs = []
            for direction in range(num_directions):
                k = layer * num_directions + direction
                w_ih, w_hh, *rest = weights[k]
                b_ih, b_hh = (rest[0], rest[1]) if self.bias else (None, None)
                w_hr = rest[-1] if self.proj_size > 0 else None
                gi = input_projection(x, w_ih, b_ih, b_hh, step)
                s0 = tuple(s[k] for s in init_states)
                out, last = run(step, gi, s0, w_hh.t(), b_hh, w_hr, direction == 1, batch_sizes)
                outs.append(out)
                for f, s in zip(finals, last):
                    f.append(s)
            x = outs[0] if num_directions == 1 else cat(outs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = dropout_impl(x, self.dropout, True)
        return x, tuple(stack(f, 0) for f in finals)

    def _forward(self, input, hx, name: str, tensor_word: str):  # noqa: A002
        """The shared forward; name and tensor_word shape the messages ("RNN", " tensor")."""
        lstm = self.mode == "LSTM"
        num_directions = 2 if self.bidirectional else 1
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        packed = isinstance(input, PackedSequence)
        batch_sizes = sorted_indices = unsorted_indices = None
        batched = True
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            x = data
            mini_batch = int(batch_sizes[0])
            if hx is not None:
                hx = tuple(self.permute_hidden(h, sorted_indices) for h in hx) if lstm else \
                    self.permute_hidden(hx, sorted_indices)
        else:
            x = input
            if x.dim() not in (2, 3):
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got "
                                 f"{x.dim()}D{tensor_word} instead")
            batched = x.dim() == 3
            batch_dim = 0 if self.batch_first else 1
            if not batched:
                x = x.unsqueeze(batch_dim)
            if hx is not None:
                _check_hx_dims(hx, batched, lstm)
                if not batched:
                    hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1)) if lstm else hx.unsqueeze(1)
            mini_batch = x.size(0) if self.batch_first else x.size(1)
        if hx is None:
            n = self.num_layers * num_directions
            h0 = zeros(n, mini_batch, real_hidden, dtype=x.dtype)
            hx = (h0, zeros(n, mini_batch, self.hidden_size, dtype=x.dtype)) if lstm else h0
        if lstm:
            self.check_input(x, batch_sizes)
            expected = self.get_expected_hidden_size(x, batch_sizes)
            self.check_hidden_size(hx[0], expected, "Expected hidden[0] size {}, got {}")
            cell = (expected[0], expected[1], self.hidden_size)
            self.check_hidden_size(hx[1], cell, "Expected hidden[1] size {}, got {}")
            states = (hx[0], hx[1])
        else:
            self.check_forward_args(x, hx, batch_sizes)
            states = (hx,)
        if not packed:
            if x.size(0 if not self.batch_first else 1) == 0:
                raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
            if self.batch_first:
                x = x.transpose(0, 1)
        sizes = None if batch_sizes is None else [int(b) for b in batch_sizes.tolist()]
        out, finals = self._run(x, states, sizes)
        if packed:
            out = PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices)
        else:
            if self.batch_first:
                out = out.transpose(0, 1)
            if not batched:
                out = out.squeeze(0 if self.batch_first else 1)
                finals = tuple(f.squeeze(1) for f in finals)
        finals = tuple(self.permute_hidden(f, unsorted_indices) for f in finals)
        return out, (finals if lstm else finals[0])


def _check_hx_dims(hx, batched: bool, lstm: bool) -> None:
    want = 3 if batched else 2
    kind = "batched 3-D" if batched else "unbatched 2-D"
    if lstm:
        if hx[0].dim() != want or hx[1].dim() != want:
            raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got "
                               f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
    elif hx.dim() != want:
        raise RuntimeError(
            f"For {kind} input, hx should also be {want}-D but got {hx.dim()}-D tensor")


def _run_padded(step, gi, s0, wt, b_hh, w_hr, reverse: bool, batch_sizes):
    """One direction over a time-major (T, B, G) projection: output (T, B, H), final state."""
    state = s0
    outs = []
    for g in (reversed(gi.unbind(0)) if reverse else gi.unbind(0)):
        state = step(g, state, wt, b_hh, w_hr)
        outs.append(state[0])
    if reverse:
        outs.reverse()
    return stack(outs, 0), state


def _run_packed(step, gi, s0, wt, b_hh, w_hr, reverse: bool, batch_sizes):
    """One direction over packed data: at step t only the first batch_sizes[t] sequences are
    running (lengths are sorted decreasingly). Forward, sequences that end leave their state
    behind; in reverse, sequences join (from s0) as the batch grows."""
    steps = gi.split(batch_sizes, 0)
    outs = []
    if not reverse:
        state, left = s0, []
        for g, bs in zip(steps, batch_sizes):
            if bs < state[0].shape[0]:
                left.append(tuple(s[bs:] for s in state))
                state = tuple(s[:bs] for s in state)
            state = step(g, state, wt, b_hh, w_hr)
            outs.append(state[0])
        if left:
            left.reverse()
            state = tuple(cat([s] + [part[i] for part in left], 0) for i, s in enumerate(state))
    else:
        cur = batch_sizes[-1]
        state = tuple(s[:cur] for s in s0)
        for g, bs in zip(reversed(steps), reversed(batch_sizes)):
            if bs > cur:
                state = tuple(cat([s, s_init[cur:bs]], 0) for s, s_init in zip(state, s0))
                cur = bs
            state = step(g, state, wt, b_hh, w_hr)
            outs.append(state[0])
        outs.reverse()
    return cat(outs, 0), state


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), stacked
    num_layers deep; returns (output, h_n).

    >>> import tapegrad
    >>> tapegrad.nn.RNN(3, 4, num_layers=2, nonlinearity="relu")
    RNN(3, 4, num_layers=2)
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' "
                             "or 'relu'.")
        super().__init__(mode, *args, **kwargs)

    def forward(self, input, hx: Tensor | None = None):  # noqa: A002
        return self._forward(input, hx, "RNN", " tensor")


class LSTM(RNNBase):
    """Long short-term memory (gate order i, f, g, o), optionally projecting h to proj_size;
    returns (output, (h_n, c_n)).

    >>> import tapegrad
    >>> tapegrad.nn.LSTM(3, 4, proj_size=2, bidirectional=True)
    LSTM(3, 4, proj_size=2, bidirectional=True)
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("LSTM", *args, **kwargs)

    def get_expected_cell_size(self, input: Tensor, batch_sizes) -> tuple[int, int, int]:  # noqa: A002
        n, b, _ = self.get_expected_hidden_size(input, batch_sizes)
        return (n, b, self.hidden_size)

    def check_forward_args(self, input: Tensor, hidden, batch_sizes) -> None:  # noqa: A002
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden[0], self.get_expected_hidden_size(input, batch_sizes),
                               "Expected hidden[0] size {}, got {}")
        self.check_hidden_size(hidden[1], self.get_expected_cell_size(input, batch_sizes),
                               "Expected hidden[1] size {}, got {}")

    def permute_hidden(self, hx, permutation):
        if permutation is None:
            return hx
        if isinstance(hx, tuple):
            return tuple(h.index_select(1, permutation) for h in hx)
        return hx.index_select(1, permutation)

    def forward(self, input, hx: tuple[Tensor, Tensor] | None = None):  # noqa: A002
        return self._forward(input, hx, "LSTM", "")


class GRU(RNNBase):
    """Gated recurrent unit (gate order r, z, n); returns (output, h_n).

    >>> import tapegrad
    >>> tapegrad.nn.GRU(3, 4, batch_first=True)
    GRU(3, 4, batch_first=True)
    """

    def __init__(self, *args, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input, hx: Tensor | None = None):  # noqa: A002
        return self._forward(input, hx, "GRU", "")

for _cls in (RNNCellBase, RNNCell, LSTMCell, GRUCell):
    _cls.__module__ = __name__  # PyTorch defines the cells in torch.nn.modules.rnn

"""The Phased LSTM (Neil, Pfeiffer & Liu 2016, "Phased LSTM: Accelerating Recurrent Network
Training for Long or Event-based Sequences", NeurIPS; docs/cells.md#phased-lstm).

An LSTM whose units update only while their own oscillating *time gate* is open. Each unit j has a
period tau_j, a shift s_j and an open ratio r_on,j, all learned; at a step with timestamp t (§2,
eq. 6-7):

    phi = ((t - s) mod tau) / tau                           the unit's phase, in [0, 1)
    k   = 2 phi / r_on          if phi < r_on / 2           opening ramp
          2 - 2 phi / r_on      if r_on / 2 <= phi < r_on   closing ramp
          alpha phi             otherwise                   closed, with a small leak alpha
    c~  = f * c + i * g,   h~ = o * tanh(c~)                the LSTM step (torch's LSTMCell form)
    c'  = k * c~ + (1 - k) * c,    h' = k * h~ + (1 - k) * h      (eq. 8-9, 11)

Decisions (docs/cells.md#phased-lstm lists them with the references):

* **The timestamp is the last input channel.** ``x[..., :-1]`` is the data the gates read, and
  ``x[..., -1]`` the time t, which only the time gate reads (as in the reference layer, where the
  time is a separate input; an LSTM baseline given the same x reads t as an ordinary input, the
  "second channel" of the reference's baselines). So ``input_size`` counts the time channel.
* **mod is torch.remainder**, the floor-division remainder, in [0, tau) for negative t - s too
  (the reference README's warning: ``torch.fmod`` keeps the dividend's sign, so a negative t - s
  would give a negative phase and k < 0). Its gradient is 1 in t - s and -floor((t - s) / tau) in
  tau, which autograd and torch.func give for torch.remainder as they are.
* **tau and r_on enter as |tau| and |r_on|**, so gradient steps cannot make them negative (the
  official PyTorch port's choice; the reference README asks to keep both non-negative).
* **The leak alpha is 1e-3 in training mode and 0 in eval mode** (``model.eval()``), the
  reference Theano layer's ``deterministic`` switch. With alpha = 0 a closed unit's (c, h) is
  copied exactly and its gradient passes through unchanged, which is what makes the skipped
  updates free at inference. (The official PyTorch port keeps the leak at evaluation; we do not.)
* **No peepholes.** The paper's eq. (1-5) have them; the official PyTorch port and the frequency
  task's configuration (``W_cell=None`` on the cell gate) do not, and the port's issue #6 reports
  that adding them drops performance to an LSTM's.
* **Initialisation**: the gate weights as torch.nn.LSTMCell (U(-1/sqrt(H), 1/sqrt(H)), as our LSTM
  baseline, so the two differ only by the time gate); tau = exp(U(1, 3)) (2.7 to 20 ms), s ~
  U(0, 100), r_on = 0.05: the frequency-task script's ``ExponentialUniformInit((1, 3))``,
  ``Uniform((0, 100))`` and ``Constant(0.05)``. ``period_log_range`` and ``shift_max`` change them
  (e.g. (0, ln 1000) and 1000 for the TF-contrib cell's log-uniform 1-1000 periods). The reference
  layer also sets the input-gate bias to -0.1 and draws weights from N(0, 0.1); we keep torch's
  initialisation for both cells instead (docs/cells.md).

``open_fraction`` (reported by the learners as ``gate_open`` through ``step_metrics``) is the
fraction of units in the open phase (phi < r_on) at this step: the units that must be updated at
inference, where alpha = 0 and every other unit is a copy.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from nobptt.cells.base import Cell, Params
from nobptt.cells.registry import register_cell
from nobptt.errors import ConfigError

LEAK = 1e-3  # alpha in training (the paper's §2 and the reference layer's off_slope)
R_ON_INIT = 0.05  # the frequency task's open ratio (reference: On_End=Constant(0.05))
PERIOD_LOG_RANGE = (1.0, 3.0)  # tau = exp(U(1, 3)): the frequency task's ExponentialUniformInit((1, 3))
SHIFT_MAX = 100.0  # s ~ U(0, 100): the frequency task's Shift init


def phase(t: torch.Tensor, period: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """phi = ((t - s) mod |tau|) / |tau| in [0, 1), with the floor remainder (torch.remainder), so a
    negative t - s wraps into [0, 1) as the paper's mod does. t (B, 1) or (B,1)-broadcastable, tau
    and s (H,): (B, H)."""
    tau = period.abs()
    return torch.remainder(t - shift, tau) / tau


def time_gate(phi: torch.Tensor, r_on: torch.Tensor, leak: float) -> torch.Tensor:
    """k of eq. (7): rises 0 -> 1 over the first half of the open phase, falls 1 -> 0 over the
    second half, and is ``leak`` * phi while closed."""
    r = r_on.abs()
    rising = 2.0 * phi / r
    return torch.where(phi < 0.5 * r, rising, torch.where(phi < r, 2.0 - rising, leak * phi))


@register_cell("plstm")
class PhasedLSTMCell(Cell):
    # e-prop's recurrent input (nobptt/learners/online/eprop.py): h_{t-1} reaches other units only
    # through weight_hh, so a unit's internal dynamics are its LSTM c -> c path and the time gate's
    # copy (1 - k) of its own h and c
    recurrent_input = ("weight_hh", "bias_hh")

    def __init__(self, input_size: int, hidden: int, period_log_range: tuple[float, float] = PERIOD_LOG_RANGE,
                 shift_max: float = SHIFT_MAX, r_on: float = R_ON_INIT, leak: float = LEAK) -> None:
        super().__init__()
        if input_size < 1:
            raise ConfigError(f"the Phased LSTM cell needs input_size >= 1 (its last input channel is the "
                              f"timestamp); got {input_size}")
        self.input_size, self.state_size, self.output_size = input_size, 2 * hidden, hidden
        self.hidden, self.leak = hidden, leak
        # the gates read every channel but the last, the timestamp (none at input_size 1: a cell
        # driven by time alone, which the generic cell tests build)
        data = input_size - 1
        bound = 1.0 / math.sqrt(hidden)
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden, data).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden, hidden).uniform_(-bound, bound))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden).uniform_(-bound, bound))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden).uniform_(-bound, bound))
        low, high = period_log_range
        self.period = nn.Parameter(torch.empty(hidden).uniform_(low, high).exp())
        self.shift = nn.Parameter(torch.empty(hidden).uniform_(0.0, shift_max))
        self.r_on = nn.Parameter(torch.full((hidden,), r_on))

    @property
    def current_leak(self) -> float:
        """alpha: the leak in training mode, 0 in eval mode."""
        return self.leak if self.training else 0.0

    def gate(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        """k for every (stream, unit) at this step: (B, H)."""
        phi = phase(x[..., -1:], params["period"], params["shift"])
        return time_gate(phi, params["r_on"], self.current_leak)

    def step(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        hidden, cell = h[..., :self.hidden], h[..., self.hidden:]
        gates = (x[..., :-1] @ params["weight_ih"].T + params["bias_ih"]
                 + hidden @ params["weight_hh"].T + params["bias_hh"])
        i, f, g, o = gates.chunk(4, dim=-1)
        c_tilde = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
        h_tilde = torch.sigmoid(o) * torch.tanh(c_tilde)
        k = self.gate(params, x)
        # eq. (8-9, 11): at k = 0 (closed, alpha = 0) this is old exactly, with d new/d old exactly 1
        # and no gradient into the LSTM's parameters (tests/test_plstm.py)
        c_new = k * c_tilde + (1.0 - k) * cell
        h_new = k * h_tilde + (1.0 - k) * hidden
        return torch.cat([h_new, c_new], dim=-1)

    def output(self, h: torch.Tensor) -> torch.Tensor:
        return h[..., :self.hidden]

    def probe_point(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> tuple[Params, torch.Tensor, torch.Tensor]:
        """|r_on| = 2 at the structural probe: every phase phi < 1 = r_on / 2 is then on the rising
        ramp, k = 2 phi / r_on = phi in [0, 1), where k depends on tau, s and r_on and both the LSTM
        step and the copy reach the new state. At a random r_on, a unit in its closed phase (k = alpha phi)
        would hide its r_on entry from SnAp's masks and e-prop's pairs."""
        return {**params, "r_on": torch.full_like(params["r_on"], 2.0)}, h, x

    def open_fraction(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        """Per stream, the fraction of units in the open phase (phi < |r_on|): (B,)."""
        phi = phase(x[..., -1:], params["period"], params["shift"])
        return (phi < params["r_on"].abs()).to(x.dtype).mean(-1)

    def step_metrics(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"gate_open": self.open_fraction(params, x)}

"""e-prop's oracles (float64).

Bellec et al. (2020, eq. 1-3) claim an exact factorisation: with the TOTAL learning signal (the
derivative of the loss with respect to h_t along every path except the unit's own internal one),
sum_t L_t e_t equals BPTT's gradient, whatever the cell; e-prop's approximation is only to use the
local signal q_t instead. So: (1) with the total signal computed from BPTT here, e-prop equals BPTT
to 1e-10 for every cell; (2) with the local signal it equals RTRL when the cell's Jacobian is
diagonal and internal (an element-wise recurrent cell), and not otherwise; (3) the internal
Jacobian is what docs/online.md#e-prop says for each cell.
"""
import math

import pytest
import torch
from torch import nn

from nobptt.cells import registry
from nobptt.cells.base import Cell
from nobptt.cells.jacobians import state_jacobian
from nobptt.cells.registry import cell_names
from nobptt.errors import ConfigError
from nobptt.learners.online import eprop
from nobptt.learners.online.base import step_loss
from tests.online_oracle import bptt_gradient, max_abs_difference, online_gradient, random_episode, tiny_learner


class LeakyCell(Cell):
    """h' = (1 - a) h + a tanh(W h + U x + b), a fixed leak: its internal dynamics is (1 - a) I,
    whatever W's diagonal (W is the declared recurrent input)."""
    leak = 0.3
    recurrent_input = ("W", "b")

    def __init__(self, input_size, hidden):
        super().__init__()
        self.input_size = input_size
        self.state_size = self.output_size = hidden
        self.W = nn.Parameter(torch.randn(hidden, hidden) / math.sqrt(hidden))
        self.U = nn.Parameter(torch.randn(hidden, input_size) / math.sqrt(input_size))
        self.b = nn.Parameter(0.1 * torch.randn(hidden))

    def step(self, params, h, x):
        return (1 - self.leak) * h + self.leak * torch.tanh(h @ params["W"].T + x @ params["U"].T + params["b"])


class ElementwiseCell(Cell):
    """h' = tanh(w * h + U x + b) (element-wise recurrence, as IndRNN): J_t is diagonal and, with no
    recurrent input declared, all internal."""

    def __init__(self, input_size, hidden):
        super().__init__()
        self.input_size = input_size
        self.state_size = self.output_size = hidden
        self.w = nn.Parameter(torch.rand(hidden))
        self.U = nn.Parameter(torch.randn(hidden, input_size) / math.sqrt(input_size))
        self.b = nn.Parameter(0.1 * torch.randn(hidden))

    def step(self, params, h, x):
        return torch.tanh(params["w"] * h + x @ params["U"].T + params["b"])


TEST_CELLS = {"leaky_test": LeakyCell, "elementwise_test": ElementwiseCell}
CELLS = sorted(set(cell_names()) | set(TEST_CELLS))


@pytest.fixture(autouse=True)
def test_cells(monkeypatch):
    """The two test cells, registered for the duration of each test only."""
    cell_names()  # the built-ins first
    for name, cls in TEST_CELLS.items():
        monkeypatch.setitem(registry._CELLS, name, cls)


def make(cell: str, **options):
    """A float64 e-prop learner and a matching episode (influence balancing's cell has one input
    and one output, read directly)."""
    if cell == "influence":
        learner = tiny_learner("eprop", input_dim=1, n_classes=1, cell=cell, readout="none", **options)
        return learner, random_episode(8, input_dim=1, n_classes=1, regression=True)
    return tiny_learner("eprop", cell=cell, **options), random_episode(8)


def total_learning_signals(learner, batches):
    """L_t = q_t + delta_{t+1} (J_{t+1} - D_{t+1}): the derivative of sum_t l_t with respect to h_t
    along every path but the internal one, from BPTT's adjoints delta_t = dL/dh_t (autograd through
    the unrolled cell), since delta_t = L_t + delta_{t+1} D_{t+1}."""
    params = learner.cell.params()
    h = learner.initial_state(batches[0].x.shape[0], "cpu")["h"]
    states, total = [], 0.0
    for batch in batches:
        h = learner.cell.step(params, h, batch.x)
        h.retain_grad()
        states.append(h)
        total = total + step_loss(learner.predict(h), batch)[0]
    total.backward()
    learner.zero_grad(set_to_none=True)
    deltas = [s.grad for s in states]
    fixed = learner.cell_params()
    signals = []
    for t, delta in enumerate(deltas):
        if t + 1 == len(deltas):
            signals.append(delta)
            continue
        d_next = learner.internal_jacobian(fixed, states[t].detach(), batches[t + 1].x)
        signals.append(delta - torch.einsum("bi,bij->bj", deltas[t + 1], d_next))
    return signals


def cell_grads(grads):
    return {k: v for k, v in grads.items() if k.startswith("cell.")}


@pytest.mark.parametrize("cell", CELLS)
def test_eprop_with_the_total_learning_signal_equals_bptt(cell):
    learner, episode = make(cell)
    exact = cell_grads(bptt_gradient(learner, episode))
    signals = iter(total_learning_signals(learner, episode))
    local = learner.cell_gradient
    learner.cell_gradient = lambda traces, q, *rest: local(traces, next(signals), *rest)
    try:
        factorised = cell_grads(online_gradient(learner, episode))
    finally:
        del learner.cell_gradient
    assert max(float(g.abs().max()) for g in exact.values()) > 1e-3
    assert max_abs_difference(factorised, exact) < 1e-10


@pytest.mark.parametrize("cell", ["rnn", "leaky_test"])
def test_eprop_with_the_local_signal_is_an_approximation(cell):
    """The same check with e-prop's own signal q_t fails where units feed each other: the
    oracle above can tell e-prop from BPTT."""
    learner, episode = make(cell)
    assert max_abs_difference(cell_grads(online_gradient(learner, episode)),
                              cell_grads(bptt_gradient(learner, episode))) > 1e-3


def test_eprop_equals_rtrl_when_the_jacobian_is_diagonal_and_internal():
    learner, episode = make("elementwise_test")
    rtrl = tiny_learner("rtrl", cell="elementwise_test")
    rtrl.load_state_dict(learner.state_dict(), strict=False)
    assert torch.equal(rtrl.cell.w, learner.cell.w)
    assert max_abs_difference(online_gradient(learner, episode), online_gradient(rtrl, episode)) < 1e-10


@pytest.mark.parametrize("cell", CELLS)
def test_the_shortcuts_give_the_general_computation(cell):
    """The k-pass shortcuts the cell's structure allows (no internal dynamics, internal paths
    within units, one unit per parameter) change nothing but the cost."""
    learner, episode = make(cell)
    fast = online_gradient(learner, episode)
    learner.fast = False
    assert max_abs_difference(online_gradient(learner, episode), fast) < 1e-12


def test_the_shortcuts_each_cell_allows():
    rnn, leaky, elementwise = make("rnn")[0], make("leaky_test")[0], make("elementwise_test")[0]
    assert rnn.internal_none and rnn.one_unit_per_parameter
    assert not leaky.internal_none and leaky.internal_in_units and leaky.one_unit_per_parameter
    assert elementwise.internal_in_units and elementwise.one_unit_per_parameter


def _point(learner, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = 0.5 * torch.randn(2, learner.cell.state_size, generator=g, dtype=torch.float64)
    x = torch.randn(2, learner.cell.input_size, generator=g, dtype=torch.float64)
    return learner.cell_params(), h, x


def test_internal_dynamics_of_the_shared_cells():
    """rnn: none (the state enters only through W); leaky: (1 - a) I whatever W; a cell that
    declares no recurrent input: the per-unit part of J (all of it for an element-wise cell)."""
    rnn = make("rnn")[0]
    assert torch.equal(rnn.internal_jacobian(*_point(rnn)), torch.zeros(2, 4, 4, dtype=torch.float64))
    leaky = make("leaky_test")[0]
    expected = (1 - LeakyCell.leak) * torch.eye(4, dtype=torch.float64).expand(2, 4, 4)
    assert torch.allclose(leaky.internal_jacobian(*_point(leaky)), expected, atol=1e-14)
    elementwise = make("elementwise_test")[0]
    point = _point(elementwise)
    assert torch.allclose(elementwise.internal_jacobian(*point), state_jacobian(elementwise.cell, *point), atol=1e-14)


@pytest.mark.skipif("gru" not in cell_names(), reason="the gru cell is not in this tree")
def test_gru_internal_dynamics_is_the_update_gate():
    learner = make("gru")[0]
    params, h, x = _point(learner)
    hidden = h.shape[1]
    from_x = x @ params["weight_ih"].T + params["bias_ih"]
    from_h = h @ params["weight_hh"].T + params["bias_hh"]
    z = torch.sigmoid(from_x[:, hidden:2 * hidden] + from_h[:, hidden:2 * hidden])
    assert torch.allclose(learner.internal_jacobian(params, h, x), torch.diag_embed(z), atol=1e-14)


@pytest.mark.skipif("lstm" not in cell_names(), reason="the lstm cell is not in this tree")
def test_lstm_internal_dynamics_is_the_forget_gate_path():
    """Unit j's components (h_j, c_j): dc'/dc = f, dh'/dc = o tanh'(c') f, nothing from h_{t-1}."""
    learner = make("lstm")[0]
    params, state, x = _point(learner)
    hidden = state.shape[1] // 2
    h, c = state[:, :hidden], state[:, hidden:]
    gates = x @ params["weight_ih"].T + params["bias_ih"] + h @ params["weight_hh"].T + params["bias_hh"]
    i, f, g, o = gates.chunk(4, dim=-1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    expected = torch.zeros(2, 2 * hidden, 2 * hidden, dtype=torch.float64)
    units = torch.arange(hidden)
    expected[:, hidden + units, hidden + units] = torch.sigmoid(f)
    expected[:, units, hidden + units] = torch.sigmoid(o) * (1 - torch.tanh(c_new) ** 2) * torch.sigmoid(f)
    assert torch.allclose(learner.internal_jacobian(params, state, x), expected, atol=1e-14)


def test_trace_is_one_float_per_parameter_and_state_component():
    learner = make("rnn")[0]
    p = sum(v.numel() for v in learner.cell.parameters())
    assert learner.trace_bytes(learner.initial_state(3, "cpu")) == 3 * p * 8 == 3 * learner.trace_formula() * 8


def test_random_feedback_replaces_the_readout_transpose_in_the_learning_signal():
    """With B set to the readout's weights random feedback is symmetric feedback exactly; with a
    random B only the cell's gradient changes (the readout's own gradient stays exact)."""
    symmetric, episode = make("rnn")
    random = make("rnn", feedback="random")[0]
    random.load_state_dict(symmetric.state_dict(), strict=False)
    exact = online_gradient(symmetric, episode)
    with_b = online_gradient(random, episode)
    assert max_abs_difference({k: v for k, v in with_b.items() if k.startswith("readout.")},
                              {k: v for k, v in exact.items() if k.startswith("readout.")}) < 1e-14
    assert max_abs_difference(cell_grads(with_b), cell_grads(exact)) > 1e-3
    with torch.no_grad():
        random.feedback_matrix.copy_(random.readout.weight)
    assert max_abs_difference(online_gradient(random, episode), exact) < 1e-14


def test_random_feedback_needs_a_readout():
    with pytest.raises(ConfigError, match="feedback"):
        make("rnn", feedback="random", readout="none")


def test_a_wrong_recurrent_input_declaration_is_refused(monkeypatch):
    """A cell whose step does not compute h @ W.T + bias as declared is named, not mis-learned."""
    monkeypatch.setitem(eprop.RECURRENT_INPUT, "elementwise_test", ("U", "b"))
    with pytest.raises(ConfigError, match="elementwise_test"):
        make("elementwise_test")

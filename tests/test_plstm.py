"""The Phased LSTM cell (nobptt/cells/plstm.py): its time gate, the exact copy of a closed unit, the
leak switched off at evaluation, gradients against finite differences, the open-fraction metric."""
import pytest
import torch

from nobptt.cells.plstm import LEAK, PhasedLSTMCell, phase, time_gate
from nobptt.learners.registry import build_learner
from nobptt.tasks.base import Batch


def make_cell(hidden: int = 3, data: int = 2, seed: int = 0) -> PhasedLSTMCell:
    torch.manual_seed(seed)
    return PhasedLSTMCell(data + 1, hidden).double()


def with_time(u: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=u.dtype).expand(u.shape[0]).reshape(-1, 1)
    return torch.cat([u, t], dim=-1)


def test_the_gate_in_its_three_phases():
    r_on = torch.tensor([0.05], dtype=torch.float64)
    phi = torch.tensor([0.0, 0.01, 0.025, 0.04, 0.05, 0.5, 0.99], dtype=torch.float64)
    k = time_gate(phi, r_on, LEAK)
    expected = [0.0, 0.4, 1.0, 0.4, LEAK * 0.05, LEAK * 0.5, LEAK * 0.99]
    assert torch.allclose(k, torch.tensor(expected, dtype=torch.float64), atol=1e-12)
    assert torch.equal(time_gate(phi[4:], r_on, 0.0), torch.zeros(3, dtype=torch.float64))  # closed, no leak


def test_the_phase_wraps_negative_times_as_a_floor_remainder():
    period, shift = torch.tensor([5.0]), torch.tensor([0.0])
    # (-1) mod 5 = 4 (floor remainder), where torch.fmod would give -1 and a negative phase
    assert float(phase(torch.tensor([[-1.0]]), period, shift)) == pytest.approx(0.8)
    assert float(phase(torch.tensor([[3.0]]), period, torch.tensor([4.0]))) == pytest.approx(0.8)  # t - s = -1
    assert float(phase(torch.tensor([[7.0]]), -period, shift)) == pytest.approx(0.4)  # |tau|


def test_a_closed_unit_without_leak_copies_its_state_and_passes_the_gradient_unchanged():
    cell = make_cell()
    with torch.no_grad():
        cell.period.fill_(10.0)
        cell.shift.zero_()
    cell.eval()  # alpha = 0
    h = torch.randn(2, cell.state_size, dtype=torch.float64, requires_grad=True)
    x = with_time(torch.randn(2, 2, dtype=torch.float64), 5.0)  # phi = 0.5: closed
    out = cell.step(cell.params(), h, x)
    assert torch.equal(out, h)
    jac = torch.autograd.functional.jacobian(lambda hh: cell.step(cell.params(), hh, x), h.detach())
    assert torch.equal(jac.reshape(2 * cell.state_size, -1), torch.eye(2 * cell.state_size, dtype=torch.float64))
    grads = torch.autograd.grad(out.sum(), list(cell.parameters()), allow_unused=True)
    assert all(g is None or torch.equal(g, torch.zeros_like(g)) for g in grads)


def test_training_mode_leaks_and_evaluation_does_not():
    cell = make_cell()
    with torch.no_grad():
        cell.period.fill_(10.0)
        cell.shift.zero_()
    h = torch.randn(2, cell.state_size, dtype=torch.float64)
    x = with_time(torch.randn(2, 2, dtype=torch.float64), 5.0)
    cell.train()
    leaked = cell.step(cell.params(), h, x)
    assert cell.current_leak == LEAK and not torch.equal(leaked, h)
    assert float((leaked - h).detach().abs().max()) < 10 * LEAK  # k = alpha * 0.5: a small move
    torch.manual_seed(0)
    learner = build_learner("bptt", {"cell": "plstm", "hidden": 3}, input_dim=3, n_classes=2)
    learner.eval()  # what evaluation does (nobptt/train/evaluation.py)
    assert learner.cell.current_leak == 0.0
    learner.train()
    assert learner.cell.current_leak == LEAK


def test_an_open_unit_updates_as_the_lstm_step():
    cell = make_cell()
    with torch.no_grad():
        cell.period.fill_(10.0)
        cell.shift.zero_()
    h = torch.randn(2, cell.state_size, dtype=torch.float64)
    x = with_time(torch.randn(2, 2, dtype=torch.float64), 0.125)  # phi = 0.0125 < r_on / 2: k = 0.5
    out = cell.step(cell.params(), h, x)
    cell_k1 = make_cell()
    cell_k1.load_state_dict(cell.state_dict())
    with torch.no_grad():
        cell_k1.r_on.fill_(0.025)  # phi = r_on / 2: k = 1, the plain LSTM step
    full = cell_k1.step(cell_k1.params(), h, x)
    assert torch.allclose(out, 0.5 * full + 0.5 * h, atol=1e-12)


def test_gradient_matches_finite_differences_in_float64():
    cell = make_cell(hidden=2, data=1)
    with torch.no_grad():
        cell.r_on.fill_(0.4)  # wide ramps, so the random times below land on every phase
    names = list(cell.params())
    h = torch.randn(3, cell.state_size, dtype=torch.float64)
    x = with_time(torch.randn(3, 1, dtype=torch.float64), torch.tensor([0.7, 2.9, 13.3], dtype=torch.float64))

    def f(*values):
        return cell.step(dict(zip(names, values[:-2])), values[-2], values[-1])

    inputs = tuple(v.detach().clone().requires_grad_(True) for v in cell.params().values()) + \
        (h.requires_grad_(True), x.requires_grad_(True))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7)


def test_open_fraction_is_about_r_on_over_uniform_times_and_is_logged_over_real_steps():
    cell = make_cell(hidden=50)
    x = with_time(torch.zeros(4000, 2, dtype=torch.float64), torch.rand(4000, dtype=torch.float64) * 1000)
    fraction = float(cell.open_fraction(cell.params(), x).mean())
    assert abs(fraction - 0.05) < 0.01  # r_on = 0.05 at initialisation
    torch.manual_seed(0)
    learner = build_learner("bptt", {"cell": "plstm", "hidden": 4}, input_dim=2, n_classes=2).double()
    state = learner.initial_state(2, "cpu")
    mask = torch.tensor([True, False])
    x = torch.tensor([[0.3, 1.0], [0.0, 0.0]], dtype=torch.float64)
    batch = Batch(x=x, label=torch.zeros(2, dtype=torch.long), target_x=torch.zeros_like(x),
                  target_label=torch.zeros(2, dtype=torch.long), weight=torch.zeros(2, dtype=torch.float64),
                  mask=mask)
    _, out = learner.learn(state, batch)
    expected = float(learner.cell.open_fraction(learner.cell.params(), x[:1]))
    assert out.losses["gate_open"] == pytest.approx(expected)
    all_padding = Batch(**{**vars(batch), "mask": torch.tensor([False, False])})
    _, out = learner.learn(learner.initial_state(2, "cpu"), all_padding)
    assert "gate_open" not in out.losses


def test_the_held_out_pass_measures_the_open_fraction_over_real_steps():
    """evaluate() reports heldout_gate_open: the mean over steps of the open fraction of the
    streams with input, computed from the same timestamps the steps read."""
    from nobptt.tasks.freq import FreqStream
    from nobptt.train.evaluation import evaluate

    torch.manual_seed(0)
    learner = build_learner("bptt", {"cell": "plstm", "hidden": 8}, input_dim=2, n_classes=2)
    stream = FreqStream("single", "async", 4, seed=3, episodes=2)
    expected = []
    for _ in range(stream.length):
        batch = stream.next_batch()
        if bool(batch.mask.any()):
            fraction = learner.cell.open_fraction(learner.cell.params(), batch.x[batch.mask])
            expected.append(float(fraction.mean()))
    result = evaluate(learner, FreqStream("single", "async", 4, seed=3, episodes=2), 0, 0, "cpu")
    assert result["heldout_gate_open"] == pytest.approx(sum(expected) / len(expected), rel=1e-6)
    assert 0.0 < result["heldout_gate_open"] < 0.5 and "heldout_accuracy" in result


def test_eprop_internal_dynamics_are_the_forget_path_and_the_gate_s_copy():
    """Unit j's components (h_j, c_j): dc'/dc = k f + 1 - k, dh'/dh = 1 - k, dh'/dc = k o tanh'(c~) f."""
    torch.manual_seed(0)
    learner = build_learner("eprop", {"cell": "plstm", "hidden": 3}, input_dim=3, n_classes=2).double()
    cell = learner.cell
    with torch.no_grad():
        cell.r_on.fill_(0.5)  # most units on a ramp, 0 < k < 1
    params = learner.cell_params()
    g = torch.Generator().manual_seed(1)
    state = 0.5 * torch.randn(2, 6, generator=g, dtype=torch.float64)
    x = torch.randn(2, 3, generator=g, dtype=torch.float64)
    h, c = state[:, :3], state[:, 3:]
    gates = x[:, :2] @ params["weight_ih"].T + params["bias_ih"] + h @ params["weight_hh"].T + params["bias_hh"]
    i, f, gg, o = gates.chunk(4, dim=-1)
    c_tilde = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
    k = cell.gate(params, x)
    assert bool(((k > 0) & (k < 1)).any())
    expected = torch.zeros(2, 6, 6, dtype=torch.float64)
    units = torch.arange(3)
    expected[:, units, units] = 1 - k
    expected[:, 3 + units, 3 + units] = k * torch.sigmoid(f) + 1 - k
    expected[:, units, 3 + units] = k * torch.sigmoid(o) * (1 - torch.tanh(c_tilde) ** 2) * torch.sigmoid(f)
    assert torch.allclose(learner.internal_jacobian(params, state, x), expected, atol=1e-14)

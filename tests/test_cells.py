"""The gru and lstm cells are torch.nn.GRUCell / LSTMCell, written as pure step functions."""
import pytest
import torch
from torch import nn

from nobptt.cells.registry import build_cell, cell_names
from nobptt.cells.lstm import LSTMCell


def _copy_of(reference: nn.Module, name: str):
    cell = build_cell(name, 3, 5).double()
    cell.load_state_dict(reference.state_dict())  # same names and shapes as torch's
    return cell


def _inputs(state_size: int):
    g = torch.Generator().manual_seed(7)
    return (torch.randn(4, state_size, generator=g, dtype=torch.float64),
            torch.randn(4, 3, generator=g, dtype=torch.float64))


def test_registered():
    assert {"rnn", "gru", "lstm"} <= set(cell_names())


def test_gru_step_is_torch_gru_cell():
    torch.manual_seed(0)
    reference = nn.GRUCell(3, 5).double()
    cell = _copy_of(reference, "gru")
    h, x = _inputs(5)
    params = {k: v.detach() for k, v in cell.params().items()}
    expected = reference(x, h)
    assert torch.allclose(cell.step(params, h, x), expected, atol=1e-12, rtol=0)
    assert torch.equal(cell.output(h), h)


def test_lstm_step_is_torch_lstm_cell_on_the_h_c_state():
    torch.manual_seed(0)
    reference = nn.LSTMCell(3, 5).double()
    cell = _copy_of(reference, "lstm")
    assert cell.state_size == 10 and cell.output_size == 5
    state, x = _inputs(10)
    params = {k: v.detach() for k, v in cell.params().items()}
    h_ref, c_ref = reference(x, (state[:, :5], state[:, 5:]))
    new = cell.step(params, state, x)
    assert torch.allclose(new[:, :5], h_ref, atol=1e-12, rtol=0)
    assert torch.allclose(new[:, 5:], c_ref, atol=1e-12, rtol=0)
    assert torch.equal(cell.output(new), new[:, :5])


@pytest.mark.parametrize("name,reference", [("gru", nn.GRUCell), ("lstm", nn.LSTMCell)])
def test_initialisation_is_torch_s(name, reference):
    """Same parameter names, shapes and U(-1/sqrt(H), 1/sqrt(H)) range as torch's cell."""
    torch.manual_seed(1)
    cell, ref = build_cell(name, 3, 16), reference(3, 16)
    assert [(k, v.shape) for k, v in cell.named_parameters()] == [(k, v.shape) for k, v in ref.named_parameters()]
    for value in cell.parameters():
        largest = float(value.detach().abs().max())
        assert 0.2 < largest <= 0.25  # the bound 1/sqrt(16), nearly reached by 48+ uniform draws


def test_lstm_forget_bias_moves_only_the_forget_gate_bias():
    torch.manual_seed(2)
    plain = LSTMCell(3, 4)
    torch.manual_seed(2)
    biased = LSTMCell(3, 4, forget_bias=1.0)
    shift = biased.bias_ih.detach() - plain.bias_ih.detach()
    assert torch.allclose(shift[4:8], torch.ones(4)) and not shift[:4].any() and not shift[8:].any()
    assert torch.equal(plain.bias_hh, biased.bias_hh)

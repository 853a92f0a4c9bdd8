"""The recurrent highway cells (nobptt/cells/rhn.py) and the hyper cells (nobptt/cells/hyper.py):
the paper's parameter count, the micro-layer structure, the initial state of the hyper cells, and
gradients against finite differences."""
import pytest
import torch

from nobptt.cells.hyper import HRHNCell, HyperLSTMCell
from nobptt.cells.lstm import LSTMCell
from nobptt.cells.registry import build_cell
from nobptt.cells.rhn import RHNCell, lm_parameter_count
from nobptt.errors import ConfigError


def test_depth_10_tied_word_ptb_model_has_the_papers_23_5_million_parameters():
    # Zilly et al. Table 3: variational RHN + WT, depth 10, 830 units, 10k words: "23M" (23.5 M in
    # the reference notes' count 2*10*830^2 + 2*830^2 + 10k*830)
    count = lm_parameter_count(vocab=10_000, hidden=830, depth=10, tied=True)
    assert round(count / 1e6, 1) == 23.5
    assert count == 2 * 830 * 830 + 10 * 2 * 830 * 830 + 10 * 2 * 830 + 10_000 * 830 + 10_000
    assert lm_parameter_count(10_000, 830, 10, tied=False) == count + 10_000 * 830


def test_depth_one_is_the_highway_formula_and_the_transform_bias_starts_negative():
    torch.manual_seed(0)
    cell = RHNCell(3, 4, depth=1).double()
    assert torch.equal(cell.bias[:, 4:], torch.full((1, 4), -2.0, dtype=torch.float64))
    assert torch.equal(cell.bias[:, :4], torch.zeros(1, 4, dtype=torch.float64))
    s, x = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    pre = x @ cell.weight_ih.T + s @ cell.weight_hh[0].T + cell.bias[0]
    hh, t = torch.tanh(pre[:, :4]), torch.sigmoid(pre[:, 4:])
    assert torch.allclose(cell.step(cell.params(), s, x), hh * t + s * (1 - t), atol=1e-12)


def test_the_input_enters_the_first_micro_layer_only():
    torch.manual_seed(1)
    deep = RHNCell(3, 4, depth=2).double()
    first, second = RHNCell(3, 4, depth=1).double(), RHNCell(3, 4, depth=1).double()
    with torch.no_grad():
        for shallow, layer in ((first, 0), (second, 1)):
            shallow.weight_ih.copy_(deep.weight_ih)
            shallow.weight_hh.copy_(deep.weight_hh[layer:layer + 1])
            shallow.bias.copy_(deep.bias[layer:layer + 1])
    s, x = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    two_layers = second.step(second.params(), first.step(first.params(), s, x), torch.zeros_like(x))
    assert torch.allclose(deep.step(deep.params(), s, x), two_layers, atol=1e-12)


def test_depth_is_chosen_in_the_cell_name():
    assert build_cell("rhn:10", 3, 4).depth == 10 and build_cell("rhn", 3, 4).depth == 5
    assert build_cell("hrhn:2", 3, 8).depth == 2
    for bad in ("lstm:3", "rhn:0", "rhn:x", "nope:2"):
        with pytest.raises(ConfigError):
            build_cell(bad, 3, 4)


def test_the_hyper_cells_start_as_their_plain_main_cells():
    torch.manual_seed(2)
    hyper = HyperLSTMCell(3, 8).double()
    plain = LSTMCell(3, 8).double()
    with torch.no_grad():
        plain.weight_ih.copy_(hyper.weight_ih)
        plain.weight_hh.copy_(hyper.weight_hh)
        plain.bias_ih.copy_(hyper.bias)
        plain.bias_hh.zero_()
    h, x = torch.randn(2, hyper.state_size, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    out = hyper.step(hyper.params(), h, x)
    assert torch.allclose(out[:, :16], plain.step(plain.params(), h[:, :16], x), atol=1e-12)
    assert not torch.allclose(out[:, 16:], h[:, 16:])  # the hyper LSTM moves on its own
    hrhn, rhn = HRHNCell(3, 8, depth=3).double(), RHNCell(3, 8, depth=3).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias"):
            getattr(rhn, name).copy_(getattr(hrhn, name))
    h = torch.randn(2, hrhn.state_size, dtype=torch.float64)
    out = hrhn.step(hrhn.params(), h, x)
    assert torch.allclose(out[:, :8], rhn.step(rhn.params(), h[:, :8], x), atol=1e-12)


def test_hrhn_scalings_multiply_the_main_products():
    torch.manual_seed(3)
    cell = HRHNCell(2, 4, depth=1, hyper=4).double()
    with torch.no_grad():
        cell.upscale.zero_()
        cell.upscale_bias.fill_(0.0)  # z = 0: the main pre-activations are the bias alone
    h, x = torch.randn(2, 8, dtype=torch.float64), torch.randn(2, 2, dtype=torch.float64)
    s = h[:, :4]
    t = torch.sigmoid(cell.bias[0, 4:])
    expected = torch.tanh(cell.bias[0, :4]) * t + s * (1 - t)
    assert torch.allclose(cell.step(cell.params(), h, x)[:, :4], expected, atol=1e-12)


@pytest.mark.parametrize("name", ["rhn:3", "hyperlstm", "hrhn:2"])
def test_gradient_matches_finite_differences_in_float64(name):
    torch.manual_seed(4)
    cell = build_cell(name, 2, 4).double()
    with torch.no_grad():  # away from the initialisation's zeros and ones, so every path carries a gradient
        for p in cell.parameters():
            p.copy_(0.5 * torch.randn_like(p))
    names = list(cell.params())
    h = 0.5 * torch.randn(2, cell.state_size, dtype=torch.float64)
    x = torch.randn(2, 2, dtype=torch.float64)

    def f(*values):
        return cell.step(dict(zip(names, values[:-2])), values[-2], values[-1])

    inputs = tuple(v.detach().clone().requires_grad_(True) for v in cell.params().values()) + \
        (h.requires_grad_(True), x.requires_grad_(True))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7)

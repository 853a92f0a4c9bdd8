"""Analytic FLOP counts of one training step or update against FlopCounterMode and a hand count
(docs/bench.md; SAB's are in tests/test_sab_fast.py)."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nobptt.learners.esn import ESNConfig, ESNLearner, step_flops
from nobptt.tasks.base import Batch


@pytest.mark.parametrize("readout", ["ridge", "online"])
def test_esn_step_flops_equal_the_counted_ones(readout):
    B, D, N, C = 3, 5, 7, 4
    torch.manual_seed(0)
    model = ESNLearner(ESNConfig(hidden=N, readout=readout), D, C)
    state = model.initial_state(B, "cpu")
    batches = [Batch(x=torch.randn(B, D), label=torch.zeros(B, dtype=torch.long), target_x=torch.randn(B, D),
                     target_label=torch.randint(0, C, (B,))) for _ in range(4)]
    state, _ = model.learn(state, batches[0])
    counter = FlopCounterMode(display=False)
    with counter:  # three steps, each solving the ridge readout first (not a matrix product)
        for batch in batches[1:]:
            state, _ = model.learn(state, batch)
    assert counter.get_total_flops() == 3 * step_flops(model.config, B, D, C)


def test_esn_step_flops_against_a_hand_count():
    """B = 1, D = 1, N = 2, C = 1: reservoir 2 x 4 + 2 x 2 = 12; ridge: output 2 x 3 = 6, statistics
    2 x 9 + 2 x 3 = 24, so 42; online: 4 x 2 = 8, so 20."""
    assert step_flops(ESNConfig(hidden=2), 1, 1, 1) == 42
    assert step_flops(ESNConfig(hidden=2, readout="online"), 1, 1, 1) == 20


@pytest.mark.parametrize("options", [{}, {"top_down": False}, {"e_rule": "temporal"}])
def test_ptncn_step_flops_equal_the_counted_ones(options):
    from nobptt.learners.ptncn import PTNCNConfig, PTNCNLearner, step_flops as ptncn_flops

    B, D, H, C = 3, 5, 6, 4
    torch.manual_seed(0)
    model = PTNCNLearner(PTNCNConfig(hidden=H, **options), D, C)
    state = model.initial_state(B, "cpu")
    batches = [Batch(x=torch.randn(B, D), label=torch.zeros(B, dtype=torch.long), target_x=torch.randn(B, D),
                     target_label=torch.randint(0, C, (B,))) for _ in range(3)]
    state, _ = model.learn(state, batches[0])  # the streams start: the prime cycle runs here
    counter = FlopCounterMode(display=False)
    with counter:
        for batch in batches[1:]:
            state, out = model.learn(state, batch)
    assert out.update and counter.get_total_flops() == 2 * ptncn_flops(model.config, B, D, C)


def test_ptncn_step_flops_against_a_hand_count():
    """B = D = H = C = 1, top-down control, code E rule: the cycle's 9 products and the updates' 7
    outer products, each 2 FLOPs: 32."""
    from nobptt.learners.ptncn import PTNCNConfig, step_flops as ptncn_flops

    assert ptncn_flops(PTNCNConfig(hidden=1), 1, 1, 1) == 32

"""The fused CPU optimizers and a hand-written, non-contiguous p.grad (nobptt.train.optim._contiguous_grads):
torch 2.13's fused Adam and SGD step a transposed-view gradient in the wrong element order, which
made SAB's fast path train differently from its reference path although their gradients agreed."""
import pytest
import torch

from nobptt.train.optim import OptimConfig, make_optimizer


class Weight(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))

    def param_groups(self) -> list[dict]:  # the learner protocol's one group
        return [{"params": [self.w], "name": "w"}]


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_a_non_contiguous_gradient_steps_as_its_contiguous_copy(name):
    grad = torch.randn(3, 4, generator=torch.Generator().manual_seed(1)).t()  # a transposed view
    assert not grad.is_contiguous()
    moved = []
    for g in (grad, grad.contiguous()):
        module = Weight()
        optimizer = make_optimizer(module, OptimConfig(optimizer=name, lr=1e-3, momentum=0.9 if name == "sgd" else 0.0))
        for _ in range(2):
            module.w.grad = g.clone(memory_format=torch.preserve_format)
            optimizer.step()
        moved.append(module.w.detach().clone())
    torch.testing.assert_close(moved[0], moved[1], rtol=0, atol=1e-7)

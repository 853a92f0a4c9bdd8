"""The sparse-input product equals the dense one, forward and backward, and falls back when dense."""
import pytest
import torch

from nobptt.learners.registry import build_learner
from nobptt.learners.sparse_linear import active_entries, sparse_input_linear
from nobptt.tasks.base import Batch


def _sparse(batch: int, width: int, active: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(batch, width)
    index = torch.rand(batch, width, generator=gen).topk(active, dim=1).indices
    return x.scatter_(1, index, torch.randn(batch, active, generator=gen))


@pytest.mark.parametrize("bias", [True, False])
def test_sparse_product_matches_dense_forward_and_backward(bias):
    layer = torch.nn.Linear(50, 7, bias=bias)
    x = _sparse(6, 50, 5).requires_grad_()
    with torch.no_grad():
        x[1, x[1] != 0] = torch.tensor([1.0, 2.0, 0.0, 0.0, 3.0])  # padding entries must add nothing
    target = torch.randn(6, 7)
    dense_out = layer(x)
    grads_dense = torch.autograd.grad(((dense_out - target) ** 2).sum(), [x, *layer.parameters()])
    sparse_out = sparse_input_linear(layer, x)
    grads_sparse = torch.autograd.grad(((sparse_out - target) ** 2).sum(), [x, *layer.parameters()])
    torch.testing.assert_close(sparse_out, dense_out)
    # The input gradient is returned at the non-zero entries only (the RSM's non-winners have a
    # zero derivative anyway); everything else matches exactly.
    active = x.detach() != 0
    torch.testing.assert_close(grads_sparse[0], grads_dense[0] * active)
    for dense, sparse in zip(grads_dense[1:], grads_sparse[1:]):
        torch.testing.assert_close(sparse, dense)


def test_dense_or_empty_input_falls_back():
    assert active_entries(torch.randn(4, 20), max_density=0.25) is None
    assert active_entries(torch.zeros(4, 20), max_density=0.25) is None
    index = active_entries(_sparse(4, 20, 3), max_density=0.25)
    assert index is not None and index.shape == (4, 3)


@pytest.mark.parametrize("name", ["brsm", "pbrsm"])
def test_rsm_sparse_step_equals_dense_step(name):
    options = {"groups": 40, "k": 5, "classifier_hidden": 16}
    dense = build_learner(name, options, 12, 3)
    sparse = build_learner(name, {**options, "sparse_products": True}, 12, 3)
    sparse.load_state_dict(dense.state_dict())
    gen = torch.Generator().manual_seed(1)
    states = [m.initial_state(4, "cpu") for m in (dense, sparse)]
    for _ in range(3):  # the second and third steps have a sparse recurrent input
        batch = Batch(torch.randn(4, 12, generator=gen), torch.randint(0, 3, (4,), generator=gen),
                      torch.randn(4, 12, generator=gen), torch.randint(0, 3, (4,), generator=gen))
        outs = []
        for i, model in enumerate((dense, sparse)):
            model.zero_grad()
            states[i], out = model.learn(states[i], batch)
            outs.append(out)
        torch.testing.assert_close(outs[1].logits, outs[0].logits)
        for (pname, p_dense), p_sparse in zip(dense.named_parameters(), sparse.parameters()):
            torch.testing.assert_close(p_sparse.grad, p_dense.grad, msg=pname)

"""model.compile on the online learners' cells: torch.compile of the cell step gives the eager
step's outputs and gradients to float32 rounding, in training and in eval mode (the Phased LSTM's
leak differs between them), and keeps nothing compiled in the state dict."""
import torch

from nobptt.learners.registry import build_learner
from nobptt.tasks.base import Batch


def episode(steps=6, batch=4, inputs=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for t in range(steps):
        x = torch.randn(batch, inputs, generator=gen)
        x[:, -1] = float(t) + torch.rand(batch, generator=gen)  # the Phased LSTM's timestamp channel
        y = torch.randint(0, 2, (batch,), generator=gen)
        out.append(Batch(x, y, x, y, reset=torch.full((batch,), t == 0), ends_sequence=t == steps - 1))
    return out


def run(learner, batches):
    state = learner.initial_state(4, "cpu")
    outputs = []
    for b in batches:
        state, out = learner.learn(state, b)
        outputs.append(out.logits)
    learner.eval()
    state = learner.initial_state(4, "cpu")
    for b in batches:
        state, logits = learner.infer(state, b)
        outputs.append(logits)
    learner.train()
    return torch.stack(outputs), {n: p.grad.clone() for n, p in learner.named_parameters()}


def test_a_compiled_phased_lstm_step_matches_the_eager_one():
    torch.manual_seed(0)
    eager = build_learner("bptt", {"cell": "plstm", "hidden": 8, "update_every": 0}, 3, 2)
    compiled = build_learner("bptt", {"cell": "plstm", "hidden": 8, "update_every": 0, "compile": True}, 3, 2)
    compiled.load_state_dict(eager.state_dict())
    batches = episode()
    (a, grads_a), (b, grads_b) = run(eager, batches), run(compiled, batches)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=1e-4, atol=1e-6)
    assert "_compiled_step" in compiled.__dict__ and set(compiled.state_dict()) == set(eager.state_dict())

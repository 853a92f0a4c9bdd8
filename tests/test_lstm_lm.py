"""The windowed LSTM language model: exact forgetting inside a window, tBPTT gradients, SGD decay."""
import pytest
import torch
import torch.nn.functional as F

from nobptt.learners.registry import build_learner
from nobptt.tasks.base import Batch

V, B, W = 7, 4, 5


def batches(n, seed=0, reset_at=()):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (n + 1, B), generator=g)
    out = []
    for t in range(n):
        reset = torch.zeros(B, dtype=torch.bool)
        if t in reset_at:
            reset[1] = True
        out.append(Batch(torch.zeros(B, 3), ids[t], torch.zeros(B, 3), ids[t + 1], reset=reset))
    return out


def model():
    torch.manual_seed(0)
    return build_learner("lstm_lm", {"hidden": 6, "window": W}, 3, V)


def stepwise_loss(lm, steps):
    """Reference: one step at a time, zeroing a stream's state where it is reset."""
    h = c = torch.zeros(lm.config.layers, B, lm.config.hidden)
    losses = []
    for batch in steps:
        keep = (~batch.reset).float().view(1, -1, 1)
        out, (h, c) = lm.lstm(lm.embedding(batch.label).unsqueeze(0), (h * keep, c * keep))
        losses.append(F.cross_entropy(lm.output(out[0]), batch.target_label))
    return torch.stack(losses).sum()  # summed over the window, averaged over streams (Zaremba et al.)


@pytest.mark.parametrize("reset_at", [(), (0,), (2,), (2, 3)])
def test_window_gradient_equals_stepwise_tbptt_with_forgetting(reset_at):
    lm = model()
    steps = batches(W, reset_at=reset_at)
    state = lm.initial_state(B, "cpu")
    for i, batch in enumerate(steps):
        state, out = lm.learn(state, batch)
        assert out.update == (i == W - 1) and (out.logits is None) == (i < W - 1)
    windowed = {n: p.grad.clone() for n, p in lm.named_parameters()}
    lm.zero_grad()
    stepwise_loss(lm, steps).backward()
    for n, p in lm.named_parameters():
        torch.testing.assert_close(windowed[n], p.grad, rtol=1e-5, atol=1e-6, msg=n)


def test_no_gradient_crosses_a_window_boundary():
    lm = model()
    state = lm.initial_state(B, "cpu")
    for batch in batches(W):
        state, _ = lm.learn(state, batch)
    assert not state["h"].requires_grad and not state["c"].requires_grad and state["inputs"] == []


def test_infer_matches_the_training_forward():
    lm = model()
    steps = batches(W, reset_at=(3,))
    state = lm.initial_state(B, "cpu")
    for batch in steps:
        state, logits = lm.infer(state, batch)
    with torch.no_grad():
        ref, _, _ = lm._run(torch.stack([b.label for b in steps]), *(torch.zeros(2, B, 6),) * 2,
                            [b.reset for b in steps])
    torch.testing.assert_close(logits, ref[-1])


def test_sgd_step_decay_in_the_trainer(tmp_path):
    from nobptt.errors import ConfigError
    from nobptt.train.config import TrainConfig
    from nobptt.train.optim import OptimConfig, decays_done
    from nobptt.train.trainer import Trainer

    class Steps:
        batch_size, input_dim, n_classes, length = B, 3, V, None

        def __init__(self):
            self.items, self.i = batches(40), 0

        def next_batch(self):
            self.i += 1
            return self.items[(self.i - 1) % 40]

        def ceilings(self):
            return {}

        def state_dict(self):
            return {"i": self.i}

        def load_state_dict(self, s):
            self.i = s["i"]

    cfg = TrainConfig(steps=30, epoch_steps=10, eval_every=0, progress=False, checkpoint_every=0)
    optim = OptimConfig(optimizer="sgd", lr=1.0, lr_decay=0.5, lr_decay_every=10, lr_decay_from=15)
    trainer = Trainer(model(), Steps(), cfg, tmp_path, optim=optim)
    assert isinstance(trainer.optimizer, torch.optim.SGD)
    lrs = []
    for _ in range(30):
        trainer.train_step()
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
    assert lrs[13] == 1.0 and lrs[14] == 0.5 and lrs[23] == 0.5 and lrs[24] == 0.25
    assert [0.5 ** decays_done(optim, i + 1) for i in range(30)] == lrs  # what a resume sets
    with pytest.raises(ConfigError, match="optimizer"):
        OptimConfig(optimizer="rmsprop")

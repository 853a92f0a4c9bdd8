"""A tiny deterministic, checkpointable stream for trainer tests (no data files needed)."""
import torch

from nobptt.tasks.base import Batch


class CycleStream:
    """B streams walking the label cycle 0,1,...,C-1 with noisy one-hot inputs."""

    def __init__(self, batch_size=8, n_classes=4, seed=0):
        self.batch_size, self.n_classes, self.input_dim = batch_size, n_classes, n_classes
        self.gen = torch.Generator().manual_seed(seed)
        self.pos = torch.randint(0, n_classes, (batch_size,), generator=self.gen)

    def _render(self, labels):
        noise = 0.1 * torch.randn(len(labels), self.input_dim, generator=self.gen)
        return torch.nn.functional.one_hot(labels, self.n_classes).float() + noise

    def next_batch(self):
        now, nxt = self.pos, (self.pos + 1) % self.n_classes
        self.pos = nxt
        return Batch(self._render(now), now, self._render(nxt), nxt)

    def ceilings(self):
        return {"bayes": 1.0}

    def state_dict(self):
        return {"gen": self.gen.get_state(), "pos": self.pos.clone()}

    def load_state_dict(self, state):
        self.gen.set_state(state["gen"])
        self.pos = state["pos"].clone()

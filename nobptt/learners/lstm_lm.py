"""Word-level LSTM language model trained by truncated BPTT: the PTB baseline of Zaremba et al. 2014.

The "small" configuration of "Recurrent Neural Network Regularization" (2 layers of 200 units, a
learned 200-d embedding, no dropout, weights uniform in +-0.1, windows of 20 steps, plain SGD at
learning rate 1 halved every epoch after the fourth, gradient norm clipped at 5, 13 epochs, batch
20) reports 120.7 validation and 114.5 test perplexity. The medium one (650 units, dropout 0.5,
39 epochs) is the same learner with other settings (nobptt/experiments/ptb_lstm_medium.toml).

The learner reads the current token's id (``batch.label``) through its own embedding and ignores
the task's fixed embedding ``batch.x``. The trainer hands it one time step at a time; it collects
a window of ``window`` steps and then runs the fused multi-layer LSTM over the whole window at once
(one forward, one backward: k1 = k2 = window). Streams that must forget (``batch.reset``) inside a
window are handled exactly by running the window in segments split at those steps.

Prequential logits are only returned at the window's last step (the others have not been computed
yet when the trainer asks), so the training accuracy covers one step in ``window``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nobptt.learners.base import Learner, State, StepOutput
from nobptt.learners.registry import register_learner
from nobptt.tasks.base import Batch
from nobptt.validation import check_ranges


@dataclass
class LSTMLMConfig:
    hidden: int = 200  # units per layer (= embedding size, as in Zaremba et al.)
    layers: int = 2
    window: int = 20  # tBPTT window (steps unrolled), k1 = k2
    dropout: float = 0.0  # on the embedding, between layers and before the softmax (medium: 0.5)
    init_scale: float = 0.1  # every weight uniform in [-init_scale, init_scale]

    def __post_init__(self) -> None:
        check_ranges(self, positive="hidden layers window", non_negative="init_scale", open_unit="dropout")


# [optim] defaults: lr 1 with optim.optimizer = "sgd" (Zaremba et al.; ~1e-3 for Adam), the global
# gradient norm clipped at 5 per update
LSTM_LM_OPTIM = {"lr": 1.0, "grad_clip": 5.0}


@register_learner("lstm_lm", config=LSTMLMConfig, optim=LSTM_LM_OPTIM,
                  description="word-level LSTM language model, tBPTT over windows (Zaremba et al. 2014)")
class LSTMLanguageModel(Learner):
    def __init__(self, config: LSTMLMConfig, input_dim: int, n_classes: int) -> None:
        super().__init__()
        c = self.config = config
        if c.window < 1 or c.layers < 1 or c.hidden < 1:
            raise ValueError(f"window, layers and hidden must be >= 1 (got {c.window}, {c.layers}, {c.hidden})")
        if not 0.0 <= c.dropout < 1.0:
            raise ValueError(f"dropout={c.dropout} must be in [0, 1)")
        self.embedding = nn.Embedding(n_classes, c.hidden)
        self.lstm = nn.LSTM(c.hidden, c.hidden, num_layers=c.layers, dropout=c.dropout if c.layers > 1 else 0.0)
        self.drop = nn.Dropout(c.dropout)
        self.output = nn.Linear(c.hidden, n_classes)
        for p in self.parameters():
            nn.init.uniform_(p, -c.init_scale, c.init_scale)

    def initial_state(self, batch_size: int, device: torch.device | str) -> State:
        zeros = torch.zeros(self.config.layers, batch_size, self.config.hidden, device=device)
        return {"h": zeros, "c": zeros.clone(), "inputs": [], "targets": [], "resets": []}

    def _run(self, ids: torch.Tensor, h: torch.Tensor, c: torch.Tensor, resets: list[torch.Tensor | None]):
        """Logits (T, B, V) for the input ids (T, B); state zeroed for streams reset before step t."""
        outputs, start = [], 0
        cuts = [t for t, r in enumerate(resets) if r is not None and bool(r.any())] + [len(resets)]
        for cut in cuts:
            if cut > start:
                out, (h, c) = self.lstm(self.drop(self.embedding(ids[start:cut])), (h, c))
                outputs.append(out)
            if cut < len(resets):  # zero the forgetting streams' state before step `cut`
                keep = (~resets[cut]).to(h.dtype).view(1, -1, 1)
                h, c = h * keep, c * keep
            start = cut
        return self.output(self.drop(torch.cat(outputs))), h, c

    def learn(self, state: State, batch: Batch) -> tuple[State, StepOutput]:
        state = {**state, "inputs": state["inputs"] + [batch.label], "targets": state["targets"] + [batch.target_label],
                 "resets": state["resets"] + [batch.reset]}
        if len(state["inputs"]) < self.config.window:
            return state, StepOutput(logits=None, update=False)
        logits, h, c = self._run(torch.stack(state["inputs"]), state["h"], state["c"], state["resets"])
        targets = torch.stack(state["targets"])
        token_loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        # Zaremba et al. minimise the loss summed over the window's steps and averaged over the
        # streams, so their learning rate 1 is per step of the window: scale the mean to match.
        (token_loss * len(state["inputs"])).backward()  # the trainer then clips every parameter
        fresh = {"h": h.detach(), "c": c.detach(), "inputs": [], "targets": [], "resets": []}
        return fresh, StepOutput(logits[-1].detach(), {"cross_entropy": token_loss.item()}, update=True)

    @torch.no_grad()
    def infer(self, state: State, batch: Batch) -> tuple[State, torch.Tensor]:
        logits, h, c = self._run(batch.label.unsqueeze(0), state["h"], state["c"], [batch.reset])
        return {**state, "h": h, "c": c}, logits[0]

    def param_groups(self) -> list[dict]:
        return [{"params": list(self.parameters()), "name": "lstm_lm"}]

    def clip_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())

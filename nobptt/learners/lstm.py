"""LSTM trained by truncated BPTT, tBPTT(k1, k2) in Williams & Peng's sense, as a fair baseline.

Every ``k1`` steps the losses of the last ``k1`` steps are back-propagated through the last
``k2`` steps. ``k1 == k2`` is the usual non-overlapping-window scheme; ``k1 = 1, k2 = 30`` is the
scheme of the bRSM paper's baseline (docs/ssmnist.md#the-lstm-baseline-done-fairly).

Differences from the reference baseline, on purpose (docs/ssmnist.md#the-lstm-baseline-done-fairly):
* the classifier reads the LSTM's hidden state, not its decoded image, and has its own learning
  rate (tuned on held-out data, see results/);
* gradients flow through the cell state as well as the hidden state;
* every window is back-propagated exactly once: no stale ``.grad`` re-pushed from older losses.

The state carries the window's inputs and the hidden state at its start, so a checkpoint taken
mid-window resumes exactly; when ``k1 == k2`` the forward graph of the open window is also kept
(key ``_graph``, never checkpointed) so that a window costs one forward and one backward.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nobptt.learners.base import Learner, State, StepOutput, forget_streams
from nobptt.learners.heads import ClassifierHead
from nobptt.learners.registry import register_learner
from nobptt.tasks.base import Batch
from nobptt.validation import check_ranges

OBJECTIVES = ("both", "prediction")


@dataclass
class LSTMConfig:
    hidden: int = 450  # parameter-matched to the 1000-cell bRSM (docs/ssmnist.md#the-lstm-baseline-done-fairly)
    k1: int = 1  # update interval (steps)
    k2: int = 30  # truncation window (steps back-propagated through)
    reset_every: int = 0  # zero the state every N steps (a multiple of k1); 0 = never
    objective: str = "both"  # both: next-image MSE + next-label CE through time; prediction: MSE only
    decoder: bool = True  # predict the next input (MSE), as bRSM does
    classifier_hidden: int = 1200
    # [optim]: lr (the cell and decoder), classifier_lr, grad_clip (the cell's gradient norm only,
    # clip_parameters) are in LSTM_OPTIM below

    def __post_init__(self) -> None:
        check_ranges(self, positive="hidden k1 k2", non_negative="reset_every classifier_hidden")


# the [optim] defaults of this learner (nobptt.train.optim.OptimConfig)
LSTM_OPTIM = {"lr": 1e-3, "classifier_lr": 1e-3, "grad_clip": 0.0}


@register_learner("lstm", config=LSTMConfig, optim=LSTM_OPTIM,
                  description="LSTM trained by truncated BPTT(k1, k2), the baseline (state carried across windows)")
class LSTMLearner(Learner):
    def __init__(self, config: LSTMConfig, input_dim: int, n_classes: int) -> None:
        super().__init__()
        c = self.config = config
        if not 1 <= c.k1 <= c.k2:
            raise ValueError(f"tBPTT needs 1 <= k1 <= k2, got k1={c.k1}, k2={c.k2}")
        if c.reset_every and c.reset_every % c.k1:
            raise ValueError(f"reset_every={c.reset_every} must be a multiple of k1={c.k1}")
        if c.objective not in OBJECTIVES:
            raise ValueError(f"objective={c.objective!r} must be one of {OBJECTIVES}")
        self.cell = nn.LSTMCell(input_dim, c.hidden)
        self.decoder = nn.Linear(c.hidden, input_dim) if c.decoder else None
        self.classifier = ClassifierHead(c.hidden, c.classifier_hidden, n_classes, init_std=None)

    def initial_state(self, batch_size: int, device: torch.device | str) -> State:
        zeros = torch.zeros(batch_size, self.config.hidden, device=device)
        return {"h": zeros, "c": zeros.clone(), "steps": 0, "window": [], "starts": []}

    # -- one step of the network ------------------------------------------------------------
    def _cell(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        h, c = self.cell(x, (h, c))
        features = h if self.config.objective == "both" else h.detach()
        return h, c, self.classifier(features)

    def _loss(self, h: torch.Tensor, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        loss = F.cross_entropy(logits, batch.target_label)
        if self.decoder is not None:
            loss = loss + F.mse_loss(self.decoder(h), batch.target_x)
        return loss

    # -- training -------------------------------------------------------------------------
    def learn(self, state: State, batch: Batch) -> tuple[State, StepOutput]:
        cfg = self.config
        state = dict(state)
        h, c = state["h"], state["c"]
        if batch.reset is not None:
            h, c = (forget_streams({"h": h, "c": c}, batch.reset)[k] for k in ("h", "c"))
        if cfg.k1 == cfg.k2:  # windows do not overlap: only the state at the window's start is needed
            if state["steps"] % cfg.k1 == 0:
                state["starts"], state["window"] = [(h.detach(), c.detach())], []
        else:  # sliding window: the state before each of the last k2 steps
            state["starts"] = (state["starts"] + [(h.detach(), c.detach())])[-cfg.k2:]
        state["window"] = (state["window"] + [batch])[-cfg.k2:]
        keep_graph = cfg.k1 == cfg.k2 and (state["steps"] % cfg.k1 == 0 or "_graph" in state)
        with torch.set_grad_enabled(keep_graph):
            h, c, logits = self._cell(batch.x, h, c)
            if keep_graph:
                step_loss = self._loss(h, logits, batch)
                state["_graph"] = state.get("_graph", 0) + step_loss
        state["h"], state["c"], state["steps"] = h, c, state["steps"] + 1
        update = state["steps"] % cfg.k1 == 0
        losses = {}
        if update:
            total = state.pop("_graph", None)
            if total is None:
                total = self._replay_window(state)
            total.backward()
            losses["loss"] = total.item() / cfg.k1  # the trainer then clips clip_parameters()
            state["h"], state["c"] = h.detach(), c.detach()
            if cfg.reset_every and state["steps"] % cfg.reset_every == 0:
                fresh = self.initial_state(h.shape[0], h.device)
                state.update({k: v for k, v in fresh.items() if k != "steps"})
        return state, StepOutput(logits.detach(), losses, update=update)

    def _replay_window(self, state: State) -> torch.Tensor:
        """Re-run the stored window from its start state with autograd; loss of the last k1 steps."""
        h, c = state["starts"][0]
        window = state["window"]
        total = 0
        for i, batch in enumerate(window):
            h, c, logits = self._cell(batch.x, h, c)
            if i >= len(window) - self.config.k1:
                total = total + self._loss(h, logits, batch)
        return total

    @torch.no_grad()
    def infer(self, state: State, batch: Batch) -> tuple[State, torch.Tensor]:
        h, c = state["h"], state["c"]
        h, c, logits = self._cell(batch.x, h, c)
        return {**state, "h": h, "c": c}, logits

    def param_groups(self) -> list[dict]:
        lstm = list(self.cell.parameters()) + (list(self.decoder.parameters()) if self.decoder else [])
        return [{"params": lstm, "name": "lstm"},
                {"params": list(self.classifier.parameters()), "name": "classifier"}]

    def clip_parameters(self) -> list[nn.Parameter]:
        """The cell only: the read-out's gradient is its own and the decoder's one step deep."""
        return list(self.cell.parameters())

"""RSM-family learners: flat bRSM, partitioned bRSM and the original RSM (docs/ssmnist.md#the-rsm-layer).

The learner = an RSM memory layer, a linear decoder predicting the next input (MSE), and a
classifier head trained on the *detached* recurrent output to predict the next label. One
optimizer step per time step; no gradient crosses a time step (see ``rsm_layer``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nobptt.learners.base import Learner, State, StepOutput, detach_state, forget_streams
from nobptt.learners.heads import ClassifierHead
from nobptt.learners.registry import register_learner
from nobptt.learners.rsm_layer import RSMLayer, RSMLayerConfig
from nobptt.learners.sparse_linear import sparse_input_linear
from nobptt.tasks.base import Batch
from nobptt.validation import check_ranges


@dataclass
class RSMConfig(RSMLayerConfig):
    """Fields shared by the RSM family: the memory layer's (rsm_layer.RSMLayerConfig) and these;
    defaults are the flat bRSM on ssMNIST (Flat_PAGI9). Learning rates: [optim] (RSM_OPTIM)."""

    decoder_bias: bool = True
    classifier_hidden: int = 1200
    classifier_slope: float = 0.01
    classifier_logit_leaky: bool = False
    # "bfloat16": the classifier's training forward and backward run under autocast (weights, Adam's
    # state and every evaluation stay float32). On PTB its 1200 x 10,000 output layer is most of a
    # classifier-phase step; docs/ptb.md#speed compares the recorded runs' training time and their
    # validation curves at equal steps.
    classifier_precision: str = "float32"
    # Schedules (docs/ptb.md#the-brsm-model). The memory learns for ``memory_steps`` training steps, then is
    # frozen with boosting switched off (0 = never frozen); the classifier learns from step
    # ``classifier_from_step`` on. The classifier reads a detached state, so starting it at the
    # freeze leaves the memory exactly as it would be and saves the classifier's cost (~80% of a
    # PTB step) during the memory phase; the reference trained both from step 0, so its classifier
    # had more updates, but its early ones chased a representation that was still changing.
    memory_steps: int = 0
    classifier_from_step: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ranges(self, non_negative="classifier_hidden memory_steps classifier_from_step")
        if self.classifier_precision not in CLASSIFIER_PRECISIONS:
            raise ValueError(f"model.classifier_precision={self.classifier_precision!r} must be one of "
                             f"{sorted(CLASSIFIER_PRECISIONS)}")


CLASSIFIER_PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


# [optim] defaults of the RSM family: Adam at 5e-4 for the memory (layer + decoder) and the
# classifier; local updates, never clipped (clip_parameters() is None)
RSM_OPTIM = {"lr": 5e-4, "classifier_lr": 5e-4}


@dataclass
class PartitionedBRSMConfig(RSMConfig):
    """Flat_PAGI9_FP: 7% feed-forward-only, 8% integrating, 85% recurrent-only (docs/ssmnist.md#the-rsm-layer)."""

    ff_fraction: float = 0.07
    rec_fraction: float = 0.85


@dataclass
class OriginalRSMConfig(RSMConfig):
    """ORSM_PAGI9: 200 groups x 6 cells, k = 25, inhibition gamma = 0.5 (docs/ssmnist.md#the-rsm-layer)."""

    groups: int = 200
    cells_per_group: int = 6
    k: int = 25
    selection: str = "inhibition"
    inhibition_decay: float = 0.5
    boost_strength: float = 0.0


@register_learner("rsm", config=OriginalRSMConfig, optim=RSM_OPTIM,
                  description="original RSM: groups x cells with inhibition (Rawlinson et al. 2019)")
@register_learner("pbrsm", config=PartitionedBRSMConfig, optim=RSM_OPTIM,
                  description="partitioned bRSM: feed-forward-only / integrating / recurrent-only cell blocks")
@register_learner("brsm", config=RSMConfig, optim=RSM_OPTIM,
                  description="flat bRSM: one k-WTA population with boosting (Gordon et al. 2019)")
class RSMLearner(Learner):
    def __init__(self, config: RSMConfig, input_dim: int, n_classes: int) -> None:
        super().__init__()
        self.config = config
        c = config
        self.layer = RSMLayer(input_dim, c)
        # The decoder reads one value per group (the winning cell's), docs/ssmnist.md#the-rsm-layer.
        self.decoder = nn.Linear(c.groups, input_dim, bias=c.decoder_bias)
        nn.init.normal_(self.decoder.weight, std=c.init_std)
        if self.decoder.bias is not None:
            nn.init.zeros_(self.decoder.bias)
        self.classifier = ClassifierHead(self.layer.units, c.classifier_hidden, n_classes,
                                         c.classifier_slope, c.init_std, c.classifier_logit_leaky)
        self.register_buffer("steps_learned", torch.zeros((), dtype=torch.long))

    def memory_learning(self) -> bool:
        return self.config.memory_steps == 0 or int(self.steps_learned) < self.config.memory_steps

    def classifier_learning(self) -> bool:
        return int(self.steps_learned) >= self.config.classifier_from_step

    def initial_state(self, batch_size: int, device: torch.device | str) -> State:
        return self.layer.initial_state(batch_size, device)

    def _memory_step(self, state: State, batch: Batch, learn: bool):
        state = detach_state(forget_streams(state, batch.reset))  # 1-step truncation
        out, new_state = self.layer(batch.x, state, learn=learn)
        prediction = (sparse_input_linear(self.decoder, out.group_y) if self.config.sparse_products
                      else self.decoder(out.group_y))
        return new_state, prediction

    def learn(self, state: State, batch: Batch) -> tuple[State, StepOutput]:
        memory, classifier = self.memory_learning(), self.classifier_learning()
        losses: dict[str, float] = {}
        with torch.set_grad_enabled(memory):
            new_state, prediction = self._memory_step(state, batch, learn=memory)
        total = torch.zeros((), device=batch.x.device)
        if memory:
            memory_loss = F.mse_loss(prediction, batch.target_x)
            losses["memory_mse"], total = memory_loss.item(), total + memory_loss
        logits = None
        if classifier:
            logits = self._train_classifier(new_state["yhat"])  # new_state is detached
            classifier_loss = F.cross_entropy(logits, batch.target_label)
            losses["classifier_ce"], total = classifier_loss.item(), total + classifier_loss
        # The two losses share no parameters (the classifier reads a detached state), so one
        # backward of their sum gives each part exactly its own gradient.
        if total.requires_grad:
            total.backward()
        self.steps_learned += 1
        if self.config.memory_steps and int(self.steps_learned) == self.config.memory_steps:
            self.layer.winners.beta.zero_()  # boosting ends with memory learning (docs/ptb.md#the-brsm-model)
        return new_state, StepOutput(None if logits is None else logits.detach(), losses)

    def _train_classifier(self, features: torch.Tensor) -> torch.Tensor:
        dtype = CLASSIFIER_PRECISIONS[self.config.classifier_precision]
        if dtype is None:
            return self.classifier(features)
        with torch.autocast(features.device.type, dtype=dtype):
            logits = self.classifier(features)
        return logits.float()  # the softmax and cross-entropy in float32

    @torch.no_grad()
    def infer(self, state: State, batch: Batch) -> tuple[State, torch.Tensor]:
        new_state, _ = self._memory_step(state, batch, learn=False)
        return new_state, self.classifier(new_state["yhat"])

    def param_groups(self) -> list[dict]:
        memory = list(self.layer.parameters()) + list(self.decoder.parameters())
        return [{"params": memory, "name": "memory"},
                {"params": list(self.classifier.parameters()), "name": "classifier"}]

    def on_epoch_end(self) -> None:
        self.layer.winners.decay_boost()

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


"""The BPTT baselines on the shared cells: ``bptt`` (full BPTT over the update window) and
``tbptt`` (truncated BPTT, Williams & Peng 1990's BPTT(k; k)), docs/online.md#bptt-baselines-on-the-same-cells.

They use the same cells, readout, step loss and config fields as the online estimators
(nobptt/learners/online/base.py), so a comparison between them differs only in how the gradient is
obtained: by autograd through the unrolled window here, by traces carried forward there.

A *window* is the stretch of steps whose graph is kept. Each step runs the cell with autograd and
adds this step's loss l_t to the window's total; when the window closes, the total is
back-propagated through the window, every cell and readout gradient lands in ``p.grad``, and the
state is carried into the next window detached (no gradient crosses a window boundary). A window
closes

* ``bptt``: at an update (``update_every`` steps, or with 0 when the task ends every stream's
  episode, ``Batch.ends_sequence``): the gradient of sum_t l_t over the update window, which is
  what RTRL accumulates (tests/test_online_bptt.py checks it equals the unrolled oracle to 1e-12);
* ``tbptt``: every ``k`` steps, and at an update and at an episode's end. ``update_every`` must be 0
  or a multiple of ``k`` so that the truncation is the configured one: a truncation silently
  shortened to the update interval is the naming trap of the reference notes (a "TBPTT" that is
  really TBPTT(1), related work §2.4 of the issue's notes; docs/online.md#the-naming-trap).
  With ``update_every == k`` (the default) this is the usual non-overlapping-window scheme: every k
  steps the losses of the last k steps are back-propagated through those k steps, then the update.

Closing at an episode's end does not change a gradient (the next episode's streams restart from the
cell's initial state, a constant), it frees the graph and aligns tbptt's windows with episodes.

Resume is exact: the state keeps the window's batches and the state at its start, so a checkpoint
taken mid-window (which drops the open graph, the transient ``_``-keys) rebuilds the same graph by
replaying the window with the same parameters before the next step (as nobptt/learners/lstm.py
does); the replay runs the same operations on the same values, so the gradient is bit-identical.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nobptt.errors import ConfigError
from nobptt.learners.base import State, StepOutput
from nobptt.learners.online import base
from nobptt.learners.online.base import ONLINE_OPTIM, OnlineConfig, OnlineLearner, cell_metrics, step_loss
from nobptt.learners.registry import register_learner
from nobptt.tasks.base import Batch
from nobptt.validation import FieldError, check_ranges

# a window (bptt with update_every = 0) longer than this means the task never ends an episode: the
# graph would grow without bound, so the learner stops with what to set instead
MAX_WINDOW = 100_000


@dataclass
class BPTTConfig(OnlineConfig):
    # the update window is the episode by default: BPTT over the whole sequence (update_every = 1
    # would be BPTT through one step, i.e. no temporal credit assignment at all)
    update_every: int = 0


@dataclass
class TBPTTConfig(OnlineConfig):
    k: int = 10  # truncation: steps back-propagated through, and the window length
    update_every: int = 10  # 0 (at episode ends) or a multiple of k; k = BPTT(k; k)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ranges(self, positive="k")
        if self.update_every % self.k:
            raise FieldError("update_every", self.update_every,
                             f"must be 0 or a multiple of k={self.k} (an update closes the window, so a "
                             f"shorter interval would truncate at update_every, not at k); set "
                             f"model.update_every={self.k}")


class WindowBPTT(OnlineLearner):
    """Autograd through the open window of steps; ``truncation`` None = the update window only."""

    truncation: int | None = None

    def initial_traces(self, batch_size: int, device: torch.device | str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        return {}  # no trace: the window's batches and its start state are the memory

    def initial_state(self, batch_size: int, device: torch.device | str) -> State:
        state = super().initial_state(batch_size, device)
        return {**state, "start": state["h"], "window": []}

    def _forward(self, h: torch.Tensor, batch: Batch, closes: bool
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, dict[str, float]]:
        """One step with the live parameters (the graph reaches them): h', output, l_t, logged.
        l_t is None at a step that scores no stream and does not close the window (``closes``): its
        loss is 0 with a zero gradient, so it is left out of the graph. The gradient is the same to
        the bit (autograd would only add those zeros), and a task scored at an episode's last step
        alone (the frequency task) saves the readout's and the loss's backward at every other step.
        The closing step's loss always stays, so the window's backward reaches every parameter
        even when no step in it is scored, as before."""
        params, x = self.cell.params(), batch.x.to(self._dtype)
        h_old = self.restarted_h(h, batch.reset)
        h = self.cell_step(params, h_old, x)
        if closes or base.scores_any(batch):
            output = self.predict(h)
            loss, logged = step_loss(output, batch)
        else:
            with torch.no_grad():
                output = self.predict(h)
            loss, logged = None, base.unscored_logs(batch)
        logged.update(cell_metrics(self.cell.step_metrics(params, h_old, x), batch.mask))
        return h, output, loss, logged

    def _replay(self, state: State) -> tuple[torch.Tensor, torch.Tensor]:
        """The open window's graph rebuilt from its start (after a resume): (h, sum of losses)."""
        h, total = state["start"], torch.zeros((), dtype=self._dtype, device=state["start"].device)
        for batch in state["window"]:  # an open window's steps did not close it
            h, _, loss, _ = self._forward(h, batch, closes=False)
            total = total if loss is None else total + loss
        return h, total

    def learn(self, state: State, batch: Batch) -> tuple[State, StepOutput]:
        window: list[Batch] = state["window"]
        with torch.enable_grad():
            if not window:
                start = state["h"].detach()
                h, total = start, torch.zeros((), dtype=self._dtype, device=start.device)
            else:
                start = state["start"]
                h, total = (state["_h"], state["_loss"]) if "_h" in state else self._replay(state)
        window = window + [batch]
        steps = state["steps"] + 1
        every = self.config.update_every
        update = steps % every == 0 if every else bool(batch.ends_sequence)
        if not every and not update and len(window) > MAX_WINDOW:
            raise ConfigError(f"model.update_every=0 but no episode ended in {MAX_WINDOW} steps: this task's "
                              f"streams have no episodes; set model.update_every to the window length")
        closes = update or bool(batch.ends_sequence) or (self.truncation is not None and len(window) == self.truncation)
        with torch.enable_grad():
            h, output, loss, logged = self._forward(h, batch, closes)
            total = total if loss is None else total + loss
        carried = {"h": h.detach(), "traces": {}, "steps": steps}
        if closes:
            total.backward()
            state = {**carried, "start": carried["h"], "window": []}
        else:
            state = {**carried, "start": start, "window": window, "_h": h, "_loss": total}
        return state, StepOutput(logits=output.detach(), losses=logged, update=update)

    def trace_formula(self) -> int:
        """No trace: BPTT carries nothing forward between windows but h. Its memory is the open
        window: the graph's activations, about window x B x the cell's intermediate values (the
        memory bench's saved bytes, linear in the window), and the window's batches and start state
        (in the learner state, so a checkpoint holds them; ``window_bytes``)."""
        return 0

    @staticmethod
    def window_bytes(state: State) -> int:
        """Bytes of the open window's start state and batches, what a mid-window checkpoint adds."""
        tensors = [state["start"]] if state["window"] else []
        for batch in state["window"]:
            tensors += [v for v in vars(batch).values() if isinstance(v, torch.Tensor)]
        return sum(v.numel() * v.element_size() for v in tensors)


@register_learner("bptt", config=BPTTConfig, optim=ONLINE_OPTIM,
                  description="BPTT on the online learners' cells: autograd through each update window (default the episode)")
class BPTT(WindowBPTT):
    truncation = None


@register_learner("tbptt", config=TBPTTConfig, optim=ONLINE_OPTIM,
                  description="truncated BPTT(k; k) on the online learners' cells: windows of k steps, state carried detached")
class TBPTT(WindowBPTT):
    @property
    def truncation(self) -> int:  # type: ignore[override]
        return self.config.k

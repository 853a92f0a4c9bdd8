"""Sparse Attentive Backtracking (Ke et al., NeurIPS 2018) and its LSTM baselines, one learner.

SAB (docs/sab.md#the-learner): an LSTM cell gives a provisional state h^_t; every ``k_att`` steps
the final state h_t is stored as a memory (the memory starts with one zero slot). Each step scores
every memory against h^_t, keeps the ``k_top`` best (the others get weight 0), adds the weighted
sum s_t of the kept memories to h^_t (h_t = h^_t + s_t; the cell state is untouched) and reads
the output from [h_t; s_t]. Gradients cross time only inside blocks of ``k_trunc`` steps (the
state entering a block is cut from the graph) and through the kept skip connections into the
memories, from where they continue into the memory's own block and its own skip connections.

The same learner gives the baselines in one harness (``attention`` and ``k_trunc``):
* ``attention="none", k_trunc=0``: LSTM, full BPTT over the episode;
* ``attention="none", k_trunc=k``: LSTM, truncated BPTT in blocks of k steps;
* ``attention="dense", k_att=1, k_trunc=0``: LSTM with softmax self-attention over all its past
  states, full BPTT (not in the release: docs/sab.md#the-baselines-presets-of-the-same-learner).
These are registered as named presets (``sab_lstm_tbptt5``, ``sab_lstm_bptt``, ``sab_selfattn``:
``nobptt.learners.sab_config.PRESETS``); ``preset_of`` names the preset of a config.

Where we deliberately differ from the release (its quirks, docs/sab.md#where-we-differ-from-the-release-on-purpose), following the
paper's text instead:
* the sparsifier keeps exactly ``k_top`` memories (the release's shift by the k-th score zeroes it,
  leaving k-1) and normalises the kept scores by a softmax, also while there are at most k_top
  memories (the release then uses the raw, possibly negative scores as weights);
* the score is an MLP of the current state and the memory, v.tanh(W_q h^_t + W_m m_i + b), so the
  selection depends on the current state (``score="additive"``). The release's w.tanh([h^_t; m_i])
  separates into a state term and a memory term, which cancels in the selection and the weights;
  it is kept as ``score="concat"`` for comparison. ``score="dot"`` is a cheaper scaled dot product.

Memory: with truncation, training does not keep the episode's graph (the release does: its
truncation is a detach inside one graph, so its memory grows like BPTT's). A forward pass without
a graph stores the block-start states and the memories; then the blocks are recomputed one at a
time, last to first, each back-propagated with the gradient its memories received from later
blocks added in (the "backtracking"). This is exactly the gradient of the one-graph computation
(tested), at the cost of a second forward pass, with one block's graph plus the memories alive.
This file is the reference path (``model.impl = "reference"``, the code of every run recorded
before issue 41). ``model.impl = "fast"`` (the default) computes the same gradient with the
backward written out by hand: nobptt/learners/sab_fast.py, docs/sab.md#speed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nobptt.learners import sab_fast
from nobptt.learners.base import Learner, State, StepOutput
from nobptt.learners.registry import register_learner
from nobptt.learners.sab_config import PRESETS, SAB_OPTIM, SABConfig, preset_of  # noqa: F401  (re-exported)
from nobptt.tasks.base import Batch, bernoulli_scores

ATTENTION = ("sparse", "dense", "none")
SCORES = ("additive", "dot", "concat")
IMPLS = ("fast", "reference")
MAX_EPISODE = 100_000  # steps collected before an update when window = 0 and no episode ends


def sparse_weights(scores: torch.Tensor, k_top: int | None) -> torch.Tensor:
    """Attention weights (B, M) from scores (B, M): a softmax over the ``k_top`` largest scores of
    each row, exactly 0 elsewhere; all M are kept when M <= k_top or ``k_top`` is None."""
    if k_top is None or scores.shape[-1] <= k_top:
        return torch.softmax(scores, dim=-1)
    kept = scores.topk(k_top, dim=-1).indices
    mask = torch.full_like(scores, float("-inf")).scatter(-1, kept, 0.0)
    return torch.softmax(scores + mask, dim=-1)


class MemoryScorer(nn.Module):
    """Scores memories against the provisional state; keys are computed once per memory."""

    def __init__(self, hidden: int, attn_dim: int, score: str) -> None:
        super().__init__()
        self.score = score
        if score == "concat":  # w.tanh([h; m]) = w_h.tanh(h) + w_m.tanh(m); w ~ N(0, 0.01^2) as released
            self.w_state, self.w_memory = nn.Linear(hidden, 1, bias=False), nn.Linear(hidden, 1, bias=False)
            nn.init.normal_(self.w_state.weight, std=0.01)
            nn.init.normal_(self.w_memory.weight, std=0.01)
        else:
            self.query = nn.Linear(hidden, attn_dim)
            self.key_map = nn.Linear(hidden, attn_dim, bias=False)
            self.v = nn.Linear(attn_dim, 1, bias=False) if score == "additive" else None

    def key(self, memory: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., A) (A = 1 for concat)."""
        if self.score == "concat":
            return self.w_memory(torch.tanh(memory))
        return self.key_map(memory)

    def forward(self, state: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Scores (B, M) of keys (B, M, A) against the provisional state (B, H)."""
        if self.score == "concat":
            return keys.squeeze(-1) + self.w_state(torch.tanh(state))
        query = self.query(state)
        if self.score == "additive":
            return self.v(torch.tanh(query.unsqueeze(1) + keys)).squeeze(-1)
        return torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1) / keys.shape[-1] ** 0.5


def _register_presets(cls: type) -> type:
    """Register SABLearner under every name in sab_config.PRESETS (SAB and its LSTM baselines)."""
    for name, (config, description) in PRESETS.items():
        register_learner(name, config=config, optim=SAB_OPTIM, description=description, per_episode=True)(cls)
    return cls


@_register_presets
class SABLearner(Learner):
    def __init__(self, config: SABConfig, input_dim: int, n_classes: int) -> None:
        super().__init__()
        c = self.config = config
        if c.attention not in ATTENTION:
            raise ValueError(f"attention={c.attention!r} must be one of {ATTENTION}")
        if c.score not in SCORES:
            raise ValueError(f"score={c.score!r} must be one of {SCORES}")
        if c.impl not in IMPLS:
            raise ValueError(f"impl={c.impl!r} must be one of {IMPLS}")
        if min(c.hidden, c.k_top, c.k_att, c.attn_dim) < 1 or c.k_trunc < 0 or c.window < 0:
            raise ValueError("hidden, k_top, k_att, attn_dim must be >= 1 and k_trunc, window >= 0 "
                             f"(got {c.hidden}, {c.k_top}, {c.k_att}, {c.attn_dim}, {c.k_trunc}, {c.window})")
        self.cell = nn.LSTMCell(input_dim, c.hidden)
        with torch.no_grad():  # nn.LSTMCell orders its gates input, forget, cell, output
            self.cell.bias_ih[c.hidden:2 * c.hidden] += c.forget_bias
        self.attend = c.attention != "none"
        self.scorer = MemoryScorer(c.hidden, c.attn_dim, c.score) if self.attend else None
        self.head = nn.Linear(2 * c.hidden if self.attend else c.hidden, n_classes)
        self.k_top = c.k_top if c.attention == "sparse" else None

    def initial_state(self, batch_size: int, device: torch.device | str) -> State:
        zeros = torch.zeros(batch_size, self.config.hidden, device=device)
        return {"h": zeros, "c": zeros.clone(), "window": []}

    # -- the network ------------------------------------------------------------------------
    def _fresh_memories(self, h: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if not self.attend:
            return [], []
        zero = torch.zeros_like(h)
        return [zero], [self.scorer.key(zero)]

    def _step(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
              memories: torch.Tensor | list[torch.Tensor] | None, keys: torch.Tensor | None,
              selected: torch.Tensor | None = None):
        """One step: (h, c, output, kept). ``memories`` (B, M, H) and ``keys`` (B, M, A) are every
        memory, or, with ``selected`` given, only the ones to attend to (already chosen): the
        softmax over kept scores needs no others. ``memories`` may also be a list of (B, M_j, H)
        chunks, M in all (see _GraphMemories). ``kept`` (B, k) indexes the memories kept (None
        when all were)."""
        h_hat, c = self.cell(x, (h, c))
        if not self.attend:
            return h_hat, c, self.head(h_hat), None
        scores = self.scorer(h_hat, keys)
        kept = None
        if selected is None and self.k_top is not None and scores.shape[1] > self.k_top:
            kept = scores.topk(self.k_top, dim=-1).indices
        weights = sparse_weights(scores, self.k_top) if selected is None else torch.softmax(scores, -1)
        summary = _weighted_sum(weights, memories)
        h = h_hat + summary
        return h, c, self.head(torch.cat([h, summary], dim=-1)), kept

    def _stores(self, i: int) -> bool:
        """Whether the state after step i (0-based in the sequence) becomes a memory."""
        return self.attend and (i + 1) % self.config.k_att == 0

    @staticmethod
    def _step_loss(output: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Summed (weighted) loss of one step: squared error for values, cross-entropy for labels,
        Bernoulli cross-entropy summed over outputs for probabilities (``target_prob``)."""
        if batch.target_value is not None:
            per = ((output - batch.target_value) ** 2).sum(-1)
        elif batch.target_prob is not None:
            per = bernoulli_scores(output, batch.target_prob)[0]
        else:
            per = F.cross_entropy(output, batch.target_label, reduction="none")
        return (per * batch.weight).sum() if batch.weight is not None else per.sum()

    @staticmethod
    def _normaliser(steps: list[Batch]) -> float:
        total = sum(float(b.weight.sum()) if b.weight is not None else b.x.shape[0] for b in steps)
        return max(total, 1e-12)

    # -- training: one graph (full BPTT, and the oracle for the blockwise path) ---------------
    def sequence_loss(self, steps: list[Batch], h: torch.Tensor, c: torch.Tensor):
        """Mean loss of the sequence in one autograd graph, the state cut every k_trunc steps and
        the memories not cut: the release's semantics. Returns (loss, last output, h, c)."""
        memory = _GraphMemories(*self._fresh_memories(h)) if self.attend else None
        total, norm, out = 0.0, self._normaliser(steps), None
        for i, batch in enumerate(steps):
            if self.config.k_trunc and i and i % self.config.k_trunc == 0:
                h, c = h.detach(), c.detach()
            h, c, out, _ = self._step(batch.x, h, c, *(memory.view() if self.attend else (None, None)))
            total = total + self._step_loss(out, batch) / norm
            if self._stores(i):
                memory.append(h, self.scorer.key(h))
        return total, out, h, c

    # -- training: block by block, last to first (bounded memory) ------------------------------
    def _forward_without_graph(self, steps: list[Batch], h: torch.Tensor, c: torch.Tensor):
        """The sequence without a graph: block-start states, memory counts before each block, the
        memories (B, M, H), the kept indices of every step, and the last output, h, c."""
        k = self.config.k_trunc
        starts, counts, kept_per_step, out = [], [], [], None
        buffer = _MemoryBuffer(*self._fresh_memories(h)) if self.attend else None
        with torch.no_grad():
            for i, batch in enumerate(steps):
                if i % k == 0:
                    starts.append((h, c))
                    counts.append(buffer.count if self.attend else 0)
                view = buffer.view() if self.attend else (None, None)
                h, c, out, kept = self._step(batch.x, h, c, *view)
                kept_per_step.append(kept)
                if self._stores(i):
                    buffer.append(h, self.scorer.key(h))
        # contiguous, so rows can be taken from it and gradients added to it without copies
        memories = buffer.view()[0].contiguous() if self.attend else None
        return starts, counts, memories, kept_per_step, out, h, c

    def _backward_by_blocks(self, steps: list[Batch], h: torch.Tensor, c: torch.Tensor):
        """Back-propagate the mean loss of ``steps`` (as :meth:`sequence_loss` with k_trunc > 0)
        keeping one block's graph at a time. Returns (loss value, last output, h, c).

        A step's output depends only on the memories it kept, so a block is recomputed from the
        kept memories alone (indices from the first pass), and the gradient it sends back to
        earlier memories is added at the kept rows only: the backward work per step is k_top
        memories, not all of them."""
        k, norm = self.config.k_trunc, self._normaliser(steps)
        starts, counts, stored, kept_per_step, out, h_end, c_end = self._forward_without_graph(steps, h, c)
        adjoint = torch.zeros_like(stored) if self.attend else None  # dLoss/dmemory from later blocks
        loss = 0.0
        # Without attention no gradient crosses a block, so the order does not matter.
        for b in reversed(range(len(starts))):
            h_b, c_b = starts[b]
            earlier = _EarlierMemories(stored, counts[b]) if self.attend else None
            new, objective = [], 0.0
            for i in range(b * k, min((b + 1) * k, len(steps))):
                view = self._recall(earlier, new, kept_per_step[i]) if self.attend else (None, None, None)
                h_b, c_b, out_b, _ = self._step(steps[i].x, h_b, c_b, *view)
                step_loss = self._step_loss(out_b, steps[i]) / norm
                loss += step_loss.item()
                objective = objective + step_loss
                if self._stores(i):
                    # the gradient that later blocks sent into this memory enters here
                    objective = objective + (h_b * adjoint[:, counts[b] + len(new)].clone()).sum()
                    new.append(h_b)
            objective.backward()
            if self.attend:
                earlier.add_gradients_to(adjoint)
        return loss, out, h_end, c_end

    def _recall(self, earlier: _EarlierMemories, new: list[torch.Tensor], kept: torch.Tensor | None):
        """The memories and keys a step attends to, as arguments of :meth:`_step`: all of them
        (``kept`` None), or only the kept rows, taken from the earlier blocks' memories (leaves)
        and this block's own (in the graph); keys are computed for those rows only."""
        if kept is None:
            memories = torch.cat([earlier.every_row()] + [m.unsqueeze(1) for m in new], 1)
            return memories, self.scorer.key(memories), None
        n = earlier.count
        memories = earlier.rows(kept.clamp(max=n - 1))
        if new:
            rows = (kept - n).clamp(min=0, max=len(new) - 1)
            memories = torch.where((kept >= n).unsqueeze(-1), _take_rows(torch.stack(new, 1), rows), memories)
        return memories, self.scorer.key(memories), kept

    def learn(self, state: State, batch: Batch) -> tuple[State, StepOutput]:
        cfg = self.config
        h, c, steps = state["h"], state["c"], state["window"]
        if batch.reset is not None and bool(batch.reset.any()):
            if not bool(batch.reset.all()):
                raise ValueError("the sab learner needs episodes that start together in every stream "
                                 "(synchronised resets); for token streams use contiguous chunks, for "
                                 "ptb_char_sentences task.packing=padded")
            zeros = torch.zeros_like(h)
            if steps:  # a stream wrapped around inside a window: learn from the open window first
                losses, _, _, _ = self._update(steps, h, c)
                return ({"h": zeros, "c": zeros.clone(), "window": [batch]},
                        StepOutput(logits=None, losses=losses, update=True))
            h, c = zeros, zeros.clone()
        steps = steps + [batch]
        full = len(steps) == cfg.window if cfg.window else batch.ends_sequence
        if not full:
            if len(steps) > MAX_EPISODE:
                raise ValueError(f"no episode ended in {MAX_EPISODE} steps: set model.window for streams "
                                 "without episodes")
            return {"h": h, "c": c, "window": steps}, StepOutput(logits=None, update=False)
        losses, out, h, c = self._update(steps, h, c)
        return ({"h": h.detach(), "c": c.detach(), "window": []},
                StepOutput(out.detach(), losses, update=True))

    def _update(self, steps: list[Batch], h: torch.Tensor, c: torch.Tensor):
        """Write the gradient of the mean loss over ``steps`` into p.grad: (the loss to log, last
        output, h, c)."""
        cfg = self.config
        if cfg.impl == "fast" and sab_fast.supports(self):
            return sab_fast.update(self, steps, h, c)
        if cfg.k_trunc and cfg.blockwise:
            loss, out, h, c = self._backward_by_blocks(steps, h, c)
        else:
            total, out, h, c = self.sequence_loss(steps, h, c)
            total.backward()
            loss = total.item()
        # the trainer then logs grad_parts()' norms and clips clip_parameters() ([optim] grad_clip*)
        return {"loss": loss}, out, h, c

    # -- inference: one step at a time ----------------------------------------------------------
    @torch.no_grad()
    def infer(self, state: State, batch: Batch) -> tuple[State, torch.Tensor]:
        h, c, t = state["h"], state["c"], state.get("t", 0)
        if batch.reset is not None and bool(batch.reset.any()):
            if not bool(batch.reset.all()):
                raise ValueError("the sab learner needs synchronised resets (every stream at once)")
            h, c, t = torch.zeros_like(h), torch.zeros_like(c), 0
        i = t % self.config.window if self.config.window else t  # step in the sequence
        buffer = state.get("memories")
        if self.attend and (i == 0 or buffer is None):
            buffer = _MemoryBuffer(*self._fresh_memories(h))
        h, c, out, _ = self._step(batch.x, h, c, *(buffer.view() if self.attend else (None, None)))
        if self._stores(i):
            buffer.append(h, self.scorer.key(h))
        return {**state, "h": h, "c": c, "t": t + 1, "memories": buffer}, out

    def param_groups(self) -> list[dict]:
        return [{"params": list(self.parameters()), "name": "sab"}]

    def clip_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())

    def grad_parts(self) -> dict[str, nn.Module]:
        """Where a burst starts: the recurrent cell, the attention or the read-out."""
        return {"lstm": self.cell, "head": self.head, **({"attention": self.scorer} if self.attend else {})}


class _MemoryBuffer:
    """Memories and keys of B streams in buffers that double when full (no autograd)."""

    def __init__(self, memories: list[torch.Tensor], keys: list[torch.Tensor]) -> None:
        self.memories, self.keys = torch.stack(memories, 1), torch.stack(keys, 1)
        self.count = len(memories)

    def append(self, memory: torch.Tensor, key: torch.Tensor) -> None:
        if self.count == self.memories.shape[1]:
            self.memories = torch.cat([self.memories, torch.empty_like(self.memories)], 1)
            self.keys = torch.cat([self.keys, torch.empty_like(self.keys)], 1)
        self.memories[:, self.count], self.keys[:, self.count] = memory, key
        self.count += 1

    def view(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.memories[:, :self.count], self.keys[:, :self.count]


class _GraphMemories:
    """Memories and keys inside an autograd graph (one-graph training: full BPTT with attention,
    the release's semantics), kept as chunks of CHUNK stacked memories plus a short tail.

    Stacking every memory at every step would make each step save a fresh (B, M, H) copy for
    the backward of its weighted sum, O(T^2 H) saved floats per sequence, and split its gradient
    into M pieces. The weighted sum is instead taken chunk by chunk (_weighted_sum), which saves
    only references to the shared chunks: measured (nobptt bench memory), dense self-attention at
    T = 1000 then holds 2,241 MiB for backward instead of 6,023, and took 18.7 s per update on one
    thread beside another job against 29.1 s before on two idle threads (docs/bench.md#sab-and-its-baselines;
    results/bench_memory_sab_chunked.csv). Scoring the key chunks one by one as well (no per-step concatenation of the keys) was
    tried and measured no faster, so the keys are still concatenated."""

    CHUNK = 32

    def __init__(self, memories: list[torch.Tensor], keys: list[torch.Tensor]) -> None:
        self.chunks: list[torch.Tensor] = []
        self.chunk_keys: list[torch.Tensor] = []
        self.tail, self.tail_keys = list(memories), list(keys)

    def append(self, memory: torch.Tensor, key: torch.Tensor) -> None:
        self.tail.append(memory)
        self.tail_keys.append(key)
        if len(self.tail) == self.CHUNK:
            self.chunks.append(torch.stack(self.tail, 1))
            self.chunk_keys.append(torch.stack(self.tail_keys, 1))
            self.tail, self.tail_keys = [], []

    def view(self) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(memory chunks, keys (B, M, A)) in storage order."""
        tail = [torch.stack(self.tail, 1)] if self.tail else []
        tail_keys = [torch.stack(self.tail_keys, 1)] if self.tail_keys else []
        return self.chunks + tail, torch.cat(self.chunk_keys + tail_keys, 1)


def _weighted_sum(weights: torch.Tensor, memories: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """sum_i weights[b, i] memories[b, i] as (B, H), memories one tensor or a list of chunks."""
    if isinstance(memories, torch.Tensor):
        return torch.bmm(weights.unsqueeze(1), memories).squeeze(1)
    summary, start = None, 0
    for chunk in memories:
        part = torch.bmm(weights[:, None, start:start + chunk.shape[1]], chunk).squeeze(1)
        summary = part if summary is None else summary + part
        start += chunk.shape[1]
    return summary


def _take_rows(pool: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """pool[b, rows[b, j]] as (B, r, H) by index_select, which keeps only the indices for backward
    (gather would keep all of ``pool``)."""
    return pool.reshape(-1, pool.shape[-1]).index_select(0, _flat_rows(rows, pool.shape[1])).view(
        *rows.shape, -1)


def _flat_rows(rows: torch.Tensor, size: int) -> torch.Tensor:
    """Row indices into a (B, size, H) tensor viewed as (B * size, H)."""
    return (rows + size * torch.arange(rows.shape[0], device=rows.device).unsqueeze(1)).flatten()


class _EarlierMemories:
    """The memories stored before a block, as leaves of the block's recomputation: the rows a
    step kept (one small leaf per step) or all of them (one leaf, shared by the block's steps that
    attend to every memory). After the block's backward their gradients are added into the
    adjoint at those rows (index_add), so a block costs O(k_top) per step, not O(memories)."""

    def __init__(self, stored: torch.Tensor, count: int) -> None:
        self.stored, self.count = stored, count  # stored: (B, M, H) contiguous, no graph
        self.leaves: list[tuple[torch.Tensor, torch.Tensor]] = []  # (leaf, flat rows of stored)
        self.every: torch.Tensor | None = None

    def rows(self, rows: torch.Tensor) -> torch.Tensor:
        leaf = _take_rows(self.stored, rows).requires_grad_(True)
        self.leaves.append((leaf, _flat_rows(rows, self.stored.shape[1])))
        return leaf

    def every_row(self) -> torch.Tensor:
        if self.every is None:
            B = self.stored.shape[0]
            self.every = self.rows(torch.arange(self.count, device=self.stored.device).expand(B, -1))
        return self.every

    def add_gradients_to(self, adjoint: torch.Tensor) -> None:
        flat = adjoint.view(-1, adjoint.shape[-1])
        for leaf, rows in self.leaves:
            if leaf.grad is not None:
                flat.index_add_(0, rows, leaf.grad.reshape(-1, flat.shape[1]))


"""The fast training path of SAB (``model.impl = "fast"``): the same gradient as the reference
path of ``nobptt.learners.sab`` (autograd), with the backward written out by hand
(docs/sab.md#speed; profile: ``nobptt bench profile --experiment copying_sab``).

The algorithm is the reference's blockwise backtracking (docs/sab.md#the-learner; Ke et al. 2018,
§3): a forward pass without a graph stores the block-start states, the memories and the memories
each step kept; then the blocks are back-propagated last to first, each from its kept memories,
with the gradient later blocks sent into its own memories added in. What changes:

* **tanh through the sigmoid.** torch's CPU tanh is 6x slower than its sigmoid here (650 against
  105 us for 250k floats, one AVX-512 thread), and the additive score evaluates tanh on every
  (stream, memory, attention unit) at every step, O(T^2) in all. We use tanh(z) = 2 sigmoid(2z) - 1:
  the score v.tanh(W_q h + b + W_m m) becomes 2 v.sigmoid(2 (W_q h + b + W_m m)) minus the constant
  sum(v), which is the same for every memory and so cancels in the top-k choice and in the
  softmax. The LSTM's candidate gate and tanh(c) use the same identity (the candidate's rows of
  the weights are doubled so one sigmoid serves the four gates). Equal in exact arithmetic; in
  floating point within rounding (tests/test_sab_fast.py).
* **Step records instead of a second forward.** The first pass keeps what each step's backward
  needs (_Step) while it fits in ``model.cache_mib``; blocks beyond it are recomputed from their
  start state and kept memories, as the reference recomputes every block.
* **A hand-written backward** (_backward_block): five operations for an LSTM step, on factors made
  in the forward; the kept memories' gradients added into an adjoint by ``index_add``; a key's
  gradient summed over every step that kept it and taken into its memory once, at the memory's
  own step (as autograd does with the reference's per-memory keys); the weights' gradients one
  matrix product per block. Only the read-out and the loss go through autograd, once for all
  cached steps (one product, one loss call: every loss the learner supports).
* **Fewer, larger operations**: a step's gates are one product of [x_t, h_{t-1}]; memories and
  keys live in preallocated (B, M, .) buffers, rows gathered by ``index_select``.

Covers ``blockwise = true`` (any ``k_trunc``; ``k_trunc = 0``, full BPTT, is one block, always
cached) with sparse, dense or no attention and the additive score; ``blockwise = false`` (the
release's one graph) and the ``dot`` and ``concat`` scores run the reference path
(:func:`supports`).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from nobptt.tasks.base import Batch, bernoulli_scores

# The learner (nobptt.learners.sab.SABLearner) imports this module and passes itself in; this
# module does not import it back (no import cycle, tests/test_imports.py).
SABLearner = Any
MIB = 2**20  # bytes per unit of model.cache_mib


def supports(learner: SABLearner) -> bool:
    """Whether the fast path computes this configuration (otherwise the reference path runs)."""
    c = learner.config
    return (c.blockwise or c.k_trunc == 0) and (not learner.attend or c.score == "additive")


class _Weights:
    """The parameters as the fast path uses them (no graph: _Gradients takes the gradients back
    through these scalings): the candidate gate's rows doubled for the sigmoid form of tanh, the
    score's query and keys doubled (2 (W_q h + b + W_m m)) and v doubled."""

    def __init__(self, learner: SABLearner) -> None:
        cell, H = learner.cell, learner.config.hidden
        scale = torch.ones(4 * H, dtype=cell.weight_hh.dtype, device=cell.weight_hh.device)
        scale[2 * H:3 * H] = 2.0  # nn.LSTMCell's gate order: input, forget, cell candidate, output
        # [W_ih W_hh]^T, so that a step's gates are one product of [x_t, h_{t-1}]
        self.w_t = torch.cat([cell.weight_ih, cell.weight_hh], 1).mul(scale[:, None]).t().contiguous()
        self.w_hh_t = self.w_t[cell.weight_ih.shape[1]:]
        self.bias = (cell.bias_ih + cell.bias_hh) * scale
        if learner.attend:  # the additive score (supports())
            s = learner.scorer
            self.w_q_t, self.b_q = (s.query.weight * 2.0).t(), s.query.bias * 2.0
            self.w_k_t = (s.key_map.weight * 2.0).t()
            self.v = (s.v.weight * 2.0).view(-1)
            self.v_column = self.v.unsqueeze(1)


def _cell(w: _Weights, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
    """One LSTM step: (h^, c, what its backward needs: _lstm_factors' arguments). The gates are
    sigmoid(a); the candidate's rows were doubled (_Weights), so its tanh is 2 sigmoid(2 a_g) - 1,
    and tanh(c) = 2 sigmoid(2 c) - 1. One product with the input and the state side by side: an
    input 10 wide is a poor matrix product alone."""
    gates = torch.sigmoid(torch.addmm(w.bias, torch.cat([x, h], 1), w.w_t))
    i, f, g, o = gates.chunk(4, 1)
    g = torch.sub(g, 0.5).mul_(2.0)  # tanh of the candidate's pre-activation
    c_new = torch.addcmul(f * c, i, g)
    u = torch.sigmoid(2.0 * c_new)
    tanh_c = torch.sub(u, 0.5).mul_(2.0)
    return o * tanh_c, c_new, (gates, g, tanh_c, c, u)


def _loss_terms(steps: list[Batch]) -> dict[str, torch.Tensor | None]:
    """The targets and weights of ``steps`` stacked into (S * B, ...), for one loss call."""
    first = steps[0]
    stack = {}
    for field in ("target_value", "target_prob", "target_label", "weight"):
        if getattr(first, field) is None:
            stack[field] = None
            continue
        if any(getattr(b, field) is None for b in steps):
            raise ValueError(f"the sab learner's fast path needs batch.{field} in every step of a window "
                             "or in none; set model.impl=reference for such a stream")
        stack[field] = torch.cat([getattr(b, field) for b in steps])
    return stack


def _summed_loss(output: torch.Tensor, terms: dict[str, torch.Tensor | None]) -> torch.Tensor:
    """As SABLearner._step_loss, over stacked steps."""
    if terms["target_value"] is not None:
        per = ((output - terms["target_value"]) ** 2).sum(-1)
    elif terms["target_prob"] is not None:
        per = bernoulli_scores(output, terms["target_prob"])[0]
    else:
        per = F.cross_entropy(output, terms["target_label"], reduction="none")
    return (per * terms["weight"]).sum() if terms["weight"] is not None else per.sum()


class _Step:
    """What the backward of one step needs, saved by the first pass or by a block's recompute: the
    state before it, its cell state, the LSTM's factors (_lstm_factors); with attention h^, the flat
    rows of its kept memories, their score activations e = sigmoid(2 (query + key)) and weights
    alpha; ``z``, the read-out's input [h; s] (or h)."""

    __slots__ = ("h_prev", "c_prev", "f", "d_cell", "d_gates", "c", "h_hat", "flat", "e", "alpha", "z")

    def nbytes(self) -> int:
        """Bytes this record holds (h_prev and c_prev are the previous record's h and c; f is a
        view of the step's gates, which it keeps whole)."""
        held = (self.d_cell, self.d_gates, self.c, self.h_hat, self.e, self.alpha, self.z, self.flat)
        return self.f.untyped_storage().nbytes() + sum(t.numel() * t.element_size() for t in held if t is not None)


def _step(learner: SABLearner, w: _Weights, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
          memories: torch.Tensor | None, keys: torch.Tensor | None, count: int,
          offsets: torch.Tensor | None = None, flat: torch.Tensor | None = None,
          z_out: torch.Tensor | None = None) -> tuple[_Step, torch.Tensor, torch.Tensor]:
    """One step without a graph: (its record, h, c). With ``flat`` None the step scores all
    ``count`` memories and keeps the k_top best (the first pass); otherwise it attends to the
    memories at those flat rows of ``memories`` (a block's recompute). ``offsets[m]``: (B, 1), stream
    b's first row in a (B * m, .) view. ``z_out``: where [h; s] is written (a row of the first
    pass's read-out buffer), or None."""
    rec = _Step()
    rec.h_prev, rec.c_prev = h, c
    h_hat, c, parts = _cell(w, x, h, c)
    rec.c = c
    rec.f, rec.d_cell, rec.d_gates = _lstm_factors(*parts)
    rec.h_hat = rec.flat = rec.e = rec.alpha = None
    if not learner.attend:
        rec.z = h_hat
        return rec, h_hat, c
    B, size, A = keys.shape
    query = torch.addmm(w.b_q, h_hat, w.w_q_t).unsqueeze(1)
    if flat is None:  # score every memory (the selection), keep the best
        e = torch.add(query, keys[:, :count]).sigmoid_()
        scores = torch.mm(e.view(-1, A), w.v_column).view(B, -1)  # mm: counted by FlopCounterMode
        if learner.k_top is not None and count > learner.k_top:
            top, kept = scores.topk(learner.k_top, dim=-1)
            alpha = torch.softmax(top, -1)
            # the kept rows of e, by flat row of the (B * count, A) view (gather is 4x slower)
            e = e.view(-1, A).index_select(0, (kept + offsets[count]).view(-1)).view(B, -1, A)
        else:  # every memory kept
            kept = torch.arange(count, device=h.device).expand(B, -1)
            alpha = torch.softmax(scores, -1)
        flat = (kept + offsets[size]).view(-1)
    else:  # the kept memories only
        e = torch.sigmoid(query + keys.view(B * size, A).index_select(0, flat).view(B, -1, A))
        alpha = torch.softmax(torch.mm(e.view(-1, A), w.v_column).view(B, -1), -1)
    # gathered by flat row: index_select is 4x faster than advanced indexing here
    chosen = memories.view(B * size, -1).index_select(0, flat).view(B, -1, memories.shape[-1])
    summary = torch.bmm(alpha.unsqueeze(1), chosen).squeeze(1)
    h = h_hat + summary
    rec.h_hat, rec.flat, rec.e, rec.alpha = h_hat, flat, e, alpha
    rec.z = torch.cat([h, summary], -1) if z_out is None else torch.cat([h, summary], -1, out=z_out)
    return rec, h, c


def _lstm_factors(gates: torch.Tensor, g: torch.Tensor, tanh_c: torch.Tensor, c_prev: torch.Tensor,
                  u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What the LSTM step's backward multiplies by, made once in the forward so that the backward
    is five operations: (f, d_cell, d_gates). dc = dc' f' + 4 dh d_cell with d_cell = o u (1 - u),
    since o (1 - tanh^2 c) = 4 o u (1 - u); dA = [dc, dc, dc, dh] d_gates with d_gates the gates'
    local derivatives [g, c_prev, 2 i, tanh c] (2 i: the candidate's pre-activation was doubled)
    times sigmoid' = s (1 - s)."""
    i, f, _, o = gates.chunk(4, 1)
    d_cell = torch.addcmul(u, u, u, value=-1.0).mul_(o)  # o u (1 - u); the factor 4 is in _backward_block
    local = torch.cat([g, c_prev, i * 2.0, tanh_c], 1)
    return f, d_cell, local.mul_(torch.addcmul(gates, gates, gates, value=-1.0))


class _FirstPass:
    """The sequence without a graph, memories and keys in preallocated (B, M, .) buffers. It keeps
    each block's step records while they fit in ``model.cache_mib`` (always for k_trunc = 0,
    whose one block is the whole graph anyway); the blocks beyond are recomputed in the backward."""

    def __init__(self, learner: SABLearner, w: _Weights, steps: list[Batch], h: torch.Tensor,
                 c: torch.Tensor) -> None:
        cfg = learner.config
        k = cfg.k_trunc or len(steps)
        budget = cfg.cache_mib * MIB if cfg.k_trunc else float("inf")
        B, H = h.shape
        self.starts: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.counts: list[int] = []  # memories stored before each block
        self.kept: list[torch.Tensor] = []  # per step: flat rows (B * k) of the memories it attends to
        self.records: list[list[_Step] | None] = []  # per block, None where it must be recomputed
        self.memories = self.keys = None
        if learner.attend:
            size = 1 + sum(learner._stores(i) for i in range(len(steps)))
            self.memories = h.new_zeros(B, size, H)  # slot 0: the zero memory
            self.keys = h.new_zeros(B, size, w.w_k_t.shape[1])  # the zero memory's key is 0 (no bias)
        count, held = 1, 0
        # the read-out's inputs [h; s] of every step, written in place: one (S B, 2H) matrix for the
        # read-out of the cached steps without concatenating them
        self.z = h.new_empty(len(steps), B, 2 * H) if learner.attend else None
        # offsets[m]: (B, 1), stream b's first row in a (B * m, .) view; made once, used every step
        self.offsets = (torch.arange(B, device=h.device).unsqueeze(0) * torch.arange(self.memories.shape[1] + 1,
                        device=h.device).unsqueeze(1)).unsqueeze(-1) if learner.attend else None
        for i in range(len(steps)):
            if i % k == 0:
                self.starts.append((h, c))
                self.counts.append(count)
                self.records.append([])
            rec, h, c = _step(learner, w, steps[i].x, h, c, self.memories, self.keys, count, self.offsets,
                              z_out=None if self.z is None else self.z[i])
            if learner.attend:
                self.kept.append(rec.flat)
            if self.records[-1] is not None:
                held += rec.nbytes()
                self.records[-1].append(rec)
                if held > budget:  # this block will be recomputed; the next ones too
                    held -= sum(r.nbytes() for r in self.records[-1])
                    self.records[-1] = None
                    budget = -1
            if learner._stores(i):
                self.memories[:, count] = h
                torch.mm(h, w.w_k_t, out=self.keys[:, count])
                count += 1
        self.h, self.c = h, c
        self.out = learner.head(rec.z)

    def recompute(self, learner: SABLearner, w: _Weights, steps: list[Batch], b: int, lo: int) -> list[_Step]:
        """Block ``b``'s records again, from its start state and the kept memories. Its own
        memories are written back where later steps gather them (the recomputed values)."""
        h, c = self.starts[b]
        count, records = self.counts[b], []
        for j, batch in enumerate(steps):
            flat = self.kept[lo + j] if learner.attend else None
            rec, h, c = _step(learner, w, batch.x, h, c, self.memories, self.keys, count, self.offsets, flat)
            records.append(rec)
            if learner._stores(lo + j):
                self.memories[:, count] = h
                torch.mm(h, w.w_k_t, out=self.keys[:, count])
                count += 1
        return records


def update(learner: SABLearner, steps: list[Batch], h: torch.Tensor,
           c: torch.Tensor) -> tuple[dict[str, float], torch.Tensor, torch.Tensor, torch.Tensor]:
    """Write the gradient of the mean loss over ``steps`` into p.grad, as SABLearner._update's
    reference path does: (losses to log, last output, h, c)."""
    k = learner.config.k_trunc or len(steps)  # k_trunc = 0: the whole sequence is one block
    norm = learner._normaliser(steps)
    loss = 0.0
    with torch.no_grad():
        w = _Weights(learner)
        first = _FirstPass(learner, w, steps, h, c)
        grads = _Gradients(learner)
        # dLoss/dmemory (B, M, H): from later blocks, then, inside a block, from its later steps
        adjoint = torch.zeros_like(first.memories) if learner.attend else None
        key_adjoint = torch.zeros_like(first.keys) if learner.attend else None  # dLoss/dkey, likewise
        # the read-out and the loss of every step whose record was kept: one product, one loss call
        kept = [r for block in first.records if block is not None for r in block]
        loss, dz_kept = _readout_gradient(learner, steps[:len(kept)], kept, norm,
                                          None if first.z is None else first.z[:len(kept)])
        for b in reversed(range(len(first.starts))):
            lo, hi = b * k, min((b + 1) * k, len(steps))
            records, dz = first.records[b], None
            if records is None:
                records = first.recompute(learner, w, steps[lo:hi], b, lo)
                block_loss, dz = _readout_gradient(learner, steps[lo:hi], records, norm)
                loss += block_loss
            else:
                dz = dz_kept[lo:hi]
            _backward_block(learner, w, grads, steps[lo:hi], records, dz, first, first.counts[b], lo, adjoint,
                            key_adjoint)
    grads.write(learner)
    return {"loss": loss}, first.out, first.h, first.c


class _Gradients:
    """Gradients of the scaled weights (_Weights), summed over the blocks; ``write`` takes them
    back through the scaling to the parameters and adds them into p.grad (the head's arrive
    there directly from autograd)."""

    def __init__(self, learner: SABLearner) -> None:
        cell = learner.cell
        # the LSTM's weight gradients transposed, (in, 4H): each block adds X^T dA in place (addmm),
        # measured 20% faster here than adding (X^T dA)^T into a (4H, in) sum
        self.w_ih_t, self.w_hh_t = cell.weight_ih.new_zeros(cell.weight_ih.shape[::-1]), \
            cell.weight_hh.new_zeros(cell.weight_hh.shape[::-1])
        self.bias = torch.zeros_like(cell.bias_ih)
        if learner.attend:
            s = learner.scorer
            self.w_q, self.b_q = torch.zeros_like(s.query.weight), torch.zeros_like(s.query.bias)
            self.w_k = torch.zeros_like(s.key_map.weight)
            self.v = torch.zeros_like(s.v.weight).view(-1)

    def write(self, learner: SABLearner) -> None:
        cell, H = learner.cell, learner.config.hidden
        scale = torch.ones(4 * H, dtype=self.bias.dtype, device=self.bias.device)
        scale[2 * H:3 * H] = 2.0
        pairs = [(cell.weight_ih, self.w_ih_t.t() * scale[:, None]), (cell.weight_hh, self.w_hh_t.t() * scale[:, None]),
                 (cell.bias_ih, self.bias * scale), (cell.bias_hh, self.bias * scale)]
        if learner.attend:  # W_q, b, W_m and v were doubled (_Weights)
            s = learner.scorer
            pairs += [(s.query.weight, self.w_q * 2.0), (s.query.bias, self.b_q * 2.0),
                      (s.key_map.weight, self.w_k * 2.0), (s.v.weight, (self.v * 2.0).view_as(s.v.weight))]
        for p, g in pairs:  # added, as autograd accumulates into p.grad
            p.grad = g if p.grad is None else p.grad + g


def _readout_gradient(learner: SABLearner, steps: list[Batch], records: list[_Step], norm: float,
                      z: torch.Tensor | None = None) -> tuple[float, torch.Tensor | None]:
    """The summed loss / norm of ``steps`` and its gradient (S, B, .) with respect to the read-out's
    inputs ``z`` ((S, B, .), else the records' z concatenated), by autograd through the head and
    the loss (which also writes the head's p.grad)."""
    if not records:
        return 0.0, None
    with torch.enable_grad():
        z = (torch.cat([r.z for r in records]) if z is None else z.reshape(-1, z.shape[-1])).requires_grad_(True)
        objective = _summed_loss(learner.head(z), _loss_terms(steps)) / norm
        objective.backward()
    return float(objective), z.grad.view(len(steps), records[0].z.shape[0], -1)


def _backward_block(learner: SABLearner, w: _Weights, grads: "_Gradients", steps: list[Batch],
                    records: list[_Step], dz: torch.Tensor, first: _FirstPass, count: int, lo: int,
                    adjoint: torch.Tensor | None, key_adjoint: torch.Tensor | None) -> None:
    """Back-propagate block ``records`` by hand, from ``dz`` (the loss's gradient with respect to
    the read-out's inputs): the gradient enters the scaled weights' sums in ``grads`` and
    ``adjoint`` and ``key_adjoint`` (rows of the memories and keys the block kept; the block's own
    memories take theirs from them when their step is reached). ``count``: memories stored before
    the block. Equations: the forward in _cell and _step, differentiated."""
    attend, H = learner.attend, learner.config.hidden
    B = records[0].h_prev.shape[0]
    count += sum(learner._stores(lo + j) for j in range(len(steps)))
    if attend:
        size, A = first.memories.shape[1], first.keys.shape[-1]
        pool = first.memories.view(-1, H)
        w_k = w.w_k_t.t()
    dh_next, dc_next = torch.zeros_like(records[0].h_prev), torch.zeros_like(records[0].c_prev)
    d_gates, d_keys, key_rows, d_scores, d_queries = [], [], [], [], []
    dz_h, dz_s = dz[..., :H], dz[..., H:]
    for j in reversed(range(len(steps))):
        if len(d_gates) == WEIGHT_CHUNK:  # a long block (full BPTT): its weights' gradients in pieces
            _weight_gradients(grads, records[j + 1:j + 1 + WEIGHT_CHUNK], steps[j + 1:j + 1 + WEIGHT_CHUNK],
                              d_gates, d_scores, d_queries, attend)
        r = records[j]
        dh = dh_next + dz_h[j]
        if attend and learner._stores(lo + j):
            count -= 1  # this step stored memory ``count``: the gradient later steps and blocks sent it,
            # directly and through its key (made once per memory, so its gradient is taken once too)
            dh = torch.addmm(dh + adjoint[:, count], key_adjoint[:, count], w_k)
            d_keys.append(key_adjoint[:, count])
            key_rows.append(first.memories[:, count])
        if attend:
            d_summary = dh + dz_s[j]  # h = h^ + s, and s is also read out directly
            memories = pool.index_select(0, r.flat).view(B, -1, H)
            d_alpha = torch.bmm(memories, d_summary.unsqueeze(-1)).squeeze(-1)
            d_score = r.alpha * (d_alpha - (r.alpha * d_alpha).sum(-1, keepdim=True))  # softmax
            e = r.e
            d_pre = d_score.unsqueeze(-1) * w.v * e * (1.0 - e)  # through sigmoid(query + key)
            d_query = d_pre.sum(1)
            dh = torch.addmm(dh, d_query, w.w_q_t.t())
            d_scores.append(d_score)
            d_queries.append(d_query)
            # into the kept memories through the weighted sum, and into their keys
            adjoint.view(-1, H).index_add_(0, r.flat, (r.alpha.unsqueeze(-1) * d_summary.unsqueeze(1)).view(-1, H))
            key_adjoint.view(-1, A).index_add_(0, r.flat, d_pre.view(-1, A))
        dc = torch.addcmul(dc_next, dh, r.d_cell, value=4.0)
        d_a = torch.cat([dc, dc, dc, dh], 1).mul_(r.d_gates)
        d_gates.append(d_a)
        dh_next = d_a @ w.w_hh_t.t()
        dc_next = dc * r.f
    n = len(d_gates)
    _weight_gradients(grads, records[:n], steps[:n], d_gates, d_scores, d_queries, attend)
    if d_keys:
        grads.w_k += torch.cat(d_keys).t() @ torch.cat(key_rows)


WEIGHT_CHUNK = 10  # steps whose weight gradients are taken in one product (the rows: 10 B)


def _weight_gradients(grads: "_Gradients", records: list[_Step], steps: list[Batch], d_gates: list[torch.Tensor],
                      d_scores: list[torch.Tensor], d_queries: list[torch.Tensor], attend: bool) -> None:
    """Add the weights' gradients of consecutive steps (``records``, their per-step gradients in
    the lists, last step first) into ``grads``, one product each, and empty the lists. X^T dA:
    an order MKL runs 2-4x faster here than dA^T X."""
    d_a = torch.cat(d_gates[::-1])
    # addmm with out= its own input, not addmm_: the same kernel, and FlopCounterMode counts it
    torch.addmm(grads.w_hh_t, torch.cat([r.h_prev for r in records]).t(), d_a, out=grads.w_hh_t)
    torch.addmm(grads.w_ih_t, torch.cat([b.x for b in steps]).t(), d_a, out=grads.w_ih_t)
    grads.bias += d_a.sum(0)
    if attend:
        d_query = torch.cat(d_queries[::-1])
        grads.w_q += d_query.t() @ torch.cat([r.h_hat for r in records])
        grads.b_q += d_query.sum(0)
        e = torch.cat([r.e.view(-1, r.e.shape[-1]) for r in records])
        grads.v += torch.cat([d.reshape(-1) for d in d_scores[::-1]]) @ e
    for pieces in (d_gates, d_scores, d_queries):
        pieces.clear()


def _flat_rows(rows: torch.Tensor, size: int) -> torch.Tensor:
    """Row indices (B * r,) into a (B, size, .) tensor viewed as (B * size, .)."""
    return (rows + size * torch.arange(rows.shape[0], device=rows.device).unsqueeze(1)).flatten()

"""Matrix-product FLOPs of one SAB training update, counted from the config (docs/bench.md#flops).

The count is of the fast path (``model.impl = "fast"``, nobptt/learners/sab_fast.py) when every
step's record fits in ``model.cache_mib`` (always at the sizes of the recorded experiments), 2
FLOPs per multiply-add, matrix products only (mm, addmm, bmm, as ``FlopCounterMode`` counts them;
the elementwise work, top-k and gathers are not FLOPs here). Over an update of S steps, B
streams, input D, hidden H, C outputs, attention width A; M_t memories exist when step t attends
and it keeps k_t of them (min(M_t, k_top) for sparse attention, M_t for dense):

per step, forward     LSTM 2 B (D + H) 4H; query 2 B H A; scores 2 B M_t A; weighted sum 2 B k_t H;
                      a stored memory's key 2 B H A
per step, backward    LSTM 2 B 4H H (into h); attention 2 B k_t H (into the weights) + 2 B A H (into
                      h^ through the query); a stored memory 2 B A H (into h through its key, once:
                      the gradients of its key from every step that kept it are summed first)
per update            the read-out forward and backward 6 S B Z C (Z = 2H with attention, else H),
                      the last output once more 2 B Z C; the weights' gradients, one product each
                      over all rows: 2 S B (D + H) 4H (LSTM), 2 A H S B (query), 2 A H B N (keys,
                      N memories stored), 2 A B sum k_t (v)

The backward of a sparse step costs k_t memories, not M_t: only the kept memories get a gradient
(Ke et al. 2018, §3). The scoring of every memory, 2 B M_t A per step, is the term quadratic in
the sequence length.
"""
from __future__ import annotations

from nobptt.learners.sab_config import SABConfig


def kept_counts(config: SABConfig, steps: int) -> list[tuple[int, int]]:
    """(M_t, k_t) for each step t of a sequence: memories available and memories kept."""
    out, memories = [], 1  # the zero memory
    for t in range(steps):
        kept = min(memories, config.k_top) if config.attention == "sparse" else memories
        out.append((memories, kept))
        if (t + 1) % config.k_att == 0:
            memories += 1
    return out


def update_flops(config: SABConfig, steps: int, batch: int, input_dim: int, outputs: int) -> int:
    """Matrix-product FLOPs of one update over ``steps`` steps (see the module docstring)."""
    S, B, D, H, C, A = steps, batch, input_dim, config.hidden, outputs, config.attn_dim
    attend = config.attention != "none"
    Z = 2 * H if attend else H
    total = S * (2 * B * (D + H) * 4 * H + 2 * B * 4 * H * H)  # LSTM forward and into h
    total += 6 * S * B * Z * C + 2 * B * Z * C  # read-out, and the last output
    total += 2 * S * B * (D + H) * 4 * H  # the LSTM weights' gradient
    if not attend:
        return total
    counts = kept_counts(config, S)
    stored = sum((t + 1) % config.k_att == 0 for t in range(S))
    kept = sum(k for _, k in counts)
    for memories, k in counts:
        total += 2 * B * H * A + 2 * B * memories * A + 2 * B * k * H  # query, scores, weighted sum
        total += 2 * B * k * H + 2 * B * A * H  # their backward
    total += stored * (2 * B * H * A + 2 * B * A * H)  # keys of the stored memories, and back
    total += 2 * A * H * (S * B + B * stored) + 2 * A * B * kept  # W_q, W_k and v gradients
    return total

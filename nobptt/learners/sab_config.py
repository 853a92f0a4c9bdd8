"""The SAB learner's config and its named presets, the LSTM baselines of the SAB paper.

Kept free of torch so that tools reading records (``preset_of``) need not import it; the learner
itself is ``nobptt.learners.sab``, which registers ``SABLearner`` under every name in ``PRESETS``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from nobptt.validation import check_ranges


@dataclass
class SABConfig:
    hidden: int = 128  # LSTM units (the release's default)
    attention: str = "sparse"  # sparse (SAB) | dense (softmax over every memory) | none (plain LSTM)
    k_top: int = 5  # memories kept per step (sparse)
    k_att: int = 2  # a memory is stored every k_att steps
    k_trunc: int = 5  # block length of the local truncated BPTT; 0 = no truncation (full BPTT)
    score: str = "additive"  # additive (the paper's MLP) | dot | concat (the release's, state-independent)
    attn_dim: int = 64  # width of the score MLP / dot-product projections
    window: int = 0  # 0: one update per episode (Batch.ends_sequence); N: an update every N steps
    # with k_trunc > 0: recompute the blocks one at a time (memory bounded by a block and the
    # memories); False: one graph with the state cut every k_trunc steps, as the release does
    blockwise: bool = True
    # added to the forget gate's initial bias; 0 keeps PyTorch's init (every bias ~ U(-1/sqrt(H),
    # 1/sqrt(H)), forget gates open half the time). 1 is the usual remedy for long dependencies
    # (Gers et al. 2000; Jozefowicz et al. 2015); the paper and the release say nothing (§2.5).
    forget_bias: float = 0.0
    # training path: "fast" (nobptt/learners/sab_fast.py: same gradient, fewer and larger operations
    # per step, docs/sab.md#speed) or "reference" (the code that trained every run recorded before
    # issue 41, bit for bit). Settings the fast path does not cover (blockwise = false with
    # k_trunc > 0, score = concat) run the reference path either way.
    impl: str = "fast"
    # fast path only: the step records its first pass may keep per update (MiB), so that those
    # blocks need no second forward pass; blocks beyond it are recomputed (memory bounded as the
    # reference's). Full BPTT (k_trunc = 0) keeps its one block whatever this says.
    cache_mib: int = 256

    def __post_init__(self) -> None:
        check_ranges(self, positive="hidden k_top k_att attn_dim", non_negative="k_trunc window cache_mib")


@dataclass
class LSTMTBPTT5Config(SABConfig):
    """The LSTM baseline trained by truncated BPTT in blocks of 5 steps (no attention)."""

    attention: str = "none"
    k_trunc: int = 5


@dataclass
class LSTMBPTTConfig(SABConfig):
    """The LSTM baseline trained by full BPTT over the episode (no attention)."""

    attention: str = "none"
    k_trunc: int = 0


@dataclass
class SelfAttentionConfig(SABConfig):
    """The LSTM with dense softmax self-attention over every past state, full BPTT."""

    attention: str = "dense"
    k_att: int = 1
    k_trunc: int = 0


# name -> (config class, description): one definition of SAB and its baselines
PRESETS: dict[str, tuple[type, str]] = {
    "sab": (SABConfig, "Sparse Attentive Backtracking (Ke et al. 2018): k_trunc 5, k_top 5, k_att 2"),
    "sab_lstm_tbptt5": (LSTMTBPTT5Config, "SAB's baseline: LSTM, truncated BPTT in blocks of 5 steps"),
    "sab_lstm_bptt": (LSTMBPTTConfig, "SAB's baseline: LSTM, full BPTT over the episode"),
    "sab_selfattn": (SelfAttentionConfig, "SAB's baseline: LSTM with dense self-attention, full BPTT"),
}

# [optim] defaults of SAB and its baselines: Adam at 1e-3, the global gradient norm clipped at 1
# per update (the release's)
SAB_OPTIM = {"lr": 1e-3, "grad_clip": 1.0}


def preset_of(model_config: dict[str, Any]) -> str:
    """The preset a SAB ``[model]`` config is, also one from an old record that named every
    baseline "sab": the baseline whose attention and k_trunc (and, with attention, k_att) it has,
    read from ``PRESETS``; "sab" for sparse attention and for any other combination (the config
    then says which). A config whose name is not a SAB preset is returned under its own name."""
    name = model_config.get("name", "sab")
    if name not in PRESETS:
        return name
    own = PRESETS[name][0]()  # fields the config leaves out take its own preset's defaults
    value = {f: model_config.get(f, getattr(own, f)) for f in ("attention", "k_trunc", "k_att")}
    for preset, (cls, _) in PRESETS.items():
        defaults = cls()
        if preset == "sab" or value["attention"] != defaults.attention or value["k_trunc"] != defaults.k_trunc:
            continue
        # without attention no memory is stored, so k_att does not tell an LSTM apart
        if defaults.attention == "none" or value["k_att"] == defaults.k_att:
            return preset
    return "sab"

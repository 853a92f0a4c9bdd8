"""What the benchmarks run: every registered learner, plus named variants, at a chosen model size.

Driven by the learner registry, so a learner registered later is benchmarked with its default
config without new code. Variants add what a default config cannot show: BPTT windows that depend
on the sequence length T, and the RSM family's sparse products next to their dense reference.

Model size (``scale``): the RSM family scales its groups, winners k and classifier width by
``scale`` (k/m, the sparsity, stays 12%); a learner whose config has a ``hidden`` field (the LSTM)
gets the hidden size whose total parameter count is closest to the flat bRSM's at that scale, so
memory and speed are compared at matched parameters. ``scale=None`` means the default config.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

from nobptt.learners.registry import build_learner, get_learner_spec, learner_specs

INPUT_DIM, CLASSES = 784, 10  # ssMNIST shapes; the benchmarks feed synthetic input of this size
SIZE_REFERENCE = "brsm"
_RSM_SIZE_FIELDS = ("groups", "k", "classifier_hidden")

# name -> (learner, options as a function of T)
VARIANTS: dict[str, tuple[str, Callable[[int], dict[str, Any]]]] = {
    "lstm_bptt": ("lstm", lambda T: {"k1": T, "k2": T}),  # full BPTT over the whole sequence
    "lstm_tbptt30": ("lstm", lambda T: {"k1": min(30, T), "k2": min(30, T)}),
    "lstm_tbptt10": ("lstm", lambda T: {"k1": min(10, T), "k2": min(10, T)}),  # ssmnist_lstm.toml
    "brsm_sparse": ("brsm", lambda T: {"sparse_products": True}),
    "pbrsm_sparse": ("pbrsm", lambda T: {"sparse_products": True}),
    # SAB, one episode of T steps per update (the "sab" entry: blockwise SAB; its baselines are
    # registered presets, benchmarked as learners: sab_lstm_tbptt5, sab_lstm_bptt, sab_selfattn)
    "sab_onegraph": ("sab", lambda T: {"blockwise": False}),  # the release's: truncation inside one graph
    # the training paths (docs/sab.md#speed): "sab" runs the fast one, keeping its first pass's
    # step records (model.cache_mib); these run the reference path (autograd, the recorded runs'
    # code), and the fast one recomputing every block (memory bounded as the reference's)
    "sab_reference": ("sab", lambda T: {"impl": "reference"}),
    "sab_recompute": ("sab", lambda T: {"cache_mib": 0}),
}

# Longest T a variant is run at: one graph over attention to every memory holds (B, M, attn_dim)
# per step, O(T^2): at B = 16, T = 10^4 about 20 GB (SAB as released) to 400 GB (self-attention).
MAX_T = {"sab_onegraph": 1000, "sab_selfattn": 1000}


def bench_names() -> list[str]:
    """Every registered learner (default config) plus the variants."""
    return sorted(learner_specs()) + sorted(VARIANTS)


def check_names(names: list[str]) -> None:
    unknown = [n for n in names if n not in bench_names()]
    if unknown:
        raise ValueError(f"unknown learner(s) {unknown} for the benchmark; choose from {bench_names()}")


def parameter_count(learner: str, options: dict[str, Any]) -> int:
    return sum(p.numel() for p in build_learner(learner, options, INPUT_DIM, CLASSES).parameters())


def _scaled_rsm(learner: str, scale: float) -> dict[str, Any]:
    defaults = get_learner_spec(learner).config_cls()
    return {f: max(1, round(getattr(defaults, f) * scale)) for f in _RSM_SIZE_FIELDS}


@functools.lru_cache(maxsize=None)
def matched_hidden(learner: str, target: int) -> int:
    """The ``hidden`` size giving ``learner`` the parameter count closest to ``target`` (bisection)."""
    low, high = 1, 8
    while parameter_count(learner, {"hidden": high}) < target:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if parameter_count(learner, {"hidden": mid}) < target else (low, mid)
    return min((low, high), key=lambda h: abs(parameter_count(learner, {"hidden": h}) - target))


def size_options(learner: str, scale: float | None) -> dict[str, Any]:
    """Config fields that set ``learner``'s size at ``scale`` (see the module docstring)."""
    if scale is None:
        return {}
    fields = {f.name for f in dataclasses.fields(get_learner_spec(learner).config_cls)}
    if set(_RSM_SIZE_FIELDS) <= fields:
        return _scaled_rsm(learner, scale)
    if "hidden" in fields:
        target = parameter_count(SIZE_REFERENCE, _scaled_rsm(SIZE_REFERENCE, scale))
        return {"hidden": matched_hidden(learner, target)}
    return {}  # no known size knob: benchmarked at its default size


def learner_of(name: str) -> str:
    """The registered learner behind benchmark entry ``name`` (a variant's, or ``name`` itself)."""
    return VARIANTS[name][0] if name in VARIANTS else name


def has_hidden(name: str) -> bool:
    """Whether entry ``name``'s config has a ``hidden`` size (the LSTM, the online learners' cells)."""
    return "hidden" in {f.name for f in dataclasses.fields(get_learner_spec(learner_of(name)).config_cls)}


def resolve(name: str, T: int, scale: float | None = None, hidden: int | None = None) -> tuple[str, dict[str, Any]]:
    """(registered learner, config options) for benchmark entry ``name``; ``hidden`` (for a learner
    with that field) sets the size directly, in place of ``scale``."""
    learner, options = (VARIANTS[name][0], VARIANTS[name][1](T)) if name in VARIANTS else (name, {})
    fields = {f.name: f.default for f in dataclasses.fields(get_learner_spec(learner).config_cls)}
    # one update per sequence of T steps where the default waits for an episode's end (SAB's window
    # = 0; the online harness's update_every = 0, e.g. bptt): the random input never ends one
    episodic = {key: T for key in ("window", "update_every") if key in fields and fields[key] == 0}
    size = {"hidden": hidden} if hidden is not None and "hidden" in fields else size_options(learner, scale)
    return learner, {**size, **episodic, **options}


def sizes(name: str, scales: list[float | None], hiddens: list[int | None]) -> list[tuple[float | None, int | None]]:
    """The (scale, hidden) pairs entry ``name`` is benchmarked at: each ``hidden`` where its config
    has one, otherwise each scale (a learner without a hidden size runs once per scale)."""
    if any(h is not None for h in hiddens) and has_hidden(name):
        return [(None, h) for h in hiddens]
    return [(s, None) for s in scales]

"""SAB's fast training path (model.impl=fast, nobptt/learners/sab_fast.py) against the reference
path and against exact BPTT, in float64; the same training in float32; its FLOP count."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from nobptt.learners import sab_fast
from nobptt.learners.sab import SABConfig, SABLearner
from nobptt.learners.sab_flops import update_flops
from nobptt.tasks.base import Batch
from nobptt.tasks.episodes import EpisodeStream

H, A = 6, 4


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from a second thread, and on a shared 2-core machine its
    synchronisation made these tests 10x slower; the setting is put back afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def episode(task="copying", T=6, batch_size=3, seed=0, dtype=torch.float64):
    stream = EpisodeStream(task, T, batch_size, seed)
    steps = [stream.next_batch() for _ in range(stream.episode_length)]
    return [Batch(**{k: (v.to(dtype) if torch.is_tensor(v) and v.is_floating_point() else v)
                     for k, v in vars(b).items()}) for b in steps]


def learner(impl, input_dim=10, outputs=10, **options):
    torch.manual_seed(0)
    return SABLearner(SABConfig(hidden=H, attn_dim=A, impl=impl, **options), input_dim, outputs).double()


def run(model, steps, state=None):
    """Learn ``steps`` (one update at the episode's end or every window): (losses, outputs, state)."""
    B = steps[0].x.shape[0]
    state = state or {k: (v.double() if torch.is_tensor(v) else v) for k, v in model.initial_state(B, "cpu").items()}
    losses, outputs = [], []
    for batch in steps:
        state, out = model.learn(state, batch)
        if out.update:
            losses.append(out.losses["loss"])
            outputs.append(out.logits)
    return losses, outputs, state


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


SETTINGS = {  # name -> (task, options): SAB's sparse, dense, truncated and full-BPTT settings
    "sparse": ("copying", {"k_trunc": 3, "k_top": 2}),
    "sparse_recomputed": ("copying", {"k_trunc": 3, "k_top": 2, "cache_mib": 0}),
    "sparse_k_top_1": ("copying", {"k_trunc": 5, "k_top": 1, "k_att": 1}),
    "dense_truncated": ("copying", {"attention": "dense", "k_trunc": 4}),
    "dense_recomputed": ("copying", {"attention": "dense", "k_trunc": 2, "cache_mib": 0}),
    "lstm_truncated": ("copying", {"attention": "none", "k_trunc": 3}),
    "lstm_truncated_recomputed": ("copying", {"attention": "none", "k_trunc": 2, "cache_mib": 0}),
    "sparse_full_bptt": ("copying", {"k_trunc": 0, "k_top": 2}),
    "dense_full_bptt": ("copying", {"attention": "dense", "k_trunc": 0, "k_att": 1}),
    "lstm_full_bptt": ("copying", {"attention": "none", "k_trunc": 0}),
    "adding_sparse": ("adding", {"k_trunc": 3, "k_top": 2}),
}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_fast_path_equals_the_reference_path(setting):
    task, options = SETTINGS[setting]
    steps = episode(task)
    dims = (steps[0].x.shape[1], 1 if task == "adding" else 10)
    results = {}
    for impl in ("reference", "fast"):
        model = learner(impl, *dims, **options)
        assert sab_fast.supports(model)
        losses, outputs, state = run(model, steps)
        results[impl] = (losses, outputs, state, grads(model), len(list(model.parameters())))
    ref, fast = results["reference"], results["fast"]
    assert fast[0] == pytest.approx(ref[0], rel=1e-12)
    for a, b in zip(ref[1], fast[1]):
        assert torch.allclose(a, b, atol=1e-12)
    assert torch.allclose(ref[2]["h"], fast[2]["h"], atol=1e-12) and torch.allclose(ref[2]["c"], fast[2]["c"], atol=1e-12)
    assert ref[3].keys() == fast[3].keys() and len(ref[3]) == ref[4]  # every parameter gets a gradient
    for name in ref[3]:
        assert torch.allclose(ref[3][name], fast[3][name], rtol=1e-10, atol=1e-12), name


def test_fast_path_with_bernoulli_targets_and_weights():
    """Per-output Bernoulli targets (a video's next frame) and per-stream weights (padding)."""
    torch.manual_seed(1)
    steps = [Batch(**{**vars(b), "target_prob": torch.rand(3, 10, dtype=torch.float64),
                      "weight": torch.rand(3, dtype=torch.float64)}) for b in episode()]
    out = {}
    for impl in ("reference", "fast"):
        model = learner(impl, k_trunc=3, k_top=2)
        losses, _, _ = run(model, steps)
        out[impl] = (losses, grads(model))
    assert out["fast"][0] == pytest.approx(out["reference"][0], rel=1e-12)
    for name, g in out["reference"][1].items():
        assert torch.allclose(out["fast"][1][name], g, rtol=1e-10, atol=1e-12), name


def test_records_beyond_the_cache_are_recomputed_with_the_same_gradient(monkeypatch):
    """model.cache_mib bounds the first pass's records: the blocks past it are recomputed. With
    the unit shrunk to 20 kB (a block holds about 5 kB here), the first blocks are kept and the
    later ones recomputed."""
    steps = episode()
    reference = learner("reference", k_trunc=3, k_top=2)
    run(reference, steps)
    monkeypatch.setattr(sab_fast, "MIB", 20_000)
    kept = []
    original = sab_fast._FirstPass.recompute
    monkeypatch.setattr(sab_fast._FirstPass, "recompute", lambda self, *a: kept.append(a[3]) or original(self, *a))
    fast = learner("fast", k_trunc=3, k_top=2, cache_mib=1)
    run(fast, steps)
    blocks = -(-len(steps) // 3)
    assert 0 < len(kept) < blocks and sorted(kept) == list(range(blocks - len(kept), blocks))
    for name, g in grads(reference).items():
        assert torch.allclose(grads(fast)[name], g, rtol=1e-10, atol=1e-12), name


def test_fast_path_over_windows_with_the_state_carried_and_gradients_accumulated():
    """Windows (character PTB's protocol): the state crosses windows, p.grad accumulates."""
    steps = episode(T=10)
    out = {}
    for impl in ("reference", "fast"):
        model = learner(impl, window=7, k_trunc=3, k_top=2)
        losses, _, state = run(model, steps)  # 30 steps: 4 updates of 7, 2 steps left open
        out[impl] = (losses, state["h"], grads(model))
    assert len(out["fast"][0]) == 4 and out["fast"][0] == pytest.approx(out["reference"][0], rel=1e-12)
    assert torch.allclose(out["fast"][1], out["reference"][1], atol=1e-12)
    for name, g in out["reference"][2].items():
        assert torch.allclose(out["fast"][2][name], g, rtol=1e-10, atol=1e-12), name


def test_fast_full_bptt_equals_an_unrolled_lstm_by_autograd():
    """attention=none, k_trunc=0 is exact BPTT: against nn.LSTMCell unrolled in one graph."""
    steps = episode()
    model = learner("fast", attention="none", k_trunc=0)
    run(model, steps)
    fast = grads(model)
    model.zero_grad()
    h = c = torch.zeros(3, H, dtype=torch.float64)
    total = 0.0
    for batch in steps:
        h, c = model.cell(batch.x, (h, c))
        total = total + F.cross_entropy(model.head(h), batch.target_label, reduction="sum")
    (total / (3 * len(steps))).backward()
    for name, g in grads(model).items():
        assert torch.allclose(fast[name], g, rtol=1e-10, atol=1e-12), name


def test_fast_sab_keeping_every_memory_without_truncation_equals_full_bptt_with_attention():
    """k_top >= memories and k_trunc = 0: SAB is an LSTM with softmax attention over its past
    states trained by full BPTT; against an independent one-graph statement of that network."""
    steps = episode(T=4)
    model = learner("fast", k_top=len(steps), k_att=2, k_trunc=0)
    run(model, steps)
    fast = grads(model)
    model.zero_grad()
    B = 3
    h = c = torch.zeros(B, H, dtype=torch.float64)
    memories, total = [torch.zeros(B, H, dtype=torch.float64)], 0.0
    for i, batch in enumerate(steps):
        h_hat, c = model.cell(batch.x, (h, c))
        mem = torch.stack(memories, 1)
        scores = model.scorer.v(torch.tanh(model.scorer.query(h_hat).unsqueeze(1) + model.scorer.key_map(mem))).squeeze(-1)
        summary = (torch.softmax(scores, -1).unsqueeze(-1) * mem).sum(1)
        h = h_hat + summary
        total = total + F.cross_entropy(model.head(torch.cat([h, summary], -1)), batch.target_label, reduction="sum")
        if (i + 1) % 2 == 0:
            memories.append(h)
    (total / (B * len(steps))).backward()
    exact = grads(model)
    assert fast.keys() == exact.keys()
    for name in exact:
        assert torch.allclose(fast[name], exact[name], rtol=1e-10, atol=1e-12), name


def test_unsupported_settings_run_the_reference_path():
    for options in ({"blockwise": False}, {"score": "concat"}, {"score": "dot"}):
        assert not sab_fast.supports(learner("fast", **options))
    with pytest.raises(ValueError, match="impl"):
        learner("quick")


def test_float32_training_follows_the_reference_within_rounding():
    """A fixed seed's first 20 updates (Adam, clipped) in float32 give the same losses."""
    curves = {}
    # as every training run sets it (train.flush_denormal, process-wide): 5x faster here
    torch.set_flush_denormal(True)
    for impl in ("reference", "fast"):
        torch.manual_seed(0)
        model = SABLearner(SABConfig(hidden=16, attn_dim=8, impl=impl), 10, 10)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        stream = EpisodeStream("copying", 8, 8, seed=1)
        state, losses = model.initial_state(8, "cpu"), []
        while len(losses) < 20:
            state, out = model.learn(state, stream.next_batch())
            if out.update:
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(out.losses["loss"])
        curves[impl] = losses
    # measured: at most 1.0e-7 apart (float32's epsilon is 1.2e-7)
    assert curves["fast"] == pytest.approx(curves["reference"], rel=1e-5)
    assert curves["fast"][-1] < curves["fast"][0]  # it learned: the comparison is not of a flat line


@pytest.mark.parametrize("options", [{"k_trunc": 3, "k_top": 2}, {"attention": "dense", "k_trunc": 4},
                                     {"attention": "none", "k_trunc": 0}, {"k_trunc": 0, "k_top": 3, "k_att": 1}])
def test_counted_flops_of_the_fast_path_equal_the_formula(options):
    steps = episode()
    model = learner("fast", **options)
    counter = FlopCounterMode(display=False)
    with counter:
        run(model, steps)
    assert counter.get_total_flops() == update_flops(model.config, len(steps), 3, 10, 10)


def test_flop_formula_against_a_hand_count():
    """S = 2 steps, B = D = H = C = A = 1. LSTM: forward 2 (D + H) 4H = 16 a step, into h 2 4H H = 8
    a step, weight gradient 2 S (D + H) 4H = 32; read-out 6 S Z C + the last output 2 Z C.
    Without attention (Z = 1): 32 + 16 + 32 + 12 + 2 = 94. Sparse attention with k_top = k_att = 1
    (Z = 2; memories 1 then 2, one kept each, both steps store): read-out 24 + 4; forward query 2,
    scores 2 M, sum 2 k: 6 + 8; backward 2 k + 2 = 4 a step: 8; the two stored memories' keys,
    forward and back, 2 x (2 + 2) = 8; W_q 2 S = 4, W_k 2 x 2 stored = 4; v 2 sum k = 4:
    32 + 16 + 32 + 28 + 42 = 150."""
    lstm = SABConfig(hidden=1, attn_dim=1, attention="none")
    assert update_flops(lstm, 2, 1, 1, 1) == 94
    sab = SABConfig(hidden=1, attn_dim=1, k_top=1, k_att=1)
    assert update_flops(sab, 2, 1, 1, 1) == 150


def test_model_impl_selects_the_path():
    """The reference path is the code every recorded run used (its functions are unchanged by
    issue 41): model.impl=reference must never route through the fast path, and fast must."""
    model = learner("reference", k_trunc=3, k_top=2)
    called = []
    original = sab_fast.update
    try:
        sab_fast.update = lambda *a, **k: called.append(1) or original(*a, **k)
        run(model, episode())
    finally:
        sab_fast.update = original
    assert not called
    fast = copy.deepcopy(model)
    fast.config.impl = "fast"
    try:
        sab_fast.update = lambda *a, **k: called.append(1) or original(*a, **k)
        run(fast, episode())
    finally:
        sab_fast.update = original
    assert called == [1]


def test_a_resume_may_change_the_training_path_not_the_model(tmp_path):
    """model.impl and model.cache_mib say how the gradient is computed, not what is learned: a run
    recorded on the reference path may be continued on the fast one (and back)."""
    from nobptt.errors import ConfigError
    from nobptt.run import check_resume_config

    before = {"task": {"name": "copying"}, "model": {"name": "sab", "hidden": 8, "impl": "reference", "cache_mib": 256}}
    check_resume_config(before, {**before, "model": {**before["model"], "impl": "fast", "cache_mib": 0}}, tmp_path)
    with pytest.raises(ConfigError, match="model.hidden cannot change at resume"):
        check_resume_config(before, {**before, "model": {**before["model"], "hidden": 9}}, tmp_path)

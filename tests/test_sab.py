"""SAB: the sparsifier, gradient oracles against one-graph BPTT, and the episode protocol."""
import pytest
import torch
import torch.nn.functional as F

from nobptt.learners import sab
from nobptt.learners.base import ClipWarmup, MedianClip, clip_gradients
from nobptt.learners.sab import SABConfig, SABLearner, sparse_weights
from nobptt.tasks.base import Batch
from nobptt.tasks.episodes import EpisodeStream

H, A = 6, 4


def episode(T=4, batch_size=3, seed=0):
    """One copying episode (T+20 steps) in float64."""
    stream = EpisodeStream("copying", T, batch_size, seed)
    steps = [stream.next_batch() for _ in range(stream.episode_length)]
    return [Batch(**{k: (v.double() if torch.is_tensor(v) and v.is_floating_point() else v)
                     for k, v in vars(b).items()}) for b in steps]


def learner(**options):
    torch.manual_seed(0)
    return SABLearner(SABConfig(hidden=H, attn_dim=A, **options), 10, 10).double()


def gradients(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def learn_episode(model, steps):
    state = model.initial_state(steps[0].x.shape[0], "cpu")
    state = {k: (v.double() if torch.is_tensor(v) else v) for k, v in state.items()}
    for batch in steps:
        state, out = model.learn(state, batch)
    return out


def test_sparsifier_keeps_exactly_k_top_weights_that_sum_to_one():
    scores = torch.randn(7, 20)
    weights = sparse_weights(scores, 5)
    assert ((weights > 0).sum(-1) == 5).all()
    assert torch.allclose(weights.sum(-1), torch.ones(7))
    kept = weights > 0
    assert (scores[kept].view(7, 5).min(-1).values >= scores[~kept].view(7, 15).max(-1).values).all()
    assert torch.allclose(sparse_weights(scores[:, :4], 5), torch.softmax(scores[:, :4], -1))


def test_scores_depend_on_the_current_state():
    """The paper's MLP score changes the selection with the query; the release's concat score cannot."""
    torch.manual_seed(0)
    keys_from = torch.randn(1, 12, H)
    states = torch.randn(50, H)
    for score, depends in (("additive", True), ("dot", True), ("concat", False)):
        model = learner(score=score).float()
        keys = model.scorer.key(keys_from).expand(50, -1, -1)
        weights = sparse_weights(model.scorer(states, keys), 3)
        varies = bool((weights - weights[:1]).abs().max() > 1e-6)
        assert varies == depends, score


def oracle_full_bptt_loss(model, steps):
    """Independent statement of the network with dense softmax attention, one graph, no cuts."""
    B = steps[0].x.shape[0]
    h = c = torch.zeros(B, H, dtype=torch.float64)
    memories, total, norm = [torch.zeros(B, H, dtype=torch.float64)], 0.0, B * len(steps)
    for i, batch in enumerate(steps):
        h_hat, c = model.cell(batch.x, (h, c))
        mem = torch.stack(memories, 1)
        query = model.scorer.query(h_hat).unsqueeze(1)
        scores = model.scorer.v(torch.tanh(query + model.scorer.key_map(mem))).squeeze(-1)
        summary = (torch.softmax(scores, -1).unsqueeze(-1) * mem).sum(1)
        h = h_hat + summary
        logits = model.head(torch.cat([h, summary], -1))
        total = total + F.cross_entropy(logits, batch.target_label, reduction="sum") / norm
        if (i + 1) % model.config.k_att == 0:
            memories.append(h)
    return total


@pytest.mark.parametrize("chunk", [32, 3])
def test_sab_with_every_memory_kept_and_no_truncation_matches_full_bptt(chunk, monkeypatch):
    """chunk: the one-graph path keeps its memories in chunks (13 memories here: one chunk, or
    four of 3 and a tail of 1)."""
    monkeypatch.setattr(sab._GraphMemories, "CHUNK", chunk)
    steps = episode()
    model = learner(k_top=len(steps), k_att=2, k_trunc=0)
    learn_episode(model, steps)
    ours = gradients(model)
    model.zero_grad()
    oracle_full_bptt_loss(model, steps).backward()
    exact = gradients(model)
    assert ours.keys() == exact.keys() and len(ours) == len(list(model.parameters()))
    for name in exact:
        assert torch.allclose(ours[name], exact[name], atol=1e-12), name


@pytest.mark.parametrize("attention,k_trunc,k_top", [("sparse", 3, 2), ("sparse", 5, 1), ("dense", 4, 1),
                                                     ("none", 3, 1)])
def test_blockwise_backtracking_equals_the_one_graph_gradient(attention, k_trunc, k_top):
    """Recomputing blocks last to first, with the memories' adjoints carried back, gives exactly
    the gradient of one autograd graph with the state cut every k_trunc steps."""
    steps = episode()
    model = learner(attention=attention, k_trunc=k_trunc, k_top=k_top)
    learn_episode(model, steps)
    blockwise = gradients(model)
    model.zero_grad()
    h = torch.zeros(3, H, dtype=torch.float64)
    loss, *_ = model.sequence_loss(steps, h, h.clone())
    loss.backward()
    one_graph = gradients(model)
    for name in one_graph:
        assert torch.allclose(blockwise[name], one_graph[name], atol=1e-12), name


def test_skip_connections_carry_gradient_across_truncation_blocks():
    """Scoring only the losses after the first block (k_trunc = 3): the first input's gradient is
    exactly 0 for truncated BPTT and non-zero for SAB, whose kept memories reach back into it."""
    steps = episode()
    ones = torch.ones(3, dtype=torch.float64)
    scored = [Batch(**{**vars(b), "weight": ones * (i >= 3)}) for i, b in enumerate(steps)]

    def first_input_grad(**options):
        model = learner(k_trunc=3, **options)
        x0 = scored[0].x.clone().requires_grad_(True)
        h = torch.zeros(3, H, dtype=torch.float64)
        loss, *_ = model.sequence_loss([Batch(**{**vars(scored[0]), "x": x0})] + scored[1:], h, h.clone())
        loss.backward()
        return x0.grad

    assert first_input_grad(attention="none").abs().max() == 0
    assert first_input_grad(attention="sparse", k_top=2).abs().max() > 0


def test_one_update_per_episode_and_inference_matches_training_outputs():
    steps = episode()
    model = learner(k_trunc=3, k_top=2)
    state = model.initial_state(3, "cpu")
    state = {k: (v.double() if torch.is_tensor(v) else v) for k, v in state.items()}
    updates = []
    for batch in steps:
        state, out = model.learn(state, batch)
        updates.append(out.update)
    assert updates == [False] * (len(steps) - 1) + [True]
    model.zero_grad()
    eval_state = {k: (v.double() if torch.is_tensor(v) else v) for k, v in model.initial_state(3, "cpu").items()}
    for batch in steps:
        eval_state, logits = model.infer(eval_state, batch)
    h = torch.zeros(3, H, dtype=torch.float64)
    with torch.no_grad():
        _, last, *_ = model.sequence_loss(steps, h, h.clone())
    assert torch.allclose(logits, last, atol=1e-10)


def test_unsynchronised_resets_are_refused_with_a_clear_message():
    model = learner()
    batch = episode()[0]
    state = {k: (v.double() if torch.is_tensor(v) else v) for k, v in model.initial_state(3, "cpu").items()}
    with pytest.raises(ValueError, match="synchronised"):
        model.learn(state, Batch(**{**vars(batch), "reset": torch.tensor([True, False, True])}))


def test_a_stream_wrapping_inside_a_window_learns_the_open_window_first():
    """Token streams wrap (a synchronised reset) wherever a pass ends, also inside a window."""
    from nobptt.tasks.tokens import ContiguousTokenStream

    stream = ContiguousTokenStream(torch.arange(16) % 10, torch.eye(10, dtype=torch.float64), batch_size=3)
    model = learner(window=4, k_trunc=2)
    state = {k: (v.double() if torch.is_tensor(v) else v) for k, v in model.initial_state(3, "cpu").items()}
    updates = []
    for _ in range(12):  # a pass is 5 steps: windows close at 4, at the wrap (6), at 9, at the wrap (11)
        state, out = model.learn(state, stream.next_batch())
        updates.append(out.update)
        model.zero_grad()
    assert [i + 1 for i, u in enumerate(updates) if u] == [4, 6, 9, 11]
    assert len(state["window"]) == 2  # steps 11 and 12


def test_forget_bias_shifts_only_the_forget_gate_and_keeps_the_cell_state_longer():
    default, shifted = learner(attention="none"), learner(attention="none", forget_bias=1.0)
    b0, b1 = default.cell.bias_ih.detach(), shifted.cell.bias_ih.detach()
    assert torch.allclose(b1[H:2 * H] - b0[H:2 * H], torch.ones(H, dtype=b0.dtype))
    assert torch.equal(b1[:H], b0[:H]) and torch.equal(b1[2 * H:], b0[2 * H:])
    assert torch.equal(shifted.cell.bias_hh, default.cell.bias_hh)
    # zero input and h: the cell state decays by the forget gate, sigmoid(bias); a larger bias keeps more
    x, h, c = torch.zeros(1, 10, dtype=torch.double), torch.zeros(1, H, dtype=torch.double), torch.ones(1, H, dtype=torch.double)
    kept = {name: m.cell(x, (h, c))[1] for name, m in (("default", default), ("shifted", shifted))}
    assert (kept["shifted"] > kept["default"]).all()


def test_the_logged_gradient_norm_is_the_norm_before_clipping():
    steps = episode()
    free = learner(grad_clip=0.0)
    logged = learn_episode(free, steps).losses
    norm = torch.cat([g.flatten() for g in gradients(free).values()]).norm().item()
    assert logged["grad_norm"] == pytest.approx(norm) and logged["clipped"] == 0.0
    clipped = learner(grad_clip=norm / 2)
    logged = learn_episode(clipped, steps).losses
    assert logged["grad_norm"] == pytest.approx(norm) and logged["clipped"] == 1.0
    assert torch.cat([g.flatten() for g in gradients(clipped).values()]).norm().item() == pytest.approx(norm / 2, rel=1e-5)  # clip_grad_norm_ adds 1e-6


def test_part_gradient_norms_split_the_global_norm_before_clipping():
    steps = episode()
    for attention in ("sparse", "none"):
        logged = learn_episode(learner(attention=attention, grad_clip=1e-3), steps).losses
        parts = {k: v for k, v in logged.items() if k.startswith("grad_norm_")}
        assert set(parts) == {"grad_norm_lstm", "grad_norm_head"} | ({"grad_norm_attention"} if attention != "none" else set())
        assert all(v > 0 for v in parts.values())
        # the parts are disjoint and cover every parameter: their squares add up to the global
        # norm's, which was taken before the clip (every update here is clipped)
        assert logged["clipped"] == 1.0
        assert sum(v ** 2 for v in parts.values()) == pytest.approx(logged["grad_norm"] ** 2, rel=1e-6)


def test_median_clip_clips_bursts_only_once_its_window_is_full():
    clip, weight = MedianClip(factor=2.0, window=3), torch.nn.Parameter(torch.zeros(1, dtype=torch.double))

    def update(norm):
        weight.grad = torch.full_like(weight, norm)
        return clip_gradients([weight], 0.0, clip), float(weight.grad.abs())

    for norm in (1.0, 100.0, 1.0):  # the window is not full yet: nothing is clipped
        assert update(norm) == ({"grad_norm": norm, "clipped": 0.0}, norm)
    logged, after = update(3.0)  # median of (1, 100, 1) is 1: limit 2
    assert logged == {"grad_norm": 3.0, "clipped": 1.0} and after == pytest.approx(2.0, rel=1e-5)
    logged, after = update(2.5)  # the history holds pre-clip norms: (100, 1, 3), median 3, limit 6
    assert logged["clipped"] == 0.0 and after == 2.5
    weight.grad = torch.full_like(weight, 5.0)
    assert clip_gradients([weight], 1.0, clip)["clipped"] == 1.0 and float(weight.grad) == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(ValueError, match="factor > 0"):
        MedianClip(factor=0.0, window=3)


def test_clip_warmup_switches_to_the_learner_clip_after_its_updates_and_resumes_there():
    steps = episode()
    plain, warm = learner(), learner(grad_clip=1e-6, grad_clip_early=0.0, grad_clip_early_updates=2)
    assert not any("clip_warmup" in k for k in plain.state_dict())  # old checkpoints keep loading
    clipped = []
    for _ in range(2):
        warm.zero_grad()
        clipped.append(learn_episode(warm, steps).losses["clipped"])
    assert clipped == [0.0, 0.0]  # the warm-up's limit: 0 = no clipping
    resumed = learner(grad_clip=1e-6, grad_clip_early=0.0, grad_clip_early_updates=2)
    resumed.load_state_dict(warm.state_dict())
    assert int(resumed.clip_warmup.seen) == 2
    out = learn_episode(resumed, steps)  # the third update: grad_clip applies
    norm = torch.cat([p.grad.flatten() for p in resumed.parameters() if p.grad is not None]).norm()
    assert out.losses["clipped"] == 1.0 and float(norm) == pytest.approx(1e-6, rel=1e-4)
    assert ClipWarmup(0.5, 1).max_norm(2.0) == 0.5
    with pytest.raises(ValueError, match="grad_clip_early_updates"):
        learner(grad_clip_early_updates=-1)
    with pytest.raises(ValueError, match="limit >= 0"):
        learner(grad_clip_early=-1.0, grad_clip_early_updates=3)


def test_median_clip_history_travels_in_the_learner_state_dict():
    steps = episode()
    plain, clipped = learner(), learner(grad_clip_median=2.0, grad_clip_window=2)
    assert not any("median_clip" in k for k in plain.state_dict())  # old checkpoints keep loading
    for _ in range(3):
        learn_episode(clipped, steps)
    resumed = learner(grad_clip_median=2.0, grad_clip_window=2)
    resumed.load_state_dict(clipped.state_dict())
    assert int(resumed.median_clip.seen) == 3 and resumed.median_clip.limit() == clipped.median_clip.limit() < float("inf")
    with pytest.raises(ValueError, match="grad_clip_median"):
        learner(grad_clip_median=-1.0)

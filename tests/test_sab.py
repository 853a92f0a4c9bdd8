"""SAB: the sparsifier, gradient oracles against one-graph BPTT, and the episode protocol."""
import pytest
import torch
import torch.nn.functional as F

from nobptt.learners import sab
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

"""One parametrized contract test over every registered learner, plus per-family oracles."""
import copy

import pytest
import torch
import torch.nn.functional as F

from nobptt.learners.base import forget_streams
from nobptt.learners.registry import build_learner, learner_specs
from nobptt.tasks.base import Batch

D, C, B = 12, 5, 6
SMALL = {  # small sizes so the contract test is fast; unknown learners use their defaults
    "brsm": dict(groups=30, k=4, classifier_hidden=16),
    "pbrsm": dict(groups=40, k=5, classifier_hidden=16),
    "rsm": dict(groups=10, cells_per_group=3, k=3, classifier_hidden=16),
    "lstm": dict(hidden=8, k1=2, k2=3, classifier_hidden=16),
    "lstm_lm": dict(hidden=8, window=3),
    "sab": dict(hidden=8, attn_dim=4, k_trunc=2, window=3),
    # SAB's baselines: their own attention / k_trunc / k_att (the presets), small sizes
    "sab_lstm_tbptt5": dict(hidden=8, window=3),
    "sab_lstm_bptt": dict(hidden=8, window=3),
    "sab_selfattn": dict(hidden=8, attn_dim=4, window=3),
    # the BPTT baselines on the online cells: windows shorter than the 6 steps (their defaults
    # update at an episode's end / every 10 steps, and these batches have no episodes)
    "bptt": dict(hidden=8, update_every=3),
    "tbptt": dict(hidden=8, k=2, update_every=4),
}


def random_batches(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(n + 1, B, D, generator=g)
    labels = torch.randint(0, C, (n + 1, B), generator=g)
    return [Batch(xs[t], labels[t], xs[t + 1], labels[t + 1]) for t in range(n)]


def make(name, **extra):
    torch.manual_seed(0)
    return build_learner(name, {**SMALL.get(name, {}), **extra}, D, C)


@pytest.mark.parametrize("name", sorted(learner_specs()))
def test_learner_contract(name):
    learner = make(name)
    # a learner may have nothing for an optimizer (the esn's ridge readout is solved in closed form)
    optimizer = torch.optim.Adam(learner.param_groups()) if learner.param_groups() else None
    state = learner.initial_state(B, "cpu")
    updates = predictions = 0
    for batch in random_batches(6):
        state, out = learner.learn(state, batch)
        if out.logits is not None:  # a learner may predict only at some steps (a window's last)
            predictions += 1
            assert out.logits.shape == (B, C) and not out.logits.requires_grad
        if out.update:
            updates += 1
            grads = [p.grad for p in learner.parameters() if p.grad is not None]
            assert grads and all(torch.isfinite(g).all() for g in grads)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    assert (updates >= 1 or optimizer is None) and predictions >= 1
    eval_state = learner.initial_state(B, "cpu")
    eval_state, logits = learner.infer(eval_state, random_batches(1)[0])
    assert logits.shape == (B, C)
    groups = learner.param_groups()
    grouped = sum(p.numel() for g in groups for p in g["params"])
    assert grouped == sum(p.numel() for p in learner.parameters()), "every parameter is optimised"


@pytest.mark.parametrize("name", ["brsm", "pbrsm", "rsm"])
def test_no_gradient_crosses_a_time_step(name):
    learner = make(name)
    state = learner.initial_state(B, "cpu")
    for batch in random_batches(3):
        state, _ = learner.learn(state, batch)
    # Attach the carried state to a probe leaf: if any gradient crossed into the past, the
    # probe would receive it.
    probe = torch.ones((), requires_grad=True)
    state = {k: (v * probe if isinstance(v, torch.Tensor) else v) for k, v in state.items()}
    learner.zero_grad()
    learner.learn(state, random_batches(1, seed=1)[0])
    assert probe.grad is None
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.layer.parameters())


@pytest.mark.parametrize("name", ["brsm", "pbrsm", "rsm"])
def test_rsm_activity_is_exactly_k_winners(name):
    learner = make(name)
    state = learner.initial_state(B, "cpu")
    for batch in random_batches(3):
        out, state = learner.layer(batch.x, state, learn=True)
        assert out.mask.sum(dim=1).eq(learner.config.k).all()
        assert ((out.y != 0).float() <= out.mask).all()  # only winners carry activity
        cells = out.mask.view(B, learner.config.groups, learner.config.cells_per_group)
        assert cells.sum(dim=2).max() <= 1  # at most one winning cell per group


def test_partition_blocks_see_only_their_inputs():
    learner = make("pbrsm")
    layer = learner.layer
    part = layer.part
    x = torch.randn(B, D)
    r0, r1 = torch.zeros(B, layer.units), torch.rand(B, layer.units)
    s0, s1 = layer.dendritic_sums(x, r0), layer.dendritic_sums(x, r1)
    # feed-forward-only cells ignore the recurrent input; recurrent-only cells ignore x
    assert torch.equal(s0[:, : part.ff_only], s1[:, : part.ff_only])
    rec_start = part.ff_only + part.integrating
    s2 = layer.dendritic_sums(torch.zeros(B, D), r1)
    assert torch.equal(s1[:, rec_start:], s2[:, rec_start:])
    assert not torch.equal(s1[:, part.ff_only:rec_start], s2[:, part.ff_only:rec_start])


def test_trace_decay_and_floor():
    learner = make("brsm", trace_decay=0.5, decay_floor=0.2, normalise=False)
    state = {"yhat": torch.zeros(1, 30), "trace": torch.zeros(1, 30)}
    state["trace"][0, :3] = torch.tensor([1.0, 0.3, 0.1])
    state["yhat"][0, 2] = 0.4
    r = learner.layer.recurrent_input(state)
    assert torch.allclose(r[0, :3], torch.tensor([0.5, 0.0, 0.4]))  # 0.15 < floor -> 0


def test_trainable_decay_gets_a_within_step_gradient():
    learner = make("brsm", trace_decay=0.5, trainable_decay=True)
    state = learner.initial_state(B, "cpu")
    for batch in random_batches(3):
        learner.zero_grad()
        state, _ = learner.learn(state, batch)
    assert learner.layer.decay_logit.grad is not None
    assert torch.allclose(learner.layer.decay()[0], torch.tensor(0.95 * torch.sigmoid(torch.tensor(0.5)).item()),
                          atol=1e-6)


def test_forgetting_clears_only_flagged_streams():
    state = {"yhat": torch.ones(4, 3), "trace": torch.ones(4, 3)}
    out = forget_streams(state, torch.tensor([False, True, False, True]))
    assert out["yhat"][:, 0].tolist() == [1, 0, 1, 0] and out["trace"][1].sum() == 0


# -- LSTM: truncated BPTT against exact BPTT on a tiny network --------------------------------
def manual_bptt_grads(learner, batches, start, scored):
    """Exact BPTT: run `batches` from `start`, sum the losses at indices `scored`, return grads."""
    net = copy.deepcopy(learner)
    net.zero_grad()
    h, c = start
    total = 0
    for i, b in enumerate(batches):
        h, c = net.cell(b.x, (h, c))
        if i in scored:
            total = total + F.cross_entropy(net.classifier(h), b.target_label) \
                + F.mse_loss(net.decoder(h), b.target_x)
    total.backward()
    return {n: p.grad.clone() for n, p in net.named_parameters()}


@pytest.mark.parametrize("k1,k2", [(4, 4), (1, 4), (2, 3)])
def test_tbptt_matches_exact_bptt(k1, k2):
    learner = make("lstm", k1=k1, k2=k2)
    batches = random_batches(8, seed=3)
    state = learner.initial_state(B, "cpu")
    states = [(state["h"], state["c"])]
    for t, batch in enumerate(batches):
        learner.zero_grad()
        state, out = learner.learn(state, batch)
        states.append((state["h"].detach(), state["c"].detach()))
        if out.update:
            window = batches[max(0, t + 1 - k2): t + 1]
            start = states[max(0, t + 1 - k2)]
            scored = set(range(len(window) - k1, len(window)))
            expected = manual_bptt_grads(learner, window, start, scored)
            for n, p in learner.named_parameters():
                assert torch.allclose(p.grad, expected[n], atol=1e-6), (t, n)
            # no optimizer step: parameters stay fixed so stored states stay exact


def test_tbptt_resumes_mid_window_without_the_graph():
    a, b = make("lstm", k1=4, k2=4), make("lstm", k1=4, k2=4)
    batches = random_batches(4, seed=5)
    sa = sb = a.initial_state(B, "cpu")
    for i, batch in enumerate(batches):
        sa, oa = a.learn(sa, batch)
        if i == 1:  # simulate a checkpoint: the open graph is dropped
            sb = {k: v for k, v in sa.items() if not k.startswith("_")}
            sb = {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in sb.items()}
        elif i > 1:
            sb, ob = b.learn(sb, batch)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-6)

"""P-TNCN (nobptt/learners/ptncn.py): a hand-computed fixture checked against independent
straight-line numpy code, and the invariants of docs/ptncn.md."""
import numpy as np
import pytest
import torch

from nobptt.errors import ConfigError
from nobptt.learners.ptncn import PTNCNConfig, PTNCNLearner
from nobptt.tasks.base import Batch
from nobptt.train.optim import OptimConfig, make_optimizer

D, H = 5, 4  # input 5 (one-hot symbols, also the output size), hidden 4
SEQS = np.array([[0, 2, 4, 1], [3, 3, 1, 0]])  # two streams, 3 steps (4 symbols: inputs + targets)
WEIGHTS = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])  # stream 1's last target is padding
LR = 0.5  # plain SGD applied between steps, in the fixture and in the reference alike


def one_hot(i, n=D):
    v = np.zeros(n)
    v[i] = 1.0
    return v


def fixture_weights():
    rng = np.random.RandomState(7)
    shapes = {"W1": (H, D), "W2": (H, H), "E1": (D, H), "E2": (H, H), "M1": (D, H),
              "M2": (H, H), "V1": (H, H), "V2": (H, H), "U1": (H, H)}
    return {k: np.round(rng.uniform(-0.6, 0.6, size=s), 2) for k, s in shapes.items()}


def fixture_batches(dtype=torch.float64):
    out = []
    for t in range(3):
        x = torch.tensor(np.stack([one_hot(s[t]) for s in SEQS]), dtype=dtype)
        out.append(Batch(x, torch.tensor(SEQS[:, t]), torch.zeros(2, D, dtype=dtype), torch.tensor(SEQS[:, t + 1]),
                         weight=torch.tensor(WEIGHTS[t], dtype=dtype)))
    return out


def np_clip(d, r):
    n = np.sqrt((d ** 2).sum())
    return d * (r / n) if n > r else d


def np_reference(P, beta, gamma_e, lam, w2_rule, e_rule, gamma, radius):
    """Straight-line float64 numpy of the official code's equations (docs/ptncn.md), written out
    independently of nobptt.learners.ptncn_rules; returns each step's intermediates."""
    P = {k: v.copy() for k, v in P.items()}
    B = SEQS.shape[0]
    steps = []
    y1 = np.zeros((B, H))
    y2 = np.zeros((B, H))
    ep1 = np.zeros((B, H))
    ep2 = np.zeros((B, H))
    for t in range(3):
        r = {}
        x = np.stack([one_hot(s[t]) for s in SEQS])
        tgt = np.stack([one_hot(s[t + 1]) for s in SEQS])
        m = WEIGHTS[t][:, None]
        if t == 0:  # the paper's step 0: zero input and states, observed x_0 = this batch's input
            pz1 = np.tanh(np.zeros((B, H)))
            pz2 = np.tanh(np.zeros((B, H)))
            pz1h = pz2 @ P["W2"]
            pv = pz1 @ P["W1"]
            pxh = np.exp(pv) / np.exp(pv).sum(1, keepdims=True)
            pe0 = pxh - x
            pe1 = pz1h - pz1
            pd2 = pe1 @ P["E2"]
            pd1 = pe0 @ P["E1"] - gamma_e * pe1
            py2 = np.tanh(0.0 - beta * pd2)
            py1 = np.tanh(0.0 - beta * pd1)
            r.update(prime_x_hat=pxh, prime_e0=pe0, prime_e1=pe1, prime_y1=py1, prime_y2=py2)
            y1, y2 = py1, py2
            ep1, ep2 = pz1 - py1, pz2 - py2
        a2 = y1 @ P["M2"] + y2 @ P["V2"]
        z2 = np.tanh(a2)
        a1 = x @ P["M1"] + y2 @ P["U1"] + y1 @ P["V1"]
        z1 = np.tanh(a1)
        z1h = z2 @ P["W2"]
        v = z1 @ P["W1"]
        xh = np.exp(v - v.max(1, keepdims=True))
        xh = xh / xh.sum(1, keepdims=True)
        e0 = (xh - tgt) * m
        e1 = (z1h - z1) * m
        d2 = e1 @ P["E2"] + lam * np.sign(a2)
        d1 = e0 @ P["E1"] - gamma_e * e1 + lam * np.sign(a1)
        ny2 = np.tanh(a2 - beta * d2)
        ny1 = np.tanh(a1 - beta * d1)
        eps1 = (z1 - ny1) * m
        eps2 = (z2 - ny2) * m
        dl = {"W1": z1.T @ e0, "W2": z2.T @ eps1 if w2_rule == "code" else z2.T @ e1,
              "M1": x.T @ eps1, "M2": y1.T @ eps2, "V1": y1.T @ eps1, "V2": y2.T @ eps2, "U1": y2.T @ eps1}
        dl = {k: np_clip(d, radius) for k, d in dl.items()}  # each clipped, as the code
        if e_rule == "code":  # E from W's update after its clip, clipped again (the code's order)
            dl["E1"] = np_clip(gamma * dl["W1"].T, radius)
            dl["E2"] = np_clip(gamma * dl["W2"].T, radius)
        else:
            dl["E1"] = np_clip(-gamma * e0.T @ (eps1 - ep1), radius)
            dl["E2"] = np_clip(-gamma * e1.T @ (eps2 - ep2), radius)
        r.update(a1=a1, a2=a2, z1=z1, z2=z2, z1_hat=z1h, logits=v, x_hat=xh, e0=e0, e1=e1, d1=d1, d2=d2,
                 y1=ny1, y2=ny2, eps1=eps1, eps2=eps2)
        r.update({f"delta_{k}": d for k, d in dl.items()})
        steps.append(r)
        for k in P:  # SGD on the clipped, batch-averaged updates
            P[k] = P[k] - LR * dl[k] / B
        y1, y2, ep1, ep2 = ny1, ny2, eps1, eps2
    return steps


def build(weights=None, dtype=torch.float64, input_dim=D, n_out=D, **options):
    learner = PTNCNLearner(PTNCNConfig(**{"hidden": H, **options}), input_dim, n_out).to(dtype)
    if weights is not None:
        with torch.no_grad():
            for name, p in learner.params().items():
                p.copy_(torch.tensor(weights[name]))
    return learner


@pytest.mark.parametrize("w2_rule,e_rule,lam", [("code", "code", 0.0), ("paper", "temporal", 0.02)])
def test_hand_computed_fixture(w2_rule, e_rule, lam):
    opts = dict(beta=0.5, gamma_e=0.1, lam=lam, w2_rule=w2_rule, e_rule=e_rule, gamma=0.8, update_radius=0.3)
    P = fixture_weights()
    ref = np_reference(P, opts["beta"], opts["gamma_e"], lam, w2_rule, e_rule, opts["gamma"], opts["update_radius"])
    learner = build(P, **opts)
    optimizer = torch.optim.SGD(learner.param_groups(), lr=LR)
    state = learner.initial_state(2, "cpu")
    clipped = 0
    for t, batch in enumerate(fixture_batches()):
        terms = learner.step_terms(state, batch)
        assert ("prime_e0" in terms) == (t == 0)
        for key, expected in ref[t].items():
            np.testing.assert_allclose(terms[key].numpy(), expected, rtol=1e-10, atol=1e-12, err_msg=f"step {t} {key}")
        clipped += sum(np.isclose(np.sqrt((ref[t][k] ** 2).sum()), 0.3) for k in ref[t] if k.startswith("delta_"))
        state, out = learner.learn(state, batch)  # the same step again, now writing p.grad
        assert out.update and torch.equal(out.logits, terms["logits"])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    assert clipped > 0  # the fixture exercises the update clip too
    assert ref[2]["eps1"][1].sum() == 0 and ref[2]["e0"][1].sum() == 0  # and the padding mask


def random_batches(n, B=3, d=D, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    syms = torch.randint(0, d, (n + 1, B), generator=g)
    x = torch.nn.functional.one_hot(syms, d).to(dtype)
    return [Batch(x[t], syms[t], x[t + 1], syms[t + 1]) for t in range(n)]


def test_beta_zero_means_no_correction_and_no_state_updates():
    learner = build(beta=0.0, gamma_e=0.1)
    torch.manual_seed(1)
    state = learner.initial_state(3, "cpu")
    for batch in random_batches(4):
        terms = learner.step_terms(state, batch)
        assert torch.equal(terms["y1"], terms["z1"]) and torch.equal(terms["y2"], terms["z2"])
        assert not terms["eps1"].any() and not terms["eps2"].any()
        for name in ("M1", "M2", "V1", "V2", "U1", "W2", "E2"):
            assert not terms[f"delta_{name}"].any(), name
        assert terms["delta_W1"].abs().sum() > 0  # the output layer still learns
        state = terms["state"]


def test_nothing_carries_a_graph():
    learner = build(dtype=torch.float32)
    optimizer = make_optimizer(learner, OptimConfig(optimizer="sgd", lr=0.075, momentum=0.95, nesterov=True))
    state = learner.initial_state(3, "cpu")
    with torch.enable_grad():
        for batch in random_batches(3, dtype=torch.float32):
            state, out = learner.learn(state, batch)
            for name, p in learner.named_parameters():
                assert p.grad is not None and p.grad.grad_fn is None and not p.grad.requires_grad, name
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    assert all(p.grad_fn is None for p in learner.parameters())
    assert all(v.grad_fn is None and not v.requires_grad for v in state.values())
    assert out.logits.grad_fn is None


def test_code_e_rule_keeps_e_minus_w_transposed_constant():
    learner = build(dtype=torch.float64, hidden=6)
    optimizer = make_optimizer(learner, OptimConfig(optimizer="sgd", lr=0.075, momentum=0.95, nesterov=True))
    gap1, gap2 = (learner.E1 - learner.W1.T).detach().clone(), (learner.E2 - learner.W2.T).detach().clone()
    w1 = learner.W1.detach().clone()
    state = learner.initial_state(3, "cpu")
    for batch in random_batches(20):
        state, _ = learner.learn(state, batch)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    assert not torch.allclose(learner.W1, w1)  # the weights did move
    torch.testing.assert_close(learner.E1 - learner.W1.T, gap1, rtol=0, atol=1e-12)
    torch.testing.assert_close(learner.E2 - learner.W2.T, gap2, rtol=0, atol=1e-12)


def cycle_batches(n, B=4, d=6):
    """A repeated pattern: each stream walks 0, 1, ..., d-1, 0, ... from its own offset."""
    syms = (torch.arange(n + 1).view(-1, 1) + torch.arange(B).view(1, -1)) % d
    x = torch.nn.functional.one_hot(syms, d).float()
    return [Batch(x[t], syms[t], x[t + 1], syms[t + 1]) for t in range(n)]


@pytest.mark.parametrize("act", ["sign", "step"])
def test_non_differentiable_activations_train(act):
    torch.manual_seed(0)
    learner = build(dtype=torch.float32, input_dim=6, n_out=6, hidden=16, act=act, init_sd=0.3)
    optimizer = make_optimizer(learner, OptimConfig(optimizer="sgd", lr=0.075, momentum=0.95, nesterov=True))
    state, losses = learner.initial_state(4, "cpu"), []
    for batch in cycle_batches(300):
        state, out = learner.learn(state, batch)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(out.losses["loss"])
    first, last = np.mean(losses[:20]), np.mean(losses[-20:])
    assert last < 0.5 * first, (act, first, last)


def test_prediction_never_sees_its_target():
    learner = build(gamma_e=0.1)
    state = learner.initial_state(3, "cpu")
    batches = random_batches(3)
    for batch in batches[:2]:
        state, _ = learner.infer(state, batch)
    other = Batch(batches[2].x, batches[2].label, batches[2].target_x, (batches[2].target_label + 1) % D)
    _, a = learner.infer(state, batches[2])
    _, b = learner.infer(state, other)
    assert torch.equal(a, b)


def test_reset_restarts_a_stream_as_if_new():
    learner = build(gamma_e=0.1)
    batches = random_batches(6)
    state = learner.initial_state(3, "cpu")
    for batch in batches[:3]:
        state, _ = learner.infer(state, batch)
    fresh = learner.initial_state(3, "cpu")
    for i, batch in enumerate(batches[3:]):
        reset = torch.tensor([True, False, False]) if i == 0 else None
        state, a = learner.infer(state, Batch(batch.x, batch.label, batch.target_x, batch.target_label, reset=reset))
        fresh, b = learner.infer(fresh, batch)
        torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
        assert not torch.equal(a[1], b[1])  # the other streams kept their history


def test_beta_eval_zero_turns_the_correction_off_at_evaluation_only():
    learner = build(beta=0.3, beta_eval=0.0)
    batch = random_batches(1)[0]
    state = learner.initial_state(3, "cpu")
    evaluated = learner.step_terms(state, batch, learning=False)
    trained = learner.step_terms(state, batch, learning=True)
    assert torch.equal(evaluated["y1"], evaluated["z1"]) and not torch.equal(trained["y1"], trained["z1"])
    assert "delta_W1" not in evaluated


def test_first_update_step_skips_early_steps():
    learner = build(first_update_step=2)
    state = learner.initial_state(3, "cpu")
    batches = random_batches(2)
    state, out = learner.learn(state, batches[0])
    assert not out.update and all(p.grad is None for p in learner.parameters())
    state, out = learner.learn(state, batches[1])
    assert out.update


def test_frame_targets_use_a_sigmoid_and_bernoulli_cross_entropy():
    learner = build(gamma_e=0.1)
    g = torch.Generator().manual_seed(3)
    frames = torch.rand(3, 3, D, generator=g, dtype=torch.float64)
    batch = Batch(frames[0], torch.zeros(3, dtype=torch.long), frames[1], torch.zeros(3, dtype=torch.long))
    batch.target_prob = frames[1]  # the bouncing task's field (Batch.target_prob, issue 40)
    terms = learner.step_terms(learner.initial_state(3, "cpu"), batch)
    p = torch.sigmoid(terms["logits"])
    torch.testing.assert_close(terms["e0"], p - frames[1])
    bce = -(frames[1] * p.log() + (1 - frames[1]) * (1 - p).log()).sum(-1)
    torch.testing.assert_close(terms["loss"], bce)
    torch.testing.assert_close(terms["prime_e0"], terms["prime_x_hat"] - frames[0])  # x_0 observed


def test_persistent_state_does_not_grow_with_T():
    from nobptt.bench.memory import measure
    rows = [measure("ptncn", T, batch_size=4, hidden=16) for T in (10, 100)]
    assert rows[0]["persistent_bytes"] == rows[1]["persistent_bytes"]
    assert rows[0]["saved_bytes"] == rows[1]["saved_bytes"] == 0  # no autograd graph at all


@pytest.mark.parametrize("options", [{"act": "gelu"}, {"out": "tanh"}, {"w2_rule": "x"}, {"e_rule": "paper"},
                                     {"beta_eval": -0.1}, {"beta_eval": "0.1"}])
def test_config_refuses_unknown_choices(options):
    with pytest.raises(ConfigError):
        PTNCNConfig(**options)


def test_optim_momentum_fields():
    assert OptimConfig().momentum == 0.0 and OptimConfig().nesterov is False
    for bad in ({"momentum": 0.9}, {"optimizer": "sgd", "nesterov": True}, {"optimizer": "sgd", "momentum": 1.0}):
        with pytest.raises(ConfigError):
            OptimConfig(**bad)
    learner = build()
    sgd = make_optimizer(learner, OptimConfig(optimizer="sgd", lr=0.075, momentum=0.95, nesterov=True))
    assert sgd.param_groups[0]["momentum"] == 0.95 and sgd.param_groups[0]["nesterov"]
    plain = make_optimizer(learner, OptimConfig(optimizer="sgd"))
    assert plain.param_groups[0]["momentum"] == 0 and not plain.param_groups[0]["nesterov"]


def test_eval_may_turn_the_correction_off_but_change_nothing_else(tmp_path, capsys):
    """The zero-shot comparison evaluates trained weights with and without the state correction:
    `nobptt eval --set model.beta_eval=0` (P-TNCN's EVAL_FIELDS); other model fields stay refused."""
    from nobptt.cli import main
    from nobptt.evaluate import evaluate_checkpoint

    experiment, run = tmp_path / "tiny_ptncn.toml", tmp_path / "run"
    # NARMA10: a target every step (the adding task masks all but an episode's last, where a
    # correction comes too late to change a scored prediction)
    experiment.write_text('[task]\nname = "narma10"\ntrain_length = 100\nheldout_length = 50\n'
                          'eval_warmup = 10\n[model]\nname = "ptncn"\nhidden = 8\nbeta = 0.5\n'
                          '[train]\nsteps = 30\nepoch_steps = 10\neval_every = 0\nprogress = false\n')
    assert main(["train", str(experiment), "--run-dir", str(run)]) == 0
    corrected = evaluate_checkpoint(run, "checkpoint.pt", "heldout").metrics
    frozen = evaluate_checkpoint(run, "checkpoint.pt", "heldout", ["model.beta_eval=0"]).metrics
    assert corrected["heldout_mse"] != frozen["heldout_mse"]
    capsys.readouterr()
    assert main(["eval", str(run), "--set", "model.hidden=3"]) == 2
    assert "model.beta_eval" in capsys.readouterr().err


def test_a_resumed_run_ends_where_the_uninterrupted_one_does(tmp_path):
    """The carried state (y, eps, the step counter) and the momentum buffers live in the
    checkpoint: training 30 steps equals 15 steps, a resume, and 15 more."""
    from nobptt.cli import main
    from nobptt.train.checkpoint import load_checkpoint

    experiment = tmp_path / "tiny_ptncn.toml"
    experiment.write_text('[task]\nname = "narma10"\ntrain_length = 100\nheldout_length = 20\n'
                          'batch_size = 2\n[model]\nname = "ptncn"\nhidden = 8\n'
                          '[train]\nsteps = 30\nepoch_steps = 5\neval_every = 0\ncheckpoint_every = 5\n'
                          'progress = false\n')
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["train", str(experiment), "--run-dir", str(whole)]) == 0
    assert main(["train", str(experiment), "--steps", "15", "--run-dir", str(parts)]) == 0
    assert main(["train", "--resume", str(parts), "--steps", "30"]) == 0
    a, b = load_checkpoint(whole / "checkpoint.pt"), load_checkpoint(parts / "checkpoint.pt")
    assert a["step"] == b["step"] == 30
    for name, value in a["learner"].items():
        assert torch.equal(value, b["learner"][name]), name
    for name, value in a["learner_state"].items():
        assert torch.equal(value, b["learner_state"][name]), name

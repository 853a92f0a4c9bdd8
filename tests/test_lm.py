"""Language-model evaluation (perplexity, cache, mixture), bRSM schedules and a tiny LM run."""
import json
import math

import pytest
import torch

from nobptt.train.config import TrainConfig
from nobptt.train.optim import OptimConfig
from nobptt.learners.rsm import RSMConfig, RSMLearner
from nobptt.lm.cache import cache_probs
from nobptt.lm.mixture import Mixture, fit_mixture, fit_weights, perplexity
from nobptt.tasks.tokens import ChunkedTokenStream, TokenStream
from nobptt.train.trainer import Trainer


def test_perplexity_of_known_distributions():
    assert perplexity(torch.full((50,), math.log(1 / 7))) == pytest.approx(7.0)
    # half the tokens at p=1/2, half at p=1/8: exp(mean(log 2, log 8)) = 4
    log_p = torch.tensor([math.log(0.5), math.log(0.125)] * 10)
    assert perplexity(log_p) == pytest.approx(4.0)


def _full_cache_distribution(inputs, vocab, decay):
    """cache(w) for every w at every step, by asking for each possible target in turn."""
    return torch.stack([cache_probs(inputs, torch.full_like(inputs, w), vocab, decay) for w in range(vocab)])


def test_cache_is_a_decayed_count_of_the_history_and_sums_to_one():
    inputs = torch.tensor([[2, 0, 2, 1]])
    dist = _full_cache_distribution(inputs, 3, 0.5)  # (V, 1, L)
    torch.testing.assert_close(dist.sum(0), torch.ones(1, 4, dtype=torch.float64))
    # after reading 2, 0, 2: weights 0.25, 0.5, 1 over a total of 1.75
    assert float(dist[2, 0, 2]) == pytest.approx(1.25 / 1.75)
    assert float(dist[0, 0, 2]) == pytest.approx(0.5 / 1.75)
    no_memory = _full_cache_distribution(inputs, 3, 0.0)
    assert torch.equal(no_memory.argmax(0), inputs)  # decay 0: all mass on the current word


def test_mixture_normalises_and_never_scores_zero():
    vocab = 5
    model = torch.softmax(torch.randn(vocab), 0)
    cache = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0])
    mixture = Mixture(model=0.9, cache=0.09, uniform=0.01, cache_decay=0.9)
    full = mixture.log_probs(model, cache, vocab).exp()
    assert float(full.sum()) == pytest.approx(1.0)
    zero = mixture.log_probs(torch.zeros(3), torch.zeros(3), vocab)
    assert torch.isfinite(zero).all()


def test_em_recovers_mixture_weights_and_beats_a_grid():
    gen = torch.Generator().manual_seed(0)
    n = 20_000
    a, b = torch.rand(n, generator=gen), torch.rand(n, generator=gen)
    # tokens drawn from component 0 with prob 0.7: where a token comes from a component, that
    # component gives it high probability, the other low
    from_a = torch.rand(n, generator=gen) < 0.7
    pa = torch.where(from_a, 0.5 + 0.5 * a, 0.01 * a)
    pb = torch.where(from_a, 0.01 * b, 0.5 + 0.5 * b)
    w = fit_weights(torch.stack([pa, pb], 1))
    assert float(w.sum()) == pytest.approx(1.0) and float(w[0]) == pytest.approx(0.7, abs=0.02)
    best_grid = max(float((g * pa + (1 - g) * pb).log().mean()) for g in torch.linspace(0.01, 0.99, 99))
    assert float((w[0] * pa + w[1] * pb).log().mean()) >= best_grid - 1e-9


def test_fit_mixture_picks_the_decay_that_validation_prefers():
    model_p = torch.full((1000,), 0.01)
    caches = {0.5: torch.full((1000,), 0.001), 0.9: torch.full((1000,), 0.5)}
    mixture, scores = fit_mixture(model_p, caches, vocab_size=100)
    assert mixture.cache_decay == 0.9 and scores[0.9] < scores[0.5]
    assert mixture.model + mixture.cache + mixture.uniform == pytest.approx(1.0)


def _tiny_rsm(**schedule):
    config = RSMConfig(groups=40, k=6, classifier_hidden=16, boost_strength=1.0, **schedule)
    return RSMLearner(config, input_dim=5, n_classes=5)


def _batches(n, batch=4, vocab=5, seed=0):
    ids, table = torch.arange(200) % vocab, torch.eye(vocab)
    stream = TokenStream(ids, table, batch, seed=seed)
    return [stream.next_batch() for _ in range(n)]


def test_memory_freezes_and_classifier_starts_on_schedule():
    learner = _tiny_rsm(memory_steps=3, classifier_from_step=2)
    state = learner.initial_state(4, "cpu")
    seen = []
    for batch in _batches(5):
        learner.zero_grad(set_to_none=True)
        state, out = learner.learn(state, batch)
        memory_grad = learner.layer.recurrent.weight.grad is not None
        classifier_grad = learner.classifier.net[0].weight.grad is not None
        seen.append((memory_grad, classifier_grad, out.logits is not None, sorted(out.losses)))
    assert seen[0] == (True, False, False, ["memory_mse"])
    assert seen[2] == (True, True, True, ["classifier_ce", "memory_mse"])
    assert seen[3] == (False, True, True, ["classifier_ce"])
    assert float(learner.layer.winners.beta) == 0.0  # boosting ends with memory learning


def test_bfloat16_classifier_trains_near_float32_and_keeps_float32_weights_and_evaluation():
    import copy
    full = _tiny_rsm(classifier_from_step=0)
    half = copy.deepcopy(full)
    half.config = RSMConfig(**{**vars(full.config), "classifier_precision": "bfloat16"})
    batch = _batches(3)[2]
    grads = []
    for learner in (full, half):
        state = learner.initial_state(4, "cpu")
        state, out = learner.learn(state, batch)
        assert out.logits.dtype == torch.float32
        grads.append(learner.classifier.net[2].weight.grad)
        assert all(p.dtype == torch.float32 for p in learner.classifier.parameters())
    # bfloat16 keeps 8 bits of mantissa: the gradients agree to ~1%, not to float32 rounding
    assert not torch.equal(grads[0], grads[1])
    torch.testing.assert_close(grads[1], grads[0], rtol=0.05, atol=0.02 * float(grads[0].abs().max()))
    # evaluation is float32 in both: the same logits exactly
    state = full.initial_state(4, "cpu")
    torch.testing.assert_close(half.infer(state, batch)[1], full.infer(state, batch)[1], rtol=0, atol=0)
    with pytest.raises(ValueError, match="model.classifier_precision='float16' must be one of"):
        RSMConfig(classifier_precision="float16")


def test_forgetting_restarts_a_stream_from_a_fresh_state():
    learner = _tiny_rsm()
    batch = _batches(1)[0]
    state = learner.initial_state(4, "cpu")
    for b in _batches(5, seed=1):
        state, _ = learner.infer(state, b)
    batch.reset = torch.tensor([True, False, False, False])
    _, forgot = learner.infer(state, batch)
    batch.reset = None
    _, fresh = learner.infer(learner.initial_state(4, "cpu"), batch)
    _, carried = learner.infer(state, batch)
    torch.testing.assert_close(forgot[0], fresh[0])
    torch.testing.assert_close(forgot[1:], carried[1:])


def _markov_corpus(n, vocab=12, seed=0):
    """Each token has two possible successors: a bigram model needs ~2 choices, a unigram ~12."""
    gen = torch.Generator().manual_seed(seed)
    succ = torch.randint(0, vocab, (vocab, 2), generator=gen)
    ids = [0]
    for _ in range(n - 1):
        ids.append(int(succ[ids[-1], int(torch.randint(0, 2, (1,), generator=gen))]))
    return torch.tensor(ids)


def test_tiny_language_model_beats_the_unigram(tmp_path):
    vocab = 12
    train_ids, valid_ids = _markov_corpus(4000, vocab, 0), _markov_corpus(600, vocab, 1)
    # the same chain for both (seeded successor table), different walks
    table = torch.randn(vocab, 8, generator=torch.Generator().manual_seed(2))
    stream = TokenStream(train_ids, table, batch_size=32, seed=0, forget_prob=0.02)
    learner = RSMLearner(RSMConfig(groups=60, k=8, classifier_hidden=32,
                                   memory_steps=300, classifier_from_step=50), 8, vocab)
    config = TrainConfig(steps=600, epoch_steps=100, eval_every=300, checkpoint_every=300,
                         best_metric="heldout_nll", progress=False)
    trainer = Trainer(learner, stream, config, tmp_path,
                      lambda: ChunkedTokenStream(valid_ids, table, 10, context_id=0),
                      optim=OptimConfig(lr=3e-3, classifier_lr=3e-3))
    last = trainer.run()
    counts = torch.bincount(train_ids, minlength=vocab).double()
    unigram_ppl = perplexity((counts / counts.sum())[valid_ids].log())
    assert math.exp(last["heldout_nll"]) < 0.6 * unigram_ppl
    best = torch.load(tmp_path / "best.pt", weights_only=False)["best"]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert best["heldout_nll"] == min(r["heldout_nll"] for r in rows if "heldout_nll" in r)

"""Character PTB under the per-sentence protocol (nobptt.tasks.sentences) and the unigram floor
(nobptt.data.unigram). The streams are checked on tiny corpora, so no data file is needed; the
real files' counts are checked where NOBPTT_DATA has them."""
import math
import os
from collections import Counter
from pathlib import Path

import pytest
import torch

from nobptt.data.ptb import build_vocab, read_tokens
from nobptt.data.unigram import unigram_floor
from nobptt.tasks.sentences import PaddedSentenceStream, RefillSentenceStream, SentencePass, Sentences

HAVE_PTB = (Path(os.environ.get("NOBPTT_DATA", "")) / "ptb_char" / "ptb.char.test.txt").exists()
needs_ptb = pytest.mark.skipif(not HAVE_PTB, reason="set NOBPTT_DATA to a folder with ptb_char/")

# a 1-token sentence (the fourth) has nothing to predict and is dropped
LISTS = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 0], [3], [2, 1, 4, 4]]
TABLE = torch.eye(10)


def expected_scored():
    """(context since the sentence's start, target) of every token but each sentence's first."""
    return sorted((tuple(s[:j]), s[j]) for s in LISTS for j in range(1, len(s)))


def scored_with_context(stream, steps):
    """(tokens seen since the stream's last reset, target) of every step with weight > 0: what a
    learner that forgets at each reset conditions each scored prediction on."""
    history = [[] for _ in range(stream.batch_size)]
    out = []
    for _ in range(steps):
        batch = stream.next_batch()
        weight = batch.weight if batch.weight is not None else torch.ones(stream.batch_size)
        for b in range(stream.batch_size):
            if bool(batch.reset[b]):
                history[b] = []
            history[b].append(int(batch.label[b]))
            assert torch.equal(batch.x[b], TABLE[batch.label[b]])
            if float(weight[b]) > 0:
                out.append((tuple(history[b]), int(batch.target_label[b])))
    return sorted(out)


def test_sentences_keep_their_tokens_and_score_all_but_the_first():
    s = Sentences.from_lists(LISTS)
    assert len(s) == 4 and s.steps.tolist() == [2, 1, 4, 3]
    assert s.scored().tolist() == [2, 3, 5, 7, 8, 9, 0, 1, 4, 4]
    ids = torch.tensor([1, 2, 9, 4, 9, 5, 6, 7, 9])  # 9 closes every line
    lines = Sentences.from_lines(ids, 9, keep_closing=False)
    assert lines.tokens.tolist() == [1, 2, 5, 6, 7] and lines.steps.tolist() == [1, 2]  # [4] dropped
    with_eol = Sentences.from_lines(ids, 9, keep_closing=True)
    assert with_eol.scored().tolist() == [2, 9, 9, 6, 7, 9]


@pytest.mark.parametrize("packing", ["padded", "refill"])
@pytest.mark.parametrize("batch_size", [1, 2, 3, 7])
def test_an_evaluation_pass_scores_every_token_but_the_first_once_in_its_sentence(packing, batch_size):
    stream = SentencePass(Sentences.from_lists(LISTS), TABLE, batch_size, packing)
    assert scored_with_context(stream, stream.length) == expected_scored()
    with pytest.raises(StopIteration):
        stream.next_batch()


def test_padded_passes_are_synchronised_episodes_and_refill_passes_have_no_inner_padding():
    sentences = Sentences.from_lists(LISTS)  # steps 2, 1, 4, 3
    padded = SentencePass(sentences, TABLE, 2, "padded")
    assert padded.length == 2 + 4  # batches {2, 1} and {4, 3}, each as long as its longest
    assert padded.ends.nonzero().flatten().tolist() == [1, 5]
    assert padded.resets[:, 0].all() and padded.resets[:, 2].all() and int(padded.resets.sum()) == 4
    uneven = SentencePass(sentences, TABLE, 3, "padded")  # the second batch fills one stream of 3
    assert uneven.length == 4 + 3 and uneven.resets[:, 0].all() and uneven.resets[:, 4].all()
    assert int(uneven.resets.sum()) == 6 and uneven.ends.nonzero().flatten().tolist() == [3, 6]
    refill = SentencePass(sentences, TABLE, 2, "refill")
    # stream 0: sentence 0 (steps 0-1), then 3 (2-4); stream 1: sentence 1 (0), then 2 (1-4)
    assert refill.length == 5 and not refill.ends.any()
    assert refill.weights.sum() == padded.weights.sum() == 10


@pytest.mark.parametrize("cls", [PaddedSentenceStream, RefillSentenceStream])
def test_training_streams_show_whole_sentences_from_a_reset_and_resume_exactly(cls):
    sentences = Sentences.from_lists(LISTS)
    stream = cls(sentences, TABLE, 3, seed=4)
    contexts = {(tuple(s[:j]), s[j]) for s in LISTS for j in range(1, len(s))}
    seen = scored_with_context(stream, 40)
    assert set(seen) <= contexts and len(set(seen)) == len(contexts)  # every pair, in its sentence
    saved = stream.state_dict()
    after = [stream.next_batch() for _ in range(9)]
    again = cls(sentences, TABLE, 3, seed=4)
    again.load_state_dict(saved)
    for a, b in zip(after, [again.next_batch() for _ in range(9)]):
        assert torch.equal(a.label, b.label) and torch.equal(a.reset, b.reset) and a.ends_sequence == b.ends_sequence
    other = cls(sentences, TABLE, 3, seed=5)
    assert any(not torch.equal(stream.next_batch().label, other.next_batch().label) for _ in range(20))


def test_padded_training_episodes_start_and_end_together():
    stream = PaddedSentenceStream(Sentences.from_lists(LISTS), TABLE, 2, seed=0)
    for _ in range(30):
        block = stream.block.clone()
        span = int(stream.sentences.steps[block].max())
        for j in range(span):
            batch = stream.next_batch()
            assert bool(batch.reset.all()) == (j == 0) and bool(batch.reset.any()) == (j == 0)
            assert batch.ends_sequence == (j == span - 1)
            assert batch.weight.tolist() == [float(j < n) for n in stream.sentences.steps[block].tolist()]


def test_unigram_floor_of_a_tiny_file_by_hand(tmp_path):
    (tmp_path / "train.txt").write_text(" a a b _ a \n")  # a a b _ a <eol>
    (tmp_path / "test.txt").write_text(" a b \n \n")  # a b <eol>; the blank line is no sentence
    train, test = read_tokens(tmp_path / "train.txt", "char"), read_tokens(tmp_path / "test.txt", "char")
    vocab = build_vocab(train)
    index = {w: i for i, w in enumerate(vocab)}
    train_ids = torch.tensor([index[w] for w in train])
    test_ids = torch.tensor([index[w] for w in test])
    # stream protocol, every symbol scored: train p(a) = 3/6, p(b) = p(<eol>) = 1/6; test a, b, <eol>
    floor = unigram_floor(train_ids, test_ids, len(vocab))
    assert floor["unigram_bpc"] == pytest.approx((1 + 2 * math.log2(6)) / 3, abs=1e-12)
    assert floor["unigram_entropy_bpc"] == pytest.approx(math.log2(3), abs=1e-12)
    # per-sentence protocol, no <eol>: train scores a b _ a (p(b) = 1/4), test scores b alone
    eol = index["<eol>"]
    sentence = unigram_floor(Sentences.from_lines(train_ids, eol, False).scored(),
                             Sentences.from_lines(test_ids, eol, False).scored(), len(vocab))
    assert sentence == {"unigram_bpc": pytest.approx(2.0, abs=1e-12), "unigram_entropy_bpc": pytest.approx(0.0, abs=1e-12)}
    # a scored symbol the training file never scores: that unigram model gives it probability 0
    assert unigram_floor(torch.tensor([0, 0]), torch.tensor([0, 1]), 2)["unigram_bpc"] == math.inf


def test_the_floor_is_printed_with_the_scores():
    from nobptt.progress import format_ceilings, format_row
    from nobptt.records.build import unit_metrics

    line = format_row({"step": 3, "heldout_nll": 2.0 * math.log(2)}, {"unigram_bpc": 4.3073, "unigram_entropy_bpc": 4.306},
                      "ptb_char_sentences")
    assert "held-out 2.0000 bits per character" in line and "unigram 4.307 bits per character" in line
    assert "4.306" in format_ceilings({"unigram_bpc": 4.3, "unigram_entropy_bpc": 4.306})
    assert unit_metrics({"heldout_nll": math.log(2)}, "ptb_char_sentences")["bpc"] == pytest.approx(1.0)


@needs_ptb
def test_the_real_test_file_under_both_protocols():
    from nobptt.data.ptb import load_ptb
    from nobptt.tasks.ptb import PTBCharConfig, PTBCharSentencesConfig, make_ptb_char, make_ptb_char_sentences

    # the official code's test set: 3,761 sentences, 438,662 characters (no end-of-line symbol)
    padded = make_ptb_char_sentences(PTBCharSentencesConfig(), "test")
    assert len(padded.sentences) == 3_761 and int(padded.sentences.tokens.numel()) == 438_662
    assert float(padded.weights.sum()) == 438_662 - 3_761
    refill = make_ptb_char_sentences(PTBCharSentencesConfig(packing="refill"), "test")
    assert float(refill.weights.sum()) == 438_662 - 3_761 and refill.length < padded.length
    assert padded.ceilings() == refill.ceilings()
    floor = padded.ceilings()
    assert 4.0 < floor["unigram_entropy_bpc"] <= floor["unigram_bpc"] < 4.5
    # the stream protocol scores every symbol (the end-of-line too): its own floor, against its own count
    test = load_ptb("test", "char")
    stream = make_ptb_char(PTBCharConfig(), "test")
    assert stream.tokens == len(test) == 438_662 + 3_761
    counts = Counter(load_ptb("train", "char").ids.tolist())
    total = sum(counts.values())
    by_hand = -sum(math.log2(counts[i] / total) for i in test.ids.tolist()) / len(test)
    assert stream.ceilings()["unigram_bpc"] == pytest.approx(by_hand, rel=1e-9)


def test_prequential_accuracy_does_not_count_padding(tmp_path):
    """A learner that always predicts id 0 (padding's target) is right on the real targets only
    where they are 0: the trainer's prequential accuracy is over weighted (real) targets."""
    from nobptt.learners.base import StepOutput
    from nobptt.learners.registry import build_learner
    from nobptt.train.config import TrainConfig
    from nobptt.train.optim import OptimConfig
    from nobptt.train.trainer import Trainer

    stream = PaddedSentenceStream(Sentences.from_lists(LISTS), TABLE, 2, seed=0)
    learner = build_learner("esn", {"hidden": 16, "connectivity": 0.5}, 10, 10)
    logits = torch.zeros(2, 10)
    logits[:, 0] = 1.0
    learner.learn = lambda state, batch: (state, StepOutput(logits=logits, losses={}, update=False))
    steps = 40
    reference = PaddedSentenceStream(Sentences.from_lists(LISTS), TABLE, 2, seed=0)
    hits = real = 0.0
    for _ in range(steps):
        batch = reference.next_batch()
        hits += float(((batch.target_label == 0).float() * batch.weight).sum())
        real += float(batch.weight.sum())
    assert real < 2 * steps  # the stream did pad
    config = TrainConfig(steps=steps, epoch_steps=steps, eval_every=0, checkpoint_every=steps, progress=False)
    last = Trainer(learner, stream, config, tmp_path, optim=OptimConfig()).run()
    assert last["prequential_accuracy"] == pytest.approx(hits / real)


@needs_ptb
def test_a_short_run_beats_the_unigram_floor_and_records_it(tmp_path):
    """End to end on the real files: an ESN readout (32 units, 300 steps of 50 padded sentences)
    already uses the previous characters, so it scores below the context-free floor."""
    import json

    from nobptt.cli import main

    run = tmp_path / "run"
    assert main(["train", "add_online", "--set", "task.name=ptb_char_sentences", "--set", "task.eval_batch_size=1000",
                 "--set", "model.name=esn", "--set", "model.hidden=32", "--steps", "300",
                 "--set", "train.epoch_steps=100", "--set", "train.eval_every=300", "--set", "train.progress=false",
                 "--run-dir", str(run)]) == 0
    floor = json.loads((run / "config.json").read_text())["ceilings"]
    summary = json.loads((run / "summary.json").read_text())
    assert floor["unigram_bpc"] == pytest.approx(4.2975, abs=1e-4)  # the validation file's (docs/ptb.md)
    assert summary["heldout_nll"] / math.log(2) < floor["unigram_bpc"]


def test_labels_name_the_per_sentence_options_that_change_a_row():
    from nobptt.records.labels import record_label

    def label(**task):
        return record_label({"task": {"name": "ptb_char_sentences", **task}, "model": {"name": "esn"},
                             "train": {"steps": 10}})

    assert label(eol=False, packing="padded") == "esn"
    assert label(eol=True, packing="refill") == "esn, <eol> scored, refill streams"
    assert record_label({"task": {"name": "ptb_char", "eol": True}, "model": {"name": "esn"}}) == "esn"

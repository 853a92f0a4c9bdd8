"""Penn Treebank files, embeddings and token streams (the corpus tests need ../shared/data)."""
import os
import shutil
from pathlib import Path

import pytest
import torch

from nobptt.data.download import DataError
from nobptt.data.embeddings import binary_code, load_text_vectors, train_skipgram
from nobptt.data.ptb import load_ptb, ptb_file
from nobptt.tasks.tokens import ChunkedTokenStream, ContiguousTokenStream, TokenStream

HAVE_PTB = (Path(os.environ.get("NOBPTT_DATA", "")) / "ptb_word" / "ptb.train.txt").exists()
needs_ptb = pytest.mark.skipif(not HAVE_PTB, reason="set NOBPTT_DATA to a folder with ptb_word/ and ptb_char/")


@needs_ptb
def test_word_corpus_counts():
    counts = {s: len(load_ptb(s)) for s in ("train", "valid", "test")}
    assert counts == {"train": 929_589, "valid": 73_760, "test": 82_430}
    train = load_ptb("train")
    assert len(train.vocab) == 10_000 and "<eos>" in train.vocab and "<unk>" in train.vocab
    assert int((train.ids == train.vocab.index("<eos>")).sum()) == 42_068  # one per line


@needs_ptb
def test_char_corpus_has_50_symbols_and_one_eol_per_line():
    valid = load_ptb("valid", "char")
    assert len(valid.vocab) == 50 and "_" in valid.vocab
    assert int((valid.ids == valid.vocab.index("<eol>")).sum()) == 3_370


def test_missing_file_says_where_to_put_it(tmp_path, monkeypatch):
    from nobptt.data import paths
    monkeypatch.delenv(paths.ENV_VAR, raising=False)  # no folder of the search path has PTB
    monkeypatch.setattr(paths, "REPO_DATA", tmp_path / "repo")
    monkeypatch.setattr(paths, "CACHE_DATA", tmp_path / "cache")
    with pytest.raises(DataError, match=r"ptb_word/ptb\.valid\.txt.*NOBPTT_DATA"):
        ptb_file("word", "valid", tmp_path, allow_download=False)


@needs_ptb
def test_corrupt_file_fails_its_checksum(tmp_path):
    (tmp_path / "ptb_word").mkdir()
    copy = tmp_path / "ptb_word" / "ptb.valid.txt"
    shutil.copy(ptb_file("word", "valid"), copy)
    with open(copy, "a") as handle:
        handle.write("an extra line\n")
    with pytest.raises(DataError, match="checksum mismatch"):
        ptb_file("word", "valid", tmp_path, allow_download=False)


def test_binary_code_is_index_then_complement():
    code = binary_code(10_000)
    assert code.shape == (10_000, 28)
    assert torch.equal(code[:, :14] + code[:, 14:], torch.ones(10_000, 14))
    assert torch.equal(code[5, :14][-3:], torch.tensor([1.0, 0.0, 1.0]))  # 5 = ...101
    assert len({tuple(r.tolist()) for r in code}) == 10_000


def test_text_vectors(tmp_path):
    path = tmp_path / "vec.txt"
    path.write_text("3 2\na 1 2\nb 3 4\nc 5 6\n")
    assert load_text_vectors(path, ["c", "a"]).tolist() == [[5, 6], [1, 2]]
    with pytest.raises(DataError, match="1 of 2 words have no vector"):
        load_text_vectors(path, ["a", "zzz"])
    assert load_text_vectors(path, ["a", "zzz"], missing="zero").tolist() == [[1, 2], [0, 0]]
    path.write_text("a 1 2\nb 3\n")
    with pytest.raises(DataError, match=r"vec\.txt:2: 1 values, expected 2"):
        load_text_vectors(path, ["a"])


def test_skipgram_is_deterministic_for_a_seed():
    gen = torch.Generator().manual_seed(0)
    words = [f"w{i}" for i in range(30)]
    sentences = [[words[int(i)] for i in torch.randint(0, 30, (12,), generator=gen)] + ["<eos>"]
                 for _ in range(60)]
    vocab = words + ["<eos>"]
    settings = {"dim": 8, "bucket": 1000, "epochs": 2}
    a, b = (train_skipgram(sentences, vocab, seed=3, **settings) for _ in range(2))
    c = train_skipgram(sentences, vocab, seed=4, **settings)
    assert a.shape == (31, 8) and torch.equal(a, b) and not torch.equal(a, c)


def _corpus(n=50):
    return torch.arange(n) % 7, torch.eye(7)


def test_token_stream_targets_are_the_next_token_and_it_resumes():
    ids, table = _corpus()
    stream = TokenStream(ids, table, batch_size=4, seed=1)
    batch = stream.next_batch()
    assert torch.equal(batch.target_label, (batch.label + 1) % 7)
    assert torch.equal(batch.x, table[batch.label]) and torch.equal(batch.target_x, table[batch.target_label])
    saved = stream.state_dict()
    ahead = [stream.next_batch().label for _ in range(60)]
    stream.load_state_dict(saved)
    assert all(torch.equal(a, stream.next_batch().label) for a in ahead)


def test_forgetting_and_jumps_flag_a_reset():
    ids, table = _corpus()
    assert bool(TokenStream(ids, table, 8, forget_prob=1.0).next_batch().reset.all())
    stream = TokenStream(ids, table, 8, forget_prob=0.0, max_length=3)
    resets = [stream.next_batch().reset for _ in range(7)]
    assert not resets[0].any() and not resets[2].any() and resets[3].all() and resets[6].all()


def test_contiguous_stream_reads_chunks_in_order_and_wraps_together():
    ids = torch.arange(23)
    stream = ContiguousTokenStream(ids, torch.eye(23), batch_size=3)
    assert stream.chunk == 7  # (23 - 1) // 3 inputs per stream and pass
    batches = [stream.next_batch() for _ in range(15)]
    assert batches[0].label.tolist() == [0, 7, 14] and batches[0].target_label.tolist() == [1, 8, 15]
    assert batches[6].label.tolist() == [6, 13, 20] and batches[6].target_label.tolist() == [7, 14, 21]
    assert [bool(b.reset.all()) for b in batches] == [True] + [False] * 6 + [True] + [False] * 6 + [True]
    assert not any(bool(b.reset.any()) and not bool(b.reset.all()) for b in batches)
    assert torch.equal(batches[7].label, batches[0].label)
    saved = stream.state_dict()
    after = stream.next_batch()
    stream.load_state_dict(saved)
    assert torch.equal(stream.next_batch().label, after.label)


@needs_ptb
def test_char_task_is_one_hot_next_character():
    from nobptt.tasks.ptb import PTBCharConfig, make_ptb_char

    train = make_ptb_char(PTBCharConfig(batch_size=4), "train")
    batch = train.next_batch()
    assert train.input_dim == train.n_classes == 50
    assert torch.equal(batch.x.argmax(-1), batch.label) and batch.x.sum().item() == 4
    valid = make_ptb_char(PTBCharConfig(eval_batch_size=100), "heldout")
    assert valid.tokens == len(load_ptb("valid", "char"))


@needs_ptb
def test_word_task_contiguous_streams_cut_the_corpus_into_chunks():
    from nobptt.tasks.ptb import PTBWordConfig, make_ptb_word

    def config(**fields):
        return PTBWordConfig(batch_size=20, embedding="binary", forget_prob=0.0, **fields)

    train = make_ptb_word(config(streams="contiguous"), "train")
    ids = load_ptb("train").ids
    assert isinstance(train, ContiguousTokenStream) and train.chunk == (len(ids) - 1) // 20
    batch = train.next_batch()
    assert batch.label.tolist() == ids[::train.chunk][:20].tolist() and bool(batch.reset.all())
    with pytest.raises(ValueError, match="forget_prob=0"):
        make_ptb_word(config(streams="contiguous", max_length=5), "train")
    with pytest.raises(ValueError, match="'random' or 'contiguous'"):
        make_ptb_word(config(streams="chunks"), "train")


def test_chunked_stream_predicts_every_token_once():
    ids = torch.arange(23) + 1  # 23 tokens, 5 chunks of 5 steps (2 padded positions)
    stream = ChunkedTokenStream(ids, torch.eye(24), batch_size=5, context_id=0)
    assert stream.length == 5
    batches = [stream.next_batch() for _ in range(stream.length)]
    targets = torch.stack([b.target_label for b in batches], dim=1)
    weights = torch.stack([b.weight for b in batches], dim=1)
    assert targets[weights > 0].tolist() == ids.tolist()
    assert int(batches[0].label[0]) == 0  # the context token precedes the first word
    assert torch.equal(batches[1].label, batches[0].target_label)
    with pytest.raises(StopIteration):
        stream.next_batch()


@needs_ptb
def test_lstm_language_model_trains_and_is_evaluated_end_to_end(tmp_path):
    """``nobptt train`` then ``nobptt lm evaluate --out`` on real PTB with a tiny LSTM."""
    from nobptt.cli import main

    run = tmp_path / "run"
    assert main(["train", "ptb_lstm_small", "--run-dir", str(run), "--steps", "300",
                 "--set", "model.hidden=16", "--set", "model.window=10", "--set", "train.eval_every=300",
                 "--set", "train.progress=false", "--set", "train.checkpoint_every=300"]) == 0
    out = tmp_path / "reports" / "tiny.json"
    assert main(["lm", "evaluate", str(run), "--out", str(out), "--allow-dirty"]) == 0
    from nobptt.records.io import load_file

    valid, test = load_file(out)["records"]
    assert (valid["split"], test["split"]) == ("valid", "test") and valid["kind"] == "lm_evaluation"
    assert test["details"]["tokens"] == 82_430 and valid["details"]["tokens"] == 73_760
    assert valid["details"]["mixture"]["fitted_on"] == "validation"
    # after 3,000 tokens of SGD a tiny LSTM is far from good, but better than uniform guessing
    assert valid["metrics"]["perplexity"] < 10_000
    assert test["metrics"]["mixture_perplexity"] <= test["metrics"]["perplexity"] * 1.01
    assert test["curves"]["seed0"] and out.with_suffix(".png").exists()
    assert test["experiment"] == "ptb_lstm_small" and test["test_reads"] == 1
    assert test["runs"][0]["training"]["resumed"] == []

"""train.flush_denormal: denormal floats are flushed to zero during a run (3.6x faster full BPTT
at T = 400 on an Intel Xeon: nobptt bench denormals), and doing so leaves an LSTM's BPTT gradients unchanged
to float32 precision."""
import pytest
import torch

from nobptt.config import resolve
from nobptt.run import prepare

TINY = 1e-39  # below float32's smallest normal number, 1.18e-38
SUPPORTED = torch.set_flush_denormal(False)  # False where the CPU cannot flush; leaves denormals kept


@pytest.fixture
def restore_flush():
    yield
    torch.set_flush_denormal(False)  # the default of a fresh process, for the tests that follow


@pytest.mark.skipif(not SUPPORTED, reason="this CPU cannot flush denormals")
@pytest.mark.parametrize("flush", [True, False])
def test_a_run_sets_the_flush_mode_its_config_asks_for(tmp_path, restore_flush, flush):
    torch.set_flush_denormal(not flush)  # a setting left by an earlier run in the same process
    config = resolve({"task": {"name": "adding", "T": 10}, "model": {"name": "sab"},
                      "train": {"flush_denormal": flush, "progress": False}})
    prepare(config, tmp_path / "run")
    halved = (torch.tensor([2 * TINY]) / 2).item()
    assert (halved == 0.0) is flush


def lstm_gradients(flush: bool) -> list[torch.Tensor]:
    torch.set_flush_denormal(flush)
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(4, 16), torch.nn.Linear(16, 1)
    out, _ = lstm(torch.randn(300, 8, 4))  # a loss on the last step only: gradients fade with depth
    head(out[-1]).pow(2).mean().backward()
    return [p.grad.clone() for p in [*lstm.parameters(), *head.parameters()]]


def test_flushing_leaves_bptt_gradients_unchanged(restore_flush):
    for kept, flushed in zip(lstm_gradients(False), lstm_gradients(True)):
        torch.testing.assert_close(flushed, kept, rtol=1e-5, atol=1e-30)


@pytest.fixture
def denormals_script():
    from nobptt.bench import denormals

    return denormals


def test_the_denormal_script_records_schema_1_measurements(denormals_script, tmp_path, monkeypatch):
    """nobptt bench denormals' record (the 3-minute measurements replaced by fixed rows)."""
    from nobptt.records.io import load_file

    sha = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setattr(denormals_script, "train", lambda f: {"flush_denormal": f == "true", "wall_time_s": 2.5,
                                                              "heldout_mse": 0.39})
    monkeypatch.setattr(denormals_script, "bench", lambda f: {"flush_denormal": f == "true",
                                                              "seconds_per_sequence": 19.2})
    monkeypatch.setattr(denormals_script, "writing_provenance",
                        lambda out, name, allow: {"commit": sha, "clean": True, "diff": None})
    denormals_script.record(tmp_path / "denormals.json", False)
    records = load_file(tmp_path / "denormals.json")["records"]
    assert [r["kind"] for r in records] == ["measurement"] * 4
    assert [r["details"]["flush_denormal"] for r in records] == [False, True, False, True]
    assert records[0]["metrics"] == {"wall_time_s": 2.5, "mse": 0.39}
    assert records[3]["metrics"] == {"sequence_wall_time_s": 19.2}
    training = records[0]["runs"][0]["training"]
    assert training["commit"] == sha and training["clean"] is True and training["hardware"]["torch_threads"] == 1

"""Memory meters: exact counts on known graphs; BPTT grows with T, bRSM does not."""
from pathlib import Path

import torch

from nobptt.bench.memory import measure
from nobptt.bench.meters import SavedTensorMeter, tensor_bytes


def test_meter_counts_known_saved_tensors():
    x = torch.randn(100, requires_grad=True)
    with SavedTensorMeter() as meter:
        y = torch.tanh(x)  # tanh saves its output: 100 float32
    assert meter.peak == 400
    with SavedTensorMeter() as meter:
        z = (x * x).sum()  # mul saves both operands, here one storage counted once
    assert meter.peak == 400
    y.sum().backward()
    z.backward()


def test_meter_excludes_parameters_and_follows_the_graph():
    layer = torch.nn.Linear(10, 5)
    x = torch.randn(4, 10)
    with SavedTensorMeter(exclude=layer) as meter:
        layer(x).sum().backward()  # saves the input (160 bytes) and the weight (excluded)
        assert meter.peak == 160
        assert meter.current == 0  # backward freed the graph
        layer(torch.randn(8, 10)).sum().backward()
        assert meter.peak == 320
        for _ in range(3):  # graphs freed one after another: held at once is one graph's bytes
            layer(torch.randn(8, 10)).sum().backward()
        kept = [layer(torch.randn(8, 10)).sum() for _ in range(3)]  # three graphs alive at once
        assert meter.current == 3 * 320 and meter.peak == 3 * 320
        del kept
        assert meter.current == 0


def test_tensor_bytes_deduplicates_shared_storage():
    a = torch.zeros(10)
    assert tensor_bytes({"a": a, "view": a[:5]}, [a]) == 40
    assert tensor_bytes([torch.zeros(3, dtype=torch.float64)], {"x": (torch.zeros(2),)}) == 32


def test_bptt_saved_bytes_grow_with_T_and_brsm_stay_flat():
    bptt = [measure("lstm_bptt", T, 2)["saved_bytes"] for T in (4, 16)]
    brsm = [measure("brsm", T, 2)["saved_bytes"] for T in (4, 16)]
    assert bptt[1] > 3.5 * bptt[0]
    assert brsm[0] == brsm[1] > 0


def test_blockwise_sab_holds_one_block_while_the_one_graph_release_grows_with_T():
    """Blockwise SAB, on the reference path (autograd) and on the fast path recomputing every block
    (model.cache_mib=0), saves one block for backward; the release's one graph grows with T. (The
    fast path's cached step records are not autograd's: they show in the peak resident memory.)"""
    blockwise = [measure("sab_reference", T, 2)["saved_bytes"] for T in (20, 80)]
    recompute = [measure("sab_recompute", T, 2)["saved_bytes"] for T in (20, 80)]
    one_graph = [measure("sab_onegraph", T, 2)["saved_bytes"] for T in (20, 80)]
    assert blockwise[1] <= 1.1 * blockwise[0]
    assert 0 < recompute[1] <= 1.1 * recompute[0]
    assert one_graph[1] > 3.5 * one_graph[0] and one_graph[0] > blockwise[0]


def test_bench_cli_writes_csv_and_plot(tmp_path):
    from nobptt.cli import main

    out = tmp_path / "mem.csv"
    assert main(["bench", "memory", "--learners", "brsm,lstm_bptt", "--lengths", "2,4", "--batch", "2",
                 "--out", str(out), "--allow-dirty"]) == 0
    from nobptt.records.io import load_bench_csv

    rows = load_bench_csv(out)  # the one header of docs/results.md, checked
    assert [(r["learner"], r["T"], r["kind"]) for r in rows] == \
        [("brsm", "2", "memory"), ("brsm", "4", "memory"), ("lstm_bptt", "2", "memory"), ("lstm_bptt", "4", "memory")]
    assert all(int(r["saved_bytes"]) > 0 and float(r["wall_time_s"]) > 0 and r["clean"] in ("true", "false")
               and int(r["peak_rss_above_idle_bytes"]) >= 0 and float(r["seconds_per_sequence"]) > 0 for r in rows)
    assert out.with_suffix(".png").exists()
    assert main(["bench", "memory", "--learners", "nosuch"]) == 2
    # a configuration that fails (a BPTT window of 0 steps) is kept as a row with its error, exit 1
    failed = tmp_path / "failed.csv"
    assert main(["bench", "memory", "--learners", "lstm_bptt", "--lengths", "0", "--batch", "2",
                 "--out", str(failed), "--allow-dirty"]) == 1
    assert "k1=0" in failed.read_text()


def test_flop_count_matches_the_analytic_count_of_an_rsm_inference_step(monkeypatch):
    from nobptt.bench import variants
    from nobptt.bench.speed import measure_speed
    from nobptt.bench.variants import INPUT_DIM

    B, groups, hidden = 3, 20, 8
    options = {"groups": groups, "k": 3, "classifier_hidden": hidden}
    monkeypatch.setitem(variants.VARIANTS, "tiny", ("brsm", lambda T: options))
    row = measure_speed("tiny", B, steps=2)
    # feed-forward, recurrent, decoder and classifier products; 2 FLOPs per multiply-add
    expected = 2 * B * (INPUT_DIM * groups + groups * groups + groups * INPUT_DIM + groups * hidden + hidden * 10)
    assert row["infer_flops_per_step"] == expected
    assert row["train_flops_per_step"] > 2 * expected  # backward adds the gradient products
    assert row["matmul_flops_per_s"] > 1e8 and 0 <= row["infer_matmul_fraction"] < 1.5  # tiny: may round to 0


def test_lstm_is_parameter_matched_to_brsm_at_every_scale():
    from nobptt.bench.variants import parameter_count, resolve

    for scale in (0.05, 0.1):
        brsm = parameter_count(*resolve("brsm", 10, scale))
        lstm = parameter_count(*resolve("lstm_tbptt30", 10, scale))
        assert abs(lstm - brsm) / brsm < 0.02
    assert resolve("lstm_bptt", 100, None) == ("lstm", {"k1": 100, "k2": 100})


def test_bench_speed_cli_writes_csv_and_plot(tmp_path):
    from nobptt.cli import main

    out = tmp_path / "speed.csv"
    assert main(["bench", "speed", "--learners", "pbrsm_sparse", "--batch", "2", "--steps", "2",
                 "--scales", "0.05", "--out", str(out), "--allow-dirty"]) == 0
    from nobptt.records.io import load_bench_csv

    [row] = load_bench_csv(out)  # the one header of docs/results.md
    assert row["kind"] == "speed" and float(row["train_steps_per_s"]) > 0 and row["train_matmul_fraction"] and row["torch"]
    assert row["error"] == "" and row["seconds_per_sequence"] == "" and row["scale"] == "0.05"
    assert out.with_suffix(".png").exists()
    assert main(["bench", "speed", "--scales", "big"]) == 2
    if not torch.cuda.is_available():
        assert main(["bench", "speed", "--device", "cuda"]) == 2


def test_memory_bench_times_with_denormals_flushed_and_restores_the_mode():
    row = measure("lstm_bptt", 4, 2)
    assert row["flush_denormal"] is True  # as training by default: timings off the CPU's slow path
    assert (torch.tensor([2e-39]) / 2).item() != 0.0  # the in-process caller gets the default back


def test_bench_profile_writes_a_table_of_operators_and_a_summary(tmp_path):
    import csv
    import json

    from nobptt.cli import main

    out = tmp_path / "profile.csv"
    tiny = ["task.T=3", "task.batch_size=2", "model.hidden=4", "model.attn_dim=2"]
    assert main(["bench", "profile", "--experiment", "copying_sab", "--updates", "1", "--out", str(out),
                 *[a for o in tiny for a in ("--set", o)]]) == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["op", "self_ms_per_update", "calls_per_update", "share"]
    assert abs(sum(float(r["share"]) for r in rows) - 1) < 0.01  # shares of the profiled total
    shares = [float(r["share"]) for r in rows]
    assert shares == sorted(shares, reverse=True)
    assert any(r["op"] in ("aten::mm", "aten::addmm") for r in rows)  # the LSTM's products
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["experiment"] == "copying_sab" and summary["model"]["hidden"] == 4
    assert summary["threads"] == torch.get_num_threads() and summary["ms_per_update_unprofiled"] > 0
    assert summary["command"].startswith("nobptt bench profile")
    assert main(["bench", "profile", "--experiment", "copying_sab", "--set", "model.hiden=4",
                 "--out", str(out)]) == 2  # a misspelt field is refused before any work
    assert main(["bench", "profile", "--experiment", "copying_sab", "--out", "results/profile.csv"]) == 2
    assert not Path("results/profile.json").exists()  # its summary would stop `nobptt results`


def test_speed_warms_up_inference_before_timing_it(monkeypatch):
    """A step compiled by model.compile is traced again under no_grad: the timed inference pass must
    follow a warm-up pass, or the compilation is counted in the inference rate."""
    from nobptt.bench import speed, variants

    calls = []
    passes = {"_train_pass": speed._train_pass, "_infer_pass": speed._infer_pass}
    for name, run in passes.items():
        monkeypatch.setattr(speed, name, lambda *a, _name=name, _run=run, **k: calls.append(_name) or _run(*a, **k))
    timed = []
    monkeypatch.setattr(speed, "_timed", lambda device, run: (timed.append(calls[-1] if calls else None), (1.0, run()))[1])
    monkeypatch.setitem(variants.VARIANTS, "tiny", ("brsm", lambda T: {"groups": 4, "k": 2, "classifier_hidden": 4}))
    speed.measure_speed("tiny", 2, steps=2)
    assert calls[:4] == ["_train_pass", "_train_pass", "_infer_pass", "_infer_pass"]
    assert timed == ["_train_pass", "_infer_pass"]  # each timed pass follows a warm-up pass of its kind

"""Print the README's SAB tables (markdown) from results/sab_*.json (records of `nobptt eval --out`).

Usage: python scripts/sab_table.py [--seeds] [RESULTS.json ...]; --seeds adds, after each table,
the mean and standard deviation over seeds of runs that differ only in their seed."""
import argparse
import functools
import json
import math
import statistics
from pathlib import Path

from nobptt.config import load_experiment, upgrade_config
from nobptt.train.optim import OptimConfig
from nobptt.tasks.episodes import RECALL

EPISODIC = ("copying", "adding")  # tasks of episodes with a length T; character PTB is one stream
LEARNERS = {"sab": "SAB", "tbptt5": "LSTM, truncated BPTT (k = 5)", "tbptt10": "LSTM, truncated BPTT (k = 10)",
            "bptt": "LSTM, full BPTT", "selfattn": "LSTM + self-attention, full BPTT",
            "tbptt5fb1": "LSTM, truncated BPTT (k = 5)", "bpttfb1": "LSTM, full BPTT"}


def learner_key(record):
    """The learner's short name in a run folder: copying_sab_T100_s0, ptb_char_tbptt10_s0."""
    name = Path(record["run_dir"]).name.split("_")
    return name[1] if name[0] in EPISODIC else name[2]


@functools.lru_cache(maxsize=None)
def experiment_config(experiment):
    """The sections an experiment's config file sets (read once per experiment, not per row)."""
    return load_experiment(experiment)[1]


def label(record):
    """The learner's name, with what differs from its experiment's config file: the hidden size
    (the matched-size LSTMs: hidden 144) and the gradient clip (0.1 against the release's 1.0; a
    median-relative clip), Adam's beta2 / eps where they are not torch's, and its forget-gate
    bias shift where it has one."""
    name = LEARNERS.get(learner_key(record), record["run_dir"])
    config = upgrade_config(record["config"])  # records from before [optim] existed
    model, optim = config["model"], config.get("optim", {})
    defaults = experiment_config(record["experiment"]) if record.get("experiment") else config
    if model.get("hidden") != defaults["model"].get("hidden"):
        name = f"{name}, hidden {model.get('hidden')}"
    if optim.get("grad_clip") != defaults.get("optim", {}).get("grad_clip"):
        name = f"{name}, gradient clip {optim.get('grad_clip'):g}"
    if optim.get("grad_clip_median"):  # a clip at F x the median of the last N norms (MedianClip)
        name = f"{name}, clip at {optim['grad_clip_median']:g}x the median of {optim.get('grad_clip_window')} norms"
    # records from before train.adam_* existed hold the defaults
    beta2 = optim.get("adam_beta2", OptimConfig.adam_beta2)
    eps = optim.get("adam_eps", OptimConfig.adam_eps)
    if (beta2, eps) != (OptimConfig.adam_beta2, OptimConfig.adam_eps):
        name = f"{name}, Adam beta2 {beta2:g} eps {eps:g}"
    forget_bias = model.get("forget_bias", 0.0)
    return f"{name}, forget bias +{forget_bias:g}" if forget_bias else name


def eval_length(record):
    """The tested length: the record's config is the resolved one, eval --set overrides included."""
    task = record["config"]["task"]
    return task.get("eval_T") or task.get("T")


def updates(record, step):
    """Optimizer updates in ``step`` time steps: one per episode (copying, adding) or window."""
    task, model = record["config"]["task"], record["config"]["model"]
    length = {"copying": task.get("T", 0) + 2 * RECALL, "adding": task.get("T", 0)}.get(task["name"]) or model["window"]
    return step // length


def schedule(record):
    """The learning-rate schedule where it is not constant (a continuation annealed by
    sab_continue.sh --set train.lr_decay=...): ", lr 0.001, 0.0001 from update 22,750"."""
    config = upgrade_config(record["config"])  # records from before [optim] existed
    train, optim = config["train"], config.get("optim", {})
    lr = optim["lr"]
    decay, every = optim.get("lr_decay", 1.0), optim.get("lr_decay_every", 0)
    if decay == 1.0 or not every:
        return ""
    first = optim["lr_decay_from"] or every  # the trainer's first decay step
    start = updates(record, first)
    if first + every > train["steps"]:  # decayed once
        return f", lr {lr:g}, {lr * decay:g} from update {start:,}"
    return f", lr {lr:g}, x{decay:g} every {updates(record, every):,} updates from {start:,}"


HEADERS = {"copying": ["recall accuracy (test)", "cross-entropy, nats per recalled symbol"],
           "adding": ["MSE (test)", "MSE of predicting 1, same episodes"], "ptb_char": ["bits per character (test)"]}


def constant_mse(record):
    """MSE of predicting 1 on the evaluated episodes: recorded since eval_ceilings existed, redrawn
    from the record's config (the episodes are a function of it) for older records."""
    recorded = record.get("eval_ceilings", {}).get("constant_mse")
    if recorded is not None:
        return recorded
    from nobptt.run import build_stream

    return build_stream(record["config"], record["split"], "cpu").ceilings()["constant_mse"]


def percent(accuracy):
    """One decimal, or two where one would round a miss up to 100.0% (99.98% = 1 wrong of 5,120)."""
    text = f"{100 * accuracy:.1f}%"
    return f"{100 * accuracy:.2f}%" if text == "100.0%" and accuracy < 1 else text


def row(record):
    m, task = record["metrics"], record["config"]["task"]["name"]
    cells = [label(record) + schedule(record), str(record["seed"])]
    if task in EPISODIC:
        cells += [str(record["config"]["task"]["T"]), str(eval_length(record))]
    if task == "adding":
        cells += [f"{m['heldout_mse']:.4f}", f"{constant_mse(record):.4f}"]
    elif task == "ptb_char":
        cells.append(f"{m['heldout_nll'] / math.log(2):.3f}")
    else:
        cells += [percent(m["heldout_accuracy"]), f"{m['heldout_nll']:.3f}"]
    total = record["config"]["train"]["steps"]
    cells += [f"{record['parameters']:,}", str(updates(record, record["step"])), str(updates(record, total)),
              f"{record['train_wall_time_s'] / 60:.0f} min"]
    return "| " + " | ".join(cells) + " |"


def order(record):
    """Rows grouped by training length, then learner (in LEARNERS' order), seed, training budget
    (a run and its continuation) and tested length."""
    key = learner_key(record)
    rank = list(LEARNERS).index(key) if key in LEARNERS else len(LEARNERS)
    return (record["config"]["task"].get("T") or 0, rank, record["seed"], record["config"]["train"]["steps"],
            eval_length(record) or 0)


def headline(record):
    """The record's headline score as a number: recall accuracy in %, MSE, or bits per character."""
    m, task = record["metrics"], record["config"]["task"]["name"]
    if task == "adding":
        return m["heldout_mse"]
    return m["heldout_nll"] / math.log(2) if task == "ptb_char" else 100 * m["heldout_accuracy"]


def seed_summary(records):
    """Mean and standard deviation over seeds of the runs that differ only in their seed (same
    learner and schedule, training and tested length, budget): the README's "over the N seeds"."""
    groups = {}
    for record in sorted(records, key=order):
        key = (label(record) + schedule(record), record["config"]["task"].get("T"), eval_length(record),
               updates(record, record["config"]["train"]["steps"]))
        groups.setdefault(key, []).append(headline(record))
    print("\n| learner | trained at T | tested at T | updates | seeds | mean | standard deviation |")
    print("|---|---|---|---|---|---|---|")
    for (name, T, tested, budget), values in groups.items():
        if len(values) > 1:
            print(f"| {name} | {T} | {tested} | {budget} | {len(values)} | {statistics.mean(values):.4g} | "
                  f"{statistics.stdev(values):.3g} |")


def main(paths, seeds=False):
    for path in paths:
        records = json.loads(Path(path).read_text())
        task = records[0]["config"]["task"]["name"]
        lengths = ["trained at T", "tested at T"] if task in EPISODIC else []
        columns = ["learner", "seed", *lengths, *HEADERS[task], "parameters", "best.pt (updates)", "updates", "training"]
        print(f"\n{path} ({len(records)} evaluations)\n")
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for record in sorted(records, key=order):
            print(row(record))
        if seeds:
            seed_summary(records)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="*", help="results files (default: results/sab_*.json)")
    parser.add_argument("--seeds", action="store_true", help="add the mean and standard deviation over seeds")
    args = parser.parse_args()
    for path in args.results:
        if not Path(path).is_file():
            parser.error(f"no results file {path}: give records written by `nobptt eval --out`")
    main(args.results or sorted(str(p) for p in Path("results").glob("sab_*.json")), seeds=args.seeds)

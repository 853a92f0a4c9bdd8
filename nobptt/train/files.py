"""Names of the files a run writes into its folder (docs/runs.md), in one place for the trainer that
writes them and for whatever reads a run folder's state (the sweep, nobptt/sweep/plan.py) without
needing the trainer."""
CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
SUMMARY = "summary.json"  # written when a run finishes
DIVERGED = "diverged.json"  # written when a run stops for divergence; a resume removes it (nobptt/run.py)

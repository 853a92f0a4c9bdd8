"""``nobptt sweep``: seeds and grids of one experiment in one command, every point an ordinary run
folder under one sweep folder, run locally (a pool of processes) or on a Ray cluster, resumable, and
recorded as one aggregate record chosen on validation only (docs/sweep.md).

Modules: ``command`` (the command line's arguments to a run), ``grid`` (parsing and checking --seeds / --grid before anything runs), ``plan`` (points,
the sweep folder and each point's state), ``backends`` (local and Ray), ``progress`` (what is
printed), ``runner`` (skip, resume, run, stop), ``collect`` (the aggregate record).
"""

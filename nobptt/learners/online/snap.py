"""SnAp-n, the sparse n-step approximation of RTRL (Menick, Elsen, Evci, Osindero, Simonyan & Graves,
ICLR 2021, arXiv 2006.07232): docs/online.md#snap-n.

RTRL carries the whole influence matrix M_t = dh_t/dtheta (n x p per stream). SnAp-n keeps only the
entries that can be non-zero within n steps of the recurrent core (the mask, snap_masks.py) and
forces every other entry to zero after each step:

    M_t = mask_n * (J_t M_{t-1} + Mbar_t),       g_t = q_t M_t.

SnAp-1 keeps, for every parameter, only the units it feeds directly: for the tanh RNN one unit per
parameter, so p numbers per stream, as cheap to store as the parameters. SnAp-2 adds the units
reachable in one more step, which for a dense recurrent matrix is every unit (SnAp-2 = RTRL there);
it becomes cheaper than RTRL only with a sparse recurrent matrix (``density``). Once n reaches the
reachability diameter of J's pattern the mask is RTRL's own reach and SnAp-n equals RTRL exactly
(tests/test_online_snap.py).

Storage: the mask's E entries as a coordinate list (``entry_layout``), so the persistent state is
exactly B x E floats (E = p for SnAp-1 on the tanh RNN, n p for SnAp-2 on a dense one). The per-step Jacobians are still computed densely by torch.func (an RTRL-sized
transient n x p per stream); a sparse Jacobian (snapjax's sp_jacrev) would avoid it: not done.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nobptt.cells.base import Params
from nobptt.cells.jacobians import step_jacobians, unflatten
from nobptt.learners.online.base import ONLINE_OPTIM, OnlineConfig, OnlineLearner
from nobptt.learners.online.snap_masks import column_pairs, entry_layout, jacobian_patterns, pair_count, reach_mask
from nobptt.learners.registry import register_learner
from nobptt.errors import ConfigError
from nobptt.validation import check_ranges


@dataclass
class SnApConfig(OnlineConfig):
    n: int = 1  # steps of reach kept in the influence matrix (1 = SnAp-1; large n = RTRL)
    # fraction of every weight matrix of the cell (parameters with >= 2 dimensions; biases stay
    # dense) kept at initialisation, entry by entry at random; the rest is fixed at zero and never
    # trained (a fixed sparsity pattern, the setting where the paper finds SnAp-2 tractable; which
    # matrices the paper sparsifies is our choice here, docs/online.md#snap-n). 1 = a dense cell,
    # where SnAp-2 already equals RTRL.
    density: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ranges(self, positive="n density", unit="density")


@dataclass
class SnAp1Config(SnApConfig):
    """SnAp-1: one unit per parameter (the tanh RNN's p floats of state)."""

    n: int = 1


@dataclass
class SnAp2Config(SnApConfig):
    """SnAp-2: the units reachable in two steps (= RTRL for a dense recurrent matrix)."""

    n: int = 2


PRESETS: dict[str, tuple[type, str]] = {
    "snap": (SnApConfig, "SnAp-n (Menick et al. 2021): RTRL's influence matrix kept only where reachable in n steps"),
    "snap1": (SnAp1Config, "SnAp-1 (Menick et al. 2021): influence kept for the units each parameter feeds, ~p state"),
    "snap2": (SnAp2Config, "SnAp-2 (Menick et al. 2021): influence kept within two steps (= RTRL when W is dense)"),
}
# J_t M_{t-1} on the kept entries: "pairs" multiplies only entry pairs sharing a column (B x P
# products, P = sum_c r_c^2, r_c the kept units of parameter c: p for SnAp-1 on the tanh RNN);
# "dense" scatters the entries into an n x p scratch matrix and uses one batched matmul (RTRL's
# B n^2 p work). Pairs is chosen while its scratch (B x P) is no larger than the dense one (B n p).
_PAIRS = "pairs"
_DENSE = "dense"


def _register_presets(cls: type) -> type:
    for name, (config, description) in PRESETS.items():
        register_learner(name, config=config, optim=ONLINE_OPTIM, description=description)(cls)
    return cls


def _rebuild_mask_after_load(module: "SnAp", _incompatible_keys) -> None:
    module._build_mask()


def _buffer_name(param: str) -> str:
    return "alive_" + param.replace(".", "__")


@_register_presets
class SnAp(OnlineLearner):
    config: SnApConfig

    def __init__(self, config: SnApConfig, input_dim: int, n_classes: int) -> None:
        super().__init__(config, input_dim, n_classes)
        self._alive_names: list[str] = []
        if config.density < 1.0:
            # drawn from the global stream, like the weights themselves: a seed fixes both
            self.set_connectivity({name: torch.rand(value.shape) < config.density
                                   for name, value in self.cell.params().items() if value.dim() >= 2})
        else:
            self._build_mask()
        # a loaded checkpoint may carry another connectivity than the one drawn here
        self.register_load_state_dict_post_hook(_rebuild_mask_after_load)

    # -- the mask ---------------------------------------------------------------------------------
    def alive(self) -> Params:
        """name -> bool tensor: the parameter entries that exist (all, unless pruned)."""
        return {name: getattr(self, _buffer_name(name)) if name in self._alive_names
                else torch.ones_like(value, dtype=torch.bool) for name, value in self.cell.params().items()}

    @torch.no_grad()
    def set_connectivity(self, alive: Params) -> None:
        """Fix the given parameters' entries where ``alive`` is False at zero for good (they get no
        gradient, so no optimizer moves them) and recompute the mask. ``alive``: parameter name ->
        bool tensor of its shape; parameters not named stay dense."""
        params = self.cell.params()
        for name, keep in alive.items():
            if name not in params or tuple(keep.shape) != tuple(params[name].shape):
                raise ConfigError(f"SnAp connectivity for {name!r}: give a bool tensor shaped like one of "
                                  f"cell {self.config.cell!r}'s parameters {sorted(params)}")
            keep = keep.to(device=params[name].device, dtype=torch.bool)
            params[name].mul_(keep)
            self.register_buffer(_buffer_name(name), keep.clone())
            if name not in self._alive_names:
                self._alive_names.append(name)
        self._build_mask()

    def _build_mask(self) -> None:
        jac_pattern, immediate_pattern = jacobian_patterns(self.cell, self.alive())
        mask = reach_mask(jac_pattern, immediate_pattern, self.config.n)
        rows, cols = entry_layout(mask)
        # derived from the connectivity, so not saved: rebuilt on construction and after a load
        for name, value in (("mask", mask), ("rows", rows), ("cols", cols), ("flat", rows * mask.shape[1] + cols)):
            self.register_buffer(name, value.to(self.cell_device), persistent=False)
        # every entry kept (a dense network's SnAp-2, or n past the diameter of a dense graph): the
        # row-major entry list is the whole matrix, and no scatter or gather is needed
        self._full = bool(mask.all())
        self.use_path(_PAIRS if pair_count(mask) <= mask.numel() else _DENSE)

    @property
    def cell_device(self) -> torch.device:
        return next(self.cell.parameters()).device

    def use_path(self, path: str) -> None:
        """How J_t M_{t-1} is formed (chosen by size; the tests force each): "pairs" or "dense"."""
        if path == _PAIRS:
            pairs = column_pairs(self.mask.cpu(), self.rows.cpu(), self.cols.cpu())
        elif path == _DENSE:  # the pair lists are not needed
            pairs = (torch.zeros(0, dtype=torch.int64),) * 3
        else:
            raise ValueError(f"path={path!r} must be {_PAIRS!r} or {_DENSE!r}")
        target, source, unit = pairs
        # pair e <- e': J[rows[e], unit] M[e'], the row looked up once here rather than every step
        for name, value in (("pair_target", target), ("pair_source", source), ("pair_row", self.rows.cpu()[target]),
                            ("pair_unit", unit)):
            self.register_buffer(name, value.to(self.cell_device), persistent=False)
        self._path = path

    @property
    def mask_entries(self) -> int:
        """The number of influence entries SnAp-n keeps per stream (the mask's non-zeros)."""
        return int(self.mask.sum())

    def trace_formula(self) -> int:
        """Trace entries per stream by the method's own count: the mask's non-zeros (SnAp-1 on the
        tanh RNN: p), which is exactly what ``initial_traces`` holds (``nobptt bench memory``)."""
        return self.mask_entries

    # -- the estimator ----------------------------------------------------------------------------
    def initial_traces(self, batch_size: int, device: torch.device | str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        return {"influence": torch.zeros(batch_size, self.rows.numel(), device=device, dtype=dtype)}

    def propagate(self, traces, params: Params, h, x, h_new):
        jac_h, immediate = step_jacobians(self.cell, params, h, x)
        values = traces["influence"]  # (B, E): M_{t-1} at the kept entries, zero elsewhere
        if self._path == _PAIRS:
            products = jac_h[:, self.pair_row, self.pair_unit] * values[:, self.pair_source]
            carried = torch.zeros_like(values).index_add_(1, self.pair_target, products)
        elif self._full:
            return {"influence": torch.baddbmm(immediate, jac_h, values.view(-1, *self.mask.shape)).flatten(1)}
        else:
            dense = values.new_zeros(values.shape[0], self.mask.numel()).index_copy_(1, self.flat, values)
            carried = torch.bmm(jac_h, dense.view(-1, *self.mask.shape)).flatten(1).index_select(1, self.flat)
        # entries off the mask are never computed: M_t = mask * (J_t M_{t-1} + Mbar_t)
        return {"influence": carried + immediate.flatten(1).index_select(1, self.flat)}

    def cell_gradient(self, traces, q, params: Params, h, x, h_new) -> Params:
        if self._full:
            return unflatten(torch.einsum("bn,bnp->p", q, traces["influence"].view(-1, *self.mask.shape)), params)
        per_entry = (q[:, self.rows] * traces["influence"]).sum(0)
        flat = torch.zeros(self.mask.shape[1], device=q.device, dtype=q.dtype).index_add_(0, self.cols, per_entry)
        return unflatten(flat, params)

"""SnAp-n sparsity masks (Menick et al. 2021, "A practical sparse approximation for real time
recurrent learning", ICLR, arXiv 2006.07232) from a cell's Jacobian patterns, and the entry lists the
``snap`` learner stores and propagates its influence entries with (docs/online.md#snap-n).

The influence matrix M_t = dh_t/dtheta obeys M_t = J_t M_{t-1} + Mbar_t. Entry (k, c) of M_t can be
non-zero within one step only where Mbar_t is (parameter c feeds unit k directly); within n steps
only where unit k is reachable from such a unit along at most n - 1 edges of J's pattern. So

    mask_n = P(Mbar) OR P(J) P(Mbar) OR ... OR P(J)^(n-1) P(Mbar)      (boolean products)

where P(.) is the non-zero pattern. SnAp-n keeps exactly these entries (mask_n is also the set
snapjax's ``snap_n_mask`` tests describe; ours is computed from the cell, not from a weight matrix).

The patterns are structural: J and Mbar are evaluated at random states, inputs and parameter values
(same zero pattern as the cell's ``alive`` entries, random values elsewhere), and the union of a few
such draws is taken, so that a coincidental zero (a unit whose state happens to be 0, two weights
that happen to cancel) never removes an entry that training could make non-zero. A parameter entry
that is not alive (pruned to a fixed zero, the ``density`` option) is no parameter at all: its column
is empty, and it feeds no state Jacobian entry.
"""
from __future__ import annotations

import torch

from nobptt.cells.base import Cell, Params
from nobptt.cells.jacobians import step_jacobians

# draws of (state, input, parameter values) whose Jacobian patterns are united; two random draws
# already make a coincidental zero a probability-zero event, the second is a cheap safeguard
PATTERN_DRAWS = 2


def _random_point(cell: Cell, alive: Params, generator: torch.Generator) -> tuple[Params, torch.Tensor, torch.Tensor]:
    """Random parameters with the alive pattern, a random state and input, all of order one after a
    step: weights ~ +-U(0.5, 1.5)/sqrt(fan-in) so no tanh/sigmoid saturates to an exact 0 derivative
    in floating point (which would hide an entry), states and inputs ~ N(0, 0.25)."""
    params = {}
    for name, value in cell.params().items():
        fan_in = value.shape[-1] if value.dim() >= 2 else 1
        magnitude = 0.5 + torch.rand(value.shape, generator=generator, dtype=torch.float64)
        sign = torch.randint(0, 2, value.shape, generator=generator).to(torch.float64) * 2 - 1
        params[name] = (magnitude * sign / fan_in ** 0.5 * alive[name]).to(value.dtype)
    like = next(iter(cell.params().values()))
    h = 0.5 * torch.randn(1, cell.state_size, generator=generator, dtype=torch.float64).to(like.dtype)
    x = 0.5 * torch.randn(1, cell.input_size, generator=generator, dtype=torch.float64).to(like.dtype)
    return cell.probe_point(params, h, x)


@torch.no_grad()
def jacobian_patterns(cell: Cell, alive: Params | None = None, draws: int = PATTERN_DRAWS,
                      seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The structural non-zero patterns of J = dF/dh (n, n) and Mbar = dF/dtheta (n, p), boolean, on
    the CPU. ``alive``: name -> bool tensor shaped like the parameter (default: every entry); a dead
    entry is held at zero and its column of Mbar is cleared. A private generator (``seed``) keeps the
    global random stream untouched, so building the learner draws the same initial weights as the
    other learners built under the same seed."""
    cell_params = cell.params()
    alive = {k: (alive[k] if alive is not None and k in alive else torch.ones_like(v, dtype=torch.bool)).cpu()
             for k, v in cell_params.items()}
    generator = torch.Generator().manual_seed(seed)
    jac_pattern = torch.zeros(cell.state_size, cell.state_size, dtype=torch.bool)
    immediate_pattern = torch.zeros(cell.state_size, sum(v.numel() for v in cell_params.values()), dtype=torch.bool)
    device = next(iter(cell_params.values())).device
    for _ in range(draws):
        params, h, x = _random_point(cell, alive, generator)
        params = {k: v.to(device) for k, v in params.items()}
        jac_h, immediate = step_jacobians(cell, params, h.to(device), x.to(device))
        jac_pattern |= (jac_h[0] != 0).cpu()
        immediate_pattern |= (immediate[0] != 0).cpu()
    alive_columns = torch.cat([alive[k].reshape(-1) for k in cell_params])
    return jac_pattern, immediate_pattern & alive_columns


def reach_mask(jac_pattern: torch.Tensor, immediate_pattern: torch.Tensor, n: int) -> torch.Tensor:
    """mask_n = OR_{j < n} P(J)^j P(Mbar): the (unit, parameter) entries of the influence matrix that
    can be non-zero within n steps (boolean, (n_state, p)). ``n`` >= 1."""
    if n < 1:
        raise ValueError(f"SnAp's n={n} must be >= 1")
    step = jac_pattern.to(torch.float64)
    mask = immediate_pattern.clone()
    frontier = immediate_pattern.to(torch.float64)
    for _ in range(n - 1):
        frontier = ((step @ frontier) > 0).to(torch.float64)
        grown = mask | frontier.bool()
        if torch.equal(grown, mask):  # saturated: every further n gives the same mask (= RTRL's reach)
            break
        mask = grown
    return mask


def snap_mask(cell: Cell, n: int, alive: Params | None = None) -> torch.Tensor:
    """The SnAp-n mask of ``cell`` (bool, (state_size, p), columns in ``cell.params()`` order)."""
    return reach_mask(*jacobian_patterns(cell, alive), n)


def entry_layout(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The kept entries of a mask as coordinate lists ``rows`` (E,) and ``cols`` (E,), row-major:
    the learner stores M_t as values (B, E) at these coordinates, exactly the mask's E entries per
    stream (p for SnAp-1 on the tanh RNN, n p for a dense network's SnAp-2, RTRL's size)."""
    rows, cols = mask.nonzero(as_tuple=True)
    return rows, cols


def pair_count(mask: torch.Tensor) -> int:
    """sum_c r_c^2, r_c = the kept units of parameter c: the products one step of J_t M_{t-1}
    needs when only kept entries are touched."""
    return int((mask.sum(0).to(torch.int64) ** 2).sum())


def column_pairs(mask: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For (J M)[i, c] = sum_j J[i, j] M[j, c] restricted to kept entries: every pair of entries
    (target e = (i, c), source e' = (j, c)) sharing a column. Returns ``target`` (P,), ``source``
    (P,) entry indices and ``unit`` (P,) = j, so that the product is J[rows[target], unit] times
    M[source], summed into target. P = ``pair_count(mask)``."""
    index = torch.full(mask.shape, -1, dtype=torch.int64)
    index[rows, cols] = torch.arange(rows.numel())
    target, unit = mask[:, cols].T.nonzero(as_tuple=True)  # entry e, and a kept unit j of its column
    return target, index[unit, cols[target]], unit

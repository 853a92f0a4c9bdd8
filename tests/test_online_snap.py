"""SnAp-n's oracles (float64): its masks against the published ones (snapjax's snap_test.py fixtures,
Menick et al. 2021), SnAp-n == RTRL once n reaches the reachability diameter, and its state size."""
import pytest
import torch

from nobptt.cells.registry import cell_names
from nobptt.errors import ConfigError
from nobptt.learners.online.snap_masks import column_pairs, entry_layout, pair_count, reach_mask
from tests.online_oracle import max_abs_difference, online_gradient, random_episode, tiny_learner

# cells that fix their input size (the influence cell of issue 39 reads its task's single input)
CELL_INPUTS = {"influence": 1}
# the 3x3 example (W[i, j] != 0: unit j feeds unit i): unit 1 listens only to itself and feeds unit 0;
# units 0 and 2 feed each other
EXAMPLE_W = torch.tensor([[1, 1, 1], [0, 1, 0], [1, 0, 1]]) != 0
# the published masks: rows = units, columns = the 6 non-zero entries of W in row-major order
PUBLISHED = {
    1: [[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 1, 1]],
    2: [[1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 0, 0], [1, 1, 1, 0, 1, 1]],
    3: [[1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 0, 0], [1, 1, 1, 1, 1, 1]],
}


def sparse_snap(n: int, pattern: torch.Tensor, path: str | None = None):
    """A SnAp-n tanh RNN whose recurrent matrix W has the given non-zero pattern (the rest pruned)."""
    learner = tiny_learner("snap", n=n, hidden=pattern.shape[0])
    learner.set_connectivity({"W": pattern})
    if path is not None:
        learner.use_path(path)
    return learner


def rtrl_twin(snap):
    """RTRL on the same cell and readout values (pruned entries are zero in both)."""
    twin = tiny_learner("rtrl", hidden=snap.config.hidden, cell=snap.config.cell)
    missing, unexpected = twin.load_state_dict(snap.state_dict(), strict=False)
    assert not missing and all(k.startswith("alive_") for k in unexpected)
    return twin


def on_alive(grads, snap):
    """RTRL's gradient restricted to the entries that exist in the pruned network."""
    alive = snap.alive()
    return {k: v * alive[k.split(".", 1)[1]] if k.startswith("cell.") else v for k, v in grads.items()}


def w_columns(learner) -> torch.Tensor:
    """The mask's columns for W's alive entries (W is the first parameter of the tanh RNN)."""
    alive = learner.alive()["W"].reshape(-1)
    return learner.mask[:, :alive.numel()][:, alive].int()


@pytest.mark.parametrize("n", [1, 2, 3])
def test_diagonal_recurrence_gives_the_identity_mask_and_rtrl_gradients(n):
    snap = sparse_snap(n, torch.eye(4, dtype=torch.bool))
    assert torch.equal(w_columns(snap), torch.eye(4, dtype=torch.int))
    episode = random_episode(10)
    exact = on_alive(online_gradient(rtrl_twin(snap), episode), snap)
    assert max(float(g.abs().max()) for g in exact.values()) > 1e-3
    assert max_abs_difference(online_gradient(snap, episode), exact) < 1e-10


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_the_3x3_example_masks_are_the_published_ones(n):
    """n = 4 gives n = 3's mask: the reach saturates at the graph's diameter."""
    assert w_columns(sparse_snap(n, EXAMPLE_W)).tolist() == PUBLISHED[min(n, 3)]


def test_reach_mask_is_the_n_step_boolean_reachability():
    """The pure rule on hand-made patterns: a chain 0 <- 1 <- 2 (J[i, j]: unit j feeds unit i),
    each unit fed by its own single parameter."""
    chain = torch.tensor([[1, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=torch.bool)
    immediate = torch.eye(3, dtype=torch.bool)
    assert reach_mask(chain, immediate, 1).int().tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert reach_mask(chain, immediate, 2).int().tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert reach_mask(chain, immediate, 3).int().tolist() == [[1, 1, 1], [0, 1, 1], [0, 0, 1]]
    mask = reach_mask(chain, immediate, 3)
    rows, cols = entry_layout(mask)
    assert rows.tolist() == [0, 0, 0, 1, 1, 2] and cols.tolist() == [0, 1, 2, 1, 2, 2]
    target, source, unit = column_pairs(mask, rows, cols)
    # column 2 keeps units 0, 1, 2 (entries 2, 4, 5): each of them pairs with all three
    assert sorted(zip(target.tolist(), source.tolist(), unit.tolist()))[-3:] == [(5, 2, 0), (5, 4, 1), (5, 5, 2)]
    assert target.numel() == pair_count(mask) == 1 + 4 + 9


@pytest.mark.parametrize("path", ["pairs", "dense"])
def test_snap_equals_rtrl_from_the_diameter_on_and_differs_below_it(path):
    """In the 3x3 example W11's influence reaches unit 2 only through units 1 and 0 (3 steps): SnAp-1
    and SnAp-2 drop real influence, SnAp-3 and SnAp-4 keep all of it. Both propagation paths are checked."""
    episode = random_episode(12)
    differences = {}
    for n in (1, 2, 3, 4):
        snap = sparse_snap(n, EXAMPLE_W, path)
        exact = on_alive(online_gradient(rtrl_twin(snap), episode), snap)
        scale = max(float(g.abs().max()) for g in exact.values())
        differences[n] = max_abs_difference(online_gradient(snap, episode), exact) / scale
    assert differences[3] < 1e-12 and differences[4] < 1e-12
    # measured (seed 0, 12 steps): 6.4e-2 for SnAp-1, 2.6e-4 for SnAp-2; truncation error, far
    # above float64 noise, shrinking as n grows
    assert differences[1] > 1e-2 and 1e-6 < differences[2] < differences[1]


def test_dense_rnn_snap2_is_rtrl_and_snap1_is_not():
    episode = random_episode(10)
    exact = online_gradient(tiny_learner("rtrl"), episode)
    snap2 = tiny_learner("snap2")
    assert snap2.mask.all()  # a dense W reaches every unit in one step
    assert max_abs_difference(online_gradient(snap2, episode), exact) < 1e-10
    assert max_abs_difference(online_gradient(tiny_learner("snap1"), episode), exact) > 1e-3


@pytest.mark.parametrize("cell", cell_names())
def test_every_cell_snap_at_full_reach_equals_rtrl(cell):
    """n >= the state size is at least any graph's diameter: SnAp-n is RTRL for every cell."""
    inputs = CELL_INPUTS.get(cell, 3)
    snap = tiny_learner("snap", cell=cell, n=64, input_dim=inputs)
    assert snap.cell.state_size <= 64
    episode = random_episode(8, input_dim=inputs)
    exact = online_gradient(tiny_learner("rtrl", cell=cell, input_dim=inputs), episode)
    assert max_abs_difference(online_gradient(snap, episode), exact) < 1e-10


def test_snap1_state_is_the_mask_entries_about_p():
    """The tanh RNN's parameters each feed one unit: SnAp-1 keeps p entries, stored as p floats
    per stream; SnAp-2 on the dense RNN keeps RTRL's n p."""
    snap1 = tiny_learner("snap1", hidden=5)
    p = sum(v.numel() for v in snap1.cell.parameters())
    assert snap1.mask_entries == snap1.trace_formula() == p and snap1.mask.sum(0).eq(1).all()
    assert snap1.trace_bytes(snap1.initial_state(3, "cpu")) == 3 * p * 8
    snap2 = tiny_learner("snap2", hidden=5)
    assert snap2.mask_entries == 5 * p and snap2.trace_bytes(snap2.initial_state(3, "cpu")) == 3 * 5 * p * 8


# SnAp-1's entries per parameter, by cell: the tanh RNN's and the GRU's parameters each feed one
# unit; an LSTM unit's input, forget and cell-gate parameters feed c_k and h_k, its output gate's
# only h_k (1 + 3/4); the influence cell's single theta feeds all 4 units
SNAP1_ENTRIES_PER_PARAMETER = {"rnn": 1.0, "gru": 1.0, "lstm": 1.75, "influence": 4.0}


@pytest.mark.parametrize("cell", sorted(SNAP1_ENTRIES_PER_PARAMETER))
def test_snap1_entries_per_parameter_by_cell(cell):
    if cell not in cell_names():
        pytest.skip(f"cell {cell!r} is not registered on this branch")
    snap1 = tiny_learner("snap1", cell=cell, input_dim=CELL_INPUTS.get(cell, 3))
    p = sum(v.numel() for v in snap1.cell.parameters())
    assert snap1.mask_entries == SNAP1_ENTRIES_PER_PARAMETER[cell] * p
    assert snap1.trace_bytes(snap1.initial_state(2, "cpu")) == 2 * snap1.mask_entries * 8


def test_density_prunes_for_good_and_shrinks_snap2():
    torch.manual_seed(0)
    snap = tiny_learner("snap2", hidden=16, density=0.2)
    alive = snap.alive()
    dead = ~alive["W"]
    assert 0.6 < float(dead.float().mean()) < 0.95 and bool(alive["b"].all())
    kept = sum(int(v.sum()) for v in alive.values())  # the parameters that exist
    assert kept < snap.mask_entries < 16 * kept / 2  # SnAp-2 on a sparse W: far below RTRL's n p
    optimizer = torch.optim.Adam(snap.parameters(), lr=0.1)
    state = snap.initial_state(2, "cpu")
    for batch in random_episode(5, seed=4):
        state, out = snap.learn(state, batch)
        assert float(snap.cell.W.grad[dead].abs().max()) == 0.0
        optimizer.step()
        optimizer.zero_grad()
    weights = snap.cell.W.detach()
    assert float(weights[dead].abs().max()) == 0.0 and float(weights[~dead].abs().min()) > 0


def test_a_loaded_checkpoint_brings_its_connectivity_and_mask():
    source = tiny_learner("snap2", hidden=8, density=0.3, seed=1)
    target = tiny_learner("snap2", hidden=8, density=0.3, seed=2)
    assert not torch.equal(source.mask, target.mask)
    target.load_state_dict(source.state_dict())
    assert torch.equal(source.mask, target.mask) and torch.equal(source.rows, target.rows)


def test_a_connectivity_must_name_a_cell_parameter_of_its_shape():
    learner = tiny_learner("snap")
    with pytest.raises(ConfigError, match="'W'"):
        learner.set_connectivity({"W": torch.ones(3, 3, dtype=torch.bool)})
    with pytest.raises(ConfigError, match="'V'"):
        learner.set_connectivity({"V": torch.ones(4, 4, dtype=torch.bool)})


@pytest.mark.parametrize("field,value", [("n", 0), ("density", 0.0), ("density", 1.5)])
def test_config_refuses_out_of_range_values(field, value):
    with pytest.raises(ConfigError, match=field):
        tiny_learner("snap", **{field: value})

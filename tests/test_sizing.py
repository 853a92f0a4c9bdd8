"""Matched sizes (nobptt.cells.sizing): the count is the built learner's, and the matched width is
the one whose count is nearest the target."""
import pytest

from nobptt.cells.sizing import cell_parameters, matched_hidden
from nobptt.learners.registry import build_learner


@pytest.mark.parametrize("cell", ["lstm", "rhn:1", "rhn:5", "hyperlstm", "hrhn:3", "plstm"])
def test_the_count_is_the_learners_and_the_matched_width_is_the_nearest(cell):
    learner = build_learner("tbptt", {"cell": cell, "hidden": 23}, 50, 50)
    assert cell_parameters(cell, 50, 23, outputs=50) == sum(p.numel() for p in learner.parameters())
    h = matched_hidden(cell, 50, 40_000, outputs=50)
    gaps = [abs(cell_parameters(cell, 50, w, outputs=50) - 40_000) for w in (h - 1, h, h + 1)]
    assert gaps[1] == min(gaps) and gaps[1] < 0.05 * 40_000

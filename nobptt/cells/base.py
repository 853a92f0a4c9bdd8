"""The cell protocol: a recurrent cell is a pure function ``step(params, h, x) -> h'``.

The online learners (RTRL, SnAp, UORO, e-prop) need Jacobians of one step with respect to the
previous state and to the parameters; BPTT needs the same step unrolled. Writing a cell as a pure,
batched function of an explicit parameter dict lets ``torch.func`` (jacrev / jvp / vjp / vmap)
compute all of them, so a new cell needs no learner code (docs/online.md#cells). The parameters
still live in the module, so optimizers, checkpoints and ``p.grad`` work as for any ``nn.Module``.

The state is one flat vector per stream, ``h`` of shape (B, state_size): a cell with several state
parts (the LSTM's h and c) concatenates them, so that an influence matrix dh/dtheta has one row per
state unit whatever the cell.
"""
from __future__ import annotations

import torch
from torch import nn

Params = dict[str, torch.Tensor]


class Cell(nn.Module):
    """Subclasses set ``input_size``, ``state_size`` and ``output_size`` and implement ``step``
    (and ``output`` / ``initial_state`` when the defaults do not fit)."""

    input_size: int
    state_size: int  # n: units of the flat state h
    output_size: int  # units of output(h), what a readout sees

    def step(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, state_size), (B, input_size) -> (B, state_size). Pure: no in-place operation on its
        arguments, no use of ``self``'s parameters (only of ``params``), so torch.func can
        differentiate it and vmap it over streams."""
        raise NotImplementedError

    def output(self, h: torch.Tensor) -> torch.Tensor:
        """The part of the state a readout sees, (B, output_size); parameter-free."""
        return h

    def probe_point(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> tuple[Params, torch.Tensor, torch.Tensor]:
        """A random point (params, h, x), drawn by the learners that read the cell's structural
        sparsity (SnAp's masks, e-prop's entering pairs), moved to where every structural dependence
        shows. Unchanged by default; a cell overrides it when a dependence vanishes on a set of
        positive probability (the Phased LSTM's closed phase, where k does not depend on r_on)."""
        return params, h, x

    def step_metrics(self, params: Params, h: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-stream diagnostics of the step from (h, x), each (B,), that the learners average over
        the streams with real input (``Batch.mask``) and log, e.g. the Phased LSTM's ``gate_open``.
        None by default."""
        return {}

    def params(self) -> Params:
        """This cell's parameters by name, in ``named_parameters`` order (the order every flattened
        gradient and influence matrix uses)."""
        return dict(self.named_parameters())

    def initial_state(self, batch_size: int, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
        return torch.zeros(batch_size, self.state_size, device=device, dtype=dtype)

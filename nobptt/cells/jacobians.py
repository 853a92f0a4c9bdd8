"""Per-stream Jacobians of one cell step, and flattening of parameter dicts, with torch.func.

Notation (docs/online.md#notation): the step is h_t = F(h_{t-1}, x_t; theta) with n state units
and p parameters; J_t = dF/dh_{t-1} is (n, n) and the immediate influence Mbar_t = dF/dtheta is
(n, p), both per stream. theta is flattened in ``cell.params()`` order.
"""
from __future__ import annotations

import torch
from torch.func import jacrev, vmap

from nobptt.cells.base import Cell, Params


def n_params(params: Params) -> int:
    return sum(v.numel() for v in params.values())


def flatten(tensors: Params, batch_dims: int = 0) -> torch.Tensor:
    """Concatenate a dict of tensors (in its order) into one vector per leading batch index:
    shapes (*batch, *shape_i) -> (*batch, p)."""
    parts = [v.reshape(*v.shape[:batch_dims], -1) for v in tensors.values()]
    return torch.cat(parts, dim=-1)


def unflatten(vector: torch.Tensor, like: Params) -> Params:
    """Inverse of ``flatten`` for a single vector (p,): a dict shaped like ``like``."""
    out, start = {}, 0
    for name, value in like.items():
        out[name] = vector[start:start + value.numel()].view_as(value)
        start += value.numel()
    return out


def one_stream(cell: Cell):
    """``cell.step`` for one stream: (n,), (d,) -> (n,), the form torch.func transforms per stream
    under vmap."""
    def step(params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return cell.step(params, h.unsqueeze(0), x.unsqueeze(0)).squeeze(0)
    return step


def state_jacobian(cell: Cell, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """J_t = dF/dh_{t-1} per stream: (B, n, n)."""
    return vmap(jacrev(one_stream(cell), argnums=1), in_dims=(None, 0, 0))(params, h, x)


def parameter_jacobian(cell: Cell, params: Params, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mbar_t = dF/dtheta per stream, flattened in ``params`` order: (B, n, p)."""
    per_param = vmap(jacrev(one_stream(cell), argnums=0), in_dims=(None, 0, 0))(params, h, x)
    return flatten(per_param, batch_dims=2)


def step_jacobians(cell: Cell, params: Params, h: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(J_t, Mbar_t) in one reverse-mode pass per output unit: (B, n, n) and (B, n, p)."""
    jac_params, jac_h = vmap(jacrev(one_stream(cell), argnums=(0, 1)), in_dims=(None, 0, 0))(params, h, x)
    return jac_h, flatten(jac_params, batch_dims=2)

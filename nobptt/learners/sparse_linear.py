"""Linear layers that exploit a sparse input (the k-winner activity of the RSM family).

bRSM's output has k of m units active (12% on ssMNIST), and with no trace decay its recurrent
input is that same sparse vector. ``sparse_input_linear`` computes ``layer(x)`` from the active
entries only when every row of ``x`` is sparse enough, and falls back to the dense product
otherwise, so it is always exact (up to float summation order).

Where the saving is, measured on a 2-core CPU at ssMNIST sizes (B=300, m=1000, 784 outputs):
the forward product through ``F.embedding_bag`` (a gather-and-sum over the active rows of W^T)
takes ~1.5 ms against ~3 ms dense. The backward is left dense on purpose: the weight gradient
g^T x is an outer product of a dense error with the sparse activity, and torch has no kernel for it
faster than a dense GEMM on CPU (sparse CSR/COO products and embedding_bag's own backward were 1.3
to 6x slower); the input gradient is only needed at the active entries, gathered from g W.
``nobptt bench speed`` reports the resulting speed ratio of the whole step against the dense one.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def active_entries(x: torch.Tensor, max_density: float) -> torch.Tensor | None:
    """Column indices (B, K) covering every non-zero of each row, or None if a row is too dense.

    K is the largest row count of non-zeros; rows with fewer get zero-valued padding entries,
    which add nothing to the product.
    """
    nnz = int((x != 0).sum(dim=1).max()) if x.numel() else 0
    if nnz == 0 or nnz > max_density * x.shape[1]:
        return None
    return x.abs().topk(nnz, dim=1, sorted=False).indices


class _SparseRowsLinear(torch.autograd.Function):
    """y = x W^T (+ b) for x given as (values, indices); see the module docstring for the backward."""

    @staticmethod
    def forward(ctx, values: torch.Tensor, index: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(index, x, weight)
        ctx.has_bias = bias is not None
        out = F.embedding_bag(index, weight.t().contiguous(), per_sample_weights=values, mode="sum")
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        index, x, weight = ctx.saved_tensors
        grad_values = None
        if ctx.needs_input_grad[0]:  # zero at padding entries, so only non-zeros of x get a gradient
            grad_values = (grad @ weight).gather(1, index) * (x.gather(1, index) != 0)
        grad_weight = grad.t() @ x if ctx.needs_input_grad[3] else None
        grad_bias = grad.sum(dim=0) if ctx.has_bias and ctx.needs_input_grad[4] else None
        return grad_values, None, None, grad_weight, grad_bias


def sparse_input_linear(layer: nn.Linear, x: torch.Tensor, max_density: float = 0.25) -> torch.Tensor:
    """``layer(x)``, computed from x's active entries when each row has at most ``max_density`` of them.

    The gradient with respect to ``x`` is returned at its non-zero entries only. That is exact for
    the RSM family, whose non-winning units have a zero derivative (tanh of a masked sum), and is
    what makes the product sparse; do not use it where zeros of ``x`` need a gradient.
    """
    index = active_entries(x, max_density) if x.dim() == 2 else None
    if index is None:
        return layer(x)
    values = x.gather(1, index)  # keeps the autograd path to x (gather's backward scatters)
    return _SparseRowsLinear.apply(values, index, x.detach(), layer.weight, layer.bias)

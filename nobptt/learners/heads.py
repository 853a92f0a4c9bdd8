"""Read-out heads shared by learners."""
from __future__ import annotations

import torch
from torch import nn


class ClassifierHead(nn.Module):
    """MLP predicting the next label from a (detached) state: Linear -> LeakyReLU -> Linear.

    The references put a second LeakyReLU on the logits (docs/ssmnist.md#where-we-differ-from-the-reference-code-on-purpose); it serves no
    purpose before a softmax, so it is an option (``logit_leaky``), off by default.
    """

    def __init__(self, input_dim: int, hidden: int, n_classes: int, slope: float = 0.01,
                 init_std: float | None = 0.03, logit_leaky: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(input_dim, hidden), nn.LeakyReLU(slope),
                                   nn.Linear(hidden, n_classes)]
        if logit_leaky:
            layers.append(nn.LeakyReLU(slope))
        self.net = nn.Sequential(*layers)
        if init_std is not None:  # the references' N(0, 0.03) for weights; zero biases here
            for layer in self.net:
                if isinstance(layer, nn.Linear):
                    nn.init.normal_(layer.weight, std=init_std)
                    nn.init.zeros_(layer.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)

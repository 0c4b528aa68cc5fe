"""Building blocks shared by the networks: conv blocks, the Gaussian-vector visual encoder, the Multi-ACCDOA head."""
from __future__ import annotations

import torch
from torch import nn


def split_pooling(total: int, stages: int) -> list[int]:
    """Factor a time-pooling ``total`` over ``stages`` conv blocks, largest prime factors first
    (5 -> [5, 1, 1]; 10 -> [5, 2, 1]; 16 -> [4, 2, 2] for 3 stages)."""
    if total < 1:
        raise ValueError(f"pooling must be >= 1, got {total}")
    factors, n, p = [], total, 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    pools = [1] * stages
    for f in sorted(factors, reverse=True):
        i = min(range(stages), key=lambda k: (pools[k], k))  # the stage with the least pooling so far
        pools[i] *= f
    return sorted(pools, reverse=True)


class ConvBlock(nn.Module):
    """``convs`` x [conv3x3 -> BatchNorm -> ReLU] -> max-pool (time, freq) -> dropout, on (B, C, T, F)."""

    def __init__(self, in_channels: int, out_channels: int, pool: tuple[int, int], dropout: float = 0.0,
                 convs: int = 1):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(convs):
            layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, kernel_size=3, padding=1,
                                 bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()]
        self.layers = nn.Sequential(*layers)
        self.pool = nn.MaxPool2d(pool) if pool != (1, 1) else nn.Identity()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.pool(self.layers(x)))


class GaussianVectorEncoder(nn.Module):
    """Visual branch over Gaussian vectors: flattened (..., 2, N, P) -> Linear -> [ReLU] -> Linear -> [ReLU],
    giving (..., out_dim). ``activation=False`` leaves out both ReLUs: the official AV baseline's encoder is two
    Linear layers with no nonlinearity (``avcrnn``); ``seldnet`` keeps them."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, activation: bool = True):
        super().__init__()
        self.in_dim = in_dim
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, out_dim)
        self.out_dim = out_dim
        self.act: nn.Module = nn.ReLU() if activation else nn.Identity()

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        x = vectors.flatten(start_dim=vectors.dim() - 3).to(self.fc1.weight.dtype)
        return self.act(self.fc2(self.act(self.fc1(x))))


def reshape_accdoa(x: torch.Tensor, num_tracks: int, elements: int, num_classes: int) -> torch.Tensor:
    """(B, T, num_tracks * elements * num_classes) -> (B, T, num_tracks, elements, num_classes)."""
    return x.reshape(x.shape[0], x.shape[1], num_tracks, elements, num_classes)

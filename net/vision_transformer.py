"""A small Vision Transformer that embeds low-resolution equirectangular video frames, one embedding per frame.

Input ``(B, T, 3, H, W)``: uint8 (0..255, e.g. straight from the frame cache of `feature/frames.py`, permuted
to channels-first) or float already in [0, 1]. Each frame is cut into ``patch_size`` patches (a strided
convolution), given a learned positional embedding per patch position (the equirectangular grid is fixed, so
a position is a direction), prefixed with a class token and passed through a pre-norm transformer encoder.
Output ``(B, T, out_dim)``: the class token (``pool="cls"``) or the mean of the patch tokens (``pool="mean"``),
layer-normed and projected. ``forward_tokens`` also returns the patch tokens ``(B, T, N_patches, embed_dim)``
for attention-based fusion; patch ``i`` covers grid row ``i // grid_w`` and column ``i % grid_w``.
"""
from __future__ import annotations

import torch
from torch import nn

#: per-channel mean and std used to standardise [0, 1] pixels
_PIXEL_MEAN = 0.5
_PIXEL_STD = 0.25


class FrameViT(nn.Module):
    """Per-frame ViT encoder: ``(B, T, C, H, W)`` -> ``(B, T, out_dim)``."""

    def __init__(self, image_size: tuple[int, int], patch_size: int | tuple[int, int] = 16, in_channels: int = 3,
                 embed_dim: int = 128, depth: int = 4, num_heads: int = 4, mlp_ratio: float = 2.0,
                 out_dim: int = 128, dropout: float = 0.1, pool: str = "cls"):
        """``image_size`` = (H, W) of the frames; both must be multiples of the patch size (ph, pw)."""
        super().__init__()
        ph, pw = (patch_size, patch_size) if isinstance(patch_size, int) else patch_size
        height, width = image_size
        if height % ph or width % pw:
            raise ValueError(f"image size {height}x{width} (HxW) is not a multiple of the patch size {ph}x{pw}")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")
        self.image_size = (height, width)
        self.in_channels = in_channels
        self.grid = (height // ph, width // pw)
        self.num_patches = self.grid[0] * self.grid[1]
        self.embed_dim = embed_dim
        self.out_dim = out_dim
        self.pool = pool
        self.patch_embed = nn.Conv2d(in_channels, embed_dim, kernel_size=(ph, pw), stride=(ph, pw))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches + 1, embed_dim))
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(embed_dim, num_heads, dim_feedforward=int(embed_dim * mlp_ratio),
                                           dropout=dropout, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, out_dim)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def _standardise(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        return (x - _PIXEL_MEAN) / _PIXEL_STD

    def forward_tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(frame embeddings (B, T, out_dim), patch tokens (B, T, num_patches, embed_dim))."""
        if x.ndim != 5 or x.shape[2] != self.in_channels or tuple(x.shape[3:]) != self.image_size:
            raise ValueError(f"expected frames (B, T, {self.in_channels}, {self.image_size[0]}, "
                             f"{self.image_size[1]}), got {tuple(x.shape)}")
        b, t = x.shape[:2]
        frames = self._standardise(x.flatten(0, 1))                      # (B*T, C, H, W)
        tokens = self.patch_embed(frames).flatten(2).transpose(1, 2)     # (B*T, N, D)
        tokens = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1) + self.pos_embed
        tokens = self.norm(self.encoder(self.dropout(tokens)))
        pooled = tokens[:, 0] if self.pool == "cls" else tokens[:, 1:].mean(dim=1)
        embedding = self.head(pooled).view(b, t, self.out_dim)
        return embedding, tokens[:, 1:].reshape(b, t, self.num_patches, self.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Frame embeddings (B, T, out_dim) of frames (B, T, C, H, W), uint8 or float in [0, 1]."""
        return self.forward_tokens(x)[0]


def build_frame_vit(height: int, width: int, patch_size: int | tuple[int, int] = 16, dim: int = 128, depth: int = 4,
                    heads: int = 4, mlp_ratio: float = 2.0, out_dim: int | None = None, dropout: float = 0.1,
                    pool: str = "cls") -> tuple[FrameViT, int]:
    """A FrameViT for (height, width) frames from flat config keys; returns (model, embedding size)."""
    vit = FrameViT((height, width), patch_size, 3, dim, depth, heads, mlp_ratio, out_dim or dim, dropout, pool)
    return vit, vit.out_dim

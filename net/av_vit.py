"""``av_vit``: the ``seldnet`` audio branch fused with video-frame embeddings from the ViT frame encoder
(net/vision_transformer.py) instead of Gaussian vectors.

visual input: (B, T_label, H, W, 3) uint8 frames (one per label frame, from the frame cache) ->
(B, T_label, 3, H, W) -> ViT (standardises the pixels) -> (B, T_label, D) -> Linear -> ReLU -> (B, T_label,
visual_embed), concatenated
with the audio embedding before the GRU exactly like the Gaussian-vector branch of ``seldnet``.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from net.seldnet import SELDNet
from net.vision_transformer import build_frame_vit
from net.spec import InputSpec


class FrameEncoder(nn.Module):
    """uint8 frames (B, T, H, W, 3) -> ViT embeddings (B, T, D) -> Linear -> ReLU (B, T, out_dim)."""

    def __init__(self, vit: nn.Module, vit_dim: int, out_dim: int):
        super().__init__()
        self.vit = vit
        self.proj = nn.Linear(vit_dim, out_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.proj(self.vit(frames.permute(0, 1, 4, 2, 3))))  # the ViT scales uint8 itself


class AVViT(SELDNet):
    """SELDNet whose visual encoder is a ViT over video frames."""

    @classmethod
    def from_spec(cls, spec: InputSpec, audio_only: bool = False, visual_embed: int = 64,
                  vit: dict[str, Any] | None = None, **params) -> AVViT:
        if spec.visual != "frames" or len(spec.visual_shape) != 3:
            raise ValueError(f"av_vit needs video frames (H, W, 3) as visual input, got {spec.visual!r} "
                             f"{spec.visual_shape}")
        height, width, _ = spec.visual_shape
        encoder_vit, vit_dim = build_frame_vit(height, width, **(vit or {}))
        encoder = FrameEncoder(encoder_vit, vit_dim, visual_embed)
        return cls(spec.audio_channels, spec.audio_bins, spec.frames_per_label, spec.num_classes, spec.num_tracks,
                   spec.output_elements, encoder, visual_embed, audio_only=audio_only,
                   intensity_channels=spec.intensity_channels, **params)

"""``seldnet``: the project's default network, a SELDnet-2023-style CRNN with a per-label-frame visual branch.

audio (B, C, T, F) -> conv blocks ([conv3x3, BN, ReLU] x n, max-pool, dropout) pooling frequency (4, 4, 2) and time
down to the label rate (the pools multiply to the feature frames per label frame) -> (B, T_label, ch * F')
-> concatenated with a visual embedding per label frame (Gaussian vectors through Linear-ReLU-Linear-ReLU, or
frame embeddings from a ViT in ``av_vit``; zeros when audio-only) -> BiGRU -> multi-head self-attention layers
(residual + layer norm) -> Linear -> Linear -> tanh (xyz; distance through softplus) -> (B, T_label, 3, E, 13).

Direction head (``doa``): ``"regress"`` lets the last linear layer regress the xyz of every track and class, like
SELDnet; ``"intensity"`` (FOA ``logmel_iv`` features only) makes the direction an attention-weighted
mean of the input's own acoustic intensity vectors: per output frame, track and class the network predicts a
softmax over the mel bands and an activity in [0, 1); the direction is the unit vector of the band-weighted mean
raw intensity (features un-standardised with the training statistics, stored as buffers), scaled by the activity.
With ``doa_context`` > 0 (default 2) a second softmax mixes the band-weighted intensity of the neighbouring output
frames first, so frames between the hits of an intermittent sound borrow the hits' direction. The network then
only learns where to listen, not how intensity maps to directions, and its directions rotate with the scene by
construction (see docs/TRAINING.md for the measurement). ``"auto"`` (default) = ``"intensity"``
when the features have intensity vectors and there is no distance output, else ``"regress"``.

Default sizes are CPU-friendly (conv blocks of 16 / 64 / 128 channels with 1 / 2 / 2 convs, BiGRU 2 x 64, 2
attention layers of 4 heads, FC 64); the DCASE2023 baseline's layout is ``conv_channels=64, convs_per_block=1,
gru_hidden=128, attn_heads=8, fc_dim=128``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from net.blocks import ConvBlock, GaussianVectorEncoder, reshape_accdoa, split_pooling
from net.spec import InputSpec

DEFAULT_FREQ_POOLS: tuple[int, ...] = (4, 4, 2)
#: Per-block widths and conv counts: thin at full resolution (the costly block on a CPU), wider and deeper after
#: the first pooling. Measured on the CPU benchmark: better than 32 x 1 conv per block at the same wall time.
DEFAULT_CONV_CHANNELS: tuple[int, ...] = (16, 64, 128)
DEFAULT_CONVS_PER_BLOCK: tuple[int, ...] = (1, 2, 2)


def per_block(value: int | Sequence[int], blocks: int, name: str) -> list[int]:
    """One value per conv block: an int is repeated, a list must have one entry per block."""
    if isinstance(value, int):
        return [value] * blocks
    values = [int(v) for v in value]
    if len(values) != blocks:
        raise ValueError(f"{name} needs one value per conv block ({blocks}), got {values}")
    return values


class SelfAttentionLayer(nn.Module):
    """Multi-head self-attention with a residual connection and layer norm, on (B, T, D)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.attn(x, x, x, need_weights=False)
        return self.norm(x + y)


DOA_HEADS: tuple[str, ...] = ("auto", "regress", "intensity")
#: output frames on each side whose band-weighted intensity the intensity head may borrow (``doa_context``)
DEFAULT_DOA_CONTEXT = 2


class IntensityAttentionDOA(nn.Module):
    """Multi-ACCDOA from an embedding (B, T, D) and raw intensity vectors (B, 3, T, F) (xyz, one per output frame):
    per track and class a softmax over the F bands weighs the intensity of each frame; with ``context`` > 0 a second
    softmax, over the frames t - context .. t + context, mixes those band-weighted vectors (a diffuse frame, whose
    mean intensity is short, counts little: the gaps between footsteps take the direction of the steps around
    them). The unit vector of the result times an activity in [0, 1) is the output (B, T, tracks, 3, classes)."""

    def __init__(self, dim: int, bins: int, num_tracks: int, num_classes: int, fc_dim: int, context: int = 0):
        super().__init__()
        if context < 0:
            raise ValueError(f"doa_context must be >= 0 output frames, got {context}")
        self.shape = (num_tracks, num_classes)
        self.bins = bins
        self.context = context
        self.hidden = nn.Linear(dim, fc_dim)
        self.band_logits = nn.Linear(fc_dim, num_tracks * num_classes * bins)
        self.activity = nn.Linear(fc_dim, num_tracks * num_classes)
        self.frame_logits = nn.Linear(fc_dim, num_tracks * num_classes * (2 * context + 1)) if context else None

    def forward(self, embedding: torch.Tensor, intensity: torch.Tensor) -> torch.Tensor:
        b, t, _ = embedding.shape
        tracks, classes = self.shape
        h = torch.relu(self.hidden(embedding))
        weights = torch.softmax(self.band_logits(h).view(b, t, tracks, classes, self.bins), dim=-1)
        direction = torch.einsum("btkcf,bxtf->btkxc", weights, intensity.to(weights.dtype))
        if self.frame_logits is not None:
            span = 2 * self.context + 1
            frame_weights = torch.softmax(self.frame_logits(h).view(b, t, tracks, 1, classes, span), dim=-1)
            padded = nn.functional.pad(direction, (0, 0, 0, 0, 0, 0, self.context, self.context))
            direction = (padded.unfold(1, span, 1) * frame_weights).sum(dim=-1)  # (B, T, tracks, 3, classes)
        direction = direction / direction.norm(dim=3, keepdim=True).clamp_min(1e-6)
        # |tanh| rather than a sigmoid: linear around 0, so the ADPIT MSE drives inactive classes to exactly 0 (as
        # with regressed vectors) instead of to a sigmoid tail that leaves many weak false detections
        activity = torch.tanh(self.activity(h).view(b, t, tracks, 1, classes)).abs()
        return activity * direction


class SELDNet(nn.Module):
    """CRNN + self-attention Multi-ACCDOA network with optional visual fusion before the GRU."""

    def __init__(self, in_channels: int, n_bins: int, frames_per_label: int, num_classes: int, num_tracks: int,
                 elements: int, visual_encoder: nn.Module | None = None, visual_embed: int = 0,
                 conv_channels: int | Sequence[int] = DEFAULT_CONV_CHANNELS,
                 convs_per_block: int | Sequence[int] = DEFAULT_CONVS_PER_BLOCK,
                 freq_pools: tuple[int, ...] = DEFAULT_FREQ_POOLS, dropout: float = 0.05,
                 gru_hidden: int = 64, gru_layers: int = 2, attn_layers: int = 2, attn_heads: int = 4,
                 fc_dim: int = 64, audio_only: bool = False, doa: str = "auto",
                 intensity_channels: Sequence[int] = (), doa_context: int = DEFAULT_DOA_CONTEXT):
        super().__init__()
        if doa not in DOA_HEADS:
            raise ValueError(f"doa must be one of {DOA_HEADS}, got {doa!r}")
        if doa == "auto":
            doa = "intensity" if len(intensity_channels) == 3 and elements == 3 else "regress"
        if doa == "intensity" and (len(intensity_channels) != 3 or elements != 3):
            raise ValueError("doa='intensity' needs features with intensity vectors (FOA logmel_iv) and no distance "
                             "output")
        self.output_hop = frames_per_label
        time_pools = split_pooling(frames_per_label, len(freq_pools))
        widths = per_block(conv_channels, len(freq_pools), "conv_channels")
        depths = per_block(convs_per_block, len(freq_pools), "convs_per_block")
        chans = [in_channels] + widths
        self.convs = nn.Sequential(*[ConvBlock(chans[i], chans[i + 1], (time_pools[i], freq_pools[i]), dropout,
                                               depths[i]) for i in range(len(freq_pools))])
        bins = n_bins
        for p in freq_pools:
            bins //= p
        if bins < 1:
            raise ValueError(f"{n_bins} frequency bins are too few for freq pools {freq_pools}")
        self.visual = visual_encoder
        self.visual_embed = visual_embed if visual_encoder is not None else 0
        self.audio_only = audio_only
        self.gru = nn.GRU(widths[-1] * bins + self.visual_embed, gru_hidden, num_layers=gru_layers,
                          batch_first=True, bidirectional=True, dropout=dropout if gru_layers > 1 else 0.0)
        dim = 2 * gru_hidden
        self.attn = nn.Sequential(*[SelfAttentionLayer(dim, attn_heads, dropout) for _ in range(attn_layers)])
        self.out_shape = (num_tracks, elements, num_classes)
        self.doa = doa
        if doa == "intensity":
            self.intensity_channels = list(intensity_channels)
            self.register_buffer("intensity_mean", torch.zeros(3, n_bins))
            self.register_buffer("intensity_std", torch.ones(3, n_bins))
            self.head = IntensityAttentionDOA(dim, n_bins, num_tracks, num_classes, fc_dim, doa_context)
        else:
            self.fc1 = nn.Linear(dim, fc_dim)
            self.fc2 = nn.Linear(fc_dim, num_tracks * elements * num_classes)

    def settings(self) -> dict[str, Any]:
        """The resolved settings of the options the constructor may choose (``doa="auto"``): the direction head,
        and the intensity head's frame context (recorded in the run's ``model.params``)."""
        if self.doa == "intensity":
            return {"doa": self.doa, "doa_context": self.head.context}
        return {"doa": self.doa}

    def set_feature_stats(self, mean, std) -> None:
        """Training feature statistics (C, F), to undo the standardisation of the intensity channels."""
        if self.doa == "intensity":
            self.intensity_mean.copy_(torch.as_tensor(mean, dtype=torch.float32)[self.intensity_channels])
            self.intensity_std.copy_(torch.as_tensor(std, dtype=torch.float32)[self.intensity_channels])

    def raw_intensity(self, audio: torch.Tensor) -> torch.Tensor:
        """Un-standardised intensity vectors (B, 3, T_out, F) in xyz order, averaged over each output frame."""
        iv = audio[:, self.intensity_channels] * self.intensity_std[:, None] + self.intensity_mean[:, None]
        b, _, t, f = iv.shape
        return iv.view(b, 3, t // self.output_hop, self.output_hop, f).mean(dim=3)

    @classmethod
    def from_spec(cls, spec: InputSpec, audio_only: bool = False, visual_hidden: int = 64, visual_embed: int = 64,
                  **params) -> SELDNet:
        encoder = None
        if spec.visual == "vectors" and spec.visual_size > 0:
            encoder = GaussianVectorEncoder(spec.visual_size, visual_hidden, visual_embed)
        elif spec.visual == "frames":
            raise ValueError("seldnet consumes Gaussian vectors; use the 'av_vit' network for video frames")
        return cls(spec.audio_channels, spec.audio_bins, spec.frames_per_label, spec.num_classes, spec.num_tracks,
                   spec.output_elements, encoder, visual_embed, audio_only=audio_only or spec.visual == "none",
                   intensity_channels=spec.intensity_channels, **params)

    def forward(self, audio: torch.Tensor, visual: torch.Tensor | None = None) -> torch.Tensor:
        if audio.shape[2] % self.output_hop:
            raise ValueError(f"window of {audio.shape[2]} frames is not a whole number of label frames "
                             f"({self.output_hop} feature frames each)")
        x = self.convs(audio)                                            # (B, ch, T_label, F')
        x = x.permute(0, 2, 1, 3).flatten(2)                             # (B, T_label, ch * F')
        if self.visual_embed:
            if self.audio_only or visual is None:
                v = x.new_zeros(x.shape[0], x.shape[1], self.visual_embed)
            else:
                v = self.visual(visual[:, : x.shape[1]]).to(x.dtype)
            x = torch.cat([x, v], dim=-1)
        x, _ = self.gru(x)
        x = self.attn(x)
        if self.doa == "intensity":
            return self.head(x, self.raw_intensity(audio))
        x = self.fc2(torch.relu(self.fc1(x)))
        x = reshape_accdoa(x, *self.out_shape)
        if self.out_shape[1] == 4:  # xyz in [-1, 1], distance >= 0
            return torch.cat([torch.tanh(x[:, :, :, :3]), nn.functional.softplus(x[:, :, :, 3:])], dim=3)
        return torch.tanh(x)

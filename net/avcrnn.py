"""``avcrnn``: the audio-visual CRNN of the STARSS23 / DCASE2023 Track B baseline (docs BASELINE.md), built to
compute what the official ``AudioVisualCRNN`` (sony/audio-visual-seld-dcase2023, net/net_seld.py) computes.

audio (B, 7, 128, 257) -> 3 x [conv3x3 64 (no bias), BN (eps 1e-5, momentum 0.1), ReLU, max-pool] with
(time, freq) pools (4,4), (2,4), (2,2) -> mean over frequency -> (B, 64, 8). Visual: ONE Gaussian-vector set per
window (the label frame at the window start, (2, 6, 37) flattened in C order to 444), Linear 444 -> 64 ->
Linear 64 -> 64 with NO nonlinearity, repeated over the 8 steps; without visual input (audio-only) the embedding
is zeros, whereas an all-zero visual tensor still passes the Linear biases (as in the official code). [audio,
visual] concatenated (B, 128, 8) -> BiGRU hidden 256 -> Linear 512 -> 117 (no activation), unit = track * 39 +
axis * 13 + class -> each step repeated x16 -> 128 frames -> (B, 128, 3 tracks, 3 xyz, 13 classes). The output
is at the feature rate (``output_hop`` = 1).

Proven: with the official weights (seed_avcrnn.safetensors, loaded through :func:`from_official_state_dict` via
util/checkpoint.py) the outputs equal the official network's within 1e-5, audio-visual and zero-visual, eval
mode: tests/test_parity_official.py. The official state_dict names map onto this module's names by
:data:`OFFICIAL_NAMES` (import of official ``params_*.pth`` checkpoints).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from net.blocks import ConvBlock, GaussianVectorEncoder, reshape_accdoa
from net.spec import InputSpec

BASELINE_TIME_POOLS: tuple[int, ...] = (4, 2, 2)
BASELINE_FREQ_POOLS: tuple[int, ...] = (4, 4, 2)


class AVCRNN(nn.Module):
    """The AV baseline network; sizes from the constructor arguments (``from_spec`` derives them)."""

    output_hop = 1

    def __init__(self, in_channels: int, num_classes: int, num_tracks: int, elements: int, visual_dim: int,
                 conv_channels: int = 64, visual_embed: int = 64, gru_hidden: int = 256,
                 time_pools: tuple[int, ...] = BASELINE_TIME_POOLS, freq_pools: tuple[int, ...] = BASELINE_FREQ_POOLS,
                 audio_only: bool = False):
        super().__init__()
        if len(time_pools) != len(freq_pools):
            raise ValueError("time_pools and freq_pools need one entry per conv block")
        chans = [in_channels] + [conv_channels] * len(time_pools)
        self.convs = nn.Sequential(*[ConvBlock(chans[i], chans[i + 1], (time_pools[i], freq_pools[i]))
                                     for i in range(len(time_pools))])
        self.time_upsample = math.prod(time_pools)
        self.audio_only = audio_only
        self.visual_dim = visual_dim
        self.visual = (GaussianVectorEncoder(visual_dim, visual_embed, visual_embed, activation=False)
                       if visual_dim > 0 else None)
        self.visual_embed = visual_embed
        self.gru = nn.GRU(conv_channels + visual_embed, gru_hidden, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * gru_hidden, num_tracks * elements * num_classes)
        self.out_shape = (num_tracks, elements, num_classes)

    def settings(self) -> dict[str, Any]:
        """Resolved settings: none (every option is given explicitly)."""
        return {}

    def set_feature_stats(self, mean, std) -> None:
        """Training feature statistics: not used (the network reads standardised features only)."""

    @classmethod
    def from_spec(cls, spec: InputSpec, audio_only: bool = False, **params) -> AVCRNN:
        if spec.visual == "frames":
            raise ValueError("avcrnn consumes Gaussian vectors; use the 'av_vit' network for video frames")
        return cls(spec.audio_channels, spec.num_classes, spec.num_tracks, spec.output_elements,
                   spec.visual_size, audio_only=audio_only or spec.visual == "none", **params)

    def forward(self, audio: torch.Tensor, visual: torch.Tensor | None = None) -> torch.Tensor:
        if audio.shape[2] % self.time_upsample:
            raise ValueError(f"avcrnn needs a window length divisible by {self.time_upsample}, got {audio.shape[2]}")
        x = self.convs(audio).mean(dim=3).transpose(1, 2)                        # (B, T', conv_channels)
        if self.audio_only or visual is None or self.visual is None:
            v = x.new_zeros(x.shape[0], x.shape[1], self.visual_embed)
        else:
            v = self.visual(visual[:, 0]).to(x.dtype)[:, None].expand(-1, x.shape[1], -1)  # frame at window start
        x, _ = self.gru(torch.cat([x, v], dim=-1))
        x = self.fc(x).repeat_interleave(self.time_upsample, dim=1)
        return reshape_accdoa(x, *self.out_shape)


def _official_names(blocks: int = len(BASELINE_TIME_POOLS)) -> dict[str, str]:
    """Official AudioVisualCRNN state_dict name -> this module's name."""
    names: dict[str, str] = {}
    for i in range(blocks):
        names[f"audio_encoder.conv{i + 1}.weight"] = f"convs.{i}.layers.0.weight"
        for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            names[f"audio_encoder.bn{i + 1}.{p}"] = f"convs.{i}.layers.1.{p}"
    for i in range(2):
        for p in ("weight", "bias"):
            names[f"vision_encoder.{i}.{p}"] = f"visual.fc{i + 1}.{p}"
    for d in ("", "_reverse"):
        for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            names[f"gru.{p}_l0{d}"] = f"gru.{p}_l0{d}"
    names.update({"fc_xyz.weight": "fc.weight", "fc_xyz.bias": "fc.bias"})
    return names


#: Official (sony/audio-visual-seld-dcase2023 ``AudioVisualCRNN``) tensor name -> ``avcrnn`` tensor name.
OFFICIAL_NAMES: dict[str, str] = _official_names()


def is_official_state_dict(state: object) -> bool:
    """Whether ``state`` is a state_dict with exactly the official AudioVisualCRNN tensor names."""
    return isinstance(state, dict) and set(state) == set(OFFICIAL_NAMES)


def from_official_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An ``avcrnn`` state_dict from an official one (ValueError naming missing / unexpected tensors)."""
    missing, extra = sorted(set(OFFICIAL_NAMES) - set(state)), sorted(set(state) - set(OFFICIAL_NAMES))
    if missing or extra:
        raise ValueError(f"not an official AudioVisualCRNN state_dict (missing: {', '.join(missing) or '-'}; "
                         f"unexpected: {', '.join(extra) or '-'})")
    return {OFFICIAL_NAMES[k]: v for k, v in state.items()}


def to_official_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official AudioVisualCRNN state_dict (its tensor names, its order) of an ``avcrnn`` state_dict."""
    return {official: state[mine] for official, mine in OFFICIAL_NAMES.items()}

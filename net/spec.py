"""What a network is built for: input sizes and output layout, derived from the feature cache and conventions.

A network never reads the feature configuration itself (``net/`` does not import ``feature/``); the caller
(seld_trainer / seld_validator) fills an :class:`InputSpec` and the registry builds the model from it.

Tensor conventions of every network in net/:
  audio   (B, C, T_feat, F)              features of one input window, T_feat = ``window_frames``
  visual  (B, T_label, 2, N, P) float    Gaussian vectors per label frame (``visual == "vectors"``), or
          (B, T_label, H, W, 3) uint8    video frames per label frame (``visual == "frames"``), or None
  output  (B, T_out, NUM_TRACKS, E, NUM_CLASSES)   Multi-ACCDOA, E = 3 (xyz) or 4 (xyz + distance);
          T_out = T_feat / ``model.output_hop`` (feature frames per output frame)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from util.conventions import NUM_CLASSES, NUM_TRACKS

VISUAL_KINDS: tuple[str, ...] = ("none", "vectors", "frames")


@dataclass(frozen=True)
class InputSpec:
    """Sizes a network is built for."""

    audio_channels: int
    audio_bins: int
    window_frames: int
    frames_per_label: int
    visual: str = "vectors"
    visual_shape: tuple[int, ...] = ()
    num_classes: int = NUM_CLASSES
    num_tracks: int = NUM_TRACKS
    with_distance: bool = False
    #: feature channels holding the acoustic intensity vector in (x, y, z) order (logmel_iv: 6, 4, 5); () = none
    intensity_channels: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.visual not in VISUAL_KINDS:
            raise ValueError(f"visual must be one of {VISUAL_KINDS}, got {self.visual!r}")

    @property
    def label_frames(self) -> int:
        """Label frames touched by one window (visual inputs per window)."""
        return math.ceil(self.window_frames / self.frames_per_label)

    @property
    def output_elements(self) -> int:
        """Elements per track and class: xyz (+ distance)."""
        return 4 if self.with_distance else 3

    @property
    def visual_size(self) -> int:
        """Values of one visual vector set (2 * N * P for Gaussian vectors)."""
        return math.prod(self.visual_shape) if self.visual == "vectors" else 0

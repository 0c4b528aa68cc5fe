"""``amp_phasediff``: the audio feature of the STARSS23 audio-visual baseline, for FOA or MIC audio.

STFT n_fft 512 (Hann), hop 240 (10 ms at 24 kHz, 10 frames per label frame) -> 257 bins. Output (7, T, 257):
channels 0-3 linear magnitude |X_c| of the 4 audio channels, channels 4-6 the phase of channels 1-3 minus the
phase of channel 0, wrapped to [0, 2 pi). No normalisation (the cache stores mean 0, std 1 for it).
"""
from __future__ import annotations

import numpy as np

from feature.base import FeatureExtractor, register_extractor
from feature.stft import stft
from util.conventions import NUM_AUDIO_CHANNELS


@register_extractor
class AmpPhaseDiff(FeatureExtractor):
    """Linear magnitudes + phase differences to channel 0: (7, T, n_fft // 2 + 1)."""

    name = "amp_phasediff"
    formats = ("foa", "mic")
    normalise = False
    defaults = {"n_fft": 512, "win_length": 512, "hop_length": 240, "top_db": None}

    @property
    def num_channels(self) -> int:
        return 2 * NUM_AUDIO_CHANNELS - 1

    @property
    def num_features(self) -> int:
        return self.config.num_bins

    def _compute(self, audio: np.ndarray, num_frames: int) -> np.ndarray:
        spec = stft(audio, self.config, num_frames)
        phase = np.angle(spec)
        diff = phase[1:] - phase[:1]  # in (-2 pi, 2 pi); np.mod is several times slower than this
        diff += np.float32(2 * np.pi) * (diff < 0)
        diff[diff >= np.float32(2 * np.pi)] = 0.0  # float rounding of tiny negative differences
        return np.concatenate([np.abs(spec), diff], axis=0)

"""FOA features: ``logmel_iv`` = 4 log-mel spectra + 3 mel-pooled normalised acoustic intensity vectors.

Output (7, T, n_mels) (DCASE2023 baseline: hop 480, window 960, n_fft 1024, 64 mel bands at 24 kHz -> 7 x 64,
5 frames per 100 ms label frame). Channels 0-3: log-mel (dB) of W, Y, Z, X. Channels 4-6: intensity vector
components in ACN order (y, z, x) like the baseline:
``I_c = Re(conj(W) * C) / (|W|^2 + (|X|^2 + |Y|^2 + |Z|^2) / 3 + eps)`` for C = Y, Z, X, then mel-weighted.
A plane wave from azimuth 90 gives I_y > 0 (channel 4); from elevation +45 gives I_z > 0 (channel 5).
"""
from __future__ import annotations

import numpy as np

from feature.base import LogmelExtractor, register_extractor
from feature.stft import log_mel, mel_filterbank, power, stft
from util.conventions import NUM_AUDIO_CHANNELS

#: regulariser of the intensity-vector energy normaliser (as the DCASE baseline)
IV_EPS: float = 1e-8


def intensity_vectors(spec: np.ndarray, eps: float = IV_EPS) -> np.ndarray:
    """Normalised active intensity (3, T, F) in ACN order (y, z, x) of an FOA spectrogram (4, T, F)."""
    w = spec[0]
    iv = (np.conj(w)[None] * spec[1:]).real
    energy = power(spec[:1])[0] + power(spec[1:]).sum(axis=0) / 3.0 + eps
    return (iv / energy[None]).astype(np.float32, copy=False)


@register_extractor
class LogmelIV(LogmelExtractor):
    """4 log-mel + 3 intensity vectors of FOA audio: (7, T, n_mels)."""

    name = "logmel_iv"
    formats = ("foa",)

    @property
    def num_channels(self) -> int:
        return NUM_AUDIO_CHANNELS + 3

    def _compute(self, audio: np.ndarray, num_frames: int) -> np.ndarray:
        spec = stft(audio, self.config, num_frames)
        iv = intensity_vectors(spec) @ mel_filterbank(self.config)
        return np.concatenate([log_mel(spec, self.config), iv], axis=0)

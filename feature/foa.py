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


def mix_logmel_iv(first: np.ndarray, second: np.ndarray, gain_db: float = 0.0) -> np.ndarray:
    """Raw ``logmel_iv`` features (7, T, F) of two scenes played together (``second`` scaled by ``gain_db``),
    assuming the scenes are uncorrelated: mel powers add, and each intensity component becomes the energy-weighted
    mean of the two (``I = (I_1 E_1 + I_2 E_2) / (E_1 + E_2)`` with ``E = P_W + (P_X + P_Y + P_Z) / 3``, the
    normaliser of :func:`intensity_vectors`). Exact per STFT bin up to the cross terms of the two scenes;
    approximate per mel band (the bands are pooled before the mix)."""
    channels = NUM_AUDIO_CHANNELS
    db_to_nepers = np.float32(np.log(10.0) / 10.0)
    power_a = np.exp(first[:channels] * db_to_nepers)
    power_b = np.exp(second[:channels] * db_to_nepers + np.float32(gain_db) * db_to_nepers)
    energy_a = power_a[0] + power_a[1:].sum(axis=0) / 3.0
    energy_b = power_b[0] + power_b[1:].sum(axis=0) / 3.0
    out = np.empty_like(first)
    out[:channels] = np.log(np.maximum(power_a + power_b, np.float32(1e-10))) / db_to_nepers
    out[channels:] = (first[channels:] * energy_a + second[channels:] * energy_b) / np.maximum(energy_a + energy_b,
                                                                                               np.float32(1e-30))
    return out


@register_extractor
class LogmelIV(LogmelExtractor):
    """4 log-mel + 3 intensity vectors of FOA audio: (7, T, n_mels)."""

    name = "logmel_iv"
    formats = ("foa",)
    rotatable = True
    mixable = True
    level_channels = NUM_AUDIO_CHANNELS
    intensity_channels = (6, 4, 5)  # x, y, z (the channels hold y, z, x in ACN order)

    @property
    def num_channels(self) -> int:
        return NUM_AUDIO_CHANNELS + 3

    def _compute(self, audio: np.ndarray, num_frames: int) -> np.ndarray:
        spec = stft(audio, self.config, num_frames)
        iv = intensity_vectors(spec) @ mel_filterbank(self.config)
        return np.concatenate([log_mel(spec, self.config), iv], axis=0)

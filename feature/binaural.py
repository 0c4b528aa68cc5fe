"""Binaural feature ``logmel_ild_ipd``: (5, T, n_mels) from 2-channel (left, right) audio.

Channels: 0-1 log-mel (dB) of left and right; 2 interaural level difference per mel band,
``ILD = 10 log10(P_L / P_R)`` of the mel-band powers; 3-4 mel-pooled cos and sin of the interaural phase
difference: the mel-weighted mean over the band's bins of the unit phasor ``X_L conj(X_R) / |X_L X_R|``.

Why these: ILD and IPD are the two interaural cues a listener localises with (IPD dominates below ~1.5 kHz,
ILD above, duplex theory), and the log-mel pair carries the spectral (head/pinna) cues that separate front from
back. Pooling the unit phasor instead of the wrapped angle avoids the 2 pi discontinuity (cos/sin are
continuous) and lets incoherent bins (diffuse noise, several sources) shrink the pooled vector towards 0 rather
than add a random angle. Settings follow the FOA/MIC log-mel features (hop 480, window 960, n_fft 1024, 64 mel).
"""
from __future__ import annotations

import numpy as np

from feature.base import LogmelExtractor, register_extractor
from feature.stft import mel_filterbank, power, power_to_db, stft

_AMIN = 1e-10


@register_extractor
class LogmelILDIPD(LogmelExtractor):
    """Log-mel L/R + ILD + cos/sin IPD of binaural audio: (5, T, n_mels)."""

    name = "logmel_ild_ipd"
    formats = ("binaural",)
    level_channels = 2

    @property
    def num_channels(self) -> int:
        return 5

    def _compute(self, audio: np.ndarray, num_frames: int) -> np.ndarray:
        spec = stft(audio, self.config, num_frames)
        mel = mel_filterbank(self.config)
        mel_power = power(spec) @ mel
        ild = 10.0 * (np.log10(mel_power[0] + _AMIN) - np.log10(mel_power[1] + _AMIN))
        cross = spec[0] * np.conj(spec[1])
        phasor = cross / np.maximum(np.abs(cross), _AMIN)
        band_mean = mel / np.maximum(mel.sum(axis=0, keepdims=True), _AMIN)
        pooled = phasor @ band_mean
        return np.concatenate([power_to_db(mel_power, self.config.top_db), ild[None], pooled.real[None],
                               pooled.imag[None]], axis=0).astype(np.float32)

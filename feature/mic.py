"""MIC (tetrahedral array) features.

``logmel_gcc``: 4 log-mel + 6 GCC-PHAT pairs -> (10, T, n_mels) (DCASE2023 baseline: 10 x 64). Pairs (m, n), m < n,
in the order (0,1), (0,2), (0,3), (1,2), (1,3), (2,3); GCC-PHAT = irfft(R / |R|), R = conj(X_m) X_n, keeping the
n_mels central lags -n_mels/2 .. n_mels/2 - 1 (bin ``n_mels/2 + k`` = lag k samples; a peak at k > 0 means
channel n lags channel m by k samples).

``salsalite``: SALSA-lite -> (7, T, B): 4 log-power spectra (dB) of the bins between ``fmin_hz`` (50) and
``fmax_hz`` (9000) + 3 normalised phase differences ``angle(X_c conj(X_0)) * c / (2 pi f)`` (metres of path
difference, frequency-independent for a plane wave), zeroed from bin floor(fmax_doa_hz * n_fft / sr) up
(fmax_doa_hz = 2000). With n_fft 1024 at
24 kHz, B = 382 bins (2 .. 383).
"""
from __future__ import annotations

from functools import lru_cache
from itertools import combinations

import numpy as np

from feature.base import FeatureExtractor, LogmelExtractor, register_extractor
from feature.stft import log_mel, power, power_to_db, stft
from util.conventions import NUM_AUDIO_CHANNELS, SPEED_OF_SOUND_M_S

#: channel pairs of the GCC-PHAT features
MIC_PAIRS: tuple[tuple[int, int], ...] = tuple(combinations(range(NUM_AUDIO_CHANNELS), 2))
_PHAT_EPS = 1e-12


@lru_cache(maxsize=8)
def _lag_basis(num_bins: int, num_lags: int) -> np.ndarray:
    """Real matrix (2 * num_bins, num_lags) mapping an interleaved (re, im) half spectrum to the inverse real FFT
    at lags -num_lags/2 .. num_lags/2 - 1 (only the lags kept are computed: one GEMM instead of a full irfft)."""
    n_fft = 2 * (num_bins - 1)
    k = np.arange(num_bins)[:, None]
    lags = np.arange(-(num_lags // 2), num_lags - num_lags // 2)[None, :]
    weight = np.where((k == 0) | (k == n_fft // 2), 1.0, 2.0) / n_fft
    arg = 2 * np.pi * k * lags / n_fft
    basis = np.empty((2 * num_bins, num_lags))
    basis[0::2], basis[1::2] = weight * np.cos(arg), -weight * np.sin(arg)
    return basis.astype(np.float32)


def gcc_phat(spec: np.ndarray, num_lags: int, pairs: tuple[tuple[int, int], ...] = MIC_PAIRS) -> np.ndarray:
    """GCC-PHAT (len(pairs), T, num_lags) of a spectrogram (C, T, F), lags -num_lags/2 .. num_lags/2 - 1
    (= the central lags of irfft(R / |R|), R = conj(X_m) X_n)."""
    m, n = np.array(pairs).T
    cross = np.conj(spec[m])
    cross *= spec[n]
    cross *= 1.0 / np.maximum(np.abs(cross), _PHAT_EPS)
    interleaved = np.ascontiguousarray(cross, dtype=np.complex64).view(np.float32)  # (P, T, 2F): re, im, re, ...
    return interleaved @ _lag_basis(spec.shape[-1], num_lags)


@register_extractor
class LogmelGCC(LogmelExtractor):
    """4 log-mel + 6 GCC-PHAT of MIC audio: (10, T, n_mels)."""

    name = "logmel_gcc"
    formats = ("mic",)
    level_channels = NUM_AUDIO_CHANNELS

    @property
    def num_channels(self) -> int:
        return NUM_AUDIO_CHANNELS + len(MIC_PAIRS)

    def _compute(self, audio: np.ndarray, num_frames: int) -> np.ndarray:
        spec = stft(audio, self.config, num_frames)
        return np.concatenate([log_mel(spec, self.config), gcc_phat(spec, self.config.n_mels)], axis=0)


@register_extractor
class SalsaLite(FeatureExtractor):
    """SALSA-lite of MIC audio: 4 log-power spectra + 3 normalised phase differences, (7, T, bins)."""

    name = "salsalite"
    formats = ("mic",)
    level_channels = NUM_AUDIO_CHANNELS
    defaults = {"n_fft": 1024, "win_length": 960, "hop_length": 480, "fmin_hz": 50.0, "fmax_hz": 9000.0,
                "fmax_doa_hz": 2000.0}

    @property
    def bin_range(self) -> tuple[int, int]:
        """[lower, upper) STFT bins kept (lower >= 1 so the phase normaliser never divides by 0 Hz)."""
        c = self.config
        lower = max(1, int(np.floor(c.fmin_hz * c.n_fft / c.sample_rate)))
        upper = int(np.floor(c.nyquist_hz * c.n_fft / c.sample_rate))
        return lower, min(upper, c.num_bins)

    @property
    def num_channels(self) -> int:
        return 2 * NUM_AUDIO_CHANNELS - 1

    @property
    def num_features(self) -> int:
        lower, upper = self.bin_range
        return upper - lower

    def _compute(self, audio: np.ndarray, num_frames: int) -> np.ndarray:
        c = self.config
        lower, upper = self.bin_range
        spec = stft(audio, c, num_frames)[..., lower:upper]
        freqs = np.arange(lower, upper) * c.sample_rate / c.n_fft
        phase = np.angle(spec[1:] * np.conj(spec[:1])) * (SPEED_OF_SOUND_M_S / (2 * np.pi * freqs))
        cutoff_bin = int(np.floor(c.get("fmax_doa_hz") * c.n_fft / c.sample_rate))
        phase[..., np.arange(lower, upper) >= cutoff_bin] = 0.0
        return np.concatenate([power_to_db(power(spec), c.top_db), phase.astype(np.float32)], axis=0)

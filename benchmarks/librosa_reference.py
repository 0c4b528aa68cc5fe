"""Straightforward per-channel librosa versions of every feature (speed baseline and numerical cross-check).

Each function maps (config, audio (C, N)) -> features (C_feat, T', F) like the extractor's ``_compute``; they are
written plainly, one channel (or channel pair) at a time, as the reference research code does.
"""
from __future__ import annotations

from collections.abc import Callable

import librosa
import numpy as np

from feature.base import FeatureConfig
from util.conventions import SPEED_OF_SOUND_M_S


def _spec(x: np.ndarray, c: FeatureConfig) -> np.ndarray:
    return librosa.stft(x, n_fft=c.n_fft, hop_length=c.hop_length, win_length=c.win_length, window="hann",
                        center=True, pad_mode="constant").T  # (T, F)


def _mel(c: FeatureConfig) -> np.ndarray:
    return librosa.filters.mel(sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin_hz, fmax=c.nyquist_hz).T


def _db(p: np.ndarray, c: FeatureConfig) -> np.ndarray:
    return librosa.power_to_db(p, ref=1.0, amin=1e-10, top_db=c.top_db)


def logmel_iv(c: FeatureConfig, audio: np.ndarray) -> np.ndarray:
    specs = [_spec(ch, c) for ch in audio]
    mel = _mel(c)
    out = [_db(np.abs(s) ** 2 @ mel, c) for s in specs]
    w = specs[0]
    energy = np.abs(w) ** 2 + (np.abs(specs[1]) ** 2 + np.abs(specs[2]) ** 2 + np.abs(specs[3]) ** 2) / 3 + 1e-8
    for s in specs[1:]:
        out.append(np.real(np.conj(w) * s) / energy @ mel)
    return np.stack(out)


def logmel_gcc(c: FeatureConfig, audio: np.ndarray) -> np.ndarray:
    specs = [_spec(ch, c) for ch in audio]
    mel = _mel(c)
    out = [_db(np.abs(s) ** 2 @ mel, c) for s in specs]
    half = c.n_mels // 2
    for m in range(len(specs)):
        for n in range(m + 1, len(specs)):
            r = np.conj(specs[m]) * specs[n]
            cc = np.fft.irfft(np.exp(1j * np.angle(r)), n=c.n_fft)
            out.append(np.concatenate([cc[:, -half:], cc[:, :c.n_mels - half]], axis=-1))
    return np.stack(out)


def salsalite(c: FeatureConfig, audio: np.ndarray) -> np.ndarray:
    lower = max(1, int(np.floor(c.fmin_hz * c.n_fft / c.sample_rate)))
    upper = min(int(np.floor(c.nyquist_hz * c.n_fft / c.sample_rate)), c.num_bins)
    cutoff = int(np.floor(c.get("fmax_doa_hz") * c.n_fft / c.sample_rate))
    specs = [_spec(ch, c) for ch in audio]
    out = [_db(np.abs(s[:, lower:upper]) ** 2, c) for s in specs]
    freqs = np.arange(c.num_bins) * c.sample_rate / c.n_fft
    freqs[0] = 1.0
    for s in specs[1:]:
        phase = np.angle(s * np.conj(specs[0])) * SPEED_OF_SOUND_M_S / (2 * np.pi * freqs)
        phase[:, cutoff:] = 0.0
        out.append(phase[:, lower:upper])
    return np.stack(out)


def amp_phasediff(c: FeatureConfig, audio: np.ndarray) -> np.ndarray:
    specs = [_spec(ch, c) for ch in audio]
    out = [np.abs(s) for s in specs]
    for s in specs[1:]:
        out.append(np.mod(np.angle(s) - np.angle(specs[0]), 2 * np.pi))
    return np.stack(out)


def logmel_ild_ipd(c: FeatureConfig, audio: np.ndarray) -> np.ndarray:
    left, right = (_spec(ch, c) for ch in audio)
    mel = _mel(c)
    p_left, p_right = np.abs(left) ** 2 @ mel, np.abs(right) ** 2 @ mel
    ild = 10 * np.log10(p_left + 1e-10) - 10 * np.log10(p_right + 1e-10)
    ipd = np.angle(left * np.conj(right))
    weights = mel / mel.sum(axis=0, keepdims=True)
    return np.stack([_db(p_left, c), _db(p_right, c), ild, np.cos(ipd) @ weights, np.sin(ipd) @ weights])


REFERENCES: dict[str, Callable[[FeatureConfig, np.ndarray], np.ndarray]] = {
    "logmel_iv": logmel_iv, "logmel_gcc": logmel_gcc, "salsalite": salsalite, "amp_phasediff": amp_phasediff,
    "logmel_ild_ipd": logmel_ild_ipd,
}

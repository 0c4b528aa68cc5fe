"""Reading and writing multichannel wav files with clear errors and atomic writes.

Audio arrays are float32, shaped (channels, samples), in [-1, 1].
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from util.errors import InputError
from util.fileio import atomic_path


def audio_info(path: str | Path) -> sf._SoundFileInfo:
    """Header information of an audio file; raises InputError if missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        return sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for corrupt files
        raise InputError(path, f"cannot read audio header ({exc})") from exc


def read_audio(path: str | Path, channels: int | None = None, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read a wav file as float32 (channels, samples).

    ``channels`` and ``sample_rate``, when given, are checked and a mismatch raises InputError naming the file.
    """
    path = Path(path)
    info = audio_info(path)
    if channels is not None and info.channels != channels:
        raise InputError(path, f"expected {channels} audio channels, found {info.channels}")
    if sample_rate is not None and info.samplerate != sample_rate:
        raise InputError(path, f"expected sample rate {sample_rate} Hz, found {info.samplerate} Hz (see resample.py)")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise InputError(path, f"corrupt or truncated audio ({exc})") from exc
    if data.shape[0] == 0:
        raise InputError(path, "audio file contains no samples")
    return np.ascontiguousarray(data.T), int(sr)


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Write (channels, samples) float audio atomically (16-bit PCM by default); values are clipped to [-1, 1]."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise ValueError(f"audio must be (channels, samples), got shape {audio.shape}")
    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.clip(audio.T, -1.0, 1.0), sample_rate, subtype=subtype, format="WAV")

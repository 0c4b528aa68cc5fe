"""Reading and writing multichannel wav files with clear errors and atomic writes.

Audio arrays are float32, shaped (channels, samples), in [-1, 1].

A truncated WAV file (its ``data`` chunk header promises more frames than the file holds, as after an
interrupted copy or download) is refused with an InputError naming the missing duration; libsndfile alone
would read the frames present and say nothing. Streamed files whose header leaves the size open (0 or
0xFFFFFFFF) and RF64 / other containers are read as they are.
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
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for corrupt files
        raise InputError(path, f"cannot read audio header ({exc})") from exc
    check_wav_length(path, info.samplerate)
    return info


#: ``data`` chunk sizes that mean "unknown" (streamed writers), not a promise.
UNKNOWN_DATA_SIZES: tuple[int, ...] = (0, 0xFFFFFFFF)


def wav_data_sizes(path: str | Path) -> tuple[int, int, int] | None:
    """(bytes the ``data`` chunk header promises, bytes present after it, block align) of a RIFF/WAVE file;
    None for other files or when the chunks cannot be followed."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = 0
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            chunk_id, chunk_size = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if chunk_id == b"fmt ":
                fmt = f.read(min(chunk_size, 16))
                if len(fmt) >= 14:
                    block_align = int.from_bytes(fmt[12:14], "little")
            elif chunk_id == b"data":
                return chunk_size, size - (pos + 8), block_align
            pos += 8 + chunk_size + (chunk_size & 1)
    return None


def check_wav_length(path: str | Path, sample_rate: int) -> None:
    """InputError when a WAV file holds fewer audio frames than its header promises (a truncated file)."""
    sizes = wav_data_sizes(path)
    if sizes is None:
        return
    promised, present, block_align = sizes
    if promised in UNKNOWN_DATA_SIZES or promised <= present or block_align <= 0 or sample_rate <= 0:
        return
    want, have = promised // block_align, present // block_align
    missing_s = (want - have) / sample_rate
    raise InputError(path, f"truncated wav: the header promises {want} frames ({want / sample_rate:.3f} s) but "
                           f"the file holds {have} ({have / sample_rate:.3f} s); {missing_s:.3f} s missing")


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

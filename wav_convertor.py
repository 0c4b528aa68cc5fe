#!/usr/bin/env python3
"""Render FOA recordings to 2-channel binaural (left, right) with an HRTF-based virtual-loudspeaker decoder.

    python wav_convertor.py --data-dir DATA [--stage dev] [--workers 2]

reads ``DATA/foa_<stage>/<split>/<name>.wav`` and writes ``DATA/binaural_<stage>/<split>/<name>.wav`` (same
layout, same sample rate, 16-bit), in parallel with a progress bar, atomically, skipping outputs newer than
their input.

Method: the FOA signal (ACN W, Y, Z, X, SN3D) is decoded to 12 virtual loudspeakers on the vertices of an
icosahedron (a spherical 5-design, so the first-order decoder is exact) with max-rE weighting
``g_l = (W + 3 r1 (x_l X + y_l Y + z_l Z)) / L`` (r1 = 1/sqrt(3) for first order), and each loudspeaker
feed is convolved with the head-related impulse response pair of its direction. Because every step is
linear, the 4 x 2 FOA -> ear filters are precomputed once and applied by FFT convolution.

HRIRs: no package that installs here without apt ships measured HRIRs for offline use (slab needs the system
library libportaudio2, spaudiopy downloads its data), so the HRIRs come from the analytic spherical-head model of
Brown & Duda (1998, IEEE Trans. Speech Audio Process. 6(5)): a rigid sphere of radius 8.75 cm with ears at
azimuth +-100 deg; per ear the Woodworth delay ``-a/c cos(theta)`` (theta < 90 deg) or ``a/c (theta - pi/2)``
(wrapping around the head) and the head-shadow filter ``(1 + j alpha w / 2w0) / (1 + j w / 2w0)``,
``w0 = c / a``, ``alpha(theta) = (1 + a_min/2) + (1 - a_min/2) cos(theta / theta_min * 180 deg)``, a_min = 0.1,
theta_min = 150 deg, theta the angle between the source and the ear axis. It gives correct interaural time and
level differences (source at azimuth 90 = louder and earlier in the left ear) but no pinna cues.
"""
from __future__ import annotations

import argparse
import os
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.signal import oaconvolve

from util.cli import DefaultsHelpFormatter, add_quiet_argument, run_main
from util.audio_io import read_audio, write_audio
from util.conventions import NUM_AUDIO_CHANNELS, SPEED_OF_SOUND_M_S
from util.errors import InputError
from util.geometry import sph_to_cart
from util.layout import AUDIO_CHANNELS, DatasetLayout, Recording
from util.parallel import run_parallel

HEAD_RADIUS_M: float = 0.0875
EAR_AZIMUTH_DEG: float = 100.0
SHADOW_ALPHA_MIN: float = 0.1
SHADOW_THETA_MIN_DEG: float = 150.0
#: HRIR length in seconds (long enough for the head-shadow filter's decay and the largest delay)
HRIR_SECONDS: float = 0.005
#: first-order max-rE weight of the dipole components (cos of 54.7 deg)
MAX_RE_ORDER1: float = 1.0 / np.sqrt(3.0)


def icosahedron_directions() -> np.ndarray:
    """The 12 unit vectors (12, 3) of an icosahedron's vertices (a spherical 5-design)."""
    phi = (1 + np.sqrt(5)) / 2
    pts = []
    for a in (-1, 1):
        for b in (-phi, phi):
            pts += [(0, a, b), (a, b, 0), (b, 0, a)]
    pts = np.array(pts, dtype=np.float64)
    return pts / np.linalg.norm(pts, axis=1, keepdims=True)


def spherical_head_hrtf(directions: np.ndarray, freqs_hz: np.ndarray) -> np.ndarray:
    """Brown-Duda spherical-head transfer functions (L, 2 ears [left, right], F) for unit vectors (L, 3).

    Delays are relative to the head centre plus a bulk delay of a/c (so every HRIR is causal)."""
    ears = sph_to_cart([EAR_AZIMUTH_DEG, -EAR_AZIMUTH_DEG], [0.0, 0.0])  # (2, 3): left, right
    theta = np.arccos(np.clip(directions @ ears.T, -1.0, 1.0))  # (L, 2)
    a_over_c = HEAD_RADIUS_M / SPEED_OF_SOUND_M_S
    delay = np.where(theta < np.pi / 2, -a_over_c * np.cos(theta), a_over_c * (theta - np.pi / 2)) + a_over_c
    alpha = (1 + SHADOW_ALPHA_MIN / 2) + (1 - SHADOW_ALPHA_MIN / 2) * np.cos(
        theta / np.deg2rad(SHADOW_THETA_MIN_DEG) * np.pi)
    omega = 2 * np.pi * freqs_hz
    w0 = 1.0 / a_over_c
    jw = 1j * omega[None, None, :] / (2 * w0)
    shadow = (1 + alpha[..., None] * jw) / (1 + jw)
    return shadow * np.exp(-1j * omega[None, None, :] * delay[..., None])


def hrir(directions: np.ndarray, sample_rate: int) -> np.ndarray:
    """Head-related impulse responses (L, 2, taps) of unit vectors (L, 3) at ``sample_rate``."""
    taps = int(round(HRIR_SECONDS * sample_rate))
    freqs = np.fft.rfftfreq(taps, 1.0 / sample_rate)
    return np.fft.irfft(spherical_head_hrtf(np.atleast_2d(directions), freqs), n=taps, axis=-1)


def foa_decoder(directions: np.ndarray) -> np.ndarray:
    """Max-rE first-order decoding matrix (L, 4) from ACN/SN3D (W, Y, Z, X) to loudspeakers at unit vectors."""
    x, y, z = directions.T
    ones = np.ones_like(x)
    return np.stack([ones, 3 * MAX_RE_ORDER1 * y, 3 * MAX_RE_ORDER1 * z, 3 * MAX_RE_ORDER1 * x], axis=1) / len(x)


@lru_cache(maxsize=4)
def foa_to_binaural_filters(sample_rate: int) -> np.ndarray:
    """FIR filters (4 FOA channels, 2 ears, taps) that render FOA to binaural in one convolution step."""
    dirs = icosahedron_directions()
    return np.einsum("lc,let->cet", foa_decoder(dirs), hrir(dirs, sample_rate))


def render_binaural(foa: np.ndarray, sample_rate: int) -> np.ndarray:
    """Binaural (2, N) float32 [left, right] of FOA audio (4, N) (ACN W, Y, Z, X; SN3D)."""
    foa = np.asarray(foa, dtype=np.float64)
    if foa.ndim != 2 or foa.shape[0] != NUM_AUDIO_CHANNELS:
        raise ValueError(f"FOA audio must be ({NUM_AUDIO_CHANNELS}, N), got {foa.shape}")
    filters = foa_to_binaural_filters(sample_rate)  # (4, 2, taps)
    out = oaconvolve(foa[:, None, :], filters, axes=-1).sum(axis=0)  # (2, N + taps - 1)
    return out[:, :foa.shape[1]].astype(np.float32)


def is_up_to_date(src: Path, dst: Path) -> bool:
    """True when ``dst`` exists and is not older than ``src`` (finished outputs are skipped)."""
    return dst.is_file() and dst.stat().st_mtime_ns >= src.stat().st_mtime_ns


def convert_file(src: Path, dst: Path) -> None:
    """Render one FOA wav file to a binaural wav file (atomic write, same sample rate)."""
    audio, sample_rate = read_audio(src, channels=NUM_AUDIO_CHANNELS)
    write_audio(dst, render_binaural(audio, sample_rate), sample_rate)


def convert_dataset(data_dir: str | Path, stage: str = "dev", workers: int = 1,
                    progress: bool = True) -> list[Recording]:
    """Render ``foa_<stage>`` to ``binaural_<stage>`` of a dataset; returns the recordings converted now."""
    layout = DatasetLayout(data_dir, stage)
    recordings = layout.recordings("foa")
    if not recordings:
        raise InputError(layout.audio_dir("foa"), "no .wav recordings found")
    jobs, todo = [], []
    for rec in recordings:
        src, dst = layout.audio_path("foa", rec), layout.audio_path("binaural", rec)
        if not is_up_to_date(src, dst):
            jobs.append((src, dst))
            todo.append(rec)
    run_parallel(convert_file, jobs, workers, "binaural", len(recordings), progress)
    assert AUDIO_CHANNELS["binaural"] == 2
    return todo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--data-dir", required=True, type=Path, help="dataset root with foa_<stage>/")
    parser.add_argument("--stage", default="dev", help="dataset stage suffix: dev or eval (default: dev)")
    parser.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="parallel processes")
    add_quiet_argument(parser)
    args = parser.parse_args(argv)
    return run_main(run, args)


def run(args: argparse.Namespace) -> int:
    """Render the binaural copies and report where they went."""
    done = convert_dataset(args.data_dir, args.stage, args.workers, progress=not args.quiet)
    print(f"binaural: {len(done)} files rendered into {DatasetLayout(args.data_dir, args.stage).audio_dir('binaural')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

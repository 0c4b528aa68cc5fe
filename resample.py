#!/usr/bin/env python3
"""Resample every wav file of a dataset folder (e.g. 48 kHz -> 24 kHz), mirroring its layout.

    python resample.py --src DATA_48K --dst DATA_24K [--sample-rate 24000] [--workers 2]

Every ``*.wav`` under ``--src`` (foa_dev/, mic_dev/, binaural_dev/, foa_eval/, ...) is resampled with a
polyphase filter (scipy.signal.resample_poly, Kaiser window) to ``--sample-rate`` and written to the same
relative path under ``--dst`` (same channels and sample format); every other file (metadata CSVs, lists, videos,
detections) is hard-linked (copied where linking is impossible), so ``--dst`` is a complete dataset. Parallel,
with a progress bar; outputs are written atomically and outputs newer than their source are skipped.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from util.audio_io import audio_info, read_audio, write_audio
from util.cli import DefaultsHelpFormatter, add_quiet_argument, run_main
from util.conventions import SAMPLE_RATE
from util.errors import InputError
from util.fileio import atomic_path
from util.parallel import run_parallel

#: sample formats kept as they are; anything else is written as 16-bit PCM
KEPT_SUBTYPES: tuple[str, ...] = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")


def resample_audio(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Audio (C, N) at ``source_rate`` -> (C, ceil(N * target / source)) float32 at ``target_rate``."""
    if source_rate == target_rate:
        return np.asarray(audio, dtype=np.float32)
    g = gcd(int(source_rate), int(target_rate))
    return resample_poly(audio, target_rate // g, source_rate // g, axis=-1).astype(np.float32)


def resample_file(src: Path, dst: Path, target_rate: int) -> None:
    """Resample one wav file (atomic write; same channel count and sample format)."""
    info = audio_info(src)
    audio, rate = read_audio(src)
    subtype = info.subtype if info.subtype in KEPT_SUBTYPES else "PCM_16"
    write_audio(dst, resample_audio(audio, rate, target_rate), target_rate, subtype=subtype)


def link_file(src: Path, dst: Path) -> None:
    """Hard-link (or copy) a non-audio file into the mirrored tree, atomically."""
    with atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copy2(src, tmp)


def _up_to_date(src: Path, dst: Path) -> bool:
    return dst.is_file() and dst.stat().st_mtime_ns >= src.stat().st_mtime_ns


def resample_dataset(src_dir: str | Path, dst_dir: str | Path, target_rate: int = SAMPLE_RATE, workers: int = 1,
                     progress: bool = True) -> int:
    """Mirror ``src_dir`` into ``dst_dir`` with every wav resampled; returns the number of wav files written now."""
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    if not src_dir.is_dir():
        raise InputError(src_dir, "dataset folder not found")
    if src_dir.resolve() == dst_dir.resolve():
        raise InputError(dst_dir, "destination must differ from the source folder")
    files = sorted(p for p in src_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    wavs = [p for p in files if p.suffix.lower() == ".wav"]
    if not wavs:
        raise InputError(src_dir, "no .wav files found")
    for p in files:
        if p.suffix.lower() != ".wav" and not _up_to_date(p, dst_dir / p.relative_to(src_dir)):
            link_file(p, dst_dir / p.relative_to(src_dir))
    jobs = [(p, dst_dir / p.relative_to(src_dir), target_rate) for p in wavs
            if not _up_to_date(p, dst_dir / p.relative_to(src_dir))]
    run_parallel(resample_file, jobs, workers, f"resample to {target_rate} Hz", len(wavs), progress)
    return len(jobs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--data-dir", "--src", dest="data_dir", required=True, type=Path, help="source dataset folder")
    parser.add_argument("--out", "--dst", dest="out", required=True, type=Path,
                        help="destination dataset folder (same layout)")
    parser.add_argument("--sample-rate", type=int, default=SAMPLE_RATE,
                        help=f"target rate in Hz (default {SAMPLE_RATE})")
    parser.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="parallel processes")
    add_quiet_argument(parser)
    args = parser.parse_args(argv)
    return run_main(run, args)


def run(args: argparse.Namespace) -> int:
    """Resample the dataset and report how many files were written."""
    n = resample_dataset(args.data_dir, args.out, args.sample_rate, args.workers, progress=not args.quiet)
    print(f"resample: {n} wav files written to {args.out} at {args.sample_rate} Hz")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Feature extraction speed: seconds of 24 kHz audio processed per CPU-second, for every registered extractor,
beside a straightforward per-channel librosa version of the same feature (benchmarks/librosa_reference.py).

    python benchmarks/bench_features.py [--seconds 60] [--repeats 3]

Runs with one BLAS / OpenMP thread and measures process CPU time, so the numbers are per core.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core: set before numpy loads
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from benchmarks.librosa_reference import REFERENCES  # noqa: E402
from feature.base import build_extractor, extractor_names  # noqa: E402


def cpu_seconds(fn, repeats: int) -> float:
    """Best-of-``repeats`` process CPU time of ``fn()``."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio length per run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'feature':16s} {'channels':>8s} {'shape':>14s} {'ours x RT/core':>15s} {'librosa x RT/core':>18s} "
          f"{'speed-up':>9s}")
    for name in extractor_names():
        ex = build_extractor(name)
        num_samples = int(args.seconds * ex.config.sample_rate)
        audio = (0.1 * rng.standard_normal((ex.input_channels, num_samples))).astype(np.float32)
        ref = REFERENCES[name]
        ex.extract(audio[:, :ex.config.sample_rate])  # warm-up (filterbanks, numba JIT)
        ref(ex.config, audio[:, :ex.config.sample_rate])
        ours = cpu_seconds(lambda: ex.extract(audio), args.repeats)
        theirs = cpu_seconds(lambda: ref(ex.config, audio), args.repeats)
        shape = f"{ex.num_channels}x{ex.num_frames(audio.shape[1])}x{ex.num_features}"
        print(f"{name:16s} {ex.input_channels:8d} {shape:>14s} {args.seconds / ours:15.0f} "
              f"{args.seconds / theirs:18.0f} {theirs / ours:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How localisable is a dataset? The direction of the raw FOA intensity vector against the reference.

    python benchmarks/oracle_doa.py --data-dir data/synthetic_small [--cache-dir D]

For every label frame with exactly one active source, the frame's intensity vectors (``logmel_iv`` channels
4-6, averaged over the frame's feature frames and weighted over mel bands by the omni power) give a direction
without any learning; the table gives its angle to the reference direction per split (mean, median, share
within the 20 degrees the DCASE metric requires of a true positive). In free field this oracle is almost exact;
room reflections, reverberation and noise pull it off (a trained network can do better: onsets carry the direct
sound). The feature cache is built first when missing (the same cache training uses).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feature.cache import FeatureCache  # noqa: E402
from seld_data_loader import FoaRotations  # noqa: E402
from util.cli import run_main  # noqa: E402
from util.errors import InputError  # noqa: E402

#: logmel_iv channel of the omni log-mel (dB); the intensity channels in (x, y, z) order are FoaRotations.IV_XYZ.
OMNI_CHANNEL = 0
DCASE_DOA_THRESHOLD_DEG = 20.0


def intensity_directions(features: np.ndarray, frames_per_label: int) -> np.ndarray:
    """Unit (x, y, z) directions (T_label, 3) of the omni-power-weighted mean intensity of each label frame of
    ``logmel_iv`` features (7, T, F); zero vectors where the intensity vanishes."""
    t_label = features.shape[1] // frames_per_label
    feats = np.asarray(features[:, :t_label * frames_per_label], dtype=np.float64)
    frames = feats.reshape(feats.shape[0], t_label, frames_per_label, feats.shape[2]).mean(axis=2)  # (C, T, F)
    weight = 10.0 ** (frames[OMNI_CHANNEL] / 10.0)                                                  # (T, F)
    vec = np.stack([(frames[c] * weight).sum(axis=1) for c in FoaRotations.IV_XYZ], axis=1)       # (T, 3)
    norm = np.linalg.norm(vec, axis=1, keepdims=True)
    return np.where(norm > 0, vec / np.maximum(norm, 1e-30), 0.0)


def single_source_errors(directions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Angles (deg) between ``directions`` (T, 3) and the reference of every frame of ADPIT ``labels``
    (T, 6, 5, C) with exactly one active source."""
    errors = []
    for t in range(min(len(directions), len(labels))):
        active = np.argwhere(labels[t, :, 0, :] > 0)
        if len(active) != 1:
            continue
        track, cls = active[0]
        ref = labels[t, track, 1:4, cls]
        cos = float(directions[t] @ ref) / max(float(np.linalg.norm(ref)), 1e-12)
        errors.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return np.asarray(errors)


def split_errors(cache: FeatureCache, split: str) -> np.ndarray:
    """Oracle angle errors of all single-source frames of a split."""
    out = [single_source_errors(intensity_directions(np.asarray(cache.features(r)), cache.frames_per_label),
                                np.asarray(cache.labels(r)))
           for r in cache.recordings(split) if cache.has_labels(r)]
    return np.concatenate(out) if out else np.zeros(0)


def format_row(split: str, errors: np.ndarray) -> str:
    if errors.size == 0:
        return f"| {split} | 0 | - | - | - |"
    within = 100.0 * float(np.mean(errors <= DCASE_DOA_THRESHOLD_DEG))
    return f"| {split} | {errors.size} | {errors.mean():.1f} | {np.median(errors):.1f} | {within:.1f} % |"


def _main(argv: list[str] | None) -> int:
    from feature.extract import build_feature_cache

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, type=Path, help="STARSS23-layout dataset with FOA audio")
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache root (default <data-dir>/cache)")
    parser.add_argument("--workers", type=int, default=2, help="feature extraction processes (first run)")
    args = parser.parse_args(argv)
    if not (args.data_dir / "foa_dev").is_dir():
        raise InputError(args.data_dir, "no foa_dev folder (the oracle needs FOA audio)")
    cache = build_feature_cache(args.data_dir, "foa", "logmel_iv", cache_dir=args.cache_dir or args.data_dir / "cache",
                                workers=args.workers, progress=False)
    print(f"intensity-vector direction vs reference, single-source label frames of {args.data_dir}")
    print("| split | frames | mean error (deg) | median (deg) | within 20 deg |\n|---|---|---|---|---|")
    for split in ("train", "test"):
        print(format_row(split, split_errors(cache, split)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; bad input -> one ``error:`` line and status 2."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Convert a folder of Multi-ACCDOA outputs (.npy, (T, 3, 3|4, 13) at 10 frames/s) to DCASE prediction CSVs.

    python npy2csv.py --in OUTPUTS --out CSVS [--threshold 0.5 | --thresholds t0,...,t12] [--merge-angle 15]
                      [--smooth 1]

``--smooth 5`` decodes like ``seld.py evaluate`` / ``predict`` with their default ``inference.smooth_frames``; the
default 1 is the DCASE baselines' rule (no smoothing).

The folder structure below --in is kept; each ``X.npy`` becomes ``X.csv`` (5-column polar
``frame,class,track,azimuth,elevation``, or 6 with distance in metres), written atomically.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from seld_decoding import (DEFAULT_MERGE_ANGLE_DEG, DEFAULT_THRESHOLD, check_smooth_frames, decode_multi_accdoa,
                           load_output_npy, write_events_csv)
from util.cli import DefaultsHelpFormatter, add_quiet_argument, run_main
from util.conventions import NUM_CLASSES
from util.errors import InputError
from util.fileio import output_folder


def parse_thresholds(text: str) -> list[float]:
    """``t0,...,t12`` -> one threshold per class (argparse type)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"thresholds must be numbers, got {text!r}") from None
    if len(values) != NUM_CLASSES:
        raise argparse.ArgumentTypeError(f"expected {NUM_CLASSES} comma-separated thresholds, got {len(values)}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="npy2csv.py", description=__doc__.splitlines()[0],
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--in", dest="in_dir", required=True, type=Path, help="folder of .npy outputs (recursive)")
    parser.add_argument("--out", dest="out_dir", required=True, type=Path, help="folder for the CSVs")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                       help=f"activity threshold for every class (default {DEFAULT_THRESHOLD}; AV baseline 0.3)")
    group.add_argument("--thresholds", type=parse_thresholds, default=None,
                       help=f"{NUM_CLASSES} comma-separated per-class thresholds (default: --threshold for every "
                            "class)")
    parser.add_argument("--merge-angle", type=float, default=DEFAULT_MERGE_ANGLE_DEG,
                        help=f"merge same-class tracks closer than this, degrees (default {DEFAULT_MERGE_ANGLE_DEG:g})")
    parser.add_argument("--smooth", type=int, default=1,
                        help="moving average over this many label frames before decoding (odd; default 1 = none)")
    add_quiet_argument(parser)
    return parser


def convert_folder(in_dir: Path, out_dir: Path, threshold: float | list[float] = DEFAULT_THRESHOLD,
                   merge_angle_deg: float = DEFAULT_MERGE_ANGLE_DEG, smooth_frames: int = 1,
                   progress: bool = True) -> list[Path]:
    """Decode every .npy under ``in_dir`` into a CSV at the same relative path under ``out_dir``; returns the
    written CSV paths."""
    if not in_dir.is_dir():
        raise InputError(in_dir, "folder not found")
    files = sorted(p for p in in_dir.rglob("*.npy") if not p.name.startswith("."))
    if not files:
        raise InputError(in_dir, "no .npy files found")
    decoded = {}  # every file is read and checked before anything is written: bad input leaves nothing behind
    with output_folder(out_dir):
        for path in tqdm(files, desc="npy2csv", unit="file", disable=not progress):
            decoded[out_dir / path.relative_to(in_dir).with_suffix(".csv")] = decode_multi_accdoa(
                load_output_npy(path), threshold, merge_angle_deg, smooth_frames=smooth_frames)
        for target, events in decoded.items():
            write_events_csv(target, events)
    return list(decoded)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    threshold = args.thresholds if args.thresholds is not None else args.threshold
    return run_main(_convert, args, threshold)


def _convert(args: argparse.Namespace, threshold: float | list[float]) -> int:
    check_smooth_frames(args.smooth, "--smooth")
    written = convert_folder(args.in_dir, args.out_dir, threshold, args.merge_angle, args.smooth, not args.quiet)
    print(f"{len(written)} CSV files written to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

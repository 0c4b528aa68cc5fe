#!/usr/bin/env python3
"""Synthesise a STARSS23-format audio-visual SELD dataset (FOA, MIC, metadata, 360 video, person detections).

Examples:
  python synthesize_dataset.py --out data/synth_small                 # default demo (preset small)
  python synthesize_dataset.py --out /tmp/tiny --preset tiny --seed 1
  python synthesize_dataset.py --out data/synth_full --preset full --formats foa --video-size 360x180
See docs/SYNTHETIC_DATA.md. Also available as ``python seld.py synthesize``.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from synth.config import DEFAULT_ANNOTATIONS, PRESETS, SYNTH_FORMATS, SynthesisConfig, default_annotations, scene_source
from synth.dataset import check_writable, default_workers, synthesize_dataset
from util.cli import DefaultsHelpFormatter, add_quiet_argument, run_main
from util.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the dataset synthesiser (shared by this script and ``seld.py synthesize``)."""
    parser.add_argument("--out", required=True, help="output dataset folder (created if needed)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small",
                        help="dataset size: tiny (tests), small (demo, default), full (168 clips)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed -> identical wav/csv files)")
    parser.add_argument("--formats", default=",".join(SYNTH_FORMATS), help="comma-separated audio formats: foa,mic")
    parser.add_argument("--video-size", default=None, help="video resolution WxH, even numbers (preset default)")
    parser.add_argument("--no-video", action="store_true", help="skip video and detections")
    defaults = SynthesisConfig()
    parser.add_argument("--snr-db", type=float, default=None,
                        help=f"background-noise SNR in dB (inf = no noise; default {defaults.snr_db:g})")
    parser.add_argument("--workers", type=int, default=None, help="parallel processes (default: number of cores)")
    parser.add_argument("--num-train", type=int, default=None, help="number of train clips (preset default)")
    parser.add_argument("--num-test", type=int, default=None, help="number of test clips (preset default)")
    parser.add_argument("--num-val", type=int, default=None,
                        help="number of validation clips (dev-val-*, held apart from dev-test for model selection; "
                             "preset default)")
    parser.add_argument("--duration", default=None,
                        help="clip duration in seconds, or a range MIN-MAX (preset default)")
    parser.add_argument("--annotations", default=None,
                        help="folder of real STARSS22 annotations to script scenes from (default "
                             f"{DEFAULT_ANNOTATIONS} when present); 'none' for random scenes")
    parser.add_argument("--no-class-balance", action="store_true",
                        help="keep the annotation scripts' own classes (default: permute them per clip so that "
                             "every class gets a similar number of active frames in each split)")
    parser.add_argument("--free-field", action="store_true", help="no room acoustics (direct sound only)")
    parser.add_argument("--max-distractors", type=int, default=None,
                        help=f"silent person figures per clip, at most (default {defaults.max_distractors})")
    parser.add_argument("--detection-miss-rate", type=float, default=None,
                        help=f"simulated detector miss probability (default {defaults.detection_miss_rate:g})")
    parser.add_argument("--detection-jitter", type=float, default=None,
                        help=f"box jitter, fraction of the box size (default {defaults.detection_jitter:g})")
    parser.add_argument("--detection-false-positives", type=float, default=None,
                        help="false-positive boxes per label frame (Poisson mean; default "
                             f"{defaults.detection_false_positive_rate:g})")
    add_quiet_argument(parser)


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(None, f"--video-size: expected WxH such as 480x240, got {text!r}") from None
    if w < 16 or h < 8 or w % 2 or h % 2:
        raise InputError(None, f"--video-size: width and height must be even and at least 16x8, got {text!r}")
    return w, h


def _parse_duration(text: str) -> tuple[float, float]:
    try:
        parts = [float(v) for v in text.split("-")]
    except ValueError:
        raise InputError(None, f"--duration: expected seconds or MIN-MAX, got {text!r}") from None
    lo, hi = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[-1])
    if len(parts) > 2 or not 1 <= lo <= hi:
        raise InputError(None, f"--duration: expected 1 <= MIN <= MAX seconds, got {text!r}")
    return lo, hi


def config_from_args(args: argparse.Namespace) -> SynthesisConfig:
    """A validated SynthesisConfig from parsed arguments; InputError on bad values."""
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    bad = [f for f in formats if f not in SYNTH_FORMATS]
    if not formats or bad:
        raise InputError(None, f"--formats: unknown format(s) {bad or formats!r}; "
                               f"choose from {','.join(SYNTH_FORMATS)}")
    if args.annotations is None:
        annotations = default_annotations()
    elif args.annotations.lower() == "none":
        annotations = None
    else:
        if not Path(args.annotations).is_dir():
            raise InputError(args.annotations, "annotation folder not found")
        annotations = str(Path(args.annotations).resolve())
    for name in ("num_train", "num_test", "num_val", "max_distractors"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            raise InputError(None, f"--{name.replace('_', '-')}: must be >= 0")
    for name in ("detection_miss_rate", "detection_jitter", "detection_false_positives"):
        value = getattr(args, name)
        if value is not None and (value < 0 or (name == "detection_miss_rate" and value > 1)):
            raise InputError(None, f"--{name.replace('_', '-')}: out of range ({value})")
    if args.snr_db is not None and math.isnan(args.snr_db):
        raise InputError(None, "--snr-db: not a number")
    workers = default_workers() if args.workers is None else args.workers
    if workers < 1:
        raise InputError(None, f"--workers: must be >= 1, got {workers}")
    duration = _parse_duration(args.duration) if args.duration else (None, None)
    config = SynthesisConfig.from_preset(
        args.preset, seed=args.seed, formats=formats, annotations=annotations, snr_db=args.snr_db, workers=workers,
        num_train=args.num_train, num_test=args.num_test, num_val=args.num_val, min_duration_s=duration[0],
        max_duration_s=duration[1],
        video_size=_parse_size(args.video_size) if args.video_size else None, max_distractors=args.max_distractors,
        detection_miss_rate=args.detection_miss_rate, detection_jitter=args.detection_jitter,
        detection_false_positive_rate=args.detection_false_positives,
    )
    config.video = not args.no_video
    config.room_acoustics = not args.free_field
    config.class_balance = not args.no_class_balance
    if config.num_train + config.num_test + config.num_val == 0:
        raise InputError(None, "--num-train, --num-test and --num-val are all 0: nothing to synthesise")
    return config


def run(args: argparse.Namespace) -> int:
    """Synthesise a STARSS23-format audio-visual dataset."""
    config = config_from_args(args)
    check_writable(Path(args.out).resolve())  # (bad output: one error line, before anything else is said)
    source = scene_source(config.annotations)
    if config.annotations is None and args.annotations is None:
        source += (f" (no STARSS22 annotations at {DEFAULT_ANNOTATIONS}; give --annotations DIR to script the scenes "
                   f"from real annotations, as the README's results were)")
    print(f"scenes: {source}", file=sys.stderr)
    start = time.perf_counter()
    root = synthesize_dataset(config, args.out, progress=not args.quiet)
    elapsed = time.perf_counter() - start
    print(f"wrote {config.num_train} train, {config.num_val} validation and {config.num_test} test clips to {root} "
          f"in {elapsed:.1f} s (seed {config.seed}, preset {config.preset}; scenes: "
          f"{scene_source(config.annotations)})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[1:]),
                                     formatter_class=DefaultsHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_main(run, args)


if __name__ == "__main__":
    sys.exit(main())

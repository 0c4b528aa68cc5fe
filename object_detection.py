#!/usr/bin/env python3
"""Run a person detector over every video of a split and write one detection file per recording.

    python object_detection.py --data-dir DATA --split all --backend yolox-tiny \
        --weights checkpoints/yolox_tiny_8x8_300e_coco_20211124_171234-b4047906.pth
    python object_detection.py --data-dir DATA --backend fasterrcnn_mobilenet_v3_large_320_fpn --device cuda

Reads ``video_<W>x<H>_dev/`` (``--video-size``, default the baseline's 360x180; ``original`` reads
``video_dev/``), samples ``--rate`` frames per second (default 10: frame k nearest to k * 0.1 s, the start of
label frame k; see feature/visual.py) and writes ``detections_dev/<split>/<name>.csv`` (util/detection_io.py;
every person box with score > ``--threshold``). Finished files are skipped (``--overwrite`` redoes them); an
unreadable video is reported and the others still run; the exit status is non-zero if any failed.
Also available as ``python seld.py detect``.
"""
from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from detection.base import BACKENDS, DEFAULT_DETECTOR, Detector, backend_names, build_detector
from util.cli import SPLIT_CHOICES, DefaultsHelpFormatter, add_quiet_argument, run_main
from util.conventions import DETECTION_SCORE_THRESHOLD, LABEL_FPS, VIDEO_SIZE
from util.detection_io import Detections, write_detections
from util.errors import InputError
from util.layout import DatasetLayout, Recording, list_recordings
from util.video_io import iter_sampled_frames, num_sampled_frames, size_argument, video_info

SPLITS = SPLIT_CHOICES


def detect_video(path: str | Path, detector: Detector, rate_hz: float = LABEL_FPS, batch_size: int = 16,
                 video_label: str = "", progress: bool = False) -> Detections:
    """Detections of one video: frame k is the decoded frame nearest to ``k / rate_hz`` seconds."""
    path = Path(path)
    num_frames = num_sampled_frames(video_info(path).duration_s, rate_hz)
    frames_idx: list[int] = []
    boxes: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    batch: list[np.ndarray] = []
    batch_idx: list[int] = []

    def flush() -> None:
        for k, (b, s) in zip(batch_idx, detector.detect(np.stack(batch))):
            frames_idx.extend([k] * len(s))
            boxes.append(b)
            scores.append(s)
        batch.clear()
        batch_idx.clear()

    bar = tqdm(total=num_frames, desc=path.stem, unit="frame", leave=False, disable=not progress)
    for k, frame in iter_sampled_frames(path, rate_hz, num_frames=num_frames):
        batch.append(frame)
        batch_idx.append(k)
        if len(batch) == batch_size:
            flush()
        bar.update(1)
    if batch:
        flush()
    bar.close()
    n = len(frames_idx)
    return Detections(source=detector.name, rate_hz=rate_hz, num_frames=num_frames,
                      frames=np.asarray(frames_idx, dtype=np.int64),
                      boxes=np.concatenate(boxes).astype(np.float32) if n else np.zeros((0, 4), np.float32),
                      scores=np.concatenate(scores).astype(np.float32) if n else np.zeros(0, np.float32),
                      labels=["person"] * n, video=video_label or str(path))


def video_folder(data_dir: str | Path, video_size: tuple[int, int] | None) -> Path:
    """The folder of the videos to read (``video_<W>x<H>_dev`` or ``video_dev``); InputError when missing."""
    layout = DatasetLayout(data_dir)
    folder = layout.video_dir if video_size is None else layout.resized_video_dir(*video_size)
    if not folder.is_dir():
        hint = " (make it with resize_video.py, or pass --video-size original)" if video_size else ""
        raise InputError(folder, f"video folder not found{hint}")
    return folder


def detect_dataset(data_dir: str | Path, detector: Detector, split: str = "all",
                   video_size: tuple[int, int] | None = VIDEO_SIZE, out_dir: str | Path | None = None,
                   rate_hz: float = LABEL_FPS, batch_size: int = 16, overwrite: bool = False,
                   progress: bool = True) -> tuple[list[Recording], list[Recording], list[InputError]]:
    """Detect persons in every video of ``split``; returns (written, skipped, failures)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    layout = DatasetLayout(data_dir)
    video_dir = video_folder(data_dir, video_size)
    out_root = Path(out_dir) if out_dir is not None else layout.detection_dir
    recs = list_recordings(video_dir, ".mp4", None if split == "all" else split)
    if not recs:
        raise InputError(video_dir, f"no .mp4 videos of split {split!r}")
    written: list[Recording] = []
    skipped: list[Recording] = []
    failures: list[InputError] = []
    for rec in tqdm(recs, desc=f"detect ({detector.name})", unit="video", disable=not progress):
        out = out_root / rec.split_dir / f"{rec.name}.csv"
        if out.is_file() and not overwrite:
            skipped.append(rec)
            continue
        video = video_dir / rec.split_dir / f"{rec.name}.mp4"
        try:
            det = detect_video(video, detector, rate_hz, batch_size, video.relative_to(layout.root).as_posix(),
                               progress=progress)
        except InputError as exc:
            tqdm.write(f"error: {exc}")
            failures.append(exc)
            continue
        write_detections(out, det)
        written.append(rec)
    return written, skipped, failures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the detection command (shared by this script and ``seld.py detect``)."""
    parser.add_argument("--data-dir", required=True, type=Path, help="STARSS23-layout dataset root")
    parser.add_argument("--split", choices=SPLITS, default="all", help="videos of this split")
    parser.add_argument("--video-size", type=functools.partial(size_argument, allow_original=True), default=f"{VIDEO_SIZE[0]}x{VIDEO_SIZE[1]}",
                        metavar="WxH|original",
                        help="read video_<W>x<H>_dev/ (default %(default)s) or video_dev/ with 'original'")
    parser.add_argument("--backend", choices=backend_names(), default=DEFAULT_DETECTOR,
                        help="; ".join(f"{k}: {v[2]}" for k, v in BACKENDS.items()))
    parser.add_argument("--weights", help="checkpoint file (yolox-tiny: required; torchvision: default "
                                          "$TORCH_HOME/hub/checkpoints/<torchvision file name>)")
    parser.add_argument("--config", help="mmdet config (yolox-tiny; default: mmdet's yolox_tiny_8xb8-300e_coco.py)")
    parser.add_argument("--rate", type=float, default=float(LABEL_FPS),
                        help="detection frames per second (default %(default)s = one per label frame)")
    parser.add_argument("--threshold", type=float, default=DETECTION_SCORE_THRESHOLD,
                        help="keep person boxes with score > this (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16, help="video frames per detector call")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--out", type=Path, help="output folder (default DATA/detections_dev)")
    parser.add_argument("--overwrite", action="store_true", help="redo recordings that already have a file")
    add_quiet_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Detect persons in every video of a split (one detection file per recording)."""
    video_folder(args.data_dir, args.video_size)  # fail before loading a detector
    detector = build_detector(args.backend, weights=args.weights, config=args.config, device=args.device,
                              score_threshold=args.threshold)
    written, skipped, failures = detect_dataset(args.data_dir, detector, args.split, args.video_size, args.out,
                                                args.rate, args.batch_size, args.overwrite,
                                                progress=not args.quiet)
    print(f"detections: {len(written)} written, {len(skipped)} already done, {len(failures)} failed")
    for exc in failures:
        print(f"failed: {exc}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_main(run, args)


if __name__ == "__main__":
    sys.exit(main())

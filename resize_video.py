#!/usr/bin/env python3
"""Make low-resolution copies of the 360-degree videos: ``video_dev/`` -> ``video_<W>x<H>_dev/``.

    python resize_video.py --data-dir DATA                     # 1920x960 -> 360x180 (the AV baseline's size)
    python resize_video.py --data-dir DATA --size 128x64 --workers 2

Same split folders and file names; same frame rate and frame count; H.264 (``--crf``) through PyAV, scaled by
FFmpeg's area filter; the video stream only. Files run in parallel (``--workers`` processes) with a progress
bar; finished files are skipped (``--overwrite`` redoes them) and every output is written under a temporary
name first. An unreadable or truncated video is reported in one line and the others still convert; the exit
status is non-zero if any failed.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from util.cli import SPLIT_CHOICES, DefaultsHelpFormatter, add_quiet_argument, run_main
from util.conventions import VIDEO_SIZE
from util.errors import InputError
from util.layout import DatasetLayout, Recording, list_recordings
from util.video_io import VideoWriter, iter_frames, size_argument, video_info

SPLITS = SPLIT_CHOICES


def resize_file(src: str | Path, dst: str | Path, size: tuple[int, int], crf: int = 18, threads: int = 0) -> int:
    """Resize one video to ``size`` = (width, height), keeping its frame rate; returns the frames written.

    Raises InputError (and leaves no output) when ``src`` is unreadable or truncated.
    """
    info = video_info(src)
    with VideoWriter(dst, size, info.rate, crf=crf, threads=threads) as writer:
        for _, frame in iter_frames(src, size, threads=threads):
            writer.write(frame)
        return writer.count


def _resize_job(src: Path, dst: Path, size: tuple[int, int], crf: int, threads: int) -> tuple[int, str | None]:
    """Worker: (frames, None) on success, (0, one-line error) on failure; never raises."""
    try:
        return resize_file(src, dst, size, crf, threads), None
    except InputError as exc:
        return 0, str(exc)
    except Exception as exc:  # an encoder failure must not stop the other files
        return 0, f"{src}: {type(exc).__name__}: {exc}"


def resize_dataset(data_dir: str | Path, size: tuple[int, int] = VIDEO_SIZE, split: str = "all", workers: int = 1,
                   crf: int = 18, overwrite: bool = False, progress: bool = True
                   ) -> tuple[list[Recording], list[Recording], list[str]]:
    """Resize every video of ``split``; returns (converted, skipped, error lines)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    layout = DatasetLayout(data_dir)
    if not layout.video_dir.is_dir():
        raise InputError(layout.video_dir, "video folder not found")
    recs = list_recordings(layout.video_dir, ".mp4", None if split == "all" else split)
    if not recs:
        raise InputError(layout.video_dir, f"no .mp4 videos of split {split!r}")
    todo = [r for r in recs if overwrite or not layout.video_path(r, size).is_file()]
    skipped = [r for r in recs if r not in todo]
    workers = max(1, min(workers, len(todo) or 1))
    threads = max(1, (os.cpu_count() or 1) // workers)
    converted: list[Recording] = []
    errors: list[str] = []
    bar = tqdm(total=len(todo), desc=f"resize to {size[0]}x{size[1]}", unit="video", disable=not progress)

    def done(rec: Recording, result: tuple[int, str | None]) -> None:
        if result[1] is None:
            converted.append(rec)
        else:
            tqdm.write(f"error: {result[1]}")
            errors.append(result[1])
        bar.update(1)

    jobs = [(rec, layout.video_path(rec), layout.video_path(rec, size)) for rec in todo]
    if workers == 1:
        for rec, src, dst in jobs:
            done(rec, _resize_job(src, dst, size, crf, threads))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_resize_job, src, dst, size, crf, threads): rec for rec, src, dst in jobs}
            for future in as_completed(futures):
                done(futures[future], future.result())
    bar.close()
    return sorted(converted), skipped, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--data-dir", required=True, type=Path, help="STARSS23-layout dataset root")
    parser.add_argument("--size", type=functools.partial(size_argument, even=True), default=f"{VIDEO_SIZE[0]}x{VIDEO_SIZE[1]}", metavar="WxH",
                        help="output size (default %(default)s)")
    parser.add_argument("--split", choices=SPLITS, default="all", help="videos of this split")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="parallel processes (default %(default)s)")
    parser.add_argument("--crf", type=int, default=18, help="x264 quality, lower = better (default %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="redo videos that already have a copy")
    add_quiet_argument(parser)
    args = parser.parse_args(argv)
    return run_main(run, args)


def run(args: argparse.Namespace) -> int:
    """Resize the dataset's videos and report the counts; 1 when some video failed."""
    converted, skipped, errors = resize_dataset(args.data_dir, args.size, args.split, args.workers, args.crf,
                                                args.overwrite, progress=not args.quiet)
    print(f"resize: {len(converted)} converted, {len(skipped)} already done, {len(errors)} failed")
    for line in errors:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

"""The frame cache of the ViT visual encoder: video frames decoded once, at 10 fps, into memory-mappable files.

Frame ``k`` of a recording is the video frame nearest to the start of label frame ``k`` (``k * 0.1 s``; the
alignment is defined in `feature/visual.py`), scaled to ``size`` = (W, H) by FFmpeg's area filter:
``(T_video, H, W, 3)`` uint8 RGB, ``T_video = round(duration * 10)``. Frames are never decoded inside the
training loop; the data loader memory-maps these files.

Layout (a `util/npy_cache.py` folder, like `feature/cache.py`)::

    <cache_dir>/frames_<W>x<H>_<key>/        key = hash of the size and the resolved source video folder
      config.json                            {"size": [W, H], "video_dir": ..., "rate_hz": 10, "version": ...}
      frames/<split_dir>/<name>.npy          (T_video, H, W, 3) uint8
      stamps/<split_dir>/<name>.json         size + mtime of the source video (redone when it changes)

API for the data loader::

    cache = build_frame_cache(data_dir, cache_dir, size=(128, 64), split="train")   # or FrameCache.open(folder)
    cache.recordings("train")                  # [Recording, ...]
    x = cache.frames(rec)                      # np.memmap (T_video, H, W, 3) uint8
    x = cache.frames(rec, num_frames=T_label)  # cropped / padded with black frames to the audio's label frames
    # the ViT (net/vision_transformer.py) takes (B, T, 3, H, W): torch.from_numpy(x).permute(0, 3, 1, 2)

Source videos: ``video_dev/`` by default, or the resized copies ``video_<W>x<H>_dev/`` (``source_size``),
which decode much faster than 1920x960 originals.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap

from util.conventions import FRAME_CACHE_SIZE, LABEL_FPS
from util.errors import InputError
from util.fileio import atomic_path
from util.layout import DatasetLayout, Recording, list_recordings
from util.npy_cache import (CONFIG_FILE, RecordingArrayCache, settings_key,  # noqa: F401 (CONFIG_FILE re-exported)
                            update_from_sources, write_config)
from util.video_io import iter_sampled_frames, num_sampled_frames, video_info

#: bump when the on-disk format changes (part of the cache key)
FRAME_CACHE_VERSION: int = 1


def frame_cache_folder(cache_dir: str | Path, size: tuple[int, int], video_dir: str | Path) -> Path:
    """``<cache_dir>/frames_<W>x<H>_<key>`` for one frame size and one source video folder."""
    key = settings_key({"size": list(size), "video_dir": str(Path(video_dir).resolve()), "rate_hz": LABEL_FPS,
                        "version": FRAME_CACHE_VERSION})
    return Path(cache_dir) / f"frames_{size[0]}x{size[1]}_{key}"


def decode_label_frames(video: str | Path, size: tuple[int, int], out: Path) -> int:
    """Decode ``video`` at 10 fps, scaled to ``size``, into the ``.npy`` file ``out`` (atomically); returns T."""
    num_frames = num_sampled_frames(video_info(video).duration_s, LABEL_FPS)
    with atomic_path(out) as tmp:
        array = open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(num_frames, size[1], size[0], 3))
        for k, frame in iter_sampled_frames(video, LABEL_FPS, size, num_frames):
            array[k] = frame
        array.flush()
        del array
    return num_frames


class FrameCache(RecordingArrayCache):
    """Read access to a frame cache folder (see the module docstring)."""

    kind = "frame"
    array_dir = "frames"
    build_hint = "build it with build_frame_cache"

    def __init__(self, folder: str | Path, meta: dict[str, Any]):
        super().__init__(folder, meta)
        self.size: tuple[int, int] = (int(meta["size"][0]), int(meta["size"][1]))
        self.video_dir = Path(meta["video_dir"])

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(H, W, 3) of one cached frame."""
        return self.size[1], self.size[0], 3

    def frame_path(self, rec: Recording) -> Path:
        """``frames/<split_dir>/<name>.npy``."""
        return self.array_path(rec)

    def frames(self, rec: Recording, num_frames: int | None = None) -> np.ndarray:
        """Frames (T, H, W, 3) uint8, memory-mapped; cropped / padded with black frames to ``num_frames``."""
        return self.array(rec, num_frames)

    def __repr__(self) -> str:
        return f"FrameCache({str(self.folder)!r}, {self.size[0]}x{self.size[1]})"


def build_frame_cache(data_dir: str | Path, cache_dir: str | Path, size: tuple[int, int] = FRAME_CACHE_SIZE,
                      split: str | None = None, source_size: tuple[int, int] | None = None,
                      recordings: Iterable[Recording] | None = None, progress: bool = True) -> FrameCache:
    """Decode (or bring up to date) the 10 fps frames of every video of ``split`` (None = all).

    Videos come from ``video_dev/`` or, with ``source_size``, from ``video_<W>x<H>_dev/``. Resumable: videos
    whose stamp matches are skipped; outputs are written atomically. A corrupt or truncated video does not stop
    the others; one InputError summarising the failures is raised at the end.
    """
    layout = DatasetLayout(data_dir)
    video_dir = layout.video_dir if source_size is None else layout.resized_video_dir(*source_size)
    if not video_dir.is_dir():
        raise InputError(video_dir, "video folder not found")
    folder = frame_cache_folder(cache_dir, size, video_dir)
    meta = {"size": list(size), "video_dir": str(video_dir.resolve()), "rate_hz": LABEL_FPS,
            "version": FRAME_CACHE_VERSION}
    write_config(folder, meta)
    cache = FrameCache(folder, meta)
    recs = recordings if recordings is not None else list_recordings(video_dir, ".mp4", split)
    update_from_sources(cache, recs, lambda rec: video_dir / rec.split_dir / f"{rec.name}.mp4",
                        lambda source, out: decode_label_frames(source, size, out),
                        f"frames {size[0]}x{size[1]}", "video", progress)
    return cache

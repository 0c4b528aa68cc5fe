"""Person boxes -> the AV baseline's Gaussian-like visual vectors, and their per-recording cache.

Time alignment (the one place it is defined)
--------------------------------------------
Label frame ``k`` covers ``[k * 0.1 s, (k + 1) * 0.1 s)``. Every visual input of label frame ``k`` is taken
from the video frame whose timestamp is *nearest to the label frame's start* ``k * 0.1 s`` (ties -> earlier
frame; `util.video_io.iter_sampled_frames`). At the default detection rate of 10 Hz, detection frame ``k``
(``time_s = k / 10`` in the detection file) *is* label frame ``k``. A detection file written at another rate
``r`` serves label frame ``k`` with detection frame ``round(k * r / 10)`` (nearest to the label frame start).
The frame cache of the ViT (`feature/frames.py`) samples the same instants. Label frames past the end of a
detection file (or video) get zero vectors (black frames), so ``fit_frames`` can pad any visual input to the
audio's ``T_label``.

Vectors
-------
A box with normalised centre ``(cx, cy)`` and size ``(w, h)`` (image x right, y down, in [0, 1]) gives, over
``P`` points ``p = 0 .. P-1`` (P = 37 in the baseline)::

    azi[p] = exp(-(p - (P-1) cx)^2 / ((P-1) w / 2)^2)        ele[p] = exp(-(p - (P-1) cy)^2 / ((P-1) h / 2)^2)

so ``azi`` peaks at index ``(P-1) cx``. Index 0 of ``azi`` is the left image edge (azimuth +180 deg) and index
P-1 the right edge (-180 deg); index 0 of ``ele`` is the top (+90 deg). Per label frame the ``N`` (default 6)
highest-scoring person boxes with score > ``min_score`` fill slots 0..N-1 in descending score; empty slots
are zero. One label frame -> ``(2, N, P)`` float32 (channel 0 = azimuth, 1 = elevation); a recording ->
``(T_label, 2, N, P)``; the baseline flattens 2 x 6 x 37 = 444 values (``VisualSpec.flat_dim``).

Cache (a `util/npy_cache.py` folder, like `feature/cache.py`)::

    <cache_dir>/visual_n<N>_p<P>_<key>/        key = hash of the spec and the resolved detection folder
      config.json                              {"spec": {...}, "detection_dir": ..., "version": ...}
      vectors/<split_dir>/<name>.npy           (T_det, 2, N, P) float32, T_det = label frames of the file
      stamps/<split_dir>/<name>.json           size + mtime of the detection file (redone when it changes)

API for the data loader::

    cache = build_visual_cache(data_dir, cache_dir, VisualSpec(), split="train")   # or VisualCache.open(folder)
    cache.recordings("train")                  # [Recording, ...]
    v = cache.vectors(rec)                     # np.memmap (T_det, 2, N, P)
    v = cache.vectors(rec, num_frames=T_label) # cropped / zero-padded to the audio's label frames
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from util.conventions import DETECTION_SCORE_THRESHOLD, LABEL_FPS, VISUAL_NUM_BOXES, VISUAL_NUM_POINTS
from util.detection_io import Detections, read_detections
from util.errors import InputError
from util.layout import DatasetLayout, Recording, list_recordings
from util.npy_cache import (CONFIG_FILE, RecordingArrayCache, fit_frames, is_current,  # noqa: F401 (re-exported)
                            load_npy, raise_failures, save_npy_atomic, settings_key, source_stamp,
                            update_from_sources, write_config)

#: bump when the on-disk format changes (part of the cache key)
VISUAL_CACHE_VERSION: int = 1
#: smallest box width/height used in the vector formula (avoids 0/0 for degenerate boxes)
_MIN_BOX_SIZE = 1e-6


@dataclass(frozen=True)
class VisualSpec:
    """Settings of the box vectors: boxes per frame, points per vector, minimum score (strictly greater)."""

    num_boxes: int = VISUAL_NUM_BOXES
    num_points: int = VISUAL_NUM_POINTS
    min_score: float = DETECTION_SCORE_THRESHOLD

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """Shape of one label frame's vectors: (2, N, P)."""
        return 2, self.num_boxes, self.num_points

    @property
    def flat_dim(self) -> int:
        """Values per label frame when flattened (444 for the baseline)."""
        return 2 * self.num_boxes * self.num_points

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VisualSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def merge_person_slots(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Gaussian vectors (T, 2, N, P) of two scenes seen together: per frame, ``first``'s occupied slots then
    ``second``'s, in that order, fill the N slots (the rest stay empty)."""
    both = np.concatenate([first, second], axis=2)                      # (T, 2, 2N, P)
    empty = ~(both[:, 0].max(axis=-1) > 0)                              # (T, 2N)
    order = np.argsort(empty, axis=1, kind="stable")[:, : first.shape[2]]  # occupied first, original order kept
    return np.take_along_axis(both, order[:, None, :, None], axis=2)


def gaussian_vectors(boxes: np.ndarray, num_points: int = VISUAL_NUM_POINTS) -> np.ndarray:
    """Vectors (K, 2, P) of normalised xyxy boxes (K, 4): [:, 0] azimuth (from x), [:, 1] elevation (from y)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    span = num_points - 1
    p = np.arange(num_points, dtype=np.float64)
    centre = np.stack([boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]], axis=1) / 2.0  # (K, 2)
    size = np.maximum(np.abs(np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)), _MIN_BOX_SIZE)
    out = np.exp(-((p - span * centre[..., None]) ** 2) / (span * size[..., None] / 2.0) ** 2)
    return out.astype(np.float32)


def frame_vectors(boxes: np.ndarray, scores: np.ndarray, spec: VisualSpec = VisualSpec()) -> np.ndarray:
    """One frame's boxes (K, 4) and scores (K,) -> (2, N, P): top-N boxes with score > min_score, zeros elsewhere."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    keep = np.flatnonzero(scores > spec.min_score)
    keep = keep[np.argsort(-scores[keep], kind="stable")][: spec.num_boxes]
    out = np.zeros(spec.frame_shape, dtype=np.float32)
    out[:, : len(keep)] = gaussian_vectors(boxes[keep], spec.num_points).transpose(1, 0, 2)
    return out


def label_frames_of(det: Detections) -> int:
    """Label frames covered by a detection file: ``round(num_frames * 10 / rate_hz)``."""
    return int(np.floor(det.num_frames * LABEL_FPS / det.rate_hz + 0.5))


def recording_vectors(det: Detections, spec: VisualSpec = VisualSpec(), num_frames: int | None = None) -> np.ndarray:
    """Vectors (T, 2, N, P) of a recording; T = ``num_frames`` or the label frames of the detection file.

    Label frame k uses detection frame round(k * rate_hz / 10); frames past the file's end are zeros.
    """
    t_label = label_frames_of(det) if num_frames is None else int(num_frames)
    per_det = np.zeros((det.num_frames, *spec.frame_shape), dtype=np.float32)
    frames = np.asarray(det.frames, dtype=np.int64)
    scores = np.asarray(det.scores, dtype=np.float32)
    valid = np.flatnonzero((scores > spec.min_score) & (frames >= 0) & (frames < det.num_frames))
    if len(valid):
        order = valid[np.lexsort((-scores[valid], frames[valid]))]  # by frame, then descending score
        f = frames[order]
        first = np.r_[0, np.flatnonzero(np.diff(f)) + 1]
        rank = np.arange(len(f)) - np.repeat(first, np.diff(np.r_[first, len(f)]))
        sel = rank < spec.num_boxes
        vec = gaussian_vectors(det.boxes[order[sel]], spec.num_points)  # (K, 2, P)
        per_det[f[sel], :, rank[sel], :] = vec
    det_index = np.floor(np.arange(t_label) * det.rate_hz / LABEL_FPS + 0.5).astype(np.int64)
    out = np.zeros((t_label, *spec.frame_shape), dtype=np.float32)
    inside = det_index < det.num_frames
    out[inside] = per_det[det_index[inside]]
    return out


# ---------------------------------------------------------------------------------------------------------
# the cache

def visual_cache_folder(cache_dir: str | Path, spec: VisualSpec, detection_dir: str | Path) -> Path:
    """``<cache_dir>/visual_n<N>_p<P>_<key>`` for one spec and one detection folder."""
    key = settings_key({"spec": spec.to_dict(), "detection_dir": str(Path(detection_dir).resolve()),
                        "version": VISUAL_CACHE_VERSION})
    return Path(cache_dir) / f"visual_n{spec.num_boxes}_p{spec.num_points}_{key}"


class VisualCache(RecordingArrayCache):
    """Read access to a visual-vector cache folder (see the module docstring)."""

    kind = "visual"
    array_dir = "vectors"
    build_hint = "build it with build_visual_cache"

    def __init__(self, folder: str | Path, meta: dict[str, Any]):
        super().__init__(folder, meta)
        self.spec = VisualSpec.from_dict(meta["spec"])
        self.detection_dir = Path(meta["detection_dir"])

    def vector_path(self, rec: Recording) -> Path:
        """``vectors/<split_dir>/<name>.npy``."""
        return self.array_path(rec)

    def vectors(self, rec: Recording, num_frames: int | None = None) -> np.ndarray:
        """Vectors (T, 2, N, P) float32, memory-mapped; cropped / zero-padded to ``num_frames`` if given."""
        return self.array(rec, num_frames)

    def __repr__(self) -> str:
        return f"VisualCache({str(self.folder)!r}, {self.spec})"


def build_visual_cache(data_dir: str | Path, cache_dir: str | Path, spec: VisualSpec = VisualSpec(),
                       split: str | None = None, detection_dir: str | Path | None = None,
                       recordings: Iterable[Recording] | None = None, progress: bool = True) -> VisualCache:
    """Compute (or bring up to date) the vectors of every detection file of ``split`` (None = all).

    Detection files are read from ``detection_dir`` (default ``<data_dir>/detections_dev``). Resumable: files
    whose stamp matches are skipped; each output is written atomically. Per-recording errors do not stop the
    others; one InputError summarising them is raised at the end.
    """
    det_dir = Path(detection_dir) if detection_dir is not None else DatasetLayout(data_dir).detection_dir
    if not det_dir.is_dir():
        raise InputError(det_dir, "detection folder not found (run object_detection.py or synthesize_dataset.py)")
    folder = visual_cache_folder(cache_dir, spec, det_dir)
    meta = {"spec": spec.to_dict(), "detection_dir": str(det_dir.resolve()), "version": VISUAL_CACHE_VERSION}
    write_config(folder, meta)
    cache = VisualCache(folder, meta)
    recs = recordings if recordings is not None else list_recordings(det_dir, ".csv", split)

    def make(source: Path, out: Path) -> None:
        save_npy_atomic(out, recording_vectors(read_detections(source), spec))

    update_from_sources(cache, recs, lambda rec: det_dir / rec.split_dir / f"{rec.name}.csv", make,
                        "visual vectors", "rec", progress)
    return cache

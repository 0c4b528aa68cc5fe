"""Per-recording person-detection files, written by the synthetic dataset (simulated detections) and by
object_detection.py (real detectors), read by the visual front end.

Format (``detections_dev/<split>/<name>.csv``): a few ``# key: value`` header lines, then a CSV table:

```
# seld-detections: 1
# source: simulated            (or the detector backend, e.g. yolox-tiny, fasterrcnn_mobilenet_v3_large_fpn)
# video: video_dev/dev-train-sony/fold3_room21_mix001.mp4
# rate_hz: 10                  (detection frames per second; 10 = one per 100 ms label frame)
# num_frames: 600              (detection frames in the recording, including frames without boxes)
time_s,frame,x1,y1,x2,y2,score,label
0.000,0,0.41230,0.30110,0.45020,0.52000,0.8731,person
```
``frame`` is the detection-frame index, ``time_s = frame / rate_hz`` (the start time of label frame ``frame``
when rate_hz = 10). Boxes are in normalised image coordinates (x right, y down, both in [0, 1]) of the
equirectangular frame. Frames without detections have no rows.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from util.errors import InputError
from util.fileio import write_text_atomic

FORMAT_VERSION = "1"
COLUMNS = ("time_s", "frame", "x1", "y1", "x2", "y2", "score", "label")


@dataclass
class Detections:
    """All detections of one recording. ``boxes`` (K, 4) normalised xyxy, ``scores`` (K,), ``frames`` (K,)."""

    source: str
    rate_hz: float
    num_frames: int
    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    labels: list[str] = field(default_factory=list)
    video: str = ""

    @property
    def is_simulated(self) -> bool:
        return self.source == "simulated"

    def frame_boxes(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes and scores of one detection frame, sorted by descending score."""
        sel = np.flatnonzero(self.frames == frame)
        order = sel[np.argsort(-self.scores[sel], kind="stable")]
        return self.boxes[order], self.scores[order]


def write_detections(path: str | Path, det: Detections) -> None:
    """Write a detection file atomically."""
    out = io.StringIO()
    out.write(f"# seld-detections: {FORMAT_VERSION}\n# source: {det.source}\n# video: {det.video}\n")
    out.write(f"# rate_hz: {det.rate_hz:g}\n# num_frames: {det.num_frames}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    labels = det.labels or ["person"] * len(det.frames)
    for frame, box, score, label in zip(det.frames, det.boxes, det.scores, labels):
        writer.writerow([f"{frame / det.rate_hz:.3f}", int(frame), *(f"{v:.5f}" for v in box), f"{score:.4f}", label])
    write_text_atomic(path, out.getvalue())


def read_detections(path: str | Path) -> Detections:
    """Read a detection file; raises InputError naming the file and line on malformed content."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "detection file not found (run object_detection.py or synthesize_dataset.py)")
    header: dict[str, str] = {}
    rows: list[list[str]] = []
    with path.open() as f:
        lines = f.read().splitlines()
    table_start = None
    for i, line in enumerate(lines):
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            header[key.strip()] = value.strip()
        else:
            table_start = i
            break
    if "seld-detections" not in header:
        raise InputError(path, "not a detection file (missing '# seld-detections' header)")
    try:
        rate_hz = float(header["rate_hz"])
        num_frames = int(header["num_frames"])
    except (KeyError, ValueError) as exc:
        raise InputError(path, f"bad or missing header field ({exc})") from exc
    if table_start is not None:
        if tuple(lines[table_start].split(",")) != COLUMNS:
            raise InputError(path, f"line {table_start + 1}: expected columns {','.join(COLUMNS)}")
        for lineno, line in enumerate(lines[table_start + 1:], start=table_start + 2):
            if not line.strip():
                continue
            parts = line.split(",")
            if len(parts) != len(COLUMNS):
                raise InputError(path, f"line {lineno}: expected {len(COLUMNS)} values, found {len(parts)}")
            rows.append(parts)
    try:
        frames = np.array([int(r[1]) for r in rows], dtype=np.int64)
        boxes = np.array([[float(v) for v in r[2:6]] for r in rows], dtype=np.float32).reshape(-1, 4)
        scores = np.array([float(r[6]) for r in rows], dtype=np.float32)
    except ValueError as exc:
        raise InputError(path, f"non-numeric value in detection table ({exc})") from exc
    return Detections(
        source=header.get("source", ""), rate_hz=rate_hz, num_frames=num_frames, frames=frames, boxes=boxes,
        scores=scores, labels=[r[7] for r in rows], video=header.get("video", ""),
    )

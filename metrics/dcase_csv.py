"""DCASE CSV reading and writing (references and predictions), in one module.

Internally every row is an :class:`Event`: angles in degrees, distance in metres (``None`` when absent).
Reference files: ``frame,class,source,azimuth,elevation[,distance_cm]`` (STARSS22: 5 columns, STARSS23: 6).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from util.errors import InputError
from util.fileio import write_text_atomic


@dataclass(frozen=True)
class Event:
    """One active sound event instance in one 100 ms label frame."""

    frame: int
    cls: int
    track: int
    azimuth: float
    elevation: float
    distance: float | None = None  # metres


def read_reference_csv(path: str | Path) -> list[Event]:
    """Read a 5- or 6-column reference CSV (distance in cm in the 6th column) as events."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    events = []
    with path.open(newline="") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) not in (5, 6):
                raise InputError(path, f"line {lineno}: expected 5 or 6 columns, found {len(row)}")
            try:
                frame, cls, track = (int(float(v)) for v in row[:3])
                az, el = float(row[3]), float(row[4])
                dist = float(row[5]) / 100.0 if len(row) == 6 else None
            except ValueError as exc:
                raise InputError(path, f"line {lineno}: non-numeric value ({exc})") from exc
            events.append(Event(frame, cls, track, az, el, dist))
    return events


def write_reference_csv(path: str | Path, rows: Iterable[Event]) -> None:
    """Write events as a reference CSV atomically, sorted by frame, class and track; angles and distances (cm)
    are rounded to integers as in STARSS23, and the distance column is written only when every event has one."""
    rows = sorted(rows, key=lambda e: (e.frame, e.cls, e.track))
    with_distance = bool(rows) and all(e.distance is not None for e in rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for e in rows:
        row = [int(e.frame), int(e.cls), int(e.track), int(round(e.azimuth)), int(round(e.elevation))]
        if with_distance:
            row.append(int(round(e.distance * 100.0)))
        writer.writerow(row)
    write_text_atomic(path, out.getvalue())

"""DCASE CSV reading and writing (references and predictions), in one module.

Internally every row is an :class:`Event`: angles in degrees, distance in metres (``None`` when absent).
Rows keep their file order (the official scorer's per-frame instance order). Frames are 100 ms label frames.

Reference files (``metadata_dev/<split>/<name>.csv``), read by :func:`read_reference_csv`:

- 5 columns ``frame,class,source,azimuth,elevation`` (STARSS22)
- 6 columns ``frame,class,source,azimuth,elevation,distance_cm`` (STARSS23; distance in **centimetres**)

Prediction files, read by :func:`read_prediction_csv` (column count decides, per row):

- 4 columns ``frame,class,azimuth,elevation`` (DCASE submission format; track 0)
- 5 columns ``frame,class,track,azimuth,elevation``
- 6 columns ``frame,class,track,azimuth,elevation,distance_m`` (distance in **metres**, DCASE2024 convention)
- 7 columns ``frame,class,track,x,y,z,distance_m`` (Cartesian direction of any length; distance in metres)

Both readers skip an optional header row (a first row whose first field is not a number) and empty lines;
any other malformed row raises :class:`util.errors.InputError` naming the file and line: a wrong column count,
a non-numeric field, a negative frame, a class outside 0..12, an azimuth outside [-180, 180] or an elevation
outside [-90, 90] degrees (NaN and inf included), a negative or non-finite distance.

Every row is kept, duplicates included, in file order, as the official loaders keep them. The 7-column
Cartesian direction becomes azimuth / elevation with the official scorers' arithmetic
(:func:`metrics.directions.cartesian_to_polar_deg`), so the angles match theirs bit for bit.

The project's prediction output (:func:`write_prediction_csv`) is 5-column polar ``frame,class,track,az,el``,
or 6-column with distance in metres when every event has one. The DCASE2024 scorer reads both as polar; the
STARSS23 AV baseline's scorer reads the 6-column files but skips 5-column rows, and the DCASE2023 audio-only
scorer wants 7-column Cartesian predictions (see docs/METRICS.md).
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from metrics.directions import cartesian_to_polar_deg
from util.conventions import NUM_CLASSES
from util.errors import InputError
from util.fileio import write_text_atomic

#: Column counts accepted in reference and prediction files.
REFERENCE_COLUMNS: tuple[int, ...] = (5, 6)
PREDICTION_COLUMNS: tuple[int, ...] = (4, 5, 6, 7)
#: Decimals written for angles (degrees) and distances (metres) in prediction files.
PREDICTION_DECIMALS: int = 3
#: Centimetres per metre (reference distance column).
CM_PER_M: float = 100.0
#: Accepted azimuth and elevation ranges of polar rows (degrees, inclusive); other values raise InputError.
AZIMUTH_RANGE: tuple[float, float] = (-180.0, 180.0)
ELEVATION_RANGE: tuple[float, float] = (-90.0, 90.0)


@dataclass(frozen=True)
class Event:
    """One active sound event instance in one 100 ms label frame."""

    frame: int
    cls: int
    track: int
    azimuth: float
    elevation: float
    distance: float | None = None  # metres


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_int(text: str, what: str) -> int:
    value = float(text)
    if not value.is_integer():
        raise ValueError(f"{what} {text!r} is not an integer")
    return int(value)


def _parse_row(row: list[str], kind: str) -> Event:
    """One CSV row as an Event; ``kind`` is ``reference`` or ``prediction``. Raises ValueError when malformed."""
    n = len(row)
    allowed = REFERENCE_COLUMNS if kind == "reference" else PREDICTION_COLUMNS
    if n not in allowed:
        raise ValueError(f"expected {' or '.join(map(str, allowed))} columns for a {kind}, found {n}")
    for v in row:
        if not _is_number(v):
            raise ValueError(f"non-numeric value {v.strip()!r}")
    frame = _parse_int(row[0], "frame")
    cls = _parse_int(row[1], "class")
    if frame < 0:
        raise ValueError(f"negative frame {frame}")
    if not 0 <= cls < NUM_CLASSES:
        raise ValueError(f"class {cls} outside 0..{NUM_CLASSES - 1}")
    if kind == "prediction" and n == 4:
        return Event(frame, cls, 0, *_direction(float(row[2]), float(row[3])))
    track = _parse_int(row[2], "track")
    if kind == "prediction" and n == 7:
        xyz = [float(v) for v in row[3:6]]
        if not all(math.isfinite(v) for v in xyz):
            raise ValueError(f"non-finite direction {', '.join(v.strip() for v in row[3:6])}")
        az, el = cartesian_to_polar_deg(*xyz)
        return Event(frame, cls, track, az, el, _distance(float(row[6])))
    az, el = _direction(float(row[3]), float(row[4]))
    dist = None
    if n == 6:
        dist = _distance(float(row[5]) / CM_PER_M if kind == "reference" else float(row[5]))
    return Event(frame, cls, track, az, el, dist)


def _direction(azimuth: float, elevation: float) -> tuple[float, float]:
    """A polar direction checked against the DCASE ranges (NaN fails too)."""
    if not AZIMUTH_RANGE[0] <= azimuth <= AZIMUTH_RANGE[1]:
        raise ValueError(f"azimuth {azimuth:g} outside [{AZIMUTH_RANGE[0]:g}, {AZIMUTH_RANGE[1]:g}] degrees")
    if not ELEVATION_RANGE[0] <= elevation <= ELEVATION_RANGE[1]:
        raise ValueError(f"elevation {elevation:g} outside [{ELEVATION_RANGE[0]:g}, {ELEVATION_RANGE[1]:g}] degrees")
    return azimuth, elevation


def _distance(distance: float) -> float:
    if not (math.isfinite(distance) and distance >= 0):
        raise ValueError(f"distance {distance:g} is not a finite non-negative number")
    return distance


def _read_events(path: str | Path, kind: str) -> list[Event]:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    events: list[Event] = []
    first = True
    try:
        with path.open(newline="") as f:
            for lineno, row in enumerate(csv.reader(f), start=1):
                if not row or not "".join(row).strip():
                    continue
                if first and not _is_number(row[0]):
                    first = False
                    continue  # header row
                first = False
                try:
                    events.append(_parse_row(row, kind))
                except ValueError as exc:
                    raise InputError(path, f"line {lineno}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not a text CSV file ({exc.reason})") from None
    return events


def read_reference_csv(path: str | Path) -> list[Event]:
    """Read a 5- or 6-column reference CSV (distance in cm in the 6th column) as events (distance in metres)."""
    return _read_events(path, "reference")


def read_prediction_csv(path: str | Path) -> list[Event]:
    """Read a 4-, 5-, 6- or 7-column prediction CSV (see the module docstring) as events (distance in metres)."""
    return _read_events(path, "prediction")


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
            row.append(int(round(e.distance * CM_PER_M)))
        writer.writerow(row)
    write_text_atomic(path, out.getvalue())


def prediction_csv_text(rows: Iterable[Event]) -> str:
    """Events as prediction CSV text: ``frame,class,track,azimuth,elevation[,distance_m]`` sorted by frame,
    class and track; the distance column appears only when every event has a distance."""
    rows = sorted(rows, key=lambda e: (e.frame, e.cls, e.track))
    with_distance = bool(rows) and all(e.distance is not None for e in rows)
    fmt = f"{{:.{PREDICTION_DECIMALS}f}}"
    lines = []
    for e in rows:
        fields = [str(int(e.frame)), str(int(e.cls)), str(int(e.track)), fmt.format(e.azimuth), fmt.format(e.elevation)]
        if with_distance:
            fields.append(fmt.format(e.distance))
        lines.append(",".join(fields))
    return "".join(line + "\n" for line in lines)


def write_prediction_csv(path: str | Path, rows: Iterable[Event]) -> None:
    """Write events as a prediction CSV atomically (format of :func:`prediction_csv_text`)."""
    write_text_atomic(path, prediction_csv_text(rows))

"""DCASE CSV reading and writing (references and predictions), in one module."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from util.fileio import write_text_atomic


def write_reference_csv(path: str | Path, rows: Iterable[tuple[int, int, int, float, float, float | None]]) -> None:
    """Write reference rows ``(frame, class, source, azimuth, elevation, distance_cm | None)`` atomically,
    sorted by frame, class and source; angles and distances are rounded to integers as in STARSS23, and the
    distance column is written only when every row has one."""
    rows = sorted(rows, key=lambda r: (r[0], r[1], r[2]))
    with_distance = bool(rows) and all(r[5] is not None for r in rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for frame, cls, source, az, el, dist in rows:
        row = [int(frame), int(cls), int(source), int(round(az)), int(round(el))]
        if with_distance:
            row.append(int(round(dist)))
        writer.writerow(row)
    write_text_atomic(path, out.getvalue())

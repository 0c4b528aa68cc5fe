"""Shared pieces of the SELD metrics: events -> unit vectors grouped by frame and class, angle matrices and the
Hungarian assignment (scipy ``linear_sum_assignment`` on great-circle angles in degrees, as the official scorer)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from metrics.dcase_csv import Event
from util.geometry import angle_between_vectors_deg, sph_to_cart

#: One instance in a frame: unit direction vector (x, y, z) and distance in metres (None when absent).
Instance = tuple[tuple[float, float, float], float | None]
#: frame -> class -> instances in file order.
FrameClassMap = dict[int, dict[int, list[Instance]]]


def group_by_frame_class(events: Sequence[Event], n_frames: int | None = None) -> FrameClassMap:
    """Group events by frame and class, converting directions to unit vectors; instances keep their order in
    ``events``. Frames ``>= n_frames`` are dropped when ``n_frames`` is given."""
    if not events:
        return {}
    xyz = sph_to_cart([e.azimuth for e in events], [e.elevation for e in events])
    out: FrameClassMap = {}
    for e, v in zip(events, xyz.tolist()):
        if n_frames is not None and e.frame >= n_frames:
            continue
        out.setdefault(e.frame, {}).setdefault(e.cls, []).append(((v[0], v[1], v[2]), e.distance))
    return out


def match_directions(ref: Sequence[tuple[float, float, float]],
                     pred: Sequence[tuple[float, float, float]]) -> tuple[list[int], list[int], list[float]]:
    """Hungarian assignment of reference to predicted unit vectors minimising the total great-circle angle.

    Returns matched reference indices, predicted indices and their angles in degrees (min(len(ref), len(pred))
    pairs, in increasing reference index)."""
    if len(ref) == 1 and len(pred) == 1:  # the common case, without numpy overhead
        a, b = ref[0], pred[0]
        dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
        return [0], [0], [math.degrees(math.acos(max(-1.0, min(1.0, dot))))]
    r = np.asarray(ref, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    cost = angle_between_vectors_deg(r[:, None, :], p[None, :, :])
    rows, cols = linear_sum_assignment(cost)
    return rows.tolist(), cols.tolist(), cost[rows, cols].tolist()


def last_reference_frame(events: Sequence[Event]) -> int:
    """The reference length as the official scorer takes it: the largest annotated frame index (not + 1);
    0 for an empty reference."""
    return max((e.frame for e in events), default=0)

"""Shared pieces of the SELD metrics: events grouped by frame and class, and the Hungarian association of
reference and predicted instances as the official scorers do it.

Every row is kept (duplicated rows included, as the official loaders keep them), in file order within its
frame and class: that order is the row / column order of the cost matrix handed to scipy's
``linear_sum_assignment``, so exact ties go where they go officially. Cost matrices hold the official angle
arithmetic of :mod:`metrics.directions`; all the pairs of a recording are computed in one vectorised pass.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from metrics.dcase_csv import Event
from metrics.directions import direction_table, pair_angles

#: frame -> class -> indices into the event list (file order).
FrameClassRows = dict[int, dict[int, list[int]]]
#: One association: matched reference positions, matched prediction positions (within the frame's rows of
#: that class) and their angles in degrees, in increasing reference position.
Match = tuple[list[int], list[int], np.ndarray]


def group_rows(events: Sequence[Event], n_frames: int | None = None) -> FrameClassRows:
    """Indices of ``events`` grouped by frame and class in file order; frames ``>= n_frames`` are dropped when
    ``n_frames`` is given."""
    out: FrameClassRows = {}
    for i, e in enumerate(events):
        if n_frames is not None and e.frame >= n_frames:
            continue
        out.setdefault(e.frame, {}).setdefault(e.cls, []).append(i)
    return out


def directions(events: Sequence[Event], form: str) -> np.ndarray:
    """The :func:`metrics.directions.direction_table` of ``events`` (one row per event)."""
    if not events:
        return np.zeros((0, 2 if form == "polar" else 3))
    return direction_table([e.azimuth for e in events], [e.elevation for e in events], form)


def match_groups(ref_dirs: np.ndarray, pred_dirs: np.ndarray, groups: Sequence[tuple[list[int], list[int]]],
                 form: str) -> list[Match]:
    """Hungarian association of each group ``(reference indices, prediction indices)`` on the official angle
    cost matrix (rows: references, columns: predictions, both in the given order)."""
    if not groups:
        return []
    sizes = [(len(r), len(p)) for r, p in groups]
    ri = np.concatenate([np.repeat(np.asarray(r, dtype=np.intp), len(p)) for r, p in groups])
    pj = np.concatenate([np.tile(np.asarray(p, dtype=np.intp), len(r)) for r, p in groups])
    flat = pair_angles(ref_dirs[ri], pred_dirs[pj], form)
    out: list[Match] = []
    start = 0
    for n_r, n_p in sizes:
        cost = flat[start:start + n_r * n_p].reshape(n_r, n_p)
        start += n_r * n_p
        if n_r == 1 and n_p == 1:
            out.append(([0], [0], cost[0]))
            continue
        rows, cols = linear_sum_assignment(cost)
        out.append((rows.tolist(), cols.tolist(), cost[rows, cols]))
    return out


def last_reference_frame(events: Sequence[Event]) -> int:
    """The reference length as the official scorer takes it: the largest annotated frame index (not + 1);
    0 for an empty reference."""
    return max((e.frame for e in events), default=0)

"""DCASE events <-> Multi-ACCDOA ADPIT training targets.

Targets are float32 ``(T_label, 6, 5, 13)``: 100 ms label frames, 6 dummy tracks in the order
``A0, B0, B1, C0, C1, C2``, 5 values ``[activity, x, y, z, distance_m]`` (util.conventions.ADPIT_TARGET_FIELDS;
unit direction vector; distance 0 when the CSV has none), 13 classes.
In each frame, the instances of one class, ordered by source index, fill: 1 instance -> A0; 2 -> B0, B1;
3 or more -> C0, C1, C2 (instances beyond the third are dropped, as in the DCASE baseline).
``T_label = ceil(duration / 0.1 s)``; events in frames beyond it are dropped.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from metrics.dcase_csv import Event, read_reference_csv
from util.conventions import ADPIT_GROUPS, ADPIT_TARGET_FIELDS, NUM_ADPIT_TRACKS, NUM_CLASSES, NUM_TRACKS
from util.errors import InputError
from util.geometry import cart_to_sph, sph_to_cart

NUM_TARGET_FIELDS: int = len(ADPIT_TARGET_FIELDS)


def adpit_shape(num_label_frames: int) -> tuple[int, int, int, int]:
    """Shape of the targets of a recording with ``num_label_frames`` label frames."""
    return num_label_frames, NUM_ADPIT_TRACKS, NUM_TARGET_FIELDS, NUM_CLASSES


def events_to_adpit(events: Iterable[Event], num_label_frames: int | None = None) -> np.ndarray:
    """ADPIT targets (T_label, 6, 5, 13) of events; ``num_label_frames`` defaults to the last event frame + 1."""
    by_frame_class: dict[tuple[int, int], list[Event]] = defaultdict(list)
    for e in events:
        if not 0 <= e.cls < NUM_CLASSES:
            raise ValueError(f"class index {e.cls} outside [0, {NUM_CLASSES})")
        by_frame_class[(e.frame, e.cls)].append(e)
    if num_label_frames is None:
        num_label_frames = max((f for f, _ in by_frame_class), default=-1) + 1
    targets = np.zeros(adpit_shape(num_label_frames), dtype=np.float32)
    for (frame, cls), group in by_frame_class.items():
        if not 0 <= frame < num_label_frames:
            continue
        group = sorted(group, key=lambda e: e.track)[:NUM_TRACKS]
        slots = ADPIT_GROUPS[len(group) - 1]
        xyz = sph_to_cart([e.azimuth for e in group], [e.elevation for e in group])
        for slot, e, v in zip(slots, group, xyz):
            targets[frame, slot, :, cls] = (1.0, v[0], v[1], v[2], e.distance or 0.0)
    return targets


def adpit_instance_counts(targets: np.ndarray) -> np.ndarray:
    """Active instances (0-3) per frame and class of ADPIT targets (T, 6, 5, C) -> (T, C) int."""
    counts = np.zeros((targets.shape[0], targets.shape[3]), dtype=np.int64)
    for n, group in enumerate(ADPIT_GROUPS, start=1):
        counts[targets[:, group[0], 0] > 0] = n
    return counts


def merge_adpit(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """ADPIT targets (T, 6, 5, C) of two scenes played together: per frame and class, ``first``'s instances then
    ``second``'s fill the group of their total count (more than three: the first three are kept)."""
    out = np.zeros_like(first)
    count_a, count_b = adpit_instance_counts(first), adpit_instance_counts(second)
    for na in range(NUM_TRACKS + 1):
        for nb in range(NUM_TRACKS + 1):
            total = min(na + nb, NUM_TRACKS)
            mask = (count_a == na) & (count_b == nb)
            if total == 0 or not mask.any():
                continue
            t, c = np.nonzero(mask)
            sources = [(first, slot) for slot in (ADPIT_GROUPS[na - 1] if na else ())] + \
                      [(second, slot) for slot in (ADPIT_GROUPS[nb - 1] if nb else ())]
            for out_slot, (src, slot) in zip(ADPIT_GROUPS[total - 1], sources):
                out[t, out_slot, :, c] = src[t, slot, :, c]
    return out


def read_adpit_targets(csv_path: str | Path, num_label_frames: int | None = None) -> np.ndarray:
    """ADPIT targets of a DCASE reference CSV (InputError naming the file on bad content)."""
    events = read_reference_csv(csv_path)
    try:
        return events_to_adpit(events, num_label_frames)
    except ValueError as exc:
        raise InputError(csv_path, str(exc)) from exc


def adpit_to_events(targets: np.ndarray, threshold: float = 0.5) -> list[Event]:
    """Events of ADPIT targets (T_label, 6, 5, 13): a slot is active when its activity exceeds ``threshold``.

    ``track`` is the instance's rank within its class and frame (0, 1, 2), i.e. the order of source indices;
    distance is None where the target holds 0.
    """
    targets = np.asarray(targets)
    if targets.ndim != 4 or targets.shape[1:] != adpit_shape(0)[1:]:
        raise ValueError(f"ADPIT targets must be (T, {NUM_ADPIT_TRACKS}, {NUM_TARGET_FIELDS}, {NUM_CLASSES}), "
                         f"got {targets.shape}")
    events = []
    frames, slots, classes = np.nonzero(targets[:, :, 0, :] > threshold)
    rank = {slot: i for group in ADPIT_GROUPS for i, slot in enumerate(group)}
    for t, s, c in zip(frames.tolist(), slots.tolist(), classes.tolist()):
        x, y, z, dist = targets[t, s, 1:, c].tolist()
        az, el = cart_to_sph([x, y, z])
        events.append(Event(t, c, rank[s], float(az), float(el), float(dist) if dist > 0 else None))
    return sorted(events, key=lambda e: (e.frame, e.cls, e.track))

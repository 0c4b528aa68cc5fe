"""DCASE events <-> Multi-ACCDOA ADPIT training targets.

Targets are float32 ``(T_label, 6, 5, 13)``: 100 ms label frames, 6 dummy tracks in the order
``A0, B0, B1, C0, C1, C2``, 5 values ``[activity, x, y, z, distance_m]`` (util.conventions.ADPIT_TARGET_FIELDS;
unit direction vector; distance 0 when the CSV has none), 13 classes.
In each frame, the instances of one class fill: 1 instance -> A0; 2 -> B0, B1; 3 or more -> C0, C1, C2
(instances beyond the third are dropped), in the order the official AV baseline's get_label gives them: the
frame's rows in CSV order, sorted by class with ``np.argsort`` (numpy's default, unstable kind). That is the CSV
row order for small frames on most builds, but numpy's SIMD sorts (x86 AVX2 / AVX-512) may reorder rows of one
class, and then so did the official code: equal to its golden labels (4 instances of one class in a frame),
tests/test_parity_official.py.
``T_label = ceil(duration / 0.1 s)``; events in frames beyond it are dropped.

:func:`window_label_index` maps the frames of a training window to label frames: the true label frame of each
frame, or (``official_offset``) the official get_label's truncated sub-frame offset (an official quirk, config
``data.official_label_offset``).
"""
from __future__ import annotations

import math
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
    by_frame: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        if not 0 <= e.cls < NUM_CLASSES:
            raise ValueError(f"class index {e.cls} outside [0, {NUM_CLASSES})")
        by_frame[e.frame].append(e)
    by_frame_class: dict[tuple[int, int], list[Event]] = defaultdict(list)
    for frame, rows in by_frame.items():
        for i in np.argsort(np.array([e.cls for e in rows], dtype=np.int64)):  # as the official get_label
            by_frame_class[(frame, rows[i].cls)].append(rows[i])
    if num_label_frames is None:
        num_label_frames = max((f for f, _ in by_frame_class), default=-1) + 1
    targets = np.zeros(adpit_shape(num_label_frames), dtype=np.float32)
    for (frame, cls), group in by_frame_class.items():
        if not 0 <= frame < num_label_frames:
            continue
        group = group[:NUM_TRACKS]
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

    ``track`` is the instance's rank within its class and frame (0, 1, 2), i.e. its dummy track in the group;
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


def window_label_index(start: int, frames: np.ndarray, frames_per_label: int, hop_length: int, sample_rate: int,
                       window_s: float, official_offset: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Label frame of each feature frame ``start + frames`` of a window, and whether it has a label.

    Default: label frame ``(start + f) // frames_per_label`` (always labelled; frames outside the recording are
    the caller's to mask). ``official_offset`` reproduces the official get_label for windows starting at
    ``start_sec = start * hop_length / sample_rate`` (official quirk): the offset inside the first label frame is
    ``int(frac(start_sec * 10) * frames_per_label)``, computed in floating point, so it truncates (a true offset
    of 3 frames can give 2: the labels of a window one frame earlier); only the label frames
    ``floor(start_sec * 10) .. ceil((start_sec + window_s) * 10) - 1`` are filled, later frames get none.
    ``window_s`` is the official crop length ((window frames - 1) x hop: 1.27 s for 128 frames of 10 ms).
    Windows starting before 0 always use the default rule."""
    frames = np.asarray(frames, dtype=np.int64)
    if not official_offset or start < 0:
        return (start + frames) // frames_per_label, np.ones(frames.shape, dtype=bool)
    start_sec = start * hop_length / sample_rate  # as the official start_sample / fs (same float rounding)
    first = int(np.floor(start_sec * 10))
    offset = int(math.modf(start_sec * 10)[0] * frames_per_label)
    filled = int(np.ceil((start_sec + window_s) * 10)) - first
    wide = offset + frames
    return first + wide // frames_per_label, wide < filled * frames_per_label


def window_targets(labels: np.ndarray, start: int, window_frames: int, output_hop: int, frames_per_label: int,
                   hop_length: int, sample_rate: int, official_offset: bool = False) -> np.ndarray:
    """ADPIT targets (window_frames / output_hop, 6, 5, C) of a window starting at feature frame ``start``
    (any frame, not only label-frame starts) from a recording's targets (T_label, 6, 5, C): output frame j takes
    the label frame of feature frame ``start + j * output_hop`` (:func:`window_label_index`); zeros outside the
    recording."""
    frames = np.arange(0, window_frames, output_hop)
    window_s = (window_frames - 1) * hop_length / sample_rate
    idx, labelled = window_label_index(start, frames, frames_per_label, hop_length, sample_rate, window_s,
                                       official_offset)
    valid = labelled & (idx >= 0) & (idx < labels.shape[0])
    target = np.zeros((len(idx), *labels.shape[1:]), dtype=np.float32)
    target[valid] = labels[idx[valid]]
    return target

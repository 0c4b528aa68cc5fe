"""Scene scripts: which sound events happen when, where, and how far away.

A scene is a list of :class:`SceneEvent` s, each one contiguous run of 100 ms label frames of one class and
source index, with a direction and a distance per frame. Scenes are scripted from real STARSS22 annotations
(their timing, polyphony, same-class overlaps and trajectories; clipped or tiled to the clip's length) or
generated at random with comparable statistics.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from metrics.dcase_csv import Event, read_reference_csv
from util.conventions import LABEL_FPS, NUM_CLASSES
from util.geometry import wrap_azimuth

#: Typical event durations (s) per class for random scenes: (median, spread factor of a log-normal).
RANDOM_DURATION_S: dict[int, tuple[float, float]] = {
    0: (3.0, 1.8), 1: (3.0, 1.8), 2: (2.5, 1.5), 3: (4.0, 1.5), 4: (1.8, 1.5), 5: (3.0, 2.0), 6: (3.0, 1.6),
    7: (1.5, 1.4), 8: (10.0, 1.8), 9: (6.0, 1.8), 10: (4.0, 1.7), 11: (2.5, 1.5), 12: (1.2, 1.4),
}
#: Annotation windows: redraws of the window start until at least this fraction of its frames is active.
WINDOW_TRIES = 8
MIN_ACTIVE_FRACTION = 0.3
#: Elevation range (deg) of random sources.
RANDOM_ELEVATION_DEG = (-40.0, 50.0)
#: Angular speed range (deg/s) of random moving sources.
RANDOM_SPEED_DEG_S = (8.0, 40.0)


@dataclass
class SceneEvent:
    """One event: class ``cls``, source index ``source``, active from ``start_frame`` for ``len(azimuth)`` frames.
    ``azimuth``, ``elevation`` (deg) and ``distance`` (m) are per-frame arrays."""

    cls: int
    source: int
    start_frame: int
    azimuth: np.ndarray
    elevation: np.ndarray
    distance: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.azimuth)

    @property
    def end_frame(self) -> int:
        """One past the last active frame."""
        return self.start_frame + self.num_frames

    @property
    def is_moving(self) -> bool:
        return bool(np.ptp(self.azimuth) > 1.0 or np.ptp(self.elevation) > 1.0)


@dataclass
class Scene:
    """A clip's script: ``num_frames`` label frames, the events, and where the script came from."""

    num_frames: int
    events: list[SceneEvent]
    script: str = "random"

    def reference_events(self) -> list[Event]:
        """The metadata rows of this scene (one per event per active frame), distances in metres."""
        rows = []
        for ev in self.events:
            for i in range(ev.num_frames):
                rows.append(Event(ev.start_frame + i, ev.cls, ev.source, float(ev.azimuth[i]),
                                  float(ev.elevation[i]), float(ev.distance[i])))
        return rows

    def polyphony(self) -> np.ndarray:
        """Number of active events per label frame, (num_frames,)."""
        count = np.zeros(self.num_frames, dtype=np.int64)
        for ev in self.events:
            count[ev.start_frame:ev.end_frame] += 1
        return count


def _draw_distances(start: float, n: int, moving: bool, rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    """Per-frame distances: constant for static sources, a slow linear drift within [lo, hi] for moving ones."""
    if not moving or n < 2:
        return np.full(n, start)
    end = float(np.clip(start + rng.uniform(-0.5, 0.5), lo, hi))
    return np.linspace(start, end, n)


def source_runs(rows: list[Event]) -> list[tuple[tuple[int, int], list[Event]]]:
    """Annotation rows grouped into runs: contiguous frames of one (class, source index), keys sorted, runs of a
    key in time order. Duplicate frames of one key (annotation glitches) keep their first row."""
    by_key: dict[tuple[int, int], list[Event]] = defaultdict(list)
    for r in rows:
        by_key[(r.cls, r.track)].append(r)
    runs = []
    for key in sorted(by_key):
        seq = sorted(by_key[key], key=lambda e: e.frame)
        frames = np.array([e.frame for e in seq])
        keep = np.concatenate([[True], np.diff(frames) > 0])
        seq = [e for e, k in zip(seq, keep) if k]
        breaks = np.flatnonzero(np.diff(frames[keep]) > 1) + 1
        runs += [(key, [seq[i] for i in part]) for part in np.split(np.arange(len(seq)), breaks)]
    return runs


def events_from_rows(rows: list[Event], rng: np.random.Generator, min_distance_m: float,
                     max_distance_m: float) -> list[SceneEvent]:
    """Group annotation rows into events (:func:`source_runs`) and draw distances (one base distance per
    class/source, uniform in [min, max] m) where the rows have none."""
    runs = source_runs(rows)
    base = {key: rng.uniform(min_distance_m, max_distance_m) for key in sorted({key for key, _ in runs})}
    events = []
    for key, run in runs:
        az = np.array([e.azimuth for e in run], dtype=np.float64)
        el = np.array([e.elevation for e in run], dtype=np.float64)
        if all(e.distance is not None for e in run):
            dist = np.array([e.distance for e in run], dtype=np.float64)
        else:
            moving = bool(np.ptp(az) > 1.0 or np.ptp(el) > 1.0)
            dist = _draw_distances(base[key], len(run), moving, rng, min_distance_m, max_distance_m)
        events.append(SceneEvent(key[0], key[1], run[0].frame, az, el, dist))
    events.sort(key=lambda e: (e.start_frame, e.cls, e.source))
    return events


def choose_window(rows: list[Event], num_frames: int, rng: np.random.Generator) -> int:
    """Start frame of a random ``num_frames`` window of annotation ``rows`` (0 when the file is shorter and will
    be tiled); a few redraws avoid (nearly) silent windows of short clips."""
    length = (max(r.frame for r in rows) + 1) if rows else num_frames
    if length <= num_frames:
        return 0
    best, best_active = 0, -1
    for _ in range(WINDOW_TRIES):
        start = int(rng.integers(0, length - num_frames + 1))
        active = len({r.frame for r in rows if start <= r.frame < start + num_frames})
        if active > best_active:
            best, best_active = start, active
        if best_active >= MIN_ACTIVE_FRACTION * num_frames:
            break
    return best


def script_rows(rows: list[Event], num_frames: int, window_start: int = 0, rotation_deg: float = 0.0,
                class_map: tuple[int, ...] | None = None) -> list[Event]:
    """The annotation ``rows`` a clip of ``num_frames`` frames plays: the window from ``window_start`` (or the
    file tiled end to end when it is shorter), azimuths rotated by ``rotation_deg``, classes mapped by
    ``class_map`` (source class -> clip class)."""
    length = (max(r.frame for r in rows) + 1) if rows else num_frames
    if length > num_frames:
        shifted = [replace(r, frame=r.frame - window_start) for r in rows
                   if window_start <= r.frame < window_start + num_frames]
    else:
        shifted = [replace(r, frame=r.frame + k * length) for k in range(int(np.ceil(num_frames / length)))
                   for r in rows if r.frame + k * length < num_frames]
    if rotation_deg:
        shifted = [replace(r, azimuth=float(np.round(wrap_azimuth(r.azimuth + rotation_deg)))) for r in shifted]
    if class_map is not None:
        shifted = [replace(r, cls=int(class_map[r.cls])) for r in shifted]
    return shifted


def class_frame_counts(rows: list[Event]) -> np.ndarray:
    """Active frames per class (distinct frames in which the class occurs) of annotation rows."""
    return np.bincount([c for c, _ in {(r.cls, r.frame) for r in rows}], minlength=NUM_CLASSES)


def class_event_counts(rows: list[Event]) -> np.ndarray:
    """Events per class of annotation rows: runs of :func:`source_runs` (each becomes one synthesised sound)."""
    return np.bincount([key[0] for key, _ in source_runs(rows)], minlength=NUM_CLASSES)


def scene_from_annotation(path: str | Path, num_frames: int, rng: np.random.Generator, rotation_deg: float = 0.0,
                          min_distance_m: float = 1.0, max_distance_m: float = 4.0, window_start: int | None = None,
                          class_map: tuple[int, ...] | None = None) -> Scene:
    """Script a scene of ``num_frames`` label frames from a real annotation file: see :func:`script_rows`
    (the window is drawn with ``rng`` when ``window_start`` is None)."""
    rows = read_reference_csv(path)
    if window_start is None:
        window_start = choose_window(rows, num_frames, rng)
    shifted = script_rows(rows, num_frames, window_start, rotation_deg, class_map)
    events = events_from_rows(shifted, rng, min_distance_m, max_distance_m)
    return Scene(num_frames, events, script=Path(path).as_posix())


def random_trajectory(n: int, moving: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (azimuth, elevation) in degrees: fixed, or a smooth arc at constant angular speed."""
    az0 = rng.uniform(-180.0, 180.0)
    el0 = rng.uniform(*RANDOM_ELEVATION_DEG)
    if not moving:
        return np.full(n, np.round(az0)), np.full(n, np.round(el0))
    t = np.arange(n) / LABEL_FPS
    speed = rng.uniform(*RANDOM_SPEED_DEG_S) * rng.choice([-1.0, 1.0])
    az = wrap_azimuth(az0 + speed * t)
    el = np.clip(el0 + rng.uniform(5.0, 15.0) * np.sin(2 * np.pi * t / rng.uniform(4.0, 10.0)), -80.0, 80.0)
    return np.round(az), np.round(el)


def random_scene(num_frames: int, rng: np.random.Generator, max_polyphony: int = 3, moving_fraction: float = 0.4,
                 min_distance_m: float = 1.0, max_distance_m: float = 4.0, occupancy: float = 1.2) -> Scene:
    """A random scene: events of random classes and durations placed until the mean polyphony reaches about
    ``occupancy``, never more than ``max_polyphony`` at once (same-class overlaps allowed)."""
    count = np.zeros(num_frames, dtype=np.int64)
    events: list[SceneEvent] = []
    next_source = np.zeros(NUM_CLASSES, dtype=np.int64)
    target = occupancy * num_frames
    for _ in range(50 * max(1, num_frames // LABEL_FPS)):
        if count.sum() >= target:
            break
        cls = int(rng.integers(NUM_CLASSES))
        median, spread = RANDOM_DURATION_S[cls]
        n = int(np.clip(round(median * spread ** rng.standard_normal() * LABEL_FPS), 3, num_frames))
        start = int(rng.integers(0, num_frames - n + 1))
        if count[start:start + n].max() >= max_polyphony:
            continue
        moving = bool(rng.random() < moving_fraction)
        az, el = random_trajectory(n, moving, rng)
        dist = _draw_distances(rng.uniform(min_distance_m, max_distance_m), n, moving, rng, min_distance_m,
                               max_distance_m)
        events.append(SceneEvent(cls, int(next_source[cls]), start, az, el, dist))
        next_source[cls] += 1
        count[start:start + n] += 1
    events.sort(key=lambda e: (e.start_frame, e.cls, e.source))
    return Scene(num_frames, events, script="random")

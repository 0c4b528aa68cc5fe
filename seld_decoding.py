"""Model output -> Multi-ACCDOA decoding -> events; smoothing; npy / CSV writers (numpy only).

Pure numpy functions (no torch import, directly or indirectly) shared by npy2csv.py, the validator, the inference
and the predictor.

Multi-ACCDOA output of one recording: an array ``(T, NUM_TRACKS, A, NUM_CLASSES)`` = (T, 3, 3 or 4, 13) at
``LABEL_FPS`` = 10 label frames per second (one row per 100 ms DCASE label frame, row ``t`` = frame ``t``).
Axis ``A`` holds ``x, y, z`` (direction scaled by the activity: the vector length is the activity) and, when
``A = 4``, the source distance in metres (Multi-ACCDDOA, DCASE2024). A flattened ``(T, NUM_TRACKS * A *
NUM_CLASSES)`` array in that (track, axis, class) order, as the DCASE baselines save it, is accepted too.

Decoding, the project's rule (:func:`decode_multi_accdoa`, the DCASE2023 audio-only baseline's style): in each
label frame and class, a track is active when its xyz length is greater than the class threshold (default 0.5;
the AV baseline used 0.3). Active tracks of the same class whose directions are closer than the merge angle
(default 15 deg) are merged - connected pairs form one group - into a single event whose vector (and distance)
is the mean of the group's; its track number is the group's lowest track. A network with outputs faster than
the label rate (``avcrnn``: 10 ms) is decoded from each label frame's mean vector (:class:`FramedOutput`).
With ``smooth_frames`` = k > 1 the output is first averaged over k label frames centred on each frame
(:func:`smooth_output`; the project's inference default is 5, the baselines' rule is 1 = none).

The AV baseline's own rule (:func:`decode_official`, ``inference.official_decoding``) decodes the 10 ms outputs
of each label frame by mean clipped lengths and length-weighted mean ANGLES, as its SELDDetector does;
:func:`decode_recording` picks the rule.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from metrics.dcase_csv import Event, write_prediction_csv
from util.conventions import NUM_CLASSES, NUM_TRACKS
from util.errors import InputError
from util.fileio import atomic_path
from util.geometry import angle_between_vectors_deg, cart_to_sph

#: Default activity threshold (DCASE2023 audio-only baseline) and the AV baseline's.
DEFAULT_THRESHOLD: float = 0.5
AV_BASELINE_THRESHOLD: float = 0.3
#: Same-class tracks closer than this (degrees) are merged into one event.
DEFAULT_MERGE_ANGLE_DEG: float = 15.0
#: Values per track: xyz (ACCDOA) or xyz + distance (ACCDDOA).
AXES_DOA: int = 3
AXES_DOA_DIST: int = 4


def class_thresholds(threshold: float | Sequence[float], n_classes: int = NUM_CLASSES) -> np.ndarray:
    """Per-class activity thresholds (n_classes,) from one value or one value per class."""
    thr = np.asarray(threshold, dtype=np.float64)
    if thr.ndim == 0:
        return np.full(n_classes, float(thr))
    if thr.shape != (n_classes,):
        raise ValueError(f"expected 1 or {n_classes} thresholds, got {thr.size}")
    return thr


def as_multi_accdoa(output: np.ndarray, n_tracks: int = NUM_TRACKS, n_classes: int = NUM_CLASSES) -> np.ndarray:
    """Check (and un-flatten) a Multi-ACCDOA array to (T, n_tracks, 3|4, n_classes); ValueError otherwise."""
    out = np.asarray(output)
    if out.ndim == 2:
        for axes in (AXES_DOA, AXES_DOA_DIST):
            if out.shape[1] == n_tracks * axes * n_classes:
                return out.reshape(out.shape[0], n_tracks, axes, n_classes)
    if out.ndim == 4 and out.shape[1:] in ((n_tracks, AXES_DOA, n_classes), (n_tracks, AXES_DOA_DIST, n_classes)):
        return out
    raise ValueError(f"expected a Multi-ACCDOA array (T, {n_tracks}, 3 or 4, {n_classes}) or (T, "
                     f"{n_tracks * AXES_DOA * n_classes} or {n_tracks * AXES_DOA_DIST * n_classes}), got {out.shape}")


def smooth_output(output: np.ndarray, frames: int) -> np.ndarray:
    """Moving average of a Multi-ACCDOA output (T, 3, A, C) over ``frames`` (odd) label frames centred on each
    frame, the first and last frame repeated at the ends: a detection must hold for a few frames, and a one-frame
    flicker of activity or direction is evened out. ``frames`` = 1 returns the output unchanged."""
    if frames < 1 or frames % 2 == 0:
        raise ValueError(f"smoothing needs an odd number of frames >= 1, got {frames}")
    out = np.asarray(output)
    if frames == 1 or len(out) == 0:
        return out
    half = frames // 2
    padded = np.concatenate([np.repeat(out[:1], half, axis=0), out, np.repeat(out[-1:], half, axis=0)]).astype(
        np.float64)
    sums = np.cumsum(np.concatenate([np.zeros_like(padded[:1]), padded]), axis=0)
    return ((sums[frames:] - sums[:-frames]) / frames).astype(out.dtype)


def check_smooth_frames(frames: int, what: str = "inference.smooth_frames") -> int:
    """``frames`` when it is a valid smoothing length (odd, >= 1), else InputError naming the setting."""
    if int(frames) != frames or frames < 1 or frames % 2 == 0:
        raise InputError(None, f"{what} must be an odd number of label frames >= 1, got {frames}")
    return int(frames)


def _merge_groups(vectors: np.ndarray, merge_angle_deg: float) -> list[list[int]]:
    """Groups (connected components) of the rows of ``vectors`` (k, 3) joined by angles < merge_angle_deg."""
    k = len(vectors)
    parent = list(range(k))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    if k > 1:
        angles = angle_between_vectors_deg(vectors[:, None, :], vectors[None, :, :])
        for i in range(k):
            for j in range(i + 1, k):
                if angles[i, j] < merge_angle_deg:
                    parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(k):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values())


def decode_multi_accdoa(output: np.ndarray, threshold: float | Sequence[float] = DEFAULT_THRESHOLD,
                        merge_angle_deg: float = DEFAULT_MERGE_ANGLE_DEG, frame_offset: int = 0,
                        smooth_frames: int = 1) -> list[Event]:
    """Events (sorted by frame, class, track) of a Multi-ACCDOA output (T, 3, 3|4, 13); frame = row + offset.
    Distances (metres) come from the 4th axis when present, else ``None``. ``smooth_frames``: see
    :func:`smooth_output` (default none)."""
    out = smooth_output(as_multi_accdoa(output).astype(np.float64, copy=False), smooth_frames)
    thr = class_thresholds(threshold, out.shape[3])
    xyz = out[:, :, :AXES_DOA, :]                         # (T, K, 3, C)
    activity = np.linalg.norm(xyz, axis=2)                 # (T, K, C)
    active = activity > thr[None, None, :]
    has_dist = out.shape[2] == AXES_DOA_DIST
    events: list[Event] = []
    for t, c in zip(*np.nonzero(active.any(axis=1))):
        tracks = np.flatnonzero(active[t, :, c])
        vecs = xyz[t, tracks, :, c]                       # (k, 3)
        for group in _merge_groups(vecs, merge_angle_deg):
            mean = vecs[group].mean(axis=0)
            az, el = cart_to_sph(mean)
            dist = float(out[t, tracks[group], AXES_DOA, c].mean()) if has_dist else None
            events.append(Event(int(t) + frame_offset, int(c), int(tracks[group[0]]), float(az), float(el), dist))
    return events


@dataclass(frozen=True)
class FramedOutput:
    """The Multi-ACCDOA output of one recording grouped by label frame, before decoding.

    ``values`` (N, P, 3, E, C): row n holds the P network output frames of label frame ``frames[n]`` (P =
    feature frames per label frame / the network's output hop: 10 for the AV baseline's 10 ms outputs, 1 for
    networks that output at the label rate). On the exact window grid ``frames`` is 0 .. N-1; on the AV
    baseline's float grid (``inference.official_grid``) it follows the windows: a frame can appear twice, one
    can be skipped, and the last window's rows run past the end of the recording.
    """

    values: np.ndarray
    frames: np.ndarray

    @classmethod
    def from_label_rate(cls, output: np.ndarray) -> FramedOutput:
        """A label-rate output (T, 3, E, C) as rows 0 .. T-1 of one output frame each."""
        out = np.asarray(output)
        return cls(out[:, None], np.arange(len(out)))

    def label_rate(self) -> np.ndarray:
        """(N, 3, E, C) float32: the mean of each row's output frames (row n = label frame ``frames[n]``)."""
        return self.values.mean(axis=1, dtype=np.float64).astype(np.float32)

    def reduced(self) -> FramedOutput:
        """The same rows with their output frames averaged into one (P = 1)."""
        return FramedOutput(self.label_rate()[:, None], self.frames)


def _official_track_means(values: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per row, track and class of ``values`` (N, P, 3, 3|4, C): mean clipped length, activity (mean length >
    threshold) and the length-weighted mean azimuth and elevation ANGLES (radians) over the P output frames."""
    xyz = values[:, :, :, :AXES_DOA, :].astype(np.float64)
    x, y, z = xyz[:, :, :, 0], xyz[:, :, :, 1], xyz[:, :, :, 2]           # (N, P, K, C)
    azimuth = np.arctan2(y, x)
    elevation = np.arctan2(z, np.sqrt(x ** 2 + y ** 2))
    length = np.minimum(np.sqrt(x ** 2 + y ** 2 + z ** 2), 1.0)
    mean_length = length.mean(axis=1)                                        # (N, K, C)
    active = mean_length > thresholds
    weight = length.sum(axis=1)
    safe = np.where(active, weight, 1.0)
    mean_az = np.where(active, (length * azimuth).sum(axis=1) / safe, np.nan)
    mean_el = np.where(active, (length * elevation).sum(axis=1) / safe, np.nan)
    return mean_length, active, mean_az, mean_el


def _great_circle_rad_to_deg(az1: np.ndarray, el1: np.ndarray, az2: np.ndarray, el2: np.ndarray) -> np.ndarray:
    """Great-circle angle in degrees between directions in radians, by the spherical law of cosines."""
    cos = np.sin(el1) * np.sin(el2) + np.cos(el1) * np.cos(el2) * np.cos(np.abs(az1 - az2))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


#: The three track pairs the AV baseline's unification looks at, in its order.
_TRACK_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (1, 2), (2, 0))


def decode_official(output: FramedOutput, threshold: float | Sequence[float] = AV_BASELINE_THRESHOLD,
                    merge_angle_deg: float = DEFAULT_MERGE_ANGLE_DEG) -> list[Event]:
    """Events of a framed 3-track output by the AV baseline's rule (SELDDetector of
    sony/audio-visual-seld-dcase2023), row by row in ``output``'s order (frames as in ``output.frames``).

    Per row (label frame), track and class: the vector length of every output frame is clipped at 1 and averaged;
    the track is active when that mean length is greater than the class threshold; its direction is the
    length-weighted mean of the output frames' azimuth and elevation ANGLES (not of the vectors: a track whose
    direction crosses +-180 deg gets an azimuth near 0). Two tracks are similar when both are active and their
    great-circle angle is below ``merge_angle_deg``. No similar pair: one event per active track; one pair: that
    pair merged (angles weighted by the two mean lengths; track = the lower one) plus the third track if active;
    two or more pairs: one event for all three (track 0). No distances (DCASE2023 outputs only)."""
    values = np.asarray(output.values)
    if values.ndim != 5 or values.shape[2] != len(_TRACK_PAIRS) or values.shape[3] not in (AXES_DOA, AXES_DOA_DIST):
        raise ValueError(f"the official decoding needs (N, P, 3 tracks, 3, C) outputs, got {values.shape}")
    thr = class_thresholds(threshold, values.shape[4])
    length, active, az, el = _official_track_means(values, thr[None, None, :])
    similar = np.zeros((len(_TRACK_PAIRS), *active.shape[:1], active.shape[2]), dtype=bool)  # (pair, N, C)
    for p, (i, j) in enumerate(_TRACK_PAIRS):
        both = active[:, i] & active[:, j]
        with np.errstate(invalid="ignore"):
            similar[p] = both & (_great_circle_rad_to_deg(az[:, i], el[:, i], az[:, j], el[:, j]) < merge_angle_deg)
    events: list[Event] = []

    def emit(n: int, c: int, tracks: tuple[int, ...]) -> None:
        w = length[n, list(tracks), c]
        a = float(np.sum(az[n, list(tracks), c] * w) / np.sum(w)) if len(tracks) > 1 else float(az[n, tracks[0], c])
        e = float(np.sum(el[n, list(tracks), c] * w) / np.sum(w)) if len(tracks) > 1 else float(el[n, tracks[0], c])
        events.append(Event(int(output.frames[n]), int(c), min(tracks), a / np.pi * 180, e / np.pi * 180, None))

    for n, c in zip(*np.nonzero(active.any(axis=1))):
        pairs = [p for p in range(len(_TRACK_PAIRS)) if similar[p, n, c]]
        if len(pairs) >= 2:
            emit(n, c, (0, 1, 2))
        elif len(pairs) == 1:
            i, j = _TRACK_PAIRS[pairs[0]]
            other = 3 - i - j
            if active[n, other, c]:
                emit(n, c, (other,))
            emit(n, c, (i, j))
        else:
            for k in range(len(_TRACK_PAIRS)):
                if active[n, k, c]:
                    emit(n, c, (k,))
    return events


def decode_recording(output: FramedOutput, threshold: float | Sequence[float] = DEFAULT_THRESHOLD,
                     merge_angle_deg: float = DEFAULT_MERGE_ANGLE_DEG, smooth_frames: int = 1,
                     official: bool = False) -> list[Event]:
    """Events of one recording's framed output: ``official`` = the AV baseline's rule (:func:`decode_official`, on
    the output frames), else the project's (:func:`decode_multi_accdoa` on each row's mean vector, so a direction
    is a mean of vectors, correct across +-180 deg). ``smooth_frames`` > 1 first averages each output frame
    position over that many rows (:func:`smooth_output`)."""
    if official:
        if output.values.shape[3] != AXES_DOA:
            raise InputError(None, "inference.official_decoding has no distance output: use it with DOA-only models")
        values = smooth_output(np.asarray(output.values), smooth_frames)
        return decode_official(FramedOutput(values, output.frames), threshold, merge_angle_deg)
    events = decode_multi_accdoa(output.label_rate(), threshold, merge_angle_deg, smooth_frames=smooth_frames)
    frames = np.asarray(output.frames)
    return [dataclasses.replace(e, frame=int(frames[e.frame])) for e in events]


def write_events_csv(path: str | Path, events: Sequence[Event]) -> None:
    """Write decoded events as a prediction CSV (5-column polar, 6 with distance in metres), atomically."""
    write_prediction_csv(path, events)


def save_output_npy(path: str | Path, output: np.ndarray) -> None:
    """Save a Multi-ACCDOA output array (T, 3, 3|4, 13) as .npy, atomically."""
    arr = as_multi_accdoa(output)
    with atomic_path(path) as tmp:
        np.save(tmp, arr)


def load_output_npy(path: str | Path) -> np.ndarray:
    """Load a Multi-ACCDOA output .npy as (T, 3, 3|4, 13); InputError naming the file when it is not one or holds
    NaN / inf (a diverged network; decoding would read them as silence)."""
    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read as .npy ({exc})") from None
    try:
        out = as_multi_accdoa(arr)
    except ValueError as exc:
        raise InputError(path, str(exc)) from None
    bad = ~np.isfinite(out)
    if bad.any():
        frames = np.flatnonzero(bad.any(axis=(1, 2, 3)))
        raise InputError(path, f"{int(bad.sum())} non-finite values (NaN or inf) in the network output, in "
                               f"{len(frames)} frame(s) from frame {int(frames[0])}")
    return out

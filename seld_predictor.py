"""Model output -> Multi-ACCDOA decoding -> events; npy / CSV writers.

# ======================================================================== Multi-ACCDOA decoding and writers
Pure functions shared by npy2csv.py, the validator and the predictor.

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
from util.cli import add_quiet_argument
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
# ==================================================================== end of decoding and writers section


# ============================================================== inference: checkpoints, sliding windows, predict
# (owned by the training pipeline; uses the decoding and writers above)
import argparse  # noqa: E402

import torch  # noqa: E402

from net import build_model  # noqa: E402
from net.spec import InputSpec  # noqa: E402
from seld_data_loader import WindowGrid, crop_padded, window_grid  # noqa: E402
from util.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, read_state_dict, save_checkpoint  # noqa: E402
from util.config import InferenceConfig, RunConfig, config_from_dict, config_to_dict  # noqa: E402
from util.fileio import output_folder  # noqa: E402
from util.layout import list_recordings  # noqa: E402

@dataclass
class LoadedModel:
    """A trained network with everything needed to run it on new audio (rebuilt from the checkpoint alone)."""

    model: torch.nn.Module
    config: RunConfig
    spec: InputSpec
    mean: np.ndarray           # (C, F) training feature statistics
    std: np.ndarray
    window_frames: int
    frame_shift_s: float
    device: torch.device

    @property
    def frames_per_label(self) -> int:
        return self.spec.frames_per_label

    @property
    def feature_name(self) -> str:
        return str(self.config.features.get("name", ""))

    def window_plan(self, inference: InferenceConfig | None = None) -> tuple[int, int, int]:
        """(window, hop, margin) in feature frames of the sliding-window inference."""
        return window_plan(inference or self.config.inference, self.window_frames, self.frames_per_label,
                           self.frame_shift_s, int(self.model.output_hop))


#: Networks with a choice of direction head (``model.params.doa``, net/seldnet.py).
DOA_NETWORKS: tuple[str, ...] = ("seldnet", "av_vit")


OFFICIAL_PRESET = "baseline_official"  # configs/<name>.yaml: the official recipe


def official_baseline_config(audio_format: str = "foa") -> RunConfig:
    """The run config of a network trained by the official AV baseline (sony/audio-visual-seld-dcase2023): the
    preset ``configs/baseline_official.yaml`` (``avcrnn`` on amp_phasediff features, one Gaussian-vector set per
    1.27 s window, every official quirk on, threshold 0.3, unification 15 deg, the official window grid and
    decoding) for ``audio_format``, with its resolved feature config."""
    from feature.base import extractor_class, with_official_val_padding
    from util.config import load_config, resolve_config_path

    cfg = load_config(resolve_config_path(OFFICIAL_PRESET))
    cfg.name = "official_avcrnn"
    cfg.data.audio_format = audio_format
    cfg.features = with_official_val_padding(extractor_class(cfg.data.feature).default_config(),
                                             cfg.data.official_val_padding).to_dict()
    return cfg


def official_checkpoint(state: dict[str, torch.Tensor], audio_format: str = "foa") -> dict:
    """A checkpoint of this project (the dict :func:`load_model` reads) from an official AudioVisualCRNN
    state_dict (its tensor names: net.avcrnn.OFFICIAL_NAMES); ValueError when the names do not match."""
    from feature.base import FeatureConfig, build_extractor
    from net.avcrnn import from_official_state_dict
    from util.conventions import NUM_CLASSES, VISUAL_NUM_BOXES, VISUAL_NUM_POINTS

    weights = {k: v.float() if v.is_floating_point() else v for k, v in from_official_state_dict(state).items()}
    cfg = official_baseline_config(audio_format)
    extractor = build_extractor(FeatureConfig.from_dict(cfg.features))
    channels, bins = extractor.feature_shape
    spec = InputSpec(audio_channels=channels, audio_bins=bins, window_frames=128,
                     frames_per_label=extractor.frames_per_label, visual="vectors",
                     visual_shape=(2, VISUAL_NUM_BOXES, VISUAL_NUM_POINTS), num_classes=NUM_CLASSES)
    return {"format": CHECKPOINT_FORMAT, "config": config_to_dict(cfg), "model": weights,
            "input_spec": dataclasses.asdict(spec),
            "feature_stats": {"mean": torch.zeros(channels, bins), "std": torch.ones(channels, bins)}}


def read_model_checkpoint(checkpoint: str | Path) -> dict:
    """A training checkpoint of this project, or an official AV-baseline state_dict (``params_*.pth`` or
    ``.safetensors``, detected by its tensor names) converted by :func:`official_checkpoint`."""
    from net.avcrnn import OFFICIAL_NAMES, is_official_state_dict

    state = read_state_dict(checkpoint)
    if state is None:
        return load_checkpoint(checkpoint)
    if not is_official_state_dict(state):
        known = len(set(state) & set(OFFICIAL_NAMES))
        raise InputError(checkpoint, f"a plain state_dict, but not the official AudioVisualCRNN's ({known} of its "
                                     f"{len(OFFICIAL_NAMES)} tensor names, {len(state)} tensors)")
    try:
        return official_checkpoint(state)
    except ValueError as exc:
        raise InputError(checkpoint, str(exc)) from exc


def load_model(checkpoint: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a network, its input spec and feature statistics from a training checkpoint or an official
    AV-baseline state_dict (safe loading); InputError when the checkpoint does not fit this code."""
    ckpt = read_model_checkpoint(checkpoint)
    try:
        cfg = config_from_dict(ckpt["config"])
        spec_d = dict(ckpt["input_spec"])
        spec_d["visual_shape"] = tuple(spec_d.get("visual_shape") or ())
        spec_d["intensity_channels"] = tuple(spec_d.get("intensity_channels") or ())
        spec = InputSpec(**spec_d)
        weights = (ckpt.get("ema") or ckpt)["model"]  # the weight average when trained with one
        if cfg.model.name in DOA_NETWORKS and "doa" not in cfg.model.params:  # config without the head: the weights
            cfg.model.params["doa"] = "intensity" if any(k.startswith("head.") for k in weights) else "regress"
        if cfg.model.params.get("doa") == "intensity" and "doa_context" not in cfg.model.params:
            # from before the option: frame context only if the weights have its layer (its size gives the span)
            frames = weights.get("head.frame_logits.bias")
            tracks_classes = spec.num_tracks * spec.num_classes
            cfg.model.params["doa_context"] = 0 if frames is None else (frames.numel() // tracks_classes - 1) // 2
        model = build_model(cfg.model.name, spec, cfg.model.audio_only, cfg.model.params)
        model.load_state_dict(weights)
        stats = ckpt["feature_stats"]
        mean, std = stats["mean"].numpy(), stats["std"].numpy()
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(checkpoint, f"checkpoint does not fit this version of the code ({detail})") from exc
    from feature.base import FeatureConfig  # the seld_* layer may use feature/

    feat = FeatureConfig.from_dict(cfg.features)
    device = torch.device(device)
    model.to(device).eval()
    return LoadedModel(model, cfg, spec, mean, std, spec.window_frames, feat.hop_length / feat.sample_rate, device)


def load_ensemble(checkpoints: Sequence[str | Path], device: str | torch.device = "cpu") -> list[LoadedModel]:
    """Load one or several checkpoints to run as an ensemble (:func:`infer_ensemble`); InputError naming the
    checkpoint when one was trained on other features, visual input or outputs than the first."""
    members = [load_model(c, device) for c in checkpoints]
    if not members:
        raise InputError(None, "no checkpoint given")
    first = members[0]
    for path, m in zip(checkpoints[1:], members[1:]):
        for what, mine, theirs in (("feature settings", m.config.features, first.config.features),
                                   ("visual input", (m.spec.visual, tuple(m.spec.visual_shape)),
                                    (first.spec.visual, tuple(first.spec.visual_shape))),
                                   ("output shape", (m.spec.num_tracks, m.spec.output_elements, m.spec.num_classes),
                                    (first.spec.num_tracks, first.spec.output_elements, first.spec.num_classes))):
            if mine != theirs:
                raise InputError(path, f"cannot join an ensemble with {checkpoints[0]}: its {what} differ "
                                       f"({mine} vs {theirs})")
    return members


def visual_member(members: Sequence[LoadedModel]) -> LoadedModel:
    """The ensemble member whose visual input settings to follow: the first that is not audio-only."""
    return next((m for m in members if not m.config.model.audio_only), members[0])


def window_plan(inference: InferenceConfig, train_window: int, frames_per_label: int, frame_shift_s: float,
                output_hop: int) -> tuple[int, int, int]:
    """(window, hop, margin) in feature frames: window = ``window_s`` (0 = the training window), margin =
    ``keep_margin_s`` dropped at each window end, hop = ``hop_s`` (0 = window - 2 margin); all rounded to label
    frames (the window and margin to output frames). With ``inference.official_grid`` the margin is the AV
    baseline's cut, floor((window - hop) / 2) (4 frames of 10 ms for its 128-frame windows every 120 frames)."""
    def frames(seconds: float, step: int) -> int:
        return int(round(seconds / frame_shift_s / step)) * step

    step = frames_per_label if output_hop == frames_per_label else output_hop
    window = frames(inference.window_s, step) if inference.window_s > 0 else train_window
    margin = frames(inference.keep_margin_s, output_hop)
    hop = frames(inference.hop_s, frames_per_label) if inference.hop_s > 0 else window - 2 * margin
    hop -= hop % frames_per_label
    if inference.official_grid and hop > 0:
        cut = (window - hop) // 2
        if inference.keep_margin_s > 0 and margin != cut:
            raise InputError(None, f"inference.official_grid keeps the middle {hop} of {window} frames (margin {cut}); "
                                   f"inference.keep_margin_s asks for {margin}: set it to 0 or {cut} frames")
        if cut % output_hop:
            raise InputError(None, f"inference.official_grid: the margin of {cut} frames is not a multiple of the "
                                   f"network's output hop {output_hop}")
        margin = cut
    if window <= 0 or hop <= 0 or 2 * margin >= window:
        raise InputError(None, f"bad inference windows: window {window}, hop {hop}, margin {margin} feature frames")
    return window, hop, margin


class WindowAssembler:
    """Collects the network outputs (window / output_hop, 3, E, C) of the windows of a :class:`WindowGrid` into a
    :class:`FramedOutput` of the recording (numpy only).

    Exact grid: each window's output frames from ``margin`` to ``window - margin`` are placed at their feature
    frames, overlaps averaged (frames no window keeps - a hop longer than the kept part - take the mean of the
    full outputs covering them), then grouped by label frame: rows 0 .. T_label - 1. Official grid: the kept block
    of each window (its output frames ``margin`` .. ``margin + hop``, the AV baseline's frames 4..123) is grouped
    into hop / frames_per_label rows written to label frames ``label_starts[k]`` + 0, 1, ..., window after window,
    as the baseline's SELDDetector does (rows repeat, skip and run past the end where its float grid does)."""

    def __init__(self, grid: WindowGrid, num_frames: int, frames_per_label: int, output_hop: int):
        if frames_per_label % output_hop or grid.window % output_hop or grid.margin % output_hop:
            raise ValueError(f"output hop {output_hop} must divide {frames_per_label} frames per label frame, the "
                             f"window ({grid.window}) and the margin ({grid.margin})")
        self.grid, self.total, self.fpl, self.out_hop = grid, num_frames, frames_per_label, output_hop
        self.per_label = frames_per_label // output_hop
        self.n_out = num_frames // output_hop
        self.blocks: dict[int, np.ndarray] = {}
        self.sums: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, index: int, output: np.ndarray) -> None:
        """The output (window / output_hop, 3, E, C) of window ``index`` of the grid."""
        g, h = self.grid, self.out_hop
        if output.shape[0] != g.window // h:
            raise ValueError(f"window output of {output.shape[0]} frames, expected {g.window // h}")
        if g.official:
            block = output[g.margin // h: (g.margin + g.hop) // h]
            self.blocks[index] = block.reshape(g.hop // self.fpl, self.per_label, *output.shape[1:])
            return
        if self.sums is None:
            shape = (self.n_out, *output.shape[1:])
            self.sums = (np.zeros(shape), np.zeros(self.n_out), np.zeros(shape), np.zeros(self.n_out))
        keep_sum, keep_cnt, full_sum, full_cnt = self.sums
        s = g.starts[index]
        first, n_win = s // h, output.shape[0]
        lo = 0 if s <= 0 else g.margin // h
        hi = n_win if s + g.window >= self.total else n_win - g.margin // h
        for a, z, acc, cnt in ((lo, hi, keep_sum, keep_cnt), (0, n_win, full_sum, full_cnt)):
            g0, g1 = max(first + a, 0), min(first + z, self.n_out)
            if g1 > g0:
                acc[g0:g1] += output[g0 - first:g1 - first]
                cnt[g0:g1] += 1

    def result(self) -> FramedOutput:
        """The recording's :class:`FramedOutput` (every window of the grid must have been added)."""
        g = self.grid
        if g.official:
            if len(self.blocks) != len(g.starts):
                raise ValueError(f"{len(self.blocks)} of {len(g.starts)} window outputs added")
            rows = g.hop // self.fpl
            frames = np.concatenate([start + np.arange(rows) for start in g.label_starts])
            return FramedOutput(np.concatenate([self.blocks[k] for k in range(len(g.starts))]).astype(np.float32),
                                frames)
        if self.sums is None:
            raise ValueError("no window outputs added")
        keep_sum, keep_cnt, full_sum, full_cnt = self.sums
        merged = np.where(keep_cnt[:, None, None, None] > 0,
                          keep_sum / np.maximum(keep_cnt, 1)[:, None, None, None],
                          full_sum / np.maximum(full_cnt, 1)[:, None, None, None])
        t_label = self.total // self.fpl
        values = merged[: t_label * self.per_label].reshape(t_label, self.per_label, *merged.shape[1:])
        return FramedOutput(values.astype(np.float32), np.arange(t_label))


@torch.inference_mode()
def sliding_window_outputs(model: torch.nn.Module, features: np.ndarray, visual: np.ndarray | None,
                           window: int, hop: int, margin: int, frames_per_label: int, device: torch.device,
                           batch_size: int = 8, amp_dtype: torch.dtype | None = None,
                           official_grid: bool = False) -> FramedOutput:
    """The framed Multi-ACCDOA output of a whole recording (:class:`WindowAssembler`).

    ``features`` (C, T, F) standardised, T = T_label * frames_per_label; ``visual`` (T_label, ...) or None.
    Windows of ``window`` frames on the exact grid (window k starts at k * hop - margin and keeps its output
    frames from ``margin`` to ``window - margin``), or on the AV baseline's float grid (``official_grid``, see
    ``seld_data_loader.window_grid``); both zero-pad outside the recording. A window's visual inputs begin at
    the first label frame that starts inside it (the AV baseline's image at the window time, the start of its
    kept block).
    """
    model.eval()
    total = features.shape[1]
    grid = window_grid(total, window, hop, margin, frames_per_label, official_grid)
    assembler = WindowAssembler(grid, total, frames_per_label, int(model.output_hop))
    lw = -(-window // frames_per_label)
    for b in range(0, len(grid.starts), batch_size):
        chunk = grid.starts[b:b + batch_size]
        audio = torch.from_numpy(np.stack([crop_padded(features, s, window, axis=1) for s in chunk])).to(device)
        vis = None
        if visual is not None:
            vis = torch.from_numpy(np.stack([crop_padded(visual, -(-s // frames_per_label), lw)
                                             for s in chunk])).to(device)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            out = model(audio, vis).float().cpu().numpy()           # (b, window / out_hop, 3, E, C)
        for k, o in enumerate(out):
            assembler.add(b + k, o)
    return assembler.result()


def sliding_window_inference(model: torch.nn.Module, features: np.ndarray, visual: np.ndarray | None,
                             window: int, hop: int, margin: int, frames_per_label: int, device: torch.device,
                             batch_size: int = 8, amp_dtype: torch.dtype | None = None) -> np.ndarray:
    """Label-rate Multi-ACCDOA output (T_label, 3, E, 13) of a whole recording on the exact grid: the mean of each
    label frame's output frames of :func:`sliding_window_outputs`."""
    return sliding_window_outputs(model, features, visual, window, hop, margin, frames_per_label, device,
                                  batch_size, amp_dtype).label_rate()


#: Test-time augmentation sizes: FOA transforms 0..n-1 of ``seld_data_loader.FoaRotations`` (1 = none; 4 = the
#: azimuth rotations; 8 = with azimuth reflections; 16 = with elevation reflections too).
TTA_SIZES: tuple[int, ...] = (1, 4, 8, 16)


def resolved_tta(tta: int, feature_name: str) -> int:
    """The number of test-time transforms: ``tta``, or for 0 (auto) 16 with ``logmel_iv`` features and 1 otherwise."""
    from feature.base import capability

    if tta == 0:
        return TTA_SIZES[-1] if capability(feature_name, "rotatable") else 1
    return int(tta)


def combine_outputs(outputs: Sequence[np.ndarray]) -> np.ndarray:
    """One Multi-ACCDOA output (..., 3, E, 13) from several of the same recording (test-time transforms mapped
    back, ensemble members): per frame, track and class the direction of the mean xyz vector with the mean vector
    length (activity); a 4th axis (distance) is averaged. Averaging the vectors alone would shorten them wherever
    the outputs disagree on the direction, and drop detections below the threshold."""
    if not outputs:
        raise ValueError("no outputs to combine")
    if len(outputs) == 1:
        return np.asarray(outputs[0], dtype=np.float32)
    stack = np.stack([np.asarray(o, dtype=np.float64) for o in outputs])
    mean = stack.mean(axis=0)
    length = np.linalg.norm(stack[..., :3, :], axis=-2, keepdims=True).mean(axis=0)
    mean[..., :3, :] *= length / np.maximum(np.linalg.norm(mean[..., :3, :], axis=-2, keepdims=True), 1e-12)
    return mean.astype(np.float32)


def combine_framed(outputs: Sequence[FramedOutput], subframes: bool = False) -> FramedOutput:
    """:func:`combine_outputs` of framed outputs of one recording on the same frames: per output frame with
    ``subframes`` (the official decoding reads them), else per label frame (each row's mean first)."""
    if not outputs:
        raise ValueError("no outputs to combine")
    first = outputs[0]
    for o in outputs[1:]:
        if not np.array_equal(o.frames, first.frames) or o.values.shape[1] != first.values.shape[1]:
            raise InputError(None, "cannot combine outputs on different window grids or output rates")
    parts = list(outputs) if subframes else [o.reduced() for o in outputs]
    return FramedOutput(combine_outputs([o.values for o in parts]), first.frames)


def transformed_outputs(model: torch.nn.Module, features: np.ndarray, stats: tuple[np.ndarray, np.ndarray],
                        visual: np.ndarray | None, visual_kind: str, plan: tuple[int, int, int], frames_per_label: int,
                        device: torch.device, inference: InferenceConfig, feature_name: str,
                        amp_dtype: torch.dtype | None = None) -> list[FramedOutput]:
    """The framed outputs of one recording from its raw (unnormalised) features (C, T, F), one per test-time
    transform (``inference.tta`` = n; 0: see :func:`resolved_tta`): the scene as it is, then rotated / reflected
    by the FOA transforms 1..n-1 (features and visual input), each output's directions mapped back to the original
    scene (``logmel_iv`` features only). ``plan`` = (window, hop, margin) of :func:`sliding_window_outputs`, on
    the grid ``inference.official_grid`` selects."""
    from feature.cache import normalize_features
    from feature.base import require_capability
    from seld_data_loader import FoaRotations

    n = resolved_tta(inference.tta, feature_name)
    if n not in TTA_SIZES:
        raise InputError(None, f"inference.tta must be one of {TTA_SIZES}, got {n}")
    if n > 1:
        require_capability(feature_name, "rotatable", f"test-time augmentation (inference.tta={n})")
    window, hop, margin = plan
    rotations = FoaRotations()
    outputs = []
    for t in range(n):
        feats = normalize_features(rotations.features(features, t) if t else features, *stats)
        vis = rotations.visual(visual, t, visual_kind) if t and visual is not None else visual
        out = sliding_window_outputs(model, feats, vis, window, hop, margin, frames_per_label, device,
                                     inference.batch_size, amp_dtype, inference.official_grid)
        if t:  # directions of the transformed scene -> the original scene (the matrices are orthogonal)
            out.values[:, :, :, :3] = np.einsum("ba,npkbc->npkac", rotations.matrix(t), out.values[:, :, :, :3])
        outputs.append(out)
    return outputs


def infer_recording(model: torch.nn.Module, features: np.ndarray, stats: tuple[np.ndarray, np.ndarray],
                    visual: np.ndarray | None, visual_kind: str, plan: tuple[int, int, int], frames_per_label: int,
                    device: torch.device, inference: InferenceConfig, feature_name: str,
                    amp_dtype: torch.dtype | None = None) -> FramedOutput:
    """The framed output of one recording: :func:`transformed_outputs` combined by :func:`combine_framed` (with
    ``inference.tta`` > 1, the mean direction with the mean activity of the transformed runs; per output frame
    with ``inference.official_decoding``, else per label frame)."""
    return combine_framed(transformed_outputs(model, features, stats, visual, visual_kind, plan, frames_per_label,
                                              device, inference, feature_name, amp_dtype),
                          subframes=inference.official_decoding)


def infer_ensemble(members: Sequence[LoadedModel], features: np.ndarray, visual: np.ndarray | None,
                   inference: InferenceConfig) -> FramedOutput:
    """The framed output of one recording from one or several trained models (an ensemble, e.g. training seeds):
    every member's outputs over the test-time transforms, each with its own feature statistics and windows, combined
    by :func:`combine_framed`. ``inference.window_s`` = 0 uses each member's training window."""
    outputs = []
    for m in members:
        outputs += transformed_outputs(m.model, features, (m.mean, m.std), visual, m.spec.visual,
                                       m.window_plan(inference), m.frames_per_label, m.device, inference,
                                       m.feature_name)
    return combine_framed(outputs, subframes=inference.official_decoding)


def plot_doa_trajectory(pred: Sequence[Event], ref: Sequence[Event] | None = None, title: str = "",
                        path: str | Path | None = None, num_frames: int | None = None):
    """Azimuth and elevation vs time of predicted (and reference) events: :func:`util.plots.plot_doa_trajectory`."""
    from util.plots import plot_doa_trajectory as plot

    return plot(pred, ref, title, path, num_frames)


def predict_recordings(loaded: LoadedModel | Sequence[LoadedModel], wavs: dict[str, Path], out_dir: str | Path,
                       visual_inputs: dict[str, np.ndarray] | None = None, inference: InferenceConfig | None = None,
                       progress: bool = True) -> dict[str, list[Event]]:
    """Run a loaded model (or an ensemble: :func:`load_ensemble`) on wav files (name -> path): writes
    ``<name>.npy``, ``<name>.csv`` and ``<name>_doa.png`` into ``out_dir``; returns the events per name."""
    from tqdm import tqdm

    from feature.base import FeatureConfig, build_extractor
    from feature.extract import extract_file

    members = [loaded] if isinstance(loaded, LoadedModel) else list(loaded)
    first = members[0]
    inference = inference or first.config.inference
    check_smooth_frames(inference.smooth_frames)
    extractor = build_extractor(FeatureConfig.from_dict(first.config.features))
    out_dir = Path(out_dir)
    results = {}
    for name, wav in tqdm(sorted(wavs.items()), desc="predict", unit="file", disable=not progress):
        feats = extract_file(wav, extractor)
        t_label = feats.shape[1] // first.frames_per_label
        visual = None
        if first.spec.visual != "none":
            shape = (t_label, *first.spec.visual_shape)
            v = (visual_inputs or {}).get(name)
            visual = np.zeros(shape, np.float32 if first.spec.visual == "vectors" else np.uint8) if v is None \
                else crop_padded(np.asarray(v), 0, t_label)
        output = infer_ensemble(members, feats, visual, inference)
        events = decode_recording(output, inference.threshold, inference.merge_deg, inference.smooth_frames,
                                  inference.official_decoding)
        save_output_npy(out_dir / f"{name}.npy", output.label_rate())
        write_events_csv(out_dir / f"{name}.csv", events)
        plot_doa_trajectory(events, None, name, out_dir / f"{name}_doa.png", t_label)
        results[name] = events
    return results


# ----------------------------------------------------------------------------------- seld.py import-official
def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``seld.py import-official``."""
    parser.add_argument("--checkpoint", required=True, type=Path,
                        help="state_dict saved by the official AV baseline (params_*.pth) or a .safetensors file")
    parser.add_argument("--out", required=True, type=Path, help="checkpoint of this project to write (.pt)")
    parser.add_argument("--format", default="foa", choices=("foa", "mic"), help="audio it was trained on")


def run_import(args: argparse.Namespace) -> int:
    """Convert an official AV-baseline state_dict into a checkpoint of this project (evaluate / predict read the
    official file directly too, as FOA)."""
    state = read_state_dict(args.checkpoint)
    if state is None:
        raise InputError(args.checkpoint, "not a readable state_dict (torch.save of name -> tensor, or .safetensors)")
    try:
        payload = official_checkpoint(state, args.format)
    except ValueError as exc:
        raise InputError(args.checkpoint, str(exc)) from exc
    save_checkpoint(args.out, {k: v for k, v in payload.items() if k != "format"})
    print(f"wrote {args.out}: avcrnn with the official weights ({args.format}, amp_phasediff, official settings)")
    return 0


# ------------------------------------------------------------------------------------------ seld.py predict
def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``seld.py predict``."""
    from detection.base import DEFAULT_DETECTOR

    parser.add_argument("--checkpoint", required=True, type=Path, nargs="+",
                        help="training checkpoint (best.pt / last.pt) or an official AV-baseline state_dict "
                             "(params_*.pth); several: run them as an ensemble")
    parser.add_argument("--input", required=True, type=Path, help="a wav file or a folder of wav files (recursive)")
    parser.add_argument("--out", required=True, type=Path, help="output folder for .npy, .csv and _doa.png files")
    parser.add_argument("--detections", type=Path, default=None,
                        help="folder of detection CSVs (object_detection.py) named like the wav files, or the "
                             "detection file of a single --input wav")
    parser.add_argument("--video", type=Path, default=None,
                        help="folder of mp4 videos named like the wav files, or the video of a single --input wav "
                             "(frames for av_vit; else run through --detector unless --detections has them)")
    parser.add_argument("--render", action="store_true",
                        help="also write <name>_render.mp4: the predictions drawn onto the --video "
                             "(render_video.py; the video's sound, else the wav's first channel)")
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, help="detector backend for --video")
    parser.add_argument("--detector-weights", default=None,
                        help="weights of the detector backend (default: the backend's own, see object_detection.py)")
    parser.add_argument("--threshold", type=float, default=None, help="activity threshold (default: the checkpoint's)")
    parser.add_argument("--window", type=float, default=None,
                        help="inference window in seconds (default: the checkpoint's inference.window_s)")
    parser.add_argument("--hop", type=float, default=None,
                        help="inference hop in seconds (default: the checkpoint's inference.hop_s)")
    parser.add_argument("--tta", type=int, default=None, choices=TTA_SIZES,
                        help="test-time augmentation: average over this many FOA transforms (logmel_iv only; "
                             "default: the checkpoint's inference.tta)")
    parser.add_argument("--smooth", type=int, default=None,
                        help="moving average of the output over this many label frames before decoding (odd; 1 = "
                             "none; default: the checkpoint's inference.smooth_frames)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    add_quiet_argument(parser)


def _files_by_name(path: Path | None, suffix: str, names: dict[str, Path]) -> dict[str, Path]:
    """Files per recording name: those named like the recordings in a folder (searched recursively), or one file
    given for the single recording of ``names``."""
    if path is None:
        return {}
    if path.is_file():
        if len(names) != 1:
            raise InputError(path, f"one file for {len(names)} recordings: give a folder of {suffix} files named "
                                   f"like the wav files")
        return {next(iter(names)): path}
    if not path.is_dir():
        raise InputError(path, "file or folder not found")
    return {p.stem: p for p in sorted(path.rglob(f"*{suffix}")) if not p.name.startswith(".")}


def _visual_inputs(loaded: LoadedModel, names: dict[str, Path], args: argparse.Namespace,
                   detections: dict | None = None) -> dict[str, np.ndarray]:
    """Visual inputs per recording at the label rate: Gaussian vectors from detection CSVs or from videos run
    through a person detector (vector models), or 10 fps frames decoded from videos (``av_vit``). The detections
    read or computed are put into ``detections`` (name -> util.detection_io.Detections) when given."""
    kind = loaded.spec.visual
    if kind == "none" or loaded.config.model.audio_only:
        return {}
    found: dict[str, np.ndarray] = {}
    videos = _files_by_name(args.video, ".mp4", names)
    detections = {} if detections is None else detections
    if kind == "frames":
        from util.conventions import LABEL_FPS
        from util.video_io import iter_sampled_frames

        height, width, _ = loaded.spec.visual_shape
        for name in names:
            if name in videos:
                found[name] = np.stack([f for _, f in iter_sampled_frames(videos[name], LABEL_FPS, (width, height))])
    else:
        from feature.visual import VisualSpec, recording_vectors
        from util.detection_io import read_detections

        spec = VisualSpec(num_boxes=loaded.spec.visual_shape[1], num_points=loaded.spec.visual_shape[2])
        files = _files_by_name(args.detections, ".csv", names)
        detections.update({n: read_detections(files[n]) for n in names if n in files})
        todo = [n for n in names if n in videos and n not in detections]
        if todo:
            from detection.base import build_detector
            from object_detection import detect_video

            detector = build_detector(args.detector, weights=args.detector_weights, device=str(loaded.device))
            detections.update({n: detect_video(videos[n], detector) for n in todo})
        found.update({n: recording_vectors(detections[n], spec) for n in names if n in detections})
    missing = sorted(set(names) - set(found))
    if missing:
        print(f"note: no visual input ({'--video' if kind == 'frames' else '--detections/--video'}) for "
              f"{len(missing)} recording(s), e.g. {missing[0]}; the model sees zeros there")
    return found


def run_predict(args: argparse.Namespace) -> int:
    """Predict DCASE CSVs (+ raw .npy and a DOA-trajectory PNG) for unlabelled wav recordings."""
    from seld_trainer import resolve_device

    with output_folder(args.out):  # an output folder that cannot be made stops the command before any work
        if args.render and args.video is None:
            raise InputError(None, "--render needs --video (the 360-degree video of the recording)")
        members = load_ensemble(args.checkpoint, resolve_device(args.device))
        loaded = visual_member(members)
        if args.input.is_file():
            wavs = {args.input.stem: args.input}
        else:
            recs = list_recordings(args.input, ".wav")
            if not recs:
                raise InputError(args.input, "no .wav files found")
            wavs = {r.name: args.input / r.split_dir / f"{r.name}.wav" for r in recs}
            if len(wavs) != len(recs):
                raise InputError(args.input, "two wav files share a name")
        inference = dataclasses.replace(
            loaded.config.inference,
            **{k: v for k, v in (("threshold", args.threshold), ("window_s", args.window), ("hop_s", args.hop),
                                     ("tta", args.tta), ("smooth_frames", args.smooth))
               if v is not None})
        detections: dict = {}
        results = predict_recordings(members, wavs, args.out, _visual_inputs(loaded, wavs, args, detections),
                                     inference, progress=not args.quiet)
    print(f"wrote {len(wavs)} prediction CSV(s), .npy outputs and DOA plots to {args.out}")
    if args.render:
        _render_predictions(results, wavs, args, detections)
    return 0


def _render_predictions(results: dict[str, list[Event]], wavs: dict[str, Path], args: argparse.Namespace,
                        detections: dict) -> None:
    """``<name>_render.mp4`` in ``args.out`` for every recording with a video: its predicted events and the person
    boxes the model saw (or those of ``--detections``) drawn on it; sound from the video, else from the wav."""
    from render_video import render_video
    from util.detection_io import read_detections
    from util.video_io import has_audio

    videos = _files_by_name(args.video, ".mp4", wavs)
    files = _files_by_name(args.detections, ".csv", wavs)
    missing = sorted(set(results) - set(videos))
    if missing:
        print(f"note: no video for {len(missing)} recording(s), e.g. {missing[0]}; not rendered")
    for name in sorted(set(results) & set(videos)):
        det = detections.get(name) or (read_detections(files[name]) if name in files else None)
        out = Path(args.out) / f"{name}_render.mp4"
        render_video(videos[name], results[name], out, detections=det,
                     audio=None if has_audio(videos[name]) else wavs[name], progress=not args.quiet)
        print(f"wrote {out}")

"""Model output -> Multi-ACCDOA decoding -> events; npy / CSV writers.

# ======================================================================== Multi-ACCDOA decoding and writers
Pure functions shared by npy2csv.py, the validator and the predictor.

Multi-ACCDOA output of one recording: an array ``(T, NUM_TRACKS, A, NUM_CLASSES)`` = (T, 3, 3 or 4, 13) at
``LABEL_FPS`` = 10 label frames per second (one row per 100 ms DCASE label frame, row ``t`` = frame ``t``).
Axis ``A`` holds ``x, y, z`` (direction scaled by the activity: the vector length is the activity) and, when
``A = 4``, the source distance in metres (Multi-ACCDDOA, DCASE2024). A flattened ``(T, NUM_TRACKS * A *
NUM_CLASSES)`` array in that (track, axis, class) order, as the DCASE baselines save it, is accepted too.

Decoding (the DCASE2023 / AV-baseline rule): in each frame and class, a track is active when its xyz length is
greater than the class threshold (default 0.5; the AV baseline used 0.3). Active tracks of the same class whose
directions are closer than the merge angle (default 15 deg) are merged - connected pairs form one group - into a
single event whose vector (and distance) is the mean of the group's; its track number is the group's lowest track.
With ``smooth_frames`` = k > 1 the output is first averaged over k label frames centred on each frame
(:func:`smooth_output`; the project's inference default is 5, the baselines' rule is 1 = none).
"""
from __future__ import annotations

from collections.abc import Sequence
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


def write_events_csv(path: str | Path, events: Sequence[Event]) -> None:
    """Write decoded events as a prediction CSV (5-column polar, 6 with distance in metres), atomically."""
    write_prediction_csv(path, events)


def save_output_npy(path: str | Path, output: np.ndarray) -> None:
    """Save a Multi-ACCDOA output array (T, 3, 3|4, 13) as .npy, atomically."""
    arr = as_multi_accdoa(output)
    with atomic_path(path) as tmp:
        np.save(tmp, arr)


def load_output_npy(path: str | Path) -> np.ndarray:
    """Load a Multi-ACCDOA output .npy as (T, 3, 3|4, 13); InputError naming the file when it is not one."""
    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read as .npy ({exc})") from None
    try:
        return as_multi_accdoa(arr)
    except ValueError as exc:
        raise InputError(path, str(exc)) from None
# ==================================================================== end of decoding and writers section


# ============================================================== inference: checkpoints, sliding windows, predict
# (owned by the training pipeline; uses the decoding and writers above)
import argparse  # noqa: E402
import dataclasses  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import torch  # noqa: E402

from net import build_model  # noqa: E402
from net.spec import InputSpec  # noqa: E402
from seld_data_loader import crop_padded, inference_windows  # noqa: E402
from util.checkpoint import load_checkpoint  # noqa: E402
from util.config import InferenceConfig, RunConfig, config_from_dict  # noqa: E402
from util.layout import list_recordings  # noqa: E402

try:  # matplotlib without a display
    import matplotlib

    matplotlib.use("Agg")
except ImportError:  # pragma: no cover
    pass


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


def load_model(checkpoint: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a network, its input spec and feature statistics from a training checkpoint (safe loading);
    InputError when the checkpoint does not fit this code."""
    ckpt = load_checkpoint(checkpoint)
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
    ``keep_margin_s`` dropped at inner window edges, hop = ``hop_s`` (0 = window - 2 margin); all rounded to
    label frames (the window and margin to output frames)."""
    def frames(seconds: float, step: int) -> int:
        return int(round(seconds / frame_shift_s / step)) * step

    step = frames_per_label if output_hop == frames_per_label else output_hop
    window = frames(inference.window_s, step) if inference.window_s > 0 else train_window
    margin = frames(inference.keep_margin_s, output_hop)
    hop = frames(inference.hop_s, frames_per_label) if inference.hop_s > 0 else window - 2 * margin
    hop -= hop % frames_per_label
    if window <= 0 or hop <= 0 or 2 * margin >= window:
        raise InputError(None, f"bad inference windows: window {window}, hop {hop}, margin {margin} feature frames")
    return window, hop, margin


@torch.inference_mode()
def sliding_window_inference(model: torch.nn.Module, features: np.ndarray, visual: np.ndarray | None,
                             window: int, hop: int, margin: int, frames_per_label: int, device: torch.device,
                             batch_size: int = 8, amp_dtype: torch.dtype | None = None) -> np.ndarray:
    """Multi-ACCDOA output (T_label, 3, E, 13) of a whole recording.

    ``features`` (C, T, F) standardised, T = T_label * frames_per_label; ``visual`` (T_label, ...) or None.
    Windows start every ``hop`` frames; each keeps its output except ``margin`` frames at inner edges
    (the recording's first and last frames are always kept); overlapping kept outputs are averaged; the
    output-rate result is averaged to label frames.
    """
    model.eval()
    out_hop = int(model.output_hop)
    total = features.shape[1]
    t_label = total // frames_per_label
    n_out = total // out_hop
    keep_sum = keep_cnt = full_sum = full_cnt = None
    starts = inference_windows(total, window, hop, frames_per_label)
    lw = -(-window // frames_per_label)
    for b in range(0, len(starts), batch_size):
        chunk = starts[b:b + batch_size]
        audio = torch.from_numpy(np.stack([crop_padded(features, s, window, axis=1) for s in chunk])).to(device)
        vis = None
        if visual is not None:
            vis = torch.from_numpy(np.stack([crop_padded(visual, s // frames_per_label, lw) for s in chunk])).to(device)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            out = model(audio, vis).float().cpu().numpy()           # (b, window / out_hop, 3, E, C)
        if keep_sum is None:
            shape = (n_out, *out.shape[2:])
            keep_sum, full_sum = np.zeros(shape, np.float64), np.zeros(shape, np.float64)
            keep_cnt, full_cnt = np.zeros(n_out), np.zeros(n_out)
        n_win = out.shape[1]
        for s, o in zip(chunk, out):
            first = s // out_hop
            lo = 0 if s <= 0 else margin // out_hop
            hi = n_win if s + window >= total else n_win - margin // out_hop
            for a, z, acc, cnt in ((lo, hi, keep_sum, keep_cnt), (0, n_win, full_sum, full_cnt)):
                g0, g1 = max(first + a, 0), min(first + z, n_out)
                if g1 > g0:
                    acc[g0:g1] += o[g0 - first:g1 - first]
                    cnt[g0:g1] += 1
    merged = np.where(keep_cnt[:, None, None, None] > 0, keep_sum / np.maximum(keep_cnt, 1)[:, None, None, None],
                      full_sum / np.maximum(full_cnt, 1)[:, None, None, None])
    per_label = frames_per_label // out_hop
    return merged[: t_label * per_label].reshape(t_label, per_label, *merged.shape[1:]).mean(axis=1).astype(np.float32)


#: Test-time augmentation sizes: FOA transforms 0..n-1 of ``seld_data_loader.FoaRotations`` (1 = none; 4 = the
#: azimuth rotations; 8 = with azimuth reflections; 16 = with elevation reflections too).
TTA_SIZES: tuple[int, ...] = (1, 4, 8, 16)


def resolved_tta(tta: int, feature_name: str) -> int:
    """The number of test-time transforms: ``tta``, or for 0 (auto) 16 with ``logmel_iv`` features and 1 otherwise."""
    from seld_data_loader import AUGMENTABLE_FEATURES

    if tta == 0:
        return TTA_SIZES[-1] if feature_name in AUGMENTABLE_FEATURES else 1
    return int(tta)


def combine_outputs(outputs: Sequence[np.ndarray]) -> np.ndarray:
    """One Multi-ACCDOA output (T_label, 3, E, 13) from several of the same recording (test-time transforms mapped
    back, ensemble members): per frame, track and class the direction of the mean xyz vector with the mean vector
    length (activity); a 4th axis (distance) is averaged. Averaging the vectors alone would shorten them wherever
    the outputs disagree on the direction, and drop detections below the threshold."""
    if not outputs:
        raise ValueError("no outputs to combine")
    if len(outputs) == 1:
        return np.asarray(outputs[0], dtype=np.float32)
    stack = np.stack([np.asarray(o, dtype=np.float64) for o in outputs])
    mean = stack.mean(axis=0)
    length = np.linalg.norm(stack[:, :, :, :3], axis=3, keepdims=True).mean(axis=0)
    mean[:, :, :3] *= length / np.maximum(np.linalg.norm(mean[:, :, :3], axis=2, keepdims=True), 1e-12)
    return mean.astype(np.float32)


def transformed_outputs(model: torch.nn.Module, features: np.ndarray, stats: tuple[np.ndarray, np.ndarray],
                        visual: np.ndarray | None, visual_kind: str, plan: tuple[int, int, int], frames_per_label: int,
                        device: torch.device, inference: InferenceConfig, feature_name: str,
                        amp_dtype: torch.dtype | None = None) -> list[np.ndarray]:
    """The outputs (T_label, 3, E, 13) of one recording from its raw (unnormalised) features (C, T, F), one per
    test-time transform (``inference.tta`` = n; 0: see :func:`resolved_tta`): the scene as it is, then rotated /
    reflected by the FOA transforms 1..n-1 (features and visual input), each output's directions mapped back to
    the original scene (``logmel_iv`` features only). ``plan`` = (window, hop, margin) of
    :func:`sliding_window_inference`."""
    from feature.cache import normalize_features
    from seld_data_loader import AUGMENTABLE_FEATURES, FoaRotations

    n = resolved_tta(inference.tta, feature_name)
    if n not in TTA_SIZES:
        raise InputError(None, f"inference.tta must be one of {TTA_SIZES}, got {n}")
    if n > 1 and feature_name not in AUGMENTABLE_FEATURES:
        raise InputError(None, f"test-time augmentation (inference.tta={n}) needs {' or '.join(AUGMENTABLE_FEATURES)} "
                               f"features, not {feature_name}")
    window, hop, margin = plan
    rotations = FoaRotations()
    outputs = []
    for t in range(n):
        feats = normalize_features(rotations.features(features, t) if t else features, *stats)
        vis = rotations.visual(visual, t, visual_kind) if t and visual is not None else visual
        out = sliding_window_inference(model, feats, vis, window, hop, margin, frames_per_label, device,
                                       inference.batch_size, amp_dtype)
        if t:  # directions of the transformed scene -> the original scene (the matrices are orthogonal)
            out[:, :, :3] = np.einsum("ba,tkbc->tkac", rotations.matrix(t), out[:, :, :3])
        outputs.append(out)
    return outputs


def infer_recording(model: torch.nn.Module, features: np.ndarray, stats: tuple[np.ndarray, np.ndarray],
                    visual: np.ndarray | None, visual_kind: str, plan: tuple[int, int, int], frames_per_label: int,
                    device: torch.device, inference: InferenceConfig, feature_name: str,
                    amp_dtype: torch.dtype | None = None) -> np.ndarray:
    """Multi-ACCDOA output (T_label, 3, E, 13) of one recording: :func:`transformed_outputs` combined by
    :func:`combine_outputs` (with ``inference.tta`` > 1, the mean direction with the mean activity of the
    transformed runs)."""
    return combine_outputs(transformed_outputs(model, features, stats, visual, visual_kind, plan, frames_per_label,
                                               device, inference, feature_name, amp_dtype))


def infer_ensemble(members: Sequence[LoadedModel], features: np.ndarray, visual: np.ndarray | None,
                   inference: InferenceConfig) -> np.ndarray:
    """Multi-ACCDOA output of one recording from one or several trained models (an ensemble, e.g. training seeds):
    every member's outputs over the test-time transforms, each with its own feature statistics and windows, combined
    by :func:`combine_outputs`. ``inference.window_s`` = 0 uses each member's training window."""
    outputs = []
    for m in members:
        outputs += transformed_outputs(m.model, features, (m.mean, m.std), visual, m.spec.visual,
                                       m.window_plan(inference), m.frames_per_label, m.device, inference,
                                       m.feature_name)
    return combine_outputs(outputs)


def plot_doa_trajectory(pred: Sequence[Event], ref: Sequence[Event] | None = None, title: str = "",
                        path: str | Path | None = None, num_frames: int | None = None):
    """Azimuth vs time of predicted (and reference) events, coloured by class; saved as PNG when ``path``."""
    import matplotlib.pyplot as plt

    from util.conventions import CLASS_NAMES, LABEL_HOP_S

    fig, ax = plt.subplots(figsize=(10, 4))
    cmap = plt.get_cmap("tab20")
    if ref:
        ax.scatter([e.frame * LABEL_HOP_S for e in ref], [e.azimuth for e in ref], s=18, marker="s", facecolors="none",
                   edgecolors=[cmap(e.cls) for e in ref], linewidths=0.8, label="reference")
    if pred:
        ax.scatter([e.frame * LABEL_HOP_S for e in pred], [e.azimuth for e in pred], s=5,
                   c=[cmap(e.cls) for e in pred], label="prediction")
    present = sorted({e.cls for e in list(pred) + list(ref or [])})
    for c in present:
        ax.plot([], [], "o", color=cmap(c), label=CLASS_NAMES[c])
    ax.set_ylim(-180, 180)
    if num_frames:
        ax.set_xlim(0, num_frames * LABEL_HOP_S)
    ax.set_yticks(range(-180, 181, 90))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("azimuth (deg)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if present:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    fig.tight_layout()
    if path is not None:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    return fig


def predict_recordings(loaded: LoadedModel | Sequence[LoadedModel], wavs: dict[str, Path], out_dir: str | Path,
                       visual_inputs: dict[str, np.ndarray] | None = None, inference: InferenceConfig | None = None,
                       progress: bool = True) -> dict[str, list[Event]]:
    """Run a loaded model (or an ensemble: :func:`load_ensemble`) on wav files (name -> path): writes
    ``<name>.npy``, ``<name>.csv`` and ``<name>_doa.png`` into ``out_dir``; returns the events per name."""
    import matplotlib.pyplot as plt
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
        events = decode_multi_accdoa(output, inference.threshold, inference.merge_deg,
                                     smooth_frames=inference.smooth_frames)
        save_output_npy(out_dir / f"{name}.npy", output)
        write_events_csv(out_dir / f"{name}.csv", events)
        plt.close(plot_doa_trajectory(events, None, name, out_dir / f"{name}_doa.png", t_label))
        results[name] = events
    return results


# ------------------------------------------------------------------------------------------ seld.py predict
def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``seld.py predict``."""
    from detection.base import DEFAULT_DETECTOR

    parser.add_argument("--checkpoint", required=True, type=Path, nargs="+",
                        help="training checkpoint (best.pt / last.pt); several: run them as an ensemble")
    parser.add_argument("--input", required=True, type=Path, help="a wav file or a folder of wav files (recursive)")
    parser.add_argument("--out", required=True, type=Path, help="output folder for .npy, .csv and _doa.png files")
    parser.add_argument("--detections", type=Path, default=None,
                        help="folder of detection CSVs (object_detection.py) named like the wav files")
    parser.add_argument("--video", type=Path, default=None,
                        help="folder of mp4 videos named like the wav files (frames for av_vit; else run "
                             "through --detector)")
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
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _visual_inputs(loaded: LoadedModel, names: dict[str, Path], args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Visual inputs per recording at the label rate: Gaussian vectors from detection CSVs or from videos run
    through a person detector (vector models), or 10 fps frames decoded from videos (``av_vit``)."""
    kind = loaded.spec.visual
    if kind == "none" or loaded.config.model.audio_only:
        return {}
    found: dict[str, np.ndarray] = {}
    videos = {p.stem: p for p in Path(args.video).rglob("*.mp4")} if args.video is not None else {}
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
        if args.detections is not None:
            files = {p.stem: p for p in Path(args.detections).rglob("*.csv")}
            found.update({n: recording_vectors(read_detections(files[n]), spec) for n in names if n in files})
        todo = [n for n in names if n in videos and n not in found]
        if todo:
            from detection.base import build_detector
            from object_detection import detect_video

            detector = build_detector(args.detector, weights=args.detector_weights, device=str(loaded.device))
            found.update({n: recording_vectors(detect_video(videos[n], detector), spec) for n in todo})
    missing = sorted(set(names) - set(found))
    if missing:
        print(f"note: no visual input ({'--video' if kind == 'frames' else '--detections/--video'}) for "
              f"{len(missing)} recording(s), e.g. {missing[0]}; the model sees zeros there")
    return found


def run_predict(args: argparse.Namespace) -> int:
    """Predict DCASE CSVs (+ raw .npy and a DOA-trajectory PNG) for unlabelled wav recordings."""
    from seld_trainer import resolve_device

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
    predict_recordings(members, wavs, args.out, _visual_inputs(loaded, wavs, args), inference,
                       progress=not args.no_progress)
    print(f"wrote {len(wavs)} prediction CSV(s), .npy outputs and DOA plots to {args.out}")
    return 0

"""Whole-recording inference of a network: window plans, sliding windows over a recording (the exact grid or the
AV baseline's float grid), test-time augmentation by FOA rotations / reflections, and ensembles of several
models; the outputs are :class:`seld_decoding.FramedOutput` for the decoders of ``seld_decoding``."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from feature.base import capability, require_capability
from feature.cache import normalize_features
from seld_data_loader import FoaRotations, WindowGrid, crop_padded, window_grid
from seld_decoding import FramedOutput
from seld_model import ModelBundle
from util.config import InferenceConfig
from util.errors import InputError


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


def member_plan(member: ModelBundle, inference: InferenceConfig | None = None) -> tuple[int, int, int]:
    """(window, hop, margin) in feature frames of a loaded model's sliding-window inference (``inference``, default
    the model's own inference settings)."""
    return window_plan(inference or member.config.inference, member.window_frames, member.frames_per_label,
                       member.frame_shift_s, int(member.network.output_hop))


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


def infer_ensemble(members: Sequence[ModelBundle], features: np.ndarray, visual: np.ndarray | None,
                   inference: InferenceConfig) -> FramedOutput:
    """The framed output of one recording from one or several trained models (an ensemble, e.g. training seeds):
    every member's outputs over the test-time transforms, each with its own feature statistics and windows, combined
    by :func:`combine_framed`. ``inference.window_s`` = 0 uses each member's training window."""
    outputs = []
    for m in members:
        outputs += transformed_outputs(m.network, features, (m.mean, m.std), visual, m.spec.visual,
                                       member_plan(m, inference), m.frames_per_label, m.device, inference,
                                       m.feature_name)
    return combine_framed(outputs, subframes=inference.official_decoding)

"""Whole-recording sliding-window inference over a split and its SELD scores (used by training and by
``seld.py evaluate``).

Outputs in ``out_dir``: ``output/<split_dir>/<name>.npy`` (T_label, 3, 3|4, 13) raw Multi-ACCDOA,
``pred/<split_dir>/<name>.csv`` decoded DCASE CSVs, ``metrics.json`` (metrics.scoring result),
``classwise.png`` (class-wise F / LE / LR bars), ``doa_trajectory.png`` (azimuth and elevation vs time, reference
and prediction, of the first recording) and, with ``plots`` (``seld.py evaluate``), the same figure of every
recording in ``plots/<split_dir>/<name>_doa.png`` (util/plots.py).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from feature.cache import FeatureCache, default_cache_dir
from metrics.dcase_csv import read_reference_csv
from metrics.scoring import format_table, score_events, write_result_json
from seld_data_loader import crop_padded
from seld_decoding import FramedOutput, check_smooth_frames, decode_recording, save_output_npy, write_events_csv
from seld_inference import TTA_SIZES, infer_ensemble, infer_recording, resolved_tta, window_plan
from seld_model import load_ensemble, visual_member
from util.cli import SPLIT_CHOICES, add_quiet_argument
from util.config import InferenceConfig, RunConfig, resolve_run_path
from util.errors import InputError
from util.evaluation_key import evaluation_key, forget_key, is_current, write_key
from util.fileio import output_folder
from util.layout import DatasetLayout, Recording
from util.plots import plot_classwise_scores, plot_doa_trajectory
from util.runtime import resolve_device


def format_result(result: dict[str, Any]) -> str:
    """The metrics table of a validation result."""
    return format_table(result)


#: Inference of one recording: raw (unnormalised) features (C, T, F) and visual input (or None) -> its framed
#: Multi-ACCDOA output (seld_decoding.FramedOutput).
Inference = Callable[[np.ndarray, "np.ndarray | None"], FramedOutput]


def model_inference(model: torch.nn.Module, cache: FeatureCache, inference: InferenceConfig, train_window: int,
                    device: torch.device, stats: tuple[np.ndarray, np.ndarray] | None = None,
                    visual_kind: str = "none", amp_dtype: torch.dtype | None = None) -> Inference:
    """:data:`Inference` of a network being trained on ``cache``'s features (``stats``: the training feature
    statistics, default the cache's)."""
    fpl = cache.frames_per_label
    plan = window_plan(inference, train_window, fpl, float(cache.meta["frame_shift_s"]), int(model.output_hop))
    mean_std = stats if stats is not None else cache.stats
    name = cache.feature_config.name
    return lambda feats, visual: infer_recording(model, feats, mean_std, visual, visual_kind, plan, fpl, device,
                                                 inference, name, amp_dtype)


#: Validation loss of one recording: Multi-ACCDOA output (T_label, 3, E, 13) and ADPIT targets (T_label, 6, 5, 13)
#: -> loss value.
LossFunction = Callable[[np.ndarray, np.ndarray], float]


def adpit_loss_function(loss_fn: torch.nn.Module, device: torch.device) -> LossFunction:
    """:data:`LossFunction` of a training loss (``net.adpit.ADPITLoss``) on one whole recording."""
    @torch.inference_mode()
    def loss(output: np.ndarray, target: np.ndarray) -> float:
        out = torch.from_numpy(np.array(output, dtype=np.float32))[None].to(device)
        tgt = torch.from_numpy(np.array(target, dtype=np.float32))[None].to(device)
        return float(loss_fn(out, tgt))

    return loss


def validate(infer: Inference, cache: FeatureCache, recordings: Sequence[Recording], visual_source,
             inference: InferenceConfig, out_dir: str | Path, metric: str = "dcase2023", progress: bool = False,
             figure: bool = True, plots: bool = False, loss: LossFunction | None = None) -> dict[str, Any]:
    """Infer every recording with ``infer`` (:func:`model_inference` or an ensemble), write npy + CSV outputs
    (decoded with ``inference``'s threshold, merge angle, smoothing and rule; the npy files hold the raw output at
    the label rate, row n = the n-th decoded label frame: frame n on the exact grid), score
    them against the dataset's metadata CSVs.

    Returns the metrics.scoring result, plus ``loss`` (the frame-weighted mean of ``loss`` over the recordings'
    raw outputs and cached targets) when ``loss`` is given, and with ``figure`` the matplotlib figures ``figure``
    (the first recording's DOA trajectory) and ``classwise_figure`` (class-wise scores). ``plots``: also write
    every recording's trajectory figure.
    """
    check_smooth_frames(inference.smooth_frames)
    out_dir = Path(out_dir)
    fpl = cache.frames_per_label
    layout = DatasetLayout(cache.meta["data_dir"])
    refs, preds, first = {}, {}, None
    loss_sum, loss_frames = 0.0, 0
    for rec in tqdm(recordings, desc="validate", unit="file", disable=not progress):
        feats = np.asarray(cache.features(rec))
        t_label = feats.shape[1] // fpl
        visual = None
        if visual_source is not None:
            visual = crop_padded(np.asarray(visual_source(rec)), 0, t_label)
        output = infer(feats, visual)
        events = decode_recording(output, inference.threshold, inference.merge_deg, inference.smooth_frames,
                                  inference.official_decoding)
        label_output = output.label_rate()
        save_output_npy(out_dir / "output" / rec.split_dir / f"{rec.name}.npy", label_output)
        write_events_csv(out_dir / "pred" / rec.split_dir / f"{rec.name}.csv", events)
        refs[rec.name] = read_reference_csv(layout.metadata_path(rec))
        preds[rec.name] = events
        if loss is not None:
            target = np.asarray(cache.labels(rec))
            inside = np.asarray(output.frames) < len(target)   # rows of the official grid may lie past the end
            n = int(inside.sum())
            loss_value = float(loss(label_output[inside], target[np.asarray(output.frames)[inside]]))
            loss_sum, loss_frames = loss_sum + n * loss_value, loss_frames + n
        if plots:
            plot_doa_trajectory(events, refs[rec.name], _trajectory_title(rec.name),
                                out_dir / "plots" / rec.split_dir / f"{rec.name}_doa.png", t_label)
        if first is None:
            first = (rec.name, t_label)
    if not refs:
        raise InputError(cache.folder, "no recordings to validate")
    result = score_events(refs, preds, metric=metric)
    if loss is not None:
        result["loss"] = loss_sum / max(1, loss_frames)
    write_result_json(out_dir / "metrics.json", result)
    classwise = plot_classwise_scores(result, f"class-wise scores over {len(refs)} recordings ({metric})",
                                      out_dir / "classwise.png")
    if figure and first is not None:
        name, t_label = first
        result["figure"] = plot_doa_trajectory(preds[name], refs[name], _trajectory_title(name),
                                               out_dir / "doa_trajectory.png", t_label)
        result["classwise_figure"] = classwise
    return result


def _trajectory_title(name: str) -> str:
    return f"{name}: predictions (dots) and reference (rings)"


# ----------------------------------------------------------------------------------------- seld.py evaluate
def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``seld.py evaluate``."""
    parser.add_argument("--checkpoint", required=True, type=Path, nargs="+",
                        help="training checkpoint (best.pt / last.pt) or an official AV-baseline state_dict "
                             "(params_*.pth); several: evaluate them as an ensemble")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="dataset root (STARSS23 layout, with metadata; default: the dataset the checkpoint was "
                             "trained on, its config's data.data_dir)")
    parser.add_argument("--split", default=None, choices=SPLIT_CHOICES[:-1],
                        help="split to evaluate (default: the run's data.test_split, test)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (npy, CSVs, metrics.json, PNG)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="feature cache root (default: the run's data.cache_dir with its own dataset, else "
                             "<data-dir>/cache)")
    parser.add_argument("--cached", action="store_true",
                        help="print OUT/metrics.json instead of evaluating when OUT/evaluation.json shows it was made "
                             "from the same checkpoint contents, dataset files, split, metric and inference settings")
    parser.add_argument("--metric", default="dcase2023", choices=("dcase2023", "dcase2024"), help="SELD metric")
    parser.add_argument("--threshold", type=float, default=None, help="activity threshold (default: the checkpoint's)")
    parser.add_argument("--window", type=float, default=None, help="inference window in seconds")
    parser.add_argument("--hop", type=float, default=None, help="inference hop in seconds")
    parser.add_argument("--keep-margin", type=float, default=None, help="seconds dropped at inner window edges")
    parser.add_argument("--smooth", type=int, default=None,
                        help="moving average of the output over this many label frames before decoding (odd; 1 = "
                             "none; default: the checkpoint's inference.smooth_frames)")
    parser.add_argument("--tta", type=int, default=None, choices=TTA_SIZES,
                        help="test-time augmentation: average over this many FOA transforms (logmel_iv only; "
                             "default: the checkpoint's inference.tta)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--workers", type=int, default=2, help="feature extraction processes")
    add_quiet_argument(parser)


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint (or an ensemble of several) on a labelled split: CSVs, metrics JSON and the printed
    metrics table."""
    with output_folder(args.out):  # an output folder that cannot be made stops the command before any work
        return _evaluate(args)


def _evaluate(args: argparse.Namespace) -> int:
    """The body of :func:`run_evaluate`, once its output folder exists."""
    import matplotlib.pyplot as plt

    from feature.base import FeatureConfig
    from feature.extract import build_feature_cache
    from seld_data_loader import build_visual_source

    members = load_ensemble(args.checkpoint, resolve_device(args.device))
    loaded = visual_member(members)
    cfg = loaded.config
    data_dir, split, cache_dir = evaluation_inputs(cfg, args.data_dir, args.split, args.cache_dir)
    overrides = {"threshold": args.threshold, "window_s": args.window, "hop_s": args.hop,
                 "keep_margin_s": args.keep_margin, "tta": args.tta, "smooth_frames": args.smooth}
    inference = dataclasses.replace(cfg.inference, **{k: v for k, v in overrides.items() if v is not None})
    key = evaluation_key(args.checkpoint, data_dir, cfg.data.audio_format, split, args.metric,
                         dataclasses.asdict(inference))
    print(f"evaluate: {' '.join(map(str, args.checkpoint))} on {data_dir}, split {split} ({args.metric}; "
          f"threshold {inference.threshold:g}, tta {resolved_tta(inference.tta, cfg.features.get('name', ''))}, "
          f"smoothing {inference.smooth_frames})")
    if args.cached and is_current(args.out, key):
        print(f"{args.out / 'metrics.json'} is up to date (same checkpoint contents, dataset files, split, metric "
              f"and inference settings)")
        print(format_result(json.loads((args.out / "metrics.json").read_text())))
        return 0
    forget_key(args.out)
    cache = build_feature_cache(data_dir, cfg.data.audio_format, FeatureConfig.from_dict(cfg.features),
                                cache_dir=cache_dir, workers=args.workers, splits=[split])
    recs = [r for r in cache.recordings(split) if cache.has_labels(r)]
    if not recs:
        raise InputError(data_dir, f"no labelled recordings of split {split!r}")
    visual = None
    if loaded.spec.visual != "none" and not cfg.model.audio_only:
        visual = build_visual_source(dataclasses.replace(cfg.data, data_dir=str(data_dir)), cache_dir)
    result = validate(lambda feats, vis: infer_ensemble(members, feats, vis, inference), cache, recs, visual,
                      inference, args.out, metric=args.metric, progress=not args.quiet, plots=True)
    write_key(args.out, key, args.checkpoint)
    fig = result.pop("figure", None)
    if fig is not None:
        plt.close(fig)
    print(format_result(result))
    print(f"outputs, CSVs and metrics.json in {args.out}")
    return 0


def evaluation_inputs(cfg: RunConfig, data_dir: Path | None, split: str | None,
                      cache_dir: Path | None) -> tuple[Path, str, Path]:
    """Dataset, split and feature-cache root of an evaluation: those given, else the run's own (its config's
    ``data.data_dir``, ``data.test_split`` and ``data.cache_dir``, resolved as :func:`util.config.resolve_run_path`
    does); InputError when the dataset folder is missing."""
    if data_dir is None:
        data_dir = Path(resolve_run_path(cfg, cfg.data.data_dir))
        if cache_dir is None and cfg.data.cache_dir:
            cache_dir = Path(resolve_run_path(cfg, cfg.data.cache_dir))
        if not data_dir.is_dir():
            raise InputError(data_dir, "dataset folder of the run (its config's data.data_dir) not found; give "
                                       "--data-dir")
    elif not data_dir.is_dir():
        raise InputError(data_dir, "dataset folder not found")
    return data_dir, split or cfg.data.test_split, cache_dir if cache_dir is not None else default_cache_dir(data_dir)

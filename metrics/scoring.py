"""Scoring of whole prediction folders or in-memory event lists: file matching, the DCASE2023 / DCASE2024 metric
choice, optional jackknife intervals, a readable table and JSON output; also the ``seld.py score`` subcommand.

``score_folders(ref_dir, pred_dir)`` and ``score_events(refs, preds)`` return a dict::

    {"metric": "dcase2023", "average": "macro", "ER": .., "F": .., "LE": .., "LR": .., "SELD": ..,
     ("DOAE", "DE", "RDE" for dcase2024,)
     "classwise": {class_name: {"ER": .., "F": .., "LE": .., "LR": .., "SELD": ..}},
     "n_files": int, "files": [names], "missing_predictions": [names], "unmatched_predictions": [names],
     ("jackknife": {score: {"estimate", "bias", "std_err", "ci": [low, high]}, "classwise": {...}})}

F and LR are fractions in [0, 1], LE / DOAE in degrees, DE in metres; undefined values are NaN (``null`` in JSON).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from metrics import seld_2023, seld_2024
from metrics.counts import SeldCounts
from metrics.dcase_csv import Event, read_prediction_csv, read_reference_csv
from metrics.jackknife import jackknife_estimate, leave_one_out_scores
from util.conventions import CLASS_NAMES, NUM_CLASSES
from util.errors import InputError
from util.fileio import write_text_atomic

AVERAGES = seld_2023.AVERAGES


@dataclass(frozen=True)
class MetricSpec:
    """One metric: how to count a recording, how to compute scores and which scores it reports."""

    count: Callable[[Sequence[Event], Sequence[Event]], SeldCounts]
    compute: Callable[[SeldCounts, str], dict]
    keys: tuple[str, ...]
    needs_distance: bool


METRICS: dict[str, MetricSpec] = {
    "dcase2023": MetricSpec(seld_2023.count_recording, seld_2023.compute_scores,
                            ("ER", "F", "LE", "LR", "SELD"), False),
    "dcase2024": MetricSpec(seld_2024.count_recording, seld_2024.compute_scores,
                            ("ER", "F", "LE", "DOAE", "DE", "RDE", "LR", "SELD"), True),
}


def find_csv_files(folder: str | Path) -> dict[str, Path]:
    """CSV files under ``folder`` (searched recursively, hidden files skipped) by file stem; InputError when the
    folder is missing or two files share a name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "folder not found")
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.csv")):
        if path.name.startswith("."):
            continue
        if path.stem in found:
            raise InputError(path, f"file name also used by {found[path.stem]}; names must be unique")
        found[path.stem] = path
    return found


def _check_distances(name: str, events: Sequence[Event], what: str, path: Path | None) -> None:
    if any(e.distance is None for e in events):
        raise InputError(path if path is not None else name,
                         f"{what} has no distance column; --metric dcase2024 needs distances "
                         "(references: 6th column in cm; predictions: 6th/7th column in metres)")


def score_events(refs: Mapping[str, Sequence[Event]], preds: Mapping[str, Sequence[Event]],
                 metric: str = "dcase2023", average: str = "macro", jackknife: bool = False,
                 ref_paths: Mapping[str, Path] | None = None, pred_paths: Mapping[str, Path] | None = None) -> dict:
    """Score every recording of ``refs`` (name -> reference events) against ``preds`` (name -> predicted events;
    a missing name counts as an empty prediction and is listed under ``missing_predictions``)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {tuple(METRICS)}, not {metric!r}")
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, not {average!r}")
    spec = METRICS[metric]
    names = sorted(refs)
    per_file: list[SeldCounts] = []
    for name in names:
        pred = preds.get(name, [])
        if spec.needs_distance:
            _check_distances(name, refs[name], "reference", (ref_paths or {}).get(name))
            _check_distances(name, pred, "prediction", (pred_paths or {}).get(name))
        per_file.append(spec.count(refs[name], pred))
    total = SeldCounts(NUM_CLASSES)
    for c in per_file:
        total = total + c
    scores = spec.compute(total, average)
    result = _result_dict(scores, spec.keys)
    result = {"metric": metric, "average": average, **result, "n_files": len(names), "files": names,
              "missing_predictions": [n for n in names if n not in preds],
              "unmatched_predictions": sorted(set(preds) - set(refs))}
    if jackknife:
        if len(per_file) < 2:
            raise InputError(None, "--jackknife needs at least two scored recordings")
        loo = leave_one_out_scores(per_file, lambda c: spec.compute(c, average))
        partials = [_result_dict(s, spec.keys) for s in loo]
        result["jackknife"] = _jackknife(result, partials, spec.keys)
    result["counts"] = total.as_dict()
    return result


def _result_dict(scores: dict, keys: tuple[str, ...]) -> dict:
    out: dict = {k: float(scores[k]) for k in keys}
    out["classwise"] = {name: {k: float(scores["classwise"][k][i]) for k in keys} for i, name in enumerate(CLASS_NAMES)}
    return out


def _jackknife(result: dict, partials: list[dict], keys: tuple[str, ...]) -> dict:
    out: dict = {k: jackknife_estimate(result[k], [p[k] for p in partials]).as_dict() for k in keys}
    out["classwise"] = {}
    for name in CLASS_NAMES:
        values = result["classwise"][name]
        out["classwise"][name] = {
            k: jackknife_estimate(values[k], [p["classwise"][name][k] for p in partials]).as_dict() for k in keys}
    return out


def score_folders(ref_dir: str | Path, pred_dir: str | Path, metric: str = "dcase2023", average: str = "macro",
                  missing_as_empty: bool = False, jackknife: bool = False,
                  on_warning: Callable[[str], None] | None = None) -> dict:
    """Score the prediction CSVs of ``pred_dir`` against the references of ``ref_dir`` (both searched
    recursively, matched by file name). A reference without a prediction is left out with a warning, or scored
    as an empty prediction when ``missing_as_empty``; predictions without a reference are ignored with a warning.
    Warnings go to ``on_warning`` (default: ``warnings.warn``)."""
    warn = on_warning or (lambda msg: warnings.warn(msg, UserWarning, stacklevel=3))
    ref_files = find_csv_files(ref_dir)
    pred_files = find_csv_files(pred_dir)
    if not ref_files:
        raise InputError(ref_dir, "no reference CSV files found")
    missing = sorted(set(ref_files) - set(pred_files))
    for name in missing:
        warn(f"no prediction for {ref_files[name]}; " + ("scored as empty" if missing_as_empty else "left out"))
    unmatched = sorted(set(pred_files) - set(ref_files))
    for name in unmatched:
        warn(f"prediction {pred_files[name]} has no reference; ignored")
    scored = sorted(ref_files) if missing_as_empty else sorted(set(ref_files) & set(pred_files))
    if not scored:
        raise InputError(pred_dir, f"no prediction CSV matches a reference file name in {ref_dir}")
    refs = {n: read_reference_csv(ref_files[n]) for n in scored}
    preds = {n: read_prediction_csv(pred_files[n]) for n in scored if n in pred_files}
    result = score_events(refs, preds, metric, average, jackknife, ref_files, pred_files)
    result["missing_predictions"] = missing
    result["unmatched_predictions"] = unmatched
    result["ref_dir"], result["pred_dir"] = str(ref_dir), str(pred_dir)
    return result


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def write_result_json(path: str | Path, result: dict) -> None:
    """Write a score dict as JSON atomically (NaN as null)."""
    write_text_atomic(path, json.dumps(_json_safe(result), indent=2) + "\n")


def _fmt(key: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key in ("F", "LR"):
        return f"{100.0 * value:.1f}%"
    if key in ("LE", "DOAE"):
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_table(result: dict) -> str:
    """The overall and class-wise scores of a result dict as a text table (F and LR in percent, LE in degrees),
    with jackknife intervals when present."""
    keys = [k for k in METRICS[result["metric"]].keys if not (k == "LE" and "DOAE" in result)]
    width = 10
    lines = [f"SELD metrics ({result['metric']}, {result['average']} average) over {result['n_files']} recordings"]
    lines.append(f"{'':22s}" + "".join(f"{k:>{width}s}" for k in keys))
    lines.append(f"{'overall':22s}" + "".join(f"{_fmt(k, result[k]):>{width}s}" for k in keys))
    jk = result.get("jackknife")
    if jk:
        for end, label in ((0, "95% CI low"), (1, "95% CI high")):
            lines.append(f"{label:22s}" + "".join(f"{_fmt(k, jk[k]['ci'][end]):>{width}s}" for k in keys))
    lines.append("")
    lines.append(f"{'class':22s}" + "".join(f"{k:>{width}s}" for k in keys))
    for i, name in enumerate(CLASS_NAMES):
        row = result["classwise"][name]
        lines.append(f"{i:2d} {name:19s}" + "".join(f"{_fmt(k, row[k]):>{width}s}" for k in keys))
    if result.get("missing_predictions"):
        lines.append(f"\nreferences without a prediction: {len(result['missing_predictions'])}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- seld.py score

def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``seld.py score``."""
    parser.add_argument("--ref-dir", required=True, type=Path, help="reference metadata folder (searched recursively)")
    parser.add_argument("--pred-dir", required=True, type=Path, help="folder of prediction CSVs (matched by file name)")
    parser.add_argument("--metric", choices=tuple(METRICS), default="dcase2023",
                        help="dcase2023: 1 s segments, 20 deg (default); dcase2024: frame-level with distance")
    parser.add_argument("--average", choices=AVERAGES, default="macro", help="class-wise (macro, default) or micro")
    parser.add_argument("--json", type=Path, default=None, help="also write the scores to this JSON file")
    parser.add_argument("--missing-as-empty", action="store_true",
                        help="score references without a prediction file as empty predictions (default: leave out)")
    parser.add_argument("--jackknife", action="store_true", help="leave-one-file-out 95%% confidence intervals")


def run_score(args: argparse.Namespace) -> int:
    """Score prediction CSVs against DCASE reference CSVs (DCASE2023 or DCASE2024 SELD metrics)."""
    result = score_folders(args.ref_dir, args.pred_dir, metric=args.metric, average=args.average,
                           missing_as_empty=args.missing_as_empty, jackknife=args.jackknife,
                           on_warning=lambda msg: print(f"warning: {msg}", file=sys.stderr))
    print(format_table(result))
    if args.json is not None:
        write_result_json(args.json, result)
        print(f"scores written to {args.json}")
    return 0

"""DCASE2024 Task 3 SELD metrics: frame-level, with source distance, as the official DCASE2024 baseline scorer
(``SELDMetrics`` with ``segment_based_metrics=False, evaluate_distance=True``).

Algorithm (per recording; counts accumulate over recordings):

- ``n_frames`` = the last annotated reference frame (not + 1); frames ``0 .. n_frames - 1`` are scored (the last
  annotated frame and predictions past it are ignored, as officially).
- Per frame and class with ``R`` reference and ``P`` predicted instances (every row, duplicates included, in
  file order), ``n_ref += R``. Both present: Hungarian matching on the official Cartesian angle (unit vectors
  with norms padded by 1e-10, :mod:`metrics.directions`; a direction against itself is 8.1e-4 deg) gives ``K = min(P, R)`` pairs with angle error ``a``, distance error
  ``|d_pred - d_ref|`` and relative distance error ``|d_pred - d_ref| / d_ref``; ``L`` = pairs with ``a > 20`` deg
  or relative distance error ``> 1`` (or absolute distance error ``> dist_threshold``, default infinite).
  ``TP += K - L``, ``FP_spatial += L``, ``DE_TP += K``, ``FP, DE_FP += max(0, P - R)``, ``FN, DE_FN +=
  max(0, R - P)``, the error sums add every matched pair; ``loc_FP += max(0, P - R) + L``, ``loc_FN +=
  max(0, R - P)``. Only reference: ``FN, DE_FN, loc_FN += R``; only predicted: ``FP, DE_FP, loc_FP += P``.
- Per frame: S, D, I from loc_FP and loc_FN as in the segment-based metric.

Scores: F = TP / (TP + FP_spatial + (FP + FN) / 2); DOAE = angle sum / DE_TP; DE = distance-error sum / DE_TP;
RDE = relative-distance-error sum / DE_TP (each NaN where DE_TP = 0); LR and ER as in DCASE2023;
SELD = nanmean(1 - F, DOAE / 180, RDE). ``macro``: per class, then F, LR, SELD as means and DOAE, DE, RDE as
NaN-ignoring means over classes. ``eval_distance=False`` gives the official frame-level metric without distance,
SELD = nanmean(ER, 1 - F, DOAE / 180, 1 - LR).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from metrics.counts import SeldCounts
from metrics.dcase_csv import Event
from metrics.matching import directions, group_rows, last_reference_frame, match_groups
from metrics.seld_2023 import AVERAGES, DOA_THRESHOLD_DEG, EPS, MAX_ANGLE_DEG
from util.conventions import NUM_CLASSES

#: Relative distance error threshold of a true positive (|d_pred - d_ref| / d_ref).
REL_DIST_THRESHOLD: float = 1.0
#: Absolute distance error threshold of a true positive (metres; the official default is none).
DIST_THRESHOLD_M: float = math.inf
#: Angle arithmetic of the DCASE2024 scorer (see metrics.directions).
FORM: str = "cartesian"


def count_recording(ref_events: Sequence[Event], pred_events: Sequence[Event], n_classes: int = NUM_CLASSES,
                    doa_threshold: float = DOA_THRESHOLD_DEG, rel_dist_threshold: float = REL_DIST_THRESHOLD,
                    dist_threshold: float = DIST_THRESHOLD_M, eval_distance: bool = True) -> SeldCounts:
    """Frame-level counts of one recording. With ``eval_distance`` every event needs a distance (metres),
    else ValueError."""
    if eval_distance:
        for name, events in (("reference", ref_events), ("prediction", pred_events)):
            if any(e.distance is None for e in events):
                raise ValueError(f"distance evaluation needs a distance in every {name} event")
    n_frames = last_reference_frame(ref_events)
    ref, pred = group_rows(ref_events, n_frames), group_rows(pred_events, n_frames)
    frames = sorted(set(ref) | set(pred))
    keys = [(f, cls) for f in frames for cls in range(n_classes) if cls in ref.get(f, {}) and cls in pred.get(f, {})]
    matches = dict(zip(keys, match_groups(directions(ref_events, FORM), directions(pred_events, FORM),
                                          [(ref[f][c], pred[f][c]) for f, c in keys], FORM)))
    if eval_distance:
        ref_dist = np.array([e.distance for e in ref_events], dtype=np.float64)
        pred_dist = np.array([e.distance for e in pred_events], dtype=np.float64)
    c = SeldCounts(n_classes)
    for frame in frames:
        ref_f, pred_f = ref.get(frame, {}), pred.get(frame, {})
        loc_fp = loc_fn = 0
        for cls in range(n_classes):
            r_idx, p_idx = ref_f.get(cls), pred_f.get(cls)
            if r_idx and p_idx:
                n_r, n_p = len(r_idx), len(p_idx)
                c.n_ref[cls] += n_r
                rows, cols, angles = matches[(frame, cls)]
                bad = angles > doa_threshold
                if eval_distance:
                    d_ref = ref_dist[np.asarray(r_idx)[rows]]
                    d_pred = pred_dist[np.asarray(p_idx)[cols]]
                    err = np.abs(d_ref - d_pred)
                    rel = err / (d_ref + EPS)
                    c.total_dist[cls] += err.sum()
                    c.total_rel_dist[cls] += rel.sum()
                    bad = bad | (err > dist_threshold) | (rel > rel_dist_threshold)
                c.total_angle[cls] += angles.sum()
                wrong = int(bad.sum())
                k = len(rows)
                extra, missed = max(0, n_p - n_r), max(0, n_r - n_p)
                c.tp[cls] += k - wrong
                c.de_tp[cls] += k
                c.fp[cls] += extra
                c.de_fp[cls] += extra
                c.fp_spatial[cls] += wrong
                c.fn[cls] += missed
                c.de_fn[cls] += missed
                loc_fp += extra + wrong
                loc_fn += missed
            elif r_idx:
                c.n_ref[cls] += len(r_idx)
                loc_fn += len(r_idx)
                c.fn[cls] += len(r_idx)
                c.de_fn[cls] += len(r_idx)
            elif p_idx:
                loc_fp += len(p_idx)
                c.fp[cls] += len(p_idx)
                c.de_fp[cls] += len(p_idx)
        c.add_block_errors(loc_fp, loc_fn)
    return c


def _ratio_or_nan(total: np.ndarray, n: np.ndarray) -> np.ndarray:
    out = total / (n + EPS)
    out[n == 0] = np.nan
    return out


def compute_scores(c: SeldCounts, average: str = "macro", eval_distance: bool = True) -> dict:
    """ER, F, LE (= DOAE), DOAE, DE, RDE, LR, SELD from accumulated counts (F, LR fractions; DOAE degrees; DE
    metres; NaN where undefined), plus per-class arrays under ``classwise``."""
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, not {average!r}")
    er = float((c.S + c.D + c.I) / (c.n_ref.sum() + EPS))

    def seld(er_, f_, ae_, lr_, rde_):
        if eval_distance:
            parts = [1.0 - f_, ae_ / MAX_ANGLE_DEG, rde_]
        else:
            parts = [er_, 1.0 - f_, ae_ / MAX_ANGLE_DEG, 1.0 - lr_]
        with np.errstate(invalid="ignore"):
            stacked = np.array(parts, dtype=np.float64)
            valid = ~np.isnan(stacked)
            return np.where(valid, stacked, 0.0).sum(0) / valid.sum(0)

    f_c = c.tp / (EPS + c.tp + c.fp_spatial + 0.5 * (c.fp + c.fn))
    ae_c = _ratio_or_nan(c.total_angle, c.de_tp)
    de_c = _ratio_or_nan(c.total_dist, c.de_tp)
    rde_c = _ratio_or_nan(c.total_rel_dist, c.de_tp)
    lr_c = c.de_tp / (EPS + c.de_tp + c.de_fn)
    er_c = np.full(c.n_classes, er)
    if not eval_distance:
        de_c = np.full(c.n_classes, np.nan)
        rde_c = np.full(c.n_classes, np.nan)
    seld_c = seld(er_c, f_c, ae_c, lr_c, rde_c)
    classwise = {"ER": er_c, "F": f_c, "LE": ae_c, "DOAE": ae_c, "DE": de_c, "RDE": rde_c, "LR": lr_c, "SELD": seld_c}

    def nanmean(x: np.ndarray) -> float:
        return float(np.nanmean(x)) if np.any(~np.isnan(x)) else math.nan

    if average == "macro":
        f, lr, s = float(f_c.mean()), float(lr_c.mean()), float(seld_c.mean())
        ae, de, rde = nanmean(ae_c), nanmean(de_c), nanmean(rde_c)
    else:
        tp, de_tp = c.tp.sum(), c.de_tp.sum()
        f = float(tp / (EPS + tp + c.fp_spatial.sum() + 0.5 * (c.fp.sum() + c.fn.sum())))
        ae = float(c.total_angle.sum() / (de_tp + EPS)) if de_tp else math.nan
        de = float(c.total_dist.sum() / (de_tp + EPS)) if de_tp and eval_distance else math.nan
        rde = float(c.total_rel_dist.sum() / (de_tp + EPS)) if de_tp and eval_distance else math.nan
        lr = float(de_tp / (EPS + de_tp + c.de_fn.sum()))
        s = float(seld(er, f, ae, lr, rde))
    return {"ER": er, "F": f, "LE": ae, "DOAE": ae, "DE": de, "RDE": rde, "LR": lr, "SELD": s, "classwise": classwise}


class SELDMetrics2024:
    """Accumulate-then-compute DCASE2024 frame-level SELD metrics with distance."""

    def __init__(self, n_classes: int = NUM_CLASSES, doa_threshold: float = DOA_THRESHOLD_DEG,
                 rel_dist_threshold: float = REL_DIST_THRESHOLD, dist_threshold: float = DIST_THRESHOLD_M,
                 average: str = "macro", eval_distance: bool = True):
        if average not in AVERAGES:
            raise ValueError(f"average must be one of {AVERAGES}, not {average!r}")
        self.n_classes, self.average, self.eval_distance = n_classes, average, eval_distance
        self.doa_threshold = doa_threshold
        self.rel_dist_threshold, self.dist_threshold = rel_dist_threshold, dist_threshold
        self.counts = SeldCounts(n_classes)

    def update(self, ref_events: Sequence[Event], pred_events: Sequence[Event]) -> SeldCounts:
        """Add one recording; returns its own counts."""
        c = count_recording(ref_events, pred_events, self.n_classes, self.doa_threshold, self.rel_dist_threshold,
                            self.dist_threshold, self.eval_distance)
        self.counts = self.counts + c
        return c

    def compute(self) -> dict:
        """Scores over every recording added so far (see :func:`compute_scores`)."""
        return compute_scores(self.counts, self.average, self.eval_distance)

"""DCASE2023 Task 3 SELD metrics (segment-based, location-aware detection and class-aware localisation), computed
exactly as the official scorer of the DCASE2022/2023 baselines and the STARSS23 audio-visual baseline.

Algorithm (per recording; counts then accumulate over recordings, see :class:`metrics.counts.SeldCounts`):

- ``n_frames`` = the last annotated reference frame (not + 1); blocks = ceil(n_frames / 10) segments of 1 s;
  frame ``f`` lies in block ``f // 10``; frames past the last block (predictions beyond the reference, and the
  last reference frame when it is a multiple of 10) are ignored.
- Per block and class: ``nb_ref`` (``nb_pred``) = most instances of the class in one frame of the block;
  ``n_ref += nb_ref``. If both are present, every frame present in both (in increasing frame order) is
  Hungarian-matched on great-circle angle and each matched angle is filed under the reference instance's
  position in its frame. Every row counts, duplicated rows included (the official loaders keep them); the
  cost matrix has the frame's rows of the class in file order and the official polar arithmetic on radians
  (:mod:`metrics.directions`), so exact ties are broken by scipy exactly as officially. No common frame:
  ``FN, DE_FN, loc_FN += nb_pred`` (the official code's quirk). Otherwise each filed reference position gives a
  mean angle: ``total_angle += mean``, ``DE_TP += 1``, and ``TP += 1`` if mean <= 20 deg else
  ``FP_spatial += 1, loc_FP += 1``; then surplus predictions count ``FP, DE_FP, loc_FP += nb_pred - nb_ref``
  and missing ones ``FN, DE_FN, loc_FN += nb_ref - nb_pred``. Class only in the reference: ``FN, DE_FN, loc_FN
  += nb_ref``; only predicted: ``FP, DE_FP, loc_FP += nb_pred``.
- Per block: ``S += min(loc_FP, loc_FN)``, ``D += max(0, loc_FN - loc_FP)``, ``I += max(0, loc_FP - loc_FN)``.

Scores (:func:`compute_scores`): ER = (S + D + I) / sum(n_ref); F = TP / (TP + FP_spatial + (FP + FN) / 2);
LE = total_angle / DE_TP (180 when DE_TP = 0); LR = DE_TP / (DE_TP + DE_FN); SELD = mean(ER, 1 - F, LE / 180,
1 - LR). ``macro`` (default): F, LE, LR and SELD per class (ER is global), then means over all classes (a class
absent from both reference and prediction counts with F = 0, LE = 180, LR = 0, as officially); ``micro``: from
the summed counts.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metrics.counts import SeldCounts
from metrics.dcase_csv import Event
from metrics.directions import FORMS
from metrics.matching import FrameClassRows, directions, group_rows, last_reference_frame, match_groups
from util.conventions import LABEL_FPS, NUM_CLASSES

#: Segment length in label frames (1 s).
FRAMES_PER_SEGMENT: int = LABEL_FPS
#: DOA threshold of a location-aware true positive (degrees).
DOA_THRESHOLD_DEG: float = 20.0
#: Localisation error of a class without any matched instance (degrees).
MAX_ANGLE_DEG: float = 180.0
EPS: float = float(np.finfo(float).eps)
AVERAGES: tuple[str, ...] = ("macro", "micro")

def n_segments(n_frames: int, frames_per_segment: int = FRAMES_PER_SEGMENT) -> int:
    """Number of segments of a recording whose reference length is ``n_frames`` (ceil(n_frames / segment))."""
    return -(-int(n_frames) // frames_per_segment)


def _by_block(rows: FrameClassRows, frames_per_segment: int) -> dict[int, dict[int, list[int]]]:
    """block -> class -> frames of the block holding the class, in increasing frame order (the official
    ``segment_labels`` order)."""
    out: dict[int, dict[int, list[int]]] = {}
    for frame in sorted(rows):
        for cls in rows[frame]:
            out.setdefault(frame // frames_per_segment, {}).setdefault(cls, []).append(frame)
    return out


def count_recording(ref_events: Sequence[Event], pred_events: Sequence[Event], n_classes: int = NUM_CLASSES,
                    doa_threshold: float = DOA_THRESHOLD_DEG, form: str = "polar",
                    frames_per_segment: int = FRAMES_PER_SEGMENT) -> SeldCounts:
    """Counts of one recording from its reference and predicted events (both segmented with the reference's
    block count). ``form`` is the angle arithmetic (:mod:`metrics.directions`): ``polar`` as the DCASE2023
    scorer, ``cartesian`` as the segment-level metric of the DCASE2024 scorer."""
    nb_blocks = n_segments(last_reference_frame(ref_events), frames_per_segment)
    n_frames = nb_blocks * frames_per_segment
    ref_rows, pred_rows = group_rows(ref_events, n_frames), group_rows(pred_events, n_frames)
    ref_blocks, pred_blocks = _by_block(ref_rows, frames_per_segment), _by_block(pred_rows, frames_per_segment)
    keys = [(frame, cls) for frame, by_class in ref_rows.items() for cls in by_class
            if cls in pred_rows.get(frame, {})]
    matches = dict(zip(keys, match_groups(directions(ref_events, form), directions(pred_events, form),
                                          [(ref_rows[f][c], pred_rows[f][c]) for f, c in keys], form)))
    c = SeldCounts(n_classes)
    for block in range(nb_blocks):
        ref_block, pred_block = ref_blocks.get(block, {}), pred_blocks.get(block, {})
        loc_fp = loc_fn = 0
        for cls in range(n_classes):
            ref_frames, pred_frames = ref_block.get(cls), pred_block.get(cls)
            nb_ref = max(len(ref_rows[f][cls]) for f in ref_frames) if ref_frames else 0
            nb_pred = max(len(pred_rows[f][cls]) for f in pred_frames) if pred_frames else 0
            c.n_ref[cls] += nb_ref
            if ref_frames and pred_frames:
                angles: dict[int, list[float]] = {}  # reference position in its frame -> matched angles
                for frame in ref_frames:
                    match = matches.get((frame, cls))
                    if match is None:
                        continue
                    for r, d in zip(match[0], match[2].tolist()):
                        angles.setdefault(r, []).append(d)
                if not angles:  # no common frame: the official scorer counts nb_pred misses here
                    loc_fn += nb_pred
                    c.fn[cls] += nb_pred
                    c.de_fn[cls] += nb_pred
                    continue
                for values in angles.values():
                    mean = sum(values) / len(values)
                    c.total_angle[cls] += mean
                    c.de_tp[cls] += 1
                    if mean <= doa_threshold:
                        c.tp[cls] += 1
                    else:
                        loc_fp += 1
                        c.fp_spatial[cls] += 1
                if nb_pred > nb_ref:
                    loc_fp += nb_pred - nb_ref
                    c.fp[cls] += nb_pred - nb_ref
                    c.de_fp[cls] += nb_pred - nb_ref
                elif nb_pred < nb_ref:
                    loc_fn += nb_ref - nb_pred
                    c.fn[cls] += nb_ref - nb_pred
                    c.de_fn[cls] += nb_ref - nb_pred
            elif ref_frames:
                loc_fn += nb_ref
                c.fn[cls] += nb_ref
                c.de_fn[cls] += nb_ref
            elif pred_frames:
                loc_fp += nb_pred
                c.fp[cls] += nb_pred
                c.de_fp[cls] += nb_pred
        c.add_block_errors(loc_fp, loc_fn)
    return c


def seld_error(er: np.ndarray | float, f: np.ndarray | float, le: np.ndarray | float,
               lr: np.ndarray | float) -> np.ndarray | float:
    """SELD error = mean(ER, 1 - F, LE / 180, 1 - LR) (element-wise)."""
    return (er + (1.0 - f) + le / MAX_ANGLE_DEG + (1.0 - lr)) / 4.0


def compute_scores(c: SeldCounts, average: str = "macro") -> dict:
    """ER, F, LE, LR, SELD (F and LR fractions, LE degrees) from accumulated counts, plus per-class arrays under
    ``classwise`` (keys ER, F, LE, LR, SELD, each of shape (n_classes,))."""
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, not {average!r}")
    er = float((c.S + c.D + c.I) / (c.n_ref.sum() + EPS))
    f_c = c.tp / (EPS + c.tp + c.fp_spatial + 0.5 * (c.fp + c.fn))
    le_c = c.total_angle / (c.de_tp + EPS)
    le_c[c.de_tp == 0] = MAX_ANGLE_DEG
    lr_c = c.de_tp / (EPS + c.de_tp + c.de_fn)
    er_c = np.full(c.n_classes, er)
    seld_c = seld_error(er_c, f_c, le_c, lr_c)
    classwise = {"ER": er_c, "F": f_c, "LE": le_c, "LR": lr_c, "SELD": seld_c}
    if average == "macro":
        f, le, lr, seld = float(f_c.mean()), float(le_c.mean()), float(lr_c.mean()), float(seld_c.mean())
    else:
        tp, de_tp = c.tp.sum(), c.de_tp.sum()
        f = float(tp / (EPS + tp + c.fp_spatial.sum() + 0.5 * (c.fp.sum() + c.fn.sum())))
        le = float(c.total_angle.sum() / (de_tp + EPS)) if de_tp else MAX_ANGLE_DEG
        lr = float(de_tp / (EPS + de_tp + c.de_fn.sum()))
        seld = float(seld_error(er, f, le, lr))
    return {"ER": er, "F": f, "LE": le, "LR": lr, "SELD": seld, "classwise": classwise}


class SELDMetrics2023:
    """Accumulate-then-compute DCASE2023 SELD metrics: ``update(ref, pred)`` per recording, then ``compute()``.
    ``form="cartesian"`` gives the segment-level metric of the DCASE2024 scorer (same algorithm, its angles)."""

    def __init__(self, n_classes: int = NUM_CLASSES, doa_threshold: float = DOA_THRESHOLD_DEG,
                 average: str = "macro", form: str = "polar"):
        if average not in AVERAGES:
            raise ValueError(f"average must be one of {AVERAGES}, not {average!r}")
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, not {form!r}")
        self.n_classes, self.doa_threshold, self.average, self.form = n_classes, doa_threshold, average, form
        self.counts = SeldCounts(n_classes)

    def update(self, ref_events: Sequence[Event], pred_events: Sequence[Event]) -> SeldCounts:
        """Add one recording; returns its own counts (kept by callers that need a jackknife)."""
        c = count_recording(ref_events, pred_events, self.n_classes, self.doa_threshold, self.form)
        self.counts = self.counts + c
        return c

    def compute(self) -> dict:
        """Scores over every recording added so far (see :func:`compute_scores`)."""
        return compute_scores(self.counts, self.average)

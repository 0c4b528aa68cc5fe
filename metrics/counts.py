"""Additive SELD counts shared by the DCASE2023 (segment) and DCASE2024 (frame) metrics.

Counts from several files add up (``a + b``) and subtract (``total - one_file``, used by the jackknife), so scores
are always computed from counts accumulated over all files, never averaged per file. Per-class arrays have shape
``(n_classes,)``; ``S``, ``D``, ``I`` are global substitution / deletion / insertion counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from util.conventions import NUM_CLASSES

#: The per-class count arrays (names follow the official scorer: ``total_angle`` is its total_DE / total_AngE).
PER_CLASS_FIELDS: tuple[str, ...] = (
    "tp", "fp", "fp_spatial", "fn", "n_ref", "total_angle", "total_dist", "total_rel_dist", "de_tp", "de_fp", "de_fn",
)


@dataclass
class SeldCounts:
    """True/false positives and negatives, localisation sums and the S/D/I error counts of a SELD evaluation."""

    n_classes: int = NUM_CLASSES
    tp: np.ndarray = field(default=None)  # type: ignore[assignment]
    fp: np.ndarray = field(default=None)  # type: ignore[assignment]
    fp_spatial: np.ndarray = field(default=None)  # type: ignore[assignment]
    fn: np.ndarray = field(default=None)  # type: ignore[assignment]
    n_ref: np.ndarray = field(default=None)  # type: ignore[assignment]
    total_angle: np.ndarray = field(default=None)  # type: ignore[assignment]
    total_dist: np.ndarray = field(default=None)  # type: ignore[assignment]
    total_rel_dist: np.ndarray = field(default=None)  # type: ignore[assignment]
    de_tp: np.ndarray = field(default=None)  # type: ignore[assignment]
    de_fp: np.ndarray = field(default=None)  # type: ignore[assignment]
    de_fn: np.ndarray = field(default=None)  # type: ignore[assignment]
    S: float = 0.0
    D: float = 0.0
    I: float = 0.0  # noqa: E741

    def __post_init__(self) -> None:
        for name in PER_CLASS_FIELDS:
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(self.n_classes, dtype=np.float64))

    def _combine(self, other: SeldCounts, sign: float) -> SeldCounts:
        if not isinstance(other, SeldCounts) or other.n_classes != self.n_classes:
            return NotImplemented
        out = SeldCounts(self.n_classes)
        for f in fields(self):
            if f.name == "n_classes":
                continue
            setattr(out, f.name, getattr(self, f.name) + sign * getattr(other, f.name))
        return out

    def __add__(self, other: SeldCounts) -> SeldCounts:
        return self._combine(other, 1.0)

    def __sub__(self, other: SeldCounts) -> SeldCounts:
        return self._combine(other, -1.0)

    def as_dict(self) -> dict[str, list[float] | float]:
        """JSON-ready copy: per-class lists and the S, D, I scalars."""
        out: dict[str, list[float] | float] = {name: getattr(self, name).tolist() for name in PER_CLASS_FIELDS}
        out.update(S=float(self.S), D=float(self.D), I=float(self.I))
        return out

    def add_block_errors(self, loc_fp: float, loc_fn: float) -> None:
        """Accumulate one segment's (or frame's) location-sensitive FP / FN into substitutions, deletions and
        insertions: S += min(FP, FN), D += max(0, FN - FP), I += max(0, FP - FN)."""
        self.S += min(loc_fp, loc_fn)
        self.D += max(0.0, loc_fn - loc_fp)
        self.I += max(0.0, loc_fp - loc_fn)

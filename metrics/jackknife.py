"""Leave-one-file-out jackknife confidence intervals, as in the official DCASE scorer (``jackknife_estimation``).

With ``n`` partial estimates (each computed without one file): bias = (n - 1) (mean(partials) - global);
estimate = global - bias; std_err = sqrt((n - 1) mean((partials - mean(partials))^2)); the interval is
estimate -/+ t(1 - alpha / 2, n - 1) std_err.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from metrics.counts import SeldCounts

SIGNIFICANCE: float = 0.05


@dataclass(frozen=True)
class JackknifeResult:
    """Bias-corrected estimate, bias, standard error and confidence interval (low, high) of one score."""

    estimate: float
    bias: float
    std_err: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float | list[float]]:
        return {"estimate": self.estimate, "bias": self.bias, "std_err": self.std_err, "ci": [self.low, self.high]}


def jackknife_estimate(global_value: float, partial_estimates: Sequence[float] | np.ndarray,
                       significance: float = SIGNIFICANCE) -> JackknifeResult:
    """Jackknife statistics of a score from its value on all files and its leave-one-out values."""
    if not 0.0 < significance < 1.0:
        raise ValueError("significance must be in (0, 1)")
    partial = np.asarray(partial_estimates, dtype=np.float64)
    n = len(partial)
    if n < 2:
        raise ValueError("the jackknife needs at least two files")
    mean = float(np.mean(partial))
    bias = (n - 1) * (mean - global_value)
    std_err = float(np.sqrt((n - 1) * np.mean((partial - mean) ** 2)))
    estimate = global_value - bias
    t = float(stats.t.ppf(1.0 - significance / 2.0, n - 1))
    return JackknifeResult(estimate, bias, std_err, estimate - t * std_err, estimate + t * std_err)


def leave_one_out_scores(per_file: Sequence[SeldCounts], compute: Callable[[SeldCounts], dict]) -> list[dict]:
    """Scores computed from the summed counts of all files but one, for each file in turn (counts are additive,
    so each partial is ``total - file``)."""
    total = per_file[0]
    for c in per_file[1:]:
        total = total + c
    return [compute(total - c) for c in per_file]

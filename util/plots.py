"""Figures of SELD results: direction trajectories of a recording and class-wise scores of an evaluation.

Figures are built with matplotlib's object API on its Agg canvas (``matplotlib.figure.Figure``), so nothing here
touches pyplot's global backend or needs a display; they are returned (TensorBoard's ``add_figure`` takes them)
and, given a path, written as PNG atomically. Classes keep the colours of ``util.conventions.CLASS_COLORS`` (the
same as in rendered videos); reference events are open rings, predictions filled dots.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from util.conventions import CLASS_COLORS, CLASS_NAMES, LABEL_HOP_S
from util.fileio import atomic_path

if TYPE_CHECKING:  # annotations only: util/ imports no higher layer at run time
    from metrics.dcase_csv import Event

#: Resolution of written PNGs.
DPI: int = 100
#: Class-wise scores of :func:`plot_classwise_scores`: result key, axis label, scale factor, axis limit.
CLASSWISE_PANELS: tuple[tuple[str, str, float, float], ...] = (
    ("F", "F-score (%)", 100.0, 100.0),
    ("LE", "localization error (deg)", 1.0, 180.0),
    ("LR", "localization recall (%)", 100.0, 100.0),
)


def class_color(cls: int) -> tuple[float, float, float]:
    """The class colour as matplotlib RGB in [0, 1]."""
    return tuple(v / 255.0 for v in CLASS_COLORS[cls])


def _figure(width_in: float, height_in: float, rows: int = 1, cols: int = 1, **kwargs):
    """A figure on an Agg canvas and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, **kwargs)
    return fig, axes


def save_figure(fig, path: str | Path) -> None:
    """Write a figure as PNG atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")


def plot_doa_trajectory(pred: Sequence[Event], ref: Sequence[Event] | None = None, title: str = "",
                        path: str | Path | None = None, num_frames: int | None = None):
    """Azimuth and elevation against time (two panels) of predicted events (filled dots) and, when given,
    reference events (open rings), coloured by class with the class names in the legend; ``num_frames`` (label
    frames) fixes the time axis. Written as PNG when ``path``; returns the figure."""
    from matplotlib.lines import Line2D

    ref = list(ref or [])
    pred = list(pred)
    fig, (ax_az, ax_el) = _figure(11, 5.5, 2, 1, sharex=True)
    for ax, attr, limit, step in ((ax_az, "azimuth", 180, 90), (ax_el, "elevation", 90, 45)):
        if ref:
            ax.scatter([e.frame * LABEL_HOP_S for e in ref], [getattr(e, attr) for e in ref], s=26,
                       facecolors="none", edgecolors=[class_color(e.cls) for e in ref], linewidths=0.9, zorder=3)
        if pred:
            ax.scatter([e.frame * LABEL_HOP_S for e in pred], [getattr(e, attr) for e in pred], s=7,
                       c=[class_color(e.cls) for e in pred], linewidths=0, zorder=2)
        ax.set_ylim(-limit, limit)
        ax.set_yticks(range(-limit, limit + 1, step))
        ax.set_ylabel(f"{attr} (deg)")
        ax.grid(alpha=0.3)
    if num_frames:
        ax_el.set_xlim(0, num_frames * LABEL_HOP_S)
    ax_el.set_xlabel("time (s)")
    ax_az.set_title(title)
    present = sorted({e.cls for e in pred + ref})
    handles = [Line2D([], [], marker="o", linestyle="", color="0.3", markersize=4, label="prediction")]
    if ref:
        handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="0.3",
                              markersize=6, label="reference"))
    handles += [Line2D([], [], marker="s", linestyle="", color=class_color(c), markersize=7, label=CLASS_NAMES[c])
                for c in present]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.83, 0.93), fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.82, top=0.93, bottom=0.1, hspace=0.12)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_classwise_scores(result: Mapping[str, Any], title: str = "", path: str | Path | None = None):
    """Bar charts of the class-wise F-score, localization error and localization recall of a metrics.scoring
    result (``result["classwise"][class_name][key]``), one bar per class in its colour, the value written beside
    it; undefined values (NaN) are marked "-". Written as PNG when ``path``; returns the figure."""
    classwise = result["classwise"]
    fig, axes = _figure(12, 4.8, 1, len(CLASSWISE_PANELS), sharey=True)
    rows = list(range(len(CLASS_NAMES)))
    colors = [class_color(c) for c in rows]
    for ax, (key, label, scale, limit) in zip(axes, CLASSWISE_PANELS):
        values = [classwise[name].get(key, math.nan) for name in CLASS_NAMES]
        shown = [0.0 if v is None or math.isnan(v) else scale * v for v in values]
        ax.barh(rows, shown, color=colors, edgecolor="0.25", linewidth=0.5)
        for r, v, s in zip(rows, values, shown):
            text = "-" if v is None or math.isnan(v) else f"{s:.1f}" if key == "LE" else f"{s:.0f}"
            ax.text(min(s, limit) + 0.01 * limit, r, text, va="center", fontsize=7)
        overall = result.get(key)
        if overall is not None and not math.isnan(overall):
            ax.axvline(scale * overall, color="0.2", linestyle="--", linewidth=0.8)
            ax.set_title(f"{label}\noverall {scale * overall:.1f}", fontsize=9)
        else:
            ax.set_title(label, fontsize=9)
        ax.set_xlim(0, 1.12 * limit)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(rows)
    axes[0].set_yticklabels(CLASS_NAMES, fontsize=8)
    axes[0].invert_yaxis()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.14, right=0.98, top=0.82 if title else 0.86, bottom=0.08, wspace=0.08)
    if path is not None:
        save_figure(fig, path)
    return fig

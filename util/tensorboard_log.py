"""What a training run writes to TensorBoard, in one place (the trainer calls these helpers).

Tags (scalars unless noted)::

    train/loss, train/lr                     every ``train.log_every`` iterations (written by the trainer)
    val/loss                                 ADPIT loss of the whole validation recordings (label rate)
    val/error_rate, val/f_score, val/localization_error_deg, val/localization_recall, val/seld_error
                                             the SELD scores (F and LR as fractions, LE in degrees)
    best/seld_error                          the lowest validation SELD error so far (the best checkpoint's)
    val_classwise/<score>/<class name>       the class-wise f_score, localization_error_deg, localization_recall
                                             and seld_error
    val/classwise (text)                     the metrics table
    val/doa_trajectory, val/classwise_scores (figures)  util/plots.py, every validation
    hparams (HParams tab)                    the flattened run config (``data.feature``, ``train.lr``,
                                             ``model.params.gru_hidden``, ...) against the val/ and best/ scores

Score names are spelled out so that none reads like the learning rate (``LR`` is the localization recall).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from util.conventions import CLASS_NAMES

#: Result key of metrics.scoring -> TensorBoard tag name.
SCORE_TAGS: dict[str, str] = {
    "ER": "error_rate", "F": "f_score", "LE": "localization_error_deg", "LR": "localization_recall",
    "SELD": "seld_error", "DOAE": "doa_error_deg", "DE": "distance_error_m", "RDE": "relative_distance_error",
}
#: Class-wise scores logged per class (ER is global in the DCASE macro average).
CLASSWISE_KEYS: tuple[str, ...] = ("F", "LE", "LR", "SELD")
#: Scores the HParams tab shows for every run.
HPARAM_METRICS: tuple[str, ...] = ("val/seld_error", "best/seld_error", "val/error_rate", "val/f_score",
                                   "val/localization_error_deg", "val/localization_recall", "val/loss")


def flat_hparams(config: Mapping[str, Any], prefix: str = "") -> dict[str, int | float | str | bool]:
    """A nested config dict as ``section.key`` -> value with the types TensorBoard's HParams accept (bool, int,
    float, str); lists, tuples and None become their text."""
    out: dict[str, int | float | str | bool] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_hparams(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = str(value)
    return out


def write_hparams(writer, config: Mapping[str, Any]) -> None:
    """Write the run's hyperparameters into the writer's own event file (not a sub-run, unlike
    ``SummaryWriter.add_hparams``), so the HParams tab lists the run with the scalars of :data:`HPARAM_METRICS`."""
    from torch.utils.tensorboard.summary import hparams

    experiment, session_start, session_end = hparams(flat_hparams(config), {tag: math.nan for tag in HPARAM_METRICS})
    file_writer = writer.file_writer if getattr(writer, "file_writer", None) is not None else writer._get_file_writer()
    for summary in (experiment, session_start, session_end):
        file_writer.add_summary(summary)


def log_validation(writer, result: Mapping[str, Any], step: int, best_seld: float | None = None,
                   table: str | None = None) -> None:
    """Scalars, class-wise scalars, the metrics table (``table``) and the figures (``figure``,
    ``classwise_figure`` of ``seld_validator.validate``) of one validation."""
    if "loss" in result:
        writer.add_scalar("val/loss", float(result["loss"]), step)
    for key, tag in SCORE_TAGS.items():
        if key in result:
            writer.add_scalar(f"val/{tag}", float(result[key]), step)
    if best_seld is not None and math.isfinite(best_seld):
        writer.add_scalar("best/seld_error", float(best_seld), step)
    for name in CLASS_NAMES:
        scores = result.get("classwise", {}).get(name, {})
        for key in CLASSWISE_KEYS:
            value = scores.get(key)
            if value is not None and not math.isnan(value):
                writer.add_scalar(f"val_classwise/{SCORE_TAGS[key]}/{name}", float(value), step)
    if table is not None:
        writer.add_text("val/classwise", "```\n" + table + "\n```", step)
    for key, tag in (("figure", "val/doa_trajectory"), ("classwise_figure", "val/classwise_scores")):
        if result.get(key) is not None:
            writer.add_figure(tag, result[key], step)

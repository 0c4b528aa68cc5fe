#!/usr/bin/env python3
"""Command-line entry point of the SELD framework.

Subcommands (``python seld.py --help``) are listed in ``SUBCOMMANDS``: each names the module that holds the
functions adding its arguments and running it. Only the chosen subcommand's module is imported, so every command
starts fast. Bad input raises ``util.errors.InputError``, printed here as one line (``error: <file>: <problem>``)
with exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass

from util.cli import DefaultsHelpFormatter
from util.errors import InputError


@dataclass(frozen=True)
class Subcommand:
    """A subcommand: ``module.add_arguments(parser)`` adds its arguments, ``module.run(args)`` runs it."""

    name: str
    module: str
    add_arguments: str
    run: str
    help: str


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("synthesize", "synthesize_dataset", "add_arguments", "run",
               "make a synthetic STARSS23-format audio-visual dataset"),
    Subcommand("extract", "feature.extract", "add_arguments", "run",
               "extract audio features and ADPIT labels of a dataset into the feature cache"),
    Subcommand("detect", "object_detection", "add_arguments", "run",
               "run a person detector over a dataset's videos and write detection files"),
    Subcommand("train", "seld_trainer", "add_train_arguments", "run_train",
               "train a SELD model (new run folder, or --resume)"),
    Subcommand("evaluate", "seld_validator", "add_evaluate_arguments", "run_evaluate",
               "evaluate a checkpoint on a dataset split: .npy outputs, CSVs, metrics table and JSON"),
    Subcommand("predict", "seld_predictor", "add_predict_arguments", "run_predict",
               "run a checkpoint on recordings without labels: CSVs and DOA-trajectory plots"),
    Subcommand("import-official", "seld_predictor", "add_import_arguments", "run_import",
               "convert a state_dict of the official AV baseline (params_*.pth) into a checkpoint of this project"),
    Subcommand("render", "render_video", "add_arguments", "run",
               "draw prediction (and reference) events and person boxes onto a 360-degree video"),
    Subcommand("score", "metrics.scoring", "add_score_arguments", "run_score",
               "score a folder of prediction CSVs against reference metadata (DCASE2023 / DCASE2024)"),
    Subcommand("runs", "util.runs", "add_arguments", "run",
               "questions about run folders the recipes ask: the latest run of a name, a run's iterations"),
)


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the subcommand ``chosen`` (if any) gets its full arguments."""
    parser = argparse.ArgumentParser(prog="seld.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in SUBCOMMANDS:
        sp = sub.add_parser(command.name, help=command.help, description=command.help,
                            formatter_class=DefaultsHelpFormatter)
        if command.name == chosen:
            module = importlib.import_module(command.module)
            getattr(module, command.add_arguments)(sp)
            sp.set_defaults(_run=getattr(module, command.run))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(chosen).parse_args(argv)
    try:
        status = args._run(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Command-line entry point of the SELD framework.

Subcommands (``python seld.py --help``): each one is registered in ``SUBCOMMANDS`` with a function that adds
its arguments and a function that runs it. Bad input raises ``util.errors.InputError``, printed here as one
line (``error: <file>: <problem>``) with exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from util.errors import InputError

Subcommand = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int | None]]


def _subcommands() -> list[Subcommand]:
    """The registered subcommands (imported lazily so that ``--help`` stays fast)."""
    entries: list[Subcommand] = []
    import synthesize_dataset

    entries.append(("synthesize", synthesize_dataset.add_arguments, synthesize_dataset.run))
    from metrics import scoring

    entries.append(("score", scoring.add_score_arguments, scoring.run_score))
    from feature import extract as feature_extract

    entries.append(("extract", feature_extract.add_arguments, feature_extract.run))
    import object_detection

    entries.append(("detect", object_detection.add_arguments, object_detection.run))
    import seld_predictor
    import seld_trainer
    import seld_validator

    entries.append(("train", seld_trainer.add_train_arguments, seld_trainer.run_train))
    entries.append(("evaluate", seld_validator.add_evaluate_arguments, seld_validator.run_evaluate))
    entries.append(("predict", seld_predictor.add_predict_arguments, seld_predictor.run_predict))
    return entries


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seld.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, add_arguments, run in _subcommands():
        sp = sub.add_parser(name, help=(run.__doc__ or "").strip().splitlines()[0] if run.__doc__ else None)
        add_arguments(sp)
        sp.set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args._run(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())

"""Print the learning curve of a training run: validation scores against iterations and wall-clock minutes.

    python benchmarks/learning_curve.py runs/<run> [runs/<other run> ...]

Reads ``val_history.jsonl`` (one line per validation, written by ``seld_trainer.py``; ``minutes`` is the run's
training wall-clock time, validation included) and prints one table per run, with the first validation that
reached ``--target`` (default: SELD error 0.40, the project's CPU benchmark bar).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from util.cli import run_main  # noqa: E402
from util.errors import InputError  # noqa: E402


def read_history(run_dir: Path) -> list[dict]:
    """The validation records of a run folder; InputError when there are none or a line is malformed."""
    path = run_dir / "val_history.jsonl"
    if not path.is_file():
        raise InputError(path, "not found (is this a run folder that has validated at least once?)")
    records = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(path, f"line {n} is not JSON ({exc.msg})") from exc
    if not records:
        raise InputError(path, "no validation records")
    return records


def format_curve(records: list[dict], target: float) -> str:
    """A markdown table of the records and a line saying when (if) SELD reached ``target``."""
    lines = ["| iteration | minutes | ER | F | LE | LR | SELD |", "|---|---|---|---|---|---|---|"]
    for r in records:
        minutes = f"{r['minutes']:.1f}" if "minutes" in r else "-"
        lines.append(f"| {r['iteration']} | {minutes} | {r['ER']:.2f} | {100 * r['F']:.1f} % | {r['LE']:.1f} | "
                     f"{100 * r['LR']:.1f} % | {r['SELD']:.3f} |")
    hit = next((r for r in records if r["SELD"] <= target), None)
    best = min(records, key=lambda r: r["SELD"])
    lines.append(f"best SELD {best['SELD']:.3f} at iteration {best['iteration']}; "
                 + (f"SELD <= {target} first at iteration {hit['iteration']} ({hit.get('minutes', '?')} min)"
                    if hit else f"SELD <= {target} not reached"))
    return "\n".join(lines)


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders")
    parser.add_argument("--target", type=float, default=0.40, help="SELD error to report reaching (0.40)")
    args = parser.parse_args(argv)
    for run in args.runs:
        print(f"{run}\n{format_curve(read_history(run), args.target)}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; bad input -> one ``error:`` line and status 2."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())

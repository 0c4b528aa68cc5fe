"""``seld.py runs``: questions the recipes ask about run folders (``<root>/<timestamp>_<name>/`` with
``config.yaml``, ``checkpoints/last.pt`` and, once finished, ``summary.json``), answered on stdout.

``runs latest --out ROOT --name NAME --data-dir DATA`` prints the newest run folder of that name whose config
trained on DATA (nothing when there is none); ``runs iterations RUN`` prints the iterations a finished run trained
(its summary.json)."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import yaml

from util.errors import InputError


def latest_run(root: str | Path, name: str, data_dir: str | Path) -> Path | None:
    """The newest folder ``root/*_name`` (timestamps sort by name) whose config.yaml has ``data.data_dir`` equal to
    ``data_dir`` (after resolving links), or None."""
    want = os.path.realpath(data_dir)
    for folder in sorted(Path(root).glob(f"*_{name}"), reverse=True):
        config = folder / "config.yaml"
        if not config.is_file():
            continue
        try:
            trained_on = (yaml.safe_load(config.read_text()) or {}).get("data", {}).get("data_dir")
        except yaml.YAMLError as exc:
            raise InputError(config, f"not valid YAML: {exc}") from exc
        if trained_on and os.path.realpath(trained_on) == want:
            return folder
    return None


def finished_iterations(run_dir: str | Path) -> int:
    """Iterations of a finished run (``summary.json``'s ``iterations``); InputError when it has none."""
    summary = Path(run_dir) / "summary.json"
    try:
        return int(json.loads(summary.read_text())["iterations"])
    except FileNotFoundError:
        raise InputError(summary, "file not found (the run has not finished)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(summary, f"no iteration count: {exc}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``seld.py runs``."""
    sub = parser.add_subparsers(dest="question", required=True, metavar="QUESTION")
    latest = sub.add_parser("latest", help="the newest run folder of a name trained on a dataset",
                            formatter_class=parser.formatter_class)
    latest.add_argument("--out", type=Path, default=Path("runs"), help="root of run folders")
    latest.add_argument("--name", required=True, help="run name (folders <timestamp>_<name>)")
    latest.add_argument("--data-dir", required=True, type=Path, help="dataset the run trained on")
    iterations = sub.add_parser("iterations", help="iterations a finished run trained (summary.json)",
                                formatter_class=parser.formatter_class)
    iterations.add_argument("run_dir", type=Path, help="run folder")


def run(args: argparse.Namespace) -> int:
    """Answer the question on stdout."""
    if args.question == "latest":
        found = latest_run(args.out, args.name, args.data_dir)
        if found is not None:
            print(found)
    else:
        print(finished_iterations(args.run_dir))
    return 0

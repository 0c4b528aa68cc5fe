"""Recipes that do not trip a newcomer, and logs that tell the truth: a batch that fits a tiny dataset, finished
runs that say how to extend them (and do), one default feature-cache folder and one default detector, defaults in
every --help, and one log line per message."""
from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

import pytest

import seld
import seld_trainer
from test_pipeline import tiny_config

REPO = Path(__file__).resolve().parents[1]


def _source_lib(script: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run bash ``script`` after sourcing script/lib.sh."""
    import os

    return subprocess.run(["bash", "-c", f"source {REPO / 'script' / 'lib.sh'}\n{script}"], capture_output=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def cache_dir(tiny_dataset, tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("recipes_cache")
    assert seld.main(["extract", "--data-dir", str(tiny_dataset), "--format", "foa", "--feature", "logmel_iv",
                      "--cache-dir", str(cache), "--workers", "1"]) == 0
    return cache


# ------------------------------------------------------------------------------------------------ batch size
def test_batch_size_is_fitted_to_a_tiny_dataset(tiny_dataset, cache_dir, tmp_path):
    """The tiny preset's 2 train clips of 6 s give 6 windows of 2 s: the default batch of 16 becomes 6, said in
    the log and recorded in config.yaml (so a resume goes on with it)."""
    cfg = tiny_config(tiny_dataset, cache_dir, max_iters=2, batch_size=16)
    result = seld_trainer.train(cfg, run_dir=tmp_path / "run", progress=False)
    assert result["iteration"] == 2
    run = tmp_path / "run"
    assert "only 6 training windows per rank for batch size 16: training with batch size 6" in \
        (run / "train.log").read_text()
    assert "BATCH_SIZE=" in (run / "train.log").read_text()
    from util.config import load_config

    assert load_config(run / "config.yaml").train.batch_size == 6


# ------------------------------------------------------------------------------------- extending a finished run
def test_finished_run_is_extended_with_resume_and_max_iters(tiny_dataset, cache_dir, tmp_path, capsys):
    cfg = tiny_config(tiny_dataset, cache_dir, max_iters=4, val_every=100, checkpoint_every=100)
    seld_trainer.train(cfg, run_dir=tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert json.loads((run / "summary.json").read_text())["iterations"] == 4
    capsys.readouterr()
    # asking a finished run for nothing more: one line that says how to extend it, nothing trained
    assert seld.main(["train", "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "last.pt" in err and "already trained 4 iterations" in err
    assert f"seld.py train --resume {run} --max-iters N" in err
    # ... and the command it names does it
    assert seld.main(["train", "--resume", str(run), "--max-iters", "6", "--no-progress"]) == 0
    assert json.loads((run / "summary.json").read_text())["iterations"] == 6
    from util.checkpoint import load_checkpoint

    assert load_checkpoint(run / "checkpoints" / "last.pt")["iteration"] == 6


def test_recipe_says_how_to_extend_a_finished_run(tmp_path):
    """stage_train on a finished run asked for more iterations (MAX_ITERS) skips it and names the command."""
    data = tmp_path / "data"
    data.mkdir()
    run = tmp_path / "runs" / "20250101-000000_demo"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"data:\n  data_dir: {data}\n")
    (run / "summary.json").write_text(json.dumps({"iterations": 30}))
    env = {"RUN_ROOT": str(tmp_path / "runs"), "NAME": "demo", "DATA_DIR": str(data)}
    done = _source_lib("MAX_ITERS=50 stage_train foa logmel_iv seldnet vectors", env)
    assert done.returncode == 0, done.stderr.decode()
    err = done.stderr.decode()
    assert "has finished after 30 iterations, fewer than MAX_ITERS=50" in err
    assert f"seld.py train --resume {run} --max-iters 50" in err
    same = _source_lib("stage_train foa logmel_iv seldnet vectors", env)
    assert "has finished (30 iterations); skipped" in same.stderr.decode()


# ----------------------------------------------------------------------------------- one default, said once
def test_extract_and_training_share_the_default_cache_folder(tmp_path, monkeypatch):
    """``seld.py extract`` without --cache-dir fills <data-dir>/cache (not ./cache), where training looks."""
    import synthesize_dataset
    from feature.base import extractor_class
    from feature.cache import cache_folder
    from util.config import RunConfig

    data = tmp_path / "data"
    assert synthesize_dataset.main(["--out", str(data), "--preset", "tiny", "--quiet", "--no-video", "--num-train",
                                    "1", "--num-test", "0", "--num-val", "0", "--duration", "2", "--workers", "1",
                                    "--formats", "foa", "--annotations", "none"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert seld.main(["extract", "--data-dir", str(data), "--format", "foa", "--feature", "logmel_iv",
                      "--workers", "1"]) == 0
    cfg = RunConfig()
    cfg.data.data_dir = str(data)
    assert seld_trainer.cache_root(cfg) == data / "cache"
    folder = cache_folder(data / "cache", extractor_class("logmel_iv").default_config(), "foa", data)
    assert folder.is_dir() and list(folder.rglob("*.npy"))
    assert not (elsewhere / "cache").exists()


def test_one_default_detector():
    import object_detection
    import seld_predictor
    from detection.base import DEFAULT_DETECTOR, backend_names

    assert DEFAULT_DETECTOR in backend_names()
    parser = argparse.ArgumentParser()
    object_detection.add_arguments(parser)
    assert parser.parse_args(["--data-dir", "d"]).backend == DEFAULT_DETECTOR
    parser = argparse.ArgumentParser()
    seld_predictor.add_predict_arguments(parser)
    assert parser.parse_args(["--checkpoint", "c", "--input", "i", "--out", "o"]).detector == DEFAULT_DETECTOR
    # the recipes leave the choice to object_detection.py unless DETECTOR is set
    assert not any(name in (REPO / "script" / "lib.sh").read_text() for name in backend_names())


# ------------------------------------------------------------------------------------------- --help defaults
CLIS: dict[str, list[str]] = {
    "seld.py": [f"{c.name}" for c in seld.SUBCOMMANDS],
    "synthesize_dataset.py": [""], "object_detection.py": [""], "npy2csv.py": [""], "resize_video.py": [""],
    "wav_convertor.py": [""], "resample.py": [""],
}


def _parsers(monkeypatch) -> dict[str, argparse.ArgumentParser]:
    """Every command line's parser, caught as it parses ``--help``."""
    import importlib

    caught: dict[str, argparse.ArgumentParser] = {}

    class Caught(Exception):
        pass

    def catch(self, args=None, namespace=None):
        caught[current] = self
        raise Caught

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    for script, subcommands in CLIS.items():
        module = importlib.import_module(script.removesuffix(".py"))
        for sub in subcommands:
            current = f"{script} {sub}".strip()
            with pytest.raises(Caught):
                module.main([sub, "--help"] if sub else ["--help"])
            if sub:  # seld.py: the subcommand's own parser
                caught[current] = next(a for a in caught[current]._actions
                                       if isinstance(a, argparse._SubParsersAction)).choices[sub]
    return caught


def test_every_cli_shows_its_defaults_in_help(monkeypatch):
    parsers = _parsers(monkeypatch)
    assert len(parsers) == len(seld.SUBCOMMANDS) + 6
    missing = []
    for name, parser in parsers.items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            d = action.default
            nothing = d is None or d is False or d is argparse.SUPPRESS or (isinstance(d, (list, str)) and not d)
            has_value = not nothing
            if action.option_strings and has_value:
                text = formatter._get_help_string(action) if action.help else ""
                if "default" not in text.lower():
                    missing.append(f"{name} {action.option_strings[0]}")
    assert not missing
    monkeypatch.undo()
    # known answers, as printed
    for argv, expected in ((["seld.py", "train"], r"--batch-size.*\n.*\(default: 16, config\s+train\.batch_size\)"),
                           (["seld.py", "evaluate"], r"SELD metric \(default: dcase2023\)"),
                           (["seld.py", "extract"], r"\(default: all\)"),
                           (["synthesize_dataset.py"], r"--seed SEED .*\(default:\s+0\)"),
                           (["object_detection.py"], r"\(default:\s+fasterrcnn_mobilenet_v3_large_320_fpn\)")):
        out = subprocess.run([str(REPO / ".venv" / "bin" / "python"), *argv, "--help"], capture_output=True,
                             text=True, cwd=REPO, timeout=120).stdout
        assert re.search(expected, out, flags=re.S), (argv, out)


# ------------------------------------------------------------------------------------------------------ logs
def test_log_files_hold_one_line_per_message(tiny_dataset, cache_dir, tmp_path, capfd):
    """With progress bars on: train.log has one line per validation; the terminal stream, kept by the recipes'
    tee_log as stdout.log, has every message on a line of its own (not glued onto a bar's \\r frame)."""
    cfg = tiny_config(tiny_dataset, cache_dir, max_iters=6, val_every=2, log_every=1, checkpoint_every=100)
    capfd.readouterr()
    seld_trainer.train(cfg, run_dir=tmp_path / "run", progress=True)
    stream = capfd.readouterr().err
    assert "\r" in stream  # the bars were drawn
    lines = [line for line in (tmp_path / "run" / "train.log").read_text().splitlines() if "validation at it" in line]
    assert [re.search(r"validation at it (\d+)", line).group(1) for line in lines] == ["2", "4", "6"]
    kept = _source_lib(f"tee_log {tmp_path / 'stdout.log'} > /dev/null <<'EOF'\n{stream}\nEOF")
    assert kept.returncode == 0
    logged = (tmp_path / "stdout.log").read_text().splitlines()
    assert "\r" not in "".join(logged)
    validations = [line for line in logged if "validation at it" in line]
    assert len(validations) == 3 and all(re.match(r"\d\d:\d\d:\d\d validation at it", v) for v in validations)
    assert sum(bool(re.match(r"\d\d:\d\d:\d\d it \d+ ", line)) for line in logged) == 6


def test_tee_log_keeps_the_stream_and_writes_plain_lines(tmp_path):
    stream = "\rbar 1/3\rbar 2/3\r        \r12:00:00 a message\n\rbar 3/3\n\rlast frame"
    kept = _source_lib(f"printf '%s' '{stream}' | tee_log {tmp_path / 'log'}")
    assert kept.stdout.decode() == stream
    assert (tmp_path / "log").read_text() == "12:00:00 a message\nbar 3/3\nlast frame\n"

"""An evaluation that scores what it says: the run's own dataset, split and cache unless given, a cached table
reused only for the same checkpoint contents, dataset files, split and inference settings, and run folders that
can be evaluated and resumed from any working directory."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

import seld
import seld_trainer
from test_pipeline import tiny_config
from util.checkpoint import load_checkpoint, save_checkpoint
from util.config import RunConfig, load_config, resolve_run_path, resolve_run_paths
from util.evaluation_key import KEY_FILE, dataset_fingerprint, file_sha256


@pytest.fixture(scope="module")
def run(tiny_dataset, tmp_path_factory) -> Path:
    """A 4-iteration run on the tiny dataset, started from its parent folder with *relative* paths."""
    work = tmp_path_factory.mktemp("evaluation")
    cfg = tiny_config(Path(tiny_dataset.name), Path("cache_eval"), max_iters=4, val_every=4, checkpoint_every=100)
    here = os.getcwd()
    os.chdir(tiny_dataset.parent)
    try:
        seld_trainer.train(cfg, run_dir=work / "run", progress=False)
    finally:
        os.chdir(here)
    return work / "run"


def _evaluate(capsys, *argv: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``seld.py evaluate``."""
    capsys.readouterr()
    status = seld.main(["evaluate", "--device", "cpu", "--tta", "1", "--workers", "1", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_resolve_run_path_known_answers(tmp_path, monkeypatch):
    cfg = RunConfig()
    monkeypatch.chdir(tmp_path)
    assert resolve_run_path(cfg, "/abs/data") == "/abs/data" and resolve_run_path(cfg, "") == ""
    assert resolve_run_path(cfg, "data/x") == str(tmp_path / "data" / "x")  # old run: the current directory
    cfg.workdir = "/somewhere/else"
    assert resolve_run_path(cfg, "data/x") == "/somewhere/else/data/x"  # recorded: the run's own directory
    fresh = RunConfig()
    fresh.data.data_dir, fresh.data.cache_dir = "d", ""
    resolve_run_paths(fresh)
    assert (fresh.data.data_dir, fresh.data.cache_dir, fresh.workdir) == (str(tmp_path / "d"), "", str(tmp_path))


def test_run_records_absolute_paths(run, tiny_dataset):
    cfg = load_config(run / "config.yaml")
    assert cfg.data.data_dir == str(tiny_dataset)
    assert cfg.data.cache_dir == str(tiny_dataset.parent / "cache_eval")
    assert cfg.workdir == str(tiny_dataset.parent)
    assert cfg.data.val_split == "val" and cfg.data.test_split == "test"  # validation apart from dev-test


def test_evaluate_defaults_to_the_runs_dataset_and_split_from_anywhere(run, tiny_dataset, tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.chdir(tmp_path)
    status, out, _ = _evaluate(capsys, "--checkpoint", str(run / "checkpoints" / "best.pt"), "--out", "e")
    assert status == 0 and f"on {tiny_dataset}, split test" in out
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["n_files"] == 2  # the tiny dataset's 2 dev-test clips
    status, out, _ = _evaluate(capsys, "--checkpoint", str(run / "checkpoints" / "best.pt"), "--out", "v",
                            "--split", "val")
    assert status == 0 and json.loads((tmp_path / "v" / "metrics.json").read_text())["n_files"] == 1
    assert not (tmp_path / "cache").exists()  # the run's own cache folder was used
    assert (tiny_dataset.parent / "cache_eval").is_dir()


def test_old_run_with_relative_paths_is_evaluated_and_resumed(run, tiny_dataset, tmp_path, monkeypatch, capsys):
    """A run from before absolute paths (relative data_dir / cache_dir, no workdir): resolved against the current
    directory; with its workdir recorded, from anywhere."""
    old = tmp_path / "old_run"
    shutil.copytree(run, old)
    for name in ("last.pt", "best.pt"):
        ckpt = load_checkpoint(old / "checkpoints" / name)
        ckpt["config"]["data"].update(data_dir=tiny_dataset.name, cache_dir="cache_eval")
        del ckpt["config"]["workdir"]
        save_checkpoint(old / "checkpoints" / name, ckpt)
    (old / "summary.json").unlink()
    monkeypatch.chdir(tmp_path)
    status, _, err = _evaluate(capsys, "--checkpoint", str(old / "checkpoints" / "best.pt"), "--out", "e")
    assert status == 2 and "not found" in err and len(err.strip().splitlines()) == 1  # relative to here: none
    monkeypatch.chdir(tiny_dataset.parent)
    status, out, _ = _evaluate(capsys, "--checkpoint", str(old / "checkpoints" / "best.pt"), "--out",
                               str(tmp_path / "e"))
    assert status == 0 and f"on {tiny_dataset}, split test" in out
    result = seld_trainer.train(None, resume=old, max_iters=6, progress=False)
    assert result["iteration"] == 6
    resumed = load_config(old / "config.yaml")
    assert resumed.data.data_dir == str(tiny_dataset) and resumed.workdir == str(tiny_dataset.parent)
    monkeypatch.chdir(tmp_path)  # now from anywhere
    assert seld_trainer.train(None, resume=old, max_iters=7, progress=False)["iteration"] == 7


def test_cached_table_belongs_to_what_was_asked(run, tiny_dataset, tmp_path, capsys):
    """--cached reuses metrics.json for the same checkpoint contents (a new time stamp alone changes nothing), and
    evaluates again for another checkpoint content, dataset, split or inference setting."""
    ckpt = tmp_path / "model.pt"
    shutil.copy(run / "checkpoints" / "best.pt", ckpt)
    out = tmp_path / "eval"
    common = ["--cached", "--checkpoint", str(ckpt), "--out", str(out)]
    up_to_date = "metrics.json is up to date"

    status, text, _ = _evaluate(capsys, *common)
    assert status == 0 and up_to_date not in text and (out / KEY_FILE).is_file()
    key = json.loads((out / KEY_FILE).read_text())["key"]
    assert key["checkpoints_sha256"] == [file_sha256(ckpt)] and key["split"] == "test"
    assert key["dataset_fingerprint"] == dataset_fingerprint(tiny_dataset, "foa", "test")
    assert key["inference"]["tta"] == 1 and key["data_dir"] == str(tiny_dataset)
    status, text, _ = _evaluate(capsys, *common)
    assert status == 0 and up_to_date in text and "SELD" in text
    os.utime(ckpt, (1e9, 2e9))  # touched, same content
    assert up_to_date in _evaluate(capsys, *common)[1]
    # another inference setting, another split: evaluated again
    assert up_to_date not in _evaluate(capsys, *common, "--threshold", "0.3")[1]
    assert json.loads((out / KEY_FILE).read_text())["key"]["inference"]["threshold"] == 0.3
    assert up_to_date not in _evaluate(capsys, *common)[1]
    assert up_to_date not in _evaluate(capsys, *common, "--split", "val")[1]
    assert json.loads((out / "metrics.json").read_text())["n_files"] == 1
    assert up_to_date not in _evaluate(capsys, *common)[1]
    # other weights in the same file: evaluated again
    state = load_checkpoint(ckpt)
    state["model"] = {k: v + 0.1 * torch.randn_like(v) if v.is_floating_point() else v
                      for k, v in state["model"].items()}
    save_checkpoint(ckpt, state)
    assert up_to_date not in _evaluate(capsys, *common)[1]
    # another dataset (a copy with one test clip fewer) at --data-dir: its own table
    other = tmp_path / "other_dataset"
    shutil.copytree(tiny_dataset, other, ignore=shutil.ignore_patterns("cache*"))
    dropped = sorted((other / "foa_dev").rglob("fold4_*.wav"))[0]
    dropped.unlink()
    status, text, _ = _evaluate(capsys, *common, "--data-dir", str(other))
    assert status == 0 and up_to_date not in text and f"on {other}, split test" in text
    assert json.loads((out / "metrics.json").read_text())["n_files"] == 1
    assert up_to_date in _evaluate(capsys, *common, "--data-dir", str(other))[1]
    assert up_to_date not in _evaluate(capsys, *common)[1]  # and back


def test_eval_script_uses_the_runs_dataset(run, tiny_dataset, tmp_path):
    """eval_seld.sh RUN without DATA_DIR evaluates on the run's own dataset (no synthetic preset is made), from any
    directory; a second call prints the cached table."""
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "TTA": "1", "DEVICE": "cpu"}
    env.pop("DATA_DIR", None)
    env.pop("PRESET", None)
    first = subprocess.run(["bash", str(repo / "script" / "eval_seld.sh"), str(run)], capture_output=True, text=True,
                           cwd=tmp_path, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "synthesising" not in first.stderr and f"on {tiny_dataset}, split test" in first.stdout
    assert "is up to date" not in first.stdout and "SELD" in first.stdout
    second = subprocess.run(["bash", str(repo / "script" / "eval_seld.sh"), str(run)], capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=600)
    assert second.returncode == 0 and "is up to date" in second.stdout
    assert json.loads((run / "eval_tta1" / "metrics.json").read_text())["n_files"] == 2

"""The recipes' presets (configs/*.yaml) and the questions lib.sh asks seld.py: ``train --print-config`` (the
resolved config) and ``runs latest`` / ``runs iterations`` (the run to resume)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

import seld
from util.config import config_to_dict, load_config, resolve_config_path

REPO = Path(__file__).resolve().parents[1]
#: what script/train_seld_*.sh trained before the presets: script -> (preset, format, feature, model, visual)
SCRIPTS = {"train_seld_foa.sh": ("foa", "foa", "logmel_iv", "seldnet", "vectors"),
           "train_seld_mic.sh": ("mic", "mic", "logmel_gcc", "seldnet", "vectors"),
           "train_seld_bin.sh": ("binaural", "binaural", "logmel_ild_ipd", "seldnet", "vectors"),
           "train_seld_vit.sh": ("vit", "foa", "logmel_iv", "av_vit", "frames")}


def printed(argv: list[str], capsys) -> str:
    assert seld.main(["train", *argv]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_each_script_runs_its_preset(script, capsys):
    preset, fmt, feature, model, visual = SCRIPTS[script]
    assert f"run_recipe {preset} " in (REPO / "script" / script).read_text()
    printed_cfg = yaml.safe_load(printed(["--config", preset, "--print-config"], capsys))
    assert printed_cfg == config_to_dict(load_config(resolve_config_path(preset)))
    assert (printed_cfg["data"]["audio_format"], printed_cfg["data"]["feature"], printed_cfg["model"]["name"],
            printed_cfg["data"]["visual"]) == (fmt, feature, model, visual)


def test_print_config_values_and_overrides(capsys):
    out = printed(["--config", "mic", "--feature", "salsalite", "--lr", "0.002", "--set", "data.frame_size=[64, 32]",
                   "--print-config", "data.feature", "data.audio_format", "train.lr", "data.augment",
                   "data.frame_size", "model.params"], capsys)
    assert out.splitlines() == ["salsalite", "mic", "0.002", "true", "[64, 32]", "{}"]
    baseline = yaml.safe_load(printed(["--config", "baseline_official", "--print-config"], capsys))
    assert baseline["model"]["name"] == "avcrnn" and baseline["train"]["max_iters"] == 20000
    assert seld.main(["train", "--print-config", "data.nope"]) == 2
    assert "unknown config key 'data.nope'" in capsys.readouterr().err


def test_recipe_settings_in_the_scripts():
    """lib.sh's recipe_settings: the preset's settings through seld.py, with the environment's overrides."""
    cmd = "source script/lib.sh; recipe_settings vit; FEATURE=amp_phasediff MODEL=avcrnn recipe_settings " \
          "\"$(recipe_of avcrnn amp_phasediff foa)\""
    out = subprocess.run(["bash", "-c", cmd], cwd=REPO, capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.splitlines() == ["foa logmel_iv av_vit frames", "foa amp_phasediff avcrnn vectors"]


def test_runs_latest_and_iterations(tmp_path, capsys):
    data, other = tmp_path / "data", tmp_path / "other"
    data.mkdir(), other.mkdir()
    root = tmp_path / "runs"
    for stamp, trained_on in (("20250101-000000", data), ("20250102-000000", data), ("20250103-000000", other)):
        run = root / f"{stamp}_demo"
        run.mkdir(parents=True)
        (run / "config.yaml").write_text(yaml.safe_dump({"data": {"data_dir": str(trained_on)}}))
    (root / "20250104-000000_demo").mkdir()  # no config: not a run of this dataset
    (root / "20250102-000000_demo" / "summary.json").write_text(json.dumps({"iterations": 30}))

    def ask(*argv: str) -> tuple[int, str]:
        status = seld.main(["runs", *argv])
        return status, capsys.readouterr().out.strip()

    assert ask("latest", "--out", str(root), "--name", "demo", "--data-dir", str(data)) == \
        (0, str(root / "20250102-000000_demo"))
    assert ask("latest", "--out", str(root), "--name", "demo", "--data-dir", str(other)) == \
        (0, str(root / "20250103-000000_demo"))
    assert ask("latest", "--out", str(root), "--name", "nobody", "--data-dir", str(data)) == (0, "")
    assert ask("iterations", str(root / "20250102-000000_demo")) == (0, "30")
    assert seld.main(["runs", "iterations", str(root / "20250101-000000_demo")]) == 2
    assert "summary.json: file not found" in capsys.readouterr().err

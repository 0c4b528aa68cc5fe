"""Folder scoring, JSON / table output, jackknife and the ``seld.py score`` command (metrics/scoring.py)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import seld
from metrics.dcase_csv import Event, read_reference_csv, write_prediction_csv, write_reference_csv
from metrics.jackknife import jackknife_estimate
from metrics.scoring import format_table, score_events, score_folders
from util.conventions import CLASS_NAMES, NUM_CLASSES
from util.errors import InputError
from util.geometry import sph_to_cart, wrap_azimuth

REPO = Path(__file__).resolve().parents[1]


def make_reference(seed: int, n_frames: int = 61) -> list[Event]:
    rng = np.random.default_rng(seed)
    return [Event(f, c, 0, float(rng.integers(-180, 180)), float(rng.integers(-40, 40)), float(rng.uniform(0.5, 4)))
            for f in range(n_frames) for c in range(NUM_CLASSES) if rng.random() < 0.5 or f == n_frames - 1]


@pytest.fixture
def folders(tmp_path):
    ref_dir, pred_dir = tmp_path / "metadata_dev", tmp_path / "pred"
    refs = {}
    for i, split in enumerate(["dev-test-a", "dev-test-a", "dev-test-b"]):
        name = f"fold4_room{i}_mix001"
        refs[name] = make_reference(i)
        write_reference_csv(ref_dir / split / f"{name}.csv", refs[name])
    return ref_dir, pred_dir, refs


def test_identity_folders_and_json(folders, tmp_path, capsys):
    ref_dir, pred_dir, refs = folders
    for name in refs:  # references as read back (cm-rounded distances) as 6-column predictions
        write_prediction_csv(pred_dir / f"{name}.csv", read_reference_csv(next(ref_dir.rglob(f"{name}.csv"))))
    out = tmp_path / "scores.json"
    assert seld.main(["score", "--ref-dir", str(ref_dir), "--pred-dir", str(pred_dir), "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "female_speech" in table and "knock" in table and "overall" in table
    data = json.loads(out.read_text())
    assert data["n_files"] == 3 and data["ER"] == pytest.approx(0, abs=1e-9)
    assert data["F"] == pytest.approx(1) and data["LR"] == pytest.approx(1) and data["LE"] == pytest.approx(0, abs=1e-4)
    assert set(data["classwise"]) == set(CLASS_NAMES)
    assert set(data["classwise"]["bell"]) == {"ER", "F", "LE", "LR", "SELD"}
    assert seld.main(["score", "--ref-dir", str(ref_dir), "--pred-dir", str(pred_dir), "--metric", "dcase2024",
                      "--average", "micro", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["metric"] == "dcase2024" and data["RDE"] == pytest.approx(0, abs=1e-9) and data["F"] == pytest.approx(1)


def test_missing_prediction_left_out_or_empty(folders, capsys):
    ref_dir, pred_dir, refs = folders
    names = sorted(refs)
    write_prediction_csv(pred_dir / f"{names[0]}.csv", refs[names[0]])
    write_prediction_csv(pred_dir / "extra.csv", refs[names[0]])
    warnings_seen = []
    r = score_folders(ref_dir, pred_dir, on_warning=warnings_seen.append)
    assert r["files"] == [names[0]] and r["missing_predictions"] == names[1:]
    assert any(names[1] in w and "left out" in w for w in warnings_seen)
    assert any("extra.csv" in w for w in warnings_seen)
    assert r["SELD"] == pytest.approx(score_events({names[0]: refs[names[0]]}, {names[0]: refs[names[0]]})["SELD"])
    (pred_dir / "extra.csv").unlink()
    with pytest.warns(UserWarning, match="scored as empty"):
        r = score_folders(ref_dir, pred_dir, missing_as_empty=True)
    assert r["n_files"] == 3 and 0 < r["LR"] < 0.6
    assert seld.main(["score", "--ref-dir", str(ref_dir), "--pred-dir", str(pred_dir)]) == 0
    assert f"warning: no prediction for {next(ref_dir.rglob(names[1] + '.csv'))}; left out" in capsys.readouterr().err


def test_cartesian_7_columns_score_like_polar_4_columns(folders, tmp_path):
    ref_dir, _, refs = folders
    rng = np.random.default_rng(5)
    polar_dir, cart_dir = tmp_path / "polar", tmp_path / "cart"
    for name, events in refs.items():
        pred = [Event(e.frame, e.cls, 0, float(wrap_azimuth(e.azimuth + rng.normal(0, 25))),
                      float(np.clip(e.elevation + rng.normal(0, 10), -90, 90)))
                for e in events if rng.random() < 0.8]
        polar_dir.mkdir(exist_ok=True)
        cart_dir.mkdir(exist_ok=True)
        rows = [f"{e.frame},{e.cls},{e.azimuth!r},{e.elevation!r}\n" for e in pred]
        (polar_dir / f"{name}.csv").write_text("".join(rows))
        rows = []
        for e in pred:
            x, y, z = (sph_to_cart(e.azimuth, e.elevation) * rng.uniform(0.3, 1.0)).tolist()  # any length
            rows.append(f"{e.frame},{e.cls},0,{x!r},{y!r},{z!r},2.0\n")
        (cart_dir / f"{name}.csv").write_text("".join(rows))
    a, b = score_folders(ref_dir, polar_dir), score_folders(ref_dir, cart_dir)
    for key in ("ER", "F", "LE", "LR", "SELD"):
        assert a[key] == pytest.approx(b[key], abs=1e-9)
    assert a["counts"]["tp"] == b["counts"]["tp"] and 0.3 < a["F"] < 0.99


def test_jackknife(folders):
    ref_dir, pred_dir, refs = folders
    for name, events in refs.items():
        pred = [Event(e.frame, e.cls, 0, float(wrap_azimuth(e.azimuth + 15)), e.elevation) for e in events][::2]
        write_prediction_csv(pred_dir / f"{name}.csv", pred)
    r = score_folders(ref_dir, pred_dir, jackknife=True)
    jk = r["jackknife"]
    for key in ("ER", "F", "LE", "LR", "SELD"):
        assert jk[key]["ci"][0] <= jk[key]["estimate"] <= jk[key]["ci"][1]
    assert "bell" in jk["classwise"]
    assert "95% CI low" in format_table(r)


def test_jackknife_of_a_mean_is_the_classic_standard_error():
    x = np.array([3.0, 5.0, 4.0, 9.0, 1.0])
    partial = [(x.sum() - v) / (len(x) - 1) for v in x]
    j = jackknife_estimate(float(x.mean()), partial)
    assert j.bias == pytest.approx(0, abs=1e-12) and j.estimate == pytest.approx(x.mean())
    assert j.std_err == pytest.approx(x.std(ddof=1) / math.sqrt(len(x)))
    assert j.high - j.estimate == pytest.approx(2.7764451 * j.std_err, rel=1e-6)  # t(0.975, 4)


def test_bad_input_exits_with_one_line(folders, capsys):
    ref_dir, pred_dir, refs = folders
    name = sorted(refs)[0]
    pred_dir.mkdir()
    (pred_dir / f"{name}.csv").write_text("0,1,10,20\n1,2,0,abc,5\n")
    assert seld.main(["score", "--ref-dir", str(ref_dir), "--pred-dir", str(pred_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {pred_dir / (name + '.csv')}: line 2: non-numeric value 'abc'"
    with pytest.raises(InputError, match="folder not found"):
        score_folders(ref_dir / "nope", pred_dir)
    with pytest.raises(InputError, match="no distance column"):
        (pred_dir / f"{name}.csv").write_text("0,1,10,20\n")
        score_folders(ref_dir, pred_dir, metric="dcase2024", on_warning=lambda msg: None)


def test_cli_process_exit_code(tmp_path):
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "a.csv").write_text("0,1,0,10\n")
    proc = subprocess.run([sys.executable, "seld.py", "score", "--ref-dir", str(ref), "--pred-dir", str(ref)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {ref / 'a.csv'}: line 1: expected 5 or 6 columns for a reference, found 4"


@pytest.mark.parametrize("which,row,problem", [
    ("ref", "3,1,0,200,10", "line 2: azimuth 200 outside [-180, 180] degrees"),
    ("pred", "3,1,0,20,-100", "line 2: elevation -100 outside [-90, 90] degrees"),
])
def test_cli_rejects_directions_out_of_range(tmp_path, which, row, problem):
    """An out-of-range reference or prediction row: one ``error: <file>: <problem>`` line, exit 2, no output."""
    ref, pred = tmp_path / "ref", tmp_path / "pred"
    ref.mkdir()
    pred.mkdir()
    (ref / "a.csv").write_text("0,1,0,10,0\n" + (row if which == "ref" else "3,1,0,20,0") + "\n")
    (pred / "a.csv").write_text("0,1,0,10,0\n" + (row if which == "pred" else "3,1,0,20,0") + "\n")
    out_json = tmp_path / "scores.json"
    proc = subprocess.run([sys.executable, "seld.py", "score", "--ref-dir", str(ref), "--pred-dir", str(pred),
                           "--json", str(out_json)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"error: {(ref if which == 'ref' else pred) / 'a.csv'}: {problem}"]
    assert not out_json.exists()

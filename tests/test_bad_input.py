"""Bad input never passes silently: one ``error: <file>: <problem>`` line on stderr, a non-zero exit, no traceback
and nothing left behind, for checkpoints that are not checkpoints, output / cache folders that cannot be made,
truncated wav files, non-finite network outputs and metadata that fails half-way through an extraction.
(Out-of-range directions in CSVs: tests/test_metrics_csv.py and tests/test_metrics_scoring.py; incompatible
checkpoints given to ``train --resume`` and failed training starts: tests/test_resume_ddp.py.)"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import npy2csv
import seld
from util.audio_io import read_audio, write_audio

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 24000


def error_lines(capsys) -> list[str]:
    """The lines a command wrote to stderr, progress-bar frames (tqdm ``NN%|``) left out."""
    return [line for line in re.split(r"[\r\n]", capsys.readouterr().err) if line.strip() and "%|" not in line]


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def not_checkpoints(tmp_path) -> dict[str, tuple[Path, str]]:
    """A text file, a real-looking wav and 3 bytes, each with the problem its error line must state."""
    text = tmp_path / "notes.pt"
    text.write_text("weights: see the other folder\n")
    wav = tmp_path / "audio.pt"
    write_audio(wav, np.zeros((4, 2400)), SAMPLE_RATE)
    three = tmp_path / "three.pt"
    three.write_bytes(b"abc")
    size = wav.stat().st_size
    return {"text": (text, "not a checkpoint file (a text file of 30 bytes; expected a torch.save archive)"),
            "wav": (wav, f"not a checkpoint file (a WAV file of {size} bytes; expected a torch.save archive)"),
            "3 bytes": (three, "not a checkpoint file (a text file of 3 bytes; expected a torch.save archive)")}


@pytest.mark.parametrize("kind", ["text", "wav", "3 bytes"])
@pytest.mark.parametrize("command", ["evaluate", "predict", "train"])
def test_file_that_is_not_a_checkpoint(tmp_path, capsys, not_checkpoints, kind, command):
    path, problem = not_checkpoints[kind]
    out = tmp_path / "out"
    argv = {"evaluate": ["evaluate", "--checkpoint", str(path), "--data-dir", str(tmp_path), "--out", str(out)],
            "predict": ["predict", "--checkpoint", str(path), "--input", str(path), "--out", str(out)],
            "train": ["train", "--resume", str(path), "--no-progress"]}[command]
    before = tree(tmp_path)
    assert seld.main(argv) == 2
    assert error_lines(capsys) == [f"error: {path}: {problem}"]
    assert tree(tmp_path) == before  # no output folder, no train.log


def test_not_a_checkpoint_in_a_fresh_process(tmp_path, not_checkpoints):
    path, problem = not_checkpoints["3 bytes"]
    proc = subprocess.run([sys.executable, "seld.py", "predict", "--checkpoint", str(path), "--input", str(path),
                           "--out", str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"error: {path}: {problem}"]  # no traceback
    assert not (tmp_path / "out").exists()


def test_predict_checks_its_output_folder_first(tmp_path, capsys, not_checkpoints):
    """The output folder is made before the checkpoint is even read, so inference never runs for nothing."""
    blocker = tmp_path / "results"
    blocker.write_text("a file where the output folder should go\n")
    path, _ = not_checkpoints["text"]
    assert seld.main(["predict", "--checkpoint", str(path), "--input", str(path), "--out", str(blocker / "run1")]) == 2
    assert error_lines(capsys) == [f"error: {blocker / 'run1'}: cannot create the output folder (Not a directory)"]


def test_evaluate_checks_its_output_folder_first(tmp_path, capsys, not_checkpoints):
    """As predict: the output folder is made before the checkpoint is read or any recording evaluated."""
    blocker = tmp_path / "results"
    blocker.write_text("a file where the output folder should go\n")
    path, _ = not_checkpoints["text"]
    assert seld.main(["evaluate", "--checkpoint", str(path), "--data-dir", str(tmp_path),
                      "--out", str(blocker / "eval")]) == 2
    assert error_lines(capsys) == [f"error: {blocker / 'eval'}: cannot create the output folder (Not a directory)"]


def test_predict_leaves_no_output_folder_after_failing(tmp_path, capsys, not_checkpoints):
    path, problem = not_checkpoints["wav"]
    out = tmp_path / "new" / "out"
    assert seld.main(["predict", "--checkpoint", str(path), "--input", str(path), "--out", str(out)]) == 2
    assert error_lines(capsys) == [f"error: {path}: {problem}"]
    assert not (tmp_path / "new").exists()


def make_dataset(root: Path, n_samples: int = SAMPLE_RATE, metadata: str | None = "0,1,0,30,0\n9,1,0,30,0\n"
                 ) -> tuple[Path, Path]:
    """A one-recording STARSS23 layout: 1 s of FOA noise (and a metadata CSV unless ``metadata`` is None)."""
    rng = np.random.default_rng(0)
    wav = root / "foa_dev" / "dev-test-x" / "fold4_room1_mix001.wav"
    write_audio(wav, 0.1 * rng.standard_normal((4, n_samples)), SAMPLE_RATE)
    csv = root / "metadata_dev" / "dev-test-x" / "fold4_room1_mix001.csv"
    if metadata is not None:
        csv.parent.mkdir(parents=True)
        csv.write_text(metadata)
    return wav, csv


def extract(data: Path, cache: Path) -> int:
    return seld.main(["extract", "--data-dir", str(data), "--format", "foa", "--feature", "logmel_iv",
                      "--cache-dir", str(cache), "--workers", "1"])


def test_extract_cache_folder_cannot_be_made(tmp_path, capsys):
    make_dataset(tmp_path / "data")
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder\n")
    assert extract(tmp_path / "data", blocker) == 2
    (line,) = error_lines(capsys)
    assert line.startswith(f"error: {blocker}/logmel_iv_foa_") and line.endswith(
        ": cannot create the feature cache folder (Not a directory)")


def test_truncated_wav_is_refused_with_the_missing_duration(tmp_path, capsys):
    wav, _ = make_dataset(tmp_path / "data", n_samples=SAMPLE_RATE, metadata=None)
    data = wav.read_bytes()
    wav.write_bytes(data[:len(data) - 8 * 6000])  # 6000 of 24000 frames (0.25 s) cut off
    with pytest.raises(seld.InputError, match=r"truncated wav: the header promises 24000 frames \(1.000 s\) but "
                                              r"the file holds 18000 \(0.750 s\); 0.250 s missing"):
        read_audio(wav)
    cache = tmp_path / "cache"
    assert extract(tmp_path / "data", cache) == 2
    assert error_lines(capsys) == [f"error: {wav}: truncated wav: the header promises 24000 frames (1.000 s) but "
                                   f"the file holds 18000 (0.750 s); 0.250 s missing"]
    assert not list(cache.rglob("*.npy"))


@pytest.mark.parametrize("row,problem", [("5,1,0,200,0", "line 2: azimuth 200 outside [-180, 180] degrees"),
                                         ("5,1,0,x,0", "line 2: non-numeric value 'x'")])
def test_failed_extraction_leaves_no_feature_file(tmp_path, capsys, row, problem):
    """Metadata that fails the recording after its audio was read: neither its features nor a stamp stay in
    the cache (a later run must not take them for finished)."""
    _, csv = make_dataset(tmp_path / "data", metadata=f"0,1,0,30,0\n{row}\n9,1,0,30,0\n")
    cache = tmp_path / "cache"
    assert extract(tmp_path / "data", cache) == 2
    assert error_lines(capsys) == [f"error: {csv}: {problem}"]
    (folder,) = cache.iterdir()
    assert not list(folder.rglob("fold4_room1_mix001.*"))
    csv.write_text("0,1,0,30,0\n5,1,0,170,0\n9,1,0,30,0\n")  # fixed: the next run extracts it
    assert extract(tmp_path / "data", cache) == 0
    assert {p.parent.parent.name for p in folder.rglob("fold4_room1_mix001.*")} >= {"features", "labels"}


def write_output(path: Path, n_frames: int = 20) -> np.ndarray:
    out = np.zeros((n_frames, 3, 3, 13), np.float32)
    out[:, 0, 0, 2] = 0.9  # class 2 at the front on track 0
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_npy2csv_refuses_non_finite_outputs(tmp_path, capsys, bad):
    good = write_output(tmp_path / "in" / "a.npy")
    broken = good.copy()
    broken[7, 1, 2, 5] = bad
    broken[9, 0, 0, 0] = bad
    np.save(tmp_path / "in" / "b.npy", broken)
    out = tmp_path / "csv"
    assert npy2csv.main(["--in", str(tmp_path / "in"), "--out", str(out)]) == 2
    assert error_lines(capsys) == [f"error: {tmp_path / 'in' / 'b.npy'}: 2 non-finite values (NaN or inf) in the "
                                   f"network output, in 2 frame(s) from frame 7"]
    assert not out.exists()  # a.csv is not written either: every file is checked first


def test_npy2csv_output_folder_cannot_be_made(tmp_path, capsys):
    write_output(tmp_path / "in" / "a.npy")
    blocker = tmp_path / "csv"
    blocker.write_text("x\n")
    assert npy2csv.main(["--in", str(tmp_path / "in"), "--out", str(blocker)]) == 2
    assert error_lines(capsys) == [f"error: {blocker}: cannot create the output folder: a file of that name exists"]
    assert npy2csv.main(["--in", str(tmp_path / "in"), "--out", str(tmp_path / "ok")]) == 0
    assert (tmp_path / "ok" / "a.csv").read_text().startswith("0,2,0,0.000,0.000")

"""Tests of dataset resampling (resample.py)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import resample
from util.audio_io import read_audio, write_audio


def test_resample_audio_keeps_a_tone_and_length():
    t = np.arange(48000) / 48000
    x = np.stack([np.sin(2 * np.pi * 1000 * t), 0.5 * np.sin(2 * np.pi * 3000 * t)]).astype(np.float32)
    y = resample.resample_audio(x, 48000, 24000)
    assert y.shape == (2, 24000) and y.dtype == np.float32
    t2 = np.arange(24000) / 24000
    np.testing.assert_allclose(y[:, 200:-200], np.stack([np.sin(2 * np.pi * 1000 * t2),
                                                         0.5 * np.sin(2 * np.pi * 3000 * t2)])[:, 200:-200], atol=1e-3)
    # content above the new Nyquist is removed
    z = resample.resample_audio(np.sin(2 * np.pi * 15000 * t)[None].astype(np.float32), 48000, 24000)
    assert np.abs(z[:, 200:-200]).max() < 0.01


def test_resample_dataset_mirrors_and_skips(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    t = np.arange(9600) / 48000
    write_audio(src / "foa_dev" / "dev-train-sony" / "fold3_room21_mix001.wav",
                np.tile(0.5 * np.sin(2 * np.pi * 440 * t), (4, 1)), 48000)
    write_audio(src / "mic_dev" / "dev-train-sony" / "fold3_room21_mix001.wav",
                np.tile(0.5 * np.sin(2 * np.pi * 440 * t), (4, 1)), 48000, subtype="PCM_24")
    (src / "metadata_dev" / "dev-train-sony").mkdir(parents=True)
    (src / "metadata_dev" / "dev-train-sony" / "fold3_room21_mix001.csv").write_text("0,1,0,10,10\n")
    assert resample.resample_dataset(src, dst, 24000, progress=False) == 2
    out, sr = read_audio(dst / "foa_dev" / "dev-train-sony" / "fold3_room21_mix001.wav", channels=4)
    assert sr == 24000 and out.shape == (4, 4800)
    assert sf.info(str(dst / "mic_dev" / "dev-train-sony" / "fold3_room21_mix001.wav")).subtype == "PCM_24"
    assert (dst / "metadata_dev" / "dev-train-sony" / "fold3_room21_mix001.csv").read_text() == "0,1,0,10,10\n"
    assert resample.resample_dataset(src, dst, 24000, progress=False) == 0
    assert not [p for p in dst.rglob(".*")]


def test_resample_errors(tmp_path, capsys):
    assert resample.main(["--src", str(tmp_path / "none"), "--dst", str(tmp_path / "out")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "broken.wav").write_bytes(b"RIFFjunk")
    assert resample.main(["--src", str(tmp_path / "a"), "--dst", str(tmp_path / "b"), "--workers", "1"]) == 2
    assert "broken.wav" in capsys.readouterr().err

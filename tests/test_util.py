"""Known-answer tests of the shared conventions and I/O helpers in util/."""
from __future__ import annotations

import numpy as np
import pytest

from util.audio_io import read_audio, write_audio
from util.detection_io import Detections, read_detections, write_detections
from util.errors import InputError
from util.geometry import cart_to_sph, direction_to_equirect, equirect_to_direction, great_circle_deg, sph_to_cart
from util.layout import DatasetLayout, Recording


def test_sph_to_cart_axes():
    np.testing.assert_allclose(sph_to_cart(0, 0), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(sph_to_cart(90, 0), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(sph_to_cart(0, 90), [0, 0, 1], atol=1e-12)
    az, el = cart_to_sph([[0, -1, 0], [-1, 0, 0]])
    np.testing.assert_allclose(az, [-90, 180], atol=1e-9)
    np.testing.assert_allclose(el, [0, 0], atol=1e-9)


def test_great_circle():
    assert great_circle_deg(10, 0, -20, 0) == pytest.approx(30)
    assert great_circle_deg(170, 0, -170, 0) == pytest.approx(20)
    assert great_circle_deg(0, 90, 123, 90) == pytest.approx(0, abs=1e-6)


def test_equirect_mapping():
    col, row = direction_to_equirect([0, 90, -90], [0, 0, 45], 360, 180)
    np.testing.assert_allclose(col, [180, 90, 270])
    np.testing.assert_allclose(row, [90, 90, 45])
    az, el = equirect_to_direction(col, row, 360, 180)
    np.testing.assert_allclose(az, [0, 90, -90])
    np.testing.assert_allclose(el, [0, 0, 45])


def test_audio_roundtrip_and_errors(tmp_path):
    audio = (0.5 * np.sin(np.linspace(0, 100, 2400))[None].repeat(4, 0)).astype(np.float32)
    path = tmp_path / "a.wav"
    write_audio(path, audio, 24000)
    back, sr = read_audio(path, channels=4, sample_rate=24000)
    assert sr == 24000 and back.shape == (4, 2400)
    np.testing.assert_allclose(back, audio, atol=1 / 2**15 + 1e-6)
    with pytest.raises(InputError, match="expected 2 audio channels, found 4"):
        read_audio(path, channels=2)
    with pytest.raises(InputError, match="expected sample rate 48000"):
        read_audio(path, sample_rate=48000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(InputError, match="bad.wav"):
        read_audio(bad)
    with pytest.raises(InputError, match="file not found"):
        read_audio(tmp_path / "missing.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "bad.wav"]  # no temporary files left


def test_detection_roundtrip(tmp_path):
    det = Detections(source="simulated", rate_hz=10, num_frames=5, frames=np.array([0, 0, 3]),
                     boxes=np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.6, 0.7], [0, 0, 1, 1]], dtype=np.float32),
                     scores=np.array([0.5, 0.9, 0.3], dtype=np.float32), video="video_dev/x.mp4")
    path = tmp_path / "det.csv"
    write_detections(path, det)
    back = read_detections(path)
    assert back.is_simulated and back.num_frames == 5 and back.rate_hz == 10
    np.testing.assert_array_equal(back.frames, det.frames)
    np.testing.assert_allclose(back.boxes, det.boxes, atol=1e-5)
    boxes, scores = back.frame_boxes(0)
    np.testing.assert_allclose(scores, [0.9, 0.5], atol=1e-4)
    assert back.frame_boxes(1)[0].shape == (0, 4)
    path.write_text(path.read_text().replace("0.30000,0.40000", "0.3"))
    with pytest.raises(InputError, match="line 7"):
        read_detections(path)


def test_layout_splits(tmp_path):
    layout = DatasetLayout(tmp_path)
    for split_dir, name in [("dev-train-sony", "fold3_room21_mix001"), ("dev-test-tau", "fold4_room2_mix001")]:
        p = layout.audio_path("foa", Recording(split_dir, name))
        p.parent.mkdir(parents=True)
        p.write_bytes(b"")
    (layout.audio_dir("foa") / "dev-train-sony" / ".tmp.wav").write_bytes(b"")
    assert [r.name for r in layout.recordings("foa", "train")] == ["fold3_room21_mix001"]
    assert [r.split for r in layout.recordings("foa")] == ["test", "train"]
    assert layout.metadata_path(Recording("dev-test-tau", "x")) == tmp_path / "metadata_dev" / "dev-test-tau" / "x.csv"

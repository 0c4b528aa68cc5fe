"""Box -> Gaussian vector features and the visual cache: answers known by construction."""
from __future__ import annotations

import json

import numpy as np
import pytest

from feature.visual import (VisualCache, VisualSpec, build_visual_cache, fit_frames, frame_vectors,
                            gaussian_vectors, label_frames_of, merge_person_slots, recording_vectors)
from util.detection_io import Detections, read_detections, write_detections
from util.errors import InputError
from util.layout import DatasetLayout, Recording


def _box(cx: float, cy: float, w: float, h: float) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


@pytest.mark.parametrize("c", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_peak_at_36_times_centre(c):
    vec = gaussian_vectors(np.array([_box(c, 1 - c, 0.1, 0.2)]))
    assert vec.shape == (1, 2, 37)
    assert int(np.argmax(vec[0, 0])) == round(36 * c)
    assert int(np.argmax(vec[0, 1])) == round(36 * (1 - c))
    assert vec[0, 0, round(36 * c)] == pytest.approx(1.0)


def test_formula_values():
    # azi[p] = exp(-(p - 36 cx)^2 / (36 w / 2)^2): one half-width away from the centre -> exp(-1)
    cx, w = 0.5, 1 / 9  # 36 w / 2 = 2 points
    vec = gaussian_vectors(np.array([_box(cx, 0.5, w, 0.5)]))
    assert vec[0, 0, 18] == pytest.approx(1.0)
    assert vec[0, 0, 20] == pytest.approx(np.exp(-1.0), rel=1e-5)
    assert vec[0, 0, 14] == pytest.approx(np.exp(-4.0), rel=1e-5)
    # resolution is configurable: P = 11 points peak at 10 cx
    assert int(np.argmax(gaussian_vectors(np.array([_box(0.3, 0.5, 0.1, 0.1)]), num_points=11)[0, 0])) == 3


def test_degenerate_box_is_finite():
    vec = gaussian_vectors(np.array([[0.5, 0.5, 0.5, 0.5]]))
    assert np.all(np.isfinite(vec)) and vec[0, 0, 18] == 1.0 and vec[0, 0].sum() == 1.0


def test_frame_vectors_topn_order_and_empty_slots():
    spec = VisualSpec(num_boxes=3, num_points=37, min_score=0.1)
    boxes = np.array([_box(0.1, 0.5, 0.05, 0.1), _box(0.5, 0.5, 0.05, 0.1), _box(0.9, 0.5, 0.05, 0.1),
                      _box(0.3, 0.5, 0.05, 0.1), _box(0.7, 0.5, 0.05, 0.1)])
    scores = np.array([0.3, 0.9, 0.05, 0.6, 0.1])  # 0.05 and 0.1 are not > 0.1
    out = frame_vectors(boxes, scores, spec)
    assert out.shape == (2, 3, 37)
    assert [int(np.argmax(out[0, i])) for i in range(3)] == [18, round(36 * 0.3), round(36 * 0.1)]
    spec6 = VisualSpec()
    out6 = frame_vectors(boxes, scores, spec6)
    assert out6.shape == (2, 6, 37)
    assert np.all(out6[:, 3:] == 0)
    assert np.all(frame_vectors(np.zeros((0, 4)), np.zeros(0), spec6) == 0)


def test_merge_person_slots_keeps_both_scenes_people_in_order():
    spec = VisualSpec(num_boxes=3, num_points=37)
    people = [_box(c, 0.5, 0.05, 0.1) for c in (0.1, 0.3, 0.5, 0.7)]
    first = np.stack([frame_vectors(np.array(people[:2]), np.array([0.9, 0.8]), spec),    # 2 people
                      frame_vectors(np.zeros((0, 4)), np.zeros(0), spec)])                  # nobody
    second = np.stack([frame_vectors(np.array(people[2:]), np.array([0.9, 0.8]), spec),
                       frame_vectors(np.array(people[2:3]), np.array([0.9]), spec)])
    merged = merge_person_slots(first, second)
    assert merged.shape == first.shape
    peaks = [[int(np.argmax(merged[t, 0, i])) if merged[t, 0, i].max() > 0 else None for i in range(3)]
             for t in range(2)]
    assert peaks == [[round(36 * 0.1), round(36 * 0.3), round(36 * 0.5)],  # first's two, then second's first
                     [round(36 * 0.5), None, None]]
    assert np.array_equal(merge_person_slots(first, np.zeros_like(first)), first)


def _detections(rate: float = 10, num_frames: int = 8) -> Detections:
    frames = np.array([0, 0, 2, 5, 5, 5])
    boxes = np.array([_box(0.25, 0.5, 0.1, 0.2), _box(0.75, 0.25, 0.1, 0.2), _box(0.5, 0.5, 0.1, 0.2),
                      _box(0.1, 0.1, 0.1, 0.1), _box(0.2, 0.2, 0.1, 0.1), _box(0.3, 0.3, 0.1, 0.1)], dtype=np.float32)
    scores = np.array([0.5, 0.8, 0.9, 0.2, 0.4, 0.3], dtype=np.float32)
    return Detections(source="simulated", rate_hz=rate, num_frames=num_frames, frames=frames, boxes=boxes,
                      scores=scores, labels=["person"] * 6, video="x.mp4")


def test_recording_vectors_match_per_frame():
    det = _detections()
    spec = VisualSpec(num_boxes=2)
    vec = recording_vectors(det, spec)
    assert vec.shape == (8, 2, 2, 37)
    for k in range(8):
        np.testing.assert_array_equal(vec[k], frame_vectors(*det.frame_boxes(k), spec))
    # frame 5: the two best of (0.2, 0.4, 0.3) -> centres 0.2 then 0.3
    assert int(np.argmax(vec[5, 0, 0])) == round(36 * 0.2) and int(np.argmax(vec[5, 0, 1])) == round(36 * 0.3)
    assert np.all(vec[[1, 3, 4, 6, 7]] == 0)
    # frames beyond the detection file are zeros
    longer = recording_vectors(det, spec, num_frames=12)
    np.testing.assert_array_equal(longer[:8], vec)
    assert np.all(longer[8:] == 0)


def test_other_detection_rate_maps_to_nearest_label_frame():
    det = _detections(rate=5, num_frames=4)  # detection frame j at j * 0.2 s
    assert label_frames_of(det) == 8
    vec = recording_vectors(det, VisualSpec())
    # label frame k (start k * 0.1 s) uses detection frame round(k / 2): k = 4, 5 -> detection frame 2 (5 -> 3)
    np.testing.assert_array_equal(vec[4], frame_vectors(*det.frame_boxes(2)))
    np.testing.assert_array_equal(vec[0], frame_vectors(*det.frame_boxes(0)))
    assert np.all(vec[2] == 0)


def test_fit_frames():
    x = np.ones((3, 2), dtype=np.float32)
    assert fit_frames(x, 2).shape == (2, 2)
    padded = fit_frames(x, 5)
    assert padded.shape == (5, 2) and np.all(padded[3:] == 0) and padded.dtype == np.float32


def test_detection_file_round_trip(tmp_path):
    det = _detections()
    path = tmp_path / "d.csv"
    write_detections(path, det)
    back = read_detections(path)
    np.testing.assert_array_equal(back.frames, det.frames)
    np.testing.assert_allclose(back.boxes, det.boxes, atol=1e-5)
    np.testing.assert_allclose(back.scores, det.scores, atol=1e-4)
    np.testing.assert_allclose(recording_vectors(back), recording_vectors(det), atol=1e-3)


def test_visual_cache_build_resume_and_errors(tmp_path):
    layout = DatasetLayout(tmp_path / "data")
    train = Recording("dev-train-sony", "fold3_room21_mix001")
    test = Recording("dev-test-sony", "fold4_room23_mix001")
    write_detections(layout.detection_path(train), _detections())
    write_detections(layout.detection_path(test), _detections(num_frames=5))
    cache = build_visual_cache(layout.root, tmp_path / "cache", VisualSpec(), split=None, progress=False)
    assert cache.recordings() == [test, train] and cache.recordings("train") == [train]
    v = cache.vectors(train)
    assert isinstance(v, np.memmap) and v.shape == (8, 2, 6, 37)
    np.testing.assert_allclose(v, recording_vectors(read_detections(layout.detection_path(train))))
    assert cache.vectors(test, num_frames=7).shape == (7, 2, 6, 37)
    assert np.all(cache.vectors(test, num_frames=7)[5:] == 0)
    reopened = VisualCache.open(cache.folder)
    assert reopened.spec == VisualSpec()
    assert json.loads((cache.folder / "config.json").read_text())["spec"]["num_boxes"] == 6

    # resumable: an unchanged source is not recomputed; a changed one is
    out = cache.vector_path(train)
    mtime = out.stat().st_mtime_ns
    build_visual_cache(layout.root, tmp_path / "cache", VisualSpec(), progress=False)
    assert out.stat().st_mtime_ns == mtime
    write_detections(layout.detection_path(train), _detections(num_frames=9))
    build_visual_cache(layout.root, tmp_path / "cache", VisualSpec(), progress=False)
    assert cache.vectors(train).shape[0] == 9

    # another spec lives in another folder
    other = build_visual_cache(layout.root, tmp_path / "cache", VisualSpec(num_boxes=3), progress=False)
    assert other.folder != cache.folder and other.vectors(train).shape == (9, 2, 3, 37)

    # a corrupt detection file: clear error, the other files still cached
    layout.detection_path(test).write_text("garbage\n")
    with pytest.raises(InputError, match="fold4_room23_mix001.csv.*1 of 2 recordings failed"):
        build_visual_cache(layout.root, tmp_path / "cache2", VisualSpec(), progress=False)
    assert VisualCache.open(next((tmp_path / "cache2").iterdir())).recordings() == [train]
    with pytest.raises(InputError, match="not in the visual cache"):
        cache.vectors(Recording("dev-train-sony", "missing"))

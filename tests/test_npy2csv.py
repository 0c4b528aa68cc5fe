"""Multi-ACCDOA decoding (seld_decoding.py) and npy2csv.py: round trips, thresholds, merging, CLI errors."""
from __future__ import annotations

import numpy as np
import pytest

import npy2csv
from metrics.dcase_csv import Event, read_prediction_csv
from seld_decoding import (as_multi_accdoa, class_thresholds, decode_multi_accdoa, load_output_npy,
                           save_output_npy, smooth_output)
from util.conventions import NUM_CLASSES, NUM_TRACKS
from util.errors import InputError
from util.geometry import great_circle_deg, sph_to_cart


def encode(events, n_frames, activity=1.0, with_distance=False):
    """Events -> Multi-ACCDOA array, one track per instance of a class in a frame (test-side encoder)."""
    out = np.zeros((n_frames, NUM_TRACKS, 4 if with_distance else 3, NUM_CLASSES))
    used = {}
    for e in events:
        k = used.get((e.frame, e.cls), 0)
        used[(e.frame, e.cls)] = k + 1
        out[e.frame, k, :3, e.cls] = activity * sph_to_cart(e.azimuth, e.elevation)
        if with_distance:
            out[e.frame, k, 3, e.cls] = e.distance
    return out


def assert_same_events(a, b, tol_deg=1e-4):
    assert [(e.frame, e.cls) for e in a] == [(e.frame, e.cls) for e in b]
    for x, y in zip(a, b):
        assert great_circle_deg(x.azimuth, x.elevation, y.azimuth, y.elevation) == pytest.approx(0, abs=tol_deg)


def random_events(rng, n_frames):
    events = []
    for f in range(n_frames):
        for c in range(NUM_CLASSES):
            if rng.random() < 0.15:
                n = rng.choice([1, 1, 1, 2, 3])
                base = rng.uniform(-180, 180)
                for k in range(n):  # same-class instances 100 deg apart: never merged
                    events.append(Event(f, c, k, float((base + 100 * k + 180) % 360 - 180), float(rng.uniform(-60, 60)),
                                        float(rng.uniform(0.5, 5))))
    return events


def test_round_trip_events_array_events():
    rng = np.random.default_rng(0)
    events = random_events(rng, 50)
    decoded = decode_multi_accdoa(encode(events, 50), threshold=0.5)
    assert len(decoded) == len(events)
    key = lambda e: (e.frame, e.cls, round(e.azimuth, 3))  # noqa: E731
    assert_same_events(sorted(decoded, key=key), sorted(events, key=key))
    with_d = decode_multi_accdoa(encode(events, 50, with_distance=True))
    assert sorted(e.distance for e in with_d) == pytest.approx(sorted(e.distance for e in events))
    shifted = decode_multi_accdoa(encode(events, 50), frame_offset=100)
    assert min(e.frame for e in shifted) >= 100


def test_threshold_and_per_class_thresholds():
    out = np.zeros((1, NUM_TRACKS, 3, NUM_CLASSES))
    out[0, 0, 0, 2] = 0.4   # activity 0.4
    out[0, 0, 1, 5] = 0.6   # activity 0.6
    assert [e.cls for e in decode_multi_accdoa(out)] == [5]
    assert [e.cls for e in decode_multi_accdoa(out, threshold=0.3)] == [2, 5]
    thr = [0.5] * NUM_CLASSES
    thr[5] = 0.7
    assert decode_multi_accdoa(out, threshold=thr) == []
    with pytest.raises(ValueError):
        class_thresholds([0.5, 0.5])


def test_merging_same_class_tracks():
    out = np.zeros((1, NUM_TRACKS, 4, NUM_CLASSES))
    out[0, 0, :3, 1] = 0.9 * sph_to_cart(0, 0)
    out[0, 1, :3, 1] = 0.9 * sph_to_cart(10, 0)   # 10 deg from track 0: merged
    out[0, 2, :3, 1] = 0.9 * sph_to_cart(90, 0)   # far: separate
    out[0, :, 3, 1] = [1.0, 3.0, 5.0]
    events = decode_multi_accdoa(out)
    assert [(e.track, round(e.azimuth, 6), e.distance) for e in events] == [(0, 5.0, 2.0), (2, 90.0, 5.0)]
    assert len(decode_multi_accdoa(out, merge_angle_deg=5)) == 3
    out[0, 2, :3, 1] = 0.9 * sph_to_cart(20, 0)   # chain 0-10-20: one group
    (one,) = decode_multi_accdoa(out)
    assert one.azimuth == pytest.approx(10.0) and one.distance == pytest.approx(3.0)


def test_flat_layout_and_shape_errors(tmp_path):
    arr = np.zeros((4, NUM_TRACKS, 3, NUM_CLASSES))
    arr[2, 1, 2, 7] = 1.0
    flat = arr.reshape(4, -1)
    assert decode_multi_accdoa(flat) == decode_multi_accdoa(arr) == [Event(2, 7, 1, 0.0, 90.0, None)]
    with pytest.raises(ValueError, match="Multi-ACCDOA"):
        as_multi_accdoa(np.zeros((4, 2, 3, NUM_CLASSES)))
    save_output_npy(tmp_path / "o.npy", arr)
    np.testing.assert_array_equal(load_output_npy(tmp_path / "o.npy"), arr)
    np.save(tmp_path / "bad.npy", np.zeros((3, 5)))
    with pytest.raises(InputError, match="bad.npy"):
        load_output_npy(tmp_path / "bad.npy")


def test_npy2csv_cli_round_trip(tmp_path, capsys):
    rng = np.random.default_rng(1)
    in_dir, out_dir = tmp_path / "npy", tmp_path / "csv"
    expected = {}
    for split, name in (("dev-test-a", "fold4_room1_mix001"), ("dev-test-b", "fold4_room2_mix002")):
        events = random_events(rng, 30)
        expected[name] = events
        save_output_npy(in_dir / split / f"{name}.npy", encode(events, 30, activity=0.8))
    assert npy2csv.main(["--in", str(in_dir), "--out", str(out_dir), "--threshold", "0.3", "--merge-angle", "15"]) == 0
    for split, name in (("dev-test-a", "fold4_room1_mix001"), ("dev-test-b", "fold4_room2_mix002")):
        back = read_prediction_csv(out_dir / split / f"{name}.csv")
        key = lambda e: (e.frame, e.cls, round(e.azimuth, 1))  # noqa: E731
        assert_same_events(sorted(back, key=key), sorted(expected[name], key=key), tol_deg=0.01)
    thr = ",".join(["0.9"] * NUM_CLASSES)
    assert npy2csv.main(["--in", str(in_dir), "--out", str(tmp_path / "hi"), "--thresholds", thr]) == 0
    assert (tmp_path / "hi" / "dev-test-a" / "fold4_room1_mix001.csv").read_text() == ""  # 0.8 < 0.9: nothing
    np.save(in_dir / "broken.npy", np.zeros((2, 2)))
    assert npy2csv.main(["--in", str(in_dir), "--out", str(out_dir)]) == 2
    assert "broken.npy" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        npy2csv.main(["--in", str(in_dir), "--out", str(out_dir), "--thresholds", "0.1,0.2"])


def test_smooth_output_moving_average_with_repeated_ends():
    x = np.zeros((8, NUM_TRACKS, 3, NUM_CLASSES))
    x[3, 0, 0, 2] = 0.9
    x[:, 1, 2, 5] = np.arange(8)
    y = smooth_output(x, 3)
    np.testing.assert_allclose(y[:, 0, 0, 2], [0, 0, 0.3, 0.3, 0.3, 0, 0, 0])
    # a ramp stays a ramp inside; at the ends the first / last frame is repeated: (0 + 0 + 1) / 3, (6 + 7 + 7) / 3
    np.testing.assert_allclose(y[:, 1, 2, 5], [1 / 3, 1, 2, 3, 4, 5, 6, 20 / 3])
    assert smooth_output(x, 1) is x
    with pytest.raises(ValueError):
        smooth_output(x, 4)


def test_smoothing_drops_a_one_frame_blip_and_keeps_an_event():
    """Activity 0.9: a one-frame blip (frame 2) falls to 0.18 under a 5-frame average; an event over frames 10-19
    keeps every frame (0.54 at its first and last frame) and gains none (0.36 next to it)."""
    blip = [Event(2, 4, 0, 30.0, 0.0)]
    event = [Event(f, 7, 0, -60.0, 10.0) for f in range(10, 20)]
    out = encode(blip + event, 30, activity=0.9)
    assert {e.frame for e in decode_multi_accdoa(out, 0.5)} == {2, *range(10, 20)}
    smoothed = decode_multi_accdoa(out, 0.5, smooth_frames=5)
    assert_same_events(smoothed, event)


def test_npy2csv_smooth_option(tmp_path, capsys):
    save_output_npy(tmp_path / "npy" / "a.npy", encode([Event(2, 4, 0, 30.0, 0.0)], 10, activity=0.9))
    assert npy2csv.main(["--in", str(tmp_path / "npy"), "--out", str(tmp_path / "raw")]) == 0
    assert npy2csv.main(["--in", str(tmp_path / "npy"), "--out", str(tmp_path / "s"), "--smooth", "5"]) == 0
    assert (tmp_path / "raw" / "a.csv").read_text() and not (tmp_path / "s" / "a.csv").read_text()
    capsys.readouterr()
    assert npy2csv.main(["--in", str(tmp_path / "npy"), "--out", str(tmp_path / "x"), "--smooth", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--smooth must be an odd number" in err and len(err.splitlines()) == 1

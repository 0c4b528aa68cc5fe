"""Parity of the inference windows and the decoding with the official AV baseline (sony/audio-visual-seld-dcase2023,
SELDClassifier / SELDDetector), against its golden outputs in ../shared/data/seed_parity/ (decoding.npz,
decoding_seed_rows.csv, features.npz; see that folder's README.md), and known answers of both decoding rules.

The official rows are compared per (case, label frame, class) as multisets (the seed sorts its rows with an unstable
sort). Both sides compute in float64 from the same float32 outputs; only the summation order of numpy reductions
can differ (a few ulp of angles up to pi, i.e. ~1e-13 deg), so the tolerance is 1e-9 deg.
"""
from __future__ import annotations

import collections
import csv

import numpy as np
import pytest
import torch

from seld_data_loader import official_window_times, window_grid
from seld_decoding import FramedOutput, decode_official, decode_recording
from seld_inference import WindowAssembler, sliding_window_outputs, window_plan
from util.config import InferenceConfig
from util.conventions import NUM_CLASSES, NUM_TRACKS
from util.errors import InputError

ANGLE_TOL_DEG = 1e-9
#: The AV baseline's windows in 10 ms feature frames: 128 (a 1.27 s wav crop, centred STFT), hop 120 (1.2 s),
#: margin 4 (floor((128 - 120) / 2): output frames 4..123 kept).
WINDOW, HOP, MARGIN, FPL = 128, 120, 4, 10


def seed_file(shared_data, name: str):
    path = shared_data / "seed_parity" / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


def seed_rows(shared_data) -> dict[tuple[int, int, int], list[tuple[float, float]]]:
    """(case, frame, class) -> the seed's (azimuth, elevation) rows."""
    rows: dict[tuple[int, int, int], list[tuple[float, float]]] = collections.defaultdict(list)
    with open(seed_file(shared_data, "decoding_seed_rows.csv")) as f:
        for r in csv.DictReader(f):
            rows[(int(r["case"]), int(r["frame"]), int(r["class"]))].append(
                (float(r["azimuth_deg"]), float(r["elevation_deg"])))
    return rows


def framed_case(fixture, case: int, official_grid: bool = True) -> FramedOutput:
    """The seed's per-window outputs of one case, (window, track, xyz, class, frame) -> the project's window
    outputs (frame, track, xyz, class), assembled on the official (or the exact) grid of the recording."""
    frames = int(round(float(fixture["duration"]) * 100))
    grid = window_grid(frames, WINDOW, HOP, MARGIN, FPL, official=official_grid)
    assembler = WindowAssembler(grid, frames, FPL, output_hop=1)
    outputs = fixture["window_outputs"][case].astype(np.float32)
    assert len(grid.starts) == len(outputs)
    for k, out in enumerate(outputs):
        assembler.add(k, out.transpose(3, 0, 1, 2))
    return assembler.result()


@pytest.fixture(scope="module")
def decoding(shared_data):
    return np.load(seed_file(shared_data, "decoding.npz"))


# ------------------------------------------------------------------------------------------- window grid
def test_official_time_grid_and_network_input_frames(shared_data):
    feats = np.load(seed_file(shared_data, "features.npz"))
    duration = float(feats["val_duration"])
    np.testing.assert_array_equal(official_window_times(duration, 1.2), feats["val_window_times"])
    grid = window_grid(int(round(duration * 100)), WINDOW, HOP, MARGIN, FPL, official=True)
    # the seed cuts val[:, :, i : i + 128] from an array with 4 leading zero frames: feature frame i - 4 here
    np.testing.assert_array_equal(np.array(grid.starts) + int(feats["val_pad_init"]), feats["val_window_frame_idx"])
    assert grid.label_starts == (0, 12, 24, 36, 48)


def test_official_grid_quirks_on_long_recordings():
    """Facts of the seed's float grid (README of seed_parity): on 300 s, 50 of 250 network windows start 10 ms
    early and 31 of 250 CSV blocks one label frame early; a window at the very end for 4.8 s and 8.4 s, none for
    6.0 s and 7.2 s. The exact grid has none of these."""
    grid = window_grid(30000, WINDOW, HOP, MARGIN, FPL, official=True)
    assert len(grid.starts) == 250
    assert sum(s + MARGIN != HOP * k for k, s in enumerate(grid.starts)) == 50
    assert sum(f != 12 * k for k, f in enumerate(grid.label_starts)) == 31
    assert grid.label_starts[9] == 107  # 10.799999999999999 s
    for frames, last in ((480, 48), (840, 84), (600, 48), (720, 60)):
        assert window_grid(frames, WINDOW, HOP, MARGIN, FPL, official=True).label_starts[-1] == last
    exact = window_grid(30000, WINDOW, HOP, MARGIN, FPL)
    assert exact.label_starts is None and exact.starts == tuple(range(-MARGIN, 30000 - MARGIN, HOP))


class InputRecorder(torch.nn.Module):
    """Records its inputs; outputs, per output frame, the index (in the whole recording) of the window start."""

    output_hop = 1

    def __init__(self):
        super().__init__()
        self.inputs: list[np.ndarray] = []

    def forward(self, audio, visual=None):
        self.inputs += list(audio.numpy())
        b, _, t, _ = audio.shape
        out = torch.zeros(b, t, NUM_TRACKS, 3, NUM_CLASSES)
        out[..., 0, 0] = audio[:, 1, :1, 0][:, :, None]  # channel 1 holds each frame's index + 1
        return out


def test_sliding_windows_feed_the_seed_network_inputs(shared_data):
    """The project's real inference loop on the unpadded validation features gives the network exactly the seed's
    inputs val[:, :, i : i + 128] (official grid), zero padding at both ends included."""
    feats = np.load(seed_file(shared_data, "features.npz"))
    val = feats["val"]                                           # (7, 257, 632) = 4 zeros + 500 frames + 128 zeros
    pad = int(feats["val_pad_init"])
    n = val.shape[2] - pad - int(feats["val_pad_end"])
    features = np.ascontiguousarray(val[:, :, pad:pad + n].transpose(0, 2, 1))    # (C, T, F) of the project
    net = InputRecorder()
    sliding_window_outputs(net, features, None, WINDOW, HOP, MARGIN, FPL, torch.device("cpu"), batch_size=2,
                           official_grid=True)
    assert len(net.inputs) == len(feats["val_window_frame_idx"])
    for got, i in zip(net.inputs, feats["val_window_frame_idx"]):
        np.testing.assert_array_equal(got, val[:, :, i:i + WINDOW].transpose(0, 2, 1))


@pytest.mark.parametrize("official_grid", [False, True])
def test_kept_frames_are_the_official_ones(official_grid):
    """Each label frame's outputs come from the window whose kept block [1.2 k, 1.2 k + 1.2) s holds it, i.e. the
    window whose input starts 40 ms before the block (on the float grid 10 ms earlier where it truncates)."""
    total = 730
    feats = np.zeros((7, total, 2), np.float32)
    feats[1, :, 0] = np.arange(total) + 1
    out = sliding_window_outputs(InputRecorder(), feats, None, WINDOW, HOP, MARGIN, FPL, torch.device("cpu"),
                                 batch_size=3, official_grid=official_grid)
    first_input = out.values[:, :, 0, 0, 0] - 1                  # (rows, 10): feature frame of the window start
    grid = window_grid(total, WINDOW, HOP, MARGIN, FPL, official=official_grid)
    for n, frame in enumerate(out.frames):
        k = n // 12 if official_grid else frame // 12
        expected = max(grid.starts[k], 0) if grid.starts[k] >= 0 else -1  # window 0 starts in the zero padding
        assert (first_input[n] == expected).all(), (n, frame)
    if official_grid:
        assert out.frames.tolist() == list(range(84))            # the whole last window, 7.2 - 8.4 s
    else:
        assert out.frames.tolist() == list(range(73))            # no rows past the 7.3 s end


def test_window_plan_official_margin():
    plan = window_plan(InferenceConfig(window_s=1.28, hop_s=1.2, official_grid=True), 128, FPL, 0.01, 1)
    assert plan == (WINDOW, HOP, MARGIN)
    assert window_plan(InferenceConfig(window_s=1.28, hop_s=1.2, keep_margin_s=0.04), 128, FPL, 0.01, 1) == plan
    with pytest.raises(InputError, match="keep_margin_s"):
        window_plan(InferenceConfig(window_s=1.28, hop_s=1.2, keep_margin_s=0.02, official_grid=True), 128, FPL,
                    0.01, 1)


# ------------------------------------------------------------------------------------- official decoding
def test_official_decoding_matches_the_seed_rows(shared_data, decoding):
    expected = seed_rows(shared_data)
    counts = []
    for case in range(decoding["window_outputs"].shape[0]):
        framed = framed_case(decoding, case)
        events = decode_recording(framed, float(decoding["threshold"]), float(decoding["unification_deg"]),
                                  official=True)
        counts.append(len(events))
        got: dict[tuple[int, int, int], list[tuple[float, float]]] = collections.defaultdict(list)
        for e in events:
            got[(case, e.frame, e.cls)].append((e.azimuth, e.elevation))
        keys = {k for k in expected if k[0] == case} | set(got)
        for key in keys:
            a, b = sorted(expected.get(key, [])), sorted(got.get(key, []))
            assert len(a) == len(b), (key, a, b)
            np.testing.assert_allclose(np.array(b), np.array(a), rtol=0, atol=ANGLE_TOL_DEG, err_msg=str(key))
    assert counts == [853, 808, 860, 849]
    assert max(k[1] for k in expected) == 83  # rows for the whole last window, past the 7.3 s end


def test_official_decoding_special_situations(decoding):
    """The seed's +-180 deg quirks: a track sweeping 172 -> 188 deg decodes to azimuth ~0; two tracks at 178.5 /
    -177 deg merge to -21.47 deg. The corrected rule (mean vectors) decodes both near +-180."""
    for case, (t0, c0, t1, c1) in enumerate(decoding["special"]):
        official = decode_recording(framed_case(decoding, case), 0.3, 15.0, official=True)
        sweep = [e for e in official if (e.frame, e.cls) == (t0, c0)]
        assert len(sweep) == 1 and abs(sweep[0].azimuth) < 1e-9 and sweep[0].elevation == pytest.approx(12, abs=1)
        pair = [e for e in official if (e.frame, e.cls) == (t1, c1)]
        assert len(pair) == 1 and pair[0].azimuth == pytest.approx(-21.47, abs=0.01) and pair[0].track == 1
        if t1 >= 73:  # past the end: the corrected grid writes no rows there
            continue
        corrected = decode_recording(framed_case(decoding, case, official_grid=False), 0.3, 15.0)
        sweep = [e for e in corrected if (e.frame, e.cls) == (t0, c0)]
        assert len(sweep) == 1 and abs(sweep[0].azimuth) > 179 and sweep[0].elevation == pytest.approx(12, abs=1)
        pair = [e for e in corrected if (e.frame, e.cls) == (t1, c1)]
        # the mean of the two vectors (lengths 0.7, 0.9) points between them, across +-180
        assert len(pair) == 1 and abs(pair[0].azimuth) > 178 and pair[0].track == 1


def tracks_output(directions: list[list[tuple[float, float, float] | None]]) -> FramedOutput:
    """One label frame, class 5: per track a list of (azimuth, elevation, length) per output frame (None: 0)."""
    values = np.zeros((1, len(directions[0]), NUM_TRACKS, 3, NUM_CLASSES), np.float32)
    for k, frames in enumerate(directions):
        for p, d in enumerate(frames):
            if d is not None:
                az, el, r = np.deg2rad(d[0]), np.deg2rad(d[1]), d[2]
                values[0, p, k, :, 5] = r * np.array([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])
    return FramedOutput(values, np.array([7]))


def test_official_rule_known_answers():
    off = [None] * 4
    # lengths are clipped at 1 before averaging: 2.0 on one frame of 4 counts 0.25 (< 0.3), 0.9 on 2 of 4 counts 0.45
    assert decode_official(tracks_output([[(10, 0, 2.0)] + [None] * 3, off, off])) == []
    (e,) = decode_official(tracks_output([[(10, 0, 0.9), (30, 20, 0.9), None, None], off, off]))
    assert (e.frame, e.cls, e.track) == (7, 5, 0) and e.azimuth == pytest.approx(20) and e.elevation == pytest.approx(10)
    # angles are weighted by the (clipped) lengths: (0 * 1 + 40 * 0.5) / 1.5
    (e,) = decode_official(tracks_output([[(0, 0, 3.0), (40, 0, 0.5)], [None, None], [None, None]]))
    assert e.azimuth == pytest.approx(40 / 3)
    # one similar pair (5 deg apart) merged by mean lengths 0.8 / 0.4, the distant third kept
    out = tracks_output([[(0, 0, 0.8)], [(90, 0, 0.5)], [(5, 0, 0.4)]])
    rows = sorted((e.track, e.azimuth) for e in decode_official(out))
    assert rows == [(0, pytest.approx(5 * 0.4 / 1.2, abs=1e-6)), (1, pytest.approx(90.0))]  # float32 lengths
    # two similar pairs (0~1, 1~2, with 0 and 2 18 deg apart): one row for all three
    (e,) = decode_official(tracks_output([[(0, 0, 1.0)], [(9, 0, 1.0)], [(18, 0, 1.0)]]))
    assert e.track == 0 and e.azimuth == pytest.approx(9)
    # an inactive track is never similar: 0 and 2 are not merged through the inactive 1
    rows = decode_official(tracks_output([[(0, 0, 1.0)], [(9, 0, 0.2)], [(30, 0, 1.0)]]))
    assert sorted(e.track for e in rows) == [0, 2]


def test_corrected_rule_known_answers():
    """The project's rule on 10 ms outputs: the label frame's mean vector (its length is the activity, its
    direction the event's), so a source across +-180 stays there and a jittering direction counts less."""
    sweep = tracks_output([[(173 + 2 * p, 12, 0.8) for p in range(8)], [None] * 8, [None] * 8])  # 173 .. 187
    (e,) = decode_recording(sweep, 0.3)
    assert abs(e.azimuth) == pytest.approx(180, abs=1e-6) and e.elevation == pytest.approx(12, abs=0.1)
    (o,) = decode_official(sweep, 0.3)
    assert abs(o.azimuth) < 1e-6  # the official angle mean: the two halves cancel
    # opposite directions on alternate frames: mean length 1 (official: active), mean vector 0 (corrected: not)
    flip = tracks_output([[(0, 0, 1.0), (180, 0, 1.0)], [None, None], [None, None]])
    assert decode_recording(flip, 0.3) == [] and len(decode_official(flip, 0.3)) == 1
    with pytest.raises(InputError, match="distance"):
        decode_recording(FramedOutput(np.zeros((1, 1, 3, 4, NUM_CLASSES)), np.array([0])), official=True)

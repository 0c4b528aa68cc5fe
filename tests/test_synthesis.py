"""Known-answer tests of the synthetic dataset generator (synth/, synthesize_dataset.py)."""
from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

import synthesize_dataset
from metrics.dcase_csv import Event, read_reference_csv
from synth.clip import build_scene
from synth.config import VIDEO_FPS, SynthesisConfig
from synth.dataset import synthesize_dataset as make_dataset
from synth.plan import RANDOM_ROOMS, balance_classes, clip_rng, plan_clips
from synth.scenes import (Scene, SceneEvent, class_event_counts, class_frame_counts, random_scene,
                          scene_from_annotation, script_rows)
from synth.simulated_detections import simulate_detections
from synth.sounds import synthesize_event
from synth.spatial import ENCODERS, MicEncoder, render_event, render_scene
from synth.video import DISTRACTOR, Figure, draw_frame, paste, sprite
from util.conventions import CLASS_NAMES, LABEL_HOP_S, NUM_CLASSES, SAMPLE_RATE, SPEED_OF_SOUND_M_S
from util.detection_io import read_detections
from util.geometry import direction_to_equirect, sph_to_cart
from util.layout import DatasetLayout, Recording

SR = SAMPLE_RATE
HOP = int(LABEL_HOP_S * SR)


def static_event(az: float, el: float, frames: int = 10, distance: float = 1.0, cls: int = 0) -> SceneEvent:
    return SceneEvent(cls, 0, 0, np.full(frames, az), np.full(frames, el), np.full(frames, distance))


def noise(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


# --- spatial audio ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("az, el, expected", [(90, 0, (1, 1, 0, 0)), (0, 90, (1, 0, 1, 0)), (0, 0, (1, 0, 0, 1)),
                                              (-90, 0, (1, -1, 0, 0))])
def test_foa_free_field_direct_path(az, el, expected):
    sig = noise(10 * HOP)
    out = render_event(sig, static_event(az, el), ENCODERS["foa"], SR)
    w = out[0]
    assert np.sqrt(np.mean(w ** 2)) > 0.5
    for ch, gain in zip(out, expected):
        np.testing.assert_allclose(ch, gain * w, atol=1e-9)


def test_foa_direct_path_is_delayed_by_distance():
    sig = np.zeros(10 * HOP)
    sig[100] = 1.0
    out = render_event(sig, static_event(0, 0, distance=3.43), ENCODERS["foa"], SR)
    peak = int(np.argmax(out[0]))
    assert peak == 100 + round(3.43 / SPEED_OF_SOUND_M_S * SR)
    assert out[0, peak] == pytest.approx(1 / 3.43, rel=1e-6)


def _xcorr_lag(a: np.ndarray, b: np.ndarray, upsample: int = 16) -> float:
    """Lag (samples, fractional) by which ``a`` is delayed relative to ``b`` (GCC-PHAT, band-limited upsampling)."""
    n = len(a) + len(b)
    spec = np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n))
    spec /= np.maximum(np.abs(spec), 1e-12)
    cc = np.fft.irfft(spec, n * upsample)
    cc = np.concatenate([cc[-n * upsample // 2:], cc[:n * upsample // 2]])
    return (np.argmax(cc) - n * upsample // 2) / upsample


@pytest.mark.parametrize("az, el", [(45, 35), (-100, 10), (170, -40)])
def test_mic_interchannel_delays_match_geometry(az, el):
    enc = MicEncoder()
    sig = noise(10 * HOP, seed=3)
    out = render_event(sig, static_event(az, el), enc, SR)
    u = sph_to_cart(az, el)
    arrival = -enc.radius_m * (enc.capsules @ u) / SPEED_OF_SOUND_M_S * SR  # samples, relative to the centre
    for i in range(4):
        for j in range(i + 1, 4):
            # Interpolation low-passes slightly; the peak still sits at the geometric lag.
            assert _xcorr_lag(out[i], out[j]) == pytest.approx(arrival[i] - arrival[j], abs=0.2)
    # The capsule facing the source is the loudest (directivity), the opposite one the quietest.
    rms = np.sqrt(np.mean(out ** 2, axis=1))
    assert np.argmax(rms) == np.argmax(enc.capsules @ u)


def test_one_rendering_path_for_both_formats():
    """MIC and FOA share the scene renderer; their omni parts agree when MIC delays and directivity vanish."""
    scene = Scene(20, [SceneEvent(3, 0, 2, np.linspace(-30, 30, 15), np.zeros(15), np.full(15, 2.0))])
    sig = [noise(15 * HOP, seed=4)]
    foa = render_scene(scene, sig, ENCODERS["foa"], SR, 20 * HOP)
    mic = render_scene(scene, sig, MicEncoder(radius_m=0.0, directivity=0.0), SR, 20 * HOP)
    for c in range(4):
        np.testing.assert_allclose(mic[c], foa[0], atol=1e-9)


def test_moving_source_has_no_clicks():
    """A sine moving from left to right: Y changes no faster than the sine itself allows (no steps)."""
    f = 500.0
    frames = 20
    t = np.arange(frames * HOP) / SR
    sig = np.sin(2 * np.pi * f * t)
    ev = SceneEvent(0, 0, 0, np.linspace(90, -90, frames), np.zeros(frames), np.full(frames, 1.0))
    out = render_event(sig, ev, ENCODERS["foa"], SR)
    max_step = 2 * np.pi * f / SR  # largest sample-to-sample change of a unit sine
    assert np.abs(np.diff(out[1])).max() <= 1.05 * max_step
    # Y goes from +W (left) to -W (right), through 0 (front) half-way.
    first, middle, last = slice(0, HOP), slice(9 * HOP + HOP // 2, 10 * HOP + HOP // 2), slice(-HOP, None)
    w = out[0]
    assert np.dot(out[1, first], w[first]) > 0.9 * np.dot(w[first], w[first])
    assert abs(np.dot(out[1, middle], w[middle])) < 0.1 * np.dot(w[middle], w[middle])
    assert np.dot(out[1, last], w[last]) < -0.9 * np.dot(w[last], w[last])


@pytest.mark.parametrize("fmt", ["foa", "mic"])
def test_static_and_moving_routes_agree(fmt):
    """The FIR route of static sources equals the per-sample route of moving ones, reflections included."""
    from synth.spatial import Room

    room = Room((6.0, 5.0, 3.0), (3.0, 2.0, 1.5), 0.7, 0.5, 0.2, -3.0)
    sig = noise(10 * HOP, seed=6)
    still = static_event(30, 10, 10, distance=2.0)
    a = render_event(sig, still, ENCODERS[fmt], SR, room, tail_s=0.05, fir=True)
    b = render_event(sig, still, ENCODERS[fmt], SR, room, tail_s=0.05, fir=False)
    assert a.shape == b.shape == (4, 10 * HOP + int(0.05 * SR))
    np.testing.assert_allclose(a, b, atol=1e-4 * np.abs(a).max())


def test_room_adds_reflections_and_noise_at_snr():
    from synth.spatial import DiffuseParts, Room, diffuse_noise, reverb_tails

    rng = np.random.default_rng(0)
    room = Room.random(rng)
    scene = Scene(30, [static_event(20, 10, frames=30)])
    n = 30 * HOP
    sig = [noise(n, seed=5)]
    dry = render_scene(scene, sig, ENCODERS["foa"], SR, n)
    wet = render_scene(scene, sig, ENCODERS["foa"], SR, n, room, DiffuseParts(reverb_tails(room, 4, rng, SR), None))
    assert np.sum(wet ** 2) > 1.05 * np.sum(dry ** 2)
    parts = DiffuseParts(None, diffuse_noise(n, 4, rng, -3, SR))
    noisy = render_scene(scene, sig, ENCODERS["foa"], SR, n, None, parts, 10.0)
    snr = 10 * np.log10(np.mean(dry[0] ** 2) / np.mean((noisy[0] - dry[0]) ** 2))
    assert snr == pytest.approx(10.0, abs=0.1)


# --- sounds ----------------------------------------------------------------------------------------------

def test_every_class_synthesises_a_varied_signal():
    for cls in range(NUM_CLASSES):
        a = synthesize_event(cls, 2 * SR, SR, np.random.default_rng(cls))
        b = synthesize_event(cls, 2 * SR, SR, np.random.default_rng(100 + cls))
        assert a.shape == (2 * SR,) and a.dtype == np.float32 and np.isfinite(a).all(), CLASS_NAMES[cls]
        assert 0.1 < np.sqrt(np.mean(a ** 2)) <= 1.0 + 1e-5, CLASS_NAMES[cls]
        assert not np.allclose(a, b), f"{CLASS_NAMES[cls]}: two events are identical"


def _yin_f0(frame: np.ndarray, fmin: float = 60.0, fmax: float = 400.0, threshold: float = 0.15) -> float:
    """Fundamental frequency of one frame by the YIN cumulative-mean-normalised difference function."""
    n = len(frame) // 2
    taus = np.arange(1, int(SR / fmin) + 1)
    diff = np.array([np.sum((frame[:n] - frame[tau:tau + n]) ** 2) for tau in taus])
    cmnd = diff * taus / np.maximum(np.cumsum(diff), 1e-12)
    lo = int(SR / fmax) - 1
    below = np.flatnonzero(cmnd[lo:] < threshold)
    k = lo + (below[0] if len(below) else int(np.argmin(cmnd[lo:])))
    while k + 1 < len(cmnd) and cmnd[k + 1] < cmnd[k]:
        k += 1
    return SR / taus[k]


def test_female_voice_is_higher_than_male():
    def median_f0(cls: int, seed: int) -> float:
        x = synthesize_event(cls, 2 * SR, SR, np.random.default_rng(seed)).astype(np.float64)
        frames = x[: len(x) // 1024 * 1024].reshape(-1, 1024)
        loud = np.argsort(-np.sum(frames ** 2, axis=1))[:8]
        return float(np.median([_yin_f0(x[i * 1024:i * 1024 + 1024]) for i in loud if i * 1024 + 1024 <= len(x)]))

    female = [median_f0(0, s) for s in range(3)]
    male = [median_f0(1, s) for s in range(3)]
    assert min(female) > max(male)
    assert all(150 < f < 280 for f in female) and all(75 < f < 150 for f in male)


def test_classes_are_distinct_and_learnable():
    """A nearest-centroid classifier on log-mel statistics, fitted on 5 events per class, recognises most
    held-out events: the classes differ consistently while events within a class vary."""
    import librosa
    from scipy.signal import stft

    mel = librosa.filters.mel(sr=SR, n_fft=1024, n_mels=40)

    def features(x: np.ndarray) -> np.ndarray:
        _, _, spec = stft(x, fs=SR, nperseg=1024, noverlap=512)
        logmel = np.log(mel @ np.abs(spec) ** 2 + 1e-6)
        flux = np.abs(np.diff(logmel, axis=1)).mean(axis=1)
        return np.concatenate([logmel.mean(axis=1) - logmel.mean(), logmel.std(axis=1), flux])

    per_class, n_train = 8, 5
    x = np.array([features(synthesize_event(c, int(2.5 * SR), SR, np.random.default_rng(1000 * c + k)))
                  for c in range(NUM_CLASSES) for k in range(per_class)])
    y = np.repeat(np.arange(NUM_CLASSES), per_class)
    train = np.tile(np.arange(per_class) < n_train, NUM_CLASSES)
    x = (x - x[train].mean(axis=0)) / (x[train].std(axis=0) + 1e-6)
    centroids = np.stack([x[train & (y == c)].mean(axis=0) for c in range(NUM_CLASSES)])
    predicted = np.argmin(((x[~train][:, None] - centroids[None]) ** 2).sum(axis=-1), axis=1)
    assert np.mean(predicted == y[~train]) >= 0.75
    assert np.mean(predicted[y[~train] <= 1] == y[~train][y[~train] <= 1]) == 1.0  # female vs male speech


# --- scenes ----------------------------------------------------------------------------------------------

def test_annotation_script_is_reproduced(shared_data):
    path = shared_data / "starss22_metadata_dev" / "dev-train-sony" / "fold3_room21_mix001.csv"
    rows = read_reference_csv(path)
    length = max(r.frame for r in rows) + 1
    scene = scene_from_annotation(path, length, np.random.default_rng(0))
    key = lambda e: (e.frame, e.cls, e.track)  # noqa: E731
    got = sorted(((e.frame, e.cls, e.track, e.azimuth, e.elevation) for e in scene.reference_events()))
    want = sorted({key(r): (r.frame, r.cls, r.track, r.azimuth, r.elevation) for r in reversed(rows)}.values())
    assert got == want
    assert all(1.0 <= e.distance <= 4.0 for e in scene.reference_events())


def _split_frames(plans, split: str, balanced: bool = True, count=class_frame_counts) -> np.ndarray:
    """Active frames (or events, with ``count=class_event_counts``) per class of a split's scripted clips, from the
    plan alone (no rendering)."""
    return sum(count(script_rows(read_reference_csv(p.script), p.num_frames, p.window_start,
                                 class_map=p.class_map if balanced else None))
               for p in plans if p.split == split)


def test_class_event_counts_counts_contiguous_runs():
    rows = [Event(f, 3, 0, 0.0, 0.0) for f in (0, 1, 2, 5, 6)] + [Event(f, 3, 1, 0.0, 0.0) for f in (1, 2)] \
        + [Event(9, 7, 0, 0.0, 0.0), Event(9, 7, 0, 0.0, 0.0)]
    want = np.zeros(NUM_CLASSES, dtype=np.int64)
    want[3], want[7] = 3, 1  # source 0: frames 0-2 and 5-6; source 1: 1-2; class 7: one frame (duplicated row)
    assert (class_event_counts(rows) == want).all()


def test_balance_classes_evens_out_frames_and_events():
    # 26 clips with one active class each, all with 100 frames: 13 with one long event, 13 with ten short ones.
    # Only one spread keeps both frames and events equal: every class gets one clip of each kind.
    clips = []
    for k in range(2 * NUM_CLASSES):
        counts = np.zeros((2, NUM_CLASSES), dtype=np.int64)
        counts[:, k % 3] = (100, 1 if k < NUM_CLASSES else 10)
        clips.append(counts)
    maps = balance_classes(clips, np.random.default_rng(0))
    assert all(sorted(m) == list(range(NUM_CLASSES)) for m in maps)
    totals = np.zeros((2, NUM_CLASSES), dtype=np.int64)
    for counts, m in zip(clips, maps):
        for src in range(NUM_CLASSES):
            totals[:, m[src]] += counts[:, src]
    assert (totals[0] == 200).all() and (totals[1] == 11).all()


def test_class_balance_of_the_small_plan(shared_data):
    annotations = str(shared_data / "starss22_metadata_dev")
    plans = plan_clips(SynthesisConfig.from_preset("small", annotations=annotations))
    assert all(sorted(p.class_map) == list(range(NUM_CLASSES)) for p in plans)
    train, test = _split_frames(plans, "train"), _split_frames(plans, "test")
    assert (train > 0).all() and (test > 0).all()  # every class in both splits
    assert train.max() <= 1.5 * train.min() and test.max() <= 2 * test.min()  # (real files: 586x and absent classes)
    # ... and events (each a distinct sound): no class is left with a few long events
    train_events = _split_frames(plans, "train", count=class_event_counts)
    test_events = _split_frames(plans, "test", count=class_event_counts)
    assert train_events.min() >= 12 and train_events.max() <= 2 * train_events.min()
    assert test_events.min() >= 8 and test_events.max() <= 2 * test_events.min()
    # Without balancing: same clips and windows, the files' own classes (which leave classes out of a split).
    plain = plan_clips(SynthesisConfig.from_preset("small", annotations=annotations, class_balance=False))
    assert all(p.class_map is None for p in plain)
    assert [p.to_dict() | {"class_map": None} for p in plans] == [p.to_dict() for p in plain]
    assert (_split_frames(plain, "train") == _split_frames(plans, "train", balanced=False)).all()
    assert (_split_frames(plain, "test") == 0).any()


@pytest.mark.parametrize("scripted", [True, False])
def test_test_split_does_not_depend_on_the_train_size(shared_data, scripted):
    annotations = str(shared_data / "starss22_metadata_dev") if scripted else None
    small = plan_clips(SynthesisConfig.from_preset("small", annotations=annotations, num_train=5))
    large = plan_clips(SynthesisConfig.from_preset("small", annotations=annotations, num_train=40))
    test_small = [p.to_dict() | {"index": None} for p in small if p.split == "test"]
    test_large = [p.to_dict() | {"index": None} for p in large if p.split == "test"]
    assert len(test_small) == 10 and test_small == test_large
    first_small, first_large = small[5], large[40]
    assert (clip_rng(0, first_small).random(4) == clip_rng(0, first_large).random(4)).all()
    # ... while the train clips are the first clips of the larger train split
    assert [p.name for p in small[:5]] == [p.name for p in large[:5]]


@pytest.mark.parametrize("scripted", [True, False])
def test_validation_clips_are_held_apart_from_the_test_clips(shared_data, scripted):
    """The small preset's 5 validation clips (dev-val-*, fold5_*) come on top of its 20 train and 10 test clips,
    which stay exactly those of a dataset without validation clips; scripted, they take dev-test annotation
    files that no test clip plays; they are made in the test rooms."""
    annotations = str(shared_data / "starss22_metadata_dev") if scripted else None
    plans = plan_clips(SynthesisConfig.from_preset("small", annotations=annotations))
    without = plan_clips(SynthesisConfig.from_preset("small", annotations=annotations, num_val=0))
    assert [sum(p.split == s for p in plans) for s in ("train", "test", "val")] == [20, 10, 5]
    assert [p.to_dict() for p in plans if p.split != "val"] == [p.to_dict() for p in without]
    val = [p for p in plans if p.split == "val"]
    assert all(p.split_dir in ("dev-val-sony", "dev-val-tau") and p.name.startswith("fold5_") for p in val)
    assert all(Recording(p.split_dir, p.name).split == "val" for p in val)
    assert len({p.name for p in plans}) == len(plans)
    test_rooms = {room for rooms in RANDOM_ROOMS["test"].values() for room in rooms}
    assert {p.room for p in val} <= test_rooms
    if scripted:
        scripts = [Path(p.script) for p in val]
        assert all(s.parent.name.startswith("dev-test-") for s in scripts) and len(set(scripts)) == 5
        assert not set(scripts) & {Path(p.script) for p in plans if p.split == "test"}
        assert all(p.rotation_deg == 0 and p.split_dir == "dev-val-" + Path(p.script).parent.name[9:] for p in val)


def test_scene_source_is_said_and_recorded(tmp_path, capsys, monkeypatch):
    """A lone clone (no STARSS22 annotations beside it) gets random scenes, and the log and synthesis.json say so;
    with annotations, both name the folder."""
    import synth.config

    absent = tmp_path / "no_shared" / "starss22_metadata_dev"
    monkeypatch.setattr(synth.config, "DEFAULT_ANNOTATIONS", absent)
    monkeypatch.setattr(synthesize_dataset, "DEFAULT_ANNOTATIONS", absent)
    quick = ["--preset", "tiny", "--quiet", "--no-video", "--num-train", "1", "--num-test", "0", "--num-val", "0",
             "--duration", "2", "--workers", "1", "--formats", "foa"]
    assert synthesize_dataset.main(["--out", str(tmp_path / "lone"), *quick]) == 0
    err = capsys.readouterr().err
    assert f"scenes: random (no STARSS22 annotations at {absent}" in err
    assert json.loads((tmp_path / "lone" / "synthesis.json").read_text())["scene_source"] == "random"
    annotations = tmp_path / "annotations" / "dev-train-sony"
    annotations.mkdir(parents=True)
    (annotations / "fold3_room21_mix001.csv").write_text("0,1,0,30,10\n1,1,0,30,10\n")
    assert synthesize_dataset.main(["--out", str(tmp_path / "scripted"), *quick,
                                    "--annotations", str(annotations.parent)]) == 0
    said = f"scripted from STARSS22 annotations at {annotations.parent.resolve()}"
    assert f"scenes: {said}" in capsys.readouterr().err
    assert json.loads((tmp_path / "scripted" / "synthesis.json").read_text())["scene_source"] == said


def test_random_scene_statistics():
    scene = random_scene(600, np.random.default_rng(7), max_polyphony=3, moving_fraction=0.5)
    poly = scene.polyphony()
    assert poly.max() <= 3 and poly.mean() > 0.8
    assert any(e.is_moving for e in scene.events) and any(not e.is_moving for e in scene.events)
    assert len({e.cls for e in scene.events}) >= 5


# --- video and detections --------------------------------------------------------------------------------

@pytest.mark.parametrize("az, el", [(0, 0), (60, 20), (-120, -30)])
def test_sprite_is_centred_at_the_mapped_pixel(az, el):
    W, H = 360, 180
    backdrop = np.zeros((H, W, 3), dtype=np.uint8)
    img, boxes = draw_frame(backdrop, [Figure(7, az, el, 2.0)])  # door: a filled rectangle
    rows, cols = np.nonzero(img.any(axis=2))
    col, row = direction_to_equirect(az, el, W, H)
    assert (cols.min() + cols.max() + 1) / 2 == pytest.approx(float(col), abs=1.0)
    assert (rows.min() + rows.max() + 1) / 2 == pytest.approx(float(row), abs=1.0)
    assert boxes == []  # a door is no person


def test_person_box_and_seam_wrap():
    W, H = 360, 180
    img, boxes = draw_frame(np.zeros((H, W, 3), dtype=np.uint8), [Figure(DISTRACTOR, 0, 0, 2.0)])
    (x1, y1, x2, y2), = boxes
    assert (x1 + x2) / 2 == pytest.approx(0.5, abs=1.5 / W) and (y1 + y2) / 2 == pytest.approx(0.5, abs=1.5 / H)
    frame = np.zeros((H, W, 3), dtype=np.uint8)
    paste(frame, sprite(7, 40), 0.0, 90.0)  # azimuth 180: half on each side of the seam
    cols = np.nonzero(frame.any(axis=(0, 2)))[0]
    assert cols.min() == 0 and cols.max() == W - 1 and len(cols) == sprite(7, 40).shape[1]


def test_simulated_detections_follow_drawn_boxes():
    boxes = [[np.array([0.1, 0.2, 0.2, 0.6])], [], [np.array([0.5, 0.4, 0.55, 0.5]), np.array([0.7, 0.4, 0.8, 0.7])]]
    det = simulate_detections(boxes, np.random.default_rng(0), miss_rate=0.0, jitter=0.0, false_positive_rate=0.0)
    assert det.frames.tolist() == [0, 2, 2] and det.num_frames == 3
    np.testing.assert_allclose(det.boxes, [boxes[0][0], boxes[2][0], boxes[2][1]], atol=1e-6)
    assert det.scores[2] > det.scores[1]  # the larger (closer) person scores higher
    none = simulate_detections(boxes, np.random.default_rng(0), miss_rate=1.0, false_positive_rate=0.0)
    assert len(none.frames) == 0


# --- the tiny dataset ------------------------------------------------------------------------------------

def test_tiny_dataset_has_the_full_layout(tiny_dataset: Path):
    layout = DatasetLayout(tiny_dataset)
    record = json.loads((tiny_dataset / "synthesis.json").read_text())
    config = SynthesisConfig.from_dict(record["config"])
    assert config.preset == "tiny" and len(record["clips"]) == config.num_train + config.num_val + config.num_test == 5
    for fmt in ("foa", "mic"):
        recs = layout.recordings(fmt)
        assert [[r.split for r in recs].count(s) for s in ("train", "val", "test")] == [2, 1, 2]
        for rec in recs:
            assert rec.name.startswith({"train": "fold3_", "val": "fold5_", "test": "fold4_"}[rec.split])
            info = sf.info(str(layout.audio_path(fmt, rec)))
            assert (info.channels, info.samplerate, info.subtype, info.frames) == (4, SR, "PCM_16", 6 * SR)
        for split, key in (("train", "devtrain"), ("val", "devval"), ("test", "devtest")):
            lines = (layout.list_dir / f"dcase2023t3_{fmt}_{key}.txt").read_text().split()
            listed = sorted(tiny_dataset.parent / line for line in lines)
            assert listed == sorted(layout.audio_path(fmt, r) for r in layout.recordings(fmt, split))
        assert (layout.list_dir / f"dcase2023t3_{fmt}_devtrain_audiovisual.txt").is_file()
    for rec in layout.recordings("foa"):
        events = read_reference_csv(layout.metadata_path(rec))
        assert events and all(e.distance is not None and 0.5 <= e.distance <= 5 for e in events)
        with av.open(str(layout.video_path(rec))) as container:
            stream = container.streams.video[0]
            assert (stream.width, stream.height) == tuple(config.video_size)
            assert stream.codec_context.name == "h264" and stream.average_rate == VIDEO_FPS
            assert sum(1 for _ in container.decode(video=0)) == round(6 * VIDEO_FPS)
        det = read_detections(layout.detection_path(rec))
        assert det.is_simulated and det.num_frames == 60 and det.rate_hz == 10
        assert ((det.boxes >= 0) & (det.boxes <= 1)).all() and (det.frames < 60).all()


def test_tiny_metadata_reproduces_the_scene_script(tiny_dataset: Path):
    record = json.loads((tiny_dataset / "synthesis.json").read_text())
    config = SynthesisConfig.from_dict(record["config"])
    layout = DatasetLayout(tiny_dataset)
    for plan in plan_clips(config):
        scene = build_scene(plan, config, clip_rng(config.seed, plan))
        written = read_reference_csv(layout.metadata_path(Recording(plan.split_dir, plan.name)))
        expected = scene.reference_events()
        assert len(written) == len(expected) > 0
        as_rows = lambda evs: sorted((e.frame, e.cls, e.track, round(e.azimuth), round(e.elevation),  # noqa: E731
                                      round(e.distance * 100)) for e in evs)
        assert as_rows(written) == as_rows(expected)
        if plan.script:  # the annotation window, with the plan's class map applied
            rows = script_rows(read_reference_csv(plan.script), plan.num_frames, plan.window_start,
                               plan.rotation_deg, plan.class_map)
            assert {(e.frame, e.cls, e.track) for e in written} == {(r.frame, r.cls, r.track) for r in rows}


def _data_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.suffix in (".wav", ".csv", ".txt")}


def test_same_seed_gives_identical_files(tiny_dataset: Path, tmp_path: Path):
    record = json.loads((tiny_dataset / "synthesis.json").read_text())
    config = SynthesisConfig.from_dict(record["config"])
    config.workers = 2  # process scheduling must not matter
    config.video = False  # (wav/csv/lists are what must be byte-identical)
    first = _data_files(tiny_dataset)
    second = _data_files(make_dataset(config, tmp_path / tiny_dataset.name, progress=False))
    compared = [k for k in second if not k.startswith("detections_dev/")]
    assert len([k for k in compared if k.endswith(".wav")]) == 10
    for key in compared:
        assert first[key] == second[key], key
    config.seed += 1
    config.workers = 1
    other = _data_files(make_dataset(config, tmp_path / "other_seed", progress=False))
    wavs = lambda files: {v for k, v in files.items() if k.endswith(".wav")}  # noqa: E731
    assert not wavs(other) & wavs(second)


# --- command line ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--formats", "foa,xyz"], "--formats"),
    (["--video-size", "481x240"], "--video-size"),
    (["--video-size", "big"], "--video-size"),
    (["--duration", "5-2"], "--duration"),
    (["--workers", "0"], "--workers"),
    (["--annotations", "/nonexistent/annotations"], "annotation folder not found"),
])
def test_cli_rejects_bad_arguments(tmp_path, capsys, argv, message):
    status = synthesize_dataset.main(["--out", str(tmp_path / "d"), "--preset", "tiny", "--quiet", *argv])
    err = capsys.readouterr().err.strip()
    assert status != 0 and message in err and len(err.splitlines()) == 1


def test_cli_rejects_unwritable_output(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    status = synthesize_dataset.main(["--out", str(blocker / "sub"), "--preset", "tiny", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and str(blocker / "sub") in err and "not writable" in err and len(err.splitlines()) == 1


def test_tiny_foa_audio_points_at_the_metadata_directions(tiny_dataset: Path):
    """End to end: in frames with one active event, the FOA intensity vector points near its labelled direction.
    Impulse-train classes (clapping, footsteps, knock) are left out: most of their frames hold only the room's
    reverberant tail between impacts, whose intensity carries little direction."""
    from scipy.signal import stft

    from util.audio_io import read_audio
    from util.geometry import cart_to_sph, great_circle_deg

    IMPULSIVE = {CLASS_NAMES.index(name) for name in ("clapping", "footsteps", "knock")}  # noqa: N806
    layout = DatasetLayout(tiny_dataset)
    errors = []
    for rec in layout.recordings("foa"):
        audio, _ = read_audio(layout.audio_path("foa", rec))
        _, _, spec = stft(audio, fs=SR, nperseg=512, noverlap=512 - 240)  # 10 ms hop: 10 STFT frames per label
        intensity = np.real(np.conj(spec[0])[None] * spec[[3, 1, 2]])  # x, y, z (X, Y, Z channels)
        by_frame: dict[int, list] = {}
        for e in read_reference_csv(layout.metadata_path(rec)):
            by_frame.setdefault(e.frame, []).append(e)
        for frame, events in by_frame.items():
            if len(events) == 1 and events[0].cls not in IMPULSIVE:
                v = intensity[:, 5:150, frame * 10:frame * 10 + 10].sum(axis=(1, 2))  # ~230 Hz - 7 kHz
                az, el = cart_to_sph(v)
                errors.append(great_circle_deg(az, el, events[0].azimuth, events[0].elevation))
    assert len(errors) > 30
    assert np.median(errors) < 25.0

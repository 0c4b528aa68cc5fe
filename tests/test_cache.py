"""Tests of extraction into the feature cache (feature/extract.py, feature/cache.py, `seld.py extract`)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import seld
from feature.base import build_extractor
from feature.cache import FeatureCache
from feature.extract import build_feature_cache
from metrics.dcase_csv import Event, write_reference_csv
from util.audio_io import write_audio
from util.conventions import SAMPLE_RATE
from util.errors import InputError
from util.layout import DatasetLayout, Recording

TRAIN = [Recording("dev-train-sony", "fold3_room21_mix001"), Recording("dev-train-tau", "fold3_room4_mix002")]
TEST = [Recording("dev-test-sony", "fold4_room23_mix001")]
EVAL = [Recording("", "mix001")]


def make_dataset(root: Path, seconds: float = 2.05) -> DatasetLayout:
    """A tiny STARSS23-layout dataset: noise FOA, one event per labelled recording, an eval file without labels."""
    layout = DatasetLayout(root)
    rng = np.random.default_rng(0)
    n = int(seconds * SAMPLE_RATE)
    for i, rec in enumerate(TRAIN + TEST):
        write_audio(layout.audio_path("foa", rec), (0.05 * (i + 1) * rng.standard_normal((4, n))).astype(np.float32),
                    SAMPLE_RATE)
        write_reference_csv(layout.metadata_path(rec), [Event(f, i, 0, 10 * i, 0, 1.0 + i) for f in range(3, 12)])
    eval_layout = DatasetLayout(root, stage="eval")
    write_audio(eval_layout.audio_dir("foa") / "mix001.wav", (0.1 * rng.standard_normal((4, n))).astype(np.float32),
                SAMPLE_RATE)
    return layout


def test_build_cache_shapes_labels_stats(tmp_path):
    make_dataset(tmp_path / "data")
    cache = build_feature_cache(tmp_path / "data", "foa", "logmel_iv", cache_dir=tmp_path / "cache", progress=False)
    assert cache.recordings("train") == sorted(TRAIN) and cache.recordings("test") == TEST
    assert cache.recordings("eval") == EVAL and not cache.has_labels(EVAL[0])  # from foa_eval/, features only
    assert cache.features(EVAL[0]).shape == (7, 105, 64)
    assert cache.frames_per_label == 5 and cache.feature_shape == (7, 64)
    for rec in TRAIN + TEST:
        x, y = cache.features(rec), cache.labels(rec)
        assert isinstance(x, np.memmap) and x.shape == (7, 21 * 5, 64) and x.dtype == np.float32
        assert y.shape == (21, 6, 5, 13) and y[3:12, 0, 0].sum() == 9  # ceil(2.05 / 0.1) = 21 label frames
    rec = TEST[0]
    expected = [1, np.cos(np.deg2rad(20)), np.sin(np.deg2rad(20)), 0, 3.0]
    np.testing.assert_allclose(cache.labels(rec)[5, 0, :, 2], expected, atol=1e-6)
    # statistics from the training split only
    train = np.concatenate([np.asarray(cache.features(r)) for r in TRAIN], axis=1)
    mean, std = cache.stats
    np.testing.assert_allclose(mean, train.mean(axis=1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(std, train.std(axis=1), rtol=1e-3, atol=1e-4)
    z = cache.normalize(train)
    assert abs(z.mean()) < 1e-3 and z.std() == pytest.approx(1.0, abs=1e-2)
    # features identical to a direct extraction; config round trip
    again = FeatureCache.open(cache.folder)
    assert again.feature_config == build_extractor("logmel_iv").config
    assert (cache.folder / "config.json").is_file()


def test_resume_skips_finished_and_redoes_changed(tmp_path):
    layout = make_dataset(tmp_path / "data")
    cache = build_feature_cache(tmp_path / "data", "foa", "logmel_iv", cache_dir=tmp_path / "cache", progress=False)
    mtimes = {r: cache.feature_path(r).stat().st_mtime_ns for r in TRAIN + TEST}
    # touch one source: only that recording is redone
    src = layout.audio_path("foa", TEST[0])
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 10**9))
    build_feature_cache(tmp_path / "data", "foa", "logmel_iv", cache_dir=tmp_path / "cache", progress=False)
    for r in TRAIN:
        assert cache.feature_path(r).stat().st_mtime_ns == mtimes[r]
    assert cache.feature_path(TEST[0]).stat().st_mtime_ns != mtimes[TEST[0]]
    # a changed setting makes a new cache folder
    from feature.base import extractor_class
    other = build_feature_cache(tmp_path / "data", "foa", extractor_class("logmel_iv").default_config(n_mels=32),
                                cache_dir=tmp_path / "cache", splits=["train"], dtype="float16", progress=False)
    assert other.folder != cache.folder and other.feature_shape == (7, 32)
    assert other.features(TRAIN[0]).dtype == np.float16 and other.recordings("test") == []
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted([cache.folder.name, other.folder.name])
    assert not list((tmp_path / "cache").rglob(".*"))  # no temporary files left


def test_recordings_removed_from_the_dataset_leave_the_cache(tmp_path):
    layout = make_dataset(tmp_path / "data")
    build_feature_cache(tmp_path / "data", "foa", "logmel_iv", cache_dir=tmp_path / "cache", progress=False)
    layout.audio_path("foa", TRAIN[1]).unlink()  # e.g. the dataset was regenerated with other clips
    cache = build_feature_cache(tmp_path / "data", "foa", "logmel_iv", cache_dir=tmp_path / "cache", progress=False)
    assert cache.recordings("train") == [TRAIN[0]] and not cache.label_path(TRAIN[1]).exists()
    mean, _ = cache.stats  # statistics follow the remaining training recording
    np.testing.assert_allclose(mean, np.asarray(cache.features(TRAIN[0])).mean(axis=1), rtol=1e-4, atol=1e-4)


def test_unnormalised_feature_has_identity_stats_and_stats_follow_sources(tmp_path):
    layout = make_dataset(tmp_path / "data")
    cache = build_feature_cache(tmp_path / "data", "foa", "amp_phasediff", cache_dir=tmp_path / "cache",
                                splits=["train"], progress=False)
    assert cache.frames_per_label == 10 and cache.features(TRAIN[0]).shape == (7, 210, 257)
    mean, std = cache.stats
    assert mean.shape == (7, 257) and not mean.any() and (std == 1).all()
    # logmel_iv statistics are recomputed when a training recording changes
    iv = build_feature_cache(tmp_path / "data", "foa", "logmel_iv", cache_dir=tmp_path / "cache", splits=["train"],
                             progress=False)
    before = iv.stats[0].copy()
    write_audio(layout.audio_path("foa", TRAIN[0]),
                (0.5 * np.random.default_rng(5).standard_normal((4, 2 * SAMPLE_RATE))).astype(np.float32), SAMPLE_RATE)
    iv = build_feature_cache(tmp_path / "data", "foa", "logmel_iv", cache_dir=tmp_path / "cache", splits=["train"],
                             progress=False)
    assert not np.allclose(iv.stats[0], before)


def test_eval_without_labels_and_errors(tmp_path):
    make_dataset(tmp_path / "data")
    root = tmp_path / "data"
    # a flat folder of user recordings, featurised without labels (foa_dev with no split folders)
    flat = tmp_path / "user"
    (flat / "foa_dev").mkdir(parents=True)
    (root / "foa_eval" / "mix001.wav").rename(flat / "foa_dev" / "mix001.wav")
    cache = build_feature_cache(flat, "foa", "logmel_iv", cache_dir=tmp_path / "cache", progress=False)
    assert cache.recordings("eval") == EVAL and not cache.has_labels(EVAL[0])
    with pytest.raises(InputError, match="not in the feature cache"):
        cache.labels(EVAL[0])
    with pytest.raises(InputError, match="no normalisation statistics"):
        _ = cache.stats
    with pytest.raises(InputError, match="no .wav recordings"):
        build_feature_cache(tmp_path / "nothing", "foa", "logmel_iv", cache_dir=tmp_path / "cache", progress=False)
    with pytest.raises(InputError, match="not a feature cache"):
        FeatureCache.open(tmp_path)


def test_cli_parallel_and_bad_input(tmp_path, capsys):
    make_dataset(tmp_path / "data")
    argv = ["extract", "--data-dir", str(tmp_path / "data"), "--format", "foa", "--feature", "logmel_iv",
            "--cache-dir", str(tmp_path / "cache"), "--workers", "2", "--splits", "train,test"]
    assert seld.main(argv) == 0
    out = capsys.readouterr().out
    assert "train 2" in out and "test 1" in out
    (folder,) = (tmp_path / "cache").iterdir()
    assert len(FeatureCache.open(folder).recordings()) == 3
    # a corrupt file is named in a one-line error, exit status 2
    bad = DatasetLayout(tmp_path / "data").audio_path("foa", Recording("dev-test-sony", "fold4_room23_mix009"))
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    assert seld.main(argv[:-4] + ["--workers", "1"]) == 2
    assert "fold4_room23_mix009.wav" in capsys.readouterr().err
    mic = ["extract", "--data-dir", str(tmp_path / "data"), "--format", "mic", "--feature", "logmel_iv",
           "--cache-dir", str(tmp_path / "cache")]
    assert seld.main(mic) == 2 and "does not accept mic audio" in capsys.readouterr().err


def test_tiny_dataset_end_to_end(request, tmp_path):
    try:
        data = request.getfixturevalue("tiny_dataset")
    except pytest.FixtureLookupError:
        pytest.skip("tiny_dataset fixture not available yet")
    for fmt, name in [("foa", "logmel_iv"), ("mic", "logmel_gcc")]:
        cache = build_feature_cache(data, fmt, name, cache_dir=tmp_path / "cache", progress=False)
        assert cache.recordings("train") and cache.recordings("test")
        for rec in cache.recordings():
            x, y = cache.features(rec), cache.labels(rec)
            assert np.isfinite(x).all() and x.shape[1] == y.shape[0] * cache.frames_per_label
            assert y[:, :, 0].sum() > 0  # the synthetic scenes have events
        assert np.isfinite(cache.stats[1]).all() and (cache.stats[1] > 0).all()

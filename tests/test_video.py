"""Video I/O (PyAV), resize_video.py and the ViT frame cache: answers known by construction."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import resize_video
from feature.frames import FrameCache, build_frame_cache
from util.errors import InputError
from util.layout import DatasetLayout, Recording, list_recordings
from util.video_io import (STARSS_VIDEO_RATE, iter_frames, iter_sampled_frames, num_sampled_frames, parse_size,
                           read_sampled_frames, video_info, write_video)

FPS = STARSS_VIDEO_RATE


def _frames(n: int, width: int = 96, height: int = 48) -> np.ndarray:
    """Frame i: flat grey level 7 * i plus a fixed colour pattern; its mean identifies i after compression."""
    frames = np.zeros((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        frames[i] = 7 * i
        frames[i, : height // 2, : width // 2, 0] = 255
    return frames


def _index_of(frame: np.ndarray) -> int:
    return int(round(float(frame[frame.shape[0] // 2:, :, 1].mean()) / 7))


def test_parse_size():
    assert parse_size("360x180") == (360, 180)
    for bad in ("360", "0x10", "axb"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_write_read_round_trip(tmp_path):
    frames = _frames(20)
    path = tmp_path / "v.mp4"
    assert write_video(path, frames, FPS) == 20
    info = video_info(path)
    assert (info.width, info.height, info.rate, info.num_frames) == (96, 48, FPS, 20)
    assert info.duration_s == pytest.approx(20 / float(FPS), abs=1e-3)
    decoded = list(iter_frames(path))
    assert len(decoded) == 20
    assert [_index_of(f) for _, f in decoded] == list(range(20))
    np.testing.assert_allclose([t for t, _ in decoded], np.arange(20) / float(FPS), atol=1e-3)
    assert np.abs(np.stack([f for _, f in decoded]).astype(int) - frames).mean() < 3
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    with pytest.raises(ValueError, match="even"):
        write_video(tmp_path / "odd.mp4", np.zeros((1, 5, 6, 3), np.uint8), FPS)


def test_sampled_frames_are_nearest_to_label_frame_starts(tmp_path):
    path = tmp_path / "v.mp4"
    write_video(path, _frames(31), FPS)  # 31 frames at 29.97 fps = 1.034 s -> 10 label frames
    times = np.array([t for t, _ in iter_frames(path)])
    n = num_sampled_frames(video_info(path).duration_s, 10)
    assert n == 10
    expected = [int(np.argmin(np.abs(times - k / 10))) for k in range(n)]
    got = [_index_of(f) for _, f in iter_sampled_frames(path, 10)]
    assert got == expected == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]
    # more grid points than the video holds repeat the last frame; a 5 Hz grid takes every 6th frame
    assert [_index_of(f) for f in read_sampled_frames(path, 10, num_frames=12)][-2:] == [30, 30]
    assert [_index_of(f) for _, f in iter_sampled_frames(path, 5)] == [0, 6, 12, 18, 24]
    assert read_sampled_frames(path, 10, size=(32, 16)).shape == (10, 16, 32, 3)


def test_corrupt_truncated_and_missing_videos(tmp_path):
    good = tmp_path / "good.mp4"
    write_video(good, _frames(30), FPS)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: int(len(data) * 0.6)])
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4000))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"truncated\.mp4: .*truncated"):
        list(iter_frames(truncated))
    for path in (corrupt, empty):
        with pytest.raises(InputError, match=rf"{path.name}: cannot open video"):
            video_info(path)
    with pytest.raises(InputError, match="video file not found"):
        list(iter_frames(tmp_path / "missing.mp4"))


def _dataset(root: Path, n_frames: int = 15, size=(192, 96)) -> tuple[DatasetLayout, list[Recording]]:
    layout = DatasetLayout(root)
    recs = [Recording("dev-train-sony", "fold3_room21_mix001"), Recording("dev-test-sony", "fold4_room23_mix002")]
    for i, rec in enumerate(recs):
        write_video(layout.video_path(rec), _frames(n_frames + 3 * i, *size), FPS)
    return layout, recs


def test_resize_video_cli(tmp_path, capsys):
    layout, recs = _dataset(tmp_path / "data")
    bad = Recording("dev-test-sony", "fold4_room23_mix003")
    layout.video_path(bad).write_bytes(layout.video_path(recs[0]).read_bytes()[:1500])
    rc = resize_video.main(["--data-dir", str(layout.root), "--size", "96x48", "--workers", "2"])
    out = capsys.readouterr()
    assert rc == 1
    assert "resize: 2 converted, 0 already done, 1 failed" in out.out
    assert "fold4_room23_mix003.mp4" in out.err
    assert not layout.video_path(bad, (96, 48)).exists()
    assert layout.resized_video_dir(96, 48) == tmp_path / "data" / "video_96x48_dev"
    for i, rec in enumerate(recs):
        src, dst = layout.video_path(rec), layout.video_path(rec, (96, 48))
        info = video_info(dst)
        assert (info.width, info.height, info.rate, info.num_frames) == (96, 48, FPS, 15 + 3 * i)
        small = [f for _, f in iter_frames(dst)]
        assert [_index_of(f) for f in small] == list(range(15 + 3 * i))
        # content: the red quadrant stays the top-left quadrant
        assert small[0][:24, :48, 0].mean() > 200 and small[0][24:, 48:, 0].mean() < 20
    # finished files are skipped; a second run converts nothing
    layout.video_path(bad).unlink()
    assert resize_video.main(["--data-dir", str(layout.root), "--size", "96x48", "--workers", "1"]) == 0
    assert "0 converted, 2 already done, 0 failed" in capsys.readouterr().out
    assert resize_video.main(["--data-dir", str(tmp_path / "nothing")]) == 2


def test_frame_cache_equals_fresh_decoding(tmp_path):
    layout, recs = _dataset(tmp_path / "data", n_frames=31, size=(96, 48))
    cache = build_frame_cache(layout.root, tmp_path / "cache", size=(64, 32), progress=False)
    assert cache.recordings() == sorted(recs) and cache.recordings("train") == [recs[0]]
    for rec in recs:
        x = cache.frames(rec)
        assert isinstance(x, np.memmap) and x.dtype == np.uint8
        fresh = read_sampled_frames(layout.video_path(rec), 10, size=(64, 32))
        t_video = num_sampled_frames(video_info(layout.video_path(rec)).duration_s, 10)
        assert x.shape == fresh.shape == (t_video, 32, 64, 3)
        np.testing.assert_array_equal(x, fresh)
    assert [_index_of(f) for f in cache.frames(recs[0])] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]
    padded = cache.frames(recs[0], num_frames=13)
    assert padded.shape == (13, 32, 64, 3) and np.all(padded[10:] == 0)
    assert FrameCache.open(cache.folder).size == (64, 32)

    # resumable: unchanged videos are not decoded again; a changed one is
    out = cache.frame_path(recs[0])
    mtime = out.stat().st_mtime_ns
    build_frame_cache(layout.root, tmp_path / "cache", size=(64, 32), progress=False)
    assert out.stat().st_mtime_ns == mtime
    write_video(layout.video_path(recs[0]), _frames(12, 96, 48), FPS)
    build_frame_cache(layout.root, tmp_path / "cache", size=(64, 32), progress=False)
    assert cache.frames(recs[0]).shape[0] == 4

    # a truncated video: clear error naming it, the other recording still cached, no partial output
    data = layout.video_path(recs[1]).read_bytes()
    layout.video_path(recs[1]).write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="fold4_room23_mix002.mp4.*1 of 2 recordings failed"):
        build_frame_cache(layout.root, tmp_path / "cache2", size=(64, 32), progress=False)
    assert FrameCache.open(next((tmp_path / "cache2").iterdir())).recordings() == [recs[0]]
    assert not list((tmp_path / "cache2").rglob(".*.npy"))


def test_tiny_dataset_resize_frames_and_vectors(tiny_dataset, tmp_path):
    """The synthetic dataset's videos and simulated detections through resize, the frame and visual caches."""
    import shutil

    from feature.visual import VisualSpec, build_visual_cache, recording_vectors
    from util.detection_io import read_detections

    src = DatasetLayout(tiny_dataset)
    root = tmp_path / "data"
    shutil.copytree(src.video_dir, root / src.video_dir.name)
    shutil.copytree(src.detection_dir, root / src.detection_dir.name)
    layout = DatasetLayout(root)
    assert resize_video.main(["--data-dir", str(root), "--size", "120x60", "--split", "train", "--workers", "1"]) == 0
    recs = list_recordings(layout.video_dir, ".mp4", "train")
    assert len(recs) >= 1
    frames = build_frame_cache(root, tmp_path / "cache", size=(64, 32), split="train", source_size=(120, 60),
                               progress=False)
    vectors = build_visual_cache(root, tmp_path / "cache", VisualSpec(), split="train", progress=False)
    for rec in recs:
        original, small = video_info(layout.video_path(rec)), video_info(layout.video_path(rec, (120, 60)))
        assert small.size == (120, 60) and small.num_frames == original.num_frames and small.rate == original.rate
        det = read_detections(layout.detection_path(rec))
        x = frames.frames(rec)
        assert x.shape == (det.num_frames, 32, 64, 3)
        np.testing.assert_array_equal(x, read_sampled_frames(layout.video_path(rec, (120, 60)), 10, size=(64, 32)))
        v = vectors.vectors(rec)
        assert v.shape == (det.num_frames, 2, 6, 37)
        np.testing.assert_array_equal(v, recording_vectors(det))
        # the best box of each frame with detections sets slot 0's peak
        for k in sorted(set(det.frames.tolist()))[:5]:
            boxes, scores = det.frame_boxes(k)
            if scores[0] > 0.1:
                centre = 36 * boxes[0, [0, 2]].mean()
                assert int(np.argmax(v[k, 0, 0])) == int(np.argmin(np.abs(np.arange(37) - centre)))

"""The shared per-recording cache machinery (util/npy_cache.py), the CLI error wrapper and VideoWriter options."""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from util.cli import run_main
from util.errors import InputError
from util.layout import Recording
from util.npy_cache import RecordingArrayCache, fit_frames, save_npy_atomic, update_from_sources, write_config
from util.video_io import VideoWriter, iter_frames, video_info


class _Cache(RecordingArrayCache):
    kind = "test"
    array_dir = "arrays"
    build_hint = "make one"


def _make(source, out):
    text = source.read_text()
    if text == "bad":
        raise InputError(source, "bad source")
    save_npy_atomic(out, np.full(3, float(text)))


def test_open_errors(tmp_path):
    with pytest.raises(InputError, match="not a test cache .*make one"):
        _Cache.open(tmp_path)
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(InputError, match="corrupt cache config"):
        _Cache.open(tmp_path)
    write_config(tmp_path / "new", {"a": 1}, end="\n")
    assert (tmp_path / "new" / "config.json").read_text() == json.dumps({"a": 1}, indent=2) + "\n"
    assert _Cache.open(tmp_path / "new").meta == {"a": 1}


def test_update_skips_current_and_reports_failures(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    recs = [Recording("dev-train", "a"), Recording("dev-test", "b")]
    (src / "a.txt").write_text("1")
    (src / "b.txt").write_text("bad")
    cache = _Cache(tmp_path / "cache", {})
    with pytest.raises(InputError, match=r"bad source \(1 of 2 recordings failed"):
        update_from_sources(cache, recs, lambda r: src / f"{r.name}.txt", _make, "test", progress=False)
    assert cache.recordings() == [recs[0]] and cache.recordings("test") == []
    assert np.array_equal(cache.array(recs[0]), [1, 1, 1])
    assert cache.array(recs[0], num_frames=5).tolist() == [1, 1, 1, 0, 0]
    assert cache.stamp_path(recs[0]).is_file()
    (src / "b.txt").write_text("2")
    calls = []
    update_from_sources(cache, recs, lambda r: src / f"{r.name}.txt",
                        lambda s, o: (calls.append(s.name), _make(s, o)), "test", progress=False)
    assert calls == ["b.txt"]  # a is current
    with pytest.raises(InputError, match="not in the test cache"):
        cache.array(Recording("dev-train", "missing"))


def test_recordings_whose_source_is_gone_leave_the_cache(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    recs = [Recording("dev-train", "a"), Recording("dev-test", "b")]
    for r in recs:
        (src / f"{r.name}.txt").write_text("1")
    cache = _Cache(tmp_path / "cache", {})
    source_of = lambda r: src / f"{r.name}.txt"  # noqa: E731
    update_from_sources(cache, recs, source_of, _make, "test", progress=False)
    # updating only the train recording keeps the test one (its source still exists) ...
    update_from_sources(cache, recs[:1], source_of, _make, "test", progress=False)
    assert cache.recordings() == sorted(recs)
    # ... while a deleted source takes its array and stamp with it
    (src / "b.txt").unlink()
    update_from_sources(cache, recs[:1], source_of, _make, "test", progress=False)
    assert cache.recordings() == [recs[0]] and not cache.stamp_path(recs[1]).exists()
    assert cache.prune([]) == [recs[0]] and cache.recordings() == []


def test_fit_frames():
    x = np.ones((3, 2))
    assert fit_frames(x, 2).shape == (2, 2) and fit_frames(x, 4)[3].tolist() == [0, 0]


def test_run_main(capsys):
    def fails() -> int:
        raise InputError("x.wav", "broken")

    assert run_main(fails) == 2 and capsys.readouterr().err == "error: x.wav: broken\n"
    assert run_main(lambda a, b=0: a + b, 1, b=2) == 3


def test_video_writer_repeat_and_bt601(tmp_path):
    path = tmp_path / "v.mp4"
    frame = np.full((16, 32, 3), 200, np.uint8)
    with VideoWriter(path, (32, 16), Fraction(10), threads=1, faststart=False, color="bt601") as writer:
        writer.write(frame, repeat=3)
        writer.write(frame // 2)
        assert writer.count == 4
    assert video_info(path).num_frames == 4
    means = [float(f.mean()) for _, f in iter_frames(path)]
    assert np.allclose(means, [200, 200, 200, 100], atol=3)
    with pytest.raises(ValueError, match="color conversion"):
        VideoWriter(path, (32, 16), 10, color="nope")

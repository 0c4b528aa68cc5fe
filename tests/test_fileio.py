"""Files written by the project respect the umask (util/fileio.py): 0644 under umask 022, 0600 under 077, for
every writer built on the atomic helpers (text, CSV, JSON, config, checkpoint, npy, audio); folders too."""
from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from metrics.dcase_csv import Event, write_prediction_csv
from metrics.scoring import write_result_json
from util.audio_io import write_audio
from util.checkpoint import save_checkpoint
from util.config import RunConfig, save_config
from util.fileio import atomic_path, current_umask, write_text_atomic
from util.npy_cache import save_npy_atomic


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    """Set the process umask for a test and restore it afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield os.umask
    os.umask(saved)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


WRITERS = {
    "text": lambda p: write_text_atomic(p / "a.txt", "x\n"),
    "csv": lambda p: write_prediction_csv(p / "a.csv", [Event(0, 1, 0, 10.0, 0.0)]),
    "json": lambda p: write_result_json(p / "a.json", {"ER": 0.5}),
    "config": lambda p: save_config(RunConfig(), p / "a.yaml"),
    "checkpoint": lambda p: save_checkpoint(p / "a.pt", {"config": {}, "model": {}}),
    "npy": lambda p: save_npy_atomic(p / "a.npy", np.zeros(3)),
    "audio": lambda p: write_audio(p / "a.wav", np.zeros((1, 100)), 24000),
}


@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_written_files_follow_umask(tmp_path, umask, writer, mask, expected):
    umask(mask)
    assert current_umask() == mask
    out = tmp_path / "new" / "sub"
    WRITERS[writer](out)
    (written,) = [p for p in out.iterdir()]
    assert mode(written) == expected
    assert mode(out) == 0o777 & ~mask and mode(out.parent) == 0o777 & ~mask
    assert [p.name for p in out.iterdir()] == [written.name]  # no temporary file left


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "a.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []

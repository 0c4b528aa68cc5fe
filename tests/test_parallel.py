"""util/parallel.py: the progress bar advances as each job finishes, and the first failure is raised."""
from __future__ import annotations

import time

import pytest

import util.parallel as parallel


class RecordingBar:
    """A stand-in for tqdm that records when (and to what count) the bar advances."""

    updates: list[tuple[float, int]] = []

    def __init__(self, total: int, initial: int = 0, **_):
        self.n = initial
        RecordingBar.updates = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int = 1) -> None:
        self.n += n
        RecordingBar.updates.append((time.monotonic(), self.n))


def test_pool_bar_advances_as_each_job_finishes(monkeypatch):
    """One short and one 4 s job on two workers: the bar reaches 1 seconds before the long job ends (the pool
    used to wait for every job before the first update)."""
    monkeypatch.setattr(parallel, "tqdm", RecordingBar)
    parallel.run_parallel(time.sleep, [(4.0,), (0.01,)], workers=2)
    (t1, n1), (t2, n2) = RecordingBar.updates
    assert (n1, n2) == (1, 2)
    assert t2 - t1 > 2.5


def test_pool_raises_the_first_failure(monkeypatch):
    monkeypatch.setattr(parallel, "tqdm", RecordingBar)
    with pytest.raises(ValueError):
        parallel.run_parallel(time.sleep, [(0.01,), (-1.0,)], workers=2)

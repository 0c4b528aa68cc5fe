"""Known-answer tests of the ADPIT label encoding (feature/labels.py)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from feature.labels import ADPIT_GROUPS, adpit_to_events, events_to_adpit, merge_adpit, read_adpit_targets
from metrics.dcase_csv import Event, read_reference_csv, write_reference_csv
from util.errors import InputError


def _ranked(events: list[Event], max_per_class: int = 3) -> list[tuple]:
    """Events with the source index replaced by its rank within (frame, class) in the official order (the frame's
    rows in CSV order, sorted by class with np.argsort); ranks >= max dropped."""
    frames = defaultdict(list)
    for e in events:
        frames[e.frame].append(e)
    groups = defaultdict(list)
    for rows in frames.values():
        for i in np.argsort(np.array([e.cls for e in rows], dtype=np.int64)):
            groups[(rows[i].frame, rows[i].cls)].append(rows[i])
    out = []
    for (frame, cls), group in groups.items():
        for rank, e in enumerate(group[:max_per_class]):
            out.append((frame, cls, rank, round(e.azimuth), round(e.elevation),
                        None if e.distance is None else round(e.distance, 2)))
    return sorted(out)


def _as_tuples(events: list[Event]) -> list[tuple]:
    return sorted((e.frame, e.cls, e.track, round(e.azimuth), round(e.elevation),
                   None if e.distance is None else round(e.distance, 2)) for e in events)


def test_slots_and_shape():
    assert ADPIT_GROUPS == ((0,), (1, 2), (3, 4, 5))
    events = [Event(0, 2, 7, 90, 0, 1.5),                                   # 1 instance -> A0
              Event(1, 4, 3, 0, 0), Event(1, 4, 1, 180, 0),                 # 2 -> B0, B1 in CSV row order
              Event(2, 5, 9, 0, 90), Event(2, 5, 2, -90, 0), Event(2, 5, 5, 0, -90), Event(2, 5, 11, 45, 0)]
    y = events_to_adpit(events, num_label_frames=4)
    assert y.shape == (4, 6, 5, 13) and y.dtype == np.float32
    np.testing.assert_allclose(y[0, 0, :, 2], [1, 0, 1, 0, 1.5], atol=1e-6)
    np.testing.assert_allclose(y[1, 1, :, 4], [1, 1, 0, 0, 0], atol=1e-6)  # source 3 (az 0): first row
    np.testing.assert_allclose(y[1, 2, :, 4], [1, -1, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(y[2, 3, :4, 5], [1, 0, 0, 1], atol=1e-6)    # rows: sources 9, 2, 5; 11 dropped
    np.testing.assert_allclose(y[2, 4, :4, 5], [1, 0, -1, 0], atol=1e-6)
    np.testing.assert_allclose(y[2, 5, :4, 5], [1, 0, 0, -1], atol=1e-6)
    assert y[..., 0, :].sum() == 6 and y[3].sum() == 0


def test_round_trip_up_to_three_instances():
    rng = np.random.default_rng(1)
    events = []
    for frame in range(30):
        for cls in rng.choice(13, size=3, replace=False):
            for src in rng.choice(10, size=1 + frame % 3, replace=False):
                events.append(Event(frame, int(cls), int(src), int(rng.integers(-180, 180)),
                                    int(rng.integers(-89, 90)), float(rng.integers(50, 500)) / 100))
    decoded = adpit_to_events(events_to_adpit(events))
    assert _as_tuples(decoded) == _ranked(events)


def test_real_csv_round_trip(shared_data, tmp_path):
    path = shared_data / "starss22_metadata_dev" / "dev-train-sony" / "fold3_room21_mix001.csv"
    events = read_reference_csv(path)
    y = read_adpit_targets(path)
    assert y.shape[0] == max(e.frame for e in events) + 1
    assert _as_tuples(adpit_to_events(y)) == _ranked(events)
    # the same through a written CSV of the decoded events
    out = tmp_path / "decoded.csv"
    write_reference_csv(out, adpit_to_events(y))
    np.testing.assert_allclose(read_adpit_targets(out, y.shape[0]), y, atol=0.02)


def test_frames_beyond_duration_are_dropped_and_bad_class(tmp_path):
    y = events_to_adpit([Event(5, 0, 0, 0, 0), Event(12, 0, 0, 0, 0)], num_label_frames=10)
    assert y.shape[0] == 10 and y[5, 0, 0, 0] == 1 and y.sum() == 2  # activity 1 + x 1
    bad = tmp_path / "bad.csv"
    bad.write_text("0,13,0,10,10\n")
    with pytest.raises(InputError, match="bad.csv"):
        read_adpit_targets(bad)


def test_merge_adpit_is_the_union_of_instances():
    first = events_to_adpit([Event(0, 2, 0, 90.0, 0.0), Event(1, 2, 0, 90.0, 0.0), Event(1, 5, 0, 0.0, 0.0),
                             Event(2, 7, 0, 0.0, 0.0), Event(2, 7, 1, 180.0, 0.0)], 3)
    second = events_to_adpit([Event(0, 2, 0, -90.0, 0.0), Event(1, 4, 0, 0.0, 45.0),
                              Event(2, 7, 0, 0.0, 90.0), Event(2, 7, 1, 0.0, -90.0)], 3)
    merged = merge_adpit(first, second)
    got = sorted((e.frame, e.cls, round(e.azimuth), round(e.elevation)) for e in adpit_to_events(merged))
    want = sorted([(0, 2, 90, 0), (0, 2, -90, 0),            # same class in both: two instances (B0, B1)
                   (1, 2, 90, 0), (1, 5, 0, 0), (1, 4, 0, 45),  # different classes: all kept
                   (2, 7, 0, 0), (2, 7, 180, 0), (2, 7, 0, 90)])  # 2 + 2 instances: the first three kept
    assert got == want
    assert (merged[0, 1, 0, 2] == 1) and (merged[0, 0, 0, 2] == 0)  # 2 instances fill group B, not A
    assert np.array_equal(merge_adpit(first, np.zeros_like(first)), first)
    assert np.array_equal(merge_adpit(np.zeros_like(second), second), second)

"""DCASE CSV reading / writing (metrics/dcase_csv.py): every accepted column layout, header rows, units and
one-line errors naming the file and line."""
from __future__ import annotations

import pytest

from metrics.dcase_csv import (Event, prediction_csv_text, read_prediction_csv, read_reference_csv,
                               write_prediction_csv, write_reference_csv)
from util.errors import InputError


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reference_5_and_6_columns(tmp_path):
    five = read_reference_csv(write(tmp_path, "a.csv", "0,1,0,-30,10\n3,12,2,170,-5\n"))
    assert five == [Event(0, 1, 0, -30.0, 10.0), Event(3, 12, 2, 170.0, -5.0)]
    six = read_reference_csv(write(tmp_path, "b.csv", "frame,class,source,azi,ele,dist\n\n7,4,1,90,0,250\n"))
    assert six == [Event(7, 4, 1, 90.0, 0.0, 2.5)]  # header skipped, empty line skipped, cm -> m


def test_prediction_layouts(tmp_path):
    p4 = read_prediction_csv(write(tmp_path, "p4.csv", "5,2,45.5,-10\n"))
    assert p4 == [Event(5, 2, 0, 45.5, -10.0)]
    p5 = read_prediction_csv(write(tmp_path, "p5.csv", "5,2,1,45.5,-10\n"))
    assert p5 == [Event(5, 2, 1, 45.5, -10.0)]
    p6 = read_prediction_csv(write(tmp_path, "p6.csv", "5,2,1,45.5,-10,1.75\n"))
    assert p6 == [Event(5, 2, 1, 45.5, -10.0, 1.75)]  # metres
    (e,) = read_prediction_csv(write(tmp_path, "p7.csv", "5,2,1,0,0.4,0.4,3.0\n"))  # length does not matter
    assert (e.frame, e.cls, e.track, e.distance) == (5, 2, 1, 3.0)
    assert e.azimuth == pytest.approx(90) and e.elevation == pytest.approx(45)


@pytest.mark.parametrize("text,problem", [
    ("0,1,0,10\n1,2,0,x,5\n", "line 2: non-numeric value 'x'"),
    ("0,1,0,10,20,30,40,50\n", "line 1: expected 4 or 5 or 6 or 7 columns"),
    ("0,13,0,10,20\n", "line 1: class 13 outside 0..12"),
    ("-1,1,0,10,20\n", "line 1: negative frame -1"),
    ("0.5,1,0,10,20\n", "line 1: frame '0.5' is not an integer"),
    ("0,1,180,90\n1,1,180.5,0\n", "line 2: azimuth 180.5 outside [-180, 180] degrees"),
    ("0,1,0,-181,0\n", "line 1: azimuth -181 outside [-180, 180] degrees"),
    ("0,1,0,10,-90.01,2.0\n", "line 1: elevation -90.01 outside [-90, 90] degrees"),
    ("0,1,0,10,95\n", "line 1: elevation 95 outside [-90, 90] degrees"),
    ("0,1,nan,0\n", "line 1: azimuth nan outside [-180, 180] degrees"),
    ("0,1,0,10,inf\n", "line 1: elevation inf outside [-90, 90] degrees"),
    ("0,1,0,10,20,-1\n", "line 1: distance -1 is not a finite non-negative number"),
    ("0,1,0,1,0,nan,2.0\n", "line 1: non-finite direction 1, 0, nan"),
])
def test_malformed_prediction(tmp_path, text, problem):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(InputError) as info:
        read_prediction_csv(path)
    assert str(info.value).startswith(str(path)) and problem in str(info.value)
    assert "\n" not in str(info.value)


def test_malformed_reference_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="line 1: expected 5 or 6 columns for a reference, found 4"):
        read_reference_csv(write(tmp_path, "r.csv", "0,1,10,20\n"))
    with pytest.raises(InputError, match=r"r2.csv: line 2: azimuth 190 outside \[-180, 180\] degrees"):
        read_reference_csv(write(tmp_path, "r2.csv", "0,1,0,-180,-90,100\n1,1,0,190,0,100\n"))
    with pytest.raises(InputError, match=r"r3.csv: line 1: elevation -91 outside \[-90, 90\] degrees"):
        read_reference_csv(write(tmp_path, "r3.csv", "0,1,0,180,-91\n"))
    with pytest.raises(InputError, match="file not found"):
        read_reference_csv(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(InputError, match="bin.csv"):
        read_prediction_csv(tmp_path / "bin.csv")


def test_prediction_write_read_round_trip(tmp_path):
    events = [Event(3, 1, 0, 12.3456, -7.5), Event(0, 4, 2, -179.9, 45.0)]
    write_prediction_csv(tmp_path / "out" / "p.csv", events)
    text = (tmp_path / "out" / "p.csv").read_text()
    assert text.splitlines()[0] == "0,4,2,-179.900,45.000"
    back = read_prediction_csv(tmp_path / "out" / "p.csv")
    assert [(e.frame, e.cls, e.track) for e in back] == [(0, 4, 2), (3, 1, 0)]
    assert back[1].azimuth == pytest.approx(12.346, abs=1e-9) and back[1].distance is None
    with_d = prediction_csv_text([Event(1, 2, 0, 10.0, 0.0, 1.234)])
    assert with_d == "1,2,0,10.000,0.000,1.234\n"
    assert read_prediction_csv(write(tmp_path, "d.csv", with_d))[0].distance == pytest.approx(1.234)
    assert prediction_csv_text([]) == ""


def test_reference_round_trip_on_real_file(shared_data, tmp_path):
    path = shared_data / "starss22_metadata_dev" / "dev-train-tau" / "fold3_room4_mix001.csv"
    events = read_reference_csv(path)
    n_lines = sum(1 for line in path.read_text().splitlines() if line.strip())
    assert len(events) == n_lines > 100
    write_reference_csv(tmp_path / "copy.csv", events)
    assert sorted(read_reference_csv(tmp_path / "copy.csv"), key=lambda e: (e.frame, e.cls, e.track)) == \
        sorted(events, key=lambda e: (e.frame, e.cls, e.track))

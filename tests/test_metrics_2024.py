"""Known-answer tests of the DCASE2024 frame-level SELD metrics with distance (metrics/seld_2024.py) and an
independent brute-force re-implementation."""
from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from metrics.dcase_csv import Event, read_reference_csv
from metrics.seld_2024 import SELDMetrics2024, compute_scores, count_recording
from util.conventions import NUM_CLASSES


def ev(frame, cls, az, el=0.0, dist=2.0, track=0):
    return Event(frame, cls, track, float(az), float(el), dist)


#: The official DCASE2024 angle pads each norm by 1e-10, so a direction against itself is arccos(1 / (1 + 1e-10))
#: = 8.1028e-4 degrees, not 0 (measured with partha2409/DCASE2024_seld_baseline 0b078872).
SELF_ANGLE = math.degrees(math.acos(1 / (1 + 1e-10)))
assert abs(SELF_ANGLE - 8.1028e-4) < 1e-7


def full_reference(n_frames=21):
    return [ev(f, c, -170 + 25 * c, 0.0, 1.0 + 0.2 * c) for f in range(n_frames) for c in range(NUM_CLASSES)]


def scores(ref, pred, average="macro", **kw):
    m = SELDMetrics2024(average=average, **kw)
    m.update(ref, pred)
    return m.compute()


@pytest.mark.parametrize("average", ["macro", "micro"])
def test_identity(average):
    ref = full_reference()
    s = scores(ref, ref, average)
    assert s["F"] == pytest.approx(1) and s["ER"] == pytest.approx(0, abs=1e-12)
    assert s["DOAE"] == pytest.approx(SELF_ANGLE, rel=1e-4) and s["RDE"] == pytest.approx(0, abs=1e-12)
    assert s["LR"] == pytest.approx(1) and s["SELD"] == pytest.approx(s["DOAE"] / 180 / 3, rel=1e-9)


def test_rotation_and_distance_errors():
    ref = full_reference()
    pred = [Event(e.frame, e.cls, 0, e.azimuth + 10, 0.0, e.distance * 1.5) for e in ref]
    s = scores(ref, pred)
    assert s["DOAE"] == pytest.approx(10, abs=1e-6) and s["LE"] == s["DOAE"]
    assert s["RDE"] == pytest.approx(0.5) and s["F"] == pytest.approx(1)
    assert s["SELD"] == pytest.approx((0 + 10 / 180 + 0.5) / 3)
    # relative distance error above 1 -> spatial false positives although the direction is right
    far = [Event(e.frame, e.cls, 0, e.azimuth, 0.0, e.distance * 2.5) for e in ref]
    s = scores(ref, far)
    assert s["F"] == pytest.approx(0, abs=1e-12) and s["RDE"] == pytest.approx(1.5) and s["LR"] == pytest.approx(1)
    s = scores(ref, [Event(e.frame, e.cls, 0, e.azimuth + 30, 0.0, e.distance) for e in ref])
    assert s["F"] == pytest.approx(0, abs=1e-12) and s["DOAE"] == pytest.approx(30, abs=1e-6)


def test_no_predictions_and_absent_class():
    ref = full_reference()
    s = scores(ref, [])
    assert s["ER"] == pytest.approx(1)
    assert s["LR"] == pytest.approx(0, abs=1e-12) and s["F"] == pytest.approx(0, abs=1e-12)
    assert math.isnan(s["DOAE"]) and math.isnan(s["RDE"])
    assert s["SELD"] == pytest.approx(1)  # nanmean(1 - F) per class
    only0 = [ev(f, 0, 10) for f in range(5)]
    s = scores(only0, only0)
    assert s["classwise"]["SELD"][0] == pytest.approx(SELF_ANGLE / 180 / 3, rel=1e-4)
    assert s["classwise"]["SELD"][1] == pytest.approx(1)
    assert s["DOAE"] == pytest.approx(SELF_ANGLE, rel=1e-4)  # NaN classes ignored


def test_frame_counts_by_hand():
    ref = [ev(0, 3, 0), ev(0, 3, 90, track=1), ev(1, 3, 0), ev(2, 4, 0), ev(3, 5, 0), ev(4, 0, 0)]
    pred = [ev(0, 3, 85), ev(0, 3, 5), ev(0, 3, -120),  # 2 matches + 1 extra
            ev(1, 3, 50),                                # spatial FP
            ev(2, 6, 0),                                 # class 4 missed, class 6 inserted -> substitution
            ev(3, 5, 0, dist=5.0),                       # relative distance error 1.5 -> spatial FP
            ev(4, 0, 0)]                                 # last annotated frame: not scored
    c = count_recording(ref, pred)
    assert c.tp[3] == 2 and c.fp[3] == 1 and c.fp_spatial[3] == 1 and c.de_tp[3] == 3 and c.n_ref[3] == 3
    assert c.fn[4] == 1 and c.fp[6] == 1 and c.fp_spatial[5] == 1 and c.n_ref[0] == 0
    assert c.total_angle[3] == pytest.approx(5 + 5 + 50)
    assert c.total_rel_dist[5] == pytest.approx(1.5)
    # frame 0: loc_FP 1; frame 1: loc_FP 1; frame 2: FP 1 + FN 1; frame 3: loc_FP 1
    assert (c.S, c.D, c.I) == (1, 0, 3)


def test_needs_distances():
    with pytest.raises(ValueError, match="distance"):
        count_recording([Event(0, 0, 0, 0.0, 0.0)], [])
    c = count_recording([Event(0, 0, 0, 0.0, 0.0), Event(1, 0, 0, 0.0, 0.0)], [Event(0, 0, 0, 0.0, 0.0)],
                        eval_distance=False)
    s = compute_scores(c, eval_distance=False)
    assert s["classwise"]["F"][0] == pytest.approx(1) and math.isnan(s["RDE"])


def test_real_reference_with_distances(shared_data):
    rng = random.Random(3)
    path = shared_data / "starss22_metadata_dev" / "dev-test-sony" / "fold4_room23_mix001.csv"
    ref = [Event(e.frame, e.cls, e.track, e.azimuth, e.elevation, rng.uniform(0.5, 4.0))
           for e in read_reference_csv(path)]
    assert scores(ref, ref, "micro")["SELD"] == pytest.approx(SELF_ANGLE / 180 / 3, rel=1e-4)
    pred = [Event(e.frame, e.cls, e.track, e.azimuth, e.elevation, e.distance * 1.2) for e in ref]
    assert scores(ref, pred, "micro")["RDE"] == pytest.approx(0.2)


def brute_force(ref, pred, n_classes=NUM_CLASSES, thr=20.0, rel_thr=1.0):
    n = max(e.frame for e in ref)
    R, P = {}, {}
    for table, events in ((R, ref), (P, pred)):
        for e in events:
            if e.frame < n:
                table.setdefault((e.frame, e.cls), []).append(e)

    def unit(e):
        az, el = math.radians(e.azimuth), math.radians(e.elevation)
        return np.array([math.cos(az) * math.cos(el), math.sin(az) * math.cos(el), math.sin(el)])

    def angle(a, b):
        va, vb = unit(a), unit(b)
        return math.degrees(math.atan2(np.linalg.norm(np.cross(va, vb)), float(va @ vb)))

    tp = fps = fp = fn = 0
    ang = rel = 0.0
    S = D = I = 0
    for f in range(n):
        lfp = lfn = 0
        for c in range(n_classes):
            r, p = R.get((f, c), []), P.get((f, c), [])
            if r and p:
                k = min(len(r), len(p))
                best = min((sum(angle(r[i], p[j]) for i, j in zip(ri, pj)), ri, pj)
                           for ri in itertools.permutations(range(len(r)), k)
                           for pj in itertools.combinations(range(len(p)), k))
                _, ri, pj = best
                bad = 0
                for i, j in zip(ri, pj):
                    a = angle(r[i], p[j])
                    rd = abs(r[i].distance - p[j].distance) / r[i].distance
                    ang += a
                    rel += rd
                    bad += a > thr or rd > rel_thr
                tp += k - bad
                fps += bad
                fp += max(0, len(p) - len(r))
                fn += max(0, len(r) - len(p))
                lfp += bad + max(0, len(p) - len(r))
                lfn += max(0, len(r) - len(p))
            else:
                fn += len(r)
                fp += len(p)
                lfn += len(r)
                lfp += len(p)
        S += min(lfp, lfn)
        D += max(0, lfn - lfp)
        I += max(0, lfp - lfn)
    return tp, fps, fp, fn, ang, rel, (S, D, I)


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_brute_force(seed):
    rng = random.Random(100 + seed)
    ref, pred = [], []
    for f in range(150):
        for c in range(4):
            for k in range(rng.choice([0, 0, 0, 1, 1, 2, 3])):
                ref.append(Event(f, c, k, rng.uniform(-180, 180), rng.uniform(-60, 60), rng.uniform(0.5, 5)))
    for e in ref:
        if rng.random() < 0.8:
            pred.append(Event(e.frame, e.cls, 0, e.azimuth + rng.gauss(0, 15), e.elevation,
                              e.distance * rng.uniform(0.3, 2.5)))
    for _ in range(60):
        pred.append(Event(rng.randrange(160), rng.randrange(4), 0, rng.uniform(-180, 180), 0.0, rng.uniform(0.5, 5)))
    pred.sort(key=lambda e: e.frame)
    c = count_recording(ref, pred)
    tp, fps, fp, fn, ang, rel, sdi = brute_force(ref, pred)
    assert (c.tp.sum(), c.fp_spatial.sum(), c.fp.sum(), c.fn.sum()) == (tp, fps, fp, fn)
    assert c.total_angle.sum() == pytest.approx(ang) and c.total_rel_dist.sum() == pytest.approx(rel)
    assert (c.S, c.D, c.I) == sdi
    assert min(tp, fps, fp, fn) > 0

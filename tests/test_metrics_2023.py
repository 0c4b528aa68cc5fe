"""Known-answer tests of the DCASE2023 segment-based SELD metrics (metrics/seld_2023.py), including the official
scorer's quirks, and an independent brute-force re-implementation that must agree on random inputs."""
from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from metrics.dcase_csv import Event, read_reference_csv
from metrics.seld_2023 import SELDMetrics2023, compute_scores, count_recording, n_segments
from util.conventions import NUM_CLASSES


def ev(frame, cls, az, el=0.0, track=0, dist=None):
    return Event(frame, cls, track, float(az), float(el), dist)


def all_class_reference(n_blocks=3):
    """Every class active in every frame of ``n_blocks`` seconds, one instance each, at distinct azimuths
    (the official block count leaves out the last annotated frame, here the first of a block)."""
    return [ev(f, c, -170 + 25 * c, 10) for f in range(10 * n_blocks + 1) for c in range(NUM_CLASSES)]


def rotate(events, d_az):
    return [Event(e.frame, e.cls, e.track, e.azimuth + d_az, e.elevation, e.distance) for e in events]


def scores(ref, pred, average="macro"):
    m = SELDMetrics2023(average=average)
    m.update(ref, pred)
    return m.compute()


@pytest.mark.parametrize("average", ["macro", "micro"])
def test_identity(average):
    ref = all_class_reference()
    s = scores(ref, ref, average)
    assert s["ER"] == pytest.approx(0, abs=1e-12)
    assert s["F"] == pytest.approx(1)
    assert s["LE"] == pytest.approx(0, abs=1e-5)
    assert s["LR"] == pytest.approx(1)
    assert s["SELD"] == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("average", ["macro", "micro"])
def test_rotated_10_degrees(average):
    ref = [ev(f, c, -170 + 25 * c, 0.0) for f in range(41) for c in range(NUM_CLASSES)]
    s = scores(ref, rotate(ref, 10.0), average)
    assert s["LE"] == pytest.approx(10.0, abs=1e-6)
    assert s["F"] == pytest.approx(1)
    assert s["ER"] == pytest.approx(0, abs=1e-12)
    assert s["LR"] == pytest.approx(1)


@pytest.mark.parametrize("average", ["macro", "micro"])
def test_rotated_30_degrees(average):
    ref = [ev(f, c, -170 + 25 * c, 0.0) for f in range(41) for c in range(NUM_CLASSES)]
    s = scores(ref, rotate(ref, 30.0), average)
    assert s["F"] == pytest.approx(0, abs=1e-12)
    assert s["LE"] == pytest.approx(30.0, abs=1e-6)
    assert s["LR"] == pytest.approx(1)
    # every matched instance is a spatial false positive: one substitution per reference instance
    assert s["ER"] == pytest.approx(1)


def test_no_predictions():
    ref = all_class_reference()
    s = scores(ref, [])
    assert s["ER"] == pytest.approx(1)
    assert s["LR"] == pytest.approx(0, abs=1e-12)
    assert s["F"] == pytest.approx(0, abs=1e-12)
    assert s["LE"] == pytest.approx(180)
    assert s["SELD"] == pytest.approx(1)


def test_absent_class_counts_in_macro_average():
    """As officially: a class in neither reference nor prediction has F 0, LE 180, LR 0 in the macro mean."""
    ref = [ev(f, 0, 30) for f in range(12)]
    macro, micro = scores(ref, ref, "macro"), scores(ref, ref, "micro")
    assert micro["F"] == pytest.approx(1) and micro["SELD"] == pytest.approx(0, abs=1e-6)
    assert macro["F"] == pytest.approx(1 / NUM_CLASSES)
    assert macro["classwise"]["LE"][1] == 180 and macro["classwise"]["SELD"][1] == pytest.approx(0.75)


def test_segment_count_and_last_frame_quirk():
    assert n_segments(30) == 3 and n_segments(31) == 4 and n_segments(0) == 0
    # last annotated frame 20: 2 blocks (frames 0-19); the event at frame 20 itself is not scored
    ref = [ev(5, 0, 0), ev(20, 1, 0)]
    c = count_recording(ref, [])
    assert c.n_ref.tolist()[:2] == [1, 0]
    # predictions past the reference's last block are ignored
    c = count_recording(ref, [ev(5, 0, 0), ev(25, 3, 0)])
    assert c.tp[0] == 1 and c.fp.sum() == 0 and c.I == 0


def test_same_class_two_instances():
    ref = [ev(f, 2, -60, track=0) for f in range(10)] + [ev(f, 2, 60, track=1) for f in range(10)] + [ev(10, 0, 0)]
    pred = [ev(f, 2, 55) for f in range(10)] + [ev(f, 2, -65) for f in range(10)]  # order swapped: Hungarian
    c = count_recording(sorted(ref, key=lambda e: e.frame), sorted(pred, key=lambda e: e.frame))
    assert c.n_ref[2] == 2 and c.tp[2] == 2 and c.de_tp[2] == 2 and c.fp[2] == 0 and c.fn[2] == 0
    assert c.total_angle[2] == pytest.approx(10.0)
    assert (c.S, c.D, c.I) == (0, 0, 0)


def test_insertion_deletion_substitution():
    ref = [ev(f, 0, 0) for f in range(3)] + [ev(f, 1, 90) for f in range(10, 13)] + [ev(20, 4, 0)]
    pred = [ev(f, 0, 0) for f in range(3)] + [ev(f, 5, 0) for f in range(4, 6)]  # block 0 insertion; block 1 miss
    pred += [ev(f, 3, 90) for f in range(10, 12)]  # block 1: class 3 instead of class 1 -> substitution
    c = count_recording(ref, pred)
    assert c.tp[0] == 1
    assert c.fp[5] == 1 and c.fp[3] == 1 and c.fn[1] == 1
    assert (c.S, c.D, c.I) == (1, 0, 1)
    s = compute_scores(c)
    assert s["ER"] == pytest.approx(2 / 2)
    ref_d = ref + [ev(f, 6, 0) for f in range(12, 14)]  # class 6 only in the reference: a deletion
    c = count_recording(ref_d, pred)
    assert (c.S, c.D, c.I) == (1, 1, 1) and c.fn[6] == 1


def test_more_predicted_than_reference_instances():
    ref = [ev(f, 7, 0) for f in range(10)] + [ev(10, 0, 0)]
    pred = [ev(f, 7, 5) for f in range(10)] + [ev(f, 7, 100) for f in range(10)]
    c = count_recording(ref, sorted(pred, key=lambda e: e.frame))
    assert c.tp[7] == 1 and c.fp[7] == 1 and c.de_fp[7] == 1 and c.I == 1 and c.S == 0
    assert c.total_angle[7] == pytest.approx(5)


def test_fewer_predicted_than_reference_instances():
    ref = sorted([ev(f, 7, 0, track=0) for f in range(10)] + [ev(f, 7, 100, track=1) for f in range(10)],
                 key=lambda e: e.frame) + [ev(10, 0, 0)]
    pred = [ev(f, 7, 98) for f in range(10)]
    c = count_recording(ref, pred)
    assert c.tp[7] == 1 and c.fn[7] == 1 and c.de_fn[7] == 1 and c.D == 1 and c.n_ref[7] == 2


def test_no_common_frame_quirk():
    """Class present in both, but in no common frame: the official code adds nb_PRED (here 2) misses."""
    ref = [ev(f, 0, 0) for f in range(0, 3)] + [ev(10, 1, 0)]
    pred = sorted([ev(f, 0, 0) for f in range(5, 8)] + [ev(f, 0, 120) for f in range(5, 8)], key=lambda e: e.frame)
    c = count_recording(ref, pred)
    assert c.n_ref[0] == 1
    assert c.fn[0] == 2 and c.de_fn[0] == 2 and c.tp[0] == 0 and c.fp[0] == 0 and c.de_tp[0] == 0
    assert (c.S, c.D, c.I) == (0, 2, 0)


def test_matched_angles_filed_by_position_in_frame():
    """Angles are filed under the reference instance's position in its frame, not its source id."""
    ref = [ev(0, 0, 0, track=0), ev(0, 0, 90, track=1), ev(1, 0, 90, track=1), ev(2, 0, 90, track=1), ev(10, 1, 0)]
    pred = [ev(0, 0, 0), ev(0, 0, 115), ev(1, 0, 115), ev(2, 0, 115)]
    c = count_recording(ref, pred)
    # position 0: [0, 25, 25] -> mean 16.67 (TP); position 1: [25] (spatial FP)
    assert c.total_angle[0] == pytest.approx(50 / 3 + 25)
    assert c.tp[0] == 1 and c.fp_spatial[0] == 1 and c.de_tp[0] == 2


def test_real_reference_against_itself(shared_data):
    files = sorted((shared_data / "starss22_metadata_dev").rglob("*.csv"))
    assert len(files) == 121
    m = SELDMetrics2023()
    for path in files:
        events = read_reference_csv(path)
        m.update(events, events)
    s = m.compute()
    assert s["ER"] == pytest.approx(0, abs=1e-12) and s["F"] == pytest.approx(1) and s["LR"] == pytest.approx(1)
    assert s["LE"] == pytest.approx(0, abs=1e-5) and s["SELD"] == pytest.approx(0, abs=1e-6)
    assert m.counts.n_ref.sum() > 10000


def test_real_reference_time_shift(shared_data):
    files = sorted((shared_data / "starss22_metadata_dev" / "dev-test-sony").glob("*.csv"))[:6]
    refs = [read_reference_csv(p) for p in files]
    results = {}
    for shift in (0, 1, 5, 30):
        m = SELDMetrics2023(average="micro")
        for events in refs:
            m.update(events, [Event(e.frame + shift, e.cls, e.track, e.azimuth, e.elevation) for e in events])
        results[shift] = m.compute()
    assert results[0]["SELD"] == pytest.approx(0, abs=1e-6)
    assert results[0]["SELD"] < results[1]["SELD"] < results[5]["SELD"] < results[30]["SELD"]
    assert 0 < results[1]["ER"] < 0.3 and results[1]["F"] > 0.8


# ------------------------------------------------------------------------------ independent brute-force scorer

def brute_force_counts(ref, pred, n_classes=NUM_CLASSES, thr=20.0):
    """Straight re-reading of the official algorithm with exhaustive permutation matching and polar angles."""
    last = max(e.frame for e in ref)
    n_blocks = math.ceil(last / 10)

    def table(events):
        t = {}
        for e in events:
            b = e.frame // 10
            if b < n_blocks:
                t.setdefault((b, e.cls), {}).setdefault(e.frame % 10, []).append((e.azimuth, e.elevation))
        return t

    def angle(a, b):
        (az1, el1), (az2, el2) = [(math.radians(x), math.radians(y)) for x, y in (a, b)]
        cos = math.sin(el1) * math.sin(el2) + math.cos(el1) * math.cos(el2) * math.cos(az1 - az2)
        return math.degrees(math.acos(min(1.0, max(-1.0, cos))))

    def best_pairs(r, p):
        best, best_cost = None, None
        if len(r) <= len(p):
            for perm in itertools.permutations(range(len(p)), len(r)):
                cost = sum(angle(r[i], p[j]) for i, j in enumerate(perm))
                if best_cost is None or cost < best_cost - 1e-12:
                    best, best_cost = list(enumerate(perm)), cost
        else:
            for perm in itertools.permutations(range(len(r)), len(p)):
                cost = sum(angle(r[i], p[j]) for j, i in enumerate(perm))
                if best_cost is None or cost < best_cost - 1e-12:
                    best, best_cost = [(i, j) for j, i in enumerate(perm)], cost
        return [(i, j, angle(r[i], p[j])) for i, j in best]

    R, P = table(ref), table(pred)
    keys = ("tp", "fp", "fps", "fn", "nref", "ang", "detp", "defn")
    out = {k: [0.0] * n_classes for k in keys}
    S = D = I = 0
    for b in range(n_blocks):
        lfp = lfn = 0
        for c in range(n_classes):
            r, p = R.get((b, c), {}), P.get((b, c), {})
            ng = max((len(v) for v in r.values()), default=0)
            npd = max((len(v) for v in p.values()), default=0)
            out["nref"][c] += ng
            if r and p:
                per_pos = {}
                for f in r:
                    if f in p:
                        for i, _, a in best_pairs(r[f], p[f]):
                            per_pos.setdefault(i, []).append(a)
                if not per_pos:
                    out["fn"][c] += npd
                    out["defn"][c] += npd
                    lfn += npd
                    continue
                for vals in per_pos.values():
                    m = sum(vals) / len(vals)
                    out["ang"][c] += m
                    out["detp"][c] += 1
                    if m <= thr:
                        out["tp"][c] += 1
                    else:
                        out["fps"][c] += 1
                        lfp += 1
                out["fp"][c] += max(0, npd - ng)
                lfp += max(0, npd - ng)
                out["fn"][c] += max(0, ng - npd)
                out["defn"][c] += max(0, ng - npd)
                lfn += max(0, ng - npd)
            elif r:
                out["fn"][c] += ng
                out["defn"][c] += ng
                lfn += ng
            elif p:
                out["fp"][c] += npd
                lfp += npd
        S += min(lfp, lfn)
        D += max(0, lfn - lfp)
        I += max(0, lfp - lfn)
    return out, (S, D, I)


def random_scene(rng, n_frames, n_classes=5, p_event=0.08, max_inst=3):
    """Reference-like events: random same-class polyphony with smoothly moving directions (float angles)."""
    events = []
    for c in range(n_classes):
        for k in range(max_inst):
            f = 0
            while f < n_frames:
                if rng.random() < p_event:
                    length = rng.randint(1, 25)
                    az, el, v = rng.uniform(-180, 180), rng.uniform(-40, 40), rng.uniform(-3, 3)
                    for g in range(f, min(n_frames, f + length)):
                        events.append(Event(g, c, k, ((az + v * (g - f) + 180) % 360) - 180, el))
                    f += length
                f += 1
    return sorted(events, key=lambda e: e.frame)


def perturb(rng, events, n_frames):
    out = []
    dropped = {(b, c) for b in range(n_frames // 10 + 2) for c in range(5) if rng.random() < 0.15}
    for e in events:
        if rng.random() < 0.15 or (e.frame // 10, e.cls) in dropped:
            continue  # missed
        shift = rng.choice([0, 0, 0, 1, -1])
        out.append(Event(max(0, e.frame + shift), e.cls, 0, e.azimuth + rng.gauss(0, 15),
                         e.elevation + rng.gauss(0, 8)))
    for _ in range(n_frames // 8):  # insertions
        out.append(Event(rng.randrange(n_frames + 15), rng.randrange(5), 0, rng.uniform(-180, 180),
                         rng.uniform(-30, 30)))
    return sorted(out, key=lambda e: e.frame)


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_brute_force(seed):
    rng = random.Random(seed)
    n_frames = 300
    ref = random_scene(rng, n_frames) + [Event(n_frames + rng.randrange(10), 0, 0, 0.0, 0.0)]
    ref.sort(key=lambda e: e.frame)
    pred = perturb(rng, ref, n_frames)
    c = count_recording(ref, pred)
    bf, (S, D, I) = brute_force_counts(ref, pred)
    np.testing.assert_allclose(c.tp, bf["tp"])
    np.testing.assert_allclose(c.fp, bf["fp"])
    np.testing.assert_allclose(c.fp_spatial, bf["fps"])
    np.testing.assert_allclose(c.fn, bf["fn"])
    np.testing.assert_allclose(c.n_ref, bf["nref"])
    np.testing.assert_allclose(c.de_tp, bf["detp"])
    np.testing.assert_allclose(c.de_fn, bf["defn"])
    np.testing.assert_allclose(c.total_angle, bf["ang"], atol=1e-6)
    assert (c.S, c.D, c.I) == (S, D, I)
    assert min(c.tp.sum(), c.fp.sum(), c.fn.sum(), c.fp_spatial.sum(), S, I) > 0  # the branches are exercised


def test_agrees_with_brute_force_on_real_reference(shared_data):
    rng = random.Random(11)
    path = shared_data / "starss22_metadata_dev" / "dev-test-tau" / "fold4_room2_mix001.csv"
    ref = [Event(e.frame, e.cls, e.track, e.azimuth + rng.uniform(-0.01, 0.01), e.elevation)
           for e in read_reference_csv(path) if e.frame < 600]
    pred = perturb(rng, ref, 600)
    c = count_recording(ref, pred)
    bf, sdi = brute_force_counts(ref, pred)
    np.testing.assert_allclose(c.tp, bf["tp"])
    np.testing.assert_allclose(c.fn, bf["fn"])
    np.testing.assert_allclose(c.fp_spatial, bf["fps"])
    np.testing.assert_allclose(c.total_angle, bf["ang"], atol=1e-6)
    assert (c.S, c.D, c.I) == sdi

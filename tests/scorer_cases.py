"""Deterministic inputs for the parity tests against the official DCASE scorers (tests/test_metrics_official.py).

Every case is a set of recordings, each a reference and a prediction given as CSV rows (lists of strings, as
written to disk), so that the project's readers and the official loaders see the same bytes. Real references
come from ``../shared/data/starss22_metadata_dev``; predictions are perturbed copies (seeded ``random.Random``),
random rows with duplicates, or hand-built tie cases. The golden numbers in the test module were measured by
running the official scorers on files written by :func:`write_case`.
"""
from __future__ import annotations

import math
import random
from pathlib import Path

#: One CSV row as strings.
Row = list[str]
#: name -> (reference rows, prediction rows).
Case = dict[str, tuple[list[Row], list[Row]]]

N_CLASSES = 13


def read_rows(path: Path) -> list[Row]:
    """The rows of a CSV file as lists of strings (no header, no empty lines)."""
    return [line.strip().split(",") for line in path.read_text().splitlines() if line.strip()]


def with_distance_cm(rows: list[Row], seed: int) -> list[Row]:
    """5-column reference rows with a seeded 6th column (distance in cm, one value per source and 100 frames)."""
    rng = random.Random(seed)
    table: dict[tuple[str, str, int], int] = {}
    out = []
    for r in rows:
        key = (r[1], r[2], int(r[0]) // 100)
        if key not in table:
            table[key] = rng.randrange(40, 600)
        out.append(r[:5] + [str(table[key])])
    return out


def _wrap(az: float) -> float:
    while az > 180:
        az -= 360
    while az < -180:
        az += 360
    return az


def perturb(ref: list[Row], seed: int, with_distance: bool = False) -> list[Row]:
    """A plausible prediction of a reference: rows dropped, shifted by a frame, relabelled, moved by integer
    degrees (so duplicated reference rows give exact ties), some rows duplicated, random insertions; polar
    ``frame,class,track,az,el[,dist_m]`` rows sorted by frame (stable)."""
    rng = random.Random(seed)
    out: list[tuple[int, Row]] = []
    last = max(int(r[0]) for r in ref)
    for r in ref:
        if rng.random() < 0.15:
            continue
        frame = int(r[0]) + (rng.choice((-1, 1)) if rng.random() < 0.1 else 0)
        if frame < 0:
            continue
        cls = rng.randrange(N_CLASSES) if rng.random() < 0.05 else int(r[1])
        az = _wrap(float(r[3]) + round(rng.gauss(0, 12)))
        el = max(-90.0, min(90.0, float(r[4]) + round(rng.gauss(0, 8))))
        row = [str(frame), str(cls), "0", f"{az:g}", f"{el:g}"]
        if with_distance:
            d = max(0.1, float(r[5]) / 100 * (1 + rng.gauss(0, 0.3)))
            row.append(f"{d:.2f}")
        out.append((frame, row))
        if rng.random() < 0.05:
            out.append((frame, list(row)))
    for frame in range(last + 5):
        if rng.random() < 0.03:
            row = [str(frame), str(rng.randrange(N_CLASSES)), "0", str(rng.randrange(-180, 181)),
                   str(rng.randrange(-90, 91))]
            if with_distance:
                row.append(f"{rng.uniform(0.3, 6):.2f}")
            out.append((frame, row))
    out.sort(key=lambda t: t[0])
    return [row for _, row in out]


def random_prediction(n_frames: int, seed: int, with_distance: bool = False) -> list[Row]:
    """Random polar rows over ``n_frames`` frames, several instances per class and frame, 20% of rows repeated."""
    rng = random.Random(seed)
    out: list[Row] = []
    for frame in range(n_frames):
        for _ in range(rng.choice((0, 0, 1, 2, 3))):
            row = [str(frame), str(rng.randrange(4)), str(rng.randrange(3)), str(rng.randrange(-180, 181, 15)),
                   str(rng.randrange(-60, 61, 15))]
            if with_distance:
                row.append(f"{rng.uniform(0.3, 6):.1f}")
            out.append(row)
            if rng.random() < 0.2:
                out.append(list(row))
    return out


def to_cartesian(rows: list[Row]) -> list[Row]:
    """Polar prediction rows as 7-column ``frame,class,track,x,y,z,dist_m`` rows (``repr`` floats, exact)."""
    out = []
    for r in rows:
        az, el = math.radians(float(r[3])), math.radians(float(r[4]))
        xyz = (math.cos(az) * math.cos(el), math.sin(az) * math.cos(el), math.sin(el))
        out.append(r[:3] + [repr(v) for v in xyz] + [r[5] if len(r) > 5 else "1.0"])
    return out


def to_polar6(rows: list[Row]) -> list[Row]:
    """Polar rows with a distance column (``1.0`` m where missing): the layout every official loader reads."""
    return [r if len(r) == 6 else r[:5] + ["1.0"] for r in rows]


def write_case(folder: Path, case: Case, pred_format: str = "polar") -> tuple[Path, Path]:
    """Write a case as ``folder/ref/split/<name>.csv`` and ``folder/pred/<name>.csv``; ``pred_format`` is
    ``polar`` (rows as built), ``polar6`` (:func:`to_polar6`) or ``cart7`` (:func:`to_cartesian`)."""
    ref_dir, pred_dir = folder / "ref", folder / "pred"
    (ref_dir / "split").mkdir(parents=True, exist_ok=True)
    pred_dir.mkdir(parents=True, exist_ok=True)
    convert = {"polar": lambda r: r, "polar6": to_polar6, "cart7": to_cartesian}[pred_format]
    for name, (ref, pred) in case.items():
        (ref_dir / "split" / f"{name}.csv").write_text("".join(",".join(r) + "\n" for r in ref))
        (pred_dir / f"{name}.csv").write_text("".join(",".join(r) + "\n" for r in convert(pred)))
    return ref_dir, pred_dir


# ------------------------------------------------------------------------------------------------ the cases

#: Real references of the multi-file case (the two fold4_room2 files hold 21 and 18 duplicated rows).
REAL_FILES: tuple[str, ...] = (
    "dev-train-sony/fold3_room21_mix023.csv",
    "dev-test-tau/fold4_room2_mix001.csv",
    "dev-test-tau/fold4_room2_mix002.csv",
    "dev-test-sony/fold4_room23_mix001.csv",
    "dev-train-tau/fold3_room4_mix001.csv",
    "dev-train-sony/fold3_room21_mix001.csv",
)


def mix023_case(metadata: Path, with_distance: bool = False) -> Case:
    """The real fold3_room21_mix023 reference (1,024 duplicated rows) against its perturbed copy (seed 23)."""
    ref = read_rows(metadata / REAL_FILES[0])
    if with_distance:
        ref = with_distance_cm(ref, 23)
    return {"fold3_room21_mix023": (ref, perturb(ref, 23, with_distance))}


def real_multi_case(metadata: Path, with_distance: bool = False) -> Case:
    """Six real references, each against a perturbed copy (seed = position), scored together."""
    case: Case = {}
    for i, rel in enumerate(REAL_FILES):
        ref = read_rows(metadata / rel)
        if with_distance:
            ref = with_distance_cm(ref, i)
        case[Path(rel).stem] = (ref, perturb(ref, 100 + i, with_distance))
    return case


def random_case(metadata: Path, with_distance: bool = False) -> Case:
    """A real reference (fold4_room2_mix001) against random rows with duplicates and several instances per class."""
    ref = read_rows(metadata / REAL_FILES[1])
    if with_distance:
        ref = with_distance_cm(ref, 7)
    n_frames = max(int(r[0]) for r in ref) + 3
    return {"fold4_room2_mix001": (ref, random_prediction(n_frames, 7, with_distance))}


def _rows(*items: tuple) -> list[Row]:
    return [[str(v) for v in item] for item in items]


def tie_case() -> Case:
    """Hand-built recordings whose Hungarian assignments have exact ties (equal costs by symmetry or by
    duplicated rows); which reference row a tie goes to changes the per-track means and so the counts."""
    end = (30, 12, 0, 0, 0, 100)  # a last reference frame so that blocks 0..2 are scored
    case: Case = {}
    # a: two reference sources at +-40 deg, one prediction at 0 (tie) in frame 0, then the +40 source alone
    # predicted at 0 in frames 1-2: the tie decides whether +40 keeps all three 40-deg errors (one FP_spatial)
    case["tie_a"] = (
        _rows((0, 1, 0, 40, 0, 200), (0, 1, 1, -40, 0, 200), (1, 1, 0, 40, 0, 200), (1, 1, 1, -40, 0, 200),
              (2, 1, 0, 40, 0, 200), (2, 1, 1, -40, 0, 200), end),
        _rows((0, 1, 0, 0, 0, 2.0), (1, 1, 0, 35, 0, 2.0), (1, 1, 0, -5, 0, 2.5), (2, 1, 0, 0, 0, 2.0)))
    # b: a duplicated reference row (same source twice) against one and then two predictions
    case["tie_b"] = (
        _rows((0, 3, 0, 90, 10, 150), (0, 3, 0, 90, 10, 150), (1, 3, 0, 90, 10, 150), (1, 3, 0, 90, 10, 150),
              (2, 3, 0, 92, 10, 150), (11, 3, 0, -90, 0, 300), (12, 3, 0, -90, 0, 300), (12, 3, 1, 90, 0, 300), end),
        _rows((0, 3, 0, 100, 10, 1.4), (1, 3, 0, 60, 10, 1.6), (1, 3, 1, 120, 10, 1.4), (2, 3, 0, 92, 10, 1.5),
              (11, 3, 0, 0, 0, 3.0), (12, 3, 0, 0, 0, 2.0), (12, 3, 0, 0, 0, 2.0)))
    # c: duplicated predictions, the poles (azimuth irrelevant) and the +-180 seam
    case["tie_c"] = (
        _rows((0, 5, 0, 180, 0, 100), (0, 5, 1, -180, 0, 100), (1, 5, 0, 179, 0, 100), (3, 7, 0, 0, 90, 250),
              (3, 7, 1, 90, 90, 250), (4, 7, 0, 45, -90, 250), (4, 7, 1, -45, 0, 250), (5, 7, 0, 0, 0, 250),
              (20, 9, 0, 10, 10, 500), (20, 9, 1, 10, 10, 500), (20, 9, 2, 10, 10, 500), end),
        _rows((0, 5, 0, -180, 0, 1.0), (0, 5, 0, -180, 0, 1.0), (1, 5, 0, -179, 0, 1.0), (3, 7, 0, 135, 90, 2.5),
              (4, 7, 0, 0, 0, 2.5), (4, 7, 0, 0, 0, 2.5), (4, 7, 0, 0, -90, 2.0), (5, 7, 0, 0, 0, 2.5),
              (20, 9, 0, 10, 30, 5.0), (20, 9, 0, 10, -10, 5.0)))
    # d: three reference instances of one class at 120 deg spacing, prediction at the pole in every frame of a
    # block (every cost equal): the assignment alone decides which tracks get matched
    case["tie_d"] = (
        _rows(*[(f, 2, i, az, 0, 100) for f in range(10) for i, az in enumerate((0, 120, -120))], end),
        _rows(*[(f, 2, 0, 0, 90, 1.0) for f in range(10)], *[(f, 2, 0, 60, 0, 1.0) for f in range(5, 10)]))
    return case

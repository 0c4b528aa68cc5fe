"""Dataset plan: which clips to make, their split folders, STARSS23-style names, rooms, lengths and scripts.

Planned in the parent process from the seed alone, so the clip list never depends on worker scheduling.
Each clip then gets its own generator ``clip_rng(seed, plan)``; each room its own parameters.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from metrics.dcase_csv import read_reference_csv
from synth.config import SynthesisConfig
from synth.scenes import choose_window, class_event_counts, class_frame_counts, script_rows
from util.conventions import LABEL_FPS, NUM_CLASSES, TEST_FOLD, TRAIN_FOLD, VAL_FOLD
from util.layout import SPLIT_PREFIX

#: Room sets (split-folder suffix -> rooms) used for random scenes, as in STARSS22/23 development data; the
#: validation clips are made in the test rooms (unseen in training, like the test clips).
RANDOM_ROOMS: dict[str, dict[str, tuple[str, ...]]] = {
    "train": {"sony": ("room21", "room22"), "tau": ("room4", "room6", "room7", "room9")},
    "test": {"sony": ("room23", "room24"), "tau": ("room2", "room8", "room10")},
}
RANDOM_ROOMS["val"] = RANDOM_ROOMS["test"]
FOLDS = {"train": TRAIN_FOLD, "val": VAL_FOLD, "test": TEST_FOLD}
#: The annotation split each split's clips are scripted from: validation clips take the test split's files that
#: the test clips leave unused (so no validation clip shares a script with a test clip while files last).
SCRIPT_SPLIT = {"train": "train", "val": "test", "test": "test"}
_NAME = re.compile(r"^(fold\d+)_(room\d+)_mix\d+$")

# Streams of the seed: each kind of randomness draws from its own generator.
_PLAN_STREAM, _CLIP_STREAM, _ROOM_STREAM = 0, 1, 2
#: Sub-streams of the plan stream, one per split.
SPLIT_STREAMS = {"train": 0, "test": 1, "val": 2}


@dataclass(frozen=True)
class ClipPlan:
    """One clip to synthesise."""

    index: int
    split: str  # "train" | "val" | "test"
    split_dir: str  # e.g. dev-train-sony
    name: str  # e.g. fold3_room21_mix001
    room: str  # e.g. room21
    num_frames: int  # label frames (100 ms)
    script: str | None  # annotation file, or None for a random scene
    rotation_deg: float  # azimuth rotation of a reused annotation script
    window_start: int = 0  # first frame of the script's window (0 when the script is tiled)
    class_map: tuple[int, ...] | None = None  # script class -> clip class (class balance), None = unchanged
    split_index: int = 0  # position among the clips of its split (keys the clip's random stream)

    def to_dict(self) -> dict:
        return asdict(self)


def clip_rng(seed: int, plan: ClipPlan) -> np.random.Generator:
    """The generator of one clip (independent of every other clip, of the worker that runs it and of the size
    of the other split)."""
    return np.random.default_rng([seed, _CLIP_STREAM, SPLIT_STREAMS[plan.split], plan.split_index])


def room_rng(seed: int, room: str) -> np.random.Generator:
    """The generator of a room's acoustics and look (the same room looks and sounds the same in every clip)."""
    return np.random.default_rng([seed, _ROOM_STREAM, int(room.removeprefix("room"))])


def annotation_files(folder: str | Path, split: str) -> list[Path]:
    """Annotation files ``<folder>/dev-<split>-*/<fold>_room*_mix*.csv`` of a split, sorted."""
    prefix = SPLIT_PREFIX[split]
    return sorted(p for p in Path(folder).glob(f"{prefix}-*/*.csv") if _NAME.match(p.stem))


def plan_clips(config: SynthesisConfig) -> list[ClipPlan]:
    """The clips of a dataset: ``num_train`` train, ``num_test`` test, then ``num_val`` validation clips,
    scripted from the annotation files of their :data:`SCRIPT_SPLIT` (in a seeded random order, validation
    clips after the test clips' files; reused files get a random azimuth rotation; a random window of each;
    classes permuted per clip for balance, see :func:`balance_classes`) or random."""
    plans: list[ClipPlan] = []
    counters: dict[tuple[str, str], int] = defaultdict(int)
    class_counts: dict[int, np.ndarray] = {}  # (active frames, events) per class of each scripted clip
    split_rngs: dict[str, np.random.Generator] = {}
    for split, count in (("train", config.num_train), ("test", config.num_test), ("val", config.num_val)):
        # Each split draws from its own stream: the test clips do not change with the number of train or
        # validation clips.
        rng = split_rngs[split] = np.random.default_rng([config.seed, _PLAN_STREAM, SPLIT_STREAMS[split]])
        source = SCRIPT_SPLIT[split]
        files = annotation_files(config.annotations, source) if config.annotations else []
        # The order in which the clips take the files: the first draw of the source split's stream (validation
        # clips: the test clips' order, from the files after the test clips').
        order_rng = rng if split == source else np.random.default_rng([config.seed, _PLAN_STREAM,
                                                                       SPLIT_STREAMS[source]])
        order = order_rng.permutation(len(files)) if files else np.zeros(0, dtype=np.int64)
        first = config.num_test if split == "val" else 0
        for k in range(count):
            seconds = rng.uniform(config.min_duration_s, config.max_duration_s)
            num_frames = max(1, int(round(seconds)) * LABEL_FPS)
            window = 0
            if files:
                j = first + k
                path = files[int(order[j % len(files)])]
                split_dir = f"{SPLIT_PREFIX[split]}-{path.parent.name.removeprefix(SPLIT_PREFIX[source] + '-')}"
                room = _NAME.match(path.stem).group(2)
                rotation = float(rng.integers(-180, 180)) if j >= len(files) else 0.0
                script = path.as_posix()
                rows = read_reference_csv(path)
                window = choose_window(rows, num_frames, rng)
                played = script_rows(rows, num_frames, window)
                class_counts[len(plans)] = np.stack([class_frame_counts(played), class_event_counts(played)])
            else:
                room_set = str(rng.choice(sorted(RANDOM_ROOMS[split])))
                split_dir = f"{SPLIT_PREFIX[split]}-{room_set}"
                room = str(rng.choice(RANDOM_ROOMS[split][room_set]))
                rotation, script = 0.0, None
            counters[(split, room)] += 1
            name = f"{FOLDS[split]}_{room}_mix{counters[(split, room)]:03d}"
            plans.append(ClipPlan(len(plans), split, split_dir, name, room, num_frames, script, rotation, window,
                                  split_index=k))
    if config.class_balance:  # (drawn last: the clips and windows do not depend on it)
        for split in ("train", "test", "val"):
            scripted = [p.index for p in plans if p.split == split and p.script]
            maps = balance_classes([class_counts[i] for i in scripted], split_rngs[split])
            for i, class_map in zip(scripted, maps):
                plans[i] = replace(plans[i], class_map=class_map)
    return plans


#: Sweeps of pairwise class swaps that refine the greedy class balance.
BALANCE_SWEEPS = 20


def _imbalance(totals: np.ndarray) -> float:
    """How uneven (kinds, classes) totals are: squared relative deviations from each kind's mean, summed."""
    means = np.maximum(totals.mean(axis=1, keepdims=True), 1e-9)
    return float(((totals / means - 1.0) ** 2).sum())


def balance_classes(class_counts: list[np.ndarray], rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Per-clip class permutations (source class -> target class) that spread active frames *and* events evenly
    over the classes of a split, so that no class gets only a few long events (too few distinct sounds to learn
    it from) or only brief ones. ``class_counts`` holds one (2, NUM_CLASSES) array per clip: active frames and
    events per source class. A greedy start (clip by clip, the clip's classes with the most frames and events
    first each take the unused target with the least so far, ties broken at random; so every class occurs once
    the split has at least NUM_CLASSES class slots) is refined by swapping two classes of a clip while that
    makes the split's totals more even."""
    counts = [np.asarray(c, dtype=np.float64) for c in class_counts]
    if not counts:
        return []
    scale = np.maximum(1.0, sum(counts).sum(axis=1, keepdims=True))
    totals = np.zeros((2, NUM_CLASSES))
    maps: list[list[int]] = []
    for c in counts:
        load = (c / scale).sum(axis=0)
        tiebreak = rng.random(NUM_CLASSES)
        free = list(range(NUM_CLASSES))
        class_map = [-1] * NUM_CLASSES
        for src in sorted(np.flatnonzero(load), key=lambda k: -load[k]):
            target = min(free, key=lambda t: ((totals[:, t] / scale[:, 0]).sum(), tiebreak[t]))
            free.remove(target)
            class_map[src] = target
            totals[:, target] += c[:, src]
        absent = [k for k in range(NUM_CLASSES) if class_map[k] < 0]
        for src, target in zip(absent, free):
            class_map[src] = target
        maps.append(class_map)
    best = _imbalance(totals)
    for _ in range(BALANCE_SWEEPS):
        improved = False
        for c, class_map in zip(counts, maps):
            for a in range(NUM_CLASSES):
                for b in range(a + 1, NUM_CLASSES):
                    ta, tb = class_map[a], class_map[b]
                    delta = c[:, a] - c[:, b]
                    if not delta.any():
                        continue
                    totals[:, ta] -= delta
                    totals[:, tb] += delta
                    score = _imbalance(totals)
                    if score < best - 1e-12:
                        best, improved = score, True
                        class_map[a], class_map[b] = tb, ta
                    else:
                        totals[:, ta] += delta
                        totals[:, tb] -= delta
        if not improved:
            break
    return [tuple(int(t) for t in m) for m in maps]

"""Simulated person detections: what a COCO person detector would report on the synthetic video.

Per label frame (10 Hz), every drawn person figure (human-class sources and silent distractors) is detected
unless missed (probability ``miss_rate``); its box is jittered by ``jitter`` times the box size and scored
higher for larger (closer) figures; false positives (Poisson, ``false_positive_rate`` per frame) get small
random boxes and low scores. Written with util.detection_io (source ``simulated``).
"""
from __future__ import annotations

import numpy as np

from util.conventions import LABEL_FPS
from util.detection_io import Detections

#: Score range of true detections (smallest to largest figures) and of false positives.
TRUE_SCORE_RANGE = (0.35, 0.95)
FALSE_SCORE_RANGE = (0.1, 0.4)


def simulate_detections(person_boxes: list[list[np.ndarray]], rng: np.random.Generator, miss_rate: float = 0.1,
                        jitter: float = 0.05, false_positive_rate: float = 0.05, video: str = "") -> Detections:
    """Detections from the person boxes drawn in each label frame (list over frames of normalised xyxy boxes)."""
    frames, boxes, scores = [], [], []
    for f, frame_boxes in enumerate(person_boxes):
        for box in frame_boxes:
            if rng.random() < miss_rate:
                continue
            w, h = box[2] - box[0], box[3] - box[1]
            noisy = box + jitter * rng.standard_normal(4) * np.array([w, h, w, h])
            noisy = np.clip(noisy, 0.0, 1.0)
            if noisy[2] <= noisy[0] or noisy[3] <= noisy[1]:
                continue
            size = float(np.clip(h / 0.3, 0.0, 1.0))
            lo, hi = TRUE_SCORE_RANGE
            score = np.clip(lo + (hi - lo) * size + 0.05 * rng.standard_normal(), 0.11, 0.99)
            frames.append(f)
            boxes.append(noisy)
            scores.append(score)
        for _ in range(rng.poisson(false_positive_rate)):
            cx, cy = rng.uniform(0.05, 0.95), rng.uniform(0.3, 0.8)
            w, h = rng.uniform(0.01, 0.05), rng.uniform(0.03, 0.15)
            frames.append(f)
            boxes.append(np.clip([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 0.0, 1.0))
            scores.append(rng.uniform(*FALSE_SCORE_RANGE))
    return Detections(
        source="simulated", rate_hz=float(LABEL_FPS), num_frames=len(person_boxes),
        frames=np.array(frames, dtype=np.int64), boxes=np.array(boxes, dtype=np.float32).reshape(-1, 4),
        scores=np.array(scores, dtype=np.float32), labels=["person"] * len(frames), video=video,
    )

"""Equirectangular 360-degree video of a scene: a textured room background, one class-specific sprite per
active sound source at its direction (util.geometry.direction_to_equirect), sized by its distance, and
silent distractor figures. Written as H.264 / yuv420p mp4 by util.video_io.VideoWriter (PyAV, no system ffmpeg).

The picture changes once per 100 ms label frame (sources move at the label rate) and is repeated for the
video frames inside it (29.97 fps). Person-like figures (human classes and distractors) are reported with
their pixel boxes so that simulated detections can be derived from exactly what was drawn.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from synth.scenes import Scene
from util.conventions import LABEL_FPS
from util.geometry import direction_to_equirect
from util.video_io import VideoWriter

#: Classes drawn as people (female/male speech, clapping, laughter, footsteps); the rest are objects.
PERSON_CLASSES: frozenset[int] = frozenset({0, 1, 2, 4, 6})
#: Sprite kind of silent distractor people.
DISTRACTOR = -1
#: Physical height (m) and width/height ratio of each sprite kind.
SPRITE_SIZE_M: dict[int, tuple[float, float]] = {
    DISTRACTOR: (1.7, 0.42), 0: (1.7, 0.45), 1: (1.75, 0.42), 2: (1.7, 0.5), 3: (0.25, 1.0), 4: (1.7, 0.45),
    5: (0.4, 1.2), 6: (1.7, 0.55), 7: (2.0, 0.5), 8: (0.6, 0.65), 9: (0.9, 0.45), 10: (0.35, 0.8),
    11: (0.3, 0.9), 12: (0.6, 0.8),
}
#: Smallest and largest sprite height as a fraction of the frame height.
MIN_SPRITE_FRAC, MAX_SPRITE_FRAC = 0.04, 0.45

SKIN = (224, 172, 140)
# Primitives in sprite-normalised coordinates (x right, y down, both in [0, 1]):
# ("ellipse", cx, cy, rx, ry, rgb) | ("rect", x1, y1, x2, y2, rgb) | ("tri", x1, y1, x2, y2, x3, y3, rgb)


def _person(shirt, legs, dress=False, arms="down", stride=0.0) -> list[tuple]:
    """Primitives of a standing person with the given clothes and pose."""
    prims = [("ellipse", 0.5, 0.09, 0.17, 0.085, SKIN), ("rect", 0.44, 0.17, 0.56, 0.21, SKIN)]
    if dress:
        prims.append(("tri", 0.5, 0.2, 0.1, 0.72, 0.9, 0.72, shirt))
    else:
        prims.append(("rect", 0.26, 0.2, 0.74, 0.55, shirt))
    prims += [("rect", 0.3 - stride, 0.55, 0.47 - stride, 0.97, legs),
              ("rect", 0.53 + stride, 0.55, 0.7 + stride, 0.97, legs)]
    if arms == "down":
        prims += [("rect", 0.1, 0.22, 0.24, 0.55, shirt), ("rect", 0.76, 0.22, 0.9, 0.55, shirt)]
    elif arms == "clap":
        prims += [("rect", 0.12, 0.22, 0.26, 0.4, shirt), ("rect", 0.74, 0.22, 0.88, 0.4, shirt),
                  ("ellipse", 0.5, 0.36, 0.14, 0.05, SKIN)]
    elif arms == "up":
        prims += [("rect", 0.02, 0.02, 0.16, 0.3, shirt), ("rect", 0.84, 0.02, 0.98, 0.3, shirt)]
    return prims


SPRITES: dict[int, list[tuple]] = {
    DISTRACTOR: _person((120, 120, 110), (60, 60, 70)),
    0: _person((200, 40, 60), (230, 200, 170), dress=True),
    1: _person((40, 80, 200), (40, 40, 60)),
    2: _person((230, 150, 30), (50, 50, 50), arms="clap"),
    4: _person((40, 170, 70), (70, 50, 40), arms="up"),
    6: _person((140, 60, 160), (30, 30, 90), stride=0.12),
    3: [("rect", 0.1, 0.35, 0.9, 0.95, (30, 30, 30)), ("rect", 0.05, 0.1, 0.95, 0.32, (200, 20, 20)),
        ("rect", 0.3, 0.5, 0.7, 0.85, (220, 220, 220))],
    5: [("rect", 0.0, 0.6, 1.0, 1.0, (120, 80, 40)), ("ellipse", 0.5, 0.5, 0.45, 0.1, (245, 245, 245)),
        ("ellipse", 0.5, 0.38, 0.4, 0.09, (235, 235, 250)), ("ellipse", 0.5, 0.26, 0.35, 0.08, (250, 250, 235))],
    7: [("rect", 0.0, 0.0, 1.0, 1.0, (110, 70, 30)), ("rect", 0.1, 0.05, 0.9, 0.45, (130, 85, 40)),
        ("rect", 0.1, 0.52, 0.9, 0.95, (130, 85, 40)), ("ellipse", 0.82, 0.5, 0.07, 0.025, (240, 200, 40))],
    8: [("rect", 0.0, 0.0, 1.0, 1.0, (20, 20, 25)), ("ellipse", 0.5, 0.3, 0.3, 0.2, (110, 110, 120)),
        ("ellipse", 0.5, 0.72, 0.4, 0.26, (110, 110, 120)), ("ellipse", 0.5, 0.72, 0.12, 0.08, (30, 30, 30))],
    9: [("rect", 0.43, 0.0, 0.57, 0.45, (60, 35, 15)), ("ellipse", 0.5, 0.58, 0.38, 0.14, (190, 110, 40)),
        ("ellipse", 0.5, 0.8, 0.48, 0.19, (190, 110, 40)), ("ellipse", 0.5, 0.66, 0.12, 0.05, (40, 20, 10))],
    10: [("rect", 0.1, 0.0, 0.9, 0.18, (190, 190, 200)), ("rect", 0.65, 0.1, 0.85, 0.35, (170, 170, 180)),
         ("rect", 0.68, 0.35, 0.82, 1.0, (80, 150, 255))],
    11: [("tri", 0.5, 0.05, 0.05, 0.9, 0.95, 0.9, (240, 200, 30)), ("ellipse", 0.5, 0.25, 0.25, 0.2, (240, 200, 30)),
         ("ellipse", 0.5, 0.95, 0.1, 0.05, (120, 90, 10))],
    12: [("rect", 0.0, 0.0, 1.0, 1.0, (150, 100, 60)), ("rect", 0.0, 0.0, 1.0, 0.08, (110, 70, 40)),
         ("ellipse", 0.55, 0.45, 0.2, 0.16, SKIN)],
}


def _rasterise(prims: list[tuple], h: int, w: int) -> np.ndarray:
    """RGBA uint8 (h, w, 4) image of primitives drawn in order (later ones on top)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    x = (x + 0.5) / w
    y = (y + 0.5) / h
    img = np.zeros((h, w, 4), dtype=np.uint8)
    for p in prims:
        kind, rgb = p[0], p[-1]
        if kind == "ellipse":
            _, cx, cy, rx, ry, _ = p
            mask = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0
        elif kind == "rect":
            _, x1, y1, x2, y2, _ = p
            mask = (x >= x1) & (x <= x2) & (y >= y1) & (y <= y2)
        else:  # triangle, by the signs of the three edge functions
            _, x1, y1, x2, y2, x3, y3, _ = p
            d1 = (x - x2) * (y1 - y2) - (x1 - x2) * (y - y2)
            d2 = (x - x3) * (y2 - y3) - (x2 - x3) * (y - y3)
            d3 = (x - x1) * (y3 - y1) - (x3 - x1) * (y - y1)
            mask = ~(((d1 < 0) | (d2 < 0) | (d3 < 0)) & ((d1 > 0) | (d2 > 0) | (d3 > 0)))
        img[mask, :3] = rgb
        img[mask, 3] = 255
    return img


@lru_cache(maxsize=512)
def sprite(kind: int, height_px: int) -> np.ndarray:
    """RGBA sprite (h, w, 4) of a class (or DISTRACTOR) at a height in pixels."""
    _, ratio = SPRITE_SIZE_M[kind]
    return _rasterise(SPRITES[kind], height_px, max(3, int(round(height_px * ratio))))


def sprite_height_px(kind: int, distance_m: float, frame_height: int) -> int:
    """Height in pixels of a sprite: the angle its physical height subtends at ``distance_m``, mapped at
    frame_height / 180 pixels per degree, kept within [MIN, MAX]_SPRITE_FRAC of the frame."""
    height_m, _ = SPRITE_SIZE_M[kind]
    angle = np.rad2deg(2 * np.arctan(height_m / (2 * max(distance_m, 0.1))))
    px = angle / 180.0 * frame_height
    return int(round(np.clip(px, MIN_SPRITE_FRAC * frame_height, MAX_SPRITE_FRAC * frame_height)))


def paste(frame: np.ndarray, rgba: np.ndarray, column: float, row: float) -> tuple[float, float, float, float]:
    """Alpha-paste ``rgba`` centred at (column, row) into ``frame`` (H, W, 3) in place, wrapping around the
    360-degree seam; returns the sprite's box (x1, y1, x2, y2) in pixels, x1 possibly < 0 or x2 > W."""
    H, W = frame.shape[:2]
    h, w = rgba.shape[:2]
    x1 = int(round(column - w / 2))
    y1 = int(round(row - h / 2))
    rows = np.arange(y1, y1 + h)
    keep = (rows >= 0) & (rows < H)
    if keep.any():
        cols = np.arange(x1, x1 + w) % W
        src = rgba[keep]
        alpha = src[..., 3:4].astype(np.float32) / 255.0
        region = frame[rows[keep][:, None], cols[None, :]]
        frame[rows[keep][:, None], cols[None, :]] = (alpha * src[..., :3] + (1 - alpha) * region).astype(np.uint8)
    return float(x1), float(y1), float(x1 + w), float(y1 + h)


def background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A room's equirectangular backdrop (H, W, 3) uint8: ceiling, textured walls with panels, floor."""
    wall = rng.uniform(90, 200, size=3)
    floor = rng.uniform(40, 120, size=3)
    ceiling = np.clip(wall + rng.uniform(20, 50), 0, 255)
    rows = np.arange(height)[:, None]
    img = np.empty((height, width, 3), dtype=np.float32)
    horizon_top, horizon_bottom = int(0.3 * height), int(0.62 * height)
    img[:] = wall
    img[:horizon_top] = ceiling
    shade = 0.7 + 0.3 * (rows[horizon_bottom:] - horizon_bottom) / max(1, height - horizon_bottom)
    img[horizon_bottom:] = floor * shade[..., None]
    # Wall panels and furniture blocks of random widths and shades.
    x = 0
    while x < width:
        w = int(rng.integers(max(2, width // 30), max(3, width // 8)))
        img[horizon_top:horizon_bottom, x:x + w] *= rng.uniform(0.8, 1.1)
        x += w
    for _ in range(int(rng.integers(3, 7))):
        bw = int(rng.integers(width // 40 + 1, width // 10 + 2))
        bh = int(rng.integers(height // 20 + 1, height // 6 + 2))
        bx, by = int(rng.integers(0, width - bw)), int(horizon_bottom - bh + rng.integers(0, height // 10 + 1))
        img[by:by + bh, bx:bx + bw] = rng.uniform(30, 220, size=3)
    img += rng.normal(0, 4, size=img.shape)  # texture
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass
class Figure:
    """One drawn figure: sprite kind (class or DISTRACTOR), direction (deg) and distance (m)."""

    kind: int
    azimuth: float
    elevation: float
    distance: float

    @property
    def is_person(self) -> bool:
        return self.kind == DISTRACTOR or self.kind in PERSON_CLASSES


def scene_figures(scene: Scene, distractors: list[Figure]) -> list[list[Figure]]:
    """Figures per label frame: every active event at its direction, plus the distractors."""
    frames: list[list[Figure]] = [list(distractors) for _ in range(scene.num_frames)]
    for ev in scene.events:
        for i in range(ev.num_frames):
            f = ev.start_frame + i
            if f < scene.num_frames:
                frames[f].append(Figure(ev.cls, float(ev.azimuth[i]), float(ev.elevation[i]), float(ev.distance[i])))
    return frames


def random_distractors(rng: np.random.Generator, count: int, min_distance: float, max_distance: float) -> list[Figure]:
    """Silent standing people at random directions near the horizon."""
    return [Figure(DISTRACTOR, float(rng.uniform(-180, 180)), float(rng.uniform(-15, 10)),
                   float(rng.uniform(min_distance, max_distance))) for _ in range(count)]


def draw_frame(backdrop: np.ndarray, figures: list[Figure]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The picture of one label frame (H, W, 3) and the normalised xyxy boxes (clipped to the frame, the
    part on the centre's side of the seam) of its person figures, far figures drawn first."""
    img = backdrop.copy()
    H, W = img.shape[:2]
    boxes = []
    for fig in sorted(figures, key=lambda f: -f.distance):
        col, row = direction_to_equirect(fig.azimuth, fig.elevation, W, H)
        rgba = sprite(fig.kind, sprite_height_px(fig.kind, fig.distance, H))
        x1, y1, x2, y2 = paste(img, rgba, float(col), float(row))
        if fig.is_person:
            boxes.append(np.clip(np.array([x1 / W, y1 / H, x2 / W, y2 / H]), 0.0, 1.0))
    return img, boxes


def label_frame_of_video_frame(index: int, fps: Fraction) -> int:
    """Label frame (100 ms) shown by video frame ``index``."""
    return int(index * LABEL_FPS * fps.denominator // fps.numerator)


def write_video(path: str | Path, picture: Callable[[int], np.ndarray], num_label_frames: int,
                num_video_frames: int, fps: Fraction, crf: int = 28, preset: str = "ultrafast") -> None:
    """Write an H.264 yuv420p mp4 of ``num_video_frames`` frames at ``fps``; ``picture(f)`` gives the (H, W, 3)
    uint8 picture of label frame f (called once per label frame, in order), repeated for the video frames
    inside it. Written atomically, single-threaded (the same bytes on every machine)."""
    shown = np.minimum([label_frame_of_video_frame(i, fps) for i in range(num_video_frames)], num_label_frames - 1)
    frames, repeats = np.unique(shown, return_counts=True)  # label frames in order, video frames of each
    first = picture(int(frames[0]))
    with VideoWriter(path, (first.shape[1], first.shape[0]), fps, crf=crf, preset=preset, threads=1,
                     faststart=False, color="bt601") as writer:
        writer.write(first, repeat=int(repeats[0]))
        for f, repeat in zip(frames[1:], repeats[1:]):
            writer.write(picture(int(f)), repeat=int(repeat))

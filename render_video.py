#!/usr/bin/env python3
"""Draw SELD events onto a 360-degree (equirectangular) video: what the model hears, where it hears it.

    python render_video.py --video V.mp4 --pred P.csv [--ref R.csv] [--detections D.csv] --out O.mp4
    python seld.py render ...                                   (the same command)

Every video frame shows the events of its label frame (frame ``k`` = the 100 ms starting at ``0.1 k`` s): one
marker per event at its (azimuth, elevation) through the project's equirectangular mapping
(``util.geometry.direction_to_equirect``: the front in the centre, positive azimuths on the left), in its class
colour (``util.conventions.CLASS_COLORS``) and labelled with its class name. Predictions are filled discs,
reference events rings around them (a ring's label is left out when a prediction of its class sits inside it);
markers near the left / right edge wrap around. Person boxes of a detection file (``util/detection_io.py``) are
drawn as white rectangles from the detection frame nearest in time. A legend in the top-left corner names the
marker kinds and shows the time.

The output mp4 has the input's size (``--size`` scales it) and frame rate, and one output frame per input frame;
the input's audio track is copied when it has one (``--audio FILE`` takes the sound of another file instead, e.g.
the FOA wav: its first channel; ``--no-audio`` writes none). It is written under a temporary name and renamed
when complete; bad input stops with one line ``error: <file>: <problem>`` and leaves nothing behind.
"""
from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from metrics.dcase_csv import Event, read_prediction_csv, read_reference_csv
from util.cli import DefaultsHelpFormatter, add_quiet_argument, run_main
from util.conventions import CLASS_COLORS, CLASS_NAMES, LABEL_FPS
from util.detection_io import Detections, read_detections
from util.errors import InputError
from util.geometry import direction_to_equirect
from util.video_io import VideoWriter, has_audio, iter_frames, size_argument, video_info

#: Fixed-point bits of sub-pixel marker positions (cv2 ``shift``).
_SHIFT = 4
#: Colours (RGB) of outlines, text and person boxes.
_DARK, _LIGHT = (0, 0, 0), (255, 255, 255)


@dataclass(frozen=True)
class Style:
    """Marker and text sizes in pixels for a frame height (all scale with it)."""

    radius: int          # prediction disc
    ring: int            # reference ring radius
    ring_width: int
    outline: int         # dark outline around markers, text and the legend
    font_scale: float
    text_width: int

    @classmethod
    def for_height(cls, height: int) -> Style:
        """Sizes that stay readable from 180 to 960 pixel rows (and beyond)."""
        radius = max(3, int(round(0.02 * height)))
        font = min(0.9, max(0.32, height / 720.0))
        return cls(radius=radius, ring=int(round(1.7 * radius)), ring_width=max(2, radius // 2),
                   outline=max(1, radius // 5), font_scale=font, text_width=1 if font < 0.6 else 2)


def events_by_frame(events: Sequence[Event]) -> dict[int, list[Event]]:
    """Events grouped by label frame."""
    out: dict[int, list[Event]] = {}
    for e in events:
        out.setdefault(int(e.frame), []).append(e)
    return out


def marker_position(event: Event, width: int, height: int) -> tuple[float, float]:
    """(column, row) of an event's direction in a ``width`` x ``height`` equirectangular frame (pixel units,
    pixel ``i`` covering [i, i + 1))."""
    column, row = direction_to_equirect(event.azimuth, event.elevation, width, height)
    return float(column), float(row)


def _fixed(x: float, y: float) -> tuple[int, int]:
    """Sub-pixel position (pixel centres at i + 0.5) as cv2 fixed-point coordinates."""
    return int(round((x - 0.5) * (1 << _SHIFT))), int(round((y - 0.5) * (1 << _SHIFT)))


def _wrapped(column: float, width: int) -> tuple[float, ...]:
    """The column and its copies one frame width left and right (markers at the seam show on both sides)."""
    return column, column - width, column + width


def _text(img: np.ndarray, text: str, x: int, y: int, style: Style, color=_LIGHT) -> None:
    """Text with a dark outline, its baseline at (x, y)."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, text, (x, y), font, style.font_scale, _DARK, style.text_width + 2 * style.outline, cv2.LINE_AA)
    cv2.putText(img, text, (x, y), font, style.font_scale, color, style.text_width, cv2.LINE_AA)


class LabelLayout:
    """Greedy placement of a frame's marker labels: each goes beside its marker (right, else left; above for
    predictions, below for references) at the first height, stepping away one text line at a time, where it
    overlaps no label placed before it."""

    #: Line steps tried away from the preferred height, in order.
    STEPS: tuple[int, ...] = (0, 1, -1, 2, -2, 3, -3, 4, -4)

    def __init__(self, img: np.ndarray, style: Style):
        self.img, self.style = img, style
        self.placed: list[tuple[int, int, int, int]] = []  # x1, y1, x2, y2 (y1 = top)

    def _free(self, box: tuple[int, int, int, int]) -> bool:
        x1, y1, x2, y2 = box
        return all(x2 <= a1 or x1 >= a2 or y2 <= b1 or y1 >= b2 for a1, b1, a2, b2 in self.placed)

    def add(self, text: str, column: float, row: float, offset: int, below: bool) -> None:
        """Place and draw ``text`` beside the marker at (column, row) of radius ``offset``."""
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, self.style.font_scale, self.style.text_width)
        height, width = self.img.shape[:2]
        line = th + base + 2 * self.style.outline
        right = int(round(column)) + offset + 2
        left = int(round(column)) - offset - 2 - tw
        sides = [x for x in (right, left) if 0 <= x and x + tw <= width] or [int(np.clip(right, 0, width - tw))]
        y0 = int(round(row)) + (offset + th if below else -offset // 2)
        choice = None
        for step in self.STEPS:
            for x in sides:
                y = int(np.clip(y0 + step * line, th + 1, height - base - 1))
                box = (x, y - th - self.style.outline, x + tw, y + base)
                if self._free(box):
                    choice = (x, y, box)
                    break
            if choice is not None:
                break
        if choice is None:
            y = int(np.clip(y0, th + 1, height - base - 1))
            choice = (sides[0], y, (sides[0], y - th, sides[0] + tw, y + base))
        x, y, box = choice
        self.placed.append(box)
        _text(self.img, text, x, y, self.style)


def draw_prediction(img: np.ndarray, event: Event, style: Style, labels: LabelLayout | None = None) -> None:
    """A filled disc in the class colour (dark outline); its class name through ``labels`` when given."""
    height, width = img.shape[:2]
    column, row = marker_position(event, width, height)
    color = CLASS_COLORS[event.cls]
    for col in _wrapped(column, width):
        centre = _fixed(col, row)
        cv2.circle(img, centre, (style.radius + style.outline) << _SHIFT, _DARK, -1, cv2.LINE_AA, _SHIFT)
        cv2.circle(img, centre, style.radius << _SHIFT, color, -1, cv2.LINE_AA, _SHIFT)
    if labels is not None:
        labels.add(CLASS_NAMES[event.cls], column, row, style.radius, below=False)


def draw_reference(img: np.ndarray, event: Event, style: Style, labels: LabelLayout | None = None,
                   nested: int = 0) -> None:
    """A ring in the class colour (dark outline), ``nested`` ring widths outside the standard radius (for sources
    sharing a direction); its class name through ``labels`` (below it) when given."""
    height, width = img.shape[:2]
    column, row = marker_position(event, width, height)
    color = CLASS_COLORS[event.cls]
    radius = style.ring + nested * (style.ring_width + 2 * style.outline)
    for col in _wrapped(column, width):
        centre = _fixed(col, row)
        cv2.circle(img, centre, radius << _SHIFT, _DARK, style.ring_width + 2 * style.outline, cv2.LINE_AA, _SHIFT)
        cv2.circle(img, centre, radius << _SHIFT, color, style.ring_width, cv2.LINE_AA, _SHIFT)
    if labels is not None:
        labels.add(CLASS_NAMES[event.cls], column, row, radius, below=True)


def draw_boxes(img: np.ndarray, boxes: np.ndarray, style: Style) -> None:
    """Person boxes (K, 4) in normalised xyxy coordinates as white rectangles."""
    height, width = img.shape[:2]
    for x1, y1, x2, y2 in np.clip(np.asarray(boxes, dtype=np.float64), 0.0, 1.0):
        cv2.rectangle(img, (int(round(x1 * width)), int(round(y1 * height))),
                      (int(round(x2 * width)) - 1, int(round(y2 * height)) - 1), _LIGHT, style.outline, cv2.LINE_AA)


def draw_legend(img: np.ndarray, time_s: float, with_reference: bool, with_boxes: bool, style: Style) -> None:
    """Top-left legend on a darkened strip: the marker kinds and the time."""
    items = ["prediction"] + (["reference"] if with_reference else []) + (["person"] if with_boxes else [])
    (_, th), _ = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, style.font_scale, style.text_width)
    pad, sym = max(2, th // 3), max(th, 2 * style.radius)
    widths = [cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, style.font_scale, style.text_width)[0][0] for t in items]
    clock = f"{time_s:6.1f} s"
    clock_w = cv2.getTextSize(clock, cv2.FONT_HERSHEY_SIMPLEX, style.font_scale, style.text_width)[0][0]
    strip_w = min(img.shape[1], pad + sum(sym + pad + w + 2 * pad for w in widths) + clock_w + pad)
    strip_h = min(img.shape[0], th + 2 * pad + 2)
    img[:strip_h, :strip_w] = (img[:strip_h, :strip_w] * 0.35).astype(np.uint8)
    x, base, mid = pad, th + pad, (th + 2 * pad) / 2 + 0.5
    grey = (200, 200, 200)
    for item, w in zip(items, widths):
        r = sym / 2
        if item == "prediction":
            cv2.circle(img, _fixed(x + r, mid), int(r * 0.8) << _SHIFT, grey, -1, cv2.LINE_AA, _SHIFT)
        elif item == "reference":
            cv2.circle(img, _fixed(x + r, mid), int(r * 0.8) << _SHIFT, grey, max(1, style.ring_width // 2),
                       cv2.LINE_AA, _SHIFT)
        else:
            cv2.rectangle(img, (int(x + 0.2 * sym), pad), (int(x + 0.8 * sym), th + pad), _LIGHT, 1)
        _text(img, item, int(x + sym + pad), base, style)
        x += sym + pad + w + 2 * pad
    _text(img, clock, int(x), base, style)


def render_frame(frame: np.ndarray, pred: Sequence[Event], ref: Sequence[Event] = (), boxes: np.ndarray | None = None,
                 time_s: float | None = None, style: Style | None = None, with_reference: bool = False) -> np.ndarray:
    """Draw one frame's person boxes, reference rings, prediction discs and (when ``time_s``) the legend onto a
    copy of ``frame`` (RGB uint8 (H, W, 3))."""
    img = np.array(frame, dtype=np.uint8, copy=True)
    height, width = img.shape[:2]
    style = style or Style.for_height(height)
    if boxes is not None and len(boxes):
        draw_boxes(img, boxes, style)
    preds = [(e.cls, marker_position(e, width, height)) for e in pred]
    unlabelled = []  # references with a prediction of their class inside the ring: its label names both
    drawn: list[tuple[float, float]] = []
    for e in ref:
        col, row = marker_position(e, width, height)
        unlabelled.append(any(c == e.cls and math.hypot(_seam_dx(col, pc, width), row - pr) < 2 * style.ring
                              for c, (pc, pr) in preds))
        nested = sum(math.hypot(_seam_dx(col, c, width), row - r) < style.ring_width for c, r in drawn)
        draw_reference(img, e, style, nested=nested)  # sources in one direction: rings around each other
        drawn.append((col, row))
    for e in pred:
        draw_prediction(img, e, style)
    labels = LabelLayout(img, style)  # drawn last, on top of every marker; one label per class and place
    named: set[tuple[int, int, int]] = set()
    for e, kind in [(e, "pred") for e in pred] + [(e, "ref") for e, skip in zip(ref, unlabelled) if not skip]:
        col, row = marker_position(e, width, height)
        key = (e.cls, int(col // (2 * style.ring)), int(row // (2 * style.ring)))
        if key not in named:
            named.add(key)
            labels.add(CLASS_NAMES[e.cls], col, row, style.radius if kind == "pred" else style.ring,
                       below=kind == "ref")
    if time_s is not None:
        draw_legend(img, time_s, with_reference or bool(ref), boxes is not None, style)
    return img


def _seam_dx(a: float, b: float, width: int) -> float:
    """Horizontal distance between two columns across the left / right seam."""
    d = abs(a - b) % width
    return min(d, width - d)


def _detection_index(det: Detections) -> dict[int, np.ndarray]:
    """Detection frame -> its boxes (K, 4)."""
    out: dict[int, list[int]] = {}
    for i, f in enumerate(det.frames):
        out.setdefault(int(f), []).append(i)
    return {f: det.boxes[idx] for f, idx in out.items()}


def render_video(video: str | Path, pred: Sequence[Event] | str | Path, out: str | Path,
                 ref: Sequence[Event] | str | Path | None = None, detections: Detections | str | Path | None = None,
                 size: tuple[int, int] | None = None, audio: str | Path | bool | None = None, crf: int = 20,
                 progress: bool = True) -> int:
    """Render events onto ``video`` and write ``out`` (mp4, atomically); returns the frames written.

    ``pred`` / ``ref``: events or CSV paths (prediction / reference format of metrics/dcase_csv.py);
    ``detections``: a detection file or its contents; ``size``: (width, height) of the output (default the
    input's, made even); ``audio``: None = the video's own audio track when it has one, a path = that file's
    audio, False = none.
    """
    video, out = Path(video), Path(out)
    if out.suffix.lower() != ".mp4":
        raise InputError(out, "the rendered video must be an .mp4 file")
    if out.exists() and out.resolve() == video.resolve():
        raise InputError(out, "the output would overwrite the input video")
    info = video_info(video)
    pred_events = read_prediction_csv(pred) if isinstance(pred, (str, Path)) else list(pred)
    ref_events = [] if ref is None else read_reference_csv(ref) if isinstance(ref, (str, Path)) else list(ref)
    det = read_detections(detections) if isinstance(detections, (str, Path)) else detections
    if audio is None:
        audio = video if has_audio(video) else None
    elif audio is False:
        audio = None
    elif not has_audio(audio):
        raise InputError(audio, "file has no audio stream")
    width, height = size if size is not None else info.size
    width, height = width - width % 2, height - height % 2  # H.264 (yuv420p) needs even sizes
    if width <= 0 or height <= 0:
        raise InputError(video, f"frame too small to render ({info.width}x{info.height})")
    _warn_beyond_end(pred, pred_events, info.duration_s)
    _warn_beyond_end(ref, ref_events, info.duration_s)

    pred_at, ref_at = events_by_frame(pred_events), events_by_frame(ref_events)
    boxes_at = _detection_index(det) if det is not None else {}
    style = Style.for_height(height)
    no_boxes = np.zeros((0, 4))
    offset = _video_start_s(video) if audio is not None and Path(audio) == video else 0.0
    bar = tqdm(total=info.num_frames or None, desc=f"render {video.name}", unit="frame", disable=not progress,
               dynamic_ncols=True)
    try:
        with VideoWriter(out, (width, height), info.rate, crf=crf, audio=audio, audio_offset_s=offset) as writer:
            for time_s, frame in iter_frames(video, (width, height)):
                k = int(math.floor(time_s * LABEL_FPS + 1e-6))
                boxes = None
                if det is not None:
                    boxes = boxes_at.get(int(round(time_s * det.rate_hz)), no_boxes)
                writer.write(render_frame(frame, pred_at.get(k, ()), ref_at.get(k, ()), boxes, time_s, style,
                                          with_reference=ref is not None))
                bar.update()
            return writer.count
    finally:
        bar.close()


def _video_start_s(path: Path) -> float:
    """Start time (s) of the first video stream (its audio is shifted by the same amount)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return float(stream.start_time * stream.time_base) if stream.start_time else 0.0


def _warn_beyond_end(source, events: Sequence[Event], duration_s: float) -> None:
    """A note when a CSV holds events more than a second after the end of the video (wrong pairing?)."""
    if not events:
        return
    last_s = max(e.frame for e in events) / LABEL_FPS
    if last_s > duration_s + 1.0:
        name = source if isinstance(source, (str, Path)) else "events"
        print(f"warning: {name}: events up to {last_s:.1f} s, the video ends at {duration_s:.1f} s",
              file=sys.stderr)


# ------------------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``seld.py render`` / ``render_video.py``."""
    parser.add_argument("--video", required=True, type=Path, help="equirectangular 360-degree video (mp4)")
    parser.add_argument("--pred", required=True, type=Path,
                        help="prediction CSV (frame,class,track,azimuth,elevation[,distance]; 4 and 7 columns too)")
    parser.add_argument("--ref", type=Path, default=None, help="reference CSV (metadata), drawn as rings")
    parser.add_argument("--detections", type=Path, default=None,
                        help="detection file (object_detection.py / synthetic dataset): person boxes")
    parser.add_argument("--out", required=True, type=Path, help="rendered mp4")
    parser.add_argument("--size", type=size_argument, default=None, metavar="WxH",
                        help="output size, e.g. 960x480 (default: the input's)")
    sound = parser.add_mutually_exclusive_group()
    sound.add_argument("--audio", type=Path, default=None,
                       help="take the sound from this file (e.g. the FOA wav: its first channel) instead of the "
                            "video's own audio track")
    sound.add_argument("--no-audio", action="store_true", help="write no audio track")
    parser.add_argument("--crf", type=int, default=20, help="x264 quality, lower = better (default %(default)s)")
    add_quiet_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Render the events of a prediction (and reference) CSV onto a video."""
    audio = False if args.no_audio else args.audio
    count = render_video(args.video, args.pred, args.out, ref=args.ref, detections=args.detections, size=args.size,
                         audio=audio, crf=args.crf, progress=not args.quiet)
    print(f"wrote {args.out} ({count} frames)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter)
    add_arguments(parser)
    return run_main(run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

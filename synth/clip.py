"""Synthesis of one clip: scene -> event sounds -> FOA/MIC audio, metadata, video and simulated detections."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from metrics.dcase_csv import write_reference_csv
from synth.config import VIDEO_FPS, SynthesisConfig
from synth.plan import ClipPlan, clip_rng, room_rng
from synth.scenes import Scene, random_scene, scene_from_annotation
from synth.simulated_detections import simulate_detections
from synth.sounds import synthesize_event
from synth.spatial import ENCODERS, DiffuseParts, Room, diffuse_noise, render_scene, reverb_tails
from synth.video import background, draw_frame, random_distractors, scene_figures, write_video
from util.audio_io import write_audio
from util.conventions import LABEL_HOP_S, NUM_AUDIO_CHANNELS
from util.detection_io import write_detections
from util.layout import DatasetLayout, Recording

#: Overall output gain: an event of unit RMS at 1 m comes out at about -24 dBFS.
OUTPUT_GAIN = 0.06
#: Mixes are scaled down (never up) so that their peak stays below this.
MAX_PEAK = 0.95
#: Random level of each event relative to its class's nominal level (dB).
EVENT_LEVEL_DB = (-6.0, 0.0)


def build_scene(plan: ClipPlan, config: SynthesisConfig, rng: np.random.Generator) -> Scene:
    """The clip's scene: scripted from its annotation file, or random."""
    if plan.script:
        return scene_from_annotation(plan.script, plan.num_frames, rng, plan.rotation_deg, config.min_distance_m,
                                     config.max_distance_m, plan.window_start, plan.class_map)
    return random_scene(plan.num_frames, rng, config.max_polyphony, config.moving_fraction,
                        config.min_distance_m, config.max_distance_m)


def room_of(plan: ClipPlan, config: SynthesisConfig) -> Room:
    """The acoustics of the clip's room (the same for every clip of that room and seed)."""
    return Room.random(room_rng(config.seed, plan.room))


def render_audio(scene: Scene, config: SynthesisConfig, rng: np.random.Generator,
                 room: Room | None) -> dict[str, np.ndarray]:
    """(channels, samples) float audio of the scene in every configured format, sharing sounds, reverb and noise."""
    sr = config.sample_rate
    hop = int(round(LABEL_HOP_S * sr))
    num_samples = scene.num_frames * hop
    signals = []
    for ev in scene.events:
        level = 10 ** (rng.uniform(*EVENT_LEVEL_DB) / 20)
        signals.append(synthesize_event(ev.cls, ev.num_frames * hop, sr, rng) * level)
    with_noise = math.isfinite(config.snr_db)
    diffuse = DiffuseParts(
        tails=reverb_tails(room, NUM_AUDIO_CHANNELS, rng, sr) if room is not None else None,
        noise=diffuse_noise(num_samples, NUM_AUDIO_CHANNELS, rng, room.noise_slope_db_oct if room else -3.0, sr)
        if with_noise else None,
    )
    mixes = {fmt: render_scene(scene, signals, ENCODERS[fmt], sr, num_samples, room, diffuse,
                               config.snr_db if with_noise else None) for fmt in config.formats}
    peak = max(float(np.abs(m).max()) for m in mixes.values()) * OUTPUT_GAIN
    gain = OUTPUT_GAIN * min(1.0, MAX_PEAK / peak) if peak > 0 else OUTPUT_GAIN
    return {fmt: (m * gain).astype(np.float32) for fmt, m in mixes.items()}


def write_clip_video(plan: ClipPlan, scene: Scene, config: SynthesisConfig, rng: np.random.Generator,
                     layout: DatasetLayout) -> None:
    """Write the clip's video and its simulated detections."""
    rec = Recording(plan.split_dir, plan.name)
    width, height = config.video_size
    backdrop = background(room_rng(config.seed, plan.room), width, height)
    count = int(rng.integers(0, config.max_distractors + 1))
    figures = scene_figures(scene, random_distractors(rng, count, config.min_distance_m, config.max_distance_m))
    person_boxes: list[list[np.ndarray]] = [[] for _ in range(scene.num_frames)]

    def picture(f: int) -> np.ndarray:
        img, boxes = draw_frame(backdrop, figures[f])
        person_boxes[f] = boxes
        return img

    duration_s = scene.num_frames * LABEL_HOP_S
    num_video_frames = int(round(duration_s * VIDEO_FPS))
    video_path = layout.video_path(rec)
    write_video(video_path, picture, scene.num_frames, num_video_frames, VIDEO_FPS, config.video_crf,
                config.video_preset)
    det = simulate_detections(person_boxes, rng, config.detection_miss_rate, config.detection_jitter,
                              config.detection_false_positive_rate,
                              video=video_path.relative_to(layout.root).as_posix())
    write_detections(layout.detection_path(rec), det)


def make_clip(plan: ClipPlan, config: SynthesisConfig, root: str | Path) -> None:
    """Synthesise and write every file of one clip."""
    layout = DatasetLayout(root)
    rec = Recording(plan.split_dir, plan.name)
    rng = clip_rng(config.seed, plan)
    scene = build_scene(plan, config, rng)
    room = room_of(plan, config) if config.room_acoustics else None
    for fmt, audio in render_audio(scene, config, rng, room).items():
        write_audio(layout.audio_path(fmt, rec), audio, config.sample_rate)
    write_reference_csv(layout.metadata_path(rec), scene.reference_events())
    if config.video:
        write_clip_video(plan, scene, config, rng, layout)


def clip_summary(plan: ClipPlan, config: SynthesisConfig) -> dict:
    """What synthesis.json records about a clip (its scene is rebuilt from the seed: cheap and identical)."""
    scene = build_scene(plan, config, clip_rng(config.seed, plan))
    room = room_of(plan, config) if config.room_acoustics else None
    poly = scene.polyphony()
    return {
        **plan.to_dict(),
        "duration_s": scene.num_frames * LABEL_HOP_S,
        "num_events": len(scene.events),
        "num_moving_events": sum(ev.is_moving for ev in scene.events),
        "max_polyphony": int(poly.max()) if len(poly) else 0,
        "room_acoustics": None if room is None else {"size_m": room.size, "listener_m": room.listener,
                                                      "reflection": room.reflection, "rt60_s": room.rt60_s},
    }

"""Parameters of a synthetic dataset: presets and the one typed config recorded in ``synthesis.json``."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from util.conventions import SAMPLE_RATE

#: STARSS23 video frame rate (29.97 fps).
VIDEO_FPS: Fraction = Fraction(30000, 1001)
#: Audio formats the generator can write (binaural is derived from FOA by wav_convertor.py).
SYNTH_FORMATS: tuple[str, ...] = ("foa", "mic")
#: Default location of the real STARSS22 annotations used as scene scripts.
DEFAULT_ANNOTATIONS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "starss22_metadata_dev"


def default_annotations() -> str | None:
    """The real STARSS22 annotations beside the repository when present (scene scripts), else None (random)."""
    return str(DEFAULT_ANNOTATIONS) if DEFAULT_ANNOTATIONS.is_dir() else None


def scene_source(annotations: str | None) -> str:
    """Where a dataset's scenes come from, as the log and synthesis.json (``scene_source``) say it."""
    if annotations:
        return f"scripted from STARSS22 annotations at {annotations}"
    return "random"


@dataclass(frozen=True)
class Preset:
    """Size of a dataset: clip counts per split (validation clips: held apart from the test clips, for model
    selection), clip duration range (s) and default video size."""

    num_train: int
    num_test: int
    min_duration_s: float
    max_duration_s: float
    video_size: tuple[int, int]
    num_val: int = 0


PRESETS: dict[str, Preset] = {
    "tiny": Preset(num_train=2, num_test=2, num_val=1, min_duration_s=6.0, max_duration_s=6.0,
                   video_size=(240, 120)),
    "small": Preset(num_train=20, num_test=10, num_val=5, min_duration_s=30.0, max_duration_s=60.0,
                    video_size=(480, 240)),
    "full": Preset(num_train=90, num_test=78, num_val=20, min_duration_s=60.0, max_duration_s=180.0,
                   video_size=(480, 240)),
}


@dataclass
class SynthesisConfig:
    """Everything that determines a synthetic dataset (with the seed, it fixes every wav and csv byte)."""

    preset: str = "small"
    seed: int = 0
    formats: tuple[str, ...] = SYNTH_FORMATS
    num_train: int = 20
    num_test: int = 10
    #: Validation clips (split dev-val-*, names fold5_*): scripted from the test split's annotation files that
    #: the test clips leave unused, in the test rooms; 0 = none (then training validates on dev-test).
    num_val: int = 0
    min_duration_s: float = 30.0
    max_duration_s: float = 60.0
    sample_rate: int = SAMPLE_RATE
    #: Real annotations used as scene scripts; None -> random scenes.
    annotations: str | None = None
    #: Annotation scripts: permute classes per clip so that every class gets a similar share of active frames
    #: in each split (timing, polyphony, overlaps and trajectories are kept).
    class_balance: bool = True
    #: Random scenes: most events active at once, and the share of moving sources.
    max_polyphony: int = 3
    moving_fraction: float = 0.4
    min_distance_m: float = 1.0
    max_distance_m: float = 4.0
    #: Diffuse background noise level relative to the sound events (dB); inf = no noise.
    snr_db: float = 25.0
    #: Room acoustics (image-source early reflections + diffuse tail); off gives free field.
    room_acoustics: bool = True
    video: bool = True
    video_size: tuple[int, int] = (480, 240)
    video_crf: int = 28
    video_preset: str = "ultrafast"
    #: Silent person figures per clip (drawn, detected, but making no sound): drawn uniformly in [0, max].
    max_distractors: int = 2
    #: Simulated person detector: miss probability, box jitter (fraction of box size), false positives per frame.
    detection_miss_rate: float = 0.1
    detection_jitter: float = 0.05
    detection_false_positive_rate: float = 0.05
    workers: int = 1

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> "SynthesisConfig":
        """Config of a preset with ``overrides`` applied (None values are ignored)."""
        p = PRESETS[preset]
        base = dict(preset=preset, num_train=p.num_train, num_test=p.num_test, num_val=p.num_val,
                    min_duration_s=p.min_duration_s,
                    max_duration_s=p.max_duration_s, video_size=p.video_size)
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)

    @classmethod
    def from_dict(cls, d: dict) -> "SynthesisConfig":
        """Inverse of :meth:`to_dict` (e.g. the ``config`` of a dataset's synthesis.json)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["formats"] = tuple(kw.get("formats", SYNTH_FORMATS))
        kw["video_size"] = tuple(kw.get("video_size", (480, 240)))
        if kw.get("snr_db") is None:
            kw["snr_db"] = math.inf
        return cls(**kw)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["formats"] = list(self.formats)
        d["video_size"] = list(self.video_size)
        d["snr_db"] = self.snr_db if math.isfinite(self.snr_db) else None  # None = no background noise (JSON)
        d["video_fps"] = f"{VIDEO_FPS.numerator}/{VIDEO_FPS.denominator}"
        return d

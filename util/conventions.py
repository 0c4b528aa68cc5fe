"""Project-wide conventions: the one source of truth for classes, frame rates and array geometry.

Angles are in degrees. Azimuth is counter-clockwise positive with 0 = front and 90 = left, in [-180, 180];
elevation is positive upwards, in [-90, 90]. Cartesian axes: x front, y left, z up.
FOA channels are in ACN order (W, Y, Z, X) with SN3D normalisation.
"""
from __future__ import annotations

CLASS_NAMES: tuple[str, ...] = (
    "female_speech",
    "male_speech",
    "clapping",
    "telephone",
    "laughter",
    "domestic_sounds",
    "footsteps",
    "door",
    "music",
    "musical_instrument",
    "water_tap",
    "bell",
    "knock",
)
NUM_CLASSES: int = len(CLASS_NAMES)
#: One colour per class (RGB 0-255), a 13-colour qualitative palette (after Trubetskoy's "20 distinct colours")
#: shared by the plots and the rendered videos: female (red) and male (blue) speech never look alike.
CLASS_COLORS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),     # female_speech: red
    (0, 130, 200),     # male_speech: blue
    (245, 130, 48),    # clapping: orange
    (60, 180, 75),     # telephone: green
    (240, 50, 230),    # laughter: magenta
    (170, 110, 40),    # domestic_sounds: brown
    (70, 240, 240),    # footsteps: cyan
    (128, 128, 0),     # door: olive
    (145, 30, 180),    # music: purple
    (255, 225, 25),    # musical_instrument: yellow
    (0, 128, 128),     # water_tap: teal
    (210, 245, 60),    # bell: lime
    (128, 0, 0),       # knock: maroon
)

#: Label frame length in seconds (one DCASE label frame = 100 ms).
LABEL_HOP_S: float = 0.1
#: Label frames per second.
LABEL_FPS: int = 10
#: Default audio sample rate of STARSS23 (Hz).
SAMPLE_RATE: int = 24000
#: Number of audio channels in FOA and MIC recordings.
NUM_AUDIO_CHANNELS: int = 4

#: Multi-ACCDOA output tracks per class and ADPIT dummy tracks in the targets.
NUM_TRACKS: int = 3
NUM_ADPIT_TRACKS: int = 6
#: Values of one ADPIT target track per class: activity (0/1), unit direction x, y, z, distance in metres.
ADPIT_TARGET_FIELDS: tuple[str, ...] = ("activity", "x", "y", "z", "distance_m")
#: ADPIT dummy-track slots used for a class with 1, 2, 3 instances in a frame: A0 | B0 B1 | C0 C1 C2.
ADPIT_GROUPS: tuple[tuple[int, ...], ...] = tuple(
    tuple(range(n * (n - 1) // 2, n * (n + 1) // 2)) for n in range(1, NUM_TRACKS + 1))

#: Tetrahedral microphone array (Eigenmike-like em32 subset used by STARSS23): capsule (azimuth, elevation)
#: in degrees, channel order 1..4, on a rigid sphere of this radius (metres).
MIC_CAPSULE_DIRECTIONS_DEG: tuple[tuple[float, float], ...] = ((45.0, 35.0), (-45.0, -35.0), (135.0, -35.0), (-135.0, 35.0))
MIC_ARRAY_RADIUS_M: float = 0.042
SPEED_OF_SOUND_M_S: float = 343.0

#: STARSS23 file-name folds: fold3 = development training set, fold4 = development test set; fold5 = the
#: synthetic dataset's validation clips (held apart from dev-test for model selection; STARSS23 has none).
TRAIN_FOLD: str = "fold3"
TEST_FOLD: str = "fold4"
VAL_FOLD: str = "fold5"

#: Visual front end (AV baseline): size of the resized video copies (width, height), person boxes kept per
#: frame, points per Gaussian box vector, detector score threshold, and the default frame-cache size for the ViT.
VIDEO_SIZE: tuple[int, int] = (360, 180)
VISUAL_NUM_BOXES: int = 6
VISUAL_NUM_POINTS: int = 37
DETECTION_SCORE_THRESHOLD: float = 0.1
FRAME_CACHE_SIZE: tuple[int, int] = (128, 64)

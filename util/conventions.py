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

#: Tetrahedral microphone array (Eigenmike-like em32 subset used by STARSS23): capsule (azimuth, elevation)
#: in degrees, channel order 1..4, on a rigid sphere of this radius (metres).
MIC_CAPSULE_DIRECTIONS_DEG: tuple[tuple[float, float], ...] = ((45.0, 35.0), (-45.0, -35.0), (135.0, -35.0), (-135.0, 35.0))
MIC_ARRAY_RADIUS_M: float = 0.042
SPEED_OF_SOUND_M_S: float = 343.0

#: STARSS23 file-name folds: fold3 = development training set, fold4 = development test set.
TRAIN_FOLD: str = "fold3"
TEST_FOLD: str = "fold4"

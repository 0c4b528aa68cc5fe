"""The STARSS23 folder layout, in one place.

```
ROOT/
  foa_dev/<split>/<name>.wav        4-channel FOA (ACN W,Y,Z,X, SN3D), 24 kHz
  mic_dev/<split>/<name>.wav        4-channel tetrahedral array, 24 kHz
  binaural_dev/<split>/<name>.wav   2-channel binaural render of foa_dev (wav_convertor.py)
  metadata_dev/<split>/<name>.csv   DCASE labels: frame,class,source,azimuth,elevation[,distance_cm]
  video_dev/<split>/<name>.mp4      equirectangular 360-degree video
  video_<W>x<H>_dev/<split>/<name>.mp4  resized copies (resize_video.py)
  detections_dev/<split>/<name>.csv person detections per label frame (util/detection_io.py)
  list_dataset/*.txt                split lists like the official ones
  foa_eval/<name>.wav ...           evaluation set (no labels, no split folders)
```
Splits are `dev-train-<room set>` and `dev-test-<room set>`; names `fold3_room21_mix001` (fold3 = train,
fold4 = test). The synthetic dataset adds `dev-val-<room set>` (names `fold5_...`): validation clips for model
selection, held apart from the reported dev-test split; STARSS23 has none (the official practice validates on
fold4 = dev-test, see docs/TRAINING.md). Sibling files are found by split and name, never by rewriting paths as
strings.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from util.conventions import TEST_FOLD, TRAIN_FOLD, VAL_FOLD

AUDIO_FORMATS: tuple[str, ...] = ("foa", "mic", "binaural")
AUDIO_CHANNELS: dict[str, int] = {"foa": 4, "mic": 4, "binaural": 2}
SPLIT_PREFIX: dict[str, str] = {"train": "dev-train", "val": "dev-val", "test": "dev-test"}
#: Every split a recording can belong to (``eval``: the evaluation set, no split folders).
SPLITS: tuple[str, ...] = ("train", "val", "test", "eval")
#: The split of a recording in a flat folder, from the fold its name starts with.
FOLD_SPLITS: dict[str, str] = {"train": TRAIN_FOLD, "val": VAL_FOLD, "test": TEST_FOLD}


@dataclass(frozen=True, order=True)
class Recording:
    """One recording: its split folder (e.g. ``dev-train-sony``; empty for flat folders) and file stem."""

    split_dir: str
    name: str

    @property
    def split(self) -> str:
        """``train``, ``val`` or ``test`` from the split folder, else the fold in the name, else ``eval``."""
        for split, prefix in SPLIT_PREFIX.items():
            if self.split_dir.startswith(prefix):
                return split
        for split, fold in FOLD_SPLITS.items():
            if self.name.startswith(fold):
                return split
        return "eval"


class DatasetLayout:
    """Paths of every kind of file of a STARSS23-format dataset rooted at ``root``."""

    def __init__(self, root: str | Path, stage: str = "dev"):
        self.root = Path(root)
        self.stage = stage

    def audio_dir(self, fmt: str) -> Path:
        if fmt not in AUDIO_FORMATS:
            raise ValueError(f"unknown audio format {fmt!r}; choose from {AUDIO_FORMATS}")
        return self.root / f"{fmt}_{self.stage}"

    @property
    def metadata_dir(self) -> Path:
        return self.root / f"metadata_{self.stage}"

    @property
    def video_dir(self) -> Path:
        return self.root / f"video_{self.stage}"

    def resized_video_dir(self, width: int, height: int) -> Path:
        return self.root / f"video_{width}x{height}_{self.stage}"

    @property
    def detection_dir(self) -> Path:
        return self.root / f"detections_{self.stage}"

    @property
    def list_dir(self) -> Path:
        return self.root / "list_dataset"

    def audio_path(self, fmt: str, rec: Recording) -> Path:
        return self.audio_dir(fmt) / rec.split_dir / f"{rec.name}.wav"

    def metadata_path(self, rec: Recording) -> Path:
        return self.metadata_dir / rec.split_dir / f"{rec.name}.csv"

    def video_path(self, rec: Recording, size: tuple[int, int] | None = None) -> Path:
        folder = self.video_dir if size is None else self.resized_video_dir(*size)
        return folder / rec.split_dir / f"{rec.name}.mp4"

    def detection_path(self, rec: Recording) -> Path:
        return self.detection_dir / rec.split_dir / f"{rec.name}.csv"

    def recordings(self, fmt: str, split: str | None = None) -> list[Recording]:
        """Recordings that have audio of ``fmt``, optionally only those of split ``train``/``test``/``eval``."""
        return list_recordings(self.audio_dir(fmt), ".wav", split)


def list_recordings(folder: str | Path, suffix: str, split: str | None = None) -> list[Recording]:
    """Files ``folder/<split_dir>/<name><suffix>`` (or flat ``folder/<name><suffix>``) as sorted Recordings."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.rglob(f"*{suffix}"):
        if path.name.startswith("."):
            continue  # temporary files of interrupted writes
        rel = path.relative_to(folder)
        split_dir = rel.parent.as_posix() if rel.parent != Path(".") else ""
        rec = Recording(split_dir, path.stem)
        if split is None or rec.split == split:
            found.append(rec)
    return sorted(found)

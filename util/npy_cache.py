"""Per-recording ``.npy`` cache folders: the machinery shared by the feature, visual-vector and frame caches.

Layout of every such folder::

    <folder>/
      config.json                         the settings the cache was built with (``meta``)
      <array_dir>/<split_dir>/<name>.npy  one memory-mappable array per recording (more kinds may sit beside it)
      stamps/<split_dir>/<name>.json      what the array was made from; it is redone when that changes

Subclasses of :class:`RecordingArrayCache` name their array folder and how to build one (error messages);
the helpers below write arrays and stamps atomically and skip recordings whose stamp still matches.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
from tqdm import tqdm

from util.errors import InputError
from util.fileio import atomic_path, write_text_atomic
from util.layout import Recording, list_recordings

CONFIG_FILE = "config.json"
STAMP_DIR = "stamps"

_Cache = TypeVar("_Cache", bound="RecordingArrayCache")


# ---------------------------------------------------------------------------------------------------------
# arrays and stamps

def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """``np.save`` under a temporary name, renamed when complete."""
    with atomic_path(path) as tmp:
        np.save(tmp, array)


def load_npy(path: Path, what: str) -> np.ndarray:
    """Memory-map a cached ``.npy``; InputError when missing or corrupt (``what`` names the cache)."""
    if not path.is_file():
        raise InputError(path, f"not in the {what} cache")
    try:
        return np.load(path, mmap_mode="r")
    except ValueError as exc:
        raise InputError(path, f"corrupt cache file ({exc})") from exc


def source_stamp(path: Path) -> dict[str, int]:
    """Size and modification time of a source file; a cached output is redone when they change."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def stamp_matches(output: Path, stamp_path: Path, expected: Any) -> bool:
    """Whether ``output`` exists and the JSON stamp beside it equals ``expected``."""
    if not output.is_file() or not stamp_path.is_file():
        return False
    try:
        return json.loads(stamp_path.read_text()) == expected
    except (json.JSONDecodeError, OSError):
        return False


def is_current(output: Path, stamp_path: Path, source: Path) -> bool:
    """Whether ``output`` exists and was made from ``source`` as it is now."""
    return stamp_matches(output, stamp_path, source_stamp(source))


def write_stamp(stamp_path: Path, value: Any) -> None:
    """Write a JSON stamp atomically (after its output is complete)."""
    write_text_atomic(stamp_path, json.dumps(value))


def raise_failures(failures: list[InputError], total: int) -> None:
    """Raise one InputError summarising per-recording failures of a cache build (none -> no-op)."""
    if failures:
        first = failures[0]
        raise InputError(first.path, f"{first.problem} ({len(failures)} of {total} recordings failed; "
                                     "the others are cached)")


def fit_frames(x: np.ndarray, num_frames: int) -> np.ndarray:
    """Crop or zero-pad ``x`` along axis 0 to ``num_frames`` (visual inputs -> the audio's label frames)."""
    if x.shape[0] >= num_frames:
        return x[:num_frames]
    pad = np.zeros((num_frames - x.shape[0], *x.shape[1:]), dtype=x.dtype)
    return np.concatenate([np.asarray(x), pad], axis=0)


# ---------------------------------------------------------------------------------------------------------
# the folder

def settings_key(settings: dict[str, Any]) -> str:
    """12 hex digits of the SHA-256 of ``settings`` as sorted JSON: the key in a cache folder's name."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def write_config(folder: Path, meta: dict[str, Any], end: str = "") -> None:
    """Write ``config.json`` of a new cache folder (an existing one is left as it is)."""
    if not (folder / CONFIG_FILE).is_file():
        write_text_atomic(folder / CONFIG_FILE, json.dumps(meta, indent=2) + end)


def read_config(folder: str | Path, kind: str, hint: str) -> dict[str, Any]:
    """The ``config.json`` of a cache folder; InputError if absent (``not a <kind> cache ...; <hint>``) or corrupt."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise InputError(folder, f"not a {kind} cache (no {CONFIG_FILE}); {hint}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(path, f"corrupt cache config ({exc})") from exc


class RecordingArrayCache:
    """Read access to a cache folder of one ``.npy`` per recording (see the module docstring).

    Subclasses set ``kind`` (error messages), ``array_dir`` (folder of the main arrays) and ``build_hint``.
    """

    kind: ClassVar[str] = "array"
    array_dir: ClassVar[str] = "arrays"
    build_hint: ClassVar[str] = "build it first"

    def __init__(self, folder: str | Path, meta: dict[str, Any]):
        self.folder = Path(folder)
        self.meta = meta

    @classmethod
    def open(cls: type[_Cache], folder: str | Path) -> _Cache:
        """Open an existing cache folder; InputError if it is not one."""
        return cls(folder, read_config(folder, cls.kind, cls.build_hint))

    def npy_path(self, subdir: str, rec: Recording) -> Path:
        """``<folder>/<subdir>/<split_dir>/<name>.npy``."""
        return self.folder / subdir / rec.split_dir / f"{rec.name}.npy"

    def array_path(self, rec: Recording) -> Path:
        """Path of a recording's main array."""
        return self.npy_path(self.array_dir, rec)

    def stamp_path(self, rec: Recording) -> Path:
        """Path of a recording's stamp."""
        return self.folder / STAMP_DIR / rec.split_dir / f"{rec.name}.json"

    def prune(self, keep: Iterable[Recording]) -> list[Recording]:
        """Delete every cached file (arrays of all kinds, stamps) of recordings not in ``keep``, e.g. those of a
        dataset that was regenerated with other clips; returns the removed recordings."""
        keep = set(keep)
        gone = [rec for rec in self.recordings() if rec not in keep]
        for rec in gone:
            for sub in self.folder.iterdir():
                if sub.is_dir() and sub.name != STAMP_DIR:
                    self.npy_path(sub.name, rec).unlink(missing_ok=True)
            self.stamp_path(rec).unlink(missing_ok=True)
        return gone

    def recordings(self, split: str | None = None) -> list[Recording]:
        """Recordings with a cached array, optionally of one split (``train``, ``test``, ``eval``)."""
        return list_recordings(self.folder / self.array_dir, ".npy", split)

    def load(self, path: Path) -> np.ndarray:
        """Memory-map one of this cache's arrays; InputError when missing or corrupt."""
        return load_npy(path, self.kind)

    def array(self, rec: Recording, num_frames: int | None = None) -> np.ndarray:
        """A recording's main array, memory-mapped; cropped / zero-padded along axis 0 to ``num_frames`` if given."""
        x = self.load(self.array_path(rec))
        return x if num_frames is None else fit_frames(x, num_frames)


def update_from_sources(cache: RecordingArrayCache, recordings: Iterable[Recording],
                        source_of: Callable[[Recording], Path], make: Callable[[Path, Path], Any],
                        desc: str, unit: str = "rec", progress: bool = True) -> None:
    """Bring the arrays of ``recordings`` up to date with their source files (and drop cached recordings whose
    source file is gone).

    ``make(source, output)`` writes one array atomically (InputError on bad input). Recordings whose stamp
    matches their source are skipped; a failing recording does not stop the others, and one InputError
    summarising the failures is raised at the end.
    """
    recs = list(recordings)
    cache.prune(rec for rec in cache.recordings() if source_of(rec).is_file())
    failures: list[InputError] = []
    for rec in tqdm(recs, desc=desc, unit=unit, disable=not progress):
        source = source_of(rec)
        out, stamp = cache.array_path(rec), cache.stamp_path(rec)
        if is_current(out, stamp, source):
            continue
        try:
            make(source, out)
        except InputError as exc:
            tqdm.write(f"error: {exc}")
            failures.append(exc)
            continue
        write_stamp(stamp, source_stamp(source))
    raise_failures(failures, len(recs))

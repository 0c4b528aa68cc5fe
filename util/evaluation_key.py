"""What an evaluation depends on, recorded beside its metrics so that a cached table is reused only for the very
same request.

``seld.py evaluate --cached`` (used by the recipes) writes ``OUT/evaluation.json`` after ``OUT/metrics.json``: the
SHA-256 of every checkpoint's *content* (not its time stamp), the dataset (absolute path and the size and
modification time of every audio, metadata and detection file of the split), the split, the metric and every
inference setting. A later request reuses ``metrics.json`` only when its key is equal; anything else evaluates
again (the old ``evaluation.json`` is removed first, so an interrupted evaluation is never taken for a finished
one).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from util.fileio import write_text_atomic
from util.layout import DatasetLayout, Recording

#: name of the record beside metrics.json
KEY_FILE: str = "evaluation.json"
#: bump when the key's contents change (an older record never matches)
KEY_VERSION: int = 1


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _split_files(folder: Path, split: str) -> list[Path]:
    """The files of recordings of ``split`` under ``folder`` (split folders, or a flat folder by fold), sorted."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            rel = path.relative_to(folder)
            if Recording(rel.parent.as_posix() if rel.parent != Path(".") else "", path.stem).split == split:
                found.append(path)
    return sorted(found)


def dataset_fingerprint(data_dir: str | Path, audio_format: str, split: str) -> str:
    """SHA-256 over (relative path, size, modification time) of every audio, metadata and detection file of the
    split: a regenerated or edited dataset gets another fingerprint."""
    layout = DatasetLayout(data_dir)
    digest = hashlib.sha256()
    for folder in (layout.audio_dir(audio_format), layout.metadata_dir, layout.detection_dir):
        for path in _split_files(folder, split):
            st = path.stat()
            digest.update(f"{path.relative_to(layout.root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def evaluation_key(checkpoints: Sequence[str | Path], data_dir: str | Path, audio_format: str, split: str,
                   metric: str, inference: dict[str, Any]) -> dict[str, Any]:
    """Everything the printed table of one evaluation depends on (JSON-serialisable)."""
    return {
        "version": KEY_VERSION,
        "checkpoints_sha256": [file_sha256(c) for c in checkpoints],
        "data_dir": str(Path(data_dir).resolve()),
        "dataset_fingerprint": dataset_fingerprint(data_dir, audio_format, split),
        "split": split,
        "metric": metric,
        "inference": dict(sorted(inference.items())),
    }


def read_key(out_dir: str | Path) -> dict[str, Any] | None:
    """The key recorded in ``out_dir`` (None when absent or unreadable)."""
    try:
        return json.loads((Path(out_dir) / KEY_FILE).read_text()).get("key")
    except (OSError, ValueError, AttributeError):
        return None


def is_current(out_dir: str | Path, key: dict[str, Any]) -> bool:
    """Whether ``out_dir/metrics.json`` was written for exactly ``key``."""
    return (Path(out_dir) / "metrics.json").is_file() and read_key(out_dir) == json.loads(json.dumps(key))


def forget_key(out_dir: str | Path) -> None:
    """Remove the record (before an evaluation overwrites the outputs it describes)."""
    (Path(out_dir) / KEY_FILE).unlink(missing_ok=True)


def write_key(out_dir: str | Path, key: dict[str, Any], checkpoints: Iterable[str | Path]) -> None:
    """Record ``key`` (and, for the reader, the checkpoint paths) beside ``out_dir/metrics.json``."""
    record = {"key": key, "checkpoints": [str(Path(c).resolve()) for c in checkpoints]}
    write_text_atomic(Path(out_dir) / KEY_FILE, json.dumps(record, indent=1) + "\n")

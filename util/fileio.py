"""Atomic file writing: outputs appear under their final name only when complete, with the permissions an
ordinary ``open(path, "w")`` would give them (``0666 & ~umask``: 0644 under umask 022), not mkstemp's 0600."""
from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

#: Mode of a new file before the umask, as ``open()`` creates it.
FILE_MODE: int = 0o666
_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where ``/proc/self/status`` says it (Linux), else by the
    set-and-restore idiom under a lock."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds, delete it otherwise.

    The temporary name keeps the final suffix (so libraries that infer the format from it still work); the
    file gets mode ``0666 & ~umask`` and missing parent folders are made with the umask's default mode.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE & ~current_umask())
    finally:
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)

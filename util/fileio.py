"""Atomic file writing: outputs appear under their final name only when complete, with the permissions an
ordinary ``open(path, "w")`` would give them (``0666 & ~umask``: 0644 under umask 022), not mkstemp's 0600."""
from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from util.errors import InputError

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


def make_folder(path: str | Path, what: str = "output folder") -> list[Path]:
    """Create ``path`` and its missing parents (umask modes) and check that files can be written there; returns
    the folders it created, outermost first. InputError naming the folder when it cannot be made or written."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    if path.exists() and not path.is_dir():
        raise InputError(path, f"cannot create the {what}: a file of that name exists")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        remove_empty_folders([m for m in reversed(missing) if m.is_dir()])
        raise InputError(path, f"cannot create the {what} ({exc.strerror or exc})") from None
    return list(reversed(missing))


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove ``folders`` (outermost first, as :func:`make_folder` returns them) innermost first, stopping at the
    first one that is not empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def output_folder(path: str | Path, what: str = "output folder") -> Iterator[Path]:
    """:func:`make_folder` up front (so a folder that cannot be made is reported before any work), and, if the
    block fails, remove the folders made here again while they are still empty."""
    created = make_folder(path, what)
    try:
        yield Path(path)
    except BaseException:
        remove_empty_folders(created)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)

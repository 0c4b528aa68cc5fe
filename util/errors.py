"""The project's user-facing error: one clear line that names the file and the problem."""
from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad user input (missing file, wrong format, corrupt data). Command-line tools print it as one line
    and exit with a non-zero status."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)

    def __reduce__(self):  # picklable, so worker processes can raise it to the parent
        return type(self), (self.path, self.problem)

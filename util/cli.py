"""Command-line entry points: user errors (InputError) become one line ``error: ...`` and exit status 2."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from util.errors import InputError

#: exit status of a command that stopped on bad input
INPUT_ERROR_STATUS: int = 2


def run_main(func: Callable[..., int], *args: Any, **kwargs: Any) -> int:
    """``func(*args, **kwargs)``'s exit status; an InputError is printed to stderr as ``error: ...`` -> 2."""
    try:
        return func(*args, **kwargs)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return INPUT_ERROR_STATUS

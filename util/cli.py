"""Command-line entry points: user errors (InputError) become one line ``error: ...`` and exit status 2; the
help formatter every command uses (defaults shown, former flag spellings hidden) and the flags every command
shares (``--quiet``).

The one vocabulary of the commands: ``--data-dir`` the dataset read, ``--out`` the folder (or file) written,
``--split`` one of train | val | test (| all where a command can take every split), ``--quiet`` no progress bars.
Former spellings (:data:`HIDDEN_ALIASES`) still parse and are left out of ``--help``."""
from __future__ import annotations

import argparse
import copy
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


#: the values of ``--split`` where a command can take every split; commands of one split leave out ``all``
SPLIT_CHOICES: tuple[str, ...] = ("train", "val", "test", "all")

#: former spellings of flags, still accepted, not shown in ``--help`` (-> the one vocabulary above)
HIDDEN_ALIASES: frozenset[str] = frozenset({"--no-progress", "--src", "--dst", "--splits"})


def add_quiet_argument(parser: argparse.ArgumentParser, what: str = "no progress bars") -> None:
    """``--quiet`` (dest ``quiet``); the former ``--no-progress`` is a hidden alias."""
    parser.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true", help=what)


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` that shows every option's default: ``(default: X)`` after its help text, unless the text
    already speaks of its default or there is no value to show (None, an unset flag, an empty list); the
    description and epilog keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        nothing = action.default is None or action.default is False or action.default is argparse.SUPPRESS \
            or (isinstance(action.default, (list, str)) and not action.default)
        shown = nothing or "default" in text.lower()
        if shown or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"

    def _format_action_invocation(self, action: argparse.Action) -> str:
        shown = [s for s in action.option_strings if s not in HIDDEN_ALIASES]
        if len(shown) == len(action.option_strings):
            return super()._format_action_invocation(action)
        visible = copy.copy(action)
        visible.option_strings = shown
        return super()._format_action_invocation(visible)

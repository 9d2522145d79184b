"""Entry-point glue shared by `python -m seeder` and `python -m trainer`."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping

from labcore.errors import LabError
from labcore.settings import read_environment

# "[env NAME]" or "[env NAME, default VALUE]" in a flag's help.
_ENV_HINT = re.compile(r"\[env ([A-Z0-9_]+)(?:, default ([^\]]+))?\]")


def root_message(exc: BaseException) -> str:
    """The original message of ``exc``, also when a DataLoader worker re-raised it.

    PyTorch re-raises a worker's exception in the main process with the worker's whole traceback
    in the message; the user needs only its last line, the original error.
    """
    text = str(exc)
    if "Original Traceback" not in text:
        return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    last = [line for line in text.splitlines() if line.strip()][-1]
    name, _, message = last.partition(": ")
    if message and ("." in name or name.endswith(("Error", "Exception"))):
        return message
    return last


def run(prog: str, main: Callable[[], int | None]) -> None:
    """Run ``main`` and turn known failures into one line on stderr and a nonzero exit.

    Configuration and data mistakes are expected input, so the user gets the message that says
    what to change, not a traceback. Anything else is a bug and keeps its traceback.
    """
    try:
        code = main()
    except LabError as exc:
        # A quiet error was already reported by another process (rank 0 of a torchrun job).
        if not getattr(exc, "quiet", False):
            print(f"{prog}: error: {root_message(exc)}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def show_current_values(parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None) -> None:
    """Make ``--help`` show each flag's "[env NAME, default X]" as "[env NAME, now V]", V being
    what a run here gets: the environment, then .env.local, then .env (``environ`` in tests), else X.

    A default written in the help would be wrong as soon as .env.local or the environment sets it.
    The files are read when help is printed, not at every parse: a run reads them once, in
    ``load_settings``.
    """
    plain = parser.format_help

    def format_help() -> str:
        env = read_environment() if environ is None else environ

        def current(match: re.Match) -> str:
            value = (env.get(match[1]) or "").strip() or match[2]
            # argparse %-formats help strings: a % in a value (a URL) must stay itself.
            return f"[env {match[1]}, now {value}]".replace("%", "%%") if value else f"[env {match[1]}]"

        for action in parser._actions:
            if action.help:
                action.help = _ENV_HINT.sub(current, action.help)
        return plain()

    parser.format_help = format_help  # type: ignore[method-assign]


def say_notes(prog: str, notes: tuple[str, ...]) -> None:
    """One line on stderr per note of the settings (an old variable name that was read)."""
    for note in notes:
        print(f"{prog}: note: {note}", file=sys.stderr, flush=True)

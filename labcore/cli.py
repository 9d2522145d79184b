"""Entry-point glue shared by `python -m seeder` and `python -m trainer`."""

from __future__ import annotations

import sys
from collections.abc import Callable

from labcore.errors import LabError


def run(prog: str, main: Callable[[], int | None]) -> None:
    """Run ``main`` and turn known failures into one line on stderr and a nonzero exit.

    Configuration and data mistakes are expected input, so the user gets the message that says
    what to change, not a traceback. Anything else is a bug and keeps its traceback.
    """
    try:
        code = main()
    except LabError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)

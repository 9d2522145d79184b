"""Errors that reach the user as one line, never as a traceback."""

from __future__ import annotations


class LabError(Exception):
    """A problem the user can fix; its message is the whole report."""

    exit_code = 1
    # True when another process already printed this error (see trainer.distributed.Echo).
    quiet = False


class ConfigError(LabError):
    """A configuration mistake: found before any work starts, names the variable and the fix."""

    exit_code = 2


class DataError(LabError):
    """Source data that cannot be read or does not have the expected format."""


class StoreError(LabError):
    """The object store could not be reached or refused a request."""


class AdminApiError(StoreError):
    """A store's admin API refused a call: one line for the user, and the store's own ``code``
    (``EntityAlreadyExists``, ``NoSuchAccessKey``, ...) for the backend to decide on."""

    def __init__(self, line: str, code: str):
        super().__init__(line)
        self.code = code

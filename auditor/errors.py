"""User-facing errors. Each carries one actionable line; the CLI maps them to exit code 2."""

from __future__ import annotations


class AuditorError(Exception):
    """Bad usage or bad input: the message says what is wrong and what to do."""

    exit_code = 2


class ModelError(AuditorError):
    """A model file is unreadable, hostile or outside the limits."""


class ConventionError(AuditorError):
    """The model's input or output convention cannot be decided or is not supported."""


class DataError(AuditorError):
    """An input data file is unreadable or does not fit the model."""


class ConfigError(AuditorError):
    """An audit config is invalid."""


class ArgumentError(AuditorError, ValueError):
    """A library function was called with an argument it cannot use (Python callers, not files)."""


class DeviceError(AuditorError):
    """The requested execution device is not available."""


class NotFinished(AuditorError):
    """A check's work stopped before its end (a spent budget or time limit, a unit whose worker died twice);
    the audit reports the check as not finished, with this line as the reason, and goes on."""


class Interrupted(AuditorError):
    """The run was stopped by a signal; nothing partial was written."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

"""Exit codes and the one exception root of the project.

Every error carries the fields a user needs to act on it (the file, the line, what was wrong,
how to fix it); the message is built from those fields in one place, :meth:`AuditorError.__str__`.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, following diff(1): 0 same, 1 different, 2 trouble."""

    OK = 0
    """Every source was read completely and nothing expected is missing."""
    DRIFT = 1
    """Something expected is missing (or another finding the run was asked to fail on)."""
    TROUBLE = 2
    """A source failed or was partial or stale, bad input, bad usage, or a lock was held."""


STATUS_CODES = {"in-sync": ExitCode.OK, "drift": ExitCode.DRIFT, "incomplete": ExitCode.TROUBLE}
"""The exit code of an audit's outcome (``model.Status``, whose values these are)."""


class AuditorError(Exception):
    """Root of every error the project raises on purpose."""

    exit_code: ExitCode = ExitCode.TROUBLE

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
        self.hint = hint

    def __str__(self) -> str:
        where = ""
        if self.source is not None:
            where = self.source if self.line is None else f"{self.source}:{self.line}"
            where += ": "
        text = where + self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class AddressError(AuditorError, ValueError):
    """A string is not a valid address, network or range (no file context yet)."""


class InputError(AuditorError):
    """A file or stream could not be read, or its content is not valid for its format."""


class UsageError(AuditorError):
    """The command line asks for something inconsistent or unknown."""

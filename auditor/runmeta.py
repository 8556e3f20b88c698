"""What a report says about the run that made it: the tool's version, the command line with its
secrets elided, the host, when the run started and how long it took.

A command records its start once (:func:`begin`, given the arguments it was called with); the
report's context takes :func:`finish`, the start and the time spent until then. The command line
is shown as given, except for what would leak a secret into a file that is attached to a change
request: the userinfo of a URL (``https://user:pass@host``), the values of query parameters
named like a secret (``token``, ``api_key``, ``sig``, ``X-Amz-Signature``, ...), and the value
of an option named like one (``--password X``, ``--api-key=X``, ``--header 'Authorization: X'``).
Each becomes :data:`ELIDED`.

Kept light: imported by every report, it needs neither Typer nor the network.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from auditor import __version__

TOOL = "allowlist-auditor"
PROGRAM = "auditor"
ELIDED = "***"
"""What a secret is replaced with."""

# (patterns, compiled by re's cache when a report first shows the metadata: a run that shows
# none, -o cidr, does not pay for them)
_SENSITIVE = r"(?i)pass|secret|token|key|auth|credential|cookie|session|sig|bearer|private|header"
"""An option or query parameter whose name says it carries a secret."""
_URL = r"(?i)\b([a-z][a-z0-9+.-]*://)([^/?#\s]*@)?([^?#\s]*)(\?[^#\s]*)?"


def _query(query: str) -> str:
    """``?a=1&token=x`` with the values of the parameters named like a secret elided."""
    parts = []
    for part in query[1:].split("&"):
        name, eq, value = part.partition("=")
        if eq and value and re.search(_SENSITIVE, name):
            value = ELIDED
        parts.append(name + eq + value)
    return "?" + "&".join(parts)


def _url(match: re.Match[str]) -> str:
    scheme, userinfo, rest, query = match.groups()
    return scheme + (ELIDED + "@" if userinfo else "") + rest + (_query(query) if query else "")


def elide_text(text: str) -> str:
    """``text`` with the secrets of every URL in it elided."""
    return re.sub(_URL, _url, text) if "://" in text else text


def elide(args: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """A command line's arguments with their secrets elided (see the module's text)."""
    out: list[str] = []
    secret_value = False
    for arg in args:
        if secret_value and not arg.startswith("-"):
            out.append(ELIDED)
            secret_value = False
            continue
        secret_value = False
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg.partition("=")
            if re.search(_SENSITIVE, name):
                if eq:
                    out.append(f"{name}={ELIDED}")
                else:
                    out.append(arg)
                    secret_value = True
                continue
        out.append(elide_text(arg))
    return tuple(out)


@dataclass(frozen=True)
class RunStart:
    """When and how a command was started."""

    args: tuple[str, ...]
    """The arguments after the program's name, as given (secrets not yet elided)."""
    started: float
    """Seconds since the epoch: SOURCE_DATE_EPOCH when set (as every time a report shows,
    :func:`auditor.model.reading_time`), else the clock."""
    clock: float
    """:func:`time.monotonic` at the start, for the duration."""


@dataclass(frozen=True)
class RunMeta:
    """The run a report comes from, as the report shows it."""

    version: str
    command: tuple[str, ...]
    """The program and its arguments, secrets elided."""
    host: str
    started: str
    """ISO 8601, UTC, to the second: ``2024-05-01T12:00:00Z``."""
    duration_s: float
    """Seconds from the start to the report, to the millisecond."""
    tool: str = TOOL

    @property
    def command_line(self) -> str:
        """The command as a shell would take it back."""
        import shlex

        return shlex.join(self.command)

    @property
    def duration_text(self) -> str:
        return f"{self.duration_s:.3f} s"


_current: RunStart | None = None


def begin(args: list[str] | tuple[str, ...]) -> RunStart:
    """Record the start of the command run with ``args`` (the arguments after the program's
    name)."""
    global _current
    import os

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    started = int(epoch) if epoch.isdigit() else time.time()
    _current = RunStart(tuple(args), started, time.monotonic())
    return _current


def current() -> RunStart:
    """The start :func:`begin` recorded, or, when no command recorded one (a library caller),
    the process's own arguments, starting now."""
    if _current is None:
        import sys

        return begin(sys.argv[1:])
    return _current


def finish(start: RunStart | None = None) -> RunMeta:
    """The metadata of the run that started with ``start`` (default: :func:`current`), its
    duration measured until now."""
    import socket

    start = start or current()
    duration = max(0.0, time.monotonic() - start.clock)
    return RunMeta(
        version=__version__,
        command=(PROGRAM, *elide(start.args)),
        host=socket.gethostname(),
        started=datetime.fromtimestamp(int(start.started), timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        duration_s=round(duration, 3),
    )

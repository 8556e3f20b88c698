"""What the commands print: stderr lines made safe for a terminal, and the delivery of a run's
output to stdout or to a file others read."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)} | {
    c: f"\\u{c:04x}" for c in (0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}


def err(message: str) -> None:
    """One line on stderr; control characters from file names or inputs are shown escaped,
    so a crafted name cannot drive the terminal, and the secrets of a URL in it (a password,
    a token in the query) are elided: cron mails stderr, and logs keep it."""
    if "://" in message:
        from auditor.runmeta import elide_text

        message = elide_text(message)
    sys.stderr.write(message.translate(_CONTROL) + "\n")


def clean(text: str) -> str:
    """A catalog of the user's own is input: no control characters reach the terminal."""
    return text.translate(_CONTROL)


def is_terminal() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def write(text: str | Iterable[str], output_file: Path | None) -> None:
    """Write ``text``, or its pieces as they are made: to stdout, or to a file, atomically (a
    temporary file renamed over it once complete)."""
    pieces = [text] if isinstance(text, str) else text
    if output_file is None:
        for piece in pieces:
            sys.stdout.write(piece)
        sys.stdout.flush()
        return
    from auditor.errors import InputError
    from auditor.fsutil import atomic_write

    try:
        atomic_write(output_file, (piece.encode("utf-8") for piece in pieces))
    except OSError as e:
        raise InputError(
            f"cannot write the report: {e.strerror}",
            source=str(output_file),
            hint="check that the directory exists and is writable",
        ) from None


_ROWS_ONLY = frozenset({"cidr", "csv"})
"""Outputs whose rows cannot say that the run was incomplete."""


def deliver(
    text: str | Iterable[str],
    output_file: Path | None,
    *,
    output: str,
    quiet: bool,
    incomplete: str | None,
) -> None:
    """Print or write a run's output. ``incomplete`` says why the run was not complete (it
    exits 2), or is None. A file others read (a firewall's include, a cron artefact) is never
    replaced by an incomplete run: it keeps its last good content. On stdout, a report that
    states its own completeness still goes out (unless --quiet); ``cidr`` and ``csv`` cannot (a
    spreadsheet or a pipe reads their rows alone), so an incomplete run prints nothing rather
    than a list that looks complete. ``text`` may come in pieces, made only if written."""
    if output_file is not None:
        if incomplete is None:
            write(text, output_file)
            return
        err(f"error: not written: {incomplete}; {output_file} keeps its previous content")
    if quiet:
        return
    if incomplete is not None and output in _ROWS_ONLY:
        if output_file is None:
            err(
                f"error: nothing printed: {incomplete}; a {output} list cannot say it is"
                " incomplete (-o json or -o text can)"
            )
        return
    write(text, None)

"""``auditor diff`` in its plainest form, run without Typer.

Loading Typer (and Click under it) is a fifth of a 10,000-line diff. The command line of the
nightly job is mostly ``auditor diff -e SOURCE -d SOURCE [-o FORMAT] [--output-file FILE]
[-q]``: that form is read here, into the same :class:`auditor.cli.options.Options` Typer
would make, and run by the same code (:mod:`auditor.cli.diffing`). Anything else, an option
not listed here, a value that starts with ``-``, an option given twice that takes one value,
a missing side, goes to Typer, which also words every usage error.
"""

from __future__ import annotations

import os
from typing import Any

from auditor.cli.commands import COMPLETION

_VALUES = {
    "-e": "expected",
    "--expected": "expected",
    "-d": "declared",
    "--declared": "declared",
    "-o": "output",
    "--output": "output",
    "--output-file": "output_file",
}
"""The options read here that take a value, by their names on the command line."""
_FLAGS = {"-q": "quiet", "--quiet": "quiet"}
_REPEATABLE = ("expected", "declared")


def plain_diff(args: list[str]) -> dict[str, Any] | None:
    """The parameters of ``auditor ARGS`` when it is a diff of the plainest form, else None."""
    if not args or args[0] != "diff" or COMPLETION in os.environ:
        return None
    given: dict[str, Any] = {"expected": [], "declared": []}
    i = 1
    while i < len(args):
        arg = args[i]
        if arg in _FLAGS:
            given[_FLAGS[arg]] = True
            i += 1
            continue
        name = _VALUES.get(arg)
        if name is None or i + 1 >= len(args):
            return None
        value = args[i + 1]
        if not value or (value.startswith("-") and value != "-"):
            return None  # Typer says what it makes of that
        if name in _REPEATABLE:
            given[name].append(value)
        elif name in given:
            return None
        else:
            given[name] = value
        i += 2
    if not given["expected"] or not given["declared"]:
        return None
    return given


def run(args: list[str]) -> None:
    """Run ``auditor ARGS`` when it is a plain diff (ends with SystemExit); else return."""
    given = plain_diff(args)
    if given is None:
        return
    from pathlib import Path

    from auditor import runmeta
    from auditor.cli import diffing
    from auditor.cli.options import Options
    from auditor.cli.outcome import guard

    runmeta.begin(args)
    if "output_file" in given:
        given["output_file"] = Path(given["output_file"])
    opts = Options.of(given, debug=False)
    four, six = diffing.OVER_BROAD_V4, diffing.OVER_BROAD_V6
    guard(lambda: diffing.run(opts, [], False, four, six), False, plain=True)

"""The command line. Thin: build loaders, call the library, render, map to an exit code.

One module per command, listed in :mod:`auditor.cli.commands`; the options they share are
declared in :mod:`auditor.cli.params` and gathered into :class:`auditor.cli.options.Options`.
The Typer application is :mod:`auditor.cli.group` (``auditor.cli.app``). ``auditor --help``
is printed from the command table without Typer, and heavy modules are imported inside the
commands, so that starting stays fast.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself is not imported: it costs more than this whole path
if TYPE_CHECKING:
    import typer

    app: typer.Typer


def __getattr__(name: str) -> object:
    # ``from auditor.cli import app``: the application with every command, built on first use
    if name == "app":
        from auditor.cli.group import application

        globals()["app"] = built = application()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    from auditor.cli.commands import answer

    code = answer(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    import gc

    # A run builds hundreds of thousands of small acyclic objects (entries, rules, segments)
    # and then exits; the cyclic collector's default thresholds would walk them over and over
    # (half the time of a 50,000-rule export). Collect rarely instead.
    gc.set_threshold(200_000, 50, 100)
    from auditor.cli import quick

    quick.run(sys.argv[1:])  # the plainest diff, without Typer: ends the run when it is one
    from auditor.cli.group import application, command_named

    name = command_named(sys.argv[1:])
    application(None if name is None else [name])(prog_name="auditor")


def main() -> None:
    """The program (``auditor``, ``python -m auditor``): :func:`run`, then out without the
    interpreter's teardown, which would free every object of the run one by one (a third of
    a 10,000-line diff). Everything is done by then: reports written and renamed, the cache
    committed, the loader closed; only the standard streams still hold output, and they are
    flushed first. When they cannot be, the usual exit says so, as it always did."""
    try:
        run()
    except SystemExit as end:
        code = 0 if end.code is None else end.code
        if not isinstance(code, int):
            raise
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            raise end from None
        os._exit(code)

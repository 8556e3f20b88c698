"""The command table: every command's name and one-line summary, the top-level help and
options. Typer registers the commands from it (:mod:`auditor.cli.group`), and ``auditor``,
``auditor -h`` and ``auditor --version`` are answered from it without importing Typer or any
command: the interpreter starts, prints and exits.

Kept light on purpose: no Typer, no ``typing``, not even ``re``.
"""

from __future__ import annotations

import os
import sys

from auditor import __version__

COMMANDS: tuple[tuple[str, str], ...] = (
    (
        "diff",
        "Compare expected ranges with an allowlist: missing, partial, extra, over-broad, rules.",
    ),
    (
        "rules",
        "Rules that allow the CIDRs of a source: a text file, a saved JSON report, stdin, a"
        " provider, a URL or an SPF record (fetched as `auditor fetch` does).",
    ),
    ("fetch", "Load expected ranges (fetching and caching feeds) and print them."),
    (
        "explain",
        "For one address: whose it is, and whether each declared source allows it, with the"
        " rule or entry that decides (file:line and its text).",
    ),
    (
        "spf",
        "The SPF include tree of a domain, its lookup counts, what cannot be listed, and the"
        " addresses it authorises, each with its include chain.",
    ),
    (
        "providers",
        "The provider catalog: names, filters, feed URLs or SPF records, and where each provider"
        " documents them.",
    ),
    (
        "check",
        "Run every audit of a configuration file (cron mode): reports written atomically, a"
        " lock against overlapping runs, the drift since the last run with --state-dir.",
    ),
    ("history", "What changed in an audit of auditor check --state-dir, run by run."),
    ("formats", "What is built in: input formats, reports and rule platforms, and their aliases."),
    (
        "probe",
        "Connect to a mail server as a sending relay does (smtp HOST[:PORT]) and say how it"
        " ended: ok, refused, timeout, eof, rejected, tempfail, tls-failed, dns-failed.",
    ),
)
"""(name, summary) of every command, in help's order; the command is ``command`` in the module
``auditor.cli.NAME``, whose docstring continues the summary."""

EXIT_CODES_HELP = (
    "Exit codes: 0 every input was read completely and nothing is missing; "
    "1 drift (something is missing, an over-broad entry, or extras with --fail-on-extra); "
    "2 trouble (a source failed or was partial or stale, bad input, bad usage)."
)

SOURCE_HELP = (
    "A SOURCE is a file; file+FORMAT:PATH (a file in that format, whatever --format says;"
    " file+FORMAT:- for stdin); -; an https URL; a provider of the catalog, with filters"
    " (aws:service=EC2,region=eu-west-1; see: auditor providers); text:URL-OR-PATH;"
    " json:URL-OR-PATH#SELECTOR; or spf:DOMAIN."
)

EXAMPLES = (
    "auditor diff -e aws:service=AMAZON_SES -d /etc/postfix/main.cf",
    "auditor explain 192.0.2.10 -d iptables.rules -d ip6tables.rules",
    "auditor fetch github:section=hooks --output-file github.cidr",
    "auditor COMMAND -h",
)

APP_HELP = (
    "Audit IP allowlists against the ranges a provider sends from.\n\n"
    + SOURCE_HELP
    + "\n\n"
    + EXIT_CODES_HELP
    + "\n\n\b\nExamples:\n"
    + "\n".join("  " + example for example in EXAMPLES)
)
"""The top-level help (``\\b``: the examples keep their lines)."""

DEBUG_HELP = "Show tracebacks on errors (before or after the command)."
VERSION_HELP = "Show version."

OPTIONS: tuple[tuple[str, str], ...] = (
    ("--debug", DEBUG_HELP),
    ("--version", VERSION_HELP),
    ("--install-completion", "Install shell completion for the current shell."),
    ("--show-completion", "Print the shell completion script, to install it by hand."),
    ("-h, --help", "Show this help and exit."),
)
"""The options of ``auditor`` itself (the completion ones are Typer's)."""

_HELP_ARGS = (["-h"], ["--help"])
COMPLETION = "_AUDITOR_COMPLETE"
"""Set by the shell when it asks for completions: Typer answers those."""


def answer(args: list[str]) -> int | None:
    """The exit code when ``auditor ARGS`` is answered from the table (top-level help, the
    version; no arguments prints the help to stderr and exits 2, as Typer does), having
    printed the answer; None when Typer must run."""
    if COMPLETION in os.environ:
        return None
    if args == ["--version"]:
        return _say(f"auditor {__version__}\n", 0)
    if args in _HELP_ARGS:
        return _say(render_help(width()), 0)
    if not args:
        sys.stderr.write(render_help(width()))
        return 2
    return None


def _say(text: str, code: int) -> int:
    """Print on stdout; a reader that went away (``| head``) ends the run with 1, silently,
    as Typer does."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
        return 1
    return code


def width() -> int:
    """The width help is wrapped to: the terminal's (or $COLUMNS), at most 80, minus a margin."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 80
    return max(min(columns or 80, 80) - 2, 50)


def wrap(text: str, width: int, indent: str, hanging: str | None = None) -> list[str]:
    """Words of ``text`` filled into lines of at most ``width`` (a longer word has its own
    line); the first line starts with ``indent``, the others with ``hanging`` (or indent)."""
    lines: list[str] = []
    line = indent
    for word in text.split():
        if line.strip() and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = hanging if hanging is not None else indent
        line += (" " if line.strip() else "") + word
    lines.append(line)
    return lines


def _table(rows: tuple[tuple[str, str], ...], width: int) -> list[str]:
    """Two columns: the names, and their text wrapped beside them."""
    names = max(len(name) for name, _ in rows)
    out = []
    for name, text in rows:
        # wrap() puts a blank between the padded name and the first word
        out += wrap(text, width, f"  {name:<{names + 1}}", " " * (names + 4))
    return out


def render_help(width: int) -> str:
    """``auditor --help``: usage, what the tool does, its options and every command."""
    lines = ["Usage: auditor [OPTIONS] COMMAND [ARGS]...", ""]
    for paragraph in APP_HELP.split("\n\n"):
        if paragraph.startswith("\b\n"):
            lines += ["  " + line for line in paragraph[2:].splitlines()]
        else:
            lines += wrap(paragraph, width, "  ")
        lines.append("")
    lines += ["Options:", *_table(OPTIONS, width), "", "Commands:", *_table(COMMANDS, width)]
    return "\n".join(lines) + "\n"

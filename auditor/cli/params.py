"""The options and arguments the commands share, each declared once, and :func:`start`,
how every command runs from them.

Help text names the allowed values; those that come from a registry are listed here in the
order help shows them (the test suite checks them against the registries, which are not
imported to render help: ``auditor --help`` stays fast).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from auditor.cli.options import Options
    from auditor.cli.outcome import Outcome

REPORTS_SHOWN = ("text", "json", "csv", "md", "cidr")
"""The reports of auditor.reports.REPORTS (diff --output)."""
LISTINGS_SHOWN = ("cidr", "json", "csv")
"""The listings of auditor.reports.listing.LISTINGS (fetch --output)."""
PLATFORMS_SHOWN = ("iptables", "nftables")
"""The rule platforms of auditor.rules.GENERATORS (help adds the alias nft)."""
_PLATFORMS = ", ".join(PLATFORMS_SHOWN) + " (or nft)"


DEBUG = "auditor.debug"
"""Key of --debug in the run's context (``ctx.meta``, shared by the command and its group)."""


def debug_first(ctx: typer.Context, value: bool) -> None:
    """--debug before the command: every run starts from what is given here."""
    ctx.meta[DEBUG] = value


def debug_after(ctx: typer.Context, value: bool) -> None:
    """--debug after the command: adds to what was given before it."""
    if value:
        ctx.meta[DEBUG] = True


def start(ctx: typer.Context, given: dict[str, Any], run: Callable[[Options], Outcome]) -> NoReturn:
    """Run a command: its options gathered once, errors and what it found mapped to the exit
    code. The rest of the package is imported here, when a command runs, not for help."""
    from auditor.cli.options import Options
    from auditor.cli.outcome import guard

    opts = Options.of(given, debug=bool(ctx.meta.get(DEBUG)))
    guard(lambda: run(opts), opts.debug)


def _choices(registry: Iterable[str]) -> list[str]:
    """The names of a registry, sorted."""
    return sorted(registry)


def _complete_format(incomplete: str) -> list[str]:
    """Shell completion of --format: the readers are imported only when completing."""
    from auditor.allowlists import READERS

    return [name for name in _choices(READERS) if name.startswith(incomplete)]


def _complete_platform(incomplete: str) -> list[str]:
    from auditor.rules import GENERATORS

    return [name for name in _choices(GENERATORS) if name.startswith(incomplete)]


DebugOpt = Annotated[
    bool,
    typer.Option(
        "--debug",
        callback=debug_after,
        expose_value=False,
        help="Show tracebacks on errors (before or after the command).",
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="Overall deadline per fetched URL, seconds (retries included).",
    ),
]
CaBundleOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        metavar="FILE",
        help="CA bundle for a private CA; certificates are always checked.",
    ),
]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        metavar="DIR",
        help="Feed cache (default: $XDG_CACHE_HOME/allowlist-auditor).",
    ),
]
OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="Use cached copies only; never the network.")
]
AllowStaleOpt = Annotated[
    bool,
    typer.Option(
        "--allow-stale",
        help="A source served from the cache after a failed fetch is reported as stale but"
        " does not by itself exit 2.",
    ),
]
AcceptShrinkOpt = Annotated[
    bool,
    typer.Option(
        "--accept-shrink",
        help="Accept a feed that lost more than --max-shrink percent of its addresses since"
        " the cached copy.",
    ),
]
MaxShrinkOpt = Annotated[
    float,
    typer.Option(
        "--max-shrink", metavar="PERCENT", help="Percent of a family's addresses (default 20)."
    ),
]
MaxAgeOpt = Annotated[
    str,
    typer.Option(
        "--max-age",
        metavar="DURATION",
        help="A copy served from the cache older than this (90s, 15m, 12h, 7d) is stale.",
    ),
]
NameserverOpt = Annotated[
    str | None,
    typer.Option(
        "--nameserver",
        metavar="IP[:PORT]",
        help="Resolve SPF records with this server (default: the system's resolver).",
    ),
]
SpfViewOpt = Annotated[
    str,
    typer.Option(
        "--spf-view",
        metavar="honoured|published",
        help="For an SPF record over the 10-lookup limit: honoured (default: what receivers"
        " accept) or published (every range the record lists).",
    ),
]
ToOpt = Annotated[
    str | None,
    typer.Option(
        "--to",
        metavar="ADDRESS",
        help="For rulesets that filter on destination: the address the service listens on.",
    ),
]
ExpectedOpt = Annotated[
    list[str],
    typer.Option(
        "--expected",
        "-e",
        metavar="SOURCE",
        help="Expected ranges (repeatable): a file, file+FORMAT:PATH, -, an https URL, a"
        " provider (aws:service=EC2), text:, json:URL#SELECTOR or spf:DOMAIN.",
    ),
]
DeclaredOpt = Annotated[
    list[str],
    typer.Option(
        "--declared",
        "-d",
        metavar="SOURCE",
        help="The allowlist or firewall export to check (repeatable): a file,"
        " file+FORMAT:PATH or -, or any SOURCE --expected takes.",
    ),
]
CatalogOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--catalog", metavar="FILE", help="A provider catalog of your own (adds or overrides)."
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        autocompletion=_complete_format,
        help="Input format of the files and - given without one of their own"
        " (file+FORMAT:PATH); default: by suffix and content (see: auditor formats).",
    ),
]
ServiceOpt = Annotated[
    str,
    typer.Option(
        "--service",
        metavar="SERVICE",
        help="tcp/25 (default), tcp/25,465,587, udp/53, tcp/1024-2048, any, or names: smtp,"
        " submission, smtps, http, https, ssh (smtp,submission is tcp/25,587).",
    ),
]
HostBitsOpt = Annotated[
    str,
    typer.Option(
        "--host-bits",
        metavar="fix|reject",
        help="192.0.2.1/24: fix it to 192.0.2.0/24 with a warning (default), or reject it.",
    ),
]
LenientOpt = Annotated[
    bool,
    typer.Option(
        "--lenient",
        help="Paste mode: pull addresses out of any text, report the lines ignored.",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Print nothing on stdout; only warnings and errors on stderr."
    ),
]
MaxBytesOpt = Annotated[
    int,
    typer.Option(
        "--max-bytes",
        metavar="BYTES",
        help="Refuse inputs (decoded downloads) bigger than this.",
    ),
]
OutputFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--output-file",
        metavar="FILE",
        help="Write here, atomically, instead of stdout; a run that is not complete (exit 2)"
        " never replaces it: the file keeps its last good content.",
    ),
]
TextJsonOpt = Annotated[
    str, typer.Option("--output", "-o", metavar="text|json", help="text (default) or json.")
]
RulesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--rules",
        "-r",
        metavar="PLATFORM",
        autocompletion=_complete_platform,
        help=f"Add rules for the missing CIDRs: {_PLATFORMS}.",
    ),
]
PlatformArg = Annotated[
    str,
    typer.Argument(metavar="PLATFORM", help=f"{_PLATFORMS}; see: auditor formats."),
]

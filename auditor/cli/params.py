"""The options and arguments the commands share, each declared once, :func:`takes`, which adds
those that close a command's list, and :func:`start`, how every command runs from them.

Help text names the allowed values from the registries of :mod:`auditor.plugins`, which list
names without importing a plugin: ``auditor --help`` stays fast.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from auditor import plugins

if TYPE_CHECKING:
    from auditor.cli.options import Options
    from auditor.cli.outcome import Outcome
    from auditor.registry import Registry

Command = TypeVar("Command", bound=Callable[..., None])


def _aliased(registry: Registry[Any]) -> str:
    """The names of a registry for help, each with its aliases: ``nftables (or nft)``."""
    aliases: dict[str, list[str]] = {}
    for alias, name in registry.aliases.items():
        aliases.setdefault(name, []).append(alias)
    return ", ".join(
        f"{name} (or {', '.join(aliases[name])})" if name in aliases else name
        for name in registry.listed()
    )


REPORTS_METAVAR = "|".join(plugins.REPORTS.listed())
"""diff --output: ``text|json|csv|md|cidr``."""
LISTINGS_METAVAR = "|".join(plugins.LISTINGS)
"""fetch --output: ``cidr|json|csv``."""
PLATFORMS_METAVAR = "|".join(plugins.GENERATORS.listed())
"""--rules: ``iptables|nftables``."""
_PLATFORMS = _aliased(plugins.GENERATORS)
_FORMATS = ", ".join(plugins.READERS.listed())


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
    """Run a command: its options gathered once (its parameters, and those :func:`takes` gave
    it in ``shared``), errors and what it found mapped to the exit code. The rest of the
    package is imported here, when a command runs, not for help."""
    from auditor.cli.options import Options
    from auditor.cli.outcome import guard

    opts = Options.of({**given, **given.get("shared", {})}, debug=bool(ctx.meta.get(DEBUG)))
    guard(lambda: run(opts), opts.debug)


def _completer(registry: Registry[Any]) -> Callable[[str], list[str]]:
    """Shell completion of a registry's names (sorted): listed without importing a plugin."""

    def complete(incomplete: str) -> list[str]:
        return [name for name in registry.names() if name.startswith(incomplete)]

    return complete


def chain(help: str) -> Any:
    """--chain, which each command explains in its own words (its default is INPUT)."""
    return typer.Option("--chain", metavar="CHAIN", help=help)


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
        autocompletion=_completer(plugins.READERS),
        help="Input format of the files and - given without one of their own"
        f" (file+FORMAT:PATH): {_FORMATS}; default: by suffix and content (see: auditor"
        " formats).",
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
FamilyOpt = Annotated[
    str,
    typer.Option(
        "--family", metavar="all|4|6", help="all (default), 4 or 6: one address family only."
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
        metavar=PLATFORMS_METAVAR + "|auto",
        autocompletion=_completer(plugins.GENERATORS),
        help=f"Add rules for the missing CIDRs: {_PLATFORMS}; or auto: for each declared"
        " source, rules in its own format.",
    ),
]
OutputDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--output-dir",
        metavar="DIR",
        help="Also write each rules artifact (per family; apply, rollback, prune) to a file of"
        " its own in DIR.",
    ),
]
PlatformArg = Annotated[
    str,
    typer.Argument(metavar="PLATFORM", help=f"{_PLATFORMS}; see: auditor formats."),
]


def _closing(name: str, annotation: object, default: object) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


_CLOSING = {
    param.name: param
    for param in (
        _closing("timeout", TimeoutOpt, 60.0),
        _closing("ca_bundle", CaBundleOpt, None),
        _closing("cache_dir", CacheDirOpt, None),
        _closing("offline", OfflineOpt, False),
        _closing("allow_stale", AllowStaleOpt, False),
        _closing("accept_shrink", AcceptShrinkOpt, False),
        _closing("max_shrink", MaxShrinkOpt, 20.0),
        _closing("max_age", MaxAgeOpt, "7d"),
        _closing("catalog", CatalogOpt, None),
        _closing("nameserver", NameserverOpt, None),
        _closing("spf_view", SpfViewOpt, "honoured"),
        _closing("debug", DebugOpt, False),
    )
}
"""The options that close the list of the commands that read sources, in help's order, with
their defaults (those of :class:`auditor.cli.options.Options`)."""
FETCHING = ("timeout", "ca_bundle", "cache_dir", "offline")
"""How sources are fetched."""
FRESHNESS = ("allow_stale", "accept_shrink", "max_shrink", "max_age")
"""What a copy from the cache, or a feed that shrank, may be."""
LOOKUP = ("catalog", "nameserver")
"""Where providers and SPF records are looked up."""


def takes(*names: str) -> Callable[[Command], Command]:
    """A command takes these shared options (and then --debug) after its own parameters.

    Typer reads a command's options from its signature: the signature it reads is the
    command's own parameters followed by these, which the command receives as ``**shared``
    and hands to :func:`start` with the rest (``locals()``)."""
    closing = [_CLOSING[name] for name in (*names, "debug")]

    def add(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True)
        params = [q for q in own.parameters.values() if q.kind is not q.VAR_KEYWORD]
        signature = own.replace(parameters=[*params, *closing])
        command.__signature__ = signature  # type: ignore[attr-defined]
        return command

    return add

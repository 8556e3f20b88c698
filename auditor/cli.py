"""The command line. Thin: build loaders, call the library, render, map to an exit code.

Heavy modules are imported inside the commands so that ``auditor --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, TypeVar

import typer

from auditor import __version__
from auditor.errors import STATUS_CODES, AuditorError, ExitCode, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from rich.progress import TaskID

    from auditor.ipspace import HostBitsPolicy
    from auditor.model import MissingBlock, RangeSet, Role
    from auditor.sources.load import LoadOptions, SourceLoader
    from auditor.spf import DnsOptions, View

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

app = typer.Typer(
    name="auditor",
    help="Audit IP allowlists against the ranges a provider sends from.\n\n"
    + SOURCE_HELP
    + "\n\n"
    + EXIT_CODES_HELP
    + "\n\n\b\nExamples:\n"
    "  auditor diff -e aws:service=AMAZON_SES -d /etc/postfix/main.cf\n"
    "  auditor explain 192.0.2.10 -d iptables.rules -d ip6tables.rules\n"
    "  auditor fetch github:section=hooks --output-file github.cidr\n"
    "  auditor COMMAND -h",
    no_args_is_help=True,
    # --install-completion / --show-completion; typer imports its completion module anyway
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}
MAX_TIMEOUT = 3600
"""Seconds: a deadline beyond an hour is a typo, and platform timers overflow far beyond."""
T = TypeVar("T")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"auditor {__version__}")
        raise typer.Exit(0)


def _debug(value: bool) -> None:
    """--debug after the command: adds to what was given before it."""
    if value:
        _state["debug"] = True


def _debug_first(value: bool) -> None:
    """--debug before the command: every run starts from what is given here."""
    _state["debug"] = value


_DebugOpt = Annotated[
    bool,
    typer.Option(
        "--debug",
        callback=_debug,
        expose_value=False,
        help="Show tracebacks on errors (before or after the command).",
    ),
]


@app.callback()
def main(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            callback=_debug_first,
            expose_value=False,
            help="Show tracebacks on errors (before or after the command).",
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    pass


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)} | {
    c: f"\\u{c:04x}" for c in (0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}


def _err(message: str) -> None:
    """One line on stderr; control characters from file names or inputs are shown escaped,
    so a crafted name cannot drive the terminal."""
    sys.stderr.write(message.translate(_CONTROL) + "\n")


def _guard(fn: Callable[[], T]) -> T:
    """The one place that maps errors to messages and exit codes."""
    try:
        return fn()
    except AuditorError as e:
        if _state["debug"]:
            traceback.print_exc()
        _err(f"error: {e}")
        raise typer.Exit(int(e.exit_code)) from None
    except typer.Exit:
        raise
    except BrokenPipeError:
        # the reader went away (| head): nothing more can be said on stdout; not a success
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
        except OSError:
            pass
        raise typer.Exit(int(ExitCode.TROUBLE)) from None
    except KeyboardInterrupt:
        _err("error: interrupted")
        raise typer.Exit(int(ExitCode.TROUBLE)) from None
    except Exception as e:  # noqa: BLE001 - the last line of defence: never exit 0 or 1
        if _state["debug"]:
            traceback.print_exc()
        _err(f"error: internal error: {type(e).__name__}: {e} (run with --debug for details)")
        raise typer.Exit(int(ExitCode.TROUBLE)) from None


def _parse_duration(text: str, option: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``12h`` or ``7d``."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if not number or not math.isfinite(value) or value < 0:
        raise UsageError(f"invalid {option} {text!r}", hint="give seconds, or 15m, 12h, 7d")
    return value * units[unit]


@dataclass(frozen=True)
class _FetchOptions:
    """The knobs of every command that may fetch a source."""

    timeout: float = 60.0
    ca_bundle: Path | None = None
    cache_dir: Path | None = None
    offline: bool = False
    allow_stale: bool = False
    accept_shrink: bool = False
    max_shrink: float = 20.0
    max_age: str = "7d"
    catalog: tuple[Path, ...] = ()
    quiet: bool = False
    max_bytes: int = 256 * 1024 * 1024
    nameserver: str | None = None
    spf_view: str = "honoured"

    @classmethod
    def of(cls, given: dict[str, Any]) -> _FetchOptions:
        """From a command's parameters: each field is taken from the parameter of its name."""
        fields = {f: given[f] for f in cls.__dataclass_fields__ if f in given}
        fields["catalog"] = tuple(fields.get("catalog") or ())
        return cls(**fields)

    def loader(self, stdin: BinaryIO | None) -> SourceLoader:
        from auditor.net import NetOptions
        from auditor.sources.catalog import load_catalog
        from auditor.sources.load import SourceLoader

        if not math.isfinite(self.timeout) or not 0 < self.timeout <= MAX_TIMEOUT:
            raise UsageError(
                f"invalid --timeout {self.timeout:g}", hint=f"give seconds, 0 to {MAX_TIMEOUT}"
            )
        if self.max_bytes <= 0:
            raise UsageError(f"invalid --max-bytes {self.max_bytes}", hint="give bytes > 0")
        if self.ca_bundle is not None and not self.ca_bundle.is_file():
            raise UsageError(f"--ca-bundle {self.ca_bundle}: no such file")
        net = NetOptions(
            timeout=self.timeout,
            connect_timeout=min(10.0, self.timeout),
            read_timeout=min(20.0, self.timeout),
            ca_bundle=str(self.ca_bundle) if self.ca_bundle else None,
            cache_dir=self.cache_dir,
            offline=self.offline,
            max_bytes=self.max_bytes,
        )
        return SourceLoader(
            load_catalog(self.catalog),
            net,
            stdin,
            progress=_progress(self.quiet),
            dns_options=self.dns_options(),
            spf_view=self.view(),
        )

    def dns_options(self) -> DnsOptions:
        from auditor.spf import DnsOptions, check_nameserver

        if self.nameserver is not None:
            check_nameserver(self.nameserver)
        # the per-source deadline bounds the whole SPF tree; one query gets at most 3 s
        return DnsOptions(self.nameserver, timeout=min(3.0, self.timeout), deadline=self.timeout)

    def view(self) -> View:
        if self.spf_view not in ("honoured", "published"):
            raise UsageError(
                f"invalid --spf-view {self.spf_view!r}", hint="choose honoured or published"
            )
        return self.spf_view  # type: ignore[return-value]

    @contextlib.contextmanager
    def open(self, stdin: BinaryIO | None) -> Iterator[SourceLoader]:
        """A loader for one run: committed and closed at the end, its download bar gone."""
        loader = self.loader(stdin)
        try:
            with loader:
                yield loader
        finally:
            stop = getattr(loader.progress, "stop", None)
            if stop is not None:
                stop()

    def load_options(self, role: Role, **kw: Any) -> LoadOptions:
        from auditor.sources.load import LoadOptions

        if not math.isfinite(self.max_shrink) or not 0 <= self.max_shrink <= 100:
            raise UsageError(f"invalid --max-shrink {self.max_shrink:g}", hint="a percentage")
        return LoadOptions(
            role=role,
            max_bytes=self.max_bytes,
            accept_shrink=self.accept_shrink,
            max_shrink=self.max_shrink,
            max_age=_parse_duration(self.max_age, "--max-age"),
            **kw,
        )


_TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="Overall deadline per fetched URL, seconds (retries included).",
    ),
]
_CaBundleOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        metavar="FILE",
        help="CA bundle for a private CA; certificates are always checked.",
    ),
]
_CacheDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        metavar="DIR",
        help="Feed cache (default: $XDG_CACHE_HOME/allowlist-auditor).",
    ),
]
_OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="Use cached copies only; never the network.")
]
_AllowStaleOpt = Annotated[
    bool,
    typer.Option(
        "--allow-stale",
        help="A source served from the cache after a failed fetch is reported as stale but"
        " does not by itself exit 2.",
    ),
]
_AcceptShrinkOpt = Annotated[
    bool,
    typer.Option(
        "--accept-shrink",
        help="Accept a feed that lost more than --max-shrink percent of its addresses since"
        " the cached copy.",
    ),
]
_MaxShrinkOpt = Annotated[
    float,
    typer.Option(
        "--max-shrink", metavar="PERCENT", help="Percent of a family's addresses (default 20)."
    ),
]
_MaxAgeOpt = Annotated[
    str,
    typer.Option(
        "--max-age",
        metavar="DURATION",
        help="A copy served from the cache older than this (90s, 15m, 12h, 7d) is stale.",
    ),
]
_NameserverOpt = Annotated[
    str | None,
    typer.Option(
        "--nameserver",
        metavar="IP[:PORT]",
        help="Resolve SPF records with this server (default: the system's resolver).",
    ),
]
_SpfViewOpt = Annotated[
    str,
    typer.Option(
        "--spf-view",
        metavar="honoured|published",
        help="For an SPF record over the 10-lookup limit: honoured (default: what receivers"
        " accept) or published (every range the record lists).",
    ),
]
_ToOpt = Annotated[
    str | None,
    typer.Option(
        "--to",
        metavar="ADDRESS",
        help="For rulesets that filter on destination: the address the service listens on.",
    ),
]
_ExpectedOpt = Annotated[
    list[str],
    typer.Option(
        "--expected",
        "-e",
        metavar="SOURCE",
        help="Expected ranges (repeatable): a file, file+FORMAT:PATH, -, an https URL, a"
        " provider (aws:service=EC2), text:, json:URL#SELECTOR or spf:DOMAIN.",
    ),
]
_DeclaredOpt = Annotated[
    list[str],
    typer.Option(
        "--declared",
        "-d",
        metavar="SOURCE",
        help="The allowlist or firewall export to check (repeatable): a file,"
        " file+FORMAT:PATH or -, or any SOURCE --expected takes.",
    ),
]
_CatalogOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--catalog", metavar="FILE", help="A provider catalog of your own (adds or overrides)."
    ),
]


def _complete_format(incomplete: str) -> list[str]:
    """Shell completion of --format: the readers are imported only when completing."""
    from auditor.allowlists import READERS

    return [name for name in sorted(READERS) if name.startswith(incomplete)]


def _complete_platform(incomplete: str) -> list[str]:
    from auditor.rules import GENERATORS

    return [name for name in sorted(GENERATORS) if name.startswith(incomplete)]


_FormatOpt = Annotated[
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
_ServiceOpt = Annotated[
    str,
    typer.Option(
        "--service",
        metavar="SERVICE",
        help="tcp/25 (default), tcp/25,465,587, udp/53, tcp/1024-2048, any, or names: smtp,"
        " submission, smtps, http, https, ssh (smtp,submission is tcp/25,587).",
    ),
]
_HostBitsOpt = Annotated[
    str,
    typer.Option(
        "--host-bits",
        metavar="fix|reject",
        help="192.0.2.1/24: fix it to 192.0.2.0/24 with a warning (default), or reject it.",
    ),
]
_LenientOpt = Annotated[
    bool,
    typer.Option(
        "--lenient",
        help="Paste mode: pull addresses out of any text, report the lines ignored.",
    ),
]
_QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Print nothing on stdout; only warnings and errors on stderr."
    ),
]
_MaxBytesOpt = Annotated[
    int,
    typer.Option(
        "--max-bytes",
        metavar="BYTES",
        help="Refuse inputs (decoded downloads) bigger than this.",
    ),
]
_OutputFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--output-file",
        metavar="FILE",
        help="Write here, atomically, instead of stdout; a run that is not complete (exit 2)"
        " never replaces it: the file keeps its last good content.",
    ),
]


def _progress(quiet: bool) -> Callable[[str, int, int | None], None] | None:
    """A download bar on a terminal's stderr; nothing when piped or quiet. The bar is
    transient: it goes away when the run's loader closes (:meth:`_FetchOptions.open`)."""
    if quiet or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(url: str, done: int, total: int | None) -> None:
        if not tasks:
            bar.start()
        if total is not None and done > total:
            total = None  # a gzip body: decoded bytes outgrow the encoded length
        if url not in tasks:
            tasks[url] = bar.add_task(url[-60:], total=total)
        bar.update(tasks[url], completed=done, total=total)

    update.stop = bar.stop  # type: ignore[attr-defined]
    return update


def _usable(rs: RangeSet, allow_stale: bool) -> bool:
    """Complete, or stale when stale sources are allowed: what may exit 0."""
    from auditor.model import Completeness

    return rs.completeness is Completeness.COMPLETE or (
        allow_stale and rs.completeness is Completeness.STALE
    )


def _load_all(
    specs: Sequence[str],
    loader: SourceLoader,
    options: LoadOptions,
    quiet: bool = False,
) -> list[RangeSet]:
    """Load every source; one that fails is kept as a failed set so the others still count."""
    from auditor.model import Completeness, Entries, RangeSet, SourceInfo

    out: list[RangeSet] = []
    later: list[tuple[int, str]] = []
    for spec in specs:
        name = "<stdin>" if spec == "-" else spec
        try:
            rs = loader.load(spec, options)
        except UsageError:
            raise  # a wrong option or filter stops the run: nothing useful can follow
        except AuditorError as e:
            if _state["debug"]:
                traceback.print_exc()
            _err(f"error: {e}")
            rs = RangeSet(
                SourceInfo(name, options.role, options.fmt or "unknown"),
                Entries(name),
                Completeness.FAILED,
                (str(e),),
            )
        else:
            for finding in rs.findings:
                if quiet and finding.severity.value == "info":
                    continue  # --quiet: warnings and errors only (the report still has them)
                where = f"{finding.origin}: " if finding.origin else ""
                line = f"{finding.severity.value}: {where}{finding.message}"
                if finding.kind == "family-not-covered":
                    later.append((len(out), line))  # unless another source covers it
                else:
                    _err(line)
            if rs.info.cache in ("cached", "stale") and rs.info.retrieved_at and not quiet:
                _err(f"info: {rs.info.name}: from the cache, retrieved {rs.info.retrieved_at}")
        out.append(rs)
    for i, line in later:
        if not _covered_elsewhere(out, i):
            _err(line)
    return [
        replace(rs, findings=tuple(f for f in rs.findings if f.kind != "family-not-covered"))
        if _covered_elsewhere(out, i)
        else rs
        for i, rs in enumerate(out)
    ]


def _covered_elsewhere(sets: Sequence[RangeSet], i: int) -> bool:
    """The families source ``i`` does not speak for are all spoken for by another source (an
    iptables export given with its ip6tables twin): its "IPv6 needs its own" is moot."""
    from auditor.model import Completeness

    others = {
        f
        for j, rs in enumerate(sets)
        if j != i and rs.completeness is not Completeness.FAILED
        for f in rs.families
    }
    return {4, 6} - set(sets[i].families) <= others


def _to_address(text: str | None, what: str = "--to") -> str | None:
    """One address, normalised; ``what`` names the argument it came from in the error."""
    if text is None:
        return None
    from auditor.errors import AddressError
    from auditor.ipspace import format_address, parse_address

    try:
        family, value, _ = parse_address(text)
    except AddressError as e:
        example = "192.0.2.25" if what == "ADDRESS" else f"{what} 192.0.2.25"
        raise UsageError(
            f"invalid {what} {text!r}: {e}", hint=f"one IPv4 or IPv6 address, e.g. {example}"
        ) from None
    return format_address(family, value)


def _stdin_once(specs: Sequence[str]) -> None:
    from auditor.sources.spec import reads_stdin

    if sum(reads_stdin(spec) for spec in specs) > 1:
        raise UsageError("standard input can be read only once", hint="give files instead")


def _host_bits(value: str) -> HostBitsPolicy:
    if value not in ("fix", "reject"):
        raise UsageError(f"invalid --host-bits {value!r}", hint="choose fix or reject")
    return value  # type: ignore[return-value]


_MAX_UNFIXED_SHOWN = 5


def _rule_blocks(blocks: Iterable[MissingBlock]) -> list[MissingBlock]:
    """Blocks for rules; a whole address family is refused (RELIABILITY 2.11)."""
    from auditor.errors import InputError

    out = list(blocks)
    for block in out:
        if block.prefixlen == 0:
            where = ", ".join(str(o) for o in block.origins[:3]) or "the input"
            raise InputError(
                f"refusing to write a rule that allows {block.cidr} (from {where})",
                hint="a source that lists every address is broken; check it",
            )
    return out


def _is_terminal() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _write(text: str, output_file: Path | None) -> None:
    if output_file is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from auditor.errors import InputError
    from auditor.fsutil import atomic_write

    try:
        atomic_write(output_file, text.encode("utf-8"))
    except OSError as e:
        raise InputError(
            f"cannot write the report: {e.strerror}",
            source=str(output_file),
            hint="check that the directory exists and is writable",
        ) from None


_ROWS_ONLY = frozenset({"cidr", "csv"})
"""Outputs whose rows cannot say that the run was incomplete."""


def _deliver(
    text: str,
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
    than a list that looks complete."""
    if output_file is not None:
        if incomplete is None:
            _write(text, output_file)
            return
        _err(f"error: not written: {incomplete}; {output_file} keeps its previous content")
    if quiet:
        return
    if incomplete is not None and output in _ROWS_ONLY:
        if output_file is None:
            _err(
                f"error: nothing printed: {incomplete}; a {output} list cannot say it is"
                " incomplete (-o json or -o text can)"
            )
        return
    _write(text, None)


def _not_complete(
    sources: Sequence[RangeSet],
    allow_stale: bool,
    uncovered: Sequence[int] = (),
    otherwise: str = "the run is not complete (see the errors above)",
) -> str:
    """Why a run is not complete: the sources that are not, and the families nobody covers."""
    reasons = [
        f"{rs.info.name} is {rs.completeness.value}"
        for rs in sources
        if not _usable(rs, allow_stale)
    ]
    reasons += [f"no declared source covers IPv{fam}" for fam in uncovered]
    shown = "; ".join(reasons[:3]) + ("; ..." if len(reasons) > 3 else "")
    return shown or otherwise


@app.command()
def diff(
    expected: _ExpectedOpt,
    declared: _DeclaredOpt,
    fmt: _FormatOpt = None,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="text|json|csv|md|cidr",
            help="The report (see: auditor formats). cidr lists the missing CIDRs only and"
            " prints nothing when the run is not complete.",
        ),
    ] = "text",
    output_file: _OutputFileOpt = None,
    rules: Annotated[
        list[str] | None,
        typer.Option(
            "--rules",
            "-r",
            metavar="PLATFORM",
            autocompletion=_complete_platform,
            help="Add rules for the missing CIDRs: iptables, nftables (or nft).",
        ),
    ] = None,
    service: _ServiceOpt = "tcp/25",
    chain: Annotated[
        str,
        typer.Option(
            "--chain",
            metavar="CHAIN",
            help="Chain evaluated in declared rulesets and given to the rules (INPUT; FORWARD"
            " for a gateway).",
        ),
    ] = "INPUT",
    to: _ToOpt = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            metavar="GROUP",
            help="Declared group(s) put there for this "
            "provider; entries outside expected are reported as extra.",
        ),
    ] = None,
    fail_on_extra: Annotated[
        bool, typer.Option("--fail-on-extra", help="Exit 1 when a scope has extra entries.")
    ] = False,
    host_bits: _HostBitsOpt = "fix",
    lenient: _LenientOpt = False,
    over_broad_v4: Annotated[
        int,
        typer.Option(
            "--over-broad-v4",
            metavar="PREFIXLEN",
            help="Declared IPv4 entries broader than this prefix length are findings.",
        ),
    ] = 8,
    over_broad_v6: Annotated[
        int, typer.Option("--over-broad-v6", metavar="PREFIXLEN", help="The same for IPv6.")
    ] = 32,
    max_bytes: _MaxBytesOpt = 256 * 1024 * 1024,
    quiet: _QuietOpt = False,
    timeout: _TimeoutOpt = 60.0,
    ca_bundle: _CaBundleOpt = None,
    cache_dir: _CacheDirOpt = None,
    offline: _OfflineOpt = False,
    allow_stale: _AllowStaleOpt = False,
    accept_shrink: _AcceptShrinkOpt = False,
    max_shrink: _MaxShrinkOpt = 20.0,
    max_age: _MaxAgeOpt = "7d",
    catalog: _CatalogOpt = None,
    nameserver: _NameserverOpt = None,
    spf_view: _SpfViewOpt = "honoured",
    debug: _DebugOpt = False,
) -> None:
    """Compare expected ranges with an allowlist: missing, partial, extra, over-broad, rules.

    A SOURCE is a file; file+FORMAT:PATH (that file in FORMAT, whatever --format says;
    file+FORMAT:- for stdin); -; an https URL; a provider of the catalog with filters
    (aws:service=EC2,region=eu-west-1; see: auditor providers); text:URL-OR-PATH;
    json:URL-OR-PATH#SELECTOR; or spf:DOMAIN.

    Exit codes: 0 in sync and complete, 1 drift, 2 trouble (a source failed, was partial
    or stale, bad input, bad usage). A run that exits 2 never replaces --output-file, and
    -o cidr then prints nothing.

    \b
    Examples:
      auditor diff -e aws:service=AMAZON_SES,region=eu-west-1 -d /etc/postfix/main.cf
      auditor diff -e nodes.txt -d iptables.rules -d ip6tables.rules -r iptables
      auditor diff -e nodes.txt -d file+postfix-cidr:client_access -o cidr -q
      auditor diff -e spf:_spf.google.com -d allowlist.yaml --scope google -o md
    """

    options_given = dict(locals())  # the fetch knobs, by name

    def run() -> ExitCode:
        from auditor import audit
        from auditor.model import AuditOptions
        from auditor.reports import ReportContext, report_for
        from auditor.service import Service

        svc = Service.parse(service)
        _stdin_once(expected + declared)
        report = report_for(output)
        generators = []
        if rules:  # rule generators are imported only when asked for
            from auditor.rules import RuleOptions, generator_for

            generators = [generator_for(name) for name in rules]
            rule_options = RuleOptions(service=svc, chain=chain)
            for gen in generators:
                gen.check(rule_options)
        for limit, bits in ((over_broad_v4, 32), (over_broad_v6, 128)):
            if not 0 <= limit <= bits:
                raise UsageError(f"over-broad prefix length {limit} is not in 0..{bits}")
        fetching = _FetchOptions.of(options_given)
        common = {"fmt": fmt, "host_bits": _host_bits(host_bits), "lenient": lenient}
        ruleset = {"service": svc, "chain": chain, "to": _to_address(to)}
        with fetching.open(sys.stdin.buffer) as loader:
            exp = _load_all(expected, loader, fetching.load_options("expected", **common), quiet)
            dec_options = fetching.load_options("declared", **common, **ruleset)
            sets, declared_specs = loader.companions(declared, dec_options)
            dec = _load_all(declared_specs, loader, replace(dec_options, sets=sets), quiet)
        options = AuditOptions(
            allow_stale=allow_stale,
            over_broad_v4=over_broad_v4,
            over_broad_v6=over_broad_v6,
            scope=tuple(scope or ()),
            fail_on_extra=fail_on_extra,
            service=str(svc),
        )
        result = audit.compare(exp, dec, options)
        rendered = []
        unfixed: list[tuple[str, list[str]]] = []
        everything = [f for f in result.over_broad if f.kind == "expected-everything"]
        for finding in everything:
            _err(f"error: {finding.origin}: {finding.message}")
        if generators and not everything:
            blocks = _rule_blocks(result.missing_blocks)
            banner = ""
            if not result.complete:
                from auditor.rules import sanitize

                names = ", ".join(  # a file name may hold a newline: never a line of its own
                    sanitize.clean(rs.info.name)
                    for rs in result.sources
                    if rs.completeness.value != "complete"
                )
                banner = (
                    f"# WARNING: made from incomplete inputs ({names}); the list of missing"
                    " CIDRs may be wrong. Review before use.\n"
                )
            placed = replace(rule_options, declared=tuple(dec))
            rendered = [(gen.name, banner + gen.generate(blocks, placed)) for gen in generators]
            unfixed = [(gen.name, gen.unfixed(blocks, placed)) for gen in generators]
        code = STATUS_CODES[result.status]
        incomplete = None
        if code is ExitCode.TROUBLE:
            incomplete = _not_complete(result.sources, allow_stale, result.uncovered)
        not_fixed = sum(len(problems) for _, problems in unfixed)
        if not_fixed:
            # rules known not to take effect: the run did not produce what was asked
            code = ExitCode.TROUBLE
            incomplete = incomplete or f"the rules cannot let in {not_fixed} missing CIDR(s)"
        ctx = ReportContext(rules=tuple(rendered), color=_is_terminal() and output_file is None)
        text = report.render(result, ctx)
        _deliver(text, output_file, output=output, quiet=quiet, incomplete=incomplete)
        for fam in result.uncovered:
            _err(f"error: no declared source covers IPv{fam}; its expected addresses are unknown")
        for rs in result.sources:
            # failed sources were reported as they were read; say what the others lacked
            if rs.completeness.value not in ("complete", "failed"):
                level = "warning" if _usable(rs, allow_stale) else "error"
                why = "; ".join(rs.reasons) or rs.completeness.value
                _err(f"{level}: {rs.info.name}: source is {rs.completeness.value}: {why}")
        for name, problems in unfixed:
            for problem in problems[:_MAX_UNFIXED_SHOWN]:
                _err(f"error: {name} rules cannot let in {problem}")
            if len(problems) > _MAX_UNFIXED_SHOWN:
                _err(f"error: {name} rules cannot let in {len(problems) - _MAX_UNFIXED_SHOWN} more")
        return code

    code = _guard(run)
    raise typer.Exit(int(code))


@app.command("rules")
def rules_cmd(
    platform: Annotated[
        str,
        typer.Argument(
            metavar="PLATFORM", help="iptables, nftables (or nft); see: auditor formats."
        ),
    ],
    source: Annotated[
        str,
        typer.Argument(
            metavar="[SOURCE]",
            help="CIDRs: a text file, a JSON report of `auditor diff`, - (the default), or any"
            " SOURCE of `auditor fetch`.",
        ),
    ] = "-",
    service: _ServiceOpt = "tcp/25",
    chain: Annotated[
        str, typer.Option("--chain", metavar="CHAIN", help="Chain the rules go to (INPUT).")
    ] = "INPUT",
    fmt: _FormatOpt = None,
    host_bits: _HostBitsOpt = "fix",
    lenient: _LenientOpt = False,
    timeout: _TimeoutOpt = 60.0,
    ca_bundle: _CaBundleOpt = None,
    cache_dir: _CacheDirOpt = None,
    offline: _OfflineOpt = False,
    catalog: _CatalogOpt = None,
    nameserver: _NameserverOpt = None,
    spf_view: _SpfViewOpt = "honoured",
    debug: _DebugOpt = False,
) -> None:
    """Rules that allow the CIDRs of a source: a text file, a saved JSON report, stdin, a
    provider, a URL or an SPF record (fetched as `auditor fetch` does).

    Exit codes: 0 rules written; 2 the source failed or was partial or stale (no rules are
    written from an incomplete list), bad input, bad usage.

    \b
    Examples:
      auditor diff -e nodes.txt -d allow.txt -o cidr | auditor rules nftables
      auditor rules iptables report.json --service smtp,submission
      auditor rules nft github:section=hooks --service https
    """
    options_given = dict(locals())  # the fetch knobs, by name

    def run() -> ExitCode:
        from auditor import audit
        from auditor.model import Completeness
        from auditor.rules import RuleOptions, generator_for
        from auditor.service import Service

        gen = generator_for(platform)
        options = RuleOptions(service=Service.parse(service), chain=chain)
        gen.check(options)
        fetching = _FetchOptions.of(options_given)
        load_options = fetching.load_options(
            "expected", fmt=fmt, host_bits=_host_bits(host_bits), lenient=lenient
        )
        with fetching.open(sys.stdin.buffer) as loader:
            sets = _load_all([source], loader, load_options)
        rs = sets[0]
        if rs.completeness is not Completeness.COMPLETE:
            if rs.completeness is not Completeness.FAILED:  # failed ones were reported
                why = "; ".join(rs.reasons) or rs.completeness.value
                _err(f"error: {rs.info.name}: source is {rs.completeness.value}: {why}")
            _err("error: no rules written from an incomplete list")
            return ExitCode.TROUBLE
        blocks = _rule_blocks(audit.blocks_with_origins(sets[0].space, sets))
        sys.stdout.write(gen.generate(blocks, options))
        return ExitCode.OK

    raise typer.Exit(int(_guard(run)))


@app.command()
def fetch(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE...",
            help="Providers with filters (aws:service=EC2,region=eu-west-1), https URLs,"
            " text:URL-OR-PATH, json:URL-OR-PATH#SELECTOR, spf:DOMAIN, files,"
            " file+FORMAT:PATH or -.",
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="cidr|json|csv",
            help="cidr (aggregated, the default; nothing is printed when a source is not"
            " complete), json or csv (every entry with its origin).",
        ),
    ] = "cidr",
    family: Annotated[
        str,
        typer.Option(
            "--family", metavar="all|4|6", help="all (default), 4 or 6: one address family only."
        ),
    ] = "all",
    output_file: _OutputFileOpt = None,
    fmt: _FormatOpt = None,
    host_bits: _HostBitsOpt = "fix",
    lenient: _LenientOpt = False,
    quiet: _QuietOpt = False,
    max_bytes: _MaxBytesOpt = 256 * 1024 * 1024,
    timeout: _TimeoutOpt = 60.0,
    ca_bundle: _CaBundleOpt = None,
    cache_dir: _CacheDirOpt = None,
    offline: _OfflineOpt = False,
    allow_stale: _AllowStaleOpt = False,
    accept_shrink: _AcceptShrinkOpt = False,
    max_shrink: _MaxShrinkOpt = 20.0,
    max_age: _MaxAgeOpt = "7d",
    catalog: _CatalogOpt = None,
    nameserver: _NameserverOpt = None,
    spf_view: _SpfViewOpt = "honoured",
    debug: _DebugOpt = False,
) -> None:
    """Load expected ranges (fetching and caching feeds) and print them.

    Exit codes: 0 every source complete; 2 a source failed, was partial, or was stale
    (unless --allow-stale). A run that exits 2 never replaces --output-file, and -o cidr
    then prints nothing.

    \b
    Examples:
      auditor fetch aws:service=AMAZON_SES,region=eu-west-1|us-east-1
      auditor fetch github:section=hooks --family 4 --output-file github.cidr
      auditor fetch spf:_spf.google.com -o json
      auditor fetch stripe:from=ips.json --offline
    """

    options_given = dict(locals())  # the fetch knobs, by name

    def run() -> ExitCode:
        from auditor import audit
        from auditor.model import Completeness
        from auditor.reports import listing

        if output not in listing.LISTINGS:
            raise UsageError(
                f"unknown output {output!r}", hint="choose one of: " + ", ".join(listing.LISTINGS)
            )
        if family not in ("all", "4", "6"):
            raise UsageError(f"invalid --family {family!r}", hint="choose all, 4 or 6")
        _stdin_once(sources)
        fetching = _FetchOptions.of(options_given)
        options = fetching.load_options(
            "expected", fmt=fmt, host_bits=_host_bits(host_bits), lenient=lenient
        )
        with fetching.open(sys.stdin.buffer) as loader:
            sets = _load_all(sources, loader, options, quiet)
        fam = None if family == "all" else int(family)
        code = ExitCode.OK
        for rs in sets:
            if not _usable(rs, allow_stale):
                code = ExitCode.TROUBLE
            if rs.completeness not in (Completeness.COMPLETE, Completeness.FAILED):
                level = "warning" if _usable(rs, allow_stale) else "error"
                why = "; ".join(rs.reasons) or rs.completeness.value
                _err(f"{level}: {rs.info.name}: source is {rs.completeness.value}: {why}")
            for finding in audit.whole_space_findings([rs]):
                _err(f"error: {finding.origin}: {finding.message}")
                code = ExitCode.TROUBLE
        if fam is not None and code is ExitCode.OK and not listing.union(sets, fam):
            _err(f"error: the sources list no IPv{fam} address")
            code = ExitCode.TROUBLE
        text = listing.render(sets, output, fam, complete=code is ExitCode.OK)
        incomplete = None
        if code is not ExitCode.OK:
            incomplete = _not_complete(sets, allow_stale)
        _deliver(text, output_file, output=output, quiet=quiet, incomplete=incomplete)
        return code

    raise typer.Exit(int(_guard(run)))


@app.command()
def explain(
    address: Annotated[
        str,
        typer.Argument(
            metavar="ADDRESS", help="The client address to explain (one IPv4 or IPv6 address)."
        ),
    ],
    declared: _DeclaredOpt,
    expected: Annotated[
        list[str] | None,
        typer.Option(
            "--expected",
            "-e",
            metavar="SOURCE",
            help="Whose address it may be (repeatable; any SOURCE diff takes).",
        ),
    ] = None,
    service: _ServiceOpt = "tcp/25",
    chain: Annotated[
        str,
        typer.Option(
            "--chain",
            metavar="CHAIN",
            help="Chain evaluated in declared rulesets (INPUT; FORWARD for a gateway).",
        ),
    ] = "INPUT",
    to: _ToOpt = None,
    fmt: _FormatOpt = None,
    host_bits: _HostBitsOpt = "fix",
    lenient: _LenientOpt = False,
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="text|json", help="text (default) or json.")
    ] = "text",
    quiet: _QuietOpt = False,
    timeout: _TimeoutOpt = 60.0,
    ca_bundle: _CaBundleOpt = None,
    cache_dir: _CacheDirOpt = None,
    offline: _OfflineOpt = False,
    catalog: _CatalogOpt = None,
    nameserver: _NameserverOpt = None,
    debug: _DebugOpt = False,
) -> None:
    """For one address: whose it is, and whether each declared source allows it, with the rule
    or entry that decides (file:line and its text). A source that does not speak for the
    address's family (an iptables export for an IPv6 address) has no say when another does.

    Exit codes: 0 every declared source that has a say allows it; 1 one does not; 2 a source
    could not say (conditional, failed), or no source covers the address's family.

    \b
    Examples:
      auditor explain 192.0.2.10 -d iptables.rules -d ip6tables.rules
      auditor explain 2001:db8::25 -d /etc/postfix/main.cf -e aws:service=AMAZON_SES
      auditor explain 198.51.100.7 -d nsg.json --service smtp -q && echo allowed
    """
    options_given = dict(locals())  # the fetch knobs, by name

    def run() -> ExitCode:
        import json

        from auditor import audit
        from auditor.service import Service

        if output not in ("text", "json"):
            raise UsageError(f"unknown output {output!r}", hint="choose text or json")
        _stdin_once([*(expected or []), *declared])
        target = _to_address(address, "ADDRESS")
        if target is None:
            raise UsageError("an address is needed")
        fetching = _FetchOptions.of(options_given)
        svc = Service.parse(service)
        ruleset = {"service": svc, "chain": chain, "to": _to_address(to)}
        common = {"fmt": fmt, "host_bits": _host_bits(host_bits), "lenient": lenient}
        with fetching.open(sys.stdin.buffer) as loader:
            exp_options = fetching.load_options("expected", **common)
            exp = _load_all(expected or [], loader, exp_options, quiet)
            dec_options = fetching.load_options("declared", **common, **ruleset)
            sets, declared_specs = loader.companions(declared, dec_options)
            dec = _load_all(declared_specs, loader, replace(dec_options, sets=sets), quiet)
        result = audit.explain(target, exp, dec)
        if output == "json":
            doc = {
                "schema_version": 1,
                "kind": "explain",
                "address": result.address,
                "service": str(svc),
                "allowed": result.allowed,
                "certain": result.certain,
                "expected": [{"range": e.text, "origin": str(e.origin)} for e in result.expected],
                "declared": [
                    {"source": d.source, "decision": d.decision, "where": d.where}
                    for d in result.declared
                ],
            }
            text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
        else:
            lines = [f"{result.address} ({svc.describe()})"]
            if expected:
                if result.expected:
                    lines += [f"  expected: {e.text} from {e.origin}" for e in result.expected]
                else:
                    lines.append("  expected: not in any expected source")
            for d in result.declared:
                lines.append(f"  {d.source}: {d.decision}: {d.where}")
            text = "\n".join(_clean(line) for line in lines) + "\n"
        if not quiet:
            _write(text, None)
        if not result.certain:
            return ExitCode.TROUBLE
        return ExitCode.OK if result.allowed else ExitCode.DRIFT

    raise typer.Exit(int(_guard(run)))


@app.command("spf")
def spf_cmd(
    domain: Annotated[
        str, typer.Argument(metavar="DOMAIN", help="The domain whose SPF record is expanded.")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="text|json", help="text (default) or json.")
    ] = "text",
    nameserver: _NameserverOpt = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", metavar="SECONDS", help="Overall deadline for the whole tree, seconds."
        ),
    ] = 20.0,
    spf_view: _SpfViewOpt = "honoured",
    debug: _DebugOpt = False,
) -> None:
    """The SPF include tree of a domain, its lookup counts, what cannot be listed, and the
    addresses it authorises, each with its include chain.

    Exit codes: 0 the record was expanded completely; 2 it was not (over the lookup limit, a
    permerror, a term that depends on the client, a DNS failure).

    \b
    Examples:
      auditor spf _spf.google.com
      auditor spf example.com --spf-view published -o json
      auditor diff -e spf:example.com -d /etc/postfix/main.cf
    """

    def run() -> ExitCode:
        from auditor import audit, spf
        from auditor.reports import spf_report

        if output not in ("text", "json"):
            raise UsageError(f"unknown output {output!r}", hint="choose text or json")
        if not math.isfinite(timeout) or not 0 < timeout <= MAX_TIMEOUT:
            raise UsageError(
                f"invalid --timeout {timeout:g}", hint=f"give seconds, 0 to {MAX_TIMEOUT}"
            )
        fetching = _FetchOptions(timeout=timeout, nameserver=nameserver, spf_view=spf_view)
        options, view = fetching.dns_options(), fetching.view()
        expansion = spf.expand_domain(domain, options)
        render = spf_report.render_json if output == "json" else spf_report.render_text
        _write(render(expansion, view), None)
        code = ExitCode.OK if spf_report.complete(expansion) else ExitCode.TROUBLE
        everything = spf_report.space(expansion, view)
        for fam in (4, 6):
            if audit.covers_family(everything, fam):
                _err(f"error: {domain} authorises every IPv{fam} address (+all or the like)")
                code = ExitCode.TROUBLE
        return code

    raise typer.Exit(int(_guard(run)))


@app.command()
def providers(
    name: Annotated[
        str | None,
        typer.Argument(metavar="[NAME]", help="Show one provider in full (in any case)."),
    ] = None,
    catalog: _CatalogOpt = None,
    debug: _DebugOpt = False,
) -> None:
    """The provider catalog: names, filters, feed URLs and where each provider documents them.

    \b
    Examples:
      auditor providers
      auditor providers aws
      auditor providers --catalog my-catalog.yaml
    """

    def run() -> ExitCode:
        from auditor.sources.catalog import load_catalog

        cat = load_catalog(tuple(catalog or ()))
        if name is not None:
            if name.lower() not in cat:
                raise UsageError(
                    f"unknown provider {name!r}", hint="providers: " + ", ".join(cat.names())
                )
            p = cat.get(name.lower())
            lines = [
                f"name:        {p.name}",
                f"description: {p.description}",
                f"parser:      {p.parser}",
                f"filters:     {', '.join(p.filters) or '-'}",
                *(f"url:         {u}" for u in p.urls or ("- (give one with from=)",)),
                f"docs:        {p.docs or '-'}",
                f"refresh:     {int(p.refresh)} s" if p.refresh else "refresh:     -",
                f"defined in:  {p.defined_in}",
            ]
            if p.notes:
                lines.append(f"notes:       {p.notes}")
            lines.append(f"example:     auditor fetch {_example(p.name, p.filters)}")
            typer.echo("\n".join(_clean(line) for line in lines))
            return ExitCode.OK
        for n in cat.names():
            p = cat.get(n)
            filters = ", ".join(p.filters) or "-"
            typer.echo(_clean(f"{n:<11} {p.description}"))
            typer.echo(_clean(f"{'':<11} filters: {filters}"))
            for url in p.urls or ("(no fixed address: give one with from=)",):
                typer.echo(_clean(f"{'':<11} {url}"))
        typer.echo(
            "\nSpec: NAME or NAME:KEY=VALUE[,KEY=VALUE...] (NAME in any case); VALUE may be"
            " a|b; from=FILE-OR-URL reads the feed from elsewhere. Also: https URLs,"
            " text:URL-OR-PATH, json:URL-OR-PATH#SELECTOR, spf:DOMAIN, files,"
            " file+FORMAT:PATH, -."
        )
        return ExitCode.OK

    raise typer.Exit(int(_guard(run)))


def _example(name: str, filters: Sequence[str]) -> str:
    return f"{name}:{filters[0]}=VALUE" if filters else name


def _clean(text: str) -> str:
    """A catalog of the user's own is input: no control characters reach the terminal."""
    return text.translate(_CONTROL)


@app.command()
def formats(debug: _DebugOpt = False) -> None:
    """What is built in: input formats, reports and rule platforms, and their aliases.

    \b
    Examples:
      auditor formats
      auditor diff -e nodes.txt -d file+postfix-cidr:client_access
    """
    from auditor.allowlists import READERS
    from auditor.reports import REPORTS
    from auditor.rules import GENERATORS
    from auditor.service import NAMED

    sections: list[tuple[str, dict[str, str]]] = [
        (
            "input formats (--format, file+FORMAT:PATH)",
            {name: cls.description for name, cls in READERS.items()},
        ),
        ("reports (--output)", {name: cls.description for name, cls in REPORTS.items()}),
        ("rule platforms (--rules)", {name: cls.description for name, cls in GENERATORS.items()}),
    ]
    width = max(len(name) for _, rows in sections for name in rows)
    aliases = {"input formats": READERS.aliases, "rule platforms": GENERATORS.aliases}
    for title, rows in sections:
        typer.echo(f"{title}:")
        for name in sorted(rows):
            typer.echo(f"  {name:<{width}}  {rows[name]}")
        same = aliases.get(title.partition(" (")[0], {})
        if same:
            typer.echo("  aliases: " + ", ".join(f"{a} = {n}" for a, n in sorted(same.items())))
    typer.echo("services (--service, also tcp/PORTS, udp/PORTS, any; names join: smtp,smtps):")
    for name, spec in NAMED.items():
        typer.echo(f"  {name:<{width}}  {spec}")


def run() -> None:
    # A run builds hundreds of thousands of small acyclic objects (entries, rules, segments)
    # and then exits; the cyclic collector's default thresholds would walk them over and over
    # (half the time of a 50,000-rule export). Collect rarely instead.
    gc.set_threshold(200_000, 50, 100)
    app(prog_name="auditor")

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
from auditor.errors import AuditorError, ExitCode, UsageError

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

app = typer.Typer(
    name="auditor",
    help="Audit IP allowlists against the ranges a provider sends from.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_state = {"debug": False}
MAX_TIMEOUT = 3600
"""Seconds: a deadline beyond an hour is a typo, and platform timers overflow far beyond."""
T = TypeVar("T")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"auditor {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    _state["debug"] = debug


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
    typer.Option("--timeout", help="Overall deadline per fetched URL, seconds (retries included)."),
]
_CaBundleOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle", help="CA bundle for a private CA; certificates are always checked."
    ),
]
_CacheDirOpt = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Feed cache (default: $XDG_CACHE_HOME/allowlist-auditor)."),
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
    float, typer.Option("--max-shrink", help="Percent of a family's addresses (default 20).")
]
_MaxAgeOpt = Annotated[
    str,
    typer.Option("--max-age", help="A copy served from the cache older than this is stale (7d)."),
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
_CatalogOpt = Annotated[
    list[Path] | None,
    typer.Option("--catalog", help="A provider catalog of your own (adds or overrides)."),
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

    out = []
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
                _err(f"{finding.severity.value}: {where}{finding.message}")
            if rs.info.cache in ("cached", "stale") and rs.info.retrieved_at and not quiet:
                _err(f"info: {rs.info.name}: from the cache, retrieved {rs.info.retrieved_at}")
        out.append(rs)
    return out


def _to_address(text: str | None) -> str | None:
    if text is None:
        return None
    from auditor.errors import AddressError
    from auditor.ipspace import format_address, parse_address

    try:
        family, value, _ = parse_address(text)
    except AddressError as e:
        raise UsageError(f"invalid --to: {e}", hint="one address, e.g. --to 192.0.2.25") from None
    return format_address(family, value)


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


@app.command()
def diff(
    expected: Annotated[
        list[str],
        typer.Option("--expected", "-e", metavar="SOURCE", help="Expected ranges: a file or -."),
    ],
    declared: Annotated[
        list[str],
        typer.Option(
            "--declared", "-d", metavar="SOURCE", help="The allowlist to check: a file or -."
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="Input format for every file (default: by suffix)."),
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Report: text, json, csv, md, cidr.")
    ] = "text",
    output_file: Annotated[
        Path | None, typer.Option("--output-file", help="Write the report here, atomically.")
    ] = None,
    rules: Annotated[
        list[str] | None,
        typer.Option("--rules", "-r", metavar="PLATFORM", help="Add rules for the missing CIDRs."),
    ] = None,
    service: Annotated[
        str, typer.Option("--service", help="tcp/25 (default), tcp/25,465,587, udp/53, any.")
    ] = "tcp/25",
    chain: Annotated[
        str,
        typer.Option(
            "--chain",
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
    host_bits: Annotated[
        str, typer.Option("--host-bits", help="fix (default, with a warning) or reject.")
    ] = "fix",
    lenient: Annotated[
        bool,
        typer.Option(
            "--lenient",
            help="Paste mode: pull addresses out of any text, report the lines ignored.",
        ),
    ] = False,
    over_broad_v4: Annotated[
        int,
        typer.Option(
            "--over-broad-v4",
            help="Declared IPv4 entries broader than this prefix length are findings.",
        ),
    ] = 8,
    over_broad_v6: Annotated[int, typer.Option("--over-broad-v6", help="The same for IPv6.")] = 32,
    max_bytes: Annotated[
        int, typer.Option("--max-bytes", help="Refuse inputs bigger than this.")
    ] = 256 * 1024 * 1024,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on stdout.")] = False,
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
) -> None:
    """Compare expected ranges with an allowlist: missing, partial, extra, over-broad, rules.

    A SOURCE is a file, -, an https URL, a provider of the catalog with filters
    (aws:service=EC2,region=eu-west-1), text:URL or json:URL#SELECTOR (see: auditor providers).

    Exit codes: 0 in sync and complete, 1 drift, 2 trouble.
    """

    options_given = dict(locals())  # the fetch knobs, by name

    def run() -> ExitCode:
        from auditor import audit
        from auditor.model import AuditOptions
        from auditor.reports import ReportContext, report_for
        from auditor.service import Service

        svc = Service.parse(service)
        if (expected + declared).count("-") > 1:
            raise UsageError("standard input can be read only once", hint="give files instead")
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
            blocks = _rule_blocks(audit.missing_blocks(result))
            banner = ""
            if not result.complete:
                names = ", ".join(
                    rs.info.name for rs in result.sources if rs.completeness.value != "complete"
                )
                banner = (
                    f"# WARNING: made from incomplete inputs ({names}); the list of missing"
                    " CIDRs may be wrong. Review before use.\n"
                )
            placed = replace(rule_options, declared=tuple(dec))
            rendered = [(gen.name, banner + gen.render(blocks, placed)) for gen in generators]
            unfixed = [(gen.name, gen.unfixed(blocks, placed)) for gen in generators]
        ctx = ReportContext(rules=tuple(rendered), color=_is_terminal() and output_file is None)
        if not quiet or output_file is not None:
            _write(report.render(result, ctx), output_file)
        for fam in result.uncovered:
            _err(f"error: no declared source covers IPv{fam}; its expected addresses are unknown")
        for rs in result.sources:
            # failed sources were reported as they were read; say what the others lacked
            if rs.completeness.value not in ("complete", "failed"):
                level = "warning" if _usable(rs, allow_stale) else "error"
                why = "; ".join(rs.reasons) or rs.completeness.value
                _err(f"{level}: {rs.info.name}: source is {rs.completeness.value}: {why}")
        code = audit.exit_code(result)
        for name, problems in unfixed:
            if not problems:
                continue
            # rules known not to take effect: the run did not produce what was asked
            for text in problems[:_MAX_UNFIXED_SHOWN]:
                _err(f"error: {name} rules cannot let in {text}")
            if len(problems) > _MAX_UNFIXED_SHOWN:
                _err(f"error: {name} rules cannot let in {len(problems) - _MAX_UNFIXED_SHOWN} more")
            code = ExitCode.TROUBLE
        return code

    code = _guard(run)
    raise typer.Exit(int(code))


@app.command("rules")
def rules_cmd(
    platform: Annotated[str, typer.Argument(help="iptables, nftables (see: auditor formats).")],
    source: Annotated[
        str, typer.Argument(help="CIDRs: a text file, a JSON report of `auditor diff`, or -.")
    ] = "-",
    service: Annotated[str, typer.Option("--service", help="tcp/25 (default), ... any.")] = (
        "tcp/25"
    ),
    chain: Annotated[str, typer.Option("--chain", help="Chain the rules go to.")] = "INPUT",
    host_bits: Annotated[str, typer.Option("--host-bits", help="fix or reject.")] = "fix",
    timeout: _TimeoutOpt = 60.0,
    ca_bundle: _CaBundleOpt = None,
    cache_dir: _CacheDirOpt = None,
    offline: _OfflineOpt = False,
    catalog: _CatalogOpt = None,
    nameserver: _NameserverOpt = None,
    spf_view: _SpfViewOpt = "honoured",
) -> None:
    """Rules that allow the CIDRs of a source: a text file, a saved JSON report, stdin, a
    provider, a URL or an SPF record (fetched as `auditor fetch` does)."""
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
        with fetching.open(sys.stdin.buffer) as loader:
            sets = _load_all(
                [source], loader, fetching.load_options("expected", host_bits=_host_bits(host_bits))
            )
        rs = sets[0]
        if rs.completeness is not Completeness.COMPLETE:
            if rs.completeness is not Completeness.FAILED:  # failed ones were reported
                why = "; ".join(rs.reasons) or rs.completeness.value
                _err(f"error: {rs.info.name}: source is {rs.completeness.value}: {why}")
            _err("error: no rules written from an incomplete list")
            return ExitCode.TROUBLE
        blocks = _rule_blocks(audit.blocks_with_origins(sets[0].space, sets))
        sys.stdout.write(gen.render(blocks, options))
        return ExitCode.OK

    raise typer.Exit(int(_guard(run)))


@app.command()
def fetch(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE...",
            help="Providers with filters (aws:service=EC2,region=eu-west-1), https URLs,"
            " text:URL, json:URL#SELECTOR, files or -.",
        ),
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="cidr (aggregated, default), json or csv.")
    ] = "cidr",
    family: Annotated[
        str, typer.Option("--family", help="all (default), 4 or 6: one address family only.")
    ] = "all",
    output_file: Annotated[
        Path | None,
        typer.Option("--output-file", help="Write here, atomically, instead of stdout."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="Input format of local files (default: by suffix)."),
    ] = None,
    host_bits: Annotated[str, typer.Option("--host-bits", help="fix or reject.")] = "fix",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on stdout.")] = False,
    max_bytes: Annotated[
        int, typer.Option("--max-bytes", help="Refuse inputs (decoded downloads) bigger than this.")
    ] = 256 * 1024 * 1024,
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
) -> None:
    """Load expected ranges (fetching and caching feeds) and print them.

    Exit codes: 0 every source complete; 2 a source failed, was partial, or was stale
    (unless --allow-stale).
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
        if sources.count("-") > 1:
            raise UsageError("standard input can be read only once", hint="give files instead")
        fetching = _FetchOptions.of(options_given)
        options = fetching.load_options("expected", fmt=fmt, host_bits=_host_bits(host_bits))
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
        target = output_file
        if target is not None and code is not ExitCode.OK:
            # a file others read (a firewall's include, a cron artefact) keeps its last good
            # content; the incomplete listing still goes to stdout unless --quiet
            _err(f"error: {target} left unchanged: the sources are not complete")
            target = None
        if not quiet or target is not None:
            _write(text, target)
        return code

    raise typer.Exit(int(_guard(run)))


@app.command()
def explain(
    address: Annotated[str, typer.Argument(help="The source address to explain.")],
    declared: Annotated[
        list[str],
        typer.Option("--declared", "-d", metavar="SOURCE", help="Where it should be allowed."),
    ],
    expected: Annotated[
        list[str] | None,
        typer.Option("--expected", "-e", metavar="SOURCE", help="Whose address it may be."),
    ] = None,
    service: Annotated[
        str, typer.Option("--service", help="tcp/25 (default), tcp/25,465,587, udp/53, any.")
    ] = "tcp/25",
    chain: Annotated[
        str, typer.Option("--chain", help="Chain evaluated in rulesets (INPUT; FORWARD).")
    ] = "INPUT",
    to: _ToOpt = None,
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="Input format for every file.")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text (default) or json.")] = (
        "text"
    ),
    timeout: _TimeoutOpt = 60.0,
    ca_bundle: _CaBundleOpt = None,
    cache_dir: _CacheDirOpt = None,
    offline: _OfflineOpt = False,
    catalog: _CatalogOpt = None,
    nameserver: _NameserverOpt = None,
) -> None:
    """For one address: whose it is, and whether each declared source allows it, with the rule
    or entry that decides (file:line and its text).

    Exit codes: 0 every declared source allows it; 1 one does not; 2 a source could not say
    (conditional, failed, or the family is not covered).
    """
    options_given = dict(locals())  # the fetch knobs, by name

    def run() -> ExitCode:
        import json

        from auditor import audit
        from auditor.service import Service

        if output not in ("text", "json"):
            raise UsageError(f"unknown output {output!r}", hint="choose text or json")
        target = _to_address(address)
        if target is None:
            raise UsageError("an address is needed")
        fetching = _FetchOptions.of(options_given)
        ruleset = {"service": Service.parse(service), "chain": chain, "to": _to_address(to)}
        with fetching.open(sys.stdin.buffer) as loader:
            exp = _load_all(expected or [], loader, fetching.load_options("expected", fmt=fmt))
            dec_options = fetching.load_options("declared", fmt=fmt, **ruleset)
            sets, declared_specs = loader.companions(declared, dec_options)
            dec = _load_all(declared_specs, loader, replace(dec_options, sets=sets))
        result = audit.explain(target, exp, dec)
        if output == "json":
            doc = {
                "schema_version": 1,
                "kind": "explain",
                "address": result.address,
                "service": service,
                "allowed": result.allowed,
                "certain": result.certain,
                "expected": [{"range": e.text, "origin": str(e.origin)} for e in result.expected],
                "declared": [
                    {"source": d.source, "decision": d.decision, "where": d.where}
                    for d in result.declared
                ],
            }
            _write(json.dumps(doc, indent=2, sort_keys=True) + "\n", None)
        else:
            lines = [f"{result.address} ({Service.parse(service).describe()})"]
            if expected:
                if result.expected:
                    lines += [f"  expected: {e.text} from {e.origin}" for e in result.expected]
                else:
                    lines.append("  expected: not in any expected source")
            for d in result.declared:
                lines.append(f"  {d.source}: {d.decision}: {d.where}")
            _write("\n".join(_clean(line) for line in lines) + "\n", None)
        if not result.certain:
            return ExitCode.TROUBLE
        return ExitCode.OK if result.allowed else ExitCode.DRIFT

    raise typer.Exit(int(_guard(run)))


@app.command("spf")
def spf_cmd(
    domain: Annotated[str, typer.Argument(help="The domain whose SPF record is expanded.")],
    output: Annotated[str, typer.Option("--output", "-o", help="text (default) or json.")] = (
        "text"
    ),
    nameserver: _NameserverOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Overall deadline for the whole tree, seconds.")
    ] = 20.0,
    spf_view: _SpfViewOpt = "honoured",
) -> None:
    """The SPF include tree of a domain, its lookup counts, what cannot be listed, and the
    addresses it authorises, each with its include chain.

    Exit codes: 0 the record was expanded completely; 2 it was not (over the lookup limit, a
    permerror, a term that depends on the client, a DNS failure).
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
        typer.Argument(help="Show one provider in full."),
    ] = None,
    catalog: _CatalogOpt = None,
) -> None:
    """The provider catalog: names, filters, feed URLs and where each provider documents them."""

    def run() -> ExitCode:
        from auditor.sources.catalog import load_catalog

        cat = load_catalog(tuple(catalog or ()))
        if name is not None:
            if name not in cat:
                raise UsageError(
                    f"unknown provider {name!r}", hint="providers: " + ", ".join(cat.names())
                )
            p = cat.get(name)
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
            "\nSpec: NAME or NAME:KEY=VALUE[,KEY=VALUE...]; VALUE may be a|b; from=FILE-OR-URL"
            " reads the feed from elsewhere. Also: https URLs, text:URL, json:URL#SELECTOR,"
            " files, -."
        )
        return ExitCode.OK

    raise typer.Exit(int(_guard(run)))


def _example(name: str, filters: Sequence[str]) -> str:
    return f"{name}:{filters[0]}=VALUE" if filters else name


def _clean(text: str) -> str:
    """A catalog of the user's own is input: no control characters reach the terminal."""
    return text.translate(_CONTROL)


@app.command()
def formats() -> None:
    """What is built in: input formats, reports and rule platforms."""
    from auditor.allowlists import READERS
    from auditor.reports import REPORTS
    from auditor.rules import GENERATORS

    for title, registry in (
        ("input formats (--format)", READERS),
        ("reports (--output)", REPORTS),
        ("rule platforms (--rules)", GENERATORS),
    ):
        typer.echo(f"{title}:")
        for name in sorted(registry):
            typer.echo(f"  {name:<12} {registry[name].description}")


def run() -> None:
    # A run builds hundreds of thousands of small acyclic objects (entries, rules, segments)
    # and then exits; the cyclic collector's default thresholds would walk them over and over
    # (half the time of a 50,000-rule export). Collect rarely instead.
    gc.set_threshold(200_000, 50, 100)
    app(prog_name="auditor")

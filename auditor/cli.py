"""The command line. Thin: build loaders, call the library, render, map to an exit code.

Heavy modules are imported inside the commands so that ``auditor --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from auditor import __version__
from auditor.errors import AuditorError, ExitCode, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from auditor.model import MissingBlock, RangeSet, Role

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
    except KeyboardInterrupt:
        _err("error: interrupted")
        raise typer.Exit(int(ExitCode.TROUBLE)) from None
    except Exception as e:  # noqa: BLE001 - the last line of defence: never exit 0 or 1
        if _state["debug"]:
            traceback.print_exc()
        _err(f"error: internal error: {type(e).__name__}: {e} (run with --debug for details)")
        raise typer.Exit(int(ExitCode.TROUBLE)) from None


def _load_all(
    specs: list[str], role: Role, fmt: str | None, host_bits: str, lenient: bool, max_bytes: int
) -> list[RangeSet]:
    """Load every source; one that fails is kept as a failed set so the others still count."""
    from auditor.allowlists import ReadContext
    from auditor.errors import InputError
    from auditor.model import Completeness, Entries, RangeSet, SourceInfo
    from auditor.sources import files

    if host_bits not in ("fix", "reject"):
        raise UsageError(f"invalid --host-bits {host_bits!r}", hint="choose fix or reject")
    out = []
    for spec in specs:
        name = "<stdin>" if spec == "-" else spec
        ctx = ReadContext(name, role, host_bits, lenient)  # type: ignore[arg-type]
        try:
            rs = files.load(spec, ctx, fmt=fmt, stdin=sys.stdin.buffer, max_bytes=max_bytes)
        except InputError as e:
            if _state["debug"]:
                traceback.print_exc()
            _err(f"error: {e}")
            rs = RangeSet(
                SourceInfo(name, role, fmt or "unknown"),
                Entries(name),
                Completeness.FAILED,
                (str(e),),
            )
        else:
            for finding in rs.findings:
                where = f"{finding.origin}: " if finding.origin else ""
                _err(f"{finding.severity.value}: {where}{finding.message}")
        out.append(rs)
    return out


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
    chain: Annotated[str, typer.Option("--chain", help="Chain the rules go to.")] = "INPUT",
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
) -> None:
    """Compare expected ranges with an allowlist: missing, partial, extra, over-broad, rules.

    Exit codes: 0 in sync and complete, 1 drift, 2 trouble.
    """

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
        exp = _load_all(expected, "expected", fmt, host_bits, lenient, max_bytes)
        dec = _load_all(declared, "declared", fmt, host_bits, lenient, max_bytes)
        options = AuditOptions(
            over_broad_v4=over_broad_v4,
            over_broad_v6=over_broad_v6,
            scope=tuple(scope or ()),
            fail_on_extra=fail_on_extra,
            service=str(svc),
        )
        result = audit.compare(exp, dec, options)
        rendered = []
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
            rendered = [(gen.name, banner + gen.render(blocks, rule_options)) for gen in generators]
        ctx = ReportContext(rules=tuple(rendered), color=_is_terminal() and output_file is None)
        if not quiet or output_file is not None:
            _write(report.render(result, ctx), output_file)
        for rs in result.sources:
            # failed sources were reported as they were read; say what the others lacked
            if rs.completeness.value not in ("complete", "failed"):
                why = "; ".join(rs.reasons) or rs.completeness.value
                _err(f"error: {rs.info.name}: source is {rs.completeness.value}: {why}")
        return audit.exit_code(result)

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
) -> None:
    """Rules that allow the CIDRs read from a file, a saved JSON report, or stdin."""

    def run() -> ExitCode:
        from auditor import audit
        from auditor.model import Completeness
        from auditor.rules import RuleOptions, generator_for
        from auditor.service import Service

        gen = generator_for(platform)
        options = RuleOptions(service=Service.parse(service), chain=chain)
        gen.check(options)
        sets = _load_all([source], "expected", None, host_bits, False, 256 * 1024 * 1024)
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
    app(prog_name="auditor")

"""The options the commands share, gathered once per run into one frozen object, and the
checks and conversions of their values."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from auditor.errors import UsageError

if TYPE_CHECKING:
    from rich.progress import TaskID

    from auditor.ipspace import HostBitsPolicy
    from auditor.model import Role
    from auditor.service import Service
    from auditor.sources.catalog import Catalog
    from auditor.sources.load import LazyCatalog, LoadOptions, SourceLoader
    from auditor.spf.options import DnsOptions
    from auditor.spf.result import View

MAX_TIMEOUT = 3600
"""Seconds: a deadline beyond an hour is a typo, and platform timers overflow far beyond."""


@dataclass(frozen=True, repr=False, eq=False)
class Options:
    """The options of one run: what every command that reads sources shares (a command
    that lacks one gets its default). Values are kept as given; they are checked where they
    are used, so the first error is the same whatever the command.

    Built once per run and never compared or printed: no generated ``__repr__``/``__eq__``,
    whose making is most of this module's import time."""

    debug: bool = False
    quiet: bool = False
    expected: tuple[str, ...] = ()
    declared: tuple[str, ...] = ()
    fmt: str | None = None
    host_bits: str = "fix"
    lenient: bool = False
    service: str = "tcp/25"
    chain: str = "INPUT"
    to: str | None = None
    scope: tuple[str, ...] = ()
    output: str = "text"
    output_file: Path | None = None
    prometheus: Path | None = None
    """diff --prometheus: the node_exporter textfile to write."""
    audit_name: str = "diff"
    """diff --audit-name: the audit label of --prometheus and --output nagios."""
    timeout: float = 60.0
    ca_bundle: Path | None = None
    cache_dir: Path | None = None
    offline: bool = False
    allow_stale: bool = False
    accept_shrink: bool = False
    max_shrink: float = 20.0
    max_age: str = "7d"
    catalog: tuple[Path, ...] = ()
    max_bytes: int = 256 * 1024 * 1024
    nameserver: str | None = None
    spf_view: str = "honoured"

    @classmethod
    def of(cls, given: dict[str, Any], debug: bool) -> Options:
        """From a command's parameters: each field is taken from the parameter of its name
        (--debug is not one: it is given before or after the command)."""
        fields = {f: given[f] for f in cls.__dataclass_fields__ if f in given}
        fields["debug"] = debug
        for name in ("expected", "declared", "scope", "catalog"):
            fields[name] = tuple(fields.get(name) or ())
        return cls(**fields)

    @property
    def color(self) -> bool:
        """Rich output: on a terminal that does not ask for none, and not to a file."""
        from auditor.cli.output import is_terminal

        return is_terminal() and self.output_file is None

    def reading(self) -> dict[str, Any]:
        """How files are read, for :meth:`load_options`."""
        return {"fmt": self.fmt, "host_bits": host_bits(self.host_bits), "lenient": self.lenient}

    def ruleset(self, service: Service) -> dict[str, Any]:
        """How declared rulesets are evaluated, for :meth:`load_options`."""
        return {"service": service, "chain": self.chain, "to": to_address(self.to)}

    def loader(self, stdin: BinaryIO | None) -> SourceLoader:
        from auditor.net.options import NetOptions
        from auditor.sources.load import LazyCatalog, SourceLoader

        self.check_timeout()
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
        catalog: Catalog | LazyCatalog = LazyCatalog()
        if self.catalog:  # the user's own: read now, a broken one fails the run up front
            from auditor.sources.catalog import load_catalog

            catalog = load_catalog(self.catalog)
        return SourceLoader(
            catalog,
            net,
            stdin,
            progress=_progress(self.quiet),
            dns_options=self.dns_options(),
            spf_view=self.view(),
        )

    def check_timeout(self) -> None:
        if not math.isfinite(self.timeout) or not 0 < self.timeout <= MAX_TIMEOUT:
            raise UsageError(
                f"invalid --timeout {self.timeout:g}", hint=f"give seconds, 0 to {MAX_TIMEOUT}"
            )

    def dns_options(self) -> DnsOptions:
        from auditor.spf.options import DnsOptions, check_nameserver

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
    def open(self, stdin: BinaryIO | None = None) -> Iterator[SourceLoader]:
        """A loader for one run (stdin: the process's, unless given): committed and closed at
        the end, its download bar gone."""
        loader = self.loader(sys.stdin.buffer if stdin is None else stdin)
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
            max_age=parse_duration(self.max_age, "--max-age"),
            **kw,
        )


def parse_duration(text: str, option: str) -> float:
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


def host_bits(value: str) -> HostBitsPolicy:
    if value not in ("fix", "reject"):
        raise UsageError(f"invalid --host-bits {value!r}", hint="choose fix or reject")
    return value  # type: ignore[return-value]


def to_address(text: str | None, what: str = "--to") -> str | None:
    """One address, normalised; ``what`` names the argument it came from in the error."""
    if text is None:
        return None
    import re

    from auditor.errors import AddressError
    from auditor.ipspace import format_address, parse_address

    with_port = re.fullmatch(
        r"(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})|\[([0-9A-Fa-f:.]+)\]:(\d{1,5})", text
    )
    if with_port:
        address = with_port.group(1) or with_port.group(3)
        port = with_port.group(2) or with_port.group(4)
        raise UsageError(
            f"invalid {what} {text!r}: it has a port",
            hint=f"give the address alone, {address}, and the port as --service tcp/{port}",
        )
    try:
        family, value, _ = parse_address(text)
    except AddressError as e:
        example = "192.0.2.25" if what == "ADDRESS" else f"{what} 192.0.2.25"
        raise UsageError(
            f"invalid {what} {text!r}: {e}", hint=f"one IPv4 or IPv6 address, e.g. {example}"
        ) from None
    return format_address(family, value)


def stdin_once(specs: Sequence[str]) -> None:
    from auditor.sources.spec import reads_stdin

    if sum(reads_stdin(spec) for spec in specs) > 1:
        raise UsageError("standard input can be read only once", hint="give files instead")


def _progress(quiet: bool) -> Callable[[str, int, int | None], None] | None:
    """A download bar on a terminal's stderr; nothing when piped or quiet. The bar is
    transient: it goes away when the run's loader closes (:meth:`Options.open`)."""
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


def family_of(value: str) -> int | None:
    """``--family``: None for all, else 4 or 6."""
    if value not in ("all", "4", "6"):
        from auditor.errors import UsageError

        raise UsageError(f"invalid --family {value!r}", hint="choose all, 4 or 6")
    return None if value == "all" else int(value)

"""The reader interface, the shared collector that turns parsed items into a RangeSet, and the
family's registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from auditor import ipspace, plugins
from auditor.errors import AddressError, InputError
from auditor.ipspace import HostBitsPolicy
from auditor.model import (
    Columns,
    Completeness,
    Entries,
    Entry,
    Finding,
    Origin,
    RangeSet,
    Role,
    Severity,
    SourceInfo,
)
from auditor.registry import Registry
from auditor.service import Service

# Findings of one kind kept per source before they are summarised in one line.
MAX_FINDINGS_PER_KIND = 50


@dataclass(frozen=True)
class ReadContext:
    """Everything a reader needs besides the bytes: who it reads for and with which policy."""

    name: str
    role: Role
    host_bits: HostBitsPolicy = "fix"
    lenient: bool = False
    now: datetime | None = None
    service: Service | None = None
    """For rulesets: the service whose verdicts are asked (None: tcp/25)."""
    chain: str | None = None
    """For rulesets: the chain to evaluate (None: INPUT)."""
    to: str | None = None
    """For rulesets that filter on destination: the address the service listens on."""
    sets: Mapping[str, Sequence[tuple[int, int, int]]] = field(default_factory=dict)
    """Named sets given alongside (``ipset save``): name to (family, first, last) members."""


class ReaderError(InputError):
    """The content is not valid for the reader's format."""


class Reader(ABC):
    """Base of every list reader: ``parse(data, ctx)`` is pure and returns a RangeSet."""

    name: ClassVar[str]
    description: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]] = ()
    ruleset: ClassVar[bool] = False
    """True for readers that evaluate rules for a service (firewalls), not lists."""
    provides: ClassVar[str | None] = None
    """What a file of this format is to the readers beside it: ``"sets"`` for named sets that
    rules refer to (ipset saves, AWS prefix lists). Next to a reader that needs them, such a
    file is read with :meth:`companion` and is not a list of its own."""
    needs: ClassVar[tuple[str, ...]] = ()
    """The companions this format resolves references with, besides the named sets that every
    ruleset takes (see :meth:`companions_needed`)."""
    provider_sets: ClassVar[Mapping[str, str]] = {}
    """Catalog providers whose feed resolves this format's references: provider name to the
    key prefix its ``tag`` values take in :attr:`ReadContext.sets` (Azure service tags)."""

    @classmethod
    def companions_needed(cls) -> frozenset[str]:
        """What the format reads from the files beside it: :attr:`needs`, and ``"sets"`` for
        every ruleset (its rules may name sets given alongside, :attr:`ReadContext.sets`)."""
        return frozenset(cls.needs) | (frozenset({"sets"}) if cls.ruleset else frozenset())

    def companion(self, data: bytes, name: str) -> dict[str, list[tuple[int, int, int]]]:
        """The named sets of a companion file, (family, first, last) members by name; only
        for a format that :attr:`provides` them."""
        raise NotImplementedError(f"{self.name} provides no companion sets")

    @staticmethod
    def sniff(data: bytes) -> bool:
        """Whether the content is unmistakably this format (used when the suffix says nothing)."""
        return False

    @abstractmethod
    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        """The RangeSet of the content; ReaderError when it is not valid for the format."""


READERS: Registry[Reader] = plugins.READERS
"""Every reader, one line each in :mod:`auditor.plugins`: adding a format is its module plus a
line there."""


def reader_for(name: str) -> Reader:
    """A reader by name, in any case, or an alias (``nft`` is nftables)."""
    return READERS.create(name)


def file_path(name: str) -> str:
    """The path of a file source named ``name``: without a ``file:`` or ``file+FORMAT:`` in
    front (as the source was given), the name itself otherwise."""
    prefix, sep, rest = name.partition(":")
    if sep and (prefix == "file" or prefix.startswith("file+")) and rest not in ("", "-"):
        return rest[2:] if rest.startswith("///") else rest
    return name


def decode_text(data: bytes, ctx: ReadContext) -> str:
    """UTF-8 (with or without BOM); NUL bytes or invalid UTF-8 mean this is not a text list."""
    if b"\x00" in data[:65536] or b"\x00" in data:
        raise ReaderError(
            "this is not a text file (it contains NUL bytes)",
            source=ctx.name,
            hint="give a text list of addresses, CIDRs or ranges, one per line",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ReaderError(
            f"invalid UTF-8 at byte {e.start}",
            source=ctx.name,
            line=line,
            hint="save the file as UTF-8",
        ) from None
    return text.removeprefix("\ufeff")


def address_findings(text: str, parsed: ipspace.Parsed, origin: Origin) -> list[Finding]:
    """The warnings an address earns by how it is written: host bits set (read as the
    network), IPv4-mapped IPv6 (kept as IPv6, which covers no IPv4 sender)."""
    out = []
    if parsed.host_bits:
        fixed = ipspace.format_cidr(parsed.family, parsed.first, parsed.prefixlen or 0)
        message = f"{text!r} has host bits set; read as {fixed}"
        out.append(Finding("host-bits", Severity.WARNING, message, origin))
    if parsed.mapped:
        out.append(
            Finding("ipv4-mapped", Severity.WARNING, ipspace.mapped_note(text, parsed), origin)
        )
    return out


@dataclass
class Collector:
    """Accumulates entries and findings while a reader walks its input."""

    ctx: ReadContext
    fmt: str
    entries: list[Entry] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    """Every group the input declares, empty ones included (each is a scope)."""

    def group(self, name: str) -> None:
        if name not in self.groups:
            self.groups.append(name)

    def origin(self, line: int | None = None, path: str | None = None) -> Origin:
        return Origin(self.ctx.name, line, path)

    def note(self, kind: str, severity: Severity, message: str, origin: Origin | None) -> None:
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        if n <= MAX_FINDINGS_PER_KIND:
            target = self.errors if severity is Severity.ERROR else self.findings
            target.append(Finding(kind, severity, message, origin))

    def add_text(
        self, text: str, origin: Origin, group: str | None = None
    ) -> ipspace.Parsed | None:
        """Parse one item; a bad one is recorded as an error finding and None is returned."""
        try:
            parsed = ipspace.parse(text, self.ctx.host_bits)
        except AddressError as e:
            self.note("bad-entry", Severity.ERROR, str(e), origin)
            return None
        self.add(parsed, text, origin, group)
        return parsed

    def add(self, parsed: ipspace.Parsed, text: str, origin: Origin, group: str | None) -> None:
        for finding in address_findings(text, parsed, origin):
            self.note(finding.kind, finding.severity, finding.message, origin)
        self.entries.append(Entry(parsed.family, parsed.first, parsed.last, origin, group))

    def summary_findings(self) -> list[Finding]:
        out = []
        for kind, n in sorted(self.counts.items()):
            if n > MAX_FINDINGS_PER_KIND:
                out.append(
                    Finding(
                        kind,
                        Severity.INFO,
                        f"{n - MAX_FINDINGS_PER_KIND} more '{kind}' findings not listed",
                        Origin(self.ctx.name),
                    )
                )
        return out

    def result(
        self, data: bytes, *, explicit_empty: bool = False, detail: str | None = None
    ) -> RangeSet:
        """The RangeSet, or ReaderError when nothing valid was read and emptiness was not said."""
        bad = self.counts.get("bad-entry", 0)
        if not self.entries and not explicit_empty:
            if bad:
                first = self.errors[0]
                raise ReaderError(
                    f"no valid entry ({bad} invalid); first: {first.message}",
                    source=str(first.origin) if first.origin else self.ctx.name,
                )
            if self.ctx.role == "expected":
                raise ReaderError(
                    "no entries",
                    source=self.ctx.name,
                    hint="an expected source must list at least one address; a provider that"
                    " publishes nothing is a failure, not an empty set",
                )
            raise ReaderError(
                "no entries",
                source=self.ctx.name,
                hint="an empty list is an error here; in YAML or JSON write [] to allow nothing",
            )
        completeness = Completeness.COMPLETE
        reasons: tuple[str, ...] = ()
        if bad:
            completeness = Completeness.PARTIAL
            reasons = (f"{bad} line(s) could not be read",)
        info = SourceInfo.for_bytes(self.ctx.name, self.ctx.role, self.fmt, data, self.ctx.now)
        if detail:
            info = SourceInfo(**{**info.__dict__, "detail": detail})
        return RangeSet(
            info=info,
            entries=Entries.from_entries(self.ctx.name, self.entries, self.groups),
            completeness=completeness,
            reasons=reasons,
            findings=tuple(self.errors + self.findings + self.summary_findings()),
        )


def columns_result(
    data: bytes,
    ctx: ReadContext,
    fmt: str,
    v4: Columns,
    v6: Columns,
    findings: tuple[Finding, ...] = (),
    reasons: tuple[str, ...] = (),
    info: SourceInfo | None = None,
) -> RangeSet:
    """A RangeSet from columns built in bulk (the fast path of big text lists); ``info`` when
    the caller has described (and hashed) the data already."""
    return RangeSet(
        info=info or SourceInfo.for_bytes(ctx.name, ctx.role, fmt, data, ctx.now),
        entries=Entries(ctx.name, v4, v6),
        completeness=Completeness.PARTIAL if reasons else Completeness.COMPLETE,
        reasons=reasons,
        findings=findings,
    )

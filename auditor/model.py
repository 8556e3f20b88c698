"""The values that flow from loaders to the core and on to renderers; all immutable.

Entries are stored by column (one list or array per field and family) so that a feed of a
million lines does not become a million objects; :class:`Entry` values are made on demand.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from functools import cached_property
from typing import Literal, NamedTuple

from auditor import ipspace
from auditor.ipspace import Intervals, Ints, IPSpace

Role = Literal["expected", "declared"]


class Completeness(str, Enum):
    """How much of a source was seen. Only ``complete`` everywhere may exit 0."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    STALE = "stale"
    FAILED = "failed"


class Status(str, Enum):
    """The outcome of an audit; the command line maps it to the process exit code."""

    IN_SYNC = "in-sync"
    """Every source complete and nothing expected missing (nor a finding asked to fail on)."""
    DRIFT = "drift"
    """Something expected is missing, or another finding the run was asked to fail on."""
    INCOMPLETE = "incomplete"
    """A source was not complete, a family was not covered, or expected covers everything."""


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True, order=True)
class Origin:
    """Where an entry came from: a file or URL, and a line and/or a structured path in it."""

    source: str
    line: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        text = self.source
        if self.line is not None:
            text += f":{self.line}"
        if self.path:
            text += f" ({self.path})"
        return text


@dataclass(frozen=True, slots=True)
class Entry:
    """One parsed line or item of a source."""

    family: int
    first: int
    last: int
    origin: Origin
    group: str | None = None

    @property
    def text(self) -> str:
        return ipspace.format_interval(self.family, self.first, self.last)

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    @property
    def prefixlen(self) -> int | None:
        size = self.size
        if size & (size - 1) == 0 and self.first & (size - 1) == 0:
            return ipspace.BITS[self.family] - (size.bit_length() - 1)
        return None


@dataclass(frozen=True, slots=True)
class Finding:
    """Something worth telling about an input that is not, by itself, a failure to read it."""

    kind: str
    """A kebab-case name: host-bits, ignored-line, over-broad, ipv4-mapped, redundant, ..."""
    severity: Severity
    message: str
    origin: Origin | None = None


@dataclass(frozen=True)
class Columns:
    """Entries of one family, one sequence per field (lists, or numpy arrays for big inputs)."""

    first: Ints = ()
    last: Ints = ()
    line: Ints = ()
    """Line number, 0 when the format has no lines."""
    group: Sequence[int] | None = None
    """Index into :attr:`Entries.groups`; None when the source has no groups."""
    path: Sequence[str] | None = None
    """A structured path per entry (``mail[2]``), or None."""

    def __len__(self) -> int:
        return len(self.first)


@dataclass(frozen=True)
class Entries:
    """All entries of one source, by family."""

    source: str
    v4: Columns = field(default_factory=Columns)
    v6: Columns = field(default_factory=Columns)
    groups: tuple[str, ...] = ()

    @classmethod
    def from_entries(
        cls, source: str, entries: Sequence[Entry], groups: Sequence[str] = ()
    ) -> Entries:
        """Columns from entries; ``groups`` names groups that may have no entry at all."""
        groups = tuple(sorted({e.group for e in entries if e.group is not None} | set(groups)))
        gindex = {g: i for i, g in enumerate(groups)}
        cols: dict[int, Columns] = {}
        for fam in (4, 6):
            mine = [e for e in entries if e.family == fam]
            cols[fam] = Columns(
                first=[e.first for e in mine],
                last=[e.last for e in mine],
                line=[e.origin.line or 0 for e in mine],
                group=[gindex[e.group] if e.group else -1 for e in mine] if groups else None,
                path=[e.origin.path or "" for e in mine]
                if any(e.origin.path for e in mine)
                else None,
            )
        return cls(source, cols[4], cols[6], groups)

    def family(self, family: int) -> Columns:
        return self.v4 if family == 4 else self.v6

    def __len__(self) -> int:
        return len(self.v4) + len(self.v6)

    def count(self, family: int) -> int:
        return len(self.family(family))

    def entry(self, family: int, index: int) -> Entry:
        col = self.family(family)
        line = int(col.line[index]) if len(col.line) else 0
        path = col.path[index] if col.path is not None else None
        group = None
        if col.group is not None and col.group[index] >= 0:
            group = self.groups[int(col.group[index])]
        return Entry(
            family,
            ipspace.value_at(col.first, index),
            ipspace.value_at(col.last, index),
            Origin(self.source, line or None, path or None),
            group,
        )

    def origin(self, family: int, index: int) -> Origin:
        """The origin of one entry, without making the Entry (a hot path for big reports)."""
        col = self.family(family)
        line = int(col.line[index]) if len(col.line) else 0
        path = col.path[index] if col.path is not None else None
        return Origin(self.source, line or None, path or None)

    def __iter__(self) -> Iterator[Entry]:
        for fam in (4, 6):
            for i in range(self.count(fam)):
                yield self.entry(fam, i)

    def space(self, group: str | None = None) -> IPSpace:
        def one(fam: int) -> Intervals:
            col = self.family(fam)
            first, last = col.first, col.last
            if group is not None:
                first, last = ipspace.as_list(first), ipspace.as_list(last)
                gid = self.groups.index(group)
                keep = [i for i in range(len(col)) if col.group is not None and col.group[i] == gid]
                first = [first[i] for i in keep]
                last = [last[i] for i in keep]
            return ipspace.normalize(first, last)

        if group is None and ipspace.is_vector(self.v4.first) and ipspace.is_vector(self.v6.first):
            from auditor import _vector

            v4, v6 = _vector.parallel_map(one, (4, 6))  # numpy: on two cores at once
            return IPSpace(v4, v6)
        return IPSpace(one(4), one(6))

    def broader_than(self, family: int, prefixlen: int) -> list[int]:
        """Indexes of entries that cover more addresses than one /prefixlen network."""
        col = self.family(family)
        # the whole space is always broader, even when the limit is /0
        limit = min(1 << (ipspace.BITS[family] - prefixlen), ipspace.MAX[family])
        if ipspace.is_vector(col.first):
            from auditor import _vector

            return _vector.wider_than(col.first, col.last, limit)
        return [
            i for i, (a, b) in enumerate(zip(col.first, col.last, strict=True)) if b - a >= limit
        ]


def reading_time() -> datetime:
    """Now, or SOURCE_DATE_EPOCH when set, so that reports can be reproduced byte for byte."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), timezone.utc)
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class SourceInfo:
    """What a set was read from, for reports and change requests."""

    name: str
    role: Role
    format: str
    sha256: str | None = None
    size_bytes: int | None = None
    read_at: str = ""
    detail: str | None = None
    url: str | None = None
    """Where a fetched source came from (after the catalog resolved its name)."""
    version: str | None = None
    """The feed's own version stamp: ``syncToken 1724266389``, ``changeNumber 412``."""
    retrieved_at: str | None = None
    """When the provider last vouched for this content (a 200 or a 304), for fetched sources."""
    cache: str | None = None
    """How a fetched source was obtained: fresh, revalidated, cached or stale."""
    companions: tuple[tuple[str, str], ...] = ()
    """The files that resolved its references (an ``ipset save`` next to an iptables
    export): (name, SHA-256), inputs of the audit as much as the source itself."""

    @classmethod
    def for_bytes(
        cls, name: str, role: Role, fmt: str, data: bytes, now: datetime | None = None
    ) -> SourceInfo:
        when = (now or reading_time()).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cls(name, role, fmt, sha256(data), len(data), when)


def sha256(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex. For small data the interpreter's own implementation:
    loading OpenSSL for hashlib costs more than hashing some hundred kilobytes."""
    if len(data) < 1 << 20:
        try:
            from _sha2 import sha256 as small  # type: ignore[import-not-found]  # 3.12 on
        except ImportError:
            try:
                from _sha256 import sha256 as small  # type: ignore[import-not-found]
            except ImportError:
                small = None
        if small is not None:
            return small(data).hexdigest()  # type: ignore[no-any-return]
    import hashlib

    return hashlib.sha256(data).hexdigest()


Outcome = Literal["accept", "drop", "return", "conditional"]


class RuleRef(NamedTuple):
    """The rule that decided: where it is and what it says."""

    origin: Origin
    text: str
    why: str = ""
    """For a conditional verdict: what the export does not show."""

    def describe(self) -> str:
        text = self.text if len(self.text) <= 160 else self.text[:157] + "..."
        return f"{self.origin}: {text}" + (f" [{self.why}]" if self.why else "")


class Segment(NamedTuple):
    """Addresses ``first..last`` and their verdict (a tuple: chains make millions of them)."""

    first: int
    last: int
    outcome: Outcome
    rule: RuleRef


@dataclass(frozen=True)
class Stage:
    """One chain a packet crosses on its path, with that chain's own verdict per address.

    An accept ends only the chain it is in (an iptables table's built-in chain, an nftables
    base chain); the packet then meets the next one. So a rule that lets an address in must be
    placed in every stage that does not accept it; rule generators read these to do so.
    """

    platform: Literal["iptables", "nftables"]
    table: str
    """iptables: ``raw``, ``filter``, ...; nftables: the table's name."""
    chain: str
    hook: str
    """``prerouting``, ``input``, ``forward``, ``ingress``, ``postrouting``; "" for a chain
    evaluated alone that has no hook."""
    priority: int
    kind: str
    """What the chain does: ``filter``, or ``nat`` (an accept there would skip the rewrite)."""
    segments: tuple[Segment, ...]
    """Disjoint, covering the family's whole space."""
    table_family: str = ""
    """nftables: the table's family (``ip``, ``ip6``, ``inet``, ``netdev``, ``bridge``)."""

    @property
    def label(self) -> str:
        if self.platform == "nftables":
            return f"{self.table_family} {self.table} {self.chain}"
        return f"{self.table} {self.chain}"


@dataclass(frozen=True)
class Verdicts:
    """Per family, the disjoint segments of the address space with their deciding rule."""

    family: int
    segments: tuple[Segment, ...]
    stages: tuple[Stage, ...] = ()
    """For firewall rulesets: every chain on the path, in the order a packet meets them."""

    def of(self, outcome: Outcome) -> list[Segment]:
        return [s for s in self.segments if s.outcome == outcome]

    def lookup(self, address: int) -> Segment | None:
        import bisect

        i = bisect.bisect_right([s.first for s in self.segments], address) - 1
        if i >= 0 and self.segments[i].last >= address:
            return self.segments[i]
        return None


@dataclass(frozen=True)
class RangeSet:
    """One loaded source: its entries with origins, how complete it is, and its findings."""

    info: SourceInfo
    entries: Entries
    completeness: Completeness = Completeness.COMPLETE
    reasons: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    tags: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    """Group name to the feed tags it stands for (service, region, ...), for fetched feeds."""
    verdicts: tuple[Verdicts, ...] = ()
    """For rulesets: every address's verdict and deciding rule, per family covered."""
    families: tuple[int, ...] = (4, 6)
    """The address families the source speaks for (an iptables export covers one)."""
    make_objects: Callable[[], Entries] | None = field(default=None, repr=False, compare=False)
    """For rulesets: makes :attr:`objects` (only a run with ``--scope`` asks for them)."""

    @cached_property
    def space(self) -> IPSpace:
        return self.entries.space()

    @cached_property
    def objects(self) -> Entries | None:
        """For rulesets: the addresses each named object holds (an ipset, an nftables set, a
        chain's accepting rules, a cidr table), grouped by object name. They are scopes only:
        what the source allows is :attr:`entries`, decided by the rules."""
        return None if self.make_objects is None else self.make_objects()

    @property
    def groups(self) -> tuple[str, ...]:
        if self.objects is None:
            return self.entries.groups
        return self.entries.groups + tuple(
            g for g in self.objects.groups if g not in self.entries.groups
        )

    def scope(self, group: str) -> IPSpace:
        space = self.entries.space(group) if group in self.entries.groups else IPSpace()
        if self.objects is not None and group in self.objects.groups:
            space = space | self.objects.space(group)
        return space

    @property
    def scope_entries(self) -> Entries:
        """The entries scopes are made of: the objects of a ruleset, the entries of a list."""
        return self.objects if self.objects is not None else self.entries


@dataclass(frozen=True)
class Coverage:
    """An expected entry and how many of its addresses the declared side allows."""

    entry: Entry
    covered: int

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.entry.size


@dataclass(frozen=True, slots=True)
class MissingBlock:
    """One minimal missing CIDR and the expected entries it came from."""

    family: int
    network: int
    prefixlen: int
    origins: tuple[Origin, ...]

    @property
    def cidr(self) -> str:
        return ipspace.format_cidr(self.family, self.network, self.prefixlen)

    @property
    def size(self) -> int:
        return 1 << (ipspace.BITS[self.family] - self.prefixlen)


@dataclass(frozen=True)
class AuditOptions:
    over_broad_v4: int = 8
    over_broad_v6: int = 32
    scope: tuple[str, ...] = ()
    fail_on_extra: bool = False
    service: str = "tcp/25"
    allow_stale: bool = False
    """A stale source (served from the cache after a failed fetch) does not by itself make
    the run incomplete; it is still reported as stale."""
    layered: bool = False
    """Every declared source is a layer the connection crosses (a host firewall in front of
    the mail server): an address is allowed only when every source that speaks for its family
    allows it. Otherwise the declared sources are one allowlist split across files (their
    union)."""

    def over_broad(self, family: int) -> int:
        return self.over_broad_v4 if family == 4 else self.over_broad_v6


@dataclass(frozen=True)
class Layer:
    """What one declared source does not let in of the expected set (in the families it
    speaks for), when the declared sources are layers."""

    name: str
    families: tuple[int, ...]
    missing: IPSpace


@dataclass(frozen=True)
class AuditResult:
    """The comparison of expected with declared. Renderers only read it."""

    expected: tuple[RangeSet, ...]
    declared: tuple[RangeSet, ...]
    expected_space: IPSpace
    declared_space: IPSpace
    missing: IPSpace
    extra: IPSpace | None
    """Scoped declared minus expected; None when no scope was given."""
    over_broad: tuple[Finding, ...]
    options: AuditOptions
    uncovered: tuple[int, ...] = ()
    """Families the expected side has but no declared source covers: unknown, not missing."""
    scope_groups: tuple[str, ...] = ()
    """The groups and objects the scope names resolved to (``mail_v4`` -> ``filter/mail_v4``)."""
    layers: tuple[Layer, ...] = ()
    """With :attr:`AuditOptions.layered`, each declared source's own gap, in input order."""
    make_missing_blocks: Callable[[AuditResult], tuple[MissingBlock, ...]] | None = field(
        default=None, repr=False, compare=False
    )
    make_extra_blocks: Callable[[AuditResult], tuple[MissingBlock, ...]] | None = field(
        default=None, repr=False, compare=False
    )
    make_partial: Callable[[AuditResult], tuple[Coverage, ...]] | None = field(
        default=None, repr=False, compare=False
    )
    """The makers of :attr:`missing_blocks`, :attr:`extra_blocks` and :attr:`partial`, given
    by the comparison: each is a sweep over every entry, made only when first read (a run
    with ``-o cidr`` reads none of them)."""

    @cached_property
    def missing_blocks(self) -> tuple[MissingBlock, ...]:
        """:attr:`missing` as minimal CIDRs, each with the origins of its expected entries."""
        return () if self.make_missing_blocks is None else self.make_missing_blocks(self)

    @cached_property
    def extra_blocks(self) -> tuple[MissingBlock, ...] | None:
        """:attr:`extra` as minimal CIDRs with the origins of the scoped declared entries;
        None when no scope was given."""
        if self.extra is None:
            return None
        return () if self.make_extra_blocks is None else self.make_extra_blocks(self)

    @cached_property
    def partial(self) -> tuple[Coverage, ...]:
        """Expected entries the declared side allows only in part, in address order."""
        return () if self.make_partial is None else self.make_partial(self)

    @property
    def sources(self) -> tuple[RangeSet, ...]:
        return self.expected + self.declared

    @property
    def complete(self) -> bool:
        """Every source complete (or stale, when the run allows stale sources)."""
        ok = {Completeness.COMPLETE}
        if self.options.allow_stale:
            ok.add(Completeness.STALE)
        return not self.uncovered and all(s.completeness in ok for s in self.sources)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for s in self.sources for f in s.findings) + self.over_broad

    @property
    def in_sync(self) -> bool:
        extra = self.options.fail_on_extra and self.extra is not None and bool(self.extra)
        return not self.missing and not self.over_broad and not extra

    @property
    def status(self) -> Status:
        """Incomplete when any source is not complete, drift when not in sync, else in sync."""
        if not self.complete or any(f.kind == "expected-everything" for f in self.over_broad):
            return Status.INCOMPLETE
        return Status.IN_SYNC if self.in_sync else Status.DRIFT


@dataclass(frozen=True)
class AuditRun:
    """One audit of a scheduled run (``auditor check``), as state, drift and the monitoring
    outputs (Prometheus textfile, Nagios line) see it."""

    name: str
    """The audit's name in the configuration (``servicenow-mail``)."""
    exit_code: int
    """As ``auditor diff`` would exit: 0 in sync and complete, 1 drift, 2 trouble."""
    started: datetime
    duration_s: float
    result: AuditResult | None = None
    """None when the audit failed before anything was compared (a bad configuration entry,
    a lock, a crash): :attr:`error` says why."""
    error: str = ""

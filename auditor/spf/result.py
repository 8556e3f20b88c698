"""The expansion of one domain for both families, and the expansion as a source: a RangeSet
with every authorised range and its include chain as origin."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from auditor import ipspace
from auditor.model import (
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
from auditor.spf.evaluate import Piece, _Stop, _Walk
from auditor.spf.lookups import Answer, Dns, _txt_detail
from auditor.spf.options import DnsOptions
from auditor.spf.record import (
    RECORD_ADVISORY,
    RECORD_WARNING,
    DnsFailure,
    NoSpfRecord,
    NoSuchDomain,
    Record,
    SpfError,
)

View = Literal["honoured", "published"]
Family = Literal[4, 6]


@dataclass(frozen=True)
class FamilyResult:
    family: int
    pieces: tuple[Piece, ...]
    lookups: int
    voids: int
    over_limit: str | None = None
    """Why a receiver stops (lookup or void limit), when it does."""
    published: tuple[Piece, ...] | None = None
    """Every range the publisher lists, limits ignored; only computed when over the limit."""
    published_lookups: int | None = None
    error: str | None = None
    """A permerror that ends the evaluation for the clients that reach it."""
    unlistable: tuple[str, ...] = ()
    published_error: str | None = None
    """Why the publisher's view could not be read (a DNS failure beyond the limit)."""


@dataclass(frozen=True)
class Expansion:
    domain: str
    families: tuple[FamilyResult, ...]
    records: tuple[Record, ...]
    """Every record read, root first, for the tree view."""
    queries: int
    seconds: float
    notes: tuple[str, ...] = ()

    def family(self, family: int) -> FamilyResult:
        return next(f for f in self.families if f.family == family)


def expand_domain(
    domain: str,
    options: DnsOptions | None = None,
    *,
    resolver: object | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> Expansion:
    """Expand one domain's SPF record for both families.

    Raises DnsFailure on a temperror anywhere the evaluation goes, and SpfError when the
    domain has no SPF record or is not a valid name (check_host() would return none).
    """
    options = options or DnsOptions()
    domain = domain.strip().rstrip(".").lower()
    _check_top_domain(domain)
    start = monotonic()
    dns_ = Dns(options, resolver, monotonic)
    try:
        root = dns_.record(domain)
        if isinstance(root, DnsFailure):
            raise DnsFailure(
                f"{domain}: DNS failure, its SPF record could not be read: {root.message}",
                hint=(
                    f"try again, or check the resolver {options.nameserver}"
                    if options.nameserver
                    else "try again, or pin a resolver with --nameserver"
                ),
            )
        if isinstance(root, SpfError):
            raise root
        if root is None:
            raise _no_record(domain, dns_.get(domain, "TXT"))
        notes = _size_notes(root)
        families = []
        for family in (4, 6):
            families.append(_family(dns_, domain, family))
        records = _records(dns_)
    finally:
        dns_.close()
    return Expansion(
        domain, tuple(families), records, dns_.queries, monotonic() - start, tuple(notes)
    )


def _family(dns_: Dns, domain: str, family: int) -> FamilyResult:
    walk = _Walk(dns_, family, enforce=True)
    error = over = None
    try:
        pieces = walk.evaluate(domain, (), ())
    except _Stop as stop:
        if stop.kind == "temperror":
            raise DnsFailure(
                f"{domain}: {stop.message}",
                hint="the DNS tree could not be read; try again, or pin a resolver with"
                " --nameserver",
            ) from None
        pieces = stop.passed
        if stop.kind == "limit":
            over = stop.message
        else:
            error = stop.message
    published = published_lookups = None
    published_error: str | None = None
    if over is not None:
        full = _Walk(dns_, family, enforce=False)
        try:
            published = tuple(full.evaluate(domain, (), ()))
        except _Stop as stop:
            if stop.kind == "temperror":
                # receivers never ask this far: the honoured view stands, the publisher's
                # view is unavailable (and a run asking for it fails, see to_rangeset)
                published, published_error = None, stop.message
            else:
                # what it listed before stopping still counts; a permerror further down is
                # a real error of the record, the bound of MAX_PUBLISHED_LOOKUPS is not
                published = tuple(stop.passed)
                if stop.kind != "limit":
                    error = error or stop.message
        published_lookups = full.lookups
    return FamilyResult(
        family,
        tuple(pieces),
        walk.lookups,
        walk.voids,
        over,
        published,
        published_lookups,
        error,
        tuple(dict.fromkeys(walk.unlistable)),
        published_error,
    )


# What a name given on the command line may hold: letters, digits, '-' and '_' (_spf, _netblocks)
_HOSTNAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


def _no_record(domain: str, answer: Answer) -> SpfError:
    """The error for a source whose name gives no SPF record: nothing is not an empty set."""
    if answer.nxdomain:
        return NoSuchDomain(
            f"{domain} does not exist (NXDOMAIN), so it publishes no SPF record",
            hint="check the spelling; providers document their SPF name, often _spf.DOMAIN"
            " or spf.DOMAIN",
        )
    return NoSpfRecord(
        f"{domain} exists but publishes no SPF record ({_txt_detail(answer)})",
        hint="a provider that publishes nothing is a failure, not an empty set; check that"
        " this is the name its documentation gives",
    )


def _check_top_domain(domain: str) -> None:
    """Initial processing (section 4.3): a malformed domain gives none, not an error set."""
    labels = domain.split(".")
    if (
        len(labels) < 2
        or any(not label or len(label) > 63 for label in labels)
        or not _HOSTNAME.fullmatch(domain)
    ):
        raise SpfError(
            f"{domain!r} is not a valid domain name",
            hint="give a fully qualified name such as b.spf.service-now.com",
        )


def _size_notes(record: Record) -> list[str]:
    size = len(record.text.encode())
    if size > RECORD_WARNING:
        return [f"{record.domain}: the record is {size} bytes, over 512 (RFC 7208 3.4)"]
    if size > RECORD_ADVISORY:
        return [f"{record.domain}: the record is {size} bytes, over the advised 450"]
    return []


def _records(dns_: Dns) -> tuple[Record, ...]:
    """The records the evaluation read, each once, in the order it read them: the same
    whatever the speculative lookups did."""
    out: list[Record] = []
    for name in dict.fromkeys(dns_.visited):
        record = dns_.records.get(name)
        if isinstance(record, Record):
            out.append(record)
    return tuple(out)


# --- as a source ------------------------------------------------------------------------------

MAX_REASONS = 5


def to_rangeset(expansion: Expansion, name: str, role: Role, view: View = "honoured") -> RangeSet:
    """The expansion as a RangeSet: every authorised range with its include chain as origin.

    Partial when a family's evaluation stops (lookup or void limit, a permerror further down)
    or reaches a term that depends on the client; failed (SpfError) when nothing at all is
    authorised and the evaluation did not complete.
    """
    entries: list[Entry] = []
    reasons: list[str] = []
    findings = [Finding("spf-record", Severity.WARNING, n, Origin(name)) for n in expansion.notes]
    for result in expansion.families:
        fam = result.family
        pieces = result.pieces
        if result.over_limit:
            extra = ""
            if view == "published" and result.published is None:
                raise DnsFailure(
                    f"{expansion.domain}: the publisher's view could not be read:"
                    f" {result.published_error}",
                    source=name,
                    hint="the honoured view (--spf-view honoured) does not need it",
                )
            if result.published_error:
                extra = f"; the publisher's view could not be read: {result.published_error}"
            if result.published is not None:
                listed = ipspace.size(_intervals(result.published))
                honoured = ipspace.size(_intervals(result.pieces))
                extra = (
                    f"; receivers honour {honoured} IPv{fam} addresses, the publisher lists"
                    f" {listed} ({result.published_lookups} lookups)"
                )
                if view == "published":
                    pieces = result.published
            reasons.append(f"IPv{fam}: {result.over_limit}{extra}")
            findings.append(
                Finding(
                    "spf-over-limit",
                    Severity.ERROR,
                    f"IPv{fam} view: {result.over_limit}; the {view} view is used"
                    " (--spf-view honoured|published)",
                    Origin(name),
                )
            )
        if result.error:
            reasons.append(f"IPv{fam}: permerror: {result.error}")
        for term in result.unlistable[:MAX_REASONS]:
            reasons.append(f"IPv{fam}: cannot be listed: {term}")
        if len(result.unlistable) > MAX_REASONS:
            reasons.append(
                f"IPv{fam}: {len(result.unlistable) - MAX_REASONS} more terms not listed"
            )
        for first, last, chain in pieces:
            entries.append(Entry(fam, first, last, Origin(name, None, " > ".join(chain))))
    stopped = [r for r in expansion.families if r.error or r.over_limit]
    if not entries and (stopped or any(r.unlistable for r in expansion.families)):
        raise SpfError(
            f"{expansion.domain}: nothing can be listed: " + "; ".join(reasons[:MAX_REASONS]),
            source=name,
        )
    if not entries:
        raise SpfError(
            f"{expansion.domain}: the SPF record authorises no address",
            source=name,
            hint="a record such as 'v=spf1 -all' lists nothing to allow",
        )
    text = "\n".join(r.text for r in expansion.records).encode()
    info = SourceInfo.for_bytes(name, role, "spf", text)
    info = replace(
        info,
        detail=f"{_count(len(expansion.records), 'record')},"
        f" {_count(expansion.queries, 'DNS query', 'DNS queries')}, {expansion.seconds:.2f} s",
    )
    return RangeSet(
        info=info,
        entries=Entries.from_entries(name, entries),
        completeness=Completeness.PARTIAL if reasons else Completeness.COMPLETE,
        reasons=tuple(reasons),
        findings=tuple(findings),
    )


def _intervals(pieces: Sequence[Piece]) -> ipspace.Intervals:
    return ipspace.normalize([p[0] for p in pieces], [p[1] for p in pieces])


def _count(n: int, noun: str, nouns: str | None = None) -> str:
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"

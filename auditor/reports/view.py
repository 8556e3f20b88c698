"""The one reading of an AuditResult that every human- or machine-facing report renders.

Each format used to be tempted to walk the result its own way; doing it once here keeps the
formats in agreement (same rows, same order, same verdict) and keeps sorting and the
neutralising of input-controlled text in one place.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from auditor.errors import STATUS_CODES
from auditor.model import (
    AuditOptions,
    AuditResult,
    Completeness,
    Coverage,
    Finding,
    Layer,
    MissingBlock,
    Origin,
    RangeSet,
)
from auditor.reports import blocks as report_blocks
from auditor.reports.base import Drift, ReportContext
from auditor.runmeta import RunMeta

FAMILIES = (4, 6)
FAMILY_KEYS = {4: "ipv4", 6: "ipv6"}
FAMILY_LABELS = {4: "IPv4", 6: "IPv6"}


_ROLE_ORDER = {"expected": 0, "declared": 1}


@dataclass(frozen=True)
class Tally:
    count: int
    """Source entries for expected and declared; minimal CIDRs for missing and extra."""
    addresses: int


@dataclass(frozen=True)
class FamilySummary:
    key: str
    """``ipv4``, ``ipv6`` or ``total``."""
    expected: Tally
    declared: Tally
    missing: Tally
    extra: Tally | None
    """None when no scope was given: without a scope there is no "extra"."""

    @property
    def label(self) -> str:
        return {"ipv4": "IPv4", "ipv6": "IPv6"}.get(self.key, self.key)


@dataclass(frozen=True)
class Verdict:
    status: str
    """``in-sync``, ``drift`` or ``incomplete``."""
    exit_code: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class LayerView:
    """One declared source's gap when the declared sources are layers (``--layered``)."""

    name: str
    families: tuple[int, ...]
    cidrs: tuple[str, ...]
    """Every CIDR of the expected set it does not let in, IPv4 first."""
    addresses: tuple[tuple[int, int], ...]
    """(family, addresses it does not let in), for each family it speaks for."""

    def summary(self, name: str | None = None) -> str:
        """``fw.rules (IPv4): does not let in 1 CIDR (64 addresses)``, or that it lets in
        every expected address; ``name`` is the source's name as the report writes it."""
        fams = ", ".join(FAMILY_LABELS[f] for f in self.families)
        head = f"{clean(self.name) if name is None else name} ({fams})"
        if not self.cidrs:
            return f"{head}: lets in every expected address"
        counts = "; ".join(
            f"{FAMILY_LABELS[f]}: {addresses_text(n)}" for f, n in self.addresses if n
        )
        return f"{head}: does not let in {plural(len(self.cidrs), 'CIDR')} ({counts})"

    def shown(self) -> tuple[tuple[str, ...], int]:
        """The CIDRs the human-facing reports list, and how many more there are."""
        shown = self.cidrs[:MAX_LAYER_CIDRS_SHOWN]
        return shown, len(self.cidrs) - len(shown)


def _layer_view(layer: Layer) -> LayerView:
    return LayerView(
        name=layer.name,
        families=layer.families,
        cidrs=tuple(layer.missing.cidrs_text()),
        addresses=tuple((f, layer.missing.size(f)) for f in layer.families),
    )


MAX_LAYER_CIDRS_SHOWN = 20
"""CIDRs listed under each layer in the human-facing reports; JSON lists them all."""


@dataclass(frozen=True)
class ReportView:
    inputs: tuple[RangeSet, ...]
    summary: tuple[FamilySummary, ...]
    """IPv4, IPv6, then the total."""
    missing: Sequence[MissingBlock]
    partial: tuple[Coverage, ...]
    extra: Sequence[MissingBlock] | None
    over_broad: tuple[Finding, ...]
    findings: tuple[Finding, ...]
    """Findings of the readers (host-bits, bad-entry, ignored-line, ...), not over-broad."""
    verdict: Verdict
    options: AuditOptions
    rules: tuple[tuple[str, str], ...]
    unverified: tuple[str, ...] = ()
    """The declared sources that failed, in input order. Unread, any of them may allow what
    the others do not, so :attr:`missing` is then only not shown allowed: unverified."""
    layers: tuple[LayerView, ...] = ()
    meta: RunMeta | None = None
    """The run the report comes from (:attr:`ReportContext.meta`)."""
    drift: Drift | None = None
    """The changes since the last run (:attr:`ReportContext.drift`)."""

    @property
    def missing_title(self) -> str:
        """What :attr:`missing` is called: ``missing``, or why it is only unverified."""
        return unverified_text(self.unverified) or "missing"

    def summary_table(self) -> tuple[list[str], list[list[str]]]:
        """The summary as a table of plain text (headers, rows), for the reports that draw
        one (markdown, html): entries and addresses per family, then the total, which adds
        entries and CIDRs but never IPv4 to IPv6 addresses."""
        missing = "Unverified" if self.unverified else "Missing"
        headers = [
            "Family",
            "Expected entries",
            "Expected addresses",
            "Declared entries",
            "Declared addresses",
            f"{missing} CIDRs",
            f"{missing} addresses",
        ]
        scoped = self.extra is not None
        if scoped:
            headers += ["Extra CIDRs", "Extra addresses"]

        def tally(t: Tally | None, total: bool) -> list[str]:
            if t is None:
                return ["", ""]
            return [str(t.count), "" if total else address_count(t.addresses)]

        rows = []
        for s in self.summary:
            total = s.key == "total"
            cells = [s.label, *tally(s.expected, total), *tally(s.declared, total)]
            cells += tally(s.missing, total)
            if scoped:
                cells += tally(s.extra, total)
            rows.append(cells)
        return headers, rows


def origin_key(origin: Origin | None) -> tuple[str, int, str]:
    # Origin's own ordering compares line None with int and fails across formats.
    if origin is None:
        return ("", 0, "")
    return (origin.source, origin.line or 0, origin.path or "")


def finding_key(finding: Finding) -> tuple[tuple[str, int, str], str, str, str]:
    return (origin_key(finding.origin), finding.kind, finding.severity.value, finding.message)


def _input_key(rs: RangeSet) -> tuple[int, str]:
    return (_ROLE_ORDER.get(rs.info.role, 2), rs.info.name)


def _tally(blocks: Sequence[MissingBlock], family: int | None) -> Tally:
    return Tally(*report_blocks.tally(blocks, family))


def _summary(
    result: AuditResult,
    missing: Sequence[MissingBlock],
    extra: Sequence[MissingBlock] | None,
) -> tuple[FamilySummary, ...]:
    rows = []
    for fam in (*FAMILIES, None):
        fams = FAMILIES if fam is None else (fam,)
        rows.append(
            FamilySummary(
                key="total" if fam is None else FAMILY_KEYS[fam],
                expected=Tally(
                    sum(rs.entries.count(f) for rs in result.expected for f in fams),
                    result.expected_space.size(fam),
                ),
                declared=Tally(
                    sum(rs.entries.count(f) for rs in result.declared for f in fams),
                    result.declared_space.size(fam),
                ),
                missing=_tally(missing, fam),
                extra=None if extra is None else _tally(extra, fam),
            )
        )
    return tuple(rows)


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"


# IPv6 counts from here on are shown as powers of two: 2**32 and above have too many digits to
# read, and networks are sized in powers of two anyway (a /48 is 2^80 addresses).
_EXACT_BELOW = 2**32
_TERMS = 2


def address_count(n: int) -> str:
    """An address count for people: the digits below 2^32 (every IPv4 count); above, the
    leading powers of two of its binary form, ``2^80 + 2^64``, with ``+ ...`` when smaller
    terms follow. The machine-readable reports keep the exact digits."""
    if n < _EXACT_BELOW:
        return str(n)
    bits = [i for i in range(n.bit_length() - 1, -1, -1) if n >> i & 1]
    terms = [f"2^{i}" if i else "1" for i in bits[:_TERMS]]
    if len(bits) > _TERMS:
        terms.append("...")
    return " + ".join(terms)


def addresses_text(n: int) -> str:
    return f"{address_count(n)} {'address' if n == 1 else 'addresses'}"


def blocks_text(blocks: Sequence[MissingBlock], adjective: str = "") -> str:
    """CIDRs counted with their addresses per family, never adding IPv4 and IPv6 addresses:
    ``10 missing IPv4 CIDRs (321 addresses)`` or ``11 missing CIDRs (IPv4: 10 CIDRs, 321
    addresses; IPv6: 1 CIDR, 2^80 addresses)``."""
    noun = f"{adjective} CIDR" if adjective else "CIDR"
    if not blocks:
        return f"0 {noun}s"
    tallies = [(f, _tally(blocks, f)) for f in FAMILIES]
    present = [(f, t) for f, t in tallies if t.count]
    if len(present) == 1:
        fam, t = present[0]
        label = f"{adjective} {FAMILY_LABELS[fam]} CIDR".strip()
        return f"{plural(t.count, label)} ({addresses_text(t.addresses)})"
    parts = "; ".join(
        f"{FAMILY_LABELS[f]}: {plural(t.count, 'CIDR')}, {addresses_text(t.addresses)}"
        for f, t in present
    )
    return f"{plural(len(blocks), noun)} ({parts})"


def unverified_sources(result: AuditResult) -> tuple[str, ...]:
    """The declared sources that failed: with one unread, nothing is known to be missing."""
    failed = (rs for rs in result.declared if rs.completeness is Completeness.FAILED)
    return tuple(rs.info.name for rs in sorted(failed, key=_input_key))


def unverified_text(names: Sequence[str]) -> str:
    """``not shown allowed (unverified: declared source X failed)``; "" for no source."""
    if not names:
        return ""
    noun = "declared source" if len(names) == 1 else "declared sources"
    return f"not shown allowed (unverified: {noun} {', '.join(names)} failed)"


def _verdict(
    result: AuditResult,
    missing: Sequence[MissingBlock],
    extra: Sequence[MissingBlock] | None,
    unverified: Sequence[str] = (),
) -> Verdict:
    code = STATUS_CODES[result.status]
    reasons = []
    for rs in sorted(result.sources, key=_input_key):
        if rs.completeness is not Completeness.COMPLETE:
            why = "; ".join(rs.reasons)
            reasons.append(
                f"{rs.info.role} source {rs.info.name} is {rs.completeness.value}"
                + (f": {why}" if why else "")
            )
    for fam in result.uncovered:
        reasons.append(
            f"no declared source covers IPv{fam}: the expected IPv{fam} addresses are unknown,"
            " not missing (give a declared source for that family)"
        )
    if missing and unverified:
        reasons.append(f"{blocks_text(missing)} {unverified_text(unverified)}")
    elif missing:
        reasons.append(blocks_text(missing, "missing"))
    if result.over_broad:
        reasons.append(
            plural(
                len(result.over_broad), "over-broad declared entry", "over-broad declared entries"
            )
        )
    if extra:
        suffix = "" if result.options.fail_on_extra else " (not failing: no --fail-on-extra)"
        reasons.append(plural(len(extra), "extra CIDR") + " in scope" + suffix)
    return Verdict(result.status.value, int(code), tuple(reasons))


def build(result: AuditResult, ctx: ReportContext, *, lazy: bool = False) -> ReportView:
    """The view of a result; ``lazy`` for reports that write every block as it comes: its
    blocks are then a :class:`~auditor.reports.blocks.BlockList`, whose origins are found as
    the blocks are read, rather than the result's blocks, all made first."""
    if lazy:
        missing: Sequence[MissingBlock] = report_blocks.missing(result)
        extra: Sequence[MissingBlock] | None = report_blocks.extra_in_scope(result)
    else:
        missing = result.missing_blocks
        extra = result.extra_blocks
    source_findings = (f for rs in result.sources for f in rs.findings)
    unverified = unverified_sources(result)
    return ReportView(
        inputs=tuple(sorted(result.sources, key=_input_key)),
        summary=_summary(result, missing, extra),
        missing=missing,
        partial=result.partial,
        extra=extra,
        over_broad=tuple(sorted(result.over_broad, key=finding_key)),
        findings=tuple(sorted(source_findings, key=finding_key)),
        verdict=_verdict(result, missing, extra, unverified),
        options=result.options,
        rules=ctx.rules,
        unverified=unverified,
        layers=tuple(_layer_view(layer) for layer in result.layers),
        meta=ctx.meta,
        drift=ctx.drift,
    )


# --- text helpers shared by the human-facing formats ------------------------------------------


def clean(text: str) -> str:
    """Input-controlled text made safe to show on one line.

    Every character that is not printable (C0/C1 controls such as newline and ESC, format
    characters such as U+202E RIGHT-TO-LEFT OVERRIDE, line and paragraph separators) becomes a
    visible escape, so a hostile file name cannot start a new line in a mail, forge a table
    row, move the cursor of a terminal or reverse the text around it.
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def origin_text(origin: Origin | None) -> str:
    return clean(str(origin)) if origin is not None else ""


def percent_number(covered: int, total: int) -> str:
    """Coverage in percent with two decimals, rounded down: a partial entry never reads as
    100.00, and the digits are exact for IPv6 sizes that a float would blur."""
    hundredths = covered * 10000 // total
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def percent_text(covered: int, total: int) -> str:
    if covered and covered * 10000 < total:
        return "<0.01%"
    return percent_number(covered, total) + "%"


def percent_value(covered: int, total: int) -> float:
    """The same figure as a number, for machine-readable reports."""
    return (covered * 10000 // total) / 100


def entries_text(rs: RangeSet) -> str:
    return ", ".join(f"{rs.entries.count(f)} {FAMILY_LABELS[f]}" for f in FAMILIES)


def display_width(text: str) -> int:
    """Terminal cells a string takes: East Asian wide characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def text_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[int] = ()
) -> list[str]:
    """A plain table: two-space indent and gutters, no trailing spaces, one pass for widths."""
    rows = [tuple(headers), *rows]
    # one width per cell, computed once; most cells are ASCII, whose width is their length
    cell_widths = [
        [len(cell) if cell.isascii() else display_width(cell) for cell in row] for row in rows
    ]
    widths = [max(column) for column in zip(*cell_widths, strict=True)]
    lines = []
    for row, row_widths in zip(rows, cell_widths, strict=True):
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - row_widths[i])
            cells.append(pad + cell if i in right else cell + pad)
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines


def fetch_details(rs: RangeSet) -> list[tuple[str, str]]:
    """(label, value) for a fetched source: where from, which version, how fresh."""
    info = rs.info
    pairs = [
        ("url", info.url),
        ("version", info.version),
        ("retrieved at", info.retrieved_at),
        ("obtained", info.cache),
    ]
    pairs += [("with", f"{name} sha256:{digest}") for name, digest in info.companions]
    return [(label, value) for label, value in pairs if value]

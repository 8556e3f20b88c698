"""The feed parser interface, the parsed feed, filter selection, and the parsers' registry.

A parser is pure: ``parse(data, ctx) -> Feed`` checks the feed's shape and returns every item
with its JSON path and its tags (service, region, ...), plus the feed's version. Selection by
the source spec's filters (``aws:service=AMAZON_SES,region=eu-west-1``) is shared by every
parser and happens in :meth:`Feed.select`, which returns the RangeSet the core compares.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from auditor import ipspace, plugins
from auditor.errors import AddressError, InputError, UsageError
from auditor.ipspace import HostBitsPolicy
from auditor.jsonutil import StrictJsonError, loads_strict
from auditor.model import (
    Columns,
    Completeness,
    Entries,
    Finding,
    Origin,
    RangeSet,
    Role,
    Severity,
    SourceInfo,
)
from auditor.registry import Registry

Tags = tuple[tuple[str, str], ...]
"""Sorted (key, value) pairs; a key with several values (Atlassian products) repeats."""

Filters = Mapping[str, tuple[str, ...]]
"""Key to accepted values: an item matches when, for every key, one of its values is accepted."""

# Valid values listed in an error message before "... and N more".
MAX_LISTED_VALUES = 40


class FeedError(InputError):
    """A feed's content is not what its provider publishes (HTML, a missing key, no prefixes)."""


@dataclass(frozen=True)
class FeedContext:
    """Who a feed is parsed for: the name shown in origins, the provider, the parser options."""

    name: str
    """Source name in origins and reports, e.g. ``aws:service=AMAZON_SES`` or a URL."""
    provider: str
    """Provider name for messages (``aws``), or the URL for generic sources."""
    role: Role = "expected"
    host_bits: HostBitsPolicy = "fix"
    selector: str | None = None
    """The ``json`` parser's selector; None for every other parser."""


@dataclass(frozen=True)
class FeedVersion:
    """A feed's own version stamp, for reports and the rollback check."""

    key: str
    """Its name in the feed: ``syncToken``, ``changeNumber``, ``last_updated_timestamp``, ..."""
    value: str
    created: str | None = None
    """The feed's creation time as published (``createDate``, ``creationTime``), if any."""

    @property
    def order(self) -> tuple[int, int | str]:
        """A sort key: numeric stamps compare as numbers, others as text (ISO times sort)."""
        if self.value.isdigit():
            return (0, int(self.value))
        return (1, self.value)

    def __str__(self) -> str:
        return f"{self.key} {self.value}"


@dataclass(frozen=True)
class Unlisted:
    """Parts of a feed that list no range (Microsoft 365's URL-only endpoint sets), counted in
    one info finding over the parts that a selection keeps, not over the whole feed."""

    kind: str
    """The finding's kind (``url-only``)."""
    noun: str
    """What a part is called (``endpoint sets``)."""
    note: str
    """What the skipped parts do (``list only URLs, no IP ranges; skipped as URL-only``)."""
    parts: tuple[int, ...]
    """The tag set id of every part, listed or not."""
    skipped: tuple[int, ...]
    """The tag set id of every part that lists no range."""

    def counts(self, chosen: set[int] | None) -> tuple[int, int]:
        """(skipped, parts) among the chosen tag sets; every part when nothing is chosen."""
        if chosen is None:
            return len(self.skipped), len(self.parts)
        return sum(t in chosen for t in self.skipped), sum(t in chosen for t in self.parts)

    def finding(self, chosen: set[int] | None, ctx: FeedContext) -> Finding | None:
        skipped, parts = self.counts(chosen)
        if not skipped:
            return None
        of = f"{parts}" if chosen is None else f"the {parts} selected"
        return Finding(
            self.kind, Severity.INFO, f"{skipped} of {of} {self.noun} {self.note}", Origin(ctx.name)
        )


@dataclass(frozen=True)
class Feed:
    """Every item of a feed, by column: text as published, JSON path or line, tag set."""

    parser: str
    texts: Sequence[str]
    paths: Sequence[str]
    """JSON path per item (``prefixes[12].ip_prefix``); empty strings for line-based feeds."""
    lines: Sequence[int]
    """Line number per item for text feeds; zeros for JSON feeds."""
    tag_ids: Sequence[int]
    """Index into :attr:`tagsets` per item; -1 for an item without tags."""
    tagsets: tuple[Tags, ...] = ()
    version: FeedVersion | None = None
    findings: tuple[Finding, ...] = ()
    filters: tuple[str, ...] = ()
    """The filter keys the parser offers, for validating a spec's filters."""
    unlisted: Unlisted | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def values(self, key: str) -> list[str]:
        """Every value the feed has for a filter key, sorted."""
        return sorted({v for tags in self.tagsets for k, v in tags if k == key})

    def select(self, filters: Filters, ctx: FeedContext, info: SourceInfo) -> RangeSet:
        """The items that match every filter, parsed, as a RangeSet.

        An unknown key, or a value that matches nothing, is a usage error listing the valid
        ones; a combination that selects nothing is an error too: an empty expected set is
        never a result.
        """
        chosen = self._chosen_tagsets(filters, ctx)
        collector = _Items(ctx)
        for i, text in enumerate(self.texts):
            tid = self.tag_ids[i]
            if chosen is not None and (tid < 0 or tid not in chosen):
                continue
            collector.add(text, self.lines[i] or None, self.paths[i] or None, tid, self.tagsets)
        unlisted = self.unlisted.finding(chosen, ctx) if self.unlisted else None
        if not collector.count:
            if collector.bad:
                first = collector.errors[0]
                raise FeedError(
                    f"no valid prefix in the feed ({collector.bad} invalid); first: "
                    f"{first.message}",
                    source=str(first.origin) if first.origin else ctx.name,
                )
            wanted = " and ".join(f"{k}={'|'.join(v)}" for k, v in sorted(filters.items()))
            if unlisted is not None and self.unlisted is not None:
                hint = f"every selected part lists no range: {unlisted.message}"
            elif wanted:
                hint = "each value exists, but not together; check the combination"
            else:
                hint = "a provider that publishes nothing is a failure, not an empty set"
            raise FeedError(
                f"no prefix matches {wanted}" if wanted else "the feed lists no prefix",
                source=ctx.name,
                hint=hint,
            )
        completeness = Completeness.COMPLETE
        reasons: tuple[str, ...] = ()
        if collector.bad:
            completeness = Completeness.PARTIAL
            reasons = (f"{collector.bad} prefix(es) in the feed could not be read",)
        entries = collector.entries(self.tagsets)
        return RangeSet(
            info=info,
            entries=entries,
            completeness=completeness,
            reasons=reasons,
            findings=tuple(self.findings)
            + ((unlisted,) if unlisted else ())
            + tuple(collector.errors)
            + tuple(collector.findings),
            tags=dict(collector.labels),
        )

    def _chosen_tagsets(self, filters: Filters, ctx: FeedContext) -> set[int] | None:
        if not filters:
            return None
        for key in filters:
            if key not in self.filters:
                offered = ", ".join(self.filters) or "none"
                raise UsageError(
                    f"{ctx.provider}: unknown filter {key!r}",
                    hint=f"filters of {ctx.provider}: {offered}",
                )
        chosen = set(range(len(self.tagsets)))
        for key, wanted in filters.items():
            present = self.values(key)
            folded = {v.casefold(): v for v in present}
            accepted = set()
            for value in wanted:
                if value.casefold() not in folded:
                    shown = present[:MAX_LISTED_VALUES]
                    more = len(present) - len(shown)
                    listing = ", ".join(shown) + (f", ... and {more} more" if more > 0 else "")
                    # the feed's data, not the command line, decides: the source fails and
                    # the run still reports the others
                    raise FeedError(
                        f"{ctx.provider}: no entry has {key}={value}",
                        source=ctx.name,
                        hint=f"valid values: {listing}" if present else "the feed has no values",
                    )
                accepted.add(folded[value.casefold()])
            chosen = {
                i for i in chosen if any(k == key and v in accepted for k, v in self.tagsets[i])
            }
        return chosen


def tag_label(tags: Tags) -> str:
    """A group name for a tag set: ``service=AMAZON_SES region=eu-west-1``."""
    merged: dict[str, list[str]] = {}
    for key, value in tags:
        merged.setdefault(key, []).append(value)
    return " ".join(f"{k}={','.join(v)}" for k, v in merged.items())


@dataclass
class _Items:
    """Parses the selected items once each (feeds repeat prefixes across tags) and keeps them
    as columns, as :class:`Entries` stores them."""

    ctx: FeedContext
    errors: list[Finding] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    labels: dict[str, Tags] = field(default_factory=dict)
    bad: int = 0
    count: int = 0
    _cols: dict[int, tuple[list[int], list[int], list[int], list[int], list[str]]] = field(
        default_factory=lambda: {4: ([], [], [], [], []), 6: ([], [], [], [], [])}
    )
    _cache: dict[str, ipspace.Parsed | AddressError] = field(default_factory=dict)
    _used: set[int] = field(default_factory=set)
    """Tag set ids that selected items carry."""

    def add(
        self,
        text: str,
        line: int | None,
        path: str | None,
        tag_id: int,
        tagsets: tuple[Tags, ...],
    ) -> None:
        parsed = self._cache.get(text)
        if parsed is None:
            try:
                parsed = ipspace.parse(text.strip(), self.ctx.host_bits)
            except AddressError as e:
                parsed = e
            self._cache[text] = parsed
        if isinstance(parsed, AddressError):
            self.bad += 1
            if self.bad <= 50:
                origin = Origin(self.ctx.name, line, path)
                self.errors.append(Finding("bad-entry", Severity.ERROR, str(parsed), origin))
            return
        if parsed.host_bits and len(self.findings) < 50:
            fixed = ipspace.format_cidr(parsed.family, parsed.first, parsed.prefixlen or 0)
            self.findings.append(
                Finding(
                    "host-bits",
                    Severity.WARNING,
                    f"{text!r} has host bits; read as {fixed}",
                    Origin(self.ctx.name, line, path),
                )
            )
        if parsed.mapped and len(self.findings) < 50:
            self.findings.append(
                Finding(
                    "ipv4-mapped",
                    Severity.WARNING,
                    ipspace.mapped_note(text.strip(), parsed),
                    Origin(self.ctx.name, line, path),
                )
            )
        if tag_id >= 0 and tag_id not in self._used:
            self._used.add(tag_id)
            self.labels.setdefault(tag_label(tagsets[tag_id]), tagsets[tag_id])
        first, last, lines, groups, paths = self._cols[parsed.family]
        first.append(parsed.first)
        last.append(parsed.last)
        lines.append(line or 0)
        groups.append(tag_id)
        paths.append(path or "")
        self.count += 1

    def entries(self, tagsets: tuple[Tags, ...]) -> Entries:
        """Columns per family; groups are the sorted labels of the tag sets used."""
        names = sorted(self.labels)
        index = {name: i for i, name in enumerate(names)}
        remap = {tid: index[tag_label(tagsets[tid])] for tid in self._used}
        cols = {}
        for fam, (first, last, lines, groups, paths) in self._cols.items():
            cols[fam] = Columns(
                first=first,
                last=last,
                line=lines,
                group=[remap[g] if g >= 0 else -1 for g in groups] if names else None,
                path=paths if any(paths) else None,
            )
        return Entries(self.ctx.name, cols[4], cols[6], tuple(names))


class FeedParser(ABC):
    """Base of every feed parser. ``parse`` is pure: bytes in, a :class:`Feed` out."""

    name: ClassVar[str]
    description: ClassVar[str]
    filters: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def parse(self, data: bytes, ctx: FeedContext) -> Feed:
        """Every item of the feed; FeedError when it is not what the provider publishes."""


PARSERS: Registry[FeedParser] = plugins.PARSERS
"""Every feed parser, one line each in :mod:`auditor.plugins`."""


def parser_for(name: str) -> FeedParser:
    return PARSERS.create(name)


# --- helpers shared by the JSON parsers ---------------------------------------------------


def looks_like_html(data: bytes) -> bool:
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    return head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"<"))


def not_html_but_xml(data: bytes, ctx: FeedContext, expected: str) -> None:
    """An XML document (a saved file of another format, a server's error document) is named
    as such, not taken for a captive portal's HTML page."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1024].lower()
    html = (b"<html", b"<!doctype html", b"<head", b"<body")
    if not head.startswith(b"<") or head.startswith(html[2:]) or any(t in head for t in html[:2]):
        return
    from auditor.sources.foreign import recognise

    found = recognise(data)
    if found is None or found.what.startswith("an XML document"):
        what, hint = "an XML document", "is this the right file or URL? a server may answer with"
        hint += " an XML error document"
    else:
        what, hint = found.what, found.hint
    raise FeedError(f"{ctx.provider}: this is {what}, not {expected}", source=ctx.name, hint=hint)


def refuse_markup(data: bytes, ctx: FeedContext, expected: str, page: str) -> None:
    """XML or HTML (a captive portal or a login page served with 200) where the feed should be
    is an error naming what came: ``expected`` and ``page`` say what was wanted instead."""
    not_html_but_xml(data, ctx, expected)
    if looks_like_html(data):
        raise FeedError(
            f"{ctx.provider}: got an HTML page, not {page}",
            source=ctx.name,
            hint="a proxy, captive portal or login page answered; check the URL and the network",
        )


def load_json(data: bytes, ctx: FeedContext) -> Any:
    """The feed as JSON: XML, HTML (a captive portal or a login page served with 200),
    duplicate keys, NaN and Infinity are errors naming the provider."""
    refuse_markup(data, ctx, "the JSON feed", "the feed")
    try:
        return loads_strict(data.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise FeedError(
            f"{ctx.provider}: the feed is not UTF-8 (byte {e.start})", source=ctx.name
        ) from None
    except StrictJsonError as e:
        hint = "the download may be truncated or not the feed" if e.line else None
        raise FeedError(
            f"{ctx.provider}: {e.message}", source=ctx.name, line=e.line, hint=hint
        ) from None


def require(obj: Any, key: str, kind: type | tuple[type, ...], ctx: FeedContext, path: str) -> Any:
    """``obj[key]`` of the given JSON type, or a FeedError naming the provider and the path."""
    where = f"{path}.{key}" if path else key
    if not isinstance(obj, dict):
        raise FeedError(
            f"{ctx.provider}: {path or 'the top level'} is {json_type(obj)}, expected an object",
            source=ctx.name,
        )
    if key not in obj:
        raise FeedError(
            f"{ctx.provider}: missing key {where!r}",
            source=ctx.name,
            hint="the feed's format may have changed, or this is not the feed",
        )
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in _kinds(kind):
        raise FeedError(
            f"{ctx.provider}: {where} is {json_type(value)}, expected {_kind_names(kind)}",
            source=ctx.name,
        )
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_names(kind: type | tuple[type, ...]) -> str:
    names = {
        dict: "an object",
        list: "an array",
        str: "a string",
        int: "a number",
        bool: "true/false",
    }
    return " or ".join(names.get(k, k.__name__) for k in _kinds(kind))


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


@dataclass
class FeedBuilder:
    """Collects items for a :class:`Feed`, interning tag sets."""

    parser: str
    filters: tuple[str, ...] = ()
    texts: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    tag_ids: list[int] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unlisted: Unlisted | None = None
    _tagsets: dict[Tags, int] = field(default_factory=dict)

    def tags(self, pairs: Sequence[tuple[str, str]]) -> int:
        """The id of a tag set (pairs are sorted and de-duplicated)."""
        key = tuple(sorted(set(pairs)))
        tid = self._tagsets.get(key)
        if tid is None:
            tid = self._tagsets[key] = len(self._tagsets)
        return tid

    def add(self, text: str, path: str = "", tag_id: int = -1, line: int = 0) -> None:
        self.texts.append(text)
        self.paths.append(path)
        self.lines.append(line)
        self.tag_ids.append(tag_id)

    def feed(self, ctx: FeedContext, version: FeedVersion | None = None) -> Feed:
        """The Feed; no item at all is an error: a provider that lists nothing is broken."""
        if not self.texts:
            raise FeedError(
                f"{ctx.provider}: the feed lists no prefix",
                source=ctx.name,
                hint="a provider that publishes nothing is a failure, not an empty set",
            )
        return Feed(
            parser=self.parser,
            texts=self.texts,
            paths=self.paths,
            lines=self.lines,
            tag_ids=self.tag_ids,
            tagsets=tuple(self._tagsets),
            version=version,
            findings=tuple(self.findings),
            filters=self.filters,
            unlisted=self.unlisted,
        )


def merge_feeds(feeds: Sequence[Feed], locations: Sequence[str]) -> Feed:
    """One feed from several documents (Cloudflare's v4 and v6 lists); each item's path says
    which document it came from."""
    if len(feeds) == 1:
        return feeds[0]
    texts: list[str] = []
    paths: list[str] = []
    lines: list[int] = []
    tag_ids: list[int] = []
    tagsets: list[tuple[tuple[str, str], ...]] = []
    index: dict[tuple[tuple[str, str], ...], int] = {}
    findings: list[Finding] = []
    filters: list[str] = []
    unlisted: Unlisted | None = None
    for feed, location in zip(feeds, locations, strict=True):
        short = location.rstrip("/").rsplit("/", 1)[-1] or location
        remap = []
        for tags in feed.tagsets:
            if tags not in index:
                index[tags] = len(tagsets)
                tagsets.append(tags)
            remap.append(index[tags])
        texts.extend(feed.texts)
        paths.extend(f"{short} {p}".rstrip() for p in feed.paths)
        lines.extend(feed.lines)
        tag_ids.extend(remap[t] if t >= 0 else -1 for t in feed.tag_ids)
        findings.extend(feed.findings)
        filters.extend(f for f in feed.filters if f not in filters)
        if feed.unlisted is not None:
            u = feed.unlisted
            parts = tuple(remap[t] for t in u.parts)
            skipped = tuple(remap[t] for t in u.skipped)
            if unlisted is not None:
                parts, skipped = unlisted.parts + parts, unlisted.skipped + skipped
            unlisted = Unlisted(u.kind, u.noun, u.note, parts, skipped)
    versions = [f.version for f in feeds if f.version is not None]
    return Feed(
        parser=feeds[0].parser,
        texts=texts,
        paths=paths,
        lines=lines,
        tag_ids=tag_ids,
        tagsets=tuple(tagsets),
        version=versions[0] if versions else None,
        findings=tuple(findings),
        filters=tuple(filters),
        unlisted=unlisted,
    )

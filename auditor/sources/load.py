"""From a source spec to a RangeSet: files, URLs and catalog providers, with the cache, the
stale fallback and the integrity checks (version rollback, shrink) in one place. A feed read
from a local path (a mirror) is checked like a fetched one, against the last copy accepted
from that path (:mod:`auditor.sources.baseline`).

Order of a fetch, so that nothing unvalidated is ever kept: get the bytes (the cache is not
touched), parse and check them, select the filtered items, compare with the cached copy, and
only then commit the new copy to the cache.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from auditor import ipspace
from auditor.errors import InputError, UsageError
from auditor.ipspace import HostBitsPolicy
from auditor.model import (
    Completeness,
    Entries,
    Finding,
    Origin,
    RangeSet,
    Role,
    Severity,
    SourceInfo,
    reading_time,
)
from auditor.sources import companions, files
from auditor.sources.spec import SourceSpec, is_url, parse_spec

if TYPE_CHECKING:
    from auditor.net.cache import CacheEntry, Response
    from auditor.net.fetcher import Fetcher
    from auditor.net.options import NetOptions
    from auditor.service import Service
    from auditor.sources.base import Feed, FeedContext, FeedParser
    from auditor.sources.catalog import Catalog, Provider
    from auditor.spf.options import DnsOptions
    from auditor.spf.result import Expansion, View

DEFAULT_MAX_SHRINK = 20.0
"""Percent of a family's addresses a feed may lose since the cached copy before it is refused."""
DEFAULT_MAX_AGE = 7 * 86400.0
"""Seconds after which a copy served from the cache (offline) counts as stale."""


@dataclass(frozen=True)
class LoadOptions:
    role: Role = "expected"
    fmt: str | None = None
    host_bits: HostBitsPolicy = "fix"
    lenient: bool = False
    max_bytes: int = files.DEFAULT_MAX_BYTES
    accept_shrink: bool = False
    max_shrink: float = DEFAULT_MAX_SHRINK
    max_age: float = DEFAULT_MAX_AGE
    service: Service | None = None
    """For rulesets on the declared side: the service whose verdicts count."""
    chain: str | None = None
    to: str | None = None
    sets: Mapping[str, Sequence[tuple[int, int, int]]] = field(default_factory=dict)
    """Named sets (ipset save files given alongside) that rulesets refer to."""


@dataclass
class _Copy:
    """One location's bytes, parsed, and how they were obtained; shared by every spec of a run
    that reads the same location, so they all see one copy and one baseline."""

    location: str
    body: bytes
    feed: Feed
    state: str
    """fresh, revalidated, cached, stale or file (a local feed)."""
    retrieved_at: float | None = None
    response: Response | None = None
    previous: Feed | None = None
    """The cached copy a fresh one replaces, parsed, for the integrity checks."""
    reason: str | None = None
    findings: list[Finding] = field(default_factory=list)
    keep_cache: bool = False
    """True when the fetched copy must not replace the cached one (a version rollback)."""
    rejected: bool = False
    """True once a spec refused this copy: it is never committed."""
    baseline_body: bytes | None = None
    """A local feed's last accepted bytes (None when there were none), for the commit."""


@dataclass(frozen=True)
class _Reading:
    """How every location of one feed spec is read: its parser and context, how often it is
    refetched, the load options."""

    parser: FeedParser
    ctx: FeedContext
    refresh: float
    options: LoadOptions


class LazyCatalog:
    """The built-in provider catalog, read the first time a spec may name a provider: a run
    of local files (``./list.txt``, ``/etc/postfix/main.cf``) never parses its YAML. A
    catalog of the user's own is read up front instead, so a broken one is always said."""

    def __init__(self) -> None:
        self._catalog: Catalog | None = None

    def load(self) -> Catalog:
        if self._catalog is None:
            from auditor.sources.catalog import load_catalog

            self._catalog = load_catalog()
        return self._catalog

    def __contains__(self, name: object) -> bool:
        return name in self.load()

    def get(self, name: str) -> Provider:
        return self.load().get(name)

    def names(self) -> list[str]:
        return self.load().names()


@dataclass
class SourceLoader:
    """Loads source specs. The network is only touched (and ``requests`` only imported) when
    a spec needs it. Fetched copies are committed to the cache by :meth:`close`, once every
    spec of the run has checked them."""

    catalog: Catalog | LazyCatalog
    net_options: NetOptions | None = None
    stdin: BinaryIO | None = None
    progress: Callable[[str, int, int | None], None] | None = None
    clock: Callable[[], float] = time.time
    dns_options: DnsOptions | None = None
    """How SPF sources are resolved (nameserver, timeouts); None: the system resolver."""
    spf_view: View = "honoured"
    _fetcher: Fetcher | None = field(default=None, repr=False)
    _copies: dict[tuple[str, str], _Copy | InputError] = field(default_factory=dict, repr=False)
    _read: dict[tuple[str, int], bytes | InputError] = field(default_factory=dict, repr=False)
    """Files read to recognise their format, kept for the load that follows: a run reads each
    file once (a pipe, ``<(cmd)``, can be read only once)."""

    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            from auditor.net.fetcher import Fetcher
            from auditor.net.options import NetOptions

            self._fetcher = Fetcher(
                self.net_options or NetOptions(), clock=self.clock, progress=self.progress
            )
        return self._fetcher

    def commit(self) -> None:
        """Store every fetched copy that all its specs accepted."""
        for copy in self._copies.values():
            if not isinstance(copy, _Copy) or copy.rejected or copy.keep_cache:
                continue
            if copy.response is not None and copy.state in ("fresh", "revalidated"):
                self.fetcher().commit(copy.response)
            elif copy.state == "file" and copy.body != copy.baseline_body:
                from auditor.sources import baseline

                baseline.write(self._cache_dir(), copy.location, copy.body, self.clock())
        self._copies.clear()

    def close(self) -> None:
        """Commit, then close the HTTP session (its pooled connections)."""
        try:
            self.commit()
        finally:
            if self._fetcher is not None:
                self._fetcher.close()
                self._fetcher = None

    def __enter__(self) -> SourceLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, path: str, max_bytes: int, *, again: bool = True) -> bytes:
        """A local file's bytes, read once per run. ``again``: the run will ask for them once
        more (they are kept until then); a regular file's bytes are dropped at that second
        ask, a pipe's are kept for the whole run."""
        key = (path, max_bytes)
        got = self._read.get(key)
        if got is None:
            try:
                got = files.read_bytes(path, None, max_bytes)
            except InputError as e:
                got = e
            if again:
                self._read[key] = got
        elif not again and not files.is_open_stream(path):
            del self._read[key]
        if isinstance(got, InputError):
            raise got
        return got

    def companions(
        self, specs: Sequence[str], options: LoadOptions
    ) -> tuple[dict[str, list[tuple[int, int, int]]], list[str], list[tuple[str, str]]]:
        """Split companion files (ipset saves, AWS prefix lists) and the catalog providers whose
        feed a reader takes for its references from the other sources (see
        :func:`auditor.sources.companions.split`). Returns (sets by name, the remaining specs,
        the companion files read with their SHA-256)."""
        used: list[tuple[str, str]] = []
        sets, rest = companions.split(
            specs,
            self.catalog,
            options.fmt,
            lambda path, again: self.read(path, options.max_bytes, again=again),
            lambda text: self.load(text, LoadOptions(role="expected")),  # fails loudly if it cannot
            used,
        )
        return sets, rest, used

    def load(self, text: str, options: LoadOptions) -> RangeSet:
        """One source; raises InputError/FetchError/FeedError/UsageError when it cannot be read."""
        spec = parse_spec(text, self.catalog)
        if spec.kind in ("stdin", "file"):
            from auditor.allowlists import ReadContext

            name = "<stdin>" if spec.kind == "stdin" else text
            ctx = ReadContext(
                name,
                options.role,
                options.host_bits,
                options.lenient,
                service=options.service,
                chain=options.chain,
                to=options.to,
                sets=options.sets,
            )
            return files.load(
                spec.location or "-",
                ctx,
                fmt=spec.fmt or options.fmt,
                stdin=self.stdin,
                max_bytes=options.max_bytes,
                read=lambda path: self.read(path, options.max_bytes, again=False),
            )
        if spec.kind == "spf":
            return self._load_spf(spec, options)
        if spec.kind == "provider" and self.catalog.get(spec.provider or "").spf:
            return self._load_spf_provider(spec, options)
        return self._load_feed(spec, options)

    def _load_spf(self, spec: SourceSpec, options: LoadOptions) -> RangeSet:
        from auditor.spf.result import expand_domain, to_rangeset

        self._check_online(spec.text, "spf:...")
        expansion = expand_domain(spec.location or "", self.dns_options)
        return to_rangeset(expansion, spec.text, options.role, self.spf_view)

    def _check_online(self, name: str, example: str) -> None:
        if self.net_options is not None and self.net_options.offline:
            raise UsageError(
                f"{name}: SPF records are read from DNS, which --offline does not allow",
                hint="run without --offline, or save the expanded list with"
                f" `auditor fetch {example} --output-file` and use that file",
            )

    def _load_spf_provider(self, spec: SourceSpec, options: LoadOptions) -> RangeSet:
        """A provider of SPF records: the union of every record's expansion, as ``spf:NAME``
        reads each one. A record that fails fails the provider (never a smaller set that looks
        whole); a partial one makes it partial, with the record named in each reason."""
        from auditor.spf.result import expand_domain, to_rangeset

        provider = self.catalog.get(spec.provider or "")
        if spec.filters or spec.location:
            given = "from=" if spec.location else f"filter {spec.filters[0][0]!r}"
            raise UsageError(
                f"{spec.text}: {provider.name} is read from SPF records, which take no {given}",
                hint=f"write {provider.name} alone; to use a saved copy give the file itself"
                f" (auditor fetch {provider.name} --output-file FILE)",
            )
        self._check_online(spec.text, provider.name)
        parts: list[tuple[str, Expansion, RangeSet]] = []
        for record in provider.spf:
            try:
                expansion = expand_domain(record, self.dns_options)
                part = to_rangeset(expansion, spec.text, options.role, self.spf_view)
            except InputError as e:
                # as spf:NAME says it, with the record named, for the provider
                if not e.message.startswith((f"{record}:", f"{record} ")):
                    e.message = f"{record}: {e.message}"
                e.message = f"SPF record {e.message}"
                e.source = spec.text if e.source is None else e.source
                raise
            parts.append((record, expansion, part))
        entries = [entry for _, _, part in parts for entry in part.entries]
        reasons = tuple(f"{record}: {why}" for record, _, part in parts for why in part.reasons)
        order = (Completeness.COMPLETE, Completeness.STALE, Completeness.PARTIAL)
        worst = max((part.completeness for _, _, part in parts), key=order.index)
        text = "\n".join(r.text for _, expansion, _ in parts for r in expansion.records)
        info = SourceInfo.for_bytes(spec.text, options.role, "spf", text.encode())
        details = "; ".join(f"{record}: {part.info.detail}" for record, _, part in parts)
        info = replace(
            info,
            url=" ".join(f"spf:{record}" for record in provider.spf),
            detail=f"SPF records {', '.join(provider.spf)} ({details})",
        )
        return RangeSet(
            info=info,
            entries=Entries.from_entries(spec.text, entries),
            completeness=worst,
            reasons=reasons,
            findings=tuple(f for _, _, part in parts for f in part.findings),
        )

    # --- feeds ------------------------------------------------------------------------------

    def _plan(self, spec: SourceSpec) -> tuple[str, tuple[str, ...], float, str]:
        """(parser, locations, refresh, provider name for messages); filter keys are checked
        here, before anything is fetched."""
        if spec.kind == "provider":
            provider = self.catalog.get(spec.provider or "")
            locations = (spec.location,) if spec.location else provider.urls
            for key, _ in spec.filters:
                if key not in provider.filters:
                    raise UsageError(
                        f"{spec.text}: {provider.name} has no filter {key!r}",
                        hint=f"filters of {provider.name}: "
                        + (", ".join(provider.filters) or "none"),
                    )
            if not locations:
                raise UsageError(
                    f"{spec.text}: {provider.name} has no fixed download address",
                    hint=(provider.notes or f"give one with {provider.name}:from=FILE-OR-URL"),
                )
            return provider.parser, locations, provider.refresh, provider.name
        parser = "json" if spec.kind == "json" else "text"
        location = spec.location or ""
        return parser, (location,), 0.0, location

    def _load_feed(self, spec: SourceSpec, options: LoadOptions) -> RangeSet:
        from auditor.sources.base import FeedContext, merge_feeds, parser_for  # feeds only

        parser_name, locations, refresh, provider = self._plan(spec)
        parser = parser_for(parser_name)
        ctx = FeedContext(
            name=_shown(spec.text),
            provider=provider,
            role=options.role,
            host_bits=options.host_bits,
            selector=spec.selector,
        )
        reading = _Reading(parser, ctx, refresh, options)
        copies = [self._copy(loc, reading) for loc in locations]
        feed = merge_feeds([c.feed for c in copies], locations)
        filters = spec.filter_map
        info = self._info(spec, options.role, parser_name, copies, feed)
        try:
            selected = feed.select(filters, ctx, info)
            shrink = self._selection_shrink(copies, locations, ctx, filters, selected, options)
        except InputError:
            for copy in copies:
                copy.rejected = True  # a copy this run refused never becomes the baseline
            raise
        findings = [f for c in copies for f in c.findings] + list(selected.findings) + shrink
        findings += _future_dated(feed, self.clock())
        reasons = list(selected.reasons)
        completeness = selected.completeness
        stale = [c for c in copies if c.state == "stale"]
        for copy in copies:
            if copy.state == "cached" and copy.retrieved_at is not None:
                age = self.clock() - copy.retrieved_at
                if age > options.max_age:
                    copy.state = "stale"
                    copy.reason = (
                        f"the cached copy of {copy.location} is {describe_age(age)} old,"
                        f" over the limit of {describe_age(options.max_age)} (--max-age)"
                    )
                    stale.append(copy)
        if stale:
            # partial stays partial: --allow-stale forgives age, never missing entries
            if completeness is Completeness.COMPLETE:
                completeness = Completeness.STALE
            reasons = [c.reason or "served from the cache" for c in stale] + reasons
        info = replace(info, cache=_worst_state(copies))
        return replace(
            selected,
            info=info,
            completeness=completeness,
            reasons=tuple(reasons),
            findings=tuple(findings),
        )

    def _copy(self, location: str, reading: _Reading) -> _Copy:
        """The location's copy for this run: obtained and checked once, then shared."""
        parser, ctx, options = reading.parser, reading.ctx, reading.options
        key = (location, parser.name)
        known = self._copies.get(key)
        if isinstance(known, InputError):
            raise known
        if known is not None:
            return known
        try:
            copy = self._obtain(location, reading)
            self._check_whole(copy, parser, ctx, options)
        except InputError as e:
            self._copies[key] = e
            raise
        self._copies[key] = copy
        return copy

    def _obtain(self, location: str, reading: _Reading) -> _Copy:
        """The location's bytes, parsed; a failed fetch or a rejected new copy falls back to
        a valid cached copy no older than --max-age, marked stale."""
        from auditor.sources.base import FeedError

        parser, ctx, options = reading.parser, reading.ctx, reading.options
        if not is_url(location):
            if location == "-":
                raise UsageError(
                    f"{ctx.name}: standard input is read as a plain '-' only",
                    hint="pipe the list and give - as the source",
                )
            body, decoded = files.utf16_to_utf8(
                files.read_bytes(location, None, options.max_bytes), location
            )
            feed = parser.parse(body, ctx)
            if decoded is not None:
                note = Finding("encoding", Severity.INFO, f"decoded as {decoded}", Origin(location))
                feed = replace(feed, findings=(*feed.findings, note))
            copy = _Copy(location, body, feed, "file")
            from auditor.sources import baseline

            kept = baseline.read(self._cache_dir(), location)
            if kept is not None:
                copy.baseline_body = kept.body
                try:
                    copy.previous = parser.parse(kept.body, ctx)
                except FeedError:
                    copy.previous = None  # nothing readable to compare with
            return copy
        from auditor.net.errors import FetchError

        url = location.replace("{clientrequestid}", self._client_id())
        fetcher = self.fetcher()
        try:
            response = fetcher.get(url, refresh=reading.refresh)
        except FetchError as e:
            return self._fallback(url, parser, ctx, e, fetcher.cached(url), options)
        try:
            feed = parser.parse(response.body, ctx)
        except FeedError as e:
            if response.state == "fresh":
                return self._fallback(url, parser, ctx, e, response.previous, options)
            raise
        previous = None
        if response.previous is not None and response.state == "fresh":
            try:
                previous = parser.parse(response.previous.body, ctx)
            except FeedError:
                previous = None  # the cache held something unreadable: nothing to compare
        return _Copy(
            url, response.body, feed, response.state, response.retrieved_at, response, previous
        )

    def _fallback(
        self,
        url: str,
        parser: FeedParser,
        ctx: FeedContext,
        error: InputError,
        cached: CacheEntry | None,
        options: LoadOptions,
    ) -> _Copy:
        from auditor.sources.base import FeedError

        if cached is None:
            raise error
        age = self.clock() - cached.retrieved_at
        if age > options.max_age:
            error.message += (
                f"; the cached copy is {describe_age(age)} old, over the limit of"
                f" {describe_age(options.max_age)} (--max-age), so it is not used"
            )
            raise error
        try:
            feed = parser.parse(cached.body, ctx)
        except FeedError:
            raise error from None  # a cached copy that does not parse counts as no copy
        reason = f"{error.message}; using the cached copy from {describe_age(age)} ago"
        return _Copy(url, cached.body, feed, "stale", cached.retrieved_at, reason=reason)

    def _check_whole(
        self, copy: _Copy, parser: FeedParser, ctx: FeedContext, options: LoadOptions
    ) -> None:
        """A fresh copy against the cached one, before any filter: the version must not go
        backwards, and the whole feed must not lose more than --max-shrink of a family."""
        old = copy.previous
        if old is None:
            return
        new_v, old_v = copy.feed.version, old.version
        if new_v and old_v and new_v.key == old_v.key and new_v.order < old_v.order:
            copy.keep_cache = True  # the newer cached copy stays the baseline
            kept = _kept(copy)
            copy.findings.append(
                Finding(
                    "version-rollback",
                    Severity.WARNING,
                    f"{copy.location}: the feed's {new_v.key} went backwards "
                    f"({new_v.value} < cached {old_v.value}): a rollback or a stale mirror;"
                    f" {kept} is kept as the baseline",
                )
            )
        info = SourceInfo(ctx.name, ctx.role, parser.name)
        try:
            before = old.select({}, ctx, info)
            after = copy.feed.select({}, ctx, info)
        except InputError:
            return
        self._compare(copy.location, before, after, ctx, options, copy.findings, _kept(copy))

    def _selection_shrink(
        self,
        copies: Sequence[_Copy],
        locations: Sequence[str],
        ctx: FeedContext,
        filters: Mapping[str, tuple[str, ...]],
        selected: RangeSet,
        options: LoadOptions,
    ) -> list[Finding]:
        """The same shrink check on what the filters select: a slice can vanish while the
        whole feed grows."""
        from auditor.sources.base import merge_feeds

        if not filters or not any(c.previous is not None for c in copies):
            return []
        old = merge_feeds([c.previous or c.feed for c in copies], locations)
        try:
            previous = old.select(filters, ctx, selected.info)
        except InputError:
            return []  # the old copy had no such entries: not a shrink
        out: list[Finding] = []
        kept = (
            _kept(copies[0])
            if len({c.state == "file" for c in copies}) == 1
            else "the copies kept last time"
        )
        self._compare(ctx.name, previous, selected, ctx, options, out, kept)
        return out

    def _compare(
        self,
        where: str,
        before: RangeSet,
        after: RangeSet,
        ctx: FeedContext,
        options: LoadOptions,
        findings: list[Finding],
        kept: str = "the cached copy",
    ) -> None:
        sizes = {f: (ipspace.size(before.space.family(f)), after.space.size(f)) for f in (4, 6)}
        from auditor.sources.baseline import check_shrink

        findings += check_shrink(
            where, ctx.name, sizes, options.max_shrink, options.accept_shrink, kept
        )

    def _info(
        self,
        spec: SourceSpec,
        role: Role,
        parser_name: str,
        copies: Sequence[_Copy],
        feed: Feed,
    ) -> SourceInfo:
        body = b"".join(c.body for c in copies)
        info = SourceInfo.for_bytes(_shown(spec.text), role, parser_name, body, reading_time())
        times = [c.retrieved_at for c in copies if c.retrieved_at is not None]
        return replace(
            info,
            url=" ".join(_shown(c.location) for c in copies),
            version=str(feed.version) if feed.version else None,
            retrieved_at=_iso(min(times)) if times else None,
        )

    def _cache_dir(self) -> Path:
        base = self.net_options.cache_dir if self.net_options else None
        if base is None:
            from auditor import fsutil  # json and tempfile: not for a run of local lists

            base = fsutil.default_cache_dir()
        return Path(base)

    def _client_id(self) -> str:
        """A GUID per cache directory, as the Microsoft 365 web service asks of its clients."""
        import uuid

        path = self._cache_dir() / "client-id"
        try:
            text = path.read_text().strip()
            return str(uuid.UUID(text))
        except (OSError, ValueError):
            pass
        value = str(uuid.uuid4())
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(value + "\n")
        except OSError:
            pass  # an unwritable cache: a fresh GUID per run still works
        return value


_STAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T -](\d{2})[:-](\d{2})[:-](\d{2})")
# A feed dated this far ahead of the local clock is worth a word; less is normal skew.
FUTURE_SLACK = 86400.0


def _future_dated(feed: Feed, now: float) -> list[Finding]:
    """A feed created in the future means this machine's clock, or the feed, is wrong; ages
    and the --max-age check then mean little (RELIABILITY 4, feed integrity)."""
    version = feed.version
    if version is None:
        return []
    for stamp in (version.created, version.value):
        m = _STAMP.match(stamp or "")
        if not m:
            continue
        try:
            year, month, day, hour, minute, second = map(int, m.groups())
            when = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
        except ValueError:
            return []
        if when.timestamp() > now + FUTURE_SLACK:
            return [
                Finding(
                    "clock-skew",
                    Severity.WARNING,
                    f"the feed says it was created at {m.group(0)} UTC, "
                    f"{describe_age(when.timestamp() - now)} ahead of this machine's clock;"
                    " check the clock",
                )
            ]
        return []
    return []


def _kept(copy: _Copy) -> str:
    """What a copy is compared with, for messages."""
    return "the last accepted copy" if copy.state == "file" else "the cached copy"


def _worst_state(copies: Sequence[_Copy]) -> str:
    order = ("stale", "cached", "file", "revalidated", "fresh")
    return min((c.state for c in copies), key=order.index)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _shown(text: str) -> str:
    """A feed's spec or address as reports, origins and the state show it: the password of
    a URL and its secret query values elided (they are attached to change requests)."""
    from auditor.runmeta import elide_text

    return elide_text(text)

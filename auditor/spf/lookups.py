"""DNS for an SPF expansion: the resolver and the cached, parallel lookups of
one expansion (:class:`Dns`), with the selection of a name's one SPF record."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from auditor.errors import UsageError
from auditor.spf.macros import _Unlistable, expand
from auditor.spf.options import DnsOptions, _split_nameserver
from auditor.spf.record import (
    _DNS_TERMS,
    MAX_MX,
    MAX_PUBLISHED_LOOKUPS,
    DnsFailure,
    Record,
    SpfError,
    _RecordError,
    parse_record,
)

MAX_PREFETCH = 200
"""Names fetched ahead of the evaluation; a record fanning out further is fetched on demand."""


@dataclass(frozen=True)
class Answer:
    status: Literal["ok", "void", "error", "invalid"]
    values: tuple[object, ...] = ()
    """TXT: joined bytes per record; A/AAAA: address text; MX: (preference, host)."""
    message: str = ""
    nxdomain: bool = False
    """A void answer because the name does not exist, rather than has no such record."""


def make_resolver(options: DnsOptions) -> object:
    import dns.resolver

    if options.nameserver is None:
        try:
            resolver = dns.resolver.Resolver(configure=True)
        except dns.resolver.NoResolverConfiguration as e:
            raise UsageError(
                "no system DNS resolver is configured", hint="give one with --nameserver IP"
            ) from e
    else:
        resolver = dns.resolver.Resolver(configure=False)
        host, port = _split_nameserver(options.nameserver)
        resolver.nameservers = [host]
        resolver.port = port
    # two attempts per query (dnspython moves to the next nameserver after a silent one)
    resolver.timeout = max(0.2, options.timeout / 2)
    resolver.lifetime = options.timeout
    resolver.cache = None
    return resolver


class Dns:
    """Cached, parallel DNS for one expansion.

    Two kinds of lookups share one cache keyed by (name, type), so each is asked once:

    - *speculative* ones, started as soon as a record arrives for the names its terms will
      need (includes, ``a``, ``mx``, ``exists``), on a thread pool; bounded by a budget
      (MAX_PREFETCH queries) and by the number of idle workers, so a record with a thousand
      includes cannot flood the server or the queue;
    - *needed* ones, asked by the evaluation: answered from the cache, by waiting for a
      lookup already running, or else resolved at once in the calling thread (a queued
      speculative lookup of the same name is cancelled), so they never wait behind guesses.
    """

    def __init__(
        self,
        options: DnsOptions,
        resolver: object | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.resolver = resolver if resolver is not None else make_resolver(options)
        self.monotonic = monotonic
        self.deadline = monotonic() + options.deadline
        self.pool = ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="spf-dns")
        self.lock = threading.Lock()
        self.futures: dict[tuple[str, str], Future[Answer]] = {}
        self.records: dict[str, Record | SpfError | None] = {}
        self.pending = 0
        self.spent = 0
        self.closed = False
        self.queries = 0
        self.visited: list[str] = []
        """Records the evaluation read, in order (for the tree and the report's digest)."""

    def close(self) -> None:
        with self.lock:
            self.closed = True
        self.pool.shutdown(wait=True, cancel_futures=True)

    # speculative lookups

    def prefetch(self, name: str, rdtype: str) -> None:
        key = (name.lower(), rdtype)
        with self.lock:
            if (
                self.closed
                or key in self.futures
                or self.spent >= MAX_PREFETCH
                or self.pending >= self.options.workers
            ):
                return
            self.spent += 1
            self.pending += 1
            fut = self.pool.submit(self._resolve, key[0], rdtype)
            self.futures[key] = fut
        fut.add_done_callback(lambda f: self._done(key, f))

    def _done(self, key: tuple[str, str], fut: Future[Answer]) -> None:
        with self.lock:
            self.pending -= 1
        if fut.cancelled() or fut.exception() is not None:
            return
        answer = fut.result()
        if key[1] == "TXT":
            record = self._record_from(key[0], answer)
            if isinstance(record, Record):
                self._prefetch_terms(record)
        elif key[1] == "MX" and answer.status == "ok" and len(answer.values) <= MAX_MX:
            for host in _mx_hosts(answer):
                self.prefetch(host, "A")
                self.prefetch(host, "AAAA")

    def _prefetch_terms(self, record: Record) -> None:
        """The lookups the record's terms will need, in order, stopping at ``all`` and at the
        publisher's-view bound of DNS terms."""
        budget = MAX_PUBLISHED_LOOKUPS
        for term in record.terms:
            if term.mechanism == "all":
                return
            if term.mechanism not in _DNS_TERMS:
                continue
            budget -= 1
            if budget < 0:
                return
            if term.mechanism == "ptr":
                continue
            try:
                name = expand(term.domain, record.domain) if term.domain else record.domain
            except (_Unlistable, _RecordError):
                continue
            if term.mechanism == "include":
                self.prefetch(name, "TXT")
            elif term.mechanism == "a":
                self.prefetch(name, "A")
                self.prefetch(name, "AAAA")
            elif term.mechanism == "exists":
                self.prefetch(name, "A")
            else:
                self.prefetch(name, "MX")
        if record.redirect:
            try:
                self.prefetch(expand(record.redirect, record.domain), "TXT")
            except (_Unlistable, _RecordError):
                pass

    # needed lookups

    def get(self, name: str, rdtype: str) -> Answer:
        """The answer now: cached, the running lookup's, or resolved in this thread."""
        key = (name.lower(), rdtype)
        with self.lock:
            fut = self.futures.get(key)
        if fut is not None and not fut.cancel():
            left = max(self.deadline - self.monotonic(), 0) + self.options.timeout + 1
            try:
                return fut.result(timeout=left)
            except concurrent.futures.TimeoutError:
                return Answer("error", message=f"{name} {rdtype}: no answer before the deadline")
            except concurrent.futures.CancelledError:
                pass
        answer = self._resolve(key[0], rdtype)
        done: Future[Answer] = Future()
        done.set_result(answer)
        with self.lock:
            self.futures[key] = done
        return answer

    def record(self, domain: str) -> Record | SpfError | None:
        """The domain's SPF record (parsed), a SpfError (permerror or DnsFailure), or None
        (no SPF record: check_host() would return none)."""
        key = domain.lower()
        with self.lock:
            if key in self.records:
                found = self.records[key]
                self.visited.append(key)
                return found
        record = self._record_from(key, self.get(key, "TXT"))
        with self.lock:
            self.visited.append(key)
        if isinstance(record, Record):
            self._prefetch_terms(record)
        return record

    def _record_from(self, domain: str, answer: Answer) -> Record | SpfError | None:
        with self.lock:
            if domain in self.records:
                return self.records[domain]
        record = _select_record(domain, answer)
        with self.lock:
            return self.records.setdefault(domain, record)

    # resolution

    def _resolve(self, name: str, rdtype: str) -> Answer:
        import dns.exception
        import dns.name
        import dns.resolver

        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, ValueError) as e:
            return Answer("invalid", message=f"{name!r} is not a valid domain name: {e}")
        if len(qname.labels) < 3:  # the root label and at least two more: never a search
            return Answer("invalid", message=f"{name!r} is not a fully qualified name")
        left = self.deadline - self.monotonic()
        if left <= 0:
            return Answer("error", message=f"{name} {rdtype}: the deadline passed")
        with self.lock:
            self.queries += 1
        try:
            answer = self.resolver.resolve(  # type: ignore[attr-defined]
                qname, rdtype, lifetime=min(self.options.timeout, left), search=False
            )
        except dns.resolver.NXDOMAIN:
            return Answer("void", nxdomain=True)
        except dns.resolver.NoAnswer:
            return Answer("void")
        except dns.resolver.LifetimeTimeout:
            return Answer("error", message=f"{name} {rdtype}: timed out")
        except dns.resolver.NoNameservers as e:
            return Answer("error", message=f"{name} {rdtype}: {_servfail_text(e)}")
        except dns.exception.DNSException as e:
            return Answer("error", message=f"{name} {rdtype}: {type(e).__name__}: {e}")
        if rdtype == "TXT":
            values: tuple[object, ...] = tuple(b"".join(r.strings) for r in answer)
        elif rdtype == "MX":
            values = tuple((r.preference, r.exchange.to_text().rstrip(".")) for r in answer)
        else:
            values = tuple(r.to_text() for r in answer)
        return Answer("ok", values)


def _mx_hosts(answer: Answer) -> list[str]:
    """The exchange names of an MX answer; a null MX (``0 .``, RFC 7505) names none."""
    hosts = []
    for value in answer.values:
        if isinstance(value, tuple) and len(value) == 2 and value[1]:
            hosts.append(str(value[1]))
    return hosts


def _servfail_text(e: Exception) -> str:
    text = str(e)
    if "SERVFAIL" in text:
        return "the server answered SERVFAIL"
    if "REFUSED" in text:
        return "the server refused the query"
    return f"no server could answer ({text[:120]})"


def _select_record(domain: str, answer: Answer) -> Record | SpfError | None:
    """The one ``v=spf1`` TXT record of a name (section 4.5)."""
    if answer.status == "error":
        return DnsFailure(answer.message)
    if answer.status == "invalid":
        return SpfError(answer.message)
    if answer.status == "void":
        return None
    spf: list[bytes] = []
    for value in answer.values:
        assert isinstance(value, bytes)  # noqa: S101 - TXT answers are bytes by construction
        head = value[:7].lower()
        if head == b"v=spf1" or head == b"v=spf1 ":
            spf.append(value)
    if not spf:
        return None
    if len(spf) > 1:
        return SpfError(f"{domain} publishes {len(spf)} SPF records; exactly one is allowed")
    raw = spf[0]
    if any(b > 0x7E or (b < 0x20) for b in raw):
        return SpfError(f"{domain}: the SPF record holds non-ASCII or control characters")
    text = raw.decode("ascii")
    try:
        return parse_record(domain, text)
    except _RecordError as e:
        return SpfError(f"{domain}: {e} (in {text[:120]!r})")


def _txt_detail(answer: Answer) -> str:
    n = len(answer.values)
    if not n:
        return "no TXT record at all"
    if n == 1:
        return "its only TXT record does not start with v=spf1"
    return f"none of its {n} TXT records starts with v=spf1"


def _absent(answer: Answer) -> str:
    """Why a name gave no SPF record, for a message: ``does not exist`` or ``has no ...``."""
    if answer.nxdomain:
        return "does not exist (NXDOMAIN)"
    return f"has no SPF record ({_txt_detail(answer)})"

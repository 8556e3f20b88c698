"""SPF (RFC 7208): the set of client addresses for which check_host() returns ``pass``.

Used on both sides: ``spf:b.spf.service-now.com`` as the addresses a provider sends from, and
``spf:example.com`` as what your own domain authorises.

How it works:

- **DNS, in parallel.** Every TXT answer is parsed as soon as it arrives and the lookups its
  terms need (include and redirect targets, ``a``, ``mx`` and ``exists`` names) are started
  at once, on a thread pool, each (name, type) at most once per run. A tree of includes
  therefore costs about its depth in round trips, not its size. Lookups the evaluation
  needs never queue behind speculative ones (see :class:`Dns`). An overall deadline bounds
  the whole expansion.
- **Evaluation, in RFC order.** The records are then walked exactly as check_host() would,
  once per address family (a receiver queries A for an IPv4 client and AAAA for an IPv6 one,
  so void lookups differ per family): terms in order, first match wins, only ``+``
  mechanisms authorise, ``-include:`` removes what the include passes, ``~all``/``?all``
  authorise nothing, ``redirect=`` applies when no mechanism matched and the record has no
  ``all``. DNS-querying terms are counted before the query (limit 10, section 4.6.4), void
  lookups too (limit 2), includes recursively and per path, loops are errors.
- **What cannot be listed is said.** ``exists:`` and ``a``/``include`` names with macros
  other than ``%{d}``, and ``ptr``, depend on the client; the source is then ``partial``
  with the term and the include chain that reached it. ``exists:`` with a plain name that
  resolves matches every client, as ``+all`` does.
- **Over the limit**: a receiver honours nothing after the 10th lookup (permerror). The
  honoured view is the default; the publisher's view (every range listed, limits ignored) is
  computed too and available with ``view="published"``; either way the source is partial.

A DNS failure (SERVFAIL, refusal, timeout) anywhere in the tree fails the source: it is never
an empty or shortened set. NXDOMAIN and NODATA are void lookups.
"""

from __future__ import annotations

import concurrent.futures
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Literal

from auditor import ipspace
from auditor.errors import AuditorError, InputError, UsageError
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

MAX_LOOKUPS = 10
"""DNS-querying terms per check_host() (RFC 7208 section 4.6.4)."""
MAX_VOID = 2
MAX_MX = 10
MAX_DEPTH = 20
"""Nested include/redirect depth: a backstop behind loop detection."""
MAX_PUBLISHED_LOOKUPS = 100
"""The publisher's view ignores the limit of 10, but not without bound."""
MAX_PREFETCH = 200
"""Names fetched ahead of the evaluation; a record fanning out further is fetched on demand."""
RECORD_ADVISORY = 450
RECORD_WARNING = 512
"""Record sizes worth a word (RFC 7208 section 3.4)."""

View = Literal["honoured", "published"]
Family = Literal[4, 6]


class SpfError(InputError):
    """The SPF source cannot be expanded (no record, a permerror, a DNS failure)."""


class DnsFailure(SpfError):
    """SERVFAIL, refusal, timeout: the tree could not be read (temperror)."""


class NoSuchDomain(SpfError):
    """The name does not exist (NXDOMAIN): most often a typo or a retired name."""


class NoSpfRecord(SpfError):
    """The name exists but has no ``v=spf1`` TXT record."""


# --- records --------------------------------------------------------------------------------

_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_DNS_TERMS = frozenset({"include", "a", "mx", "ptr", "exists"})
_QUALIFIERS = "+-?~"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_MACRO = re.compile(r"%(?:\{([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)\}|%|_|-)|%")
_CIDR4 = r"(?:/(0|[1-9][0-9]?))"
_CIDR6 = r"(?:/(0|[1-9][0-9]{0,2}))"
_DUAL = re.compile(rf"(.*?){_CIDR4}?(?:/{_CIDR6})?")
_DOMAIN_MACROS = frozenset("slodiphv")
_TOPLABEL = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")


@dataclass(frozen=True)
class Term:
    text: str
    qualifier: str
    mechanism: str
    domain: str | None = None
    """The domain-spec as written (macros unexpanded); None means the current domain."""
    family: int | None = None
    first: int = 0
    last: int = 0
    cidr4: int = 32
    cidr6: int = 128


@dataclass(frozen=True)
class Record:
    domain: str
    text: str
    terms: tuple[Term, ...]
    redirect: str | None = None

    @property
    def has_all(self) -> bool:
        return any(t.mechanism == "all" for t in self.terms)


class _RecordError(Exception):
    """A syntax error: the record is a permerror before any term is evaluated (4.6)."""


def _check_domain_spec(spec: str, term: str) -> None:
    """domain-spec = macro-string domain-end (RFC 7208 section 7.1)."""
    if not spec or any(ord(c) < 0x21 or ord(c) > 0x7E for c in spec):
        raise _RecordError(f"{term}: invalid domain {spec!r}")
    pos = 0
    for m in _MACRO.finditer(spec):
        if m.group(0) == "%":
            raise _RecordError(f"{term}: a lone % in {spec!r}")
        if m.group(1) and m.group(1).lower() not in _DOMAIN_MACROS:
            # c, r and t exist only in explanation text (section 7.2)
            raise _RecordError(f"{term}: macro %{{{m.group(1)}}} is not allowed in a domain")
        pos = m.end()
    if spec.endswith("}") and pos == len(spec):
        return  # domain-end is a macro-expand
    name = spec.rstrip(".") if spec.endswith(".") and not spec.endswith("..") else spec
    top = name.rsplit(".", 1)
    if len(top) < 2 or not _TOPLABEL.fullmatch(top[1]):
        raise _RecordError(f"{term}: {spec!r} does not end in a valid top-level label")


def _network(term: str, value: str, family: int) -> tuple[int, int, int]:
    if family == 4:
        m = re.fullmatch(rf"([0-9.]+){_CIDR4}?", value)
    else:
        m = re.fullmatch(rf"([0-9A-Fa-f:.]+){_CIDR6}?", value)
    if not m:
        raise _RecordError(f"{term}: invalid network {value!r}")
    addr, plen_text = m.group(1), m.group(2)
    bits = 32 if family == 4 else 128
    plen = int(plen_text) if plen_text is not None else bits
    if plen > bits:
        raise _RecordError(f"{term}: prefix /{plen} is longer than {bits}")
    try:
        fam, value_int, mapped = ipspace.parse_address(addr)
    except AuditorError:
        raise _RecordError(f"{term}: invalid address {addr!r}") from None
    if family == 6 and mapped and plen >= 96:
        # ip6:::ffff:192.0.2.1/N: a prefix shorter than 96 covers ordinary IPv6 addresses
        # too; a longer one only IPv4-mapped clients, which are IPv4 clients (section 5.6)
        return 6, -1, -1
    if fam != family:
        raise _RecordError(f"{term}: {addr!r} is not an IPv{family} address")
    size = 1 << (bits - plen)
    first = value_int & ~(size - 1)
    return family, first, first + size - 1


def parse_record(domain: str, text: str) -> Record:
    """A record's terms; any syntax error anywhere makes the whole record a permerror."""
    words = text.split(" ")
    if words[0].lower() != "v=spf1":
        raise _RecordError("not an SPF record")
    terms: list[Term] = []
    redirect: str | None = None
    seen_exp = False
    for word in words[1:]:
        if not word:
            continue  # several spaces, or a trailing one, are fine
        name, eq, value = word.partition("=")
        if eq and _NAME.fullmatch(name) and ":" not in name and "/" not in name:
            key = name.lower()
            if key == "redirect":
                if redirect is not None:
                    raise _RecordError("redirect= given twice")
                _check_domain_spec(value, word)
                redirect = value
            elif key == "exp":
                if seen_exp:
                    raise _RecordError("exp= given twice")
                seen_exp = True
                _check_domain_spec(value, word)
            else:
                for m in _MACRO.finditer(value):
                    if m.group(0) == "%":
                        raise _RecordError(f"{word}: a lone %")
            continue
        qualifier = "+"
        body = word
        if body[0] in _QUALIFIERS:
            qualifier, body = body[0], body[1:]
        mech, colon, arg = body.partition(":")
        mech = mech.lower()
        dual = ""
        if not colon and "/" in mech:
            mech, _, rest = mech.partition("/")
            dual = "/" + rest
        if mech not in _MECHANISMS:
            raise _RecordError(f"unknown mechanism {word!r}")
        if mech == "all":
            if colon or dual:
                raise _RecordError(f"{word}: all takes no argument")
            terms.append(Term(word, qualifier, "all"))
        elif mech in ("include", "exists"):
            if not colon or dual:
                raise _RecordError(f"{word}: {mech} needs a domain and no prefix length")
            _check_domain_spec(arg, word)
            terms.append(Term(word, qualifier, mech, arg))
        elif mech == "ptr":
            if dual:
                raise _RecordError(f"{word}: ptr takes no prefix length")
            if colon:
                _check_domain_spec(arg, word)
            terms.append(Term(word, qualifier, mech, arg if colon else None))
        elif mech in ("a", "mx"):
            spec = None
            if colon:
                parts = _DUAL.fullmatch(arg)
                if parts is None:
                    raise _RecordError(f"{word}: cannot read it")
                spec, c4, c6 = parts.group(1), parts.group(2), parts.group(3)
                _check_domain_spec(spec, word)
            else:
                lengths = re.fullmatch(rf"{_CIDR4}?(?:/{_CIDR6})?", dual)
                if lengths is None:
                    raise _RecordError(f"{word}: invalid prefix length")
                c4, c6 = lengths.group(1), lengths.group(2)
            cidr4 = int(c4) if c4 is not None else 32
            cidr6 = int(c6) if c6 is not None else 128
            if cidr4 > 32 or cidr6 > 128:
                raise _RecordError(f"{word}: prefix length out of range")
            terms.append(Term(word, qualifier, mech, spec, cidr4=cidr4, cidr6=cidr6))
        else:  # ip4, ip6
            if not colon or dual:
                raise _RecordError(f"{word}: {mech} needs a network")
            fam = 4 if mech == "ip4" else 6
            family, first, last = _network(word, arg, fam)
            terms.append(Term(word, qualifier, mech, family=family, first=first, last=last))
    return Record(domain, text, tuple(terms), redirect)


# --- macros -----------------------------------------------------------------------------------


class _Unlistable(Exception):
    """The term depends on the client (a macro other than %{d}): it cannot be enumerated."""


def expand(spec: str, domain: str) -> str:
    """Expand a domain-spec whose only macro letter is d (section 7.3); _Unlistable otherwise."""

    def one(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole == "%%":
            return "%"
        if whole == "%_":
            return " "
        if whole == "%-":
            return "%20"
        letter, digits, reverse, delimiters = m.groups()
        if letter.lower() != "d":
            raise _Unlistable(f"%{{{letter}}}")
        parts = re.split("[" + re.escape(delimiters or ".") + "]", domain)
        if reverse:
            parts.reverse()
        if digits:
            count = int(digits)
            if count == 0:
                raise _RecordError(f"%{{{letter}0}}: zero labels")
            parts = parts[-count:]
        return ".".join(parts)

    out = _MACRO.sub(one, spec)
    if len(out) > 253:  # keep the rightmost labels (section 7.3)
        labels = out.split(".")
        while len(".".join(labels)) > 253:
            labels.pop(0)
        out = ".".join(labels)
    return out.rstrip(".")


# --- DNS --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: Literal["ok", "void", "error", "invalid"]
    values: tuple[object, ...] = ()
    """TXT: joined bytes per record; A/AAAA: address text; MX: (preference, host)."""
    message: str = ""
    nxdomain: bool = False
    """A void answer because the name does not exist, rather than has no such record."""


@dataclass(frozen=True)
class DnsOptions:
    nameserver: str | None = None
    """IP or IP:PORT ([IPv6]:PORT); None uses the system's resolver configuration."""
    timeout: float = 3.0
    """Per query, seconds."""
    deadline: float = 20.0
    """The whole expansion, seconds (RFC 7208 section 4.6.4 asks for at least 20)."""
    workers: int = 16


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


def check_nameserver(text: str) -> None:
    """UsageError unless ``text`` is IP, IP:PORT or [IPv6]:PORT."""
    _split_nameserver(text)


def _split_nameserver(text: str) -> tuple[str, int]:
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise UsageError(
                    f"invalid --nameserver {text!r}", hint="IP, IP:PORT or [IPv6]:PORT"
                )
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise UsageError(f"invalid --nameserver {text!r}", hint="IP, IP:PORT or [IPv6]:PORT")
        port = int(port_text)
    try:
        ipspace.parse_address(host)
    except AuditorError:
        raise UsageError(
            f"invalid --nameserver {text!r}: not an IP address", hint="IP, IP:PORT or [IPv6]:PORT"
        ) from None
    if not 0 < port < 65536:
        raise UsageError(f"invalid --nameserver port {port}")
    return host, port


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


# --- evaluation -------------------------------------------------------------------------------

Piece = tuple[int, int, tuple[str, ...]]
"""(first, last, chain): an authorised range and the terms that led to it."""


@dataclass
class _Stop(Exception):
    """The evaluation ends in an error for every client that reaches this point; ``passed``
    holds what earlier terms passed, which check_host() still returns pass for."""

    kind: Literal["permerror", "temperror", "limit"]
    message: str
    passed: list[Piece] = field(default_factory=list)


@dataclass
class _Walk:
    dns: Dns
    family: int
    enforce: bool
    lookups: int = 0
    voids: int = 0
    unlistable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    over_limit: str | None = None

    @property
    def bits(self) -> int:
        return 32 if self.family == 4 else 128

    def count_lookup(self, term: str, chain: tuple[str, ...]) -> None:
        limit = MAX_LOOKUPS if self.enforce else MAX_PUBLISHED_LOOKUPS
        if self.lookups >= limit:
            where = " > ".join((*chain, term))
            raise _Stop("limit", f"more than {limit} DNS-querying terms; stopped at {where}")
        self.lookups += 1

    def void(self, term: str, chain: tuple[str, ...]) -> None:
        self.voids += 1
        if self.enforce and self.voids > MAX_VOID:
            where = " > ".join((*chain, term))
            raise _Stop("limit", f"more than {MAX_VOID} void lookups; stopped at {where}")

    def answer(self, name: str, rdtype: str) -> Answer:
        answer = self.dns.get(name, rdtype)
        if answer.status == "error":
            raise _Stop("temperror", answer.message)
        return answer

    def evaluate(self, domain: str, chain: tuple[str, ...], seen: tuple[str, ...]) -> list[Piece]:
        """The pieces of the address space for which check_host(domain) is pass; _Stop when
        the evaluation ends in an error for the clients that reach that point."""
        if len(seen) > MAX_DEPTH:
            raise _Stop("permerror", f"includes nested deeper than {MAX_DEPTH}")
        found = self.dns.record(domain)
        if isinstance(found, DnsFailure):
            raise _Stop("temperror", found.message)
        if isinstance(found, SpfError):
            raise _Stop("permerror", found.message)
        if found is None:
            where = f"{' > '.join(chain)}: " if chain else ""
            raise _Stop("permerror", f"{where}{domain} {_absent(self.dns.get(domain, 'TXT'))}")
        return self._terms(found, chain or (domain,), (*seen, domain.lower()))

    def _terms(self, record: Record, chain: tuple[str, ...], seen: tuple[str, ...]) -> list[Piece]:
        full = (0, (1 << self.bits) - 1)
        remaining = ipspace.Intervals([full[0]], [full[1]])
        passed: list[Piece] = []
        for term in record.terms:
            try:
                if term.mechanism in _DNS_TERMS:
                    self.count_lookup(term.text, chain)
                matched = self._match(term, record, chain, seen)
            except _Stop as stop:
                # what the include passed before it stopped is still a match for those
                # clients; everyone else who reaches this term gets the error
                if term.mechanism == "include" and term.qualifier == "+":
                    passed.extend(_clip(stop.passed, remaining))
                stop.passed = passed
                raise
            if matched is None:
                continue
            pieces, space = matched
            if term.qualifier == "+":
                passed.extend(_clip(pieces, remaining))
            remaining = ipspace.difference(remaining, space)
            if not len(remaining):
                return passed
        if record.redirect and not record.has_all:
            label = f"redirect={record.redirect}"
            try:
                self.count_lookup(label, chain)
                target = self._target(record.redirect, record.domain, label, chain)
                if target is None:
                    return passed
                if target.lower() in seen:
                    raise _Stop("permerror", f"redirect loop: {' > '.join((*chain, label))}")
                inner = self.evaluate(target, (*chain, label), seen)
            except _Stop as stop:
                passed.extend(_clip(stop.passed, remaining))
                stop.passed = passed
                raise
            passed.extend(_clip(inner, remaining))
        return passed

    def _target(self, spec: str, domain: str, term: str, chain: tuple[str, ...]) -> str | None:
        try:
            return expand(spec, domain)
        except _Unlistable as e:
            self.unlistable.append(
                f"{' > '.join((*chain, term))} (macro {e} depends on the client)"
            )
            return None
        except _RecordError as e:
            raise _Stop("permerror", f"{term}: {e}") from None

    def _match(
        self, term: Term, record: Record, chain: tuple[str, ...], seen: tuple[str, ...]
    ) -> tuple[list[Piece], ipspace.Intervals] | None:
        """The pieces (with chains) a term matches and the same as intervals; None for a term
        that matches nothing for this family."""
        here = (*chain, term.text)
        mech = term.mechanism
        if mech == "all":
            return _pieces([(0, (1 << self.bits) - 1)], here)
        if mech in ("ip4", "ip6"):
            if term.family != self.family or term.first < 0:
                return None
            return _pieces([(term.first, term.last)], here)
        if mech == "ptr":
            self.unlistable.append(f"{' > '.join(here)} (ptr depends on the client's reverse DNS)")
            return None
        name = (
            self._target(term.domain, record.domain, term.text, chain)
            if term.domain
            else record.domain
        )
        if name is None:
            return None
        if mech == "include":
            if name.lower() in seen:
                raise _Stop("permerror", f"include loop: {' > '.join(here)}")
            inner = self.evaluate(name, here, seen)
            merged = ipspace.normalize([p[0] for p in inner], [p[1] for p in inner])
            return inner, merged
        if mech == "exists":
            answer = self.answer(name, "A")
            if answer.status in ("void", "invalid"):
                self.void(term.text, chain)
                return None
            return _pieces([(0, (1 << self.bits) - 1)], here)
        if mech == "a":
            return self._addresses([name], term, here, chain)
        answer = self.answer(name, "MX")  # mx
        if answer.status in ("void", "invalid"):
            self.void(term.text, chain)
            return None
        hosts = _mx_hosts(answer)
        if len(answer.values) > MAX_MX:
            raise _Stop("permerror", f"{' > '.join(here)}: {name} has more than {MAX_MX} MX names")
        return self._addresses(hosts, term, here, chain, count_void=False)

    def _addresses(
        self,
        names: Sequence[str],
        term: Term,
        here: tuple[str, ...],
        chain: tuple[str, ...],
        count_void: bool = True,
    ) -> tuple[list[Piece], ipspace.Intervals] | None:
        rdtype = "A" if self.family == 4 else "AAAA"
        plen = term.cidr4 if self.family == 4 else term.cidr6
        ranges = []
        for name in names:
            answer = self.answer(name, rdtype)
            if answer.status in ("void", "invalid"):
                if count_void:
                    self.void(term.text, chain)
                continue
            for value in answer.values:
                fam, addr, mapped = ipspace.parse_address(str(value))
                if fam != self.family or mapped:  # a mapped client is IPv4 (section 5)
                    continue
                size = 1 << (self.bits - plen)
                first = addr & ~(size - 1)
                ranges.append((first, first + size - 1))
        if not ranges:
            return None
        return _pieces(ranges, here)


def _pieces(
    ranges: Sequence[tuple[int, int]], chain: tuple[str, ...]
) -> tuple[list[Piece], ipspace.Intervals]:
    merged = ipspace.normalize([a for a, _ in ranges], [b for _, b in ranges])
    starts, ends = ipspace.as_lists(merged)
    return [(a, b, chain) for a, b in zip(starts, ends, strict=True)], merged


def _clip(pieces: Sequence[Piece], keep: ipspace.Intervals) -> Iterator[Piece]:
    """Each piece cut to the parts inside ``keep`` (sorted, disjoint intervals)."""
    import bisect

    starts, ends = ipspace.as_lists(keep)
    for first, last, chain in pieces:
        i = bisect.bisect_left(ends, first)
        while i < len(starts) and starts[i] <= last:
            yield max(first, starts[i]), min(last, ends[i]), chain
            i += 1


# --- results ----------------------------------------------------------------------------------


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
                hint="try again, or pin a resolver with --nameserver",
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
        detail=f"{len(expansion.records)} records, {expansion.queries} DNS queries,"
        f" {expansion.seconds:.2f} s",
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

"""An in-process authoritative DNS server on 127.0.0.1 for tests that resolve names.

The server speaks real DNS over UDP and TCP on the same port, so the code under test runs its
own dnspython resolver unchanged (truncation, TCP retry, timeouts, CNAME chasing included);
nothing is monkey-patched. Usage (the fixture ``dns_server`` is exposed to every test by
``tests/conftest.py``)::

    def test_spf(dns_server):
        dns_server.zone.update({
            "example.com": [("TXT", "v=spf1 include:_spf.example.com -all")],
            "mx.example.com": [("MX", (10, "mx.example.com")), ("A", "192.0.2.25")],
            "_spf.example.com": [("TXT", ("v=spf1 ", "ip4:192.0.2.0/24 -all"))],
        })
        dns_server.zone.set_behaviour("slow.example.com", delay=0.05)
        dns_server.zone.set_behaviour("down.example.com", "TXT", drop=True)
        resolver = dns_server.resolver(timeout=0.5, lifetime=1.0)
        ... resolver.resolve("example.com.", "TXT") ...
        assert [q.transport for q in dns_server.queries] == ["udp"]

:class:`Zone` (``dns_server.zone``; safe to change while the server runs):

- ``Zone(records=None, *, ttl=300)``, ``zone.update(records)``: ``records`` maps a name to a
  list of ``(type, value)`` pairs. Names are absolute and case-insensitive (a trailing dot is
  optional). Values by type:

  - ``TXT`` / ``SPF``: a ``str`` (UTF-8) or ``bytes`` is one record, cut into 255-byte
    character-strings (RFC 1035 section 3.3.14); a ``tuple``/``list`` of str/bytes keeps each
    item as its own character-string (``("v=spf1", "mx")`` publishes ``"v=spf1" "mx"``).
  - ``A`` / ``AAAA``: the address text. ``MX``: ``(preference, host)``; host ``""`` or ``"."``
    is the null MX of RFC 7505. ``PTR`` / ``CNAME`` / ``NS``: the target name.
  - any other type: its presentation text (``dns.rdata.from_text``); or a ready ``Rdata``.

- ``zone.add(name, type, value)``, ``zone.replace(name, type, *values)``,
  ``zone.remove(name, type=None)``, ``zone.clear()``.
- ``zone.set_behaviour(name, type=None, *, drop=False, servfail=False, refused=False,
  delay=0.0, truncate=False)``: how queries for the name (or only that type of it) are
  answered; a per-type setting wins over the per-name one, and a call with no options means
  "answer normally". ``drop`` never answers (the client times out); ``truncate`` answers UDP
  with TC=1 and no records (the client retries over TCP, which is answered in full).
  ``zone.clear_behaviour(name, type=None)``.
- Read side: ``zone[name]`` is a tuple of ``dns.rrset.RRset``; ``zone.rrset(name, type)``
  (None when absent); ``zone.behaviour(name, type)``; iteration yields ``dns.name.Name``.

Answers, as an authoritative server gives them (RFC 1034 section 4.3.2): every reply has AA;
a name with no records at all is NXDOMAIN; a name with records but none of the asked type is
NOERROR with an empty answer (NODATA); a CNAME is followed through the zone and the whole chain
goes in the answer, a target with no records ending it in NXDOMAIN (RFC 6604 section 2.1); a
loop ends the chain where it repeats. No SOA is added to negative answers. A UDP reply larger
than 512 bytes (or the EDNS payload size the query offers) is sent with TC=1 and no records,
like a real server, so big TXT records take the TCP path.

:class:`DnsServer` (the fixture gives a started one with an empty zone):

- ``DnsServer(zone=None, *, delay=0.0)``, ``start()``, ``stop()``, or ``with DnsServer() as s``.
- ``zone`` (assignable, e.g. ``server.zone = zone_from_suite(doc["zonedata"])``), ``delay``
  (seconds added before every answer), ``address`` ("127.0.0.1"), ``port``.
- ``queries``: a snapshot of the log, one :class:`Query` ``(time, transport, qname, qtype)``
  per query received, ``time`` from ``time.monotonic()``, ``transport`` "udp" or "tcp",
  ``qname`` lower-case presentation form without the final dot, ``qtype`` the type's text.
  ``reset_log()`` empties it.
- ``resolver(timeout=1.0, lifetime=2.0)``: a ``dns.resolver.Resolver(configure=False)`` that
  asks only this server (no EDNS, no search list, no cache).

Every datagram is answered by its own thread and every TCP connection has its own thread (one
query after another on a connection), so delayed answers overlap: ten queries delayed by 50 ms
each are all answered after about 50 ms. ``stop()`` wakes every thread, joins them and closes
every socket (the suite turns ResourceWarnings into errors).

Loaders: :func:`zone_from_suite` for the ``zonedata`` of the RFC 7208 test suite, and
:func:`zone_from_blaze_cache` for the ``type:value`` DNS cache files of the blaze project.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SPF
import dns.rdtypes.ANY.TXT
import dns.resolver
import dns.rrset
import pytest

HOST = "127.0.0.1"

# RFC 1035 section 4.2.1: without EDNS a UDP message is at most 512 bytes
CLASSIC_UDP_SIZE = 512
# a CNAME chain longer than this is cut (dnspython itself gives up after 16, MAX_CHAIN)
MAX_CNAME_CHAIN = 32

NameLike = str | dns.name.Name
TypeLike = str | int
RecordValue = Any  # str | bytes | tuple | (pref, host) | Rdata: see the module docstring
Records = Mapping[NameLike, Iterable[tuple[TypeLike, RecordValue]]]


class Query(NamedTuple):
    """One logged query; a plain tuple compares equal to it."""

    time: float
    transport: str
    qname: str
    qtype: str


@dataclass(frozen=True)
class Behaviour:
    """How to answer. The default (all off) answers normally from the zone."""

    drop: bool = False
    rcode: dns.rcode.Rcode | None = None
    delay: float = 0.0
    truncate: bool = False


NORMAL = Behaviour()


def _name(name: NameLike) -> dns.name.Name:
    """An absolute name; text is read relative to the root, so the final dot is optional."""
    if isinstance(name, dns.name.Name):
        return name if name.is_absolute() else name.concatenate(dns.name.root)
    if name in ("", "."):
        return dns.name.root
    return dns.name.from_text(name)


def _type(rdtype: TypeLike) -> dns.rdatatype.RdataType:
    if isinstance(rdtype, str):
        return dns.rdatatype.from_text(rdtype.upper())
    return dns.rdatatype.RdataType.make(rdtype)


def _chunks(data: bytes) -> tuple[bytes, ...]:
    """Character-strings of at most 255 bytes (RFC 1035 section 3.3); b"" is one empty one."""
    if not data:
        return (b"",)
    return tuple(data[i : i + 255] for i in range(0, len(data), 255))


def _txt_strings(value: RecordValue) -> tuple[bytes, ...]:
    if isinstance(value, str):
        return _chunks(value.encode("utf-8"))
    if isinstance(value, bytes):
        return _chunks(value)
    if isinstance(value, (tuple, list)):
        strings = tuple(s.encode("utf-8") if isinstance(s, str) else s for s in value)
        if not strings:
            raise ValueError("a TXT record needs at least one character-string")
        for s in strings:
            if not isinstance(s, bytes) or len(s) > 255:
                raise ValueError(f"a TXT character-string is str or bytes of <= 255 bytes: {s!r}")
        return strings
    raise ValueError(f"a TXT value is str, bytes or a tuple of them, not {value!r}")


def make_rdata(rdtype: TypeLike, value: RecordValue) -> dns.rdata.Rdata:
    """The rdata for one ``(type, value)`` pair of a zone (formats in the module docstring)."""
    if isinstance(value, dns.rdata.Rdata):
        return value
    kind = _type(rdtype)
    rdclass = dns.rdataclass.IN
    # built from values rather than text, so any byte (non-ASCII, quotes, backslashes) in a
    # TXT string and any odd label in a name survive untouched
    if kind == dns.rdatatype.TXT:
        return dns.rdtypes.ANY.TXT.TXT(rdclass, kind, _txt_strings(value))
    if kind == dns.rdatatype.SPF:
        return dns.rdtypes.ANY.SPF.SPF(rdclass, kind, _txt_strings(value))
    if kind == dns.rdatatype.MX and isinstance(value, (tuple, list)):
        preference, host = value
        return dns.rdtypes.ANY.MX.MX(rdclass, kind, int(preference), _name(host))
    targets = {
        dns.rdatatype.PTR: dns.rdtypes.ANY.PTR.PTR,
        dns.rdatatype.CNAME: dns.rdtypes.ANY.CNAME.CNAME,
        dns.rdatatype.NS: dns.rdtypes.ANY.NS.NS,
    }
    if kind in targets:
        return targets[kind](rdclass, kind, _name(value))
    if not isinstance(value, str):
        raise ValueError(f"a {dns.rdatatype.to_text(kind)} value is text, not {value!r}")
    return dns.rdata.from_text(rdclass, kind, value)


class Zone(Mapping[dns.name.Name, tuple[dns.rrset.RRset, ...]]):
    """Records and behaviours by name; every method takes the zone's lock, so a test may
    change it while the server answers from another thread."""

    def __init__(self, records: Records | None = None, *, ttl: int = 300) -> None:
        self.ttl = ttl
        self._lock = threading.RLock()
        self._records: dict[dns.name.Name, dict[dns.rdatatype.RdataType, list[dns.rdata.Rdata]]]
        self._records = {}
        self._behaviours: dict[tuple[dns.name.Name, dns.rdatatype.RdataType | None], Behaviour]
        self._behaviours = {}
        if records is not None:
            self.update(records)

    # -- building -----------------------------------------------------------------------------

    def update(self, records: Records) -> None:
        """Add every ``(type, value)`` of every name (see the module docstring for values)."""
        with self._lock:
            for name, entries in records.items():
                for rdtype, value in entries:
                    self.add(name, rdtype, value)

    def add(self, name: NameLike, rdtype: TypeLike, value: RecordValue) -> None:
        rdata = make_rdata(rdtype, value)
        with self._lock:
            node = self._records.setdefault(_name(name), {})
            node.setdefault(rdata.rdtype, []).append(rdata)

    def replace(self, name: NameLike, rdtype: TypeLike, *values: RecordValue) -> None:
        """Set the records of one type of a name (no values: remove that type)."""
        rdatas = [make_rdata(rdtype, value) for value in values]
        with self._lock:
            self.remove(name, rdtype)
            for rdata in rdatas:
                self.add(name, rdtype, rdata)

    def remove(self, name: NameLike, rdtype: TypeLike | None = None) -> None:
        """Remove a name's records of one type, or all of them (the name becomes NXDOMAIN)."""
        key = _name(name)
        with self._lock:
            if rdtype is None:
                self._records.pop(key, None)
                return
            node = self._records.get(key, {})
            node.pop(_type(rdtype), None)
            if not node:
                self._records.pop(key, None)

    def clear(self) -> None:
        """Remove every record and behaviour."""
        with self._lock:
            self._records.clear()
            self._behaviours.clear()

    def set_behaviour(
        self,
        name: NameLike,
        rdtype: TypeLike | None = None,
        *,
        drop: bool = False,
        servfail: bool = False,
        refused: bool = False,
        delay: float = 0.0,
        truncate: bool = False,
    ) -> None:
        """How to answer the name (or one type of it); see the module docstring."""
        if servfail and refused:
            raise ValueError("servfail and refused exclude each other")
        rcode = dns.rcode.SERVFAIL if servfail else dns.rcode.REFUSED if refused else None
        behaviour = Behaviour(drop=drop, rcode=rcode, delay=delay, truncate=truncate)
        key = (_name(name), None if rdtype is None else _type(rdtype))
        with self._lock:
            self._behaviours[key] = behaviour

    def clear_behaviour(self, name: NameLike, rdtype: TypeLike | None = None) -> None:
        key = (_name(name), None if rdtype is None else _type(rdtype))
        with self._lock:
            self._behaviours.pop(key, None)

    # -- reading ------------------------------------------------------------------------------

    def __getitem__(self, name: NameLike) -> tuple[dns.rrset.RRset, ...]:
        key = _name(name)
        with self._lock:
            node = self._records[key]
            return tuple(self._rrset(key, rdtype, rdatas) for rdtype, rdatas in node.items())

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, (str, dns.name.Name)):
            return False
        with self._lock:
            return _name(name) in self._records

    def __iter__(self) -> Iterator[dns.name.Name]:
        with self._lock:
            return iter(list(self._records))

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def rrset(self, name: NameLike, rdtype: TypeLike) -> dns.rrset.RRset | None:
        key, kind = _name(name), _type(rdtype)
        with self._lock:
            rdatas = self._records.get(key, {}).get(kind)
            return None if not rdatas else self._rrset(key, kind, rdatas)

    def behaviour(self, name: NameLike, rdtype: TypeLike) -> Behaviour:
        key, kind = _name(name), _type(rdtype)
        with self._lock:
            found = self._behaviours.get((key, kind))
            return found if found is not None else self._behaviours.get((key, None), NORMAL)

    def lookup(
        self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> tuple[dns.rcode.Rcode, list[dns.rrset.RRset]]:
        """The rcode and answer section an authoritative server gives for the question."""
        answer: list[dns.rrset.RRset] = []
        seen: set[dns.name.Name] = set()
        name = qname
        with self._lock:
            while True:
                node = self._records.get(name)
                if node is None:
                    return dns.rcode.NXDOMAIN, answer
                cname = node.get(dns.rdatatype.CNAME)
                if cname and rdtype not in (dns.rdatatype.CNAME, dns.rdatatype.ANY):
                    answer.append(self._rrset(name, dns.rdatatype.CNAME, cname))
                    seen.add(name)
                    name = cast(dns.rdtypes.ANY.CNAME.CNAME, cname[0]).target
                    if name in seen or len(answer) >= MAX_CNAME_CHAIN:
                        return dns.rcode.NOERROR, answer
                    continue
                if rdtype == dns.rdatatype.ANY:
                    answer.extend(self._rrset(name, kind, rdatas) for kind, rdatas in node.items())
                elif node.get(rdtype):
                    answer.append(self._rrset(name, rdtype, node[rdtype]))
                return dns.rcode.NOERROR, answer

    def _rrset(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, rdatas: list[dns.rdata.Rdata]
    ) -> dns.rrset.RRset:
        return dns.rrset.from_rdata_list(name, self.ttl, rdatas)


class DnsServer:
    """UDP and TCP on one port of 127.0.0.1, answering from :attr:`zone`."""

    def __init__(self, zone: Zone | None = None, *, delay: float = 0.0) -> None:
        self.zone = zone if zone is not None else Zone()
        self.delay = delay
        self.address = HOST
        self.port = 0
        self._log: list[Query] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._listeners: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._udp: socket.socket | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> DnsServer:
        try:
            tcp, udp = self._bind_pair()
            self._sockets += [tcp, udp]
            self._udp = udp
            # a byte written to the wake socket makes every select() below return at stop()
            self._wake_r, self._wake_w = socket.socketpair()
            self._sockets += [self._wake_r, self._wake_w]
            for target, arg in ((self._serve_udp, udp), (self._serve_tcp, tcp)):
                thread = threading.Thread(target=target, args=(arg,), daemon=True)
                self._listeners.append(thread)
                thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Wake and join every thread, then close every socket."""
        self._stopping.set()
        if hasattr(self, "_wake_w"):
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        for thread in self._listeners:
            thread.join(timeout=10)
        with self._lock:
            workers = list(self._threads)
        for thread in workers:
            thread.join(timeout=10)
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _bind_pair(self) -> tuple[socket.socket, socket.socket]:
        """A TCP listener and a UDP socket on the same free port."""
        for _ in range(100):
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                tcp.bind((self.address, 0))
                port = tcp.getsockname()[1]
                udp.bind((self.address, port))
            except OSError:
                tcp.close()
                udp.close()
                continue
            tcp.listen(64)
            self.port = port
            return tcp, udp
        raise OSError("no port free for both UDP and TCP on 127.0.0.1")

    # -- the log ------------------------------------------------------------------------------

    @property
    def queries(self) -> list[Query]:
        with self._lock:
            return list(self._log)

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    def resolver(self, timeout: float = 1.0, lifetime: float = 2.0) -> dns.resolver.Resolver:
        """A resolver that asks only this server."""
        resolver = dns.resolver.Resolver(configure=False)
        resolver.port = self.port
        resolver.nameservers = [self.address]
        resolver.timeout = timeout
        resolver.lifetime = lifetime
        return resolver

    # -- transports ---------------------------------------------------------------------------

    def _spawn(self, target: Any, *args: Any) -> None:
        def run() -> None:
            try:
                target(*args)
            finally:
                with self._lock:
                    self._threads.discard(thread)

        thread = threading.Thread(target=run, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _serve_udp(self, udp: socket.socket) -> None:
        while True:
            readable, _, _ = select.select([udp, self._wake_r], [], [])
            if self._stopping.is_set():
                return
            if udp not in readable:
                continue
            try:
                wire, peer = udp.recvfrom(65535)
            except OSError:
                continue
            query = self._receive(wire, "udp")
            if isinstance(query, bytes):
                self._send_udp(query, peer)
            elif query is not None:
                # a thread per datagram: a delayed answer must not hold the others back
                self._spawn(self._answer_udp, query, peer)

    def _answer_udp(self, query: dns.message.Message, peer: Any) -> None:
        reply = self._answer(query, "udp")
        if reply is not None:
            self._send_udp(reply, peer)

    def _send_udp(self, reply: bytes, peer: Any) -> None:
        if self._udp is not None and not self._stopping.is_set():
            with contextlib.suppress(OSError):
                self._udp.sendto(reply, peer)

    def _serve_tcp(self, listener: socket.socket) -> None:
        while True:
            readable, _, _ = select.select([listener, self._wake_r], [], [])
            if self._stopping.is_set():
                return
            if listener not in readable:
                continue
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            self._spawn(self._serve_connection, conn)

    def _serve_connection(self, conn: socket.socket) -> None:
        """RFC 1035 section 4.2.2 / RFC 7766: 2-byte length, then the message; several
        queries may follow on one connection, answered in order."""
        with conn:
            conn.setblocking(True)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                head = self._recv_exact(conn, 2)
                if head is None:
                    return
                wire = self._recv_exact(conn, struct.unpack("!H", head)[0])
                if wire is None:
                    return
                query = self._receive(wire, "tcp")
                if isinstance(query, dns.message.Message):
                    reply = self._answer(query, "tcp")
                else:
                    reply = query
                if reply is None or self._stopping.is_set():
                    continue
                try:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
                except OSError:
                    return

    def _recv_exact(self, conn: socket.socket, size: int) -> bytes | None:
        """``size`` bytes, or None when the peer closes or the server stops."""
        data = b""
        while len(data) < size:
            readable, _, _ = select.select([conn, self._wake_r], [], [])
            if self._stopping.is_set():
                return None
            if conn not in readable:
                continue
            try:
                chunk = conn.recv(size - len(data))
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        return data

    # -- DNS ----------------------------------------------------------------------------------

    def _receive(self, wire: bytes, transport: str) -> dns.message.Message | bytes | None:
        """Parse and log a query; bytes is an immediate error reply, None means ignore it."""
        received = time.monotonic()
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            if len(wire) < 12:
                return None  # not even a header: nothing to answer to
            # FORMERR with the query's id and opcode (RFC 1035 section 4.1.1)
            (query_id, flags) = struct.unpack("!HH", wire[:4])
            return struct.pack("!HHHHHH", query_id, 0x8000 | (flags & 0x7800) | 1, 0, 0, 0, 0)
        if query.flags & dns.flags.QR:
            return None
        if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
            response = dns.message.make_response(query)
            bad = dns.rcode.NOTIMP if query.opcode() != dns.opcode.QUERY else dns.rcode.FORMERR
            response.set_rcode(bad)
            return response.to_wire()
        question = query.question[0]
        entry = Query(
            received,
            transport,
            question.name.to_text(omit_final_dot=True).lower(),
            dns.rdatatype.to_text(question.rdtype),
        )
        with self._lock:
            self._log.append(entry)
        return query

    def _answer(self, query: dns.message.Message, transport: str) -> bytes | None:
        question = query.question[0]
        zone = self.zone
        behaviour = zone.behaviour(question.name, question.rdtype)
        if behaviour.drop:
            return None
        delay = self.delay + behaviour.delay
        if delay > 0 and self._stopping.wait(delay):
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if behaviour.rcode is not None:
            response.set_rcode(behaviour.rcode)
            return response.to_wire()
        if transport == "udp" and behaviour.truncate:
            return self._truncated(query, dns.rcode.NOERROR)
        rcode, answer = zone.lookup(question.name, question.rdtype)
        response.set_rcode(rcode)
        for rrset in answer:
            response.answer.append(rrset)
        if transport == "tcp":
            limit = 65535
        elif query.edns < 0:
            limit = CLASSIC_UDP_SIZE
        else:
            limit = max(CLASSIC_UDP_SIZE, query.payload)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            # RFC 2181 section 9: too big for the transport, so TC=1 and the client asks again
            # over TCP (a question section is kept: dnspython rejects a reply without one)
            return self._truncated(query, rcode)

    def _truncated(self, query: dns.message.Message, rcode: dns.rcode.Rcode) -> bytes:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA | dns.flags.TC
        response.set_rcode(rcode)
        return response.to_wire()


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """A started :class:`DnsServer` with an empty zone; fill ``dns_server.zone``."""
    with DnsServer() as server:
        yield server


# -- loaders ----------------------------------------------------------------------------------


def zone_from_suite(zonedata: Mapping[str, Any], *, txt_encoding: str = "utf-8") -> Zone:
    """The ``zonedata`` of one document of the RFC 7208 test suite (openspf / pyspf YAML).

    The conventions, as pyspf's driver (test/testspf.py) reads them:

    - each name maps to a list of ``{TYPE: value}`` items and ``TIMEOUT`` markers;
    - ``SPF: v`` publishes a type-99 SPF record and also a TXT record with the same text,
      unless the name has a ``TXT`` item of its own; ``TXT: NONE`` is such an item, publishing
      nothing (``SPF: NONE`` likewise publishes nothing);
    - a TXT/SPF value that is a list keeps its items as separate character-strings; the empty
      list (``null.example.com``, "null text is illegal, but SPF should not crash") becomes
      the nearest legal record, one empty character-string; text is encoded with
      ``txt_encoding`` (UTF-8 like pyspf's driver: the suite's ``"\\x80"`` escapes are code
      points, so ``"latin-1"`` gives the single raw octets instead);
    - ``MX: [pref, host]``, with ``host`` ``""`` as the null MX ``.``; ``A``, ``AAAA``,
      ``PTR`` and ``CNAME`` take text; targets with or without a final dot are the same name,
      and names keep odd labels (``foo:bar/baz``, spaces, ``%``) as they are;
    - ``TIMEOUT``: queries for the name are dropped (the client times out), except for the
      types that have records listed before the marker, which are answered normally
      (``spftimeout.example.net`` has ``TXT`` then ``TIMEOUT``: its TXT answers and its SPF
      query times out, and the test expects ``fail``). TXT copied from SPF does not count.
    """
    zone = Zone()
    for name, items in zonedata.items():
        if not isinstance(name, str) or not isinstance(items, list):
            raise ValueError(f"zonedata entry {name!r}: expected a name and a list")
        has_txt = any(isinstance(item, dict) and "TXT" in item for item in items)
        answered: set[str] | None = None  # types listed before the first TIMEOUT
        listed: set[str] = set()
        copied_txt: list[Any] = []
        for item in items:
            if item == "TIMEOUT":
                if answered is None:
                    answered = set(listed)
                continue
            if not isinstance(item, dict):
                raise ValueError(f"zonedata {name!r}: unexpected item {item!r}")
            for rdtype, value in item.items():
                kind = str(rdtype).upper()
                if kind in ("TXT", "SPF"):
                    if value == "NONE":
                        continue
                    value = _suite_txt(name, value, txt_encoding)
                    if kind == "SPF" and not has_txt:
                        copied_txt.append(value)
                elif kind == "MX":
                    if not isinstance(value, list) or len(value) != 2:
                        raise ValueError(f"zonedata {name!r}: MX is [pref, host], not {value!r}")
                    value = (value[0], value[1] or ".")
                zone.add(name, kind, value)
                listed.add(kind)
        for value in copied_txt:
            zone.add(name, "TXT", value)
        if answered is not None:
            zone.set_behaviour(name, drop=True)
            for kind in answered:
                zone.set_behaviour(name, kind)
    return zone


def _suite_txt(name: str, value: Any, encoding: str) -> bytes | tuple[bytes, ...]:
    if isinstance(value, str):
        return value.encode(encoding)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(s.encode(encoding) for s in value) if value else (b"",)
    raise ValueError(f"zonedata {name!r}: a TXT/SPF value is text or a list, not {value!r}")


BLAZE_PREFIX = "dnscache_blaze_"


def zone_from_blaze_cache(directory: str | Path) -> Zone:
    """The blaze DNS cache files ``dnscache_blaze_<name>.dns`` of ``directory``: one record per
    line as ``type:value``, e.g. ``txt:v=spf1 ...``; a TXT value is kept byte for byte up to
    the line end (the github.com record has a double space)."""
    zone = Zone()
    for path in sorted(Path(directory).glob(f"{BLAZE_PREFIX}*.dns")):
        name = path.name[len(BLAZE_PREFIX) : -len(".dns")]
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            if not line.strip():
                continue
            kind, sep, value = line.partition(b":")
            if not sep:
                raise ValueError(f"{path}:{number}: expected type:value")
            rdtype = kind.decode("ascii").strip().upper()
            if rdtype in ("TXT", "SPF"):
                zone.add(name, rdtype, value)
            else:
                zone.add(name, rdtype, value.decode("utf-8").strip())
    return zone

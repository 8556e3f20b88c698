"""The local DNS test server (tests/dnsd.py), checked with a real dnspython resolver.

Later tests trust this server to behave like a real authoritative one (RELIABILITY sections
6 and 7), so what they rely on is pinned here: answers and rcodes, TXT character-strings,
truncation and the TCP retry, timeouts, parallel answers, and the two corpus loaders.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest
import yaml
from dnsd import DnsServer, Zone, zone_from_blaze_cache, zone_from_suite

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "spf"
SUITE = CORPUS / "rfc7208-tests.yml"
needs_corpus = pytest.mark.skipif(
    not SUITE.exists(), reason=f"the shared SPF corpus is not at {CORPUS}"
)


def joined(answer: dns.resolver.Answer) -> list[bytes]:
    """Each TXT record's text, its character-strings joined with no separator (RFC 7208 3.3)."""
    return sorted(b"".join(rdata.strings) for rdata in answer)


def transports(server: DnsServer) -> list[str]:
    return [query.transport for query in server.queries]


# -- answers ----------------------------------------------------------------------------------


def test_answers_a_aaaa_txt_mx_ptr(dns_server: DnsServer) -> None:
    dns_server.zone.update(
        {
            "Example.COM.": [
                ("TXT", "v=spf1 a -all"),
                ("A", "192.0.2.1"),
                ("A", "192.0.2.2"),
                ("AAAA", "2001:db8::1"),
                ("MX", (10, "mx.example.com")),
            ],
            "1.2.0.192.in-addr.arpa": [("PTR", "host.example.com")],
        }
    )
    resolver = dns_server.resolver()

    answer = resolver.resolve("example.com.", "A")
    assert sorted(rdata.address for rdata in answer) == ["192.0.2.1", "192.0.2.2"]
    assert answer.response.flags & dns.flags.AA
    assert [rdata.address for rdata in resolver.resolve("EXAMPLE.com", "AAAA")] == ["2001:db8::1"]
    assert joined(resolver.resolve("example.com", "TXT")) == [b"v=spf1 a -all"]
    (mx,) = resolver.resolve("example.com", "MX")
    assert (mx.preference, mx.exchange) == (10, dns.name.from_text("mx.example.com"))
    (ptr,) = resolver.resolve_address("192.0.2.1")
    assert ptr.target == dns.name.from_text("host.example.com")
    assert [(q.transport, q.qname, q.qtype) for q in dns_server.queries] == [
        ("udp", "example.com", "A"),
        ("udp", "example.com", "AAAA"),
        ("udp", "example.com", "TXT"),
        ("udp", "example.com", "MX"),
        ("udp", "1.2.0.192.in-addr.arpa", "PTR"),
    ]
    dns_server.reset_log()
    assert dns_server.queries == []


def test_long_txt_is_cut_at_255_bytes_and_joins_back(dns_server: DnsServer) -> None:
    text = "v=spf1 " + " ".join(f"ip4:192.0.2.{i}" for i in range(40)) + " -all"
    raw = "v=spf1 exp=caf\u00e9 ".encode() + bytes(range(128, 256)) * 2
    dns_server.zone.add("long.example.com", "TXT", text)
    dns_server.zone.add("raw.example.com", "TXT", raw)

    (rdata,) = dns_server.resolver().resolve("long.example.com", "TXT")
    assert len(text) == 601
    assert [len(s) for s in rdata.strings] == [255, 255, 91]
    assert b"".join(rdata.strings) == text.encode()
    assert joined(dns_server.resolver().resolve("raw.example.com", "TXT")) == [raw]


def test_tuple_of_strings_stays_separate(dns_server: DnsServer) -> None:
    dns_server.zone.add("example.com", "TXT", ("v=spf1", "mx"))
    dns_server.zone.add("example.com", "SPF", [b"v=spf1 ", b"\xff"])
    resolver = dns_server.resolver()

    (txt,) = resolver.resolve("example.com", "TXT")
    assert txt.strings == (b"v=spf1", b"mx")
    (spf,) = resolver.resolve("example.com", "SPF")
    assert spf.strings == (b"v=spf1 ", b"\xff")
    with pytest.raises(ValueError, match="255"):
        dns_server.zone.add("example.com", "TXT", ("x" * 256,))


def test_nxdomain_nodata_servfail_refused(dns_server: DnsServer) -> None:
    dns_server.zone.update({"example.com": [("A", "192.0.2.1")]})
    dns_server.zone.set_behaviour("broken.example.com", servfail=True)
    dns_server.zone.set_behaviour("closed.example.com", refused=True)
    resolver = dns_server.resolver()

    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("missing.example.com", "TXT")
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve("example.com", "TXT")
    with pytest.raises(dns.resolver.NoNameservers, match="SERVFAIL"):
        resolver.resolve("broken.example.com", "TXT")
    with pytest.raises(dns.resolver.NoNameservers, match="REFUSED"):
        resolver.resolve("closed.example.com", "TXT")


def test_drop_times_out_within_the_lifetime(dns_server: DnsServer) -> None:
    dns_server.zone.add("example.com", "TXT", "v=spf1 -all")
    dns_server.zone.set_behaviour("example.com", drop=True)
    resolver = dns_server.resolver(timeout=0.2, lifetime=0.5)

    started = time.monotonic()
    with pytest.raises(dns.resolver.LifetimeTimeout):
        resolver.resolve("example.com", "TXT")
    assert 0.4 < time.monotonic() - started < 1.5
    assert {q.qname for q in dns_server.queries} == {"example.com"}


def test_behaviour_per_type_wins_over_per_name(dns_server: DnsServer) -> None:
    dns_server.zone.update({"example.com": [("TXT", "v=spf1 -all"), ("A", "192.0.2.1")]})
    dns_server.zone.set_behaviour("example.com", servfail=True)
    dns_server.zone.set_behaviour("example.com", "TXT")
    resolver = dns_server.resolver()

    assert joined(resolver.resolve("example.com", "TXT")) == [b"v=spf1 -all"]
    with pytest.raises(dns.resolver.NoNameservers):
        resolver.resolve("example.com", "A")
    dns_server.zone.clear_behaviour("example.com")
    assert len(resolver.resolve("example.com", "A")) == 1


# -- truncation and TCP -----------------------------------------------------------------------


def test_truncate_makes_the_resolver_retry_over_tcp(dns_server: DnsServer) -> None:
    dns_server.zone.add("example.com", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    dns_server.zone.set_behaviour("example.com", truncate=True)

    answer = dns_server.resolver().resolve("example.com", "TXT")
    assert joined(answer) == [b"v=spf1 ip4:192.0.2.0/24 -all"]
    assert transports(dns_server) == ["udp", "tcp"]


def test_truncated_reply_keeps_its_question(dns_server: DnsServer) -> None:
    """dnspython rejects a TC reply without the question (RELIABILITY 7, trap a)."""
    dns_server.zone.add("example.com", "TXT", "x" * 600)
    query = dns.message.make_query("example.com", "TXT")

    reply = dns.query.udp(query, dns_server.address, port=dns_server.port, timeout=2)
    assert reply.flags & dns.flags.TC
    assert reply.answer == []
    assert reply.question == query.question


@pytest.mark.parametrize("size", [601, 4000])
def test_large_txt_arrives_complete_over_tcp(dns_server: DnsServer, size: int) -> None:
    text = ("v=spf1 " + "ip4:198.51.100.0/24 " * 300)[: size - 5] + " -all"
    assert len(text) == size
    dns_server.zone.add("big.example.com", "TXT", text)

    answer = dns_server.resolver().resolve("big.example.com", "TXT")
    assert joined(answer) == [text.encode()]
    assert transports(dns_server) == ["udp", "tcp"]


def test_edns_payload_size_decides_truncation(dns_server: DnsServer) -> None:
    """A query offering 1232 bytes gets 601 B over UDP, but ~4 KB still needs TCP."""
    dns_server.zone.add("medium.example.com", "TXT", "m" * 601)
    dns_server.zone.add("big.example.com", "TXT", "b" * 4000)
    resolver = dns_server.resolver()
    resolver.use_edns(0, 0, 1232)

    assert joined(resolver.resolve("medium.example.com", "TXT")) == [b"m" * 601]
    assert transports(dns_server) == ["udp"]
    assert joined(resolver.resolve("big.example.com", "TXT")) == [b"b" * 4000]
    assert transports(dns_server) == ["udp", "udp", "tcp"]


def test_several_queries_on_one_tcp_connection(dns_server: DnsServer) -> None:
    dns_server.zone.update({"a.example.com": [("A", "192.0.2.1")], "b.example.com": []})
    with socket.create_connection((dns_server.address, dns_server.port), timeout=2) as sock:
        first = dns.query.tcp(dns.message.make_query("a.example.com", "A"), "", sock=sock)
        second = dns.query.tcp(dns.message.make_query("b.example.com", "A"), "", sock=sock)
    assert first.answer[0][0].address == "192.0.2.1"
    assert second.rcode() == dns.rcode.NXDOMAIN
    assert transports(dns_server) == ["tcp", "tcp"]


def test_malformed_query_gets_formerr_and_the_server_goes_on(dns_server: DnsServer) -> None:
    dns_server.zone.add("example.com", "A", "192.0.2.1")
    garbage = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x07exam"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(garbage, (dns_server.address, dns_server.port))
        reply = sock.recv(512)
    query_id, flags = struct.unpack("!HH", reply[:4])
    assert query_id == 0x1234
    assert flags & 0x8000 and flags & 0xF == dns.rcode.FORMERR
    assert len(dns_server.resolver().resolve("example.com", "A")) == 1


# -- timing -----------------------------------------------------------------------------------


def test_delayed_queries_are_answered_in_parallel(dns_server: DnsServer) -> None:
    """Ten queries each delayed 50 ms take about 50 ms in all, not 500 ms."""
    names = [f"h{i}.example.com" for i in range(10)]
    for name in names:
        dns_server.zone.add(name, "A", "192.0.2.1")
        dns_server.zone.set_behaviour(name, delay=0.05)
    resolver = dns_server.resolver()

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        started = time.monotonic()
        answers = list(pool.map(lambda name: resolver.resolve(name, "A"), names))
        elapsed = time.monotonic() - started
    assert [len(answer) for answer in answers] == [1] * 10
    assert 0.05 <= elapsed < 0.3
    assert sorted(q.qname for q in dns_server.queries) == sorted(names)


def test_global_delay(dns_server: DnsServer) -> None:
    dns_server.zone.add("example.com", "A", "192.0.2.1")
    dns_server.delay = 0.1
    started = time.monotonic()
    dns_server.resolver().resolve("example.com", "A")
    assert time.monotonic() - started >= 0.1


def test_stop_is_prompt_with_work_in_flight() -> None:
    """stop() wakes a delayed answer and an idle TCP connection, and closes every socket."""
    server = DnsServer().start()
    server.zone.add("slow.example.com", "A", "192.0.2.1")
    server.zone.set_behaviour("slow.example.com", delay=30)
    query = dns.message.make_query("slow.example.com", "A").to_wire()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        socket.create_connection((server.address, server.port), timeout=2) as tcp,
    ):
        udp.sendto(query, (server.address, server.port))
        tcp.sendall(struct.pack("!H", len(query)) + query)
        deadline = time.monotonic() + 2
        while len(server.queries) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 1
        assert tcp.recv(2) == b""  # the server closed its end
    assert sorted(transports(server)) == ["tcp", "udp"]


# -- zone semantics ---------------------------------------------------------------------------


def test_cname_chain_is_followed_within_the_zone(dns_server: DnsServer) -> None:
    dns_server.zone.update(
        {
            "alias.example.com": [("CNAME", "middle.example.com")],
            "middle.example.com": [("CNAME", "target.example.com.")],
            "target.example.com": [("TXT", "v=spf1 -all"), ("A", "192.0.2.1")],
            "dangling.example.com": [("CNAME", "nowhere.example.com")],
            "loop.example.com": [("CNAME", "loop.example.com")],
        }
    )
    resolver = dns_server.resolver()

    answer = resolver.resolve("alias.example.com", "TXT")
    assert answer.canonical_name == dns.name.from_text("target.example.com")
    assert joined(answer) == [b"v=spf1 -all"]
    assert len(answer.response.answer) == 3
    (cname,) = resolver.resolve("alias.example.com", "CNAME")
    assert cname.target == dns.name.from_text("middle.example.com")
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve("alias.example.com", "AAAA")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("dangling.example.com", "TXT")
    # the server stops at the loop; dnspython then reports the chain as too long
    with pytest.raises(dns.resolver.NoNameservers, match="CNAME chain is too long"):
        resolver.resolve("loop.example.com", "TXT")


def test_zone_can_change_while_the_server_runs(dns_server: DnsServer) -> None:
    resolver = dns_server.resolver()
    dns_server.zone.add("example.com", "TXT", "v=spf1 ip4:192.0.2.1 -all")
    assert joined(resolver.resolve("example.com", "TXT")) == [b"v=spf1 ip4:192.0.2.1 -all"]

    dns_server.zone.replace("example.com", "TXT", "v=spf1 ip4:192.0.2.2 -all")
    assert joined(resolver.resolve("example.com", "TXT")) == [b"v=spf1 ip4:192.0.2.2 -all"]

    dns_server.zone.remove("example.com")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("example.com", "TXT")

    dns_server.zone = Zone({"example.com": [("A", "192.0.2.3")]})
    assert [rdata.address for rdata in resolver.resolve("example.com", "A")] == ["192.0.2.3"]


def test_zone_mapping_view() -> None:
    zone = Zone({"Example.com.": [("A", "192.0.2.1"), ("TXT", "x")]})
    assert "example.COM" in zone
    assert list(zone) == [dns.name.from_text("example.com")]
    assert sorted(dns.rdatatype.to_text(rrset.rdtype) for rrset in zone["example.com"]) == [
        "A",
        "TXT",
    ]
    assert zone.rrset("example.com", "AAAA") is None
    with pytest.raises(KeyError):
        zone["other.example.com"]


# -- the RFC 7208 suite -----------------------------------------------------------------------


def suite_documents() -> list[dict[str, Any]]:
    with SUITE.open(encoding="utf-8") as stream:
        return list(yaml.safe_load_all(stream))


def expected_rdata(kind: str, value: Any) -> Any:
    """The YAML value in the form the resolver's rdata gives back, for comparison."""
    if kind in ("TXT", "SPF"):
        return "".join(value).encode() if isinstance(value, list) else value.encode()
    if kind in ("A", "AAAA"):
        return ipaddress.ip_address(value)
    if kind == "MX":
        return (value[0], dns.name.from_text(value[1] or "."))
    return dns.name.from_text(value)


def served_rdata(kind: str, rdata: Any) -> Any:
    if kind in ("TXT", "SPF"):
        return b"".join(rdata.strings)
    if kind in ("A", "AAAA"):
        return ipaddress.ip_address(rdata.address)
    if kind == "MX":
        return (rdata.preference, rdata.exchange)
    return rdata.target


@needs_corpus
def test_every_suite_document_loads_and_is_served(dns_server: DnsServer) -> None:
    """Each record of each document comes back from the server as the YAML wrote it."""
    documents = suite_documents()
    assert len(documents) == 16
    assert sum(len(document["tests"]) for document in documents) == 203
    resolver = dns_server.resolver()
    checked = 0
    for document in documents:
        dns_server.zone = zone_from_suite(document["zonedata"])
        for name, items in document["zonedata"].items():
            if "TIMEOUT" in items:
                continue  # dropped on purpose: test_suite_timeout_and_none below
            expected: dict[str, set[Any]] = {}
            for item in items:
                for kind, value in item.items():
                    if value != "NONE":
                        expected.setdefault(kind, set()).add(expected_rdata(kind, value))
            if "SPF" in expected and not any("TXT" in item for item in items):
                expected["TXT"] = expected["SPF"]
            for kind, values in expected.items():
                answer = resolver.resolve(name, kind)
                assert {served_rdata(kind, rdata) for rdata in answer} == values, (name, kind)
                checked += 1
    assert checked > 300


@needs_corpus
def test_suite_conventions() -> None:
    documents = suite_documents()
    initial, lookup, selecting = documents[0], documents[1], documents[2]

    zone = zone_from_suite(initial["zonedata"])
    null = zone.rrset("null.example.com", "TXT")
    assert null is not None
    assert sorted(rdata.strings for rdata in null) == [(b"",), (b"v=spf1 ip4:", b"192.0.2.5 -all")]
    hosed = zone.rrset("hosed2.example.com", "TXT")
    assert hosed is not None and hosed[0].strings == ("v=spf1 \x80a:example.net -all".encode(),)
    raw = zone_from_suite(initial["zonedata"], txt_encoding="latin-1")
    hosed = raw.rrset("hosed2.example.com", "SPF")
    assert hosed is not None and hosed[0].strings == (b"v=spf1 \x80a:example.net -all",)

    zone = zone_from_suite(lookup["zonedata"])
    assert zone.rrset("spfonly.example.net", "TXT") is None  # TXT: NONE
    assert zone.rrset("spfonly.example.net", "SPF") is not None
    both = zone.rrset("both.example.net", "TXT")
    assert both is not None and len(both) == 1  # its own TXT, no copy of the SPF record

    zone = zone_from_suite(selecting["zonedata"])
    split = zone.rrset("example2.com", "TXT")
    assert split is not None and split[0].strings == (b"v=spf1", b"mx")

    (mx_doc,) = (d for d in documents if d["description"] == "MX mechanism syntax")
    zone = zone_from_suite(mx_doc["zonedata"])
    null_mx = zone.rrset("mail.example.com", "MX")
    assert null_mx is not None and null_mx[0].exchange == dns.name.root
    assert zone.rrset("foo:bar/baz.example.com", "A") is not None

    (ptr_doc,) = (d for d in documents if d["description"] == "PTR mechanism syntax")
    zone = zone_from_suite(ptr_doc["zonedata"])
    v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e.b.a.b.e.f.a.c.ip6.arpa"
    assert zone.rrset(v6, "PTR") is not None  # the YAML spells the nibbles in upper case
    loop = zone.rrset("loop4.example.com", "CNAME")
    assert loop is not None and loop[0].target == dns.name.from_text("cname.example.com")


@needs_corpus
def test_suite_timeout_and_none(dns_server: DnsServer) -> None:
    """TIMEOUT drops what has no record listed before it (pyspf's test driver reads it so)."""
    lookup = suite_documents()[1]
    dns_server.zone = zone_from_suite(lookup["zonedata"])
    resolver = dns_server.resolver(timeout=0.1, lifetime=0.3)

    # spftimeout: TXT, then TIMEOUT -> TXT answers (the test expects fail), SPF times out
    assert joined(resolver.resolve("spftimeout.example.net", "TXT")) == [b"v=spf1 -all"]
    with pytest.raises(dns.resolver.LifetimeTimeout):
        resolver.resolve("spftimeout.example.net", "SPF")
    # txttimeout: SPF, TXT: NONE, TIMEOUT -> the TXT query times out (temperror)
    assert len(resolver.resolve("txttimeout.example.net", "SPF")) == 1
    with pytest.raises(dns.resolver.LifetimeTimeout):
        resolver.resolve("txttimeout.example.net", "TXT")
    with pytest.raises(dns.resolver.LifetimeTimeout):
        resolver.resolve("alltimeout.example.net", "TXT")
    # spfonly: TXT: NONE -> NODATA, not a timeout (result none)
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve("spfonly.example.net", "TXT")


def test_suite_loader_rejects_malformed_zonedata() -> None:
    with pytest.raises(ValueError, match="MX"):
        zone_from_suite({"example.com": [{"MX": "mail.example.com"}]})
    with pytest.raises(ValueError, match="unexpected item"):
        zone_from_suite({"example.com": ["SOMETIMES"]})


# -- blaze DNS cache --------------------------------------------------------------------------


@needs_corpus
def test_blaze_cache_serves_the_google_spf_chain(dns_server: DnsServer) -> None:
    dns_server.zone = zone_from_blaze_cache(CORPUS)
    resolver = dns_server.resolver()
    assert len(dns_server.zone) == len(list(CORPUS.glob("dnscache_blaze_*.dns")))

    (record,) = joined(resolver.resolve("_spf.google.com", "TXT"))
    assert record == (CORPUS / "dnscache_blaze__spf.google.com.dns").read_bytes().strip()[4:]
    includes = [term.split(b":", 1)[1] for term in record.split() if term.startswith(b"include:")]
    assert includes == [
        b"_netblocks.google.com",
        b"_netblocks2.google.com",
        b"_netblocks3.google.com",
    ]
    for name in includes:
        (included,) = joined(resolver.resolve(name.decode(), "TXT"))
        assert included.startswith(b"v=spf1 ip")
    (github,) = joined(resolver.resolve("github.com", "TXT"))
    assert b"_spf.salesforce.com  include:" in github  # the double space is kept

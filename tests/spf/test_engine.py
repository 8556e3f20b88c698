"""The SPF engine (auditor/spf/) against a real DNS server on 127.0.0.1 (tests/dnsd.py).

The RFC 7208 suite (test_rfc7208_suite.py) checks one client at a time; these tests check
what only an enumerating engine can get wrong: the whole authorised set and the include chain
of every range, both address families, the honoured and published views over the lookup
limit, what cannot be listed, and that a DNS fault anywhere fails the source instead of
shrinking it (RELIABILITY sections 1 and 6).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from dnsd import DnsServer, zone_from_blaze_cache

from auditor import ipspace
from auditor.ipspace import IPSpace
from auditor.model import Completeness
from auditor.spf.evaluate import Piece
from auditor.spf.options import DnsOptions
from auditor.spf.record import DnsFailure, NoSpfRecord, NoSuchDomain, SpfError
from auditor.spf.result import Expansion, FamilyResult, expand_domain, to_rangeset

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "spf"

Records = dict[Any, list[tuple[str, Any]]]
"""Names to (type, value) pairs, as ``Zone.update`` takes them."""


def expand(
    server: DnsServer,
    records: Records | None = None,
    domain: str = "example.com",
    *,
    timeout: float = 1.0,
    deadline: float = 5.0,
) -> Expansion:
    if records:
        server.zone.update(records)
    options = DnsOptions(nameserver=f"127.0.0.1:{server.port}", timeout=timeout, deadline=deadline)
    return expand_domain(domain, options)


def txt(text: str | bytes | tuple[str, ...]) -> list[tuple[str, Any]]:
    return [("TXT", text)]


def cidrs(pieces: Iterable[Piece], family: int) -> set[str]:
    """The pieces as minimal CIDRs: what a firewall would be given."""
    space = IPSpace.from_intervals((family, first, last) for first, last, _ in pieces)
    return set(space.cidrs_text(family))


def space_of(texts: Iterable[str]) -> IPSpace:
    return IPSpace.from_text(texts)


def chain_of(result: FamilyResult, address: str) -> tuple[str, ...] | None:
    """The include chain of the range that authorises ``address``; None when none does."""
    family, value, _ = ipspace.parse_address(address)
    assert family == result.family
    for first, last, chain in result.pieces:
        if first <= value <= last:
            return chain
    return None


def authorised(result: FamilyResult, address: str) -> bool:
    return chain_of(result, address) is not None


def everything(family: int) -> set[str]:
    return {"0.0.0.0/0"} if family == 4 else {"::/0"}


def asked(server: DnsServer) -> Counter[tuple[str, str]]:
    return Counter((q.qname, q.qtype) for q in server.queries)


# -- semantics (RFC 7208 sections 4.6.2, 5, 6.1) ---------------------------------------------


def test_first_match_wins(dns_server: DnsServer) -> None:
    """A ``-`` term before a broader ``+`` term takes its addresses out (4.6.2)."""
    result = expand(
        dns_server, {"example.com": txt("v=spf1 -ip4:192.0.2.5 ip4:192.0.2.0/24 -all")}
    ).family(4)
    assert not authorised(result, "192.0.2.5")
    assert authorised(result, "192.0.2.4") and authorised(result, "192.0.2.6")
    assert ipspace.size(space_of(cidrs(result.pieces, 4)).family(4)) == 255
    assert chain_of(result, "192.0.2.200") == ("example.com", "ip4:192.0.2.0/24")


def test_minus_include_removes_what_the_include_passes(dns_server: DnsServer) -> None:
    """``-include:x`` matches exactly the clients x passes (5.2): those fail here, the rest
    go on to the next term, including the ones x itself rejects."""
    expansion = expand(
        dns_server,
        {
            "example.com": txt(
                "v=spf1 -include:bad.example.com -include:odd.example.com ip4:192.0.2.0/24 -all"
            ),
            "bad.example.com": txt("v=spf1 ip4:192.0.2.128/25 -all"),
            # passes everything except 192.0.2.0/26: only that block survives the -include
            "odd.example.com": txt("v=spf1 -ip4:192.0.2.0/26 +all"),
        },
    )
    assert cidrs(expansion.family(4).pieces, 4) == {"192.0.2.0/26"}
    assert expansion.family(6).pieces == ()


@pytest.mark.parametrize("qualifier", ["~", "?", "-"])
def test_all_other_than_plus_authorises_nothing(dns_server: DnsServer, qualifier: str) -> None:
    expansion = expand(dns_server, {"example.com": txt(f"v=spf1 ip4:192.0.2.1 {qualifier}all")})
    assert cidrs(expansion.family(4).pieces, 4) == {"192.0.2.1/32"}
    assert expansion.family(6).pieces == ()


@pytest.mark.parametrize("term", ["+all", "all"])
def test_plus_all_authorises_everything(dns_server: DnsServer, term: str) -> None:
    expansion = expand(dns_server, {"example.com": txt(f"v=spf1 -ip4:192.0.2.1 {term}")})
    # the -ip4 before it still keeps one address out of IPv4
    assert not authorised(expansion.family(4), "192.0.2.1")
    assert ipspace.size(space_of(cidrs(expansion.family(4).pieces, 4)).family(4)) == 2**32 - 1
    assert cidrs(expansion.family(6).pieces, 6) == everything(6)
    assert chain_of(expansion.family(6), "2001:db8::1") == ("example.com", term)


def test_redirect_applies_when_nothing_matched(dns_server: DnsServer) -> None:
    """Mechanisms before the redirect are evaluated first (6.1): the -ip4 takes one address
    out of what the redirect target passes."""
    expansion = expand(
        dns_server,
        {
            "example.com": txt("v=spf1 ip4:192.0.2.1 -ip4:198.51.100.7 redirect=r.example.com"),
            "r.example.com": txt("v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 -all"),
        },
    )
    v4 = expansion.family(4)
    assert authorised(v4, "192.0.2.1")
    assert not authorised(v4, "198.51.100.7")
    assert chain_of(v4, "198.51.100.8") == (
        "example.com",
        "redirect=r.example.com",
        "ip4:198.51.100.0/24",
    )
    assert cidrs(expansion.family(6).pieces, 6) == {"2001:db8::/32"}
    assert v4.lookups == 1


@pytest.mark.parametrize("all_term", ["~all", "-all", "?all"])
def test_redirect_is_ignored_with_all(dns_server: DnsServer, all_term: str) -> None:
    """6.1: "redirect" MUST be ignored when the record has an "all" mechanism, wherever it
    stands (suite redirect-after-mechanisms1 has it before the ``all``)."""
    expansion = expand(
        dns_server,
        {
            "example.com": txt(f"v=spf1 ip4:192.0.2.1 redirect=r.example.com {all_term}"),
            "r.example.com": txt("v=spf1 ip4:198.51.100.0/24 -all"),
        },
    )
    assert cidrs(expansion.family(4).pieces, 4) == {"192.0.2.1/32"}
    assert expansion.family(4).lookups == 0


def test_a_and_mx_dual_cidr_per_family(dns_server: DnsServer) -> None:
    """``a/24//64`` widens A answers to /24 in the IPv4 view and AAAA answers to /64 in the
    IPv6 view (5.3, 5.4, 5.6); ``mx`` reads the MX hosts' A and AAAA, never the domain's."""
    expansion = expand(
        dns_server,
        {
            "example.com": [
                ("TXT", "v=spf1 a/24//64 mx/28//48 a:host.example.com//120 -all"),
                ("A", "192.0.2.10"),
                ("AAAA", "2001:db8:1:2::10"),
                ("MX", (10, "mail.example.com")),
            ],
            "mail.example.com": [("A", "198.51.100.77"), ("AAAA", "2001:db8:aaaa:bbbb::1")],
            "host.example.com": [("A", "203.0.113.9"), ("AAAA", "2001:db8:ffff::1234")],
        },
    )
    assert cidrs(expansion.family(4).pieces, 4) == {
        "192.0.2.0/24",
        "198.51.100.64/28",
        "203.0.113.9/32",
    }
    assert cidrs(expansion.family(6).pieces, 6) == {
        "2001:db8:1:2::/64",
        "2001:db8:aaaa::/48",
        "2001:db8:ffff::1200/120",
    }
    assert chain_of(expansion.family(6), "2001:db8:aaaa:1::1") == ("example.com", "mx/28//48")


def test_ranges_are_listed_once(dns_server: DnsServer) -> None:
    """Two A records in one /24 (or two MX hosts sharing an address) are one authorised
    range, not two: the report and the entry counts list each range once."""
    expansion = expand(
        dns_server,
        {
            "example.com": [
                ("TXT", "v=spf1 a/24 mx -all"),
                ("A", "192.0.2.1"),
                ("A", "192.0.2.2"),
                ("MX", (10, "mx1.example.com")),
                ("MX", (20, "mx2.example.com")),
            ],
            "mx1.example.com": [("A", "198.51.100.25")],
            "mx2.example.com": [("A", "198.51.100.25")],
        },
    )
    pieces = expansion.family(4).pieces
    assert sorted((first, last) for first, last, _ in pieces) == [
        (ipspace.parse("192.0.2.0/24").first, ipspace.parse("192.0.2.0/24").last),
        (ipspace.parse("198.51.100.25").first, ipspace.parse("198.51.100.25").last),
    ]
    assert to_rangeset(expansion, "s", "expected").entries.count(4) == 2


def test_mx_without_mx_records_does_not_fall_back_to_a(dns_server: DnsServer) -> None:
    """Unlike mail delivery, ``mx`` has no implicit MX (5.4; suite mx-implicit); the empty
    MX answer is a void lookup."""
    expansion = expand(
        dns_server,
        {
            "example.com": [
                ("TXT", "v=spf1 mx ip4:192.0.2.1 -all"),
                ("A", "203.0.113.5"),
                ("AAAA", "2001:db8::5"),
            ]
        },
    )
    for family in (4, 6):
        result = expansion.family(family)
        assert result.voids == 1
        assert result.error is None and result.over_limit is None
    assert cidrs(expansion.family(4).pieces, 4) == {"192.0.2.1/32"}
    assert expansion.family(6).pieces == ()


def test_null_mx_names_no_host(dns_server: DnsServer) -> None:
    """A null MX (``0 .``, RFC 7505) names no host: nothing matches, nothing fails, and no
    address query is sent for the root name (suite mx-empty)."""
    expansion = expand(
        dns_server,
        {"example.com": [("TXT", "v=spf1 mx ip4:192.0.2.1 -all"), ("MX", (0, "."))]},
    )
    v4 = expansion.family(4)
    assert cidrs(v4.pieces, 4) == {"192.0.2.1/32"}
    assert v4.error is None and v4.over_limit is None and not v4.unlistable
    assert {q.qname for q in dns_server.queries} == {"example.com"}


def test_exists_with_a_plain_name_that_resolves_is_everything(dns_server: DnsServer) -> None:
    """``exists:`` matches every client when its name resolves; it always asks for A, also
    for an IPv6 client (5.7)."""
    expansion = expand(
        dns_server,
        {
            "example.com": txt("v=spf1 exists:ok.example.com -all"),
            "ok.example.com": [("A", "127.0.0.2")],
        },
    )
    assert cidrs(expansion.family(4).pieces, 4) == everything(4)
    assert cidrs(expansion.family(6).pieces, 6) == everything(6)
    assert ("ok.example.com", "AAAA") not in asked(dns_server)


def test_exists_that_does_not_resolve_matches_nothing(dns_server: DnsServer) -> None:
    expansion = expand(
        dns_server, {"example.com": txt("v=spf1 exists:nx.example.com ip4:192.0.2.1 -all")}
    )
    assert cidrs(expansion.family(4).pieces, 4) == {"192.0.2.1/32"}
    assert expansion.family(4).voids == 1


def test_ip6_written_as_mapped_ipv4_matches_no_client(dns_server: DnsServer) -> None:
    """An IPv4-mapped client address is treated as IPv4 (5, suite ip4-mapped-ip6), so
    ``ip6:::ffff:1.2.3.4`` matches no IPv6 client, and ``ip6`` never matches an IPv4 one."""
    expansion = expand(
        dns_server,
        {"example.com": txt("v=spf1 ip6:::ffff:1.2.3.4 ip4:192.0.2.1 -all")},
    )
    assert cidrs(expansion.family(4).pieces, 4) == {"192.0.2.1/32"}
    assert expansion.family(6).pieces == ()
    assert expansion.family(6).error is None


def test_ip6_mapped_notation_with_a_short_prefix_still_covers_ipv6(dns_server: DnsServer) -> None:
    """``ip6:::ffff:1.2.3.4/0`` is the network ::/0 (5.6: the prefix length applies to the
    128-bit value, however the address is written): every IPv6 client passes."""
    expansion = expand(dns_server, {"example.com": txt("v=spf1 ip6:::ffff:1.2.3.4/0 -all")})
    v6 = expansion.family(6)
    assert authorised(v6, "2001:db8::1")
    assert authorised(v6, "::abcd")


# -- what cannot be listed (5.5, 5.7, 7) ------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "says"),
    [
        ("exists:%{i}._spf.example.net", "%{i}"),
        ("ptr", "ptr"),
        ("ptr:example.org", "ptr"),
        ("include:%{l}.users.example.net", "%{l}"),
        ("a:%{ir}.%{v}.hosts.example.net", "%{i}"),
    ],
)
def test_client_dependent_terms_make_the_source_partial(
    dns_server: DnsServer, term: str, says: str
) -> None:
    """The term sits one include down, so the reason must name the chain that reaches it;
    no name with an unexpanded macro is ever queried."""
    expansion = expand(
        dns_server,
        {
            "example.com": txt("v=spf1 ip4:192.0.2.1 include:mid.example.com -all"),
            "mid.example.com": txt(f"v=spf1 {term} ip4:198.51.100.0/24 -all"),
        },
    )
    for result in expansion.families:
        assert len(result.unlistable) == 1
        assert f"example.com > include:mid.example.com > {term}" in result.unlistable[0]
        assert says in result.unlistable[0]
    assert authorised(expansion.family(4), "198.51.100.1")
    rangeset = to_rangeset(expansion, "spf:example.com", "expected")
    assert rangeset.completeness is Completeness.PARTIAL
    assert any("include:mid.example.com" in r and term in r for r in rangeset.reasons)
    assert not any("%" in q.qname or "{" in q.qname for q in dns_server.queries)


def test_domain_macros_are_expanded(dns_server: DnsServer) -> None:
    """%{d} is the current domain (7.3): the include target inside an include, not the top
    one; digits keep the rightmost labels and ``r`` reverses them first."""
    dns_server.zone.update(
        {
            "a.b.example.com": txt(
                "v=spf1 a:%{d}.h.example.net a:%{d2}.h.example.net a:%{dr}.h.example.net"
                " a:%{d2r}.h.example.net include:_spf.%{d2} -all"
            ),
            "a.b.example.com.h.example.net": [("A", "192.0.2.1")],
            "example.com.h.example.net": [("A", "192.0.2.2")],
            "com.example.b.a.h.example.net": [("A", "192.0.2.3")],
            "b.a.h.example.net": [("A", "192.0.2.4")],
            "_spf.example.com": txt("v=spf1 exists:%{d}.x.example.net -all"),
            "_spf.example.com.x.example.net": [("A", "127.0.0.2")],
        }
    )
    expansion = expand(dns_server, domain="a.b.example.com")
    queried = asked(dns_server)
    for name in (
        "a.b.example.com.h.example.net",
        "example.com.h.example.net",
        "com.example.b.a.h.example.net",
        "b.a.h.example.net",
        "_spf.example.com.x.example.net",
    ):
        assert queried[(name, "A")] == 1, name
    assert queried[("_spf.example.com", "TXT")] == 1
    v4 = expansion.family(4)
    # the four a: terms first, then everything else through the exists: in _spf.example.com
    assert chain_of(v4, "192.0.2.4") == ("a.b.example.com", "a:%{d2r}.h.example.net")
    assert chain_of(v4, "203.0.113.1") == (
        "a.b.example.com",
        "include:_spf.%{d2}",
        "exists:%{d}.x.example.net",
    )
    assert not any(r.unlistable for r in expansion.families)


# -- limits (4.6.4) ---------------------------------------------------------------------------


def _hosts(count: int) -> Records:
    return {
        f"h{i}.example.com": [("A", f"198.51.100.{10 * i}"), ("AAAA", f"2001:db8:{i}::1")]
        for i in range(1, count + 1)
    }


def test_ten_lookups_pass(dns_server: DnsServer) -> None:
    terms = " ".join(f"a:h{i}.example.com" for i in range(1, 11))
    expansion = expand(
        dns_server,
        {**_hosts(10), "example.com": txt(f"v=spf1 {terms} ip4:192.0.2.200 -all")},
    )
    for result in expansion.families:
        assert result.lookups == 10
        assert result.over_limit is None and result.published is None
    assert len(cidrs(expansion.family(4).pieces, 4)) == 11
    rangeset = to_rangeset(expansion, "spf:example.com", "expected")
    assert rangeset.completeness is Completeness.COMPLETE


def test_the_eleventh_lookup_is_over_the_limit(dns_server: DnsServer) -> None:
    """Receivers stop at the 11th DNS term with permerror: the honoured view ends before it;
    the publisher's view lists everything; the source is partial either way."""
    terms = " ".join(f"a:h{i}.example.com" for i in range(1, 12))
    expansion = expand(
        dns_server,
        {**_hosts(11), "example.com": txt(f"v=spf1 {terms} ip4:192.0.2.200 -all")},
    )
    v4 = expansion.family(4)
    assert v4.over_limit is not None and "a:h11.example.com" in v4.over_limit
    assert v4.lookups == 10
    honoured = {f"198.51.100.{10 * i}/32" for i in range(1, 11)}
    assert cidrs(v4.pieces, 4) == honoured
    assert v4.published is not None
    assert cidrs(v4.published, 4) == honoured | {"198.51.100.110/32", "192.0.2.200/32"}
    assert v4.published_lookups == 11
    assert expansion.family(6).over_limit is not None

    honoured_set = to_rangeset(expansion, "spf:example.com", "expected")
    published_set = to_rangeset(expansion, "spf:example.com", "expected", view="published")
    for rangeset in (honoured_set, published_set):
        assert rangeset.completeness is Completeness.PARTIAL
        assert any("IPv4" in r and "a:h11.example.com" in r for r in rangeset.reasons)
        assert any(f.kind == "spf-over-limit" for f in rangeset.findings)
    assert set(honoured_set.space.cidrs_text(4)) == honoured
    assert "192.0.2.200/32" in set(published_set.space.cidrs_text(4))
    assert "2001:db8:11::1/128" in set(published_set.space.cidrs_text(6))


@pytest.mark.parametrize(("inner", "over"), [(8, False), (9, True)])
def test_includes_count_recursively(dns_server: DnsServer, inner: int, over: bool) -> None:
    """The include itself, the terms of its record and the terms after it all count."""
    terms = " ".join(f"a:h{i}.example.com" for i in range(1, inner + 1))
    expansion = expand(
        dns_server,
        {
            **_hosts(12),
            "example.com": txt("v=spf1 include:i.example.com a:h12.example.com -all"),
            "i.example.com": txt(f"v=spf1 {terms} -all"),
        },
    )
    v4 = expansion.family(4)
    assert (v4.over_limit is not None) is over
    assert authorised(v4, "198.51.100.120") is not over
    assert authorised(v4, f"198.51.100.{10 * inner}")
    if over:
        assert v4.over_limit is not None and "a:h12.example.com" in v4.over_limit
        assert v4.published is not None
        assert "198.51.100.120/32" in cidrs(v4.published, 4)


@pytest.mark.parametrize(("extra", "over"), [("", False), ("a:h10.example.com ", True)])
def test_ptr_counts_towards_the_limit(dns_server: DnsServer, extra: str, over: bool) -> None:
    """``ptr`` is a DNS term like ``a`` (4.6.4; suite mech-at-limit, mech-over-limit)."""
    terms = " ".join(f"a:h{i}.example.com" for i in range(1, 10))
    expansion = expand(
        dns_server,
        {**_hosts(10), "example.com": txt(f"v=spf1 {terms} ptr {extra}ip4:192.0.2.1 -all")},
    )
    v4 = expansion.family(4)
    assert (v4.over_limit is not None) is over
    assert authorised(v4, "192.0.2.1") is not over
    assert v4.lookups == 10


def test_exp_is_never_looked_up(dns_server: DnsServer) -> None:
    """exp= is only for the explanation of a fail; it never counts (4.6.4; suite exp-void)."""
    expansion = expand(
        dns_server, {"example.com": txt("v=spf1 ip4:192.0.2.1 exp=nx.example.com -all")}
    )
    for result in expansion.families:
        assert (result.lookups, result.voids) == (0, 0)
    assert ("nx.example.com", "TXT") not in asked(dns_server)


def test_limits_are_counted_per_family(dns_server: DnsServer) -> None:
    """Receivers ask A for an IPv4 client and AAAA for an IPv6 one, so hosts without AAAA
    are void lookups only in the IPv6 view: valid for IPv4, over the void limit for IPv6."""
    hosts = {f"v4only{i}.example.com": [("A", f"198.51.100.{i}")] for i in range(1, 4)}
    terms = " ".join(f"a:{name}" for name in hosts)
    expansion = expand(
        dns_server, {**hosts, "example.com": txt(f"v=spf1 {terms} ip6:2001:db8::/32 -all")}
    )
    v4, v6 = expansion.family(4), expansion.family(6)
    assert v4.over_limit is None and v4.voids == 0
    assert cidrs(v4.pieces, 4) == {"198.51.100.1/32", "198.51.100.2/31"}
    assert v6.over_limit is not None and "void" in v6.over_limit and v6.voids == 3
    assert v6.pieces == ()
    assert v6.published is not None and cidrs(v6.published, 6) == {"2001:db8::/32"}
    rangeset = to_rangeset(expansion, "s", "expected")
    assert rangeset.completeness is Completeness.PARTIAL
    assert [r.split(":")[0] for r in rangeset.reasons] == ["IPv6"]


def test_published_view_keeps_what_it_listed_before_a_later_permerror(
    dns_server: DnsServer,
) -> None:
    """Past the limit, the publisher's view goes on; a permerror it meets further on (here an
    include target without a record, common in broken real records) ends it there, but the
    ranges it had listed up to that point stay listed, as they do in the honoured view."""
    terms = " ".join(f"a:h{i}.example.com" for i in range(1, 12))
    expansion = expand(
        dns_server,
        {
            **_hosts(11),
            "example.com": txt(f"v=spf1 {terms} include:gone.example.com ip4:192.0.2.200 -all"),
        },
    )
    v4 = expansion.family(4)
    assert v4.over_limit is not None
    assert v4.published is not None
    published = cidrs(v4.published, 4)
    assert cidrs(v4.pieces, 4) <= published
    assert "198.51.100.110/32" in published
    rangeset = to_rangeset(expansion, "spf:example.com", "expected", view="published")
    assert "198.51.100.110/32" in set(rangeset.space.cidrs_text(4))


def test_published_view_beyond_its_own_bound_keeps_what_it_listed(dns_server: DnsServer) -> None:
    """The publisher's view is bounded too (100 lookups); stopping there must not turn it into
    an empty list."""
    records: Records = {
        "example.com": txt(
            "v=spf1 " + " ".join(f"include:w{i}.example.com" for i in range(110)) + " -all"
        )
    }
    for i in range(110):
        records[f"w{i}.example.com"] = txt(f"v=spf1 ip4:10.0.{i}.0/24 -all")
    v4 = expand(dns_server, records).family(4)
    assert v4.over_limit is not None
    assert v4.published is not None
    published = cidrs(v4.published, 4)
    assert not space_of(cidrs(v4.pieces, 4)) - space_of(published)
    # the first 100 includes are within the bound
    assert not space_of(f"10.0.{i}.0/24" for i in range(100)) - space_of(published)


def test_void_lookup_limit(dns_server: DnsServer) -> None:
    """Two void lookups are allowed, the third is a permerror (4.6.4): the ranges after it
    are not honoured but are in the publisher's view."""
    voids = " ".join(f"a:v{i}.example.com" for i in range(1, 4))
    expansion = expand(
        dns_server,
        {"example.com": txt(f"v=spf1 ip4:192.0.2.1 {voids} ip4:192.0.2.2 -all")},
    )
    for result in expansion.families:
        assert result.over_limit is not None and "void" in result.over_limit
        assert "a:v3.example.com" in result.over_limit
    v4 = expansion.family(4)
    assert cidrs(v4.pieces, 4) == {"192.0.2.1/32"}
    assert v4.published is not None and "192.0.2.2/32" in cidrs(v4.published, 4)
    assert to_rangeset(expansion, "s", "expected").completeness is Completeness.PARTIAL


def test_nxdomain_and_nodata_are_void_not_failures(dns_server: DnsServer) -> None:
    expansion = expand(
        dns_server,
        {
            "example.com": txt("v=spf1 a:nx.example.com a:nodata.example.com ip4:192.0.2.9 -all"),
            "nodata.example.com": txt("not an address"),
        },
    )
    for result in expansion.families:
        assert result.voids == 2
        assert result.error is None and result.over_limit is None
    assert cidrs(expansion.family(4).pieces, 4) == {"192.0.2.9/32"}
    assert to_rangeset(expansion, "s", "expected").completeness is Completeness.COMPLETE


@pytest.mark.parametrize("own_terms", [0, 1])
def test_diamond_includes_count_the_shared_record_twice(
    dns_server: DnsServer, own_terms: int
) -> None:
    """A client that matches nothing evaluates D once through B and again through C, so its
    lookups are counted on both paths (4.6.4), while the answers come from one query each."""
    d_terms = "a:dh.example.com " if own_terms else ""
    expansion = expand(
        dns_server,
        {
            "example.com": txt("v=spf1 include:b.example.com include:c.example.com -all"),
            "b.example.com": txt("v=spf1 include:d.example.com ip4:192.0.2.2 -all"),
            "c.example.com": txt("v=spf1 include:d.example.com ip4:192.0.2.3 -all"),
            "d.example.com": txt(f"v=spf1 {d_terms}ip4:192.0.2.4 -all"),
            "dh.example.com": [("A", "192.0.2.9"), ("AAAA", "2001:db8::5")],
        },
    )
    v4 = expansion.family(4)
    assert v4.lookups == 4 + 2 * own_terms
    expected = {"192.0.2.2/31", "192.0.2.4/32"} | ({"192.0.2.9/32"} if own_terms else set())
    assert cidrs(v4.pieces, 4) == expected
    assert chain_of(v4, "192.0.2.4") == (
        "example.com",
        "include:b.example.com",
        "include:d.example.com",
        "ip4:192.0.2.4",
    )
    queried = asked(dns_server)
    assert queried[("d.example.com", "TXT")] == 1
    assert max(queried.values()) == 1


@pytest.mark.parametrize(
    "records",
    [
        {
            "example.com": txt("v=spf1 ip4:192.0.2.1 include:b.example.com -all"),
            "b.example.com": txt("v=spf1 ip4:198.51.100.1 include:EXAMPLE.com -all"),
        },
        {"example.com": txt("v=spf1 ip4:192.0.2.1 include:example.com -all")},
        {
            "example.com": txt("v=spf1 ip4:192.0.2.1 redirect=b.example.com"),
            "b.example.com": txt("v=spf1 redirect=example.com"),
        },
        {"example.com": txt("v=spf1 ip4:192.0.2.1 redirect=example.com")},
    ],
    ids=["include-loop", "include-self", "redirect-loop", "redirect-self"],
)
def test_loops_are_permerrors(dns_server: DnsServer, records: Records) -> None:
    """A loop is a permerror (suite include-loop, redirect-loop), never a silently shortened
    set: the error is recorded and the source is partial."""
    expansion = expand(dns_server, records)
    for result in expansion.families:
        assert result.error is not None and "loop" in result.error
    assert authorised(expansion.family(4), "192.0.2.1")
    rangeset = to_rangeset(expansion, "spf:example.com", "expected")
    assert rangeset.completeness is Completeness.PARTIAL
    assert any("loop" in r for r in rangeset.reasons)


@pytest.mark.parametrize(("names", "error"), [(10, False), (11, True)])
def test_mx_with_more_than_ten_names(dns_server: DnsServer, names: int, error: bool) -> None:
    """More than 10 MX names is a permerror of the ``mx`` term (4.6.4; suite mx-limit)."""
    records: Records = {
        "example.com": [("TXT", "v=spf1 ip4:192.0.2.1 mx ip4:192.0.2.2 -all")]
        + [("MX", (i, f"mx{i}.example.com")) for i in range(names)]
    }
    for i in range(names):
        records[f"mx{i}.example.com"] = [("A", f"198.51.100.{i}")]
    v4 = expand(dns_server, records).family(4)
    assert authorised(v4, "192.0.2.1")
    assert (v4.error is not None) is error
    assert authorised(v4, "192.0.2.2") is not error
    assert authorised(v4, "198.51.100.0") is not error
    if error:
        assert v4.error is not None and "MX" in v4.error


def test_two_spf_records_at_the_top_fail(dns_server: DnsServer) -> None:
    """4.5: two ``v=spf1`` records is a permerror; the source cannot be read at all."""
    dns_server.zone.update(
        {
            "example.com": [
                ("TXT", "v=spf1 ip4:192.0.2.1 -all"),
                ("TXT", "V=SPF1 ip4:192.0.2.2 -all"),
            ]
        }
    )
    with pytest.raises(SpfError, match="2 SPF records") as raised:
        expand(dns_server)
    assert not isinstance(raised.value, DnsFailure)


@pytest.mark.parametrize(
    "records",
    [
        {},
        {"example.com": [("A", "192.0.2.1")]},
        {"example.com": txt("google-site-verification=abc")},
        {"example.com": txt("v=spf10 ip4:192.0.2.1")},
        {"example.com": txt(("v=spf1", "ip4:192.0.2.1"))},
        {"example.com": [("SPF", "v=spf1 ip4:192.0.2.1 -all")]},
    ],
    ids=["nxdomain", "nodata", "other-txt", "spf10", "joined-without-space", "type-99-only"],
)
def test_no_record_at_the_top_fails(dns_server: DnsServer, records: Records) -> None:
    """No SPF record is "none" (4.5): a provider that publishes nothing is a failure, not an
    empty set, and not a DNS failure either."""
    with pytest.raises(SpfError, match="no SPF record") as raised:
        expand(dns_server, records)
    assert not isinstance(raised.value, DnsFailure)
    # a name that does not exist is told apart from one without a record
    nxdomain = "example.com" not in records
    assert isinstance(raised.value, NoSuchDomain if nxdomain else NoSpfRecord)
    assert ("does not exist (NXDOMAIN)" in str(raised.value)) == nxdomain


def test_strings_of_a_txt_record_are_joined_without_a_separator(dns_server: DnsServer) -> None:
    """3.3: the character-strings of one record are concatenated as they are."""
    expansion = expand(
        dns_server,
        {
            "example.com": txt(("v=spf1 ip4:", "192.0.2.5 include:i.exa", "mple.com -all")),
            "i.example.com": txt(("v=spf1 ip6:2001:db8:", ":/32 -all")),
        },
    )
    assert cidrs(expansion.family(4).pieces, 4) == {"192.0.2.5/32"}
    assert cidrs(expansion.family(6).pieces, 6) == {"2001:db8::/32"}


def test_non_ascii_in_the_spf_record_fails(dns_server: DnsServer) -> None:
    """3.1 and suite non-ascii-policy: the record is a permerror."""
    with pytest.raises(SpfError) as raised:
        expand(dns_server, {"example.com": txt("v=spf1 ip4:192.0.2.1 a:café.example.com -all")})
    assert not isinstance(raised.value, DnsFailure)


def test_non_ascii_in_an_included_record_is_a_permerror(dns_server: DnsServer) -> None:
    expansion = expand(
        dns_server,
        {
            "example.com": txt("v=spf1 ip4:192.0.2.1 include:i.example.com -all"),
            "i.example.com": txt(b"v=spf1 ip4:198.51.100.1 \xff -all"),
        },
    )
    v4 = expansion.family(4)
    assert v4.error is not None
    assert cidrs(v4.pieces, 4) == {"192.0.2.1/32"}


def test_non_ascii_in_another_txt_record_is_ignored(dns_server: DnsServer) -> None:
    """Suite non-ascii-non-spf: only the SPF record has to be ASCII."""
    expansion = expand(
        dns_server,
        {
            "example.com": [
                ("TXT", "v=spf1 ip4:192.0.2.1 -all"),
                ("TXT", "vérification=é"),
                ("TXT", b"\xff\xfe raw bytes"),
            ]
        },
    )
    assert cidrs(expansion.family(4).pieces, 4) == {"192.0.2.1/32"}
    assert expansion.family(4).error is None


@pytest.mark.parametrize("term", ["include:spf", "include:%{d1}"])
def test_a_single_label_include_target_is_a_permerror(dns_server: DnsServer, term: str) -> None:
    """A single-label target is never searched (RELIABILITY 6): it is a permerror of the
    record that names it, and no query for a single label is sent."""
    expansion = expand(
        dns_server,
        {
            "example.com": txt("v=spf1 ip4:192.0.2.1 include:mid.example.com -all"),
            "mid.example.com": txt(f"v=spf1 {term} ip4:198.51.100.1 -all"),
        },
    )
    for result in expansion.families:
        assert result.error is not None
    assert cidrs(expansion.family(4).pieces, 4) == {"192.0.2.1/32"}
    assert all("." in q.qname for q in dns_server.queries)


# -- DNS faults (RELIABILITY 6) ---------------------------------------------------------------

TREE: Records = {
    "example.com": txt("v=spf1 ip4:192.0.2.1 include:mid.example.com -all"),
    "mid.example.com": txt("v=spf1 include:deep.example.com mx:mx.example.com -all"),
    "deep.example.com": txt("v=spf1 a:host.example.com exists:ex.example.com -all"),
    "host.example.com": [("A", "198.51.100.1"), ("AAAA", "2001:db8::1")],
    "ex.example.com": [("A", "127.0.0.2")],
    "mx.example.com": [("MX", (10, "mail.example.com"))],
    "mail.example.com": [("A", "203.0.113.1"), ("AAAA", "2001:db8::25")],
}
FAULTS = [
    ("example.com", "TXT"),
    ("mid.example.com", "TXT"),
    ("deep.example.com", "TXT"),
    ("host.example.com", "A"),
    ("host.example.com", "AAAA"),
    ("ex.example.com", "A"),
    ("mx.example.com", "MX"),
    ("mail.example.com", "A"),
    ("mail.example.com", "AAAA"),
]


def test_the_fault_tree_expands_when_healthy(dns_server: DnsServer) -> None:
    """The baseline for the fault tests below: every faulted query is really needed."""
    tree = dict(TREE)
    # without the exists: (which matches everyone) the later terms are reached too
    tree["deep.example.com"] = txt("v=spf1 a:host.example.com -exists:ex.example.com -all")
    expansion = expand(dns_server, tree)
    assert cidrs(expansion.family(4).pieces, 4) == {
        "192.0.2.1/32",
        "198.51.100.1/32",
        "203.0.113.1/32",
    }
    assert to_rangeset(expansion, "s", "expected").completeness is Completeness.COMPLETE
    for name, rdtype in FAULTS:
        if name != "mail.example.com":
            assert asked(dns_server)[(name, rdtype)] == 1, (name, rdtype)


@pytest.mark.parametrize("fault", ["servfail", "refused"])
@pytest.mark.parametrize(("name", "rdtype"), FAULTS)
def test_a_server_failure_anywhere_fails_the_source(
    dns_server: DnsServer, name: str, rdtype: str, fault: str
) -> None:
    """SERVFAIL or REFUSED is a temperror wherever the evaluation meets it: DnsFailure, never
    a smaller set (RELIABILITY 1 and 6)."""
    tree = dict(TREE)
    tree["deep.example.com"] = txt("v=spf1 a:host.example.com -exists:ex.example.com -all")
    dns_server.zone.update(tree)
    dns_server.zone.set_behaviour(name, rdtype, **{fault: True})
    with pytest.raises(DnsFailure, match=name.replace(".", r"\.")):
        expand(dns_server)


def test_a_dropped_query_fails_within_the_deadline(dns_server: DnsServer) -> None:
    """The per-query timeout is longer than the deadline: the deadline must still win."""
    dns_server.zone.update(TREE)
    dns_server.zone.set_behaviour("deep.example.com", "TXT", drop=True)
    deadline = 1.0
    start = time.monotonic()
    with pytest.raises(DnsFailure):
        expand(dns_server, timeout=5.0, deadline=deadline)
    assert time.monotonic() - start < deadline + 1.0


def test_slow_answers_in_a_deep_chain_are_cut_by_the_deadline(dns_server: DnsServer) -> None:
    """Each answer alone is within the per-query timeout; together they exceed the deadline,
    which bounds the whole expansion."""
    chain = [f"c{i}.example.com" for i in range(6)]
    for name, following in zip(chain, [*chain[1:], None], strict=True):
        term = f"include:{following}" if following else "ip4:192.0.2.1"
        dns_server.zone.update({name: txt(f"v=spf1 {term} -all")})
        dns_server.zone.set_behaviour(name, "TXT", delay=0.3)
    deadline = 1.0
    start = time.monotonic()
    with pytest.raises(DnsFailure):
        expand(dns_server, domain=chain[0], timeout=0.9, deadline=deadline)
    assert time.monotonic() - start < deadline + 1.0


def test_a_truncated_answer_is_read_over_tcp(dns_server: DnsServer) -> None:
    """A 1 KB record cannot come over classic UDP: TC=1, then TCP (RELIABILITY 6). The
    record is cut into 255-byte strings by the server, which must be joined as they are."""
    networks = [f"198.51.100.{i}" for i in range(0, 100, 2)]
    text = "v=spf1 " + " ".join(f"ip4:{n}" for n in networks) + " ip6:2001:db8::/48 -all"
    assert len(text) > 900
    dns_server.zone.update(
        {
            "example.com": txt("v=spf1 include:big.example.com -all"),
            "big.example.com": txt(text),
        }
    )
    dns_server.zone.set_behaviour("big.example.com", "TXT", truncate=True)
    expansion = expand(dns_server)
    transports = [q.transport for q in dns_server.queries if q.qname == "big.example.com"]
    assert transports == ["udp", "tcp"]
    assert cidrs(expansion.family(4).pieces, 4) == set(space_of(networks).cidrs_text(4))
    assert cidrs(expansion.family(6).pieces, 6) == {"2001:db8::/48"}


def test_a_large_top_record_gets_a_size_note(dns_server: DnsServer) -> None:
    """3.4: a record over 512 bytes may not fit a UDP answer; it is worth a warning."""
    text = "v=spf1 " + " ".join(f"ip4:198.51.100.{i}" for i in range(40)) + " -all"
    assert len(text) > 512
    expansion = expand(dns_server, {"example.com": txt(text)})
    assert any("512" in note for note in expansion.notes)
    rangeset = to_rangeset(expansion, "s", "expected")
    assert any(f.kind == "spf-record" for f in rangeset.findings)


# -- parallelism, each name once --------------------------------------------------------------


def test_a_wide_tree_is_fetched_in_parallel_and_each_name_once(dns_server: DnsServer) -> None:
    """9 includes in 3 levels: about 3 round trips, not 10; no (name, type) asked twice."""
    records: Records = {
        "example.com": txt(
            "v=spf1 include:i1.example.com include:i2.example.com include:i3.example.com -all"
        )
    }
    expected: dict[str, tuple[str, ...]] = {}
    for n in (1, 2, 3):
        middle = f"i{n}.example.com"
        records[middle] = txt(
            f"v=spf1 include:i{n}1.example.com include:i{n}2.example.com ip4:10.{n}.10.0/24 -all"
        )
        expected[f"10.{n}.10.0/24"] = ("example.com", f"include:{middle}", f"ip4:10.{n}.10.0/24")
        for m in (1, 2):
            leaf = f"i{n}{m}.example.com"
            records[leaf] = txt(f"v=spf1 ip4:10.{n}.{2 * m}.0/24 -all")
            expected[f"10.{n}.{2 * m}.0/24"] = (
                "example.com",
                f"include:{middle}",
                f"include:{leaf}",
                f"ip4:10.{n}.{2 * m}.0/24",
            )
    dns_server.zone.update(records)
    dns_server.delay = 0.05
    start = time.monotonic()
    expansion = expand(dns_server)
    elapsed = time.monotonic() - start

    v4 = expansion.family(4)
    assert cidrs(v4.pieces, 4) == set(expected)
    for cidr, chain in expected.items():
        assert chain_of(v4, cidr.split("/")[0]) == chain
    assert v4.lookups == 9
    queried = asked(dns_server)
    assert len(queried) == 10 and max(queried.values()) == 1
    assert expansion.queries == 10
    sequential = len(dns_server.queries) * dns_server.delay
    assert elapsed < sequential * 0.7


# -- real captured records (../shared/corpus/spf) ---------------------------------------------


@pytest.mark.skipif(
    not (CORPUS / "dnscache_blaze__spf.google.com.dns").is_file(),
    reason=f"the shared SPF corpus is not at {CORPUS}",
)
def test_google_spf_from_captured_records() -> None:
    """_spf.google.com expands to exactly the ip4:/ip6: networks of the three netblocks
    records, read here independently with a regular expression, each with its include."""
    with DnsServer(zone_from_blaze_cache(CORPUS)) as server:
        expansion = expand(server, domain="_spf.google.com")
    expected: dict[str, set[str]] = {}
    for path in sorted(CORPUS.glob("dnscache_blaze__netblocks*.google.com.dns")):
        name = path.name.removeprefix("dnscache_blaze_").removesuffix(".dns")
        listed = re.findall(r"\bip[46]:(\S+)", path.read_text())
        assert listed, path
        expected[name] = set(listed)
    assert set(expected) == {
        "_netblocks.google.com",
        "_netblocks2.google.com",
        "_netblocks3.google.com",
    }
    everything_listed = space_of(n for nets in expected.values() for n in nets)
    for family in (4, 6):
        result = expansion.family(family)
        assert result.error is None and result.over_limit is None and not result.unlistable
        assert cidrs(result.pieces, family) == set(everything_listed.cidrs_text(family))
        assert result.lookups == 3
    for name, networks in expected.items():
        for network in networks:
            parsed = ipspace.parse(network)
            chain = chain_of(expansion.family(parsed.family), network.split("/")[0])
            assert chain == ("_spf.google.com", f"include:{name}", f"ip{parsed.family}:{network}")
    rangeset = to_rangeset(expansion, "spf:_spf.google.com", "expected")
    assert rangeset.completeness is Completeness.COMPLETE

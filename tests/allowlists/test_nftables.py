"""The nftables readers: ``nft list ruleset`` text (and files for ``nft -f``) and ``nft -j`` JSON.

Semantics per fixture (each fixture's header says what it shows), the same verdicts from a
ruleset's text and its JSON, content detection, errors with file and line, and every file of
the public corpus read without an unexplained error, with what it does not understand named.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from auditor.allowlists import READERS, ReadContext, ReaderError, reader_for
from auditor.allowlists.nftables.ast import NotUnderstood
from auditor.allowlists.nftables.nft_json import sniff_json
from auditor.allowlists.nftables.nft_text import sniff_text
from auditor.allowlists.nftables.ruleset import read_ruleset
from auditor.model import Completeness, RangeSet, Verdicts
from auditor.service import Service
from auditor.sources.files import detect_format

from .helpers import of_kind

FIXTURES = Path(__file__).parent.parent / "fixtures" / "firewall"
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "firewall"
TEXT_FIXTURES = sorted(FIXTURES.glob("nft_*.nft"))
FORMS = ("nftables", "nftables-json")


def read(
    data: bytes | str,
    fmt: str = "nftables",
    *,
    name: str = "rules.nft",
    service: str | None = None,
    chain: str | None = None,
    to: str | None = None,
) -> RangeSet:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    ctx = ReadContext(
        name,
        "declared",
        service=Service.parse(service) if service else None,
        chain=chain,
        to=to,
    )
    return reader_for(fmt).parse(raw, ctx)


def fixture(name: str, fmt: str = "nftables", **kwargs: str) -> RangeSet:
    path = FIXTURES / (name if fmt == "nftables" else name + ".json")
    return read(path.read_bytes(), fmt, name=path.name, **kwargs)


def outcome(rs: RangeSet, address: str) -> str:
    ip = ipaddress.ip_address(address)
    for v in rs.verdicts:
        if v.family == ip.version:
            seg = v.lookup(int(ip))
            return seg.outcome if seg else "no verdict"
    return "not covered"


def decided_at(rs: RangeSet, address: str) -> int | None:
    ip = ipaddress.ip_address(address)
    (v,) = [v for v in rs.verdicts if v.family == ip.version]
    seg = v.lookup(int(ip))
    assert seg is not None
    return seg.rule.origin.line


def flat(verdicts: tuple[Verdicts, ...]) -> list[tuple[int, int, int, str]]:
    """Segments as (family, first, last, outcome), adjacent ones with one outcome merged."""
    out: list[tuple[int, int, int, str]] = []
    for v in verdicts:
        for s in v.segments:
            last = out[-1] if out else None
            if last and last[0] == v.family and last[3] == s.outcome and last[2] + 1 == s.first:
                out[-1] = (v.family, last[1], s.last, s.outcome)
            else:
                out.append((v.family, s.first, s.last, s.outcome))
    return out


# --- semantics, per fixture, in both forms -----------------------------------------------------

# fixture -> {source: outcome for tcp/25}; see each fixture's header for why
EXPECTED: dict[str, dict[str, str]] = {
    "nft_shadow.nft": {
        "192.0.2.1": "drop",  # the /25 drop shadows the /24 accept
        "192.0.2.200": "accept",
        "198.51.100.9": "drop",  # dropped for every port above its tcp/25 accept
        "203.0.113.70": "accept",  # accepted above the drop of its /24
        "203.0.113.1": "drop",
        "203.0.113.200": "drop",
        "2001:db8:25::1": "accept",
        "2001:db8:25:bad::1": "drop",
        "2001:db8:26::1": "drop",  # policy
        "100.64.0.1": "drop",
    },
    "nft_chains.nft": {
        "198.51.100.1": "accept",  # returns from mail, accepted by input
        "198.51.100.20": "drop",  # returns from mail, not accepted: policy
        "192.0.2.1": "drop",  # return in relay goes back to mail (goto), rejected there
        "192.0.2.70": "drop",  # falls off relay, mail rejects it
        "192.0.2.130": "accept",  # falls off relay, mail accepts 192.0.2.128/26
        "192.0.2.200": "drop",
        "203.0.113.1": "accept",  # goto smtp-only accepts it
        "203.0.113.200": "drop",  # falls off smtp-only: the end of input, policy drop
        "2001:db8:1::1": "accept",
        "2001:db8:1:1::1": "drop",
        "2001:db8:2::1": "accept",  # the anonymous chain accepts it
        "2001:db8:2:1::1": "drop",  # back from the anonymous chain, rejected in mail
        "2001:db8:3::1": "drop",
    },
    "nft_policy-accept.nft": {
        "198.19.1.1": "drop",
        "203.0.113.9": "drop",
        "192.0.2.9": "drop",  # rejected for tcp/25
        "100.64.0.1": "accept",  # no rule: the policy
        "2001:db8:bad::1": "drop",
        "2001:db8:bae::1": "accept",
    },
    "nft_negation.nft": {
        "192.0.2.5": "accept",
        "192.0.2.100": "accept",  # != 192.0.2.100 keeps it out of the /28 drop
        "192.0.2.101": "drop",
        "192.0.2.200": "drop",  # outside 192.0.2.0-192.0.2.127 and 198.51.100.0/25
        "198.51.100.5": "accept",
        "198.51.100.200": "drop",
        "203.0.113.1": "drop",
        "100.64.0.1": "drop",  # outside the anonymous set
        "2001:db8:10::1": "accept",
        "2001:db8:20::5": "accept",
        "2001:db8:20::80": "drop",  # tcp dport != 22
        "2001:db8:20::100": "drop",  # outside partners6
    },
    "nft_sets.nft": {
        "192.0.2.1": "accept",
        "192.0.2.66": "drop",  # blocked4 above mail4
        "192.0.2.130": "drop",
        "198.51.100.10": "accept",
        "198.51.100.15": "drop",
        "198.51.100.20": "accept",
        "198.51.100.21": "drop",
        "203.0.113.7": "accept",
        "203.0.113.64": "accept",  # th dport { 24-26 } under meta l4proto { tcp, udp }
        "203.0.113.205": "accept",
        "203.0.113.211": "drop",
        "198.51.100.200": "drop",  # only POP/IMAP ports
        "2001:db8:25::1": "accept",
        "2001:db8:26::10": "accept",
        "2001:db8:26::20": "drop",
        "2001:db8:99::1": "drop",  # only ports above 1023
    },
    "nft_state.nft": {
        "192.0.2.1": "drop",  # ct state established never matches a new connection
        "198.51.100.1": "accept",
        "203.0.113.1": "accept",  # tcp flags syn
        "203.0.113.200": "accept",  # ct state { new, untracked }
        "2001:db8::1": "accept",
        "2001:db9::1": "drop",
    },
    "nft_interfaces.nft": {
        "192.0.2.1": "drop",  # iif lo, iifname "lo", { "lo" }, oifname: never
        "192.0.2.200": "conditional",  # iifname { "lo", "eth2" }
        "198.51.100.1": "accept",  # iifname != "lo"
        # iifname "eth1" accepts it or not, and the next rule accepts it: accepted either way
        "203.0.113.1": "accept",
        "203.0.113.200": "conditional",  # iifname "eth1"
        "2001:db8::1": "accept",
    },
    "nft_ip-only.nft": {
        "192.0.2.1": "accept",
        "198.51.100.1": "drop",
        "100.64.0.1": "drop",
        "2001:db8::1": "not covered",
    },
    "nft_base-chains.nft": {
        "192.0.2.1": "accept",
        "192.0.2.200": "drop",  # an earlier input chain drops it
        "198.51.100.1": "drop",  # a later input chain drops it
        "198.51.100.100": "accept",
        "2001:db8:25::1": "accept",
        "2001:db8:25:1::1": "drop",  # prerouting drops it
        "2001:db8:26::1": "drop",
    },
    "nft_vmap.nft": {
        "192.0.2.1": "accept",
        "192.0.2.200": "drop",
        "198.51.100.1": "accept",  # by_source jumps to mail
        "198.51.100.200": "drop",  # back from mail, dropped by the family map
        "203.0.113.5": "accept",  # pairs: 203.0.113.5 . 25
        "203.0.113.6": "drop",  # pairs: 203.0.113.6 . 587 only
        "2001:db8::25": "accept",
        "2001:db8::26": "drop",
        "2001:db8:ff::1": "accept",  # the port map jumps to v6mail
        "2001:db8:fe::1": "drop",
    },
    "nft_commands.nft": {
        "192.0.2.10": "accept",  # inserted at the top
        "192.0.2.11": "drop",
        "192.0.2.130": "accept",  # $mail_v4
        "198.51.100.7": "accept",
        "203.0.113.1": "accept",  # partners, elements added after the set
        "203.0.113.100": "drop",  # added at index 1, ahead of the partners accept
        "203.0.113.101": "accept",
        "203.0.113.111": "drop",
        "2001:db8::1": "drop",
    },
    "nft_destination.nft": {
        "192.0.2.1": "conditional",  # ip daddr without --to
        "2001:db8::1": "conditional",
        "100.64.0.1": "drop",
    },
    "nft_conntrack-order.nft": {
        "192.0.2.1": "drop",  # ct state invalid before conntrack
        "192.0.2.200": "accept",
        "198.51.100.1": "accept",
        "198.51.100.200": "drop",  # ct state new after conntrack
        "2001:db8::1": "drop",
        "2001:db8:1::1": "accept",
    },
    "nft_limits.nft": {
        "192.0.2.1": "accept",
        "198.51.100.1": "conditional",  # limit rate
        "203.0.113.1": "conditional",  # meta mark
        "100.64.0.1": "drop",  # conditional rules on the way, all ending in a drop
        "2001:db8::1": "drop",
    },
    "nft_sport.nft": {
        "192.0.2.1": "accept",  # tcp sport 25 drop denies no client
        "198.51.100.1": "drop",  # tcp sport 25 accept grants none
        "203.0.113.1": "drop",  # th sport 1-1023: privileged ports only
        "10.1.0.1": "accept",  # every unprivileged port
        "10.2.0.1": "accept",  # != 25
        "10.3.0.1": "accept",  # two ranges that together hold every unprivileged port
        "10.4.0.1": "drop",  # concatenation: source port 25 only
        "10.4.0.200": "accept",  # concatenation: every unprivileged port
        "10.5.0.1": "accept",  # ct original proto-src 25 drops none; the vmap accepts
        "10.6.0.1": "drop",  # sport < 1024
        "10.7.0.1": "accept",  # sport >= 1024
        "10.8.0.1": "drop",  # udp sport never matches tcp
        "10.9.0.1": "conditional",  # 30000-40000: some client ports
        "2001:db8:25::1": "accept",
        "2001:db8:1::1": "accept",
    },
}


def test_every_fixture_has_expectations() -> None:
    assert sorted(EXPECTED) == [p.name for p in TEXT_FIXTURES]


@pytest.mark.parametrize("fmt", FORMS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_semantics(name: str, fmt: str) -> None:
    rs = fixture(name, fmt)
    got = {address: outcome(rs, address) for address in EXPECTED[name]}
    assert got == EXPECTED[name]


@pytest.mark.parametrize("name", [p.name for p in TEXT_FIXTURES])
def test_text_and_json_give_the_same_verdicts(name: str) -> None:
    for kwargs in ({}, {"to": "10.255.0.1"}, {"to": "fd00:255::1"}, {"service": "tcp/587"}):
        text = fixture(name, "nftables", **kwargs)
        js = fixture(name, "nftables-json", **kwargs)
        assert flat(text.verdicts) == flat(js.verdicts), kwargs
        assert text.families == js.families
        assert text.completeness == js.completeness


def test_the_deciding_rule_is_named_with_its_line() -> None:
    rs = fixture("nft_shadow.nft")
    assert decided_at(rs, "192.0.2.1") == 13
    assert decided_at(rs, "192.0.2.200") == 14
    assert decided_at(rs, "100.64.0.1") == 8  # the chain, for its policy
    seg = rs.verdicts[0].lookup(int(ipaddress.ip_address("192.0.2.0")))
    assert seg is not None
    assert seg.rule.text == "ip saddr 192.0.2.0/25 tcp dport 25 drop"
    accepted = {e.text: e.origin for e in rs.entries}
    assert accepted["192.0.2.128/25"].line == 14
    js = fixture("nft_shadow.nft", "nftables-json")
    seg = js.verdicts[0].lookup(int(ipaddress.ip_address("192.0.2.1")))
    assert seg is not None
    assert seg.rule.text == "ip saddr 192.0.2.0/25 tcp dport 25 drop"
    assert seg.rule.origin.path is not None and seg.rule.origin.path.startswith("nftables[")
    assert seg.rule.origin.line is not None  # the line the rule object starts on


def test_destination_is_evaluated_with_to() -> None:
    v4 = fixture("nft_destination.nft", to="10.255.0.1")
    assert outcome(v4, "192.0.2.1") == "accept"
    assert outcome(v4, "198.51.100.1") == "drop"  # accepted only for 10.255.0.2
    assert outcome(v4, "203.0.113.1") == "accept"  # the != 10.255.0.1 drop does not apply
    assert outcome(v4, "2001:db8::1") == "conditional"  # an IPv6 packet's destination: unknown
    v6 = fixture("nft_destination.nft", to="fd00:255::1")
    assert outcome(v6, "2001:db8::1") == "accept"
    without = fixture("nft_destination.nft")
    assert without.completeness is Completeness.PARTIAL
    assert any("give --to" in r for r in without.reasons)


def test_an_ip_table_covers_ipv4_only() -> None:
    rs = fixture("nft_ip-only.nft")
    assert rs.families == (4,)
    (note,) = of_kind(rs, "family-not-covered")
    assert "IPv6" in note.message
    assert fixture("nft_shadow.nft").families == (4, 6)


def test_several_ports_must_all_be_accepted() -> None:
    rs = fixture("nft_sets.nft", service="tcp/25,110")
    assert outcome(rs, "192.0.2.1") == "drop"  # mail4: 25 yes, 110 no
    assert outcome(rs, "198.51.100.200") == "drop"  # 110 yes, 25 no
    pop = fixture("nft_sets.nft", service="tcp/110")
    assert outcome(pop, "198.51.100.200") == "accept"
    assert outcome(pop, "192.0.2.1") == "drop"


def test_a_port_range_is_probed_where_rules_split_it() -> None:
    rules = """table inet f {
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr 192.0.2.0/24 tcp dport 2000-2001 drop
	}
}
"""
    # only the ends of 1000-3000 would miss the drop in the middle
    assert outcome(read(rules, service="tcp/1000-3000"), "192.0.2.1") == "drop"
    assert outcome(read(rules, service="tcp/1000-3000"), "198.51.100.1") == "accept"
    assert outcome(read(rules, service="udp/1000-3000"), "192.0.2.1") == "accept"


# --- --service any: may this source open every connection? --------------------------------

_ANY_ACCEPT_25 = """table inet f {
	chain input {
		type filter hook input priority 0; policy drop;
		ip saddr 192.0.2.0/24 tcp dport 25 accept
		ip saddr 198.51.100.0/24 accept
	}
}
"""
_ANY_DROP_25 = """table inet f {
	chain input {
		type filter hook input priority 0; policy drop;
		ip saddr 192.0.2.0/24 tcp dport 25 drop
		accept
	}
}
"""


def _json_rule(*expr: str) -> str:
    return (
        '{"rule": {"family": "inet", "table": "f", "chain": "input", "expr": ['
        + ", ".join(expr)
        + "]}}"
    )


def _json_ruleset(*rules: str) -> str:
    return (
        '{"nftables": [{"table": {"family": "inet", "name": "f"}},'
        ' {"chain": {"family": "inet", "table": "f", "name": "input", "type": "filter",'
        ' "hook": "input", "prio": 0, "policy": "drop"}}, ' + ", ".join(rules) + "]}"
    )


_SADDR = '{{"match": {{"op": "==", "left": {{"payload": {{"protocol": "ip", "field": "saddr"}}}},'
_SADDR += ' "right": {{"prefix": {{"addr": "{0}", "len": 24}}}}}}}}'
_DPORT_25 = (
    '{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},'
    ' "right": 25}}'
)
_ANY_ACCEPT_25_JSON = _json_ruleset(
    _json_rule(_SADDR.format("192.0.2.0"), _DPORT_25, '{"accept": null}'),
    _json_rule(_SADDR.format("198.51.100.0"), '{"accept": null}'),
)
_ANY_DROP_25_JSON = _json_ruleset(
    _json_rule(_SADDR.format("192.0.2.0"), _DPORT_25, '{"drop": null}'),
    _json_rule('{"accept": null}'),
)


@pytest.mark.parametrize(
    ("fmt", "rules"), [("nftables", _ANY_ACCEPT_25), ("nftables-json", _ANY_ACCEPT_25_JSON)]
)
def test_any_an_accept_of_some_ports_grants_nothing(fmt: str, rules: str) -> None:
    rs = read(rules, fmt, service="any")
    assert outcome(rs, "192.0.2.1") == "drop"  # tcp/25 only, then the policy
    assert decided_at(rs, "192.0.2.1") == decided_at(rs, "203.0.113.1")  # the policy's line
    assert outcome(rs, "198.51.100.1") == "accept"  # an accept of everything
    assert outcome(rs, "203.0.113.1") == "drop"
    assert rs.completeness is Completeness.COMPLETE
    # for tcp/25 the same file reads as before
    assert outcome(read(rules, fmt), "192.0.2.1") == "accept"


@pytest.mark.parametrize(
    ("fmt", "rules"), [("nftables", _ANY_DROP_25), ("nftables-json", _ANY_DROP_25_JSON)]
)
def test_any_a_drop_of_some_ports_denies(fmt: str, rules: str) -> None:
    rs = read(rules, fmt, service="any")
    assert outcome(rs, "192.0.2.1") == "drop"
    seg = rs.verdicts[0].lookup(int(ipaddress.ip_address("192.0.2.1")))
    assert seg is not None and "dport 25" in seg.rule.text
    assert outcome(rs, "203.0.113.1") == "accept"
    assert outcome(rs, "2001:db8::1") == "accept"
    assert outcome(read(rules, fmt, service="udp/53"), "192.0.2.1") == "accept"


def test_any_rules_on_neither_protocol_nor_port_read_as_for_any_service() -> None:
    rules = """table inet f {
	chain input {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		ct state invalid drop
		iif "lo" accept
		tcp flags & (fin | syn | rst | ack) != syn drop
		icmpv6 type echo-request drop
		icmp type echo-request accept
		ip saddr 192.0.2.0/24 iifname "eth0" drop
		ip saddr 192.0.2.0/24 accept
		ip6 saddr 2001:db8::/32 accept
		ip saddr 198.51.100.0/24 meta l4proto != tcp drop
		ip saddr 198.51.100.0/24 accept
		ip saddr 203.0.113.0/24 th dport < 1024 drop
		ip saddr 203.0.113.0/24 accept
	}
}
"""
    rs = read(rules, service="any")
    # a NEW connection: not established, not invalid, its first TCP packet a SYN alone
    assert outcome(rs, "192.0.2.1") == "conditional"  # the interface is not in the export
    assert outcome(rs, "2001:db8::1") == "drop"  # ICMPv6 echo is dropped: not every connection
    assert outcome(rs, "198.51.100.1") == "drop"  # everything but TCP is dropped
    assert outcome(rs, "203.0.113.1") == "drop"
    assert outcome(rs, "10.0.0.1") == "drop"  # the policy
    assert decided_at(rs, "10.0.0.1") == 2  # the chain, for its policy


def test_any_a_jump_of_some_traffic_denies_what_the_chain_drops() -> None:
    rules = """table inet f {
	chain udp_in {
		ip saddr 10.3.0.0/16 drop
		ip saddr 10.4.0.0/16 accept
		ip saddr 10.5.0.0/16 return
		ip saddr 10.7.0.0/16 iifname "eth0" drop
	}
	chain input {
		type filter hook input priority 0; policy drop;
		ip saddr 10.3.0.0-10.7.255.255 meta l4proto udp jump udp_in
		ip saddr 10.0.0.0/8 accept
	}
}
"""
    rs = read(rules, service="any")
    assert outcome(rs, "10.3.0.1") == "drop"  # what the chain drops denies
    assert decided_at(rs, "10.3.0.1") == 3
    assert outcome(rs, "10.4.0.1") == "accept"  # its accept of UDP grants nothing: next rule
    assert decided_at(rs, "10.4.0.1") == 11
    assert outcome(rs, "10.5.0.1") == "accept"  # return: the next rule, like the rest
    assert outcome(rs, "10.6.0.1") == "accept"  # the end of the chain: the same
    assert outcome(rs, "10.7.0.1") == "conditional"
    assert outcome(rs, "10.8.0.1") == "accept"
    assert outcome(rs, "192.0.2.1") == "drop"
    # a jump of everything is followed as for any service
    whole = rules.replace(" meta l4proto udp jump", " jump")
    assert outcome(read(whole, service="any"), "10.4.0.1") == "accept"
    assert decided_at(read(whole, service="any"), "10.4.0.1") == 4


def test_any_what_some_traffic_returns_meets_the_policy_or_stays_open() -> None:
    rules = """table inet f {
	chain tcp_in {
		ip saddr 10.6.0.0/16 accept
	}
	chain services {
		ip saddr 10.2.0.0/16 tcp dport 25 return
		ip saddr 10.2.0.0/16 accept
	}
	chain input {
		type filter hook input priority 0; policy drop;
		ip saddr { 10.1.0.0/16, 10.6.0.0/16 } meta l4proto tcp goto tcp_in
		ip saddr 10.2.0.0/16 jump services
		ip saddr 10.0.0.0/8 accept
	}
	chain open {
		type filter hook input priority 10; policy accept;
		ip saddr 10.3.0.0/16 tcp dport 25 return
		ip saddr 10.4.0.0/16 tcp dport 25 goto tcp_in
		ip saddr 10.0.0.0/8 accept
	}
}
"""
    rs = read(rules, service="any")
    assert outcome(rs, "10.1.0.1") == "drop"  # TCP falls off tcp_in: the drop policy
    assert outcome(rs, "10.2.0.1") == "conditional"  # tcp/25 goes back to input, the rest not
    seg = rs.verdicts[0].lookup(int(ipaddress.ip_address("10.2.0.1")))
    assert seg is not None and "calling chain" in seg.rule.why
    assert outcome(rs, "10.3.0.1") == "accept"  # returned into an accept policy
    assert outcome(rs, "10.4.0.1") == "accept"
    assert outcome(rs, "10.6.0.1") == "accept"  # TCP accepted, the rest by the next rule
    assert outcome(rs, "10.9.0.1") == "accept"


def test_any_a_verdict_map_on_the_port() -> None:
    rules = """table inet f {
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr 192.0.2.0/24 tcp dport vmap { 22 : accept, 25 : drop }
		ip saddr 198.51.100.0/24 tcp dport vmap { 22 : accept, 25 : accept }
		ip saddr 203.0.113.0/24 ip saddr . tcp dport { 203.0.113.7 . 25 } drop
	}
}
"""
    rs = read(rules, service="any")
    assert outcome(rs, "192.0.2.1") == "drop"
    assert outcome(rs, "198.51.100.1") == "accept"  # the policy, after the map grants nothing
    assert outcome(rs, "203.0.113.7") == "drop"
    assert outcome(rs, "203.0.113.8") == "accept"


def test_forward_hook_and_a_chain_by_name() -> None:
    rules = """table inet f {
	chain fwd {
		type filter hook forward priority 0; policy drop;
		ip saddr 192.0.2.0/24 accept
		oifname "eth1" accept
	}
	chain input {
		type filter hook input priority 0; policy accept;
	}
	chain helper {
		ip saddr 198.51.100.0/24 drop
	}
}
table ip g {
	chain helper {
		drop
	}
}
"""
    fwd = read(rules, chain="FORWARD")
    assert outcome(fwd, "192.0.2.1") == "accept"
    assert outcome(fwd, "198.51.100.1") == "conditional"  # the output interface, on forward
    assert outcome(read(rules), "198.51.100.1") == "accept"
    alone = read(rules, chain="inet f helper")
    assert outcome(alone, "198.51.100.1") == "drop"
    assert outcome(alone, "192.0.2.1") == "accept"  # falls off its end
    assert read(rules, chain="g helper").families == (4,)
    with pytest.raises(ReaderError, match="several tables"):
        read(rules, chain="helper")
    with pytest.raises(ReaderError, match="no chain 'nope'"):
        read(rules, chain="nope")


# --- what the export cannot settle, and what the reader does not understand ------------------


def test_rate_limited_rule_decides_nothing_when_the_rest_ends_the_same() -> None:
    rs = fixture("nft_limits.nft")
    seg = rs.verdicts[0].lookup(int(ipaddress.ip_address("100.64.0.1")))
    assert seg is not None and seg.outcome == "drop"
    assert seg.rule.text.startswith("policy drop")
    assert rs.completeness is Completeness.PARTIAL
    assert any("a rate limit" in r for r in rs.reasons)
    assert any("a packet mark" in r for r in rs.reasons)


def test_sets_filled_at_run_time_are_conditional() -> None:
    rules = """table inet f {
	set seen {
		type ipv4_addr
		size 65535
		flags dynamic
	}
	set banned {
		type ipv4_addr
		size 65535
	}
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr @banned drop
		tcp dport 22 update @banned { ip saddr limit rate over 5/minute }
		ip saddr @seen drop
	}
}
"""
    rs = read(rules)
    assert outcome(rs, "192.0.2.1") == "conditional"
    assert any("set @banned is filled at run time" in r for r in rs.reasons)


def test_not_understood_makes_the_rule_conditional_and_is_named() -> None:
    rules = """table inet f {
	chain input {
		type filter hook input priority 0; policy drop;
		ip saddr 192.0.2.0/24 frobnicate 7 accept
		ip saddr 198.51.100.0/24 xt match "recent" accept
		tcp dport 25 accept
	}
}
"""
    rs = read(rules, name="odd.nft")
    assert outcome(rs, "192.0.2.1") == "conditional"
    assert outcome(rs, "198.51.100.1") == "conditional"
    assert outcome(rs, "203.0.113.1") == "accept"
    notes = [f.message for f in of_kind(rs, "unsupported")]
    assert any(n.startswith("odd.nft:4: 'frobnicate' not understood") for n in notes), notes
    assert any(n.startswith("odd.nft:5: xt") for n in notes), notes
    parsed = read_ruleset(rules.encode(), ReadContext("odd.nft", "declared"), "nftables")
    rule = parsed.tables[("inet", "f")].chains["input"].rules[0]
    assert isinstance(rule.items[-1], NotUnderstood)


def test_include_is_not_followed_and_the_result_is_partial() -> None:
    rules = """include "/etc/nftables.d/*.nft"
table inet f {
	chain input {
		type filter hook input priority 0; policy drop;
		ip saddr 192.0.2.0/24 accept
	}
}
"""
    rs = read(rules, name="main.nft")
    assert outcome(rs, "192.0.2.1") == "accept"
    assert rs.completeness is Completeness.PARTIAL
    assert any('main.nft:1: include "/etc/nftables.d/*.nft"' in r for r in rs.reasons)
    assert any(f.message.startswith("main.nft:1: include") for f in of_kind(rs, "unsupported"))


def test_chains_that_see_only_some_packets_make_their_drops_conditional() -> None:
    rules = """table netdev edge {
	chain ingress {
		type filter hook ingress device "eth0" priority 0; policy accept;
		ip saddr 192.0.2.0/24 drop
	}
}
table bridge br {
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr 198.51.100.0/24 drop
	}
}
table inet f {
	flags dormant
	chain input {
		type filter hook input priority 0; policy drop;
	}
}
table inet g {
	chain input {
		type filter hook input priority 0; policy accept;
	}
}
"""
    rs = read(rules)
    assert outcome(rs, "192.0.2.1") == "conditional"
    seg = rs.verdicts[0].lookup(int(ipaddress.ip_address("192.0.2.1")))
    assert seg is not None and "eth0" in seg.rule.why
    assert outcome(rs, "198.51.100.1") == "conditional"
    assert outcome(rs, "203.0.113.1") == "accept"  # the dormant table's drop policy does nothing
    assert [f.message for f in of_kind(rs, "dormant-table")] == [
        "table inet f is dormant (flags dormant): its chains filter nothing"
    ]


def test_prerouting_nat_is_conditional_and_concatenations_with_constants() -> None:
    rules = """table ip nat {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip saddr 192.0.2.0/24 tcp dport 25 dnat to 10.0.0.25
	}
}
table ip t {
	set pairs {
		type ipv4_addr . iface_index
		elements = { 198.51.100.1 . "lo" }
	}
	chain input {
		type filter hook input priority 0; policy drop;
		ip saddr . "lo" @pairs accept
		ip saddr 192.0.2.0/24 accept
	}
}
"""
    rs = read(rules)
    assert outcome(rs, "192.0.2.1") == "conditional"  # the destination may be translated
    assert outcome(rs, "198.51.100.1") == "accept"
    assert outcome(rs, "198.51.100.2") == "drop"


# --- nft -f files --------------------------------------------------------------------------


def test_flush_ruleset_drops_what_came_before_and_defines_nest() -> None:
    rules = """table inet old {
	chain input {
		type filter hook input priority 0; policy drop;
	}
}
flush ruleset
define inner = { 192.0.2.0/25, 192.0.2.200 }
define outer = { $inner, 198.51.100.0/24 }
define ports = { smtp, submission }
table inet new {
	chain input {
		type filter hook input priority 0; policy drop;
		ip saddr $outer tcp dport $ports accept
	}
}
"""
    rs = read(rules, service="tcp/25,587")
    assert outcome(rs, "192.0.2.200") == "accept"
    assert outcome(rs, "198.51.100.9") == "accept"
    assert outcome(rs, "192.0.2.199") == "drop"


def test_json_commands() -> None:
    doc = """{"nftables": [
 {"add": {"table": {"family": "inet", "name": "f"}}},
 {"add": {"chain": {"family": "inet", "table": "f", "name": "input", "type": "filter",
   "hook": "input", "prio": 0, "policy": "drop"}}},
 {"add": {"rule": {"family": "inet", "table": "f", "chain": "input", "expr": [
   {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
    "right": {"prefix": {"addr": "192.0.2.0", "len": 24}}}}, {"accept": null}]}}},
 {"insert": {"rule": {"family": "inet", "table": "f", "chain": "input", "expr": [
   {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
    "right": "192.0.2.7"}}, {"drop": null}]}}}
]}"""
    rs = read(doc, "nftables-json", name="cmds.json")
    assert outcome(rs, "192.0.2.7") == "drop"
    assert outcome(rs, "192.0.2.8") == "accept"
    assert decided_at(rs, "192.0.2.7") == 8


# --- detection ----------------------------------------------------------------------------


def test_both_readers_are_registered_rulesets() -> None:
    for name in FORMS:
        assert READERS[name].ruleset is True
    assert ".nft" in READERS["nftables"].suffixes


@pytest.mark.parametrize("path", TEXT_FIXTURES, ids=lambda p: p.name)
def test_sniff_text_and_json(path: Path) -> None:
    text = path.read_bytes()
    js = path.with_name(path.name + ".json").read_bytes()
    assert sniff_text(text) and not sniff_json(text)
    assert sniff_json(js) and not sniff_text(js)
    assert detect_format("-", text) == "nftables"
    assert detect_format("-", js) == "nftables-json"
    assert detect_format(str(path), text) == "nftables"


@pytest.mark.parametrize(
    "data",
    [
        b"192.0.2.0/24\n",
        b"*filter\n:INPUT DROP [0:0]\nCOMMIT\n",
        b'{"prefixes": []}',
        b"[]",
        b"create mail hash:net family inet\n",
        b"# a table of addresses\n192.0.2.1\n",
    ],
)
def test_other_content_is_not_nftables(data: bytes) -> None:
    assert not sniff_text(data)
    assert not sniff_json(data)


def test_sniff_the_nft_interpreter_line_and_commands() -> None:
    assert sniff_text(b"#!/usr/sbin/nft -f\n\nflush ruleset\n")
    assert sniff_text(b"\xef\xbb\xbf# x\nadd rule inet f input accept\n")
    assert sniff_text(b"define x = 1\n")
    assert sniff_json(b'\n  {\n "nftables": [')


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("table inet f {\n\tchain c {\n\t\taccept\n\t}\n", 1, "never closed"),
        ("table inet f {\n}\n}\n", 3, "unbalanced"),
        ('table inet f {\n\tchain c {\n\t\tlog prefix "x accept\n\t}\n}\n', 3, "unterminated"),
        (
            "table inet f {\n\tchain c {\n\t\tip saddr 192.0.2.300 accept\n\t}\n}\n",
            3,
            "octet 300 > 255",
        ),
        ("table ip f {\n\tchain c {\n\t\tip saddr 2001:db8::1 accept\n\t}\n}\n", 3, "IPv6"),
        ("table inet f {\n\tchain c {\n\t\ttcp dport nosuchport accept\n\t}\n}\n", 3, "service"),
        ("define a = 1\ntable inet f {\n\tchain c {\n\t\ttcp dport $b accept\n\t}\n}\n", 4, "$b"),
        ("add rule inet f input accept\n", 1, "table inet f does not exist"),
        ("table inet f\nadd rule inet f input accept\n", 2, "chain input does not exist"),
        (
            "table inet f {\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1/33 }\n}}",
            2,
            "/33",
        ),
        (
            "table inet f {\n\tchain c {\n\t\ttype filter hook input priority nope;\n\t}\n}\n",
            3,
            "priority",
        ),
    ],
)
def test_broken_text_is_an_error_at_its_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ReaderError) as e:
        read(text, name="broken.nft")
    assert e.value.line == line, str(e.value)
    assert e.value.source == "broken.nft"
    assert message in str(e.value)


def test_jumps_to_missing_chains_and_loops_are_errors() -> None:
    missing = (
        "table inet f {\n\tchain input {\n\t\ttype filter hook input priority 0;\n"
        "\t\tjump nowhere\n\t}\n}\n"
    )
    with pytest.raises(ReaderError, match="chain nowhere does not exist") as e:
        read(missing)
    assert e.value.line == 4
    loop = (
        "table inet f {\n\tchain a {\n\t\tjump b\n\t}\n\tchain b {\n\t\tjump a\n\t}\n"
        "\tchain input {\n\t\ttype filter hook input priority 0;\n\t\tjump a\n\t}\n}\n"
    )
    with pytest.raises(ReaderError, match="chain loop"):
        read(loop)


def test_nothing_on_the_hook_is_an_error_with_a_hint() -> None:
    with pytest.raises(ReaderError, match="no base chain on the input or prerouting hook") as e:
        read("table inet f {\n\tchain c {\n\t\taccept\n\t}\n}\n")
    assert e.value.hint is not None and "--chain" in e.value.hint


@pytest.mark.parametrize(
    ("doc", "line", "message"),
    [
        ('{"nftables": [\n {"table": {"family": "inet"\n ]}', 3, "invalid JSON"),
        ('{"rules": []}', 1, 'no "nftables" array'),
        (
            '{"nftables": [\n{"table": {"family": "inet", "name": "f"}},\n'
            '{"rule": {"family": "inet", "table": "f", "chain": "c", "expr": []}}\n]}',
            3,
            "chain c is not declared",
        ),
        (
            '{"nftables": [\n{"table": {"family": "inet", "name": "f"}},\n'
            '{"chain": {"family": "inet", "table": "f", "name": "c", "hook": "input",'
            ' "prio": 0, "policy": "drop"}},\n'
            '{"rule": {"family": "inet", "table": "f", "chain": "c", "expr": [{"match": {"op":'
            ' "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right":'
            ' "10.1.1"}}, {"accept": null}]}}\n]}',
            4,
            "not an IPv4 address",
        ),
    ],
)
def test_broken_json_is_an_error_at_its_line(doc: str, line: int, message: str) -> None:
    with pytest.raises(ReaderError) as e:
        read(doc, "nftables-json", name="broken.json")
    assert e.value.line == line, str(e.value)
    assert message in str(e.value)


# --- input too deep or too large to be a ruleset --------------------------------------------

_DEEP = 50_000
_HOOK = "table inet f {\n\tchain input {\n\t\ttype filter hook input priority 0;\n\t\t"


@pytest.mark.parametrize(
    "text",
    [
        "{" * _DEEP + "\n",
        _HOOK + "ip saddr " + "{ " * _DEEP + "192.0.2.1" + " }" * _DEEP + " accept\n\t}\n}\n",
        _HOOK + "tcp dport " + "(" * _DEEP + "25" + ")" * _DEEP + " accept\n\t}\n}\n",
        _HOOK + "jump { " * _DEEP + "accept" + " }" * _DEEP + "\n\t}\n}\n",
    ],
    ids=["braces", "anonymous-sets", "parentheses", "anonymous-chains"],
)
def test_deep_nesting_is_refused_as_it_is_read(text: str) -> None:
    with pytest.raises(ReaderError, match="nested more than 64 levels deep") as e:
        read(text, name="deep.nft")
    assert e.value.source == "deep.nft"
    assert e.value.line == (1 if text.startswith("{") else 4)
    assert e.value.hint is not None and "right file" in e.value.hint


def test_nesting_a_ruleset_uses_is_read() -> None:
    depth = 20
    text = _HOOK + "ip saddr " + "{ " * depth + "192.0.2.1" + " }" * depth + " accept\n\t}\n}\n"
    assert outcome(read(text), "192.0.2.1") == "accept"


def test_deep_json_is_refused_naming_its_path() -> None:
    deep = '{"set": [' * 300 + '"192.0.2.1"' + "]}" * 300
    doc = _json_ruleset(
        _json_rule(
            '{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},'
            f' "right": {deep}}}}}',
            '{"accept": null}',
        )
    )
    with pytest.raises(ReaderError, match="nested more than 64 levels deep") as e:
        read(doc, "nftables-json", name="deep.json")
    assert "nftables[2].rule.expr[0].match.right.set[0]" in str(e.value)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("tcp dport " + "9" * 5001 + " accept", "a number of 5001 digits is too large"),
        ("tcp dport 70000 accept", "port 70000 is not 0-65535"),
        ("meta l4proto 300 accept", "protocol 300 is not 0-255"),
        ("tcp sport " + "1" * 5001 + " accept", "a number of 5001 digits is too large"),
    ],
    ids=["long-dport", "dport-range", "protocol-range", "long-sport"],
)
def test_numbers_out_of_range_are_errors_at_their_line(rule: str, message: str) -> None:
    with pytest.raises(ReaderError, match=message) as e:
        read(_HOOK + rule + "\n\t}\n}\n", name="big.nft")
    assert e.value.line == 4


def test_long_priority_and_index_are_errors_not_crashes() -> None:
    text = "table inet f {\n\tchain input {\n\t\ttype filter hook input priority " + (
        "1" * 5001 + ";\n\t}\n}\n"
    )
    with pytest.raises(ReaderError, match="cannot read the priority") as e:
        read(text)
    assert e.value.line == 3
    ruleset = _HOOK + "accept\n\t}\n}\n"
    rs = read(ruleset + "add rule inet f input index " + "1" * 5001 + " drop\n")
    assert any("position taken as the end" in f.message for f in rs.findings)


def test_long_number_in_json_is_an_error_at_its_line() -> None:
    doc = '{"nftables": [\n{"table": {"family": "inet", "name": "f", "handle": ' + "7" * 5001
    doc += "}}\n]}"
    with pytest.raises(ReaderError, match="a number of 5001 digits is out of range") as e:
        read(doc, "nftables-json", name="big.json")
    assert e.value.line == 2


@pytest.mark.parametrize(
    "length",
    ["true", "24.5", '"24"', '"x"', '"' + "9" * 5001 + '"', "-1"],
    ids=["true", "fraction", "string", "word", "long", "negative"],
)
def test_json_prefix_length_that_is_not_a_whole_number_is_not_read_as_one(length: str) -> None:
    """A prefix length must be a JSON integer: true is not /1, 24.5 is not /24; such a match
    is not understood (the rule is conditional), and the note says why in plain words."""
    match = (
        '{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},'
        f' "right": {{"prefix": {{"addr": "192.0.2.0", "len": {length}}}}}}}}}'
    )
    rs = read(_json_ruleset(_json_rule(match, '{"accept": null}')), "nftables-json")
    assert outcome(rs, "192.0.2.1") == "conditional"
    assert outcome(rs, "128.0.0.1") == "conditional"
    notes = " ".join(f.message for f in of_kind(rs, "unsupported"))
    assert "is not a prefix length" in notes, notes
    assert "int()" not in notes and "set_int_max_str_digits" not in notes


def test_json_values_in_messages_are_cut_short() -> None:
    long = '"' + "9" * 5001 + '"'
    doc = _json_ruleset(_json_rule('{"accept": null}')).replace('"prio": 0', f'"prio": {long}')
    with pytest.raises(ReaderError, match="is not a number") as e:
        read(doc, "nftables-json")
    assert len(str(e.value)) < 300
    with pytest.raises(ReaderError, match="is not a number"):
        read(doc.replace(f'"prio": {long}', '"prio": true'), "nftables-json")
    elem = '{"set": {"family": "inet", "table": "f", "name": "s", "type": "ipv4_addr", '
    elem += '"elem": [[' + ", ".join(["[1, 2]"] * 2000) + "]]}}"
    with pytest.raises(ReaderError, match="is not an address") as e:
        read(_json_ruleset(elem), "nftables-json")
    assert len(str(e.value)) < 300
    elem = elem.replace('"elem": [[', '"elem": [{"x": [').replace("]]}}", "]}]}}")
    with pytest.raises(ReaderError, match="cannot read the element") as e:
        read(_json_ruleset(elem), "nftables-json")
    assert len(str(e.value)) < 300


# --- the public corpus ----------------------------------------------------------------------

NAMED = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+)(?: \(nftables\[\d+\][^)]*\))?: \S")
# What the corpus is known to hold that the reader does not follow: file -> line numbers.
KNOWN_UNSUPPORTED = {
    # include lines
    "nft-ruleset_nftables-files_nftables_all-in-one.nft": [13, 14, 17, *range(20, 24), 26, 27]
    + [28, 29, 32, 35],
    # a stray word ("appfw") in nftables' own example
    "nft-ruleset_nftables-files_examples_load_balancing.nft": [11],
}


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted([*CORPUS.glob("nft-ruleset_*"), *CORPUS.glob("nft-json_*")])


def corpus_format(path: Path) -> str:
    return "nftables-json" if path.name.startswith("nft-json_") else "nftables"


def every_chain(path: Path) -> tuple[dict[str, RangeSet], set[str]]:
    """Each named chain of the file evaluated alone, and everything reported unsupported."""
    fmt = corpus_format(path)
    data = path.read_bytes()
    ctx = ReadContext(path.name, "declared")
    parsed = read_ruleset(data, ctx, fmt)
    notes = set(parsed.unsupported)
    out = {}
    for (family, table), t in parsed.tables.items():
        for chain in t.chains:
            if "/anon" in chain:
                continue  # anonymous chains are evaluated through the rule that jumps to them
            spec = f"{family} {table} {chain}"
            rs = reader_for(fmt).parse(data, ReadContext(path.name, "declared", chain=spec))
            out[spec] = rs
            notes.update(f.message for f in of_kind(rs, "unsupported"))
    return out, notes


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_file_reads_and_names_what_it_does_not_understand(path: Path) -> None:
    fmt = corpus_format(path)
    try:
        rs = reader_for(fmt).parse(path.read_bytes(), ReadContext(path.name, "declared"))
    except ReaderError as e:
        # the one explained refusal: nothing in the file filters the input hook
        assert e.message == (
            "no base chain on the input or prerouting hook in an ip, ip6 or inet table"
        )
    else:
        assert rs.verdicts
    chains, notes = every_chain(path)
    print(f"{path.name}: {len(chains)} chains; unsupported: {sorted(notes) or 'nothing'}")
    for note in notes:
        m = NAMED.match(note)
        assert m is not None and m["file"] == path.name, f"not named with file and line: {note}"
    lines = sorted({int(m["line"]) for n in notes if (m := NAMED.match(n))})
    assert lines == KNOWN_UNSUPPORTED.get(path.name, [])


def corpus_pairs() -> list[tuple[Path, Path]]:
    out = []
    for text in sorted(CORPUS.glob("nft-ruleset_nftables-tests_*")) if CORPUS.is_dir() else []:
        twin = CORPUS / (text.name.replace("nft-ruleset_", "nft-json_")[: -len(".nft")] + ".json")
        if twin.is_file():
            out.append((text, twin))
    return out


@pytest.mark.parametrize("pair", corpus_pairs(), ids=lambda p: p[0].name)
def test_corpus_text_and_json_agree_on_every_chain(pair: tuple[Path, Path]) -> None:
    text, js = pair
    text_chains, _ = every_chain(text)
    json_chains, _ = every_chain(js)
    assert sorted(text_chains) == sorted(json_chains)
    for spec, rs in text_chains.items():
        assert flat(rs.verdicts) == flat(json_chains[spec].verdicts), spec


def test_corpus_is_there_or_skipped() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the public corpus is not at {CORPUS}")
    assert len(corpus_files()) >= 20
    assert corpus_pairs()

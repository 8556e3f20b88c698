"""The host firewall readers: ``ufw status`` output and firewalld zone files.

Each case names the rule that must decide (by its line in the fixture), so a right verdict for
a wrong reason fails.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from auditor.allowlists import READERS, ReadContext, ReaderError, reader_for
from auditor.allowlists.firewalls.firewalld_zone import sniff_firewalld
from auditor.allowlists.firewalls.ufw_status import sniff_ufw
from auditor.model import Completeness, RangeSet
from auditor.service import Service
from auditor.sources.files import detect_format
from tests.conftest import RunCli, WriteFile

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hostfw"
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "firewall"


def read(
    fmt: str,
    data: str | Path,
    *,
    service: str = "tcp/25",
    to: str | None = None,
    chain: str = "INPUT",
    name: str = "input",
) -> RangeSet:
    if isinstance(data, Path):
        name, raw = data.name, data.read_bytes()
    else:
        raw = data.encode("utf-8")
    ctx = ReadContext(name, "declared", service=Service.parse(service), chain=chain, to=to)
    return reader_for(fmt).parse(raw, ctx)


def verdict(rs: RangeSet, address: str) -> tuple[str, int | None]:
    """The outcome for one address and the line of the rule that decided it."""
    ip = ipaddress.ip_address(address)
    (verdicts,) = [v for v in rs.verdicts if v.family == ip.version]
    segment = verdicts.lookup(int(ip))
    assert segment is not None, f"no verdict for {address}"
    return segment.outcome, segment.rule.origin.line


def expect(rs: RangeSet, cases: dict[str, tuple[str, int]]) -> None:
    assert {a: verdict(rs, a) for a in cases} == cases


def why(rs: RangeSet, address: str) -> str:
    ip = ipaddress.ip_address(address)
    (verdicts,) = [v for v in rs.verdicts if v.family == ip.version]
    segment = verdicts.lookup(int(ip))
    assert segment is not None
    return segment.rule.why


# --- ufw status ---------------------------------------------------------------------------------


def test_ufw_verbose_first_match_profiles_limit_interface_and_v6() -> None:
    rs = read("ufw-status", FIXTURES / "ufw_verbose.txt")
    expect(
        rs,
        {
            "198.51.100.1": ("drop", 8),  # DENY above the ALLOW of the whole /24
            "198.51.100.200": ("accept", 9),
            "203.0.113.5": ("accept", 10),  # Postfix = 25/tcp
            "192.0.2.5": ("accept", 11),  # verbose form "25/tcp (Postfix)"
            "10.1.2.3": ("conditional", 12),  # on eth1
            "172.16.5.5": ("conditional", 13),  # LIMIT
            "8.8.8.8": ("drop", 3),  # Default: deny (incoming); the OUT rule does not apply
            "2001:db8:1::1": ("drop", 16),
            "2001:db8:2::1": ("accept", 17),  # "(log)" after the From column
            "2001:db9::1": ("drop", 3),
        },
    )
    assert "eth1" in why(rs, "10.1.2.3")
    assert "rate-limited" in why(rs, "172.16.5.5")
    assert rs.completeness is Completeness.PARTIAL
    assert rs.families == (4, 6)


def test_ufw_other_ports_and_a_conditional_rule_that_does_not_matter() -> None:
    rs = read("ufw-status", FIXTURES / "ufw_verbose.txt", service="tcp/465")
    expect(rs, {"2001:db9::1": ("accept", 18), "8.8.8.8": ("drop", 3)})
    # "Anywhere on eth1 ALLOW" above "22/tcp ALLOW Anywhere": accepted either way
    rs = read("ufw-status", FIXTURES / "ufw_verbose.txt", service="tcp/22")
    expect(rs, {"10.1.2.3": ("accept", 14), "8.8.8.8": ("accept", 14)})


def test_ufw_numbered_reject_ports_unknown_profile_and_destination() -> None:
    path = FIXTURES / "ufw_numbered.txt"
    rs = read("ufw-status", path)
    expect(
        rs,
        {
            "192.0.2.200": ("drop", 8),  # REJECT
            "192.0.2.5": ("accept", 9),  # 25,465,587/tcp
            "198.51.100.5": ("conditional", 10),  # a profile whose ports are not known
            "203.0.113.5": ("conditional", 11),  # destination 192.0.2.200, no --to
            "8.8.8.8": ("drop", 3),  # Default: reject (incoming)
            "2001:db8::1": ("accept", 13),
        },
    )
    assert "ufw app info" in why(rs, "198.51.100.5")
    assert "--to" in why(rs, "203.0.113.5")
    expect(read("ufw-status", path, to="192.0.2.200"), {"203.0.113.5": ("accept", 11)})
    expect(read("ufw-status", path, to="192.0.2.1"), {"203.0.113.5": ("drop", 3)})


def test_ufw_route_rules_only_on_forward() -> None:
    rs = read("ufw-status", FIXTURES / "ufw_numbered.txt", chain="FORWARD")
    expect(rs, {"8.8.8.8": ("accept", 14), "192.0.2.1": ("accept", 14)})
    # the route rule has no IPv6 twin: ufw runs with IPV6=no
    assert rs.families == (4,)
    with pytest.raises(ReaderError, match="no chain 'OUTPUT'"):
        read("ufw-status", FIXTURES / "ufw_numbered.txt", chain="OUTPUT")


def test_ufw_plain_status_leaves_the_rest_conditional() -> None:
    rs = read("ufw-status", FIXTURES / "ufw_plain.txt")
    expect(rs, {"192.0.2.5": ("accept", 5), "8.8.8.8": ("conditional", 1)})
    assert "ufw status verbose" in why(rs, "8.8.8.8")
    assert rs.completeness is Completeness.PARTIAL
    assert any("ufw status verbose" in r for r in rs.reasons)


def test_ufw_inactive_allows_everything_and_says_so() -> None:
    rs = read("ufw-status", FIXTURES / "ufw_inactive.txt")
    expect(rs, {"8.8.8.8": ("accept", 1), "2001:db8::1": ("accept", 1)})
    assert rs.families == (4, 6)
    assert rs.completeness is Completeness.COMPLETE
    assert [f.kind for f in rs.findings] == ["firewall-inactive"]


def test_ufw_without_ipv6_twins_covers_ipv4_only() -> None:
    rs = read("ufw-status", FIXTURES / "ufw_ipv4_only.txt")
    assert rs.families == (4,)
    assert "family-not-covered" in [f.kind for f in rs.findings]
    expect(rs, {"8.8.8.8": ("accept", 8)})


UFW_HEAD = "Status: active\nDefault: {} (incoming)\nTo Action From\n-- ------ ----\n"


def ufw(*rows: str, default: str = "deny") -> str:
    """A ``ufw status verbose`` output: the Default line is line 2, the rows start at 5."""
    return UFW_HEAD.format(default) + "".join(row + "\n" for row in rows)


def test_ufw_service_any_a_port_rule_grants_nothing() -> None:
    rs = read(
        "ufw-status", ufw("25/tcp ALLOW Anywhere", "25/tcp (v6) ALLOW Anywhere (v6)"), service="any"
    )
    expect(rs, {"8.8.8.8": ("drop", 2), "2001:db8::1": ("drop", 2)})
    assert len(rs.entries) == 0
    assert rs.completeness is Completeness.COMPLETE
    # with an allow default, the port rule is passed over and the default decides
    rs = read("ufw-status", ufw("25/tcp ALLOW Anywhere", default="allow"), service="any")
    expect(rs, {"8.8.8.8": ("accept", 2)})


def test_ufw_service_any_an_address_rule_allows_and_a_port_deny_before_it_denies() -> None:
    rs = read("ufw-status", ufw("Anywhere ALLOW 10.0.0.0/8"), service="any")
    expect(rs, {"10.1.2.3": ("accept", 5), "8.8.8.8": ("drop", 2)})
    assert rs.completeness is Completeness.COMPLETE
    rs = read(
        "ufw-status", ufw("25/tcp DENY 10.1.0.0/16", "Anywhere ALLOW 10.0.0.0/8"), service="any"
    )
    expect(rs, {"10.1.2.3": ("drop", 5), "10.2.0.1": ("accept", 6)})
    # a port ALLOW above is passed over: the address rule below still decides
    rs = read(
        "ufw-status", ufw("25/tcp ALLOW 10.1.0.0/16", "Anywhere ALLOW 10.0.0.0/8"), service="any"
    )
    expect(rs, {"10.1.2.3": ("accept", 6)})
    # a protocol alone restricts the rule too
    rs = read("ufw-status", ufw("Anywhere/udp ALLOW 10.0.0.0/8"), service="any")
    expect(rs, {"10.1.2.3": ("drop", 2)})


def test_ufw_service_any_profiles_source_ports_limit_and_conditions() -> None:
    rows = (
        "Some Profile DENY 192.0.2.0/28",  # an unknown profile: still a deny of something
        "Anywhere DENY 192.0.2.16/28 25",  # a source port: a deny of some connections
        "22/tcp LIMIT 192.0.2.32/28",
        "Other Profile on eth1 DENY 192.0.2.48/28",
        "Some Profile ALLOW 192.0.2.64/28",
        "Anywhere LIMIT 192.0.2.80/28",
        "Anywhere ALLOW 192.0.2.0/24",
    )
    rs = read("ufw-status", ufw(*rows), service="any")
    expect(
        rs,
        {
            "192.0.2.1": ("drop", 5),
            "192.0.2.17": ("drop", 6),
            "192.0.2.33": ("conditional", 7),  # refused once rate-limited
            "192.0.2.49": ("conditional", 8),  # only on eth1 (the profile does not matter)
            "192.0.2.65": ("accept", 11),  # the profile ALLOW grants nothing; the next rule does
            "192.0.2.81": ("conditional", 10),
            "192.0.2.200": ("accept", 11),
            "8.8.8.8": ("drop", 2),
        },
    )
    assert "rate-limited" in why(rs, "192.0.2.33")
    assert "eth1" in why(rs, "192.0.2.49")
    assert "ufw app info" not in why(rs, "192.0.2.49")
    # with a deny below, a rate-limited port decides nothing: the address is denied either way
    rs = read("ufw-status", ufw("22/tcp LIMIT 192.0.2.0/24"), service="any")
    expect(rs, {"192.0.2.1": ("drop", 2)})
    # an unknown default leaves the rest conditional
    rs = read("ufw-status", "Status: active\n\nTo Action From\n-- ------ ----\n", service="any")
    expect(rs, {"8.8.8.8": ("conditional", 1)})


def test_ufw_service_any_with_the_fixtures() -> None:
    rs = read("ufw-status", FIXTURES / "ufw_verbose.txt", service="any")
    expect(
        rs,
        {
            "198.51.100.1": ("drop", 8),
            "198.51.100.200": ("drop", 3),
            "10.1.2.3": ("conditional", 12),  # Anywhere on eth1
            "172.16.5.5": ("drop", 3),  # LIMIT on port 25, then the default deny
            "2001:db8:1::1": ("drop", 16),
        },
    )
    assert len(rs.entries) == 0
    rs = read("ufw-status", FIXTURES / "ufw_inactive.txt", service="any")
    expect(rs, {"8.8.8.8": ("accept", 1), "2001:db8::1": ("accept", 1)})
    rs = read("ufw-status", FIXTURES / "ufw_ipv4_only.txt", service="any")
    assert rs.families == (4,)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "Status: active\n\nTo Action From\n-- ------ ----\n25/tcp PERMIT Anywhere\n",
            5,
            "no ALLOW",
        ),
        ("Status: active\n\nTo Action From\n-- ------ ----\n25/tcp ALLOW 300.1.1.1\n", 5, "300"),
        ("Status: active\nDefault: maybe (incoming)\n", 2, "unknown default policy"),
        ("Status: active\nSomething else\n", 2, "unexpected line"),
        ("Status: inactive\n25 ALLOW Anywhere\n", 2, "after 'Status: inactive'"),
        ("192.0.2.0/24\n", 1, "not `ufw status` output"),
    ],
)
def test_ufw_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ReaderError, match=message) as info:
        read("ufw-status", text, name="ufw.txt")
    assert f"ufw.txt:{line}: " in str(info.value)


# --- firewalld zones ----------------------------------------------------------------------------


def test_firewalld_zone_with_sources_deny_rich_rule_before_service() -> None:
    rs = read("firewalld-zone", FIXTURES / "zone_sources.xml")
    expect(
        rs,
        {
            "192.0.2.5": ("accept", 6),  # <service name="smtp"/>
            "192.0.2.200": ("drop", 7),  # a reject rich rule goes before the services
            "198.51.100.1": ("return", 2),  # not a source: another zone decides
            "2001:db8::1": ("accept", 6),
            "2001:db9::1": ("return", 2),
        },
    )
    assert rs.completeness is Completeness.COMPLETE
    assert not [f for f in rs.findings if f.kind == "zone-assumed-default"]


def test_firewalld_rich_rules_priorities_invert_and_limit() -> None:
    rs = read("firewalld-zone", FIXTURES / "zone_rich.xml")
    expect(
        rs,
        {
            "198.51.100.5": ("drop", 11),  # drop (deny chain) beats the accept written first
            "8.8.8.8": ("drop", 16),  # reject for sources NOT in 203.0.113.0/24
            "203.0.113.5": ("accept", 5),  # <port port="25" protocol="tcp"/>
            "203.0.113.70": ("conditional", 21),  # priority -10, with a rate limit
            "2001:db9::1": ("accept", 5),
        },
    )
    assert "rate limit" in why(rs, "203.0.113.70")
    assert [f.kind for f in rs.findings] == ["zone-assumed-default"]
    # the priority-100 reject comes after the services: ssh still passes on IPv6
    rs = read("firewalld-zone", FIXTURES / "zone_rich.xml", service="tcp/22")
    expect(rs, {"2001:db9::1": ("accept", 4), "203.0.113.5": ("accept", 4)})
    rs = read("firewalld-zone", FIXTURES / "zone_rich.xml", service="tcp/80")
    expect(rs, {"2001:db9::1": ("drop", 33), "203.0.113.5": ("drop", 2)})


def test_firewalld_interface_zone_is_conditional() -> None:
    rs = read("firewalld-zone", FIXTURES / "zone_interface.xml")
    expect(rs, {"192.0.2.1": ("conditional", 5), "2001:db8::1": ("conditional", 5)})
    assert "eth1" in why(rs, "192.0.2.1")
    assert rs.completeness is Completeness.PARTIAL
    assert len(rs.entries) == 0


def test_firewalld_unknown_service_is_conditional_unless_it_does_not_matter() -> None:
    rs = read("firewalld-zone", FIXTURES / "zone_unknown_service.xml")
    expect(rs, {"192.0.2.1": ("conditional", 3)})
    assert "my-mail" in why(rs, "192.0.2.1")
    rs = read("firewalld-zone", FIXTURES / "zone_unknown_service.xml", service="tcp/587")
    expect(rs, {"192.0.2.1": ("accept", 4)})


def test_firewalld_targets() -> None:
    for target, outcome in [("ACCEPT", "accept"), ("DROP", "drop"), ("%%REJECT%%", "drop")]:
        rs = read("firewalld-zone", f'<zone target="{target}"><service name="ssh"/></zone>')
        expect(rs, {"192.0.2.1": (outcome, 1)})
    with pytest.raises(ReaderError, match="unknown zone target"):
        read("firewalld-zone", '<zone target="MAYBE"/>')


def test_firewalld_refuses_entity_declarations() -> None:
    with pytest.raises(ReaderError, match="DOCTYPE declaration, which is refused") as info:
        read("firewalld-zone", FIXTURES / "zone_entity.xml")
    assert "zone_entity.xml:2: " in str(info.value)


def zone(*lines: str, target: str = "default") -> str:
    """A zone file: the <zone> element on line 1, the given lines from line 2."""
    return f'<zone target="{target}">\n' + "".join(line + "\n" for line in lines) + "</zone>\n"


def test_firewalld_service_any_services_and_ports_grant_nothing() -> None:
    rs = read("firewalld-zone", zone('<service name="smtp"/>'), service="any")
    expect(rs, {"192.0.2.1": ("drop", 1), "2001:db8::1": ("drop", 1)})
    assert len(rs.entries) == 0
    assert rs.completeness is Completeness.COMPLETE
    text = zone(
        '<service name="my-mail"/>',  # unknown service: still only some connections
        '<port port="1-65535" protocol="tcp"/>',
        '<protocol value="udp"/>',
        '<source-port port="53" protocol="udp"/>',
        '<rule><source address="192.0.2.0/24"/><service name="smtp"/><accept/></rule>',
    )
    rs = read("firewalld-zone", text, service="any")
    expect(rs, {"192.0.2.1": ("drop", 1), "8.8.8.8": ("drop", 1)})
    assert rs.completeness is Completeness.COMPLETE


def test_firewalld_service_any_rich_rules() -> None:
    text = zone(
        '<rule family="ipv4"><source address="192.0.2.0/28"/><port port="25" protocol="tcp"/>'
        "<reject/></rule>",
        '<rule family="ipv4"><source address="192.0.2.0/24"/><accept/></rule>',
        '<rule family="ipv4"><source address="198.51.100.0/24"/><accept>'
        '<limit value="5/m"/></accept></rule>',
        '<rule family="ipv4"><source ipset="partners"/><accept/></rule>',
    )
    rs = read("firewalld-zone", text, service="any")
    expect(
        rs,
        {
            "192.0.2.1": ("drop", 2),  # a reject of port 25 goes before the accept
            "192.0.2.100": ("accept", 3),
            "198.51.100.1": ("conditional", 4),  # rate-limited
            "8.8.8.8": ("conditional", 5),  # the ipset's members are not known
        },
    )
    assert "partners" in why(rs, "8.8.8.8")


def test_firewalld_service_any_target_accept() -> None:
    text = zone(
        '<service name="ssh"/>',
        '<rule family="ipv4"><source address="192.0.2.0/24"/><service name="smtp"/><drop/></rule>',
        '<rule family="ipv4"><source address="198.51.100.0/24"/><reject/></rule>',
        '<rule family="ipv4"><source address="203.0.113.0/24"/><port port="25" protocol="tcp"/>'
        "<accept/></rule>",
        '<forward-port port="8080" protocol="tcp" to-port="80"/>',
        target="ACCEPT",
    )
    rs = read("firewalld-zone", text, service="any")
    expect(
        rs,
        {
            "192.0.2.1": ("drop", 3),
            "198.51.100.1": ("drop", 4),
            "203.0.113.1": ("conditional", 6),  # the forward-port rewrites port 8080
            "2001:db8::1": ("conditional", 6),
        },
    )
    assert "forward-port" in why(rs, "2001:db8::1")
    rs = read("firewalld-zone", zone('<service name="ssh"/>', target="ACCEPT"), service="any")
    expect(rs, {"203.0.113.1": ("accept", 1), "2001:db8::1": ("accept", 1)})
    for target in ("DROP", "%%REJECT%%"):
        rs = read("firewalld-zone", zone("<short>x</short>", target=target), service="any")
        expect(rs, {"203.0.113.1": ("drop", 1)})


def test_firewalld_service_any_with_sources_and_the_fixtures() -> None:
    rs = read("firewalld-zone", FIXTURES / "zone_sources.xml", service="any")
    expect(
        rs,
        {
            "192.0.2.5": ("drop", 2),  # target="DROP": the service grants nothing
            "192.0.2.200": ("drop", 7),
            "198.51.100.1": ("return", 2),
        },
    )
    rs = read("firewalld-zone", FIXTURES / "zone_interface.xml", service="any")
    assert rs.completeness is Completeness.PARTIAL
    assert len(rs.entries) == 0


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('<zone>\n  <service name="smtp">\n</zone>\n', 3, "not well-formed"),
        ('<zone>\n  <source address="192.0.2.0/33"/>\n</zone>\n', 2, "prefix length"),
        ('<zone>\n<port port="x" protocol="tcp"/>\n</zone>\n', 2, "cannot read the port"),
        (
            '<zone>\n<rule family="ipv6"><source address="192.0.2.1"/><accept/></rule>\n</zone>',
            2,
            "IPv4",
        ),
        ('<?xml version="1.0"?>\n<policy target="ACCEPT">\n</policy>\n', 2, "firewalld policy"),
        ("<nonsense/>\n", 1, "not <zone>"),
    ],
)
def test_firewalld_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ReaderError, match=message) as info:
        read("firewalld-zone", text, name="zone.xml")
    assert f"zone.xml:{line}: " in str(info.value)


# --- detection ----------------------------------------------------------------------------------


def test_registered_as_rulesets_and_detected_by_content() -> None:
    for name in ("ufw-status", "firewalld-zone"):
        assert READERS[name].ruleset is True
    for path in FIXTURES.glob("ufw_*.txt"):
        assert detect_format(str(path), path.read_bytes()) == "ufw-status", path
    for path in FIXTURES.glob("zone_*.xml"):
        if path.name != "zone_entity.xml":
            assert detect_format(str(path), path.read_bytes()) == "firewalld-zone", path
    assert not sniff_ufw(b"192.0.2.0/24\nStatus: active\n")
    assert not sniff_firewalld(b'<?xml version="1.0"?>\n<opnsense/>\n')
    assert sniff_firewalld(b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- x -->\n<zone>\n</zone>')


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_diff_against_ufw_and_explain_with_a_zone(run_cli: RunCli, write: WriteFile) -> None:
    write("expected.txt", "198.51.100.0/24\n")
    write("ufw.txt", (FIXTURES / "ufw_verbose.txt").read_text(encoding="utf-8"))
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "ufw.txt")
    assert code == 2, err  # 198.51.100.0/25 is missing, and the ruleset is partial
    assert "198.51.100.0/25" in out
    write("zone.xml", (FIXTURES / "zone_sources.xml").read_text(encoding="utf-8"))
    code, out, err = run_cli("explain", "192.0.2.200", "-d", "zone.xml")
    assert code == 1, err
    assert "zone.xml:7" in out
    code, out, err = run_cli("explain", "192.0.2.5", "-d", "zone.xml")
    assert code == 0, err
    assert "zone.xml:6" in out


# --- the public corpus --------------------------------------------------------------------------

# Files that are refused on purpose, and why.
REFUSED = {"firewalld-policy_firewalld_gateway-lan-to-world.xml": "firewalld policy"}


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not present")
@pytest.mark.parametrize(
    "name",
    sorted(
        p.name
        for pattern in ("ufw-status_*", "firewalld-*")
        for p in (CORPUS.glob(pattern) if CORPUS.is_dir() else [])
    ),
)
def test_corpus_files_read_or_are_refused_with_a_reason(name: str) -> None:
    path = CORPUS / name
    fmt = "ufw-status" if name.startswith("ufw-status") else "firewalld-zone"
    assert detect_format(name, path.read_bytes()) == fmt
    if name in REFUSED:
        with pytest.raises(ReaderError, match=REFUSED[name]):
            read(fmt, path)
        return
    rs = read(fmt, path)
    conditional = sorted(
        {s.rule.describe() for v in rs.verdicts for s in v.segments if s.outcome == "conditional"}
    )
    print(name, rs.completeness.value, rs.families, conditional, rs.findings)
    assert rs.verdicts


# --- scopes: a ufw rule comment, a firewalld zone -------------------------------------------------

UFW_COMMENTS = """Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), disabled (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
25/tcp                     DENY IN     198.51.100.0/25            # mail relays
25/tcp                     ALLOW IN    192.0.2.0/24               # mail relays
25                         ALLOW IN    198.51.100.0/24            # mail relays
22/tcp                     ALLOW IN    203.0.113.0/24             # mail relays
25,465/tcp                 LIMIT IN    10.1.0.0/16                (log) # B\u00fcro\t #1\x1b
25/tcp                     ALLOW IN    Anywhere                   # open
25/tcp                     ALLOW OUT   10.2.0.0/16                # out
25/tcp                     ALLOW IN    2001:db8::/32              # mail relays
25/tcp (v6)                ALLOW IN    Anywhere (v6)              # open
"""


def test_ufw_rule_comments_are_scopes(run_cli: RunCli, write: WriteFile) -> None:
    """Rules sharing a comment form a group named by it (control characters made visible);
    a group's addresses are the sources of its ALLOW and LIMIT rules for the service, those
    an earlier DENY shadows included; a rule for another port or from Anywhere adds none."""
    rs = read("ufw-status", UFW_COMMENTS, name="status.txt")
    assert sorted(rs.groups) == ["B\u00fcro #1_", "mail relays", "open", "out"]
    assert list(rs.scope("mail relays").cidrs_text()) == [
        "192.0.2.0/24",
        "198.51.100.0/24",
        "2001:db8::/32",
    ]
    assert list(rs.scope("B\u00fcro #1_").cidrs_text()) == ["10.1.0.0/16"]
    assert not rs.scope("open") and not rs.scope("out")
    # without the LIMIT rule (conditional) and those from Anywhere (over-broad): no drift
    lines = UFW_COMMENTS.splitlines(True)
    write("status.txt", "".join(x for x in lines if "LIMIT" not in x and "Anywhere" not in x))
    write("exp.txt", "192.0.2.0/24\n")
    code, out, err = run_cli(
        "diff", "-e", "exp.txt", "-d", "status.txt", "--scope", "mail relays", "-o", "json"
    )
    assert code == 0, err
    extra = [(b["cidr"], [o["line"] for o in b["origins"]]) for b in json.loads(out)["extra"]]
    assert extra == [("198.51.100.0/24", [10]), ("2001:db8::/32", [13])]


ZONE_SCOPE = """<?xml version="1.0" encoding="utf-8"?>
<zone target="DROP">
  <source address="192.0.2.0/24"/>
  <source address="198.51.100.0/24"/>
  <service name="smtp"/>
  <rule family="ipv4"><source address="198.51.100.0/28"/><reject/></rule>
  <rule family="ipv4"><source address="203.0.113.0/24"/><service name="smtp"/><accept/></rule>
</zone>
"""


def test_firewalld_zone_is_a_scope(run_cli: RunCli, write: WriteFile) -> None:
    """The zone file's name is a scope: what the zone accepts for the service."""
    rs = read("firewalld-zone", ZONE_SCOPE, name="/etc/firewalld/zones/mail.xml")
    assert rs.groups == ("mail",)
    assert list(rs.scope("mail").cidrs_text()) == [
        "192.0.2.0/24",
        "198.51.100.16/28",
        "198.51.100.32/27",
        "198.51.100.64/26",
        "198.51.100.128/25",
    ]
    assert read("firewalld-zone", ZONE_SCOPE, name="-").groups == ()
    write("zones/mail.xml", ZONE_SCOPE)
    write("exp.txt", "192.0.2.0/24\n")
    code, out, err = run_cli(
        "diff", "-e", "exp.txt", "-d", "zones/mail.xml", "--scope", "mail", "-o", "cidr"
    )
    assert code == 0, err

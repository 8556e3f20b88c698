"""The iptables-save reader: the verdict and deciding rule for chosen addresses of every fixture
in tests/fixtures/firewall/, and the parsing edge cases of real exports and restore files.

test_kernel_oracle.py checks the same fixtures against the kernel for many sampled addresses;
here each case names the rule that must decide, so a right verdict for a wrong reason fails.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from auditor.allowlists import ReadContext, ReaderError, reader_for
from auditor.allowlists.firewalls.iptables_save import sniff
from auditor.allowlists.lists.ipset_save import parse_sets
from auditor.ipspace import IPSpace
from auditor.model import Completeness, RangeSet
from auditor.service import Service

FIXTURES = Path(__file__).parent.parent / "fixtures" / "firewall"
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "firewall"
SERVER = {4: "10.255.0.1", 6: "fd00:255::1"}


def read(
    data: str | Path,
    *,
    service: str = "tcp/25",
    ipset: str | None = None,
    to: str | None = None,
    chain: str = "INPUT",
    name: str = "rules.v4",
) -> RangeSet:
    if isinstance(data, Path):
        name, raw = data.name, data.read_bytes()
    else:
        raw = data.encode("utf-8")
    sets = parse_sets((FIXTURES / ipset).read_text(encoding="utf-8"), ipset)[0] if ipset else {}
    ctx = ReadContext(
        name, "declared", service=Service.parse(service), chain=chain, to=to, sets=sets
    )
    return reader_for("iptables-save").parse(raw, ctx)


def verdict(rs: RangeSet, address: str) -> tuple[str, int | None]:
    """The outcome for one address and the line of the rule that decided it."""
    (verdicts,) = rs.verdicts
    segment = verdicts.lookup(int(ipaddress.ip_address(address)))
    assert segment is not None, f"no verdict for {address}"
    return segment.outcome, segment.rule.origin.line


def line_of(path: Path | str, text: str) -> int:
    """The line of the one rule that contains ``text`` (the fixture stays the reference)."""
    lines = (path.read_text(encoding="utf-8") if isinstance(path, Path) else path).split("\n")
    found = [n for n, line in enumerate(lines, 1) if text in line and not line.startswith("#")]
    assert len(found) == 1, f"{text!r} is on lines {found}"
    return found[0]


def expect(rs: RangeSet, source: Path | str, cases: dict[str, tuple[str, str]]) -> None:
    """address -> (outcome, text of the deciding rule), all checked before failing."""
    got = {a: verdict(rs, a) for a in cases}
    want = {a: (outcome, line_of(source, text)) for a, (outcome, text) in cases.items()}
    assert got == want


# --- the fixtures ------------------------------------------------------------------------------


def test_shadowing_first_match_wins() -> None:
    path = FIXTURES / "iptables_shadow.v4"
    rs = read(path)
    expect(
        rs,
        path,
        {
            "192.0.2.1": ("drop", "-A INPUT -s 192.0.2.0/25 -p tcp -m tcp --dport 25 -j DROP"),
            "192.0.2.127": ("drop", "-A INPUT -s 192.0.2.0/25 -p tcp -m tcp --dport 25 -j DROP"),
            "192.0.2.128": ("accept", "-s 192.0.2.0/24 -p tcp -m tcp --dport 25 -j ACCEPT"),
            "198.51.100.9": ("drop", "-A INPUT -s 198.51.100.0/24 -j DROP"),
            "203.0.113.70": ("accept", "-s 203.0.113.64/26"),
            "203.0.113.5": ("drop", "-s 203.0.113.0/24 -p tcp -m tcp --dport 25 -j DROP"),
            "8.8.8.8": ("drop", ":INPUT DROP"),
        },
    )
    assert rs.space == IPSpace.from_text(["192.0.2.128/25", "203.0.113.64/26"])
    assert rs.completeness is Completeness.COMPLETE
    assert rs.families == (4,)


def test_policy_accept_blocklist() -> None:
    path = FIXTURES / "iptables_policy-accept.v4"
    rs = read(path)
    expect(
        rs,
        path,
        {
            "192.0.2.1": ("drop", "-A INPUT -s 192.0.2.0/24 -j DROP"),
            "198.51.100.200": ("drop", "--reject-with tcp-reset"),
            "198.51.100.5": ("accept", ":INPUT ACCEPT"),  # its REJECT is for tcp/80
            "203.0.113.1": ("drop", "--reject-with icmp-admin-prohibited"),
            "100.64.0.1": ("accept", ":INPUT ACCEPT"),  # its DROP is for udp
            "8.8.8.8": ("accept", ":INPUT ACCEPT"),
        },
    )


def test_return_goto_and_nested_chains() -> None:
    path = FIXTURES / "iptables_chains.v4"
    rs = read(path)
    expect(
        rs,
        path,
        {
            # RETURN from mail, then INPUT's next rules
            "198.51.100.5": ("accept", "-A INPUT -s 198.51.100.0/28 -j ACCEPT"),
            "198.51.100.20": ("drop", ":INPUT DROP"),
            "198.51.100.100": ("accept", "-A mail -s 198.51.100.0/24 -j ACCEPT"),
            # three chains deep
            "198.51.100.201": ("drop", "-A mail-blocked -s 198.51.100.200/29 -j DROP"),
            "203.0.113.9": ("drop", "-A mail-blocked -s 203.0.113.0/24 -j DROP"),
            # RETURN in the goto'ed relay returns from mail-partners: its ACCEPT is skipped
            "192.0.2.5": ("drop", "-A mail -s 192.0.2.0/26 -j REJECT"),
            "192.0.2.70": ("accept", "-A relay -s 192.0.2.64/26 -j ACCEPT"),
            # falling off relay's end returns from mail-partners too
            "192.0.2.130": ("accept", "-A INPUT -s 192.0.2.128/26"),
            "192.0.2.200": ("drop", ":INPUT DROP"),
        },
    )


def test_negated_sources_and_ranges() -> None:
    path = FIXTURES / "iptables_negation.v4"
    rs = read(path)
    negated = "-A INPUT ! -s 10.0.0.0/8"
    expect(
        rs,
        path,
        {
            "8.8.8.8": ("drop", negated),
            "203.0.113.5": ("drop", negated),  # its ACCEPT is for "! --dport 25"
            "192.0.2.99": ("drop", negated),
            "192.0.2.100": ("drop", ":INPUT DROP"),
            "192.0.2.149": ("drop", ":INPUT DROP"),
            "192.0.2.150": ("accept", "--src-range 192.0.2.150-192.0.2.250"),
            "192.0.2.200": ("accept", "--src-range 192.0.2.150-192.0.2.250"),
            "192.0.2.201": ("drop", negated),
            "10.1.2.3": ("accept", "-A INPUT -s 10.1.0.0/16"),
            "10.2.0.1": ("drop", ":INPUT DROP"),
        },
    )


@pytest.mark.parametrize(
    ("service", "cases"),
    [
        (
            "tcp/25",
            {
                "198.51.100.1": ("accept", "--dports 25,465,587 -j ACCEPT"),  # not the LOG
                "203.0.113.1": ("accept", "--dport 20:30 -j ACCEPT"),
                "192.0.2.200": ("accept", "-s 192.0.2.0/24 -p tcp -m tcp --dport 25 -j ACCEPT"),
                "8.8.8.8": ("drop", "--reject-with icmp-port-unreachable"),
            },
        ),
        (
            "tcp/587",
            {
                "198.51.100.1": ("accept", "--dports 25,465,587 -j ACCEPT"),
                "203.0.113.1": ("drop", "--dport 580:590 -j REJECT"),
                "192.0.2.1": ("accept", "--dport 587 -j ACCEPT"),
                "192.0.2.200": ("drop", ":INPUT DROP"),
                "8.8.8.8": ("drop", ":INPUT DROP"),
            },
        ),
        (
            # every port must accept: a drop on one port decides
            "tcp/25,587",
            {
                "198.51.100.1": ("accept", "--dports 25,465,587 -j ACCEPT"),
                "203.0.113.1": ("drop", "--dport 580:590 -j REJECT"),
                "192.0.2.1": ("accept", "-s 192.0.2.0/24 -p tcp -m tcp --dport 25 -j ACCEPT"),
                "192.0.2.200": ("drop", ":INPUT DROP"),
            },
        ),
        (
            # tcp/22 is accepted for everybody, but for tcp/25 its rule decides nothing
            "tcp/22",
            {"8.8.8.8": ("accept", "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT")},
        ),
    ],
)
def test_ports(service: str, cases: dict[str, tuple[str, str]]) -> None:
    path = FIXTURES / "iptables_ports.v4"
    expect(read(path, service=service), path, cases)


def test_a_port_range_is_probed_wherever_a_rule_tells_its_ports_apart() -> None:
    text = (
        "*filter\n:INPUT ACCEPT [0:0]\n"
        "-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 25 -j DROP\n"
        "-A INPUT -s 198.51.100.0/24 -p tcp -m tcp --dport 29:40 -j DROP\n"
        "COMMIT\n"
    )
    rs = read(text, service="tcp/20-30")
    assert verdict(rs, "192.0.2.1") == ("drop", 3)
    assert verdict(rs, "198.51.100.1") == ("drop", 4)
    assert verdict(rs, "203.0.113.1") == ("accept", 2)


def test_connection_state_and_tcp_flags() -> None:
    path = FIXTURES / "iptables_state.v4"
    rs = read(path)
    expect(
        rs,
        path,
        {
            "192.0.2.1": ("accept", "-m state --state NEW"),
            "198.51.100.1": ("accept", "-s 198.51.100.0/25 -p tcp -m tcp --tcp-flags"),
            "198.51.100.200": ("drop", ":INPUT DROP"),
            "203.0.113.1": ("drop", ":INPUT DROP"),
        },
    )
    assert rs.completeness is Completeness.COMPLETE


def test_ipset_members_resolve_the_set_rules() -> None:
    path = FIXTURES / "iptables_ipset.v4"
    rs = read(path, ipset="ipset_mail.ipset")
    expect(
        rs,
        path,
        {
            "192.0.2.10": ("drop", "--match-set blocked src"),
            "192.0.2.11": ("accept", "--match-set allowed src"),  # list:set of mail-senders
            "198.51.100.7": ("drop", "--match-set blocked src"),
            "198.51.100.8": ("accept", "--match-set allowed src"),
            "198.51.100.16": ("drop", ":INPUT DROP"),
            "198.51.100.99": ("accept", "--match-set allowed src"),  # the set relays
            "203.0.113.1": ("accept", "! --match-set partners src"),
            "203.0.113.40": ("drop", ":INPUT DROP"),  # a partner: the negated match fails
            "8.8.8.8": ("drop", ":INPUT DROP"),
        },
    )
    assert rs.completeness is Completeness.COMPLETE


def test_ipset_rules_without_the_set_file_are_conditional() -> None:
    path = FIXTURES / "iptables_ipset.v4"
    rs = read(path)
    first = line_of(path, "--match-set blocked src")
    for address in ("192.0.2.11", "203.0.113.40", "8.8.8.8"):
        assert verdict(rs, address) == ("conditional", first)
    assert rs.completeness is Completeness.PARTIAL
    assert any("ipset blocked" in r for r in rs.reasons)
    assert not rs.space  # nothing counts as allowed


def test_interfaces() -> None:
    path = FIXTURES / "iptables_interfaces.v4"
    rs = read(path)
    expect(
        rs,
        path,
        {
            "192.0.2.1": ("accept", "! -i lo"),
            "198.51.100.1": ("conditional", "-i eth9"),
            "203.0.113.5": ("accept", "-A INPUT -s 203.0.113.0/25"),  # -o never matches
            "203.0.113.130": ("drop", ":INPUT DROP"),
            "203.0.113.200": ("drop", "! -o vsrv -j DROP"),
            "8.8.8.8": ("drop", ":INPUT DROP"),
        },
    )
    assert any("the interface is eth9" in r for r in rs.reasons)


def test_loopback_accept_never_counts_for_a_remote_sender() -> None:
    rs = read("*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n")
    assert verdict(rs, "127.0.0.1") == ("drop", 2)
    assert rs.completeness is Completeness.COMPLETE


def test_destination_with_and_without_to() -> None:
    path = FIXTURES / "iptables_destination.v4"
    rs = read(path, to=SERVER[4])
    expect(
        rs,
        path,
        {
            "192.0.2.1": ("accept", "-d 10.255.0.1/32"),
            "198.51.100.1": ("drop", ":INPUT DROP"),
            "203.0.113.1": ("accept", "--dst-type LOCAL -j ACCEPT"),
            "203.0.113.200": ("accept", "! -f"),
        },
    )
    without = read(path)
    assert verdict(without, "192.0.2.1") == ("conditional", line_of(path, "-d 10.255.0.1/32"))
    assert any("give --to" in r for r in without.reasons)


def test_tables_before_filter_input() -> None:
    path = FIXTURES / "iptables_tables.v4"
    rs = read(path)
    expect(
        rs,
        path,
        {
            "192.0.2.1": ("drop", "-A PREROUTING -s 192.0.2.0/26 -j DROP"),
            "192.0.2.70": ("drop", "-A PREROUTING -s 192.0.2.64/26 -j DROP"),
            "192.0.2.130": ("drop", "-A INPUT -s 192.0.2.128/26 -p tcp -m tcp --dport 25 -j DROP"),
            "192.0.2.200": ("accept", "-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 25 -j"),
            "198.51.100.1": ("conditional", "-j DNAT"),
            "203.0.113.1": ("accept", "-A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 25 -j"),
            "8.8.8.8": ("drop", ":INPUT DROP"),
        },
    )
    assert any("DNAT" in r for r in rs.reasons)


def test_restore_syntax() -> None:
    path = FIXTURES / "iptables_restore-syntax.v4"
    rs = read(path)
    expect(
        rs,
        path,
        {
            "198.51.100.40": ("drop", "-I INPUT 1"),
            "203.0.113.200": ("accept", "-A partners -s 203.0.113.128/25"),  # after -F
            "192.0.2.1": ("accept", "--append INPUT --protocol tcp --jump ACCEPT --source"),
            "192.0.2.130": ("accept", "-4 -p tcp"),
            "192.0.2.200": ("drop", ":INPUT DROP"),  # its "-6" rule is skipped
            "198.51.100.1": ("accept", "/255.255.255.192"),
            "198.51.100.200": ("drop", ":INPUT DROP"),  # its ACCEPT was deleted
            "10.9.0.1": ("drop", ":INPUT DROP"),  # deleted by number
            "203.0.113.1": ("accept", "--comment don't"),
            "100.64.0.1": ("drop", ":INPUT DROP"),  # the first *filter section was replaced
        },
    )
    assert rs.findings == tuple(f for f in rs.findings if f.kind == "family-not-covered")


def test_ufw_host() -> None:
    path = FIXTURES / "iptables_ufw.v4"
    rs = read(path)
    expect(
        rs,
        path,
        {
            "192.0.2.1": (
                "drop",
                "-A ufw-user-input -s 192.0.2.0/24 -p tcp -m tcp --dport 25 -j DROP",
            ),
            "198.51.100.1": ("accept", "-A ufw-user-input -s 198.51.100.0/24"),
            "203.0.113.1": ("accept", "-A ufw-user-input -s 203.0.113.0/24"),
            "8.8.8.8": ("drop", ":INPUT DROP"),
        },
    )
    # the rate limits and log chains decide nothing for a new tcp/25 connection
    assert rs.completeness is Completeness.COMPLETE


def test_ufw_ipv6_host_routing_header_rule_decides_nothing() -> None:
    path = FIXTURES / "ip6tables_ufw.v6"
    rs = read(path)
    expect(
        rs,
        path,
        {
            "2001:db8:25::1": ("drop", "-s 2001:db8:25::/48 -p tcp -m tcp --dport 25 -j DROP"),
            "2001:db8::1": ("accept", "-s 2001:db8::/32"),
            "fd00:25::1": ("accept", "-s fd00:25::/64"),
            "2001:db9::1": ("drop", ":INPUT DROP"),
        },
    )
    assert rs.completeness is Completeness.COMPLETE
    assert rs.families == (6,)


def test_ipv6_semantics() -> None:
    path = FIXTURES / "ip6tables_semantics.v6"
    rs = read(path, ipset="ipset_mail6.ipset")
    expect(
        rs,
        path,
        {
            "2001:db8:bad::1": ("drop", "-A INPUT -s 2001:db8:bad::/48 -j DROP"),
            "2001:db8:1::1": ("accept", "-A INPUT -s 2001:db8:1::/64"),
            "2001:db8:1:1::1": ("drop", ":INPUT DROP"),
            "2001:db8:2::1": ("accept", "-A relay -s 2001:db8:2::/48"),
            "2001:db8:3::1": ("drop", ":INPUT DROP"),  # RETURN after goto skips mail's ACCEPT
            "2001:db8:ffff::1": ("drop", ":INPUT DROP"),  # falls off relay, same
            "fd00:6::1": ("accept", "--match-set mail6 src"),
            "2a00:1450:4000::1": ("accept", "--match-set mail6 src"),
            "fd00::15": ("accept", "--src-range fd00::10-fd00::20"),
            "fd00::99": ("drop", ":INPUT DROP"),
            "2a01::1": ("drop", "! -s fd00::/16"),
        },
    )


# --- parsing edge cases -------------------------------------------------------------------------

HEADER = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"


def test_new_chain_lines_between_rules() -> None:
    # the shape aerleon's speedway writes: each -N right before the chain's rules
    text = (
        "*filter\n"
        "# Speedway INPUT Policy\n"
        ":INPUT DROP [0:0]\n"
        "-N I_base-allow-est-in\n"
        "-A I_base-allow-est-in -p all -m state --state ESTABLISHED,RELATED -j ACCEPT\n"
        "-A INPUT -j I_base-allow-est-in\n"
        "-N I_permit-mail\n"
        "-A I_permit-mail -p tcp --dport 25 -s 192.0.2.0/24"
        " -m state --state NEW,ESTABLISHED,RELATED -j ACCEPT\n"
        "-A INPUT -j I_permit-mail\n"
        ":OUTPUT DROP [0:0]\n"
        "-A OUTPUT -o lo -j ACCEPT\n"
        "COMMIT\n"
    )
    rs = read(text)
    assert verdict(rs, "192.0.2.9") == ("accept", 8)
    assert verdict(rs, "198.51.100.1") == ("drop", 3)
    assert not [f for f in rs.findings if f.kind == "unsupported"]


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the public corpus is not at {CORPUS}")
def test_speedway_corpus_export() -> None:
    path = CORPUS / "iptables-save_aerleon_sample_speedway.ipt"
    ssh = read(path, service="tcp/22")
    assert ssh.space == IPSpace.from_text(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])
    assert read(path).space == IPSpace()
    assert ssh.completeness is Completeness.COMPLETE


def test_old_negation_syntax() -> None:
    # iptables before 1.4.3 wrote "-s ! x" and "--dport ! 25"; 1.8 refuses to load it, but old
    # exports still say it
    rs = read(
        HEADER
        + "-A INPUT -s ! 192.0.2.0/24 -p tcp --dport 25 -j DROP\n"
        + "-A INPUT -p tcp --dport ! 25 -j DROP\n"
        + "-A INPUT -p tcp -j ACCEPT\nCOMMIT\n"
    )
    assert verdict(rs, "8.8.8.8") == ("drop", 5)
    assert verdict(rs, "192.0.2.1") == ("accept", 7)


def test_insert_at_the_top_and_at_a_position() -> None:
    rs = read(
        HEADER
        + "-A INPUT -s 192.0.2.0/24 -j ACCEPT\n"
        + "-A INPUT -s 198.51.100.0/24 -j ACCEPT\n"
        + "-I INPUT -s 192.0.2.0/25 -j DROP\n"
        + "-I INPUT 3 -s 198.51.100.0/25 -j DROP\n"
        + "COMMIT\n"
    )
    # order now: 192.0.2.0/25 DROP, 192.0.2.0/24 ACCEPT, 198.51.100.0/25 DROP, 198.51.100/24
    assert verdict(rs, "192.0.2.1") == ("drop", 7)
    assert verdict(rs, "192.0.2.200") == ("accept", 5)
    assert verdict(rs, "198.51.100.1") == ("drop", 8)
    assert verdict(rs, "198.51.100.200") == ("accept", 6)


@pytest.mark.parametrize(
    "comment",
    [
        '"-j DROP -s 0.0.0.0/0"',  # a quoted word that looks like options
        '"say \\"hi\\" -j DROP"',  # escaped quotes, as iptables-save writes them
        '"it\\\'s"',  # iptables-save 1.8 escapes a single quote too
        "don't",  # a single quote is an ordinary character
        '"a  b\\\\"',  # a double blank and an escaped backslash
    ],
)
def test_quoted_comments(comment: str) -> None:
    rs = read(
        HEADER
        + f"-A INPUT -s 192.0.2.0/24 -m comment --comment {comment} -p tcp --dport 25 -j ACCEPT\n"
        + "COMMIT\n"
    )
    assert verdict(rs, "192.0.2.1") == ("accept", 5)
    assert verdict(rs, "198.51.100.1") == ("drop", 2)


def test_an_open_quote_is_an_error_with_its_line() -> None:
    with pytest.raises(ReaderError, match=r"rules.v4:5: a double quote is not closed"):
        read(HEADER + '-A INPUT -m comment --comment "open -j ACCEPT\nCOMMIT\n')


def test_options_after_the_target_still_restrict_the_rule() -> None:
    rs = read(
        HEADER
        + "-A INPUT -p tcp -j ACCEPT -s 192.0.2.0/24\n"
        + '-A INPUT -j LOG --log-prefix "-- x " --log-tcp-options -s 198.51.100.0/24\n'
        + "-A INPUT -j SET --add-set seen src --exist -s 198.51.100.0/25\n"
        + "-A INPUT -j REJECT --reject-with tcp-reset -p tcp -s 203.0.113.0/24\n"
        + "COMMIT\n"
    )
    assert verdict(rs, "192.0.2.1") == ("accept", 5)
    assert verdict(rs, "198.51.100.1") == ("drop", 2)
    assert verdict(rs, "203.0.113.1") == ("drop", 8)
    assert verdict(rs, "8.8.8.8") == ("drop", 2)
    assert rs.completeness is Completeness.COMPLETE


def test_counters_before_rules() -> None:
    rs = read(
        "*filter\n:INPUT DROP [10:600]\n[3:180] -A INPUT -s 192.0.2.0/24 -j ACCEPT\n"
        "-A INPUT -c 5 300 -s 198.51.100.0/24 -j ACCEPT\nCOMMIT\n"
    )
    assert verdict(rs, "192.0.2.1") == ("accept", 3)
    assert verdict(rs, "198.51.100.1") == ("accept", 4)


def test_mixed_family_address_is_an_error_with_file_and_line() -> None:
    text = (
        "# Generated by iptables-save v1.8.9\n" + HEADER + "-A INPUT -s 2001:db8::/32 -j ACCEPT\n"
    )
    with pytest.raises(ReaderError) as caught:
        read(text, name="host.v4")
    assert caught.value.line == 6
    assert str(caught.value).startswith("host.v4:6: '2001:db8::/32' is IPv6 in an IPv4 export")
    # a file without a header takes its family from its first address
    with pytest.raises(ReaderError, match=r"host.v4:6: '192.0.2.1' is IPv4 in an IPv6 export"):
        read(
            HEADER + "-A INPUT -s 2001:db8::/32 -j ACCEPT\n-A INPUT -s 192.0.2.1 -j DROP\n",
            name="host.v4",
        )


def test_a_non_contiguous_netmask_is_an_error() -> None:
    with pytest.raises(ReaderError, match=r"rules.v4:5: .*non-contiguous netmask"):
        read(HEADER + "-A INPUT -s 10.0.0.1/255.0.255.0 -j ACCEPT\nCOMMIT\n")


def test_a_file_without_the_chain_is_an_error() -> None:
    text = "*filter\n:ufw-before-input - [0:0]\n-A ufw-before-input -i lo -j ACCEPT\nCOMMIT\n"
    with pytest.raises(ReaderError, match=r"rules.v4: the export has no INPUT chain") as caught:
        read(text)
    assert "--chain" in str(caught.value)
    # a user chain can be audited on its own when asked for; its end is the caller's to decide
    assert verdict(read(text, chain="ufw-before-input"), "192.0.2.1")[0] == "conditional"
    with pytest.raises(ReaderError, match=r"no FORWARD chain"):
        read("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n", chain="FORWARD")


@pytest.mark.parametrize(
    "garbage",
    [
        "hello world\nthis is not a firewall\n",
        "192.0.2.0/24\n198.51.100.0/24\n",
        "",
        "# only a comment\n",
    ],
)
def test_garbage_is_not_iptables(garbage: str) -> None:
    assert not sniff(garbage.encode())
    with pytest.raises(ReaderError, match=r"not an iptables-save export"):
        read(garbage)


def test_sniff_recognises_exports() -> None:
    assert sniff(b"# Generated by iptables-save v1.8.9\n*filter\n:INPUT ACCEPT [0:0]\n")
    assert sniff(b"[0:0] -A INPUT -j ACCEPT\n")
    assert sniff(b"-N mychain\n")


def test_unknown_commands_are_reported_not_dropped() -> None:
    rs = read(HEADER + "-A INPUT -s 192.0.2.0/24 -j ACCEPT\n--list INPUT\nCOMMIT\n")
    assert [f.message for f in rs.findings if f.kind == "unsupported"] == [
        "rules.v4:6: '--list INPUT' not understood"
    ]


def test_a_table_without_commit_is_an_error() -> None:
    # cut after a DROP in a policy-ACCEPT export: the rules after the cut were never seen
    cut = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 192.0.2.0/24 -j DROP\n"
    with pytest.raises(ReaderError, match=r"rules.v4:1: table filter has no COMMIT") as caught:
        read(cut)
    assert "iptables-save" in (caught.value.hint or "")
    with pytest.raises(ReaderError, match=r"rules.v4:1: table filter has no COMMIT"):
        read(cut + "# the end\n\n")
    # a COMMIT missing in the middle: the next *table line shows the first one was cut
    with pytest.raises(ReaderError, match=r"rules.v4:5: table nat has no COMMIT \(before \*filter"):
        read(
            "*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n# nat\n*nat\n:PREROUTING ACCEPT [0:0]\n"
            + cut
            + "COMMIT\n"
        )
    assert verdict(read(cut + "COMMIT\n"), "192.0.2.1") == ("drop", 3)


def test_chain_loop_is_an_error() -> None:
    text = (
        "*filter\n:INPUT DROP [0:0]\n:a - [0:0]\n:b - [0:0]\n-A INPUT -j a\n-A a -j b\n-A b -j a\n"
        "COMMIT\n"
    )
    with pytest.raises(ReaderError, match=r"rules.v4: chain loop: INPUT -> a -> b -> a"):
        read(text)


def test_ports_either_direction_depends_on_the_client_source_port() -> None:
    # a client connects from an unprivileged port: --ports matches its source port when the
    # list holds every such port, never when it holds none, and only maybe otherwise
    rs = read(
        HEADER
        + "-A INPUT -s 192.0.2.0/24 -p tcp -m multiport --ports 25,80 -j ACCEPT\n"
        + "-A INPUT -s 198.51.100.0/24 -p tcp -m multiport --ports 1024:65535 -j ACCEPT\n"
        + "-A INPUT -s 203.0.113.0/24 -p tcp -m multiport --ports 587,465 -j ACCEPT\n"
        + "-A INPUT -s 203.0.113.0/24 -p tcp -m multiport ! --ports 1:24 -j DROP\n"
        + "-A INPUT -s 10.0.0.0/8 -p tcp -m multiport --ports 32768:60999 -j ACCEPT\n"
        + "COMMIT\n"
    )
    assert verdict(rs, "192.0.2.1") == ("accept", 5)
    assert verdict(rs, "198.51.100.1") == ("accept", 6)
    assert verdict(rs, "203.0.113.1") == ("drop", 8)  # line 7 never matches a client
    assert verdict(rs, "10.0.0.1") == ("conditional", 9)


@pytest.mark.parametrize("option", ["--sport", "--source-port"])
def test_a_source_port_match_grants_and_denies_only_what_a_client_can_meet(option: str) -> None:
    rs = read(
        HEADER
        + f"-A INPUT -s 192.0.2.0/24 -p tcp -m tcp {option} 25 -j DROP\n"
        + f"-A INPUT -s 198.51.100.0/24 -p tcp -m tcp {option} 25 -j ACCEPT\n"
        + "-A INPUT -s 203.0.113.0/24 -p tcp -m multiport --sports 1:1023 -j ACCEPT\n"
        + f"-A INPUT -s 10.1.0.0/16 -p tcp -m tcp {option} 1024:65535 --dport 25 -j ACCEPT\n"
        + f"-A INPUT -s 10.2.0.0/16 -p tcp -m tcp ! {option} 25 --dport 25 -j ACCEPT\n"
        + f"-A INPUT -s 10.3.0.0/16 -p tcp -m tcp {option} 40000:65535 --dport 25 -j ACCEPT\n"
        + "-A INPUT -s 10.4.0.0/16 -m conntrack --ctorigsrcport 25 -j DROP\n"
        + "-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 25 -j ACCEPT\n"
        + "-A INPUT -s 10.4.0.0/16 -p tcp -m tcp --dport 25 -j ACCEPT\n"
        + "COMMIT\n"
    )
    assert verdict(rs, "192.0.2.1") == ("accept", 12)  # the DROP on line 5 denies no client
    assert verdict(rs, "198.51.100.1") == ("drop", 2)  # the ACCEPT on line 6 grants nothing
    assert verdict(rs, "203.0.113.1") == ("drop", 2)
    assert verdict(rs, "10.1.0.1") == ("accept", 8)
    assert verdict(rs, "10.2.0.1") == ("accept", 9)
    assert verdict(rs, "10.3.0.1") == ("conditional", 10)
    assert verdict(rs, "10.4.0.1") == ("accept", 13)
    (verdicts,) = rs.verdicts
    segment = verdicts.lookup(int(ipaddress.ip_address("10.3.0.1")))
    assert segment is not None
    assert f"the client's source port ({option} 40000:65535)" in segment.rule.why


def test_delete_tells_rules_apart_by_their_source_port() -> None:
    rs = read(
        HEADER
        + "-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --sport 1:1023 -j ACCEPT\n"
        + "-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --sport 1024:65535 -j ACCEPT\n"
        + "-D INPUT -s 192.0.2.0/24 -p tcp -m tcp --sport 1:1023 -j ACCEPT\n"
        + "COMMIT\n"
    )
    assert verdict(rs, "192.0.2.1") == ("accept", 6)


def test_a_condition_matters_only_where_it_changes_the_outcome() -> None:
    rs = read(
        "*filter\n:INPUT DROP [0:0]\n:limited - [0:0]\n"
        "-A INPUT -m limit --limit 3/min -j limited\n"
        "-A INPUT -s 192.0.2.0/24 -j ACCEPT\n"
        "-A INPUT -s 198.51.100.0/25 -j ACCEPT\n"
        "-A limited -s 198.51.100.0/24 -j DROP\n"
        "-A limited -j LOG\n"
        "-A INPUT -i eth0 -j DROP\n"
        "COMMIT\n"
    )
    assert verdict(rs, "192.0.2.1") == ("accept", 5)  # "limited" decides nothing for it
    assert verdict(rs, "198.51.100.1") == ("conditional", 4)  # dropped there, accepted below
    # dropped there or by the policy: the policy decides either way, so it is named
    assert verdict(rs, "198.51.100.200") == ("drop", 2)
    assert verdict(rs, "8.8.8.8") == ("drop", 2)  # dropped on eth0 or by the policy
    assert rs.reasons == (
        "conditional: rules.v4:4: -A INPUT -m limit --limit 3/min -j limited"
        " [a rate limit (-m limit)]",
    )


def test_a_conditional_return_at_the_end_of_a_chain_decides_nothing() -> None:
    # the shape of Docker's "-A DOCKER -i docker0 -j RETURN"
    rs = read(
        "*filter\n:INPUT ACCEPT [0:0]\n:check - [0:0]\n"
        "-A INPUT -j check\n"
        "-A INPUT -s 192.0.2.0/24 -j DROP\n"
        "-A check -i docker0 -j RETURN\n"
        "-A check -p tcp -m tcp --dport 8080 -j DROP\n"
        "-A check -s 198.51.100.0/24 -j DROP\n"
        "COMMIT\n"
    )
    assert verdict(rs, "192.0.2.1") == ("drop", 5)  # check returns it either way
    assert verdict(rs, "198.51.100.1") == ("conditional", 6)  # RETURN, or the DROP below
    assert verdict(rs, "8.8.8.8") == ("accept", 2)


def test_ipv4_mapped_source_in_an_ipv6_export() -> None:
    rs = read(
        "# Generated by ip6tables-save v1.8.9\n*filter\n:INPUT DROP [0:0]\n"
        "-A INPUT -s ::ffff:192.0.2.0/120 -j ACCEPT\n-A INPUT -s 2001:db8::/32 -j ACCEPT\n"
        "COMMIT\n",
        name="rules.v6",
    )
    assert rs.families == (6,)
    assert verdict(rs, "::ffff:192.0.2.1") == ("accept", 4)
    assert verdict(rs, "2001:db8::1") == ("accept", 5)
    (mapped,) = [f for f in rs.findings if f.kind == "ipv4-mapped"]
    assert mapped.severity == "warning" and str(mapped.origin) == "rules.v6:4"
    assert "does not cover the IPv4 sender 192.0.2.0/24" in mapped.message


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="no-header"),
        pytest.param("-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT\n", id="icmpv6"),
        pytest.param("-A INPUT -m frag --fragmore -j DROP\n", id="frag"),
    ],
)
def test_an_export_whose_first_address_is_mapped_is_ipv6(header: str) -> None:
    # the kind of the export decides its family; a mapped address is IPv6, as written, so
    # a later ordinary IPv6 address is no mix of families
    rs = read(
        "*filter\n:INPUT DROP [0:0]\n"
        + header
        + "-A INPUT -s ::ffff:10.50.0.0/120 -p tcp -m tcp --dport 25 -j ACCEPT\n"
        "-A INPUT -s 2001:db8::/32 -p tcp -m tcp --dport 25 -j ACCEPT\nCOMMIT\n",
        name="rules",
    )
    assert rs.families == (6,)
    assert not rs.space.family(4)  # it says nothing about 10.50.0.7
    assert verdict(rs, "::ffff:10.50.0.7")[0] == "accept"
    assert verdict(rs, "2001:db8::1")[0] == "accept"


def test_the_kind_of_export_comes_before_its_first_address() -> None:
    # an iptables-save export cannot hold an IPv6 source, mapped or not
    with pytest.raises(ReaderError, match=r"rules:4: '::ffff:10.50.0.0/120' is IPv6 in an IPv4"):
        read(
            "# Generated by iptables-save v1.8.9\n*filter\n:INPUT DROP [0:0]\n"
            "-A INPUT -s ::ffff:10.50.0.0/120 -j ACCEPT\nCOMMIT\n",
            name="rules",
        )
    # a header-less ip6tables export is told by its ip6tables-only options, even before
    # its first address
    rs = read(
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -j REJECT --reject-with icmp6-port-unreachable\n"
        "COMMIT\n",
        name="rules",
    )
    assert rs.families == (6,)
    rs = read("*filter\n:INPUT DROP [0:0]\n-A INPUT -p icmp --icmp-type 8 -j ACCEPT\nCOMMIT\n")
    assert rs.families == (4,)


def test_source_ports_fixture() -> None:
    path = FIXTURES / "iptables_sport.v4"
    rs = read(path)
    expect(
        rs,
        path,
        {
            "192.0.2.1": ("accept", "-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 25"),
            "198.51.100.1": ("accept", "-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT"),
            "203.0.113.1": ("accept", "-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT"),
            "10.1.0.1": ("accept", "--sport 1024:65535 --dport 25"),
            "10.2.0.1": ("accept", "! --sport 25 --dport 25"),
            "10.3.0.1": ("accept", "--ports 1024:65535"),
            "10.4.0.1": ("drop", "! --ports 1:24 -j DROP"),
            "10.5.0.1": ("drop", "! --ports 1:24 -j DROP"),
            "10.5.128.1": ("accept", "--ctorigsrc 10.5.128.0/17"),
            "8.8.8.8": ("accept", "-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT"),
        },
    )
    assert rs.completeness is Completeness.COMPLETE


def test_docker_and_fail2ban_host() -> None:
    path = FIXTURES / "iptables_docker-fail2ban.v4"
    rs = read(path)
    expect(
        rs,
        path,
        {
            "203.0.113.66": ("drop", "-A f2b-postfix -s 203.0.113.66/32 -j REJECT"),
            "203.0.113.67": ("accept", "-A INPUT -s 203.0.113.0/24"),
            "192.0.2.1": ("accept", "-A INPUT -s 192.0.2.0/24"),
            "8.8.8.8": ("drop", ":INPUT DROP"),
        },
    )
    # Docker's "-i docker0 -j RETURN" in nat leaves every address going on either way
    assert rs.completeness is Completeness.COMPLETE
    # on its published port a connection from another interface goes to the container: the
    # INPUT policy does not see it, so the DROP there does not decide
    web = read(path, service="tcp/8080")
    assert verdict(web, "8.8.8.8") == ("conditional", line_of(path, "-A DOCKER -i docker0"))


def test_ipset_nomatch_entries_are_not_members() -> None:
    sets = parse_sets(
        "create allow hash:net family inet\n"
        "add allow 192.0.2.0/24\n"
        "add allow 192.0.2.0/28 nomatch\n",
        "sets.ipset",
    )[0]
    ctx = ReadContext("rules.v4", "declared", sets=sets)
    text = HEADER + "-A INPUT -p tcp -m set --match-set allow src -j ACCEPT\nCOMMIT\n"
    rs = reader_for("iptables-save").parse(text.encode(), ctx)
    assert verdict(rs, "192.0.2.20") == ("accept", 5)
    assert verdict(rs, "192.0.2.1") == ("drop", 2)


def test_a_user_chain_audited_alone_leaves_its_end_to_the_caller() -> None:
    """ufw's user.rules holds only user chains: what falls off the end of the audited chain
    is decided by the chains that call it, so it is conditional, never the ACCEPT a built-in
    chain without a policy line would give."""
    text = (
        "*filter\n:ufw-user-input - [0:0]\n"
        "-A ufw-user-input -p tcp --dport 25 -s 192.0.2.0/24 -j ACCEPT\n"
        "-A ufw-user-input -p tcp --dport 25 -s 198.51.100.0/24 -j DROP\nCOMMIT\n"
    )
    ctx = ReadContext("user.rules", "declared", chain="ufw-user-input")
    rs = reader_for("iptables-save").parse(text.encode(), ctx)
    assert verdict(rs, "192.0.2.1") == ("accept", 3)
    assert verdict(rs, "198.51.100.1") == ("drop", 4)
    assert verdict(rs, "203.0.113.1")[0] == "conditional"


@pytest.mark.parametrize(
    ("ports", "said"),
    [
        ("--dport 70000", "70000"),
        ("--dport 25:99999999999999999999", "99999999999999999999"),
        ("-m multiport --dports 25,65536", "65536"),
        ("--dport 30:20", "30:20"),
        ("--sport 1024:70000", "70000"),
    ],
)
def test_a_port_iptables_restore_refuses_is_an_error(ports: str, said: str) -> None:
    # iptables-restore refuses these lines; read as a match they would grant or deny
    # something the kernel never sees
    text = HEADER + f"-A INPUT -p tcp -m tcp {ports} -j ACCEPT\nCOMMIT\n"
    with pytest.raises(ReaderError, match=rf"rules.v4:5: .*{re.escape(said)}"):
        read(text)

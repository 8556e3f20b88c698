"""MikroTik RouterOS /export: hand-written exports whose verdicts are worked out from the
RouterOS manual, each case naming the rule (by line) that must decide.

Sources: MikroTik RouterOS manual, "Firewall > Filter"
(https://help.mikrotik.com/docs/display/ROS/Filter): rules are evaluated in order per chain,
accept/drop/reject end the evaluation, jump goes to jump-target and return comes back,
passthrough/log/add-src-to-address-list go on to the next rule; "Building Your First Firewall"
(https://help.mikrotik.com/docs/display/ROS/Building+Your+First+Firewall): a chain accepts what
no rule drops (the configurations end with a drop rule); "Address-lists"
(https://help.mikrotik.com/docs/display/ROS/Address-lists): entries are an address, a network, a
range or a DNS name, entries with a timeout are dynamic; "Scripting"
(https://help.mikrotik.com/docs/display/ROS/Scripting): a line ending in a backslash goes on.
No corpus file of this format exists under ../shared/corpus/firewall.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from auditor.allowlists import ReadContext, ReaderError, reader_for
from auditor.model import Completeness, RangeSet
from auditor.service import Service
from auditor.sources.files import detect_format
from tests.conftest import RunCli

EXPORT = """\
# 2024-05-01 10:00:00 by RouterOS 7.14.3
# software id = ABCD-1234
/interface list
add name=WAN
add name=LAN
/interface list member
add interface=ether1 list=WAN
add interface=bridge list=LAN
/ip firewall address-list
add address=192.0.2.0/24 list=relays
add address=198.51.100.7 comment="relay \\"two\\"" list=relays
add address=203.0.113.10-203.0.113.20 list=relays
add address=198.51.100.0/24 list=blocked
add address=192.0.2.9 disabled=yes list=blocked
add address=233.252.0.1 list=relays timeout=1d
add address=mx.example.net list=dnsrelays
/ip firewall filter
add action=accept chain=input comment=\\
    "defconf: accept established,related,untracked" connection-state=\\
    established,related,untracked
add action=drop chain=input connection-state=invalid
add action=log chain=input src-address=0.0.0.0/0
add action=drop chain=input src-address-list=blocked
add action=jump chain=input jump-target=smtp protocol=tcp dst-port=25,587
add action=drop chain=input disabled=yes src-address=192.0.2.0/24
add action=drop chain=input in-interface-list=WAN
add action=accept chain=smtp src-address-list=relays
add action=accept chain=smtp src-address-list=dnsrelays
add action=return chain=smtp src-address=10.0.0.0/8
add action=drop chain=smtp src-address=!172.16.0.0/12
/ipv6 firewall filter
add action=accept chain=input dst-port=25 protocol=tcp src-address=2001:db8::/32
add action=drop chain=input
"""
"""Line numbers: 18 the first input rule, 23 drop blocked, 24 jump smtp, 26 drop WAN, 27 accept
relays, 28 accept dnsrelays, 29 return 10/8, 30 drop not 172.16/12; 32-33 IPv6."""


def read(
    data: str,
    *,
    service: str = "tcp/25",
    chain: str = "INPUT",
    to: str | None = None,
    name: str = "router.rsc",
) -> RangeSet:
    ctx = ReadContext(name, "declared", service=Service.parse(service), chain=chain, to=to)
    return reader_for("mikrotik").parse(data.encode(), ctx)


def verdict(rs: RangeSet, address: str) -> tuple[str, int | None]:
    ip = ipaddress.ip_address(address)
    (v,) = [v for v in rs.verdicts if v.family == ip.version]
    seg = v.lookup(int(ip))
    assert seg is not None
    return seg.outcome, seg.rule.origin.line


def why(rs: RangeSet, address: str) -> str:
    ip = ipaddress.ip_address(address)
    (v,) = [v for v in rs.verdicts if v.family == ip.version]
    seg = v.lookup(int(ip))
    assert seg is not None
    return seg.rule.why


def text_of(rs: RangeSet, address: str) -> str:
    ip = ipaddress.ip_address(address)
    (v,) = [v for v in rs.verdicts if v.family == ip.version]
    seg = v.lookup(int(ip))
    assert seg is not None
    return seg.rule.text


def test_order_lists_jumps_and_the_default_accept() -> None:
    rs = read(EXPORT, chain="input:ether1")
    assert {a: verdict(rs, a) for a in (
        "192.0.2.5", "198.51.100.7", "203.0.113.15", "203.0.113.21", "10.1.2.3", "8.8.8.8",
        "172.16.5.5", "2001:db8::1", "2001:db9::1",
    )} == {
        "192.0.2.5": ("accept", 27),  # in relays: the smtp chain accepts it
        "198.51.100.7": ("drop", 23),  # in blocked too, and that rule comes first
        "203.0.113.15": ("accept", 27),  # a range entry
        "203.0.113.21": ("conditional", 28),  # past the range: the DNS-name list may hold it
        "10.1.2.3": ("conditional", 28),
        "8.8.8.8": ("conditional", 28),
        "172.16.5.5": ("conditional", 28),
        "2001:db8::1": ("accept", 32),
        "2001:db9::1": ("drop", 33),
    }  # fmt: skip
    assert "mx.example.net is resolved by DNS" in why(rs, "8.8.8.8")
    assert rs.completeness is Completeness.PARTIAL


def test_without_the_dns_list_the_rest_is_decided() -> None:
    rs = read(EXPORT.replace("add action=accept chain=smtp src-address-list=dnsrelays\n", ""))
    # 10/8 returns to input, where the WAN drop needs the interface: conditional; the
    # timeout entry is conditional; 172.16/12 is not dropped in smtp, goes back to input
    assert verdict(rs, "10.1.2.3") == ("conditional", 26)
    assert "give --chain input:INTERFACE" in why(rs, "10.1.2.3")
    assert verdict(rs, "8.8.8.8") == ("drop", 29)
    assert verdict(rs, "233.252.0.1") == ("conditional", 27)
    assert "timeout" in why(rs, "233.252.0.1")
    on_lan = read(EXPORT.replace("add action=accept chain=smtp src-address-list=dnsrelays\n", ""),
                  chain="input:bridge")  # fmt: skip
    assert verdict(on_lan, "10.1.2.3") == ("accept", 18)  # nothing drops it: RouterOS accepts
    seg = on_lan.verdicts[0].lookup(int(ipaddress.ip_address("10.1.2.3")))
    assert seg is not None and "no implicit drop" in seg.rule.text
    on_wan = read(EXPORT.replace("add action=accept chain=smtp src-address-list=dnsrelays\n", ""),
                  chain="input:ether1")  # fmt: skip
    assert verdict(on_wan, "10.1.2.3") == ("drop", 26)


def test_another_port_skips_the_jump_and_the_state_rule_never_matches_a_new_connection() -> None:
    rs = read(EXPORT, service="tcp/22", chain="input:bridge")
    assert verdict(rs, "192.0.2.5") == ("accept", 18)  # the end of input: accepted
    assert verdict(rs, "198.51.100.7") == ("drop", 23)
    on_wan = read(EXPORT, service="tcp/22", chain="input:ether1")
    assert verdict(on_wan, "192.0.2.5") == ("drop", 26)


def test_scopes_are_the_address_lists() -> None:
    rs = read(EXPORT)
    assert rs.make_objects is not None
    objects = rs.make_objects()
    groups: dict[str | None, list[str]] = {}
    for family in (4, 6):
        for i in range(objects.count(family)):
            e = objects.entry(family, i)
            groups.setdefault(e.group, []).append(e.text)
    assert groups["relays"] == ["192.0.2.0/24", "198.51.100.7/32", "203.0.113.10-203.0.113.20"]
    assert groups["blocked"] == ["198.51.100.0/24"]


FORWARD = """\
/ip firewall nat
add action=dst-nat chain=dstnat dst-port=25 protocol=tcp to-addresses=10.0.0.25 \\
    src-address=192.0.2.0/24
/ip firewall filter
add action=accept chain=forward connection-nat-state=dstnat
add action=accept chain=forward dst-address=10.0.0.25 src-address=198.51.100.0/24
add action=drop chain=forward
"""


def test_forward_chain_destination_and_dstnat() -> None:
    rs = read(FORWARD, chain="forward", to="10.0.0.25")
    assert verdict(rs, "198.51.100.1") == ("accept", 6)
    assert verdict(rs, "203.0.113.1") == ("drop", 7)
    assert verdict(rs, "192.0.2.1")[0] == "conditional"  # a dst-nat rule may rewrite it
    elsewhere = read(FORWARD, chain="forward", to="10.0.0.26")
    assert verdict(elsewhere, "198.51.100.1") == ("drop", 7)
    unknown = read(FORWARD, chain="forward")
    assert verdict(unknown, "198.51.100.1") == ("conditional", 6)
    assert "give --to" in why(unknown, "198.51.100.1")


def test_terse_verbose_blocks_place_before_and_set() -> None:
    terse = (
        "/ip firewall address-list add address=192.0.2.0/24 list=l\n"
        "/ip firewall filter add action=drop chain=input\n"
        '/ip firewall filter add action=accept chain=input comment="" src-address-list=l'
        ' place-before=0 log=no log-prefix=""\n'
    )
    rs = read(terse)
    assert verdict(rs, "192.0.2.1") == ("accept", 3)
    assert verdict(rs, "192.0.3.1") == ("drop", 2)
    block = (
        "/ip firewall {\n"
        "  filter add chain=input action=accept src-address=192.0.2.0/24\n"
        "  filter add chain=input action=drop\n"
        "}\n"
        "/ip/firewall/filter\n"
        "set 0 src-address=198.51.100.0/24\n"
        "set [find where action=drop] disabled=yes\n"
    )
    rs = read(block)
    assert verdict(rs, "198.51.100.1") == ("accept", 2)
    assert verdict(rs, "192.0.2.1") == ("accept", 2)  # the drop is disabled: accepted
    assert "no implicit drop" in text_of(rs, "192.0.2.1")


def test_service_any_and_ranges_of_ports() -> None:
    text = (
        "/ip firewall filter\n"
        "add chain=input action=accept protocol=tcp dst-port=1000-2000 src-address=192.0.2.0/24\n"
        "add chain=input action=accept src-address=198.51.100.0/24\n"
        "add chain=input action=drop\n"
    )
    rs = read(text, service="tcp/1500-1600")
    assert verdict(rs, "192.0.2.1") == ("accept", 2)
    assert verdict(read(text, service="tcp/1500-2500"), "192.0.2.1") == ("drop", 4)
    rs = read(text, service="any")
    assert verdict(rs, "192.0.2.1") == ("drop", 4)
    assert verdict(rs, "198.51.100.1") == ("accept", 3)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("/ip firewall filter\nadd chain=input action=drop src-address=2001:db8::1\n", 2, "IPv6"),
        ("/ip firewall filter\nadd action=drop\n", 2, "without chain"),
        ('/ip firewall filter\nadd chain=input comment="open\n', 2, "not closed"),
        ("/ip firewall filter\n:foreach i in=[find] do={}\n", 2, "script"),
        ("/ip firewall filter\nadd chain=input dst-port=smtp protocol=tcp\n", 2, "port"),
        ("/ip firewall filter\nadd chain=input action=jump\n", 2, "jump-target"),
        ("/ip firewall filter\nadd chain=input place-before=*1A\n", 2, "place-before"),
        ("/ip firewall filter\nprint\n", 2, "print"),
        # an export cut short inside a command: the rest of the rule (its src-address) is
        # lost, and what is left would accept every address
        ("/ip firewall filter\nadd action=accept chain=input \\\n", 2, "cut short"),
        ("/ip firewall filter\nadd action=accept chain=input \\", 2, "cut short"),
        (
            "/ip firewall filter\nadd chain=input action=jump jump-target=a\n"
            "add chain=a action=jump jump-target=b\nadd chain=b action=jump jump-target=a\n",
            4,
            "loop",
        ),
    ],
)
def test_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ReaderError, match=message) as got:
        read(text)
    assert got.value.line == line


def test_cli_error_exit_2_and_chain_choices(tmp_path: Path, run_cli: RunCli) -> None:
    bad = tmp_path / "r.rsc"
    bad.write_text("/ip firewall filter\nadd chain=input src-address=300.1.1.1\n")
    exp = tmp_path / "e.txt"
    exp.write_text("192.0.2.0/24\n")
    result = run_cli("diff", "-e", str(exp), "-d", str(bad))
    assert result.code == 2
    assert "r.rsc:2" in (result.stdout + result.stderr)
    good = tmp_path / "g.rsc"
    good.write_text(EXPORT)
    result = run_cli("diff", "-e", str(exp), "-d", str(good), "--chain", "output")
    assert result.code == 2
    assert "input:INTERFACE" in (result.stdout + result.stderr)


def test_unknown_matchers_are_conditional_and_listed() -> None:
    text = (
        "/ip firewall filter\n"
        "add chain=input action=drop src-address=192.0.2.0/24 time=8h-17h,mon,tue\n"
        "add chain=input action=accept\n"
    )
    rs = read(text)
    assert verdict(rs, "192.0.2.1") == ("conditional", 2)
    assert "time=8h-17h,mon,tue" in why(rs, "192.0.2.1")
    assert any("time=" in f.message for f in rs.findings)


def test_add_src_to_address_list_makes_the_list_dynamic() -> None:
    text = (
        "/ip firewall address-list\nadd address=198.51.100.1 list=scanners\n"
        "/ip firewall filter\n"
        "add chain=input action=add-src-to-address-list address-list=scanners protocol=tcp"
        " dst-port=23\n"
        "add chain=input action=drop src-address-list=scanners\n"
    )
    rs = read(text)
    assert verdict(rs, "198.51.100.1") == ("drop", 5)
    assert verdict(rs, "192.0.2.1") == ("conditional", 5)
    assert "adds addresses at run time" in why(rs, "192.0.2.1")


def test_families_not_in_the_export() -> None:
    rs = read("/ip firewall filter\nadd chain=input action=drop\n")
    assert [v.family for v in rs.verdicts] == [4]
    assert any(f.kind == "family-not-covered" for f in rs.findings)
    rs = read("/ip firewall filter\nadd chain=input action=drop\n/ipv6 address\nadd address=::1\n")
    assert verdict(rs, "2001:db8::1") == ("accept", None)  # no IPv6 filter at all


def test_detection(tmp_path: Path) -> None:
    assert detect_format("router.txt", EXPORT.encode()) == "mikrotik"
    assert detect_format("x.rsc", b"/ip firewall filter\n") == "mikrotik"
    terse = b"/ip firewall filter add chain=input action=drop\n"
    assert detect_format("-", terse) == "mikrotik"
    assert reader_for("routeros").name == "mikrotik"


def test_explain_names_the_rule_and_line(tmp_path: Path, run_cli: RunCli) -> None:
    path = tmp_path / "router.rsc"
    path.write_text(EXPORT)
    result = run_cli("explain", "198.51.100.7", "-d", str(path), "--service", "tcp/25")
    assert f"{path}:23: add action=drop chain=input src-address-list=blocked" in (
        result.stdout + result.stderr
    )
    assert "denied" in (result.stdout + result.stderr)

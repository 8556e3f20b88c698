"""Cisco IOS / IOS XE configurations (and IOS XR, NX-OS access lists): the inbound access
lists of an interface, evaluated for a new connection to the service.

The expected verdicts are worked out from Cisco's documentation:

- [ACL] "Configuring IP Access Lists", Cisco Document ID 23602
  (https://www.cisco.com/c/en/us/support/docs/security/ios-firewall/23602-confaccesslists.html):
  entries are tested in order and the first match decides; "an implicit deny ... at the end";
  wildcard masks ("0 bits ... must match, 1 bits ... do not matter"); numbers 1-99 and
  1300-1999 standard, 100-199 and 2000-2699 extended; ``established`` matches a TCP packet
  with the ACK or RST bit set; ``time-range``; ``ip access-group NAME in`` on an interface.
- [SEQ] "IP Access List Entry Sequence Numbering", Cisco IOS XE Security Configuration Guide
  (https://www.cisco.com/c/en/us/td/docs/ios-xml/ios/sec_data_acl/configuration/xe-16/sec-data-acl-xe-16-book/sec-acl-seq-num.html):
  entries are evaluated by sequence number; one without a number is added with the last
  number plus 10.
- [OG] "Object Groups for ACLs", Cisco IOS XE Security Configuration Guide
  (https://www.cisco.com/c/en/us/td/docs/ios-xml/ios/sec_data_acl/configuration/xe-16/sec-data-acl-xe-16-book/sec-object-group-acl.html):
  ``object-group network`` (host, network and mask, range, group-object) and
  ``object-group service``, used in place of addresses and of the protocol.
- [XR] "Implementing Access Lists and Prefix Lists", Cisco IOS XR IP Addresses and Services
  Configuration Guide: ``ipv4 access-list``, ``ipv4 access-group NAME ingress``.
- [NX] "Configuring IP ACLs", Cisco Nexus 9000 Series NX-OS Security Configuration Guide:
  ``ip access-list NAME`` with sequence numbers and prefixes, ``statistics per-entry``,
  ``object-group ip address`` used as ``addrgroup``.
- [V6] "IPv6 Access Control Lists", Cisco IOS XE Security Configuration Guide:
  ``ipv6 access-list NAME`` bound with ``ipv6 traffic-filter NAME in``.
"""

from __future__ import annotations

import pytest
from conftest import RunCli, WriteFile

from auditor import ipspace
from auditor.allowlists import ReadContext, ReaderError, reader_for
from auditor.model import RangeSet
from auditor.service import Service
from auditor.sources.files import detect_format


def read(
    text: str,
    service: str = "tcp/25",
    chain: str | None = None,
    to: str | None = None,
    name: str = "r1.cfg",
) -> RangeSet:
    ctx = ReadContext(name, "declared", service=Service.parse(service), chain=chain, to=to)
    return reader_for("ios").parse(text.encode(), ctx)


def verdict(rs: RangeSet, address: str) -> tuple[str, int | None, str]:
    """(outcome, line of the deciding rule, why) for one address."""
    fam, value, _ = ipspace.parse_address(address)
    for v in rs.verdicts:
        if v.family == fam:
            seg = v.lookup(value)
            assert seg is not None
            return seg.outcome, seg.rule.origin.line, seg.rule.why
    raise AssertionError(f"IPv{fam} not covered")


EDGE = """\
hostname edge
!
object-group network MAILERS
 description provider relays
 host 192.0.2.10
 198.51.100.0 255.255.255.0
 range 203.0.113.5 203.0.113.9
!
interface GigabitEthernet0/0
 description uplink
 ip address 10.0.0.1 255.255.255.0
 ip access-group OUTSIDE_IN in
 ip access-group OUTSIDE_OUT out
!
interface GigabitEthernet0/1
 ip address 10.1.0.1 255.255.255.0
!
ip access-list extended OUTSIDE_IN
 remark the blocked relay first
 10 deny tcp host 198.51.100.7 any eq smtp
 20 permit tcp object-group MAILERS host 10.0.0.25 eq smtp
 30 permit tcp 192.0.2.0 0.0.0.255 any eq 25 established
 40 permit tcp any any eq 587
 50 deny ip any any log
ip access-list extended OUTSIDE_OUT
 permit ip any any
"""


def test_first_match_object_group_ports_by_name_and_implicit_deny() -> None:
    # [ACL] first match; [OG] the group's host, mask and range members; smtp is port 25
    rs = read(EDGE, to="10.0.0.25")
    assert verdict(rs, "198.51.100.7") == ("drop", 20, "")
    assert verdict(rs, "198.51.100.8")[:2] == ("accept", 21)
    assert verdict(rs, "192.0.2.10")[:2] == ("accept", 21)
    assert verdict(rs, "203.0.113.5")[:2] == ("accept", 21)
    assert verdict(rs, "203.0.113.9")[:2] == ("accept", 21)
    assert verdict(rs, "203.0.113.10")[:2] == ("drop", 24)
    # established never matches a new connection: 192.0.2.11 meets the deny at 50
    assert verdict(rs, "192.0.2.11")[:2] == ("drop", 24)
    assert rs.info.detail == "interface GigabitEthernet0/0 (access-list OUTSIDE_IN in)"
    assert [v.family for v in rs.verdicts] == [4]  # no ipv6 traffic-filter: not covered
    assert any(f.kind == "not-covered" for f in rs.findings)


def test_the_destination_is_checked_against_to() -> None:
    rs = read(EDGE)  # no --to: the permit for host 10.0.0.25 may or may not be the server
    outcome, line, why = verdict(rs, "192.0.2.10")
    assert (outcome, line) == ("conditional", 21) and "give --to" in why
    rs = read(EDGE, to="10.0.0.26")  # another server: the permit does not apply
    assert verdict(rs, "192.0.2.10")[:2] == ("drop", 24)


def test_other_services_and_port_operators() -> None:
    rs = read(EDGE, service="tcp/587", to="10.0.0.25")
    assert verdict(rs, "192.0.2.10")[:2] == ("accept", 23)
    assert verdict(rs, "198.51.100.7")[:2] == ("accept", 23)  # the deny is for port 25 only
    text = """\
ip access-list extended P
 permit tcp any any neq 25
 permit tcp 192.0.2.0 0.0.0.255 any lt 26
 permit tcp 198.51.100.0 0.0.0.255 any gt 24
 permit tcp 203.0.113.0 0.0.0.255 any range 20 24
 permit udp any any eq 25
"""
    rs = read(text)
    assert verdict(rs, "192.0.2.1")[:2] == ("accept", 3)
    assert verdict(rs, "198.51.100.1")[:2] == ("accept", 4)
    assert verdict(rs, "203.0.113.1")[:2] == ("drop", 1)
    rs = read(text, service="tcp/26")
    assert verdict(rs, "203.0.113.1")[:2] == ("accept", 2)  # neq 25


def test_wildcard_masks_contiguous_and_not() -> None:
    # [ACL] a wildcard's 0 bits must match: 10.0.0.0 0.0.255.0 is 10.0.X.0 for every X
    text = """\
access-list 110 permit tcp 10.0.0.0 0.0.255.0 any eq smtp
access-list 110 permit tcp 172.16.0.0 0.15.255.255 any eq smtp
access-list 110 deny   tcp 0.0.0.1 255.255.255.254 any eq smtp
access-list 110 permit tcp any any eq smtp
interface Gi0/0
 ip access-group 110 in
"""
    rs = read(text)
    assert verdict(rs, "10.0.5.0")[:2] == ("accept", 1)
    assert verdict(rs, "10.0.255.0")[:2] == ("accept", 1)
    assert verdict(rs, "172.31.255.255")[:2] == ("accept", 2)
    # 0.0.0.1 255.255.255.254: every odd address, 2**31 ranges, too many to list: the
    # addresses it spans are conditional (even ones too), never guessed either way
    for address in ("10.0.5.1", "172.32.0.0"):
        outcome, line, why = verdict(rs, address)
        assert (outcome, line) == ("conditional", 3) and "wildcard" in why
    accepted = [s for s in rs.verdicts[0].segments if s.outcome == "accept"]
    # the first entry's 256 addresses are listed exactly (each X in 10.0.X.0 a range)
    assert sum(1 for s in accepted if s.first >> 16 == 0x0A00) == 256


def test_standard_acls_numbered_and_named_match_every_protocol() -> None:
    text = """\
access-list 10 remark relays
access-list 10 deny   192.0.2.7
access-list 10 permit 192.0.2.0 0.0.0.255
access-list 10 permit host 198.51.100.1
ip access-list standard NAMED
 permit 203.0.113.0 0.0.0.127
interface FastEthernet0/0
 ip access-group 10 in
interface FastEthernet0/1
 ip access-group NAMED in
"""
    rs = read(text, chain="Fa0/0", service="any")
    assert verdict(rs, "192.0.2.7")[:2] == ("drop", 2)
    assert verdict(rs, "192.0.2.8")[:2] == ("accept", 3)
    assert verdict(rs, "198.51.100.1")[:2] == ("accept", 4)
    assert verdict(rs, "198.51.100.2")[:2] == ("drop", 1)  # implicit deny, the list's line
    rs = read(text, chain="FastEthernet0/1")
    assert verdict(rs, "203.0.113.127")[:2] == ("accept", 6)
    assert verdict(rs, "203.0.113.128")[:2] == ("drop", 5)


def test_sequence_numbers_order_the_entries() -> None:
    # [SEQ] entry 5, added later in the file, is evaluated first; an entry without a number
    # comes after the highest
    text = """\
ip access-list extended SEQ
 20 permit tcp any any eq 25
 5 deny tcp 192.0.2.0 0.0.0.255 any eq 25
 deny tcp any any eq 25
"""
    rs = read(text)
    assert verdict(rs, "192.0.2.1")[:2] == ("drop", 3)
    assert verdict(rs, "198.51.100.1")[:2] == ("accept", 2)


def test_a_duplicate_sequence_number_is_an_error_with_its_line() -> None:
    text = "ip access-list extended D\n 10 permit tcp any any eq 25\n 10 deny ip any any\n"
    with pytest.raises(ReaderError) as info:
        read(text)
    assert info.value.line == 3 and "sequence number 10" in str(info.value)


def test_time_range_and_unknown_words_are_conditional_never_guessed() -> None:
    text = """\
time-range OFFICE
 periodic weekdays 8:00 to 18:00
ip access-list extended T
 permit tcp 192.0.2.0 0.0.0.255 any eq 25 time-range OFFICE
 permit tcp 198.51.100.0 0.0.0.255 any eq 25 frobnicate 3
 permit tcp 203.0.113.0 0.0.0.255 any eq 25 dscp ef
"""
    rs = read(text)
    outcome, line, why = verdict(rs, "192.0.2.1")
    assert (outcome, line) == ("conditional", 4) and "time-range OFFICE" in why
    outcome, line, why = verdict(rs, "198.51.100.1")
    assert (outcome, line) == ("conditional", 5) and "frobnicate" in why
    assert any("r1.cfg:5" in f.message for f in rs.findings if f.kind == "unsupported")
    outcome, line, why = verdict(rs, "203.0.113.1")
    assert (outcome, line) == ("conditional", 6) and "dscp ef" in why
    assert rs.completeness.value == "partial"


def test_ipv6_traffic_filter() -> None:
    # [V6]
    text = """\
interface GigabitEthernet0/0
 ip access-group V4 in
 ipv6 traffic-filter V6 in
ip access-list extended V4
 permit tcp any any eq smtp
ipv6 access-list V6
 deny tcp host 2001:db8::7 any eq smtp
 permit tcp 2001:db8::/32 any eq smtp sequence 20
"""
    rs = read(text)
    assert verdict(rs, "2001:db8::7")[:2] == ("drop", 7)
    assert verdict(rs, "2001:db8::8")[:2] == ("accept", 8)
    assert verdict(rs, "2001:db9::1")[:2] == ("drop", 6)
    assert verdict(rs, "192.0.2.1")[:2] == ("accept", 5)


def test_the_interface_choice() -> None:
    text = (
        EDGE.replace(
            "interface GigabitEthernet0/1\n",
            "interface GigabitEthernet0/1\n ip access-group ALL in\n",
        )
        + "ip access-list extended ALL\n permit ip any any\n"
    )
    with pytest.raises(ReaderError) as info:
        read(text)
    assert "2 interfaces" in str(info.value)
    assert "GigabitEthernet0/0 (OUTSIDE_IN)" in (info.value.hint or "")
    assert "GigabitEthernet0/1 (ALL)" in (info.value.hint or "")
    # (EDGE's 26 lines and the one inserted: OUTSIDE_OUT's permit is line 27, ALL's 29)
    assert verdict(read(text, chain="Gi0/1"), "203.0.113.10")[:2] == ("accept", 29)
    assert verdict(read(text, chain="gigabitethernet0/0"), "203.0.113.10")[0] == "drop"
    # an access list by name
    assert verdict(read(text, chain="OUTSIDE_OUT"), "203.0.113.10")[:2] == ("accept", 27)
    with pytest.raises(ReaderError) as info:
        read(text, chain="Gi0/9")
    assert "no interface or access list 'Gi0/9'" in str(info.value)
    assert "OUTSIDE_IN" in (info.value.hint or "")


def test_missing_references_and_loops_are_errors_with_lines() -> None:
    undefined_acl = "interface Gi0/0\n ip access-group NOPE in\n"
    with pytest.raises(ReaderError) as info:
        read(undefined_acl)
    assert info.value.line == 2 and "NOPE" in str(info.value)
    undefined_group = "ip access-list extended A\n permit tcp object-group G any eq 25\n"
    with pytest.raises(ReaderError) as info:
        read(undefined_group)
    assert info.value.line == 2 and "object group G is not defined" in str(info.value)
    assert info.value.hint
    loop = """\
object-group network A
 group-object B
object-group network B
 host 192.0.2.1
 group-object A
ip access-list extended L
 permit tcp object-group A any eq 25
"""
    with pytest.raises(ReaderError) as info:
        read(loop)
    assert "loop: A -> B -> A" in str(info.value) and info.value.line == 5


def test_nested_groups_and_service_groups() -> None:
    # [OG] a service group in place of the protocol; nested network groups
    text = """\
object-group network INNER
 192.0.2.0 255.255.255.128
object-group network OUTER
 group-object INNER
 host 198.51.100.1
 2001:db8::/48
object-group service MAIL
 tcp eq smtp
 tcp-udp range 587 588
object-group service WEB
 tcp eq www
ip access-list extended N
 permit object-group WEB object-group OUTER any
 permit object-group MAIL object-group OUTER any
ipv6 access-list N6
 permit tcp object-group OUTER any eq 25
interface Gi0/0
 ip access-group N in
 ipv6 traffic-filter N6 in
"""
    rs = read(text)
    assert verdict(rs, "192.0.2.127")[:2] == ("accept", 14)
    assert verdict(rs, "192.0.2.128")[:2] == ("drop", 12)
    assert verdict(rs, "198.51.100.1")[:2] == ("accept", 14)
    assert verdict(rs, "2001:db8:0:ffff::1")[:2] == ("accept", 16)
    assert verdict(rs, "2001:db8:1::1")[:2] == ("drop", 15)
    rs = read(text, service="tcp/80")
    assert verdict(rs, "198.51.100.1")[:2] == ("accept", 13)
    # the groups are scopes: their addresses, nested members included, with their lines
    assert rs.make_objects is not None
    objects = rs.make_objects()
    index = objects.groups.index("OUTER")
    outer = sorted(
        (line, fam)
        for fam in (4, 6)
        for line, group in zip(
            objects.family(fam).line, objects.family(fam).group or [], strict=True
        )
        if group == index
    )
    assert outer == [(2, 4), (5, 4), (6, 6)]


def test_ios_xr_access_lists() -> None:
    # [XR]
    text = """\
object-group network ipv4 RELAYS
 192.0.2.0/25
 host 198.51.100.1
object-group port SMTP
 eq smtp
interface GigabitEthernet0/0/0/0
 ipv4 access-group EDGE ingress
 ipv4 access-group EDGE egress
ipv4 access-list EDGE
 10 remark relays
 20 permit tcp net-group RELAYS any port-group SMTP
 30 deny ipv4 any any
"""
    rs = read(text)
    assert rs.info.detail == "interface GigabitEthernet0/0/0/0 (access-list EDGE in)"
    assert verdict(rs, "192.0.2.1")[:2] == ("accept", 11)
    assert verdict(rs, "192.0.2.200")[:2] == ("drop", 12)
    assert verdict(rs, "198.51.100.1")[:2] == ("accept", 11)
    assert detect_format("edge.cfg", text.encode()) == "ios"


def test_nx_os_access_lists() -> None:
    # [NX]
    text = """\
object-group ip address RELAYS
  10 host 192.0.2.1
  20 198.51.100.0/24
ip access-list MAIL-IN
  statistics per-entry
  10 permit tcp addrgroup RELAYS any eq smtp
  20 permit tcp 203.0.113.0/24 any eq 25
  30 deny ip any any
interface Ethernet1/1
  ip access-group MAIL-IN in
"""
    rs = read(text)
    assert verdict(rs, "192.0.2.1")[:2] == ("accept", 6)
    assert verdict(rs, "198.51.100.255")[:2] == ("accept", 6)
    assert verdict(rs, "203.0.113.1")[:2] == ("accept", 7)
    assert verdict(rs, "192.0.2.2")[:2] == ("drop", 8)
    assert detect_format("nx.cfg", text.encode()) == "ios"


def test_an_asa_configuration_is_not_claimed() -> None:
    asa = (
        "ASA Version 9.8\nobject-group network MAIL\n network-object 192.0.2.0 255.255.255.0\n"
        "access-list OUT extended permit tcp object-group MAIL any eq smtp\n"
        "access-group OUT in interface outside\n"
    )
    assert detect_format("asa.cfg", asa.encode()) != "ios"


def test_show_access_lists_output_is_refused_with_what_to_give() -> None:
    show = "Extended IP access list 101\n    10 permit tcp any any eq smtp (3 matches)\n"
    with pytest.raises(ReaderError) as info:
        read(show)
    assert "looks like the output of show access-lists" in str(info.value)
    assert "show running-config" in (info.value.hint or "")


def test_explain_names_the_deciding_entry(run_cli: RunCli, write: WriteFile) -> None:
    write("edge.cfg", EDGE)
    code, out, _ = run_cli(
        "explain", "198.51.100.7", "-d", "edge.cfg", "--service", "tcp/25", "--to", "10.0.0.25"
    )
    assert "denied: edge.cfg:20: access-list OUTSIDE_IN: 10 deny tcp host 198.51.100.7" in out
    code, out, _ = run_cli(
        "explain", "192.0.2.10", "-d", "edge.cfg", "--service", "tcp/25", "--to", "10.0.0.25"
    )
    assert code == 0 and "allowed: edge.cfg:21: access-list OUTSIDE_IN: 20 permit" in out


def test_diff_scope_is_an_object_group_and_bad_input_exits_2(
    run_cli: RunCli, write: WriteFile
) -> None:
    write("edge.cfg", EDGE)
    write("expected.txt", "192.0.2.10\n198.51.100.0/24\n")
    code, out, err = run_cli(
        "diff", "-e", "expected.txt", "-d", "edge.cfg", "--to", "10.0.0.25", "--scope", "MAILERS"
    )
    assert code == 1, out + err  # 198.51.100.7 is denied by entry 10
    assert "198.51.100.7" in out and "203.0.113.5" in out  # missing; extra in the scope
    write("bad.cfg", "interface Gi0/0\n ip access-group NOPE in\n")
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "bad.cfg", "--format", "ios")
    assert code == 2 and "bad.cfg:2" in err


OUT_CFG = """\
hostname r1
interface GigabitEthernet0/0
 ip address 198.51.100.1 255.255.255.0
 ip access-group EDGE in
interface GigabitEthernet0/1
 ip address 10.0.0.1 255.255.255.0
 ipv6 address 2001:db8:10::1/64
 ip access-group SERVERS out
interface GigabitEthernet0/2
 ip address 172.16.0.1 255.255.255.0
 ip access-group LAB out
ip access-list extended EDGE
 permit tcp any any eq smtp
ip access-list extended SERVERS
 deny ip 192.0.2.0 0.0.0.255 any
 permit ip any any
ip access-list extended LAB
 deny ip 203.0.113.0 0.0.0.255 any
 permit ip any any
"""


def test_an_outbound_list_on_the_servers_interface_also_filters() -> None:
    # [ACL]: "ip access-group NAME out" filters the packets leaving by that interface: a
    # connection that comes in on Gi0/0 meets EDGE, then the out list of the interface the
    # server is behind. Which one that is comes from --to and the interfaces' subnets; without
    # it, an out list's denies may or may not apply: conditional, never allowed
    rs = read(OUT_CFG, chain="Gi0/0")
    assert verdict(rs, "198.51.100.7")[0] == "accept"
    outcome, line, why = verdict(rs, "192.0.2.5")
    assert (outcome, line) == ("conditional", 15) and "GigabitEthernet0/1" in why
    assert verdict(rs, "203.0.113.5")[0] == "conditional"
    rs = read(OUT_CFG, chain="Gi0/0", to="10.0.0.25")
    assert verdict(rs, "192.0.2.5")[:2] == ("drop", 15)
    assert verdict(rs, "203.0.113.5")[0] == "accept"  # LAB filters the other way out
    rs = read(OUT_CFG, chain="Gi0/0", to="172.16.0.9")
    assert verdict(rs, "192.0.2.5")[0] == "accept"
    assert verdict(rs, "203.0.113.5")[:2] == ("drop", 18)
    rs = read(OUT_CFG, chain="Gi0/0", to="192.168.7.7")  # behind a router: any interface
    assert verdict(rs, "192.0.2.5")[0] == "conditional"


def test_a_huge_line_is_not_echoed_whole(run_cli: RunCli, write: WriteFile) -> None:
    junk = "x" * 200_000
    write("r1.cfg", f"ip access-list extended A\n permit tcp any any eq smtp {junk}\n")
    write("exp.txt", "192.0.2.1\n")
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "r1.cfg", "--format", "ios")
    assert code == 2
    assert "r1.cfg:2" in out + err and len(out) + len(err) < 20_000

"""The Cisco ASA reader: hand-written configurations whose allowed and denied sources for
tcp/25 are worked out here from Cisco's documentation:

- "Access Control Lists" (ACL entries are matched in order, first match; an implicit deny
  ends every list; ``inactive``, ``remark``, ``time-range``, ``eq/lt/gt/neq/range``):
  cisco.com/c/en/us/td/docs/security/asa/asa922/configuration/firewall/
  asa-922-firewall-config/access-acls.html
- "Objects for Access Control" (network objects, nested ``object-group network``,
  ``object-group service`` with ``port-object`` and ``service-object``):
  .../asa-922-firewall-config/access-objects.html
- "Access Rules" ("Interface access rules are processed before global access rules";
  "If you configure a global access rule, then the implicit deny comes after the global rule
  is processed"; without an access rule, traffic from a higher to a lower security level is
  allowed, from lower to higher denied): .../asa-922-firewall-config/access-rules.html
- "Addresses, Protocols, and Ports" (``smtp`` is TCP 25):
  cisco.com/c/en/us/td/docs/security/asa/roadmap/asaportref.html
"""

from __future__ import annotations

import json

import pytest
from conftest import RunCli, WriteFile

from auditor import ipspace
from auditor.allowlists.appliances.fronts import AsaReader
from auditor.allowlists.base import ReadContext, ReaderError
from auditor.model import Origin, RangeSet, RuleRef
from auditor.service import Service
from auditor.sources.files import detect_format

CONFIG = """\
: Saved
ASA Version 9.16(4)
!
hostname edge
names
name 192.0.2.5 mailrelay
!
interface GigabitEthernet0/0
 nameif outside
 security-level 0
 ip address 198.51.100.1 255.255.255.0
!
interface GigabitEthernet0/1
 nameif inside
 security-level 100
 ip address 10.0.0.1 255.255.255.0
 ipv6 address 2001:db8:10::1/64
!
interface GigabitEthernet0/2
 nameif dmz
 security-level 50
 ip address 172.16.0.1 255.255.255.0
!
object network MX
 host 10.0.0.25
object network MX6
 host 2001:db8:10::25
object network PARTNER-RANGE
 range 203.0.113.10 203.0.113.19
object-group network PARTNERS
 network-object object PARTNER-RANGE
 network-object 198.18.0.0 255.255.255.0
object-group network SENDERS
 group-object PARTNERS
 network-object host 192.0.2.99
 network-object 2001:db8:99::/48
object-group service SMTP-PORTS tcp
 port-object eq smtp
 port-object range 587 587
object-group service MAIL-SVC
 service-object tcp destination eq 25
 service-object udp destination eq 53
!
access-list outside_in remark mail from the partners
access-list outside_in extended deny ip host 203.0.113.13 any
access-list outside_in extended permit tcp object-group SENDERS object MX object-group SMTP-PORTS
access-list outside_in extended permit tcp object-group SENDERS object MX6 eq smtp
access-list outside_in extended permit tcp host mailrelay object MX eq 25 log
access-list outside_in extended permit tcp 100.64.0.0 255.255.0.0 any eq 25 inactive
access-list outside_in extended permit tcp 100.65.0.0 255.255.0.0 any eq 25 time-range WORKHOURS
access-list outside_in extended permit tcp 100.66.0.0 255.255.0.0 any neq 25
access-list outside_in extended permit tcp 100.67.0.0 255.255.0.0 any lt 26
access-list outside_in extended permit tcp 100.68.0.0 255.255.0.0 any gt 25
access-list outside_in extended permit object-group MAIL-SVC 100.69.0.0 255.255.0.0 any
access-list outside_in extended permit tcp any4 host 10.0.0.99 eq 25
access-list outside_in extended deny tcp any any eq smtp
access-list GLOBAL extended permit tcp 100.70.0.0 255.255.0.0 any eq 25
access-list dmz_in extended permit tcp 172.16.0.0 255.255.255.0 any eq 25
access-group outside_in in interface outside
access-group dmz_in in interface dmz
access-group GLOBAL global
time-range WORKHOURS
 periodic weekdays 8:00 to 18:00
"""


def read(
    text: str,
    chain: str | None = None,
    to: str | None = "10.0.0.25",
    service: str = "tcp/25",
) -> RangeSet:
    ctx = ReadContext("fw.cfg", "declared", service=Service.parse(service), chain=chain, to=to)
    return AsaReader().parse(text.encode(), ctx)


def verdict(rs: RangeSet, address: str) -> tuple[str, RuleRef]:
    fam, value, _ = ipspace.parse_address(address)
    [v] = [v for v in rs.verdicts if v.family == fam]
    seg = v.lookup(value)
    assert seg is not None
    return seg.outcome, seg.rule


def outcome(rs: RangeSet, address: str) -> str:
    return verdict(rs, address)[0]


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_order_groups_names_and_the_implicit_deny() -> None:
    rs = read(CONFIG, "outside")
    # the deny of one host of the range comes first; the rest of the nested range is allowed
    deny = "access-list outside_in extended deny ip host 203.0.113.13 any"
    assert verdict(rs, "203.0.113.13") == (
        "drop",
        RuleRef(Origin("fw.cfg", line_of(CONFIG, deny)), deny),
    )
    assert outcome(rs, "203.0.113.10") == outcome(rs, "203.0.113.19") == "accept"
    assert outcome(rs, "203.0.113.20") == "drop"  # outside the range: the explicit deny
    assert outcome(rs, "198.18.0.200") == "accept"  # network-object A MASK in a nested group
    assert outcome(rs, "192.0.2.99") == "accept"
    assert verdict(rs, "192.0.2.5")[1].origin.line == line_of(CONFIG, "host mailrelay")
    # an address no entry permits meets the explicit deny of smtp
    _, rule = verdict(rs, "8.8.8.8")
    assert rule.origin.line == line_of(CONFIG, "deny tcp any any eq smtp")


def test_ipv6_prefixes_and_the_destination_family() -> None:
    # with an IPv6 --to the IPv6 entry to MX6 decides; the IPv4 ones say "give --to"
    rs = read(CONFIG, "outside", to="2001:db8:10::25")
    assert outcome(rs, "2001:db8:99::1") == "accept"
    assert outcome(rs, "2001:db8:98::1") == "drop"
    # IPv4 entries to the IPv4 MX are conditional: --to says nothing of IPv4
    assert outcome(rs, "192.0.2.5") == "conditional"


def test_ports_inactive_and_time_range() -> None:
    rs = read(CONFIG, "outside")
    assert outcome(rs, "100.64.0.1") == "drop"  # inactive: never matches
    got, rule = verdict(rs, "100.65.0.1")
    assert got == "conditional" and "time-range WORKHOURS" in rule.why
    assert outcome(rs, "100.66.0.1") == "drop"  # neq 25
    assert outcome(rs, "100.67.0.1") == "accept"  # lt 26
    assert outcome(rs, "100.68.0.1") == "drop"  # gt 25
    assert outcome(rs, "100.69.0.1") == "accept"  # service-object tcp destination eq 25
    rs587 = read(CONFIG, "outside", service="tcp/587")
    assert outcome(rs587, "198.18.0.1") == "accept"  # port-object range 587 587
    assert outcome(rs587, "192.0.2.5") == "drop"  # eq 25 only
    rs_udp = read(CONFIG, "outside", service="udp/53")
    assert outcome(rs_udp, "100.69.0.1") == "accept"  # service-object udp destination eq 53


def test_the_destination_is_evaluated_with_to() -> None:
    other = read(CONFIG, "outside", to="10.0.0.99")
    # the permits to MX do not match; any4 to host 10.0.0.99 does
    for address in ("192.0.2.99", "192.0.2.5", "8.8.8.8"):
        got, rule = verdict(other, address)
        assert (got, rule.origin.line) == ("accept", line_of(CONFIG, "host 10.0.0.99"))
    assert outcome(other, "2001:db8:99::1") == "conditional"  # an IPv4 --to: the IPv6 one?
    unknown = read(CONFIG, "outside", to=None)
    got, rule = verdict(unknown, "192.0.2.99")
    assert got == "conditional" and "destination 10.0.0.25" in rule.why and "--to" in rule.why


def test_interface_acl_then_global_then_implicit_deny() -> None:
    dmz = read(CONFIG, "dmz")
    assert outcome(dmz, "172.16.0.9") == "accept"
    assert verdict(dmz, "100.70.0.1")[1].origin.line == line_of(CONFIG, "GLOBAL extended")
    got, rule = verdict(dmz, "8.8.8.8")
    assert got == "drop" and "implicit deny after the global access-list GLOBAL" in rule.text
    # the outside list ends in an explicit deny of smtp: the global list is never reached
    assert outcome(read(CONFIG, "outside"), "100.70.0.1") == "drop"
    # --chain may name the access list instead of the interface
    assert outcome(read(CONFIG, "dmz_in"), "172.16.0.9") == "accept"


def test_an_ambiguous_or_unknown_chain_lists_the_choices() -> None:
    with pytest.raises(ReaderError) as info:
        read(CONFIG)
    assert "several interfaces" in str(info.value)
    assert "outside (access-list outside_in)" in str(info.value.hint)
    with pytest.raises(ReaderError) as info:
        read(CONFIG, "wan")
    assert "no interface or access list 'wan'" in str(info.value)
    assert "dmz (access-list dmz_in)" in str(info.value.hint)


LEVELS = """\
ASA Version 9.12
interface Gi0/0
 nameif outside
 security-level 0
 ip address 198.51.100.1 255.255.255.0
interface Gi0/1
 nameif inside
 ip address 10.0.0.1 255.255.255.0
interface Gi0/2
 nameif dmz
 security-level 50
 ip address 172.16.0.1 255.255.255.0
"""


def test_security_levels_decide_without_an_access_list() -> None:
    # outside (0) to inside (100, the default of nameif inside): lower to higher, denied
    got, rule = verdict(read(LEVELS, "outside", to="10.0.0.25"), "192.0.2.1")
    assert got == "drop" and "security-level 0" in rule.text
    # dmz (50) to outside (0): higher to lower, allowed
    assert outcome(read(LEVELS, "dmz", to="198.51.100.7"), "172.16.0.5") == "accept"
    # dmz to the inside is denied; without --to the dmz could reach either: conditional
    assert outcome(read(LEVELS, "dmz", to="10.0.0.25"), "172.16.0.5") == "drop"
    got, rule = verdict(read(LEVELS, "dmz", to=None), "172.16.0.5")
    assert got == "conditional" and "give --to" in rule.why
    # outside is the lowest level: denied whatever the destination
    assert outcome(read(LEVELS, "outside", to=None), "192.0.2.1") == "drop"
    # equal levels pass only with same-security-traffic permit inter-interface
    same = LEVELS.replace("security-level 50", "security-level 0")
    assert outcome(read(same, "dmz", to="198.51.100.7"), "192.0.2.1") == "drop"
    same += "same-security-traffic permit inter-interface\n"
    assert outcome(read(same, "dmz", to="198.51.100.7"), "192.0.2.1") == "accept"


def test_an_outbound_access_list_on_the_servers_interface_applies() -> None:
    text = CONFIG + (
        "access-list inside_out extended deny tcp host 192.0.2.99 any eq 25\n"
        "access-list inside_out extended permit ip any any\n"
        "access-group inside_out out interface inside\n"
    )
    rs = read(text, "outside")
    got, rule = verdict(rs, "192.0.2.99")
    assert got == "drop" and rule.origin.line == line_of(text, "inside_out extended deny")
    assert outcome(rs, "198.18.0.1") == "accept"
    # without --to the server may be behind another interface: the outbound drop is unsure
    got, rule = verdict(read(text, "outside", to=None), "192.0.2.99")
    assert got == "conditional"


FQDN = """\
ASA Version 9.16
interface Gi0/0
 nameif outside
 ip address 198.51.100.1 255.255.255.0
object network partner
 fqdn v4 mail.partner.example
object network srv
 host 10.0.0.25
access-list in extended permit tcp object partner object srv eq smtp
access-list in extended permit tcp any interface outside eq smtp
access-list in extended deny ip any any
access-group in in interface outside
"""


def test_fqdn_objects_and_interface_destinations_are_conditional() -> None:
    rs = read(FQDN)
    got, rule = verdict(rs, "192.0.2.1")
    assert got == "conditional" and "fqdn mail.partner.example" in rule.why
    # IPv6 is not in the fqdn v4 object and not a destination of the interface entry
    assert outcome(rs, "2001:db8::1") == "drop"
    # an interface whose address the configuration does not give
    got, rule = verdict(
        read(FQDN.replace(" ip address 198.51.100.1 255.255.255.0\n", "")), "2001:db8::1"
    )
    assert got == "conditional" and "interface outside" in rule.text


def test_a_cycle_of_groups_is_an_error_with_its_line() -> None:
    text = (
        "ASA Version 9.16\nobject-group network A\n group-object B\n"
        "object-group network B\n group-object A\n"
        "access-list in extended permit tcp object-group A any eq 25\n"
    )
    with pytest.raises(ReaderError) as info:
        read(text)
    assert "contains itself: A -> B -> A" in str(info.value) and info.value.line == 2


def test_an_undefined_group_is_an_error_on_the_cli(run_cli: RunCli, write: WriteFile) -> None:
    write("fw.cfg", "ASA Version 9.16\naccess-list in extended permit tcp object-group GONE"
                    " any eq 25\naccess-group in in interface outside\n")  # fmt: skip
    write("e.txt", "192.0.2.0/24\n")
    code, _, err = run_cli("diff", "-e", "e.txt", "-d", "fw.cfg", "--to", "10.0.0.25")
    assert code == 2
    assert "fw.cfg:2: object-group GONE is not defined" in err and "define GONE" in err


def test_detected_by_content_and_show_output_refused(run_cli: RunCli, write: WriteFile) -> None:
    assert detect_format("running.txt", CONFIG.encode()) == "asa"
    assert detect_format("fw.cfg", b"interface x\n ip address 10.0.0.1 255.0.0.0\n") != "asa"
    show = (
        "access-list outside_in; 2 elements; name hash: 0x1\n"
        "access-list outside_in line 1 extended permit tcp any host 10.0.0.25 eq smtp"
        " (hitcnt=4) 0x2\n"
    )
    write("show.txt", show)
    write("e.txt", "192.0.2.0/24\n")
    code, _, err = run_cli("diff", "-e", "e.txt", "-d", "show.txt")
    assert code == 2 and "looks like `show access-list` output" in err
    assert "show running-config" in err
    code, _, err = run_cli("diff", "-e", "e.txt", "-d", "show.txt", "--format", "cisco-asa")
    assert code == 2 and "show running-config" in err


def test_explain_names_the_deciding_entry(run_cli: RunCli, write: WriteFile) -> None:
    write("fw.cfg", CONFIG)
    code, out, _ = run_cli(
        "explain", "203.0.113.13", "-d", "fw.cfg", "--chain", "outside", "--to", "10.0.0.25"
    )
    line = line_of(CONFIG, "deny ip host 203.0.113.13")
    assert f"fw.cfg: denied: fw.cfg:{line}: access-list outside_in extended deny ip host" in out
    assert code == 1


def test_object_groups_are_scopes(run_cli: RunCli, write: WriteFile) -> None:
    write("fw.cfg", CONFIG)
    write("e.txt", "198.18.0.0/24\n203.0.113.10/31\n")
    code, out, err = run_cli(
        "diff", "-e", "e.txt", "-d", "fw.cfg", "--chain", "outside", "--to", "10.0.0.25",
        "--scope", "PARTNERS", "-o", "json",
    )  # fmt: skip
    doc = json.loads(out)
    extra = sorted(e["cidr"] for e in doc["extra"])
    # the range 203.0.113.10-19 holds more than the two expected addresses
    assert "203.0.113.12/30" in extra and "203.0.113.16/30" in extra, (out, err)
    assert "198.18.0.0/24" not in extra
    assert code == 2  # partial: the time-range entry is conditional


def test_a_huge_line_is_not_echoed_whole(run_cli: RunCli, write: WriteFile) -> None:
    # an entry of 200,000 characters (a corrupt or hostile file): named, conditional, and
    # the words not read are cut where they are shown
    junk = "x" * 200_000
    write("edge.cfg", f"ASA Version 9.16(4)\naccess-list A extended permit tcp any any {junk}\n")
    write("exp.txt", "192.0.2.1\n")
    code, out, err = run_cli("diff", "-e", "exp.txt", "-d", "edge.cfg", "--format", "asa")
    assert code == 2
    assert "edge.cfg:2" in out + err and len(out) + len(err) < 20_000

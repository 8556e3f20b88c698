"""The pfSense/OPNsense config.xml reader: hand-written configs whose allowed and denied
addresses for a service are worked out here from the vendors' documentation.

- Netgate docs, "Rule Methodology" (https://docs.netgate.com/pfsense/en/latest/firewall/
  rule-methodology.html): interface tab rules filter inbound on that interface, first match.
- Netgate docs, "Floating Rules" (https://docs.netgate.com/pfsense/en/latest/firewall/
  floating-rules.html): floating rules are parsed before interface rules; one with Quick
  decides at once; without Quick they apply "last match wins", so an interface tab rule that
  matches overrides them.
- Netgate docs, "Aliases" (https://docs.netgate.com/pfsense/en/latest/firewall/aliases.html):
  host/network aliases hold addresses, networks, ranges, other aliases and host names
  (resolved periodically); URL table aliases are downloaded.
- Netgate docs, "Interface Configuration" ("Block private networks and loopback addresses"):
  RFC 1918, 127/8 and fc00::/7 sources are blocked on the interface before its rules.
- Unmatched traffic is blocked by the default deny rule ("Firewall Rule Basics").
- OPNsense manual, "Firewall > Aliases" (https://docs.opnsense.org/manual/aliases.html): the
  MVC alias form, one entry a line in <content>.
"""

from __future__ import annotations

import json

import pytest
from conftest import RunCli, WriteFile

from auditor.allowlists.base import ReaderError
from auditor.sources import files

from .pfsense_util import IFACES, alias, config, deciding, outcome, read, rule

MAIL = "<address>198.51.100.0/24</address>"
SMTP = "<any/><port>25</port>"


def test_interface_rules_first_match_and_the_default_deny() -> None:
    text = config(
        rule("block", src="<address>198.51.100.7</address>"),
        rule(src=MAIL, dst=SMTP, descr="mail relays"),
        rule(src="<address>192.0.2.0/24</address>", dst="<any/><port>22</port>"),
    )
    rs = read(text)
    assert outcome(rs, "198.51.100.7") == "drop"  # the block above decides first
    assert outcome(rs, "198.51.100.8") == "accept"
    assert "config.xml:" in deciding(rs, "198.51.100.8") and "mail relays" in deciding(
        rs, "198.51.100.8"
    )
    assert outcome(rs, "192.0.2.1") == "drop"  # port 22 only
    assert "default deny" in deciding(rs, "192.0.2.1")
    assert outcome(rs, "2001:db8::1") == "drop"  # inet rules: IPv6 has only the default
    assert rs.completeness.value == "complete"


def test_rules_of_other_interfaces_and_the_chain_choice() -> None:
    text = config(rule(iface="lan", src=MAIL, dst=SMTP), rule(iface="opt1", src=MAIL, dst=SMTP))
    assert outcome(read(text), "198.51.100.1") == "drop"  # wan is the default
    assert outcome(read(text, chain="lan"), "198.51.100.1") == "accept"
    assert outcome(read(text, chain="DMZ"), "198.51.100.1") == "accept"  # by description
    with pytest.raises(ReaderError) as info:
        read(text, chain="opt7")
    assert "no interface 'opt7'" in str(info.value)
    assert info.value.hint == "--chain names one of: wan, lan, opt1"
    # no wan and more than one interface: the choice is asked for
    two = IFACES.replace("<wan>", "<opt2>").replace("</wan>", "</opt2>")
    with pytest.raises(ReaderError, match="which interface"):
        read(config(rule(iface="lan"), ifaces=two))


def test_floating_rules_quick_and_last_match() -> None:
    floating = "<floating>yes</floating><direction>any</direction>"
    quick = floating + "<quick>yes</quick>"
    text = config(
        # quick: decides before the interface rules
        rule("block", iface="wan,lan", src="<address>198.51.100.9</address>", extra=quick),
        # without quick, last match among floating rules: the pass below overrides this block
        rule("block", iface="", src="<address>192.0.2.0/24</address>", extra=floating),
        rule(iface="wan", src="<address>192.0.2.0/25</address>", extra=floating),
        # without quick, overridden by the interface rule that matches (block)
        rule(iface="wan", src="<address>203.0.113.0/24</address>", extra=floating),
        # a floating rule of another interface or the out direction does not apply
        rule(iface="lan", src="<address>198.18.0.0/24</address>", extra=quick),
        rule(src="<address>198.18.1.0/24</address>",
             extra="<floating>yes</floating><quick>yes</quick><direction>out</direction>"),
        rule(src=MAIL, dst=SMTP),
        rule("block", src="<address>203.0.113.0/25</address>"),
    )  # fmt: skip
    rs = read(text)
    assert outcome(rs, "198.51.100.9") == "drop"  # floating quick block
    assert outcome(rs, "198.51.100.10") == "accept"
    assert outcome(rs, "192.0.2.1") == "accept"  # last floating match: pass
    assert outcome(rs, "192.0.2.200") == "drop"  # only the floating block matches
    assert outcome(rs, "203.0.113.1") == "drop"  # interface block overrides the floating pass
    assert outcome(rs, "203.0.113.200") == "accept"  # only the floating pass matches
    assert outcome(rs, "198.18.0.1") == "drop" and outcome(rs, "198.18.1.1") == "drop"


def test_aliases_nested_ranges_and_what_the_firewall_fills_in() -> None:
    aliases = (
        alias("RELAYS", "host", "198.51.100.5 198.51.100.10-198.51.100.12 MORE")
        + alias("MORE", "network", "192.0.2.0/28 2001:db8:25::/48")
        + alias("DYN", "host", "203.0.113.5 mx.example.org")
        + alias("FEED", "urltable", "https://example.org/list.txt")
        + alias("SMTPS", "port", "25 465 1000:1002")
    )
    text = config(
        rule(src="<address>RELAYS</address>", dst="<any/><port>SMTPS</port>", ipp="inet46"),
        rule(src="<address>DYN</address>", dst=SMTP),
        rule("block", src="<address>FEED</address>"),
        aliases=aliases,
    )
    rs = read(text)
    for address in ("198.51.100.5", "198.51.100.11", "192.0.2.15", "2001:db8:25::1"):
        assert outcome(rs, address) == "accept", address
    assert outcome(rs, "198.51.100.13") == "conditional"  # may be mx.example.org
    assert outcome(rs, "203.0.113.5") == "accept"
    assert "host name mx.example.org" in deciding(rs, "198.51.100.13")
    assert outcome(rs, "2001:db8:26::1") == "drop"  # IPv6: only the inet46 rule
    assert rs.completeness.value == "partial"
    # the port alias: 465 and 1000-1002 pass, 26 does not
    assert outcome(read(text, service="tcp/1001"), "198.51.100.5") == "accept"
    assert outcome(read(text, service="tcp/26"), "198.51.100.5") == "drop"
    # the URL table (downloaded) may block anything the DYN rule does not pass
    rs = read(text, service="tcp/465")
    assert outcome(rs, "198.51.100.5") == "accept"
    assert outcome(rs, "203.0.113.5") == "drop"  # the FEED block may match, else the default
    # scopes: each address alias, nested ones followed
    objects = rs.scope_entries
    assert {"RELAYS", "MORE", "DYN", "FEED"} <= set(objects.groups)
    relays = sorted(e.text for e in objects if e.group == "RELAYS")
    assert relays == [
        "192.0.2.0/28",
        "198.51.100.10-198.51.100.12",
        "198.51.100.5/32",
        "2001:db8:25::/48",
    ]


def test_negation_ports_protocols_and_families() -> None:
    text = config(
        rule(src=f"<not/>{MAIL}", dst="<any/><port>25-26</port>", proto="tcp/udp"),
        rule(src="<address>198.51.100.0/25</address>", dst=SMTP, ipp="inet46", proto="udp"),
        rule(src="<address>2001:db8::/32</address>", dst=SMTP, ipp="inet6"),
    )
    rs = read(text)
    assert outcome(rs, "198.51.100.1") == "drop"  # not 198.51.100.0/24
    assert outcome(rs, "192.0.2.1") == "accept"
    assert outcome(rs, "2001:db8::1") == "accept"
    assert outcome(rs, "2001:db9::1") == "drop"
    assert outcome(read(text, service="tcp/27"), "192.0.2.1") == "drop"
    assert outcome(read(text, service="udp/25"), "198.51.100.1") == "accept"


def test_destinations_are_judged_against_to() -> None:
    text = config(
        rule(src=MAIL, dst="<address>192.168.1.25</address><port>25</port>"),
        rule(src="<address>192.0.2.0/24</address>", dst="<network>lan</network><port>25</port>"),
        rule(src="<address>203.0.113.0/24</address>", dst="<network>wanip</network>"),
        rule(src="<address>198.18.0.0/24</address>", dst="<network>opt1</network>"),
    )
    rs = read(text)
    assert outcome(rs, "198.51.100.1") == "conditional"
    assert "give --to" in deciding(rs, "198.51.100.1")
    rs = read(text, to="192.168.1.25")
    assert outcome(rs, "198.51.100.1") == "accept"
    assert outcome(rs, "192.0.2.1") == "accept"  # lan is 192.168.1.0/24
    assert outcome(rs, "203.0.113.9") == "drop"  # wanip is 203.0.113.2
    assert outcome(rs, "198.18.0.1") == "conditional"  # opt1's subnet is given by DHCP
    rs = read(text, to="203.0.113.2")
    assert (outcome(rs, "198.51.100.1"), outcome(rs, "203.0.113.9")) == ("drop", "accept")


def test_schedules_disabled_rules_and_what_pfsense_adds() -> None:
    ifaces = IFACES.replace("<subnet>24</subnet></wan>", "<subnet>24</subnet><blockpriv/></wan>")
    text = config(
        rule(src=MAIL, dst=SMTP, extra="<sched>office</sched>"),
        rule(src="<address>192.0.2.0/24</address>", dst=SMTP, extra="<disabled/>"),
        rule(src="<address>10.0.0.0/8</address>", dst=SMTP),
        rule(src="<address>203.0.113.0/24</address>", dst=SMTP, extra="<weird>1</weird>"),
        ifaces=ifaces,
    )
    rs = read(text)
    assert outcome(rs, "198.51.100.1") == "conditional"
    assert "schedule office" in deciding(rs, "198.51.100.1")
    assert outcome(rs, "192.0.2.1") == "drop"
    assert outcome(rs, "10.1.2.3") == "drop"  # blocked as a private network first
    assert "Block private networks" in deciding(rs, "10.1.2.3")
    assert outcome(rs, "203.0.113.1") == "conditional"
    unsupported = [f.message for f in rs.findings if f.kind == "unsupported"]
    assert any("schedule office" in m for m in unsupported)
    assert any("<weird> (not read)" in m for m in unsupported)


def test_anti_lockout_rule_on_lan() -> None:
    text = config(more="  <system><webgui><protocol>https</protocol></webgui></system>\n")
    rs = read(text, chain="lan", service="tcp/443", to="192.168.1.1")
    assert outcome(rs, "192.168.1.50") == "accept" and "anti-lockout" in deciding(rs, "1.2.3.4")
    assert outcome(read(text, chain="lan", service="tcp/25", to="192.168.1.1"), "1.2.3.4") == "drop"
    off = config(more="  <system><webgui><noantilockout/></webgui></system>\n")
    assert outcome(read(off, chain="lan", service="tcp/443", to="192.168.1.1"), "1.2.3.4") == "drop"


def test_opnsense_aliases_and_quick() -> None:
    mvc = """  <OPNsense><Firewall><Alias><aliases>
    <alias uuid="1"><enabled>1</enabled><name>RELAYS</name><type>network</type>
      <content>198.51.100.0/24
192.0.2.0/28</content></alias>
    <alias uuid="2"><enabled>0</enabled><name>OFF</name><type>host</type>
      <content>203.0.113.1</content></alias>
  </aliases></Alias></Firewall></OPNsense>
"""
    text = config(
        rule(src="<address>RELAYS</address>", dst=SMTP, extra="<direction>in</direction>"),
        # not quick on an interface: a later matching rule wins over it
        rule("block", src="<address>192.0.2.0/24</address>", extra="<quick>0</quick>"),
        rule("block", src="<address>203.0.113.0/24</address>", extra="<quick>0</quick>"),
        rule(src="<address>203.0.113.0/24</address>", dst=SMTP, extra="<quick>0</quick>"),
        rule(src="<address>OFF</address>", dst=SMTP, extra="<direction>out</direction>"),
        root="opnsense",
        more=mvc,
    )
    rs = read(text)
    assert outcome(rs, "198.51.100.1") == "accept" and outcome(rs, "192.0.2.1") == "accept"
    assert outcome(rs, "203.0.113.1") == "accept"  # last match of the non-quick rules
    assert "RELAYS" in rs.scope_entries.groups


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (alias("A", "host", "B") + alias("B", "host", "A"), 9, "aliases nest in a loop"),
        (alias("A", "host", "NOPE"), 9, "'NOPE' is neither an address"),
        (alias("A", "port", "25") + alias("A", "host", "1.2.3.4"), 10, "defined twice"),
    ],
)
def test_alias_errors_name_the_line(body: str, line: int, message: str) -> None:
    with pytest.raises(ReaderError) as info:
        read(config(rule(), aliases=body))
    assert message in str(info.value) and info.value.line == line
    assert info.value.hint


def test_rule_errors_and_refused_xml() -> None:
    with pytest.raises(ReaderError) as info:
        read(config(rule(src="<address>MISSING</address>")))
    assert info.value.line == 11 and "MISSING" in str(info.value)
    with pytest.raises(ReaderError, match="out of range"):
        read(config(rule(dst="<any/><port>70000</port>")))
    bomb = '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaa">]>\n<pfsense/>\n'
    with pytest.raises(ReaderError, match="DOCTYPE declaration"):
        read(bomb)
    with pytest.raises(ReaderError, match="not well-formed"):
        read("<pfsense><filter>\n")


def test_detected_without_format_and_the_cli(run_cli: RunCli, write: WriteFile) -> None:
    text = config(rule(src=MAIL, dst=SMTP, descr="relays"))
    path = write("config.xml", text)
    assert files.detect_format(str(path), text.encode()) == "pfsense"
    write("nodes.txt", "198.51.100.0/24\n192.0.2.0/24\n")
    code, out, _ = run_cli("diff", "-e", "nodes.txt", "-d", "config.xml", "-o", "cidr")
    assert (code, out) == (1, "192.0.2.0/24\n")
    code, out, _ = run_cli("explain", "198.51.100.7", "-d", "config.xml")
    assert code == 0 and "allowed: config.xml:11" in out and "relays" in out
    code, out, _ = run_cli("explain", "192.0.2.7", "-d", "config.xml", "-o", "json")
    doc = json.loads(out)
    assert code == 1 and doc["declared"][0]["decision"] == "denied"
    assert "default deny" in doc["declared"][0]["where"]
    write("bad.xml", config(rule(src="<address>NOPE</address>")))
    code, _, err = run_cli("diff", "-e", "nodes.txt", "-d", "bad.xml")
    assert code == 2 and "bad.xml:11" in err and "NOPE" in err
    code, _, err = run_cli("diff", "-e", "nodes.txt", "-d", "config.xml", "--chain", "dmz2")
    assert code == 2 and "wan, lan, opt1" in err


def test_an_alias_is_a_scope(run_cli: RunCli, write: WriteFile) -> None:
    aliases = alias("RELAYS", "network", "198.51.100.0/24 192.0.2.0/24")
    write("config.xml", config(rule(src="<address>RELAYS</address>", dst=SMTP), aliases=aliases))
    write("nodes.txt", "198.51.100.0/24\n")
    code, out, err = run_cli(
        "diff", "-e", "nodes.txt", "-d", "config.xml", "--scope", "RELAYS", "-o", "json"
    )
    assert code == 0, err
    extra = [b["cidr"] for b in json.loads(out)["extra"]]
    assert extra == ["192.0.2.0/24"]

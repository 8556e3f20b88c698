"""The PAN-OS reader: hand-written configurations whose verdicts for tcp/25 are worked out
here from Palo Alto Networks' documentation:

- "Security Policy" (PAN-OS Administrator's Guide, docs.paloaltonetworks.com/pan-os/10-1/
  pan-os-admin/policy/security-policy): rules are evaluated top down, the first match
  decides; traffic no rule matches is handled by the default rules: intrazone-default
  allows traffic within a zone, interzone-default denies traffic between zones.
- "Building Blocks in a Security Policy Rule" (same guide): from/to zones, source and
  destination address with Negate, application, service (application-default: the
  application's default ports; any), action (allow, deny, drop, reset-client, reset-server,
  reset-both), rule type (universal, intrazone, interzone).
- "Address Objects" / "Address Groups" (PAN-OS Web Interface Help, Objects > Addresses:
  IP Netmask, IP Range, IP Wildcard Mask, FQDN; Objects > Address Groups: static, dynamic
  with a tag filter).
- "Device Group Policies" (Panorama Administrator's Guide, docs.paloaltonetworks.com/
  panorama/10-1/panorama-admin/panorama-overview/centralized-firewall-configuration-and-
  update-management/device-groups/device-group-policies): shared pre-rules, device group
  pre-rules, local rules, device group post-rules, shared post-rules, default rules; a
  device group's descendants inherit its rules and objects.
- "What Does Application-default Under Service Mean?" (knowledgebase.paloaltonetworks.com,
  kA10g000000ClVwCAK): applications allowed only on their default ports.
"""

from __future__ import annotations

import pytest
from conftest import RunCli, WriteFile

from auditor.allowlists.base import ReaderError
from auditor.sources.files import detect_format

from .panos_helpers import outcome, read, segment

# untrust -> trust, the mail server 203.0.113.25 in trust
SET_CONFIG = """\
set zone untrust network layer3 ethernet1/1
set zone trust network layer3 ethernet1/2
set address relay-a ip-netmask 192.0.2.0/25
set address relay-b ip-range 198.51.100.10-198.51.100.20
set address relay-6 ip-netmask 2001:db8:25::/48
set address mx ip-netmask 203.0.113.25
set address bad-host ip-netmask 192.0.2.66/32
set address-group inner static [ relay-b ]
set address-group relays static [ relay-a inner relay-6 ]
set service smtp-svc protocol tcp port 25
set rulebase security rules block-bad from untrust to trust source bad-host destination any \
application any service any action deny
set rulebase security rules mail-in from untrust to trust source relays destination mx \
application any service smtp-svc action allow
set rulebase security rules not-these from untrust to trust source [ 10.0.0.0/8 ] \
negate-source yes destination mx application any service smtp-svc action reset-both
set rulebase security rules late-allow from untrust to trust source any destination any \
application any service any action allow
"""


def _set(text: str) -> str:
    return text.replace(" \\\n", " ")


def test_order_groups_ranges_negation_and_both_families() -> None:
    rs = read(_set(SET_CONFIG))
    # mail-in: the nested group (relay-a, inner -> relay-b, relay-6)
    assert outcome(rs, "192.0.2.1") == "accept"
    assert outcome(rs, "198.51.100.10") == "accept"
    assert outcome(rs, "198.51.100.20") == "accept"
    assert outcome(rs, "2001:db8:25::1") == "accept"
    # block-bad comes first: 192.0.2.66 is not in relay-a (/25), denied by the first rule
    assert outcome(rs, "192.0.2.66") == "drop"
    assert "block-bad" in segment(rs, "192.0.2.66").rule.text
    # not-these: negate-source: every source outside 10.0.0.0/8 is reset
    assert outcome(rs, "198.51.100.21") == "drop"
    assert "not-these" in segment(rs, "198.51.100.21").rule.text
    assert outcome(rs, "2001:db8:26::1") == "drop"
    # 10.0.0.0/8 passes not-these, reaches late-allow
    assert outcome(rs, "10.1.2.3") == "accept"
    assert "late-allow" in segment(rs, "10.1.2.3").rule.text
    assert rs.completeness.value == "complete"
    # the deciding rule is named with its line
    assert segment(rs, "192.0.2.1").rule.origin.line == 12


def test_the_same_policy_as_xml_and_as_braces_reads_alike() -> None:
    xml = """<?xml version="1.0"?>
<config version="10.1.0"><devices><entry name="localhost.localdomain"><vsys>
<entry name="vsys1">
  <zone><entry name="untrust"/><entry name="trust"/></zone>
  <address>
    <entry name="relay-a"><ip-netmask>192.0.2.0/25</ip-netmask></entry>
    <entry name="bad-host"><ip-netmask>192.0.2.66</ip-netmask></entry>
  </address>
  <address-group><entry name="relays"><static><member>relay-a</member></static></entry>
  </address-group>
  <rulebase><security><rules>
    <entry name="block-bad"><from><member>untrust</member></from><to><member>trust</member></to>
      <source><member>bad-host</member></source><destination><member>any</member></destination>
      <application><member>any</member></application><service><member>any</member></service>
      <action>deny</action></entry>
    <entry name="mail-in"><from><member>untrust</member></from><to><member>trust</member></to>
      <source><member>relays</member></source><destination><member>any</member></destination>
      <application><member>smtp</member></application>
      <service><member>application-default</member></service>
      <action>allow</action></entry>
  </rules></security></rulebase>
</entry></vsys></entry></devices></config>
"""
    braces = """\
#RANCID-CONTENT-TYPE: paloalto
zone { untrust; trust; }
address {
  relay-a { ip-netmask 192.0.2.0/25; }
  bad-host { ip-netmask 192.0.2.66; }
}
address-group { relays { static [ relay-a ]; } }
rulebase {
  security {
    rules {
      block-bad { from untrust; to trust; source bad-host; destination any;
        application any; service any; action deny; }
      "mail-in" {
        from untrust;
        to trust;
        source [ relays ];
        destination any;
        application smtp;
        service application-default;
        action allow;
      }
    }
  }
}
"""
    for text, name in ((xml, "fw.xml"), (braces, "fw.conf")):
        assert detect_format(name, text.encode()) == "panos"
        rs = read(text, name=name)
        assert outcome(rs, "192.0.2.1") == "accept", name
        assert outcome(rs, "192.0.2.66") == "drop", name
        assert outcome(rs, "198.51.100.1") == "drop", name  # interzone-default
        assert "interzone-default" in segment(rs, "198.51.100.1").rule.text
    rs = read(xml, name="fw.xml")
    ref = segment(rs, "192.0.2.1").rule
    assert ref.origin.path == (
        "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
        "/rulebase/security/rules/entry[@name='mail-in']"
    )
    assert ref.origin.line == 16
    # smtp on its default port: tcp/25 surely; another port depends on App-ID
    assert outcome(read(xml, name="fw.xml", service="tcp/587"), "192.0.2.1") == "conditional"


def test_zone_pair_defaults_rule_type_and_choices() -> None:
    text = """\
set zone untrust
set zone trust
set rulebase security rules intra source any destination any from any to any \
application any service any action deny rule-type intrazone
set rulebase security rules only-dmz from untrust to dmz source any destination any \
application any service any action allow
"""
    text = _set(text)
    # untrust -> trust: intra does not apply between zones, only-dmz not to trust:
    # interzone-default denies
    rs = read(text, chain="untrust:trust")
    assert outcome(rs, "192.0.2.1") == "drop"
    assert "interzone-default" in segment(rs, "192.0.2.1").rule.text
    # trust -> trust: the intrazone rule denies (it comes before intrazone-default's allow)
    assert outcome(read(text, chain="trust:trust"), "192.0.2.1") == "drop"
    assert outcome(read(text, chain="untrust:dmz"), "192.0.2.1") == "accept"
    with pytest.raises(ReaderError, match="zone pair") as info:
        read(text, chain=None)
    assert "dmz, trust, untrust" in str(info.value)
    with pytest.raises(ReaderError, match="'dmz2' is not in the configuration"):
        read(text, chain="untrust:dmz2")
    with pytest.raises(ReaderError, match="not a zone pair"):
        read(text, chain="untrust")
    # intrazone-default changed to deny
    changed = text + "set rulebase default-security-rules rules intrazone-default action deny\n"
    rs = read(changed.replace("rule-type intrazone", "rule-type interzone"), chain="trust:trust")
    assert outcome(rs, "192.0.2.1") == "drop"
    assert "intrazone-default: action deny" in segment(rs, "192.0.2.1").rule.text
    # one pair named, no other zone: the default
    one = "set rulebase security rules r from untrust to trust source any destination any "
    one += "application any service any action allow\n"
    assert outcome(read(one, chain=None), "192.0.2.1") == "accept"


CONDITIONAL = """\
set address byname fqdn mail.example.net
set address wild ip-wildcard 10.0.0.1/0.255.0.255
set address-group tagged dynamic filter "'relay' and 'eu'"
set external-list feed type ip url https://example.net/list.txt
set rulebase security rules r1 from untrust to trust source byname destination any \
application any service any action allow
set rulebase security rules r2 from untrust to trust source tagged destination any \
application any service any action allow
set rulebase security rules r3 from untrust to trust source feed destination any \
application any service any action allow
set rulebase security rules r4 from untrust to trust source [ 192.0.2.0/24 ] \
source-user [ example\\\\mail ] destination any application any service any action allow
set rulebase security rules r5 from untrust to trust source [ 198.51.100.0/24 ] \
destination any application ssl service any action allow
set rulebase security rules r6 from untrust to trust source [ 203.0.113.0/24 ] \
destination [ 10.9.9.9 ] application any service any action allow
set rulebase security rules r7 from untrust to trust source wild destination any \
application any service any action allow
"""


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("r1", "fqdn mail.example.net"),
        ("r2", "dynamic address group tagged"),
        ("r3", "external dynamic list feed"),
        ("r7", "ip-wildcard 10.0.0.1/0.255.0.255"),
    ],
)
def test_objects_whose_members_are_not_in_the_export_are_conditional(rule: str, why: str) -> None:
    text = _set(CONDITIONAL)
    lines = [x for x in text.splitlines() if " rules " not in x or f" rules {rule} " in x]
    rs = read("\n".join(lines) + "\n")
    seg = segment(rs, "8.8.8.8")
    assert seg.outcome == "conditional" and why in seg.rule.why, seg.rule
    assert rs.completeness.value == "partial"


def test_users_applications_and_destinations_are_conditional() -> None:
    rs = read(_set(CONDITIONAL).replace("source byname", "source [ 172.16.0.1 ]")
              .replace("source tagged", "source [ 172.16.0.2 ]")
              .replace("source feed", "source [ 172.16.0.3 ]")
              .replace("source wild", "source [ 172.16.0.4 ]"))  # fmt: skip
    assert "source-user" in segment(rs, "192.0.2.5").rule.why
    assert "application ssl" in segment(rs, "198.51.100.5").rule.why
    # r6's destination is not the server (--to 203.0.113.25): the rule does not apply
    assert outcome(rs, "203.0.113.5") == "drop"
    r6 = "\n".join(x for x in _set(CONDITIONAL).splitlines() if " r6 " in x) + "\n"
    assert outcome(read(r6), "203.0.113.5") == "drop"
    assert "give --to" in segment(read(r6, to=None), "203.0.113.5").rule.why
    assert outcome(read(r6, to="10.9.9.9"), "203.0.113.5") == "accept"
    with_to = read(_set(CONDITIONAL), to="10.9.9.9")
    # r1 (fqdn) may allow any address first; r6 allows 203.0.113.5 when it does not: allowed
    # either way; an address r6 does not hold stays conditional
    assert segment(with_to, "203.0.113.5").outcome == "accept"
    assert segment(with_to, "8.8.8.8").outcome == "conditional"


def test_disabled_rules_are_skipped_and_actions_refuse() -> None:
    base = "set rulebase security rules {n} from untrust to trust source any destination any "
    base += "application any service any action {a}\n"
    for action in ("deny", "drop", "reset-client", "reset-server", "reset-both"):
        text = base.format(n="x", a=action) + base.format(n="y", a="allow")
        assert outcome(read(text), "192.0.2.1") == "drop", action
    text = base.format(n="x", a="deny") + "set rulebase security rules x disabled yes\n"
    text += base.format(n="y", a="allow")
    assert outcome(read(text), "192.0.2.1") == "accept"


def test_services_groups_and_application_default() -> None:
    text = """\
set service s25 protocol tcp port 25
set service s53 protocol udp port 53
set service-group mail members [ s53 s25 ]
set rulebase security rules by-group from untrust to trust source [ 192.0.2.0/24 ] \
destination any application any service mail action allow
set rulebase security rules other-port from untrust to trust source [ 198.51.100.0/24 ] \
destination any application any service service-https action allow
set rulebase security rules app-default from untrust to trust source [ 203.0.113.0/24 ] \
destination any application any service application-default action allow
"""
    rs = read(_set(text))
    assert outcome(rs, "192.0.2.1") == "accept"
    assert outcome(rs, "198.51.100.1") == "drop"  # tcp/443 only
    assert outcome(rs, "203.0.113.1") == "accept"  # smtp's default port
    assert outcome(read(_set(text), service="tcp/8080"), "203.0.113.1") == "conditional"


def test_panorama_order_and_device_group_hierarchy() -> None:
    text = """\
set shared address shared-relay ip-netmask 192.0.2.0/24
set shared pre-rulebase security rules s-pre from any to any source [ 192.0.2.128/25 ] \
destination any application any service any action deny
set device-group parent pre-rulebase security rules p-pre from any to any \
source [ 192.0.2.64/26 ] destination any application any service any action deny
set device-group child address child-obj ip-netmask 198.51.100.0/24
set device-group child pre-rulebase security rules c-pre from any to any \
source [ shared-relay parent-obj ] destination any application any service any action allow
set device-group parent address parent-obj ip-netmask 203.0.113.0/24
set device-group child post-rulebase security rules c-post from any to any \
source child-obj destination any application any service any action allow
set shared post-rulebase security rules s-post from any to any source [ 198.51.100.0/25 ] \
destination any application any service any action deny
set readonly devices localhost.localdomain device-group child parent-dg parent
"""
    rs = read(_set(text), chain="child/untrust:trust")
    assert "s-pre" in segment(rs, "192.0.2.200").rule.text  # shared pre first
    assert "p-pre" in segment(rs, "192.0.2.70").rule.text  # the parent's pre-rule next
    assert outcome(rs, "192.0.2.1") == "accept"  # then the child's
    assert outcome(rs, "203.0.113.1") == "accept"  # an object of the parent
    assert outcome(rs, "198.51.100.1") == "accept"  # c-post before s-post
    # both device groups, no choice: decided where they agree
    both = read(_set(text), chain="untrust:trust")
    assert outcome(both, "192.0.2.200") == "drop"
    assert "disagree" in segment(both, "192.0.2.1").rule.why
    with pytest.raises(ReaderError, match="no vsys or device group 'other'"):
        read(_set(text), chain="other/untrust:trust")


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        (
            "set rulebase security rules r from untrust to trust source nowhere "
            "destination any application any service any action allow\n",
            "address 'nowhere' is not defined",
            1,
        ),
        (
            "set address-group a static b\nset address-group b static a\n",
            "address groups nest in a loop: a -> b -> a",
            1,
        ),
        (
            "set rulebase security rules r from untrust to trust source any "
            "destination any application any service nosvc action allow\n",
            "service 'nosvc' is not defined",
            1,
        ),
        (
            "set address a ip-netmask 192.0.2.0/24\nmove rulebase security rules r top\n",
            "'move' is not a set command",
            2,
        ),
        ('set address "a ip-netmask 192.0.2.0/24\n', "quoted word is not closed", 1),
    ],
)
def test_errors_name_the_line(text: str, message: str, line: int) -> None:
    with pytest.raises(ReaderError, match=message) as info:
        read(text)
    assert info.value.line == line
    assert info.value.hint


def test_xml_declarations_are_refused() -> None:
    text = (
        '<?xml version="1.0"?>\n<!DOCTYPE config [<!ENTITY x "y">]>\n<config><shared/></config>\n'
    )
    with pytest.raises(ReaderError, match="DOCTYPE declaration") as info:
        read(text, name="fw.xml")
    assert info.value.line == 2


def test_cli_exit_codes_and_explain(run_cli: RunCli, write: WriteFile) -> None:
    write("fw.set", _set(SET_CONFIG))
    write("expected.txt", "192.0.2.0/26\n198.51.100.10\n")
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "fw.set", "--chain",
                             "untrust:trust", "--to", "203.0.113.25", "-o", "cidr")  # fmt: skip
    assert code == 0, err
    write("more.txt", "192.0.2.66\n")
    code, out, _ = run_cli("diff", "-e", "more.txt", "-d", "fw.set", "--chain", "untrust:trust",
                           "--to", "203.0.113.25", "-o", "cidr")  # fmt: skip
    assert code == 1 and out.split() == ["192.0.2.66/32"]
    code, out, _ = run_cli("explain", "192.0.2.66", "-d", "fw.set", "--chain", "untrust:trust",
                           "--to", "203.0.113.25", "--service", "tcp/25")  # fmt: skip
    assert "fw.set: denied: fw.set:11: security rule block-bad:" in out
    write("bad.set", "set rulebase security rules r from a to b source ghost destination any "
          "application any service any action allow\n")  # fmt: skip
    code, _, err = run_cli("diff", "-e", "more.txt", "-d", "bad.set", "--chain", "a:b")
    assert code == 2 and "bad.set:1: address 'ghost' is not defined" in err


def test_scopes_are_the_address_objects_and_groups(run_cli: RunCli, write: WriteFile) -> None:
    write("fw.set", _set(SET_CONFIG))
    write("expected.txt", "192.0.2.0/26\n")
    code, out, err = run_cli("diff", "-e", "expected.txt", "-d", "fw.set", "--chain",
                             "untrust:trust", "--to", "203.0.113.25", "--scope", "relays",
                             "-o", "json")  # fmt: skip
    assert code == 0, err
    assert "198.51.100.10-198.51.100.20" in out or "198.51.100.10/31" in out
